/*
 * s3: the S3 client: its configuration, the pool of easy handles, keys,
 * and the operations on whole objects (put of a file or of bytes, get into
 * a stream, head, delete, list, open multipart uploads).  One request with
 * its retries is s3_req.c, multipart uploads s3_multipart.c, the XML reader
 * and the list replies s3_xml.c.
 *
 * Idle easy handles are pooled, so sequential calls reuse connections; a
 * handle is used by one thread at a time.  Only the DNS cache and TLS
 * sessions are shared between handles (libcurl does not support sharing
 * connections between concurrent threads).
 */
#include "s3_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

uint64_t vs_s3__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- configuration ------------------------------------------------------ */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
                       void *p)
{
    vs_s3 *s3 = p;
    (void)h;
    (void)access;
    pthread_mutex_lock(&s3->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *p)
{
    vs_s3 *s3 = p;
    (void)h;
    pthread_mutex_unlock(&s3->locks[data]);
}

/* Printable ASCII without the characters that would break a header or
 * libcurl's credential scope; at most `max` bytes. */
static bool token_ok(const char *s, size_t max, const char *extra_bad)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || strchr(extra_bad, *s))
            return false;
    return true;
}

static bool bucket_ok(const char *b, bool path_style)
{
    size_t n = strlen(b);
    if (n < 3 || n > (path_style ? 255u : 63u))
        return false;
    for (const char *p = b; *p; p++) {
        char c = *p;
        bool lower = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '.' || c == '-';
        bool legacy = (c >= 'A' && c <= 'Z') || c == '_';
        if (!lower && !(path_style && legacy))
            return false;
    }
    return true;
}

static char *dup_or_env(const char *v, const char *env)
{
    const char *s = v ? v : getenv(env);
    return s && *s ? strdup(s) : NULL;
}

/* Parse and check the endpoint; build the base URL. */
static int make_base(vs_s3 *s3, const char *endpoint)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    char *user = NULL, *query = NULL, *frag = NULL;
    vs_buf b = VS_BUF_INIT(4096);
    int error = 0;
    if (!u)
        return vs_error_oom();
    if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
        || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        error = vs_error_set(VS_EINVALID, "s3 endpoint '%s' is not a valid "
                             "URL", endpoint);
        goto done;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        error = vs_error_set(VS_EINVALID, "s3 endpoint '%s': scheme must be "
                             "http or https", endpoint);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK
        || curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK
        || curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
        error = vs_error_set(VS_EINVALID, "s3 endpoint '%s' must not have "
                             "credentials, a query or a fragment", endpoint);
        goto done;
    }
    (void)curl_url_get(u, CURLUPART_PORT, &port, 0);
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    size_t plen = path ? strlen(path) : 0;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (vs_buf_printf(&b, "%s://%s%s%s%s%s%.*s", scheme,
                      s3->path_style ? "" : s3->bucket,
                      s3->path_style ? "" : ".", host, port ? ":" : "",
                      port ? port : "", (int)plen, path ? path : "")) {
        error = -1;
        goto done;
    }
    s3->base = vs_buf_detach(&b);
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(user);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    vs_buf_dispose(&b);
    return error;
}

