/*
 * test_snapshot: the snapshot catalog (snapshot.c) and its manifests
 * (manifest.c): create/list/get/load round trips in every format, ids,
 * validation before any path is built, crash leftovers, imports (ours and
 * ruvector-extensions files) that keep nothing when they fail, verification
 * of damaged files, CURRENT, and SHA256SUMS read by the real sha256sum.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "manifest.h"
#include "snapshot.h"
#include "testutil.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define RUV_DIR TEST_DATA_DIR "/ruvector/"

/* ---- helpers ---- */

typedef struct env {
    char *root;    /* the test's temporary directory */
    char *data;    /* root/data: the catalog's directory */
    char *snapdir; /* data/snapshots */
    char *tmpdir;  /* data/tmp */
    vs_catalog *cat;
} env;

static void env_open(env *e)
{
    memset(e, 0, sizeof(*e));
    e->root = vs_test_tmpdir_new();
    e->data = vs_test_path(e->root, "data");
    e->snapdir = vs_test_path(e->data, "snapshots");
    e->tmpdir = vs_test_path(e->data, "tmp");
    int error = vs_catalog_open(&e->cat, e->data);
    ck_assert_msg(error == 0, "%s", vs_error_last());
}

static void env_close(env *e)
{
    vs_catalog_free(e->cat);
    free(e->snapdir);
    free(e->tmpdir);
    free(e->data);
    vs_test_tmpdir_free(e->root);
}

/* The catalog shows nothing and keeps nothing. */
static void assert_empty(env *e)
{
    vs_snapshot *list = NULL;
    size_t n = 99;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e->cat), 0);
    ck_assert_uint_eq(n, 0);
    free(list);
    ck_assert_uint_eq(vs_test_dir_count(e->snapdir), 0);
    ck_assert_uint_eq(vs_test_dir_count(e->tmpdir), 0);
}

static char *snap_file(const env *e, const char *id, const char *name)
{
    char *dir = vs_test_path(e->snapdir, id);
    char *p = vs_test_path(dir, name);
    free(dir);
    return p;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(size_t *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap + 1);
            ck_assert_ptr_nonnull(buf);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (got == 0)
            break;
        len += got;
    }
    fclose(f);
    buf[len] = '\0';
    *n = len;
    return buf;
}

static void flip_byte(const char *path, size_t at)
{
    size_t n;
    char *buf = read_file(&n, path);
    ck_assert_uint_lt(at, n);
    buf[at] ^= 0x10;
    write_file(path, buf, n);
    free(buf);
}

static vs_store *sample_store(void)
{
    vs_store *st =
        vs_test_random_store("alpha", 40, 8, VS_METRIC_COSINE, true, 7);
    vs_store *other =
        vs_test_random_store("beta", 25, 3, VS_METRIC_EUCLIDEAN, false, 9);
    vs_store_merge_take(st, other);
    vs_store_free(other);
    return st;
}

static vs_snapshot create(env *e, vs_store *st, const char *name,
                          vs_format_id format, vs_codec_id codec)
{
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = format;
    o.codec = codec;
    vs_snapshot s;
    int error = vs_catalog_create(&s, e->cat, st, name, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    return s;
}

/* A whole file as it would be uploaded. */
static void save_to_buf(vs_buf *b, vs_store *st, vs_format_id format,
                        vs_codec_id codec)
{
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = format;
    o.codec = codec;
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, b), 0);
    int error = vs_fmt_save_stream(NULL, w, st, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream_free(w);
}

static int import_bytes(vs_snapshot *out, env *e, const void *data, size_t n,
                        const char *hint, uint64_t max)
{
    vs_stream *r = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, data, n), 0);
    int error = vs_catalog_import(out, e->cat, r, "up", hint, max);
    vs_stream_free(r);
    return error;
}

static void assert_loads_equal(env *e, const char *id, vs_store *want)
{
    vs_store *got = NULL;
    vs_file_info info;
    int error = vs_catalog_load(&got, &info, e->cat, id, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    char why[256];
    ck_assert_msg(vs_test_store_equal(want, got, true, why, sizeof(why)), "%s",
                  why);
    ck_assert(info.content_verified);
    vs_store_free(got);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time an id carries ("20261124T220055.123Z-..."), via the RFC 3339
 * parser. */
static int64_t id_time(const char *id)
{
    char text[VS_MANIFEST_TIME_LEN + 1];
    snprintf(text, sizeof(text), "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s.%.3sZ", id,
             id + 4, id + 6, id + 9, id + 11, id + 13, id + 16);
    int64_t ms = -1;
    ck_assert_int_eq(vs_manifest_time_parse(&ms, text), 0);
    return ms;
}

/* ---- tests ---- */

START_TEST(create_then_list_get_and_load_round_trip_bit_exact)
{
    static const struct {
        vs_format_id format;
        vs_codec_id codec;
        const char *file;
    } cases[] = {
        {VS_FORMAT_BIN, VS_CODEC_NONE, "data.vsnap"},
        {VS_FORMAT_JSON, VS_CODEC_GZIP, "data.json.gz"},
        {VS_FORMAT_SQLITE, VS_CODEC_ZSTD, "data.sqlite.zst"},
        {VS_FORMAT_BIN, VS_CODEC_BROTLI, "data.vsnap.br"},
        {VS_FORMAT_SQLITE, VS_CODEC_NONE, "data.sqlite"},
    };
    const size_t ncases = sizeof(cases) / sizeof(cases[0]);
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    char ids[8][VS_SNAPSHOT_ID_LEN + 1];
    for (size_t i = 0; i < ncases; i++) {
        vs_snapshot s = create(&e, st, i == 0 ? "first" : NULL, cases[i].format,
                               cases[i].codec);
        memcpy(ids[i], s.id, sizeof(s.id));
        ck_assert_str_eq(s.file, cases[i].file);
        ck_assert_str_eq(s.origin, "save");
        ck_assert_str_eq(s.kind, "full");
        ck_assert_str_eq(s.name, i == 0 ? "first" : "");
        ck_assert_int_eq(s.format, cases[i].format);
        ck_assert_int_eq(s.codec, cases[i].codec);
        ck_assert_uint_eq(s.records, 65);
        ck_assert_uint_eq(s.seq, vs_store_seq(st));
        ck_assert(s.content_verified);
        ck_assert_uint_eq(s.ncollections, 2);
        ck_assert_str_eq(s.collections[0].name, "alpha");
        ck_assert_uint_eq(s.collections[0].dimension, 8);
        ck_assert_uint_eq(s.collections[0].count, 40);
        ck_assert_str_eq(s.collections[1].name, "beta");
        ck_assert_int_eq(s.collections[1].metric, VS_METRIC_EUCLIDEAN);
        /* the directory holds exactly the three files, sizes as said */
        char *dir = vs_test_path(e.snapdir, s.id);
        ck_assert_uint_eq(vs_test_dir_count(dir), 3);
        char *data = NULL;
        ck_assert_int_eq(vs_catalog_data_path(&data, e.cat, &s), 0);
        struct stat sb;
        ck_assert_int_eq(stat(data, &sb), 0);
        ck_assert_uint_eq((uint64_t)sb.st_size, s.bytes);
        uint8_t digest[VS_SHA256_LEN];
        ck_assert_int_eq(vs_sha256_file(digest, NULL, data), 0);
        ck_assert(vs_sha256_equal(digest, s.sha256));
        free(data);
        free(dir);

        vs_snapshot g;
        ck_assert_int_eq(vs_catalog_get(&g, e.cat, s.id), 0);
        ck_assert_str_eq(g.id, s.id);
        ck_assert_int_eq(g.created_ms, s.created_ms);
        ck_assert_uint_eq(g.bytes, s.bytes);
        ck_assert_mem_eq(g.sha256, s.sha256, VS_SHA256_LEN);
        ck_assert_uint_eq(g.ncollections, 2);
        vs_snapshot_dispose(&g);
        vs_snapshot_dispose(&s);
        assert_loads_equal(&e, ids[i], st);
    }
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, ncases);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(list[i].id, ids[i]); /* oldest first */
        vs_snapshot_dispose(&list[i]);
    }
    free(list);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(ids_sort_by_time_and_are_unique_under_rapid_creation)
{
    env e;
    env_open(&e);
    enum { N = 300 };
    vs_pending *p[N];
    int64_t start = now_ms();
    for (int i = 0; i < N; i++) {
        int error =
            vs_catalog_begin(&p[i], e.cat, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
        ck_assert_msg(error == 0, "%s", vs_error_last());
        const char *id = vs_pending_id(p[i]);
        ck_assert_int_eq(vs_snapshot_check_id(id), 0);
        if (i > 0)
            ck_assert_msg(strcmp(vs_pending_id(p[i - 1]), id) < 0, "%s then %s",
                          vs_pending_id(p[i - 1]), id);
    }
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), N);
    /* the id's time is the UTC time of its creation, to the millisecond */
    int64_t first = id_time(vs_pending_id(p[0]));
    ck_assert_int_ge(first, start);
    ck_assert_int_le(first, now_ms());
    for (int i = 0; i < N; i++)
        vs_catalog_abort(p[i]);
    assert_empty(&e);
    env_close(&e);
}
END_TEST

