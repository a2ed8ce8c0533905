/* test_crypt: encryption at rest.  Key parsing and key files, the container
 * layout, round trips at every interesting size, a wrong key, every kind of
 * damage (bit flips in each region, truncation, reordered, duplicated and
 * dropped chunks, trailing bytes), the whole-file helpers, and the format
 * layer saving and loading encrypted stores. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt.h"
#include "fmt.h"
#include "fsutil.h"
#include "stream.h"
#include "testutil.h"

#define CHUNK VS_CRYPT_CHUNK
#define HDR VS_CRYPT_HEADER_LEN
#define TAG 16
#define FULL (CHUNK + TAG)

/* For loops: Check's ck_assert records every passing check through a pipe,
 * which costs a system call each. */
#define MUST(expr)                                                             \
    do {                                                                       \
        int must_rc_ = (expr);                                                 \
        if (must_rc_ != 0)                                                     \
            ck_abort_msg("%s: %d %s", #expr, must_rc_, vs_error_last());       \
    } while (0)

static const char key_hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void test_key(uint8_t key[VS_CRYPT_KEY_LEN], uint8_t seed)
{
    for (size_t i = 0; i < VS_CRYPT_KEY_LEN; i++)
        key[i] = (uint8_t)(i + seed);
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(vs_test_rand(&st) >> 56);
    return p;
}

static const size_t write_pattern[5] = {1, 4093, 65537, 7, 300000};

/* Encrypt data[0..n) into a fresh buffer, writing in pattern pieces. */
static void encrypt_buf(vs_buf *out, const uint8_t *data, size_t n,
                        const uint8_t *key)
{
    vs_buf init = VS_BUF_INIT((size_t)1 << 30);
    *out = init;
    vs_stream *mem, *w;
    MUST(vs_stream_mem_writer_new(&mem, out));
    MUST(vs_crypt_writer(&w, mem, key));
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t k = write_pattern[i % 5];
        if (k > n - off)
            k = n - off;
        MUST(vs_stream_write(w, data + off, k));
        off += k;
    }
    MUST(vs_stream_finish(w));
    ck_assert_uint_eq(vs_stream_bytes(w), n);
    vs_stream_free(w);
    vs_stream_free(mem);
    ck_assert_uint_eq(out->len, VS_CRYPT_SIZE(n));
}

/* Decrypt ct[0..n) in reads of `step` bytes.  Returns the error (0 at a
 * clean end); *plain (caller frees) holds the bytes delivered by successful
 * reads.  A failing read must leave the rest of the caller's buffer
 * untouched: no byte of a chunk that failed is ever delivered. */
static int decrypt_buf(uint8_t **plain, size_t *len, const uint8_t *ct,
                       size_t n, const uint8_t *key, size_t step)
{
    vs_stream *mem, *r;
    size_t cap = n + 1, total = 0;
    uint8_t *out = malloc(cap);
    uint8_t *tmp = malloc(step);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(tmp);
    MUST(vs_stream_mem_reader_new(&mem, ct, n));
    MUST(vs_crypt_reader(&r, mem, key));
    int error = 0;
    for (;;) {
        size_t got = 0;
        memset(tmp, 0xA5, step);
        error = vs_stream_read(r, tmp, step, &got);
        if (error < 0) {
            for (size_t i = got; i < step; i++)
                if (tmp[i] != 0xA5)
                    ck_abort_msg("a failing read wrote into the buffer");
            break;
        }
        if (got == 0)
            break;
        ck_assert_uint_le(total + got, cap);
        memcpy(out + total, tmp, got);
        total += got;
    }
    vs_stream_free(r);
    vs_stream_free(mem);
    free(tmp);
    *plain = out;
    *len = total;
    return error;
}

/* Decrypt, expect `code`, and that exactly `delivered` plaintext bytes (the
 * chunks before the damage) came out, equal to the original. */
static void expect_failure(const uint8_t *ct, size_t n, const uint8_t *key,
                           const uint8_t *orig, int code, size_t delivered,
                           const char *what)
{
    uint8_t *plain;
    size_t len;
    int error = decrypt_buf(&plain, &len, ct, n, key, 4096);
    if (error != code)
        ck_abort_msg("%s: got %d (%s), expected %d", what, error,
                     vs_error_last(), code);
    if (len != delivered)
        ck_abort_msg("%s: %zu bytes delivered, expected %zu", what, len,
                     delivered);
    if (len && memcmp(plain, orig, len) != 0)
        ck_abort_msg("%s: delivered bytes differ", what);
    free(plain);
}

/* ---- keys ---- */

