/*
 * store_index: how the store finds things by key, and what a valid key is.
 * It owns the rules for collection names and record ids (and the quoting
 * of them in messages), the keyed id hash, the open-addressing tables that
 * map an id to its slot (c->ids) or to its tombstone (c->tombs), the
 * duplicate check of a load batch, and the store's collection directory (the
 * name-ordered list with its idx array view, binary-searched).  The tables'
 * layout is described in store_int.h, which also holds the id -> slot probe
 * (vs_store__find_slot) as an inline function for the get/upsert paths.
 *
 * Decisions:
 * - ids are 1..VS_ID_MAX bytes of valid UTF-8 without NUL; any other byte
 *   (control characters included) is allowed.
 * - the id hash is keyed with 64 random bits drawn once per process
 *   (getrandom), so colliding ids cannot be computed offline to flood a
 *   server's tables.  It is a fast mixing hash, not a cryptographic PRF.
 *   Iteration order is slot order, never hash order, so output stays
 *   deterministic.
 */
#include "jsonv.h"
#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- names and ids ------------------------------------------------------ */

/* Renders bytes for a message between single quotes: printable ASCII as is,
 * anything else as \xHH, at most VS_STORE__QUOTE_MAX bytes then "...". */
const char *vs_store__quote(char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    size_t n = len < VS_STORE__QUOTE_MAX ? len : VS_STORE__QUOTE_MAX;

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


/* Describes what is wrong with an id into why[]; 0 when nothing is. */
int vs_store__id_problem(char *why, size_t size, const char *id, size_t len)
{
    char q[VS_STORE__QUOTE_SIZE];
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
                 vs_store__quote(q, sizeof(q), id, len), len, VS_ID_MAX);
        return -1;
    }
    for (size_t i = 0; i < len;) {
        if (p[i] == 0) {
            snprintf(why, size, "id %s contains a NUL byte",
                     vs_store__quote(q, sizeof(q), id, len));
            return -1;
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = vs_utf8_seq(p + i, len - i);
        if (!n) {
            snprintf(why, size, "id %s is not valid UTF-8 (byte %zu)",
                     vs_store__quote(q, sizeof(q), id, len), i);
            return -1;
        }
        i += n;
    }
    return 0;
}

int vs_store_check_name(const char *name)
{
    char q[VS_STORE__QUOTE_SIZE];
    size_t len;

    if (!name || !name[0])
        return vs_error_set(VS_EINVALID, "collection name is empty");
    len = strnlen(name, VS_NAME_MAX + 1);
    if (len > VS_NAME_MAX)
        return vs_error_set(
            VS_EINVALID, "collection name %s is longer than %d characters",
            vs_store__quote(q, sizeof(q), name, len), VS_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
            continue;
        return vs_error_set(VS_EINVALID,
                            "collection name %s has a character outside "
                            "[A-Za-z0-9._-]",
                            vs_store__quote(q, sizeof(q), name, len));
    }
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return vs_error_set(VS_EINVALID, "collection name '%s' is reserved",
                            name);
    return 0;
}

int vs_store_check_id(const char *id, size_t id_len)
{
    char why[384];

    if (vs_store__id_problem(why, sizeof(why), id, id_len) < 0)
        return vs_error_set(VS_EINVALID, "%s", why);
    return 0;
}

/* ---- keyed hash --------------------------------------------------------- */

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

void vs_store__hash_init(void)
{
    pthread_once(&hash_key_once, hash_key_init);
}

/* A fast keyed 64-bit hash for short strings: 8-byte blocks,
 * multiply-rotate rounds, splitmix64 finaliser. */
uint64_t vs_store__hash_id(const char *s, size_t n)
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

/* Grow so that n entries keep the table at most half full.  VS_ENOMEM. */
int vs_store__table_reserve(vs_store__table *t, size_t n)
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
void vs_store__table_insert(vs_store__table *t, uint64_t h, size_t index)
{
    size_t mask = t->cap - 1;
    size_t pos = vs_store__tag_of(h) & mask;

    while (t->e[pos])
        pos = (pos + 1) & mask;
    t->e[pos] = (uint64_t)vs_store__tag_of(h) << 32 | (uint64_t)(index + 1);
}

/* Remove the entry at pos, shifting later entries of the run back. */
void vs_store__table_remove_at(vs_store__table *t, size_t pos)
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

void vs_store__table_clear(vs_store__table *t)
{
    if (t->cap)
        memset(t->e, 0, t->cap * sizeof(*t->e));
}

/* Index of the tombstone of an id, or VS_STORE__NONE. */
size_t vs_store__find_tomb(const vs_collection *c, uint64_t h, const char *id,
                           size_t len, size_t *pos_out)
{
    const vs_store__table *t = &c->tombs;
    if (!t->cap || !c->ntomb)
        return VS_STORE__NONE;
    size_t mask = t->cap - 1;
    uint32_t tag = vs_store__tag_of(h);
    size_t pos = tag & mask;
    for (;;) {
        uint64_t x = t->e[pos];
        if (!x)
            return VS_STORE__NONE;
        if ((uint32_t)(x >> 32) == tag) {
            size_t i = vs_store__entry_index(x);
            if (c->tomb[i].id_len == len &&
                memcmp(c->tomb[i].id, id, len) == 0) {
                *pos_out = pos;
                return i;
            }
        }
        pos = (pos + 1) & mask;
    }
}

/* The record in slot `from` moves to slot `to`: repoint its entry. */
void vs_store__ids_move(vs_collection *c, size_t from, size_t to)
{
    const char *id = c->blob[from];
    size_t len = c->idlen[from], pos = 0;

    vs_store__find_slot(c, vs_store__hash_id(id, len), id, len, &pos);
    c->ids.e[pos] = (c->ids.e[pos] & 0xFFFFFFFF00000000ULL) | (to + 1);
}

/* Record i of a load batch: finds an earlier record with the same id in the
 * batch table t, or else adds record i to it. */
size_t vs_store__batch_add(vs_store__table *t, const vs_record *recs, size_t i,
                           uint64_t h)
{
    size_t mask = t->cap - 1;
    uint32_t tag = vs_store__tag_of(h);
    size_t pos = tag & mask;

    for (; t->e[pos]; pos = (pos + 1) & mask) {
        uint64_t x = t->e[pos];
        size_t j = vs_store__entry_index(x);
        if ((uint32_t)(x >> 32) == tag && recs[j].id_len == recs[i].id_len &&
            memcmp(recs[j].id, recs[i].id, recs[i].id_len) == 0)
            return j;
    }
    t->e[pos] = (uint64_t)tag << 32 | (uint64_t)(i + 1);
    return VS_STORE__NONE;
}

/* ---- collection directory ----------------------------------------------- */

/* Room in idx for n collections.  VS_ENOMEM. */
int vs_store__index_reserve(vs_store *st, size_t n)
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
void vs_store__index_fill(vs_store *st)
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
