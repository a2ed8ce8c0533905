/* test_stream: the stream base and helpers (stream.c), memory and file
 * streams, the SHA-256 stage, atomic files (fsutil.c) and checksum.c. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "fsutil.h"
#include "stream.h"
#include "testutil.h"

#define MiB ((size_t)1 << 20)

/* For tight loops: Check's ck_assert records every passing check through a
 * pipe, which costs a system call each. */
#define MUST(expr)                                                             \
    do {                                                                       \
        int must_rc_ = (expr);                                                 \
        if (must_rc_ != 0)                                                     \
            ck_abort_msg("%s: %d %s", #expr, must_rc_, vs_error_last());       \
    } while (0)

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(vs_test_rand(&st) >> 56);
    return p;
}

static void write_file(const char *path, const char *text)
{
    ck_assert_int_eq(vs_fs_write_atomic(path, text, strlen(text)), 0);
}

static void assert_file(const char *path, const char *text)
{
    char *got;
    size_t len;
    ck_assert_int_eq(vs_fs_read_all(&got, &len, path, 1 << 20), 0);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_str_eq(got, text);
    free(got);
}

/* ---- stream.c ----------------------------------------------------------- */

START_TEST(test_typed_values_round_trip)
{
    static const uint64_t varints[] = {
        0, 1, 127, 128, 16383, 16384, UINT32_MAX, 1ull << 63, UINT64_MAX};
    vs_buf b = VS_BUF_INIT(1 << 20);
    vs_stream *w;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_stream_write_u8(w, 0xab), 0);
    ck_assert_int_eq(vs_stream_write_u32le(w, 0x01020304u), 0);
    ck_assert_int_eq(vs_stream_write_u64le(w, 0x1122334455667788ull), 0);
    for (size_t i = 0; i < sizeof(varints) / sizeof(varints[0]); i++)
        ck_assert_int_eq(vs_stream_write_varint(w, varints[i]), 0);
    ck_assert_int_eq(vs_stream_finish(w), 0);
    ck_assert_uint_eq(vs_stream_bytes(w), b.len);
    vs_stream_free(w);
    /* Little-endian on the wire, and LEB128 lengths. */
    ck_assert_uint_eq((uint8_t)b.ptr[1], 0x04);
    ck_assert_uint_eq((uint8_t)b.ptr[4], 0x01);
    ck_assert_uint_eq((uint8_t)b.ptr[5], 0x88);
    ck_assert_uint_eq(b.len, 1 + 4 + 8 + (1 + 1 + 1 + 2 + 2 + 3 + 5 + 10 + 10));

    vs_stream *r;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, b.ptr, b.len), 0);
    uint8_t u8;
    uint32_t u32;
    uint64_t u64;
    ck_assert_int_eq(vs_stream_read_u8(r, &u8), 0);
    ck_assert_uint_eq(u8, 0xab);
    ck_assert_int_eq(vs_stream_read_u32le(r, &u32), 0);
    ck_assert_uint_eq(u32, 0x01020304u);
    ck_assert_int_eq(vs_stream_read_u64le(r, &u64), 0);
    ck_assert_uint_eq(u64, 0x1122334455667788ull);
    for (size_t i = 0; i < sizeof(varints) / sizeof(varints[0]); i++) {
        ck_assert_int_eq(vs_stream_read_varint(r, &u64), 0);
        ck_assert_uint_eq(u64, varints[i]);
    }
    ck_assert_int_eq(vs_stream_read_u8(r, &u8), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "unexpected end of data"));
    vs_stream_free(r);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_bad_varints_are_corrupt)
{
    uint8_t overlong[11];
    memset(overlong, 0x80, sizeof(overlong));
    uint8_t overflow[10];
    memset(overflow, 0xff, 9);
    overflow[9] = 0x02; /* bit 64 */
    uint8_t truncated[2] = {0x80, 0x80};
    uint64_t v;
    vs_stream *r;

    ck_assert_int_eq(vs_stream_mem_reader_new(&r, overlong, 11), 0);
    ck_assert_int_eq(vs_stream_read_varint(r, &v), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "varint"));
    vs_stream_free(r);
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, overflow, 10), 0);
    ck_assert_int_eq(vs_stream_read_varint(r, &v), VS_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "overflows"));
    vs_stream_free(r);
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, truncated, 2), 0);
    ck_assert_int_eq(vs_stream_read_varint(r, &v), VS_ECORRUPT);
    vs_stream_free(r);

    /* The largest 10-byte varint is accepted. */
    overflow[9] = 0x01;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, overflow, 10), 0);
    ck_assert_int_eq(vs_stream_read_varint(r, &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    vs_stream_free(r);
}
END_TEST

START_TEST(test_errors_are_sticky_with_their_message)
{
    vs_stream *w;
    ck_assert_int_eq(vs_stream_failing_new(&w, NULL, true, 10), 0);
    ck_assert_int_eq(vs_stream_write(w, "12345", 5), 0);
    ck_assert_int_eq(vs_stream_write(w, "123456", 6), VS_EIO);
    vs_error_clear();
    /* Later writes fail at once, even ones that would fit. */
    ck_assert_int_eq(vs_stream_write(w, "1", 1), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "injected failure"));
    vs_error_clear();
    ck_assert_int_eq(vs_stream_finish(w), VS_EIO);
    vs_error_clear();
    ck_assert_int_eq(vs_stream_error(w), VS_EIO);
    ck_assert_int_eq(vs_error_last_code(), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "injected failure"));
    ck_assert_uint_eq(vs_stream_bytes(w), 5);
    vs_stream_free(w);
}
END_TEST

