/*
 * checksum: the one SHA-256 implementation (OpenSSL EVP; SHA-NI where the CPU
 * has it).  Everything written carries a SHA-256 and every read verifies it.
 */
#ifndef VS_CHECKSUM_H
#define VS_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VS_SHA256_LEN 32
#define VS_SHA256_HEX_LEN 64

typedef struct vs_sha256 vs_sha256;

/* Call once before threads start (fetches the digest); later calls are
 * no-ops.  vs_sha256_new calls it too. */
int vs_checksum_global_init(void);

int vs_sha256_new(vs_sha256 **out) VS_WARN_UNUSED;
void vs_sha256_update(vs_sha256 *h, const void *data, size_t n);
/* Writes the digest and resets the context for reuse. */
void vs_sha256_final(vs_sha256 *h, uint8_t out[VS_SHA256_LEN]);
void vs_sha256_free(vs_sha256 *h);
/* A new context in the same state as `h` (the bytes hashed so far), so a
 * digest can be taken of a prefix while `h` goes on. */
int vs_sha256_copy(vs_sha256 **out, const vs_sha256 *h) VS_WARN_UNUSED;

/* One-shot digest. */
int vs_sha256_buffer(uint8_t out[VS_SHA256_LEN], const void *data, size_t n);
/* Digest of a whole file; *size_out (may be NULL) gets its length.
 * VS_ENOTFOUND, VS_EIO. */
int vs_sha256_file(uint8_t out[VS_SHA256_LEN], uint64_t *size_out,
                   const char *path) VS_WARN_UNUSED;

/* Lowercase hex; `hex` has room for VS_SHA256_HEX_LEN + 1. */
void vs_sha256_hex(char *hex, const uint8_t digest[VS_SHA256_LEN]);
/* Parses 64 hex digits; VS_EINVALID. */
int vs_sha256_parse_hex(uint8_t out[VS_SHA256_LEN], const char *hex,
                        size_t len);
/* Constant-time comparison. */
bool vs_sha256_equal(const uint8_t a[VS_SHA256_LEN],
                     const uint8_t b[VS_SHA256_LEN]);

#endif
