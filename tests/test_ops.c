/*
 * test_ops: the operations on the live store (ops.c).  Snapshots then
 * restores (replace, merge, some collections) give exactly the expected
 * store, bit for bit; CURRENT and the "saved" count move only when they
 * should; a corrupt snapshot, an unknown collection or a cancellation
 * leave the live store exactly as it was; the sequence number never goes
 * backwards; two snapshots asked for at once both succeed one after the
 * other; imports read json and gzip'd binary streams; CURRENT cannot be
 * deleted.
 */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops.h"
#include "testutil.h"

/* ---- helpers ---- */

typedef struct env {
    char *root;
    vs_catalog *cat;
    vs_store *live;
    vs_ops ops;
} env;

/* Collection parts, each reproducible from its name. */
static vs_store *part(const char *name)
{
    if (strcmp(name, "a") == 0)
        return vs_test_random_store("a", 300, 8, VS_METRIC_COSINE, true, 11);
    if (strcmp(name, "b") == 0)
        return vs_test_random_store("b", 200, 4, VS_METRIC_DOT, false, 12);
    if (strcmp(name, "c") == 0)
        return vs_test_random_store("c", 100, 16, VS_METRIC_EUCLIDEAN, true,
                                    13);
    if (strcmp(name, "a2") == 0) /* another "a" */
        return vs_test_random_store("a", 50, 8, VS_METRIC_COSINE, true, 99);
    return vs_test_random_store(name, 20, 3, VS_METRIC_DOT, true, 14);
}

/* A store made of the named parts, merged in order. */
static vs_store *parts(const char *const *names, size_t n)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    for (size_t i = 0; i < n; i++) {
        vs_store *p = part(names[i]);
        vs_store_merge_take(st, p);
        vs_store_free(p);
    }
    return st;
}

static vs_store *abc(void)
{
    static const char *const names[] = {"a", "b", "c"};
    return parts(names, 3);
}

static void env_open(env *e, vs_store *live)
{
    memset(e, 0, sizeof(*e));
    e->root = vs_test_tmpdir_new();
    char *data = vs_test_path(e->root, "data");
    int error = vs_catalog_open(&e->cat, data);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    free(data);
    e->live = live;
    ck_assert_int_eq(vs_ops_init(&e->ops, e->live, e->cat), 0);
}

static void env_close(env *e)
{
    vs_ops_dispose(&e->ops);
    vs_store_free(e->live);
    vs_catalog_free(e->cat);
    vs_test_tmpdir_free(e->root);
}

static void assert_equal(const vs_store *a, const vs_store *b, bool seq)
{
    char why[512];
    ck_assert_msg(vs_test_store_equal(a, b, seq, why, sizeof(why)), "%s", why);
}

/* A copy of a store by a save and a load (same seq). */
static vs_store *copy_store(vs_store *st)
{
    vs_buf b = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &so), 0);
    vs_stream_free(w);
    vs_stream *r = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, b.ptr, b.len), 0);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *out = NULL;
    int error = vs_fmt_load_stream(&out, NULL, r, &lo);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream_free(r);
    vs_buf_dispose(&b);
    return out;
}

/* A save of `st` into `b` in format f, codec c. */
static void save_to(vs_buf *b, vs_store *st, vs_format_id f, vs_codec_id c)
{
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, b), 0);
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.format = f;
    so.codec = c;
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &so), 0);
    vs_stream_free(w);
}

/* One write to the live store: upsert record `id` into `coll` (its
 * vector 1, 2, 3, ...; dimension at most 64). */
static void write_one(env *e, const char *coll, const char *id)
{
    static float v[64];
    for (size_t i = 0; i < 64; i++)
        v[i] = (float)(i + 1);
    vs_record r = {id, strlen(id), v, "{\"w\":1}", 7};
    vs_store_wrlock(e->live);
    vs_collection *c = vs_store_find(e->live, coll);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(vs_collection_upsert(c, &r, 1), 0);
    vs_store_unlock(e->live);
}

static uint64_t live_seq(env *e)
{
    vs_store_rdlock(e->live);
    uint64_t s = vs_store_seq(e->live);
    vs_store_unlock(e->live);
    return s;
}

