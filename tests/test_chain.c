/*
 * test_chain: incremental snapshots and their chains.  The incremental
 * binary document (written in proportion to the change, applied to its
 * parent's state, refused where a whole store is expected), chains of
 * links through the catalog (round trips through upserts, deletes, drops
 * and re-creations, empty links; every link tampered with in turn, gaps,
 * missing parents: an error naming the link and nothing built), the ops
 * that take them (falling back to full when they must), deletion rules
 * (dependents refused, cascades newest first, never CURRENT) and
 * compaction (the same content and seq; CURRENT follows).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"
#include "ops.h"
#include "snapshot.h"
#include "testutil.h"

/* ---- helpers ---- */

typedef struct env {
    char *root;
    vs_catalog *cat;
    vs_store *live;
    vs_ops ops;
    bool ops_on;
} env;

static void env_open(env *e)
{
    memset(e, 0, sizeof(*e));
    e->root = vs_test_tmpdir_new();
    char *data = vs_test_path(e->root, "data");
    int error = vs_catalog_open(&e->cat, data);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    free(data);
    ck_assert_int_eq(vs_store_new(&e->live), 0);
}

static void env_ops(env *e)
{
    ck_assert_int_eq(vs_ops_init(&e->ops, e->live, e->cat), 0);
    e->ops_on = true;
}

static void env_close(env *e)
{
    if (e->ops_on)
        vs_ops_dispose(&e->ops);
    vs_store_free(e->live);
    vs_catalog_free(e->cat);
    vs_test_tmpdir_free(e->root);
}

static void assert_equal(const vs_store *want, const vs_store *got, bool seq)
{
    char why[512];
    ck_assert_msg(vs_test_store_equal(want, got, seq, why, sizeof(why)), "%s",
                  why);
}

static vs_collection *coll(vs_store *st, const char *name)
{
    vs_collection *c = vs_store_find(st, name);
    ck_assert_msg(c, "no collection %s", name);
    return c;
}

static void create_coll(vs_store *st, const char *name, uint32_t dim,
                        vs_metric m)
{
    int error = vs_store_create(NULL, st, name, dim, m);
    ck_assert_msg(error == 0, "%s", vs_error_last());
}

/* Upsert ids prefix<first> .. prefix<first+n-1> with vectors from `seed`. */
static void put_range(vs_store *st, const char *name, const char *prefix,
                      size_t first, size_t n, uint64_t seed)
{
    vs_collection *c = coll(st, name);
    uint32_t dim = vs_collection_dimension(c);
    vs_record *r = calloc(n, sizeof(*r));
    float *v = malloc(n * dim * sizeof(float));
    char (*ids)[32] = malloc(n * sizeof(*ids));
    char (*meta)[48] = malloc(n * sizeof(*meta));
    ck_assert(r && v && ids && meta);
    for (size_t i = 0; i < n; i++) {
        for (uint32_t d = 0; d < dim; d++)
            v[i * dim + d] = vs_test_randf(&seed);
        int il = snprintf(ids[i], sizeof(ids[i]), "%s%zu", prefix, first + i);
        int ml = snprintf(meta[i], sizeof(meta[i]), "{\"k\":%zu}", first + i);
        r[i] = (vs_record){ids[i], (size_t)il, v + i * dim, meta[i],
                           (size_t)ml};
    }
    int error = vs_collection_upsert(c, r, n);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    free(r);
    free(v);
    free(ids);
    free(meta);
}

static void del_range(vs_store *st, const char *name, const char *prefix,
                      size_t first, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char id[32];
        int il = snprintf(id, sizeof(id), "%s%zu", prefix, first + i);
        vs_record r = {id, (size_t)il, NULL, NULL, 0};
        ck_assert_int_eq(vs_collection_delete(coll(st, name), &r, 1, NULL),
                         0);
    }
}

static void set_current(env *e, const char *id)
{
    int error = vs_catalog_set_current(e->cat, id);
    ck_assert_msg(error == 0, "%s", vs_error_last());
}

