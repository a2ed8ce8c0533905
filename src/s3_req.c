/*
 * s3_req: one signed S3 request performed with retries: the URL (path
 * percent-encoded per RFC 3986, query already canonical), the headers we
 * sign with libcurl's CURLOPT_AWS_SIGV4 (x-amz-content-sha256 first of
 * them: libcurl 7.88 does not add it), the body read from memory or with
 * pread from a file range, the reply collected, streamed or resumed, and
 * the failure classified: 5xx, 429, RequestTimeout, timeouts, resets and
 * refused connections are retried with exponential backoff and full jitter
 * (base 200 ms, cap 10 s); the rest is final.
 */
#include "s3_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define BACKOFF_BASE_MS 200u
#define BACKOFF_CAP_MS 10000u

/* ---- URLs --------------------------------------------------------------- */

int vs_s3__encode(vs_buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || (keep_slash && c == '/');
        int rc;
        if (plain) {
            rc = vs_buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = vs_buf_put(b, e, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int make_url(char **out, const vs_s3 *s3, const char *key,
                    const char *query)
{
    vs_buf b = VS_BUF_INIT(64 * 1024);
    int error = vs_buf_puts(&b, s3->base);
    if (!error && s3->path_style) {
        error = vs_buf_putc(&b, '/');
        if (!error)
            error = vs_buf_puts(&b, s3->bucket);
        if (!error && key)
            error = vs_buf_putc(&b, '/');
    } else if (!error) {
        error = vs_buf_putc(&b, '/');
    }
    if (!error && key)
        error = vs_s3__encode(&b, key, true);
    if (!error && query && *query) {
        error = vs_buf_putc(&b, '?');
        if (!error)
            error = vs_buf_puts(&b, query);
    }
    if (error) {
        vs_buf_dispose(&b);
        return error;
    }
    *out = vs_buf_detach(&b);
    return 0;
}

/* ---- one request -------------------------------------------------------- */

void vs_s3__req_init(s3_req *rq, const char *op, const char *method,
                     const char *key, const char *query)
{
    memset(rq, 0, sizeof(*rq));
    rq->op = op;
    rq->method = method;
    rq->key = key;
    rq->query = query;
    rq->fd = -1;
    rq->err = (vs_buf)VS_BUF_INIT(S3_ERRBODY_MAX);
}

void vs_s3__req_dispose(s3_req *rq)
{
    vs_buf_dispose(&rq->err);
}

static bool header_is(const char *line, size_t n, const char *name,
                      const char **val, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return false;
    const char *v = line + k + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '
                     || e[-1] == '\t'))
        e--;
    *val = v;
    *vn = (size_t)(e - v);
    return true;
}

bool vs_s3__parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *p)
{
    s3_req *rq = p;
    size_t n = size * nitems;
    const char *v;
    size_t vn;
    if (n >= 12 && memcmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', n);
        uint64_t st = 0;
        rq->status = sp && (size_t)(data + n - sp) > 4
            && vs_s3__parse_u64(sp + 1, 3, &st) ? (long)st : 0;
        rq->has_length = rq->has_range = rq->has_meta = false;
        rq->etag[0] = '\0';
    } else if (header_is(data, n, "content-length", &v, &vn)) {
        rq->has_length = vs_s3__parse_u64(v, vn, &rq->length);
        rq->bad_header |= !rq->has_length;
    } else if (header_is(data, n, "etag", &v, &vn)) {
        if (vn >= S3_ETAG_MAX) {
            rq->bad_header = true;
        } else {
            memcpy(rq->etag, v, vn);
            rq->etag[vn] = '\0';
        }
    } else if (header_is(data, n, "x-amz-meta-sha256", &v, &vn)) {
        rq->has_meta = vn == VS_SHA256_HEX_LEN;
        if (rq->has_meta) {
            memcpy(rq->meta, v, vn);
            rq->meta[vn] = '\0';
        }
    } else if (header_is(data, n, "content-range", &v, &vn)) {
        /* "bytes START-END/TOTAL" */
        const char *dash = memchr(v, '-', vn), *slash = memchr(v, '/', vn);
        rq->has_range =
            vn > 6 && memcmp(v, "bytes ", 6) == 0 && dash && slash &&
            slash > dash &&
            vs_s3__parse_u64(v + 6, (size_t)(dash - v - 6),
                             &rq->range_start) &&
            vs_s3__parse_u64(slash + 1, (size_t)(v + vn - slash - 1),
                             &rq->range_total);
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *p)
{
    s3_req *rq = p;
    size_t n = size * nmemb;
    if (rq->status < 200 || rq->status >= 300) {
        size_t room = S3_ERRBODY_MAX - rq->err.len;
        if (room && vs_buf_put(&rq->err, data, n < room ? n : room))
            vs_error_clear(); /* an error body is best effort */
        return n;
    }
    if (!rq->sink) {
        if (rq->resp && vs_buf_put(rq->resp, data, n)) {
            rq->resp_failed = true;
            return 0;
        }
        return n;
    }
    if (rq->pos == 0 && rq->resume_from > 0) {
        if ((rq->status == 206 && (!rq->has_range
                                   || rq->range_start != rq->resume_from))
            || (rq->first_etag[0] && rq->etag[0]
                && strcmp(rq->etag, rq->first_etag) != 0)) {
            rq->bad_range = true;
            return 0;
        }
    }
    if (rq->first_etag[0] == '\0')
        memcpy(rq->first_etag, rq->etag, sizeof(rq->etag));
    const char *d = data;
    size_t m = n;
    if (rq->status == 200 && rq->pos < rq->resume_from) {
        /* the server sent the whole object again: skip what we have */
        uint64_t skip = rq->resume_from - rq->pos;
        if (skip > m)
            skip = m;
        d += skip;
        m -= (size_t)skip;
        rq->pos += skip;
    }
    if (m) {
        if (rq->sink_hash)
            vs_sha256_update(rq->sink_hash, d, m);
        if (vs_stream_write(rq->sink, d, m)) {
            rq->sink_failed = true;
            return 0;
        }
        rq->got += m;
        rq->pos += m;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *p)
{
    s3_req *rq = p;
    size_t want = size * nitems;
    uint64_t left = rq->len - rq->sent;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (rq->fd >= 0) {
        ssize_t r;
        do {
            r = pread(rq->fd, buf, want, (off_t)(rq->off + rq->sent));
        } while (r < 0 && errno == EINTR);
        if (r <= 0) {
            rq->read_errno = r < 0 ? errno : -1;
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)r;
    } else {
        memcpy(buf, (const char *)rq->body + rq->sent, want);
    }
    rq->sent += want;
    if (rq->sent_total)
        atomic_fetch_add(rq->sent_total, want);
    return want;
}

static bool should_stop(s3_req *rq)
{
    if (rq->stop && atomic_load(rq->stop) != S3_GO)
        return true;
    return rq->tick && rq->tick(rq) != 0;
}

static int on_xfer(void *p, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
                   curl_off_t uln)
{
    s3_req *rq = p;
    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    if (should_stop(rq)) {
        rq->aborted = true;
        return 1;
    }
    return 0;
}

static int add_header(struct curl_slist **list, vs_buf *b, const char *name,
                      const char *value)
{
    vs_buf_reset(b);
    int rc = vs_buf_printf(b, "%s: %s", name, value);
    if (rc)
        return rc;
    struct curl_slist *l = curl_slist_append(*list, b->ptr);
    if (!l)
        return vs_error_oom();
    *list = l;
    return 0;
}

static int build_headers(struct curl_slist **out, const vs_s3 *s3,
                         const s3_req *rq)
{
    vs_buf b = VS_BUF_INIT(8192);
    char range[64];
    int rc = add_header(out, &b, "x-amz-content-sha256",
                        rq->payload_hash ? rq->payload_hash : EMPTY_SHA256);
    if (!rc && rq->meta_sha256)
        rc = add_header(out, &b, "x-amz-meta-sha256", rq->meta_sha256);
    if (!rc && rq->content_type)
        rc = add_header(out, &b, "Content-Type", rq->content_type);
    if (!rc && s3->token)
        rc = add_header(out, &b, "x-amz-security-token", s3->token);
    if (!rc && rq->resume_from > 0) {
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", rq->resume_from);
        rc = add_header(out, &b, "Range", range);
        if (!rc && rq->first_etag[0])
            rc = add_header(out, &b, "If-Match", rq->first_etag);
    }
    vs_buf_dispose(&b);
    return rc;
}

static void setup(vs_s3 *s3, CURL *h, s3_req *rq, const char *url,
                  struct curl_slist *hdrs, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, s3->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_USERNAME, s3->access);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s3->secret);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s3->sigv4);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)s3->connect_timeout_s);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s3->low_speed_timeout_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rq);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rq);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, rq);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    uint64_t bps = rq->max_send ? rq->max_send : s3->max_bytes_per_s;
    if (bps) {
        curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)bps);
        curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)bps);
    }
    if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (strcmp(rq->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->len);
    } else if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    }
    if (rq->upload) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, rq);
    }
}

