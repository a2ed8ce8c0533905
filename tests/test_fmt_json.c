/*
 * test_fmt_json: the JSON writer and streaming reader (fmt_json.c,
 * fmt_json_read.c) and the float text shim (floatfmt.cc): bit-exact round
 * trips, the checksum rule, hand-written documents, every truncation and
 * byte flip of a small document, and the errors for malformed input.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floatfmt.h"
#include "fmt.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

static vs_buf save_doc(vs_store *st, const vs_save_options *opts)
{
    vs_buf b = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    int error = vs_fmt_json_save(w, st, opts);
    ck_assert_msg(error == 0, "save: %s", vs_error_last());
    ck_assert_int_eq(vs_stream_finish(w), 0);
    vs_stream_free(w);
    return b;
}

static int load_doc(vs_store **out, vs_file_info *info, const char *text,
                    size_t n)
{
    vs_stream *r = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, text, n), 0);
    int error = vs_fmt_json_load(out, info, r, NULL);
    vs_stream_free(r);
    return error;
}

/* Loads text that must fail; asserts *out stays untouched and returns the
 * error code. */
static int load_fails(const char *text, size_t n)
{
    vs_store *sentinel = (vs_store *)&n, *st = sentinel;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    int error = load_doc(&st, &info, text, n);
    ck_assert_msg(error < 0, "loaded: %.*s", (int)(n > 300 ? 300 : n), text);
    ck_assert_ptr_eq(st, sentinel);
    ck_assert_str_ne(vs_error_last(), "");
    return error;
}

static int load_fails_str(const char *text)
{
    return load_fails(text, strlen(text));
}

/* Appends n copies of the pattern's bytes (no assertion per byte: Check
 * records every passed assertion). */
static void put_run(vs_buf *b, const char *pattern, size_t n)
{
    size_t k = strlen(pattern);
    ck_assert_int_eq(vs_buf_reserve(b, n), 0);
    for (size_t i = 0; i < n; i++)
        b->ptr[b->len + i] = pattern[i % k];
    b->len += n;
    b->ptr[b->len] = '\0';
}

static void assert_message(const char *part)
{
    ck_assert_msg(strstr(vs_error_last(), part), "message '%s' lacks '%s'",
                  vs_error_last(), part);
}

/* Saves, loads, compares bit for bit; returns the loaded info. */
static vs_file_info round_trip(vs_store *st)
{
    vs_buf doc = save_doc(st, NULL);
    vs_store *back = NULL;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    int error = load_doc(&back, &info, doc.ptr, doc.len);
    ck_assert_msg(error == 0, "load: %s", vs_error_last());
    char why[512];
    ck_assert_msg(vs_test_store_equal(st, back, true, why, sizeof(why)), "%s",
                  why);
    ck_assert_int_eq(info.format, VS_FORMAT_JSON);
    ck_assert(info.content_verified);
    ck_assert_uint_eq(info.seq, vs_store_seq(st));
    ck_assert_uint_eq(info.records, vs_store_nrecords(st));
    ck_assert_uint_eq(info.ncollections, vs_store_ncollections(st));
    vs_store_free(back);
    vs_buf_dispose(&doc);
    return info;
}

static vs_store *new_store(void)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    return st;
}

static vs_collection *new_col(vs_store *st, const char *name, uint32_t dim,
                              vs_metric m)
{
    vs_collection *c = NULL;
    ck_assert_int_eq(vs_store_create(&c, st, name, dim, m), 0);
    return c;
}

static void put(vs_collection *c, const char *id, size_t id_len,
                const float *v, const char *md)
{
    vs_record r = {id, id_len, v, md, md ? strlen(md) : 0};
    int error = vs_collection_upsert(c, &r, 1);
    ck_assert_msg(error == 0, "upsert: %s", vs_error_last());
}

/* A ~1.5 KB document with two collections. */
static vs_buf small_doc(void)
{
    vs_store *st = new_store();
    vs_collection *a = new_col(st, "alpha", 3, VS_METRIC_COSINE);
    vs_collection *b = new_col(st, "beta", 2, VS_METRIC_DOT);
    char id[16];
    for (int i = 0; i < 12; i++) {
        float v[3] = {0.5f * (float)i, -1.25f, 1e-3f * (float)i};
        int n = snprintf(id, sizeof(id), "r%d", i);
        put(a, id, (size_t)n, v, i % 2 ? "{\"k\":[1,true,null],\"s\":\"x\"}"
                                       : NULL);
    }
    float w[2] = {3.0f, -0.0f};
    put(b, "only", 4, w, "{\"t\":\"\\u00e9\"}");
    vs_buf doc = save_doc(st, NULL);
    vs_store_free(st);
    return doc;
}