static vs_snapshot full(env *e, vs_store *st)
{
    vs_snapshot s;
    int error = vs_catalog_create(&s, e->cat, st, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_str_eq(s.kind, "full");
    set_current(e, s.id);
    return s;
}

/* A link on CURRENT (whose seq is `since`), which then becomes CURRENT. */
static vs_snapshot link_on(env *e, vs_store *st, uint64_t since,
                           vs_codec_id codec)
{
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = codec;
    o.incremental = true;
    o.since_seq = since;
    vs_snapshot s;
    int error = vs_catalog_create(&s, e->cat, st, NULL, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_str_eq(s.kind, "incremental");
    ck_assert_uint_eq(s.seq_from, since);
    ck_assert_uint_eq(s.seq, vs_store_seq(st));
    set_current(e, s.id);
    return s;
}

static void assert_loads_equal(env *e, const char *id, const vs_store *want)
{
    vs_store *got = NULL;
    vs_file_info info;
    int error = vs_catalog_load(&got, &info, e->cat, id, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    assert_equal(want, got, true);
    ck_assert_uint_eq(info.seq, vs_store_seq(want));
    ck_assert_uint_eq(info.records, vs_store_nrecords(want));
    vs_store_free(got);
}

/* Load fails with `code` and a message holding `needle`; nothing built. */
static void assert_load_fails(env *e, const char *id, int code,
                              const char *needle)
{
    vs_store *got = NULL;
    int error = vs_catalog_load(&got, NULL, e->cat, id, NULL, NULL);
    ck_assert_msg(error == code, "load %s: %d (%s)", id, error,
                  vs_error_last());
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(vs_error_last(), needle), "'%s' lacks '%s'",
                  vs_error_last(), needle);
    ck_assert_int_eq(vs_catalog_verify(NULL, e->cat, id), code);
}

static char *data_path(env *e, const vs_snapshot *s)
{
    char *path = NULL;
    ck_assert_int_eq(vs_catalog_data_path(&path, e->cat, s), 0);
    return path;
}

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_ne(c, EOF);
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    fputc(c ^ 0x20, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *snap_dir(env *e, const char *id)
{
    char *snaps = vs_test_path(vs_catalog_datadir(e->cat), "snapshots");
    char *dir = vs_test_path(snaps, id);
    free(snaps);
    return dir;
}

/* Rewrite a manifest (tests only: the catalog never does). */
static void rewrite_manifest(env *e, const vs_snapshot *s)
{
    char *dir = snap_dir(e, s->id);
    int error = vs_manifest_write(dir, s);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    free(dir);
}

static vs_snapshot get(env *e, const char *id)
{
    vs_snapshot s;
    int error = vs_catalog_get(&s, e->cat, id);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    return s;
}

static size_t nsnapshots(env *e)
{
    vs_snapshot *all = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&all, &n, e->cat), 0);
    vs_snapshot_list_free(all, n);
    return n;
}

/* A chain F <- I1 <- I2 <- I3 over e->live; ids into ids[0..3]. */
static void make_chain(env *e, char ids[4][VS_SNAPSHOT_ID_LEN + 1])
{
    vs_store *st = e->live;
    create_coll(st, "a", 8, VS_METRIC_COSINE);
    create_coll(st, "b", 3, VS_METRIC_EUCLIDEAN);
    put_range(st, "a", "r", 0, 300, 1);
    put_range(st, "b", "q", 0, 50, 2);
    vs_snapshot s = full(e, st);
    memcpy(ids[0], s.id, sizeof(ids[0]));
    for (int k = 1; k < 4; k++) {
        uint64_t since = s.seq;
        vs_snapshot_dispose(&s);
        put_range(st, "a", "r", (size_t)k * 10, 5, 100 + (uint64_t)k);
        del_range(st, "b", "q", (size_t)k * 3, 2);
        s = link_on(e, st, since, VS_CODEC_NONE);
        memcpy(ids[k], s.id, sizeof(ids[k]));
    }
    vs_snapshot_dispose(&s);
}

/* ---- the document ---- */

START_TEST(incremental_document_is_proportional_to_the_change)
{
    vs_store *st =
        vs_test_random_store("big", 20000, 32, VS_METRIC_DOT, true, 5);
    uint64_t since = vs_store_seq(st);
    put_range(st, "big", "id-", 100, 200, 9); /* 1 % replaced */
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    vs_buf fb = VS_BUF_INIT(64u << 20), ib = VS_BUF_INIT(64u << 20);
    vs_stream *w = NULL;
    vs_file_info fi, ii;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &fb), 0);
    ck_assert_int_eq(vs_fmt_save_stream(&fi, w, st, &o), 0);
    vs_stream_free(w);
    o.incremental = true;
    o.since_seq = since;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &ib), 0);
    ck_assert_int_eq(vs_fmt_save_stream(&ii, w, st, &o), 0);
    vs_stream_free(w);
    ck_assert(ii.incremental);
    ck_assert_uint_eq(ii.since_seq, since);
    ck_assert_uint_eq(ii.changed, 200);
    ck_assert_uint_eq(ii.deleted, 0);
    ck_assert_uint_eq(ii.records, 20000);
    ck_assert_msg(ib.len * 50 < fb.len, "incremental %zu bytes, full %zu",
                  ib.len, fb.len);

    /* applied to the state it was taken from, it gives the store */
    vs_store *base =
        vs_test_random_store("big", 20000, 32, VS_METRIC_DOT, true, 5);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.apply_to = base;
    vs_stream *r = NULL;
    vs_store *none = NULL;
    vs_file_info li;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, ib.ptr, ib.len), 0);
    int error = vs_fmt_load_stream(&none, &li, r, &lo);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_stream_free(r);
    ck_assert_ptr_null(none);
    assert_equal(st, base, true);
    ck_assert_uint_eq(li.records, 20000);
    ck_assert_uint_eq(li.changed, 200);
    vs_store_free(base);

    /* on its own it is refused; as a delta it is its changes */
    vs_load_options plain = VS_LOAD_OPTIONS_INIT;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, ib.ptr, ib.len), 0);
    ck_assert_int_eq(vs_fmt_load_stream(&none, NULL, r, &plain), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "snapshot chain"));
    vs_stream_free(r);
    plain.delta = true;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, ib.ptr, ib.len), 0);
    ck_assert_int_eq(vs_fmt_load_stream(&none, &li, r, &plain), 0);
    vs_stream_free(r);
    ck_assert_uint_eq(vs_store_nrecords(none), 200);
    ck_assert_uint_eq(li.records, 200);
    vs_store_free(none);

    /* a full document is not changes */
    vs_store *other = NULL;
    ck_assert_int_eq(vs_store_new(&other), 0);
    lo.apply_to = other;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, fb.ptr, fb.len), 0);
    ck_assert_int_eq(vs_fmt_load_stream(&none, NULL, r, &lo), VS_EINVALID);
    vs_stream_free(r);
    /* changes applied to a state they were not taken from */
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, ib.ptr, ib.len), 0);
    ck_assert_int_eq(vs_fmt_load_stream(&none, NULL, r, &lo), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "no such collection"));
    vs_stream_free(r);
    vs_store_free(other);
    vs_buf_dispose(&fb);
    vs_buf_dispose(&ib);
    vs_store_free(st);
}
END_TEST

