/*
 * wal_replay: applies the log to a store at start-up (or up to a sequence
 * number, for point-in-time restore), detecting a torn or corrupt tail by
 * its frame and CRC and cutting it off so later appends follow the last
 * good record; a bad record followed by good segments is corruption.
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

typedef struct replay {
    vs_wal_replay_info *info;
    vs_store *st;
    const char *dir;
    uint64_t *segs;
    size_t nsegs;
    uint64_t after, until;
    uint64_t prev; /* the last seq seen */
    bool stopped;  /* reached until_seq */
} replay;

/* Does segment i hold at least one good record? */
static bool segment_has_good(const replay *rp, size_t i)
{
    char path[PATH_SIZE];
    vs_wal__seg m;
    const char *why;
    const uint8_t *body;
    size_t pos = HDR_SIZE, len;
    bool good = false;

    vs_wal__seg_path(path, rp->dir, rp->segs[i]);
    if (vs_wal__map_segment(&m, path) < 0) {
        vs_error_clear();
        return false;
    }
    good = vs_wal__header_problem(&m, rp->segs[i], &why) == 0 &&
           vs_wal__next_record(&m, &pos, &body, &len, &why) > 0;
    vs_wal__unmap_segment(&m);
    return good;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* A bad header (pos 0) or record at `pos` of segment i: corruption when a
 * later segment holds good records; else a torn tail, cut off unless
 * until_seq is set. */
static int bad_record(replay *rp, size_t i, size_t pos, const char *why)
{
    char path[PATH_SIZE], later[PATH_SIZE];
    uint64_t torn;
    int error = 0;

    vs_wal__seg_path(path, rp->dir, rp->segs[i]);
    for (size_t j = i + 1; j < rp->nsegs; j++)
        if (segment_has_good(rp, j)) {
            vs_wal__seg_path(later, rp->dir, rp->segs[j]);
            return vs_error_set(VS_ECORRUPT,
                                "wal segment '%s': bad record at offset %zu "
                                "(%s), but '%s' after it holds good records",
                                path, pos, why, later);
        }
    torn = file_size(path) - pos;
    for (size_t j = i + 1; j < rp->nsegs; j++) {
        vs_wal__seg_path(later, rp->dir, rp->segs[j]);
        torn += file_size(later);
    }
    rp->info->torn_tail = true;
    rp->info->torn_bytes = torn;
    vs_log(VS_LOG_WARN,
           "wal segment '%s': torn tail at offset %zu (%s): %" PRIu64
           " bytes %s",
           path, pos, why, torn, rp->until ? "left in place" : "cut off");
    if (rp->until)
        return 0;
    for (size_t j = rp->nsegs; j-- > i + 1;) {
        vs_wal__seg_path(later, rp->dir, rp->segs[j]);
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
    return vs_fs_fsync_dir(rp->dir);
}

/* One record: order checks, the window (after, until), apply. */
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
        rp->stopped = true;
        return 0;
    }
    if (seq <= rp->after) {
        info->skipped++;
        return 0;
    }
    uint64_t want = info->records ? info->last_seq + 1 : rp->after + 1;
    if (seq != want)
        return vs_error_set(VS_ECORRUPT,
                            "wal segment '%s': record at offset "
                            "%zu has seq %" PRIu64 " where %" PRIu64
                            " was due: records are missing",
                            path, pos, seq, want);
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
    info->records++;
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

    vs_wal__seg_path(path, rp->dir, rp->segs[i]);
    error = vs_wal__map_segment(&m, path);
    if (error < 0)
        return error;
    error = vs_wal__header_problem(&m, rp->segs[i], &why);
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
                              rp->segs[i]);
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

int vs_wal_replay(vs_wal_replay_info *info, vs_store *st, const char *dir,
                  uint64_t after, uint64_t until_seq)
{
    replay rp = {info, st, dir, NULL, 0, after, until_seq, 0, false};
    bool stop = false;
    int error;

    memset(info, 0, sizeof(*info));
    error = vs_wal__check_dir(dir);
    if (error < 0)
        return error;
    error = vs_wal__list_segments(&rp.segs, &rp.nsegs, dir);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        return 0;
    }
    for (size_t i = 0; error == 0 && !stop && i < rp.nsegs; i++)
        error = replay_segment(&rp, i, &stop);
    free(rp.segs);
    return error;
}