START_TEST(test_finish_is_idempotent_and_ends_writes)
{
    vs_buf b = VS_BUF_INIT(100);
    vs_stream *w, *r;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_stream_write(w, "ab", 2), 0);
    ck_assert_int_eq(vs_stream_write(w, NULL, 0), 0);
    ck_assert_int_eq(vs_stream_finish(w), 0);
    ck_assert_int_eq(vs_stream_finish(w), 0);
    ck_assert_int_eq(vs_stream_write(w, "c", 1), VS_EINVALID);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "after finish"));
    ck_assert_int_eq(vs_stream_error(w), VS_EINVALID);
    vs_stream_free(w);
    ck_assert_uint_eq(b.len, 2);

    /* finish on a reader is a no-op. */
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, b.ptr, b.len), 0);
    ck_assert_int_eq(vs_stream_finish(r), 0);
    vs_stream_free(r);
    vs_stream_free(NULL);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_prefixed_replays_head_then_inner)
{
    const char *text = "0123456789abcdefghij";
    vs_stream *in, *p;
    char out[32];
    size_t got;
    /* The sniffed head is replayed, then the rest comes from inner. */
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, text + 4, 16), 0);
    ck_assert_int_eq(vs_stream_prefixed_new(&p, text, 4, in), 0);
    ck_assert_int_eq(vs_stream_read(p, out, 3, &got), 0);
    ck_assert_uint_eq(got, 3);
    ck_assert_int_eq(vs_stream_read(p, out + 3, 5, &got), 0); /* straddles */
    ck_assert_uint_eq(got, 5);
    ck_assert_int_eq(vs_stream_read(p, out + 8, 100, &got), 0);
    ck_assert_uint_eq(got, 12);
    ck_assert_int_eq(memcmp(out, text, 20), 0);
    ck_assert_int_eq(vs_stream_read(p, out, 10, &got), 0);
    ck_assert_uint_eq(got, 0);
    ck_assert_uint_eq(vs_stream_bytes(p), 20);
    vs_stream_free(p);
    vs_stream_free(in);

    /* An empty head is just the inner stream. */
    ck_assert_int_eq(vs_stream_mem_reader_new(&in, text, 20), 0);
    ck_assert_int_eq(vs_stream_prefixed_new(&p, NULL, 0, in), 0);
    ck_assert_int_eq(vs_stream_read_exact(p, out, 20), 0);
    ck_assert_int_eq(memcmp(out, text, 20), 0);
    vs_stream_free(p);
    vs_stream_free(in);
}
END_TEST

/* ---- stream_mem.c ------------------------------------------------------- */

START_TEST(test_mem_writer_respects_buffer_cap)
{
    vs_buf b = VS_BUF_INIT(10);
    vs_stream *w;
    ck_assert_int_eq(vs_stream_mem_writer_new(&w, &b), 0);
    ck_assert_int_eq(vs_stream_write(w, "12345678", 8), 0);
    ck_assert_int_eq(vs_stream_write(w, "123", 3), VS_ETOOBIG);
    ck_assert_int_eq(vs_stream_write(w, "1", 1), VS_ETOOBIG);
    ck_assert_int_eq(vs_stream_finish(w), VS_ETOOBIG);
    ck_assert_uint_eq(b.len, 8);
    vs_stream_free(w);
    vs_buf_dispose(&b);
}
END_TEST

START_TEST(test_mem_reader_short_only_at_end)
{
    uint8_t *data = random_bytes(1000, 1);
    vs_stream *r;
    uint8_t out[1000];
    size_t got, total = 0;
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, data, 1000), 0);
    for (size_t k = 1; total < 1000; k += 37) {
        ck_assert_int_eq(vs_stream_read(r, out + total,
                                        k < 1000 - total ? k : 1000 - total,
                                        &got),
                         0);
        ck_assert_uint_gt(got, 0);
        total += got;
    }
    ck_assert_int_eq(memcmp(out, data, 1000), 0);
    ck_assert_int_eq(vs_stream_read(r, out, 1, &got), 0);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(vs_stream_read(r, out, 0, &got), 0);
    vs_stream_free(r);
    free(data);
    /* An empty span may be NULL (an empty vs_buf). */
    ck_assert_int_eq(vs_stream_mem_reader_new(&r, NULL, 0), 0);
    ck_assert_int_eq(vs_stream_read(r, out, 10, &got), 0);
    ck_assert_uint_eq(got, 0);
    vs_stream_free(r);
}
END_TEST

/* ---- stream_file.c ------------------------------------------------------ */