START_TEST(test_key_parse_accepts_hex_and_blanks)
{
    uint8_t key[VS_CRYPT_KEY_LEN], want[VS_CRYPT_KEY_LEN];
    for (size_t i = 0; i < VS_CRYPT_KEY_LEN; i++)
        want[i] = (uint8_t)i;
    ck_assert_int_eq(vs_crypt_key_parse(key, key_hex, strlen(key_hex)), 0);
    ck_assert_mem_eq(key, want, sizeof(key));

    char text[128];
    snprintf(text, sizeof(text), "  \t%s\r\n\n", key_hex);
    ck_assert_int_eq(vs_crypt_key_parse(key, text, strlen(text)), 0);
    ck_assert_mem_eq(key, want, sizeof(key));

    /* upper case; the length bounds the text (no NUL needed) */
    snprintf(text, sizeof(text), "%sXYZ", key_hex);
    for (size_t i = 0; i < 64; i++)
        if (text[i] >= 'a' && text[i] <= 'f')
            text[i] = (char)(text[i] - 'a' + 'A');
    ck_assert_int_eq(vs_crypt_key_parse(key, text, 64), 0);
    ck_assert_mem_eq(key, want, sizeof(key));
}
END_TEST

START_TEST(test_key_parse_rejects_bad_keys_without_showing_them)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    char text[160];
    const char *bad[] = {"", "   \n", "abc", NULL, NULL, NULL, NULL};
    snprintf(text, sizeof(text), "%.63s", key_hex); /* 63 digits */
    bad[3] = strdup(text);
    snprintf(text, sizeof(text), "%s0", key_hex); /* 65 digits */
    bad[4] = strdup(text);
    snprintf(text, sizeof(text), "%.40sg%s", key_hex, key_hex + 41);
    bad[5] = strdup(text);
    snprintf(text, sizeof(text), "%.32s %s", key_hex, key_hex + 32);
    bad[6] = strdup(text);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_ptr_nonnull(bad[i]);
        ck_assert_int_eq(vs_crypt_key_parse(key, bad[i], strlen(bad[i])),
                         VS_EINVALID);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "encryption key"));
        ck_assert_ptr_null(strstr(vs_error_last(), "0102030405"));
        ck_assert_ptr_null(strstr(vs_error_last(), "1a1b1c"));
    }
    ck_assert_int_eq(vs_crypt_key_parse(key, NULL, 0), VS_EINVALID);
    for (size_t i = 3; i < 7; i++)
        free((void *)bad[i]);
}
END_TEST

static void write_file(const char *path, const void *data, size_t n)
{
    MUST(vs_fs_write_atomic(path, data, n));
}

START_TEST(test_key_load)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "key");
    uint8_t key[VS_CRYPT_KEY_LEN], want[VS_CRYPT_KEY_LEN];
    MUST(vs_crypt_key_parse(want, key_hex, 64));

    char text[160];
    snprintf(text, sizeof(text), "%s\n", key_hex);
    write_file(path, text, strlen(text));
    ck_assert_int_eq(vs_crypt_key_load(key, path), 0);
    ck_assert_mem_eq(key, want, sizeof(key));
    write_file(path, key_hex, 64); /* no newline */
    ck_assert_int_eq(vs_crypt_key_load(key, path), 0);
    ck_assert_mem_eq(key, want, sizeof(key));

    /* bad content: the file is named, its content is not shown */
    snprintf(text, sizeof(text), "%.60s\n", key_hex);
    write_file(path, text, strlen(text));
    ck_assert_int_eq(vs_crypt_key_load(key, path), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), path));
    ck_assert_ptr_null(strstr(vs_error_last(), "0102030405"));
    snprintf(text, sizeof(text), "%s\n%s\n", key_hex, key_hex);
    write_file(path, text, strlen(text));
    ck_assert_int_eq(vs_crypt_key_load(key, path), VS_EINVALID);
    ck_assert_ptr_null(strstr(vs_error_last(), "0102030405"));
    write_file(path, "", 0);
    ck_assert_int_eq(vs_crypt_key_load(key, path), VS_EINVALID);

    char *missing = vs_test_path(dir, "missing");
    ck_assert_int_eq(vs_crypt_key_load(key, missing), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), missing));
    ck_assert_int_eq(vs_crypt_key_load(key, dir), VS_EIO); /* a directory */
    free(missing);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_layout_and_detect)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 1);
    uint8_t *data = random_bytes(100, 1);
    vs_buf a, b;
    encrypt_buf(&a, data, 100, key);
    encrypt_buf(&b, data, 100, key);
    const uint8_t *h = (const uint8_t *)a.ptr;
    static const uint8_t magic[8] = {0x89, 'V', 'S', 'E', '\r', '\n', 0x1a,
                                     '\n'};
    ck_assert_mem_eq(h, magic, 8);
    ck_assert_uint_eq(h[8] | h[9] << 8, 1);                    /* version */
    ck_assert_uint_eq(h[10], 1);                               /* suite */
    ck_assert_uint_eq(h[11], 0);
    ck_assert_uint_eq(h[12] | h[13] << 8 | h[14] << 16, CHUNK); /* chunk */
    ck_assert_uint_eq(h[55], 0);
    uint8_t digest[VS_SHA256_LEN];
    MUST(vs_sha256_buffer(digest, h, 72));
    ck_assert_mem_eq(digest, h + 72, 8);
    ck_assert_uint_eq(a.len, HDR + 100 + TAG);
    /* a fresh salt and nonce prefix every time */
    ck_assert(memcmp(a.ptr + 16, b.ptr + 16, 39) != 0);
    ck_assert(memcmp(a.ptr + HDR, b.ptr + HDR, 100) != 0);

    ck_assert(vs_crypt_detect(h, a.len));
    ck_assert(vs_crypt_detect(h, 8));
    ck_assert(!vs_crypt_detect(h, 7));
    ck_assert(!vs_crypt_detect((const uint8_t *)"{\"x\":1}", 7));
    ck_assert(!vs_crypt_detect((const uint8_t *)"\x89VSN\r\n\x1a\n", 8));
    ck_assert_uint_eq(VS_CRYPT_SIZE(0), HDR + TAG);
    ck_assert_uint_eq(VS_CRYPT_SIZE(CHUNK), HDR + FULL);
    ck_assert_uint_eq(VS_CRYPT_SIZE(CHUNK + 1), HDR + FULL + 1 + TAG);
    vs_buf_dispose(&a);
    vs_buf_dispose(&b);
    free(data);
}
END_TEST

