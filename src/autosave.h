/*
 * autosave: saves the live store on a schedule, the way Redis's `save S N`
 * does: when at least `after_changes` writes happened since the state was
 * last saved (vs_ops_unsaved) and `interval_s` seconds passed since the
 * last save.  interval_s 0 turns it off; after_changes 0 means any change.
 * Each save is a "save" job in the jobs table's store conflict class, so
 * it never overlaps another save, a restore or an import: when the class
 * is busy the save waits for the next tick.  A failed save is logged,
 * remembered (last_error) and retried at the next interval.
 *
 * Pruning: after each auto-save, snapshots named "autosave" beyond the
 * newest `keep` are deleted (0 keeps all).  CURRENT, snapshots anyone
 * named otherwise, snapshots in use and anything a kept snapshot depends
 * on are never pruned here: it is the retention plan (retention.h) with
 * keep_last `keep` over the auto-saves alone.  The configured retention
 * policy, applied after every snapshot, comes on top.
 *
 * A thread of its own checks once a second (and at once after a change of
 * settings).
 */
#ifndef VS_AUTOSAVE_H
#define VS_AUTOSAVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "ops.h"
#include "remote.h"

#define VS_AUTOSAVE_INTERVAL_MAX (366ull * 24 * 3600)

typedef struct vs_autosave vs_autosave;

/* Start the thread.  `rq` (format, codec, level of each save; copied; its
 * name and collections are ignored: a save is of the whole store, named
 * "autosave").  `jobs` and `ops` are borrowed. */
int vs_autosave_start(vs_autosave **out, vs_ops *ops, vs_jobs *jobs,
                      const vs_ops_snapshot_req *rq, uint64_t interval_s,
                      uint64_t after_changes, uint64_t keep) VS_WARN_UNUSED;
/* How each auto-save is made: incremental (a link of CURRENT's chain,
 * with every `full_every`th save full: vs_ops_snapshot_incremental's
 * max_links = full_every - 1; 0 or 1: always full), and whether it is then
 * uploaded to `remote` (NULL: not).  Call before the first save; `remote`
 * is borrowed and must outlive the autosave. */
void vs_autosave_configure(vs_autosave *a, bool incremental,
                           uint64_t full_every, vs_remote *remote);

/* Stop the thread (a save job already submitted runs on in the jobs
 * table), free.  NULL is a no-op. */
void vs_autosave_stop(vs_autosave *a);

/* New settings; VS_EINVALID when interval_s exceeds
 * VS_AUTOSAVE_INTERVAL_MAX. */
int vs_autosave_set(vs_autosave *a, uint64_t interval_s,
                    uint64_t after_changes, uint64_t keep) VS_WARN_UNUSED;
/* interval_s > 0. */
bool vs_autosave_enabled(vs_autosave *a);
/* {"interval_s","after_changes","keep","enabled","changes","last_save",
 * "last_error","format","compression","saves"} (new reference). */
json_t *vs_autosave_json(vs_autosave *a);

#endif
