/*
 * vecsnap_remote: `vecsnap push|pull|ls-remote`, remote storage without
 * the server (remote.h): for when vecsnapd is down, or to seed a new
 * machine before it starts.  They take the catalog's lock on the data
 * directory, so they refuse to run beside a vecsnapd that uses it.
 *
 * Settings: vecsnapd's own (config.h), read by its reader from the same
 * places in the same order -- the file (--config FILE or VECSNAP_CONFIG),
 * the environment (VECSNAP_<KEY>; AWS_* credentials through the S3
 * client), then flags (--<key-with-dashes> VALUE or =VALUE) for the keys
 * these commands use: data_dir, s3_* and encryption_key*.
 *
 * Exit status: 0 success, 1 a failed operation, 2 misuse.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypt.h"
#include "log.h"
#include "remote.h"
#include "snapshot.h"
#include "vecsnap.h"
#include "wal.h"

#define EXIT_CHECK 1
#define EXIT_USAGE 2
#define IDS_MAX 4096

static const char usage_text[] =
    "usage: vecsnap push [options] [ID...|--all]\n"
    "       vecsnap pull [options] [--current] [ID...|latest]\n"
    "       vecsnap ls-remote [options] [--json]\n"
    "\n"
    "push: upload local snapshots of the data directory (default: the\n"
    "CURRENT one; --all: every one) to remote storage.  pull: download\n"
    "remote snapshots (default: the newest) into the data directory, each\n"
    "verified by a full load; --current makes the last one CURRENT, so\n"
    "vecsnapd starts from it.  ls-remote: list the remote snapshots.\n"
    "\n"
    "options: --config FILE, --data-dir DIR, and the remote-storage keys\n"
    "of vecsnapd as flags: --s3-endpoint URL --s3-bucket B --s3-prefix P\n"
    "--s3-region R --s3-path-style BOOL --s3-part-size N --s3-parallel N\n"
    "--s3-max-bytes-per-s N --s3-connect-timeout-s S --s3-timeout-s S\n"
    "--s3-retries N --encryption-key-file FILE (credentials: AWS_* or the\n"
    "config file).  Exit status: 0 success, 1 failure, 2 misuse.\n";

static int usage_error(const char *cmd, const char *fmt, ...)
    VS_FMT_PRINTF(2, 3);

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vecsnap %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'vecsnap %s --help'.\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

/* ---- settings ----------------------------------------------------------- */

/* Command-line options: settings, the command's own flags (`flags`, set
 * in *seen by index) and positional arguments (into args). */
typedef struct cli_args {
    const char *const *flags;
    size_t nflags;
    bool seen[4];
    const char *args[IDS_MAX];
    size_t nargs;
} cli_args;

/* A flag these commands take as a setting: data_dir, s3_*,
 * encryption_key*. */
static bool tool_key(const char *name, size_t n)
{
    char k[32];
    if (n >= sizeof(k))
        return false;
    for (size_t i = 0; i < n; i++)
        k[i] = name[i] == '-' ? '_' : name[i];
    k[n] = '\0';
    return strcmp(k, "data_dir") == 0 || strncmp(k, "s3_", 3) == 0
           || strncmp(k, "encryption_key", 14) == 0;
}