static int check_config(const vs_s3_config *cfg)
{
    if (!cfg->endpoint || !*cfg->endpoint)
        return vs_error_set(VS_EINVALID, "s3 config: no endpoint");
    if (!cfg->bucket || !bucket_ok(cfg->bucket, cfg->path_style))
        return vs_error_set(VS_EINVALID, "s3 config: bucket '%s' is not a "
                            "valid bucket name%s", cfg->bucket ? cfg->bucket
                            : "", cfg->path_style ? ""
                            : " for virtual-hosted addressing");
    const char *prefix = cfg->prefix ? cfg->prefix : "";
    if (prefix[0] == '/' || strlen(prefix) > 512)
        return vs_error_set(VS_EINVALID, "s3 config: prefix '%s' must not "
                            "start with '/' nor pass 512 bytes", prefix);
    for (const char *p = prefix; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return vs_error_set(VS_EINVALID, "s3 config: prefix has a "
                                "control character");
    if (cfg->part_size && (cfg->part_size < S3_MIN_PART
                           || cfg->part_size > S3_MAX_PART))
        return vs_error_set(VS_EINVALID, "s3 config: part_size %" PRIu64
                            " is outside 5 MiB..5 GiB", cfg->part_size);
    if (cfg->parallel > 16)
        return vs_error_set(VS_EINVALID, "s3 config: parallel %u is outside "
                            "1..16", cfg->parallel);
    if (cfg->multipart_threshold > S3_MAX_PART)
        return vs_error_set(VS_EINVALID, "s3 config: multipart_threshold "
                            "%" PRIu64 " is over 5 GiB",
                            cfg->multipart_threshold);
    if (cfg->retries > 20)
        return vs_error_set(VS_EINVALID, "s3 config: retries %u is over 20",
                            cfg->retries);
    return 0;
}

int vs_s3_new(vs_s3 **out, const vs_s3_config *cfg)
{
    *out = NULL;
    if (!cfg)
        return vs_error_set(VS_EINVALID, "s3 config: missing");
    int error = check_config(cfg);
    if (error)
        return error;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return vs_error_set(VS_ERROR, "s3: curl_global_init failed: %s",
                            curl_easy_strerror(global_rc));
    vs_s3 *s3 = calloc(1, sizeof(*s3));
    if (!s3)
        return vs_error_oom();
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s3->locks[i], NULL);
    pthread_mutex_init(&s3->pool_mu, NULL);
    s3->path_style = cfg->path_style;
    s3->part_size = cfg->part_size;
    s3->parallel = cfg->parallel ? cfg->parallel : 4;
    s3->max_bytes_per_s = cfg->max_bytes_per_s;
    s3->connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s
                                                   : 10;
    s3->low_speed_timeout_s = cfg->low_speed_timeout_s
        ? cfg->low_speed_timeout_s : 30;
    s3->retries = cfg->retries ? cfg->retries : 5;
    s3->multipart_threshold = cfg->multipart_threshold
        ? cfg->multipart_threshold : 64 * S3_MIB;
    s3->list_page = 1000;
    const char *region = cfg->region && *cfg->region ? cfg->region
        : getenv("AWS_REGION") ? getenv("AWS_REGION")
        : getenv("AWS_DEFAULT_REGION") ? getenv("AWS_DEFAULT_REGION")
        : "us-east-1";
    vs_buf sig = VS_BUF_INIT(256);
    s3->bucket = strdup(cfg->bucket);
    s3->prefix = strdup(cfg->prefix ? cfg->prefix : "");
    s3->access = dup_or_env(cfg->access_key, "AWS_ACCESS_KEY_ID");
    s3->secret = dup_or_env(cfg->secret_key, "AWS_SECRET_ACCESS_KEY");
    s3->token = dup_or_env(cfg->session_token, "AWS_SESSION_TOKEN");
    s3->share = curl_share_init();
    if (!s3->bucket || !s3->prefix || !s3->share) {
        error = vs_error_oom();
        goto done;
    }
    if (!token_ok(region, 64, ":/")) {
        error = vs_error_set(VS_EINVALID, "s3 config: region '%s' is not "
                             "valid", region);
        goto done;
    }
    if (!s3->access || !token_ok(s3->access, 128, ":/,=")) {
        error = vs_error_set(VS_EINVALID, "s3 config: %s access key (set "
                             "access_key or AWS_ACCESS_KEY_ID)",
                             s3->access ? "invalid" : "no");
        goto done;
    }
    if (!s3->secret || !token_ok(s3->secret, 256, "")) {
        error = vs_error_set(VS_EINVALID, "s3 config: %s secret key (set "
                             "secret_key or AWS_SECRET_ACCESS_KEY)",
                             s3->secret ? "invalid" : "no");
        goto done;
    }
    if (s3->token && !token_ok(s3->token, 4096, "")) {
        error = vs_error_set(VS_EINVALID, "s3 config: invalid session token");
        goto done;
    }
    if ((error = vs_buf_printf(&sig, "aws:amz:%s:s3", region)))
        goto done;
    s3->sigv4 = vs_buf_detach(&sig);
    if ((error = make_base(s3, cfg->endpoint)))
        goto done;
    curl_share_setopt(s3->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s3->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s3->share, CURLSHOPT_USERDATA, s3);
    curl_share_setopt(s3->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s3->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = s3;
    s3 = NULL;
done:
    vs_buf_dispose(&sig);
    vs_s3_free(s3);
    return error;
}

void vs_s3_free(vs_s3 *s3)
{
    if (!s3)
        return;
    for (size_t i = 0; i < s3->nidle; i++)
        curl_easy_cleanup(s3->idle[i]);
    if (s3->share)
        curl_share_cleanup(s3->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s3->locks[i]);
    pthread_mutex_destroy(&s3->pool_mu);
    free(s3->base);
    free(s3->bucket);
    free(s3->prefix);
    free(s3->sigv4);
    free(s3->access);
    if (s3->secret)
        memset(s3->secret, 0, strlen(s3->secret));
    free(s3->secret);
    free(s3->token);
    free(s3);
}

void vs_s3__set_list_page(vs_s3 *s3, unsigned n)
{
    s3->list_page = n < 1 ? 1 : n > 1000 ? 1000 : n;
}

CURL *vs_s3__handle_get(vs_s3 *s3)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s3->pool_mu);
    if (s3->nidle)
        h = s3->idle[--s3->nidle];
    pthread_mutex_unlock(&s3->pool_mu);
    return h ? h : curl_easy_init();
}

