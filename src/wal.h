/*
 * wal: the write-ahead log.  Every acknowledged write to the live store is
 * appended here before the client gets its answer, so that a crash loses
 * nothing that was acknowledged (policy "always"), at most about a second
 * of writes ("everysec"), or whatever the OS had not written ("no") -- the
 * three policies of Redis's AOF.
 *
 * Files: DIR/<20-digit first seq>.wal segments, appended in order.  A
 * segment starts with a 16-byte header (magic "VSWAL\0\0\2", the last byte
 * being the format version, 2, then the little-endian u64 seq of the
 * record that started the segment, equal to the number in its name).
 * Every record of a segment has a seq at or above its header's, every
 * record of the segment before it a seq below.  A record is
 *
 *   u32 length of the body (LE) | u32 CRC-32C of the body (LE) | body
 *   body = head | op payload
 *   head = u64 seq (LE) | u64 time (LE, Unix ms when it was encoded) | u8 op
 *
 * with seq strictly increasing across the log and, where a replay applies
 * records, without gaps (each one above the previous).  The time is what
 * point-in-time restore bounds by ("until" a moment); it comes from the
 * wall clock, so it may step back when the clock does: a time bound stops
 * at the first record stamped after it.  Replay stops at
 * the first record whose length or CRC does not hold: a torn or corrupt
 * tail (a crash in the middle of an append) is detected, logged with its
 * offset, and never applied; replay then truncates the segment there (and
 * removes any segment after it) so that later appends follow the last good
 * record.  A bad record in the newest segment is a torn tail even when
 * records that check out follow it in that segment (a power cut may keep
 * later pages and lose earlier ones of what was never synced).  A bad
 * record that is followed by good records in a later segment is
 * corruption, not a torn tail: VS_ECORRUPT, and nothing is cut.  A record
 * whose CRC holds but whose seq does not is VS_ECORRUPT too.
 *
 * Durability: vs_wal_write frames the record and queues it in memory
 * (what was queued since the last write goes out with one write(2));
 * vs_wal_wait returns when the record is as durable as the policy says;
 * vs_wal_append does both.  Whatever the policy, vs_wal_wait returns only
 * once the record is in the file (the OS has it: a crash of the process
 * alone loses nothing acknowledged).
 * With "always", it also waits for an fdatasync that covers the record,
 * and concurrent waiters are group-committed: one thread syncs for every
 * record written before its sync started, the others wait for that sync,
 * so N concurrent writers cost about one fdatasync, not N.  "everysec"
 * syncs from a background thread once a second when something was
 * written (and writes out what nobody waited for); "no" never syncs (the
 * OS does, eventually).  Whatever the policy, a segment is synced once
 * when the next one starts, and vs_wal_close writes and syncs everything,
 * so only the newest segment can ever hold a torn tail.
 *
 * Rotation: a snapshot that covers every record up to seq S lets
 * vs_wal_truncate(w, S) delete the segments whose records are all <= S,
 * or vs_wal_archive(w, S, ARCHIVE) move them into an archive directory
 * (same file system, same names), where a point-in-time restore still
 * finds them (vs_wal_replay_to) until vs_wal_prune_archive removes those
 * no snapshot needs.  A new segment starts with the first record written
 * after the current one has reached `segment_bytes`.
 *
 * Operations (the op byte and its payload, encoded by vs_wal_encode_* and
 * applied by vs_wal_apply): create collection (name, dimension, metric),
 * drop collection (name), upsert batch (collection, dimension, n records
 * of id, vector, metadata), delete batch (collection, n ids).  Lengths and
 * counts are unsigned LEB128 varints, floats little-endian IEEE 754; every
 * length and count is checked against the store's limits and against the
 * bytes left before anything is allocated.
 *
 * Threads and order: records must reach the file in seq order, so the
 * caller makes "take the next seq, then vs_wal_write" one step under its
 * own lock (the server: apply the write to the store and vs_wal_write its
 * body under the store's write lock), and calls vs_wal_wait after letting
 * go of that lock, so that writers share fsyncs.  vs_wal_write refuses a
 * seq that is not above the last one taken (VS_EINVALID).  Holding the
 * lock across vs_wal_append is correct too, but then every "always" write
 * pays its own fdatasync.  Every function may be called from any thread.
 *
 * Seqs without gaps: a write that changes nothing (a delete of absent
 * ids) leaves the store's counter alone and is not logged; anything else
 * that moves the counter without a record (a restore: vs_store_swap,
 * vs_store_merge_take) must be followed by a snapshot before the next
 * record, since a replay from an older snapshot stops at the gap
 * (VS_ECORRUPT; vs_wal_replay_info names it).  ops.c does so.
 */