/* CURRENT, or "" when there is none. */
static void current(char out[VS_SNAPSHOT_ID_LEN + 1], env *e)
{
    int error = vs_catalog_current(out, e->cat);
    if (error == VS_ENOTFOUND)
        vs_error_clear();
    else
        ck_assert_msg(error == 0, "%s", vs_error_last());
}

static size_t nsnapshots(env *e)
{
    vs_snapshot *all = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&all, &n, e->cat), 0);
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&all[i]);
    free(all);
    return n;
}

static void snap(vs_snapshot *out, env *e, const char *const *cols, size_t n)
{
    vs_ops_snapshot_req rq = {"t", VS_FORMAT_BIN, VS_CODEC_ZSTD, -1, cols, n};
    int error = vs_ops_snapshot(out, &e->ops, &rq, NULL, NULL);
    ck_assert_msg(error == 0, "snapshot: %s", vs_error_last());
}

static void restore_ok(vs_ops_result *r, env *e, const char *id,
                       vs_ops_mode mode, const char *const *cols, size_t n)
{
    int error = vs_ops_restore(r, &e->ops, id, mode, cols, n, NULL, NULL);
    ck_assert_msg(error == 0, "restore: %s", vs_error_last());
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    unsigned char c;
    ck_assert_int_eq(pread(fd, &c, 1, at), 1);
    c ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

/* Changes the live store: drops "a", adds "d", writes into "b". */
static void scribble(env *e)
{
    vs_store_wrlock(e->live);
    ck_assert_int_eq(vs_store_drop(e->live, "a"), 0);
    vs_store *d = part("d");
    vs_store_merge_take(e->live, d);
    vs_store_unlock(e->live);
    vs_store_free(d);
    write_one(e, "b", "new");
}

/* ---- snapshots and restores ---- */

START_TEST(whole_snapshot_sets_current_and_replace_restore_gives_it_back)
{
    env e;
    env_open(&e, abc());
    vs_store *want = abc();
    write_one(&e, "b", "x1");
    write_one(&e, "b", "x2");
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 2);
    vs_store_free(want);
    want = copy_store(e.live);

    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    ck_assert_uint_eq(atomic_load(&e.ops.saved_seq), s.seq);
    ck_assert_uint_eq(s.seq, live_seq(&e));
    ck_assert_int_gt(atomic_load(&e.ops.last_save_ms), 0);
    ck_assert_uint_eq(s.ncollections, 3);
    ck_assert_uint_eq(atomic_load(&e.ops.snapshots_ok), 1);
    ck_assert_uint_eq(atomic_load(&e.ops.last_snapshot_bytes), s.bytes);

    scribble(&e);
    ck_assert_uint_gt(vs_ops_unsaved(&e.ops), 0);
    uint64_t before = live_seq(&e);

    vs_ops_result r;
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, NULL, 0);
    assert_equal(e.live, want, false);
    ck_assert_uint_eq(r.seq, before + 1);
    ck_assert_uint_eq(live_seq(&e), r.seq);
    ck_assert_uint_eq(r.records, 300 + 202 + 100);
    ck_assert_uint_eq(r.ncollections, 3);
    ck_assert_str_eq(r.collections[1].name, "b");
    ck_assert_uint_eq(r.collections[1].count, 202);
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    ck_assert_uint_eq(atomic_load(&e.ops.restores_ok), 1);

    json_t *j = vs_ops_result_json(&r);
    ck_assert_ptr_nonnull(j);
    char *text = json_dumps(j, JSON_COMPACT);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(strstr(text, "\"mode\":\"replace\"") &&
                      strstr(text, "{\"name\":\"a\",\"dimension\":8,"
                                   "\"metric\":\"cosine\",\"count\":300}") &&
                      strstr(text, "\"records\":602"),
                  "%s", text);
    free(text);
    json_decref(j);
    vs_ops_result_dispose(&r);
    vs_snapshot_dispose(&s);
    vs_store_free(want);
    env_close(&e);
}
END_TEST