/* The state a link below applies to. */
static vs_store *small_base(void)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    create_coll(st, "a", 4, VS_METRIC_COSINE);
    create_coll(st, "b", 2, VS_METRIC_DOT);
    put_range(st, "a", "r", 0, 20, 1);
    put_range(st, "b", "q", 0, 5, 2);
    return st;
}

static int apply_bytes(vs_store *st, const void *p, size_t n)
{
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.apply_to = st;
    vs_stream *r = NULL;
    vs_store *none = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, p, n), 0);
    int error = vs_fmt_load_stream(&none, NULL, r, &lo);
    vs_stream_free(r);
    ck_assert_ptr_null(none);
    return error;
}

START_TEST(every_flip_and_cut_of_a_link_is_refused)
{
    vs_store *st = small_base();
    uint64_t since = vs_store_seq(st);
    put_range(st, "a", "r", 18, 4, 3);
    del_range(st, "a", "r", 0, 2);
    ck_assert_int_eq(vs_store_drop(st, "b"), 0);
    create_coll(st, "c", 3, VS_METRIC_EUCLIDEAN);
    put_range(st, "c", "s", 0, 2, 4);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.incremental = true;
    o.since_seq = since;
    vs_buf b = VS_BUF_INIT(1u << 20);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &o), 0);
    vs_stream_free(w);
    vs_store *base = small_base();
    ck_assert_int_eq(apply_bytes(base, b.ptr, b.len), 0);
    assert_equal(st, base, true);
    vs_store_free(base);
    uint8_t *copy = malloc(b.len);
    ck_assert_ptr_nonnull(copy);
    for (size_t i = 0; i < b.len; i++) {
        memcpy(copy, b.ptr, b.len);
        copy[i] ^= 0x04;
        base = small_base();
        int error = apply_bytes(base, copy, b.len);
        ck_assert_msg(error == VS_ECORRUPT || error == VS_EVERSION ||
                          error == VS_EINVALID,
                      "byte %zu flipped: %d (%s)", i, error, vs_error_last());
        vs_store_free(base);
        base = small_base();
        ck_assert_int_lt(apply_bytes(base, b.ptr, i), 0);
        vs_store_free(base);
    }
    free(copy);
    vs_buf_dispose(&b);
    vs_store_free(st);
}
END_TEST

