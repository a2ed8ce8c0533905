/* stream_file: buffered streams on file descriptors; writers fsync on finish
 * when asked, so that a finished stream is durable. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "stream.h"

typedef struct fd_stream {
    vs_stream base;
    int fd;
    bool owns_fd;
    bool do_fsync;
    size_t len, pos; /* writer: bytes buffered; reader: window [pos, len) */
    bool eof;
    uint8_t *buf;
} fd_stream;

static int flush_buf(fd_stream *f)
{
    if (f->len == 0)
        return 0;
    int error = vs_fs_write_full(f->fd, f->buf, f->len);
    f->len = 0;
    return error;
}

static int fd_write(vs_stream *s, const void *data, size_t n)
{
    fd_stream *f = (fd_stream *)s;
    if (f->len + n <= VS_STREAM_FILE_BUFSZ) {
        memcpy(f->buf + f->len, data, n);
        f->len += n;
        return 0;
    }
    int error = flush_buf(f);
    if (error < 0)
        return error;
    /* Large writes go straight to the kernel: no second copy. */
    if (n >= VS_STREAM_FILE_BUFSZ / 2)
        return vs_fs_write_full(f->fd, data, n);
    memcpy(f->buf, data, n);
    f->len = n;
    return 0;
}

static int fd_finish(vs_stream *s)
{
    fd_stream *f = (fd_stream *)s;
    int error = flush_buf(f);
    if (error < 0)
        return error;
    if (f->do_fsync && fdatasync(f->fd) < 0 && errno != EINVAL &&
        errno != EROFS)
        return vs_error_set_os(VS_EIO, "failed to fsync");
    return 0;
}

static int fd_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    fd_stream *f = (fd_stream *)s;
    uint8_t *dst = data;
    *got = 0;
    while (n > 0) {
        if (f->pos < f->len) {
            size_t take = f->len - f->pos;
            if (take > n)
                take = n;
            memcpy(dst, f->buf + f->pos, take);
            f->pos += take;
            dst += take;
            n -= take;
            *got += take;
            continue;
        }
        if (f->eof)
            break;
        /* Large reads bypass the buffer. */
        uint8_t *target = n >= VS_STREAM_FILE_BUFSZ ? dst : f->buf;
        size_t want = n >= VS_STREAM_FILE_BUFSZ ? n : VS_STREAM_FILE_BUFSZ;
        ssize_t r = read(f->fd, target, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return vs_error_set_os(VS_EIO, "failed to read");
        if (r == 0) {
            f->eof = true;
            break;
        }
        if (target == dst) {
            dst += r;
            n -= (size_t)r;
            *got += (size_t)r;
        } else {
            f->pos = 0;
            f->len = (size_t)r;
        }
    }
    return 0;
}

static void fd_close(vs_stream *s)
{
    fd_stream *f = (fd_stream *)s;
    if (f->owns_fd && f->fd >= 0)
        close(f->fd);
    free(f->buf);
}

static const vs_stream_ops fd_writer_ops = {
    .name = "file", .write = fd_write, .finish = fd_finish, .close = fd_close};
static const vs_stream_ops fd_reader_ops = {
    .name = "file", .read = fd_read, .close = fd_close};

static int fd_new(vs_stream **out, int fd, bool writer, bool do_fsync,
                  bool owns)
{
    *out = NULL;
    fd_stream *f = calloc(1, sizeof(*f));
    if (!f)
        return vs_error_oom();
    f->buf = malloc(VS_STREAM_FILE_BUFSZ);
    if (!f->buf) {
        free(f);
        return vs_error_oom();
    }
    vs_stream__init(&f->base, writer ? &fd_writer_ops : &fd_reader_ops, NULL,
                    writer);
    f->fd = fd;
    f->owns_fd = owns;
    f->do_fsync = do_fsync;
    *out = &f->base;
    return 0;
}

int vs_stream_fd_writer_new(vs_stream **out, int fd, bool do_fsync)
{
    return fd_new(out, fd, true, do_fsync, false);
}

int vs_stream_fd_reader_new(vs_stream **out, int fd)
{
    return fd_new(out, fd, false, false, false);
}

int vs_stream_file_reader_new(vs_stream **out, const char *path)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "failed to open '%s'", path);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int error = fd_new(out, fd, false, false, true);
    if (error < 0)
        close(fd);
    return error;
}
