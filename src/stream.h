/*
 * stream: a byte pipeline of composable stages, in the spirit of Redis rio.
 *
 * A stream is either a writer or a reader.  Backends: memory (stream_mem.c),
 * file descriptors with optional fsync (stream_file.c); filters: SHA-256 hash
 * stage (stream_hash.c), codecs (codec_*.c), a prefix replayer (stream.c).
 *
 * Ownership: a filter BORROWS its inner stream; the inner stream must outlive
 * the filter.  Whoever builds a chain finishes it top-down (each stage's
 * vs_stream_finish flushes into the stage below but never finishes it) and
 * frees it top-down.
 *
 * Errors are sticky (rio): the first failure is kept with its message; every
 * later write/read returns it at once, so encoders may write many times and
 * check once at vs_stream_finish.  vs_stream_error() re-records the stored
 * message as this thread's last error and returns the code.
 *
 * Lifecycle of a writer: new -> write* -> finish -> free (free without finish
 * discards; a file writer then never fsyncs).
 * Lifecycle of a reader: new -> read* (short read only at end of data) -> free.
 */
#ifndef VS_STREAM_H
#define VS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "checksum.h"
#include "error.h"

typedef struct vs_stream vs_stream;

typedef struct vs_stream_ops {
    const char *name;
    /* Writers: consume all n bytes or fail. */
    int (*write)(vs_stream *s, const void *data, size_t n);
    /* Readers: fill up to n bytes; *got < n only at end of data. */
    int (*read)(vs_stream *s, void *data, size_t n, size_t *got);
    /* Writers: push everything buffered (and trailers) to the inner stream
     * or the OS; file writers fsync here when asked to.  May be NULL. */
    int (*finish)(vs_stream *s);
    /* Release the backend's state (not the inner stream). May be NULL. */
    void (*close)(vs_stream *s);
} vs_stream_ops;

#define VS_STREAM_ERRMSG_MAX 256

/* The base every backend embeds first.  Backends are defined in their own
 * files; they fill `ops` and `inner` with vs_stream__init. */
struct vs_stream {
    const vs_stream_ops *ops;
    vs_stream *inner;   /* borrowed; NULL for backends */
    uint64_t bytes;     /* bytes written or delivered at this stage */
    int error;          /* first error, sticky */
    bool is_writer;
    bool finished;
    char errmsg[VS_STREAM_ERRMSG_MAX];
};

/* For backends: set up the base of a freshly allocated stream. */
void vs_stream__init(vs_stream *s, const vs_stream_ops *ops, vs_stream *inner,
                     bool is_writer);
/* For backends: record `code` with the thread's current message as the
 * sticky error (first one wins) and return the sticky code. */
int vs_stream__fail(vs_stream *s, int code);

/* Write n bytes (writers).  Returns 0 or the sticky error. */
int vs_stream_write(vs_stream *s, const void *data, size_t n) VS_WARN_UNUSED;
/* Read up to n bytes (readers); *got < n only at end of data. */
int vs_stream_read(vs_stream *s, void *data, size_t n,
                   size_t *got) VS_WARN_UNUSED;
/* Read exactly n bytes; a short read is VS_ECORRUPT "unexpected end of
 * data". */
int vs_stream_read_exact(vs_stream *s, void *data, size_t n) VS_WARN_UNUSED;
/* Finish a writer (idempotent); returns the sticky error if any. */
int vs_stream_finish(vs_stream *s) VS_WARN_UNUSED;
/* The sticky error (0 if none), re-recorded as this thread's last error. */
int vs_stream_error(const vs_stream *s);
/* Bytes written or delivered at this stage. */
uint64_t vs_stream_bytes(const vs_stream *s);
/* Free one stage (NULL is a no-op). */
void vs_stream_free(vs_stream *s);

