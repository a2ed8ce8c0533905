/*
 * snapshot_current: DATA/CURRENT (which snapshot the live state was last
 * saved to or restored from, and at which seq; replaced atomically under
 * the catalog's mutex) and the catalog's encryption key.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "manifest.h"
#include "snapshot_int.h"

/* ---- CURRENT ---- */

int vs_catalog_set_current_at(vs_catalog *cat, const char *id, uint64_t seq)
{
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    char line[VS_SNAPSHOT_ID_LEN + 32];
    if (seq)
        snprintf(line, sizeof(line), "%s %" PRIu64 "\n", id, seq);
    else
        snprintf(line, sizeof(line), "%s\n", id);
    char *dir = vs_catalog__join(cat->snapdir, id);
    char *man = dir ? vs_catalog__join(dir, MANIFEST_FILE) : NULL;
    if (!man) {
        free(dir);
        return VS_ENOMEM;
    }
    pthread_mutex_lock(&cat->mu);
    if (!vs_catalog__exists(man))
        error = vs_error_set(VS_ENOTFOUND, "no snapshot '%s'", id);
    else
        error = vs_fs_write_atomic(cat->current, line, strlen(line));
    pthread_mutex_unlock(&cat->mu);
    free(man);
    free(dir);
    return error;
}

int vs_catalog_set_current(vs_catalog *cat, const char *id)
{
    return vs_catalog_set_current_at(cat, id, 0);
}

/* "<id>" or "<id> <seq>" (a trailing newline already removed). */
static int parse_current(char out[VS_SNAPSHOT_ID_LEN + 1], uint64_t *seq,
                         char *text, const char *path)
{
    char *sp = strchr(text, ' ');
    *seq = 0;
    if (sp) {
        *sp = '\0';
        char *end;
        errno = 0;
        unsigned long long n = strtoull(sp + 1, &end, 10);
        if (sp[1] < '0' || sp[1] > '9' || errno || *end || n == 0)
            return vs_error_set(VS_ECORRUPT,
                                "'%s' has a bad sequence number", path);
        *seq = n;
    }
    if (vs_snapshot_check_id(text) < 0)
        return vs_error_set(VS_ECORRUPT, "'%s' is not a snapshot id", path);
    memcpy(out, text, VS_SNAPSHOT_ID_LEN + 1);
    return 0;
}

int vs_catalog_current_at(char out[VS_SNAPSHOT_ID_LEN + 1], uint64_t *seq,
                          vs_catalog *cat)
{
    out[0] = '\0';
    *seq = 0;
    char *text = NULL;
    size_t len = 0;
    pthread_mutex_lock(&cat->mu);
    int error = vs_fs_read_all(&text, &len, cat->current, 256);
    pthread_mutex_unlock(&cat->mu);
    if (error == VS_ENOTFOUND)
        return vs_error_set(VS_ENOTFOUND, "no current snapshot");
    if (error == VS_ETOOBIG)
        return vs_error_set(VS_ECORRUPT, "'%s' is not a snapshot id",
                            cat->current);
    if (error < 0)
        return error;
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    error = parse_current(out, seq, text, cat->current);
    if (error < 0)
        out[0] = '\0';
    free(text);
    return error;
}

int vs_catalog_current(char out[VS_SNAPSHOT_ID_LEN + 1], vs_catalog *cat)
{
    uint64_t seq;
    return vs_catalog_current_at(out, &seq, cat);
}

/* ---- keys ---- */

void vs_catalog_set_key(vs_catalog *cat, const uint8_t *key,
                        bool encrypt_local)
{
    cat->has_key = key ? true : false;
    cat->encrypt_local = key && encrypt_local;
    if (key)
        memcpy(cat->key, key, sizeof(cat->key));
    else
        memset(cat->key, 0, sizeof(cat->key));
}

const uint8_t *vs_catalog_load_key(const vs_catalog *cat)
{
    return cat->has_key ? cat->key : NULL;
}

const uint8_t *vs_catalog_save_key(const vs_catalog *cat)
{
    return cat->encrypt_local ? cat->key : NULL;
}