START_TEST(list_is_oldest_first_and_ids_carry_the_creation_time)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 3, 2, VS_METRIC_DOT, false, 1);
    int64_t start = now_ms();
    vs_snapshot a = create(&e, st, "a", VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot b = create(&e, st, "b", VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot c = create(&e, st, "c", VS_FORMAT_JSON, VS_CODEC_NONE);
    ck_assert_int_ge(a.created_ms, start);
    ck_assert_int_le(c.created_ms, now_ms());
    ck_assert_int_lt(a.created_ms, b.created_ms);
    ck_assert_int_lt(b.created_ms, c.created_ms);
    ck_assert_int_eq(id_time(a.id), a.created_ms); /* id and created agree */
    ck_assert_int_eq(id_time(c.id), c.created_ms);
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0].name, "a");
    ck_assert_str_eq(list[1].name, "b");
    ck_assert_str_eq(list[2].name, "c");
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&list[i]);
    free(list);
    vs_snapshot_dispose(&a);
    vs_snapshot_dispose(&b);
    vs_snapshot_dispose(&c);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(bad_ids_are_invalid_before_touching_the_file_system)
{
    static const char *const bad[] = {
        "",
        "../x",
        "../victim",
        "20261124T220055.123Z-1a2b3c0", /* too long */
        "20261124T220055.123Z-1a2b3",   /* too short */
        "20261124T220055.123Z-1A2B3C",  /* uppercase hex */
        "20261124T220055.123Z_1a2b3c",  /* wrong separator */
        "20261124T220055123Z--1a2b3c",  /* no dot */
        "2026112xT220055.123Z-1a2b3c",  /* letter in the date */
        "20261124T220055.123Z-1a2b3g",  /* not hex */
        "20261124T220055.123Z-/../..",
        "/etc/passwd",
    };
    env e;
    env_open(&e);
    /* a victim beside the snapshots directory */
    char *victim_dir = vs_test_path(e.data, "victim");
    ck_assert_int_eq(mkdir(victim_dir, 0755), 0);
    char *inner = vs_test_path(victim_dir, "manifest.json");
    write_file(inner, "{}", 2);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *id = bad[i];
        vs_snapshot s;
        vs_store *st = NULL;
        char cur[VS_SNAPSHOT_ID_LEN + 1];
        ck_assert_int_eq(vs_snapshot_check_id(id), VS_EINVALID);
        ck_assert_int_eq(vs_catalog_get(&s, e.cat, id), VS_EINVALID);
        ck_assert_int_eq(vs_catalog_delete(e.cat, id), VS_EINVALID);
        ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, id), VS_EINVALID);
        ck_assert_int_eq(vs_catalog_load(&st, NULL, e.cat, id, NULL, NULL),
                         VS_EINVALID);
        ck_assert_ptr_null(st);
        ck_assert_int_eq(vs_catalog_set_current(e.cat, id), VS_EINVALID);
        ck_assert_int_eq(vs_catalog_current(cur, e.cat), VS_ENOTFOUND);
    }
    ck_assert_int_eq(vs_snapshot_check_id(NULL), VS_EINVALID);
    struct stat sb;
    ck_assert_int_eq(stat(inner, &sb), 0);           /* nothing was removed */
    ck_assert_uint_eq(vs_test_dir_count(e.data), 4); /* + LOCK */
    /* a well-formed id that does not exist is a different answer */
    vs_snapshot s;
    ck_assert_int_eq(vs_catalog_get(&s, e.cat, "20261124T220055.123Z-1a2b3c"),
                     VS_ENOTFOUND);
    ck_assert_int_eq(vs_catalog_delete(e.cat, "20261124T220055.123Z-1a2b3c"),
                     VS_ENOTFOUND);
    free(inner);
    free(victim_dir);
    env_close(&e);
}
END_TEST

