/*
 * fmt_bin: the binary snapshot format, specified byte by byte in
 * docs/FORMAT.md.  This file owns writing a store (or some of its
 * collections) as one binary document and reading one back into a new store.
 *
 * A document is a fixed header, a stream of one-byte opcodes and a SHA-256
 * trailer over every byte before it.  Records travel in blocks: a block's
 * ids and metadata in one length-prefixed section, then its vectors as one
 * run of little-endian float32 (optionally split into four byte planes).
 * Blocks are bounded (about 1 MiB of vectors, 1 MiB of text, 16384 records),
 * so both sides stream with O(1 MiB) of memory beyond the store itself, and
 * the writer hands the store's own vector array to the stream without a copy.
 *
 * The reader trusts nothing: every length and count is checked against the
 * caps of the format and the store before it is used, the SHA-256 must match
 * and the input must end right after it.  It builds a new store and frees it
 * on any failure.
 *
 * The caller holds the store's read lock across a save (the store functions
 * do not lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "shuffle.h"

/* Vectors go to and from the stream as the host's floats: the format is
 * little-endian float32, which is what the host must be. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fmt_bin writes floats in host order: little-endian only");
_Static_assert(sizeof(float) == 4, "float must be IEEE 754 binary32");

#define BIN_VERSION 1
#define BIN_HEADER_LEN 32
#define BIN_FLAG_SHUFFLE 0x0001u
#define BIN_FLAGS_KNOWN BIN_FLAG_SHUFFLE

/* Opcodes are fixed forever; a retired number is never reused. */
enum {
    OP_COLLECTION = 0x01,
    OP_RECORDS = 0x02,
    OP_END_COLLECTION = 0x03,
    OP_EOF = 0xff
};

#define BLOCK_VEC_MAX ((size_t)1 << 20)  /* vector bytes of a block */
#define BLOCK_TEXT_MAX ((size_t)1 << 20) /* id + metadata section bytes */
#define BLOCK_RECORDS_MAX 16384
#define COLLECTION_RECORDS_MAX ((uint64_t)1 << 31) /* the store's limit */
/* Vector bytes preallocated per collection when the input size is unknown;
 * beyond it the store grows as records arrive. */
#define RESERVE_UNKNOWN_MAX ((uint64_t)256 << 20)

static const uint8_t bin_magic[8] = {0x89, 'V',  'S',  'N',
                                     '\r', '\n', 0x1a, '\n'};

/* ---- little helpers ---- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decode a varint from p[*pos..len); false when it runs past the end or is
 * longer than 10 bytes / 64 bits. */
