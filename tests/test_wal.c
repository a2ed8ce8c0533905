/*
 * test_wal: the write-ahead log (wal.c, wal_ops.c).  CRC-32C against the
 * known vector and a bitwise reference; every op round-trips through
 * append and replay into an empty store bit for bit, record seqs and
 * tombstones included; every cut of the last record is a torn tail that
 * replay drops and cuts off, after which appends go on; a bad record
 * followed by good segments is corruption and nothing is cut; after/until
 * windows and gaps; rotation and truncation; seqs that do not increase;
 * eight threads under "always" share fsyncs; a failed write fails the log
 * for good (vs_wal_failed says why); malformed bodies leave the store as
 * it was; the hardware and table CRC-32C agree; covered segments move to
 * an archive that a replay reads with the live log (a segment found in
 * both counts once), pruning keeps what a seq still needs; bounds by seq
 * and by record time, and what the replay reports about them.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "testutil.h"
#include "wal.h"
#include "wal_int.h"

#define HDR 16
#define FRAME 8

/* ---- a deterministic script of store writes ---- */

/* Records of one batch and their storage. */
typedef struct batch {
    vs_record recs[4];
    float vec[4 * 16];
    char ids[4][32];
    char meta[4][64];
    size_t n;
} batch;

static void batch_add(batch *b, const char *id, uint32_t dim, uint64_t seed,
                      bool meta)
{
    size_t i = b->n++;
    uint64_t state = seed * 2654435761u + 7;
    vs_record *r = &b->recs[i];
    snprintf(b->ids[i], sizeof(b->ids[i]), "%s", id);
    r->id = b->ids[i];
    r->id_len = strlen(id);
    for (uint32_t d = 0; d < dim; d++)
        b->vec[i * 16 + d] = vs_test_randf(&state);
    r->vector = b->vec + i * 16;
    if (meta) {
        int k = snprintf(b->meta[i], sizeof(b->meta[i]),
                         "{ \"seed\" : %llu, \"s\": \"x\" }",
                         (unsigned long long)seed);
        r->metadata = b->meta[i];
        r->metadata_len = (size_t)k;
    } else {
        r->metadata = NULL;
        r->metadata_len = 0;
    }
}

/* Apply write number i (1-based) to st and encode it into out with the
 * seq it got.  Every write changes something: create a and b, then
 * upserts into b, upserts into a (reviving deleted ids), deletes from a,
 * and b dropped and re-created with another dimension. */
static void script_op(vs_store *st, vs_buf *out, uint64_t i)
{
    uint64_t before = vs_store_seq(st);
    char id[32];
    batch b;
    int error;

    memset(&b, 0, sizeof(b));
    vs_buf_reset(out);
    if (i == 1) {
        ck_assert_int_eq(vs_store_create(NULL, st, "a", 8, VS_METRIC_COSINE),
                         0);
        error = vs_wal_encode_create(out, i, "a", 8, VS_METRIC_COSINE);
    } else if (i == 2) {
        ck_assert_int_eq(vs_store_create(NULL, st, "b", 3, VS_METRIC_DOT), 0);
        error = vs_wal_encode_create(out, i, "b", 3, VS_METRIC_DOT);
    } else if (i % 10 == 0) {
        ck_assert_int_eq(vs_store_drop(st, "b"), 0);
        error = vs_wal_encode_drop(out, i, "b");
    } else if (i % 10 == 1) {
        uint32_t dim = (uint32_t)(i % 3) + 2;
        ck_assert_int_eq(
            vs_store_create(NULL, st, "b", dim, VS_METRIC_EUCLIDEAN), 0);
        error = vs_wal_encode_create(out, i, "b", dim, VS_METRIC_EUCLIDEAN);
    } else if (i % 5 == 3) {
        for (int j = 0; j < 3; j++) {
            snprintf(id, sizeof(id), "a%d-%d", (int)(i % 17), j);
            batch_add(&b, id, 8, i * 10 + (uint64_t)j, j % 2 == 0);
        }
        ck_assert_int_eq(
            vs_collection_upsert(vs_store_find(st, "a"), b.recs, b.n), 0);
        error = vs_wal_encode_upsert(out, i, "a", 8, b.recs, b.n);
    } else if (i % 5 == 4) {
        snprintf(id, sizeof(id), "a%d-0", (int)((i - 1) % 17));
        batch_add(&b, id, 0, 0, false);
        batch_add(&b, "absent", 0, 0, false);
        size_t gone = 0;
        ck_assert_int_eq(
            vs_collection_delete(vs_store_find(st, "a"), b.recs, 2, &gone), 0);
        ck_assert_uint_eq(gone, 1);
        error = vs_wal_encode_delete(out, i, "a", b.recs, b.n);
    } else {
        vs_collection *c = vs_store_find(st, "b");
        uint32_t dim = vs_collection_dimension(c);
        for (int j = 0; j < 2; j++) {
            snprintf(id, sizeof(id), "b%d-%d", (int)(i % 11), j);
            batch_add(&b, id, dim, i * 10 + (uint64_t)j, j == 1);
        }
        ck_assert_int_eq(vs_collection_upsert(c, b.recs, b.n), 0);
        error = vs_wal_encode_upsert(out, i, "b", dim, b.recs, b.n);
    }
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_eq(vs_store_seq(st), before + 1);
    ck_assert_uint_eq(vs_store_seq(st), i);
}

/* A store after writes 1 .. upto. */
static vs_store *script_store(uint64_t upto)
{
    vs_store *st = NULL;
    vs_buf b = VS_BUF_INIT(VS_WAL_BODY_MAX);
    ck_assert_int_eq(vs_store_new(&st), 0);
    for (uint64_t i = 1; i <= upto; i++)
        script_op(st, &b, i);
    vs_buf_dispose(&b);
    return st;
}

/* Writes from .. upto applied to st and appended to a log in dir. */
static void script_log(const char *dir, vs_store *st, uint64_t from,
                       uint64_t upto, uint64_t segment_bytes)
{
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(VS_WAL_BODY_MAX);
    int error = vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, segment_bytes);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    for (uint64_t i = from; i <= upto; i++) {
        script_op(st, &b, i);
        error = vs_wal_append(w, b.ptr, b.len);
        ck_assert_msg(error == 0, "%s", vs_error_last());
    }
    vs_wal_close(w);
    vs_buf_dispose(&b);
}

/* Bit-exact, plus the seq of every slot and every tombstone (replay runs
 * the same writes in the same order, so slot order matches too). */
