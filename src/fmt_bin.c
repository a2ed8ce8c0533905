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
 * Incremental documents (the INCREMENTAL flag; fmt_bin_incr.c, with
 * fmt_bin_int.h between the two) carry what changed since a seq: every
 * collection that exists (CHANGES), for each the deletions (DELETE
 * blocks) and the records written since; a collection created since is
 * carried whole.  The writer finds the changes with one scan of
 * each collection's seq array and gathers the changed records' vectors
 * block by block, so its cost follows the change.  The reader applies them
 * to the store the caller names (vs_load_options.apply_to), checking
 * each collection's record count afterwards against the document's.
 *
 * The caller holds the store's read lock across a save (the store functions
 * do not lock).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "fmt_bin_int.h"
#include "shuffle.h"

/* Vectors go to and from the stream as the host's floats: the format is
 * little-endian float32, which is what the host must be. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fmt_bin writes floats in host order: little-endian only");
_Static_assert(sizeof(float) == 4, "float must be IEEE 754 binary32");

static const uint8_t bin_magic[8] = {0x89, 'V',  'S',  'N',
                                     '\r', '\n', 0x1a, '\n'};

/* ---- saving ---- */

static int write_header(vs_fmt__saver *sv, vs_store *st, uint32_t ncols)
{
    uint8_t h[BIN_HEADER_LEN + BIN_INCR_LEN];
    bool incr = sv->opts->incremental;
    memcpy(h, bin_magic, sizeof(bin_magic));
    put_le(h + 8, BIN_VERSION, 2);
    put_le(h + 10,
           (sv->shuffle ? BIN_FLAG_SHUFFLE : 0) |
               (incr ? BIN_FLAG_INCREMENTAL : 0),
           2);
    put_le(h + 12, vs_store_seq(st), 8);
    put_le(h + 20, ncols, 4);
    put_le(h + 24, sv->total, 8);
    put_le(h + 32, sv->since, 8);
    put_le(h + 40, sv->ndeletes, 8);
    return vs_stream_write(sv->w, h, incr ? sizeof(h) : BIN_HEADER_LEN);
}

/* COLLECTION, or CHANGES when `ch` (incremental): name, dimension, metric,
 * then the count (full), or flags, count, ndeletes and total (changes). */
int vs_fmt__bin_write_collection_head(vs_fmt__saver *sv, const vs_collection *c,
                                      const uint64_t *ch)
{
    const char *name = vs_collection_name(c);
    size_t nlen = strlen(name);
    uint8_t h[1 + 10 + VS_NAME_MAX + 4 + 1 + 1 + 3 * 8];
    if (nlen == 0 || nlen > VS_NAME_MAX)
        return vs_error_set(VS_EINVALID, "bad collection name '%s'", name);
    size_t n = 0;
    h[n++] = ch ? OP_CHANGES : OP_COLLECTION;
    n += put_varint(h + n, nlen);
    memcpy(h + n, name, nlen);
    n += nlen;
    put_le(h + n, vs_collection_dimension(c), 4);
    n += 4;
    h[n++] = (uint8_t)vs_collection_metric(c);
    if (ch)
        h[n++] = (uint8_t)ch[0];
    put_le(h + n, ch ? ch[1] : vs_collection_count(c), 8);
    n += 8;
    for (int i = 2; ch && i < 4; i++, n += 8)
        put_le(h + n, ch[i], 8);
    return vs_stream_write(sv->w, h, n);
}

/* Slot of the i-th record to write: `slots` lists them, or NULL: all. */
static size_t slot_at(const uint32_t *slots, size_t i)
{
    return slots ? slots[i] : i;
}

/* How many records from `start` (of `count`) form the next block, and the
 * size of its id/metadata section. */
