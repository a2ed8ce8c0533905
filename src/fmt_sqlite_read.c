/*
 * fmt_sqlite_read: the SQLite format, loading side: reads a database written
 * by fmt_sqlite.c (docs/format-sqlite.md) into a new store, which it returns
 * only when everything checked out.
 *
 * The file is untrusted.  Before SQLite opens it, its header must carry our
 * application id and rollback-journal mode; it is then opened read-only and
 * defensive, with values capped at 1 MiB, and must pass PRAGMA
 * integrity_check.  The loader reads table b-trees only (never an index) and
 * treats every value as untrusted: types, lengths, names, counts and the row
 * order are all checked before use, and counts are bounded by the file's size
 * before anything is reserved.  Finally the SHA-256 of the canonical content
 * stream (fmt_sqlite_int.h) must equal meta.sha256.
 *
 * Rows are gathered in batches (at most SQ_BATCH_RECORDS records, and about
 * SQ_BATCH_BYTES of vectors and as much of ids and metadata) and handed to
 * vs_collection_load.
 */
#include "fmt_sqlite_int.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

#define SQ_BATCH_RECORDS 1024
#define SQ_BATCH_BYTES ((size_t)4 << 20)
#define SQ_META_VALUE_MAX 128
#define SQ_NONE ((size_t)-1)

typedef struct lcol {
    vs_collection *c;
    char name[VS_NAME_MAX + 1];
    size_t name_len;
    uint32_t dim;
    vs_metric metric;
    uint64_t count, seen;
} lcol;

typedef struct pending {
    size_t id_off, md_off;
} pending;

typedef struct loader {
    const char *path;
    sqlite3 *db;
    vs_store *st;
    vs_sha256 *h;
    const vs_load_options *opts;
    uint64_t file_size, seq, total, rows;
    uint8_t want[VS_SHA256_LEN];
    lcol *cols;
    size_t ncols, cur; /* cur: collection whose rows are read, or SQ_NONE */
    /* the batch being gathered for cur */
    vs_record *recs;
    pending *pend;
    float *vecs;
    size_t nrecs, batch_max;
    vs_buf text;
} loader;

static int corrupt(loader *L, const char *fmt, ...) VS_FMT_PRINTF(2, 3);

static int corrupt(loader *L, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vs_error_set(VS_ECORRUPT, "'%s': %s", L->path, msg);
}

/* A store validation failure on file content is corruption: keep the
 * store's message, change the code. */
static int as_corrupt(loader *L, int error, const char *cname)
{
    if (error != VS_EINVALID && error != VS_ETOOBIG && error != VS_EEXISTS)
        return error;
    char msg[384];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return corrupt(L, "collection '%s': %s", cname, msg);
}

static int prepare(loader *L, sqlite3_stmt **st, const char *sql)
{
    int rc = sqlite3_prepare_v2(L->db, sql, -1, st, NULL);
    return rc == SQLITE_OK
               ? 0
               : vs_fmt__sqlite_error(L->db, rc, true, L->path, "schema");
}

static int step_error(loader *L, int rc)
{
    return vs_fmt__sqlite_error(L->db, rc, true, L->path, "read");
}

/* The first 100 bytes: SQLite's header, our application id, no WAL (a
 * read-only WAL open would create -shm files next to the input). */
static int check_header(loader *L)
{
    uint8_t hd[100];
    struct stat sb;
    FILE *f = fopen(L->path, "rbe");
    if (!f)
        return vs_error_set_os(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                               "failed to open '%s'", L->path);
    size_t got = fread(hd, 1, sizeof(hd), f);
    bool failed = ferror(f) || fstat(fileno(f), &sb) < 0;
    int err = errno;
    fclose(f);
    errno = err;
    if (failed)
        return vs_error_set_os(VS_EIO, "failed to read '%s'", L->path);
    L->file_size = (uint64_t)sb.st_size;
    if (got < sizeof(hd) || memcmp(hd, "SQLite format 3", 16) != 0)
        return corrupt(L, "not a sqlite database");
    uint32_t app = (uint32_t)hd[68] << 24 | (uint32_t)hd[69] << 16 |
                   (uint32_t)hd[70] << 8 | hd[71];
    if (app != VS_FMT__SQLITE_APP_ID)
        return corrupt(
            L, "not a vecsnap database (application_id %08" PRIx32 ")", app);
    if (hd[18] != 1 || hd[19] != 1)
        return corrupt(L, "database is not in rollback-journal mode");
    return 0;
}