START_TEST(test_file_round_trip_mixed_sizes)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "f.bin");
    size_t n = 3 * VS_STREAM_FILE_BUFSZ + 12345;
    uint8_t *data = random_bytes(n, 2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    vs_stream *w;
    ck_assert_int_eq(vs_stream_fd_writer_new(&w, fd, true), 0);
    /* Small writes, one bigger than the buffer, ones that just overflow. */
    static const size_t sizes[] = {
        1,     7, 4096, VS_STREAM_FILE_BUFSZ + 3, VS_STREAM_FILE_BUFSZ / 2 + 1,
        65536, 3};
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t k = sizes[i % 7] < n - off ? sizes[i % 7] : n - off;
        ck_assert_int_eq(vs_stream_write(w, data + off, k), 0);
        off += k;
    }
    ck_assert_int_eq(vs_stream_finish(w), 0);
    vs_stream_free(w);
    close(fd);

    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, n);

    vs_stream *r;
    ck_assert_int_eq(vs_stream_file_reader_new(&r, path), 0);
    uint8_t *back = malloc(n + 10);
    ck_assert_ptr_nonnull(back);
    off = 0;
    size_t got;
    for (size_t i = 3;; i++) {
        size_t k = sizes[i % 7];
        ck_assert_int_eq(vs_stream_read(r, back + off,
                                        k < n + 10 - off ? k : n + 10 - off,
                                        &got),
                         0);
        off += got;
        if (got < k)
            break;
    }
    ck_assert_uint_eq(off, n);
    ck_assert_int_eq(memcmp(back, data, n), 0);
    ck_assert_uint_eq(vs_stream_bytes(r), n);
    vs_stream_free(r);
    free(back);
    free(data);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_file_reader_missing_is_not_found)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "nope");
    vs_stream *r = (vs_stream *)1;
    ck_assert_int_eq(vs_stream_file_reader_new(&r, path), VS_ENOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "nope"));
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_fd_writer_on_pipe_fsyncs_quietly)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    vs_stream *w;
    ck_assert_int_eq(vs_stream_fd_writer_new(&w, fds[1], true), 0);
    ck_assert_int_eq(vs_stream_write(w, "hello", 5), 0);
    ck_assert_int_eq(vs_stream_finish(w), 0); /* EINVAL from fdatasync */
    vs_stream_free(w);
    close(fds[1]);
    vs_stream *r;
    char buf[16];
    size_t got;
    ck_assert_int_eq(vs_stream_fd_reader_new(&r, fds[0]), 0);
    ck_assert_int_eq(vs_stream_read(r, buf, sizeof(buf), &got), 0);
    ck_assert_uint_eq(got, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    vs_stream_free(r);
    close(fds[0]);
}
END_TEST

START_TEST(test_fd_errors_are_io_errors)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "f");
    write_file(path, "content");
    /* A writer on a read-only fd fails when it flushes. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    vs_stream *w;
    ck_assert_int_eq(vs_stream_fd_writer_new(&w, fd, false), 0);
    ck_assert_int_eq(vs_stream_write(w, "abc", 3), 0); /* buffered */
    ck_assert_int_eq(vs_stream_finish(w), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "failed to write"));
    vs_stream_free(w);
    close(fd);
    /* A reader on a write-only fd fails at once. */
    fd = open(path, O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    vs_stream *r;
    char buf[8];
    size_t got;
    ck_assert_int_eq(vs_stream_fd_reader_new(&r, fd), 0);
    ck_assert_int_eq(vs_stream_read(r, buf, sizeof(buf), &got), VS_EIO);
    vs_stream_free(r);
    close(fd);
    assert_file(path, "content");
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- stream_hash.c ------------------------------------------------------ */

static const size_t chunk_patterns[][6] = {
    {1, 2, 3, 5, 7, 11},
    {4096, 1, 65537, 3, 1000, 17},
    {MiB, 1, MiB - 1, 2, 3 * MiB + 1, 7},
    {MiB + 1, 333333, MiB, 5, 8191, 2 * MiB},
};
#define NPATTERNS (sizeof(chunk_patterns) / sizeof(chunk_patterns[0]))

static void assert_digest_of(const uint8_t got[VS_SHA256_LEN],
                             const uint8_t *data, size_t n)
{
    uint8_t want[VS_SHA256_LEN];
    ck_assert_int_eq(vs_sha256_buffer(want, data, n), 0);
    ck_assert_mem_eq(got, want, VS_SHA256_LEN);
}

/* Peeking re-hashes the prefix to compare, so peek about ten times a
 * stream, at chunk numbers that land at varied offsets in the blocks. */
static size_t peek_interval(size_t n, const size_t *pattern)
{
    size_t sum = 0;
    for (int i = 0; i < 6; i++)
        sum += pattern[i];
    size_t chunks = n / (sum / 6) + 1;
    return chunks / 10 + 1;
}

/* Writes data[0..n) in the chunk pattern, peeking now and then, and checks
 * what reached the inner writer and the digests. */
static void hash_write_check(const uint8_t *data, size_t n, bool threaded,
                             const size_t *pattern)
{
    size_t peek_every = peek_interval(n, pattern);
    vs_buf b = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *mem, *h;
    uint8_t digest[VS_SHA256_LEN];
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &b), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, mem, threaded), 0);
    ck_assert(vs_stream_is_hash(h));
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t k = pattern[i % 6] < n - off ? pattern[i % 6] : n - off;
        MUST(vs_stream_write(h, data + off, k));
        off += k;
        if (i % peek_every == 0) {
            ck_assert_int_eq(vs_stream_hash_peek(h, digest), 0);
            assert_digest_of(digest, data, off);
        }
    }
    ck_assert_int_eq(vs_stream_finish(h), 0);
    ck_assert(!mem->finished); /* finish does not propagate */
    ck_assert_uint_eq(b.len, n);
    ck_assert(n == 0 || memcmp(b.ptr, data, n) == 0);
    ck_assert_int_eq(vs_stream_hash_peek(h, digest), 0);
    assert_digest_of(digest, data, n);
    ck_assert_uint_eq(vs_stream_bytes(h), n);
    vs_stream_free(h);
    vs_stream_free(mem);
    vs_buf_dispose(&b);
}

