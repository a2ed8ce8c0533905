/* test_util: jsonv (validator and compactor), buf and error. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "jsonv.h"

/* ck_assert records every passing check (a write to the runner), which is
 * slow in loops: REQUIRE only reports failures. */
#define REQUIRE(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* ---- jsonv helpers ------------------------------------------------------ */

/* Copies text into an allocation of exactly len bytes so that ASan sees any
 * read past the end, then compacts it.  Returns the jsonv result. */
static int compact_exact(const char *text, size_t len, int object_only,
                         char *out, size_t *out_len)
{
    char *in = malloc(len ? len : 1);
    char *o = malloc(len ? len : 1);
    REQUIRE(in && o, "out of memory");
    memcpy(in, text, len);
    int r = vs_jsonv_compact(o, out_len, in, len, object_only);
    if (r == 0) {
        REQUIRE(*out_len <= len, "compact output longer than input");
        memcpy(out, o, *out_len);
    }
    free(o);
    free(in);
    return r;
}

static int check_exact(const char *text, size_t len)
{
    char *in = malloc(len ? len : 1);
    REQUIRE(in, "out of memory");
    memcpy(in, text, len);
    int r = vs_jsonv_check_object(in, len);
    free(in);
    return r;
}

/* Validates any value (not only objects). */
static int check_value(const char *text, size_t len)
{
    char *out = malloc(len ? len : 1);
    size_t n;
    REQUIRE(out, "out of memory");
    int r = compact_exact(text, len, 0, out, &n);
    free(out);
    return r;
}

typedef struct valid_case {
    const char *in;
    const char *compact;
} valid_case;

/* Valid values with their exact compact form. */
static const valid_case valid_values[] = {
    {"{}", "{}"},
    {" { } ", "{}"},
    {"\t\r\n{\n}\n", "{}"},
    {"[]", "[]"},
    {"[ ]", "[]"},
    {"0", "0"},
    {"-0", "-0"},
    {" 1.5 ", "1.5"},
    {"-1.5e10", "-1.5e10"},
    {"1E+2", "1E+2"},
    {"1e-2", "1e-2"},
    {"0.000", "0.000"},
    {"123456789012345678901234567890", "123456789012345678901234567890"},
    {"1e400", "1e400"},
    {"true", "true"},
    {"false", "false"},
    {"null", "null"},
    {"\"\"", "\"\""},
    {"\"a b\"", "\"a b\""},
    {"\" { } [ ] : , \"", "\" { } [ ] : , \""},
    {"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
     "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\""},
    {"\"\\u00e9\\u00E9\"", "\"\\u00e9\\u00E9\""},
    {"\"\\u0000\"", "\"\\u0000\""},
    {"\"\\uD83D\\uDE00\"", "\"\\uD83D\\uDE00\""},
    {"\"\\udbff\\udfff\"", "\"\\udbff\\udfff\""},
    {"\"\xc3\xa9\"", "\"\xc3\xa9\""},                 /* U+00E9 */
    {"\"\xdf\xbf\"", "\"\xdf\xbf\""},                 /* U+07FF */
    {"\"\xe0\xa0\x80\"", "\"\xe0\xa0\x80\""},         /* U+0800 */
    {"\"\xed\x9f\xbf\"", "\"\xed\x9f\xbf\""},         /* U+D7FF */
    {"\"\xee\x80\x80\"", "\"\xee\x80\x80\""},         /* U+E000 */
    {"\"\xef\xbf\xbf\"", "\"\xef\xbf\xbf\""},         /* U+FFFF */
    {"\"\xf0\x90\x80\x80\"", "\"\xf0\x90\x80\x80\""}, /* U+10000 */
    {"\"\xf4\x8f\xbf\xbf\"", "\"\xf4\x8f\xbf\xbf\""}, /* U+10FFFF */
    {"\"\x7f\"", "\"\x7f\""},
    {"{ \"a\" : [ 1 , 2 ] , \"b\" : \"x y\" }", "{\"a\":[1,2],\"b\":\"x y\"}"},
    {"{\"a\":{\"b\":{\"c\":[true,false,null,{}]}}}",
     "{\"a\":{\"b\":{\"c\":[true,false,null,{}]}}}"},
    {"[ [ ] , [ [ ] ] , { } ]", "[[],[[]],{}]"},
    {"{\"\":\"\"}", "{\"\":\"\"}"},
    {"{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2}"},
    {"[1,-1,0.5,-0.5,1e5,1E-5,10,100]", "[1,-1,0.5,-0.5,1e5,1E-5,10,100]"},
    {"{\"k\":\"long string with no specials at all, forty bytes+\"}",
     "{\"k\":\"long string with no specials at all, forty bytes+\"}"},
};

