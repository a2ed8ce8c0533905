/* test_s3: the S3 client against s3rver behind tests/s3/front.mjs, a front
 * that verifies SigV4 (and the payload hash) on every request, answers the
 * multipart bookkeeping s3rver lacks, and injects faults on demand.  First
 * the front is shown to reject what S3 rejects, so the client's passing
 * requests prove its signing; then round trips, multipart, keys, listing,
 * failures and retries, cancel, the XML reader, and an interop check with
 * Debian's awscli when it is installed.  With VS_S3_BENCH=1 it also times a
 * 154 MB upload (through the front and directly) against `aws s3 cp`. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "fsutil.h"
#include "log.h"
#include "s3.h"
#include "s3_int.h"
#include "stream.h"
#include "testutil.h"

#define REQUIRE(cond, ...)                                                     \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

#define BUCKET "vecsnap-test"
#define ACCESS "S3RVER"
#define SECRET "S3RVER"
#define AWS_BIN "/usr/bin/aws"

extern char **environ;

static char *g_dir;          /* servers' work directory */
static char g_front[64];     /* http://127.0.0.1:PORT of the front */
static char g_direct[64];    /* ... of s3rver itself */
static int g_front_port;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *s3_dir(void)
{
    static char dir[4096];
    const char *src = getenv("SRCDIR");
    if (src && *src)
        snprintf(dir, sizeof(dir), "%s/tests/s3", src);
    else
        snprintf(dir, sizeof(dir), "%s/../s3", TEST_DATA_DIR);
    return dir;
}

/* ---- the servers -------------------------------------------------------- */

static int start_servers(void)
{
    char cmd[8192], line[256];
    int front = 0, direct = 0;
    g_dir = vs_test_tmpdir_new();
    snprintf(cmd, sizeof(cmd), "sh '%s/start.sh' '%s' %d", s3_dir(), g_dir,
             (int)getpid());
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "FRONT_PORT=%d", &front) == 1)
            continue;
        (void)sscanf(line, "S3_PORT=%d", &direct);
    }
    int st = pclose(f);
    if (st != 0 || !front || !direct) {
        fprintf(stderr, "test_s3: cannot start s3rver and its front (%s): "
                "node and the npm packages of tests/s3 are needed (cd "
                "tests/s3 && npm ci, or set VS_NODE_MODULES_S3)\n", cmd);
        vs_test_tmpdir_free(g_dir);
        return -1;
    }
    snprintf(g_front, sizeof(g_front), "http://127.0.0.1:%d", front);
    g_front_port = front;
    snprintf(g_direct, sizeof(g_direct), "http://127.0.0.1:%d", direct);
    return 0;
}

static void stop_servers(void)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "sh '%s/stop.sh' '%s'", s3_dir(), g_dir);
    FILE *f = popen(cmd, "r");
    if (f)
        pclose(f);
    vs_test_tmpdir_free(g_dir);
}

static size_t collect(char *data, size_t size, size_t n, void *p)
{
    vs_buf *b = p;
    return vs_buf_put(b, data, size * n) ? 0 : size * n;
}

/* A request to the front made with libcurl directly.  `secret` NULL: not
 * signed.  `hash`: the x-amz-content-sha256 to send (NULL: none). */