START_TEST(partial_snapshot_does_not_touch_current_or_the_saved_count)
{
    env e;
    env_open(&e, abc());
    write_one(&e, "b", "x");
    static const char *const only_b[] = {"b"};
    vs_snapshot s;
    snap(&s, &e, only_b, 1);
    ck_assert_uint_eq(s.ncollections, 1);
    ck_assert_str_eq(s.collections[0].name, "b");
    ck_assert_uint_eq(s.records, 201);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, "");
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 1);
    ck_assert_int_eq(atomic_load(&e.ops.last_save_ms), 0);

    vs_snapshot w;
    snap(&w, &e, NULL, 0);
    current(cur, &e);
    ck_assert_str_eq(cur, w.id);
    vs_snapshot p2;
    snap(&p2, &e, only_b, 1);
    current(cur, &e);
    ck_assert_str_eq(cur, w.id);

    /* A merge of the partial snapshot is new state: CURRENT stays, the
     * state is unsaved. */
    vs_ops_result r;
    write_one(&e, "b", "y");
    restore_ok(&r, &e, s.id, VS_OPS_MERGE, NULL, 0);
    current(cur, &e);
    ck_assert_str_eq(cur, w.id);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 2);
    vs_ops_result_dispose(&r);
    /* Replacing the live store with all of it makes the live state equal
     * to that snapshot: CURRENT names it, nothing is unsaved. */
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, NULL, 0);
    vs_store *pb = part("b");
    static const float v[4] = {1, 2, 3, 4};
    vs_record rec = {"x", 1, v, "{\"w\":1}", 7};
    ck_assert_int_eq(vs_collection_upsert(vs_store_find(pb, "b"), &rec, 1), 0);
    assert_equal(e.live, pb, false);
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    vs_ops_result_dispose(&r);
    vs_store_free(pb);
    vs_snapshot_dispose(&s);
    vs_snapshot_dispose(&w);
    vs_snapshot_dispose(&p2);
    env_close(&e);
}
END_TEST