/* Invalid inputs (as any value, hence also as objects). */
static const char *const invalid_values[] = {
    "",
    " ",
    "{",
    "}",
    "[",
    "]",
    "{]",
    "[}",
    "{\"a\"}",
    "{\"a\":}",
    "{\"a\" 1}",
    "{\"a\":1,}",
    "{,}",
    "[1,]",
    "[,1]",
    "[1 2]",
    "{\"a\":1 \"b\":2}",
    "{a:1}",
    "{'a':1}",
    "{1:1}",
    "['a']",
    "{} x",
    "{}{}",
    "[] []",
    "{} /* c */",
    "// c\n{}",
    "01",
    "-01",
    "-",
    "+1",
    ".5",
    "1.",
    "1.e5",
    "1e",
    "1e+",
    "1e-",
    "--1",
    "0x1",
    "NaN",
    "Infinity",
    "-Infinity",
    "1 2",
    "tru",
    "nul",
    "fals",
    "True",
    "NULL",
    "truex",
    "nulll",
    "\"",
    "\"abc",
    "\"abc\\",
    "\"abc\\\"",
    "\"\\x\"",
    "\"\\'\"",
    "\"\\a\"",
    "\"\\u\"",
    "\"\\u12\"",
    "\"\\u12G4\"",
    "\"\\uD83D\"",
    "\"\\uDE00\"",
    "\"\\uD83Dx\"",
    "\"\\uD83D\\u0041\"",
    "\"\\uD83D\\uD83D\"",
    "\"\\uD83D\\n\"",
    "\"\\uDE00\\uD83D\"",
    "\"a\tb\"",
    "\"a\nb\"",
    "\"\x01\"",
    "\"\x1f\"",
    "\"\x80\"",
    "\"\xbf\"",
    "\"\xc0\x80\"",
    "\"\xc1\xbf\"",
    "\"\xc2\"",
    "\"\xc2\x41\"",
    "\"\xe0\x80\x80\"",
    "\"\xe0\x9f\xbf\"",
    "\"\xed\xa0\x80\"",
    "\"\xed\xbf\xbf\"",
    "\"\xe1\x80\"",
    "\"\xe1\x80\x41\"",
    "\"\xf0\x80\x80\x80\"",
    "\"\xf0\x8f\xbf\xbf\"",
    "\"\xf4\x90\x80\x80\"",
    "\"\xf5\x80\x80\x80\"",
    "\"\xf8\x88\x80\x80\x80\"",
    "\"\xff\"",
    "\"\xf0\x90\x80\"",
    "\xef\xbb\xbf{}", /* a byte order mark is not white space */
    "\f{}",
    "{}\v",
    "\xc2\xa0{}",
};


/* A cap of SIZE_MAX (no cap) used to wrap the allocation size to 0: a
 * heap overflow on the first put, a double free after the second. */
START_TEST(test_buf_without_cap_grows)
{
    vs_buf b = VS_BUF_INIT((size_t)-1);
    char chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(vs_buf_put(&b, chunk, sizeof(chunk)), 0);
    ck_assert_uint_eq(b.len, 100000);
    ck_assert_int_eq(b.ptr[99999], 'x');
    ck_assert_int_eq(b.ptr[100000], '\0');
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_jsonv_valid)
{
    char out[256];
    size_t n;

    for (size_t i = 0; i < sizeof(valid_values) / sizeof(valid_values[0]);
         i++) {
        const valid_case *vc = &valid_values[i];
        size_t len = strlen(vc->in);
        int r = compact_exact(vc->in, len, 0, out, &n);
        ck_assert_msg(r == 0, "case %zu '%s' rejected: %s", i, vc->in,
                      vs_error_last());
        ck_assert_msg(n == strlen(vc->compact) &&
                          memcmp(out, vc->compact, n) == 0,
                      "case %zu '%s': compact '%.*s'", i, vc->in, (int)n, out);
        /* compaction is idempotent */
        char again[256];
        size_t n2;
        ck_assert_int_eq(compact_exact(out, n, 0, again, &n2), 0);
        ck_assert_uint_eq(n2, n);
        ck_assert_mem_eq(again, out, n);
        /* check_object and object-only compaction agree on objects */
        const char *p = vc->in;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        int is_object = *p == '{';
        ck_assert_int_eq(check_exact(vc->in, len) == 0, is_object);
        ck_assert_int_eq(compact_exact(vc->in, len, 1, again, &n2) == 0,
                         is_object);
    }
}
END_TEST

