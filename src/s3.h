/*
 * s3: a client for S3-compatible object storage over libcurl, signed with
 * libcurl's own SigV4 (CURLOPT_AWS_SIGV4), not a hand-written signer.
 *
 * What libcurl 7.88 (Debian 12) does and does not do, and so what this
 * module does: it does not add x-amz-content-sha256 by itself -- we send
 * it (the payload's SHA-256 hex, or UNSIGNED-PAYLOAD for a streamed body
 * whose hash is not known up front), and it is signed with the rest; it
 * signs the query string exactly as written -- every query we build is in
 * canonical form (parameters sorted, names and values percent-encoded per
 * RFC 3986, `uploads=` with its equals sign).  Object keys are
 * percent-encoded segment by segment (spaces, unicode), '/' kept.
 *
 * Addressing: path style (http://host:port/bucket/key) or virtual-hosted
 * (http://bucket.host/key).  Credentials: the config, else
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN, sent as
 * x-amz-security-token).  Secrets are never logged.
 *
 * Retries: 5xx, 429, timeouts, connection resets and refused connections
 * are retried with exponential backoff and full jitter (base 200 ms, cap
 * 10 s, `retries` times); 4xx is final.  Errors are VS_EUPSTREAM with the
 * S3 error code and message from the XML body ("NoSuchKey: The specified
 * key does not exist.") or the curl error, VS_ENOTFOUND for 404.
 *
 * Threads: a client may be used from several threads at once (each call
 * uses its own easy handle); curl_global_init is called by vs_s3_new.
 */
#ifndef VS_S3_H
#define VS_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checksum.h"
#include "error.h"
#include "stream.h"

typedef struct vs_s3_config {
    const char *endpoint;   /* "http://127.0.0.1:4568" */
    const char *region;     /* "us-east-1" */
    const char *bucket;
    const char *prefix;     /* key prefix, may be "" */
    bool path_style;
    const char *access_key; /* NULL: AWS_ACCESS_KEY_ID */
    const char *secret_key; /* NULL: AWS_SECRET_ACCESS_KEY */
    const char *session_token; /* NULL: AWS_SESSION_TOKEN (optional) */
    uint64_t part_size;     /* multipart part size; 0: chosen (>= 8 MiB,
                               large enough that any size fits 10,000
                               parts) */
    unsigned parallel;      /* parts in flight (1..16); 0: 4 */
    uint64_t max_bytes_per_s; /* bandwidth limit per transfer; 0: none */
    unsigned connect_timeout_s; /* 0: 10 */
    unsigned low_speed_timeout_s; /* abort below 1 KiB/s for this long; 0: 30 */
    unsigned retries;       /* 0: 5 */
    uint64_t multipart_threshold; /* single PUT up to this; 0: 64 MiB */
} vs_s3_config;

typedef struct vs_s3 vs_s3;

/* VS_EINVALID naming the bad field (no endpoint, bad URL, no credentials). */
int vs_s3_new(vs_s3 **out, const vs_s3_config *cfg) VS_WARN_UNUSED;
void vs_s3_free(vs_s3 *s3);

/* Progress: bytes done of total; non-zero return cancels (VS_ECANCELLED). */
typedef int (*vs_s3_progress_fn)(void *payload, uint64_t done,
                                 uint64_t total);

/* Upload the file at `path` to `key` (under the prefix): one PUT up to the
 * threshold, else a multipart upload with parts sent in parallel, each
 * retried; on final failure or cancel the upload is aborted (nothing
 * half-written remains).  The stored object is then checked: its size, and
 * its SHA-256 against `sha256` (the x-amz-meta-sha256 we set, read back by
 * HEAD, and for a single PUT the x-amz-content-sha256 the server verified).
 * `sha256` NULL: computed first. */
int vs_s3_put_file(vs_s3 *s3, const char *key, const char *path,
                   const uint8_t *sha256, vs_s3_progress_fn progress,
                   void *payload) VS_WARN_UNUSED;
/* A small object from memory (manifests, checksums). */
int vs_s3_put_bytes(vs_s3 *s3, const char *key, const void *data, size_t n,
                    const char *content_type) VS_WARN_UNUSED;
/* Download `key` into `out` (a writer; not finished here).  VS_ENOTFOUND. */
int vs_s3_get(vs_s3 *s3, const char *key, vs_stream *out,
              vs_s3_progress_fn progress, void *payload) VS_WARN_UNUSED;
/* Size (and, when the object has one, its x-amz-meta-sha256). */
int vs_s3_head(vs_s3 *s3, const char *key, uint64_t *size,
               uint8_t sha256[VS_SHA256_LEN], bool *has_sha256) VS_WARN_UNUSED;
int vs_s3_delete(vs_s3 *s3, const char *key) VS_WARN_UNUSED;

/* List keys under prefix + `sub` (ListObjectsV2, every page). */
typedef struct vs_s3_object {
    char *key;       /* without the configured prefix */
    uint64_t size;
} vs_s3_object;
int vs_s3_list(vs_s3_object **out, size_t *n, vs_s3 *s3,
               const char *sub) VS_WARN_UNUSED;
void vs_s3_objects_free(vs_s3_object *v, size_t n);

/* Multipart uploads still open under the prefix (tests: none must
 * remain after a failure). */
int vs_s3_open_uploads(size_t *n, vs_s3 *s3) VS_WARN_UNUSED;

#endif
