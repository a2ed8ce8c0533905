/*
 * Round trips through the file level (fmt.c): every format x codec x edge
 * case saved to a file and to a stream, loaded back with detection, and
 * compared bit for bit, sequence number included.  The size and SHA-256 a
 * save reports must be those of the bytes stored.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "fsutil.h"
#include "testutil.h"

static const vs_format_id formats[] = {VS_FORMAT_BIN, VS_FORMAT_JSON,
                                       VS_FORMAT_SQLITE};
static const vs_codec_id codecs[] = {VS_CODEC_NONE, VS_CODEC_GZIP,
                                     VS_CODEC_BROTLI, VS_CODEC_ZSTD};
#define NFORMATS 3
#define NCODECS 4

typedef vs_store *(*make_fn)(void);

static void must(int rc)
{
    if (rc < 0)
        ck_abort_msg("%s", vs_error_last());
}

static vs_store *make_empty(void)
{
    vs_store *st;
    must(vs_store_new(&st));
    return st;
}

static vs_store *make_empty_collections(void)
{
    vs_store *st;
    vs_collection *c;
    must(vs_store_new(&st));
    must(vs_store_create(&c, st, "zeta", 3, VS_METRIC_DOT));
    must(vs_store_create(&c, st, "alpha", 1, VS_METRIC_EUCLIDEAN));
    return st;
}

static vs_store *make_dim1(void)
{
    return vs_test_random_store("one", 300, 1, VS_METRIC_EUCLIDEAN, true, 11);
}

static vs_store *make_dim4096(void)
{
    return vs_test_random_store("wide", 20, 4096, VS_METRIC_COSINE, false, 12);
}

static vs_store *make_100k(void)
{
    return vs_test_random_store("many", 100000, 4, VS_METRIC_DOT, true, 13);
}

static vs_store *make_special_floats(void)
{
    vs_store *st;
    vs_collection *c;
    must(vs_store_new(&st));
    must(vs_store_create(&c, st, "floats", 8, VS_METRIC_EUCLIDEAN));
    const float v[3][8] = {
        {-0.0f, 0.0f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN, 1e-45f, -1e-45f},
        {FLT_MIN / 2, 3.4e-39f, 1.17549421e-38f, 0.1f, 1.0f / 3, 16777217.0f,
         1e38f, -2.5e-40f},
        {1, 2, 3, 4, 5, 6, 7, 8}};
    vs_record recs[3] = {
        {.id = "neg-zero-and-extremes", .id_len = 21, .vector = v[0]},
        {.id = "denormals", .id_len = 9, .vector = v[1]},
        {.id = "plain", .id_len = 5, .vector = v[2], .metadata = "{\"a\":[]}",
         .metadata_len = 8}};
    must(vs_collection_upsert(c, recs, 3));
    return st;
}

static vs_store *make_unicode(void)
{
    vs_store *st;
    vs_collection *c;
    must(vs_store_new(&st));
    must(vs_store_create(&c, st, "uni.code-1_x", 2, VS_METRIC_COSINE));
    static const char *ids[] = {"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac",
                                "emoji \xf0\x9f\x98\x80", "quote\"back\\slash",
                                "tab\there\nnewline", "\x01\x1f control"};
    static const char *meta = "{\"t\":\"\xc3\xa9\\u00e9\\n\",\"n\":null}";
    float v[2] = {0.5f, -0.25f};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        vs_record r = {.id = ids[i],
                       .id_len = strlen(ids[i]),
                       .vector = v,
                       .metadata = meta,
                       .metadata_len = strlen(meta)};
        v[0] += 1;
        must(vs_collection_upsert(c, &r, 1));
    }
    return st;
}

static vs_store *make_large_metadata(void)
{
    vs_store *st;
    vs_collection *c;
    must(vs_store_new(&st));
    must(vs_store_create(&c, st, "big", 2, VS_METRIC_DOT));
    size_t n = VS_METADATA_MAX - 16;
    char *m = malloc(n + 1);
    ck_assert_ptr_nonnull(m);
    memcpy(m, "{\"k\":\"", 6);
    for (size_t i = 6; i < n - 2; i++)
        m[i] = (char)('a' + i % 26);
    memcpy(m + n - 2, "\"}", 2);
    float v[2] = {1, 2};
    vs_record r = {.id = "x", .id_len = 1, .vector = v, .metadata = m,
                   .metadata_len = n};
    must(vs_collection_upsert(c, &r, 1));
    free(m);
    return st;
}

static vs_store *make_several(void)
{
    vs_store *a = vs_test_random_store("first", 50, 16, VS_METRIC_COSINE,
                                       true, 21);
    vs_store *b = vs_test_random_store("second", 70, 5, VS_METRIC_DOT, false,
                                       22);
    vs_store_merge_take(a, b);
    vs_store_free(b);
    vs_collection *c = vs_store_find(a, "first");
    vs_record del = {.id = "id-3", .id_len = 4};
    size_t n;
    must(vs_collection_delete(c, &del, 1, &n));
    ck_assert_uint_eq(n, 1);
    return a;
}

static const struct {
    const char *name;
    make_fn make;
} cases[] = {
    {"empty store", make_empty},
    {"empty collections", make_empty_collections},
    {"dimension 1", make_dim1},
    {"dimension 4096", make_dim4096},
    {"100K records", make_100k},
    {"-0.0, denormals, +-FLT_MAX", make_special_floats},
    {"unicode ids", make_unicode},
    {"large metadata", make_large_metadata},
    {"several collections after deletes", make_several},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void expect_equal(const vs_store *a, const vs_store *b,
                         const char *what)
{
    char why[512];
    if (!vs_test_store_equal(a, b, true, why, sizeof(why)))
        ck_abort_msg("%s: %s", what, why);
}

/* loop index -> (format, codec, case) */
START_TEST(test_file_round_trip_is_bit_exact)
{
    size_t f = (size_t)_i / (NCODECS * NCASES);
    size_t c = (size_t)_i / NCASES % NCODECS;
    size_t k = (size_t)_i % NCASES;
    char what[160];
    snprintf(what, sizeof(what), "%s/%s/%s", vs_format_name(formats[f]),
             vs_codec_info_of(codecs[c])->name, cases[k].name);

    vs_store *st = cases[k].make();
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "db");
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.format = formats[f];
    so.codec = codecs[c];
    vs_file_info saved;
    if (vs_fmt_save_file(&saved, path, st, &so) < 0)
        ck_abort_msg("%s: save: %s", what, vs_error_last());
    ck_assert_uint_eq(vs_test_dir_count(dir), 1); /* no temp file left */

    /* the reported size and sha256 are those of the stored bytes */
    uint8_t digest[VS_SHA256_LEN];
    uint64_t size;
    must(vs_sha256_file(digest, &size, path));
    ck_assert_uint_eq(size, saved.bytes);
    ck_assert(vs_sha256_equal(digest, saved.sha256));

    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *back = NULL;
    vs_file_info info;
    if (vs_fmt_load_file(&back, &info, path, &lo) < 0)
        ck_abort_msg("%s: load: %s", what, vs_error_last());
    ck_assert_int_eq(info.format, formats[f]);
    ck_assert_int_eq(info.codec, codecs[c]);
    ck_assert(info.content_verified);
    ck_assert_uint_eq(info.bytes, saved.bytes);
    ck_assert(vs_sha256_equal(info.sha256, saved.sha256));
    ck_assert_uint_eq(info.records, vs_store_nrecords(st));
    expect_equal(st, back, what);
    vs_store_free(back);

    /* the same through streams: bytes identical to the file's */
    vs_buf buf = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *w = NULL;
    must(vs_stream_mem_writer_new(&w, &buf));
    vs_file_info sinfo;
    if (vs_fmt_save_stream(&sinfo, w, st, &so) < 0)
        ck_abort_msg("%s: save stream: %s", what, vs_error_last());
    vs_stream_free(w);
    /* sqlite files record their creation time: not byte-stable */
    if (formats[f] != VS_FORMAT_SQLITE) {
        ck_assert_uint_eq(buf.len, saved.bytes);
        ck_assert(vs_sha256_equal(sinfo.sha256, saved.sha256));
    }
    vs_stream *r = NULL;
    must(vs_stream_mem_reader_new(&r, buf.ptr, buf.len));
    if (vs_fmt_load_stream(&back, &info, r, &lo) < 0)
        ck_abort_msg("%s: load stream: %s", what, vs_error_last());
    vs_stream_free(r);
    expect_equal(st, back, what);
    vs_store_free(back);
    vs_buf_dispose(&buf);

    free(path);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

