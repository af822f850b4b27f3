/* Bounds-checked cursors and loads (src/base/cursor.h, endian.h). */
#include "test_util.h"

#include <string.h>

#include "base/cursor.h"

/* 0x01 0x02 ... 0x10: every byte distinct, so byte order shows in the value. */
static const uint8_t seq[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10};

/* Asserts a read cursor has failed, stays at `pos` and keeps failing. */
static void assert_rc_stuck(struct rcursor *c, size_t pos)
{
    assert_false(rc_ok(c));
    assert_true(rc_invariant(c));
    assert_int_equal(c->pos, pos);
    assert_int_equal(rc_u8(c), 0);
    assert_int_equal(rc_u16(c), 0);
    assert_int_equal(rc_u32(c), 0);
    assert_int_equal(rc_u64(c), 0);
    assert_null(rc_take(c, 0));
    assert_false(rc_skip(c, 0));
    assert_false(rc_zeros(c, 0));
    assert_false(rc_bytes(c, NULL, 0));
    assert_false(rc_ok(c));
    assert_int_equal(c->pos, pos);
}

static void test_rc_u8_at_exact_end_ok(void **state)
{
    struct rcursor c = rc_make(seq, 1);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 1);
    assert_int_equal(rc_remaining(&c), 0);
    assert_true(rc_invariant(&c));
}

static void test_rc_u8_past_end_fails_sticky(void **state)
{
    struct rcursor c = rc_make(seq, 0);
    (void)state;
    assert_int_equal(rc_u8(&c), 0);
    assert_rc_stuck(&c, 0);
}

static void test_rc_u16_at_exact_end_ok(void **state)
{
    struct rcursor c = rc_make(seq, 3);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u16(&c), 0x0302);
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 3);
}

static void test_rc_u16_one_byte_short_fails_sticky(void **state)
{
    struct rcursor c = rc_make(seq, 2);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u16(&c), 0);
    assert_rc_stuck(&c, 1);
}

static void test_rc_u32_at_exact_end_ok(void **state)
{
    struct rcursor c = rc_make(seq, 5);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u32(&c), 0x05040302u);
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 5);
}

static void test_rc_u32_one_byte_short_fails_sticky(void **state)
{
    struct rcursor c = rc_make(seq, 4);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u32(&c), 0);
    assert_rc_stuck(&c, 1);
}

static void test_rc_u64_at_exact_end_ok(void **state)
{
    struct rcursor c = rc_make(seq, 9);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u64(&c), 0x0908070605040302ull);
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 9);
}

static void test_rc_u64_one_byte_short_fails_sticky(void **state)
{
    struct rcursor c = rc_make(seq, 8);
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u64(&c), 0);
    assert_rc_stuck(&c, 1);
}

static void test_rc_failure_sticks_even_when_later_read_fits(void **state)
{
    struct rcursor c = rc_make(seq, 4);
    (void)state;
    assert_int_equal(rc_u64(&c), 0);
    /* Four bytes are still there, but a failed cursor stays failed. */
    assert_int_equal(rc_u32(&c), 0);
    assert_int_equal(rc_u8(&c), 0);
    assert_rc_stuck(&c, 0);
}

static void test_rc_reads_are_little_endian(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_int_equal(rc_u8(&c), 0x01);
    assert_int_equal(rc_u16(&c), 0x0302);
    assert_int_equal(rc_u32(&c), 0x07060504u);
    assert_int_equal(rc_u64(&c), 0x0F0E0D0C0B0A0908ull);
    assert_int_equal(rc_u8(&c), 0x10);
    assert_true(rc_ok(&c));
    assert_int_equal(rc_remaining(&c), 0);
}

