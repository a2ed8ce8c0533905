/*
 * s3_int: what the s3 module's files share and nothing else includes (tests
 * aside): the client's state, one signed request with its retries, and the
 * small XML reader for S3's replies.
 *
 * One request (s3_req) is described once and performed by vs_s3__perform,
 * which retries it on transient failures (5xx, 429, RequestTimeout,
 * timeouts, resets, refused connections) with exponential backoff and full
 * jitter.  A body comes from memory or from a file range read with pread at
 * its offset, so a retry re-reads it and nothing of a file is held in
 * memory.  A GET into a stream that breaks after some bytes resumes with a
 * Range request for the rest.
 */
#ifndef VS_S3_INT_H
#define VS_S3_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "buf.h"
#include "s3.h"

#define S3_MIB (1024ull * 1024ull)
#define S3_MIN_PART (5 * S3_MIB)
#define S3_MAX_PART (5 * 1024 * S3_MIB)
#define S3_MAX_PARTS 10000u
#define S3_MAX_OBJECT (5ull * 1024 * 1024 * S3_MIB)
#define S3_MAX_KEY 1024u
#define S3_ETAG_MAX 128
#define S3_CODE_MAX 64
#define S3_XML_MAX (8 * S3_MIB)   /* an XML reply (a list page) */
#define S3_ERRBODY_MAX (64 * 1024) /* an error reply kept for its message */
#define S3_POOL 16

/* Values of s3_req.stop: why a transfer should end early. */
enum { S3_GO = 0, S3_STOP_CANCEL = 1, S3_STOP_FAILED = 2 };

struct vs_s3 {
    char *base;        /* "http://host:port[/path]" or with "bucket." */
    char *bucket;
    char *prefix;
    char *sigv4;       /* "aws:amz:<region>:s3" */
    char *access;
    char *secret;
    char *token;       /* NULL when none */
    bool path_style;
    uint64_t part_size; /* 0: chosen per file */
    unsigned parallel;
    uint64_t max_bytes_per_s;
    unsigned connect_timeout_s;
    unsigned low_speed_timeout_s;
    unsigned retries;
    uint64_t multipart_threshold;
    unsigned list_page;  /* max-keys of a list request */
    CURLSH *share;       /* DNS cache and TLS sessions */
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu; /* idle easy handles keep their connections */
    CURL *idle[S3_POOL];
    size_t nidle;
};

typedef struct s3_req s3_req;
/* Called while a transfer runs; non-zero stops it (the caller's cancel). */
typedef int (*s3_tick_fn)(s3_req *rq);

struct s3_req {
    /* what to send */
    const char *op;           /* "put", "get", "put part 3 of"...: messages */
    const char *method;       /* GET PUT POST DELETE HEAD */
    const char *key;          /* full key (prefix applied); NULL: bucket */
    const char *query;        /* canonical query string or NULL */
    const char *payload_hash; /* hex or UNSIGNED-PAYLOAD; NULL: empty body */
    const char *content_type;
    const char *meta_sha256;  /* hex sent as x-amz-meta-sha256, or NULL */
    const void *body;         /* a body from memory ... */
    size_t body_len;
    int fd;                   /* ... or from a file range (fd >= 0) */
    uint64_t off;
    uint64_t len;
    bool upload;              /* PUT/POST with a body (possibly empty) */
    /* where the reply goes */
    vs_buf *resp;             /* a 2xx body (its cap applies), or NULL */
    vs_stream *sink;          /* GET: the 2xx body, resumable */
    vs_sha256 *sink_hash;     /* hashes the bytes that reached the sink */
    /* progress and cancel */
    s3_tick_fn tick;
    void *tick_ctx;
    atomic_int *stop;         /* S3_STOP_*: end the transfer early */
    _Atomic uint64_t *sent_total; /* body bytes sent, summed across parts */
    uint64_t max_send;        /* bytes/s for this transfer; 0: config's */
    /* state of the current attempt and results */
    uint64_t sent;            /* body bytes handed to curl this attempt */
    uint64_t got;             /* bytes delivered to the sink, all attempts */
    uint64_t resume_from;     /* got at the start of this attempt */
    uint64_t pos;             /* body bytes of the reply seen this attempt */
    long status;
    bool has_length;
    uint64_t length;          /* Content-Length of the reply */
    bool has_range;
    uint64_t range_start;     /* Content-Range of a 206 */
    uint64_t range_total;
    bool has_meta;
    char meta[VS_SHA256_HEX_LEN + 1]; /* x-amz-meta-sha256 of the reply */
    char etag[S3_ETAG_MAX];
    char first_etag[S3_ETAG_MAX]; /* a GET's object, for If-Match */
    bool bad_header;          /* a reply header too long or malformed */
    bool aborted;             /* stopped by tick or stop */
    bool sink_failed;
    bool resp_failed;
    bool bad_range;
    int read_errno;           /* pread failed (or -1: the file shrank) */
    vs_buf err;               /* a non-2xx body, truncated at its cap */
    char code[S3_CODE_MAX];   /* the S3 error code of the last failure */
};

