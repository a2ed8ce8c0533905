/*
 * fsutil: the one way to make a file appear atomically, and small file-system
 * helpers.
 *
 * Lifecycle of an atomic file:
 *   vs_atomic_open(&af, "dir/target")   creates "dir/.target.tmp-XXXXXX"
 *   write through vs_atomic_fd(af) (or a file stream on it)
 *   vs_atomic_commit(af)                fsync, close, rename over the target,
 *                                       fsync the directory; frees af
 *   or vs_atomic_abort(af)              closes, unlinks the temp; frees af
 * On any failure inside commit the temp file is unlinked, the target is left
 * exactly as it was, and the first error is returned with the failing step
 * named ("fsync", "rename", ...).  Nothing half-written is ever visible under
 * the target's name.
 */
#ifndef VS_FSUTIL_H
#define VS_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct vs_atomic vs_atomic;

/* VS_EIO, VS_ENOTFOUND (directory missing), VS_ENOMEM. */
int vs_atomic_open(vs_atomic **out, const char *target) VS_WARN_UNUSED;
int vs_atomic_fd(const vs_atomic *af);
const char *vs_atomic_tmp_path(const vs_atomic *af);
const char *vs_atomic_target(const vs_atomic *af);
/* Commit and free.  `af` is freed whatever the result. */
int vs_atomic_commit(vs_atomic *af) VS_WARN_UNUSED;
/* Discard and free (NULL is a no-op).  Never fails. */
void vs_atomic_abort(vs_atomic *af);

/* Write a whole buffer to `target` atomically. */
int vs_fs_write_atomic(const char *target, const void *data,
                       size_t n) VS_WARN_UNUSED;
/* Read a whole (small) file, at most `max` bytes, NUL-terminated; the caller
 * frees *out.  VS_ENOTFOUND, VS_EIO, VS_ETOOBIG. */
int vs_fs_read_all(char **out, size_t *len_out, const char *path,
                   size_t max) VS_WARN_UNUSED;
/* fsync a directory. */
int vs_fs_fsync_dir(const char *dir) VS_WARN_UNUSED;
/* mkdir -p with mode 0755 (existing directories are fine). */
int vs_fs_mkdirs(const char *path) VS_WARN_UNUSED;
/* Write all n bytes, retrying on EINTR and short writes. */
int vs_fs_write_full(int fd, const void *data, size_t n) VS_WARN_UNUSED;
/* Size of an open file; VS_EIO. */
int vs_fs_size(uint64_t *out, int fd) VS_WARN_UNUSED;
/* Does `path` end with `suffix`? */
bool vs_fs_has_suffix(const char *path, const char *suffix);

#endif