static void assert_same(const vs_store *a, const vs_store *b)
{
    char why[256];
    ck_assert_msg(vs_test_store_equal(a, b, true, why, sizeof(why)), "%s", why);
    for (size_t k = 0; k < vs_store_ncollections(a); k++) {
        vs_collection *x = vs_store_at(a, k), *y = vs_store_at(b, k);
        ck_assert_uint_eq(vs_collection_count(x), vs_collection_count(y));
        for (size_t s = 0; s < vs_collection_count(x); s++) {
            vs_record rx, ry;
            vs_collection_slot(&rx, x, s);
            vs_collection_slot(&ry, y, s);
            ck_assert_uint_eq(rx.id_len, ry.id_len);
            ck_assert(memcmp(rx.id, ry.id, rx.id_len) == 0);
            ck_assert_uint_eq(vs_collection_slot_seq(x, s),
                              vs_collection_slot_seq(y, s));
        }
        ck_assert_uint_eq(vs_collection_ntombstones(x),
                          vs_collection_ntombstones(y));
        for (size_t t = 0; t < vs_collection_ntombstones(x); t++) {
            const vs_tombstone *tx = vs_collection_tombstone(x, t);
            const vs_tombstone *ty = vs_collection_tombstone(y, t);
            ck_assert_uint_eq(tx->seq, ty->seq);
            ck_assert_uint_eq(tx->id_len, ty->id_len);
            ck_assert(memcmp(tx->id, ty->id, tx->id_len) == 0);
        }
    }
}

static vs_store *replay_new(vs_wal_replay_info *info, const char *dir,
                            uint64_t after, uint64_t until, int want)
{
    vs_store *st = after ? script_store(after) : NULL;
    if (!st)
        ck_assert_int_eq(vs_store_new(&st), 0);
    int error = vs_wal_replay(info, st, dir, after, until);
    ck_assert_msg(error == want, "replay: %d (%s), want %d", error,
                  vs_error_last(), want);
    return st;
}

/* Sorted segment paths of dir (malloc'd, NULL-terminated). */
static int is_wal(const struct dirent *e)
{
    return vs_fs_has_suffix(e->d_name, ".wal");
}

static char **segments(const char *dir, size_t *n_out)
{
    struct dirent **list;
    int n = scandir(dir, &list, is_wal, alphasort);
    ck_assert_int_ge(n, 0);
    char **paths = calloc((size_t)n + 1, sizeof(*paths));
    ck_assert_ptr_nonnull(paths);
    for (int i = 0; i < n; i++) {
        paths[i] = vs_test_path(dir, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    *n_out = (size_t)n;
    return paths;
}

static void segments_free(char **paths)
{
    for (size_t i = 0; paths[i]; i++)
        free(paths[i]);
    free(paths);
}

static uint64_t size_of(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

static char *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    ck_assert_int_eq(vs_fs_read_all(&data, len, path, 1 << 26), 0);
    return data;
}

static void spit(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vs_fs_write_full(fd, data, len), 0);
    close(fd);
}

static void flip(const char *path, uint64_t off)
{
    size_t len;
    char *data = slurp(path, &len);
    ck_assert_uint_lt(off, len);
    data[off] ^= 0x20;
    spit(path, data, len);
    free(data);
}

static uint32_t le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

/* ---- CRC-32C ---- */

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

START_TEST(test_crc32c)
{
    uint8_t buf[600];
    uint64_t state = 5;

    ck_assert_uint_eq(vs_wal_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(vs_wal_crc32c(0, "", 0), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)vs_test_rand(&state);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 1 + n / 8) {
            uint32_t want = crc_bitwise(buf + off, n);
            ck_assert_uint_eq(vs_wal_crc32c(0, buf + off, n), want);
            ck_assert_uint_eq(vs_wal__crc32c_table(0, buf + off, n), want);
            size_t half = n / 3;
            uint32_t c = vs_wal_crc32c(0, buf + off, half);
            ck_assert_uint_eq(vs_wal_crc32c(c, buf + off + half, n - half),
                              want);
            c = vs_wal__crc32c_table(0, buf + off, half);
            ck_assert_uint_eq(
                vs_wal__crc32c_table(c, buf + off + half, n - half), want);
        }
}
END_TEST

START_TEST(test_policy_names)
{
    vs_wal_fsync p;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(
            vs_wal_fsync_parse(&p, vs_wal_fsync_name((vs_wal_fsync)i)), 0);
        ck_assert_int_eq(p, i);
    }
    ck_assert_int_eq(vs_wal_fsync_parse(&p, "sometimes"), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "sometimes"));
    ck_assert_str_eq(vs_wal_fsync_name(VS_WAL_FSYNC_EVERYSEC), "everysec");
}
END_TEST

/* ---- round trip ---- */

START_TEST(test_roundtrip)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *direct = NULL;
    vs_wal_replay_info info;
    ck_assert_int_eq(vs_store_new(&direct), 0);
    script_log(dir, direct, 1, 60, 0);

    vs_store *st = replay_new(&info, dir, 0, 0, 0);
    ck_assert_uint_eq(info.records, 60);
    ck_assert_uint_eq(info.skipped, 0);
    ck_assert_uint_eq(info.first_seq, 1);
    ck_assert_uint_eq(info.last_seq, 60);
    ck_assert(!info.torn_tail);
    assert_same(direct, st);
    ck_assert_uint_gt(vs_collection_ntombstones(vs_store_find(st, "a")), 0);

    /* the log is reopened after its last record */
    vs_wal *w = NULL;
    vs_wal_stats s;
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_ALWAYS, 0), 0);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.last_seq, 60);
    ck_assert_uint_eq(s.segments, 1);
    vs_buf b = VS_BUF_INIT(1 << 20);
    script_op(direct, &b, 61);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.appends, 1);
    ck_assert_uint_eq(s.syncs, 1);
    ck_assert_uint_eq(s.bytes, b.len + FRAME);
    vs_wal_close(w);
    vs_store_free(st);
    st = replay_new(&info, dir, 0, 0, 0);
    ck_assert_uint_eq(info.records, 61);
    assert_same(direct, st);

    vs_buf_dispose(&b);
    vs_store_free(st);
    vs_store_free(direct);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_missing_dir)
{
    char *dir = vs_test_tmpdir_new();
    char *none = vs_test_path(dir, "none");
    vs_wal_replay_info info;
    vs_store *st = replay_new(&info, none, 0, 0, 0);
    ck_assert_uint_eq(info.records, 0);
    ck_assert_uint_eq(vs_store_seq(st), 0);
    vs_store_free(st);
    free(none);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- torn tails ---- */

START_TEST(test_torn_tail)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *full = NULL, *before = script_store(7);
    vs_wal_replay_info info;
    size_t nseg, len;
    ck_assert_int_eq(vs_store_new(&full), 0);
    script_log(dir, full, 1, 8, 0);
    char **segs = segments(dir, &nseg);
    ck_assert_uint_eq(nseg, 1);
    char *orig = slurp(segs[0], &len);

    size_t pos = HDR, last = 0;
    while (pos < len) {
        last = pos;
        pos += FRAME + le32(orig + pos);
    }
    ck_assert_uint_eq(pos, len);
    vs_buf lastbody = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(
        vs_buf_put(&lastbody, orig + last + FRAME, len - last - FRAME), 0);

    /* a clean end at the record before: no torn tail */
    spit(segs[0], orig, last);
    vs_store *st = replay_new(&info, dir, 0, 0, 0);
    ck_assert(!info.torn_tail);
    ck_assert_uint_eq(info.records, 7);
    vs_store_free(st);

    for (size_t cut = last + 1; cut < len; cut++) {
        spit(segs[0], orig, cut);
        st = replay_new(&info, dir, 0, 0, 0);
        ck_assert_uint_eq(info.records, 7);
        ck_assert_uint_eq(info.last_seq, 7);
        ck_assert(info.torn_tail);
        ck_assert_uint_eq(info.torn_bytes, cut - last);
        ck_assert_uint_eq(size_of(segs[0]), last);
        assert_same(before, st);
        vs_store_free(st);

        /* appends go on after the last good record */
        vs_wal *w = NULL;
        ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
        ck_assert_int_eq(vs_wal_append(w, lastbody.ptr, lastbody.len), 0);
        vs_wal_close(w);
        st = replay_new(&info, dir, 0, 0, 0);
        ck_assert(!info.torn_tail);
        ck_assert_uint_eq(info.records, 8);
        assert_same(full, st);
        vs_store_free(st);
    }

    /* a flipped byte in the last record: torn too */
    flip(segs[0], len - 3);
    st = replay_new(&info, dir, 0, 0, 0);
    ck_assert(info.torn_tail);
    ck_assert_uint_eq(info.records, 7);
    ck_assert_uint_eq(size_of(segs[0]), last);
    vs_store_free(st);

    /* a torn tail left in place when until_seq is set, and open refuses
     * a log whose newest segment ends badly */
    spit(segs[0], orig, len - 1);
    st = replay_new(&info, dir, 0, 100, 0);
    ck_assert(info.torn_tail);
    ck_assert_uint_eq(size_of(segs[0]), len - 1);
    vs_store_free(st);
    vs_wal *w = NULL;
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "replay"));

    free(orig);
    segments_free(segs);
    vs_buf_dispose(&lastbody);
    vs_store_free(before);
    vs_store_free(full);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* A newest segment whose header was cut (a crash right after creating
 * it) is a torn tail: replay removes it and appends go on. */
