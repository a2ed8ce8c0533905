/*
 * snapfork_child: the child side of snapfork (see snapfork.h for the
 * contract and the invariants, snapfork_int.h for the report protocol).
 * This file owns what runs in the forked child -- its set-up (signals,
 * descriptors, the OOM score, the death signal), the check that no sqlite
 * lock was held at the fork, the serialisation, and the READY, PROGRESS and
 * RESULT reports on the control pipe -- and what the parent learns of the
 * child from outside: the cause of a death from its wait status, and for
 * the watchdog, from /proc, whether it is frozen and the witness that tells
 * whether it ran between two looks.
 */
#include "snapfork_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROGRESS_NS (50 * 1000000LL) /* progress at most this often */
#define CHILD_OOM_SCORE_ADJ 800

/* ---- the child ----------------------------------------------------------- */

/* Write a whole message (blocking or not, as the descriptor is set). */
static int send_msg(int fd, const vs_snapfork__msg *m)
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
    int64_t t = vs_snapfork__now_ns();
    if (done < total && t - c->last_ns < PROGRESS_NS)
        return 0;
    c->last_ns = t;
    vs_snapfork__msg m;
    memset(&m, 0, sizeof(m));
    m.type = VS_SNAPFORK__PROGRESS;
    m.done = done;
    m.total = total;
    (void)send_msg(c->fd, &m); /* non-blocking: dropped when full */
    return 0;
}

static void send_result(int fd, int error, const vs_file_info *info, bool retry)
{
    vs_snapfork__msg m;
    memset(&m, 0, sizeof(m));
    m.type = VS_SNAPFORK__RESULT;
    m.code = error;
    m.retry = retry;
    if (info)
        m.info = *info;
    if (error < 0)
        snprintf(m.text, sizeof(m.text), "%s", vs_error_last());
    set_nonblock(fd, false);
    (void)send_msg(fd, &m);
}

static int child_save(vs_file_info *info, const vs_snapfork__plan *p, int ctl)
{
    child_ctx ctx = {ctl, 0};
    vs_save_options o = p->opts;
    o.progress = child_progress;
    o.payload = &ctx;
    if (p->mode == VS_SNAPFORK__FILE)
        return vs_fmt_save_file(info, p->stage, p->st, &o);
    vs_stream *w = NULL;
    int error = vs_stream_fd_writer_new(&w, p->data_w, false);
    if (error == 0)
        error = vs_fmt_save_stream(info, w, p->st, &o);
    vs_stream_free(w);
    close(p->data_w); /* the reader sees the end before the result */
    return error;
}

/* It must not take the store lock (see snapfork.h). */
_Noreturn void vs_snapfork__child_main(const vs_snapfork__plan *p)
{
    reset_signals();
    close_other_fds(p->ctl_w, p->data_w);
    prefer_oom_kill();
    if (p->mode == VS_SNAPFORK__FILE) {
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
    vs_snapfork__msg m;
    memset(&m, 0, sizeof(m));
    m.type = VS_SNAPFORK__READY;
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

/* ---- the child seen from the parent -------------------------------------- */

/* How the child ended, from its wait status (see snapfork_int.h). */
int vs_snapfork__died(int st)
{
    if (st < 0)
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

/* Read a small /proc file into buf as a string; its length, or -1. */
static ssize_t read_small(char *buf, size_t size, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* The number after `key` (a whole line's start, "\nkey:") in a status. */
static bool status_count(uint64_t *out, const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p)
        return false;
    p += strlen(key);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno)
        return false;
    *out = v;
    return true;
}

/* One thread, named by its id: true when it sleeps in a futex wait; its
 * context switches go into the witness.  A thread that wakes, even for a
 * moment, switches at least once more before it sleeps again. */
static bool thread_frozen(vs_snapfork__witness *w, pid_t pid, const char *tid)
{
    char path[96], buf[4096];
    uint64_t vol, invol;
    snprintf(path, sizeof(path), "/proc/%ld/task/%.16s/wchan", (long)pid, tid);
    if (read_small(buf, sizeof(buf), path) <= 0 || !strstr(buf, "futex"))
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/task/%.16s/status", (long)pid, tid);
    if (read_small(buf, sizeof(buf), path) <= 0 ||
        !status_count(&vol, buf, "\nvoluntary_ctxt_switches:") ||
        !status_count(&invol, buf, "\nnonvoluntary_ctxt_switches:"))
        return false;
    w->switches += vol + invol;
    w->threads++;
    w->tids += strtoull(tid, NULL, 10);
    return true;
}

/* Every thread asleep in a futex wait: each waits for a lock or for another
 * of them, and if none of them runs, none can wake the others -- a lock held
 * at the fork by a thread that does not exist in the child.  A thread in
 * write() on a full pipe, in fsync, in a page fault, sleeping, runnable or
 * stopped shows another wait channel (or none), so the child is not frozen.
 * Where wchan tells nothing ("0" without permission or symbols), no child is
 * ever frozen: the watchdog then never kills. */
bool vs_snapfork__frozen(vs_snapfork__witness *w, pid_t pid)
{
    char path[64], buf[1024];
    memset(w, 0, sizeof(*w));
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    const char *p =
        read_small(buf, sizeof(buf), path) > 0 ? strrchr(buf, ')') : NULL;
    unsigned long ut, stt;
    if (!p || sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%lu %lu",
                     &ut, &stt) != 2)
        return false;
    w->ticks = (uint64_t)ut + stt;
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool all = true;
    struct dirent *e;
    while (all && (e = readdir(d))) {
        if (e->d_name[0] != '.')
            all = thread_frozen(w, pid, e->d_name);
    }
    closedir(d);
    return all && w->threads > 0;
}
