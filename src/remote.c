/*
 * remote: snapshots and log segments on S3-compatible storage (remote.h).
 * It owns the object layout under the prefix, the order in which a
 * snapshot's objects are written and removed (manifest last in, first
 * out), encryption on the way up, the walk along an incremental
 * snapshot's parents in either direction, and the hand-over of a
 * downloaded snapshot to the catalog.
 *
 * Files made on the way (an encrypted copy to upload, a snapshot being
 * downloaded) live in a fresh directory under the catalog's work
 * directory, which the catalog empties at start-up, so a crash leaves
 * nothing behind for long.  Log segments (remote_wal.c) have no catalog:
 * their work files go to $TMPDIR (or /tmp).
 */
#include "remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt.h"
#include "fsutil.h"
#include "log.h"
#include "remote_int.h"

#define SNAP_DIR "snapshots/"
#define MANIFEST "manifest.json"
#define SUMS "SHA256SUMS"
#define MANIFEST_MAX (16u << 20) /* a remote manifest, bytes */
#define CHAIN_MAX 4096           /* links from a snapshot to its base */

typedef char snap_id[VS_SNAPSHOT_ID_LEN + 1];

/* Progress over several transfers: `base` bytes are behind, `total` in
 * all, `high` the most reported so far (a step that moves no bytes, or a
 * retried part, never makes the figure go back).  Also the cancel check
 * of steps that move no bytes. */
typedef struct xfer {
    vs_progress_fn fn;
    void *payload;
    uint64_t base;
    uint64_t total;
    uint64_t high;
} xfer;

static int xfer_cb(void *p, uint64_t done, uint64_t total)
{
    xfer *x = p;
    (void)total;
    if (!x->fn)
        return 0;
    uint64_t at = x->base + done;
    if (at > x->total)
        at = x->total;
    if (at < x->high)
        at = x->high;
    x->high = at;
    return x->fn(x->payload, at, x->total);
}

/* A step that moves no bytes: report where we are (and hear a cancel). */
static int xfer_hold(void *p, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    return xfer_cb(p, 0, 0);
}

static int cancelled(xfer *x, const char *what)
{
    if (xfer_cb(x, 0, 0) != 0)
        return vs_error_set(VS_ECANCELLED, "%s: cancelled", what);
    return 0;
}

/* ---- the client --------------------------------------------------------- */

int vs_remote_new(vs_remote **out, const vs_s3_config *cfg,
                  const uint8_t *key)
{
    *out = NULL;
    vs_remote *r = calloc(1, sizeof(*r));
    if (!r)
        return vs_error_oom();
    vs_buf w = VS_BUF_INIT(2048);
    int error = vs_s3_new(&r->s3, cfg);
    if (!error)
        error = vs_buf_printf(&w, "s3://%s/%s", cfg->bucket,
                              cfg->prefix ? cfg->prefix : "");
    if (error < 0) {
        vs_buf_dispose(&w);
        vs_remote_free(r);
        return error;
    }
    r->where = vs_buf_detach(&w);
    if (key) {
        memcpy(r->key, key, sizeof(r->key));
        r->has_key = true;
    }
    *out = r;
    return 0;
}

void vs_remote_free(vs_remote *r)
{
    if (!r)
        return;
    vs_s3_free(r->s3);
    explicit_bzero(r->key, sizeof(r->key));
    free(r->where);
    free(r);
}

const char *vs_remote_where(const vs_remote *r)
{
    return r->where ? r->where : "";
}

/* ---- small helpers ------------------------------------------------------ */

/* "snapshots/<id>/<file>" into out (room for KEY_MAX + 1). */
static void snap_key(char *out, const char *id, const char *file)
{
    snprintf(out, KEY_MAX + 1, SNAP_DIR "%s/%s", id, file);
}