static void test_rc_high_bits_are_not_sign_extended(void **state)
{
    static const uint8_t ff[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80};
    struct rcursor c = rc_make(ff, sizeof(ff));
    (void)state;
    assert_int_equal(rc_u16(&c), 0xFFFF);
    c = rc_make(ff, sizeof(ff));
    assert_int_equal(rc_u32(&c), 0xFFFFFFFFu);
    c = rc_make(ff, sizeof(ff));
    assert_int_equal(rc_u64(&c), 0x80FFFFFFFFFFFFFFull);
}

static void test_rc_zero_length_ops_on_null_cursor_ok(void **state)
{
    struct rcursor c = rc_make(NULL, 0);
    uint8_t dst[1] = {0xAA};
    (void)state;
    assert_true(rc_invariant(&c));
    assert_null(rc_take(&c, 0));
    assert_true(rc_ok(&c));
    assert_true(rc_skip(&c, 0));
    assert_true(rc_bytes(&c, NULL, 0));
    assert_true(rc_bytes(&c, dst, 0));
    assert_int_equal(dst[0], 0xAA);
    assert_true(rc_zeros(&c, 0));
    assert_true(rc_seek(&c, 0));
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 0);
    assert_int_equal(rc_remaining(&c), 0);
    assert_true(rc_invariant(&c));
}

static void test_rc_make_null_with_length_is_empty(void **state)
{
    struct rcursor c = rc_make(NULL, 100);
    (void)state;
    assert_int_equal(c.len, 0);
    assert_true(rc_invariant(&c));
    assert_int_equal(rc_u8(&c), 0);
    assert_rc_stuck(&c, 0);
}

static void test_rc_nonzero_ops_on_null_cursor_fail(void **state)
{
    struct rcursor c = rc_make(NULL, 0);
    uint8_t dst[2] = {0xAA, 0xAA};
    (void)state;
    assert_false(rc_bytes(&c, dst, 2));
    assert_int_equal(dst[0], 0);
    assert_int_equal(dst[1], 0);
    assert_rc_stuck(&c, 0);
    c = rc_make(NULL, 0);
    assert_false(rc_skip(&c, 1));
    assert_rc_stuck(&c, 0);
    c = rc_make(NULL, 0);
    assert_false(rc_zeros(&c, 1));
    assert_rc_stuck(&c, 0);
    c = rc_make(NULL, 0);
    assert_false(rc_seek(&c, 1));
    assert_rc_stuck(&c, 0);
}

static void test_rc_zero_length_ops_at_end_of_data_ok(void **state)
{
    struct rcursor c = rc_make(seq, 4);
    (void)state;
    assert_true(rc_seek(&c, 4));
    assert_non_null(rc_take(&c, 0));
    assert_true(rc_skip(&c, 0));
    assert_true(rc_bytes(&c, NULL, 0));
    assert_true(rc_zeros(&c, 0));
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 4);
}

static void test_rc_take_returns_pointer_and_advances(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    const uint8_t *p;
    (void)state;
    assert_true(rc_skip(&c, 3));
    p = rc_take(&c, 13);
    assert_ptr_equal(p, seq + 3);
    assert_int_equal(c.pos, 16);
    assert_true(rc_ok(&c));
}

static void test_rc_take_one_byte_short_fails(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_true(rc_skip(&c, 3));
    assert_null(rc_take(&c, 14));
    assert_rc_stuck(&c, 3);
}

static void test_rc_take_huge_length_fails_without_wrap(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_true(rc_skip(&c, 1));
    assert_null(rc_take(&c, SIZE_MAX));
    assert_rc_stuck(&c, 1);
}

static void test_rc_seek_bounds(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_true(rc_seek(&c, 16));
    assert_int_equal(rc_remaining(&c), 0);
    assert_true(rc_seek(&c, 2));
    assert_int_equal(rc_u8(&c), 0x03);
    assert_false(rc_seek(&c, 17));
    assert_rc_stuck(&c, 3);
    c = rc_make(seq, sizeof(seq));
    assert_false(rc_seek(&c, SIZE_MAX));
    assert_rc_stuck(&c, 0);
}

