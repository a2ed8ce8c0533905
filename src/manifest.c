/*
 * manifest: the snapshot manifest as JSON (both directions, validating every
 * field on the way in), the shape of snapshot ids and user-given names, the
 * RFC 3339 time stamps and the data file's name.  The files inside one
 * snapshot directory (manifest.json, SHA256SUMS, the data file's checks,
 * an upload's reception) are in manifest_files.c; the directories
 * themselves (reserving, publishing, removing) belong to the catalog in
 * snapshot.c.
 *
 * A manifest read from disk is trusted only after vs_snapshot_from_json:
 * its `file` must be exactly the name its format and compression give (so a
 * manifest cannot point outside its directory), counts must add up, and
 * every string has its documented shape.
 */
#include "manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COLLECTIONS_MAX (1u << 20)

/* ---- ids, names, times ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

int vs_snapshot_check_id(const char *id)
{
    /* "20261124T220055.123Z-1a2b3c" */
    static const char shape[] = "DDDDDDDDTDDDDDD.DDDZ-HHHHHH";
    size_t i = 0;
    if (!id)
        return vs_error_set(VS_EINVALID, "missing snapshot id");
    for (; id[i] && i < VS_SNAPSHOT_ID_LEN; i++) {
        char want = shape[i], c = id[i];
        bool ok = want == 'D'   ? is_digit(c)
                  : want == 'H' ? is_lower_hex(c)
                                : c == want;
        if (!ok)
            break;
    }
    if (i != VS_SNAPSHOT_ID_LEN || id[i] != '\0')
        return vs_error_set(VS_EINVALID, "bad snapshot id (expected the form "
                                         "20261124T220055.123Z-1a2b3c)");
    return 0;
}

/* Length of the UTF-8 sequence at s[0..n), or 0 when invalid; *cp gets the
 * code point. */
static size_t utf8_seq(uint32_t *cp, const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int vs_snapshot_check_name(const char *name)
{
    if (!name || !name[0])
        return vs_error_set(VS_EINVALID, "empty snapshot name");
    size_t n = strlen(name);
    if (n > VS_SNAPSHOT_NAME_MAX)
        return vs_error_set(VS_EINVALID, "snapshot name longer than %d bytes",
                            VS_SNAPSHOT_NAME_MAX);
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_seq(&cp, s + i, n - i);
        if (len == 0)
            return vs_error_set(
                VS_EINVALID, "snapshot name is not valid UTF-8 (byte %zu)", i);
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return vs_error_set(VS_EINVALID,
                                "snapshot name has a control character "
                                "(byte %zu)",
                                i);
        i += len;
    }
    return 0;
}

/* Split ms into a UTC struct tm and the millisecond part. */
static int split_time(struct tm *tm, int *millis, int64_t ms)
{
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    if (!gmtime_r(&t, tm) || tm->tm_year + 1900 < 1970 ||
        tm->tm_year + 1900 > 9999)
        return vs_error_set(VS_EINVALID, "time %lld ms is out of range",
                            (long long)ms);
    *millis = (int)rem;
    return 0;
}

int vs_manifest_time_format(char *out, int64_t ms)
{
    struct tm tm;
    int millis;
    int error = split_time(&tm, &millis, ms);
    if (error < 0)
        return error;
    char text[96]; /* the ranges are known; the compiler does not know */
    snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, millis);
    memcpy(out, text, VS_MANIFEST_TIME_LEN + 1);
    return 0;
}

/* Value of n digits at s (all checked to be digits by the caller). */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int vs_manifest_time_parse(int64_t *ms, const char *text)
{
    static const char shape[] = "DDDD-DD-DDTDD:DD:DD.DDDZ";
    size_t i = 0;
    for (; text[i] && i < VS_MANIFEST_TIME_LEN; i++) {
        if (shape[i] == 'D' ? !is_digit(text[i]) : text[i] != shape[i])
            break;
    }
    if (i != VS_MANIFEST_TIME_LEN || text[i] != '\0')
        return vs_error_set(VS_EINVALID, "bad time stamp (expected "
                                         "2026-11-24T22:00:55.123Z)");
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = digits(text, 4) - 1900;
    tm.tm_mon = digits(text + 5, 2) - 1;
    tm.tm_mday = digits(text + 8, 2);
    tm.tm_hour = digits(text + 11, 2);
    tm.tm_min = digits(text + 14, 2);
    tm.tm_sec = digits(text + 17, 2);
    int64_t v = (int64_t)timegm(&tm) * 1000 + digits(text + 20, 3);
    /* timegm normalises 02-30 into 03-02: only a time that formats back to
     * the same text is a real one. */
    char again[VS_MANIFEST_TIME_LEN + 1];
    if (vs_manifest_time_format(again, v) < 0 || strcmp(again, text) != 0)
        return vs_error_set(VS_EINVALID, "time stamp '%s' is not a real time",
                            text);
    *ms = v;
    return 0;
}

