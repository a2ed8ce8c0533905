/*
 * bench_upsert: the latency a client sees for single-record upserts, and
 * the NDJSON bodies bench_server.sh uploads.  Two modes:
 *
 *   bench_upsert --url URL --collection C --dim D [--ids N] [--seconds S]
 *                [--stop-file F] [--ready-file F] [--seed S]
 *     One libcurl handle, so one keep-alive connection, sends
 *     PUT URL/v1/collections/C/vectors with {"vectors":[{"id","vector"}]}
 *     (one record, a fresh random vector, the id "vec-%08d" of a random k
 *     below N: an update of an existing record when the store holds N
 *     records) as fast as the replies come back, each one timed from the
 *     start of the request to the end of the reply.  It stops after S
 *     seconds or as soon as F exists, whichever comes first, creates the
 *     ready file once the first upsert succeeded (the connection is open),
 *     and prints one line:
 *       upserts N errors E seconds T p50_ms A p99_ms B max_ms C
 *     Percentiles are nearest-rank over the successful upserts.  The exit
 *     status is 1 when no upsert succeeded or one failed.
 *
 *   bench_upsert --ndjson --count N --dim D [--seed S]
 *     Writes to standard output the records `vecsnap generate --metadata`
 *     builds for that seed (ids "vec-%08d", xorshift64* floats in [-1, 1),
 *     metadata {"n":k,"tag":"..."}), one JSON object per line, each float
 *     with 8 decimals (about the size of the shortest round-trip form the
 *     server writes; a float below 1e-7 in magnitude may read back as a
 *     neighbour of the generated one).
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DIM_MAX 65536
#define ERRORS_MAX 100 /* consecutive failures before giving up */
#define REPLY_MAX 512  /* bytes of a reply kept for an error message */

typedef struct options {
    const char *url, *collection, *stop_file, *ready_file;
    uint64_t ids, count, seed;
    uint32_t dim;
    double seconds;
    bool ndjson;
} options;

typedef struct reply {
    char text[REPLY_MAX];
    size_t len;
} reply;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rand_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* The generator's value: a multiple of 2^-23 in [-1, 1), as an integer m
 * with value = m / 2^23. */
static int32_t rand_value(uint64_t *s)
{
    return (int32_t)(rand_next(s) >> 40) - (1 << 23);
}

/* m / 2^23 with 8 decimals, rounded half away from zero; returns the
 * length written to out (at most 12 bytes). */
static size_t format_value(char *out, int32_t m)
{
    bool neg = m < 0;
    uint64_t a = (uint64_t)(neg ? -(int64_t)m : m);
    uint64_t q = (a * 100000000ull + (1ull << 22)) >> 23; /* 1e8 * |v| */
    char digits[8];
    size_t n = 0;
    if (neg && q > 0)
        out[n++] = '-';
    out[n++] = (char)('0' + q / 100000000ull);
    q %= 100000000ull;
    for (int i = 7; i >= 0; i--) {
        digits[i] = (char)('0' + q % 10);
        q /= 10;
    }
    int last = 7;
    while (last >= 0 && digits[last] == '0')
        last--;
    if (last >= 0) {
        out[n++] = '.';
        memcpy(out + n, digits, (size_t)last + 1);
        n += (size_t)last + 1;
    }
    return n;
}

/* ---- NDJSON ---------------------------------------------------------- */