START_TEST(incremental_is_binary_and_of_the_whole_store)
{
    vs_store *st = vs_test_random_store("c", 10, 4, VS_METRIC_DOT, false, 1);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    vs_buf b = VS_BUF_INIT(1u << 20);
    vs_stream *w = NULL;
    o.incremental = true;
    o.format = VS_FORMAT_JSON;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &o), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "binary"));
    o.format = VS_FORMAT_BIN;
    static const char *const one[] = {"c"};
    o.collections = one;
    o.ncollections = 1;
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &o), VS_EINVALID);
    o.collections = NULL;
    o.ncollections = 0;
    o.since_seq = vs_store_seq(st) + 1;
    ck_assert_int_eq(vs_fmt_save_stream(NULL, w, st, &o), VS_EINVALID);
    vs_stream_free(w);
    vs_buf_dispose(&b);
    vs_store_free(st);
}
END_TEST

/* ---- chains ---- */

START_TEST(chain_round_trips_upserts_deletes_drops_and_empty_links)
{
    env e;
    env_open(&e);
    vs_store *st = e.live;
    create_coll(st, "keep", 6, VS_METRIC_COSINE);
    create_coll(st, "swap", 4, VS_METRIC_DOT);
    create_coll(st, "gone", 2, VS_METRIC_EUCLIDEAN);
    put_range(st, "keep", "k", 0, 500, 1);
    put_range(st, "swap", "s", 0, 100, 2);
    put_range(st, "gone", "g", 0, 30, 3);
    vs_snapshot s = full(&e, st);
    char base[VS_SNAPSHOT_ID_LEN + 1];
    memcpy(base, s.id, sizeof(base));
    uint64_t since = s.seq;
    char parent[VS_SNAPSHOT_ID_LEN + 1];
    memcpy(parent, s.id, sizeof(parent));
    for (int step = 0; step < 7; step++) {
        switch (step) {
        case 0: /* upserts, new and replaced; deletes */
            put_range(st, "keep", "k", 490, 20, 10);
            del_range(st, "keep", "k", 0, 7);
            del_range(st, "swap", "s", 50, 10);
            break;
        case 1: /* drop and re-create with another shape */
            ck_assert_int_eq(vs_store_drop(st, "swap"), 0);
            create_coll(st, "swap", 9, VS_METRIC_EUCLIDEAN);
            put_range(st, "swap", "s", 0, 12, 11);
            break;
        case 2: /* nothing at all */
            break;
        case 3: /* a collection dropped, one added */
            ck_assert_int_eq(vs_store_drop(st, "gone"), 0);
            create_coll(st, "new", 3, VS_METRIC_COSINE);
            put_range(st, "new", "n", 0, 5, 12);
            break;
        case 4: /* deleted then written again, and the reverse */
            del_range(st, "keep", "k", 100, 5);
            put_range(st, "keep", "k", 100, 2, 13);
            put_range(st, "keep", "k", 0, 3, 14);
            del_range(st, "keep", "k", 1, 1);
            break;
        case 5: /* a collection created and dropped in between */
            create_coll(st, "brief", 2, VS_METRIC_DOT);
            put_range(st, "brief", "b", 0, 3, 15);
            ck_assert_int_eq(vs_store_drop(st, "brief"), 0);
            break;
        default: /* everything of a collection deleted */
            del_range(st, "new", "n", 0, 5);
            break;
        }
        vs_snapshot_dispose(&s);
        s = link_on(&e, st, since, step % 2 ? VS_CODEC_ZSTD : VS_CODEC_NONE);
        ck_assert_str_eq(s.parent, parent);
        ck_assert_str_eq(s.base, base);
        ck_assert_uint_eq(s.records, vs_store_nrecords(st));
        ck_assert_uint_eq(s.ncollections, vs_store_ncollections(st));
        if (step == 2)
            ck_assert_uint_eq(s.changed + s.deleted, 0);
        assert_loads_equal(&e, s.id, st);
        since = s.seq;
        memcpy(parent, s.id, sizeof(parent));
    }
    vs_snapshot *chain = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_chain(&chain, &n, e.cat, s.id, true), 0);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(chain[0].id, base);
    ck_assert_str_eq(chain[7].id, s.id);
    vs_snapshot_list_free(chain, n);

    /* a restart: the chain loaded is the live state, and links go on */
    vs_store *again = NULL;
    ck_assert_int_eq(vs_catalog_load(&again, NULL, e.cat, s.id, NULL, NULL),
                     0);
    put_range(again, "keep", "k", 600, 4, 16);
    del_range(again, "swap", "s", 0, 1);
    vs_snapshot t = link_on(&e, again, s.seq, VS_CODEC_NONE);
    ck_assert_uint_eq(t.changed, 4);
    ck_assert_uint_eq(t.deleted, 1);
    assert_loads_equal(&e, t.id, again);
    vs_snapshot_dispose(&t);
    vs_store_free(again);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(every_tampered_link_is_named_and_nothing_is_built)
{
    env e;
    env_open(&e);
    char ids[4][VS_SNAPSHOT_ID_LEN + 1];
    make_chain(&e, ids);
    env_ops(&e);
    vs_store *before = NULL;
    ck_assert_int_eq(vs_catalog_load(&before, NULL, e.cat, ids[3], NULL, NULL),
                     0);
    for (int k = 0; k < 4; k++) {
        vs_snapshot s = get(&e, ids[k]);
        char *path = data_path(&e, &s);
        flip_byte(path, 40);
        assert_load_fails(&e, ids[3], VS_ECORRUPT, ids[k]);
        /* a restore of the tip changes nothing in the live store */
        vs_ops_result r;
        ck_assert_int_eq(vs_ops_restore(&r, &e.ops, ids[3], VS_OPS_REPLACE,
                                        NULL, 0, NULL, NULL),
                         VS_ECORRUPT);
        assert_equal(before, e.live, true);
        flip_byte(path, 40);
        free(path);
        vs_snapshot_dispose(&s);
    }
    assert_loads_equal(&e, ids[3], before);
    vs_store_free(before);
    env_close(&e);
}
END_TEST