START_TEST(test_torn_header)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *full = NULL;
    vs_wal_replay_info info;
    size_t nseg, len;
    ck_assert_int_eq(vs_store_new(&full), 0);
    script_log(dir, full, 1, 12, 200);
    char **segs = segments(dir, &nseg);
    ck_assert_uint_ge(nseg, 3);
    char *orig = slurp(segs[nseg - 1], &len);
    spit(segs[nseg - 1], orig, 10);

    /* the cut is logged, naming the segment and the offset */
    char *logpath = vs_test_path(dir, "stderr.txt");
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, 2), 0);
    close(fd);
    vs_log_set_level(VS_LOG_WARN);
    vs_store *st = replay_new(&info, dir, 0, 0, 0);
    vs_log_set_level(VS_LOG_ERROR);
    ck_assert_int_ge(dup2(saved, 2), 0);
    close(saved);
    size_t loglen;
    char *logged = slurp(logpath, &loglen);
    ck_assert_ptr_nonnull(strstr(logged, "torn tail at offset 0"));
    ck_assert_ptr_nonnull(strstr(logged, strrchr(segs[nseg - 1], '/') + 1));
    ck_assert_int_eq(unlink(logpath), 0);
    free(logged);
    free(logpath);
    ck_assert(info.torn_tail);
    ck_assert_uint_eq(info.torn_bytes, 10);
    ck_assert_uint_eq(vs_test_dir_count(dir), nseg - 1);
    uint64_t n = info.records;
    ck_assert_uint_lt(n, 12);
    vs_store *want = script_store(n);
    assert_same(want, st);
    vs_store_free(st);

    /* the lost records are written again */
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 200), 0);
    for (uint64_t i = n + 1; i <= 12; i++) {
        script_op(want, &b, i);
        ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    }
    vs_wal_close(w);
    st = replay_new(&info, dir, 0, 0, 0);
    ck_assert_uint_eq(info.records, 12);
    assert_same(full, st);

    vs_buf_dispose(&b);
    vs_store_free(st);
    vs_store_free(want);
    vs_store_free(full);
    free(orig);
    segments_free(segs);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- corruption ---- */

START_TEST(test_corrupt_middle)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *full = NULL;
    vs_wal_replay_info info;
    size_t nseg;
    ck_assert_int_eq(vs_store_new(&full), 0);
    script_log(dir, full, 1, 40, 300);
    char **segs = segments(dir, &nseg);
    ck_assert_uint_ge(nseg, 5);

    size_t mid = nseg / 2;
    uint64_t sizes[64];
    ck_assert_uint_le(nseg, 64);
    for (size_t i = 0; i < nseg; i++)
        sizes[i] = size_of(segs[i]);
    flip(segs[mid], HDR + FRAME + 12);
    vs_store *st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "good records"));
    ck_assert(!info.torn_tail);
    /* nothing was cut */
    ck_assert_uint_eq(vs_test_dir_count(dir), nseg);
    for (size_t i = 0; i < nseg; i++)
        ck_assert_uint_eq(size_of(segs[i]), sizes[i]);
    vs_store_free(st);

    /* a bad header in the middle is corruption as well */
    flip(segs[mid], HDR + FRAME + 12);
    flip(segs[mid], 2);
    st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    vs_store_free(st);
    flip(segs[mid], 2);

    /* a version this build does not read */
    flip(segs[mid], 7);
    st = replay_new(&info, dir, 0, 0, VS_EVERSION);
    vs_store_free(st);
    flip(segs[mid], 7);

    /* a bad record followed only by segments without a good record is a
     * torn tail: it is cut and they are removed */
    spit(segs[nseg - 1], "VSWAL", 5);
    flip(segs[nseg - 2], sizes[nseg - 2] - 1);
    st = replay_new(&info, dir, 0, 0, 0);
    ck_assert(info.torn_tail);
    ck_assert_uint_eq(vs_test_dir_count(dir), nseg - 1);
    vs_store *want = script_store(info.records);
    assert_same(want, st);
    vs_store_free(want);
    vs_store_free(st);

    /* a record whose CRC holds but whose seq does not increase */
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
    vs_wal_stats s;
    vs_wal_stats_get(w, &s);
    vs_wal_close(w);
    ck_assert_int_eq(vs_wal_encode_drop(&b, s.last_seq, "b"), 0);
    uint8_t frame[FRAME];
    uint32_t crc = vs_wal_crc32c(0, b.ptr, b.len);
    for (int i = 0; i < 4; i++) {
        frame[i] = (uint8_t)(b.len >> (8 * i));
        frame[4 + i] = (uint8_t)(crc >> (8 * i));
    }
    int fd = open(segs[nseg - 2], O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vs_fs_write_full(fd, frame, FRAME), 0);
    ck_assert_int_eq(vs_fs_write_full(fd, b.ptr, b.len), 0);
    close(fd);
    st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "not above"));
    vs_store_free(st);

    vs_buf_dispose(&b);
    segments_free(segs);
    vs_store_free(full);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- windows and gaps ---- */

