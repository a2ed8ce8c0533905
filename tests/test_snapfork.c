/*
 * test_snapfork: snapshots by fork (snapfork.c).  The image is the store at
 * the fork instant while writers go on (checked bit for bit against a
 * replay of the writers' log), writers are not blocked, progress arrives,
 * cancellation and crashing or unforkable children leave nothing behind,
 * the streamed export carries the same content, the child keeps no
 * descriptor of the parent, a child deadlocked on a lock held at the fork
 * is killed (before or after it is ready) while a slow one -- sleeping,
 * waking from timed waits, blocked on a stream's paused reader -- is not,
 * and forking stays safe while other threads hammer malloc, the store and
 * sqlite.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "snapfork.h"
#include "testutil.h"

#define DIM 16
#define BIG 200000

/* ---- helpers ---- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static vs_store *load(const char *path)
{
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *st = NULL;
    int error = vs_fmt_load_file(&st, NULL, path, &lo);
    ck_assert_msg(error == 0, "load %s: %s", path, vs_error_last());
    return st;
}

static void assert_equal(const vs_store *a, const vs_store *b, bool seq)
{
    char why[512];
    ck_assert_msg(vs_test_store_equal(a, b, seq, why, sizeof(why)), "%s", why);
}

/* The directory holds exactly one entry, `name`. */
static void assert_only(const char *dir, const char *name)
{
    ck_assert_uint_eq(vs_test_dir_count(dir), (name ? 1 : 0));
    if (name) {
        char *p = vs_test_path(dir, name);
        ck_assert_int_eq(access(p, F_OK), 0);
        free(p);
    }
}

static void write_text(const char *path, const char *text)
{
    ck_assert_int_eq(vs_fs_write_atomic(path, text, strlen(text)), 0);
}

static void assert_text(const char *path, const char *text)
{
    char *got = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_fs_read_all(&got, &n, path, 1 << 20), 0);
    ck_assert_str_eq(got, text);
    free(got);
}

