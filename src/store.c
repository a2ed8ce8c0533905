/*
 * store: collections of (id, float32 vector, JSON metadata) records with
 * exact k-nearest-neighbour search.
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
 * Deleting a record moves the last slot into the hole (swap-remove), so slot
 * order is insertion order disturbed only by deletes.
 *
 * Collections of a store form a singly linked list in name order; `idx` is
 * an array view of that list for O(1) vs_store_at and binary search.  It is
 * rebuilt after every change; when vs_store_merge_take (which must not fail)
 * cannot allocate it, idx is dropped and lookups walk the list until the next
 * vs_store_create rebuilds it.
 *
 * Decisions:
 * - sequence numbers: every write that changes something advances the store
 *   counter by one and stamps what it wrote.  A batch that changes nothing
 *   (n == 0, or a delete whose ids are all absent) does not advance it.
 *   vs_store_merge_take and vs_store_swap set the counter of the store(s)
 *   they change to max(both counters) + 1; moved records keep their seq.
 *   vs_collection_load stamps the seq it is given and leaves the counter
 *   alone (loaders finish with vs_store_set_seq).
 * - tombstones: deleting a live id adds a tombstone (id, seq); upserting
 *   (or loading) an id that has a tombstone removes the tombstone.  Invariant:
 * an id is either live or has at most one tombstone, never both.  So "records
 * with seq > S" plus "tombstones with seq > S" is a correct incremental change
 *   set, applicable in any order.  Tombstones are kept oldest first and are
 *   never discarded while the collection exists.
 * - search scores are computed in float32 with a fixed summation order (the
 *   same vector always gets the same score).  Cosine: dot(q, v) * inv(v) *
 *   inv(q); a vector whose norm is below FLT_MIN (in particular the zero
 *   vector), stored or query, has cosine 0 with everything.  Euclidean
 *   reports the distance (lower is closer).  Ties (equal float scores) are
 *   broken by id, bytewise ascending, a prefix before its extensions.  A NaN
 *   score (possible only when float products overflow) ranks last and is
 *   reported as -inf (cosine, dot) or +inf (euclidean).
 * - ids are 1..VS_ID_MAX bytes of valid UTF-8 without NUL; any other byte
 *   (control characters included) is allowed.  Bad ids are refused by
 *   delete as well as by upsert.  Ids, tombstone ids and metadata handed out
 *   are NUL-terminated (not counted in their lengths).
 * - the id hash is keyed with 64 random bits drawn once per process
 *   (getrandom), so colliding ids cannot be computed offline to flood a
 *   server's tables.  It is a fast mixing hash, not a cryptographic PRF.
 *   Iteration order is slot order, never hash order, so output stays
 *   deterministic.
 * - the lock prefers writers (glibc), so a thread must never take the read
 *   lock twice: a waiting writer would deadlock it.
 */
#include "store.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#define RECORDS_MAX ((size_t)1 << 31)
#define NONE ((size_t)-1)
#define QUOTE_MAX 48 /* id bytes shown in a message */

typedef struct table {
    uint64_t *e;
    size_t cap; /* 0 or a power of two */
} table;

struct vs_collection {
    char name[VS_NAME_MAX + 1];
    uint32_t dim;
    vs_metric metric;
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
    table ids;
    uint64_t blob_bytes;
    vs_tombstone *tomb;
    size_t ntomb;
    size_t tombcap;
    table tombs;
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

/* ---- helpers ------------------------------------------------------------ */

/* Renders bytes for a message between single quotes: printable ASCII as is,
 * anything else as \xHH, at most QUOTE_MAX bytes then "...". */
static const char *quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;

    buf[o++] = '\'';
    for (size_t i = 0; i < n && s; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 8 >= size)
            break;
        if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'') {
            buf[o++] = (char)ch;
        } else {
            snprintf(buf + o, size - o, "\\x%02x", ch);
            o += 4;
        }
    }
    buf[o++] = '\'';
    if (n < len && o + 4 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3)
            return 0;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4)
            return 0;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Describes what is wrong with an id into why[]; 0 when nothing is. */
