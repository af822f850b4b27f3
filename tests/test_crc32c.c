#include "test_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/crc32c.h"

typedef uint32_t (*crc_fn)(uint32_t crc, const void *data, size_t len);

struct crc_impl {
    const char *name;
    crc_fn fn;
};

static const struct crc_impl portable = {"crc32c_portable", crc32c_portable};
static const struct crc_impl hw = {"crc32c_hw", crc32c_hw};
static const struct crc_impl dispatch = {"crc32c", crc32c};

/* The bitwise loop of VHDX-FORMAT.md section 9, the reference for everything else. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* Skips the calling test, saying why, when the CPU cannot run crc32c_hw. */
static void require_hw(void)
{
    if (crc32c_hw_available())
        return;
    print_message("crc32c_hw not tested: the CPU lacks SSE4.2 crc32 (or PCLMULQDQ)\n");
    skip();
}

/* Fails with the implementation, length and offset in the message. */
#define assert_crc(actual, expected, impl, len, mis) \
    check_crc((actual), (expected), (impl), (len), (mis), __FILE__, __LINE__)
static void check_crc(uint32_t actual, uint32_t expected, const struct crc_impl *impl, size_t len,
                      size_t mis, const char *file, int line)
{
    if (actual == expected)
        return;
    print_error("%s:%d: %s over %zu bytes at misalignment %zu gave 0x%08X, expected 0x%08X\n",
                file, line, impl->name, len, mis, actual, expected);
    _fail(file, line);
}

/* A buffer of exactly `mis + len` bytes, so ASan sees any read past the end. */
static uint8_t *random_buffer(struct test_rng *rng, size_t mis, size_t len)
{
    uint8_t *buf = malloc(mis + len + (mis + len == 0));
    assert_non_null(buf);
    test_rng_fill(rng, buf, mis + len);
    return buf;
}

static void check_values(const struct crc_impl *impl)
{
    uint8_t zeros[32];
    uint8_t ones[32];

    memset(zeros, 0x00, sizeof(zeros));
    memset(ones, 0xFF, sizeof(ones));
    assert_crc(impl->fn(0, "123456789", 9), 0xE3069283u, impl, 9, 0);
    assert_crc(impl->fn(0, zeros, sizeof(zeros)), 0x8A9136AAu, impl, sizeof(zeros), 0);
    assert_crc(impl->fn(0, ones, sizeof(ones)), 0x62A8AB43u, impl, sizeof(ones), 0);
}

static void test_bitwise_reference_gives_check_values(void **state)
{
    uint8_t zeros[32];
    uint8_t ones[32];

    (void)state;
    memset(zeros, 0x00, sizeof(zeros));
    memset(ones, 0xFF, sizeof(ones));
    assert_int_equal(crc32c_bitwise(0, (const uint8_t *)"123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c_bitwise(0, zeros, sizeof(zeros)), 0x8A9136AAu);
    assert_int_equal(crc32c_bitwise(0, ones, sizeof(ones)), 0x62A8AB43u);
}

static void test_portable_gives_check_values(void **state)
{
    (void)state;
    check_values(&portable);
}

static void test_hw_gives_check_values(void **state)
{
    (void)state;
    require_hw();
    check_values(&hw);
}

static void test_dispatch_gives_check_values(void **state)
{
    (void)state;
    check_values(&dispatch);
}

static void test_empty_input_returns_input_crc(void **state)
{
    static const uint32_t crcs[] = {0, 1, 0xE3069283u, 0x80000000u, 0xFFFFFFFFu};
    const uint8_t byte = 0xA5;

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(crcs); i++) {
        assert_crc(crc32c_portable(crcs[i], &byte, 0), crcs[i], &portable, 0, 0);
        assert_crc(crc32c_portable(crcs[i], NULL, 0), crcs[i], &portable, 0, 0);
        assert_crc(crc32c(crcs[i], NULL, 0), crcs[i], &dispatch, 0, 0);
        if (crc32c_hw_available()) {
            assert_crc(crc32c_hw(crcs[i], &byte, 0), crcs[i], &hw, 0, 0);
            assert_crc(crc32c_hw(crcs[i], NULL, 0), crcs[i], &hw, 0, 0);
        }
    }
}

/*
 * Every length 0..1100 at every misalignment 0..15, from a zero and from a
 * random starting CRC. 1100 crosses the hardware path's 96- and 768-byte
 * block sizes several times.
 */
static void check_every_length_and_misalignment(const struct crc_impl *impl, uint64_t seed)
{
    struct test_rng rng;

    test_rng_seed(&rng, seed);
    for (size_t len = 0; len <= 1100; len++) {
        for (size_t mis = 0; mis < 16; mis++) {
            uint8_t *buf = random_buffer(&rng, mis, len);
            uint32_t start = (uint32_t)test_rng_next(&rng);
            assert_crc(impl->fn(0, buf + mis, len), crc32c_bitwise(0, buf + mis, len), impl, len,
                       mis);
            assert_crc(impl->fn(start, buf + mis, len), crc32c_bitwise(start, buf + mis, len),
                       impl, len, mis);
            free(buf);
        }
    }
}

static void test_portable_matches_reference_every_length_and_misalignment(void **state)
{
    (void)state;
    check_every_length_and_misalignment(&portable, 1);
}

static void test_hw_matches_reference_every_length_and_misalignment(void **state)
{
    (void)state;
    require_hw();
    check_every_length_and_misalignment(&hw, 2);
}

static void check_large_lengths(const struct crc_impl *impl, uint64_t seed)
{
    static const size_t lens[] = {65536, (1u << 20) + 7};
    struct test_rng rng;

    test_rng_seed(&rng, seed);
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        for (size_t mis = 0; mis < 16; mis += 5) {
            uint8_t *buf = random_buffer(&rng, mis, lens[i]);
            uint32_t expected = crc32c_bitwise(0, buf + mis, lens[i]);
            assert_crc(impl->fn(0, buf + mis, lens[i]), expected, impl, lens[i], mis);
            free(buf);
        }
    }
}