static int open_db(loader *L)
{
    int rc = sqlite3_open_v2(L->path, &L->db,
                             SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return vs_fmt__sqlite_error(L->db, rc, true, L->path, "open");
    /* The file is untrusted: no schema functions with side effects, no
     * writes to sqlite_schema. */
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    /* No value we read is near 1 MiB (a vector is at most 256 KiB): refuse
     * to materialise anything bigger. */
    sqlite3_limit(L->db, SQLITE_LIMIT_LENGTH, 1 << 20);
    /* Read through a small page cache, never a memory map: mapped file
     * pages count as resident, and a load must not hold a second full copy
     * of the data beside the store it builds. */
    rc = sqlite3_exec(L->db, "PRAGMA cache_size=-8192; PRAGMA mmap_size=0;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return vs_fmt__sqlite_error(L->db, rc, true, L->path, "setup");

    sqlite3_stmt *st = NULL;
    int error = prepare(L, &st, "PRAGMA integrity_check(1)");
    if (error < 0)
        return error;
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        error = step_error(L, rc);
    } else {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok") != 0)
            error = corrupt(L, "sqlite integrity_check: %s", res ? res : "?");
    }
    sqlite3_finalize(st);
    /* Extra cell checks on every page read from now on (during
     * integrity_check they cost ten times the check itself). */
    if (error == 0 && sqlite3_exec(L->db, "PRAGMA cell_size_check=ON", NULL,
                                   NULL, NULL) != SQLITE_OK)
        error = vs_fmt__sqlite_error(L->db, sqlite3_errcode(L->db), true,
                                     L->path, "setup");
    return error;
}

/* Every table we read must exist and be a table (not a view). */
static int check_table(loader *L, const char *name)
{
    sqlite3_stmt *st = NULL;
    int error =
        prepare(L, &st, "SELECT type FROM sqlite_schema WHERE name = ?1");
    if (error < 0)
        return error;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        error = corrupt(L, "missing table '%s'", name);
    else if (rc != SQLITE_ROW)
        error = step_error(L, rc);
    else if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
             !sqlite3_column_text(st, 0) ||
             strcmp((const char *)sqlite3_column_text(st, 0), "table") != 0)
        error = corrupt(L, "'%s' is not a table", name);
    sqlite3_finalize(st);
    return error;
}

static bool parse_u64(uint64_t *out, const char *s)
{
    uint64_t v = 0;
    if (!*s || (s[0] == '0' && s[1]))
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' ||
            v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

/* YYYY-MM-DDTHH:MM:SSZ */
static bool is_rfc3339(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    return true;
}

static bool is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

enum { M_FORMAT, M_VERSION, M_SEQ, M_CREATED, M_SHA256, M_COUNT };

static int read_meta(loader *L)
{
    static const char *const keys[M_COUNT] = {"format", "version", "seq",
                                              "created", "sha256"};
    char val[M_COUNT][SQ_META_VALUE_MAX + 1];
    bool have[M_COUNT] = {false};
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE, error = check_table(L, "meta");
    if (error == 0)
        error = prepare(L, &st, "SELECT key, value FROM meta NOT INDEXED");
    while (error == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
            sqlite3_column_type(st, 1) != SQLITE_TEXT) {
            error = corrupt(L, "meta: key and value must be text");
            break;
        }
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
        if (!k || !v) {
            error = vs_error_oom();
            break;
        }
        for (int i = 0; i < M_COUNT; i++) {
            if (strcmp(k, keys[i]) != 0)
                continue;
            if (have[i])
                error = corrupt(L, "meta: duplicate key '%s'", k);
            else if (vlen > SQ_META_VALUE_MAX || strlen(v) != vlen)
                error = corrupt(L, "meta: bad value for '%s'", k);
            else
                memcpy(val[i], v, vlen + 1);
            have[i] = true;
        }
    }
    if (error == 0 && rc != SQLITE_DONE)
        error = step_error(L, rc);
    sqlite3_finalize(st);
    if (error < 0)
        return error;
    for (int i = 0; i < M_COUNT; i++)
        if (!have[i])
            return corrupt(L, "meta: missing key '%s'", keys[i]);
    if (strcmp(val[M_FORMAT], "vecsnap") != 0)
        return corrupt(L, "not a vecsnap database (format '%s')",
                       val[M_FORMAT]);
    uint64_t version;
    if (!parse_u64(&version, val[M_VERSION]))
        return corrupt(L, "meta: bad version '%s'", val[M_VERSION]);
    if (version != VS_FMT__SQLITE_VERSION)
        return vs_error_set(VS_EVERSION,
                            "'%s': sqlite format version %s is not supported"
                            " (this build reads %d)",
                            L->path, val[M_VERSION], VS_FMT__SQLITE_VERSION);
    if (!parse_u64(&L->seq, val[M_SEQ]))
        return corrupt(L, "meta: bad seq '%s'", val[M_SEQ]);
    if (!is_rfc3339(val[M_CREATED]))
        return corrupt(L, "meta: bad created '%s'", val[M_CREATED]);
    if (strlen(val[M_SHA256]) != VS_SHA256_HEX_LEN ||
        !is_lower_hex(val[M_SHA256], VS_SHA256_HEX_LEN) ||
        vs_sha256_parse_hex(L->want, val[M_SHA256], VS_SHA256_HEX_LEN) < 0)
        return corrupt(L, "meta: bad sha256");
    return 0;
}

