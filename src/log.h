/*
 * log: one printf-checked logging function, lines to stderr with a UTC
 * timestamp and level.  Thread-safe (one write(2) per line).
 */
#ifndef VS_LOG_H
#define VS_LOG_H

#include "error.h"

typedef enum vs_log_level {
    VS_LOG_DEBUG,
    VS_LOG_INFO,
    VS_LOG_NOTICE,
    VS_LOG_WARN,
    VS_LOG_ERROR
} vs_log_level;

/* Lines below `level` are dropped.  Default VS_LOG_INFO. */
void vs_log_set_level(vs_log_level level);
/* Parse "debug|info|notice|warn|error"; returns VS_EINVALID otherwise. */
int vs_log_parse_level(vs_log_level *out, const char *name);
void vs_log(vs_log_level level, const char *fmt, ...) VS_FMT_PRINTF(2, 3);

#endif
