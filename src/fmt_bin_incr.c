/*
 * fmt_bin_incr: what incremental binary documents add to the format
 * (fmt_bin.c, docs/FORMAT.md): the writer's CHANGES records and DELETE
 * blocks, found with one scan of each collection's seq array, and the
 * reader's side -- the incremental header, CHANGES (a collection found in
 * the store the changes apply to, or made anew when reset), DELETE blocks,
 * and at the end the dropping of every collection the document does not
 * list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "fmt_bin_int.h"

/* ---- saving ---- */

/* DELETE blocks of the tombstones from index `first` on. */
static int write_deletes(vs_fmt__saver *sv, const vs_collection *c,
                         size_t first)
{
    size_t end = vs_collection_ntombstones(c);
    int error = 0;
    while (error == 0 && first < end) {
        size_t n = 0, tlen = 0;
        while (first + n < end && n < BLOCK_RECORDS_MAX) {
            const vs_tombstone *t = vs_collection_tombstone(c, first + n);
            size_t need = varint_len(t->id_len) + t->id_len;
            if (n > 0 && tlen + need > BLOCK_TEXT_MAX)
                break;
            tlen += need;
            n++;
        }
        vs_buf_reset(&sv->text);
        error = vs_buf_reserve(&sv->text, 1 + 10 + 10 + tlen);
        if (error < 0)
            break;
        uint8_t *p = (uint8_t *)sv->text.ptr;
        size_t len = 0;
        p[len++] = OP_DELETE;
        len += put_varint(p + len, n);
        len += put_varint(p + len, tlen);
        for (size_t i = 0; i < n; i++) {
            const vs_tombstone *t = vs_collection_tombstone(c, first + i);
            len += put_varint(p + len, t->id_len);
            memcpy(p + len, t->id, t->id_len);
            len += t->id_len;
        }
        error = vs_stream_write(sv->w, p, len);
        first += n;
    }
    return error;
}


/* One collection of an incremental document: whole when it was created
 * since, else its tombstones and the records stamped since. */
int vs_fmt__bin_save_changes(vs_fmt__saver *sv, const vs_collection *c)
{
    size_t count = vs_collection_count(c), n = 0;
    bool reset = vs_collection_created_seq(c) > sv->since;
    size_t first = reset ? vs_collection_ntombstones(c)
                         : vs_collection_tombstones_since(c, sv->since);
    if (!reset) {
        int error = grow((void **)&sv->slots, &sv->slots_alloc,
                         (count ? count : 1) * sizeof(uint32_t));
        if (error < 0)
            return error;
        /* room for every slot: only the pages the changes fill are
         * touched */
        for (size_t i = 0; i < count; i++)
            if (vs_collection_slot_seq(c, i) > sv->since)
                sv->slots[n++] = (uint32_t)i;
    }
    uint64_t ch[4] = {reset ? CHANGES_RESET : 0, reset ? count : n,
                      vs_collection_ntombstones(c) - first, count};
    int error = vs_fmt__bin_write_collection_head(sv, c, ch);
    if (error == 0)
        error = write_deletes(sv, c, first);
    if (error == 0)
        error = reset ? vs_fmt__bin_write_records(sv, c, NULL, count)
                      : vs_fmt__bin_write_records(sv, c, sv->slots, n);
    if (error == 0)
        error = vs_stream_write_u8(sv->w, OP_END_COLLECTION);
    return error;
}


void vs_fmt__changes(uint64_t *records, uint64_t *deleted, vs_store *st,
                     uint64_t since)
{
    *records = *deleted = 0;
    for (size_t i = 0; i < vs_store_ncollections(st); i++) {
        const vs_collection *c = vs_store_at(st, i);
        if (vs_collection_created_seq(c) > since) {
            *records += vs_collection_count(c);
            continue;
        }
        *records += vs_collection_count_since(c, since);
        *deleted += vs_collection_ntombstones(c) -
                    vs_collection_tombstones_since(c, since);
    }
}


/* ---- loading ---- */

/* The 16 bytes after an incremental header, and what the caller asked. */
int vs_fmt__bin_read_incremental_head(vs_fmt__loader *ld)
{
    uint8_t h[BIN_INCR_LEN];
    int error = vs_stream_read_exact(ld->r, h, sizeof(h));
    if (error < 0)
        return error;
    ld->since = get_le(h, 8);
    ld->ndeletes = get_le(h + 8, 8);
    if (ld->since > ld->seq ||
        (ld->since == ld->seq && (ld->total || ld->ndeletes)))
        return vs_error_set(VS_ECORRUPT,
                            "incremental document: changes since seq %llu "
                            "cannot lead to seq %llu",
                            (unsigned long long)ld->since,
                            (unsigned long long)ld->seq);
    if (!ld->opts || (!ld->opts->apply_to && !ld->opts->delta))
        return vs_error_set(VS_EINVALID,
                            "an incremental document (the changes from "
                            "seq %llu to %llu): only its snapshot chain "
                            "makes a store of it",
                            (unsigned long long)ld->since,
                            (unsigned long long)ld->seq);
    return 0;
}


