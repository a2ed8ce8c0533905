/*
 * fmt_sqlite_int: private to the SQLite format (fmt_sqlite.c, which saves a
 * store as a database and holds the helpers below, and fmt_sqlite_read.c,
 * which loads and validates one); nothing else includes it.  It holds what
 * both sides must agree on: the format version and application id written
 * into the database header, how SQLite result codes become vs_errcodes, and
 * the canonical content stream whose SHA-256 is meta.sha256.
 *
 * Content stream (docs/format-sqlite.md, "Content checksum"): the 16 bytes
 * "vecsnap.sqlite.1", seq (u64), the number of collections (u32); then for
 * each collection in name order its name, dimension (u32), metric name and
 * count (u64), followed by its records in position order, each as id, the
 * vector as stored and the metadata ("{}" when empty).  Integers are
 * little-endian and strings a u32 length then the bytes.  The table layout
 * itself is written by fmt_sqlite.c (SCHEMA_SQL) and read by
 * fmt_sqlite_read.c, both after docs/format-sqlite.md.
 */
#ifndef VS_FMT_SQLITE_INT_H
#define VS_FMT_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checksum.h"
#include "fmt.h"

/* Vectors are stored as little-endian float32: the host's own order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fmt_sqlite stores floats in host order: little-endian only");

#define VS_FMT__SQLITE_VERSION 1         /* PRAGMA user_version, meta.version */
#define VS_FMT__SQLITE_APP_ID 0x76736e70 /* "vsnp", PRAGMA application_id */

/* Translate a SQLite result code.  Loading (`loading`): anything but memory
 * and I/O is the file's fault, VS_ECORRUPT; saving: VS_ERROR for logic
 * errors.  The message names `path` and `what` was being done. */
int vs_fmt__sqlite_error(sqlite3 *db, int rc, bool loading, const char *path,
                         const char *what);

/* The content stream, piece by piece, in the order described above. */
void vs_fmt__sqlite_hash_head(vs_sha256 *h, uint64_t seq,
                              uint32_t ncollections);
void vs_fmt__sqlite_hash_collection(vs_sha256 *h, const char *name,
                                    size_t name_len, uint32_t dim,
                                    const char *metric, uint64_t count);
/* `vec` is the vector as stored: dim * 4 bytes, float32 little-endian. */
void vs_fmt__sqlite_hash_record(vs_sha256 *h, const char *id, size_t id_len,
                                const void *vec, size_t vec_bytes,
                                const char *md, size_t md_len);

/* vs_fmt__progress when `fn` is set, else 0. */
int vs_fmt__sqlite_progress(vs_progress_fn fn, void *payload, uint64_t done,
                            uint64_t total);

#endif
