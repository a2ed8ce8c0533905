/*
 * s3_xml: a small, strict reader for the XML replies of S3 (errors, list
 * pages, multipart results).  It walks tags, keeps the path of element names
 * from the root, decodes the five named entities and numeric references,
 * skips the declaration, comments and attributes, reads CDATA, and refuses
 * a DOCTYPE.  Everything is bounded: depth 32, path 512 bytes, one element's
 * text 8 KiB; the reader itself never allocates.  Below it, the readers of
 * the replies we use: a ListObjectsV2 page, a ListMultipartUploads page and
 * an InitiateMultipartUpload result.
 */
#include "s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_DEPTH 32
#define XML_PATH 512
#define XML_TEXT 8192

typedef struct xml {
    const char *p;
    const char *end;
    char path[XML_PATH];
    size_t plen;
    size_t stack[XML_DEPTH]; /* plen before each open element */
    int depth;
    char text[XML_TEXT];
    size_t tlen;
    bool seen_root;
} xml;

static int bad(const char *what)
{
    return vs_error_set(VS_ECORRUPT, "s3 reply: malformed xml: %s", what);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool name_char(char c)
{
    return c && !is_space(c) && c != '>' && c != '/' && c != '<' && c != '='
        && c != '"' && c != '\'';
}

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    while ((size_t)(end - p) >= n) {
        if (memcmp(p, needle, n) == 0)
            return p;
        p++;
    }
    return NULL;
}

static int text_put(xml *x, const char *s, size_t n)
{
    if (n > XML_TEXT - 1 - x->tlen)
        return bad("element text over 8 KiB");
    memcpy(x->text + x->tlen, s, n);
    x->tlen += n;
    return 0;
}

static int put_utf8(xml *x, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return bad("character reference out of range");
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return text_put(x, u, n);
}

/* An entity at x->p (on '&'). */
static int entity(xml *x)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'},
                 {"apos", '\''}};
    const char *semi = memchr(x->p, ';', (size_t)(x->end - x->p));
    if (!semi || semi - x->p > 12)
        return bad("unterminated entity");
    const char *s = x->p + 1;
    size_t n = (size_t)(semi - s);
    x->p = semi + 1;
    if (n >= 2 && s[0] == '#') {
        bool hex = s[1] == 'x';
        unsigned long cp = 0;
        size_t i = hex ? 2 : 1;
        if (i >= n)
            return bad("empty character reference");
        for (; i < n; i++) {
            char c = s[i];
            unsigned d;
            if (c >= '0' && c <= '9')
                d = (unsigned)(c - '0');
            else if (hex && c >= 'a' && c <= 'f')
                d = (unsigned)(c - 'a' + 10);
            else if (hex && c >= 'A' && c <= 'F')
                d = (unsigned)(c - 'A' + 10);
            else
                return bad("bad character reference");
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10FFFF)
                return bad("character reference out of range");
        }
        return put_utf8(x, cp);
    }
    for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
        if (strlen(named[i].name) == n && memcmp(named[i].name, s, n) == 0)
            return text_put(x, &named[i].c, 1);
    return bad("unknown entity");
}

static int open_elem(xml *x, const char *name, size_t n)
{
    if (x->depth == 0 && x->seen_root)
        return bad("content after the root element");
    if (x->depth >= XML_DEPTH)
        return bad("nesting deeper than 32");
    size_t need = n + (x->depth ? 1 : 0);
    if (need > XML_PATH - 1 - x->plen)
        return bad("element path over 512 bytes");
    x->stack[x->depth++] = x->plen;
    if (x->plen)
        x->path[x->plen++] = '/';
    memcpy(x->path + x->plen, name, n);
    x->plen += n;
    x->path[x->plen] = '\0';
    x->seen_root = true;
    x->tlen = 0;
    return 0;
}

static int close_elem(xml *x, s3_xml_fn fn, void *ctx)
{
    x->text[x->tlen] = '\0';
    int rc = fn ? fn(ctx, x->path, x->text, x->tlen) : 0;
    x->plen = x->stack[--x->depth];
    x->path[x->plen] = '\0';
    x->tlen = 0;
    return rc;
}