/* ---- round trips ---- */

static const size_t sizes[] = {0,
                               1,
                               15,
                               16,
                               17,
                               4096,
                               CHUNK - 1,
                               CHUNK,
                               CHUNK + 1,
                               2 * CHUNK,
                               2 * CHUNK + 1,
                               5 * CHUNK - 1,
                               7 * CHUNK + 12345};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
static const size_t read_steps[] = {1, 7, 4096, CHUNK, CHUNK + 3, 1 << 20};

START_TEST(test_round_trip_sizes)
{
    size_t n = sizes[_i];
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 2);
    uint8_t *data = random_bytes(n, n + 1);
    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    for (size_t s = 0; s < sizeof(read_steps) / sizeof(read_steps[0]); s++) {
        if (read_steps[s] == 1 && n > 3 * CHUNK)
            continue; /* byte by byte is slow and proves nothing more */
        uint8_t *plain;
        size_t len;
        MUST(decrypt_buf(&plain, &len, (uint8_t *)ct.ptr, ct.len, key,
                         read_steps[s]));
        ck_assert_uint_eq(len, n);
        if (n)
            ck_assert(memcmp(plain, data, n) == 0);
        free(plain);
    }
    /* the plaintext does not show through */
    if (n >= 16)
        ck_assert_ptr_null(memmem(ct.ptr, ct.len, data, 16));
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

START_TEST(test_round_trip_10mb_random)
{
    size_t n = (size_t)10 << 20;
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 3);
    uint8_t *data = random_bytes(n, 99);
    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    uint8_t *plain;
    size_t len;
    MUST(decrypt_buf(&plain, &len, (uint8_t *)ct.ptr, ct.len, key, 1 << 20));
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(plain, data, n) == 0);
    free(plain);
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

START_TEST(test_stage_arguments)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 4);
    vs_buf buf = VS_BUF_INIT(1 << 20);
    vs_stream *w, *r, *s;
    MUST(vs_stream_mem_writer_new(&w, &buf));
    MUST(vs_stream_mem_reader_new(&r, "", 0));
    ck_assert_int_eq(vs_crypt_reader(&s, w, key), VS_EINVALID);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(vs_crypt_writer(&s, r, key), VS_EINVALID);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(vs_crypt_writer(&s, w, NULL), VS_EINVALID);
    ck_assert_int_eq(vs_crypt_reader(&s, NULL, key), VS_EINVALID);
    /* a writer freed without finish writes nothing */
    MUST(vs_crypt_writer(&s, w, key));
    vs_stream_free(s);
    ck_assert_uint_eq(buf.len, 0);
    vs_stream_free(r);
    vs_stream_free(w);
    vs_buf_dispose(&buf);
}
END_TEST

/* ---- damage ---- */

