/*
 * remote: snapshots kept off-site on S3-compatible object storage (s3.h),
 * and the write-ahead log segments that go with them.
 *
 * Object layout under the configured prefix:
 *
 *   <prefix>snapshots/<id>/<data file>     the database file
 *   <prefix>snapshots/<id>/SHA256SUMS      `sha256sum -c` line for it
 *   <prefix>snapshots/<id>/manifest.json   what the snapshot is
 *   <prefix>wal/<segment>                  write-ahead log segments
 *
 * The manifest is written LAST and deleted FIRST: a remote snapshot exists
 * exactly when its manifest does, so a half-done upload or deletion is
 * never listed.  A remote manifest has the shape of a local one
 * (snapshot.h); its bytes and sha256 describe the data object as stored.
 *
 * Encryption: with a key, a data file that is not encrypted locally is
 * encrypted on the way (crypt.h; the remote manifest then says
 * "encrypted": true, and its bytes and sha256 are the encrypted file's),
 * so nothing readable leaves the machine.  A fetched snapshot stays as it
 * was stored (encrypted); the catalog's key loads it.  WAL segments are
 * encrypted on the way up and decrypted on the way down the same way.
 *
 * Verification: every data object is checked after upload (size and
 * SHA-256, vs_s3_put_file); a download is checked against the object's
 * x-amz-meta-sha256 while it streams and then against the manifest
 * (vs_catalog_adopt) before the snapshot joins the catalog.
 *
 * Errors: VS_EUPSTREAM with S3's code and message for a failure of the
 * storage, VS_ENOTFOUND for a missing remote snapshot, VS_ECORRUPT for
 * bytes that do not match, VS_EKEY for encrypted data without the right
 * key, VS_ECANCELLED when a progress callback asked to stop.
 *
 * Threads: a remote may be used from several threads at once; free it
 * once no call is running (vecsnapd: after the jobs, and after
 * vs_api_remote_drain).
 */
#ifndef VS_REMOTE_H
#define VS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "fmt.h"
#include "s3.h"
#include "snapshot.h"

typedef struct vs_remote vs_remote;

/* A client for `cfg` (copied; see vs_s3_new for what is checked) that
 * encrypts with `key` (32 bytes, copied; NULL: no encryption).  No request
 * is made here. */
int vs_remote_new(vs_remote **out, const vs_s3_config *cfg,
                  const uint8_t *key) VS_WARN_UNUSED;
/* NULL is a no-op. */
void vs_remote_free(vs_remote *r);
/* "bucket/prefix" for messages (no credentials). */
const char *vs_remote_where(const vs_remote *r);

/* Upload local snapshot `id`: data file (encrypted on the way when a key is
 * set and the local file is not), then SHA256SUMS, then manifest.json LAST.
 * An incremental snapshot takes the ancestors the remote lacks along, oldest
 * first.  A snapshot already there intact (its data object has the
 * manifest's size and SHA-256) is not sent again.  *out (may be NULL): the
 * remote manifest.  Progress: bytes sent of bytes to send. */
int vs_remote_upload(vs_snapshot *out, vs_remote *r, vs_catalog *cat,
                     const char *id, vs_progress_fn progress,
                     void *payload) VS_WARN_UNUSED;

/* Every remote snapshot, oldest first, like vs_catalog_list.  Manifests
 * that do not parse are skipped with a warning in the log. */
int vs_remote_list(vs_snapshot **out, size_t *n,
                   vs_remote *r) VS_WARN_UNUSED;
/* One remote manifest.  VS_EINVALID (id), VS_ENOTFOUND, VS_ECORRUPT. */
int vs_remote_get(vs_snapshot *out, vs_remote *r,
                  const char *id) VS_WARN_UNUSED;

/* Download remote snapshot `id` into the local catalog: into the catalog's
 * work directory, checked (size and SHA-256; with `full_check`, loaded in
 * full too), then adopted under its own id.  An incremental one brings its
 * missing ancestors first.  A snapshot already local is checked the same
 * way and kept (VS_ECORRUPT if that check fails: delete it and fetch
 * again).  *out (may be NULL): the local manifest.  Progress: bytes
 * received of bytes to receive. */
int vs_remote_fetch(vs_snapshot *out, vs_remote *r, vs_catalog *cat,
                    const char *id, bool full_check, vs_progress_fn progress,
                    void *payload) VS_WARN_UNUSED;

/* Delete a remote snapshot: its manifest first (it disappears at once),
 * then its other objects.  VS_EBUSY when another remote snapshot's parent
 * or base is it, unless `cascade`, which deletes those (and theirs) too,
 * newest first.  A remote snapshot without a manifest (an upload cut off)
 * is cleaned up the same way; VS_ENOTFOUND when nothing of `id` is there. */
int vs_remote_delete(vs_remote *r, const char *id,
                     bool cascade) VS_WARN_UNUSED;
/* The same; *deleted (malloc'd, caller frees) gets the ids deleted, newest
 * first, *n their count. */
int vs_remote_delete_ids(char (**deleted)[VS_SNAPSHOT_ID_LEN + 1], size_t *n,
                         vs_remote *r, const char *id,
                         bool cascade) VS_WARN_UNUSED;

/* Write-ahead log segments under prefix + "wal/<name>".  `name`: 1..255
 * bytes of [A-Za-z0-9._-], not starting with '.'. */
int vs_remote_put_wal(vs_remote *r, const char *name,
                      const char *path) VS_WARN_UNUSED;
/* Into `dst_path`, atomically (fsynced temp file, then rename). */
int vs_remote_get_wal(vs_remote *r, const char *name,
                      const char *dst_path) VS_WARN_UNUSED;
/* Names (malloc'd array of malloc'd strings, sorted), caller frees each
 * and the array. */
int vs_remote_list_wal(char ***names, size_t *n,
                       vs_remote *r) VS_WARN_UNUSED;
/* Download into `dir` (an existing, empty directory) the remote log
 * segments that may hold records above seq `after`: the one that holds
 * record after + 1 and every later one.  *fetched (may be NULL) gets how
 * many.  Segments are "<20-digit first seq>.wal"; other names are
 * ignored. */
int vs_remote_fetch_wal(size_t *fetched, vs_remote *r, const char *dir,
                        uint64_t after) VS_WARN_UNUSED;

#endif
