/*
 * http_reply: every response body the API sends.  It owns the one table
 * from vs_errcode to HTTP status, the error body
 * {"error":{"code":"...","message":"..."}}, JSON and text replies, and the
 * small JSON text writers (strings, float32) that handlers use to render
 * large replies straight into a buffer without building a tree.
 *
 * Errors are logged here, where they are handled: server faults (5xx but
 * 503) at error level with the request id, refusals at debug level.
 */
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floatfmt.h"
#include "http.h"
#include "log.h"

#define JSON_TYPE "application/json"

unsigned vs_http_status_of(int code)
{
    switch (code) {
    case VS_ENOTFOUND:
        return 404;
    case VS_EINVALID:
        return 400;
    case VS_EEXISTS:
    case VS_EBUSY:
        return 409;
    case VS_ETOOBIG:
        return 413;
    case VS_ECORRUPT:
    case VS_EVERSION:
    case VS_EKEY:
        return 422;
    case VS_EUPSTREAM:
        return 502;
    default:
        return 500;
    }
}

int vs_reply_buf(vs_req *req, unsigned status, vs_buf *body,
                 const char *content_type)
{
    size_t len = body->len;
    char *p = vs_buf_detach(body);
    return vs_req__send(req, status, p, p ? len : 0, p ? free : NULL,
                        content_type);
}

int vs_reply_text(vs_req *req, unsigned status, const char *text,
                  const char *content_type)
{
    size_t n = strlen(text);
    char *p = malloc(n + 1);
    if (!p)
        return vs_reply_error(req, vs_error_oom());
    memcpy(p, text, n + 1);
    return vs_req__send(req, status, p, n, free, content_type);
}

int vs_reply_empty(vs_req *req, unsigned status)
{
    return vs_req__send(req, status, NULL, 0, NULL, NULL);
}

int vs_reply_file(vs_req *req, unsigned status, int fd, uint64_t offset,
                  uint64_t len, const char *content_type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_fd_at_offset64(len, fd, offset);
    if (!resp) {
        close(fd);
        vs_log(VS_LOG_ERROR, "req %s: cannot build a file reply",
               vs_req_id(req));
        return VS_ERROR;
    }
    return vs_req__queue(req, status, resp, content_type);
}

int vs_reply_json(vs_req *req, unsigned status, json_t *json)
{
    char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (!text) {
        vs_error_oom();
        return vs_reply_error_status(req, 500, "out_of_memory",
                                     "cannot render the reply");
    }
    return vs_req__send(req, status, text, strlen(text), free, JSON_TYPE);
}

/* The error body, rendered without jansson so that it works when memory
 * is short; `extra` members are appended at the top level. */
static int send_error(vs_req *req, unsigned status, const char *word,
                      const char *msg, json_t *extra)
{
    if (status >= 500 && status != 503) /* 503 is a refusal, not a fault */
        vs_log(VS_LOG_ERROR, "req %s: %s %s: %u %s: %s", vs_req_id(req),
               vs_req_method(req), vs_req_path(req), status, word, msg);
    else
        vs_log(VS_LOG_DEBUG, "req %s: %u %s: %s", vs_req_id(req), status, word,
               msg);
    vs_buf b = VS_BUF_INIT(64 * 1024);
    int error = vs_buf_puts(&b, "{\"error\":{\"code\":");
    if (!error)
        error = vs_http_put_string(&b, word, strlen(word));
    if (!error)
        error = vs_buf_puts(&b, ",\"message\":");
    if (!error)
        error = vs_http_put_string(&b, msg, strlen(msg));
    if (!error)
        error = vs_buf_putc(&b, '}');
    const char *key;
    json_t *value;
    json_object_foreach(extra, key, value)
    {
        char *text =
            error ? NULL : json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text) {
            error = error ? error : VS_ENOMEM;
            break;
        }
        error = vs_buf_putc(&b, ',');
        if (!error)
            error = vs_http_put_string(&b, key, strlen(key));
        if (!error)
            error = vs_buf_printf(&b, ":%s", text);
        free(text);
    }
    json_decref(extra);
    if (!error)
        error = vs_buf_putc(&b, '}');
    if (error < 0) {
        vs_buf_dispose(&b);
        static const char oom[] = "{\"error\":{\"code\":\"out_of_memory\","
                                  "\"message\":\"out of memory\"}}";
        return vs_req__send(req, 500, (void *)oom, sizeof(oom) - 1, NULL,
                            JSON_TYPE);
    }
    return vs_reply_buf(req, status, &b, JSON_TYPE);
}

int vs_reply_error_extra(vs_req *req, int code, json_t *extra)
{
    char msg[1024];
    const char *last = vs_error_last();
    snprintf(msg, sizeof(msg), "%s", last[0] ? last : vs_error_name(code));
    return send_error(req, vs_http_status_of(code), vs_error_name(code), msg,
                      extra);
}

int vs_reply_error(vs_req *req, int code)
{
    return vs_reply_error_extra(req, code, NULL);
}

int vs_reply_error_status(vs_req *req, unsigned status, const char *code,
                          const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return send_error(req, status, code, msg, NULL);
}

/* ---- JSON text ----------------------------------------------------------- */

int vs_http_put_string(vs_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int error = vs_buf_reserve(out, n + 2);
    if (error < 0)
        return error;
    out->ptr[out->len++] = '"';
    size_t run = 0; /* start of bytes that need no escape */
    for (size_t i = 0; i <= n && !error; i++) {
        unsigned char c = i < n ? (unsigned char)s[i] : 0;
        bool esc = i < n && (c < 0x20 || c == '"' || c == '\\');
        if (i < n && !esc)
            continue;
        error = vs_buf_put(out, s + run, i - run);
        run = i + 1;
        if (error || !esc)
            break;
        char e[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t k = 2;
        if (c == '\n')
            e[1] = 'n';
        else if (c == '\t')
            e[1] = 't';
        else if (c == '\r')
            e[1] = 'r';
        else if (c < 0x20) {
            memcpy(e, "\\u00", 4);
            error = vs_buf_put(out, e, 4);
            e[0] = hex[c >> 4];
            e[1] = hex[c & 15];
        }
        if (!error)
            error = vs_buf_put(out, e, k);
    }
    return error < 0 ? error : vs_buf_putc(out, '"');
}

int vs_http_put_float(vs_buf *out, float v)
{
    if (!isfinite(v))
        return vs_buf_puts(out, "null");
    char t[VS_FLOAT_TEXT_MAX];
    size_t n = vs_float_format(t, v);
    return vs_buf_put(out, t, n);
}
