/* Metadata table codec (VHDX-FORMAT.md §5.1-§5.4): round trip and one test per rule. */
#include "test_util.h"

#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/metadata_table.h"

#define REGION_1M (1ull << 20)

static uint8_t buf[METADATA_TABLE_SIZE];
static uint8_t again[METADATA_TABLE_SIZE];
static struct metadata_table tbl, out;

static void add(struct metadata_table *t, struct guid id, uint32_t off, uint32_t len, bool user,
                bool vd, bool req)
{
    struct metadata_entry *e = &t->entries[t->entry_count++];
    memset(e, 0, sizeof(*e));
    e->item_id = id;
    e->offset = off;
    e->length = len;
    e->is_user = user;
    e->is_virtual_disk = vd;
    e->is_required = req;
}

/* A distinct non-nil GUID per n, unlike any known item. */
static struct guid other_guid(uint32_t n)
{
    static const uint8_t d4[8] = {0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8};
    return guid_make(0x5EED0000u + n, 0x1234, 0x5678, d4);
}

/* The five mandatory items, laid out as a writer would, in a 1 MiB region. */
static void sample_table(struct metadata_table *t)
{
    memset(t, 0, sizeof(*t));
    add(t, VHDX_GUID_FILE_PARAMETERS, 0x10000, 8, false, false, true);
    add(t, VHDX_GUID_VIRTUAL_DISK_SIZE, 0x10008, 8, false, true, true);
    add(t, VHDX_GUID_VIRTUAL_DISK_ID, 0x10010, 16, false, true, true);
    add(t, VHDX_GUID_LOGICAL_SECTOR_SIZE, 0x10020, 4, false, true, true);
    add(t, VHDX_GUID_PHYSICAL_SECTOR_SIZE, 0x10024, 4, false, true, true);
}

static vhdx_status validate(const struct metadata_table *t, uint64_t region, struct test_sink *ts)
{
    test_sink_init(ts);
    return metadata_table_validate(t, region, &ts->sink);
}

static vhdx_status decode_buf(struct test_sink *ts)
{
    test_sink_init(ts);
    return metadata_table_decode(buf, sizeof(buf), &out, &ts->sink);
}

static void encode_sample(void)
{
    sample_table(&tbl);
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_OK);
}

/* ---- round trip and encoding ---- */

static void test_metadata_table_round_trip_is_byte_exact(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x20000, 100, true, false, false);
    add(&tbl, other_guid(2), 0, 0, true, true, false);
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_OK);
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_memory_equal(&tbl, &out, sizeof(tbl));
    assert_status(validate(&out, REGION_1M, &ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(ts.sink.total, 0);
    assert_status(metadata_table_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
}

static void test_metadata_table_encode_field_offsets(void **state)
{
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(3), 0x30000, 0x1234, true, true, false);
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "metadata", 8);
    assert_int_equal(le16_load_no_bounds_check(buf + 8), 0);
    assert_int_equal(le16_load_no_bounds_check(buf + 10), 6);
    for (size_t i = 12; i < 32; i++)
        assert_int_equal(buf[i], 0);
    /* Entry 0: File Parameters, required only. */
    assert_memory_equal(buf + 32, VHDX_GUID_FILE_PARAMETERS.b, 16);
    assert_int_equal(le32_load_no_bounds_check(buf + 48), 0x10000);
    assert_int_equal(le32_load_no_bounds_check(buf + 52), 8);
    assert_int_equal(le32_load_no_bounds_check(buf + 56), METADATA_FLAG_IS_REQUIRED);
    assert_int_equal(le32_load_no_bounds_check(buf + 60), 0);
    /* Entry 1: IsVirtualDisk | IsRequired = 6. */
    assert_int_equal(le32_load_no_bounds_check(buf + 32 + 32 + 24), 6);
    /* Entry 5: IsUser | IsVirtualDisk = 3. */
    assert_int_equal(le32_load_no_bounds_check(buf + 32 + 5 * 32 + 16), 0x30000);
    assert_int_equal(le32_load_no_bounds_check(buf + 32 + 5 * 32 + 20), 0x1234);
    assert_int_equal(le32_load_no_bounds_check(buf + 32 + 5 * 32 + 24), 3);
    for (size_t i = 32 + 6 * 32; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
}

static void test_metadata_table_encode_short_buffer_fails(void **state)
{
    (void)state;
    sample_table(&tbl);
    assert_status(metadata_table_encode(&tbl, buf, METADATA_TABLE_SIZE - 1), VHDX_E_TRUNCATED);
    assert_status(metadata_table_encode(&tbl, NULL, 0), VHDX_E_TRUNCATED);
}

static void test_metadata_table_encode_2048_entries_is_invalid_arg(void **state)
{
    (void)state;
    sample_table(&tbl);
    tbl.entry_count = METADATA_TABLE_MAX_ENTRIES + 1;
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_E_INVALID_ARG);
}

