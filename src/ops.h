/*
 * ops: the operations on the live store that the HTTP API, auto-save and
 * the final save at shutdown share.  Each is a plain blocking function
 * with a progress callback; the API runs them inside jobs (job.h), whose
 * "store" conflict class keeps two of them from running at once.
 *
 *   vs_ops_snapshot  a consistent snapshot of the live store into the
 *                    catalog, written by a forked child (snapfork.h) while
 *                    writers go on.  A snapshot of the whole store becomes
 *                    the data directory's CURRENT state; an incremental
 *                    one holds only the changes since CURRENT (a link of
 *                    CURRENT's chain, snapshot.h).
 *   vs_ops_restore   a catalog snapshot into the live store, replacing it
 *                    or merged into it.  The snapshot is verified and
 *                    loaded in full aside first; the live store switches
 *                    under its write lock in one step that cannot fail, so
 *                    a restore that fails half-way leaves it exactly as it
 *                    was.
 *   vs_ops_import    the same from a stream (any format vecsnap reads).
 *   vs_ops_verify    size, SHA-256 and a full load of a catalog snapshot
 *                    (of every link of an incremental one's chain).
 *   vs_ops_compact   a chain merged into one full snapshot.
 *
 * Sequence numbers: after a restore or import the store's counter is
 * max(the live counter, the loaded one) + 1, so it never goes backwards
 * (a restore of some of a snapshot's collections counts the ones left out
 * as writes to the loaded store, so its figure may be that much higher).
 * After a replace restore of a whole snapshot the live state equals that
 * snapshot: CURRENT says "the state at the new counter is that snapshot"
 * (vs_catalog_set_current_at, written under the write lock before the
 * swap) and the state counts as saved.  After a merge, a partial replace
 * or an import the state is new: without the log CURRENT is unchanged and
 * the state counts as unsaved, so auto-save picks it up.
 *
 * Restores and the log: the counter jumps without a log record, so a log
 * replay from an older CURRENT would stop at the gap; the new state must
 * be a snapshot before the next write is logged.  With the log on, a
 * replace whose result is not a catalog snapshot (some collections, an
 * import, a point-in-time restore) snapshots the loaded store, stamped
 * with the new counter, and makes it CURRENT before the swap; a merge is
 * snapshotted right after it; both in-process under the write lock, so
 * that no write slips in between and the snapshot's seq is one no record
 * of the old history reaches (a point-in-time restore from it replays
 * only what followed it).  If a merge's snapshot fails, writes are
 * refused until a snapshot succeeds.  The result names the snapshot
 * ("saved_as").
 *
 * Writes and the log (api_collections.c): under the store's write lock a
 * write is applied, then vs_ops_log queues its record (stamped with the
 * seq it took); after the lock, vs_ops_log_wait returns once the record is
 * as durable as the policy says, and only then is the write answered.  A
 * write that could not be logged turns the server read-only for good
 * (vs_ops_read_only); a whole-store snapshot that becomes CURRENT moves
 * the segments it covers into the archive, from where a point-in-time
 * restore replays them, remote storage gets a copy, and vs_ops_wal_prune
 * removes those no snapshot in the catalog needs.
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
#include "remote.h"
#include "snapshot.h"
#include "store.h"
#include "wal.h"

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
    /* The live state no longer descends from CURRENT (a merge, an import or
     * a partial restore left a state no snapshot holds): the next
     * incremental snapshot is taken full. */
    _Atomic bool detached;
    /* Called after each successful snapshot, once save_mu is released
     * (vecsnapd: retention.h's vs_retention_after_snapshot); NULL: none.
     * Set it before the first snapshot. */
    void (*after_snapshot)(struct vs_ops *ops, const vs_snapshot *snap,
                           void *payload);
    void *after_snapshot_payload;
    /* Retention runs that deleted (not dry runs), by result, and the
     * snapshots they deleted (retention.h). */
    _Atomic uint64_t retention_ok, retention_failed, retention_deleted;
    /* The write-ahead log (NULL: off), its archive directory and remote
     * storage for archived segments (NULL: none); vs_ops_set_wal. */
    vs_wal *wal;
    char *wal_archive;
    vs_remote *remote;
    _Atomic int read_only; /* VS_OPS_RO_*: why writes are refused */
} vs_ops;

