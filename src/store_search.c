/*
 * store_search: the numeric side of the store.  It owns the vector kernels
 * (dot product, squared L2 distance, the finiteness check and the inverse
 * norm that upsert also uses) and exact k-nearest-neighbour search: the
 * scan over a collection's contiguous vectors, specialised per metric, the
 * top-k heap, the tie rules and vs_collection_search.
 *
 * Decisions:
 * - scores are computed in float32 with a fixed summation order (the same
 *   vector always gets the same score).  Cosine: dot(q, v) * inv(v) *
 *   inv(q); a vector whose norm is below FLT_MIN (in particular the zero
 *   vector), stored or query, has cosine 0 with everything.  Euclidean
 *   reports the distance (lower is closer).  Ties (equal float scores) are
 *   broken by id, bytewise ascending, a prefix before its extensions.  A NaN
 *   score (possible only when float products overflow) ranks last and is
 *   reported as -inf (cosine, dot) or +inf (euclidean).
 */
#include "store_int.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- vector kernels ----------------------------------------------------- */

typedef float v4f __attribute__((vector_size(16)));

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static inline float hsum(v4f a, v4f b, v4f c, v4f d)
{
    v4f s = (a + b) + (c + d);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static inline float dot_kernel(const float *a, const float *b, size_t n)
{
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        s0 += load4(a + i) * load4(b + i);
        s1 += load4(a + i + 4) * load4(b + i + 4);
        s2 += load4(a + i + 8) * load4(b + i + 8);
        s3 += load4(a + i + 12) * load4(b + i + 12);
    }
    for (; i + 4 <= n; i += 4)
        s0 += load4(a + i) * load4(b + i);
    float r = hsum(s0, s1, s2, s3);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static inline float l2sq_kernel(const float *a, const float *b, size_t n)
{
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        v4f d0 = load4(a + i) - load4(b + i);
        v4f d1 = load4(a + i + 4) - load4(b + i + 4);
        v4f d2 = load4(a + i + 8) - load4(b + i + 8);
        v4f d3 = load4(a + i + 12) - load4(b + i + 12);
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i + 4 <= n; i += 4) {
        v4f d = load4(a + i) - load4(b + i);
        s0 += d * d;
    }
    float r = hsum(s0, s1, s2, s3);
    for (; i < n; i++) {
        float d = a[i] - b[i];
        r += d * d;
    }
    return r;
}

/* 1 when all n values are finite; else 0 and *bad gets the first bad one. */
int vs_store__vector_finite(const float *v, size_t n, size_t *bad)
{
    v4f acc = {0, 0, 0, 0};
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        v4f x = load4(v + i);
        acc += x - x; /* NaN for inf and NaN, 0 otherwise */
    }
    float r = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (; i < n; i++)
        r += v[i] - v[i];
    if (r == r)
        return 1;
    for (i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            *bad = i;
            return 0;
        }
    }
    return 1;
}

/* 1 / |v| computed in double; 0 for norms below FLT_MIN. */
float vs_store__inv_norm(const float *v, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;

    for (; i + 4 <= n; i += 4) {
        s0 += (double)v[i] * v[i];
        s1 += (double)v[i + 1] * v[i + 1];
        s2 += (double)v[i + 2] * v[i + 2];
        s3 += (double)v[i + 3] * v[i + 3];
    }
    for (; i < n; i++)
        s0 += (double)v[i] * v[i];
    double norm = sqrt((s0 + s1) + (s2 + s3));
    if (!(norm >= FLT_MIN))
        return 0.0f;
    return (float)(1.0 / norm);
}

/* ---- search ------------------------------------------------------------- */

static inline int idcmp(const vs_collection *c, size_t a, size_t b)
{
    size_t la = c->idlen[a], lb = c->idlen[b];
    int r = memcmp(c->blob[a], c->blob[b], la < lb ? la : lb);
    if (r)
        return r;
    return (la > lb) - (la < lb);
}

