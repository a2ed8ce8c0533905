/* test_codec: the codec table, gzip/brotli/zstd writers and readers, the
 * decompression cap, interoperability with the command-line tools, and the
 * float byte-plane shuffle. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "fsutil.h"
#include "shuffle.h"
#include "stream.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)

/* For loops: Check's ck_assert records every passing check through a pipe,
 * which costs a system call each. */
#define MUST(expr)                                                             \
    do {                                                                       \
        int must_rc_ = (expr);                                                 \
        if (must_rc_ != 0)                                                     \
            ck_abort_msg("%s: %d %s", #expr, must_rc_, vs_error_last());       \
    } while (0)

static const vs_codec_id all_codecs[] = {VS_CODEC_NONE, VS_CODEC_GZIP,
                                         VS_CODEC_BROTLI, VS_CODEC_ZSTD};
static const vs_codec_id real_codecs[] = {VS_CODEC_GZIP, VS_CODEC_BROTLI,
                                          VS_CODEC_ZSTD};

static const size_t write_pattern[6] = {1, 4093, 65537, 7, 300000, 13};
static const size_t read_pattern[6] = {3, 65536 + 1, 1, 1000, 7, 262147};

enum { RANDOM, TEXT, FLOATS };

static uint8_t *make_data(size_t n, int kind, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t st = seed;
    size_t i = 0;
    if (kind == RANDOM) {
        for (; i < n; i++)
            p[i] = (uint8_t)(vs_test_rand(&st) >> 56);
    } else if (kind == TEXT) {
        static const char *words[] = {"vector ",  "record ",  "metadata ",
                                      "{\"id\":", "\"tag\":", "0.25, "};
        while (i < n) {
            const char *w = words[vs_test_rand(&st) % 6];
            for (; *w && i < n; w++)
                p[i++] = (uint8_t)*w;
        }
    } else {
        for (; i + 4 <= n; i += 4) {
            float f = vs_test_randf(&st);
            memcpy(p + i, &f, 4);
        }
        for (; i < n; i++)
            p[i] = 0;
    }
    return p;
}

/* Compresses data into *out (a fresh buffer), writing in pattern chunks. */
static void encode(vs_buf *out, vs_codec_id id, int level, const uint8_t *data,
                   size_t n)
{
    vs_buf init = VS_BUF_INIT((size_t)1 << 30);
    *out = init;
    vs_stream *mem, *w;
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, out), 0);
    ck_assert_int_eq(vs_codec_writer_new(&w, mem, id, level), 0);
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t k =
            write_pattern[i % 6] < n - off ? write_pattern[i % 6] : n - off;
        MUST(vs_stream_write(w, data + off, k));
        off += k;
    }
    ck_assert_int_eq(vs_stream_finish(w), 0);
    ck_assert(!mem->finished);
    ck_assert_uint_eq(vs_stream_bytes(w), n);
    vs_stream_free(w);
    vs_stream_free(mem);
}

/* Decompresses enc[0..len) reading in pattern chunks until a short read.
 * Returns 0 or the error; *out gets what was delivered. */
static int decode(vs_buf *out, vs_codec_id id, const uint8_t *enc, size_t len,
                  uint64_t max)
{
    vs_buf init = VS_BUF_INIT((size_t)1 << 30);
    *out = init;
    vs_stream *mem, *r;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, enc, len), 0);
    ck_assert_int_eq(vs_codec_reader_new(&r, mem, id, max), 0);
    uint8_t *buf = malloc(262147);
    ck_assert_ptr_nonnull(buf);
    int error = 0;
    for (size_t i = 0;; i++) {
        size_t got, k = read_pattern[i % 6];
        error = vs_stream_read(r, buf, k, &got);
        if (error < 0)
            break;
        MUST(vs_buf_put(out, buf, got));
        if (got < k)
            break;
    }
    if (error == 0 && vs_stream_bytes(r) != out->len)
        ck_abort_msg("bytes %llu, delivered %zu",
                     (unsigned long long)vs_stream_bytes(r), out->len);
    free(buf);
    vs_stream_free(r);
    vs_stream_free(mem);
    return error;
}