enum { VS_OPS_RO_LOG = 1, VS_OPS_RO_SNAPSHOT = 2 };

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
/* The same, incremental: only the changes since CURRENT, as a link of
 * CURRENT's chain, in binary whatever rq->format says (whole store:
 * VS_EINVALID for chosen collections).  It is taken full instead, in
 * rq->format (the manifest's kind says which; the reason is logged), when
 * there is no CURRENT, when the live state does not descend from it
 * (`detached`), when its chain cannot be followed, or when the chain
 * already has `max_links` incremental links (0: no limit; auto-save's
 * autosave_full_every N is max_links N - 1). */

int vs_ops_snapshot_incremental(vs_snapshot *out, vs_ops *ops,
                                const vs_ops_snapshot_req *rq,
                                unsigned max_links, vs_progress_fn progress,
                                void *payload) VS_WARN_UNUSED;


typedef enum vs_ops_mode { VS_OPS_REPLACE = 0, VS_OPS_MERGE = 1 } vs_ops_mode;

/* What a restore or import did. */
typedef struct vs_ops_result {
    vs_ops_mode mode;
    uint64_t records;      /* records taken from the snapshot */
    uint64_t seq;          /* the live counter afterwards */
    size_t ncollections;   /* collections taken */
    vs_snapshot_collection *collections; /* malloc'd; vs_ops_result_dispose */
    /* The snapshot taken of the new state ("" when none; see "Restores
     * and the log"). */
    char saved_as[VS_SNAPSHOT_ID_LEN + 1];
    /* A point-in-time restore: log records replayed onto the snapshot,
     * the seq they reached (the snapshot's own when none), and whether
     * the bound was reached (false: the log ended before it). */
    bool pitr;
    uint64_t replayed, replayed_seq;
    bool until_reached;
} vs_ops_result;

void vs_ops_result_dispose(vs_ops_result *r);
/* {"mode","collections":[{"name","dimension","metric","count"}],"records",
 * "seq"}, and "saved_as" when set, and for a point-in-time restore
 * "replayed", "replayed_to_seq", "until_seq_reached" (new reference; NULL
 * when out of memory). */
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

/* Point-in-time restore: as vs_ops_restore, but snapshot `id` is loaded
 * aside and the log (archived and live segments) replayed onto it from
 * its seq up to the bound -- the record `seq` included, and/or the last
 * record stamped at or before `ms` (Unix ms); 0: no such bound -- before
 * the switch.  A bound past the log's end restores to the end
 * (out->until_reached false).  VS_EINVALID (the log is off, no bound, a
 * bound before the snapshot, an uploaded snapshot, which the log does not
 * continue), VS_ECORRUPT naming the gap when records between the snapshot
 * and the bound are missing (a restore or an import began another history
 * there), and vs_ops_restore's errors. */
