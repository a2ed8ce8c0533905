/*
 * vecsnap_remote: `vecsnap push|pull|ls-remote`, remote storage without
 * the server (remote.h): for when vecsnapd is down, or to seed a new
 * machine before it starts.  They take the catalog's lock on the data
 * directory, so they refuse to run beside a vecsnapd that uses it.
 *
 * Settings: the remote-storage keys of vecsnapd's config file, read from
 * the same places in the same order -- the file (--config FILE or
 * VECSNAP_CONFIG; `key = value` lines, `#` comments; keys these commands
 * do not use are skipped, so vecsnapd's own file serves), the environment
 * (VECSNAP_<KEY>; AWS_* credentials through the S3 client), then flags
 * (--<key-with-dashes> VALUE or =VALUE).
 *
 * Exit status: 0 success, 1 a failed operation, 2 misuse.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "log.h"
#include "remote.h"
#include "snapshot.h"
#include "vecsnap.h"

#define EXIT_CHECK 1
#define EXIT_USAGE 2
#define PATH_MAX_ 4096
#define LINE_MAX_ 8192
#define IDS_MAX 4096

typedef struct cli_cfg {
    char data_dir[PATH_MAX_];
    char endpoint[512];
    char region[64];
    char bucket[256];
    char prefix[512];
    bool path_style;
    char access_key[256];
    char secret_key[256];
    char session_token[2048];
    uint64_t part_size;
    uint64_t parallel;
    uint64_t max_bytes_per_s;
    uint64_t connect_timeout_s;
    uint64_t timeout_s;
    uint64_t retries;
    char key_hex[80];
    char key_file[PATH_MAX_];
} cli_cfg;

enum { T_TEXT, T_BOOL, T_BYTES, T_COUNT };

typedef struct key_def {
    const char *name;
    int type;
    size_t offset;
    size_t size; /* T_TEXT: the field's size */
    bool secret; /* never echoed */
} key_def;

#define TEXT(n, f, s) {n, T_TEXT, offsetof(cli_cfg, f), \
                       sizeof(((cli_cfg *)0)->f), s}
#define NUM(n, t, f) {n, t, offsetof(cli_cfg, f), 0, false}

static const key_def keys[] = {
    TEXT("data_dir", data_dir, false),
    TEXT("s3_endpoint", endpoint, false),
    TEXT("s3_region", region, false),
    TEXT("s3_bucket", bucket, false),
    TEXT("s3_prefix", prefix, false),
    NUM("s3_path_style", T_BOOL, path_style),
    TEXT("s3_access_key", access_key, true),
    TEXT("s3_secret_key", secret_key, true),
    TEXT("s3_session_token", session_token, true),
    NUM("s3_part_size", T_BYTES, part_size),
    NUM("s3_parallel", T_COUNT, parallel),
    NUM("s3_max_bytes_per_s", T_BYTES, max_bytes_per_s),
    NUM("s3_connect_timeout_s", T_COUNT, connect_timeout_s),
    NUM("s3_timeout_s", T_COUNT, timeout_s),
    NUM("s3_retries", T_COUNT, retries),
    TEXT("encryption_key", key_hex, true),
    TEXT("encryption_key_file", key_file, false),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

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

static int fail(const char *what)
{
    fprintf(stderr, "vecsnap: %s: %s (%s)\n", what, vs_error_last(),
            vs_error_name(vs_error_last_code()));
    return EXIT_CHECK;
}

/* ---- settings ----------------------------------------------------------- */

static const key_def *find_key(const char *name, size_t n, bool dashes)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *k = keys[i].name;
        if (strlen(k) != n)
            continue;
        size_t j = 0;
        while (j < n && (name[j] == k[j] || (dashes && k[j] == '_'
                                            && name[j] == '-')))
            j++;
        if (j == n)
            return &keys[i];
    }
    return NULL;
}