char *vs_remote__join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (!p) {
        vs_error_oom();
        return NULL;
    }
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* A fresh directory "<parent>/<tag>-XXXXXX" (malloc'd path). */
int vs_remote__make_workdir(char **out, const char *parent, const char *tag)
{
    size_t n = strlen(parent) + strlen(tag) + 10;
    char *p = malloc(n);
    if (!p)
        return vs_error_oom();
    snprintf(p, n, "%s/%s-XXXXXX", parent, tag);
    if (!mkdtemp(p)) {
        int error = vs_error_set_os(VS_EIO, "cannot create a work directory "
                                    "in '%s'", parent);
        free(p);
        return error;
    }
    *out = p;
    return 0;
}

/* Remove a work directory and the files in it (NULL is a no-op). */
void vs_remote__remove_workdir(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = vs_remote__join(dir, e->d_name);
        if (p && unlink(p) != 0)
            vs_log(VS_LOG_WARN, "remote: cannot remove '%s'", p);
        free(p);
    }
    if (d)
        closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT)
        vs_log(VS_LOG_WARN, "remote: cannot remove '%s'", dir);
    vs_error_clear();
    free(dir);
}

/* A small object into `b` (its cap applies: VS_ETOOBIG). */
static int get_small(vs_buf *b, vs_remote *r, const char *key)
{
    vs_stream *w = NULL;
    int error = vs_stream_mem_writer_new(&w, b);
    if (!error)
        error = vs_s3_get(r->s3, key, w, NULL, NULL);
    if (!error)
        error = vs_stream_finish(w);
    vs_stream_free(w);
    return error;
}

/* ---- manifests ---------------------------------------------------------- */

int vs_remote_get(vs_snapshot *out, vs_remote *r, const char *id)
{
    char key[KEY_MAX + 1];
    vs_buf b = VS_BUF_INIT(MANIFEST_MAX);
    json_error_t jerr;
    json_t *j = NULL;
    memset(out, 0, sizeof(*out));
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    snap_key(key, id, MANIFEST);
    error = get_small(&b, r, key);
    if (error == VS_ENOTFOUND)
        error = vs_error_set(VS_ENOTFOUND, "no remote snapshot '%s' in %s",
                             id, r->where);
    else if (error == VS_ETOOBIG)
        error = vs_error_set(VS_ECORRUPT, "remote snapshot %s: manifest is "
                             "over %u bytes", id, MANIFEST_MAX);
    if (error < 0)
        goto done;
    j = json_loadb(b.ptr ? b.ptr : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        error = vs_error_set(VS_ECORRUPT, "remote snapshot %s: manifest: %s",
                             id, jerr.text);
        goto done;
    }
    error = vs_snapshot_from_json(out, j);
    if (error < 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", vs_error_last());
        error = vs_error_set(error, "remote snapshot %s: %s", id, why);
    } else if (strcmp(out->id, id) != 0) {
        error = vs_error_set(VS_ECORRUPT, "remote snapshot %s: its manifest "
                             "names snapshot %s", id, out->id);
        vs_snapshot_dispose(out);
        memset(out, 0, sizeof(*out));
    }
done:
    json_decref(j);
    vs_buf_dispose(&b);
    return error;
}

/* Put `s` as the remote manifest (SHA256SUMS first, manifest.json last). */
static int put_manifest(vs_remote *r, const vs_snapshot *s)
{
    char key[KEY_MAX + 1];
    char line[VS_SHA256_HEX_LEN + 2 + sizeof(s->file) + 2];
    vs_snapshot_sha256_line(line, sizeof(line), s);
    snap_key(key, s->id, SUMS);
    int error = vs_s3_put_bytes(r->s3, key, line, strlen(line),
                                "text/plain; charset=utf-8");
    if (error < 0)
        return error;
    json_t *j = vs_snapshot_to_json(s);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!text)
        return vs_error_oom();
    snap_key(key, s->id, MANIFEST);
    error = vs_s3_put_bytes(r->s3, key, text, strlen(text),
                            "application/json");
    free(text);
    return error;
}

/* Is remote snapshot `id` there in full (manifest, and a data object of
 * the manifest's size and SHA-256)?  *have gets the manifest when yes. */
static int remote_intact(bool *yes, vs_snapshot *have, vs_remote *r,
                         const char *id)
{
    char key[KEY_MAX + 1];
    uint8_t sha[VS_SHA256_LEN];
    uint64_t size = 0;
    bool has_sha = false;
    *yes = false;
    int error = vs_remote_get(have, r, id);
    if (error == VS_ENOTFOUND || error == VS_ECORRUPT) {
        vs_error_clear(); /* absent or unreadable: upload it again */
        return 0;
    }
    if (error < 0)
        return error;
    snap_key(key, id, have->file);
    error = vs_s3_head(r->s3, key, &size, sha, &has_sha);
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        error = 0;
    } else if (!error) {
        *yes = size == have->bytes && has_sha
            && vs_sha256_equal(sha, have->sha256);
    }
    if (!*yes)
        vs_snapshot_dispose(have);
    return error;
}