/* Little-endian helpers for format code. */
int vs_stream_write_u8(vs_stream *s, uint8_t v) VS_WARN_UNUSED;
int vs_stream_write_u32le(vs_stream *s, uint32_t v) VS_WARN_UNUSED;
int vs_stream_write_u64le(vs_stream *s, uint64_t v) VS_WARN_UNUSED;
/* Unsigned LEB128 (7 bits a byte, at most 10 bytes). */
int vs_stream_write_varint(vs_stream *s, uint64_t v) VS_WARN_UNUSED;
int vs_stream_read_u8(vs_stream *s, uint8_t *v) VS_WARN_UNUSED;
int vs_stream_read_u32le(vs_stream *s, uint32_t *v) VS_WARN_UNUSED;
int vs_stream_read_u64le(vs_stream *s, uint64_t *v) VS_WARN_UNUSED;
/* VS_ECORRUPT for an over-long or overflowing varint. */
int vs_stream_read_varint(vs_stream *s, uint64_t *v) VS_WARN_UNUSED;

/* ---- memory (stream_mem.c) ---- */
/* A writer appending to `buf` (borrowed; its cap applies: VS_ETOOBIG). */
int vs_stream_mem_writer_new(vs_stream **out, vs_buf *buf) VS_WARN_UNUSED;
/* A reader over data[0..n) (borrowed). */
int vs_stream_mem_reader_new(vs_stream **out, const void *data,
                             size_t n) VS_WARN_UNUSED;

/* ---- files (stream_file.c) ---- */
#define VS_STREAM_FILE_BUFSZ (1u << 20)
/* A buffered writer on a borrowed fd.  `do_fsync`: finish calls fdatasync
 * (EINVAL from a pipe or tty is not an error). */
int vs_stream_fd_writer_new(vs_stream **out, int fd,
                            bool do_fsync) VS_WARN_UNUSED;
/* A buffered reader on a borrowed fd. */
int vs_stream_fd_reader_new(vs_stream **out, int fd) VS_WARN_UNUSED;
/* A reader that opens `path` and closes it when freed.  VS_ENOTFOUND,
 * VS_EIO. */
int vs_stream_file_reader_new(vs_stream **out,
                              const char *path) VS_WARN_UNUSED;

/* ---- prefix replay (stream.c) ---- */
/* A reader that first delivers head[0..n) (copied), then reads `inner`.
 * Lets a caller sniff the first bytes and still parse from the start. */
int vs_stream_prefixed_new(vs_stream **out, const void *head, size_t n,
                           vs_stream *inner) VS_WARN_UNUSED;

/* ---- async stage (stream_async.c) ---- */
/* A pass-through writer that runs the stages below it on a thread of its
 * own (1 MiB blocks, at most 3 in flight), so a format encoding above it and
 * a codec below it use two cores.  Its finish waits until every byte reached
 * `inner` and reports the first error met there. */
int vs_stream_async_new(vs_stream **out, vs_stream *inner) VS_WARN_UNUSED;
/* A pass-through reader that reads `inner` ahead on a thread of its own
 * (1 MiB blocks, at most 3 ahead), so a codec below it and a parser above
 * it use two cores.  An error of `inner` is reported after the bytes read
 * before it were delivered.  Freeing it stops the thread. */
int vs_stream_async_reader_new(vs_stream **out,
                               vs_stream *inner) VS_WARN_UNUSED;

/* ---- SHA-256 stage (stream_hash.c) ---- */
/* A pass-through filter (writer or reader, matching `inner`) hashing every
 * byte that passes.  With `threaded`, hashing runs on a helper thread
 * overlapping I/O and encoding (buffers of 1 MiB, double-buffered). */
int vs_stream_hash_new(vs_stream **out, vs_stream *inner,
                       bool threaded) VS_WARN_UNUSED;
bool vs_stream_is_hash(const vs_stream *s);
/* Digest of the bytes that passed so far, without ending the hash (more
 * bytes may follow).  For readers: bytes delivered to the caller. */
int vs_stream_hash_peek(vs_stream *s, uint8_t out[VS_SHA256_LEN]);

#endif
