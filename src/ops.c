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
 * the deletion one step against every CURRENT change.  The log's hooks,
 * the switch and restores live in ops_wal.c (ops_int.h between the two).
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
#include "ops_int.h"
#include "snapfork.h"

pthread_mutex_t vs_ops__current_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- helpers ------------------------------------------------------------ */

static int set_current(vs_ops *ops, const char *id)
{
    pthread_mutex_lock(&vs_ops__current_mu);
    int error = vs_catalog_set_current(ops->catalog, id);
    pthread_mutex_unlock(&vs_ops__current_mu);
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
int vs_ops__check_names(const char *const *names, size_t n)
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

const char *vs_ops__mode_name(vs_ops_mode mode)
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

void vs_ops__count_restore(vs_ops *ops, int error)
{
    if (error < 0 && error != VS_ECANCELLED)
        atomic_fetch_add(&ops->restores_failed, 1);
    else if (!error)
        atomic_fetch_add(&ops->restores_ok, 1);
}

const char *vs_ops__work_dir(const vs_ops *ops)
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
        error = vs_ops__check_names(rq->collections, ncols);
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
    so.tmpdir = vs_ops__work_dir(ops);
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
            vs_ops__wal_covered(ops, out->seq);
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
        vs_ops__wal_upload(ops);
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


/* ---- import, verify --------------------------------------------------- */

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
    lo.tmpdir = vs_ops__work_dir(ops);
    lo.progress = progress;
    lo.payload = payload;
    int error = vs_fmt_load_stream(&loaded, &info, in, &lo);
    if (!error)
        error = vs_ops__switch_in(out, ops, loaded, mode, NULL, "import",
                                  progress, payload);
    if (!error)
        vs_log(VS_LOG_INFO,
               "imported a %s document (%s): %zu collections, %llu records, "
               "seq %llu",
               vs_format_name(info.format), vs_ops__mode_name(mode),
               out->ncollections, (unsigned long long)out->records,
               (unsigned long long)out->seq);
    vs_store_free(loaded);
    vs_ops__count_restore(ops, error);
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
    pthread_mutex_lock(&vs_ops__current_mu);
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
    pthread_mutex_unlock(&vs_ops__current_mu);
    return error;
}

void vs_ops_unpin(vs_ops *ops, const char *id)
{
    pthread_mutex_lock(&vs_ops__current_mu);
    pin *p = find_pin(ops->catalog, id);
    if (p && --p->count == 0) {
        *p = pins[--npins];
        if (npins == 0) {
            free(pins);
            pins = NULL;
            pins_cap = 0;
        }
    }
    pthread_mutex_unlock(&vs_ops__current_mu);
}

int vs_ops_pins(vs_ops_pin_info **out, size_t *n, vs_ops *ops)
{
    *out = NULL;
    *n = 0;
    int error = 0;
    pthread_mutex_lock(&vs_ops__current_mu);
    vs_ops_pin_info *list = npins ? malloc(npins * sizeof(*list)) : NULL;
    if (npins && !list)
        error = vs_error_oom();
    for (size_t i = 0; !error && i < npins; i++)
        if (pins[i].cat == ops->catalog)
            list[(*n)++] = pins[i].info;
    pthread_mutex_unlock(&vs_ops__current_mu);
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
    pthread_mutex_lock(&vs_ops__current_mu);
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
    pthread_mutex_unlock(&vs_ops__current_mu);
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
    pthread_mutex_lock(&vs_ops__current_mu);
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
    pthread_mutex_unlock(&vs_ops__current_mu);
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
    pthread_mutex_lock(&vs_ops__current_mu);
    int e = vs_catalog_current_at(cur, &seq, ops->catalog);
    if (e == 0 && strcmp(cur, id) == 0) {
        error = vs_catalog_set_current_at(ops->catalog, out->id, seq);
        *moved = error == 0;
    } else if (e < 0) {
        vs_error_clear();
    }
    pthread_mutex_unlock(&vs_ops__current_mu);
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