static long raw(const char *method, const char *url, const char *secret,
                const char *hash, const char *extra_header, const char *body,
                vs_buf *resp)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char line[256];
    long status = 0;
    ck_assert_ptr_nonnull(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    if (secret) {
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
        curl_easy_setopt(h, CURLOPT_USERNAME, ACCESS);
        curl_easy_setopt(h, CURLOPT_PASSWORD, secret);
    }
    if (hash) {
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hash);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (extra_header)
        hdrs = curl_slist_append(hdrs, extra_header);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    CURLcode cc = curl_easy_perform(h);
    ck_assert_msg(cc == CURLE_OK, "raw %s %s: %s", method, url,
                  curl_easy_strerror(cc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

/* The front's admin endpoint. */
static void admin(const char *method, const char *path, const char *json,
                  vs_buf *out)
{
    char url[256];
    vs_buf ignore = VS_BUF_INIT(64 * 1024 * 1024);
    CURL *h = curl_easy_init();
    long status = 0;
    snprintf(url, sizeof(url), "%s%s", g_front, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out ? out : &ignore);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    vs_buf_dispose(&ignore);
    ck_assert_msg(cc == CURLE_OK && status == 200, "admin %s %s: %s %ld",
                  method, path, curl_easy_strerror(cc), status);
}

static void fault(const char *json)
{
    admin("POST", "/__fault", json, NULL);
}

static void reset_front(void)
{
    fault("{\"clear\":true}");
    admin("POST", "/__log", "{\"clear\":true}", NULL);
}

/* Requests in the front's log whose "METHOD url" contains `match`; their
 * statuses in order go to st[0..max). */
static int logged(const char *match, long *st, int max)
{
    vs_buf b = VS_BUF_INIT(256 * 1024 * 1024);
    json_error_t jerr;
    char line[4096];
    int n = 0;
    admin("GET", "/__log", NULL, &b);
    json_t *a = json_loadb(b.ptr, b.len, 0, &jerr);
    ck_assert_ptr_nonnull(a);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        snprintf(line, sizeof(line), "%s %s",
                 json_string_value(json_object_get(e, "method")),
                 json_string_value(json_object_get(e, "url")));
        if (!strstr(line, match))
            continue;
        if (n < max)
            st[n] = (long)json_integer_value(json_object_get(e, "status"));
        n++;
    }
    json_decref(a);
    vs_buf_dispose(&b);
    return n;
}

/* The Range header of the n-th logged request whose "METHOD url" contains
 * `match` ("" if none), copied into out. */
static void logged_range(char *out, size_t cap, const char *match, int nth)
{
    vs_buf b = VS_BUF_INIT(256 * 1024 * 1024);
    json_error_t jerr;
    int n = 0;
    out[0] = '\0';
    admin("GET", "/__log", NULL, &b);
    json_t *a = json_loadb(b.ptr, b.len, 0, &jerr);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        char line[4096];
        snprintf(line, sizeof(line), "%s %s",
                 json_string_value(json_object_get(e, "method")),
                 json_string_value(json_object_get(e, "url")));
        if (!strstr(line, match))
            continue;
        if (n++ == nth) {
            const char *r = json_string_value(json_object_get(e, "range"));
            snprintf(out, cap, "%s", r ? r : "");
        }
    }
    json_decref(a);
    vs_buf_dispose(&b);
}

/* ---- clients and data --------------------------------------------------- */

static vs_s3_config config(const char *endpoint, const char *prefix)
{
    vs_s3_config c;
    memset(&c, 0, sizeof(c));
    c.endpoint = endpoint;
    c.region = "us-east-1";
    c.bucket = BUCKET;
    c.prefix = prefix;
    c.path_style = true;
    c.access_key = ACCESS;
    c.secret_key = SECRET;
    c.part_size = 5 * 1024 * 1024;
    c.multipart_threshold = 8 * 1024 * 1024;
    c.parallel = 4;
    c.retries = 3;
    c.connect_timeout_s = 5;
    return c;
}

static vs_s3 *client_with(const vs_s3_config *c)
{
    vs_s3 *s3 = NULL;
    int rc = vs_s3_new(&s3, c);
    ck_assert_msg(rc == 0, "vs_s3_new: %s", vs_error_last());
    return s3;
}

static vs_s3 *client(const char *prefix)
{
    vs_s3_config c = config(g_front, prefix);
    return client_with(&c);
}

static char *make_file(const char *name, uint64_t size, uint64_t seed,
                       uint8_t sha[VS_SHA256_LEN])
{
    char *path = vs_test_path(g_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    size_t cap = 1 << 20;
    uint64_t *buf = malloc(cap);
    vs_sha256 *h = NULL;
    ck_assert_int_eq(vs_sha256_new(&h), 0);
    uint64_t state = seed | 1;
    for (uint64_t done = 0; done < size;) {
        for (size_t i = 0; i < cap / 8; i++)
            buf[i] = vs_test_rand(&state);
        size_t n = size - done < cap ? (size_t)(size - done) : cap;
        ck_assert_int_eq(vs_fs_write_full(fd, buf, n), 0);
        vs_sha256_update(h, buf, n);
        done += n;
    }
    if (sha)
        vs_sha256_final(h, sha);
    vs_sha256_free(h);
    free(buf);
    close(fd);
    return path;
}

/* Download `key` into memory; its SHA-256 and size. */
static int fetch(vs_s3 *s3, const char *key, uint8_t sha[VS_SHA256_LEN],
                 uint64_t *size)
{
    vs_buf b = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *w = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    int rc = vs_s3_get(s3, key, w, NULL, NULL);
    if (rc == 0) {
        ck_assert_int_eq(vs_stream_finish(w), 0);
        vs_sha256_buffer(sha, b.ptr ? b.ptr : "", b.len);
        *size = b.len;
    }
    vs_stream_free(w);
    vs_buf_dispose(&b);
    return rc;
}

static void sha_of(uint8_t out[VS_SHA256_LEN], const char *s)
{
    vs_sha256_buffer(out, s, strlen(s));
}

static void setup(void)
{
    vs_log_set_level(VS_LOG_ERROR);
    reset_front();
}

/* ---- the front rejects what S3 rejects ---------------------------------- */

START_TEST(t_front_rejects_wrong_secret)
{
    vs_s3_config c = config(g_front, "sig/");
    c.secret_key = "not-the-secret";
    vs_s3 *s3 = client_with(&c);
    int rc = vs_s3_put_bytes(s3, "x", "hello", 5, NULL);
    ck_assert_int_eq(rc, VS_EUPSTREAM);
    ck_assert_msg(strstr(vs_error_last(), "SignatureDoesNotMatch")
                  && strstr(vs_error_last(), "HTTP 403"), "%s",
                  vs_error_last());
    vs_s3_object *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, ""), VS_EUPSTREAM);
    vs_s3_free(s3);
    /* a 403 is final: one request each, no retries */
    long st[8];
    ck_assert_int_eq(logged("PUT /" BUCKET "/sig/x", st, 8), 1);
    ck_assert_int_eq(st[0], 403);
    /* and nothing was stored */
    s3 = client("sig/");
    ck_assert_int_eq(vs_s3_head(s3, "x", NULL, NULL, NULL), VS_ENOTFOUND);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_front_rejects_unsigned)
{
    vs_buf b = VS_BUF_INIT(1 << 20);
    char url[256];
    snprintf(url, sizeof(url), "%s/%s?list-type=2", g_front, BUCKET);
    ck_assert_int_eq(raw("GET", url, NULL, NULL, NULL, NULL, &b), 403);
    ck_assert_msg(strstr(b.ptr, "<Code>AccessDenied</Code>"), "%s", b.ptr);
    vs_buf_reset(&b);
    snprintf(url, sizeof(url), "%s/%s/unsigned/x", g_front, BUCKET);
    ck_assert_int_eq(raw("PUT", url, NULL, NULL, NULL, "hello", &b), 403);
    vs_s3 *s3 = client("unsigned/");
    ck_assert_int_eq(vs_s3_head(s3, "x", NULL, NULL, NULL), VS_ENOTFOUND);
    vs_s3_free(s3);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(t_front_rejects_bad_payload_hash)
{
    vs_buf b = VS_BUF_INIT(1 << 20);
    char url[256], hex[VS_SHA256_HEX_LEN + 1];
    uint8_t dg[VS_SHA256_LEN];
    snprintf(url, sizeof(url), "%s/%s/payload/x", g_front, BUCKET);
    sha_of(dg, "something else");
    vs_sha256_hex(hex, dg);
    ck_assert_int_eq(raw("PUT", url, SECRET, hex, NULL, "hello", &b), 400);
    ck_assert_msg(strstr(b.ptr, "<Code>XAmzContentSHA256Mismatch</Code>"),
                  "%s", b.ptr);
    /* the same request with no payload hash is refused too */
    vs_buf_reset(&b);
    ck_assert_int_eq(raw("PUT", url, SECRET, NULL, NULL, "hello", &b), 400);
    vs_s3 *s3 = client("payload/");
    ck_assert_int_eq(vs_s3_head(s3, "x", NULL, NULL, NULL), VS_ENOTFOUND);
    /* with the right hash the very same path goes through */
    sha_of(dg, "hello");
    vs_sha256_hex(hex, dg);
    vs_buf_reset(&b);
    ck_assert_int_eq(raw("PUT", url, SECRET, hex, NULL, "hello", &b), 200);
    uint64_t size = 0;
    ck_assert_int_eq(vs_s3_head(s3, "x", &size, NULL, NULL), 0);
    ck_assert_uint_eq(size, 5);
    vs_s3_free(s3);
    vs_buf_dispose(&b);
}
END_TEST

/* libcurl signs the query as written: the front canonicalizes like S3, so
 * an unsorted query fails and the sorted one passes. */
START_TEST(t_front_canonical_query)
{
    vs_buf b = VS_BUF_INIT(1 << 20);
    char url[256];
    const char *empty =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    snprintf(url, sizeof(url), "%s/%s?prefix=q&list-type=2", g_front,
             BUCKET);
    ck_assert_int_eq(raw("GET", url, SECRET, empty, NULL, NULL, &b), 403);
    ck_assert_msg(strstr(b.ptr, "SignatureDoesNotMatch"), "%s", b.ptr);
    snprintf(url, sizeof(url), "%s/%s?list-type=2&prefix=q", g_front,
             BUCKET);
    vs_buf_reset(&b);
    ck_assert_int_eq(raw("GET", url, SECRET, empty, NULL, NULL, &b), 200);
    /* a key not encoded the canonical way ('~' as %7E) fails the same way */
    snprintf(url, sizeof(url), "%s/%s/q/a%%7Eb", g_front, BUCKET);
    vs_buf_reset(&b);
    ck_assert_int_eq(raw("GET", url, SECRET, empty, NULL, NULL, &b), 403);
    vs_buf_dispose(&b);
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

START_TEST(t_roundtrip_small)
{
    vs_s3 *s3 = client("small/");
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN], meta[VS_SHA256_LEN];
    uint64_t size = 0;
    bool has = false;
    const char *text = "hello, object storage\n";
    ck_assert_int_eq(vs_s3_put_bytes(s3, "hello.txt", text, strlen(text),
                                     "text/plain"), 0);
    ck_assert_int_eq(fetch(s3, "hello.txt", got, &size), 0);
    sha_of(want, text);
    ck_assert_uint_eq(size, strlen(text));
    ck_assert(vs_sha256_equal(want, got));
    ck_assert_int_eq(vs_s3_head(s3, "hello.txt", &size, meta, &has), 0);
    ck_assert(has && vs_sha256_equal(meta, want));

    /* a file under the threshold: one PUT, checked by HEAD */
    char *path = make_file("small.bin", 300 * 1000 + 7, 11, want);
    ck_assert_int_eq(vs_s3_put_file(s3, "dir/small.bin", path, NULL, NULL,
                                    NULL), 0);
    ck_assert_int_eq(fetch(s3, "dir/small.bin", got, &size), 0);
    ck_assert_uint_eq(size, 300 * 1000 + 7);
    ck_assert(vs_sha256_equal(want, got));
    free(path);

    /* an empty file, with its digest given */
    path = make_file("empty.bin", 0, 1, want);
    ck_assert_int_eq(vs_s3_put_file(s3, "empty.bin", path, want, NULL, NULL),
                     0);
    ck_assert_int_eq(fetch(s3, "empty.bin", got, &size), 0);
    ck_assert_uint_eq(size, 0);
    ck_assert(vs_sha256_equal(want, got));
    free(path);

    /* a wrong digest given by the caller is refused by the server */
    path = make_file("lie.bin", 1000, 2, NULL);
    ck_assert_int_eq(vs_s3_put_file(s3, "lie.bin", path, want, NULL, NULL),
                     VS_EUPSTREAM);
    ck_assert_msg(strstr(vs_error_last(), "XAmzContentSHA256Mismatch"), "%s",
                  vs_error_last());
    ck_assert_int_eq(vs_s3_head(s3, "lie.bin", NULL, NULL, NULL),
                     VS_ENOTFOUND);
    free(path);
    vs_s3_free(s3);
}
END_TEST

typedef struct prog_log {
    uint64_t last;
    uint64_t total;
    int calls;
    bool backwards;
    uint64_t cancel_at; /* 0: never */
} prog_log;

static int on_progress(void *p, uint64_t done, uint64_t total)
{
    prog_log *l = p;
    if (done < l->last)
        l->backwards = true;
    l->last = done;
    l->total = total;
    l->calls++;
    return l->cancel_at && done >= l->cancel_at;
}

START_TEST(t_multipart)
{
    vs_s3 *s3 = client("mp/");
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN], meta[VS_SHA256_LEN];
    uint64_t size = 0;
    bool has = false;
    const uint64_t n = 40 * 1000 * 1000 + 123; /* 8 parts of 5 MiB */
    char *path = make_file("mp.bin", n, 42, want);
    prog_log pl = {0};
    ck_assert_int_eq(vs_s3_put_file(s3, "big object.bin", path, NULL,
                                    on_progress, &pl), 0);
    ck_assert(!pl.backwards);
    ck_assert_uint_eq(pl.last, n);
    ck_assert_uint_eq(pl.total, n);
    long st[16];
    ck_assert_int_eq(logged("POST /" BUCKET "/mp/big%20object.bin?uploads=",
                            st, 16), 1);
    ck_assert_int_eq(logged("?partNumber=", st, 16), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(st[i], 200);
    ck_assert_int_eq(logged("POST /" BUCKET "/mp/big%20object.bin?uploadId=",
                            st, 16), 1);
    ck_assert_int_eq(vs_s3_head(s3, "big object.bin", &size, meta, &has), 0);
    ck_assert_uint_eq(size, n);
    ck_assert(has && vs_sha256_equal(meta, want));
    ck_assert_int_eq(fetch(s3, "big object.bin", got, &size), 0);
    ck_assert_uint_eq(size, n);
    ck_assert(vs_sha256_equal(want, got));
    size_t open = 99;
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 0);
    free(path);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_keys_unicode)
{
    static const char *keys[] = {
        "dir with spaces/file one.bin",
        "\xc3\xbcn\xc3\xaf\x63\xc3\xb8\x64\xc3\xa9/"
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xe3\x82\xad\xe3\x83\xbc.txt",
        "snow\xe2\x98\x83man/\xf0\x9f\x98\x80 grin",
        "punct !$&'()*+,;=:@~-_.x",
        "percent%20literal+plus",
        "brackets [x] {y} <z> \"q\" #h ?q ^c `t` |p \\b",
    };
    size_t nk = sizeof(keys) / sizeof(keys[0]);
    vs_s3 *s3 = client("keys/");
    for (size_t i = 0; i < nk; i++) {
        uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
        uint64_t size = 0;
        int rc = vs_s3_put_bytes(s3, keys[i], keys[i], strlen(keys[i]),
                                 NULL);
        ck_assert_msg(rc == 0, "put '%s': %s", keys[i], vs_error_last());
        rc = fetch(s3, keys[i], got, &size);
        ck_assert_msg(rc == 0, "get '%s': %s", keys[i], vs_error_last());
        sha_of(want, keys[i]);
        ck_assert(vs_sha256_equal(want, got));
    }
    vs_s3_object *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, ""), 0);
    ck_assert_uint_eq(n, nk);
    for (size_t i = 0; i < nk; i++) {
        bool found = false;
        for (size_t j = 0; j < n; j++)
            if (strcmp(v[j].key, keys[i]) == 0) {
                found = true;
                ck_assert_uint_eq(v[j].size, strlen(keys[i]));
            }
        ck_assert_msg(found, "'%s' not listed", keys[i]);
    }
    vs_s3_objects_free(v, n);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_list_pages)
{
    vs_s3 *s3 = client("pages/");
    char key[64];
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "%s/obj-%d", i < 5 ? "a" : "b", i);
        ck_assert_int_eq(vs_s3_put_bytes(s3, key, key, (size_t)i, NULL), 0);
    }
    vs_s3__set_list_page(s3, 2);
    admin("POST", "/__log", "{\"clear\":true}", NULL);
    vs_s3_object *v = NULL;
    size_t n = 0;
    int rc = vs_s3_list(&v, &n, s3, "");
    ck_assert_msg(rc == 0, "list: %s", vs_error_last());
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "%s/obj-%zu", i < 5 ? "a" : "b", i);
        ck_assert_str_eq(v[i].key, key);
        ck_assert_uint_eq(v[i].size, i);
    }
    vs_s3_objects_free(v, n);
    long st[8];
    ck_assert_int_eq(logged("list-type=2&max-keys=2", st, 8), 4);
    ck_assert_int_eq(logged("continuation-token=", st, 8), 3);
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, "b/"), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].key, "b/obj-5");
    vs_s3_objects_free(v, n);
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, "nothing-here/"), 0);
    ck_assert_uint_eq(n, 0);
    vs_s3_objects_free(v, n);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_delete)
{
    vs_s3 *s3 = client("del/");
    uint8_t sha[VS_SHA256_LEN];
    uint64_t size = 0;
    ck_assert_int_eq(vs_s3_put_bytes(s3, "gone", "bye", 3, NULL), 0);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "kept", "hi", 2, NULL), 0);
    ck_assert_int_eq(vs_s3_head(s3, "gone", &size, NULL, NULL), 0);
    ck_assert_int_eq(vs_s3_delete(s3, "gone"), 0);
    ck_assert_int_eq(vs_s3_head(s3, "gone", &size, NULL, NULL), VS_ENOTFOUND);
    ck_assert_int_eq(fetch(s3, "gone", sha, &size), VS_ENOTFOUND);
    ck_assert_msg(strstr(vs_error_last(), "NoSuchKey"), "%s",
                  vs_error_last());
    vs_s3_object *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, ""), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(v[0].key, "kept");
    vs_s3_objects_free(v, n);
    /* deleting what is not there succeeds, as on S3 */
    ck_assert_int_eq(vs_s3_delete(s3, "gone"), 0);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_head_sha256)
{
    vs_s3 *s3 = client("head/");
    uint8_t want[VS_SHA256_LEN], meta[VS_SHA256_LEN];
    uint64_t size = 0;
    bool has = false;
    ck_assert_int_eq(vs_s3_put_bytes(s3, "with", "abc", 3, NULL), 0);
    sha_of(want, "abc");
    ck_assert_int_eq(vs_s3_head(s3, "with", &size, meta, &has), 0);
    ck_assert_uint_eq(size, 3);
    ck_assert(has && vs_sha256_equal(meta, want));
    /* an object stored by someone else, without the metadata */
    vs_buf b = VS_BUF_INIT(1 << 20);
    char url[256], hex[VS_SHA256_HEX_LEN + 1];
    snprintf(url, sizeof(url), "%s/%s/head/without", g_front, BUCKET);
    vs_sha256_hex(hex, want);
    ck_assert_int_eq(raw("PUT", url, SECRET, hex, NULL, "abc", &b), 200);
    ck_assert_int_eq(vs_s3_head(s3, "without", &size, meta, &has), 0);
    ck_assert_uint_eq(size, 3);
    ck_assert(!has);
    /* ... or with a wrong one: the download is refused */
    uint8_t other[VS_SHA256_LEN];
    char line[128], ohex[VS_SHA256_HEX_LEN + 1];
    sha_of(other, "xyz");
    vs_sha256_hex(ohex, other);
    snprintf(line, sizeof(line), "x-amz-meta-sha256: %s", ohex);
    snprintf(url, sizeof(url), "%s/%s/head/lying", g_front, BUCKET);
    ck_assert_int_eq(raw("PUT", url, SECRET, hex, line, "abc", &b), 200);
    ck_assert_int_eq(fetch(s3, "lying", meta, &size), VS_ECORRUPT);
    vs_buf_dispose(&b);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_errors)
{
    vs_s3 *s3 = client("err/");
    uint8_t sha[VS_SHA256_LEN];
    uint64_t size;
    ck_assert_int_eq(fetch(s3, "missing", sha, &size), VS_ENOTFOUND);
    ck_assert_msg(strstr(vs_error_last(), "NoSuchKey: The specified key "
                         "does not exist."), "%s", vs_error_last());
    ck_assert_int_eq(vs_s3_put_bytes(s3, "", "x", 1, NULL), VS_EINVALID);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "a\x01z", "x", 1, NULL),
                     VS_EINVALID);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "bad\xc3(utf8", "x", 1, NULL),
                     VS_EINVALID);
    char big[1100];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(vs_s3_put_bytes(s3, big, "x", 1, NULL), VS_EINVALID);
    ck_assert_int_eq(vs_s3_put_file(s3, "f", "/nonexistent/file", NULL, NULL,
                                    NULL), VS_ENOTFOUND);
    ck_assert_int_eq(vs_s3_put_file(s3, "f", "/tmp", NULL, NULL, NULL),
                     VS_EINVALID);
    vs_s3_free(s3);
    /* a bucket that does not exist */
    vs_s3_config c = config(g_front, "");
    c.bucket = "no-such-bucket";
    s3 = client_with(&c);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "k", "x", 1, NULL), VS_ENOTFOUND);
    ck_assert_msg(strstr(vs_error_last(), "NoSuchBucket"), "%s",
                  vs_error_last());
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_config)
{
    vs_s3 *s3 = NULL;
    vs_s3_config c = config(g_front, "");
    c.endpoint = NULL;
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    ck_assert_msg(strstr(vs_error_last(), "endpoint"), "%s", vs_error_last());
    c.endpoint = "ftp://127.0.0.1/";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c.endpoint = "http://user:pw@127.0.0.1/";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c.endpoint = "not a url";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c = config(g_front, "");
    c.bucket = "x";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    ck_assert_msg(strstr(vs_error_last(), "bucket"), "%s", vs_error_last());
    c = config(g_front, "");
    c.bucket = "Upper_Case";
    c.path_style = false;
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c = config(g_front, "/abs");
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c = config(g_front, "");
    c.part_size = 1024 * 1024;
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    ck_assert_msg(strstr(vs_error_last(), "part_size"), "%s",
                  vs_error_last());
    c = config(g_front, "");
    c.parallel = 17;
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c = config(g_front, "");
    c.region = "us-east-1:evil";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    c = config(g_front, "");
    c.access_key = NULL;
    unsetenv("AWS_ACCESS_KEY_ID");
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    ck_assert_msg(strstr(vs_error_last(), "access key"), "%s",
                  vs_error_last());
    /* credentials from the environment */
    setenv("AWS_ACCESS_KEY_ID", ACCESS, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    c.secret_key = NULL;
    ck_assert_int_eq(vs_s3_new(&s3, &c), 0);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "env/k", "v", 1, NULL), 0);
    vs_s3_free(s3);
    /* a session token is sent as x-amz-security-token, signed */
    c = config(g_front, "");
    c.session_token = "session/token+value==";
    admin("POST", "/__log", "{\"clear\":true}", NULL);
    ck_assert_int_eq(vs_s3_new(&s3, &c), 0);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "env/t", "v", 1, NULL), 0);
    vs_s3_free(s3);
    vs_buf b = VS_BUF_INIT(1 << 20);
    admin("GET", "/__log", NULL, &b);
    ck_assert_msg(strstr(b.ptr, "x-amz-date;x-amz-meta-sha256;"
                         "x-amz-security-token"), "%s", b.ptr);
    vs_buf_dispose(&b);
    c.session_token = "bad\r\ninjected: 1";
    ck_assert_int_eq(vs_s3_new(&s3, &c), VS_EINVALID);
    ck_assert_ptr_null(s3 = NULL);
}
END_TEST

