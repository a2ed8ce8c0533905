/*
 * bench_persist: how fast and how lean saving and loading a whole store is,
 * measured against what the same bytes cost without us.  For each format x
 * codec it times a save (vs_fmt_save_file) and a fully verified load
 * (vs_fmt_load_file), records the peak RSS each one adds, and beside them
 * measures in the same run, on the same bytes: write+fsync of the file, a
 * read of it, SHA-256 over it and the raw codec alone on the uncompressed
 * document.  It ends with one line per target:
 *   TARGET <name>: <measured> vs <limit> PASS|FAIL
 * bench/README.md defines every number and every target.
 *
 * The data follows `vecsnap generate`: xorshift floats in [-1, 1), ids
 * "vec-%08d", metadata {"n":k,"tag":"..."}.  MB means 2^20 bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_persist"
#include "bench_util.h"
#include "checksum.h"
#include "codec.h"
#include "fmt.h"
#include "fsutil.h"
#include "store.h"
#include "stream.h"

#define MB ((double)(1u << 20))
#define CHUNK ((size_t)1 << 20)
#define MEM_SLACK ((uint64_t)64 << 20)
#define REF_CELLS (100000.0 * 384.0) /* the size the json limits are for */
#define JSON_LIMIT_S 1.5
#define IO_FACTOR 1.5
#define CODEC_OVERHEAD 0.15
#define MAX_LIST 4

typedef struct config {
    uint64_t count;
    uint32_t dim;
    const char *dir;
    vs_format_id formats[MAX_LIST];
    size_t nformats;
    vs_codec_id codecs[MAX_LIST];
    size_t ncodecs;
    int level; /* -1: each codec's default */
    int repeat;
    bool scale;
    bool cold;
    bool keep; /* leave the saved files in dir */
} config;

/* One format x codec: what the pipeline did and what the bytes cost raw. */
typedef struct row {
    vs_format_id format;
    vs_codec_id codec;
    double save_s, load_s;
    uint64_t file_bytes;
    uint64_t save_store, load_store; /* vs_store_bytes around each op */
    int64_t save_peak, load_peak;    /* bytes above the pre-op RSS; -1 n/a */
    double write_s, read_s, sha_s;
    double comp_s, decomp_s;         /* raw codec; 0 for none */
    uint64_t doc_bytes;              /* uncompressed document */
    bool roundtrip_ok;
} row;

static bool g_clear_refs = true;
static int g_failed_targets;
static const char *g_own_dir; /* our mkdtemp directory, removed at exit */
static const char *g_tmpdir;  /* work files (sqlite staging) go to --dir */

/* ---- small utilities ---- */

