/* UTF-16LE validation and conversion (src/base/utf16.h). */
#include "test_util.h"

#include <string.h>

#include "base/utf16.h"

#define U8(s) ((const uint8_t *)(s))

/* ---- utf16le_validate ---- */

static void assert_invalid_at(const char *s, size_t len, size_t offset)
{
    size_t bad = 0xDEAD;
    assert_status(utf16le_validate(U8(s), len, &bad), VHDX_E_ENCODING);
    assert_int_equal(bad, offset);
    /* bad_offset is optional. */
    assert_status(utf16le_validate(U8(s), len, NULL), VHDX_E_ENCODING);
}

static void assert_valid(const char *s, size_t len)
{
    size_t bad = 0xDEAD;
    assert_status(utf16le_validate(U8(s), len, &bad), VHDX_OK);
    assert_int_equal(bad, 0xDEAD);
}

static void test_utf16_validate_empty_ok(void **state)
{
    (void)state;
    assert_valid(NULL, 0);
    assert_valid("", 0);
}

static void test_utf16_validate_ascii_and_bmp_ok(void **state)
{
    (void)state;
    assert_valid("A\0b\0", 4);
    /* U+D7FF and U+E000 sit on either side of the surrogate range; U+FFFF is the top. */
    assert_valid("\xFF\xD7\x00\xE0\xFF\xFF", 6);
}

static void test_utf16_validate_odd_length(void **state)
{
    (void)state;
    assert_invalid_at("A", 1, 0);
    assert_invalid_at("A\0B", 3, 2);
    assert_invalid_at("A\0B\0C", 5, 4);
}

static void test_utf16_validate_lone_high_at_end(void **state)
{
    (void)state;
    assert_invalid_at("\x00\xD8", 2, 0);
    assert_invalid_at("A\0\xFF\xDB", 4, 2);
}

static void test_utf16_validate_lone_low(void **state)
{
    (void)state;
    assert_invalid_at("\x00\xDC", 2, 0);
    assert_invalid_at("A\0B\0\xFF\xDF" "C\0", 8, 4);
    /* Low before high: the low one is first and lone. */
    assert_invalid_at("\x00\xDC\x00\xD8", 4, 0);
}

static void test_utf16_validate_high_followed_by_non_low(void **state)
{
    (void)state;
    assert_invalid_at("\x00\xD8" "A\0", 4, 0);
    assert_invalid_at("A\0\x3D\xD8\x3D\xD8\x00\xDE", 8, 2);
    assert_invalid_at("A\0\x00\xD8\xFF\xDB", 6, 2);
    assert_invalid_at("\x00\xD8\x00\xE0", 4, 0);
}

static void test_utf16_validate_surrogate_pairs_ok(void **state)
{
    (void)state;
    /* U+1F600 = D83D DE00. */
    assert_valid("\x3D\xD8\x00\xDE", 4);
    /* U+10000 = D800 DC00 and U+10FFFF = DBFF DFFF. */
    assert_valid("\x00\xD8\x00\xDC\xFF\xDB\xFF\xDF", 8);
    assert_valid("A\0\x3D\xD8\x00\xDE" "B\0", 8);
}

static void test_utf16_validate_embedded_nul_rejected(void **state)
{
    (void)state;
    assert_invalid_at("\0\0", 2, 0);
    assert_invalid_at("A\0\0\0B\0", 6, 2);
    assert_invalid_at("A\0B\0\0\0", 6, 4);
    /* A zero byte inside a code unit is not U+0000. */
    assert_valid("\0A\0B", 4);
}

/* ---- utf16le_to_utf8 ---- */

static void assert_to_utf8(const char *s, size_t len, const char *expect)
{
    char out[32];
    size_t n = 0xDEAD;
    memset(out, 'x', sizeof(out));
    assert_status(utf16le_to_utf8(U8(s), len, out, sizeof(out), &n), VHDX_OK);
    assert_int_equal(n, strlen(expect));
    assert_string_equal(out, expect);
}