static bool transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static const char *what(const s3_req *rq, const vs_s3 *s3)
{
    return rq->key ? rq->key : s3->bucket;
}

/* The outcome of an HTTP reply that is not 2xx (or a 2xx <Error>). */
static int http_failure(const vs_s3 *s3, s3_req *rq, const char *body,
                        size_t n, bool *retry)
{
    char msg[512];
    vs_s3__xml_error(rq->code, sizeof(rq->code), msg, sizeof(msg), body, n);
    long st = rq->status;
    *retry = st >= 500 || st == 429 || (st >= 200 && st < 300)
        || (st == 400 && strcmp(rq->code, "RequestTimeout") == 0);
    int code = st == 404 ? VS_ENOTFOUND : VS_EUPSTREAM;
    if (rq->code[0])
        return vs_error_set(code, "s3 %s '%s': %s: %s (HTTP %ld)", rq->op,
                            what(rq, s3), rq->code, msg, st);
    return vs_error_set(code, "s3 %s '%s': %s (HTTP %ld)", rq->op,
                        what(rq, s3), st == 404 ? "not found"
                        : "request failed", st);
}

static void attempt_reset(s3_req *rq)
{
    if (rq->sent_total && rq->sent)
        atomic_fetch_sub(rq->sent_total, rq->sent);
    rq->sent = 0;
    rq->pos = 0;
    rq->resume_from = rq->got;
    rq->status = 0;
    rq->has_length = rq->has_range = rq->has_meta = false;
    rq->etag[0] = '\0';
    rq->bad_header = rq->aborted = rq->sink_failed = false;
    rq->resp_failed = rq->bad_range = false;
    rq->read_errno = 0;
    rq->code[0] = '\0';
    vs_buf_reset(&rq->err);
    if (rq->resp)
        vs_buf_reset(rq->resp);
}

