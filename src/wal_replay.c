/*
 * wal_replay: applies the log to a store at start-up (or up to a sequence
 * number or a time, from the live segments and the archived ones, for
 * point-in-time restore), detecting a torn or corrupt tail by its frame
 * and CRC and cutting it off so later appends follow the last good
 * record; a bad record followed by good segments is corruption.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "wal_int.h"

/* ---- replay ------------------------------------------------------------- */

typedef struct seg_ref {
    uint64_t seq;  /* first seq, from the name */
    bool archived; /* in the archive directory */
} seg_ref;

typedef struct replay {
    vs_wal_replay_info *info;
    vs_store *st;
    const char *dir, *archive;
    seg_ref *segs;
    size_t nsegs;
    uint64_t after, until, until_ms;
    bool repair;
    uint64_t prev; /* the last seq seen */
    bool stopped;  /* reached a bound */
} replay;

static void seg_path(char *out, const replay *rp, size_t i)
{
    vs_wal__seg_path(out, rp->segs[i].archived ? rp->archive : rp->dir,
                     rp->segs[i].seq);
}

/* Map segment i; a live one archived since it was listed is found in the
 * archive. */
static int map_ref(vs_wal__seg *m, char *path, replay *rp, size_t i)
{
    seg_path(path, rp, i);
    if (!rp->segs[i].archived && rp->archive && access(path, F_OK) < 0 &&
        errno == ENOENT) {
        rp->segs[i].archived = true;
        seg_path(path, rp, i);
    }
    return vs_wal__map_segment(m, path);
}

/* Does segment i hold at least one good record? */
static bool segment_has_good(replay *rp, size_t i)
{
    char path[PATH_SIZE];
    vs_wal__seg m;
    const char *why;
    const uint8_t *body;
    size_t pos = HDR_SIZE, len;
    bool good = false;

    if (map_ref(&m, path, rp, i) < 0) {
        vs_error_clear();
        return false;
    }
    good = vs_wal__header_problem(&m, rp->segs[i].seq, &why) == 0 &&
           vs_wal__next_record(&m, &pos, &body, &len, &why) > 0;
    vs_wal__unmap_segment(&m);
    return good;
}

/* A bad header (pos 0) or record at `pos` of segment i: corruption when a
 * later segment holds good records; else a torn tail, cut off when the
 * replay repairs. */
static int bad_record(replay *rp, size_t i, size_t pos, const char *why)
{
    char path[PATH_SIZE], later[PATH_SIZE];
    uint64_t torn;
    int error = 0;

    seg_path(path, rp, i);
    for (size_t j = i + 1; j < rp->nsegs; j++)
        if (segment_has_good(rp, j)) {
            seg_path(later, rp, j);
            return vs_error_set(VS_ECORRUPT,
                                "wal segment '%s': bad record at offset %zu "
                                "(%s), but '%s' after it holds good records",
                                path, pos, why, later);
        }
    torn = vs_wal__file_size(path) - pos;
    for (size_t j = i + 1; j < rp->nsegs; j++) {
        seg_path(later, rp, j);
        torn += vs_wal__file_size(later);
    }
    rp->info->torn_tail = true;
    rp->info->torn_bytes = torn;
    if (!rp->repair) /* a record being appended now looks the same */
        return 0;
    vs_log(VS_LOG_WARN,
           "wal segment '%s': torn tail at offset %zu (%s): %" PRIu64
           " bytes cut off",
           path, pos, why, torn);
    for (size_t j = rp->nsegs; j-- > i + 1;) {
        seg_path(later, rp, j);
        if (unlink(later) < 0 && errno != ENOENT)
            return vs_error_set_os(VS_EIO, "cannot delete wal segment '%s'",
                                   later);
    }
    if (pos < HDR_SIZE) {
        if (unlink(path) < 0 && errno != ENOENT)
            return vs_error_set_os(VS_EIO, "cannot delete wal segment '%s'",
                                   path);
    } else {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return vs_error_set_os(VS_EIO, "cannot open wal segment '%s'",
                                   path);
        if (ftruncate(fd, (off_t)pos) < 0 || fdatasync(fd) < 0) {
            error =
                vs_error_set_os(VS_EIO, "cannot cut wal segment '%s'", path);
            close(fd);
            return error;
        }
        close(fd);
    }
    return vs_fs_fsync_dir(rp->segs[i].archived ? rp->archive : rp->dir);
}