static void test_metadata_table_find_distinguishes_is_user(void **state)
{
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_FILE_PARAMETERS, 0x20000, 8, true, false, false);
    assert_ptr_equal(metadata_table_find(&tbl, &VHDX_GUID_FILE_PARAMETERS, false),
                     &tbl.entries[0]);
    assert_ptr_equal(metadata_table_find(&tbl, &VHDX_GUID_FILE_PARAMETERS, true),
                     &tbl.entries[5]);
    assert_null(metadata_table_find(&tbl, &VHDX_GUID_PARENT_LOCATOR, false));
}

/* ---- decode rules ---- */

static void test_metadata_table_truncated(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    test_sink_init(&ts);
    assert_status(metadata_table_decode(buf, METADATA_TABLE_SIZE - 1, &out, &ts.sink),
                  VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "metadata_table.truncated");
    test_sink_init(&ts);
    assert_status(metadata_table_decode(NULL, 0, &out, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "metadata_table.truncated");
}

static void test_metadata_table_signature(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[7] = 'A';
    test_sink_init(&ts);
    ts.sink.base = 0x200000;
    assert_status(metadata_table_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                                      "metadata_table.signature")
                         ->offset,
                     0x200000);
}

static void test_metadata_table_entry_count_2048_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    le16_store_no_bounds_check(buf + 10, 2048);
    assert_status(decode_buf(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "metadata_table.entry_count")
                         ->offset,
                     10);
    le16_store_no_bounds_check(buf + 10, 0xFFFF);
    assert_status(decode_buf(&ts), VHDX_E_RANGE);
}

static void test_metadata_table_2047_entries_valid(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    /* 1024 user items plus 1018 unknown optional system items: 2047 in all. */
    for (uint32_t i = 0; tbl.entry_count < METADATA_TABLE_MAX_ENTRIES; i++)
        add(&tbl, other_guid(i), 0x20000 + 3 * i, 3, i < 1024, false, false);
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_OK);
    assert_int_equal(le16_load_no_bounds_check(buf + 10), 2047);
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0); /* the entries fill the table to its last byte */
    assert_memory_equal(&tbl, &out, sizeof(tbl));
    assert_status(validate(&out, REGION_1M, &ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(ts.sink.infos, 2047 - 5 - 1024);
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "metadata_table.entry.unknown");
    assert_status(metadata_table_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
}

static void test_metadata_table_reserved(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[9] = 0x80;
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "metadata_table.reserved")
                         ->offset,
                     8);
}

static void test_metadata_table_reserved2(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[31] = 1;
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "metadata_table.reserved2")
                         ->offset,
                     12);
    encode_sample();
    buf[12] = 1;
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "metadata_table.reserved2");
}