/* A value from /proc/self/status in bytes ("VmRSS", "VmHWM"); 0 if absent. */
static uint64_t proc_status(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t klen = strlen(key);
    uint64_t kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            kb = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

/* Start a peak-RSS window: hand freed heap back to the OS (so the baseline
 * is honest), reset the high-water mark, return the RSS the window starts
 * from. */
static uint64_t mem_begin(void)
{
    malloc_trim(0);
    if (g_clear_refs) {
        FILE *f = fopen("/proc/self/clear_refs", "w");
        if (!f || fputs("5", f) < 0)
            g_clear_refs = false;
        if (f && fclose(f) != 0)
            g_clear_refs = false;
    }
    return proc_status("VmRSS");
}

/* Bytes the peak rose above `base` since mem_begin; -1 when unknown. */
static int64_t mem_peak(uint64_t base)
{
    if (!g_clear_refs)
        return -1;
    uint64_t hwm = proc_status("VmHWM");
    return hwm > base ? (int64_t)(hwm - base) : 0;
}

static uint64_t rand_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* The store `vecsnap generate --metadata --seed 1` builds, collection
 * "bench". */
static vs_store *generate(uint64_t count, uint32_t dim)
{
    static const char *const tags[] = {"news", "docs", "code", "chat", "web"};
    const size_t batch = 1024;
    vs_store *st = NULL;
    vs_collection *col = NULL;
    vs_record *recs = calloc(batch, sizeof(*recs));
    float *vecs = malloc(batch * (size_t)dim * sizeof(float));
    char *ids = malloc(batch * 32);
    char *metas = malloc(batch * 64);
    if (!recs || !vecs || !ids || !metas)
        die("out of memory");
    if (vs_store_new(&st) < 0 ||
        vs_store_create(&col, st, "bench", dim, VS_METRIC_COSINE) < 0 ||
        vs_collection_reserve(col, (size_t)count) < 0)
        die("cannot create the store");
    uint64_t state = 1 * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    for (uint64_t done = 0; done < count;) {
        size_t n = count - done < batch ? (size_t)(count - done) : batch;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = done + i;
            float *v = vecs + i * dim;
            for (uint32_t d = 0; d < dim; d++)
                v[d] = (float)((double)(rand_next(&state) >> 40) /
                                   (double)(1ull << 23) -
                               1.0);
            int il = snprintf(ids + i * 32, 32, "vec-%08" PRIu64, k);
            int ml = snprintf(metas + i * 64, 64,
                              "{\"n\":%" PRIu64 ",\"tag\":\"%s\"}", k,
                              tags[k % 5]);
            recs[i] = (vs_record){.id = ids + i * 32,
                                  .id_len = (size_t)il,
                                  .vector = v,
                                  .metadata = metas + i * 64,
                                  .metadata_len = (size_t)ml};
        }
        if (vs_collection_upsert(col, recs, n) < 0)
            die("generating records");
        done += n;
    }
    free(recs);
    free(vecs);
    free(ids);
    free(metas);
    return st;
}

/* SHA-256 over everything a store holds, in slot order: two stores with the
 * same digest hold the same bits. */
static void store_digest(uint8_t out[VS_SHA256_LEN], const vs_store *st)
{
    vs_sha256 *h = NULL;
    if (vs_sha256_new(&h) < 0)
        die("sha256");
    for (size_t i = 0; i < vs_store_ncollections(st); i++) {
        const vs_collection *c = vs_store_at(st, i);
        uint64_t head[3] = {vs_collection_dimension(c),
                            (uint64_t)vs_collection_metric(c),
                            vs_collection_count(c)};
        const char *name = vs_collection_name(c);
        vs_sha256_update(h, name, strlen(name) + 1);
        vs_sha256_update(h, head, sizeof(head));
        for (size_t s = 0; s < vs_collection_count(c); s++) {
            vs_record r;
            vs_collection_slot(&r, c, s);
            uint64_t lens[2] = {r.id_len, r.metadata_len};
            vs_sha256_update(h, lens, sizeof(lens));
            vs_sha256_update(h, r.id, r.id_len);
            vs_sha256_update(h, r.metadata, r.metadata_len);
        }
        vs_sha256_update(h, vs_collection_vectors(c),
                         vs_collection_count(c) *
                             vs_collection_dimension(c) * sizeof(float));
    }
    vs_sha256_final(h, out);
    vs_sha256_free(h);
}

static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* Read a whole file into *buf (grown as needed). */
static size_t read_file(char **buf, size_t *alloc, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0)
        die("cannot open '%s': %s", path, strerror(errno));
    size_t size = (size_t)sb.st_size, got = 0;
    if (size + 1 > *alloc) {
        free(*buf);
        *buf = malloc(size + 1);
        if (!*buf)
            die("out of memory");
        *alloc = size + 1;
    }
    while (got < size) {
        ssize_t r = read(fd, *buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("cannot read '%s'", path);
        got += (size_t)r;
    }
    close(fd);
    return size;
}

static double min_d(double a, double b)
{
    return a < b ? a : b;
}

static int64_t max_i(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* ---- baselines ---- */

static double time_write_fsync(const char *dir, const char *data, size_t n)
{
    char *path = path_join(dir, "baseline.tmp");
    double t0 = now_s();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || vs_fs_write_full(fd, data, n) < 0 || fsync(fd) < 0)
        die("baseline write of '%s'", path);
    close(fd);
    double t = now_s() - t0;
    unlink(path);
    free(path);
    return t;
}