START_TEST(delete_makes_a_snapshot_vanish_and_leaves_nothing)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot keep = create(&e, st, "keep", VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot s = create(&e, st, "gone", VS_FORMAT_JSON, VS_CODEC_ZSTD);
    ck_assert_int_eq(vs_catalog_delete(e.cat, s.id), 0);
    vs_snapshot g;
    ck_assert_int_eq(vs_catalog_get(&g, e.cat, s.id), VS_ENOTFOUND);
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), VS_ENOTFOUND);
    ck_assert_int_eq(vs_catalog_delete(e.cat, s.id), VS_ENOTFOUND);
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, keep.id);
    vs_snapshot_dispose(&list[0]);
    free(list);
    ck_assert_uint_eq(vs_test_dir_count(e.snapdir), 1);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    ck_assert_int_eq(vs_catalog_delete(e.cat, keep.id), 0);
    assert_empty(&e);
    vs_snapshot_dispose(&s);
    vs_snapshot_dispose(&keep);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(abort_leaves_nothing_in_tmp)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_pending *p = NULL;
    ck_assert_int_eq(
        vs_catalog_begin(&p, e.cat, "x", VS_FORMAT_SQLITE, VS_CODEC_GZIP), 0);
    ck_assert(vs_fs_has_suffix(vs_pending_data_path(p), "/data.sqlite.gz"));
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = VS_FORMAT_SQLITE;
    o.codec = VS_CODEC_GZIP;
    o.tmpdir = vs_catalog_tmpdir(e.cat);
    ck_assert_int_eq(vs_fmt_save_file(NULL, vs_pending_data_path(p), st, &o),
                     0);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 1);
    vs_catalog_abort(p);
    vs_catalog_abort(NULL);
    assert_empty(&e);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(crash_leftovers_are_cleaned_at_open_and_never_listed)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot good = create(&e, st, "good", VS_FORMAT_BIN, VS_CODEC_NONE);
    /* a snapshot directory whose manifest never reached the disk */
    const char *half = "20200101T000000.000Z-abcdef";
    char *half_dir = vs_test_path(e.snapdir, half);
    ck_assert_int_eq(mkdir(half_dir, 0755), 0);
    char *half_data = vs_test_path(half_dir, "data.vsnap");
    write_file(half_data, "partial", 7);
    /* while the catalog runs it is not listed, not found, not current */
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, good.id);
    vs_snapshot_dispose(&list[0]);
    free(list);
    vs_snapshot g;
    ck_assert_int_eq(vs_catalog_get(&g, e.cat, half), VS_ENOTFOUND);
    ck_assert_int_eq(vs_catalog_set_current(e.cat, half), VS_ENOTFOUND);
    /* leftovers in tmp/ and of a CURRENT update */
    char *work = vs_test_path(e.tmpdir, "20200101T000000.001Z-000000");
    ck_assert_int_eq(mkdir(work, 0755), 0);
    char *deep = vs_test_path(work, "sub");
    ck_assert_int_eq(mkdir(deep, 0755), 0);
    char *f1 = vs_test_path(deep, ".data.vsnap.tmp-123456");
    write_file(f1, "x", 1);
    char *f2 = vs_test_path(e.tmpdir, ".vecsnap-load-abc");
    write_file(f2, "y", 1);
    char *f3 = vs_test_path(e.data, ".CURRENT.tmp-q1w2e3");
    write_file(f3, "z", 1);
    /* a stray file in snapshots/ that is not ours stays */
    char *stray = vs_test_path(e.snapdir, "README");
    write_file(stray, "mine", 4);
    /* a second catalog on the same directory is refused */
    vs_catalog *again = NULL;
    ck_assert_int_eq(vs_catalog_open(&again, e.data), VS_EBUSY);
    ck_assert_ptr_null(again);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 2);

    vs_catalog_free(e.cat);
    int error = vs_catalog_open(&e.cat, e.data);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    struct stat sb;
    ck_assert_int_eq(stat(half_dir, &sb), -1);
    ck_assert_int_eq(stat(f3, &sb), -1);
    ck_assert_int_eq(stat(stray, &sb), 0);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    ck_assert_uint_eq(vs_test_dir_count(e.snapdir), 2);
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, good.id);
    vs_snapshot_dispose(&list[0]);
    free(list);
    assert_loads_equal(&e, good.id, st);
    free(stray);
    free(f1);
    free(f2);
    free(f3);
    free(deep);
    free(work);
    free(half_data);
    free(half_dir);
    vs_snapshot_dispose(&good);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(an_unreadable_manifest_is_skipped_by_list)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 3, 2, VS_METRIC_DOT, false, 1);
    vs_snapshot a = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot b = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    char *man = snap_file(&e, a.id, "manifest.json");
    write_file(man, "{\"id\": 3", 8);
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, b.id);
    vs_snapshot_dispose(&list[0]);
    free(list);
    vs_snapshot g;
    ck_assert_int_eq(vs_catalog_get(&g, e.cat, a.id), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), a.id));
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, a.id), VS_ECORRUPT);
    free(man);
    vs_snapshot_dispose(&a);
    vs_snapshot_dispose(&b);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(import_of_each_format_is_listed_as_upload)
{
    static const struct {
        vs_format_id format;
        vs_codec_id codec;
        const char *hint;
        const char *file;
    } cases[] = {
        {VS_FORMAT_BIN, VS_CODEC_NONE, NULL, "data.vsnap"},
        {VS_FORMAT_JSON, VS_CODEC_NONE, "db.json", "data.json"},
        {VS_FORMAT_SQLITE, VS_CODEC_NONE, NULL, "data.sqlite"},
        {VS_FORMAT_JSON, VS_CODEC_GZIP, NULL, "data.json.gz"},
        {VS_FORMAT_BIN, VS_CODEC_BROTLI, "x.br", "data.vsnap.br"},
        {VS_FORMAT_JSON, VS_CODEC_BROTLI, NULL, "data.json.br"},
        {VS_FORMAT_SQLITE, VS_CODEC_ZSTD, NULL, "data.sqlite.zst"},
    };
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_buf b = VS_BUF_INIT(64u << 20);
        save_to_buf(&b, st, cases[i].format, cases[i].codec);
        vs_snapshot s;
        int error = import_bytes(&s, &e, b.ptr, b.len, cases[i].hint, 0);
        ck_assert_msg(error == 0, "case %zu: %s", i, vs_error_last());
        ck_assert_str_eq(s.origin, "upload");
        ck_assert_str_eq(s.name, "up");
        ck_assert_str_eq(s.file, cases[i].file);
        ck_assert_int_eq(s.format, cases[i].format);
        ck_assert_int_eq(s.codec, cases[i].codec);
        ck_assert_uint_eq(s.bytes, b.len);
        uint8_t digest[VS_SHA256_LEN];
        ck_assert_int_eq(vs_sha256_buffer(digest, b.ptr, b.len), 0);
        ck_assert(vs_sha256_equal(digest, s.sha256));
        ck_assert(s.content_verified);
        ck_assert_uint_eq(s.records, 65);
        ck_assert_uint_eq(s.seq, vs_store_seq(st));
        ck_assert_uint_eq(s.ncollections, 2);
        ck_assert_uint_eq(s.collections[1].count, 25);
        /* stored byte for byte as uploaded */
        char *path = NULL;
        ck_assert_int_eq(vs_catalog_data_path(&path, e.cat, &s), 0);
        size_t n;
        char *stored = read_file(&n, path);
        ck_assert_uint_eq(n, b.len);
        ck_assert_mem_eq(stored, b.ptr, n);
        free(stored);
        free(path);
        vs_snapshot g;
        ck_assert_int_eq(vs_catalog_get(&g, e.cat, s.id), 0);
        ck_assert_str_eq(g.origin, "upload");
        vs_snapshot_dispose(&g);
        assert_loads_equal(&e, s.id, st);
        ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), 0);
        vs_snapshot_dispose(&s);
        vs_buf_dispose(&b);
        ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    }
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(import_of_ruvector_files_is_kept_unverified)
{
    static const struct {
        const char *name;
        vs_codec_id codec;
        const char *file;
    } cases[] = {
        {"database.json", VS_CODEC_NONE, "data.ruvector.json"},
        {"database.json.gzip", VS_CODEC_GZIP, "data.ruvector.json.gz"},
        {"database.json.brotli", VS_CODEC_BROTLI, "data.ruvector.json.br"},
        {"database.bin", VS_CODEC_NONE, "data.ruvector.json"},
        {"database.bin.gzip", VS_CODEC_GZIP, "data.ruvector.json.gz"},
        {"snapshots/3f8e4c1a-6b2d-4e8f-9a7c-1d2e3f4a5b6c.json", VS_CODEC_NONE,
         "data.ruvector.json"},
    };
    struct stat sb;
    if (stat(RUV_DIR "database.json", &sb) < 0)
        return; /* fixtures not present in this tree */
    env e;
    env_open(&e);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s%s", RUV_DIR, cases[i].name);
        size_t n;
        char *data = read_file(&n, path);
        vs_snapshot s;
        int error = import_bytes(&s, &e, data, n, cases[i].name, 0);
        ck_assert_msg(error == 0, "%s: %s", cases[i].name, vs_error_last());
        ck_assert_int_eq(s.format, VS_FORMAT_RUVECTOR);
        ck_assert_int_eq(s.codec, cases[i].codec);
        ck_assert_str_eq(s.file, cases[i].file);
        ck_assert(!s.content_verified);
        ck_assert_str_eq(s.origin, "upload");
        ck_assert_uint_eq(s.ncollections, 1);
        ck_assert_str_eq(s.collections[0].name, "default");
        ck_assert_uint_eq(s.collections[0].dimension, 4);
        ck_assert_uint_eq(s.collections[0].count, 3);
        ck_assert_uint_eq(s.bytes, n);
        /* the manifest's own sha256 is what verify checks for these */
        vs_file_info info;
        error = vs_catalog_verify(&info, e.cat, s.id);
        ck_assert_msg(error == 0, "%s", vs_error_last());
        ck_assert(!info.content_verified);
        vs_store *st = NULL;
        ck_assert_int_eq(vs_catalog_load(&st, NULL, e.cat, s.id, NULL, NULL),
                         0);
        ck_assert_uint_eq(vs_store_nrecords(st), 3);
        vs_store_free(st);
        vs_snapshot g;
        ck_assert_int_eq(vs_catalog_get(&g, e.cat, s.id), 0);
        ck_assert_int_eq(g.format, VS_FORMAT_RUVECTOR);
        vs_snapshot_dispose(&g);
        vs_snapshot_dispose(&s);
        free(data);
    }
    /* a snapshot description is not a state file */
    size_t n;
    char *meta = read_file(
        &n, RUV_DIR "snapshots/3f8e4c1a-6b2d-4e8f-9a7c-1d2e3f4a5b6c.meta.json");
    vs_snapshot s;
    ck_assert_int_eq(import_bytes(&s, &e, meta, n, "x.meta.json", 0),
                     VS_ECORRUPT);
    free(meta);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    env_close(&e);
}
END_TEST

