/* test_store: collections, records, sequence numbers, tombstones and exact
 * k-NN checked against a naive double-precision reference. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* ck_assert records every passing check (a write to the runner), which is
 * slow in loops: REQUIRE only reports failures. */
#define REQUIRE(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

#define OK(expr)                                                               \
    do {                                                                       \
        int r_ = (expr);                                                       \
        REQUIRE(r_ == 0, "%s: %d %s", #expr, r_, vs_error_last());             \
    } while (0)

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t rndn(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static double rnd01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* Scale for the randomized tests: STORE_TEST_SCALE=20 runs 20x the trials. */
static int scale(void)
{
    const char *s = getenv("STORE_TEST_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;
    return v > 0 && v < 100000 ? (int)v : 1;
}

static vs_record rec(const char *id, const float *v, const char *meta)
{
    vs_record r;
    r.id = id;
    r.id_len = id ? strlen(id) : 0;
    r.vector = v;
    r.metadata = meta;
    r.metadata_len = meta ? strlen(meta) : 0;
    return r;
}

static void fnv(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ULL;
    }
}

/* A digest of everything observable in a store. */
static uint64_t state_hash(const vs_store *st)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    uint64_t seq = vs_store_seq(st);
    size_t nc = vs_store_ncollections(st);

    fnv(&h, &seq, sizeof(seq));
    fnv(&h, &nc, sizeof(nc));
    for (size_t i = 0; i < nc; i++) {
        const vs_collection *c = vs_store_at(st, i);
        const char *name = vs_collection_name(c);
        uint32_t dim = vs_collection_dimension(c);
        size_t count = vs_collection_count(c);
        vs_metric m = vs_collection_metric(c);
        fnv(&h, name, strlen(name));
        fnv(&h, &dim, sizeof(dim));
        fnv(&h, &m, sizeof(m));
        fnv(&h, &count, sizeof(count));
        for (size_t s = 0; s < count; s++) {
            vs_record r;
            vs_collection_slot(&r, c, s);
            uint64_t sq = vs_collection_slot_seq(c, s);
            fnv(&h, r.id, r.id_len);
            fnv(&h, r.vector, dim * sizeof(float));
            fnv(&h, r.metadata, r.metadata_len);
            fnv(&h, &sq, sizeof(sq));
        }
        size_t nt = vs_collection_ntombstones(c);
        fnv(&h, &nt, sizeof(nt));
        for (size_t t = 0; t < nt; t++) {
            const vs_tombstone *tb = vs_collection_tombstone(c, t);
            fnv(&h, tb->id, tb->id_len);
            fnv(&h, &tb->seq, sizeof(tb->seq));
        }
    }
    return h;
}

static vs_store *new_store(void)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    ck_assert_ptr_nonnull(st);
    return st;
}

static vs_collection *create(vs_store *st, const char *name, uint32_t dim,
                             vs_metric m)
{
    vs_collection *c = NULL;
    OK(vs_store_create(&c, st, name, dim, m));
    ck_assert_ptr_nonnull(c);
    return c;
}

static int has_tombstone(const vs_collection *c, const char *id, uint64_t *seq)
{
    size_t len = strlen(id);
    for (size_t i = 0; i < vs_collection_ntombstones(c); i++) {
        const vs_tombstone *t = vs_collection_tombstone(c, i);
        if (t->id_len == len && memcmp(t->id, id, len) == 0) {
            if (seq)
                *seq = t->seq;
            return 1;
        }
    }
    return 0;
}

/* ---- names, ids, metrics ------------------------------------------------ */

START_TEST(test_names)
{
    char n64[65], n65[66];
    memset(n64, 'x', 64);
    n64[64] = '\0';
    memset(n65, 'x', 65);
    n65[65] = '\0';

    static const char *const good[] = {"a",   "A", "0", "a-b_c.d", "...",
                                       "..a", "-", "_", "Zz09"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(vs_store_check_name(good[i]) == 0, "%s: %s", good[i],
                      vs_error_last());
    ck_assert_int_eq(vs_store_check_name(n64), 0);

    static const char *const bad[] = {
        "", ".", "..", "a b", "a/b", "a\\b", "caf\xc3\xa9", "a\n", "a:b", "*"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vs_error_clear();
        ck_assert_int_eq(vs_store_check_name(bad[i]), VS_EINVALID);
        ck_assert_str_ne(vs_error_last(), "");
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "collection name"));
    }
    ck_assert_int_eq(vs_store_check_name(n65), VS_EINVALID);
    ck_assert_int_eq(vs_store_check_name(NULL), VS_EINVALID);
}
END_TEST

START_TEST(test_ids)
{
    char id256[256], id257[257];
    memset(id256, 'i', sizeof(id256));
    memset(id257, 'i', sizeof(id257));

    ck_assert_int_eq(vs_store_check_id("a", 1), 0);
    ck_assert_int_eq(vs_store_check_id(id256, 256), 0);
    ck_assert_int_eq(vs_store_check_id("caf\xc3\xa9", 5), 0);
    ck_assert_int_eq(vs_store_check_id("\xf0\x9f\x98\x80", 4), 0);
    ck_assert_int_eq(vs_store_check_id("\xf4\x8f\xbf\xbf", 4), 0);
    ck_assert_int_eq(vs_store_check_id("a\x01\x7f", 3), 0);
    ck_assert_int_eq(vs_store_check_id("a b/c:d", 7), 0);

    static const struct {
        const char *id;
        size_t len;
        const char *msg;
    } bad[] = {
        {"", 0, "empty"},
        {NULL, 0, "empty"},
        {"\xff", 1, "UTF-8"},
        {"a\x80", 2, "UTF-8"},
        {"\xc0\x80", 2, "UTF-8"},
        {"\xc1\xbf", 2, "UTF-8"},
        {"\xe0\x80\xaf", 3, "UTF-8"},
        {"\xed\xa0\x80", 3, "UTF-8"},
        {"\xf4\x90\x80\x80", 4, "UTF-8"},
        {"\xf8\x88\x80\x80\x80", 5, "UTF-8"},
        {"\xe2\x82", 2, "UTF-8"},
        {"a\0b", 3, "NUL"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(vs_store_check_id(bad[i].id, bad[i].len), VS_EINVALID);
        ck_assert_msg(strstr(vs_error_last(), bad[i].msg), "case %zu: '%s'", i,
                      vs_error_last());
    }
    ck_assert_int_eq(vs_store_check_id(id257, 257), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "257 bytes"));
    ck_assert_int_eq(vs_store_check_id(NULL, 3), VS_EINVALID);
}
END_TEST

START_TEST(test_metrics)
{
    vs_metric m = VS_METRIC_DOT;
    static const char *const names[] = {"cosine", "euclidean", "dot"};
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(vs_metric_name((vs_metric)i), names[i]);
        ck_assert_int_eq(vs_metric_parse(&m, names[i]), 0);
        ck_assert_int_eq(m, i);
    }
    ck_assert_int_eq(vs_metric_parse(&m, "Cosine"), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "Cosine"));
    ck_assert_int_eq(vs_metric_parse(&m, "l2"), VS_EINVALID);
    ck_assert_int_eq(vs_metric_parse(&m, ""), VS_EINVALID);
    ck_assert_int_eq(vs_metric_parse(&m, NULL), VS_EINVALID);
    ck_assert_int_eq(m, VS_METRIC_DOT);
}
END_TEST

/* ---- collections -------------------------------------------------------- */