#ifndef VS_WAL_H
#define VS_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "store.h"

/* The largest body (head + payload) the log takes or reads. */
#define VS_WAL_BODY_MAX ((size_t)1 << 30)
#define VS_WAL_HEAD_SIZE 17 /* seq, time, op */
#define VS_WAL_NAME_SIZE 25 /* "<20 digits>.wal" and its NUL */

typedef enum vs_wal_fsync {
    VS_WAL_FSYNC_ALWAYS = 0,
    VS_WAL_FSYNC_EVERYSEC = 1,
    VS_WAL_FSYNC_NO = 2
} vs_wal_fsync;

/* "always", "everysec", "no"; VS_EINVALID. */
int vs_wal_fsync_parse(vs_wal_fsync *out, const char *name);
const char *vs_wal_fsync_name(vs_wal_fsync p);

typedef struct vs_wal vs_wal;

typedef struct vs_wal_stats {
    uint64_t appends;     /* records taken by vs_wal_write */
    uint64_t bytes;       /* their bytes, framing included */
    uint64_t syncs;       /* fdatasync calls */
    uint64_t segments;    /* segment files now on disk */
    uint64_t last_seq;    /* the newest record's seq (0: none) */
    uint64_t sync_max_us; /* the longest fdatasync */
    uint64_t first_seq;   /* the oldest segment's first seq (0: none) */
    uint64_t disk_bytes;  /* the segments' size on disk */
} vs_wal_stats;

/* Open the log in `dir` (created if missing) for appending after the last
 * good record (call vs_wal_replay first: it repairs a torn tail; a bad
 * record found in the newest segment here is VS_ECORRUPT).  New records
 * must have seq > every seq in the log.  `segment_bytes` 0: 64 MiB.
 * VS_EIO, VS_ECORRUPT, VS_EVERSION. */
int vs_wal_open(vs_wal **out, const char *dir, vs_wal_fsync policy,
                uint64_t segment_bytes) VS_WARN_UNUSED;
/* Sync what is written (whatever the policy), stop the sync thread,
 * close.  NULL is a no-op. */
void vs_wal_close(vs_wal *w);

/* Append one encoded body (head + payload, from vs_wal_encode_*) and
 * return when it is as durable as the policy says: vs_wal_write, then
 * vs_wal_wait.  VS_EINVALID when its seq is not above the last one (or the
 * body is shorter than its head), VS_ETOOBIG above VS_WAL_BODY_MAX (the
 * log goes on); VS_EIO (the log is then failed: every later append fails
 * too, and the server must stop acknowledging writes). */
int vs_wal_append(vs_wal *w, const void *body, size_t n) VS_WARN_UNUSED;
/* Take one body into the log (queued, written by the next vs_wal_wait of
 * any thread, or when 1 MiB is queued; a body of 256 KiB or more is
 * written at once) without waiting; errors as vs_wal_append, except that
 * a failed write(2) is reported by vs_wal_wait. */
