/*
 * ops: the operations on the live store shared by the HTTP API, auto-save
 * and the final save (see ops.h).  It owns the "saved" bookkeeping (which
 * store sequence number the data directory's CURRENT state matches), the
 * one switch by which a loaded store becomes the live one, and the figures
 * /metrics shows about snapshots and restores.
 *
 * Order of locks: save_mu, then the store's lock.  A snapshot holds save_mu
 * for its whole run (two never overlap); a restore or an import loads its
 * store without any lock and takes save_mu only for the switch, so that a
 * snapshot forked before the switch can never set CURRENT after it.  A
 * file-scope mutex, taken alone and briefly, makes "is it CURRENT?" and
 * the deletion one step against every CURRENT change.
 *
 * The switch: everything that can fail (describing the collections taken,
 * writing CURRENT) happens before the store's write lock is taken; under it
 * only vs_store_swap or vs_store_merge_take run, which cannot fail.  The
 * previous contents are freed after the lock is released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "ops.h"
#include "snapfork.h"

/* Held around every change of CURRENT and around a deletion's check that
 * the snapshot is not CURRENT (short: one small file write, or one
 * directory rename).  One for the process: CURRENT changes are rare. */
static pthread_mutex_t current_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- helpers ------------------------------------------------------------ */

static int set_current(vs_ops *ops, const char *id)
{
    pthread_mutex_lock(&current_mu);
    int error = vs_catalog_set_current(ops->catalog, id);
    pthread_mutex_unlock(&current_mu);
    return error;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A list of requested collection names: each valid, none twice, not too
 * many. */
static int check_names(const char *const *names, size_t n)
{
    if (n > VS_OPS_COLLECTIONS_MAX)
        return vs_error_set(VS_EINVALID,
                            "too many collections: %zu (at most %d)", n,
                            VS_OPS_COLLECTIONS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            return vs_error_set(VS_EINVALID, "collection %zu has no name", i);
        int error = vs_store_check_name(names[i]);
        if (error < 0)
            return error;
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return vs_error_set(VS_EINVALID,
                                    "collection '%s' is named twice", names[i]);
    }
    return 0;
}

static bool named(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static const char *mode_name(vs_ops_mode mode)
{
    return mode == VS_OPS_MERGE ? "merge" : "replace";
}

/* ---- set-up ------------------------------------------------------------- */

int vs_ops_init(vs_ops *ops, vs_store *st, vs_catalog *cat)
{
    memset(ops, 0, sizeof(*ops));
    if (!st || !cat)
        return vs_error_set(VS_EINVALID, "ops need a store and a catalog");
    if (pthread_mutex_init(&ops->save_mu, NULL) != 0)
        return vs_error_set(VS_ENOMEM, "cannot create the save mutex");
    ops->store = st;
    ops->catalog = cat;
    ops->tmpdir = NULL;
    vs_store_rdlock(st);
    uint64_t seq = vs_store_seq(st);
    vs_store_unlock(st);
    atomic_init(&ops->saved_seq, seq);
    atomic_init(&ops->last_save_ms, 0);
    atomic_init(&ops->snapshots_ok, 0);
    atomic_init(&ops->snapshots_failed, 0);
    atomic_init(&ops->last_snapshot_ms, 0);
    atomic_init(&ops->last_snapshot_bytes, 0);
    atomic_init(&ops->snapshot_bytes_total, 0);
    atomic_init(&ops->restores_ok, 0);
    atomic_init(&ops->restores_failed, 0);
    atomic_init(&ops->detached, false);
    atomic_init(&ops->read_only, 0);
    atomic_init(&ops->retention_ok, 0);
    atomic_init(&ops->retention_failed, 0);
    atomic_init(&ops->retention_deleted, 0);
    return 0;
}

void vs_ops_dispose(vs_ops *ops)
{
    if (!ops || !ops->store)
        return;
    pthread_mutex_destroy(&ops->save_mu);
    free(ops->wal_archive);
    ops->wal_archive = NULL;
    ops->store = NULL;
    ops->catalog = NULL;
}

uint64_t vs_ops_unsaved(vs_ops *ops)
{
    vs_store_rdlock(ops->store);
    uint64_t seq = vs_store_seq(ops->store);
    vs_store_unlock(ops->store);
    uint64_t saved = atomic_load(&ops->saved_seq);
    return seq > saved ? seq - saved : 0;
}

static const char *work_dir(const vs_ops *ops)
{
    return ops->tmpdir ? ops->tmpdir : vs_catalog_tmpdir(ops->catalog);
}

/* ---- the log ------------------------------------------------------------ */

int vs_ops_set_wal(vs_ops *ops, vs_wal *wal, const char *archive_dir,
                   vs_remote *remote)
{
    char *dir = NULL;
    if (wal && !archive_dir)
        return vs_error_set(VS_EINVALID, "the log needs an archive directory");
    if (archive_dir && !(dir = strdup(archive_dir)))
        return vs_error_oom();
    free(ops->wal_archive);
    ops->wal = wal;
    ops->wal_archive = dir;
    ops->remote = remote;
    return 0;
}

bool vs_ops_read_only(vs_ops *ops, char *why, size_t n)
{
    char cause[512];
    int ro = atomic_load(&ops->read_only);
    if (ops->wal && vs_wal_failed(ops->wal, cause, sizeof(cause)))
        snprintf(why, n,
                 "read-only: the write-ahead log failed (%s); no write is "
                 "taken until vecsnapd is restarted",
                 cause);
    else if (ro == VS_OPS_RO_LOG)
        snprintf(why, n, "read-only: a write could not be logged; no write "
                         "is taken until vecsnapd is restarted");
    else if (ro == VS_OPS_RO_SNAPSHOT)
        snprintf(why, n,
                 "read-only: no snapshot covers the state a restore or an "
                 "import left, so the log cannot go on from it; no write is "
                 "taken until a snapshot (POST /v1/snapshots) succeeds");
    else
        return false;
    return true;
}

int vs_ops_log(vs_ops *ops, vs_buf *body, uint64_t seq)
{
    if (!ops->wal)
        return 0;
    vs_wal_body_set_seq(body->ptr, seq);
    int error = vs_wal_write(ops->wal, body->ptr, body->len);
    if (error < 0) {
        atomic_store(&ops->read_only, VS_OPS_RO_LOG);
        vs_log(VS_LOG_ERROR,
               "write seq %llu is in the store but not in the log (%s): no "
               "write is taken from now on",
               (unsigned long long)seq, vs_error_last());
    }
    return error;
}

int vs_ops_log_wait(vs_ops *ops, uint64_t seq)
{
    if (!ops->wal || !seq)
        return 0;
    int error = vs_wal_wait(ops->wal, seq);
    if (error < 0)
        atomic_store(&ops->read_only, VS_OPS_RO_LOG);
    return error;
}

/* A state at `seq` became CURRENT (save_mu held): the segments it covers
 * go to the archive, and writes refused for want of a snapshot resume. */
static void wal_covered(vs_ops *ops, uint64_t seq)
{
    int ro = VS_OPS_RO_SNAPSHOT;
    size_t n = 0;
    atomic_compare_exchange_strong(&ops->read_only, &ro, 0);
    if (!ops->wal)
        return;
    if (vs_wal_archive(ops->wal, seq, ops->wal_archive, NULL, &n) < 0) {
        vs_log(VS_LOG_WARN,
               "wal: cannot archive the segments up to seq %llu: %s",
               (unsigned long long)seq, vs_error_last());
        vs_error_clear();
    } else if (n) {
        vs_log(VS_LOG_INFO, "wal: %zu segments up to seq %llu archived", n,
               (unsigned long long)seq);
    }
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* Archived segments remote storage lacks are uploaded (a failure is
 * logged; they go with the next snapshot's upload). */
static void wal_upload(vs_ops *ops)
{
    uint64_t *segs = NULL;
    char **names = NULL, path[4096];
    size_t n = 0, nnames = 0, sent = 0;
    if (!ops->wal || !ops->remote)
        return;
    int error = vs_wal_list_segments(&segs, &n, ops->wal_archive);
    if (!error && n)
        error = vs_remote_list_wal(&names, &nnames, ops->remote);
    for (size_t i = 0; !error && i < n; i++) {
        char name[VS_WAL_NAME_SIZE];
        vs_wal_segment_name(name, segs[i]);
        if (bsearch(name, names, nnames, sizeof(*names), cmp_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", ops->wal_archive, name);
        error = vs_remote_put_wal(ops->remote, name, path);
        if (!error)
            sent++;
    }
    if (error < 0) {
        vs_log(VS_LOG_WARN,
               "wal: uploading archived segments to %s failed: %s (tried "
               "again after the next snapshot)",
               vs_remote_where(ops->remote), vs_error_last());
        vs_error_clear();
    }
    if (sent)
        vs_log(VS_LOG_INFO, "wal: %zu archived segments uploaded to %s", sent,
               vs_remote_where(ops->remote));
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    free(segs);
}

int vs_ops_wal_prune(vs_ops *ops)
{
    vs_snapshot *list = NULL;
    size_t n = 0, removed = 0;
    uint64_t oldest = UINT64_MAX;
    vs_wal_stats st;
    if (!ops->wal)
        return 0;
    int error = vs_catalog_list(&list, &n, ops->catalog);
    if (error < 0)
        return error;
    /* An uploaded snapshot's seq counts another store's writes. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].origin, "upload") != 0 && list[i].seq < oldest)
            oldest = list[i].seq;
        vs_snapshot_dispose(&list[i]);
    }
    free(list);
    vs_wal_stats_get(ops->wal, &st);
    error = vs_wal_prune_archive(&removed, ops->wal_archive, oldest,
                                 st.first_seq);
    if (removed)
        vs_log(VS_LOG_INFO,
               "wal: %zu archived segments removed (no snapshot needs them)",
               removed);
    return error;
}

/* ---- snapshot ----------------------------------------------------------- */

/* The named collections exist in the live store now (the child checks
 * again at the fork; this gives the clear error without forking). */
static int check_live(vs_ops *ops, const char *const *names, size_t n)
{
    int error = 0;
    vs_store_rdlock(ops->store);
    for (size_t i = 0; !error && i < n; i++)
        if (!vs_store_find(ops->store, names[i]))
            error = vs_error_set(VS_ENOTFOUND, "no collection '%s'", names[i]);
    vs_store_unlock(ops->store);
    return error;
}

/* An incremental snapshot (save_mu held): its parent is CURRENT, so `so`
 * asks for the changes since CURRENT's seq, in binary -- unless the
 * snapshot must be full (ops.h, vs_ops_snapshot_incremental), which is
 * logged and keeps the requested format. */
static void plan_incremental(vs_save_options *so, vs_ops *ops,
                             unsigned max_links)
{
    char cur[VS_SNAPSHOT_ID_LEN + 1], why[600] = "";
    vs_snapshot *chain = NULL;
    size_t n = 0;
    if (atomic_load(&ops->detached))
        snprintf(why, sizeof(why), "the live state does not descend from "
                                   "CURRENT (a merge, an import or a "
                                   "partial restore since)");
    else if (vs_catalog_current(cur, ops->catalog) < 0)
        snprintf(why, sizeof(why), "no CURRENT snapshot to build on (%s)",
                 vs_error_last());
    else if (vs_catalog_chain(&chain, &n, ops->catalog, cur, false) < 0)
        snprintf(why, sizeof(why), "%s", vs_error_last());
    else if (max_links && n - 1 >= max_links)
        snprintf(why, sizeof(why),
                 "CURRENT's chain has %zu incremental links already", n - 1);
    if (why[0]) {
        vs_log(VS_LOG_INFO, "incremental snapshot taken full: %s", why);
        vs_error_clear();
    } else {
        so->incremental = true;
        so->since_seq = chain[n - 1].seq;
        so->format = VS_FORMAT_BIN;
    }
    vs_snapshot_list_free(chain, n);
}


/* vs_ops_snapshot and vs_ops_snapshot_incremental. */
static int take_snapshot(vs_snapshot *out, vs_ops *ops,
                         const vs_ops_snapshot_req *rq, bool incremental,
                         unsigned max_links, vs_progress_fn progress,
                         void *payload)
{
    memset(out, 0, sizeof(*out));
    vs_ops_snapshot_req dflt = {NULL, VS_FORMAT_BIN, VS_CODEC_NONE,
                                -1,   NULL,          0};
    if (!rq)
        rq = &dflt;
    size_t ncols = rq->collections ? rq->ncollections : 0;
    bool whole = ncols == 0;
    int error = rq->name ? vs_snapshot_check_name(rq->name) : 0;
    if (!error)
        error = check_names(rq->collections, ncols);
    if (!error && incremental && !whole)
        error = vs_error_set(VS_EINVALID, "an incremental snapshot is of the "
                                          "whole store, not of chosen "
                                          "collections");
    if (error < 0) {
        atomic_fetch_add(&ops->snapshots_failed, 1);
        return error;
    }

    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.format = rq->format;
    so.codec = rq->codec;
    so.level = rq->level;
    so.collections = whole ? NULL : rq->collections;
    so.ncollections = ncols;
    so.tmpdir = work_dir(ops);
    so.progress = progress;
    so.payload = payload;

    pthread_mutex_lock(&ops->save_mu);
    uint64_t t0 = mono_ms();
    error = check_live(ops, rq->collections, ncols);
    if (!error && incremental)
        plan_incremental(&so, ops, max_links);

    if (!error)
        error =
            vs_snapfork_create(out, ops->catalog, ops->store, rq->name, &so);
    if (!error && whole) {
        error = set_current(ops, out->id);
        if (!error) {
            atomic_store(&ops->detached, false);
            uint64_t saved = atomic_load(&ops->saved_seq);
            if (out->seq > saved)
                atomic_store(&ops->saved_seq, out->seq);
            atomic_store(&ops->last_save_ms, wall_ms());
            wal_covered(ops, out->seq);
        } else {
            vs_log(VS_LOG_ERROR,
                   "snapshot %s was written but CURRENT was "
                   "not updated: %s",
                   out->id, vs_error_last());
        }
    }
    uint64_t took = mono_ms() - t0;
    pthread_mutex_unlock(&ops->save_mu);

    if (error < 0) {
        vs_snapshot_dispose(out);
        memset(out, 0, sizeof(*out));
        if (error != VS_ECANCELLED)
            atomic_fetch_add(&ops->snapshots_failed, 1);
        return error;
    }
    atomic_fetch_add(&ops->snapshots_ok, 1);
    atomic_store(&ops->last_snapshot_ms, took);
    atomic_store(&ops->last_snapshot_bytes, out->bytes);
    atomic_fetch_add(&ops->snapshot_bytes_total, out->bytes);
    vs_log(VS_LOG_INFO,
           "%s snapshot %s: %llu records, %llu bytes, seq %llu, %llu ms%s",
           out->kind, out->id, (unsigned long long)out->records,
           (unsigned long long)out->bytes, (unsigned long long)out->seq,
           (unsigned long long)took, whole ? " (CURRENT)" : "");
    if (whole && ops->wal) {
        wal_upload(ops);
        if (vs_ops_wal_prune(ops) < 0) {
            vs_log(VS_LOG_WARN, "wal: cannot prune the archive: %s",
                   vs_error_last());
            vs_error_clear();
        }
    }
    if (ops->after_snapshot)
        ops->after_snapshot(ops, out, ops->after_snapshot_payload);
    return 0;
}

int vs_ops_snapshot(vs_snapshot *out, vs_ops *ops,
                    const vs_ops_snapshot_req *rq, vs_progress_fn progress,
                    void *payload)
{
    return take_snapshot(out, ops, rq, false, 0, progress, payload);
}

int vs_ops_snapshot_incremental(vs_snapshot *out, vs_ops *ops,
                                const vs_ops_snapshot_req *rq,
                                unsigned max_links, vs_progress_fn progress,
                                void *payload)
{
    return take_snapshot(out, ops, rq, true, max_links, progress, payload);
}


/* ---- the switch --------------------------------------------------------- */

void vs_ops_result_dispose(vs_ops_result *r)
{
    if (!r)
        return;
    free(r->collections);
    memset(r, 0, sizeof(*r));
}

json_t *vs_ops_result_json(const vs_ops_result *r)
{
    json_t *cols = json_array();
    json_t *j = json_object();
    if (!cols || !j)
        goto fail;
    for (size_t i = 0; i < r->ncollections; i++) {
        const vs_snapshot_collection *c = &r->collections[i];
        json_t *o =
            json_pack("{s:s,s:I,s:s,s:I}", "name", c->name, "dimension",
                      (json_int_t)c->dimension, "metric",
                      vs_metric_name(c->metric), "count", (json_int_t)c->count);
        if (!o || json_array_append_new(cols, o) < 0)
            goto fail;
    }
    if (json_object_set_new(j, "mode", json_string(mode_name(r->mode))) < 0 ||
        json_object_set(j, "collections", cols) < 0 ||
        json_object_set_new(j, "records",
                            json_integer((json_int_t)r->records)) < 0 ||
        json_object_set_new(j, "seq", json_integer((json_int_t)r->seq)) < 0)
        goto fail;
    if (r->saved_as[0] &&
        json_object_set_new(j, "saved_as", json_string(r->saved_as)) < 0)
        goto fail;
    if (r->pitr &&
        (json_object_set_new(j, "replayed",
                             json_integer((json_int_t)r->replayed)) < 0 ||
         json_object_set_new(j, "replayed_to_seq",
                             json_integer((json_int_t)r->replayed_seq)) < 0 ||
         json_object_set_new(j, "until_seq_reached",
                             json_boolean(r->until_reached)) < 0))
        goto fail;
    json_decref(cols);
    return j;
fail:
    json_decref(cols);
    json_decref(j);
    return NULL;
}

/* A snapshot of `st` (the caller holds its lock, or owns it) into the
 * catalog, in-process: binary, uncompressed, the fastest to write. */
static int snapshot_now(vs_snapshot *out, vs_ops *ops, vs_store *st,
                        const char *label)
{
    vs_save_options so = VS_SAVE_OPTIONS_INIT;
    so.tmpdir = work_dir(ops);
    int error = vs_catalog_create(out, ops->catalog, st, label, &so);
    if (error < 0)
        return error;
    atomic_fetch_add(&ops->snapshots_ok, 1);
    atomic_fetch_add(&ops->snapshot_bytes_total, out->bytes);
    return 0;
}

/* CURRENT := "the state at `seq` is snapshot `id`" (seq 0: its own). */
static int set_current_at(vs_ops *ops, const char *id, uint64_t seq)
{
    pthread_mutex_lock(&current_mu);
    int error = vs_catalog_set_current_at(ops->catalog, id, seq);
    pthread_mutex_unlock(&current_mu);
    return error;
}

/* Make `loaded` (a private store) live: swapped in (replace) or merged,
 * under the write lock, the counter becoming seq = max(live, loaded) + 1.
 * `current` (may be NULL) is the snapshot `loaded` is exactly.  The new
 * state must be one a restart rebuilds and the log goes on from (ops.h,
 * "Restores and the log"): a replace first makes CURRENT say "the state
 * at seq is snapshot X" -- `current`, or with the log on a snapshot of
 * `loaded` stamped with seq, taken there (`label` names it) -- and does
 * not happen if that fails; with the log on, a merge is snapshotted right
 * after it, before the lock is let go, so no write slips in between.  On
 * failure nothing changed, except after a merge whose snapshot failed
 * (writes are then refused until a snapshot succeeds).  On success
 * `loaded` holds what the live store held before (replace) or nothing
 * (merge). */
static int switch_in(vs_ops_result *out, vs_ops *ops, vs_store *loaded,
                     vs_ops_mode mode, const char *current, const char *label,
                     vs_progress_fn progress, void *payload)
{
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    vs_snapshot snap;
    memset(&snap, 0, sizeof(snap));
    int error = vs_snapshot_describe(&cols, &ncols, loaded, NULL);
    if (error < 0)
        return error;
    uint64_t records = vs_store_nrecords(loaded);
    /* The last chance to stop: after this the switch happens. */
    if (progress && progress(payload, records, records) != 0) {
        free(cols);
        return vs_error_set(VS_ECANCELLED, "cancelled");
    }
    pthread_mutex_lock(&ops->save_mu);
    vs_store_wrlock(ops->store);
    uint64_t live = vs_store_seq(ops->store), other = vs_store_seq(loaded);
    uint64_t seq = (live > other ? live : other) + 1;
    if (mode == VS_OPS_MERGE) {
        vs_store_merge_take(ops->store, loaded); /* the counter is seq */
        if (ops->wal) {
            error = snapshot_now(&snap, ops, ops->store, label);
            if (!error)
                error = set_current_at(ops, snap.id, 0);
            if (error < 0)
                atomic_store(&ops->read_only, VS_OPS_RO_SNAPSHOT);
            else
                current = snap.id;
        }
    } else {
        if (!current && ops->wal) {
            vs_store_set_seq_exact(loaded, seq);
            error = snapshot_now(&snap, ops, loaded, label);
            if (!error)
                current = snap.id;
        }
        if (!error && current)
            error = set_current_at(ops, current, snap.id[0] ? 0 : seq);
        if (!error) {
            vs_store_swap(ops->store, loaded);
            vs_store_set_seq_exact(ops->store, seq); /* not one more */
        }
    }
    if (!error && current) {
        atomic_store(&ops->saved_seq, seq);
        wal_covered(ops, seq);
    }
    /* Whether the new state descends from CURRENT (incremental snapshots
     * need it); a failed replace changed nothing. */
    if (!error || mode == VS_OPS_MERGE)
        atomic_store(&ops->detached, error || !current);
    vs_store_unlock(ops->store);
    pthread_mutex_unlock(&ops->save_mu);

    if (error < 0 && mode == VS_OPS_MERGE) {
        char why[700];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        vs_log(VS_LOG_ERROR,
               "the merge is live, but no snapshot covers it (%s): writes are "
               "refused until a snapshot succeeds",
               why);
        error = vs_error_set(error,
                             "merged, but the snapshot that must follow a "
                             "merge failed (%s): writes are refused until a "
                             "snapshot (POST /v1/snapshots) succeeds",
                             why);
    } else if (error < 0 && snap.id[0]) {
        char why[700];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        if (vs_catalog_delete(ops->catalog, snap.id) < 0)
            vs_log(VS_LOG_WARN, "cannot remove snapshot %s: %s", snap.id,
                   vs_error_last());
        vs_error_set(error, "%s", why);
    }
    if (!error && snap.id[0])
        snprintf(out->saved_as, sizeof(out->saved_as), "%s", snap.id);
    vs_snapshot_dispose(&snap);
    if (error < 0) {
        free(cols);
        return error;
    }
    out->mode = mode;
    out->records = records;
    out->seq = seq;
    out->ncollections = ncols;
    out->collections = cols;
    return 0;
}

/* Keep only the named collections of `st` (a private store).  A name it
 * lacks is VS_ENOTFOUND.  *all is set when nothing was left out. */
static int select_collections(bool *all, vs_store *st, const char *id,
                              const char *const *names, size_t n)
{
    *all = true;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!vs_store_find(st, names[i]))
            return vs_error_set(VS_ENOTFOUND,
                                "snapshot %s has no collection '%s'", id,
                                names[i]);
    for (size_t i = vs_store_ncollections(st); i-- > 0;) {
        const vs_collection *c = vs_store_at(st, i);
        if (named(names, n, vs_collection_name(c)))
            continue;
        char name[VS_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%s", vs_collection_name(c));
        int error = vs_store_drop(st, name);
        if (error < 0)
            return error;
        *all = false;
    }
    return 0;
}

/* ---- restore, import, verify -------------------------------------------- */

/* Before loading: the id's shape, the names, and that the manifest lists
 * every requested collection (an unknown one fails without a load). */
static int check_restore(vs_ops *ops, const char *id, const char *const *names,
                         size_t n)
{
    int error = vs_snapshot_check_id(id);
    if (error == 0)
        error = check_names(names, n);
    if (error < 0)
        return error;
    vs_snapshot s;
    error = vs_catalog_get(&s, ops->catalog, id);
    if (error < 0)
        return error;
    for (size_t i = 0; !error && i < n; i++) {
        bool found = false;
        for (size_t k = 0; !found && k < s.ncollections; k++)
            found = strcmp(s.collections[k].name, names[i]) == 0;
        if (!found)
            error =
                vs_error_set(VS_ENOTFOUND, "snapshot %s has no collection '%s'",
                             id, names[i]);
    }
    vs_snapshot_dispose(&s);
    return error;
}

/* A point-in-time restore from snapshot `id`: the log is on, the bound
 * is not before the snapshot, which is one the log continues.  *base gets
 * its seq. */
static int check_until(uint64_t *base, vs_ops *ops, const char *id,
                       const vs_ops_until *u)
{
    vs_snapshot s;
    if (!ops->wal)
        return vs_error_set(VS_EINVALID,
                            "a point-in-time restore replays the "
                            "write-ahead log, which is off (wal_fsync off)");
    if (!u->seq && !u->ms)
        return vs_error_set(VS_EINVALID, "a point-in-time restore needs a "
                                         "bound (until or until_seq)");
    int error = vs_catalog_get(&s, ops->catalog, id);
    if (error < 0)
        return error;
    if (strcmp(s.origin, "upload") == 0)
        error = vs_error_set(VS_EINVALID,
                             "snapshot %s was uploaded: the log does not go "
                             "on from it (restore it without a bound)",
                             id);
    else if (u->seq && u->seq < s.seq)
        error = vs_error_set(VS_EINVALID,
                             "until_seq %llu is before snapshot %s, which "
                             "holds the writes up to seq %llu",
                             (unsigned long long)u->seq, id,
                             (unsigned long long)s.seq);
    else if (u->ms && u->ms < (uint64_t)s.created_ms)
        error = vs_error_set(VS_EINVALID,
                             "until is before snapshot %s was taken: pick "
                             "an older snapshot",
                             id);
    *base = s.seq;
    vs_snapshot_dispose(&s);
    return error;
}

/* The log from `base` (snapshot id's seq) up to the bound, onto st. */
static int replay_until(vs_ops_result *out, vs_ops *ops, vs_store *st,
                        const char *id, uint64_t base, const vs_ops_until *u)
{
    vs_wal_replay_info info;
    vs_wal_replay_opts o = {base, u->seq, u->ms, ops->wal_archive, false};
    int error = vs_wal_replay_to(&info, st, vs_wal_dir(ops->wal), &o);
    if (error == VS_ECORRUPT && info.gap_due)
        return vs_error_set(VS_ECORRUPT,
                            "the log does not go on from snapshot %s past "
                            "seq %llu: records %llu to %llu are not in it (a "
                            "restore or an import began another history "
                            "there, or they were pruned); restore from a "
                            "snapshot taken after seq %llu",
                            id, (unsigned long long)info.gap_due - 1,
                            (unsigned long long)info.gap_due,
                            (unsigned long long)info.gap_seq - 1,
                            (unsigned long long)info.gap_seq - 1);
    if (error < 0)
        return error;
    out->pitr = true;
    out->replayed = info.records;
    out->replayed_seq = info.records ? info.last_seq : base;
    out->until_reached = info.reached || (u->seq && u->seq == base);
    vs_log(VS_LOG_INFO,
           "point-in-time restore from %s: %llu log records replayed, up to "
           "seq %llu%s",
           id, (unsigned long long)out->replayed,
           (unsigned long long)out->replayed_seq,
           out->until_reached ? "" : " (the end of the log: the bound is "
                                     "past it)");
    return 0;
}

int vs_ops_restore(vs_ops_result *out, vs_ops *ops, const char *id,
                   vs_ops_mode mode, const char *const *collections,
                   size_t ncollections, vs_progress_fn progress, void *payload)
{
    return vs_ops_restore_until(out, ops, id, mode, collections, ncollections,
                                NULL, progress, payload);
}

int vs_ops_restore_until(vs_ops_result *out, vs_ops *ops, const char *id,
                         vs_ops_mode mode, const char *const *collections,
                         size_t ncollections, const vs_ops_until *until,
                         vs_progress_fn progress, void *payload)
{
    memset(out, 0, sizeof(*out));
    vs_store *loaded = NULL;
    vs_file_info info;
    bool all = true, pinned = false;
    size_t n = collections ? ncollections : 0;
    uint64_t base = 0;
    int error = 0;
    if (mode != VS_OPS_REPLACE && mode != VS_OPS_MERGE) {
        error = vs_error_set(VS_EINVALID, "unknown restore mode %d", (int)mode);
        goto done;
    }
    error = check_restore(ops, id, collections, n);
    if (!error && until)
        error = check_until(&base, ops, id, until);
    if (!error) {
        error = vs_ops_pin(ops, id, "restore");
        pinned = error == 0;
    }
    if (!error)
        error = vs_catalog_load(&loaded, &info, ops->catalog, id, progress,
                                payload);
    if (!error && until)
        error = replay_until(out, ops, loaded, id, base, until);
    if (!error)
        error = select_collections(&all, loaded, id, collections, n);
    if (!error) {
        bool whole = all && mode == VS_OPS_REPLACE && !out->replayed;
        error = switch_in(out, ops, loaded, mode, whole ? id : NULL,
                          until ? "point-in-time restore" : "restore",
                          progress, payload);
    }
    if (!error)
        vs_log(VS_LOG_INFO,
               "restored snapshot %s (%s): %zu collections, %llu records, "
               "seq %llu",
               id, mode_name(mode), out->ncollections,
               (unsigned long long)out->records, (unsigned long long)out->seq);
done:
    if (pinned)
        vs_ops_unpin(ops, id);
    vs_store_free(loaded);
    if (error < 0 && error != VS_ECANCELLED)
        atomic_fetch_add(&ops->restores_failed, 1);
    else if (!error)
        atomic_fetch_add(&ops->restores_ok, 1);
    return error;
}

int vs_ops_import(vs_ops_result *out, vs_ops *ops, vs_stream *in,
                  vs_ops_mode mode, const char *name_hint, uint64_t max_bytes,
                  vs_progress_fn progress, void *payload)
{
    memset(out, 0, sizeof(*out));
    if (mode != VS_OPS_REPLACE && mode != VS_OPS_MERGE)
        return vs_error_set(VS_EINVALID, "unknown import mode %d", (int)mode);
    vs_store *loaded = NULL;
    vs_file_info info;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.name_hint = name_hint;
    lo.max_bytes = max_bytes;
    lo.tmpdir = work_dir(ops);
    lo.progress = progress;
    lo.payload = payload;
    int error = vs_fmt_load_stream(&loaded, &info, in, &lo);
    if (!error)
        error = switch_in(out, ops, loaded, mode, NULL, "import", progress,
                          payload);
    if (!error)
        vs_log(VS_LOG_INFO,
               "imported a %s document (%s): %zu collections, %llu records, "
               "seq %llu",
               vs_format_name(info.format), mode_name(mode), out->ncollections,
               (unsigned long long)out->records, (unsigned long long)out->seq);
    vs_store_free(loaded);
    if (error < 0 && error != VS_ECANCELLED)
        atomic_fetch_add(&ops->restores_failed, 1);
    else if (!error)
        atomic_fetch_add(&ops->restores_ok, 1);
    return error;
}

int vs_ops_verify(vs_file_info *info, vs_ops *ops, const char *id,
                  vs_progress_fn progress, void *payload)
{
    vs_file_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    vs_store *st = NULL;
    error = vs_ops_pin(ops, id, "verify");
    if (error < 0)
        return error;
    error = vs_catalog_load(&st, info, ops->catalog, id, progress, payload);
    vs_ops_unpin(ops, id);
    vs_store_free(st);
    return error;
}

/* ---- pins --------------------------------------------------------------- */

/* The pinned snapshots of every catalog in the process, under current_mu
 * (a deletion checks them in the same step as CURRENT).  The array is
 * freed when the last pin goes. */
typedef struct pin {
    const vs_catalog *cat;
    vs_ops_pin_info info;
    unsigned count;
} pin;
static pin *pins;
static size_t npins, pins_cap;

/* Under current_mu. */
static pin *find_pin(const vs_catalog *cat, const char *id)
{
    for (size_t i = 0; i < npins; i++)
        if (pins[i].cat == cat && strcmp(pins[i].info.id, id) == 0)
            return &pins[i];
    return NULL;
}

int vs_ops_pin(vs_ops *ops, const char *id, const char *what)
{
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    pthread_mutex_lock(&current_mu);
    pin *p = find_pin(ops->catalog, id);
    if (!p && npins == pins_cap) {
        size_t cap = pins_cap ? 2 * pins_cap : 8;
        pin *grown = realloc(pins, cap * sizeof(*grown));
        if (!grown) {
            error = vs_error_oom();
        } else {
            pins = grown;
            pins_cap = cap;
        }
    }
    if (!error && !p) {
        p = &pins[npins++];
        memset(p, 0, sizeof(*p));
        p->cat = ops->catalog;
        snprintf(p->info.id, sizeof(p->info.id), "%s", id);
        snprintf(p->info.what, sizeof(p->info.what), "%s",
                 what ? what : "operation");
    }
    if (!error)
        p->count++;
    pthread_mutex_unlock(&current_mu);
    return error;
}

void vs_ops_unpin(vs_ops *ops, const char *id)
{
    pthread_mutex_lock(&current_mu);
    pin *p = find_pin(ops->catalog, id);
    if (p && --p->count == 0) {
        *p = pins[--npins];
        if (npins == 0) {
            free(pins);
            pins = NULL;
            pins_cap = 0;
        }
    }
    pthread_mutex_unlock(&current_mu);
}

int vs_ops_pins(vs_ops_pin_info **out, size_t *n, vs_ops *ops)
{
    *out = NULL;
    *n = 0;
    int error = 0;
    pthread_mutex_lock(&current_mu);
    vs_ops_pin_info *list = npins ? malloc(npins * sizeof(*list)) : NULL;
    if (npins && !list)
        error = vs_error_oom();
    for (size_t i = 0; !error && i < npins; i++)
        if (pins[i].cat == ops->catalog)
            list[(*n)++] = pins[i].info;
    pthread_mutex_unlock(&current_mu);
    if (*n == 0)
        free(list);
    else
        *out = list;
    return error;
}

int vs_ops_delete(vs_ops *ops, const char *id)
{
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    pthread_mutex_lock(&current_mu);
    error = vs_catalog_current(cur, ops->catalog);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        error = 0;
    } else if (error == 0 && strcmp(cur, id) == 0) {
        error = vs_error_set(VS_EBUSY,
                             "snapshot %s is CURRENT, the state the live "
                             "store was last saved to or restored from; save "
                             "or load another one first",
                             id);
    }
    const pin *p = error ? NULL : find_pin(ops->catalog, id);
    if (p)
        error = vs_error_set(VS_EBUSY,
                             "snapshot %s is in use by a running %s; try "
                             "again when it has finished",
                             id, p->info.what);
    if (!error)
        error = vs_catalog_delete(ops->catalog, id);
    pthread_mutex_unlock(&current_mu);
    return error;
}

/* ---- chains ------------------------------------------------------------- */

/* Snapshot `id` may go (current_mu held): it is not CURRENT (`cur`, ""
 * when none) nor pinned.  `of`: the snapshot whose deletion takes `id`
 * with it. */
static int deletable(vs_ops *ops, const char *id, const char *cur,
                     const char *of)
{
    const pin *p = find_pin(ops->catalog, id);
    if (strcmp(cur, id) == 0 && of)
        return vs_error_set(VS_EBUSY,
                            "snapshot %s depends on %s and is CURRENT: "
                            "deleting %s with the snapshots that depend on "
                            "it would delete CURRENT",
                            id, of, of);
    if (strcmp(cur, id) == 0)
        return vs_error_set(VS_EBUSY,
                            "snapshot %s is CURRENT, the state the live "
                            "store was last saved to or restored from; save "
                            "or load another one first",
                            id);
    if (p)
        return vs_error_set(VS_EBUSY,
                            "snapshot %s is in use by a running %s; try "
                            "again when it has finished",
                            id, p->info.what);
    return 0;
}

/* VS_EBUSY: `id` has the dependents deps[0..n) (oldest first). */
static int has_dependents(const char *id, const vs_snapshot *deps, size_t n)
{
    char names[4 * (VS_SNAPSHOT_ID_LEN + 2) + 8] = "";
    size_t len = 0;
    for (size_t i = n; i-- > 0 && n - i <= 4;)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                i + 1 < n ? ", " : "", deps[i].id);
    return vs_error_set(VS_EBUSY,
                        "snapshot %s is the parent or base of %zu other "
                        "snapshot%s (%s%s): delete %s first, or delete with "
                        "cascade",
                        id, n, n == 1 ? "" : "s", names, n > 4 ? ", ..." : "",
                        n == 1 ? "it" : "them");
}

int vs_ops_delete_cascade(char (**gone)[VS_SNAPSHOT_ID_LEN + 1], size_t *ngone,
                          vs_ops *ops, const char *id, bool cascade)
{
    char cur[VS_SNAPSHOT_ID_LEN + 1] = "";
    char (*list)[VS_SNAPSHOT_ID_LEN + 1] = NULL;
    vs_snapshot *deps = NULL;
    size_t ndeps = 0, k = 0;
    if (gone)
        *gone = NULL;
    if (ngone)
        *ngone = 0;
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    pthread_mutex_lock(&current_mu);
    error = vs_catalog_current(cur, ops->catalog);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        error = 0;
    }
    if (!error)
        error = vs_catalog_dependents(&deps, &ndeps, ops->catalog, id);
    if (!error && ndeps && !cascade)
        error = has_dependents(id, deps, ndeps);
    if (!error)
        error = deletable(ops, id, cur, NULL);
    for (size_t i = 0; !error && i < ndeps; i++)
        error = deletable(ops, deps[i].id, cur, id);
    if (!error && !(list = calloc(ndeps + 1, sizeof(*list))))
        error = vs_error_oom();
    /* Newest first: each one goes when nothing depends on it any more. */
    for (size_t i = ndeps; !error && i-- > 0;) {
        error = vs_catalog_delete(ops->catalog, deps[i].id);
        if (!error)
            memcpy(list[k++], deps[i].id, sizeof(*list));
    }
    if (!error)
        error = vs_catalog_delete(ops->catalog, id);
    if (!error)
        memcpy(list[k++], id, sizeof(*list));
    pthread_mutex_unlock(&current_mu);
    if (k > 1)
        vs_log(VS_LOG_INFO, "snapshot %s deleted with %zu dependents%s", id,
               k - (error ? 0 : 1), error ? " (then it failed)" : "");
    if (gone && k) {
        *gone = list;
        *ngone = k;
        list = NULL;
    }
    free(list);
    vs_snapshot_list_free(deps, ndeps);
    return error;
}

int vs_ops_compact(vs_snapshot *out, bool *moved, vs_ops *ops, const char *id,
                   vs_progress_fn progress, void *payload)
{
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t seq = 0;
    memset(out, 0, sizeof(*out));
    *moved = false;
    /* The tip stays while its chain is read (its parents have it as a
     * dependent). */
    int error = vs_ops_pin(ops, id, "compact");
    if (error < 0)
        return error;
    error = vs_catalog_compact(out, ops->catalog, id, NULL, NULL, progress,
                               payload);
    vs_ops_unpin(ops, id);
    if (error < 0)
        return error;
    /* CURRENT moves only under save_mu, held here: the check and the move
     * are one step. */
    pthread_mutex_lock(&ops->save_mu);
    pthread_mutex_lock(&current_mu);
    int e = vs_catalog_current_at(cur, &seq, ops->catalog);
    if (e == 0 && strcmp(cur, id) == 0) {
        error = vs_catalog_set_current_at(ops->catalog, out->id, seq);
        *moved = error == 0;
    } else if (e < 0) {
        vs_error_clear();
    }
    pthread_mutex_unlock(&current_mu);
    pthread_mutex_unlock(&ops->save_mu);
    if (error < 0) {
        vs_log(VS_LOG_ERROR,
               "snapshot %s compacted into %s, but CURRENT could not move "
               "to it: %s",
               id, out->id, vs_error_last());
        vs_snapshot_dispose(out);
        memset(out, 0, sizeof(*out));
        return error;
    }
    vs_log(VS_LOG_INFO, "snapshot %s compacted into %s: %llu records, %llu "
                        "bytes, seq %llu%s",
           id, out->id, (unsigned long long)out->records,
           (unsigned long long)out->bytes, (unsigned long long)out->seq,
           *moved ? " (CURRENT)" : "");
    return 0;
}


/* ---- metrics ------------------------------------------------------------ */

int vs_ops_metrics_render(vs_buf *out, vs_ops *ops)
{
    vs_snapfork_stats fs;
    vs_snapfork_stats_get(&fs);
    unsigned long long ok = atomic_load(&ops->snapshots_ok);
    unsigned long long failed = atomic_load(&ops->snapshots_failed);
    unsigned long long last_ms = atomic_load(&ops->last_snapshot_ms);
    unsigned long long last_bytes = atomic_load(&ops->last_snapshot_bytes);
    unsigned long long total = atomic_load(&ops->snapshot_bytes_total);
    unsigned long long rok = atomic_load(&ops->restores_ok);
    unsigned long long rfailed = atomic_load(&ops->restores_failed);
    long long saved_ms = atomic_load(&ops->last_save_ms);
    int error = vs_buf_printf(
        out,
        "# HELP vecsnap_snapshots_total Snapshots taken, by result "
        "(cancelled ones are not counted).\n"
        "# TYPE vecsnap_snapshots_total counter\n"
        "vecsnap_snapshots_total{result=\"ok\"} %llu\n"
        "vecsnap_snapshots_total{result=\"failed\"} %llu\n"
        "# HELP vecsnap_snapshot_last_duration_seconds Duration of the last "
        "successful snapshot.\n"
        "# TYPE vecsnap_snapshot_last_duration_seconds gauge\n"
        "vecsnap_snapshot_last_duration_seconds %llu.%03llu\n"
        "# HELP vecsnap_snapshot_last_bytes Size of the last successful "
        "snapshot's data file.\n"
        "# TYPE vecsnap_snapshot_last_bytes gauge\n"
        "vecsnap_snapshot_last_bytes %llu\n"
        "# HELP vecsnap_snapshot_written_bytes_total Bytes of snapshot data "
        "files written.\n"
        "# TYPE vecsnap_snapshot_written_bytes_total counter\n"
        "vecsnap_snapshot_written_bytes_total %llu\n"
        "# HELP vecsnap_restores_total Restores and imports switched into "
        "the live store, by result (cancelled ones are not counted).\n"
        "# TYPE vecsnap_restores_total counter\n"
        "vecsnap_restores_total{result=\"ok\"} %llu\n"
        "vecsnap_restores_total{result=\"failed\"} %llu\n"
        "# HELP vecsnap_unsaved_changes Writes since the state was last "
        "saved or restored.\n"
        "# TYPE vecsnap_unsaved_changes gauge\n"
        "vecsnap_unsaved_changes %llu\n"
        "# HELP vecsnap_last_save_timestamp_seconds Unix time of the last "
        "whole-store snapshot (0: none since start).\n"
        "# TYPE vecsnap_last_save_timestamp_seconds gauge\n"
        "vecsnap_last_save_timestamp_seconds %lld.%03lld\n",
        ok, failed, last_ms / 1000, last_ms % 1000, last_bytes, total, rok,
        rfailed, (unsigned long long)vs_ops_unsaved(ops), saved_ms / 1000,
        saved_ms % 1000);
    if (!error)
        error = vs_buf_printf(
            out,
            "# HELP vecsnap_snapshot_forks_total Snapshot writer processes "
            "started.\n"
            "# TYPE vecsnap_snapshot_forks_total counter\n"
            "vecsnap_snapshot_forks_total %llu\n"
            "# HELP vecsnap_snapshot_fork_failures_total fork() calls that "
            "failed.\n"
            "# TYPE vecsnap_snapshot_fork_failures_total counter\n"
            "vecsnap_snapshot_fork_failures_total %llu\n"
            "# HELP vecsnap_snapshot_fork_pause_seconds How long writers "
            "waited for the last fork.\n"
            "# TYPE vecsnap_snapshot_fork_pause_seconds gauge\n"
            "vecsnap_snapshot_fork_pause_seconds %llu.%06llu\n"
            "# HELP vecsnap_snapshot_fork_pause_max_seconds The longest such "
            "wait.\n"
            "# TYPE vecsnap_snapshot_fork_pause_max_seconds gauge\n"
            "vecsnap_snapshot_fork_pause_max_seconds %llu.%06llu\n"
            "# HELP vecsnap_snapshot_writer_stalls_total Writer processes "
            "killed as deadlocked.\n"
            "# TYPE vecsnap_snapshot_writer_stalls_total counter\n"
            "vecsnap_snapshot_writer_stalls_total %llu\n",
            (unsigned long long)fs.forks, (unsigned long long)fs.fork_failures,
            (unsigned long long)(fs.last_pause_usec / 1000000),
            (unsigned long long)(fs.last_pause_usec % 1000000),
            (unsigned long long)(fs.max_pause_usec / 1000000),
            (unsigned long long)(fs.max_pause_usec % 1000000),
            (unsigned long long)fs.stalls);
    if (!error)
        error = vs_buf_printf(
            out,
            "# HELP vecsnap_retention_runs_total Retention runs that could "
            "delete (not dry runs), by result: failed when the catalog "
            "could not be listed or a deletion failed other than for a "
            "snapshot in use.\n"
            "# TYPE vecsnap_retention_runs_total counter\n"
            "vecsnap_retention_runs_total{result=\"ok\"} %llu\n"
            "vecsnap_retention_runs_total{result=\"failed\"} %llu\n"
            "# HELP vecsnap_retention_deleted_snapshots_total Snapshots "
            "deleted by retention.\n"
            "# TYPE vecsnap_retention_deleted_snapshots_total counter\n"
            "vecsnap_retention_deleted_snapshots_total %llu\n",
            (unsigned long long)atomic_load(&ops->retention_ok),
            (unsigned long long)atomic_load(&ops->retention_failed),
            (unsigned long long)atomic_load(&ops->retention_deleted));
    return error;
}