static int parse_args(vs_config *c, cli_args *a, int argc, char **argv)
{
    const char *file = getenv("VECSNAP_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    int error = vs_config_load(c, file);
    for (int i = 1; !error && i < argc; i++) {
        const char *s = argv[i];
        size_t k = 0;
        while (k < a->nflags && strcmp(s, a->flags[k]) != 0)
            k++;
        if (k < a->nflags) {
            a->seen[k] = true;
            continue;
        }
        if (strncmp(s, "--", 2) != 0) {
            if (a->nargs == IDS_MAX)
                return vs_error_set(VS_EINVALID, "more than %d arguments",
                                    IDS_MAX);
            a->args[a->nargs++] = s;
            continue;
        }
        const char *name = s + 2, *eq = strchr(name, '='), *v = NULL;
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return vs_error_set(VS_EINVALID, "%s needs a value", s);
        if (n == 6 && strncmp(name, "config", 6) == 0)
            continue;
        if (!tool_key(name, n))
            return vs_error_set(VS_EINVALID, "unknown option '--%.*s'",
                                (int)n, name);
        error = vs_config_set(c, name, n, v, s);
    }
    return error;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* The key, when one is configured (*has false otherwise). */
static int load_key(uint8_t key[VS_CRYPT_KEY_LEN], bool *has,
                    const vs_config *c)
{
    *has = c->encryption_key[0] || c->encryption_key_file[0];
    if (c->encryption_key[0] && c->encryption_key_file[0])
        return vs_error_set(VS_EINVALID, "give encryption_key or "
                            "encryption_key_file, not both");
    if (c->encryption_key[0])
        return vs_crypt_key_parse(key, c->encryption_key,
                                  strlen(c->encryption_key));
    if (c->encryption_key_file[0])
        return vs_crypt_key_load(key, c->encryption_key_file);
    return 0;
}

static int open_remote(vs_remote **out, const vs_config *c)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    bool has = false;
    *out = NULL;
    if (!c->s3_endpoint[0] || !c->s3_bucket[0])
        return vs_error_set(VS_EINVALID, "remote storage is not configured "
                            "(set s3_endpoint and s3_bucket)");
    if (c->s3_retries > 20) /* the other values are checked as read */
        return vs_error_set(VS_EINVALID, "s3_retries must be 0 to 20");
    vs_s3_config sc = {
        .endpoint = c->s3_endpoint,
        .region = c->s3_region,
        .bucket = c->s3_bucket,
        .prefix = c->s3_prefix,
        .path_style = c->s3_path_style,
        .access_key = c->s3_access_key[0] ? c->s3_access_key : NULL,
        .secret_key = c->s3_secret_key[0] ? c->s3_secret_key : NULL,
        .session_token = c->s3_session_token[0] ? c->s3_session_token : NULL,
        .part_size = c->s3_part_size,
        .parallel = c->s3_parallel,
        .max_bytes_per_s = c->s3_max_bytes_per_s,
        .connect_timeout_s = c->s3_connect_timeout_s,
        .low_speed_timeout_s = c->s3_timeout_s,
        .retries = (unsigned)c->s3_retries,
    };
    int error = load_key(key, &has, c);
    if (!error)
        error = vs_remote_new(out, &sc, has ? key : NULL);
    explicit_bzero(key, sizeof(key));
    return error;
}

static int open_catalog(vs_catalog **out, const vs_config *c)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    bool has = false;
    int error = load_key(key, &has, c);
    if (!error)
        error = vs_catalog_open(out, c->data_dir);
    if (!error)
        vs_catalog_set_key(*out, has ? key : NULL, false);
    explicit_bzero(key, sizeof(key));
    return error;
}

/* Settings, the remote and (with `cat`) the catalog; EXIT_* or -1 to go
 * on. */
static int setup(vs_config *c, cli_args *a, vs_remote **r, vs_catalog **cat,
                 int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EXIT_SUCCESS;
    }
    vs_log_set_level(VS_LOG_WARN);
    if (parse_args(c, a, argc, argv) < 0 || open_remote(r, c) < 0)
        return usage_error(argv[0], "%s", vs_error_last());
    if (cat && open_catalog(cat, c) < 0)
        return vs_cli_fail(c->data_dir);
    return -1;
}

/* ---- commands ----------------------------------------------------------- */

int vs_cli_push(int argc, char **argv)
{
    static const char *const flags[] = {"--all"};
    vs_config c;
    cli_args a = {flags, 1, {false}, {NULL}, 0};
    vs_remote *r = NULL;
    vs_catalog *cat = NULL;
    vs_snapshot *all = NULL;
    size_t n = 0;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    int rc = setup(&c, &a, &r, &cat, argc, argv);
    if (rc >= 0)
        goto done;
    rc = EXIT_SUCCESS;
    if (a.seen[0] && a.nargs) {
        rc = usage_error(argv[0], "give snapshot ids or --all, not both");
        goto done;
    }
    if (a.seen[0] && vs_catalog_list(&all, &n, cat) < 0) {
        rc = vs_cli_fail(c.data_dir);
        goto done;
    }
    if (!a.seen[0] && !a.nargs) {
        if (vs_catalog_current(cur, cat) < 0) {
            rc = vs_cli_fail("no snapshot named and no CURRENT one");
            goto done;
        }
        a.args[a.nargs++] = cur;
    }
    for (size_t i = 0; i < (a.seen[0] ? n : a.nargs); i++) {
        const char *id = a.seen[0] ? all[i].id : a.args[i];
        vs_snapshot m;
        if (vs_remote_upload(&m, r, cat, id, NULL, NULL) < 0) {
            rc = vs_cli_fail(id);
            continue;
        }
        printf("pushed %s to %s (%" PRIu64 " bytes%s)\n", id,
               vs_remote_where(r), m.bytes, m.encrypted ? ", encrypted" : "");
        vs_snapshot_dispose(&m);
    }
done:
    vs_snapshot_list_free(all, n);
    vs_catalog_free(cat);
    vs_remote_free(r);
    return rc;
}