static int write_ndjson(const options *o)
{
    static const char *const tags[] = {"news", "docs", "code", "chat", "web"};
    uint64_t state = o->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    size_t cap = (size_t)o->dim * 13 + 256;
    char *line = malloc(cap);
    int rc = 1;
    if (!line) {
        fprintf(stderr, "bench_upsert: out of memory\n");
        goto done;
    }
    for (uint64_t k = 0; k < o->count; k++) {
        int n = snprintf(line, cap,
                         "{\"id\":\"vec-%08" PRIu64 "\",\"vector\":[", k);
        size_t len = (size_t)n;
        for (uint32_t d = 0; d < o->dim; d++) {
            if (d > 0)
                line[len++] = ',';
            len += format_value(line + len, rand_value(&state));
        }
        n = snprintf(line + len, cap - len,
                     "],\"metadata\":{\"n\":%" PRIu64 ",\"tag\":\"%s\"}}\n",
                     k, tags[k % 5]);
        if (n < 0 || (size_t)n >= cap - len) {
            fprintf(stderr, "bench_upsert: line %" PRIu64 " too long\n", k);
            goto done;
        }
        len += (size_t)n;
        if (fwrite(line, 1, len, stdout) != len) {
            fprintf(stderr, "bench_upsert: write: %s\n", strerror(errno));
            goto done;
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "bench_upsert: write: %s\n", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(line);
    return rc;
}

/* ---- upserts --------------------------------------------------------- */

static size_t keep_reply(char *data, size_t size, size_t nmemb, void *cls)
{
    reply *r = cls;
    size_t n = size * nmemb, room = sizeof(r->text) - 1 - r->len;
    size_t k = n < room ? n : room;
    memcpy(r->text + r->len, data, k);
    r->len += k;
    r->text[r->len] = '\0';
    return n;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return path && stat(path, &sb) == 0;
}

static int touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "bench_upsert: cannot create '%s': %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* One body: {"vectors":[{"id":"vec-%08d","vector":[...]}]}. */
static size_t make_body(char *body, size_t cap, const options *o,
                        uint64_t *state)
{
    uint64_t k = rand_next(state) % o->ids;
    int n = snprintf(body, cap,
                     "{\"vectors\":[{\"id\":\"vec-%08" PRIu64 "\",\"vector\":[",
                     k);
    size_t len = (size_t)n;
    for (uint32_t d = 0; d < o->dim; d++) {
        if (d > 0)
            body[len++] = ',';
        len += format_value(body + len, rand_value(state));
    }
    memcpy(body + len, "]}]}", 4);
    return len + 4;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the samples at or
 * below it. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n);
    if ((double)rank < p * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    return sorted[rank - 1];
}

static int run_upserts(const options *o)
{
    char *url = NULL, *body = NULL;
    double *lat = NULL;
    size_t nlat = 0, alat = 0, cap = (size_t)o->dim * 13 + 256;
    uint64_t errors = 0, state = o->seed * 0x9E3779B97F4A7C15ull + 7;
    int consecutive = 0, rc = 1;
    bool ready = false;
    struct curl_slist *headers = NULL;
    reply rep;
    CURL *h = NULL;

    size_t ulen = strlen(o->url) + strlen(o->collection) + 64;
    url = malloc(ulen);
    body = malloc(cap);
    if (!url || !body) {
        fprintf(stderr, "bench_upsert: out of memory\n");
        goto done;
    }
    snprintf(url, ulen, "%s/v1/collections/%s/vectors", o->url,
             o->collection);
    h = curl_easy_init();
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = headers ? curl_slist_append(headers, "Expect:")
                                      : NULL;
    if (!h || !more) {
        fprintf(stderr, "bench_upsert: cannot set up libcurl\n");
        goto done;
    }
    headers = more;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_reply);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rep);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);

    double start = now_s(), end = start + o->seconds;
    for (;;) {
        double t = now_s();
        if (t >= end || file_exists(o->stop_file))
            break;
        size_t len = make_body(body, cap, o, &state);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
        rep.len = 0;
        rep.text[0] = '\0';
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(h);
        double dt = now_s() - t0;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || status != 200) {
            if (errors++ == 0)
                fprintf(stderr, "bench_upsert: upsert failed: %s (%ld) %s\n",
                        cc != CURLE_OK ? curl_easy_strerror(cc) : "status",
                        status, rep.text);
            if (++consecutive >= ERRORS_MAX) {
                fprintf(stderr, "bench_upsert: %d failures in a row, "
                                "giving up\n", consecutive);
                break;
            }
            continue;
        }
        consecutive = 0;
        if (nlat == alat) {
            size_t na = alat ? alat * 2 : 65536;
            double *nl = realloc(lat, na * sizeof(*lat));
            if (!nl) {
                fprintf(stderr, "bench_upsert: out of memory\n");
                goto done;
            }
            lat = nl;
            alat = na;
        }
        lat[nlat++] = dt;
        if (!ready && o->ready_file) {
            if (touch(o->ready_file) < 0)
                goto done;
            ready = true;
        }
    }
    double elapsed = now_s() - start;
    if (nlat > 0)
        qsort(lat, nlat, sizeof(*lat), cmp_double);
    printf("upserts %zu errors %" PRIu64 " seconds %.3f p50_ms %.3f p99_ms "
           "%.3f max_ms %.3f\n", nlat, errors, elapsed,
           nlat ? 1e3 * percentile(lat, nlat, 0.50) : 0.0,
           nlat ? 1e3 * percentile(lat, nlat, 0.99) : 0.0,
           nlat ? 1e3 * lat[nlat - 1] : 0.0);
    rc = nlat > 0 && errors == 0 ? 0 : 1;
done:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(lat);
    free(body);
    free(url);
    return rc;
}

/* ---- options --------------------------------------------------------- */

static const char usage[] =
    "usage: bench_upsert --url URL --collection C --dim D [--ids N]\n"
    "         [--seconds S] [--stop-file F] [--ready-file F] [--seed S]\n"
    "       bench_upsert --ndjson --count N --dim D [--seed S]\n";

static int parse_u64(uint64_t *out, const char *s, uint64_t min, uint64_t max,
                     const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "bench_upsert: bad %s '%s'\n%s", what, s, usage);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"collection", required_argument, NULL, 'c'},
        {"dim", required_argument, NULL, 'd'},
        {"ids", required_argument, NULL, 'i'},
        {"count", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'},
        {"stop-file", required_argument, NULL, 'S'},
        {"ready-file", required_argument, NULL, 'R'},
        {"seed", required_argument, NULL, 'e'},
        {"ndjson", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    uint64_t v;
    int c;
    o->ids = 1000;
    o->seed = 1;
    o->seconds = 10;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': o->url = optarg; break;
        case 'c': o->collection = optarg; break;
        case 'S': o->stop_file = optarg; break;
        case 'R': o->ready_file = optarg; break;
        case 'j': o->ndjson = true; break;
        case 'd':
            if (parse_u64(&v, optarg, 1, DIM_MAX, "--dim") < 0)
                return -1;
            o->dim = (uint32_t)v;
            break;
        case 'i':
            if (parse_u64(&o->ids, optarg, 1, 99999999, "--ids") < 0)
                return -1;
            break;
        case 'n':
            if (parse_u64(&o->count, optarg, 0, 99999999, "--count") < 0)
                return -1;
            break;
        case 's':
            if (parse_u64(&v, optarg, 1, 86400, "--seconds") < 0)
                return -1;
            o->seconds = (double)v;
            break;
        case 'e':
            if (parse_u64(&o->seed, optarg, 0, UINT64_MAX, "--seed") < 0)
                return -1;
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); return -1;
        }
    }
    if (optind != argc || o->dim == 0 ||
        (!o->ndjson && (!o->url || !o->collection))) {
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof(o));
    if (parse_args(&o, argc, argv) < 0)
        return 2;
    if (o.ndjson)
        return write_ndjson(&o);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "bench_upsert: cannot initialise libcurl\n");
        return 1;
    }
    int rc = run_upserts(&o);
    curl_global_cleanup();
    return rc;
}