int vs_manifest_make_id(char *out, int64_t ms, const uint8_t rnd[3])
{
    struct tm tm;
    int millis;
    int error = split_time(&tm, &millis, ms);
    if (error < 0)
        return error;
    char text[96];
    snprintf(text, sizeof(text), "%04d%02d%02dT%02d%02d%02d.%03dZ-%02x%02x%02x",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, millis, rnd[0], rnd[1], rnd[2]);
    memcpy(out, text, VS_SNAPSHOT_ID_LEN + 1);
    return 0;
}

/* The formats a snapshot may hold, with their data file suffixes. */
static const struct {
    vs_format_id id;
    const char *suffix;
} formats[] = {{VS_FORMAT_BIN, ".vsnap"},
               {VS_FORMAT_JSON, ".json"},
               {VS_FORMAT_SQLITE, ".sqlite"},
               {VS_FORMAT_RUVECTOR, ".ruvector.json"}};
#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

int vs_manifest_file_name(char *out, size_t size, vs_format_id format,
                          vs_codec_id codec)
{
    const char *fs = NULL;
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i].id == format)
            fs = formats[i].suffix;
    if (!fs)
        return vs_error_set(VS_EINVALID, "unknown snapshot format");
    const vs_codec_info *ci = vs_codec_info_of(codec);
    if (!ci || codec == VS_CODEC_AUTO)
        return vs_error_set(VS_EINVALID, "unknown snapshot compression");
    int n = snprintf(out, size, "data%s%s", fs, ci->suffix);
    if (n < 0 || (size_t)n >= size)
        return vs_error_set(VS_EINVALID, "data file name too long");
    return 0;
}

void vs_snapshot_sha256_line(char *buf, size_t size, const vs_snapshot *s)
{
    char hex[VS_SHA256_HEX_LEN + 1];
    vs_sha256_hex(hex, s->sha256);
    snprintf(buf, size, "%s  %s\n", hex, s->file);
}

bool vs_snapshot_is_incremental(const vs_snapshot *s)
{
    return strcmp(s->kind, "incremental") == 0;
}

void vs_snapshot_dispose(vs_snapshot *s)
{
    if (!s)
        return;
    free(s->collections);
    s->collections = NULL;
    s->ncollections = 0;
}

/* ---- to JSON ---- */

/* Adds `value` (stolen) under `key`; a NULL value (a failed allocation
 * upstream) fails too. */
static bool put(json_t *obj, const char *key, json_t *value)
{
    return value && json_object_set_new(obj, key, value) == 0;
}

