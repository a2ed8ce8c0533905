/*
 * api_collections: collections, records and search over HTTP.  It owns the
 * handlers of /v1/collections..., the rendering of their replies straight
 * into a buffer (no tree for large vectors), the streaming batch upsert, the
 * batch delete, and the logging of every write.
 *
 * Locking: a handler takes the store's read lock (reads) or write lock
 * (writes) around its store calls and the rendering of borrowed pointers,
 * never around parsing or sending.
 *
 * Batch upsert (PUT /v1/collections/{c}/vectors): the body is
 * {"vectors":[{"id","vector","metadata"},...]} (application/json) or one
 * such record per line (application/x-ndjson), optionally compressed
 * (Content-Encoding gzip, br, zstd; the decompressed size is capped by
 * max_decompressed_bytes: beyond it, 413).  It is parsed as it arrives, by
 * the JSON reader's lexer (fmt_json_int.h), and applied in batches of at
 * most BATCH_RECORDS records or BATCH_FLOATS floats, each under the write
 * lock for one store call: memory stays bounded whatever the body's size.
 * Small uncompressed bodies with a Content-Length are buffered and parsed
 * on the polling thread; others stream through a pipe to a consumer thread.
 *
 * Failure semantics (not atomic, by design): every record before the first
 * bad one is applied, the bad one and everything after it are not.  The
 * error names the line (NDJSON) or the array index (JSON) and the body
 * carries "upserted": the number of records applied, so a client can
 * resume from there.
 *
 * The write-ahead log (ops.h, "Writes and the log"): every write that
 * changes the store -- create, drop, each upsert batch, delete -- is
 * encoded before the write lock is taken, applied and queued in the log
 * under it (stamped with the seq it took; a write that changed nothing,
 * such as a delete of absent ids, is not logged), and answered only once
 * vs_ops_log_wait says the record is as durable as the policy asks, after
 * the lock is released.  An upload waits once, for its last batch, before
 * its answer.  While the server is read-only (a log failure) writes are
 * refused with 503 before anything is applied; a write whose record could
 * not be logged is answered 500 and acknowledges nothing ("upserted": 0).
 */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "fmt_json_int.h"
#include "api.h"
#include "jsonv.h"
#include "wal.h"

#define JSON_TYPE "application/json"
#define REPLY_MAX ((size_t)64 << 20)
#define BATCH_RECORDS 1024
#define BATCH_FLOATS ((size_t)1 << 20) /* 4 MiB of vectors */
#define BATCH_TEXT ((size_t)2 << 20)   /* ids and metadata */
#define INLINE_MAX ((uint64_t)1 << 20) /* buffered, parsed on the poller */
#define SEARCH_BODY_MAX ((uint64_t)4 << 20)
#define DELETE_BODY_MAX ((uint64_t)4 << 20)
#define DELETE_IDS_MAX 10000
#define DEFAULT_K 10

/* ---- shared helpers ------------------------------------------------------ */

static int name_param(const char **out, vs_req *req)
{
    *out = vs_req_param(req, "c", NULL);
    return *out ? vs_store_check_name(*out)
                : vs_error_set(VS_EINVALID, "no collection name");
}

static int not_found(const char *name)
{
    return vs_error_set(VS_ENOTFOUND, "no collection '%s'", name);
}

static int put_collection(vs_buf *b, const vs_collection *c)
{
    int error = vs_buf_puts(b, "{\"name\":");
    const char *name = vs_collection_name(c);
    if (!error)
        error = vs_http_put_string(b, name, strlen(name));
    if (!error)
        error = vs_buf_printf(
            b, ",\"dimension\":%u,\"metric\":\"%s\",\"count\":%zu}",
            (unsigned)vs_collection_dimension(c),
            vs_metric_name(vs_collection_metric(c)), vs_collection_count(c));
    return error;
}

static int put_metadata(vs_buf *b, const char *md, size_t n)
{
    return n ? vs_buf_put(b, md, n) : vs_buf_puts(b, "{}");
}

/* ---- writes and the log -------------------------------------------------- */

/* One write's record.  `ops` NULL: nothing to check or log (no app). */
typedef struct wlog {
    vs_ops *ops;
    bool on;       /* the log is on: encode and log */
    vs_buf body;   /* the record, encoded before the lock */
    uint64_t seq;  /* the record queued (0: none) */
    bool refused;  /* read-only: nothing was applied */
    char why[700]; /* why, for the 503 */
} wlog;