/* A decimal with an optional K/M/G suffix (bytes). */
static int parse_num(uint64_t *out, const char *v, bool suffixes)
{
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9')
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (errno)
        return -1;
    if (suffixes && *end) {
        const char *u = strchr("KMG", *end & ~0x20);
        if (!u || !*u)
            return -1;
        shift = 10u * (unsigned)(u - "KMG" + 1);
        end++;
        end += *end == 'i' && end[1] == 'B' ? 2 : *end == 'B' ? 1 : 0;
    }
    if (*end || n > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

static int set_key(cli_cfg *c, const key_def *k, const char *v,
                   const char *origin)
{
    char *field = (char *)c + k->offset;
    int bad = 0;
    switch (k->type) {
    case T_TEXT:
        bad = strlen(v) >= k->size;
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case T_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0
            || strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
            *(bool *)field = true;
        else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0
                 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
            *(bool *)field = false;
        else
            bad = 1;
        break;
    case T_BYTES:
    case T_COUNT:
        bad = parse_num((uint64_t *)field, v, k->type == T_BYTES);
        break;
    }
    if (!bad)
        return 0;
    if (k->secret)
        return vs_error_set(VS_EINVALID, "%s: bad value for %s; the value is "
                            "not shown", origin, k->name);
    return vs_error_set(VS_EINVALID, "%s: bad value '%s' for %s", origin, v,
                        k->name);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'
                 || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int read_file(cli_cfg *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_], origin[PATH_MAX_ + 32];
    int error = 0;
    if (!f)
        return vs_error_set_os(VS_EIO, "cannot read config file '%s'", path);
    for (unsigned no = 1; !error && fgets(line, sizeof(line), f); no++) {
        snprintf(origin, sizeof(origin), "%s:%u", path, no);
        if (!strchr(line, '\n') && !feof(f)) {
            error = vs_error_set(VS_EINVALID, "%s: line too long", origin);
            break;
        }
        for (char *p = line; *p; p++)
            if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        char *s = trim(line), *eq = strchr(s, '=');
        if (!*s)
            continue;
        if (!eq) {
            error = vs_error_set(VS_EINVALID, "%s: expected 'key = value'",
                                 origin);
            break;
        }
        *eq = '\0';
        char *name = trim(s);
        const key_def *k = find_key(name, strlen(name), false);
        if (k) /* vecsnapd's other keys are not ours */
            error = set_key(c, k, trim(eq + 1), origin);
    }
    fclose(f);
    return error;
}

static int read_env(cli_cfg *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char var[64] = "VECSNAP_";
        size_t n = strlen(var);
        for (const char *p = keys[i].name; *p && n + 1 < sizeof(var); p++)
            var[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[n] = '\0';
        const char *v = getenv(var);
        int error = v ? set_key(c, &keys[i], v, var) : 0;
        if (error < 0)
            return error;
    }
    return 0;
}

/* Command-line options: settings, the command's own flags (`flags`, set
 * in *seen by index) and positional arguments (into args). */
typedef struct cli_args {
    const char *const *flags;
    size_t nflags;
    bool seen[4];
    const char *args[IDS_MAX];
    size_t nargs;
} cli_args;

static int parse_args(cli_cfg *c, cli_args *a, int argc, char **argv)
{
    const char *file = getenv("VECSNAP_CONFIG");
    memset(c, 0, sizeof(*c));
    snprintf(c->data_dir, sizeof(c->data_dir), "./data");
    c->path_style = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    int error = file && *file ? read_file(c, file) : 0;
    if (!error)
        error = read_env(c);
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
        const key_def *kd = find_key(name, n, true);
        if (!kd)
            return vs_error_set(VS_EINVALID, "unknown option '--%.*s'",
                                (int)n, name);
        error = set_key(c, kd, v, s);
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
                    const cli_cfg *c)
{
    *has = c->key_hex[0] || c->key_file[0];
    if (c->key_hex[0] && c->key_file[0])
        return vs_error_set(VS_EINVALID, "give encryption_key or "
                            "encryption_key_file, not both");
    if (c->key_hex[0])
        return vs_crypt_key_parse(key, c->key_hex, strlen(c->key_hex));
    if (c->key_file[0])
        return vs_crypt_key_load(key, c->key_file);
    return 0;
}

static int open_remote(vs_remote **out, const cli_cfg *c)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    bool has = false;
    *out = NULL;
    if (!c->endpoint[0] || !c->bucket[0])
        return vs_error_set(VS_EINVALID, "remote storage is not configured "
                            "(set s3_endpoint and s3_bucket)");
    if (c->parallel > 16 || c->retries > 20 || c->connect_timeout_s > 3600
        || c->timeout_s > 3600)
        return vs_error_set(VS_EINVALID, "s3_parallel (1..16), s3_retries "
                            "(0..20) or a timeout (1..3600) is out of "
                            "range");
    vs_s3_config sc = {
        .endpoint = c->endpoint,
        .region = c->region,
        .bucket = c->bucket,
        .prefix = c->prefix,
        .path_style = c->path_style,
        .access_key = c->access_key[0] ? c->access_key : NULL,
        .secret_key = c->secret_key[0] ? c->secret_key : NULL,
        .session_token = c->session_token[0] ? c->session_token : NULL,
        .part_size = c->part_size,
        .parallel = (unsigned)c->parallel,
        .max_bytes_per_s = c->max_bytes_per_s,
        .connect_timeout_s = (unsigned)c->connect_timeout_s,
        .low_speed_timeout_s = (unsigned)c->timeout_s,
        .retries = (unsigned)c->retries,
    };
    int error = load_key(key, &has, c);
    if (!error)
        error = vs_remote_new(out, &sc, has ? key : NULL);
    explicit_bzero(key, sizeof(key));
    return error;
}

static int open_catalog(vs_catalog **out, const cli_cfg *c)
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
static int setup(cli_cfg *c, cli_args *a, vs_remote **r, vs_catalog **cat,
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
        return fail(c->data_dir);
    return -1;
}

/* ---- commands ----------------------------------------------------------- */

int vs_cli_push(int argc, char **argv)
{
    static const char *const flags[] = {"--all"};
    cli_cfg c;
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
        rc = fail(c.data_dir);
        goto done;
    }
    if (!a.seen[0] && !a.nargs) {
        if (vs_catalog_current(cur, cat) < 0) {
            rc = fail("no snapshot named and no CURRENT one");
            goto done;
        }
        a.args[a.nargs++] = cur;
    }
    for (size_t i = 0; i < (a.seen[0] ? n : a.nargs); i++) {
        const char *id = a.seen[0] ? all[i].id : a.args[i];
        vs_snapshot m;
        if (vs_remote_upload(&m, r, cat, id, NULL, NULL) < 0) {
            rc = fail(id);
            continue;
        }
        printf("pushed %s to %s (%" PRIu64 " bytes%s)\n", id,
               vs_remote_where(r), m.bytes, m.encrypted ? ", encrypted" : "");
        vs_snapshot_dispose(&m);
    }
done:
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&all[i]);
    free(all);
    vs_catalog_free(cat);
    vs_remote_free(r);
    return rc;
}

