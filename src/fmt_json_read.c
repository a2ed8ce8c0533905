/*
 * fmt_json_read: the streaming JSON reader's document structure, on the
 * tokens of fmt_json_lex.c.  One parser reads two shapes of document, told
 * apart by their top-level keys:
 *
 * - vecsnap documents written by fmt_json.c (or by hand), specified in
 *   docs/format-json.md: {"format":"vecsnap","version":1,"seq":N,
 *   "collections":[...],"sha256":"..."};
 * - ruvector-extensions DatabasePersistence state files: {"version":"1.0.0",
 *   "options":{...},"stats":{...},"vectors":[...],"timestamp":T,
 *   "checksum":"..."}, read as one collection named "default" (metric names
 *   and versions are judged by fmt_ruvector.c).
 *
 * It owns the top-level members, collections and records, and the batches
 * that carry records into the store: at most 1024 records, about 4 MiB of
 * floats, handed to vs_collection_load, so memory beyond the store stays
 * O(batch).
 *
 * Checksum: when a comma between top-level members is met, everything
 * before it is hashed and the comma is held (vs_fmt__json_hold).  If the
 * next key is "sha256", the digest so far is exactly the one the writer
 * embedded.
 *
 * Every error names the problem and the byte offset where it was found.
 * Bad content is VS_ECORRUPT, an exceeded cap VS_ETOOBIG, a newer version
 * VS_EVERSION.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "fmt_json_int.h"
#include "jsonv.h"

#define MD_RAW_MAX (4 * VS_METADATA_MAX) /* metadata as written (pretty) */
#define BATCH_RECORDS 1024
#define BATCH_FLOATS ((size_t)1 << 20)
#define BATCH_MD_BYTES ((size_t)4 << 20)
#define RESERVE_BYTES ((size_t)256 << 20) /* preallocation on a count */
#define RUV_NAME "default"

typedef enum shape { SHAPE_UNKNOWN, SHAPE_VECSNAP, SHAPE_RUVECTOR } shape;

typedef struct reader {
    vs_fmt__json_lexer lx;

    shape shape;
    vs_store *st;
    const vs_load_options *opts;
    uint64_t seq, records, total_hint;

    /* the collection being loaded and its batch */
    vs_collection *col;
    uint32_t dim;
    size_t bcap, bn;
    float *vectors;
    vs_record *recs;
    size_t *id_off, *md_off;
    uint64_t *rec_at;
    vs_buf ids, mds, raw;
    float *scratch;     /* VS_DIM_MAX floats: a vector of unknown length */
    uint8_t *seen_bits; /* VS_DIM_MAX bits: float-object vectors */

    /* ruvector: the metric options / stats gave */
    bool ruv_has_metric;
    vs_metric ruv_metric;
    bool ruv_vectors_started;
} reader;

/* ---- helpers ------------------------------------------------------------- */

/* Re-reports the error a callee recorded, as bad content at `at`. */
static int wrap_at(uint64_t at, int code, const char *what)
{
    if (code == VS_ENOMEM)
        return code;
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return vs_fmt__json_fail_at(at,
                                code == VS_ETOOBIG ? VS_ETOOBIG : VS_ECORRUPT,
                                "%s: %s", what, msg);
}

static int unknown_key(reader *rd, const char *key, size_t klen,
                       const char *where)
{
    return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT, "unknown key '%.*s' in %s",
                             (int)(klen > 64 ? 64 : klen), key, where);
}

