/*
 * bench_incr: what an incremental snapshot costs next to a full one.  It
 * builds a store (1,000,000 x 128 by default), saves it whole (binary,
 * vs_fmt_save_file: encode, SHA-256, write, fsync, rename), changes a
 * fraction of it (1 %: that many random existing ids upserted with new
 * vectors), saves the changes since the full save (an incremental binary
 * document, the same call), and compares bytes and times.  Then it rebuilds
 * the store from the two files (the full one loaded, the incremental one
 * applied to it) and checks it equals the live store bit for bit.  It ends
 * with one line per target:
 *   TARGET <name>: <measured> vs <limit> PASS|FAIL
 *
 * Options: --count N (1000000; 100000 with VS_BENCH_QUICK=1), --dim D
 * (128), --change F (0.01), --repeat R (3: every time is the best of R),
 * --compression C (none), --dir DIR (a fresh directory under /tmp, removed
 * at the end).  Targets (issue 5): incremental bytes <= 2 % and time <=
 * 10 % of the full save's.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BENCH_NAME "bench_incr"
#include "bench_util.h"
#include "fmt.h"
#include "snapshot.h"
#include "store.h"

#define BYTES_LIMIT 0.02
#define TIME_LIMIT 0.10
#define BATCH 1000

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static float rand_float(uint64_t *s)
{
    return (float)((double)(next_rand(s) >> 40) / (double)(1ull << 23) - 1.0);
}

/* Upsert the records ids[0..n) (indexes into "vec-%08d") with fresh
 * vectors and metadata {"n":k,"v":version}. */
static void put(vs_collection *c, const uint64_t *keys, size_t n, uint32_t dim,
                uint64_t *state, unsigned version)
{
    vs_record *recs = calloc(BATCH, sizeof(*recs));
    float *vecs = malloc((size_t)BATCH * dim * sizeof(float));
    char (*ids)[24] = malloc(BATCH * sizeof(*ids));
    char (*meta)[48] = malloc(BATCH * sizeof(*meta));
    if (!recs || !vecs || !ids || !meta)
        die("out of memory");
    for (size_t done = 0; done < n;) {
        size_t b = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < b; i++) {
            uint64_t k = keys ? keys[done + i] : done + i;
            float *v = vecs + i * dim;
            for (uint32_t d = 0; d < dim; d++)
                v[d] = rand_float(state);
            int il = snprintf(ids[i], sizeof(ids[i]), "vec-%08" PRIu64, k);
            int ml = snprintf(meta[i], sizeof(meta[i]),
                              "{\"n\":%" PRIu64 ",\"v\":%u}", k, version);
            recs[i] = (vs_record){ids[i], (size_t)il, v, meta[i], (size_t)ml};
        }
        if (vs_collection_upsert(c, recs, b) < 0)
            die("upsert");
        done += b;
    }
    free(recs);
    free(vecs);
    free(ids);
    free(meta);
}