/* One record: order checks, the window (after, bounds), apply. */
static int replay_record(replay *rp, const char *path, size_t pos,
                         const uint8_t *body, size_t len, uint64_t first)
{
    vs_wal_replay_info *info = rp->info;
    uint64_t seq = vs_wal__get64(body);
    int error;

    if (seq <= rp->prev || seq < first)
        return vs_error_set(VS_ECORRUPT,
                            "wal segment '%s': record at offset "
                            "%zu has seq %" PRIu64 ", not above %" PRIu64,
                            path, pos, seq, seq < first ? first - 1 : rp->prev);
    rp->prev = seq;
    if (rp->until && seq > rp->until) {
        rp->stopped = info->reached = true;
        return 0;
    }
    if (seq <= rp->after) {
        info->skipped++;
        return 0;
    }
    if (rp->until_ms && vs_wal__get64(body + 8) > rp->until_ms) {
        rp->stopped = info->reached = true;
        return 0;
    }
    uint64_t want = info->records ? info->last_seq + 1 : rp->after + 1;
    if (seq != want) {
        info->gap_due = want;
        info->gap_seq = seq;
        return vs_error_set(VS_ECORRUPT,
                            "wal segment '%s': record at offset "
                            "%zu has seq %" PRIu64 " where %" PRIu64
                            " was due: records are missing",
                            path, pos, seq, want);
    }
    error = vs_wal_apply(rp->st, body, len);
    if (error < 0) {
        vs_log(VS_LOG_ERROR,
               "wal segment '%s': record seq %" PRIu64
               " at offset %zu cannot be applied: %s",
               path, seq, pos, vs_error_last());
        return error;
    }
    if (!info->records)
        info->first_seq = seq;
    info->last_seq = seq;
    info->last_time_ms = vs_wal__get64(body + 8);
    info->records++;
    if (rp->until && seq == rp->until)
        info->reached = true;
    return 0;
}

/* Walk segment i; *stop_out set when replay ends here. */
static int replay_segment(replay *rp, size_t i, bool *stop_out)
{
    char path[PATH_SIZE];
    vs_wal__seg m = {NULL, 0};
    const char *why = NULL;
    const uint8_t *body;
    size_t pos = HDR_SIZE, len;
    int r, error;

    error = map_ref(&m, path, rp, i);
    if (error < 0)
        return error;
    error = vs_wal__header_problem(&m, rp->segs[i].seq, &why);
    if (error == VS_EVERSION) {
        error = vs_error_set(VS_EVERSION,
                             "wal segment '%s': format version "
                             "%u (this build reads %u)",
                             path, m.p[7], vs_wal__magic[7]);
        goto done;
    }
    if (error < 0) {
        vs_wal__unmap_segment(&m);
        *stop_out = true;
        return bad_record(rp, i, 0, why);
    }
    while ((r = vs_wal__next_record(&m, &pos, &body, &len, &why)) > 0) {
        error = replay_record(rp, path, pos - FRAME_SIZE - len, body, len,
                              rp->segs[i].seq);
        if (error < 0 || rp->stopped)
            goto done;
    }
    if (r < 0) {
        vs_wal__unmap_segment(&m);
        *stop_out = true;
        return bad_record(rp, i, pos, why);
    }
done:
    vs_wal__unmap_segment(&m);
    if (rp->stopped)
        *stop_out = true;
    return error;
}

static int cmp_ref(const void *a, const void *b)
{
    const seg_ref *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return (int)y->archived - (int)x->archived; /* the archived one first */
}

/* The segments of `dir`, and of the archive when there is one, in order;
 * a segment listed in both (archived in between) counts once, archived. */
static int list_all(replay *rp)
{
    uint64_t *live = NULL, *arch = NULL;
    size_t nlive = 0, narch = 0, n = 0;
    int error = vs_wal__list_segments(&live, &nlive, rp->dir);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        error = 0;
    }
    if (!error && rp->archive) {
        error = vs_wal__list_segments(&arch, &narch, rp->archive);
        if (error == VS_ENOTFOUND) {
            vs_error_clear();
            error = 0;
        }
    }
    if (!error && nlive + narch) {
        rp->segs = malloc((nlive + narch) * sizeof(*rp->segs));
        if (!rp->segs)
            error = vs_error_oom();
    }
    if (error < 0)
        goto done;
    for (size_t i = 0; i < nlive; i++)
        rp->segs[n++] = (seg_ref){live[i], false};
    for (size_t i = 0; i < narch; i++)
        rp->segs[n++] = (seg_ref){arch[i], true};
    if (n)
        qsort(rp->segs, n, sizeof(*rp->segs), cmp_ref);
    rp->nsegs = 0;
    for (size_t i = 0; i < n; i++)
        if (!rp->nsegs || rp->segs[rp->nsegs - 1].seq != rp->segs[i].seq)
            rp->segs[rp->nsegs++] = rp->segs[i];
done:
    free(live);
    free(arch);
    return error;
}

int vs_wal_replay_to(vs_wal_replay_info *info, vs_store *st, const char *dir,
                     const vs_wal_replay_opts *o)
{
    replay rp;
    bool stop = false;
    int error;

    memset(info, 0, sizeof(*info));
    memset(&rp, 0, sizeof(rp));
    rp.info = info;
    rp.st = st;
    rp.dir = dir;
    rp.archive = o->archive_dir;
    rp.after = o->after;
    rp.until = o->until_seq;
    rp.until_ms = o->until_ms;
    rp.repair = o->repair && !o->until_seq && !o->until_ms && !o->archive_dir;
    error = vs_wal__check_dir(dir);
    if (!error && rp.archive)
        error = vs_wal__check_dir(rp.archive);
    if (!error)
        error = list_all(&rp);
    for (size_t i = 0; error == 0 && !stop && i < rp.nsegs; i++)
        error = replay_segment(&rp, i, &stop);
    free(rp.segs);
    return error;
}

int vs_wal_replay(vs_wal_replay_info *info, vs_store *st, const char *dir,
                  uint64_t after, uint64_t until_seq)
{
    vs_wal_replay_opts o = {after, until_seq, 0, NULL, true};
    return vs_wal_replay_to(info, st, dir, &o);
}
