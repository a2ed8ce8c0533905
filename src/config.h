/*
 * config: the settings of vecsnapd and where they come from.  Each key has
 * a default, and may be set, each overriding the one before, by a config
 * file (`--config FILE` or VECSNAP_CONFIG; `key = value` lines, `#`
 * comments, unknown keys are errors), by the environment (VECSNAP_<KEY>),
 * and by a command-line flag (--<key-with-dashes> VALUE or =VALUE).
 * etc/vecsnapd.conf documents every key.
 *
 * Security: without a token (token_read / token_admin) the listen address
 * must be a loopback address; anything else is refused at parse time.
 * TLS needs both tls_cert and tls_key.
 */
#ifndef VS_CONFIG_H
#define VS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "error.h"
#include "fmt.h"
#include "log.h"
#include "wal.h"

#define VS_CONFIG_PATH_MAX 4096

typedef struct vs_config {
    char listen[64];    /* IPv4/IPv6 literal */
    bool listen_public; /* not a loopback address: needs a token */
    uint16_t port;   /* 0: any free port */
    char data_dir[VS_CONFIG_PATH_MAX];
    unsigned threads;                /* HTTP polling threads */
    uint64_t max_body_bytes;         /* upload bodies as sent */
    uint64_t max_decompressed_bytes; /* upload bodies decoded */
    vs_log_level log_level;
    /* Bearer tokens ("" when unset); see http.h's vs_http_env. */
    char token_read[128];
    char token_admin[128];
    /* TLS certificate (chain) and key, PEM files ("" for plain HTTP). */
    char tls_cert[VS_CONFIG_PATH_MAX];
    char tls_key[VS_CONFIG_PATH_MAX];
    /* POST /v1/save, auto-save and the final save. */
    vs_format_id save_format;
    vs_codec_id save_codec;
    int save_level; /* -1: the codec's default */
    uint64_t autosave_interval_s; /* 0: off */
    uint64_t autosave_after_changes;
    uint64_t autosave_keep; /* auto-saves kept, 0: all */
    bool autosave_incremental;    /* auto-saves are incremental */
    uint64_t autosave_full_every; /* ... but every Nth is full (10) */
    unsigned job_workers;
    /* Write-ahead log in DATA/wal. */
    bool wal_enabled;           /* wal_fsync "off" turns it off */
    vs_wal_fsync wal_fsync;     /* always | everysec | no (everysec) */
    uint64_t wal_segment_bytes; /* 64M */
    /* Retention (0: that rule is unset; no rule set: keep everything). */
    uint64_t keep_last, keep_daily, keep_weekly;
    uint64_t keep_within_s; /* "7d", "12h", "30m", "90s" */
    /* Remote storage (S3-compatible); "" endpoint: none. */
    char s3_endpoint[512];
    char s3_region[64];
    char s3_bucket[256];
    char s3_prefix[512];
    bool s3_path_style;
    char s3_access_key[256];   /* "": AWS_ACCESS_KEY_ID */
    char s3_secret_key[256];   /* "": AWS_SECRET_ACCESS_KEY */
    char s3_session_token[2048]; /* "": AWS_SESSION_TOKEN */
    uint64_t s3_part_size;       /* 0: chosen */
    unsigned s3_parallel;        /* 1..16 (4) */
    uint64_t s3_max_bytes_per_s; /* 0: no limit */
    unsigned s3_connect_timeout_s; /* 10 */
    unsigned s3_timeout_s;       /* below 1 KiB/s this long: abort (30) */
    uint64_t s3_retries;         /* 5 */
    bool upload_snapshots;       /* upload every snapshot (false) */
    /* Encryption at rest: a 32-byte key as 64 hex digits, given directly
     * (encryption_key, best through VECSNAP_ENCRYPTION_KEY) or in a file
     * (encryption_key_file).  Never logged nor shown in errors. */
    char encryption_key[80];
    char encryption_key_file[VS_CONFIG_PATH_MAX];
    bool encrypt_local; /* encrypt local snapshots too (false) */
    char config_file[VS_CONFIG_PATH_MAX]; /* "" when none was read */
} vs_config;

typedef enum vs_config_action {
    VS_CONFIG_RUN,
    VS_CONFIG_HELP,   /* --help: print vs_config_usage() and exit 0 */
    VS_CONFIG_VERSION /* --version */
} vs_config_action;

/* Fill *cfg from defaults, file, environment and argv (argv[0] is the
 * program).  VS_EINVALID with a message naming the key and its source (file
 * and line, variable or flag) for any bad key or value; VS_EIO when the
 * file cannot be read. */
int vs_config_parse(vs_config *cfg, vs_config_action *action, int argc,
                    char *const argv[]) VS_WARN_UNUSED;

/* The --help text. */
const char *vs_config_usage(void);

/* For the offline tool (vecsnap push/pull/ls-remote): *cfg from the
 * defaults, the config file `file` (NULL or "" for none) and the
 * environment, read as vs_config_parse reads them but without its final
 * checks across keys; then vs_config_set for each of its flags. */
int vs_config_load(vs_config *cfg, const char *file) VS_WARN_UNUSED;

/* Set the key `name` (n bytes; '-' reads as '_') to `value`, `origin`
 * naming where it came from in an error.  VS_ENOTFOUND for no such key,
 * VS_EINVALID for a bad value. */
int vs_config_set(vs_config *cfg, const char *name, size_t n,
                  const char *value, const char *origin) VS_WARN_UNUSED;

#endif