static void wlog_init(wlog *l, vs_req *req)
{
    vs_api_app *app = vs_api_app_of(req);
    l->ops = app ? app->ops : NULL;
    l->on = l->ops && l->ops->wal;
    l->body = (vs_buf)VS_BUF_INIT(VS_WAL_BODY_MAX);
    l->seq = 0;
    l->refused = false;
    l->why[0] = '\0';
}

/* Under the write lock, before applying: false when writes are refused. */
static bool wlog_may_write(wlog *l)
{
    l->refused = l->ops && vs_ops_read_only(l->ops, l->why, sizeof(l->why));
    return !l->refused;
}

/* Under the write lock, after applying a write that began at counter
 * `before`: its record goes to the log when it changed something. */
static int wlog_write(wlog *l, vs_store *st, uint64_t before)
{
    if (!l->on || vs_store_seq(st) == before)
        return 0;
    int error = vs_ops_log(l->ops, &l->body, before + 1);
    if (!error)
        l->seq = before + 1;
    return error;
}

/* After the lock: 503 when refused (returns 0, replied), else wait for
 * the record, if any. */
static int wlog_finish(wlog *l, vs_req *req, bool *replied)
{
    *replied = false;
    vs_buf_dispose(&l->body);
    if (l->refused) {
        *replied = true;
        return vs_reply_error_status(req, 503, "unavailable", "%s", l->why);
    }
    return l->ops ? vs_ops_log_wait(l->ops, l->seq) : 0;
}

/* A refusal before anything is read: 503 sent, true. */
static bool read_only(vs_req *req)
{
    wlog l;
    wlog_init(&l, req);
    if (wlog_may_write(&l))
        return false;
    (void)vs_reply_error_status(req, 503, "unavailable", "%s", l.why);
    return true;
}

/* ---- collections --------------------------------------------------------- */

static int list_collections(vs_req *req)
{
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(REPLY_MAX);
    vs_store_rdlock(st);
    int error = vs_buf_puts(&b, "{\"collections\":[");
    size_t n = vs_store_ncollections(st);
    for (size_t i = 0; !error && i < n; i++) {
        if (i)
            error = vs_buf_putc(&b, ',');
        if (!error)
            error = put_collection(&b, vs_store_at(st, i));
    }
    vs_store_unlock(st);
    if (!error)
        error = vs_buf_puts(&b, "]}");
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    return vs_reply_buf(req, 200, &b, JSON_TYPE);
}

static int get_collection(vs_req *req)
{
    const char *name;
    int error = name_param(&name, req);
    if (error < 0)
        return error;
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(4096);
    vs_store_rdlock(st);
    const vs_collection *c = vs_store_find(st, name);
    error = c ? put_collection(&b, c) : not_found(name);
    vs_store_unlock(st);
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    return vs_reply_buf(req, 200, &b, JSON_TYPE);
}

/* {"dimension": D, "metric": "cosine"|"euclidean"|"dot"} (metric optional,
 * cosine by default). */
static int parse_shape(uint32_t *dim, vs_metric *metric, json_t *j)
{
    const char *key;
    json_t *v;
    *dim = 0;
    *metric = VS_METRIC_COSINE;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "dimension") == 0) {
            json_int_t d = json_is_integer(v) ? json_integer_value(v) : 0;
            if (d < 1 || d > VS_DIM_MAX)
                return vs_error_set(VS_EINVALID,
                                    "\"dimension\" must be an integer "
                                    "1..%d",
                                    VS_DIM_MAX);
            *dim = (uint32_t)d;
        } else if (strcmp(key, "metric") == 0) {
            if (!json_is_string(v) ||
                vs_metric_parse(metric, json_string_value(v)) < 0)
                return vs_error_set(VS_EINVALID,
                                    "\"metric\" must be \"cosine\", "
                                    "\"euclidean\" or \"dot\"");
        } else {
            return vs_error_set(VS_EINVALID, "unknown field \"%s\"", key);
        }
    }
    if (!*dim)
        return vs_error_set(VS_EINVALID, "\"dimension\" is required");
    return 0;
}

