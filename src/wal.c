/*
 * wal: the write-ahead log's files -- segments, framing, CRC-32C, the
 * three sync policies with group commit, rotation and truncation, the
 * sticky failure state, and replay with torn-tail repair.  The op bodies
 * (encode, decode, apply) live in wal_ops.c.
 *
 * Decisions:
 * - one mutex guards the writer state.  A record is framed and its CRC
 *   computed before the mutex is taken; under it the frame and body are
 *   copied to `pend`, the records not yet written.
 * - group write and group commit: `last_seq` is the newest record taken,
 *   `written_seq` the newest one write(2) returned for, `synced_seq` the
 *   newest one a finished fdatasync covered.  A waiter whose record is not
 *   written becomes the flusher when nobody flushes (it swaps `pend` for
 *   the empty `out`, drops the mutex, writes `out` with one call, and
 *   publishes) or sleeps on the condition variable; under "always" it then
 *   does the same for the sync, which covers what was written when it
 *   started.  So records taken during a write or a sync share the next
 *   one.  A write and an fdatasync may run at the same time.
 * - a writer that must rotate, or write a big body directly, waits until
 *   no flush or sync runs (no new one starts meanwhile), then does its
 *   I/O under the mutex.  Rotation writes out `pend`, syncs the finished
 *   segment (whatever the policy), creates the next one and syncs the
 *   directory.  A segment is created lazily by the first record that goes
 *   in it, and named after that record's seq.
 * - a failed write, fdatasync or segment creation fails the log for good:
 *   the file is cut back to the last whole record (best effort) and every
 *   later call returns VS_EIO with the first failure's message.
 * - replay maps each segment read-only and walks it; bodies are handed to
 *   vs_wal_apply straight from the mapping.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "wal_int.h"

struct vs_wal {
    char *dir;
    vs_wal_fsync policy;
    uint64_t segment_bytes;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* a flush or sync ended, or the log failed */
    pthread_cond_t tick;   /* wakes the everysec thread to stop */
    int fd;                /* the newest segment; -1 before the first */
    uint64_t seg_size;     /* its size with the records still in `pend` */
    uint64_t file_size;    /* what the file holds for sure */
    vs_buf pend;           /* framed records not yet handed to write(2) */
    vs_buf out;            /* the ones a flusher is writing */
    uint64_t *segs;        /* first seqs of the segments on disk */
    uint64_t closed_bytes; /* the sizes of all of them but the newest */
    size_t nsegs, segcap;
    uint64_t last_seq, written_seq, synced_seq;
    bool flushing, syncing;
    int turn_waiting; /* writers waiting to rotate or write directly */
    bool failed;
    _Atomic bool failed_seen; /* `failed`, readable without mu */
    char why[512];
    bool stop;
    bool thread_started;
    pthread_t thread;
    uint64_t appends, bytes, syncs, sync_max_us;
};

/* Fail the log for good (mu held); errno describes the failure.  Returns
 * VS_EIO with the message. */
static int fail(vs_wal *w, const char *fmt, ...) VS_FMT_PRINTF(2, 3);
static int fail(vs_wal *w, const char *fmt, ...)
{
    char what[256];
    int err = errno;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!w->failed) {
        snprintf(w->why, sizeof(w->why), "%s: %s", what, strerror(err));
        w->failed = true;
        atomic_store(&w->failed_seen, true);
        vs_log(VS_LOG_ERROR,
               "wal '%s' failed: %s; no write is acknowledged "
               "from now on",
               w->dir, w->why);
    }
    pthread_cond_broadcast(&w->cv);
    return vs_error_set(VS_EIO, "wal '%s': %s: %s", w->dir, what,
                        strerror(err));
}

static int failed_error(const vs_wal *w)
{
    return vs_error_set(VS_EIO, "wal '%s' has failed: %s", w->dir, w->why);
}

