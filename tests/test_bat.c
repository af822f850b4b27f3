/* BAT entry codec, geometry and index mapping (VHDX-FORMAT.md §6, §7). */
#include "test_util.h"

#include <string.h>

#include "format/bat.h"
#include "format/constants.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

static struct test_sink ts;

static struct bat_geometry geo(uint64_t size, uint32_t bs, uint32_t lss, bool parent)
{
    struct bat_geometry g;
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, size, bs, lss, parent, &ts.sink), VHDX_OK);
    return g;
}

static vhdx_status check_entry(const struct bat_geometry *g, uint64_t slot, uint64_t raw,
                               uint64_t file_size)
{
    struct bat_entry_context ctx = {.file_size = file_size, .slot = slot};
    test_sink_init(&ts);
    return bat_entry_validate(g, raw, &ctx, &ts.sink);
}

static uint64_t raw_entry(uint8_t state, uint64_t offset_mb)
{
    struct bat_entry e = {.state = state, .reserved = 0, .file_offset_mb = offset_mb};
    return bat_entry_encode(&e);
}

static void test_bat_entry_round_trip(void **state)
{
    struct bat_entry e;
    (void)state;
    e = bat_entry_decode(0x0000000012300006ull);
    assert_int_equal(e.state, 6);
    assert_int_equal(e.reserved, 0);
    assert_int_equal(e.file_offset_mb, 0x123);
    assert_int_equal(bat_entry_file_offset(&e), 0x12300000ull);
    assert_int_equal(bat_entry_encode(&e), 0x0000000012300006ull);
    /* Every bit pattern survives decode/encode, reserved bits included. */
    e = bat_entry_decode(UINT64_MAX);
    assert_int_equal(e.state, 7);
    assert_int_equal(e.reserved, 0x1FFFF);
    assert_int_equal(e.file_offset_mb, (1ull << 44) - 1);
    assert_int_equal(bat_entry_encode(&e), UINT64_MAX);
    assert_int_equal(bat_entry_file_offset(&e), 0xFFFFFFFFFFF00000ull);
}

static void test_bat_chunk_ratio_table(void **state)
{
    static const struct {
        uint32_t lss, bs, ratio;
    } cases[] = {
        {512, 1u << 20, 4096},   {512, 2u << 20, 2048},   {512, 32u << 20, 128},
        {512, 256u << 20, 16},   {4096, 1u << 20, 32768}, {4096, 2u << 20, 16384},
        {4096, 32u << 20, 1024}, {4096, 256u << 20, 128},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bat_geometry g = geo(GiB, cases[i].bs, cases[i].lss, false);
        assert_int_equal(g.chunk_ratio, cases[i].ratio);
    }
}

static void test_bat_block_size_bounds(void **state)
{
    struct bat_geometry g;
    (void)state;
    (void)geo(GiB, 1u << 20, 512, false);
    (void)geo(GiB, 256u << 20, 512, false);
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, GiB, 3u << 20, 512, false, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.geometry.block_size");
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, GiB, 512u << 20, 512, false, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.geometry.block_size");
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, GiB, 512u << 10, 512, false, &ts.sink), VHDX_E_RANGE);
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, GiB, 0, 512, false, &ts.sink), VHDX_E_RANGE);
}

static void test_bat_sector_size_must_be_512_or_4096(void **state)
{
    struct bat_geometry g;
    (void)state;
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, GiB, 1u << 20, 1024, false, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.geometry.sector_size");
}

static void test_bat_disk_size_bounds(void **state)
{
    struct bat_geometry g;
    (void)state;
    g = geo(64 * TiB, 1u << 20, 512, false);
    /* §7.5: the largest BAT: N = 2^26, TotalBATEntries = 67 125 247. */
    assert_int_equal(g.payload_blocks, 1ull << 26);
    assert_int_equal(g.total_entries, 67125247ull);
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, 64 * TiB + 512, 1u << 20, 512, false, &ts.sink),
                  VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.geometry.disk_size");
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, 64 * TiB + 1, 1u << 20, 512, false, &ts.sink),
                  VHDX_E_RANGE);
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, 0, 1u << 20, 512, false, &ts.sink), VHDX_E_RANGE);
    test_sink_init(&ts);
    assert_status(bat_geometry_init(&g, 4096 + 512, 1u << 20, 4096, false, &ts.sink),
                  VHDX_E_RANGE);
    (void)geo(4096 + 512, 1u << 20, 512, false);
}