void vs_s3__handle_put(vs_s3 *s3, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&s3->pool_mu);
    if (s3->nidle < S3_POOL) {
        s3->idle[s3->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s3->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- keys and URLs ------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (0: invalid). */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
        : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED
                                                     && s[1] >= 0xA0)))
        return 0;
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4
                                                     && s[1] >= 0x90)))
        return 0;
    return n;
}

int vs_s3__full_key(char **out, const vs_s3 *s3, const char *key)
{
    *out = NULL;
    if (!key || !*key)
        return vs_error_set(VS_EINVALID, "s3 key is empty");
    size_t pn = strlen(s3->prefix), kn = strlen(key);
    if (pn + kn > S3_MAX_KEY)
        return vs_error_set(VS_EINVALID, "s3 key '%s' with its prefix is "
                            "over %u bytes", key, S3_MAX_KEY);
    for (const unsigned char *p = (const unsigned char *)key; *p;) {
        size_t n = utf8_len(p);
        if (n == 0)
            return vs_error_set(VS_EINVALID, "s3 key is not valid UTF-8");
        if (*p < 0x20 || *p == 0x7f)
            return vs_error_set(VS_EINVALID, "s3 key has a control "
                                "character");
        p += n;
    }
    char *k = malloc(pn + kn + 1);
    if (!k)
        return vs_error_oom();
    memcpy(k, s3->prefix, pn);
    memcpy(k + pn, key, kn + 1);
    *out = k;
    return 0;
}


/* ---- progress ----------------------------------------------------------- */

int vs_s3__progress(s3_progress *p, uint64_t done)
{
    if (!p || !p->fn)
        return 0;
    if (done < p->last)
        done = p->last;
    uint64_t now = vs_s3__now_ms();
    if (done != p->total && p->last_ms && now - p->last_ms < 100)
        return 0;
    p->last = done;
    p->last_ms = now ? now : 1;
    return p->fn(p->payload, done, p->total) != 0;
}

static int tick_sent(s3_req *rq)
{
    return vs_s3__progress(rq->tick_ctx, rq->sent);
}

static int tick_got(s3_req *rq)
{
    s3_progress *p = rq->tick_ctx;
    if (rq->status == 200 && rq->has_length)
        p->total = rq->length;
    else if (rq->status == 206 && rq->has_range)
        p->total = rq->range_total;
    return vs_s3__progress(p, rq->got);
}

/* ---- objects ------------------------------------------------------------ */

