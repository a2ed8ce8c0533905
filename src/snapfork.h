/*
 * snapfork: consistent snapshots of a live store by fork(), the way Redis
 * does BGSAVE.  The caller holds no store lock.  snapfork takes the store's
 * read lock (writers wait; searches go on), forks, and releases the lock in
 * the parent at once: writers are paused only for the fork itself.  The
 * child owns a copy-on-write image of the store as it was at that instant;
 * it serialises it with the ordinary format code, reports progress and its
 * result over a pipe, and ends with _exit.  The parent keeps serving.
 *
 * Three shapes:
 *   vs_snapfork_save     a file, written atomically (blocking; progress)
 *   vs_snapfork_create   a catalog snapshot: begin, save, commit
 *   vs_snapfork_stream   the serialised, compressed document on a pipe
 *                        (a streamed export), reaped by vs_snapfork_finish
 *
 * Progress: opts->progress is called in the PARENT, on the calling thread,
 * with the child's records done and the total, at least every 200 ms while
 * the child runs (repeating the last figures when the child said nothing
 * new), so that a non-zero return cancels promptly: the child is killed
 * with SIGKILL, reaped, and everything it wrote is removed (VS_ECANCELLED).
 *
 * Nothing half-written: the child writes inside a private work directory
 * next to the target (".snapfork-<pid>-<n>/", its temporary files
 * included); the parent renames the finished file over the target and
 * fsyncs the directory only after the child reported success.  A child that
 * dies (signal, non-zero exit, a pipe closed without a result) is VS_EIO
 * "snapshot writer died: ..." and its work directory is removed: the target
 * is untouched.  fork() failing is VS_ENOMEM (ENOMEM) or VS_EIO (EAGAIN and
 * others) with the reason; no child, no file.
 *
 * Watchdog: a child that deadlocks anyway, on a lock some library held at
 * the fork (GCC 12's AddressSanitizer allocator is one such), is recognised
 * in /proc: nothing reported for a second, then every one of its threads
 * asleep in a futex wait for 3 s with none of them running even once in
 * between (their context switches and CPU time unchanged) -- a state
 * nothing can end.  Slowness never looks like that: a thread waiting in
 * write() on a full pipe (a slow reader of a stream), in fsync, on a slow
 * disk or in a sleep shows another wait, and one woken by a timed wait
 * switches.  The child is killed: a file save forks again (3 deadlocked
 * children in all), so does a stream whose child was not ready yet; a
 * started stream ends and its finish reports VS_EIO "snapshot writer
 * deadlocked ...".  The watchdog runs wherever the parent waits (save,
 * create, stream, poll, finish).  Where /proc shows no wait channel, it
 * never kills.
 *
 * Invariants the child relies on (fork traps, see docs/DESIGN.md):
 * - the child never takes the store lock: the parent held it (for reading)
 *   across the fork, so in the child it stays held by a thread that does
 *   not exist there.  The format save functions (fmt_*.c) iterate the
 *   store without locking, which is what makes this work; keep it that way.
 *   The read lock is enough for a consistent image: every change to the
 *   store happens under the write lock, and searches change nothing.
 * - nothing in the child may wait for a lock another parent thread could
 *   have held at the fork.  glibc's fork makes malloc and stdio safe; the
 *   SHA-256 digest is fetched before forking (vs_checksum_global_init), so
 *   OpenSSL EVP takes no provider lock; zlib, brotli and zstd keep no global
 *   locks.  SQLite has global mutexes: an sqlite child first checks that
 *   none is held (it is the only thread, so the answer cannot change), and
 *   when one is, it exits asking the parent to fork again a little later.
 * - the child may start threads (the threaded hash stage, the JSON float
 *   formatter's helper): glibc supports pthread_create in a forked child.
 * - the child resets every signal to its default and unblocks all signals
 *   (SIGPIPE is ignored, so a closed pipe is a write error, not a death),
 *   closes every descriptor but stdin/out/err and its own pipes, and ends
 *   with _exit (no atexit handlers, no stdio flush, no leak check).
 *
 * Threads: any thread may call these functions, several at once.  A stream
 * handle is used by one thread at a time.
 */
#ifndef VS_SNAPFORK_H
#define VS_SNAPFORK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fmt.h"
#include "snapshot.h"
#include "store.h"

/* Save the store as it is now to `path`, atomically, in a forked child.
 * `opts` as for vs_fmt_save_file (NULL: defaults); its progress callback
 * runs in the parent (see above).  `info` (may be NULL) gets what the child
 * wrote; info->seq is the store's sequence number at the fork. */