/* A tag at x->p (on '<'). */
static int tag(xml *x, s3_xml_fn fn, void *ctx)
{
    const char *p = x->p + 1;
    size_t left = (size_t)(x->end - p);
    if (left >= 1 && *p == '?') {
        const char *q = find(p, x->end, "?>");
        if (!q)
            return bad("unterminated declaration");
        x->p = q + 2;
        return 0;
    }
    if (left >= 3 && memcmp(p, "!--", 3) == 0) {
        const char *q = find(p + 3, x->end, "-->");
        if (!q)
            return bad("unterminated comment");
        x->p = q + 3;
        return 0;
    }
    if (left >= 8 && memcmp(p, "![CDATA[", 8) == 0) {
        const char *q = find(p + 8, x->end, "]]>");
        if (!q)
            return bad("unterminated CDATA");
        if (x->depth == 0)
            return bad("CDATA outside the root element");
        x->p = q + 3;
        return text_put(x, p + 8, (size_t)(q - (p + 8)));
    }
    if (left >= 1 && *p == '!')
        return bad("DOCTYPE or declaration not allowed");
    bool closing = left >= 1 && *p == '/';
    if (closing)
        p++;
    const char *name = p;
    while (p < x->end && name_char(*p))
        p++;
    size_t n = (size_t)(p - name);
    if (n == 0)
        return bad("tag without a name");
    if (closing) {
        while (p < x->end && is_space(*p))
            p++;
        if (p >= x->end || *p != '>')
            return bad("unterminated end tag");
        x->p = p + 1;
        if (x->depth == 0)
            return bad("end tag without a start tag");
        size_t start = x->stack[x->depth - 1] + (x->depth > 1 ? 1 : 0);
        if (x->plen - start != n || memcmp(x->path + start, name, n) != 0)
            return bad("mismatched end tag");
        return close_elem(x, fn, ctx);
    }
    /* attributes: skipped, quotes respected */
    char quote = 0;
    bool empty = false;
    for (; p < x->end; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '>') {
            empty = p > name && p[-1] == '/';
            break;
        } else if (*p == '<') {
            return bad("'<' inside a tag");
        }
    }
    if (p >= x->end)
        return bad("unterminated start tag");
    x->p = p + 1;
    int rc = open_elem(x, name, n);
    if (rc == 0 && empty)
        rc = close_elem(x, fn, ctx);
    return rc;
}

int vs_s3__xml_parse(const char *s, size_t n, s3_xml_fn fn, void *ctx)
{
    xml x;
    x.p = s;
    x.end = s + n;
    x.plen = 0;
    x.path[0] = '\0';
    x.depth = 0;
    x.tlen = 0;
    x.seen_root = false;
    int rc = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) /* byte order mark */
        x.p += 3;
    while (rc == 0 && x.p < x.end) {
        char c = *x.p;
        if (c == '<') {
            rc = tag(&x, fn, ctx);
        } else if (c == '&') {
            if (x.depth == 0)
                return bad("entity outside the root element");
            rc = entity(&x);
        } else if (x.depth == 0) {
            if (!is_space(c))
                return bad("text outside the root element");
            x.p++;
        } else {
            const char *q = x.p;
            while (q < x.end && *q != '<' && *q != '&')
                q++;
            rc = text_put(&x, x.p, (size_t)(q - x.p));
            x.p = q;
        }
    }
    if (rc)
        return rc;
    if (x.depth != 0 || !x.seen_root)
        return bad(x.seen_root ? "truncated document" : "no root element");
    return 0;
}

void vs_s3__xml_root(char *out, size_t cap, const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    out[0] = '\0';
    while (p < end) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p || p + 1 >= end)
            return;
        if (p[1] != '?' && p[1] != '!')
            break;
        p++;
    }
    if (!p)
        return;
    p++;
    size_t i = 0;
    while (p < end && name_char(*p) && i + 1 < cap)
        out[i++] = *p++;
    out[i] = '\0';
}

typedef struct err_ctx {
    char *code;
    size_t code_cap;
    char *msg;
    size_t msg_cap;
} err_ctx;

static int on_error_elem(void *p, const char *path, const char *text,
                         size_t n)
{
    err_ctx *e = p;
    (void)n;
    if (strcmp(path, "Error/Code") == 0)
        snprintf(e->code, e->code_cap, "%s", text);
    else if (strcmp(path, "Error/Message") == 0)
        snprintf(e->msg, e->msg_cap, "%s", text);
    return 0;
}

void vs_s3__xml_error(char *code, size_t code_cap, char *msg, size_t msg_cap,
                      const char *s, size_t n)
{
    err_ctx e = {code, code_cap, msg, msg_cap};
    code[0] = '\0';
    msg[0] = '\0';
    char root[16];
    vs_s3__xml_root(root, sizeof(root), s, n);
    if (strcmp(root, "Error") != 0)
        return;
    if (vs_s3__xml_parse(s, n, on_error_elem, &e) != 0)
        vs_error_clear(); /* a partial or broken body: keep what was read */
}

int vs_s3__xml_escape(vs_buf *b, const char *s)
{
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default: break;
        }
        int rc = rep ? vs_buf_puts(b, rep) : vs_buf_putc(b, *s);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the replies we read ------------------------------------------------ */

static int copy_text(char *out, size_t cap, const char *text, size_t n,
                     const char *what)
{
    if (n >= cap)
        return vs_error_set(VS_EUPSTREAM, "s3 reply: %s over %zu bytes", what,
                            cap - 1);
    memcpy(out, text, n + 1);
    return 0;
}


