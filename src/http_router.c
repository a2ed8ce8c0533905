/*
 * http_router: maps a method and a path to a route.  It owns the compiled
 * list of routes (the api files' slices, flattened in order and numbered
 * for metrics), pattern validation at start-up, matching with path
 * parameters, the `Allow` list of a 405, and percent-decoding.
 *
 * Matching works on the raw path as sent (the server installs an identity
 * unescaper, so "%2F" inside an id never splits a segment): literal segments
 * compare bytewise, a "{name}" segment takes one whole segment and decodes
 * it.  The first route whose pattern and method both match wins, so a table
 * lists a literal segment before a parameter in the same place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

struct vs_router {
    const vs_route **routes;
    size_t n;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int vs_http__decode(char *out, size_t cap, size_t *len, const char *s, size_t n,
                    bool plus)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (n - i < 3)
                return vs_error_set(VS_EINVALID, "truncated %%-escape");
            int h = hexval((unsigned char)s[i + 1]);
            int l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return vs_error_set(VS_EINVALID, "bad %%-escape '%.3s'", s + i);
            c = h * 16 + l;
            if (c == 0)
                return vs_error_set(VS_EINVALID, "%%00 is not allowed");
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (k == cap)
            return vs_error_set(VS_ETOOBIG, "longer than %zu bytes", cap);
        out[k++] = (char)c;
    }
    out[k] = '\0';
    *len = k;
    return 0;
}

/* ---- patterns ------------------------------------------------------------ */

static int check_pattern(const vs_route *rt)
{
    const char *p = rt->pattern;
    if (!rt->method[0] || !rt->handler || !p || p[0] != '/')
        return vs_error_set(VS_EINVALID, "bad route '%s %s'", rt->method,
                            p ? p : "(null)");
    if (strcmp(p, "/") == 0) /* the root, for the web page */
        return 0;
    size_t params = 0;
    while (*p == '/') {
        const char *seg = ++p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - seg);
        bool is_param = n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
        bool bad = n == 0 ||
                   (!is_param && (memchr(seg, '{', n) || memchr(seg, '%', n)));
        if (bad || (is_param && ++params > VS_HTTP_PARAMS_MAX))
            return vs_error_set(VS_EINVALID, "bad route pattern '%s'",
                                rt->pattern);
    }
    return 0;
}

int vs_router__new(vs_router **out, const vs_route *const *slices)
{
    *out = NULL;
    size_t n = 0;
    for (size_t s = 0; slices && slices[s]; s++)
        for (const vs_route *rt = slices[s]; rt->method; rt++)
            n++;
    vs_router *r = calloc(1, sizeof(*r));
    if (!r)
        return vs_error_oom();
    r->routes = calloc(n ? n : 1, sizeof(*r->routes));
    if (!r->routes) {
        free(r);
        return vs_error_oom();
    }
    for (size_t s = 0; slices && slices[s]; s++) {
        for (const vs_route *rt = slices[s]; rt->method; rt++) {
            int error = check_pattern(rt);
            if (error < 0) {
                vs_router__free(r);
                return error;
            }
            r->routes[r->n++] = rt;
        }
    }
    *out = r;
    return 0;
}

void vs_router__free(vs_router *r)
{
    if (!r)
        return;
    free(r->routes);
    free(r);
}

size_t vs_router__count(const vs_router *r)
{
    return r->n;
}

const vs_route *vs_router__at(const vs_router *r, size_t i)
{
    return r->routes[i];
}

/* ---- matching ------------------------------------------------------------ */

/* 1: the path fits the pattern (parameters decoded into m); 0: it does not;
 * < 0: a parameter is malformed or too long. */
static int match_path(vs_route_match *m, const char *pattern, const char *path)
{
    const char *p = pattern, *u = path;
    m->nparams = 0;
    if (strcmp(pattern, "/") == 0)
        return strcmp(path, "/") == 0;
    while (*p == '/' && *u == '/') {
        const char *ps = ++p, *us = ++u;
        while (*p && *p != '/')
            p++;
        while (*u && *u != '/')
            u++;
        size_t pn = (size_t)(p - ps), un = (size_t)(u - us);
        if (un == 0)
            return 0;
        if (ps[0] != '{') {
            if (pn != un || memcmp(ps, us, un) != 0)
                return 0;
            continue;
        }
        size_t i = m->nparams++;
        m->names[i] = ps + 1;
        int error = vs_http__decode(m->values[i], VS_HTTP_PARAM_MAX,
                                    &m->lens[i], us, un, false);
        if (error == VS_ETOOBIG)
            return vs_error_set(VS_EINVALID,
                                "path parameter '%.*s' is longer than %d "
                                "bytes",
                                (int)(pn - 2), ps + 1, VS_HTTP_PARAM_MAX);
        if (error < 0) {
            char why[128];
            snprintf(why, sizeof(why), "%s", vs_error_last());
            return vs_error_set(VS_EINVALID, "path parameter '%.*s': %s",
                                (int)(pn - 2), ps + 1, why);
        }
    }
    return *p == '\0' && *u == '\0';
}

static void add_allow(char *allow, size_t size, const char *method)
{
    size_t len = strlen(allow), mlen = strlen(method);
    const char *hit = strstr(allow, method);
    while (hit) { /* already listed as a whole word? */
        bool start = hit == allow || hit[-1] == ' ';
        bool end = hit[mlen] == ',' || hit[mlen] == '\0';
        if (start && end)
            return;
        hit = strstr(hit + 1, method);
    }
    if (len + mlen + 3 > size)
        return;
    snprintf(allow + len, size - len, "%s%s", len ? ", " : "", method);
}

int vs_router__match(vs_route_match *m, const vs_router *r, const char *method,
                     const char *path)
{
    m->route = NULL;
    m->index = r->n;
    m->allow[0] = '\0';
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    bool seen = false;
    for (size_t i = 0; i < r->n; i++) {
        const vs_route *rt = r->routes[i];
        int hit = match_path(m, rt->pattern, path);
        if (hit < 0)
            return hit;
        if (!hit)
            continue;
        if (strcmp(rt->method, want) == 0) {
            m->route = rt;
            m->index = i;
            return 0;
        }
        seen = true;
        add_allow(m->allow, sizeof(m->allow), rt->method);
        if (strcmp(rt->method, "GET") == 0)
            add_allow(m->allow, sizeof(m->allow), "HEAD");
    }
    m->nparams = 0;
    if (seen)
        return vs_error_set(VS_EBUSY, "method %s is not allowed on '%s'",
                            method, path);
    return vs_error_set(VS_ENOTFOUND, "no route for '%s'", path);
}
