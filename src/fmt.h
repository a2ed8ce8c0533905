/*
 * fmt: saving and loading a whole store, in one of three formats (binary,
 * json, sqlite) under one of four codecs, with a SHA-256 on everything
 * written and verified on every read.  Also reads the state files written by
 * ruvector-extensions' DatabasePersistence (as a collection named "default").
 *
 * Loading always builds a NEW store and hands it over only when the whole
 * input was read and verified: a failed load never leaves a half-loaded
 * store.  (The one exception is applying an incremental binary document to
 * a store the caller names, vs_load_options.apply_to: the caller rebuilds
 * that store privately and discards it on failure.)  Every length and
 * count read from input is checked against a cap before it is trusted.
 *
 * Layers: per-format functions (fmt_bin.c, fmt_json.c + fmt_json_read.c,
 * fmt_sqlite.c, fmt_ruvector.c) work on streams (sqlite on paths); fmt.c adds
 * detection, codecs, atomic files and file-level checksums on top.
 */
#ifndef VS_FMT_H
#define VS_FMT_H

#include <stdbool.h>
#include <stdint.h>

#include "checksum.h"
#include "codec.h"
#include "store.h"
#include "stream.h"

typedef enum vs_format_id {
    VS_FORMAT_BIN = 0,
    VS_FORMAT_JSON = 1,
    VS_FORMAT_SQLITE = 2,
    VS_FORMAT_RUVECTOR = 3, /* read only */
    VS_FORMAT_AUTO = 255    /* for loaders: detect */
} vs_format_id;

const char *vs_format_name(vs_format_id f); /* "binary", "json", ... */
/* "binary"/"bin", "json", "sqlite"; VS_EINVALID. */
int vs_format_parse(vs_format_id *out, const char *name);
/* The usual file suffix: ".vsnap", ".json", ".sqlite". */
const char *vs_format_suffix(vs_format_id f);

/* Progress: called now and then with records done and the total; a non-zero
 * return cancels the operation (VS_ECANCELLED). */
typedef int (*vs_progress_fn)(void *payload, uint64_t done, uint64_t total);

typedef struct vs_save_options {
    int version;
    vs_format_id format;
    vs_codec_id codec;
    int level; /* -1: the codec's default */
    /* Only these collections (NULL: all); unknown names are VS_ENOTFOUND. */
    const char *const *collections;
    size_t ncollections;
    /* Directory for work files (sqlite to a stream); NULL: $TMPDIR or /tmp */
    const char *tmpdir;
    vs_progress_fn progress;
    void *payload;
    /* Incremental (binary only, the whole store): write which collections
     * exist, and what changed since seq `since_seq`: the records and
     * tombstones with a seq above it, and whole the collections created
     * after it (docs/FORMAT.md, "Incremental documents"). */
    bool incremental;
    uint64_t since_seq;
    /* A 32-byte AES-256 key: the stored file is encrypted (crypt.h), the
     * outermost layer, after the codec.  NULL: plain. */
    const uint8_t *key;
} vs_save_options;

#define VS_SAVE_OPTIONS_VERSION 1
#define VS_SAVE_OPTIONS_INIT                                                  \
    {VS_SAVE_OPTIONS_VERSION, VS_FORMAT_BIN, VS_CODEC_NONE, -1, NULL, 0,      \
     NULL, NULL, NULL, false, 0, NULL}

typedef struct vs_load_options {
    int version;
    vs_format_id format; /* VS_FORMAT_AUTO: detect from content */
    vs_codec_id codec;   /* VS_CODEC_AUTO: detect (brotli by name_hint) */
    /* A file name used for brotli's suffix and ruvector-extensions names. */
    const char *name_hint;
    /* Cap on decompressed bytes (0: none). */
    uint64_t max_bytes;
    const char *tmpdir;
    vs_progress_fn progress;
    void *payload;
    /* The 32-byte key that decrypts an encrypted file (detected by its
     * magic).  NULL: an encrypted file is refused with VS_EKEY, as is a wrong key. */
    const uint8_t *key;
    /* Incremental documents.  NULL: one is refused (VS_EINVALID), since
     * only its snapshot chain makes a store of it.  Set: the document's
     * changes are applied to this store (its parent's state) instead of a
     * new store being built; *out stays NULL, and on failure `apply_to` is
     * left half-changed (the caller discards it).  A full document is then
     * refused. */
    vs_store *apply_to;
    /* With apply_to NULL: read an incremental document as a new store of
     * its changes alone (the collections it lists holding the records it
     * carries; its deletions only counted), for inspecting one file. */
    bool delta;
} vs_load_options;

#define VS_LOAD_OPTIONS_VERSION 1
#define VS_LOAD_OPTIONS_INIT                                                  \
    {VS_LOAD_OPTIONS_VERSION, VS_FORMAT_AUTO, VS_CODEC_AUTO, NULL, 0, NULL,   \
     NULL, NULL, NULL, NULL, false}

/* What a save wrote or a load read. */
typedef struct vs_file_info {
    vs_format_id format;
    vs_codec_id codec;
    uint64_t bytes;                /* bytes of the file / stream as stored */
    uint8_t sha256[VS_SHA256_LEN]; /* SHA-256 of those bytes */
    /* The embedded content checksum was present and matched.  False for
     * ruvector-extensions files (their checksum covers a JavaScript
     * re-serialisation this program cannot reproduce). */
    bool content_verified;
    uint64_t seq;     /* the store's sequence number saved in the file */
    uint64_t records; /* records across all collections */
    uint32_t ncollections;
    /* An incremental document: the changes since seq `since_seq` (records
     * and ncollections are then those of the state it leads to, or of the
     * changes alone when loaded with `delta`). */
    bool incremental;
    uint64_t since_seq;
    uint64_t changed; /* records it carries */
    uint64_t deleted; /* deletions it carries */
    bool encrypted;   /* the file as stored is encrypted */
} vs_file_info;