int vs_s3_put_bytes(vs_s3 *s3, const char *key, const void *data, size_t n,
                    const char *content_type)
{
    char *fk = NULL;
    uint8_t digest[VS_SHA256_LEN];
    char hex[VS_SHA256_HEX_LEN + 1];
    s3_req rq;
    int error = vs_s3__full_key(&fk, s3, key);
    if (error)
        return error;
    if ((error = vs_sha256_buffer(digest, data, n))) {
        free(fk);
        return error;
    }
    vs_sha256_hex(hex, digest);
    vs_s3__req_init(&rq, "put", "PUT", fk, NULL);
    rq.upload = true;
    rq.body = data;
    rq.len = n;
    rq.payload_hash = hex;
    rq.meta_sha256 = hex;
    rq.content_type = content_type ? content_type : "application/octet-stream";
    error = vs_s3__perform(s3, NULL, &rq);
    vs_s3__req_dispose(&rq);
    free(fk);
    return error;
}

/* SHA-256 of fd[0..size), checking for a cancel now and then. */
static int hash_fd(uint8_t out[VS_SHA256_LEN], int fd, uint64_t size,
                   s3_progress *prog, const char *key)
{
    vs_sha256 *h = NULL;
    char *buf = malloc(S3_MIB);
    int error = buf ? vs_sha256_new(&h) : vs_error_oom();
    for (uint64_t off = 0; !error && off < size;) {
        size_t want = size - off < S3_MIB ? (size_t)(size - off) : S3_MIB;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            error = r < 0 ? vs_error_set_os(VS_EIO, "s3 put '%s': reading the "
                                            "file", key)
                          : vs_error_set(VS_EIO, "s3 put '%s': the file "
                                         "shrank", key);
            break;
        }
        vs_sha256_update(h, buf, (size_t)r);
        off += (uint64_t)r;
        if (vs_s3__progress(prog, 0))
            error = vs_error_set(VS_ECANCELLED, "s3 put '%s': cancelled",
                                 key);
    }
    if (!error)
        vs_sha256_final(h, out);
    vs_sha256_free(h);
    free(buf);
    return error;
}

/* The stored object must have our size and SHA-256; a wrong one is
 * deleted. */
static int verify_put(vs_s3 *s3, const char *key, uint64_t size,
                      const uint8_t *sha256)
{
    uint64_t got = 0;
    uint8_t dg[VS_SHA256_LEN];
    bool has = false;
    int error = vs_s3_head(s3, key, &got, dg, &has);
    if (error)
        return error;
    if (got == size && has && vs_sha256_equal(dg, sha256))
        return 0;
    if (vs_s3_delete(s3, key))
        vs_error_clear();
    if (got != size)
        return vs_error_set(VS_EUPSTREAM, "s3 put '%s': the stored object has "
                            "%" PRIu64 " bytes, expected %" PRIu64, key, got,
                            size);
    return vs_error_set(VS_EUPSTREAM, "s3 put '%s': the stored object's "
                        "x-amz-meta-sha256 is %s", key, has ? "different"
                        : "missing");
}

int vs_s3_put_file(vs_s3 *s3, const char *key, const char *path,
                   const uint8_t *sha256, vs_s3_progress_fn progress,
                   void *payload)
{
    char *fk = NULL;
    uint8_t digest[VS_SHA256_LEN];
    char hex[VS_SHA256_HEX_LEN + 1];
    struct stat st;
    int fd = -1;
    int error = vs_s3__full_key(&fk, s3, key);
    if (error)
        return error;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        error = vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                                "s3 put '%s': cannot open '%s'", key, path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        error = vs_error_set(VS_EINVALID, "s3 put '%s': '%s' is not a regular "
                             "file", key, path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > S3_MAX_OBJECT) {
        error = vs_error_set(VS_ETOOBIG, "s3 put '%s': '%s' is over the 5 TiB "
                             "limit of an object", key, path);
        goto done;
    }
    s3_progress prog = {progress, payload, size, 0, 0};
    if (!sha256) {
        if ((error = hash_fd(digest, fd, size, &prog, key)))
            goto done;
        sha256 = digest;
    }
    vs_sha256_hex(hex, sha256);
    if (size <= s3->multipart_threshold) {
        s3_req rq;
        vs_s3__req_init(&rq, "put", "PUT", fk, NULL);
        rq.upload = true;
        rq.fd = fd;
        rq.len = size;
        rq.payload_hash = hex;
        rq.meta_sha256 = hex;
        rq.content_type = "application/octet-stream";
        rq.tick = tick_sent;
        rq.tick_ctx = &prog;
        error = vs_s3__perform(s3, NULL, &rq);
        vs_s3__req_dispose(&rq);
    } else {
        error = vs_s3__put_multipart(s3, fk, fd, size, hex, &prog);
    }
    if (!error)
        error = verify_put(s3, key, size, sha256);
    if (!error && progress)
        (void)progress(payload, size, size);
done:
    if (fd >= 0)
        close(fd);
    free(fk);
    return error;
}

