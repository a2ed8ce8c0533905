/* error: thread-local last-error message and code names. */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 512

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local int last_code;

int vs_error_setv(int code, const char *fmt, va_list ap)
{
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    last_code = code;
    return code;
}

int vs_error_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vs_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int vs_error_set_os(int code, const char *fmt, ...)
{
    int saved = errno;
    char errbuf[128];
    const char *es = strerror_r(saved, errbuf, sizeof(errbuf));
    va_list ap;
    va_start(ap, fmt);
    vs_error_setv(code, fmt, ap);
    va_end(ap);
    size_t len = strlen(last_msg);
    if (len < sizeof(last_msg))
        snprintf(last_msg + len, sizeof(last_msg) - len, ": %s", es);
    errno = saved;
    return code;
}

int vs_error_oom(void)
{
    static const char msg[] = "out of memory";
    memcpy(last_msg, msg, sizeof(msg));
    last_code = VS_ENOMEM;
    return VS_ENOMEM;
}

const char *vs_error_last(void)
{
    return last_msg;
}

int vs_error_last_code(void)
{
    return last_code;
}

void vs_error_clear(void)
{
    last_msg[0] = '\0';
    last_code = 0;
}

const char *vs_error_name(int code)
{
    switch (code) {
    case VS_OK: return "ok";
    case VS_ENOMEM: return "out_of_memory";
    case VS_EIO: return "io_error";
    case VS_ENOTFOUND: return "not_found";
    case VS_EEXISTS: return "already_exists";
    case VS_EINVALID: return "invalid";
    case VS_ECORRUPT: return "corrupt";
    case VS_EVERSION: return "unsupported_version";
    case VS_ETOOBIG: return "too_large";
    case VS_EBUSY: return "busy";
    case VS_ECANCELLED: return "cancelled";
    case VS_EUPSTREAM: return "upstream_error";
    case VS_EKEY: return "key";
    default: return "error";
    }
}

int vs_error_code_of(const char *name)
{
    static const int codes[] = {VS_ENOMEM,   VS_EIO,      VS_ENOTFOUND,
                                VS_EEXISTS,  VS_EINVALID, VS_ECORRUPT,
                                VS_EVERSION, VS_ETOOBIG,  VS_EBUSY,
                                VS_ECANCELLED, VS_EUPSTREAM, VS_EKEY};
    for (size_t i = 0; name && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(name, vs_error_name(codes[i])) == 0)
            return codes[i];
    return VS_ERROR;
}