static bool get_varint(uint64_t *v, const uint8_t *p, size_t len, size_t *pos)
{
    uint64_t r = 0;
    for (int i = 0; i < 10 && *pos < len; i++) {
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1)
            return false;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Records per block for a dimension: ~1 MiB of vectors, at least one. */
static size_t block_cap(uint32_t dim)
{
    size_t n = BLOCK_VEC_MAX / ((size_t)dim * sizeof(float));
    if (n == 0)
        n = 1;
    return n > BLOCK_RECORDS_MAX ? BLOCK_RECORDS_MAX : n;
}

/* Metadata as written: "{}" (the store's empty object) is stored as
 * length 0. */
static size_t meta_len(const vs_record *r)
{
    if (r->metadata_len == 2 && memcmp(r->metadata, "{}", 2) == 0)
        return 0;
    return r->metadata_len;
}

/* Grow a scratch allocation to at least `need` bytes. */
static int grow(void **p, size_t *alloc, size_t need)
{
    if (need <= *alloc)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return vs_error_oom();
    *p = q;
    *alloc = need;
    return 0;
}

/* ---- saving ---- */

typedef struct saver {
    vs_stream *w; /* the hash stage everything goes through */
    bool shuffle;
    vs_buf text; /* block head + id/metadata section */
    uint8_t *planes;
    size_t planes_alloc;
    const vs_save_options *opts;
    uint64_t done, total;
} saver;

static int write_header(saver *sv, vs_store *st, uint32_t ncols)
{
    uint8_t h[BIN_HEADER_LEN];
    memcpy(h, bin_magic, sizeof(bin_magic));
    put_le(h + 8, BIN_VERSION, 2);
    put_le(h + 10, sv->shuffle ? BIN_FLAG_SHUFFLE : 0, 2);
    put_le(h + 12, vs_store_seq(st), 8);
    put_le(h + 20, ncols, 4);
    put_le(h + 24, sv->total, 8);
    return vs_stream_write(sv->w, h, sizeof(h));
}

static int write_collection_head(saver *sv, const vs_collection *c)
{
    const char *name = vs_collection_name(c);
    size_t nlen = strlen(name);
    uint8_t h[1 + 10 + VS_NAME_MAX + 4 + 1 + 8];
    if (nlen == 0 || nlen > VS_NAME_MAX)
        return vs_error_set(VS_EINVALID, "bad collection name '%s'", name);
    size_t n = 0;
    h[n++] = OP_COLLECTION;
    n += put_varint(h + n, nlen);
    memcpy(h + n, name, nlen);
    n += nlen;
    put_le(h + n, vs_collection_dimension(c), 4);
    n += 4;
    h[n++] = (uint8_t)vs_collection_metric(c);
    put_le(h + n, vs_collection_count(c), 8);
    n += 8;
    return vs_stream_write(sv->w, h, n);
}

/* How many records from `start` form the next block, and the size of its
 * id/metadata section. */
static int plan_block(size_t *n_out, size_t *tlen_out, const vs_collection *c,
                      size_t start)
{
    size_t count = vs_collection_count(c);
    size_t cap = block_cap(vs_collection_dimension(c));
    size_t n = 0, tlen = 0;
    while (start + n < count && n < cap) {
        vs_record r;
        vs_collection_slot(&r, c, start + n);
        size_t ml = meta_len(&r);
        if (r.id_len == 0 || r.id_len > VS_ID_MAX || ml > VS_METADATA_MAX)
            return vs_error_set(VS_EINVALID,
                                "record %zu of collection '%s' exceeds the "
                                "id or metadata limits",
                                start + n, vs_collection_name(c));
        size_t need = varint_len(r.id_len) + r.id_len + varint_len(ml) + ml;
        if (n > 0 && tlen + need > BLOCK_TEXT_MAX)
            break;
        tlen += need;
        n++;
    }
    *n_out = n;
    *tlen_out = tlen;
    return 0;
}

/* One RECORDS block: head and text in one write, vectors in another. */
static int write_block(saver *sv, const vs_collection *c, size_t start,
                       size_t n, size_t tlen)
{
    uint32_t dim = vs_collection_dimension(c);
    vs_buf_reset(&sv->text);
    int error = vs_buf_reserve(&sv->text, 1 + 10 + 10 + tlen);
    if (error < 0)
        return error;
    uint8_t *p = (uint8_t *)sv->text.ptr;
    size_t len = 0;
    p[len++] = OP_RECORDS;
    len += put_varint(p + len, n);
    len += put_varint(p + len, tlen);
    for (size_t i = 0; i < n; i++) {
        vs_record r;
        vs_collection_slot(&r, c, start + i);
        len += put_varint(p + len, r.id_len);
        memcpy(p + len, r.id, r.id_len);
        len += r.id_len;
    }
    for (size_t i = 0; i < n; i++) {
        vs_record r;
        vs_collection_slot(&r, c, start + i);
        size_t ml = meta_len(&r);
        len += put_varint(p + len, ml);
        if (ml)
            memcpy(p + len, r.metadata, ml);
        len += ml;
    }
    sv->text.len = len;
    error = vs_stream_write(sv->w, p, len);
    if (error < 0)
        return error;

    const float *vecs = vs_collection_vectors(c) + start * (size_t)dim;
    size_t nfloats = n * (size_t)dim;
    if (!sv->shuffle)
        return vs_stream_write(sv->w, vecs, nfloats * sizeof(float));
    error =
        grow((void **)&sv->planes, &sv->planes_alloc, nfloats * sizeof(float));
    if (error < 0)
        return error;
    vs_shuffle4(sv->planes, (const uint8_t *)vecs, nfloats);
    return vs_stream_write(sv->w, sv->planes, nfloats * sizeof(float));
}

static int save_collection(saver *sv, const vs_collection *c)
{
    int error = write_collection_head(sv, c);
    size_t count = vs_collection_count(c);
    for (size_t start = 0; error == 0 && start < count;) {
        size_t n = 0, tlen = 0;
        error = plan_block(&n, &tlen, c, start);
        if (error == 0)
            error = write_block(sv, c, start, n, tlen);
        start += n;
        sv->done += n;
        if (error == 0)
            error = vs_fmt__progress(sv->opts->progress, sv->opts->payload,
                                     sv->done, sv->total);
    }
    if (error == 0)
        error = vs_stream_write_u8(sv->w, OP_END_COLLECTION);
    return error;
}

int vs_fmt_bin_save(vs_stream *out, vs_store *st, const vs_save_options *opts,
                    bool shuffle)
{
    vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    vs_collection **cols = NULL;
    size_t ncols = 0;
    vs_stream *own = NULL;
    saver sv = {.shuffle = shuffle, .text = VS_BUF_INIT(BLOCK_TEXT_MAX + 32)};
    sv.opts = opts ? opts : &defaults;

    int error = vs_fmt__select(&cols, &ncols, st, sv.opts);
    if (error < 0)
        goto done;
    if (ncols > UINT32_MAX) {
        error = vs_error_set(VS_ETOOBIG, "too many collections");
        goto done;
    }
    for (size_t i = 0; i < ncols; i++)
        sv.total += vs_collection_count(cols[i]);

    /* Use the caller's digest only when it covers exactly this document. */
    if (vs_stream_is_hash(out) && vs_stream_bytes(out) == 0) {
        sv.w = out;
    } else {
        error = vs_stream_hash_new(&own, out, true);
        if (error < 0)
            goto done;
        sv.w = own;
    }

    error = write_header(&sv, st, (uint32_t)ncols);
    for (size_t i = 0; error == 0 && i < ncols; i++)
        error = save_collection(&sv, cols[i]);
    if (error == 0)
        error = vs_stream_write_u8(sv.w, OP_EOF);
    uint8_t digest[VS_SHA256_LEN];
    if (error == 0)
        error = vs_stream_hash_peek(sv.w, digest);
    if (error == 0)
        error = vs_stream_write(sv.w, digest, sizeof(digest));
    if (error == 0 && own)
        error = vs_stream_finish(own);
done:
    vs_stream_free(own);
    vs_buf_dispose(&sv.text);
    free(sv.planes);
    free(cols);
    return error;
}

/* ---- loading ---- */

typedef struct loader {
    vs_stream *r; /* the hash stage everything is read through */
    vs_store *st;
    const vs_load_options *opts;
    uint64_t size_hint;
    bool shuffle;
    uint64_t seq, total;
    uint32_t ncols;
    /* progress through the document */
    uint32_t cols_seen;
    uint64_t declared; /* sum of the record counts of collections seen */
    uint64_t done;     /* records loaded */
    /* the open collection */
    vs_collection *cur;
    uint64_t cur_count, cur_done;
    /* scratch reused by every block */
    uint8_t *text;
    size_t text_alloc;
    float *vecs;
    size_t vecs_alloc;
    uint8_t *planes;
    size_t planes_alloc;
    vs_record *recs;
    size_t recs_alloc;
} loader;

static uint64_t at(const loader *ld)
{
    return vs_stream_bytes(ld->r);
}

/* A store rejection of file content (bad id, duplicate, NaN, bad name) is
 * corruption of the file: keep the store's message, add where. */
static int as_corrupt(int error, const char *what, uint64_t off)
{
    if (error != VS_EINVALID && error != VS_ETOOBIG && error != VS_EEXISTS)
        return error;
    char msg[384];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return vs_error_set(VS_ECORRUPT, "%s at byte %llu: %s", what,
                        (unsigned long long)off, msg);
}

static int read_header(loader *ld)
{
    uint8_t h[BIN_HEADER_LEN];
    size_t got;
    int error = vs_stream_read(ld->r, h, sizeof(h), &got);
    if (error < 0)
        return error;
    if (got < sizeof(bin_magic) || memcmp(h, bin_magic, sizeof(bin_magic)))
        return vs_error_set(VS_ECORRUPT,
                            "not a vecsnap binary document (bad magic)");
    if (got < sizeof(h))
        return vs_error_set(VS_ECORRUPT, "header truncated after %zu bytes",
                            got);
    unsigned version = (unsigned)get_le(h + 8, 2);
    unsigned flags = (unsigned)get_le(h + 10, 2);
    if (version == 0)
        return vs_error_set(VS_ECORRUPT, "bad format version 0 at byte 8");
    if (version > BIN_VERSION)
        return vs_error_set(VS_EVERSION,
                            "binary format version %u is newer than this "
                            "build reads (%d)",
                            version, BIN_VERSION);
    if (flags & ~BIN_FLAGS_KNOWN)
        return vs_error_set(VS_EVERSION,
                            "unknown header flags 0x%04x at byte 10", flags);
    ld->shuffle = (flags & BIN_FLAG_SHUFFLE) != 0;
    ld->seq = get_le(h + 12, 8);
    ld->ncols = (uint32_t)get_le(h + 20, 4);
    ld->total = get_le(h + 24, 8);
    return 0;
}

static int read_collection(loader *ld, uint64_t off)
{
    uint64_t nlen;
    char name[VS_NAME_MAX + 1];
    uint8_t f[13];
    int error = vs_stream_read_varint(ld->r, &nlen);
    if (error < 0)
        return error;
    if (nlen == 0 || nlen > VS_NAME_MAX)
        return vs_error_set(VS_ECORRUPT,
                            "collection at byte %llu: name length %llu "
                            "(1..%d allowed)",
                            (unsigned long long)off, (unsigned long long)nlen,
                            VS_NAME_MAX);
    error = vs_stream_read_exact(ld->r, name, (size_t)nlen);
    if (error == 0)
        error = vs_stream_read_exact(ld->r, f, sizeof(f));
    if (error < 0)
        return error;
    name[nlen] = '\0';
    if (memchr(name, '\0', (size_t)nlen))
        return vs_error_set(VS_ECORRUPT, "collection at byte %llu: NUL in name",
                            (unsigned long long)off);
    uint64_t dim = get_le(f, 4), metric = f[4], count = get_le(f + 5, 8);
    if (dim == 0 || dim > VS_DIM_MAX)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: dimension %llu "
                            "(1..%d allowed)",
                            name, (unsigned long long)off,
                            (unsigned long long)dim, VS_DIM_MAX);
    if (metric > VS_METRIC_DOT)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: unknown metric %u",
                            name, (unsigned long long)off, (unsigned)metric);
    if (ld->cols_seen >= ld->ncols)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu is more than the "
                            "header's %u",
                            name, (unsigned long long)off, ld->ncols);
    uint64_t vbytes = dim * sizeof(float);
    if (count > COLLECTION_RECORDS_MAX || count > ld->total - ld->declared ||
        (ld->size_hint && count > ld->size_hint / vbytes))
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: record count "
                            "%llu exceeds what the header or input size "
                            "allows",
                            name, (unsigned long long)off,
                            (unsigned long long)count);

    vs_collection *c;
    error = vs_store_create(&c, ld->st, name, (uint32_t)dim, (vs_metric)metric);
    if (error < 0)
        return as_corrupt(error, "collection", off);
    uint64_t limit = ld->size_hint ? ld->size_hint : RESERVE_UNKNOWN_MAX;
    uint64_t reserve = count < limit / vbytes ? count : limit / vbytes;
    error = vs_collection_reserve(c, (size_t)reserve);
    if (error < 0)
        return error;
    ld->cols_seen++;
    ld->declared += count;
    ld->cur = c;
    ld->cur_count = count;
    ld->cur_done = 0;
    return 0;
}