static void hash_read_check(const uint8_t *data, size_t n, bool threaded,
                            const size_t *pattern)
{
    size_t peek_every = peek_interval(n, pattern);
    vs_stream *mem, *h;
    uint8_t digest[VS_SHA256_LEN];
    uint8_t *back = malloc(n + 1);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, n), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, mem, threaded), 0);
    ck_assert(vs_stream_is_hash(h));
    size_t off = 0, got;
    for (size_t i = 0;; i++) {
        size_t k = pattern[i % 6] < n + 1 - off ? pattern[i % 6] : n + 1 - off;
        MUST(vs_stream_read(h, back + off, k, &got));
        off += got;
        if (i % peek_every == 0) {
            ck_assert_int_eq(vs_stream_hash_peek(h, digest), 0);
            assert_digest_of(digest, data, off);
        }
        if (got < k)
            break;
        if (off > n)
            ck_abort_msg("read %zu bytes of %zu", off, n);
    }
    ck_assert_uint_eq(off, n);
    ck_assert(n == 0 || memcmp(back, data, n) == 0);
    ck_assert_int_eq(vs_stream_hash_peek(h, digest), 0);
    assert_digest_of(digest, data, n);
    vs_stream_free(h);
    vs_stream_free(mem);
    free(back);
}

START_TEST(test_hash_writer_digest_for_many_chunkings)
{
    static const size_t sizes[] = {0,   1,       100,        MiB - 1,
                                   MiB, MiB + 1, 5 * MiB + 3};
    uint8_t *data = random_bytes(5 * MiB + 3, 3);
    for (int threaded = 0; threaded < 2; threaded++)
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (size_t p = 0; p < NPATTERNS; p++) {
                if (p == 0 && sizes[s] > MiB + 1)
                    continue; /* one-byte writes: keep it quick */
                hash_write_check(data, sizes[s], threaded, chunk_patterns[p]);
            }
    free(data);
}
END_TEST

START_TEST(test_hash_reader_digest_for_many_chunkings)
{
    static const size_t sizes[] = {0,   1,       100,        MiB - 1,
                                   MiB, MiB + 1, 5 * MiB + 3};
    uint8_t *data = random_bytes(5 * MiB + 3, 4);
    for (int threaded = 0; threaded < 2; threaded++)
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
            for (size_t p = 0; p < NPATTERNS; p++) {
                if (p == 0 && sizes[s] > MiB + 1)
                    continue;
                hash_read_check(data, sizes[s], threaded, chunk_patterns[p]);
            }
    free(data);
}
END_TEST

/* A reader peeks right before a trailer: the digest covers exactly the
 * bytes delivered, not what the stage read ahead. */
START_TEST(test_hash_reader_peek_before_trailer)
{
    size_t body = 2 * MiB + 77;
    uint8_t *data = random_bytes(body + VS_SHA256_LEN, 5);
    ck_assert_int_eq(vs_sha256_buffer(data + body, data, body), 0);
    for (int threaded = 0; threaded < 2; threaded++) {
        vs_stream *mem, *h;
        uint8_t *back = malloc(body);
        uint8_t trailer[VS_SHA256_LEN], digest[VS_SHA256_LEN];
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(
            vs_stream_mem_reader_new(&mem, data, body + VS_SHA256_LEN), 0);
        ck_assert_int_eq(vs_stream_hash_new(&h, mem, threaded), 0);
        ck_assert_int_eq(vs_stream_read_exact(h, back, body), 0);
        ck_assert_int_eq(vs_stream_hash_peek(h, digest), 0);
        ck_assert_int_eq(vs_stream_read_exact(h, trailer, VS_SHA256_LEN), 0);
        ck_assert(vs_sha256_equal(digest, trailer));
        vs_stream_free(h);
        vs_stream_free(mem);
        free(back);
    }
    free(data);
}
END_TEST

static void hash_big(uint8_t out[VS_SHA256_LEN], const uint8_t *data, size_t n,
                     bool threaded, bool writer)
{
    vs_stream *inner, *h;
    if (writer)
        ck_assert_int_eq(vs_stream_failing_new(&inner, NULL, true, UINT64_MAX),
                         0);
    else
        ck_assert_int_eq(vs_stream_mem_reader_new(&inner, data, n), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, inner, threaded), 0);
    size_t chunk = 256 * 1024 + 3;
    if (writer) {
        for (size_t off = 0; off < n; off += chunk)
            ck_assert_int_eq(vs_stream_write(h, data + off,
                                             chunk < n - off ? chunk : n - off),
                             0);
        ck_assert_int_eq(vs_stream_finish(h), 0);
    } else {
        uint8_t *buf = malloc(chunk);
        size_t got;
        ck_assert_ptr_nonnull(buf);
        do {
            ck_assert_int_eq(vs_stream_read(h, buf, chunk, &got), 0);
        } while (got == chunk);
        free(buf);
    }
    ck_assert_uint_eq(vs_stream_bytes(h), n);
    ck_assert_int_eq(vs_stream_hash_peek(h, out), 0);
    vs_stream_free(h);
    vs_stream_free(inner);
}

