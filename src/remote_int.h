/*
 * remote_int: private to remote (remote.c: snapshots; remote_wal.c: log
 * segments); nothing else includes it.  It holds the client itself and
 * the work-directory helpers both halves use.
 */
#ifndef VS_REMOTE_INT_H
#define VS_REMOTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "crypt.h"
#include "remote.h"
#include "s3.h"

#define KEY_MAX 1024 /* an object key below the prefix, bytes */

struct vs_remote {
    vs_s3 *s3;
    bool has_key;
    uint8_t key[VS_CRYPT_KEY_LEN];
    char *where;
};

/* "a/b", malloc'd (NULL and VS_ENOMEM set when out of memory). */
char *vs_remote__join(const char *a, const char *b);

/* A fresh directory "<parent>/<tag>-XXXXXX" (malloc'd path). */
int vs_remote__make_workdir(char **out, const char *parent, const char *tag);

/* Remove a work directory and the files in it (NULL is a no-op); frees
 * `dir`. */
void vs_remote__remove_workdir(char *dir);

#endif
