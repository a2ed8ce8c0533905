/*
 * retention: which snapshots to keep and which to delete, by a policy of
 * the kind restic's `forget` applies, and the deletion itself.
 *
 * The policy has four rules; a snapshot is kept when ANY rule keeps it,
 * and with no rule set nothing is deleted.  Snapshots are taken newest
 * first (by creation time, then id):
 *
 *   keep_last N     the N newest snapshots ("last").
 *   keep_within D   every snapshot created less than D before the newest
 *                   snapshot that is not in the future ("within 7d").  The
 *                   reference is that newest snapshot, as restic's, not
 *                   the clock: a server that stopped taking snapshots
 *                   keeps its last ones however old they grow.
 *   keep_daily N    the newest snapshot of each of the N most recent UTC
 *                   days that have snapshots ("daily 2026-11-24").
 *   keep_weekly N   the same per ISO 8601 week, Monday to Sunday, UTC
 *                   ("weekly 2026-W48").
 *
 * As restic (0.17 and later), when keep_daily or keep_weekly still has
 * room after the last period that has snapshots, the oldest snapshot of
 * all is kept too ("oldest daily 2026-11-20"): a young history is kept
 * whole rather than cut at its most recent days.
 *
 * On top of the rules, the plan never deletes: CURRENT ("current"); a
 * snapshot in use by a running operation (the pin's reason, e.g. "in use
 * by restore"); anything a kept snapshot depends on -- the parent of a
 * kept incremental snapshot and its base, and theirs in turn ("parent of
 * <id>", "base of <id>").  Deletions are ordered so that a snapshot goes
 * only after every snapshot that depends on it.
 *
 * vs_retention_plan is a pure function of its input (no clock, no disk).
 * vs_retention_apply_local plans against a data directory's catalog and
 * deletes; vs_retention_apply_remote does the same on remote storage's
 * listing (remote.h), keeping the local CURRENT and pinned snapshots there
 * too.
 */
#ifndef VS_RETENTION_H
#define VS_RETENTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "remote.h"
#include "snapshot.h"

#define VS_RETENTION_REASONS_MAX 8
#define VS_RETENTION_REASON_LEN 64
/* Largest keep_within, in seconds (as the config file's durations). */
#define VS_RETENTION_WITHIN_MAX ((uint64_t)1 << 40)
/* Largest count a rule takes (exact in a JSON number). */
#define VS_RETENTION_COUNT_MAX ((uint64_t)1 << 53)
/* Room for a duration written by vs_retention_format_within. */
#define VS_RETENTION_WITHIN_LEN 32

/* 0: the rule is unset. */
typedef struct vs_retention_policy {
    uint64_t keep_last;
    uint64_t keep_within_s;
    uint64_t keep_daily;
    uint64_t keep_weekly;
} vs_retention_policy;

/* No rule set: the policy deletes nothing. */
bool vs_retention_policy_empty(const vs_retention_policy *pol);
/* {"keep_last","keep_within","keep_daily","keep_weekly"}: counts, and the
 * duration as text ("7d") or null when unset (new reference). */
json_t *vs_retention_policy_json(const vs_retention_policy *pol);

/* A duration: one or more <number><unit> parts, unit s, m (minutes), h,
 * d or w ("7d", "1d12h", "90s"), or a bare number of seconds; at most
 * VS_RETENTION_WITHIN_MAX seconds.  VS_EINVALID. */
int vs_retention_parse_within(uint64_t *out, const char *text) VS_WARN_UNUSED;
/* The shortest such text for `s` seconds, "0s" for 0 (room for
 * VS_RETENTION_WITHIN_LEN bytes). */
void vs_retention_format_within(char *out, size_t size, uint64_t s);

/* A snapshot in use: the plan keeps it with this reason. */
typedef struct vs_retention_pin {
    const char *id;
    const char *reason; /* "in use by restore" */
} vs_retention_pin;

/* The snapshots a policy covers.  The others are kept with `outside` as
 * their reason and count for no rule (they still pull in what they depend
 * on).  Auto-save's keep uses it for the snapshots named "autosave". */
typedef struct vs_retention_scope {
    bool (*match)(const vs_snapshot *s);
    const char *outside; /* "not an auto-save" */
} vs_retention_scope;

/* What a plan keeps besides the policy's choices.  All may be NULL / 0. */
typedef struct vs_retention_opts {
    const vs_retention_pin *pins;
    size_t npins;
    const vs_retention_scope *scope; /* NULL: every snapshot */
} vs_retention_opts;

/* One snapshot's fate.  A kept snapshot has 1..VS_RETENTION_REASONS_MAX
 * reasons (more are dropped); one planned for deletion has exactly one. */
