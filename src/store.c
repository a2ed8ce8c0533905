/*
 * store: the store and its collections.  It owns their lifecycle (the lock,
 * the sequence counter, create/drop, merge and swap), the record arrays of a
 * collection and their growth, the write path (validating and committing
 * upsert/load batches, delete), tombstones, get, and the accessors.  Lookup
 * by key lives in store_index.c, vector numerics and k-NN search in
 * store_search.c, the shared layout in store_int.h.
 *
 * Decisions:
 * - sequence numbers: every write that changes something advances the store
 *   counter by one and stamps what it wrote.  A batch that changes nothing
 *   (n == 0, or a delete whose ids are all absent) does not advance it.
 *   vs_store_merge_take and vs_store_swap set the counter of the store(s)
 *   they change to max(both counters) + 1; moved records keep their seq.
 *   vs_collection_load and vs_collection_apply stamp the seq they are given
 *   and leave the counter alone (loaders finish with vs_store_set_seq;
 *   appliers of a change set with vs_store_set_seq_exact, since the
 *   collections they created moved the counter on their own).
 * - creation seq: vs_store_create stamps a collection with the seq of its
 *   own write; vs_store_merge_take stamps the collections it moves in with
 *   the merge's seq (they replace whatever had that name: new as a whole);
 *   vs_store_swap leaves them (the state is the other store's, unchanged).
 * - tombstones: deleting a live id adds a tombstone (id, seq); upserting
 *   (or loading) an id that has a tombstone removes the tombstone.  Invariant:
 *   an id is either live or has at most one tombstone, never both.  So
 *   "records with seq > S" plus "tombstones with seq > S" is a correct
 *   incremental change set, applicable in any order.  Tombstones are kept
 *   oldest first and are never discarded while the collection exists.
 * - bad ids are refused by delete as well as by upsert.  Ids, tombstone ids
 *   and metadata handed out are NUL-terminated (not counted in their
 *   lengths).
 * - the lock prefers writers (glibc), so a thread must never take the read
 *   lock twice: a waiting writer would deadlock it.
 */
#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#define RECORDS_MAX ((size_t)1 << 31)

/* ---- metrics ------------------------------------------------------------ */

static const char *const metric_names[] = {"cosine", "euclidean", "dot"};

const char *vs_metric_name(vs_metric m)
{
    if ((unsigned)m < sizeof(metric_names) / sizeof(metric_names[0]))
        return metric_names[m];
    return "unknown";
}

int vs_metric_parse(vs_metric *out, const char *name)
{
    char q[VS_STORE__QUOTE_SIZE];

    if (!name)
        return vs_error_set(VS_EINVALID, "metric is missing");
    for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]);
         i++) {
        if (strcmp(name, metric_names[i]) == 0) {
            *out = (vs_metric)i;
            return 0;
        }
    }
    return vs_error_set(VS_EINVALID,
                        "unknown metric %s (expected cosine, euclidean or dot)",
                        vs_store__quote(q, sizeof(q), name, strlen(name)));
}

/* ---- store -------------------------------------------------------------- */

int vs_store_new(vs_store **out)
{
    int error = 0;
    pthread_rwlockattr_t attr;
    vs_store *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (!st)
        return vs_error_oom();
    vs_store__hash_init();
    if (pthread_rwlockattr_init(&attr) != 0) {
        error = vs_error_set(VS_ERROR, "cannot initialise store lock");
        goto done;
    }
#ifdef __GLIBC__
    /* writers must not starve behind a steady stream of searches */
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    if (pthread_rwlock_init(&st->lock, &attr) != 0)
        error = vs_error_set(VS_ERROR, "cannot initialise store lock");
    pthread_rwlockattr_destroy(&attr);
done:
    if (error < 0) {
        free(st);
        return error;
    }
    *out = st;
    return 0;
}

static void collection_free(vs_collection *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->blob[i]);
    for (size_t i = 0; i < c->ntomb; i++)
        free(c->tomb[i].id);
    free(c->vec);
    free(c->inv);
    free(c->blob);
    free(c->idlen);
    free(c->metalen);
    free(c->seq);
    free(c->ids.e);
    free(c->tomb);
    free(c->tombs.e);
    free(c);
}

