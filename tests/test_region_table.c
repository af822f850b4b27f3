/* Region table codec (VHDX-FORMAT.md §4): round trip and one test per rule. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/region_table.h"

#define MiB (1024ull * 1024ull)

static uint8_t buf[REGION_TABLE_SIZE];
static struct region_table table, decoded;
static struct test_sink ts;

/* BAT at 2 MiB (1 MiB), metadata at 3 MiB (1 MiB); log at 1 MiB (1 MiB). */
static void sample(struct region_table *t)
{
    memset(t, 0, sizeof(*t));
    t->entry_count = 2;
    t->entries[0].guid = VHDX_GUID_REGION_BAT;
    t->entries[0].file_offset = 2 * MiB;
    t->entries[0].length = (uint32_t)MiB;
    t->entries[0].required = 1;
    t->entries[1].guid = VHDX_GUID_REGION_METADATA;
    t->entries[1].file_offset = 3 * MiB;
    t->entries[1].length = (uint32_t)MiB;
    t->entries[1].required = 1;
}

static const struct region_table_context ctx = {
    .file_size = 8 * MiB, .log_offset = 1 * MiB, .log_length = (uint32_t)MiB};

static void restamp(void)
{
    le32_store_no_bounds_check(buf + 4, crc32c_with_zero_field(buf, REGION_TABLE_SIZE, 4));
}

static vhdx_status validate(const struct region_table *t)
{
    test_sink_init(&ts);
    return region_table_validate(t, &ctx, &ts.sink);
}

static void test_region_table_round_trip_is_byte_exact(void **state)
{
    static uint8_t again[REGION_TABLE_SIZE];
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "regi", 4);
    assert_int_equal(le32_load_no_bounds_check(buf + 8), 2);
    assert_memory_equal(buf + 16, VHDX_GUID_REGION_BAT.b, 16);
    assert_int_equal(le64_load_no_bounds_check(buf + 32), 2 * MiB);
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_OK);
    assert_true(region_table_equal(&table, &decoded));
    assert_status(validate(&decoded), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(region_table_encode(&decoded, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
}

static void test_region_table_truncated(void **state)
{
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, REGION_TABLE_SIZE - 1, &decoded, &ts.sink),
                  VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "region_table.truncated");
}

static void test_region_table_signature(void **state)
{
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    memcpy(buf, "rege", 4);
    restamp();
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_E_SIGNATURE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "region_table.signature");
}

static void test_region_table_checksum_covers_padding(void **state)
{
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    buf[REGION_TABLE_SIZE - 1] = 1; /* reserved space after the entries is checksummed */
    test_sink_init(&ts);
    ts.sink.base = 192 * 1024;
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_E_CHECKSUM);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM,
                                      "region_table.checksum")
                         ->offset,
                     192 * 1024 + 4);
}

static void test_region_table_entry_count_2047_accepted_2048_rejected(void **state)
{
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    le32_store_no_bounds_check(buf + 8, 2047);
    restamp();
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_OK);
    assert_int_equal(decoded.entry_count, 2047);
    le32_store_no_bounds_check(buf + 8, 2048);
    restamp();
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry_count");
    /* The encoder refuses too. */
    table.entry_count = 2048;
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_E_RANGE);
}

static void test_region_table_reserved(void **state)
{
    (void)state;
    sample(&table);
    assert_status(region_table_encode(&table, buf, sizeof(buf)), VHDX_OK);
    buf[12] = 1;
    restamp();
    test_sink_init(&ts);
    assert_status(region_table_decode(buf, sizeof(buf), &decoded, &ts.sink), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "region_table.reserved");
}

static void test_region_table_offset_alignment(void **state)
{
    (void)state;
    sample(&table);
    table.entries[1].file_offset = 3 * MiB + 512;
    assert_status(validate(&table), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "region_table.entry.offset.alignment");
}

static void test_region_table_offset_in_header_section(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0].file_offset = 0;
    assert_status(validate(&table), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry.offset.range");
}

static void test_region_table_length_alignment(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0].length = (uint32_t)MiB + 4096;
    assert_status(validate(&table), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "region_table.entry.length.alignment");
}

