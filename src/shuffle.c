/*
 * shuffle: byte-plane transposition of float32 blocks (4-byte elements).
 * Plane p of the output holds byte p of every element, in element order:
 * dst[p * n + i] = src[4 * i + p].
 *
 * With SSE2, 16 elements (64 bytes, four registers) are transposed at a
 * time.  One "round" interleaves the bytes of registers (A, C) and (B, D)
 * with unpacklo/unpackhi_epi8; viewing the 64 bytes as one array indexed by
 * 6 bits, a round rotates every byte's index left by one bit.  Shuffling
 * maps index (i:4 bits, p:2 bits) to (p, i), a rotation by 4: four rounds.
 * Unshuffling is the inverse rotation by 2: two rounds.  Tails and other
 * CPUs use the scalar loops.
 */
#include "shuffle.h"

#if defined(__SSE2__)
#include <emmintrin.h>

static inline void round4(__m128i v[4])
{
    __m128i a = _mm_unpacklo_epi8(v[0], v[2]);
    __m128i b = _mm_unpackhi_epi8(v[0], v[2]);
    __m128i c = _mm_unpacklo_epi8(v[1], v[3]);
    __m128i d = _mm_unpackhi_epi8(v[1], v[3]);
    v[0] = a;
    v[1] = b;
    v[2] = c;
    v[3] = d;
}
#endif

void vs_shuffle4(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm_loadu_si128((const __m128i *)(src + 4 * i + 16 * k));
        round4(v);
        round4(v);
        round4(v);
        round4(v);
        for (int p = 0; p < 4; p++)
            _mm_storeu_si128((__m128i *)(dst + (size_t)p * n + i), v[p]);
    }
#endif
    for (; i < n; i++) {
        dst[i] = src[4 * i];
        dst[n + i] = src[4 * i + 1];
        dst[2 * n + i] = src[4 * i + 2];
        dst[3 * n + i] = src[4 * i + 3];
    }
}

void vs_unshuffle4(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        for (int p = 0; p < 4; p++)
            v[p] = _mm_loadu_si128((const __m128i *)(src + (size_t)p * n + i));
        round4(v);
        round4(v);
        for (int k = 0; k < 4; k++)
            _mm_storeu_si128((__m128i *)(dst + 4 * i + 16 * k), v[k]);
    }
#endif
    for (; i < n; i++) {
        dst[4 * i] = src[i];
        dst[4 * i + 1] = src[n + i];
        dst[4 * i + 2] = src[2 * n + i];
        dst[4 * i + 3] = src[3 * n + i];
    }
}
