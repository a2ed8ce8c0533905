/*
 * snapshot_chain: chains of incremental snapshots.  This file owns what
 * follows from an incremental snapshot naming its parent: resolving and
 * checking a chain link by link, loading one (the base, then every link's
 * changes applied in order), the links a commit records, which snapshots
 * depend on which, and compaction of a chain into one full snapshot.  The
 * catalog's directories stay snapshot.c's; what one snapshot directory
 * holds stays manifest.c's.
 *
 * A chain is checked whole before anything is built: every manifest, every
 * parent present, seq ranges contiguous (a link's seq_from is its parent's
 * seq), the base recorded in every link the root's id, every link's data
 * size and SHA-256, the base's size.  Only then is the base loaded (its
 * SHA-256 checked as it streams, before any link applies: hashing it apart
 * would read the largest file twice) and each link applied to a private
 * store, which is handed over when the last link has applied (each
 * application also checks every collection's record count against the
 * link's): a broken chain builds nothing and its error names the bad link.

 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"
#include "snapshot.h"

void vs_snapshot_list_free(vs_snapshot *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        vs_snapshot_dispose(&list[i]);
    free(list);
}

/* Index of `id` in list[0..n) (ascending ids), or n. */
static size_t find_id(const vs_snapshot *list, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(list[mid].id, id);
        if (r == 0)
            return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

size_t vs_snapshot_dependents(bool *dep, const vs_snapshot *list, size_t n,
                              const char *id)
{
    size_t count = 0;
    /* A parent is older than its child: one pass in id order sees every
     * parent's verdict before its children. */
    for (size_t i = 0; i < n; i++) {
        const vs_snapshot *s = &list[i];
        dep[i] = false;
        if (!vs_snapshot_is_incremental(s))
            continue;
        size_t p = find_id(list, i, s->parent);
        dep[i] = strcmp(s->parent, id) == 0 || strcmp(s->base, id) == 0 ||
                 (p < i && dep[p]);
        count += dep[i];
    }
    return count;
}

int vs_catalog_dependents(vs_snapshot **out, size_t *n, vs_catalog *cat,
                          const char *id)
{
    *out = NULL;
    *n = 0;
    vs_snapshot *list = NULL;
    size_t count = 0, k = 0;
    bool *dep = NULL;
    int error = vs_snapshot_check_id(id);
    if (error == 0)
        error = vs_catalog_list(&list, &count, cat);
    if (error == 0 && !(dep = calloc(count ? count : 1, sizeof(*dep))))
        error = vs_error_oom();
    if (error < 0)
        goto done;
    vs_snapshot_dependents(dep, list, count, id);
    for (size_t i = 0; i < count; i++) {
        if (!dep[i]) {
            vs_snapshot_dispose(&list[i]);
            continue;
        }
        list[k++] = list[i];
    }
    *out = list;
    *n = k;
    list = NULL;
    count = 0;
done:
    free(dep);
    vs_snapshot_list_free(list, count);
    return error;
}

/* ---- resolving and checking ---- */

/* `child` (incremental) against its parent's manifest. */
static int check_link(const vs_snapshot *child, const vs_snapshot *parent)
{
    const char *base =
        vs_snapshot_is_incremental(parent) ? parent->base : parent->id;
    if (child->seq_from != parent->seq)
        return vs_error_set(VS_ECORRUPT,
                            "snapshot %s: its changes start at seq %" PRIu64
                            ", its parent %s is at seq %" PRIu64
                            " (a gap in the chain)",
                            child->id, child->seq_from, parent->id,
                            parent->seq);
    if (strcmp(child->base, base) != 0)
        return vs_error_set(VS_ECORRUPT,
                            "snapshot %s: its base is %s, its parent %s "
                            "descends from %s",
                            child->id, child->base, parent->id, base);
    return 0;
}

/* The data file of `s` against its manifest: size, and with `sha` its
 * SHA-256. */
static int check_data(vs_catalog *cat, const vs_snapshot *s, bool hash)
{
    char *path = NULL;
    uint8_t sha[VS_SHA256_LEN];
    uint64_t size = 0;
    struct stat sb;
    int error = vs_catalog_data_path(&path, cat, s);
    if (error == 0 && stat(path, &sb) < 0)
        error = vs_error_set(VS_ECORRUPT, "snapshot %s: data file '%s' is "
                                          "missing",
                             s->id, s->file);
    if (error == 0 && (uint64_t)sb.st_size != s->bytes)
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: '%s' is %llu bytes, the manifest "
                             "says %" PRIu64,
                             s->id, s->file, (unsigned long long)sb.st_size,
                             s->bytes);
    if (error == 0 && hash)
        error = vs_sha256_file(sha, &size, path);
    if (error == 0 && hash && !vs_sha256_equal(sha, s->sha256))
        error = vs_error_set(VS_ECORRUPT,
                             "snapshot %s: the sha256 of '%s' is not the "
                             "manifest's",
                             s->id, s->file);
    free(path);
    return error;
}