START_TEST(test_after_until)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *full = NULL;
    vs_wal_replay_info info;
    ck_assert_int_eq(vs_store_new(&full), 0);
    script_log(dir, full, 1, 30, 500);

    /* after: a store that already has writes 1 .. 12 (a snapshot) */
    vs_store *st = replay_new(&info, dir, 12, 0, 0);
    ck_assert_uint_eq(info.skipped, 12);
    ck_assert_uint_eq(info.records, 18);
    ck_assert_uint_eq(info.first_seq, 13);
    ck_assert_uint_eq(info.last_seq, 30);
    assert_same(full, st);
    vs_store_free(st);

    /* until: point in time */
    st = replay_new(&info, dir, 0, 17, 0);
    ck_assert_uint_eq(info.records, 17);
    ck_assert_uint_eq(vs_store_seq(st), 17);
    vs_store *want = script_store(17);
    assert_same(want, st);
    vs_store_free(st);

    /* both */
    st = replay_new(&info, dir, 5, 17, 0);
    ck_assert_uint_eq(info.skipped, 5);
    ck_assert_uint_eq(info.records, 12);
    assert_same(want, st);
    vs_store_free(st);
    vs_store_free(want);

    /* a snapshot newer than the whole log */
    st = replay_new(&info, dir, 30, 0, 0);
    ck_assert_uint_eq(info.records, 0);
    ck_assert_uint_eq(info.skipped, 30);
    assert_same(full, st);
    vs_store_free(st);
    vs_store_free(full);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_gaps)
{
    char *dir = vs_test_tmpdir_new();
    vs_wal_replay_info info;
    vs_store *st = NULL;
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);

    /* the log starts at 3: a snapshot at 2 is needed */
    ck_assert_int_eq(vs_store_new(&st), 0);
    for (uint64_t i = 1; i <= 6; i++) {
        script_op(st, &b, i);
        if (i == 1) {
            ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
        } else if (i >= 3 && i != 5) {
            ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
        }
    }
    vs_wal_close(w);
    vs_store_free(st);
    st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "missing"));
    vs_store_free(st);
    /* after 2: 3 and 4 apply, then 6 where 5 was due */
    st = replay_new(&info, dir, 2, 0, VS_ECORRUPT);
    ck_assert_uint_eq(info.records, 2);
    vs_store_free(st);
    /* until 4 stops before the gap */
    st = replay_new(&info, dir, 2, 4, 0);
    ck_assert_uint_eq(info.records, 2);
    vs_store_free(st);

    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- rotation and truncation ---- */

START_TEST(test_rotation_truncate)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *full = NULL;
    vs_wal *w = NULL;
    vs_wal_stats s;
    vs_wal_replay_info info;
    vs_buf b = VS_BUF_INIT(1 << 20);
    size_t nseg;
    uint64_t first[64];

    ck_assert_int_eq(vs_store_new(&full), 0);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 300), 0);
    for (uint64_t i = 1; i <= 40; i++) {
        script_op(full, &b, i);
        ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    }
    vs_wal_stats_get(w, &s);
    char **segs = segments(dir, &nseg);
    ck_assert_uint_ge(nseg, 5);
    ck_assert_uint_le(nseg, 64);
    ck_assert_uint_eq(s.segments, nseg);
    ck_assert_uint_eq(s.appends, 40);
    ck_assert_uint_eq(s.last_seq, 40);
    ck_assert_uint_eq(s.syncs, nseg - 1); /* one per finished segment */
    for (size_t i = 0; i < nseg; i++) {
        size_t len;
        char *data = slurp(segs[i], &len);
        const char *name = strrchr(segs[i], '/') + 1;
        first[i] = strtoull(name, NULL, 10);
        ck_assert_uint_eq(strlen(name), 24);
        ck_assert(memcmp(data, "VSWAL\0\0\2", 8) == 0);
        ck_assert_uint_eq(le32(data + 8), first[i]);
        /* the first record of a segment is its namesake */
        ck_assert_uint_eq(le32(data + HDR + FRAME), first[i]);
        /* a segment ends with the first record that takes it to
         * segment_bytes */
        size_t pos = HDR, last = HDR;
        while (pos < len) {
            last = pos;
            pos += FRAME + le32(data + pos);
        }
        ck_assert_uint_eq(pos, len);
        if (i + 1 < nseg) {
            ck_assert_uint_ge(len, 300);
            ck_assert_uint_lt(last, 300);
        }
        free(data);
    }
    segments_free(segs);

    /* truncate(S) deletes exactly the segments whose records are <= S */
    uint64_t cut = first[2] + 1;
    ck_assert_int_eq(vs_wal_truncate(w, cut), 0);
    segs = segments(dir, &nseg);
    ck_assert_uint_eq(strtoull(strrchr(segs[0], '/') + 1, NULL, 10), first[2]);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.segments, nseg);
    segments_free(segs);
    /* S just below a segment's start keeps it: its predecessor holds S */
    ck_assert_int_eq(vs_wal_truncate(w, first[3] - 2), 0);
    segs = segments(dir, &nseg);
    ck_assert_uint_eq(strtoull(strrchr(segs[0], '/') + 1, NULL, 10), first[2]);
    segments_free(segs);
    ck_assert_int_eq(vs_wal_truncate(w, first[3] - 1), 0);
    segs = segments(dir, &nseg);
    ck_assert_uint_eq(strtoull(strrchr(segs[0], '/') + 1, NULL, 10), first[3]);
    segments_free(segs);

    /* replay from a snapshot at first[3] - 1 gives the whole store */
    vs_store *st = replay_new(&info, dir, first[3] - 1, 0, 0);
    ck_assert_uint_eq(info.first_seq, first[3]);
    assert_same(full, st);
    vs_store_free(st);
    /* but from nothing, records are missing */
    st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    vs_store_free(st);

    /* the segment being appended to is never deleted */
    ck_assert_int_eq(vs_wal_truncate(w, UINT64_MAX), 0);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.segments, 1);
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    script_op(full, &b, 41);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    vs_wal_close(w);
    segs = segments(dir, &nseg);
    uint64_t last_first = strtoull(strrchr(segs[0], '/') + 1, NULL, 10);
    segments_free(segs);
    st = replay_new(&info, dir, last_first - 1, 0, 0);
    ck_assert_uint_eq(info.last_seq, 41);
    assert_same(full, st);
    vs_store_free(st);

    vs_buf_dispose(&b);
    vs_store_free(full);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_seq_order)
{
    char *dir = vs_test_tmpdir_new();
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_ALWAYS, 0), 0);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 5, "x"), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "not above"));
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 4, "x"), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), VS_EINVALID);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, 8), VS_EINVALID);
    /* the log goes on */
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 9, "x"), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    vs_wal_stats s;
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.appends, 2);
    ck_assert_uint_eq(s.last_seq, 9);
    vs_wal_close(w);
    /* and after reopening */
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), VS_EINVALID);
    vs_wal_close(w);
    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- group commit ---- */

#define THREADS 8
#define PER_THREAD 60

typedef struct shared {
    vs_wal *w;
    pthread_mutex_t order; /* seq assignment + write, as the server's lock */
    uint64_t next_seq;
    int failures;
} shared;

