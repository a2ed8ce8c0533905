/*
 * config: vecsnapd's settings.  It owns the key table (name, type, range,
 * default), the config file reader, the VECSNAP_* environment, the flags,
 * and the checks every value passes, in one place so that the file, the
 * environment and the flags can never disagree on what a key means.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonv.h"

enum key_type {
    K_ADDR,
    K_PORT,
    K_PATH,
    K_THREADS,
    K_BYTES,
    K_LEVEL,
    K_TOKEN,  /* 16..127 printable bytes, no blanks */
    K_FILE,   /* a path, or "" for none */
    K_FORMAT, /* binary|json|sqlite */
    K_CODEC,  /* none|gzip|brotli|zstd */
    K_INT,    /* -1 .. 22: a compression level */
    K_COUNT,  /* 0 .. 2^53 */
    K_WORKERS, /* 1 .. 16 */
    K_BOOL,    /* true|false|yes|no|on|off|1|0 */
    K_FSYNC,   /* always|everysec|no|off */
    K_SECS,    /* a duration: N[smhdw], 0 */
    K_TEXT,    /* printable text, no blanks, may be "" */
    K_SECRET,  /* as K_TEXT, never echoed */
    K_KEYHEX,  /* 64 hex digits or "", never echoed */
    K_PARTS,   /* 1 .. 16 */
    K_TIMEOUT, /* 1 .. 3600 */
    K_BYTES0,  /* 0, or K_BYTES */
    K_KEYTEXT  /* an object key prefix: UTF-8 without control characters */
};

typedef struct key_def {
    const char *name; /* file key; VECSNAP_<NAME>; --<name-with-dashes> */
    enum key_type type;
    size_t offset;
    const char *help;
} key_def;

