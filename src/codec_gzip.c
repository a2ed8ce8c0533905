/*
 * codec_gzip: gzip (RFC 1952) through zlib.  The writer emits one gzip
 * member (deflateInit2 with window bits 15 + 16); the reader inflates with
 * window bits 15 + 16, which checks each member's CRC-32 and length.
 *
 * Concatenated members are accepted, as gzip(1) does: a file made by
 * `cat a.gz b.gz` (or by a parallel compressor) reads as the concatenation
 * of its members.  After the end of a member, input that does not start
 * with the gzip magic byte is trailing garbage (VS_ECORRUPT), unlike
 * gzip(1), which only warns.  End of input inside a member, including an
 * empty input, is "truncated gzip stream".  Truncation and trailing garbage
 * are seen when the caller reads to the end (a short read).
 *
 * Output goes to the inner writer in OUTBUF chunks; the reader pulls INBUF
 * chunks from its inner reader.
 */
#define ZLIB_CONST
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec.h"

#define OUTBUF ((size_t)256 << 10)
#define INBUF ((size_t)256 << 10)
#define ZCHUNK ((size_t)1 << 30) /* zlib counts in uInt */

typedef struct gz_writer {
    vs_stream base;
    z_stream z;
    bool init;
    uint8_t *out;
} gz_writer;

typedef struct gz_reader {
    vs_stream base;
    z_stream z;
    bool init;
    bool in_eof;      /* the inner reader is exhausted */
    bool member_done; /* a member ended; more may follow */
    bool end;         /* all members read */
    uint64_t in_total;
    uint8_t *in;
} gz_reader;

/* ---- writer ---- */

static int drain(gz_writer *g)
{
    size_t len = OUTBUF - g->z.avail_out;
    g->z.next_out = g->out;
    g->z.avail_out = (uInt)OUTBUF;
    return len ? vs_stream_write(g->base.inner, g->out, len) : 0;
}

/* Run deflate over next_in/avail_in; with Z_FINISH, until the member is
 * complete. */
static int pump(gz_writer *g, int flush)
{
    for (;;) {
        int ret = deflate(&g->z, flush);
        if (ret == Z_STREAM_ERROR)
            return vs_error_set(VS_ERROR, "gzip compression failed");
        if (g->z.avail_out == 0) {
            int error = drain(g);
            if (error < 0)
                return error;
            continue;
        }
        if (flush == Z_FINISH ? ret == Z_STREAM_END : g->z.avail_in == 0)
            return 0;
    }
}

static int gz_write(vs_stream *s, const void *data, size_t n)
{
    gz_writer *g = (gz_writer *)s;
    const uint8_t *p = data;
    while (n > 0) {
        size_t chunk = n < ZCHUNK ? n : ZCHUNK;
        g->z.next_in = p;
        g->z.avail_in = (uInt)chunk;
        int error = pump(g, Z_NO_FLUSH);
        if (error < 0)
            return error;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

static int gz_finish(vs_stream *s)
{
    gz_writer *g = (gz_writer *)s;
    g->z.next_in = NULL;
    g->z.avail_in = 0;
    int error = pump(g, Z_FINISH);
    return error < 0 ? error : drain(g);
}

static void gz_writer_close(vs_stream *s)
{
    gz_writer *g = (gz_writer *)s;
    if (g->init)
        deflateEnd(&g->z);
    free(g->out);
}

static const vs_stream_ops gz_writer_ops = {.name = "gzip",
                                            .write = gz_write,
                                            .finish = gz_finish,
                                            .close = gz_writer_close};

int vs_codec__gzip_writer(vs_stream **out, vs_stream *inner, int level)
{
    *out = NULL;
    gz_writer *g = calloc(1, sizeof(*g));
    if (!g)
        return vs_error_oom();
    vs_stream__init(&g->base, &gz_writer_ops, inner, true);
    g->out = malloc(OUTBUF);
    if (!g->out) {
        vs_stream_free(&g->base);
        return vs_error_oom();
    }
    int ret =
        deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (ret != Z_OK) {
        vs_stream_free(&g->base);
        return ret == Z_MEM_ERROR
                   ? vs_error_oom()
                   : vs_error_set(VS_ERROR, "failed to start gzip level %d",
                                  level);
    }
    g->init = true;
    g->z.next_out = g->out;
    g->z.avail_out = (uInt)OUTBUF;
    *out = &g->base;
    return 0;
}

/* ---- reader ---- */

static int refill(gz_reader *g)
{
    size_t got;
    int error = vs_stream_read(g->base.inner, g->in, INBUF, &got);
    if (error < 0)
        return error;
    g->z.next_in = g->in;
    g->z.avail_in = (uInt)got;
    g->in_total += got;
    if (got < INBUF)
        g->in_eof = true;
    return 0;
}

static int gz_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    gz_reader *g = (gz_reader *)s;
    uint8_t *p = data;
    *got = 0;
    while (n > 0 && !g->end) {
        if (g->z.avail_in == 0 && !g->in_eof) {
            int error = refill(g);
            if (error < 0)
                return error;
        }
        if (g->member_done) {
            if (g->z.avail_in == 0) {
                g->end = true;
                break;
            }
            if (g->z.next_in[0] != 0x1f)
                return vs_error_set(
                    VS_ECORRUPT,
                    "trailing garbage after the gzip stream "
                    "(%llu bytes in)",
                    (unsigned long long)(g->in_total - g->z.avail_in));
            inflateReset(&g->z);
            g->member_done = false;
        }
        size_t chunk = n < ZCHUNK ? n : ZCHUNK;
        g->z.next_out = p;
        g->z.avail_out = (uInt)chunk;
        int ret = inflate(&g->z, Z_NO_FLUSH);
        size_t made = chunk - g->z.avail_out;
        p += made;
        n -= made;
        *got += made;
        switch (ret) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            g->member_done = true;
            break;
        case Z_BUF_ERROR: /* no progress: only when input ran out */
            if (g->z.avail_in == 0 && g->in_eof)
                return vs_error_set(VS_ECORRUPT,
                                    "truncated gzip stream (%llu bytes)",
                                    (unsigned long long)g->in_total);
            break;
        case Z_MEM_ERROR:
            return vs_error_oom();
        default:
            return vs_error_set(VS_ECORRUPT, "corrupt gzip stream: %s",
                                g->z.msg ? g->z.msg : "bad data");
        }
    }
    return 0;
}

static void gz_reader_close(vs_stream *s)
{
    gz_reader *g = (gz_reader *)s;
    if (g->init)
        inflateEnd(&g->z);
    free(g->in);
}

static const vs_stream_ops gz_reader_ops = {
    .name = "gzip", .read = gz_read, .close = gz_reader_close};

int vs_codec__gzip_reader(vs_stream **out, vs_stream *inner)
{
    *out = NULL;
    gz_reader *g = calloc(1, sizeof(*g));
    if (!g)
        return vs_error_oom();
    vs_stream__init(&g->base, &gz_reader_ops, inner, false);
    g->in = malloc(INBUF);
    if (!g->in) {
        vs_stream_free(&g->base);
        return vs_error_oom();
    }
    int ret = inflateInit2(&g->z, 15 + 16);
    if (ret != Z_OK) {
        vs_stream_free(&g->base);
        return ret == Z_MEM_ERROR
                   ? vs_error_oom()
                   : vs_error_set(VS_ERROR, "failed to start gzip decoding");
    }
    g->init = true;
    *out = &g->base;
    return 0;
}
