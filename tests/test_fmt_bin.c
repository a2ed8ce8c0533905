/*
 * test_fmt_bin: the binary format (src/fmt_bin.c, docs/FORMAT.md).  Round
 * trips through memory streams over the edge cases of the data model, the
 * golden v1 file, and a reader that refuses every truncation, every flipped
 * byte and every oversized length without crashing, leaking or allocating
 * what a length field claims.
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

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

#define DOC_MAX ((size_t)1 << 30)

/* The format's constants, as docs/FORMAT.md gives them. */
#define OP_COLLECTION 0x01
#define OP_RECORDS 0x02
#define OP_END_COLLECTION 0x03
#define OP_EOF 0xff

/* ---- helpers ---- */

static vs_collection *make_collection(vs_store *st, const char *name,
                                      uint32_t dim, vs_metric metric)
{
    vs_collection *c = NULL;
    ck_assert_int_eq(vs_store_create(&c, st, name, dim, metric), 0);
    return c;
}

static void put_record(vs_collection *c, const char *id, const float *v,
                       const char *meta)
{
    vs_record r = {id, strlen(id), v, meta, meta ? strlen(meta) : 0};
    ck_assert_msg(vs_collection_upsert(c, &r, 1) == 0, "upsert: %s",
                  vs_error_last());
}

/* Save to memory; the buffer is the caller's to dispose. */
static vs_buf save_doc(vs_store *st, const vs_save_options *opts, bool shuffle)
{
    vs_buf buf = VS_BUF_INIT(DOC_MAX);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &buf), 0);
    int error = vs_fmt_bin_save(w, st, opts, shuffle);
    ck_assert_msg(error == 0, "save: %s", vs_error_last());
    ck_assert_int_eq(vs_stream_finish(w), 0);
    vs_stream_free(w);
    return buf;
}

static int load_doc(vs_store **out, vs_file_info *info, const void *data,
                    size_t n, uint64_t size_hint)
{
    vs_stream *r = NULL;
    vs_load_options opts = VS_LOAD_OPTIONS_INIT;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, data, n), 0);
    *out = (vs_store *)&opts; /* must be reset by the loader */
    int error = vs_fmt_bin_load(out, info, r, size_hint, &opts);
    vs_stream_free(r);
    return error;
}

/* Save, load (with and without a size hint) and compare bit for bit. */
static void round_trip(vs_store *st, bool shuffle)
{
    vs_buf doc = save_doc(st, NULL, shuffle);
    for (int hinted = 0; hinted < 2; hinted++) {
        vs_store *back = NULL;
        vs_file_info info;
        memset(&info, 0, sizeof(info));
        int error =
            load_doc(&back, &info, doc.ptr, doc.len, hinted ? doc.len : 0);
        ck_assert_msg(error == 0, "load: %s", vs_error_last());
        char why[512];
        ck_assert_msg(vs_test_store_equal(st, back, true, why, sizeof(why)),
                      "%s", why);
        ck_assert_int_eq(info.format, VS_FORMAT_BIN);
        ck_assert(info.content_verified);
        ck_assert_uint_eq(info.bytes, doc.len);
        ck_assert_uint_eq(info.seq, vs_store_seq(st));
        ck_assert_uint_eq(info.records, vs_store_nrecords(st));
        ck_assert_uint_eq(info.ncollections, vs_store_ncollections(st));
        vs_store_free(back);
    }
    vs_buf_dispose(&doc);
}

static bool is_load_error(int error)
{
    return error == VS_ECORRUPT || error == VS_EVERSION ||
           error == VS_EINVALID || error == VS_ETOOBIG;
}

/* A small store (two collections, metadata, unicode) for corruption runs. */
static vs_store *small_store(void)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    vs_collection *a = make_collection(st, "animals", 8, VS_METRIC_COSINE);
    vs_collection *b = make_collection(st, "birds", 5, VS_METRIC_EUCLIDEAN);
    uint64_t seed = 7;
    char id[32], meta[64];
    for (int i = 0; i < 12; i++) {
        float v[8];
        for (int d = 0; d < 8; d++)
            v[d] = vs_test_randf(&seed);
        snprintf(id, sizeof(id), "ani-%d-\xc3\xa9", i);
        snprintf(meta, sizeof(meta), "{\"i\":%d,\"s\":\"x%d\"}", i, i * 3);
        put_record(a, id, v, i % 3 ? meta : NULL);
    }
    for (int i = 0; i < 9; i++) {
        float v[5];
        for (int d = 0; d < 5; d++)
            v[d] = vs_test_randf(&seed);
        snprintf(id, sizeof(id), "b%d", i);
        put_record(b, id, v, "{\"k\":[1,2]}");
    }
    return st;
}

/* ---- round trips ---- */

START_TEST(test_round_trip_empty_store)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    round_trip(st, false);
    vs_buf doc = save_doc(st, NULL, false);
    /* header, EOF, trailer */
    ck_assert_uint_eq(doc.len, 32 + 1 + 32);
    ck_assert_int_eq((uint8_t)doc.ptr[32], OP_EOF);
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

START_TEST(test_round_trip_empty_collection)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    make_collection(st, "empty", 17, VS_METRIC_DOT);
    round_trip(st, false);
    round_trip(st, true);
    vs_store_free(st);
}
END_TEST

/* dimension, record count: 1 x 20000 spans two blocks by the record cap,
 * 4096 x 100 two blocks by the vector cap, 65536 x 5 two blocks of the
 * largest vectors, 384 x 2000 three blocks. */
