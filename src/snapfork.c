/*
 * snapfork: hot, consistent snapshots by fork (see snapfork.h for the
 * contract and the invariants the child relies on).  This file owns the
 * fork itself, the child's set-up and its report protocol, the parent's
 * wait loop (progress, cancellation, reaping, the cause of a death), the
 * private work directory of a file save and its clean-up.
 *
 * Protocol: the child writes fixed-size messages of at most PIPE_BUF bytes
 * (so each arrives whole) on a control pipe:
 *   READY     set-up done (sent before any byte of data);
 *   PROGRESS  records done / total, at most every PROGRESS_NS, dropped
 *             when the pipe is full (nobody polls a stream's progress);
 *   RESULT    the error code and message or the vs_file_info, last.
 * A RESULT with `retry` set means the child found a library lock held at
 * the fork and wrote nothing: the parent reaps it and forks again.
 */
#include "snapfork.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

#define HEARTBEAT_MS 200             /* parent: progress at least this often */
#define PROGRESS_NS (50 * 1000000LL) /* child: progress at most this often */
#define RETRY_MAX 40                 /* forks when sqlite was busy */
#define DATA_PIPE_SIZE (1 << 20)
#define TEXT_MAX 1024
#define CHILD_OOM_SCORE_ADJ 800

enum { MSG_READY = 1, MSG_PROGRESS = 2, MSG_RESULT = 3 };
enum { MODE_FILE = 0, MODE_STREAM = 1 };

typedef struct msg {
    uint32_t type;
    int32_t code;   /* RESULT: 0 or a vs_errcode */
    uint32_t retry; /* RESULT: fork again */
    uint64_t done, total;
    vs_file_info info;
    char text[TEXT_MAX]; /* RESULT: the error message */
} msg;

_Static_assert(sizeof(msg) <= PIPE_BUF, "a message must be written whole");

struct vs_snapfork {
    pid_t pid;
    int ctl;       /* read end of the control pipe */
    int data;      /* stream: read end of the data pipe, else -1 */
    char *workdir; /* private work directory, or NULL */
    uint64_t seq, done, total;
    msg in; /* message being read */
    size_t inlen;
    msg result;
    bool have_result, ready, eof;
    bool reaped, cancelled, finished;
    int status; /* waitpid status once reaped */
};

/* What the child is to do; filled by the parent before the fork. */
typedef struct plan {
    int mode;
    vs_store *st;
    vs_save_options opts;
    const char *stage; /* file: where the child saves */
    int ctl_w, data_w; /* the child's ends (-1: none) */
    pid_t parent;
    uint64_t total;
} plan;

vs_snapfork_test_hooks vs_snapfork__test_hooks;

static _Atomic uint64_t stat_forks, stat_failures, stat_fork_usec,
    stat_pause_usec, stat_max_pause_usec, stat_retries;
static _Atomic uint64_t workdir_counter;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void vs_snapfork_stats_get(vs_snapfork_stats *out)
{
    out->forks = atomic_load(&stat_forks);
    out->fork_failures = atomic_load(&stat_failures);
    out->last_fork_usec = atomic_load(&stat_fork_usec);
    out->last_pause_usec = atomic_load(&stat_pause_usec);
    out->max_pause_usec = atomic_load(&stat_max_pause_usec);
    out->retries = atomic_load(&stat_retries);
}

static void note_pause(uint64_t usec)
{
    atomic_store(&stat_pause_usec, usec);
    uint64_t old = atomic_load(&stat_max_pause_usec);
    while (usec > old &&
           !atomic_compare_exchange_weak(&stat_max_pause_usec, &old, usec))
        ;
}

/* ---- the child ----------------------------------------------------------- */

/* Write a whole message (blocking or not, as the descriptor is set). */
static int send_msg(int fd, const msg *m)
{
    for (;;) {
        ssize_t w = write(fd, m, sizeof(*m));
        if (w == (ssize_t)sizeof(*m))
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

static void set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static void reset_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &sa, NULL); /* glibc's own signals: EINVAL, fine */
    }
    /* A reader that went away is a write error, not a silent death. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
}

static void close_from_to(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (close_range(lo, hi, 0) == 0)
        return;
    /* Kernels before 5.9: walk the descriptor table. */
    struct rlimit rl;
    unsigned top = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < top)
        top = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < top; fd++)
        close((int)fd);
}

/* Close every descriptor but 0, 1, 2, a and b (b may be -1): the child must
 * not keep the server's sockets and files open. */
static void close_other_fds(int a, int b)
{
    int keep[2] = {a < b ? a : b, a < b ? b : a};
    unsigned lo = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)lo)
            continue;
        close_from_to(lo, (unsigned)keep[i] - 1);
        lo = (unsigned)keep[i] + 1;
    }
    close_from_to(lo, ~0U);
}

/* SQLite's global mutexes: the child is the only thread, so one found held
 * was held by a parent thread at the fork and will never be released. */