typedef struct worker {
    shared *sh;
    int id;
} worker;

static void *append_main(void *arg)
{
    worker *wk = arg;
    shared *sh = wk->sh;
    vs_buf b = VS_BUF_INIT(1 << 20);
    float vec[16];
    char id[32];

    for (int k = 0; k < PER_THREAD; k++) {
        for (int d = 0; d < 16; d++)
            vec[d] = (float)(wk->id * 1000 + k) + (float)d / 16.0f;
        int il = snprintf(id, sizeof(id), "t%d-%d", wk->id, k);
        vs_record r = {id, (size_t)il, vec, NULL, 0};
        pthread_mutex_lock(&sh->order);
        uint64_t seq = ++sh->next_seq;
        vs_buf_reset(&b);
        int error = vs_wal_encode_upsert(&b, seq, "c", 16, &r, 1);
        if (!error)
            error = vs_wal_write(sh->w, b.ptr, b.len);
        pthread_mutex_unlock(&sh->order);
        if (!error)
            error = vs_wal_wait(sh->w, seq);
        if (error) {
            __atomic_add_fetch(&sh->failures, 1, __ATOMIC_SEQ_CST);
            break;
        }
    }
    vs_buf_dispose(&b);
    return NULL;
}

START_TEST(test_group_commit)
{
    char *dir = vs_test_tmpdir_new();
    shared sh;
    pthread_t t[THREADS];
    worker wk[THREADS];
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_wal_stats s;
    vs_wal_replay_info info;

    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.order, NULL);
    ck_assert_int_eq(vs_wal_open(&sh.w, dir, VS_WAL_FSYNC_ALWAYS, 64 << 10), 0);
    ck_assert_int_eq(vs_wal_encode_create(&b, 1, "c", 16, VS_METRIC_DOT), 0);
    ck_assert_int_eq(vs_wal_append(sh.w, b.ptr, b.len), 0);
    sh.next_seq = 1;
    for (int i = 0; i < THREADS; i++) {
        wk[i].sh = &sh;
        wk[i].id = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, append_main, &wk[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    ck_assert_int_eq(sh.failures, 0);
    vs_wal_stats_get(sh.w, &s);
    ck_assert_uint_eq(s.appends, 1 + THREADS * PER_THREAD);
    ck_assert_uint_eq(s.last_seq, 1 + THREADS * PER_THREAD);
    ck_assert_msg(s.syncs * 2 < s.appends, "%llu syncs for %llu appends",
                  (unsigned long long)s.syncs, (unsigned long long)s.appends);
    ck_assert_uint_gt(s.sync_max_us, 0);
    vs_wal_close(sh.w);

    /* replay checks order and contiguity; every record is there */
    vs_store *st = replay_new(&info, dir, 0, 0, 0);
    ck_assert_uint_eq(info.records, 1 + THREADS * PER_THREAD);
    vs_collection *c = vs_store_find(st, "c");
    ck_assert_uint_eq(vs_collection_count(c), THREADS * PER_THREAD);
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < PER_THREAD; k++) {
            char id[32];
            vs_record r;
            int il = snprintf(id, sizeof(id), "t%d-%d", i, k);
            ck_assert_int_eq(vs_collection_get(&r, c, id, (size_t)il), 0);
            ck_assert(r.vector[3] == (float)(i * 1000 + k) + 3.0f / 16.0f);
        }
    vs_store_free(st);
    pthread_mutex_destroy(&sh.order);
    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* Records nobody waits for are written and synced by the thread. */
START_TEST(test_everysec)
{
    char *dir = vs_test_tmpdir_new();
    char *seg = vs_test_path(dir, "00000000000000000001.wal");
    vs_wal *w = NULL;
    vs_wal_stats s;
    vs_buf b = VS_BUF_INIT(1 << 20);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_EVERYSEC, 0), 0);
    for (uint64_t i = 1; i <= 20; i++) {
        vs_buf_reset(&b);
        ck_assert_int_eq(vs_wal_encode_drop(&b, i, "x"), 0);
        ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    }
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.syncs, 0);
    ck_assert_uint_eq(size_of(seg), HDR);
    for (int k = 0; k < 30 && s.syncs == 0; k++) {
        usleep(100 * 1000);
        vs_wal_stats_get(w, &s);
    }
    ck_assert_uint_eq(s.syncs, 1);
    ck_assert_uint_eq(size_of(seg), HDR + 20 * (FRAME + b.len));
    /* nothing new: no more syncs */
    usleep(1200 * 1000);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.syncs, 1);
    vs_wal_close(w);
    vs_buf_dispose(&b);
    free(seg);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* vs_wal_write queues; vs_wal_wait, 1 MiB queued, a big body and close
 * write.  Big bodies round-trip. */
START_TEST(test_queue)
{
    char *dir = vs_test_tmpdir_new();
    char *seg = vs_test_path(dir, "00000000000000000001.wal");
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(VS_WAL_BODY_MAX);
    vs_wal_replay_info info;
    uint64_t seq = 0, size;

    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
    ck_assert_int_eq(
        vs_wal_encode_create(&b, ++seq, "big", 65536, VS_METRIC_DOT), 0);
    ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    ck_assert_uint_eq(size_of(seg), HDR);
    ck_assert_int_eq(vs_wal_wait(w, seq), 0);
    size = HDR + FRAME + b.len;
    ck_assert_uint_eq(size_of(seg), size);

    /* a 256 KiB body goes out at once, with what is queued before it */
    float *v = calloc(65536, sizeof(float));
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < 65536; i++)
        v[i] = (float)i;
    vs_record r = {"r0", 2, v, NULL, 0};
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_drop(&b, ++seq, "nothing"), 0);
    ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    size += FRAME + b.len;
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_upsert(&b, ++seq, "big", 65536, &r, 1), 0);
    ck_assert_uint_gt(b.len, 256 << 10);
    ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    size += FRAME + b.len;
    ck_assert_uint_eq(size_of(seg), size);

    /* small bodies queue up to 1 MiB, then the writer writes them */
    float small[4] = {1, 2, 3, 4};
    r.vector = small;
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_create(&b, ++seq, "s", 4, VS_METRIC_DOT), 0);
    ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    uint64_t queued = FRAME + b.len;
    while (queued < (1 << 20)) {
        vs_buf_reset(&b);
        ck_assert_int_eq(vs_wal_encode_upsert(&b, ++seq, "s", 4, &r, 1), 0);
        ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
        queued += FRAME + b.len;
        if (queued < (1 << 20))
            ck_assert_uint_eq(size_of(seg), size);
    }
    ck_assert_uint_eq(size_of(seg), size + queued);
    size += queued;
    /* and close writes the rest */
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_drop(&b, ++seq, "s"), 0);
    ck_assert_int_eq(vs_wal_write(w, b.ptr, b.len), 0);
    vs_wal_close(w);
    ck_assert_uint_eq(size_of(seg), size + FRAME + b.len);

    vs_store *st = replay_new(&info, dir, 0, 0, VS_ENOTFOUND);
    ck_assert_uint_eq(info.records, 1); /* "nothing" was never there */
    vs_store_free(st);
    /* a snapshot at 2 (had "nothing" existed, it is gone) */
    ck_assert_int_eq(vs_store_new(&st), 0);
    ck_assert_int_eq(vs_store_create(NULL, st, "big", 65536, VS_METRIC_DOT), 0);
    vs_store_set_seq(st, 2);
    ck_assert_int_eq(vs_wal_replay(&info, st, dir, 2, 0), 0);
    ck_assert_uint_eq(info.records, seq - 2);
    ck_assert_ptr_null(vs_store_find(st, "s"));
    vs_collection *c = vs_store_find(st, "big");
    ck_assert_ptr_nonnull(c);
    vs_record got;
    ck_assert_int_eq(vs_collection_get(&got, c, "r0", 2), 0);
    ck_assert(memcmp(got.vector, v, 65536 * sizeof(float)) == 0);
    vs_store_free(st);

    free(v);
    free(seg);
    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- failure ---- */