static void round_trip(vs_codec_id id, int level, const uint8_t *data, size_t n)
{
    vs_buf enc, dec;
    encode(&enc, id, level, data, n);
    int error = decode(&dec, id, (uint8_t *)enc.ptr, enc.len, 0);
    if (error != 0)
        ck_abort_msg("%s level %d, %zu bytes: %s", vs_codec_info_of(id)->name,
                     level, n, vs_error_last());
    ck_assert_uint_eq(dec.len, n);
    ck_assert(n == 0 || memcmp(dec.ptr, data, n) == 0);
    vs_buf_dispose(&enc);
    vs_buf_dispose(&dec);
}

/* ---- table -------------------------------------------------------------- */

START_TEST(test_codec_table)
{
    static const char *names[] = {"none", "gzip", "brotli", "zstd"};
    static const char *encodings[] = {"identity", "gzip", "br", "zstd"};
    static const char *suffixes[] = {"", ".gz", ".br", ".zst"};
    for (int i = 0; i < 4; i++) {
        const vs_codec_info *ci = vs_codec_info_of(all_codecs[i]);
        ck_assert_ptr_nonnull(ci);
        ck_assert_int_eq(ci->id, all_codecs[i]);
        ck_assert_str_eq(ci->name, names[i]);
        ck_assert_str_eq(ci->encoding, encodings[i]);
        ck_assert_str_eq(ci->suffix, suffixes[i]);
        vs_codec_id id = VS_CODEC_AUTO;
        ck_assert_int_eq(vs_codec_parse(&id, names[i]), 0);
        ck_assert_int_eq(id, all_codecs[i]);
        id = VS_CODEC_AUTO;
        ck_assert_int_eq(vs_codec_parse(&id, encodings[i]), 0);
        ck_assert_int_eq(id, all_codecs[i]);
    }
    ck_assert_ptr_null(vs_codec_info_of(VS_CODEC_AUTO));
    vs_codec_id id;
    ck_assert_int_eq(vs_codec_parse(&id, "BR"), 0);
    ck_assert_int_eq(id, VS_CODEC_BROTLI);
    ck_assert_int_eq(vs_codec_parse(&id, "lz4"), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "lz4"));
    ck_assert_int_eq(vs_codec_parse(&id, ""), VS_EINVALID);
    ck_assert_int_eq(vs_codec_parse(&id, NULL), VS_EINVALID);
}
END_TEST

START_TEST(test_codec_levels)
{
    static const int range[4][3] = {
        {0, 0, 0}, {1, 9, 1}, {0, 11, 1}, {1, 19, 1}};
    for (int i = 0; i < 4; i++) {
        const vs_codec_info *ci = vs_codec_info_of(all_codecs[i]);
        ck_assert_int_eq(ci->level_min, range[i][0]);
        ck_assert_int_eq(ci->level_max, range[i][1]);
        ck_assert_int_eq(ci->level_default, range[i][2]);
        int lv = -5;
        ck_assert_int_eq(vs_codec_check_level(&lv, all_codecs[i], -1), 0);
        ck_assert_int_eq(lv, range[i][2]);
        ck_assert_int_eq(vs_codec_check_level(&lv, all_codecs[i], range[i][0]),
                         0);
        ck_assert_int_eq(lv, range[i][0]);
        ck_assert_int_eq(vs_codec_check_level(&lv, all_codecs[i], range[i][1]),
                         0);
        ck_assert_int_eq(lv, range[i][1]);
        ck_assert_int_eq(
            vs_codec_check_level(&lv, all_codecs[i], range[i][1] + 1),
            VS_EINVALID);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), ci->name));
        if (range[i][0] > 0)
            ck_assert_int_eq(vs_codec_check_level(&lv, all_codecs[i], 0),
                             VS_EINVALID);
    }
    int lv;
    ck_assert_int_eq(vs_codec_check_level(&lv, VS_CODEC_GZIP, 10), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "1 to 9"));
    ck_assert_int_eq(vs_codec_check_level(&lv, VS_CODEC_AUTO, -1), VS_EINVALID);
}
END_TEST

