/*
 * fmt_json_lex: the JSON reader's input and tokens, for fmt_json_read.c
 * (which knows what the document means).  It owns the input buffer, the
 * byte offsets errors name, the SHA-256 of the bytes consumed, and the
 * decoding of one token or value at a time: white space, strings with their
 * escapes, numbers (floats by vs_float_parse straight out of the buffer),
 * literals, skipping or capturing a whole value, and vectors given as
 * arrays or Float32Array objects of numbers.
 *
 * The input is consumed through a 1 MiB buffer; tokens are decoded in
 * place, with no allocation per token.  A token is made contiguous by
 * moving the unconsumed tail to the start of the buffer before reading more.
 *
 * Checksum: the raw bytes are hashed as the buffer is recycled: a span over
 * 64 KiB goes to a helper thread while parsing goes on in a second buffer.
 * A held byte (fmt_json_int.h) and everything after it stay in the buffer
 * unhashed, so white space after a held comma is limited to the buffer,
 * 1 MiB.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floatfmt.h"
#include "fmt_json_int.h"
#include "jsonv.h"

#define RD_BUFSZ ((size_t)1 << 20)
#define ASYNC_HASH_MIN ((size_t)64 << 10) /* smaller spans: hash inline */
#define NUM_MAX 1024                      /* longest number token */

/* ---- errors -------------------------------------------------------------- */

static int failv(uint64_t at, int code, const char *fmt, va_list ap)
    VS_FMT_PRINTF(3, 0);

static int failv(uint64_t at, int code, const char *fmt, va_list ap)
{
    char what[600];
    vsnprintf(what, sizeof(what), fmt, ap);
    return vs_error_set(code, "json: %s at byte %llu", what,
                        (unsigned long long)at);
}

int vs_fmt__json_fail_at(uint64_t at, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int error = failv(at, code, fmt, ap);
    va_end(ap);
    return error;
}

int vs_fmt__json_fail(vs_fmt__json_lexer *lx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int error = failv(vs_fmt__json_offset(lx), code, fmt, ap);
    va_end(ap);
    return error;
}

int vs_fmt__json_unexpected(vs_fmt__json_lexer *lx, int c, const char *wanted)
{
    if (c < 0)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "unexpected end of input, expected %s",
                                 wanted);
    if (c >= 0x20 && c < 0x7f)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "unexpected '%c', expected %s", c, wanted);
    return vs_fmt__json_fail(lx, VS_ECORRUPT,
                             "unexpected byte 0x%02x, expected %s", c,
                             wanted);
}

/* ---- hashing thread ------------------------------------------------------ */