START_TEST(import_of_corrupt_or_truncated_data_keeps_nothing)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_buf bin = VS_BUF_INIT(64u << 20), gz = VS_BUF_INIT(64u << 20);
    vs_buf sq = VS_BUF_INIT(64u << 20), js = VS_BUF_INIT(64u << 20);
    save_to_buf(&bin, st, VS_FORMAT_BIN, VS_CODEC_NONE);
    save_to_buf(&gz, st, VS_FORMAT_JSON, VS_CODEC_GZIP);
    save_to_buf(&sq, st, VS_FORMAT_SQLITE, VS_CODEC_NONE);
    save_to_buf(&js, st, VS_FORMAT_JSON, VS_CODEC_NONE);
    char *flipped = malloc(bin.len);
    ck_assert_ptr_nonnull(flipped);
    memcpy(flipped, bin.ptr, bin.len);
    flipped[bin.len / 2] ^= 0x01;
    char *jflip = malloc(js.len);
    ck_assert_ptr_nonnull(jflip);
    memcpy(jflip, js.ptr, js.len);
    char *digit = strstr(jflip, "\"n\":1");
    ck_assert_ptr_nonnull(digit);
    digit[4] = '2'; /* still valid JSON, wrong checksum */
    static const char garbage[] = "this is not a database at all";
    const struct {
        const char *what;
        const void *data;
        size_t n;
    } cases[] = {
        {"flipped binary", flipped, bin.len},
        {"truncated binary", bin.ptr, bin.len - 10},
        {"binary header only", bin.ptr, 12},
        {"truncated gzip", gz.ptr, gz.len / 2},
        {"truncated sqlite", sq.ptr, sq.len - 4096},
        {"edited json", jflip, js.len},
        {"truncated json", js.ptr, js.len - 3},
        {"garbage", garbage, sizeof(garbage) - 1},
        {"empty", "", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_snapshot s;
        int error = import_bytes(&s, &e, cases[i].data, cases[i].n, NULL, 0);
        ck_assert_msg(error == VS_ECORRUPT, "%s: %d %s", cases[i].what, error,
                      vs_error_last());
        ck_assert_str_eq(s.id, "");
        ck_assert_ptr_null(s.collections);
        assert_empty(&e);
    }
    /* a failing upload stream keeps nothing either */
    vs_stream *mem = NULL, *failing = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, bin.ptr, bin.len), 0);
    ck_assert_int_eq(vs_stream_failing_new(&failing, mem, false, 100), 0);
    vs_snapshot s;
    ck_assert_int_eq(vs_catalog_import(&s, e.cat, failing, NULL, NULL, 0),
                     VS_EIO);
    vs_stream_free(failing);
    vs_stream_free(mem);
    assert_empty(&e);
    /* a bad name is refused before anything is read */
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, bin.ptr, bin.len), 0);
    ck_assert_int_eq(vs_catalog_import(&s, e.cat, mem, "bad\nname", NULL, 0),
                     VS_EINVALID);
    vs_stream_free(mem);
    assert_empty(&e);
    free(flipped);
    free(jflip);
    vs_buf_dispose(&bin);
    vs_buf_dispose(&gz);
    vs_buf_dispose(&sq);
    vs_buf_dispose(&js);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(import_larger_than_max_bytes_is_too_big_and_keeps_nothing)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_buf bin = VS_BUF_INIT(64u << 20);
    save_to_buf(&bin, st, VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot s;
    ck_assert_int_eq(import_bytes(&s, &e, bin.ptr, bin.len, NULL, bin.len - 1),
                     VS_ETOOBIG);
    assert_empty(&e);
    /* exactly at the cap is fine */
    int error = import_bytes(&s, &e, bin.ptr, bin.len, NULL, bin.len);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_int_eq(vs_catalog_delete(e.cat, s.id), 0);
    vs_snapshot_dispose(&s);
    assert_empty(&e);
    /* a small compressed upload that expands past the cap */
    vs_store *big =
        vs_test_random_store("z", 2000, 16, VS_METRIC_DOT, false, 3);
    vs_buf zb = VS_BUF_INIT(64u << 20);
    save_to_buf(&zb, big, VS_FORMAT_JSON, VS_CODEC_ZSTD);
    ck_assert_uint_lt(zb.len, 200000);
    ck_assert_int_eq(import_bytes(&s, &e, zb.ptr, zb.len, NULL, 200000),
                     VS_ETOOBIG);
    assert_empty(&e);
    vs_buf_dispose(&zb);
    vs_store_free(big);
    vs_buf_dispose(&bin);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(verify_detects_a_flipped_byte_in_the_data_file)
{
    static const struct {
        vs_format_id format;
        vs_codec_id codec;
    } cases[] = {{VS_FORMAT_BIN, VS_CODEC_NONE},
                 {VS_FORMAT_JSON, VS_CODEC_NONE},
                 {VS_FORMAT_SQLITE, VS_CODEC_GZIP}};
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_snapshot s = create(&e, st, NULL, cases[i].format, cases[i].codec);
        ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), 0);
        char *path = NULL;
        ck_assert_int_eq(vs_catalog_data_path(&path, e.cat, &s), 0);
        flip_byte(path, (size_t)s.bytes / 2);
        int error = vs_catalog_verify(NULL, e.cat, s.id);
        ck_assert_int_eq(error, VS_ECORRUPT);
        ck_assert_msg(strstr(vs_error_last(), s.id) &&
                          strstr(vs_error_last(), "sha256"),
                      "%s", vs_error_last());
        vs_store *got = NULL;
        ck_assert_int_eq(vs_catalog_load(&got, NULL, e.cat, s.id, NULL, NULL),
                         VS_ECORRUPT);
        ck_assert_ptr_null(got);
        free(path);
        vs_snapshot_dispose(&s);
    }
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

/* Rewrites a snapshot's manifest with `key` set to `value` (stolen). */
static void edit_manifest(env *e, const char *id, const char *key,
                          json_t *value)
{
    char *man = snap_file(e, id, "manifest.json");
    json_error_t err;
    json_t *j = json_load_file(man, 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_object_set_new(j, key, value), 0);
    ck_assert_int_eq(json_dump_file(j, man, JSON_INDENT(2)), 0);
    json_decref(j);
    free(man);
}

