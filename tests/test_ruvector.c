/*
 * test_ruvector: reading ruvector-extensions DatabasePersistence state files
 * (fmt_ruvector.c over the shared parser of fmt_json_read.c).  The fixtures
 * in tests/data/ruvector were produced by make-fixtures.js, which repeats
 * what that module's writeStateToFile() and createSnapshot() do.
 */
#include <check.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "testutil.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define RUV_DIR TEST_DATA_DIR "/ruvector/"
#define SNAP_JSON "snapshots/3f8e4c1a-6b2d-4e8f-9a7c-1d2e3f4a5b6c"
#define SNAP_BIN "snapshots/9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"

/* What every non-empty fixture holds (JavaScript writes -0 as 0). */
static const uint32_t want_bits[3][4] = {
    {0x3dcccccd, 0x00000000, 0x00000001, 0x7f7fffff},
    {0xbf800000, 0x40200000, 0x33d6bf95, 0xff7fc99e},
    {0x3e800000, 0x3f000000, 0x3f400000, 0x3f800000}};
static const char *const want_md[3] = {
    "{\"title\":\"Doc zero\",\"tags\":[\"a\",\"b\"],\"score\":0.5,\"nested\":"
    "{\"k\":[1,2,{\"z\":null}],\"empty\":{},\"list\":[]},\"text\":"
    "\"h\xc3\xa9llo \xe2\x9c\x93 \\\"quoted\\\"\\nline\"}",
    "{}", "{\"n\":2}"};

/* Loads a fixture through the given codec with vs_fmt_ruvector_load. */
static int load_fixture(vs_store **out, vs_file_info *info, const char *name,
                        vs_codec_id codec)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", RUV_DIR, name);
    vs_stream *file = NULL, *dec = NULL;
    int error = vs_stream_file_reader_new(&file, path);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream *top = file;
    if (codec != VS_CODEC_NONE) {
        ck_assert_int_eq(vs_codec_reader_new(&dec, file, codec, 0), 0);
        top = dec;
    }
    error = vs_fmt_ruvector_load(out, info, top, NULL);
    vs_stream_free(dec);
    vs_stream_free(file);
    return error;
}

static void check_store(vs_store *st, vs_metric metric)
{
    ck_assert_uint_eq(vs_store_ncollections(st), 1);
    vs_collection *c = vs_store_find(st, "default");
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(vs_collection_dimension(c), 4);
    ck_assert_int_eq(vs_collection_metric(c), metric);
    ck_assert_uint_eq(vs_collection_count(c), 3);
    for (int i = 0; i < 3; i++) {
        char id[2] = {(char)('0' + i), '\0'};
        vs_record r;
        ck_assert_int_eq(vs_collection_get(&r, c, id, 1), 0);
        uint32_t bits[4];
        memcpy(bits, r.vector, sizeof(bits));
        for (int k = 0; k < 4; k++)
            ck_assert_msg(bits[k] == want_bits[i][k],
                          "record %d element %d: 0x%08x", i, k,
                          (unsigned)bits[k]);
        ck_assert_uint_eq(r.metadata_len, strlen(want_md[i]));
        ck_assert_int_eq(memcmp(r.metadata, want_md[i], r.metadata_len), 0);
    }
}

static void check_fixture(const char *name, vs_codec_id codec,
                          vs_metric metric)
{
    vs_store *st = NULL;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    int error = load_fixture(&st, &info, name, codec);
    ck_assert_msg(error == 0, "%s: %s", name, vs_error_last());
    ck_assert_int_eq(info.format, VS_FORMAT_RUVECTOR);
    ck_assert(!info.content_verified);
    ck_assert_uint_eq(info.records, 3);
    ck_assert_uint_eq(info.ncollections, 1);
    check_store(st, metric);
    vs_store_free(st);
}

/* Through the file-level loader: codec and format detected from the file. */
static void check_file(const char *name, vs_metric metric)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s", RUV_DIR, name);
    vs_load_options opts = VS_LOAD_OPTIONS_INIT;
    vs_store *st = NULL;
    vs_file_info info;
    int error = vs_fmt_load_file(&st, &info, path, &opts);
    ck_assert_msg(error == 0, "%s: %s", name, vs_error_last());
    ck_assert_int_eq(info.format, VS_FORMAT_RUVECTOR);
    ck_assert(!info.content_verified);
    check_store(st, metric);
    vs_store_free(st);
}