static void test_bat_total_entries_formulas(void **state)
{
    struct bat_geometry g;
    (void)state;
    /* N % ChunkRatio == 0: the last entry is the last payload block (no trailing SB slot). */
    g = geo(4 * GiB, 1u << 20, 512, false);
    assert_int_equal(g.payload_blocks, 4096);
    assert_int_equal(g.sector_bitmap_blocks, 1);
    assert_int_equal(g.total_entries, 4096);
    g = geo(4 * GiB, 1u << 20, 512, true);
    assert_int_equal(g.total_entries, 4097);
    /* One block more: an SB slot sits between block 4095 and block 4096. */
    g = geo(4 * GiB + MiB, 1u << 20, 512, false);
    assert_int_equal(g.total_entries, 4098);
    g = geo(4 * GiB + MiB, 1u << 20, 512, true);
    assert_int_equal(g.total_entries, 2 * 4097);
    /* Partial last block counts as a block. */
    g = geo(3 * MiB + 512, 1u << 20, 512, false);
    assert_int_equal(g.payload_blocks, 4);
    assert_int_equal(g.total_entries, 4);
    /* One sector disk. */
    g = geo(512, 1u << 20, 512, false);
    assert_int_equal(g.total_entries, 1);
}

static void test_bat_index_mapping_round_trips(void **state)
{
    struct bat_geometry g;
    uint64_t slot, number;
    (void)state;
    g = geo(9 * GiB, 1u << 20, 512, true); /* 3 chunks of 4096 blocks, last partial */
    for (uint64_t b = 0; b < g.payload_blocks; b += 97) {
        assert_status(bat_payload_index(&g, b, &slot), VHDX_OK);
        assert_int_equal(slot, b + b / 4096);
        assert_int_equal(bat_slot_classify(&g, slot, &number), BAT_SLOT_PAYLOAD);
        assert_int_equal(number, b);
    }
    for (uint64_t c = 0; c < g.sector_bitmap_blocks; c++) {
        assert_status(bat_sb_index(&g, c, &slot), VHDX_OK);
        assert_int_equal(slot, c * 4097 + 4096);
        assert_int_equal(bat_slot_classify(&g, slot, &number), BAT_SLOT_SECTOR_BITMAP);
        assert_int_equal(number, c);
    }
    assert_status(bat_payload_index(&g, g.payload_blocks, &slot), VHDX_E_RANGE);
    assert_status(bat_sb_index(&g, g.sector_bitmap_blocks, &slot), VHDX_E_RANGE);
    assert_int_equal(bat_slot_classify(&g, g.total_entries, &number), BAT_SLOT_PADDING);
    /* In the last, partial chunk, payload slots past the last block are padding. */
    assert_int_equal(bat_slot_classify(&g, 2 * 4097 + 1024 + 5, &number), BAT_SLOT_PADDING);
}

static void test_bat_region_too_small(void **state)
{
    struct bat_geometry g = geo(4 * GiB + MiB, 1u << 20, 512, false);
    (void)state;
    test_sink_init(&ts);
    assert_status(bat_region_check(&g, 4098 * 8, &ts.sink), VHDX_OK);
    assert_status(bat_region_check(&g, 4098 * 8 - 1, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.region.too_small");
}

static void test_bat_entry_reserved_bits(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(6, 8) | (1ull << 3), 16 * MiB), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "bat.entry.reserved");
    assert_status(check_entry(&g, 0, raw_entry(0, 0) | (1ull << 19), 16 * MiB), VHDX_E_RESERVED);
}

static void test_bat_entry_reserved_states(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, true);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(4, 0), 0), VHDX_E_STATE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_STATE, "bat.entry.state");
    assert_status(check_entry(&g, 0, raw_entry(5, 0), 0), VHDX_E_STATE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_STATE, "bat.entry.state.legacy_unmapped");
}

