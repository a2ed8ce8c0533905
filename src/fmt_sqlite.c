/*
 * fmt_sqlite: the SQLite format, saving side.  A save writes a real SQLite 3
 * database (tables meta, collections, vectors; docs/format-sqlite.md) that
 * anyone can query with the sqlite3 shell; fmt_sqlite_read.c reads one back
 * into a new store.  This file also holds the helpers both sides share
 * (fmt_sqlite_int.h): SQLite error translation and the canonical content
 * stream.
 *
 * SQLite files are not byte-stable, so the integrity check is a SHA-256 over
 * a canonical content stream (collections in name order, records in position
 * order, lengths little-endian), stored in meta.sha256 and recomputed while
 * loading.
 *
 * Saving builds the database in one transaction with the journal and syncs
 * off: the file is a temp file that fmt.c fsyncs and renames into place.
 * Rows go in first and the (collection, id) index is built after them.
 */
#include "fmt_sqlite_int.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SQ_MAGIC "vecsnap.sqlite.1"
#define SQ_MAGIC_LEN 16
#define SQ_PROGRESS_EVERY 4096
#define SQ_SMALL_BYTES ((uint64_t)4 << 20) /* below: 4 KiB pages */

static const char SCHEMA_SQL[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE collections(name TEXT PRIMARY KEY,"
    " dimension INTEGER NOT NULL, metric TEXT NOT NULL,"
    " count INTEGER NOT NULL);"
    "CREATE TABLE vectors(position INTEGER PRIMARY KEY,"
    " collection TEXT NOT NULL REFERENCES collections(name),"
    " id TEXT NOT NULL, vector BLOB NOT NULL, metadata TEXT NOT NULL);";
static const char INDEX_SQL[] = "CREATE UNIQUE INDEX vectors_collection_id"
                                " ON vectors(collection, id);";

/* ---- shared with fmt_sqlite_read.c ---- */

/* Translate a SQLite result code.  Loading (`loading`): anything but memory
 * and I/O is the file's fault, VS_ECORRUPT; saving: VS_ERROR for logic
 * errors. */
int vs_fmt__sqlite_error(sqlite3 *db, int rc, bool loading, const char *path,
                         const char *what)
{
    int code = loading ? VS_ECORRUPT : VS_ERROR;
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return vs_error_oom();
    case SQLITE_IOERR:
    case SQLITE_FULL:
        code = VS_EIO;
        break;
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
        code = loading ? code : VS_EIO;
        break;
    case SQLITE_TOOBIG:
        code = loading ? code : VS_ETOOBIG;
        break;
    }
    return vs_error_set(code, "'%s': sqlite %s: %s", path, what,
                        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* u32 length, then the bytes. */
static void hash_lenstr(vs_sha256 *h, const void *p, size_t n)
{
    uint8_t len[4];
    put_le32(len, (uint32_t)n);
    vs_sha256_update(h, len, 4);
    vs_sha256_update(h, p, n);
}

void vs_fmt__sqlite_hash_head(vs_sha256 *h, uint64_t seq, uint32_t ncollections)
{
    uint8_t b[12];
    vs_sha256_update(h, SQ_MAGIC, SQ_MAGIC_LEN);
    put_le64(b, seq);
    put_le32(b + 8, ncollections);
    vs_sha256_update(h, b, sizeof(b));
}

void vs_fmt__sqlite_hash_collection(vs_sha256 *h, const char *name,
                                    size_t name_len, uint32_t dim,
                                    const char *metric, uint64_t count)
{
    uint8_t b[8];
    hash_lenstr(h, name, name_len);
    put_le32(b, dim);
    vs_sha256_update(h, b, 4);
    hash_lenstr(h, metric, strlen(metric));
    put_le64(b, count);
    vs_sha256_update(h, b, 8);
}

/* `vec` is the vector as stored: dim * 4 bytes, float32 little-endian. */
void vs_fmt__sqlite_hash_record(vs_sha256 *h, const char *id, size_t id_len,
                                const void *vec, size_t vec_bytes,
                                const char *md, size_t md_len)
{
    hash_lenstr(h, id, id_len);
    vs_sha256_update(h, vec, vec_bytes);
    hash_lenstr(h, md, md_len);
}

int vs_fmt__sqlite_progress(vs_progress_fn fn, void *payload, uint64_t done,
                            uint64_t total)
{
    return fn ? vs_fmt__progress(fn, payload, done, total) : 0;
}

/* ---- save ---- */

static int by_name(const void *a, const void *b)
{
    const vs_collection *const *x = a, *const *y = b;
    return strcmp(vs_collection_name(*x), vs_collection_name(*y));
}

typedef struct saver {
    const char *path;
    sqlite3 *db;
    sqlite3_stmt *ins;
    vs_sha256 *h;
    const vs_save_options *opts;
    uint64_t position, total;
} saver;

static int exec_sql(saver *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK
               ? 0
               : vs_fmt__sqlite_error(s->db, rc, false, s->path, what);
}

/* The target must not exist, or be an empty file (a fresh temp file). */
static int check_target(bool *created, const char *path)
{
    struct stat sb;
    *created = false;
    if (stat(path, &sb) < 0) {
        if (errno != ENOENT)
            return vs_error_set_os(VS_EIO, "failed to stat '%s'", path);
        *created = true;
        return 0;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size != 0)
        return vs_error_set(VS_EEXISTS, "'%s' already exists", path);
    return 0;
}

static int setup_db(saver *s, uint64_t estimate)
{
    char sql[512];
    int n = snprintf(sql, sizeof(sql),
                     "PRAGMA page_size=%d;"
                     "PRAGMA journal_mode=OFF;"
                     "PRAGMA synchronous=OFF;"
                     "PRAGMA locking_mode=EXCLUSIVE;"
                     "PRAGMA temp_store=MEMORY;"
                     "PRAGMA cache_size=-16384;"
                     "PRAGMA application_id=%d;"
                     "PRAGMA user_version=%d;",
                     estimate < SQ_SMALL_BYTES ? 4096 : 65536,
                     VS_FMT__SQLITE_APP_ID, VS_FMT__SQLITE_VERSION);
    if (n < 0 || (size_t)n >= sizeof(sql))
        return vs_error_set(VS_ERROR, "pragma text too long");
    int error = exec_sql(s, sql, "setup");
    if (error < 0)
        return error;
    error = exec_sql(s, "BEGIN", "begin");
    if (error < 0)
        return error;
    return exec_sql(s, SCHEMA_SQL, "create tables");
}

static int step_done(saver *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE
               ? 0
               : vs_fmt__sqlite_error(s->db, rc, false, s->path, what);
}

static int save_collections(saver *s, vs_collection **cols, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO collections(name, dimension,"
                                " metric, count) VALUES(?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return vs_fmt__sqlite_error(s->db, rc, false, s->path, "prepare");
    int error = 0;
    for (size_t i = 0; i < n && error == 0; i++) {
        const vs_collection *c = cols[i];
        sqlite3_bind_text(st, 1, vs_collection_name(c), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, vs_collection_dimension(c));
        sqlite3_bind_text(st, 3, vs_metric_name(vs_collection_metric(c)), -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)vs_collection_count(c));
        error = step_done(s, st, "insert collection");
    }
    sqlite3_finalize(st);
    return error;
}

static int save_records(saver *s, const vs_collection *c)
{
    const char *name = vs_collection_name(c);
    uint32_t dim = vs_collection_dimension(c);
    size_t count = vs_collection_count(c);
    const float *vecs = vs_collection_vectors(c);
    size_t vbytes = (size_t)dim * 4;

    vs_fmt__sqlite_hash_collection(s->h, name, strlen(name), dim,
                                   vs_metric_name(vs_collection_metric(c)),
                                   count);
    sqlite3_bind_text(s->ins, 2, name, -1, SQLITE_STATIC);
    for (size_t slot = 0; slot < count; slot++) {
        vs_record r;
        vs_collection_slot(&r, c, slot);
        const char *md = r.metadata;
        size_t md_len = r.metadata_len;
        if (!md || md_len == 0) {
            md = "{}";
            md_len = 2;
        }
        const float *vec = vecs + slot * dim;
        sqlite3_bind_int64(s->ins, 1, (sqlite3_int64)s->position);
        sqlite3_bind_text(s->ins, 3, r.id, (int)r.id_len, SQLITE_STATIC);
        sqlite3_bind_blob(s->ins, 4, vec, (int)vbytes, SQLITE_STATIC);
        sqlite3_bind_text(s->ins, 5, md, (int)md_len, SQLITE_STATIC);
        int error = step_done(s, s->ins, "insert record");
        if (error < 0)
            return error;
        vs_fmt__sqlite_hash_record(s->h, r.id, r.id_len, vec, vbytes, md,
                                   md_len);
        s->position++;
        if (s->position % SQ_PROGRESS_EVERY == 0) {
            error = vs_fmt__sqlite_progress(s->opts->progress, s->opts->payload,
                                            s->position, s->total);
            if (error < 0)
                return error;
        }
    }
    return 0;
}

static int save_meta(saver *s, uint64_t seq, const uint8_t digest[32])
{
    char seqs[24], ver[12], created[32], hex[VS_SHA256_HEX_LEN + 1];
    snprintf(seqs, sizeof(seqs), "%" PRIu64, seq);
    snprintf(ver, sizeof(ver), "%d", VS_FMT__SQLITE_VERSION);
    vs_sha256_hex(hex, digest);
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) ||
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return vs_error_set(VS_ERROR, "failed to format the time");
    const char *kv[][2] = {{"format", "vecsnap"},
                           {"version", ver},
                           {"seq", seqs},
                           {"created", created},
                           {"sha256", hex}};

    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        s->db, "INSERT INTO meta(key, value) VALUES(?1, ?2)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return vs_fmt__sqlite_error(s->db, rc, false, s->path, "prepare");
    int error = 0;
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]) && error == 0; i++) {
        sqlite3_bind_text(st, 1, kv[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kv[i][1], -1, SQLITE_STATIC);
        error = step_done(s, st, "insert meta");
    }
    sqlite3_finalize(st);
    return error;
}

