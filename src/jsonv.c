/*
 * jsonv: strict RFC 8259 validation and compaction in one pass, without
 * allocation.
 *
 * One iterative scanner serves both entry points: it walks the text once,
 * keeps the open containers in a 64-bit stack (bit set: object), and, when it
 * has an output buffer, copies every token while dropping the white space
 * between tokens.  Strings and numbers are copied verbatim (escapes are kept
 * as written), so the compact text is never longer than the input.
 *
 * Decisions:
 * - strings: raw bytes below 0x20 are rejected; UTF-8 must be well formed
 *   (no overlong forms, no encoded surrogates, nothing above U+10FFFF);
 * - \u escapes: a high surrogate must be followed by an escaped low
 *   surrogate; a lone surrogate escape (high or low) is rejected, as jansson
 *   does, so that everything accepted here decodes everywhere;
 * - \u0000 is accepted (RFC 8259 allows it; jansson needs JSON_ALLOW_NUL);
 * - numbers follow the grammar only: no range limit (1e400 is accepted);
 * - nesting: at most VS_JSONV_DEPTH_MAX open arrays and objects.
 *
 * Speed: string bodies, the bulk of metadata, are scanned eight bytes at a
 * time with SWAR tests for '"', '\\', bytes below 0x20 and non-ASCII bytes.
 */
#include "jsonv.h"

#include <stdint.h>
#include <string.h>

_Static_assert(VS_JSONV_DEPTH_MAX <= 64, "the container stack is 64 bits");

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

typedef const unsigned char *uptr;

/* Non-zero when one of the 8 bytes in w needs a closer look inside a string:
 * '"', '\\', a byte below 0x20 or a byte with the high bit set.  The tests are
 * exact about existence (no false negatives, no false positives). */
static inline uint64_t special8(uint64_t w)
{
    uint64_t lt20 = (w - ONES * 0x20) & ~w & HIGHS;
    uint64_t quote = w ^ (ONES * '"');
    uint64_t bslash = w ^ (ONES * '\\');
    quote = (quote - ONES) & ~quote & HIGHS;
    bslash = (bslash - ONES) & ~bslash & HIGHS;
    return lt20 | quote | bslash | (w & HIGHS);
}

static inline int top_is_object(uint64_t stack, unsigned depth)
{
    return (int)((stack >> (depth - 1)) & 1);
}

static inline int is_plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static inline int is_ws(unsigned c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int is_digit(unsigned c)
{
    return c - '0' < 10;
}

static int hexval(unsigned c)
{
    if (c - '0' < 10)
        return (int)(c - '0');
    c |= 0x20;
    if (c - 'a' < 6)
        return (int)(c - 'a' + 10);
    return -1;
}

/* Four hex digits at p (caller checked there are four bytes); -1 if not. */
static long hex4(uptr p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}


static int fail(uptr text, uptr p, const char *what)
{
    return vs_error_set(VS_EINVALID, "invalid JSON at byte %zu: %s",
                        (size_t)(p - text), what);
}

/* Scans the string whose opening quote is at *pp; on success *pp points past
 * the closing quote.  On failure *pp points at the offending byte and *what
 * says why. */
static inline int scan_string(uptr *pp, uptr end, const char **what)
{
    uptr p = *pp + 1;

    for (;;) {
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (special8(w))
                break;
            p += 8;
        }
        while (p < end && is_plain(*p))
            p++;
        if (p >= end) {
            *what = "unterminated string";
            goto bad;
        }
        unsigned c = *p;
        if (c == '"') {
            *pp = p + 1;
            return 0;
        }
        if (c >= 0x80) {
            size_t n = vs_utf8_seq(p, (size_t)(end - p));
            if (!n) {
                *what = "invalid UTF-8 in string";
                goto bad;
            }
            p += n;
            continue;
        }
        if (c < 0x20) {
            *what = "control character in string";
            goto bad;
        }
        /* backslash */
        if (end - p < 2) {
            *what = "unterminated string";
            goto bad;
        }
        c = p[1];
        if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
            c == 'n' || c == 'r' || c == 't') {
            p += 2;
            continue;
        }
        if (c != 'u') {
            *what = "invalid escape in string";
            goto bad;
        }
        long cp = end - p >= 6 ? hex4(p + 2) : -1;
        if (cp < 0) {
            *what = "invalid \\u escape";
            goto bad;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            *what = "lone low surrogate escape";
            goto bad;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (end - p >= 12 && p[6] == '\\' && p[7] == 'u')
                lo = hex4(p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF) {
                *what = "high surrogate escape without a low surrogate";
                goto bad;
            }
            p += 12;
            continue;
        }
        p += 6;
    }
bad:
    *pp = p;
    return -1;
}

