/*
 * codec: compression as filter streams.  Nobody else calls zlib, brotli or
 * zstd.  A codec writer compresses what is written to it into its inner
 * writer; a codec reader decompresses its inner reader.  Outputs are the
 * standard containers (gzip member, brotli stream, zstd frame), so `zcat`,
 * `brotli -d` and `zstd -d` read them.
 *
 * Detection: gzip (1f 8b) and zstd (28 b5 2f fd) have magic numbers; brotli
 * has none, so it is chosen by file suffix (.br, .brotli) or by the caller.
 */
#ifndef VS_CODEC_H
#define VS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

typedef enum vs_codec_id {
    VS_CODEC_NONE = 0,
    VS_CODEC_GZIP = 1,
    VS_CODEC_BROTLI = 2,
    VS_CODEC_ZSTD = 3,
    VS_CODEC_AUTO = 255 /* for loaders: detect */
} vs_codec_id;

typedef struct vs_codec_info {
    vs_codec_id id;
    const char *name;     /* "none", "gzip", "brotli", "zstd" */
    const char *encoding; /* HTTP Content-Encoding token: identity, gzip, br,
                             zstd */
    const char *suffix;   /* "", ".gz", ".br", ".zst" */
    int level_min, level_max, level_default;
} vs_codec_info;

const vs_codec_info *vs_codec_info_of(vs_codec_id id);
/* Accepts a name, an encoding token ("br") or "identity"; VS_EINVALID. */
int vs_codec_parse(vs_codec_id *out, const char *name);
/* Checks `level` against the codec's range (-1 means the default) and
 * writes the effective level.  VS_EINVALID naming the range. */
int vs_codec_check_level(int *out, vs_codec_id id, int level);

/* From the first bytes of data: VS_CODEC_GZIP, VS_CODEC_ZSTD or
 * VS_CODEC_NONE (brotli cannot be told from its bytes). */
vs_codec_id vs_codec_detect(const uint8_t *head, size_t n);
/* From a file name's suffix (.gz .gzip .br .brotli .zst .zstd), else
 * VS_CODEC_NONE. */
vs_codec_id vs_codec_from_suffix(const char *path);

/* A compressing writer over `inner` (borrowed).  `level` -1 = default.
 * vs_stream_finish ends the compressed stream (it does not finish inner). */
int vs_codec_writer_new(vs_stream **out, vs_stream *inner, vs_codec_id id,
                        int level) VS_WARN_UNUSED;
/* A decompressing reader over `inner` (borrowed).  `max_output` > 0 caps the
 * decompressed size: more is VS_ETOOBIG (a compression bomb is refused).
 * Corrupt input, trailing garbage after the end of the compressed stream and
 * a truncated stream are VS_ECORRUPT. */
int vs_codec_reader_new(vs_stream **out, vs_stream *inner, vs_codec_id id,
                        uint64_t max_output) VS_WARN_UNUSED;

/* For codec_*.c: per-codec constructors behind vs_codec_*_new. */
int vs_codec__gzip_writer(vs_stream **out, vs_stream *inner, int level);
int vs_codec__gzip_reader(vs_stream **out, vs_stream *inner);
int vs_codec__brotli_writer(vs_stream **out, vs_stream *inner, int level);
int vs_codec__brotli_reader(vs_stream **out, vs_stream *inner);
int vs_codec__zstd_writer(vs_stream **out, vs_stream *inner, int level);
int vs_codec__zstd_reader(vs_stream **out, vs_stream *inner);

#endif
