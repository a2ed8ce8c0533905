/*
 * remote_wal: write-ahead log segments on remote storage (remote.h,
 * vs_remote_*_wal): each under "wal/<name>" below the prefix, encrypted
 * on the way up when a key is set and decrypted on the way down (a
 * segment written before the key was set comes down as it is).  Log
 * segments have no catalog: their work files go to $TMPDIR (or /tmp).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypt.h"
#include "fsutil.h"
#include "remote.h"
#include "remote_int.h"

#define WAL_DIR "wal/"
#define WAL_NAME_MAX 255

static const char *tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}


static int wal_key(char *out, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n <= WAL_NAME_MAX && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return vs_error_set(VS_EINVALID, "bad log segment name '%.64s'",
                            name ? name : "");
    snprintf(out, KEY_MAX + 1, WAL_DIR "%s", name);
    return 0;
}

int vs_remote_put_wal(vs_remote *r, const char *name, const char *path)
{
    char key[KEY_MAX + 1];
    char *work = NULL, *enc = NULL;
    int error = wal_key(key, name);
    if (error < 0 || !r->has_key)
        return error < 0 ? error
                         : vs_s3_put_file(r->s3, key, path, NULL, NULL, NULL);
    error = vs_remote__make_workdir(&work, tmp_root(), "vecsnap-wal");
    if (!error && !(enc = vs_remote__join(work, name)))
        error = VS_ENOMEM;
    if (!error)
        error = vs_crypt_encrypt_file(enc, path, r->key);
    if (!error)
        error = vs_s3_put_file(r->s3, key, enc, NULL, NULL, NULL);
    free(enc);
    vs_remote__remove_workdir(work);
    return error;
}

int vs_remote_get_wal(vs_remote *r, const char *name, const char *dst)
{
    char key[KEY_MAX + 1];
    uint8_t head[VS_CRYPT_HEADER_LEN];
    vs_atomic *af = NULL;
    vs_stream *w = NULL;
    int error = wal_key(key, name);
    if (!error)
        error = vs_atomic_open(&af, dst);
    if (!error)
        error = vs_stream_fd_writer_new(&w, vs_atomic_fd(af), false);
    if (!error)
        error = vs_s3_get(r->s3, key, w, NULL, NULL);
    if (!error)
        error = vs_stream_finish(w);
    vs_stream_free(w);
    if (error < 0) {
        vs_atomic_abort(af);
        return error;
    }
    ssize_t got = pread(vs_atomic_fd(af), head, sizeof(head), 0);
    if (got < 0) {
        vs_atomic_abort(af);
        return vs_error_set_os(VS_EIO, "cannot read '%s'",
                               vs_atomic_tmp_path(af));
    }
    if (!vs_crypt_detect(head, (size_t)got))
        return vs_atomic_commit(af);
    if (!r->has_key)
        error = vs_error_set(VS_EKEY, "log segment %s is encrypted and no "
                             "key is set", name);
    else
        error = vs_crypt_decrypt_file(dst, vs_atomic_tmp_path(af), r->key);
    vs_atomic_abort(af);
    return error;
}

int vs_remote_list_wal(char ***names, size_t *n, vs_remote *r)
{
    vs_s3_object *objs = NULL;
    size_t nobj = 0, count = 0;
    char **v = NULL;
    *names = NULL;
    *n = 0;
    int error = vs_s3_list(&objs, &nobj, r->s3, WAL_DIR);
    if (!error && nobj && !(v = calloc(nobj, sizeof(*v))))
        error = vs_error_oom();
    for (size_t i = 0; !error && i < nobj; i++) {
        const char *k = objs[i].key + sizeof(WAL_DIR) - 1;
        char key[KEY_MAX + 1];
        if (strncmp(objs[i].key, WAL_DIR, sizeof(WAL_DIR) - 1) != 0
            || wal_key(key, k) < 0) {
            vs_error_clear(); /* not one of ours */
            continue;
        }
        if (!(v[count] = strdup(k)))
            error = vs_error_oom();
        else
            count++;
    }
    vs_s3_objects_free(objs, nobj);
    if (error < 0) {
        for (size_t i = 0; i < count; i++)
            free(v[i]);
        free(v);
        return error;
    }
    *names = v;
    *n = count;
    return 0;
}

/* The first seq a segment's name gives, or 0 for another name. */
static uint64_t segment_seq(const char *name)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    return strcmp(name + i, ".wal") == 0 ? v : 0;
}

int vs_remote_fetch_wal(size_t *fetched, vs_remote *r, const char *dir,
                        uint64_t after)
{
    char **names = NULL;
    size_t n = 0, got = 0, first = SIZE_MAX;
    if (fetched)
        *fetched = 0;
    int error = vs_remote_list_wal(&names, &n, r);
    /* sorted by name = by first seq: start at the last segment that
     * begins at or before record after + 1 (or at the first one) */
    for (size_t i = 0; !error && i < n; i++) {
        uint64_t s = segment_seq(names[i]);
        if (s == 0)
            continue;
        if (first == SIZE_MAX || s <= after + 1)
            first = i;
    }
    for (size_t i = first; !error && first != SIZE_MAX && i < n; i++) {
        if (segment_seq(names[i]) == 0)
            continue;
        char *dst = vs_remote__join(dir, names[i]);
        error = dst ? vs_remote_get_wal(r, names[i], dst) : VS_ENOMEM;
        free(dst);
        if (!error)
            got++;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (fetched)
        *fetched = got;
    return error;
}