START_TEST(merge_and_partial_restores_give_exactly_the_expected_store)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s;
    snap(&s, &e, NULL, 0);

    /* The live store moves on: "a" is another one, "d" is new. */
    vs_store_wrlock(e.live);
    ck_assert_int_eq(vs_store_drop(e.live, "a"), 0);
    vs_store *a2 = part("a2"), *d = part("d");
    vs_store_merge_take(e.live, a2);
    vs_store_merge_take(e.live, d);
    vs_store_unlock(e.live);
    vs_store_free(a2);
    vs_store_free(d);
    static const char *const moved[] = {"a2", "b", "c", "d"};
    vs_store *state = parts(moved, 4);
    assert_equal(e.live, state, false);

    /* merge of "a": the live store with the snapshot's "a" */
    static const char *const only_a[] = {"a"};
    vs_ops_result r;
    restore_ok(&r, &e, s.id, VS_OPS_MERGE, only_a, 1);
    static const char *const want1[] = {"a", "b", "c", "d"};
    vs_store *want = parts(want1, 4);
    assert_equal(e.live, want, false);
    ck_assert_uint_eq(r.mode, VS_OPS_MERGE);
    ck_assert_uint_eq(r.ncollections, 1);
    ck_assert_uint_eq(r.records, 300);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_gt(vs_ops_unsaved(&e.ops), 0);
    vs_ops_result_dispose(&r);
    vs_store_free(want);

    /* back to the moved state, then merge everything */
    vs_store_wrlock(e.live);
    vs_store *tmp = copy_store(state);
    vs_store_swap(e.live, tmp);
    vs_store_unlock(e.live);
    vs_store_free(tmp);
    restore_ok(&r, &e, s.id, VS_OPS_MERGE, NULL, 0);
    assert_equal(e.live, want = parts(want1, 4), false);
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_gt(vs_ops_unsaved(&e.ops), 0);
    vs_ops_result_dispose(&r);
    vs_store_free(want);

    /* partial replace: exactly "a" and "c" */
    static const char *const ac[] = {"c", "a"};
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, ac, 2);
    static const char *const want2[] = {"a", "c"};
    assert_equal(e.live, want = parts(want2, 2), false);
    ck_assert_uint_eq(r.ncollections, 2);
    ck_assert_uint_eq(r.records, 400);
    ck_assert_uint_gt(vs_ops_unsaved(&e.ops), 0);
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    vs_ops_result_dispose(&r);
    vs_store_free(want);

    /* a replace naming every collection is a whole restore */
    static const char *const all[] = {"b", "c", "a"};
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, all, 3);
    assert_equal(e.live, want = abc(), false);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    vs_ops_result_dispose(&r);
    vs_store_free(want);

    vs_store_free(state);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(a_corrupt_snapshot_fails_and_leaves_the_live_store_unchanged)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    scribble(&e);
    vs_store *before = copy_store(e.live);
    ck_assert_uint_eq(vs_store_seq(before), live_seq(&e));
    char *path = NULL;
    ck_assert_int_eq(vs_catalog_data_path(&path, e.cat, &s), 0);
    flip_byte(path, (off_t)(s.bytes / 2));
    uint64_t unsaved = vs_ops_unsaved(&e.ops);

    static const vs_ops_mode modes[] = {VS_OPS_REPLACE, VS_OPS_MERGE};
    for (size_t i = 0; i < 2; i++) {
        vs_ops_result r;
        int error =
            vs_ops_restore(&r, &e.ops, s.id, modes[i], NULL, 0, NULL, NULL);
        ck_assert_int_eq(error, VS_ECORRUPT);
        ck_assert_msg(strstr(vs_error_last(), s.id), "%s", vs_error_last());
        ck_assert_uint_eq(r.ncollections, 0);
        assert_equal(e.live, before, true);
    }
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), unsaved);
    ck_assert_uint_eq(atomic_load(&e.ops.restores_failed), 2);
    ck_assert_uint_eq(atomic_load(&e.ops.restores_ok), 0);

    vs_file_info info;
    ck_assert_int_eq(vs_ops_verify(&info, &e.ops, s.id, NULL, NULL),
                     VS_ECORRUPT);
    ck_assert_msg(strstr(vs_error_last(), "sha256"), "%s", vs_error_last());
    free(path);
    vs_store_free(before);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(verify_reports_size_checksum_and_records)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    vs_file_info info;
    ck_assert_int_eq(vs_ops_verify(&info, &e.ops, s.id, NULL, NULL), 0);
    ck_assert_uint_eq(info.bytes, s.bytes);
    ck_assert_uint_eq(info.records, 600);
    ck_assert_int_eq(memcmp(info.sha256, s.sha256, VS_SHA256_LEN), 0);
    ck_assert_int_eq(vs_ops_verify(NULL, &e.ops, s.id, NULL, NULL), 0);
    ck_assert_int_eq(vs_ops_verify(NULL, &e.ops, "../etc", NULL, NULL),
                     VS_EINVALID);
    ck_assert_int_eq(
        vs_ops_verify(NULL, &e.ops, "20260101T000000.000Z-000000", NULL, NULL),
        VS_ENOTFOUND);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(unknown_collections_and_bad_requests_change_nothing)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    scribble(&e);
    vs_store *before = copy_store(e.live);
    size_t n = nsnapshots(&e);

    static const char *const nope[] = {"b", "nope"};
    vs_ops_result r;
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_MERGE, nope, 2, NULL, NULL),
        VS_ENOTFOUND);
    ck_assert_msg(strstr(vs_error_last(), "'nope'"), "%s", vs_error_last());
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, nope, 2, NULL, NULL),
        VS_ENOTFOUND);
    static const char *const twice[] = {"b", "b"};
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, twice, 2, NULL, NULL),
        VS_EINVALID);
    static const char *const bad[] = {"a/b"};
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, bad, 1, NULL, NULL),
        VS_EINVALID);
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, "nope", VS_OPS_REPLACE, NULL, 0, NULL, NULL),
        VS_EINVALID);
    ck_assert_int_eq(vs_ops_restore(&r, &e.ops, "20260101T000000.000Z-000000",
                                    VS_OPS_REPLACE, NULL, 0, NULL, NULL),
                     VS_ENOTFOUND);
    assert_equal(e.live, before, true);

    /* a snapshot of a collection the live store lacks */
    vs_snapshot t;
    static const char *const gone[] = {"a"};
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_BIN, VS_CODEC_NONE, -1, gone, 1};
    ck_assert_int_eq(vs_ops_snapshot(&t, &e.ops, &rq, NULL, NULL),
                     VS_ENOTFOUND);
    ck_assert_msg(strstr(vs_error_last(), "'a'"), "%s", vs_error_last());
    rq.collections = NULL;
    rq.ncollections = 0;
    rq.name = "\x01";
    ck_assert_int_eq(vs_ops_snapshot(&t, &e.ops, &rq, NULL, NULL), VS_EINVALID);
    rq.name = NULL;
    rq.format = VS_FORMAT_RUVECTOR;
    ck_assert_int_eq(vs_ops_snapshot(&t, &e.ops, &rq, NULL, NULL), VS_EINVALID);
    ck_assert_uint_eq(nsnapshots(&e), n);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    assert_equal(e.live, before, true);
    ck_assert_uint_eq(atomic_load(&e.ops.snapshots_failed), 3);
    vs_store_free(before);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

