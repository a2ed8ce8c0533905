/*
 * fmt_ruvector: reading the state files of ruvector-extensions'
 * DatabasePersistence (the TypeScript module this project grew from) as one
 * collection named "default".
 *
 * What those files are (npm/packages/ruvector-extensions/src/persistence.ts,
 * documented in docs/format-json.md): JSON.stringify of
 *   {version:"1.0.0", options:{dimension, metric}, stats:{count, dimension,
 *    metric, ...}, vectors:[{id, vector, metadata}], timestamp, checksum}
 * pretty-printed with two spaces (format 'json', uncompressed) or compact
 * (compressed 'json', and every 'binary' file -- database.bin is JSON text,
 * not MessagePack), then optionally gzip'd or brotli'd whole.  A vector read
 * back from the native binding is a Float32Array, which JSON.stringify writes
 * as an object {"0":x,"1":y,...}.
 *
 * The parsing itself is the shared streaming parser of fmt_json_read.c; this
 * file holds what is specific to these files: which versions are read, how
 * their metric names map onto ours, and the entry point that insists on the
 * ruvector shape.
 */
#include <string.h>

#include "fmt.h"


/* Metric names as they appear in those files: the lowercase names of the
 * `ruvector` package's DbOptions ('cosine', 'euclidean', 'dot'), the
 * PascalCase variants of the native binding's DistanceMetric ('Cosine',
 * 'Euclidean', 'DotProduct', 'Manhattan'), and the aliases the package's
 * normalizeMetric() accepts ('l2', 'dotproduct', 'innerproduct', 'l1').
 * Matching ignores case and the separators '_', '-' and ' ', as
 * normalizeMetric does.  Returns 0, VS_EINVALID for Manhattan (which this
 * store does not implement) or VS_ECORRUPT for an unknown name; sets no
 * message (the caller names the offset). */
int vs_fmt__ruvector_metric(vs_metric *out, const char *name, size_t len)
{
    static const struct {
        const char *name;
        int metric; /* -1: known but unsupported */
    } names[] = {
        {"cosine", VS_METRIC_COSINE},    {"euclidean", VS_METRIC_EUCLIDEAN},
        {"l2", VS_METRIC_EUCLIDEAN},     {"dot", VS_METRIC_DOT},
        {"dotproduct", VS_METRIC_DOT},   {"innerproduct", VS_METRIC_DOT},
        {"inner", VS_METRIC_DOT},        {"ip", VS_METRIC_DOT},
        {"manhattan", -1},               {"l1", -1},
    };
    char norm[32];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '_' || c == '-' || c == ' ')
            continue;
        if (n == sizeof(norm))
            return VS_ECORRUPT;
        norm[n++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, norm, n) == 0) {
            if (names[i].metric < 0)
                return VS_EINVALID;
            *out = (vs_metric)names[i].metric;
            return 0;
        }
    }
    return VS_ECORRUPT;
}

/* The module writes version "1.0.0".  Any "1", "1.x" or "1.x.y" (digits) is
 * read; another major version is VS_EVERSION, anything else VS_ECORRUPT.
 * Sets no message. */
int vs_fmt__ruvector_version(const char *text, size_t len)
{
    size_t i = 0, parts = 0;
    unsigned long major = 0;
    for (;;) {
        size_t start = i;
        unsigned long v = 0;
        while (i < len && text[i] >= '0' && text[i] <= '9' && i - start < 9)
            v = v * 10 + (unsigned long)(text[i++] - '0');
        if (i == start)
            return VS_ECORRUPT;
        if (parts++ == 0)
            major = v;
        if (i == len)
            break;
        if (text[i] != '.' || parts == 3)
            return VS_ECORRUPT;
        i++;
    }
    return major == 1 ? 0 : VS_EVERSION;
}

int vs_fmt_ruvector_load(vs_store **out, vs_file_info *info, vs_stream *in,
                         const vs_load_options *opts)
{
    return vs_fmt__json_load_shape(out, info, in, opts,
                                   VS_JSON_SHAPE_RUVECTOR);
}