static int put_collection_handler(vs_req *req)
{
    const char *name;
    json_t *j = NULL;
    uint32_t dim = 0;
    vs_metric metric = VS_METRIC_COSINE;
    int error = name_param(&name, req);
    if (!error)
        error = vs_req_json(&j, req);
    if (!error)
        error = parse_shape(&dim, &metric, j);
    json_decref(j);
    if (error < 0)
        return error;
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(4096);
    unsigned status = 200;
    wlog l;
    bool replied;
    wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_create(&l.body, 1, name, dim, metric);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    if (!error && wlog_may_write(&l)) {
        vs_collection *c = vs_store_find(st, name);
        if (c && (vs_collection_dimension(c) != dim ||
                  vs_collection_metric(c) != metric))
            error = vs_error_set(VS_EEXISTS,
                                 "collection '%s' exists with dimension %u "
                                 "and metric %s",
                                 name, (unsigned)vs_collection_dimension(c),
                                 vs_metric_name(vs_collection_metric(c)));
        else if (!c) {
            status = 201;
            error = vs_store_create(&c, st, name, dim, metric);
        }
        if (!error)
            error = wlog_write(&l, st, before);
        if (!error)
            error = put_collection(&b, c);
    }
    vs_store_unlock(st);
    int werr = wlog_finish(&l, req, &replied);
    if (!error)
        error = werr;
    if (replied || error < 0)
        vs_buf_dispose(&b);
    if (replied)
        return werr;
    if (!error && status == 201) {
        char loc[32 + VS_NAME_MAX];
        snprintf(loc, sizeof(loc), "/v1/collections/%s", name);
        error = vs_reply_header(req, "Location", loc);
    }
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    return vs_reply_buf(req, status, &b, JSON_TYPE);
}

static int delete_collection(vs_req *req)
{
    const char *name;
    int error = name_param(&name, req);
    if (error < 0)
        return error;
    vs_store *st = vs_req_env(req)->store;
    wlog l;
    bool replied;
    wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_drop(&l.body, 1, name);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    if (!error && wlog_may_write(&l)) {
        error = vs_store_drop(st, name);
        if (!error)
            error = wlog_write(&l, st, before);
    }
    vs_store_unlock(st);
    int werr = wlog_finish(&l, req, &replied);
    if (replied)
        return werr;
    if (!error)
        error = werr;
    if (error < 0)
        return error;
    return vs_reply_json(req, 200,
                         json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

/* ---- records ------------------------------------------------------------- */

static int get_vector(vs_req *req)
{
    const char *name, *id;
    size_t id_len;
    int error = name_param(&name, req);
    if (error < 0)
        return error;
    id = vs_req_param(req, "id", &id_len);
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(REPLY_MAX);
    vs_store_rdlock(st);
    const vs_collection *c = vs_store_find(st, name);
    vs_record rec = {0};
    error = c ? vs_collection_get(&rec, c, id, id_len) : not_found(name);
    if (error == VS_ENOTFOUND && c)
        error = vs_error_set(VS_ENOTFOUND, "no record '%s' in '%s'", id, name);
    if (!error)
        error = vs_buf_puts(&b, "{\"id\":");
    if (!error)
        error = vs_http_put_string(&b, rec.id, rec.id_len);
    if (!error)
        error = vs_buf_puts(&b, ",\"vector\":[");
    uint32_t dim = c ? vs_collection_dimension(c) : 0;
    for (uint32_t i = 0; !error && i < dim; i++) {
        if (i)
            error = vs_buf_putc(&b, ',');
        if (!error)
            error = vs_http_put_float(&b, rec.vector[i]);
    }
    if (!error)
        error = vs_buf_puts(&b, "],\"metadata\":");
    if (!error)
        error = put_metadata(&b, rec.metadata, rec.metadata_len);
    vs_store_unlock(st);
    if (!error)
        error = vs_buf_putc(&b, '}');
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    return vs_reply_buf(req, 200, &b, JSON_TYPE);
}

static int delete_vector(vs_req *req)
{
    const char *name;
    int error = name_param(&name, req);
    if (error < 0)
        return error;
    vs_record rec = {0};
    rec.id = vs_req_param(req, "id", &rec.id_len);
    vs_store *st = vs_req_env(req)->store;
    wlog l;
    bool replied;
    wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_delete(&l.body, 1, name, &rec, 1);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    vs_collection *c = vs_store_find(st, name);
    vs_record found;
    if (!error && wlog_may_write(&l)) {
        error = c ? vs_collection_get(&found, c, rec.id, rec.id_len)
                  : not_found(name);
        if (error == VS_ENOTFOUND && c)
            error = vs_error_set(VS_ENOTFOUND, "no record '%s' in '%s'", rec.id,
                                 name);
        if (!error)
            error = vs_collection_delete(c, &rec, 1, NULL);
        if (!error)
            error = wlog_write(&l, st, before);
    }
    vs_store_unlock(st);
    int werr = wlog_finish(&l, req, &replied);
    if (replied)
        return werr;
    if (!error)
        error = werr;
    if (error < 0)
        return error;
    return vs_reply_json(req, 200,
                         json_pack("{s:s,s:b}", "id", rec.id, "deleted", 1));
}

/* {"ids": [id, ...]}: 1..DELETE_IDS_MAX valid ids, borrowed from j. */
static int parse_ids(vs_record **out, size_t *n, const json_t *j)
{
    static const char *const keys[] = {"ids"};
    json_t *a = json_object_get(j, "ids");
    size_t k = json_is_array(a) ? json_array_size(a) : 0;
    *out = NULL;
    *n = 0;
    int error = vs_api_check_keys(j, keys, 1);
    if (error < 0)
        return error;
    if (k < 1 || k > DELETE_IDS_MAX)
        return vs_error_set(VS_EINVALID,
                            "\"ids\" must be an array of 1..%d record ids",
                            DELETE_IDS_MAX);
    vs_record *ids = calloc(k, sizeof(*ids));
    if (!ids)
        return vs_error_oom();
    for (size_t i = 0; !error && i < k; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v)) {
            error = vs_error_set(VS_EINVALID, "ids[%zu] is not a string", i);
            break;
        }
        ids[i].id = json_string_value(v);
        ids[i].id_len = json_string_length(v);
        if (vs_store_check_id(ids[i].id, ids[i].id_len) < 0) {
            char why[300];
            snprintf(why, sizeof(why), "%s", vs_error_last());
            error = vs_error_set(VS_EINVALID, "ids[%zu]: %s", i, why);
        }
    }
    if (error < 0) {
        free(ids);
        return error;
    }
    *out = ids;
    *n = k;
    return 0;
}