/* ---- floats -------------------------------------------------------------- */

START_TEST(float_text_round_trips_random_bit_patterns)
{
    uint64_t seed = 12345;
    int tried = 0, bad = 0;
    uint32_t first_bad = 0;
    for (int i = 0; i < 100000; i++) {
        uint32_t bits = (uint32_t)vs_test_rand(&seed);
        if (i < 64) /* a few denormals too */
            bits &= 0x807fffff;
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            continue;
        tried++;
        char text[VS_FLOAT_TEXT_MAX];
        size_t n = vs_float_format(text, f);
        float g = 0;
        size_t used = 0;
        uint32_t back = ~bits;
        if (n <= VS_FLOAT_TEXT_MAX && vs_float_parse(&g, text, n, &used) == 0)
            memcpy(&back, &g, 4);
        if (used != n || back != bits) {
            if (!bad++)
                first_bad = bits;
        }
    }
    ck_assert_msg(bad == 0, "%d of %d failed, first 0x%08x", bad, tried,
                  (unsigned)first_bad);
    ck_assert_int_gt(tried, 99000);
}
END_TEST

START_TEST(float_format_gives_shortest_json_numbers)
{
    /* what std::to_chars(float) prints for these */
    static const struct {
        float v;
        const char *text;
    } cases[] = {
        {-0.0f, "-0"},          {0.0f, "0"},
        {0.1f, "0.1"},          {0x1p-149f, "1e-45"},
        {0x1.5p-145f, "3e-44"}, {0x1.8p-126f, "1.7632415e-38"},
        {FLT_MIN, "1.1754944e-38"},
        {FLT_MAX, "3.4028235e+38"},
        {-FLT_MAX, "-3.4028235e+38"},
        {0x1.000008p+25f, "33554448"},
        {0x1.2a05f2p+33f, "1e+10"},
        {0x1.d6f346p+26f, "123456792"},
        {0x1.ad7f2ap-24f, "1e-07"},
        {2.5f, "2.5"},          {0x1.333334p-2f, "0.3"},
        {100.0f, "100"},        {100000.0f, "1e+05"},
        {16777216.0f, "16777216"},
        {-0x1.01f32p-13f, "-0.000123"},
        {9999999.0f, "9999999"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char t[VS_FLOAT_TEXT_MAX + 1];
        size_t n = vs_float_format(t, cases[i].v);
        ck_assert_uint_le(n, VS_FLOAT_TEXT_MAX);
        t[n] = '\0';
        ck_assert_str_eq(t, cases[i].text);
    }
}
END_TEST

static float parse_ok(const char *s)
{
    float f = 123.0f;
    size_t used = 0;
    ck_assert_msg(vs_float_parse(&f, s, strlen(s), &used) == 0, "'%s'", s);
    ck_assert_uint_eq(used, strlen(s));
    return f;
}

START_TEST(float_parse_handles_denormals_and_underflow)
{
    ck_assert(parse_ok("1e-45") == 0x1p-149f);
    ck_assert(parse_ok("1.4e-45") == 0x1p-149f);
    ck_assert(parse_ok("1.17549435e-38") == FLT_MIN);
    ck_assert(parse_ok("5.877472e-39") == FLT_MIN / 2);
    ck_assert(parse_ok("7.01e-46") == 0x1p-149f); /* just above half */
    float z = parse_ok("7e-46");                  /* below half: zero */
    ck_assert(z == 0.0f && !signbit(z));
    z = parse_ok("-1e-400");
    ck_assert(z == 0.0f && signbit(z));
    ck_assert(parse_ok("3.4028235e38") == FLT_MAX);
    ck_assert(parse_ok("3.40282356e38") == FLT_MAX); /* rounds down */
    ck_assert(parse_ok("-3.4028235e+38") == -FLT_MAX);
    ck_assert(parse_ok("16777217") == 16777216.0f); /* tie to even */
    ck_assert(parse_ok("0.10000000149011612") == 0.1f);
    ck_assert(parse_ok("1E2") == 100.0f);
}
END_TEST

START_TEST(float_parse_rejects_non_json_and_overflow)
{
    static const char *const bad[] = {
        "",     "-",   "+1",  ".5",       "1.",   "1.e5",   "-.5",
        "inf",  "nan", "NaN", "Infinity", "1e",   "1e+",    "--1",
        "3.5e38", "1e39", "-1e39", "3.4028236e38", "1e400", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        float f;
        size_t used;
        ck_assert_msg(vs_float_parse(&f, bad[i], strlen(bad[i]), &used) < 0,
                      "accepted '%s'", bad[i]);
    }
    /* A number followed by other bytes: only the number is used. */
    float f;
    size_t used;
    ck_assert_int_eq(vs_float_parse(&f, "01", 2, &used), 0);
    ck_assert_uint_eq(used, 1);
    ck_assert_int_eq(vs_float_parse(&f, "0x10", 4, &used), 0);
    ck_assert_uint_eq(used, 1);
    ck_assert_int_eq(vs_float_parse(&f, "2.5,", 4, &used), 0);
    ck_assert_uint_eq(used, 3);
}
END_TEST

/* ---- round trips --------------------------------------------------------- */

START_TEST(empty_store_round_trips)
{
    vs_store *st = new_store();
    vs_buf doc = save_doc(st, NULL);
    const char *head = "{\"format\":\"vecsnap\",\"version\":1,\"seq\":0,"
                       "\"collections\":[\n],\"sha256\":\"";
    ck_assert_int_eq(strncmp(doc.ptr, head, strlen(head)), 0);
    ck_assert_uint_eq(doc.len, strlen(head) + 64 + 3);
    vs_buf_dispose(&doc);
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(empty_collection_round_trips)
{
    vs_store *st = new_store();
    new_col(st, "nothing", 7, VS_METRIC_EUCLIDEAN);
    vs_file_info info = round_trip(st);
    ck_assert_uint_eq(info.records, 0);
    ck_assert_uint_eq(info.ncollections, 1);
    vs_store_free(st);
}
END_TEST

START_TEST(dimension_one_and_4096_round_trip)
{
    vs_store *st = vs_test_random_store("one", 300, 1, VS_METRIC_DOT, true, 1);
    round_trip(st);
    vs_store_free(st);
    st = vs_test_random_store("wide", 40, 4096, VS_METRIC_COSINE, true, 2);
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(ids_needing_escapes_and_unicode_round_trip)
{
    static const char *const ids[] = {
        "h\xc3\xa9llo",          "\xe6\x97\xa5\xe6\x9c\xac",
        "emoji \xf0\x9f\x98\x80", "quote\"back\\slash",
        "ctl\x01\x1f\t\n\r",      "/slash/",
        "\x7f del",               "{\"json\":1}"};
    vs_store *st = new_store();
    vs_collection *c = new_col(st, "ids", 2, VS_METRIC_COSINE);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        float v[2] = {(float)i, 1.0f};
        put(c, ids[i], strlen(ids[i]), v, NULL);
    }
    vs_buf doc = save_doc(st, NULL);
    ck_assert_ptr_nonnull(strstr(doc.ptr, "\"ctl\\u0001\\u001f\\u0009"
                                          "\\u000a\\u000d\""));
    ck_assert_ptr_nonnull(strstr(doc.ptr, "\"quote\\\"back\\\\slash\""));
    ck_assert_ptr_nonnull(strstr(doc.ptr, "\"emoji \xf0\x9f\x98\x80\""));
    vs_buf_dispose(&doc);
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(special_floats_round_trip_bit_exact)
{
    const float specials[] = {-0.0f,     0.0f,        1e-45f,   -1e-45f,
                              FLT_MIN,   FLT_MIN / 2, FLT_MAX,  -FLT_MAX,
                              1e-7f,     0.1f,        16777216.0f,
                              -123456.78f};
    size_t n = sizeof(specials) / sizeof(specials[0]);
    vs_store *st = new_store();
    vs_collection *c = new_col(st, "f", (uint32_t)n, VS_METRIC_EUCLIDEAN);
    put(c, "all", 3, specials, NULL);
    vs_buf doc = save_doc(st, NULL);
    ck_assert_ptr_nonnull(strstr(doc.ptr, "[-0,0,1e-45,-1e-45,"));
    vs_buf_dispose(&doc);
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(large_metadata_round_trips)
{
    vs_buf md = VS_BUF_INIT(VS_METADATA_MAX);
    ck_assert_int_eq(vs_buf_puts(&md, "{\"big\":\""), 0);
    while (md.len < VS_METADATA_MAX - 100)
        ck_assert_int_eq(vs_buf_puts(&md, "0123456789\\n\\u00e9"), 0);
    ck_assert_int_eq(vs_buf_puts(&md, "\",\"n\":[1,2,{\"x\":null}]}"), 0);
    vs_store *st = new_store();
    vs_collection *c = new_col(st, "md", 2, VS_METRIC_COSINE);
    float v[2] = {1, 2};
    put(c, "a", 1, v, md.ptr);
    put(c, "b", 1, v, md.ptr);
    round_trip(st);
    vs_store_free(st);
    vs_buf_dispose(&md);
}
END_TEST

START_TEST(many_collections_round_trip)
{
    vs_store *st = new_store();
    char name[32];
    uint64_t seed = 7;
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "col-%02d", i);
        uint32_t dim = 1 + (uint32_t)(i % 9);
        vs_collection *c = new_col(st, name, dim, (vs_metric)(i % 3));
        for (int j = 0; j < i % 5; j++) {
            float v[9];
            for (uint32_t k = 0; k < dim; k++)
                v[k] = vs_test_randf(&seed);
            char id[16];
            int n = snprintf(id, sizeof(id), "x%d", j);
            put(c, id, (size_t)n, v, j % 2 ? "{\"j\":1}" : NULL);
        }
    }
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(large_document_crosses_buffers_and_threads)
{
    /* ~8 MB of text: several formatting blocks, read buffers and batches */
    vs_store *st = vs_test_random_store("big", 6000, 96, VS_METRIC_COSINE,
                                        true, 3);
    new_col(st, "after", 4, VS_METRIC_DOT);
    round_trip(st);
    vs_store_free(st);
}
END_TEST

/* ---- options, streams ---------------------------------------------------- */

static int count_calls(void *payload, uint64_t done, uint64_t total)
{
    int *calls = payload;
    ck_assert_uint_le(done, total);
    (*calls)++;
    return 0;
}

static int cancel_at_once(void *payload, uint64_t done, uint64_t total)
{
    (void)payload;
    (void)total;
    return done > 0;
}

START_TEST(save_honours_collection_choice_and_progress)
{
    vs_store *st = vs_test_random_store("a", 3000, 8, VS_METRIC_COSINE,
                                        false, 4);
    new_col(st, "b", 2, VS_METRIC_DOT);
    new_col(st, "c", 3, VS_METRIC_DOT);
    const char *only[] = {"c", "a"};
    vs_save_options opts = VS_SAVE_OPTIONS_INIT;
    int calls = 0;
    opts.collections = only;
    opts.ncollections = 2;
    opts.progress = count_calls;
    opts.payload = &calls;
    vs_buf doc = save_doc(st, &opts);
    ck_assert_int_ge(calls, 2);
    vs_store *back = NULL;
    ck_assert_int_eq(load_doc(&back, NULL, doc.ptr, doc.len), 0);
    ck_assert_uint_eq(vs_store_ncollections(back), 2);
    ck_assert_ptr_null(vs_store_find(back, "b"));
    ck_assert_uint_eq(vs_collection_count(vs_store_find(back, "a")), 3000);
    vs_store_free(back);
    vs_buf_dispose(&doc);

    const char *missing[] = {"nope"};
    opts.collections = missing;
    opts.ncollections = 1;
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_fmt_json_save(w, st, &opts), VS_ENOTFOUND);
    vs_stream_free(w);

    opts.collections = NULL;
    opts.progress = cancel_at_once;
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_fmt_json_save(w, st, &opts), VS_ECANCELLED);
    vs_stream_free(w);
    vs_buf_dispose(&b);
    vs_store_free(st);
}
END_TEST

START_TEST(save_into_failing_stream_fails_cleanly)
{
    vs_store *st = vs_test_random_store("a", 4000, 32, VS_METRIC_COSINE,
                                        true, 5);
    static const uint64_t limits[] = {0, 10, 100000, 700000, 1500000};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        vs_stream *f = NULL;
        ck_assert_int_eq(vs_stream_failing_new(&f, NULL, true, limits[i]), 0);
        int error = vs_fmt_json_save(f, st, NULL);
        if (error == 0)
            error = vs_stream_finish(f);
        ck_assert_int_eq(error, VS_EIO);
        vs_stream_free(f);
    }
    vs_store_free(st);
}
END_TEST