START_TEST(test_wrong_key_is_ekey_and_delivers_nothing)
{
    uint8_t key[VS_CRYPT_KEY_LEN], other[VS_CRYPT_KEY_LEN];
    test_key(key, 5);
    memcpy(other, key, sizeof(other));
    other[31] ^= 1;
    size_t n = 3 * CHUNK + 5;
    uint8_t *data = random_bytes(n, 5);
    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    expect_failure((uint8_t *)ct.ptr, ct.len, other, data, VS_EKEY, 0,
                   "wrong key");
    ck_assert_str_eq(vs_error_last(), "wrong encryption key");
    /* the message is the same for an empty file */
    vs_buf_dispose(&ct);
    encrypt_buf(&ct, data, 0, key);
    expect_failure((uint8_t *)ct.ptr, ct.len, other, data, VS_EKEY, 0,
                   "wrong key, empty");
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

/* One bit flipped in every header byte, and in the first, middle and last
 * bytes of each chunk's ciphertext and every byte of each tag: the header
 * is refused as corrupt, a chunk fails authentication after exactly the
 * chunks before it were delivered. */
START_TEST(test_bit_flips_in_every_region_fail)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 6);
    size_t n = 2 * CHUNK + 1000; /* chunks: full, full, 1000 bytes */
    uint8_t *data = random_bytes(n, 6);
    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    uint8_t *copy = malloc(ct.len);
    ck_assert_ptr_nonnull(copy);
    char what[96];
    for (size_t i = 0; i < HDR; i++) {
        memcpy(copy, ct.ptr, ct.len);
        copy[i] ^= (uint8_t)(1u << (i % 8));
        snprintf(what, sizeof(what), "header byte %zu", i);
        expect_failure(copy, ct.len, key, data, VS_ECORRUPT, 0, what);
    }
    for (size_t k = 0; k < 3; k++) {
        size_t start = HDR + k * FULL;
        size_t body = k < 2 ? CHUNK : 1000;
        size_t offs[3 + TAG] = {0, body / 2, body - 1};
        for (size_t t = 0; t < TAG; t++)
            offs[3 + t] = body + t;
        for (size_t j = 0; j < 3 + TAG; j++) {
            memcpy(copy, ct.ptr, ct.len);
            copy[start + offs[j]] ^= (uint8_t)(0x80u >> (j % 8));
            snprintf(what, sizeof(what), "chunk %zu byte %zu", k, offs[j]);
            expect_failure(copy, ct.len, key, data, VS_ECORRUPT, k * CHUNK,
                           what);
            if (!strstr(vs_error_last(), "failed authentication"))
                ck_abort_msg("%s: %s", what, vs_error_last());
        }
    }
    free(copy);
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

/* Cut everywhere in the header, at every chunk boundary and around it, and
 * inside chunks, for a file whose last chunk is short and one whose last
 * chunk is full. */
START_TEST(test_truncation_everywhere_fails)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 7);
    const size_t lens[2] = {3 * CHUNK + 777, 3 * CHUNK};
    char what[96];
    for (size_t v = 0; v < 2; v++) {
        size_t n = lens[v];
        uint8_t *data = random_bytes(n, 7 + v);
        vs_buf ct;
        encrypt_buf(&ct, data, n, key);
        for (size_t cut = 0; cut <= HDR; cut++) {
            snprintf(what, sizeof(what), "cut at %zu (header)", cut);
            expect_failure((uint8_t *)ct.ptr, cut, key, data, VS_ECORRUPT, 0,
                           what);
        }
        for (size_t k = 1; k <= 3; k++) {
            size_t edge = HDR + k * FULL;
            if (edge >= ct.len)
                break;
            snprintf(what, sizeof(what), "cut after chunk %zu", k - 1);
            expect_failure((uint8_t *)ct.ptr, edge, key, data, VS_ECORRUPT,
                           (k - 1) * CHUNK, what);
            if (!strstr(vs_error_last(), "truncated"))
                ck_abort_msg("%s: %s", what, vs_error_last());
            size_t around[4] = {edge - 1, edge + 1, edge - FULL / 2,
                                edge + TAG};
            for (size_t j = 0; j < 4; j++) {
                size_t cut = around[j];
                size_t whole = (cut - HDR) / FULL; /* chunks complete */
                snprintf(what, sizeof(what), "cut at %zu", cut);
                expect_failure((uint8_t *)ct.ptr, cut, key, data,
                               VS_ECORRUPT, whole * CHUNK, what);
            }
        }
        for (size_t d = 1; d <= TAG + 1; d++) {
            snprintf(what, sizeof(what), "last %zu bytes cut", d);
            expect_failure((uint8_t *)ct.ptr, ct.len - d, key, data,
                           VS_ECORRUPT, (ct.len - d - HDR) / FULL * CHUNK,
                           what);
        }
        vs_buf_dispose(&ct);
        free(data);
    }
}
END_TEST

