/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as VHDX uses it.
 *
 * crc32c(0, p, n) is the CRC of p[0..n). Calls chain:
 *     crc32c(crc32c(0, a, na), b, nb) == crc32c(0, a||b, na + nb).
 * The hardware path (SSE4.2 crc32, three interleaved streams) is chosen at
 * run time when the CPU has it; the portable path is slicing-by-8.
 */
#ifndef VHDX_BASE_CRC32C_H
#define VHDX_BASE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dispatches to the fastest available implementation. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

/* The portable slicing-by-8 implementation. */
uint32_t crc32c_portable(uint32_t crc, const void *data, size_t len);

/* The SSE4.2 implementation; only call it when crc32c_hw_available(). */
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t len);

/*
 * True when the CPU supports the SSE4.2 crc32 instruction and PCLMULQDQ
 * (which joins the three interleaved streams).
 */
bool crc32c_hw_available(void);

/*
 * crc32c(crc, z, n) for n zero bytes z, without reading any: O(log n)
 * multiplications in GF(2)[x] mod P.
 */
uint32_t crc32c_zeros(uint32_t crc, uint64_t n);

/*
 * CRC of a structure whose 4-byte checksum field at `field_off` counts as
 * zero, without copying the buffer. field_off + 4 must be <= len.
 */
uint32_t crc32c_with_zero_field(const uint8_t *data, size_t len, size_t field_off);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/*
 * The fuzzing build only: set by a harness whose images come from our own
 * writer, never from the fuzzer's bytes (fuzz_write_ops), and whose crash
 * checks rely on a torn log entry failing its checksum as it does in a
 * shipped build. False by default.
 */
extern bool crc32c_fuzz_enforce;
#endif

/*
 * Whether a decoder should enforce a checksum it has computed. In the
 * fuzzing build (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) checksums are
 * still computed, so the CRC code stays exercised, but a mismatch is not
 * fatal, so the fuzzer reaches the code behind it (unless a harness sets
 * crc32c_fuzz_enforce). Production and test builds always enforce.
 */
static inline bool crc32c_enforced(void)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    return crc32c_fuzz_enforce;
#else
    return true;
#endif
}

#endif