/* Virtual-hosted addressing: http://BUCKET.localhost:PORT/key (libcurl
 * resolves *.localhost to the loopback). */
START_TEST(t_virtual_hosted)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "http://localhost:%d/", g_front_port);
    vs_s3_config c = config(ep, "vhost/");
    c.path_style = false;
    vs_s3 *s3 = client_with(&c);
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    uint64_t size = 0;
    char *path = make_file("vhost.bin", 11 * 1000 * 1000, 15, want);
    ck_assert_int_eq(vs_s3_put_file(s3, "a b/obj", path, NULL, NULL, NULL),
                     0);
    ck_assert_int_eq(vs_s3_put_bytes(s3, "small", "s", 1, NULL), 0);
    ck_assert_int_eq(fetch(s3, "a b/obj", got, &size), 0);
    ck_assert(vs_sha256_equal(want, got));
    vs_s3__set_list_page(s3, 1);
    vs_s3_object *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, ""), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0].key, "a b/obj");
    ck_assert_str_eq(v[1].key, "small");
    vs_s3_objects_free(v, n);
    size_t open = 9;
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 0);
    ck_assert_int_eq(vs_s3_delete(s3, "small"), 0);
    ck_assert_int_eq(vs_s3_head(s3, "small", NULL, NULL, NULL), VS_ENOTFOUND);
    long st[4];
    ck_assert_int_eq(logged("PUT /vhost/a%20b/obj?partNumber=1&", st, 4), 1);
    free(path);
    vs_s3_free(s3);
}
END_TEST