/* POST /v1/collections/{c}/delete: ids that are absent are ignored. */
static int delete_batch(vs_req *req)
{
    const char *name;
    json_t *j = NULL;
    vs_record *ids = NULL;
    size_t n = 0, deleted = 0;
    wlog l;
    bool replied = false;
    int werr = 0, error = name_param(&name, req);
    if (!error)
        error = vs_req_json(&j, req);
    if (!error)
        error = parse_ids(&ids, &n, j);
    wlog_init(&l, req);
    if (!error && l.on)
        error = vs_wal_encode_delete(&l.body, 1, name, ids, n);
    if (!error) {
        vs_store *st = vs_req_env(req)->store;
        vs_store_wrlock(st);
        uint64_t before = vs_store_seq(st);
        if (wlog_may_write(&l)) {
            vs_collection *c = vs_store_find(st, name);
            error =
                c ? vs_collection_delete(c, ids, n, &deleted) : not_found(name);
            if (!error)
                error = wlog_write(&l, st, before);
        }
        vs_store_unlock(st);
    }
    werr = wlog_finish(&l, req, &replied);
    free(ids);
    json_decref(j);
    if (replied)
        return werr;
    if (!error)
        error = werr;
    if (error < 0)
        return error;
    return vs_reply_json(req, 200,
                         json_pack("{s:I}", "deleted", (json_int_t)deleted));
}

/* ---- search -------------------------------------------------------------- */

/* {"vector":[...],"k":K}: *query malloc'd, caller frees. */
static int parse_search(float **query, size_t *dim, size_t *k, json_t *j)
{
    const char *key;
    json_t *v, *vec = NULL;
    *query = NULL;
    *k = DEFAULT_K;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "vector") == 0) {
            vec = v;
        } else if (strcmp(key, "k") == 0) {
            json_int_t kk = json_is_integer(v) ? json_integer_value(v) : 0;
            if (kk < 1 || kk > VS_SEARCH_K_MAX)
                return vs_error_set(VS_EINVALID,
                                    "\"k\" must be an integer 1..%d",
                                    VS_SEARCH_K_MAX);
            *k = (size_t)kk;
        } else {
            return vs_error_set(VS_EINVALID, "unknown field \"%s\"", key);
        }
    }
    size_t n = json_is_array(vec) ? json_array_size(vec) : 0;
    if (n < 1 || n > VS_DIM_MAX)
        return vs_error_set(VS_EINVALID, "\"vector\" must be an array of "
                                         "1..65536 numbers");
    float *q = malloc(n * sizeof(*q));
    if (!q)
        return vs_error_oom();
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(vec, i);
        if (!json_is_number(x)) {
            free(q);
            return vs_error_set(VS_EINVALID, "vector[%zu] is not a number", i);
        }
        q[i] = (float)json_number_value(x);
    }
    *query = q;
    *dim = n;
    return 0;
}