int vs_wal_write(vs_wal *w, const void *body, size_t n) VS_WARN_UNUSED;
/* Return when the record `seq` (taken by vs_wal_write) and every one
 * before it are as durable as the policy says: written to the file, and
 * with "always" synced too.  VS_EIO when the log has failed. */
int vs_wal_wait(vs_wal *w, uint64_t seq) VS_WARN_UNUSED;

/* Delete the segments whose records all have seq <= `seq` (a snapshot
 * covers them).  The segment being appended to is never deleted.
 * VS_EIO (the segments not yet deleted stay; the log goes on). */
int vs_wal_truncate(vs_wal *w, uint64_t seq) VS_WARN_UNUSED;
/* The same, but the segments are renamed into `archive_dir` (created if
 * missing; on the log's file system) and both directories synced.
 * `moved` (may be NULL) gets the first seqs of the segments moved
 * (malloc'd, NULL when none; the caller frees), *nmoved their count.
 * VS_EIO (those not yet moved stay), VS_EINVALID. */
int vs_wal_archive(vs_wal *w, uint64_t seq, const char *archive_dir,
                   uint64_t **moved, size_t *nmoved) VS_WARN_UNUSED;
/* Delete the archived segments whose records all have seq <= `seq` (no
 * snapshot at or after which a restore could start needs them), oldest
 * first.  The last one's records end before `next_first`, the live log's
 * first seq (vs_wal_stats.first_seq; 0: unknown, the last one stays).
 * *removed (may be NULL) gets how many went.  A missing directory is an
 * empty archive.  VS_EIO. */
int vs_wal_prune_archive(size_t *removed, const char *archive_dir, uint64_t seq,
                         uint64_t next_first) VS_WARN_UNUSED;
/* The first seqs of the segments in `dir`, ascending (*out malloc'd,
 * NULL when none; the caller frees).  A missing directory has none. */
int vs_wal_list_segments(uint64_t **out, size_t *n,
                         const char *dir) VS_WARN_UNUSED;
/* Segments in an archive directory and their bytes (0 when missing). */
int vs_wal_archive_stats(uint64_t *segments, uint64_t *bytes,
                         const char *archive_dir) VS_WARN_UNUSED;
/* "<20-digit seq>.wal": the file name of the segment that starts at seq. */
void vs_wal_segment_name(char out[VS_WAL_NAME_SIZE], uint64_t seq);

void vs_wal_stats_get(vs_wal *w, vs_wal_stats *out);
/* True once the log has failed (every append is VS_EIO from then on);
 * `why` (may be NULL) gets the first failure's message. */
bool vs_wal_failed(vs_wal *w, char *why, size_t n);
/* The directory the log was opened in, and its policy. */
const char *vs_wal_dir(const vs_wal *w);
vs_wal_fsync vs_wal_policy(const vs_wal *w);

/* What a replay found. */
typedef struct vs_wal_replay_info {
    uint64_t records;             /* records applied (seq > after) */
    uint64_t skipped;             /* records at or below `after` */
    uint64_t first_seq, last_seq; /* of those applied (0: none) */
    uint64_t last_time_ms;        /* the time of the last one applied */
    bool torn_tail;            /* a bad tail was found and dropped (cut off when
                                  the replay repairs) */
    uint64_t torn_bytes;       /* how many bytes it held */
    bool reached;              /* the bound was reached: the record until_seq
                                  was applied, or one past a bound was found */
    uint64_t gap_due, gap_seq; /* VS_ECORRUPT for a gap: seq gap_due was
                                  due, gap_seq came (0: no gap) */
} vs_wal_replay_info;

/* Apply to `st` every record of the log in `dir` with seq > `after`, in
 * order, with vs_wal_apply; the store's seq ends at the last one applied.
 * The first record applied must be `after` + 1 and each next one the one
 * after it.  `until_seq` (0: no limit) stops before the first record above
 * it (for point-in-time restore; nothing is cut then: a torn tail is
 * reported, not repaired).  A missing directory is an empty log.
 * VS_ECORRUPT (a bad record before good ones, a seq that does not
 * increase, a gap in seq after `after`), VS_EVERSION, VS_EIO, or what
 * vs_wal_apply returns (replay stops at that record). */
