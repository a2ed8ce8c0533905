/*
 * store_int: private to the store module (store.c, store_index.c,
 * store_search.c); nothing outside src/store*.c includes it.  It holds the
 * layout of a store and of a collection, and the vs_store__* helpers the
 * three files share.
 *
 * Layout of a collection (all arrays indexed by slot, `cap` long):
 *   vec      count * dimension floats, contiguous, grown with realloc;
 *   inv      1 / |v| per slot (cosine collections only), set at upsert;
 *   blob     one allocation per record: "id\0" followed by "metadata\0"
 *            unless the metadata is "{}", which is stored as metalen 0;
 *   idlen, metalen, seq;
 *   ids      open-addressing hash, linear probing, id -> slot.  An entry is
 *            (upper 32 bits of the id hash << 32) | (slot + 1), 0 = empty;
 *            the table is at most half full; removal shifts entries back
 *            (no hash tombstones).  A collection holds at most 2^31 records.
 *   tomb     deletions, oldest first, with `tombs` the same kind of table
 *            from id to tombstone index.
 * Deleting a record moves the last slot into the hole (swap-remove), so slot
 * order is insertion order disturbed only by deletes.
 *
 * Collections of a store form a singly linked list in name order; `idx` is
 * an array view of that list for O(1) vs_store_at and binary search.  It is
 * rebuilt after every change; when vs_store_merge_take (which must not fail)
 * cannot allocate it, idx is dropped and lookups walk the list until the next
 * vs_store_create rebuilds it.
 */
#ifndef VS_STORE_INT_H
#define VS_STORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

#define VS_STORE__NONE ((size_t)-1) /* "no such slot / tombstone" */
#define VS_STORE__QUOTE_MAX 48      /* id bytes shown in a message */
#define VS_STORE__QUOTE_SIZE (4 * VS_STORE__QUOTE_MAX + 16) /* its buffer */

typedef struct vs_store__table {
    uint64_t *e;
    size_t cap; /* 0 or a power of two */
} vs_store__table;

struct vs_collection {
    char name[VS_NAME_MAX + 1];
    uint32_t dim;
    vs_metric metric;
    uint64_t created; /* seq of the write that created it (see store.c) */
    vs_store *st;
    vs_collection *next;
    size_t count;
    size_t cap;
    float *vec;
    float *inv;
    char **blob;
    uint16_t *idlen;
    uint32_t *metalen;
    uint64_t *seq;
    vs_store__table ids;
    uint64_t blob_bytes;
    vs_tombstone *tomb;
    size_t ntomb;
    size_t tombcap;
    vs_store__table tombs;
    uint64_t tomb_bytes;
};

struct vs_store {
    pthread_rwlock_t lock;
    uint64_t seq;
    vs_collection *head;
    size_t n;
    vs_collection **idx;
    size_t idxcap;
};

/* ---- store_index.c: keys and lookup ------------------------------------- */

/* Renders bytes for a message between single quotes into buf and returns
 * buf; a buffer of VS_STORE__QUOTE_SIZE bytes holds the longest rendering. */
const char *vs_store__quote(char *buf, size_t size, const char *s, size_t len);
/* Describes what is wrong with an id into why[]; 0 when nothing is, else -1
 * (no error is set). */
int vs_store__id_problem(char *why, size_t size, const char *id, size_t len);

/* Draws the hash key (once per process; vs_store_new calls it). */
void vs_store__hash_init(void);
uint64_t vs_store__hash_id(const char *s, size_t n);

/* Table entries: the tag (upper 32 bits of the hash) and the index. */
static inline uint32_t vs_store__tag_of(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

static inline size_t vs_store__entry_index(uint64_t e)
{
    return (size_t)(uint32_t)e - 1;
}

/* Slot of a live id, or VS_STORE__NONE; *pos_out (may be NULL) gets its
 * position in c->ids.  Inline: it is on the path of every get, upsert and
 * delete. */
static inline size_t vs_store__find_slot(const vs_collection *c, uint64_t h,
                                         const char *id, size_t len,
                                         size_t *pos_out)
{
    const vs_store__table *t = &c->ids;
    if (!t->cap)
        return VS_STORE__NONE;
    size_t mask = t->cap - 1;
    uint32_t tag = vs_store__tag_of(h);
    size_t pos = tag & mask;
    for (;;) {
        uint64_t x = t->e[pos];
        if (!x)
            return VS_STORE__NONE;
        if ((uint32_t)(x >> 32) == tag) {
            size_t slot = vs_store__entry_index(x);
            if (c->idlen[slot] == len && memcmp(c->blob[slot], id, len) == 0) {
                if (pos_out)
                    *pos_out = pos;
                return slot;
            }
        }
        pos = (pos + 1) & mask;
    }
}

/* Tables: grow so that n entries keep it at most half full (VS_ENOMEM);
 * insert a key known to be absent (room reserved); remove the entry at a
 * position; empty it without freeing. */
int vs_store__table_reserve(vs_store__table *t, size_t n);
void vs_store__table_insert(vs_store__table *t, uint64_t h, size_t index);
void vs_store__table_remove_at(vs_store__table *t, size_t pos);
void vs_store__table_clear(vs_store__table *t);

/* Index of the tombstone of an id, or VS_STORE__NONE; *pos_out gets its
 * position in c->tombs. */
size_t vs_store__find_tomb(const vs_collection *c, uint64_t h, const char *id,
                           size_t len, size_t *pos_out);
/* The record in slot `from` is moving to slot `to`: repoint its c->ids entry
 * (call before c->blob[from] changes). */
void vs_store__ids_move(vs_collection *c, size_t from, size_t to);
/* Adds record i of a batch (id hash h) to the batch table t, unless an
 * earlier record has the same id: then returns that record's index and adds
 * nothing.  VS_STORE__NONE when added. */
size_t vs_store__batch_add(vs_store__table *t, const vs_record *recs, size_t i,
                           uint64_t h);

/* The collection directory of a store: make room in idx for n collections
 * (VS_ENOMEM), and refill idx from the list (room reserved, or idx absent:
 * then idx is dropped). */
int vs_store__index_reserve(vs_store *st, size_t n);
void vs_store__index_fill(vs_store *st);

/* ---- store_search.c: vector numerics ------------------------------------ */

/* 1 when all n values are finite; else 0 and *bad gets the first bad one. */
int vs_store__vector_finite(const float *v, size_t n, size_t *bad);
/* 1 / |v| computed in double; 0 for norms below FLT_MIN. */
float vs_store__inv_norm(const float *v, size_t n);

#endif