static void test_rc_skip_bounds(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_true(rc_skip(&c, 16));
    assert_true(rc_ok(&c));
    c = rc_make(seq, sizeof(seq));
    assert_false(rc_skip(&c, 17));
    assert_rc_stuck(&c, 0);
}

static void test_rc_bytes_copies_and_zeroes_on_failure(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    uint8_t dst[16];
    (void)state;
    assert_true(rc_skip(&c, 4));
    assert_true(rc_bytes(&c, dst, 12));
    assert_memory_equal(dst, seq + 4, 12);
    assert_int_equal(c.pos, 16);
    c = rc_make(seq, sizeof(seq));
    assert_true(rc_skip(&c, 4));
    memset(dst, 0xAA, sizeof(dst));
    assert_false(rc_bytes(&c, dst, 13));
    for (size_t i = 0; i < 13; i++)
        assert_int_equal(dst[i], 0);
    assert_int_equal(dst[13], 0xAA);
    assert_rc_stuck(&c, 4);
}

static void test_rc_zeros_detects_nonzero_and_truncation(void **state)
{
    static const uint8_t z[6] = {0, 0, 0, 0, 0, 7};
    struct rcursor c = rc_make(z, sizeof(z));
    (void)state;
    assert_true(rc_zeros(&c, 5));
    assert_int_equal(c.pos, 5);
    c = rc_make(z, sizeof(z));
    /* A non-zero byte is a finding, not a bounds failure: the cursor advances. */
    assert_false(rc_zeros(&c, 6));
    assert_true(rc_ok(&c));
    assert_int_equal(c.pos, 6);
    c = rc_make(z, sizeof(z));
    assert_false(rc_zeros(&c, 7));
    assert_rc_stuck(&c, 0);
}

static void test_rc_invariant_detects_bad_state(void **state)
{
    struct rcursor c = rc_make(seq, sizeof(seq));
    (void)state;
    assert_true(rc_invariant(&c));
    c.pos = 17;
    assert_false(rc_invariant(&c));
    c.pos = 16;
    assert_true(rc_invariant(&c));
    c.data = NULL;
    assert_false(rc_invariant(&c));
    c.len = 0;
    c.pos = 0;
    assert_true(rc_invariant(&c));
}

/* Asserts a write cursor has failed, stays at `pos`, keeps failing and wrote nothing. */
static void assert_wc_stuck(struct wcursor *c, size_t pos, const uint8_t *before)
{
    assert_false(wc_ok(c));
    assert_true(wc_invariant(c));
    assert_int_equal(c->pos, pos);
    wc_u8(c, 0xEE);
    wc_u16(c, 0xEEEE);
    wc_u32(c, 0xEEEEEEEEu);
    wc_u64(c, 0xEEEEEEEEEEEEEEEEull);
    wc_bytes(c, "\xEE", 1);
    wc_zeros(c, 1);
    assert_null(wc_take(c, 0));
    assert_false(wc_ok(c));
    assert_int_equal(c->pos, pos);
    if (c->len > 0)
        assert_memory_equal(c->data, before, c->len);
}

static void test_wc_every_width_at_exact_end_ok(void **state)
{
    uint8_t out[15];
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    wc_u8(&c, 0x01);
    wc_u16(&c, 0x0302);
    wc_u32(&c, 0x07060504u);
    wc_u64(&c, 0x0F0E0D0C0B0A0908ull);
    assert_true(wc_ok(&c));
    assert_int_equal(c.pos, 15);
    assert_true(wc_invariant(&c));
    assert_memory_equal(out, seq, 15);
}

static void test_wc_u8_past_end_fails_sticky(void **state)
{
    uint8_t out[1] = {0x55};
    struct wcursor c = wc_make(out, 1);
    (void)state;
    wc_u8(&c, 1);
    wc_u8(&c, 2);
    assert_int_equal(out[0], 1);
    assert_wc_stuck(&c, 1, out);
}