/* 1 << (index of key in names), or 0 when it is none of them. */
static unsigned key_bit(const char *key, size_t klen,
                        const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
            return 1u << i;
    return 0;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* ---- batches ------------------------------------------------------------- */

static int batch_init(reader *rd, uint32_t dim)
{
    size_t cap = BATCH_FLOATS / dim;
    cap = cap < 1 ? 1 : cap > BATCH_RECORDS ? BATCH_RECORDS : cap;
    rd->dim = dim;
    rd->bn = 0;
    if (cap > rd->bcap) {
        free(rd->recs);
        free(rd->id_off);
        free(rd->md_off);
        free(rd->rec_at);
        rd->bcap = 0;
        rd->recs = calloc(cap, sizeof(*rd->recs));
        rd->id_off = calloc(cap, sizeof(*rd->id_off));
        rd->md_off = calloc(cap, sizeof(*rd->md_off));
        rd->rec_at = calloc(cap, sizeof(*rd->rec_at));
        if (!rd->recs || !rd->id_off || !rd->md_off || !rd->rec_at)
            return vs_error_oom();
    }
    free(rd->vectors);
    rd->vectors = malloc(cap * dim * sizeof(float));
    if (!rd->vectors)
        return vs_error_oom();
    rd->bcap = cap;
    return 0;
}

static int flush_batch(reader *rd)
{
    if (rd->bn == 0)
        return 0;
    for (size_t i = 0; i < rd->bn; i++) {
        rd->recs[i].id = rd->ids.ptr + rd->id_off[i];
        rd->recs[i].vector = rd->vectors + i * rd->dim;
        rd->recs[i].metadata =
            rd->recs[i].metadata_len ? rd->mds.ptr + rd->md_off[i] : NULL;
    }
    int error = vs_collection_load(rd->col, rd->recs, rd->bn, rd->seq);
    if (error == VS_EINVALID || error == VS_ETOOBIG) {
        /* Loading one by one finds the record at fault, to name its
         * offset (the store is discarded anyway). */
        size_t i = 0;
        int e = 0;
        while (i < rd->bn &&
               (e = vs_collection_load(rd->col, &rd->recs[i], 1, rd->seq)) ==
                   0)
            i++;
        char what[128];
        snprintf(what, sizeof(what), "record of collection '%s'",
                 vs_collection_name(rd->col));
        return wrap_at(rd->rec_at[i < rd->bn ? i : 0], e ? e : error, what);
    }
    if (error < 0)
        return error;
    rd->records += rd->bn;
    rd->bn = 0;
    vs_buf_reset(&rd->ids);
    vs_buf_reset(&rd->mds);
    if (!rd->opts)
        return 0;
    uint64_t total = rd->total_hint > rd->records ? rd->total_hint
                                                  : rd->records;
    return vs_fmt__progress(rd->opts->progress, rd->opts->payload,
                            rd->records, total);
}

static int create_collection(reader *rd, const char *name, uint32_t dim,
                             vs_metric metric, uint64_t count_hint)
{
    int error = vs_store_create(&rd->col, rd->st, name, dim, metric);
    if (error < 0)
        return wrap_at(vs_fmt__json_offset(&rd->lx), error, "collection");
    uint64_t cap = RESERVE_BYTES / ((uint64_t)dim * 4 + 64);
    if (count_hint)
        error = vs_collection_reserve(
            rd->col, (size_t)(count_hint < cap ? count_hint : cap));
    return error < 0 ? error : batch_init(rd, dim);
}

/* ---- vectors and records ------------------------------------------------- */

/* The vector member of a record, written into its batch slot; for a
 * ruvector document without a dimension, the first vector fixes it. */
static int read_vector(reader *rd)
{
    vs_fmt__json_lexer *lx = &rd->lx;
    int c = 0;
    int error = vs_fmt__json_peek(lx, &c);
    if (error < 0)
        return error;
    bool object = c == '{' && rd->shape == SHAPE_RUVECTOR;
    if (c != '[' && !object)
        return vs_fmt__json_unexpected(lx, c,
                                       rd->shape == SHAPE_RUVECTOR
                                           ? "a vector array or object"
                                           : "a vector array");
    if ((object || !rd->col) && !rd->seen_bits) {
        rd->seen_bits = malloc(VS_DIM_MAX / 8);
        if (!rd->seen_bits)
            return vs_error_oom();
    }
    uint32_t got;
    if (rd->col) {
        float *dst = rd->vectors + rd->bn * rd->dim;
        return object ? vs_fmt__json_read_vector_object(lx, dst, rd->dim,
                                                        rd->seen_bits, &got)
                      : vs_fmt__json_read_vector_array(lx, dst, rd->dim,
                                                       &got);
    }
    if (!rd->scratch) {
        rd->scratch = malloc(VS_DIM_MAX * sizeof(float));
        if (!rd->scratch)
            return vs_error_oom();
    }
    uint64_t at = vs_fmt__json_offset(lx);
    error = object ? vs_fmt__json_read_vector_object(lx, rd->scratch, 0,
                                                     rd->seen_bits, &got)
                   : vs_fmt__json_read_vector_array(lx, rd->scratch, 0, &got);
    if (!error && got == 0)
        error = vs_fmt__json_fail_at(at, VS_ECORRUPT, "empty vector");
    if (!error)
        error = create_collection(rd, RUV_NAME, got,
                                  rd->ruv_has_metric ? rd->ruv_metric
                                                     : VS_METRIC_COSINE,
                                  rd->total_hint);
    if (!error)
        memcpy(rd->vectors, rd->scratch, got * sizeof(float));
    return error;
}

/* Metadata into the batch, validated and compacted. */
static int read_metadata(reader *rd)
{
    int c = 0;
    int error = vs_fmt__json_peek(&rd->lx, &c);
    if (error < 0)
        return error;
    rd->md_off[rd->bn] = rd->mds.len;
    rd->recs[rd->bn].metadata_len = 0;
    if (c == 'n' && rd->shape == SHAPE_RUVECTOR) /* JavaScript's null: none */
        return vs_fmt__json_read_literal(&rd->lx, "null");
    uint64_t at = vs_fmt__json_offset(&rd->lx);
    error = vs_fmt__json_capture_object(&rd->lx, &rd->raw, MD_RAW_MAX);
    if (!error)
        error = vs_buf_reserve(&rd->mds, rd->raw.len);
    if (error < 0)
        return error;
    size_t clen;
    error = vs_jsonv_compact(rd->mds.ptr + rd->mds.len, &clen, rd->raw.ptr,
                             rd->raw.len, 1);
    if (error < 0)
        return wrap_at(at, error, "metadata");
    if (clen > VS_METADATA_MAX)
        return vs_fmt__json_fail_at(at, VS_ETOOBIG,
                                    "metadata of %zu bytes, more than %d",
                                    clen, VS_METADATA_MAX);
    rd->mds.len += clen;
    rd->recs[rd->bn].metadata_len = clen;
    return 0;
}

/* One record object, appended to the batch (flushed when full). */
static int read_record(reader *rd)
{
    static const char *const keys[] = {"id", "vector", "metadata"};
    enum { K_ID = 1, K_VEC = 2, K_MD = 4 };
    vs_fmt__json_lexer *lx = &rd->lx;
    uint64_t at;
    unsigned have = 0;
    size_t id_len = 0;
    char id[VS_ID_MAX];
    int c = 0, more;
    int error = vs_fmt__json_peek(lx, &c);
    at = vs_fmt__json_offset(lx);
    if (!error)
        error = vs_fmt__json_open_container(lx, '{', "a record object",
                                            &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (error < 0)
            return error;
        unsigned bit = key_bit(key, klen, keys, 3);
        if (bit & have)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "duplicate key in a record");
        have |= bit;
        if (bit == K_ID)
            error = vs_fmt__json_read_string(lx, id, sizeof(id), &id_len,
                                             "id");
        else if (bit == K_VEC)
            error = read_vector(rd);
        else if (bit == K_MD && !rd->col)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "metadata before the first vector of a "
                                     "document without a dimension");
        else if (bit == K_MD)
            error = read_metadata(rd);
        else if (rd->shape == SHAPE_RUVECTOR)
            error = vs_fmt__json_skip_value(lx, 1);
        else
            return unknown_key(rd, key, klen, "a record");
        if (!error)
            error = vs_fmt__json_next_item(lx, '}', &more);
    }
    if (error < 0)
        return error;
    if (!(have & K_ID) || !(have & K_VEC))
        return vs_fmt__json_fail_at(at, VS_ECORRUPT, "record has no %s",
                                    (have & K_ID) ? "vector" : "id");
    size_t i = rd->bn;
    rd->rec_at[i] = at;
    if (!(have & K_MD))
        rd->recs[i].metadata_len = 0;
    rd->id_off[i] = rd->ids.len;
    rd->recs[i].id_len = id_len;
    error = vs_buf_put(&rd->ids, id, id_len);
    if (error < 0)
        return error;
    rd->bn++;
    if (rd->bn == rd->bcap || rd->mds.len >= BATCH_MD_BYTES)
        return flush_batch(rd);
    return 0;
}

