/*
 * crypt: the encryption stage (AES-256-GCM in authenticated chunks, in the
 * manner of age's STREAM and Tink's streaming AEAD), key parsing, and the
 * whole-file helpers.  The container is specified in docs/FORMAT.md.
 *
 *   header (80 bytes): magic, version, suite, chunk size, salt, nonce
 *                      prefix, key check, header checksum
 *   chunk i:           AES-256-GCM(subkey, nonce_i, aad = header,
 *                      plaintext_i) || 16-byte tag
 *   subkey || check  = HKDF-SHA256(key, salt, "vecsnap encryption v1", 48)
 *   nonce_i          = prefix (7) || i (u32 big-endian) || last (0 or 1)
 *
 * Every chunk but the last holds exactly `chunk` bytes of plaintext; the
 * last holds 0 ... chunk bytes and is sealed with the last flag.  The writer
 * keeps one chunk pending until more data arrives, so the final chunk is
 * never empty unless the whole plaintext is.
 *
 * The reader reads one chunk plus one look-ahead byte: a full chunk with
 * more data behind it is a middle chunk, anything else must be the last.
 * When authentication fails it tries the other flag only to name the
 * failure precisely (a file cut at a chunk boundary, bytes after the last
 * chunk); plaintext reaches the caller only from a chunk that passed.
 */
#include "crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "checksum.h"
#include "fsutil.h"

#define MAGIC_LEN 8
#define CONTAINER_VERSION 1
#define SUITE_GCM_HKDF 1
#define SALT_LEN 32
#define PREFIX_LEN 7
#define CHECK_LEN 16
#define SUM_LEN 8
#define TAG_LEN 16
#define NONCE_LEN 12
#define CHUNK_MIN ((size_t)1 << 10)
#define CHUNK_MAX ((size_t)1 << 20)
#define COPY_BUF ((size_t)256 << 10)
#define KEYFILE_MAX 128

/* Header offsets. */
enum {
    OFF_VERSION = 8,
    OFF_SUITE = 10,
    OFF_RESERVED = 11,
    OFF_CHUNK = 12,
    OFF_SALT = 16,
    OFF_PREFIX = 48,
    OFF_RESERVED2 = 55,
    OFF_CHECK = 56,
    OFF_SUM = 72
};

static const uint8_t magic[MAGIC_LEN] = {0x89, 'V', 'S', 'E',
                                         '\r', '\n', 0x1a, '\n'};
static const char kdf_info[] = "vecsnap encryption v1";

typedef struct crypt_stream {
    vs_stream base;
    EVP_CIPHER_CTX *ctx;
    uint8_t key[VS_CRYPT_KEY_LEN]; /* reader: until the header is read */
    uint8_t header[VS_CRYPT_HEADER_LEN];
    size_t chunk;      /* plaintext bytes per chunk */
    uint64_t counter;  /* index of the next chunk */
    uint8_t *pt;       /* plaintext: pending (writer) or authenticated */
    size_t pt_len;
    size_t pt_pos;     /* reader: bytes of pt delivered */
    uint8_t *ct;       /* one sealed chunk (+ the reader's look-ahead) */
    size_t ct_len;     /* reader: bytes held in ct */
    bool started;      /* header written or read */
    bool done;         /* reader: the final chunk was opened */
} crypt_stream;

