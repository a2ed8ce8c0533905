/*
 * api_snapshots: the snapshot catalog over HTTP, every route that answers
 * at once (the long operations are in api_snapjobs.c): listing, reading
 * and deleting manifests, downloading a snapshot's data file (single byte
 * ranges, ETag / If-None-Match, the checksum in a header and as a
 * `sha256sum -c` line) and uploading one.
 *
 * Ids from the path are checked against the id shape before anything else
 * (400), so no request can name a file outside the catalog.
 *
 * DELETE refuses a snapshot others depend on (the parent or base of an
 * incremental one) with 409 naming them; ?cascade=true deletes them first
 * (ops.h, vs_ops_delete_cascade) and answers with the ids deleted.

 *
 * Downloads are served from the file with sendfile (vs_reply_file).  The
 * ETag is the manifest's SHA-256, which names the content exactly.  A data
 * file whose size differs from its manifest's is not served (422): the
 * client would get bytes that cannot match the checksum it is told.
 *
 * Uploads are stored exactly as sent (a gzip'd document stays a gzip
 * snapshot), so a Content-Encoding other than identity is refused (415)
 * rather than decoded.  The body streams into vs_catalog_import on the
 * consumer thread: it is written to the catalog's work directory, verified
 * by a full load and published only if the whole of it verifies.  An
 * upload never touches the live store or CURRENT.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"

#define HINT_MAX 255 /* a file name hint, bytes */
#define DL_NAME_MAX (16 + VS_SNAPSHOT_ID_LEN + 64)

/* ---- helpers ------------------------------------------------------------ */

static int catalog_of(vs_catalog **out, vs_req *req)
{
    *out = vs_req_env(req)->catalog;
    return *out ? 0 : vs_error_set(VS_EIO, "no data directory is configured");
}

static int id_param(const char **out, vs_req *req)
{
    *out = vs_req_param(req, "id", NULL);
    if (!*out)
        return vs_error_set(VS_EINVALID, "no snapshot id");
    return vs_snapshot_check_id(*out);
}

/* The catalog and the manifest of the snapshot the path names. */
static int lookup(vs_catalog **cat, vs_snapshot *s, vs_req *req)
{
    const char *id = NULL;
    memset(s, 0, sizeof(*s));
    int error = catalog_of(cat, req);
    if (!error)
        error = id_param(&id, req);
    if (!error)
        error = vs_catalog_get(s, *cat, id);
    return error;
}

/* CURRENT's id, "" when there is none or it cannot be read (logged). */
static void current_id(char out[VS_SNAPSHOT_ID_LEN + 1], vs_catalog *cat)
{
    int error = vs_catalog_current(out, cat);
    if (error < 0) {
        if (error != VS_ENOTFOUND)
            vs_log(VS_LOG_WARN, "CURRENT: %s", vs_error_last());
        vs_error_clear();
        out[0] = '\0';
    }
}

/* "vecsnap-<id><suffix>": the data file's name with "data" replaced. */
static void download_name(char *out, size_t size, const vs_snapshot *s)
{
    const char *suffix = strncmp(s->file, "data", 4) == 0 ? s->file + 4 : "";
    snprintf(out, size, "vecsnap-%s%s", s->id, suffix);
}

/* {"snapshot": manifest, "current": bool} */
static json_t *snapshot_reply(const vs_snapshot *s, bool current)
{
    json_t *m = vs_snapshot_to_json(s);
    if (!m)
        return NULL;
    return json_pack("{s:o,s:b}", "snapshot", m, "current", current);
}

/* ---- list, get, delete -------------------------------------------------- */