/* '[' record (',' record)* ']' */
static int read_records(reader *rd)
{
    int more;
    int error = vs_fmt__json_open_container(&rd->lx, '[',
                                            "an array of records", &more);
    while (!error && more) {
        error = read_record(rd);
        if (!error)
            error = vs_fmt__json_next_item(&rd->lx, ']', &more);
    }
    return error < 0 ? error : flush_batch(rd);
}

/* ---- vecsnap collections ------------------------------------------------- */

static int read_collection(reader *rd)
{
    static const char *const keys[] = {"name", "dimension", "metric", "count",
                                       "records"};
    enum { C_NAME = 1, C_DIM = 2, C_METRIC = 4, C_COUNT = 8, C_RECS = 16 };
    const unsigned needed = C_NAME | C_DIM | C_METRIC;
    vs_fmt__json_lexer *lx = &rd->lx;
    char name[VS_NAME_MAX + 1] = "";
    size_t len;
    uint64_t dim = 0, count = 0;
    vs_metric metric = VS_METRIC_COSINE;
    unsigned have = 0;
    int c = 0, more;
    int error = vs_fmt__json_peek(lx, &c);
    uint64_t at = vs_fmt__json_offset(lx);
    if (!error)
        error = vs_fmt__json_open_container(lx, '{', "a collection object",
                                            &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (error < 0)
            return error;
        unsigned bit = key_bit(key, klen, keys, 5);
        if (!bit)
            return unknown_key(rd, key, klen, "a collection");
        if (bit & have)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "duplicate key in a collection");
        have |= bit;
        if (bit == C_NAME) {
            error = vs_fmt__json_read_string(lx, name, VS_NAME_MAX, &len,
                                             "collection name");
            name[error ? 0 : len] = '\0';
            if (!error && strlen(name) != len)
                return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                         "NUL in a collection name");
        } else if (bit == C_DIM) {
            error = vs_fmt__json_read_uint(lx, &dim, VS_DIM_MAX, "dimension");
            if (!error && dim == 0)
                return vs_fmt__json_fail(lx, VS_ECORRUPT, "dimension 0");
        } else if (bit == C_METRIC) {
            char m[33];
            error = vs_fmt__json_read_string(lx, m, sizeof(m) - 1, &len,
                                             "metric");
            m[error ? 0 : len] = '\0';
            if (!error && (strlen(m) != len || vs_metric_parse(&metric, m))) {
                vs_error_clear();
                return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                         "unknown metric '%s'", m);
            }
        } else if (bit == C_COUNT) {
            error = vs_fmt__json_read_uint(lx, &count, UINT32_MAX, "count");
        } else {
            if ((have & needed) != needed)
                return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                         "records before the collection's "
                                         "name, dimension and metric");
            rd->total_hint += count;
            error = create_collection(rd, name, (uint32_t)dim, metric,
                                      (have & C_COUNT) ? count : 0);
            if (!error)
                error = read_records(rd);
        }
        if (!error)
            error = vs_fmt__json_next_item(lx, '}', &more);
    }
    if (error < 0)
        return error;
    if ((have & needed) != needed)
        return vs_fmt__json_fail_at(at, VS_ECORRUPT, "collection lacks %s",
                                    !(have & C_NAME)  ? "a name"
                                    : !(have & C_DIM) ? "a dimension"
                                                      : "a metric");
    if (!(have & C_RECS)) {
        error = create_collection(rd, name, (uint32_t)dim, metric, 0);
        if (error < 0)
            return error;
    }
    if ((have & C_COUNT) && count != vs_collection_count(rd->col))
        return vs_fmt__json_fail_at(at, VS_ECORRUPT,
                                    "collection '%s' says count %llu but "
                                    "holds %zu records",
                                    name, (unsigned long long)count,
                                    vs_collection_count(rd->col));
    rd->col = NULL;
    return 0;
}