/* ---- keys ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int vs_crypt_key_parse(uint8_t key[VS_CRYPT_KEY_LEN], const char *hex,
                       size_t n)
{
    memset(key, 0, VS_CRYPT_KEY_LEN);
    if (!hex)
        return vs_error_set(VS_EINVALID, "no encryption key given");
    while (n > 0 && is_blank(hex[0])) {
        hex++;
        n--;
    }
    while (n > 0 && is_blank(hex[n - 1]))
        n--;
    if (n != 2 * VS_CRYPT_KEY_LEN)
        return vs_error_set(VS_EINVALID,
                            "encryption key must be 64 hex digits (%zu "
                            "characters given)",
                            n);
    _Static_assert(VS_CRYPT_KEY_LEN == VS_SHA256_LEN, "a key is 32 bytes");
    if (vs_sha256_parse_hex(key, hex, n) < 0) {
        OPENSSL_cleanse(key, VS_CRYPT_KEY_LEN);
        return vs_error_set(VS_EINVALID,
                            "encryption key must be 64 hex digits (a "
                            "character is not a hex digit)");
    }
    return 0;
}

int vs_crypt_key_load(uint8_t key[VS_CRYPT_KEY_LEN], const char *path)
{
    char text[KEYFILE_MAX + 1];
    size_t n = 0;
    int error = 0;
    memset(key, 0, VS_CRYPT_KEY_LEN);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "failed to open encryption key file "
                                       "'%s'",
                               path);
    while (n < sizeof(text)) {
        ssize_t r = read(fd, text + n, sizeof(text) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error = vs_error_set_os(VS_EIO,
                                    "failed to read encryption key file "
                                    "'%s'",
                                    path);
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > KEYFILE_MAX || vs_crypt_key_parse(key, text, n) < 0) {
        OPENSSL_cleanse(key, VS_CRYPT_KEY_LEN);
        error = vs_error_set(VS_EINVALID,
                             "encryption key file '%s' must hold 64 hex "
                             "digits (and an optional newline)",
                             path);
    }
done:
    OPENSSL_cleanse(text, sizeof(text));
    close(fd);
    return error;
}

bool vs_crypt_detect(const uint8_t *head, size_t n)
{
    return n >= MAGIC_LEN && memcmp(head, magic, MAGIC_LEN) == 0;
}

/* ---- header and key schedule ---- */

static void put_u32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* subkey || key check = HKDF-SHA256(key, salt, kdf_info). */
static int derive(uint8_t subkey[VS_CRYPT_KEY_LEN], uint8_t check[CHECK_LEN],
                  const uint8_t key[VS_CRYPT_KEY_LEN],
                  const uint8_t salt[SALT_LEN])
{
    uint8_t ikm[VS_CRYPT_KEY_LEN], s[SALT_LEN];
    uint8_t okm[VS_CRYPT_KEY_LEN + CHECK_LEN];
    char digest[] = "SHA256";
    char info[sizeof(kdf_info)];
    memcpy(ikm, key, sizeof(ikm));
    memcpy(s, salt, sizeof(s));
    memcpy(info, kdf_info, sizeof(info));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm,
                                          sizeof(ikm)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, s, sizeof(s)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
                                          sizeof(info) - 1),
        OSSL_PARAM_construct_end()};
    int error = 0;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    if (!kctx || EVP_KDF_derive(kctx, okm, sizeof(okm), params) != 1) {
        error = vs_error_set(VS_ERROR, "key derivation (HKDF-SHA256) failed");
        goto done;
    }
    memcpy(subkey, okm, VS_CRYPT_KEY_LEN);
    memcpy(check, okm + VS_CRYPT_KEY_LEN, CHECK_LEN);
done:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(ikm, sizeof(ikm));
    OPENSSL_cleanse(okm, sizeof(okm));
    return error;
}

/* The first 8 bytes of SHA-256 over the header before the checksum. */
static int header_sum(uint8_t out[SUM_LEN], const uint8_t *header)
{
    uint8_t digest[VS_SHA256_LEN];
    int error = vs_sha256_buffer(digest, header, OFF_SUM);
    if (error == 0)
        memcpy(out, digest, SUM_LEN);
    return error;
}

/* Set the cipher up with the subkey (the nonce is set per chunk). */
static int init_cipher(crypt_stream *c, const uint8_t subkey[VS_CRYPT_KEY_LEN],
                       bool encrypt)
{
    c->ctx = EVP_CIPHER_CTX_new();
    if (!c->ctx)
        return vs_error_oom();
    if (EVP_CipherInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, subkey, NULL,
                          encrypt ? 1 : 0) != 1)
        return vs_error_set(VS_ERROR, "failed to set up AES-256-GCM");
    return 0;
}