static const struct {
    uint32_t dim;
    size_t count;
} shapes[] = {{1, 20000}, {4096, 100}, {65536, 5}, {384, 2000}, {3, 1}};

START_TEST(test_round_trip_dimensions_and_block_boundaries)
{
    int shape = _i / 2;
    bool shuffle = _i % 2;
    vs_store *st =
        vs_test_random_store("c", shapes[shape].count, shapes[shape].dim,
                             VS_METRIC_COSINE, true, 11 + (uint64_t)_i);
    round_trip(st, shuffle);
    vs_store_free(st);
}
END_TEST

/* Walk a document's RECORDS blocks: n and text_len of each, in order. */
static size_t walk_blocks(size_t *ns, size_t *tlens, size_t max,
                          const vs_buf *doc)
{
    const uint8_t *p = (const uint8_t *)doc->ptr;
    size_t pos = 32, nb = 0;
    uint32_t dim = 0;
    for (;;) {
        uint8_t op = p[pos++];
        uint64_t v;
        if (op == OP_EOF)
            break;
        if (op == OP_END_COLLECTION)
            continue;
        if (op == OP_COLLECTION) {
            size_t len = p[pos++]; /* names are short: one-byte varint */
            pos += len;
            dim = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 |
                  (uint32_t)p[pos + 2] << 16 | (uint32_t)p[pos + 3] << 24;
            pos += 4 + 1 + 8;
            continue;
        }
        ck_assert_int_eq(op, OP_RECORDS);
        ck_assert_uint_lt(nb, max);
        for (int k = 0; k < 2; k++) {
            v = 0;
            for (int sh = 0;; sh += 7) {
                v |= (uint64_t)(p[pos] & 0x7f) << sh;
                if (!(p[pos++] & 0x80))
                    break;
            }
            if (k == 0)
                ns[nb] = (size_t)v;
            else
                tlens[nb] = (size_t)v;
        }
        pos += tlens[nb] + ns[nb] * dim * sizeof(float);
        nb++;
    }
    ck_assert_uint_eq(pos + 32, doc->len);
    return nb;
}

/* Writers fill blocks up to 16384 records, ~1 MiB of vectors (at least
 * one record) or 1 MiB of ids and metadata, whichever comes first. */
START_TEST(test_blocks_are_bounded_and_full)
{
    static const struct {
        uint32_t dim;
        size_t count;
        size_t want[3];
    } cases[] = {{1, 20000, {16384, 3616, 0}},
                 {384, 2000, {682, 682, 636}},
                 {65536, 5, {4, 1, 0}}};
    size_t ns[8], tlens[8];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vs_store *st = vs_test_random_store("c", cases[i].count, cases[i].dim,
                                            VS_METRIC_DOT, false, 1);
        vs_buf doc = save_doc(st, NULL, false);
        size_t nb = walk_blocks(ns, tlens, 8, &doc);
        for (size_t b = 0; b < 3; b++) {
            if (b < nb)
                ck_assert_uint_eq(ns[b], cases[i].want[b]);
            else
                ck_assert_uint_eq(cases[i].want[b], 0);
        }
        vs_buf_dispose(&doc);
        vs_store_free(st);
    }

    /* text-bound: 40 records of 65536-byte metadata, 65542 bytes each */
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    vs_collection *c = make_collection(st, "t", 2, VS_METRIC_DOT);
    char *meta = malloc(VS_METADATA_MAX + 1);
    ck_assert_ptr_nonnull(meta);
    memcpy(meta, "{\"k\":\"", 6);
    memset(meta + 6, 'q', VS_METADATA_MAX - 8);
    memcpy(meta + VS_METADATA_MAX - 2, "\"}", 3);
    for (int k = 0; k < 40; k++) {
        float v[2] = {1, (float)k};
        char id[16];
        snprintf(id, sizeof(id), "%02d", k);
        put_record(c, id, v, meta);
    }
    free(meta);
    vs_buf doc = save_doc(st, NULL, true);
    size_t nb = walk_blocks(ns, tlens, 8, &doc);
    ck_assert_uint_eq(nb, 3);
    ck_assert_uint_eq(ns[0], 15);
    ck_assert_uint_eq(ns[1], 15);
    ck_assert_uint_eq(ns[2], 10);
    ck_assert_uint_eq(tlens[0], 15 * 65542);
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

START_TEST(test_round_trip_several_collections_and_metrics)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    const char *names[] = {"z.last", "A-first", "m_middle", "0digits"};
    for (int i = 0; i < 4; i++) {
        vs_collection *c =
            make_collection(st, names[i], 2 + (uint32_t)i, (vs_metric)(i % 3));
        for (int k = 0; k < 10 * i; k++) {
            float v[5] = {(float)k, (float)-i, 0.5f, 1.0f / 3, 1e-3f};
            char id[16];
            snprintf(id, sizeof(id), "r%d", k);
            put_record(c, id, v, NULL);
        }
    }
    round_trip(st, false);
    round_trip(st, true);
    vs_store_free(st);
}
END_TEST

