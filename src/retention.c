/*
 * retention: the retention plan (a pure function of a snapshot list, a
 * policy and what must stay) and its application to a data directory's
 * catalog (retention.h).
 *
 * The plan follows restic's ApplyPolicy: snapshots newest first; each rule
 * with a count is a bucket that remembers the last period it kept (the
 * snapshot's rank for keep_last, its UTC day, its ISO week) and keeps a
 * snapshot whose period differs, while its count lasts; the oldest
 * snapshot is kept too when a bucket still has room.  Then what must stay
 * (CURRENT, pins, what kept snapshots depend on) is added, and the
 * deletions are put in an order where every snapshot comes after those
 * that depend on it (Kahn's algorithm over parent and base links).
 *
 * The application lists the catalog, reads CURRENT and the pins, plans,
 * and deletes through vs_ops_delete_cascade without cascade, which checks
 * CURRENT, the pins and the dependents again in the same step as the
 * deletion.  A deletion that does not happen protects what that snapshot
 * depends on for the rest of the run.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "manifest.h"
#include "retention.h"

#define DAY_MS 86400000LL

/* ---- policy ------------------------------------------------------------- */

bool vs_retention_policy_empty(const vs_retention_policy *pol)
{
    return !pol || (pol->keep_last == 0 && pol->keep_within_s == 0 &&
                    pol->keep_daily == 0 && pol->keep_weekly == 0);
}

json_t *vs_retention_policy_json(const vs_retention_policy *pol)
{
    char within[VS_RETENTION_WITHIN_LEN];
    vs_retention_format_within(within, sizeof(within), pol->keep_within_s);
    return json_pack("{s:I,s:o,s:I,s:I}", "keep_last",
                     (json_int_t)pol->keep_last, "keep_within",
                     pol->keep_within_s ? json_string(within) : json_null(),
                     "keep_daily", (json_int_t)pol->keep_daily, "keep_weekly",
                     (json_int_t)pol->keep_weekly);
}

static uint64_t unit_seconds(char c)
{
    switch (c) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 604800;
    default:
        return 0;
    }
}

static int bad_duration(const char *text)
{
    return vs_error_set(VS_EINVALID,
                        "bad duration '%s': write it as a number with a "
                        "unit s, m, h, d or w (\"7d\", \"1d12h\", \"90s\")",
                        text ? text : "");
}

static int big_duration(const char *text)
{
    return vs_error_set(VS_EINVALID, "duration '%s' is above %llu s", text,
                        (unsigned long long)VS_RETENTION_WITHIN_MAX);
}

int vs_retention_parse_within(uint64_t *out, const char *text)
{
    *out = 0;
    uint64_t total = 0;
    if (!text || !*text)
        return bad_duration(text);
    for (const char *p = text; *p;) {
        uint64_t v = 0;
        const char *start = p;
        for (; *p >= '0' && *p <= '9'; p++) {
            v = v * 10 + (uint64_t)(*p - '0');
            if (v > VS_RETENTION_WITHIN_MAX)
                return big_duration(text);
        }
        if (p == start)
            return bad_duration(text);
        uint64_t unit = 1;
        if (*p)
            unit = unit_seconds(*p++);
        else if (start != text)
            unit = 0; /* "1d30": a bare number only alone */
        if (unit == 0)
            return bad_duration(text);
        if (v > (VS_RETENTION_WITHIN_MAX - total) / unit)
            return big_duration(text);
        total += v * unit;
    }
    *out = total;
    return 0;
}

void vs_retention_format_within(char *out, size_t size, uint64_t s)
{
    static const char units[] = "dhms";
    static const uint64_t secs[] = {86400, 3600, 60, 1};
    size_t len = 0;
    if (size == 0)
        return;
    out[0] = '\0';
    if (s == 0) {
        snprintf(out, size, "0s");
        return;
    }
    for (size_t i = 0; i < 4 && len < size; i++) {
        uint64_t v = s / secs[i];
        if (v == 0)
            continue;
        s -= v * secs[i];
        int w = snprintf(out + len, size - len, "%llu%c", (unsigned long long)v,
                         units[i]);
        if (w < 0)
            return;
        len += (size_t)w;
    }
}

/* ---- calendar ----------------------------------------------------------- */

enum { RULE_LAST, RULE_DAILY, RULE_WEEKLY, NRULES };

static int64_t day_of(int64_t ms)
{
    int64_t d = ms / DAY_MS;
    return ms % DAY_MS < 0 ? d - 1 : d;
}