START_TEST(test_collections)
{
    vs_store *st = new_store();
    vs_collection *c = NULL;

    ck_assert_uint_eq(vs_store_seq(st), 0);
    ck_assert_uint_eq(vs_store_ncollections(st), 0);
    ck_assert_ptr_null(vs_store_at(st, 0));
    ck_assert_ptr_null(vs_store_find(st, "a"));

    create(st, "b", 3, VS_METRIC_COSINE);
    create(st, "a", 65536, VS_METRIC_EUCLIDEAN);
    c = create(st, "c", 1, VS_METRIC_DOT);
    ck_assert_uint_eq(vs_store_seq(st), 3);
    ck_assert_uint_eq(vs_store_ncollections(st), 3);
    ck_assert_str_eq(vs_collection_name(vs_store_at(st, 0)), "a");
    ck_assert_str_eq(vs_collection_name(vs_store_at(st, 1)), "b");
    ck_assert_str_eq(vs_collection_name(vs_store_at(st, 2)), "c");
    ck_assert_ptr_null(vs_store_at(st, 3));
    ck_assert_ptr_eq(vs_store_find(st, "c"), c);
    ck_assert_uint_eq(vs_collection_dimension(c), 1);
    ck_assert_int_eq(vs_collection_metric(c), VS_METRIC_DOT);
    ck_assert_uint_eq(vs_collection_count(c), 0);
    ck_assert_uint_eq(vs_collection_dimension(vs_store_find(st, "a")), 65536);

    /* failures change nothing */
    uint64_t before = state_hash(st);
    ck_assert_int_eq(vs_store_create(&c, st, "b", 3, VS_METRIC_COSINE),
                     VS_EEXISTS);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "'b'"));
    ck_assert_int_eq(vs_store_create(NULL, st, "d", 0, VS_METRIC_COSINE),
                     VS_EINVALID);
    ck_assert_int_eq(vs_store_create(NULL, st, "d", 65537, VS_METRIC_COSINE),
                     VS_EINVALID);
    ck_assert_int_eq(vs_store_create(NULL, st, "d", 3, (vs_metric)7),
                     VS_EINVALID);
    ck_assert_int_eq(vs_store_create(NULL, st, "..", 3, VS_METRIC_DOT),
                     VS_EINVALID);
    ck_assert_int_eq(vs_store_drop(st, "zz"), VS_ENOTFOUND);
    ck_assert_int_eq(vs_store_drop(st, NULL), VS_ENOTFOUND);
    ck_assert_uint_eq(state_hash(st), before);

    OK(vs_store_drop(st, "b"));
    ck_assert_uint_eq(vs_store_seq(st), 4);
    ck_assert_uint_eq(vs_store_ncollections(st), 2);
    ck_assert_ptr_null(vs_store_find(st, "b"));
    ck_assert_str_eq(vs_collection_name(vs_store_at(st, 1)), "c");

    /* many collections stay sorted */
    char name[16];
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "n%03d", (i * 37) % 200);
        create(st, name, 2, VS_METRIC_DOT);
    }
    ck_assert_uint_eq(vs_store_ncollections(st), 202);
    for (size_t i = 1; i < vs_store_ncollections(st); i++)
        REQUIRE(strcmp(vs_collection_name(vs_store_at(st, i - 1)),
                       vs_collection_name(vs_store_at(st, i))) < 0,
                "order at %zu", i);
    for (int i = 0; i < 200; i += 2) {
        snprintf(name, sizeof(name), "n%03d", i);
        OK(vs_store_drop(st, name));
    }
    ck_assert_uint_eq(vs_store_ncollections(st), 102);
    ck_assert_ptr_nonnull(vs_store_find(st, "n001"));
    ck_assert_ptr_null(vs_store_find(st, "n002"));
    vs_store_free(st);
    vs_store_free(NULL);
}
END_TEST

/* ---- records ------------------------------------------------------------ */

START_TEST(test_upsert_get)
{
    vs_store *st = new_store();
    vs_collection *c = create(st, "docs", 3, VS_METRIC_COSINE);
    float v1[3] = {1, 2, 3}, v2[3] = {4, 5, 6}, v3[3] = {7, 8, 9};
    vs_record out;
    vs_record batch[3];

    batch[0] = rec("one", v1, NULL);
    batch[1] = rec("two", v2, " { \"tag\" : [ 1 , 2 ] , \"s\" : \"a b\" } ");
    batch[2] = rec("three", v3, "{}");
    OK(vs_collection_upsert(c, batch, 3));
    ck_assert_uint_eq(vs_store_seq(st), 2);
    ck_assert_uint_eq(vs_collection_count(c), 3);

    OK(vs_collection_get(&out, c, "one", 3));
    ck_assert_uint_eq(out.id_len, 3);
    ck_assert_mem_eq(out.id, "one", 3);
    ck_assert_mem_eq(out.vector, v1, sizeof(v1));
    ck_assert_uint_eq(out.metadata_len, 2);
    ck_assert_mem_eq(out.metadata, "{}", 2);

    OK(vs_collection_get(&out, c, "two", 3));
    const char *compact = "{\"tag\":[1,2],\"s\":\"a b\"}";
    ck_assert_uint_eq(out.metadata_len, strlen(compact));
    ck_assert_mem_eq(out.metadata, compact, out.metadata_len);
    OK(vs_collection_get(&out, c, "three", 5));
    ck_assert_uint_eq(out.metadata_len, 2);
    ck_assert_mem_eq(out.metadata, "{}", 2);

    ck_assert_int_eq(vs_collection_get(&out, c, "four", 4), VS_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "'four'"));
    ck_assert_int_eq(vs_collection_get(&out, c, "on", 2), VS_ENOTFOUND);
    ck_assert_int_eq(vs_collection_get(&out, c, "", 0), VS_ENOTFOUND);

    /* slots iterate every record once; vectors are contiguous */
    const float *all = vs_collection_vectors(c);
    int seen = 0;
    for (size_t s = 0; s < vs_collection_count(c); s++) {
        vs_collection_slot(&out, c, s);
        ck_assert_ptr_eq(out.vector, all + s * 3);
        ck_assert_uint_eq(vs_collection_slot_seq(c, s), 2);
        if (out.id_len == 3 && memcmp(out.id, "one", 3) == 0)
            seen |= 1;
        else if (out.id_len == 3 && memcmp(out.id, "two", 3) == 0)
            seen |= 2;
        else if (out.id_len == 5 && memcmp(out.id, "three", 5) == 0)
            seen |= 4;
    }
    ck_assert_int_eq(seen, 7);

    /* replace: new vector and metadata, new seq, same count */
    batch[0] = rec("two", v1, "{\"x\":true}");
    OK(vs_collection_upsert(c, batch, 1));
    ck_assert_uint_eq(vs_store_seq(st), 3);
    ck_assert_uint_eq(vs_collection_count(c), 3);
    OK(vs_collection_get(&out, c, "two", 3));
    ck_assert_mem_eq(out.vector, v1, sizeof(v1));
    ck_assert_mem_eq(out.metadata, "{\"x\":true}", out.metadata_len);
    for (size_t s = 0; s < 3; s++) {
        vs_collection_slot(&out, c, s);
        uint64_t want =
            out.id_len == 3 && memcmp(out.id, "two", 3) == 0 ? 3 : 2;
        ck_assert_uint_eq(vs_collection_slot_seq(c, s), want);
    }

    /* metadata back to "{}" */
    batch[0] = rec("two", v1, " {\n} ");
    OK(vs_collection_upsert(c, batch, 1));
    OK(vs_collection_get(&out, c, "two", 3));
    ck_assert_uint_eq(out.metadata_len, 2);
    ck_assert_mem_eq(out.metadata, "{}", 2);

    /* duplicate ids in one batch: the last wins */
    batch[0] = rec("dup", v1, "{\"n\":1}");
    batch[1] = rec("dup", v2, "{\"n\":2}");
    batch[2] = rec("dup", v3, "{\"n\":3}");
    OK(vs_collection_upsert(c, batch, 3));
    ck_assert_uint_eq(vs_collection_count(c), 4);
    OK(vs_collection_get(&out, c, "dup", 3));
    ck_assert_mem_eq(out.vector, v3, sizeof(v3));
    ck_assert_mem_eq(out.metadata, "{\"n\":3}", out.metadata_len);

    /* an empty batch is not a write */
    uint64_t seq = vs_store_seq(st);
    OK(vs_collection_upsert(c, batch, 0));
    OK(vs_collection_upsert(c, NULL, 0));
    ck_assert_uint_eq(vs_store_seq(st), seq);

    /* ids are bytes: case, UTF-8 and long ids */
    char id256[256];
    memset(id256, 'z', sizeof(id256));
    batch[0] = rec("DUP", v1, NULL);
    batch[1] = rec("caf\xc3\xa9", v2, NULL);
    batch[2] = (vs_record){id256, 256, v3, NULL, 0};
    OK(vs_collection_upsert(c, batch, 3));
    ck_assert_uint_eq(vs_collection_count(c), 7);
    OK(vs_collection_get(&out, c, id256, 256));
    ck_assert_mem_eq(out.vector, v3, sizeof(v3));
    OK(vs_collection_get(&out, c, "caf\xc3\xa9", 5));
    ck_assert_int_eq(vs_collection_get(&out, c, id256, 255), VS_ENOTFOUND);
    vs_store_free(st);
}
END_TEST