/* No child of this process is left, zombie or alive. */
static void assert_no_children(void)
{
    int status;
    errno = 0;
    ck_assert_int_eq(waitpid(-1, &status, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

/* ---- writers ---- */

enum { OP_NEW = 0, OP_CHANGE = 1, OP_DELETE = 2 };

typedef struct op {
    uint64_t seq; /* the store's seq after the op */
    uint32_t kind, key;
} op;

typedef struct writer {
    vs_store *st;
    const char *coll;
    size_t base; /* records "id-0" ... of the initial store */
    atomic_bool stop;
    atomic_size_t nops;
    op *log;
    size_t logcap;
    /* latencies of ops between lat_from and lat_to (ns), filled by the
     * writer while `measure` is set */
    atomic_bool measure;
    int64_t *lat;
    size_t nlat, latcap;
    uint64_t state;
} writer;

/* The vector of an op: its seq in the first float, then a pattern. */
static void op_vector(float *v, uint64_t seq)
{
    v[0] = (float)seq;
    for (uint32_t d = 1; d < DIM; d++)
        v[d] = (float)((seq * 31 + d * 7) % 1000) / 1000.0f - 0.5f;
}

static int apply(vs_store *st, const char *coll, const op *o)
{
    char id[32], md[48];
    float v[DIM];
    vs_collection *c = vs_store_find(st, coll);
    int il =
        snprintf(id, sizeof(id), o->kind == OP_NEW ? "w-%u" : "id-%u", o->key);
    vs_record r = {id, (size_t)il, v, NULL, 0};
    if (o->kind == OP_DELETE)
        return vs_collection_delete(c, &r, 1, NULL);
    op_vector(v, o->seq);
    int ml =
        snprintf(md, sizeof(md), "{\"s\":%llu}", (unsigned long long)o->seq);
    r.metadata = md;
    r.metadata_len = (size_t)ml;
    return vs_collection_upsert(c, &r, 1);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    uint32_t next_new = 0;
    while (!atomic_load(&w->stop)) {
        if (atomic_load(&w->nops) == w->logcap) {
            usleep(1000); /* the log is full: every op must be logged */
            continue;
        }
        op o;
        uint64_t r = vs_test_rand(&w->state);
        o.kind = r % 7 == 0 ? OP_DELETE : (r % 2 ? OP_NEW : OP_CHANGE);
        o.key = o.kind == OP_NEW ? next_new++ % 50000
                                 : (uint32_t)((r >> 8) % w->base);
        bool measure = atomic_load(&w->measure);
        int64_t t0 = now_ns();
        vs_store_wrlock(w->st);
        uint64_t before = vs_store_seq(w->st);
        o.seq = before + 1;
        int error = apply(w->st, w->coll, &o);
        bool changed = vs_store_seq(w->st) != before;
        vs_store_unlock(w->st);
        int64_t t1 = now_ns();
        if (error < 0)
            abort();
        size_t n = atomic_load(&w->nops);
        if (changed) {
            w->log[n] = o;
            atomic_store(&w->nops, n + 1);
        }
        if (measure && w->nlat < w->latcap)
            w->lat[w->nlat++] = t1 - t0;
    }
    return NULL;
}

static void writer_start(writer *w, pthread_t *t, vs_store *st, size_t base)
{
    memset(w, 0, sizeof(*w));
    w->st = st;
    w->coll = "c";
    w->base = base;
    w->logcap = 4 << 20;
    w->log = malloc(w->logcap * sizeof(*w->log));
    w->latcap = 4 << 20;
    w->lat = malloc(w->latcap * sizeof(*w->lat));
    w->state = 42;
    ck_assert(w->log && w->lat);
    ck_assert_int_eq(pthread_create(t, NULL, writer_main, w), 0);
    /* Let it write a little before anything is snapshotted. */
    while (atomic_load(&w->nops) < 100)
        usleep(1000);
}

static void writer_stop(writer *w, pthread_t t)
{
    atomic_store(&w->stop, true);
    pthread_join(t, NULL);
}

static void writer_free(writer *w)
{
    free(w->log);
    free(w->lat);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The initial store plus the logged ops up to `seq`, in order. */
static vs_store *replay(const writer *w, uint64_t seq, uint64_t seed)
{
    vs_store *st =
        vs_test_random_store("c", w->base, DIM, VS_METRIC_COSINE, true, seed);
    size_t n = atomic_load(&w->nops);
    for (size_t i = 0; i < n && w->log[i].seq <= seq; i++) {
        ck_assert_uint_eq(w->log[i].seq, vs_store_seq(st) + 1);
        ck_assert_int_eq(apply(st, "c", &w->log[i]), 0);
    }
    return st;
}

/* ---- progress ---- */

typedef struct prog {
    size_t calls;
    uint64_t last_done, last_total;
    bool monotonic;
    size_t cancel_after; /* cancel on this call (0: never) */
} prog;

static int on_progress(void *payload, uint64_t done, uint64_t total)
{
    prog *p = payload;
    if (p->calls > 0 && done < p->last_done)
        p->monotonic = false;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    return p->cancel_after && p->calls >= p->cancel_after;
}

/* ---- tests ---- */

START_TEST(save_writes_each_format_equal_to_the_store_and_nothing_else)
{
    char *dir = vs_test_tmpdir_new();
    vs_store *st = vs_test_random_store("c", 3000, DIM, VS_METRIC_DOT, true, 7);
    static const struct {
        vs_format_id f;
        vs_codec_id c;
    } cases[] = {{VS_FORMAT_BIN, VS_CODEC_NONE},
                 {VS_FORMAT_BIN, VS_CODEC_ZSTD},
                 {VS_FORMAT_JSON, VS_CODEC_GZIP},
                 {VS_FORMAT_SQLITE, VS_CODEC_NONE},
                 {VS_FORMAT_SQLITE, VS_CODEC_BROTLI}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = vs_test_path(dir, "out.db");
        vs_save_options o = VS_SAVE_OPTIONS_INIT;
        o.format = cases[i].f;
        o.codec = cases[i].c;
        vs_file_info info;
        int error = vs_snapfork_save(&info, st, path, &o);
        ck_assert_msg(error == 0, "%s", vs_error_last());
        ck_assert_int_eq(info.format, cases[i].f);
        ck_assert_int_eq(info.codec, cases[i].c);
        ck_assert_uint_eq(info.records, 3000);
        ck_assert_uint_eq(info.seq, vs_store_seq(st));
        uint8_t sha[VS_SHA256_LEN];
        uint64_t size;
        ck_assert_int_eq(vs_sha256_file(sha, &size, path), 0);
        ck_assert_uint_eq(size, info.bytes);
        ck_assert(vs_sha256_equal(sha, info.sha256));
        vs_store *back = load(path);
        assert_equal(st, back, true);
        vs_store_free(back);
        assert_only(dir, "out.db");
        assert_no_children();
        unlink(path);
        free(path);
    }
    vs_store_free(st);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* One snapshot of a 200K-record store while a writer adds, changes and
 * deletes records: the file is exactly the initial store plus the writer's
 * ops up to the seq of the fork, and the writer went on meanwhile. */
static void check_consistent(vs_format_id format, vs_codec_id codec,
                             size_t count)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st =
        vs_test_random_store("c", count, DIM, VS_METRIC_COSINE, true, 11);
    writer w;
    pthread_t t;
    writer_start(&w, &t, st, count);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = format;
    o.codec = codec;
    prog p = {0, 0, 0, true, 0};
    o.progress = on_progress;
    o.payload = &p;
    size_t ops_before = atomic_load(&w.nops);
    vs_file_info info;
    int error = vs_snapfork_save(&info, st, path, &o);
    size_t ops_after = atomic_load(&w.nops);
    writer_stop(&w, t);
    ck_assert_msg(error == 0, "%s", vs_error_last());

    /* the seq of the fork lies between what the writer did before and
     * after, and the writer kept writing while the child saved */
    ck_assert_uint_gt(ops_after, ops_before);
    ck_assert_uint_ge(info.seq, w.log[ops_before - 1].seq);
    ck_assert_uint_lt(info.seq, w.log[ops_after - 1].seq);
    /* progress arrived, in order, ending with every record */
    ck_assert_uint_ge(p.calls, 1);
    ck_assert(p.monotonic);
    ck_assert_uint_eq(p.last_done, info.records);
    ck_assert_uint_eq(p.last_total, info.records);

    vs_store *back = load(path);
    ck_assert_uint_eq(vs_store_seq(back), info.seq);
    /* nothing written after the fork is in the file */
    const vs_collection *c = vs_store_find(back, "c");
    for (size_t i = 0; i < vs_collection_count(c); i++) {
        vs_record r;
        vs_collection_slot(&r, c, i);
        ck_assert_float_le(r.vector[0], (float)info.seq);
    }
    vs_store *expect = replay(&w, info.seq, 11);
    assert_equal(expect, back, true);
    ck_assert_uint_eq(info.records, vs_collection_count(c));
    vs_store_free(expect);
    vs_store_free(back);
    assert_only(dir, "snap");
    writer_free(&w);
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}

START_TEST(binary_image_is_the_store_at_the_fork_while_writes_go_on)
{
    check_consistent(VS_FORMAT_BIN, VS_CODEC_ZSTD, BIG);
}
END_TEST

START_TEST(json_image_is_the_store_at_the_fork_while_writes_go_on)
{
    check_consistent(VS_FORMAT_JSON, VS_CODEC_NONE, BIG / 4);
}
END_TEST

START_TEST(sqlite_image_is_the_store_at_the_fork_while_writes_go_on)
{
    check_consistent(VS_FORMAT_SQLITE, VS_CODEC_NONE, BIG / 4);
}
END_TEST

START_TEST(writers_are_not_blocked_while_a_large_snapshot_is_written)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "big.vsnap.gz");
    size_t n = 60000;
    vs_store *st = vs_test_random_store("c", n, 64, VS_METRIC_DOT, false, 3);
    /* the writer uses DIM-sized vectors: give it its own collection */
    vs_collection *wc = NULL;
    ck_assert_int_eq(vs_store_create(&wc, st, "w", DIM, VS_METRIC_DOT), 0);
    writer w;
    pthread_t t;
    memset(&w, 0, sizeof(w));
    w.st = st;
    w.coll = "w";
    w.base = 1;
    w.logcap = 4 << 20;
    w.log = malloc(w.logcap * sizeof(*w.log));
    w.latcap = 4 << 20;
    w.lat = malloc(w.latcap * sizeof(*w.lat));
    w.state = 5;
    /* the key of OP_CHANGE / OP_DELETE is 0: "id-0" of collection "w" */
    ck_assert_int_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    while (atomic_load(&w.nops) < 100)
        usleep(1000);
    atomic_store(&w.measure, true);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = VS_CODEC_GZIP;
    o.level = 1; /* slow on purpose: a long snapshot */
    int64_t t0 = now_ns();
    vs_file_info info;
    int error = vs_snapfork_save(&info, st, path, &o);
    int64_t t1 = now_ns();
    atomic_store(&w.measure, false);
    writer_stop(&w, t);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_gt(w.nlat, 100);
    qsort(w.lat, w.nlat, sizeof(*w.lat), cmp_i64);
    int64_t max = w.lat[w.nlat - 1];
    int64_t p99 = w.lat[w.nlat * 99 / 100];
    vs_snapfork_stats stats;
    vs_snapfork_stats_get(&stats);
    fprintf(stderr,
            "snapfork: %zu x 64 gzip snapshot %.0f ms; %zu upserts meanwhile, "
            "max %.2f ms, p99 %.3f ms; fork %.2f ms, lock held %.2f ms\n",
            n, (t1 - t0) / 1e6, w.nlat, max / 1e6, p99 / 1e6,
            stats.last_fork_usec / 1e3, stats.last_pause_usec / 1e3);
    ck_assert_int_lt(max, 200 * 1000000LL);
    ck_assert_uint_ge(stats.last_pause_usec, stats.last_fork_usec);
    writer_free(&w);
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(cancel_kills_the_child_and_leaves_the_target_untouched)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap.gz");
    write_text(path, "old");
    vs_store *st =
        vs_test_random_store("c", 100000, 32, VS_METRIC_DOT, true, 1);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = VS_CODEC_GZIP;
    o.level = 9;
    prog p = {0, 0, 0, true, 2};
    o.progress = on_progress;
    o.payload = &p;
    int64_t t0 = now_ns();
    int error = vs_snapfork_save(NULL, st, path, &o);
    int64_t t1 = now_ns();
    ck_assert_int_eq(error, VS_ECANCELLED);
    ck_assert_int_eq(vs_error_last_code(), VS_ECANCELLED);
    ck_assert_uint_eq(p.calls, 2);
    ck_assert_int_lt(t1 - t0, 2000 * 1000000LL); /* not a whole save */
    assert_only(dir, "snap.gz");
    assert_text(path, "old");
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* Test hooks for dying children. */
static void die_by_segv(uint64_t done, uint64_t total)
{
    if (done > 0 && done < total) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        raise(SIGSEGV);
    }
}

static void die_by_exit3(uint64_t done, uint64_t total)
{
    if (done > total / 2)
        _exit(3);
}

static void die_at_once(uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    _exit(0);
}

static void check_death(void (*hook)(uint64_t, uint64_t), vs_format_id f,
                        const char *expect)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    write_text(path, "old");
    vs_store *st = vs_test_random_store("c", 50000, 32, VS_METRIC_DOT, true, 2);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = f;
    vs_snapfork__test_hooks.child = hook;
    int error = vs_snapfork_save(NULL, st, path, &o);
    vs_snapfork__test_hooks.child = NULL;
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_msg(strstr(vs_error_last(), "snapshot writer died") &&
                      strstr(vs_error_last(), expect),
                  "%s", vs_error_last());
    assert_only(dir, "snap");
    assert_text(path, "old");
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}

START_TEST(a_child_killed_by_a_signal_is_an_error_and_leaves_nothing)
{
    check_death(die_by_segv, VS_FORMAT_BIN, "SIGSEGV");
    check_death(die_by_segv, VS_FORMAT_SQLITE, "SIGSEGV");
}
END_TEST

START_TEST(a_child_that_exits_without_a_result_is_an_error)
{
    check_death(die_by_exit3, VS_FORMAT_JSON, "exit status 3");
    check_death(die_at_once, VS_FORMAT_BIN, "without a result");
}
END_TEST

static void exit_unless_oom_preferred(uint64_t done, uint64_t total)
{
    (void)total;
    char buf[16] = "";
    int fd = open("/proc/self/oom_score_adj", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (done == 0 && (n <= 0 || strtol(buf, NULL, 10) < 800))
        _exit(9);
}

START_TEST(the_child_is_the_first_to_go_when_memory_runs_out)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 100, 4, VS_METRIC_DOT, false, 2);
    vs_snapfork__test_hooks.child = exit_unless_oom_preferred;
    int error = vs_snapfork_save(NULL, st, path, NULL);
    vs_snapfork__test_hooks.child = NULL;
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

static int fork_errno;
static pid_t failing_fork(void)
{
    errno = fork_errno;
    return -1;
}

START_TEST(fork_failure_is_reported_with_the_reason_and_leaves_nothing)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 100, 4, VS_METRIC_DOT, false, 2);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_snapfork__test_hooks.fork = failing_fork;
    fork_errno = ENOMEM;
    int error = vs_snapfork_save(NULL, st, path, NULL);
    ck_assert_int_eq(error, VS_ENOMEM);
    ck_assert_msg(strstr(vs_error_last(), "cannot fork") &&
                      strstr(vs_error_last(), "Cannot allocate memory"),
                  "%s", vs_error_last());
    fork_errno = EAGAIN;
    vs_snapfork *h = NULL;
    error = vs_snapfork_stream(&h, st, NULL);
    vs_snapfork__test_hooks.fork = NULL;
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(vs_error_last(), "temporarily unavailable"), "%s",
                  vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.fork_failures, before.fork_failures + 2);
    ck_assert_uint_eq(after.forks, before.forks);
    assert_only(dir, NULL);
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(bad_options_fail_before_forking)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 100, 4, VS_METRIC_DOT, false, 2);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = VS_FORMAT_RUVECTOR;
    ck_assert_int_eq(vs_snapfork_save(NULL, st, path, &o), VS_EINVALID);
    o.format = VS_FORMAT_BIN;
    o.codec = VS_CODEC_ZSTD;
    o.level = 99;
    ck_assert_int_eq(vs_snapfork_save(NULL, st, path, &o), VS_EINVALID);
    o.level = -1;
    const char *const names[] = {"nope"};
    o.collections = names;
    o.ncollections = 1;
    ck_assert_int_eq(vs_snapfork_save(NULL, st, path, &o), VS_ENOTFOUND);
    ck_assert_int_eq(vs_snapfork_save(NULL, st, "/nonexistent/dir/x", NULL),
                     VS_ENOTFOUND);
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.forks, before.forks);
    assert_only(dir, NULL);
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* Read a whole fd into a malloc'd buffer. */
static uint8_t *read_all(int fd, size_t *n)
{
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *n = len;
    return buf;
}