static int list_snapshots(vs_req *req)
{
    vs_catalog *cat;
    vs_snapshot *all = NULL;
    size_t n = 0;
    int error = catalog_of(&cat, req);
    if (!error)
        error = vs_catalog_list(&all, &n, cat);
    if (error < 0)
        return error;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current_id(cur, cat);
    json_t *arr = json_array();
    for (size_t i = n; arr && i-- > 0;) {
        json_t *m = vs_snapshot_to_json(&all[i]);
        if (!m || json_array_append_new(arr, m) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        vs_snapshot_dispose(&all[i]);
    free(all);
    if (!arr)
        return vs_error_oom();
    return vs_reply_json(req, 200,
                         json_pack("{s:o,s:o}", "snapshots", arr, "current",
                                   cur[0] ? json_string(cur) : json_null()));
}

static int get_snapshot(vs_req *req)
{
    vs_catalog *cat;
    vs_snapshot s;
    int error = lookup(&cat, &s, req);
    if (error < 0)
        return error;
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    current_id(cur, cat);
    json_t *j = snapshot_reply(&s, strcmp(cur, s.id) == 0);
    vs_snapshot_dispose(&s);
    return j ? vs_reply_json(req, 200, j) : vs_error_oom();
}

/* 204; with ?cascade=true (the snapshots that depend on it go first),
 * 200 {"deleted": [ids, newest first]}. */
static int delete_snapshot(vs_req *req)
{
    const char *id = NULL;
    vs_ops *ops = vs_api_app_of(req)->ops;
    bool cascade = false;
    char (*gone)[VS_SNAPSHOT_ID_LEN + 1] = NULL;
    size_t ngone = 0;
    int error = id_param(&id, req);
    if (!error)
        error = vs_api_query_bool(&cascade, req, "cascade");
    if (!error && !ops)
        error = vs_error_set(VS_EIO, "the server is not ready");
    if (!error)
        error = vs_ops_delete_cascade(&gone, &ngone, ops, id, cascade);
    json_t *list = error || !cascade ? NULL : json_array();
    for (size_t i = 0; list && i < ngone; i++)
        if (json_array_append_new(list, json_string(gone[i])) < 0) {
            json_decref(list);
            list = NULL;
        }
    free(gone);
    if (error < 0)
        return error;
    vs_log(VS_LOG_INFO, "req %s: snapshot %s deleted%s", vs_req_id(req), id,
           ngone > 1 ? " with the snapshots that depended on it" : "");
    if (!cascade)
        return vs_reply_empty(req, 204);
    return list ? vs_reply_json(req, 200, json_pack("{s:o}", "deleted", list))
                : vs_error_oom();
}


/* ---- download ----------------------------------------------------------- */

/* Reads a decimal number at *p (advanced); false when there is none or it
 * overflows. */
static bool read_number(uint64_t *out, const char **p)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    *p = s;
    return true;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A Range header of one byte range ("bytes=a-b", "bytes=a-",
 * "bytes=-n") against a file of `size` bytes: 0 with *off and *len set,
 * or -1 when it is malformed, names several ranges or cannot be
 * satisfied (416). */
static int parse_range(uint64_t *off, uint64_t *len, const char *h,
                       uint64_t size)
{
    const char *p = skip_ws(h);
    if (strncasecmp(p, "bytes", 5) != 0)
        return -1;
    p = skip_ws(p + 5);
    if (*p++ != '=')
        return -1;
    p = skip_ws(p);
    uint64_t a = 0, b = 0;
    bool has_a = read_number(&a, &p);
    p = skip_ws(p);
    if (*p++ != '-')
        return -1;
    p = skip_ws(p);
    bool has_b = read_number(&b, &p);
    p = skip_ws(p);
    if (*p != '\0' || (!has_a && !has_b))
        return -1;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *len = b < size ? b : size;
        *off = size - *len;
        return 0;
    }
    if (a >= size || (has_b && b < a))
        return -1;
    if (!has_b || b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 0;
}

/* An If-None-Match list ("*", or entity tags, weak or strong) names
 * `etag` (with its quotes). */
static bool etag_listed(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = list;
    while (*p) {
        p = skip_ws(p);
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (strncmp(p, etag, n) == 0) {
            const char *q = skip_ws(p + n);
            if (*q == ',' || *q == '\0')
                return true;
        }
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

static int download(vs_req *req)
{
    vs_catalog *cat;
    vs_snapshot s;
    char *path = NULL;
    int fd = -1;
    int error = lookup(&cat, &s, req);
    if (!error)
        error = vs_catalog_data_path(&path, cat, &s);
    if (!error) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            error = vs_error_set_os(VS_EIO, "snapshot %s: cannot open %s", s.id,
                                    s.file);
    }
    struct stat sb;
    if (!error && fstat(fd, &sb) < 0)
        error = vs_error_set_os(VS_EIO, "snapshot %s: cannot stat %s", s.id,
                                s.file);
    if (!error && (uint64_t)sb.st_size != s.bytes)
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: %s is %llu bytes, its manifest "
                             "says %llu",
                             s.id, s.file, (unsigned long long)sb.st_size,
                             (unsigned long long)s.bytes);
    free(path);
    if (error < 0)
        goto fail;

    uint64_t size = s.bytes;
    char hex[VS_SHA256_HEX_LEN + 1], etag[VS_SHA256_HEX_LEN + 3];
    char name[DL_NAME_MAX], disp[DL_NAME_MAX + 32];
    vs_sha256_hex(hex, s.sha256);
    snprintf(etag, sizeof(etag), "\"%s\"", hex);
    download_name(name, sizeof(name), &s);
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", name);
    vs_snapshot_dispose(&s);
    /* A snapshot's bytes never change: caches may keep it and revalidate
     * with the ETag. */
    if (vs_reply_header(req, "ETag", etag) < 0 ||
        vs_reply_header(req, "Cache-Control", "no-cache") < 0 ||
        vs_reply_header(req, "Accept-Ranges", "bytes") < 0 ||
        vs_reply_header(req, "X-Checksum-Sha256", hex) < 0) {
        error = VS_ENOMEM;
        goto fail;
    }
    const char *inm = vs_req_header(req, "If-None-Match");
    if (inm && etag_listed(inm, etag)) {
        close(fd);
        return vs_reply_empty(req, 304);
    }
    const char *range = vs_req_header(req, "Range");
    const char *if_range = vs_req_header(req, "If-Range");
    if (range && if_range && strcmp(skip_ws(if_range), etag) != 0)
        range = NULL; /* the client's copy is another file: send it all */
    uint64_t off = 0, len = size;
    char cr[80];
    if (range && parse_range(&off, &len, range, size) < 0) {
        close(fd);
        snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
        if (vs_reply_header(req, "Content-Range", cr) < 0)
            return VS_ENOMEM;
        return vs_reply_error_status(req, 416, "range_not_satisfiable",
                                     "range '%.100s' is not one satisfiable "
                                     "byte range of %llu bytes",
                                     range, (unsigned long long)size);
    }
    if (vs_reply_header(req, "Content-Disposition", disp) < 0) {
        error = VS_ENOMEM;
        goto fail;
    }
    if (!range)
        return vs_reply_file(req, 200, fd, 0, size, "application/octet-stream");
    snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1), (unsigned long long)size);
    if (vs_reply_header(req, "Content-Range", cr) < 0) {
        error = VS_ENOMEM;
        goto fail;
    }
    return vs_reply_file(req, 206, fd, off, len, "application/octet-stream");
fail:
    if (fd >= 0)
        close(fd);
    vs_snapshot_dispose(&s);
    return error;
}