/* Build a file from chunk indices of a valid one (-1: none). */
static size_t rebuild(uint8_t *out, const vs_buf *ct, const int *order,
                      size_t norder)
{
    size_t nchunks = (ct->len - HDR + FULL - 1) / FULL, pos = HDR;
    memcpy(out, ct->ptr, HDR);
    for (size_t i = 0; i < norder; i++) {
        size_t k = (size_t)order[i];
        size_t len = k + 1 < nchunks ? FULL : ct->len - HDR - k * FULL;
        memcpy(out + pos, ct->ptr + HDR + k * FULL, len);
        pos += len;
    }
    return pos;
}

START_TEST(test_reordered_duplicated_dropped_chunks_fail)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 8);
    size_t n = 3 * CHUNK + 100; /* chunks 0..2 full, 3 short */
    uint8_t *data = random_bytes(n, 8);
    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    uint8_t *out = malloc(ct.len + 2 * FULL);
    ck_assert_ptr_nonnull(out);
    static const struct {
        int order[6];
        size_t norder;
        size_t delivered; /* chunks */
        const char *what;
    } cases[] = {
        {{1, 0, 2, 3}, 4, 0, "first two swapped"},
        {{0, 2, 1, 3}, 4, 1, "middle swapped"},
        {{0, 1, 3, 2}, 4, 2, "last two swapped"},
        {{0, 0, 1, 2, 3}, 5, 1, "first duplicated"},
        {{0, 1, 2, 2, 3}, 5, 3, "middle duplicated"},
        {{0, 1, 2, 3, 3}, 5, 3, "last duplicated"},
        {{0, 2, 3}, 3, 1, "middle dropped"},
        {{1, 2, 3}, 3, 0, "first dropped"},
        {{0, 1, 2}, 3, 2, "last dropped"},
        {{3}, 1, 0, "only the last"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = rebuild(out, &ct, cases[i].order, cases[i].norder);
        expect_failure(out, len, key, data, VS_ECORRUPT,
                       cases[i].delivered * CHUNK, cases[i].what);
    }
    /* the same chunks, in order, are fine */
    static const int good[4] = {0, 1, 2, 3};
    size_t len = rebuild(out, &ct, good, 4);
    ck_assert_uint_eq(len, ct.len);
    uint8_t *plain;
    size_t got;
    MUST(decrypt_buf(&plain, &got, out, len, key, 4096));
    ck_assert_uint_eq(got, n);
    free(plain);
    /* chunks of another file under the same key do not fit */
    vs_buf other;
    encrypt_buf(&other, data, n, key);
    memcpy(out, ct.ptr, ct.len);
    memcpy(out + HDR + FULL, other.ptr + HDR + FULL, FULL);
    expect_failure(out, ct.len, key, data, VS_ECORRUPT, CHUNK,
                   "chunk from another file");
    vs_buf_dispose(&other);
    free(out);
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

START_TEST(test_trailing_garbage_fails)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 9);
    const size_t lens[3] = {0, 1000, 2 * CHUNK};
    const size_t extra[4] = {1, TAG, FULL, FULL + 5};
    for (size_t v = 0; v < 3; v++) {
        size_t n = lens[v];
        uint8_t *data = random_bytes(n, 9);
        vs_buf ct;
        encrypt_buf(&ct, data, n, key);
        size_t chunks_before_last = n ? (n - 1) / CHUNK : 0;
        for (size_t e = 0; e < 4; e++) {
            uint8_t *out = malloc(ct.len + extra[e]);
            ck_assert_ptr_nonnull(out);
            memcpy(out, ct.ptr, ct.len);
            memset(out + ct.len, 0x5A, extra[e]);
            char what[64];
            snprintf(what, sizeof(what), "%zu + %zu bytes", n, extra[e]);
            expect_failure(out, ct.len + extra[e], key, data, VS_ECORRUPT,
                           chunks_before_last * CHUNK, what);
            free(out);
        }
        /* after a full last chunk the message is precise */
        if (n == 2 * CHUNK)
            ck_assert_ptr_nonnull(strstr(vs_error_last(), "trailing data"));
        vs_buf_dispose(&ct);
        free(data);
    }
}
END_TEST

/* A header byte flipped by `mask`, the checksum fixed up. */
static void edit_header(uint8_t *h, size_t off, uint8_t mask)
{
    uint8_t digest[VS_SHA256_LEN];
    h[off] ^= mask;
    MUST(vs_sha256_buffer(digest, h, 72));
    memcpy(h + 72, digest, 8);
}

