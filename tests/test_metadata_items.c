/* Fixed-size metadata items (VHDX-FORMAT.md §5.4.1-§5.4.5): round trips and one test per rule. */
#include "test_util.h"

#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/metadata_items.h"

static uint8_t buf[32];
static uint8_t again[32];

/* ---- §5.4.1 File Parameters ---- */

static vhdx_status fp_validate(uint32_t block_size, bool leave, bool parent, struct test_sink *ts)
{
    struct file_parameters fp = {block_size, leave, parent};
    test_sink_init(ts);
    return file_parameters_validate(&fp, &ts->sink);
}

static void test_file_parameters_round_trip_is_byte_exact(void **state)
{
    static const uint8_t expected[8] = {0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00};
    struct file_parameters fp = {32u << 20, false, true}, out;
    struct test_sink ts;
    (void)state;
    assert_status(file_parameters_encode(&fp, buf, FILE_PARAMETERS_SIZE), VHDX_OK);
    assert_memory_equal(buf, expected, 8);
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, FILE_PARAMETERS_SIZE, &out, &ts.sink), VHDX_OK);
    assert_int_equal(out.block_size, fp.block_size);
    assert_int_equal(out.leave_blocks_allocated, fp.leave_blocks_allocated);
    assert_int_equal(out.has_parent, fp.has_parent);
    assert_status(file_parameters_validate(&out, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(file_parameters_encode(&out, again, FILE_PARAMETERS_SIZE), VHDX_OK);
    assert_memory_equal(buf, again, FILE_PARAMETERS_SIZE);
}

static void test_file_parameters_flag_bits(void **state)
{
    struct file_parameters fp = {1u << 20, true, false}, out;
    struct test_sink ts;
    (void)state;
    assert_status(file_parameters_encode(&fp, buf, FILE_PARAMETERS_SIZE), VHDX_OK);
    assert_int_equal(le32_load_no_bounds_check(buf + 4), 1);
    fp.has_parent = true;
    assert_status(file_parameters_encode(&fp, buf, FILE_PARAMETERS_SIZE), VHDX_OK);
    assert_int_equal(le32_load_no_bounds_check(buf + 4), 3);
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, FILE_PARAMETERS_SIZE, &out, &ts.sink), VHDX_OK);
    assert_true(out.leave_blocks_allocated);
    assert_true(out.has_parent);
}

static void test_file_parameters_length_must_be_8(void **state)
{
    struct file_parameters out;
    struct test_sink ts;
    (void)state;
    memset(buf, 0, sizeof(buf));
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, 7, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.file_parameters.length");
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, 9, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.file_parameters.length");
    test_sink_init(&ts);
    assert_status(file_parameters_decode(NULL, 8, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.file_parameters.length");
}

static void test_file_parameters_reserved_flag_bits(void **state)
{
    struct file_parameters out;
    struct test_sink ts;
    (void)state;
    le32_store_no_bounds_check(buf, 1u << 20);
    le32_store_no_bounds_check(buf + 4, 0x4); /* bit 2: the lowest reserved bit */
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, 8, &out, &ts.sink), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "metadata_items.file_parameters.flags.reserved")
                         ->offset,
                     4);
    le32_store_no_bounds_check(buf + 4, 0x80000003u);
    test_sink_init(&ts);
    assert_status(file_parameters_decode(buf, 8, &out, &ts.sink), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                     "metadata_items.file_parameters.flags.reserved");
}

static void test_file_parameters_block_size_bounds_accepted(void **state)
{
    struct test_sink ts;
    (void)state;
    for (uint32_t bs = 1u << 20; bs <= (256u << 20); bs <<= 1) {
        assert_status(fp_validate(bs, false, false, &ts), VHDX_OK);
        assert_int_equal(ts.sink.total, 0);
    }
}

static void test_file_parameters_block_size_rejected(void **state)
{
    static const uint32_t bad[] = {0, 512u << 10, (1u << 20) - 1, (1u << 20) + 1, 3u << 20,
                                   (256u << 20) + (1u << 20), 512u << 20, 0x80000000u,
                                   UINT32_MAX};
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_status(fp_validate(bad[i], false, false, &ts), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "metadata_items.file_parameters.block_size");
    }
}