static void test_utf16_to_utf8_ascii(void **state)
{
    (void)state;
    assert_to_utf8("H\0i\0!\0", 6, "Hi!");
    assert_to_utf8("\x7F\0", 2, "\x7F");
    assert_to_utf8(NULL, 0, "");
}

static void test_utf16_to_utf8_two_byte(void **state)
{
    (void)state;
    assert_to_utf8("\x80\0", 2, "\xC2\x80");
    assert_to_utf8("\xE9\0", 2, "\xC3\xA9");
    assert_to_utf8("\xFF\x07", 2, "\xDF\xBF");
}

static void test_utf16_to_utf8_three_byte(void **state)
{
    (void)state;
    assert_to_utf8("\x00\x08", 2, "\xE0\xA0\x80");
    assert_to_utf8("\xAC\x20", 2, "\xE2\x82\xAC");
    assert_to_utf8("\xFF\xD7", 2, "\xED\x9F\xBF");
    assert_to_utf8("\x00\xE0", 2, "\xEE\x80\x80");
    assert_to_utf8("\xFF\xFF", 2, "\xEF\xBF\xBF");
}

static void test_utf16_to_utf8_four_byte(void **state)
{
    (void)state;
    assert_to_utf8("\x3D\xD8\x00\xDE", 4, "\xF0\x9F\x98\x80");
    assert_to_utf8("\x00\xD8\x00\xDC", 4, "\xF0\x90\x80\x80");
    assert_to_utf8("\xFF\xDB\xFF\xDF", 4, "\xF4\x8F\xBF\xBF");
}

/* "A" U+20AC U+1F600: UTF-8 41 E2 82 AC F0 9F 98 80 (8 bytes). */
static const char mixed16[] = "A\0\xAC\x20\x3D\xD8\x00\xDE";
static const char mixed8[] = "A\xE2\x82\xAC\xF0\x9F\x98\x80";

static void test_utf16_to_utf8_exact_fit(void **state)
{
    char out[9];
    size_t n = 0;
    (void)state;
    assert_status(utf16le_to_utf8(U8(mixed16), 8, out, sizeof(out), &n), VHDX_OK);
    assert_int_equal(n, 8);
    assert_string_equal(out, mixed8);
}

static void test_utf16_to_utf8_one_byte_short_gives_prefix(void **state)
{
    char out[9];
    size_t n = 0;
    (void)state;
    memset(out, 'x', sizeof(out));
    /* Room for 7 bytes + NUL: the 4-byte character does not fit, nor any part of it. */
    assert_status(utf16le_to_utf8(U8(mixed16), 8, out, 8, &n), VHDX_E_LIMIT);
    assert_int_equal(n, 4);
    assert_string_equal(out, "A\xE2\x82\xAC");
    assert_int_equal(out[5], 'x');
}

static void test_utf16_to_utf8_short_mid_character(void **state)
{
    char out[4];
    size_t n = 0;
    (void)state;
    /* Room for 2 bytes + NUL: "A" fits, the 3-byte euro sign does not. */
    assert_status(utf16le_to_utf8(U8(mixed16), 8, out, 3, &n), VHDX_E_LIMIT);
    assert_int_equal(n, 1);
    assert_string_equal(out, "A");
    /* cap 1 leaves room for the NUL only. */
    assert_status(utf16le_to_utf8(U8(mixed16), 8, out, 1, &n), VHDX_E_LIMIT);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
}

static void test_utf16_to_utf8_cap_zero_is_limit(void **state)
{
    char out[1] = {'x'};
    (void)state;
    assert_status(utf16le_to_utf8(U8(mixed16), 8, out, 0, NULL), VHDX_E_LIMIT);
    assert_int_equal(out[0], 'x');
    /* Even for empty input: there is no room for the NUL. */
    assert_status(utf16le_to_utf8(U8(""), 0, NULL, 0, NULL), VHDX_E_LIMIT);
}

