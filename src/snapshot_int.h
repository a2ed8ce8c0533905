/*
 * snapshot_int: what the catalog's files (snapshot.c, snapshot_current.c,
 * snapshot_adopt.c) share and nothing else includes: the catalog's state
 * and three path helpers.
 */
#ifndef VS_SNAPSHOT_INT_H
#define VS_SNAPSHOT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot.h"

#define MANIFEST_FILE "manifest.json"

struct vs_catalog {
    char *datadir;
    char *snapdir; /* DATA/snapshots */
    char *tmpdir;  /* DATA/tmp */
    char *current; /* DATA/CURRENT */
    int lock_fd;
    pthread_mutex_t mu;
    int64_t last_ms; /* time of the newest id reserved here */
    bool has_key, encrypt_local;
    uint8_t key[32]; /* AES-256 key for encrypted snapshots */
};

/* malloc'd "a/b"; NULL (with the message set) when out of memory. */
char *vs_catalog__join(const char *a, const char *b);
bool vs_catalog__exists(const char *path);
/* rename without replacing an existing target (errno EEXIST). */
int vs_catalog__rename_noreplace(const char *from, const char *to);

#endif