static int check_data_file(vs_catalog *cat, const vs_snapshot *s)
{
    return check_data(cat, s, true);
}

static int check_data_size(vs_catalog *cat, const vs_snapshot *s)
{
    return check_data(cat, s, false);
}

/* Read the manifest of `id`, a parent named by `child` (NULL: the tip). */

static int read_link(vs_snapshot *out, vs_catalog *cat, const char *id,
                     const vs_snapshot *child)
{
    int error = vs_catalog_get(out, cat, id);
    if (error == 0 || !child || error == VS_ENOMEM)
        return error;
    char msg[400];
    snprintf(msg, sizeof(msg), "%s", vs_error_last());
    return vs_error_set(VS_ECORRUPT, "snapshot %s: its parent %s: %s",
                        child->id, id,
                        error == VS_ENOTFOUND ? "is missing" : msg);
}

int vs_catalog_chain(vs_snapshot **out, size_t *n, vs_catalog *cat,
                     const char *id, bool check_data)
{
    *out = NULL;
    *n = 0;
    vs_snapshot *links = NULL;
    size_t count = 0;
    char next[VS_SNAPSHOT_ID_LEN + 1];
    int error = vs_snapshot_check_id(id);
    if (error < 0)
        return error;
    snprintf(next, sizeof(next), "%s", id);
    for (;;) {
        if (count == VS_CHAIN_MAX) {
            error = vs_error_set(VS_ECORRUPT,
                                 "the chain of snapshot %s has more than %d "
                                 "links",
                                 id, VS_CHAIN_MAX);
            break;
        }
        vs_snapshot *grown = realloc(links, (count + 1) * sizeof(*links));
        if (!grown) {
            error = vs_error_oom();
            break;
        }
        links = grown;
        const vs_snapshot *child = count ? &links[count - 1] : NULL;
        error = read_link(&links[count], cat, next, child);
        if (error < 0)
            break;
        count++;
        if (child)
            error = check_link(child, &links[count - 1]);
        if (error < 0 || !vs_snapshot_is_incremental(&links[count - 1]))
            break;
        snprintf(next, sizeof(next), "%s", links[count - 1].parent);
    }
    for (size_t i = 0; i < count / 2; i++) { /* base first */
        vs_snapshot t = links[i];
        links[i] = links[count - 1 - i];
        links[count - 1 - i] = t;
    }
    for (size_t i = 0; error == 0 && check_data && i < count; i++)
        error = check_data_file(cat, &links[i]);
    if (error < 0 && count > 1 && error != VS_ENOMEM) {
        char msg[480];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        error = vs_error_set(error, "chain of snapshot %s: %s", id, msg);
    }
    if (error < 0) {
        vs_snapshot_list_free(links, count);
        return error;
    }
    *out = links;
    *n = count;
    return 0;
}

/* ---- committing a link ---- */

int vs_manifest_link(vs_snapshot *s, vs_catalog *cat, const vs_file_info *info)
{
    char cur[VS_SNAPSHOT_ID_LEN + 1];
    vs_snapshot parent;
    int error = vs_catalog_current(cur, cat);
    if (error == VS_ENOTFOUND)
        return vs_error_set(VS_EINVALID,
                            "snapshot %s: incremental changes need a "
                            "CURRENT snapshot to apply to",
                            s->id);
    if (error == 0)
        error = vs_catalog_get(&parent, cat, cur);
    if (error < 0)
        return error;
    if (parent.seq != info->since_seq)
        error = vs_error_set(VS_EBUSY,
                             "snapshot %s: its changes are since seq %" PRIu64
                             ", CURRENT (%s) is at seq %" PRIu64,
                             s->id, info->since_seq, cur, parent.seq);
    if (error == 0) {
        snprintf(s->kind, sizeof(s->kind), "incremental");
        snprintf(s->parent, sizeof(s->parent), "%s", cur);
        snprintf(s->base, sizeof(s->base), "%s",
                 vs_snapshot_is_incremental(&parent) ? parent.base : cur);
        s->seq_from = info->since_seq;
        s->changed = info->changed;
        s->deleted = info->deleted;
    }
    vs_snapshot_dispose(&parent);
    return error;
}

/* ---- loading ---- */

/* Progress over the whole chain: each document reports its own records;
 * this adds what the links before it carried. */
typedef struct chain_progress {
    vs_progress_fn fn;
    void *payload;
    uint64_t before, total;
} chain_progress;

static int chain_progress_cb(void *payload, uint64_t done, uint64_t total)
{
    chain_progress *p = payload;
    (void)total;
    return p->fn(p->payload, p->before + done, p->total);
}