static int render_hits(vs_buf *b, const vs_hit *hits, size_t n)
{
    int error = vs_buf_puts(b, "{\"results\":[");
    for (size_t i = 0; !error && i < n; i++) {
        error = vs_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        if (!error)
            error = vs_http_put_string(b, hits[i].id, hits[i].id_len);
        if (!error)
            error = vs_buf_puts(b, ",\"score\":");
        if (!error)
            error = vs_http_put_float(b, hits[i].score);
        if (!error)
            error = vs_buf_puts(b, ",\"metadata\":");
        if (!error)
            error = put_metadata(b, hits[i].metadata, hits[i].metadata_len);
        if (!error)
            error = vs_buf_putc(b, '}');
    }
    return error < 0 ? error : vs_buf_puts(b, "]}");
}

static int search(vs_req *req)
{
    const char *name;
    json_t *j = NULL;
    float *query = NULL;
    vs_hit *hits = NULL;
    size_t dim = 0, k = 0, n = 0;
    int error = name_param(&name, req);
    if (!error)
        error = vs_req_json(&j, req);
    if (!error)
        error = parse_search(&query, &dim, &k, j);
    json_decref(j);
    if (!error && !(hits = malloc(k * sizeof(*hits))))
        error = vs_error_oom();
    vs_buf b = VS_BUF_INIT(REPLY_MAX);
    if (!error) {
        vs_store *st = vs_req_env(req)->store;
        vs_store_rdlock(st);
        const vs_collection *c = vs_store_find(st, name);
        error = c ? vs_collection_search(hits, &n, c, query, dim, k)
                  : not_found(name);
        if (!error)
            error = render_hits(&b, hits, n);
        vs_store_unlock(st);
    }
    free(query);
    free(hits);
    if (error < 0) {
        vs_buf_dispose(&b);
        return error;
    }
    return vs_reply_buf(req, 200, &b, JSON_TYPE);
}

/* ---- batch upsert -------------------------------------------------------- */

typedef struct span {
    size_t id_off, id_len, md_off, md_len;
} span;

typedef struct ingest {
    vs_store *store;
    uint64_t max_decompressed;
    char name[VS_NAME_MAX + 1];
    uint32_t dim;
    bool ndjson;
    vs_codec_id codec;
    size_t cap, n; /* batch capacity and fill, in records */
    float *vecs;   /* cap * dim */
    span *spans;
    vs_record *recs;
    vs_buf text; /* ids and metadata of the batch */
    vs_buf md;   /* the record being read */
    uint64_t upserted, records, line;
    bool buffered;     /* small body: parsed by the handler */
    bool in_array;     /* JSON: inside "vectors" */
    bool flush_failed; /* the error came from the store */
    wlog log;          /* its seq: the last batch logged */
} ingest;

static void ingest_free(void *p)
{
    ingest *ig = p;
    if (!ig)
        return;
    free(ig->vecs);
    free(ig->spans);
    free(ig->recs);
    vs_buf_dispose(&ig->text);
    vs_buf_dispose(&ig->md);
    vs_buf_dispose(&ig->log.body);
    free(ig);
}

/* Applies the batch under the write lock.  The collection is looked up
 * again: it may have been dropped or re-created while the body arrived. */
static int flush(ingest *ig)
{
    if (ig->n == 0)
        return 0;
    for (size_t i = 0; i < ig->n; i++) {
        const span *s = &ig->spans[i];
        ig->recs[i] = (vs_record){
            ig->text.ptr + s->id_off, s->id_len, ig->vecs + i * (size_t)ig->dim,
            s->md_len ? ig->text.ptr + s->md_off : NULL, s->md_len};
    }
    int error = 0;
    vs_buf_reset(&ig->log.body);
    if (ig->log.on)
        error = vs_wal_encode_upsert(&ig->log.body, 1, ig->name, ig->dim,
                                     ig->recs, ig->n);
    vs_store_wrlock(ig->store);
    uint64_t before = vs_store_seq(ig->store);
    vs_collection *c = vs_store_find(ig->store, ig->name);
    if (!error && !wlog_may_write(&ig->log))
        error = vs_error_set(VS_EIO, "%s", ig->log.why);
    else if (!error && !c)
        error = vs_error_set(VS_ENOTFOUND,
                             "collection '%s' was dropped during the upload",
                             ig->name);
    else if (!error && vs_collection_dimension(c) != ig->dim)
        error = vs_error_set(VS_EEXISTS,
                             "collection '%s' was re-created with another "
                             "dimension during the upload",
                             ig->name);
    else if (!error)
        error = vs_collection_upsert(c, ig->recs, ig->n);
    if (!error)
        error = wlog_write(&ig->log, ig->store, before);
    vs_store_unlock(ig->store);
    if (error < 0) {
        ig->flush_failed = true;
        return error;
    }
    ig->upserted += ig->n;
    ig->n = 0;
    vs_buf_reset(&ig->text);
    return 0;
}