/* writev everything, retrying on EINTR and short writes; -1 with errno. */
static int writev_full(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t k = writev(fd, iov, cnt);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        size_t done = (size_t)k;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* After a failed write (mu held): cut the file back to its last whole
 * record, best effort, and fail the log. */
static int write_failed(vs_wal *w, int fd, uint64_t base, uint64_t seq)
{
    int err = errno;
    if (ftruncate(fd, (off_t)base) < 0)
        vs_log(VS_LOG_WARN, "wal '%s': cannot cut a partial record: %s", w->dir,
               strerror(errno));
    errno = err;
    return fail(w, "cannot write the records up to seq %" PRIu64, seq);
}

/* Write `pend` (and, when iov is set, cnt more pieces, the record `seq`)
 * without letting go of mu.  Nobody flushing. */
static int write_locked(vs_wal *w, struct iovec *more, int cnt, uint64_t seq)
{
    struct iovec iov[3];
    int k = 0;
    size_t total = 0;

    if (w->pend.len) {
        iov[k].iov_base = w->pend.ptr;
        iov[k++].iov_len = w->pend.len;
    }
    for (int i = 0; i < cnt; i++)
        iov[k++] = more[i];
    for (int i = 0; i < k; i++)
        total += iov[i].iov_len;
    if (!k)
        return 0;
    if (writev_full(w->fd, iov, k) < 0)
        return write_failed(w, w->fd, w->file_size, seq);
    w->file_size += total;
    w->written_seq = seq;
    vs_buf_reset(&w->pend);
    pthread_cond_broadcast(&w->cv);
    return 0;
}

/* One group write (mu held, nobody flushing, pend not empty): hand pend
 * over, write it with mu let go, publish. */
static int flush_round(vs_wal *w)
{
    vs_buf t = w->out;
    uint64_t target = w->last_seq, base = w->file_size;
    int fd = w->fd, r, error = 0;
    struct iovec iov;

    w->out = w->pend;
    w->pend = t;
    w->flushing = true;
    pthread_mutex_unlock(&w->mu);
    iov.iov_base = w->out.ptr;
    iov.iov_len = w->out.len;
    r = writev_full(fd, &iov, 1);
    int err = errno;
    pthread_mutex_lock(&w->mu);
    w->flushing = false;
    if (r < 0) {
        errno = err;
        error = write_failed(w, fd, base, target);
    } else {
        w->file_size += w->out.len;
        w->written_seq = target;
    }
    vs_buf_reset(&w->out);
    pthread_cond_broadcast(&w->cv);
    return error;
}

static void count_sync(vs_wal *w, uint64_t t0)
{
    uint64_t us = vs_wal__now_us() - t0;
    w->syncs++;
    if (us > w->sync_max_us)
        w->sync_max_us = us;
}

/* One group-commit sync (mu held, nobody syncing, fd open): covers what
 * was written when it started. */
static int sync_round(vs_wal *w)
{
    uint64_t target = w->written_seq, t0;
    int fd = w->fd, r, error = 0;

    w->syncing = true;
    pthread_mutex_unlock(&w->mu);
    t0 = vs_wal__now_us();
    r = fdatasync(fd);
    int err = errno;
    pthread_mutex_lock(&w->mu);
    w->syncing = false;
    count_sync(w, t0);
    if (r < 0) {
        errno = err;
        error = fail(w, "fdatasync of the newest segment");
    } else if (target > w->synced_seq) {
        w->synced_seq = target;
    }
    pthread_cond_broadcast(&w->cv);
    return error;
}

/* Wait (mu held) until `seq` is written, and synced when `sync`: taking
 * turns at flushing and syncing for everybody. */
static int settle(vs_wal *w, uint64_t seq, bool sync)
{
    if (seq > w->last_seq)
        seq = w->last_seq;
    while (!w->failed) {
        if (w->turn_waiting &&
            (w->written_seq < seq || (sync && w->synced_seq < seq))) {
            pthread_cond_wait(&w->cv, &w->mu); /* a writer needs the file */
        } else if (w->written_seq < seq) {
            if (w->flushing)
                pthread_cond_wait(&w->cv, &w->mu);
            else
                (void)flush_round(w); /* a failure is sticky */
        } else if (sync && w->synced_seq < seq) {
            if (w->syncing)
                pthread_cond_wait(&w->cv, &w->mu);
            else
                (void)sync_round(w);
        } else {
            return 0;
        }
    }
    return failed_error(w);
}

static void *everysec_main(void *arg)
{
    vs_wal *w = arg;

    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += 1;
        while (!w->stop &&
               pthread_cond_timedwait(&w->tick, &w->mu, &dl) != ETIMEDOUT)
            ;
        if (w->stop)
            break;
        if (!w->failed && w->synced_seq < w->last_seq)
            (void)settle(w, w->last_seq, true); /* failures are logged */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Start the segment for record `seq` (mu held, nobody flushing or
 * syncing): write out, sync and close the current one, create the next,
 * sync the directory. */
static int rotate(vs_wal *w, uint64_t seq)
{
    char path[PATH_SIZE];
    uint8_t hdr[HDR_SIZE];
    int error = 0;

    vs_wal__seg_path(path, w->dir, seq);
    if (w->nsegs == w->segcap) {
        size_t cap = w->segcap ? w->segcap * 2 : 16;
        uint64_t *p = realloc(w->segs, cap * sizeof(*p));
        if (!p)
            return vs_error_oom();
        w->segs = p;
        w->segcap = cap;
    }
    if (w->fd >= 0) {
        error = write_locked(w, NULL, 0, w->last_seq);
        if (error < 0)
            return error;
        uint64_t t0 = vs_wal__now_us();
        int r = fdatasync(w->fd);
        count_sync(w, t0);
        if (r < 0)
            return fail(w, "fdatasync of a finished segment");
        w->synced_seq = w->last_seq;
        close(w->fd);
        w->fd = -1;
        w->closed_bytes += w->file_size;
    }
    w->fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return fail(w, "cannot create segment '%s'", path);
    w->segs[w->nsegs++] = seq;
    memcpy(hdr, vs_wal__magic, sizeof(vs_wal__magic));
    vs_wal__put64(hdr + 8, seq);
    if (vs_fs_write_full(w->fd, hdr, sizeof(hdr)) < 0)
        return fail(w, "cannot write the header of '%s'", path);
    w->seg_size = w->file_size = HDR_SIZE;
    if (vs_fs_fsync_dir(w->dir) < 0)
        return fail(w, "cannot sync the directory");
    return 0;
}

/* Find where the newest segment ends (its last good record). */
static int open_tail(vs_wal *w)
{
    char path[PATH_SIZE];
    vs_wal__seg m = {NULL, 0};
    const char *why = NULL;
    uint64_t first = w->segs[w->nsegs - 1], last = first - 1;
    size_t pos = HDR_SIZE, len;
    const uint8_t *body;
    int r, error;

    vs_wal__seg_path(path, w->dir, first);
    error = vs_wal__map_segment(&m, path);
    if (error < 0)
        return error;
    error = vs_wal__header_problem(&m, first, &why);
    if (error < 0) {
        error = vs_error_set(error, "wal segment '%s': %s", path, why);
        goto done;
    }
    while ((r = vs_wal__next_record(&m, &pos, &body, &len, &why)) > 0) {
        uint64_t seq = vs_wal__get64(body);
        if (seq <= last) {
            why = "seq does not increase";
            r = -1;
            pos -= FRAME_SIZE + len;
            break;
        }
        last = seq;
    }
    if (r < 0) {
        error = vs_error_set(VS_ECORRUPT,
                             "wal segment '%s': bad record at offset %zu (%s); "
                             "replay the log before opening it",
                             path, pos, why);
        goto done;
    }
    w->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (w->fd < 0) {
        error = vs_error_set_os(VS_EIO, "cannot open wal segment '%s'", path);
        goto done;
    }
    w->seg_size = w->file_size = m.size;
    w->last_seq = w->written_seq = w->synced_seq = last;
done:
    vs_wal__unmap_segment(&m);
    return error;
}

int vs_wal_open(vs_wal **out, const char *dir, vs_wal_fsync policy,
                uint64_t segment_bytes)
{
    int error = 0;
    vs_wal *w = NULL;
    pthread_condattr_t ca;

    *out = NULL;
    if ((unsigned)policy > VS_WAL_FSYNC_NO)
        return vs_error_set(VS_EINVALID, "unknown wal fsync policy %d",
                            (int)policy);
    w = calloc(1, sizeof(*w));
    if (!w)
        return vs_error_oom();
    w->fd = -1;
    w->policy = policy;
    w->segment_bytes = segment_bytes ? segment_bytes : DEFAULT_SEGMENT;
    w->pend = (vs_buf)VS_BUF_INIT(SIZE_MAX);
    w->out = (vs_buf)VS_BUF_INIT(SIZE_MAX);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->tick, &ca);
    pthread_condattr_destroy(&ca);
    w->dir = strdup(dir);
    if (!w->dir) {
        error = vs_error_oom();
        goto done;
    }
    error = vs_wal__check_dir(dir);
    if (!error)
        error = vs_fs_mkdirs(dir);
    if (error < 0)
        goto done;
    error = vs_wal__list_segments(&w->segs, &w->nsegs, dir);
    if (error < 0)
        goto done;
    w->segcap = w->nsegs;
    for (size_t i = 0; i + 1 < w->nsegs; i++) {
        char path[PATH_SIZE];
        vs_wal__seg_path(path, dir, w->segs[i]);
        w->closed_bytes += vs_wal__file_size(path);
    }
    if (w->nsegs) {
        error = open_tail(w);
        if (error < 0)
            goto done;
    }
    if (policy == VS_WAL_FSYNC_EVERYSEC) {
        if (pthread_create(&w->thread, NULL, everysec_main, w) != 0) {
            error = vs_error_set(VS_EIO,
                                 "wal '%s': cannot start the sync "
                                 "thread",
                                 dir);
            goto done;
        }
        w->thread_started = true;
    }
    *out = w;
    w = NULL;
done:
    vs_wal_close(w);
    return error;
}

void vs_wal_close(vs_wal *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->tick);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->mu);
    if (!w->failed && w->synced_seq < w->last_seq &&
        settle(w, w->last_seq, true) < 0)
        vs_error_clear(); /* logged */
    pthread_mutex_unlock(&w->mu);
    if (w->fd >= 0)
        close(w->fd);
    pthread_cond_destroy(&w->tick);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    vs_buf_dispose(&w->pend);
    vs_buf_dispose(&w->out);
    free(w->segs);
    free(w->dir);
    free(w);
}