static void *hasher_main(void *arg)
{
    vs_fmt__json_hasher *h = arg;
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

static bool hasher_start(vs_fmt__json_hasher *h, vs_sha256 *sha)
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
static void hasher_wait(vs_fmt__json_hasher *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mu);
    while (h->busy)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void hasher_submit(vs_fmt__json_hasher *h, const char *data, size_t n)
{
    pthread_mutex_lock(&h->mu);
    h->data = data;
    h->n = n;
    h->busy = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static void hasher_stop(vs_fmt__json_hasher *h)
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
static void hash_to(vs_fmt__json_lexer *lx, size_t lim)
{
    if (lim <= lx->hashed)
        return;
    if (lx->hashing) {
        hasher_wait(&lx->hs);
        vs_sha256_update(lx->sha, lx->buf + lx->hashed, lim - lx->hashed);
    }
    lx->hashed = lim;
}

/* A large span waiting to be hashed goes to the hasher thread and reading
 * continues in the other buffer. */
int vs_fmt__json_refill(vs_fmt__json_lexer *lx)
{
    if (lx->eof)
        return 0;
    size_t keep = lx->held && lx->hold < lx->pos ? lx->hold : lx->pos;
    if (lx->hashing && keep - lx->hashed >= ASYNC_HASH_MIN && !lx->bufs[1])
        lx->bufs[1] = malloc(RD_BUFSZ); /* NULL: hash inline */
    if (!lx->hashing || keep - lx->hashed < ASYNC_HASH_MIN || !lx->bufs[1] ||
        (!lx->hs.started && !hasher_start(&lx->hs, lx->sha))) {
        hash_to(lx, keep);
        memmove(lx->buf, lx->buf + keep, lx->end - keep);
    } else {
        hasher_wait(&lx->hs); /* it may still read the other buffer */
        hasher_submit(&lx->hs, lx->buf + lx->hashed, keep - lx->hashed);
        lx->cur ^= 1;
        memcpy(lx->bufs[lx->cur], lx->buf + keep, lx->end - keep);
        lx->buf = lx->bufs[lx->cur];
        lx->hashed = keep;
    }
    lx->base += keep;
    lx->pos -= keep;
    lx->end -= keep;
    lx->hashed -= keep;
    if (lx->held)
        lx->hold -= keep;
    if (lx->end == RD_BUFSZ)
        return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                 "white space run longer than 1 MiB");
    size_t want = RD_BUFSZ - lx->end, got = 0;
    int error = vs_stream_read(lx->in, lx->buf + lx->end, want, &got);
    if (error < 0)
        return error;
    lx->end += got;
    lx->eof = got < want;
    return 0;
}

/* Makes at least n bytes available at pos unless the input ends first. */
static inline int ensure(vs_fmt__json_lexer *lx, size_t n)
{
    if (lx->end - lx->pos >= n || lx->eof)
        return 0;
    return vs_fmt__json_refill(lx);
}

int vs_fmt__json_lexer_init(vs_fmt__json_lexer *lx, vs_stream *in)
{
    memset(lx, 0, sizeof(*lx));
    lx->in = in;
    lx->hashing = true;
    int error = vs_sha256_new(&lx->sha);
    if (error < 0)
        return error;
    lx->bufs[0] = malloc(RD_BUFSZ); /* the second one only when needed */
    if (!lx->bufs[0])
        return vs_error_oom();
    lx->buf = lx->bufs[0];
    error = vs_fmt__json_refill(lx);
    if (error < 0)
        return error;
    if (lx->end >= 3 && memcmp(lx->buf, "\xef\xbb\xbf", 3) == 0)
        lx->pos = 3; /* a UTF-8 byte order mark (hashed like the rest) */
    return 0;
}

void vs_fmt__json_lexer_dispose(vs_fmt__json_lexer *lx)
{
    hasher_stop(&lx->hs);
    vs_sha256_free(lx->sha);
    free(lx->bufs[0]);
    free(lx->bufs[1]);
    lx->sha = NULL;
    lx->bufs[0] = lx->bufs[1] = lx->buf = NULL;
}

void vs_fmt__json_hold(vs_fmt__json_lexer *lx)
{
    hash_to(lx, lx->pos); /* everything before the comma */
    lx->held = true;
    lx->hold = lx->pos;
}

void vs_fmt__json_digest(vs_fmt__json_lexer *lx, uint8_t out[VS_SHA256_LEN])
{
    hash_to(lx, lx->hold);
    hasher_wait(&lx->hs);
    vs_sha256_final(lx->sha, out);
    lx->hashing = false;
}

/* ---- structure ----------------------------------------------------------- */

static int expect(vs_fmt__json_lexer *lx, char want, const char *wanted)
{
    int c = 0;
    int error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    if (c != want)
        return vs_fmt__json_unexpected(lx, c, wanted);
    lx->pos++;
    return 0;
}

int vs_fmt__json_open_container(vs_fmt__json_lexer *lx, char open,
                                const char *wanted, int *more)
{
    int c = 0;
    int error = expect(lx, open, wanted);
    if (!error)
        error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    *more = c != (open == '{' ? '}' : ']');
    if (!*more)
        lx->pos++;
    return 0;
}

int vs_fmt__json_next_item(vs_fmt__json_lexer *lx, char close, int *more)
{
    int c = 0;
    int error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    if (c != ',' && c != close)
        return vs_fmt__json_unexpected(lx, c,
                                       close == '}' ? "',' or '}'"
                                                    : "',' or ']'");
    lx->pos++;
    *more = c == ',';
    return 0;
}

/* ---- strings ------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool vs_fmt__json_is_hex64(const char *s, size_t n)
{
    if (n != VS_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return false;
    return true;
}

static int read_hex4(vs_fmt__json_lexer *lx, unsigned *v)
{
    int error = ensure(lx, 4);
    if (error < 0)
        return error;
    *v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = lx->pos + i < lx->end
                    ? hexval((unsigned char)lx->buf[lx->pos + i])
                    : -1;
        if (h < 0)
            return vs_fmt__json_fail(lx, VS_ECORRUPT, "bad \\u escape");
        *v = *v << 4 | (unsigned)h;
    }
    lx->pos += 4;
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
static int read_escape(vs_fmt__json_lexer *lx, char tmp[4], size_t *k)
{
    static const char plain[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    int error = ensure(lx, 2);
    if (error < 0)
        return error;
    if (lx->end - lx->pos < 2)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "unterminated string");
    char e = lx->buf[lx->pos + 1];
    lx->pos += 2;
    *k = 1;
    for (size_t i = 0; i < sizeof(plain) - 1; i += 2) {
        if (plain[i] == e) {
            tmp[0] = plain[i + 1];
            return 0;
        }
    }
    if (e != 'u')
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "bad escape in a string");
    unsigned cp, lo;
    error = read_hex4(lx, &cp);
    if (error < 0)
        return error;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "lone low surrogate escape");
    if (cp >= 0xd800 && cp <= 0xdbff) {
        error = ensure(lx, 2);
        if (error < 0)
            return error;
        if (lx->end - lx->pos < 2 || lx->buf[lx->pos] != '\\' ||
            lx->buf[lx->pos + 1] != 'u')
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "lone high surrogate escape");
        lx->pos += 2;
        error = read_hex4(lx, &lo);
        if (error < 0)
            return error;
        if (lo < 0xdc00 || lo > 0xdfff)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "lone high surrogate escape");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    *k = put_utf8(tmp, cp);
    return 0;
}

int vs_fmt__json_read_string(vs_fmt__json_lexer *lx, char *dst, size_t cap,
                             size_t *len, const char *what)
{
    int error = expect(lx, '"', "a string");
    if (error < 0)
        return error;
    size_t n = 0;
    for (;;) {
        if (lx->pos == lx->end) {
            error = vs_fmt__json_refill(lx);
            if (error < 0)
                return error;
            if (lx->pos == lx->end)
                return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                         "unterminated string");
        }
        int c = (unsigned char)lx->buf[lx->pos];
        char tmp[4];
        size_t k = 1;
        if (c == '"') {
            lx->pos++;
            *len = n;
            return 0;
        }
        if (c < 0x20)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "control character in a string");
        if (c == '\\') {
            error = read_escape(lx, tmp, &k);
            if (error < 0)
                return error;
        } else {
            tmp[0] = (char)c;
            lx->pos++;
        }
        if (dst) {
            if (n + k > cap)
                return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                         "%s longer than %zu bytes", what,
                                         cap);
            memcpy(dst + n, tmp, k);
        }
        n += k;
    }
}

int vs_fmt__json_read_key(vs_fmt__json_lexer *lx,
                          char key[VS_FMT__JSON_KEY_MAX], size_t *klen)
{
    int error = vs_fmt__json_read_string(lx, key, VS_FMT__JSON_KEY_MAX, klen,
                                         "key");
    return error < 0 ? error : expect(lx, ':', "':'");
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
static inline int number_window(vs_fmt__json_lexer *lx, int *c,
                                size_t *avail)
{
    int error = vs_fmt__json_peek(lx, c);
    if (!error)
        error = ensure(lx, NUM_MAX + 1);
    *avail = lx->end - lx->pos;
    if (*avail > NUM_MAX + 1)
        *avail = NUM_MAX + 1;
    return error;
}

static inline int read_float(vs_fmt__json_lexer *lx, float *out)
{
    int c = 0;
    size_t avail, used;
    int error = number_window(lx, &c, &avail);
    if (error < 0)
        return error;
    if (vs_float_parse(out, lx->buf + lx->pos, avail, &used) < 0) {
        bool integral;
        if (c == 'n')
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "null where a vector element was "
                                     "expected (NaN or infinity in the "
                                     "source?)");
        if (c != '-' && (c < '0' || c > '9'))
            return vs_fmt__json_unexpected(lx, c, "a number");
        if (number_length(lx->buf + lx->pos, avail, &integral))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "number out of float32 range");
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "malformed number");
    }
    if (used > NUM_MAX)
        return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                 "number longer than %d characters", NUM_MAX);
    lx->pos += used;
    return 0;
}

int vs_fmt__json_read_uint(vs_fmt__json_lexer *lx, uint64_t *out,
                           uint64_t max, const char *what)
{
    int c = 0;
    size_t avail;
    int error = number_window(lx, &c, &avail);
    if (error < 0)
        return error;
    const char *s = lx->buf + lx->pos;
    bool integral;
    size_t n = avail ? number_length(s, avail, &integral) : 0;
    if (n == 0 || n > NUM_MAX || !integral || s[0] == '-')
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "%s must be a non-negative integer", what);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return vs_fmt__json_fail(lx, VS_ETOOBIG, "%s larger than %llu",
                                     what, (unsigned long long)max);
        v = v * 10 + d;
    }
    lx->pos += n;
    *out = v;
    return 0;
}

int vs_fmt__json_read_literal(vs_fmt__json_lexer *lx, const char *lit)
{
    size_t n = strlen(lit);
    int error = ensure(lx, n);
    if (error < 0)
        return error;
    if (lx->end - lx->pos < n || memcmp(lx->buf + lx->pos, lit, n) != 0)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "malformed literal");
    lx->pos += n;
    return 0;
}

int vs_fmt__json_skip_value(vs_fmt__json_lexer *lx, int depth)
{
    int c = 0, more;
    size_t len;
    int error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    if (depth > VS_JSONV_DEPTH_MAX)
        return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                 "nesting deeper than %d levels",
                                 VS_JSONV_DEPTH_MAX);
    if (c == '"')
        return vs_fmt__json_read_string(lx, NULL, 0, &len, "string");
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        error = vs_fmt__json_open_container(lx, (char)c, "a value", &more);
        while (!error && more) {
            if (close == '}') {
                char key[VS_FMT__JSON_KEY_MAX];
                error = vs_fmt__json_read_key(lx, key, &len);
            }
            if (!error)
                error = vs_fmt__json_skip_value(lx, depth + 1);
            if (!error)
                error = vs_fmt__json_next_item(lx, close, &more);
        }
        return error;
    }
    if (c == 't' || c == 'f' || c == 'n')
        return vs_fmt__json_read_literal(lx, c == 't'   ? "true"
                                             : c == 'f' ? "false"
                                                        : "null");
    if (c != '-' && (c < '0' || c > '9'))
        return vs_fmt__json_unexpected(lx, c, "a value");
    size_t avail;
    bool integral;
    error = number_window(lx, &c, &avail);
    if (error < 0)
        return error;
    len = number_length(lx->buf + lx->pos, avail, &integral);
    if (len == 0)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "malformed number");
    if (len > NUM_MAX)
        return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                 "number longer than %d characters", NUM_MAX);
    lx->pos += len;
    return 0;
}

int vs_fmt__json_capture_object(vs_fmt__json_lexer *lx, vs_buf *out,
                                size_t max)
{
    vs_buf_reset(out);
    int c = 0;
    int error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    if (c != '{')
        return vs_fmt__json_unexpected(lx, c, "a metadata object");
    size_t depth = 0;
    bool in_str = false, esc = false;
    for (;;) {
        size_t i = lx->pos;
        bool done = false;
        for (; i < lx->end && !done; i++) {
            int ch = (unsigned char)lx->buf[i];
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
        size_t n = i - lx->pos;
        if (out->len + n > max)
            return vs_fmt__json_fail(lx, VS_ETOOBIG,
                                     "metadata longer than %zu bytes", max);
        error = vs_buf_put(out, lx->buf + lx->pos, n);
        if (error < 0)
            return error;
        lx->pos = i;
        if (done)
            return 0;
        error = vs_fmt__json_refill(lx);
        if (error < 0)
            return error;
        if (lx->pos == lx->end)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "unterminated metadata object");
    }
}

/* ---- vectors ------------------------------------------------------------- */

int vs_fmt__json_read_vector_array(vs_fmt__json_lexer *lx, float *dst,
                                   uint32_t dim, uint32_t *got)
{
    uint32_t max = dim ? dim : VS_DIM_MAX, n = 0;
    int more;
    int error = vs_fmt__json_open_container(lx, '[', "a vector array", &more);
    while (!error && more) {
        if (n == max)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "vector longer than its dimension %u",
                                     max);
        error = read_float(lx, &dst[n++]);
        if (!error && lx->pos < lx->end && lx->buf[lx->pos] == ',')
            lx->pos++; /* the common case, without peek */
        else if (!error)
            error = vs_fmt__json_next_item(lx, ']', &more);
    }
    if (error < 0)
        return error;
    if (dim && n != dim)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "vector has %u elements, dimension is %u", n,
                                 dim);
    *got = n;
    return 0;
}