static int alloc_buffers(crypt_stream *c)
{
    c->pt = malloc(c->chunk);
    c->ct = malloc(c->chunk + TAG_LEN + 1);
    if (!c->pt || !c->ct)
        return vs_error_oom();
    return 0;
}

static void make_nonce(uint8_t nonce[NONCE_LEN], const crypt_stream *c,
                       uint64_t idx, bool last)
{
    memcpy(nonce, c->header + OFF_PREFIX, PREFIX_LEN);
    nonce[7] = (uint8_t)(idx >> 24);
    nonce[8] = (uint8_t)(idx >> 16);
    nonce[9] = (uint8_t)(idx >> 8);
    nonce[10] = (uint8_t)idx;
    nonce[11] = last ? 1 : 0;
}

/* ---- writer ---- */

/* Seal pt[0..n) as chunk `counter` into c->ct and pass it below. */
static int seal(crypt_stream *c, const uint8_t *pt, size_t n, bool last)
{
    uint8_t nonce[NONCE_LEN];
    int len = 0, fin = 0;
    if (c->counter > UINT32_MAX)
        return vs_error_set(VS_ETOOBIG,
                            "encrypted stream longer than %llu chunks",
                            (unsigned long long)UINT32_MAX + 1);
    make_nonce(nonce, c, c->counter, last);
    if (EVP_EncryptInit_ex(c->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(c->ctx, NULL, &len, c->header,
                          VS_CRYPT_HEADER_LEN) != 1 ||
        (n > 0 && EVP_EncryptUpdate(c->ctx, c->ct, &len, pt, (int)n) != 1) ||
        EVP_EncryptFinal_ex(c->ctx, c->ct + (n > 0 ? (size_t)len : 0),
                            &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN,
                            c->ct + n) != 1)
        return vs_error_set(VS_ERROR, "AES-256-GCM encryption failed");
    c->counter++;
    return vs_stream_write(c->base.inner, c->ct, n + TAG_LEN);
}

static int send_header(crypt_stream *c)
{
    if (c->started)
        return 0;
    c->started = true;
    return vs_stream_write(c->base.inner, c->header, VS_CRYPT_HEADER_LEN);
}

static int crypt_write(vs_stream *s, const void *data, size_t n)
{
    crypt_stream *c = (crypt_stream *)s;
    const uint8_t *p = data;
    int error = send_header(c);
    while (error == 0 && n > 0) {
        if (c->pt_len == c->chunk) {
            /* More data follows, so the pending chunk is not the last. */
            error = seal(c, c->pt, c->pt_len, false);
            c->pt_len = 0;
        } else if (c->pt_len == 0 && n > c->chunk) {
            error = seal(c, p, c->chunk, false);
            p += c->chunk;
            n -= c->chunk;
        } else {
            size_t k = c->chunk - c->pt_len < n ? c->chunk - c->pt_len : n;
            memcpy(c->pt + c->pt_len, p, k);
            c->pt_len += k;
            p += k;
            n -= k;
        }
    }
    return error;
}

static int crypt_finish(vs_stream *s)
{
    crypt_stream *c = (crypt_stream *)s;
    int error = send_header(c);
    if (error == 0)
        error = seal(c, c->pt, c->pt_len, true);
    c->pt_len = 0;
    return error;
}

static void crypt_close(vs_stream *s)
{
    crypt_stream *c = (crypt_stream *)s;
    EVP_CIPHER_CTX_free(c->ctx);
    if (c->pt)
        OPENSSL_cleanse(c->pt, c->chunk);
    free(c->pt);
    free(c->ct);
    OPENSSL_cleanse(c->key, sizeof(c->key));
}

static const vs_stream_ops writer_ops = {.name = "encrypt",
                                         .write = crypt_write,
                                         .finish = crypt_finish,
                                         .close = crypt_close};

static int new_stream(crypt_stream **out, vs_stream *below,
                      const uint8_t *key, const vs_stream_ops *ops,
                      bool writer)
{
    *out = NULL;
    if (!below || !key)
        return vs_error_set(VS_EINVALID, "encryption stage needs a stream "
                                         "and a key");
    if (below->is_writer != writer)
        return vs_error_set(VS_EINVALID,
                            "an encryption %s needs a %s below it",
                            writer ? "writer" : "reader",
                            writer ? "writer" : "reader");
    crypt_stream *c = calloc(1, sizeof(*c));
    if (!c)
        return vs_error_oom();
    vs_stream__init(&c->base, ops, below, writer);
    *out = c;
    return 0;
}

int vs_crypt_writer(vs_stream **out, vs_stream *below,
                    const uint8_t key[VS_CRYPT_KEY_LEN])
{
    crypt_stream *c;
    uint8_t subkey[VS_CRYPT_KEY_LEN];
    *out = NULL;
    int error = new_stream(&c, below, key, &writer_ops, true);
    if (error < 0)
        return error;
    c->chunk = VS_CRYPT_CHUNK;
    uint8_t *h = c->header;
    memcpy(h, magic, MAGIC_LEN);
    h[OFF_VERSION] = CONTAINER_VERSION;
    h[OFF_VERSION + 1] = 0;
    h[OFF_SUITE] = SUITE_GCM_HKDF;
    put_u32le(h + OFF_CHUNK, (uint32_t)c->chunk);
    if (RAND_bytes(h + OFF_SALT, SALT_LEN) != 1 ||
        RAND_bytes(h + OFF_PREFIX, PREFIX_LEN) != 1) {
        error = vs_error_set(VS_ERROR, "no random bytes for the salt");
        goto done;
    }
    error = derive(subkey, h + OFF_CHECK, key, h + OFF_SALT);
    if (error == 0)
        error = header_sum(h + OFF_SUM, h);
    if (error == 0)
        error = alloc_buffers(c);
    if (error == 0)
        error = init_cipher(c, subkey, true);
done:
    OPENSSL_cleanse(subkey, sizeof(subkey));
    if (error < 0) {
        vs_stream_free(&c->base);
        return error;
    }
    *out = &c->base;
    return 0;
}

/* ---- reader ---- */

/* Read until n bytes or the end of the data. */
static int read_full(vs_stream *in, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t k;
        int error = vs_stream_read(in, p + *got, n - *got, &k);
        if (error < 0)
            return error;
        if (k == 0)
            break;
        *got += k;
    }
    return 0;
}