START_TEST(verify_detects_a_manifest_that_disagrees_with_the_file)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot s = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_ZSTD);
    edit_manifest(&e, s.id, "bytes", json_integer((json_int_t)s.bytes + 1));
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), s.id));
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "bytes"));
    edit_manifest(&e, s.id, "bytes", json_integer((json_int_t)s.bytes));
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), 0);

    /* same size, other digest */
    char hex[VS_SHA256_HEX_LEN + 1];
    uint8_t other[VS_SHA256_LEN];
    memcpy(other, s.sha256, sizeof(other));
    other[0] ^= 1;
    vs_sha256_hex(hex, other);
    edit_manifest(&e, s.id, "sha256", json_string(hex));
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "sha256"));
    vs_sha256_hex(hex, s.sha256);
    edit_manifest(&e, s.id, "sha256", json_string(hex));

    /* counts that add up but are not what the file holds */
    json_t *cols = json_array();
    json_array_append_new(cols, json_pack("{s:s,s:i,s:s,s:i}", "name", "alpha",
                                          "dimension", 8, "metric", "cosine",
                                          "count", 41));
    json_array_append_new(cols, json_pack("{s:s,s:i,s:s,s:i}", "name", "beta",
                                          "dimension", 3, "metric", "euclidean",
                                          "count", 25));
    edit_manifest(&e, s.id, "collections", cols);
    edit_manifest(&e, s.id, "records", json_integer(66));
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "records"));
    /* the data file removed behind the catalog's back */
    edit_manifest(&e, s.id, "records", json_integer(65));
    json_t *fixed = json_array();
    json_array_append_new(fixed, json_pack("{s:s,s:i,s:s,s:i}", "name", "alpha",
                                           "dimension", 8, "metric", "cosine",
                                           "count", 40));
    json_array_append_new(fixed, json_pack("{s:s,s:i,s:s,s:i}", "name", "beta",
                                           "dimension", 3, "metric",
                                           "euclidean", "count", 25));
    edit_manifest(&e, s.id, "collections", fixed);
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), 0);
    char *data = snap_file(&e, s.id, s.file);
    ck_assert_int_eq(unlink(data), 0);
    ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, s.id), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "missing"));
    free(data);
    vs_snapshot_dispose(&s);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

static vs_snapshot sample_manifest(void)
{
    vs_snapshot s;
    memset(&s, 0, sizeof(s));
    snprintf(s.id, sizeof(s.id), "20261124T220055.123Z-1a2b3c");
    snprintf(s.name, sizeof(s.name), "nightly \xe2\x98\x95");
    /* 2026-11-24T22:00:55.123Z */
    s.created_ms = 1795557655123LL;
    snprintf(s.kind, sizeof(s.kind), "full");
    snprintf(s.origin, sizeof(s.origin), "upload");
    s.format = VS_FORMAT_JSON;
    s.codec = VS_CODEC_BROTLI;
    s.bytes = 123456789012LL;
    for (int i = 0; i < VS_SHA256_LEN; i++)
        s.sha256[i] = (uint8_t)(i * 7 + 1);
    s.content_verified = true;
    s.seq = 42;
    s.records = 10;
    snprintf(s.file, sizeof(s.file), "data.json.br");
    s.ncollections = 2;
    s.collections = calloc(2, sizeof(*s.collections));
    ck_assert_ptr_nonnull(s.collections);
    snprintf(s.collections[0].name, sizeof(s.collections[0].name), "a.b-c");
    s.collections[0].dimension = 65536;
    s.collections[0].metric = VS_METRIC_DOT;
    s.collections[0].count = 7;
    snprintf(s.collections[1].name, sizeof(s.collections[1].name), "z");
    s.collections[1].dimension = 1;
    s.collections[1].metric = VS_METRIC_COSINE;
    s.collections[1].count = 3;
    return s;
}

START_TEST(manifest_json_round_trips)
{
    vs_snapshot s = sample_manifest();
    json_t *j = vs_snapshot_to_json(&s);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "created")),
                     "2026-11-24T22:00:55.123Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "format")), "json");
    ck_assert_str_eq(json_string_value(json_object_get(j, "compression")),
                     "brotli");
    char line[160];
    vs_snapshot_sha256_line(line, sizeof(line), &s);
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, s.sha256);
    ck_assert_str_eq(json_string_value(json_object_get(j, "sha256")), hex);
    ck_assert_uint_eq(strlen(line), 64 + 2 + strlen("data.json.br") + 1);
    ck_assert_int_eq(strncmp(line, hex, 64), 0);
    ck_assert_str_eq(line + 64, "  data.json.br\n");
    /* through text and back */
    char *text = json_dumps(j, 0);
    json_decref(j);
    json_error_t err;
    j = json_loads(text, 0, &err);
    free(text);
    vs_snapshot r;
    int error = vs_snapshot_from_json(&r, j);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_str_eq(r.id, s.id);
    ck_assert_str_eq(r.name, s.name);
    ck_assert_int_eq(r.created_ms, s.created_ms);
    ck_assert_str_eq(r.kind, s.kind);
    ck_assert_str_eq(r.origin, s.origin);
    ck_assert_int_eq(r.format, s.format);
    ck_assert_int_eq(r.codec, s.codec);
    ck_assert_uint_eq(r.bytes, s.bytes);
    ck_assert_mem_eq(r.sha256, s.sha256, VS_SHA256_LEN);
    ck_assert(r.content_verified);
    ck_assert_uint_eq(r.seq, s.seq);
    ck_assert_uint_eq(r.records, s.records);
    ck_assert_str_eq(r.file, s.file);
    ck_assert_uint_eq(r.ncollections, 2);
    ck_assert_mem_eq(r.collections, s.collections, 2 * sizeof(*s.collections));
    vs_snapshot_dispose(&r);
    ck_assert_ptr_null(r.collections);
    /* unnamed: null in JSON, "" in the struct; unknown fields ignored */
    s.name[0] = '\0';
    json_decref(j);
    j = vs_snapshot_to_json(&s);
    ck_assert(json_is_null(json_object_get(j, "name")));
    json_object_set_new(j, "later_field", json_true());
    ck_assert_int_eq(vs_snapshot_from_json(&r, j), 0);
    ck_assert_str_eq(r.name, "");
    vs_snapshot_dispose(&r);
    json_decref(j);
    vs_snapshot_dispose(&s);
}
END_TEST