/* One row of collections: validate, create the collection. */
static int take_collection(loader *L, sqlite3_stmt *st)
{
    size_t i = L->ncols;
    lcol *lc = &L->cols[i];
    if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
        sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
        sqlite3_column_type(st, 2) != SQLITE_TEXT ||
        sqlite3_column_type(st, 3) != SQLITE_INTEGER)
        return corrupt(L, "collections row %zu: wrong column types", i);
    const char *name = (const char *)sqlite3_column_text(st, 0);
    size_t name_len = (size_t)sqlite3_column_bytes(st, 0);
    sqlite3_int64 dim = sqlite3_column_int64(st, 1);
    const char *metric = (const char *)sqlite3_column_text(st, 2);
    sqlite3_int64 count = sqlite3_column_int64(st, 3);
    if (!name || !metric)
        return vs_error_oom();
    if (name_len > VS_NAME_MAX || strlen(name) != name_len)
        return corrupt(L, "collections row %zu: bad name", i);
    int error = vs_store_check_name(name);
    if (error < 0)
        return as_corrupt(L, error, name);
    if (i > 0 && strcmp(L->cols[i - 1].name, name) >= 0)
        return corrupt(L, "collection '%s' is duplicated or out of order",
                       name);
    if (dim < 1 || dim > VS_DIM_MAX)
        return corrupt(L, "collection '%s': bad dimension %lld", name,
                       (long long)dim);
    if (vs_metric_parse(&lc->metric, metric) < 0)
        return corrupt(L, "collection '%s': unknown metric", name);
    /* A row takes at least dim * 4 + 12 bytes of the file (cell pointer,
     * sizes, record header, one-byte id and name), so counts are bounded by
     * the file's size before anything is reserved. */
    uint64_t room = L->file_size / ((uint64_t)dim * 4 + 8);
    if (count < 0 || (uint64_t)count > room ||
        L->total > L->file_size / 12 - (uint64_t)count)
        return corrupt(L, "collection '%s': bad count %lld", name,
                       (long long)count);
    memcpy(lc->name, name, name_len + 1);
    lc->name_len = name_len;
    lc->dim = (uint32_t)dim;
    lc->count = (uint64_t)count;
    lc->seen = 0;
    L->total += lc->count;
    error = vs_store_create(&lc->c, L->st, name, lc->dim, lc->metric);
    if (error < 0)
        return as_corrupt(L, error, name);
    error = vs_collection_reserve(lc->c, (size_t)lc->count);
    if (error < 0)
        return error;
    L->ncols++;
    return 0;
}

static int read_collections(loader *L)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = SQLITE_DONE, error = check_table(L, "collections");
    if (error == 0)
        error = prepare(L, &st,
                        "SELECT name, dimension, metric, count FROM"
                        " collections NOT INDEXED ORDER BY name");
    while (error == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (L->ncols == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            lcol *nc = realloc(L->cols, ncap * sizeof(*nc));
            if (!nc) {
                error = vs_error_oom();
                break;
            }
            L->cols = nc;
            cap = ncap;
        }
        if (L->ncols >= UINT32_MAX)
            error = corrupt(L, "too many collections");
        else
            error = take_collection(L, st);
    }
    if (error == 0 && rc != SQLITE_DONE)
        error = step_error(L, rc);
    sqlite3_finalize(st);
    return error;
}

static int flush_batch(loader *L)
{
    if (L->nrecs == 0)
        return 0;
    lcol *lc = &L->cols[L->cur];
    for (size_t i = 0; i < L->nrecs; i++) {
        L->recs[i].id = L->text.ptr + L->pend[i].id_off;
        L->recs[i].metadata = L->text.ptr + L->pend[i].md_off;
        L->recs[i].vector = L->vecs + i * lc->dim;
    }
    int error = vs_collection_load(lc->c, L->recs, L->nrecs, L->seq);
    if (error < 0)
        return as_corrupt(L, error, lc->name);
    L->nrecs = 0;
    vs_buf_reset(&L->text);
    return vs_fmt__sqlite_progress(L->opts->progress, L->opts->payload, L->rows,
                                   L->total);
}