/* Decompress data[0..n) through the codec reader, appending to `doc` when
 * it is not NULL, else discarding chunk by chunk. */
static double run_decompress(vs_buf *doc, vs_codec_id id, const char *data,
                             size_t n, char *scratch)
{
    vs_stream *mem = NULL, *dec = NULL;
    double t0 = now_s();
    if (vs_stream_mem_reader_new(&mem, data, n) < 0 ||
        vs_codec_reader_new(&dec, mem, id, 0) < 0)
        die("codec reader");
    for (;;) {
        size_t got;
        if (vs_stream_read(dec, scratch, CHUNK, &got) < 0)
            die("raw decompress");
        if (got == 0)
            break;
        if (doc && vs_buf_put(doc, scratch, got) < 0)
            die("raw decompress");
    }
    double t = now_s() - t0;
    vs_stream_free(dec);
    vs_stream_free(mem);
    return t;
}

/* Compress doc into a pre-faulted buffer, 1 MiB writes like the pipeline. */
static double run_compress(vs_codec_id id, int level, const vs_buf *doc,
                           size_t expect)
{
    vs_buf out = VS_BUF_INIT(SIZE_MAX / 2);
    vs_stream *mem = NULL, *enc = NULL;
    if (vs_buf_reserve(&out, expect + expect / 4 + CHUNK) < 0)
        die("out of memory");
    memset(out.ptr, 0, out.alloc);
    double t0 = now_s();
    if (vs_stream_mem_writer_new(&mem, &out) < 0 ||
        vs_codec_writer_new(&enc, mem, id, level) < 0)
        die("codec writer");
    for (size_t off = 0; off < doc->len; off += CHUNK) {
        size_t n = doc->len - off < CHUNK ? doc->len - off : CHUNK;
        if (vs_stream_write(enc, doc->ptr + off, n) < 0)
            die("raw compress");
    }
    if (vs_stream_finish(enc) < 0)
        die("raw compress");
    double t = now_s() - t0;
    vs_stream_free(enc);
    vs_stream_free(mem);
    vs_buf_dispose(&out);
    return t;
}

static void measure_baselines(row *r, const config *cfg, const char *path)
{
    char *file = NULL, *scratch = malloc(CHUNK);
    size_t alloc = 0;
    if (!scratch)
        die("out of memory");
    size_t n = read_file(&file, &alloc, path);
    r->write_s = r->read_s = r->sha_s = 1e30;
    r->comp_s = r->decomp_s = 1e30;
    r->doc_bytes = n;
    for (int i = 0; i < cfg->repeat; i++) {
        uint8_t digest[VS_SHA256_LEN];
        double t0 = now_s();
        if (vs_sha256_buffer(digest, file, n) < 0)
            die("sha256");
        r->sha_s = min_d(r->sha_s, now_s() - t0);
        r->write_s = min_d(r->write_s, time_write_fsync(cfg->dir, file, n));
        if (cfg->cold)
            drop_cache(path);
        t0 = now_s();
        read_file(&file, &alloc, path);
        r->read_s = min_d(r->read_s, now_s() - t0);
    }
    if (r->codec != VS_CODEC_NONE) {
        int level;
        vs_buf doc = VS_BUF_INIT(SIZE_MAX / 2);
        if (vs_codec_check_level(&level, r->codec, cfg->level) < 0)
            die("level");
        run_decompress(&doc, r->codec, file, n, scratch); /* also warm-up */
        r->doc_bytes = doc.len;
        for (int i = 0; i < cfg->repeat; i++) {
            r->decomp_s = min_d(r->decomp_s, run_decompress(NULL, r->codec,
                                                           file, n, scratch));
            r->comp_s = min_d(r->comp_s, run_compress(r->codec, level, &doc,
                                                      n));
        }
        vs_buf_dispose(&doc);
    } else {
        r->comp_s = r->decomp_s = 0;
    }
    free(file);
    free(scratch);
}

/* ---- one format x codec ---- */

static void file_name(char *out, size_t n, vs_format_id f, vs_codec_id c)
{
    snprintf(out, n, "bench%s%s", vs_format_suffix(f),
             vs_codec_info_of(c)->suffix);
}