static const key_def keys[] = {
    {"listen", K_ADDR, offsetof(vs_config, listen),
     "address to listen on; other than loopback needs a token (127.0.0.1)"},
    {"port", K_PORT, offsetof(vs_config, port),
     "TCP port, 0 for any free one (8080)"},
    {"data_dir", K_PATH, offsetof(vs_config, data_dir),
     "data directory (./data)"},
    {"threads", K_THREADS, offsetof(vs_config, threads),
     "HTTP threads, 0 for one per CPU (0)"},
    {"max_body_bytes", K_BYTES, offsetof(vs_config, max_body_bytes),
     "largest upload body as sent, K/M/G suffixes (1G)"},
    {"max_decompressed_bytes", K_BYTES,
     offsetof(vs_config, max_decompressed_bytes),
     "largest upload body after Content-Encoding (4G)"},
    {"log_level", K_LEVEL, offsetof(vs_config, log_level),
     "debug, info, notice, warn or error (info)"},
    {"token_read", K_TOKEN, offsetof(vs_config, token_read),
     "bearer token that may read, 16 to 127 printable characters (none)"},
    {"token_admin", K_TOKEN, offsetof(vs_config, token_admin),
     "bearer token that may read and change, 16 to 127 characters (none)"},
    {"tls_cert", K_FILE, offsetof(vs_config, tls_cert),
     "PEM certificate chain for HTTPS; needs tls_key (none)"},
    {"tls_key", K_FILE, offsetof(vs_config, tls_key),
     "PEM private key for HTTPS (none)"},
    {"save_format", K_FORMAT, offsetof(vs_config, save_format),
     "format of saves: binary, json or sqlite (binary)"},
    {"save_compression", K_CODEC, offsetof(vs_config, save_codec),
     "compression of saves: none, gzip, brotli or zstd (zstd)"},
    {"save_level", K_INT, offsetof(vs_config, save_level),
     "compression level of saves, -1 for the codec's default (-1)"},
    {"autosave_interval_s", K_COUNT, offsetof(vs_config, autosave_interval_s),
     "auto-save: seconds between saves, 0 for off (300)"},
    {"autosave_after_changes", K_COUNT,
     offsetof(vs_config, autosave_after_changes),
     "auto-save: writes needed before a save, 0 for any (1)"},
    {"autosave_keep", K_COUNT, offsetof(vs_config, autosave_keep),
     "auto-save: auto-saved snapshots kept, 0 for all (10)"},
    {"autosave_incremental", K_BOOL,
     offsetof(vs_config, autosave_incremental),
     "auto-save: write incremental snapshots (false)"},
    {"autosave_full_every", K_COUNT, offsetof(vs_config, autosave_full_every),
     "auto-save: with incremental on, every Nth save is full (10)"},
    {"job_workers", K_WORKERS, offsetof(vs_config, job_workers),
     "threads running long jobs (snapshots, restores) (2)"},
    {"wal_fsync", K_FSYNC, offsetof(vs_config, wal_fsync),
     "write-ahead log: always, everysec, no, or off for no log (everysec)"},
    {"wal_segment_bytes", K_BYTES, offsetof(vs_config, wal_segment_bytes),
     "write-ahead log: segment size, K/M/G suffixes (64M)"},
    {"keep_last", K_COUNT, offsetof(vs_config, keep_last),
     "retention: keep the newest N snapshots, 0 for no such rule (0)"},
    {"keep_within", K_SECS, offsetof(vs_config, keep_within_s),
     "retention: keep snapshots younger than this, e.g. 7d, 12h (0)"},
    {"keep_daily", K_COUNT, offsetof(vs_config, keep_daily),
     "retention: keep the newest snapshot of each of N days (0)"},
    {"keep_weekly", K_COUNT, offsetof(vs_config, keep_weekly),
     "retention: keep the newest snapshot of each of N weeks (0)"},
    {"s3_endpoint", K_TEXT, offsetof(vs_config, s3_endpoint),
     "remote storage: S3 endpoint URL, empty for none (none)"},
    {"s3_region", K_TEXT, offsetof(vs_config, s3_region),
     "remote storage: region (us-east-1)"},
    {"s3_bucket", K_TEXT, offsetof(vs_config, s3_bucket),
     "remote storage: bucket (none)"},
    {"s3_prefix", K_KEYTEXT, offsetof(vs_config, s3_prefix),
     "remote storage: key prefix, e.g. vecsnap/ (none)"},
    {"s3_path_style", K_BOOL, offsetof(vs_config, s3_path_style),
     "remote storage: path-style addressing instead of virtual-hosted "
     "(true)"},
    {"s3_access_key", K_SECRET, offsetof(vs_config, s3_access_key),
     "remote storage: access key id (AWS_ACCESS_KEY_ID)"},
    {"s3_secret_key", K_SECRET, offsetof(vs_config, s3_secret_key),
     "remote storage: secret key (AWS_SECRET_ACCESS_KEY)"},
    {"s3_session_token", K_SECRET, offsetof(vs_config, s3_session_token),
     "remote storage: session token (AWS_SESSION_TOKEN)"},
    {"s3_part_size", K_BYTES0, offsetof(vs_config, s3_part_size),
     "remote storage: multipart part size, 0 for chosen by size (0)"},
    {"s3_parallel", K_PARTS, offsetof(vs_config, s3_parallel),
     "remote storage: parts in flight, 1 to 16 (4)"},
    {"s3_max_bytes_per_s", K_BYTES0, offsetof(vs_config, s3_max_bytes_per_s),
     "remote storage: bandwidth limit per transfer, 0 for none (0)"},
    {"s3_connect_timeout_s", K_TIMEOUT,
     offsetof(vs_config, s3_connect_timeout_s),
     "remote storage: connect timeout in seconds (10)"},
    {"s3_timeout_s", K_TIMEOUT, offsetof(vs_config, s3_timeout_s),
     "remote storage: give up on a transfer slower than 1 KiB/s for this "
     "many seconds (30)"},
    {"s3_retries", K_COUNT, offsetof(vs_config, s3_retries),
     "remote storage: retries of a failed request (5)"},
    {"upload_snapshots", K_BOOL, offsetof(vs_config, upload_snapshots),
     "remote storage: upload every snapshot after it is made (false)"},
    {"encryption_key", K_KEYHEX, offsetof(vs_config, encryption_key),
     "encryption at rest: 64 hex digits (none; prefer the environment)"},
    {"encryption_key_file", K_FILE, offsetof(vs_config, encryption_key_file),
     "encryption at rest: file holding the key as 64 hex digits (none)"},
    {"encrypt_local", K_BOOL, offsetof(vs_config, encrypt_local),
     "encryption at rest: encrypt local snapshots too (false)"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void set_defaults(vs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1");
    cfg->port = 8080;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "./data");
    cfg->threads = 0;
    cfg->max_body_bytes = (uint64_t)1 << 30;
    cfg->max_decompressed_bytes = (uint64_t)4 << 30;
    cfg->log_level = VS_LOG_INFO;
    cfg->save_format = VS_FORMAT_BIN;
    cfg->save_codec = VS_CODEC_ZSTD;
    cfg->save_level = -1;
    cfg->autosave_interval_s = 300;
    cfg->autosave_after_changes = 1;
    cfg->autosave_keep = 10;
    cfg->autosave_full_every = 10;
    cfg->job_workers = 2;
    cfg->wal_enabled = true;
    cfg->wal_fsync = VS_WAL_FSYNC_EVERYSEC;
    cfg->wal_segment_bytes = (uint64_t)64 << 20;
    snprintf(cfg->s3_region, sizeof(cfg->s3_region), "us-east-1");
    cfg->s3_path_style = true;
    cfg->s3_parallel = 4;
    cfg->s3_connect_timeout_s = 10;
    cfg->s3_timeout_s = 30;
    cfg->s3_retries = 5;
}

/* ---- values -------------------------------------------------------------- */

static int parse_uint(uint64_t *out, const char *v, uint64_t max, bool suffixes)
{
    char *end;
    errno = 0;
    if (*v < '0' || *v > '9')
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || end == v)
        return -1;
    unsigned shift = 0;
    if (suffixes && *end) {
        const char *units = "KMG";
        const char *u = strchr(units, *end & ~0x20);
        if (!u || !*u)
            return -1;
        shift = 10u * (unsigned)(u - units + 1);
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
    }
    if (*end || n > (max >> shift))
        return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

/* An IPv4/IPv6 literal (or localhost) into out: 0 for a loopback address,
 * -2 for another one (allowed only with a token, checked at the end), -1
 * for something else. */
static int check_addr(char *out, size_t size, const char *v)
{
    unsigned char a[16];
    if (strcmp(v, "localhost") == 0)
        v = "127.0.0.1";
    if (inet_pton(AF_INET, v, a) == 1) {
        if (a[0] != 127)
            goto public;
    } else if (inet_pton(AF_INET6, v, a) == 1) {
        static const unsigned char lo[16] = {[15] = 1};
        if (memcmp(a, lo, 16) != 0)
            goto public;
    } else {
        return -1;
    }
    if (strlen(v) >= size)
        return -1;
    memcpy(out, v, strlen(v) + 1);
    return 0;
public:
    if (strlen(v) >= size)
        return -1;
    memcpy(out, v, strlen(v) + 1);
    return -2;
}

static size_t field_size(const key_def *k)
{
    switch (k->offset) {
    case offsetof(vs_config, s3_endpoint):
        return sizeof(((vs_config *)0)->s3_endpoint);
    case offsetof(vs_config, s3_region):
        return sizeof(((vs_config *)0)->s3_region);
    case offsetof(vs_config, s3_bucket):
        return sizeof(((vs_config *)0)->s3_bucket);
    case offsetof(vs_config, s3_prefix):
        return sizeof(((vs_config *)0)->s3_prefix);
    case offsetof(vs_config, s3_access_key):
        return sizeof(((vs_config *)0)->s3_access_key);
    case offsetof(vs_config, s3_secret_key):
        return sizeof(((vs_config *)0)->s3_secret_key);
    case offsetof(vs_config, s3_session_token):
        return sizeof(((vs_config *)0)->s3_session_token);
    default:
        return 0;
    }
}

/* Printable ASCII without blanks, shorter than `size`; "" allowed. */
static int check_text(const char *v, size_t size)
{
    size_t n = strlen(v);
    if (n >= size)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            return -1;
    return 0;
}

/* UTF-8 without control characters, shorter than `size`; "" allowed. */
static int check_keytext(const char *v, size_t size)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v);
    if (n >= size)
        return -1;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return -1;
        size_t len = p[i] < 0x80 ? 1 : vs_utf8_seq(p + i, n - i);
        if (len == 0)
            return -1;
        i += len;
    }
    return 0;
}