START_TEST(test_jsonv_invalid)
{
    char out[256];
    size_t n;

    for (size_t i = 0; i < sizeof(invalid_values) / sizeof(invalid_values[0]);
         i++) {
        const char *in = invalid_values[i];
        size_t len = strlen(in);
        vs_error_clear();
        n = 99;
        int r = compact_exact(in, len, 0, out, &n);
        ck_assert_msg(r == VS_EINVALID, "case %zu '%s' accepted", i, in);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(vs_error_last_code(), VS_EINVALID);
        ck_assert_msg(strncmp(vs_error_last(), "invalid JSON at byte ", 21) ==
                          0,
                      "message '%s'", vs_error_last());
        ck_assert_int_eq(check_exact(in, len), VS_EINVALID);
        ck_assert_int_eq(compact_exact(in, len, 1, out, &n), VS_EINVALID);
        /* also when embedded as an object member value */
        char wrapped[300];
        int wl = snprintf(wrapped, sizeof(wrapped), "{\"k\":%s}", in);
        ck_assert_int_gt(wl, 0);
        ck_assert_int_eq(check_exact(wrapped, (size_t)wl), VS_EINVALID);
    }
}
END_TEST

START_TEST(test_jsonv_embedded_nul)
{
    static const char a[] = "{\"a\":\"x\0y\"}";
    static const char b[] = "{}\0";
    static const char c[] = "{\"a\":1\0}";
    static const char d[] = "{\"a\":\"\\u0000\"}";
    ck_assert_int_eq(check_exact(a, sizeof(a) - 1), VS_EINVALID);
    ck_assert_int_eq(check_exact(b, sizeof(b) - 1), VS_EINVALID);
    ck_assert_int_eq(check_exact(c, sizeof(c) - 1), VS_EINVALID);
    ck_assert_int_eq(check_exact(d, sizeof(d) - 1), 0);
    /* a NULL text is only acceptable with length 0, and is not an object */
    ck_assert_int_eq(vs_jsonv_check_object(NULL, 0), VS_EINVALID);
    ck_assert_int_eq(vs_jsonv_check_object(NULL, 5), VS_EINVALID);
}
END_TEST

START_TEST(test_jsonv_not_object)
{
    static const char *const others[] = {"[]",   "1",    "\"s\"",
                                         "true", "null", " [ {} ] "};
    char out[64];
    size_t n;

    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        size_t len = strlen(others[i]);
        ck_assert_int_eq(check_exact(others[i], len), VS_EINVALID);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "expected '{'"));
        ck_assert_int_eq(compact_exact(others[i], len, 1, out, &n),
                         VS_EINVALID);
        ck_assert_int_eq(compact_exact(others[i], len, 0, out, &n), 0);
    }
}
END_TEST

START_TEST(test_jsonv_messages)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"{\"a\" 1}", "invalid JSON at byte 5: expected ':'"},
        {"{\"a\":1,}", "invalid JSON at byte 7: expected a string key"},
        {"{\"a\":1 2}", "invalid JSON at byte 7: expected ',' or '}'"},
        {"[1 2]", "invalid JSON at byte 3: expected ',' or ']'"},
        {"{} x", "invalid JSON at byte 3: unexpected data after the value"},
        {"{\"a\":\"\x01\"}", "invalid JSON at byte 6: control character "
                             "in string"},
        {"{\"a\":\"xy\xff\"}", "invalid JSON at byte 8: invalid UTF-8 in "
                               "string"},
        {"{\"a\":01}", "invalid JSON at byte 6: expected ',' or '}'"},
        {"{\"a\":", "invalid JSON at byte 5: expected a value"},
        {"{\"a\":\"x", "invalid JSON at byte 7: unterminated string"},
        {"[1.]", "invalid JSON at byte 3: expected a digit after '.'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(check_value(cases[i].in, strlen(cases[i].in)),
                         VS_EINVALID);
        ck_assert_str_eq(vs_error_last(), cases[i].msg);
    }
}
END_TEST