typedef struct vs_ops_until {
    uint64_t seq;
    uint64_t ms;
    /* NULL: this server's log (archived and live segments); else the
     * segments in this directory alone (fetched from remote storage, the
     * log of the server that took the snapshot). */
    const char *log_dir;
} vs_ops_until;
int vs_ops_restore_until(vs_ops_result *out, vs_ops *ops, const char *id,
                         vs_ops_mode mode, const char *const *collections,
                         size_t ncollections, const vs_ops_until *until,
                         vs_progress_fn progress,
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

/* Delete catalog snapshot `id` unless it is CURRENT or pinned (VS_EBUSY),
 * in one step against the snapshots and restores that move CURRENT and
 * against vs_ops_pin, so that CURRENT never names a deleted snapshot and
 * no reader loses its snapshot.  VS_EINVALID, VS_ENOTFOUND, VS_EBUSY. */
int vs_ops_delete(vs_ops *ops, const char *id) VS_WARN_UNUSED;
/* As vs_ops_delete; a snapshot others depend on (an incremental chain
 * built on it) is refused (VS_EBUSY naming them) unless `cascade`, which
 * deletes them first, newest first -- unless one of them is CURRENT or
 * pinned (VS_EBUSY, nothing deleted).  *gone (may be NULL; caller frees)
 * gets the ids deleted, `id` last. */
int vs_ops_delete_cascade(char (**gone)[VS_SNAPSHOT_ID_LEN + 1], size_t *ngone,
                          vs_ops *ops, const char *id,
                          bool cascade) VS_WARN_UNUSED;

/* Merge the chain of incremental snapshot `id` into one new full snapshot
 * (vs_catalog_compact: same content and seq, origin "compact"), and when
 * `id` is CURRENT, make the new one CURRENT in the same step (*moved).
 * VS_EINVALID (a full snapshot), and loading's errors. */
int vs_ops_compact(vs_snapshot *out, bool *moved, vs_ops *ops, const char *id,
                   vs_progress_fn progress, void *payload) VS_WARN_UNUSED;

/* Pins: an operation that reads a catalog snapshot over time (restore,
 * verify, compaction) pins it first and unpins it when done; the
 * deletions (vs_ops_delete*, and so retention) leave a pinned snapshot
 * alone.  Pins nest.  `what` names the operation ("restore"); at most 31
 * bytes are kept.
 * VS_EINVALID (id), VS_ENOMEM. */
int vs_ops_pin(vs_ops *ops, const char *id, const char *what) VS_WARN_UNUSED;
void vs_ops_unpin(vs_ops *ops, const char *id);
typedef struct vs_ops_pin_info {
    char id[VS_SNAPSHOT_ID_LEN + 1];
    char what[32];
} vs_ops_pin_info;
/* The snapshots of this catalog pinned now (*out: caller frees; NULL when
 * n == 0).  VS_ENOMEM. */
int vs_ops_pins(vs_ops_pin_info **out, size_t *n,
                vs_ops *ops) VS_WARN_UNUSED;

/* The log (see "Writes and the log"): `wal` (NULL: off) and the archive
 * directory its covered segments move to (copied), and remote storage
 * (NULL: none) that gets a copy of each.  Call it before the server takes
 * writes.  VS_ENOMEM, VS_EINVALID (a log without an archive). */
int vs_ops_set_wal(vs_ops *ops, vs_wal *wal, const char *archive_dir,
                   vs_remote *remote) VS_WARN_UNUSED;
/* True when writes are refused; `why` gets the reason (a sentence for
 * the 503 and /readyz). */
bool vs_ops_read_only(vs_ops *ops, char *why, size_t n);
/* Under the store's write lock, right after a write that moved the
 * counter to `seq`: stamp `body` (vs_wal_encode_*) with it and queue it.
 * No log: 0.  An error means the write is in the store but not in the
 * log: the server is read-only from then on. */
int vs_ops_log(vs_ops *ops, vs_buf *body, uint64_t seq) VS_WARN_UNUSED;
/* After the lock: wait until the record `seq` (0: none) is as durable as
 * the policy says.  VS_EIO (read-only from then on). */
int vs_ops_log_wait(vs_ops *ops, uint64_t seq) VS_WARN_UNUSED;
/* Remove the archived segments that no snapshot of the catalog needs
 * (all their records at or below the oldest one's seq; uploads, whose
 * seq counts another store's writes, aside).  Called after each
 * snapshot; retention calls it after deleting.  No log: 0.  VS_EIO. */
int vs_ops_wal_prune(vs_ops *ops) VS_WARN_UNUSED;

/* Prometheus text of the figures above (vecsnap_snapshot_* ...). */
int vs_ops_metrics_render(vs_buf *out, vs_ops *ops) VS_WARN_UNUSED;

#endif