static void save_once(const char *path, vs_store *st, vs_format_id f,
                      vs_codec_id c, int level, vs_file_info *info)
{
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.tmpdir = g_tmpdir;
    so.format = f;
    so.codec = c;
    so.level = level;
    if (vs_fmt_save_file(info, path, st, &so) < 0)
        die("save %s/%s", vs_format_name(f), vs_codec_info_of(c)->name);
}

/* Saves, measures baselines, frees *stp, loads the file back into *stp. */
static void run_row(row *r, vs_store **stp, const config *cfg)
{
    char name[64];
    file_name(name, sizeof(name), r->format, r->codec);
    char *path = path_join(cfg->dir, name);
    vs_file_info info;
    const char *label = vs_codec_info_of(r->codec)->name;

    r->save_s = r->load_s = 1e30;
    r->save_peak = r->load_peak = 0;
    r->save_store = vs_store_bytes(*stp);
    for (int i = 0; i < cfg->repeat; i++) {
        uint64_t base = mem_begin();
        double t0 = now_s();
        save_once(path, *stp, r->format, r->codec, cfg->level, &info);
        r->save_s = min_d(r->save_s, now_s() - t0);
        r->save_peak = max_i(r->save_peak, mem_peak(base));
    }
    r->file_bytes = info.bytes;
    measure_baselines(r, cfg, path);

    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    uint64_t records = vs_store_nrecords(*stp);
    store_digest(want, *stp);
    for (int i = 0; i < cfg->repeat; i++) {
        vs_load_options lo = VS_LOAD_OPTIONS_INIT;
        lo.tmpdir = g_tmpdir;
        vs_store_free(*stp);
        *stp = NULL;
        if (cfg->cold)
            drop_cache(path);
        uint64_t base = mem_begin();
        double t0 = now_s();
        if (vs_fmt_load_file(stp, &info, path, &lo) < 0)
            die("load %s/%s", vs_format_name(r->format), label);
        r->load_s = min_d(r->load_s, now_s() - t0);
        r->load_peak = max_i(r->load_peak, mem_peak(base));
    }
    r->load_store = vs_store_bytes(*stp);
    store_digest(got, *stp);
    r->roundtrip_ok = memcmp(want, got, sizeof(want)) == 0 &&
                      info.content_verified && info.records == records &&
                      vs_store_nrecords(*stp) == records;
    if (!cfg->keep)
        unlink(path);
    free(path);
}

/* ---- output ---- */

static void print_mem(int64_t v)
{
    if (v < 0)
        printf(" %11s", "n/a");
    else
        printf(" %11.1f", (double)v / MB);
}

static void print_tables(const row *rows, size_t n)
{
    printf("\n%-7s %-7s %8s %8s %9s %9s %9s %11s %11s  %s\n", "format",
           "codec", "save s", "load s", "save MB/s", "load MB/s", "file MB",
           "save +RSS MB", "load RSS MB", "roundtrip");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("%-7s %-7s %8.3f %8.3f %9.1f %9.1f %9.1f",
               vs_format_name(r->format), vs_codec_info_of(r->codec)->name,
               r->save_s, r->load_s, (double)r->save_store / MB / r->save_s,
               (double)r->load_store / MB / r->load_s,
               (double)r->file_bytes / MB);
        print_mem(r->save_peak);
        print_mem(r->load_peak);
        printf("  %s\n", r->roundtrip_ok ? "ok" : "MISMATCH");
    }
    printf("\nbaselines on the same bytes (read is %s):\n",
           "from the page cache unless --cold");
    printf("%-7s %-7s %9s %9s %13s %9s %9s %11s %13s\n", "format", "codec",
           "file MB", "doc MB", "write+fsync s", "read s", "sha256 s",
           "compress s", "decompress s");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("%-7s %-7s %9.1f %9.1f %13.3f %9.3f %9.3f",
               vs_format_name(r->format), vs_codec_info_of(r->codec)->name,
               (double)r->file_bytes / MB, (double)r->doc_bytes / MB,
               r->write_s, r->read_s, r->sha_s);
        if (r->codec == VS_CODEC_NONE)
            printf(" %11s %13s\n", "-", "-");
        else
            printf(" %11.3f %13.3f\n", r->comp_s, r->decomp_s);
    }
}