static int id_problem(char *why, size_t size, const char *id, size_t len)
{
    char q[4 * QUOTE_MAX + 16];
    const unsigned char *p = (const unsigned char *)id;

    if (len == 0) {
        snprintf(why, size, "id is empty");
        return -1;
    }
    if (!id) {
        snprintf(why, size, "id is missing");
        return -1;
    }
    if (len > VS_ID_MAX) {
        snprintf(why, size, "id %s is %zu bytes long, the limit is %d",
                 quote(q, sizeof(q), id, len), len, VS_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < len;) {
        if (p[i] == 0) {
            snprintf(why, size, "id %s contains a NUL byte",
                     quote(q, sizeof(q), id, len));
            return -1;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (!n) {
            snprintf(why, size, "id %s is not valid UTF-8 (byte %zu)",
                     quote(q, sizeof(q), id, len), i);
            return -1;
        }
        i += n;
    }
    return 0;
}

static inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t hash_key;
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
    uint64_t k = 0;
    if (getrandom(&k, sizeof(k), 0) != (ssize_t)sizeof(k)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
            (uint64_t)ts.tv_sec ^ (uint64_t)getpid() << 32;
    }
    hash_key = k;
}

/* A fast keyed 64-bit hash for short strings: 8-byte blocks,
 * multiply-rotate rounds, splitmix64 finaliser. */
static uint64_t hash_id(const char *s, size_t n)
{
    const uint64_t p1 = 0x9e3779b97f4a7c15ULL;
    const uint64_t p2 = 0xbf58476d1ce4e5b9ULL;
    const uint64_t p3 = 0x94d049bb133111ebULL;
    uint64_t h = (p1 ^ hash_key) ^ ((uint64_t)n * p2);
    uint64_t w;

    while (n >= 8) {
        memcpy(&w, s, 8);
        h = rotl((h ^ w) * p2, 29) * p3;
        s += 8;
        n -= 8;
    }
    if (n) {
        w = 0;
        memcpy(&w, s, n);
        h = rotl((h ^ w) * p2, 29) * p3;
    }
    h ^= h >> 31;
    h *= p2;
    h ^= h >> 29;
    h *= p3;
    h ^= h >> 32;
    return h;
}

/* ---- open-addressing table ---------------------------------------------- */

static inline uint32_t tag_of(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

static inline size_t entry_index(uint64_t e)
{
    return (size_t)(uint32_t)e - 1;
}

/* Grow so that n entries keep the table at most half full.  VS_ENOMEM. */
static int table_reserve(table *t, size_t n)
{
    size_t cap = 16;
    uint64_t *e = NULL;

    if (n > SIZE_MAX / 4 / sizeof(uint64_t))
        return vs_error_oom();
    while (cap < 2 * n)
        cap *= 2;
    if (cap <= t->cap)
        return 0;
    e = calloc(cap, sizeof(*e));
    if (!e)
        return vs_error_oom();
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t x = t->e[i];
        if (!x)
            continue;
        size_t pos = (uint32_t)(x >> 32) & (cap - 1);
        while (e[pos])
            pos = (pos + 1) & (cap - 1);
        e[pos] = x;
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

/* Insert (the key is known to be absent and there is room). */
static void table_insert(table *t, uint64_t h, size_t index)
{
    size_t mask = t->cap - 1;
    size_t pos = tag_of(h) & mask;

    while (t->e[pos])
        pos = (pos + 1) & mask;
    t->e[pos] = (uint64_t)tag_of(h) << 32 | (uint64_t)(index + 1);
}

/* Remove the entry at pos, shifting later entries of the run back. */
static void table_remove_at(table *t, size_t pos)
{
    size_t mask = t->cap - 1;
    size_t hole = pos;
    size_t j = pos;

    for (;;) {
        j = (j + 1) & mask;
        uint64_t x = t->e[j];
        if (!x)
            break;
        size_t home = (uint32_t)(x >> 32) & mask;
        /* x may move into the hole unless its home lies in (hole, j] */
        int stays =
            hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->e[hole] = x;
            hole = j;
        }
    }
    t->e[hole] = 0;
}

static void table_clear(table *t)
{
    if (t->cap)
        memset(t->e, 0, t->cap * sizeof(*t->e));
}

/* Slot of a live id, or NONE; *pos_out gets its table position. */
static inline size_t find_slot(const vs_collection *c, uint64_t h,
                               const char *id, size_t len, size_t *pos_out)
{
    const table *t = &c->ids;
    if (!t->cap)
        return NONE;
    size_t mask = t->cap - 1;
    uint32_t tag = tag_of(h);
    size_t pos = tag & mask;
    for (;;) {
        uint64_t x = t->e[pos];
        if (!x)
            return NONE;
        if ((uint32_t)(x >> 32) == tag) {
            size_t slot = entry_index(x);
            if (c->idlen[slot] == len && memcmp(c->blob[slot], id, len) == 0) {
                if (pos_out)
                    *pos_out = pos;
                return slot;
            }
        }
        pos = (pos + 1) & mask;
    }
}

/* Index of the tombstone of an id, or NONE. */
static size_t find_tomb(const vs_collection *c, uint64_t h, const char *id,
                        size_t len, size_t *pos_out)
{
    const table *t = &c->tombs;
    if (!t->cap || !c->ntomb)
        return NONE;
    size_t mask = t->cap - 1;
    uint32_t tag = tag_of(h);
    size_t pos = tag & mask;
    for (;;) {
        uint64_t x = t->e[pos];
        if (!x)
            return NONE;
        if ((uint32_t)(x >> 32) == tag) {
            size_t i = entry_index(x);
            if (c->tomb[i].id_len == len &&
                memcmp(c->tomb[i].id, id, len) == 0) {
                *pos_out = pos;
                return i;
            }
        }
        pos = (pos + 1) & mask;
    }
}

/* ---- vector kernels ----------------------------------------------------- */

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline float hsum(v4f a, v4f b, v4f c, v4f d)
{
    v4f s = (a + b) + (c + d);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static inline float dot_kernel(const float *a, const float *b, size_t n)
{
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        s0 += load4(a + i) * load4(b + i);
        s1 += load4(a + i + 4) * load4(b + i + 4);
        s2 += load4(a + i + 8) * load4(b + i + 8);
        s3 += load4(a + i + 12) * load4(b + i + 12);
    }
    for (; i + 4 <= n; i += 4)
        s0 += load4(a + i) * load4(b + i);
    float r = hsum(s0, s1, s2, s3);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static inline float l2sq_kernel(const float *a, const float *b, size_t n)
{
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        v4f d0 = load4(a + i) - load4(b + i);
        v4f d1 = load4(a + i + 4) - load4(b + i + 4);
        v4f d2 = load4(a + i + 8) - load4(b + i + 8);
        v4f d3 = load4(a + i + 12) - load4(b + i + 12);
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i + 4 <= n; i += 4) {
        v4f d = load4(a + i) - load4(b + i);
        s0 += d * d;
    }
    float r = hsum(s0, s1, s2, s3);
    for (; i < n; i++) {
        float d = a[i] - b[i];
        r += d * d;
    }
    return r;
}

/* 1 when all n values are finite; else 0 and *bad gets the first bad one. */
static int vector_finite(const float *v, size_t n, size_t *bad)
{
    v4f acc = {0, 0, 0, 0};
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        v4f x = load4(v + i);
        acc += x - x; /* NaN for inf and NaN, 0 otherwise */
    }
    float r = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; i < n; i++)
        r += v[i] - v[i];
    if (r == r)
        return 1;
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            *bad = i;
            return 0;
        }
    }
    return 1;
}