/* Finish collections up to (not including) j and start j (j <= ncols). */
static int advance(loader *L, size_t j)
{
    while (L->cur != j) {
        if (L->cur != SQ_NONE) {
            lcol *lc = &L->cols[L->cur];
            int error = flush_batch(L);
            if (error < 0)
                return error;
            if (lc->seen != lc->count)
                return corrupt(L,
                               "collection '%s' has %" PRIu64
                               " rows, its count says %" PRIu64,
                               lc->name, lc->seen, lc->count);
        }
        L->cur = L->cur == SQ_NONE ? 0 : L->cur + 1;
        if (L->cur < L->ncols) {
            lcol *lc = &L->cols[L->cur];
            vs_fmt__sqlite_hash_collection(L->h, lc->name, lc->name_len,
                                           lc->dim, vs_metric_name(lc->metric),
                                           lc->count);
            size_t per = SQ_BATCH_BYTES / ((size_t)lc->dim * 4);
            L->batch_max = per < 1                  ? 1
                           : per > SQ_BATCH_RECORDS ? SQ_BATCH_RECORDS
                                                    : per;
        }
    }
    return 0;
}

static bool name_is(const lcol *lc, const char *name, size_t len)
{
    return lc->name_len == len && memcmp(lc->name, name, len) == 0;
}

static int take_row(loader *L, sqlite3_stmt *st)
{
    uint64_t row = L->rows;
    if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
        sqlite3_column_int64(st, 0) != (sqlite3_int64)row)
        return corrupt(L, "vectors: position out of sequence at row %" PRIu64,
                       row);
    if (sqlite3_column_type(st, 1) != SQLITE_TEXT ||
        sqlite3_column_type(st, 2) != SQLITE_TEXT ||
        sqlite3_column_type(st, 3) != SQLITE_BLOB ||
        sqlite3_column_type(st, 4) != SQLITE_TEXT)
        return corrupt(L, "vectors row %" PRIu64 ": wrong column types", row);
    const char *cname = (const char *)sqlite3_column_text(st, 1);
    size_t cname_len = (size_t)sqlite3_column_bytes(st, 1);
    const char *id = (const char *)sqlite3_column_text(st, 2);
    size_t id_len = (size_t)sqlite3_column_bytes(st, 2);
    const void *vec = sqlite3_column_blob(st, 3);
    size_t vec_len = (size_t)sqlite3_column_bytes(st, 3);
    const char *md = (const char *)sqlite3_column_text(st, 4);
    size_t md_len = (size_t)sqlite3_column_bytes(st, 4);
    if ((!cname && cname_len) || (!id && id_len) || (!vec && vec_len) ||
        (!md && md_len))
        return vs_error_oom();
    cname = cname ? cname : "";
    id = id ? id : "";
    md = md ? md : "";

    /* Rows come collection by collection in name order: look forward. */
    size_t j = L->cur == SQ_NONE ? 0 : L->cur;
    while (j < L->ncols && !name_is(&L->cols[j], cname, cname_len))
        j++;
    if (j == L->ncols) {
        for (j = 0; j < L->cur && j < L->ncols; j++)
            if (name_is(&L->cols[j], cname, cname_len))
                return corrupt(L, "rows of collection '%s' are not contiguous",
                               L->cols[j].name);
        return corrupt(L, "vectors row %" PRIu64 ": unknown collection", row);
    }
    int error = advance(L, j);
    if (error < 0)
        return error;
    lcol *lc = &L->cols[j];
    if (lc->seen == lc->count)
        return corrupt(L,
                       "collection '%s' has more rows than its count %" PRIu64,
                       lc->name, lc->count);
    if (id_len < 1 || id_len > VS_ID_MAX)
        return corrupt(L, "vectors row %" PRIu64 ": bad id length %zu", row,
                       id_len);
    if (vec_len != (size_t)lc->dim * 4)
        return corrupt(L,
                       "vectors row %" PRIu64 ": vector has %zu bytes,"
                       " expected %zu",
                       row, vec_len, (size_t)lc->dim * 4);
    if (md_len > VS_METADATA_MAX)
        return corrupt(L, "vectors row %" PRIu64 ": metadata too long", row);
    vs_fmt__sqlite_hash_record(L->h, id, id_len, vec, vec_len, md, md_len);

    /* Gather: sqlite's pointers die at the next step. */
    if (L->nrecs > 0 && L->text.len + id_len + md_len + 2 > SQ_BATCH_BYTES) {
        error = flush_batch(L);
        if (error < 0)
            return error;
    }
    pending *p = &L->pend[L->nrecs];
    vs_record *r = &L->recs[L->nrecs];
    p->id_off = L->text.len;
    error = vs_buf_put(&L->text, id, id_len);
    if (error < 0)
        return error;
    p->md_off = L->text.len;
    error = vs_buf_put(&L->text, md, md_len);
    if (error < 0)
        return error;
    r->id_len = id_len;
    r->metadata_len = md_len;
    memcpy(L->vecs + L->nrecs * lc->dim, vec, vec_len);
    L->nrecs++;
    lc->seen++;
    L->rows++;
    if (L->nrecs == L->batch_max)
        return flush_batch(L);
    return 0;
}