static void check_stream(vs_format_id f, vs_codec_id c)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "file");
    vs_store *st =
        vs_test_random_store("c", 20000, DIM, VS_METRIC_COSINE, true, 9);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = f;
    o.codec = c;
    o.tmpdir = dir; /* sqlite stages its document here, then cleans */
    vs_snapfork *h = NULL;
    int error = vs_snapfork_stream(&h, st, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_eq(vs_snapfork_seq(h), vs_store_seq(st));
    ck_assert_int_gt(vs_snapfork_pid(h), 0);
    size_t n = 0;
    uint8_t *bytes = read_all(vs_snapfork_fd(h), &n);
    vs_file_info sinfo;
    error = vs_snapfork_finish(&sinfo, h);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    uint64_t done, total;
    ck_assert(vs_snapfork_poll(h, &done, &total));
    ck_assert_uint_eq(total, 20000);
    vs_snapfork_free(h);
    ck_assert_uint_eq(sinfo.bytes, n);
    uint8_t sha[VS_SHA256_LEN];
    ck_assert_int_eq(vs_sha256_buffer(sha, bytes, n), 0);
    ck_assert(vs_sha256_equal(sha, sinfo.sha256));
    ck_assert_uint_eq(sinfo.seq, vs_store_seq(st));
    ck_assert_uint_eq(sinfo.records, 20000);
    /* the same document as a file save of the same store */
    vs_file_info finfo;
    ck_assert_int_eq(vs_fmt_save_file(&finfo, path, st, &o), 0);
    vs_store *a = load(path);
    vs_stream *mem = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, bytes, n), 0);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *b = NULL;
    error = vs_fmt_load_stream(&b, NULL, mem, &lo);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    assert_equal(a, b, true);
    assert_equal(st, b, true);
    if (f != VS_FORMAT_SQLITE) /* sqlite files differ in page layout */
        ck_assert(vs_sha256_equal(finfo.sha256, sinfo.sha256));
    vs_stream_free(mem);
    vs_store_free(a);
    vs_store_free(b);
    free(bytes);
    assert_only(dir, "file");
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}

