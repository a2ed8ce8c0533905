/*
 * fmt_json_read: the streaming JSON reader.  One parser reads two shapes of
 * document, told apart by their top-level keys:
 *
 * - vecsnap documents written by fmt_json.c (or by hand), specified in
 *   docs/format-json.md: {"format":"vecsnap","version":1,"seq":N,
 *   "collections":[...],"sha256":"..."};
 * - ruvector-extensions DatabasePersistence state files: {"version":"1.0.0",
 *   "options":{...},"stats":{...},"vectors":[...],"timestamp":T,
 *   "checksum":"..."}, read as one collection named "default" (metric names
 *   and versions are judged by fmt_ruvector.c).
 *
 * The input is consumed through a 1 MiB buffer; tokens are decoded straight
 * out of it (numbers by vs_float_parse into the batch's vector array), with
 * no allocation per token.  Records are gathered in batches (at most 1024
 * records, about 4 MiB of floats) and handed to vs_collection_load, so memory
 * beyond the store stays O(batch).
 *
 * Checksum: the SHA-256 of the raw bytes is computed as the buffer is
 * recycled: a span over 64 KiB goes to a helper thread while parsing goes on
 * in a second buffer.  When a comma between top-level members is met,
 * everything before it is hashed and the comma is "held": no byte from it on
 * is hashed until the next key is known.  If that key is "sha256", the digest
 * so far is exactly the one the writer embedded.  (So white space after a
 * top-level comma is limited to the buffer, 1 MiB.)
 *
 * Every error names the problem and the byte offset where it was found.
 * Bad content is VS_ECORRUPT, an exceeded cap VS_ETOOBIG, a newer version
 * VS_EVERSION.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floatfmt.h"
#include "fmt.h"
#include "jsonv.h"


#define RD_BUFSZ ((size_t)1 << 20)
#define ASYNC_HASH_MIN ((size_t)64 << 10) /* smaller spans: hash inline */
#define NUM_MAX 1024                      /* longest number token */
#define KEY_MAX 256                       /* longest key */
#define MD_RAW_MAX (4 * VS_METADATA_MAX)  /* metadata as written (pretty) */
#define BATCH_RECORDS 1024
#define BATCH_FLOATS ((size_t)1 << 20)
#define BATCH_MD_BYTES ((size_t)4 << 20)
#define RESERVE_BYTES ((size_t)256 << 20) /* preallocation on a count */
#define RUV_NAME "default"

typedef enum shape { SHAPE_UNKNOWN, SHAPE_VECSNAP, SHAPE_RUVECTOR } shape;

/* Hashing off the parsing thread: a job is a span of the buffer that was
 * just left behind. */
typedef struct hasher {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, busy, quit;
    vs_sha256 *sha;
    const char *data;
    size_t n;
} hasher;

typedef struct reader {
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
    hasher hs;

    shape shape;
    vs_store *st;
    const vs_load_options *opts;
    uint64_t seq, records, total_hint;

    /* the collection being loaded and its batch */
    vs_collection *col;
    uint32_t dim;
    size_t bcap, bn;
    float *vectors;
    vs_record *recs;
    size_t *id_off, *md_off;
    uint64_t *rec_at;
    vs_buf ids, mds, raw;
    float *scratch;     /* VS_DIM_MAX floats: a vector of unknown length */
    uint8_t *seen_bits; /* VS_DIM_MAX bits: float-object vectors */

    /* ruvector: the metric options / stats gave */
    bool ruv_has_metric;
    vs_metric ruv_metric;
    bool ruv_vectors_started;
} reader;

/* ---- errors -------------------------------------------------------------- */

static uint64_t offset(const reader *rd)
{
    return rd->base + rd->pos;
}

static int fail_at(uint64_t at, int code, const char *fmt, ...)
    VS_FMT_PRINTF(3, 4);
static int fail(reader *rd, int code, const char *fmt, ...)
    VS_FMT_PRINTF(3, 4);

static int failv(uint64_t at, int code, const char *fmt, va_list ap)
{
    char what[600];
    vsnprintf(what, sizeof(what), fmt, ap);
    return vs_error_set(code, "json: %s at byte %llu", what,
                        (unsigned long long)at);
}

static int fail_at(uint64_t at, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int error = failv(at, code, fmt, ap);
    va_end(ap);
    return error;
}

static int fail(reader *rd, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int error = failv(offset(rd), code, fmt, ap);
    va_end(ap);
    return error;
}

/* Re-reports the error a callee recorded, as bad content at `at`. */
static int wrap_at(uint64_t at, int code, const char *what)
{
    if (code == VS_ENOMEM)
        return code;
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return fail_at(at, code == VS_ETOOBIG ? VS_ETOOBIG : VS_ECORRUPT, "%s: %s",
                   what, msg);
}

/* ---- hashing thread ------------------------------------------------------ */

static void *hasher_main(void *arg)
{
    hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->busy && !h->quit)
            pthread_cond_wait(&h->cv, &h->mu);
        if (!h->busy)
            break;
        pthread_mutex_unlock(&h->mu);
        vs_sha256_update(h->sha, h->data, h->n);
        pthread_mutex_lock(&h->mu);
        h->busy = false;
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static bool hasher_start(hasher *h, vs_sha256 *sha)
{
    h->sha = sha;
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        return false;
    if (pthread_cond_init(&h->cv, NULL) != 0) {
        pthread_mutex_destroy(&h->mu);
        return false;
    }
    if (pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        return false;
    }
    h->started = true;
    return true;
}

/* Waits until no job runs: the context and the buffer it read are free. */
static void hasher_wait(hasher *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mu);
    while (h->busy)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void hasher_submit(hasher *h, const char *data, size_t n)
{
    pthread_mutex_lock(&h->mu);
    h->data = data;
    h->n = n;
    h->busy = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void hasher_stop(hasher *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mu);
    h->quit = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL); /* it finishes a running job first */
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    h->started = false;
}

/* ---- the buffer ---------------------------------------------------------- */

/* Hashes buf[hashed..lim) on this thread (after any job in flight). */
static void hash_to(reader *rd, size_t lim)
{
    if (lim <= rd->hashed)
        return;
    if (rd->hashing) {
        hasher_wait(&rd->hs);
        vs_sha256_update(rd->sha, rd->buf + rd->hashed, lim - rd->hashed);
    }
    rd->hashed = lim;
}

