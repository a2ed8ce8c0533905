/* stream_mem: streams over memory (a capped vs_buf, or a borrowed span). */
#include <stdlib.h>
#include <string.h>

#include "stream.h"

typedef struct mem_writer {
    vs_stream base;
    vs_buf *buf;
} mem_writer;

typedef struct mem_reader {
    vs_stream base;
    const uint8_t *data;
    size_t len, pos;
} mem_reader;

static int mem_write(vs_stream *s, const void *data, size_t n)
{
    return vs_buf_put(((mem_writer *)s)->buf, data, n);
}

static int mem_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    mem_reader *m = (mem_reader *)s;
    size_t take = m->len - m->pos;
    if (take > n)
        take = n;
    if (take) /* data may be NULL for an empty span */
        memcpy(data, m->data + m->pos, take);
    m->pos += take;
    *got = take;
    return 0;
}

static const vs_stream_ops mem_writer_ops = {.name = "memory",
                                             .write = mem_write};
static const vs_stream_ops mem_reader_ops = {.name = "memory",
                                             .read = mem_read};

int vs_stream_mem_writer_new(vs_stream **out, vs_buf *buf)
{
    *out = NULL;
    mem_writer *m = calloc(1, sizeof(*m));
    if (!m)
        return vs_error_oom();
    vs_stream__init(&m->base, &mem_writer_ops, NULL, true);
    m->buf = buf;
    *out = &m->base;
    return 0;
}

int vs_stream_mem_reader_new(vs_stream **out, const void *data, size_t n)
{
    *out = NULL;
    mem_reader *m = calloc(1, sizeof(*m));
    if (!m)
        return vs_error_oom();
    vs_stream__init(&m->base, &mem_reader_ops, NULL, false);
    m->data = data;
    m->len = n;
    *out = &m->base;
    return 0;
}
