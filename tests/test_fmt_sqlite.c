/*
 * test_fmt_sqlite: the SQLite format (src/fmt_sqlite.c,
 * docs/format-sqlite.md).  Bit-exact round trips over the edge cases of the
 * data model, the database as the sqlite3 shell sees it, and a loader that
 * refuses tampered, truncated and byte-flipped files with an error -- never a
 * crash, never a store that differs from the one saved.
 */
#include <check.h>
#include <fcntl.h>
#include <float.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt.h"
#include "fsutil.h"
#include "testutil.h"

#define SHELL "/usr/bin/sqlite3"

static char *tmp;

static void setup(void)
{
    tmp = vs_test_tmpdir_new();
}

static void teardown(void)
{
    vs_test_tmpdir_free(tmp);
    tmp = NULL;
}

/* ---- helpers ---- */

static vs_collection *make_collection(vs_store *st, const char *name,
                                      uint32_t dim, vs_metric metric)
{
    vs_collection *c = NULL;
    ck_assert_msg(vs_store_create(&c, st, name, dim, metric) == 0, "create: %s",
                  vs_error_last());
    return c;
}

static void put(vs_collection *c, const char *id, const float *v,
                const char *meta)
{
    vs_record r = {id, strlen(id), v, meta, meta ? strlen(meta) : 0};
    ck_assert_msg(vs_collection_upsert(c, &r, 1) == 0, "upsert: %s",
                  vs_error_last());
}

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void save_ok(vs_store *st, const char *path, const vs_save_options *opts)
{
    int error = vs_fmt_sqlite_save(path, st, opts);
    ck_assert_msg(error == 0, "save: %s", vs_error_last());
}

static int load(vs_store **out, vs_file_info *info, const char *path)
{
    vs_load_options opts = VS_LOAD_OPTIONS_INIT;
    *out = (vs_store *)&opts; /* the loader must reset it */
    return vs_fmt_sqlite_load(out, info, path, &opts);
}

/* Same records in the same slots, bit for bit. */
static void assert_same_slots(const vs_store *a, const vs_store *b)
{
    for (size_t i = 0; i < vs_store_ncollections(a); i++) {
        const vs_collection *ca = vs_store_at(a, i);
        const vs_collection *cb = vs_store_at(b, i);
        ck_assert_str_eq(vs_collection_name(ca), vs_collection_name(cb));
        uint32_t dim = vs_collection_dimension(ca);
        for (size_t s = 0; s < vs_collection_count(ca); s++) {
            vs_record ra, rb;
            vs_collection_slot(&ra, ca, s);
            vs_collection_slot(&rb, cb, s);
            ck_assert_uint_eq(ra.id_len, rb.id_len);
            ck_assert(memcmp(ra.id, rb.id, ra.id_len) == 0);
            ck_assert(memcmp(ra.vector, rb.vector, dim * 4) == 0);
            ck_assert_uint_eq(vs_collection_slot_seq(cb, s), vs_store_seq(b));
        }
    }
}

static void round_trip(vs_store *st)
{
    char *path = vs_test_path(tmp, "rt.sqlite");
    save_ok(st, path, NULL);
    vs_store *back = NULL;
    vs_file_info info;
    memset(&info, 0xab, sizeof(info));
    int error = load(&back, &info, path);
    ck_assert_msg(error == 0, "load: %s", vs_error_last());
    char why[512];
    ck_assert_msg(vs_test_store_equal(st, back, true, why, sizeof(why)), "%s",
                  why);
    ck_assert_msg(vs_test_store_equal(back, st, true, why, sizeof(why)), "%s",
                  why);
    assert_same_slots(st, back);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(info.format, VS_FORMAT_SQLITE);
    ck_assert_int_eq(info.codec, VS_CODEC_NONE);
    ck_assert(info.content_verified);
    ck_assert_uint_eq(info.bytes, (uint64_t)sb.st_size);
    ck_assert_uint_eq(info.seq, vs_store_seq(st));
    ck_assert_uint_eq(info.records, vs_store_nrecords(st));
    ck_assert_uint_eq(info.ncollections, vs_store_ncollections(st));
    vs_store_free(back);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_uint_eq(vs_test_dir_count(tmp), 0);
    free(path);
}