START_TEST(test_codec_detect_and_suffix)
{
    const uint8_t gz[] = {0x1f, 0x8b, 8, 0};
    const uint8_t zs[] = {0x28, 0xb5, 0x2f, 0xfd, 0};
    ck_assert_int_eq(vs_codec_detect(gz, 4), VS_CODEC_GZIP);
    ck_assert_int_eq(vs_codec_detect(gz, 1), VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_detect(zs, 5), VS_CODEC_ZSTD);
    ck_assert_int_eq(vs_codec_detect(zs, 3), VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_detect((const uint8_t *)"VSNP", 4),
                     VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_detect(NULL, 0), VS_CODEC_NONE);

    ck_assert_int_eq(vs_codec_from_suffix("a/b.vsnap.gz"), VS_CODEC_GZIP);
    ck_assert_int_eq(vs_codec_from_suffix("x.gzip"), VS_CODEC_GZIP);
    ck_assert_int_eq(vs_codec_from_suffix("x.json.br"), VS_CODEC_BROTLI);
    ck_assert_int_eq(vs_codec_from_suffix("x.brotli"), VS_CODEC_BROTLI);
    ck_assert_int_eq(vs_codec_from_suffix("x.zst"), VS_CODEC_ZSTD);
    ck_assert_int_eq(vs_codec_from_suffix("x.zstd"), VS_CODEC_ZSTD);
    ck_assert_int_eq(vs_codec_from_suffix("x.vsnap"), VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_from_suffix("x.gz.json"), VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_from_suffix("br"), VS_CODEC_NONE);
    ck_assert_int_eq(vs_codec_from_suffix(""), VS_CODEC_NONE);
}
END_TEST

START_TEST(test_codec_constructors_reject_bad_arguments)
{
    vs_buf b = VS_BUF_INIT(100);
    vs_stream *mem, *rd, *s = (vs_stream *)1;
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &b), 0);
    ck_assert_int_eq(vs_stream_mem_reader_new(&rd, "", 0), 0);
    ck_assert_int_eq(vs_codec_writer_new(&s, mem, VS_CODEC_AUTO, -1),
                     VS_EINVALID);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(vs_codec_writer_new(&s, mem, VS_CODEC_ZSTD, 20),
                     VS_EINVALID);
    ck_assert_int_eq(vs_codec_writer_new(&s, mem, VS_CODEC_NONE, 3),
                     VS_EINVALID);
    ck_assert_int_eq(vs_codec_writer_new(&s, rd, VS_CODEC_GZIP, -1),
                     VS_EINVALID);
    ck_assert_int_eq(vs_codec_reader_new(&s, rd, VS_CODEC_AUTO, 0),
                     VS_EINVALID);
    ck_assert_int_eq(vs_codec_reader_new(&s, mem, VS_CODEC_GZIP, 0),
                     VS_EINVALID);
    vs_stream_free(rd);
    vs_stream_free(mem);
    vs_buf_dispose(&b);
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

START_TEST(test_round_trip_every_codec_level_size)
{
    static const size_t sizes[] = {0, 1, 4097, MiB + 7};
    for (int c = 0; c < 4; c++) {
        vs_codec_id id = all_codecs[c];
        const vs_codec_info *ci = vs_codec_info_of(id);
        int mid = (ci->level_min + ci->level_max) / 3;
        int levels[] = {-1, ci->level_min, mid < ci->level_min ? 0 : mid,
                        ci->level_max};
        for (int kind = RANDOM; kind <= FLOATS; kind++) {
            for (size_t s = 0; s < 4; s++) {
                uint8_t *data = make_data(sizes[s], kind, 100 + s);
                for (int l = 0; l < 4; l++) {
                    /* The top levels are slow: small inputs only. */
                    if (l == 3 && sizes[s] > 4097)
                        continue;
                    round_trip(id, levels[l], data, sizes[s]);
                }
                free(data);
            }
        }
    }
}
END_TEST

START_TEST(test_compressible_data_shrinks)
{
    uint8_t *data = make_data(MiB, TEXT, 5);
    for (int c = 0; c < 3; c++) {
        vs_buf enc;
        encode(&enc, real_codecs[c], -1, data, MiB);
        ck_assert_uint_lt(enc.len, MiB / 4);
        vs_buf_dispose(&enc);
    }
    free(data);
}
END_TEST