static int attempt(vs_s3 *s3, CURL *h, s3_req *rq, const char *url,
                   bool *retry)
{
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE];
    int error = 0;
    *retry = false;
    errbuf[0] = '\0';
    attempt_reset(rq);
    if ((error = build_headers(&hdrs, s3, rq)))
        goto done;
    curl_easy_reset(h);
    setup(s3, h, rq, url, hdrs, errbuf);
    CURLcode cc = curl_easy_perform(h);
    /* drop the pointers to this attempt's stack and headers; the handle
     * (and its connection) goes back to the pool */
    curl_easy_reset(h);
    if (cc == CURLE_OK && rq->bad_header) {
        error = vs_error_set(VS_EUPSTREAM, "s3 %s '%s': malformed reply "
                             "header", rq->op, what(rq, s3));
    } else if (cc == CURLE_OK && rq->status >= 200 && rq->status < 300) {
        char root[16] = "";
        if (rq->resp && rq->resp->len)
            vs_s3__xml_root(root, sizeof(root), rq->resp->ptr, rq->resp->len);
        if (strcmp(root, "Error") == 0) /* S3 may fail inside a 200 */
            error = http_failure(s3, rq, rq->resp->ptr, rq->resp->len, retry);
    } else if (cc == CURLE_OK) {
        error = http_failure(s3, rq, rq->err.ptr, rq->err.len, retry);
    } else if (rq->aborted) {
        error = vs_error_set(VS_ECANCELLED, "s3 %s '%s': cancelled", rq->op,
                             what(rq, s3));
    } else if (rq->sink_failed) {
        error = vs_stream_error(rq->sink);
    } else if (rq->resp_failed) {
        error = vs_error_set(VS_EUPSTREAM, "s3 %s '%s': reply over %zu bytes",
                             rq->op, what(rq, s3), rq->resp->max);
    } else if (rq->bad_range) {
        error = vs_error_set(VS_EUPSTREAM, "s3 %s '%s': the object changed "
                             "or the server ignored the resume offset %"
                             PRIu64, rq->op, what(rq, s3), rq->resume_from);
    } else if (rq->read_errno) {
        errno = rq->read_errno > 0 ? rq->read_errno : EIO;
        error = rq->read_errno > 0
            ? vs_error_set_os(VS_EIO, "s3 %s '%s': reading the file", rq->op,
                              what(rq, s3))
            : vs_error_set(VS_EIO, "s3 %s '%s': the file shrank while "
                           "uploading", rq->op, what(rq, s3));
    } else {
        *retry = transient(cc);
        error = vs_error_set(VS_EUPSTREAM, "s3 %s '%s': %s", rq->op,
                             what(rq, s3), errbuf[0] ? errbuf
                             : curl_easy_strerror(cc));
    }