/* ---- cancellation ---- */

typedef struct cancel_at {
    int calls;
    int after; /* cancel from this call on */
} cancel_at;

static int cancel_cb(void *payload, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    cancel_at *c = payload;
    return ++c->calls > c->after;
}

START_TEST(cancellation_leaves_everything_as_it_was)
{
    env e;
    env_open(&e,
             vs_test_random_store("big", 20000, 32, VS_METRIC_DOT, true, 5));
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    write_one(&e, "big", "later");
    vs_store *before = copy_store(e.live);
    size_t n = nsnapshots(&e);

    /* restores: cancelled during the load, and at the last moment */
    for (int after = 0; after < 3; after++) {
        cancel_at c = {0, after};
        vs_ops_result r;
        ck_assert_int_eq(vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, NULL,
                                        0, cancel_cb, &c),
                         VS_ECANCELLED);
        assert_equal(e.live, before, true);
    }
    /* the final check alone */
    cancel_at last = {0, 1000000};
    vs_ops_result r;
    ck_assert_int_eq(vs_ops_restore(&r, &e.ops, s.id, VS_OPS_MERGE, NULL, 0,
                                    cancel_cb, &last),
                     0);
    int calls = last.calls;
    vs_ops_result_dispose(&r);
    ck_assert_int_ge(calls, 1);
    vs_store_free(before);
    before = copy_store(e.live);
    last.calls = 0;
    last.after = calls - 1; /* cancels at the switch only */
    ck_assert_int_eq(vs_ops_restore(&r, &e.ops, s.id, VS_OPS_MERGE, NULL, 0,
                                    cancel_cb, &last),
                     VS_ECANCELLED);
    assert_equal(e.live, before, true);

    /* a snapshot */
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    cancel_at c = {0, 0};
    vs_snapshot t;
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_JSON, VS_CODEC_GZIP, -1, NULL, 0};
    ck_assert_int_eq(vs_ops_snapshot(&t, &e.ops, &rq, cancel_cb, &c),
                     VS_ECANCELLED);
    ck_assert_uint_eq(nsnapshots(&e), n);
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    ck_assert_uint_eq(atomic_load(&e.ops.snapshots_failed), 0);
    ck_assert_uint_eq(atomic_load(&e.ops.restores_failed), 0);
    assert_equal(e.live, before, true);
    vs_store_free(before);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

/* ---- sequence numbers and the saved count ---- */