static void test_region_table_length_zero(void **state)
{
    (void)state;
    sample(&table);
    table.entries[1].length = 0;
    assert_status(validate(&table), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry.length.zero");
}

/*
 * Entries that are all zero are an entry count past the entries written:
 * one finding at the count, none of the rules each zero entry breaks
 * (offset.range, length.zero, duplicate), wherever they sit.
 */
static void test_region_table_zero_entries_are_one_finding(void **state)
{
    const vhdx_diag *d;
    (void)state;
    sample(&table);
    table.entry_count = 258;
    assert_status(validate(&table), VHDX_E_RANGE);
    d = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "region_table.entry_count.zero_entries");
    assert_int_equal(d->offset, 8);
    assert_string_equal(d->message, "entry count is 258, but entries 2 to 257 are all zero: the "
                                    "count is wrong (the table holds 2 entries)");
    /* Zero entries between real ones: still one finding, worded for that. */
    sample(&table);
    table.entries[3] = table.entries[1];
    table.entry_count = 4;
    memset(&table.entries[1], 0, sizeof(table.entries[1]));
    assert_status(validate(&table), VHDX_E_RANGE);
    d = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "region_table.entry_count.zero_entries");
    assert_string_equal(d->message,
                        "entry count is 4, but 2 of the entries (the first is entry 1) are all zero");
    /* An entry with only a zero GUID is not a zero entry: its own rules apply. */
    sample(&table);
    table.entry_count = 3;
    table.entries[2].length = (uint32_t)MiB;
    table.entries[2].file_offset = 4 * MiB;
    assert_status(validate(&table), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "region_table.entry.unknown");
}

static void test_region_table_required_reserved_bits(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0].required = 3;
    assert_status(validate(&table), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                     "region_table.entry.required.reserved");
}

static void test_region_table_overflow(void **state)
{
    (void)state;
    sample(&table);
    table.entries[1].file_offset = UINT64_MAX & ~(MiB - 1);
    assert_status(validate(&table), VHDX_E_OVERFLOW);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "region_table.entry.overflow");
}

static void test_region_table_past_eof(void **state)
{
    (void)state;
    sample(&table);
    /* [7 MiB, 8 MiB) fits the 8 MiB file exactly; [8 MiB, 9 MiB) does not. */
    table.entries[1].file_offset = 7 * MiB;
    assert_status(validate(&table), VHDX_OK);
    table.entries[1].file_offset = 8 * MiB;
    assert_status(validate(&table), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry.past_eof");
}

static void test_region_table_overlaps_log(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0].file_offset = 1 * MiB;
    assert_status(validate(&table), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "region_table.entry.overlaps_log");
}

static void test_region_table_duplicate_guid(void **state)
{
    (void)state;
    sample(&table);
    table.entry_count = 3;
    table.entries[2] = table.entries[0];
    table.entries[2].file_offset = 5 * MiB;
    assert_status(validate(&table), VHDX_E_DUPLICATE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE,
                                      "region_table.entry.duplicate")
                         ->offset,
                     16 + 2 * 32);
}

static void test_region_table_unknown_required(void **state)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    (void)state;
    sample(&table);
    table.entry_count = 3;
    table.entries[2].guid = guid_make(0xDEADBEEF, 1, 2, d4);
    table.entries[2].file_offset = 5 * MiB;
    table.entries[2].length = (uint32_t)MiB;
    table.entries[2].required = 1;
    assert_status(validate(&table), VHDX_E_UNSUPPORTED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                     "region_table.entry.unknown_required");
}

static void test_region_table_unknown_optional_is_info(void **state)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    (void)state;
    sample(&table);
    table.entry_count = 3;
    table.entries[2].guid = guid_make(0xDEADBEEF, 1, 2, d4);
    table.entries[2].file_offset = 5 * MiB;
    table.entries[2].length = (uint32_t)MiB;
    assert_status(validate(&table), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "region_table.entry.unknown");
}

static void test_region_table_bat_missing(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0] = table.entries[1];
    table.entry_count = 1;
    assert_status(validate(&table), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "region_table.bat.missing");
}

static void test_region_table_metadata_missing(void **state)
{
    (void)state;
    sample(&table);
    table.entry_count = 1;
    assert_status(validate(&table), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "region_table.metadata.missing");
}