static int parse_bool(bool *out, const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* "0", or N followed by s, m, h, d or w (a bare number is seconds). */
static int parse_secs(uint64_t *out, const char *v)
{
    char num[32];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(num))
        return -1;
    uint64_t mult = 1;
    memcpy(num, v, n + 1);
    const char *units = "smhdw";
    static const uint64_t secs[] = {1, 60, 3600, 86400, 604800};
    const char *u = strchr(units, num[n - 1]);
    if (u && *u) {
        mult = secs[u - units];
        num[--n] = '\0';
    }
    uint64_t x;
    if (parse_uint(&x, num, ((uint64_t)1 << 40) / mult, false) < 0)
        return -1;
    *out = x * mult;
    return 0;
}

static int check_keyhex(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return 0;
    if (n != 64)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return -1;
    }
    return 0;
}

/* A token: 16..127 printable ASCII bytes without blanks. */
static int check_token(const char *v)
{
    size_t n = strlen(v);
    if (n < 16 || n > 127)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            return -1;
    return 0;
}

static int set_key(vs_config *cfg, const key_def *k, const char *v,
                   const char *origin)
{
    void *field = (char *)cfg + k->offset;
    uint64_t n = 0;
    int bad = 0;
    switch (k->type) {
    case K_ADDR:
        bad = check_addr(field, sizeof(cfg->listen), v);
        if (bad == -2) {
            cfg->listen_public = true;
            bad = 0;
        } else if (!bad) {
            cfg->listen_public = false;
        }
        break;
    case K_PORT:
        bad = parse_uint(&n, v, 65535, false);
        if (!bad)
            *(uint16_t *)field = (uint16_t)n;
        break;
    case K_PATH:
        bad = !*v || strlen(v) >= VS_CONFIG_PATH_MAX ? -1 : 0;
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case K_THREADS:
        bad = parse_uint(&n, v, 256, false);
        if (!bad)
            *(unsigned *)field = (unsigned)n;
        break;
    case K_BYTES:
    case K_BYTES0:
        bad = parse_uint(&n, v, UINT64_MAX, true) ||
                      (n < 1024 && !(n == 0 && k->type == K_BYTES0))
                  ? -1
                  : 0;
        if (!bad)
            *(uint64_t *)field = n;
        break;
    case K_LEVEL:
        bad = vs_log_parse_level(field, v) < 0 ? -1 : 0;
        break;
    case K_TOKEN:
        bad = check_token(v);
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case K_FILE:
        bad = strlen(v) >= VS_CONFIG_PATH_MAX ? -1 : 0;
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case K_FORMAT: {
        vs_format_id f;
        bad = vs_format_parse(&f, v) < 0 || f == VS_FORMAT_RUVECTOR ||
                      f == VS_FORMAT_AUTO
                  ? -1
                  : 0;
        if (!bad)
            *(vs_format_id *)field = f;
        break;
    }
    case K_CODEC: {
        vs_codec_id c;
        bad = vs_codec_parse(&c, v) < 0 || c == VS_CODEC_AUTO ? -1 : 0;
        if (!bad)
            *(vs_codec_id *)field = c;
        break;
    }
    case K_INT:
        if (strcmp(v, "-1") == 0) {
            *(int *)field = -1;
            break;
        }
        bad = parse_uint(&n, v, 22, false);
        if (!bad)
            *(int *)field = (int)n;
        break;
    case K_COUNT:
        bad = parse_uint(&n, v, (uint64_t)1 << 53, false);
        if (!bad)
            *(uint64_t *)field = n;
        break;
    case K_WORKERS:
    case K_PARTS:
        bad = parse_uint(&n, v, 16, false) || n < 1 ? -1 : 0;
        if (!bad)
            *(unsigned *)field = (unsigned)n;
        break;
    case K_TIMEOUT:
        bad = parse_uint(&n, v, 3600, false) || n < 1 ? -1 : 0;
        if (!bad)
            *(unsigned *)field = (unsigned)n;
        break;
    case K_BOOL:
        bad = parse_bool(field, v);
        break;
    case K_FSYNC:
        if (strcmp(v, "off") == 0) {
            cfg->wal_enabled = false;
            break;
        }
        bad = vs_wal_fsync_parse(field, v) < 0 ? -1 : 0;
        if (!bad)
            cfg->wal_enabled = true;
        break;
    case K_SECS:
        bad = parse_secs(&n, v);
        if (!bad)
            *(uint64_t *)field = n;
        break;
    case K_TEXT:
    case K_SECRET:
        bad = check_text(v, field_size(k));
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case K_KEYTEXT:
        bad = check_keytext(v, field_size(k));
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    case K_KEYHEX:
        bad = check_keyhex(v);
        if (!bad)
            memcpy(field, v, strlen(v) + 1);
        break;
    }
    vs_error_clear();
    if (bad && (k->type == K_TOKEN || k->type == K_SECRET ||
                k->type == K_KEYHEX))
        return vs_error_set(VS_EINVALID,
                            "%s: bad value for %s (%s); the value is not "
                            "shown",
                            origin, k->name, k->help);
    if (bad)
        return vs_error_set(VS_EINVALID, "%s: bad value '%s' for %s (%s)",
                            origin, v, k->name, k->help);
    return 0;
}