/* A request with defaults: no body, fd -1, replies discarded. */
void vs_s3__req_init(s3_req *rq, const char *op, const char *method,
                     const char *key, const char *query);
void vs_s3__req_dispose(s3_req *rq);

/* An easy handle from the client's pool (a live connection, maybe), and
 * back.  NULL only when out of memory. */
CURL *vs_s3__handle_get(vs_s3 *s3);
void vs_s3__handle_put(vs_s3 *s3, CURL *h);

/* Perform `rq` with retries on `easy` (NULL: one from the pool).  0 on a
 * 2xx reply; VS_ENOTFOUND for 404; VS_ECANCELLED when stopped;
 * VS_EUPSTREAM otherwise, with the S3 code and message. */
int vs_s3__perform(vs_s3 *s3, CURL *easy, s3_req *rq) VS_WARN_UNUSED;

/* prefix + key, checked (non-empty, UTF-8, no control characters, at most
 * 1024 bytes).  The caller frees *out. */
int vs_s3__full_key(char **out, const vs_s3 *s3,
                    const char *key) VS_WARN_UNUSED;
/* Append `s` percent-encoded per RFC 3986 (unreserved kept; '/' kept when
 * keep_slash). */
int vs_s3__encode(vs_buf *b, const char *s, bool keep_slash) VS_WARN_UNUSED;

/* The tests' knob: the page size of list requests (1..1000). */
void vs_s3__set_list_page(vs_s3 *s3, unsigned n);

/* The caller's progress: reported monotonic, at most every 100 ms (and
 * whenever done == total); a non-zero return of the callback cancels. */
typedef struct s3_progress {
    vs_s3_progress_fn fn;
    void *payload;
    uint64_t total;
    uint64_t last;
    uint64_t last_ms;
} s3_progress;
int vs_s3__progress(s3_progress *p, uint64_t done);
uint64_t vs_s3__now_ms(void);

/* ---- multipart (s3_multipart.c) ---- */
/* Upload fd[0..size) to full_key in parts (initiate, parts in parallel,
 * complete; abort on failure or cancel).  The stored object is checked by
 * the caller. */
int vs_s3__put_multipart(vs_s3 *s3, const char *full_key, int fd,
                         uint64_t size, const char *sha_hex,
                         s3_progress *prog) VS_WARN_UNUSED;
/* Abort an upload (retried, never cancelled); errors are only logged. */
void vs_s3__abort_upload(vs_s3 *s3, const char *full_key,
                         const char *upload_id);

/* ---- XML (s3_xml.c) ---- */
/* Called at the end of every element: `path` is the names from the root
 * joined by '/' ("ListBucketResult/Contents/Key"), `text` the element's own
 * character data with entities decoded (NUL-terminated).  Non-zero stops
 * the parse and is returned. */
typedef int (*s3_xml_fn)(void *ctx, const char *path, const char *text,
                         size_t n);
/* VS_ECORRUPT for malformed or over-deep XML, text over 8 KiB, unknown
 * entities, DOCTYPE. */
int vs_s3__xml_parse(const char *xml, size_t n, s3_xml_fn fn,
                     void *ctx) VS_WARN_UNUSED;
/* The root element's name of a reply (bounded copy); "" if none. */
void vs_s3__xml_root(char *out, size_t cap, const char *xml, size_t n);
/* Code and Message of an S3 <Error> reply, when it is one. */
void vs_s3__xml_error(char *code, size_t code_cap, char *msg, size_t msg_cap,
                      const char *xml, size_t n);
/* One page of ListObjectsV2: keys must start with `strip` (the configured
 * prefix), which is removed.  At most `max` objects in all (VS_ETOOBIG). */
typedef struct s3_list_page {
    vs_s3_object *v;
    size_t n;
    size_t cap;
    size_t max;
    const char *strip;
    bool truncated;
    char token[2048];  /* NextContinuationToken */
    char *key;         /* of the <Contents> being read */
    uint64_t size;
    bool has_size;
} s3_list_page;
int vs_s3__xml_list_page(s3_list_page *pg, const char *xml,
                         size_t n) VS_WARN_UNUSED;
/* One page of ListMultipartUploads. */
typedef struct s3_uploads_page {
    size_t count;
    bool truncated;
    char next_key[S3_MAX_KEY + 1];
    char next_id[1024];
} s3_uploads_page;
int vs_s3__xml_uploads_page(s3_uploads_page *pg, const char *xml,
                            size_t n) VS_WARN_UNUSED;
/* The UploadId of an InitiateMultipartUpload reply. */
int vs_s3__xml_upload_id(char *out, size_t cap, const char *xml,
                         size_t n) VS_WARN_UNUSED;
/* Append `s` with & < > " ' escaped. */
int vs_s3__xml_escape(vs_buf *b, const char *s) VS_WARN_UNUSED;

/* s3_req.c: a decimal of 1..19 digits, nothing else. */
bool vs_s3__parse_u64(const char *s, size_t n, uint64_t *out);

#endif
