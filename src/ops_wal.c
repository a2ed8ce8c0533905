/*
 * ops_wal: the part of ops (ops.h) that the log and the switch make: the
 * write-ahead log's hooks (appending a change, waiting for it, the
 * archive's pruning and upload), the one switch by which a loaded store
 * becomes the live one, and restores, point-in-time ones included (a
 * snapshot, then the log replayed up to a bound).  The order of locks and
 * the rules of the switch are ops.c's (see there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ops.h"
#include "ops_int.h"

static bool named(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
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
void vs_ops__wal_covered(vs_ops *ops, uint64_t seq)
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
void vs_ops__wal_upload(vs_ops *ops)
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
        if (nnames && bsearch(name, names, nnames, sizeof(*names), cmp_name))
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
    if (json_object_set_new(j, "mode",
                            json_string(vs_ops__mode_name(r->mode))) < 0 ||
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
    so.tmpdir = vs_ops__work_dir(ops);
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
    pthread_mutex_lock(&vs_ops__current_mu);
    int error = vs_catalog_set_current_at(ops->catalog, id, seq);
    pthread_mutex_unlock(&vs_ops__current_mu);
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
int vs_ops__switch_in(vs_ops_result *out, vs_ops *ops, vs_store *loaded,
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
        vs_ops__wal_covered(ops, seq);
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

/* ---- restore ------------------------------------------------------------ */

/* Before loading: the id's shape, the names, and that the manifest lists
 * every requested collection (an unknown one fails without a load). */
static int check_restore(vs_ops *ops, const char *id, const char *const *names,
                         size_t n)
{
    int error = vs_snapshot_check_id(id);
    if (error == 0)
        error = vs_ops__check_names(names, n);
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
    vs_wal_replay_opts o = {base, u->seq, u->ms,
                            u->log_dir ? NULL : ops->wal_archive, false};
    int error = vs_wal_replay_to(&info, st,
                                 u->log_dir ? u->log_dir : vs_wal_dir(ops->wal),
                                 &o);
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
        error = vs_ops__switch_in(out, ops, loaded, mode, whole ? id : NULL,
                                  until ? "point-in-time restore" : "restore",
                                  progress, payload);
    }
    if (!error)
        vs_log(VS_LOG_INFO,
               "restored snapshot %s (%s): %zu collections, %llu records, "
               "seq %llu",
               id, vs_ops__mode_name(mode), out->ncollections,
               (unsigned long long)out->records, (unsigned long long)out->seq);
done:
    if (pinned)
        vs_ops_unpin(ops, id);
    vs_store_free(loaded);
    vs_ops__count_restore(ops, error);
    return error;
}