START_TEST(stream_carries_the_same_document_as_a_file_save)
{
    check_stream(VS_FORMAT_BIN, VS_CODEC_NONE);
    check_stream(VS_FORMAT_BIN, VS_CODEC_ZSTD);
    check_stream(VS_FORMAT_JSON, VS_CODEC_GZIP);
    check_stream(VS_FORMAT_SQLITE, VS_CODEC_NONE);
}
END_TEST

START_TEST(stream_is_the_store_at_the_fork_while_writes_go_on)
{
    vs_store *st =
        vs_test_random_store("c", BIG / 4, DIM, VS_METRIC_COSINE, true, 11);
    writer w;
    pthread_t t;
    writer_start(&w, &t, st, BIG / 4);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = VS_CODEC_ZSTD;
    vs_snapfork *h = NULL;
    int error = vs_snapfork_stream(&h, st, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    /* the caller owns the fd now, as MHD would */
    int fd = vs_snapfork_take_fd(h);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(vs_snapfork_fd(h), -1);
    ck_assert_int_eq(vs_snapfork_take_fd(h), -1);
    size_t n = 0;
    uint8_t *bytes = read_all(fd, &n);
    close(fd);
    vs_file_info info;
    error = vs_snapfork_finish(&info, h);
    writer_stop(&w, t);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_eq(info.seq, vs_snapfork_seq(h));
    ck_assert_int_eq(vs_snapfork_finish(NULL, h), VS_EINVALID);
    vs_snapfork_free(h);
    vs_stream *mem = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, bytes, n), 0);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *back = NULL;
    error = vs_fmt_load_stream(&back, NULL, mem, &lo);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_store *expect = replay(&w, info.seq, 11);
    assert_equal(expect, back, true);
    vs_store_free(expect);
    vs_store_free(back);
    vs_stream_free(mem);
    free(bytes);
    writer_free(&w);
    vs_store_free(st);
}
END_TEST