static void test_wc_u16_one_byte_short_fails_sticky(void **state)
{
    uint8_t out[2] = {0x55, 0x55};
    const uint8_t before[2] = {0x11, 0x55};
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    wc_u8(&c, 0x11);
    wc_u16(&c, 0xBEEF);
    assert_memory_equal(out, before, 2);
    assert_wc_stuck(&c, 1, before);
}

static void test_wc_u32_one_byte_short_fails_sticky(void **state)
{
    uint8_t out[4] = {0x55, 0x55, 0x55, 0x55};
    const uint8_t before[4] = {0x11, 0x55, 0x55, 0x55};
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    wc_u8(&c, 0x11);
    wc_u32(&c, 0xDEADBEEFu);
    assert_memory_equal(out, before, 4);
    assert_wc_stuck(&c, 1, before);
}

static void test_wc_u64_one_byte_short_fails_sticky(void **state)
{
    uint8_t out[8];
    uint8_t before[8];
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    memset(out, 0x55, sizeof(out));
    wc_u8(&c, 0x11);
    wc_u64(&c, 0xDEADBEEFCAFEF00Dull);
    memset(before, 0x55, sizeof(before));
    before[0] = 0x11;
    assert_memory_equal(out, before, 8);
    assert_wc_stuck(&c, 1, before);
}

static void test_wc_bytes_and_zeros_bounds(void **state)
{
    uint8_t out[8];
    uint8_t expect[8] = {0x01, 0x02, 0x03, 0, 0, 0, 0, 0x55};
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    memset(out, 0x55, sizeof(out));
    wc_bytes(&c, seq, 3);
    wc_zeros(&c, 4);
    assert_true(wc_ok(&c));
    assert_int_equal(c.pos, 7);
    wc_bytes(&c, seq, 2);
    assert_memory_equal(out, expect, 8);
    assert_wc_stuck(&c, 7, expect);
    c = wc_make(out, sizeof(out));
    assert_true(wc_seek(&c, 7));
    wc_zeros(&c, 2);
    assert_memory_equal(out, expect, 8);
    assert_wc_stuck(&c, 7, expect);
}

static void test_wc_zero_length_ops_on_null_cursor_ok(void **state)
{
    struct wcursor c = wc_make(NULL, 0);
    (void)state;
    assert_true(wc_invariant(&c));
    assert_null(wc_take(&c, 0));
    wc_bytes(&c, NULL, 0);
    wc_zeros(&c, 0);
    assert_true(wc_seek(&c, 0));
    assert_true(wc_ok(&c));
    assert_int_equal(c.pos, 0);
    wc_u8(&c, 1);
    assert_wc_stuck(&c, 0, NULL);
}

static void test_wc_make_null_with_length_is_empty(void **state)
{
    struct wcursor c = wc_make(NULL, 64);
    (void)state;
    assert_int_equal(c.len, 0);
    wc_u32(&c, 1);
    assert_wc_stuck(&c, 0, NULL);
}

static void test_wc_seek_bounds(void **state)
{
    uint8_t out[4] = {0};
    const uint8_t expect[4] = {0, 0, 0xCD, 0xAB};
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    assert_true(wc_seek(&c, 4));
    assert_true(wc_seek(&c, 2));
    wc_u16(&c, 0xABCD);
    assert_memory_equal(out, expect, 4);
    assert_false(wc_seek(&c, 5));
    assert_wc_stuck(&c, 4, expect);
}