static void target(const char *name, bool pass, const char *fmt, ...)
    VS_FMT_PRINTF(3, 4);

static void target(const char *name, bool pass, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("TARGET %s: ", name);
    vprintf(fmt, ap);
    printf(" %s\n", pass ? "PASS" : "FAIL");
    va_end(ap);
    if (!pass)
        g_failed_targets++;
}

static void memory_targets(const row *r, const char *label)
{
    char name[96];
    if (r->save_peak < 0 || r->load_peak < 0) {
        printf("TARGET memory %s: n/a (/proc/self/clear_refs unusable) "
               "SKIP\n", label);
        return;
    }
    snprintf(name, sizeof(name), "memory save %s", label);
    target(name, (uint64_t)r->save_peak <= MEM_SLACK,
           "peak RSS store + %.1f MB vs store + %.0f MB",
           (double)r->save_peak / MB, (double)MEM_SLACK / MB);
    snprintf(name, sizeof(name), "memory load %s", label);
    target(name, (uint64_t)r->load_peak <= r->load_store + MEM_SLACK,
           "peak RSS %.1f MB vs %.1f MB (store %.1f + %.0f)",
           (double)r->load_peak / MB,
           (double)(r->load_store + MEM_SLACK) / MB,
           (double)r->load_store / MB, (double)MEM_SLACK / MB);
}

/* What the codec stage adds to the pipeline, against the codec alone: the
 * compressed save minus the same format's uncompressed save (same run, so
 * encoding, hashing, writing and fsync cancel out) must be at most 1.15 x
 * the raw codec's time on the same document; likewise for loads. */
static void codec_targets(const row *r, const row *plain, const char *label)
{
    char name[96];
    double sa = r->save_s - plain->save_s, la = r->load_s - plain->load_s;
    double sl = (1 + CODEC_OVERHEAD) * r->comp_s;
    double ll = (1 + CODEC_OVERHEAD) * r->decomp_s;
    snprintf(name, sizeof(name), "%s save codec stage", label);
    target(name, sa <= sl,
           "%.3f s - uncompressed %.3f s = %.3f s vs 1.15 x raw compress "
           "%.3f s = %.3f s",
           r->save_s, plain->save_s, sa, r->comp_s, sl);
    snprintf(name, sizeof(name), "%s load codec stage", label);
    target(name, la <= ll,
           "%.3f s - uncompressed %.3f s = %.3f s vs 1.15 x raw decompress "
           "%.3f s = %.3f s",
           r->load_s, plain->load_s, la, r->decomp_s, ll);
}

static const row *find_row(const row *rows, size_t n, vs_format_id f,
                           vs_codec_id c)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].format == f && rows[i].codec == c)
            return &rows[i];
    return NULL;
}

/* binary/none against the raw cost of its bytes. */
static void io_targets(const row *r, const char *label)
{
    char name[96];
    double ws = r->write_s + r->sha_s, rs = r->read_s + r->sha_s;
    snprintf(name, sizeof(name), "%s save", label);
    target(name, r->save_s <= IO_FACTOR * ws,
           "%.3f s vs %.3f s (1.5 x (write+fsync %.3f + sha256 %.3f))",
           r->save_s, IO_FACTOR * ws, r->write_s, r->sha_s);
    snprintf(name, sizeof(name), "%s load", label);
    target(name, r->load_s <= IO_FACTOR * rs,
           "%.3f s vs %.3f s (1.5 x (read %.3f + sha256 %.3f))", r->load_s,
           IO_FACTOR * rs, r->read_s, r->sha_s);
}