static void test_metadata_table_entry_flags_reserved_bits(void **state)
{
    struct test_sink ts;
    (void)state;
    /* Bit 3 is the lowest reserved bit, bit 31 the highest. */
    encode_sample();
    le32_store_no_bounds_check(buf + 32 + 2 * 32 + 24, 0x6u | 0x8u);
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "metadata_table.entry.flags.reserved")
                         ->offset,
                     32 + 2 * 32 + 24);
    encode_sample();
    le32_store_no_bounds_check(buf + 32 + 24, 0x80000004u);
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                     "metadata_table.entry.flags.reserved");
    /* Bits 0-2 alone are all defined. */
    encode_sample();
    le32_store_no_bounds_check(buf + 32 + 24, 0x7u);
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_true(out.entries[0].is_user && out.entries[0].is_virtual_disk &&
                out.entries[0].is_required);
}

static void test_metadata_table_entry_reserved2(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[32 + 4 * 32 + 31] = 0x10;
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "metadata_table.entry.reserved2")
                         ->offset,
                     32 + 4 * 32 + 28);
}

static void test_metadata_table_decode_reports_every_reserved_field(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[8] = 1;
    buf[20] = 1;
    buf[32 + 24 + 3] = 0x01;
    buf[32 + 3 * 32 + 28] = 0x01;
    buf[32 + 4 * 32 + 28] = 0x01;
    assert_status(decode_buf(&ts), VHDX_E_RESERVED);
    assert_int_equal(ts.sink.errors, 5);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "metadata_table.reserved");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "metadata_table.reserved2");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "metadata_table.entry.flags.reserved");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "metadata_table.entry.reserved2");
}

static void test_metadata_table_trailing_nonzero_is_info_and_not_reencoded(void **state)
{
    struct test_sink ts;
    (void)state;
    encode_sample();
    buf[sizeof(buf) - 1] = 0xEE;
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK,
                                      "metadata_table.trailing_nonzero")
                         ->offset,
                     sizeof(buf) - 1);
    assert_memory_equal(&tbl, &out, sizeof(tbl));
    assert_status(metadata_table_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_int_equal(again[sizeof(again) - 1], 0);
    /* The byte right after the last entry is the first one looked at. */
    encode_sample();
    buf[32 + 5 * 32] = 1;
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK,
                                      "metadata_table.trailing_nonzero")
                         ->offset,
                     32 + 5 * 32);
    /* Either side of a 4 KiB step of the scan, and inside a later step. */
    static const size_t steps[3] = {32 + 5 * 32 + 4095, 32 + 5 * 32 + 4096,
                                    32 + 5 * 32 + 8192 + 100};
    for (size_t k = 0; k < 3; k++) {
        size_t at = steps[k];
        encode_sample();
        buf[at] = 0x80;
        buf[sizeof(buf) - 1] = 0xEE; /* only the first is reported */
        assert_status(decode_buf(&ts), VHDX_OK);
        assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK,
                                          "metadata_table.trailing_nonzero")
                             ->offset,
                         at);
    }
}

/*
 * The table of the Hyper-V sample image (hyperv-dynamic-1G.vhdx): five
 * entries, then a stale copy of the Virtual Disk ID entry past EntryCount.
 * It must decode and validate with no error or warning.
 */
