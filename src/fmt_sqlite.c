/*
 * fmt_sqlite: the SQLite format.  A save writes a real SQLite 3 database
 * (tables meta, collections, vectors; docs/format-sqlite.md) that anyone can
 * query with the sqlite3 shell; a load reads one back into a new store.
 *
 * SQLite files are not byte-stable, so the integrity check is a SHA-256 over
 * a canonical content stream (collections in name order, records in position
 * order, lengths little-endian), stored in meta.sha256 and recomputed while
 * loading.  The loader reads table b-trees only (never an index), after
 * PRAGMA integrity_check, and treats every value as untrusted: types, lengths,
 * names, counts and the row order are all checked before use.
 *
 * Saving builds the database in one transaction with the journal and syncs
 * off: the file is a temp file that fmt.c fsyncs and renames into place.
 */
#include "fmt.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

/* Vectors are stored as little-endian float32: the host's own order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "fmt_sqlite stores floats in host order: little-endian only");

#define SQ_VERSION 1
#define SQ_APP_ID 0x76736e70 /* "vsnp", PRAGMA application_id */
#define SQ_MAGIC "vecsnap.sqlite.1"
#define SQ_MAGIC_LEN 16
#define SQ_PROGRESS_EVERY 4096
#define SQ_BATCH_RECORDS 1024
#define SQ_BATCH_BYTES ((size_t)4 << 20)
#define SQ_SMALL_BYTES ((uint64_t)4 << 20) /* below: 4 KiB pages */
#define SQ_META_VALUE_MAX 128
#define SQ_NONE ((size_t)-1)

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

/* ---- shared helpers ---- */

/* Translate a SQLite result code.  Loading (`loading`): anything but memory
 * and I/O is the file's fault, VS_ECORRUPT; saving: VS_ERROR for logic
 * errors. */
static int sq_error(sqlite3 *db, int rc, bool loading, const char *path,
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

static void hash_head(vs_sha256 *h, uint64_t seq, uint32_t ncollections)
{
    uint8_t b[12];
    vs_sha256_update(h, SQ_MAGIC, SQ_MAGIC_LEN);
    put_le64(b, seq);
    put_le32(b + 8, ncollections);
    vs_sha256_update(h, b, sizeof(b));
}

static void hash_collection(vs_sha256 *h, const char *name, size_t name_len,
                            uint32_t dim, const char *metric, uint64_t count)
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
static void hash_record(vs_sha256 *h, const char *id, size_t id_len,
                        const void *vec, size_t vec_bytes, const char *md,
                        size_t md_len)
{
    hash_lenstr(h, id, id_len);
    vs_sha256_update(h, vec, vec_bytes);
    hash_lenstr(h, md, md_len);
}

static int progress(vs_progress_fn fn, void *payload, uint64_t done,
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
    return rc == SQLITE_OK ? 0 : sq_error(s->db, rc, false, s->path, what);
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
                     "PRAGMA cache_size=-65536;"
                     "PRAGMA application_id=%d;"
                     "PRAGMA user_version=%d;",
                     estimate < SQ_SMALL_BYTES ? 4096 : 65536, SQ_APP_ID,
                     SQ_VERSION);
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
    return rc == SQLITE_DONE ? 0 : sq_error(s->db, rc, false, s->path, what);
}

static int save_collections(saver *s, vs_collection **cols, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO collections(name, dimension,"
                                " metric, count) VALUES(?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_error(s->db, rc, false, s->path, "prepare");
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

    hash_collection(s->h, name, strlen(name), dim,
                    vs_metric_name(vs_collection_metric(c)), count);
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
        hash_record(s->h, r.id, r.id_len, vec, vbytes, md, md_len);
        s->position++;
        if (s->position % SQ_PROGRESS_EVERY == 0) {
            error = progress(s->opts->progress, s->opts->payload, s->position,
                             s->total);
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
    snprintf(ver, sizeof(ver), "%d", SQ_VERSION);
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
        return sq_error(s->db, rc, false, s->path, "prepare");
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
        error = sq_error(s.db, rc, false, path, "open");
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
        error = sq_error(s.db, rc, false, path, "prepare");
        goto done;
    }
    hash_head(s.h, vs_store_seq(st), (uint32_t)ncols);
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
    error = progress(s.opts->progress, s.opts->payload, s.total, s.total);

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

/* ---- load ---- */

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
    return rc == SQLITE_OK ? 0 : sq_error(L->db, rc, true, L->path, "schema");
}

static int step_error(loader *L, int rc)
{
    return sq_error(L->db, rc, true, L->path, "read");
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
    if (app != SQ_APP_ID)
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
        return sq_error(L->db, rc, true, L->path, "open");
    /* The file is untrusted: no schema functions with side effects, no
     * writes to sqlite_schema. */
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(L->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    /* No value we read is near 1 MiB (a vector is at most 256 KiB): refuse
     * to materialise anything bigger. */
    sqlite3_limit(L->db, SQLITE_LIMIT_LENGTH, 1 << 20);
    char sql[160];
    snprintf(sql, sizeof(sql),
             "PRAGMA cache_size=-16384; PRAGMA mmap_size=%" PRIu64 ";",
             L->file_size);
    rc = sqlite3_exec(L->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_error(L->db, rc, true, L->path, "setup");

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
        error = sq_error(L->db, sqlite3_errcode(L->db), true, L->path, "setup");
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
    if (version != SQ_VERSION)
        return vs_error_set(VS_EVERSION,
                            "'%s': sqlite format version %s is not supported"
                            " (this build reads %d)",
                            L->path, val[M_VERSION], SQ_VERSION);
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
    return progress(L->opts->progress, L->opts->payload, L->rows, L->total);
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
            hash_collection(L->h, lc->name, lc->name_len, lc->dim,
                            vs_metric_name(lc->metric), lc->count);
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
    hash_record(L->h, id, id_len, vec, vec_len, md, md_len);

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
    hash_head(L.h, L.seq, (uint32_t)L.ncols);
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