START_TEST(test_small_writes_compress_like_large_ones)
{
    /* Format code writes ids and varints a few bytes at a time; brotli at
     * low quality would emit a meta-block per call without coalescing. */
    size_t n = 300000;
    uint8_t *data = make_data(n, TEXT, 20);
    for (int c = 0; c < 3; c++) {
        vs_buf big, small = VS_BUF_INIT((size_t)1 << 30);
        encode(&big, real_codecs[c], -1, data, n);
        vs_stream *mem, *w;
        ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &small), 0);
        ck_assert_int_eq(vs_codec_writer_new(&w, mem, real_codecs[c], -1), 0);
        for (size_t off = 0, k = 1; off < n; off += k, k = k % 13 + 1)
            MUST(vs_stream_write(w, data + off, k < n - off ? k : n - off));
        ck_assert_int_eq(vs_stream_finish(w), 0);
        vs_stream_free(w);
        vs_stream_free(mem);
        ck_assert_uint_le(small.len, big.len + big.len / 10 + 64);
        vs_buf dec;
        ck_assert_int_eq(
            decode(&dec, real_codecs[c], (uint8_t *)small.ptr, small.len, 0),
            0);
        ck_assert_uint_eq(dec.len, n);
        ck_assert_int_eq(memcmp(dec.ptr, data, n), 0);
        vs_buf_dispose(&dec);
        vs_buf_dispose(&small);
        vs_buf_dispose(&big);
    }
    free(data);
}
END_TEST

/* An inner writer that records the sizes it is given. */
typedef struct counting {
    vs_stream base;
    size_t writes, min, max, last;
} counting;

static int counting_write(vs_stream *s, const void *data, size_t n)
{
    counting *c = (counting *)s;
    (void)data;
    if (c->writes > 0 && c->last < c->min)
        c->min = c->last; /* every write but the last one */
    if (n > c->max)
        c->max = n;
    c->last = n;
    c->writes++;
    return 0;
}

static const vs_stream_ops counting_ops = {.name = "counting",
                                           .write = counting_write};

START_TEST(test_writers_pass_large_chunks)
{
    uint8_t *data = make_data(3 * MiB, RANDOM, 6);
    for (int c = 0; c < 3; c++) {
        counting cnt;
        memset(&cnt, 0, sizeof(cnt));
        vs_stream__init(&cnt.base, &counting_ops, NULL, true);
        cnt.min = SIZE_MAX;
        vs_stream *w;
        ck_assert_int_eq(vs_codec_writer_new(&w, &cnt.base, real_codecs[c], -1),
                         0);
        for (size_t off = 0; off < 3 * MiB; off += 1000)
            MUST(vs_stream_write(w, data + off,
                                 3 * MiB - off < 1000 ? 3 * MiB - off : 1000));
        ck_assert_int_eq(vs_stream_finish(w), 0);
        vs_stream_free(w);
        /* Incompressible: about 3 MiB out, in big pieces. */
        ck_assert_uint_ge(cnt.writes, 3);
        ck_assert_uint_le(cnt.writes, 24);
        ck_assert_uint_ge(cnt.min, 128 * 1024);
        ck_assert_uint_le(cnt.max, MiB);
    }
    free(data);
}
END_TEST

/* ---- command-line tools ------------------------------------------------- */

static bool have_tool(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path);
    ck_assert_ptr_nonnull(copy);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *p = vs_test_path(dir, name);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

/* Runs `cmd` and collects its standard output. */
static void run_capture(vs_buf *out, const char *cmd)
{
    vs_buf init = VS_BUF_INIT((size_t)1 << 30);
    *out = init;
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        MUST(vs_buf_put(out, buf, n));
    ck_assert_int_eq(pclose(f), 0);
}