int vs_wal_write(vs_wal *w, const void *body, size_t n)
{
    int error = 0;
    uint8_t frame[FRAME_SIZE];
    uint64_t seq;
    bool wake = false;

    if (!body || n < BODY_MIN)
        return vs_error_set(VS_EINVALID,
                            "wal record of %zu bytes is shorter "
                            "than its head (seq, time, op)",
                            body ? n : 0);
    if (n > VS_WAL_BODY_MAX)
        return vs_error_set(VS_ETOOBIG,
                            "wal record of %zu bytes is above "
                            "the limit of %zu",
                            n, VS_WAL_BODY_MAX);
    seq = vs_wal__get64(body);
    vs_wal__put32(frame, (uint32_t)n);
    vs_wal__put32(frame + 4, vs_wal_crc32c(0, body, n));

    pthread_mutex_lock(&w->mu);
    for (;;) {
        bool turn = w->fd < 0 ||
                    (w->seg_size >= w->segment_bytes && w->seg_size > HDR_SIZE);
        if (w->failed) {
            error = failed_error(w);
            goto done;
        }
        if (seq <= w->last_seq) {
            error = vs_error_set(VS_EINVALID,
                                 "wal '%s': record seq %" PRIu64
                                 " is not above the last one, %" PRIu64,
                                 w->dir, seq, w->last_seq);
            goto done;
        }
        if ((turn || n >= DIRECT_MIN) && (w->flushing || w->syncing)) {
            w->turn_waiting++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->turn_waiting--;
            continue;
        }
        break;
    }
    wake = w->turn_waiting > 0;
    if (w->fd < 0 ||
        (w->seg_size >= w->segment_bytes && w->seg_size > HDR_SIZE)) {
        wake = true;
        error = rotate(w, seq);
        if (error < 0)
            goto done;
    }
    if (n >= DIRECT_MIN) {
        /* a big body goes straight to the file, after what is pending */
        struct iovec iov[2] = {{frame, sizeof(frame)}, {(void *)body, n}};
        error = write_locked(w, iov, 2, seq);
    } else {
        size_t len0 = w->pend.len;
        error = vs_buf_put(&w->pend, frame, sizeof(frame));
        if (!error)
            error = vs_buf_put(&w->pend, body, n);
        if (error < 0)
            w->pend.len = len0;
    }
    if (error < 0)
        goto done;
    w->seg_size += FRAME_SIZE + n;
    w->last_seq = seq;
    w->appends++;
    w->bytes += FRAME_SIZE + n;
    if (w->pend.len >= FLUSH_MAX && !w->flushing && !w->turn_waiting)
        (void)flush_round(w); /* a failure is sticky; this record is in */
done:
    if (wake)
        pthread_cond_broadcast(&w->cv); /* settle() may wait for this */
    pthread_mutex_unlock(&w->mu);
    return error;
}

