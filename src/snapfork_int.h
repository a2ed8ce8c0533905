/*
 * snapfork_int: private to the snapfork module (snapfork.c, the parent:
 * forking, waiting, the watchdog's verdict, files; snapfork_child.c, what
 * runs in the child and what /proc shows of it); nothing else includes it.
 *
 * Protocol: the child writes fixed-size messages of at most PIPE_BUF bytes
 * (so each arrives whole) on a control pipe:
 *   READY     set-up done (sent before any byte of data);
 *   PROGRESS  records done / total, at most every 50 ms, dropped when the
 *             pipe is full (nobody polls a stream's progress);
 *   RESULT    the error code and message or the vs_file_info, last.
 * A RESULT with `retry` set means the child found a library lock held at
 * the fork and wrote nothing: the parent reaps it and forks again.
 */
#ifndef VS_SNAPFORK_INT_H
#define VS_SNAPFORK_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "snapfork.h"

#define VS_SNAPFORK__TEXT_MAX 1024 /* an error message, with its NUL */

enum {
    VS_SNAPFORK__READY = 1,
    VS_SNAPFORK__PROGRESS = 2,
    VS_SNAPFORK__RESULT = 3
};
enum { VS_SNAPFORK__FILE = 0, VS_SNAPFORK__STREAM = 1 };

typedef struct vs_snapfork__msg {
    uint32_t type;
    int32_t code;   /* RESULT: 0 or a vs_errcode */
    uint32_t retry; /* RESULT: fork again */
    uint64_t done, total;
    vs_file_info info;
    char text[VS_SNAPFORK__TEXT_MAX]; /* RESULT: the error message */
} vs_snapfork__msg;

_Static_assert(sizeof(vs_snapfork__msg) <= PIPE_BUF,
               "a message must be written whole");

/* What the child is to do; filled by the parent before the fork. */
typedef struct vs_snapfork__plan {
    int mode; /* VS_SNAPFORK__FILE or VS_SNAPFORK__STREAM */
    vs_store *st;
    vs_save_options opts;
    const char *stage; /* file: where the child saves */
    int ctl_w, data_w; /* the child's ends (-1: none) */
    pid_t parent;
    uint64_t total;
} vs_snapfork__plan;

/* What /proc shows of a child the watchdog suspects.  Two looks that agree
 * field for field mean that no thread of it ran in between. */
typedef struct vs_snapfork__witness {
    uint64_t ticks;    /* CPU time of all its threads (clock ticks) */
    uint64_t switches; /* context switches of all its threads */
    uint64_t threads;  /* how many threads */
    uint64_t tids;     /* the sum of their ids */
} vs_snapfork__witness;

static inline int64_t vs_snapfork__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs in the child right after the fork: sets it up, reports READY,
 * serialises, reports the RESULT, ends with _exit.  Never returns. */
_Noreturn void vs_snapfork__child_main(const vs_snapfork__plan *p);

/* In the parent: set the message for a child that ended without a good
 * result from its waitpid status (-1: lost); returns VS_EIO. */
int vs_snapfork__died(int status);

/* In the parent: is every thread of child `pid` asleep in a futex wait?
 * Fills *w when it is; false when it is not or /proc cannot tell. */
bool vs_snapfork__frozen(vs_snapfork__witness *w, pid_t pid);

#endif