START_TEST(test_output_readable_by_standard_tools)
{
    static const char *tools[] = {"gzip", "brotli", "zstd"};
    /* Compression options for the tools, per data set: brotli's default
     * (quality 11) takes seconds on a MiB, so the top levels get the small
     * data sets. */
    static const char *opts[3][3] = {{"", "-q 9", "-q"},
                                     {"-9", "-q 11", "-q -19"},
                                     {"-9", "-q 11", "-q -19"}};
    char *dir = vs_test_tmpdir_new();
    uint8_t *sets[3] = {make_data(MiB + 7, TEXT, 7),
                        make_data(100000, RANDOM, 8),
                        make_data(100000, TEXT, 9)};
    const size_t sizes[3] = {MiB + 7, 100000, 100000};
    int ran = 0;
    for (int c = 0; c < 3; c++) {
        if (!have_tool(tools[c]))
            continue;
        ran++;
        const vs_codec_info *ci = vs_codec_info_of(real_codecs[c]);
        for (int k = 0; k < 3; k++) {
            const uint8_t *data = sets[k];
            size_t n = sizes[k];
            vs_buf enc, dec;
            encode(&enc, real_codecs[c], -1, data, n);
            char *path = vs_test_path(dir, "ours");
            ck_assert_int_eq(vs_fs_write_atomic(path, enc.ptr, enc.len), 0);
            char cmd[512];
            snprintf(cmd, sizeof(cmd), "%s -dc '%s'", tools[c], path);
            run_capture(&dec, cmd);
            ck_assert_uint_eq(dec.len, n);
            ck_assert_int_eq(memcmp(dec.ptr, data, n), 0);
            vs_buf_dispose(&dec);
            vs_buf_dispose(&enc);

            /* And the other way: the tool's output reads back here. */
            char *raw = vs_test_path(dir, "raw");
            ck_assert_int_eq(vs_fs_write_atomic(raw, data, n), 0);
            snprintf(cmd, sizeof(cmd), "%s %s -c '%s'", tools[c], opts[k][c],
                     raw);
            run_capture(&enc, cmd);
            ck_assert_int_eq(
                decode(&dec, ci->id, (uint8_t *)enc.ptr, enc.len, 0), 0);
            ck_assert_uint_eq(dec.len, n);
            ck_assert_int_eq(memcmp(dec.ptr, data, n), 0);
            vs_buf_dispose(&dec);
            vs_buf_dispose(&enc);
            free(raw);
            free(path);
        }
    }
    ck_assert_int_gt(ran, 0);
    for (int k = 0; k < 3; k++)
        free(sets[k]);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- broken input ------------------------------------------------------- */

static void concat(vs_buf *out, const vs_buf *a, const void *b, size_t n)
{
    vs_buf init = VS_BUF_INIT((size_t)1 << 30);
    *out = init;
    MUST(vs_buf_put(out, a->ptr, a->len));
    MUST(vs_buf_put(out, b, n));
}

START_TEST(test_concatenated_gzip_members_and_zstd_frames)
{
    uint8_t *a = make_data(300000, TEXT, 9);
    uint8_t *b = make_data(1000, RANDOM, 10);
    static const vs_codec_id ids[] = {VS_CODEC_GZIP, VS_CODEC_ZSTD};
    for (int c = 0; c < 2; c++) {
        vs_buf ea, eb, both, dec;
        encode(&ea, ids[c], -1, a, 300000);
        encode(&eb, ids[c], -1, b, 1000);
        concat(&both, &ea, eb.ptr, eb.len);
        ck_assert_int_eq(decode(&dec, ids[c], (uint8_t *)both.ptr, both.len, 0),
                         0);
        ck_assert_uint_eq(dec.len, 301000);
        ck_assert_int_eq(memcmp(dec.ptr, a, 300000), 0);
        ck_assert_int_eq(memcmp(dec.ptr + 300000, b, 1000), 0);
        vs_buf_dispose(&dec);
        vs_buf_dispose(&both);
        vs_buf_dispose(&eb);
        vs_buf_dispose(&ea);
    }
    /* Brotli streams do not concatenate: the second is trailing data. */
    vs_buf ea, both, dec;
    encode(&ea, VS_CODEC_BROTLI, -1, a, 1000);
    concat(&both, &ea, ea.ptr, ea.len);
    ck_assert_int_eq(
        decode(&dec, VS_CODEC_BROTLI, (uint8_t *)both.ptr, both.len, 0),
        VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "trailing garbage"));
    vs_buf_dispose(&dec);
    vs_buf_dispose(&both);
    vs_buf_dispose(&ea);
    free(b);
    free(a);
}
END_TEST

START_TEST(test_trailing_garbage_is_corrupt)
{
    uint8_t *data = make_data(5000, TEXT, 11);
    static const char *tails[] = {"x", "garbage", "\x1f", "\x1f\x8b",
                                  "\x28\xb5\x2f\xfd"};
    for (int c = 0; c < 3; c++) {
        vs_buf enc;
        encode(&enc, real_codecs[c], -1, data, 5000);
        for (int t = 0; t < 5; t++) {
            vs_buf both, dec;
            concat(&both, &enc, tails[t], strlen(tails[t]));
            int error =
                decode(&dec, real_codecs[c], (uint8_t *)both.ptr, both.len, 0);
            if (error != VS_ECORRUPT)
                ck_abort_msg("%s + tail %d: %d",
                             vs_codec_info_of(real_codecs[c])->name, t, error);
            if (t < 2 && real_codecs[c] != VS_CODEC_ZSTD)
                ck_assert_ptr_nonnull(
                    strstr(vs_error_last(), "trailing garbage"));
            vs_buf_dispose(&dec);
            vs_buf_dispose(&both);
        }
        vs_buf_dispose(&enc);
    }
    free(data);
}
END_TEST