static bool sqlite_locks_free(void)
{
    static const int ids[] = {
        SQLITE_MUTEX_STATIC_MAIN, SQLITE_MUTEX_STATIC_MEM,
        SQLITE_MUTEX_STATIC_OPEN, SQLITE_MUTEX_STATIC_PRNG,
        SQLITE_MUTEX_STATIC_LRU,  SQLITE_MUTEX_STATIC_PMEM,
        SQLITE_MUTEX_STATIC_APP1, SQLITE_MUTEX_STATIC_APP2,
        SQLITE_MUTEX_STATIC_APP3, SQLITE_MUTEX_STATIC_VFS1,
        SQLITE_MUTEX_STATIC_VFS2, SQLITE_MUTEX_STATIC_VFS3};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        sqlite3_mutex *m = sqlite3_mutex_alloc(ids[i]);
        if (!m)
            continue; /* a build without mutexes */
        if (sqlite3_mutex_try(m) != SQLITE_OK)
            return false;
        sqlite3_mutex_leave(m);
    }
    return true;
}

/* If memory runs out while pages are copied on write, the kernel should
 * kill the snapshot writer, not the server (Redis's bgchild setting). */
static void prefer_oom_kill(void)
{
    char buf[16];
    int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (strtol(buf, NULL, 10) < CHILD_OOM_SCORE_ADJ) {
            int len = snprintf(buf, sizeof(buf), "%d", CHILD_OOM_SCORE_ADJ);
            ssize_t w = pwrite(fd, buf, (size_t)len, 0);
            (void)w; /* best effort */
        }
    }
    close(fd);
}

typedef struct child_ctx {
    int fd;
    int64_t last_ns;
} child_ctx;

static int child_progress(void *payload, uint64_t done, uint64_t total)
{
    child_ctx *c = payload;
    if (vs_snapfork__test_hooks.child)
        vs_snapfork__test_hooks.child(done, total);
    int64_t t = now_ns();
    if (done < total && t - c->last_ns < PROGRESS_NS)
        return 0;
    c->last_ns = t;
    msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_PROGRESS;
    m.done = done;
    m.total = total;
    (void)send_msg(c->fd, &m); /* non-blocking: dropped when full */
    return 0;
}

static void send_result(int fd, int error, const vs_file_info *info, bool retry)
{
    msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_RESULT;
    m.code = error;
    m.retry = retry;
    if (info)
        m.info = *info;
    if (error < 0)
        snprintf(m.text, sizeof(m.text), "%s", vs_error_last());
    set_nonblock(fd, false);
    (void)send_msg(fd, &m);
}

static int child_save(vs_file_info *info, const plan *p, int ctl)
{
    child_ctx ctx = {ctl, 0};
    vs_save_options o = p->opts;
    o.progress = child_progress;
    o.payload = &ctx;
    if (p->mode == MODE_FILE)
        return vs_fmt_save_file(info, p->stage, p->st, &o);
    vs_stream *w = NULL;
    int error = vs_stream_fd_writer_new(&w, p->data_w, false);
    if (error == 0)
        error = vs_fmt_save_stream(info, w, p->st, &o);
    vs_stream_free(w);
    close(p->data_w); /* the reader sees the end before the result */
    return error;
}

/* Runs in the child: never returns.  It must not take the store lock. */
static void child_main(const plan *p)
{
    reset_signals();
    close_other_fds(p->ctl_w, p->data_w);
    prefer_oom_kill();
    if (p->mode == MODE_FILE) {
        /* The forking thread waits for us; if the process dies, so do we. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != p->parent)
            _exit(1);
    }
    if (p->opts.format == VS_FORMAT_SQLITE && !sqlite_locks_free()) {
        vs_error_set(VS_EBUSY, "sqlite was in use at the fork");
        send_result(p->ctl_w, VS_EBUSY, NULL, true);
        _exit(1);
    }
    msg m;
    memset(&m, 0, sizeof(m));
    m.type = MSG_READY;
    m.total = p->total;
    if (send_msg(p->ctl_w, &m) < 0)
        _exit(1);
    set_nonblock(p->ctl_w, true);
    if (vs_snapfork__test_hooks.child)
        vs_snapfork__test_hooks.child(0, p->total);
    vs_file_info info;
    memset(&info, 0, sizeof(info));
    int error = child_save(&info, p, p->ctl_w);
    send_result(p->ctl_w, error, &info, false);
    _exit(error == 0 ? 0 : 1);
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

/* Remove a work directory and whatever a child left in it (files only). */
static void workdir_remove(const char *dir)
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
            if (h->in.type == MSG_READY) {
                h->ready = true;
            } else if (h->in.type == MSG_PROGRESS) {
                h->done = h->in.done;
                h->total = h->in.total;
            } else if (h->in.type == MSG_RESULT) {
                h->result = h->in;
                h->result.text[TEXT_MAX - 1] = '\0';
                h->have_result = true;
            }
        }
        r = poll(&pfd, 1, 0);
    }
}

