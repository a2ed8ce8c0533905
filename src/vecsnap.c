/*
 * vecsnap: the offline tool beside the server.  inspect, verify, convert,
 * generate and compact, all on the same core the server uses; inspect and
 * verify also take a snapshot directory (its chain) or a data directory
 * (every snapshot), read beside a running server.

 *
 * Exit status: 0 success, 1 a failed check or operation, 2 misuse.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"

#include "fmt.h"
#include "fsutil.h"
#include "log.h"
#include "snapshot.h"
#include "vecsnap.h"

#define EXIT_CHECK 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: vecsnap <command> [options] ...\n"
    "\n"
    "commands:\n"
    "  inspect [--json] FILE|SNAPSHOT_DIR\n"
    "                            describe a database file or a snapshot\n"
    "                            (DATA/snapshots/ID, its chain loaded)\n"
    "  verify FILE|SNAPSHOT_DIR|DATA_DIR\n"
    "                            check every checksum (of every link of a\n"
    "                            chain, of every snapshot); exit 1 on failure\n"
    "  compact --data-dir DATA [--format F] [--compression C] ID\n"
    "                            merge the chain of incremental snapshot ID\n"
    "                            into one full snapshot\n"
    "  convert [--format F] [--compression C] [--level N] IN OUT\n"
    "                            rewrite IN as OUT ('-' for stdin/stdout)\n"
    "  generate --count N --dim D [--collection NAME] [--metric M]\n"
    "           [--metadata] [--seed S] [--format F] [--compression C] OUT\n"
    "                            write deterministic synthetic data\n"
    "  push [ID...|--all]        upload a data directory's snapshots to\n"
    "                            remote storage (vecsnap push --help)\n"
    "  pull [--current] [ID...|latest]\n"
    "                            download remote snapshots into it\n"
    "  ls-remote [--json]        list the remote snapshots\n"
    "\n"
    "formats: binary, json, sqlite; compression: none, gzip, brotli, zstd.\n"
    "Input format and compression are detected from content (brotli by a\n"
    ".br/.brotli suffix or by decodable content).  Exit status: 0 success,\n"
    "1 failed check or operation, 2 misuse.  See vecsnap(1).\n";

static int usage_error(const char *fmt, ...) VS_FMT_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vecsnap: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'vecsnap --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* "vecsnap: FILE: <message> (corrupt)": the class tells a script or a
 * person what kind of failure the precise message describes. */
int vs_cli_fail(const char *what)
{
    fprintf(stderr, "vecsnap: %s: %s (%s)\n", what, vs_error_last(),
            vs_error_name(vs_error_last_code()));
    return EXIT_CHECK;
}

/* ---- progress bar (stderr, only on a terminal) ---- */

typedef struct progress {
    const char *label;
    int last_pct;
    struct timespec last;
} progress;

static int progress_cb(void *payload, uint64_t done, uint64_t total)
{
    progress *p = payload;
    int pct = total ? (int)(done * 100 / total) : 100;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - p->last.tv_sec) * 1000 +
              (now.tv_nsec - p->last.tv_nsec) / 1000000;
    if (pct == p->last_pct || (ms < 100 && pct != 100))
        return 0;
    p->last_pct = pct;
    p->last = now;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r%-8s [%s] %3d%% %" PRIu64 "/%" PRIu64, p->label, bar,
            pct, done, total);
    if (pct == 100)
        fputc('\n', stderr);
    return 0;
}

static void progress_attach(progress *p, const char *label, vs_progress_fn *fn,
                            void **payload)
{
    if (!isatty(STDERR_FILENO))
        return;
    memset(p, 0, sizeof(*p));
    p->label = label;
    p->last_pct = -1;
    *fn = progress_cb;
    *payload = p;
}

/* ---- loading ---- */

/* `delta`: an incremental document is read as its changes alone. */
static int load_any(vs_store **st, vs_file_info *info, const char *path,
                    progress *bar, bool delta)
{
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.delta = delta;
    progress_attach(bar, "load", &lo.progress, &lo.payload);
    if (strcmp(path, "-") != 0)
        return vs_fmt_load_file(st, info, path, &lo);
    vs_stream *in = NULL;
    int error = vs_stream_fd_reader_new(&in, STDIN_FILENO);
    if (error == 0)
        error = vs_fmt_load_stream(st, info, in, &lo);
    vs_stream_free(in);
    return error;
}