START_TEST(test_round_trip_unicode_ids)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    vs_collection *c = make_collection(st, "u", 2, VS_METRIC_DOT);
    const char *ids[] = {"h\xc3\xa9llo",
                         "\xe6\x97\xa5\xe6\x9c\xac",
                         "party \xf0\x9f\x8e\x89",
                         "tab\there",
                         "\x7f",
                         "a"};
    float v[2] = {1, 2};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        put_record(c, ids[i], v, "{\"\xce\xb2\":\"\xe2\x82\xac\"}");
    char longid[VS_ID_MAX + 1];
    memset(longid, 'x', VS_ID_MAX);
    longid[VS_ID_MAX] = '\0';
    put_record(c, longid, v, NULL);
    round_trip(st, false);
    vs_store_free(st);
}
END_TEST

START_TEST(test_round_trip_special_floats_bit_exact)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    vs_collection *c = make_collection(st, "f", 8, VS_METRIC_EUCLIDEAN);
    float v[8] = {-0.0f,   FLT_TRUE_MIN, 1e-40f,  -1e-39f,
                  FLT_MAX, -FLT_MAX,     FLT_MIN, 0.1f};
    put_record(c, "special", v, NULL);
    for (int shuffle = 0; shuffle < 2; shuffle++) {
        vs_buf doc = save_doc(st, NULL, shuffle);
        vs_store *back = NULL;
        ck_assert_int_eq(load_doc(&back, NULL, doc.ptr, doc.len, 0), 0);
        vs_record r;
        ck_assert_int_eq(
            vs_collection_get(&r, vs_store_find(back, "f"), "special", 7), 0);
        ck_assert_mem_eq(r.vector, v, sizeof(v));
        ck_assert(signbit(r.vector[0]));
        ck_assert(fpclassify(r.vector[2]) == FP_SUBNORMAL);
        vs_store_free(back);
        vs_buf_dispose(&doc);
    }
    vs_store_free(st);
}
END_TEST

/* Metadata close to VS_METADATA_MAX: the text section, not the vectors,
 * decides where blocks end. */
START_TEST(test_round_trip_large_metadata)
{
    vs_store *st = NULL;
    ck_assert_int_eq(vs_store_new(&st), 0);
    vs_collection *c = make_collection(st, "big", 4, VS_METRIC_COSINE);
    size_t mlen = VS_METADATA_MAX;
    char *meta = malloc(mlen + 1);
    ck_assert_ptr_nonnull(meta);
    memcpy(meta, "{\"k\":\"", 6);
    memset(meta + 6, 'q', mlen - 8);
    memcpy(meta + mlen - 2, "\"}", 3);
    for (int i = 0; i < 40; i++) {
        float v[4] = {(float)i, 1, 2, 3};
        char id[16];
        snprintf(id, sizeof(id), "m%d", i);
        meta[6] = (char)('a' + i % 26);
        put_record(c, id, v, meta);
    }
    free(meta);
    round_trip(st, false);
    round_trip(st, true);
    vs_store_free(st);
}
END_TEST

START_TEST(test_round_trip_preserves_sequence_number)
{
    vs_store *st = vs_test_random_store("s", 50, 4, VS_METRIC_DOT, true, 3);
    vs_store_set_seq(st, (uint64_t)1 << 40);
    round_trip(st, false);
    vs_buf doc = save_doc(st, NULL, false);
    vs_store *back = NULL;
    ck_assert_int_eq(load_doc(&back, NULL, doc.ptr, doc.len, 0), 0);
    ck_assert_uint_eq(vs_store_seq(back), (uint64_t)1 << 40);
    vs_store_free(back);
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

START_TEST(test_shuffle_changes_bytes_not_content)
{
    vs_store *st =
        vs_test_random_store("v", 300, 16, VS_METRIC_COSINE, false, 5);
    vs_buf plain = save_doc(st, NULL, false);
    vs_buf planes = save_doc(st, NULL, true);
    ck_assert_uint_eq(plain.len, planes.len);
    ck_assert(memcmp(plain.ptr, planes.ptr, plain.len) != 0);
    ck_assert_int_eq(plain.ptr[10] & 1, 0); /* flags */
    ck_assert_int_eq(planes.ptr[10] & 1, 1);
    vs_store *a = NULL, *b = NULL;
    ck_assert_int_eq(load_doc(&a, NULL, plain.ptr, plain.len, 0), 0);
    ck_assert_int_eq(load_doc(&b, NULL, planes.ptr, planes.len, 0), 0);
    char why[256];
    ck_assert_msg(vs_test_store_equal(a, b, true, why, sizeof(why)), "%s", why);
    vs_store_free(a);
    vs_store_free(b);
    vs_buf_dispose(&plain);
    vs_buf_dispose(&planes);
    vs_store_free(st);
}
END_TEST

START_TEST(test_save_selected_collections_only)
{
    vs_store *st = small_store();
    vs_collection *c = make_collection(st, "cats", 2, VS_METRIC_DOT);
    float v[2] = {1, 1};
    put_record(c, "tom", v, NULL);
    const char *want[] = {"cats", "animals"};
    vs_save_options opts = VS_SAVE_OPTIONS_INIT;
    opts.collections = want;
    opts.ncollections = 2;
    vs_buf doc = save_doc(st, &opts, false);
    vs_store *back = NULL;
    vs_file_info info;
    ck_assert_int_eq(load_doc(&back, &info, doc.ptr, doc.len, 0), 0);
    ck_assert_uint_eq(vs_store_ncollections(back), 2);
    ck_assert_ptr_null(vs_store_find(back, "birds"));
    ck_assert_uint_eq(vs_collection_count(vs_store_find(back, "cats")), 1);
    ck_assert_uint_eq(vs_collection_count(vs_store_find(back, "animals")), 12);
    ck_assert_uint_eq(info.ncollections, 2);
    ck_assert_uint_eq(info.records, 13);
    vs_store_free(back);
    vs_buf_dispose(&doc);

    const char *unknown[] = {"animals", "nope"};
    opts.collections = unknown;
    vs_buf buf = VS_BUF_INIT(DOC_MAX);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &buf), 0);
    ck_assert_int_eq(vs_fmt_bin_save(w, st, &opts, false), VS_ENOTFOUND);
    vs_stream_free(w);
    vs_buf_dispose(&buf);
    vs_store_free(st);
}
END_TEST