static int plan_block(size_t *n_out, size_t *tlen_out, const vs_collection *c,
                      const uint32_t *slots, size_t count, size_t start)
{
    size_t cap = block_cap(vs_collection_dimension(c));
    size_t n = 0, tlen = 0;
    while (start + n < count && n < cap) {
        vs_record r;
        vs_collection_slot(&r, c, slot_at(slots, start + n));
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
static int write_block(vs_fmt__saver *sv, const vs_collection *c,
                       const uint32_t *slots, size_t start, size_t n,
                       size_t tlen)
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
        vs_collection_slot(&r, c, slot_at(slots, start + i));
        len += put_varint(p + len, r.id_len);
        memcpy(p + len, r.id, r.id_len);
        len += r.id_len;
    }
    for (size_t i = 0; i < n; i++) {
        vs_record r;
        vs_collection_slot(&r, c, slot_at(slots, start + i));
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

    size_t nfloats = n * (size_t)dim;
    const float *vecs = vs_collection_vectors(c) + start * (size_t)dim;
    if (slots) { /* scattered records: gather their vectors */
        error = grow((void **)&sv->gather, &sv->gather_alloc,
                     nfloats * sizeof(float));
        if (error < 0)
            return error;
        for (size_t i = 0; i < n; i++)
            memcpy(sv->gather + i * (size_t)dim,
                   vs_collection_vectors(c) + (size_t)slots[start + i] * dim,
                   dim * sizeof(float));
        vecs = sv->gather;
    }
    if (!sv->shuffle)
        return vs_stream_write(sv->w, vecs, nfloats * sizeof(float));
    error =
        grow((void **)&sv->planes, &sv->planes_alloc, nfloats * sizeof(float));
    if (error < 0)
        return error;
    vs_shuffle4(sv->planes, (const uint8_t *)vecs, nfloats);
    return vs_stream_write(sv->w, sv->planes, nfloats * sizeof(float));
}

/* The records (`slots` of them, or all when NULL) in blocks. */
int vs_fmt__bin_write_records(vs_fmt__saver *sv, const vs_collection *c,
                              const uint32_t *slots, size_t count)
{
    int error = 0;
    for (size_t start = 0; error == 0 && start < count;) {
        size_t n = 0, tlen = 0;
        error = plan_block(&n, &tlen, c, slots, count, start);
        if (error == 0)
            error = write_block(sv, c, slots, start, n, tlen);
        start += n;
        sv->done += n;
        if (error == 0)
            error = vs_fmt__progress(sv->opts->progress, sv->opts->payload,
                                     sv->done, sv->total);
    }
    return error;
}

static int save_collection(vs_fmt__saver *sv, const vs_collection *c)
{
    int error = vs_fmt__bin_write_collection_head(sv, c, NULL);
    if (error == 0)
        error = vs_fmt__bin_write_records(sv, c, NULL, vs_collection_count(c));
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
    vs_fmt__saver sv = {.shuffle = shuffle,
                        .text = VS_BUF_INIT(BLOCK_TEXT_MAX + 32)};
    sv.opts = opts ? opts : &defaults;
    bool incr = sv.opts->incremental;

    int error = 0;
    if (incr && sv.opts->collections)
        error = vs_error_set(VS_EINVALID, "an incremental document covers the "
                                          "whole store, not chosen "
                                          "collections");
    if (error == 0 && incr && sv.opts->since_seq > vs_store_seq(st))
        error = vs_error_set(VS_EINVALID,
                             "incremental since seq %llu: the store is at "
                             "seq %llu",
                             (unsigned long long)sv.opts->since_seq,
                             (unsigned long long)vs_store_seq(st));
    if (error == 0)
        error = vs_fmt__select(&cols, &ncols, st, sv.opts);
    if (error < 0)
        goto done;
    if (ncols > UINT32_MAX) {
        error = vs_error_set(VS_ETOOBIG, "too many collections");
        goto done;
    }
    if (incr) {
        sv.since = sv.opts->since_seq;
        vs_fmt__changes(&sv.total, &sv.ndeletes, st, sv.since);
    } else {
        for (size_t i = 0; i < ncols; i++)
            sv.total += vs_collection_count(cols[i]);
    }

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
        error = incr ? vs_fmt__bin_save_changes(&sv, cols[i])
                     : save_collection(&sv, cols[i]);
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
    free(sv.gather);
    free(sv.slots);
    free(cols);
    return error;
}

/* ---- loading ---- */

static uint64_t at(const vs_fmt__loader *ld)
{
    return vs_stream_bytes(ld->r);
}

/* A store rejection of file content (bad id, duplicate, NaN, bad name) is
 * corruption of the file: keep the store's message, add where. */
int vs_fmt__bin_as_corrupt(int error, const char *what, uint64_t off)
{
    if (error != VS_EINVALID && error != VS_ETOOBIG && error != VS_EEXISTS)
        return error;
    char msg[384];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return vs_error_set(VS_ECORRUPT, "%s at byte %llu: %s", what,
                        (unsigned long long)off, msg);
}

static int read_header(vs_fmt__loader *ld)
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
    ld->incremental = (flags & BIN_FLAG_INCREMENTAL) != 0;
    ld->seq = get_le(h + 12, 8);
    ld->ncols = (uint32_t)get_le(h + 20, 4);
    ld->total = get_le(h + 24, 8);
    if (ld->incremental)
        return vs_fmt__bin_read_incremental_head(ld);
    if (ld->apply)
        return vs_error_set(VS_EINVALID,
                            "a full document (seq %llu), not the changes "
                            "this snapshot needs",
                            (unsigned long long)ld->seq);
    return 0;
}