static int get_sha256(vs_req *req)
{
    vs_catalog *cat;
    vs_snapshot s;
    int error = lookup(&cat, &s, req);
    if (error < 0)
        return error;
    char hex[VS_SHA256_HEX_LEN + 1], name[DL_NAME_MAX];
    char line[VS_SHA256_HEX_LEN + 4 + DL_NAME_MAX];
    vs_sha256_hex(hex, s.sha256);
    download_name(name, sizeof(name), &s);
    snprintf(line, sizeof(line), "%s  %s\n", hex, name);
    vs_snapshot_dispose(&s);
    return vs_reply_text(req, 200, line, "text/plain; charset=utf-8");
}

/* ---- upload ------------------------------------------------------------- */

typedef struct upload {
    vs_catalog *cat;
    uint64_t max_bytes;
    bool has_name;
    char name[VS_SNAPSHOT_NAME_MAX + 1];
    char hint[HINT_MAX + 1]; /* "" when none */
    vs_snapshot snap;        /* filled by consume */
} upload;

static void upload_free(void *p)
{
    upload *u = p;
    vs_snapshot_dispose(&u->snap);
    free(u);
}

/* The file name a header gives: `name`, or Content-Disposition style
 * `attachment; filename="name"`, into out (room for HINT_MAX + 1).
 * VS_EINVALID when it names none or too long a one. */
static int header_file_name(char *out, const char *h, const char *what)
{
    const char *p = strcasestr(h, "filename=");
    size_t n;
    if (p) {
        p += 9;
        if (*p == '"') {
            p++;
            const char *q = strchr(p, '"');
            n = q ? (size_t)(q - p) : strlen(p);
        } else {
            n = strcspn(p, "; \t");
        }
    } else {
        p = skip_ws(h);
        n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
    }
    if (n == 0 || n > HINT_MAX)
        return vs_error_set(VS_EINVALID, "%s must name a file of 1 to %d bytes",
                            what, HINT_MAX);
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* A file name hint: 1..HINT_MAX bytes without control characters; only
 * its last path component is kept. */
static int check_hint(char *hint, const char *what)
{
    size_t n = strlen(hint);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)hint[i] < 0x20 || hint[i] == 0x7f)
            return vs_error_set(VS_EINVALID,
                                "%s must be a file name of 1 to %d bytes "
                                "without control characters",
                                what, HINT_MAX);
    const char *slash = strrchr(hint, '/');
    if (slash)
        memmove(hint, slash + 1, strlen(slash + 1) + 1);
    return 0;
}

