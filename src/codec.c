/*
 * codec: the codec table (names, HTTP encodings, suffixes, levels),
 * detection, and the dispatch to codec_gzip.c, codec_brotli.c and
 * codec_zstd.c.  Also owns the two generic filters: the identity codec
 * (VS_CODEC_NONE, a pass-through writer or reader) and the output cap that
 * a reader gets when max_output > 0.
 *
 * Compressing writers come wrapped in a stage that gathers small writes.
 * The cap is a reader stage that owns the decoder below it.  It never asks
 * the decoder for more than the bytes still allowed; once exactly the cap
 * has been delivered it probes for one more byte, and any further byte is
 * VS_ETOOBIG.  So a compression bomb is refused as soon as its output
 * passes the cap, and no buffer ever grows with the output.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const vs_codec_info codecs[] = {
    {VS_CODEC_NONE, "none", "identity", "", 0, 0, 0},
    {VS_CODEC_GZIP, "gzip", "gzip", ".gz", 1, 9, 1},
    {VS_CODEC_BROTLI, "brotli", "br", ".br", 0, 11, 1},
    {VS_CODEC_ZSTD, "zstd", "zstd", ".zst", 1, 19, 1},
};

#define NCODECS (sizeof(codecs) / sizeof(codecs[0]))

const vs_codec_info *vs_codec_info_of(vs_codec_id id)
{
    for (size_t i = 0; i < NCODECS; i++)
        if (codecs[i].id == id)
            return &codecs[i];
    return NULL;
}

int vs_codec_parse(vs_codec_id *out, const char *name)
{
    if (!name)
        return vs_error_set(VS_EINVALID, "missing codec name");
    for (size_t i = 0; i < NCODECS; i++) {
        if (strcasecmp(name, codecs[i].name) == 0 ||
            strcasecmp(name, codecs[i].encoding) == 0) {
            *out = codecs[i].id;
            return 0;
        }
    }
    return vs_error_set(VS_EINVALID,
                        "unknown codec '%s' (none, gzip, brotli, zstd)", name);
}

int vs_codec_check_level(int *out, vs_codec_id id, int level)
{
    const vs_codec_info *ci = vs_codec_info_of(id);
    if (!ci)
        return vs_error_set(VS_EINVALID, "unknown codec %d", (int)id);
    if (level == -1) {
        *out = ci->level_default;
        return 0;
    }
    if (level < ci->level_min || level > ci->level_max)
        return vs_error_set(VS_EINVALID,
                            "level %d is out of range for %s (%d to %d)", level,
                            ci->name, ci->level_min, ci->level_max);
    *out = level;
    return 0;
}

vs_codec_id vs_codec_detect(const uint8_t *head, size_t n)
{
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return VS_CODEC_GZIP;
    if (n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f &&
        head[3] == 0xfd)
        return VS_CODEC_ZSTD;
    return VS_CODEC_NONE;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len >= k && strcasecmp(s + len - k, suffix) == 0;
}

vs_codec_id vs_codec_from_suffix(const char *path)
{
    static const struct {
        const char *suffix;
        vs_codec_id id;
    } map[] = {
        {".gz", VS_CODEC_GZIP},   {".gzip", VS_CODEC_GZIP},
        {".br", VS_CODEC_BROTLI}, {".brotli", VS_CODEC_BROTLI},
        {".zst", VS_CODEC_ZSTD},  {".zstd", VS_CODEC_ZSTD},
    };
    if (!path)
        return VS_CODEC_NONE;
    size_t len = strlen(path);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (ends_with(path, len, map[i].suffix))
            return map[i].id;
    return VS_CODEC_NONE;
}

/* ---- identity writer ---- */

static int plain_write(vs_stream *s, const void *data, size_t n)
{
    return vs_stream_write(s->inner, data, n);
}

static const vs_stream_ops plain_writer_ops = {.name = "identity",
                                               .write = plain_write};

/* ---- identity reader and output cap ---- */

typedef struct capped {
    vs_stream base;
    vs_stream *src; /* the decoder (owned), or base.inner for identity */
    uint64_t max;   /* 0: no cap */
} capped;

static int cap_exceeded(const capped *c)
{
    return vs_error_set(VS_ETOOBIG, "decompressed data exceeds %llu bytes",
                        (unsigned long long)c->max);
}

static int capped_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    capped *c = (capped *)s;
    if (c->max == 0)
        return vs_stream_read(c->src, data, n, got);
    uint64_t left = c->max - s->bytes;
    size_t want = left < n ? (size_t)left : n;
    *got = 0;
    if (want > 0) {
        int error = vs_stream_read(c->src, data, want, got);
        if (error < 0)
            return error;
        if (*got < want || want == n)
            return 0;
    }
    /* Exactly `max` bytes delivered and the caller wants more: one more
     * byte from the source means the cap is exceeded. */
    uint8_t probe;
    size_t extra;
    int error = vs_stream_read(c->src, &probe, 1, &extra);
    if (error < 0)
        return error;
    return extra ? cap_exceeded(c) : 0;
}

static void capped_close(vs_stream *s)
{
    capped *c = (capped *)s;
    if (c->src != s->inner)
        vs_stream_free(c->src);
}

static const vs_stream_ops identity_reader_ops = {
    .name = "identity", .read = capped_read, .close = capped_close};