/* The fixed fields of a COLLECTION or CHANGES record: name, dimension,
 * metric, then `nf` more bytes into f. */
int vs_fmt__bin_read_collection_fields(char name[VS_NAME_MAX + 1],
                                       uint64_t *dim, uint8_t *metric,
                                       uint8_t *f, size_t nf,
                                       vs_fmt__loader *ld, uint64_t off)
{
    uint64_t nlen;
    uint8_t d[5];
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
        error = vs_stream_read_exact(ld->r, d, sizeof(d));
    if (error == 0)
        error = vs_stream_read_exact(ld->r, f, nf);
    if (error < 0)
        return error;
    name[nlen] = '\0';
    if (memchr(name, '\0', (size_t)nlen))
        return vs_error_set(VS_ECORRUPT, "collection at byte %llu: NUL in name",
                            (unsigned long long)off);
    *dim = get_le(d, 4);
    *metric = d[4];
    if (*dim == 0 || *dim > VS_DIM_MAX)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: dimension %llu "
                            "(1..%d allowed)",
                            name, (unsigned long long)off,
                            (unsigned long long)*dim, VS_DIM_MAX);
    if (*metric > VS_METRIC_DOT)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: unknown metric %u",
                            name, (unsigned long long)off, (unsigned)*metric);
    if (ld->cols_seen >= ld->ncols)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu is more than the "
                            "header's %u",
                            name, (unsigned long long)off, ld->ncols);
    return 0;
}

/* A record count against the header's and the input's size. */
int vs_fmt__bin_check_count(const vs_fmt__loader *ld, const char *name,
                            uint64_t count, uint64_t dim, uint64_t off)
{
    uint64_t vbytes = dim * sizeof(float);
    if (count > COLLECTION_RECORDS_MAX || count > ld->total - ld->declared ||
        (ld->size_hint && count > ld->size_hint / vbytes))
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' at byte %llu: record count "
                            "%llu exceeds what the header or input size "
                            "allows",
                            name, (unsigned long long)off,
                            (unsigned long long)count);
    return 0;
}

/* Create a collection to load `count` records into, room reserved as far
 * as the input size allows. */
