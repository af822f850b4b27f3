/* Header codec (VHDX-FORMAT.md §3): round trip and one test per rule. */
#include "test_util.h"

#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/header.h"

static uint8_t buf[HEADER_SIZE];

static struct header sample_header(void)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct header h;
    memset(&h, 0, sizeof(h));
    h.sequence_number = 0x0123456789ABCDEFull;
    h.file_write_guid = guid_make(0x11111111, 0x2222, 0x3333, d4);
    h.data_write_guid = guid_make(0x44444444, 0x5555, 0x6666, d4);
    h.version = 1;
    h.log_length = 1u << 20;
    h.log_offset = 1ull << 20;
    return h;
}

/* Re-stamps the checksum after a test edits the encoded bytes. */
static void restamp(void)
{
    le32_store_no_bounds_check(buf + 4, crc32c_with_zero_field(buf, HEADER_SIZE, 4));
}

static vhdx_status validate_fields(struct header h, uint64_t file_size, struct test_sink *ts)
{
    test_sink_init(ts);
    return header_validate(&h, file_size, &ts->sink);
}

static void test_header_round_trip_is_byte_exact(void **state)
{
    struct header h = sample_header(), out;
    uint8_t again[HEADER_SIZE];
    struct test_sink ts;
    (void)state;

    test_sink_init(&ts);
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "head", 4);
    assert_status(header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_memory_equal(&h, &out, sizeof(h));
    assert_status(header_validate(&out, 0, &ts.sink), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(header_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, HEADER_SIZE);
}

static void test_header_encode_field_offsets(void **state)
{
    struct header h = sample_header();
    (void)state;
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    assert_int_equal(le64_load_no_bounds_check(buf + 8), h.sequence_number);
    assert_memory_equal(buf + 16, h.file_write_guid.b, 16);
    assert_memory_equal(buf + 32, h.data_write_guid.b, 16);
    assert_int_equal(le16_load_no_bounds_check(buf + 66), 1);
    assert_int_equal(le32_load_no_bounds_check(buf + 68), 1u << 20);
    assert_int_equal(le64_load_no_bounds_check(buf + 72), 1u << 20);
    assert_int_equal(le32_load_no_bounds_check(buf + 4),
                     crc32c_with_zero_field(buf, HEADER_SIZE, 4));
}

static void test_header_encode_short_buffer_fails(void **state)
{
    struct header h = sample_header();
    (void)state;
    assert_status(header_encode(&h, buf, HEADER_SIZE - 1), VHDX_E_TRUNCATED);
}

static void test_header_truncated(void **state)
{
    struct header h = sample_header(), out;
    struct test_sink ts;
    (void)state;
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(header_decode(buf, HEADER_SIZE - 1, &out, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "header.truncated");
}

static void test_header_signature(void **state)
{
    struct header h = sample_header(), out;
    struct test_sink ts;
    (void)state;
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    buf[3] = 'e';
    restamp();
    test_sink_init(&ts);
    ts.sink.base = 0x10000;
    assert_status(header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "header.signature")->offset,
        0x10000);
}

static void test_header_checksum(void **state)
{
    struct header h = sample_header(), out;
    struct test_sink ts;
    (void)state;
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    buf[4095] ^= 1; /* the checksum covers all 4096 bytes, reserved ones too */
    test_sink_init(&ts);
    ts.sink.base = 0x20000;
    assert_status(header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_CHECKSUM);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "header.checksum")->offset,
        0x20004);
}

static void test_header_checksum_ignores_bytes_past_4096(void **state)
{
    static uint8_t slot[HEADER_SLOT_SIZE];
    struct header h = sample_header(), out;
    struct test_sink ts;
    (void)state;
    assert_status(header_encode(&h, slot, sizeof(slot)), VHDX_OK);
    memset(slot + HEADER_SIZE, 0xAB, sizeof(slot) - HEADER_SIZE);
    test_sink_init(&ts);
    assert_status(header_decode(slot, sizeof(slot), &out, &ts.sink), VHDX_OK);
    assert_no_findings(&ts);
}

