/*
 * test_retention: the retention plan (retention.c) against restic's own
 * test snapshots and policies (keep-last, -daily, -weekly, -within, the
 * "oldest" rule), the calendar edges (UTC days, ISO weeks across years),
 * keep_within's reference (the newest snapshot that is not in the
 * future), CURRENT, pins, scopes, incremental chains (parents and bases
 * kept, deletions dependents first), durations; then the application to
 * a real catalog: dry runs delete nothing, a busy catalog answers
 * VS_EBUSY, pinned and CURRENT snapshots stay, a deletion that fails is
 * reported and counted, the after-snapshot hook and auto-save's keep.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "autosave.h"
#include "manifest.h"
#include "ops.h"
#include "retention.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

/* "2014-09-01 10:20:30" or with a fraction "…30.1", UTC, as Unix ms. */
static int64_t at(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    ck_assert_int_eq(
        sscanf(text, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &s), 6);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    int64_t ms = (int64_t)timegm(&tm) * 1000;
    const char *frac = strchr(text, '.');
    if (frac) {
        int64_t scale = 100;
        for (const char *p = frac + 1; *p && scale > 0; p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    return ms;
}

typedef struct list {
    vs_snapshot v[256];
    size_t n;
} list;

/* Append a full snapshot made at `when`; its index. */
static size_t add(list *l, const char *when)
{
    ck_assert_uint_lt(l->n, 256);
    vs_snapshot *s = &l->v[l->n];
    memset(s, 0, sizeof(*s));
    s->created_ms = at(when);
    uint8_t rnd[3] = {(uint8_t)(l->n >> 16), (uint8_t)(l->n >> 8),
                      (uint8_t)l->n};
    ck_assert_int_eq(vs_manifest_make_id(s->id, s->created_ms, rnd), 0);
    snprintf(s->kind, sizeof(s->kind), "full");
    snprintf(s->origin, sizeof(s->origin), "save");
    return l->n++;
}

/* Append an incremental snapshot on `parent` whose chain starts at
 * `base` (indexes). */
static size_t add_incr(list *l, const char *when, size_t parent, size_t base)
{
    size_t i = add(l, when);
    snprintf(l->v[i].kind, sizeof(l->v[i].kind), "incremental");
    memcpy(l->v[i].parent, l->v[parent].id, sizeof(l->v[i].parent));
    memcpy(l->v[i].base, l->v[base].id, sizeof(l->v[i].base));
    return i;
}

static const vs_retention_item *find_keep(const vs_retention_plan_out *p,
                                          const char *id)
{
    for (size_t i = 0; i < p->nkeep; i++)
        if (strcmp(p->keep[i].id, id) == 0)
            return &p->keep[i];
    return NULL;
}

/* Position in the deletion order, -1 when not deleted. */
static int del_pos(const vs_retention_plan_out *p, const char *id)
{
    for (size_t i = 0; i < p->ndelete; i++)
        if (strcmp(p->del[i].id, id) == 0)
            return (int)i;
    return -1;
}

/* The reasons of a kept snapshot joined with ",", for messages. */
static const char *reasons(const vs_retention_item *it)
{
    static char buf[1024];
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; it && i < it->nreasons; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                                i ? "," : "", it->reasons[i]);
    return it ? buf : "(not kept)";
}

static void plan(vs_retention_plan_out *p, const list *l,
                 vs_retention_policy pol, const char *current)
{
    int error = vs_retention_plan(p, l->v, l->n, &pol, at("2030-01-01 0:0:0"),
                                  current, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    ck_assert_uint_eq(p->nkeep + p->ndelete, l->n);
}

/* The kept snapshots are exactly those made at `times` (newest first, as
 * the plan lists them), each with its reasons ("a,b"; NULL: not
 * checked). */
typedef struct expect {
    const char *when;
    const char *why;
} expect;

static void check_keep(const vs_retention_plan_out *p, const expect *e,
                       size_t n)
{
    ck_assert_msg(p->nkeep == n, "kept %zu, want %zu", p->nkeep, n);
    for (size_t i = 0; i < n; i++) {
        const vs_retention_item *it = &p->keep[i];
        ck_assert_msg(it->created_ms == at(e[i].when), "kept #%zu is not %s", i,
                      e[i].when);
        if (e[i].why)
            ck_assert_msg(strcmp(reasons(it), e[i].why) == 0,
                          "%s kept for '%s', want '%s'", e[i].when, reasons(it),
                          e[i].why);
    }
}

/* restic's test snapshots (internal/data/snapshot_policy_test.go). */
static const char *const restic_times[] = {
    "2014-09-01 10:20:30",   "2014-09-02 10:20:30",   "2014-09-05 10:20:30",
    "2014-09-06 10:20:30",   "2014-09-08 10:20:30",   "2014-09-09 10:20:30",
    "2014-09-10 10:20:30",   "2014-09-11 10:20:30",   "2014-09-20 10:20:30",
    "2014-09-22 10:20:30",   "2014-08-08 10:20:30",   "2014-08-10 10:20:30",
    "2014-08-12 10:20:30",   "2014-08-13 10:20:30",   "2014-08-13 10:20:30.1",
    "2014-08-15 10:20:30",   "2014-08-18 10:20:30",   "2014-08-20 10:20:30",
    "2014-08-21 10:20:30",   "2014-08-22 10:20:30",   "2014-10-01 10:20:30",
    "2014-10-02 10:20:30",   "2014-10-05 10:20:30",   "2014-10-06 10:20:30",
    "2014-10-08 10:20:30",   "2014-10-09 10:20:30",   "2014-10-10 10:20:30",
    "2014-10-11 10:20:30",   "2014-10-20 10:20:30",   "2014-10-22 10:20:30",
    "2014-11-08 10:20:30",   "2014-11-10 10:20:30",   "2014-11-12 10:20:30",
    "2014-11-13 10:20:30",   "2014-11-13 10:20:30.1", "2014-11-15 10:20:30",
    "2014-11-18 10:20:30",   "2014-11-20 10:20:30",   "2014-11-21 10:20:30",
    "2014-11-22 10:20:30",   "2015-09-01 10:20:30",   "2015-09-02 10:20:30",
    "2015-09-05 10:20:30",   "2015-09-06 10:20:30",   "2015-09-08 10:20:30",
    "2015-09-09 10:20:30",   "2015-09-10 10:20:30",   "2015-09-11 10:20:30",
    "2015-09-20 10:20:30",   "2015-09-22 10:20:30",   "2015-08-08 10:20:30",
    "2015-08-10 10:20:30",   "2015-08-12 10:20:30",   "2015-08-13 10:20:30",
    "2015-08-13 10:20:30.1", "2015-08-15 10:20:30",   "2015-08-18 10:20:30",
    "2015-08-20 10:20:30",   "2015-08-21 10:20:30",   "2015-08-22 10:20:30",
    "2015-10-01 10:20:30",   "2015-10-02 10:20:30",   "2015-10-05 10:20:30",
    "2015-10-06 10:20:30",   "2015-10-08 10:20:30",   "2015-10-09 10:20:30",
    "2015-10-10 10:20:30",   "2015-10-11 10:20:30",   "2015-10-20 10:20:30",
    "2015-10-22 10:20:30",   "2015-10-22 10:20:30",   "2015-10-22 10:20:30",
    "2015-10-22 10:20:30",   "2015-10-22 10:20:30",   "2015-11-08 10:20:30",
    "2015-11-10 10:20:30",   "2015-11-12 10:20:30",   "2015-11-13 10:20:30",
    "2015-11-13 10:20:30.1", "2015-11-15 10:20:30",   "2015-11-18 10:20:30",
    "2015-11-20 10:20:30",   "2015-11-21 10:20:30",   "2015-11-22 10:20:30",
    "2016-01-01 01:02:03",   "2016-01-01 01:03:03",   "2016-01-01 07:08:03",
    "2016-01-03 07:02:03",   "2016-01-04 10:23:03",   "2016-01-04 11:23:03",
    "2016-01-04 12:23:03",   "2016-01-04 12:24:03",   "2016-01-04 12:28:03",
    "2016-01-04 12:30:03",   "2016-01-04 16:23:03",   "2016-01-05 09:02:03",
    "2016-01-06 08:02:03",   "2016-01-07 10:02:03",   "2016-01-08 20:02:03",
    "2016-01-09 21:02:03",   "2016-01-12 21:02:03",   "2016-01-12 21:08:03",
    "2016-01-18 12:02:03",
};
#define NRESTIC (sizeof(restic_times) / sizeof(*restic_times))

static void restic_list(list *l)
{
    l->n = 0;
    for (size_t i = 0; i < NRESTIC; i++)
        add(l, restic_times[i]);
}

static list L; /* one test at a time uses it */

#define CHECK_KEEP(p, e) check_keep(p, e, sizeof(e) / sizeof(*e))

/* ---- restic's policies ----------------------------------------------------
 */

START_TEST(no_rule_keeps_everything)
{
    vs_retention_plan_out p;
    restic_list(&L);
    vs_retention_policy none = {0, 0, 0, 0};
    ck_assert(vs_retention_policy_empty(&none));
    plan(&p, &L, none, NULL);
    ck_assert_uint_eq(p.nkeep, NRESTIC);
    ck_assert_uint_eq(p.ndelete, 0);
    ck_assert_str_eq(reasons(&p.keep[0]), "no rule set");
    vs_retention_plan_dispose(&p);

    /* An empty list, with and without rules. */
    L.n = 0;
    vs_retention_policy last = {3, 0, 0, 0};
    plan(&p, &L, last, NULL);
    ck_assert_uint_eq(p.nkeep + p.ndelete, 0);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(keep_last_keeps_the_newest)
{
    static const expect e[] = {
        {"2016-01-18 12:02:03", "last"}, {"2016-01-12 21:08:03", "last"},
        {"2016-01-12 21:02:03", "last"}, {"2016-01-09 21:02:03", "last"},
        {"2016-01-08 20:02:03", "last"}, {"2016-01-07 10:02:03", "last"},
        {"2016-01-06 08:02:03", "last"}, {"2016-01-05 09:02:03", "last"},
        {"2016-01-04 16:23:03", "last"}, {"2016-01-04 12:30:03", "last"},
    };
    vs_retention_plan_out p;
    restic_list(&L);
    plan(&p, &L, (vs_retention_policy){10, 0, 0, 0}, NULL);
    CHECK_KEEP(&p, e);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){200, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, NRESTIC);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(keep_daily_keeps_the_newest_of_each_day)
{
    /* restic's golden file for Daily: 10. */
    static const expect e10[] = {
        {"2016-01-18 12:02:03", "daily 2016-01-18"},
        {"2016-01-12 21:08:03", "daily 2016-01-12"},
        {"2016-01-09 21:02:03", "daily 2016-01-09"},
        {"2016-01-08 20:02:03", "daily 2016-01-08"},
        {"2016-01-07 10:02:03", "daily 2016-01-07"},
        {"2016-01-06 08:02:03", "daily 2016-01-06"},
        {"2016-01-05 09:02:03", "daily 2016-01-05"},
        {"2016-01-04 16:23:03", "daily 2016-01-04"},
        {"2016-01-03 07:02:03", "daily 2016-01-03"},
        {"2016-01-01 07:08:03", "daily 2016-01-01"},
    };
    static const expect e3[] = {
        {"2016-01-18 12:02:03", "daily 2016-01-18"},
        {"2016-01-12 21:08:03", "daily 2016-01-12"},
        {"2016-01-09 21:02:03", "daily 2016-01-09"},
    };
    vs_retention_plan_out p;
    restic_list(&L);
    plan(&p, &L, (vs_retention_policy){0, 0, 10, 0}, NULL);
    CHECK_KEEP(&p, e10);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 3, 0}, NULL);
    CHECK_KEEP(&p, e3);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 30, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 30);
    ck_assert_int_eq(p.keep[29].created_ms, at("2015-09-22 10:20:30"));
    ck_assert_str_eq(reasons(&p.keep[29]), "daily 2015-09-22");
    vs_retention_plan_dispose(&p);
    /* More days asked for than there are: one per day (86), and no
     * "oldest" one: the oldest snapshot is alone on its day. */
    plan(&p, &L, (vs_retention_policy){0, 0, 200, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 86);
    ck_assert_str_eq(reasons(&p.keep[85]), "daily 2014-08-08");
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(keep_weekly_goes_by_iso_week)
{
    static const expect e4[] = {
        {"2016-01-18 12:02:03", "weekly 2016-W03"},
        {"2016-01-12 21:08:03", "weekly 2016-W02"},
        {"2016-01-09 21:02:03", "weekly 2016-W01"},
        {"2016-01-03 07:02:03", "weekly 2015-W53"},
    };
    vs_retention_plan_out p;
    restic_list(&L);
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 4}, NULL);
    CHECK_KEEP(&p, e4);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 2}, NULL);
    check_keep(&p, e4, 2);
    vs_retention_plan_dispose(&p);
    /* Every week (31), and the oldest snapshot besides the newest of its
     * week: 2014-08-08 (a Friday) and 2014-08-10 share 2014-W32. */
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 200}, NULL);
    ck_assert_uint_eq(p.nkeep, 31);
    ck_assert_int_eq(p.keep[29].created_ms, at("2014-08-10 10:20:30"));
    ck_assert_str_eq(reasons(&p.keep[29]), "weekly 2014-W32");
    ck_assert_int_eq(p.keep[30].created_ms, at("2014-08-08 10:20:30"));
    ck_assert_str_eq(reasons(&p.keep[30]), "oldest weekly 2014-W32");
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(rules_combine_and_every_reason_is_recorded)
{
    static const expect daily_weekly[] = {
        {"2016-01-18 12:02:03", "daily 2016-01-18,weekly 2016-W03"},
        {"2016-01-12 21:08:03", "daily 2016-01-12,weekly 2016-W02"},
        {"2016-01-09 21:02:03", "daily 2016-01-09,weekly 2016-W01"},
        {"2016-01-03 07:02:03", "weekly 2015-W53"},
    };
    static const expect last_daily[] = {
        {"2016-01-18 12:02:03", "last,daily 2016-01-18"},
        {"2016-01-12 21:08:03", "last,daily 2016-01-12"},
        {"2016-01-12 21:02:03", "last"},
        {"2016-01-09 21:02:03", "last,daily 2016-01-09"},
        {"2016-01-08 20:02:03", "last,daily 2016-01-08"},
        {"2016-01-07 10:02:03", "daily 2016-01-07"},
    };
    static const expect all[] = {
        {"2016-01-18 12:02:03", "within 2d,last,daily 2016-01-18,weekly "
                                "2016-W03"},
        {"2016-01-12 21:08:03", "daily 2016-01-12,weekly 2016-W02"},
    };
    vs_retention_plan_out p;
    restic_list(&L);
    plan(&p, &L, (vs_retention_policy){0, 0, 3, 4}, NULL);
    CHECK_KEEP(&p, daily_weekly);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){5, 0, 5, 0}, NULL);
    CHECK_KEEP(&p, last_daily);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){1, 2 * 86400, 2, 2}, NULL);
    CHECK_KEEP(&p, all);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(keep_within_counts_back_from_the_newest_snapshot)
{
    /* restic's golden file for Within: 7d. */
    static const expect e7[] = {
        {"2016-01-18 12:02:03", "within 7d"},
        {"2016-01-12 21:08:03", "within 7d"},
        {"2016-01-12 21:02:03", "within 7d"},
    };
    vs_retention_plan_out p;
    restic_list(&L);
    plan(&p, &L, (vs_retention_policy){0, 7 * 86400, 0, 0}, NULL);
    CHECK_KEEP(&p, e7);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 86400, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 1);
    vs_retention_plan_dispose(&p);
    /* 13d23h back from 2016-01-18 12:02:03 is 2016-01-04 13:02:03. */
    plan(&p, &L, (vs_retention_policy){0, 13 * 86400 + 23 * 3600, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 9);
    ck_assert_int_eq(p.keep[8].created_ms, at("2016-01-04 16:23:03"));
    ck_assert_str_eq(reasons(&p.keep[8]), "within 13d23h");
    vs_retention_plan_dispose(&p);

    /* Exactly D before the newest is out (restic: strictly after). */
    L.n = 0;
    add(&L, "2026-11-17 12:00:00");
    add(&L, "2026-11-17 12:00:00.001");
    add(&L, "2026-11-24 12:00:00");
    plan(&p, &L, (vs_retention_policy){0, 7 * 86400, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 2);
    ck_assert_int_eq(p.del[0].created_ms, at("2026-11-17 12:00:00"));
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(keep_within_ignores_snapshots_from_the_future)
{
    vs_retention_plan_out p;
    vs_retention_policy pol = {0, 2 * 86400, 0, 0};
    L.n = 0;
    add(&L, "2026-10-01 00:00:00");
    add(&L, "2026-11-20 00:00:00");
    add(&L, "2026-11-21 00:00:00");
    add(&L, "2026-12-31 00:00:00"); /* a clock that was wrong */
    /* The reference is 2026-11-21 (the newest not after "now"), not the
     * one from the future: 2026-11-20 stays. */
    int64_t now = at("2026-11-30 00:00:00");
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, now, NULL, NULL), 0);
    ck_assert_uint_eq(p.nkeep, 3);
    ck_assert_uint_eq(p.ndelete, 1);
    ck_assert_int_eq(p.del[0].created_ms, at("2026-10-01 00:00:00"));
    vs_retention_plan_dispose(&p);
    /* Everything in the future: the reference is now, all stay. */
    now = at("2026-01-01 00:00:00");
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, now, NULL, NULL), 0);
    ck_assert_uint_eq(p.nkeep, 4);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(the_oldest_snapshot_stays_while_a_bucket_has_room)
{
    vs_retention_plan_out p;
    L.n = 0;
    add(&L, "2026-11-23 08:00:00");
    add(&L, "2026-11-23 20:00:00");
    add(&L, "2026-11-24 09:00:00");
    add(&L, "2026-11-24 12:00:00");
    add(&L, "2026-11-24 18:00:00");
    static const expect e7[] = {
        {"2026-11-24 18:00:00", "daily 2026-11-24"},
        {"2026-11-23 20:00:00", "daily 2026-11-23"},
        {"2026-11-23 08:00:00", "oldest daily 2026-11-23"},
    };
    plan(&p, &L, (vs_retention_policy){0, 0, 7, 0}, NULL);
    CHECK_KEEP(&p, e7);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 3, 0}, NULL);
    CHECK_KEEP(&p, e7);
    vs_retention_plan_dispose(&p);
    /* No room left after two days: the oldest goes. */
    plan(&p, &L, (vs_retention_policy){0, 0, 2, 0}, NULL);
    check_keep(&p, e7, 2);
    vs_retention_plan_dispose(&p);
    /* All on one day, one daily asked for: just the newest. */
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 1}, NULL);
    ck_assert_uint_eq(p.nkeep, 1);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 5}, NULL);
    ck_assert_uint_eq(p.nkeep, 2);
    ck_assert_str_eq(reasons(&p.keep[1]), "oldest weekly 2026-W48");
    vs_retention_plan_dispose(&p);
    /* keep_last has no such rule: every snapshot is its own period. */
    plan(&p, &L, (vs_retention_policy){7, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 5);
    ck_assert_str_eq(reasons(&p.keep[4]), "last");
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(days_are_utc_and_weeks_iso_across_years)
{
    vs_retention_plan_out p;
    L.n = 0;
    add(&L, "2026-11-24 23:59:59.999");
    add(&L, "2026-11-25 00:00:00");
    plan(&p, &L, (vs_retention_policy){0, 0, 2, 0}, NULL);
    ck_assert_str_eq(reasons(&p.keep[0]), "daily 2026-11-25");
    ck_assert_str_eq(reasons(&p.keep[1]), "daily 2026-11-24");
    vs_retention_plan_dispose(&p);

    L.n = 0;
    add(&L, "2018-12-31 12:00:00"); /* Monday of 2019-W01 */
    add(&L, "2019-12-30 12:00:00"); /* Monday of 2020-W01 */
    add(&L, "2020-12-28 12:00:00"); /* 2020 has a week 53 */
    add(&L, "2021-01-03 12:00:00"); /* Sunday, still 2020-W53 */
    add(&L, "2021-01-04 12:00:00"); /* Monday of 2021-W01 */
    add(&L, "2024-02-29 12:00:00");
    static const expect e[] = {
        {"2024-02-29 12:00:00", "weekly 2024-W09"},
        {"2021-01-04 12:00:00", "weekly 2021-W01"},
        {"2021-01-03 12:00:00", "weekly 2020-W53"},
        {"2019-12-30 12:00:00", "weekly 2020-W01"},
        {"2018-12-31 12:00:00", "weekly 2019-W01"},
    };
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 10}, NULL);
    CHECK_KEEP(&p, e);
    ck_assert_uint_eq(p.ndelete, 1);
    ck_assert_int_eq(p.del[0].created_ms, at("2020-12-28 12:00:00"));
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 1, 0}, NULL);
    ck_assert_str_eq(reasons(&p.keep[0]), "daily 2024-02-29");
    vs_retention_plan_dispose(&p);
}
END_TEST