static void test_utf16_to_utf8_empty_input_cap_one_ok(void **state)
{
    char out[1] = {'x'};
    size_t n = 7;
    (void)state;
    assert_status(utf16le_to_utf8(NULL, 0, out, 1, &n), VHDX_OK);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], '\0');
}

static void test_utf16_to_utf8_rejects_bad_input_with_prefix(void **state)
{
    char out[16];
    size_t n = 0;
    (void)state;
    memset(out, 'x', sizeof(out));
    assert_status(utf16le_to_utf8(U8("A\0\x00\xDC"), 4, out, sizeof(out), &n), VHDX_E_ENCODING);
    assert_string_equal(out, "A");
    assert_int_equal(n, 1);
    memset(out, 'x', sizeof(out));
    assert_status(utf16le_to_utf8(U8("A\0\x00\xD8"), 4, out, sizeof(out), &n), VHDX_E_ENCODING);
    assert_string_equal(out, "A");
    memset(out, 'x', sizeof(out));
    assert_status(utf16le_to_utf8(U8("A\0\0\0B\0"), 6, out, sizeof(out), &n), VHDX_E_ENCODING);
    assert_string_equal(out, "A");
    memset(out, 'x', sizeof(out));
    assert_status(utf16le_to_utf8(U8("A\0B"), 3, out, sizeof(out), NULL), VHDX_E_ENCODING);
    assert_string_equal(out, "");
}

/* ---- utf8_to_utf16le ---- */