START_TEST(gaps_missing_parents_and_foreign_bases_are_corrupt)
{
    env e;
    env_open(&e);
    char ids[4][VS_SNAPSHOT_ID_LEN + 1];
    make_chain(&e, ids);
    /* a gap: I2 says its changes start elsewhere */
    vs_snapshot s = get(&e, ids[2]);
    s.seq_from -= 1;
    rewrite_manifest(&e, &s);
    assert_load_fails(&e, ids[3], VS_ECORRUPT, "gap");
    s.seq_from += 1;
    rewrite_manifest(&e, &s);
    /* another base */
    char keep[VS_SNAPSHOT_ID_LEN + 1];
    memcpy(keep, s.base, sizeof(keep));
    memcpy(s.base, ids[1], sizeof(s.base));
    rewrite_manifest(&e, &s);
    assert_load_fails(&e, ids[3], VS_ECORRUPT, ids[2]);
    memcpy(s.base, keep, sizeof(s.base));
    rewrite_manifest(&e, &s);
    /* a manifest that does not match its data (the counts) */
    s.changed += 1;
    rewrite_manifest(&e, &s);
    assert_load_fails(&e, ids[3], VS_ECORRUPT, ids[2]);
    s.changed -= 1;
    rewrite_manifest(&e, &s);
    vs_snapshot_dispose(&s);
    vs_store *ok = NULL;
    ck_assert_int_eq(vs_catalog_load(&ok, NULL, e.cat, ids[3], NULL, NULL), 0);
    vs_store_free(ok);
    /* a missing parent (removed behind the catalog's back) */
    vs_test_tmpdir_free(snap_dir(&e, ids[1])); /* rm -rf */
    assert_load_fails
(&e, ids[3], VS_ECORRUPT, "is missing");
    ck_assert_ptr_nonnull(strstr(vs_error_last(), ids[1]));
    env_close(&e);
}
END_TEST