static int manifest_exists(bool *yes, vs_remote *r, const char *id)
{
    char key[KEY_MAX + 1];
    snap_key(key, id, MANIFEST);
    int error = vs_s3_head(r->s3, key, NULL, NULL, NULL);
    *yes = error == 0;
    if (error == VS_ENOTFOUND) {
        vs_error_clear();
        return 0;
    }
    return error;
}

/* ---- list --------------------------------------------------------------- */

int vs_remote_list(vs_snapshot **out, size_t *n, vs_remote *r)
{
    vs_s3_object *objs = NULL;
    size_t nobj = 0, count = 0;
    vs_snapshot *v = NULL;
    const size_t tail = 1 + sizeof(MANIFEST) - 1;
    *out = NULL;
    *n = 0;
    int error = vs_s3_list(&objs, &nobj, r->s3, SNAP_DIR);
    if (error < 0)
        return error;
    if (nobj && !(v = calloc(nobj, sizeof(*v))))
        error = vs_error_oom();
    for (size_t i = 0; !error && i < nobj; i++) {
        const char *k = objs[i].key + sizeof(SNAP_DIR) - 1;
        char id[VS_SNAPSHOT_ID_LEN + 1];
        if (strncmp(objs[i].key, SNAP_DIR, sizeof(SNAP_DIR) - 1) != 0
            || strlen(k) != VS_SNAPSHOT_ID_LEN + tail
            || strcmp(k + VS_SNAPSHOT_ID_LEN, "/" MANIFEST) != 0)
            continue;
        memcpy(id, k, VS_SNAPSHOT_ID_LEN);
        id[VS_SNAPSHOT_ID_LEN] = '\0';
        if (vs_snapshot_check_id(id) < 0) {
            vs_error_clear();
            continue;
        }
        error = vs_remote_get(&v[count], r, id);
        if (error == VS_ENOTFOUND || error == VS_ECORRUPT
            || error == VS_EVERSION) {
            if (error != VS_ENOTFOUND) /* else deleted meanwhile */
                vs_log(VS_LOG_WARN, "remote: not listed: %s",
                       vs_error_last());
            vs_error_clear();
            error = 0;
            continue;
        }
        if (!error)
            count++;
    }
    vs_s3_objects_free(objs, nobj);
    if (error < 0) {
        vs_snapshot_list_free(v, count);
        return error;
    }
    /* S3 lists keys in byte order and ids sort by time: oldest first. */
    *out = v;
    *n = count;
    return 0;
}

/* ---- upload ------------------------------------------------------------- */

/* The local data file must still match its manifest before it goes out. */
static int check_local_file(const vs_snapshot *s, const char *path)
{
    uint8_t sha[VS_SHA256_LEN];
    uint64_t size = 0;
    int error = vs_sha256_file(sha, &size, path);
    if (error < 0)
        return error;
    if (size != s->bytes || !vs_sha256_equal(sha, s->sha256))
        return vs_error_set(VS_ECORRUPT, "snapshot %s: the local data file "
                            "does not match its manifest (%s); not uploaded",
                            s->id, size != s->bytes ? "size" : "sha256");
    return 0;
}

/* Bytes that go up for local snapshot `s`. */
static uint64_t upload_size(const vs_remote *r, const vs_snapshot *s)
{
    return r->has_key && !s->encrypted ? VS_CRYPT_SIZE(s->bytes) : s->bytes;
}