static int read_header(crypt_stream *c)
{
    uint8_t *h = c->header;
    uint8_t sum[SUM_LEN], check[CHECK_LEN], subkey[VS_CRYPT_KEY_LEN];
    size_t got;
    c->started = true;
    int error = read_full(c->base.inner, h, VS_CRYPT_HEADER_LEN, &got);
    if (error < 0)
        goto done;
    if (!vs_crypt_detect(h, got)) {
        error = vs_error_set(VS_ECORRUPT, "not an encrypted file (bad magic)");
        goto done;
    }
    if (got < VS_CRYPT_HEADER_LEN) {
        error = vs_error_set(VS_ECORRUPT, "encrypted file is truncated "
                                          "(in its header)");
        goto done;
    }
    error = header_sum(sum, h);
    if (error < 0)
        goto done;
    if (CRYPTO_memcmp(sum, h + OFF_SUM, SUM_LEN) != 0) {
        error = vs_error_set(VS_ECORRUPT, "encrypted file header is corrupt "
                                          "(checksum mismatch)");
        goto done;
    }
    unsigned version = h[OFF_VERSION] | (unsigned)h[OFF_VERSION + 1] << 8;
    if (version != CONTAINER_VERSION || h[OFF_SUITE] != SUITE_GCM_HKDF ||
        h[OFF_RESERVED] != 0 || h[OFF_RESERVED2] != 0) {
        error = vs_error_set(VS_EVERSION,
                             "encrypted file version %u suite %u is not "
                             "supported (this build reads version 1 suite 1)",
                             version, h[OFF_SUITE]);
        goto done;
    }
    c->chunk = get_u32le(h + OFF_CHUNK);
    if (c->chunk < CHUNK_MIN || c->chunk > CHUNK_MAX) {
        error = vs_error_set(VS_ECORRUPT,
                             "encrypted file has a bad chunk size (%zu)",
                             c->chunk);
        goto done;
    }
    error = derive(subkey, check, c->key, h + OFF_SALT);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    if (error < 0)
        goto done;
    if (CRYPTO_memcmp(check, h + OFF_CHECK, CHECK_LEN) != 0) {
        error = vs_error_set(VS_EKEY, "wrong encryption key");
        goto done;
    }
    error = alloc_buffers(c);
    if (error == 0)
        error = init_cipher(c, subkey, false);
done:
    OPENSSL_cleanse(subkey, sizeof(subkey));
    return error;
}