START_TEST(test_truncated_input_is_corrupt_at_every_length)
{
    uint8_t *data = make_data(3000, TEXT, 12);
    for (int c = 0; c < 3; c++) {
        vs_buf enc;
        encode(&enc, real_codecs[c], -1, data, 3000);
        for (size_t len = 0; len < enc.len; len++) {
            vs_buf dec;
            uint8_t *cut = malloc(len ? len : 1); /* exact size for ASan */
            ck_assert_ptr_nonnull(cut);
            memcpy(cut, enc.ptr, len);
            int error = decode(&dec, real_codecs[c], cut, len, 0);
            if (error != VS_ECORRUPT)
                ck_abort_msg("%s cut at %zu of %zu: %d",
                             vs_codec_info_of(real_codecs[c])->name, len,
                             enc.len, error);
            free(cut);
            vs_buf_dispose(&dec);
        }
        vs_buf_dispose(&enc);
    }
    vs_buf dec;
    ck_assert_int_eq(decode(&dec, VS_CODEC_GZIP, (const uint8_t *)"", 0, 0),
                     VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "truncated gzip stream"));
    vs_buf_dispose(&dec);
    free(data);
}
END_TEST

START_TEST(test_byte_flips_never_crash)
{
    uint8_t *data = make_data(2000, TEXT, 13);
    for (int c = 0; c < 3; c++) {
        vs_codec_id id = real_codecs[c];
        vs_buf enc;
        encode(&enc, id, -1, data, 2000);
        size_t detected = 0;
        for (size_t i = 0; i < enc.len; i++) {
            for (int m = 0; m < 2; m++) {
                vs_buf dec;
                uint8_t *bad = malloc(enc.len);
                ck_assert_ptr_nonnull(bad);
                memcpy(bad, enc.ptr, enc.len);
                bad[i] ^= m ? 0xff : 0x01;
                int error = decode(&dec, id, bad, enc.len, 64 * 1024);
                if (error != 0 && error != VS_ECORRUPT && error != VS_ETOOBIG)
                    ck_abort_msg("flip at %zu: %d %s", i, error,
                                 vs_error_last());
                if (error)
                    detected++;
                /* gzip (CRC-32) and zstd (XXH64) never return wrong data;
                 * brotli has no checksum. */
                if (!error && id != VS_CODEC_BROTLI &&
                    (dec.len != 2000 || memcmp(dec.ptr, data, 2000) != 0))
                    ck_abort_msg("%s flip at %zu: wrong data accepted",
                                 vs_codec_info_of(id)->name, i);
                free(bad);
                vs_buf_dispose(&dec);
            }
        }
        /* Only header fields outside the checksums can flip unnoticed. */
        if (id != VS_CODEC_BROTLI)
            ck_assert_uint_ge(detected, 2 * enc.len - 20);
        else
            ck_assert_uint_ge(detected, enc.len);
        vs_buf_dispose(&enc);
    }
    free(data);
}
END_TEST

START_TEST(test_garbage_input_is_corrupt)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        size_t n = (size_t)(seed * 97 % 2000) + 1;
        uint8_t *junk = make_data(n, RANDOM, seed);
        for (int c = 0; c < 3; c++) {
            vs_buf dec;
            int error = decode(&dec, real_codecs[c], junk, n, 0);
            if (error != VS_ECORRUPT)
                ck_abort_msg("%s on %zu random bytes: %d",
                             vs_codec_info_of(real_codecs[c])->name, n, error);
            vs_buf_dispose(&dec);
        }
        free(junk);
    }
}
END_TEST

/* ---- output cap --------------------------------------------------------- */

