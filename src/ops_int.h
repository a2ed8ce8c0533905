/*
 * ops_int: private to ops (ops.c: set-up, snapshots, imports, pins,
 * chains, metrics; ops_wal.c: the log's hooks, the switch and restores);
 * nothing else includes it.  It holds what the two halves share: the
 * mutex around CURRENT, the checks and names both use, and the switch.
 */
#ifndef VS_OPS_INT_H
#define VS_OPS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"

/* Held around every change of CURRENT and around a deletion's check that
 * the snapshot is not CURRENT (short: one small file write, or one
 * directory rename).  One for the process: CURRENT changes are rare. */
extern pthread_mutex_t vs_ops__current_mu;

/* A list of requested collection names: each valid, none twice, not too
 * many. */
int vs_ops__check_names(const char *const *names, size_t n);

/* "replace" or "merge". */
const char *vs_ops__mode_name(vs_ops_mode mode);

/* A restore or an import ended with `error`: the /metrics counters
 * (a cancelled one counts as neither). */
void vs_ops__count_restore(vs_ops *ops, int error);

/* Where snapshots and loads write their temporary files. */
const char *vs_ops__work_dir(const vs_ops *ops);

/* A state at `seq` became CURRENT (save_mu held): the segments it covers
 * go to the archive, and writes refused for want of a snapshot resume. */
void vs_ops__wal_covered(vs_ops *ops, uint64_t seq);

/* Archived segments remote storage lacks are uploaded (a failure is
 * logged; they go with the next snapshot's upload). */
void vs_ops__wal_upload(vs_ops *ops);

/* Make `loaded` (a private store) live: see ops_wal.c. */
int vs_ops__switch_in(vs_ops_result *out, vs_ops *ops, vs_store *loaded,
                      vs_ops_mode mode, const char *current,
                      const char *label, vs_progress_fn progress,
                      void *payload);

#endif