int vs_fmt__json_read_vector_object(vs_fmt__json_lexer *lx, float *dst,
                                    uint32_t dim, uint8_t *seen,
                                    uint32_t *got)
{
    uint32_t max = dim ? dim : VS_DIM_MAX, n = 0, top = 0;
    memset(seen, 0, ((size_t)max + 7) / 8);
    int more;
    int error = vs_fmt__json_open_container(lx, '{', "a vector object",
                                            &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (error < 0)
            return error;
        uint64_t idx = 0;
        bool ok = klen > 0 && klen < 10 && (klen == 1 || key[0] != '0');
        for (size_t i = 0; ok && i < klen; i++) {
            ok = key[i] >= '0' && key[i] <= '9';
            idx = idx * 10 + (uint64_t)(key[i] - '0');
        }
        if (!ok || idx >= max)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "vector key '%.*s' is not an index "
                                     "below %u",
                                     (int)(klen > 16 ? 16 : klen), key, max);
        if (seen[idx / 8] & (1u << (idx % 8)))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "vector index %u given twice",
                                     (unsigned)idx);
        seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
        n++;
        top = idx + 1 > top ? (uint32_t)idx + 1 : top;
        error = read_float(lx, &dst[idx]);
        if (!error)
            error = vs_fmt__json_next_item(lx, '}', &more);
    }
    if (error < 0)
        return error;
    if (n != (dim ? dim : top))
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "vector object lacks indices (%u of %u "
                                 "given)",
                                 n, dim ? dim : top);
    *got = n;
    return 0;
}
