/*
 * manifest: what a snapshot's manifest.json says, and the small rules the
 * catalog (snapshot.c) shares with it: the shape of ids, the RFC 3339 time
 * stamps, the data file's name.  The public half lives in snapshot.h
 * (vs_snapshot_to_json, vs_snapshot_from_json, vs_snapshot_check_id, ...);
 * this header holds what only snapshot.c needs: those rules, and reading,
 * writing and checking the files of one snapshot directory.
 *
 * Manifest fields (docs: snapshot.h): manifest_version, id, name (null
 * when unnamed), created, kind, origin, format, compression, bytes, sha256,
 * content_verified, seq, records, file, collections; parent, base,
 * seq_from, changed, deleted (incremental only); encrypted (only when
 * true).  Unknown fields are ignored, so a later version may add some.
 * The chain fields did not need a new version: a reader that knows only
 * kind "full" refuses an incremental manifest by its kind.
 */
#ifndef VS_MANIFEST_H
#define VS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "fmt.h"
#include "snapshot.h"

#define VS_MANIFEST_VERSION 1

/* "2026-11-24T22:00:55.123Z" */
#define VS_MANIFEST_TIME_LEN 24

/* RFC 3339 UTC with milliseconds into out (room for VS_MANIFEST_TIME_LEN +
 * 1); VS_EINVALID when the year is outside 1970..9999. */
int vs_manifest_time_format(char *out, int64_t ms) VS_WARN_UNUSED;
/* The exact form vs_manifest_time_format writes; VS_EINVALID otherwise. */
int vs_manifest_time_parse(int64_t *ms, const char *text) VS_WARN_UNUSED;

/* A snapshot id for time `ms` and three random bytes into out (room for
 * VS_SNAPSHOT_ID_LEN + 1).  VS_EINVALID when the year is out of range. */
int vs_manifest_make_id(char *out, int64_t ms,
                        const uint8_t rnd[3]) VS_WARN_UNUSED;

/* The data file's name: "data" + format suffix (".vsnap", ".json",
 * ".sqlite", ".ruvector.json") + codec suffix (".gz", ".br", ".zst").
 * VS_EINVALID for an unknown format or codec. */
int vs_manifest_file_name(char *out, size_t size, vs_format_id format,
                          vs_codec_id codec) VS_WARN_UNUSED;

/* ---- the files of one snapshot directory ---- */

/* Read and validate `dir`/manifest.json of snapshot `id` (its manifest must
 * name that id).  VS_ENOTFOUND (no manifest), VS_ECORRUPT, VS_EVERSION. */
int vs_manifest_read(vs_snapshot *out, const char *dir,
                     const char *id) VS_WARN_UNUSED;
/* Write `dir`/SHA256SUMS, then `dir`/manifest.json (each atomic, fsynced).
 * VS_EINVALID, naming the field, for a manifest that would not read back. */
int vs_manifest_write(const char *dir, const vs_snapshot *s) VS_WARN_UNUSED;
/* Load the data file at `path` as `s` describes it (format and codec from
 * the manifest; the rest of `lo` from the caller) and check size, SHA-256,
 * format, records and seq against it.  VS_ECORRUPT names the snapshot and
 * what differs ("sha256" when the bytes changed). */
int vs_manifest_load_data(vs_store **out, vs_file_info *info,
                          const vs_snapshot *s, const char *path,
                          const vs_load_options *lo) VS_WARN_UNUSED;
/* Fill `dir` from an upload: copy `in` into `dir`/upload (fsynced; more
 * than lo->max_bytes, when set, is VS_ETOOBIG), load it fully (format and
 * codec detected; `lo` gives name_hint, max_bytes, tmpdir), then rename it
 * to the data file name of what it turned out to be and fsync `dir`.  On
 * failure files may remain in `dir`: the caller removes it. */
int vs_manifest_receive(vs_store **out, vs_file_info *info, const char *dir,
                        vs_stream *in,
                        const vs_load_options *lo) VS_WARN_UNUSED;

/* ---- for snapshot.c, in snapshot_chain.c ---- */

/* Fill the chain fields of `s` (kind, parent, base, seq_from, changed,
 * deleted) for the incremental save `info` describes: its parent is
 * CURRENT.  VS_EINVALID (no CURRENT), VS_EBUSY (CURRENT is not at
 * info->since_seq). */
int vs_manifest_link(vs_snapshot *s, vs_catalog *cat,
                     const vs_file_info *info) VS_WARN_UNUSED;
/* vs_catalog_load of an incremental snapshot (manifest `tip`). */
int vs_manifest_load_chain(vs_store **out, vs_file_info *info,
                           vs_catalog *cat, const vs_snapshot *tip,
                           vs_progress_fn progress,
                           void *payload) VS_WARN_UNUSED;

#endif