void vs_store_free(vs_store *st)
{
    if (!st)
        return;
    vs_collection *c = st->head;
    while (c) {
        vs_collection *next = c->next;
        collection_free(c);
        c = next;
    }
    free(st->idx);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

void vs_store_rdlock(vs_store *st)
{
    if (pthread_rwlock_rdlock(&st->lock) != 0) {
        vs_log(VS_LOG_ERROR, "store: cannot take the read lock");
        abort();
    }
}

void vs_store_wrlock(vs_store *st)
{
    if (pthread_rwlock_wrlock(&st->lock) != 0) {
        vs_log(VS_LOG_ERROR, "store: cannot take the write lock");
        abort();
    }
}

void vs_store_unlock(vs_store *st)
{
    if (pthread_rwlock_unlock(&st->lock) != 0) {
        vs_log(VS_LOG_ERROR, "store: cannot release the lock");
        abort();
    }
}

uint64_t vs_store_seq(const vs_store *st)
{
    return st->seq;
}

void vs_store_set_seq(vs_store *st, uint64_t seq)
{
    if (seq > st->seq)
        st->seq = seq;
}

void vs_store_set_seq_exact(vs_store *st, uint64_t seq)
{
    st->seq = seq;
    for (vs_collection *c = st->head; c; c = c->next)
        if (c->created > seq)
            c->created = seq;
}

int vs_store_create(vs_collection **out, vs_store *st, const char *name,
                    uint32_t dimension, vs_metric metric)
{
    int error = 0;
    vs_collection *c = NULL;
    vs_collection **link;

    if (out)
        *out = NULL;
    error = vs_store_check_name(name);
    if (error < 0)
        goto done;
    if (dimension < 1 || dimension > VS_DIM_MAX) {
        error = vs_error_set(VS_EINVALID,
                             "collection '%s': dimension %u is outside 1 to %d",
                             name, dimension, VS_DIM_MAX);
        goto done;
    }
    if ((unsigned)metric > VS_METRIC_DOT) {
        error = vs_error_set(VS_EINVALID, "collection '%s': unknown metric %d",
                             name, (int)metric);
        goto done;
    }
    if (vs_store_find(st, name)) {
        error =
            vs_error_set(VS_EEXISTS, "collection '%s' already exists", name);
        goto done;
    }
    error = vs_store__index_reserve(st, st->n + 1);
    if (error < 0)
        goto done;
    c = calloc(1, sizeof(*c));
    if (!c) {
        error = vs_error_oom();
        goto done;
    }
    memcpy(c->name, name, strlen(name) + 1);
    c->dim = dimension;
    c->metric = metric;
    c->st = st;
    link = &st->head;
    while (*link && strcmp((*link)->name, name) < 0)
        link = &(*link)->next;
    c->next = *link;
    *link = c;
    st->n++;
    vs_store__index_fill(st);
    st->seq++;
    c->created = st->seq;
    if (out)
        *out = c;
done:
    return error;
}

int vs_store_drop(vs_store *st, const char *name)
{
    vs_collection **link = &st->head;

    while (*link && (!name || strcmp((*link)->name, name) != 0))
        link = &(*link)->next;
    if (!*link || !name) {
        char q[VS_STORE__QUOTE_SIZE];
        return vs_error_set(
            VS_ENOTFOUND, "no collection %s",
            name ? vs_store__quote(q, sizeof(q), name, strlen(name)) : "''");
    }
    vs_collection *c = *link;
    *link = c->next;
    st->n--;
    vs_store__index_fill(st);
    collection_free(c);
    st->seq++;
    return 0;
}

uint64_t vs_store_nrecords(const vs_store *st)
{
    uint64_t n = 0;
    for (const vs_collection *c = st->head; c; c = c->next)
        n += c->count;
    return n;
}

static uint64_t collection_bytes(const vs_collection *c)
{
    uint64_t per_slot = (uint64_t)c->dim * sizeof(float) + sizeof(char *) +
                        sizeof(uint16_t) + sizeof(uint32_t) + sizeof(uint64_t);
    if (c->inv)
        per_slot += sizeof(float);
    return sizeof(*c) + per_slot * c->cap + c->ids.cap * sizeof(uint64_t) +
           c->blob_bytes + c->tombcap * sizeof(vs_tombstone) +
           c->tombs.cap * sizeof(uint64_t) + c->tomb_bytes;
}

uint64_t vs_store_bytes(const vs_store *st)
{
    uint64_t n = sizeof(*st) + st->idxcap * sizeof(*st->idx);
    for (const vs_collection *c = st->head; c; c = c->next)
        n += collection_bytes(c);
    return n;
}

void vs_store_merge_take(vs_store *dst, vs_store *src)
{
    vs_collection *a = dst->head;
    vs_collection *b = src->head;
    vs_collection *head = NULL;
    vs_collection **tail = &head;
    size_t n = 0;
    uint64_t seq = (dst->seq > src->seq ? dst->seq : src->seq) + 1;

    if (!b || dst == src)
        return;
    while (a || b) {
        vs_collection *pick;
        int r = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);
        if (r < 0) {
            pick = a;
            a = a->next;
        } else {
            pick = b;
            b = b->next;
            pick->st = dst;
            pick->created = seq;
            if (r == 0) {
                vs_collection *old = a;
                a = a->next;
                collection_free(old);
            }
        }
        *tail = pick;
        tail = &pick->next;
        n++;
    }
    *tail = NULL;
    dst->head = head;
    dst->n = n;
    if (vs_store__index_reserve(dst, n) < 0) {
        vs_error_clear();
        free(dst->idx);
        dst->idx = NULL;
        dst->idxcap = 0;
    }
    vs_store__index_fill(dst);
    src->head = NULL;
    src->n = 0;
    vs_store__index_fill(src);
    dst->seq = seq;
}