/* Parse n (length, bytes) entries of a block's text section; ids when
 * `ids`, metadata otherwise. */
static int parse_entries(loader *ld, size_t n, size_t tlen, size_t *pos,
                         bool ids, uint64_t off)
{
    size_t lo = ids ? 1 : 0, hi = ids ? VS_ID_MAX : VS_METADATA_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t len;
        if (!get_varint(&len, ld->text, tlen, pos) || len < lo || len > hi ||
            len > tlen - *pos)
            return vs_error_set(VS_ECORRUPT,
                                "records block at byte %llu: bad %s length "
                                "for record %zu",
                                (unsigned long long)off,
                                ids ? "id" : "metadata", i);
        const char *p = len ? (const char *)ld->text + *pos : NULL;
        if (ids) {
            ld->recs[i].id = p;
            ld->recs[i].id_len = (size_t)len;
        } else {
            ld->recs[i].metadata = p;
            ld->recs[i].metadata_len = (size_t)len;
        }
        *pos += (size_t)len;
    }
    return 0;
}

static int read_vectors(loader *ld, size_t nfloats)
{
    size_t bytes = nfloats * sizeof(float);
    int error = grow((void **)&ld->vecs, &ld->vecs_alloc, bytes);
    if (error < 0)
        return error;
    if (!ld->shuffle)
        return vs_stream_read_exact(ld->r, ld->vecs, bytes);
    error = grow((void **)&ld->planes, &ld->planes_alloc, bytes);
    if (error == 0)
        error = vs_stream_read_exact(ld->r, ld->planes, bytes);
    if (error == 0)
        vs_unshuffle4((uint8_t *)ld->vecs, ld->planes, nfloats);
    return error;
}

