/*
 * jsonv: a fast, allocation-free JSON validator and compactor for the
 * metadata objects the store keeps as text.  Strict RFC 8259: no trailing
 * commas, no comments, valid UTF-8 and escapes, nesting at most
 * VS_JSONV_DEPTH_MAX.
 */
#ifndef VS_JSONV_H
#define VS_JSONV_H

#include <stddef.h>

#include "error.h"

#define VS_JSONV_DEPTH_MAX 64

/* The one UTF-8 rule of the project (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF): the length of the well-formed
 * sequence at p, whose lead byte is >= 0x80, or 0.  Inline because string
 * scans call it per character. */
static inline size_t vs_utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0xC2)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3)
            return 0;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4)
            return 0;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Checks that text[0..len) is exactly one JSON object (surrounding white space
 * allowed).  VS_EINVALID with a message naming the byte offset. */
int vs_jsonv_check_object(const char *text, size_t len);

/* Validate one JSON value and write it without insignificant white space to
 * out (room for len bytes).  *out_len gets the compact length.  Fails like
 * vs_jsonv_check_object, but accepts any value kind when `object_only` is 0. */
int vs_jsonv_compact(char *out, size_t *out_len, const char *text, size_t len,
                     int object_only);

#endif