static const key_def *find_key(const char *name, size_t n, bool dashes)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *kn = keys[i].name;
        if (strlen(kn) != n)
            continue;
        size_t j = 0;
        for (; j < n; j++) {
            char c = name[j];
            if (dashes && c == '-')
                c = '_';
            if (c != kn[j])
                break;
        }
        if (j == n)
            return &keys[i];
    }
    return NULL;
}

/* ---- sources ------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                 s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int read_file(vs_config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return vs_error_set_os(VS_EIO, "cannot read config file '%s'", path);
    char line[VS_CONFIG_PATH_MAX + 256], origin[VS_CONFIG_PATH_MAX + 32];
    bool seen[NKEYS] = {false};
    int error = 0;
    for (unsigned no = 1; !error && fgets(line, sizeof(line), f); no++) {
        snprintf(origin, sizeof(origin), "%s:%u", path, no);
        if (!strchr(line, '\n') && !feof(f)) {
            error = vs_error_set(VS_EINVALID, "%s: line too long", origin);
            break;
        }
        /* '#' starts a comment at the start of a line or after a blank */
        for (char *p = line; *p; p++) {
            if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        }
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            error =
                vs_error_set(VS_EINVALID, "%s: expected 'key = value'", origin);
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        const key_def *k = find_key(name, strlen(name), false);
        if (!k)
            error =
                vs_error_set(VS_EINVALID, "%s: unknown key '%s'", origin, name);
        else if (seen[k - keys])
            error =
                vs_error_set(VS_EINVALID, "%s: '%s' given twice", origin, name);
        else {
            seen[k - keys] = true;
            error = set_key(cfg, k, value, origin);
        }
    }
    if (!error && ferror(f))
        error = vs_error_set_os(VS_EIO, "cannot read config file '%s'", path);
    fclose(f);
    if (!error)
        snprintf(cfg->config_file, sizeof(cfg->config_file), "%s", path);
    return error;
}

