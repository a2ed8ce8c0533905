/*
 * Corruption through the file level: for a small document of every format x
 * codec, every truncation length and every single-byte change must give an
 * error naming a problem -- never a crash, a leak (ASan), a store, or a
 * silently different store.  Loading goes through detection, as a user's
 * file would.  Every position is tested, in every format: the SQLite case
 * (whole pages, ~20 KB) is the slow one, a few minutes under ASan.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "testutil.h"

static const vs_format_id formats[] = {VS_FORMAT_BIN, VS_FORMAT_JSON,
                                       VS_FORMAT_SQLITE};
static const vs_codec_id codecs[] = {VS_CODEC_NONE, VS_CODEC_GZIP,
                                     VS_CODEC_BROTLI, VS_CODEC_ZSTD};
#define NCODECS 4

static vs_store *small_store(void)
{
    vs_store *st = vs_test_random_store("docs", 12, 6, VS_METRIC_COSINE, true,
                                        99);
    vs_store *b = vs_test_random_store("tiny", 3, 2, VS_METRIC_DOT, false, 98);
    vs_store_merge_take(st, b);
    vs_store_free(b);
    return st;
}

static void save(vs_buf *buf, vs_store *st, vs_format_id f, vs_codec_id c)
{
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.format = f;
    so.codec = c;
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, buf), 0);
    if (vs_fmt_save_stream(NULL, w, st, &so) < 0)
        ck_abort_msg("save: %s", vs_error_last());
    vs_stream_free(w);
}

/* 0: loaded and equal to `st`; 1: refused with a message; aborts on a
 * successful load of something else. */
static int try_load(const uint8_t *data, size_t n, vs_codec_id codec,
                    const vs_store *st, const char *what, size_t pos)
{
    vs_stream *r = NULL;
    vs_store *out = NULL;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    /* brotli has no magic: say it, as a .br suffix would */
    if (codec == VS_CODEC_BROTLI)
        lo.name_hint = "x.br";
    lo.max_bytes = 1 << 24;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, data, n), 0);
    vs_error_clear();
    int error = vs_fmt_load_stream(&out, NULL, r, &lo);
    vs_stream_free(r);
    if (error < 0) {
        ck_assert_ptr_null(out);
        if (vs_error_last()[0] == '\0')
            ck_abort_msg("%s at %zu: error %d without a message", what, pos,
                         error);
        return 1;
    }
    char why[256];
    bool same = vs_test_store_equal(out, st, true, why, sizeof(why));
    vs_store_free(out);
    if (!same)
        ck_abort_msg("%s at %zu: loaded a different store: %s", what, pos,
                     why);
    return 0;
}

START_TEST(test_every_truncation_is_an_error)
{
    size_t f = (size_t)_i / NCODECS, c = (size_t)_i % NCODECS;
    char what[64];
    snprintf(what, sizeof(what), "truncated %s/%s",
             vs_format_name(formats[f]), vs_codec_info_of(codecs[c])->name);
    vs_store *st = small_store();
    vs_buf buf = VS_BUF_INIT(1 << 24);
    save(&buf, st, formats[f], codecs[c]);
    ck_assert_int_eq(try_load((uint8_t *)buf.ptr, buf.len, codecs[c], st,
                              what, buf.len),
                     0);
    /* A json document may lose the white space after its closing brace and
     * still be the same document (try_load then checks it is identical);
     * any other cut is an error. */
    size_t end = buf.len;
    if (formats[f] == VS_FORMAT_JSON && codecs[c] == VS_CODEC_NONE)
        while (end > 0 && (buf.ptr[end - 1] == '\n' || buf.ptr[end - 1] == ' '))
            end--;
    for (size_t len = 0; len < end; len++)
        ck_assert_int_eq(try_load((uint8_t *)buf.ptr, len, codecs[c], st,
                                  what, len),
                         1);
    vs_buf_dispose(&buf);
    vs_store_free(st);
}
END_TEST

START_TEST(test_every_byte_flip_is_an_error)
{
    size_t f = (size_t)_i / NCODECS, c = (size_t)_i % NCODECS;
    char what[64];
    snprintf(what, sizeof(what), "flipped %s/%s", vs_format_name(formats[f]),
             vs_codec_info_of(codecs[c])->name);
    vs_store *st = small_store();
    vs_buf buf = VS_BUF_INIT(1 << 24);
    save(&buf, st, formats[f], codecs[c]);
    uint8_t *copy = malloc(buf.len);
    ck_assert_ptr_nonnull(copy);
    size_t refused = 0, same = 0;
    for (size_t pos = 0; pos < buf.len; pos++) {
        for (int k = 0; k < 2; k++) {
            memcpy(copy, buf.ptr, buf.len);
            copy[pos] ^= k == 0 ? 0xFF : 0x01;
            if (try_load(copy, buf.len, codecs[c], st, what, pos))
                refused++;
            else
                same++;
        }
    }
    /* A change may only go unnoticed where the codec or SQLite carries bytes
     * that do not affect the content (gzip header time stamp and OS byte,
     * unused space in SQLite pages).  Uncompressed binary and json have no
     * such bytes: every change is caught. */
    if (codecs[c] == VS_CODEC_NONE && formats[f] != VS_FORMAT_SQLITE)
        ck_assert_uint_eq(same, 0);
    ck_assert_uint_gt(refused, 0);
    free(copy);
    vs_buf_dispose(&buf);
    vs_store_free(st);
}
END_TEST

static Suite *corrupt_suite(void)
{
    Suite *s = suite_create("corrupt");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 900);
    tcase_add_loop_test(tc, test_every_truncation_is_an_error, 0,
                        3 * NCODECS);
    tcase_add_loop_test(tc, test_every_byte_flip_is_an_error, 0, 3 * NCODECS);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(corrupt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