START_TEST(test_header_fields_are_checked)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 10);
    uint8_t *data = random_bytes(5000, 10);
    vs_buf ct;
    encrypt_buf(&ct, data, 5000, key);
    uint8_t *copy = malloc(ct.len);
    ck_assert_ptr_nonnull(copy);
    static const struct {
        size_t off;
        uint8_t mask;
        int code;
    } cases[] = {
        {8, 3, VS_EVERSION},     /* version 2 */
        {9, 1, VS_EVERSION},     /* version 257 */
        {10, 3, VS_EVERSION},    /* suite 2 */
        {11, 1, VS_EVERSION},    /* reserved */
        {55, 1, VS_EVERSION},    /* reserved */
        {14, 1, VS_ECORRUPT},    /* chunk size 0: refused */
        {15, 1, VS_ECORRUPT},    /* chunk size 16 MiB + 64 KiB: refused */
        {14, 3, VS_ECORRUPT},    /* chunk size 128 KiB: chunks fail */
        {12, 1, VS_ECORRUPT},    /* chunk size 64 KiB + 1: chunks fail */
        {16, 0xFF, VS_EKEY},     /* salt: the key check no longer matches */
        {47, 0x01, VS_EKEY},     /* salt */
        {56, 0xFF, VS_EKEY},     /* key check */
        {71, 0x80, VS_EKEY},     /* key check */
        {48, 0xFF, VS_ECORRUPT}, /* nonce prefix: chunks fail */
        {54, 0x01, VS_ECORRUPT}  /* nonce prefix */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(copy, ct.ptr, ct.len);
        edit_header(copy, cases[i].off, cases[i].mask);
        char what[64];
        snprintf(what, sizeof(what), "header byte %zu ^ %u", cases[i].off,
                 cases[i].mask);
        expect_failure(copy, ct.len, key, data, cases[i].code, 0, what);
    }
    /* not an encrypted file at all */
    expect_failure((const uint8_t *)"{\"collections\":[]}", 18, key, data,
                   VS_ECORRUPT, 0, "json");
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "not an encrypted file"));
    free(copy);
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

START_TEST(test_failing_streams_report_eio)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 11);
    size_t n = 4 * CHUNK;
    uint8_t *data = random_bytes(n, 11);
    vs_stream *f, *w;
    MUST(vs_stream_failing_new(&f, NULL, true, 100000));
    MUST(vs_crypt_writer(&w, f, key));
    int error = vs_stream_write(w, data, n);
    if (error == 0)
        error = vs_stream_finish(w);
    ck_assert_int_eq(error, VS_EIO);
    vs_stream_free(w);
    vs_stream_free(f);

    vs_buf ct;
    encrypt_buf(&ct, data, n, key);
    vs_stream *mem, *r;
    MUST(vs_stream_mem_reader_new(&mem, ct.ptr, ct.len));
    MUST(vs_stream_failing_new(&f, mem, false, 100000));
    MUST(vs_crypt_reader(&r, f, key));
    uint8_t *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    size_t got;
    ck_assert_int_eq(vs_stream_read(r, buf, n, &got), VS_EIO);
    ck_assert_int_eq(vs_stream_read(r, buf, n, &got), VS_EIO); /* sticky */
    free(buf);
    vs_stream_free(r);
    vs_stream_free(f);
    vs_stream_free(mem);
    vs_buf_dispose(&ct);
    free(data);
}
END_TEST

/* ---- whole files ---- */

static void expect_file(const char *path, const uint8_t *data, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    MUST(vs_fs_read_all(&text, &len, path, (size_t)1 << 30));
    ck_assert_uint_eq(len, n);
    ck_assert(n == 0 || memcmp(text, data, n) == 0);
    free(text);
}