int vs_wal_wait(vs_wal *w, uint64_t seq)
{
    int error;

    pthread_mutex_lock(&w->mu);
    error = settle(w, seq, w->policy == VS_WAL_FSYNC_ALWAYS);
    pthread_mutex_unlock(&w->mu);
    return error;
}

int vs_wal_append(vs_wal *w, const void *body, size_t n)
{
    int error = vs_wal_write(w, body, n);
    if (error < 0)
        return error;
    return vs_wal_wait(w, vs_wal__get64(body));
}

/* Delete, or move into `archive` (when not NULL), the segments whose
 * records all have seq <= `seq`; *moved gets their first seqs. */
static int drop_covered(vs_wal *w, uint64_t seq, const char *archive,
                        uint64_t **moved, size_t *nmoved)
{
    int error = 0;
    size_t del = 0;
    char path[PATH_SIZE], to[PATH_SIZE];

    if (moved) {
        *moved = NULL;
        *nmoved = 0;
    }
    if (archive) {
        error = vs_wal__check_dir(archive);
        if (!error)
            error = vs_fs_mkdirs(archive);
        if (error < 0)
            return error;
    }
    pthread_mutex_lock(&w->mu);
    size_t n = 0;
    while (n + 1 < w->nsegs && w->segs[n + 1] - 1 <= seq)
        n++;
    if (n && moved) {
        *moved = malloc(n * sizeof(**moved));
        if (!*moved) {
            pthread_mutex_unlock(&w->mu);
            return vs_error_oom();
        }
    }
    for (; del < n; del++) {
        vs_wal__seg_path(path, w->dir, w->segs[del]);
        uint64_t size = vs_wal__file_size(path);
        if (archive) {
            vs_wal__seg_path(to, archive, w->segs[del]);
            if (rename(path, to) < 0) {
                error = vs_error_set_os(VS_EIO,
                                        "cannot move wal segment '%s' "
                                        "to '%s'",
                                        path, archive);
                break;
            }
        } else if (unlink(path) < 0 && errno != ENOENT) {
            error =
                vs_error_set_os(VS_EIO, "cannot delete wal segment '%s'", path);
            break;
        }
        w->closed_bytes -= size < w->closed_bytes ? size : w->closed_bytes;
        if (moved)
            (*moved)[(*nmoved)++] = w->segs[del];
    }
    if (del) {
        memmove(w->segs, w->segs + del, (w->nsegs - del) * sizeof(*w->segs));
        w->nsegs -= del;
        int e = archive ? vs_fs_fsync_dir(archive) : 0;
        if (!e)
            e = vs_fs_fsync_dir(w->dir);
        if (!error)
            error = e;
    }
    pthread_mutex_unlock(&w->mu);
    if (moved && !*nmoved) {
        free(*moved);
        *moved = NULL;
    }
    return error;
}