static json_t *collection_to_json(const vs_snapshot_collection *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (!put(o, "name", json_string(c->name)) ||
        !put(o, "dimension", json_integer(c->dimension)) ||
        !put(o, "metric", json_string(vs_metric_name(c->metric))) ||
        !put(o, "count", json_integer((json_int_t)c->count))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *vs_snapshot_to_json(const vs_snapshot *s)
{
    char created[VS_MANIFEST_TIME_LEN + 1];
    char hex[VS_SHA256_HEX_LEN + 1];
    const vs_codec_info *ci = vs_codec_info_of(s->codec);
    if (vs_manifest_time_format(created, s->created_ms) < 0)
        created[0] = '\0';
    vs_sha256_hex(hex, s->sha256);
    json_t *o = json_object(), *cols = json_array();
    bool ok = o && cols;
    bool incr = vs_snapshot_is_incremental(s);
    ok = ok && put(o, "manifest_version", json_integer(VS_MANIFEST_VERSION));
    ok = ok && put(o, "id", json_string(s->id));
    ok = ok && put(o, "name", s->name[0] ? json_string(s->name) : json_null());
    ok = ok && put(o, "created", json_string(created));
    ok = ok && put(o, "kind", json_string(s->kind));
    ok = ok && put(o, "origin", json_string(s->origin));
    ok = ok && put(o, "format", json_string(vs_format_name(s->format)));
    ok = ok && put(o, "compression", json_string(ci ? ci->name : "unknown"));
    ok = ok && put(o, "bytes", json_integer((json_int_t)s->bytes));
    ok = ok && put(o, "sha256", json_string(hex));
    ok = ok && put(o, "content_verified", json_boolean(s->content_verified));
    ok = ok && put(o, "seq", json_integer((json_int_t)s->seq));
    ok = ok && put(o, "records", json_integer((json_int_t)s->records));
    ok = ok && put(o, "file", json_string(s->file));
    if (incr) {
        ok = ok && put(o, "parent", json_string(s->parent));
        ok = ok && put(o, "base", json_string(s->base));
        ok = ok && put(o, "seq_from", json_integer((json_int_t)s->seq_from));
        ok = ok && put(o, "changed", json_integer((json_int_t)s->changed));
        ok = ok && put(o, "deleted", json_integer((json_int_t)s->deleted));
    }
    if (s->encrypted)
        ok = ok && put(o, "encrypted", json_true());
    for (size_t i = 0; ok && i < s->ncollections; i++)
        ok = json_array_append_new(cols,
                                   collection_to_json(&s->collections[i])) == 0;
    if (ok) {
        ok = json_object_set_new(o, "collections", cols) == 0;
        cols = NULL;
    }
    json_decref(cols);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- from JSON ---- */

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "a value";
    }
}

/* Member `key` of `obj` of type `type` (JSON_TRUE stands for booleans).
 * `where` names the object in messages. */
static int member(const json_t **out, const json_t *obj, const char *where,
                  const char *key, json_type type)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return vs_error_set(VS_ECORRUPT, "%s: missing field '%s'", where, key);
    bool ok = type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
    if (!ok)
        return vs_error_set(VS_ECORRUPT, "%s: field '%s' is not %s", where, key,
                            type_name(type));
    *out = v;
    return 0;
}

static int member_string(const char **out, const json_t *obj, const char *where,
                         const char *key)
{
    const json_t *v = NULL;
    int error = member(&v, obj, where, key, JSON_STRING);
    if (error == 0)
        *out = json_string_value(v);
    return error;
}

static int member_uint(uint64_t *out, const json_t *obj, const char *where,
                       const char *key, uint64_t max)
{
    const json_t *v = NULL;
    int error = member(&v, obj, where, key, JSON_INTEGER);
    if (error < 0)
        return error;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return vs_error_set(VS_ECORRUPT, "%s: field '%s' is out of range",
                            where, key);
    *out = (uint64_t)x;
    return 0;
}

static int parse_format(vs_format_id *out, const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++) {
        if (strcmp(vs_format_name(formats[i].id), name) == 0) {
            *out = formats[i].id;
            return 0;
        }
    }
    return vs_error_set(VS_ECORRUPT, "manifest: unknown format '%.32s'", name);
}

static int parse_codec(vs_codec_id *out, const char *name)
{
    static const vs_codec_id all[] = {VS_CODEC_NONE, VS_CODEC_GZIP,
                                      VS_CODEC_BROTLI, VS_CODEC_ZSTD};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(vs_codec_info_of(all[i])->name, name) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return vs_error_set(VS_ECORRUPT, "manifest: unknown compression '%.32s'",
                        name);
}

static int collection_from_json(vs_snapshot_collection *c, const json_t *j,
                                size_t index)
{
    char where[48];
    snprintf(where, sizeof(where), "manifest collection %zu", index);
    if (!json_is_object(j))
        return vs_error_set(VS_ECORRUPT, "%s is not an object", where);
    const char *name, *metric;
    uint64_t dim;
    int error = member_string(&name, j, where, "name");
    if (error == 0 && vs_store_check_name(name) < 0)
        error = vs_error_set(VS_ECORRUPT, "%s: bad name", where);
    if (error == 0)
        error = member_uint(&dim, j, where, "dimension", VS_DIM_MAX);
    if (error == 0 && dim == 0)
        error = vs_error_set(VS_ECORRUPT, "%s: dimension is 0", where);
    if (error == 0)
        error = member_string(&metric, j, where, "metric");
    if (error == 0 && vs_metric_parse(&c->metric, metric) < 0)
        error = vs_error_set(VS_ECORRUPT, "%s: unknown metric", where);
    if (error == 0)
        error = member_uint(&c->count, j, where, "count", INT64_MAX);
    if (error < 0)
        return error;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->dimension = (uint32_t)dim;
    return 0;
}