static json_t *describe(const vs_file_info *info, const vs_store *st)
{
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, info->sha256);
    json_t *cols = json_array();
    for (size_t i = 0; i < vs_store_ncollections(st); i++) {
        const vs_collection *c = vs_store_at(st, i);
        json_array_append_new(
            cols, json_pack("{s:s, s:i, s:s, s:I}", "name",
                            vs_collection_name(c), "dimension",
                            (json_int_t)vs_collection_dimension(c), "metric",
                            vs_metric_name(vs_collection_metric(c)), "count",
                            (json_int_t)vs_collection_count(c)));
    }
    json_t *d = json_pack(
        "{s:s, s:s, s:I, s:s, s:b, s:I, s:I, s:o}", "format",
        vs_format_name(info->format), "compression",
        vs_codec_info_of(info->codec)->name, "bytes", (json_int_t)info->bytes,
        "sha256", hex, "content_verified", info->content_verified, "seq",
        (json_int_t)info->seq, "records", (json_int_t)vs_store_nrecords(st),
        "collections", cols);
    /* An incremental document read alone: its changes. */
    if (d && info->incremental &&
        (json_object_set_new(d, "kind", json_string("incremental")) < 0 ||
         json_object_set_new(d, "since_seq",
                             json_integer((json_int_t)info->since_seq)) < 0 ||
         json_object_set_new(d, "changed",
                             json_integer((json_int_t)info->changed)) < 0 ||
         json_object_set_new(d, "deleted",
                             json_integer((json_int_t)info->deleted)) < 0)) {
        json_decref(d);
        d = NULL;
    }
    return d;
}


/* ---- snapshot and data directories ---- */

static bool is_dir(const char *path)
{
    struct stat sb;
    return strcmp(path, "-") != 0 && stat(path, &sb) == 0 &&
           S_ISDIR(sb.st_mode);
}

/* A snapshot directory DATA/snapshots/ID: its data directory, opened to
 * read beside a running server, and the id. */
static int open_snapshot_dir(vs_catalog **cat, char id[VS_SNAPSHOT_ID_LEN + 1],
                             const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *base = memrchr(path, '/', n);
    base = base ? base + 1 : path;
    size_t blen = n - (size_t)(base - path);
    snprintf(id, VS_SNAPSHOT_ID_LEN + 1, "%.*s", (int)blen, base);
    if (blen != VS_SNAPSHOT_ID_LEN || vs_snapshot_check_id(id) < 0)
        return vs_error_set(VS_EINVALID,
                            "not a snapshot directory (DATA/snapshots/<id>) "
                            "nor a data directory");
    char *data = malloc(n + 8);
    if (!data)
        return vs_error_oom();
    snprintf(data, n + 8, "%.*s/../..", (int)n, path);
    int error = vs_catalog_open_readonly(cat, data);
    free(data);
    return error;
}

/* The ids of a chain, base first, as text ("A <- B <- C") or JSON. */
static json_t *chain_ids(const vs_snapshot *chain, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(chain[i].id)) < 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* The seq, record count and collections of `st`, as inspect prints them. */
static void print_contents(uint64_t seq, const vs_store *st)
{
    printf("seq:         %" PRIu64 "\n", seq);
    printf("records:     %" PRIu64 "\n", vs_store_nrecords(st));
    printf("collections: %zu\n", vs_store_ncollections(st));
    for (size_t i = 0; i < vs_store_ncollections(st); i++) {
        const vs_collection *col = vs_store_at(st, i);
        printf("  %-24s dim %-6u %-9s %zu records\n",
               vs_collection_name(col), vs_collection_dimension(col),
               vs_metric_name(vs_collection_metric(col)),
               vs_collection_count(col));
    }
}

/* inspect of DATA/snapshots/ID: the manifest's chain fields, then the
 * state the snapshot restores (its chain loaded and checked). */
