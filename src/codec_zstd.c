/*
 * codec_zstd: Zstandard frames through the streaming API
 * (ZSTD_compressStream2 / ZSTD_decompressStream).  The writer emits one
 * frame with a content checksum (as the zstd tool does), so corruption of
 * the data is caught by the codec itself.
 *
 * The reader accepts concatenated frames (and skippable frames), as zstd(1)
 * does; anything after the last frame that is not a frame is VS_ECORRUPT,
 * and so is an input that ends inside a frame, including an empty input
 * ("truncated zstd stream").  Both are seen when the caller reads to the
 * end.  Window sizes are capped by the library's default (2^27).
 *
 * Output goes to the inner writer in OUTBUF chunks; the reader pulls INBUF
 * chunks from its inner reader.
 */
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"

#define OUTBUF ((size_t)256 << 10)
#define INBUF ((size_t)256 << 10)

typedef struct zs_writer {
    vs_stream base;
    ZSTD_CCtx *cctx;
    ZSTD_outBuffer out;
} zs_writer;

typedef struct zs_reader {
    vs_stream base;
    ZSTD_DCtx *dctx;
    bool in_eof;
    bool frame_done; /* the last call ended a frame */
    uint64_t in_total;
    ZSTD_inBuffer in;
} zs_reader;

/* ---- writer ---- */

static int drain(zs_writer *z)
{
    size_t len = z->out.pos;
    z->out.pos = 0;
    return len ? vs_stream_write(z->base.inner, z->out.dst, len) : 0;
}

static int zs_write(vs_stream *s, const void *data, size_t n)
{
    zs_writer *z = (zs_writer *)s;
    ZSTD_inBuffer in = {data, n, 0};
    while (in.pos < in.size) {
        size_t ret =
            ZSTD_compressStream2(z->cctx, &z->out, &in, ZSTD_e_continue);
        if (ZSTD_isError(ret))
            return vs_error_set(VS_ERROR, "zstd compression failed: %s",
                                ZSTD_getErrorName(ret));
        if (z->out.pos == z->out.size) {
            int error = drain(z);
            if (error < 0)
                return error;
        }
    }
    return 0;
}

static int zs_finish(vs_stream *s)
{
    zs_writer *z = (zs_writer *)s;
    ZSTD_inBuffer in = {NULL, 0, 0};
    for (;;) {
        size_t left = ZSTD_compressStream2(z->cctx, &z->out, &in, ZSTD_e_end);
        if (ZSTD_isError(left))
            return vs_error_set(VS_ERROR, "zstd compression failed: %s",
                                ZSTD_getErrorName(left));
        if (left == 0 || z->out.pos == z->out.size) {
            int error = drain(z);
            if (error < 0 || left == 0)
                return error;
        }
    }
}

static void zs_writer_close(vs_stream *s)
{
    zs_writer *z = (zs_writer *)s;
    ZSTD_freeCCtx(z->cctx);
    free(z->out.dst);
}

static const vs_stream_ops zs_writer_ops = {.name = "zstd",
                                            .write = zs_write,
                                            .finish = zs_finish,
                                            .close = zs_writer_close};

int vs_codec__zstd_writer(vs_stream **out, vs_stream *inner, int level)
{
    *out = NULL;
    zs_writer *z = calloc(1, sizeof(*z));
    if (!z)
        return vs_error_oom();
    vs_stream__init(&z->base, &zs_writer_ops, inner, true);
    z->out.dst = malloc(OUTBUF);
    z->out.size = OUTBUF;
    z->cctx = ZSTD_createCCtx();
    if (!z->out.dst || !z->cctx) {
        vs_stream_free(&z->base);
        return vs_error_oom();
    }
    if (ZSTD_isError(
            ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_checksumFlag, 1))) {
        vs_stream_free(&z->base);
        return vs_error_set(VS_ERROR, "failed to set zstd level %d", level);
    }
    *out = &z->base;
    return 0;
}

/* ---- reader ---- */

static int refill(zs_reader *z)
{
    size_t got;
    int error = vs_stream_read(z->base.inner, (void *)z->in.src, INBUF, &got);
    if (error < 0)
        return error;
    z->in.size = got;
    z->in.pos = 0;
    z->in_total += got;
    if (got < INBUF)
        z->in_eof = true;
    return 0;
}

static int zs_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    zs_reader *z = (zs_reader *)s;
    ZSTD_outBuffer out = {data, n, 0};
    int error = 0;
    while (out.pos < out.size) {
        if (z->in.pos == z->in.size && !z->in_eof) {
            error = refill(z);
            if (error < 0)
                break;
        }
        bool starved = z->in.pos == z->in.size && z->in_eof;
        if (starved && z->frame_done)
            break; /* the end: the last frame is complete */
        size_t before = out.pos;
        size_t ret = ZSTD_decompressStream(z->dctx, &out, &z->in);
        if (ZSTD_isError(ret)) {
            error = vs_error_set(VS_ECORRUPT, "corrupt zstd stream: %s",
                                 ZSTD_getErrorName(ret));
            break;
        }
        z->frame_done = ret == 0;
        /* Out of input mid-frame, and nothing left to flush. */
        if (starved && !z->frame_done && out.pos == before) {
            error =
                vs_error_set(VS_ECORRUPT, "truncated zstd stream (%llu bytes)",
                             (unsigned long long)z->in_total);
            break;
        }
    }
    *got = out.pos;
    return error;
}

static void zs_reader_close(vs_stream *s)
{
    zs_reader *z = (zs_reader *)s;
    ZSTD_freeDCtx(z->dctx);
    free((void *)z->in.src);
}

static const vs_stream_ops zs_reader_ops = {
    .name = "zstd", .read = zs_read, .close = zs_reader_close};

int vs_codec__zstd_reader(vs_stream **out, vs_stream *inner)
{
    *out = NULL;
    zs_reader *z = calloc(1, sizeof(*z));
    if (!z)
        return vs_error_oom();
    vs_stream__init(&z->base, &zs_reader_ops, inner, false);
    z->in.src = malloc(INBUF);
    z->dctx = ZSTD_createDCtx();
    if (!z->in.src || !z->dctx) {
        vs_stream_free(&z->base);
        return vs_error_oom();
    }
    *out = &z->base;
    return 0;
}
