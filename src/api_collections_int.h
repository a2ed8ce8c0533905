/*
 * api_collections_int: private to the collection routes (api_collections.c,
 * which holds the route table and the helpers below, and api_upsert.c, the
 * streamed batch upsert); nothing else includes it.  It holds the way every
 * write is checked against read-only mode and logged (ops.h, "Writes and
 * the log"): init, may_write under the write lock, write after applying.
 */
#ifndef VS_API_COLLECTIONS_INT_H
#define VS_API_COLLECTIONS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"

/* One write's record.  `ops` NULL: nothing to check or log (no app). */
typedef struct vs_api__wlog {
    vs_ops *ops;
    bool on;       /* the log is on: encode and log */
    vs_buf body;   /* the record, encoded before the lock */
    uint64_t seq;  /* the record queued (0: none) */
    bool refused;  /* read-only: nothing was applied */
    char why[700]; /* why, for the 503 */
} vs_api__wlog;

/* Collection {c} of the path: its name, checked. */
int vs_api__name_param(const char **out, vs_req *req);
/* VS_ENOTFOUND naming the collection. */
int vs_api__not_found(const char *name);

void vs_api__wlog_init(vs_api__wlog *l, vs_req *req);
/* Under the write lock, before applying: false when writes are refused. */
bool vs_api__wlog_may_write(vs_api__wlog *l);
/* Under the write lock, after applying a write that began at counter
 * `before`: its record goes to the log when it changed something. */
int vs_api__wlog_write(vs_api__wlog *l, vs_store *st, uint64_t before);
/* A refusal before anything is read: 503 sent, true. */
bool vs_api__read_only(vs_req *req);

/* PUT /v1/collections/{c}/vectors (api_upsert.c): `begin` checks and
 * chooses buffering or streaming, the handler answers. */
int vs_api__begin_put_vectors(vs_req *req);
int vs_api__put_vectors(vs_req *req);

#endif