static void test_wc_writes_are_little_endian(void **state)
{
    uint8_t out[8];
    struct wcursor c;
    (void)state;
    c = wc_make(out, 2);
    wc_u16(&c, 0x0102);
    assert_int_equal(out[0], 0x02);
    assert_int_equal(out[1], 0x01);
    c = wc_make(out, 4);
    wc_u32(&c, 0x01020304u);
    assert_memory_equal(out, "\x04\x03\x02\x01", 4);
    c = wc_make(out, 8);
    wc_u64(&c, 0x0102030405060708ull);
    assert_memory_equal(out, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
}

static void test_wc_invariant_detects_bad_state(void **state)
{
    uint8_t out[4];
    struct wcursor c = wc_make(out, sizeof(out));
    (void)state;
    assert_true(wc_invariant(&c));
    c.pos = 5;
    assert_false(wc_invariant(&c));
    c.pos = 0;
    c.data = NULL;
    assert_false(wc_invariant(&c));
}

static void test_wc_then_rc_round_trip(void **state)
{
    uint8_t out[15];
    struct wcursor w = wc_make(out, sizeof(out));
    struct rcursor r;
    (void)state;
    wc_u8(&w, 0xFE);
    wc_u16(&w, 0xFEDC);
    wc_u32(&w, 0xFEDCBA98u);
    wc_u64(&w, 0xFEDCBA9876543210ull);
    assert_true(wc_ok(&w));
    r = rc_make(out, sizeof(out));
    assert_int_equal(rc_u8(&r), 0xFE);
    assert_int_equal(rc_u16(&r), 0xFEDC);
    assert_int_equal(rc_u32(&r), 0xFEDCBA98u);
    assert_int_equal(rc_u64(&r), 0xFEDCBA9876543210ull);
    assert_true(rc_ok(&r));
}

static void test_endian_helpers_round_trip(void **state)
{
    uint8_t b[8];
    (void)state;
    le16_store_no_bounds_check(b, 0xA1B2);
    assert_memory_equal(b, "\xB2\xA1", 2);
    assert_int_equal(le16_load_no_bounds_check(b), 0xA1B2);
    le32_store_no_bounds_check(b, 0xA1B2C3D4u);
    assert_memory_equal(b, "\xD4\xC3\xB2\xA1", 4);
    assert_int_equal(le32_load_no_bounds_check(b), 0xA1B2C3D4u);
    le64_store_no_bounds_check(b, 0xA1B2C3D4E5F60718ull);
    assert_memory_equal(b, "\x18\x07\xF6\xE5\xD4\xC3\xB2\xA1", 8);
    assert_int_equal(le64_load_no_bounds_check(b), 0xA1B2C3D4E5F60718ull);
}

static void test_load_le32_at_edges(void **state)
{
    uint32_t v = 0x12345678u;
    (void)state;
    assert_true(load_le32_at(seq, 16, 12, &v));
    assert_int_equal(v, 0x100F0E0Du);
    assert_true(load_le32_at(seq, 16, 0, &v));
    assert_int_equal(v, 0x04030201u);
    v = 0x12345678u;
    /* off == len - 3: three bytes left, one short. */
    assert_false(load_le32_at(seq, 16, 13, &v));
    assert_false(load_le32_at(seq, 16, 16, &v));
    assert_false(load_le32_at(seq, 16, 17, &v));
    assert_false(load_le32_at(seq, 16, SIZE_MAX, &v));
    assert_false(load_le32_at(seq, 16, SIZE_MAX - 2, &v));
    assert_false(load_le32_at(seq, 3, 0, &v));
    assert_false(load_le32_at(NULL, 0, 0, &v));
    assert_int_equal(v, 0x12345678u);
}

static void test_load_le64_at_edges(void **state)
{
    uint64_t v = 0x1122334455667788ull;
    (void)state;
    assert_true(load_le64_at(seq, 16, 8, &v));
    assert_int_equal(v, 0x100F0E0D0C0B0A09ull);
    v = 0x1122334455667788ull;
    assert_false(load_le64_at(seq, 16, 9, &v));
    assert_false(load_le64_at(seq, 16, 16, &v));
    assert_false(load_le64_at(seq, 16, 17, &v));
    assert_false(load_le64_at(seq, 16, SIZE_MAX, &v));
    assert_false(load_le64_at(seq, 16, SIZE_MAX - 6, &v));
    assert_false(load_le64_at(seq, 7, 0, &v));
    assert_false(load_le64_at(NULL, 0, 0, &v));
    assert_int_equal(v, 0x1122334455667788ull);
}

static void test_seek_on_failed_cursor_fails(void **state)
{
    uint8_t buf[8] = {0};
    struct rcursor r = rc_make(buf, sizeof(buf));
    struct wcursor w = wc_make(buf, sizeof(buf));
    (void)state;
    (void)rc_u64(&r);
    (void)rc_u8(&r); /* one byte past the end: failed */
    assert_false(rc_seek(&r, 0));
    assert_false(rc_ok(&r));
    wc_u64(&w, 1);
    wc_u8(&w, 1);
    assert_false(wc_seek(&w, 0));
    assert_false(wc_ok(&w));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rc_u8_at_exact_end_ok),
        cmocka_unit_test(test_rc_u8_past_end_fails_sticky),
        cmocka_unit_test(test_rc_u16_at_exact_end_ok),
        cmocka_unit_test(test_rc_u16_one_byte_short_fails_sticky),
        cmocka_unit_test(test_rc_u32_at_exact_end_ok),
        cmocka_unit_test(test_rc_u32_one_byte_short_fails_sticky),
        cmocka_unit_test(test_rc_u64_at_exact_end_ok),
        cmocka_unit_test(test_rc_u64_one_byte_short_fails_sticky),
        cmocka_unit_test(test_rc_failure_sticks_even_when_later_read_fits),
        cmocka_unit_test(test_rc_reads_are_little_endian),
        cmocka_unit_test(test_rc_high_bits_are_not_sign_extended),
        cmocka_unit_test(test_rc_zero_length_ops_on_null_cursor_ok),
        cmocka_unit_test(test_rc_make_null_with_length_is_empty),
        cmocka_unit_test(test_rc_nonzero_ops_on_null_cursor_fail),
        cmocka_unit_test(test_rc_zero_length_ops_at_end_of_data_ok),
        cmocka_unit_test(test_rc_take_returns_pointer_and_advances),
        cmocka_unit_test(test_rc_take_one_byte_short_fails),
        cmocka_unit_test(test_rc_take_huge_length_fails_without_wrap),
        cmocka_unit_test(test_rc_seek_bounds),
        cmocka_unit_test(test_rc_skip_bounds),
        cmocka_unit_test(test_rc_bytes_copies_and_zeroes_on_failure),
        cmocka_unit_test(test_rc_zeros_detects_nonzero_and_truncation),
        cmocka_unit_test(test_rc_invariant_detects_bad_state),
        cmocka_unit_test(test_wc_every_width_at_exact_end_ok),
        cmocka_unit_test(test_wc_u8_past_end_fails_sticky),
        cmocka_unit_test(test_wc_u16_one_byte_short_fails_sticky),
        cmocka_unit_test(test_wc_u32_one_byte_short_fails_sticky),
        cmocka_unit_test(test_wc_u64_one_byte_short_fails_sticky),
        cmocka_unit_test(test_wc_bytes_and_zeros_bounds),
        cmocka_unit_test(test_wc_zero_length_ops_on_null_cursor_ok),
        cmocka_unit_test(test_wc_make_null_with_length_is_empty),
        cmocka_unit_test(test_wc_seek_bounds),
        cmocka_unit_test(test_wc_writes_are_little_endian),
        cmocka_unit_test(test_wc_invariant_detects_bad_state),
        cmocka_unit_test(test_wc_then_rc_round_trip),
        cmocka_unit_test(test_endian_helpers_round_trip),
        cmocka_unit_test(test_load_le32_at_edges),
        cmocka_unit_test(test_load_le64_at_edges),
        cmocka_unit_test(test_seek_on_failed_cursor_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