START_TEST(test_delete_tombstones)
{
    vs_store *st = new_store();
    vs_collection *c = create(st, "c", 2, VS_METRIC_DOT);
    float v[5][2] = {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}};
    const char *ids[5] = {"a", "b", "c", "d", "e"};
    vs_record batch[5], out;
    size_t deleted = 99;
    uint64_t tseq = 0;

    for (int i = 0; i < 5; i++)
        batch[i] = rec(ids[i], v[i], "{\"k\":1}");
    OK(vs_collection_upsert(c, batch, 5)); /* seq 2 */

    batch[0] = rec("b", NULL, NULL);
    batch[1] = rec("zz", NULL, NULL);
    batch[2] = rec("b", NULL, NULL);
    OK(vs_collection_delete(c, batch, 3, &deleted));
    ck_assert_uint_eq(deleted, 1);
    ck_assert_uint_eq(vs_store_seq(st), 3);
    ck_assert_uint_eq(vs_collection_count(c), 4);
    ck_assert_int_eq(vs_collection_get(&out, c, "b", 1), VS_ENOTFOUND);
    ck_assert_uint_eq(vs_collection_ntombstones(c), 1);
    ck_assert_ptr_null(vs_collection_tombstone(c, 1));
    const vs_tombstone *t = vs_collection_tombstone(c, 0);
    ck_assert_uint_eq(t->id_len, 1);
    ck_assert_mem_eq(t->id, "b", 1);
    ck_assert_uint_eq(t->seq, 3);
    for (int i = 0; i < 5; i++) {
        if (i == 1)
            continue;
        OK(vs_collection_get(&out, c, ids[i], 1));
        ck_assert_mem_eq(out.vector, v[i], sizeof(v[i]));
        ck_assert_mem_eq(out.metadata, "{\"k\":1}", out.metadata_len);
    }

    /* deleting nothing is not a write; NULL deleted_out is fine */
    batch[0] = rec("b", NULL, NULL);
    OK(vs_collection_delete(c, batch, 1, &deleted));
    ck_assert_uint_eq(deleted, 0);
    OK(vs_collection_delete(c, batch, 0, NULL));
    ck_assert_uint_eq(vs_store_seq(st), 3);

    /* delete the last slot, then the first */
    batch[0] = rec("e", NULL, NULL);
    batch[1] = rec("a", NULL, NULL);
    OK(vs_collection_delete(c, batch, 2, NULL));
    ck_assert_uint_eq(vs_store_seq(st), 4);
    ck_assert_uint_eq(vs_collection_count(c), 2);
    ck_assert_uint_eq(vs_collection_ntombstones(c), 3);
    ck_assert_mem_eq(vs_collection_tombstone(c, 1)->id, "e", 1);
    ck_assert_mem_eq(vs_collection_tombstone(c, 2)->id, "a", 1);
    ck_assert_uint_eq(vs_collection_tombstone(c, 2)->seq, 4);

    /* re-upserting a deleted id removes its tombstone, order kept */
    batch[0] = rec("e", v[0], NULL);
    OK(vs_collection_upsert(c, batch, 1));
    ck_assert_uint_eq(vs_store_seq(st), 5);
    ck_assert_uint_eq(vs_collection_ntombstones(c), 2);
    ck_assert_int_eq(has_tombstone(c, "e", NULL), 0);
    ck_assert_mem_eq(vs_collection_tombstone(c, 0)->id, "b", 1);
    ck_assert_mem_eq(vs_collection_tombstone(c, 1)->id, "a", 1);
    OK(vs_collection_get(&out, c, "e", 1));
    ck_assert_mem_eq(out.vector, v[0], sizeof(v[0]));
    ck_assert_uint_eq(out.metadata_len, 2);

    /* delete it again: a fresh tombstone at the end */
    OK(vs_collection_delete(c, batch, 1, &deleted));
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_eq(has_tombstone(c, "e", &tseq), 1);
    ck_assert_uint_eq(tseq, 6);
    ck_assert_mem_eq(vs_collection_tombstone(c, 2)->id, "e", 1);

    /* invalid ids are refused and nothing changes */
    uint64_t before = state_hash(st);
    batch[0] = rec("c", NULL, NULL);
    batch[1] = (vs_record){"\xff", 1, NULL, NULL, 0};
    ck_assert_int_eq(vs_collection_delete(c, batch, 2, &deleted), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "record 1"));
    batch[1] = rec("", NULL, NULL);
    ck_assert_int_eq(vs_collection_delete(c, batch, 2, &deleted), VS_EINVALID);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_uint_eq(state_hash(st), before);

    /* delete everything */
    batch[0] = rec("c", NULL, NULL);
    batch[1] = rec("d", NULL, NULL);
    OK(vs_collection_delete(c, batch, 2, &deleted));
    ck_assert_uint_eq(deleted, 2);
    ck_assert_uint_eq(vs_collection_count(c), 0);
    ck_assert_uint_eq(vs_collection_ntombstones(c), 5);
    for (size_t i = 1; i < vs_collection_ntombstones(c); i++)
        ck_assert_uint_le(vs_collection_tombstone(c, i - 1)->seq,
                          vs_collection_tombstone(c, i)->seq);
    vs_store_free(st);
}
END_TEST

/* A batch of five whose last record is bad must change nothing. */
START_TEST(test_atomic_failures)
{
    vs_store *st = new_store();
    vs_collection *c = create(st, "c", 4, VS_METRIC_COSINE);
    vs_collection *other = create(st, "d", 4, VS_METRIC_EUCLIDEAN);
    float good[4] = {1, 2, 3, 4};
    float bad[4] = {1, 2, 3, 4};
    char id257[257];
    vs_record batch[5];
    size_t big = VS_METADATA_MAX + 64;
    char *meta = malloc(big + 1);
    ck_assert_ptr_nonnull(meta);
    memset(id257, 'q', sizeof(id257));

    batch[0] = rec("old1", good, "{\"v\":1}");
    batch[1] = rec("old2", good, NULL);
    batch[2] = rec("gone", good, NULL);
    OK(vs_collection_upsert(c, batch, 3));
    OK(vs_collection_upsert(other, batch, 2));
    batch[0] = rec("gone", NULL, NULL);
    OK(vs_collection_delete(c, batch, 1, NULL));

    /* oversized metadata: 64 KiB + 1 after compaction */
    memcpy(meta, "{\"k\":\"", 6);
    memset(meta + 6, 'x', VS_METADATA_MAX - 8 + 1);
    memcpy(meta + 6 + VS_METADATA_MAX - 8 + 1, "\"}", 3);

    /* 65 nested objects: {"a":{"a":...1...}} */
    char deep[65 * 6 + 2];
    size_t dl = 0;
    for (int i = 0; i < 65; i++) {
        memcpy(deep + dl, "{\"a\":", 5);
        dl += 5;
    }
    deep[dl++] = '1';
    memset(deep + dl, '}', 65);
    deep[dl + 65] = '\0';
    const char *const badmeta[] = {
        "[]",       "1",          "\"s\"",
        "null",     " ",          "{",
        "{\"a\":}", "{\"a\":1,}", "{\"a\":\"\xff\"}",
        "{} {}",    deep,
    };
    int nbadmeta = (int)(sizeof(badmeta) / sizeof(badmeta[0]));
    int ncase = 0;
    for (int kind = 0; kind < 12 + nbadmeta; kind++) {
        uint64_t before = state_hash(st);
        uint64_t seq = vs_store_seq(st);
        memcpy(bad, good, sizeof(bad));
        batch[0] = rec("old1", good, "{\"v\":2}"); /* replace */
        batch[1] = rec("new1", good, "{\"w\":1}"); /* insert */
        batch[2] = rec("gone", good, NULL);        /* revive */
        batch[3] = rec("new1", good, NULL);        /* duplicate */
        batch[4] = rec("last", bad, NULL);
        int want = VS_EINVALID;
        switch (kind) {
        case 0:
            bad[3] = NAN;
            break;
        case 1:
            bad[0] = INFINITY;
            break;
        case 2:
            bad[2] = -INFINITY;
            break;
        case 3:
            bad[1] = -NAN;
            break;
        case 4:
            batch[4] = rec("", bad, NULL);
            break;
        case 5:
            batch[4] = (vs_record){id257, 257, bad, NULL, 0};
            break;
        case 6:
            batch[4] = (vs_record){"x\xff", 2, bad, NULL, 0};
            break;
        case 7:
            batch[4] = (vs_record){"x\0y", 3, bad, NULL, 0};
            break;
        case 8:
            batch[4] = (vs_record){"\xed\xa0\x80", 3, bad, NULL, 0};
            break;
        case 9:
            batch[4] = rec("last", NULL, NULL);
            break;
        case 10:
            batch[4] = (vs_record){NULL, 4, bad, NULL, 0};
            break;
        case 11:
            batch[4] = rec("last", bad, meta);
            want = VS_ETOOBIG;
            break;
        default:
            batch[4] = rec("last", bad, badmeta[kind - 12]);
            break;
        }
        ncase++;
        vs_error_clear();
        int r = vs_collection_upsert(c, batch, 5);
        REQUIRE(r == want, "kind %d: got %d (%s)", kind, r, vs_error_last());
        if (getenv("STORE_TEST_SHOW"))
            fprintf(stderr, "%s\n", vs_error_last());
        REQUIRE(vs_error_last_code() == want, "kind %d: code", kind);
        REQUIRE(strstr(vs_error_last(), "record 4"), "kind %d: message '%s'",
                kind, vs_error_last());
        REQUIRE(state_hash(st) == before, "kind %d: state changed", kind);
        REQUIRE(vs_store_seq(st) == seq, "kind %d: seq changed", kind);
        REQUIRE(has_tombstone(c, "gone", NULL), "kind %d: tombstone", kind);
    }
    ck_assert_int_ge(ncase, 20);

    /* exactly the limit is fine, even with white space around it */
    memset(meta, ' ', big);
    memcpy(meta + 10, "{\"k\":\"", 6);
    memset(meta + 16, 'x', VS_METADATA_MAX - 8);
    memcpy(meta + 16 + VS_METADATA_MAX - 8, "\"}", 2);
    meta[big] = '\0';
    batch[4] = rec("last", good, meta);
    OK(vs_collection_upsert(c, batch, 5));
    vs_record out;
    OK(vs_collection_get(&out, c, "last", 4));
    ck_assert_uint_eq(out.metadata_len, VS_METADATA_MAX);
    ck_assert_int_eq(has_tombstone(c, "gone", NULL), 0);
    OK(vs_collection_get(&out, c, "gone", 4));
    OK(vs_collection_get(&out, c, "old1", 4));
    ck_assert_mem_eq(out.metadata, "{\"v\":2}", out.metadata_len);
    free(meta);
    vs_store_free(st);
}
END_TEST