static int read_env(vs_config *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char var[64] = "VECSNAP_";
        size_t n = strlen(var);
        for (const char *p = keys[i].name; *p && n + 1 < sizeof(var); p++)
            var[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        var[n] = '\0';
        const char *v = getenv(var);
        if (v) {
            int error = set_key(cfg, &keys[i], v, var);
            if (error < 0)
                return error;
        }
    }
    return 0;
}

/* Splits "--name=value" / "--name value"; *i advances past a value. */
static int flag_value(const char **name, size_t *nlen, const char **value,
                      int *i, int argc, char *const argv[])
{
    const char *a = argv[*i] + 2, *eq = strchr(a, '=');
    *name = a;
    *nlen = eq ? (size_t)(eq - a) : strlen(a);
    *value = eq ? eq + 1 : NULL;
    if (!*value) {
        if (*i + 1 >= argc)
            return vs_error_set(VS_EINVALID, "%s needs a value", argv[*i]);
        *value = argv[++*i];
    }
    return 0;
}

static int read_flags(vs_config *cfg, int argc, char *const argv[])
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *name, *value;
        size_t nlen;
        if (strcmp(a, "-c") == 0) {
            i++; /* the config file: read already */
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return vs_error_set(VS_EINVALID, "unexpected argument '%s'", a);
        int error = flag_value(&name, &nlen, &value, &i, argc, argv);
        if (error < 0)
            return error;
        if (nlen == 6 && strncmp(name, "config", 6) == 0)
            continue;
        const key_def *k = find_key(name, nlen, true);
        if (!k)
            return vs_error_set(VS_EINVALID, "unknown option '--%.*s'",
                                (int)nlen, name);
        char origin[80];
        snprintf(origin, sizeof(origin), "--%.*s", (int)nlen, name);
        error = set_key(cfg, k, value, origin);
        if (error < 0)
            return error;
    }
    return 0;
}

