/*
 * snapshot: the catalog of snapshots in a data directory (layout and
 * guarantees in snapshot.h).  This file owns every change to DATA/snapshots,
 * DATA/tmp and DATA/CURRENT: ids are reserved here, snapshots are published
 * here by one directory rename, removed here by one rename out of sight, and
 * leftovers of a crash are cleaned here at open.  What goes inside one
 * snapshot directory (manifest.json, SHA256SUMS, the data file's checks, an
 * upload's reception) and the id/name/time rules live in manifest*.c;
 * CURRENT and the key in snapshot_current.c; adopting a fetched snapshot
 * directory in snapshot_adopt.c;
 * chains of incremental snapshots (resolving, loading, the link a commit
 * records, dependents, compaction) in snapshot_chain.c.  A deletion checks
 * that nothing depends on the snapshot under the mutex, in the same step
 * as its rename, so no link is published meanwhile on a parent going away.
 *
 * Ids strictly increase within a catalog: a snapshot begun in the same
 * millisecond as the previous one takes the next millisecond, so list order
 * (by id) is creation order.
 *
 * A data directory is used by one catalog at a time: vs_catalog_open takes
 * an exclusive flock on DATA/LOCK (VS_EBUSY otherwise), because cleaning
 * DATA/tmp under another process' feet would destroy its work.
 * vs_catalog_open_readonly takes no lock and changes nothing, for tools
 * that only read (inspect, verify) beside a running server.

 *
 * Threads: the catalog's mutex covers id reservation, publication, removal,
 * listing, manifest reads and CURRENT.  Loading and verifying read the data
 * file outside the mutex; a snapshot deleted meanwhile makes them fail
 * (VS_ENOTFOUND or VS_EIO), never return wrong data.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "snapshot_int.h"

#define RM_DEPTH_MAX 32


struct vs_pending {
    vs_catalog *cat;
    char id[VS_SNAPSHOT_ID_LEN + 1];
    char name[VS_SNAPSHOT_NAME_MAX + 1];
    int64_t created_ms;
    vs_format_id format; /* AUTO until an import has detected it */
    vs_codec_id codec;
    char file[64];
    char *dir;       /* DATA/tmp/<id> */
    char *data_path; /* dir/file */
};

/* ---- small helpers ---- */

char *vs_catalog__join(const char *a, const char *b)
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_tree_at(int at, const char *name, const char *shown, int depth);

/* Remove everything inside the directory open on `fd` (taken over). */
static int empty_dir_fd(int fd, const char *shown, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int error = vs_error_set_os(VS_EIO, "failed to read '%s'", shown);
        close(fd);
        return error;
    }
    int error = 0;
    struct dirent *e;
    while (error == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        error = rm_tree_at(dirfd(d), e->d_name, shown, depth);
    }
    closedir(d);
    return error;
}

/* rm -rf of `name` relative to directory `at`, never following symbolic
 * links. */
static int rm_tree_at(int at, const char *name, const char *shown, int depth)
{
    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return vs_error_set_os(VS_EIO, "failed to remove '%s' in '%s'", name,
                               shown);
    if (depth >= RM_DEPTH_MAX)
        return vs_error_set(VS_EIO, "'%s' is nested too deeply to remove",
                            shown);
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "failed to open '%s' in '%s'", name,
                               shown);
    int error = empty_dir_fd(fd, shown, depth + 1);
    if (error == 0 && unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        error = vs_error_set_os(VS_EIO, "failed to remove '%s' in '%s'", name,
                                shown);
    return error;
}

static int rm_path(const char *path)
{
    return rm_tree_at(AT_FDCWD, path, path, 0);
}

static int empty_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vs_error_set_os(VS_EIO, "failed to open '%s'", path);
    return empty_dir_fd(fd, path, 0);
}

int vs_catalog__rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EINVAL || errno == ENOSYS) {
        struct stat sb;
        if (lstat(to, &sb) == 0) {
            errno = EEXIST;
            return -1;
        }
        return rename(from, to);
    }
    return -1;
}

bool vs_catalog__exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int id_filter(const struct dirent *e)
{
    bool ok = vs_snapshot_check_id(e->d_name) == 0;
    vs_error_clear();
    return ok;
}

static int id_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The entries of DATA/snapshots shaped like ids, sorted; returns their
 * number or an error.  Free each entry and the array. */