static int read_member(ingest *ig, vs_fmt__json_lexer *lx, int which, char *id,
                       size_t *id_len)
{
    uint32_t got;
    int c = 0, error;
    switch (which) {
    case 0:
        return vs_fmt__json_read_string(lx, id, VS_ID_MAX, id_len, "id");
    case 1:
        return vs_fmt__json_read_vector_array(
            lx, ig->vecs + ig->n * (size_t)ig->dim, ig->dim, &got);
    default:
        error = vs_fmt__json_peek(lx, &c);
        if (!error && c == 'n')
            return vs_fmt__json_read_literal(lx, "null");
        return error < 0
                   ? error
                   : vs_fmt__json_capture_object(lx, &ig->md, VS_METADATA_MAX);
    }
}

/* One {"id","vector","metadata"} object, validated and added to the batch. */
static int read_record(ingest *ig, vs_fmt__json_lexer *lx)
{
    static const char *const keys[] = {"id", "vector", "metadata"};
    char id[VS_ID_MAX];
    size_t id_len = 0;
    bool seen[3] = {false, false, false};
    int more;
    vs_buf_reset(&ig->md);
    int error = vs_fmt__json_open_container(lx, '{', "a record object", &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        int which = -1;
        error = vs_fmt__json_read_key(lx, key, &klen);
        for (int i = 0; !error && i < 3 && which < 0; i++)
            if (strlen(keys[i]) == klen && memcmp(key, keys[i], klen) == 0)
                which = i;
        if (!error && (which < 0 || seen[which]))
            error = vs_fmt__json_fail(lx, VS_EINVALID,
                                      which < 0 ? "unknown key '%.*s' (a "
                                                  "record has id, vector, "
                                                  "metadata)"
                                                : "key '%.*s' given twice",
                                      (int)(klen > 64 ? 64 : klen), key);
        if (!error) {
            seen[which] = true;
            error = read_member(ig, lx, which, id, &id_len);
        }
        if (!error)
            error = vs_fmt__json_next_item(lx, '}', &more);
    }
    if (!error && (!seen[0] || !seen[1]))
        error = vs_error_set(VS_EINVALID, "a record needs \"%s\"",
                             seen[0] ? "vector" : "id");
    if (!error)
        error = vs_store_check_id(id, id_len);
    if (!error && ig->md.len)
        error = vs_jsonv_check_object(ig->md.ptr, ig->md.len);
    span *s = &ig->spans[ig->n];
    s->id_off = ig->text.len;
    s->id_len = id_len;
    s->md_off = ig->text.len + id_len;
    s->md_len = ig->md.len;
    if (!error)
        error = vs_buf_put(&ig->text, id, id_len);
    if (!error)
        error = vs_buf_put(&ig->text, ig->md.ptr, ig->md.len);
    if (error < 0)
        return error;
    ig->n++;
    ig->records++;
    if (ig->n == ig->cap || ig->text.len >= BATCH_TEXT)
        return flush(ig);
    return 0;
}

/* White space before an NDJSON record, counting line ends. */
static int skip_lines(vs_fmt__json_lexer *lx, uint64_t *newlines, int *c)
{
    *newlines = 0;
    for (;;) {
        for (; lx->pos < lx->end; lx->pos++) {
            int ch = (unsigned char)lx->buf[lx->pos];
            if (ch == '\n')
                (*newlines)++;
            else if (!vs_fmt__json_is_ws(ch)) {
                *c = ch;
                return 0;
            }
        }
        if (lx->eof) {
            *c = -1;
            return 0;
        }
        int error = vs_fmt__json_refill(lx);
        if (error < 0)
            return error;
    }
}

static int parse_ndjson(ingest *ig, vs_fmt__json_lexer *lx)
{
    ig->line = 1;
    for (;;) {
        uint64_t nl;
        int c, error = skip_lines(lx, &nl, &c);
        if (error < 0)
            return error;
        ig->line += nl;
        if (c < 0)
            return 0;
        if (ig->records > 0 && nl == 0)
            return vs_fmt__json_fail(lx, VS_EINVALID,
                                     "a record must start a new line");
        error = read_record(ig, lx);
        if (error < 0)
            return error;
    }
}