static int read_collections(reader *rd)
{
    int more;
    int error = vs_fmt__json_open_container(&rd->lx, '[',
                                            "an array of collections", &more);
    while (!error && more) {
        error = read_collection(rd);
        if (!error)
            error = vs_fmt__json_next_item(&rd->lx, ']', &more);
    }
    return error;
}

/* ---- ruvector members ---------------------------------------------------- */

typedef struct ruv_conf {
    uint64_t dim;
    bool has_metric;
    vs_metric metric;
} ruv_conf;

/* "options" or "stats": dimension and metric kept, the rest skipped. */
static int read_ruv_conf(reader *rd, ruv_conf *conf, bool is_stats)
{
    vs_fmt__json_lexer *lx = &rd->lx;
    int c = 0, more;
    int error = vs_fmt__json_open_container(lx, '{', "an object", &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (!error)
            error = vs_fmt__json_peek(lx, &c);
        if (error < 0)
            return error;
        if (c == 'n') { /* null: as if absent */
            error = vs_fmt__json_read_literal(lx, "null");
        } else if (str_is(key, klen, "dimension")) {
            error = vs_fmt__json_read_uint(lx, &conf->dim, VS_DIM_MAX,
                                           "dimension");
            if (!error && conf->dim == 0)
                return vs_fmt__json_fail(lx, VS_ECORRUPT, "dimension 0");
        } else if (str_is(key, klen, "metric")) {
            char m[65];
            size_t mlen;
            error = vs_fmt__json_read_string(lx, m, sizeof(m) - 1, &mlen,
                                             "metric");
            int bad = error ? 0 : vs_fmt__ruvector_metric(&conf->metric, m,
                                                          mlen);
            if (bad)
                return vs_fmt__json_fail(lx, VS_ECORRUPT, "%s metric '%.*s'",
                                         bad == VS_EINVALID ? "unsupported"
                                                            : "unknown",
                                         (int)mlen, m);
            conf->has_metric = true;
        } else if (is_stats && str_is(key, klen, "count")) {
            error = vs_fmt__json_read_uint(lx, &rd->total_hint, UINT32_MAX,
                                           "count");
        } else {
            error = vs_fmt__json_skip_value(lx, 2);
        }
        if (!error)
            error = vs_fmt__json_next_item(lx, '}', &more);
    }
    return error;
}