START_TEST(the_sequence_number_never_goes_backwards)
{
    env e;
    vs_store *high = abc();
    vs_store_set_seq(high, 1000);
    env_open(&e, high);
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    ck_assert_uint_eq(s.seq, 1000);

    /* a second live store, behind the snapshot, on the same catalog */
    vs_store *low = NULL;
    ck_assert_int_eq(vs_store_new(&low), 0);
    vs_ops ops2;
    ck_assert_int_eq(vs_ops_init(&ops2, low, e.cat), 0);
    vs_ops_result r;
    ck_assert_int_eq(
        vs_ops_restore(&r, &ops2, s.id, VS_OPS_REPLACE, NULL, 0, NULL, NULL),
        0);
    ck_assert_uint_eq(r.seq, 1001);
    ck_assert_uint_eq(vs_store_seq(low), 1001);
    ck_assert_uint_eq(vs_ops_unsaved(&ops2), 0);
    vs_ops_result_dispose(&r);
    ck_assert_int_eq(
        vs_ops_restore(&r, &ops2, s.id, VS_OPS_MERGE, NULL, 0, NULL, NULL), 0);
    ck_assert_uint_eq(r.seq, 1002);
    ck_assert_uint_eq(vs_ops_unsaved(&ops2), 1);
    vs_ops_result_dispose(&r);
    vs_ops_dispose(&ops2);
    vs_store_free(low);

    /* the live store ahead of the snapshot */
    for (int i = 0; i < 50; i++)
        write_one(&e, "b", "w");
    uint64_t ahead = live_seq(&e);
    ck_assert_uint_eq(ahead, 1050);
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, NULL, 0, NULL, NULL),
        0);
    ck_assert_uint_eq(r.seq, ahead + 1);
    vs_ops_result_dispose(&r);
    static const char *const only_c[] = {"c"};
    uint64_t prev = live_seq(&e);
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, only_c, 1, NULL, NULL),
        0);
    ck_assert_uint_gt(r.seq, prev);
    ck_assert_uint_eq(live_seq(&e), r.seq);
    vs_ops_result_dispose(&r);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(unsaved_counts_writes_since_the_last_save_or_restore)
{
    env e;
    env_open(&e, abc());
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    write_one(&e, "a", "1");
    write_one(&e, "a", "2");
    write_one(&e, "c", "3");
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 3);
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    write_one(&e, "a", "4");
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 1);
    static const char *const only_a[] = {"a"};
    vs_snapshot p;
    snap(&p, &e, only_a, 1);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 1);
    vs_ops_result r;
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, NULL, 0);
    vs_ops_result_dispose(&r);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    restore_ok(&r, &e, p.id, VS_OPS_MERGE, NULL, 0);
    vs_ops_result_dispose(&r);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 1);
    write_one(&e, "a", "5");
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 2);

    /* an import is new state, even a replacing one */
    restore_ok(&r, &e, s.id, VS_OPS_REPLACE, NULL, 0);
    vs_ops_result_dispose(&r);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 0);
    vs_buf b = VS_BUF_INIT((size_t)64 << 20);
    vs_store *x = part("x");
    save_to(&b, x, VS_FORMAT_BIN, VS_CODEC_NONE);
    vs_store_free(x);
    vs_stream *in = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, b.ptr, b.len), 0);
    ck_assert_int_eq(
        vs_ops_import(&r, &e.ops, in, VS_OPS_REPLACE, NULL, 0, NULL, NULL), 0);
    vs_stream_free(in);
    vs_ops_result_dispose(&r);
    ck_assert_uint_eq(vs_ops_unsaved(&e.ops), 1);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, s.id);
    vs_buf_dispose(&b);
    vs_snapshot_dispose(&s);
    vs_snapshot_dispose(&p);
    env_close(&e);
}
END_TEST

/* ---- two snapshots at once ---- */

typedef struct racer {
    env *e;
    char tag;
    int error;
    vs_snapshot s;
} racer;

static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
static char trace[100000];
static size_t ntrace;

static int trace_cb(void *payload, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    racer *r = payload;
    pthread_mutex_lock(&trace_mu);
    if (ntrace < sizeof(trace) - 1)
        trace[ntrace++] = r->tag;
    pthread_mutex_unlock(&trace_mu);
    return 0;
}

static void *racer_main(void *arg)
{
    racer *r = arg;
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_JSON, VS_CODEC_NONE, -1, NULL, 0};
    r->error = vs_ops_snapshot(&r->s, &r->e->ops, &rq, trace_cb, r);
    return NULL;
}