/* a ranks below (is worse than) b: lower key, or equal key and larger id. */
static inline int worse(const vs_collection *c, const vs_hit *a,
                        const vs_hit *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    return idcmp(c, a->slot, b->slot) > 0;
}

/* Heap with the worst hit at the root. */
static void sift_down(const vs_collection *c, vs_hit *h, size_t n, size_t i)
{
    vs_hit x = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            break;
        size_t w = l;
        if (l + 1 < n && worse(c, &h[l + 1], &h[l]))
            w = l + 1;
        if (!worse(c, &h[w], &x))
            break;
        h[i] = h[w];
        i = w;
    }
    h[i] = x;
}

static void sift_up(const vs_collection *c, vs_hit *h, size_t i)
{
    vs_hit x = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!worse(c, &x, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

/* The scan, specialised per metric by the callers.  Keys are "higher is
 * closer": the euclidean key is minus the distance. */
static inline __attribute__((always_inline)) size_t
scan(vs_hit *heap, size_t k, const vs_collection *c, const float *q, float qinv,
     vs_metric metric)
{
    size_t n = 0, dim = c->dim, count = c->count;
    const float *v = c->vec;

    for (size_t i = 0; i < count; i++, v += dim) {
        float s;
        if (metric == VS_METRIC_COSINE)
            s = dot_kernel(q, v, dim) * c->inv[i] * qinv;
        else if (metric == VS_METRIC_DOT)
            s = dot_kernel(q, v, dim);
        else
            s = -sqrtf(l2sq_kernel(q, v, dim));
        if (s != s)
            s = -INFINITY;
        if (n < k) {
            heap[n].score = s;
            heap[n].slot = (uint32_t)i;
            sift_up(c, heap, n);
            n++;
            continue;
        }
        if (s < heap[0].score ||
            (s == heap[0].score && idcmp(c, i, heap[0].slot) > 0))
            continue;
        heap[0].score = s;
        heap[0].slot = (uint32_t)i;
        sift_down(c, heap, n, 0);
    }
    return n;
}

int vs_collection_search(vs_hit *out, size_t *n_out, const vs_collection *c,
                         const float *query, size_t query_dim, size_t k)
{
    size_t n = 0, bad = 0;
    float qinv = 0.0f;

    *n_out = 0;
    if (query_dim != c->dim)
        return vs_error_set(VS_EINVALID,
                            "query has %zu dimensions, collection '%s' has %u",
                            query_dim, c->name, c->dim);
    if (!query)
        return vs_error_set(VS_EINVALID, "search in '%s': no query vector",
                            c->name);
    if (!vs_store__vector_finite(query, query_dim, &bad))
        return vs_error_set(VS_EINVALID, "query value %zu is not finite", bad);
    if (k == 0 || k > VS_SEARCH_K_MAX)
        return vs_error_set(VS_EINVALID, "k is %zu, it must be 1 to %d", k,
                            VS_SEARCH_K_MAX);
    switch (c->metric) {
    case VS_METRIC_COSINE:
        qinv = vs_store__inv_norm(query, query_dim);
        n = scan(out, k, c, query, qinv, VS_METRIC_COSINE);
        break;
    case VS_METRIC_DOT:
        n = scan(out, k, c, query, qinv, VS_METRIC_DOT);
        break;
    default:
        n = scan(out, k, c, query, qinv, VS_METRIC_EUCLIDEAN);
        break;
    }
    /* heap sort: the worst goes last, leaving the best first */
    for (size_t end = n; end > 1; end--) {
        vs_hit t = out[0];
        out[0] = out[end - 1];
        out[end - 1] = t;
        sift_down(c, out, end - 1, 0);
    }
    for (size_t i = 0; i < n; i++) {
        vs_record r;
        vs_collection_slot(&r, c, out[i].slot);
        out[i].id = r.id;
        out[i].id_len = r.id_len;
        out[i].metadata = r.metadata;
        out[i].metadata_len = r.metadata_len;
        if (c->metric == VS_METRIC_EUCLIDEAN)
            out[i].score = -out[i].score;
    }
    *n_out = n;
    return 0;
}