int vs_s3_get(vs_s3 *s3, const char *key, vs_stream *out,
              vs_s3_progress_fn progress, void *payload)
{
    char *fk = NULL;
    vs_sha256 *h = NULL;
    s3_progress prog = {progress, payload, 0, 0, 0};
    s3_req rq;
    int error = vs_s3__full_key(&fk, s3, key);
    if (error)
        return error;
    if ((error = vs_sha256_new(&h))) {
        free(fk);
        return error;
    }
    vs_s3__req_init(&rq, "get", "GET", fk, NULL);
    rq.sink = out;
    rq.sink_hash = h;
    rq.tick = tick_got;
    rq.tick_ctx = &prog;
    error = vs_s3__perform(s3, NULL, &rq);
    if (!error && rq.has_meta) {
        uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
        vs_sha256_final(h, got);
        if (vs_sha256_parse_hex(want, rq.meta, VS_SHA256_HEX_LEN) != 0)
            vs_error_clear(); /* not ours: nothing to check against */
        else if (!vs_sha256_equal(want, got))
            error = vs_error_set(VS_ECORRUPT, "s3 get '%s': the bytes "
                                 "received do not match the object's "
                                 "x-amz-meta-sha256", key);
    }
    if (!error && progress)
        (void)progress(payload, rq.got, rq.got);
    vs_s3__req_dispose(&rq);
    vs_sha256_free(h);
    free(fk);
    return error;
}

int vs_s3_head(vs_s3 *s3, const char *key, uint64_t *size,
               uint8_t sha256[VS_SHA256_LEN], bool *has_sha256)
{
    char *fk = NULL;
    s3_req rq;
    int error = vs_s3__full_key(&fk, s3, key);
    if (error)
        return error;
    vs_s3__req_init(&rq, "head", "HEAD", fk, NULL);
    error = vs_s3__perform(s3, NULL, &rq);
    if (!error && !rq.has_length)
        error = vs_error_set(VS_EUPSTREAM, "s3 head '%s': no Content-Length",
                             key);
    if (!error) {
        bool has = rq.has_meta && sha256
            && vs_sha256_parse_hex(sha256, rq.meta, VS_SHA256_HEX_LEN) == 0;
        if (rq.has_meta && !has)
            vs_error_clear();
        if (size)
            *size = rq.length;
        if (has_sha256)
            *has_sha256 = has;
    }
    vs_s3__req_dispose(&rq);
    free(fk);
    return error;
}

int vs_s3_delete(vs_s3 *s3, const char *key)
{
    char *fk = NULL;
    s3_req rq;
    int error = vs_s3__full_key(&fk, s3, key);
    if (error)
        return error;
    vs_s3__req_init(&rq, "delete", "DELETE", fk, NULL);
    error = vs_s3__perform(s3, NULL, &rq);
    vs_s3__req_dispose(&rq);
    free(fk);
    return error;
}

/* ---- listings ----------------------------------------------------------- */

static int add_param(vs_buf *q, const char *name, const char *value)
{
    int rc = q->len ? vs_buf_putc(q, '&') : 0;
    if (!rc)
        rc = vs_buf_printf(q, "%s=", name);
    if (!rc)
        rc = vs_s3__encode(q, value, false);
    return rc;
}