static int inspect_snapshot(const char *path, bool as_json)
{
    vs_catalog *cat = NULL;
    char id[VS_SNAPSHOT_ID_LEN + 1];
    vs_snapshot s, *chain = NULL;
    size_t n = 0;
    vs_store *st = NULL;
    vs_file_info info;
    memset(&s, 0, sizeof(s));
    int error = open_snapshot_dir(&cat, id, path);
    if (error == 0)
        error = vs_catalog_get(&s, cat, id);
    if (error == 0)
        error = vs_catalog_chain(&chain, &n, cat, id, false);
    if (error == 0)
        error = vs_catalog_load(&st, &info, cat, id, NULL, NULL);
    if (error < 0) {
        vs_cli_fail(path);
        goto done;
    }
    json_t *d = describe(&info, st);
    if (as_json) {
        json_object_set_new(d, "snapshot", vs_snapshot_to_json(&s));
        json_object_set_new(d, "chain", chain_ids(chain, n));
        json_dumpf(d, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        printf("snapshot:    %s%s%s\n", s.id, s.name[0] ? "  " : "", s.name);
        printf("kind:        %s (origin %s)\n", s.kind, s.origin);
        if (vs_snapshot_is_incremental(&s)) {
            printf("parent:      %s\n", s.parent);
            printf("base:        %s\n", s.base);
            printf("changes:     seq %" PRIu64 " to %" PRIu64 ": %" PRIu64
                   " records, %" PRIu64 " deletions\n",
                   s.seq_from, s.seq, s.changed, s.deleted);
        }
        printf("chain:       %zu snapshot%s:", n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            printf(" %s%s", i ? "<- " : "", chain[i].id);
        printf("\n");
        printf("data file:   %s, %s, %" PRIu64 " bytes, sha256 %s\n",
               vs_format_name(s.format), vs_codec_info_of(s.codec)->name,
               s.bytes, json_string_value(json_object_get(d, "sha256")));
        printf("checksum:    verified (every link)\n");
        print_contents(info.seq, st);
    }
    json_decref(d);
done:
    vs_store_free(st);
    vs_snapshot_list_free(chain, n);
    vs_snapshot_dispose(&s);
    vs_catalog_free(cat);
    return error < 0 ? EXIT_CHECK : 0;
}

/* Verify snapshot `id` (its whole chain) and say so. */
static bool verify_one(vs_catalog *cat, const char *id)
{
    vs_file_info info;
    vs_snapshot *chain = NULL;
    size_t n = 0;
    int error = vs_catalog_verify(&info, cat, id);
    if (error == 0)
        error = vs_catalog_chain(&chain, &n, cat, id, false);
    if (error < 0) {
        vs_cli_fail(id);
        return false;
    }
    if (n > 1)
        printf("%s: OK (a chain of %zu from %s, %" PRIu64
               " records, seq %" PRIu64 ")\n",
               id, n, chain[0].id, info.records, info.seq);
    else
        printf("%s: OK (full, %s, %s, %" PRIu64 " records, seq %" PRIu64
               ")\n",
               id, vs_format_name(info.format),
               vs_codec_info_of(info.codec)->name, info.records, info.seq);
    vs_snapshot_list_free(chain, n);
    return true;
}

/* verify of a snapshot directory (its chain) or of a data directory: every
 * snapshot, through the chains that end at the snapshots nothing builds on
 * (each link is checked on the way), and CURRENT. */
static int verify_dir(const char *path)
{
    vs_catalog *cat = NULL;
    char id[VS_SNAPSHOT_ID_LEN + 1], cur[VS_SNAPSHOT_ID_LEN + 1];
    char *snaps = malloc(strlen(path) + 16);
    if (!snaps)
        return vs_cli_fail(path);
    snprintf(snaps, strlen(path) + 16, "%s/snapshots", path);
    bool datadir = is_dir(snaps);
    free(snaps);
    if (!datadir) {
        if (open_snapshot_dir(&cat, id, path) < 0)
            return vs_cli_fail(path);
        bool ok = verify_one(cat, id);
        vs_catalog_free(cat);
        return ok ? 0 : EXIT_CHECK;
    }
    vs_snapshot *all = NULL;
    size_t n = 0, leaves = 0, failed = 0;
    bool *inner = NULL;
    int error = vs_catalog_open_readonly(&cat, path);
    if (error == 0)
        error = vs_catalog_list(&all, &n, cat);
    if (error == 0 && !(inner = calloc(n ? n : 1, sizeof(*inner))))
        error = vs_error_oom();
    if (error < 0) {
        vs_catalog_free(cat);
        return vs_cli_fail(path);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; vs_snapshot_is_incremental(&all[i]) && k < i; k++)
            inner[k] = inner[k] || strcmp(all[k].id, all[i].parent) == 0;
    for (size_t i = 0; i < n; i++) {
        if (inner[i])
            continue;
        leaves++;
        failed += !verify_one(cat, all[i].id);
    }
    vs_snapshot cs;
    error = vs_catalog_current(cur, cat);
    if (error == VS_ENOTFOUND) {
        printf("CURRENT: none\n");
    } else if (error == 0 && vs_catalog_get(&cs, cat, cur) == 0) {
        printf("CURRENT: %s\n", cur);
        vs_snapshot_dispose(&cs);
    } else {
        failed += vs_cli_fail("CURRENT") != 0;
    }

    if (failed)
        fprintf(stderr, "vecsnap: %s: %zu of %zu chains failed\n", path, failed,
                leaves);
    else
        printf("%s: %zu snapshots in %zu chains, all verified\n", path, n,
               leaves);
    free(inner);
    vs_snapshot_list_free(all, n);
    vs_catalog_free(cat);
    return failed ? EXIT_CHECK : 0;
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool as_json = false;
    int c;
    while ((c = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
        if (c == 'j')
            as_json = true;
        else if (c == 'h') {
            fputs("usage: vecsnap inspect [--json] FILE\n", stdout);
            return 0;
        } else
            return EXIT_USAGE;
    }
    if (optind != argc - 1)
        return usage_error("inspect takes one FILE");
    const char *path = argv[optind];
    if (is_dir(path))
        return inspect_snapshot(path, as_json);
    vs_store *st = NULL;
    vs_file_info info;
    progress bar;
    if (load_any(&st, &info, path, &bar, true) < 0)
        return vs_cli_fail(path);
    json_t *d = describe(&info, st);
    if (as_json) {
        json_dumpf(d, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        printf("file:        %s\n", path);
        printf("format:      %s\n", vs_format_name(info.format));
        printf("compression: %s\n", vs_codec_info_of(info.codec)->name);
        printf("bytes:       %" PRIu64 "\n", info.bytes);
        printf("sha256:      %s\n",
               json_string_value(json_object_get(d, "sha256")));
        printf("checksum:    %s\n",
               info.content_verified ? "verified"
                                     : "none embedded (not verified)");
        if (info.incremental)
            printf("kind:        incremental: the changes since seq %" PRIu64
                   " (%" PRIu64 " records, %" PRIu64
                   " deletions; below, the collections it lists and the "
                   "records it carries)\n",
                   info.since_seq, info.changed, info.deleted);
        print_contents(info.seq, st);
    }
    json_decref(d);
    vs_store_free(st);
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs("usage: vecsnap verify FILE\n", stdout);
        return 0;
    }
    if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0'))
        return usage_error("verify takes one FILE");
    const char *path = argv[1];
    if (is_dir(path))
        return verify_dir(path);
    vs_store *st = NULL;
    vs_file_info info;
    progress bar;
    if (load_any(&st, &info, path, &bar, true) < 0)
        return vs_cli_fail(path);
    vs_store_free(st);
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, info.sha256);
    if (!info.content_verified) {
        fprintf(stderr,
                "vecsnap: %s: readable, but it carries no checksum of ours, "
                "so its content cannot be verified\n",
                path);
        return EXIT_CHECK;
    }
    printf("%s: OK (%s%s, %s, %" PRIu64 " records, sha256 %s)\n", path,
           info.incremental ? "incremental " : "",
           vs_format_name(info.format), vs_codec_info_of(info.codec)->name,
           info.records, hex);
    return 0;
}

typedef struct out_spec {
    vs_save_options so;
    bool format_set, codec_set;
} out_spec;

static int parse_out_option(out_spec *o, int c, const char *arg)
{
    switch (c) {
    case 'f':
        if (vs_format_parse(&o->so.format, arg) < 0)
            return usage_error("%s", vs_error_last());
        o->format_set = true;
        return 0;
    case 'c':
        if (vs_codec_parse(&o->so.codec, arg) < 0 ||
            o->so.codec == VS_CODEC_AUTO)
            return usage_error("unknown compression '%s'", arg);
        o->codec_set = true;
        return 0;
    case 'l': {
        char *end;
        errno = 0;
        long v = strtol(arg, &end, 10);
        if (errno || *end || end == arg || v < -1 || v > 100)
            return usage_error("bad level '%s'", arg);
        o->so.level = (int)v;
        return 0;
    }
    default:
        return EXIT_USAGE;
    }
}

/* Unset format/compression follow OUT's suffixes: x.json.gz, x.sqlite ... */
static int finish_out_spec(out_spec *o, const char *path)
{
    if (!o->codec_set && strcmp(path, "-") != 0)
        o->so.codec = vs_codec_from_suffix(path);
    if (!o->format_set && strcmp(path, "-") != 0) {
        /* The format suffix may be followed by a codec suffix. */
        if (strstr(path, ".json"))
            o->so.format = VS_FORMAT_JSON;
        else if (strstr(path, ".sqlite") || vs_fs_has_suffix(path, ".db"))
            o->so.format = VS_FORMAT_SQLITE;
    }
    int level;
    if (vs_codec_check_level(&level, o->so.codec, o->so.level) < 0)
        return usage_error("%s", vs_error_last());
    return 0;
}

static int save_any(vs_file_info *info, const char *path, vs_store *st,
                    vs_save_options *so, progress *bar)
{
    progress_attach(bar, "save", &so->progress, &so->payload);
    if (strcmp(path, "-") != 0)
        return vs_fmt_save_file(info, path, st, so);
    vs_stream *out = NULL;
    int error = vs_stream_fd_writer_new(&out, STDOUT_FILENO, false);
    if (error == 0)
        error = vs_fmt_save_stream(info, out, st, so);
    vs_stream_free(out);
    return error;
}

static int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"compression", required_argument, NULL, 'c'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    out_spec o = {.so = VS_SAVE_OPTIONS_INIT};
    int c;
    while ((c = getopt_long(argc, argv, "f:c:l:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs("usage: vecsnap convert [--format json|binary|sqlite] "
                  "[--compression none|gzip|brotli|zstd] [--level N] IN "
                  "OUT\n",
                  stdout);
            return 0;
        }
        int r = parse_out_option(&o, c, optarg);
        if (r)
            return r;
    }
    if (optind != argc - 2)
        return usage_error("convert takes IN and OUT");
    const char *in = argv[optind], *out = argv[optind + 1];
    int r = finish_out_spec(&o, out);
    if (r)
        return r;
    vs_store *st = NULL;
    vs_file_info info;
    progress bar;
    if (load_any(&st, &info, in, &bar, false) < 0)
        return vs_cli_fail(in);
    vs_file_info oinfo;
    int error = save_any(&oinfo, out, st, &o.so, &bar);
    vs_store_free(st);
    if (error < 0)
        return vs_cli_fail(out);
    if (strcmp(out, "-") != 0) {
        char hex[VS_SHA256_HEX_LEN + 1];
        vs_sha256_hex(hex, oinfo.sha256);
        fprintf(stderr, "%s: %s, %s, %" PRIu64 " bytes, sha256 %s\n", out,
                vs_format_name(oinfo.format),
                vs_codec_info_of(oinfo.codec)->name, oinfo.bytes, hex);
    }
    return 0;
}

/* compact --data-dir DATA [--format F] [--compression C] [--level N] ID:
 * the chain of ID merged into one full snapshot; when ID is CURRENT, the
 * new one becomes CURRENT (at the same seq). */
static int cmd_compact(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data-dir", required_argument, NULL, 'D'},
        {"format", required_argument, NULL, 'f'},
        {"compression", required_argument, NULL, 'c'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    out_spec o = {.so = VS_SAVE_OPTIONS_INIT};
    const char *data = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "D:f:c:l:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs("usage: vecsnap compact --data-dir DATA [--format "
                  "binary|json|sqlite] [--compression none|gzip|brotli|zstd] "
                  "[--level N] ID\n",
                  stdout);
            return 0;
        }
        if (c == 'D') {
            data = optarg;
            continue;
        }
        int r = parse_out_option(&o, c, optarg);
        if (r)
            return r;
    }
    if (!data)
        return usage_error("compact needs --data-dir");
    if (optind != argc - 1)
        return usage_error("compact takes one snapshot ID");
    const char *id = argv[optind];
    int level;
    if (vs_codec_check_level(&level, o.so.codec, o.so.level) < 0)
        return usage_error("%s", vs_error_last());
    vs_catalog *cat = NULL;
    vs_snapshot s, tip;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t seq = 0;
    bool moved = false;
    progress bar;
    memset(&s, 0, sizeof(s));
    int error = vs_catalog_open(&cat, data);
    if (error == 0 && !o.codec_set) {
        error = vs_catalog_get(&tip, cat, id);
        o.so.codec = error ? o.so.codec : tip.codec;
        if (error == 0)
            vs_snapshot_dispose(&tip);
    }
    if (error == 0) {
        o.so.key = vs_catalog_save_key(cat);
        progress_attach(&bar, "compact", &o.so.progress, &o.so.payload);
        error = vs_catalog_compact(&s, cat, id, NULL, &o.so, o.so.progress,
                                   o.so.payload);
    }
    if (error == 0 && vs_catalog_current_at(cur, &seq, cat) == 0 &&
        strcmp(cur, id) == 0) {
        error = vs_catalog_set_current_at(cat, s.id, seq);
        moved = error == 0;
    }
    if (error < 0) {
        vs_cli_fail(id);
    } else {
        printf("%s: compacted into %s (full, %s, %s, %" PRIu64
               " records, seq %" PRIu64 ", %" PRIu64 " bytes)%s\n",
               id, s.id, vs_format_name(s.format),
               vs_codec_info_of(s.codec)->name, s.records, s.seq, s.bytes,
               moved ? "; CURRENT moved to it" : "");
    }
    vs_snapshot_dispose(&s);
    vs_catalog_free(cat);
    return error < 0 ? EXIT_CHECK : 0;
}