/* ---- what must stay ------------------------------------------------------ */

START_TEST(current_and_pinned_snapshots_stay)
{
    vs_retention_plan_out p;
    restic_list(&L);
    const char *oldest = L.v[10].id; /* 2014-08-08 */
    const char *third = L.v[101].id; /* 2016-01-12 21:02:03 */
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, oldest);
    ck_assert_uint_eq(p.nkeep, 2);
    ck_assert_str_eq(reasons(find_keep(&p, oldest)), "current");
    ck_assert_str_eq(reasons(&p.keep[0]), "last");
    vs_retention_plan_dispose(&p);

    vs_retention_pin pins[] = {{third, "in use by restore"},
                               {"20261124T220055.123Z-000000", "in use"}};
    vs_retention_opts opts = {pins, 2, NULL};
    vs_retention_policy pol = {1, 0, 0, 0};
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, 0, oldest, &opts),
                     0);
    ck_assert_uint_eq(p.nkeep, 3);
    ck_assert_str_eq(reasons(find_keep(&p, third)), "in use by restore");
    vs_retention_plan_dispose(&p);

    /* With no rule, CURRENT is one reason among others. */
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 0}, oldest);
    ck_assert_str_eq(reasons(find_keep(&p, oldest)), "current,no rule set");
    vs_retention_plan_dispose(&p);
}
END_TEST

