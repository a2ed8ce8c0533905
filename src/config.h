/*
 * config: the settings of vecsnapd and where they come from.  Each key has
 * a default, and may be set, each overriding the one before, by a config
 * file (`--config FILE` or VECSNAP_CONFIG; `key = value` lines, `#`
 * comments, unknown keys are errors), by the environment (VECSNAP_<KEY>),
 * and by a command-line flag (--<key-with-dashes> VALUE or =VALUE).
 * etc/vecsnapd.conf documents every key.
 *
 * Security: no auth token exists yet, so the listen address must be a
 * loopback address; anything else is refused at parse time.
 */
#ifndef VS_CONFIG_H
#define VS_CONFIG_H

#include <stdint.h>

#include "error.h"
#include "log.h"

#define VS_CONFIG_PATH_MAX 4096

typedef struct vs_config {
    char listen[64]; /* IPv4/IPv6 loopback literal */
    uint16_t port;   /* 0: any free port */
    char data_dir[VS_CONFIG_PATH_MAX];
    unsigned threads;                /* HTTP polling threads */
    uint64_t max_body_bytes;         /* upload bodies as sent */
    uint64_t max_decompressed_bytes; /* upload bodies decoded */
    vs_log_level log_level;
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

#endif