static int load_text(vs_store **out, const char *text)
{
    vs_stream *r = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, text, strlen(text)), 0);
    int error = vs_fmt_ruvector_load(out, NULL, r, NULL);
    vs_stream_free(r);
    return error;
}

/* ---- the fixtures -------------------------------------------------------- */

START_TEST(pretty_printed_state_loads)
{
    check_fixture("database.json", VS_CODEC_NONE, VS_METRIC_COSINE);
}
END_TEST

START_TEST(gzip_and_brotli_states_load)
{
    check_fixture("database.json.gzip", VS_CODEC_GZIP, VS_METRIC_COSINE);
    check_fixture("database.json.brotli", VS_CODEC_BROTLI, VS_METRIC_COSINE);
    check_fixture("database.bin.gzip", VS_CODEC_GZIP, VS_METRIC_DOT);
}
END_TEST

START_TEST(binary_format_is_compact_json)
{
    check_fixture("database.bin", VS_CODEC_NONE, VS_METRIC_DOT);
}
END_TEST

START_TEST(array_vectors_load)
{
    check_fixture("export.json", VS_CODEC_NONE, VS_METRIC_EUCLIDEAN);
}
END_TEST

START_TEST(snapshot_files_load)
{
    check_fixture(SNAP_JSON ".json", VS_CODEC_NONE, VS_METRIC_COSINE);
    check_fixture(SNAP_BIN ".binary", VS_CODEC_BROTLI, VS_METRIC_DOT);
}
END_TEST

START_TEST(empty_database_loads)
{
    vs_store *st = NULL;
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    ck_assert_int_eq(load_fixture(&st, &info, "empty.json", VS_CODEC_NONE),
                     0);
    ck_assert_uint_eq(info.records, 0);
    vs_collection *c = vs_store_find(st, "default");
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(vs_collection_dimension(c), 8);
    ck_assert_uint_eq(vs_collection_count(c), 0);
    vs_store_free(st);
}
END_TEST

START_TEST(file_loader_detects_every_fixture)
{
    check_file("database.json", VS_METRIC_COSINE);
    check_file("database.json.gzip", VS_METRIC_COSINE);
    check_file("database.json.brotli", VS_METRIC_COSINE);
    check_file("database.bin", VS_METRIC_DOT);
    check_file("database.bin.gzip", VS_METRIC_DOT);
    check_file("export.json", VS_METRIC_EUCLIDEAN);
    check_file(SNAP_JSON ".json", VS_METRIC_COSINE);
    check_file(SNAP_BIN ".binary", VS_METRIC_DOT);
}
END_TEST

START_TEST(snapshot_description_is_refused_with_a_hint)
{
    vs_store *st = NULL;
    ck_assert_int_eq(load_fixture(&st, NULL, SNAP_JSON ".meta.json",
                                  VS_CODEC_NONE),
                     VS_ECORRUPT);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "meta.json"));
}
END_TEST

START_TEST(every_truncation_of_a_fixture_fails)
{
    char path[512];
    snprintf(path, sizeof(path), "%sdatabase.json", RUV_DIR);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof(text), f);
    fclose(f);
    ck_assert_uint_gt(n, 1000);
    ck_assert_uint_lt(n, sizeof(text));
    int loaded = 0;
    for (size_t len = 0; len < n; len++) {
        vs_stream *r = NULL;
        ck_assert_int_eq(vs_stream_mem_reader_new(&r, text, len), 0);
        vs_store *st = NULL;
        if (vs_fmt_ruvector_load(&st, NULL, r, NULL) == 0) {
            loaded++;
            vs_store_free(st);
        }
        vs_stream_free(r);
    }
    ck_assert_int_eq(loaded, 0);
}
END_TEST

START_TEST(byte_flips_never_crash)
{
    /* Without a checksum this program can verify, some flips (a digit in a
     * number) still give a valid document; none may crash or leak. */
    char path[512];
    snprintf(path, sizeof(path), "%sdatabase.bin", RUV_DIR);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char text[2048], copy[2048];
    size_t n = fread(text, 1, sizeof(text), f);
    fclose(f);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(copy, text, n);
        copy[i] ^= 0x01;
        vs_stream *r = NULL;
        ck_assert_int_eq(vs_stream_mem_reader_new(&r, copy, n), 0);
        vs_store *st = NULL;
        if (vs_fmt_ruvector_load(&st, NULL, r, NULL) < 0)
            failed++;
        vs_store_free(st);
        vs_stream_free(r);
    }
    ck_assert_int_gt(failed, (int)n / 4); /* structure flips all fail */
}
END_TEST