static int parse_document(ingest *ig, vs_fmt__json_lexer *lx)
{
    int more, c = 0;
    bool seen = false;
    int error = vs_fmt__json_open_container(lx, '{', "a JSON object", &more);
    while (!error && more) {
        char key[VS_FMT__JSON_KEY_MAX];
        size_t klen;
        error = vs_fmt__json_read_key(lx, key, &klen);
        if (!error && (seen || klen != 7 || memcmp(key, "vectors", 7) != 0))
            error = vs_fmt__json_fail(lx, VS_EINVALID,
                                      "unexpected key '%.*s' (the body is "
                                      "{\"vectors\":[...]})",
                                      (int)(klen > 64 ? 64 : klen), key);
        int items = 0;
        if (!error) {
            seen = ig->in_array = true;
            error = vs_fmt__json_open_container(lx, '[', "an array", &items);
        }
        while (!error && items) {
            error = read_record(ig, lx);
            if (!error)
                error = vs_fmt__json_next_item(lx, ']', &items);
        }
        if (!error) {
            ig->in_array = false;
            error = vs_fmt__json_next_item(lx, '}', &more);
        }
    }
    if (!error && !seen)
        error = vs_error_set(VS_EINVALID, "the body has no \"vectors\"");
    if (!error)
        error = vs_fmt__json_peek(lx, &c);
    if (!error && c >= 0)
        error = vs_fmt__json_unexpected(lx, c, "the end of the body");
    return error;
}

/* Gives a parse error its place and its code: what the stream reported
 * keeps its code (413 for a decompression bomb, 503 when cancelled), a
 * corrupt compressed body or bad JSON is 400. */
static int explain(ingest *ig, const vs_stream *in, int error)
{
    char msg[700];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    if (ig->flush_failed || error == VS_ENOMEM)
        return vs_error_set(error, "%s", msg);
    if (in->error == VS_ETOOBIG || in->error == VS_ECANCELLED)
        return vs_error_set(in->error, "%s", msg);
    if (ig->ndjson)
        return vs_error_set(VS_EINVALID, "line %llu: %s",
                            (unsigned long long)ig->line, msg);
    if (ig->in_array)
        return vs_error_set(VS_EINVALID, "vectors[%llu]: %s",
                            (unsigned long long)ig->records, msg);
    return vs_error_set(VS_EINVALID, "body: %s", msg);
}

static int consume(vs_req *req, vs_stream *body, void *payload)
{
    ingest *ig = payload;
    vs_stream *dec = NULL, *in = body;
    vs_fmt__json_lexer lx;
    memset(&lx, 0, sizeof(lx));
    (void)req;
    int error = 0;
    if (ig->codec != VS_CODEC_NONE) {
        error =
            vs_codec_reader_new(&dec, body, ig->codec, ig->max_decompressed);
        in = dec;
    }
    if (!error) {
        error = vs_fmt__json_lexer_init(&lx, in);
        lx.hashing = false; /* no checksum in a request body */
    }
    if (!error)
        error = ig->ndjson ? parse_ndjson(ig, &lx) : parse_document(ig, &lx);
    if (error < 0)
        error = explain(ig, in ? in : body, error);
    /* Records before a failure are applied too (see the file comment). */
    if (!ig->flush_failed) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        int ferr = flush(ig);
        if (!error)
            error = ferr;
        else
            vs_error_set(error, "%s", msg);
    }
    /* The answer acknowledges what was applied: wait for its records. */
    if (ig->log.seq) {
        char msg[700];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        int werr = vs_ops_log_wait(ig->log.ops, ig->log.seq);
        if (werr < 0) {
            snprintf(msg, sizeof(msg), "%s", vs_error_last());
            error = vs_error_set(werr,
                                 "%s; none of this upload's records is "
                                 "acknowledged",
                                 msg);
            ig->upserted = 0;
        } else if (error < 0) {
            vs_error_set(error, "%s", msg);
        }
    }
    vs_fmt__json_lexer_dispose(&lx);
    vs_stream_free(dec);
    return error;
}

/* `begin`: checks the collection and the body's type and encoding before
 * any body is read, then chooses buffering or streaming. */