/* ---- failures and retries ----------------------------------------------- */

START_TEST(t_retry_503_parts)
{
    vs_s3 *s3 = client("r503/");
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    uint64_t size = 0;
    char *path = make_file("r503.bin", 22 * 1000 * 1000, 7, want);
    fault("{\"match\":\"partNumber=2&\",\"status\":503,\"times\":2}");
    ck_assert_int_eq(vs_s3_put_file(s3, "obj", path, NULL, NULL, NULL), 0);
    long st[8];
    ck_assert_int_eq(logged("partNumber=2&", st, 8), 3);
    ck_assert_int_eq(st[0], 503);
    ck_assert_int_eq(st[1], 503);
    ck_assert_int_eq(st[2], 200);
    ck_assert_int_eq(logged("partNumber=1&", st, 8), 1);
    ck_assert_int_eq(fetch(s3, "obj", got, &size), 0);
    ck_assert(vs_sha256_equal(want, got));
    free(path);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_part_fails_for_good)
{
    vs_s3_config c = config(g_front, "rfail/");
    c.retries = 2;
    vs_s3 *s3 = client_with(&c);
    char *path = make_file("rfail.bin", 30 * 1000 * 1000, 8, NULL);
    fault("{\"match\":\"partNumber=3&\",\"status\":500,\"times\":0}");
    int rc = vs_s3_put_file(s3, "obj", path, NULL, NULL, NULL);
    ck_assert_int_eq(rc, VS_EUPSTREAM);
    ck_assert_msg(strstr(vs_error_last(), "part 3")
                  && strstr(vs_error_last(), "InternalError")
                  && strstr(vs_error_last(), "3 attempts"), "%s",
                  vs_error_last());
    long st[8];
    ck_assert_int_eq(logged("partNumber=3&", st, 8), 3);
    ck_assert_int_eq(logged("DELETE /" BUCKET "/rfail/obj?uploadId=", st, 8),
                     1);
    ck_assert_int_eq(st[0], 204);
    ck_assert_int_eq(logged("?uploadId=", st, 8) -
                     logged("DELETE", st, 8), 0); /* never completed */
    fault("{\"clear\":true}");
    size_t open = 99;
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 0);
    ck_assert_int_eq(vs_s3_head(s3, "obj", NULL, NULL, NULL), VS_ENOTFOUND);
    free(path);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_open_uploads_seen)
{
    /* an upload left open is listed (so the check above means something) */
    vs_s3 *s3 = client("openup/");
    vs_buf b = VS_BUF_INIT(1 << 20);
    char url[256], id[128] = "";
    const char *empty =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    snprintf(url, sizeof(url), "%s/%s/openup/left?uploads=", g_front, BUCKET);
    ck_assert_int_eq(raw("POST", url, SECRET, empty, NULL, "", &b), 200);
    const char *p = strstr(b.ptr, "<UploadId>");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(sscanf(p, "<UploadId>%127[^<]", id), 1);
    size_t open = 0;
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 1);
    vs_s3__abort_upload(s3, "openup/left", id);
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 0);
    vs_buf_dispose(&b);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_slow_reply_retried)
{
    vs_s3_config c = config(g_front, "slow/");
    c.low_speed_timeout_s = 1;
    vs_s3 *s3 = client_with(&c);
    fault("{\"match\":\"PUT /" BUCKET "/slow/obj\",\"delay_ms\":8000,"
          "\"times\":1}");
    uint64_t t0 = now_ms();
    ck_assert_int_eq(vs_s3_put_bytes(s3, "obj", "patience", 8, NULL), 0);
    uint64_t ms = now_ms() - t0;
    ck_assert_msg(ms >= 1000 && ms < 7000, "took %" PRIu64 " ms", ms);
    long st[4];
    ck_assert_int_eq(logged("PUT /" BUCKET "/slow/obj", st, 4), 2);
    ck_assert_int_eq(st[1], 200);
    uint64_t size = 0;
    ck_assert_int_eq(vs_s3_head(s3, "obj", &size, NULL, NULL), 0);
    ck_assert_uint_eq(size, 8);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_reset_retried)
{
    vs_s3 *s3 = client("reset/");
    fault("{\"match\":\"PUT /" BUCKET "/reset/obj\",\"reset\":true,"
          "\"times\":2}");
    ck_assert_int_eq(vs_s3_put_bytes(s3, "obj", "again", 5, NULL), 0);
    long st[4];
    ck_assert_int_eq(logged("PUT /" BUCKET "/reset/obj", st, 4), 3);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_get_resumes)
{
    vs_s3 *s3 = client("resume/");
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    uint64_t size = 0;
    char *path = make_file("resume.bin", 6 * 1000 * 1000, 9, want);
    ck_assert_int_eq(vs_s3_put_file(s3, "obj", path, NULL, NULL, NULL), 0);
    fault("{\"match\":\"GET /" BUCKET "/resume/obj\",\"cut_after\":1048576,"
          "\"times\":1}");
    ck_assert_int_eq(fetch(s3, "obj", got, &size), 0);
    ck_assert_uint_eq(size, 6 * 1000 * 1000);
    ck_assert(vs_sha256_equal(want, got));
    long st[4];
    ck_assert_int_eq(logged("GET /" BUCKET "/resume/obj", st, 4), 2);
    char range[64];
    logged_range(range, sizeof(range), "GET /" BUCKET "/resume/obj", 1);
    ck_assert_msg(strncmp(range, "bytes=", 6) == 0 && strcmp(range,
                                                             "bytes=0-"),
                  "second GET range '%s'", range);
    free(path);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_server_down)
{
    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(a.sin_port));
    vs_s3_config c = config(ep, "");
    c.retries = 2;
    vs_s3 *s3 = client_with(&c);
    uint64_t t0 = now_ms();
    int rc = vs_s3_put_bytes(s3, "k", "v", 1, NULL);
    ck_assert_int_eq(rc, VS_EUPSTREAM);
    ck_assert_msg(strstr(vs_error_last(), "onnect")
                  && strstr(vs_error_last(), "3 attempts"), "%s",
                  vs_error_last());
    ck_assert_uint_lt(now_ms() - t0, 3000);
    vs_s3_object *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_s3_list(&v, &n, s3, ""), VS_EUPSTREAM);
    vs_s3_free(s3);
}
END_TEST