START_TEST(manifest_with_a_missing_or_ill_typed_field_is_corrupt)
{
    static const char *const keys[] = {
        "id",     "name",        "created", "kind",       "origin",
        "format", "compression", "bytes",   "sha256",     "content_verified",
        "seq",    "records",     "file",    "collections"};
    vs_snapshot s = sample_manifest();
    json_t *good = vs_snapshot_to_json(&s);
    vs_snapshot_dispose(&s);
    vs_snapshot r;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *j = json_deep_copy(good);
        json_object_del(j, keys[i]);
        ck_assert_int_eq(vs_snapshot_from_json(&r, j), VS_ECORRUPT);
        ck_assert_msg(strstr(vs_error_last(), keys[i]), "%s: %s", keys[i],
                      vs_error_last());
        ck_assert_ptr_null(r.collections);
        /* the wrong type: a number where a string is, and vice versa */
        json_t *v = json_object_get(good, keys[i]);
        json_object_set_new(j, keys[i],
                            json_is_string(v) || json_is_null(v)
                                ? json_integer(1)
                                : json_string("1"));
        ck_assert_int_eq(vs_snapshot_from_json(&r, j), VS_ECORRUPT);
        ck_assert_msg(strstr(vs_error_last(), keys[i]), "%s: %s", keys[i],
                      vs_error_last());
        json_decref(j);
    }
    static const struct {
        const char *key;
        const char *json;
    } bad[] = {
        {"id", "\"../../etc\""},
        {"name", "\"\""},
        {"name", "\"a\\u0001b\""},
        {"created", "\"2026-02-30T00:00:00.000Z\""},
        {"created", "\"2026-11-24 22:00:55Z\""},
        {"kind", "\"partial\""},
        {"origin", "\"elsewhere\""},
        {"format", "\"parquet\""},
        {"compression", "\"br\""},
        {"bytes", "-1"},
        {"bytes", "1.5"},
        {"sha256", "\"abcd\""},
        {"content_verified", "0"},
        {"file", "\"../../../etc/passwd\""},
        {"file", "\"data.vsnap\""},
        {"records", "11"},
        {"collections", "[{\"name\":\"a\",\"dimension\":0,\"metric\":"
                        "\"dot\",\"count\":10}]"},
        {"collections", "[{\"name\":\"a\",\"dimension\":3,\"metric\":"
                        "\"hamming\",\"count\":10}]"},
        {"collections", "[{\"name\":\"a/b\",\"dimension\":3,\"metric\":"
                        "\"dot\",\"count\":10}]"},
        {"collections", "[{\"name\":\"a\",\"dimension\":3,\"metric\":"
                        "\"dot\",\"count\":5},{\"name\":\"a\",\"dimension\":"
                        "3,\"metric\":\"dot\",\"count\":5}]"},
        {"collections", "[7]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *j = json_deep_copy(good);
        json_error_t err;
        json_t *v = json_loads(bad[i].json, JSON_DECODE_ANY, &err);
        ck_assert_ptr_nonnull(v);
        json_object_set_new(j, bad[i].key, v);
        ck_assert_msg(vs_snapshot_from_json(&r, j) == VS_ECORRUPT,
                      "%s = %s accepted", bad[i].key, bad[i].json);
        ck_assert_ptr_null(r.collections);
        json_decref(j);
    }
    json_t *j = json_deep_copy(good);
    json_object_set_new(j, "manifest_version", json_integer(2));
    ck_assert_int_eq(vs_snapshot_from_json(&r, j), VS_EVERSION);
    json_decref(j);
    json_t *arr = json_array();
    ck_assert_int_eq(vs_snapshot_from_json(&r, arr), VS_ECORRUPT);
    json_decref(arr);
    ck_assert_int_eq(vs_snapshot_from_json(&r, good), 0);
    vs_snapshot_dispose(&r);
    json_decref(good);
}
END_TEST

START_TEST(names_are_checked)
{
    char longest[VS_SNAPSHOT_NAME_MAX + 2];
    memset(longest, 'n', sizeof(longest));
    longest[VS_SNAPSHOT_NAME_MAX] = '\0';
    ck_assert_int_eq(vs_snapshot_check_name(longest), 0);
    longest[VS_SNAPSHOT_NAME_MAX] = 'n';
    longest[VS_SNAPSHOT_NAME_MAX + 1] = '\0';
    ck_assert_int_eq(vs_snapshot_check_name(longest), VS_EINVALID);
    ck_assert_int_eq(vs_snapshot_check_name("before upgrade"), 0);
    ck_assert_int_eq(vs_snapshot_check_name("caf\xc3\xa9 \xf0\x9f\x93\xb8"), 0);
    static const char *const bad[] = {"",
                                      "tab\there",
                                      "nl\n",
                                      "del\x7f",
                                      "\xff",
                                      "\xc0\xaf",
                                      "\xed\xa0\x80",
                                      "c1\xc2\x85",
                                      "cut\xe2\x98",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(vs_snapshot_check_name(bad[i]) == VS_EINVALID,
                      "bad name %zu accepted", i);
    ck_assert_int_eq(vs_snapshot_check_name(NULL), VS_EINVALID);
    env e;
    env_open(&e);
    vs_pending *p = NULL;
    ck_assert_int_eq(
        vs_catalog_begin(&p, e.cat, "a\x01", VS_FORMAT_BIN, VS_CODEC_NONE),
        VS_EINVALID);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(
        vs_catalog_begin(&p, e.cat, NULL, VS_FORMAT_RUVECTOR, VS_CODEC_NONE),
        VS_EINVALID);
    ck_assert_int_eq(
        vs_catalog_begin(&p, e.cat, NULL, VS_FORMAT_BIN, VS_CODEC_AUTO),
        VS_EINVALID);
    assert_empty(&e);
    env_close(&e);
}
END_TEST

START_TEST(time_stamps_are_rfc3339_utc_with_milliseconds)
{
    char text[VS_MANIFEST_TIME_LEN + 1];
    ck_assert_int_eq(vs_manifest_time_format(text, 0), 0);
    ck_assert_str_eq(text, "1970-01-01T00:00:00.000Z");
    ck_assert_int_eq(vs_manifest_time_format(text, 1795557655123LL), 0);
    ck_assert_str_eq(text, "2026-11-24T22:00:55.123Z");
    int64_t ms = 0;
    ck_assert_int_eq(vs_manifest_time_parse(&ms, "2026-11-24T22:00:55.123Z"),
                     0);
    ck_assert_int_eq(ms, 1795557655123LL);
    ck_assert_int_eq(vs_manifest_time_parse(&ms, "2024-02-29T23:59:59.999Z"),
                     0);
    ck_assert_int_eq(vs_manifest_time_parse(&ms, "2023-02-29T00:00:00.000Z"),
                     VS_EINVALID);
    ck_assert_int_eq(vs_manifest_time_parse(&ms, "2026-11-24T22:00:55Z"),
                     VS_EINVALID);
    ck_assert_int_eq(
        vs_manifest_time_parse(&ms, "2026-11-24T22:00:55.123+01:00"),
        VS_EINVALID);
    ck_assert_int_eq(vs_manifest_time_format(text, -1), VS_EINVALID);
    char id[VS_SNAPSHOT_ID_LEN + 1];
    const uint8_t rnd[3] = {0x1a, 0x2b, 0x3c};
    ck_assert_int_eq(vs_manifest_make_id(id, 1795557655123LL, rnd), 0);
    ck_assert_str_eq(id, "20261124T220055.123Z-1a2b3c");
}
END_TEST

START_TEST(current_is_set_read_and_replaced_atomically)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 3, 2, VS_METRIC_DOT, false, 1);
    char cur[VS_SNAPSHOT_ID_LEN + 1] = "junk";
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), VS_ENOTFOUND);
    ck_assert_str_eq(cur, "");
    vs_snapshot a = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_snapshot b = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    ck_assert_int_eq(vs_catalog_set_current(e.cat, a.id), 0);
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), 0);
    ck_assert_str_eq(cur, a.id);
    char *path = vs_test_path(e.data, "CURRENT");
    struct stat s1, s2;
    ck_assert_int_eq(stat(path, &s1), 0);
    ck_assert_int_eq(vs_catalog_set_current(e.cat, b.id), 0);
    ck_assert_int_eq(stat(path, &s2), 0);
    ck_assert_uint_ne(s1.st_ino, s2.st_ino); /* a new file renamed over */
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), 0);
    ck_assert_str_eq(cur, b.id);
    size_t n;
    char *text = read_file(&n, path);
    ck_assert_uint_eq(n, VS_SNAPSHOT_ID_LEN + 1);
    ck_assert_int_eq(strncmp(text, b.id, VS_SNAPSHOT_ID_LEN), 0);
    ck_assert_int_eq(text[VS_SNAPSHOT_ID_LEN], '\n');
    free(text);
    /* data dir holds exactly CURRENT, LOCK, snapshots, tmp: no temp file */
    ck_assert_uint_eq(vs_test_dir_count(e.data), 4);
    /* a snapshot that is not there cannot become current */
    ck_assert_int_eq(
        vs_catalog_set_current(e.cat, "20000101T000000.000Z-000000"),
        VS_ENOTFOUND);
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), 0);
    ck_assert_str_eq(cur, b.id);
    /* a damaged CURRENT is reported, not trusted */
    write_file(path, "../../etc\n", 10);
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), VS_ECORRUPT);
    ck_assert_str_eq(cur, "");
    free(path);
    vs_snapshot_dispose(&a);
    vs_snapshot_dispose(&b);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(current_with_a_base_seq_round_trips_and_bad_ones_are_corrupt)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 3, 2, VS_METRIC_DOT, false, 1);
    vs_snapshot a = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t seq = 99;
    ck_assert_int_eq(vs_catalog_set_current_at(e.cat, a.id, 4242), 0);
    ck_assert_int_eq(vs_catalog_current_at(cur, &seq, e.cat), 0);
    ck_assert_str_eq(cur, a.id);
    ck_assert_uint_eq(seq, 4242);
    /* the plain reader sees the id alone */
    ck_assert_int_eq(vs_catalog_current(cur, e.cat), 0);
    ck_assert_str_eq(cur, a.id);
    /* seq 0 writes the old one-field form, read back as 0 */
    ck_assert_int_eq(vs_catalog_set_current_at(e.cat, a.id, 0), 0);
    ck_assert_int_eq(vs_catalog_current_at(cur, &seq, e.cat), 0);
    ck_assert_uint_eq(seq, 0);
    char *path = vs_test_path(e.data, "CURRENT");
    size_t n;
    char *text = read_file(&n, path);
    ck_assert_uint_eq(n, VS_SNAPSHOT_ID_LEN + 1);
    free(text);
    static const char *const bad[] = {"  5", " x", " 0", " -1", " 5 6",
                                      " 99999999999999999999", " "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[128];
        int len = snprintf(line, sizeof(line), "%s%s\n", a.id, bad[i]);
        write_file(path, line, (size_t)len);
        seq = 7;
        ck_assert_msg(vs_catalog_current_at(cur, &seq, e.cat) == VS_ECORRUPT,
                      "'%s' was accepted", line);
        ck_assert_str_eq(cur, "");
    }
    free(path);
    vs_snapshot_dispose(&a);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