static void test_metadata_table_hyperv_stale_entry_past_count_is_valid(void **state)
{
    struct test_sink ts;
    (void)state;
    memset(&tbl, 0, sizeof(tbl));
    add(&tbl, VHDX_GUID_FILE_PARAMETERS, 0x10000, 8, false, false, true);
    add(&tbl, VHDX_GUID_VIRTUAL_DISK_SIZE, 0x10008, 8, false, true, true);
    add(&tbl, VHDX_GUID_LOGICAL_SECTOR_SIZE, 0x10010, 4, false, true, true);
    add(&tbl, VHDX_GUID_PHYSICAL_SECTOR_SIZE, 0x10014, 4, false, true, true);
    add(&tbl, VHDX_GUID_VIRTUAL_DISK_ID, 0x10018, 16, false, true, true);
    assert_status(metadata_table_encode(&tbl, buf, sizeof(buf)), VHDX_OK);
    memcpy(buf + 32 + 5 * 32, buf + 32 + 4 * 32, 32);
    assert_status(decode_buf(&ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "metadata_table.trailing_nonzero");
    assert_int_equal(out.entry_count, 5);
    assert_status(validate(&out, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

/* ---- validate rules, one entry at a time ---- */

static void test_metadata_table_region_too_small(void **state)
{
    struct test_sink ts;
    (void)state;
    /* An empty table: only the table itself needs room. */
    memset(&tbl, 0, sizeof(tbl));
    assert_status(validate(&tbl, METADATA_TABLE_SIZE - 1, &ts), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.region.too_small");
    assert_int_equal(ts.sink.errors, 1 + 5); /* plus the five missing items */
    sample_table(&tbl);
    assert_status(validate(&tbl, METADATA_TABLE_SIZE - 1, &ts), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.region.too_small");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.past_region");
}

static void test_metadata_table_item_id_nil(void **state)
{
    struct test_sink ts;
    struct guid nil;
    (void)state;
    memset(&nil, 0, sizeof(nil));
    sample_table(&tbl);
    add(&tbl, nil, 0x20000, 8, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "metadata_table.entry.item_id.nil")
                         ->offset,
                     32 + 5 * 32);
}

static void test_metadata_table_empty_item_with_offset(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x20000, 0, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "metadata_table.entry.offset.empty")
                         ->offset,
                     32 + 5 * 32 + 16);
    /* Length 0 with Offset 0: present, empty, and exempt from the 64 KiB rule. */
    tbl.entries[5].offset = 0;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_offset_inside_table(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), METADATA_ITEM_MIN_OFFSET - 1, 1, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.offset.range");
    tbl.entries[5].offset = 1;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.offset.range");
    /* 64 KiB exactly is allowed (the sample's first item already sits there). */
    tbl.entries[5].offset = 0x80000;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
}

static void test_metadata_table_length_over_1mib(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x100000, METADATA_ITEM_MAX_LENGTH, true, false, false);
    assert_status(validate(&tbl, 4 * REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    tbl.entries[5].length = METADATA_ITEM_MAX_LENGTH + 1;
    assert_status(validate(&tbl, 4 * REGION_1M, &ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "metadata_table.entry.length.range")
                         ->offset,
                     32 + 5 * 32 + 20);
}

static void test_metadata_table_item_exactly_fills_region_end(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), (uint32_t)REGION_1M - 16, 16, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_item_one_byte_past_region(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), (uint32_t)REGION_1M - 16, 17, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.past_region");
    /* Largest offset and length: the sum is computed without wrapping. */
    tbl.entries[5].offset = UINT32_MAX;
    tbl.entries[5].length = METADATA_ITEM_MAX_LENGTH;
    assert_status(validate(&tbl, UINT32_MAX, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.past_region");
}

static void test_metadata_table_user_item_required(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x20000, 8, true, false, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "metadata_table.entry.user_required")
                         ->offset,
                     32 + 5 * 32 + 24);
}

static void test_metadata_table_known_item_not_required(void **state)
{
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < 5; i++) {
        sample_table(&tbl);
        tbl.entries[i].is_required = false;
        assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                         "metadata_table.entry.known.not_required");
    }
}

static void test_metadata_table_known_item_virtual_disk_flag(void **state)
{
    struct test_sink ts;
    (void)state;
    /* File Parameters must have IsVirtualDisk clear, the other four set. */
    for (size_t i = 0; i < 5; i++) {
        sample_table(&tbl);
        tbl.entries[i].is_virtual_disk = !tbl.entries[i].is_virtual_disk;
        assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                         "metadata_table.entry.known.virtual_disk_flag");
    }
    /* The parent locator describes the file: IsVirtualDisk clear. */
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_PARENT_LOCATOR, 0x10100, 100, false, true, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                     "metadata_table.entry.known.virtual_disk_flag");
}