/* 1 / |v| computed in double; 0 for norms below FLT_MIN. */
static float inv_norm(const float *v, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        s0 += (double)v[i] * v[i];
        s1 += (double)v[i + 1] * v[i + 1];
        s2 += (double)v[i + 2] * v[i + 2];
        s3 += (double)v[i + 3] * v[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)v[i] * v[i];
    double norm = sqrt((s0 + s1) + (s2 + s3));
    if (!(norm >= FLT_MIN))
        return 0.0f;
    return (float)(1.0 / norm);
}

/* ---- metrics and names -------------------------------------------------- */

static const char *const metric_names[] = {"cosine", "euclidean", "dot"};

const char *vs_metric_name(vs_metric m)
{
    if ((unsigned)m < sizeof(metric_names) / sizeof(metric_names[0]))
        return metric_names[m];
    return "unknown";
}

int vs_metric_parse(vs_metric *out, const char *name)
{
    char q[4 * QUOTE_MAX + 16];

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
                        quote(q, sizeof(q), name, strlen(name)));
}

int vs_store_check_name(const char *name)
{
    char q[4 * QUOTE_MAX + 16];
    size_t len;

    if (!name || !name[0])
        return vs_error_set(VS_EINVALID, "collection name is empty");
    len = strnlen(name, VS_NAME_MAX + 1);
    if (len > VS_NAME_MAX)
        return vs_error_set(VS_EINVALID,
                            "collection name %s is longer than %d characters",
                            quote(q, sizeof(q), name, len), VS_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
            continue;
        return vs_error_set(VS_EINVALID,
                            "collection name %s has a character outside "
                            "[A-Za-z0-9._-]",
                            quote(q, sizeof(q), name, len));
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return vs_error_set(VS_EINVALID, "collection name '%s' is reserved",
                            name);
    return 0;
}

int vs_store_check_id(const char *id, size_t id_len)
{
    char why[384];

    if (id_problem(why, sizeof(why), id, id_len) < 0)
        return vs_error_set(VS_EINVALID, "%s", why);
    return 0;
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
    pthread_once(&hash_key_once, hash_key_init);
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

/* Room in idx for n collections.  VS_ENOMEM. */
static int index_reserve(vs_store *st, size_t n)
{
    if (n <= st->idxcap && st->idx)
        return 0;
    size_t cap = st->idxcap > n ? st->idxcap : n;
    if (cap < 8)
        cap = 8;
    vs_collection **idx = realloc(st->idx, cap * sizeof(*idx));
    if (!idx)
        return vs_error_oom();
    st->idx = idx;
    st->idxcap = cap;
    return 0;
}

/* Refill idx from the list (room already reserved, or idx absent). */
static void index_fill(vs_store *st)
{
    size_t i = 0;

    if (!st->idx || st->idxcap < st->n) {
        free(st->idx);
        st->idx = NULL;
        st->idxcap = 0;
        return;
    }
    for (vs_collection *c = st->head; c; c = c->next)
        st->idx[i++] = c;
}

vs_collection *vs_store_find(const vs_store *st, const char *name)
{
    if (!name)
        return NULL;
    if (st->idx) {
        size_t lo = 0, hi = st->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int r = strcmp(st->idx[mid]->name, name);
            if (r == 0)
                return st->idx[mid];
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return NULL;
    }
    for (vs_collection *c = st->head; c; c = c->next) {
        int r = strcmp(c->name, name);
        if (r == 0)
            return c;
        if (r > 0)
            break;
    }
    return NULL;
}

size_t vs_store_ncollections(const vs_store *st)
{
    return st->n;
}

vs_collection *vs_store_at(const vs_store *st, size_t i)
{
    if (i >= st->n)
        return NULL;
    if (st->idx)
        return st->idx[i];
    vs_collection *c = st->head;
    while (i--)
        c = c->next;
    return c;
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
    error = index_reserve(st, st->n + 1);
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
    index_fill(st);
    st->seq++;
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
        char q[4 * QUOTE_MAX + 16];
        return vs_error_set(VS_ENOTFOUND, "no collection %s",
                            name ? quote(q, sizeof(q), name, strlen(name))
                                 : "''");
    }
    vs_collection *c = *link;
    *link = c->next;
    st->n--;
    index_fill(st);
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
    if (index_reserve(dst, n) < 0) {
        vs_error_clear();
        free(dst->idx);
        dst->idx = NULL;
        dst->idxcap = 0;
    }
    index_fill(dst);
    src->head = NULL;
    src->n = 0;
    index_fill(src);
    dst->seq = (dst->seq > src->seq ? dst->seq : src->seq) + 1;
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

const vs_tombstone *vs_collection_tombstone(const vs_collection *c, size_t i)
{
    return i < c->ntomb ? &c->tomb[i] : NULL;
}

int vs_collection_get(vs_record *out, const vs_collection *c, const char *id,
                      size_t id_len)
{
    size_t slot = NONE;

    if (id && id_len && id_len <= VS_ID_MAX)
        slot = find_slot(c, hash_id(id, id_len), id, id_len, NULL);
    if (slot == NONE) {
        char q[4 * QUOTE_MAX + 16];
        return vs_error_set(VS_ENOTFOUND, "no record %s in collection '%s'",
                            quote(q, sizeof(q), id, id_len), c->name);
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
    error = table_reserve(&c->ids, need);
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
    char q[4 * QUOTE_MAX + 16];
    return vs_error_set(code, "record %zu (id %s): %s", i,
                        quote(q, sizeof(q), r->id, r->id_len), what);
}

/* Validate record i and build its blob.  scratch has room for the metadata.
 * Nothing in the collection changes. */
static int prepare(pending *pd, const vs_collection *c, const vs_record *r,
                   size_t i, char *scratch)
{
    char why[512];
    size_t bad = 0, mlen = 0;
    int error = 0;

    if (id_problem(why, sizeof(why), r->id, r->id_len) < 0) {
        error = vs_error_set(VS_EINVALID, "record %zu: %s", i, why);
        goto done;
    }
    if (!r->vector) {
        error = record_error(VS_EINVALID, i, r, "no vector");
        goto done;
    }
    if (!vector_finite(r->vector, c->dim, &bad)) {
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
    pd->hash = hash_id(r->id, r->id_len);
    if (c->metric == VS_METRIC_COSINE)
        pd->inv = inv_norm(r->vector, c->dim);
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
    table_clear(&c->tombs);
    for (size_t i = 0; i < c->ntomb; i++)
        table_insert(&c->tombs, hash_id(c->tomb[i].id, c->tomb[i].id_len), i);
}

/* Record i repeats an id seen earlier in the batch (load only): looks it up
 * in, or else adds it to, the batch table t. */
static int batch_repeat(table *t, const vs_record *recs, const pending *pend,
                        size_t i)
{
    char why[64];
    size_t mask = t->cap - 1;
    uint32_t tag = tag_of(pend[i].hash);
    size_t pos = tag & mask;

    for (; t->e[pos]; pos = (pos + 1) & mask) {
        uint64_t x = t->e[pos];
        size_t j = entry_index(x);
        if ((uint32_t)(x >> 32) == tag && recs[j].id_len == recs[i].id_len &&
            memcmp(recs[j].id, recs[i].id, recs[i].id_len) == 0) {
            snprintf(why, sizeof(why), "duplicate id (also record %zu)", j);
            return record_error(VS_EINVALID, i, &recs[i], why);
        }
    }
    t->e[pos] = (uint64_t)tag << 32 | (uint64_t)(i + 1);
    return 0;
}

/* Upsert (load 0) or load (load 1: every id must be new, records get
 * load_seq, the store counter stays). */
static int put(vs_collection *c, const vs_record *recs, size_t n, int load,
               uint64_t load_seq)
{
    int error = 0;
    pending *pend = NULL;
    char *scratch = NULL;
    table seen = {NULL, 0};
    size_t maxmeta = 0, nnew = 0, revived = 0;
    uint64_t seq;
    const char *what = load ? "load into" : "upsert into";

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
        error = table_reserve(&seen, n);
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
        if (find_slot(c, pend[i].hash, recs[i].id, recs[i].id_len, NULL) ==
            NONE) {
            nnew++;
        } else if (load) {
            error = record_error(VS_EINVALID, i, &recs[i],
                                 "duplicate id (already in the collection)");
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
        size_t slot = find_slot(c, pd->hash, r->id, r->id_len, NULL);
        if (slot != NONE) {
            c->blob_bytes -= blob_size(c->idlen[slot], c->metalen[slot]);
            free(c->blob[slot]);
        } else {
            slot = c->count++;
            table_insert(&c->ids, pd->hash, slot);
            size_t t = find_tomb(c, pd->hash, r->id, r->id_len, &pos);
            if (t != NONE) {
                table_remove_at(&c->tombs, pos);
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
    return put(c, recs, n, 0, 0);
}

int vs_collection_load(vs_collection *c, const vs_record *recs, size_t n,
                       uint64_t seq)
{
    return put(c, recs, n, 1, seq);
}

/* ---- delete ------------------------------------------------------------- */

int vs_collection_delete(vs_collection *c, const vs_record *ids, size_t n,
                         size_t *deleted_out)
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
        if (id_problem(why, sizeof(why), ids[i].id, ids[i].id_len) < 0) {
            error = vs_error_set(VS_EINVALID, "record %zu: %s", i, why);
            goto done;
        }
        if (find_slot(c, hash_id(ids[i].id, ids[i].id_len), ids[i].id,
                      ids[i].id_len, NULL) != NONE)
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
    error = table_reserve(&c->tombs, c->ntomb + present);
    if (error < 0)
        goto done;

    /* commit: nothing below can fail */
    seq = c->st->seq + 1;
    for (size_t i = 0; i < n; i++) {
        const char *id = ids[i].id;
        size_t len = ids[i].id_len, pos = 0, lastpos = 0;
        uint64_t h = hash_id(id, len);
        size_t slot = find_slot(c, h, id, len, &pos);
        if (slot == NONE)
            continue;
        table_remove_at(&c->ids, pos);
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
        table_insert(&c->tombs, h, c->ntomb);
        c->ntomb++;
        c->tomb_bytes += len + 1;

        size_t last = c->count - 1;
        if (slot != last) {
            const char *lid = c->blob[last];
            size_t llen = c->idlen[last];
            find_slot(c, hash_id(lid, llen), lid, llen, &lastpos);
            c->ids.e[lastpos] =
                (c->ids.e[lastpos] & 0xFFFFFFFF00000000ULL) | (slot + 1);
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
    c->st->seq = seq;
    if (deleted_out)
        *deleted_out = deleted;
done:
    return error;
}

/* ---- search ------------------------------------------------------------- */

static inline int idcmp(const vs_collection *c, size_t a, size_t b)
{
    size_t la = c->idlen[a], lb = c->idlen[b];
    int r = memcmp(c->blob[a], c->blob[b], la < lb ? la : lb);
    if (r)
        return r;
    return (la > lb) - (la < lb);
}

/* a ranks below (is worse than) b: lower key, or equal key and larger id. */
static inline int worse(const vs_collection *c, const vs_hit *a,
                        const vs_hit *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return idcmp(c, a->slot, b->slot) > 0;
}

/* Heap with the worst hit at the root. */
static void sift_down(const vs_collection *c, vs_hit *h, size_t n, size_t i)
{
    vs_hit x = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t w = l;
        if (l + 1 < n && worse(c, &h[l + 1], &h[l]))
            w = l + 1;
        if (!worse(c, &h[w], &x))
            break;
        h[i] = h[w];
        i = w;
    }
    h[i] = x;
}

static void sift_up(const vs_collection *c, vs_hit *h, size_t i)
{
    vs_hit x = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(c, &x, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

/* The scan, specialised per metric by the callers.  Keys are "higher is
 * closer": the euclidean key is minus the distance. */
static inline __attribute__((always_inline)) size_t
scan(vs_hit *heap, size_t k, const vs_collection *c, const float *q, float qinv,
     vs_metric metric)
{
    size_t n = 0, dim = c->dim, count = c->count;
    const float *v = c->vec;

    for (size_t i = 0; i < count; i++, v += dim) {
        float s;
        if (metric == VS_METRIC_COSINE)
            s = dot_kernel(q, v, dim) * c->inv[i] * qinv;
        else if (metric == VS_METRIC_DOT)
            s = dot_kernel(q, v, dim);
        else
            s = -sqrtf(l2sq_kernel(q, v, dim));
        if (s != s)
            s = -INFINITY;
        if (n < k) {
            heap[n].score = s;
            heap[n].slot = (uint32_t)i;
            sift_up(c, heap, n);
            n++;
            continue;
        }
        if (s < heap[0].score ||
            (s == heap[0].score && idcmp(c, i, heap[0].slot) > 0))
            continue;
        heap[0].score = s;
        heap[0].slot = (uint32_t)i;
        sift_down(c, heap, n, 0);
    }
    return n;
}

int vs_collection_search(vs_hit *out, size_t *n_out, const vs_collection *c,
                         const float *query, size_t query_dim, size_t k)
{
    size_t n = 0, bad = 0;
    float qinv = 0.0f;

    *n_out = 0;
    if (query_dim != c->dim)
        return vs_error_set(VS_EINVALID,
                            "query has %zu dimensions, collection '%s' has %u",
                            query_dim, c->name, c->dim);
    if (!query)
        return vs_error_set(VS_EINVALID, "search in '%s': no query vector",
                            c->name);
    if (!vector_finite(query, query_dim, &bad))
        return vs_error_set(VS_EINVALID, "query value %zu is not finite", bad);
    if (k == 0 || k > VS_SEARCH_K_MAX)
        return vs_error_set(VS_EINVALID, "k is %zu, it must be 1 to %d", k,
                            VS_SEARCH_K_MAX);
    switch (c->metric) {
    case VS_METRIC_COSINE:
        qinv = inv_norm(query, query_dim);
        n = scan(out, k, c, query, qinv, VS_METRIC_COSINE);
        break;
    case VS_METRIC_DOT:
        n = scan(out, k, c, query, qinv, VS_METRIC_DOT);
        break;
    default:
        n = scan(out, k, c, query, qinv, VS_METRIC_EUCLIDEAN);
        break;
    }
    /* heap sort: the worst goes last, leaving the best first */
    for (size_t end = n; end > 1; end--) {
        vs_hit t = out[0];
        out[0] = out[end - 1];
        out[end - 1] = t;
        sift_down(c, out, end - 1, 0);
    }
    for (size_t i = 0; i < n; i++) {
        vs_record r;
        fill_record(&r, c, out[i].slot);
        out[i].id = r.id;
        out[i].id_len = r.id_len;
        out[i].metadata = r.metadata;
        out[i].metadata_len = r.metadata_len;
        if (c->metric == VS_METRIC_EUCLIDEAN)
            out[i].score = -out[i].score;
    }
    *n_out = n;
    return 0;
}