/* A caller's hash stage is used for the trailer (same bytes), and one that
 * already saw other bytes is not. */
START_TEST(test_hash_stage_streams_give_same_document)
{
    vs_store *st = small_store();
    vs_buf plain = save_doc(st, NULL, false);

    vs_buf buf = VS_BUF_INIT(DOC_MAX);
    vs_stream *w = NULL, *h = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &buf), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, w, true), 0);
    ck_assert_int_eq(vs_fmt_bin_save(h, st, NULL, false), 0);
    ck_assert_int_eq(vs_stream_finish(h), 0);
    uint8_t d1[VS_SHA256_LEN], d2[VS_SHA256_LEN];
    ck_assert_int_eq(vs_stream_hash_peek(h, d1), 0);
    vs_stream_free(h);
    vs_stream_free(w);
    ck_assert_uint_eq(buf.len, plain.len);
    ck_assert_mem_eq(buf.ptr, plain.ptr, plain.len);
    ck_assert_int_eq(vs_sha256_buffer(d2, plain.ptr, plain.len), 0);
    ck_assert_mem_eq(d1, d2, VS_SHA256_LEN);

    /* Reading through a hash stage positioned at the document... */
    vs_stream *r = NULL;
    vs_store *back = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, plain.ptr, plain.len), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, r, false), 0);
    ck_assert_int_eq(vs_fmt_bin_load(&back, NULL, h, 0, NULL), 0);
    vs_store_free(back);
    vs_stream_free(h);
    vs_stream_free(r);

    /* ... and through one that already delivered other bytes. */
    vs_buf_reset(&buf);
    ck_assert_int_eq(vs_buf_put(&buf, "junk!", 5), 0);
    ck_assert_int_eq(vs_buf_put(&buf, plain.ptr, plain.len), 0);
    char junk[5];
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, buf.ptr, buf.len), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, r, true), 0);
    ck_assert_int_eq(vs_stream_read_exact(h, junk, 5), 0);
    ck_assert_msg(vs_fmt_bin_load(&back, NULL, h, 0, NULL) == 0, "%s",
                  vs_error_last());
    vs_store_free(back);
    vs_stream_free(h);
    vs_stream_free(r);

    vs_buf_dispose(&buf);
    vs_buf_dispose(&plain);
    vs_store_free(st);
}
END_TEST

typedef struct progress_log {
    int calls;
    int cancel_at; /* 0: never */
    uint64_t last_done, last_total;
    bool monotonic;
} progress_log;

static int on_progress(void *payload, uint64_t done, uint64_t total)
{
    progress_log *p = payload;
    if (done < p->last_done || done > total)
        p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return p->cancel_at && p->calls >= p->cancel_at;
}

START_TEST(test_progress_reported_and_cancel_stops_writing)
{
    vs_store *st =
        vs_test_random_store("p", 3000, 384, VS_METRIC_COSINE, false, 9);
    progress_log log = {.monotonic = true};
    vs_save_options opts = VS_SAVE_OPTIONS_INIT;
    opts.progress = on_progress;
    opts.payload = &log;
    vs_buf full = save_doc(st, &opts, false);
    ck_assert_int_ge(log.calls, 5); /* 3000 / 682 per block */
    ck_assert(log.monotonic);
    ck_assert_uint_eq(log.last_done, 3000);
    ck_assert_uint_eq(log.last_total, 3000);

    /* load reports too */
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    progress_log llog = {.monotonic = true};
    lo.progress = on_progress;
    lo.payload = &llog;
    vs_stream *r = NULL;
    vs_store *back = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, full.ptr, full.len), 0);
    ck_assert_int_eq(vs_fmt_bin_load(&back, NULL, r, 0, &lo), 0);
    ck_assert_int_ge(llog.calls, 5);
    ck_assert_uint_eq(llog.last_done, 3000);
    vs_store_free(back);
    vs_stream_free(r);

    /* cancelled loads free what they built */
    llog = (progress_log){.monotonic = true, .cancel_at = 2};
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, full.ptr, full.len), 0);
    ck_assert_int_eq(vs_fmt_bin_load(&back, NULL, r, 0, &lo), VS_ECANCELLED);
    ck_assert_ptr_null(back);
    vs_stream_free(r);

    log = (progress_log){.monotonic = true, .cancel_at = 2};
    vs_buf buf = VS_BUF_INIT(DOC_MAX);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &buf), 0);
    ck_assert_int_eq(vs_fmt_bin_save(w, st, &opts, false), VS_ECANCELLED);
    ck_assert_int_eq(log.calls, 2);
    ck_assert_uint_lt(buf.len, full.len / 2);
    vs_stream_free(w);
    vs_buf_dispose(&buf);
    vs_buf_dispose(&full);
    vs_store_free(st);
}
END_TEST