/* Open ct[0..n) (ciphertext and tag) as chunk `idx` into c->pt.
 * True when it authenticates; nothing of a chunk that fails stays in pt. */
static bool open_chunk(crypt_stream *c, size_t n, uint64_t idx, bool last)
{
    uint8_t nonce[NONCE_LEN];
    size_t body = n - TAG_LEN;
    int len = 0, fin = 0;
    make_nonce(nonce, c, idx, last);
    if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, NULL, nonce) != 1 ||
        EVP_DecryptUpdate(c->ctx, NULL, &len, c->header,
                          VS_CRYPT_HEADER_LEN) != 1 ||
        (body > 0 &&
         EVP_DecryptUpdate(c->ctx, c->pt, &len, c->ct, (int)body) != 1) ||
        EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
                            c->ct + body) != 1 ||
        EVP_DecryptFinal_ex(c->ctx, c->pt + (body > 0 ? (size_t)len : 0),
                            &fin) != 1) {
        OPENSSL_cleanse(c->pt, body);
        return false;
    }
    return true;
}

static int auth_failed(const crypt_stream *c, bool short_chunk)
{
    unsigned long long at =
        VS_CRYPT_HEADER_LEN + c->counter * (uint64_t)(c->chunk + TAG_LEN);
    return vs_error_set(VS_ECORRUPT,
                        "encrypted chunk %llu failed authentication (at "
                        "byte %llu%s)",
                        (unsigned long long)c->counter, at,
                        short_chunk ? "; truncated or altered" : "");
}

/* Read, authenticate and decrypt the next chunk into c->pt. */
static int next_chunk(crypt_stream *c)
{
    size_t full = c->chunk + TAG_LEN, got;
    if (c->counter > UINT32_MAX)
        return vs_error_set(VS_ECORRUPT, "encrypted file has too many "
                                         "chunks");
    int error = read_full(c->base.inner, c->ct + c->ct_len,
                          full + 1 - c->ct_len, &got);
    if (error < 0)
        return error;
    size_t have = c->ct_len + got;
    c->pt_pos = 0;
    if (have < TAG_LEN)
        return vs_error_set(VS_ECORRUPT, "encrypted file is truncated (it "
                                         "ends before its final chunk)");
    if (have > full) {
        /* A full chunk with more behind it: a middle chunk. */
        if (!open_chunk(c, full, c->counter, false)) {
            if (open_chunk(c, full, c->counter, true))
                return vs_error_set(VS_ECORRUPT,
                                    "trailing data after the final "
                                    "encrypted chunk");
            return auth_failed(c, false);
        }
        c->pt_len = c->chunk;
        c->ct[0] = c->ct[full];
        c->ct_len = 1;
        c->counter++;
        return 0;
    }
    /* The data ended: this must be the final chunk. */
    c->ct_len = 0;
    if (!open_chunk(c, have, c->counter, true)) {
        if (have == full && open_chunk(c, full, c->counter, false))
            return vs_error_set(VS_ECORRUPT,
                                "encrypted file is truncated (it ends "
                                "after chunk %llu, before its final chunk)",
                                (unsigned long long)c->counter);
        return auth_failed(c, have < full);
    }
    c->pt_len = have - TAG_LEN;
    c->counter++;
    c->done = true;
    return 0;
}

