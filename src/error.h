/*
 * error: the error codes every fallible function returns, and the one-line
 * message that explains the last failure on this thread.
 *
 * A fallible function returns 0 on success or a negative vs_errcode.  The
 * message lives in thread-local storage: set it where the failure is detected
 * (vs_error_set), pass the code up unchanged, read it where the error is
 * handled (vs_error_last).  Never overwrite a message you did not create.
 */
#ifndef VS_ERROR_H
#define VS_ERROR_H

#include <stdarg.h>

typedef enum vs_errcode {
    VS_OK = 0,
    VS_ERROR = -1,      /* generic failure */
    VS_ENOMEM = -2,     /* out of memory */
    VS_EIO = -3,        /* an operating-system I/O call failed */
    VS_ENOTFOUND = -4,  /* no such collection, record, snapshot, file */
    VS_EEXISTS = -5,    /* already exists */
    VS_EINVALID = -6,   /* invalid argument or input */
    VS_ECORRUPT = -7,   /* bad magic, checksum, length or structure */
    VS_EVERSION = -8,   /* a format version this build does not read */
    VS_ETOOBIG = -9,    /* a limit was exceeded */
    VS_EBUSY = -10,     /* a conflicting operation is in progress */
    VS_ECANCELLED = -11,/* cancelled by the caller */
    VS_EUPSTREAM = -12, /* a remote service failed */
    VS_EKEY = -13       /* encrypted data: no key, or the wrong one */
} vs_errcode;

#define VS_FMT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define VS_WARN_UNUSED __attribute__((warn_unused_result))

/* Record a message for `code` and return `code`, so that a failure site can
 * read `return vs_error_set(VS_EINVALID, "bad name '%s'", name);`. */
int vs_error_set(int code, const char *fmt, ...) VS_FMT_PRINTF(2, 3);
int vs_error_setv(int code, const char *fmt, va_list ap) VS_FMT_PRINTF(2, 0);

/* As vs_error_set, with ": <strerror(errno)>" appended (errno is read first). */
int vs_error_set_os(int code, const char *fmt, ...) VS_FMT_PRINTF(2, 3);

/* Record out-of-memory without allocating; returns VS_ENOMEM. */
int vs_error_oom(void);

/* The message of the last failure on this thread ("" when none). */
const char *vs_error_last(void);

/* The code recorded with the last message (0 when none). */
int vs_error_last_code(void);

/* Forget the last message: call it when an error was handled and work goes on. */
void vs_error_clear(void);

/* A short stable name for a code: "invalid", "corrupt", "not_found", ... */
const char *vs_error_name(int code);
/* The code of such a name (VS_ERROR for an unknown one). */
int vs_error_code_of(const char *name);

#endif
