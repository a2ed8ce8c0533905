/*
 * api_collections: collections, records and search over HTTP.  It owns the
 * handlers of /v1/collections..., the rendering of their replies straight
 * into a buffer (no tree for large vectors), the batch delete, and the
 * logging of every write (api_collections_int.h, shared with the streamed
 * batch upsert of api_upsert.c).
 *
 * Locking: a handler takes the store's read lock (reads) or write lock
 * (writes) around its store calls and the rendering of borrowed pointers,
 * never around parsing or sending.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_collections_int.h"
#include "wal.h"

#define JSON_TYPE "application/json"
#define REPLY_MAX ((size_t)64 << 20)
#define SEARCH_BODY_MAX ((uint64_t)4 << 20)
#define DELETE_BODY_MAX ((uint64_t)4 << 20)
#define DELETE_IDS_MAX 10000
#define DEFAULT_K 10

/* ---- shared helpers ------------------------------------------------------ */

int vs_api__name_param(const char **out, vs_req *req)
{
    *out = vs_req_param(req, "c", NULL);
    return *out ? vs_store_check_name(*out)
                : vs_error_set(VS_EINVALID, "no collection name");
}

int vs_api__not_found(const char *name)
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

void vs_api__wlog_init(vs_api__wlog *l, vs_req *req)
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
bool vs_api__wlog_may_write(vs_api__wlog *l)
{
    l->refused = l->ops && vs_ops_read_only(l->ops, l->why, sizeof(l->why));
    return !l->refused;
}

/* Under the write lock, after applying a write that began at counter
 * `before`: its record goes to the log when it changed something. */
int vs_api__wlog_write(vs_api__wlog *l, vs_store *st, uint64_t before)
{
    if (!l->on || vs_store_seq(st) == before)
        return 0;
    int error = vs_ops_log(l->ops, &l->body, before + 1);
    if (!error)
        l->seq = before + 1;
    return error;
}

/* After the lock: 503 when refused (*replied; returns what the reply
 * did), else wait for the record, if any, and return `error` or, when
 * none, the wait's. */
static int wlog_finish(vs_api__wlog *l, vs_req *req, int error, bool *replied)
{
    *replied = false;
    vs_buf_dispose(&l->body);
    if (l->refused) {
        *replied = true;
        return vs_reply_error_status(req, 503, "unavailable", "%s", l->why);
    }
    int werr = l->ops ? vs_ops_log_wait(l->ops, l->seq) : 0;
    return error ? error : werr;
}