START_TEST(test_write_failure)
{
    char *dir = vs_test_tmpdir_new();
    vs_wal *w = NULL;
    vs_store *full = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_wal_replay_info info;
    size_t nseg;
    struct rlimit old, lim;

    ck_assert_int_eq(vs_store_new(&full), 0);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_ALWAYS, 0), 0);
    for (uint64_t i = 1; i <= 5; i++) {
        script_op(full, &b, i);
        ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    }
    char **segs = segments(dir, &nseg);
    uint64_t good = size_of(segs[0]);

    /* the file may grow by 20 bytes more: the next record is cut short */
    script_op(full, &b, 6);
    ck_assert_uint_gt(b.len, 40);
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = good + 20;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int error = vs_wal_append(w, b.ptr, b.len);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "seq 6"));

    /* sticky: later appends fail, whatever the seq, with the cause */
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "has failed"));
    ck_assert_int_eq(vs_wal_wait(w, 5), VS_EIO);
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 100, "b"), 0);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), VS_EIO);
    char why[256] = "";
    ck_assert(vs_wal_failed(w, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "seq 6"));
    vs_wal_stats s;
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.appends, 6); /* taken, then its write failed */
    ck_assert_uint_eq(s.last_seq, 6);
    vs_wal_close(w);

    /* the partial record was cut back: the log holds 1 .. 5, cleanly */
    ck_assert_uint_eq(size_of(segs[0]), good);
    vs_store *st = replay_new(&info, dir, 0, 0, 0);
    ck_assert_uint_eq(info.records, 5);
    ck_assert(!info.torn_tail);
    vs_store *want = script_store(5);
    assert_same(want, st);

    vs_store_free(want);
    vs_store_free(st);
    vs_store_free(full);
    segments_free(segs);
    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- bodies ---- */

START_TEST(test_encode_limits)
{
    vs_buf b = VS_BUF_INIT(40);
    float v[8] = {0};
    vs_record r = {"x", 1, v, NULL, 0};
    char longname[VS_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';

    ck_assert_int_eq(vs_wal_encode_drop(&b, 0, "a"), VS_EINVALID);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 1, ""), VS_EINVALID);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 1, longname), VS_EINVALID);
    ck_assert_int_eq(vs_wal_encode_create(&b, 1, "a", 0, VS_METRIC_DOT),
                     VS_EINVALID);
    ck_assert_int_eq(vs_wal_encode_create(&b, 1, "a", 2, (vs_metric)7),
                     VS_EINVALID);
    r.id_len = 0;
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 1, "a", 8, &r, 1), VS_EINVALID);
    ck_assert_int_eq(vs_wal_encode_delete(&b, 1, "a", &r, 1), VS_EINVALID);
    r.id_len = 1;
    r.metadata = "{}";
    r.metadata_len = VS_METADATA_MAX + 1;
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 1, "a", 8, &r, 1), VS_EINVALID);
    r.metadata_len = 2;
    ck_assert_uint_eq(b.len, 0);
    /* the cap of `out` applies, and `out` stays as it was */
    ck_assert_int_eq(vs_wal_encode_drop(&b, 1, "a"), 0);
    size_t len = b.len;
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 2, "a", 8, &r, 1), VS_ETOOBIG);
    ck_assert_uint_eq(b.len, len);
    ck_assert_uint_eq(b.ptr[len], 0);
    vs_buf_dispose(&b);
}
END_TEST

/* A store with collection "a" (dim 2) holding ids "p" and "q". */
static vs_store *small_store(void)
{
    vs_store *st = NULL;
    vs_collection *c = NULL;
    float v[4] = {1, 2, 3, 4};
    vs_record r[2] = {{"p", 1, v, NULL, 0}, {"q", 1, v + 2, "{\"k\":1}", 7}};
    ck_assert_int_eq(vs_store_new(&st), 0);
    ck_assert_int_eq(vs_store_create(&c, st, "a", 2, VS_METRIC_COSINE), 0);
    ck_assert_int_eq(vs_collection_upsert(c, r, 2), 0);
    return st;
}

static void apply_refused(vs_store *st, const void *body, size_t n, int want)
{
    vs_store *ref = small_store();
    int error = vs_wal_apply(st, body, n);
    ck_assert_msg(error == want, "apply of %zu bytes: %d (%s), want %d", n,
                  error, vs_error_last(), want);
    assert_same(ref, st);
    vs_store_free(ref);
}