static void test_metadata_table_known_item_length_exact(void **state)
{
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < 5; i++) {
        sample_table(&tbl);
        tbl.entries[i].length -= 1;
        assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "metadata_table.entry.known.length");
        /* One byte more: moved to free space so that it overlaps nothing. */
        sample_table(&tbl);
        tbl.entries[i].length += 1;
        tbl.entries[i].offset = 0x40000;
        assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "metadata_table.entry.known.length");
    }
    /* Physical sector size as VirtualBox declares it (8 bytes) is refused. */
    sample_table(&tbl);
    tbl.entries[4].offset = 0x40000;
    tbl.entries[4].length = 8;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.known.length");
}

static void test_metadata_table_known_item_empty_is_wrong_length(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    tbl.entries[3].offset = 0;
    tbl.entries[3].length = 0;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.known.length");
}

static void test_metadata_table_incomplete_file_marker_refused(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_INCOMPLETE_FILE, 0, 0, false, false, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "metadata_table.incomplete_file")
                         ->offset,
                     32 + 5 * 32);
    /* Refused whether or not it is marked required. */
    tbl.entries[5].is_required = false;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "metadata_table.incomplete_file");
    /* A user item with the same GUID is a different item. */
    tbl.entries[5].is_user = true;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_unknown_required_item_unsupported(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(9), 0x20000, 8, false, false, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_UNSUPPORTED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                     "metadata_table.entry.unknown_required");
}

static void test_metadata_table_openvmm_items_required_unsupported(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_CHS_PARAMETERS, 0x20000, 8, false, true, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_UNSUPPORTED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                     "metadata_table.entry.unknown_required");
    assert_non_null(strstr(ts.records[0].message, "CHS"));
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_PMEM_LABEL_STORAGE, 0x20000, 32, false, true, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_UNSUPPORTED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                     "metadata_table.entry.unknown_required");
    assert_non_null(strstr(ts.records[0].message, "PMEM"));
}

static void test_metadata_table_unknown_optional_item_is_info(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_CHS_PARAMETERS, 0x20000, 8, false, true, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "metadata_table.entry.unknown");
    sample_table(&tbl);
    add(&tbl, other_guid(4), 0x20000, 8, false, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "metadata_table.entry.unknown");
    /* User items, known or not, are the user's business: no finding. */
    sample_table(&tbl);
    add(&tbl, other_guid(4), 0x20000, 8, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

/* ---- validate rules across entries ---- */

static void test_metadata_table_1024_user_items_valid(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    for (uint32_t i = 0; i < METADATA_TABLE_MAX_USER_ENTRIES; i++)
        add(&tbl, other_guid(i), 0x20000 + i, 1, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_1025_user_items_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    for (uint32_t i = 0; i < METADATA_TABLE_MAX_USER_ENTRIES + 1; i++)
        add(&tbl, other_guid(i), 0x20000 + i, 1, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.user_count");
}

static void test_metadata_table_duplicate_system_item(void **state)
{
    struct test_sink ts;
    const vhdx_diag *dg;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_VIRTUAL_DISK_ID, 0x20000, 16, false, true, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_DUPLICATE);
    dg = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE,
                          "metadata_table.entry.duplicate");
    assert_int_equal(dg->offset, 32 + 5 * 32); /* the later entry is the one reported */
}

static void test_metadata_table_duplicate_user_item(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x20000, 4, true, false, false);
    add(&tbl, other_guid(2), 0x20004, 4, true, false, false);
    add(&tbl, other_guid(1), 0, 0, true, false, false);
    add(&tbl, other_guid(1), 0x20008, 4, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_DUPLICATE);
    assert_int_equal(ts.sink.total, 2); /* entries 7 and 8 both repeat entry 5 */
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE, "metadata_table.entry.duplicate");
}

static void test_metadata_table_same_id_user_and_system_allowed(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_FILE_PARAMETERS, 0x20000, 8, true, false, false);
    add(&tbl, other_guid(1), 0x20008, 8, true, false, false);
    add(&tbl, other_guid(1), 0x20010, 8, false, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "metadata_table.entry.unknown");
}

