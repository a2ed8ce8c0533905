/*
 * api_upsert: the streamed batch upsert of the collection routes (their
 * table is api_collections.c's).
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
 * Each batch is logged as api_collections.c logs every write
 * (api_collections_int.h); an upload waits once, for its last batch,
 * before its answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api_collections_int.h"
#include "codec.h"
#include "fmt_json_int.h"
#include "jsonv.h"
#include "wal.h"

#define BATCH_RECORDS 1024
#define BATCH_FLOATS ((size_t)1 << 20) /* 4 MiB of vectors */
#define BATCH_TEXT ((size_t)2 << 20)   /* ids and metadata */
#define INLINE_MAX ((uint64_t)1 << 20) /* buffered, parsed on the poller */

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
    vs_api__wlog log;  /* its seq: the last batch logged */
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
    if (!error && !vs_api__wlog_may_write(&ig->log))
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
        error = vs_api__wlog_write(&ig->log, ig->store, before);
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
int vs_api__begin_put_vectors(vs_req *req)
{
    const char *name, *ct = vs_req_content_type(req);
    vs_codec_id codec = VS_CODEC_NONE;
    int error = vs_api__name_param(&name, req);
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
    if (vs_api__read_only(req))
        return 0; /* 503 sent */
    vs_http_env *env = vs_req_env(req);
    vs_store_rdlock(env->store);
    const vs_collection *c = vs_store_find(env->store, name);
    uint32_t dim = c ? vs_collection_dimension(c) : 0;
    vs_store_unlock(env->store);
    if (!dim)
        return vs_api__not_found(name);
    ingest *ig = calloc(1, sizeof(*ig));
    if (!ig)
        return vs_error_oom();
    vs_req_set_state(req, ig, ingest_free);
    vs_api__wlog_init(&ig->log, req);
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

int vs_api__put_vectors(vs_req *req)
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