START_TEST(test_encrypt_and_decrypt_files)
{
    uint8_t key[VS_CRYPT_KEY_LEN], other[VS_CRYPT_KEY_LEN];
    test_key(key, 12);
    test_key(other, 13);
    char *dir = vs_test_tmpdir_new();
    char *plain = vs_test_path(dir, "plain");
    char *enc = vs_test_path(dir, "plain.enc");
    char *back = vs_test_path(dir, "back");
    size_t n = 3 * CHUNK + 3;
    uint8_t *data = random_bytes(n, 12);
    write_file(plain, data, n);

    MUST(vs_crypt_encrypt_file(enc, plain, key));
    ck_assert_uint_eq(vs_test_dir_count(dir), 2); /* no temp file left */
    uint8_t digest[VS_SHA256_LEN];
    uint64_t size;
    MUST(vs_sha256_file(digest, &size, enc));
    ck_assert_uint_eq(size, VS_CRYPT_SIZE(n));
    MUST(vs_crypt_decrypt_file(back, enc, key));
    expect_file(back, data, n);
    ck_assert_uint_eq(vs_test_dir_count(dir), 3);

    /* a wrong key or damage leaves the target as it was */
    write_file(back, "old", 3);
    ck_assert_int_eq(vs_crypt_decrypt_file(back, enc, other), VS_EKEY);
    expect_file(back, (const uint8_t *)"old", 3);
    char *text = NULL;
    size_t len = 0;
    MUST(vs_fs_read_all(&text, &len, enc, (size_t)1 << 30));
    text[len - 1] ^= 1;
    write_file(enc, text, len);
    free(text);
    ck_assert_int_eq(vs_crypt_decrypt_file(back, enc, key), VS_ECORRUPT);
    expect_file(back, (const uint8_t *)"old", 3);
    ck_assert_uint_eq(vs_test_dir_count(dir), 3);

    /* decrypting a file that is not encrypted */
    ck_assert_int_eq(vs_crypt_decrypt_file(back, plain, key), VS_ECORRUPT);
    expect_file(back, (const uint8_t *)"old", 3);
    /* a missing source creates nothing */
    char *missing = vs_test_path(dir, "missing");
    char *target = vs_test_path(dir, "target");
    ck_assert_int_eq(vs_crypt_encrypt_file(target, missing, key),
                     VS_ENOTFOUND);
    ck_assert_uint_eq(vs_test_dir_count(dir), 3);
    /* in place */
    MUST(vs_crypt_encrypt_file(plain, plain, key));
    MUST(vs_crypt_decrypt_file(plain, plain, key));
    expect_file(plain, data, n);
    free(missing);
    free(target);
    free(data);
    free(back);
    free(enc);
    free(plain);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- the format layer ---- */

static const vs_format_id formats[] = {VS_FORMAT_BIN, VS_FORMAT_JSON,
                                       VS_FORMAT_SQLITE};
static const vs_codec_id codecs[] = {VS_CODEC_NONE, VS_CODEC_ZSTD};
#define MARKER "plaintext_marker_collection"

static void expect_equal(const vs_store *a, const vs_store *b,
                         const char *what)
{
    char why[512];
    if (!vs_test_store_equal(a, b, true, why, sizeof(why)))
        ck_abort_msg("%s: %s", what, why);
}

/* loop index -> (format, codec) */
START_TEST(test_fmt_round_trip_encrypted)
{
    vs_format_id format = formats[_i / 2];
    vs_codec_id codec = codecs[_i % 2];
    char what[64];
    snprintf(what, sizeof(what), "%s/%s", vs_format_name(format),
             vs_codec_info_of(codec)->name);
    uint8_t key[VS_CRYPT_KEY_LEN], other[VS_CRYPT_KEY_LEN];
    test_key(key, 20);
    test_key(other, 21);
    vs_store *st =
        vs_test_random_store(MARKER, 3000, 16, VS_METRIC_COSINE, true, 20);
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "db.enc");
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.format = format;
    so.codec = codec;
    so.key = key;
    vs_file_info saved;
    if (vs_fmt_save_file(&saved, path, st, &so) < 0)
        ck_abort_msg("%s: save: %s", what, vs_error_last());
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    ck_assert_int_eq(saved.format, format);
    ck_assert_int_eq(saved.codec, codec);

    /* the stored bytes: the container, hashed as stored, no plaintext */
    char *text = NULL;
    size_t len = 0;
    MUST(vs_fs_read_all(&text, &len, path, (size_t)1 << 30));
    ck_assert(vs_crypt_detect((uint8_t *)text, len));
    ck_assert_uint_eq(len, saved.bytes);
    uint8_t digest[VS_SHA256_LEN];
    MUST(vs_sha256_buffer(digest, text, len));
    ck_assert(vs_sha256_equal(digest, saved.sha256));
    ck_assert_ptr_null(memmem(text, len, MARKER, strlen(MARKER)));
    ck_assert_ptr_null(memmem(text, len, "\"tag\":\"t", 8));
    ck_assert_ptr_null(memmem(text, len, "SQLite format 3", 15));

    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.key = key;
    vs_store *back = NULL;
    vs_file_info info;
    if (vs_fmt_load_file(&back, &info, path, &lo) < 0)
        ck_abort_msg("%s: load: %s", what, vs_error_last());
    ck_assert_int_eq(info.format, format);
    ck_assert_int_eq(info.codec, codec);
    ck_assert(info.content_verified);
    ck_assert_uint_eq(info.bytes, saved.bytes);
    ck_assert(vs_sha256_equal(info.sha256, saved.sha256));
    expect_equal(st, back, what);
    vs_store_free(back);

    /* no key, a wrong key */
    lo.key = NULL;
    ck_assert_int_eq(vs_fmt_load_file(&back, &info, path, &lo), VS_EKEY);
    ck_assert_ptr_null(back);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "no key is configured"));
    lo.key = other;
    ck_assert_int_eq(vs_fmt_load_file(&back, &info, path, &lo), VS_EKEY);
    ck_assert_ptr_null(back);
    ck_assert_str_eq(vs_error_last(), "wrong encryption key");

    /* through streams */
    vs_buf buf = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *w = NULL, *r = NULL;
    MUST(vs_stream_mem_writer_new(&w, &buf));
    vs_file_info sinfo;
    if (vs_fmt_save_stream(&sinfo, w, st, &so) < 0)
        ck_abort_msg("%s: save stream: %s", what, vs_error_last());
    vs_stream_free(w);
    ck_assert_uint_eq(sinfo.bytes, buf.len);
    ck_assert(vs_crypt_detect((uint8_t *)buf.ptr, buf.len));
    lo.key = key;
    MUST(vs_stream_mem_reader_new(&r, buf.ptr, buf.len));
    if (vs_fmt_load_stream(&back, &info, r, &lo) < 0)
        ck_abort_msg("%s: load stream: %s", what, vs_error_last());
    vs_stream_free(r);
    ck_assert_int_eq(info.format, format);
    ck_assert_int_eq(info.codec, codec);
    ck_assert(vs_sha256_equal(info.sha256, sinfo.sha256));
    expect_equal(st, back, what);
    vs_store_free(back);
    lo.key = NULL;
    MUST(vs_stream_mem_reader_new(&r, buf.ptr, buf.len));
    ck_assert_int_eq(vs_fmt_load_stream(&back, &info, r, &lo), VS_EKEY);
    vs_stream_free(r);

    /* damage in the middle of the stored file */
    text[len / 2] ^= 0x10;
    write_file(path, text, len);
    lo.key = key;
    ck_assert_int_eq(vs_fmt_load_file(&back, &info, path, &lo), VS_ECORRUPT);
    ck_assert_ptr_null(back);
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);

    vs_buf_dispose(&buf);
    free(text);
    free(path);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