int vs_fmt__bin_open_new(vs_fmt__loader *ld, const char *name, uint64_t dim,
                         uint8_t metric, uint64_t count, uint64_t off)
{
    vs_collection *c;
    int error =
        vs_store_create(&c, ld->st, name, (uint32_t)dim, (vs_metric)metric);
    if (error < 0)
        return vs_fmt__bin_as_corrupt(error, "collection", off);
    uint64_t vbytes = dim * sizeof(float);
    uint64_t limit = ld->size_hint ? ld->size_hint : RESERVE_UNKNOWN_MAX;
    uint64_t reserve = count < limit / vbytes ? count : limit / vbytes;
    error = vs_collection_reserve(c, (size_t)reserve);
    if (error < 0)
        return error;
    ld->cur = c;
    return 0;
}

static int read_collection(vs_fmt__loader *ld, uint64_t off)
{
    char name[VS_NAME_MAX + 1];
    uint64_t dim;
    uint8_t metric, f[8];
    int error = vs_fmt__bin_read_collection_fields(name, &dim, &metric, f,
                                                   sizeof(f), ld, off);
    if (error < 0)
        return error;
    uint64_t count = get_le(f, 8);
    error = vs_fmt__bin_check_count(ld, name, count, dim, off);
    if (error == 0)
        error = vs_fmt__bin_open_new(ld, name, dim, metric, count, off);
    if (error < 0)
        return error;
    ld->cols_seen++;
    ld->declared += count;
    ld->cur_count = count;
    ld->cur_done = 0;
    return 0;
}

/* Parse n (length, bytes) entries of a block's text section; ids when
 * `ids`, metadata otherwise. */