static int scan_ids(struct dirent ***out, const vs_catalog *cat)
{
    int n = scandir(cat->snapdir, out, id_filter, id_order);
    if (n < 0)
        return vs_error_set_os(errno == ENOMEM ? VS_ENOMEM : VS_EIO,
                               "failed to read '%s'", cat->snapdir);
    return n;
}

static void free_entries(struct dirent **e, int n)
{
    for (int i = 0; i < n; i++)
        free(e[i]);
    free(e);
}

/* ---- open / free ---- */

static int lock_datadir(vs_catalog *cat)
{
    char *path = vs_catalog__join(cat->datadir, "LOCK");
    if (!path)
        return VS_ENOMEM;
    int error = 0;
    cat->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (cat->lock_fd < 0)
        error = vs_error_set_os(VS_EIO, "failed to open '%s'", path);
    else if (flock(cat->lock_fd, LOCK_EX | LOCK_NB) < 0)
        error = errno == EWOULDBLOCK
                    ? vs_error_set(VS_EBUSY,
                                   "data directory '%s' is in use by "
                                   "another catalog",
                                   cat->datadir)
                    : vs_error_set_os(VS_EIO, "failed to lock '%s'", path);
    free(path);
    return error;
}

/* Crash leftovers: snapshot directories without a manifest, temporary
 * files of an interrupted CURRENT update. */
static int clean_leftovers(vs_catalog *cat)
{
    struct dirent **ents = NULL;
    int n = scan_ids(&ents, cat), error = n < 0 ? n : 0;
    for (int i = 0; error == 0 && i < n; i++) {
        char *dir = vs_catalog__join(cat->snapdir, ents[i]->d_name);
        char *man = dir ? vs_catalog__join(dir, MANIFEST_FILE) : NULL;
        if (!man) {
            error = VS_ENOMEM;
        } else if (!vs_catalog__exists(man)) {
            vs_log(VS_LOG_WARN, "removing incomplete snapshot '%s'", dir);
            error = rm_path(dir);
        }
        free(man);
        free(dir);
    }
    free_entries(ents, n);
    DIR *d = error < 0 ? NULL : opendir(cat->datadir);
    if (error == 0 && !d)
        return vs_error_set_os(VS_EIO, "failed to read '%s'", cat->datadir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, ".CURRENT.tmp-", 13) == 0 &&
            unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
            error = vs_error_set_os(VS_EIO, "failed to remove '%s'", e->d_name);
    }
    if (d)
        closedir(d);
    return error;
}

/* vs_catalog_open, or with `readonly` vs_catalog_open_readonly. */
static int open_catalog(vs_catalog **out, const char *datadir, bool readonly)
{
    *out = NULL;
    vs_catalog *cat = calloc(1, sizeof(*cat));
    if (!cat)
        return vs_error_oom();
    cat->lock_fd = -1;
    if (pthread_mutex_init(&cat->mu, NULL) != 0) {
        free(cat);
        return vs_error_set(VS_ENOMEM, "failed to create a mutex");
    }
    int error = 0;
    cat->datadir = strdup(datadir);
    cat->snapdir = vs_catalog__join(datadir, "snapshots");
    cat->tmpdir = vs_catalog__join(datadir, "tmp");
    cat->current = vs_catalog__join(datadir, "CURRENT");
    if (!cat->datadir || !cat->snapdir || !cat->tmpdir || !cat->current) {
        error = vs_error_oom();
        goto done;
    }
    struct stat sb;
    if (readonly && (stat(cat->snapdir, &sb) < 0 || !S_ISDIR(sb.st_mode)))
        error = vs_error_set(VS_ENOTFOUND,
                             "'%s' is not a data directory (it has no "
                             "snapshots/)",
                             datadir);
    if (readonly)
        goto done;
    error = vs_fs_mkdirs(datadir);
    if (error == 0)
        error = lock_datadir(cat);
    if (error == 0)
        error = vs_fs_mkdirs(cat->snapdir);
    if (error == 0)
        error = vs_fs_mkdirs(cat->tmpdir);
    if (error == 0)
        error = empty_dir(cat->tmpdir);
    if (error == 0)
        error = clean_leftovers(cat);
done:
    if (error < 0) {
        vs_catalog_free(cat);
        return error;
    }
    *out = cat;
    return 0;
}

int vs_catalog_open(vs_catalog **out, const char *datadir)
{
    return open_catalog(out, datadir, false);
}

int vs_catalog_open_readonly(vs_catalog **out, const char *datadir)
{
    return open_catalog(out, datadir, true);
}

