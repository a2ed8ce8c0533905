/*
 * fmt_bin_int: private to the binary format (fmt_bin.c: full documents,
 * the header, blocks and the trailer; fmt_bin_incr.c: what incremental
 * documents add -- CHANGES, DELETE blocks, the dropping of collections an
 * applied document does not list); nothing else includes it.  It holds
 * the format's constants (docs/FORMAT.md), the writer's and the reader's
 * state, the little helpers both use and the steps each lends the other.
 */
#ifndef VS_FMT_BIN_INT_H
#define VS_FMT_BIN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

#define BIN_VERSION 1
#define BIN_HEADER_LEN 32
#define BIN_INCR_LEN 16 /* since_seq and ndeletes, incremental only */
#define BIN_FLAG_SHUFFLE 0x0001u
#define BIN_FLAG_INCREMENTAL 0x8000u

#define BIN_FLAGS_KNOWN (BIN_FLAG_SHUFFLE | BIN_FLAG_INCREMENTAL)
#define CHANGES_RESET 0x01 /* CHANGES flag: created since, carried whole */

/* Opcodes are fixed forever; a retired number is never reused. */
enum {
    OP_COLLECTION = 0x01,
    OP_RECORDS = 0x02,
    OP_END_COLLECTION = 0x03,
    OP_DELETE = 0x04,  /* incremental documents only */
    OP_CHANGES = 0x06, /* incremental documents only */
    OP_EOF = 0xff
};

#define BLOCK_VEC_MAX ((size_t)1 << 20)  /* vector bytes of a block */
#define BLOCK_TEXT_MAX ((size_t)1 << 20) /* id + metadata section bytes */
#define BLOCK_RECORDS_MAX 16384
#define COLLECTION_RECORDS_MAX ((uint64_t)1 << 31) /* the store's limit */
/* Vector bytes preallocated per collection when the input size is unknown;
 * beyond it the store grows as records arrive. */
#define RESERVE_UNKNOWN_MAX ((uint64_t)256 << 20)

/* ---- little helpers ---- */

static inline size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t put_varint(uint8_t *p, uint64_t v)
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
static inline bool get_varint(uint64_t *v, const uint8_t *p, size_t len,
                              size_t *pos)
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

static inline void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Records per block for a dimension: ~1 MiB of vectors, at least one. */
static inline size_t block_cap(uint32_t dim)
{
    size_t n = BLOCK_VEC_MAX / ((size_t)dim * sizeof(float));
    if (n == 0)
        n = 1;
    return n > BLOCK_RECORDS_MAX ? BLOCK_RECORDS_MAX : n;
}

/* Metadata as written: "{}" (the store's empty object) is stored as
 * length 0. */
static inline size_t meta_len(const vs_record *r)
{
    if (r->metadata_len == 2 && memcmp(r->metadata, "{}", 2) == 0)
        return 0;
    return r->metadata_len;
}

/* Grow a scratch allocation to at least `need` bytes. */
static inline int grow(void **p, size_t *alloc, size_t need)
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

/* ---- the writer and the reader ---- */

typedef struct vs_fmt__saver {
    vs_stream *w; /* the hash stage everything goes through */
    bool shuffle;
    vs_buf text; /* block head + id/metadata section */
    uint8_t *planes;
    size_t planes_alloc;
    float *gather; /* vectors of scattered records, one block */
    size_t gather_alloc;
    uint32_t *slots; /* the changed records of a collection */
    size_t slots_alloc;
    const vs_save_options *opts;
    uint64_t done, total;
    uint64_t since, ndeletes; /* incremental */
} vs_fmt__saver;