/* Loaders: records keep the given seq, the counter stays, ids must be new. */
START_TEST(test_load)
{
    vs_store *st = new_store();
    vs_collection *c = create(st, "c", 2, VS_METRIC_COSINE);
    float v[3][2] = {{1, 0}, {0, 1}, {1, 1}};
    float nan_v[2] = {0, NAN};
    vs_record batch[4], out;

    batch[0] = rec("a", v[0], " { \"x\" : 1 } ");
    batch[1] = rec("b", v[1], NULL);
    batch[2] = rec("c", v[2], "{}");
    OK(vs_collection_load(c, batch, 3, 77));
    ck_assert_uint_eq(vs_store_seq(st), 1); /* only the create */
    ck_assert_uint_eq(vs_collection_count(c), 3);
    for (size_t s = 0; s < 3; s++)
        ck_assert_uint_eq(vs_collection_slot_seq(c, s), 77);
    OK(vs_collection_get(&out, c, "a", 1));
    ck_assert_mem_eq(out.metadata, "{\"x\":1}", out.metadata_len);
    OK(vs_collection_load(c, batch, 0, 5));
    OK(vs_collection_load(c, NULL, 0, 5));

    /* repeated ids: against the collection, then within the batch */
    uint64_t before = state_hash(st);
    batch[0] = rec("d", v[0], NULL);
    batch[1] = rec("b", v[0], NULL);
    ck_assert_int_eq(vs_collection_load(c, batch, 2, 80), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "record 1 (id 'b')"));
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "duplicate id"));
    ck_assert_uint_eq(state_hash(st), before);
    batch[1] = rec("e", v[1], NULL);
    batch[2] = rec("d", v[2], NULL);
    ck_assert_int_eq(vs_collection_load(c, batch, 3, 80), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "record 2 (id 'd')"));
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "also record 0"));
    ck_assert_uint_eq(state_hash(st), before);
    /* and the usual validation */
    batch[2] = rec("f", nan_v, NULL);
    ck_assert_int_eq(vs_collection_load(c, batch, 3, 80), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "record 2"));
    batch[2] = rec("f", v[2], "[1]");
    ck_assert_int_eq(vs_collection_load(c, batch, 3, 80), VS_EINVALID);
    ck_assert_uint_eq(state_hash(st), before);

    /* loading an id with a tombstone removes the tombstone */
    batch[0] = rec("a", NULL, NULL);
    OK(vs_collection_delete(c, batch, 1, NULL));
    ck_assert_uint_eq(vs_store_seq(st), 2);
    ck_assert_int_eq(has_tombstone(c, "a", NULL), 1);
    batch[0] = rec("a", v[2], NULL);
    OK(vs_collection_load(c, batch, 1, 90));
    ck_assert_int_eq(has_tombstone(c, "a", NULL), 0);
    ck_assert_uint_eq(vs_store_seq(st), 2);
    vs_store_set_seq(st, 90);
    ck_assert_uint_eq(vs_store_seq(st), 90);

    /* loaded records search and upsert like any other */
    vs_hit hits[4];
    size_t n;
    OK(vs_collection_search(hits, &n, c, v[2], 2, 4));
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(hits[0].id, "a", 1);
    batch[0] = rec("b", v[2], NULL);
    OK(vs_collection_upsert(c, batch, 1));
    ck_assert_uint_eq(vs_store_seq(st), 91);
    vs_store_free(st);
}
END_TEST

/* ---- k-NN against a naive reference ------------------------------------- */

#define POOL 400
#define DMAX 40

typedef struct model {
    char id[32];
    size_t idlen;
    float vec[DMAX];
    int live;
} model;

typedef struct refhit {
    double score;
    size_t idx;
} refhit;

static model *pool;
static vs_metric ref_metric;
static int idlt(const model *a, const model *b)
{
    size_t n = a->idlen < b->idlen ? a->idlen : b->idlen;
    int r = memcmp(a->id, b->id, n);
    return r ? r < 0 : a->idlen < b->idlen;
}

static int refcmp(const void *pa, const void *pb)
{
    const refhit *a = pa, *b = pb;
    if (a->score != b->score) {
        int better = ref_metric == VS_METRIC_EUCLIDEAN ? a->score < b->score
                                                       : a->score > b->score;
        return better ? -1 : 1;
    }
    return idlt(&pool[a->idx], &pool[b->idx]) ? -1 : 1;
}

static double ref_score(vs_metric m, const float *q, const float *v, size_t dim,
                        double *scale_out)
{
    double dot = 0, qq = 0, vv = 0, l2 = 0, absdot = 0;
    for (size_t i = 0; i < dim; i++) {
        double a = q[i], b = v[i];
        dot += a * b;
        absdot += fabs(a * b);
        qq += a * a;
        vv += b * b;
        l2 += (a - b) * (a - b);
    }
    if (m == VS_METRIC_DOT) {
        *scale_out = absdot > 1 ? absdot : 1;
        return dot;
    }
    if (m == VS_METRIC_EUCLIDEAN) {
        double d = sqrt(l2);
        *scale_out = d > 1 ? d : 1;
        return d;
    }
    *scale_out = 1;
    if (sqrt(qq) < FLT_MIN || sqrt(vv) < FLT_MIN)
        return 0;
    return dot / (sqrt(qq) * sqrt(vv));
}

static void random_vector(float *v, size_t dim, int integer)
{
    for (size_t i = 0; i < dim; i++)
        v[i] = integer ? (float)((int)rndn(7) - 3) : (float)(rnd01() * 2 - 1);
}

static size_t meta_index(const vs_hit *h)
{
    /* metadata is {"i":N} */
    REQUIRE(h->metadata_len > 6 && memcmp(h->metadata, "{\"i\":", 5) == 0,
            "metadata '%.*s'", (int)h->metadata_len, h->metadata);
    return (size_t)strtoul(h->metadata + 5, NULL, 10);
}