static void test_portable_matches_reference_on_64k_and_1m_plus_7(void **state)
{
    (void)state;
    check_large_lengths(&portable, 3);
}

static void test_hw_matches_reference_on_64k_and_1m_plus_7(void **state)
{
    (void)state;
    require_hw();
    check_large_lengths(&hw, 4);
}

/*
 * The hardware path runs three streams over blocks of 3 x 4096, 3 x 256
 * and 3 x 32 bytes, largest first, then 8- and 1-byte steps. Lengths of one
 * to three blocks of each size, plus or minus up to 16 bytes, and
 * combinations that leave a remainder for every smaller tier.
 */
static void test_hw_matches_reference_around_stream_block_thresholds(void **state)
{
    static const size_t blocks[] = {3 * 32, 3 * 256, 3 * 4096};
    struct test_rng rng;

    (void)state;
    require_hw();
    test_rng_seed(&rng, 5);
    for (size_t b = 0; b < ARRAY_LEN(blocks); b++) {
        for (size_t count = 1; count <= 3; count++) {
            for (size_t extra = 0; extra <= 32; extra++) {
                size_t len = count * blocks[b] + extra - 16;
                for (size_t mis = 0; mis < 8; mis += 3) {
                    uint8_t *buf = random_buffer(&rng, mis, len);
                    uint32_t start = (uint32_t)test_rng_next(&rng);
                    assert_crc(crc32c_hw(start, buf + mis, len),
                               crc32c_bitwise(start, buf + mis, len), &hw, len, mis);
                    free(buf);
                }
            }
        }
    }
    for (size_t len = 3 * 4096 + 3 * 256 + 3 * 32 + 7; len < 3 * 4096 + 4 * 256; len += 37) {
        uint8_t *buf = random_buffer(&rng, 1, len);
        assert_crc(crc32c_hw(0, buf + 1, len), crc32c_bitwise(0, buf + 1, len), &hw, len, 1);
        free(buf);
    }
}

static void check_chains_at_every_split(const struct crc_impl *impl, size_t len, uint64_t seed)
{
    struct test_rng rng;
    uint8_t *buf;
    uint32_t whole;

    test_rng_seed(&rng, seed);
    buf = random_buffer(&rng, 0, len);
    whole = impl->fn(0, buf, len);
    assert_crc(whole, crc32c_bitwise(0, buf, len), impl, len, 0);
    for (size_t split = 0; split <= len; split++) {
        uint32_t first = impl->fn(0, buf, split);
        uint32_t chained = impl->fn(first, buf + split, len - split);
        if (chained != whole) {
            print_error("%s: split at %zu of %zu gave 0x%08X, whole 0x%08X\n", impl->name, split,
                        len, chained, whole);
            free(buf);
            fail();
        }
    }
    free(buf);
}