START_TEST(deleting_what_others_depend_on_is_refused_or_cascades)
{
    env e;
    env_open(&e);
    char ids[4][VS_SNAPSHOT_ID_LEN + 1];
    make_chain(&e, ids);
    env_ops(&e);
    /* the base and the middle have dependents */
    ck_assert_int_eq(vs_catalog_delete(e.cat, ids[0]), VS_EBUSY);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), ids[3]));
    vs_snapshot *deps = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_dependents(&deps, &n, e.cat, ids[1]), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(deps[0].id, ids[2]);
    ck_assert_str_eq(deps[1].id, ids[3]);
    vs_snapshot_list_free(deps, n);
    ck_assert_int_eq(vs_ops_delete(&e.ops, ids[1]), VS_EBUSY);
    ck_assert_int_eq(
        vs_ops_delete_cascade(NULL, NULL, &e.ops, ids[1], false), VS_EBUSY);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "cascade"));
    /* a cascade that would take CURRENT (the tip) is refused whole */
    ck_assert_int_eq(vs_ops_delete_cascade(NULL, NULL, &e.ops, ids[1], true),
                     VS_EBUSY);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "CURRENT"));
    ck_assert_uint_eq(nsnapshots(&e), 4);

    /* CURRENT back on the base: a branch grows from it */
    set_current(&e, ids[0]);
    vs_snapshot f = get(&e, ids[0]);
    vs_store *st = NULL;
    ck_assert_int_eq(vs_catalog_load(&st, NULL, e.cat, ids[0], NULL, NULL), 0);
    put_range(st, "a", "x", 0, 3, 77);
    vs_snapshot br = link_on(&e, st, f.seq, VS_CODEC_NONE);
    ck_assert_str_eq(br.parent, ids[0]);
    assert_loads_equal(&e, br.id, st);
    set_current(&e, ids[0]);
    /* cascade from I1: I3, I2, I1 go, newest first; the branch stays */
    char (*gone)[VS_SNAPSHOT_ID_LEN + 1] = NULL;
    ck_assert_int_eq(vs_ops_delete_cascade(&gone, &n, &e.ops, ids[1], true),
                     0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(gone[0], ids[3]);
    ck_assert_str_eq(gone[1], ids[2]);
    ck_assert_str_eq(gone[2], ids[1]);
    free(gone);
    ck_assert_uint_eq(nsnapshots(&e), 2);
    assert_loads_equal(&e, br.id, st);
    /* the base: CURRENT itself is never deleted, cascade or not */
    ck_assert_int_eq(vs_ops_delete_cascade(NULL, NULL, &e.ops, ids[0], true),
                     VS_EBUSY);
    set_current(&e, br.id);
    ck_assert_int_eq(vs_ops_delete_cascade(NULL, NULL, &e.ops, ids[0], true),
                     VS_EBUSY);
    ck_assert_uint_eq(nsnapshots(&e), 2);
    /* the tip alone has no dependents */
    vs_store_free(st);
    vs_snapshot_dispose(&br);
    vs_snapshot_dispose(&f);
    env_close(&e);
}
END_TEST