static bool named_autosave(const vs_snapshot *s)
{
    return strcmp(s->name, "autosave") == 0;
}

START_TEST(a_scope_limits_what_the_rules_count)
{
    vs_retention_plan_out p;
    L.n = 0;
    for (int i = 0; i < 6; i++) {
        char when[32];
        snprintf(when, sizeof(when), "2026-11-2%d 12:00:00", i);
        size_t k = add(&L, when);
        if (i % 2 == 0)
            snprintf(L.v[k].name, sizeof(L.v[k].name), "autosave");
    }
    /* The newest (i = 5) is not an auto-save: it counts for nothing. */
    vs_retention_scope scope = {named_autosave, "not an auto-save"};
    vs_retention_opts opts = {NULL, 0, &scope};
    vs_retention_policy pol = {2, 0, 0, 0};
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, 0, NULL, &opts), 0);
    ck_assert_uint_eq(p.nkeep, 5);
    ck_assert_uint_eq(p.ndelete, 1);
    ck_assert_str_eq(p.del[0].id, L.v[0].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[5].id)), "not an auto-save");
    ck_assert_str_eq(reasons(find_keep(&p, L.v[4].id)), "last");
    ck_assert_str_eq(reasons(find_keep(&p, L.v[2].id)), "last");
    vs_retention_plan_dispose(&p);

    /* A snapshot outside the scope still keeps what it depends on. */
    size_t x = add_incr(&L, "2026-11-26 12:00:00", 0, 0);
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, 0, NULL, &opts), 0);
    char want[128];
    snprintf(want, sizeof(want), "parent of %s", L.v[x].id);
    ck_assert_uint_eq(p.ndelete, 0);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[0].id)), want);
    vs_retention_plan_dispose(&p);
}
END_TEST