static int list_push(s3_list_page *pg)
{
    size_t sn = strlen(pg->strip);
    if (!pg->key || !pg->has_size)
        return vs_error_set(VS_EUPSTREAM, "s3 list reply: <Contents> without "
                            "<Key> or <Size>");
    if (strncmp(pg->key, pg->strip, sn) != 0)
        return vs_error_set(VS_EUPSTREAM, "s3 list reply: key '%s' is not "
                            "under the prefix '%s'", pg->key, pg->strip);
    if (pg->n >= pg->max)
        return vs_error_set(VS_ETOOBIG, "s3 list: more than %zu objects",
                            pg->max);
    if (pg->n == pg->cap) {
        size_t cap = pg->cap ? pg->cap * 2 : 64;
        vs_s3_object *v = realloc(pg->v, cap * sizeof(*v));
        if (!v)
            return vs_error_oom();
        pg->v = v;
        pg->cap = cap;
    }
    char *k = strdup(pg->key + sn);
    if (!k)
        return vs_error_oom();
    pg->v[pg->n].key = k;
    pg->v[pg->n].size = pg->size;
    pg->n++;
    free(pg->key);
    pg->key = NULL;
    pg->has_size = false;
    return 0;
}

static int on_list_elem(void *p, const char *path, const char *text,
                        size_t n)
{
    s3_list_page *pg = p;
    if (strncmp(path, "ListBucketResult/", 17) != 0)
        return 0;
    path += 17;
    if (strcmp(path, "Contents/Key") == 0) {
        free(pg->key);
        pg->key = strdup(text);
        return pg->key ? 0 : vs_error_oom();
    }
    if (strcmp(path, "Contents/Size") == 0) {
        pg->has_size = vs_s3__parse_u64(text, n, &pg->size);
        return pg->has_size ? 0 : vs_error_set(VS_EUPSTREAM, "s3 list reply:"
                                               " bad <Size>");
    }
    if (strcmp(path, "Contents") == 0)
        return list_push(pg);
    if (strcmp(path, "IsTruncated") == 0)
        pg->truncated = strcmp(text, "true") == 0;
    else if (strcmp(path, "NextContinuationToken") == 0)
        return copy_text(pg->token, sizeof(pg->token), text, n,
                         "continuation token");
    return 0;
}

int vs_s3__xml_list_page(s3_list_page *pg, const char *s, size_t n)
{
    char root[32];
    pg->truncated = false;
    pg->token[0] = '\0';
    vs_s3__xml_root(root, sizeof(root), s, n);
    if (strcmp(root, "ListBucketResult") != 0)
        return vs_error_set(VS_EUPSTREAM, "s3 list reply: root element <%s>",
                            root);
    int rc = vs_s3__xml_parse(s, n, on_list_elem, pg);
    free(pg->key);
    pg->key = NULL;
    return rc;
}

static int on_uploads_elem(void *p, const char *path, const char *text,
                           size_t n)
{
    s3_uploads_page *pg = p;
    if (strncmp(path, "ListMultipartUploadsResult/", 27) != 0)
        return 0;
    path += 27;
    if (strcmp(path, "Upload") == 0)
        pg->count++;
    else if (strcmp(path, "IsTruncated") == 0)
        pg->truncated = strcmp(text, "true") == 0;
    else if (strcmp(path, "NextKeyMarker") == 0)
        return copy_text(pg->next_key, sizeof(pg->next_key), text, n,
                         "key marker");
    else if (strcmp(path, "NextUploadIdMarker") == 0)
        return copy_text(pg->next_id, sizeof(pg->next_id), text, n,
                         "upload id marker");
    return 0;
}

int vs_s3__xml_uploads_page(s3_uploads_page *pg, const char *s, size_t n)
{
    char root[32];
    pg->truncated = false;
    pg->next_key[0] = pg->next_id[0] = '\0';
    vs_s3__xml_root(root, sizeof(root), s, n);
    if (strcmp(root, "ListMultipartUploadsResult") != 0)
        return vs_error_set(VS_EUPSTREAM, "s3 uploads reply: root element "
                            "<%s>", root);
    return vs_s3__xml_parse(s, n, on_uploads_elem, pg);
}

typedef struct id_ctx {
    char *out;
    size_t cap;
} id_ctx;

static int on_initiate_elem(void *p, const char *path, const char *text,
                            size_t n)
{
    id_ctx *c = p;
    if (strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0)
        return copy_text(c->out, c->cap, text, n, "upload id");
    return 0;
}

int vs_s3__xml_upload_id(char *out, size_t cap, const char *s, size_t n)
{
    id_ctx c = {out, cap};
    out[0] = '\0';
    int rc = vs_s3__xml_parse(s, n, on_initiate_elem, &c);
    if (rc == 0 && !out[0])
        rc = vs_error_set(VS_EUPSTREAM, "s3 initiate reply: no <UploadId>");
    return rc;
}