START_TEST(a_reader_that_stops_early_fails_the_child_and_does_not_hang)
{
    vs_store *st =
        vs_test_random_store("c", 100000, DIM, VS_METRIC_DOT, false, 4);
    vs_snapfork *h = NULL;
    int error = vs_snapfork_stream(&h, st, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    char buf[4096];
    ck_assert_int_eq(read(vs_snapfork_fd(h), buf, sizeof(buf)), sizeof(buf));
    error = vs_snapfork_finish(NULL, h);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_msg(strstr(vs_error_last(), "Broken pipe"), "%s",
                  vs_error_last());
    vs_snapfork_free(h);
    /* cancelled and freed without finish: killed and reaped */
    ck_assert_int_eq(vs_snapfork_stream(&h, st, NULL), 0);
    vs_snapfork_cancel(h);
    ck_assert_int_eq(vs_snapfork_finish(NULL, h), VS_ECANCELLED);
    vs_snapfork_free(h);
    ck_assert_int_eq(vs_snapfork_stream(&h, st, NULL), 0);
    vs_snapfork_free(h);
    assert_no_children();
    vs_store_free(st);
}
END_TEST

START_TEST(the_child_keeps_no_descriptor_of_the_parent)
{
    /* a pipe standing for a client connection of the server */
    int client[2];
    ck_assert_int_eq(pipe(client), 0);
    vs_store *st =
        vs_test_random_store("c", 100000, DIM, VS_METRIC_DOT, false, 4);
    vs_snapfork *h = NULL;
    int error = vs_snapfork_stream(&h, st, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    /* the child is blocked on its full data pipe, alive; closing our
     * write end must be the last one: the reader sees the end at once */
    close(client[1]);
    struct pollfd pfd = {client[0], POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    char c;
    ck_assert_int_eq(read(client[0], &c, 1), 0);
    ck_assert(!vs_snapfork_poll(h, NULL, NULL));
    close(client[0]);
    vs_snapfork_free(h);
    assert_no_children();
    vs_store_free(st);
}
END_TEST

START_TEST(create_commits_a_snapshot_described_at_the_fork)
{
    char *root = vs_test_tmpdir_new();
    char *data = vs_test_path(root, "data");
    vs_catalog *cat = NULL;
    ck_assert_int_eq(vs_catalog_open(&cat, data), 0);
    vs_store *st =
        vs_test_random_store("c", BIG / 4, DIM, VS_METRIC_COSINE, true, 11);
    writer w;
    pthread_t t;
    writer_start(&w, &t, st, BIG / 4);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = VS_CODEC_ZSTD;
    vs_snapshot s;
    int error = vs_snapfork_create(&s, cat, st, "hot", &o);
    writer_stop(&w, t);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_str_eq(s.name, "hot");
    ck_assert_uint_eq(s.ncollections, 1);
    vs_store *back = NULL;
    vs_file_info info;
    error = vs_catalog_load(&back, &info, cat, s.id, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_eq(s.collections[0].count,
                      vs_collection_count(vs_store_find(back, "c")));
    ck_assert_uint_eq(s.seq, info.seq);
    vs_store *expect = replay(&w, s.seq, 11);
    assert_equal(expect, back, true);
    /* nothing left in the work area */
    char *tmp = vs_test_path(data, "tmp");
    ck_assert_uint_eq(vs_test_dir_count(tmp), 0);
    free(tmp);
    vs_store_free(expect);
    vs_store_free(back);
    vs_snapshot_dispose(&s);
    writer_free(&w);
    vs_store_free(st);
    vs_catalog_free(cat);
    free(data);
    vs_test_tmpdir_free(root);
}
END_TEST

/* Holds one of sqlite's global mutexes for a while, as a thread inside
 * sqlite would at the fork. */
static void *hold_sqlite_main(void *arg)
{
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    atomic_store((atomic_bool *)arg, true);
    usleep(150 * 1000);
    sqlite3_mutex_leave(m);
    return NULL;
}

START_TEST(a_busy_sqlite_lock_makes_the_parent_fork_again)
{
    char *root = vs_test_tmpdir_new();
    char *data = vs_test_path(root, "data");
    vs_catalog *cat = NULL;
    ck_assert_int_eq(vs_catalog_open(&cat, data), 0);
    vs_store *st =
        vs_test_random_store("c", 20000, DIM, VS_METRIC_COSINE, true, 11);
    writer w;
    pthread_t tw, th;
    writer_start(&w, &tw, st, 20000);
    atomic_bool held = false;
    ck_assert_int_eq(pthread_create(&th, NULL, hold_sqlite_main, &held), 0);
    while (!atomic_load(&held))
        usleep(1000);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.format = VS_FORMAT_SQLITE;
    vs_snapshot s;
    int error = vs_snapfork_create(&s, cat, st, NULL, &o);
    vs_snapfork_stats_get(&after);
    pthread_join(th, NULL);
    writer_stop(&w, tw);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_ge(after.retries - before.retries, 1);
    /* described at the fork that wrote, not at the refused ones */
    vs_store *back = NULL;
    ck_assert_int_eq(vs_catalog_load(&back, NULL, cat, s.id, NULL, NULL), 0);
    ck_assert_uint_eq(s.collections[0].count,
                      vs_collection_count(vs_store_find(back, "c")));
    vs_store *expect = replay(&w, s.seq, 11);
    assert_equal(expect, back, true);
    vs_store_free(expect);
    vs_store_free(back);
    vs_snapshot_dispose(&s);

    /* held all along (here by the forking thread itself): VS_EBUSY */
    char *path = vs_test_path(root, "snap");
    sqlite3_mutex *m = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_APP1);
    sqlite3_mutex_enter(m);
    error = vs_snapfork_save(NULL, st, path, &o);
    sqlite3_mutex_leave(m);
    ck_assert_int_eq(error, VS_EBUSY);
    ck_assert_msg(strstr(vs_error_last(), "sqlite"), "%s", vs_error_last());
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_uint_eq(vs_test_dir_count(root), 1); /* data/ only */
    assert_no_children();
    free(path);
    writer_free(&w);
    vs_store_free(st);
    vs_catalog_free(cat);
    free(data);
    vs_test_tmpdir_free(root);
}
END_TEST

/* ---- the watchdog ---- */

static pthread_mutex_t held_at_fork = PTHREAD_MUTEX_INITIALIZER;

/* In the child: take a mutex that some parent thread may have held at the
 * fork, like a library lock would be. */
static void lock_at_start(uint64_t done, uint64_t total)
{
    (void)total;
    if (done == 0) {
        pthread_mutex_lock(&held_at_fork);
        pthread_mutex_unlock(&held_at_fork);
    }
}

static void *hold_briefly_main(void *arg)
{
    pthread_mutex_lock(&held_at_fork);
    atomic_store((atomic_bool *)arg, true);
    usleep(300 * 1000);
    pthread_mutex_unlock(&held_at_fork);
    return NULL;
}

START_TEST(a_deadlocked_child_is_killed_and_forked_again)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 2000, DIM, VS_METRIC_DOT, true, 3);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    atomic_bool held = false;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, hold_briefly_main, &held), 0);
    while (!atomic_load(&held))
        usleep(1000);
    vs_snapfork__test_hooks.child = lock_at_start;
    vs_snapfork__test_hooks.stall_ms = 200;
    vs_file_info info;
    int error = vs_snapfork_save(&info, st, path, NULL);
    vs_snapfork__test_hooks.child = NULL;
    vs_snapfork__test_hooks.stall_ms = 0;
    pthread_join(t, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_ge(after.stalls - before.stalls, 1);
    vs_store *back = load(path);
    assert_equal(st, back, true);
    vs_store_free(back);
    assert_only(dir, "snap");
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(a_child_deadlocked_at_every_fork_is_an_error_not_a_hang)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 2000, DIM, VS_METRIC_DOT, true, 3);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_snapfork__test_hooks.child = lock_at_start;
    vs_snapfork__test_hooks.stall_ms = 200;
    pthread_mutex_lock(&held_at_fork);
    int error = vs_snapfork_save(NULL, st, path, NULL);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_msg(strstr(vs_error_last(), "deadlocked"), "%s", vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.stalls - before.stalls, 3);
    assert_only(dir, NULL);
    /* a stream: the reader sees the end, finish says why */
    vs_snapfork *h = NULL;
    ck_assert_int_eq(vs_snapfork_stream(&h, st, NULL), 0);
    int64_t t0 = now_ns();
    while (!vs_snapfork_poll(h, NULL, NULL) && now_ns() - t0 < 20000000000LL)
        usleep(20 * 1000);
    char c;
    ck_assert_int_eq(read(vs_snapfork_fd(h), &c, 1), 0);
    error = vs_snapfork_finish(NULL, h);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_msg(strstr(vs_error_last(), "deadlocked"), "%s", vs_error_last());
    vs_snapfork_free(h);
    pthread_mutex_unlock(&held_at_fork);
    vs_snapfork__test_hooks.child = NULL;
    vs_snapfork__test_hooks.stall_ms = 0;
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