/* `n` distinct keys below `count`, in random order (partial shuffle). */
static uint64_t *pick(uint64_t count, size_t n, uint64_t *state)
{
    uint64_t *all = malloc(count * sizeof(*all));
    if (!all)
        die("out of memory");
    for (uint64_t i = 0; i < count; i++)
        all[i] = i;
    for (size_t i = 0; i < n; i++) {
        uint64_t j = i + next_rand(state) % (count - i);
        uint64_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    return all;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        die("cannot stat %s", path);
    return (uint64_t)sb.st_size;
}

/* Best of `repeat` saves to `path`. */
static double time_save(const char *path, vs_store *st,
                        const vs_save_options *o, int repeat)
{
    double best = 0;
    for (int r = 0; r < repeat; r++) {
        double t0 = now_s();
        if (vs_fmt_save_file(NULL, path, st, o) < 0)
            die("save %s", path);
        double t = now_s() - t0;
        if (r == 0 || t < best)
            best = t;
    }
    return best;
}

/* Best of `repeat` catalog snapshots (the whole commit: data file,
 * SHA256SUMS, manifest, directory renames, fsyncs); the last one's
 * manifest into *out (dispose it). */
static double time_snapshot(vs_snapshot *out, vs_catalog *cat, vs_store *st,
                            const vs_save_options *o, int repeat)
{
    double best = 0;
    for (int r = 0; r < repeat; r++) {
        if (r > 0)
            vs_snapshot_dispose(out);
        double t0 = now_s();
        if (vs_catalog_create(out, cat, st, NULL, o) < 0)
            die("snapshot");
        double t = now_s() - t0;
        if (r == 0 || t < best)
            best = t;
    }
    return best;
}

/* Same collections, same records by id (vector bits, metadata), same seq. */
static bool equal(const vs_store *a, const vs_store *b)
{
    if (vs_store_seq(a) != vs_store_seq(b) ||
        vs_store_ncollections(a) != vs_store_ncollections(b))
        return false;
    for (size_t i = 0; i < vs_store_ncollections(a); i++) {
        const vs_collection *ca = vs_store_at(a, i);
        const vs_collection *cb = vs_store_find(b, vs_collection_name(ca));
        if (!cb || vs_collection_count(ca) != vs_collection_count(cb) ||
            vs_collection_dimension(ca) != vs_collection_dimension(cb) ||
            vs_collection_metric(ca) != vs_collection_metric(cb))
            return false;
        size_t vbytes = vs_collection_dimension(ca) * sizeof(float);
        for (size_t s = 0; s < vs_collection_count(ca); s++) {
            vs_record ra, rb;
            vs_collection_slot(&ra, ca, s);
            if (vs_collection_get(&rb, cb, ra.id, ra.id_len) < 0 ||
                memcmp(ra.vector, rb.vector, vbytes) != 0 ||
                ra.metadata_len != rb.metadata_len ||
                memcmp(ra.metadata, rb.metadata, ra.metadata_len) != 0)
                return false;
        }
    }
    return true;
}

static int g_failed;

/* `judged` false: below the size the target is for, fixed costs (an fsync,
 * a rename) dominate; the figure is shown, not judged. */
static void target(const char *name, double got, double limit, bool judged)
{
    bool ok = got <= limit;
    printf("TARGET %s: %.2f%% vs <= %.0f%% %s\n", name, got * 100,
           limit * 100, !judged ? "SKIP (below 1000000 records)"
                        : ok    ? "PASS"
                                : "FAIL");
    g_failed += judged && !ok;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"change", required_argument, NULL, 'c'},
        {"repeat", required_argument, NULL, 'r'},
        {"compression", required_argument, NULL, 'z'},
        {"dir", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0}};
    uint64_t count = getenv("VS_BENCH_QUICK") ? 100000 : 1000000;
    uint32_t dim = 128;
    double change = 0.01;
    int repeat = 3, c;
    const char *dir = NULL;
    char own[] = "/tmp/bench_incr-XXXXXX";
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'n':
            count = strtoull(optarg, &end, 10);
            break;
        case 'd':
            dim = (uint32_t)strtoul(optarg, &end, 10);
            break;
        case 'c':
            change = strtod(optarg, &end);
            break;
        case 'r':
            repeat = (int)strtol(optarg, &end, 10);
            break;
        case 'z':
            if (vs_codec_parse(&o.codec, optarg) < 0 ||
                o.codec == VS_CODEC_AUTO)
                die("bad --compression '%s'", optarg);
            end = optarg + strlen(optarg);
            break;
        case 'D':
            dir = optarg;
            end = optarg + strlen(optarg);
            break;
        default:
            return 2;
        }
        if (!end || *end || count < 1 || dim < 1 || dim > VS_DIM_MAX ||
            change <= 0 || change > 1 || repeat < 1)
            die("bad option value '%s'", optarg);
    }
    if (vs_checksum_global_init() < 0)
        die("init");
    if (!dir) {
        if (!mkdtemp(own))
            die("cannot create a directory under /tmp");
        dir = own;
    }
    char *full_path = path_join(dir, "full.vsnap");
    char *incr_path = path_join(dir, "incr.vsnap");
    size_t nchange = (size_t)((double)count * change);
    if (nchange < 1)
        nchange = 1;

    vs_store *st = NULL;
    vs_collection *col = NULL;
    uint64_t state = 1;
    if (vs_store_new(&st) < 0 ||
        vs_store_create(&col, st, "bench", dim, VS_METRIC_COSINE) < 0)
        die("store");
    double t0 = now_s();
    put(col, NULL, count, dim, &state, 0);
    printf("store: %" PRIu64 " x %u, %.1f MB, built in %.2f s\n", count, dim,
           (double)vs_store_bytes(st) / (1 << 20), now_s() - t0);

    char *data = path_join(dir, "data");
    vs_catalog *cat = NULL;
    vs_snapshot fs, is;
    if (vs_catalog_open(&cat, data) < 0)
        die("catalog %s", data);
    double full_s = time_save(full_path, st, &o, repeat);
    uint64_t full_bytes = file_size(full_path);
    double snap_full_s = time_snapshot(&fs, cat, st, &o, repeat);
    if (vs_catalog_set_current(cat, fs.id) < 0)
        die("CURRENT");
    uint64_t since = vs_store_seq(st);

    uint64_t *keys = pick(count, nchange, &state);
    t0 = now_s();
    put(col, keys, nchange, dim, &state, 1);
    printf("changed: %zu records (%.2f %%) in %.2f s\n", nchange,
           change * 100, now_s() - t0);
    free(keys);

    vs_save_options io = o;
    io.incremental = true;
    io.since_seq = since;
    double incr_s = time_save(incr_path, st, &io, repeat);
    uint64_t incr_bytes = file_size(incr_path);
    double snap_incr_s = time_snapshot(&is, cat, st, &io, repeat);

    printf("%-22s %12s %10s\n", "", "bytes", "seconds");
    printf("%-22s %12" PRIu64 " %10.4f\n", "file, full", full_bytes, full_s);
    printf("%-22s %12" PRIu64 " %10.4f\n", "file, incremental", incr_bytes,
           incr_s);
    printf("%-22s %12" PRIu64 " %10.4f\n", "snapshot, full", fs.bytes,
           snap_full_s);
    printf("%-22s %12" PRIu64 " %10.4f\n", "snapshot, incremental",
           is.bytes, snap_incr_s);

    /* The chain restored: the full file loaded, the changes applied. */
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    vs_store *back = NULL, *none = NULL;
    t0 = now_s();
    if (vs_fmt_load_file(&back, NULL, full_path, &lo) < 0)
        die("load %s", full_path);
    double load_s = now_s() - t0;
    lo.apply_to = back;
    t0 = now_s();
    if (vs_fmt_load_file(&none, NULL, incr_path, &lo) < 0)
        die("apply %s", incr_path);
    double apply_s = now_s() - t0;
    bool same = equal(st, back) && equal(back, st);
    printf("restore: full load %.3f s, changes applied %.3f s: %s\n", load_s,
           apply_s, same ? "equal to the live store" : "DIFFERENT");

    /* The chain through the catalog too: every link checked, then built. */
    vs_store *chain = NULL;
    t0 = now_s();
    if (vs_catalog_load(&chain, NULL, cat, is.id, NULL, NULL) < 0)
        die("load the chain");
    double chain_s = now_s() - t0;
    same = same && equal(st, chain) && equal(chain, st);
    printf("restore of the catalog chain (verified, then built): %.3f s: %s\n",
           chain_s, same ? "equal" : "DIFFERENT");
    vs_store_free(chain);

    bool judged = count >= 1000000;
    target("incremental_bytes", (double)is.bytes / (double)fs.bytes,
           BYTES_LIMIT, true);
    target("incremental_time", snap_incr_s / snap_full_s, TIME_LIMIT, judged);
    printf("TARGET chain_restore_equal: %s vs equal %s\n",
           same ? "equal" : "different", same ? "PASS" : "FAIL");
    g_failed += !same;

    vs_store_free(back);
    vs_store_free(st);
    unlink(full_path);
    unlink(incr_path);
    /* the catalog's snapshots: the links first (they depend on the base) */
    vs_snapshot *all = NULL;
    size_t n = 0;
    if (vs_catalog_list(&all, &n, cat) < 0)
        die("list");
    for (size_t i = n; i-- > 0;)
        if (vs_catalog_delete(cat, all[i].id) < 0)
            die("delete %s", all[i].id);
    vs_snapshot_list_free(all, n);
    vs_snapshot_dispose(&fs);
    vs_snapshot_dispose(&is);
    vs_catalog_free(cat);
    char *sub[] = {"snapshots", "tmp", "CURRENT", "LOCK"};
    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        char *p = path_join(data, sub[i]);
        if (remove(p) < 0)
            die("cannot remove %s", p);
        free(p);
    }
    rmdir(data);
    free(data);
    if (dir == own)
        rmdir(own);
    free(full_path);
    free(incr_path);

    printf("%d target(s) failed\n", g_failed);
    return 0;
}
