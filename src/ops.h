/*
 * ops: the operations on the live store that the HTTP API, auto-save and
 * the final save at shutdown share.  Each is a plain blocking function
 * with a progress callback; the API runs them inside jobs (job.h), whose
 * "store" conflict class keeps two of them from running at once.
 *
 *   vs_ops_snapshot  a consistent snapshot of the live store into the
 *                    catalog, written by a forked child (snapfork.h) while
 *                    writers go on.  A snapshot of the whole store becomes
 *                    the data directory's CURRENT state.
 *   vs_ops_restore   a catalog snapshot into the live store, replacing it
 *                    or merged into it.  The snapshot is verified and
 *                    loaded in full aside first; the live store switches
 *                    under its write lock in one step that cannot fail, so
 *                    a restore that fails half-way leaves it exactly as it
 *                    was.
 *   vs_ops_import    the same from a stream (any format vecsnap reads).
 *   vs_ops_verify    size, SHA-256 and a full load of a catalog snapshot.
 *
 * Sequence numbers: after a restore or import the store's counter is
 * max(the live counter, the loaded one) + 1, so it never goes backwards
 * (a restore of some of a snapshot's collections counts the ones left out
 * as writes to the loaded store, so its figure may be that much higher).
 * After a replace restore of a whole snapshot the live state equals that
 * snapshot: CURRENT names it and the state counts as saved.  After a merge
 * (or a partial replace), the state is new: CURRENT is unchanged and the
 * state counts as unsaved, so auto-save picks it up.
 *
 * "Saved": vs_ops_unsaved() is the number of writes since the state was
 * last saved or restored (the store's counter minus the saved one), which
 * is what auto-save compares with after_changes.
 *
 * Threads: every function may be called from any thread.  Two snapshots
 * never run at once (an internal mutex: a second caller waits); the switch
 * of a restore or an import waits for a running snapshot too, so that a
 * snapshot forked before the switch never sets CURRENT after it.
 */
#ifndef VS_OPS_H
#define VS_OPS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fmt.h"
#include "snapshot.h"
#include "store.h"

#define VS_OPS_COLLECTIONS_MAX 1024 /* names in one request */

typedef struct vs_ops {
    vs_store *store;     /* the live store (borrowed) */
    vs_catalog *catalog; /* borrowed */
    const char *tmpdir;  /* work files; NULL: the catalog's */
    pthread_mutex_t save_mu;
    _Atomic uint64_t saved_seq;   /* store seq the disk state matches */
    _Atomic int64_t last_save_ms; /* Unix ms of the last full save, 0 */
    /* Figures for /metrics. */
    _Atomic uint64_t snapshots_ok, snapshots_failed;
    _Atomic uint64_t last_snapshot_ms;    /* duration of the last one */
    _Atomic uint64_t last_snapshot_bytes; /* its data file's size */
    _Atomic uint64_t snapshot_bytes_total;
    _Atomic uint64_t restores_ok, restores_failed;
} vs_ops;

/* Set up `ops` for a store and catalog; saved_seq starts at the store's
 * counter (call it after the start-up load). */
int vs_ops_init(vs_ops *ops, vs_store *st, vs_catalog *cat) VS_WARN_UNUSED;
void vs_ops_dispose(vs_ops *ops);

/* Writes since the state was last saved or restored. */
uint64_t vs_ops_unsaved(vs_ops *ops);

/* What a snapshot request asks for.  `collections` NULL (or n == 0): the
 * whole store. */
typedef struct vs_ops_snapshot_req {
    const char *name;   /* NULL: unnamed */
    vs_format_id format;
    vs_codec_id codec;
    int level;          /* -1: the codec's default */
    const char *const *collections;
    size_t ncollections;
} vs_ops_snapshot_req;

/* A snapshot of the live store now.  `out` gets its manifest (dispose it).
 * A whole-store snapshot sets CURRENT, saved_seq and last_save_ms.
 * VS_ENOTFOUND (an unknown collection), VS_EINVALID (a bad name), VS_EIO,
 * VS_ENOMEM (fork failed), VS_ECANCELLED (progress returned non-zero). */
int vs_ops_snapshot(vs_snapshot *out, vs_ops *ops,
                    const vs_ops_snapshot_req *rq, vs_progress_fn progress,
                    void *payload) VS_WARN_UNUSED;

typedef enum vs_ops_mode { VS_OPS_REPLACE = 0, VS_OPS_MERGE = 1 } vs_ops_mode;

/* What a restore or import did. */
typedef struct vs_ops_result {
    vs_ops_mode mode;
    uint64_t records;      /* records taken from the snapshot */
    uint64_t seq;          /* the live counter afterwards */
    size_t ncollections;   /* collections taken */
    vs_snapshot_collection *collections; /* malloc'd; vs_ops_result_dispose */
} vs_ops_result;

void vs_ops_result_dispose(vs_ops_result *r);
/* {"mode","collections":[{"name","dimension","metric","count"}],"records",
 * "seq"} (new reference; NULL when out of memory). */
json_t *vs_ops_result_json(const vs_ops_result *r);

/* Restore catalog snapshot `id`.  `collections` (n == 0: all of the
 * snapshot's) selects which; a name the snapshot lacks is VS_ENOTFOUND and
 * nothing changes.  replace: the live store becomes exactly the selected
 * collections; merge: they replace same-named live collections, the others
 * stay.  VS_EINVALID (id), VS_ENOTFOUND, VS_ECORRUPT (verification failed;
 * nothing changed), VS_ECANCELLED. */
int vs_ops_restore(vs_ops_result *out, vs_ops *ops, const char *id,
                   vs_ops_mode mode, const char *const *collections,
                   size_t ncollections, vs_progress_fn progress,
                   void *payload) VS_WARN_UNUSED;

/* Load a document from `in` (format and codec detected; `name_hint` may be
 * NULL; `max_bytes` caps the decoded size, 0: none) and switch it in as
 * restore does.  Nothing changes unless the whole document loads and its
 * checksum holds. */
int vs_ops_import(vs_ops_result *out, vs_ops *ops, vs_stream *in,
                  vs_ops_mode mode, const char *name_hint, uint64_t max_bytes,
                  vs_progress_fn progress, void *payload) VS_WARN_UNUSED;

/* Verify catalog snapshot `id` (size, SHA-256, full load).  `info` may be
 * NULL.  VS_ECORRUPT naming what differs. */
int vs_ops_verify(vs_file_info *info, vs_ops *ops, const char *id,
                  vs_progress_fn progress, void *payload) VS_WARN_UNUSED;

/* Delete catalog snapshot `id` unless it is CURRENT (VS_EBUSY), in one
 * step against the snapshots and restores that move CURRENT, so that
 * CURRENT never names a deleted snapshot.  VS_EINVALID, VS_ENOTFOUND,
 * VS_EBUSY. */
int vs_ops_delete(vs_ops *ops, const char *id) VS_WARN_UNUSED;

/* Prometheus text of the figures above (vecsnap_snapshot_* ...). */
int vs_ops_metrics_render(vs_buf *out, vs_ops *ops) VS_WARN_UNUSED;

#endif