START_TEST(test_save_reports_write_failure)
{
    vs_store *st = vs_test_random_store("w", 1000, 64, VS_METRIC_DOT, true, 2);
    uint64_t limits[] = {0, 1, 31, 32, 100, 5000, 200000};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        vs_stream *f = NULL;
        ck_assert_int_eq(vs_stream_failing_new(&f, NULL, true, limits[i]), 0);
        ck_assert_int_eq(vs_fmt_bin_save(f, st, NULL, i % 2), VS_EIO);
        vs_stream_free(f);
    }
    vs_store_free(st);
}
END_TEST

START_TEST(test_load_reports_read_failure)
{
    vs_store *st = small_store();
    vs_buf doc = save_doc(st, NULL, false);
    for (uint64_t limit = 0; limit < doc.len; limit += 97) {
        vs_stream *m = NULL, *f = NULL;
        vs_store *back = NULL;
        ck_assert_int_eq(vs_stream_mem_reader_new(&m, doc.ptr, doc.len), 0);
        ck_assert_int_eq(vs_stream_failing_new(&f, m, false, limit), 0);
        ck_assert_int_eq(vs_fmt_bin_load(&back, NULL, f, 0, NULL), VS_EIO);
        ck_assert_ptr_null(back);
        vs_stream_free(f);
        vs_stream_free(m);
    }
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

/* ---- corruption ---- */

START_TEST(test_every_truncation_is_refused)
{
    vs_store *st = small_store();
    vs_buf doc = save_doc(st, NULL, _i);
    ck_assert_uint_ge(doc.len, 700);
    ck_assert_uint_le(doc.len, 3000);
    for (size_t n = 0; n < doc.len; n++) {
        vs_store *back = NULL;
        int error = load_doc(&back, NULL, doc.ptr, n, n % 2 ? n : 0);
        ck_assert_msg(is_load_error(error), "length %zu: %d %s", n, error,
                      vs_error_last());
        ck_assert_ptr_null(back);
    }
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

START_TEST(test_every_flipped_byte_is_refused)
{
    vs_store *st = small_store();
    vs_buf doc = save_doc(st, NULL, _i);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < doc.len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            doc.ptr[i] ^= (char)masks[m];
            vs_store *back = NULL;
            int error = load_doc(&back, NULL, doc.ptr, doc.len, doc.len);
            ck_assert_msg(is_load_error(error), "byte %zu ^ 0x%02x: %d %s", i,
                          masks[m], error, vs_error_last());
            ck_assert_ptr_null(back);
            doc.ptr[i] ^= (char)masks[m];
        }
    }
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

START_TEST(test_trailing_data_is_refused)
{
    vs_store *st = small_store();
    vs_buf doc = save_doc(st, NULL, false);
    ck_assert_int_eq(vs_buf_putc(&doc, '\0'), 0);
    vs_store *back = NULL;
    ck_assert_int_eq(load_doc(&back, NULL, doc.ptr, doc.len, 0), VS_ECORRUPT);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "trailing data"));
    vs_buf_dispose(&doc);
    vs_store_free(st);
}
END_TEST

/* ---- hand-crafted documents ---- */

typedef struct doc {
    vs_buf b;
} doc;

static void d_bytes(doc *d, const void *p, size_t n)
{
    ck_assert_int_eq(vs_buf_put(&d->b, p, n), 0);
}

static void d_le(doc *d, uint64_t v, int n)
{
    uint8_t p[8];
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    d_bytes(d, p, (size_t)n);
}

static void d_varint(doc *d, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        b |= v ? 0x80 : 0;
        d_bytes(d, &b, 1);
    } while (v);
}

static void d_header(doc *d, unsigned version, unsigned flags, uint64_t seq,
                     uint32_t ncols, uint64_t total)
{
    static const uint8_t magic[8] = {0x89, 'V',  'S',  'N',
                                     '\r', '\n', 0x1a, '\n'};
    d_bytes(d, magic, 8);
    d_le(d, version, 2);
    d_le(d, flags, 2);
    d_le(d, seq, 8);
    d_le(d, ncols, 4);
    d_le(d, total, 8);
}

static void d_collection(doc *d, const char *name, uint64_t name_len,
                         uint32_t dim, unsigned metric, uint64_t count)
{
    d_le(d, OP_COLLECTION, 1);
    d_varint(d, name_len);
    d_bytes(d, name, strlen(name));
    d_le(d, dim, 4);
    d_le(d, metric, 1);
    d_le(d, count, 8);
}

/* A RECORDS block of dimension-2 records with the given ids/metadata. */
static void d_block(doc *d, size_t n, const char *const *ids,
                    const char *const *metas, const float *vecs)
{
    size_t tlen = 0;
    for (size_t i = 0; i < n; i++)
        tlen += 2 + strlen(ids[i]) + (metas ? strlen(metas[i]) : 0);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, n);
    d_varint(d, tlen);
    for (size_t i = 0; i < n; i++) {
        d_varint(d, strlen(ids[i]));
        d_bytes(d, ids[i], strlen(ids[i]));
    }
    for (size_t i = 0; i < n; i++) {
        size_t ml = metas ? strlen(metas[i]) : 0;
        d_varint(d, ml);
        d_bytes(d, metas ? metas[i] : "", ml);
    }
    d_bytes(d, vecs, n * 2 * sizeof(float));
}

/* EOF and a correct trailer: the reader must find the problem itself. */
static void d_end(doc *d)
{
    uint8_t sum[VS_SHA256_LEN];
    d_le(d, OP_EOF, 1);
    ck_assert_int_eq(vs_sha256_buffer(sum, d->b.ptr, d->b.len), 0);
    d_bytes(d, sum, sizeof(sum));
}

