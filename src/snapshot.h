/*
 * snapshot: the catalog of snapshots in a data directory.
 *
 *   DATA/snapshots/<id>/manifest.json   what the snapshot is (written last)
 *   DATA/snapshots/<id>/data.<fmt>[.<codec>]   the database file
 *   DATA/snapshots/<id>/SHA256SUMS      `sha256sum -c` line for the data file
 *   DATA/CURRENT                        id of the snapshot the live state was
 *                                       last saved to or restored from
 *   DATA/tmp/                           work in progress; emptied at open
 *
 * A snapshot id sorts by creation time: "20261124T220055.123Z-1a2b3c" (UTC
 * time to the millisecond, then 6 random hex digits).  Ids from outside are
 * validated against that shape before they touch a path, so no id can name
 * a file outside the data directory.
 *
 * Nothing half-written is ever listed or loaded: a snapshot is built in
 * DATA/tmp/<id>/ and appears by one rename of that directory into
 * DATA/snapshots/ after its data file and manifest are fsynced.  A snapshot
 * directory without a manifest (a crash between steps on a file system that
 * reordered them) is ignored by list and removed at open.
 *
 * Creation has two phases so that the data file can be written by a forked
 * child while the parent keeps serving: vs_catalog_begin reserves an id and
 * a temporary directory; whoever writes the data file reports its
 * vs_file_info; vs_catalog_commit writes the manifest and publishes it.
 *
 * Chains: an incremental snapshot holds the changes since its parent, the
 * snapshot CURRENT named when it was taken; following parents leads to a
 * full one, its base.  Loading or verifying an incremental snapshot checks
 * every link of its chain (manifests, parents, contiguous seq ranges, the
 * links' data sizes and SHA-256s, the base's size) before anything is
 * built, then loads the base (its SHA-256 checked as it streams) and
 * applies the links in order (snapshot_chain.c).  A snapshot others depend
 * on is not deleted unless they go first.
 *
 * Threads: a catalog may be used from several threads; it serialises its
 * own directory changes with an internal mutex.
 */
#ifndef VS_SNAPSHOT_H
#define VS_SNAPSHOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "fmt.h"

#define VS_SNAPSHOT_ID_LEN 27 /* "20261124T220055.123Z-1a2b3c" */
#define VS_SNAPSHOT_NAME_MAX 128

typedef struct vs_catalog vs_catalog;
typedef struct vs_pending vs_pending;

typedef struct vs_snapshot_collection {
    char name[VS_NAME_MAX + 1];
    uint32_t dimension;
    vs_metric metric;
    uint64_t count;
} vs_snapshot_collection;

/* A manifest.  Own its `collections` array; release with
 * vs_snapshot_dispose. */
typedef struct vs_snapshot {
    char id[VS_SNAPSHOT_ID_LEN + 1];
    char name[VS_SNAPSHOT_NAME_MAX + 1]; /* "" when unnamed */
    int64_t created_ms;                  /* Unix time in milliseconds */
    char kind[16];                       /* "full" or "incremental" */
    char origin[16];                     /* "save", "upload", "compact" */
    vs_format_id format;                 /* RUVECTOR for such uploads */
    vs_codec_id codec;
    uint64_t bytes;                      /* size of the data file */
    uint8_t sha256[VS_SHA256_LEN];       /* of the data file */
    bool content_verified;               /* embedded checksum matched */
    uint64_t seq;                        /* store sequence number saved */
    uint64_t records;
    char file[64];                       /* data file name in the dir */
    size_t ncollections;
    vs_snapshot_collection *collections;
    /* Incremental snapshots: the snapshot this one's changes apply to
     * (its parent), the full snapshot at the root of the chain (its base),
     * and the changes it holds: seq_from < seq of a record <= seq, with
     * seq_from the parent's seq.  `changed` records and `deleted` ids are
     * in its data file; `records` and `collections` describe the state it
     * leads to, as for a full one.  "" and 0 for a full snapshot. */
    char parent[VS_SNAPSHOT_ID_LEN + 1];
    char base[VS_SNAPSHOT_ID_LEN + 1];
    uint64_t seq_from;
    uint64_t changed, deleted;
    bool encrypted; /* the data file is encrypted (crypt.h) */
} vs_snapshot;