static void test_portable_chains_at_every_split_point(void **state)
{
    (void)state;
    check_chains_at_every_split(&portable, 2100, 6);
}

/* 13389 bytes reach the 3 x 4096 block size on either side of most splits. */
static void test_hw_chains_at_every_split_point(void **state)
{
    (void)state;
    require_hw();
    check_chains_at_every_split(&hw, 13 * 1024 + 77, 7);
}

/* CRC of a copy with the bytes [field_off, field_off + 4) that exist zeroed. */
static uint32_t crc_of_zeroed_copy(const uint8_t *data, size_t len, size_t field_off)
{
    uint8_t *copy = malloc(len + (len == 0));
    uint32_t crc;

    assert_non_null(copy);
    memcpy(copy, data, len);
    for (size_t i = field_off; i < len && i - field_off < 4; i++)
        copy[i] = 0;
    crc = crc32c_bitwise(0, copy, len);
    free(copy);
    return crc;
}

static void test_with_zero_field_equals_crc_of_zeroed_copy(void **state)
{
    static const size_t lens[] = {4, 5, 8, 64, 4096, 65536};
    struct test_rng rng;

    (void)state;
    test_rng_seed(&rng, 8);
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        size_t len = lens[i];
        size_t offs[] = {0, 4, len - 4};
        uint8_t *buf = random_buffer(&rng, 0, len);
        for (size_t j = 0; j < ARRAY_LEN(offs); j++) {
            if (offs[j] + 4 > len)
                continue;
            assert_crc(crc32c_with_zero_field(buf, len, offs[j]),
                       crc_of_zeroed_copy(buf, len, offs[j]), &dispatch, len, offs[j]);
        }
        free(buf);
    }
}

static void test_with_zero_field_ignores_the_stored_checksum(void **state)
{
    uint8_t a[64];
    uint8_t b[64];
    struct test_rng rng;

    (void)state;
    test_rng_seed(&rng, 9);
    test_rng_fill(&rng, a, sizeof(a));
    memcpy(b, a, sizeof(b));
    memset(b + 4, 0xEE, 4);
    assert_int_equal(crc32c_with_zero_field(a, sizeof(a), 4),
                     crc32c_with_zero_field(b, sizeof(b), 4));
    assert_int_not_equal(crc32c(0, a, sizeof(a)), crc32c(0, b, sizeof(b)));
}

/* crc32c_zeros against the bitwise loop over real zeros, from several states. */
static void test_zeros_match_reference(void **state)
{
    static const size_t lens[] = {0, 1, 2, 3, 4, 7, 8, 9, 63, 64, 65, 255, 4095, 4096, 65536, 1048583};
    static const uint32_t crcs[] = {0, 1, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u};
    uint8_t *zeros = calloc(1, 1048583);

    (void)state;
    assert_non_null(zeros);
    for (size_t i = 0; i < ARRAY_LEN(lens); i++)
        for (size_t j = 0; j < ARRAY_LEN(crcs); j++)
            assert_crc(crc32c_zeros(crcs[j], lens[i]), crc32c_bitwise(crcs[j], zeros, lens[i]),
                       &dispatch, lens[i], j);
    free(zeros);
}

/*
 * Every power of two up to 2^63 zero bytes: 2^k of them are 2^(k-1) twice
 * over, so each step is checked against the one before it, down to the
 * lengths test_zeros_match_reference checks against the bitwise loop.
 */
static void test_zeros_double_at_every_power_of_two(void **state)
{
    static const uint32_t crcs[] = {0, 0x12345678u, 0xFFFFFFFFu};

    (void)state;
    for (size_t j = 0; j < ARRAY_LEN(crcs); j++) {
        for (unsigned k = 1; k < 64; k++) {
            uint64_t half = (uint64_t)1 << (k - 1);
            assert_crc(crc32c_zeros(crcs[j], half * 2), crc32c_zeros(crc32c_zeros(crcs[j], half), half),
                       &dispatch, k, j);
        }
        assert_crc(crc32c_zeros(crcs[j], UINT64_MAX),
                   crc32c_zeros(crc32c_zeros(crcs[j], (uint64_t)1 << 63), ((uint64_t)1 << 63) - 1),
                   &dispatch, 64, j);
    }
}