void vs_catalog_free(vs_catalog *cat)

{
    if (!cat)
        return;
    if (cat->lock_fd >= 0)
        close(cat->lock_fd);
    pthread_mutex_destroy(&cat->mu);
    free(cat->datadir);
    free(cat->snapdir);
    free(cat->tmpdir);
    free(cat->current);
    free(cat);
}

const char *vs_catalog_datadir(const vs_catalog *cat)
{
    return cat->datadir;
}

const char *vs_catalog_tmpdir(const vs_catalog *cat)
{
    return cat->tmpdir;
}

/* ---- reading manifests ---- */

/* Reads DATA/snapshots/<id>/manifest.json (id already checked). */
static int read_manifest(vs_snapshot *out, const vs_catalog *cat,
                         const char *id)
{
    memset(out, 0, sizeof(*out));
    char *dir = vs_catalog__join(cat->snapdir, id);
    int error = dir ? vs_manifest_read(out, dir, id) : VS_ENOMEM;
    free(dir);
    return error;
}

int vs_catalog_get(vs_snapshot *out, vs_catalog *cat, const char *id)
{
    memset(out, 0, sizeof(*out));
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    pthread_mutex_lock(&cat->mu);
    error = read_manifest(out, cat, id);
    pthread_mutex_unlock(&cat->mu);
    return error;
}

/* vs_catalog_list with the mutex held. */
static int list_locked(vs_snapshot **out, size_t *n, vs_catalog *cat)
{
    *out = NULL;
    *n = 0;
    struct dirent **ents = NULL;
    size_t count = 0;
    vs_snapshot *list = NULL;
    int nids = scan_ids(&ents, cat), error = nids < 0 ? nids : 0;
    if (error == 0) {
        list = calloc(nids ? (size_t)nids : 1, sizeof(*list));
        if (!list)
            error = vs_error_oom();
    }
    for (int i = 0; error == 0 && i < nids; i++) {
        int e = read_manifest(&list[count], cat, ents[i]->d_name);
        if (e == VS_ENOMEM) {
            error = e;
        } else if (e < 0) {
            if (e != VS_ENOTFOUND) /* no manifest: not a snapshot (yet) */
                vs_log(VS_LOG_WARN, "not listed: %s", vs_error_last());
            vs_error_clear();
        } else {
            count++;
        }
    }
    free_entries(ents, nids);
    if (error < 0) {
        vs_snapshot_list_free(list, count);
        return error;
    }
    *out = list;
    *n = count;
    return 0;
}

int vs_catalog_list(vs_snapshot **out, size_t *n, vs_catalog *cat)
{
    pthread_mutex_lock(&cat->mu);
    int error = list_locked(out, n, cat);
    pthread_mutex_unlock(&cat->mu);
    return error;
}

int vs_catalog_data_path(char **out, const vs_catalog *cat,
                         const vs_snapshot *s)
{
    *out = NULL;
    char want[sizeof(s->file)];
    int error = vs_snapshot_check_id(s->id);
    if (error == 0)
        error = vs_manifest_file_name(want, sizeof(want), s->format, s->codec);
    if (error == 0 && strcmp(want, s->file) != 0)
        error = vs_error_set(VS_EINVALID, "bad data file name '%s'", s->file);
    if (error < 0)
        return error;
    char *dir = vs_catalog__join(cat->snapdir, s->id);
    *out = dir ? vs_catalog__join(dir, s->file) : NULL;
    free(dir);
    return *out ? 0 : VS_ENOMEM;
}

/* ---- creating ---- */

static int set_file(vs_pending *p, vs_format_id format, vs_codec_id codec)
{
    int error = vs_manifest_file_name(p->file, sizeof(p->file), format, codec);
    if (error < 0)
        return error;
    free(p->data_path);
    p->data_path = vs_catalog__join(p->dir, p->file);
    if (!p->data_path)
        return VS_ENOMEM;
    p->format = format;
    p->codec = codec;
    return 0;
}

/* Reserve an id (strictly newer than the last one reserved here) and
 * create DATA/tmp/<id>/.  Called with the mutex held. */
