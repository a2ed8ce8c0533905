/* buf: capped growable buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vs_buf_reserve(vs_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return vs_error_set(VS_ETOOBIG, "buffer limit of %zu bytes exceeded",
                            b->max);
    size_t need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    size_t alloc = b->alloc ? b->alloc : 64;
    while (alloc < need)
        alloc = alloc > ((size_t)-1) / 2 ? need : alloc * 2;
    /* Never more than the cap (+1 for the NUL); a cap of SIZE_MAX means
     * none, and max + 1 would wrap to 0. */
    if (b->max < (size_t)-1 && alloc > b->max + 1)
        alloc = b->max + 1;
    char *p = realloc(b->ptr, alloc);
    if (!p)
        return vs_error_oom();
    b->ptr = p;
    b->alloc = alloc;
    return 0;
}

int vs_buf_put(vs_buf *b, const void *data, size_t n)
{
    int error = vs_buf_reserve(b, n);
    if (error < 0)
        return error;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int vs_buf_puts(vs_buf *b, const char *s)
{
    return vs_buf_put(b, s, strlen(s));
}

int vs_buf_putc(vs_buf *b, char c)
{
    return vs_buf_put(b, &c, 1);
}

int vs_buf_printf(vs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return vs_error_set(VS_EINVALID, "bad format string");
    int error = vs_buf_reserve(b, (size_t)n);
    if (error < 0)
        return error;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void vs_buf_reset(vs_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

char *vs_buf_detach(vs_buf *b)
{
    char *p = b->ptr;
    b->ptr = NULL;
    b->len = b->alloc = 0;
    return p;
}

void vs_buf_dispose(vs_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->alloc = 0;
}