START_TEST(save_through_a_hash_stage_embeds_the_same_checksum)
{
    vs_store *st = vs_test_random_store("a", 50, 5, VS_METRIC_COSINE, true, 6);
    vs_buf plain = save_doc(st, NULL);
    vs_buf b = VS_BUF_INIT(1 << 24);
    vs_stream *w = NULL, *h = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, w, false), 0);
    ck_assert_int_eq(vs_fmt_json_save(h, st, NULL), 0);
    ck_assert_int_eq(vs_stream_finish(h), 0);
    ck_assert_uint_eq(b.len, plain.len);
    ck_assert_int_eq(memcmp(b.ptr, plain.ptr, b.len), 0);
    vs_stream_free(h);
    vs_stream_free(w);
    vs_buf_dispose(&b);
    vs_buf_dispose(&plain);
    vs_store_free(st);
}
END_TEST

/* ---- corruption ---------------------------------------------------------- */

START_TEST(every_truncation_fails)
{
    vs_buf doc = small_doc();
    ck_assert_uint_gt(doc.len, 1000);
    ck_assert_uint_lt(doc.len, 2500);
    /* The last byte is the newline after '}': dropping it still leaves a
     * whole document. */
    for (size_t n = 0; n < doc.len - 1; n++)
        load_fails(doc.ptr, n);
    vs_buf_dispose(&doc);
}
END_TEST