static int reserve(vs_pending *p)
{
    vs_catalog *cat = p->cat;
    int64_t ms = now_ms();
    if (ms <= cat->last_ms)
        ms = cat->last_ms + 1;
    for (int attempt = 0; attempt < 16; attempt++) {
        uint8_t rnd[3];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return vs_error_set_os(VS_EIO, "getrandom failed");
        int error = vs_manifest_make_id(p->id, ms, rnd);
        if (error < 0)
            return error;
        free(p->dir);
        p->dir = vs_catalog__join(cat->tmpdir, p->id);
        if (!p->dir)
            return VS_ENOMEM;
        /* publish() will not replace an existing snapshot either */
        if (mkdir(p->dir, 0755) == 0) {
            cat->last_ms = ms;
            p->created_ms = ms;
            return 0;
        }
        if (errno != EEXIST)
            return vs_error_set_os(VS_EIO, "failed to create '%s'", p->dir);
    }
    return vs_error_set(VS_EIO, "could not reserve a snapshot id");
}

static void pending_free(vs_pending *p)
{
    free(p->dir);
    free(p->data_path);
    free(p);
}

/* Begin; `format` VS_FORMAT_AUTO leaves the data file unnamed (imports). */
static int begin(vs_pending **out, vs_catalog *cat, const char *name,
                 vs_format_id format, vs_codec_id codec)
{
    *out = NULL;
    if (name && vs_snapshot_check_name(name) < 0)
        return VS_EINVALID;
    vs_pending *p = calloc(1, sizeof(*p));
    if (!p)
        return vs_error_oom();
    p->cat = cat;
    p->format = VS_FORMAT_AUTO;
    p->codec = VS_CODEC_AUTO;
    if (name)
        snprintf(p->name, sizeof(p->name), "%s", name);
    pthread_mutex_lock(&cat->mu);
    int error = reserve(p);
    pthread_mutex_unlock(&cat->mu);
    if (error < 0) {
        /* the directory was not created */
        pending_free(p);
        return error;
    }
    if (format != VS_FORMAT_AUTO)
        error = set_file(p, format, codec);
    if (error < 0) {
        vs_catalog_abort(p);
        return error;
    }
    *out = p;
    return 0;
}

int vs_catalog_begin(vs_pending **out, vs_catalog *cat, const char *name,
                     vs_format_id format, vs_codec_id codec)
{
    *out = NULL;
    if (format != VS_FORMAT_BIN && format != VS_FORMAT_JSON &&
        format != VS_FORMAT_SQLITE)
        return vs_error_set(VS_EINVALID, "cannot save in format '%s'",
                            vs_format_name(format));
    if (!vs_codec_info_of(codec) || codec == VS_CODEC_AUTO)
        return vs_error_set(VS_EINVALID, "unknown compression");
    return begin(out, cat, name, format, codec);
}

const char *vs_pending_id(const vs_pending *p)
{
    return p->id;
}

const char *vs_pending_data_path(const vs_pending *p)
{
    return p->data_path;
}

void vs_catalog_abort(vs_pending *p)
{
    if (!p)
        return;
    if (rm_path(p->dir) < 0) {
        vs_log(VS_LOG_WARN, "leaving '%s' for the next start: %s", p->dir,
               vs_error_last());
        vs_error_clear();
    }
    pending_free(p);
}

/* What commit checks before writing anything (the manifest itself is
 * checked by reading it back before it is written). */
static int check_commit(const vs_catalog *cat, const vs_pending *p,
                        const vs_file_info *info, size_t ncollections,
                        const char *origin)
{
    if (cat != p->cat || !origin || !p->data_path ||
        info->format != p->format || info->codec != p->codec ||
        ncollections != info->ncollections)
        return vs_error_set(VS_EINVALID,
                            "snapshot %s: what was saved is not "
                            "what was begun",
                            p->id);
    struct stat sb;
    if (stat(p->data_path, &sb) < 0)
        return vs_error_set_os(VS_EINVALID, "snapshot %s: no data file '%s'",
                               p->id, p->data_path);
    if ((uint64_t)sb.st_size != info->bytes)
        return vs_error_set(VS_EINVALID,
                            "snapshot %s: data file is %llu "
                            "bytes, the save reported %llu",
                            p->id, (unsigned long long)sb.st_size,
                            (unsigned long long)info->bytes);
    return 0;
}

/* Rename DATA/tmp/<id> into DATA/snapshots/ and make it durable; on
 * failure it is back in DATA/tmp (for the caller to remove). */