static int crypt_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    crypt_stream *c = (crypt_stream *)s;
    uint8_t *p = data;
    int error = 0;
    *got = 0;
    if (!c->started)
        error = read_header(c);
    while (error == 0 && *got < n) {
        if (c->pt_pos < c->pt_len) {
            size_t k = c->pt_len - c->pt_pos;
            if (k > n - *got)
                k = n - *got;
            memcpy(p + *got, c->pt + c->pt_pos, k);
            c->pt_pos += k;
            *got += k;
        } else if (c->done) {
            break;
        } else {
            error = next_chunk(c);
        }
    }
    return error;
}

static const vs_stream_ops reader_ops = {
    .name = "decrypt", .read = crypt_read, .close = crypt_close};

int vs_crypt_reader(vs_stream **out, vs_stream *below,
                    const uint8_t key[VS_CRYPT_KEY_LEN])
{
    crypt_stream *c;
    *out = NULL;
    int error = new_stream(&c, below, key, &reader_ops, false);
    if (error < 0)
        return error;
    memcpy(c->key, key, VS_CRYPT_KEY_LEN);
    *out = &c->base;
    return 0;
}

/* ---- whole files ---- */

static int copy_stream(vs_stream *out, vs_stream *in)
{
    uint8_t *buf = malloc(COPY_BUF);
    int error = buf ? 0 : vs_error_oom();
    while (error == 0) {
        size_t got;
        error = vs_stream_read(in, buf, COPY_BUF, &got);
        if (error < 0 || got == 0)
            break;
        error = vs_stream_write(out, buf, got);
    }
    free(buf);
    return error;
}

static int transform_file(const char *dst, const char *src,
                          const uint8_t *key, bool encrypt)
{
    vs_atomic *af = NULL;
    vs_stream *in = NULL, *file = NULL, *stage = NULL;
    int error = vs_stream_file_reader_new(&in, src);
    if (error == 0)
        error = vs_atomic_open(&af, dst);
    if (error == 0)
        error = vs_stream_fd_writer_new(&file, vs_atomic_fd(af), false);
    if (error < 0)
        goto done;
    if (encrypt) {
        error = vs_crypt_writer(&stage, file, key);
        if (error == 0)
            error = copy_stream(stage, in);
        if (error == 0)
            error = vs_stream_finish(stage);
    } else {
        error = vs_crypt_reader(&stage, in, key);
        if (error == 0)
            error = copy_stream(file, stage);
    }
    if (error == 0)
        error = vs_stream_finish(file);
done:
    vs_stream_free(stage);
    vs_stream_free(file);
    vs_stream_free(in);
    if (error < 0) {
        vs_atomic_abort(af);
        return error;
    }
    /* vs_atomic_commit fsyncs the data before the rename. */
    return vs_atomic_commit(af);
}

int vs_crypt_encrypt_file(const char *dst, const char *src,
                          const uint8_t key[VS_CRYPT_KEY_LEN])
{
    return transform_file(dst, src, key, true);
}

int vs_crypt_decrypt_file(const char *dst, const char *src,
                          const uint8_t key[VS_CRYPT_KEY_LEN])
{
    return transform_file(dst, src, key, false);
}