/* ---- chains -------------------------------------------------------------- */

START_TEST(a_kept_incremental_keeps_its_parents_and_base)
{
    vs_retention_plan_out p;
    char want[128];
    L.n = 0;
    size_t a = add(&L, "2026-11-20 12:00:00");
    size_t b = add_incr(&L, "2026-11-21 12:00:00", a, a);
    size_t c = add_incr(&L, "2026-11-22 12:00:00", b, a);
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.ndelete, 0);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[c].id)), "last");
    snprintf(want, sizeof(want), "parent of %s", L.v[c].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[b].id)), want);
    snprintf(want, sizeof(want), "base of %s", L.v[c].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[a].id)), want);
    vs_retention_plan_dispose(&p);

    /* A new full snapshot: the whole chain may go, newest link first. */
    size_t d = add(&L, "2026-11-23 12:00:00");
    size_t e = add_incr(&L, "2026-11-24 12:00:00", d, d);
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 2);
    snprintf(want, sizeof(want), "parent of %s", L.v[e].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[d].id)), want);
    ck_assert_int_eq(del_pos(&p, L.v[c].id), 0);
    ck_assert_int_eq(del_pos(&p, L.v[b].id), 1);
    ck_assert_int_eq(del_pos(&p, L.v[a].id), 2);
    vs_retention_plan_dispose(&p);

    /* CURRENT in the middle of the chain keeps its ancestors only. */
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, L.v[b].id);
    ck_assert_ptr_nonnull(find_keep(&p, L.v[a].id));
    ck_assert_str_eq(reasons(find_keep(&p, L.v[b].id)), "current");
    ck_assert_int_eq(del_pos(&p, L.v[c].id), 0);
    ck_assert_uint_eq(p.ndelete, 1);
    vs_retention_plan_dispose(&p);

    /* keep_within on the tip of a chain whose base is long gone by the
     * rule: the base stays. */
    plan(&p, &L, (vs_retention_policy){0, 3600, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 2);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(deletions_come_dependents_first)
{
    vs_retention_plan_out p;
    L.n = 0;
    size_t a = add(&L, "2026-11-20 12:00:00");
    size_t d = add(&L, "2026-11-20 13:00:00");
    size_t b = add_incr(&L, "2026-11-20 14:00:00", a, a);
    size_t e = add_incr(&L, "2026-11-20 15:00:00", d, d);
    size_t c = add_incr(&L, "2026-11-20 16:00:00", b, a);
    size_t f = add(&L, "2026-11-20 17:00:00");
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 1);
    ck_assert_str_eq(p.keep[0].id, L.v[f].id);
    ck_assert_uint_eq(p.ndelete, 5);
    /* Newest first where nothing depends on it: C, E, B, D, A. */
    ck_assert_int_eq(del_pos(&p, L.v[c].id), 0);
    ck_assert_int_eq(del_pos(&p, L.v[e].id), 1);
    ck_assert_int_eq(del_pos(&p, L.v[b].id), 2);
    ck_assert_int_eq(del_pos(&p, L.v[d].id), 3);
    ck_assert_int_eq(del_pos(&p, L.v[a].id), 4);
    ck_assert_str_eq(p.del[0].reasons[0], "matches no keep rule");
    ck_assert_uint_eq(p.del[0].nreasons, 1);
    ck_assert_str_eq(p.del[0].parent, L.v[b].id);
    vs_retention_plan_dispose(&p);

    /* A pin on the chain's tip keeps the chain. */
    vs_retention_pin pin = {L.v[c].id, "in use by upload"};
    vs_retention_opts opts = {&pin, 1, NULL};
    vs_retention_policy pol = {1, 0, 0, 0};
    ck_assert_int_eq(vs_retention_plan(&p, L.v, L.n, &pol, 0, NULL, &opts), 0);
    ck_assert_uint_eq(p.nkeep, 4);
    ck_assert_int_eq(del_pos(&p, L.v[e].id), 0);
    ck_assert_int_eq(del_pos(&p, L.v[d].id), 1);
    vs_retention_plan_dispose(&p);
}
END_TEST