typedef struct vs_retention_item {
    char id[VS_SNAPSHOT_ID_LEN + 1];
    int64_t created_ms;
    char parent[VS_SNAPSHOT_ID_LEN + 1]; /* as the snapshot's: "" or ids */
    char base[VS_SNAPSHOT_ID_LEN + 1];
    bool keep;
    size_t nreasons;
    char reasons[VS_RETENTION_REASONS_MAX][VS_RETENTION_REASON_LEN];
} vs_retention_item;

typedef struct vs_retention_plan_out {
    vs_retention_item *keep; /* newest first */
    size_t nkeep;
    vs_retention_item *del; /* in deletion order: dependents first */
    size_t ndelete;
} vs_retention_plan_out;

void vs_retention_plan_dispose(vs_retention_plan_out *p);

/* The plan for `snaps` (any order, ids distinct) under `pol`.  `now_ms`
 * only tells future snapshots apart for keep_within's reference.
 * `current_id` (NULL or "": none) is kept.  VS_ENOMEM. */
int vs_retention_plan(vs_retention_plan_out *out, const vs_snapshot *snaps,
                      size_t n, const vs_retention_policy *pol, int64_t now_ms,
                      const char *current_id,
                      const vs_retention_opts *opts) VS_WARN_UNUSED;

/* A planned deletion that did not happen. */
typedef struct vs_retention_skip {
    char id[VS_SNAPSHOT_ID_LEN + 1];
    int64_t created_ms;
    char reason[256];
} vs_retention_skip;

/* What an application of a policy did. */
typedef struct vs_retention_result {
    vs_retention_policy policy;
    bool dry_run;
    bool remote;
    vs_retention_plan_out plan;
    size_t deleted;
    /* Planned deletions that did not happen: a snapshot that became
     * CURRENT or in use meanwhile, one a snapshot that was not deleted
     * depends on, one already gone, an I/O error. */
    vs_retention_skip *skipped;
    size_t nskipped;
    bool failed; /* some deletion failed for another reason than those */
} vs_retention_result;

void vs_retention_result_dispose(vs_retention_result *r);
/* {"dry_run","remote","policy":{...},"keep":[{"id","created","reasons"}],
 * "delete":[{"id","created","reason"}],"deleted","skipped":[{"id",
 * "created","reason"}]} (new reference; NULL when out of memory). */
json_t *vs_retention_result_json(const vs_retention_result *r);

/* Plan against the catalog's snapshots now, keeping CURRENT and the
 * snapshots pinned in `ops` (vs_ops_pin), and, unless `dry_run`, delete
 * in the plan's order with vs_ops_delete_cascade (no cascade: a snapshot
 * that has dependents stays).  Deletions run under ops->save_mu, so that
 * no snapshot is written meanwhile: with `wait` the call waits for a
 * running snapshot, without it answers VS_EBUSY.  A deletion that does
 * not happen is reported in out->skipped, and so is everything it depends
 * on; the call still returns 0.  The figures of `ops` (retention_*) count
 * the runs that are not dry.  VS_EBUSY, VS_EIO (the catalog cannot be
 * listed), VS_ENOMEM. */
int vs_retention_apply_local(vs_retention_result *out, vs_ops *ops,
                             const vs_retention_policy *pol,
                             const vs_retention_scope *scope, bool dry_run,
                             bool wait) VS_WARN_UNUSED;

/* The same on remote storage: the plan is made over vs_remote_list and
 * keeps, besides, the CURRENT snapshot and the pinned ones of `ops` (may
 * be NULL) where the remote has them; deletions use vs_remote_delete
 * without cascade, so a snapshot that gained a dependent meanwhile stays
 * (skipped).  Counted in the figures of `ops` as a local run is.
 * VS_EUPSTREAM (the listing failed), VS_ENOMEM. */
int vs_retention_apply_remote(vs_retention_result *out, vs_remote *r,
                              vs_ops *ops, const vs_retention_policy *pol,
                              bool dry_run) VS_WARN_UNUSED;

/* The configured policy, applied after each snapshot. */
typedef struct vs_retention_hook {
    vs_retention_policy policy;
    vs_remote *remote; /* applied there too; NULL: locally only */
} vs_retention_hook;

/* vs_ops.after_snapshot with a vs_retention_hook as payload: applies the
 * policy to the catalog (waiting for a running snapshot), then to the
 * remote; logs what it deleted.  A failure is logged and counted in
 * /metrics, never reported to the snapshot. */
void vs_retention_after_snapshot(vs_ops *ops, const vs_snapshot *snap,
                                 void *hook);

#endif