static void test_metadata_table_overlapping_items(void **state)
{
    struct test_sink ts;
    const vhdx_diag *dg;
    (void)state;
    sample_table(&tbl);
    /* Overlaps the Virtual Disk ID item [0x10010, 0x10020) by its last byte. */
    add(&tbl, other_guid(1), 0x1001F, 1, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_OVERLAP);
    dg = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                          "metadata_table.entry.overlap");
    assert_non_null(strstr(dg->message, "entry 2"));
}

static void test_metadata_table_adjacent_items_do_not_overlap(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x10028, 4, true, false, false);
    add(&tbl, other_guid(2), 0x1002C, 4, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_nested_item_overlaps(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    /* A big item that starts first, and two small ones inside it after a gap. */
    add(&tbl, other_guid(1), 0x20000, 0x1000, true, false, false);
    add(&tbl, other_guid(2), 0x20800, 4, true, false, false);
    add(&tbl, other_guid(3), 0x20FFC, 4, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_OVERLAP);
    assert_int_equal(ts.sink.total, 2);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "metadata_table.entry.overlap");
    /* Same offset, same length. */
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0x10000, 8, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "metadata_table.entry.overlap");
}

static void test_metadata_table_empty_items_overlap_nothing(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, other_guid(1), 0, 0, true, false, false);
    add(&tbl, other_guid(2), 0, 0, true, false, false);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_missing_mandatory_item(void **state)
{
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < 5; i++) {
        sample_table(&tbl);
        tbl.entries[i] = tbl.entries[4];
        tbl.entry_count = 4;
        assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_MISSING);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "metadata_table.missing_item");
    }
    /* A user item with a known GUID does not stand in for the system item. */
    sample_table(&tbl);
    tbl.entries[0].is_user = true;
    tbl.entries[0].is_required = false;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "metadata_table.missing_item");
    /* An empty table lacks all five. */
    memset(&tbl, 0, sizeof(tbl));
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_MISSING);
    assert_int_equal(ts.sink.errors, 5);
}

static void test_metadata_table_validate_reports_every_violation(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    tbl.entries[0].is_required = false;
    tbl.entries[1].length = 2 * METADATA_ITEM_MAX_LENGTH;
    add(&tbl, other_guid(1), 0x10, 4, true, false, true);
    add(&tbl, other_guid(2), 0x30000, 0, false, false, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                "metadata_table.entry.known.not_required");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.length.range");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.known.length");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.past_region");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.offset.range");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "metadata_table.entry.user_required");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_table.entry.offset.empty");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                "metadata_table.entry.unknown_required");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "metadata_table.entry.overlap");
}

static void test_metadata_table_validate_rejects_undecodable_count(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    tbl.entry_count = METADATA_TABLE_MAX_ENTRIES + 1;
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_E_INVALID_ARG);
    assert_int_equal(ts.sink.total, 0);
}

/* ---- the parent locator and HasParent ---- */

