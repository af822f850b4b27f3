/* Checked arithmetic for file-derived offsets and lengths (src/base/checked.h). */
#include "test_util.h"

#include "base/checked.h"

#define MiB (1ull << 20)

static void test_ck_add_edges(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_add_u64(0, 0, &r));
    assert_int_equal(r, 0);
    assert_true(ck_add_u64(UINT64_MAX, 0, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_true(ck_add_u64(UINT64_MAX - 1, 1, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_false(ck_add_u64(UINT64_MAX, 1, &r));
    assert_false(ck_add_u64(1, UINT64_MAX, &r));
    assert_false(ck_add_u64(UINT64_MAX, UINT64_MAX, &r));
    assert_false(ck_add_u64(1ull << 63, 1ull << 63, &r));
}

static void test_ck_sub_edges(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_sub_u64(0, 0, &r));
    assert_int_equal(r, 0);
    assert_true(ck_sub_u64(UINT64_MAX, UINT64_MAX, &r));
    assert_int_equal(r, 0);
    assert_true(ck_sub_u64(UINT64_MAX, 0, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_false(ck_sub_u64(0, 1, &r));
    assert_false(ck_sub_u64(UINT64_MAX - 1, UINT64_MAX, &r));
}

static void test_ck_mul_edges(void **state)
{
    uint64_t r = 1;
    (void)state;
    assert_true(ck_mul_u64(0, UINT64_MAX, &r));
    assert_int_equal(r, 0);
    assert_true(ck_mul_u64(UINT64_MAX, 1, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_true(ck_mul_u64(1ull << 32, (1ull << 32) - 1, &r));
    assert_int_equal(r, 0xFFFFFFFF00000000ull);
    /* 2^32 * 2^32 = 2^64 does not fit. */
    assert_false(ck_mul_u64(1ull << 32, 1ull << 32, &r));
    assert_false(ck_mul_u64(UINT64_MAX, 2, &r));
    assert_true(ck_mul_u64(0xFFFFFFFFull, 0xFFFFFFFFull, &r));
    assert_int_equal(r, 0xFFFFFFFE00000001ull);
}

static void test_ck_align_up_rejects_non_power_of_two(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_false(ck_align_up_u64(5, 0, &r));
    assert_false(ck_align_up_u64(5, 3, &r));
    assert_false(ck_align_up_u64(5, 6, &r));
    assert_false(ck_align_up_u64(5, 3 * MiB, &r));
    assert_false(ck_align_up_u64(5, UINT64_MAX, &r));
}

static void test_ck_align_up_overflow_fails(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_false(ck_align_up_u64(UINT64_MAX, 2, &r));
    assert_false(ck_align_up_u64(UINT64_MAX - MiB + 2, MiB, &r));
    /* The largest multiple of 1 MiB is fine: nothing to round. */
    assert_true(ck_align_up_u64(UINT64_MAX - MiB + 1, MiB, &r));
    assert_int_equal(r, UINT64_MAX - MiB + 1);
    assert_true(ck_align_up_u64(UINT64_MAX, 1, &r));
    assert_int_equal(r, UINT64_MAX);
}

static void test_ck_align_up_values(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_align_up_u64(0, MiB, &r));
    assert_int_equal(r, 0);
    assert_true(ck_align_up_u64(1, MiB, &r));
    assert_int_equal(r, MiB);
    assert_true(ck_align_up_u64(MiB, MiB, &r));
    assert_int_equal(r, MiB);
    assert_true(ck_align_up_u64(MiB + 1, MiB, &r));
    assert_int_equal(r, 2 * MiB);
    assert_true(ck_align_up_u64(3 * MiB - 1, MiB, &r));
    assert_int_equal(r, 3 * MiB);
    assert_true(ck_align_up_u64(4096, 4096, &r));
    assert_int_equal(r, 4096);
    assert_true(ck_align_up_u64(7, 1, &r));
    assert_int_equal(r, 7);
    assert_true(ck_align_up_u64(1, 1ull << 63, &r));
    assert_int_equal(r, 1ull << 63);
}

static void test_ck_shl_edges(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_shl_u64(1, 63, &r));
    assert_int_equal(r, 1ull << 63);
    assert_false(ck_shl_u64(1, 64, &r));
    assert_false(ck_shl_u64(0, 64, &r));
    assert_false(ck_shl_u64(1, 1000, &r));
    assert_false(ck_shl_u64(2, 63, &r));
    assert_true(ck_shl_u64(3, 62, &r));
    assert_int_equal(r, 3ull << 62);
    assert_false(ck_shl_u64(3, 63, &r));
    assert_false(ck_shl_u64(7, 62, &r));
    assert_true(ck_shl_u64(UINT64_MAX, 0, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_false(ck_shl_u64(UINT64_MAX, 1, &r));
    assert_true(ck_shl_u64(0, 63, &r));
    assert_int_equal(r, 0);
    assert_true(ck_shl_u64(0xFFFFFFFFull, 32, &r));
    assert_int_equal(r, 0xFFFFFFFF00000000ull);
    assert_false(ck_shl_u64(0x1FFFFFFFFull, 32, &r));
}

static void test_ck_shr_edges(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_shr_u64(UINT64_MAX, 63, &r));
    assert_int_equal(r, 1);
    assert_true(ck_shr_u64(UINT64_MAX, 0, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_false(ck_shr_u64(UINT64_MAX, 64, &r));
    assert_false(ck_shr_u64(0, 64, &r));
    assert_false(ck_shr_u64(1, 65, &r));
}

static void test_ck_div_ceil_edges(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_false(ck_div_ceil_u64(1, 0, &r));
    assert_false(ck_div_ceil_u64(0, 0, &r));
    assert_true(ck_div_ceil_u64(0, 7, &r));
    assert_int_equal(r, 0);
    assert_true(ck_div_ceil_u64(8 * MiB, MiB, &r));
    assert_int_equal(r, 8);
    assert_true(ck_div_ceil_u64(8 * MiB + 1, MiB, &r));
    assert_int_equal(r, 9);
    assert_true(ck_div_ceil_u64(1, MiB, &r));
    assert_int_equal(r, 1);
    /* Would overflow as (a + b - 1) / b. */
    assert_true(ck_div_ceil_u64(UINT64_MAX, 2, &r));
    assert_int_equal(r, 1ull << 63);
    assert_true(ck_div_ceil_u64(UINT64_MAX, UINT64_MAX, &r));
    assert_int_equal(r, 1);
    assert_true(ck_div_ceil_u64(UINT64_MAX, 1, &r));
    assert_int_equal(r, UINT64_MAX);
}

static void test_ck_u64_to_u32_edges(void **state)
{
    uint32_t r = 0;
    (void)state;
    assert_true(ck_u64_to_u32(0, &r));
    assert_int_equal(r, 0);
    assert_true(ck_u64_to_u32(UINT32_MAX, &r));
    assert_int_equal(r, UINT32_MAX);
    assert_false(ck_u64_to_u32((uint64_t)UINT32_MAX + 1, &r));
    assert_false(ck_u64_to_u32(UINT64_MAX, &r));
}

static void test_ck_u64_to_size_edges(void **state)
{
    size_t r = 1;
    (void)state;
    assert_true(ck_u64_to_size(0, &r));
    assert_int_equal(r, 0);
    assert_true(ck_u64_to_size((uint64_t)SIZE_MAX, &r));
    assert_int_equal(r, SIZE_MAX);
#if SIZE_MAX < UINT64_MAX
    assert_false(ck_u64_to_size((uint64_t)SIZE_MAX + 1, &r));
#else
    assert_true(ck_u64_to_size(UINT64_MAX, &r));
    assert_int_equal(r, UINT64_MAX);
#endif
}

static void test_ck_range_end(void **state)
{
    uint64_t r = 0;
    (void)state;
    assert_true(ck_range_end(MiB, MiB, &r));
    assert_int_equal(r, 2 * MiB);
    assert_true(ck_range_end(UINT64_MAX, 0, &r));
    assert_int_equal(r, UINT64_MAX);
    assert_false(ck_range_end(UINT64_MAX, 1, &r));
}

static void test_ranges_overlap_adjacent_do_not(void **state)
{
    (void)state;
    assert_false(ranges_overlap(0, 10, 10, 10));
    assert_false(ranges_overlap(10, 10, 0, 10));
    assert_true(ranges_overlap(0, 11, 10, 10));
    assert_true(ranges_overlap(10, 10, 0, 11));
    assert_false(ranges_overlap(0, MiB, MiB, MiB));
}

static void test_ranges_overlap_zero_length_never(void **state)
{
    (void)state;
    assert_false(ranges_overlap(5, 0, 0, 10));
    assert_false(ranges_overlap(0, 10, 5, 0));
    assert_false(ranges_overlap(5, 0, 5, 0));
    assert_false(ranges_overlap(0, 0, 0, UINT64_MAX));
}

static void test_ranges_overlap_containment_and_partial(void **state)
{
    (void)state;
    assert_true(ranges_overlap(0, 100, 10, 5));
    assert_true(ranges_overlap(10, 5, 0, 100));
    assert_true(ranges_overlap(10, 5, 10, 5));
    assert_true(ranges_overlap(0, 10, 9, 1));
    assert_true(ranges_overlap(9, 1, 0, 10));
    assert_true(ranges_overlap(5, 10, 0, 6));
    assert_false(ranges_overlap(0, 5, 100, 5));
    /* Largest ranges whose ends still fit. */
    assert_true(ranges_overlap(0, UINT64_MAX, UINT64_MAX - 1, 1));
    assert_false(ranges_overlap(0, UINT64_MAX - 1, UINT64_MAX - 1, 1));
}

static void test_is_pow2(void **state)
{
    (void)state;
    assert_false(is_pow2_u64(0));
    assert_true(is_pow2_u64(1));
    assert_true(is_pow2_u64(2));
    assert_false(is_pow2_u64(3));
    assert_true(is_pow2_u64(MiB));
    assert_false(is_pow2_u64(MiB + 1));
    assert_false(is_pow2_u64(MiB - 1));
    assert_true(is_pow2_u64(1ull << 63));
    assert_false(is_pow2_u64(UINT64_MAX));
    assert_false(is_pow2_u64((1ull << 63) + 1));
    for (unsigned i = 0; i < 64; i++)
        assert_true(is_pow2_u64(1ull << i));
}

static void test_is_aligned(void **state)
{
    (void)state;
    assert_true(is_aligned_u64(0, MiB));
    assert_true(is_aligned_u64(MiB, MiB));
    assert_true(is_aligned_u64(5 * MiB, MiB));
    assert_false(is_aligned_u64(MiB + 1, MiB));
    assert_false(is_aligned_u64(MiB - 1, MiB));
    assert_true(is_aligned_u64(UINT64_MAX, 1));
    assert_true(is_aligned_u64(1ull << 63, 1ull << 63));
    assert_false(is_aligned_u64(1ull << 62, 1ull << 63));
    /* A non-power-of-two alignment is never satisfied, not even by 0. */
    assert_false(is_aligned_u64(0, 0));
    assert_false(is_aligned_u64(6, 3));
    assert_false(is_aligned_u64(0, 3));
}

static void test_ranges_overlap_correct_when_an_end_would_overflow(void **state)
{
    (void)state;
    /* [1, 2^64) contains [5, 6) although 1 + UINT64_MAX wraps. */
    assert_true(ranges_overlap(1, UINT64_MAX, 5, 1));
    assert_true(ranges_overlap(5, 1, 1, UINT64_MAX));
    assert_true(ranges_overlap(UINT64_MAX - 1, 10, UINT64_MAX, 10));
    assert_false(ranges_overlap(UINT64_MAX - 1, 1, UINT64_MAX, 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ck_add_edges),
        cmocka_unit_test(test_ck_sub_edges),
        cmocka_unit_test(test_ck_mul_edges),
        cmocka_unit_test(test_ck_align_up_rejects_non_power_of_two),
        cmocka_unit_test(test_ck_align_up_overflow_fails),
        cmocka_unit_test(test_ck_align_up_values),
        cmocka_unit_test(test_ck_shl_edges),
        cmocka_unit_test(test_ck_shr_edges),
        cmocka_unit_test(test_ck_div_ceil_edges),
        cmocka_unit_test(test_ck_u64_to_u32_edges),
        cmocka_unit_test(test_ck_u64_to_size_edges),
        cmocka_unit_test(test_ck_range_end),
        cmocka_unit_test(test_ranges_overlap_adjacent_do_not),
        cmocka_unit_test(test_ranges_overlap_zero_length_never),
        cmocka_unit_test(test_ranges_overlap_containment_and_partial),
        cmocka_unit_test(test_is_pow2),
        cmocka_unit_test(test_is_aligned),
        cmocka_unit_test(test_ranges_overlap_correct_when_an_end_would_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
