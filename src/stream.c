/* stream: the base of every stream, typed helpers, and the prefix reader. */
#include "stream.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vs_stream__init(vs_stream *s, const vs_stream_ops *ops, vs_stream *inner,
                     bool is_writer)
{
    s->ops = ops;
    s->inner = inner;
    s->bytes = 0;
    s->error = 0;
    s->is_writer = is_writer;
    s->finished = false;
    s->errmsg[0] = '\0';
}

int vs_stream__fail(vs_stream *s, int code)
{
    if (s->error == 0) {
        s->error = code;
        snprintf(s->errmsg, sizeof(s->errmsg), "%s", vs_error_last());
    }
    return s->error;
}

int vs_stream_error(const vs_stream *s)
{
    if (s->error)
        vs_error_set(s->error, "%s", s->errmsg);
    return s->error;
}

int vs_stream_write(vs_stream *s, const void *data, size_t n)
{
    assert(s->is_writer);
    if (s->error)
        return vs_stream_error(s);
    if (s->finished)
        return vs_stream__fail(
            s, vs_error_set(VS_EINVALID, "write after finish on %s stream",
                            s->ops->name));
    if (n == 0)
        return 0;
    int error = s->ops->write(s, data, n);
    if (error < 0)
        return vs_stream__fail(s, error);
    s->bytes += n;
    return 0;
}

int vs_stream_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    assert(!s->is_writer);
    *got = 0;
    if (s->error)
        return vs_stream_error(s);
    if (n == 0)
        return 0;
    int error = s->ops->read(s, data, n, got);
    if (error < 0)
        return vs_stream__fail(s, error);
    s->bytes += *got;
    return 0;
}

int vs_stream_read_exact(vs_stream *s, void *data, size_t n)
{
    size_t got;
    int error = vs_stream_read(s, data, n, &got);
    if (error < 0)
        return error;
    if (got < n)
        return vs_error_set(VS_ECORRUPT,
                            "unexpected end of data after %llu bytes",
                            (unsigned long long)s->bytes);
    return 0;
}

int vs_stream_finish(vs_stream *s)
{
    if (s->error)
        return vs_stream_error(s);
    if (s->finished || !s->is_writer)
        return 0;
    s->finished = true;
    if (s->ops->finish) {
        int error = s->ops->finish(s);
        if (error < 0)
            return vs_stream__fail(s, error);
    }
    return 0;
}

uint64_t vs_stream_bytes(const vs_stream *s)
{
    return s->bytes;
}

void vs_stream_free(vs_stream *s)
{
    if (!s)
        return;
    if (s->ops->close)
        s->ops->close(s);
    free(s);
}

int vs_stream_write_u8(vs_stream *s, uint8_t v)
{
    return vs_stream_write(s, &v, 1);
}

int vs_stream_write_u32le(vs_stream *s, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return vs_stream_write(s, b, sizeof(b));
}

int vs_stream_write_u64le(vs_stream *s, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return vs_stream_write(s, b, sizeof(b));
}

int vs_stream_write_varint(vs_stream *s, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        b[n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
    return vs_stream_write(s, b, n);
}

int vs_stream_read_u8(vs_stream *s, uint8_t *v)
{
    return vs_stream_read_exact(s, v, 1);
}

int vs_stream_read_u32le(vs_stream *s, uint32_t *v)
{
    uint8_t b[4];
    int error = vs_stream_read_exact(s, b, sizeof(b));
    if (error < 0)
        return error;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
         (uint32_t)b[3] << 24;
    return 0;
}

int vs_stream_read_u64le(vs_stream *s, uint64_t *v)
{
    uint8_t b[8];
    int error = vs_stream_read_exact(s, b, sizeof(b));
    if (error < 0)
        return error;
    *v = 0;
    for (int i = 7; i >= 0; i--)
        *v = *v << 8 | b[i];
    return 0;
}

int vs_stream_read_varint(vs_stream *s, uint64_t *v)
{
    uint64_t r = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t b;
        int error = vs_stream_read_exact(s, &b, 1);
        if (error < 0)
            return error;
        if (i == 9 && b > 1)
            return vs_error_set(VS_ECORRUPT, "varint overflows 64 bits");
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return vs_error_set(VS_ECORRUPT, "varint longer than 10 bytes");
}

/* ---- prefix replay ---- */

typedef struct prefixed {
    vs_stream base;
    size_t pos, len;
    uint8_t head[];
} prefixed;

static int prefixed_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    prefixed *p = (prefixed *)s;
    size_t take = p->len - p->pos;
    if (take > n)
        take = n;
    memcpy(data, p->head + p->pos, take);
    p->pos += take;
    *got = take;
    if (take == n)
        return 0;
    size_t more;
    int error = vs_stream_read(s->inner, (uint8_t *)data + take, n - take,
                               &more);
    if (error < 0)
        return error;
    *got += more;
    return 0;
}

static const vs_stream_ops prefixed_ops = {
    .name = "prefix", .read = prefixed_read};

int vs_stream_prefixed_new(vs_stream **out, const void *head, size_t n,
                           vs_stream *inner)
{
    *out = NULL;
    prefixed *p = malloc(sizeof(*p) + n);
    if (!p)
        return vs_error_oom();
    vs_stream__init(&p->base, &prefixed_ops, inner, false);
    p->pos = 0;
    p->len = n;
    if (n)
        memcpy(p->head, head, n);
    *out = &p->base;
    return 0;
}