int vs_s3_list(vs_s3_object **out, size_t *n, vs_s3 *s3, const char *sub)
{
    s3_list_page pg;
    vs_buf prefix = VS_BUF_INIT(4096), q = VS_BUF_INIT(16384);
    vs_buf resp = VS_BUF_INIT(S3_XML_MAX);
    char page[16], last[sizeof(pg.token)] = "";
    int error = 0;
    *out = NULL;
    *n = 0;
    memset(&pg, 0, sizeof(pg));
    pg.max = 10000000;
    pg.strip = s3->prefix;
    snprintf(page, sizeof(page), "%u", s3->list_page);
    if ((error = vs_buf_puts(&prefix, s3->prefix))
        || (error = vs_buf_puts(&prefix, sub ? sub : "")))
        goto done;
    for (unsigned pages = 0;; pages++) {
        s3_req rq;
        vs_buf_reset(&q);
        /* canonical order: continuation-token, list-type, max-keys, prefix */
        if ((last[0] && (error = add_param(&q, "continuation-token", last)))
            || (error = add_param(&q, "list-type", "2"))
            || (error = add_param(&q, "max-keys", page))
            || (error = add_param(&q, "prefix", prefix.ptr)))
            goto done;
        vs_s3__req_init(&rq, "list", "GET", NULL, q.ptr);
        rq.resp = &resp;
        error = vs_s3__perform(s3, NULL, &rq);
        vs_s3__req_dispose(&rq);
        if (error || (error = vs_s3__xml_list_page(&pg, resp.ptr, resp.len)))
            goto done;
        if (!pg.truncated)
            break;
        if (!pg.token[0] || strcmp(pg.token, last) == 0) {
            error = vs_error_set(VS_EUPSTREAM, "s3 list '%s': a truncated "
                                 "page without a new continuation token",
                                 prefix.ptr);
            goto done;
        }
        memcpy(last, pg.token, sizeof(last));
    }
    *out = pg.v;
    *n = pg.n;
    pg.v = NULL;
    pg.n = 0;
done:
    vs_s3_objects_free(pg.v, pg.n);
    vs_buf_dispose(&prefix);
    vs_buf_dispose(&q);
    vs_buf_dispose(&resp);
    return error;
}

void vs_s3_objects_free(vs_s3_object *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].key);
    free(v);
}

int vs_s3_open_uploads(size_t *n, vs_s3 *s3)
{
    s3_uploads_page pg;
    vs_buf q = VS_BUF_INIT(16384), resp = VS_BUF_INIT(S3_XML_MAX);
    char key_marker[S3_MAX_KEY + 1] = "", id_marker[1024] = "";
    int error = 0;
    *n = 0;
    for (;;) {
        s3_req rq;
        vs_buf_reset(&q);
        /* canonical order: key-marker, prefix, upload-id-marker, uploads */
        if ((key_marker[0]
             && (error = add_param(&q, "key-marker", key_marker)))
            || (error = add_param(&q, "prefix", s3->prefix))
            || (id_marker[0]
                && (error = add_param(&q, "upload-id-marker", id_marker)))
            || (error = add_param(&q, "uploads", "")))
            goto done;
        vs_s3__req_init(&rq, "list uploads", "GET", NULL, q.ptr);
        rq.resp = &resp;
        memset(&pg, 0, sizeof(pg));
        error = vs_s3__perform(s3, NULL, &rq);
        vs_s3__req_dispose(&rq);
        if (error
            || (error = vs_s3__xml_uploads_page(&pg, resp.ptr, resp.len)))
            goto done;
        *n += pg.count;
        if (!pg.truncated)
            break;
        if (!pg.next_key[0] || (strcmp(pg.next_key, key_marker) == 0
                                && strcmp(pg.next_id, id_marker) == 0)) {
            error = vs_error_set(VS_EUPSTREAM, "s3 list uploads: a truncated "
                                 "page without new markers");
            goto done;
        }
        memcpy(key_marker, pg.next_key, sizeof(key_marker));
        memcpy(id_marker, pg.next_id, sizeof(id_marker));
    }
done:
    vs_buf_dispose(&q);
    vs_buf_dispose(&resp);
    return error;
}