START_TEST(test_hash_of_50mb_threaded_equals_unthreaded)
{
    size_t n = 50 * 1000 * 1000 + 13;
    uint8_t *data = random_bytes(n, 6);
    uint8_t a[VS_SHA256_LEN], b[VS_SHA256_LEN], c[VS_SHA256_LEN],
        d[VS_SHA256_LEN];
    hash_big(a, data, n, false, true);
    hash_big(b, data, n, true, true);
    hash_big(c, data, n, false, false);
    hash_big(d, data, n, true, false);
    ck_assert_mem_eq(a, b, VS_SHA256_LEN);
    ck_assert_mem_eq(a, c, VS_SHA256_LEN);
    ck_assert_mem_eq(a, d, VS_SHA256_LEN);
    assert_digest_of(a, data, n);
    free(data);
}
END_TEST

START_TEST(test_hash_writer_reports_inner_failure)
{
    uint8_t *data = random_bytes(3 * MiB, 7);
    for (int threaded = 0; threaded < 2; threaded++) {
        vs_stream *fail, *h;
        uint8_t digest[VS_SHA256_LEN];
        ck_assert_int_eq(vs_stream_failing_new(&fail, NULL, true, MiB + 5), 0);
        ck_assert_int_eq(vs_stream_hash_new(&h, fail, threaded), 0);
        int first = 0;
        for (size_t off = 0; off < 3 * MiB && first == 0; off += 4096)
            first = vs_stream_write(h, data + off, 4096);
        int fin = vs_stream_finish(h);
        /* Unthreaded fails on the write that passes the limit; threaded
         * when that block is flushed. */
        ck_assert_int_eq(fin, VS_EIO);
        ck_assert(first == VS_EIO || first == 0);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "injected failure"));
        ck_assert_int_eq(vs_stream_hash_peek(h, digest), VS_EIO);
        vs_stream_free(h);
        vs_stream_free(fail);
    }
    free(data);
}
END_TEST

START_TEST(test_hash_reader_reports_inner_failure)
{
    uint8_t *data = random_bytes(3 * MiB, 8);
    for (int threaded = 0; threaded < 2; threaded++) {
        vs_stream *mem, *fail, *h;
        uint8_t buf[5000];
        size_t got;
        int error = 0;
        ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, 3 * MiB), 0);
        ck_assert_int_eq(vs_stream_failing_new(&fail, mem, false, 2 * MiB), 0);
        ck_assert_int_eq(vs_stream_hash_new(&h, fail, threaded), 0);
        for (size_t i = 0; i < 3 * MiB / sizeof(buf) + 2 && error == 0; i++)
            error = vs_stream_read(h, buf, sizeof(buf), &got);
        ck_assert_int_eq(error, VS_EIO);
        ck_assert_int_eq(vs_stream_read(h, buf, 1, &got), VS_EIO);
        vs_stream_free(h);
        vs_stream_free(fail);
        vs_stream_free(mem);
    }
    free(data);
}
END_TEST

START_TEST(test_hash_freed_without_finish)
{
    /* Blocks still queued for the hasher when the stage is freed: no leak,
     * no use after free (ASan), the inner stream got the full blocks. */
    uint8_t *data = random_bytes(6 * MiB, 9);
    vs_buf b = VS_BUF_INIT((size_t)1 << 30);
    vs_stream *mem, *h;
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &b), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, mem, true), 0);
    ck_assert_int_eq(vs_stream_write(h, data, 6 * MiB - 1), 0);
    vs_stream_free(h);
    ck_assert_uint_eq(b.len, 5 * MiB);
    vs_stream_free(mem);
    vs_buf_dispose(&b);
    /* A threaded stage that never saw a byte. */
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, 0), 0);
    ck_assert_int_eq(vs_stream_hash_new(&h, mem, true), 0);
    vs_stream_free(h);
    vs_stream_free(mem);
    free(data);
}
END_TEST

START_TEST(test_hash_peek_needs_a_hash_stage)
{
    vs_buf b = VS_BUF_INIT(100);
    vs_stream *mem;
    uint8_t digest[VS_SHA256_LEN];
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &b), 0);
    ck_assert(!vs_stream_is_hash(mem));
    ck_assert(!vs_stream_is_hash(NULL));
    ck_assert_int_eq(vs_stream_hash_peek(mem, digest), VS_EINVALID);
    vs_stream_free(mem);
    vs_buf_dispose(&b);
}
END_TEST

/* ---- fsutil.c: atomic files --------------------------------------------- */