static void test_metadata_table_parent_locator_missing(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    test_sink_init(&ts);
    assert_status(metadata_table_check_parent_locator(&tbl, true, &ts.sink), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING,
                     "metadata_table.parent_locator.missing");
    test_sink_init(&ts);
    assert_status(metadata_table_check_parent_locator(&tbl, false, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_metadata_table_parent_locator_unexpected(void **state)
{
    struct test_sink ts;
    (void)state;
    sample_table(&tbl);
    add(&tbl, VHDX_GUID_PARENT_LOCATOR, 0x10100, 200, false, false, true);
    assert_status(validate(&tbl, REGION_1M, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    test_sink_init(&ts);
    assert_status(metadata_table_check_parent_locator(&tbl, false, &ts.sink), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "metadata_table.parent_locator.unexpected")
                         ->offset,
                     32 + 5 * 32);
    test_sink_init(&ts);
    assert_status(metadata_table_check_parent_locator(&tbl, true, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    /* A user item with the locator's GUID is not the locator. */
    tbl.entries[5].is_user = true;
    tbl.entries[5].is_required = false;
    test_sink_init(&ts);
    assert_status(metadata_table_check_parent_locator(&tbl, true, &ts.sink), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING,
                     "metadata_table.parent_locator.missing");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metadata_table_round_trip_is_byte_exact),
        cmocka_unit_test(test_metadata_table_encode_field_offsets),
        cmocka_unit_test(test_metadata_table_encode_short_buffer_fails),
        cmocka_unit_test(test_metadata_table_encode_2048_entries_is_invalid_arg),
        cmocka_unit_test(test_metadata_table_find_distinguishes_is_user),
        cmocka_unit_test(test_metadata_table_truncated),
        cmocka_unit_test(test_metadata_table_signature),
        cmocka_unit_test(test_metadata_table_entry_count_2048_rejected),
        cmocka_unit_test(test_metadata_table_2047_entries_valid),
        cmocka_unit_test(test_metadata_table_reserved),
        cmocka_unit_test(test_metadata_table_reserved2),
        cmocka_unit_test(test_metadata_table_entry_flags_reserved_bits),
        cmocka_unit_test(test_metadata_table_entry_reserved2),
        cmocka_unit_test(test_metadata_table_decode_reports_every_reserved_field),
        cmocka_unit_test(test_metadata_table_trailing_nonzero_is_info_and_not_reencoded),
        cmocka_unit_test(test_metadata_table_hyperv_stale_entry_past_count_is_valid),
        cmocka_unit_test(test_metadata_table_region_too_small),
        cmocka_unit_test(test_metadata_table_item_id_nil),
        cmocka_unit_test(test_metadata_table_empty_item_with_offset),
        cmocka_unit_test(test_metadata_table_offset_inside_table),
        cmocka_unit_test(test_metadata_table_length_over_1mib),
        cmocka_unit_test(test_metadata_table_item_exactly_fills_region_end),
        cmocka_unit_test(test_metadata_table_item_one_byte_past_region),
        cmocka_unit_test(test_metadata_table_user_item_required),
        cmocka_unit_test(test_metadata_table_known_item_not_required),
        cmocka_unit_test(test_metadata_table_known_item_virtual_disk_flag),
        cmocka_unit_test(test_metadata_table_known_item_length_exact),
        cmocka_unit_test(test_metadata_table_known_item_empty_is_wrong_length),
        cmocka_unit_test(test_metadata_table_incomplete_file_marker_refused),
        cmocka_unit_test(test_metadata_table_unknown_required_item_unsupported),
        cmocka_unit_test(test_metadata_table_openvmm_items_required_unsupported),
        cmocka_unit_test(test_metadata_table_unknown_optional_item_is_info),
        cmocka_unit_test(test_metadata_table_1024_user_items_valid),
        cmocka_unit_test(test_metadata_table_1025_user_items_rejected),
        cmocka_unit_test(test_metadata_table_duplicate_system_item),
        cmocka_unit_test(test_metadata_table_duplicate_user_item),
        cmocka_unit_test(test_metadata_table_same_id_user_and_system_allowed),
        cmocka_unit_test(test_metadata_table_overlapping_items),
        cmocka_unit_test(test_metadata_table_adjacent_items_do_not_overlap),
        cmocka_unit_test(test_metadata_table_nested_item_overlaps),
        cmocka_unit_test(test_metadata_table_empty_items_overlap_nothing),
        cmocka_unit_test(test_metadata_table_missing_mandatory_item),
        cmocka_unit_test(test_metadata_table_validate_reports_every_violation),
        cmocka_unit_test(test_metadata_table_validate_rejects_undecodable_count),
        cmocka_unit_test(test_metadata_table_parent_locator_missing),
        cmocka_unit_test(test_metadata_table_parent_locator_unexpected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
