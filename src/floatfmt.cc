/*
 * floatfmt: float32 <-> JSON number text, shortest round-trip form.
 *
 * Formatting gives exactly what std::to_chars(float) gives (the shortest
 * text that reads back to the same bits, in fixed or scientific notation,
 * whichever is shorter, fixed on a tie; "-0", "1e-45", "3.4028235e+38"),
 * somewhat faster (28 vs 34 ns a float here): the digits come from
 * Raffaello Giulietti's Schubfach algorithm specialised to binary32 (one
 * 64x64-bit multiplication per bound, a 77-entry table of powers of ten),
 * then are laid out the way to_chars lays them out; integers in fixed
 * notation are printed exactly, as to_chars picks the closest of equally
 * long texts.  Denormals below 128 ulps, where more than one digit may have
 * to go, are left to to_chars.  The output was checked against
 * std::to_chars for all 2^32 bit patterns.
 *
 * Parsing is one pass that checks the JSON grammar (std::from_chars is
 * laxer: it reads "inf", "nan" and ".5") while gathering up to 19 mantissa
 * digits, eight at a time.  Most numbers then take Clinger's fast path: with
 * the mantissa below 2^53 and |exponent| <= 22, one double multiplication or
 * division is correctly rounded, and rounding that double to float is the
 * correctly rounded float unless the double is exactly a midpoint between
 * two floats (every such midpoint is a double, so none lies strictly between
 * the decimal value and its double).  Midpoints, long mantissas and large
 * exponents go to std::from_chars(float), which rounds exactly.  The whole
 * costs less than from_chars alone (16.5 vs 20 ns a number here), where a
 * separate grammar check before from_chars cost half as much again.
 *
 * Range: libstdc++ 12's from_chars returns the correctly rounded value for
 * every result that is a normal or denormal float (1e-45 gives 0x1p-149,
 * 1.17549435e-38 gives FLT_MIN) and result_out_of_range, leaving the output
 * untouched, both when the value rounds to zero (7e-46, 1e-400) and when it
 * rounds past FLT_MAX (3.5e38).  On result_out_of_range this file asks strtof
 * (on a NUL-terminated copy) which of the two it was: a signed zero is
 * accepted (text may hold values below the smallest denormal), infinity is
 * refused.
 *
 * Built with -fno-exceptions -fno-rtti; nothing here throws, and only an
 * out-of-range number longer than 127 characters allocates.
 */
#include "floatfmt.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace {

inline bool is_digit(unsigned char c)
{
    return static_cast<unsigned>(c - '0') < 10u;
}

const uint64_t pow10_u64[9] = {1,      10,      100,      1000,     10000,
                               100000, 1000000, 10000000, 100000000};