START_TEST(test_atomic_commit_replaces_target)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "target");
    write_file(path, "old");
    vs_atomic *af;
    ck_assert_int_eq(vs_atomic_open(&af, path), 0);
    ck_assert_str_eq(vs_atomic_target(af), path);
    ck_assert_int_eq(access(vs_atomic_tmp_path(af), F_OK), 0);
    ck_assert_int_eq(vs_fs_write_full(vs_atomic_fd(af), "new content", 11), 0);
    assert_file(path, "old"); /* nothing visible before commit */
    ck_assert_int_eq(vs_atomic_commit(af), 0);
    assert_file(path, "new content");
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_atomic_abort_leaves_nothing)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "target");
    vs_atomic *af;
    ck_assert_int_eq(vs_atomic_open(&af, path), 0);
    ck_assert_int_eq(vs_fs_write_full(vs_atomic_fd(af), "x", 1), 0);
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    vs_atomic_abort(af);
    ck_assert_uint_eq(vs_test_dir_count(dir), 0);
    vs_atomic_abort(NULL);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_atomic_write_failing_midway_keeps_target)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "target");
    write_file(path, "precious");
    uint8_t *data = random_bytes(4 * MiB, 10);
    vs_atomic *af;
    vs_stream *fw, *fail;
    ck_assert_int_eq(vs_atomic_open(&af, path), 0);
    ck_assert_int_eq(vs_stream_fd_writer_new(&fw, vs_atomic_fd(af), true), 0);
    ck_assert_int_eq(vs_stream_failing_new(&fail, fw, true, 3 * MiB), 0);
    int error = 0;
    for (size_t off = 0; off < 4 * MiB && error == 0; off += 65536)
        error = vs_stream_write(fail, data + off, 65536);
    ck_assert_int_eq(error, VS_EIO);
    /* Part of the data reached the temp file, never the target. */
    struct stat st;
    ck_assert_int_eq(stat(vs_atomic_tmp_path(af), &st), 0);
    ck_assert_uint_gt((uint64_t)st.st_size, 0);
    vs_stream_free(fail);
    vs_stream_free(fw);
    vs_atomic_abort(af);
    assert_file(path, "precious");
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    free(data);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_atomic_commit_failure_cleans_up)
{
    /* The target is a non-empty directory: rename fails, the temp file
     * goes away and the directory is untouched. */
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "target");
    char *inside = vs_test_path(path, "keep");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    write_file(inside, "kept");
    vs_atomic *af;
    ck_assert_int_eq(vs_atomic_open(&af, path), 0);
    ck_assert_int_eq(vs_fs_write_full(vs_atomic_fd(af), "x", 1), 0);
    ck_assert_int_eq(vs_atomic_commit(af), VS_EIO);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "rename"));
    ck_assert_uint_eq(vs_test_dir_count(dir), 1);
    assert_file(inside, "kept");
    free(inside);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_mkdirs_creates_nested_and_rejects_empty)
{
    char *dir = vs_test_tmpdir_new();
    char *deep = vs_test_path(dir, "a/b/c");
    ck_assert_int_eq(vs_fs_mkdirs(deep), 0);
    ck_assert_int_eq(vs_fs_mkdirs(deep), 0); /* existing is fine */
    ck_assert_int_eq(vs_test_dir_count(deep), 0);
    /* An empty path used to read past the end of its copy. */
    ck_assert_int_eq(vs_fs_mkdirs(""), VS_EINVALID);
    free(deep);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_atomic_open_in_missing_dir)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "no/such/target");
    vs_atomic *af = (vs_atomic *)1;
    ck_assert_int_eq(vs_atomic_open(&af, path), VS_ENOTFOUND);
    ck_assert_ptr_null(af);
    ck_assert_uint_eq(vs_test_dir_count(dir), 0);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

START_TEST(test_read_all_cap)
{
    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "f");
    write_file(path, "0123456789");
    char *got = NULL;
    size_t len;
    ck_assert_int_eq(vs_fs_read_all(&got, &len, path, 9), VS_ETOOBIG);
    ck_assert_ptr_null(got);
    ck_assert_int_eq(vs_fs_read_all(&got, &len, path, 10), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_str_eq(got, "0123456789");
    free(got);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST

/* ---- checksum.c --------------------------------------------------------- */

static void assert_hex(const uint8_t d[VS_SHA256_LEN], const char *want)
{
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, d);
    ck_assert_str_eq(hex, want);
}

START_TEST(test_sha256_known_vectors)
{
    uint8_t d[VS_SHA256_LEN];
    ck_assert_int_eq(vs_sha256_buffer(d, "abc", 3), 0);
    assert_hex(d, "ba7816bf8f01cfea414140de5dae2223"
                  "b00361a396177a9cb410ff61f20015ad");
    ck_assert_int_eq(vs_sha256_buffer(d, "", 0), 0);
    assert_hex(d, "e3b0c44298fc1c149afbf4c8996fb924"
                  "27ae41e4649b934ca495991b7852b855");
    /* The two-block vector of FIPS 180-2, in pieces; final resets. */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    vs_sha256 *h;
    ck_assert_int_eq(vs_sha256_new(&h), 0);
    vs_sha256_update(h, m, 10);
    vs_sha256_update(h, m + 10, strlen(m) - 10);
    vs_sha256_final(h, d);
    assert_hex(d, "248d6a61d20638b8e5c026930c3e6039"
                  "a33ce45964ff2167f6ecedd419db06c1");
    vs_sha256_update(h, "abc", 3);
    vs_sha256_final(h, d);
    assert_hex(d, "ba7816bf8f01cfea414140de5dae2223"
                  "b00361a396177a9cb410ff61f20015ad");
    vs_sha256_free(h);
}
END_TEST