static int absent(env *e, const char *id)
{
    vs_snapshot s;
    int error = vs_catalog_get(&s, e->cat, id);
    if (error == 0)
        vs_snapshot_dispose(&s);
    return error;
}

/* Move snapshot `id` out of the catalog into root/name, as a fetch from
 * remote storage would have left it. */
static char *take_out(env *e, const char *id, const char *name)
{
    char *from = vs_test_path(e->snapdir, id);
    char *to = vs_test_path(e->tmpdir, name);
    ck_assert_int_eq(rename(from, to), 0);
    free(from);
    return to;
}

START_TEST(adopt_takes_a_checked_directory_under_its_own_id)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot a = create(&e, st, "kept", VS_FORMAT_BIN, VS_CODEC_ZSTD);
    char *dir = take_out(&e, a.id, "fetched");
    ck_assert_int_eq(absent(&e, a.id), VS_ENOTFOUND);
    for (int full = 0; full < 2; full++) {
        vs_snapshot got;
        int error = vs_catalog_adopt(&got, e.cat, dir, full, NULL, NULL);
        ck_assert_msg(error == 0, "%s", vs_error_last());
        ck_assert_str_eq(got.id, a.id);
        ck_assert_str_eq(got.name, "kept");
        ck_assert_mem_eq(got.sha256, a.sha256, VS_SHA256_LEN);
        vs_snapshot_dispose(&got);
        assert_loads_equal(&e, a.id, st);
        if (!full) {
            free(dir);
            dir = take_out(&e, a.id, "fetched");
        }
    }
    /* the same id again is refused, and the directory is left alone */
    vs_snapshot b = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    char *dir_b = take_out(&e, b.id, "second");
    char *copy = vs_test_path(e.tmpdir, "copy");
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s'", dir_b, copy);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir_b, true, NULL, NULL),
                     0);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, copy, true, NULL, NULL),
                     VS_EEXISTS);
    struct stat sb;
    ck_assert_int_eq(stat(copy, &sb), 0);
    free(copy);
    free(dir_b);
    free(dir);
    vs_snapshot_dispose(&a);
    vs_snapshot_dispose(&b);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(adopt_refuses_a_directory_that_does_not_check_out)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot a = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    char *dir = take_out(&e, a.id, "fetched");
    char *data = vs_test_path(dir, a.file);
    /* a flipped byte: refused with or without the full load */
    flip_byte(data, 100);
    for (int full = 0; full < 2; full++) {
        ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir, full, NULL, NULL),
                         VS_ECORRUPT);
        ck_assert_int_eq(absent(&e, a.id), VS_ENOTFOUND);
    }
    flip_byte(data, 100);
    /* a short file */
    size_t n;
    char *bytes = read_file(&n, data);
    write_file(data, bytes, n - 1);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir, false, NULL, NULL),
                     VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "bytes"));
    write_file(data, bytes, n);
    free(bytes);
    /* no manifest, or one without a valid id */
    char *man = vs_test_path(dir, "manifest.json");
    char *text = read_file(&n, man);
    ck_assert_int_eq(unlink(man), 0);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir, true, NULL, NULL),
                     VS_ECORRUPT);
    write_file(man, "{\"id\":\"../x\"}", 13);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir, true, NULL, NULL),
                     VS_ECORRUPT);
    /* put back, it is taken */
    write_file(man, text, n);
    ck_assert_int_eq(vs_catalog_adopt(NULL, e.cat, dir, true, NULL, NULL), 0);
    assert_loads_equal(&e, a.id, st);
    free(text);
    free(man);
    free(data);
    free(dir);
    vs_snapshot_dispose(&a);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

static int run_sha256sum(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd '%s' && sha256sum -c SHA256SUMS 2>&1", dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[512];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status));
    if (WEXITSTATUS(status) == 0)
        ck_assert_msg(strstr(out, ": OK"), "%s", out);
    return WEXITSTATUS(status);
}

START_TEST(sha256sums_is_accepted_by_sha256sum)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_snapshot s = create(&e, st, NULL, VS_FORMAT_JSON, VS_CODEC_GZIP);
    char *dir = vs_test_path(e.snapdir, s.id);
    ck_assert_int_eq(run_sha256sum(dir), 0);
    char *sums = vs_test_path(dir, "SHA256SUMS");
    size_t n;
    char *text = read_file(&n, sums);
    char line[160];
    vs_snapshot_sha256_line(line, sizeof(line), &s);
    ck_assert_str_eq(text, line);
    free(text);
    /* and it really checks */
    char *data = vs_test_path(dir, s.file);
    flip_byte(data, 20);
    ck_assert_int_ne(run_sha256sum(dir), 0);
    free(data);
    free(sums);
    free(dir);
    vs_snapshot_dispose(&s);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(commit_refuses_a_save_report_that_does_not_match)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    ck_assert_int_eq(vs_snapshot_describe(&cols, &ncols, st, NULL), 0);
    for (int round = 0; round < 4; round++) {
        vs_pending *p = NULL;
        ck_assert_int_eq(
            vs_catalog_begin(&p, e.cat, NULL, VS_FORMAT_BIN, VS_CODEC_NONE), 0);
        vs_file_info info;
        ck_assert_int_eq(
            vs_fmt_save_file(&info, vs_pending_data_path(p), st, &o), 0);
        const char *origin = "save";
        size_t nc = ncols;
        if (round == 0)
            info.bytes += 1;
        else if (round == 1)
            info.records += 1;
        else if (round == 2)
            nc = 1;
        else
            origin = "stolen";
        vs_snapshot s;
        ck_assert_int_eq(
            vs_catalog_commit(&s, e.cat, p, &info, cols, nc, origin),
            VS_EINVALID);
        ck_assert_ptr_null(s.collections);
        assert_empty(&e);
    }
    free(cols);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(a_forked_child_writes_the_data_file_and_the_parent_commits)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    vs_pending *p = NULL;
    ck_assert_int_eq(
        vs_catalog_begin(&p, e.cat, "forked", VS_FORMAT_BIN, VS_CODEC_ZSTD), 0);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        vs_save_options o = VS_SAVE_OPTIONS_INIT;
        o.codec = VS_CODEC_ZSTD;
        vs_file_info info;
        int error = vs_fmt_save_file(&info, vs_pending_data_path(p), st, &o);
        if (error == 0 && write(fds[1], &info, sizeof(info)) != sizeof(info))
            error = -1;
        _exit(error == 0 ? 0 : 1);
    }
    close(fds[1]);
    vs_file_info info;
    ck_assert_int_eq(read(fds[0], &info, sizeof(info)), sizeof(info));
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    ck_assert_int_eq(vs_snapshot_describe(&cols, &ncols, st, NULL), 0);
    vs_snapshot s;
    int error = vs_catalog_commit(&s, e.cat, p, &info, cols, ncols, "save");
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_str_eq(s.name, "forked");
    ck_assert_str_eq(s.file, "data.vsnap.zst");
    assert_loads_equal(&e, s.id, st);
    free(cols);
    vs_snapshot_dispose(&s);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