static int read_vectors(loader *L)
{
    sqlite3_stmt *st = NULL;
    size_t nfloats = 0;
    for (size_t i = 0; i < L->ncols; i++) {
        size_t per = SQ_BATCH_BYTES / ((size_t)L->cols[i].dim * 4);
        per = per < 1 ? 1 : per > SQ_BATCH_RECORDS ? SQ_BATCH_RECORDS : per;
        if (per * L->cols[i].dim > nfloats)
            nfloats = per * L->cols[i].dim;
    }
    int rc, error = check_table(L, "vectors");
    if (error < 0)
        return error;
    if (L->total > 0) {
        L->recs = calloc(SQ_BATCH_RECORDS, sizeof(*L->recs));
        L->pend = calloc(SQ_BATCH_RECORDS, sizeof(*L->pend));
        L->vecs = malloc(nfloats * sizeof(float));
        if (!L->recs || !L->pend || !L->vecs)
            return vs_error_oom();
    }
    error = prepare(L, &st,
                    "SELECT position, collection, id, vector, metadata"
                    " FROM vectors NOT INDEXED ORDER BY position");
    if (error < 0)
        return error;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (L->rows >= L->total) {
            error = corrupt(L, "vectors has more rows than the collections"
                               " count");
            break;
        }
        error = take_row(L, st);
        if (error < 0)
            break;
    }
    if (error == 0 && rc != SQLITE_DONE)
        error = step_error(L, rc);
    sqlite3_finalize(st);
    if (error == 0)
        error = advance(L, L->ncols);
    return error;
}

int vs_fmt_sqlite_load(vs_store **out, vs_file_info *info, const char *path,
                       const vs_load_options *opts)
{
    vs_load_options defaults = VS_LOAD_OPTIONS_INIT;
    loader L = {.path = path,
                .opts = opts ? opts : &defaults,
                .cur = SQ_NONE,
                .text = VS_BUF_INIT(SQ_BATCH_BYTES + 2 * VS_METADATA_MAX)};
    uint8_t got[VS_SHA256_LEN];

    *out = NULL;
    int error = check_header(&L);
    if (error < 0)
        goto done;
    error = open_db(&L);
    if (error < 0)
        goto done;
    error = read_meta(&L);
    if (error < 0)
        goto done;
    error = vs_store_new(&L.st);
    if (error < 0)
        goto done;
    error = vs_sha256_new(&L.h);
    if (error < 0)
        goto done;
    error = read_collections(&L);
    if (error < 0)
        goto done;
    vs_fmt__sqlite_hash_head(L.h, L.seq, (uint32_t)L.ncols);
    error = read_vectors(&L);
    if (error < 0)
        goto done;
    vs_sha256_final(L.h, got);
    if (!vs_sha256_equal(got, L.want)) {
        error = corrupt(&L, "checksum mismatch");
        goto done;
    }
    vs_store_set_seq(L.st, L.seq);
    if (info) {
        memset(info, 0, sizeof(*info));
        info->format = VS_FORMAT_SQLITE;
        info->codec = VS_CODEC_NONE;
        info->bytes = L.file_size;
        info->content_verified = true;
        info->seq = L.seq;
        info->records = L.rows;
        info->ncollections = (uint32_t)L.ncols;
    }
    *out = L.st;
    L.st = NULL;

done:
    if (L.db)
        sqlite3_close_v2(L.db);
    vs_store_free(L.st);
    vs_sha256_free(L.h);
    vs_buf_dispose(&L.text);
    free(L.cols);
    free(L.recs);
    free(L.pend);
    free(L.vecs);
    return error;
}