/* One trial: random collection, random operations, many queries. */
static void knn_trial(int trial)
{
    vs_metric m = (vs_metric)rndn(3);
    size_t dim = 1 + rndn(rndn(2) ? 8 : DMAX);
    int integer = (int)rndn(2);
    size_t target = rndn(4) == 0 ? rndn(8) : rndn(POOL * 3 / 4);
    vs_store *st = NULL;
    vs_collection *c = NULL;
    vs_hit *hits = NULL;
    refhit *ref = NULL;
    vs_record batch[16];
    char metas[16][32];

    ref_metric = m;
    REQUIRE(vs_store_new(&st) == 0, "store");
    REQUIRE(vs_store_create(&c, st, "knn", (uint32_t)dim, m) == 0, "create");
    for (size_t i = 0; i < POOL; i++)
        pool[i].live = 0;

    /* fill with batches, with some deletes in between (swap-remove) */
    size_t live = 0;
    for (int round = 0; live < target && round < 1000; round++) {
        size_t nb = 1 + rndn(16);
        for (size_t b = 0; b < nb; b++) {
            size_t i = rndn(POOL);
            model *e = &pool[i];
            size_t kind = rndn(20);
            if (kind < 4 && live > 0) { /* exact duplicate of a live one */
                size_t j;
                do
                    j = rndn(POOL);
                while (!pool[j].live);
                memcpy(e->vec, pool[j].vec, sizeof(e->vec));
            } else if (kind == 4 && live > 0) { /* scaled duplicate */
                size_t j;
                do
                    j = rndn(POOL);
                while (!pool[j].live);
                float f = pool[j].vec[0];
                for (size_t d = 0; d < dim; d++)
                    if (fabsf(pool[j].vec[d]) > 3)
                        f = 1e9f;
                if (f > 1e8f) /* keep integer data small and exact */
                    random_vector(e->vec, dim, integer);
                else
                    for (size_t d = 0; d < dim; d++)
                        e->vec[d] = pool[j].vec[d] * 2;
            } else if (kind == 5) {
                memset(e->vec, 0, sizeof(e->vec));
            } else {
                random_vector(e->vec, dim, integer);
            }
            snprintf(metas[b], sizeof(metas[b]), "{\"i\":%zu}", i);
            batch[b] = (vs_record){e->id, e->idlen, e->vec, metas[b],
                                   strlen(metas[b])};
            if (!e->live)
                live++;
            e->live = 1;
        }
        REQUIRE(vs_collection_upsert(c, batch, nb) == 0, "upsert: %s",
                vs_error_last());
        /* duplicates in a batch share the model's vector: the last value
         * is what both the model and the store keep */
        if (rndn(4) == 0 && live > 0) {
            size_t nd = 1 + rndn(4);
            for (size_t b = 0; b < nd; b++) {
                size_t i = rndn(POOL);
                batch[b] =
                    (vs_record){pool[i].id, pool[i].idlen, NULL, NULL, 0};
                if (pool[i].live)
                    live--;
                pool[i].live = 0;
            }
            REQUIRE(vs_collection_delete(c, batch, nd, NULL) == 0, "delete");
        }
    }
    REQUIRE(vs_collection_count(c) == live, "trial %d: count %zu != %zu", trial,
            vs_collection_count(c), live);

    hits = calloc(POOL + 10, sizeof(*hits));
    ref = calloc(POOL, sizeof(*ref));
    REQUIRE(hits && ref, "out of memory");
    for (int qn = 0; qn < 8; qn++) {
        float q[DMAX];
        if (qn == 0 && live) { /* a stored vector as the query */
            size_t j;
            do
                j = rndn(POOL);
            while (!pool[j].live);
            memcpy(q, pool[j].vec, sizeof(q));
        } else if (qn == 1) {
            memset(q, 0, sizeof(q));
        } else {
            random_vector(q, dim, integer);
        }
        size_t k = 1 + rndn(live + 5);
        size_t nref = 0, n = 99;
        for (size_t i = 0; i < POOL; i++) {
            double sc;
            if (!pool[i].live)
                continue;
            ref[nref].score = ref_score(m, q, pool[i].vec, dim, &sc);
            ref[nref].idx = i;
            nref++;
        }
        qsort(ref, nref, sizeof(*ref), refcmp);
        int r = vs_collection_search(hits, &n, c, q, dim, k);
        REQUIRE(r == 0, "search: %s", vs_error_last());
        REQUIRE(n == (k < live ? k : live), "trial %d: n %zu k %zu live %zu",
                trial, n, k, live);
        int exact = integer && m != VS_METRIC_COSINE;
        for (size_t h = 0; h < n; h++) {
            size_t idx = meta_index(&hits[h]);
            REQUIRE(idx < POOL && pool[idx].live, "hit %zu: bad index", h);
            REQUIRE(hits[h].id_len == pool[idx].idlen &&
                        memcmp(hits[h].id, pool[idx].id, hits[h].id_len) == 0,
                    "hit %zu: id does not match metadata", h);
            vs_record got;
            REQUIRE(vs_collection_get(&got, c, hits[h].id, hits[h].id_len) ==
                            0 &&
                        got.metadata == hits[h].metadata &&
                        hits[h].slot < vs_collection_count(c),
                    "hit %zu: not the stored record", h);
            double sc;
            double ds = ref_score(m, q, pool[idx].vec, dim, &sc);
            double tol = 1e-4 * sc;
            REQUIRE(fabs(hits[h].score - ds) <= tol,
                    "trial %d metric %d hit %zu: score %.9g, reference %.9g",
                    trial, (int)m, h, (double)hits[h].score, ds);
            /* rank: the h-th hit scores like the h-th reference */
            REQUIRE(fabs(ds - ref[h].score) <= tol,
                    "trial %d metric %d rank %zu: %.9g vs reference %.9g",
                    trial, (int)m, h, ds, ref[h].score);
            if (exact)
                REQUIRE(idx == ref[h].idx,
                        "trial %d metric %d rank %zu: id '%s' vs '%s' "
                        "(exact data)",
                        trial, (int)m, h, pool[idx].id, pool[ref[h].idx].id);
            if (h > 0) {
                float a = hits[h - 1].score, b = hits[h].score;
                size_t pidx = meta_index(&hits[h - 1]);
                int ordered = m == VS_METRIC_EUCLIDEAN ? a <= b : a >= b;
                REQUIRE(ordered, "trial %d rank %zu: scores out of order",
                        trial, h);
                if (a == b)
                    REQUIRE(idlt(&pool[pidx], &pool[idx]),
                            "trial %d rank %zu: tie not in id order ('%s' "
                            "then '%s')",
                            trial, h, pool[pidx].id, pool[idx].id);
            }
        }
        /* the zero query under cosine: everything scores 0, id order */
        if (qn == 1 && m == VS_METRIC_COSINE)
            for (size_t h = 0; h < n; h++)
                REQUIRE(hits[h].score == 0 &&
                            meta_index(&hits[h]) == ref[h].idx,
                        "zero query rank %zu", h);
    }
    free(hits);
    free(ref);
    vs_store_free(st);
}

START_TEST(test_knn_reference)
{
    /* the id pool: short random strings over a tiny alphabet, so prefixes
     * ("a" < "aa") and high bytes ("\xc3\xa9" after "z") both occur */
    static const char *const parts[] = {"a", "b", "z", "\xc3\xa9", "A", "~"};
    pool = calloc(POOL, sizeof(*pool));
    ck_assert_ptr_nonnull(pool);
    rng_state = 424242;
    for (size_t i = 0; i < POOL; i++) {
        for (;;) {
            size_t np = 1 + rndn(5), o = 0;
            for (size_t p = 0; p < np; p++) {
                const char *s = parts[rndn(6)];
                memcpy(pool[i].id + o, s, strlen(s));
                o += strlen(s);
            }
            pool[i].id[o] = '\0';
            pool[i].idlen = o;
            size_t j;
            for (j = 0; j < i; j++)
                if (strcmp(pool[j].id, pool[i].id) == 0)
                    break;
            if (j == i)
                break;
        }
    }
    int trials = 200 * scale();
    for (int t = 0; t < trials; t++)
        knn_trial(t);
    free(pool);
    pool = NULL;
}
END_TEST

