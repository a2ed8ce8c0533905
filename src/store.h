/*
 * store: the in-memory database.  A store holds named collections; a
 * collection holds records (id, float32 vector, JSON-object metadata) and
 * answers exact k-nearest-neighbour queries.
 *
 * Layout (what makes saving fast): a collection keeps its vectors in one
 * contiguous float array in slot order, ids and metadata in parallel slot
 * arrays, an open-addressing hash from id to slot, and a per-slot sequence
 * number.  Deleting moves the last slot into the hole.  Slot order is the
 * iteration order; formats write and read records in that order.
 *
 * Sequence numbers: the store has one counter; every successful write
 * (create/drop collection, upsert batch, delete batch) advances it by one and
 * stamps the records it wrote with the new value.  Deletions leave a tombstone
 * (id, seq) so that an incremental save can say what disappeared, and a
 * collection remembers the seq that created it, so that one dropped and
 * created again since a save is known to be new as a whole.
 *
 * Validation happens before any change: a batch with one bad record changes
 * nothing and returns VS_EINVALID / VS_ETOOBIG with a message naming the
 * record (by index and id) and the problem.
 *
 * Threads: the store carries a reader/writer lock that callers take around
 * operations (vs_store_rdlock / vs_store_wrlock / vs_store_unlock); the store
 * functions themselves do not lock.  Lock order: store, then job table.
 */
#ifndef VS_STORE_H
#define VS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define VS_NAME_MAX 64              /* collection name: [A-Za-z0-9._-]{1,64} */
#define VS_DIM_MAX 65536            /* dimension 1 ... 65536 */
#define VS_ID_MAX 256               /* id: UTF-8, 1 ... 256 bytes */
#define VS_METADATA_MAX (64 * 1024) /* metadata: compact JSON object text */

typedef enum vs_metric {
    VS_METRIC_COSINE = 0,
    VS_METRIC_EUCLIDEAN = 1,
    VS_METRIC_DOT = 2
} vs_metric;

typedef struct vs_store vs_store;
typedef struct vs_collection vs_collection;

/* One record as handed to or read from the store.  All pointers borrowed.
 * `metadata` is JSON text of an object (NULL or length 0 means "{}"); the
 * store validates it and keeps a compact copy. */
typedef struct vs_record {
    const char *id;
    size_t id_len;
    const float *vector; /* `dimension` floats */
    const char *metadata;
    size_t metadata_len;
} vs_record;

/* A search result.  `id` and `metadata` point into the store and are valid
 * until the next write to the collection. */
typedef struct vs_hit {
    const char *id;
    size_t id_len;
    float score;
    const char *metadata;
    size_t metadata_len;
    uint32_t slot;
} vs_hit;

/* A deletion remembered for incremental saves. */
typedef struct vs_tombstone {
    char *id;
    size_t id_len;
    uint64_t seq;
} vs_tombstone;

const char *vs_metric_name(vs_metric m);
int vs_metric_parse(vs_metric *out, const char *name); /* VS_EINVALID */

/* Checks a collection name against [A-Za-z0-9._-]{1,64} and rejects "." and
 * ".."; VS_EINVALID with a message otherwise. */
int vs_store_check_name(const char *name);
/* Checks an id: 1..VS_ID_MAX bytes of valid UTF-8 without NUL. */
int vs_store_check_id(const char *id, size_t id_len);

int vs_store_new(vs_store **out) VS_WARN_UNUSED;
void vs_store_free(vs_store *st);

void vs_store_rdlock(vs_store *st);
void vs_store_wrlock(vs_store *st);
void vs_store_unlock(vs_store *st);

/* Store-wide sequence number: the value of the last write (0 when new). */
uint64_t vs_store_seq(const vs_store *st);
/* Loaders set the counter a saved store had (exactly; call it last). */
void vs_store_set_seq(vs_store *st, uint64_t seq);
/* Appliers of a change set end at its seq: the counter becomes `seq` even
 * when the collections they created took it further, and no collection
 * keeps a creation seq above it (all of them existed by then). */
void vs_store_set_seq_exact(vs_store *st, uint64_t seq);


/* VS_EINVALID (name, dimension), VS_EEXISTS. */
int vs_store_create(vs_collection **out, vs_store *st, const char *name,
                    uint32_t dimension, vs_metric metric) VS_WARN_UNUSED;
/* VS_ENOTFOUND. */
int vs_store_drop(vs_store *st, const char *name) VS_WARN_UNUSED;
/* NULL when absent (no error message set). */
vs_collection *vs_store_find(const vs_store *st, const char *name);
/* Collections in name order: index 0 .. vs_store_ncollections()-1. */
size_t vs_store_ncollections(const vs_store *st);
vs_collection *vs_store_at(const vs_store *st, size_t i);
/* Total records and bytes held (vectors + ids + metadata), for metrics. */
uint64_t vs_store_nrecords(const vs_store *st);
uint64_t vs_store_bytes(const vs_store *st);