START_TEST(links_to_unlisted_snapshots_are_ignored)
{
    vs_retention_plan_out p;
    char want[128];
    L.n = 0;
    size_t x = add(&L, "2026-11-20 12:00:00");
    size_t g = add(&L, "2026-11-21 12:00:00");
    snprintf(L.v[g].kind, sizeof(L.v[g].kind), "incremental");
    snprintf(L.v[g].parent, sizeof(L.v[g].parent),
             "20261101T000000.000Z-abcdef");
    memcpy(L.v[g].base, L.v[x].id, sizeof(L.v[g].base));
    size_t h = add(&L, "2026-11-22 12:00:00");
    snprintf(L.v[h].kind, sizeof(L.v[h].kind), "incremental");
    snprintf(L.v[h].parent, sizeof(L.v[h].parent),
             "20261102T000000.000Z-abcdef");
    snprintf(L.v[h].base, sizeof(L.v[h].base), "20261101T000000.000Z-fedcba");
    /* h's chain is not listed: nothing to keep for it.  g's base is. */
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, NULL);
    ck_assert_uint_eq(p.nkeep, 1);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){0, 0, 0, 0}, L.v[g].id);
    snprintf(want, sizeof(want), "no rule set,base of %s", L.v[g].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[x].id)), want);
    vs_retention_plan_dispose(&p);
    plan(&p, &L, (vs_retention_policy){1, 0, 0, 0}, L.v[g].id);
    snprintf(want, sizeof(want), "base of %s", L.v[g].id);
    ck_assert_str_eq(reasons(find_keep(&p, L.v[x].id)), want);
    ck_assert_uint_eq(p.nkeep, 3);
    vs_retention_plan_dispose(&p);
}
END_TEST