/* Scans the number at *pp; *pp ends past it.  On failure as scan_string. */
static inline int scan_number(uptr *pp, uptr end, const char **what)
{
    uptr p = *pp;

    if (*p == '-')
        p++;
    if (p >= end || !is_digit(*p)) {
        *what = "expected a digit";
        goto bad;
    }
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            *what = "expected a digit after '.'";
            goto bad;
        }
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p)) {
            *what = "expected a digit in the exponent";
            goto bad;
        }
        while (p < end && is_digit(*p))
            p++;
    }
    *pp = p;
    return 0;
bad:
    *pp = p;
    return -1;
}

#define SKIP_WS()                                                              \
    do {                                                                       \
        while (p < end && is_ws(*p))                                           \
            p++;                                                               \
    } while (0)

#define EMIT(c)                                                                \
    do {                                                                       \
        if (out)                                                               \
            out[o] = (char)(c);                                                \
        o++;                                                                   \
    } while (0)

#define EMIT_SPAN(from, to)                                                    \
    do {                                                                       \
        if (out)                                                               \
            memcpy(out + o, (from), (size_t)((to) - (from)));                  \
        o += (size_t)((to) - (from));                                          \
    } while (0)

/* The scanner.  `out` NULL: validate only.  Inlined into both callers so that
 * the validate-only copy has no copying code left in it. */
static inline __attribute__((always_inline)) int
scan(char *out, size_t *out_len, const char *text, size_t len, int object_only)
{
    uptr base = (uptr)text;
    uptr p = base;
    uptr end = base + len;
    uptr start;
    const char *what = NULL;
    uint64_t stack = 0; /* bit d set: container at depth d is an object */
    unsigned depth = 0;
    size_t o = 0;

    SKIP_WS();
    if (object_only && (p >= end || *p != '{'))
        return fail(base, p, "expected '{' (an object)");

value:
    if (p >= end)
        return fail(base, p, "expected a value");
    switch (*p) {
    case '{':
    case '[':
        if (depth >= VS_JSONV_DEPTH_MAX)
            return fail(base, p, "nesting too deep");
        if (*p == '{')
            stack |= (uint64_t)1 << depth;
        else
            stack &= ~((uint64_t)1 << depth);
        depth++;
        EMIT(*p);
        p++;
        SKIP_WS();
        if (p < end && *p == (top_is_object(stack, depth) ? '}' : ']')) {
            EMIT(*p);
            p++;
            depth--;
            goto after;
        }
        if (top_is_object(stack, depth))
            goto key;
        goto value;
    case '"':
        start = p;
        if (scan_string(&p, end, &what) < 0)
            return fail(base, p, what);
        EMIT_SPAN(start, p);
        goto after;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return fail(base, p, "expected a value");
        EMIT_SPAN(p, p + 4);
        p += 4;
        goto after;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return fail(base, p, "expected a value");
        EMIT_SPAN(p, p + 5);
        p += 5;
        goto after;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return fail(base, p, "expected a value");
        EMIT_SPAN(p, p + 4);
        p += 4;
        goto after;
    default:
        if (*p != '-' && !is_digit(*p))
            return fail(base, p, "expected a value");
        start = p;
        if (scan_number(&p, end, &what) < 0)
            return fail(base, p, what);
        EMIT_SPAN(start, p);
        goto after;
    }

key:
    /* p at the first non-space byte where an object key must start */
    if (p >= end || *p != '"')
        return fail(base, p, "expected a string key");
    start = p;
    if (scan_string(&p, end, &what) < 0)
        return fail(base, p, what);
    EMIT_SPAN(start, p);
    SKIP_WS();
    if (p >= end || *p != ':')
        return fail(base, p, "expected ':'");
    EMIT(':');
    p++;
    SKIP_WS();
    goto value;

after:
    SKIP_WS();
    if (depth == 0) {
        if (p != end)
            return fail(base, p, "unexpected data after the value");
        if (out_len)
            *out_len = o;
        return 0;
    }
    if (top_is_object(stack, depth)) {
        if (p < end && *p == ',') {
            EMIT(',');
            p++;
            SKIP_WS();
            goto key;
        }
        if (p < end && *p == '}') {
            EMIT('}');
            p++;
            depth--;
            goto after;
        }
        return fail(base, p, "expected ',' or '}'");
    }
    if (p < end && *p == ',') {
        EMIT(',');
        p++;
        SKIP_WS();
        goto value;
    }
    if (p < end && *p == ']') {
        EMIT(']');
        p++;
        depth--;
        goto after;
    }
    return fail(base, p, "expected ',' or ']'");
}

int vs_jsonv_check_object(const char *text, size_t len)
{
    if (!text && len)
        return vs_error_set(VS_EINVALID, "invalid JSON: no text");
    return scan(NULL, NULL, text ? text : "", len, 1);
}

int vs_jsonv_compact(char *out, size_t *out_len, const char *text, size_t len,
                     int object_only)
{
    *out_len = 0;
    if ((!text || !out) && len)
        return vs_error_set(VS_EINVALID, "invalid JSON: no text");
    int error = scan(out, out_len, text ? text : "", len, object_only);
    if (error < 0)
        *out_len = 0;
    return error;
}