START_TEST(test_sha256_copy_is_independent)
{
    vs_sha256 *h, *c;
    uint8_t d[VS_SHA256_LEN];
    ck_assert_int_eq(vs_sha256_new(&h), 0);
    vs_sha256_update(h, "ab", 2);
    ck_assert_int_eq(vs_sha256_copy(&c, h), 0);
    vs_sha256_update(c, "c", 1);
    vs_sha256_final(c, d);
    assert_hex(d, "ba7816bf8f01cfea414140de5dae2223"
                  "b00361a396177a9cb410ff61f20015ad");
    vs_sha256_final(h, d); /* "ab" only */
    uint8_t want[VS_SHA256_LEN];
    ck_assert_int_eq(vs_sha256_buffer(want, "ab", 2), 0);
    ck_assert(vs_sha256_equal(d, want));
    vs_sha256_free(c);
    vs_sha256_free(h);
}
END_TEST

START_TEST(test_sha256_hex_and_file)
{
    uint8_t d[VS_SHA256_LEN], p[VS_SHA256_LEN];
    char hex[VS_SHA256_HEX_LEN + 1];
    ck_assert_int_eq(vs_sha256_buffer(d, "abc", 3), 0);
    vs_sha256_hex(hex, d);
    ck_assert_int_eq(vs_sha256_parse_hex(p, hex, 64), 0);
    ck_assert(vs_sha256_equal(d, p));
    hex[0] = 'B'; /* uppercase is accepted */
    ck_assert_int_eq(vs_sha256_parse_hex(p, hex, 64), 0);
    ck_assert(vs_sha256_equal(d, p));
    hex[5] = 'g';
    ck_assert_int_eq(vs_sha256_parse_hex(p, hex, 64), VS_EINVALID);
    ck_assert_int_eq(vs_sha256_parse_hex(p, hex, 63), VS_EINVALID);
    p[31] ^= 1;
    ck_assert(!vs_sha256_equal(d, p));

    char *dir = vs_test_tmpdir_new();
    char *path = vs_test_path(dir, "f");
    write_file(path, "abc");
    uint64_t size = 0;
    ck_assert_int_eq(vs_sha256_file(p, &size, path), 0);
    ck_assert_uint_eq(size, 3);
    ck_assert(vs_sha256_equal(d, p));
    char *missing = vs_test_path(dir, "missing");
    ck_assert_int_eq(vs_sha256_file(p, NULL, missing), VS_ENOTFOUND);
    free(missing);
    free(path);
    vs_test_tmpdir_free(dir);
}
END_TEST


/* ---- async stage ---- */

START_TEST(test_async_delivers_every_byte_in_order)
{
    static const size_t chunks[] = {1, 7, 4096, 1 << 20, (1 << 20) + 3};
    size_t n = (3u << 20) + 12345;
    uint8_t *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        vs_buf buf = VS_BUF_INIT((size_t)64 << 20);
        vs_stream *mem = NULL, *a = NULL;
        ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &buf), 0);
        ck_assert_int_eq(vs_stream_async_new(&a, mem), 0);
        for (size_t off = 0; off < n; off += chunks[k]) {
            size_t take = n - off < chunks[k] ? n - off : chunks[k];
            ck_assert_int_eq(vs_stream_write(a, data + off, take), 0);
        }
        ck_assert_int_eq(vs_stream_finish(a), 0);
        ck_assert_uint_eq(vs_stream_bytes(a), n);
        ck_assert_uint_eq(buf.len, n);
        ck_assert(memcmp(buf.ptr, data, n) == 0);
        vs_stream_free(a);
        vs_stream_free(mem);
        vs_buf_dispose(&buf);
    }
    free(data);
}
END_TEST

START_TEST(test_async_reports_the_inner_error)
{
    size_t n = (4u << 20) + 1;
    uint8_t *data = calloc(1, n);
    ck_assert_ptr_nonnull(data);
    vs_stream *fail = NULL, *a = NULL;
    ck_assert_int_eq(vs_stream_failing_new(&fail, NULL, true, (1u << 20) + 5),
                     0);
    ck_assert_int_eq(vs_stream_async_new(&a, fail), 0);
    /* the failure happens on the thread: a later write or finish says so */
    int error = vs_stream_write(a, data, n);
    if (error == 0)
        error = vs_stream_finish(a);
    ck_assert_int_eq(error, VS_EIO);
    ck_assert(strstr(vs_error_last(), "injected failure") != NULL);
    vs_stream_free(a);
    vs_stream_free(fail);
    free(data);
}
END_TEST

START_TEST(test_async_free_without_finish_discards)
{
    vs_buf buf = VS_BUF_INIT((size_t)64 << 20);
    vs_stream *mem = NULL, *a = NULL;
    ck_assert_int_eq(vs_stream_mem_writer_new(&mem, &buf), 0);
    ck_assert_int_eq(vs_stream_async_new(&a, mem), 0);
    uint8_t *data = calloc(1, 3u << 20);
    ck_assert_ptr_nonnull(data);
    ck_assert_int_eq(vs_stream_write(a, data, 3u << 20), 0);
    vs_stream_free(a); /* joins the thread; nothing leaks (ASan) */
    ck_assert_uint_le(buf.len, 3u << 20);
    vs_stream_free(mem);
    vs_buf_dispose(&buf);
    free(data);
}
END_TEST