static int read_ruv_vectors(reader *rd, const ruv_conf *opt,
                            const ruv_conf *stats)
{
    if (opt->dim && stats->dim && opt->dim != stats->dim)
        return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                 "options.dimension %llu and "
                                 "stats.dimension %llu disagree",
                                 (unsigned long long)opt->dim,
                                 (unsigned long long)stats->dim);
    rd->ruv_has_metric = opt->has_metric || stats->has_metric;
    rd->ruv_metric = opt->has_metric ? opt->metric : stats->metric;
    rd->ruv_vectors_started = true;
    uint64_t dim = opt->dim ? opt->dim : stats->dim;
    if (dim) {
        int error = create_collection(rd, RUV_NAME, (uint32_t)dim,
                                      rd->ruv_has_metric ? rd->ruv_metric
                                                         : VS_METRIC_COSINE,
                                      rd->total_hint);
        if (error < 0)
            return error;
    }
    return read_records(rd);
}

/* ---- the top level ------------------------------------------------------- */

enum {
    /* vecsnap */
    R_FORMAT = 1, R_VERSION = 2, R_SEQ = 4, R_COLLECTIONS = 8, R_SHA = 16,
    /* ruvector (R_VERSION shared) */
    R_OPTIONS = 32, R_STATS = 64, R_VECTORS = 128, R_CHECKSUM = 256
};