/* The period of `ms` for a daily or weekly rule: a key that differs
 * between periods and their name ("2026-11-24", "2026-W48"). */
static int64_t period_of(int rule, int64_t ms, char *label, size_t size)
{
    int64_t day = day_of(ms);
    struct tm tm;
    if (rule == RULE_WEEKLY) {
        /* Monday is 0; 1970-01-01 (day 0) was a Thursday.  The week's
         * Thursday names its ISO year. */
        int64_t weekday = ((day % 7) + 7 + 3) % 7;
        int64_t thursday = day - weekday + 3;
        time_t t = (time_t)(thursday * 86400);
        if (!gmtime_r(&t, &tm)) {
            snprintf(label, size, "week %lld", (long long)(thursday / 7));
            return thursday;
        }
        snprintf(label, size, "%04d-W%02d", tm.tm_year + 1900,
                 tm.tm_yday / 7 + 1);
        return thursday;
    }
    time_t t = (time_t)(day * 86400);
    if (!gmtime_r(&t, &tm))
        snprintf(label, size, "day %lld", (long long)day);
    else
        snprintf(label, size, "%04d-%02d-%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
    return day;
}

/* ---- the plan ----------------------------------------------------------- */

/* A snapshot while planning; the array is sorted newest first. */
typedef struct work {
    const vs_snapshot *s;
    ptrdiff_t parent, base; /* indexes, -1: none or not listed */
    bool in_scope, dep_reason, emitted;
    size_t pending; /* planned deletions that depend on it, not yet put */
} work;

typedef struct idref {
    const char *id;
    size_t index;
} idref;

static int newest_first(const void *a, const void *b)
{
    const vs_snapshot *x = ((const work *)a)->s, *y = ((const work *)b)->s;
    if (x->created_ms != y->created_ms)
        return x->created_ms > y->created_ms ? -1 : 1;
    return -strcmp(x->id, y->id);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const idref *)a)->id, ((const idref *)b)->id);
}

static int find_id(const void *key, const void *elem)
{
    return strcmp(key, ((const idref *)elem)->id);
}

static ptrdiff_t lookup(const idref *ids, size_t n, const char *id)
{
    if (!id[0] || n == 0)
        return -1;
    const idref *r = bsearch(id, ids, n, sizeof(*ids), find_id);
    return r ? (ptrdiff_t)r->index : -1;
}

/* Keep `it` for one more reason (an identical one is not repeated; past
 * VS_RETENTION_REASONS_MAX they are dropped). */
static void keep_for(vs_retention_item *it, const char *fmt, ...)
    VS_FMT_PRINTF(2, 3);
static void keep_for(vs_retention_item *it, const char *fmt, ...)
{
    char r[VS_RETENTION_REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r, sizeof(r), fmt, ap);
    va_end(ap);
    it->keep = true;
    for (size_t i = 0; i < it->nreasons; i++)
        if (strcmp(it->reasons[i], r) == 0)
            return;
    if (it->nreasons < VS_RETENTION_REASONS_MAX)
        memcpy(it->reasons[it->nreasons++], r, sizeof(r));
}

typedef struct bucket {
    uint64_t count; /* what is left */
    int64_t last;
    bool has_last;
} bucket;

/* The policy's rules over the snapshots in scope, newest first. */
static void apply_rules(const work *w, vs_retention_item *items, size_t n,
                        const vs_retention_policy *pol, int64_t now_ms)
{
    static const char *const names[NRULES] = {"last", "daily", "weekly"};
    bucket b[NRULES] = {{pol->keep_last, 0, false},
                        {pol->keep_daily, 0, false},
                        {pol->keep_weekly, 0, false}};
    size_t nscope = 0;
    int64_t latest = now_ms;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].in_scope)
            continue;
        nscope++;
        /* The newest snapshot that is not in the future (restic's). */
        if (!found && w[i].s->created_ms <= now_ms) {
            latest = w[i].s->created_ms;
            found = true;
        }
    }
    char within[VS_RETENTION_WITHIN_LEN];
    vs_retention_format_within(within, sizeof(within), pol->keep_within_s);
    int64_t since = latest - (int64_t)pol->keep_within_s * 1000;
    size_t rank = 0;
    for (size_t i = 0; i < n; i++) {
        if (!w[i].in_scope)
            continue;
        vs_retention_item *it = &items[i];
        int64_t t = w[i].s->created_ms;
        bool oldest = rank == nscope - 1;
        if (pol->keep_within_s && t > since)
            keep_for(it, "within %s", within);
        for (int r = 0; r < NRULES; r++) {
            char label[32] = "";
            if (b[r].count == 0)
                continue;
            int64_t key = r == RULE_LAST
                              ? (int64_t)rank
                              : period_of(r, t, label, sizeof(label));
            bool same = b[r].has_last && key == b[r].last;
            if (same && !oldest)
                continue;
            if (r == RULE_LAST)
                keep_for(it, "last");
            else
                keep_for(it, "%s%s %s", same ? "oldest " : "", names[r], label);
            b[r].last = key;
            b[r].has_last = true;
            b[r].count--;
        }
        rank++;
    }
}