/* kind is "incremental". */
bool vs_snapshot_is_incremental(const vs_snapshot *s);

void vs_snapshot_dispose(vs_snapshot *s);
/* The manifest as JSON (new reference): id, name, created (RFC 3339 UTC
 * with milliseconds), kind, origin, format, compression, bytes, sha256 (hex),
 * content_verified, seq, records, file, collections [{name, dimension,
 * metric, count}]; for an incremental one also parent, base, seq_from,
 * changed, deleted; encrypted (true) for an encrypted one. */
json_t *vs_snapshot_to_json(const vs_snapshot *s);
/* Parse and validate a manifest; VS_ECORRUPT naming the bad field. */
int vs_snapshot_from_json(vs_snapshot *out, const json_t *j) VS_WARN_UNUSED;
/* Checks the id shape; VS_EINVALID. */
int vs_snapshot_check_id(const char *id);
/* Checks a user-given name: 1..VS_SNAPSHOT_NAME_MAX bytes of UTF-8 without
 * control characters; VS_EINVALID. */
int vs_snapshot_check_name(const char *name);
/* "<64 hex>  <file>\n" into buf (room for 64 + 2 + 64 + 2 bytes). */
void vs_snapshot_sha256_line(char *buf, size_t size, const vs_snapshot *s);

/* Open (creating the directories) and clean DATA/tmp/.  VS_EIO. */
int vs_catalog_open(vs_catalog **out, const char *datadir) VS_WARN_UNUSED;
/* Open an existing data directory to read it (inspect, verify), beside the
 * process that has it open: no lock, nothing created or cleaned.  Only
 * reading functions may be used on it.  VS_ENOTFOUND (no snapshots/). */
int vs_catalog_open_readonly(vs_catalog **out,
                             const char *datadir) VS_WARN_UNUSED;

void vs_catalog_free(vs_catalog *cat);
const char *vs_catalog_datadir(const vs_catalog *cat);
/* A directory for the caller's temporary files (DATA/tmp). */
const char *vs_catalog_tmpdir(const vs_catalog *cat);

/* All snapshots, oldest first.  The caller disposes each and frees the
 * array.  Unreadable manifests are skipped with a warning in the log. */
int vs_catalog_list(vs_snapshot **out, size_t *n,
                    vs_catalog *cat) VS_WARN_UNUSED;
/* VS_EINVALID (bad id), VS_ENOTFOUND, VS_ECORRUPT (bad manifest). */
int vs_catalog_get(vs_snapshot *out, vs_catalog *cat,
                   const char *id) VS_WARN_UNUSED;
/* malloc'd path of a snapshot's data file. */
int vs_catalog_data_path(char **out, const vs_catalog *cat,
                         const vs_snapshot *s) VS_WARN_UNUSED;

/* Phase 1: reserve an id and DATA/tmp/<id>/.  `name` may be NULL. */
int vs_catalog_begin(vs_pending **out, vs_catalog *cat, const char *name,
                     vs_format_id format, vs_codec_id codec) VS_WARN_UNUSED;
const char *vs_pending_id(const vs_pending *p);
/* Where the data file must be written (DATA/tmp/<id>/data.<fmt>[.<codec>]);
 * write it with vs_fmt_save_file (atomic, fsynced). */