START_TEST(t_cancel)
{
    vs_s3_config c = config(g_front, "cancel/");
    c.max_bytes_per_s = 20 * 1000 * 1000;
    vs_s3 *s3 = client_with(&c);
    char *path = make_file("cancel.bin", 40 * 1000 * 1000, 10, NULL);
    prog_log pl = {0};
    pl.cancel_at = 5 * 1000 * 1000;
    uint64_t t0 = now_ms();
    int rc = vs_s3_put_file(s3, "obj", path, NULL, on_progress, &pl);
    ck_assert_int_eq(rc, VS_ECANCELLED);
    ck_assert_msg(strstr(vs_error_last(), "cancelled"), "%s",
                  vs_error_last());
    ck_assert_uint_lt(now_ms() - t0, 10000);
    long st[16];
    int parts = logged("PUT /" BUCKET "/cancel/obj?partNumber=", st, 16);
    int ok = 0;
    for (int i = 0; i < parts && i < 16; i++)
        ok += st[i] == 200;
    ck_assert_msg(ok < 8, "all %d parts were sent before the cancel", ok);
    ck_assert_int_eq(logged("DELETE /" BUCKET "/cancel/obj?uploadId=", st, 8),
                     1);
    ck_assert_int_eq(logged("POST /" BUCKET "/cancel/obj?uploadId=", st, 8),
                     0);
    size_t open = 99;
    ck_assert_int_eq(vs_s3_open_uploads(&open, s3), 0);
    ck_assert_uint_eq(open, 0);
    ck_assert_int_eq(vs_s3_head(s3, "obj", NULL, NULL, NULL), VS_ENOTFOUND);
    free(path);
    /* a single PUT is cancelled the same way */
    path = make_file("cancel1.bin", 6 * 1000 * 1000, 12, NULL);
    memset(&pl, 0, sizeof(pl));
    pl.cancel_at = 1;
    rc = vs_s3_put_file(s3, "one", path, NULL, on_progress, &pl);
    ck_assert_int_eq(rc, VS_ECANCELLED);
    ck_assert_int_eq(vs_s3_head(s3, "one", NULL, NULL, NULL), VS_ENOTFOUND);
    free(path);
    vs_s3_free(s3);
}
END_TEST

