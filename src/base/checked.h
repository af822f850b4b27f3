/*
 * Checked arithmetic for offsets and lengths that come from a file.
 *
 * Each helper returns true and stores the result when it is exact, and
 * returns false (leaving *out unspecified) when the result does not fit.
 * Callers must look at the result: they are MUST_USE.
 */
#ifndef VHDX_BASE_CHECKED_H
#define VHDX_BASE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"

MUST_USE static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

MUST_USE static inline bool ck_sub_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_sub_overflow(a, b, out);
}

MUST_USE static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* True when x is a power of two (0 is not). */
static inline bool is_pow2_u64(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

/* Rounds v up to a multiple of align, which must be a power of two. */
MUST_USE static inline bool ck_align_up_u64(uint64_t v, uint64_t align, uint64_t *out)
{
    uint64_t t;
    if (!is_pow2_u64(align))
        return false;
    if (!ck_add_u64(v, align - 1, &t))
        return false;
    *out = t & ~(align - 1);
    return true;
}

/* True when v is a multiple of align (a power of two). */
static inline bool is_aligned_u64(uint64_t v, uint64_t align)
{
    return is_pow2_u64(align) && (v & (align - 1)) == 0;
}

/* v << shift, failing when shift >= 64 or a set bit would be shifted out. */
MUST_USE static inline bool ck_shl_u64(uint64_t v, unsigned shift, uint64_t *out)
{
    if (shift >= 64)
        return false;
    if (shift > 0 && (v >> (64 - shift)) != 0)
        return false;
    *out = v << shift;
    return true;
}

/* v >> shift, failing when shift >= 64 (which is undefined in C). */
MUST_USE static inline bool ck_shr_u64(uint64_t v, unsigned shift, uint64_t *out)
{
    if (shift >= 64)
        return false;
    *out = v >> shift;
    return true;
}

/* Ceil(a / b); fails when b is 0. Never overflows. */
MUST_USE static inline bool ck_div_ceil_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (b == 0)
        return false;
    *out = a / b + (a % b != 0);
    return true;
}

/* Narrowing with a check. */
MUST_USE static inline bool ck_u64_to_u32(uint64_t v, uint32_t *out)
{
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

MUST_USE static inline bool ck_u64_to_size(uint64_t v, size_t *out)
{
    if (v > SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

/* The end of [off, off + len), failing on overflow. */
MUST_USE static inline bool ck_range_end(uint64_t off, uint64_t len, uint64_t *end)
{
    return ck_add_u64(off, len, end);
}

/* True when [a_off, a_off+a_len) and [b_off, b_off+b_len) share a byte. */
static inline bool ranges_overlap(uint64_t a_off, uint64_t a_len, uint64_t b_off, uint64_t b_len)
{
    if (a_len == 0 || b_len == 0)
        return false;
    /* Written so that no end is computed: correct even when an end would overflow. */
    return a_off <= b_off ? b_off - a_off < a_len : a_off - b_off < b_len;
}

#endif