static int read_block(loader *ld, uint64_t off)
{
    uint32_t dim = vs_collection_dimension(ld->cur);
    size_t cap = block_cap(dim);
    uint64_t n, tlen;
    int error = vs_stream_read_varint(ld->r, &n);
    if (error < 0)
        return error;
    if (n == 0 || n > cap || n > ld->cur_count - ld->cur_done)
        return vs_error_set(VS_ECORRUPT,
                            "records block at byte %llu: %llu records (1..%zu "
                            "allowed, %llu left in collection '%s')",
                            (unsigned long long)off, (unsigned long long)n, cap,
                            (unsigned long long)(ld->cur_count - ld->cur_done),
                            vs_collection_name(ld->cur));
    error = vs_stream_read_varint(ld->r, &tlen);
    if (error < 0)
        return error;
    if (tlen > BLOCK_TEXT_MAX)
        return vs_error_set(VS_ECORRUPT,
                            "records block at byte %llu: text section of "
                            "%llu bytes (at most %zu)",
                            (unsigned long long)off, (unsigned long long)tlen,
                            BLOCK_TEXT_MAX);
    error = grow((void **)&ld->text, &ld->text_alloc, tlen ? tlen : 1);
    if (error == 0)
        error = grow((void **)&ld->recs, &ld->recs_alloc,
                     (size_t)n * sizeof(vs_record));
    if (error == 0)
        error = vs_stream_read_exact(ld->r, ld->text, (size_t)tlen);
    if (error < 0)
        return error;
    size_t pos = 0;
    error = parse_entries(ld, (size_t)n, (size_t)tlen, &pos, true, off);
    if (error == 0)
        error = parse_entries(ld, (size_t)n, (size_t)tlen, &pos, false, off);
    if (error == 0 && pos != tlen)
        error = vs_error_set(VS_ECORRUPT,
                             "records block at byte %llu: %llu stray bytes "
                             "in the text section",
                             (unsigned long long)off,
                             (unsigned long long)(tlen - pos));
    if (error == 0)
        error = read_vectors(ld, (size_t)n * dim);
    if (error < 0)
        return error;
    for (size_t i = 0; i < n; i++)
        ld->recs[i].vector = ld->vecs + i * (size_t)dim;
    error = vs_collection_load(ld->cur, ld->recs, (size_t)n, ld->seq);
    if (error < 0)
        return as_corrupt(error, "records block", off);
    ld->cur_done += n;
    ld->done += n;
    if (!ld->opts)
        return 0;
    return vs_fmt__progress(ld->opts->progress, ld->opts->payload, ld->done,
                            ld->total);
}