START_TEST(test_compression_bomb_refused)
{
    uint8_t *zeros = calloc(1, MiB);
    ck_assert_ptr_nonnull(zeros);
    for (int c = 0; c < 3; c++) {
        vs_buf enc = VS_BUF_INIT((size_t)1 << 30);
        vs_stream *mem, *w, *r;
        ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &enc), 0);
        ck_assert_int_eq(vs_codec_writer_new(&w, mem, real_codecs[c], -1), 0);
        for (int i = 0; i < 100; i++)
            MUST(vs_stream_write(w, zeros, MiB));
        ck_assert_int_eq(vs_stream_finish(w), 0);
        vs_stream_free(w);
        vs_stream_free(mem);
        ck_assert_uint_lt(enc.len, MiB / 2); /* 100 MiB in a few KiB */

        ck_assert_int_eq(vs_stream_mem_reader_new(&mem, enc.ptr, enc.len), 0);
        ck_assert_int_eq(vs_codec_reader_new(&r, mem, real_codecs[c], MiB), 0);
        uint8_t buf[65536 + 3];
        size_t got;
        int error = 0;
        for (int i = 0; i < 2000 && error == 0; i++)
            error = vs_stream_read(r, buf, sizeof(buf), &got);
        ck_assert_int_eq(error, VS_ETOOBIG);
        ck_assert_str_eq(vs_error_last(),
                         "decompressed data exceeds 1048576 bytes");
        /* The read that would pass the cap fails as a whole (a short read
         * would mean end of data). */
        ck_assert_uint_le(vs_stream_bytes(r), MiB);
        ck_assert_uint_gt(vs_stream_bytes(r), MiB - sizeof(buf));
        ck_assert_int_eq(vs_stream_read(r, buf, 1, &got), VS_ETOOBIG);
        vs_stream_free(r);
        vs_stream_free(mem);
        vs_buf_dispose(&enc);
    }
    free(zeros);
}
END_TEST

START_TEST(test_cap_allows_exactly_max)
{
    uint8_t *data = make_data(10000, TEXT, 14);
    for (int c = 0; c < 4; c++) {
        vs_buf enc, dec;
        encode(&enc, all_codecs[c], -1, data, 10000);
        ck_assert_int_eq(
            decode(&dec, all_codecs[c], (uint8_t *)enc.ptr, enc.len, 10000), 0);
        ck_assert_uint_eq(dec.len, 10000);
        ck_assert_int_eq(memcmp(dec.ptr, data, 10000), 0);
        vs_buf_dispose(&dec);
        ck_assert_int_eq(
            decode(&dec, all_codecs[c], (uint8_t *)enc.ptr, enc.len, 9999),
            VS_ETOOBIG);
        ck_assert_uint_le(dec.len, 9999);
        vs_buf_dispose(&dec);
        vs_buf_dispose(&enc);
    }
    free(data);
}
END_TEST

/* ---- failing inner streams ---------------------------------------------- */

START_TEST(test_writer_over_failing_stream_reports_eio)
{
    uint8_t *text = make_data(100, TEXT, 15);
    uint8_t *rnd = make_data(2 * MiB, RANDOM, 16);
    for (int c = 0; c < 4; c++) {
        vs_stream *fail, *w;
        /* Small output: buffered until finish, which must fail. */
        ck_assert_int_eq(vs_stream_failing_new(&fail, NULL, true, 10), 0);
        ck_assert_int_eq(vs_codec_writer_new(&w, fail, all_codecs[c], -1), 0);
        int error = vs_stream_write(w, text, 100);
        ck_assert(error == 0 || all_codecs[c] == VS_CODEC_NONE);
        ck_assert_int_eq(vs_stream_finish(w), VS_EIO);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "injected failure"));
        vs_stream_free(w);
        vs_stream_free(fail);

        /* Large output: a write or finish fails, and the error sticks. */
        ck_assert_int_eq(vs_stream_failing_new(&fail, NULL, true, 300000), 0);
        ck_assert_int_eq(vs_codec_writer_new(&w, fail, all_codecs[c], -1), 0);
        error = 0;
        for (size_t off = 0; off < 2 * MiB && error == 0; off += 65536)
            error = vs_stream_write(w, rnd + off, 65536);
        ck_assert_int_eq(error, VS_EIO);
        ck_assert_int_eq(vs_stream_write(w, rnd, 1), VS_EIO);
        ck_assert_int_eq(vs_stream_finish(w), VS_EIO);
        vs_stream_free(w);
        vs_stream_free(fail);
    }
    free(rnd);
    free(text);
}
END_TEST

