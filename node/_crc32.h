/* CRC-32 (zlib's: the reflected polynomial 0xEDB88320, pre- and post-inverted)
 * by carry-less multiplication, for the journal reader (node/_journal.pyx).
 *
 * tokex_crc32(crc, buf, len) returns what zlib's crc32(crc, buf, len) returns.
 * On x86-64 with PCLMULQDQ (checked once, at tokex_crc32_init) a buffer of 16
 * bytes or more is folded 16 bytes at a time in a 128-bit register, four
 * registers side by side while 64 bytes or more are left: folding a block
 * forward by n bits multiplies each 64-bit half by x^k mod P (a 33-bit
 * constant), two carry-less multiplications, instead of a table look-up per
 * byte. The last 128-bit remainder and the bytes after it (fewer than 16)
 * go through tables eight bytes a step (slicing by 8), and so does a buffer
 * under 16 bytes (a record header's 12). Without PCLMULQDQ a longer buffer
 * goes to zlib's crc32.
 *
 * Why the constants: a 16-byte block read little-endian holds the message's
 * bits lowest first, so bit i stands for x^(127-i) of the block's polynomial
 * (the bit-reflected order zlib's CRC uses). Moving the block 128 bits on
 * multiplies its first 64 bits (degrees 127..64) by x^192 and its last 64 by
 * x^128. A 64-bit half times a reflected 33-bit constant lands in the low 96
 * bits of the product, which read as a 128-bit block stand for the product
 * times x^32; so the constants are x^(192-32) and x^(128-32) mod P, reflected
 * in 33 bits (reflected in 32, shifted left by one). Moving 512 bits on takes
 * x^(576-32) and x^(512-32). Only values congruent modulo P matter: the table
 * reduces the final block to the CRC. tests/unit/node/test_journal_crc.py
 * compares the result with zlib's for every length up to 1,100 bytes, any
 * alignment and any starting value.
 */
#ifndef TOKEX_CRC32_H
#define TOKEX_CRC32_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* tokex_crc_table[k][b]: the CRC step of byte b followed by k zero bytes (slicing by 8). */
static uint32_t tokex_crc_table[8][256];
static int tokex_crc_clmul = 0; /* 1 once tokex_crc32_init has found PCLMULQDQ */

/* The raw (not inverted) CRC state after ``len`` bytes from ``state``: on a
 * little-endian machine eight bytes a step, each looked up in its own table
 * (eight independent loads, not a chain of eight), then byte by byte. */
static inline uint32_t
tokex_crc_bytes(uint32_t state, const unsigned char *buf, size_t len)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, buf, 8); /* the eight bytes, first in the low bits */
        w ^= state;
        state = tokex_crc_table[7][w & 0xff] ^ tokex_crc_table[6][(w >> 8) & 0xff]
              ^ tokex_crc_table[5][(w >> 16) & 0xff] ^ tokex_crc_table[4][(w >> 24) & 0xff]
              ^ tokex_crc_table[3][(w >> 32) & 0xff] ^ tokex_crc_table[2][(w >> 40) & 0xff]
              ^ tokex_crc_table[1][(w >> 48) & 0xff] ^ tokex_crc_table[0][w >> 56];
        buf += 8;
        len -= 8;
    }
#endif
    while (len--)
        state = tokex_crc_table[0][(state ^ *buf++) & 0xff] ^ (state >> 8);
    return state;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TOKEX_CRC_CAN_CLMUL 1
#include <immintrin.h>

/* x^n mod P, reflected in 33 bits (see above). */
#define TOKEX_K_544 0x154442bd4ULL
#define TOKEX_K_480 0x1c6e41596ULL
#define TOKEX_K_160 0x1751997d0ULL
#define TOKEX_K_96 0x0ccaa009eULL

__attribute__((target("pclmul,sse2"))) static inline __m128i
tokex_crc_fold(__m128i x, __m128i k)
{
    /* lo64(x) * lo64(k) xor hi64(x) * hi64(k) */
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* The raw (not inverted) CRC state after ``len`` >= 16 bytes from ``state``. */
__attribute__((target("pclmul,sse2"))) static uint32_t
tokex_crc32_clmul(uint32_t state, const unsigned char *buf, size_t len)
{
    const __m128i k1 = _mm_set_epi64x((long long)TOKEX_K_480, (long long)TOKEX_K_544);
    const __m128i k3 = _mm_set_epi64x((long long)TOKEX_K_96, (long long)TOKEX_K_160);
    __m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)buf),
                              _mm_cvtsi32_si128((int)state));
    size_t i = 16;
    if (len >= 64) {
        __m128i a1 = _mm_loadu_si128((const __m128i *)(buf + 16));
        __m128i a2 = _mm_loadu_si128((const __m128i *)(buf + 32));
        __m128i a3 = _mm_loadu_si128((const __m128i *)(buf + 48));
        i = 64;
        while (len - i >= 64) {
            x = _mm_xor_si128(tokex_crc_fold(x, k1), _mm_loadu_si128((const __m128i *)(buf + i)));
            a1 = _mm_xor_si128(tokex_crc_fold(a1, k1),
                               _mm_loadu_si128((const __m128i *)(buf + i + 16)));
            a2 = _mm_xor_si128(tokex_crc_fold(a2, k1),
                               _mm_loadu_si128((const __m128i *)(buf + i + 32)));
            a3 = _mm_xor_si128(tokex_crc_fold(a3, k1),
                               _mm_loadu_si128((const __m128i *)(buf + i + 48)));
            i += 64;
        }
        x = _mm_xor_si128(tokex_crc_fold(x, k3), a1);
        x = _mm_xor_si128(tokex_crc_fold(x, k3), a2);
        x = _mm_xor_si128(tokex_crc_fold(x, k3), a3);
    }
    while (len - i >= 16) {
        x = _mm_xor_si128(tokex_crc_fold(x, k3), _mm_loadu_si128((const __m128i *)(buf + i)));
        i += 16;
    }
    unsigned char last[16];
    _mm_storeu_si128((__m128i *)last, x);
    return tokex_crc_bytes(tokex_crc_bytes(0, last, 16), buf + i, len - i);
}
#endif

/* Fill the table and choose the path; call once before tokex_crc32. */
static void
tokex_crc32_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ ((c & 1) ? 0xEDB88320u : 0u);
        tokex_crc_table[0][n] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t c = tokex_crc_table[k - 1][n];
            tokex_crc_table[k][n] = (c >> 8) ^ tokex_crc_table[0][c & 0xff];
        }
#ifdef TOKEX_CRC_CAN_CLMUL
    __builtin_cpu_init();
    tokex_crc_clmul = __builtin_cpu_supports("pclmul") ? 1 : 0;
#endif
}

/* zlib's crc32(crc, buf, len), for any len. */
static inline uint32_t
tokex_crc32(uint32_t crc, const unsigned char *buf, size_t len)
{
    if (len < 16) /* a record header's 12 bytes: the tables, no call into zlib */
        return ~tokex_crc_bytes(~crc, buf, len);
#ifdef TOKEX_CRC_CAN_CLMUL
    if (tokex_crc_clmul)
        return ~tokex_crc32_clmul(~crc, buf, len);
#endif
    while (len > 0x40000000u) { /* zlib's crc32 takes an unsigned int length */
        crc = (uint32_t)crc32(crc, buf, 0x40000000u);
        buf += 0x40000000u;
        len -= 0x40000000u;
    }
    return (uint32_t)crc32(crc, buf, (unsigned int)len);
}

#endif