/* Keep what kept snapshots depend on, transitively. */
static void keep_dependencies(work *w, vs_retention_item *items, size_t n,
                              size_t *stack)
{
    size_t top = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].keep)
            stack[top++] = i;
    while (top > 0) {
        size_t i = stack[--top];
        ptrdiff_t deps[2] = {w[i].parent, w[i].base};
        for (int k = 0; k < 2; k++) {
            ptrdiff_t d = deps[k];
            if (d < 0 || (k == 1 && d == w[i].parent))
                continue;
            if (!items[d].keep)
                stack[top++] = (size_t)d; /* at most once: kept now */
            if (!w[d].dep_reason || !items[d].keep) {
                keep_for(&items[d], "%s of %s", k == 0 ? "parent" : "base",
                         items[i].id);
                w[d].dep_reason = true;
            }
        }
    }
}

/* The planned deletions, dependents first; newest first where free. */
static void order_deletions(vs_retention_plan_out *out, work *w,
                            const vs_retention_item *items, size_t n,
                            size_t *queue)
{
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].keep)
            continue;
        if (w[i].parent >= 0 && !items[w[i].parent].keep)
            w[w[i].parent].pending++;
        if (w[i].base >= 0 && w[i].base != w[i].parent &&
            !items[w[i].base].keep)
            w[w[i].base].pending++;
    }
    for (size_t i = 0; i < n; i++)
        if (!items[i].keep && w[i].pending == 0)
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        out->del[out->ndelete++] = items[i];
        w[i].emitted = true;
        ptrdiff_t deps[2] = {w[i].parent,
                             w[i].base != w[i].parent ? w[i].base : -1};
        for (int k = 0; k < 2; k++)
            if (deps[k] >= 0 && !items[deps[k]].keep &&
                --w[deps[k]].pending == 0)
                queue[tail++] = (size_t)deps[k];
    }
    /* Only a cycle of links (which no catalog writes) is left. */
    for (size_t i = 0; i < n; i++)
        if (!items[i].keep && !w[i].emitted)
            out->del[out->ndelete++] = items[i];
}

void vs_retention_plan_dispose(vs_retention_plan_out *p)
{
    if (!p)
        return;
    free(p->keep);
    free(p->del);
    memset(p, 0, sizeof(*p));
}

static bool in_scope(const vs_retention_opts *opts, const vs_snapshot *s)
{
    return !opts || !opts->scope || !opts->scope->match ||
           opts->scope->match(s);
}