static int parse_u64(uint64_t *out, const char *arg, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || end == arg || arg[0] == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Deterministic synthetic records: xorshift64* per collection seed. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int generate_into(vs_collection *col, uint64_t count, uint32_t dim,
                         bool with_meta, uint64_t seed)
{
    const size_t batch = 1024;
    vs_record *recs = calloc(batch, sizeof(*recs));
    float *vecs = malloc(batch * (size_t)dim * sizeof(float));
    char *ids = malloc(batch * 32);
    char *metas = malloc(batch * 96);
    int error = 0;
    if (!recs || !vecs || !ids || !metas) {
        error = vs_error_oom();
        goto done;
    }
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    static const char *const tags[] = {"news", "docs", "code", "chat", "web"};
    for (uint64_t doneq = 0; doneq < count && error == 0;) {
        size_t n = count - doneq < batch ? (size_t)(count - doneq) : batch;
        for (size_t i = 0; i < n; i++) {
            uint64_t k = doneq + i;
            float *v = vecs + i * dim;
            for (uint32_t d = 0; d < dim; d++)
                v[d] = (float)((double)(next_rand(&state) >> 40) /
                                   (double)(1ull << 23) -
                               1.0);
            int il = snprintf(ids + i * 32, 32, "vec-%08" PRIu64, k);
            recs[i] = (vs_record){.id = ids + i * 32,
                                  .id_len = (size_t)il,
                                  .vector = v};
            if (with_meta) {
                int ml = snprintf(metas + i * 96, 96,
                                  "{\"n\":%" PRIu64 ",\"tag\":\"%s\"}", k,
                                  tags[k % 5]);
                recs[i].metadata = metas + i * 96;
                recs[i].metadata_len = (size_t)ml;
            }
        }
        error = vs_collection_upsert(col, recs, n);
        doneq += n;
    }
done:
    free(recs);
    free(vecs);
    free(ids);
    free(metas);
    return error;
}

static int cmd_generate(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'n'},
        {"dim", required_argument, NULL, 'd'},
        {"collection", required_argument, NULL, 'C'},
        {"metric", required_argument, NULL, 'm'},
        {"metadata", no_argument, NULL, 'M'},
        {"seed", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"compression", required_argument, NULL, 'c'},
        {"level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    out_spec o = {.so = VS_SAVE_OPTIONS_INIT};
    uint64_t count = 0, dim = 0, seed = 1;
    bool have_count = false, have_dim = false, meta = false;
    const char *name = "default";
    vs_metric metric = VS_METRIC_COSINE;
    int c;
    while ((c = getopt_long(argc, argv, "n:d:C:m:Ms:f:c:l:h", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_u64(&count, optarg, 100000000ull) < 0)
                return usage_error("bad --count '%s'", optarg);
            have_count = true;
            break;
        case 'd':
            if (parse_u64(&dim, optarg, VS_DIM_MAX) < 0 || dim == 0)
                return usage_error("bad --dim '%s' (1..65536)", optarg);
            have_dim = true;
            break;
        case 'C':
            if (vs_store_check_name(optarg) < 0)
                return usage_error("%s", vs_error_last());
            name = optarg;
            break;
        case 'm':
            if (vs_metric_parse(&metric, optarg) < 0)
                return usage_error("%s", vs_error_last());
            break;
        case 'M':
            meta = true;
            break;
        case 's':
            if (parse_u64(&seed, optarg, UINT64_MAX) < 0)
                return usage_error("bad --seed '%s'", optarg);
            break;
        case 'h':
            fputs("usage: vecsnap generate --count N --dim D [--collection "
                  "NAME] [--metric cosine|euclidean|dot] [--metadata] "
                  "[--seed S] [--format F] [--compression C] [--level N] "
                  "OUT\n",
                  stdout);
            return 0;
        default: {
            int r = parse_out_option(&o, c, optarg);
            if (r)
                return r;
        }
        }
    }
    if (!have_count || !have_dim)
        return usage_error("generate needs --count and --dim");
    if (optind != argc - 1)
        return usage_error("generate takes one OUT");
    const char *out = argv[optind];
    int r = finish_out_spec(&o, out);
    if (r)
        return r;
    vs_store *st = NULL;
    vs_collection *col;
    int error = vs_store_new(&st);
    if (error == 0)
        error = vs_store_create(&col, st, name, (uint32_t)dim, metric);
    if (error == 0)
        error = generate_into(col, count, (uint32_t)dim, meta, seed);
    if (error < 0) {
        vs_store_free(st);
        return vs_cli_fail("generate");
    }
    vs_file_info info;
    progress bar;
    error = save_any(&info, out, st, &o.so, &bar);
    vs_store_free(st);
    if (error < 0)
        return vs_cli_fail(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("missing command");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        puts("vecsnap " PACKAGE_VERSION);
        return 0;
    }
    if (vs_checksum_global_init() < 0)
        return vs_cli_fail("init");
    argv++;
    argc--;
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc, argv);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc, argv);
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(argc, argv);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc, argv);
    if (strcmp(cmd, "compact") == 0)
        return cmd_compact(argc, argv);

    if (strcmp(cmd, "push") == 0)
        return vs_cli_push(argc, argv);
    if (strcmp(cmd, "pull") == 0)
        return vs_cli_pull(argc, argv);
    if (strcmp(cmd, "ls-remote") == 0)
        return vs_cli_ls_remote(argc, argv);
    return usage_error("unknown command '%s'", cmd);
}
