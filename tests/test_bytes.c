/*
 * Byte-range helpers (src/base/bytes.h): bytes_all_zero and
 * bytes_zero_suffix against a byte-at-a-time scan, with the one non-zero
 * byte at every position of buffers around their word, 64-byte, 256-byte
 * and 4 KiB steps, at every misalignment of a word. Each buffer is exactly
 * its length, so ASan catches a read past either end.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

static bool naive_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static size_t naive_zero_suffix(const uint8_t *p, size_t n)
{
    size_t k = 0;
    while (k < n && p[n - k - 1] == 0)
        k++;
    return k;
}

static void check_both(const uint8_t *p, size_t n)
{
    assert_int_equal(bytes_all_zero(p, n), naive_all_zero(p, n));
    assert_int_equal(bytes_zero_suffix(p, n), naive_zero_suffix(p, n));
}

static void test_one_non_zero_byte_anywhere(void **state)
{
    static const size_t lens[] = {0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 255, 256, 257, 4095, 4096, 4097, 8193};
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
        for (size_t mis = 0; mis < 8; mis++) {
            size_t n = lens[i];
            uint8_t *base = calloc(1, mis + n + 1);
            uint8_t *p = base + mis;
            assert_non_null(base);
            check_both(p, n); /* all zero */
            for (size_t at = 0; at < n; at++) {
                /* Every position in short buffers; around the steps in long ones. */
                if (n > 300 && at > 8 && at + 8 < n && at % 64 > 1 && at % 64 < 63)
                    continue;
                p[at] = (uint8_t)(1u << (at % 8));
                check_both(p, n);
                p[at] = 0;
            }
            free(base);
        }
    }
}

static void test_random_prefix_then_zeros(void **state)
{
    struct test_rng rng;
    uint8_t *buf = malloc(65536);
    (void)state;
    assert_non_null(buf);
    test_rng_seed(&rng, 12);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(test_rng_next(&rng) % 65537), used = n == 0 ? 0 : (size_t)(test_rng_next(&rng) % (n + 1));
        memset(buf, 0, n);
        test_rng_fill(&rng, buf, used);
        check_both(buf, n);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_non_zero_byte_anywhere),
        cmocka_unit_test(test_random_prefix_then_zeros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