static void test_file_parameters_leave_allocated_with_parent_is_info(void **state)
{
    struct test_sink ts;
    (void)state;
    assert_status(fp_validate(1u << 20, true, true, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK,
                     "metadata_items.file_parameters.leave_blocks_allocated.ignored");
    assert_status(fp_validate(1u << 20, true, false, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_file_parameters_encode_short_buffer_fails(void **state)
{
    struct file_parameters fp = {1u << 20, false, false};
    (void)state;
    assert_status(file_parameters_encode(&fp, buf, 7), VHDX_E_TRUNCATED);
    assert_status(file_parameters_encode(&fp, NULL, 8), VHDX_E_TRUNCATED);
}

/* ---- §5.4.2 Virtual Disk Size ---- */

static vhdx_status vds_validate(uint64_t size, uint32_t lss, struct test_sink *ts)
{
    struct virtual_disk_size v = {size};
    test_sink_init(ts);
    return virtual_disk_size_validate(&v, lss, &ts->sink);
}

static void test_virtual_disk_size_round_trip_is_byte_exact(void **state)
{
    struct virtual_disk_size v = {0x0000012345678000ull}, out;
    struct test_sink ts;
    (void)state;
    assert_status(virtual_disk_size_encode(&v, buf, VIRTUAL_DISK_SIZE_ITEM_SIZE), VHDX_OK);
    assert_int_equal(le64_load_no_bounds_check(buf), v.size);
    test_sink_init(&ts);
    assert_status(virtual_disk_size_decode(buf, 8, &out, &ts.sink), VHDX_OK);
    assert_int_equal(out.size, v.size);
    assert_status(virtual_disk_size_validate(&out, 4096, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(virtual_disk_size_encode(&out, again, 8), VHDX_OK);
    assert_memory_equal(buf, again, 8);
}

static void test_virtual_disk_size_length_must_be_8(void **state)
{
    struct virtual_disk_size out;
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    assert_status(virtual_disk_size_decode(buf, 4, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_size.length");
    test_sink_init(&ts);
    assert_status(virtual_disk_size_decode(buf, 16, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_size.length");
}

static void test_virtual_disk_size_64tib_accepted(void **state)
{
    struct test_sink ts;
    (void)state;
    assert_status(vds_validate(1ull << 46, 512, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(vds_validate(1ull << 46, 4096, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(vds_validate(512, 512, &ts), VHDX_OK);
    assert_status(vds_validate(4096, 4096, &ts), VHDX_OK);
}

static void test_virtual_disk_size_over_64tib_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    assert_status(vds_validate((1ull << 46) + 512, 512, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_size.max");
    assert_status(vds_validate(UINT64_MAX - 511, 512, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_size.max");
    /* 64 TiB + 1 breaks both the maximum and the sector multiple. */
    assert_status(vds_validate((1ull << 46) + 1, 512, &ts), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "metadata_items.virtual_disk_size.max");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                "metadata_items.virtual_disk_size.alignment");
    assert_int_equal(ts.sink.total, 2);
}

static void test_virtual_disk_size_zero_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    assert_status(vds_validate(0, 512, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_size.zero");
}

static void test_virtual_disk_size_not_sector_multiple(void **state)
{
    struct test_sink ts;
    (void)state;
    /* 4096-byte sectors: a 512 multiple that is not a 4096 multiple. */
    assert_status(vds_validate(10 * 4096 + 512, 4096, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "metadata_items.virtual_disk_size.alignment");
    assert_status(vds_validate(10 * 4096 + 512, 512, &ts), VHDX_OK);
    assert_status(vds_validate(1000, 512, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "metadata_items.virtual_disk_size.alignment");
}

static void test_virtual_disk_size_unknown_sector_size_skips_multiple(void **state)
{
    struct test_sink ts;
    (void)state;
    assert_status(vds_validate(1000, 0, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(vds_validate(1000, 1000, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_virtual_disk_size_encode_short_buffer_fails(void **state)
{
    struct virtual_disk_size v = {1u << 20};
    (void)state;
    assert_status(virtual_disk_size_encode(&v, buf, 7), VHDX_E_TRUNCATED);
}

/* ---- §5.4.3 Virtual Disk ID ---- */

static void test_virtual_disk_id_round_trip_is_byte_exact(void **state)
{
    static const uint8_t d4[8] = {0x9b, 0x77, 0xe9, 0x94, 0xe3, 0x01, 0x7d, 0xdd};
    struct virtual_disk_id v, out;
    struct test_sink ts;
    (void)state;
    v.id = guid_make(0xfc7209f1, 0xf6eb, 0x4616, d4);
    assert_status(virtual_disk_id_encode(&v, buf, VIRTUAL_DISK_ID_SIZE), VHDX_OK);
    assert_memory_equal(buf, v.id.b, 16);
    test_sink_init(&ts);
    assert_status(virtual_disk_id_decode(buf, 16, &out, &ts.sink), VHDX_OK);
    assert_memory_equal(&v, &out, sizeof(v));
    assert_status(virtual_disk_id_validate(&out, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(virtual_disk_id_encode(&out, again, 16), VHDX_OK);
    assert_memory_equal(buf, again, 16);
}

static void test_virtual_disk_id_length_must_be_16(void **state)
{
    struct virtual_disk_id out;
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    assert_status(virtual_disk_id_decode(buf, 15, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_id.length");
    test_sink_init(&ts);
    assert_status(virtual_disk_id_decode(buf, 17, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_id.length");
}

static void test_virtual_disk_id_nil_warns(void **state)
{
    struct virtual_disk_id v;
    struct test_sink ts;
    (void)state;
    memset(&v, 0, sizeof(v));
    test_sink_init(&ts);
    assert_status(virtual_disk_id_validate(&v, &ts.sink), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE,
                     "metadata_items.virtual_disk_id.nil");
}

static void test_virtual_disk_id_encode_short_buffer_fails(void **state)
{
    struct virtual_disk_id v;
    (void)state;
    memset(&v, 1, sizeof(v));
    assert_status(virtual_disk_id_encode(&v, buf, 15), VHDX_E_TRUNCATED);
}

/* ---- §5.4.4 Logical Sector Size ---- */

static void test_logical_sector_size_round_trip_is_byte_exact(void **state)
{
    struct logical_sector_size v = {4096}, out;
    struct test_sink ts;
    (void)state;
    assert_status(logical_sector_size_encode(&v, buf, LOGICAL_SECTOR_SIZE_ITEM_SIZE), VHDX_OK);
    assert_int_equal(le32_load_no_bounds_check(buf), 4096);
    test_sink_init(&ts);
    assert_status(logical_sector_size_decode(buf, 4, &out, &ts.sink), VHDX_OK);
    assert_int_equal(out.size, 4096);
    assert_status(logical_sector_size_validate(&out, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(logical_sector_size_encode(&out, again, 4), VHDX_OK);
    assert_memory_equal(buf, again, 4);
}

static void test_logical_sector_size_length_must_be_4(void **state)
{
    struct logical_sector_size out;
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    assert_status(logical_sector_size_decode(buf, 3, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.logical_sector_size.length");
    test_sink_init(&ts);
    assert_status(logical_sector_size_decode(buf, 8, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.logical_sector_size.length");
}

static void test_logical_sector_size_values(void **state)
{
    static const uint32_t bad[] = {0, 511, 513, 1024, 2048, 4095, 4097, 8192, UINT32_MAX};
    struct logical_sector_size v;
    struct test_sink ts;
    (void)state;
    v.size = 512;
    test_sink_init(&ts);
    assert_status(logical_sector_size_validate(&v, &ts.sink), VHDX_OK);
    v.size = 4096;
    assert_status(logical_sector_size_validate(&v, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v.size = bad[i];
        test_sink_init(&ts);
        assert_status(logical_sector_size_validate(&v, &ts.sink), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "metadata_items.logical_sector_size.value");
    }
}

static void test_logical_sector_size_encode_short_buffer_fails(void **state)
{
    struct logical_sector_size v = {512};
    (void)state;
    assert_status(logical_sector_size_encode(&v, buf, 3), VHDX_E_TRUNCATED);
}

/* ---- §5.4.5 Physical Sector Size ---- */

static void test_physical_sector_size_round_trip_is_byte_exact(void **state)
{
    struct physical_sector_size v = {512}, out;
    struct test_sink ts;
    (void)state;
    assert_status(physical_sector_size_encode(&v, buf, PHYSICAL_SECTOR_SIZE_ITEM_SIZE), VHDX_OK);
    assert_int_equal(le32_load_no_bounds_check(buf), 512);
    test_sink_init(&ts);
    assert_status(physical_sector_size_decode(buf, 4, &out, &ts.sink), VHDX_OK);
    assert_int_equal(out.size, 512);
    assert_status(physical_sector_size_validate(&out, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(physical_sector_size_encode(&out, again, 4), VHDX_OK);
    assert_memory_equal(buf, again, 4);
}

static void test_physical_sector_size_8_byte_item_rejected(void **state)
{
    struct physical_sector_size out;
    struct test_sink ts;
    (void)state;
    /* VirtualBox's u64 declaration: the value fits, but the item is 4 bytes. */
    le64_store_no_bounds_check(buf, 4096);
    test_sink_init(&ts);
    assert_status(physical_sector_size_decode(buf, 8, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.physical_sector_size.length");
    test_sink_init(&ts);
    assert_status(physical_sector_size_decode(buf, 2, &out, &ts.sink), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "metadata_items.physical_sector_size.length");
}

static void test_physical_sector_size_values(void **state)
{
    static const uint32_t bad[] = {0, 256, 511, 1024, 4095, 8192, 65536};
    struct physical_sector_size v;
    struct test_sink ts;
    (void)state;
    v.size = 512;
    test_sink_init(&ts);
    assert_status(physical_sector_size_validate(&v, &ts.sink), VHDX_OK);
    v.size = 4096;
    assert_status(physical_sector_size_validate(&v, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v.size = bad[i];
        test_sink_init(&ts);
        assert_status(physical_sector_size_validate(&v, &ts.sink), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "metadata_items.physical_sector_size.value");
    }
}

static void test_physical_sector_size_encode_short_buffer_fails(void **state)
{
    struct physical_sector_size v = {512};
    (void)state;
    assert_status(physical_sector_size_encode(&v, buf, 3), VHDX_E_TRUNCATED);
}

/* The item values of the Hyper-V sample image decode and validate cleanly. */
static void test_metadata_items_hyperv_sample_values(void **state)
{
    static const uint8_t fp_bytes[8] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t vds_bytes[8] = {0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t lss_bytes[4] = {0x00, 0x02, 0x00, 0x00};
    static const uint8_t pss_bytes[4] = {0x00, 0x10, 0x00, 0x00};
    struct file_parameters fp;
    struct virtual_disk_size vds;
    struct logical_sector_size lss;
    struct physical_sector_size pss;
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    assert_status(file_parameters_decode(fp_bytes, 8, &fp, &ts.sink), VHDX_OK);
    assert_int_equal(fp.block_size, 32u << 20);
    assert_false(fp.has_parent || fp.leave_blocks_allocated);
    assert_status(file_parameters_validate(&fp, &ts.sink), VHDX_OK);
    assert_status(virtual_disk_size_decode(vds_bytes, 8, &vds, &ts.sink), VHDX_OK);
    assert_int_equal(vds.size, 1ull << 30);
    assert_status(logical_sector_size_decode(lss_bytes, 4, &lss, &ts.sink), VHDX_OK);
    assert_status(logical_sector_size_validate(&lss, &ts.sink), VHDX_OK);
    assert_status(virtual_disk_size_validate(&vds, lss.size, &ts.sink), VHDX_OK);
    assert_status(physical_sector_size_decode(pss_bytes, 4, &pss, &ts.sink), VHDX_OK);
    assert_int_equal(pss.size, 4096);
    assert_status(physical_sector_size_validate(&pss, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_parameters_round_trip_is_byte_exact),
        cmocka_unit_test(test_file_parameters_flag_bits),
        cmocka_unit_test(test_file_parameters_length_must_be_8),
        cmocka_unit_test(test_file_parameters_reserved_flag_bits),
        cmocka_unit_test(test_file_parameters_block_size_bounds_accepted),
        cmocka_unit_test(test_file_parameters_block_size_rejected),
        cmocka_unit_test(test_file_parameters_leave_allocated_with_parent_is_info),
        cmocka_unit_test(test_file_parameters_encode_short_buffer_fails),
        cmocka_unit_test(test_virtual_disk_size_round_trip_is_byte_exact),
        cmocka_unit_test(test_virtual_disk_size_length_must_be_8),
        cmocka_unit_test(test_virtual_disk_size_64tib_accepted),
        cmocka_unit_test(test_virtual_disk_size_over_64tib_rejected),
        cmocka_unit_test(test_virtual_disk_size_zero_rejected),
        cmocka_unit_test(test_virtual_disk_size_not_sector_multiple),
        cmocka_unit_test(test_virtual_disk_size_unknown_sector_size_skips_multiple),
        cmocka_unit_test(test_virtual_disk_size_encode_short_buffer_fails),
        cmocka_unit_test(test_virtual_disk_id_round_trip_is_byte_exact),
        cmocka_unit_test(test_virtual_disk_id_length_must_be_16),
        cmocka_unit_test(test_virtual_disk_id_nil_warns),
        cmocka_unit_test(test_virtual_disk_id_encode_short_buffer_fails),
        cmocka_unit_test(test_logical_sector_size_round_trip_is_byte_exact),
        cmocka_unit_test(test_logical_sector_size_length_must_be_4),
        cmocka_unit_test(test_logical_sector_size_values),
        cmocka_unit_test(test_logical_sector_size_encode_short_buffer_fails),
        cmocka_unit_test(test_physical_sector_size_round_trip_is_byte_exact),
        cmocka_unit_test(test_physical_sector_size_8_byte_item_rejected),
        cmocka_unit_test(test_physical_sector_size_values),
        cmocka_unit_test(test_physical_sector_size_encode_short_buffer_fails),
        cmocka_unit_test(test_metadata_items_hyperv_sample_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
