/*
 * bench_wal: what the write-ahead log costs.
 *
 * 1. Upsert throughput: 1-record upserts of 128-dim vectors (with a small
 *    metadata object) into a collection pre-filled with the ids they
 *    replace, the way the server does them: under the store's write lock,
 *    upsert, encode the body with the new seq, vs_wal_write; after the
 *    lock, vs_wal_wait.  For the log off (upsert only) and each policy
 *    (no, everysec, always), with 1 and 8 threads, each for --seconds:
 *    records/s, MB/s appended, fdatasyncs and the longest one.
 * 2. Replay: a log of one create and N (100000) 1-record upserts of D
 *    (384) dims, replayed into an empty store.
 * 3. Start-up: a binary snapshot of N x D records plus a log of N upserts
 *    that replace them, loaded and replayed.
 *
 * It ends with what the log costs each upsert with "everysec" beside the
 * log off (INFO lines: the target, >= 80 % of the log-off throughput, is
 * for upserts over HTTP, which cost tens of microseconds; here an upsert
 * costs well under one and the write(2) of its record a few), and one line
 * per target:
 *   TARGET <name>: <measured> vs <limit> PASS|FAIL
 * startup: snapshot load + replay <= 2 s.  MB means 2^20 bytes.
 *
 * Options: --seconds S (1; 0.3 with VS_BENCH_QUICK=1), --count N, --dim D,
 * --dir DIR (default: a fresh directory under $TMPDIR or /tmp, removed at
 * the end).  The exit status is 0 unless something failed to run.
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_wal"
#include "bench_util.h"
#include "fmt.h"
#include "fsutil.h"
#include "store.h"
#include "wal.h"

#define MB ((double)(1u << 20))
#define APPEND_DIM 128
#define APPEND_IDS 50000 /* ids the append runs cycle through */
#define POOL 256         /* vectors each thread cycles through */
#define MAX_THREADS 8
#define OFF (-1) /* "policy" of the runs without a log */

static int g_failed_targets;

/* Remove a directory of plain files (the logs written here). */
static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char *p = path_join(dir, e->d_name);
            unlink(p);
            free(p);
        }
    closedir(d);
    rmdir(dir);
}

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void random_vector(float *v, uint32_t dim, uint64_t *state)
{
    for (uint32_t d = 0; d < dim; d++)
        v[d] = (float)((double)(rng(state) >> 40) / (double)(1u << 23) - 1.0);
}

/* ---- 1. upsert throughput ---- */

typedef struct run {
    vs_store *st;
    vs_collection *c;
    vs_wal *w; /* NULL: log off */
    int nthreads;
    atomic_bool stop;
    atomic_uint_fast64_t done;
} run;

typedef struct worker {
    run *r;
    int id;
} worker;

static void *upsert_main(void *arg)
{
    worker *wk = arg;
    run *r = wk->r;
    uint64_t state = 0x9E3779B97F4A7C15ull * (uint64_t)(wk->id + 1);
    float *pool = malloc(POOL * APPEND_DIM * sizeof(float));
    vs_buf b = VS_BUF_INIT(1 << 20);
    unsigned span = APPEND_IDS / (unsigned)r->nthreads;
    uint64_t n = 0;
    char id[32], meta[32];

    if (!pool)
        die("out of memory");
    for (int i = 0; i < POOL; i++)
        random_vector(pool + i * APPEND_DIM, APPEND_DIM, &state);
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        unsigned k = (unsigned)(n % span) + (unsigned)wk->id * span;
        int il = snprintf(id, sizeof(id), "vec-%08u", k);
        int ml = snprintf(meta, sizeof(meta), "{\"n\":%u}", k);
        vs_record rec = {id, (size_t)il, pool + (n % POOL) * APPEND_DIM, meta,
                         (size_t)ml};
        uint64_t seq = 0;
        vs_store_wrlock(r->st);
        int error = vs_collection_upsert(r->c, &rec, 1);
        if (!error && r->w) {
            seq = vs_store_seq(r->st);
            vs_buf_reset(&b);
            error = vs_wal_encode_upsert(&b, seq, "bench", APPEND_DIM, &rec, 1);
            if (!error)
                error = vs_wal_write(r->w, b.ptr, b.len);
        }
        vs_store_unlock(r->st);
        if (!error && r->w)
            error = vs_wal_wait(r->w, seq);
        if (error)
            die("upsert");
        n++;
    }
    atomic_fetch_add(&r->done, n);
    vs_buf_dispose(&b);
    free(pool);
    return NULL;
}