static void sleep_at_start(uint64_t done, uint64_t total)
{
    (void)total;
    if (done == 0)
        usleep(1200 * 1000); /* silent, but not frozen on a lock */
}

/* In the child: wait on a condition nobody signals, 20 ms at a time, for
 * 1.2 s.  At every look the only thread sleeps in a futex wait and hardly
 * any CPU time goes by, yet it wakes up and goes on: no deadlock. */
static void wait_with_timeouts_at_start(uint64_t done, uint64_t total)
{
    (void)total;
    if (done != 0)
        return;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int64_t end = now_ns() + 1200 * 1000000LL;
    pthread_mutex_lock(&mu);
    while (now_ns() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
}

static void check_not_stalled(void (*hook)(uint64_t, uint64_t))
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 2000, DIM, VS_METRIC_DOT, true, 3);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_snapfork__test_hooks.child = hook;
    vs_snapfork__test_hooks.stall_ms = 200;
    int error = vs_snapfork_save(NULL, st, path, NULL);
    vs_snapfork__test_hooks.child = NULL;
    vs_snapfork__test_hooks.stall_ms = 0;
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.stalls, before.stalls);
    ck_assert_uint_eq(after.forks, before.forks + 1);
    vs_store *back = load(path);
    assert_equal(st, back, true);
    vs_store_free(back);
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}

START_TEST(a_slow_child_is_not_mistaken_for_a_deadlocked_one)
{
    check_not_stalled(sleep_at_start);
    check_not_stalled(wait_with_timeouts_at_start);
}
END_TEST

/* A reader that pauses for 8 times the watchdog's patience (polling, as a
 * server would, while no data comes): the child waits in write() on its
 * full data pipe -- with a codec, its other threads wait in futexes for
 * that one -- which is no deadlock; then everything arrives. */