static void test_bat_entry_valid_states_accepted(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, true);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(0, 0), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(1, 0), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(2, 0), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(3, 0), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(6, 8), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(7, 8), 16 * MiB), VHDX_OK);
    assert_no_findings(&ts);
}

static void test_bat_entry_partial_needs_parent(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 1, raw_entry(7, 8), 16 * MiB), VHDX_E_STATE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_STATE, "bat.entry.partial_without_parent");
}

static void test_bat_entry_present_offset_zero(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(6, 0), 16 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.offset.zero");
}

static void test_bat_entry_past_eof(void **state)
{
    struct bat_geometry g = geo(GiB, 2u << 20, 512, false);
    (void)state;
    /* A 2 MiB block at 14 MiB ends exactly at a 16 MiB file; at 15 MiB it does not fit. */
    assert_status(check_entry(&g, 0, raw_entry(6, 14), 16 * MiB), VHDX_OK);
    assert_status(check_entry(&g, 0, raw_entry(6, 15), 16 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.past_eof");
    /* A soft-anchored UNMAPPED block is checked as well. */
    assert_status(check_entry(&g, 0, raw_entry(3, 15), 16 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.past_eof");
}

static void test_bat_entry_overflow(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    /* The last 1 MiB unit: offset 2^64 - 1 MiB, + 1 MiB wraps to 0. */
    assert_status(check_entry(&g, 0, raw_entry(6, (1ull << 44) - 1), 0), VHDX_E_OVERFLOW);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "bat.entry.overflow");
    assert_status(check_entry(&g, 0, raw_entry(6, (1ull << 44) - 2), 0), VHDX_OK);
}

static void test_bat_entry_reserved_offset_warns(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(0, 5), 16 * MiB), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "bat.entry.offset.reserved");
}

/* §7.6 item 5: Hyper-V refuses a ZERO block with an offset, so that is an error. */
static void test_bat_zero_entry_with_offset_is_error(void **state)
{
    struct bat_geometry g = geo(GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 0, raw_entry(2, 5), 16 * MiB), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "bat.entry.zero.offset");
    assert_string_equal(ts.records[0].message,
                        "block 0 is ZERO with a non-zero file offset 0x500000 (Hyper-V refuses it)");
    assert_status(check_entry(&g, 0, raw_entry(2, 0), 16 * MiB), VHDX_OK);
    assert_no_findings(&ts);
}

/*
 * QEMU's fixed images with block_state_zero=off end the file where the
 * virtual disk ends: the last block of a 100 MiB disk with 32 MiB blocks
 * holds 4 MiB of disk, and only those must lie inside the file.
 */
