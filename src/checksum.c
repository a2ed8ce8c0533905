/* checksum: SHA-256 through OpenSSL EVP. */
#include "checksum.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vs_sha256 {
    EVP_MD_CTX *ctx;
};

static const EVP_MD *sha256_md;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void do_init(void)
{
    /* An explicitly fetched digest avoids a provider lookup (and its lock)
     * on every init, which also keeps forked children away from them. */
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md)
        sha256_md = EVP_sha256();
}

int vs_checksum_global_init(void)
{
    pthread_once(&init_once, do_init);
    return sha256_md ? 0 : vs_error_set(VS_ERROR, "sha256 is unavailable");
}

int vs_sha256_new(vs_sha256 **out)
{
    *out = NULL;
    int error = vs_checksum_global_init();
    if (error < 0)
        return error;
    vs_sha256 *h = calloc(1, sizeof(*h));
    if (!h)
        return vs_error_oom();
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, sha256_md, NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return vs_error_set(VS_ERROR, "failed to initialise sha256");
    }
    *out = h;
    return 0;
}

void vs_sha256_update(vs_sha256 *h, const void *data, size_t n)
{
    if (n)
        EVP_DigestUpdate(h->ctx, data, n);
}

void vs_sha256_final(vs_sha256 *h, uint8_t out[VS_SHA256_LEN])
{
    unsigned int len = VS_SHA256_LEN;
    EVP_DigestFinal_ex(h->ctx, out, &len);
    EVP_DigestInit_ex(h->ctx, sha256_md, NULL);
}

void vs_sha256_free(vs_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int vs_sha256_copy(vs_sha256 **out, const vs_sha256 *h)
{
    *out = NULL;
    vs_sha256 *c = calloc(1, sizeof(*c));
    if (!c)
        return vs_error_oom();
    c->ctx = EVP_MD_CTX_new();
    if (!c->ctx || EVP_MD_CTX_copy_ex(c->ctx, h->ctx) != 1) {
        EVP_MD_CTX_free(c->ctx);
        free(c);
        return vs_error_set(VS_ERROR, "failed to copy a sha256 context");
    }
    *out = c;
    return 0;
}

int vs_sha256_buffer(uint8_t out[VS_SHA256_LEN], const void *data, size_t n)
{
    vs_sha256 *h;
    int error = vs_sha256_new(&h);
    if (error < 0)
        return error;
    vs_sha256_update(h, data, n);
    vs_sha256_final(h, out);
    vs_sha256_free(h);
    return 0;
}

int vs_sha256_file(uint8_t out[VS_SHA256_LEN], uint64_t *size_out,
                   const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "failed to open '%s'", path);
    vs_sha256 *h = NULL;
    uint64_t total = 0;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int error = buf ? vs_sha256_new(&h) : vs_error_oom();
    while (error == 0) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = vs_error_set_os(VS_EIO, "failed to read '%s'", path);
            break;
        }
        if (n == 0)
            break;
        vs_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    if (error == 0) {
        vs_sha256_final(h, out);
        if (size_out)
            *size_out = total;
    }
    vs_sha256_free(h);
    free(buf);
    close(fd);
    return error;
}

void vs_sha256_hex(char *hex, const uint8_t digest[VS_SHA256_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < VS_SHA256_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[VS_SHA256_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vs_sha256_parse_hex(uint8_t out[VS_SHA256_LEN], const char *hex,
                        size_t len)
{
    if (len != VS_SHA256_HEX_LEN)
        return vs_error_set(VS_EINVALID, "sha256 must be 64 hex digits");
    for (size_t i = 0; i < VS_SHA256_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return vs_error_set(VS_EINVALID, "sha256 must be 64 hex digits");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool vs_sha256_equal(const uint8_t a[VS_SHA256_LEN],
                     const uint8_t b[VS_SHA256_LEN])
{
    return CRYPTO_memcmp(a, b, VS_SHA256_LEN) == 0;
}