/* ---- durations and JSON ----------------------------------------------------
 */

START_TEST(durations_parse_and_print)
{
    static const struct {
        const char *text;
        uint64_t s;
    } good[] = {
        {"7d", 604800},
        {"1d12h", 129600},
        {"90s", 90},
        {"90", 90},
        {"30m", 1800},
        {"2w", 1209600},
        {"0", 0},
        {"0d", 0},
        {"1w2d3h4m5s", 788645},
        {"1099511627776", (uint64_t)1 << 40},
    };
    static const char *const bad[] = {"",    "d",   "7x",  "7d3", "-1", "1.5d",
                                      " 7d", "7d ", "7 d", "h1",  "7D"};
    static const char *const big[] = {"1099511627777", "99999999999999999999",
                                      "1818181818w"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        uint64_t s = 1;
        ck_assert_msg(vs_retention_parse_within(&s, good[i].text) == 0,
                      "%s: %s", good[i].text, vs_error_last());
        ck_assert_uint_eq(s, good[i].s);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        uint64_t s = 1;
        ck_assert_msg(vs_retention_parse_within(&s, bad[i]) == VS_EINVALID,
                      "'%s' parsed", bad[i]);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "bad duration"));
    }
    for (size_t i = 0; i < sizeof(big) / sizeof(*big); i++) {
        uint64_t s = 1;
        ck_assert_int_eq(vs_retention_parse_within(&s, big[i]), VS_EINVALID);
        ck_assert_ptr_nonnull(strstr(vs_error_last(), "is above"));
    }
    static const struct {
        uint64_t s;
        const char *text;
    } out[] = {{0, "0s"},          {604800, "7d"}, {129600, "1d12h"},
               {90, "1m30s"},      {3600, "1h"},   {1209600, "14d"},
               {93784, "1d2h3m4s"}};
    char buf[VS_RETENTION_WITHIN_LEN];
    for (size_t i = 0; i < sizeof(out) / sizeof(*out); i++) {
        vs_retention_format_within(buf, sizeof(buf), out[i].s);
        ck_assert_str_eq(buf, out[i].text);
        uint64_t back = 0;
        ck_assert_int_eq(vs_retention_parse_within(&back, buf), 0);
        ck_assert_uint_eq(back, out[i].s);
    }
    vs_retention_format_within(buf, sizeof(buf), (uint64_t)1 << 40);
    ck_assert_str_eq(buf, "12725829d36m16s");
}
END_TEST

static char *dump(json_t *j)
{
    ck_assert_ptr_nonnull(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(policy_and_result_as_json)
{
    vs_retention_policy pol = {3, 7 * 86400, 0, 2};
    char *s = dump(vs_retention_policy_json(&pol));
    ck_assert_str_eq(s, "{\"keep_daily\":0,\"keep_last\":3,\"keep_weekly\":2,"
                        "\"keep_within\":\"7d\"}");
    free(s);
    pol.keep_within_s = 0;
    s = dump(vs_retention_policy_json(&pol));
    ck_assert_ptr_nonnull(strstr(s, "\"keep_within\":null"));
    free(s);

    L.n = 0;
    add(&L, "2026-11-23 10:00:00");
    add(&L, "2026-11-24 10:00:00.5");
    vs_retention_result r;
    memset(&r, 0, sizeof(r));
    r.policy = (vs_retention_policy){1, 0, 0, 0};
    r.dry_run = true;
    ck_assert_int_eq(
        vs_retention_plan(&r.plan, L.v, L.n, &r.policy, 0, L.v[1].id, NULL), 0);
    s = dump(vs_retention_result_json(&r));
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"delete\":[{\"created\":\"2026-11-23T10:00:00.000Z\","
             "\"id\":\"%s\",\"reason\":\"matches no keep rule\"}],"
             "\"deleted\":0,\"dry_run\":true,\"keep\":[{\"created\":"
             "\"2026-11-24T10:00:00.500Z\",\"id\":\"%s\",\"reasons\":"
             "[\"current\",\"last\"]}],\"policy\":{\"keep_daily\":0,"
             "\"keep_last\":1,\"keep_weekly\":0,\"keep_within\":null},"
             "\"remote\":false,\"skipped\":[]}",
             L.v[0].id, L.v[1].id);
    ck_assert_str_eq(s, want);
    free(s);
    vs_retention_result_dispose(&r);
}
END_TEST

/* ---- a real catalog --------------------------------------------------------
 */

typedef struct env {
    char *root;
    vs_catalog *cat;
    vs_store *live;
    vs_ops ops;
} env;

static void env_open(env *e)
{
    memset(e, 0, sizeof(*e));
    e->root = vs_test_tmpdir_new();
    char *data = vs_test_path(e->root, "data");
    int error = vs_catalog_open(&e->cat, data);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    free(data);
    e->live = vs_test_random_store("a", 50, 4, VS_METRIC_COSINE, true, 7);
    ck_assert_int_eq(vs_ops_init(&e->ops, e->live, e->cat), 0);
}

static void env_close(env *e)
{
    vs_ops_dispose(&e->ops);
    vs_store_free(e->live);
    vs_catalog_free(e->cat);
    vs_test_tmpdir_free(e->root);
}

/* A whole-store snapshot (it becomes CURRENT); its id into `id`.  Two
 * snapshots never share a millisecond, so "newest" is well defined. */
static void snap(env *e, char id[VS_SNAPSHOT_ID_LEN + 1])
{
    vs_ops_snapshot_req rq = {NULL, VS_FORMAT_BIN, VS_CODEC_NONE, -1, NULL, 0};
    vs_snapshot s;
    int error = vs_ops_snapshot(&s, &e->ops, &rq, NULL, NULL);
    ck_assert_msg(error == 0, "%s", vs_error_last());
    if (id)
        memcpy(id, s.id, VS_SNAPSHOT_ID_LEN + 1);
    vs_snapshot_dispose(&s);
    struct timespec pause = {0, 3 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

static size_t count(env *e)
{
    vs_snapshot *v = NULL;
    size_t n = 0;
    ck_assert_int_eq(vs_catalog_list(&v, &n, e->cat), 0);
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&v[i]);
    free(v);
    return n;
}

static bool listed(env *e, const char *id)
{
    vs_snapshot s;
    if (vs_catalog_get(&s, e->cat, id) < 0) {
        vs_error_clear();
        return false;
    }
    vs_snapshot_dispose(&s);
    return true;
}

START_TEST(a_dry_run_deletes_nothing_and_a_real_one_does)
{
    env e;
    char id[4][VS_SNAPSHOT_ID_LEN + 1];
    env_open(&e);
    for (int i = 0; i < 4; i++)
        snap(&e, id[i]);
    vs_retention_policy pol = {2, 0, 0, 0};
    vs_retention_result r;
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, true, false), 0);
    ck_assert(r.dry_run);
    ck_assert_uint_eq(r.plan.nkeep, 2);
    ck_assert_str_eq(r.plan.keep[0].id, id[3]);
    ck_assert_str_eq(reasons(&r.plan.keep[0]), "current,last");
    ck_assert_uint_eq(r.plan.ndelete, 2);
    ck_assert_str_eq(r.plan.del[0].id, id[1]);
    ck_assert_uint_eq(r.deleted, 0);
    vs_retention_result_dispose(&r);
    ck_assert_uint_eq(count(&e), 4);
    ck_assert_uint_eq(atomic_load(&e.ops.retention_ok), 0);

    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, false, false), 0);
    ck_assert_uint_eq(r.deleted, 2);
    ck_assert_uint_eq(r.nskipped, 0);
    ck_assert(!r.failed);
    vs_retention_result_dispose(&r);
    ck_assert_uint_eq(count(&e), 2);
    ck_assert(listed(&e, id[2]) && listed(&e, id[3]));
    ck_assert_uint_eq(atomic_load(&e.ops.retention_ok), 1);
    ck_assert_uint_eq(atomic_load(&e.ops.retention_deleted), 2);

    /* No rule: nothing happens. */
    vs_retention_policy none = {0, 0, 0, 0};
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &none, NULL, false, true), 0);
    ck_assert_uint_eq(r.deleted, 0);
    ck_assert_uint_eq(r.plan.nkeep, 2);
    vs_retention_result_dispose(&r);
    env_close(&e);
}
END_TEST