START_TEST(test_reader_over_failing_stream_reports_eio)
{
    uint8_t *data = make_data(2 * MiB, RANDOM, 17);
    for (int c = 0; c < 4; c++) {
        vs_buf enc;
        encode(&enc, all_codecs[c], -1, data, 2 * MiB);
        vs_stream *mem, *fail, *r;
        ck_assert_int_eq(vs_stream_mem_reader_new(&mem, enc.ptr, enc.len), 0);
        ck_assert_int_eq(vs_stream_failing_new(&fail, mem, false, MiB), 0);
        ck_assert_int_eq(vs_codec_reader_new(&r, fail, all_codecs[c], 0), 0);
        uint8_t buf[4096];
        size_t got;
        int error = 0;
        for (int i = 0; i < 1000 && error == 0; i++)
            error = vs_stream_read(r, buf, sizeof(buf), &got);
        ck_assert_int_eq(error, VS_EIO);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "injected failure"));
        vs_stream_free(r);
        vs_stream_free(fail);
        vs_stream_free(mem);
        vs_buf_dispose(&enc);
    }
    free(data);
}
END_TEST

/* ---- shuffle ------------------------------------------------------------ */

START_TEST(test_shuffle_layout_and_round_trip)
{
    static const size_t ns[] = {0,  1,  2,  3,   15,  16,   17,
                                31, 32, 33, 100, 999, 1024, 65537};
    for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
        size_t n = ns[k];
        uint8_t *src = make_data(4 * n, RANDOM, 18 + k);
        uint8_t *planes = malloc(4 * n + 1);
        uint8_t *back = malloc(4 * n + 1);
        ck_assert_ptr_nonnull(planes);
        ck_assert_ptr_nonnull(back);
        vs_shuffle4(planes, src, n);
        for (size_t i = 0; i < n; i++)
            for (size_t p = 0; p < 4; p++)
                if (planes[p * n + i] != src[4 * i + p])
                    ck_abort_msg("n %zu: byte %zu of element %zu misplaced", n,
                                 p, i);
        vs_unshuffle4(back, planes, n);
        ck_assert(n == 0 || memcmp(back, src, 4 * n) == 0);
        free(back);
        free(planes);
        free(src);
    }
}
END_TEST

START_TEST(test_shuffle_groups_float_exponents)
{
    /* The point of shuffling: byte planes of floats compress better. */
    size_t n = 256 * 1024;
    uint8_t *src = make_data(4 * n, FLOATS, 19);
    uint8_t *planes = malloc(4 * n);
    ck_assert_ptr_nonnull(planes);
    vs_shuffle4(planes, src, n);
    vs_buf a, b;
    encode(&a, VS_CODEC_ZSTD, -1, src, 4 * n);
    encode(&b, VS_CODEC_ZSTD, -1, planes, 4 * n);
    ck_assert_uint_lt(b.len, a.len);
    vs_buf_dispose(&a);
    vs_buf_dispose(&b);
    free(planes);
    free(src);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_codec_table);
    tcase_add_test(tc, test_codec_levels);
    tcase_add_test(tc, test_codec_detect_and_suffix);
    tcase_add_test(tc, test_codec_constructors_reject_bad_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_round_trip_every_codec_level_size);
    tcase_add_test(tc, test_compressible_data_shrinks);
    tcase_add_test(tc, test_small_writes_compress_like_large_ones);
    tcase_add_test(tc, test_writers_pass_large_chunks);
    tcase_add_test(tc, test_output_readable_by_standard_tools);
    tcase_add_test(tc, test_concatenated_gzip_members_and_zstd_frames);
    suite_add_tcase(s, tc);

    tc = tcase_create("broken_input");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_trailing_garbage_is_corrupt);
    tcase_add_test(tc, test_truncated_input_is_corrupt_at_every_length);
    tcase_add_test(tc, test_byte_flips_never_crash);
    tcase_add_test(tc, test_garbage_input_is_corrupt);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits_and_failures");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_compression_bomb_refused);
    tcase_add_test(tc, test_cap_allows_exactly_max);
    tcase_add_test(tc, test_writer_over_failing_stream_reports_eio);
    tcase_add_test(tc, test_reader_over_failing_stream_reports_eio);
    suite_add_tcase(s, tc);

    tc = tcase_create("shuffle");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_shuffle_layout_and_round_trip);
    tcase_add_test(tc, test_shuffle_groups_float_exponents);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
