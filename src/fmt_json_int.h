/*
 * fmt_json_int: private to the JSON reader (fmt_json_lex.c, which turns the
 * input into tokens, and fmt_json_read.c, which gives them a document
 * structure); nothing else includes it.  It holds the lexer: the input
 * buffer, its byte offsets and the SHA-256 of the bytes consumed, and the
 * vs_fmt__json_* functions that read one token or value from it.
 *
 * Conventions: functions return 0 or a negative vs_errcode with the message
 * set (VS_ECORRUPT for bad content, VS_ETOOBIG for an exceeded cap, naming
 * the byte offset); readers of a token skip white space before it, except
 * vs_fmt__json_read_literal (its callers have peeked).
 *
 * Checksum: bytes are hashed as the buffer is recycled, except that the
 * document reader may "hold" a top-level comma (vs_fmt__json_hold): no byte
 * from it on is hashed until it sets `held` back to false, or takes the
 * digest of everything before it (vs_fmt__json_digest) once the next key
 * turns out to be "sha256".  `hashing` false stops hashing altogether.
 */
#ifndef VS_FMT_JSON_INT_H
#define VS_FMT_JSON_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "fmt.h"

#define VS_FMT__JSON_KEY_MAX 256 /* longest key */

/* Hashing off the parsing thread: a job is a span of the buffer that was
 * just left behind. */
typedef struct vs_fmt__json_hasher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, busy, quit;
    vs_sha256 *sha;
    const char *data;
    size_t n;
} vs_fmt__json_hasher;

typedef struct vs_fmt__json_lexer {
    vs_stream *in;
    char *bufs[2];
    int cur;
    char *buf; /* bufs[cur] */
    size_t pos, end;
    uint64_t base; /* offset of buf[0] in the input */
    bool eof;
    vs_sha256 *sha;
    bool hashing;
    size_t hashed; /* buf[0..hashed) is hashed */
    bool held;
    size_t hold; /* when held: nothing from buf[hold] on is hashed */
    vs_fmt__json_hasher hs;
} vs_fmt__json_lexer;

/* ---- the input (fmt_json_lex.c) ----------------------------------------- */

/* Sets up *lx to read `in` (borrowed), hashing on, and reads the first
 * buffer; a UTF-8 byte order mark is skipped (and hashed like the rest).
 * Dispose *lx even when this fails; a zeroed lexer may be disposed too. */
int vs_fmt__json_lexer_init(vs_fmt__json_lexer *lx, vs_stream *in);
void vs_fmt__json_lexer_dispose(vs_fmt__json_lexer *lx);

/* Recycles consumed bytes and reads more, keeping buf[pos..end) and held
 * bytes; sets eof when the input is exhausted. */
int vs_fmt__json_refill(vs_fmt__json_lexer *lx);

/* Hashes everything before pos and holds the byte at pos (a comma). */
void vs_fmt__json_hold(vs_fmt__json_lexer *lx);
/* The SHA-256 of everything before the held byte; hashing stops. */
void vs_fmt__json_digest(vs_fmt__json_lexer *lx, uint8_t out[VS_SHA256_LEN]);

static inline uint64_t vs_fmt__json_offset(const vs_fmt__json_lexer *lx)
{
    return lx->base + lx->pos;
}

static inline bool vs_fmt__json_is_ws(int c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Skips white space; *c gets the next byte, or -1 at the end of input.
 * Inline: it runs before every token. */
static inline int vs_fmt__json_peek(vs_fmt__json_lexer *lx, int *c)
{
    for (;;) {
        while (lx->pos < lx->end) {
            int ch = (unsigned char)lx->buf[lx->pos];
            if (!vs_fmt__json_is_ws(ch)) {
                *c = ch;
                return 0;
            }
            lx->pos++;
        }
        if (lx->eof) {
            *c = -1;
            return 0;
        }
        int error = vs_fmt__json_refill(lx);
        if (error < 0)
            return error;
    }
}

/* ---- errors (fmt_json_lex.c) -------------------------------------------- */

/* "json: <message> at byte <at>" with the given code; returns the code. */
int vs_fmt__json_fail_at(uint64_t at, int code, const char *fmt, ...)
    VS_FMT_PRINTF(3, 4);
/* The same at the lexer's offset. */
int vs_fmt__json_fail(vs_fmt__json_lexer *lx, int code, const char *fmt, ...)
    VS_FMT_PRINTF(3, 4);
/* VS_ECORRUPT: byte c (-1: the end) where `wanted` was expected. */
int vs_fmt__json_unexpected(vs_fmt__json_lexer *lx, int c,
                            const char *wanted);

/* ---- structure (fmt_json_lex.c) ----------------------------------------- */

/* Consumes `open`; *more is 0 when the container is empty (and consumed). */
int vs_fmt__json_open_container(vs_fmt__json_lexer *lx, char open,
                                const char *wanted, int *more);
/* After a member or element: *more is 1 when another follows (',' consumed)
 * and 0 at `close` (consumed). */
int vs_fmt__json_next_item(vs_fmt__json_lexer *lx, char close, int *more);

/* ---- values (fmt_json_lex.c) -------------------------------------------- */

/* Decodes one string (the opening quote is next) into dst[0..cap); *len gets
 * its length (VS_ETOOBIG beyond cap, naming `what`).  dst NULL: validate and
 * skip, without a cap. */
int vs_fmt__json_read_string(vs_fmt__json_lexer *lx, char *dst, size_t cap,
                             size_t *len, const char *what);
/* A member's key and the ':' after it. */
int vs_fmt__json_read_key(vs_fmt__json_lexer *lx,
                          char key[VS_FMT__JSON_KEY_MAX], size_t *klen);
/* A non-negative JSON integer no larger than max. */
int vs_fmt__json_read_uint(vs_fmt__json_lexer *lx, uint64_t *out,
                           uint64_t max, const char *what);
/* Exactly the bytes of `lit` ("null", "true", "false"). */
int vs_fmt__json_read_literal(vs_fmt__json_lexer *lx, const char *lit);
/* Validates and skips any value; `depth` is the nesting it starts at. */
int vs_fmt__json_skip_value(vs_fmt__json_lexer *lx, int depth);
/* Copies one raw object (metadata: errors say so) into out, reset first, at
 * most `max` bytes; its end is found by structure only: the caller
 * validates it. */
int vs_fmt__json_capture_object(vs_fmt__json_lexer *lx, vs_buf *out,
                                size_t max);
/* Whether s[0..n) is 64 hex digits (a SHA-256 as text). */
bool vs_fmt__json_is_hex64(const char *s, size_t n);

/* A vector as an array of numbers into dst; dim 0: any length up to
 * VS_DIM_MAX.  *got gets the length. */
int vs_fmt__json_read_vector_array(vs_fmt__json_lexer *lx, float *dst,
                                   uint32_t dim, uint32_t *got);
/* A serialised Float32Array: {"0":x,"1":y,...}, keys 0..D-1 each once;
 * `seen` is scratch of VS_DIM_MAX / 8 bytes. */
int vs_fmt__json_read_vector_object(vs_fmt__json_lexer *lx, float *dst,
                                    uint32_t dim, uint8_t *seen,
                                    uint32_t *got);

#endif