START_TEST(test_save_of_selected_collections_only)
{
    vs_store *st = make_several();
    const char *only[] = {"second"};
    for (size_t f = 0; f < NFORMATS; f++) {
        vs_save_options so = VS_SAVE_OPTIONS_INIT;
        so.format = formats[f];
        so.collections = only;
        so.ncollections = 1;
        vs_buf buf = VS_BUF_INIT((size_t)1 << 26);
        vs_stream *w = NULL;
        must(vs_stream_mem_writer_new(&w, &buf));
        must(vs_fmt_save_stream(NULL, w, st, &so));
        vs_stream_free(w);
        vs_stream *r = NULL;
        vs_store *back = NULL;
        vs_load_options lo = VS_LOAD_OPTIONS_INIT;
        must(vs_stream_mem_reader_new(&r, buf.ptr, buf.len));
        must(vs_fmt_load_stream(&back, NULL, r, &lo));
        ck_assert_uint_eq(vs_store_ncollections(back), 1);
        ck_assert_ptr_nonnull(vs_store_find(back, "second"));
        ck_assert_uint_eq(vs_collection_count(vs_store_find(back, "second")),
                          70);
        vs_stream_free(r);
        vs_store_free(back);
        vs_buf_dispose(&buf);
    }
    only[0] = "missing";
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.collections = only;
    so.ncollections = 1;
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "x");
    ck_assert_int_eq(vs_fmt_save_file(NULL, path, st, &so), VS_ENOTFOUND);
    ck_assert_uint_eq(vs_test_dir_count(dir), 0);
    free(path);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