START_TEST(test_knn_small)
{
    vs_store *st = new_store();
    vs_collection *cos = create(st, "cos", 2, VS_METRIC_COSINE);
    vs_collection *euc = create(st, "euc", 2, VS_METRIC_EUCLIDEAN);
    vs_collection *dot = create(st, "dot", 2, VS_METRIC_DOT);
    float a[2] = {1, 0}, b[2] = {0, 1}, z[2] = {0, 0}, d[2] = {2, 0};
    float q[2] = {1, 0};
    vs_record batch[4] = {rec("b", b, NULL), rec("zero", z, NULL),
                          rec("a2", d, NULL), rec("a", a, NULL)};
    vs_hit hits[8];
    size_t n;

    OK(vs_collection_upsert(cos, batch, 4));
    OK(vs_collection_upsert(euc, batch, 4));
    OK(vs_collection_upsert(dot, batch, 4));

    OK(vs_collection_search(hits, &n, cos, q, 2, 8));
    ck_assert_uint_eq(n, 4);
    /* a and a2 tie at 1 (id order), then b and zero tie at 0 */
    ck_assert_mem_eq(hits[0].id, "a", 1);
    ck_assert_uint_eq(hits[0].id_len, 1);
    ck_assert_mem_eq(hits[1].id, "a2", 2);
    ck_assert_mem_eq(hits[2].id, "b", 1);
    ck_assert_mem_eq(hits[3].id, "zero", 4);
    ck_assert_float_eq_tol(hits[0].score, 1, 1e-6);
    ck_assert_float_eq_tol(hits[1].score, 1, 1e-6);
    ck_assert_float_eq(hits[2].score, 0);
    ck_assert_float_eq(hits[3].score, 0);
    ck_assert_uint_eq(hits[3].metadata_len, 2);
    ck_assert_mem_eq(hits[3].metadata, "{}", 2);

    OK(vs_collection_search(hits, &n, euc, q, 2, 2));
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(hits[0].id, "a", 1);
    ck_assert_float_eq(hits[0].score, 0);
    /* a2 and zero both at distance 1: id order */
    ck_assert_mem_eq(hits[1].id, "a2", 2);
    ck_assert_float_eq(hits[1].score, 1);
    OK(vs_collection_search(hits, &n, euc, q, 2, 4));
    ck_assert_mem_eq(hits[2].id, "zero", 4);
    ck_assert_mem_eq(hits[3].id, "b", 1);
    ck_assert_float_eq_tol(hits[3].score, sqrtf(2), 1e-6);

    OK(vs_collection_search(hits, &n, dot, q, 2, 1));
    ck_assert_uint_eq(n, 1);
    ck_assert_mem_eq(hits[0].id, "a2", 2);
    ck_assert_float_eq(hits[0].score, 2);

    /* the zero query under cosine scores 0 everywhere */
    OK(vs_collection_search(hits, &n, cos, z, 2, 8));
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(hits[i].score, 0);
    ck_assert_mem_eq(hits[0].id, "a", 1);
    ck_assert_mem_eq(hits[3].id, "zero", 4);

    /* a norm below FLT_MIN counts as zero: cosine 0, not inf or NaN */
    float tiny[2] = {1e-39f, 0};
    vs_record tr = rec("tiny", tiny, NULL);
    OK(vs_collection_upsert(cos, &tr, 1));
    OK(vs_collection_search(hits, &n, cos, q, 2, 8));
    ck_assert_uint_eq(n, 5);
    ck_assert_mem_eq(hits[3].id, "tiny", 4);
    ck_assert_float_eq(hits[3].score, 0);
    OK(vs_collection_search(hits, &n, cos, tiny, 2, 8));
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(hits[i].score, 0);

    /* errors */
    float nan_q[2] = {NAN, 0}, inf_q[2] = {0, INFINITY};
    n = 7;
    ck_assert_int_eq(vs_collection_search(hits, &n, cos, q, 3, 1), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "dimension"));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(vs_collection_search(hits, &n, cos, nan_q, 2, 1),
                     VS_EINVALID);
    ck_assert_int_eq(vs_collection_search(hits, &n, euc, inf_q, 2, 1),
                     VS_EINVALID);
    ck_assert_int_eq(vs_collection_search(hits, &n, cos, q, 2, 0), VS_EINVALID);
    ck_assert_int_eq(
        vs_collection_search(hits, &n, cos, q, 2, VS_SEARCH_K_MAX + 1),
        VS_EINVALID);

    /* an empty collection answers nothing */
    vs_collection *empty = create(st, "empty", 2, VS_METRIC_DOT);
    OK(vs_collection_search(hits, &n, empty, q, 2, 5));
    ck_assert_uint_eq(n, 0);

    /* overflow to NaN (+inf and -inf in two partial sums) ranks last */
    vs_collection *ovf = create(st, "ovf", 4, VS_METRIC_DOT);
    float big1[4] = {3e38f, 3e38f, 0, 0}, big2[4] = {3e38f, -3e38f, 0, 0};
    float small[4] = {-1, 0, 0, 0};
    vs_record bb[2] = {rec("nan", big2, NULL), rec("small", small, NULL)};
    OK(vs_collection_upsert(ovf, bb, 2));
    OK(vs_collection_search(hits, &n, ovf, big1, 4, 2));
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(hits[0].id, "small", 5);
    ck_assert_mem_eq(hits[1].id, "nan", 3);
    ck_assert(isinf(hits[1].score) && hits[1].score < 0);
    vs_store_free(st);
}
END_TEST

/* High dimension and a large k exercise the kernels' tails and the heap. */
START_TEST(test_knn_large)
{
    vs_store *st = new_store();
    size_t dim = 1000 + 3, count = 3000;
    float *vecs = malloc(count * dim * sizeof(float));
    vs_record *batch = calloc(count, sizeof(*batch));
    char(*ids)[16] = calloc(count, sizeof(*ids));
    vs_hit *hits = calloc(VS_SEARCH_K_MAX, sizeof(*hits));
    float *q = malloc(dim * sizeof(float));
    ck_assert(vecs && batch && ids && hits && q);

    rng_state = 99;
    for (size_t i = 0; i < count * dim; i++)
        vecs[i] = (float)(rnd01() - 0.5);
    for (size_t i = 0; i < dim; i++)
        q[i] = (float)(rnd01() - 0.5);
    for (size_t i = 0; i < count; i++) {
        snprintf(ids[i], sizeof(ids[i]), "r%zu", i);
        batch[i] = rec(ids[i], vecs + i * dim, NULL);
    }
    for (int m = 0; m < 3; m++) {
        char name[16];
        snprintf(name, sizeof(name), "m%d", m);
        vs_collection *c = create(st, name, (uint32_t)dim, (vs_metric)m);
        OK(vs_collection_reserve(c, count));
        const float *before = vs_collection_vectors(c);
        OK(vs_collection_upsert(c, batch, count));
        ck_assert_ptr_eq(vs_collection_vectors(c), before);
        size_t n, n1;
        OK(vs_collection_search(hits, &n, c, q, dim, VS_SEARCH_K_MAX));
        ck_assert_uint_eq(n, count);
        /* top-10 agrees with the head of the full ranking */
        vs_hit top[10];
        OK(vs_collection_search(top, &n1, c, q, dim, 10));
        ck_assert_uint_eq(n1, 10);
        for (size_t i = 0; i < 10; i++) {
            ck_assert_uint_eq(top[i].slot, hits[i].slot);
            ck_assert_float_eq(top[i].score, hits[i].score);
        }
        for (size_t i = 1; i < n; i++) {
            float a = hits[i - 1].score, b = hits[i].score;
            REQUIRE(m == VS_METRIC_EUCLIDEAN ? a <= b : a >= b,
                    "metric %d rank %zu", m, i);
        }
        /* scores match a double computation */
        for (size_t i = 0; i < n; i += 97) {
            double sc;
            double want =
                ref_score((vs_metric)m, q, vecs + hits[i].slot * dim, dim, &sc);
            REQUIRE(fabs(hits[i].score - want) <= 1e-4 * sc,
                    "metric %d rank %zu: %g vs %g", m, i, (double)hits[i].score,
                    want);
        }
    }
    free(vecs);
    free(batch);
    free(ids);
    free(hits);
    free(q);
    vs_store_free(st);
}
END_TEST

/* ---- hash table and swap-remove against a model ------------------------- */

