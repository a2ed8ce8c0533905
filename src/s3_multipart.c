/*
 * s3_multipart: a multipart upload of a file: initiate (with the whole
 * file's x-amz-meta-sha256), parts sent by `parallel` threads, each with an
 * easy handle of its own kept across its parts, then complete with the list
 * of ETags.  A part is hashed (for its x-amz-content-sha256) and sent
 * straight from the file at its offset with pread: nothing of the file is
 * held in memory beyond a 1 MiB hashing buffer per thread.  Each part is
 * retried on its own; when one fails for good, or the caller cancels, the
 * others stop and the upload is aborted, so no parts are left stored.
 * Progress is reported from the calling thread only.
 */
#include "s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define UPLOAD_ID_MAX 1024

typedef struct mp {
    vs_s3 *s3;
    const char *key;          /* full key */
    const char *query_id;     /* the upload id, percent-encoded */
    int fd;
    uint64_t size;
    uint64_t part_size;
    unsigned nparts;
    uint64_t max_send;        /* per thread */
    char (*etags)[S3_ETAG_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned next;            /* next part to send (0-based) */
    unsigned running;         /* threads not yet finished */
    atomic_int stop;
    _Atomic uint64_t sent;
    int error;                /* the first failure */
    char errmsg[512];
} mp;

static void fail(mp *m, int code)
{
    pthread_mutex_lock(&m->mu);
    if (!m->error) {
        m->error = code;
        snprintf(m->errmsg, sizeof(m->errmsg), "%s", vs_error_last());
    }
    pthread_mutex_unlock(&m->mu);
    int go = S3_GO;
    atomic_compare_exchange_strong(&m->stop, &go, S3_STOP_FAILED);
}

static int hash_part(char hex[VS_SHA256_HEX_LEN + 1], mp *m, vs_sha256 *h,
                     char *buf, uint64_t off, uint64_t len, unsigned part)
{
    uint8_t dg[VS_SHA256_LEN];
    for (uint64_t done = 0; done < len;) {
        if (atomic_load(&m->stop) != S3_GO)
            return vs_error_set(VS_ECANCELLED, "s3 put '%s': cancelled",
                                m->key);
        size_t want = len - done < S3_MIB ? (size_t)(len - done) : S3_MIB;
        ssize_t r = pread(m->fd, buf, want, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? vs_error_set_os(VS_EIO, "s3 put part %u of '%s': "
                                           "reading the file", part, m->key)
                         : vs_error_set(VS_EIO, "s3 put part %u of '%s': the "
                                        "file shrank", part, m->key);
        vs_sha256_update(h, buf, (size_t)r);
        done += (uint64_t)r;
    }
    vs_sha256_final(h, dg);
    vs_sha256_hex(hex, dg);
    return 0;
}

static int send_part(mp *m, CURL *easy, vs_sha256 *h, char *buf, unsigned i)
{
    char hex[VS_SHA256_HEX_LEN + 1], op[48];
    vs_buf q = VS_BUF_INIT(4096);
    uint64_t off = (uint64_t)i * m->part_size;
    uint64_t len = m->size - off < m->part_size ? m->size - off
                                                 : m->part_size;
    s3_req rq;
    int error = hash_part(hex, m, h, buf, off, len, i + 1);
    if (error)
        return error;
    /* canonical order: partNumber, uploadId */
    if ((error = vs_buf_printf(&q, "partNumber=%u&uploadId=%s", i + 1,
                               m->query_id)))
        return error;
    snprintf(op, sizeof(op), "put part %u of", i + 1);
    vs_s3__req_init(&rq, op, "PUT", m->key, q.ptr);
    rq.upload = true;
    rq.fd = m->fd;
    rq.off = off;
    rq.len = len;
    rq.payload_hash = hex;
    rq.stop = &m->stop;
    rq.sent_total = &m->sent;
    rq.max_send = m->max_send;
    error = vs_s3__perform(m->s3, easy, &rq);
    if (!error && !rq.etag[0])
        error = vs_error_set(VS_EUPSTREAM, "s3 put part %u of '%s': no ETag "
                             "in the reply", i + 1, m->key);
    if (!error)
        memcpy(m->etags[i], rq.etag, S3_ETAG_MAX);
    vs_s3__req_dispose(&rq);
    vs_buf_dispose(&q);
    return error;
}

static void *worker(void *p)
{
    mp *m = p;
    CURL *easy = vs_s3__handle_get(m->s3);
    vs_sha256 *h = NULL;
    char *buf = malloc(S3_MIB);
    int error = easy && buf ? vs_sha256_new(&h) : vs_error_oom();
    while (!error) {
        pthread_mutex_lock(&m->mu);
        unsigned i = m->next < m->nparts && atomic_load(&m->stop) == S3_GO
            ? m->next++ : m->nparts;
        pthread_mutex_unlock(&m->mu);
        if (i >= m->nparts)
            break;
        error = send_part(m, easy, h, buf, i);
    }
    if (error)
        fail(m, error);
    vs_sha256_free(h);
    free(buf);
    vs_s3__handle_put(m->s3, easy);
    pthread_mutex_lock(&m->mu);
    m->running--;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Start the threads, report progress until they end, join them. */
static void run_parts(mp *m, unsigned nthreads, s3_progress *prog)
{
    pthread_t tid[16];
    unsigned started = 0;
    for (; started < nthreads; started++) {
        pthread_mutex_lock(&m->mu);
        m->running++;
        pthread_mutex_unlock(&m->mu);
        int rc = pthread_create(&tid[started], NULL, worker, m);
        if (rc != 0) {
            pthread_mutex_lock(&m->mu);
            m->running--;
            pthread_mutex_unlock(&m->mu);
            errno = rc;
            fail(m, vs_error_set_os(VS_ERROR, "s3 put '%s': cannot start a "
                                    "thread", m->key));
            break;
        }
    }
    pthread_mutex_lock(&m->mu);
    while (m->running > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        pthread_mutex_unlock(&m->mu);
        if (atomic_load(&m->stop) == S3_GO
            && vs_s3__progress(prog, atomic_load(&m->sent))) {
            int go = S3_GO;
            atomic_compare_exchange_strong(&m->stop, &go, S3_STOP_CANCEL);
        }
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (atomic_load(&m->stop) == S3_STOP_CANCEL) {
        pthread_mutex_lock(&m->mu);
        m->error = VS_ECANCELLED;
        snprintf(m->errmsg, sizeof(m->errmsg), "s3 put '%s': cancelled",
                 m->key);
        pthread_mutex_unlock(&m->mu);
    }
}

static uint64_t choose_part_size(const vs_s3 *s3, uint64_t size)
{
    uint64_t ps = s3->part_size ? s3->part_size : 8 * S3_MIB;
    uint64_t min = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
    min = (min + S3_MIB - 1) / S3_MIB * S3_MIB;
    if (ps < min) {
        if (s3->part_size)
            vs_log(VS_LOG_NOTICE, "s3: part size raised from %" PRIu64
                   " to %" PRIu64 " bytes to fit %u parts", ps, min,
                   S3_MAX_PARTS);
        ps = min;
    }
    return ps;
}

static int tick_prog(s3_req *rq)
{
    return vs_s3__progress(rq->tick_ctx, 0);
}

static int initiate(char id[UPLOAD_ID_MAX], vs_s3 *s3, const char *key,
                    const char *sha_hex, s3_progress *prog)
{
    vs_buf resp = VS_BUF_INIT(64 * 1024);
    s3_req rq;
    vs_s3__req_init(&rq, "start upload of", "POST", key, "uploads=");
    rq.upload = true;
    rq.meta_sha256 = sha_hex;
    rq.content_type = "application/octet-stream";
    rq.resp = &resp;
    rq.tick = tick_prog;
    rq.tick_ctx = prog;
    int error = vs_s3__perform(s3, NULL, &rq);
    if (!error)
        error = vs_s3__xml_upload_id(id, UPLOAD_ID_MAX, resp.ptr, resp.len);
    vs_s3__req_dispose(&rq);
    vs_buf_dispose(&resp);
    return error;
}

static int complete(mp *m, s3_progress *prog, bool *gone)
{
    vs_buf body = VS_BUF_INIT(SIZE_MAX), resp = VS_BUF_INIT(1024 * 1024);
    vs_buf q = VS_BUF_INIT(4096);
    uint8_t dg[VS_SHA256_LEN];
    char hex[VS_SHA256_HEX_LEN + 1];
    s3_req rq;
    int error = vs_buf_puts(&body, "<CompleteMultipartUpload>");
    for (unsigned i = 0; !error && i < m->nparts; i++) {
        error = vs_buf_printf(&body, "<Part><PartNumber>%u</PartNumber>"
                              "<ETag>", i + 1);
        if (!error)
            error = vs_s3__xml_escape(&body, m->etags[i]);
        if (!error)
            error = vs_buf_puts(&body, "</ETag></Part>");
    }
    if (!error)
        error = vs_buf_puts(&body, "</CompleteMultipartUpload>");
    if (!error)
        error = vs_buf_printf(&q, "uploadId=%s", m->query_id);
    if (error)
        goto done;
    if ((error = vs_sha256_buffer(dg, body.ptr, body.len)))
        goto done;
    vs_sha256_hex(hex, dg);
    vs_s3__req_init(&rq, "complete upload of", "POST", m->key, q.ptr);
    rq.upload = true;
    rq.body = body.ptr;
    rq.len = body.len;
    rq.payload_hash = hex;
    rq.content_type = "application/xml";
    rq.resp = &resp;
    rq.tick = tick_prog;
    rq.tick_ctx = prog;
    error = vs_s3__perform(m->s3, NULL, &rq);
    /* a retried complete whose first try went through finds no upload */
    *gone = error && strcmp(rq.code, "NoSuchUpload") == 0;
    vs_s3__req_dispose(&rq);
done:
    vs_buf_dispose(&body);
    vs_buf_dispose(&resp);
    vs_buf_dispose(&q);
    return error;
}

void vs_s3__abort_upload(vs_s3 *s3, const char *full_key,
                         const char *upload_id)
{
    vs_buf q = VS_BUF_INIT(4096);
    s3_req rq;
    if (vs_buf_puts(&q, "uploadId=") || vs_s3__encode(&q, upload_id, false)) {
        vs_log(VS_LOG_WARN, "s3: upload %s of '%s' left open: %s", upload_id,
               full_key, vs_error_last());
        vs_buf_dispose(&q);
        return;
    }
    vs_s3__req_init(&rq, "abort upload of", "DELETE", full_key, q.ptr);
    if (vs_s3__perform(s3, NULL, &rq))
        vs_log(VS_LOG_WARN, "s3: upload %s left open: %s", upload_id,
               vs_error_last());
    vs_s3__req_dispose(&rq);
    vs_buf_dispose(&q);
}

int vs_s3__put_multipart(vs_s3 *s3, const char *full_key, int fd,
                         uint64_t size, const char *sha_hex,
                         s3_progress *prog)
{
    char id[UPLOAD_ID_MAX];
    char saved[512];
    vs_buf qid = VS_BUF_INIT(4 * UPLOAD_ID_MAX);
    mp m;
    memset(&m, 0, sizeof(m));
    m.s3 = s3;
    m.key = full_key;
    m.fd = fd;
    m.size = size;
    m.part_size = choose_part_size(s3, size);
    m.nparts = (unsigned)((size + m.part_size - 1) / m.part_size);
    unsigned nthreads = s3->parallel < m.nparts ? s3->parallel : m.nparts;
    m.max_send = s3->max_bytes_per_s ? s3->max_bytes_per_s / nthreads : 0;
    if (s3->max_bytes_per_s && m.max_send == 0)
        m.max_send = 1;
    atomic_init(&m.stop, S3_GO);
    atomic_init(&m.sent, 0);
    pthread_mutex_init(&m.mu, NULL);
    pthread_cond_init(&m.cv, NULL);
    int error = 0;
    m.etags = calloc(m.nparts, sizeof(*m.etags));
    if (!m.etags) {
        error = vs_error_oom();
        goto done;
    }
    if ((error = initiate(id, s3, full_key, sha_hex, prog)))
        goto done;
    if ((error = vs_s3__encode(&qid, id, false))) {
        vs_s3__abort_upload(s3, full_key, id);
        goto done;
    }
    m.query_id = qid.ptr;
    run_parts(&m, nthreads, prog);
    bool gone = false;
    if (!m.error && (error = complete(&m, prog, &gone)) != 0 && gone) {
        vs_log(VS_LOG_NOTICE, "%s; checking the stored object",
               vs_error_last());
        vs_error_clear();
        error = 0;
    }
    if (m.error || error) {
        if (!m.error)
            snprintf(m.errmsg, sizeof(m.errmsg), "%s", vs_error_last());
        snprintf(saved, sizeof(saved), "%s", m.errmsg);
        vs_s3__abort_upload(s3, full_key, id);
        error = vs_error_set(m.error ? m.error : error, "%s", saved);
    }
done:
    pthread_mutex_destroy(&m.mu);
    pthread_cond_destroy(&m.cv);
    free(m.etags);
    vs_buf_dispose(&qid);
    return error;
}