static int publish(vs_pending *p)
{
    vs_catalog *cat = p->cat;
    char *final = vs_catalog__join(cat->snapdir, p->id);
    if (!final)
        return VS_ENOMEM;
    pthread_mutex_lock(&cat->mu);
    int error = 0;
    if (vs_catalog__rename_noreplace(p->dir, final) < 0) {
        error = vs_error_set_os(VS_EIO, "failed to publish snapshot %s", p->id);
    } else {
        error = vs_fs_fsync_dir(cat->snapdir);
        if (error == 0)
            error = vs_fs_fsync_dir(cat->tmpdir);
        if (error < 0 && rename(final, p->dir) < 0)
            vs_log(VS_LOG_ERROR,
                   "snapshot %s could not be made durable "
                   "nor withdrawn",
                   p->id);
    }
    pthread_mutex_unlock(&cat->mu);
    free(final);
    return error;
}

int vs_catalog_commit(vs_snapshot *out, vs_catalog *cat, vs_pending *p,
                      const vs_file_info *info,
                      const vs_snapshot_collection *collections,
                      size_t ncollections, const char *origin)
{
    vs_snapshot s;
    memset(&s, 0, sizeof(s));
    if (out)
        memset(out, 0, sizeof(*out));
    int error = check_commit(cat, p, info, ncollections, origin);
    if (error < 0)
        goto done;
    memcpy(s.id, p->id, sizeof(s.id));
    memcpy(s.name, p->name, sizeof(s.name));
    s.created_ms = p->created_ms;
    snprintf(s.kind, sizeof(s.kind), "full");
    s.encrypted = info->encrypted;
    if (info->incremental) {
        error = vs_manifest_link(&s, cat, info);
        if (error < 0)
            goto done;
    }
    snprintf(s.origin, sizeof(s.origin), "%s", origin);
    s.format = info->format;
    s.codec = info->codec;
    s.bytes = info->bytes;
    memcpy(s.sha256, info->sha256, sizeof(s.sha256));
    s.content_verified = info->content_verified;
    s.seq = info->seq;
    s.records = info->records;
    memcpy(s.file, p->file, sizeof(s.file));
    s.ncollections = ncollections;
    s.collections =
        calloc(ncollections ? ncollections : 1, sizeof(*s.collections));
    if (!s.collections) {
        error = vs_error_oom();
        goto done;
    }
    if (ncollections > 0)
        memcpy(s.collections, collections, ncollections * sizeof(*collections));
    error = vs_manifest_write(p->dir, &s);
    if (error == 0)
        error = publish(p);
done:
    if (error < 0) {
        vs_snapshot_dispose(&s);
        vs_catalog_abort(p);
        return error;
    }
    pending_free(p);
    if (out)
        *out = s;
    else
        vs_snapshot_dispose(&s);
    return 0;
}

int vs_catalog_create(vs_snapshot *out, vs_catalog *cat, vs_store *st,
                      const char *name, const vs_save_options *opts)
{
    if (out)
        memset(out, 0, sizeof(*out));
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    if (opts)
        o = *opts;
    if (!o.tmpdir)
        o.tmpdir = cat->tmpdir;
    if (!o.key)
        o.key = vs_catalog_save_key(cat);
    vs_pending *p = NULL;
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    vs_file_info info;
    int error = vs_catalog_begin(&p, cat, name, o.format, o.codec);
    if (error == 0)
        error = vs_fmt_save_file(&info, p->data_path, st, &o);
    if (error == 0)
        error = vs_snapshot_describe(&cols, &ncols, st, &o);
    if (error == 0) {
        error = vs_catalog_commit(out, cat, p, &info, cols, ncols, "save");
        p = NULL; /* freed by commit */
    }
    vs_catalog_abort(p);
    free(cols);
    return error;
}

/* ---- importing ---- */

int vs_catalog_import(vs_snapshot *out, vs_catalog *cat, vs_stream *in,
                      const char *name, const char *name_hint,
                      uint64_t max_bytes)
{
    if (out)
        memset(out, 0, sizeof(*out));
    vs_pending *p = NULL;
    vs_store *st = NULL;
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    vs_file_info info;
    int error = begin(&p, cat, name, VS_FORMAT_AUTO, VS_CODEC_AUTO);
    if (error < 0)
        return error;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.name_hint = name_hint;
    lo.max_bytes = max_bytes;
    lo.tmpdir = cat->tmpdir;
    error = vs_manifest_receive(&st, &info, p->dir, in, &lo);
    if (error == 0)
        error = set_file(p, info.format, info.codec);
    if (error == 0)
        error = vs_snapshot_describe(&cols, &ncols, st, NULL);
    if (error == 0) {
        error = vs_catalog_commit(out, cat, p, &info, cols, ncols, "upload");
        p = NULL;
    }
    vs_catalog_abort(p);
    vs_store_free(st);
    free(cols);
    return error;
}