static int cancel_at_half(void *payload, uint64_t done, uint64_t total)
{
    (void)payload;
    return total && done * 2 >= total;
}

START_TEST(test_cancelled_save_leaves_target_untouched)
{
    vs_store *st = vs_test_random_store("c", 20000, 8, VS_METRIC_DOT, false,
                                        5);
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "db");
    must(vs_fs_write_atomic(path, "old", 3));
    for (size_t f = 0; f < NFORMATS; f++) {
        vs_save_options so = VS_SAVE_OPTIONS_INIT;
        so.format = formats[f];
        so.progress = cancel_at_half;
        ck_assert_int_eq(vs_fmt_save_file(NULL, path, st, &so),
                         VS_ECANCELLED);
        char *text = NULL;
        size_t len;
        must(vs_fs_read_all(&text, &len, path, 100));
        ck_assert_str_eq(text, "old");
        free(text);
        ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    }
    free(path);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

START_TEST(test_invalid_save_options_are_refused)
{
    vs_store *st = make_empty();
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "db");
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.codec = VS_CODEC_ZSTD;
    so.level = 99;
    ck_assert_int_eq(vs_fmt_save_file(NULL, path, st, &so), VS_EINVALID);
    so = (vs_save_options)VS_SAVE_OPTIONS_INIT;
    so.format = VS_FORMAT_RUVECTOR;
    ck_assert_int_eq(vs_fmt_save_file(NULL, path, st, &so), VS_EINVALID);
    ck_assert_uint_eq(vs_test_dir_count(dir), 0);
    free(path);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

static Suite *roundtrip_suite(void)
{
    Suite *s = suite_create("roundtrip");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_file_round_trip_is_bit_exact, 0,
                        (int)(NFORMATS * NCODECS * NCASES));
    tcase_add_test(tc, test_save_of_selected_collections_only);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("errors");
    tcase_set_timeout(te, 300);
    tcase_add_test(te, test_cancelled_save_leaves_target_untouched);
    tcase_add_test(te, test_invalid_save_options_are_refused);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(roundtrip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