typedef struct result {
    double rate, mbps, secs;
    uint64_t records, syncs, sync_max_us;
} result;

static result run_upserts(const char *root, int policy, int nthreads,
                          double seconds)
{
    run r;
    pthread_t t[MAX_THREADS];
    worker wk[MAX_THREADS];
    result res;
    char *dir = path_join(root, "append");
    vs_wal_stats s;
    uint64_t state = 42;

    memset(&r, 0, sizeof(r));
    memset(&res, 0, sizeof(res));
    memset(&s, 0, sizeof(s));
    r.nthreads = nthreads;
    if (vs_store_new(&r.st) < 0 ||
        vs_store_create(&r.c, r.st, "bench", APPEND_DIM, VS_METRIC_COSINE) < 0)
        die("store");
    /* pre-fill: every timed upsert replaces a record */
    {
        vs_record *recs = calloc(APPEND_IDS, sizeof(*recs));
        float *vec = malloc((size_t)APPEND_IDS * APPEND_DIM * sizeof(float));
        char(*ids)[16] = malloc((size_t)APPEND_IDS * 16);
        if (!recs || !vec || !ids)
            die("out of memory");
        for (unsigned k = 0; k < APPEND_IDS; k++) {
            int il = snprintf(ids[k], 16, "vec-%08u", k);
            random_vector(vec + (size_t)k * APPEND_DIM, APPEND_DIM, &state);
            recs[k].id = ids[k];
            recs[k].id_len = (size_t)il;
            recs[k].vector = vec + (size_t)k * APPEND_DIM;
        }
        if (vs_collection_upsert(r.c, recs, APPEND_IDS) < 0)
            die("pre-fill");
        free(recs);
        free(vec);
        free(ids);
    }
    if (policy != OFF && vs_wal_open(&r.w, dir, (vs_wal_fsync)policy, 0) < 0)
        die("wal open");

    double t0 = now_s();
    for (int i = 0; i < nthreads; i++) {
        wk[i].r = &r;
        wk[i].id = i;
        if (pthread_create(&t[i], NULL, upsert_main, &wk[i]) != 0)
            die("pthread_create");
    }
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&r.stop, true);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    res.secs = now_s() - t0;
    if (r.w) {
        vs_wal_stats_get(r.w, &s);
        vs_wal_close(r.w);
    }
    res.records = atomic_load(&r.done);
    res.rate = (double)res.records / res.secs;
    res.mbps = (double)s.bytes / MB / res.secs;
    res.syncs = s.syncs;
    res.sync_max_us = s.sync_max_us;
    vs_store_free(r.st);
    rm_dir(dir);
    free(dir);
    return res;
}

/* ---- 2. and 3. replay and start-up ---- */

/* A log in dir: (with create: a create at seq first) then n 1-record
 * upserts of ids vec-00000000 ... at the following seqs. */