START_TEST(compaction_equals_the_chain_and_carries_current)
{
    env e;
    env_open(&e);
    char ids[4][VS_SNAPSHOT_ID_LEN + 1];
    make_chain(&e, ids);
    env_ops(&e);
    vs_store *chain = NULL;
    ck_assert_int_eq(vs_catalog_load(&chain, NULL, e.cat, ids[2], NULL, NULL),
                     0);
    /* not the tip: CURRENT stays */
    vs_snapshot c;
    bool moved = true;
    int error = vs_ops_compact(&c, &moved, &e.ops, ids[2], NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert(!moved);
    ck_assert_str_eq(c.kind, "full");
    ck_assert_str_eq(c.origin, "compact");
    vs_snapshot i2 = get(&e, ids[2]);
    ck_assert_uint_eq(c.seq, i2.seq);
    ck_assert_uint_eq(c.records, i2.records);
    vs_snapshot_dispose(&i2);
    assert_loads_equal(&e, c.id, chain);
    vs_snapshot_dispose(&c);
    vs_store_free(chain);

    /* the tip, CURRENT at a later base seq: CURRENT moves, seq kept */
    ck_assert_int_eq(vs_catalog_set_current_at(e.cat, ids[3], 999), 0);
    ck_assert_int_eq(vs_catalog_load(&chain, NULL, e.cat, ids[3], NULL, NULL),
                     0);
    error = vs_ops_compact(&c, &moved, &e.ops, ids[3], NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert(moved);
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t seq = 0;
    ck_assert_int_eq(vs_catalog_current_at(cur, &seq, e.cat), 0);
    ck_assert_str_eq(cur, c.id);
    ck_assert_uint_eq(seq, 999);
    assert_loads_equal(&e, c.id, chain);
    vs_snapshot_dispose(&c);
    vs_store_free(chain);
    /* a full snapshot has no chain */
    ck_assert_int_eq(vs_ops_compact(&c, &moved, &e.ops, ids[0], NULL, NULL),
                     VS_EINVALID);
    /* the old chain can go now that CURRENT left it */
    char (*gone)[VS_SNAPSHOT_ID_LEN + 1] = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_ops_delete_cascade(&gone, &n, &e.ops, ids[0], true),
                     0);
    ck_assert_uint_eq(n, 4);
    free(gone);
    ck_assert_uint_eq(nsnapshots(&e), 2);
    env_close(&e);
}
END_TEST

/* ---- ops ---- */

static vs_snapshot ops_incr(env *e, unsigned max_links)
{
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_BIN, VS_CODEC_NONE, -1, NULL, 0};
    vs_snapshot s;
    int error = vs_ops_snapshot_incremental(&s, &e->ops, &rq, max_links, NULL,
                                            NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    ck_assert_int_eq(vs_catalog_current(cur, e->cat), 0);
    ck_assert_str_eq(cur, s.id);
    return s;
}

START_TEST(ops_take_links_and_fall_back_to_full_when_they_must)
{
    env e;
    env_open(&e);
    env_ops(&e);
    create_coll(e.live, "a", 4, VS_METRIC_DOT);
    put_range(e.live, "a", "r", 0, 100, 1);
    /* no CURRENT: full */
    vs_snapshot s = ops_incr(&e, 0);
    ck_assert_str_eq(s.kind, "full");
    vs_snapshot_dispose(&s);
    put_range(e.live, "a", "r", 0, 3, 2);
    s = ops_incr(&e, 2);
    ck_assert_str_eq(s.kind, "incremental");
    ck_assert_uint_eq(s.changed, 3);
    vs_snapshot_dispose(&s);
    put_range(e.live, "a", "r", 5, 1, 3);
    s = ops_incr(&e, 2);
    ck_assert_str_eq(s.kind, "incremental");
    vs_snapshot_dispose(&s);
    /* the chain holds max_links links: full again */
    put_range(e.live, "a", "r", 6, 1, 4);
    s = ops_incr(&e, 2);
    ck_assert_str_eq(s.kind, "full");
    char full_id[VS_SNAPSHOT_ID_LEN + 1];
    memcpy(full_id, s.id, sizeof(full_id));
    vs_snapshot_dispose(&s);
    assert_loads_equal(&e, full_id, e.live);
    /* chosen collections: refused */
    static const char *const one[] = {"a"};
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_BIN, VS_CODEC_NONE, -1, one, 1};
    ck_assert_int_eq(
        vs_ops_snapshot_incremental(&s, &e.ops, &rq, 0, NULL, NULL),
        VS_EINVALID);
    /* json asked for: a link is binary, a full one (here: the chain is
     * at its limit) json */
    rq.collections = NULL;
    rq.ncollections = 0;
    rq.format = VS_FORMAT_JSON;
    put_range(e.live, "a", "r", 7, 1, 5);
    ck_assert_int_eq(
        vs_ops_snapshot_incremental(&s, &e.ops, &rq, 1, NULL, NULL), 0);
    ck_assert_str_eq(s.kind, "incremental");
    ck_assert_int_eq(s.format, VS_FORMAT_BIN);
    vs_snapshot_dispose(&s);
    ck_assert_int_eq(
        vs_ops_snapshot_incremental(&s, &e.ops, &rq, 1, NULL, NULL), 0);
    ck_assert_str_eq(s.kind, "full");
    ck_assert_int_eq(s.format, VS_FORMAT_JSON);
    vs_snapshot_dispose(&s);

    /* a merge leaves a state CURRENT does not hold: full */
    put_range(e.live, "a", "r", 8, 1, 6);
    s = ops_incr(&e, 0);
    ck_assert_str_eq(s.kind, "incremental");
    vs_snapshot_dispose(&s);
    vs_ops_result r;
    ck_assert_int_eq(vs_ops_restore(&r, &e.ops, full_id, VS_OPS_MERGE, NULL, 0,
                                    NULL, NULL),
                     0);
    vs_ops_result_dispose(&r);
    s = ops_incr(&e, 0);
    ck_assert_str_eq(s.kind, "full");
    vs_snapshot_dispose(&s);
    /* after a whole restore, links build on the restored snapshot */
    ck_assert_int_eq(vs_ops_restore(&r, &e.ops, full_id, VS_OPS_REPLACE, NULL,
                                    0, NULL, NULL),
                     0);
    vs_ops_result_dispose(&r);
    put_range(e.live, "a", "r", 50, 2, 7);
    del_range(e.live, "a", "r", 60, 1);
    s = ops_incr(&e, 0);
    ck_assert_str_eq(s.kind, "incremental");
    ck_assert_str_eq(s.parent, full_id);
    ck_assert_uint_eq(s.changed, 2);
    ck_assert_uint_eq(s.deleted, 1);
    assert_loads_equal(&e, s.id, e.live);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

START_TEST(manifests_of_links_round_trip_and_are_checked)
{
    env e;
    env_open(&e);
    char ids[4][VS_SNAPSHOT_ID_LEN + 1];
    make_chain(&e, ids);
    vs_snapshot s = get(&e, ids[2]);
    json_t *j = vs_snapshot_to_json(&s);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "parent")), ids[1]);
    ck_assert_str_eq(json_string_value(json_object_get(j, "base")), ids[0]);
    vs_snapshot back;
    ck_assert_int_eq(vs_snapshot_from_json(&back, j), 0);
    ck_assert_str_eq(back.parent, ids[1]);
    ck_assert_uint_eq(back.seq_from, s.seq_from);
    ck_assert_uint_eq(back.changed, s.changed);
    vs_snapshot_dispose(&back);
    /* the chain fields belong to incremental manifests only */
    json_t *f = json_deep_copy(j);
    json_object_set_new(f, "kind", json_string("full"));
    ck_assert_int_eq(vs_snapshot_from_json(&back, f), VS_ECORRUPT);
    json_decref(f);
    static const char *const drop[] = {"parent", "base", "seq_from",
                                       "changed", "deleted"};
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        json_t *d = json_deep_copy(j);
        json_object_del(d, drop[i]);
        ck_assert_int_eq(vs_snapshot_from_json(&back, d), VS_ECORRUPT);
        json_decref(d);
    }
    json_t *d = json_deep_copy(j); /* a parent newer than itself */
    json_object_set_new(d, "parent", json_string(s.id));
    ck_assert_int_eq(vs_snapshot_from_json(&back, d), VS_ECORRUPT);
    json_decref(d);
    d = json_deep_copy(j);
    json_object_set_new(d, "format", json_string("json"));
    json_object_set_new(d, "file", json_string("data.json"));
    ck_assert_int_eq(vs_snapshot_from_json(&back, d), VS_ECORRUPT);
    json_decref(d);
    json_decref(j);
    vs_snapshot_dispose(&s);
    /* a full manifest stays as it was: no chain fields */
    s = get(&e, ids[0]);
    j = vs_snapshot_to_json(&s);
    ck_assert_ptr_null(json_object_get(j, "parent"));
    ck_assert_ptr_null(json_object_get(j, "encrypted"));
    json_decref(j);
    vs_snapshot_dispose(&s);
    env_close(&e);
}
END_TEST

static Suite *chain_suite(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("chain");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, incremental_document_is_proportional_to_the_change);
    tcase_add_test(tc, incremental_is_binary_and_of_the_whole_store);
    tcase_add_test(tc, every_flip_and_cut_of_a_link_is_refused);

    tcase_add_test(tc, chain_round_trips_upserts_deletes_drops_and_empty_links);
    tcase_add_test(tc, every_tampered_link_is_named_and_nothing_is_built);
    tcase_add_test(tc, gaps_missing_parents_and_foreign_bases_are_corrupt);
    tcase_add_test(tc, deleting_what_others_depend_on_is_refused_or_cascades);
    tcase_add_test(tc, compaction_equals_the_chain_and_carries_current);
    tcase_add_test(tc, ops_take_links_and_fall_back_to_full_when_they_must);
    tcase_add_test(tc, manifests_of_links_round_trip_and_are_checked);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(chain_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