static const vs_stream_ops capped_ops = {
    .name = "output cap", .read = capped_read, .close = capped_close};

static int filter_new(vs_stream **out, vs_stream *inner, vs_stream *src,
                      bool writer, uint64_t max)
{
    capped *c = calloc(1, sizeof(*c));
    if (!c)
        return vs_error_oom();
    const vs_stream_ops *ops = writer         ? &plain_writer_ops
                               : src == inner ? &identity_reader_ops
                                              : &capped_ops;
    vs_stream__init(&c->base, ops, inner, writer);
    c->src = src;
    c->max = max;
    *out = &c->base;
    return 0;
}

/* ---- small-write coalescing ---- */

/* Compressors pay per call (brotli at low quality even emits a meta-block
 * per call), so writes smaller than COALESCE/2 are gathered first.  The
 * stage owns the compressing writer below it and finishes it. */
#define COALESCE ((size_t)128 << 10)

typedef struct coalesce {
    vs_stream base;
    vs_stream *enc; /* owned */
    size_t len;
    uint8_t *buf;
} coalesce;

static int coalesce_flush(coalesce *c)
{
    size_t len = c->len;
    c->len = 0;
    return len ? vs_stream_write(c->enc, c->buf, len) : 0;
}

static int coalesce_write(vs_stream *s, const void *data, size_t n)
{
    coalesce *c = (coalesce *)s;
    if (n <= COALESCE - c->len) {
        memcpy(c->buf + c->len, data, n);
        c->len += n;
        return 0;
    }
    int error = coalesce_flush(c);
    if (error < 0)
        return error;
    if (n >= COALESCE / 2)
        return vs_stream_write(c->enc, data, n);
    memcpy(c->buf, data, n);
    c->len = n;
    return 0;
}

static int coalesce_finish(vs_stream *s)
{
    coalesce *c = (coalesce *)s;
    int error = coalesce_flush(c);
    return error < 0 ? error : vs_stream_finish(c->enc);
}

static void coalesce_close(vs_stream *s)
{
    coalesce *c = (coalesce *)s;
    vs_stream_free(c->enc);
    free(c->buf);
}

static int coalesce_new(vs_stream **out, vs_stream *inner, vs_stream *enc,
                        vs_codec_id id)
{
    static const vs_stream_ops ops[] = {
        /* by id, from VS_CODEC_GZIP */
        {"gzip", coalesce_write, NULL, coalesce_finish, coalesce_close},
        {"brotli", coalesce_write, NULL, coalesce_finish, coalesce_close},
        {"zstd", coalesce_write, NULL, coalesce_finish, coalesce_close},
    };
    coalesce *c = calloc(1, sizeof(*c));
    uint8_t *buf = malloc(COALESCE);
    if (!c || !buf) {
        free(c);
        free(buf);
        vs_stream_free(enc);
        return vs_error_oom();
    }
    /* Named after the codec, for messages. */
    vs_stream__init(&c->base, &ops[id - VS_CODEC_GZIP], inner, true);
    c->enc = enc;
    c->buf = buf;
    *out = &c->base;
    return 0;
}

/* ---- dispatch ---- */

int vs_codec_writer_new(vs_stream **out, vs_stream *inner, vs_codec_id id,
                        int level)
{
    *out = NULL;
    if (!inner->is_writer)
        return vs_error_set(VS_EINVALID, "codec writer over a reader");
    int effective;
    int error = vs_codec_check_level(&effective, id, level);
    if (error < 0)
        return error;
    vs_stream *enc = NULL;
    switch (id) {
    case VS_CODEC_NONE:
        return filter_new(out, inner, inner, true, 0);
    case VS_CODEC_GZIP:
        error = vs_codec__gzip_writer(&enc, inner, effective);
        break;
    case VS_CODEC_BROTLI:
        error = vs_codec__brotli_writer(&enc, inner, effective);
        break;
    case VS_CODEC_ZSTD:
        error = vs_codec__zstd_writer(&enc, inner, effective);
        break;
    default:
        return vs_error_set(VS_EINVALID, "no writer for codec %d", (int)id);
    }
    return error < 0 ? error : coalesce_new(out, inner, enc, id);
}

int vs_codec_reader_new(vs_stream **out, vs_stream *inner, vs_codec_id id,
                        uint64_t max_output)
{
    *out = NULL;
    if (inner->is_writer)
        return vs_error_set(VS_EINVALID, "codec reader over a writer");
    vs_stream *dec = NULL;
    int error;
    switch (id) {
    case VS_CODEC_NONE:
        return filter_new(out, inner, inner, false, max_output);
    case VS_CODEC_GZIP:
        error = vs_codec__gzip_reader(&dec, inner);
        break;
    case VS_CODEC_BROTLI:
        error = vs_codec__brotli_reader(&dec, inner);
        break;
    case VS_CODEC_ZSTD:
        error = vs_codec__zstd_reader(&dec, inner);
        break;
    default:
        return vs_error_set(VS_EINVALID, "no reader for codec %d", (int)id);
    }
    if (error < 0)
        return error;
    if (max_output == 0) {
        *out = dec;
        return 0;
    }
    error = filter_new(out, inner, dec, false, max_output);
    if (error < 0)
        vs_stream_free(dec);
    return error;
}