/* ids are "id<N>": N back from an id. */
static size_t id_index(const char *id, size_t len)
{
    char buf[16];
    REQUIRE(len > 2 && len < sizeof(buf) && memcmp(id, "id", 2) == 0,
            "bad id '%.*s'", (int)len, id);
    memcpy(buf, id + 2, len - 2);
    buf[len - 2] = '\0';
    return (size_t)strtoul(buf, NULL, 10);
}

START_TEST(test_random_ops)
{
    enum { N = 3000, D = 3 };
    vs_store *st = new_store();
    vs_collection *c = create(st, "ops", D, VS_METRIC_EUCLIDEAN);
    static char ids[N][16];
    static float vals[N];
    static int live[N];
    static uint64_t wseq[N]; /* seq of last upsert or delete */
    static int dead[N];      /* has a tombstone */
    vs_record batch[32];
    float vec[32][D];
    size_t nlive = 0;

    rng_state = 7;
    memset(live, 0, sizeof(live));
    memset(dead, 0, sizeof(dead));
    for (int i = 0; i < N; i++)
        snprintf(ids[i], sizeof(ids[i]), "id%d", i);
    int rounds = 3000 * scale();
    for (int round = 0; round < rounds; round++) {
        size_t nb = 1 + rndn(32);
        if (rndn(3)) {
            for (size_t b = 0; b < nb; b++) {
                size_t i = rndn(N);
                vals[i] = (float)round + (float)b / 64;
                for (int d = 0; d < D; d++)
                    vec[b][d] = vals[i];
                batch[b] = rec(ids[i], vec[b], NULL);
            }
            OK(vs_collection_upsert(c, batch, nb));
            for (size_t b = 0; b < nb; b++) {
                size_t i = id_index(batch[b].id, batch[b].id_len);
                if (!live[i])
                    nlive++;
                live[i] = 1;
                dead[i] = 0;
                wseq[i] = vs_store_seq(st);
                vals[i] = batch[b].vector[0];
            }
        } else {
            size_t expect = 0;
            for (size_t b = 0; b < nb; b++) {
                size_t i = rndn(N);
                batch[b] = rec(ids[i], NULL, NULL);
            }
            uint64_t seq = vs_store_seq(st);
            for (size_t b = 0; b < nb; b++) {
                size_t i = id_index(batch[b].id, batch[b].id_len);
                if (live[i]) {
                    live[i] = 0;
                    dead[i] = 1;
                    wseq[i] = seq + 1;
                    expect++;
                    nlive--;
                }
            }
            size_t deleted = 0;
            OK(vs_collection_delete(c, batch, nb, &deleted));
            REQUIRE(deleted == expect, "round %d: deleted %zu != %zu", round,
                    deleted, expect);
            REQUIRE(vs_store_seq(st) == seq + (expect ? 1 : 0), "seq");
        }
        REQUIRE(vs_collection_count(c) == nlive, "round %d: count", round);
    }
    /* every id answers as the model says */
    vs_record out;
    for (int i = 0; i < N; i++) {
        int r = vs_collection_get(&out, c, ids[i], strlen(ids[i]));
        REQUIRE((r == 0) == live[i], "id %d: live mismatch", i);
        if (r == 0)
            REQUIRE(out.vector[0] == vals[i] && out.vector[2] == vals[i],
                    "id %d: vector", i);
    }
    /* slots: each live id once, with its seq */
    static int seen[N];
    memset(seen, 0, sizeof(seen));
    for (size_t s = 0; s < vs_collection_count(c); s++) {
        vs_collection_slot(&out, c, s);
        size_t i = id_index(out.id, out.id_len);
        REQUIRE(i < N && live[i] && !seen[i], "slot %zu", s);
        seen[i] = 1;
        REQUIRE(vs_collection_slot_seq(c, s) == wseq[i], "slot %zu: seq", s);
    }
    /* tombstones: exactly the dead ids, with the seq of their delete */
    size_t ndead = 0;
    for (int i = 0; i < N; i++)
        ndead += (size_t)dead[i];
    REQUIRE(vs_collection_ntombstones(c) == ndead, "tombstones %zu != %zu",
            vs_collection_ntombstones(c), ndead);
    for (size_t t = 0; t < ndead; t++) {
        const vs_tombstone *tb = vs_collection_tombstone(c, t);
        size_t i = id_index(tb->id, tb->id_len);
        REQUIRE(i < N && dead[i] && tb->seq == wseq[i], "tombstone %zu", t);
        if (t)
            REQUIRE(vs_collection_tombstone(c, t - 1)->seq <= tb->seq,
                    "tombstone order");
    }
    vs_store_free(st);
}
END_TEST

/* Incremental change sets ("records with seq > S", "tombstones with seq > S")
 * applied to a copy taken at S reproduce the store, in either order. */
static void copy_live(vs_collection *dst, const vs_collection *src)
{
    for (size_t s = 0; s < vs_collection_count(src); s++) {
        vs_record r;
        vs_collection_slot(&r, src, s);
        OK(vs_collection_upsert(dst, &r, 1));
    }
}

static void apply_incremental(vs_collection *dst, const vs_collection *src,
                              uint64_t since, int tombstones_first)
{
    for (int pass = 0; pass < 2; pass++) {
        if ((pass == 0) == (tombstones_first != 0)) {
            for (size_t t = 0; t < vs_collection_ntombstones(src); t++) {
                const vs_tombstone *tb = vs_collection_tombstone(src, t);
                if (tb->seq <= since)
                    continue;
                vs_record r = {tb->id, tb->id_len, NULL, NULL, 0};
                OK(vs_collection_delete(dst, &r, 1, NULL));
            }
        } else {
            for (size_t s = 0; s < vs_collection_count(src); s++) {
                if (vs_collection_slot_seq(src, s) <= since)
                    continue;
                vs_record r;
                vs_collection_slot(&r, src, s);
                OK(vs_collection_upsert(dst, &r, 1));
            }
        }
    }
}

static void same_content(const vs_collection *a, const vs_collection *b)
{
    REQUIRE(vs_collection_count(a) == vs_collection_count(b),
            "count %zu != %zu", vs_collection_count(a), vs_collection_count(b));
    for (size_t s = 0; s < vs_collection_count(a); s++) {
        vs_record ra, rb;
        vs_collection_slot(&ra, a, s);
        REQUIRE(vs_collection_get(&rb, b, ra.id, ra.id_len) == 0,
                "'%.*s' missing", (int)ra.id_len, ra.id);
        REQUIRE(memcmp(ra.vector, rb.vector,
                       vs_collection_dimension(a) * sizeof(float)) == 0 &&
                    ra.metadata_len == rb.metadata_len &&
                    memcmp(ra.metadata, rb.metadata, ra.metadata_len) == 0,
                "'%.*s' differs", (int)ra.id_len, ra.id);
    }
}

START_TEST(test_incremental)
{
    enum { N = 40, SNAPS = 4 };
    vs_store *st = new_store();
    vs_store *copies = new_store();
    vs_collection *c = create(st, "inc", 2, VS_METRIC_DOT);
    vs_collection *base[SNAPS][2];
    uint64_t since[SNAPS];
    char ids[N][16], metas[32][24];
    float vec[32][2];
    vs_record batch[32];
    int nsnap = 0;

    rng_state = 31337;
    for (int i = 0; i < N; i++)
        snprintf(ids[i], sizeof(ids[i]), "k%d", i);
    for (int step = 0; step < 400; step++) {
        size_t nb = 1 + rndn(6);
        for (size_t b = 0; b < nb; b++) {
            vec[b][0] = (float)step;
            vec[b][1] = (float)b;
            snprintf(metas[b], sizeof(metas[b]), "{\"s\":%d}", step);
            batch[b] = rec(ids[rndn(N)], vec[b], metas[b]);
        }
        if (rndn(5) < 3)
            OK(vs_collection_upsert(c, batch, nb));
        else
            OK(vs_collection_delete(c, batch, nb, NULL));
        if (step % 100 == 50 && nsnap < SNAPS) {
            since[nsnap] = vs_store_seq(st);
            for (int o = 0; o < 2; o++) {
                char name[32];
                snprintf(name, sizeof(name), "s%d_%d", nsnap, o);
                base[nsnap][o] = create(copies, name, 2, VS_METRIC_DOT);
                copy_live(base[nsnap][o], c);
            }
            nsnap++;
        }
    }
    ck_assert_int_eq(nsnap, SNAPS);
    for (int sn = 0; sn < nsnap; sn++) {
        for (int o = 0; o < 2; o++) {
            apply_incremental(base[sn][o], c, since[sn], o);
            same_content(c, base[sn][o]);
        }
    }
    /* no id is both live and tombstoned, and at most one tombstone each */
    for (size_t t = 0; t < vs_collection_ntombstones(c); t++) {
        const vs_tombstone *tb = vs_collection_tombstone(c, t);
        vs_record r;
        REQUIRE(vs_collection_get(&r, c, tb->id, tb->id_len) == VS_ENOTFOUND,
                "tombstone of a live id");
        for (size_t u = 0; u < t; u++) {
            const vs_tombstone *tu = vs_collection_tombstone(c, u);
            REQUIRE(tu->id_len != tb->id_len ||
                        memcmp(tu->id, tb->id, tb->id_len) != 0,
                    "two tombstones for one id");
        }
    }
    vs_store_free(copies);
    vs_store_free(st);
}
END_TEST