/* ---- removing ---- */

/* VS_EBUSY naming the snapshots that depend on `id`, if any (mutex held:
 * none can be published meanwhile). */
static int check_no_dependents(vs_catalog *cat, const char *id)
{
    vs_snapshot *list = NULL;
    size_t n = 0, ndep = 0;
    bool *dep = NULL;
    int error = list_locked(&list, &n, cat);
    if (error == 0 && !(dep = calloc(n ? n : 1, sizeof(*dep))))
        error = vs_error_oom();
    if (error == 0)
        ndep = vs_snapshot_dependents(dep, list, n, id);
    if (error == 0 && ndep > 0) {
        char names[4 * (VS_SNAPSHOT_ID_LEN + 2) + 8] = "";
        size_t len = 0, shown = 0;
        for (size_t i = n; i-- > 0 && shown < 4;) {
            if (!dep[i])
                continue;
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
                                    shown ? ", " : "", list[i].id);
            shown++;
        }
        error = vs_error_set(VS_EBUSY,
                             "snapshot %s is the parent or base of %zu "
                             "other snapshot%s (%s%s): delete %s first",
                             id, ndep, ndep == 1 ? "" : "s", names,
                             ndep > shown ? ", ..." : "",
                             ndep == 1 ? "it" : "them");
    }
    free(dep);
    vs_snapshot_list_free(list, n);
    return error;
}

int vs_catalog_delete(vs_catalog *cat, const char *id)
{
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    char gone_name[VS_SNAPSHOT_ID_LEN + 16];
    snprintf(gone_name, sizeof(gone_name), "deleting-%s", id);
    char *path = vs_catalog__join(cat->snapdir, id);
    char *gone = vs_catalog__join(cat->tmpdir, gone_name);
    if (!path || !gone) {
        error = VS_ENOMEM;
        goto done;
    }
    pthread_mutex_lock(&cat->mu);
    error = check_no_dependents(cat, id);
    if (error == 0 && rename(path, gone) < 0)
        error =
            errno == ENOENT
                ? vs_error_set(VS_ENOTFOUND, "no snapshot '%s'", id)
                : vs_error_set_os(VS_EIO, "failed to remove snapshot %s", id);
    else if (error == 0)
        error = vs_fs_fsync_dir(cat->snapdir);
    pthread_mutex_unlock(&cat->mu);
    if (error == 0 && rm_path(gone) < 0) {
        /* Out of sight already; the next open finishes the job. */
        vs_log(VS_LOG_WARN, "snapshot %s: %s", id, vs_error_last());
        vs_error_clear();
    }
done:
    free(path);
    free(gone);
    return error;
}

/* ---- verifying and loading ---- */

static int load_checked(vs_store **out, vs_file_info *info, vs_catalog *cat,
                        const char *id, vs_progress_fn progress, void *payload)
{
    *out = NULL;
    vs_snapshot s;
    int error = vs_catalog_get(&s, cat, id);
    if (error < 0)
        return error;
    if (vs_snapshot_is_incremental(&s)) {
        error = vs_manifest_load_chain(out, info, cat, &s, progress, payload);
        vs_snapshot_dispose(&s);
        return error;
    }
    char *dir = vs_catalog__join(cat->snapdir, id);
    char *path = dir ? vs_catalog__join(dir, s.file) : NULL;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.tmpdir = cat->tmpdir;
    lo.progress = progress;
    lo.payload = payload;
    lo.key = vs_catalog_load_key(cat);
    error = path ? vs_manifest_load_data(out, info, &s, path, &lo) : VS_ENOMEM;
    if (error < 0 && error != VS_ENOMEM && dir && !vs_catalog__exists(dir))
        error = vs_error_set(VS_ENOTFOUND, "snapshot %s was deleted", id);
    free(path);
    free(dir);
    vs_snapshot_dispose(&s);
    return error;
}

int vs_catalog_verify(vs_file_info *info, vs_catalog *cat, const char *id)
{
    vs_store *st = NULL;
    int error = load_checked(&st, info, cat, id, NULL, NULL);
    vs_store_free(st);
    return error;
}

int vs_catalog_load(vs_store **out, vs_file_info *info, vs_catalog *cat,
                    const char *id, vs_progress_fn progress, void *payload)
{
    return load_checked(out, info, cat, id, progress, payload);
}