/* ---- the XML reader ----------------------------------------------------- */

typedef struct seen {
    char buf[4096];
} seen;

static int on_elem(void *p, const char *path, const char *text, size_t n)
{
    seen *s = p;
    size_t len = strlen(s->buf);
    snprintf(s->buf + len, sizeof(s->buf) - len, "%s=%.*s;", path, (int)n,
             text);
    return 0;
}

static int parse(const char *xml, seen *s)
{
    s->buf[0] = '\0';
    return vs_s3__xml_parse(xml, strlen(xml), on_elem, s);
}

START_TEST(t_xml)
{
    seen s;
    ck_assert_int_eq(parse("<?xml version=\"1.0\"?>\n<A x='1 > 2'><B>t&amp;"
                           "&lt;&#65;&#x263A;</B><!-- c <D/> --><C/>"
                           "<E><![CDATA[<raw>&]]></E></A>", &s), 0);
    ck_assert_str_eq(s.buf, "A/B=t&<A\xe2\x98\xba;A/C=;A/E=<raw>&;A=;");
    static const char *bad[] = {
        "", "   ", "<A>", "<A></B>", "<A><B></A></B>", "<A>&bogus;</A>",
        "<A>&#0;</A>", "<A>&#x110000;</A>", "<!DOCTYPE x><A/>", "<A/><B/>",
        "text<A/>", "<A x='1></A>", "<A><</A>", "</A>", "<A>&amp</A>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i], &s) == VS_ECORRUPT, "'%s' accepted",
                      bad[i]);
    /* bounds: depth and text */
    char deep[40 * 3 + 1];
    for (int i = 0; i < 40; i++)
        memcpy(deep + 3 * i, "<a>", 3);
    deep[40 * 3] = '\0';
    ck_assert_int_eq(parse(deep, &s), VS_ECORRUPT);
    char *big = malloc(20000);
    memcpy(big, "<A>", 3);
    memset(big + 3, 'x', 10000);
    memcpy(big + 10003, "</A>", 5);
    ck_assert_int_eq(parse(big, &s), VS_ECORRUPT);
    free(big);

    char code[64], msg[256];
    const char *err = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
                      "<Message>The key &apos;k&apos; is gone</Message>"
                      "</Error>";
    vs_s3__xml_error(code, sizeof(code), msg, sizeof(msg), err, strlen(err));
    ck_assert_str_eq(code, "NoSuchKey");
    ck_assert_str_eq(msg, "The key 'k' is gone");
    vs_s3__xml_error(code, sizeof(code), msg, sizeof(msg), "<html>", 6);
    ck_assert_str_eq(code, "");

    const char *page =
        "<ListBucketResult><Name>b</Name><Prefix>p/</Prefix>"
        "<Contents><Key>p/a &amp; b</Key><Size>12</Size><ETag>&quot;x&quot;"
        "</ETag></Contents><Contents><Key>p/c</Key><Size>0</Size></Contents>"
        "<IsTruncated>true</IsTruncated><NextContinuationToken>tok=="
        "</NextContinuationToken></ListBucketResult>";
    s3_list_page pg;
    memset(&pg, 0, sizeof(pg));
    pg.max = 100;
    pg.strip = "p/";
    ck_assert_int_eq(vs_s3__xml_list_page(&pg, page, strlen(page)), 0);
    ck_assert_uint_eq(pg.n, 2);
    ck_assert_str_eq(pg.v[0].key, "a & b");
    ck_assert_uint_eq(pg.v[0].size, 12);
    ck_assert(pg.truncated);
    ck_assert_str_eq(pg.token, "tok==");
    vs_s3_objects_free(pg.v, pg.n);
    memset(&pg, 0, sizeof(pg));
    pg.max = 100;
    pg.strip = "q/";
    ck_assert_int_eq(vs_s3__xml_list_page(&pg, page, strlen(page)),
                     VS_EUPSTREAM);
    vs_s3_objects_free(pg.v, pg.n);
    const char *nosize = "<ListBucketResult><Contents><Key>p/a</Key>"
                         "<Size>-1</Size></Contents></ListBucketResult>";
    memset(&pg, 0, sizeof(pg));
    pg.max = 100;
    pg.strip = "p/";
    ck_assert_int_eq(vs_s3__xml_list_page(&pg, nosize, strlen(nosize)),
                     VS_EUPSTREAM);
    vs_s3_objects_free(pg.v, pg.n);

    vs_buf b = VS_BUF_INIT(1024);
    ck_assert_int_eq(vs_s3__xml_escape(&b, "\"a\"<&>'"), 0);
    ck_assert_str_eq(b.ptr, "&quot;a&quot;&lt;&amp;&gt;&apos;");
    vs_buf_dispose(&b);
    b = (vs_buf)VS_BUF_INIT(1024);
    ck_assert_int_eq(vs_s3__encode(&b, "a b/\xc3\xbc~+", true), 0);
    ck_assert_str_eq(b.ptr, "a%20b/%C3%BC~%2B");
    vs_buf_dispose(&b);
}
END_TEST