static const float two[4] = {1, 2, 3, 4};
static const char *const ids_ab[] = {"a", "b"};

static void craft_valid(doc *d)
{
    d_header(d, 1, 0, 5, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 2, ids_ab, NULL, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_bad_checksum(doc *d)
{
    craft_valid(d);
    d->b.ptr[d->b.len - 1] ^= 1;
}

static void craft_huge_total(doc *d)
{
    d_header(d, 1, 0, 0, 0, (uint64_t)1 << 60);
    d_end(d);
}

static void craft_huge_collection_count(doc *d)
{
    d_header(d, 1, 0, 0, 1, (uint64_t)1 << 60);
    d_collection(d, "c", 1, 2, 0, (uint64_t)1 << 60);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_count_above_size(doc *d)
{
    /* within the header's total, but not within the input's size */
    d_header(d, 1, 0, 0, 1, 1000000);
    d_collection(d, "c", 1, 2, 0, 1000000);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_huge_name_length(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1000000000, 2, 0, 0);
    d_end(d);
}

static void craft_zero_name_length(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "", 0, 2, 0, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_bad_name(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "a/b", 3, 2, 0, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_zero_dimension(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1, 0, 0, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_huge_dimension(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1, VS_DIM_MAX + 1, 0, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_bad_metric(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1, 2, 3, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_duplicate_collection(doc *d)
{
    d_header(d, 1, 0, 0, 2, 0);
    for (int i = 0; i < 2; i++) {
        d_collection(d, "c", 1, 2, 0, 0);
        d_le(d, OP_END_COLLECTION, 1);
    }
    d_end(d);
}

static void craft_zero_id_length(doc *d)
{
    static const char *const ids[] = {"", "b"};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 2, ids, NULL, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_long_id(doc *d)
{
    char id[VS_ID_MAX + 2];
    memset(id, 'i', VS_ID_MAX + 1);
    id[VS_ID_MAX + 1] = '\0';
    const char *ids[] = {id};
    d_header(d, 1, 0, 0, 1, 1);
    d_collection(d, "c", 1, 2, 0, 1);
    d_block(d, 1, ids, NULL, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_huge_block_count(doc *d)
{
    d_header(d, 1, 0, 0, 1, 3);
    d_collection(d, "c", 1, 2, 0, 3);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, (uint64_t)1 << 60);
    d_varint(d, 4);
    d_end(d);
}

static void craft_block_above_cap(doc *d)
{
    /* dimension 65536: 4 records make a block */
    d_header(d, 1, 0, 0, 1, 5);
    d_collection(d, "c", 1, 65536, 0, 5);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, 5);
    d_end(d);
}

static void craft_zero_block_count(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1, 2, 0, 0);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, 0);
    d_varint(d, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_huge_text_length(doc *d)
{
    d_header(d, 1, 0, 0, 1, 1);
    d_collection(d, "c", 1, 2, 0, 1);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, 1);
    d_varint(d, (uint64_t)1 << 40);
    d_end(d);
}

static void craft_huge_metadata_length(doc *d)
{
    d_header(d, 1, 0, 0, 1, 1);
    d_collection(d, "c", 1, 2, 0, 1);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, 1);
    d_varint(d, 2 + 1 + 3);
    d_varint(d, 1);
    d_bytes(d, "a", 1);
    d_varint(d, VS_METADATA_MAX + 1);
    d_bytes(d, "{}", 2);
    d_bytes(d, two, 8);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_stray_text(doc *d)
{
    d_header(d, 1, 0, 0, 1, 1);
    d_collection(d, "c", 1, 2, 0, 1);
    d_le(d, OP_RECORDS, 1);
    d_varint(d, 1);
    d_varint(d, 4);
    d_bytes(d,
            "\x01"
            "a"
            "\x00"
            "z",
            4);
    d_bytes(d, two, 8);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_overlong_varint(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_le(d, OP_COLLECTION, 1);
    for (int i = 0; i < 11; i++)
        d_le(d, 0x80, 1);
    d_end(d);
}

static void craft_duplicate_id(doc *d)
{
    static const char *const ids[] = {"same", "same"};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 2, ids, NULL, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_duplicate_id_across_blocks(doc *d)
{
    static const char *const ids[] = {"same"};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 1, ids, NULL, two);
    d_block(d, 1, ids, NULL, two + 2);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_nan(doc *d)
{
    float v[4] = {1, NAN, 3, 4};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 2, ids_ab, NULL, v);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_bad_metadata(doc *d)
{
    static const char *const metas[] = {"{\"a\":1}", "[1,2]"};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 2, ids_ab, metas, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_short_collection(doc *d)
{
    static const char *const ids[] = {"a"};
    d_header(d, 1, 0, 0, 1, 2);
    d_collection(d, "c", 1, 2, 0, 2);
    d_block(d, 1, ids, NULL, two);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_missing_collection(doc *d)
{
    d_header(d, 1, 0, 0, 2, 0);
    d_collection(d, "c", 1, 2, 0, 0);
    d_le(d, OP_END_COLLECTION, 1);
    d_end(d);
}

static void craft_records_outside_collection(doc *d)
{
    d_header(d, 1, 0, 0, 0, 2);
    d_block(d, 2, ids_ab, NULL, two);
    d_end(d);
}

static void craft_eof_inside_collection(doc *d)
{
    d_header(d, 1, 0, 0, 1, 0);
    d_collection(d, "c", 1, 2, 0, 0);
    d_end(d);
}

static void craft_unknown_opcode(doc *d)
{
    d_header(d, 1, 0, 0, 0, 0);
    d_le(d, 0x42, 1);
    d_end(d);
}

static void craft_version_2(doc *d)
{
    d_header(d, 2, 0, 0, 0, 0);
    d_end(d);
}

static void craft_version_0(doc *d)
{
    d_header(d, 0, 0, 0, 0, 0);
    d_end(d);
}

static void craft_unknown_flag(doc *d)
{
    d_header(d, 1, 0x0002, 0, 0, 0);
    d_end(d);
}

static void craft_bad_magic(doc *d)
{
    d_header(d, 1, 0, 0, 0, 0);
    d->b.ptr[3] = 'X';
    d_end(d);
}

static const struct {
    const char *name;
    void (*craft)(doc *d);
    int code;
    const char *needle;      /* in the message */
    const char *hint_needle; /* instead, when loaded with a size hint */
} crafted[] = {
    {"valid", craft_valid, 0, NULL, NULL},
    {"bad checksum", craft_bad_checksum, VS_ECORRUPT, "checksum mismatch",
     NULL},
    {"huge total", craft_huge_total, VS_ECORRUPT, "header says", NULL},
    {"huge collection count", craft_huge_collection_count, VS_ECORRUPT,
     "record count", NULL},
    {"count above input size", craft_count_above_size, VS_ECORRUPT,
     "after 0 of its 1000000 records", "record count 1000000"},
    {"huge name length", craft_huge_name_length, VS_ECORRUPT, "name length",
     NULL},
    {"zero name length", craft_zero_name_length, VS_ECORRUPT, "name length",
     NULL},
    {"bad name", craft_bad_name, VS_ECORRUPT, "collection at byte 32", NULL},
    {"zero dimension", craft_zero_dimension, VS_ECORRUPT, "dimension 0", NULL},
    {"huge dimension", craft_huge_dimension, VS_ECORRUPT, "dimension 65537",
     NULL},
    {"bad metric", craft_bad_metric, VS_ECORRUPT, "unknown metric 3", NULL},
    {"duplicate collection", craft_duplicate_collection, VS_ECORRUPT,
     "collection at byte", NULL},
    {"zero id length", craft_zero_id_length, VS_ECORRUPT, "bad id length",
     NULL},
    {"long id", craft_long_id, VS_ECORRUPT, "bad id length", NULL},
    {"huge block count", craft_huge_block_count, VS_ECORRUPT,
     "1152921504606846976 records", NULL},
    {"block above cap", craft_block_above_cap, VS_ECORRUPT, "1..4 allowed",
     "record count 5"},
    {"zero block count", craft_zero_block_count, VS_ECORRUPT, "0 records",
     NULL},
    {"huge text length", craft_huge_text_length, VS_ECORRUPT, "text section",
     NULL},
    {"huge metadata length", craft_huge_metadata_length, VS_ECORRUPT,
     "bad metadata length", NULL},
    {"stray text", craft_stray_text, VS_ECORRUPT, "stray bytes", NULL},
    {"overlong varint", craft_overlong_varint, VS_ECORRUPT, "varint", NULL},
    {"duplicate id", craft_duplicate_id, VS_ECORRUPT, "duplicate", NULL},
    {"duplicate id across blocks", craft_duplicate_id_across_blocks,
     VS_ECORRUPT, "duplicate", NULL},
    {"nan", craft_nan, VS_ECORRUPT, "not finite", NULL},
    {"bad metadata", craft_bad_metadata, VS_ECORRUPT, "metadata", NULL},
    {"short collection", craft_short_collection, VS_ECORRUPT,
     "after 1 of its 2 records", NULL},
    {"missing collection", craft_missing_collection, VS_ECORRUPT,
     "header says 2", NULL},
    {"records outside collection", craft_records_outside_collection,
     VS_ECORRUPT, "outside a collection", NULL},
    {"eof inside collection", craft_eof_inside_collection, VS_ECORRUPT,
     "inside collection 'c'", NULL},
    {"unknown opcode", craft_unknown_opcode, VS_ECORRUPT,
     "unknown opcode 0x42 at byte 32", NULL},
    {"version 2", craft_version_2, VS_EVERSION, "version 2", NULL},
    {"version 0", craft_version_0, VS_ECORRUPT, "version 0", NULL},
    {"unknown flag", craft_unknown_flag, VS_EVERSION, "flags 0x0002", NULL},
    {"bad magic", craft_bad_magic, VS_ECORRUPT, "bad magic", NULL},
};

START_TEST(test_crafted_documents_are_judged)
{
    doc d = {VS_BUF_INIT(DOC_MAX)};
    crafted[_i].craft(&d);
    for (int hinted = 0; hinted < 2; hinted++) {
        vs_store *back = NULL;
        int error =
            load_doc(&back, NULL, d.b.ptr, d.b.len, hinted ? d.b.len : 0);
        ck_assert_msg(error == crafted[_i].code, "%s: got %d (%s)",
                      crafted[_i].name, error, vs_error_last());
        if (error == 0) {
            ck_assert_ptr_nonnull(back);
            vs_store_free(back);
            continue;
        }
        ck_assert_ptr_null(back);
        /* A size hint may stop a claim earlier, with another message. */
        const char *needle = hinted && crafted[_i].hint_needle
                                 ? crafted[_i].hint_needle
                                 : crafted[_i].needle;
        ck_assert_msg(strstr(vs_error_last(), needle),
                      "%s: message '%s' lacks '%s'", crafted[_i].name,
                      vs_error_last(), needle);
    }
    vs_buf_dispose(&d.b);
}
END_TEST

/* ---- golden file ---- */

static char *golden_path(void)
{
    const char *dir = getenv("TEST_DATA_DIR");
    return vs_test_path(dir && *dir ? dir : TEST_DATA_DIR, "golden-v1.vsnap");
}

static void check_record(const vs_collection *c, const char *id, const float *v,
                         const char *meta)
{
    vs_record r;
    ck_assert_msg(vs_collection_get(&r, c, id, strlen(id)) == 0, "id %s", id);
    ck_assert_mem_eq(r.vector, v, vs_collection_dimension(c) * sizeof(float));
    ck_assert_uint_eq(r.metadata_len, strlen(meta));
    ck_assert_mem_eq(r.metadata, meta, r.metadata_len);
}

/* The v1 golden document must always load to exactly this content, and
 * saving that content again must give the same bytes: a change to either is
 * a format change and needs a new version. */
START_TEST(test_golden_v1_loads_exactly)
{
    char *path = golden_path();
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(vs_fs_read_all(&data, &len, path, 1 << 20) == 0, "%s: %s",
                  path, vs_error_last());
    vs_store *st = NULL;
    vs_file_info info;
    ck_assert_msg(load_doc(&st, &info, data, len, len) == 0, "%s",
                  vs_error_last());
    ck_assert_uint_eq(info.seq, 42);
    ck_assert_uint_eq(vs_store_seq(st), 42);
    ck_assert_uint_eq(info.records, 4);
    ck_assert_uint_eq(vs_store_ncollections(st), 2);

    const vs_collection *a = vs_store_find(st, "alpha");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(vs_collection_dimension(a), 3);
    ck_assert_int_eq(vs_collection_metric(a), VS_METRIC_COSINE);
    ck_assert_uint_eq(vs_collection_count(a), 3);
    const float a0[3] = {1.0f, -0.0f, 0.5f};
    const float a1[3] = {FLT_MAX, -FLT_MAX, FLT_TRUE_MIN};
    const float a2[3] = {0.25f, -2.0f, 1e-40f};
    check_record(a, "a", a0, "{\"k\":\"v\",\"n\":1}");
    check_record(a, "\xc3\xa9-\xc3\xbc\xc3\xb1\xc3\xaf-\xf0\x9f\x8e\x89", a1,
                 "{}");
    check_record(a, "z", a2, "{\"nested\":{\"a\":[1,2,3]}}");
    vs_record r;
    vs_collection_get(&r, a, "a", 1);
    ck_assert(signbit(r.vector[1]));

    const vs_collection *b = vs_store_find(st, "beta");
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(vs_collection_dimension(b), 2);
    ck_assert_int_eq(vs_collection_metric(b), VS_METRIC_EUCLIDEAN);
    const float b0[2] = {3.0f, 4.0f};
    check_record(b, "x", b0, "{\"tag\":\"\xce\xb2\"}");

    vs_buf again = save_doc(st, NULL, false);
    ck_assert_uint_eq(again.len, len);
    ck_assert_mem_eq(again.ptr, data, len);

    vs_buf_dispose(&again);
    vs_store_free(st);
    free(data);
    free(path);
}
END_TEST

static Suite *fmt_bin_suite(void)
{
    Suite *s = suite_create("fmt_bin");
    TCase *core = tcase_create("core");
    tcase_set_timeout(core, 300);
    tcase_add_test(core, test_round_trip_empty_store);
    tcase_add_test(core, test_round_trip_empty_collection);
    tcase_add_loop_test(core, test_round_trip_dimensions_and_block_boundaries,
                        0, (int)(2 * sizeof(shapes) / sizeof(shapes[0])));
    tcase_add_test(core, test_blocks_are_bounded_and_full);
    tcase_add_test(core, test_round_trip_several_collections_and_metrics);
    tcase_add_test(core, test_round_trip_unicode_ids);
    tcase_add_test(core, test_round_trip_special_floats_bit_exact);
    tcase_add_test(core, test_round_trip_large_metadata);
    tcase_add_test(core, test_round_trip_preserves_sequence_number);
    tcase_add_test(core, test_shuffle_changes_bytes_not_content);
    tcase_add_test(core, test_save_selected_collections_only);
    tcase_add_test(core, test_hash_stage_streams_give_same_document);
    tcase_add_test(core, test_progress_reported_and_cancel_stops_writing);
    tcase_add_test(core, test_golden_v1_loads_exactly);
    suite_add_tcase(s, core);

    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 300);
    tcase_add_test(errors, test_save_reports_write_failure);
    tcase_add_test(errors, test_load_reports_read_failure);
    tcase_add_loop_test(errors, test_every_truncation_is_refused, 0, 2);
    tcase_add_loop_test(errors, test_every_flipped_byte_is_refused, 0, 2);
    tcase_add_test(errors, test_trailing_data_is_refused);
    suite_add_tcase(s, errors);

    TCase *limits = tcase_create("limits");
    tcase_set_timeout(limits, 300);
    tcase_add_loop_test(limits, test_crafted_documents_are_judged, 0,
                        (int)(sizeof(crafted) / sizeof(crafted[0])));
    suite_add_tcase(s, limits);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(fmt_bin_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
