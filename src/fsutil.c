/* fsutil: atomic commit (temp, fsync, rename, fsync dir) and file helpers. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct vs_atomic {
    char *target;
    char *tmp;
    char *dir;
    int fd;
};

static void atomic_free(vs_atomic *af)
{
    free(af->target);
    free(af->tmp);
    free(af->dir);
    free(af);
}

int vs_atomic_open(vs_atomic **out, const char *target)
{
    *out = NULL;
    vs_atomic *af = calloc(1, sizeof(*af));
    if (!af)
        return vs_error_oom();
    af->fd = -1;
    char *copy1 = strdup(target), *copy2 = strdup(target);
    af->target = strdup(target);
    int error = 0;
    if (!copy1 || !copy2 || !af->target) {
        error = vs_error_oom();
        goto done;
    }
    af->dir = strdup(dirname(copy1));
    const char *base = basename(copy2);
    size_t n = strlen(af->dir) + strlen(base) + 32;
    af->tmp = malloc(n);
    if (!af->dir || !af->tmp) {
        error = vs_error_oom();
        goto done;
    }
    snprintf(af->tmp, n, "%s/.%s.tmp-XXXXXX", af->dir, base);
    af->fd = mkostemp(af->tmp, O_CLOEXEC);
    if (af->fd < 0) {
        error = vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                                "failed to create a temporary file in '%s'",
                                af->dir);
        goto done;
    }
    if (fchmod(af->fd, 0644) < 0) {
        error = vs_error_set_os(VS_EIO, "failed to chmod '%s'", af->tmp);
        goto done;
    }
done:
    free(copy1);
    free(copy2);
    if (error < 0) {
        if (af->fd >= 0) {
            close(af->fd);
            unlink(af->tmp);
        }
        atomic_free(af);
        return error;
    }
    *out = af;
    return 0;
}

int vs_atomic_fd(const vs_atomic *af)
{
    return af->fd;
}

const char *vs_atomic_tmp_path(const vs_atomic *af)
{
    return af->tmp;
}

const char *vs_atomic_target(const vs_atomic *af)
{
    return af->target;
}

int vs_atomic_commit(vs_atomic *af)
{
    int error = 0;
    if (fsync(af->fd) < 0) {
        error = vs_error_set_os(VS_EIO, "failed to fsync '%s'", af->tmp);
        goto fail;
    }
    int fd = af->fd;
    af->fd = -1;
    if (close(fd) < 0) {
        error = vs_error_set_os(VS_EIO, "failed to close '%s'", af->tmp);
        goto fail;
    }
    if (rename(af->tmp, af->target) < 0) {
        error = vs_error_set_os(VS_EIO, "failed to rename '%s' to '%s'",
                                af->tmp, af->target);
        goto fail;
    }
    /* The rename is done; a failing directory fsync is still reported, since
     * the new name might not survive a crash. */
    error = vs_fs_fsync_dir(af->dir);
    atomic_free(af);
    return error;
fail:
    vs_atomic_abort(af);
    return error;
}

void vs_atomic_abort(vs_atomic *af)
{
    if (!af)
        return;
    if (af->fd >= 0)
        close(af->fd);
    unlink(af->tmp);
    atomic_free(af);
}

int vs_fs_write_atomic(const char *target, const void *data, size_t n)
{
    vs_atomic *af;
    int error = vs_atomic_open(&af, target);
    if (error < 0)
        return error;
    error = vs_fs_write_full(vs_atomic_fd(af), data, n);
    if (error < 0) {
        vs_atomic_abort(af);
        return error;
    }
    return vs_atomic_commit(af);
}

int vs_fs_read_all(char **out, size_t *len_out, const char *path, size_t max)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "failed to open '%s'", path);
    uint64_t size;
    int error = vs_fs_size(&size, fd);
    char *buf = NULL;
    if (error < 0)
        goto done;
    if (size > max) {
        error = vs_error_set(VS_ETOOBIG, "'%s' is larger than %zu bytes", path,
                             max);
        goto done;
    }
    buf = malloc((size_t)size + 1);
    if (!buf) {
        error = vs_error_oom();
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error = vs_error_set_os(VS_EIO, "failed to read '%s'", path);
            goto done;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    *out = buf;
    buf = NULL;
    if (len_out)
        *len_out = got;
done:
    free(buf);
    close(fd);
    return error;
}

int vs_fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "failed to open directory '%s'", dir);
    int error = 0;
    if (fsync(fd) < 0)
        error = vs_error_set_os(VS_EIO, "failed to fsync directory '%s'", dir);
    close(fd);
    return error;
}

int vs_fs_mkdirs(const char *path)
{
    if (!path[0])
        return vs_error_set(VS_EINVALID, "empty directory path");
    char *p = strdup(path);
    if (!p)
        return vs_error_oom();
    int error = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            error = vs_error_set_os(VS_EIO, "failed to create directory '%s'",
                                    p);
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return error;
}

int vs_fs_write_full(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return vs_error_set_os(VS_EIO, "failed to write");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int vs_fs_size(uint64_t *out, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vs_error_set_os(VS_EIO, "failed to stat");
    *out = (uint64_t)st.st_size;
    return 0;
}

bool vs_fs_has_suffix(const char *path, const char *suffix)
{
    size_t a = strlen(path), b = strlen(suffix);
    return a >= b && strcmp(path + a - b, suffix) == 0;
}