/* The first pass: --help, --version and where the config file is. */
static int scan_args(vs_config_action *action, const char **file, int argc,
                     char *const argv[])
{
    *action = VS_CONFIG_RUN;
    *file = getenv("VECSNAP_CONFIG");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *action = VS_CONFIG_HELP;
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            *action = VS_CONFIG_VERSION;
            return 0;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return vs_error_set(VS_EINVALID, "%s needs a file", a);
            *file = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            *file = a + 9;
        }
    }
    return 0;
}

int vs_config_parse(vs_config *cfg, vs_config_action *action, int argc,
                    char *const argv[])
{
    const char *file = NULL;
    set_defaults(cfg);
    int error = scan_args(action, &file, argc, argv);
    if (error < 0 || *action != VS_CONFIG_RUN)
        return error;
    if (file && *file)
        error = read_file(cfg, file);
    if (!error)
        error = read_env(cfg);
    if (!error)
        error = read_flags(cfg, argc, argv);
    if (error < 0)
        return error;
    if (cfg->listen_public && !cfg->token_read[0] && !cfg->token_admin[0])
        return vs_error_set(VS_EINVALID,
                            "listen address '%s' is not a loopback address; "
                            "serving other hosts needs an auth token "
                            "(token_admin, VECSNAP_TOKEN_ADMIN)",
                            cfg->listen);
    if (!cfg->tls_cert[0] != !cfg->tls_key[0])
        return vs_error_set(VS_EINVALID,
                            "TLS needs both tls_cert and tls_key");
    if (cfg->s3_endpoint[0] && !cfg->s3_bucket[0])
        return vs_error_set(VS_EINVALID, "s3_endpoint needs s3_bucket");
    if (cfg->upload_snapshots && !cfg->s3_endpoint[0])
        return vs_error_set(VS_EINVALID,
                            "upload_snapshots needs remote storage "
                            "(s3_endpoint, s3_bucket)");
    if (cfg->s3_part_size && cfg->s3_part_size < ((uint64_t)5 << 20))
        return vs_error_set(VS_EINVALID,
                            "s3_part_size must be at least 5M (S3's "
                            "smallest part)");
    if (cfg->s3_retries > 20)
        return vs_error_set(VS_EINVALID, "s3_retries must be 0 to 20");
    if (cfg->encryption_key[0] && cfg->encryption_key_file[0])
        return vs_error_set(VS_EINVALID,
                            "give encryption_key or encryption_key_file, "
                            "not both");
    if (cfg->encrypt_local && !cfg->encryption_key[0] &&
        !cfg->encryption_key_file[0])
        return vs_error_set(VS_EINVALID,
                            "encrypt_local needs a key (encryption_key_file "
                            "or VECSNAP_ENCRYPTION_KEY)");
    if (cfg->save_level >= 0) {
        int level;
        if (vs_codec_check_level(&level, cfg->save_codec, cfg->save_level) <
            0)
            return vs_error_set(VS_EINVALID,
                                "save_level %d is out of range for "
                                "save_compression %s",
                                cfg->save_level,
                                vs_codec_info_of(cfg->save_codec)->name);
    }
    if (cfg->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
    }
    return 0;
}