static void test_region_table_overlap(void **state)
{
    (void)state;
    sample(&table);
    table.entries[0].length = (uint32_t)(2 * MiB); /* [2, 4) MiB covers metadata at 3 MiB */
    assert_status(validate(&table), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "region_table.overlap");
    /* Adjacent is fine. */
    table.entries[0].length = (uint32_t)MiB;
    assert_status(validate(&table), VHDX_OK);
}

static void test_region_table_overlap_with_long_earlier_region(void **state)
{
    static const uint8_t d4[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    (void)state;
    /* A long region [2, 6) MiB followed by two regions inside it: both overlap it. */
    sample(&table);
    table.entries[0].length = (uint32_t)(4 * MiB);
    table.entry_count = 3;
    table.entries[2].guid = guid_make(0x12345678, 1, 2, d4);
    table.entries[2].file_offset = 5 * MiB;
    table.entries[2].length = (uint32_t)MiB;
    assert_status(validate(&table), VHDX_E_OVERLAP);
    assert_int_equal(ts.sink.errors, 2);
}

static void test_region_table_find(void **state)
{
    (void)state;
    sample(&table);
    assert_ptr_equal(region_table_find(&table, &VHDX_GUID_REGION_METADATA), &table.entries[1]);
    table.entry_count = 1;
    assert_null(region_table_find(&table, &VHDX_GUID_REGION_METADATA));
}

static void test_region_table_equal_detects_difference(void **state)
{
    (void)state;
    sample(&table);
    sample(&decoded);
    assert_true(region_table_equal(&table, &decoded));
    decoded.entries[1].required = 0;
    assert_false(region_table_equal(&table, &decoded));
}

/* Two regions starting at the same offset overlap: one finding, whatever their order. */
static void test_region_table_same_start_overlap(void **state)
{
    (void)state;
    sample(&table);
    table.entries[1].file_offset = table.entries[0].file_offset;
    assert_status(validate(&table), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "region_table.overlap");
}

/* The encoder refuses a buffer shorter than the table and a count the format cannot hold. */
static void test_region_table_encode_refusals(void **state)
{
    (void)state;
    sample(&table);
    memset(buf, 0xA5, sizeof(buf));
    assert_status(region_table_encode(&table, buf, REGION_TABLE_SIZE - 1), VHDX_E_TRUNCATED);
    assert_status(region_table_encode(&table, NULL, REGION_TABLE_SIZE), VHDX_E_TRUNCATED);
    table.entry_count = REGION_TABLE_MAX_ENTRIES + 1;
    assert_status(region_table_encode(&table, buf, REGION_TABLE_SIZE), VHDX_E_RANGE);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xA5);
    /* The validator refuses that count before looking at any entry. */
    assert_status(validate(&table), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry_count");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_region_table_round_trip_is_byte_exact),
        cmocka_unit_test(test_region_table_truncated),
        cmocka_unit_test(test_region_table_signature),
        cmocka_unit_test(test_region_table_checksum_covers_padding),
        cmocka_unit_test(test_region_table_entry_count_2047_accepted_2048_rejected),
        cmocka_unit_test(test_region_table_reserved),
        cmocka_unit_test(test_region_table_offset_alignment),
        cmocka_unit_test(test_region_table_offset_in_header_section),
        cmocka_unit_test(test_region_table_length_alignment),
        cmocka_unit_test(test_region_table_length_zero),
        cmocka_unit_test(test_region_table_zero_entries_are_one_finding),
        cmocka_unit_test(test_region_table_required_reserved_bits),
        cmocka_unit_test(test_region_table_overflow),
        cmocka_unit_test(test_region_table_past_eof),
        cmocka_unit_test(test_region_table_overlaps_log),
        cmocka_unit_test(test_region_table_duplicate_guid),
        cmocka_unit_test(test_region_table_unknown_required),
        cmocka_unit_test(test_region_table_unknown_optional_is_info),
        cmocka_unit_test(test_region_table_bat_missing),
        cmocka_unit_test(test_region_table_metadata_missing),
        cmocka_unit_test(test_region_table_overlap),
        cmocka_unit_test(test_region_table_same_start_overlap),
        cmocka_unit_test(test_region_table_encode_refusals),
        cmocka_unit_test(test_region_table_overlap_with_long_earlier_region),
        cmocka_unit_test(test_region_table_find),
        cmocka_unit_test(test_region_table_equal_detects_difference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
