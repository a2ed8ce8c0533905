/*
 * snapfork: hot, consistent snapshots by fork (see snapfork.h for the
 * contract and the invariants the child relies on, snapfork_int.h for the
 * report protocol; snapfork_child.c is the child).  This file owns the
 * parent's side: the fork itself under the store's read lock, the wait loop
 * (progress, cancellation, reaping, forking again), the watchdog's verdict
 * on a child that may be deadlocked, and the private work directory of a
 * file save and its clean-up.
 */
#include "snapfork_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

#define HEARTBEAT_MS 200                  /* progress at least this often */
#define RETRY_MAX 40                      /* forks when sqlite was busy */
#define STALL_QUIET_NS (1000 * 1000000LL) /* silence before looking closer */
#define STALL_NS (3000 * 1000000LL)       /* frozen this long: deadlocked */
#define STALL_TRIES 3                     /* deadlocked children per call */
#define DATA_PIPE_SIZE (1 << 20)

struct vs_snapfork {
    pid_t pid;
    int ctl;       /* read end of the control pipe */
    int data;      /* stream: read end of the data pipe, else -1 */
    char *workdir; /* private work directory, or NULL */
    uint64_t seq, done, total;
    vs_snapfork__msg in; /* message being read */
    size_t inlen;
    vs_snapfork__msg result;
    bool have_result, ready, eof;
    bool reaped, cancelled, finished, stalled;
    int status; /* waitpid status once reaped */
    /* watchdog */
    uint64_t nmsgs, seen_msgs;
    int64_t last_msg_ns, frozen_ns;
    vs_snapfork__witness witness; /* at frozen_ns */
    int nstalls;                  /* children killed as deadlocked */
};

vs_snapfork_test_hooks vs_snapfork__test_hooks;

static _Atomic uint64_t stat_forks, stat_failures, stat_fork_usec,
    stat_pause_usec, stat_max_pause_usec, stat_retries, stat_stalls;
static _Atomic uint64_t workdir_counter;

void vs_snapfork_stats_get(vs_snapfork_stats *out)
{
    out->forks = atomic_load(&stat_forks);
    out->fork_failures = atomic_load(&stat_failures);
    out->last_fork_usec = atomic_load(&stat_fork_usec);
    out->last_pause_usec = atomic_load(&stat_pause_usec);
    out->max_pause_usec = atomic_load(&stat_max_pause_usec);
    out->retries = atomic_load(&stat_retries);
    out->stalls = atomic_load(&stat_stalls);
}

static void note_pause(uint64_t usec)
{
    atomic_store(&stat_pause_usec, usec);
    uint64_t old = atomic_load(&stat_max_pause_usec);
    while (usec > old &&
           !atomic_compare_exchange_weak(&stat_max_pause_usec, &old, usec))
        ;
}

/* ---- the work directory -------------------------------------------------- */

/* malloc'd directory part of `path` ("." when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int workdir_new(char **out, const char *parent)
{
    *out = NULL;
    size_t n = strlen(parent) + 64;
    char *dir = malloc(n);
    if (!dir)
        return vs_error_oom();
    snprintf(dir, n, "%s/.snapfork-%ld-%llu", parent, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&workdir_counter, 1));
    if (mkdir(dir, 0700) < 0) {
        int error = vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                                    "failed to create '%s'", dir);
        free(dir);
        return error;
    }
    *out = dir;
    return 0;
}

/* Remove what a child left in a work directory (files only). */
static void workdir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
}

static void workdir_remove(const char *dir)
{
    workdir_empty(dir);
    rmdir(dir);
}

/* ---- the parent ---------------------------------------------------------- */