int vs_retention_plan(vs_retention_plan_out *out, const vs_snapshot *snaps,
                      size_t n, const vs_retention_policy *pol, int64_t now_ms,
                      const char *current_id, const vs_retention_opts *opts)
{
    memset(out, 0, sizeof(*out));
    int error = 0;
    size_t cap = n ? n : 1;
    work *w = calloc(cap, sizeof(*w));
    idref *ids = calloc(cap, sizeof(*ids));
    size_t *scratch = calloc(cap, sizeof(*scratch));
    vs_retention_item *items = calloc(cap, sizeof(*items));
    out->keep = calloc(cap, sizeof(*out->keep));
    out->del = calloc(cap, sizeof(*out->del));
    if (!w || !ids || !scratch || !items || !out->keep || !out->del) {
        error = vs_error_oom();
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        w[i].s = &snaps[i];
    qsort(w, n, sizeof(*w), newest_first);
    for (size_t i = 0; i < n; i++) {
        ids[i].id = w[i].s->id;
        ids[i].index = i;
    }
    qsort(ids, n, sizeof(*ids), by_id);
    for (size_t i = 0; i < n; i++) {
        const vs_snapshot *s = w[i].s;
        vs_retention_item *it = &items[i];
        snprintf(it->id, sizeof(it->id), "%s", s->id);
        snprintf(it->parent, sizeof(it->parent), "%s", s->parent);
        snprintf(it->base, sizeof(it->base), "%s", s->base);
        it->created_ms = s->created_ms;
        w[i].parent = lookup(ids, n, s->parent);
        w[i].base = lookup(ids, n, s->base);
        w[i].in_scope = in_scope(opts, s);
        if (current_id && strcmp(s->id, current_id) == 0)
            keep_for(it, "current");
        for (size_t k = 0; opts && k < opts->npins; k++)
            if (opts->pins[k].id && strcmp(opts->pins[k].id, s->id) == 0)
                keep_for(it, "%s",
                         opts->pins[k].reason ? opts->pins[k].reason
                                              : "in use");
        if (!w[i].in_scope)
            keep_for(it, "%s",
                     opts->scope->outside ? opts->scope->outside
                                          : "outside the policy's scope");
        else if (vs_retention_policy_empty(pol))
            keep_for(it, "no rule set");
    }
    if (!vs_retention_policy_empty(pol))
        apply_rules(w, items, n, pol, now_ms);
    keep_dependencies(w, items, n, scratch);
    for (size_t i = 0; i < n; i++) {
        if (items[i].keep) {
            out->keep[out->nkeep++] = items[i];
        } else {
            items[i].nreasons = 1;
            snprintf(items[i].reasons[0], sizeof(items[i].reasons[0]),
                     "matches no keep rule");
        }
    }
    order_deletions(out, w, items, n, scratch);
done:
    free(w);
    free(ids);
    free(scratch);
    free(items);
    if (error < 0)
        vs_retention_plan_dispose(out);
    return error;
}

/* ---- results ------------------------------------------------------------ */

void vs_retention_result_dispose(vs_retention_result *r)
{
    if (!r)
        return;
    vs_retention_plan_dispose(&r->plan);
    free(r->skipped);
    memset(r, 0, sizeof(*r));
}

static json_t *time_json(int64_t ms)
{
    char when[VS_MANIFEST_TIME_LEN + 1];
    if (vs_manifest_time_format(when, ms) < 0) {
        vs_error_clear();
        return json_null();
    }
    return json_string(when);
}

static json_t *item_json(const vs_retention_item *it)
{
    json_t *reasons = json_array();
    for (size_t i = 0; reasons && i < it->nreasons; i++)
        if (json_array_append_new(reasons, json_string(it->reasons[i])) < 0) {
            json_decref(reasons);
            return NULL;
        }
    if (!reasons)
        return NULL;
    if (!it->keep) {
        json_t *j = json_pack("{s:s,s:o,s:O}", "id", it->id, "created",
                              time_json(it->created_ms), "reason",
                              json_array_get(reasons, 0));
        json_decref(reasons);
        return j;
    }
    return json_pack("{s:s,s:o,s:o}", "id", it->id, "created",
                     time_json(it->created_ms), "reasons", reasons);
}

/* Append to array `a` (NULL on failure, freeing it). */
static json_t *append(json_t *a, json_t *v)
{
    if (!a || !v || json_array_append_new(a, v) < 0) {
        json_decref(a);
        if (!a)
            json_decref(v);
        return NULL;
    }
    return a;
}

json_t *vs_retention_result_json(const vs_retention_result *r)
{
    json_t *keep = json_array(), *del = json_array(), *skip = json_array();
    for (size_t i = 0; i < r->plan.nkeep; i++)
        keep = append(keep, item_json(&r->plan.keep[i]));
    for (size_t i = 0; i < r->plan.ndelete; i++)
        del = append(del, item_json(&r->plan.del[i]));
    for (size_t i = 0; i < r->nskipped; i++) {
        const vs_retention_skip *s = &r->skipped[i];
        skip = append(skip,
                      json_pack("{s:s,s:o,s:s}", "id", s->id, "created",
                                time_json(s->created_ms), "reason", s->reason));
    }
    if (!keep || !del || !skip) {
        json_decref(keep);
        json_decref(del);
        json_decref(skip);
        return NULL;
    }
    return json_pack(
        "{s:b,s:b,s:o,s:o,s:o,s:I,s:o}", "dry_run", r->dry_run, "remote",
        r->remote, "policy", vs_retention_policy_json(&r->policy), "keep", keep,
        "delete", del, "deleted", (json_int_t)r->deleted, "skipped", skip);
}

/* ---- applying it ------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Snapshots a deletion that did not happen keeps, and why. */
typedef struct blocked {
    char id[VS_SNAPSHOT_ID_LEN + 1];
    char by[VS_SNAPSHOT_ID_LEN + 1];
} blocked;

static const blocked *find_blocked(const blocked *b, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(b[i].id, id) == 0)
            return &b[i];
    return NULL;
}