static int collections_from_json(vs_snapshot *out, const json_t *j)
{
    const json_t *arr = NULL;
    int error = member(&arr, j, "manifest", "collections", JSON_ARRAY);
    if (error < 0)
        return error;
    size_t n = json_array_size(arr);
    if (n > COLLECTIONS_MAX)
        return vs_error_set(VS_ECORRUPT, "manifest: too many collections");
    out->collections = calloc(n ? n : 1, sizeof(*out->collections));
    if (!out->collections)
        return vs_error_oom();
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        vs_snapshot_collection *c = &out->collections[i];
        error = collection_from_json(c, json_array_get(arr, i), i);
        if (error < 0)
            return error;
        for (size_t k = 0; k < i; k++)
            if (strcmp(out->collections[k].name, c->name) == 0)
                return vs_error_set(VS_ECORRUPT,
                                    "manifest: collection '%s' listed twice",
                                    c->name);
        total += c->count;
        out->ncollections = i + 1;
    }
    if (total != out->records)
        return vs_error_set(VS_ECORRUPT,
                            "manifest: collections hold %llu records, "
                            "'records' says %llu",
                            (unsigned long long)total,
                            (unsigned long long)out->records);
    return 0;
}

/* An id field (a snapshot id) into out. */
static int member_id(char out[VS_SNAPSHOT_ID_LEN + 1], const json_t *obj,
                     const char *key)
{
    const char *s;
    int error = member_string(&s, obj, "manifest", key);
    if (error == 0 && vs_snapshot_check_id(s) < 0)
        error = vs_error_set(VS_ECORRUPT, "manifest: bad field '%s'", key);
    if (error == 0)
        snprintf(out, VS_SNAPSHOT_ID_LEN + 1, "%s", s);
    return error;
}

/* parent, base, seq_from, changed, deleted: present exactly in an
 * incremental manifest, and consistent. */
static int chain_from_json(vs_snapshot *out, const json_t *j)
{
    static const char *const keys[] = {"parent", "base", "seq_from",
                                       "changed", "deleted"};
    if (!vs_snapshot_is_incremental(out)) {
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (json_object_get(j, keys[i]))
                return vs_error_set(VS_ECORRUPT,
                                    "manifest: a full snapshot has no "
                                    "field '%s'",
                                    keys[i]);
        return 0;
    }
    int error = member_id(out->parent, j, "parent");
    if (error == 0)
        error = member_id(out->base, j, "base");
    if (error == 0)
        error = member_uint(&out->seq_from, j, "manifest", "seq_from",
                            INT64_MAX);
    if (error == 0)
        error = member_uint(&out->changed, j, "manifest", "changed",
                            INT64_MAX);
    if (error == 0)
        error = member_uint(&out->deleted, j, "manifest", "deleted",
                            INT64_MAX);
    if (error < 0)
        return error;
    if (strcmp(out->parent, out->id) >= 0 || strcmp(out->base, out->parent) > 0)
        return vs_error_set(VS_ECORRUPT,
                            "manifest: parent and base must be older "
                            "snapshots");
    if (out->seq_from > out->seq || out->changed > out->records)
        return vs_error_set(VS_ECORRUPT,
                            "manifest: seq_from, seq, changed and records do "
                            "not add up");
    if (out->format != VS_FORMAT_BIN)
        return vs_error_set(VS_ECORRUPT,
                            "manifest: an incremental snapshot is binary");
    return 0;
}

