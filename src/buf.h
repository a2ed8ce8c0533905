/*
 * buf: a growable byte buffer with a hard cap (in the spirit of curl's
 * dynbuf).  Always NUL-terminated after a successful append, so text can be
 * used as a C string.  Embed with VS_BUF_INIT(cap), release with
 * vs_buf_dispose.
 */
#ifndef VS_BUF_H
#define VS_BUF_H

#include <stddef.h>

#include "error.h"

typedef struct vs_buf {
    char *ptr;
    size_t len;
    size_t alloc;
    size_t max; /* appends past this many bytes fail with VS_ETOOBIG */
} vs_buf;

#define VS_BUF_INIT(cap) {NULL, 0, 0, (cap)}

/* Append n bytes; VS_ENOMEM or VS_ETOOBIG (buffer unchanged) on failure. */
int vs_buf_put(vs_buf *b, const void *data, size_t n) VS_WARN_UNUSED;
int vs_buf_puts(vs_buf *b, const char *s) VS_WARN_UNUSED;
int vs_buf_putc(vs_buf *b, char c) VS_WARN_UNUSED;
int vs_buf_printf(vs_buf *b, const char *fmt, ...) VS_FMT_PRINTF(2, 3)
    VS_WARN_UNUSED;
/* Make room for n more bytes without changing len. */
int vs_buf_reserve(vs_buf *b, size_t n) VS_WARN_UNUSED;
/* Keep the allocation, drop the content. */
void vs_buf_reset(vs_buf *b);
/* Hand the allocation to the caller (NUL-terminated; NULL when empty). */
char *vs_buf_detach(vs_buf *b);
void vs_buf_dispose(vs_buf *b);

#endif
