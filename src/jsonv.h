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

/* Checks that text[0..len) is exactly one JSON object (surrounding white space
 * allowed).  VS_EINVALID with a message naming the byte offset. */
int vs_jsonv_check_object(const char *text, size_t len);

/* Validate one JSON value and write it without insignificant white space to
 * out (room for len bytes).  *out_len gets the compact length.  Fails like
 * vs_jsonv_check_object, but accepts any value kind when `object_only` is 0. */
int vs_jsonv_compact(char *out, size_t *out_len, const char *text, size_t len,
                     int object_only);

#endif