static uint64_t write_log(const char *dir, uint64_t first, bool create,
                          uint64_t n, uint32_t dim, uint64_t seed)
{
    vs_wal *w = NULL;
    vs_buf b = VS_BUF_INIT(1 << 20);
    float *v = malloc(dim * sizeof(float));
    uint64_t state = seed, seq = first;
    char id[32], meta[48];
    vs_wal_stats s;

    if (!v || vs_wal_open(&w, dir, VS_WAL_FSYNC_NO, 0) < 0)
        die("wal open");
    if (create) {
        if (vs_wal_encode_create(&b, seq++, "bench", dim, VS_METRIC_COSINE) <
                0 ||
            vs_wal_append(w, b.ptr, b.len) < 0)
            die("wal create");
    }
    for (uint64_t i = 0; i < n; i++) {
        random_vector(v, dim, &state);
        int il = snprintf(id, sizeof(id), "vec-%08" PRIu64, i);
        int ml = snprintf(meta, sizeof(meta),
                          "{\"n\":%" PRIu64 ",\"tag\":"
                          "\"t%" PRIu64 "\"}",
                          i, i % 7);
        vs_record rec = {id, (size_t)il, v, meta, (size_t)ml};
        vs_buf_reset(&b);
        if (vs_wal_encode_upsert(&b, seq++, "bench", dim, &rec, 1) < 0 ||
            vs_wal_append(w, b.ptr, b.len) < 0)
            die("wal append");
    }
    vs_wal_stats_get(w, &s);
    vs_wal_close(w);
    vs_buf_dispose(&b);
    free(v);
    return s.bytes;
}

/* n x dim records at seq 2 (create at 1), saved to path; returns its seq. */
static uint64_t write_snapshot(const char *path, uint64_t n, uint32_t dim)
{
    vs_store *st = NULL;
    vs_collection *c = NULL;
    size_t batch = 4096;
    vs_record *recs = calloc(batch, sizeof(*recs));
    float *vec = malloc(batch * dim * sizeof(float));
    char(*ids)[32] = malloc(batch * 32);
    char(*metas)[48] = malloc(batch * 48);
    uint64_t state = 7;
    vs_save_options so = VS_SAVE_OPTIONS_INIT;

    if (!recs || !vec || !ids || !metas || vs_store_new(&st) < 0 ||
        vs_store_create(&c, st, "bench", dim, VS_METRIC_COSINE) < 0)
        die("snapshot store");
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < batch ? (size_t)(n - done) : batch;
        for (size_t i = 0; i < k; i++) {
            uint64_t j = done + i;
            random_vector(vec + i * dim, dim, &state);
            int il = snprintf(ids[i], 32, "vec-%08" PRIu64, j);
            int ml = snprintf(metas[i], 48,
                              "{\"n\":%" PRIu64 ",\"tag\":"
                              "\"t%" PRIu64 "\"}",
                              j, j % 7);
            recs[i] = (vs_record){ids[i], (size_t)il, vec + i * dim, metas[i],
                                  (size_t)ml};
        }
        if (vs_collection_load(c, recs, k, 2) < 0)
            die("snapshot load");
        done += k;
    }
    vs_store_set_seq(st, 2);
    if (vs_fmt_save_file(NULL, path, st, &so) < 0)
        die("snapshot save");
    vs_store_free(st);
    free(recs);
    free(vec);
    free(ids);
    free(metas);
    return 2;
}

static void target(const char *name, double got, double limit, const char *unit)
{
    bool pass = got <= limit;
    printf("TARGET %s: %.2f%s vs <= %.2f%s %s\n", name, got, unit, limit, unit,
           pass ? "PASS" : "FAIL");
    if (!pass)
        g_failed_targets++;
}