/* Move every collection of `src` into `dst`, replacing same-named ones in
 * `dst` (merge restore).  `src` ends empty.  Never fails. */
void vs_store_merge_take(vs_store *dst, vs_store *src);
/* Exchange the contents of two stores (replace restore).  Never fails. */
void vs_store_swap(vs_store *a, vs_store *b);

const char *vs_collection_name(const vs_collection *c);
uint32_t vs_collection_dimension(const vs_collection *c);
vs_metric vs_collection_metric(const vs_collection *c);
size_t vs_collection_count(const vs_collection *c);

/* Reserve room for `n` records in total (loaders call it with a count read
 * from a file, already bounded).  VS_ENOMEM. */
int vs_collection_reserve(vs_collection *c, size_t n) VS_WARN_UNUSED;

/* Insert or replace a batch.  Validates every record first (id, finite
 * vector, metadata object within VS_METADATA_MAX); on any failure nothing
 * changes.  Duplicate ids inside one batch: the last one wins. */
int vs_collection_upsert(vs_collection *c, const vs_record *recs,
                         size_t n) VS_WARN_UNUSED;
/* For loaders: add records to a collection being rebuilt from a file,
 * stamping each with `seq`, without advancing the store's counter.  Validates
 * exactly like upsert (nothing changes on failure), and a repeated id --
 * within the batch or against records already present -- is VS_EINVALID
 * ("duplicate id"), since a saved collection never holds one twice. */
int vs_collection_load(vs_collection *c, const vs_record *recs, size_t n,
                       uint64_t seq) VS_WARN_UNUSED;
/* Delete ids; absent ids are ignored.  *deleted_out (may be NULL) gets how
 * many existed. */
int vs_collection_delete(vs_collection *c, const vs_record *ids, size_t n,
                         size_t *deleted_out) VS_WARN_UNUSED;
/* Look one id up: fills *out with borrowed pointers; VS_ENOTFOUND. */
int vs_collection_get(vs_record *out, const vs_collection *c, const char *id,
                      size_t id_len);

/* Slot access for iteration and for formats (0 <= slot < count). */
void vs_collection_slot(vs_record *out, const vs_collection *c, size_t slot);
uint64_t vs_collection_slot_seq(const vs_collection *c, size_t slot);
/* The contiguous vector array: count * dimension floats in slot order. */
const float *vs_collection_vectors(const vs_collection *c);

/* Tombstones of this collection, oldest first (so by ascending seq). */
size_t vs_collection_ntombstones(const vs_collection *c);
const vs_tombstone *vs_collection_tombstone(const vs_collection *c, size_t i);

/* ---- change sets (incremental snapshots) ----
 * What changed since seq S: a collection created after S (its creation seq
 * is above S: created, or dropped and created again, or moved in by
 * vs_store_merge_take) changed as a whole; in any other one, the records
 * with seq > S and the tombstones with seq > S. */

/* The seq of the write that created the collection (for a loaded one: at
 * most the saved seq). */
uint64_t vs_collection_created_seq(const vs_collection *c);
/* Records with seq > since (a scan of the seq array). */
size_t vs_collection_count_since(const vs_collection *c, uint64_t since);
/* Index of the first tombstone with seq > since (ntombstones when none). */
size_t vs_collection_tombstones_since(const vs_collection *c, uint64_t since);

/* For applying a change set to a store being rebuilt (a snapshot chain):
 * insert or replace records stamping them with `seq`, without advancing
 * the counter.  Validates like upsert (nothing changes on failure); an id
 * repeated within the batch, or already stamped `seq` (a change set never
 * holds an id twice), is VS_EINVALID "duplicate id". */
int vs_collection_apply(vs_collection *c, const vs_record *recs, size_t n,
                        uint64_t seq) VS_WARN_UNUSED;
/* The same for deletions: tombstones get `seq`; absent ids are ignored. */
int vs_collection_apply_delete(vs_collection *c, const vs_record *ids,
                               size_t n, uint64_t seq,
                               size_t *deleted_out) VS_WARN_UNUSED;

/* Exact k-NN.  Scores: cosine similarity (higher is closer), negative
 * euclidean distance is NOT used -- euclidean reports the distance itself
 * (lower is closer), dot the inner product (higher is closer).  Results are
 * ordered closest first; ties broken by id (bytewise ascending), so results
 * are deterministic.  `out` has room for k hits; *n_out gets min(k, count).
 * VS_EINVALID for a wrong-sized or non-finite query, k == 0 or
 * k > VS_SEARCH_K_MAX. */
#define VS_SEARCH_K_MAX 10000
int vs_collection_search(vs_hit *out, size_t *n_out, const vs_collection *c,
                         const float *query, size_t query_dim,
                         size_t k) VS_WARN_UNUSED;

#endif