/* A key in the load options does not get in the way of plain files, and an
 * encrypted file's inner codec is found whatever the file is called. */
START_TEST(test_fmt_plain_files_and_names)
{
    uint8_t key[VS_CRYPT_KEY_LEN];
    test_key(key, 22);
    vs_store *st = vs_test_random_store("c", 200, 4, VS_METRIC_DOT, true, 22);
    char *dir = vs_test_tmpdir_new();
    char *plain = vs_test_path(dir, "db.vsnap");
    char *enc = vs_test_path(dir, "db.json.br.enc");
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    MUST(vs_fmt_save_file(NULL, plain, st, &so));
    so.format = VS_FORMAT_JSON;
    so.codec = VS_CODEC_BROTLI;
    so.key = key;
    MUST(vs_fmt_save_file(NULL, enc, st, &so));

    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.key = key;
    vs_store *back = NULL;
    vs_file_info info;
    MUST(vs_fmt_load_file(&back, &info, plain, &lo));
    expect_equal(st, back, "plain with a key");
    vs_store_free(back);
    MUST(vs_fmt_load_file(&back, &info, enc, &lo));
    ck_assert_int_eq(info.format, VS_FORMAT_JSON);
    ck_assert_int_eq(info.codec, VS_CODEC_BROTLI);
    expect_equal(st, back, "json brotli encrypted");
    vs_store_free(back);
    free(enc);
    free(plain);
    vs_test_tmpdir_free(dir);
    vs_store_free(st);
}
END_TEST

static Suite *crypt_suite(void)
{
    Suite *s = suite_create("crypt");
    TCase *tc = tcase_create("keys");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_key_parse_accepts_hex_and_blanks);
    tcase_add_test(tc, test_key_parse_rejects_bad_keys_without_showing_them);
    tcase_add_test(tc, test_key_load);
    tcase_add_test(tc, test_layout_and_detect);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_round_trip_sizes, 0, (int)NSIZES);
    tcase_add_test(tc, test_round_trip_10mb_random);
    tcase_add_test(tc, test_stage_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("damage");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_wrong_key_is_ekey_and_delivers_nothing);
    tcase_add_test(tc, test_bit_flips_in_every_region_fail);
    tcase_add_test(tc, test_truncation_everywhere_fails);
    tcase_add_test(tc, test_reordered_duplicated_dropped_chunks_fail);
    tcase_add_test(tc, test_trailing_garbage_fails);
    tcase_add_test(tc, test_header_fields_are_checked);
    tcase_add_test(tc, test_failing_streams_report_eio);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_encrypt_and_decrypt_files);
    tcase_add_loop_test(tc, test_fmt_round_trip_encrypted, 0, 6);
    tcase_add_test(tc, test_fmt_plain_files_and_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crypt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