/* ---- variations and errors ----------------------------------------------- */

START_TEST(metric_names_of_every_spelling_map)
{
    static const struct {
        const char *name;
        vs_metric metric;
    } names[] = {{"cosine", VS_METRIC_COSINE},
                 {"Cosine", VS_METRIC_COSINE},
                 {"euclidean", VS_METRIC_EUCLIDEAN},
                 {"Euclidean", VS_METRIC_EUCLIDEAN},
                 {"L2", VS_METRIC_EUCLIDEAN},
                 {"dot", VS_METRIC_DOT},
                 {"DotProduct", VS_METRIC_DOT},
                 {"dot_product", VS_METRIC_DOT},
                 {"innerProduct", VS_METRIC_DOT},
                 {"inner-product", VS_METRIC_DOT}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"version\":\"1.0.0\",\"options\":{\"dimension\":1,"
                 "\"metric\":\"%s\"},\"vectors\":[]}",
                 names[i].name);
        vs_store *st = NULL;
        ck_assert_msg(load_text(&st, text) == 0, "%s: %s", names[i].name,
                      vs_error_last());
        ck_assert_int_eq(vs_collection_metric(vs_store_find(st, "default")),
                         names[i].metric);
        vs_store_free(st);
    }
}
END_TEST

START_TEST(dimension_and_metric_fall_back_sensibly)
{
    /* no options: stats gives them */
    vs_store *st = NULL;
    ck_assert_int_eq(
        load_text(&st, "{\"version\":\"1.0.0\",\"stats\":{\"count\":1,"
                       "\"dimension\":2,\"metric\":\"Euclidean\"},"
                       "\"vectors\":[{\"id\":\"a\",\"vector\":[1,2]}]}"),
        0);
    vs_collection *c = vs_store_find(st, "default");
    ck_assert_int_eq(vs_collection_metric(c), VS_METRIC_EUCLIDEAN);
    vs_store_free(st);
    /* neither: the first vector fixes the dimension, cosine is assumed */
    st = NULL;
    ck_assert_int_eq(
        load_text(&st, "{\"vectors\":[{\"id\":\"a\",\"vector\":{\"2\":3,"
                       "\"0\":1,\"1\":2},\"metadata\":null},{\"id\":\"b\","
                       "\"vector\":[4,5,6],\"extra\":[1]}],\"timestamp\":5}"),
        0);
    c = vs_store_find(st, "default");
    ck_assert_uint_eq(vs_collection_dimension(c), 3);
    ck_assert_int_eq(vs_collection_metric(c), VS_METRIC_COSINE);
    vs_record r;
    ck_assert_int_eq(vs_collection_get(&r, c, "a", 1), 0);
    ck_assert(r.vector[0] == 1.0f && r.vector[2] == 3.0f);
    ck_assert_int_eq(vs_collection_get(&r, c, "b", 1), 0);
    ck_assert(r.vector[2] == 6.0f);
    vs_store_free(st);
}
END_TEST

#define RUV_HEAD "{\"version\":\"1.0.0\",\"options\":{\"dimension\":2}"