/* ---- awscli interop ----------------------------------------------------- */

typedef struct run_result {
    int status;
    uint64_t ms;
    long maxrss_kb;
} run_result;

/* Run argv with the AWS environment set for the test servers; output to
 * `log`. */
static run_result run_aws(char *const argv[], const char *log)
{
    run_result r = {-1, 0, 0};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT
                                     | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    setenv("AWS_ACCESS_KEY_ID", ACCESS, 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    setenv("AWS_CONFIG_FILE", "/dev/null", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_PAGER", "", 1);
    pid_t pid;
    uint64_t t0 = now_ms();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0) {
        int st;
        struct rusage ru;
        if (wait4(pid, &st, 0, &ru) == pid) {
            r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
            r.maxrss_kb = ru.ru_maxrss;
        }
    }
    r.ms = now_ms() - t0;
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

static run_result aws_cp(const char *endpoint, const char *from,
                         const char *to, const char *log)
{
    char *argv[] = {(char *)AWS_BIN, (char *)"--endpoint-url",
                    (char *)endpoint, (char *)"--only-show-errors",
                    (char *)"s3", (char *)"cp", (char *)from, (char *)to,
                    NULL};
    return run_aws(argv, log);
}

START_TEST(t_awscli_interop)
{
    if (access(AWS_BIN, X_OK) != 0) {
        fprintf(stderr, "test_s3: %s is not installed (apt-get install "
                "awscli): the interop check did not run\n", AWS_BIN);
        return;
    }
    vs_s3 *s3 = client("interop/");
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN];
    uint64_t size = 0;
    char *log = vs_test_path(g_dir, "aws.log");
    char *path = make_file("ours.bin", 12 * 1000 * 1000 + 5, 13, want);
    char *back = vs_test_path(g_dir, "ours.back");
    ck_assert_int_eq(vs_s3_put_file(s3, "ours dir/ours.bin", path, NULL,
                                    NULL, NULL), 0);
    run_result r = aws_cp(g_front, "s3://" BUCKET "/interop/ours dir/ours.bin",
                          back, log);
    ck_assert_msg(r.status == 0, "aws s3 cp down failed (%d), see %s",
                  r.status, log);
    ck_assert_int_eq(vs_sha256_file(got, &size, back), 0);
    ck_assert_uint_eq(size, 12 * 1000 * 1000 + 5);
    ck_assert(vs_sha256_equal(want, got));
    free(path);

    path = make_file("theirs.bin", 20 * 1000 * 1000 + 3, 14, want);
    r = aws_cp(g_front, path, "s3://" BUCKET "/interop/their s\xc3\xbc.bin",
               log);
    ck_assert_msg(r.status == 0, "aws s3 cp up failed (%d), see %s", r.status,
                  log);
    ck_assert_int_eq(fetch(s3, "their s\xc3\xbc.bin", got, &size), 0);
    ck_assert_uint_eq(size, 20 * 1000 * 1000 + 3);
    ck_assert(vs_sha256_equal(want, got));
    bool has = true;
    uint8_t meta[VS_SHA256_LEN];
    ck_assert_int_eq(vs_s3_head(s3, "their s\xc3\xbc.bin", &size, meta, &has),
                     0);
    ck_assert(!has);
    /* aws with a wrong secret is refused by the front too */
    setenv("AWS_SECRET_ACCESS_KEY", "wrong", 1);
    char *argv[] = {(char *)AWS_BIN, (char *)"--endpoint-url", g_front,
                    (char *)"s3", (char *)"ls", (char *)"s3://" BUCKET "/",
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int st = 0;
    ck_assert_int_eq(posix_spawn(&pid, AWS_BIN, &fa, NULL, argv, environ), 0);
    waitpid(pid, &st, 0);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    free(path);
    free(back);
    free(log);
    vs_s3_free(s3);
}
END_TEST

/* ---- measurement (VS_S3_BENCH=1) ---------------------------------------- */

static long vm_hwm_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static void bench_ours(const char *label, const char *endpoint,
                       const char *path, uint64_t n)
{
    vs_s3_config c = config(endpoint, "bench/");
    c.part_size = 0;          /* the defaults: 8 MiB parts, 4 in flight */
    c.multipart_threshold = 0;
    vs_s3 *s3 = client_with(&c);
    struct rusage r0, r1;
    reset_hwm();
    long before = vm_hwm_kb();
    getrusage(RUSAGE_SELF, &r0);
    uint64_t t0 = now_ms();
    int rc = vs_s3_put_file(s3, label, path, NULL, NULL, NULL);
    uint64_t ms = now_ms() - t0;
    getrusage(RUSAGE_SELF, &r1);
    ck_assert_msg(rc == 0, "%s: %s", label, vs_error_last());
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec
                          + r1.ru_stime.tv_sec - r0.ru_stime.tv_sec)
        + (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec
                   + r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
    printf("bench: vs_s3_put_file %-7s %6.2f s  %7.1f MB/s  cpu %.2f s  "
           "VmHWM %ld kB (%ld kB before)\n", label, (double)ms / 1000.0,
           (double)n / 1e6 / ((double)ms / 1000.0), cpu, vm_hwm_kb(),
           before);
    vs_s3_free(s3);
}

START_TEST(t_bench_upload)
{
    const uint64_t n = 100000ull * 384 * 4; /* W1's floats: 153.6 MB */
    uint8_t want[VS_SHA256_LEN];
    char *path = make_file("bench.bin", n, 99, want);
    char *log = vs_test_path(g_dir, "aws-bench.log");
    bench_ours("front", g_front, path, n);
    bench_ours("direct", g_direct, path, n);
    if (access(AWS_BIN, X_OK) == 0) {
        run_result r = aws_cp(g_front, path, "s3://" BUCKET "/bench/aws-front",
                              log);
        ck_assert_int_eq(r.status, 0);
        printf("bench: aws s3 cp        front   %6.2f s  %7.1f MB/s  maxrss "
               "%ld kB\n", (double)r.ms / 1000.0,
               (double)n / 1e6 / ((double)r.ms / 1000.0), r.maxrss_kb);
        r = aws_cp(g_direct, path, "s3://" BUCKET "/bench/aws-direct", log);
        ck_assert_int_eq(r.status, 0);
        printf("bench: aws s3 cp        direct  %6.2f s  %7.1f MB/s  maxrss "
               "%ld kB\n", (double)r.ms / 1000.0,
               (double)n / 1e6 / ((double)r.ms / 1000.0), r.maxrss_kb);
    }
    vs_s3 *s3 = client("bench/");
    uint8_t got[VS_SHA256_LEN];
    uint64_t size = 0;
    uint64_t t0 = now_ms();
    ck_assert_int_eq(fetch(s3, "front", got, &size), 0);
    printf("bench: vs_s3_get (memory) front   %6.2f s\n",
           (double)(now_ms() - t0) / 1000.0);
    ck_assert(vs_sha256_equal(want, got));
    fflush(stdout);
    vs_s3_free(s3);
    free(log);
    free(path);
}
END_TEST

static Suite *s3_suite(void)
{
    Suite *s = suite_create("s3");
    TCase *tc = tcase_create("front");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_front_rejects_wrong_secret);
    tcase_add_test(tc, t_front_rejects_unsigned);
    tcase_add_test(tc, t_front_rejects_bad_payload_hash);
    tcase_add_test(tc, t_front_canonical_query);
    suite_add_tcase(s, tc);
    tc = tcase_create("objects");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_roundtrip_small);
    tcase_add_test(tc, t_multipart);
    tcase_add_test(tc, t_keys_unicode);
    tcase_add_test(tc, t_list_pages);
    tcase_add_test(tc, t_delete);
    tcase_add_test(tc, t_head_sha256);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_config);
    tcase_add_test(tc, t_virtual_hosted);
    suite_add_tcase(s, tc);
    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_retry_503_parts);
    tcase_add_test(tc, t_part_fails_for_good);
    tcase_add_test(tc, t_open_uploads_seen);
    tcase_add_test(tc, t_slow_reply_retried);
    tcase_add_test(tc, t_reset_retried);
    tcase_add_test(tc, t_get_resumes);
    tcase_add_test(tc, t_server_down);
    tcase_add_test(tc, t_cancel);
    suite_add_tcase(s, tc);
    tc = tcase_create("xml");
    tcase_add_test(tc, t_xml);
    suite_add_tcase(s, tc);
    tc = tcase_create("interop");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_awscli_interop);
    if (getenv("VS_S3_BENCH") && strcmp(getenv("VS_S3_BENCH"), "1") == 0)
        tcase_add_test(tc, t_bench_upload);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    vs_log_set_level(VS_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_ALL);
    if (start_servers() != 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(s3_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_servers();
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