int main(int argc, char **argv)
{
    double seconds = getenv("VS_BENCH_QUICK") ? 0.3 : 1.0;
    uint64_t count = 100000;
    uint32_t dim = 384;
    const char *dir = NULL;
    char *own = NULL;
    static const struct option opts[] = {
        {"seconds", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"dir", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0}};
    int o;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            seconds = strtod(optarg, NULL);
            break;
        case 'n':
            count = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            dim = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'D':
            dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: bench_wal [--seconds S] [--count N] "
                            "[--dim D] [--dir DIR]\n");
            return 2;
        }
    }
    if (seconds <= 0 || count < 1 || dim < 1 || dim > VS_DIM_MAX)
        die("bad option");
    if (!dir) {
        const char *base = getenv("TMPDIR");
        own = path_join(base && *base ? base : "/tmp", "bench_wal-XXXXXX");
        if (!mkdtemp(own))
            die("mkdtemp");
        dir = own;
    }

    printf("== upserts: 1 record x %d dims, %.1f s per row ==\n", APPEND_DIM,
           seconds);
    printf("%-9s %7s %12s %9s %8s %10s\n", "policy", "threads", "records/s",
           "MB/s", "syncs", "sync max");
    static const int policies[] = {OFF, VS_WAL_FSYNC_NO, VS_WAL_FSYNC_EVERYSEC,
                                   VS_WAL_FSYNC_ALWAYS};
    static const int threads[] = {1, 8};
    double off_rate[2] = {0, 0}, everysec_rate[2] = {0, 0};
    for (size_t p = 0; p < 4; p++)
        for (size_t t = 0; t < 2; t++) {
            result r = run_upserts(dir, policies[p], threads[t], seconds);
            const char *name =
                policies[p] == OFF
                    ? "off"
                    : vs_wal_fsync_name((vs_wal_fsync)policies[p]);
            printf("%-9s %7d %12.0f %9.1f %8" PRIu64 " %8.2fms\n", name,
                   threads[t], r.rate, r.mbps, r.syncs,
                   (double)r.sync_max_us / 1000.0);
            if (policies[p] == OFF)
                off_rate[t] = r.rate;
            if (policies[p] == VS_WAL_FSYNC_EVERYSEC)
                everysec_rate[t] = r.rate;
        }

    printf("\n== replay: create + %" PRIu64 " upserts x %u dims ==\n", count,
           dim);
    char *logdir = path_join(dir, "replay");
    uint64_t bytes = write_log(logdir, 1, true, count, dim, 11);
    vs_store *st = NULL;
    vs_wal_replay_info info;
    if (vs_store_new(&st) < 0)
        die("store");
    double t0 = now_s();
    if (vs_wal_replay(&info, st, logdir, 0, 0) < 0)
        die("replay");
    double replay_s = now_s() - t0;
    if (info.records != count + 1 ||
        vs_collection_count(vs_store_find(st, "bench")) != count)
        die("replay applied %" PRIu64 " records", info.records);
    printf("log %.1f MB: %.3f s, %.0f records/s, %.0f MB/s\n", bytes / MB,
           replay_s, (double)info.records / replay_s, bytes / MB / replay_s);
    vs_store_free(st);
    rm_dir(logdir);
    free(logdir);

    printf("\n== start-up: snapshot of %" PRIu64 " x %u + log of %" PRIu64
           " upserts ==\n",
           count, dim, count);
    char *snap = path_join(dir, "snap.vsnap");
    logdir = path_join(dir, "startup");
    uint64_t snap_seq = write_snapshot(snap, count, dim);
    write_log(logdir, snap_seq + 1, false, count, dim, 13);
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_file_info fi;
    st = NULL;
    t0 = now_s();
    if (vs_fmt_load_file(&st, &fi, snap, &lo) < 0)
        die("snapshot load");
    double load_s = now_s() - t0;
    if (vs_wal_replay(&info, st, logdir, fi.seq, 0) < 0)
        die("replay after the snapshot");
    double total_s = now_s() - t0;
    if (info.records != count || vs_store_seq(st) != snap_seq + count)
        die("start-up applied %" PRIu64 " records", info.records);
    printf("load %.3f s + replay %.3f s = %.3f s\n", load_s, total_s - load_s,
           total_s);
    vs_store_free(st);
    unlink(snap);
    rm_dir(logdir);
    free(logdir);
    free(snap);

    printf("\n");
    for (int t = 0; t < 2; t++)
        printf("INFO everysec_vs_off_%dt: %.1f%% of the log-off rate; the "
               "log adds %.2f us per upsert\n",
               threads[t], 100.0 * everysec_rate[t] / off_rate[t],
               1e6 / everysec_rate[t] - 1e6 / off_rate[t]);
    target("startup", total_s, 2.0, " s");
    if (own) {
        rm_dir(own);
        free(own);
    }
    printf("%d target(s) failed\n", g_failed_targets);
    return 0;
}