/* A refusal before anything is read: 503 sent, true. */
bool vs_api__read_only(vs_req *req)
{
    vs_api__wlog l;
    vs_api__wlog_init(&l, req);
    if (vs_api__wlog_may_write(&l))
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
    int error = vs_api__name_param(&name, req);
    if (error < 0)
        return error;
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(4096);
    vs_store_rdlock(st);
    const vs_collection *c = vs_store_find(st, name);
    error = c ? put_collection(&b, c) : vs_api__not_found(name);
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
    int error = vs_api__name_param(&name, req);
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
    vs_api__wlog l;
    bool replied;
    vs_api__wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_create(&l.body, 1, name, dim, metric);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    if (!error && vs_api__wlog_may_write(&l)) {
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
            error = vs_api__wlog_write(&l, st, before);
        if (!error)
            error = put_collection(&b, c);
    }
    vs_store_unlock(st);
    error = wlog_finish(&l, req, error, &replied);
    if (replied || error < 0)
        vs_buf_dispose(&b);
    if (replied)
        return error;
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
    int error = vs_api__name_param(&name, req);
    if (error < 0)
        return error;
    vs_store *st = vs_req_env(req)->store;
    vs_api__wlog l;
    bool replied;
    vs_api__wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_drop(&l.body, 1, name);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    if (!error && vs_api__wlog_may_write(&l)) {
        error = vs_store_drop(st, name);
        if (!error)
            error = vs_api__wlog_write(&l, st, before);
    }
    vs_store_unlock(st);
    error = wlog_finish(&l, req, error, &replied);
    if (replied || error < 0)
        return error;
    return vs_reply_json(req, 200,
                         json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

/* ---- records ------------------------------------------------------------- */

static int get_vector(vs_req *req)
{
    const char *name, *id;
    size_t id_len;
    int error = vs_api__name_param(&name, req);
    if (error < 0)
        return error;
    id = vs_req_param(req, "id", &id_len);
    vs_store *st = vs_req_env(req)->store;
    vs_buf b = VS_BUF_INIT(REPLY_MAX);
    vs_store_rdlock(st);
    const vs_collection *c = vs_store_find(st, name);
    vs_record rec = {0};
    error =
        c ? vs_collection_get(&rec, c, id, id_len) : vs_api__not_found(name);
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
    int error = vs_api__name_param(&name, req);
    if (error < 0)
        return error;
    vs_record rec = {0};
    rec.id = vs_req_param(req, "id", &rec.id_len);
    vs_store *st = vs_req_env(req)->store;
    vs_api__wlog l;
    bool replied;
    vs_api__wlog_init(&l, req);
    if (l.on)
        error = vs_wal_encode_delete(&l.body, 1, name, &rec, 1);
    vs_store_wrlock(st);
    uint64_t before = vs_store_seq(st);
    vs_collection *c = vs_store_find(st, name);
    vs_record found;
    if (!error && vs_api__wlog_may_write(&l)) {
        error = c ? vs_collection_get(&found, c, rec.id, rec.id_len)
                  : vs_api__not_found(name);
        if (error == VS_ENOTFOUND && c)
            error = vs_error_set(VS_ENOTFOUND, "no record '%s' in '%s'", rec.id,
                                 name);
        if (!error)
            error = vs_collection_delete(c, &rec, 1, NULL);
        if (!error)
            error = vs_api__wlog_write(&l, st, before);
    }
    vs_store_unlock(st);
    error = wlog_finish(&l, req, error, &replied);
    if (replied || error < 0)
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
    vs_api__wlog l;
    bool replied = false;
    int error = vs_api__name_param(&name, req);
    if (!error)
        error = vs_req_json(&j, req);
    if (!error)
        error = parse_ids(&ids, &n, j);
    vs_api__wlog_init(&l, req);
    if (!error && l.on)
        error = vs_wal_encode_delete(&l.body, 1, name, ids, n);
    if (!error) {
        vs_store *st = vs_req_env(req)->store;
        vs_store_wrlock(st);
        uint64_t before = vs_store_seq(st);
        if (vs_api__wlog_may_write(&l)) {
            vs_collection *c = vs_store_find(st, name);
            error = c ? vs_collection_delete(c, ids, n, &deleted)
                      : vs_api__not_found(name);
            if (!error)
                error = vs_api__wlog_write(&l, st, before);
        }
        vs_store_unlock(st);
    }
    error = wlog_finish(&l, req, error, &replied);
    free(ids);
    json_decref(j);
    if (replied || error < 0)
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
    int error = vs_api__name_param(&name, req);
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
                  : vs_api__not_found(name);
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
    {"PUT", "/v1/collections/{c}/vectors", vs_api__put_vectors, UPLOAD, 0,
     vs_api__begin_put_vectors},
    {"GET", "/v1/collections/{c}/vectors/{id}", get_vector, STORE, 0, NULL},
    {"DELETE", "/v1/collections/{c}/vectors/{id}", delete_vector, STORE, 0,
     NULL},
    {"POST", "/v1/collections/{c}/delete", delete_batch,
     STORE | VS_ROUTE_BODY, DELETE_BODY_MAX, NULL},
    {"POST", "/v1/collections/{c}/search", search,
     STORE | VS_ROUTE_BODY | VS_ROUTE_READS, SEARCH_BODY_MAX, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