static void print_targets(const row *rows, size_t n, const config *cfg)
{
    double scale = (double)cfg->count * cfg->dim / REF_CELLS;
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        char label[48];
        snprintf(label, sizeof(label), "%s/%s", vs_format_name(r->format),
                 vs_codec_info_of(r->codec)->name);
        target(label, r->roundtrip_ok, "roundtrip %s vs bit-exact",
               r->roundtrip_ok ? "bit-exact" : "MISMATCH");
        if (r->format == VS_FORMAT_BIN && r->codec == VS_CODEC_NONE)
            io_targets(r, "binary/none");
        if (r->format == VS_FORMAT_JSON && r->codec == VS_CODEC_NONE) {
            double lim = JSON_LIMIT_S * scale;
            target("json/none save", r->save_s <= lim, "%.3f s vs %.3f s%s",
                   r->save_s, lim, scale != 1.0 ? " (scaled by N*D)" : "");
            target("json/none load", r->load_s <= lim, "%.3f s vs %.3f s%s",
                   r->load_s, lim, scale != 1.0 ? " (scaled by N*D)" : "");
        }
        const row *plain = find_row(rows, n, r->format, VS_CODEC_NONE);
        if (r->codec != VS_CODEC_NONE && plain)
            codec_targets(r, plain, label);
        else if (r->codec != VS_CODEC_NONE)
            printf("TARGET %s codec stage: needs the uncompressed run of the "
                   "same format (add none to --codecs) SKIP\n",
                   label);
        memory_targets(r, label);
    }
}

/* ---- the two modes ---- */

static void run_matrix(const config *cfg)
{
    row rows[MAX_LIST * MAX_LIST];
    size_t nrows = 0;
    double t0 = now_s();
    vs_store *st = generate(cfg->count, cfg->dim);
    printf("store: %" PRIu64 " x %u, %.1f MB, generated in %.2f s\n",
           cfg->count, cfg->dim, (double)vs_store_bytes(st) / MB,
           now_s() - t0);
    char *warm = path_join(cfg->dir, "warmup.vsnap");
    vs_file_info info;
    save_once(warm, st, VS_FORMAT_BIN, VS_CODEC_NONE, -1, &info);
    unlink(warm);
    free(warm);
    for (size_t f = 0; f < cfg->nformats; f++) {
        for (size_t c = 0; c < cfg->ncodecs; c++) {
            row *r = &rows[nrows++];
            memset(r, 0, sizeof(*r));
            r->format = cfg->formats[f];
            r->codec = cfg->codecs[c];
            fprintf(stderr, "bench: %s/%s ...\n", vs_format_name(r->format),
                    vs_codec_info_of(r->codec)->name);
            run_row(r, &st, cfg);
        }
    }
    vs_store_free(st);
    print_tables(rows, nrows);
    print_targets(rows, nrows, cfg);
}