/* ---- the stores of the round-trip table ---- */

static vs_store *store_empty(void)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    return st;
}

static vs_store *store_dropped(void)
{
    vs_store *st = store_empty();
    make_collection(st, "gone", 3, VS_METRIC_DOT);
    ck_assert_int_eq(vs_store_drop(st, "gone"), 0);
    return st; /* no collections, seq 2 */
}

static vs_store *store_empty_collection(void)
{
    vs_store *st = store_empty();
    make_collection(st, "empty", 384, VS_METRIC_COSINE);
    return st;
}

static vs_store *store_dim1(void)
{
    return vs_test_random_store("d1", 3000, 1, VS_METRIC_EUCLIDEAN, true, 1);
}

static vs_store *store_dim4096(void)
{
    /* 600 records of 16 KiB: several loader batches */
    return vs_test_random_store("big-dim", 600, 4096, VS_METRIC_DOT, false, 2);
}

static vs_store *store_special(void)
{
    vs_store *st = store_empty();
    vs_collection *c = make_collection(st, "special", 8, VS_METRIC_EUCLIDEAN);
    const float v1[8] = {-0.0f,
                         0.0f,
                         from_bits(0x00000001), /* smallest denormal */
                         from_bits(0x807fffff), /* largest negative denormal */
                         FLT_MAX,
                         -FLT_MAX,
                         FLT_MIN,
                         from_bits(0x3f800001)};
    const float v2[8] = {1, -1, 0.5f, 1e-38f, 3e38f, -0.0f, 7, 8};
    put(c, "h\xc3\xa9llo", v1, "{\"lang\":\"fr\",\"t\":\"\xc3\xa9t\xc3\xa9\"}");
    put(c, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", v2, NULL);
    put(c, "\xf0\x9f\x98\x80 smile", v1, "{\"emoji\":\"\\ud83d\\ude00\"}");
    put(c, "quote's \"id\"", v2, "{\"nested\":{\"a\":[1,2,{\"b\":null}]}}");
    put(c, "x", v1, "{}");
    return st;
}

static vs_store *store_large_metadata(void)
{
    vs_store *st = store_empty();
    vs_collection *c = make_collection(st, "meta", 2, VS_METRIC_COSINE);
    size_t n = VS_METADATA_MAX - 32;
    char *meta = malloc(n + 1);
    ck_assert_ptr_nonnull(meta);
    /* 90 records of ~64 KiB: the loader's text arena fills and flushes */
    for (int i = 0; i < 90; i++) {
        int head = snprintf(meta, n, "{\"i\":%d,\"s\":\"", i);
        memset(meta + head, 'a' + i % 26, n - (size_t)head - 2);
        memcpy(meta + n - 2, "\"}", 3);
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        const float v[2] = {(float)i, -(float)i};
        put(c, id, v, meta);
    }
    free(meta);
    return st;
}

static vs_store *store_several(void)
{
    vs_store *st = store_empty();
    vs_collection *a = make_collection(st, "zeta", 5, VS_METRIC_COSINE);
    vs_collection *b = make_collection(st, "alpha", 3, VS_METRIC_DOT);
    make_collection(st, "middle-empty", 7, VS_METRIC_EUCLIDEAN);
    vs_collection *d = make_collection(st, "Upper.case_1", 2, VS_METRIC_DOT);
    uint64_t seed = 99;
    char id[32];
    for (int i = 0; i < 5000; i++) {
        float v[5];
        for (int k = 0; k < 5; k++)
            v[k] = vs_test_randf(&seed);
        snprintf(id, sizeof(id), "z%d", i);
        put(i % 3 == 0   ? a
            : i % 3 == 1 ? b
                         : d,
            id, v, i % 2 ? "{\"odd\":true}" : NULL);
    }
    /* deletions move the last slot into the hole: a non-trivial order */
    vs_record del[] = {{"z0", 2, NULL, NULL, 0},
                       {"z33", 3, NULL, NULL, 0},
                       {"z1", 2, NULL, NULL, 0}};
    ck_assert_int_eq(vs_collection_delete(a, del, 3, NULL), 0);
    ck_assert_int_eq(vs_collection_delete(b, del, 3, NULL), 0);
    return st;
}

static vs_store *(*const stores[])(void) = {
    store_empty,   store_dropped, store_empty_collection, store_dim1,
    store_dim4096, store_special, store_large_metadata,   store_several};
#define NSTORES ((int)(sizeof(stores) / sizeof(stores[0])))

START_TEST(test_round_trip_is_bit_exact)
{
    vs_store *st = stores[_i]();
    round_trip(st);
    vs_store_free(st);
}
END_TEST

START_TEST(test_save_only_selected_collections)
{
    vs_store *st = store_several();
    const char *names[] = {"zeta", "middle-empty"};
    vs_save_options opts = VS_SAVE_OPTIONS_INIT;
    opts.format = VS_FORMAT_SQLITE;
    opts.collections = names;
    opts.ncollections = 2;
    char *path = vs_test_path(tmp, "sel.sqlite");
    save_ok(st, path, &opts);
    vs_store *back = NULL;
    ck_assert_int_eq(load(&back, NULL, path), 0);
    ck_assert_uint_eq(vs_store_ncollections(back), 2);
    ck_assert_ptr_null(vs_store_find(back, "alpha"));
    ck_assert_uint_eq(vs_collection_count(vs_store_find(back, "zeta")),
                      vs_collection_count(vs_store_find(st, "zeta")));
    ck_assert_uint_eq(vs_store_seq(back), vs_store_seq(st));
    vs_store_free(back);

    const char *bad[] = {"nope"};
    opts.collections = bad;
    opts.ncollections = 1;
    char *path2 = vs_test_path(tmp, "bad.sqlite");
    ck_assert_int_eq(vs_fmt_sqlite_save(path2, st, &opts), VS_ENOTFOUND);
    ck_assert_int_ne(access(path2, F_OK), 0);
    vs_store_free(st);
    free(path);
    free(path2);
}
END_TEST

typedef struct prog {
    uint64_t calls, last_done, total, cancel_after;
} prog;

static int on_progress(void *payload, uint64_t done, uint64_t total)
{
    prog *p = payload;
    ck_assert_uint_ge(done, p->last_done);
    ck_assert_uint_le(done, total);
    p->calls++;
    p->last_done = done;
    p->total = total;
    return p->cancel_after && p->calls >= p->cancel_after;
}

START_TEST(test_progress_reports_and_cancels)
{
    vs_store *st = vs_test_random_store("p", 20000, 4, VS_METRIC_DOT, false, 3);
    char *path = vs_test_path(tmp, "p.sqlite");
    prog p = {0};
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.progress = on_progress;
    so.payload = &p;
    save_ok(st, path, &so);
    ck_assert_uint_ge(p.calls, 4);
    ck_assert_uint_eq(p.last_done, 20000);
    ck_assert_uint_eq(p.total, 20000);

    prog q = {0};
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.progress = on_progress;
    lo.payload = &q;
    vs_store *back = NULL;
    ck_assert_int_eq(vs_fmt_sqlite_load(&back, NULL, path, &lo), 0);
    ck_assert_uint_ge(q.calls, 4);
    ck_assert_uint_eq(q.last_done, 20000);
    ck_assert_uint_eq(q.total, 20000);
    vs_store_free(back);

    q = (prog){.cancel_after = 2};
    back = (vs_store *)&q;
    ck_assert_int_eq(vs_fmt_sqlite_load(&back, NULL, path, &lo), VS_ECANCELLED);
    ck_assert_ptr_null(back);

    /* a cancelled save removes the file it created */
    char *path2 = vs_test_path(tmp, "cancel.sqlite");
    p = (prog){.cancel_after = 2};
    ck_assert_int_eq(vs_fmt_sqlite_save(path2, st, &so), VS_ECANCELLED);
    ck_assert_int_ne(access(path2, F_OK), 0);
    vs_store_free(st);
    free(path);
    free(path2);
}
END_TEST

START_TEST(test_save_refuses_existing_file_but_fills_empty_one)
{
    vs_store *st = store_special();
    char *path = vs_test_path(tmp, "exists.sqlite");
    ck_assert_int_eq(vs_fs_write_atomic(path, "x", 1), 0);
    ck_assert_int_eq(vs_fmt_sqlite_save(path, st, NULL), VS_EEXISTS);
    ck_assert_int_eq(vs_fs_write_atomic(path, "", 0), 0);
    save_ok(st, path, NULL); /* a fresh temp file, as fmt.c hands over */
    vs_store *back = NULL;
    ck_assert_int_eq(load(&back, NULL, path), 0);
    vs_store_free(back);
    ck_assert_int_eq(vs_fmt_sqlite_save(path, st, NULL), VS_EEXISTS);
    vs_store_free(st);
    free(path);
}
END_TEST

START_TEST(test_save_reports_write_failure_and_removes_its_file)
{
    vs_store *st = vs_test_random_store("w", 2000, 64, VS_METRIC_DOT, true, 4);
    char *path = vs_test_path(tmp, "full.sqlite");
    /* a file-size limit stands in for a full disk */
    struct rlimit old, small = {256 * 1024, 256 * 1024};
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int error = vs_fmt_sqlite_save(path, st, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_msg(error == VS_EIO, "%s", vs_error_last());
    ck_assert_ptr_nonnull(strstr(vs_error_last(), path));
    ck_assert_uint_eq(vs_test_dir_count(tmp), 0);

    char *nodir = vs_test_path(tmp, "no/such/dir.sqlite");
    ck_assert_int_eq(vs_fmt_sqlite_save(nodir, st, NULL), VS_EIO);
    vs_store_free(st);
    free(path);
    free(nodir);
}
END_TEST

/* ---- the sqlite3 shell ---- */

static void shell(char *out, size_t outlen, const char *path, const char *sql)
{
    char cmd[1024];
    int n = snprintf(cmd, sizeof(cmd), "%s -readonly '%s' \"%s\" 2>&1", SHELL,
                     path, sql);
    ck_assert(n > 0 && (size_t)n < sizeof(cmd));
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, outlen - 1, p);
    out[got] = 0;
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r'))
        out[--got] = 0;
    ck_assert_int_eq(pclose(p), 0);
}

START_TEST(test_sqlite3_shell_reads_the_database)
{
    ck_assert_msg(access(SHELL, X_OK) == 0, "%s is not installed", SHELL);
    vs_store *st =
        vs_test_random_store("docs", 500, 16, VS_METRIC_COSINE, true, 5);
    vs_collection *other = make_collection(st, "other", 3, VS_METRIC_DOT);
    const float v[3] = {1, 2, 3};
    put(other, "o1", v, "{\"tag\":\"zz\"}");
    char *path = vs_test_path(tmp, "shell.sqlite");
    save_ok(st, path, NULL);

    char out[4096], want[128];
    shell(out, sizeof(out), path, "SELECT count(*) FROM vectors");
    ck_assert_str_eq(out, "501");
    shell(out, sizeof(out), path,
          "SELECT json_extract(metadata, '$.tag') FROM vectors"
          " WHERE collection = 'docs' AND id = 'id-10'");
    ck_assert_str_eq(out, "t3");
    shell(out, sizeof(out), path,
          "SELECT count(*) FROM vectors WHERE collection = 'docs'"
          " AND json_extract(metadata, '$.tag') = 't0'");
    ck_assert_str_eq(out, "72"); /* n % 7 == 0 for n in 0..499 */
    shell(out, sizeof(out), path,
          "SELECT group_concat(DISTINCT length(vector)) FROM vectors"
          " WHERE collection = 'docs'");
    ck_assert_str_eq(out, "64");
    shell(out, sizeof(out), path,
          "SELECT hex(vector) FROM vectors WHERE id = 'o1'");
    ck_assert_str_eq(out, "0000803F0000004000004040"); /* 1, 2, 3 LE */
    shell(out, sizeof(out), path,
          "SELECT name || ':' || dimension || ':' || metric || ':' || count"
          " FROM collections ORDER BY name");
    ck_assert_str_eq(out, "docs:16:cosine:500\nother:3:dot:1");
    snprintf(want, sizeof(want), "%llu", (unsigned long long)vs_store_seq(st));
    shell(out, sizeof(out), path, "SELECT value FROM meta WHERE key = 'seq'");
    ck_assert_str_eq(out, want);
    shell(out, sizeof(out), path,
          "SELECT value FROM meta WHERE key = 'format'");
    ck_assert_str_eq(out, "vecsnap");
    vs_record first;
    vs_collection_slot(&first, vs_store_find(st, "docs"), 0);
    snprintf(want, sizeof(want), "%.*s", (int)first.id_len, first.id);
    shell(out, sizeof(out), path,
          "SELECT id FROM vectors ORDER BY position LIMIT 1");
    ck_assert_str_eq(out, want);
    shell(out, sizeof(out), path, "PRAGMA integrity_check");
    ck_assert_str_eq(out, "ok");
    /* the id lookup uses the unique index */
    shell(out, sizeof(out), path,
          "EXPLAIN QUERY PLAN SELECT * FROM vectors"
          " WHERE collection = 'docs' AND id = 'id-1'");
    ck_assert_ptr_nonnull(strstr(out, "vectors_collection_id"));
    vs_store_free(st);
    free(path);
}
END_TEST

/* ---- errors ---- */

/* A saved copy of the small store, changed with `sql`. */
static char *tampered(const char *sql)
{
    vs_store *st = store_special();
    char *path = vs_test_path(tmp, "t.sqlite");
    unlink(path);
    save_ok(st, path, NULL);
    vs_store_free(st);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    return path;
}

static void assert_load_fails(const char *path, int code, const char *what)
{
    vs_store *back = NULL;
    int error = load(&back, NULL, path);
    ck_assert_msg(error == code, "expected %s, got %s: %s", vs_error_name(code),
                  vs_error_name(error), vs_error_last());
    ck_assert_ptr_null(back);
    ck_assert_msg(strstr(vs_error_last(), what), "message '%s' lacks '%s'",
                  vs_error_last(), what);
}

static const struct tamper {
    const char *sql;
    int code;
    const char *message;
} tampers[] = {
    {"UPDATE meta SET value = '2' WHERE key = 'version'", VS_EVERSION,
     "version 2"},
    {"UPDATE meta SET value = 'other' WHERE key = 'format'", VS_ECORRUPT,
     "not a vecsnap database"},
    {"DELETE FROM meta WHERE key = 'sha256'", VS_ECORRUPT, "missing key"},
    {"UPDATE meta SET value = upper(value) WHERE key = 'sha256'", VS_ECORRUPT,
     "bad sha256"},
    {"UPDATE meta SET value = value + 1 WHERE key = 'seq'", VS_ECORRUPT,
     "checksum mismatch"},
    {"DROP TABLE meta", VS_ECORRUPT, "missing table 'meta'"},
    {"DROP INDEX vectors_collection_id; DROP TABLE vectors", VS_ECORRUPT,
     "missing table 'vectors'"},
    {"ALTER TABLE collections RENAME TO c2; CREATE VIEW collections AS"
     " SELECT * FROM c2",
     VS_ECORRUPT, "not a table"},
    {"ALTER TABLE vectors RENAME COLUMN metadata TO md", VS_ECORRUPT,
     "no such column"},
    {"UPDATE vectors SET metadata = '{\"lang\":\"de\"}' WHERE position = 0",
     VS_ECORRUPT, "checksum mismatch"},
    {"UPDATE vectors SET vector = substr(vector, 1, 28) WHERE position = 1",
     VS_ECORRUPT, "vector has 28 bytes"},
    {"UPDATE vectors SET vector = zeroblob(32) WHERE position = 1", VS_ECORRUPT,
     "checksum mismatch"},
    {"UPDATE vectors SET vector = CAST(x'0000c07f' || substr(vector, 5)"
     " AS BLOB) WHERE position = 2",
     VS_ECORRUPT, "collection 'special'"}, /* NaN */
    {"UPDATE vectors SET metadata = '{\"a\":' WHERE position = 3", VS_ECORRUPT,
     "collection 'special'"},
    {"UPDATE vectors SET metadata = '{\"a\":\"' || hex(zeroblob(600000))"
     " || '\"}' WHERE position = 3",
     VS_ECORRUPT, "too big"},
    {"UPDATE vectors SET metadata = '{\"a\":\"' || hex(zeroblob(40000))"
     " || '\"}' WHERE position = 3",
     VS_ECORRUPT, "metadata too long"},
    {"UPDATE vectors SET id = hex(zeroblob(129)) WHERE position = 3",
     VS_ECORRUPT, "bad id length 258"},
    {"UPDATE vectors SET id = CAST(id AS BLOB) WHERE position = 3", VS_ECORRUPT,
     "wrong column types"},
    {"DROP INDEX vectors_collection_id;"
     " UPDATE vectors SET id = 'x' WHERE position = 0",
     VS_ECORRUPT, "duplicate"},
    {"UPDATE vectors SET position = 9 WHERE position = 4", VS_ECORRUPT,
     "position out of sequence"},
    {"UPDATE vectors SET position = -1 WHERE position = 4", VS_ECORRUPT,
     "position out of sequence"},
    {"UPDATE vectors SET collection = 'nope' WHERE position = 2", VS_ECORRUPT,
     "unknown collection"},
    {"UPDATE vectors SET collection = collection || char(0) ||"
     " hex(zeroblob(100)) WHERE position = 2",
     VS_ECORRUPT, "unknown collection"},
    {"INSERT INTO vectors SELECT 5, collection, 'new', vector, metadata"
     " FROM vectors WHERE position = 0",
     VS_ECORRUPT, "more rows"},
    {"UPDATE collections SET count = 6", VS_ECORRUPT, "has 5 rows"},
    {"UPDATE collections SET count = 1000000000", VS_ECORRUPT, "bad count"},
    {"UPDATE collections SET dimension = 4", VS_ECORRUPT, "expected 16"},
    {"UPDATE collections SET dimension = 0", VS_ECORRUPT, "bad dimension"},
    {"UPDATE collections SET metric = 'manhattan'", VS_ECORRUPT,
     "unknown metric"},
    {"UPDATE collections SET name = 'bad name';"
     " UPDATE vectors SET collection = 'bad name'",
     VS_ECORRUPT, "bad name"},
    {"INSERT INTO collections VALUES('aaa', 2, 'dot', 0);"
     " UPDATE vectors SET collection = 'aaa' WHERE position = 4;",
     VS_ECORRUPT, "not contiguous"},
    {"INSERT INTO collections VALUES('zzz', 2, 'dot', 0)", VS_ECORRUPT,
     "checksum mismatch"},
    {"PRAGMA application_id = 0", VS_ECORRUPT, "application_id"},
    {"PRAGMA journal_mode = WAL", VS_ECORRUPT, "rollback-journal"},
};
#define NTAMPERS ((int)(sizeof(tampers) / sizeof(tampers[0])))

START_TEST(test_load_refuses_tampered_database)
{
    char *path = tampered(tampers[_i].sql);
    assert_load_fails(path, tampers[_i].code, tampers[_i].message);
    free(path);
}
END_TEST

/* The checksum covers content, not bytes: a database rewritten by SQLite
 * still loads. */
START_TEST(test_load_accepts_vacuumed_database)
{
    char *path = tampered("PRAGMA page_size = 1024; VACUUM");
    vs_store *st = store_special(), *back = NULL;
    vs_file_info info;
    ck_assert_msg(load(&back, &info, path) == 0, "%s", vs_error_last());
    char why[256];
    ck_assert_msg(vs_test_store_equal(st, back, true, why, sizeof(why)), "%s",
                  why);
    assert_same_slots(st, back);
    ck_assert(info.content_verified);
    vs_store_free(back);
    vs_store_free(st);
    free(path);
}
END_TEST

START_TEST(test_load_refuses_missing_and_foreign_files)
{
    char *path = vs_test_path(tmp, "none.sqlite");
    vs_store *back = NULL;
    ck_assert_int_eq(load(&back, NULL, path), VS_ENOTFOUND);
    ck_assert_ptr_null(back);

    ck_assert_int_eq(vs_fs_write_atomic(path, "", 0), 0);
    assert_load_fails(path, VS_ECORRUPT, "not a sqlite database");
    const char text[] = "{\"collections\": []} and some more text to be long"
                        " enough for a header of one hundred bytes ........";
    ck_assert_int_eq(vs_fs_write_atomic(path, text, sizeof(text)), 0);
    assert_load_fails(path, VS_ECORRUPT, "not a sqlite database");

    /* a real SQLite database of someone else's */
    unlink(path);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db,
                                  "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    assert_load_fails(path, VS_ECORRUPT, "not a vecsnap database");
    free(path);
}
END_TEST

static uint8_t *read_file(size_t *n, const char *path)
{
    char *data = NULL;
    ck_assert_int_eq(vs_fs_read_all(&data, n, path, 1 << 26), 0);
    return (uint8_t *)data;
}

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* A store with a bit of everything, small enough to flip every byte. */
static vs_store *flip_store(void)
{
    vs_store *st = store_empty();
    vs_collection *a = make_collection(st, "ab", 3, VS_METRIC_COSINE);
    vs_collection *b = make_collection(st, "cd", 2, VS_METRIC_EUCLIDEAN);
    make_collection(st, "e", 1, VS_METRIC_DOT);
    uint64_t seed = 11;
    char id[16], meta[48];
    for (int i = 0; i < 16; i++) {
        float v[3] = {vs_test_randf(&seed), vs_test_randf(&seed),
                      vs_test_randf(&seed)};
        snprintf(id, sizeof(id), "r%d\xc3\xa9", i);
        snprintf(meta, sizeof(meta), "{\"k\":%d,\"s\":\"v%d\"}", i, i * 7);
        put(i % 2 ? a : b, id, v, i % 3 ? meta : NULL);
    }
    return st;
}

START_TEST(test_load_refuses_truncated_files)
{
    vs_store *st = flip_store();
    char *path = vs_test_path(tmp, "full.sqlite");
    char *cut = vs_test_path(tmp, "cut.sqlite");
    save_ok(st, path, NULL);
    size_t n;
    uint8_t *data = read_file(&n, path);
    ck_assert_uint_gt(n, 4096);
    size_t lens[] = {0,    1,    99,    100,      101,      512,     4095,
                     4096, 4097, n / 2, n - 4096, n - 4095, n - 100, n - 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        write_file(cut, data, lens[i]);
        vs_store *back = NULL;
        int error = load(&back, NULL, cut);
        ck_assert_msg(error < 0, "truncated to %zu bytes: loaded", lens[i]);
        ck_assert_int_ne(error, VS_ENOTFOUND);
        ck_assert_ptr_null(back);
    }
    /* every page boundary */
    for (size_t len = 4096; len < n; len += 4096) {
        write_file(cut, data, len);
        vs_store *back = NULL;
        ck_assert_int_lt(load(&back, NULL, cut), 0);
        ck_assert_ptr_null(back);
    }
    free(data);
    vs_store_free(st);
    free(path);
    free(cut);
}
END_TEST

/* Where `needle` occurs in the file (first occurrence), or SIZE_MAX. */
static size_t find_bytes(const uint8_t *hay, size_t n, const void *needle,
                         size_t len)
{
    const uint8_t *p = memmem(hay, n, needle, len);
    return p ? (size_t)(p - hay) : SIZE_MAX;
}

/* Every byte of the file flipped, one at a time, with a mask that varies
 * with the offset: the load fails or yields exactly the saved store.  Bytes
 * that carry the content (vectors, metadata, meta values) must always fail. */
START_TEST(test_load_survives_every_flipped_byte)
{
    vs_store *st = flip_store();
    char *path = vs_test_path(tmp, "orig.sqlite");
    char *bad = vs_test_path(tmp, "bad.sqlite");
    save_ok(st, path, NULL);
    size_t n;
    uint8_t *data = read_file(&n, path);
    uint8_t *must = calloc(n, 1);
    ck_assert_ptr_nonnull(must);

    /* content regions: every vector, metadata text, seq and sha256 */
    for (size_t ci = 0; ci < vs_store_ncollections(st); ci++) {
        const vs_collection *c = vs_store_at(st, ci);
        for (size_t s = 0; s < vs_collection_count(c); s++) {
            vs_record r;
            vs_collection_slot(&r, c, s);
            size_t vb = vs_collection_dimension(c) * 4;
            size_t at = find_bytes(data, n, r.vector, vb);
            ck_assert_uint_ne(at, SIZE_MAX);
            memset(must + at, 1, vb);
            if (r.metadata_len > 2) {
                at = find_bytes(data, n, r.metadata, r.metadata_len);
                ck_assert_uint_ne(at, SIZE_MAX);
                memset(must + at, 1, r.metadata_len);
            }
        }
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT key || value, length(key),"
                                        " length(value) FROM meta WHERE key"
                                        " IN ('sha256', 'seq', 'format',"
                                        " 'version')",
                                        -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        /* key and value lie side by side in the meta row */
        const char *kv = (const char *)sqlite3_column_text(q, 0);
        size_t at = find_bytes(data, n, kv, strlen(kv));
        ck_assert_uint_ne(at, SIZE_MAX);
        memset(must + at + (size_t)sqlite3_column_int(q, 1), 1,
               (size_t)sqlite3_column_int(q, 2));
    }
    sqlite3_finalize(q);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);

    /* Long runs of zeros are unused page space: sample them, flip the rest
     * (headers, b-tree structure, records, schema text) byte by byte. */
    uint8_t *skip = calloc(n, 1);
    ck_assert_ptr_nonnull(skip);
    for (size_t i = 0, run = 0; i <= n; i++) {
        if (i < n && data[i] == 0) {
            run++;
            continue;
        }
        if (run >= 32)
            for (size_t k = i - run; k < i; k++)
                skip[k] = k % 61 != 0;
        run = 0;
    }

    size_t errors = 0, same = 0, musts = 0, tried = 0;
    write_file(bad, data, n);
    int fd = open(bad, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    for (size_t off = 0; off < n; off++) {
        if (skip[off])
            continue;
        tried++;
        static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x10, 0x02, 0x40};
        uint8_t flipped = data[off] ^ masks[off % sizeof(masks)];
        /* in place: rewriting whole files makes ext4 flush on close */
        ck_assert_int_eq(pwrite(fd, &flipped, 1, (off_t)off), 1);
        vs_store *back = NULL;
        int error = load(&back, NULL, bad);
        if (error < 0) {
            ck_assert_ptr_null(back);
            ck_assert_msg(*vs_error_last(), "no message at %zu", off);
            errors++;
        } else {
            char why[256];
            ck_assert_msg(!must[off], "flip at content byte %zu loaded", off);
            ck_assert_msg(vs_test_store_equal(st, back, true, why, sizeof(why)),
                          "flip at %zu gave another store: %s", off, why);
            assert_same_slots(st, back);
            vs_store_free(back);
            same++;
        }
        musts += must[off];
        ck_assert_int_eq(pwrite(fd, data + off, 1, (off_t)off), 1);
    }
    ck_assert_int_eq(close(fd), 0);
    if (getenv("VS_TEST_VERBOSE"))
        fprintf(stderr,
                "%zu bytes, %zu flipped: %zu errors, %zu same store,"
                " %zu content\n",
                n, tried, errors, same, musts);
    ck_assert_uint_eq(errors + same, tried);
    ck_assert_uint_gt(tried, 1500);
    ck_assert_uint_gt(musts, 100);
    ck_assert_uint_gt(errors, musts);
    /* only the db and the flipped copy: no -shm, -wal or -journal files */
    ck_assert_uint_eq(vs_test_dir_count(tmp), 2);
    free(must);
    free(skip);
    free(data);
    vs_store_free(st);
    free(path);
    free(bad);
}
END_TEST

static Suite *fmt_sqlite_suite(void)
{
    Suite *s = suite_create("fmt_sqlite");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, setup, teardown);
    tcase_set_timeout(core, 300);
    tcase_add_loop_test(core, test_round_trip_is_bit_exact, 0, NSTORES);
    tcase_add_test(core, test_save_only_selected_collections);
    tcase_add_test(core, test_progress_reports_and_cancels);
    tcase_add_test(core, test_save_refuses_existing_file_but_fills_empty_one);
    tcase_add_test(core, test_save_reports_write_failure_and_removes_its_file);
    tcase_add_test(core, test_sqlite3_shell_reads_the_database);
    suite_add_tcase(s, core);

    TCase *errors = tcase_create("errors");
    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_set_timeout(errors, 300);
    tcase_add_loop_test(errors, test_load_refuses_tampered_database, 0,
                        NTAMPERS);
    tcase_add_test(errors, test_load_accepts_vacuumed_database);
    tcase_add_test(errors, test_load_refuses_missing_and_foreign_files);
    tcase_add_test(errors, test_load_refuses_truncated_files);
    tcase_add_test(errors, test_load_survives_every_flipped_byte);
    suite_add_tcase(s, errors);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fmt_sqlite_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