static int check_options(const vs_save_options *o)
{
    int level;
    if (o->version != VS_SAVE_OPTIONS_VERSION)
        return vs_error_set(VS_EINVALID, "unsupported save options version");
    if (o->format != VS_FORMAT_BIN && o->format != VS_FORMAT_JSON &&
        o->format != VS_FORMAT_SQLITE)
        return vs_error_set(VS_EINVALID, "cannot save in format '%s'",
                            vs_format_name(o->format));
    if (o->codec == VS_CODEC_AUTO || !vs_codec_info_of(o->codec))
        return vs_error_set(VS_EINVALID, "unknown compression");
    return vs_codec_check_level(&level, o->codec, o->level);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void reap(vs_snapfork *h, bool kill_first)
{
    if (h->reaped || h->pid <= 0)
        return;
    if (kill_first)
        kill(h->pid, SIGKILL);
    int status = 0;
    pid_t r;
    do {
        r = waitpid(h->pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    h->status = r == h->pid ? status : -1; /* -1: SIGCHLD ignored */
    h->reaped = true;
}

/* Read what the control pipe holds, waiting up to timeout_ms (-1: until
 * something arrives).  Sets h->eof at end of file. */
static void pump(vs_snapfork *h, int timeout_ms)
{
    struct pollfd pfd = {h->ctl, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    while (r > 0 && !h->eof) {
        ssize_t got =
            read(h->ctl, (char *)&h->in + h->inlen, sizeof(h->in) - h->inlen);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            break;
        if (got <= 0) {
            h->eof = true;
            break;
        }
        h->inlen += (size_t)got;
        if (h->inlen == sizeof(h->in)) {
            h->inlen = 0;
            h->nmsgs++;
            if (h->in.type == VS_SNAPFORK__READY) {
                h->ready = true;
            } else if (h->in.type == VS_SNAPFORK__PROGRESS) {
                h->done = h->in.done;
                h->total = h->in.total;
            } else if (h->in.type == VS_SNAPFORK__RESULT) {
                h->result = h->in;
                h->result.text[VS_SNAPFORK__TEXT_MAX - 1] = '\0';
                h->have_result = true;
            }
        }
        r = poll(&pfd, 1, 0);
    }
}

/* ---- the watchdog ------------------------------------------------------- */

/* Called at every heartbeat: true once the child has said nothing for a
 * while and has been frozen (every thread asleep in a futex wait) for the
 * whole stall period without any of its threads running once in between
 * (the witness unchanged).  That is a deadlock, not slowness: a child that
 * waits in write() on a full pipe, in fsync or on a slow disk, that sleeps,
 * or that wakes from a timed wait now and then, is never frozen that long. */
static bool stalled(vs_snapfork *h)
{
    int64_t t = vs_snapfork__now_ns();
    int64_t limit = vs_snapfork__test_hooks.stall_ms > 0
                        ? vs_snapfork__test_hooks.stall_ms * 1000000LL
                        : STALL_NS;
    int64_t quiet = limit < STALL_QUIET_NS ? limit : STALL_QUIET_NS;
    vs_snapfork__witness w;
    if (h->nmsgs != h->seen_msgs || !h->last_msg_ns) {
        h->seen_msgs = h->nmsgs;
        h->last_msg_ns = t;
        h->frozen_ns = 0;
        return false;
    }
    if (h->eof || h->reaped || h->cancelled || h->stalled ||
        t - h->last_msg_ns < quiet)
        return false;
    if (!vs_snapfork__frozen(&w, h->pid)) {
        h->frozen_ns = 0;
        return false;
    }
    if (!h->frozen_ns || memcmp(&w, &h->witness, sizeof(w)) != 0) {
        h->frozen_ns = t; /* frozen from now on, if at all */
        h->witness = w;
        return false;
    }
    return t - h->frozen_ns >= limit;
}

/* Kill the child if it deadlocked; its pipe then reaches end of file. */
static void watchdog(vs_snapfork *h)
{
    if (stalled(h)) {
        kill(h->pid, SIGKILL);
        h->stalled = true;
        h->nstalls++;
        atomic_fetch_add(&stat_stalls, 1);
    }
}

/* The child's outcome once its pipe is at end of file and it is reaped. */
static int outcome(vs_file_info *info, const vs_snapfork *h)
{
    if (h->cancelled)
        return vs_error_set(VS_ECANCELLED, "cancelled");
    if (h->stalled)
        return vs_error_set(VS_EIO,
                            "snapshot writer deadlocked on a lock another "
                            "thread held at the fork; killed it");
    if (!h->have_result)
        return vs_snapfork__died(h->status);
    if (h->result.code < 0)
        return vs_error_set(h->result.code, "%s", h->result.text);
    if (h->result.info.seq != h->seq)
        return vs_error_set(VS_ERROR,
                            "snapshot writer saved seq %llu, not the %llu "
                            "of the fork",
                            (unsigned long long)h->result.info.seq,
                            (unsigned long long)h->seq);
    if (info)
        *info = h->result.info;
    return 0;
}

/* Back to no child (it is reaped): for another fork. */
static void handle_reset(vs_snapfork *h)
{
    close_fd(&h->ctl);
    close_fd(&h->data);
    h->pid = 0;
    h->inlen = 0;
    h->done = h->nmsgs = h->seen_msgs = 0;
    h->last_msg_ns = h->frozen_ns = 0;
    h->ready = h->eof = h->have_result = false;
    h->reaped = h->cancelled = h->stalled = false;
}

static void handle_free(vs_snapfork *h)
{
    if (!h)
        return;
    reap(h, true);
    close_fd(&h->ctl);
    close_fd(&h->data);
    if (h->workdir)
        workdir_remove(h->workdir);
    free(h->workdir);
    free(h);
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return vs_error_set_os(errno == EMFILE || errno == ENFILE ? VS_EIO
                                                                  : VS_ERROR,
                               "cannot create a pipe for the snapshot writer");
    return 0;
}

/* Under the store's read lock: resolve the collections (and describe them
 * for a catalog), read the sequence number, fork.  Releases the lock in
 * the parent right after the fork. */
static int fork_locked(vs_snapfork *h, vs_snapfork__plan *p,
                       vs_snapshot_collection **cols, size_t *ncols)
{
    vs_collection **list = NULL;
    size_t n = 0;
    vs_store_rdlock(p->st);
    int64_t t0 = vs_snapfork__now_ns();
    int error = vs_fmt__select(&list, &n, p->st, &p->opts);
    p->total = 0;
    for (size_t i = 0; error == 0 && i < n; i++)
        p->total += vs_collection_count(list[i]);
    free(list);
    if (error == 0 && cols) { /* again on a retry: a new instant */
        free(*cols);
        *cols = NULL;
        error = vs_snapshot_describe(cols, ncols, p->st, &p->opts);
    }
    h->seq = vs_store_seq(p->st);
    h->total = p->total;
    if (error < 0) {
        vs_store_unlock(p->st);
        return error;
    }
    p->parent = getpid();
    int64_t t1 = vs_snapfork__now_ns();
    pid_t pid =
        vs_snapfork__test_hooks.fork ? vs_snapfork__test_hooks.fork() : fork();
    if (pid == 0)
        vs_snapfork__child_main(p); /* never returns */
    int saved = errno;
    int64_t t2 = vs_snapfork__now_ns();
    vs_store_unlock(p->st);
    note_pause((uint64_t)(vs_snapfork__now_ns() - t0) / 1000);
    if (pid < 0) {
        atomic_fetch_add(&stat_failures, 1);
        errno = saved;
        return vs_error_set_os(saved == ENOMEM ? VS_ENOMEM : VS_EIO,
                               "cannot fork the snapshot writer");
    }
    atomic_fetch_add(&stat_forks, 1);
    atomic_store(&stat_fork_usec, (uint64_t)(t2 - t1) / 1000);
    h->pid = pid;
    return 0;
}

/* One attempt: pipes, fork, wait for READY.  On failure the child (if any)
 * is reaped and h is back to no child; *retry says whether to fork again. */
static int attempt(vs_snapfork *h, vs_snapfork__plan *p, bool *retry,
                   vs_snapshot_collection **cols, size_t *ncols)
{
    int ctl[2] = {-1, -1}, data[2] = {-1, -1};
    *retry = false;
    int error = make_pipe(ctl);
    if (error == 0 && p->mode == VS_SNAPFORK__STREAM) {
        error = make_pipe(data);
        if (error == 0)
            fcntl(data[1], F_SETPIPE_SZ, DATA_PIPE_SIZE); /* best effort */
    }
    if (error < 0)
        goto done;
    p->ctl_w = ctl[1];
    p->data_w = data[1];
    error = fork_locked(h, p, cols, ncols);
    close_fd(&ctl[1]);
    close_fd(&data[1]);
    if (error < 0)
        goto done;
    h->ctl = ctl[0];
    h->data = data[0];
    ctl[0] = data[0] = -1;
    while (!h->ready && !h->eof) {
        pump(h, HEARTBEAT_MS);
        watchdog(h); /* it may deadlock before it is ready */
    }
    if (h->ready)
        goto done;
    /* No READY: the child refused (retry), died or deadlocked in its set-up;
     * its pipe ends once it is gone. */
    while (!h->eof)
        pump(h, -1);
    reap(h, false);
    *retry = h->have_result && h->result.retry;
    error = outcome(NULL, h);
    handle_reset(h);
done:
    close_fd(&ctl[0]);
    close_fd(&ctl[1]);
    close_fd(&data[0]);
    close_fd(&data[1]);
    return error;
}

/* Start a child for plan `p`; on success h holds a READY child.  Forks
 * again when sqlite was busy (up to RETRY_MAX times) or when the child
 * deadlocked before it was ready, having written nothing (up to
 * STALL_TRIES children killed in all for h). */
static int start(vs_snapfork *h, vs_snapfork__plan *p,
                 vs_snapshot_collection **cols, size_t *ncols)
{
    int error = check_options(&p->opts);
    if (error == 0)
        error = vs_checksum_global_init(); /* the digest, before forking */
    for (int busy = 0; error == 0;) {
        bool retry;
        int stalls = h->nstalls;
        error = attempt(h, p, &retry, cols, ncols);
        if (error == 0)
            return 0;
        if (h->nstalls > stalls && h->nstalls < STALL_TRIES) {
            vs_error_clear();
            error = 0;
            continue;
        }
        if (!retry)
            return error;
        if (++busy == RETRY_MAX)
            return vs_error_set(VS_EBUSY, "sqlite was in use by another "
                                          "thread at every fork; try again");
        vs_error_clear();
        error = 0;
        atomic_fetch_add(&stat_retries, 1);
        struct timespec ts = {0, (long)(busy < 10 ? busy : 10) * 5000000L};
        nanosleep(&ts, NULL);
    }
    return error;
}

static vs_snapfork *handle_new(void)
{
    vs_snapfork *h = calloc(1, sizeof(*h));
    if (h) {
        h->ctl = -1;
        h->data = -1;
    }
    return h;
}

/* Relay the child's progress until its pipe ends; cancel on request, kill
 * it when it deadlocked. */
static void relay(vs_snapfork *h, const vs_save_options *o)
{
    while (!h->eof && !h->stalled) {
        pump(h, HEARTBEAT_MS);
        if (o->progress && o->progress(o->payload, h->done, h->total) != 0) {
            vs_snapfork_cancel(h);
            return;
        }
        watchdog(h);
    }
}

/* The file-mode core: fork, relay progress, rename into place. */
static int save_file(vs_file_info *info, vs_store *st, const char *path,
                     const vs_save_options *opts, vs_snapshot_collection **cols,
                     size_t *ncols)
{
    vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    vs_snapfork__plan p;
    memset(&p, 0, sizeof(p));
    p.mode = VS_SNAPFORK__FILE;
    p.st = st;
    p.opts = opts ? *opts : defaults;
    char *dir = dir_of(path), *stage = NULL;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    vs_snapfork *h = handle_new();
    int error = dir && h ? 0 : vs_error_oom();
    if (error == 0 && !*base)
        error = vs_error_set(VS_EINVALID, "'%s' names no file", path);
    if (error == 0)
        error = workdir_new(&h->workdir, dir);
    if (error == 0) {
        size_t n = strlen(h->workdir) + strlen(base) + 2;
        stage = malloc(n);
        if (!stage)
            error = vs_error_oom();
        else
            snprintf(stage, n, "%s/%s", h->workdir, base);
    }
    p.stage = stage;
    p.opts.tmpdir = h ? h->workdir : NULL; /* sqlite work files die with it */
    while (error == 0) {
        error = start(h, &p, cols, ncols);
        if (error < 0)
            break;
        relay(h, &p.opts);
        if (!h->stalled || h->nstalls >= STALL_TRIES)
            break;
        reap(h, true); /* deadlocked: start afresh */
        handle_reset(h);
        workdir_empty(h->workdir);
    }
    if (error == 0) {
        reap(h, h->cancelled || h->stalled);
        error = outcome(info, h);
    }
    if (error == 0 && rename(stage, path) < 0)
        error = vs_error_set_os(VS_EIO, "failed to rename '%s' to '%s'", stage,
                                path);
    if (error == 0)
        error = vs_fs_fsync_dir(dir);
    handle_free(h);
    free(stage);
    free(dir);
    return error;
}

int vs_snapfork_save(vs_file_info *info, vs_store *st, const char *path,
                     const vs_save_options *opts)
{
    if (info)
        memset(info, 0, sizeof(*info));
    return save_file(info, st, path, opts, NULL, NULL);
}

int vs_snapfork_create(vs_snapshot *out, vs_catalog *cat, vs_store *st,
                       const char *name, const vs_save_options *opts)
{
    if (out)
        memset(out, 0, sizeof(*out));
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    if (opts)
        o = *opts;
    if (!o.key)
        o.key = vs_catalog_save_key(cat);
    vs_pending *p = NULL;
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    vs_file_info info;
    int error = vs_catalog_begin(&p, cat, name, o.format, o.codec);
    if (error == 0)
        error =
            save_file(&info, st, vs_pending_data_path(p), &o, &cols, &ncols);
    if (error == 0) {
        error = vs_catalog_commit(out, cat, p, &info, cols, ncols, "save");
        p = NULL; /* freed by commit */
    }
    vs_catalog_abort(p);
    free(cols);
    return error;
}

/* ---- streams ------------------------------------------------------------- */

int vs_snapfork_stream(vs_snapfork **out, vs_store *st,
                       const vs_save_options *opts)
{
    *out = NULL;
    vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    vs_snapfork__plan p;
    memset(&p, 0, sizeof(p));
    p.mode = VS_SNAPFORK__STREAM;
    p.st = st;
    p.opts = opts ? *opts : defaults;
    vs_snapfork *h = handle_new();
    int error = h ? 0 : vs_error_oom();
    if (error == 0 && p.opts.format == VS_FORMAT_SQLITE) {
        /* sqlite is staged in a file: keep it where the parent cleans. */
        const char *tmp = p.opts.tmpdir ? p.opts.tmpdir : getenv("TMPDIR");
        error = workdir_new(&h->workdir, tmp && *tmp ? tmp : "/tmp");
        p.opts.tmpdir = h->workdir;
    }
    if (error == 0)
        error = start(h, &p, NULL, NULL);
    if (error < 0) {
        handle_free(h);
        return error;
    }
    *out = h;
    return 0;
}

int vs_snapfork_fd(const vs_snapfork *h)
{
    return h->data;
}

int vs_snapfork_take_fd(vs_snapfork *h)
{
    int fd = h->data;
    h->data = -1;
    return fd;
}

uint64_t vs_snapfork_seq(const vs_snapfork *h)
{
    return h->seq;
}

pid_t vs_snapfork_pid(const vs_snapfork *h)
{
    return h->pid;
}

bool vs_snapfork_poll(vs_snapfork *h, uint64_t *done, uint64_t *total)
{
    if (!h->eof) {
        pump(h, 0);
        watchdog(h);
    }
    if (done)
        *done = h->done;
    if (total)
        *total = h->total;
    return h->have_result || h->eof;
}

int vs_snapfork_finish(vs_file_info *info, vs_snapfork *h)
{
    if (info)
        memset(info, 0, sizeof(*info));
    if (h->finished)
        return vs_error_set(VS_EINVALID, "snapshot writer already finished");
    h->finished = true;
    /* A reader that stopped early: let a blocked child fail, not hang. */
    close_fd(&h->data);
    while (!h->eof) {
        pump(h, HEARTBEAT_MS);
        watchdog(h);
    }
    reap(h, false);
    int error = outcome(info, h);
    if (h->workdir) {
        workdir_remove(h->workdir);
        free(h->workdir);
        h->workdir = NULL;
    }
    return error;
}

void vs_snapfork_cancel(vs_snapfork *h)
{
    if (!h->reaped && h->pid > 0) {
        kill(h->pid, SIGKILL);
        h->cancelled = true;
    }
}

void vs_snapfork_free(vs_snapfork *h)
{
    handle_free(h);
}