int vs_wal_truncate(vs_wal *w, uint64_t seq)
{
    return drop_covered(w, seq, NULL, NULL, NULL);
}

int vs_wal_archive(vs_wal *w, uint64_t seq, const char *archive_dir,
                   uint64_t **moved, size_t *nmoved)
{
    if (!archive_dir)
        return vs_error_set(VS_EINVALID, "wal archive: no directory");
    return drop_covered(w, seq, archive_dir, moved, nmoved);
}

bool vs_wal_failed(vs_wal *w, char *why, size_t n)
{
    if (!atomic_load(&w->failed_seen)) /* every write asks: no lock */
        return false;
    pthread_mutex_lock(&w->mu);
    bool failed = w->failed;
    if (failed && why && n)
        snprintf(why, n, "%s", w->why);
    pthread_mutex_unlock(&w->mu);
    return failed;
}

const char *vs_wal_dir(const vs_wal *w)
{
    return w->dir;
}

vs_wal_fsync vs_wal_policy(const vs_wal *w)
{
    return w->policy;
}

void vs_wal_stats_get(vs_wal *w, vs_wal_stats *out)
{
    pthread_mutex_lock(&w->mu);
    out->appends = w->appends;
    out->bytes = w->bytes;
    out->syncs = w->syncs;
    out->segments = w->nsegs;
    out->last_seq = w->last_seq;
    out->sync_max_us = w->sync_max_us;
    out->first_seq = w->nsegs ? w->segs[0] : 0;
    out->disk_bytes = w->closed_bytes + (w->fd >= 0 ? w->seg_size : 0);
    pthread_mutex_unlock(&w->mu);
}