int vs_config_load(vs_config *cfg, const char *file)
{
    set_defaults(cfg);
    int error = file && *file ? read_file(cfg, file) : 0;
    if (!error)
        error = read_env(cfg);
    return error;
}

int vs_config_set(vs_config *cfg, const char *name, size_t n,
                  const char *value, const char *origin)
{
    const key_def *k = find_key(name, n, true);
    if (!k)
        return vs_error_set(VS_ENOTFOUND, "unknown key '%.*s'", (int)n,
                            name);
    return set_key(cfg, k, value, origin);
}

const char *vs_config_usage(void)
{
    return "usage: vecsnapd [--config FILE] [--KEY VALUE ...]\n"
           "\n"
           "Serves a vecsnap vector store over HTTP.\n"
           "\n"
           "Every key may be set in the config file (key = value), in the\n"
           "environment (VECSNAP_KEY) or by a flag (--key-with-dashes);\n"
           "later sources win: defaults < file < environment < flags.\n"
           "\n"
           "  -c, --config FILE            config file (or VECSNAP_CONFIG)\n"
           "  --listen ADDR                loopback address (127.0.0.1)\n"
           "  --port N                     TCP port, 0: any free one (8080)\n"
           "  --data-dir DIR               data directory (./data)\n"
           "  --threads N                  HTTP threads, 0: one per CPU (0)\n"
           "  --max-body-bytes N           largest upload as sent (1G)\n"
           "  --max-decompressed-bytes N   largest upload decoded (4G)\n"
           "  --log-level LEVEL            debug|info|notice|warn|error\n"
           "  --token-read TOKEN           bearer token that may read\n"
           "  --token-admin TOKEN          bearer token that may change\n"
           "  --tls-cert FILE --tls-key FILE   serve HTTPS\n"
           "  --save-format F              binary|json|sqlite (binary)\n"
           "  --save-compression C         none|gzip|brotli|zstd (zstd)\n"
           "  --save-level N               -1: the codec's default\n"
           "  --autosave-interval-s N      seconds, 0: off (300)\n"
           "  --autosave-after-changes N   writes before a save (1)\n"
           "  --autosave-keep N            auto-saves kept, 0: all (10)\n"
           "  --autosave-incremental BOOL  incremental auto-saves (false)\n"
           "  --autosave-full-every N      ... with every Nth full (10)\n"
           "  --job-workers N              threads for long jobs (2)\n"
           "  --wal-fsync P                always|everysec|no|off (everysec)\n"
           "  --wal-segment-bytes N        log segment size (64M)\n"
           "  --keep-last N --keep-within D --keep-daily N --keep-weekly N\n"
           "                               retention rules (none)\n"
           "  --s3-endpoint URL --s3-bucket B --s3-prefix P --s3-region R\n"
           "                               remote storage (none)\n"
           "  --s3-path-style BOOL         path-style addressing (true)\n"
           "  --s3-access-key K --s3-secret-key S --s3-session-token T\n"
           "                               credentials (AWS_* variables)\n"
           "  --s3-part-size N --s3-parallel N --s3-max-bytes-per-s N\n"
           "  --s3-connect-timeout-s N --s3-timeout-s N --s3-retries N\n"
           "  --upload-snapshots BOOL      upload every snapshot (false)\n"
           "  --encryption-key-file FILE   key for encryption at rest\n"
           "                               (or VECSNAP_ENCRYPTION_KEY)\n"
           "  --encrypt-local BOOL         encrypt local snapshots (false)\n"
           "  -h, --help                   this text\n"
           "  --version                    the version\n"
           "\n"
           "Without a token the server listens on a loopback address only.\n"
           "Tokens are better given in the environment or the file than as\n"
           "flags (other users can see a process's flags).  SIGTERM or\n"
           "SIGINT stops the server after a final save when auto-save is on.\n";
}