START_TEST(a_snapshot_being_written_makes_it_busy)
{
    env e;
    env_open(&e);
    snap(&e, NULL);
    snap(&e, NULL);
    vs_retention_policy pol = {1, 0, 0, 0};
    vs_retention_result r;
    pthread_mutex_lock(&e.ops.save_mu);
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, false, false),
        VS_EBUSY);
    ck_assert_ptr_nonnull(strstr(vs_error_last(), "being written"));
    ck_assert_uint_eq(r.plan.nkeep + r.plan.ndelete, 0);
    /* A dry run takes no lock. */
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, true, false), 0);
    ck_assert_uint_eq(r.plan.ndelete, 1);
    vs_retention_result_dispose(&r);
    pthread_mutex_unlock(&e.ops.save_mu);
    ck_assert_uint_eq(count(&e), 2);
    ck_assert_uint_eq(atomic_load(&e.ops.retention_ok) +
                          atomic_load(&e.ops.retention_failed),
                      0);
    env_close(&e);
}
END_TEST

START_TEST(current_and_pinned_snapshots_are_not_deleted)
{
    env e;
    char id[3][VS_SNAPSHOT_ID_LEN + 1];
    env_open(&e);
    for (int i = 0; i < 3; i++)
        snap(&e, id[i]);
    ck_assert_int_eq(vs_catalog_set_current(e.cat, id[0]), 0);
    ck_assert_int_eq(vs_ops_pin(&e.ops, id[1], "verify"), 0);
    ck_assert_int_eq(vs_ops_pin(&e.ops, id[1], "verify"), 0); /* nests */
    ck_assert_int_eq(vs_ops_pin(&e.ops, "nope", "verify"), VS_EINVALID);
    vs_ops_pin_info *pins = NULL;
    size_t npins = 0;
    ck_assert_int_eq(vs_ops_pins(&pins, &npins, &e.ops), 0);
    ck_assert_uint_eq(npins, 1);
    ck_assert_str_eq(pins[0].id, id[1]);
    ck_assert_str_eq(pins[0].what, "verify");
    free(pins);

    vs_retention_policy pol = {1, 0, 0, 0};
    vs_retention_result r;
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, false, true), 0);
    ck_assert_uint_eq(r.plan.nkeep, 3);
    ck_assert_str_eq(reasons(find_keep(&r.plan, id[0])), "current");
    ck_assert_str_eq(reasons(find_keep(&r.plan, id[1])), "in use by verify");
    ck_assert_str_eq(reasons(find_keep(&r.plan, id[2])), "last");
    vs_retention_result_dispose(&r);

    /* DELETE refuses a pinned snapshot, naming what uses it. */
    ck_assert_int_eq(vs_ops_delete(&e.ops, id[1]), VS_EBUSY);
    ck_assert_ptr_nonnull(
        strstr(vs_error_last(), "in use by a running verify"));
    vs_ops_unpin(&e.ops, id[1]);
    ck_assert_int_eq(vs_ops_delete(&e.ops, id[1]), VS_EBUSY);
    vs_ops_unpin(&e.ops, id[1]);
    vs_ops_unpin(&e.ops, id[1]); /* one too many: nothing happens */
    ck_assert_int_eq(vs_ops_pins(&pins, &npins, &e.ops), 0);
    ck_assert_uint_eq(npins, 0);
    ck_assert_ptr_null(pins);

    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, false, true), 0);
    ck_assert_uint_eq(r.deleted, 1);
    vs_retention_result_dispose(&r);
    ck_assert(!listed(&e, id[1]));
    ck_assert(listed(&e, id[0]) && listed(&e, id[2]));
    env_close(&e);
}
END_TEST