/* Send local snapshot `s` (which becomes the remote manifest). */
static int upload_one(vs_remote *r, vs_catalog *cat, vs_snapshot *s,
                      xfer *x)
{
    char key[KEY_MAX + 1];
    char *path = NULL, *work = NULL, *enc = NULL;
    const char *src;
    int error = vs_catalog_data_path(&path, cat, s);
    if (!error)
        error = check_local_file(s, path);
    if (!error)
        error = cancelled(x, "upload");
    if (error < 0)
        goto done;
    src = path;
    if (r->has_key && !s->encrypted) {
        error =
            vs_remote__make_workdir(&work, vs_catalog_tmpdir(cat), "upload");
        if (!error && !(enc = vs_remote__join(work, "data" VS_CRYPT_SUFFIX)))
            error = VS_ENOMEM;
        if (!error)
            error = vs_crypt_encrypt_file(enc, path, r->key);
        if (!error)
            error = vs_sha256_file(s->sha256, &s->bytes, enc);
        if (error < 0)
            goto done;
        s->encrypted = true; /* same file name: the manifest says how */
        src = enc;
    }
    snap_key(key, s->id, s->file);
    error = vs_s3_put_file(r->s3, key, src, s->sha256, xfer_cb, x);
    if (!error)
        error = cancelled(x, "upload");
    if (!error)
        error = put_manifest(r, s);
    if (!error)
        vs_log(VS_LOG_INFO, "remote: snapshot %s uploaded to %s (%" PRIu64
               " bytes%s)", s->id, r->where, s->bytes,
               enc ? ", encrypted" : "");
done:
    free(enc);
    vs_remote__remove_workdir(work);
    free(path);
    return error;
}

/* Manifests along a chain of parents, grown as it is walked. */
typedef struct chain {
    vs_snapshot *v;
    size_t n;
    size_t cap;
} chain;

/* A zeroed slot at v[n] (n not advanced); NULL when out of memory or the
 * chain is too long (error set). */
static vs_snapshot *chain_slot(chain *c, const char *id)
{
    if (c->n == CHAIN_MAX) {
        vs_error_set(VS_ECORRUPT, "snapshot %s: more than %d parents", id,
                     CHAIN_MAX);
        return NULL;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        vs_snapshot *v = realloc(c->v, cap * sizeof(*v));
        if (!v) {
            vs_error_oom();
            return NULL;
        }
        c->v = v;
        c->cap = cap;
    }
    memset(&c->v[c->n], 0, sizeof(c->v[0]));
    return &c->v[c->n];
}