/* Load (apply_to NULL) or apply link `s`. */
static int load_link(vs_store **out, vs_file_info *info, vs_catalog *cat,
                     const vs_snapshot *s, const vs_load_options *lo)
{
    char *path = NULL;
    int error = vs_catalog_data_path(&path, cat, s);
    if (error == 0)
        error = vs_manifest_load_data(out, info, s, path, lo);
    /* A file that is not what its manifest says is a broken link. */
    if (error == VS_EINVALID)
        error = vs_error_set(VS_ECORRUPT, "%s", vs_error_last());
    free(path);
    return error;
}

int vs_manifest_load_chain(vs_store **out, vs_file_info *info,
                           vs_catalog *cat, const vs_snapshot *tip,
                           vs_progress_fn progress, void *payload)
{
    *out = NULL;
    vs_file_info local;
    if (!info)
        info = &local;
    vs_snapshot *chain = NULL;
    size_t n = 0;
    vs_store *st = NULL, *none = NULL;
    /* Every link's data is checked first; the base's size too, but its
     * SHA-256 as it loads (before any link applies): hashing it apart
     * would read the largest file twice. */
    int error = vs_catalog_chain(&chain, &n, cat, tip->id, false);
    for (size_t i = n; error == 0 && i-- > 1;)
        error = check_data_file(cat, &chain[i]);
    if (error == 0)
        error = check_data_size(cat, &chain[0]);
    if (error < 0 && n > 1 && error != VS_ENOMEM) {
        char msg[480];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        error = vs_error_set(error, "chain of snapshot %s: %s", tip->id, msg);
    }
    if (error < 0) {
        vs_snapshot_list_free(chain, n);
        return error;
    }
    chain_progress cp = {progress, payload, 0, chain[0].records};
    for (size_t i = 1; i < n; i++)
        cp.total += chain[i].changed;
    vs_load_options lo = VS_LOAD_OPTIONS_INIT;
    lo.tmpdir = vs_catalog_tmpdir(cat);
    lo.key = vs_catalog_load_key(cat);
    if (progress) {
        lo.progress = chain_progress_cb;
        lo.payload = &cp;
    }
    error = load_link(&st, info, cat, &chain[0], &lo);
    cp.before = chain[0].records;
    for (size_t i = 1; error == 0 && i < n; i++) {
        lo.apply_to = st;
        error = load_link(&none, info, cat, &chain[i], &lo);
        cp.before += chain[i].changed;
    }
    if (error < 0 && n > 1 && error != VS_ENOMEM &&
        error != VS_ECANCELLED) {
        char msg[480];
        snprintf(msg, sizeof(msg), "%s", vs_error_last());
        error = vs_error_set(error, "chain of snapshot %s: %s", tip->id, msg);
    }
    vs_snapshot_list_free(chain, n);
    if (error < 0) {
        vs_store_free(st);
        return error;
    }
    *out = st;
    return 0;
}

/* ---- compaction ---- */

int vs_catalog_compact(vs_snapshot *out, vs_catalog *cat, const char *id,
                       const char *name, const vs_save_options *opts,
                       vs_progress_fn progress, void *payload)
{
    memset(out, 0, sizeof(*out));
    vs_snapshot tip;
    vs_store *st = NULL;
    vs_pending *p = NULL;
    vs_snapshot_collection *cols = NULL;
    size_t ncols = 0;
    vs_file_info info;
    int error = vs_catalog_get(&tip, cat, id);
    if (error < 0)
        return error;
    vs_save_options o = VS_SAVE_OPTIONS_INIT;
    if (opts) {
        o = *opts;
    } else {
        o.codec = tip.codec;
        o.key = vs_catalog_save_key(cat);
    }
    o.incremental = false;
    o.collections = NULL;
    o.ncollections = 0;
    if (!o.tmpdir)
        o.tmpdir = vs_catalog_tmpdir(cat);
    o.progress = progress;
    o.payload = payload;
    if (!name && tip.name[0])
        name = tip.name;
    if (!vs_snapshot_is_incremental(&tip))
        error = vs_error_set(VS_EINVALID,
                             "snapshot %s is a full snapshot: there is no "
                             "chain to compact",
                             id);
    if (error == 0)
        error = vs_catalog_load(&st, NULL, cat, id, progress, payload);
    if (error == 0)
        error = vs_catalog_begin(&p, cat, name, o.format, o.codec);
    if (error == 0)
        error = vs_fmt_save_file(&info, vs_pending_data_path(p), st, &o);
    if (error == 0)
        error = vs_snapshot_describe(&cols, &ncols, st, NULL);
    if (error == 0) {
        error = vs_catalog_commit(out, cat, p, &info, cols, ncols, "compact");
        p = NULL; /* freed by commit */
    }
    vs_catalog_abort(p);
    free(cols);
    vs_store_free(st);
    vs_snapshot_dispose(&tip);
    return error;
}