START_TEST(malformed_states_are_refused)
{
    static const struct {
        const char *text;
        int code;
        const char *msg;
    } cases[] = {
        {"{\"format\":\"vecsnap\",\"version\":1,\"collections\":[]}",
         VS_ECORRUPT, "not a ruvector-extensions state file"},
        {"{\"version\":\"2.0.0\",\"vectors\":[]}", VS_EVERSION,
         "unsupported ruvector-extensions version '2.0.0'"},
        {"{\"version\":\"1.x\",\"vectors\":[]}", VS_ECORRUPT, "malformed"},
        {"{\"version\":1,\"vectors\":[]}", VS_ECORRUPT,
         "not a ruvector-extensions state file"},
        {RUV_HEAD "}", VS_ECORRUPT, "has no vectors"},
        {"{\"version\":\"1.0.0\",\"vectors\":[]}", VS_ECORRUPT,
         "gives no dimension"},
        {"{\"version\":\"1.0.0\",\"options\":{\"dimension\":2,\"metric\":"
         "\"manhattan\"},\"vectors\":[]}",
         VS_ECORRUPT, "unsupported metric 'manhattan'"},
        {"{\"version\":\"1.0.0\",\"options\":{\"dimension\":2,\"metric\":"
         "\"hamming\"},\"vectors\":[]}",
         VS_ECORRUPT, "unknown metric 'hamming'"},
        {"{\"options\":{\"dimension\":2},\"stats\":{\"dimension\":3},"
         "\"vectors\":[]}",
         VS_ECORRUPT, "disagree"},
        {RUV_HEAD ",\"vectors\":[],\"options\":{}}", VS_ECORRUPT,
         "duplicate"},
        {RUV_HEAD ",\"vectors\":[],\"stats\":{}}", VS_ECORRUPT,
         "after vectors"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":[1]}]}",
         VS_ECORRUPT, "vector has 1 elements, dimension is 2"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1}}]}",
         VS_ECORRUPT, "lacks indices"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1,\"0\":2}}"
                  "]}",
         VS_ECORRUPT, "given twice"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1,\"2\":2}}"
                  "]}",
         VS_ECORRUPT, "not an index below 2"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1,\"01\":2}"
                  "}]}",
         VS_ECORRUPT, "not an index"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1,\"x\":2}}"
                  "]}",
         VS_ECORRUPT, "not an index"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":{\"0\":1,\"1\":null}"
                  "}]}",
         VS_ECORRUPT, "NaN or infinity"},
        {RUV_HEAD ",\"vectors\":[{\"vector\":[1,2]}]}", VS_ECORRUPT,
         "has no id"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":[1,2],"
                  "\"metadata\":\"text\"}]}",
         VS_ECORRUPT, "metadata object"},
        {RUV_HEAD ",\"vectors\":[{\"id\":\"a\",\"vector\":[1,2]},"
                  "{\"id\":\"a\",\"vector\":[1,2]}]}",
         VS_ECORRUPT, "duplicate"},
        {RUV_HEAD ",\"vectors\":[],\"checksum\":\"abc\"}", VS_ECORRUPT,
         "checksum is not 64 hex digits"},
        {RUV_HEAD ",\"vectors\":[],\"timestamp\":tru}", VS_ECORRUPT,
         "malformed literal"},
        {RUV_HEAD ",\"vectors\":[]} []", VS_ECORRUPT, "trailing bytes"},
        {"{\"vectors\":[{\"id\":\"a\",\"metadata\":{},\"vector\":[1]}]}",
         VS_ECORRUPT, "metadata before the first vector"},
        {"{\"vectors\":[{\"id\":\"a\",\"vector\":[]}]}", VS_ECORRUPT,
         "empty vector"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_store *st = NULL;
        int code = load_text(&st, cases[i].text);
        ck_assert_msg(code == cases[i].code, "case %zu: code %d (%s)", i,
                      code, vs_error_last());
        ck_assert_ptr_null(st);
        ck_assert_msg(strstr(vs_error_last(), cases[i].msg),
                      "case %zu: '%s' lacks '%s'", i, vs_error_last(),
                      cases[i].msg);
    }
}
END_TEST

static Suite *ruvector_suite(void)
{
    Suite *s = suite_create("ruvector");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, pretty_printed_state_loads);
    tcase_add_test(tc, gzip_and_brotli_states_load);
    tcase_add_test(tc, binary_format_is_compact_json);
    tcase_add_test(tc, array_vectors_load);
    tcase_add_test(tc, snapshot_files_load);
    tcase_add_test(tc, empty_database_loads);
    tcase_add_test(tc, file_loader_detects_every_fixture);
    tcase_add_test(tc, snapshot_description_is_refused_with_a_hint);
    tcase_add_test(tc, every_truncation_of_a_fixture_fails);
    tcase_add_test(tc, byte_flips_never_crash);
    suite_add_tcase(s, tc);

    tc = tcase_create("variations");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, metric_names_of_every_spelling_map);
    tcase_add_test(tc, dimension_and_metric_fall_back_sensibly);
    tcase_add_test(tc, malformed_states_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ruvector_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