/* The header fields (everything but the collections). */
static int head_from_json(vs_snapshot *out, const json_t *j)
{
    const json_t *v;
    const char *s;
    uint64_t version;
    int error = json_is_object(j)
                    ? 0
                    : vs_error_set(VS_ECORRUPT, "manifest is not an object");
    if (error == 0)
        error =
            member_uint(&version, j, "manifest", "manifest_version", INT32_MAX);
    if (error == 0 && version != VS_MANIFEST_VERSION)

        error = vs_error_set(VS_EVERSION,
                             "manifest version %llu is not "
                             "supported (this build reads %d)",
                             (unsigned long long)version, VS_MANIFEST_VERSION);
    if (error == 0)
        error = member_string(&s, j, "manifest", "id");
    if (error == 0 && vs_snapshot_check_id(s) < 0)
        error = vs_error_set(VS_ECORRUPT, "manifest: bad field 'id'");
    if (error < 0)
        return error;
    snprintf(out->id, sizeof(out->id), "%s", s);

    v = json_object_get(j, "name");
    if (!v || (!json_is_null(v) &&
               (!json_is_string(v) ||
                vs_snapshot_check_name(json_string_value(v)) < 0)))
        return vs_error_set(VS_ECORRUPT,
                            "manifest %s: bad or missing field "
                            "'name'",
                            out->id);
    if (json_is_string(v))
        snprintf(out->name, sizeof(out->name), "%s", json_string_value(v));

    error = member_string(&s, j, "manifest", "created");
    if (error == 0 && vs_manifest_time_parse(&out->created_ms, s) < 0)
        error = vs_error_set(VS_ECORRUPT, "manifest: bad field 'created'");
    if (error == 0)
        error = member_string(&s, j, "manifest", "kind");
    if (error == 0 && strcmp(s, "full") != 0 && strcmp(s, "incremental"))
        error = vs_error_set(VS_ECORRUPT, "manifest: unknown kind '%.32s'", s);
    if (error == 0)
        snprintf(out->kind, sizeof(out->kind), "%s", s);
    if (error == 0)
        error = member_string(&s, j, "manifest", "origin");
    if (error == 0 && strcmp(s, "save") != 0 && strcmp(s, "upload") != 0 &&
        strcmp(s, "compact") != 0)
        error =
            vs_error_set(VS_ECORRUPT, "manifest: unknown origin '%.32s'", s);
    if (error == 0)
        snprintf(out->origin, sizeof(out->origin), "%s", s);
    if (error == 0)
        error = member_string(&s, j, "manifest", "format");
    if (error == 0)
        error = parse_format(&out->format, s);
    if (error == 0)
        error = member_string(&s, j, "manifest", "compression");
    if (error == 0)
        error = parse_codec(&out->codec, s);
    if (error == 0)
        error = member_uint(&out->bytes, j, "manifest", "bytes", INT64_MAX);
    if (error == 0)
        error = member_string(&s, j, "manifest", "sha256");
    if (error == 0 && vs_sha256_parse_hex(out->sha256, s, strlen(s)) < 0)
        error = vs_error_set(VS_ECORRUPT, "manifest: bad field 'sha256'");
    if (error == 0)
        error = member(&v, j, "manifest", "content_verified", JSON_TRUE);
    if (error == 0)
        out->content_verified = json_is_true(v);
    if (error == 0)
        error = member_uint(&out->seq, j, "manifest", "seq", INT64_MAX);
    if (error == 0)
        error = member_uint(&out->records, j, "manifest", "records", INT64_MAX);
    if (error == 0)
        error = chain_from_json(out, j);
    v = json_object_get(j, "encrypted");
    if (error == 0 && v && !json_is_boolean(v))
        error = vs_error_set(VS_ECORRUPT,
                             "manifest: field 'encrypted' is not a boolean");
    if (error == 0)
        out->encrypted = json_is_true(v);
    return error;
}

int vs_snapshot_from_json(vs_snapshot *out, const json_t *j)
{
    memset(out, 0, sizeof(*out));
    char want[sizeof(out->file)];
    const char *file;
    int error = head_from_json(out, j);
    if (error == 0)
        error = member_string(&file, j, "manifest", "file");
    if (error == 0)
        error =
            vs_manifest_file_name(want, sizeof(want), out->format, out->codec);
    /* The name follows from format and compression; anything else (a path,
     * "..") is refused before it can name a file. */
    if (error == 0 && strcmp(file, want) != 0)
        error = vs_error_set(VS_ECORRUPT,
                             "manifest: field 'file' should be '%s'", want);
    if (error == 0) {
        snprintf(out->file, sizeof(out->file), "%s", want);
        error = collections_from_json(out, j);
    }
    if (error < 0)
        vs_snapshot_dispose(out);
    return error;
}

int vs_snapshot_describe(vs_snapshot_collection **out, size_t *n, vs_store *st,
                         const vs_save_options *opts)
{
    *out = NULL;
    *n = 0;
    vs_save_options all = VS_SAVE_OPTIONS_INIT;
    vs_collection **list = NULL;
    size_t count = 0;
    int error = vs_fmt__select(&list, &count, st, opts ? opts : &all);
    if (error < 0)
        return error;
    vs_snapshot_collection *cols = calloc(count ? count : 1, sizeof(*cols));
    if (!cols) {
        free(list);
        return vs_error_oom();
    }
    for (size_t i = 0; i < count; i++) {
        snprintf(cols[i].name, sizeof(cols[i].name), "%s",
                 vs_collection_name(list[i]));
        cols[i].dimension = vs_collection_dimension(list[i]);
        cols[i].metric = vs_collection_metric(list[i]);
        cols[i].count = vs_collection_count(list[i]);
    }
    free(list);
    *out = cols;
    *n = count;
    return 0;
}