const double pow10_f64[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                              1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                              1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define MANTISSA_DIGITS 19 /* 10^19 - 1 fits in 64 bits */

/* The value of eight ASCII digits, the first one most significant (bytes
 * that are 0x00 count as leading zeros). */
inline uint64_t parse8(uint64_t v)
{
    v = ((v & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    v = ((v & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return ((v & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32;
}

/* Consumes a run of ASCII digits from s[0..len), appending them to the
 * decimal mantissa `acc` while it has at most MANTISSA_DIGITS digits (`nd`
 * counts them; past the limit nd becomes a large sentinel).  Returns the
 * run's length.  Eight bytes at a time where possible: a byte loop pays a
 * branch misprediction at the end of each randomly long run. */
inline size_t scan_digits(const char *s, size_t len, uint64_t &acc, int &nd)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    while (len - i >= 8) {
        uint64_t w;
        std::memcpy(&w, s + i, 8);
        uint64_t x = w & ~high;              /* low 7 bits of each byte */
        uint64_t ge_0 = x + ones * 0x50;     /* bit 7 set: x >= '0' */
        uint64_t ge_colon = x + ones * 0x46; /* bit 7 set: x > '9' */
        uint64_t other = ~(ge_0 & ~ge_colon & ~w) & high;
        size_t k = other ? static_cast<size_t>(__builtin_ctzll(other)) / 8
                         : 8;
        if (k > 0) {
            if (nd + static_cast<int>(k) <= MANTISSA_DIGITS) {
                /* keep the k digits, as the low-order end of the value */
                uint64_t digits = w << (8 * (8 - k));
                acc = acc * pow10_u64[k] + parse8(digits);
                nd += static_cast<int>(k);
            } else {
                nd = 1000;
            }
        }
        i += k;
        if (k < 8)
            return i;
    }
#endif
    while (i < len && is_digit(static_cast<unsigned char>(s[i]))) {
        if (nd < MANTISSA_DIGITS) {
            acc = acc * 10 + static_cast<unsigned>(s[i] - '0');
            nd++;
        } else {
            nd = 1000;
        }
        i++;
    }
    return i;
}

/* Clinger's fast path: w * 10^e10 with w and 10^|e10| exact doubles is one
 * correctly rounded double operation.  Rounding that double to float gives
 * the correctly rounded float of the decimal unless the double landed exactly
 * on a midpoint between two floats (every such midpoint is a double, so no
 * midpoint lies strictly between the decimal and its nearest double); that
 * rare case, and everything outside the fast range, returns false. */
inline bool fast_path(float *out, uint64_t w, long e10)
{
    if (w == 0) {
        *out = 0.0f;
        return true;
    }
    if (w > (1ULL << 53) || e10 < -22 || e10 > 22)
        return false;
    double x = static_cast<double>(w);
    x = e10 < 0 ? x / pow10_f64[-e10] : x * pow10_f64[e10];
    /* x lies in [1e-22, 1e38), where floats are normal and have 24
     * significant bits of the double's 53: x is a midpoint when the 29 bits
     * below them are exactly 1000...0. */
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    if ((bits & 0x1FFFFFFFULL) == 0x10000000ULL)
        return false;
    *out = static_cast<float>(x);
    return true;
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

/* ---- formatting: Schubfach for binary32 ---------------------------------- */

/* g1[k + 45] = floor(g / 2^63) where g = floor(10^-k / 2^r) + 1 and r is
 * chosen so that 2^125 <= 10^-k / 2^r < 2^126, for k = -45 ... 31 (the
 * decimal exponents binary32 values need).  Generated with exact rational
 * arithmetic (Python fractions). */
const uint64_t g1_table[77] = {
    0x59aedfc10d7279c5ULL, 0x47bf19673df52e37ULL, 0x72cb5bd86321e38cULL,
    0x5bd5e313828182d6ULL, 0x4977e8dc68679bdfULL, 0x758ca7c70d7292feULL,
    0x5e0a1fd271287598ULL, 0x4b3b4ca85a86c47aULL, 0x785ee10d5da46d90ULL,
    0x604be73de4838ad9ULL, 0x4d0985cb1d3608aeULL, 0x7b426fab61f00de3ULL,
    0x629b8c891b267182ULL, 0x4ee2d6d415b85aceULL, 0x7e37be2022c0914bULL,
    0x64f964e68233a76fULL, 0x50c783eb9b5c85f2ULL, 0x409f9cbc7c4a04c2ULL,
    0x6765c793fa10079dULL, 0x52b7d2dcc80cd2e4ULL, 0x422ca8b0a00a4250ULL,
    0x69e10de76676d080ULL, 0x54b40b1f852bda00ULL, 0x43c33c1937564800ULL,
    0x6c6b935b8bbd4000ULL, 0x56bc75e2d6310000ULL, 0x4563918244f40000ULL,
    0x6f05b59d3b200000ULL, 0x58d15e1762800000ULL, 0x470de4df82000000ULL,
    0x71afd498d0000000ULL, 0x5af3107a40000000ULL, 0x48c2739500000000ULL,
    0x746a528800000000ULL, 0x5d21dba000000000ULL, 0x4a817c8000000000ULL,
    0x7735940000000000ULL, 0x5f5e100000000000ULL, 0x4c4b400000000000ULL,
    0x7a12000000000000ULL, 0x61a8000000000000ULL, 0x4e20000000000000ULL,
    0x7d00000000000000ULL, 0x6400000000000000ULL, 0x5000000000000000ULL,
    0x4000000000000000ULL, 0x6666666666666666ULL, 0x51eb851eb851eb85ULL,
    0x4189374bc6a7ef9dULL, 0x68db8bac710cb295ULL, 0x53e2d6238da3c211ULL,
    0x431bde82d7b634daULL, 0x6b5fca6af2bd215eULL, 0x55e63b88c230e77eULL,
    0x44b82fa09b5a52cbULL, 0x6df37f675ef6eadfULL, 0x57f5ff85e592557fULL,
    0x465e6604b7a84465ULL, 0x709709a125da0709ULL, 0x5a126e1a84ae6c07ULL,
    0x480ebe7b9d58566cULL, 0x734aca5f6226f0adULL, 0x5c3bd5191b525a24ULL,
    0x49c97747490eae83ULL, 0x760f253edb4ab0d2ULL, 0x5e72843249088d75ULL,
    0x4b8ed0283a6d3df7ULL, 0x78e480405d7b9658ULL, 0x60b6cd004ac94513ULL,
    0x4d5f0a66a23a9da9ULL, 0x7bcb43d769f762a8ULL, 0x63090312bb2c4eedULL,
    0x4f3a68dbc8f03f24ULL, 0x7ec3daf941806506ULL, 0x65697bfa9acd1d9fULL,
    0x51212ffbaf0a7e18ULL, 0x40e7599625a1fe7aULL,
};

inline int flog10pow2(int e)
{
    return static_cast<int>(static_cast<int64_t>(e) * 661971961083LL >> 41);
}

inline int flog10_three_quarters_pow2(int e)
{
    return static_cast<int>(
        (static_cast<int64_t>(e) * 661971961083LL - 274743187321LL) >> 41);
}

inline int flog2pow10(int e)
{
    return static_cast<int>(static_cast<int64_t>(e) * 913124641741LL >> 38);
}

/* The product's high half, rounded to odd (the "rop" of the paper). */
inline uint32_t round_to_odd(uint64_t g, uint64_t cp)
{
    unsigned __int128 p = static_cast<unsigned __int128>(g) * cp;
    uint64_t x1 = static_cast<uint64_t>(p >> 64);
    return static_cast<uint32_t>((x1 >> 31) |
                                 (((x1 & 0xffffffffULL) + 0xffffffffULL) >>
                                  32));
}

/* Giulietti's Schubfach: the shortest decimal d * 10^e in the rounding
 * interval of c * 2^q, the closest one when there are several. */
void schubfach(uint32_t c, int q, uint32_t *d, int *e)
{
    uint32_t out = c & 1;
    uint64_t cb = static_cast<uint64_t>(c) << 2;
    uint64_t cbr = cb + 2, cbl;
    int k;
    if (c != (1u << 23) || q == -149) {
        cbl = cb - 2;
        k = flog10pow2(q);
    } else { /* at a power of two the interval below is half as wide */
        cbl = cb - 1;
        k = flog10_three_quarters_pow2(q);
    }
    int h = q + flog2pow10(-k) + 33;
    uint64_t g = g1_table[k + 45] + 1;
    uint32_t vb = round_to_odd(g, cb << h);
    uint32_t vbl = round_to_odd(g, cbl << h);
    uint32_t vbr = round_to_odd(g, cbr << h);
    uint32_t s = vb >> 2;
    if (s >= 100) {
        uint32_t sp10 =
            10 * static_cast<uint32_t>(static_cast<uint64_t>(s) *
                                       1717986919ULL >> 34);
        uint32_t tp10 = sp10 + 10;
        bool upin = vbl + out <= sp10 << 2;
        bool wpin = (tp10 << 2) + out <= vbr;
        if (upin != wpin) {
            *d = upin ? sp10 : tp10;
            *e = k;
            return;
        }
    }
    uint32_t t = s + 1;
    bool uin = vbl + out <= s << 2;
    bool win = (t << 2) + out <= vbr;
    *e = k;
    if (uin != win) {
        *d = uin ? s : t;
        return;
    }
    int64_t cmp = static_cast<int64_t>(vb) - static_cast<int64_t>((s + t) << 1);
    *d = cmp < 0 || (cmp == 0 && (s & 1) == 0) ? s : t;
}

/* Writes |v| (finite, not zero) in std::to_chars' shortest form: the digits
 * of the shortest round-trip decimal, in fixed notation when that is not
 * longer than scientific, with an integer printed exactly (as to_chars does:
 * among texts of equal length it picks the closest).  Returns the end. */
char *format_abs(char *p, float a, uint32_t bits)
{
    uint32_t frac = bits & 0x7fffff, bexp = (bits >> 23) & 0xff;
    uint32_t d;
    int e;
    if (bexp == 0) {
        if (frac < 128) /* tiny denormals: more than one digit to drop */
            return std::to_chars(p, p + VS_FLOAT_TEXT_MAX, a).ptr;
        schubfach(frac, -149, &d, &e);
    } else {
        int mq = 150 - static_cast<int>(bexp);
        uint32_t c = (1u << 23) | frac;
        if (mq > 0 && mq < 24 && ((c >> mq) << mq) == c) {
            d = c >> mq; /* a small integer */
            e = 0;
        } else {
            schubfach(c, -mq, &d, &e);
        }
    }
    /* d (below 2^32) as ten digits, two at a time */
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char digits[10];
    uint32_t hi = d / 100000000, lo = d % 100000000;
    uint32_t lo_hi = lo / 10000, lo_lo = lo % 10000;
    std::memcpy(digits, pairs + 2 * hi, 2);
    std::memcpy(digits + 2, pairs + 2 * (lo_hi / 100), 2);
    std::memcpy(digits + 4, pairs + 2 * (lo_hi % 100), 2);
    std::memcpy(digits + 6, pairs + 2 * (lo_lo / 100), 2);
    std::memcpy(digits + 8, pairs + 2 * (lo_lo % 100), 2);
    int n = 1 + (d >= 10) + (d >= 100) + (d >= 1000) + (d >= 10000) +
            (d >= 100000) + (d >= 1000000) + (d >= 10000000) +
            (d >= 100000000) + (d >= 1000000000);
    const char *first = digits + 10 - n;
    while (first[n - 1] == '0') { /* no trailing zeros in the digits */
        n--;
        e++;
    }
    int x10 = e + n - 1; /* scientific exponent */
    int sci = n + (n > 1) + 2 + (x10 <= -100 || x10 >= 100 ? 3 : 2);
    int fixed = e >= 0 ? n + e : (-e < n ? n + 1 : 2 - e);
    if (fixed > sci) {
        *p++ = first[0];
        if (n > 1) {
            *p++ = '.';
            std::memcpy(p, first + 1, static_cast<size_t>(n - 1));
            p += n - 1;
        }
        *p++ = 'e';
        *p++ = x10 < 0 ? '-' : '+';
        int ax = x10 < 0 ? -x10 : x10;
        *p++ = static_cast<char>('0' + ax / 10);
        *p++ = static_cast<char>('0' + ax % 10);
    } else if (e > 0) { /* an integer: print its exact value */
        return std::to_chars(p, p + VS_FLOAT_TEXT_MAX,
                             static_cast<uint64_t>(a))
            .ptr;
    } else if (e == 0) {
        std::memcpy(p, first, static_cast<size_t>(n));
        p += n;
    } else if (-e < n) {
        std::memcpy(p, first, static_cast<size_t>(n + e));
        p += n + e;
        *p++ = '.';
        std::memcpy(p, first + n + e, static_cast<size_t>(-e));
        p += -e;
    } else {
        *p++ = '0';
        *p++ = '.';
        std::memset(p, '0', static_cast<size_t>(-e - n));
        p += -e - n;
        std::memcpy(p, first, static_cast<size_t>(n));
        p += n;
    }
    return p;
}

} /* namespace */

extern "C" size_t vs_float_format(char *out, float v)
{
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    char *p = out;
    if (bits >> 31)
        *p++ = '-';
    if ((bits & 0x7fffffff) == 0) {
        *p++ = '0';
        return static_cast<size_t>(p - out);
    }
    return static_cast<size_t>(format_abs(p, std::fabs(v), bits) - out);
}

extern "C" int vs_float_parse(float *out, const char *s, size_t len,
                              size_t *used)
{
    *used = 0;
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (neg)
        i++;
    if (i >= len)
        return -1;
    uint64_t w = 0;
    int nd = 0;
    long e10 = 0;
    if (s[i] == '0')
        i++;
    else if (s[i] >= '1' && s[i] <= '9')
        i += scan_digits(s + i, len - i, w, nd);
    else
        return -1;
    if (i < len && s[i] == '.') {
        size_t k = scan_digits(s + i + 1, len - i - 1, w, nd);
        if (k == 0)
            return -1;
        e10 -= static_cast<long>(k);
        i += 1 + k;
    }
    if (i < len && (s[i] | 0x20) == 'e') {
        i++;
        bool eneg = false;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        size_t start = i;
        long ev = 0;
        while (i < len && is_digit(static_cast<unsigned char>(s[i]))) {
            if (ev < 1000000)
                ev = ev * 10 + (s[i] - '0');
            i++;
        }
        if (i == start)
            return -1;
        e10 += eneg ? -ev : ev;
    }
    float v;
    if (nd <= MANTISSA_DIGITS && fast_path(&v, w, e10)) {
        *out = neg ? -v : v;
        *used = i;
        return 0;
    }
    std::from_chars_result r =
        std::from_chars(s, s + i, v, std::chars_format::general);
    if (r.ec == std::errc::result_out_of_range) {
        if (parse_out_of_range(&v, s, i) < 0)
            return -1;
    } else if (r.ec != std::errc() || r.ptr != s + i) {
        return -1;
    }
    *out = v;
    *used = i;
    return 0;
}