START_TEST(every_byte_flip_fails)
{
    vs_buf doc = small_doc();
    char *copy = malloc(doc.len);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < doc.len; i++) {
        static const unsigned char masks[] = {0x01, 0x80};
        for (size_t m = 0; m < 2; m++) {
            memcpy(copy, doc.ptr, doc.len);
            copy[i] = (char)(copy[i] ^ masks[m]);
            load_fails(copy, doc.len);
        }
    }
    free(copy);
    vs_buf_dispose(&doc);
}
END_TEST

START_TEST(wrong_checksum_is_a_mismatch)
{
    vs_buf doc = small_doc();
    char *p = strstr(doc.ptr, "\"sha256\":\"") + 10;
    *p = *p == 'a' ? 'b' : 'a';
    ck_assert_int_eq(load_fails(doc.ptr, doc.len), VS_ECORRUPT);
    assert_message("checksum mismatch");
    vs_buf_dispose(&doc);
}
END_TEST

/* ---- hand-written documents ---------------------------------------------- */

START_TEST(hand_written_document_without_checksum_loads_unverified)
{
    const char *text =
        "\xef\xbb\xbf  {\n"
        "  \"format\": \"vecsnap\", \"version\": 1, \"seq\": 9,\n"
        "  \"collections\": [\n"
        "    { \"name\": \"c\", \"dimension\": 2, \"metric\": \"dot\",\n"
        "      \"records\": [\n"
        "        { \"vector\": [ 1.5 , -2e0 ], \"id\": \"a\\u00e9\\ud83d"
        "\\ude00\",\n"
        "          \"metadata\": { \"k\" : [ 1, { } ] } },\n"
        "        { \"id\": \"b\", \"vector\": [0, 1E-45] }\n"
        "      ] },\n"
        "    { \"name\": \"d\", \"dimension\": 3, \"metric\": \"cosine\" }\n"
        "  ]\n"
        "}\n\t\r\n";
    vs_store *st = NULL;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    int error = load_doc(&st, &info, text, strlen(text));
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert(!info.content_verified);
    ck_assert_uint_eq(info.seq, 9);
    ck_assert_uint_eq(vs_store_seq(st), 9);
    ck_assert_uint_eq(info.records, 2);
    ck_assert_uint_eq(info.ncollections, 2);
    vs_collection *c = vs_store_find(st, "c");
    ck_assert_int_eq(vs_collection_metric(c), VS_METRIC_DOT);
    vs_record r;
    ck_assert_int_eq(vs_collection_get(&r, c, "a\xc3\xa9\xf0\x9f\x98\x80",
                                       7),
                     0);
    ck_assert(r.vector[0] == 1.5f && r.vector[1] == -2.0f);
    ck_assert_uint_eq(r.metadata_len, strlen("{\"k\":[1,{}]}"));
    ck_assert_int_eq(memcmp(r.metadata, "{\"k\":[1,{}]}", r.metadata_len), 0);
    ck_assert_int_eq(vs_collection_get(&r, c, "b", 1), 0);
    ck_assert(r.vector[1] == 0x1p-149f);
    ck_assert_uint_eq(vs_collection_count(vs_store_find(st, "d")), 0);
    vs_store_free(st);
}
END_TEST