START_TEST(two_snapshots_at_once_both_succeed_one_after_the_other)
{
    env e;
    env_open(&e,
             vs_test_random_store("big", 30000, 32, VS_METRIC_DOT, true, 6));
    racer r[2];
    memset(r, 0, sizeof(r));
    r[0].e = r[1].e = &e;
    r[0].tag = 'A';
    r[1].tag = 'B';
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(r[i].error == 0, "%c: %d", r[i].tag, r[i].error);
    ck_assert_str_ne(r[0].s.id, r[1].s.id);
    trace[ntrace] = '\0';
    /* all of one's progress, then all of the other's */
    size_t switches = 0;
    for (size_t i = 1; i < ntrace; i++)
        switches += trace[i] != trace[i - 1];
    ck_assert_msg(switches <= 1, "interleaved: %s", trace);
    ck_assert_msg(strchr(trace, 'A') && strchr(trace, 'B'), "%s", trace);
    /* CURRENT is the one that finished last, which began last */
    const char *last = strcmp(r[0].s.id, r[1].s.id) > 0 ? r[0].s.id : r[1].s.id;
    ck_assert_int_eq(trace[ntrace - 1],
                     strcmp(r[0].s.id, r[1].s.id) > 0 ? 'A' : 'B');
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, last);
    ck_assert_uint_eq(nsnapshots(&e), 2);
    ck_assert_uint_eq(atomic_load(&e.ops.snapshots_ok), 2);
    for (int i = 0; i < 2; i++)
        vs_snapshot_dispose(&r[i].s);
    env_close(&e);
}
END_TEST

/* ---- import ---- */

START_TEST(import_reads_json_and_gzipped_binary_streams)
{
    env e;
    env_open(&e, abc());
    static const char *const dx[] = {"d", "x"};
    vs_store *src = parts(dx, 2);

    vs_buf js = VS_BUF_INIT((size_t)64 << 20);
    save_to(&js, src, VS_FORMAT_JSON, VS_CODEC_NONE);
    vs_stream *in = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, js.ptr, js.len), 0);
    vs_ops_result r;
    int error =
        vs_ops_import(&r, &e.ops, in, VS_OPS_REPLACE, "x.json", 0, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream_free(in);
    assert_equal(e.live, src, false);
    ck_assert_uint_eq(r.ncollections, 2);
    ck_assert_uint_eq(r.records, 40);
    vs_ops_result_dispose(&r);

    /* gzip'd binary, merged over abc */
    vs_store *gone = e.live;
    e.live = NULL;
    vs_ops_dispose(&e.ops);
    vs_store_free(gone);
    e.live = abc();
    ck_assert_int_eq(vs_ops_init(&e.ops, e.live, e.cat), 0);
    vs_buf gz = VS_BUF_INIT((size_t)64 << 20);
    save_to(&gz, src, VS_FORMAT_BIN, VS_CODEC_GZIP);
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, gz.ptr, gz.len), 0);
    error = vs_ops_import(&r, &e.ops, in, VS_OPS_MERGE, NULL, 0, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream_free(in);
    static const char *const abcdx[] = {"a", "b", "c", "d", "x"};
    vs_store *want = parts(abcdx, 5);
    assert_equal(e.live, want, false);
    vs_ops_result_dispose(&r);
    vs_store_free(want);

    /* too large once decoded, or corrupt: nothing changes */
    vs_store *before = copy_store(e.live);
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, gz.ptr, gz.len), 0);
    ck_assert_int_eq(
        vs_ops_import(&r, &e.ops, in, VS_OPS_REPLACE, NULL, 100, NULL, NULL),
        VS_ETOOBIG);
    vs_stream_free(in);
    js.ptr[js.len / 2] ^= 0x04;
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, js.ptr, js.len), 0);
    ck_assert_int_eq(
        vs_ops_import(&r, &e.ops, in, VS_OPS_REPLACE, NULL, 0, NULL, NULL),
        VS_ECORRUPT);
    vs_stream_free(in);
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, gz.ptr, gz.len / 2), 0);
    ck_assert_int_eq(
        vs_ops_import(&r, &e.ops, in, VS_OPS_MERGE, NULL, 0, NULL, NULL),
        VS_ECORRUPT);
    vs_stream_free(in);
    assert_equal(e.live, before, true);
    ck_assert_uint_eq(atomic_load(&e.ops.restores_failed), 3);

    vs_store_free(before);
    vs_buf_dispose(&js);
    vs_buf_dispose(&gz);
    vs_store_free(src);
    env_close(&e);
}
END_TEST

