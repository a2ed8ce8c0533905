/* testutil: shared helpers for the Check programs. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *vs_test_tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + 32;
    char *dir = malloc(n);
    if (!dir)
        abort();
    snprintf(dir, n, "%s/vstest-XXXXXX", base);
    if (!mkdtemp(dir))
        abort();
    return dir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void vs_test_tmpdir_free(char *dir)
{
    if (!dir)
        return;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

size_t vs_test_dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

char *vs_test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- failing stream ---- */

typedef struct failing {
    vs_stream base;
    uint64_t limit, passed;
} failing;

static int injected(failing *f)
{
    return vs_error_set(VS_EIO, "injected failure after %llu bytes",
                        (unsigned long long)f->limit);
}

static int failing_write(vs_stream *s, const void *data, size_t n)
{
    failing *f = (failing *)s;
    if (f->passed + n > f->limit)
        return injected(f);
    f->passed += n;
    return s->inner ? vs_stream_write(s->inner, data, n) : 0;
}

static int failing_read(vs_stream *s, void *data, size_t n, size_t *got)
{
    failing *f = (failing *)s;
    int error = vs_stream_read(s->inner, data, n, got);
    if (error < 0)
        return error;
    if (f->passed + *got > f->limit)
        return injected(f);
    f->passed += *got;
    return 0;
}

static int failing_finish(vs_stream *s)
{
    (void)s;
    return 0;
}

static const vs_stream_ops failing_writer_ops = {
    .name = "failing", .write = failing_write, .finish = failing_finish};
static const vs_stream_ops failing_reader_ops = {.name = "failing",
                                                 .read = failing_read};

int vs_stream_failing_new(vs_stream **out, vs_stream *inner, bool writer,
                          uint64_t limit)
{
    failing *f = calloc(1, sizeof(*f));
    if (!f)
        return vs_error_oom();
    vs_stream__init(&f->base, writer ? &failing_writer_ops : &failing_reader_ops,
                    inner, writer);
    f->limit = limit;
    *out = &f->base;
    return 0;
}

/* ---- random data ---- */

uint64_t vs_test_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float vs_test_randf(uint64_t *state)
{
    return (float)((double)(vs_test_rand(state) >> 40) / (double)(1ull << 24) *
                       2.0 -
                   1.0);
}

vs_store *vs_test_random_store(const char *name, size_t count, uint32_t dim,
                               vs_metric metric, bool with_metadata,
                               uint64_t seed)
{
    vs_store *st;
    vs_collection *c;
    if (vs_store_new(&st) < 0 || vs_store_create(&c, st, name, dim, metric) < 0)
        abort();
    size_t batch = 1024;
    vs_record *recs = calloc(batch, sizeof(*recs));
    float *vecs = malloc(batch * dim * sizeof(float));
    char (*ids)[32] = malloc(batch * 32);
    char (*metas)[64] = malloc(batch * 64);
    if (!recs || !vecs || !ids || !metas)
        abort();
    uint64_t state = seed * 2654435761u + 1;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < batch ? count - done : batch;
        for (size_t i = 0; i < n; i++) {
            size_t k = done + i;
            for (uint32_t d = 0; d < dim; d++)
                vecs[i * dim + d] = vs_test_randf(&state);
            int il = snprintf(ids[i], 32, "id-%zu", k);
            recs[i].id = ids[i];
            recs[i].id_len = (size_t)il;
            recs[i].vector = vecs + i * dim;
            if (with_metadata) {
                int ml = snprintf(metas[i], 64, "{\"n\":%zu,\"tag\":\"t%zu\"}",
                                  k, k % 7);
                recs[i].metadata = metas[i];
                recs[i].metadata_len = (size_t)ml;
            } else {
                recs[i].metadata = NULL;
                recs[i].metadata_len = 0;
            }
        }
        if (vs_collection_upsert(c, recs, n) < 0) {
            fprintf(stderr, "upsert: %s\n", vs_error_last());
            abort();
        }
        done += n;
    }
    free(recs);
    free(vecs);
    free(ids);
    free(metas);
    return st;
}

#define WHY(...)                                                              \
    do {                                                                      \
        snprintf(why, whylen, __VA_ARGS__);                                   \
        return false;                                                         \
    } while (0)

static bool collection_equal(const vs_collection *a, const vs_collection *b,
                             char *why, size_t whylen)
{
    const char *name = vs_collection_name(a);
    if (vs_collection_dimension(a) != vs_collection_dimension(b) ||
        vs_collection_metric(a) != vs_collection_metric(b))
        WHY("collection '%s': dimension or metric differs", name);
    size_t n = vs_collection_count(a);
    if (n != vs_collection_count(b))
        WHY("collection '%s': %zu records vs %zu", name, n,
            vs_collection_count(b));
    uint32_t dim = vs_collection_dimension(a);
    for (size_t i = 0; i < n; i++) {
        vs_record ra, rb;
        vs_collection_slot(&ra, a, i);
        if (vs_collection_get(&rb, b, ra.id, ra.id_len) < 0)
            WHY("collection '%s': id '%.*s' missing", name, (int)ra.id_len,
                ra.id);
        if (memcmp(ra.vector, rb.vector, dim * sizeof(float)) != 0)
            WHY("collection '%s': vector of '%.*s' differs", name,
                (int)ra.id_len, ra.id);
        if (ra.metadata_len != rb.metadata_len ||
            memcmp(ra.metadata, rb.metadata, ra.metadata_len) != 0)
            WHY("collection '%s': metadata of '%.*s' differs: %.*s vs %.*s",
                name, (int)ra.id_len, ra.id, (int)ra.metadata_len,
                ra.metadata, (int)rb.metadata_len, rb.metadata);
    }
    return true;
}

bool vs_test_store_equal(const vs_store *a, const vs_store *b, bool check_seq,
                         char *why, size_t whylen)
{
    size_t n = vs_store_ncollections(a);
    if (n != vs_store_ncollections(b))
        WHY("%zu collections vs %zu", n, vs_store_ncollections(b));
    if (check_seq && vs_store_seq(a) != vs_store_seq(b))
        WHY("seq %llu vs %llu", (unsigned long long)vs_store_seq(a),
            (unsigned long long)vs_store_seq(b));
    for (size_t i = 0; i < n; i++) {
        const vs_collection *ca = vs_store_at(a, i);
        const vs_collection *cb = vs_store_find(b, vs_collection_name(ca));
        if (!cb)
            WHY("collection '%s' missing", vs_collection_name(ca));
        if (!collection_equal(ca, cb, why, whylen))
            return false;
    }
    return true;
}