const char *vs_pending_data_path(const vs_pending *p);
/* Phase 2: write manifest.json and SHA256SUMS (fsynced), then rename the
 * directory into DATA/snapshots/ and fsync that directory.  `info` is what
 * the save (or the verifying load) reported; `collections` describes the
 * saved collections.  `origin` is "save", "upload" or "compact".  An
 * incremental save (info->incremental) is a link whose parent is CURRENT,
 * whose seq must be info->since_seq (VS_EBUSY otherwise: CURRENT moved;
 * VS_EINVALID when there is no CURRENT).  Frees `p` whatever the result; on
 * failure nothing is listed and the temporary directory is removed. */
int vs_catalog_commit(vs_snapshot *out, vs_catalog *cat, vs_pending *p,
                      const vs_file_info *info,
                      const vs_snapshot_collection *collections,
                      size_t ncollections,
                      const char *origin) VS_WARN_UNUSED;
/* Discard a pending snapshot (NULL is a no-op). */
void vs_catalog_abort(vs_pending *p);

/* Describe the collections of a store (or the selected ones of a save) for
 * vs_catalog_commit; the caller frees *out. */
int vs_snapshot_describe(vs_snapshot_collection **out, size_t *n,
                         vs_store *st,
                         const vs_save_options *opts) VS_WARN_UNUSED;

/* In-process convenience: begin, vs_fmt_save_file, commit.  The caller holds
 * the store's read lock. */
int vs_catalog_create(vs_snapshot *out, vs_catalog *cat, vs_store *st,
                      const char *name,
                      const vs_save_options *opts) VS_WARN_UNUSED;

/* Take a database file from a stream (an upload): stream it into
 * DATA/tmp/<id>/, verify it by a full load (any format vecsnap reads,
 * ruvector-extensions files included, codec detected; `name_hint` helps
 * brotli and ruvector names), then commit it with origin "upload".  Nothing
 * is kept when verification fails: VS_ECORRUPT / VS_EVERSION / VS_ETOOBIG
 * with the loader's message.  `max_bytes` caps the stored and the
 * decompressed size (0: none). */
int vs_catalog_import(vs_snapshot *out, vs_catalog *cat, vs_stream *in,
                      const char *name, const char *name_hint,
                      uint64_t max_bytes) VS_WARN_UNUSED;

/* Remove a snapshot: renamed out of DATA/snapshots/ first (it disappears at
 * once), then deleted.  A snapshot others depend on (the parent or base of
 * another) is refused with VS_EBUSY naming them.  VS_EINVALID,
 * VS_ENOTFOUND, VS_EBUSY. */
int vs_catalog_delete(vs_catalog *cat, const char *id) VS_WARN_UNUSED;

/* ---- chains (snapshot_chain.c) ---- */

#define VS_CHAIN_MAX 10000 /* links in one chain, the base included */

/* The chain of snapshot `id`, base first and `id` last (one entry for a
 * full snapshot).  Every manifest is read and checked: a link's parent
 * exists, its seq_from is the parent's seq, its base is the parent's base
 * (or the parent itself when full), the root is full; with `check_data`
 * every data file's size and SHA-256 too.  VS_ECORRUPT naming the bad
 * link, VS_ENOTFOUND (no `id`), VS_EINVALID.  Free with
 * vs_snapshot_list_free. */
int vs_catalog_chain(vs_snapshot **out, size_t *n, vs_catalog *cat,
                     const char *id, bool check_data) VS_WARN_UNUSED;
/* Snapshots that depend on `id` (whose parent is `id` or one of them),
 * oldest first. */
int vs_catalog_dependents(vs_snapshot **out, size_t *n, vs_catalog *cat,
                          const char *id) VS_WARN_UNUSED;
/* The same over a list of manifests in id order: which of them depend on
 * `id` (dep[i] set; dep has n entries); the number of them. */
size_t vs_snapshot_dependents(bool *dep, const vs_snapshot *list, size_t n,
                              const char *id);
void vs_snapshot_list_free(vs_snapshot *list, size_t n);
/* Merge the chain of incremental snapshot `id` into one new full snapshot
 * with the same content and seq: origin "compact", the name `name` (NULL:
 * the tip's), format and codec from `opts` (NULL: binary and the tip's
 * codec; the catalog's save key).  CURRENT is not changed here.  VS_EINVALID
 * for a full snapshot, and what loading the chain gives. */