static void test_bat_last_block_extent_is_the_disk_s(void **state)
{
    struct bat_geometry g = geo(100 * MiB, 32u << 20, 512, false);
    (void)state;
    /* Block 3 at 104 MiB: [104, 108) MiB inside a 108 MiB file. */
    assert_status(check_entry(&g, 3, raw_entry(6, 104), 108 * MiB), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(check_entry(&g, 3, raw_entry(6, 105), 108 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.past_eof");
    assert_string_equal(ts.records[0].message,
                        "block 3 [0x6900000, 0x6d00000) extends past the end of the file (0x6c00000)");
    /* A block that is not the last is whole: block 2 at 80 MiB needs [80, 112) MiB. */
    assert_status(check_entry(&g, 2, raw_entry(6, 80), 108 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.past_eof");
}

static void test_bat_sb_present_needs_parent(void **state)
{
    struct bat_geometry g = geo(8 * GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 4096, raw_entry(6, 8), 32 * MiB), VHDX_E_STATE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_STATE, "bat.sb.present_without_parent");
    g = geo(8 * GiB, 1u << 20, 512, true);
    assert_status(check_entry(&g, 4096, raw_entry(6, 8), 32 * MiB), VHDX_OK);
    /* The 1 MiB sector bitmap block must fit the file too. */
    assert_status(check_entry(&g, 4096, raw_entry(6, 32), 32 * MiB), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.entry.past_eof");
}

static void test_bat_sb_reserved_state(void **state)
{
    struct bat_geometry g = geo(8 * GiB, 1u << 20, 512, true);
    (void)state;
    assert_status(check_entry(&g, 4096, raw_entry(7, 8), 32 * MiB), VHDX_E_STATE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_STATE, "bat.sb.state");
}

static void test_bat_sb_not_present_offset_warns(void **state)
{
    struct bat_geometry g = geo(8 * GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 4096, raw_entry(0, 3), 32 * MiB), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "bat.sb.offset.reserved");
}

static void test_bat_padding_nonzero_warns(void **state)
{
    struct bat_geometry g = geo(4 * GiB, 1u << 20, 512, false);
    (void)state;
    assert_status(check_entry(&g, 4096, 0, 0), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(check_entry(&g, 4096, raw_entry(6, 9), 0), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "bat.padding.nonzero");
}

static void test_bat_bitmap_slice(void **state)
{
    struct bat_geometry g = geo(9 * GiB, 1u << 20, 512, true);
    struct bat_bitmap_slice s;
    (void)state;
    assert_status(bat_bitmap_slice(&g, 5, &s), VHDX_OK);
    assert_int_equal(s.chunk, 0);
    assert_int_equal(s.byte_length, 256); /* 1 MiB block / 512-byte sectors / 8 bits */
    assert_int_equal(s.byte_offset, 5 * 256);
    assert_status(bat_bitmap_slice(&g, 4096 + 4095, &s), VHDX_OK);
    assert_int_equal(s.chunk, 1);
    assert_int_equal(s.byte_offset, (1u << 20) - 256);
    assert_status(bat_bitmap_slice(&g, g.payload_blocks, &s), VHDX_E_RANGE);
}

/* The state names findings use: the spec's names; 4 and 5 (reserved since v1.00) are "reserved". */
static void test_bat_payload_state_names(void **state)
{
    (void)state;
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_NOT_PRESENT), "NOT_PRESENT");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_UNDEFINED), "UNDEFINED");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_ZERO), "ZERO");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_UNMAPPED), "UNMAPPED");
    assert_string_equal(bat_payload_state_name(4), "reserved");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_UNMAPPED_V095), "reserved");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_FULLY_PRESENT), "FULLY_PRESENT");
    assert_string_equal(bat_payload_state_name(BAT_PAYLOAD_PARTIALLY_PRESENT), "PARTIALLY_PRESENT");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bat_entry_round_trip),
        cmocka_unit_test(test_bat_chunk_ratio_table),
        cmocka_unit_test(test_bat_block_size_bounds),
        cmocka_unit_test(test_bat_sector_size_must_be_512_or_4096),
        cmocka_unit_test(test_bat_disk_size_bounds),
        cmocka_unit_test(test_bat_total_entries_formulas),
        cmocka_unit_test(test_bat_index_mapping_round_trips),
        cmocka_unit_test(test_bat_region_too_small),
        cmocka_unit_test(test_bat_entry_reserved_bits),
        cmocka_unit_test(test_bat_entry_reserved_states),
        cmocka_unit_test(test_bat_entry_valid_states_accepted),
        cmocka_unit_test(test_bat_entry_partial_needs_parent),
        cmocka_unit_test(test_bat_entry_present_offset_zero),
        cmocka_unit_test(test_bat_entry_past_eof),
        cmocka_unit_test(test_bat_entry_overflow),
        cmocka_unit_test(test_bat_entry_reserved_offset_warns),
        cmocka_unit_test(test_bat_zero_entry_with_offset_is_error),
        cmocka_unit_test(test_bat_last_block_extent_is_the_disk_s),
        cmocka_unit_test(test_bat_sb_present_needs_parent),
        cmocka_unit_test(test_bat_sb_reserved_state),
        cmocka_unit_test(test_bat_sb_not_present_offset_warns),
        cmocka_unit_test(test_bat_padding_nonzero_warns),
        cmocka_unit_test(test_bat_bitmap_slice),
        cmocka_unit_test(test_bat_payload_state_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
