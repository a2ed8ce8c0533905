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
    K_WORKERS /* 1 .. 16 */
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
    {"job_workers", K_WORKERS, offsetof(vs_config, job_workers),
     "threads running long jobs (snapshots, restores) (2)"},
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
    cfg->job_workers = 2;
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
        bad = parse_uint(&n, v, UINT64_MAX, true) || n < 1024 ? -1 : 0;
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
        bad = parse_uint(&n, v, 16, false) || n < 1 ? -1 : 0;
        if (!bad)
            *(unsigned *)field = (unsigned)n;
        break;
    }
    vs_error_clear();
    if (bad && k->type == K_TOKEN)
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
           "  --job-workers N              threads for long jobs (2)\n"
           "  -h, --help                   this text\n"
           "  --version                    the version\n"
           "\n"
           "Without a token the server listens on a loopback address only.\n"
           "Tokens are better given in the environment or the file than as\n"
           "flags (other users can see a process's flags).  SIGTERM or\n"
           "SIGINT stops the server after a final save when auto-save is on.\n";
}