/* Recycles consumed bytes and reads more, keeping buf[pos..end) and held
 * bytes; sets eof when the input is exhausted.  A large span waiting to be
 * hashed goes to the hasher thread and reading continues in the other
 * buffer. */
static int refill(reader *rd)
{
    if (rd->eof)
        return 0;
    size_t keep = rd->held && rd->hold < rd->pos ? rd->hold : rd->pos;
    if (rd->hashing && keep - rd->hashed >= ASYNC_HASH_MIN && !rd->bufs[1])
        rd->bufs[1] = malloc(RD_BUFSZ); /* NULL: hash inline */
    if (!rd->hashing || keep - rd->hashed < ASYNC_HASH_MIN || !rd->bufs[1] ||
        (!rd->hs.started && !hasher_start(&rd->hs, rd->sha))) {
        hash_to(rd, keep);
        memmove(rd->buf, rd->buf + keep, rd->end - keep);
    } else {
        hasher_wait(&rd->hs); /* it may still read the other buffer */
        hasher_submit(&rd->hs, rd->buf + rd->hashed, keep - rd->hashed);
        rd->cur ^= 1;
        memcpy(rd->bufs[rd->cur], rd->buf + keep, rd->end - keep);
        rd->buf = rd->bufs[rd->cur];
        rd->hashed = keep;
    }
    rd->base += keep;
    rd->pos -= keep;
    rd->end -= keep;
    rd->hashed -= keep;
    if (rd->held)
        rd->hold -= keep;
    if (rd->end == RD_BUFSZ)
        return fail(rd, VS_ETOOBIG, "white space run longer than 1 MiB");
    size_t want = RD_BUFSZ - rd->end, got = 0;
    int error = vs_stream_read(rd->in, rd->buf + rd->end, want, &got);
    if (error < 0)
        return error;
    rd->end += got;
    rd->eof = got < want;
    return 0;
}

/* Makes at least n bytes available at pos unless the input ends first. */
static inline int ensure(reader *rd, size_t n)
{
    if (rd->end - rd->pos >= n || rd->eof)
        return 0;
    return refill(rd);
}