static void run_scale(const config *cfg)
{
    char *path = path_join(cfg->dir, "scale.vsnap");
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.tmpdir = g_tmpdir;
    vs_file_info info;
    vs_store *st = NULL;
    row r = {.format = VS_FORMAT_BIN, .codec = VS_CODEC_NONE};

    uint64_t base = mem_begin();
    double t0 = now_s();
    st = generate(cfg->count, cfg->dim);
    double gen_s = now_s() - t0;
    int64_t gen_peak = mem_peak(base);
    r.save_store = vs_store_bytes(st);

    base = mem_begin();
    t0 = now_s();
    save_once(path, st, VS_FORMAT_BIN, VS_CODEC_NONE, -1, &info);
    r.save_s = now_s() - t0;
    r.save_peak = mem_peak(base);
    r.file_bytes = info.bytes;
    measure_baselines(&r, cfg, path);

    base = mem_begin();
    t0 = now_s();
    vs_store *check = NULL;
    if (vs_fmt_load_file(&check, &info, path, &lo) < 0 ||
        !info.content_verified)
        die("verify");
    vs_store_free(check);
    double verify_s = now_s() - t0;
    int64_t verify_peak = mem_peak(base);

    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    store_digest(want, st);
    vs_store_free(st);
    st = NULL;
    base = mem_begin();
    t0 = now_s();
    if (vs_fmt_load_file(&st, &info, path, &lo) < 0)
        die("load");
    r.load_s = now_s() - t0;
    r.load_peak = mem_peak(base);
    r.load_store = vs_store_bytes(st);
    store_digest(got, st);
    r.roundtrip_ok = memcmp(want, got, sizeof(want)) == 0;

    double sm = (double)r.save_store / MB;
    printf("scale: %" PRIu64 " x %u binary/none, store %.1f MB, file %.1f "
           "MB\n", cfg->count, cfg->dim, sm, (double)r.file_bytes / MB);
    printf("%-9s %9s %9s %16s\n", "step", "seconds", "MB/s",
           "peak RSS +MB");
    printf("%-9s %9.3f %9.1f", "generate", gen_s, sm / gen_s);
    print_mem(gen_peak);
    printf("\n%-9s %9.3f %9.1f", "save", r.save_s, sm / r.save_s);
    print_mem(r.save_peak);
    printf("\n%-9s %9.3f %9.1f", "verify", verify_s, sm / verify_s);
    print_mem(verify_peak);
    printf("\n%-9s %9.3f %9.1f", "load", r.load_s, sm / r.load_s);
    print_mem(r.load_peak);
    printf("\n(save +RSS is above the resident store; verify and load are "
           "above the RSS before them: verify with the store resident, load "
           "with it freed)\n");
    printf("baselines: write+fsync %.3f s, read %.3f s (%s), sha256 %.3f "
           "s\n\n", r.write_s, r.read_s, cfg->cold ? "cold" : "warm",
           r.sha_s);
    target("scale roundtrip", r.roundtrip_ok, "%s vs bit-exact",
           r.roundtrip_ok ? "bit-exact" : "MISMATCH");
    io_targets(&r, "scale binary/none");
    memory_targets(&r, "scale binary/none");
    vs_store_free(st);
    if (!cfg->keep)
        unlink(path);
    free(path);
}

/* ---- options ---- */

static const char usage[] =
    "usage: bench_persist [--count N] [--dim D] [--dir DIR]\n"
    "         [--formats binary,json,sqlite] [--codecs none,gzip,brotli,zstd]\n"
    "         [--only-binary] [--level L] [--repeat R] [--cold] [--scale]\n"
    "         [--keep]\n";

static uint64_t parse_num(const char *s, uint64_t max, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max) {
        fprintf(stderr, "bench_persist: bad %s '%s'\n%s", what, s, usage);
        exit(2);
    }
    return v;
}

/* Parse a comma list of format or codec names into ids[]. */
static size_t parse_list(int *ids, const char *arg, bool formats)
{
    char tmp[128];
    size_t n = 0;
    if (strlen(arg) >= sizeof(tmp))
        die("list too long");
    memcpy(tmp, arg, strlen(arg) + 1);
    char *save = NULL;
    for (char *tok = strtok_r(tmp, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        vs_format_id f = VS_FORMAT_AUTO;
        vs_codec_id c = VS_CODEC_AUTO;
        if (n == MAX_LIST)
            die("at most %d entries in '%s'", MAX_LIST, arg);
        if (formats ? vs_format_parse(&f, tok) : vs_codec_parse(&c, tok))
            die("bad list '%s'", arg);
        ids[n++] = formats ? (int)f : (int)c;
    }
    if (n == 0)
        die("empty list");
    return n;
}

static void parse_args(config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"dir", required_argument, NULL, 'D'},
        {"formats", required_argument, NULL, 'f'},
        {"codecs", required_argument, NULL, 'c'},
        {"only-binary", no_argument, NULL, 'b'},
        {"level", required_argument, NULL, 'l'},
        {"repeat", required_argument, NULL, 'r'},
        {"cold", no_argument, NULL, 'C'},
        {"scale", no_argument, NULL, 's'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int ids[MAX_LIST], o;
    bool have_count = false;
    cfg->count = 100000;
    cfg->dim = 384;
    cfg->level = -1;
    cfg->repeat = 1;
    cfg->formats[0] = VS_FORMAT_BIN;
    cfg->formats[1] = VS_FORMAT_JSON;
    cfg->formats[2] = VS_FORMAT_SQLITE;
    cfg->nformats = 3;
    for (int i = 0; i < 4; i++)
        cfg->codecs[i] = (vs_codec_id)i;
    cfg->ncodecs = 4;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'n':
            cfg->count = parse_num(optarg, 100000000, "--count");
            have_count = true;
            break;
        case 'd':
            cfg->dim = (uint32_t)parse_num(optarg, VS_DIM_MAX, "--dim");
            break;
        case 'D': cfg->dir = optarg; break;
        case 'f':
            cfg->nformats = parse_list(ids, optarg, true);
            for (size_t i = 0; i < cfg->nformats; i++)
                cfg->formats[i] = (vs_format_id)ids[i];
            break;
        case 'c':
            cfg->ncodecs = parse_list(ids, optarg, false);
            for (size_t i = 0; i < cfg->ncodecs; i++)
                cfg->codecs[i] = (vs_codec_id)ids[i];
            break;
        case 'b':
            cfg->formats[0] = VS_FORMAT_BIN;
            cfg->nformats = 1;
            break;
        case 'l': cfg->level = (int)parse_num(optarg, 22, "--level"); break;
        case 'r': cfg->repeat = (int)parse_num(optarg, 100, "--repeat"); break;
        case 'C': cfg->cold = true; break;
        case 's': cfg->scale = true; break;
        case 'k': cfg->keep = true; break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); exit(2);
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        exit(2);
    }
    if (cfg->scale && !have_count)
        cfg->count = 2000000;
}

