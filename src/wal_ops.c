/*
 * wal_ops: the bodies of the write-ahead log -- encoding the four store
 * writes (create, drop, upsert batch, delete batch) and applying a body to
 * a store with the seq it carries.  The files, framing and replay are in
 * wal.c.
 *
 * A body is a 17-byte head, u64 seq | u64 time (Unix ms, when it was
 * encoded) | u8 op, then the op's payload; varints are unsigned LEB128:
 *   create  name | varint dimension | u8 metric
 *   drop    name
 *   upsert  name | varint dimension | varint n |
 *           n x (varint id_len | id | dimension x f32 LE |
 *                varint meta_len | metadata)
 *   delete  name | varint n | n x (varint id_len | id)
 *   name    varint len (1 .. VS_NAME_MAX) | bytes
 *
 * Decoding checks every length against its limit and every count against
 * the bytes left (a record takes at least its smallest encoding) before
 * allocating; anything that does not parse exactly to the end of the body
 * is VS_ECORRUPT.  The store validates the content (name syntax, id UTF-8,
 * finite vectors, metadata JSON) when the op is applied.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wal.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the wal writes floats in host order, which must be LE");

#define VARINT_MAX 10

/* ---- encoding ----------------------------------------------------------- */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static uint8_t *put_bytes(uint8_t *p, const void *s, size_t n)
{
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void set_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint8_t *put_head(uint8_t *p, uint64_t seq, uint8_t op)
{
    set_le64(p, seq);
    set_le64(p + 8, wall_ms());
    p[16] = op;
    return p + VS_WAL_HEAD_SIZE;
}

uint64_t vs_wal_body_seq(const void *body)
{
    return le64(body);
}

uint64_t vs_wal_body_time(const void *body)
{
    return le64((const uint8_t *)body + 8);
}

void vs_wal_body_set_seq(void *body, uint64_t seq)
{
    set_le64(body, seq);
}

void vs_wal_body_set_time(void *body, uint64_t time_ms)
{
    set_le64((uint8_t *)body + 8, time_ms);
}

/* Checks seq and the name; *size_out gets the head + the name's bytes. */
static int head_size(size_t *size_out, uint64_t seq, const char *name,
                     const char *what)
{
    size_t len = name ? strlen(name) : 0;
    if (!seq)
        return vs_error_set(VS_EINVALID, "wal %s: seq 0", what);
    if (len < 1 || len > VS_NAME_MAX)
        return vs_error_set(VS_EINVALID,
                            "wal %s: collection name of %zu "
                            "bytes (1 to %d)",
                            what, len, VS_NAME_MAX);
    *size_out = VS_WAL_HEAD_SIZE + varint_size(len) + len;
    return 0;
}

/* Room for `size` bytes at the end of out; returns where they go. */
static int reserve(uint8_t **p_out, vs_buf *out, size_t size)
{
    if (size > VS_WAL_BODY_MAX)
        return vs_error_set(VS_ETOOBIG,
                            "wal record of %zu bytes is above "
                            "the limit of %zu",
                            size, VS_WAL_BODY_MAX);
    int error = vs_buf_reserve(out, size);
    if (error < 0)
        return error;
    *p_out = (uint8_t *)out->ptr + out->len;
    return 0;
}

static void commit(vs_buf *out, size_t size)
{
    out->len += size;
    out->ptr[out->len] = '\0';
}

static uint8_t *put_name(uint8_t *p, const char *name)
{
    size_t len = strlen(name);
    p = put_varint(p, len);
    return put_bytes(p, name, len);
}

int vs_wal_encode_create(vs_buf *out, uint64_t seq, const char *name,
                         uint32_t dimension, vs_metric metric)
{
    size_t size = 0;
    uint8_t *p = NULL;
    int error = head_size(&size, seq, name, "create");

    if (error < 0)
        return error;
    if (dimension < 1 || dimension > VS_DIM_MAX)
        return vs_error_set(VS_EINVALID,
                            "wal create '%s': dimension %u is "
                            "outside 1 to %d",
                            name, dimension, VS_DIM_MAX);
    if ((unsigned)metric > VS_METRIC_DOT)
        return vs_error_set(VS_EINVALID, "wal create '%s': unknown metric %d",
                            name, (int)metric);
    size += varint_size(dimension) + 1;
    error = reserve(&p, out, size);
    if (error < 0)
        return error;
    p = put_head(p, seq, VS_WAL_OP_CREATE);
    p = put_name(p, name);
    p = put_varint(p, dimension);
    *p = (uint8_t)metric;
    commit(out, size);
    return 0;
}

int vs_wal_encode_drop(vs_buf *out, uint64_t seq, const char *name)
{
    size_t size = 0;
    uint8_t *p = NULL;
    int error = head_size(&size, seq, name, "drop");

    if (error < 0)
        return error;
    error = reserve(&p, out, size);
    if (error < 0)
        return error;
    p = put_head(p, seq, VS_WAL_OP_DROP);
    put_name(p, name);
    commit(out, size);
    return 0;
}

/* Size of record i's id (and, for upserts, vector and metadata). */
static int record_size(size_t *size_out, const vs_record *r, size_t i,
                       uint32_t dimension, const char *what,
                       const char *collection)
{
    if (!r->id || r->id_len < 1 || r->id_len > VS_ID_MAX)
        return vs_error_set(VS_EINVALID,
                            "wal %s '%s': record %zu: id of %zu "
                            "bytes (1 to %d)",
                            what, collection, i, r->id ? r->id_len : 0,
                            VS_ID_MAX);
    size_t size = varint_size(r->id_len) + r->id_len;
    if (dimension) {
        size_t meta = r->metadata ? r->metadata_len : 0;
        if (!r->vector)
            return vs_error_set(VS_EINVALID,
                                "wal %s '%s': record %zu: no "
                                "vector",
                                what, collection, i);
        if (meta > VS_METADATA_MAX)
            return vs_error_set(VS_EINVALID,
                                "wal %s '%s': record %zu: "
                                "metadata of %zu bytes is above %d",
                                what, collection, i, meta, VS_METADATA_MAX);
        size += (size_t)dimension * sizeof(float) + varint_size(meta) + meta;
    }
    *size_out = size;
    return 0;
}

int vs_wal_encode_upsert(vs_buf *out, uint64_t seq, const char *collection,
                         uint32_t dimension, const vs_record *recs, size_t n)
{
    size_t size = 0, one = 0;
    uint8_t *p = NULL;
    int error = head_size(&size, seq, collection, "upsert");

    if (error < 0)
        return error;
    if (dimension < 1 || dimension > VS_DIM_MAX)
        return vs_error_set(VS_EINVALID,
                            "wal upsert '%s': dimension %u is "
                            "outside 1 to %d",
                            collection, dimension, VS_DIM_MAX);
    if (n && !recs)
        return vs_error_set(VS_EINVALID, "wal upsert '%s': no records",
                            collection);
    size += varint_size(dimension) + varint_size(n);
    for (size_t i = 0; i < n; i++) {
        error = record_size(&one, &recs[i], i, dimension, "upsert", collection);
        if (error < 0)
            return error;
        if (one > VS_WAL_BODY_MAX - size)
            return vs_error_set(VS_ETOOBIG,
                                "wal upsert '%s': %zu records "
                                "are above the record limit of %zu bytes",
                                collection, n, VS_WAL_BODY_MAX);
        size += one;
    }
    error = reserve(&p, out, size);
    if (error < 0)
        return error;
    p = put_head(p, seq, VS_WAL_OP_UPSERT);
    p = put_name(p, collection);
    p = put_varint(p, dimension);
    p = put_varint(p, n);
    for (size_t i = 0; i < n; i++) {
        const vs_record *r = &recs[i];
        size_t meta = r->metadata ? r->metadata_len : 0;
        p = put_varint(p, r->id_len);
        p = put_bytes(p, r->id, r->id_len);
        p = put_bytes(p, r->vector, (size_t)dimension * sizeof(float));
        p = put_varint(p, meta);
        p = put_bytes(p, r->metadata, meta);
    }
    commit(out, size);
    return 0;
}

int vs_wal_encode_delete(vs_buf *out, uint64_t seq, const char *collection,
                         const vs_record *ids, size_t n)
{
    size_t size = 0, one = 0;
    uint8_t *p = NULL;
    int error = head_size(&size, seq, collection, "delete");

    if (error < 0)
        return error;
    if (n && !ids)
        return vs_error_set(VS_EINVALID, "wal delete '%s': no ids", collection);
    size += varint_size(n);
    for (size_t i = 0; i < n; i++) {
        error = record_size(&one, &ids[i], i, 0, "delete", collection);
        if (error < 0)
            return error;
        if (one > VS_WAL_BODY_MAX - size)
            return vs_error_set(VS_ETOOBIG,
                                "wal delete '%s': %zu ids are "
                                "above the record limit of %zu bytes",
                                collection, n, VS_WAL_BODY_MAX);
        size += one;
    }
    error = reserve(&p, out, size);
    if (error < 0)
        return error;
    p = put_head(p, seq, VS_WAL_OP_DELETE);
    p = put_name(p, collection);
    p = put_varint(p, n);
    for (size_t i = 0; i < n; i++) {
        p = put_varint(p, ids[i].id_len);
        p = put_bytes(p, ids[i].id, ids[i].id_len);
    }
    commit(out, size);
    return 0;
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t n, pos;
    uint64_t seq;
    const char *what; /* the op's name, for messages */
} reader;

static size_t left(const reader *r)
{
    return r->n - r->pos;
}

static int corrupt(const reader *r, const char *problem)
{
    return vs_error_set(VS_ECORRUPT,
                        "wal record seq %" PRIu64 " (%s): %s "
                        "at byte %zu",
                        r->seq, r->what, problem, r->pos);
}

static int get_varint(reader *r, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    for (int i = 0; i < VARINT_MAX; i++) {
        if (!left(r))
            return corrupt(r, what);
        uint8_t b = r->p[r->pos++];
        if (i == VARINT_MAX - 1 && b > 1)
            return corrupt(r, what);
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return corrupt(r, what);
}

/* A length-prefixed byte string of lo .. hi bytes. */
static int get_string(reader *r, const uint8_t **out, size_t *len_out,
                      size_t lo, size_t hi, const char *what)
{
    uint64_t len = 0;
    int error = get_varint(r, &len, what);
    if (error < 0)
        return error;
    if (len < lo || len > hi || len > left(r))
        return corrupt(r, what);
    *out = r->p + r->pos;
    *len_out = (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

/* A collection name into name[VS_NAME_MAX + 1]. */
static int get_name(reader *r, char *name)
{
    const uint8_t *s = NULL;
    size_t len = 0;
    int error = get_string(r, &s, &len, 1, VS_NAME_MAX, "bad collection name");
    if (error < 0)
        return error;
    if (memchr(s, 0, len))
        return corrupt(r, "NUL in the collection name");
    memcpy(name, s, len);
    name[len] = '\0';
    return 0;
}

typedef struct decoded {
    uint8_t op;
    char name[VS_NAME_MAX + 1];
    uint64_t dim;
    uint8_t metric;
    size_t n;
    vs_record *recs;
    float *vec;
} decoded;

static int decode_upsert(reader *r, decoded *d)
{
    uint64_t n = 0;
    int error = get_varint(r, &d->dim, "bad dimension");
    if (error < 0)
        return error;
    if (d->dim < 1 || d->dim > VS_DIM_MAX)
        return corrupt(r, "dimension outside 1 to 65536");
    error = get_varint(r, &n, "bad record count");
    if (error < 0)
        return error;
    size_t vbytes = (size_t)d->dim * sizeof(float);
    if (n > left(r) / (vbytes + 3))
        return corrupt(r, "more records than the bytes left can hold");
    d->n = (size_t)n;
    if (!n)
        return 0;
    d->recs = calloc(d->n, sizeof(*d->recs));
    d->vec = malloc(d->n * vbytes);
    if (!d->recs || !d->vec)
        return vs_error_oom();
    for (size_t i = 0; i < d->n; i++) {
        vs_record *rec = &d->recs[i];
        const uint8_t *s;
        error = get_string(r, &s, &rec->id_len, 1, VS_ID_MAX, "bad id");
        if (error < 0)
            return error;
        rec->id = (const char *)s;
        if (left(r) < vbytes)
            return corrupt(r, "vector cut short");
        memcpy(d->vec + i * d->dim, r->p + r->pos, vbytes);
        rec->vector = d->vec + i * d->dim;
        r->pos += vbytes;
        error = get_string(r, &s, &rec->metadata_len, 0, VS_METADATA_MAX,
                           "bad metadata");
        if (error < 0)
            return error;
        rec->metadata = rec->metadata_len ? (const char *)s : NULL;
    }
    return 0;
}

static int decode_delete(reader *r, decoded *d)
{
    uint64_t n = 0;
    int error = get_varint(r, &n, "bad id count");
    if (error < 0)
        return error;
    if (n > left(r) / 2)
        return corrupt(r, "more ids than the bytes left can hold");
    d->n = (size_t)n;
    if (!n)
        return 0;
    d->recs = calloc(d->n, sizeof(*d->recs));
    if (!d->recs)
        return vs_error_oom();
    for (size_t i = 0; i < d->n; i++) {
        const uint8_t *s;
        error = get_string(r, &s, &d->recs[i].id_len, 1, VS_ID_MAX, "bad id");
        if (error < 0)
            return error;
        d->recs[i].id = (const char *)s;
    }
    return 0;
}

/* Parse the whole body into d (pointers into the body). */
static int decode(decoded *d, reader *r)
{
    static const char *const names[] = {"?", "create", "drop", "upsert",
                                        "delete"};
    int error;

    d->op = r->p[16];
    r->pos = VS_WAL_HEAD_SIZE;
    r->what = d->op <= VS_WAL_OP_DELETE ? names[d->op] : "?";
    if (!r->seq)
        return corrupt(r, "seq 0");
    if (d->op < VS_WAL_OP_CREATE || d->op > VS_WAL_OP_DELETE)
        return corrupt(r, "unknown op");
    error = get_name(r, d->name);
    if (error < 0)
        return error;
    switch (d->op) {
    case VS_WAL_OP_CREATE:
        error = get_varint(r, &d->dim, "bad dimension");
        if (error < 0)
            return error;
        if (d->dim > UINT32_MAX)
            return corrupt(r, "dimension out of range");
        if (!left(r))
            return corrupt(r, "metric missing");
        d->metric = r->p[r->pos++];
        break;
    case VS_WAL_OP_UPSERT:
        error = decode_upsert(r, d);
        break;
    case VS_WAL_OP_DELETE:
        error = decode_delete(r, d);
        break;
    default:
        break;
    }
    if (error < 0)
        return error;
    if (left(r))
        return corrupt(r, "trailing bytes");
    return 0;
}

/* Run the op (the counter is seq - 1). */
static int run(vs_store *st, const decoded *d, vs_collection *c)
{
    switch (d->op) {
    case VS_WAL_OP_CREATE:
        return vs_store_create(NULL, st, d->name, (uint32_t)d->dim,
                               (vs_metric)d->metric);
    case VS_WAL_OP_DROP:
        return vs_store_drop(st, d->name);
    case VS_WAL_OP_UPSERT:
        return vs_collection_upsert(c, d->recs, d->n);
    default:
        return vs_collection_delete(c, d->recs, d->n, NULL);
    }
}

int vs_wal_apply(vs_store *st, const void *body, size_t n)
{
    int error = 0;
    decoded d;
    reader r = {body, n, 0, 0, "?"};
    vs_collection *c = NULL;

    memset(&d, 0, sizeof(d));
    if (!body || n < VS_WAL_HEAD_SIZE) {
        error = vs_error_set(VS_ECORRUPT,
                             "wal record of %zu bytes is "
                             "shorter than its head",
                             body ? n : 0);
        goto done;
    }
    r.seq = le64(body);
    error = decode(&d, &r);
    if (error < 0)
        goto done;
    if (vs_store_seq(st) >= r.seq) {
        error = vs_error_set(VS_EINVALID,
                             "wal record seq %" PRIu64 " (%s) "
                             "is not above the store's seq %" PRIu64,
                             r.seq, r.what, vs_store_seq(st));
        goto done;
    }
    if (d.op == VS_WAL_OP_UPSERT || d.op == VS_WAL_OP_DELETE) {
        c = vs_store_find(st, d.name);
        if (!c) {
            error = vs_error_set(VS_ENOTFOUND,
                                 "wal record seq %" PRIu64
                                 " (%s): no collection '%s'",
                                 r.seq, r.what, d.name);
            goto done;
        }
        if (d.op == VS_WAL_OP_UPSERT && d.dim != vs_collection_dimension(c)) {
            error =
                vs_error_set(VS_EINVALID,
                             "wal record seq %" PRIu64
                             " (upsert): dimension %" PRIu64 ", but "
                             "collection '%s' has %u",
                             r.seq, d.dim, d.name, vs_collection_dimension(c));
            goto done;
        }
    }
    vs_store_set_seq(st, r.seq - 1);
    error = run(st, &d, c);
    if (error < 0)
        goto done;
    vs_store_set_seq(st, r.seq);
done:
    free(d.recs);
    free(d.vec);
    return error;
}