static int begin_put_vectors(vs_req *req)
{
    const char *name, *ct = vs_req_content_type(req);
    vs_codec_id codec = VS_CODEC_NONE;
    int error = name_param(&name, req);
    if (error < 0)
        return error;
    bool ndjson = strcmp(ct, "application/x-ndjson") == 0;
    if (!ndjson && ct[0] && strcmp(ct, "application/json") != 0)
        return vs_reply_error_status(req, 415, "unsupported_media_type",
                                     "Content-Type '%s': send "
                                     "application/json or "
                                     "application/x-ndjson",
                                     ct);
    if (!vs_api_body_codec(&codec, req))
        return 0; /* 415 sent */
    if (read_only(req))
        return 0; /* 503 sent */
    vs_http_env *env = vs_req_env(req);
    vs_store_rdlock(env->store);
    const vs_collection *c = vs_store_find(env->store, name);
    uint32_t dim = c ? vs_collection_dimension(c) : 0;
    vs_store_unlock(env->store);
    if (!dim)
        return not_found(name);
    ingest *ig = calloc(1, sizeof(*ig));
    if (!ig)
        return vs_error_oom();
    vs_req_set_state(req, ig, ingest_free);
    wlog_init(&ig->log, req);
    ig->store = env->store;
    ig->max_decompressed = env->max_decompressed;
    memcpy(ig->name, name, strlen(name) + 1);
    ig->dim = dim;
    ig->ndjson = ndjson;
    ig->codec = codec;
    ig->cap = BATCH_FLOATS / dim;
    if (ig->cap > BATCH_RECORDS)
        ig->cap = BATCH_RECORDS;
    if (ig->cap < 1)
        ig->cap = 1;
    ig->vecs = malloc(ig->cap * dim * sizeof(float));
    ig->spans = malloc(ig->cap * sizeof(span));
    ig->recs = malloc(ig->cap * sizeof(vs_record));
    ig->text = (vs_buf)VS_BUF_INIT(BATCH_TEXT + VS_ID_MAX + VS_METADATA_MAX);
    ig->md = (vs_buf)VS_BUF_INIT(VS_METADATA_MAX);
    if (!ig->vecs || !ig->spans || !ig->recs)
        return vs_error_oom();
    uint64_t len;
    ig->buffered = codec == VS_CODEC_NONE && vs_req_body_length(req, &len) &&
                   len <= INLINE_MAX;
    if (ig->buffered)
        return 0;
    error = vs_req_body_stream(req, consume, ig);
    if (error == VS_EBUSY)
        return vs_reply_error_status(req, 503, "unavailable", "%s",
                                     vs_error_last());
    return error;
}

static int put_vectors(vs_req *req)
{
    ingest *ig = vs_req_state(req);
    int error;
    if (ig->buffered) {
        const vs_buf *body = vs_req_body(req);
        vs_stream *mem = NULL;
        error = vs_stream_mem_reader_new(&mem, body->ptr, body->len);
        if (!error)
            error = consume(req, mem, ig);
        vs_stream_free(mem);
    } else {
        error = vs_req_body_result(req);
    }
    if (error == VS_ECANCELLED)
        return vs_reply_error_status(req, 503, "unavailable",
                                     "upload cancelled: %s; %llu records "
                                     "applied",
                                     vs_error_last(),
                                     (unsigned long long)ig->upserted);
    if (ig->log.refused)
        return vs_reply_error_status(
            req, 503, "unavailable", "%s; %llu records applied before",
            ig->log.why, (unsigned long long)ig->upserted);
    if (error < 0)
        return vs_reply_error_extra(
            req, error,
            json_pack("{s:I}", "upserted", (json_int_t)ig->upserted));
    return vs_reply_json(
        req, 200, json_pack("{s:I}", "upserted", (json_int_t)ig->upserted));
}

/* ---- routes -------------------------------------------------------------- */

#define STORE VS_ROUTE_NEEDS_STORE
#define UPLOAD                                                                 \
    (VS_ROUTE_BODY | VS_ROUTE_UPLOAD | VS_ROUTE_ENCODED | VS_ROUTE_ANY_TYPE |  \
     VS_ROUTE_NEEDS_STORE)

const vs_route vs_api_collections_routes[] = {
    {"GET", "/v1/collections", list_collections, STORE, 0, NULL},
    {"GET", "/v1/collections/{c}", get_collection, STORE, 0, NULL},
    {"PUT", "/v1/collections/{c}", put_collection_handler,
     STORE | VS_ROUTE_BODY, 4096, NULL},
    {"DELETE", "/v1/collections/{c}", delete_collection, STORE, 0, NULL},
    {"PUT", "/v1/collections/{c}/vectors", put_vectors, UPLOAD, 0,
     begin_put_vectors},
    {"GET", "/v1/collections/{c}/vectors/{id}", get_vector, STORE, 0, NULL},
    {"DELETE", "/v1/collections/{c}/vectors/{id}", delete_vector, STORE, 0,
     NULL},
    {"POST", "/v1/collections/{c}/delete", delete_batch,
     STORE | VS_ROUTE_BODY, DELETE_BODY_MAX, NULL},
    {"POST", "/v1/collections/{c}/search", search,
     STORE | VS_ROUTE_BODY | VS_ROUTE_READS, SEARCH_BODY_MAX, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