/* Empty and remove the directory this run created, with async-signal-safe
 * calls only, so that it serves both atexit (also after die()) and
 * SIGINT/SIGTERM/SIGHUP: a failed or interrupted run leaves no hundreds of
 * MB behind in /tmp. */
static int g_own_fd = -1;

static void remove_own_dir(void)
{
    static char buf[8192] __attribute__((aligned(8)));
    if (g_own_fd < 0)
        return;
    for (int pass = 0; pass < 8; pass++) {
        int removed = 0;
        ssize_t n;
        lseek(g_own_fd, 0, SEEK_SET);
        while ((n = getdents64(g_own_fd, buf, sizeof(buf))) > 0) {
            for (ssize_t off = 0; off < n;) {
                struct dirent64 *e = (struct dirent64 *)(buf + off);
                off += e->d_reclen;
                if (strcmp(e->d_name, ".") != 0 &&
                    strcmp(e->d_name, "..") != 0 &&
                    unlinkat(g_own_fd, e->d_name, 0) == 0)
                    removed++;
            }
        }
        if (!removed)
            break;
    }
    close(g_own_fd);
    g_own_fd = -1;
    rmdir(g_own_dir);
}

static void on_signal(int sig)
{
    remove_own_dir();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void own_dir(const char *dir)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    g_own_dir = dir;
    g_own_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g_own_fd < 0)
        die("cannot open '%s': %s", dir, strerror(errno));
    atexit(remove_own_dir);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

int main(int argc, char **argv)
{
    config cfg;
    memset(&cfg, 0, sizeof(cfg));
    parse_args(&cfg, argc, argv);
    static char tmpl[] = "/tmp/vecsnap-bench-XXXXXX";
    if (!cfg.dir) {
        const char *d = mkdtemp(tmpl);
        if (!d)
            die("mkdtemp: %s", strerror(errno));
        cfg.dir = d;
        if (!cfg.keep)
            own_dir(d);
    } else if (vs_fs_mkdirs(cfg.dir) < 0) {
        die("cannot create '%s'", cfg.dir);
    }
    g_tmpdir = cfg.dir;
    if (vs_checksum_global_init() < 0)
        die("checksum init");
    printf("bench_persist: dir %s, repeat %d (best of), reads %s, MB = 2^20 "
           "bytes\n", cfg.dir, cfg.repeat,
           cfg.cold ? "cold (posix_fadvise DONTNEED first)"
                    : "warm (page cache)");
    if (cfg.scale)
        run_scale(&cfg);
    else
        run_matrix(&cfg);
    if (cfg.keep)
        printf("files kept in %s\n", cfg.dir);
    printf("%d target(s) failed\n", g_failed_targets);
    return 0;
}