int vs_cli_pull(int argc, char **argv)
{
    static const char *const flags[] = {"--current"};
    cli_cfg c;
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
    if (!a.nargs)
        a.args[a.nargs++] = "latest";
    for (size_t i = 0; i < a.nargs; i++) {
        const char *id = a.args[i];
        vs_snapshot s;
        if (strcmp(id, "latest") == 0) {
            if (!all && vs_remote_list(&all, &n, r) < 0) {
                rc = fail(vs_remote_where(r));
                continue;
            }
            if (n == 0) {
                vs_error_set(VS_ENOTFOUND, "no snapshots in remote storage");
                rc = fail(vs_remote_where(r));
                continue;
            }
            id = all[n - 1].id;
        }
        if (vs_remote_fetch(&s, r, cat, id, true, NULL, NULL) < 0) {
            rc = fail(id);
            continue;
        }
        printf("pulled %s into %s (%" PRIu64 " records)\n", id, c.data_dir,
               s.records);
        vs_snapshot_dispose(&s);
        last = id;
    }
    if (a.seen[0] && last && rc == EXIT_SUCCESS) {
        if (vs_catalog_set_current(cat, last) < 0)
            rc = fail(last);
        else
            printf("CURRENT is %s\n", last);
    }
done:
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&all[i]);
    free(all);
    vs_catalog_free(cat);
    vs_remote_free(r);
    return rc;
}

int vs_cli_ls_remote(int argc, char **argv)
{
    static const char *const flags[] = {"--json"};
    cli_cfg c;
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
        rc = fail(vs_remote_where(r));
        goto done;
    }
    if (a.seen[0] && !(arr = json_array())) {
        rc = fail("out of memory");
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
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&all[i]);
    free(all);
    vs_remote_free(r);
    return rc;
}