static const char *const vecsnap_keys[] = {"format", "version", "seq",
                                           "collections", "sha256"};
static const char *const ruv_keys[] = {"options", "stats", "vectors",
                                       "checksum"};

typedef struct root_state {
    unsigned have;
    bool verified;
    uint8_t digest[VS_SHA256_LEN];  /* of the bytes before ,"sha256" */
    uint8_t claimed[VS_SHA256_LEN]; /* what the document says */
    ruv_conf opt, stats;
} root_state;

/* Decides the document's shape from its first key. */
static int pick_shape(reader *rd, const char *key, size_t klen, int force)
{
    static const char *const ruv_other[] = {"timestamp", "indexState",
                                            "metadata"};
    static const char *const meta[] = {"id", "name", "vectorCount",
                                       "fileSize", "compressed"};
    shape s = SHAPE_UNKNOWN;
    if (str_is(key, klen, "version")) {
        int c = 0;
        int error = vs_fmt__json_peek(&rd->lx, &c);
        if (error < 0)
            return error;
        s = c == '"' ? SHAPE_RUVECTOR : SHAPE_VECSNAP;
    } else if (key_bit(key, klen, vecsnap_keys, 5)) {
        s = SHAPE_VECSNAP;
    } else if (key_bit(key, klen, ruv_keys, 4) ||
               key_bit(key, klen, ruv_other, 3)) {
        s = SHAPE_RUVECTOR;
    }
    if (s == SHAPE_RUVECTOR || (s == SHAPE_VECSNAP && force == 0)) {
        rd->shape = s;
        rd->lx.hashing = s == SHAPE_VECSNAP; /* ruvector's can't be redone */
        return 0;
    }
    if (key_bit(key, klen, meta, 5))
        return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                 "this looks like a ruvector-extensions "
                                 "snapshot description (<id>.meta.json), "
                                 "not a state file; load the snapshot file "
                                 "beside it");
    if (force == VS_JSON_SHAPE_RUVECTOR)
        return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                 "not a ruvector-extensions state file");
    return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                             "unknown top-level key '%.*s' (neither a "
                             "vecsnap nor a ruvector-extensions document)",
                             (int)(klen > 64 ? 64 : klen), key);
}

static int read_vecsnap_member(reader *rd, root_state *rs, const char *key,
                               size_t klen)
{
    vs_fmt__json_lexer *lx = &rd->lx;
    unsigned bit = key_bit(key, klen, vecsnap_keys, 5);
    if (!bit)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "unknown top-level key '%.*s'",
                                 (int)(klen > 64 ? 64 : klen), key);
    if (bit & rs->have)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "duplicate top-level key");
    rs->have |= bit;
    char text[VS_SHA256_HEX_LEN + 1];
    size_t len;
    uint64_t v;
    int error;
    switch (bit) {
    case R_FORMAT:
        error = vs_fmt__json_read_string(lx, text, 32, &len, "format");
        if (!error && !str_is(text, len, "vecsnap"))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "format '%.*s' is not 'vecsnap'",
                                     (int)len, text);
        return error;
    case R_VERSION:
        error = vs_fmt__json_read_uint(lx, &v, UINT32_MAX, "version");
        if (!error && v == 0)
            return vs_fmt__json_fail(lx, VS_ECORRUPT, "version 0");
        if (!error && v > 1)
            return vs_fmt__json_fail(lx, VS_EVERSION,
                                     "document version %llu is newer than "
                                     "this build reads (1)",
                                     (unsigned long long)v);
        return error;
    case R_SEQ:
        if (rs->have & R_COLLECTIONS)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "seq after collections");
        return vs_fmt__json_read_uint(lx, &rd->seq, UINT64_MAX, "seq");
    case R_COLLECTIONS:
        if ((rs->have & (R_FORMAT | R_VERSION)) != (R_FORMAT | R_VERSION))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "collections before format and "
                                     "version");
        return read_collections(rd);
    default: /* R_SHA: compared once it is known to be the last member */
        if (!lx->held)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "sha256 must follow the other members");
        vs_fmt__json_digest(lx, rs->digest);
        error = vs_fmt__json_read_string(lx, text, VS_SHA256_HEX_LEN, &len,
                                         "sha256");
        if (error == VS_ETOOBIG ||
            (!error && (!vs_fmt__json_is_hex64(text, len) ||
                        vs_sha256_parse_hex(rs->claimed, text, len))))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "sha256 is not 64 hex digits");
        return error;
    }
}