static inline bool is_ws(int c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Skips white space; *c gets the next byte, or -1 at the end of input. */
static inline int peek(reader *rd, int *c)
{
    for (;;) {
        while (rd->pos < rd->end) {
            int ch = (unsigned char)rd->buf[rd->pos];
            if (!is_ws(ch)) {
                *c = ch;
                return 0;
            }
            rd->pos++;
        }
        if (rd->eof) {
            *c = -1;
            return 0;
        }
        int error = refill(rd);
        if (error < 0)
            return error;
    }
}

/* ---- structure ----------------------------------------------------------- */

static int unexpected(reader *rd, int c, const char *wanted)
{
    if (c < 0)
        return fail(rd, VS_ECORRUPT, "unexpected end of input, expected %s",
                    wanted);
    if (c >= 0x20 && c < 0x7f)
        return fail(rd, VS_ECORRUPT, "unexpected '%c', expected %s", c,
                    wanted);
    return fail(rd, VS_ECORRUPT, "unexpected byte 0x%02x, expected %s", c,
                wanted);
}

static int expect(reader *rd, char want, const char *wanted)
{
    int c = 0;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    if (c != want)
        return unexpected(rd, c, wanted);
    rd->pos++;
    return 0;
}

/* Consumes `open`; *more is 0 when the container is empty (and consumed). */
static int open_container(reader *rd, char open, const char *wanted,
                          int *more)
{
    int c = 0;
    int error = expect(rd, open, wanted);
    if (!error)
        error = peek(rd, &c);
    if (error < 0)
        return error;
    *more = c != (open == '{' ? '}' : ']');
    if (!*more)
        rd->pos++;
    return 0;
}

/* After a member or element: *more is 1 when another follows (',' consumed)
 * and 0 at `close` (consumed). */
static int next_item(reader *rd, char close, int *more)
{
    int c = 0;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    if (c != ',' && c != close)
        return unexpected(rd, c, close == '}' ? "',' or '}'" : "',' or ']'");
    rd->pos++;
    *more = c == ',';
    return 0;
}

/* 1 << (index of key in names), or 0 when it is none of them. */
static unsigned key_bit(const char *key, size_t klen,
                        const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
            return 1u << i;
    return 0;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* ---- strings ------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int read_hex4(reader *rd, unsigned *v)
{
    int error = ensure(rd, 4);
    if (error < 0)
        return error;
    *v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = rd->pos + i < rd->end
                    ? hexval((unsigned char)rd->buf[rd->pos + i])
                    : -1;
        if (h < 0)
            return fail(rd, VS_ECORRUPT, "bad \\u escape");
        *v = *v << 4 | (unsigned)h;
    }
    rd->pos += 4;
    return 0;
}

static size_t put_utf8(char *p, unsigned cp)
{
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xc0 | cp >> 6);
        p[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xe0 | cp >> 12);
        p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        p[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (char)(0xf0 | cp >> 18);
    p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    p[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One escape (the backslash is next) decoded into tmp; *k gets its length. */
static int read_escape(reader *rd, char tmp[4], size_t *k)
{
    static const char plain[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    int error = ensure(rd, 2);
    if (error < 0)
        return error;
    if (rd->end - rd->pos < 2)
        return fail(rd, VS_ECORRUPT, "unterminated string");
    char e = rd->buf[rd->pos + 1];
    rd->pos += 2;
    *k = 1;
    for (size_t i = 0; i < sizeof(plain) - 1; i += 2) {
        if (plain[i] == e) {
            tmp[0] = plain[i + 1];
            return 0;
        }
    }
    if (e != 'u')
        return fail(rd, VS_ECORRUPT, "bad escape in a string");
    unsigned cp, lo;
    error = read_hex4(rd, &cp);
    if (error < 0)
        return error;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return fail(rd, VS_ECORRUPT, "lone low surrogate escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        error = ensure(rd, 2);
        if (error < 0)
            return error;
        if (rd->end - rd->pos < 2 || rd->buf[rd->pos] != '\\' ||
            rd->buf[rd->pos + 1] != 'u')
            return fail(rd, VS_ECORRUPT, "lone high surrogate escape");
        rd->pos += 2;
        error = read_hex4(rd, &lo);
        if (error < 0)
            return error;
        if (lo < 0xdc00 || lo > 0xdfff)
            return fail(rd, VS_ECORRUPT, "lone high surrogate escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *k = put_utf8(tmp, cp);
    return 0;
}

/* Decodes one string (the opening quote is next) into dst[0..cap); *len gets
 * its length.  dst NULL: validate and skip, without a cap. */
static int read_string(reader *rd, char *dst, size_t cap, size_t *len,
                       const char *what)
{
    int error = expect(rd, '"', "a string");
    if (error < 0)
        return error;
    size_t n = 0;
    for (;;) {
        if (rd->pos == rd->end) {
            error = refill(rd);
            if (error < 0)
                return error;
            if (rd->pos == rd->end)
                return fail(rd, VS_ECORRUPT, "unterminated string");
        }
        int c = (unsigned char)rd->buf[rd->pos];
        char tmp[4];
        size_t k = 1;
        if (c == '"') {
            rd->pos++;
            *len = n;
            return 0;
        }
        if (c < 0x20)
            return fail(rd, VS_ECORRUPT, "control character in a string");
        if (c == '\\') {
            error = read_escape(rd, tmp, &k);
            if (error < 0)
                return error;
        } else {
            tmp[0] = (char)c;
            rd->pos++;
        }
        if (dst) {
            if (n + k > cap)
                return fail(rd, VS_ETOOBIG, "%s longer than %zu bytes", what,
                            cap);
            memcpy(dst + n, tmp, k);
        }
        n += k;
    }
}

/* A member's key and the ':' after it. */
static int read_key(reader *rd, char key[KEY_MAX], size_t *klen)
{
    int error = read_string(rd, key, KEY_MAX, klen, "key");
    return error < 0 ? error : expect(rd, ':', "':'");
}

static int unknown_key(reader *rd, const char *key, size_t klen,
                       const char *where)
{
    return fail(rd, VS_ECORRUPT, "unknown key '%.*s' in %s",
                (int)(klen > 64 ? 64 : klen), key, where);
}

/* ---- numbers and other values -------------------------------------------- */

/* Length of the JSON number at s[0..len) (0 if none); *integral says
 * whether it had neither fraction nor exponent. */
static size_t number_length(const char *s, size_t len, bool *integral)
{
    size_t i = s[0] == '-';
    *integral = true;
    if (i < len && s[i] == '0')
        i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9')
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
        *integral = false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i += i + 1 < len && (s[i + 1] == '+' || s[i + 1] == '-') ? 2 : 1;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return 0;
        *integral = false;
    }
    return i;
}

/* The next number's bytes made contiguous: *avail of them (at most
 * NUM_MAX + 1); *c gets the first byte (-1 at the end). */
static inline int number_window(reader *rd, int *c, size_t *avail)
{
    int error = peek(rd, c);
    if (!error)
        error = ensure(rd, NUM_MAX + 1);
    *avail = rd->end - rd->pos;
    if (*avail > NUM_MAX + 1)
        *avail = NUM_MAX + 1;
    return error;
}

static inline int read_float(reader *rd, float *out)
{
    int c = 0;
    size_t avail, used;
    int error = number_window(rd, &c, &avail);
    if (error < 0)
        return error;
    if (vs_float_parse(out, rd->buf + rd->pos, avail, &used) < 0) {
        bool integral;
        if (c == 'n')
            return fail(rd, VS_ECORRUPT,
                        "null where a vector element was expected (NaN or "
                        "infinity in the source?)");
        if (c != '-' && (c < '0' || c > '9'))
            return unexpected(rd, c, "a number");
        if (number_length(rd->buf + rd->pos, avail, &integral))
            return fail(rd, VS_ECORRUPT, "number out of float32 range");
        return fail(rd, VS_ECORRUPT, "malformed number");
    }
    if (used > NUM_MAX)
        return fail(rd, VS_ETOOBIG, "number longer than %d characters",
                    NUM_MAX);
    rd->pos += used;
    return 0;
}

/* A non-negative JSON integer no larger than max. */
static int read_uint(reader *rd, uint64_t *out, uint64_t max,
                     const char *what)
{
    int c = 0;
    size_t avail;
    int error = number_window(rd, &c, &avail);
    if (error < 0)
        return error;
    const char *s = rd->buf + rd->pos;
    bool integral;
    size_t n = avail ? number_length(s, avail, &integral) : 0;
    if (n == 0 || n > NUM_MAX || !integral || s[0] == '-')
        return fail(rd, VS_ECORRUPT, "%s must be a non-negative integer",
                    what);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return fail(rd, VS_ETOOBIG, "%s larger than %llu", what,
                        (unsigned long long)max);
        v = v * 10 + d;
    }
    rd->pos += n;
    *out = v;
    return 0;
}

static int read_literal(reader *rd, const char *lit)
{
    size_t n = strlen(lit);
    int error = ensure(rd, n);
    if (error < 0)
        return error;
    if (rd->end - rd->pos < n || memcmp(rd->buf + rd->pos, lit, n) != 0)
        return fail(rd, VS_ECORRUPT, "malformed literal");
    rd->pos += n;
    return 0;
}

/* Validates and skips any value (ruvector members this reader ignores). */
static int skip_value(reader *rd, int depth)
{
    int c = 0, more;
    size_t len;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    if (depth > VS_JSONV_DEPTH_MAX)
        return fail(rd, VS_ETOOBIG, "nesting deeper than %d levels",
                    VS_JSONV_DEPTH_MAX);
    if (c == '"')
        return read_string(rd, NULL, 0, &len, "string");
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        error = open_container(rd, (char)c, "a value", &more);
        while (!error && more) {
            if (close == '}') {
                char key[KEY_MAX];
                error = read_key(rd, key, &len);
            }
            if (!error)
                error = skip_value(rd, depth + 1);
            if (!error)
                error = next_item(rd, close, &more);
        }
        return error;
    }
    if (c == 't' || c == 'f' || c == 'n')
        return read_literal(rd, c == 't' ? "true" : c == 'f' ? "false"
                                                             : "null");
    if (c != '-' && (c < '0' || c > '9'))
        return unexpected(rd, c, "a value");
    size_t avail;
    bool integral;
    error = number_window(rd, &c, &avail);
    if (error < 0)
        return error;
    len = number_length(rd->buf + rd->pos, avail, &integral);
    if (len == 0)
        return fail(rd, VS_ECORRUPT, "malformed number");
    if (len > NUM_MAX)
        return fail(rd, VS_ETOOBIG, "number longer than %d characters",
                    NUM_MAX);
    rd->pos += len;
    return 0;
}

/* Copies one raw object (metadata) into rd->raw, finding its end by
 * structure only; vs_jsonv_compact validates it afterwards. */
static int capture_object(reader *rd)
{
    vs_buf_reset(&rd->raw);
    int c = 0;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    if (c != '{')
        return unexpected(rd, c, "a metadata object");
    size_t depth = 0;
    bool in_str = false, esc = false;
    for (;;) {
        size_t i = rd->pos;
        bool done = false;
        for (; i < rd->end && !done; i++) {
            int ch = (unsigned char)rd->buf[i];
            if (in_str) {
                if (esc)
                    esc = false;
                else if (ch == '\\')
                    esc = true;
                else if (ch == '"')
                    in_str = false;
            } else if (ch == '"') {
                in_str = true;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                done = --depth == 0;
            }
        }
        size_t n = i - rd->pos;
        if (rd->raw.len + n > MD_RAW_MAX)
            return fail(rd, VS_ETOOBIG, "metadata longer than %d bytes",
                        MD_RAW_MAX);
        error = vs_buf_put(&rd->raw, rd->buf + rd->pos, n);
        if (error < 0)
            return error;
        rd->pos = i;
        if (done)
            return 0;
        error = refill(rd);
        if (error < 0)
            return error;
        if (rd->pos == rd->end)
            return fail(rd, VS_ECORRUPT, "unterminated metadata object");
    }
}

/* ---- batches ------------------------------------------------------------- */

static int batch_init(reader *rd, uint32_t dim)
{
    size_t cap = BATCH_FLOATS / dim;
    cap = cap < 1 ? 1 : cap > BATCH_RECORDS ? BATCH_RECORDS : cap;
    rd->dim = dim;
    rd->bn = 0;
    if (cap > rd->bcap) {
        free(rd->recs);
        free(rd->id_off);
        free(rd->md_off);
        free(rd->rec_at);
        rd->bcap = 0;
        rd->recs = calloc(cap, sizeof(*rd->recs));
        rd->id_off = calloc(cap, sizeof(*rd->id_off));
        rd->md_off = calloc(cap, sizeof(*rd->md_off));
        rd->rec_at = calloc(cap, sizeof(*rd->rec_at));
        if (!rd->recs || !rd->id_off || !rd->md_off || !rd->rec_at)
            return vs_error_oom();
    }
    free(rd->vectors);
    rd->vectors = malloc(cap * dim * sizeof(float));
    if (!rd->vectors)
        return vs_error_oom();
    rd->bcap = cap;
    return 0;
}

static int flush_batch(reader *rd)
{
    if (rd->bn == 0)
        return 0;
    for (size_t i = 0; i < rd->bn; i++) {
        rd->recs[i].id = rd->ids.ptr + rd->id_off[i];
        rd->recs[i].vector = rd->vectors + i * rd->dim;
        rd->recs[i].metadata =
            rd->recs[i].metadata_len ? rd->mds.ptr + rd->md_off[i] : NULL;
    }
    int error = vs_collection_load(rd->col, rd->recs, rd->bn, rd->seq);
    if (error == VS_EINVALID || error == VS_ETOOBIG) {
        /* Loading one by one finds the record at fault, to name its
         * offset (the store is discarded anyway). */
        size_t i = 0;
        int e = 0;
        while (i < rd->bn &&
               (e = vs_collection_load(rd->col, &rd->recs[i], 1, rd->seq)) ==
                   0)
            i++;
        char what[128];
        snprintf(what, sizeof(what), "record of collection '%s'",
                 vs_collection_name(rd->col));
        return wrap_at(rd->rec_at[i < rd->bn ? i : 0], e ? e : error, what);
    }
    if (error < 0)
        return error;
    rd->records += rd->bn;
    rd->bn = 0;
    vs_buf_reset(&rd->ids);
    vs_buf_reset(&rd->mds);
    if (!rd->opts)
        return 0;
    uint64_t total = rd->total_hint > rd->records ? rd->total_hint
                                                  : rd->records;
    return vs_fmt__progress(rd->opts->progress, rd->opts->payload,
                            rd->records, total);
}

static int create_collection(reader *rd, const char *name, uint32_t dim,
                             vs_metric metric, uint64_t count_hint)
{
    int error = vs_store_create(&rd->col, rd->st, name, dim, metric);
    if (error < 0)
        return wrap_at(offset(rd), error, "collection");
    uint64_t cap = RESERVE_BYTES / ((uint64_t)dim * 4 + 64);
    if (count_hint)
        error = vs_collection_reserve(
            rd->col, (size_t)(count_hint < cap ? count_hint : cap));
    return error < 0 ? error : batch_init(rd, dim);
}

/* ---- vectors and records ------------------------------------------------- */

/* A vector as an array of numbers into dst; dim 0: any length up to
 * VS_DIM_MAX.  *got gets the length. */
static int read_vector_array(reader *rd, float *dst, uint32_t dim,
                             uint32_t *got)
{
    uint32_t max = dim ? dim : VS_DIM_MAX, n = 0;
    int more;
    int error = open_container(rd, '[', "a vector array", &more);
    while (!error && more) {
        if (n == max)
            return fail(rd, VS_ECORRUPT,
                        "vector longer than its dimension %u", max);
        error = read_float(rd, &dst[n++]);
        if (!error && rd->pos < rd->end && rd->buf[rd->pos] == ',')
            rd->pos++; /* the common case, without peek */
        else if (!error)
            error = next_item(rd, ']', &more);
    }
    if (error < 0)
        return error;
    if (dim && n != dim)
        return fail(rd, VS_ECORRUPT, "vector has %u elements, dimension is %u",
                    n, dim);
    *got = n;
    return 0;
}

/* A serialised Float32Array: {"0":x,"1":y,...}, keys 0..D-1 each once. */
static int read_vector_object(reader *rd, float *dst, uint32_t dim,
                              uint32_t *got)
{
    uint32_t max = dim ? dim : VS_DIM_MAX, n = 0, top = 0;
    memset(rd->seen_bits, 0, ((size_t)max + 7) / 8);
    int more;
    int error = open_container(rd, '{', "a vector object", &more);
    while (!error && more) {
        char key[KEY_MAX];
        size_t klen;
        error = read_key(rd, key, &klen);
        if (error < 0)
            return error;
        uint64_t idx = 0;
        bool ok = klen > 0 && klen < 10 && (klen == 1 || key[0] != '0');
        for (size_t i = 0; ok && i < klen; i++) {
            ok = key[i] >= '0' && key[i] <= '9';
            idx = idx * 10 + (uint64_t)(key[i] - '0');
        }
        if (!ok || idx >= max)
            return fail(rd, VS_ECORRUPT,
                        "vector key '%.*s' is not an index below %u",
                        (int)(klen > 16 ? 16 : klen), key, max);
        if (rd->seen_bits[idx / 8] & (1u << (idx % 8)))
            return fail(rd, VS_ECORRUPT, "vector index %u given twice",
                        (unsigned)idx);
        rd->seen_bits[idx / 8] |= (uint8_t)(1u << (idx % 8));
        n++;
        top = idx + 1 > top ? (uint32_t)idx + 1 : top;
        error = read_float(rd, &dst[idx]);
        if (!error)
            error = next_item(rd, '}', &more);
    }
    if (error < 0)
        return error;
    if (n != (dim ? dim : top))
        return fail(rd, VS_ECORRUPT,
                    "vector object lacks indices (%u of %u given)", n,
                    dim ? dim : top);
    *got = n;
    return 0;
}

/* The vector member of a record, written into its batch slot; for a
 * ruvector document without a dimension, the first vector fixes it. */
static int read_vector(reader *rd)
{
    int c = 0;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    bool object = c == '{' && rd->shape == SHAPE_RUVECTOR;
    if (c != '[' && !object)
        return unexpected(rd, c, rd->shape == SHAPE_RUVECTOR
                                     ? "a vector array or object"
                                     : "a vector array");
    if ((object || !rd->col) && !rd->seen_bits) {
        rd->seen_bits = malloc(VS_DIM_MAX / 8);
        if (!rd->seen_bits)
            return vs_error_oom();
    }
    uint32_t got;
    if (rd->col) {
        float *dst = rd->vectors + rd->bn * rd->dim;
        return object ? read_vector_object(rd, dst, rd->dim, &got)
                      : read_vector_array(rd, dst, rd->dim, &got);
    }
    if (!rd->scratch) {
        rd->scratch = malloc(VS_DIM_MAX * sizeof(float));
        if (!rd->scratch)
            return vs_error_oom();
    }
    uint64_t at = offset(rd);
    error = object ? read_vector_object(rd, rd->scratch, 0, &got)
                   : read_vector_array(rd, rd->scratch, 0, &got);
    if (!error && got == 0)
        error = fail_at(at, VS_ECORRUPT, "empty vector");
    if (!error)
        error = create_collection(rd, RUV_NAME, got,
                                  rd->ruv_has_metric ? rd->ruv_metric
                                                     : VS_METRIC_COSINE,
                                  rd->total_hint);
    if (!error)
        memcpy(rd->vectors, rd->scratch, got * sizeof(float));
    return error;
}

/* Metadata into the batch, validated and compacted. */
static int read_metadata(reader *rd)
{
    int c = 0;
    int error = peek(rd, &c);
    if (error < 0)
        return error;
    rd->md_off[rd->bn] = rd->mds.len;
    rd->recs[rd->bn].metadata_len = 0;
    if (c == 'n' && rd->shape == SHAPE_RUVECTOR)
        return read_literal(rd, "null"); /* JavaScript's null: none */
    uint64_t at = offset(rd);
    error = capture_object(rd);
    if (!error)
        error = vs_buf_reserve(&rd->mds, rd->raw.len);
    if (error < 0)
        return error;
    size_t clen;
    error = vs_jsonv_compact(rd->mds.ptr + rd->mds.len, &clen, rd->raw.ptr,
                             rd->raw.len, 1);
    if (error < 0)
        return wrap_at(at, error, "metadata");
    if (clen > VS_METADATA_MAX)
        return fail_at(at, VS_ETOOBIG, "metadata of %zu bytes, more than %d",
                       clen, VS_METADATA_MAX);
    rd->mds.len += clen;
    rd->recs[rd->bn].metadata_len = clen;
    return 0;
}

/* One record object, appended to the batch (flushed when full). */
static int read_record(reader *rd)
{
    static const char *const keys[] = {"id", "vector", "metadata"};
    enum { K_ID = 1, K_VEC = 2, K_MD = 4 };
    uint64_t at;
    unsigned have = 0;
    size_t id_len = 0;
    char id[VS_ID_MAX];
    int c = 0, more;
    int error = peek(rd, &c);
    at = offset(rd);
    if (!error)
        error = open_container(rd, '{', "a record object", &more);
    while (!error && more) {
        char key[KEY_MAX];
        size_t klen;
        error = read_key(rd, key, &klen);
        if (error < 0)
            return error;
        unsigned bit = key_bit(key, klen, keys, 3);
        if (bit & have)
            return fail(rd, VS_ECORRUPT, "duplicate key in a record");
        have |= bit;
        if (bit == K_ID)
            error = read_string(rd, id, sizeof(id), &id_len, "id");
        else if (bit == K_VEC)
            error = read_vector(rd);
        else if (bit == K_MD && !rd->col)
            return fail(rd, VS_ECORRUPT,
                        "metadata before the first vector of a document "
                        "without a dimension");
        else if (bit == K_MD)
            error = read_metadata(rd);
        else if (rd->shape == SHAPE_RUVECTOR)
            error = skip_value(rd, 1);
        else
            return unknown_key(rd, key, klen, "a record");
        if (!error)
            error = next_item(rd, '}', &more);
    }
    if (error < 0)
        return error;
    if (!(have & K_ID) || !(have & K_VEC))
        return fail_at(at, VS_ECORRUPT, "record has no %s",
                       (have & K_ID) ? "vector" : "id");
    size_t i = rd->bn;
    rd->rec_at[i] = at;
    if (!(have & K_MD))
        rd->recs[i].metadata_len = 0;
    rd->id_off[i] = rd->ids.len;
    rd->recs[i].id_len = id_len;
    error = vs_buf_put(&rd->ids, id, id_len);
    if (error < 0)
        return error;
    rd->bn++;
    if (rd->bn == rd->bcap || rd->mds.len >= BATCH_MD_BYTES)
        return flush_batch(rd);
    return 0;
}

/* '[' record (',' record)* ']' */
static int read_records(reader *rd)
{
    int more;
    int error = open_container(rd, '[', "an array of records", &more);
    while (!error && more) {
        error = read_record(rd);
        if (!error)
            error = next_item(rd, ']', &more);
    }
    return error < 0 ? error : flush_batch(rd);
}

/* ---- vecsnap collections ------------------------------------------------- */

static int read_collection(reader *rd)
{
    static const char *const keys[] = {"name", "dimension", "metric", "count",
                                       "records"};
    enum { C_NAME = 1, C_DIM = 2, C_METRIC = 4, C_COUNT = 8, C_RECS = 16 };
    const unsigned needed = C_NAME | C_DIM | C_METRIC;
    char name[VS_NAME_MAX + 1] = "";
    size_t len;
    uint64_t dim = 0, count = 0;
    vs_metric metric = VS_METRIC_COSINE;
    unsigned have = 0;
    int c = 0, more;
    int error = peek(rd, &c);
    uint64_t at = offset(rd);
    if (!error)
        error = open_container(rd, '{', "a collection object", &more);
    while (!error && more) {
        char key[KEY_MAX];
        size_t klen;
        error = read_key(rd, key, &klen);
        if (error < 0)
            return error;
        unsigned bit = key_bit(key, klen, keys, 5);
        if (!bit)
            return unknown_key(rd, key, klen, "a collection");
        if (bit & have)
            return fail(rd, VS_ECORRUPT, "duplicate key in a collection");
        have |= bit;
        if (bit == C_NAME) {
            error = read_string(rd, name, VS_NAME_MAX, &len,
                                "collection name");
            name[error ? 0 : len] = '\0';
            if (!error && strlen(name) != len)
                return fail(rd, VS_ECORRUPT, "NUL in a collection name");
        } else if (bit == C_DIM) {
            error = read_uint(rd, &dim, VS_DIM_MAX, "dimension");
            if (!error && dim == 0)
                return fail(rd, VS_ECORRUPT, "dimension 0");
        } else if (bit == C_METRIC) {
            char m[33];
            error = read_string(rd, m, sizeof(m) - 1, &len, "metric");
            m[error ? 0 : len] = '\0';
            if (!error && (strlen(m) != len || vs_metric_parse(&metric, m))) {
                vs_error_clear();
                return fail(rd, VS_ECORRUPT, "unknown metric '%s'", m);
            }
        } else if (bit == C_COUNT) {
            error = read_uint(rd, &count, UINT32_MAX, "count");
        } else {
            if ((have & needed) != needed)
                return fail(rd, VS_ECORRUPT,
                            "records before the collection's name, "
                            "dimension and metric");
            rd->total_hint += count;
            error = create_collection(rd, name, (uint32_t)dim, metric,
                                      (have & C_COUNT) ? count : 0);
            if (!error)
                error = read_records(rd);
        }
        if (!error)
            error = next_item(rd, '}', &more);
    }
    if (error < 0)
        return error;
    if ((have & needed) != needed)
        return fail_at(at, VS_ECORRUPT, "collection lacks %s",
                       !(have & C_NAME)  ? "a name"
                       : !(have & C_DIM) ? "a dimension"
                                         : "a metric");
    if (!(have & C_RECS)) {
        error = create_collection(rd, name, (uint32_t)dim, metric, 0);
        if (error < 0)
            return error;
    }
    if ((have & C_COUNT) && count != vs_collection_count(rd->col))
        return fail_at(at, VS_ECORRUPT,
                       "collection '%s' says count %llu but holds %zu "
                       "records",
                       name, (unsigned long long)count,
                       vs_collection_count(rd->col));
    rd->col = NULL;
    return 0;
}

static int read_collections(reader *rd)
{
    int more;
    int error = open_container(rd, '[', "an array of collections", &more);
    while (!error && more) {
        error = read_collection(rd);
        if (!error)
            error = next_item(rd, ']', &more);
    }
    return error;
}

/* ---- ruvector members ---------------------------------------------------- */

typedef struct ruv_conf {
    uint64_t dim;
    bool has_metric;
    vs_metric metric;
} ruv_conf;

/* "options" or "stats": dimension and metric kept, the rest skipped. */
static int read_ruv_conf(reader *rd, ruv_conf *conf, bool is_stats)
{
    int c = 0, more;
    int error = open_container(rd, '{', "an object", &more);
    while (!error && more) {
        char key[KEY_MAX];
        size_t klen;
        error = read_key(rd, key, &klen);
        if (!error)
            error = peek(rd, &c);
        if (error < 0)
            return error;
        if (c == 'n') { /* null: as if absent */
            error = read_literal(rd, "null");
        } else if (str_is(key, klen, "dimension")) {
            error = read_uint(rd, &conf->dim, VS_DIM_MAX, "dimension");
            if (!error && conf->dim == 0)
                return fail(rd, VS_ECORRUPT, "dimension 0");
        } else if (str_is(key, klen, "metric")) {
            char m[65];
            size_t mlen;
            error = read_string(rd, m, sizeof(m) - 1, &mlen, "metric");
            int bad = error ? 0 : vs_fmt__ruvector_metric(&conf->metric, m,
                                                          mlen);
            if (bad)
                return fail(rd, VS_ECORRUPT, "%s metric '%.*s'",
                            bad == VS_EINVALID ? "unsupported" : "unknown",
                            (int)mlen, m);
            conf->has_metric = true;
        } else if (is_stats && str_is(key, klen, "count")) {
            error = read_uint(rd, &rd->total_hint, UINT32_MAX, "count");
        } else {
            error = skip_value(rd, 2);
        }
        if (!error)
            error = next_item(rd, '}', &more);
    }
    return error;
}

static int read_ruv_vectors(reader *rd, const ruv_conf *opt,
                            const ruv_conf *stats)
{
    if (opt->dim && stats->dim && opt->dim != stats->dim)
        return fail(rd, VS_ECORRUPT,
                    "options.dimension %llu and stats.dimension %llu "
                    "disagree",
                    (unsigned long long)opt->dim,
                    (unsigned long long)stats->dim);
    rd->ruv_has_metric = opt->has_metric || stats->has_metric;
    rd->ruv_metric = opt->has_metric ? opt->metric : stats->metric;
    rd->ruv_vectors_started = true;
    uint64_t dim = opt->dim ? opt->dim : stats->dim;
    if (dim) {
        int error = create_collection(rd, RUV_NAME, (uint32_t)dim,
                                      rd->ruv_has_metric ? rd->ruv_metric
                                                         : VS_METRIC_COSINE,
                                      rd->total_hint);
        if (error < 0)
            return error;
    }
    return read_records(rd);
}

/* ---- the top level ------------------------------------------------------- */

enum {
    /* vecsnap */
    R_FORMAT = 1, R_VERSION = 2, R_SEQ = 4, R_COLLECTIONS = 8, R_SHA = 16,
    /* ruvector (R_VERSION shared) */
    R_OPTIONS = 32, R_STATS = 64, R_VECTORS = 128, R_CHECKSUM = 256
};

static const char *const vecsnap_keys[] = {"format", "version", "seq",
                                           "collections", "sha256"};
static const char *const ruv_keys[] = {"options", "stats", "vectors",
                                       "checksum"};

typedef struct root_state {
    unsigned have;
    bool verified;
    uint8_t digest[VS_SHA256_LEN];  /* of the bytes before ,"sha256" */
    uint8_t claimed[VS_SHA256_LEN]; /* what the document says */
    ruv_conf opt, stats;
} root_state;

static bool is_hex64(const char *s, size_t n)
{
    if (n != VS_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return false;
    return true;
}

/* Decides the document's shape from its first key. */
static int pick_shape(reader *rd, const char *key, size_t klen, int force)
{
    static const char *const ruv_other[] = {"timestamp", "indexState",
                                            "metadata"};
    static const char *const meta[] = {"id", "name", "vectorCount",
                                       "fileSize", "compressed"};
    shape s = SHAPE_UNKNOWN;
    if (str_is(key, klen, "version")) {
        int c = 0;
        int error = peek(rd, &c);
        if (error < 0)
            return error;
        s = c == '"' ? SHAPE_RUVECTOR : SHAPE_VECSNAP;
    } else if (key_bit(key, klen, vecsnap_keys, 5)) {
        s = SHAPE_VECSNAP;
    } else if (key_bit(key, klen, ruv_keys, 4) ||
               key_bit(key, klen, ruv_other, 3)) {
        s = SHAPE_RUVECTOR;
    }
    if (s == SHAPE_RUVECTOR || (s == SHAPE_VECSNAP && force == 0)) {
        rd->shape = s;
        rd->hashing = s == SHAPE_VECSNAP; /* ruvector's can't be redone */
        return 0;
    }
    if (key_bit(key, klen, meta, 5))
        return fail(rd, VS_ECORRUPT,
                    "this looks like a ruvector-extensions snapshot "
                    "description (<id>.meta.json), not a state file; load "
                    "the snapshot file beside it");
    if (force == VS_JSON_SHAPE_RUVECTOR)
        return fail(rd, VS_ECORRUPT, "not a ruvector-extensions state file");
    return fail(rd, VS_ECORRUPT,
                "unknown top-level key '%.*s' (neither a vecsnap nor a "
                "ruvector-extensions document)",
                (int)(klen > 64 ? 64 : klen), key);
}

static int read_vecsnap_member(reader *rd, root_state *rs, const char *key,
                               size_t klen)
{
    unsigned bit = key_bit(key, klen, vecsnap_keys, 5);
    if (!bit)
        return fail(rd, VS_ECORRUPT, "unknown top-level key '%.*s'",
                    (int)(klen > 64 ? 64 : klen), key);
    if (bit & rs->have)
        return fail(rd, VS_ECORRUPT, "duplicate top-level key");
    rs->have |= bit;
    char text[VS_SHA256_HEX_LEN + 1];
    size_t len;
    uint64_t v;
    int error;
    switch (bit) {
    case R_FORMAT:
        error = read_string(rd, text, 32, &len, "format");
        if (!error && !str_is(text, len, "vecsnap"))
            return fail(rd, VS_ECORRUPT, "format '%.*s' is not 'vecsnap'",
                        (int)len, text);
        return error;
    case R_VERSION:
        error = read_uint(rd, &v, UINT32_MAX, "version");
        if (!error && v == 0)
            return fail(rd, VS_ECORRUPT, "version 0");
        if (!error && v > 1)
            return fail(rd, VS_EVERSION,
                        "document version %llu is newer than this build "
                        "reads (1)",
                        (unsigned long long)v);
        return error;
    case R_SEQ:
        if (rs->have & R_COLLECTIONS)
            return fail(rd, VS_ECORRUPT, "seq after collections");
        return read_uint(rd, &rd->seq, UINT64_MAX, "seq");
    case R_COLLECTIONS:
        if ((rs->have & (R_FORMAT | R_VERSION)) != (R_FORMAT | R_VERSION))
            return fail(rd, VS_ECORRUPT,
                        "collections before format and version");
        return read_collections(rd);
    default: /* R_SHA: compared once it is known to be the last member */
        if (!rd->held)
            return fail(rd, VS_ECORRUPT,
                        "sha256 must follow the other members");
        hash_to(rd, rd->hold);
        hasher_wait(&rd->hs);
        vs_sha256_final(rd->sha, rs->digest);
        rd->hashing = false;
        error = read_string(rd, text, VS_SHA256_HEX_LEN, &len, "sha256");
        if (error == VS_ETOOBIG ||
            (!error && (!is_hex64(text, len) ||
                        vs_sha256_parse_hex(rs->claimed, text, len))))
            return fail(rd, VS_ECORRUPT, "sha256 is not 64 hex digits");
        return error;
    }
}

static int read_ruvector_member(reader *rd, root_state *rs, const char *key,
                                size_t klen)
{
    unsigned bit = str_is(key, klen, "version") ? R_VERSION
                                                : key_bit(key, klen, ruv_keys,
                                                          4) << 5;
    if (bit & rs->have)
        return fail(rd, VS_ECORRUPT, "duplicate top-level key");
    rs->have |= bit;
    if ((bit == R_OPTIONS || bit == R_STATS) && rd->ruv_vectors_started)
        return fail(rd, VS_ECORRUPT, "options or stats after vectors");
    char text[VS_SHA256_HEX_LEN + 1];
    size_t len;
    int error;
    switch (bit) {
    case R_VERSION:
        error = read_string(rd, text, 32, &len, "version");
        if (!error && (error = vs_fmt__ruvector_version(text, len)) < 0)
            return fail(rd, error, "%s ruvector-extensions version '%.*s'",
                        error == VS_EVERSION ? "unsupported" : "malformed",
                        (int)len, text);
        return error;
    case R_OPTIONS:
        return read_ruv_conf(rd, &rs->opt, false);
    case R_STATS:
        return read_ruv_conf(rd, &rs->stats, true);
    case R_VECTORS:
        return read_ruv_vectors(rd, &rs->opt, &rs->stats);
    case R_CHECKSUM: /* it covers a JavaScript re-serialisation: only a form
                        check is possible */
        error = read_string(rd, text, VS_SHA256_HEX_LEN, &len, "checksum");
        if (error == VS_ETOOBIG || (!error && !is_hex64(text, len)))
            return fail(rd, VS_ECORRUPT, "checksum is not 64 hex digits");
        return error;
    default: /* timestamp, indexState, metadata, anything newer */
        return skip_value(rd, 1);
    }
}

static int finish_root(reader *rd, root_state *rs)
{
    if (rd->shape == SHAPE_VECSNAP) {
        const unsigned needed = R_FORMAT | R_VERSION | R_COLLECTIONS;
        if ((rs->have & needed) != needed)
            return fail(rd, VS_ECORRUPT,
                        "document lacks format, version or collections");
        if ((rs->have & R_SHA) && !vs_sha256_equal(rs->digest, rs->claimed))
            return fail(rd, VS_ECORRUPT, "checksum mismatch");
        rs->verified = rs->have & R_SHA;
        return 0;
    }
    if (!(rs->have & R_VECTORS))
        return fail(rd, VS_ECORRUPT, "ruvector document has no vectors");
    if (vs_store_find(rd->st, RUV_NAME))
        return 0;
    uint64_t dim = rs->opt.dim ? rs->opt.dim : rs->stats.dim;
    if (!dim)
        return fail(rd, VS_ECORRUPT, "ruvector document gives no dimension");
    return create_collection(rd, RUV_NAME, (uint32_t)dim,
                             rd->ruv_has_metric ? rd->ruv_metric
                                                : VS_METRIC_COSINE,
                             0);
}

static int read_root(reader *rd, int force, root_state *rs)
{
    int c = 0, more;
    int error = open_container(rd, '{', "'{' at the start of a document",
                               &more);
    if (!error && !more)
        return fail(rd, VS_ECORRUPT, "empty document object");
    while (!error && more) {
        char key[KEY_MAX];
        size_t klen;
        error = read_key(rd, key, &klen);
        if (!error && rd->shape == SHAPE_UNKNOWN)
            error = pick_shape(rd, key, klen, force);
        if (error < 0)
            return error;
        if (!str_is(key, klen, "sha256"))
            rd->held = false; /* the comma was not the checksum's */
        if (rd->shape == SHAPE_VECSNAP)
            error = read_vecsnap_member(rd, rs, key, klen);
        else
            error = read_ruvector_member(rd, rs, key, klen);
        rd->held = false;
        if (!error)
            error = peek(rd, &c);
        if (error < 0)
            return error;
        if (c == ',' && (rs->have & R_SHA) && rd->shape == SHAPE_VECSNAP)
            return fail(rd, VS_ECORRUPT, "sha256 must be the last member");
        if (c == ',' && rd->hashing) {
            hash_to(rd, rd->pos); /* everything before the comma */
            rd->held = true;
            rd->hold = rd->pos;
        }
        error = next_item(rd, '}', &more);
    }
    return error < 0 ? error : finish_root(rd, rs);
}

int vs_fmt__json_load_shape(vs_store **out, vs_file_info *info,
                            vs_stream *in, const vs_load_options *opts,
                            int force)
{
    reader rd;
    memset(&rd, 0, sizeof(rd));
    root_state rs;
    memset(&rs, 0, sizeof(rs));
    rd.in = in;
    rd.opts = opts;
    rd.hashing = true;
    rd.ids = (vs_buf)VS_BUF_INIT((size_t)BATCH_RECORDS * VS_ID_MAX);
    rd.mds = (vs_buf)VS_BUF_INIT(BATCH_MD_BYTES + MD_RAW_MAX);
    rd.raw = (vs_buf)VS_BUF_INIT(MD_RAW_MAX);
    int c = 0;
    int error = vs_store_new(&rd.st);
    if (!error)
        error = vs_sha256_new(&rd.sha);
    if (error < 0)
        goto done;
    rd.bufs[0] = malloc(RD_BUFSZ); /* the second one only when needed */
    if (!rd.bufs[0]) {
        error = vs_error_oom();
        goto done;
    }
    rd.buf = rd.bufs[0];
    error = refill(&rd);
    if (error < 0)
        goto done;
    if (rd.end >= 3 && memcmp(rd.buf, "\xef\xbb\xbf", 3) == 0)
        rd.pos = 3; /* a UTF-8 byte order mark (hashed like the rest) */
    error = peek(&rd, &c);
    if (!error && c < 0)
        error = vs_error_set(VS_ECORRUPT, "json: empty input");
    if (!error)
        error = read_root(&rd, force, &rs);
    if (!error)
        error = peek(&rd, &c);
    if (!error && c >= 0)
        error = fail(&rd, VS_ECORRUPT, "trailing bytes after the document");
    if (error < 0)
        goto done;
    if (rd.shape == SHAPE_RUVECTOR)
        rd.seq = 1; /* the load counts as the store's first write */
    vs_store_set_seq(rd.st, rd.seq);
    if (info) {
        info->format = rd.shape == SHAPE_RUVECTOR ? VS_FORMAT_RUVECTOR
                                                  : VS_FORMAT_JSON;
        info->content_verified = rs.verified;
        info->seq = rd.seq;
        info->records = vs_store_nrecords(rd.st);
        info->ncollections = (uint32_t)vs_store_ncollections(rd.st);
    }
    *out = rd.st;
    rd.st = NULL;
done:
    hasher_stop(&rd.hs);
    vs_store_free(rd.st);
    vs_sha256_free(rd.sha);
    free(rd.bufs[0]);
    free(rd.bufs[1]);
    free(rd.vectors);
    free(rd.recs);
    free(rd.id_off);
    free(rd.md_off);
    free(rd.rec_at);
    free(rd.scratch);
    free(rd.seen_bits);
    vs_buf_dispose(&rd.ids);
    vs_buf_dispose(&rd.mds);
    vs_buf_dispose(&rd.raw);
    return error;
}

int vs_fmt_json_load(vs_store **out, vs_file_info *info, vs_stream *in,
                     const vs_load_options *opts)
{
    return vs_fmt__json_load_shape(out, info, in, opts, VS_JSON_SHAPE_ANY);
}
