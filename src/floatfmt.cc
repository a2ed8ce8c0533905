/*
 * floatfmt: float32 <-> JSON number text over C++17 <charconv>.
 *
 * Formatting is std::to_chars(float) without a format argument: the shortest
 * text that std::from_chars reads back to the same bits, in fixed or
 * scientific notation, whichever is shorter.  Its output is always a valid
 * JSON number for finite values ("-0", "1e-45", "3.4028235e+38").
 *
 * Parsing checks the JSON number grammar first (std::from_chars is laxer: it
 * reads "inf", "nan", "infinity" and leading-dot forms such as ".5"), then
 * calls std::from_chars(float), which rounds the decimal value once, exactly.
 *
 * Range: libstdc++ 12 returns the correctly rounded value for every result
 * that is a normal or denormal float (1e-45 gives 0x1p-149,
 * 1.17549435e-38 gives FLT_MIN) and result_out_of_range, leaving the output
 * untouched, both when the value rounds to zero (7e-46, 1e-400) and when it
 * rounds past FLT_MAX (3.5e38).  On result_out_of_range this file asks strtof
 * (on a NUL-terminated copy) which of the two it was: ±0 is accepted (JSON
 * text may legitimately hold values below the smallest denormal), ±inf is
 * refused.
 *
 * Built with -fno-exceptions -fno-rtti; nothing here throws or allocates on
 * the common path.
 */
#include "floatfmt.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace {

inline bool is_digit(unsigned char c)
{
    return static_cast<unsigned>(c - '0') < 10u;
}

/* Length of the JSON number at s[0..len), or 0 when there is none. */
size_t json_number_length(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && is_digit(static_cast<unsigned char>(s[i])))
            i++;
    } else {
        return 0;
    }
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(static_cast<unsigned char>(s[i])))
            i++;
        if (i == start)
            return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < len && is_digit(static_cast<unsigned char>(s[i])))
            i++;
        if (i == start)
            return 0;
    }
    return i;
}

/* The out-of-range case: strtof tells underflow (±0) from overflow (±inf). */
int parse_out_of_range(float *out, const char *s, size_t n)
{
    char small[128];
    char *copy = small;
    if (n >= sizeof(small)) {
        copy = static_cast<char *>(std::malloc(n + 1));
        if (!copy)
            return -1;
    }
    std::memcpy(copy, s, n);
    copy[n] = '\0';
    float v = std::strtof(copy, nullptr);
    if (copy != small)
        std::free(copy);
    if (std::isinf(v) || std::isnan(v))
        return -1;
    *out = v;
    return 0;
}

} // namespace

extern "C" size_t vs_float_format(char *out, float v)
{
    std::to_chars_result r = std::to_chars(out, out + VS_FLOAT_TEXT_MAX, v);
    return static_cast<size_t>(r.ptr - out);
}

extern "C" int vs_float_parse(float *out, const char *s, size_t len,
                              size_t *used)
{
    *used = 0;
    size_t n = json_number_length(s, len);
    if (n == 0)
        return -1;
    float v = 0.0f;
    std::from_chars_result r =
        std::from_chars(s, s + n, v, std::chars_format::general);
    if (r.ec == std::errc::result_out_of_range) {
        if (parse_out_of_range(&v, s, n) < 0)
            return -1;
    } else if (r.ec != std::errc() || r.ptr != s + n) {
        return -1;
    }
    *out = v;
    *used = n;
    return 0;
}
