/*
 * codec_brotli: brotli (RFC 7932) through the Brotli streaming API
 * (BrotliEncoderCompressStream / BrotliDecoderDecompressStream).  Quality is
 * the level (0-11); the window is the library default (lgwin 22).
 *
 * A brotli stream carries no magic number and no checksum: detection is by
 * suffix, and integrity rests on the checksums of the formats inside.  The
 * reader rejects anything after the end of the stream (trailing garbage)
 * and an input that ends inside it (truncated), both VS_ECORRUPT, seen when
 * the caller reads to the end.
 *
 * Output goes to the inner writer in OUTBUF chunks; the reader pulls INBUF
 * chunks from its inner reader.
 */
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define OUTBUF ((size_t)256 << 10)
#define INBUF ((size_t)256 << 10)

typedef struct br_writer {
    vs_stream base;
    BrotliEncoderState *enc;
    uint8_t *out;
    uint8_t *next_out;
    size_t avail_out;
} br_writer;

typedef struct br_reader {
    vs_stream base;
    BrotliDecoderState *dec;
    bool in_eof;
    bool end;
    uint64_t in_total;
    const uint8_t *next_in;
    size_t avail_in;
    uint8_t *in;
} br_reader;

/* ---- writer ---- */

static int drain(br_writer *b)
{
    size_t len = OUTBUF - b->avail_out;
    b->next_out = b->out;
    b->avail_out = OUTBUF;
    return len ? vs_stream_write(b->base.inner, b->out, len) : 0;
}

static int pump(br_writer *b, BrotliEncoderOperation op, const uint8_t *in,
                size_t n)
{
    for (;;) {
        if (!BrotliEncoderCompressStream(b->enc, op, &n, &in, &b->avail_out,
                                         &b->next_out, NULL))
            return vs_error_set(VS_ERROR, "brotli compression failed");
        if (b->avail_out == 0) {
            int error = drain(b);
            if (error < 0)
                return error;
            continue;
        }
        if (op == BROTLI_OPERATION_FINISH ? BrotliEncoderIsFinished(b->enc)
                                          : n == 0)
            return 0;
    }
}

static int br_write(vs_stream *s, const void *data, size_t n)
{
    return pump((br_writer *)s, BROTLI_OPERATION_PROCESS, data, n);
}

static int br_finish(vs_stream *s)
{
    br_writer *b = (br_writer *)s;
    int error = pump(b, BROTLI_OPERATION_FINISH, NULL, 0);
    return error < 0 ? error : drain(b);
}

static void br_writer_close(vs_stream *s)
{
    br_writer *b = (br_writer *)s;
    if (b->enc)
        BrotliEncoderDestroyInstance(b->enc);
    free(b->out);
}

static const vs_stream_ops br_writer_ops = {.name = "brotli",
                                            .write = br_write,
                                            .finish = br_finish,
                                            .close = br_writer_close};

int vs_codec__brotli_writer(vs_stream **out, vs_stream *inner, int level)
{
    *out = NULL;
    br_writer *b = calloc(1, sizeof(*b));
    if (!b)
        return vs_error_oom();
    vs_stream__init(&b->base, &br_writer_ops, inner, true);
    b->out = malloc(OUTBUF);
    b->enc = BrotliEncoderCreateInstance(NULL, NULL, NULL);
    if (!b->out || !b->enc) {
        vs_stream_free(&b->base);
        return vs_error_oom();
    }
    if (!BrotliEncoderSetParameter(b->enc, BROTLI_PARAM_QUALITY,
                                   (uint32_t)level)) {
        vs_stream_free(&b->base);
        return vs_error_set(VS_ERROR, "failed to set brotli quality %d", level);
    }
    b->next_out = b->out;
    b->avail_out = OUTBUF;
    *out = &b->base;
    return 0;
}

/* ---- reader ---- */

static int refill(br_reader *b)
{
    size_t got;
    int error = vs_stream_read(b->base.inner, b->in, INBUF, &got);
    if (error < 0)
        return error;
    b->next_in = b->in;
    b->avail_in = got;
    b->in_total += got;
    if (got < INBUF)
        b->in_eof = true;
    return 0;
}

/* The stream ended: anything left in the input is trailing garbage. */
static int check_end(br_reader *b)
{
    if (b->avail_in == 0 && !b->in_eof) {
        int error = refill(b);
        if (error < 0)
            return error;
    }
    if (b->avail_in > 0)
        return vs_error_set(VS_ECORRUPT,
                            "trailing garbage after the brotli stream "
                            "(%llu bytes in)",
                            (unsigned long long)(b->in_total - b->avail_in));
    b->end = true;
    return 0;
}

static int br_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    br_reader *b = (br_reader *)s;
    uint8_t *p = data;
    size_t avail_out = n;
    int error = 0;
    while (avail_out > 0 && !b->end) {
        if (b->avail_in == 0 && !b->in_eof) {
            error = refill(b);
            if (error < 0)
                break;
        }
        BrotliDecoderResult r = BrotliDecoderDecompressStream(
            b->dec, &b->avail_in, &b->next_in, &avail_out, &p, NULL);
        if (r == BROTLI_DECODER_RESULT_ERROR) {
            error = vs_error_set(
                VS_ECORRUPT, "corrupt brotli stream: %s",
                BrotliDecoderErrorString(BrotliDecoderGetErrorCode(b->dec)));
            break;
        }
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            error = check_end(b);
            if (error < 0)
                break;
        } else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT &&
                   b->avail_in == 0 && b->in_eof) {
            error = vs_error_set(VS_ECORRUPT,
                                 "truncated brotli stream (%llu bytes)",
                                 (unsigned long long)b->in_total);
            break;
        }
    }
    *got = n - avail_out;
    return error;
}

static void br_reader_close(vs_stream *s)
{
    br_reader *b = (br_reader *)s;
    if (b->dec)
        BrotliDecoderDestroyInstance(b->dec);
    free(b->in);
}

static const vs_stream_ops br_reader_ops = {
    .name = "brotli", .read = br_read, .close = br_reader_close};

int vs_codec__brotli_reader(vs_stream **out, vs_stream *inner)
{
    *out = NULL;
    br_reader *b = calloc(1, sizeof(*b));
    if (!b)
        return vs_error_oom();
    vs_stream__init(&b->base, &br_reader_ops, inner, false);
    b->in = malloc(INBUF);
    b->dec = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!b->in || !b->dec) {
        vs_stream_free(&b->base);
        return vs_error_oom();
    }
    *out = &b->base;
    return 0;
}