/* Nested arrays or objects `depth` deep. */
static size_t nest(char *buf, unsigned depth, int objects)
{
    size_t o = 0;
    for (unsigned i = 0; i < depth; i++) {
        if (objects) {
            memcpy(buf + o, "{\"k\":", 5);
            o += 5;
        } else {
            buf[o++] = '[';
        }
    }
    if (objects) {
        buf[o++] = '1';
    }
    for (unsigned i = 0; i < depth; i++)
        buf[o++] = objects ? '}' : ']';
    return o;
}

START_TEST(test_jsonv_depth)
{
    char buf[2048], out[2048];
    size_t len, n;

    len = nest(buf, VS_JSONV_DEPTH_MAX, 0);
    ck_assert_int_eq(compact_exact(buf, len, 0, out, &n), 0);
    ck_assert_uint_eq(n, len);
    len = nest(buf, VS_JSONV_DEPTH_MAX + 1, 0);
    ck_assert_int_eq(compact_exact(buf, len, 0, out, &n), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "nesting too deep"));

    len = nest(buf, VS_JSONV_DEPTH_MAX, 1);
    ck_assert_int_eq(check_exact(buf, len), 0);
    len = nest(buf, VS_JSONV_DEPTH_MAX + 1, 1);
    ck_assert_int_eq(check_exact(buf, len), VS_EINVALID);

    /* depth returns to zero between siblings */
    size_t o = 0;
    buf[o++] = '[';
    for (int k = 0; k < 10; k++) {
        if (k)
            buf[o++] = ',';
        o += nest(buf + o, VS_JSONV_DEPTH_MAX - 1, 0);
    }
    buf[o++] = ']';
    ck_assert_int_eq(compact_exact(buf, o, 0, out, &n), 0);

    /* very deep input fails cleanly, without recursion */
    size_t big = 100000;
    char *deep = malloc(big);
    ck_assert_ptr_nonnull(deep);
    memset(deep, '[', big);
    ck_assert_int_eq(vs_jsonv_compact(out, &n, deep, 70, 0), VS_EINVALID);
    char *dout = malloc(big);
    ck_assert_ptr_nonnull(dout);
    ck_assert_int_eq(vs_jsonv_compact(dout, &n, deep, big, 0), VS_EINVALID);
    free(dout);
    free(deep);
}
END_TEST

/* Every position of the 8-byte fast path: one special byte at offset i of a
 * string of length len. */
START_TEST(test_jsonv_string_positions)
{
    char buf[128], out[128];
    size_t n;

#define AT(cond) REQUIRE(cond, "len %zu pos %zu: %s", len, i, vs_error_last())
    for (size_t len = 1; len < 40; len++) {
        for (size_t i = 0; i < len; i++) {
            size_t o = 6;
            memcpy(buf, "{\"k\":\"", 6);
            memset(buf + o, 'a', len);
            o += len;
            buf[o++] = '"';
            buf[o++] = '}';

            buf[6 + i] = '\x01';
            AT(check_exact(buf, o) == VS_EINVALID);
            buf[6 + i] = '\x80';
            AT(check_exact(buf, o) == VS_EINVALID);
            buf[6 + i] = '\\';
            AT(check_exact(buf, o) == VS_EINVALID);
            buf[6 + i] = '"';
            AT(check_exact(buf, o) == VS_EINVALID);
            buf[6 + i] = '\x7f';
            AT(check_exact(buf, o) == 0);
            buf[6 + i] = ' ';
            AT(compact_exact(buf, o, 1, out, &n) == 0);
            AT(n == o && memcmp(out, buf, o) == 0);
            if (i + 1 < len) {
                buf[6 + i] = '\xc3';
                buf[7 + i] = '\xa9';
                AT(compact_exact(buf, o, 1, out, &n) == 0);
                AT(n == o && memcmp(out, buf, o) == 0);
                buf[6 + i] = '\\';
                buf[7 + i] = 'n';
                AT(compact_exact(buf, o, 1, out, &n) == 0);
                AT(n == o && memcmp(out, buf, o) == 0);
                buf[7 + i] = 'a';
            }
            buf[6 + i] = 'a';
            /* truncated anywhere: never valid */
            for (size_t cut = 0; cut < o; cut++)
                AT(check_exact(buf, cut) == VS_EINVALID);
        }
    }
#undef AT
}
END_TEST