static int consume_upload(vs_req *req, vs_stream *body, void *payload)
{
    upload *u = payload;
    (void)req;
    return vs_catalog_import(&u->snap, u->cat, body,
                             u->has_name ? u->name : NULL,
                             u->hint[0] ? u->hint : NULL, u->max_bytes);
}

static int begin_upload(vs_req *req)
{
    const char *enc = vs_req_header(req, "Content-Encoding");
    if (enc && strcasecmp(skip_ws(enc), "identity") != 0)
        return vs_reply_error_status(
            req, 415, "unsupported_media_type",
            "Content-Encoding '%.60s': a snapshot is stored as sent; send the "
            "file itself (a .gz file is stored as a gzip snapshot)",
            enc);
    vs_catalog *cat = NULL;
    const char *name = NULL, *fname = NULL;
    int error = catalog_of(&cat, req);
    if (!error)
        error = vs_req_query(&name, req, "name");
    if (!error)
        error = vs_req_query(&fname, req, "filename");
    if (error < 0)
        return error;
    upload *u = calloc(1, sizeof(*u));
    if (!u)
        return vs_error_oom();
    vs_req_set_state(req, u, upload_free);
    u->cat = cat;
    u->max_bytes = vs_req_env(req)->max_decompressed;
    if (name) {
        if (vs_snapshot_check_name(name) < 0) {
            char why[200];
            snprintf(why, sizeof(why), "%s", vs_error_last());
            return vs_error_set(VS_EINVALID, "query parameter 'name': %s", why);
        }
        u->has_name = true;
        snprintf(u->name, sizeof(u->name), "%s", name);
    }
    const char *what = "query parameter 'filename'";
    if (fname) {
        size_t n = strlen(fname);
        if (n == 0 || n > HINT_MAX)
            return vs_error_set(VS_EINVALID,
                                "%s must be a file name of 1 to %d bytes", what,
                                HINT_MAX);
        memcpy(u->hint, fname, n + 1);
    } else {
        const char *h = vs_req_header(req, "X-Filename");
        what = "header X-Filename";
        if (!h) {
            h = vs_req_header(req, "Content-Disposition");
            what = "header Content-Disposition";
        }
        if (h && header_file_name(u->hint, h, what) < 0)
            return VS_EINVALID;
    }
    if (u->hint[0] && check_hint(u->hint, what) < 0)
        return VS_EINVALID;
    error = vs_req_body_stream(req, consume_upload, u);
    if (error == VS_EBUSY)
        return vs_reply_error_status(req, 503, "unavailable", "%s",
                                     vs_error_last());
    return error;
}

static int post_upload(vs_req *req)
{
    upload *u = vs_req_state(req);
    int error = vs_req_body_result(req);
    if (error == VS_ECANCELLED)
        return vs_reply_error_status(req, 503, "unavailable",
                                     "upload cancelled: %s", vs_error_last());
    if (error < 0)
        return error;
    char loc[32 + VS_SNAPSHOT_ID_LEN];
    snprintf(loc, sizeof(loc), "/v1/snapshots/%s", u->snap.id);
    if (vs_reply_header(req, "Location", loc) < 0)
        return VS_ENOMEM;
    vs_log(VS_LOG_INFO,
           "req %s: snapshot %s uploaded: %s, %s, %llu bytes, %llu records",
           vs_req_id(req), u->snap.id, vs_format_name(u->snap.format),
           vs_codec_info_of(u->snap.codec)->name,
           (unsigned long long)u->snap.bytes,
           (unsigned long long)u->snap.records);
    json_t *m = vs_snapshot_to_json(&u->snap);
    return vs_reply_json(req, 201,
                         m ? json_pack("{s:o}", "snapshot", m) : NULL);
}

/* ---- routes ------------------------------------------------------------- */

#define UPLOAD                                                                 \
    (VS_ROUTE_BODY | VS_ROUTE_UPLOAD | VS_ROUTE_ENCODED | VS_ROUTE_ANY_TYPE)

const vs_route vs_api_snapshot_routes[] = {
    {"GET", "/v1/snapshots", list_snapshots, 0, 0, NULL},
    {"POST", "/v1/snapshots/upload", post_upload, UPLOAD, 0, begin_upload},
    {"GET", "/v1/snapshots/{id}", get_snapshot, 0, 0, NULL},
    {"DELETE", "/v1/snapshots/{id}", delete_snapshot, VS_ROUTE_NEEDS_STORE, 0,
     NULL},
    {"GET", "/v1/snapshots/{id}/download", download, 0, 0, NULL},
    {"GET", "/v1/snapshots/{id}/sha256", get_sha256, 0, 0, NULL},
    {NULL, NULL, NULL, 0, 0, NULL},
};