static void chain_dispose(chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        vs_snapshot_dispose(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* The chain to send: `id`, then its ancestors the remote lacks, up to
 * (not including) the first one it has.  Local manifests. */
static int upload_chain(chain *c, vs_remote *r, vs_catalog *cat,
                        const char *id)
{
    snap_id cur, child;
    snprintf(cur, sizeof(cur), "%s", id);
    child[0] = '\0';
    for (;;) {
        bool there = false;
        vs_snapshot *s = chain_slot(c, id);
        if (!s)
            return vs_error_last_code();
        int error = vs_catalog_get(s, cat, cur);
        if (error == VS_ENOTFOUND && child[0])
            return vs_error_set(VS_ENOTFOUND, "snapshot %s: its parent %s is "
                                "neither local nor remote", child, cur);
        if (error < 0)
            return error;
        c->n++;
        if (!s->parent[0])
            return 0;
        memcpy(child, cur, sizeof(child));
        memcpy(cur, s->parent, sizeof(cur));
        if ((error = manifest_exists(&there, r, cur)) < 0)
            return error;
        if (there)
            return 0;
    }
}

int vs_remote_upload(vs_snapshot *out, vs_remote *r, vs_catalog *cat,
                     const char *id, vs_progress_fn progress, void *payload)
{
    vs_snapshot have;
    chain c = {NULL, 0, 0};
    bool intact = false;
    xfer x = {progress, payload, 0, 0, 0};
    if (out)
        memset(out, 0, sizeof(*out));
    int error = vs_snapshot_check_id(id);
    if (!error)
        error = vs_catalog_get(&have, cat, id); /* 404 before the network */
    if (error < 0)
        return error;
    vs_snapshot_dispose(&have);
    error = remote_intact(&intact, &have, r, id);
    if (error < 0)
        return error;
    if (intact) {
        vs_log(VS_LOG_INFO, "remote: snapshot %s is in %s already", id,
               r->where);
        if (out)
            *out = have;
        else
            vs_snapshot_dispose(&have);
        return 0;
    }
    error = upload_chain(&c, r, cat, id);
    for (size_t i = 0; !error && i < c.n; i++)
        x.total += upload_size(r, &c.v[i]);
    /* oldest first: a snapshot is listed only once its parents are */
    for (size_t i = c.n; !error && i-- > 0;) {
        uint64_t size = upload_size(r, &c.v[i]);
        error = upload_one(r, cat, &c.v[i], &x);
        x.base += size;
    }
    if (!error && out) {
        *out = c.v[0];
        memset(&c.v[0], 0, sizeof(c.v[0]));
    }
    chain_dispose(&c);
    return error;
}

/* ---- fetch -------------------------------------------------------------- */

/* A snapshot that is local already: check it as a fetched one would be. */
static int check_local(vs_catalog *cat, const vs_snapshot *s,
                       bool full_check, xfer *x)
{
    if (full_check && strcmp(s->kind, "full") == 0) {
        vs_store *st = NULL;
        int error = vs_catalog_load(&st, NULL, cat, s->id, xfer_hold, x);
        vs_store_free(st);
        return error;
    }
    char *path = NULL;
    int error = vs_catalog_data_path(&path, cat, s);
    if (!error)
        error = check_local_file(s, path);
    free(path);
    if (error == VS_ECORRUPT)
        error = vs_error_set(VS_ECORRUPT, "snapshot %s is local already but "
                             "its data file does not match its manifest; "
                             "delete it and fetch it again", s->id);
    return error;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char *p = vs_remote__join(dir, name);
    if (!p)
        return VS_ENOMEM;
    int error = vs_fs_write_atomic(p, text, strlen(text));
    free(p);
    return error;
}

/* Download remote snapshot `m` into a work directory and adopt it. */
static int fetch_one(vs_remote *r, vs_catalog *cat, const vs_snapshot *m,
                     bool full_check, xfer *x)
{
    char key[KEY_MAX + 1];
    char line[VS_SHA256_HEX_LEN + 2 + sizeof(m->file) + 2];
    char *work = NULL, *path = NULL, *text = NULL;
    vs_stream *w = NULL;
    int fd = -1;
    int error = vs_remote__make_workdir(&work, vs_catalog_tmpdir(cat), "fetch");
    if (!error && !(path = vs_remote__join(work, m->file)))
        error = VS_ENOMEM;
    if (error < 0)
        goto done;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = vs_error_set_os(VS_EIO, "cannot create '%s'", path);
        goto done;
    }
    snap_key(key, m->id, m->file);
    error = vs_stream_fd_writer_new(&w, fd, true);
    if (!error)
        error = vs_s3_get(r->s3, key, w, xfer_cb, x);
    if (!error)
        error = vs_stream_finish(w);
    if (error == VS_ENOTFOUND)
        error = vs_error_set(VS_ECORRUPT, "remote snapshot %s: its data "
                             "object '%s' is missing", m->id, m->file);
    if (error < 0)
        goto done;
    json_t *j = vs_snapshot_to_json(m);
    text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    vs_snapshot_sha256_line(line, sizeof(line), m);
    if (!text)
        error = vs_error_oom();
    if (!error)
        error = write_text(work, SUMS, line);
    if (!error)
        error = write_text(work, MANIFEST, text);
    if (!error)
        error = vs_catalog_adopt(NULL, cat, work, full_check, xfer_hold, x);
    if (error == VS_EEXISTS) { /* fetched by someone else meanwhile */
        vs_error_clear();
        error = 0;
    }
    if (!error)
        vs_log(VS_LOG_INFO, "remote: snapshot %s fetched from %s (%" PRIu64
               " bytes)", m->id, r->where, m->bytes);
done:
    vs_stream_free(w);
    if (fd >= 0)
        close(fd);
    free(text);
    free(path);
    vs_remote__remove_workdir(work); /* empty after a successful adopt */
    return error;
}

int vs_remote_fetch(vs_snapshot *out, vs_remote *r, vs_catalog *cat,
                    const char *id, bool full_check, vs_progress_fn progress,
                    void *payload)
{
    xfer x = {progress, payload, 0, 0, 0};
    chain c = {NULL, 0, 0};
    vs_snapshot local;
    snap_id cur;
    int error = vs_snapshot_check_id(id);
    if (out)
        memset(out, 0, sizeof(*out));
    snprintf(cur, sizeof(cur), "%s", id);
    /* Walk from `id` towards its base until a snapshot is local. */
    while (!error) {
        error = vs_catalog_get(&local, cat, cur);
        if (!error) {
            error = check_local(cat, &local, full_check, &x);
            vs_snapshot_dispose(&local);
            break;
        }
        if (error != VS_ENOTFOUND)
            break;
        vs_error_clear();
        vs_snapshot *m = chain_slot(&c, id);
        if (!m) {
            error = vs_error_last_code();
            break;
        }
        error = vs_remote_get(m, r, cur);
        if (error == VS_ENOTFOUND && c.n > 0)
            error = vs_error_set(VS_ENOTFOUND, "remote snapshot %s: its "
                                 "parent %s is neither local nor remote",
                                 c.v[c.n - 1].id, cur);
        if (error < 0)
            break;
        c.n++;
        x.total += m->bytes;
        if (!m->parent[0])
            break;
        memcpy(cur, m->parent, sizeof(cur));
    }
    /* oldest first: a snapshot joins the catalog after its parents */
    for (size_t i = c.n; !error && i-- > 0;) {
        error = fetch_one(r, cat, &c.v[i], full_check, &x);
        x.base += c.v[i].bytes;
    }
    if (!error && out)
        error = vs_catalog_get(out, cat, id);
    chain_dispose(&c);
    return error;
}

/* ---- delete ------------------------------------------------------------- */

static bool in_ids(const snap_id *ids, size_t n, const char *id)
{
    for (size_t i = 0; *id && i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

static int cmp_desc(const void *a, const void *b)
{
    return -strcmp(a, b);
}

/* Every object under snapshots/<id>/, the manifest first.  *any: there
 * was something to delete. */
static int delete_objects(vs_remote *r, const char *id, bool *any)
{
    char key[KEY_MAX + 1], sub[KEY_MAX + 1];
    vs_s3_object *objs = NULL;
    size_t n = 0;
    snap_key(key, id, MANIFEST);
    int error = manifest_exists(any, r, id);
    if (!error && *any)
        error = vs_s3_delete(r->s3, key);
    snprintf(sub, sizeof(sub), SNAP_DIR "%s/", id);
    if (!error)
        error = vs_s3_list(&objs, &n, r->s3, sub);
    for (size_t i = 0; !error && i < n; i++) {
        error = vs_s3_delete(r->s3, objs[i].key);
        if (error == VS_ENOTFOUND) {
            vs_error_clear();
            error = 0;
        }
        *any = true;
    }
    vs_s3_objects_free(objs, n);
    return error;
}

int vs_remote_delete_ids(snap_id **deleted, size_t *ndeleted, vs_remote *r,
                         const char *id, bool cascade)
{
    vs_snapshot *all = NULL;
    size_t n = 0, nd = 1;
    snap_id *d = NULL;
    if (deleted) {
        *deleted = NULL;
        *ndeleted = 0;
    }
    int error = vs_snapshot_check_id(id);
    if (!error)
        error = vs_remote_list(&all, &n, r);
    if (!error && !(d = calloc(n + 1, sizeof(*d))))
        error = vs_error_oom();
    if (error < 0)
        goto done;
    memcpy(d[0], id, sizeof(d[0]));
    /* the snapshots that stand on it, and those that stand on them */
    for (bool grew = true; grew;) {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            if (in_ids(d, nd, all[i].id)
                || !(in_ids(d, nd, all[i].parent)
                     || in_ids(d, nd, all[i].base)))
                continue;
            if (!cascade) {
                error = vs_error_set(VS_EBUSY, "remote snapshot %s is the "
                                     "parent or base of %s; delete that "
                                     "first, or with cascade", id, all[i].id);
                goto done;
            }
            memcpy(d[nd++], all[i].id, sizeof(d[0]));
            grew = true;
        }
    }
    qsort(d, nd, sizeof(d[0]), cmp_desc); /* newest first */
    for (size_t i = 0; !error && i < nd; i++) {
        bool any = false;
        error = delete_objects(r, d[i], &any);
        if (!error && !any && nd == 1)
            error = vs_error_set(VS_ENOTFOUND, "no remote snapshot '%s' in "
                                 "%s", id, r->where);
        if (!error)
            vs_log(VS_LOG_INFO, "remote: snapshot %s deleted from %s", d[i],
                   r->where);
    }
    if (!error && deleted) {
        *deleted = d;
        *ndeleted = nd;
        d = NULL;
    }
done:
    vs_snapshot_list_free(all, n);
    free(d);
    return error;
}


int vs_remote_delete(vs_remote *r, const char *id, bool cascade)
{
    return vs_remote_delete_ids(NULL, NULL, r, id, cascade);
}