static void check_paused_reader(vs_codec_id codec)
{
    vs_store *st =
        vs_test_random_store("c", 100000, DIM, VS_METRIC_DOT, false, 4);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_snapfork__test_hooks.stall_ms = 200;
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    o.codec = codec;
    vs_snapfork *h = NULL;
    int error = vs_snapfork_stream(&h, st, &o);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    int64_t t0 = now_ns();
    while (now_ns() - t0 < 1600 * 1000000LL) {
        ck_assert(!vs_snapfork_poll(h, NULL, NULL)); /* alive, blocked */
        usleep(20 * 1000);
    }
    size_t n = 0;
    uint8_t *bytes = read_all(vs_snapfork_fd(h), &n);
    vs_file_info info;
    error = vs_snapfork_finish(&info, h);
    vs_snapfork__test_hooks.stall_ms = 0;
    ck_assert_msg(error == 0, "%s", vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.stalls, before.stalls);
    ck_assert_uint_eq(after.forks, before.forks + 1);
    ck_assert_uint_eq(info.bytes, n);
    ck_assert_uint_gt(n, 2 << 20); /* more than the pipe holds */
    vs_stream *mem = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, bytes, n), 0);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *back = NULL;
    error = vs_fmt_load_stream(&back, NULL, mem, &lo);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    assert_equal(st, back, true);
    vs_store_free(back);
    vs_stream_free(mem);
    free(bytes);
    vs_snapfork_free(h);
    assert_no_children();
    vs_store_free(st);
}

START_TEST(a_stream_whose_reader_pauses_is_not_mistaken_for_a_deadlock)
{
    check_paused_reader(VS_CODEC_NONE);
    check_paused_reader(VS_CODEC_ZSTD);
}
END_TEST

/* fork() replaced: the child deadlocks before it reports ready. */
static pid_t fork_into_a_held_lock(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(&held_at_fork);
        pthread_mutex_unlock(&held_at_fork);
    }
    return pid;
}

START_TEST(a_child_deadlocked_before_it_is_ready_is_killed_too)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "snap");
    vs_store *st = vs_test_random_store("c", 2000, DIM, VS_METRIC_DOT, true, 3);
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    vs_snapfork__test_hooks.fork = fork_into_a_held_lock;
    vs_snapfork__test_hooks.stall_ms = 200;
    pthread_mutex_lock(&held_at_fork);
    int error = vs_snapfork_save(NULL, st, path, NULL);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_msg(strstr(vs_error_last(), "deadlocked"), "%s", vs_error_last());
    vs_snapfork_stats_get(&after);
    ck_assert_uint_eq(after.stalls - before.stalls, 3);
    assert_only(dir, NULL);
    vs_snapfork *h = NULL;
    error = vs_snapfork_stream(&h, st, NULL);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(vs_error_last(), "deadlocked"), "%s", vs_error_last());
    vs_snapfork_stats_get(&before);
    ck_assert_uint_eq(before.stalls - after.stalls, 3);
    pthread_mutex_unlock(&held_at_fork);
    vs_snapfork__test_hooks.fork = NULL;
    vs_snapfork__test_hooks.stall_ms = 0;
    assert_no_children();
    vs_store_free(st);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- fork safety under load ---- */

typedef struct hammer {
    atomic_bool stop;
    vs_store *st;
    const char *dir;
    atomic_size_t rounds;
} hammer;

static void *malloc_main(void *arg)
{
    hammer *hm = arg;
    uint64_t s = 99;
    void *keep[64] = {0};
    while (!atomic_load(&hm->stop)) {
        size_t i = vs_test_rand(&s) % 64;
        free(keep[i]);
        keep[i] = malloc(1 + vs_test_rand(&s) % 200000);
        atomic_fetch_add(&hm->rounds, 1);
    }
    for (size_t i = 0; i < 64; i++)
        free(keep[i]);
    return NULL;
}

static void *search_main(void *arg)
{
    hammer *hm = arg;
    float q[DIM];
    vs_hit hits[10];
    for (int d = 0; d < DIM; d++)
        q[d] = 0.5f;
    while (!atomic_load(&hm->stop)) {
        size_t n;
        vs_store_rdlock(hm->st);
        vs_collection *c = vs_store_find(hm->st, "c");
        int error = vs_collection_search(hits, &n, c, q, DIM, 10);
        vs_store_unlock(hm->st);
        if (error < 0)
            abort();
        atomic_fetch_add(&hm->rounds, 1);
    }
    return NULL;
}

/* Uses sqlite (and OpenSSL, zlib) on its own files, all the time. */
static void *sqlite_main(void *arg)
{
    hammer *hm = arg;
    vs_store *small = vs_test_random_store("s", 50, 4, VS_METRIC_DOT, true, 1);
    char *path = vs_test_path(hm->dir, "busy.sqlite");
    while (!atomic_load(&hm->stop)) {
        vs_save_options o = VS_SAVE_OPTIONS_INIT;
        o.format = VS_FORMAT_SQLITE;
        if (vs_fmt_save_file(NULL, path, small, &o) < 0)
            abort();
        vs_load_options lo = VS_LOAD_OPTIONS_INIT;
        vs_store *back = NULL;
        if (vs_fmt_load_file(&back, NULL, path, &lo) < 0)
            abort();
        vs_store_free(back);
        atomic_fetch_add(&hm->rounds, 1);
    }
    unlink(path);
    free(path);
    vs_store_free(small);
    return NULL;
}