done:
    curl_slist_free_all(hdrs);
    return error;
}

static uint64_t jitter(uint64_t max)
{
    static _Thread_local uint64_t state;
    if (!state) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec
            ^ (uint64_t)(uintptr_t)&state;
        state |= 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return max ? (state * 0x2545F4914F6CDD1DULL) % (max + 1) : 0;
}

/* Sleep ms, in slices, unless the transfer is stopped (returns true). */
static bool pause_ms(s3_req *rq, uint64_t ms)
{
    uint64_t end = vs_s3__now_ms() + ms;
    for (;;) {
        if (should_stop(rq))
            return true;
        uint64_t now = vs_s3__now_ms();
        if (now >= end)
            return false;
        uint64_t step = end - now < 20 ? end - now : 20;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int vs_s3__perform(vs_s3 *s3, CURL *easy, s3_req *rq)
{
    CURL *own = NULL;
    char *url = NULL;
    char last[512];
    int error = make_url(&url, s3, rq->key, rq->query);
    if (error)
        return error;
    if (!easy && !(easy = own = vs_s3__handle_get(s3))) {
        free(url);
        return vs_error_oom();
    }
    for (unsigned n = 0;; n++) {
        bool retry = false;
        error = attempt(s3, easy, rq, url, &retry);
        if (error == 0 || !retry)
            break;
        if (n >= s3->retries) {
            snprintf(last, sizeof(last), "%s", vs_error_last());
            error = vs_error_set(error, "%s (%u attempts)", last, n + 1);
            break;
        }
        uint64_t cap = BACKOFF_BASE_MS << (n < 10 ? n : 10);
        uint64_t ms = jitter(cap < BACKOFF_CAP_MS ? cap : BACKOFF_CAP_MS);
        vs_log(VS_LOG_WARN, "%s; retry %u of %u in %" PRIu64 " ms",
               vs_error_last(), n + 1, s3->retries, ms);
        if (pause_ms(rq, ms)) {
            error = vs_error_set(VS_ECANCELLED, "s3 %s '%s': cancelled",
                                 rq->op, what(rq, s3));
            break;
        }
    }
    vs_s3__handle_put(s3, own);
    free(url);
    return error;
}