static int read_ruvector_member(reader *rd, root_state *rs, const char *key,
                                size_t klen)
{
    vs_fmt__json_lexer *lx = &rd->lx;
    unsigned bit = str_is(key, klen, "version") ? R_VERSION
                                                : key_bit(key, klen, ruv_keys,
                                                          4) << 5;
    if (bit & rs->have)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "duplicate top-level key");
    rs->have |= bit;
    if ((bit == R_OPTIONS || bit == R_STATS) && rd->ruv_vectors_started)
        return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                 "options or stats after vectors");
    char text[VS_SHA256_HEX_LEN + 1];
    size_t len;
    int error;
    switch (bit) {
    case R_VERSION:
        error = vs_fmt__json_read_string(lx, text, 32, &len, "version");
        if (!error && (error = vs_fmt__ruvector_version(text, len)) < 0)
            return vs_fmt__json_fail(lx, error,
                                     "%s ruvector-extensions version '%.*s'",
                                     error == VS_EVERSION ? "unsupported"
                                                          : "malformed",
                                     (int)len, text);
        return error;
    case R_OPTIONS:
        return read_ruv_conf(rd, &rs->opt, false);
    case R_STATS:
        return read_ruv_conf(rd, &rs->stats, true);
    case R_VECTORS:
        return read_ruv_vectors(rd, &rs->opt, &rs->stats);
    case R_CHECKSUM: /* it covers a JavaScript re-serialisation: only a form
                        check is possible */
        error = vs_fmt__json_read_string(lx, text, VS_SHA256_HEX_LEN, &len,
                                         "checksum");
        if (error == VS_ETOOBIG ||
            (!error && !vs_fmt__json_is_hex64(text, len)))
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "checksum is not 64 hex digits");
        return error;
    default: /* timestamp, indexState, metadata, anything newer */
        return vs_fmt__json_skip_value(lx, 1);
    }
}

static int finish_root(reader *rd, root_state *rs)
{
    if (rd->shape == SHAPE_VECSNAP) {
        const unsigned needed = R_FORMAT | R_VERSION | R_COLLECTIONS;
        if ((rs->have & needed) != needed)
            return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                     "document lacks format, version or "
                                     "collections");
        if ((rs->have & R_SHA) && !vs_sha256_equal(rs->digest, rs->claimed))
            return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                     "checksum mismatch");
        rs->verified = rs->have & R_SHA;
        return 0;
    }
    if (!(rs->have & R_VECTORS))
        return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                 "ruvector document has no vectors");
    if (vs_store_find(rd->st, RUV_NAME))
        return 0;
    uint64_t dim = rs->opt.dim ? rs->opt.dim : rs->stats.dim;
    if (!dim)
        return vs_fmt__json_fail(&rd->lx, VS_ECORRUPT,
                                 "ruvector document gives no dimension");
    return create_collection(rd, RUV_NAME, (uint32_t)dim,
                             rd->ruv_has_metric ? rd->ruv_metric
                                                : VS_METRIC_COSINE,
                             0);
}