static int parse_entries(vs_fmt__loader *ld, size_t n, size_t tlen, size_t *pos,
                         bool ids, const char *block, uint64_t off)
{
    size_t lo = ids ? 1 : 0, hi = ids ? VS_ID_MAX : VS_METADATA_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t len;
        if (!get_varint(&len, ld->text, tlen, pos) || len < lo || len > hi ||
            len > tlen - *pos)
            return vs_error_set(VS_ECORRUPT,
                                "%s block at byte %llu: bad %s length "
                                "for record %zu",
                                block, (unsigned long long)off,
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

/* The head of a RECORDS or DELETE block (n, then the text section read
 * into ld->text and its ids parsed): n at most `cap` and `left`. */
int vs_fmt__bin_read_block_head(uint64_t *n_out, size_t *tlen_out, size_t *pos,
                                vs_fmt__loader *ld, size_t cap, uint64_t left,
                                bool records, uint64_t off)
{
    const char *what = records ? "records" : "delete";
    uint64_t n, tlen;
    int error = vs_stream_read_varint(ld->r, &n);
    if (error < 0)
        return error;
    if (n == 0 || n > cap || n > left)
        return vs_error_set(VS_ECORRUPT,
                            "%s block at byte %llu: %llu records (1..%zu "
                            "allowed, %llu left in collection '%s')",
                            what, (unsigned long long)off,
                            (unsigned long long)n, cap,
                            (unsigned long long)left,
                            vs_collection_name(ld->cur));
    error = vs_stream_read_varint(ld->r, &tlen);
    if (error < 0)
        return error;
    if (tlen > BLOCK_TEXT_MAX)
        return vs_error_set(VS_ECORRUPT,
                            "%s block at byte %llu: text section of "
                            "%llu bytes (at most %zu)",
                            what, (unsigned long long)off,
                            (unsigned long long)tlen, BLOCK_TEXT_MAX);
    error = grow((void **)&ld->text, &ld->text_alloc, tlen ? tlen : 1);
    if (error == 0)
        error = grow((void **)&ld->recs, &ld->recs_alloc,
                     (size_t)n * sizeof(vs_record));
    if (error == 0)
        error = vs_stream_read_exact(ld->r, ld->text, (size_t)tlen);
    if (error < 0)
        return error;
    memset(ld->recs, 0, (size_t)n * sizeof(vs_record));
    *pos = 0;
    *n_out = n;
    *tlen_out = (size_t)tlen;
    return parse_entries(ld, (size_t)n, (size_t)tlen, pos, true, what, off);
}

static int read_vectors(vs_fmt__loader *ld, size_t nfloats)
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

int vs_fmt__bin_stray_bytes(size_t tlen, size_t pos, uint64_t off)
{
    if (pos == tlen)
        return 0;
    return vs_error_set(VS_ECORRUPT,
                        "block at byte %llu: %llu stray bytes in the text "
                        "section",
                        (unsigned long long)off,
                        (unsigned long long)(tlen - pos));
}

static int read_block(vs_fmt__loader *ld, uint64_t off)
{
    uint32_t dim = vs_collection_dimension(ld->cur);
    uint64_t n;
    size_t tlen, pos;
    int error =
        vs_fmt__bin_read_block_head(&n, &tlen, &pos, ld, block_cap(dim),
                                    ld->cur_count - ld->cur_done, true, off);
    if (error == 0)
        error = parse_entries(ld, (size_t)n, tlen, &pos, false, "records",
                              off);
    if (error == 0)
        error = vs_fmt__bin_stray_bytes(tlen, pos, off);
    if (error == 0)
        error = read_vectors(ld, (size_t)n * dim);
    if (error < 0)
        return error;
    for (size_t i = 0; i < n; i++)
        ld->recs[i].vector = ld->vecs + i * (size_t)dim;
    if (ld->apply)
        error = vs_collection_apply(ld->cur, ld->recs, (size_t)n, ld->seq);
    else
        error = vs_collection_load(ld->cur, ld->recs, (size_t)n, ld->seq);
    if (error < 0)
        return vs_fmt__bin_as_corrupt(error, "records block", off);
    ld->cur_done += n;
    ld->done += n;
    if (!ld->opts)
        return 0;
    return vs_fmt__progress(ld->opts->progress, ld->opts->payload, ld->done,
                            ld->total);
}

static int end_collection(vs_fmt__loader *ld, uint64_t off)
{
    const char *name = vs_collection_name(ld->cur);
    if (ld->cur_done != ld->cur_count || ld->cur_del_done != ld->cur_del)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' ends at byte %llu after "
                            "%llu of its %llu records, %llu of its %llu "
                            "deletions",
                            name, (unsigned long long)off,
                            (unsigned long long)ld->cur_done,
                            (unsigned long long)ld->cur_count,
                            (unsigned long long)ld->cur_del_done,
                            (unsigned long long)ld->cur_del);
    if (ld->apply && vs_collection_count(ld->cur) != ld->cur_total)
        return vs_error_set(VS_ECORRUPT,
                            "collection '%s' holds %zu records after the "
                            "changes, the document says %llu: they do not "
                            "apply to this state",
                            name, vs_collection_count(ld->cur),
                            (unsigned long long)ld->cur_total);
    ld->cur = NULL;
    return 0;
}

static int read_trailer(vs_fmt__loader *ld)
{
    uint8_t want[VS_SHA256_LEN], got[VS_SHA256_LEN], extra;
    size_t more;
    if (ld->cols_seen != ld->ncols || ld->declared != ld->total ||
        ld->del_declared != ld->ndeletes)
        return vs_error_set(VS_ECORRUPT,
                            "document holds %u collections, %llu records and "
                            "%llu deletions, its header says %u, %llu and "
                            "%llu",
                            ld->cols_seen, (unsigned long long)ld->declared,
                            (unsigned long long)ld->del_declared, ld->ncols,
                            (unsigned long long)ld->total,
                            (unsigned long long)ld->ndeletes);
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

/* The opcode at `off` may not come here: an unknown one, or one of the
 * other kind of document. */
static int misplaced(const vs_fmt__loader *ld, uint8_t op, uint64_t off)
{
    bool changes = op == OP_CHANGES || op == OP_DELETE;
    if (!changes && op != OP_COLLECTION && op != OP_RECORDS)
        return vs_error_set(VS_ECORRUPT, "unknown opcode 0x%02x at byte %llu",
                            op, (unsigned long long)off);
    if (changes && !ld->incremental)
        return vs_error_set(VS_ECORRUPT,
                            "unknown opcode 0x%02x at byte %llu (only "
                            "incremental documents have it)",
                            op, (unsigned long long)off);
    if (op == OP_COLLECTION && ld->incremental)
        return vs_error_set(VS_ECORRUPT,
                            "collection at byte %llu: an incremental "
                            "document lists changes",
                            (unsigned long long)off);
    if (op == OP_COLLECTION || op == OP_CHANGES)
        return vs_error_set(VS_ECORRUPT,
                            "collection at byte %llu opens inside "
                            "collection '%s'",
                            (unsigned long long)off,
                            vs_collection_name(ld->cur));
    return vs_error_set(VS_ECORRUPT,
                        "%s block at byte %llu outside a collection",
                        op == OP_RECORDS ? "records" : "delete",
                        (unsigned long long)off);
}

static int read_body(vs_fmt__loader *ld)
{
    for (;;) {
        uint64_t off = at(ld);
        uint8_t op;
        int error = vs_stream_read_u8(ld->r, &op);
        if (error < 0)
            return error;
        if (op == OP_COLLECTION && !ld->cur && !ld->incremental)
            error = read_collection(ld, off);
        else if (op == OP_CHANGES && !ld->cur && ld->incremental)
            error = vs_fmt__bin_read_changes(ld, off);
        else if (op == OP_RECORDS && ld->cur)
            error = read_block(ld, off);
        else if (op == OP_DELETE && ld->cur && ld->incremental)
            error = vs_fmt__bin_read_deletes(ld, off);
        else if (op == OP_END_COLLECTION && ld->cur)
            error = end_collection(ld, off);
        else if (op == OP_END_COLLECTION)
            error = vs_error_set(VS_ECORRUPT,
                                 "end of collection at byte %llu outside a "
                                 "collection",
                                 (unsigned long long)off);
        else if (op == OP_EOF && ld->cur)
            error = vs_error_set(VS_ECORRUPT,
                                 "end of document at byte %llu inside "
                                 "collection '%s'",
                                 (unsigned long long)off,
                                 vs_collection_name(ld->cur));
        else if (op == OP_EOF)
            return read_trailer(ld);
        else
            error = misplaced(ld, op, off);
        if (error < 0)
            return error;
    }
}

int vs_fmt_bin_load(vs_store **out, vs_file_info *info, vs_stream *in,
                    uint64_t size_hint, const vs_load_options *opts)
{
    vs_fmt__loader ld = {.opts = opts, .size_hint = size_hint};
    vs_stream *own = NULL;
    *out = NULL;

    int error = 0;
    ld.apply = opts && opts->apply_to;
    if (ld.apply)
        ld.st = opts->apply_to;
    else
        error = vs_store_new(&ld.st);
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
    if (error == 0 && ld.apply)
        error = vs_fmt__bin_drop_unlisted(&ld);
    if (error < 0)
        goto done;

    if (ld.apply)
        vs_store_set_seq_exact(ld.st, ld.seq);
    else
        vs_store_set_seq(ld.st, ld.seq);
    if (info) {

        info->format = VS_FORMAT_BIN;
        info->bytes = at(&ld);
        info->content_verified = true;
        info->seq = ld.seq;
        info->records = ld.apply ? vs_store_nrecords(ld.st) : ld.done;
        info->ncollections = ld.cols_seen;
        info->incremental = ld.incremental;
        info->since_seq = ld.since;
        info->changed = ld.incremental ? ld.done : 0;
        info->deleted = ld.del_done;
    }
    if (!ld.apply)
        *out = ld.st;
    ld.st = NULL;
done:
    if (!ld.apply)
        vs_store_free(ld.st);
    vs_stream_free(own);
    free(ld.text);
    free(ld.vecs);
    free(ld.planes);
    free(ld.recs);
    free(ld.listed);
    return error;
}
