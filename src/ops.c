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
    return 0;
}

void vs_ops_dispose(vs_ops *ops)
{
    if (!ops || !ops->store)
        return;
    pthread_mutex_destroy(&ops->save_mu);
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

int vs_ops_snapshot(vs_snapshot *out, vs_ops *ops,
                    const vs_ops_snapshot_req *rq, vs_progress_fn progress,
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
    if (!error)
        error =
            vs_snapfork_create(out, ops->catalog, ops->store, rq->name, &so);
    if (!error && whole) {
        error = set_current(ops, out->id);
        if (!error) {
            uint64_t saved = atomic_load(&ops->saved_seq);
            if (out->seq > saved)
                atomic_store(&ops->saved_seq, out->seq);
            atomic_store(&ops->last_save_ms, wall_ms());
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
           "snapshot %s: %llu records, %llu bytes, seq %llu, %llu ms%s",
           out->id, (unsigned long long)out->records,
           (unsigned long long)out->bytes, (unsigned long long)out->seq,
           (unsigned long long)took, whole ? " (CURRENT)" : "");
    return 0;
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
    json_decref(cols);
    return j;
fail:
    json_decref(cols);
    json_decref(j);
    return NULL;
}

/* Make `loaded` (a private store) live: swapped in (replace) or merged.
 * `current` (may be NULL) is written to CURRENT first and the state then
 * counts as saved.  On failure nothing changed.  On success `loaded` holds
 * what the live store held before (replace) or nothing (merge). */
static int switch_in(vs_ops_result *out, vs_ops *ops, vs_store *loaded,
                     vs_ops_mode mode, const char *current,
                     vs_progress_fn progress, void *payload)
{
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
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
    if (current)
        error = set_current(ops, current);
    if (error < 0) {
        pthread_mutex_unlock(&ops->save_mu);
        free(cols);
        return error;
    }
    vs_store_wrlock(ops->store);
    /* Both set the counter to max(live, loaded) + 1. */
    if (mode == VS_OPS_MERGE)
        vs_store_merge_take(ops->store, loaded);
    else
        vs_store_swap(ops->store, loaded);
    uint64_t seq = vs_store_seq(ops->store);
    if (current)
        atomic_store(&ops->saved_seq, seq);
    vs_store_unlock(ops->store);
    pthread_mutex_unlock(&ops->save_mu);

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

int vs_ops_restore(vs_ops_result *out, vs_ops *ops, const char *id,
                   vs_ops_mode mode, const char *const *collections,
                   size_t ncollections, vs_progress_fn progress, void *payload)
{
    memset(out, 0, sizeof(*out));
    vs_store *loaded = NULL;
    vs_file_info info;
    bool all = true;
    size_t n = collections ? ncollections : 0;
    int error = 0;
    if (mode != VS_OPS_REPLACE && mode != VS_OPS_MERGE) {
        error = vs_error_set(VS_EINVALID, "unknown restore mode %d", (int)mode);
        goto done;
    }
    error = check_restore(ops, id, collections, n);
    if (!error)
        error = vs_catalog_load(&loaded, &info, ops->catalog, id, progress,
                                payload);
    if (!error)
        error = select_collections(&all, loaded, id, collections, n);
    if (!error) {
        bool whole = all && mode == VS_OPS_REPLACE;
        error = switch_in(out, ops, loaded, mode, whole ? id : NULL, progress,
                          payload);
    }
    if (!error)
        vs_log(VS_LOG_INFO,
               "restored snapshot %s (%s): %zu collections, %llu records, "
               "seq %llu",
               id, mode_name(mode), out->ncollections,
               (unsigned long long)out->records, (unsigned long long)out->seq);
done:
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
        error = switch_in(out, ops, loaded, mode, NULL, progress, payload);
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
    error = vs_catalog_load(&st, info, ops->catalog, id, progress, payload);
    vs_store_free(st);
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
    if (!error)
        error = vs_catalog_delete(ops->catalog, id);
    pthread_mutex_unlock(&current_mu);
    return error;
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
    return error;
}