int vs_fmt_sqlite_save(const char *path, vs_store *st,
                       const vs_save_options *opts)
{
    vs_save_options defaults = VS_SAVE_OPTIONS_INIT;
    saver s = {.path = path, .opts = opts ? opts : &defaults};
    vs_collection **cols = NULL;
    size_t ncols = 0;
    bool created = false;
    uint64_t estimate = 0;
    uint8_t digest[VS_SHA256_LEN];

    int error = vs_fmt__select(&cols, &ncols, st, s.opts);
    if (error < 0)
        goto done;
    if (ncols > UINT32_MAX) {
        error = vs_error_set(VS_ETOOBIG, "too many collections");
        goto done;
    }
    /* Rows go in collection-name order whatever order the caller named. */
    qsort(cols, ncols, sizeof(*cols), by_name);
    for (size_t i = 0; i < ncols; i++) {
        uint32_t dim = vs_collection_dimension(cols[i]);
        size_t count = vs_collection_count(cols[i]);
        s.total += count;
        estimate += (uint64_t)count * (dim * 4u + 64u);
    }
    error = check_target(&created, path);
    if (error < 0)
        goto done;
    error = vs_sha256_new(&s.h);
    if (error < 0)
        goto done;

    int rc = sqlite3_open_v2(
        path, &s.db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        error = vs_fmt__sqlite_error(s.db, rc, false, path, "open");
        goto done;
    }
    error = setup_db(&s, estimate);
    if (error < 0)
        goto done;
    error = save_collections(&s, cols, ncols);
    if (error < 0)
        goto done;
    rc = sqlite3_prepare_v2(s.db,
                            "INSERT INTO vectors(position, collection, id,"
                            " vector, metadata) VALUES(?1, ?2, ?3, ?4, ?5)",
                            -1, &s.ins, NULL);
    if (rc != SQLITE_OK) {
        error = vs_fmt__sqlite_error(s.db, rc, false, path, "prepare");
        goto done;
    }
    vs_fmt__sqlite_hash_head(s.h, vs_store_seq(st), (uint32_t)ncols);
    for (size_t i = 0; i < ncols && error == 0; i++)
        error = save_records(&s, cols[i]);
    if (error < 0)
        goto done;
    vs_sha256_final(s.h, digest);
    /* Building the index after the rows is a sorted build, several times
     * faster than maintaining it row by row in random id order. */
    error = exec_sql(&s, INDEX_SQL, "create index");
    if (error < 0)
        goto done;
    error = save_meta(&s, vs_store_seq(st), digest);
    if (error < 0)
        goto done;
    error = exec_sql(&s, "COMMIT", "commit");
    if (error < 0)
        goto done;
    error = vs_fmt__sqlite_progress(s.opts->progress, s.opts->payload, s.total,
                                    s.total);

done:
    sqlite3_finalize(s.ins);
    if (s.db) {
        rc = sqlite3_close(s.db);
        if (rc != SQLITE_OK && error == 0)
            error = vs_error_set(VS_EIO, "'%s': sqlite close: %s", path,
                                 sqlite3_errstr(rc));
        if (rc != SQLITE_OK)
            sqlite3_close_v2(s.db);
    }
    if (error < 0 && created)
        unlink(path);
    vs_sha256_free(s.h);
    free(cols);
    return error;
}