int vs_wal_replay(vs_wal_replay_info *info, vs_store *st, const char *dir,
                  uint64_t after, uint64_t until_seq) VS_WARN_UNUSED;

/* A replay with every option: the window (after, and the bounds), the
 * archive directory whose segments come before and among the live ones
 * (a segment moved there while the replay runs is found there), and
 * whether a torn tail is cut off (`repair`: only without bounds nor
 * archive, i.e. at start-up; otherwise a bad tail ends the replay, is
 * reported in info and left in place, as a record being appended at that
 * moment looks the same).  `until_ms` stops before the first record above
 * `after` whose time is above it. */
typedef struct vs_wal_replay_opts {
    uint64_t after;
    uint64_t until_seq;      /* 0: no bound */
    uint64_t until_ms;       /* Unix ms; 0: no bound */
    const char *archive_dir; /* NULL: none */
    bool repair;
} vs_wal_replay_opts;
int vs_wal_replay_to(vs_wal_replay_info *info, vs_store *st, const char *dir,
                     const vs_wal_replay_opts *opts) VS_WARN_UNUSED;

/* CRC-32C (Castagnoli, reflected, as iSCSI and ext4): `crc` is 0 to start
 * or the value over the bytes before `data`. */
uint32_t vs_wal_crc32c(uint32_t crc, const void *data, size_t n);

/* ---- operations ---- */

enum {
    VS_WAL_OP_CREATE = 1,
    VS_WAL_OP_DROP = 2,
    VS_WAL_OP_UPSERT = 3,
    VS_WAL_OP_DELETE = 4
};

/* Encode a body into `out` (appended; its cap applies: VS_ETOOBIG, and
 * `out` is left as it was), stamped with the current time.  VS_EINVALID
 * for a name, id or metadata longer than the store takes (the store
 * checks the rest when the body is applied), seq 0, or a dimension
 * outside 1 to VS_DIM_MAX. */
int vs_wal_encode_create(vs_buf *out, uint64_t seq, const char *name,
                         uint32_t dimension, vs_metric metric) VS_WARN_UNUSED;
int vs_wal_encode_drop(vs_buf *out, uint64_t seq,
                       const char *name) VS_WARN_UNUSED;
int vs_wal_encode_upsert(vs_buf *out, uint64_t seq, const char *collection,
                         uint32_t dimension, const vs_record *recs,
                         size_t n) VS_WARN_UNUSED;
/* Only the ids of `ids` are used. */
int vs_wal_encode_delete(vs_buf *out, uint64_t seq, const char *collection,
                         const vs_record *ids, size_t n) VS_WARN_UNUSED;

/* The head of an encoded body (at least VS_WAL_HEAD_SIZE bytes): read,
 * or rewrite (a caller that encodes before it knows the seq, or a test
 * that needs a given time). */
uint64_t vs_wal_body_seq(const void *body);
uint64_t vs_wal_body_time(const void *body);
void vs_wal_body_set_seq(void *body, uint64_t seq);
void vs_wal_body_set_time(void *body, uint64_t time_ms);

/* Apply one body to a store (caller holds its write lock): the same change
 * the original write made, stamped with the body's seq (the store's
 * counter becomes that seq, also when the change was empty, e.g. a delete
 * of absent ids).  VS_ECORRUPT for a malformed body; VS_EINVALID when the
 * seq is not above the store's counter, or an upsert's dimension is not
 * its collection's; the store's own errors otherwise.  Nothing changes on
 * error, except that after a gap in seq the counter may have been raised
 * to seq - 1. */
int vs_wal_apply(vs_store *st, const void *body, size_t n) VS_WARN_UNUSED;

#endif