START_TEST(delete_refuses_current_and_removes_others)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s, t;
    snap(&s, &e, NULL, 0);
    snap(&t, &e, NULL, 0);
    ck_assert_int_eq(vs_ops_delete(&e.ops, t.id), VS_EBUSY);
    ck_assert_msg(strstr(vs_error_last(), "CURRENT"), "%s", vs_error_last());
    ck_assert_uint_eq(nsnapshots(&e), 2);
    ck_assert_int_eq(vs_ops_delete(&e.ops, s.id), 0);
    ck_assert_uint_eq(nsnapshots(&e), 1);
    ck_assert_int_eq(vs_ops_delete(&e.ops, s.id), VS_ENOTFOUND);
    ck_assert_int_eq(vs_ops_delete(&e.ops, "../x"), VS_EINVALID);
    /* a restore of a deleted snapshot fails and changes nothing */
    vs_store *before = copy_store(e.live);
    vs_ops_result r;
    ck_assert_int_eq(
        vs_ops_restore(&r, &e.ops, s.id, VS_OPS_REPLACE, NULL, 0, NULL, NULL),
        VS_ENOTFOUND);
    assert_equal(e.live, before, true);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current(cur, &e);
    ck_assert_str_eq(cur, t.id);
    vs_store_free(before);
    vs_snapshot_dispose(&s);
    vs_snapshot_dispose(&t);
    env_close(&e);
}
END_TEST

/* ---- metrics ---- */

START_TEST(metrics_show_the_figures)
{
    env e;
    env_open(&e, abc());
    vs_snapshot s;
    snap(&s, &e, NULL, 0);
    write_one(&e, "a", "z");
    vs_buf b = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(vs_ops_metrics_render(&b, &e.ops), 0);
    ck_assert_msg(
        strstr(b.ptr, "vecsnap_snapshots_total{result=\"ok\"} 1\n") &&
            strstr(b.ptr, "vecsnap_unsaved_changes 1\n") &&
            strstr(b.ptr, "# TYPE vecsnap_restores_total counter\n") &&
            strstr(b.ptr, "vecsnap_snapshot_forks_total "),
        "%s", b.ptr);
    char line[128];
    snprintf(line, sizeof(line), "vecsnap_snapshot_last_bytes %llu\n",
             (unsigned long long)s.bytes);
    ck_assert_msg(strstr(b.ptr, line), "%s", b.ptr);
    vs_buf_dispose(&b);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(
        tc, whole_snapshot_sets_current_and_replace_restore_gives_it_back);
    tcase_add_test(tc,
                   partial_snapshot_does_not_touch_current_or_the_saved_count);
    tcase_add_test(tc,
                   merge_and_partial_restores_give_exactly_the_expected_store);
    tcase_add_test(
        tc, a_corrupt_snapshot_fails_and_leaves_the_live_store_unchanged);
    tcase_add_test(tc, verify_reports_size_checksum_and_records);
    tcase_add_test(tc, unknown_collections_and_bad_requests_change_nothing);
    tcase_add_test(tc, cancellation_leaves_everything_as_it_was);
    tcase_add_test(tc, the_sequence_number_never_goes_backwards);
    tcase_add_test(tc, unsaved_counts_writes_since_the_last_save_or_restore);
    tcase_add_test(tc, two_snapshots_at_once_both_succeed_one_after_the_other);
    tcase_add_test(tc, import_reads_json_and_gzipped_binary_streams);
    tcase_add_test(tc, delete_refuses_current_and_removes_others);
    tcase_add_test(tc, metrics_show_the_figures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ops_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