/* ---- moving collections between stores ---------------------------------- */

START_TEST(test_merge_swap)
{
    vs_store *a = new_store(), *b = new_store();
    float v[2] = {1, 2};
    vs_record r = rec("x", v, NULL);
    vs_record out;

    vs_collection *a1 = create(a, "alpha", 2, VS_METRIC_DOT);
    create(a, "gamma", 2, VS_METRIC_DOT);
    OK(vs_collection_upsert(a1, &r, 1));
    vs_collection *b1 = create(b, "beta", 2, VS_METRIC_COSINE);
    vs_collection *b2 = create(b, "gamma", 3, VS_METRIC_EUCLIDEAN);
    vs_collection *b3 = create(b, "delta", 2, VS_METRIC_DOT);
    OK(vs_collection_upsert(b1, &r, 1));
    const float *b1vec = vs_collection_vectors(b1);
    vs_store_set_seq(b, 100);
    vs_store_set_seq(b, 50); /* never backwards */
    ck_assert_uint_eq(vs_store_seq(b), 100);

    vs_store_merge_take(a, b);
    ck_assert_uint_eq(vs_store_ncollections(b), 0);
    ck_assert_ptr_null(vs_store_find(b, "beta"));
    ck_assert_uint_eq(vs_store_ncollections(a), 4);
    static const char *const names[] = {"alpha", "beta", "delta", "gamma"};
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(vs_collection_name(vs_store_at(a, i)), names[i]);
    ck_assert_ptr_eq(vs_store_find(a, "beta"), b1);
    ck_assert_ptr_eq(vs_store_find(a, "gamma"), b2); /* replaced */
    ck_assert_ptr_eq(vs_store_find(a, "delta"), b3);
    ck_assert_ptr_eq(vs_store_find(a, "alpha"), a1);
    ck_assert_uint_eq(vs_collection_dimension(vs_store_find(a, "gamma")), 3);
    ck_assert_ptr_eq(vs_collection_vectors(b1), b1vec); /* not copied */
    ck_assert_uint_eq(vs_store_seq(a), 101);
    ck_assert_uint_eq(vs_store_nrecords(a), 2);
    ck_assert_uint_eq(vs_store_nrecords(b), 0);

    /* moved collections now advance the new store's counter */
    uint64_t bseq = vs_store_seq(b);
    OK(vs_collection_upsert(b1, &r, 1));
    ck_assert_uint_eq(vs_store_seq(a), 102);
    ck_assert_uint_eq(vs_store_seq(b), bseq);
    OK(vs_collection_get(&out, b1, "x", 1));
    ck_assert_uint_eq(vs_collection_slot_seq(b1, 0), 102);

    /* merging an empty store changes nothing */
    uint64_t h = state_hash(a);
    vs_store_merge_take(a, b);
    ck_assert_uint_eq(state_hash(a), h);

    /* swap */
    vs_collection *c1 = create(b, "only-b", 2, VS_METRIC_DOT);
    vs_store_swap(a, b);
    ck_assert_uint_eq(vs_store_ncollections(a), 1);
    ck_assert_uint_eq(vs_store_ncollections(b), 4);
    ck_assert_ptr_eq(vs_store_find(a, "only-b"), c1);
    ck_assert_ptr_eq(vs_store_find(b, "beta"), b1);
    ck_assert_uint_eq(vs_store_seq(a), 103);
    ck_assert_uint_eq(vs_store_seq(b), 103);
    OK(vs_collection_upsert(c1, &r, 1));
    ck_assert_uint_eq(vs_store_seq(a), 104);
    ck_assert_uint_eq(vs_store_seq(b), 103);
    OK(vs_collection_upsert(b1, &r, 1));
    ck_assert_uint_eq(vs_store_seq(b), 104);

    /* the stores stay usable */
    create(a, "new", 2, VS_METRIC_DOT);
    OK(vs_store_drop(b, "gamma"));
    ck_assert_uint_eq(vs_store_ncollections(a), 2);
    ck_assert_uint_eq(vs_store_ncollections(b), 3);
    vs_store_free(a);
    vs_store_free(b);
}
END_TEST

START_TEST(test_bytes_reserve)
{
    vs_store *st = new_store();
    uint64_t empty = vs_store_bytes(st);
    vs_collection *c = create(st, "c", 128, VS_METRIC_COSINE);
    float v[128] = {0};
    char id[16];

    ck_assert_uint_gt(vs_store_bytes(st), empty);
    OK(vs_collection_reserve(c, 1000));
    uint64_t reserved = vs_store_bytes(st);
    ck_assert_uint_ge(reserved, empty + 1000 * 128 * sizeof(float));
    const float *vecs = vs_collection_vectors(c);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        vs_record r = rec(id, v, "{\"some\":\"metadata\"}");
        OK(vs_collection_upsert(c, &r, 1));
    }
    ck_assert_ptr_eq(vs_collection_vectors(c), vecs);
    ck_assert_uint_gt(vs_store_bytes(st), reserved);
    ck_assert_uint_eq(vs_store_nrecords(st), 1000);
    ck_assert_int_eq(vs_collection_reserve(c, (size_t)1 << 40), VS_ETOOBIG);
    ck_assert_uint_eq(vs_collection_count(c), 1000);
    OK(vs_collection_reserve(c, 10)); /* never shrinks */
    OK(vs_store_drop(st, "c"));
    ck_assert_uint_lt(vs_store_bytes(st), empty + 1024);
    ck_assert_uint_eq(vs_store_nrecords(st), 0);
    vs_store_free(st);
}
END_TEST

/* ---- locking ------------------------------------------------------------ */

typedef struct lock_arg {
    vs_store *st;
    int writer;
    int failures;
} lock_arg;

static void *lock_worker(void *p)
{
    lock_arg *a = p;
    float v[4] = {1, 2, 3, 4};
    char id[16];
    vs_hit hits[4];
    size_t n;

    for (int i = 0; i < 300; i++) {
        if (a->writer) {
            vs_store_wrlock(a->st);
            snprintf(id, sizeof(id), "w%d", i);
            vs_record r = rec(id, v, NULL);
            if (vs_collection_upsert(vs_store_find(a->st, "c"), &r, 1) != 0)
                a->failures++;
            vs_store_unlock(a->st);
        } else {
            vs_store_rdlock(a->st);
            if (vs_collection_search(hits, &n, vs_store_find(a->st, "c"), v, 4,
                                     4) != 0)
                a->failures++;
            vs_store_unlock(a->st);
        }
    }
    return NULL;
}

START_TEST(test_locking)
{
    vs_store *st = new_store();
    create(st, "c", 4, VS_METRIC_COSINE);
    pthread_t t[4];
    lock_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (lock_arg){st, i == 0, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, lock_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        ck_assert_int_eq(args[i].failures, 0);
    }
    ck_assert_uint_eq(vs_collection_count(vs_store_find(st, "c")), 300);
    vs_store_free(st);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("basics");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_collections);
    tcase_add_test(tc, test_upsert_get);
    tcase_add_test(tc, test_delete_tombstones);
    tcase_add_test(tc, test_atomic_failures);
    tcase_add_test(tc, test_load);
    tcase_add_test(tc, test_merge_swap);
    tcase_add_test(tc, test_bytes_reserve);
    tcase_add_test(tc, test_locking);
    suite_add_tcase(s, tc);

    tc = tcase_create("knn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_knn_small);
    tcase_add_test(tc, test_knn_reference);
    tcase_add_test(tc, test_knn_large);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_random_ops);
    tcase_add_test(tc, test_incremental);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