static void test_header_reserved_nonzero_warns(void **state)
{
    struct header h = sample_header(), out;
    struct test_sink ts;
    (void)state;
    assert_status(header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    buf[2000] = 7;
    restamp();
    test_sink_init(&ts);
    assert_status(header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "header.reserved");
    assert_memory_equal(&h, &out, sizeof(h));
}

static void test_header_version(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.version = 2;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_VERSION);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_VERSION, "header.version");
    h.version = 0;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_VERSION);
}

static void test_header_log_version_with_log(void **state)
{
    static const uint8_t d4[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_guid = guid_make(1, 2, 3, d4);
    h.log_version = 1;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_VERSION);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_VERSION, "header.log_version");
}

static void test_header_log_version_without_log_warns(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_version = 1;
    assert_status(validate_fields(h, 0, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_VERSION, "header.log_version.ignored");
}

static void test_header_log_offset_alignment(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_offset = (1ull << 20) + 4096;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "header.log_offset.alignment");
}

static void test_header_log_length_alignment(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_length = (1u << 20) - 1;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "header.log_length.alignment");
}

static void test_header_log_length_zero_with_guid(void **state)
{
    static const uint8_t d4[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_guid = guid_make(7, 7, 7, d4);
    h.log_length = 0;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "header.log_length.zero");
    /* With no log GUID a zero length simply means "no log". */
    h = sample_header();
    h.log_length = 0;
    h.log_offset = 0;
    assert_status(validate_fields(h, 0, &ts), VHDX_OK);
    assert_no_findings(&ts);
}

static void test_header_log_offset_in_header_area(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_offset = 0;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "header.log_offset.range");
}

static void test_header_log_overflow(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.log_offset = UINT64_MAX & ~((1ull << 20) - 1); /* aligned, but + 1 MiB wraps */
    assert_status(validate_fields(h, 0, &ts), VHDX_E_OVERFLOW);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "header.log.overflow");
    /* The last aligned offset whose end is exactly 2^64 - 1 MiB + 1 MiB still wraps. */
    h.log_offset = UINT64_MAX - (2ull << 20) + 1;
    h.log_offset &= ~((1ull << 20) - 1);
    assert_status(validate_fields(h, 0, &ts), VHDX_OK);
}

static void test_header_log_past_eof(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    /* Log [1 MiB, 2 MiB): a 2 MiB file holds it, one byte less does not. */
    assert_status(validate_fields(h, 2ull << 20, &ts), VHDX_OK);
    assert_status(validate_fields(h, (2ull << 20) - 1, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "header.log.past_eof");
}

static void test_header_validate_reports_every_violation(void **state)
{
    struct header h = sample_header();
    struct test_sink ts;
    (void)state;
    h.version = 3;
    h.log_offset = 4096;
    h.log_length = 4096;
    assert_status(validate_fields(h, 0, &ts), VHDX_E_VERSION);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_VERSION, "header.version");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "header.log_offset.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "header.log_length.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "header.log_offset.range");
    assert_int_equal(ts.sink.errors, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip_is_byte_exact),
        cmocka_unit_test(test_header_encode_field_offsets),
        cmocka_unit_test(test_header_encode_short_buffer_fails),
        cmocka_unit_test(test_header_truncated),
        cmocka_unit_test(test_header_signature),
        cmocka_unit_test(test_header_checksum),
        cmocka_unit_test(test_header_checksum_ignores_bytes_past_4096),
        cmocka_unit_test(test_header_reserved_nonzero_warns),
        cmocka_unit_test(test_header_version),
        cmocka_unit_test(test_header_log_version_with_log),
        cmocka_unit_test(test_header_log_version_without_log_warns),
        cmocka_unit_test(test_header_log_offset_alignment),
        cmocka_unit_test(test_header_log_length_alignment),
        cmocka_unit_test(test_header_log_length_zero_with_guid),
        cmocka_unit_test(test_header_log_offset_in_header_area),
        cmocka_unit_test(test_header_log_overflow),
        cmocka_unit_test(test_header_log_past_eof),
        cmocka_unit_test(test_header_validate_reports_every_violation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