int vs_snapfork_save(vs_file_info *info, vs_store *st, const char *path,
                     const vs_save_options *opts) VS_WARN_UNUSED;

/* A catalog snapshot of the live store: vs_catalog_begin, the data file
 * written by a forked child, the collections described at the fork instant,
 * vs_catalog_commit.  The caller holds no store lock (unlike
 * vs_catalog_create).  `name` may be NULL. */
int vs_snapfork_create(vs_snapshot *out, vs_catalog *cat, vs_store *st,
                       const char *name,
                       const vs_save_options *opts) VS_WARN_UNUSED;

/* ---- streamed export ---- */

typedef struct vs_snapfork vs_snapfork;

/* Fork a child that writes the document (format and codec from `opts`, as
 * vs_fmt_save_stream) into a pipe.  Read it from vs_snapfork_fd() until end
 * of file, then call vs_snapfork_finish.  opts->progress is not used (see
 * vs_snapfork_poll). */
int vs_snapfork_stream(vs_snapfork **out, vs_store *st,
                       const vs_save_options *opts) VS_WARN_UNUSED;
/* The read end of the data pipe (owned by the handle; -1 once taken). */
int vs_snapfork_fd(const vs_snapfork *h);
/* Hand the read end over to the caller (who must close it), e.g. to
 * MHD_create_response_from_pipe.  Returns -1 when already taken. */
int vs_snapfork_take_fd(vs_snapfork *h);
/* The store's sequence number at the fork, and the child's process id. */
uint64_t vs_snapfork_seq(const vs_snapfork *h);
pid_t vs_snapfork_pid(const vs_snapfork *h);
/* Without blocking: take the progress the child reported so far.  *done
 * and *total (either may be NULL) get the latest figures.  Returns true
 * once the child has ended (its final report arrived, or it died).  Call
 * it now and then while no data comes: it is also the watchdog that kills
 * a deadlocked child (see above), which then ends the data with EOF. */
bool vs_snapfork_poll(vs_snapfork *h, uint64_t *done, uint64_t *total);
/* Wait for the child and collect its result: 0 and `info` (may be NULL;
 * bytes and SHA-256 of the stream as sent), or the child's error with its
 * message, or VS_EIO "snapshot writer died: ...".  Call it once, after
 * reading the data to end of file.  A data fd the handle still owns is
 * closed first, so a reader that stopped early makes the child fail with a
 * broken pipe instead of hanging; a caller that took the fd must have read
 * it to the end or closed it. */
int vs_snapfork_finish(vs_file_info *info, vs_snapfork *h) VS_WARN_UNUSED;
/* Kill the child (SIGKILL) if it still runs; finish then returns
 * VS_ECANCELLED. */
void vs_snapfork_cancel(vs_snapfork *h);
/* Kill the child if it still runs, reap it, close what the handle owns and
 * free it (NULL is a no-op). */
void vs_snapfork_free(vs_snapfork *h);

/* ---- figures (for /metrics) ---- */

typedef struct vs_snapfork_stats {
    uint64_t forks;           /* children started */
    uint64_t fork_failures;   /* fork() itself failed */
    uint64_t last_fork_usec;  /* duration of the last fork() call */
    uint64_t last_pause_usec; /* last time the store lock was held for it */
    uint64_t max_pause_usec;  /* the longest such pause */
    uint64_t retries;         /* forks repeated: sqlite was busy */
    uint64_t stalls;          /* children killed as deadlocked */
} vs_snapfork_stats;

void vs_snapfork_stats_get(vs_snapfork_stats *out);

/* ---- for tests only ---- */

/* Not for production code.  Set before a snapfork call, reset to NULL
 * after; not synchronised.
 *   fork:  replaces fork() (e.g. to fail with ENOMEM without exhausting
 *          memory);
 *   child: called in the child after its set-up with (0, total) and then at
 *          every progress report, e.g. to _exit(3) or raise(SIGSEGV) half
 *          way through a save;
 *   stall_ms: how long a frozen child is given before the watchdog kills
 *          it (0: the default of a few seconds). */
typedef struct vs_snapfork_test_hooks {
    pid_t (*fork)(void);
    void (*child)(uint64_t done, uint64_t total);
    int stall_ms; /* the watchdog's patience (0: the default) */
} vs_snapfork_test_hooks;

extern vs_snapfork_test_hooks vs_snapfork__test_hooks;

#endif