START_TEST(test_malformed)
{
    vs_store *st = small_store();
    vs_buf b = VS_BUF_INIT(1 << 20);
    float v[4] = {5, 6, 7, 8};
    vs_record r[2] = {{"r", 1, v, "{\"z\":[1,2]}", 11}, {"p", 1, v + 2, 0, 0}};
    uint8_t *p;

    /* every strict prefix of good bodies, and one byte more */
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 3, "a", 2, r, 2), 0);
    ck_assert_int_eq(vs_wal_encode_delete(&b, 3, "a", r, 2), 0);
    ck_assert_int_eq(vs_wal_encode_create(&b, 3, "zz", 5, VS_METRIC_DOT), 0);
    ck_assert_int_eq(vs_wal_encode_drop(&b, 3, "a"), 0);
    size_t ends[5] = {0, 0, 0, 0, b.len};
    {
        vs_buf t = VS_BUF_INIT(1 << 20);
        ck_assert_int_eq(vs_wal_encode_upsert(&t, 3, "a", 2, r, 2), 0);
        ends[1] = t.len;
        ck_assert_int_eq(vs_wal_encode_delete(&t, 3, "a", r, 2), 0);
        ends[2] = t.len;
        ck_assert_int_eq(vs_wal_encode_create(&t, 3, "zz", 5, VS_METRIC_DOT),
                         0);
        ends[3] = t.len;
        vs_buf_dispose(&t);
    }
    for (int k = 0; k < 4; k++) {
        const char *body = b.ptr + ends[k];
        size_t n = ends[k + 1] - ends[k];
        for (size_t cut = 0; cut < n; cut++)
            apply_refused(st, body, cut, VS_ECORRUPT);
        char *more = malloc(n + 1);
        ck_assert_ptr_nonnull(more);
        memcpy(more, body, n);
        more[n] = 0;
        apply_refused(st, more, n + 1, VS_ECORRUPT);
        free(more);
    }

    /* field by field, in the upsert body:
     * seq(8) time(8) op(1) namelen(1) "a" dim(1) n(1) idlen(1) "r" vector(8)
     * ... */
    uint8_t *u = malloc(ends[1]);
    ck_assert_ptr_nonnull(u);
    memcpy(u, b.ptr, ends[1]);
    p = u;
    p[16] = 9; /* unknown op */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[16] = 0;
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[16] = VS_WAL_OP_UPSERT;
    memset(p, 0, 8); /* seq 0 */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[0] = 3;
    p[17] = 0; /* empty name */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[17] = 200; /* longer than the body */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[17] = 1;
    p[18] = 0; /* NUL in the name */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[18] = 'a';
    p[19] = 0; /* dimension 0 */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[19] = 2;
    p[20] = 100; /* more records than bytes */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[20] = 0x80 | 2; /* a varint that runs into the id */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[20] = 2;
    p[21] = 0; /* empty id */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[21] = 1;
    p[31] = 0x7f; /* metadata length beyond the body */
    apply_refused(st, u, ends[1], VS_ECORRUPT);
    p[31] = 11;
    /* an overlong varint for n */
    {
        uint8_t big[32];
        memcpy(big, u, 20);
        for (int i = 0; i < 11; i++)
            big[20 + i] = 0xff;
        apply_refused(st, big, 31, VS_ECORRUPT);
    }
    /* intact again: applies */
    ck_assert_int_eq(vs_wal_apply(st, u, ends[1]), 0);
    ck_assert_uint_eq(vs_store_seq(st), 3);
    free(u);

    vs_buf_dispose(&b);
    vs_store_free(st);
}
END_TEST

START_TEST(test_apply_rules)
{
    vs_store *st = small_store();
    vs_buf b = VS_BUF_INIT(1 << 20);
    float v[3] = {1, 2, 3};
    vs_record r = {"p", 1, v, NULL, 0};
    vs_record absent = {"nope", 4, NULL, NULL, 0};

    /* seq not above the store's */
    ck_assert_int_eq(vs_wal_encode_drop(&b, 2, "a"), 0);
    apply_refused(st, b.ptr, b.len, VS_EINVALID);
    /* no such collection; wrong dimension; the store's own checks */
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 3, "x", 2, &r, 1), 0);
    apply_refused(st, b.ptr, b.len, VS_ENOTFOUND);
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 3, "a", 3, &r, 1), 0);
    apply_refused(st, b.ptr, b.len, VS_EINVALID);
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_create(&b, 3, "a", 3, VS_METRIC_DOT), 0);
    apply_refused(st, b.ptr, b.len, VS_EEXISTS);
    vs_buf_reset(&b);
    r.metadata = "[1]";
    r.metadata_len = 3;
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 3, "a", 2, &r, 1), 0);
    apply_refused(st, b.ptr, b.len, VS_EINVALID);

    /* an empty change still moves the counter to the body's seq */
    vs_buf_reset(&b);
    ck_assert_int_eq(vs_wal_encode_delete(&b, 3, "a", &absent, 1), 0);
    ck_assert_int_eq(vs_wal_apply(st, b.ptr, b.len), 0);
    ck_assert_uint_eq(vs_store_seq(st), 3);
    /* a gap: the write is stamped with its own seq */
    vs_buf_reset(&b);
    r.metadata = NULL;
    r.metadata_len = 0;
    ck_assert_int_eq(vs_wal_encode_upsert(&b, 10, "a", 2, &r, 1), 0);
    ck_assert_int_eq(vs_wal_apply(st, b.ptr, b.len), 0);
    ck_assert_uint_eq(vs_store_seq(st), 10);
    vs_collection *c = vs_store_find(st, "a");
    for (size_t s = 0; s < vs_collection_count(c); s++) {
        vs_record x;
        vs_collection_slot(&x, c, s);
        if (x.id[0] == 'p')
            ck_assert_uint_eq(vs_collection_slot_seq(c, s), 10);
        else
            ck_assert_uint_eq(vs_collection_slot_seq(c, s), 2);
    }
    vs_buf_dispose(&b);
    vs_store_free(st);
}
END_TEST

/* ---- archive and point-in-time replay ---- */

static uint64_t dir_bytes(char **segs)
{
    uint64_t total = 0;
    for (size_t i = 0; segs[i]; i++)
        total += size_of(segs[i]);
    return total;
}

static vs_store *replay_opts(vs_wal_replay_info *info, const char *dir,
                             const vs_wal_replay_opts *o, int want)
{
    vs_store *st = o->after ? script_store(o->after) : NULL;
    if (!st)
        ck_assert_int_eq(vs_store_new(&st), 0);
    int error = vs_wal_replay_to(info, st, dir, o);
    ck_assert_msg(error == want, "replay: %d (%s), want %d", error,
                  vs_error_last(), want);
    return st;
}