typedef struct vs_fmt__loader {
    vs_stream *r; /* the hash stage everything is read through */
    vs_store *st; /* built here, or the caller's (apply) */
    const vs_load_options *opts;
    uint64_t size_hint;
    bool shuffle;
    uint64_t seq, total;
    uint32_t ncols;
    /* incremental documents */
    bool incremental;
    bool apply; /* st is opts->apply_to */
    uint64_t since, ndeletes;
    uint64_t del_declared, del_done;
    char (*listed)[VS_NAME_MAX + 1]; /* collections seen, in order */
    size_t listed_alloc;
    /* progress through the document */
    uint32_t cols_seen;
    uint64_t declared; /* sum of the record counts of collections seen */
    uint64_t done;     /* records loaded */
    /* the open collection */
    vs_collection *cur;
    uint64_t cur_count, cur_done;
    uint64_t cur_del, cur_del_done, cur_total; /* CHANGES */
    /* scratch reused by every block */
    uint8_t *text;
    size_t text_alloc;
    float *vecs;
    size_t vecs_alloc;
    uint8_t *planes;
    size_t planes_alloc;
    vs_record *recs;
    size_t recs_alloc;
} vs_fmt__loader;

/* ---- fmt_bin.c ---- */

/* COLLECTION, or CHANGES when `ch` (incremental): name, dimension, metric,
 * then the count (full), or flags, count, ndeletes and total (changes). */
int vs_fmt__bin_write_collection_head(vs_fmt__saver *sv, const vs_collection *c,
                                      const uint64_t *ch);
/* The records (`slots` of them, or all when NULL) in blocks. */
int vs_fmt__bin_write_records(vs_fmt__saver *sv, const vs_collection *c,
                              const uint32_t *slots, size_t count);
/* A store rejection of file content (bad id, duplicate, NaN, bad name) is
 * corruption of the file: keep the store's message, add where. */
int vs_fmt__bin_as_corrupt(int error, const char *what, uint64_t off);
/* The fixed fields of a COLLECTION or CHANGES record: name, dimension,
 * metric, then `nf` more bytes into f. */
int vs_fmt__bin_read_collection_fields(char name[VS_NAME_MAX + 1],
                                       uint64_t *dim, uint8_t *metric,
                                       uint8_t *f, size_t nf,
                                       vs_fmt__loader *ld, uint64_t off);
/* A record count against the header's and the input's size. */
int vs_fmt__bin_check_count(const vs_fmt__loader *ld, const char *name,
                            uint64_t count, uint64_t dim, uint64_t off);
/* Create a collection to load `count` records into, room reserved as far
 * as the input size allows. */
int vs_fmt__bin_open_new(vs_fmt__loader *ld, const char *name, uint64_t dim,
                         uint8_t metric, uint64_t count, uint64_t off);
/* The head of a RECORDS or DELETE block (n, then the text section read
 * into ld->text and its ids parsed): n at most `cap` and `left`. */
int vs_fmt__bin_read_block_head(uint64_t *n_out, size_t *tlen_out, size_t *pos,
                                vs_fmt__loader *ld, size_t cap, uint64_t left,
                                bool records, uint64_t off);
int vs_fmt__bin_stray_bytes(size_t tlen, size_t pos, uint64_t off);

/* ---- fmt_bin_incr.c ---- */

/* One collection of an incremental document: whole when it was created
 * since, else its tombstones and the records stamped since. */
int vs_fmt__bin_save_changes(vs_fmt__saver *sv, const vs_collection *c);
/* The 16 bytes after an incremental header, and what the caller asked. */
int vs_fmt__bin_read_incremental_head(vs_fmt__loader *ld);
/* CHANGES: a collection of an incremental document.  Applying, it is
 * found in the store (or made anew when reset); names come in ascending
 * order, which also keeps them unique. */
int vs_fmt__bin_read_changes(vs_fmt__loader *ld, uint64_t off);
int vs_fmt__bin_read_deletes(vs_fmt__loader *ld, uint64_t off);
/* Applying: the collections the document does not list were dropped. */
int vs_fmt__bin_drop_unlisted(vs_fmt__loader *ld);

#endif