/* Record that `it` was not deleted: why, and its dependencies stay. */
static void skip(vs_retention_result *out, blocked *b, size_t *nb,
                 const vs_retention_item *it, const char *why)
{
    vs_retention_skip *s = &out->skipped[out->nskipped++];
    snprintf(s->id, sizeof(s->id), "%s", it->id);
    s->created_ms = it->created_ms;
    snprintf(s->reason, sizeof(s->reason), "%s", why);
    const char *deps[2] = {it->parent, it->base};
    for (int k = 0; k < 2; k++) {
        if (!deps[k][0] || find_blocked(b, *nb, deps[k]))
            continue;
        snprintf(b[*nb].id, sizeof(b[*nb].id), "%s", deps[k]);
        snprintf(b[*nb].by, sizeof(b[*nb].by), "%s", it->id);
        (*nb)++;
    }
}

/* Where the deletions go: the local catalog or remote storage. */
typedef struct target {
    vs_ops *ops;       /* local, and the figures */
    vs_remote *remote; /* NULL: local */
} target;

static int delete_one(const target *t, const char *id)
{
    return t->remote ? vs_remote_delete(t->remote, id, false)
                     : vs_ops_delete_cascade(NULL, NULL, t->ops, id, false);
}

/* Delete what the plan says, in its order. */
static int delete_planned(vs_retention_result *out, const target *t)
{
    size_t n = out->plan.ndelete, nb = 0;
    const char *where = t->remote ? "remote " : "";
    if (n == 0)
        return 0;
    out->skipped = calloc(n, sizeof(*out->skipped));
    blocked *b = calloc(2 * n, sizeof(*b));
    if (!out->skipped || !b) {
        free(b);
        return vs_error_oom();
    }
    for (size_t i = 0; i < n; i++) {
        const vs_retention_item *it = &out->plan.del[i];
        const blocked *by = find_blocked(b, nb, it->id);
        char why[256];
        if (by) {
            snprintf(why, sizeof(why),
                     "snapshot %s depends on it and was not deleted", by->by);
            skip(out, b, &nb, it, why);
            continue;
        }
        int error = delete_one(t, it->id);
        if (error == 0) {
            out->deleted++;
            vs_log(VS_LOG_INFO, "retention: deleted %ssnapshot %s (%s)", where,
                   it->id, it->reasons[0]);
            continue;
        }
        snprintf(why, sizeof(why), "%s",
                 error == VS_ENOTFOUND ? "already deleted" : vs_error_last());
        if (error != VS_ENOTFOUND && error != VS_EBUSY)
            out->failed = true;
        vs_log(error == VS_ENOTFOUND ? VS_LOG_INFO : VS_LOG_WARN,
               "retention: %ssnapshot %s not deleted: %s", where, it->id, why);
        vs_error_clear();
        skip(out, b, &nb, it, why);
    }
    free(b);
    return 0;
}

/* What a plan keeps besides the rules: CURRENT and the pins of `ops`. */
typedef struct keepers {
    char current[VS_SNAPSHOT_ID_LEN + 1];
    vs_ops_pin_info *info;
    vs_retention_pin *pins;
    char (*reasons)[VS_RETENTION_REASON_LEN];
    size_t npins;
} keepers;

static void keepers_dispose(keepers *k)
{
    free(k->info);
    free(k->pins);
    free(k->reasons);
    memset(k, 0, sizeof(*k));
}

static int keepers_read(keepers *k, vs_ops *ops)
{
    memset(k, 0, sizeof(*k));
    if (!ops)
        return 0;
    int error = vs_catalog_current(k->current, ops->catalog);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        k->current[0] = '\0';
        error = 0;
    }
    if (!error)
        error = vs_ops_pins(&k->info, &k->npins, ops);
    if (error < 0 || k->npins == 0)
        return error;
    k->pins = calloc(k->npins, sizeof(*k->pins));
    k->reasons = calloc(k->npins, sizeof(*k->reasons));
    if (!k->pins || !k->reasons)
        return vs_error_oom();
    for (size_t i = 0; i < k->npins; i++) {
        snprintf(k->reasons[i], sizeof(k->reasons[i]), "in use by %s",
                 k->info[i].what);
        k->pins[i].id = k->info[i].id;
        k->pins[i].reason = k->reasons[i];
    }
    return 0;
}