/* glibc's fork makes its malloc safe in the child.  The allocator of GCC
 * 12's AddressSanitizer is not locked across fork (no fork interceptor): a
 * thread inside malloc at the fork leaves the child waiting forever.  So
 * the threads that call malloc without the store lock (store writers only
 * allocate under it, so they are safe) run in plain builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define MALLOC_IS_FORK_SAFE 0
#else
#define MALLOC_IS_FORK_SAFE 1
#endif

START_TEST(forks_are_safe_while_threads_hammer_malloc_store_and_sqlite)
{
    enum { ROUNDS = 12 };
    char *dir = vs_test_tmpdir_new();
    char *busy = vs_test_path(dir, "busy");
    ck_assert_int_eq(mkdir(busy, 0755), 0);
    vs_store *st =
        vs_test_random_store("c", 5000, DIM, VS_METRIC_COSINE, true, 11);
    writer w;
    pthread_t tw, tm[2], ts, tq;
    writer_start(&w, &tw, st, 5000);
    hammer hm;
    memset(&hm, 0, sizeof(hm));
    hm.st = st;
    hm.dir = busy;
    for (int i = 0; i < 2 && MALLOC_IS_FORK_SAFE; i++)
        ck_assert_int_eq(pthread_create(&tm[i], NULL, malloc_main, &hm), 0);
    ck_assert_int_eq(pthread_create(&ts, NULL, search_main, &hm), 0);
    if (MALLOC_IS_FORK_SAFE)
        ck_assert_int_eq(pthread_create(&tq, NULL, sqlite_main, &hm), 0);
    static const vs_format_id formats[] = {VS_FORMAT_JSON, VS_FORMAT_BIN,
                                           VS_FORMAT_SQLITE};
    char *paths[ROUNDS];
    uint64_t seqs[ROUNDS];
    vs_snapfork_stats before, after;
    vs_snapfork_stats_get(&before);
    for (int i = 0; i < ROUNDS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "snap-%d", i);
        paths[i] = vs_test_path(dir, name);
        vs_save_options o = VS_SAVE_OPTIONS_INIT;
        o.format = formats[i % 3];
        o.codec = i % 2 ? VS_CODEC_ZSTD : VS_CODEC_NONE;
        vs_file_info info;
        int error = vs_snapfork_save(&info, st, paths[i], &o);
        ck_assert_msg(error == 0, "round %d: %s", i, vs_error_last());
        seqs[i] = info.seq;
    }
    vs_snapfork_stats_get(&after);
    atomic_store(&hm.stop, true);
    for (int i = 0; i < 2 && MALLOC_IS_FORK_SAFE; i++)
        pthread_join(tm[i], NULL);
    pthread_join(ts, NULL);
    if (MALLOC_IS_FORK_SAFE)
        pthread_join(tq, NULL);
    writer_stop(&w, tw);
    fprintf(stderr,
            "snapfork: %d forks under load, %llu sqlite retries, %llu "
            "deadlocked children, %zu hammer rounds\n",
            ROUNDS, (unsigned long long)(after.retries - before.retries),
            (unsigned long long)(after.stalls - before.stalls),
            atomic_load(&hm.rounds));
    ck_assert_uint_eq(after.forks - before.forks -
                          (after.retries - before.retries) -
                          (after.stalls - before.stalls),
                      ROUNDS);
    ck_assert_uint_gt(atomic_load(&hm.rounds), 0);
    for (int i = 0; i < ROUNDS; i++) {
        vs_store *back = load(paths[i]);
        ck_assert_uint_eq(vs_store_seq(back), seqs[i]);
        if (i >= ROUNDS - 3) { /* the last of each format, bit for bit */
            vs_store *expect = replay(&w, seqs[i], 11);
            assert_equal(expect, back, true);
            vs_store_free(expect);
        }
        vs_store_free(back);
        free(paths[i]);
    }
    writer_free(&w);
    vs_store_free(st);
    free(busy);
    vs_test_tmpdir_free(dir);
}
END_TEST

static Suite *snapfork_suite(void)
{
    Suite *s = suite_create("snapfork");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc,
                   save_writes_each_format_equal_to_the_store_and_nothing_else);
    tcase_add_test(tc,
                   binary_image_is_the_store_at_the_fork_while_writes_go_on);
    tcase_add_test(tc, json_image_is_the_store_at_the_fork_while_writes_go_on);
    tcase_add_test(tc,
                   sqlite_image_is_the_store_at_the_fork_while_writes_go_on);
    tcase_add_test(tc,
                   writers_are_not_blocked_while_a_large_snapshot_is_written);
    tcase_add_test(tc, cancel_kills_the_child_and_leaves_the_target_untouched);
    tcase_add_test(tc,
                   a_child_killed_by_a_signal_is_an_error_and_leaves_nothing);
    tcase_add_test(tc, a_child_that_exits_without_a_result_is_an_error);
    tcase_add_test(tc, the_child_is_the_first_to_go_when_memory_runs_out);
    tcase_add_test(tc,
                   fork_failure_is_reported_with_the_reason_and_leaves_nothing);
    tcase_add_test(tc, bad_options_fail_before_forking);
    tcase_add_test(tc, stream_carries_the_same_document_as_a_file_save);
    tcase_add_test(tc, stream_is_the_store_at_the_fork_while_writes_go_on);
    tcase_add_test(tc,
                   a_reader_that_stops_early_fails_the_child_and_does_not_hang);
    tcase_add_test(tc, the_child_keeps_no_descriptor_of_the_parent);
    tcase_add_test(tc, create_commits_a_snapshot_described_at_the_fork);
    tcase_add_test(tc, a_busy_sqlite_lock_makes_the_parent_fork_again);
    tcase_add_test(tc, a_deadlocked_child_is_killed_and_forked_again);
    tcase_add_test(tc, a_child_deadlocked_at_every_fork_is_an_error_not_a_hang);
    tcase_add_test(tc, a_slow_child_is_not_mistaken_for_a_deadlocked_one);
    tcase_add_test(tc,
                   a_stream_whose_reader_pauses_is_not_mistaken_for_a_deadlock);
    tcase_add_test(tc, a_child_deadlocked_before_it_is_ready_is_killed_too);
    tcase_add_test(tc,
                   forks_are_safe_while_threads_hammer_malloc_store_and_sqlite);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(snapfork_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
