/*
 * floatfmt: float32 <-> text, shortest round-trip form (a thin shim over
 * C++17 std::to_chars / std::from_chars, which are 4-5x faster than
 * printf("%.9g") / strtof and exact).
 */
#ifndef VS_FLOATFMT_H
#define VS_FLOATFMT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VS_FLOAT_TEXT_MAX 24

/* Writes the shortest text that parses back to the same float32 bits (no
 * NUL); returns its length.  `out` has room for VS_FLOAT_TEXT_MAX bytes.
 * -0.0 gives "-0".  Must not be called with NaN or infinity. */
size_t vs_float_format(char *out, float v);

/* Parses a JSON number from s[0..len) into the nearest float32.  *used gets
 * the bytes consumed.  Returns 0, or -1 when s does not start with a JSON
 * number (JSON grammar: optional '-', no leading '+', no leading zeros, no
 * "inf"/"nan", no hex) or when the value's magnitude exceeds FLT_MAX.  Values
 * below the smallest denormal round to (signed) zero. */
int vs_float_parse(float *out, const char *s, size_t len, size_t *used);

#ifdef __cplusplus
}
#endif

#endif