#define DOC_HEAD "{\"format\":\"vecsnap\",\"version\":1,\"collections\":["
#define COL_HEAD "{\"name\":\"c\",\"dimension\":2,\"metric\":\"cosine\","

START_TEST(malformed_documents_are_refused_with_reasons)
{
    static const struct {
        const char *text;
        int code;
        const char *msg;
    } cases[] = {
        {"", VS_ECORRUPT, "empty input"},
        {"[]", VS_ECORRUPT, "expected '{'"},
        {"{}", VS_ECORRUPT, "empty document"},
        {"{\"format\":\"other\",\"version\":1,\"collections\":[]}",
         VS_ECORRUPT, "not 'vecsnap'"},
        {"{\"format\":\"vecsnap\",\"version\":2,\"collections\":[]}",
         VS_EVERSION, "version 2"},
        {"{\"format\":\"vecsnap\",\"version\":1.0,\"collections\":[]}",
         VS_ECORRUPT, "integer"},
        {"{\"format\":\"vecsnap\",\"collections\":[],\"version\":1}",
         VS_ECORRUPT, "before format and version"},
        {"{\"format\":\"vecsnap\",\"version\":1}", VS_ECORRUPT, "lacks"},
        {"{\"format\":\"vecsnap\",\"version\":1,\"extra\":1}", VS_ECORRUPT,
         "unknown top-level key 'extra'"},
        {"{\"format\":\"vecsnap\",\"format\":\"vecsnap\"}", VS_ECORRUPT,
         "duplicate"},
        {"{\"hello\":1}", VS_ECORRUPT, "unknown top-level key 'hello'"},
        {DOC_HEAD "]} x", VS_ECORRUPT, "trailing bytes"},
        {DOC_HEAD "]}{}", VS_ECORRUPT, "trailing bytes"},
        {DOC_HEAD "{\"name\":\"c\",\"records\":[]}]}", VS_ECORRUPT,
         "records before the collection's name, dimension and metric"},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":2}]}", VS_ECORRUPT,
         "lacks a metric"},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":0,\"metric\":\"dot\"}]}",
         VS_ECORRUPT, "dimension 0"},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":65537}]}", VS_ETOOBIG,
         "dimension larger than 65536"},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":2,\"metric\":\"l7\"}]}",
         VS_ECORRUPT, "unknown metric 'l7'"},
        {DOC_HEAD "{\"name\":\"bad name\",\"dimension\":2,\"metric\":\"dot\"}"
                  "]}",
         VS_ECORRUPT, "json: collection: "},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":2,\"metric\":\"dot\"},"
                  "{\"name\":\"c\",\"dimension\":2,\"metric\":\"dot\"}]}",
         VS_ECORRUPT, "json: collection: "},
        {DOC_HEAD "{\"name\":\"c\",\"dimension\":2,\"metric\":\"dot\","
                  "\"dim\":3}]}",
         VS_ECORRUPT, "unknown key 'dim' in a collection"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1]}]}]}",
         VS_ECORRUPT, "vector has 1 elements, dimension is 2"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2,3]}]}]}",
         VS_ECORRUPT, "vector longer than its dimension 2"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,NaN]}]}]}",
         VS_ECORRUPT, "expected a number"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\","
                           "\"vector\":[1,null]}]}]}",
         VS_ECORRUPT, "null"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\","
                           "\"vector\":[1,1e39]}]}]}",
         VS_ECORRUPT, "out of float32 range"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,01]}]}]}",
         VS_ECORRUPT, "unexpected '1'"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2],}]}]}",
         VS_ECORRUPT, "a string"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":{\"0\":1}}]}"
                           "]}",
         VS_ECORRUPT, "a vector array"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\"}]}]}", VS_ECORRUPT,
         "has no vector"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"vector\":[1,2]}]}]}", VS_ECORRUPT,
         "has no id"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2],"
                           "\"seq\":1}]}]}",
         VS_ECORRUPT, "unknown key 'seq' in a record"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2],"
                           "\"metadata\":[1]}]}]}",
         VS_ECORRUPT, "metadata object"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2],"
                           "\"metadata\":{\"a\":tru}}]}]}",
         VS_ECORRUPT, "json: metadata: "},
        {DOC_HEAD COL_HEAD "\"count\":2,\"records\":[{\"id\":\"a\","
                           "\"vector\":[1,2]}]}]}",
         VS_ECORRUPT, "says count 2 but holds 1"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\",\"vector\":[1,2]},"
                           "{\"id\":\"a\",\"vector\":[3,4]}]}]}",
         VS_ECORRUPT, "duplicate"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"\",\"vector\":[1,2]}]}]}",
         VS_ECORRUPT, "record of collection 'c'"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"\\u0000\",\"vector\":[1,2]}"
                           "]}]}",
         VS_ECORRUPT, "record of collection 'c'"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"\\ud800\","
                           "\"vector\":[1,2]}]}]}",
         VS_ECORRUPT, "surrogate"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\\q\",\"vector\":[1,2]}]}"
                           "]}",
         VS_ECORRUPT, "bad escape"},
        {DOC_HEAD COL_HEAD "\"records\":[{\"id\":\"a\tb\",\"vector\":[1,2]}]}"
                           "]}",
         VS_ECORRUPT, "control character"},
        {"{\"format\":\"vecsnap\",\"version\":1,\"sha256\":\""
         "0000000000000000000000000000000000000000000000000000000000000000"
         "\",\"collections\":[]}",
         VS_ECORRUPT, "sha256 must be the last member"},
        {"{\"sha256\":\"00\"}", VS_ECORRUPT,
         "sha256 must follow the other members"},
        {DOC_HEAD "],\"sha256\":\"xyz\"}", VS_ECORRUPT, "64 hex digits"},
        {DOC_HEAD "],\"sha256\":\"" "0000000000000000000000000000000000000000"
                  "000000000000000000000000\"}",
         VS_ECORRUPT, "checksum mismatch"},
        {"{\"id\":\"x\",\"name\":\"snap\"}", VS_ECORRUPT, "meta.json"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int code = load_fails_str(cases[i].text);
        ck_assert_msg(code == cases[i].code, "case %zu: code %d (%s)", i,
                      code, vs_error_last());
        ck_assert_msg(strstr(vs_error_last(), cases[i].msg),
                      "case %zu: '%s' lacks '%s'", i, vs_error_last(),
                      cases[i].msg);
    }
}
END_TEST