/* ---- file level (fmt.c) ---- */

/* Save to `path` atomically (temp, fsync, rename, fsync dir): on failure
 * `path` is untouched and no temp file stays.  `info` (may be NULL) gets the
 * size and SHA-256 of the file written. */
int vs_fmt_save_file(vs_file_info *info, const char *path, vs_store *st,
                     const vs_save_options *opts) VS_WARN_UNUSED;
/* Save to a writer (stdout, an HTTP body): codec applied, `out` is finished
 * too (flushed; fsync if it is a file writer created so). */
int vs_fmt_save_stream(vs_file_info *info, vs_stream *out, vs_store *st,
                       const vs_save_options *opts) VS_WARN_UNUSED;
/* Load a file; on success *out is a new store the caller frees. */
int vs_fmt_load_file(vs_store **out, vs_file_info *info, const char *path,
                     const vs_load_options *opts) VS_WARN_UNUSED;
int vs_fmt_load_stream(vs_store **out, vs_file_info *info, vs_stream *in,
                       const vs_load_options *opts) VS_WARN_UNUSED;
/* Detect format and codec from the first bytes (and name hint). */
int vs_fmt_detect(vs_format_id *format, vs_codec_id *codec,
                  const uint8_t *head, size_t n, const char *name_hint);

/* ---- per format (uncompressed streams) ---- */

/* Binary: fmt_bin.c, specified in docs/FORMAT.md.  `shuffle` stores vector
 * blocks as byte planes (chosen by fmt.c when a codec is on).  When `out` is
 * a hash stage (vs_stream_is_hash), its running digest is used for the
 * trailer instead of hashing twice.  opts->incremental writes an
 * incremental document: its cost follows the size of the change (plus one
 * scan of the seq array), not of the store. */
int vs_fmt_bin_save(vs_stream *out, vs_store *st, const vs_save_options *opts,
                    bool shuffle) VS_WARN_UNUSED;
/* Reads one binary document from `in` (positioned just after nothing: the
 * magic is read here), verifying the trailer.  When `in` is a hash stage its
 * digest is used.  `size_hint` (0: unknown) bounds preallocation. */
int vs_fmt_bin_load(vs_store **out, vs_file_info *info, vs_stream *in,
                    uint64_t size_hint,
                    const vs_load_options *opts) VS_WARN_UNUSED;

/* JSON: fmt_json.c (writer), fmt_json_read.c (streaming reader). */
int vs_fmt_json_save(vs_stream *out, vs_store *st,
                     const vs_save_options *opts) VS_WARN_UNUSED;
int vs_fmt_json_load(vs_store **out, vs_file_info *info, vs_stream *in,
                     const vs_load_options *opts) VS_WARN_UNUSED;

/* ruvector-extensions DatabasePersistence state (JSON): fmt_ruvector.c. */
int vs_fmt_ruvector_load(vs_store **out, vs_file_info *info, vs_stream *in,
                         const vs_load_options *opts) VS_WARN_UNUSED;

/* SQLite: fmt_sqlite.c (save), fmt_sqlite_read.c (load), on paths (SQLite needs a file).  Save writes a new
 * database at `path` (which must not exist; fmt.c gives a temp path). */
int vs_fmt_sqlite_save(const char *path, vs_store *st,
                       const vs_save_options *opts) VS_WARN_UNUSED;
int vs_fmt_sqlite_load(vs_store **out, vs_file_info *info, const char *path,
                       const vs_load_options *opts) VS_WARN_UNUSED;

/* Shared by the format files: the collections a save covers, resolved from
 * opts (VS_ENOTFOUND for an unknown name, VS_EINVALID for one named twice).
 * *out is malloc'd (caller frees), borrowed collection pointers: all of
 * them in name order, or the named ones in the order named. */
int vs_fmt__select(vs_collection ***out, size_t *n, vs_store *st,
                   const vs_save_options *opts) VS_WARN_UNUSED;
/* Shared by fmt_json_read.c and fmt_ruvector.c: one streaming parser reads
 * both our json document and ruvector-extensions state files; `shape`
 * restricts it to the latter. */
enum { VS_JSON_SHAPE_ANY = 0, VS_JSON_SHAPE_RUVECTOR = 1 };
int vs_fmt__json_load_shape(vs_store **out, vs_file_info *info,
                            vs_stream *in, const vs_load_options *opts,
                            int shape) VS_WARN_UNUSED;
/* Metric and version fields of ruvector-extensions files (VS_ECORRUPT). */
int vs_fmt__ruvector_metric(vs_metric *out, const char *name, size_t len);
int vs_fmt__ruvector_version(const char *text, size_t len);

/* Shared by fmt.c and fmt_bin.c: what an incremental save of `st` since
 * seq `since` carries (records and deletions). */
void vs_fmt__changes(uint64_t *records, uint64_t *deleted, vs_store *st,
                     uint64_t since);

/* Shared: call opts' progress every so often; VS_ECANCELLED when it asks. */
int vs_fmt__progress(vs_progress_fn fn, void *payload, uint64_t done,
                     uint64_t total) VS_WARN_UNUSED;

#endif