static int read_trailer(loader *ld)
{
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN], extra;
    size_t more;
    if (ld->cols_seen != ld->ncols || ld->declared != ld->total)
        return vs_error_set(VS_ECORRUPT,
                            "document holds %u collections and %llu records, "
                            "its header says %u and %llu",
                            ld->cols_seen, (unsigned long long)ld->declared,
                            ld->ncols, (unsigned long long)ld->total);
    int error = vs_stream_hash_peek(ld->r, want);
    if (error == 0)
        error = vs_stream_read_exact(ld->r, got, sizeof(got));
    if (error < 0)
        return error;
    if (!vs_sha256_equal(want, got))
        return vs_error_set(VS_ECORRUPT, "checksum mismatch");
    error = vs_stream_read(ld->r, &extra, 1, &more);
    if (error < 0)
        return error;
    if (more)
        return vs_error_set(VS_ECORRUPT,
                            "trailing data after checksum at byte %llu",
                            (unsigned long long)(at(ld) - 1));
    return 0;
}

static int read_body(loader *ld)
{
    for (;;) {
        uint64_t off = at(ld);
        uint8_t op;
        int error = vs_stream_read_u8(ld->r, &op);
        if (error < 0)
            return error;
        switch (op) {
        case OP_COLLECTION:
            if (ld->cur)
                return vs_error_set(VS_ECORRUPT,
                                    "collection at byte %llu opens inside "
                                    "collection '%s'",
                                    (unsigned long long)off,
                                    vs_collection_name(ld->cur));
            error = read_collection(ld, off);
            break;
        case OP_RECORDS:
            if (!ld->cur)
                return vs_error_set(VS_ECORRUPT,
                                    "records block at byte %llu outside a "
                                    "collection",
                                    (unsigned long long)off);
            error = read_block(ld, off);
            break;
        case OP_END_COLLECTION:
            if (!ld->cur)
                return vs_error_set(VS_ECORRUPT,
                                    "end of collection at byte %llu outside a "
                                    "collection",
                                    (unsigned long long)off);
            if (ld->cur_done != ld->cur_count)
                return vs_error_set(VS_ECORRUPT,
                                    "collection '%s' ends at byte %llu after "
                                    "%llu of its %llu records",
                                    vs_collection_name(ld->cur),
                                    (unsigned long long)off,
                                    (unsigned long long)ld->cur_done,
                                    (unsigned long long)ld->cur_count);
            ld->cur = NULL;
            break;
        case OP_EOF:
            if (ld->cur)
                return vs_error_set(VS_ECORRUPT,
                                    "end of document at byte %llu inside "
                                    "collection '%s'",
                                    (unsigned long long)off,
                                    vs_collection_name(ld->cur));
            return read_trailer(ld);
        default:
            return vs_error_set(VS_ECORRUPT,
                                "unknown opcode 0x%02x at byte %llu", op,
                                (unsigned long long)off);
        }
        if (error < 0)
            return error;
    }
}