START_TEST(describe_and_create_follow_the_selected_collections)
{
    env e;
    env_open(&e);
    vs_store *st = sample_store();
    const char *const only[] = {"beta"};
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.collections = only;
    o.ncollections = 1;
    vs_snapshot_collection *cols = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_snapshot_describe(&cols, &n, st, &o), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(cols[0].name, "beta");
    ck_assert_uint_eq(cols[0].dimension, 3);
    ck_assert_uint_eq(cols[0].count, 25);
    free(cols);
    vs_snapshot s;
    ck_assert_int_eq(vs_catalog_create(&s, e.cat, st, "part", &o), 0);
    ck_assert_uint_eq(s.records, 25);
    ck_assert_uint_eq(s.ncollections, 1);
    vs_store *got = NULL;
    ck_assert_int_eq(vs_catalog_load(&got, NULL, e.cat, s.id, NULL, NULL), 0);
    ck_assert_uint_eq(vs_store_ncollections(got), 1);
    ck_assert_ptr_nonnull(vs_store_find(got, "beta"));
    vs_store_free(got);
    vs_snapshot_dispose(&s);
    const char *const missing[] = {"nope"};
    o.collections = missing;
    ck_assert_int_eq(vs_catalog_create(&s, e.cat, st, NULL, &o), VS_ENOTFOUND);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    ck_assert_uint_eq(vs_test_dir_count(e.snapdir), 1);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

typedef struct worker {
    env *e;
    vs_store *st;
    char ids[5][VS_SNAPSHOT_ID_LEN + 1];
    int error;
} worker;

static void *create_five(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 5 && w->error == 0; i++) {
        vs_snapshot s;
        vs_store_rdlock(w->st);
        w->error = vs_catalog_create(&s, w->e->cat, w->st, NULL, NULL);
        vs_store_unlock(w->st);
        if (w->error == 0)
            memcpy(w->ids[i], s.id, sizeof(s.id));
        vs_snapshot_dispose(&s);
    }
    return NULL;
}

START_TEST(threads_create_concurrently_with_unique_ids)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 50, 4, VS_METRIC_DOT, true, 5);
    enum { T = 4 };
    worker w[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].e = &e;
        w[i].st = st;
        ck_assert_int_eq(pthread_create(&th[i], NULL, create_five, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].error, 0);
        for (int k = 1; k < 5; k++) /* each thread's ids increase */
            ck_assert_int_lt(strcmp(w[i].ids[k - 1], w[i].ids[k]), 0);
    }
    vs_snapshot *list = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&list, &n, e.cat), 0);
    ck_assert_uint_eq(n, T * 5);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ck_assert_int_lt(strcmp(list[i - 1].id, list[i].id), 0);
        ck_assert_int_eq(vs_catalog_verify(NULL, e.cat, list[i].id), 0);
        vs_snapshot_dispose(&list[i]);
    }
    free(list);
    ck_assert_uint_eq(vs_test_dir_count(e.tmpdir), 0);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

static int count_progress(void *payload, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    (*(int *)payload)++;
    return 0;
}

static int cancel_progress(void *payload, uint64_t done, uint64_t total)
{
    (void)payload;
    (void)done;
    (void)total;
    return 1;
}

START_TEST(load_reports_progress_and_can_be_cancelled)
{
    env e;
    env_open(&e);
    vs_store *st = vs_test_random_store("c", 3000, 4, VS_METRIC_DOT, false, 5);
    vs_snapshot s = create(&e, st, NULL, VS_FORMAT_BIN, VS_CODEC_NONE);
    int calls = 0;
    vs_store *got = NULL;
    ck_assert_int_eq(
        vs_catalog_load(&got, NULL, e.cat, s.id, count_progress, &calls), 0);
    ck_assert_int_gt(calls, 0);
    vs_store_free(got);
    got = NULL;
    ck_assert_int_eq(
        vs_catalog_load(&got, NULL, e.cat, s.id, cancel_progress, NULL),
        VS_ECANCELLED);
    ck_assert_ptr_null(got);
    vs_snapshot_dispose(&s);
    vs_store_free(st);
    env_close(&e);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("catalog");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, create_then_list_get_and_load_round_trip_bit_exact);
    tcase_add_test(tc, ids_sort_by_time_and_are_unique_under_rapid_creation);
    tcase_add_test(tc, list_is_oldest_first_and_ids_carry_the_creation_time);
    tcase_add_test(tc, bad_ids_are_invalid_before_touching_the_file_system);
    tcase_add_test(tc, delete_makes_a_snapshot_vanish_and_leaves_nothing);
    tcase_add_test(tc, abort_leaves_nothing_in_tmp);
    tcase_add_test(tc, crash_leftovers_are_cleaned_at_open_and_never_listed);
    tcase_add_test(tc, an_unreadable_manifest_is_skipped_by_list);
    tcase_add_test(tc, import_of_each_format_is_listed_as_upload);
    tcase_add_test(tc, import_of_ruvector_files_is_kept_unverified);
    tcase_add_test(tc, import_of_corrupt_or_truncated_data_keeps_nothing);
    tcase_add_test(tc,
                   import_larger_than_max_bytes_is_too_big_and_keeps_nothing);
    tcase_add_test(tc, verify_detects_a_flipped_byte_in_the_data_file);
    tcase_add_test(tc,
                   current_with_a_base_seq_round_trips_and_bad_ones_are_corrupt);
    tcase_add_test(tc, adopt_takes_a_checked_directory_under_its_own_id);
    tcase_add_test(tc, adopt_refuses_a_directory_that_does_not_check_out);
    tcase_add_test(tc, verify_detects_a_manifest_that_disagrees_with_the_file);
    tcase_add_test(tc, manifest_json_round_trips);
    tcase_add_test(tc, manifest_with_a_missing_or_ill_typed_field_is_corrupt);
    tcase_add_test(tc, names_are_checked);
    tcase_add_test(tc, time_stamps_are_rfc3339_utc_with_milliseconds);
    tcase_add_test(tc, current_is_set_read_and_replaced_atomically);
    tcase_add_test(tc, sha256sums_is_accepted_by_sha256sum);
    tcase_add_test(tc, commit_refuses_a_save_report_that_does_not_match);
    tcase_add_test(tc,
                   a_forked_child_writes_the_data_file_and_the_parent_commits);
    tcase_add_test(tc, describe_and_create_follow_the_selected_collections);
    tcase_add_test(tc, threads_create_concurrently_with_unique_ids);
    tcase_add_test(tc, load_reports_progress_and_can_be_cancelled);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