int vs_catalog_compact(vs_snapshot *out, vs_catalog *cat, const char *id,
                       const char *name, const vs_save_options *opts,
                       vs_progress_fn progress, void *payload) VS_WARN_UNUSED;

/* Check the data file against the manifest (size and SHA-256) and load it
 * fully (every embedded checksum, every length); for an incremental
 * snapshot, its whole chain (every link checked as vs_catalog_chain with
 * data does, the base's SHA-256 as it loads; then the base loaded and
 * every link applied: `info` is then the tip's file with the state's
 * totals).  `info` may be NULL.  VS_ECORRUPT naming what differs. */

int vs_catalog_verify(vs_file_info *info, vs_catalog *cat,
                      const char *id) VS_WARN_UNUSED;
/* Verify as above and hand over the loaded store (*out, caller frees). */
int vs_catalog_load(vs_store **out, vs_file_info *info, vs_catalog *cat,
                    const char *id, vs_progress_fn progress,
                    void *payload) VS_WARN_UNUSED;

/* DATA/CURRENT: replaced atomically.  vs_catalog_current gives "" and
 * VS_ENOTFOUND when there is none. */
int vs_catalog_set_current(vs_catalog *cat, const char *id) VS_WARN_UNUSED;
/* CURRENT with a base sequence number: "the live state at seq `seq` is
 * snapshot `id`" -- after a restore, whose store counter is above the
 * snapshot's own seq, so that a write-ahead log replay after a restart
 * starts at the right record.  The file holds "<id> <seq>\n" (seq 0: just
 * "<id>\n", as vs_catalog_set_current writes).  vs_catalog_current_at
 * gives *seq = that seq, or 0 when the file has none (use the manifest's
 * seq then). */
int vs_catalog_set_current_at(vs_catalog *cat, const char *id,
                              uint64_t seq) VS_WARN_UNUSED;
int vs_catalog_current_at(char out[VS_SNAPSHOT_ID_LEN + 1], uint64_t *seq,
                          vs_catalog *cat) VS_WARN_UNUSED;
/* Take a finished snapshot directory (manifest.json, the data file,
 * SHA256SUMS -- e.g. fetched from remote storage) into the catalog under
 * its own id: the manifest is parsed and checked, the data file is checked
 * against it (size, SHA-256) and, with `full_check` and a full snapshot,
 * loaded in full (with the catalog's key when it is encrypted); then
 * `srcdir` (which must be on the data directory's
 * file system, e.g. under vs_catalog_tmpdir) is renamed into
 * DATA/snapshots/<id>.  VS_EEXISTS when the id is already there,
 * VS_ECORRUPT / VS_EKEY naming what failed (srcdir is left for the caller
 * to remove). */
int vs_catalog_adopt(vs_snapshot *out, vs_catalog *cat, const char *srcdir,
                     bool full_check, vs_progress_fn progress,
                     void *payload) VS_WARN_UNUSED;
/* The key (32 bytes, copied; NULL: none) used to load encrypted snapshots,
 * and, with `encrypt_local`, to encrypt the snapshots this catalog writes
 * (vs_catalog_create; callers that save through vs_catalog_begin put
 * vs_catalog_save_key() in their vs_save_options.key). */
void vs_catalog_set_key(vs_catalog *cat, const uint8_t *key,
                        bool encrypt_local);
const uint8_t *vs_catalog_load_key(const vs_catalog *cat); /* NULL: none */
const uint8_t *vs_catalog_save_key(const vs_catalog *cat); /* NULL: plain */
int vs_catalog_current(char out[VS_SNAPSHOT_ID_LEN + 1],
                       vs_catalog *cat) VS_WARN_UNUSED;

#endif