static void test_utf8_to_utf16_round_trip(void **state)
{
    uint8_t u16[16];
    char back[16];
    size_t n = 0, m = 0;
    (void)state;
    assert_status(utf8_to_utf16le(mixed8, strlen(mixed8), u16, sizeof(u16), &n), VHDX_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(u16, mixed16, 8);
    assert_status(utf16le_validate(u16, n, NULL), VHDX_OK);
    assert_status(utf16le_to_utf8(u16, n, back, sizeof(back), &m), VHDX_OK);
    assert_int_equal(m, strlen(mixed8));
    assert_string_equal(back, mixed8);
}

static void test_utf8_to_utf16_every_width(void **state)
{
    static const struct {
        const char *u8;
        const char *u16;
        size_t u16_len;
    } cases[] = {
        {"\x01", "\x01\0", 2},
        {"\x7F", "\x7F\0", 2},
        {"\xC2\x80", "\x80\0", 2},
        {"\xDF\xBF", "\xFF\x07", 2},
        {"\xE0\xA0\x80", "\x00\x08", 2},
        {"\xED\x9F\xBF", "\xFF\xD7", 2},
        {"\xEE\x80\x80", "\x00\xE0", 2},
        {"\xEF\xBF\xBF", "\xFF\xFF", 2},
        {"\xF0\x90\x80\x80", "\x00\xD8\x00\xDC", 4},
        {"\xF0\x9F\x98\x80", "\x3D\xD8\x00\xDE", 4},
        {"\xF4\x8F\xBF\xBF", "\xFF\xDB\xFF\xDF", 4},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint8_t out[8];
        char back[8];
        size_t n = 0, m = 0;
        assert_status(utf8_to_utf16le(cases[i].u8, strlen(cases[i].u8), out, sizeof(out), &n),
                      VHDX_OK);
        assert_int_equal(n, cases[i].u16_len);
        assert_memory_equal(out, cases[i].u16, n);
        assert_status(utf16le_to_utf8(out, n, back, sizeof(back), &m), VHDX_OK);
        assert_string_equal(back, cases[i].u8);
    }
}

static void test_utf8_to_utf16_empty_ok(void **state)
{
    size_t n = 7;
    (void)state;
    assert_status(utf8_to_utf16le("", 0, NULL, 0, &n), VHDX_OK);
    assert_int_equal(n, 0);
}

static void assert_utf8_rejected(const char *s, size_t len)
{
    uint8_t out[16];
    assert_status(utf8_to_utf16le(s, len, out, sizeof(out), NULL), VHDX_E_ENCODING);
}

static void test_utf8_to_utf16_rejects_overlong(void **state)
{
    (void)state;
    assert_utf8_rejected("\xC0\x80", 2);
    assert_utf8_rejected("\xC1\xBF", 2);
    assert_utf8_rejected("\xE0\x80\x80", 3);
    assert_utf8_rejected("\xE0\x9F\xBF", 3);
    assert_utf8_rejected("\xF0\x80\x80\x80", 4);
    assert_utf8_rejected("\xF0\x8F\xBF\xBF", 4);
}

static void test_utf8_to_utf16_rejects_surrogates(void **state)
{
    (void)state;
    assert_utf8_rejected("\xED\xA0\x80", 3);
    assert_utf8_rejected("\xED\xBF\xBF", 3);
    /* A CESU-8 style encoded pair for U+1F600. */
    assert_utf8_rejected("\xED\xA0\xBD\xED\xB8\x80", 6);
}

static void test_utf8_to_utf16_rejects_above_10ffff(void **state)
{
    (void)state;
    assert_utf8_rejected("\xF4\x90\x80\x80", 4);
    assert_utf8_rejected("\xF7\xBF\xBF\xBF", 4);
    assert_utf8_rejected("\xF8\x88\x80\x80\x80", 5);
    assert_utf8_rejected("\xFC\x84\x80\x80\x80\x80", 6);
    assert_utf8_rejected("\xFE", 1);
    assert_utf8_rejected("\xFF", 1);
}

static void test_utf8_to_utf16_rejects_truncated(void **state)
{
    (void)state;
    assert_utf8_rejected("\xC3", 1);
    assert_utf8_rejected("\xE2\x82", 2);
    assert_utf8_rejected("\xF0\x9F\x98", 3);
    assert_utf8_rejected("A\xF0", 2);
    /* Continuation byte replaced by ASCII. */
    assert_utf8_rejected("\xC3" "A", 2);
    assert_utf8_rejected("\xE2\x82" "A", 3);
    /* Length cuts the sequence even though more bytes follow in memory. */
    assert_utf8_rejected("\xE2\x82\xAC", 2);
}

static void test_utf8_to_utf16_rejects_stray_continuation(void **state)
{
    (void)state;
    assert_utf8_rejected("\x80", 1);
    assert_utf8_rejected("A\xBF", 2);
}

static void test_utf8_to_utf16_rejects_nul(void **state)
{
    (void)state;
    assert_utf8_rejected("\0", 1);
    assert_utf8_rejected("A\0B", 3);
}

static void test_utf8_to_utf16_small_buffer_is_limit(void **state)
{
    uint8_t out[8];
    size_t n = 0;
    (void)state;
    assert_status(utf8_to_utf16le(mixed8, strlen(mixed8), out, 8, &n), VHDX_OK);
    assert_int_equal(n, 8);
    /* Surrogate pair needs 4 bytes; 3 are left. */
    assert_status(utf8_to_utf16le(mixed8, strlen(mixed8), out, 7, NULL), VHDX_E_LIMIT);
    assert_status(utf8_to_utf16le(mixed8, strlen(mixed8), out, 4, NULL), VHDX_E_LIMIT);
    /* A BMP character needs 2 bytes; 1 is left. */
    assert_status(utf8_to_utf16le("AB", 2, out, 3, NULL), VHDX_E_LIMIT);
    assert_status(utf8_to_utf16le("A", 1, out, 1, NULL), VHDX_E_LIMIT);
    assert_status(utf8_to_utf16le("A", 1, NULL, 0, NULL), VHDX_E_LIMIT);
    assert_status(utf8_to_utf16le("A", 1, out, 2, &n), VHDX_OK);
    assert_int_equal(n, 2);
}

/* ---- utf16le_nul_terminated_len ---- */

static void test_utf16_nul_terminated_len(void **state)
{
    (void)state;
    assert_int_equal(utf16le_nul_terminated_len(NULL, 0), 0);
    assert_int_equal(utf16le_nul_terminated_len(U8("\0\0"), 2), 0);
    assert_int_equal(utf16le_nul_terminated_len(U8("A\0B\0\0\0C\0"), 8), 4);
    /* No NUL: the whole even length. */
    assert_int_equal(utf16le_nul_terminated_len(U8("A\0B\0"), 4), 4);
    /* An odd trailing byte is not a code unit. */
    assert_int_equal(utf16le_nul_terminated_len(U8("A\0B"), 3), 2);
    assert_int_equal(utf16le_nul_terminated_len(U8("A"), 1), 0);
    /* Two zero bytes that straddle code units are not a NUL unit. */
    assert_int_equal(utf16le_nul_terminated_len(U8("A\0\0B\0\0"), 6), 4);
    assert_int_equal(utf16le_nul_terminated_len(U8("\0A\0B"), 4), 4);
}

static void test_utf16_odd_input_reports_first_bad_unit(void **state)
{
    /* A lone high surrogate at 0, then an odd trailing byte: the surrogate is first. */
    static const uint8_t s[3] = {0x00, 0xD8, 0x41};
    size_t bad = 99, n = 99;
    char out[8];
    (void)state;
    assert_status(utf16le_validate(s, sizeof(s), &bad), VHDX_E_ENCODING);
    assert_int_equal(bad, 0);
    assert_status(utf16le_to_utf8(s, sizeof(s), out, sizeof(out), &n), VHDX_E_ENCODING);
    assert_int_equal(n, 0);
    n = 99;
    assert_status(utf16le_to_utf8(s, 2, out, 0, &n), VHDX_E_LIMIT);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf16_validate_empty_ok),
        cmocka_unit_test(test_utf16_validate_ascii_and_bmp_ok),
        cmocka_unit_test(test_utf16_validate_odd_length),
        cmocka_unit_test(test_utf16_validate_lone_high_at_end),
        cmocka_unit_test(test_utf16_validate_lone_low),
        cmocka_unit_test(test_utf16_validate_high_followed_by_non_low),
        cmocka_unit_test(test_utf16_validate_surrogate_pairs_ok),
        cmocka_unit_test(test_utf16_validate_embedded_nul_rejected),
        cmocka_unit_test(test_utf16_to_utf8_ascii),
        cmocka_unit_test(test_utf16_to_utf8_two_byte),
        cmocka_unit_test(test_utf16_to_utf8_three_byte),
        cmocka_unit_test(test_utf16_to_utf8_four_byte),
        cmocka_unit_test(test_utf16_to_utf8_exact_fit),
        cmocka_unit_test(test_utf16_to_utf8_one_byte_short_gives_prefix),
        cmocka_unit_test(test_utf16_to_utf8_short_mid_character),
        cmocka_unit_test(test_utf16_to_utf8_cap_zero_is_limit),
        cmocka_unit_test(test_utf16_to_utf8_empty_input_cap_one_ok),
        cmocka_unit_test(test_utf16_to_utf8_rejects_bad_input_with_prefix),
        cmocka_unit_test(test_utf8_to_utf16_round_trip),
        cmocka_unit_test(test_utf8_to_utf16_every_width),
        cmocka_unit_test(test_utf8_to_utf16_empty_ok),
        cmocka_unit_test(test_utf8_to_utf16_rejects_overlong),
        cmocka_unit_test(test_utf8_to_utf16_rejects_surrogates),
        cmocka_unit_test(test_utf8_to_utf16_rejects_above_10ffff),
        cmocka_unit_test(test_utf8_to_utf16_rejects_truncated),
        cmocka_unit_test(test_utf8_to_utf16_rejects_stray_continuation),
        cmocka_unit_test(test_utf8_to_utf16_rejects_nul),
        cmocka_unit_test(test_utf8_to_utf16_small_buffer_is_limit),
        cmocka_unit_test(test_utf16_nul_terminated_len),
        cmocka_unit_test(test_utf16_odd_input_reports_first_bad_unit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