void vs_store_swap(vs_store *a, vs_store *b)
{
    vs_collection *head = a->head;
    vs_collection **idx = a->idx;
    size_t n = a->n, idxcap = a->idxcap;
    uint64_t seq = (a->seq > b->seq ? a->seq : b->seq) + 1;

    if (a == b)
        return;
    a->head = b->head;
    a->idx = b->idx;
    a->n = b->n;
    a->idxcap = b->idxcap;
    b->head = head;
    b->idx = idx;
    b->n = n;
    b->idxcap = idxcap;
    for (vs_collection *c = a->head; c; c = c->next)
        c->st = a;
    for (vs_collection *c = b->head; c; c = c->next)
        c->st = b;
    a->seq = seq;
    b->seq = seq;
}

/* ---- collection accessors ----------------------------------------------- */

const char *vs_collection_name(const vs_collection *c)
{
    return c->name;
}

uint32_t vs_collection_dimension(const vs_collection *c)
{
    return c->dim;
}

vs_metric vs_collection_metric(const vs_collection *c)
{
    return c->metric;
}

size_t vs_collection_count(const vs_collection *c)
{
    return c->count;
}

static size_t blob_size(size_t idlen, size_t metalen)
{
    return idlen + 1 + (metalen ? metalen + 1 : 0);
}

static void fill_record(vs_record *out, const vs_collection *c, size_t slot)
{
    const char *b = c->blob[slot];
    out->id = b;
    out->id_len = c->idlen[slot];
    out->vector = c->vec + slot * c->dim;
    if (c->metalen[slot]) {
        out->metadata = b + out->id_len + 1;
        out->metadata_len = c->metalen[slot];
    } else {
        out->metadata = "{}";
        out->metadata_len = 2;
    }
}

void vs_collection_slot(vs_record *out, const vs_collection *c, size_t slot)
{
    fill_record(out, c, slot);
}

uint64_t vs_collection_slot_seq(const vs_collection *c, size_t slot)
{
    return c->seq[slot];
}

const float *vs_collection_vectors(const vs_collection *c)
{
    return c->vec;
}