/* All two-byte and three-byte sequences against the UTF-8 rules. */
START_TEST(test_jsonv_utf8_exhaustive)
{
    char buf[16];
    for (unsigned a = 0x80; a < 0x100; a++) {
        for (unsigned b = 0; b < 0x100; b++) {
            buf[0] = '"';
            buf[1] = (char)a;
            buf[2] = (char)b;
            buf[3] = '"';
            int expect = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
            int r = check_value(buf, 4);
            REQUIRE((r == 0) == expect, "%02x %02x", a, b);
        }
    }
    for (unsigned cp = 0; cp < 0x110000; cp += 7) {
        unsigned char u[4];
        size_t n;
        if (cp < 0x80) {
            continue;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xC0 | cp >> 6);
            u[1] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xE0 | cp >> 12);
            u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            u[0] = (unsigned char)(0xF0 | cp >> 18);
            u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
            u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
            u[3] = (unsigned char)(0x80 | (cp & 0x3F));
            n = 4;
        }
        buf[0] = '"';
        memcpy(buf + 1, u, n);
        buf[n + 1] = '"';
        int expect = !(cp >= 0xD800 && cp <= 0xDFFF);
        int r = check_value(buf, n + 2);
        REQUIRE((r == 0) == expect, "U+%04X", cp);
    }
}
END_TEST

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char *const fuzz_seeds[] = {
    "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\\u00e9\\uD83D\\uDE00\",\"e\":-1.5e3}",
    "{ \"name\" : \"caf\xc3\xa9\" , \"tags\" : [ \"x\" , \"y\" ] , "
    "\"n\" : 0.25 , \"ok\" : true , \"no\" : false }",
    "[[[[{\"k\":[[[]]]}]]]]",
    "{\"\xf0\x9f\x98\x80\":\"\xe2\x82\xac\","
    "\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    "{\"long\":\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz\",\"num\":[0,-0,1e5,1E+5,2.5e-3]}",
};

/* Mutate valid documents at random: results must be consistent and never
 * crash or read out of bounds (ASan). */
START_TEST(test_jsonv_fuzz)
{
    static const char alphabet[] = "{}[]:,\"\\/ \t\n\r0123456789-+.eEtrufalsn"
                                   "u\x01\x7f\x80\xbf\xc3\xe0\xed\xf0\xf4\xff";
    char work[512], out[512], again[512];
    size_t accepted = 0;

    rng_state = 12345;
    for (int iter = 0; iter < 200000; iter++) {
        const char *seed =
            fuzz_seeds[rnd() % (sizeof(fuzz_seeds) / sizeof(fuzz_seeds[0]))];
        size_t len = strlen(seed);
        memcpy(work, seed, len);
        int nmut = 1 + (int)(rnd() % 4);
        for (int m = 0; m < nmut; m++) {
            size_t pos = len ? rnd() % len : 0;
            switch (rnd() % 5) {
            case 0: /* replace with an interesting byte */
                if (len)
                    work[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                break;
            case 1: /* random byte */
                if (len)
                    work[pos] = (char)(rnd() & 0xFF);
                break;
            case 2: /* delete */
                if (len) {
                    memmove(work + pos, work + pos + 1, len - pos - 1);
                    len--;
                }
                break;
            case 3: /* insert */
                if (len < 400) {
                    memmove(work + pos + 1, work + pos, len - pos);
                    work[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
                    len++;
                }
                break;
            default: /* truncate */
                len = pos;
                break;
            }
        }
        size_t n, n2;
        int r = compact_exact(work, len, 0, out, &n);
        int ro = check_exact(work, len);
        REQUIRE(r == 0 || r == VS_EINVALID, "iteration %d: %d", iter, r);
        REQUIRE(ro == 0 || ro == VS_EINVALID, "iteration %d: %d", iter, ro);
        if (r == 0) {
            accepted++;
            REQUIRE(compact_exact(out, n, 0, again, &n2) == 0 && n2 == n &&
                        memcmp(again, out, n) == 0,
                    "iteration %d: compaction not idempotent", iter);
            REQUIRE((ro == 0) == (out[0] == '{'),
                    "iteration %d: check_object disagrees", iter);
        } else {
            REQUIRE(ro != 0, "iteration %d: object accepted, value not", iter);
        }
    }
    /* the mutations leave a fair share of documents valid */
    ck_assert_uint_gt(accepted, 1000);
}
END_TEST

/* ---- buf ---------------------------------------------------------------- */

START_TEST(test_buf_basic)
{
    vs_buf b = VS_BUF_INIT(1024);

    ck_assert_ptr_null(b.ptr);
    ck_assert_int_eq(vs_buf_put(&b, "abc", 3), 0);
    ck_assert_int_eq(vs_buf_putc(&b, '-'), 0);
    ck_assert_int_eq(vs_buf_puts(&b, "def"), 0);
    ck_assert_int_eq(vs_buf_printf(&b, "[%d:%s]", 42, "x"), 0);
    ck_assert_str_eq(b.ptr, "abc-def[42:x]");
    ck_assert_uint_eq(b.len, 13);
    ck_assert_int_eq(vs_buf_put(&b, "", 0), 0);
    ck_assert_uint_eq(b.len, 13);
    ck_assert_int_eq(vs_buf_printf(&b, "%s", ""), 0);
    ck_assert_str_eq(b.ptr, "abc-def[42:x]");

    vs_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.ptr, "");
    ck_assert_int_eq(vs_buf_puts(&b, "again"), 0);
    char *p = vs_buf_detach(&b);
    ck_assert_str_eq(p, "again");
    ck_assert_ptr_null(b.ptr);
    ck_assert_uint_eq(b.len, 0);
    free(p);
    ck_assert_ptr_null(vs_buf_detach(&b));
    vs_buf_dispose(&b);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_buf_growth)
{
    vs_buf b = VS_BUF_INIT(1 << 20);
    char expect[256];

    for (int i = 0; i < 10000; i++) {
        ck_assert_int_eq(vs_buf_printf(&b, "%05d,", i), 0);
        ck_assert_uint_eq(b.len, (size_t)(i + 1) * 6);
        ck_assert_uint_lt(b.len, b.alloc);
        ck_assert_int_eq(b.ptr[b.len], '\0');
    }
    for (int i = 0; i < 10000; i += 997) {
        snprintf(expect, sizeof(expect), "%05d,", i);
        ck_assert_mem_eq(b.ptr + i * 6, expect, 6);
    }
    ck_assert_int_eq(vs_buf_reserve(&b, 100000), 0);
    ck_assert_uint_ge(b.alloc, b.len + 100000 + 1);
    ck_assert_uint_eq(b.len, 60000);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_buf_cap)
{
    vs_buf b = VS_BUF_INIT(10);

    ck_assert_int_eq(vs_buf_put(&b, "0123456789", 10), 0);
    ck_assert_uint_le(b.alloc, 11);
    ck_assert_int_eq(vs_buf_putc(&b, 'x'), VS_ETOOBIG);
    ck_assert_int_eq(vs_error_last_code(), VS_ETOOBIG);
    ck_assert_int_eq(vs_buf_puts(&b, "y"), VS_ETOOBIG);
    ck_assert_int_eq(vs_buf_printf(&b, "%d", 1), VS_ETOOBIG);
    ck_assert_int_eq(vs_buf_reserve(&b, 1), VS_ETOOBIG);
    ck_assert_int_eq(vs_buf_reserve(&b, (size_t)-1), VS_ETOOBIG);
    ck_assert_str_eq(b.ptr, "0123456789");
    ck_assert_uint_eq(b.len, 10);
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_buf_printf(&b, "%s", "01234567890"), VS_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.ptr, "");
    ck_assert_int_eq(vs_buf_printf(&b, "%s", "0123456789"), 0);
    ck_assert_str_eq(b.ptr, "0123456789");
    vs_buf_dispose(&b);

    vs_buf z = VS_BUF_INIT(0);
    ck_assert_int_eq(vs_buf_put(&z, "", 0), 0);
    ck_assert_str_eq(z.ptr, "");
    ck_assert_int_eq(vs_buf_putc(&z, 'a'), VS_ETOOBIG);
    vs_buf_dispose(&z);
}
END_TEST

/* ---- error -------------------------------------------------------------- */

START_TEST(test_error_basic)
{
    vs_error_clear();
    ck_assert_str_eq(vs_error_last(), "");
    ck_assert_int_eq(vs_error_last_code(), 0);
    ck_assert_int_eq(vs_error_set(VS_EINVALID, "bad name '%s' at %d", "x", 3),
                     VS_EINVALID);
    ck_assert_str_eq(vs_error_last(), "bad name 'x' at 3");
    ck_assert_int_eq(vs_error_last_code(), VS_EINVALID);
    ck_assert_int_eq(vs_error_oom(), VS_ENOMEM);
    ck_assert_str_eq(vs_error_last(), "out of memory");
    ck_assert_int_eq(vs_error_last_code(), VS_ENOMEM);
    vs_error_clear();
    ck_assert_str_eq(vs_error_last(), "");
    ck_assert_int_eq(vs_error_last_code(), 0);
}
END_TEST

START_TEST(test_error_os)
{
    char expect[256];
    errno = ENOENT;
    snprintf(expect, sizeof(expect), "open 'f': %s", strerror(ENOENT));
    ck_assert_int_eq(vs_error_set_os(VS_EIO, "open '%s'", "f"), VS_EIO);
    ck_assert_str_eq(vs_error_last(), expect);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(vs_error_last_code(), VS_EIO);
}
END_TEST

START_TEST(test_error_long)
{
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(vs_error_set(VS_ERROR, "%s", big), VS_ERROR);
    size_t n = strlen(vs_error_last());
    ck_assert_uint_gt(n, 100);
    ck_assert_uint_lt(n, sizeof(big) - 1);
    errno = EACCES;
    ck_assert_int_eq(vs_error_set_os(VS_EIO, "%s", big), VS_EIO);
    ck_assert_uint_lt(strlen(vs_error_last()), sizeof(big) - 1);
}
END_TEST

START_TEST(test_error_names)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {VS_OK, "ok"},
        {VS_ENOMEM, "out_of_memory"},
        {VS_EIO, "io_error"},
        {VS_ENOTFOUND, "not_found"},
        {VS_EEXISTS, "already_exists"},
        {VS_EINVALID, "invalid"},
        {VS_ECORRUPT, "corrupt"},
        {VS_EVERSION, "unsupported_version"},
        {VS_ETOOBIG, "too_large"},
        {VS_EBUSY, "busy"},
        {VS_ECANCELLED, "cancelled"},
        {VS_EUPSTREAM, "upstream_error"},
        {VS_ERROR, "error"},
        {-1000, "error"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_str_eq(vs_error_name(names[i].code), names[i].name);
}
END_TEST

static void *thread_error(void *arg)
{
    (void)arg;
    if (vs_error_last()[0] != '\0')
        return (void *)1;
    vs_error_set(VS_ECORRUPT, "thread message");
    return NULL;
}

START_TEST(test_error_thread_local)
{
    pthread_t t;
    void *res = (void *)2;
    vs_error_set(VS_EINVALID, "main message");
    ck_assert_int_eq(pthread_create(&t, NULL, thread_error, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(vs_error_last(), "main message");
    ck_assert_int_eq(vs_error_last_code(), VS_EINVALID);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("jsonv");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_buf_without_cap_grows);
    tcase_add_test(tc, test_jsonv_valid);
    tcase_add_test(tc, test_jsonv_invalid);
    tcase_add_test(tc, test_jsonv_embedded_nul);
    tcase_add_test(tc, test_jsonv_not_object);
    tcase_add_test(tc, test_jsonv_messages);
    tcase_add_test(tc, test_jsonv_depth);
    tcase_add_test(tc, test_jsonv_string_positions);
    tcase_add_test(tc, test_jsonv_utf8_exhaustive);
    tcase_add_test(tc, test_jsonv_fuzz);
    suite_add_tcase(s, tc);

    tc = tcase_create("buf");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_buf_basic);
    tcase_add_test(tc, test_buf_growth);
    tcase_add_test(tc, test_buf_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("error");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_error_basic);
    tcase_add_test(tc, test_error_os);
    tcase_add_test(tc, test_error_long);
    tcase_add_test(tc, test_error_names);
    tcase_add_test(tc, test_error_thread_local);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