START_TEST(test_async_reader_delivers_every_byte_in_order)
{
    static const size_t chunks[] = {1, 13, 4096, 1 << 20, (3 << 20) + 1};
    size_t n = (3u << 20) + 777;
    uint8_t *data = malloc(n), *back = malloc(n + 16);
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(back);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 40503u >> 7);
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        vs_stream *mem = NULL, *a = NULL;
        ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, n), 0);
        ck_assert_int_eq(vs_stream_async_reader_new(&a, mem), 0);
        size_t total = 0, got;
        do {
            ck_assert_int_eq(vs_stream_read(a, back + total, chunks[k], &got),
                             0);
            total += got;
        } while (got == chunks[k] && total < n + 1);
        ck_assert_uint_eq(total, n);
        ck_assert(memcmp(back, data, n) == 0);
        vs_stream_free(a);
        vs_stream_free(mem);
    }
    free(data);
    free(back);
}
END_TEST

START_TEST(test_async_reader_reports_error_after_the_good_bytes)
{
    size_t n = 4u << 20, limit = (2u << 20) + 100;
    uint8_t *data = calloc(1, n), *back = malloc(n);
    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(back);
    vs_stream *mem = NULL, *fail = NULL, *a = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, n), 0);
    ck_assert_int_eq(vs_stream_failing_new(&fail, mem, false, limit), 0);
    ck_assert_int_eq(vs_stream_async_reader_new(&a, fail), 0);
    size_t got = 0;
    /* the first 2 MiB arrive; the read that reaches the failure fails */
    ck_assert_int_eq(vs_stream_read(a, back, 2u << 20, &got), 0);
    ck_assert_uint_eq(got, 2u << 20);
    ck_assert_int_eq(vs_stream_read(a, back, n, &got), VS_EIO);
    ck_assert(strstr(vs_error_last(), "injected failure") != NULL);
    vs_stream_free(a);
    vs_stream_free(fail);
    vs_stream_free(mem);
    free(data);
    free(back);
}
END_TEST

START_TEST(test_async_reader_free_midway_stops_the_thread)
{
    size_t n = 8u << 20;
    uint8_t *data = calloc(1, n), buf[100];
    ck_assert_ptr_nonnull(data);
    vs_stream *mem = NULL, *a = NULL;
    ck_assert_int_eq(vs_stream_mem_reader_new(&mem, data, n), 0);
    ck_assert_int_eq(vs_stream_async_reader_new(&a, mem), 0);
    size_t got;
    ck_assert_int_eq(vs_stream_read(a, buf, sizeof(buf), &got), 0);
    ck_assert_uint_eq(got, sizeof(buf));
    vs_stream_free(a); /* joins; nothing leaks (ASan) */
    vs_stream_free(mem);
    free(data);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("base");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_typed_values_round_trip);
    tcase_add_test(tc, test_bad_varints_are_corrupt);
    tcase_add_test(tc, test_errors_are_sticky_with_their_message);
    tcase_add_test(tc, test_finish_is_idempotent_and_ends_writes);
    tcase_add_test(tc, test_prefixed_replays_head_then_inner);
    tcase_add_test(tc, test_mem_writer_respects_buffer_cap);
    tcase_add_test(tc, test_mem_reader_short_only_at_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("file");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_file_round_trip_mixed_sizes);
    tcase_add_test(tc, test_file_reader_missing_is_not_found);
    tcase_add_test(tc, test_fd_writer_on_pipe_fsyncs_quietly);
    tcase_add_test(tc, test_fd_errors_are_io_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("hash");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_hash_writer_digest_for_many_chunkings);
    tcase_add_test(tc, test_hash_reader_digest_for_many_chunkings);
    tcase_add_test(tc, test_hash_reader_peek_before_trailer);
    tcase_add_test(tc, test_hash_of_50mb_threaded_equals_unthreaded);
    tcase_add_test(tc, test_hash_writer_reports_inner_failure);
    tcase_add_test(tc, test_hash_reader_reports_inner_failure);
    tcase_add_test(tc, test_hash_freed_without_finish);
    tcase_add_test(tc, test_hash_peek_needs_a_hash_stage);
    suite_add_tcase(s, tc);

    tc = tcase_create("async");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_async_delivers_every_byte_in_order);
    tcase_add_test(tc, test_async_reports_the_inner_error);
    tcase_add_test(tc, test_async_free_without_finish_discards);
    tcase_add_test(tc, test_async_reader_delivers_every_byte_in_order);
    tcase_add_test(tc, test_async_reader_reports_error_after_the_good_bytes);
    tcase_add_test(tc, test_async_reader_free_midway_stops_the_thread);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomic");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_atomic_commit_replaces_target);
    tcase_add_test(tc, test_atomic_abort_leaves_nothing);
    tcase_add_test(tc, test_atomic_write_failing_midway_keeps_target);
    tcase_add_test(tc, test_atomic_commit_failure_cleans_up);
    tcase_add_test(tc, test_atomic_open_in_missing_dir);
    tcase_add_test(tc, test_mkdirs_creates_nested_and_rejects_empty);
    tcase_add_test(tc, test_read_all_cap);
    suite_add_tcase(s, tc);

    tc = tcase_create("checksum");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sha256_known_vectors);
    tcase_add_test(tc, test_sha256_copy_is_independent);
    tcase_add_test(tc, test_sha256_hex_and_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stream_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