/* CHANGES: a collection of an incremental document.  Applying, it is
 * found in the store (or made anew when reset); names come in ascending
 * order, which also keeps them unique. */
int vs_fmt__bin_read_changes(vs_fmt__loader *ld, uint64_t off)
{
    char name[VS_NAME_MAX + 1];
    uint64_t dim;
    uint8_t metric, f[25];
    int error = vs_fmt__bin_read_collection_fields(name, &dim, &metric, f,
                                                   sizeof(f), ld, off);
    if (error < 0)
        return error;
    uint64_t count = get_le(f + 1, 8), ndel = get_le(f + 9, 8);
    uint64_t total = get_le(f + 17, 8);
    bool reset = f[0] & CHANGES_RESET;
    error = vs_fmt__bin_check_count(ld, name, count, dim, off);
    if (error == 0 &&
        ((f[0] & ~CHANGES_RESET) || ndel > ld->ndeletes - ld->del_declared ||
         total > COLLECTION_RECORDS_MAX || count > total ||
         (reset && (ndel || count != total || ld->seq == ld->since))))
        error = vs_error_set(VS_ECORRUPT,
                             "changes of collection '%s' at byte %llu: "
                             "flags 0x%02x, %llu records, %llu deletions, "
                             "%llu in all do not add up",
                             name, (unsigned long long)off, f[0],
                             (unsigned long long)count,
                             (unsigned long long)ndel,
                             (unsigned long long)total);
    size_t k = ld->cols_seen;
    if (error == 0 && k > 0 && strcmp(ld->listed[k - 1], name) >= 0)
        error = vs_error_set(VS_ECORRUPT,
                             "changes of collection '%s' at byte %llu come "
                             "after those of '%s' (names must ascend)",
                             name, (unsigned long long)off, ld->listed[k - 1]);
    size_t want = (k + 1) * sizeof(*ld->listed);
    if (error == 0 && want > ld->listed_alloc) /* doubling: many collections */
        error = grow((void **)&ld->listed, &ld->listed_alloc,
                     want > 2 * ld->listed_alloc ? want : 2 * ld->listed_alloc);

    if (error < 0)
        return error;
    memcpy(ld->listed[k], name, sizeof(name));
    vs_collection *c = ld->apply ? vs_store_find(ld->st, name) : NULL;
    if (reset && c) {
        error = vs_store_drop(ld->st, name);
        c = NULL;
    } else if (ld->apply && !reset &&
               (!c || vs_collection_dimension(c) != dim ||
                vs_collection_metric(c) != (vs_metric)metric)) {
        error = vs_error_set(VS_ECORRUPT,
                             "changes of collection '%s' at byte %llu: the "
                             "state they apply to has %s",
                             name, (unsigned long long)off,
                             c ? "another dimension or metric"
                               : "no such collection");
    }
    if (error == 0 && !c)
        error = vs_fmt__bin_open_new(ld, name, dim, metric, count, off);
    if (error < 0)
        return error;
    if (c)
        ld->cur = c;
    ld->cols_seen++;
    ld->declared += count;
    ld->del_declared += ndel;
    ld->cur_count = count;
    ld->cur_done = 0;
    ld->cur_del = ndel;
    ld->cur_del_done = 0;
    ld->cur_total = total;
    return 0;
}

int vs_fmt__bin_read_deletes(vs_fmt__loader *ld, uint64_t off)
{
    uint64_t n;
    size_t tlen, pos;
    int error =
        vs_fmt__bin_read_block_head(&n, &tlen, &pos, ld, BLOCK_RECORDS_MAX,
                                    ld->cur_del - ld->cur_del_done, false, off);
    if (error == 0)
        error = vs_fmt__bin_stray_bytes(tlen, pos, off);
    for (size_t i = 0; error == 0 && i < n; i++)
        error = vs_store_check_id(ld->recs[i].id, ld->recs[i].id_len);
    if (error == 0 && ld->apply)
        error = vs_collection_apply_delete(ld->cur, ld->recs, (size_t)n,
                                           ld->seq, NULL);
    if (error < 0)
        return vs_fmt__bin_as_corrupt(error, "delete block", off);
    ld->cur_del_done += n;
    ld->del_done += n;
    return 0;
}


static int name_order(const void *a, const void *b)
{
    return strcmp(a, b);
}


/* Applying: the collections the document does not list were dropped. */
int vs_fmt__bin_drop_unlisted(vs_fmt__loader *ld)
{
    for (size_t i = vs_store_ncollections(ld->st); i-- > 0;) {
        char name[VS_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%s",
                 vs_collection_name(vs_store_at(ld->st, i)));
        bool listed = ld->cols_seen &&
                      bsearch(name, ld->listed, ld->cols_seen,
                              sizeof(*ld->listed), name_order);
        int error = listed ? 0 : vs_store_drop(ld->st, name);
        if (error < 0)
            return error;
    }
    return 0;
}