int vs_fmt_bin_load(vs_store **out, vs_file_info *info, vs_stream *in,
                    uint64_t size_hint, const vs_load_options *opts)
{
    loader ld = {.opts = opts, .size_hint = size_hint};
    vs_stream *own = NULL;
    *out = NULL;

    int error = vs_store_new(&ld.st);
    if (error < 0)
        goto done;
    /* Use the caller's digest only when it covers exactly this document. */
    if (vs_stream_is_hash(in) && vs_stream_bytes(in) == 0) {
        ld.r = in;
    } else {
        /* Not a file read directly: the input comes through a codec whose
         * decoder reads ahead on the other core, beside the file's own hash
         * thread.  Hashing the document inline keeps this core busy and that
         * one free (measured: threaded here was the slower of the two). */
        error = vs_stream_hash_new(&own, in, false);
        if (error < 0)
            goto done;
        ld.r = own;
    }
    error = read_header(&ld);
    if (error == 0)
        error = read_body(&ld);
    if (error < 0)
        goto done;

    vs_store_set_seq(ld.st, ld.seq);
    if (info) {
        info->format = VS_FORMAT_BIN;
        info->bytes = at(&ld);
        info->content_verified = true;
        info->seq = ld.seq;
        info->records = ld.done;
        info->ncollections = ld.cols_seen;
    }
    *out = ld.st;
    ld.st = NULL;
done:
    vs_store_free(ld.st);
    vs_stream_free(own);
    free(ld.text);
    free(ld.vecs);
    free(ld.planes);
    free(ld.recs);
    return error;
}