/* True (with the message set) when DATA/wal holds log segments: vecsnapd
 * replays them on top of CURRENT at start-up, so a snapshot pulled from
 * another history must not become CURRENT over them. */
static bool has_log(const char *data_dir)
{
    char dir[VS_CONFIG_PATH_MAX + 8];
    uint64_t *segs = NULL;
    size_t n = 0;
    snprintf(dir, sizeof(dir), "%s/wal", data_dir);
    int error = vs_wal_list_segments(&segs, &n, dir);
    free(segs);
    if (error < 0)
        return true;
    if (n == 0)
        return false;
    vs_error_set(VS_EBUSY,
                 "the directory has a write-ahead log (wal/), which vecsnapd "
                 "would replay on top of the pulled snapshot; pull --current "
                 "only into a directory without one (restore through a "
                 "running vecsnapd instead: POST /v1/remote/snapshots/{id}/"
                 "restore)");
    return true;
}

int vs_cli_pull(int argc, char **argv)
{
    static const char *const flags[] = {"--current"};
    vs_config c;
    cli_args a = {flags, 1, {false}, {NULL}, 0};
    vs_remote *r = NULL;
    vs_catalog *cat = NULL;
    vs_snapshot *all = NULL;
    size_t n = 0;
    const char *last = NULL;
    int rc = setup(&c, &a, &r, &cat, argc, argv);
    if (rc >= 0)
        goto done;
    rc = EXIT_SUCCESS;
    if (a.seen[0] && has_log(c.data_dir)) {
        rc = vs_cli_fail(c.data_dir);
        goto done;
    }
    if (!a.nargs)
        a.args[a.nargs++] = "latest";
    for (size_t i = 0; i < a.nargs; i++) {
        const char *id = a.args[i];
        vs_snapshot s;
        if (strcmp(id, "latest") == 0) {
            if (!all && vs_remote_list(&all, &n, r) < 0) {
                rc = vs_cli_fail(vs_remote_where(r));
                continue;
            }
            if (n == 0) {
                vs_error_set(VS_ENOTFOUND, "no snapshots in remote storage");
                rc = vs_cli_fail(vs_remote_where(r));
                continue;
            }
            id = all[n - 1].id;
        }
        if (vs_remote_fetch(&s, r, cat, id, true, NULL, NULL) < 0) {
            rc = vs_cli_fail(id);
            continue;
        }
        printf("pulled %s into %s (%" PRIu64 " records)\n", id, c.data_dir,
               s.records);
        vs_snapshot_dispose(&s);
        last = id;
    }
    if (a.seen[0] && last && rc == EXIT_SUCCESS) {
        if (vs_catalog_set_current(cat, last) < 0)
            rc = vs_cli_fail(last);
        else
            printf("CURRENT is %s\n", last);
    }
done:
    vs_snapshot_list_free(all, n);
    vs_catalog_free(cat);
    vs_remote_free(r);
    return rc;
}

int vs_cli_ls_remote(int argc, char **argv)
{
    static const char *const flags[] = {"--json"};
    vs_config c;
    cli_args a = {flags, 1, {false}, {NULL}, 0};
    vs_remote *r = NULL;
    vs_snapshot *all = NULL;
    json_t *arr = NULL;
    size_t n = 0;
    int rc = setup(&c, &a, &r, NULL, argc, argv);
    if (rc >= 0)
        goto done;
    rc = EXIT_SUCCESS;
    if (a.nargs) {
        rc = usage_error(argv[0], "ls-remote takes no arguments");
        goto done;
    }
    if (vs_remote_list(&all, &n, r) < 0) {
        rc = vs_cli_fail(vs_remote_where(r));
        goto done;
    }
    if (a.seen[0] && !(arr = json_array())) {
        rc = vs_cli_fail("out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const vs_snapshot *s = &all[i];
        if (arr) {
            if (json_array_append_new(arr, vs_snapshot_to_json(s)) < 0)
                rc = EXIT_CHECK;
            continue;
        }
        printf("%s  %-11s  %12" PRIu64 " bytes  %10" PRIu64 " records%s%s%s\n",
               s->id, s->kind, s->bytes, s->records,
               s->encrypted ? "  encrypted" : "", s->name[0] ? "  " : "",
               s->name);
    }
    if (arr) {
        json_t *o = json_pack("{s:O}", "snapshots", arr);
        if (!o || json_dumpf(o, stdout, JSON_INDENT(2)) < 0)
            rc = EXIT_CHECK;
        else
            putchar('\n');
        json_decref(o);
    }
done:
    json_decref(arr);
    vs_snapshot_list_free(all, n);
    vs_remote_free(r);
    return rc;
}