START_TEST(test_archive)
{
    char *dir = vs_test_tmpdir_new();
    char *arch = vs_test_path(dir, "archive");
    vs_wal *w = NULL;
    vs_store *full = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_wal_replay_info info;
    vs_wal_stats s;
    size_t nseg, nlive, narch;
    uint64_t *moved = NULL, count, bytes;

    ck_assert_int_eq(vs_store_new(&full), 0);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 300), 0);
    for (uint64_t i = 1; i <= 40; i++) {
        script_op(full, &b, i);
        ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    }
    char **segs = segments(dir, &nseg);
    ck_assert_uint_ge(nseg, 5);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.first_seq, 1);
    uint64_t total = dir_bytes(segs);
    ck_assert_uint_eq(s.disk_bytes, total);

    /* nothing there yet: an empty archive */
    ck_assert_int_eq(vs_wal_archive_stats(&count, &bytes, arch), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(vs_wal_archive(w, 0, arch, &moved, &narch), 0);
    ck_assert_ptr_null(moved);
    ck_assert_uint_eq(narch, 0);

    /* the segments all at or below 20 move, in order, names kept */
    ck_assert_int_eq(vs_wal_archive(w, 20, arch, &moved, &narch), 0);
    ck_assert_uint_ge(narch, 1);
    ck_assert_uint_lt(narch, nseg);
    char name[VS_WAL_NAME_SIZE];
    for (size_t i = 0; i < narch; i++) {
        vs_wal_segment_name(name, moved[i]);
        ck_assert_str_eq(name, strrchr(segs[i], '/') + 1);
        char *to = vs_test_path(arch, name);
        ck_assert_uint_gt(size_of(to), 16);
        free(to);
    }
    char **live = segments(dir, &nlive);
    ck_assert_uint_eq(nlive + narch, nseg);
    vs_wal_stats_get(w, &s);
    ck_assert_uint_eq(s.first_seq,
                      strtoull(strrchr(live[0], '/') + 1, NULL, 10));
    ck_assert_uint_le(s.first_seq, 21);
    ck_assert_uint_eq(s.disk_bytes, dir_bytes(live));
    ck_assert_int_eq(vs_wal_archive_stats(&count, &bytes, arch), 0);
    ck_assert_uint_eq(count, narch);
    ck_assert_uint_eq(bytes + s.disk_bytes, total);

    /* the live log alone starts after a gap; with the archive it is whole */
    vs_store *st = replay_new(&info, dir, 0, 0, VS_ECORRUPT);
    ck_assert_uint_eq(info.gap_due, 1);
    ck_assert_uint_eq(info.gap_seq, s.first_seq);
    vs_store_free(st);
    vs_wal_replay_opts o = {0, 0, 0, arch, false};
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.records, 40);
    ck_assert(!info.reached);
    assert_same(full, st);
    vs_store_free(st);

    /* bounded by seq, across the archive and the live log */
    o.until_seq = 25;
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.last_seq, 25);
    ck_assert(info.reached);
    vs_store *want = script_store(25);
    assert_same(want, st);
    vs_store_free(want);
    vs_store_free(st);
    o.until_seq = 100; /* past the end: all of it, not reached */
    o.after = 3;
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.skipped, 3);
    ck_assert_uint_eq(info.records, 37);
    ck_assert(!info.reached);
    assert_same(full, st);
    vs_store_free(st);

    /* a segment found in both places (moved while listed) counts once */
    vs_wal_segment_name(name, s.first_seq);
    char *from = vs_test_path(dir, name), *to = vs_test_path(arch, name);
    size_t len;
    char *data = slurp(from, &len);
    spit(to, data, len);
    free(data);
    o.after = 0;
    o.until_seq = 0;
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.records, 40);
    vs_store_free(st);
    ck_assert_int_eq(unlink(to), 0);
    free(from);
    free(to);

    /* prune: only segments wholly at or below the seq go, oldest first */
    size_t removed = 9;
    ck_assert_int_eq(vs_wal_prune_archive(&removed, arch, 0, s.first_seq), 0);
    ck_assert_uint_eq(removed, 0);
    uint64_t second = narch > 1 ? moved[1] : s.first_seq;
    ck_assert_int_eq(
        vs_wal_prune_archive(&removed, arch, second - 1, s.first_seq), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_eq(vs_wal_prune_archive(&removed, arch, 1000, 0), 0);
    ck_assert_uint_eq(removed, narch - 2 + (narch == 1)); /* last stays */
    ck_assert_int_eq(vs_wal_archive_stats(&count, &bytes, arch), 0);
    ck_assert_uint_eq(count, narch == 1 ? 0 : 1);
    ck_assert_int_eq(vs_wal_prune_archive(&removed, arch, 1000, s.first_seq),
                     0);
    ck_assert_int_eq(vs_wal_archive_stats(&count, &bytes, arch), 0);
    ck_assert_uint_eq(count, 0);
    ck_assert_int_eq(vs_wal_prune_archive(&removed, "/nonexistent/x", 9, 9), 0);

    /* appends go on after archiving */
    script_op(full, &b, 41);
    ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    vs_wal_close(w);

    free(moved);
    segments_free(live);
    segments_free(segs);
    vs_store_free(full);
    vs_buf_dispose(&b);
    free(arch);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_until_time)
{
    char *dir = vs_test_tmpdir_new();
    vs_wal *w = NULL;
    vs_store *full = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_wal_replay_info info;

    /* the head: seq and the time the encoder stamped (now) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000u;
    ck_assert_int_eq(vs_wal_encode_drop(&b, 7, "x"), 0);
    ck_assert_uint_eq(vs_wal_body_seq(b.ptr), 7);
    ck_assert_uint_ge(vs_wal_body_time(b.ptr), now - 60000);
    ck_assert_uint_le(vs_wal_body_time(b.ptr), now + 60000);
    vs_wal_body_set_seq(b.ptr, 9);
    vs_wal_body_set_time(b.ptr, 1234);
    ck_assert_uint_eq(vs_wal_body_seq(b.ptr), 9);
    ck_assert_uint_eq(vs_wal_body_time(b.ptr), 1234);

    /* write i stamped 1000 + 10 i */
    ck_assert_int_eq(vs_store_new(&full), 0);
    ck_assert_int_eq(vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0), 0);
    for (uint64_t i = 1; i <= 12; i++) {
        script_op(full, &b, i);
        vs_wal_body_set_time(b.ptr, 1000 + 10 * i);
        ck_assert_int_eq(vs_wal_append(w, b.ptr, b.len), 0);
    }
    vs_wal_close(w);

    vs_wal_replay_opts o = {0, 0, 1045, NULL, false};
    vs_store *st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.last_seq, 4);
    ck_assert_uint_eq(info.last_time_ms, 1040);
    ck_assert(info.reached);
    vs_store *want = script_store(4);
    assert_same(want, st);
    vs_store_free(want);
    vs_store_free(st);

    /* records at or below `after` are skipped whatever their time */
    o.after = 6;
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.records, 0);
    ck_assert_uint_eq(info.skipped, 6);
    ck_assert(info.reached);
    vs_store_free(st);

    /* both bounds: the first one met wins */
    o.after = 0;
    o.until_ms = 1100;
    o.until_seq = 8;
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.last_seq, 8);
    vs_store_free(st);

    /* past the end: everything, not reached; a torn tail is left alone */
    o.until_seq = 0;
    o.until_ms = 99999;
    char **segs = segments(dir, &(size_t){0});
    uint64_t size = size_of(segs[0]);
    int fd = open(segs[0], O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vs_fs_write_full(fd, "\x40\0\0\0garbage", 11), 0);
    close(fd);
    st = replay_opts(&info, dir, &o, 0);
    ck_assert_uint_eq(info.records, 12);
    ck_assert(!info.reached);
    ck_assert(info.torn_tail);
    ck_assert_uint_eq(info.torn_bytes, 11);
    ck_assert_uint_eq(size_of(segs[0]), size + 11);
    assert_same(full, st);
    vs_store_free(st);

    segments_free(segs);
    vs_store_free(full);
    vs_buf_dispose(&b);
    vs_test_tmpdir_free(dir);
}
END_TEST

static Suite *wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32c);
    tcase_add_test(tc, test_policy_names);
    tcase_add_test(tc, test_encode_limits);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_apply_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_missing_dir);
    tcase_add_test(tc, test_torn_tail);
    tcase_add_test(tc, test_torn_header);
    tcase_add_test(tc, test_corrupt_middle);
    tcase_add_test(tc, test_after_until);
    tcase_add_test(tc, test_gaps);
    tcase_add_test(tc, test_rotation_truncate);
    tcase_add_test(tc, test_seq_order);
    tcase_add_test(tc, test_archive);
    tcase_add_test(tc, test_until_time);
    suite_add_tcase(s, tc);

    tc = tcase_create("sync");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_everysec);
    tcase_add_test(tc, test_queue);
    tcase_add_test(tc, test_write_failure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vs_log_set_level(VS_LOG_ERROR); /* torn tails are expected here */
    SRunner *sr = srunner_create(wal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