/* List, plan and (unless dry) delete, at the target. */
static int apply(vs_retention_result *out, const target *t,
                 const vs_retention_policy *pol,
                 const vs_retention_scope *scope, bool dry_run)
{
    vs_snapshot *list = NULL;
    size_t n = 0;
    keepers k;
    int error = t->remote ? vs_remote_list(&list, &n, t->remote)
                          : vs_catalog_list(&list, &n, t->ops->catalog);
    if (!error)
        error = keepers_read(&k, t->ops);
    else
        memset(&k, 0, sizeof(k));
    if (!error) {
        vs_retention_opts opts = {k.pins, k.npins, scope};
        error = vs_retention_plan(&out->plan, list, n, pol, wall_ms(),
                                  k.current, &opts);
    }
    if (!error && !dry_run)
        error = delete_planned(out, t);
    keepers_dispose(&k);
    vs_snapshot_list_free(list, n);
    return error;
}

/* The figures, and a clean result after a failure. */
static int finish(vs_retention_result *out, const target *t,
                  const vs_retention_policy *pol, int error)
{
    if (!out->dry_run && t->ops) {
        atomic_fetch_add(error < 0 || out->failed ? &t->ops->retention_failed
                                                  : &t->ops->retention_ok,
                         1);
        atomic_fetch_add(&t->ops->retention_deleted, out->deleted);
    }
    if (error < 0) {
        bool dry = out->dry_run, remote = out->remote;
        vs_retention_result_dispose(out);
        out->policy = *pol;
        out->dry_run = dry;
        out->remote = remote;
    }
    return error;
}

int vs_retention_apply_local(vs_retention_result *out, vs_ops *ops,
                             const vs_retention_policy *pol,
                             const vs_retention_scope *scope, bool dry_run,
                             bool wait)
{
    memset(out, 0, sizeof(*out));
    out->policy = *pol;
    out->dry_run = dry_run;
    target t = {ops, NULL};
    if (!dry_run) {
        if (wait)
            pthread_mutex_lock(&ops->save_mu);
        else if (pthread_mutex_trylock(&ops->save_mu) != 0)
            return vs_error_set(VS_EBUSY, "a snapshot is being written; apply "
                                          "retention when it has finished");
    }
    int error = apply(out, &t, pol, scope, dry_run);
    if (!dry_run)
        pthread_mutex_unlock(&ops->save_mu);
    /* Archived log segments only the deleted snapshots needed go too. */
    if (!dry_run && out->deleted > 0 && vs_ops_wal_prune(ops) < 0) {
        vs_log(VS_LOG_WARN, "wal: cannot prune the archive: %s",
               vs_error_last());
        vs_error_clear();
    }
    return finish(out, &t, pol, error);
}

int vs_retention_apply_remote(vs_retention_result *out, vs_remote *r,
                              vs_ops *ops, const vs_retention_policy *pol,
                              bool dry_run)
{
    memset(out, 0, sizeof(*out));
    out->policy = *pol;
    out->dry_run = dry_run;
    out->remote = true;
    target t = {ops, r};
    int error = apply(out, &t, pol, NULL, dry_run);
    return finish(out, &t, pol, error);
}

/* Log what an automatic run did. */
static void report(const vs_retention_result *r, const vs_snapshot *snap,
                   int error)
{
    const char *where = r->remote ? " (remote)" : "";
    if (error < 0) {
        vs_log(VS_LOG_WARN, "retention after snapshot %s failed%s: %s",
               snap->id, where, vs_error_last());
        vs_error_clear();
    } else if (r->deleted > 0 || r->nskipped > 0) {
        vs_log(r->failed ? VS_LOG_WARN : VS_LOG_INFO,
               "retention after snapshot %s%s: %zu kept, %zu deleted, %zu "
               "not deleted",
               snap->id, where, r->plan.nkeep, r->deleted, r->nskipped);
    }
}

void vs_retention_after_snapshot(vs_ops *ops, const vs_snapshot *snap,
                                 void *hook)
{
    const vs_retention_hook *h = hook;
    if (!h || vs_retention_policy_empty(&h->policy))
        return;
    vs_retention_result r;
    int error =
        vs_retention_apply_local(&r, ops, &h->policy, NULL, false, true);
    report(&r, snap, error);
    vs_retention_result_dispose(&r);
    if (!h->remote)
        return;
    error = vs_retention_apply_remote(&r, h->remote, ops, &h->policy, false);
    report(&r, snap, error);
    vs_retention_result_dispose(&r);
}