/* Set the message for a child that ended without a good result. */
static int died(const vs_snapfork *h)
{
    int st = h->status;
    if (h->status < 0)
        return vs_error_set(VS_EIO, "snapshot writer died: its status was "
                                    "lost (is SIGCHLD ignored?)");
    if (WIFSIGNALED(st)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(st));
        const char *descr = sigdescr_np(WTERMSIG(st));
        return vs_error_set(VS_EIO,
                            "snapshot writer died: killed by signal %d "
                            "(SIG%s: %s)",
                            WTERMSIG(st), abbrev ? abbrev : "?",
                            descr ? descr : "unknown");
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        return vs_error_set(VS_EIO, "snapshot writer died: exit status %d",
                            WEXITSTATUS(st));
    return vs_error_set(VS_EIO,
                        "snapshot writer died: it ended without a result");
}

/* The child's outcome once its pipe is at end of file and it is reaped. */
static int outcome(vs_file_info *info, const vs_snapfork *h)
{
    if (h->cancelled)
        return vs_error_set(VS_ECANCELLED, "cancelled");
    if (!h->have_result)
        return died(h);
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
static int fork_locked(vs_snapfork *h, plan *p, vs_snapshot_collection **cols,
                       size_t *ncols)
{
    vs_collection **list = NULL;
    size_t n = 0;
    vs_store_rdlock(p->st);
    int64_t t0 = now_ns();
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
    int64_t t1 = now_ns();
    pid_t pid =
        vs_snapfork__test_hooks.fork ? vs_snapfork__test_hooks.fork() : fork();
    if (pid == 0)
        child_main(p); /* never returns */
    int saved = errno;
    int64_t t2 = now_ns();
    vs_store_unlock(p->st);
    note_pause((uint64_t)(now_ns() - t0) / 1000);
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
static int attempt(vs_snapfork *h, plan *p, bool *retry,
                   vs_snapshot_collection **cols, size_t *ncols)
{
    int ctl[2] = {-1, -1}, data[2] = {-1, -1};
    *retry = false;
    int error = make_pipe(ctl);
    if (error == 0 && p->mode == MODE_STREAM) {
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
    while (!h->ready && !h->eof)
        pump(h, -1);
    if (h->ready)
        goto done;
    /* No READY: the child refused (retry) or died in its set-up. */
    while (!h->eof)
        pump(h, -1);
    reap(h, false);
    *retry = h->have_result && h->result.retry;
    error = outcome(NULL, h);
    close_fd(&h->ctl);
    close_fd(&h->data);
    h->pid = 0;
    h->reaped = h->have_result = h->eof = false;
done:
    close_fd(&ctl[0]);
    close_fd(&ctl[1]);
    close_fd(&data[0]);
    close_fd(&data[1]);
    return error;
}

/* Start a child for plan `p`; on success h holds a READY child. */
static int start(vs_snapfork *h, plan *p, vs_snapshot_collection **cols,
                 size_t *ncols)
{
    int error = check_options(&p->opts);
    if (error == 0)
        error = vs_checksum_global_init(); /* the digest, before forking */
    for (int i = 0; error == 0 && i < RETRY_MAX; i++) {
        bool retry;
        error = attempt(h, p, &retry, cols, ncols);
        if (error == 0 || !retry)
            return error;
        if (i + 1 == RETRY_MAX)
            return vs_error_set(VS_EBUSY, "sqlite was in use by another "
                                          "thread at every fork; try again");
        vs_error_clear();
        error = 0;
        atomic_fetch_add(&stat_retries, 1);
        struct timespec ts = {0, (long)(i < 10 ? i + 1 : 10) * 5000000L};
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

/* The file-mode core: fork, relay progress, rename into place. */
static int save_file(vs_file_info *info, vs_store *st, const char *path,
                     const vs_save_options *opts, vs_snapshot_collection **cols,
                     size_t *ncols)
{
    vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    plan p;
    memset(&p, 0, sizeof(p));
    p.mode = MODE_FILE;
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
    if (error == 0)
        error = start(h, &p, cols, ncols);
    while (error == 0 && !h->eof) {
        pump(h, HEARTBEAT_MS);
        if (p.opts.progress &&
            p.opts.progress(p.opts.payload, h->done, h->total) != 0) {
            vs_snapfork_cancel(h);
            break;
        }
    }
    if (error == 0) {
        reap(h, h->cancelled);
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
    plan p;
    memset(&p, 0, sizeof(p));
    p.mode = MODE_STREAM;
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
    if (!h->eof)
        pump(h, 0);
    if (done)
        *done = h->done;
    if (total)
        *total = h->total;
    return h->have_result;
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
    while (!h->eof)
        pump(h, -1);
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