START_TEST(a_failed_deletion_is_reported_and_counted)
{
    env e;
    char id[3][VS_SNAPSHOT_ID_LEN + 1];
    env_open(&e);
    for (int i = 0; i < 3; i++)
        snap(&e, id[i]);
    /* A non-empty directory where the deletion renames the oldest to
     * makes that rename fail. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/deleting-%s", vs_catalog_tmpdir(e.cat),
             id[0]);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/deleting-%s/x", vs_catalog_tmpdir(e.cat),
             id[0]);
    ck_assert_int_eq(mkdir(path, 0700), 0);

    vs_retention_policy pol = {1, 0, 0, 0};
    vs_retention_result r;
    ck_assert_int_eq(
        vs_retention_apply_local(&r, &e.ops, &pol, NULL, false, true), 0);
    ck_assert_uint_eq(r.deleted, 1);
    ck_assert_uint_eq(r.nskipped, 1);
    ck_assert_str_eq(r.skipped[0].id, id[0]);
    ck_assert_msg(strstr(r.skipped[0].reason, "failed to remove"), "%s",
                  r.skipped[0].reason);
    ck_assert(r.failed);
    char *s = dump(vs_retention_result_json(&r));
    ck_assert_ptr_nonnull(strstr(s, "\"deleted\":1"));
    ck_assert_ptr_nonnull(strstr(s, "\"skipped\":[{\"created\""));
    free(s);
    vs_retention_result_dispose(&r);
    ck_assert_uint_eq(count(&e), 2);
    ck_assert(listed(&e, id[0]));

    vs_buf b = VS_BUF_INIT(1u << 20);
    ck_assert_int_eq(vs_ops_metrics_render(&b, &e.ops), 0);
    ck_assert_ptr_nonnull(
        strstr(b.ptr, "vecsnap_retention_runs_total{result=\"failed\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(b.ptr, "vecsnap_retention_runs_total{result=\"ok\"} 0\n"));
    ck_assert_ptr_nonnull(
        strstr(b.ptr, "vecsnap_retention_deleted_snapshots_total 1\n"));
    vs_buf_dispose(&b);
    env_close(&e);
}
END_TEST

START_TEST(the_hook_applies_the_policy_after_each_snapshot)
{
    env e;
    char id[6][VS_SNAPSHOT_ID_LEN + 1];
    env_open(&e);
    vs_retention_hook hook = {{2, 0, 0, 0}, NULL};
    e.ops.after_snapshot = vs_retention_after_snapshot;
    e.ops.after_snapshot_payload = &hook;
    for (int i = 0; i < 4; i++) {
        snap(&e, id[i]);
        ck_assert_uint_eq(count(&e), i < 2 ? (size_t)i + 1 : 2);
    }
    ck_assert(listed(&e, id[2]) && listed(&e, id[3]));
    ck_assert_uint_eq(atomic_load(&e.ops.retention_ok), 4);
    ck_assert_uint_eq(atomic_load(&e.ops.retention_deleted), 2);
    /* An empty policy: no run at all. */
    hook.policy.keep_last = 0;
    snap(&e, id[4]);
    snap(&e, id[5]);
    ck_assert_uint_eq(count(&e), 4);
    ck_assert_uint_eq(atomic_load(&e.ops.retention_ok), 4);
    env_close(&e);
}
END_TEST

/* A restore pins its snapshot: retention run from another thread while
 * the restore loads would otherwise delete it under the reader. */
START_TEST(restore_and_verify_unpin_when_done)
{
    env e;
    char id[2][VS_SNAPSHOT_ID_LEN + 1];
    env_open(&e);
    snap(&e, id[0]);
    snap(&e, id[1]);
    vs_ops_result res;
    ck_assert_int_eq(vs_ops_restore(&res, &e.ops, id[0], VS_OPS_REPLACE, NULL,
                                    0, NULL, NULL),
                     0);
    vs_ops_result_dispose(&res);
    ck_assert_int_eq(vs_ops_verify(NULL, &e.ops, id[1], NULL, NULL), 0);
    vs_ops_pin_info *pins = NULL;
    size_t npins = 9;
    ck_assert_int_eq(vs_ops_pins(&pins, &npins, &e.ops), 0);
    ck_assert_uint_eq(npins, 0);
    /* CURRENT is now the restored one; the other may go. */
    ck_assert_int_eq(vs_ops_delete(&e.ops, id[1]), 0);
    ck_assert_int_eq(vs_ops_delete(&e.ops, id[0]), VS_EBUSY);
    env_close(&e);
}
END_TEST

static Suite *retention_suite(void)
{
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, no_rule_keeps_everything);
    tcase_add_test(tc, keep_last_keeps_the_newest);
    tcase_add_test(tc, keep_daily_keeps_the_newest_of_each_day);
    tcase_add_test(tc, keep_weekly_goes_by_iso_week);
    tcase_add_test(tc, rules_combine_and_every_reason_is_recorded);
    tcase_add_test(tc, keep_within_counts_back_from_the_newest_snapshot);
    tcase_add_test(tc, keep_within_ignores_snapshots_from_the_future);
    tcase_add_test(tc, the_oldest_snapshot_stays_while_a_bucket_has_room);
    tcase_add_test(tc, days_are_utc_and_weeks_iso_across_years);
    tcase_add_test(tc, current_and_pinned_snapshots_stay);
    tcase_add_test(tc, a_scope_limits_what_the_rules_count);
    tcase_add_test(tc, a_kept_incremental_keeps_its_parents_and_base);
    tcase_add_test(tc, deletions_come_dependents_first);
    tcase_add_test(tc, links_to_unlisted_snapshots_are_ignored);
    tcase_add_test(tc, durations_parse_and_print);
    tcase_add_test(tc, policy_and_result_as_json);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("local");
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, a_dry_run_deletes_nothing_and_a_real_one_does);
    tcase_add_test(tl, a_snapshot_being_written_makes_it_busy);
    tcase_add_test(tl, current_and_pinned_snapshots_are_not_deleted);
    tcase_add_test(tl, a_failed_deletion_is_reported_and_counted);
    tcase_add_test(tl, the_hook_applies_the_policy_after_each_snapshot);
    tcase_add_test(tl, restore_and_verify_unpin_when_done);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(retention_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
