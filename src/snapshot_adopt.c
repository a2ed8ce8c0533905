/*
 * snapshot_adopt: taking a finished snapshot directory (one fetched from
 * remote storage) into the catalog under its own id, after checking it
 * against its manifest, by one rename.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "manifest.h"
#include "snapshot_int.h"

/* ---- adopting a finished snapshot directory ---- */

/* The id a manifest.json in `dir` claims (checked), into out. */
static int manifest_id(char out[VS_SNAPSHOT_ID_LEN + 1], const char *dir)
{
    char *path = vs_catalog__join(dir, MANIFEST_FILE);
    if (!path)
        return VS_ENOMEM;
    json_error_t jerr;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int error = 0;
    const char *id = j ? json_string_value(json_object_get(j, "id")) : NULL;
    if (!j)
        error = vs_error_set(VS_ECORRUPT, "manifest '%s': %s", path,
                             jerr.text);
    else if (!id || vs_snapshot_check_id(id) < 0)
        error = vs_error_set(VS_ECORRUPT, "manifest '%s': bad or no id",
                             path);
    else
        memcpy(out, id, VS_SNAPSHOT_ID_LEN + 1);
    json_decref(j);
    free(path);
    return error;
}

static int check_adopted(vs_snapshot *s, vs_catalog *cat, const char *srcdir,
                         bool full_check, vs_progress_fn progress,
                         void *payload)
{
    char *path = vs_catalog__join(srcdir, s->file);
    if (!path)
        return VS_ENOMEM;
    int error = 0;
    if (full_check && strcmp(s->kind, "full") == 0) {
        vs_load_options lo = VS_LOAD_OPTIONS_INIT;
        lo.tmpdir = cat->tmpdir;
        lo.progress = progress;
        lo.payload = payload;
        lo.key = vs_catalog_load_key(cat);
        vs_store *st = NULL;
        error = vs_manifest_load_data(&st, NULL, s, path, &lo);
        vs_store_free(st);
    } else {
        uint8_t sha[VS_SHA256_LEN];
        uint64_t size = 0;
        error = vs_sha256_file(sha, &size, path);
        if (error == 0 && size != s->bytes)
            error = vs_error_set(VS_ECORRUPT,
                                 "snapshot %s: data file has %" PRIu64
                                 " bytes, the manifest says %" PRIu64,
                                 s->id, size, s->bytes);
        else if (error == 0 && memcmp(sha, s->sha256, sizeof(sha)) != 0)
            error = vs_error_set(VS_ECORRUPT,
                                 "snapshot %s: data file does not match "
                                 "the manifest's sha256",
                                 s->id);
    }
    free(path);
    return error;
}

int vs_catalog_adopt(vs_snapshot *out, vs_catalog *cat, const char *srcdir,
                     bool full_check, vs_progress_fn progress, void *payload)
{
    vs_snapshot s;
    memset(&s, 0, sizeof(s));
    if (out)
        memset(out, 0, sizeof(*out));
    char id[VS_SNAPSHOT_ID_LEN + 1];
    char *final = NULL;
    int error = manifest_id(id, srcdir);
    if (error == 0)
        error = vs_manifest_read(&s, srcdir, id);
    if (error == VS_ENOTFOUND)
        error = vs_error_set(VS_ECORRUPT, "'%s' holds no manifest", srcdir);
    if (error == 0)
        error = check_adopted(&s, cat, srcdir, full_check, progress, payload);
    if (error < 0)
        goto done;
    final = vs_catalog__join(cat->snapdir, id);
    if (!final) {
        error = VS_ENOMEM;
        goto done;
    }
    pthread_mutex_lock(&cat->mu);
    if (vs_catalog__rename_noreplace(srcdir, final) < 0)
        error = errno == EEXIST || errno == ENOTEMPTY
                    ? vs_error_set(VS_EEXISTS, "snapshot %s already exists",
                                   id)
                    : vs_error_set_os(VS_EIO, "failed to publish snapshot %s",
                                      id);
    else
        error = vs_fs_fsync_dir(cat->snapdir);
    pthread_mutex_unlock(&cat->mu);
done:
    free(final);
    if (error < 0 || !out)
        vs_snapshot_dispose(&s);
    else
        *out = s;
    return error;
}