static int read_root(reader *rd, int force, root_state *rs)
{
    vs_fmt__json_lexer *lx = &rd->lx;
    int c = 0, more;
    int error = vs_fmt__json_open_container(
        lx, '{', "'{' at the start of a document", &more);
    if (!error && !more)
        return vs_fmt__json_fail(lx, VS_ECORRUPT, "empty document object");
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (!error && rd->shape == SHAPE_UNKNOWN)
            error = pick_shape(rd, key, klen, force);
        if (error < 0)
            return error;
        if (!str_is(key, klen, "sha256"))
            lx->held = false; /* the comma was not the checksum's */
        if (rd->shape == SHAPE_VECSNAP)
            error = read_vecsnap_member(rd, rs, key, klen);
        else
            error = read_ruvector_member(rd, rs, key, klen);
        lx->held = false;
        if (!error)
            error = vs_fmt__json_peek(lx, &c);
        if (error < 0)
            return error;
        if (c == ',' && (rs->have & R_SHA) && rd->shape == SHAPE_VECSNAP)
            return vs_fmt__json_fail(lx, VS_ECORRUPT,
                                     "sha256 must be the last member");
        if (c == ',' && lx->hashing)
            vs_fmt__json_hold(lx);
        error = vs_fmt__json_next_item(lx, '}', &more);
    }
    return error < 0 ? error : finish_root(rd, rs);
}

int vs_fmt__json_load_shape(vs_store **out, vs_file_info *info,
                            vs_stream *in, const vs_load_options *opts,
                            int force)
{
    reader rd;
    memset(&rd, 0, sizeof(rd));
    root_state rs;
    memset(&rs, 0, sizeof(rs));
    rd.opts = opts;
    rd.ids = (vs_buf)VS_BUF_INIT((size_t)BATCH_RECORDS * VS_ID_MAX);
    rd.mds = (vs_buf)VS_BUF_INIT(BATCH_MD_BYTES + MD_RAW_MAX);
    rd.raw = (vs_buf)VS_BUF_INIT(MD_RAW_MAX);
    int c = 0;
    int error = vs_store_new(&rd.st);
    if (!error)
        error = vs_fmt__json_lexer_init(&rd.lx, in);
    if (!error)
        error = vs_fmt__json_peek(&rd.lx, &c);
    if (!error && c < 0)
        error = vs_error_set(VS_ECORRUPT, "json: empty input");
    if (!error)
        error = read_root(&rd, force, &rs);
    if (!error)
        error = vs_fmt__json_peek(&rd.lx, &c);
    if (!error && c >= 0)
        error = vs_fmt__json_fail(&rd.lx, VS_ECORRUPT,
                                  "trailing bytes after the document");
    if (error < 0)
        goto done;
    if (rd.shape == SHAPE_RUVECTOR)
        rd.seq = 1; /* the load counts as the store's first write */
    vs_store_set_seq(rd.st, rd.seq);
    if (info) {
        info->format = rd.shape == SHAPE_RUVECTOR ? VS_FORMAT_RUVECTOR
                                                  : VS_FORMAT_JSON;
        info->content_verified = rs.verified;
        info->seq = rd.seq;
        info->records = vs_store_nrecords(rd.st);
        info->ncollections = (uint32_t)vs_store_ncollections(rd.st);
    }
    *out = rd.st;
    rd.st = NULL;
done:
    vs_fmt__json_lexer_dispose(&rd.lx);
    vs_store_free(rd.st);
    free(rd.vectors);
    free(rd.recs);
    free(rd.id_off);
    free(rd.md_off);
    free(rd.rec_at);
    free(rd.scratch);
    free(rd.seen_bits);
    vs_buf_dispose(&rd.ids);
    vs_buf_dispose(&rd.mds);
    vs_buf_dispose(&rd.raw);
    return error;
}

int vs_fmt_json_load(vs_store **out, vs_file_info *info, vs_stream *in,
                     const vs_load_options *opts)
{
    return vs_fmt__json_load_shape(out, info, in, opts, VS_JSON_SHAPE_ANY);
}