/*
 * Structures that end in zeros (a region table, a header): a run of random
 * bytes, then zeros, the last non-zero byte on and around the 64-byte and
 * 4 KiB steps crc32c_with_zero_field looks for the zeros in, at lengths on
 * both sides of the 16 KiB below which it does not look; and all zeros.
 */
static void test_with_zero_field_over_a_zero_tail(void **state)
{
    static const size_t lens[] = {4096, 16387, 16388, 16392, 65536};
    static const size_t ends[] = {0,     1,     8,     9,     63,    64,    65,    100,
                                  4031,  4032,  4033,  4095,  4096,  4097,  12287, 12288,
                                  12289, 16383, 16384, 61439, 61440, 61441, 65535, 65536};
    struct test_rng rng;

    (void)state;
    test_rng_seed(&rng, 11);
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        for (size_t k = 0; k < ARRAY_LEN(ends); k++) {
            size_t len = lens[i], end = ends[k];
            uint8_t *buf;
            if (end > len)
                continue;
            buf = calloc(1, len);
            assert_non_null(buf);
            test_rng_fill(&rng, buf, end);
            if (end > 0)
                buf[end - 1] = 0x5A; /* the last non-zero byte is exactly there */
            assert_crc(crc32c_with_zero_field(buf, len, 4), crc_of_zeroed_copy(buf, len, 4),
                       &dispatch, len, end);
            assert_crc(crc32c_with_zero_field(buf, len, 0), crc_of_zeroed_copy(buf, len, 0),
                       &dispatch, len, end);
            free(buf);
        }
    }
}

/*
 * field_off + 4 > len is a caller bug: only the field's bytes inside the
 * buffer count as zero and nothing past the end is read (the buffer is
 * exactly len bytes, so ASan catches an overread).
 */
static void test_with_zero_field_clamps_field_past_end_without_overread(void **state)
{
    static const size_t lens[] = {0, 1, 3, 4, 7, 100};
    struct test_rng rng;

    (void)state;
    test_rng_seed(&rng, 10);
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        size_t len = lens[i];
        uint8_t *buf = random_buffer(&rng, 0, len);
        for (size_t back = 0; back <= 3 && back <= len; back++) {
            size_t off = len - back;
            assert_crc(crc32c_with_zero_field(buf, len, off), crc_of_zeroed_copy(buf, len, off),
                       &dispatch, len, off);
        }
        assert_crc(crc32c_with_zero_field(buf, len, len + 1), crc32c_bitwise(0, buf, len),
                   &dispatch, len, len + 1);
        assert_crc(crc32c_with_zero_field(buf, len, SIZE_MAX), crc32c_bitwise(0, buf, len),
                   &dispatch, len, SIZE_MAX);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bitwise_reference_gives_check_values),
        cmocka_unit_test(test_portable_gives_check_values),
        cmocka_unit_test(test_hw_gives_check_values),
        cmocka_unit_test(test_dispatch_gives_check_values),
        cmocka_unit_test(test_empty_input_returns_input_crc),
        cmocka_unit_test(test_portable_matches_reference_every_length_and_misalignment),
        cmocka_unit_test(test_hw_matches_reference_every_length_and_misalignment),
        cmocka_unit_test(test_portable_matches_reference_on_64k_and_1m_plus_7),
        cmocka_unit_test(test_hw_matches_reference_on_64k_and_1m_plus_7),
        cmocka_unit_test(test_hw_matches_reference_around_stream_block_thresholds),
        cmocka_unit_test(test_portable_chains_at_every_split_point),
        cmocka_unit_test(test_hw_chains_at_every_split_point),
        cmocka_unit_test(test_with_zero_field_equals_crc_of_zeroed_copy),
        cmocka_unit_test(test_with_zero_field_ignores_the_stored_checksum),
        cmocka_unit_test(test_with_zero_field_clamps_field_past_end_without_overread),
        cmocka_unit_test(test_zeros_match_reference),
        cmocka_unit_test(test_zeros_double_at_every_power_of_two),
        cmocka_unit_test(test_with_zero_field_over_a_zero_tail),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