size_t vs_collection_ntombstones(const vs_collection *c)
{
    return c->ntomb;
}

uint64_t vs_collection_created_seq(const vs_collection *c)
{
    return c->created;
}

size_t vs_collection_count_since(const vs_collection *c, uint64_t since)
{
    size_t n = 0;
    for (size_t i = 0; i < c->count; i++)
        n += c->seq[i] > since;
    return n;
}

size_t vs_collection_tombstones_since(const vs_collection *c, uint64_t since)
{
    size_t lo = 0, hi = c->ntomb;
    while (lo < hi) { /* oldest first: seqs ascend */
        size_t mid = lo + (hi - lo) / 2;
        if (c->tomb[mid].seq > since)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

const vs_tombstone *vs_collection_tombstone(const vs_collection *c, size_t i)
{
    return i < c->ntomb ? &c->tomb[i] : NULL;
}

int vs_collection_get(vs_record *out, const vs_collection *c, const char *id,
                      size_t id_len)
{
    size_t slot = VS_STORE__NONE;

    if (id && id_len && id_len <= VS_ID_MAX)
        slot = vs_store__find_slot(c, vs_store__hash_id(id, id_len), id, id_len,
                                   NULL);
    if (slot == VS_STORE__NONE) {
        char q[VS_STORE__QUOTE_SIZE];
        return vs_error_set(VS_ENOTFOUND, "no record %s in collection '%s'",
                            vs_store__quote(q, sizeof(q), id, id_len), c->name);
    }
    fill_record(out, c, slot);
    return 0;
}

/* ---- growth ------------------------------------------------------------- */

#define GROW(field, cap)                                                       \
    do {                                                                       \
        void *p_ = realloc(c->field, (cap) * sizeof(*c->field));               \
        if (!p_) {                                                             \
            error = vs_error_oom();                                            \
            goto done;                                                         \
        }                                                                      \
        c->field = p_;                                                         \
    } while (0)

/* Room for `need` records; `exact` allocates just that, otherwise grows
 * geometrically.  Nothing observable changes.  VS_ETOOBIG, VS_ENOMEM. */
static int grow(vs_collection *c, size_t need, int exact)
{
    int error = 0;
    size_t cap = need;

    if (need > RECORDS_MAX) {
        error = vs_error_set(VS_ETOOBIG,
                             "collection '%s' cannot hold more than %zu "
                             "records",
                             c->name, RECORDS_MAX);
        goto done;
    }
    if (need > c->cap) {
        if (!exact) {
            size_t g = c->cap + c->cap / 2;
            if (g > cap)
                cap = g;
            if (cap < 16)
                cap = 16;
            if (cap > RECORDS_MAX)
                cap = RECORDS_MAX;
        }
        if (cap > SIZE_MAX / sizeof(float) / c->dim) {
            error = vs_error_oom();
            goto done;
        }
        void *v = realloc(c->vec, cap * c->dim * sizeof(float));
        if (!v) {
            error = vs_error_oom();
            goto done;
        }
        c->vec = v;
        if (c->metric == VS_METRIC_COSINE)
            GROW(inv, cap);
        GROW(blob, cap);
        GROW(idlen, cap);
        GROW(metalen, cap);
        GROW(seq, cap);
        c->cap = cap;
    }
    error = vs_store__table_reserve(&c->ids, need);
done:
    return error;
}

int vs_collection_reserve(vs_collection *c, size_t n)
{
    return grow(c, n, 1);
}

/* ---- upsert ------------------------------------------------------------- */

typedef struct pending {
    char *blob;
    uint64_t hash;
    uint32_t metalen;
    float inv;
} pending;

/* Sets the error for record i of a batch: "record 3 (id 'x'): <what>". */
static int record_error(int code, size_t i, const vs_record *r,
                        const char *what)
{
    char q[VS_STORE__QUOTE_SIZE];
    return vs_error_set(code, "record %zu (id %s): %s", i,
                        vs_store__quote(q, sizeof(q), r->id, r->id_len), what);
}

/* Validate record i and build its blob.  scratch has room for the metadata.
 * Nothing in the collection changes. */
static int prepare(pending *pd, const vs_collection *c, const vs_record *r,
                   size_t i, char *scratch)
{
    char why[512];
    size_t bad = 0, mlen = 0;
    int error = 0;

    if (vs_store__id_problem(why, sizeof(why), r->id, r->id_len) < 0) {
        error = vs_error_set(VS_EINVALID, "record %zu: %s", i, why);
        goto done;
    }
    if (!r->vector) {
        error = record_error(VS_EINVALID, i, r, "no vector");
        goto done;
    }
    if (!vs_store__vector_finite(r->vector, c->dim, &bad)) {
        snprintf(why, sizeof(why), "vector value %zu is not finite", bad);
        error = record_error(VS_EINVALID, i, r, why);
        goto done;
    }
    if (r->metadata && r->metadata_len) {
        if (vs_jsonv_compact(scratch, &mlen, r->metadata, r->metadata_len, 1) <
            0) {
            snprintf(why, sizeof(why), "metadata: %s", vs_error_last());
            error = record_error(VS_EINVALID, i, r, why);
            goto done;
        }
        if (mlen > VS_METADATA_MAX) {
            snprintf(why, sizeof(why),
                     "metadata is %zu bytes (compacted), the limit is %d", mlen,
                     VS_METADATA_MAX);
            error = record_error(VS_ETOOBIG, i, r, why);
            goto done;
        }
        if (mlen == 2) /* the only two-byte object: "{}" */
            mlen = 0;
    }
    pd->blob = malloc(blob_size(r->id_len, mlen));
    if (!pd->blob) {
        error = vs_error_oom();
        goto done;
    }
    memcpy(pd->blob, r->id, r->id_len);
    pd->blob[r->id_len] = '\0';
    if (mlen) {
        memcpy(pd->blob + r->id_len + 1, scratch, mlen);
        pd->blob[r->id_len + 1 + mlen] = '\0';
    }
    pd->metalen = (uint32_t)mlen;
    pd->hash = vs_store__hash_id(r->id, r->id_len);
    if (c->metric == VS_METRIC_COSINE)
        pd->inv = vs_store__inv_norm(r->vector, c->dim);
done:
    return error;
}

/* Drop the tombstones whose id was freed (set to NULL), keeping the order,
 * and rebuild their table (no allocation). */
static void tombs_compact(vs_collection *c)
{
    size_t j = 0;

    for (size_t i = 0; i < c->ntomb; i++)
        if (c->tomb[i].id)
            c->tomb[j++] = c->tomb[i];
    c->ntomb = j;
    vs_store__table_clear(&c->tombs);
    for (size_t i = 0; i < c->ntomb; i++)
        vs_store__table_insert(
            &c->tombs, vs_store__hash_id(c->tomb[i].id, c->tomb[i].id_len), i);
}

/* Record i repeats an id seen earlier in the batch (load only): looks it up
 * in, or else adds it to, the batch table t. */
static int batch_repeat(vs_store__table *t, const vs_record *recs,
                        const pending *pend, size_t i)
{
    char why[64];
    size_t j = vs_store__batch_add(t, recs, i, pend[i].hash);

    if (j == VS_STORE__NONE)
        return 0;
    snprintf(why, sizeof(why), "duplicate id (also record %zu)", j);
    return record_error(VS_EINVALID, i, &recs[i], why);
}

/* How put() treats a batch. */
typedef enum put_mode {
    PUT_UPSERT, /* the next seq, advancing the counter */
    PUT_LOAD,   /* every id new, stamped `load_seq`, counter unchanged */
    PUT_APPLY   /* ids new or replaced, stamped `load_seq`, counter unchanged */
} put_mode;

static int put(vs_collection *c, const vs_record *recs, size_t n,
               put_mode mode, uint64_t load_seq)
{
    int error = 0;
    pending *pend = NULL;
    char *scratch = NULL;
    vs_store__table seen = {NULL, 0};
    size_t maxmeta = 0, nnew = 0, revived = 0;
    uint64_t seq;
    bool load = mode != PUT_UPSERT;
    const char *what = mode == PUT_UPSERT ? "upsert into"
                       : mode == PUT_LOAD ? "load into"
                                          : "apply to";

    if (n == 0)
        goto done;
    if (!recs) {
        error = vs_error_set(VS_EINVALID, "%s '%s': no records", what, c->name);
        goto done;
    }
    if (n > RECORDS_MAX) {
        error = vs_error_set(VS_ETOOBIG, "%s '%s': %zu records in one batch",
                             what, c->name, n);
        goto done;
    }
    if (load) {
        error = vs_store__table_reserve(&seen, n);
        if (error < 0)
            goto done;
    }
    pend = calloc(n, sizeof(*pend));
    if (!pend) {
        error = vs_error_oom();
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (recs[i].metadata && recs[i].metadata_len > maxmeta)
            maxmeta = recs[i].metadata_len;
    if (maxmeta) {
        scratch = malloc(maxmeta);
        if (!scratch) {
            error = vs_error_oom();
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        error = prepare(&pend[i], c, &recs[i], i, scratch);
        if (error < 0)
            goto done;
        size_t slot = vs_store__find_slot(c, pend[i].hash, recs[i].id,
                                          recs[i].id_len, NULL);
        if (slot == VS_STORE__NONE) {
            nnew++;
        } else if (mode == PUT_LOAD ||
                   (mode == PUT_APPLY && c->seq[slot] == load_seq)) {
            error = record_error(VS_EINVALID, i, &recs[i],
                                 mode == PUT_LOAD
                                     ? "duplicate id (already in the "
                                       "collection)"
                                     : "duplicate id (already applied)");
            goto done;
        }
        if (load) {
            error = batch_repeat(&seen, recs, pend, i);
            if (error < 0)
                goto done;
        }
    }
    if (nnew > RECORDS_MAX - c->count) {
        error = vs_error_set(VS_ETOOBIG,
                             "collection '%s' cannot hold more than %zu "
                             "records",
                             c->name, RECORDS_MAX);
        goto done;
    }
    error = grow(c, c->count + nnew, 0);
    if (error < 0)
        goto done;

    /* commit: nothing below can fail */
    seq = load ? load_seq : c->st->seq + 1;
    for (size_t i = 0; i < n; i++) {
        const vs_record *r = &recs[i];
        pending *pd = &pend[i];
        size_t pos;
        size_t slot = vs_store__find_slot(c, pd->hash, r->id, r->id_len, NULL);
        if (slot != VS_STORE__NONE) {
            c->blob_bytes -= blob_size(c->idlen[slot], c->metalen[slot]);
            free(c->blob[slot]);
        } else {
            slot = c->count++;
            vs_store__table_insert(&c->ids, pd->hash, slot);
            size_t t = vs_store__find_tomb(c, pd->hash, r->id, r->id_len, &pos);
            if (t != VS_STORE__NONE) {
                vs_store__table_remove_at(&c->tombs, pos);
                c->tomb_bytes -= c->tomb[t].id_len + 1;
                free(c->tomb[t].id);
                c->tomb[t].id = NULL;
                revived++;
            }
        }
        c->blob[slot] = pd->blob;
        pd->blob = NULL;
        c->idlen[slot] = (uint16_t)r->id_len;
        c->metalen[slot] = pd->metalen;
        c->seq[slot] = seq;
        c->blob_bytes += blob_size(r->id_len, pd->metalen);
        memcpy(c->vec + slot * c->dim, r->vector, c->dim * sizeof(float));
        if (c->inv)
            c->inv[slot] = pd->inv;
    }
    if (revived)
        tombs_compact(c);
    if (!load)
        c->st->seq = seq;
done:
    if (pend)
        for (size_t i = 0; i < n; i++)
            free(pend[i].blob);
    free(pend);
    free(scratch);
    free(seen.e);
    return error;
}

int vs_collection_upsert(vs_collection *c, const vs_record *recs, size_t n)
{
    return put(c, recs, n, PUT_UPSERT, 0);
}

int vs_collection_load(vs_collection *c, const vs_record *recs, size_t n,
                       uint64_t seq)
{
    return put(c, recs, n, PUT_LOAD, seq);
}

int vs_collection_apply(vs_collection *c, const vs_record *recs, size_t n,
                        uint64_t seq)
{
    return put(c, recs, n, PUT_APPLY, seq);
}

/* ---- delete ------------------------------------------------------------- */

/* Delete; `apply` stamps the tombstones with `stamp` and leaves the
 * counter alone, otherwise they get the next seq, which the counter takes. */
static int del(vs_collection *c, const vs_record *ids, size_t n,
               size_t *deleted_out, bool apply, uint64_t stamp)
{
    int error = 0;
    size_t present = 0, deleted = 0;
    char why[384];
    uint64_t seq;

    if (deleted_out)
        *deleted_out = 0;
    if (n && !ids) {
        error = vs_error_set(VS_EINVALID, "delete from '%s': no ids", c->name);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = ids[i].id;
        size_t len = ids[i].id_len;
        if (vs_store__id_problem(why, sizeof(why), id, len) < 0) {
            error = vs_error_set(VS_EINVALID, "record %zu: %s", i, why);
            goto done;
        }
        if (vs_store__find_slot(c, vs_store__hash_id(id, len), id, len, NULL) !=
            VS_STORE__NONE)
            present++;
    }
    if (!present)
        goto done;
    if (c->ntomb + present > c->tombcap) {
        size_t cap = c->tombcap + c->tombcap / 2;
        if (cap < c->ntomb + present)
            cap = c->ntomb + present;
        if (cap < 16)
            cap = 16;
        vs_tombstone *t = realloc(c->tomb, cap * sizeof(*t));
        if (!t) {
            error = vs_error_oom();
            goto done;
        }
        c->tomb = t;
        c->tombcap = cap;
    }
    error = vs_store__table_reserve(&c->tombs, c->ntomb + present);
    if (error < 0)
        goto done;

    /* commit: nothing below can fail */
    seq = apply ? stamp : c->st->seq + 1;
    for (size_t i = 0; i < n; i++) {
        const char *id = ids[i].id;
        size_t len = ids[i].id_len, pos = 0;
        uint64_t h = vs_store__hash_id(id, len);
        size_t slot = vs_store__find_slot(c, h, id, len, &pos);
        if (slot == VS_STORE__NONE)
            continue;
        vs_store__table_remove_at(&c->ids, pos);
        char *b = c->blob[slot];
        c->blob_bytes -= blob_size(c->idlen[slot], c->metalen[slot]);
        if (c->metalen[slot]) {
            char *shrunk = realloc(b, len + 1);
            if (shrunk)
                b = shrunk;
        }
        c->tomb[c->ntomb].id = b;
        c->tomb[c->ntomb].id_len = len;
        c->tomb[c->ntomb].seq = seq;
        vs_store__table_insert(&c->tombs, h, c->ntomb);
        c->ntomb++;
        c->tomb_bytes += len + 1;

        size_t last = c->count - 1;
        if (slot != last) {
            vs_store__ids_move(c, last, slot);
            c->blob[slot] = c->blob[last];
            c->idlen[slot] = c->idlen[last];
            c->metalen[slot] = c->metalen[last];
            c->seq[slot] = c->seq[last];
            if (c->inv)
                c->inv[slot] = c->inv[last];
            memcpy(c->vec + slot * c->dim, c->vec + last * c->dim,
                   c->dim * sizeof(float));
        }
        c->count--;
        deleted++;
    }
    if (!apply)
        c->st->seq = seq;
    if (deleted_out)
        *deleted_out = deleted;
done:
    return error;
}

int vs_collection_delete(vs_collection *c, const vs_record *ids, size_t n,
                         size_t *deleted_out)
{
    return del(c, ids, n, deleted_out, false, 0);
}

int vs_collection_apply_delete(vs_collection *c, const vs_record *ids,
                               size_t n, uint64_t seq, size_t *deleted_out)
{
    return del(c, ids, n, deleted_out, true, seq);
}