START_TEST(caps_on_lengths_are_enforced)
{
    vs_buf t = VS_BUF_INIT((size_t)8 << 20);
    /* an id of VS_ID_MAX + 1 bytes */
    ck_assert_int_eq(vs_buf_puts(&t, DOC_HEAD COL_HEAD "\"records\":[{\"id\":"
                                     "\""),
                     0);
    put_run(&t, "x", VS_ID_MAX + 1);
    ck_assert_int_eq(vs_buf_puts(&t, "\",\"vector\":[1,2]}]}]}"), 0);
    ck_assert_int_eq(load_fails(t.ptr, t.len), VS_ETOOBIG);
    assert_message("id longer than 256 bytes");

    /* a 2000-digit number */
    vs_buf_reset(&t);
    ck_assert_int_eq(vs_buf_puts(&t, DOC_HEAD COL_HEAD "\"records\":[{\"id\":"
                                     "\"a\",\"vector\":[1,0."),
                     0);
    put_run(&t, "1", 2000);
    ck_assert_int_eq(vs_buf_puts(&t, "]}]}]}"), 0);
    ck_assert_int_eq(load_fails(t.ptr, t.len), VS_ETOOBIG);
    assert_message("number longer");

    /* metadata nested 100 deep */
    vs_buf_reset(&t);
    ck_assert_int_eq(vs_buf_puts(&t, DOC_HEAD COL_HEAD "\"records\":[{\"id\":"
                                     "\"a\",\"vector\":[1,2],\"metadata\":"),
                     0);
    put_run(&t, "{\"a\":", 500);
    put_run(&t, "1", 1);
    put_run(&t, "}", 100);
    ck_assert_int_eq(vs_buf_puts(&t, "}]}]}"), 0);
    ck_assert_int_eq(load_fails(t.ptr, t.len), VS_ECORRUPT);

    /* metadata of more than VS_METADATA_MAX compact bytes */
    vs_buf_reset(&t);
    ck_assert_int_eq(vs_buf_puts(&t, DOC_HEAD COL_HEAD "\"records\":[{\"id\":"
                                     "\"a\",\"vector\":[1,2],\"metadata\":"
                                     "{\"s\":\""),
                     0);
    put_run(&t, "y", VS_METADATA_MAX);
    ck_assert_int_eq(vs_buf_puts(&t, "\"}}]}]}"), 0);
    ck_assert_int_eq(load_fails(t.ptr, t.len), VS_ETOOBIG);

    /* white space: unlimited inside values, at most the read buffer (1 MiB)
     * after a top-level comma, where it may precede "sha256" */
    vs_buf_reset(&t);
    ck_assert_int_eq(vs_buf_puts(&t, DOC_HEAD), 0);
    put_run(&t, "\n \t\r", 3 << 20);
    ck_assert_int_eq(vs_buf_puts(&t, "]}"), 0);
    vs_store *st = NULL;
    ck_assert_int_eq(load_doc(&st, NULL, t.ptr, t.len), 0);
    vs_store_free(st);
    vs_buf_reset(&t);
    ck_assert_int_eq(vs_buf_puts(&t, "{\"format\":\"vecsnap\",\"version\":1,"),
                     0);
    put_run(&t, " ", 3 << 20);
    ck_assert_int_eq(vs_buf_puts(&t, "\"collections\":[]}"), 0);
    ck_assert_int_eq(load_fails(t.ptr, t.len), VS_ETOOBIG);
    assert_message("white space");
    vs_buf_dispose(&t);
}
END_TEST

START_TEST(json_loader_reads_ruvector_state)
{
    const char *text =
        "{\"version\":\"1.0.0\",\"options\":{\"dimension\":2,\"metric\":"
        "\"euclidean\"},\"vectors\":[{\"id\":\"0\",\"vector\":{\"1\":2,"
        "\"0\":1}}],\"timestamp\":1}";
    vs_store *st = NULL;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    ck_assert_int_eq(load_doc(&st, &info, text, strlen(text)), 0);
    ck_assert_int_eq(info.format, VS_FORMAT_RUVECTOR);
    ck_assert(!info.content_verified);
    vs_collection *c = vs_store_find(st, "default");
    ck_assert_ptr_nonnull(c);
    vs_record r;
    ck_assert_int_eq(vs_collection_get(&r, c, "0", 1), 0);
    ck_assert(r.vector[0] == 1.0f && r.vector[1] == 2.0f);
    vs_store_free(st);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("fmt_json");
    TCase *tc = tcase_create("floats");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, float_text_round_trips_random_bit_patterns);
    tcase_add_test(tc, float_format_gives_shortest_json_numbers);
    tcase_add_test(tc, float_parse_handles_denormals_and_underflow);
    tcase_add_test(tc, float_parse_rejects_non_json_and_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, empty_store_round_trips);
    tcase_add_test(tc, empty_collection_round_trips);
    tcase_add_test(tc, dimension_one_and_4096_round_trip);
    tcase_add_test(tc, ids_needing_escapes_and_unicode_round_trip);
    tcase_add_test(tc, special_floats_round_trip_bit_exact);
    tcase_add_test(tc, large_metadata_round_trips);
    tcase_add_test(tc, many_collections_round_trip);
    tcase_add_test(tc, large_document_crosses_buffers_and_threads);
    tcase_add_test(tc, save_honours_collection_choice_and_progress);
    tcase_add_test(tc, save_into_failing_stream_fails_cleanly);
    tcase_add_test(tc, save_through_a_hash_stage_embeds_the_same_checksum);
    suite_add_tcase(s, tc);

    tc = tcase_create("corruption");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_truncation_fails);
    tcase_add_test(tc, every_byte_flip_fails);
    tcase_add_test(tc, wrong_checksum_is_a_mismatch);
    suite_add_tcase(s, tc);

    tc = tcase_create("hand_written");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, hand_written_document_without_checksum_loads_unverified);
    tcase_add_test(tc, malformed_documents_are_refused_with_reasons);
    tcase_add_test(tc, caps_on_lengths_are_enforced);
    tcase_add_test(tc, json_loader_reads_ruvector_state);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
