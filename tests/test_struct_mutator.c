/*
 * The structure-aware mutator of fuzz_image_struct (fuzz/image_mutator.h),
 * in the checked build, where every checksum is enforced: each base image
 * opens and checks clean; a single record gives exactly the status and rule
 * of the rule it breaks, deep behind the checksums (so they were
 * recomputed); a record on a checksum field keeps that checksum wrong; the
 * records wrap; and restoring leaves the base as it was built.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "format/bat.h"
#include "format/constants.h"
#include "image_builder.h"
#include "image_mutator.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)

static struct test_sink ts;

static vhdx_open_options options_for(const struct im_file *f)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    im_open_options(f, &o);
    o.on_diag = test_sink_collect;
    o.diag_ctx = &ts;
    return o;
}

static vhdx_status open_file(const struct im_file *f, vhdx_image **out)
{
    vhdx_open_options o = options_for(f);
    vhdx_io io;
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(f->data, f->len, &io), VHDX_OK);
    return vhdx_open(&io, &o, out);
}

static void check_file(const struct im_file *f, vhdx_check_result *r)
{
    vhdx_open_options o = options_for(f);
    vhdx_io io;
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(f->data, f->len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, &o, r), VHDX_OK);
}

static bool has_rule(const char *rule)
{
    for (size_t i = 0; i < ts.sink.stored; i++)
        if (strcmp(ts.records[i].rule, rule) == 0)
            return true;
    return false;
}

static void apply(int base, const uint8_t *records, size_t len, struct im_file *f)
{
    assert_int_equal(im_apply(base, records, len, f), 0);
}

static void restore(int base)
{
    im_restore(base);
    assert_true(im_is_pristine(base));
}

/*
 * The records make the open fail with `code`, reporting `rule` as an error,
 * and check reports it too; the sink then holds check's findings.
 */
static void expect_error(int base, const uint8_t *records, size_t len, vhdx_status code,
                         const char *rule)
{
    struct im_file f;
    vhdx_image *h = NULL;
    vhdx_check_result r;

    apply(base, records, len, &f);
    assert_status(open_file(&f, &h), code);
    assert_null(h);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, code, rule);
    check_file(&f, &r);
    assert_true(r.errors > 0);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, code, rule);
}

/* One record. */
static void expect_error1(int base, unsigned target, unsigned field, unsigned index,
                          unsigned op, uint64_t value, vhdx_status code, const char *rule)
{
    uint8_t r[IM_RECORD_SIZE];
    (void)im_record(r, target, field, index, op, value);
    expect_error(base, r, sizeof(r), code, rule);
    restore(base);
}

/* ---- The bases ---- */

static vhdx_disk_type disk_type(int base)
{
    switch (base) {
    case IM_BASE_FIXED:
        return VHDX_DISK_FIXED;
    case IM_BASE_DIFF:
    case IM_BASE_DIFF_PARENT:
        return VHDX_DISK_DIFFERENCING;
    default:
        return VHDX_DISK_DYNAMIC;
    }
}

static void test_struct_every_base_opens_and_checks_clean(void **state)
{
    static uint8_t got[1u << 20], want[1u << 20];
    (void)state;
    for (int base = 0; base < IM_BASE_COUNT; base++) {
        const struct ib_image *img = im_base_image(base);
        struct im_file f;
        vhdx_check_result r;
        vhdx_image *h = NULL;
        vhdx_info info;
        bool dirty = base >= IM_BASE_DIRTY_ONE;

        assert_non_null(img);
        apply(base, NULL, 0, &f);
        assert_int_equal(f.len, img->len);
        assert_memory_equal(f.data, img->data, img->len);
        check_file(&f, &r);
        assert_int_equal(r.errors, 0);
        assert_status(r.first_error, VHDX_OK);
        assert_status(open_file(&f, &h), VHDX_OK);
        assert_status(vhdx_get_info(h, &info), VHDX_OK);
        assert_int_equal(info.virtual_size, img->geo.virtual_disk_size);
        assert_int_equal(info.type, disk_type(base));
        assert_int_equal(info.log_replay, dirty ? VHDX_LOG_REPLAYED_IN_MEMORY : VHDX_LOG_CLEAN);
        assert_int_equal(info.chain_depth, base == IM_BASE_DIFF_PARENT ? 1 : 0);
        if (base == IM_BASE_DIFF_PARENT)
            assert_string_equal(info.parent_path, "parent.vhdx");
        /* A clean base reads as the builder's model says (without a parent: not at all). */
        if (!dirty && base != IM_BASE_DIFF) {
            for (uint64_t off = 0; off < info.virtual_size; off += sizeof(got)) {
                size_t n = info.virtual_size - off < sizeof(got) ? (size_t)(info.virtual_size - off)
                                                                 : sizeof(got);
                assert_status(vhdx_read(h, off, got, n), VHDX_OK);
                assert_int_equal(ib_expected_read(img, off, n, want), 0);
                assert_memory_equal(got, want, n);
            }
        }
        vhdx_close(h);
        restore(base);
    }
}

static void test_struct_restore_undoes_random_records(void **state)
{
    struct test_rng rng;
    uint8_t records[8 * IM_RECORD_SIZE];
    (void)state;
    test_rng_seed(&rng, 0x5eed5eedu);
    for (int round = 0; round < 200; round++) {
        int base = round % IM_BASE_COUNT;
        size_t len = 1 + test_rng_next(&rng) % sizeof(records);
        struct im_file f;
        vhdx_check_result r;
        vhdx_image *h = NULL;

        test_rng_fill(&rng, records, len);
        apply(base, records, len, &f);
        check_file(&f, &r);
        if (open_file(&f, &h) == VHDX_OK) {
            assert_int_equal(r.errors, 0);
            vhdx_close(h);
        } else {
            assert_true(r.errors > 0);
        }
        restore(base);
    }
}

/* ---- Single records reach the rules behind the checksums ---- */

static void test_struct_bat_entry_reserved_state(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, IM_BAT_STATE, 0, IM_OP_SET, 4, VHDX_E_STATE,
                  "bat.entry.state");
}

static void test_struct_bat_block_past_end_of_file(void **state)
{
    (void)state;
    /* FileOffsetMB = the file size in MiB: the block starts where the file ends. */
    expect_error1(IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, IM_BAT_OFFSET_MB, 0, IM_OP_BOUNDARY,
                  IM_B_FILE_SIZE, VHDX_E_RANGE, "bat.entry.past_eof");
}

static void test_struct_bat_partial_without_bitmap(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DIFF_PARENT, IM_T_BAT_SB, IM_BAT_STATE, 0, IM_OP_SET,
                  BAT_SB_NOT_PRESENT, VHDX_E_STATE, "image.bat.partial_without_bitmap");
}

static void test_struct_region_overlaps_another(void **state)
{
    (void)state;
    /* Index 5: both copies, entry 1 (metadata); its FileOffset from index 2: entry 0 (BAT). */
    expect_error1(IM_BASE_DYNAMIC, IM_T_REGION_ENTRY, IM_RE_FILE_OFFSET, 5, IM_OP_COPY_FIELD, 2,
                  VHDX_E_OVERLAP, "region_table.overlap");
}

static void test_struct_virtual_size_not_sector_multiple(void **state)
{
    (void)state;
    /* += 1 * 512 on a disk of 4096-byte sectors. */
    expect_error1(IM_BASE_DYNAMIC_4K, IM_T_VIRTUAL_DISK_SIZE, IM_ITEM_VALUE, 0, IM_OP_ADD, 0x101,
                  VHDX_E_ALIGNMENT, "metadata_items.virtual_disk_size.alignment");
}

static void test_struct_metadata_item_length(void **state)
{
    (void)state;
    /* Entry 3 is the Logical Sector Size item. */
    expect_error1(IM_BASE_DYNAMIC, IM_T_METADATA_ENTRY, IM_ME_LENGTH, 3, IM_OP_SET, 8,
                  VHDX_E_RANGE, "metadata_table.entry.known.length");
}

static void test_struct_locator_key_length_odd(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DIFF, IM_T_LOCATOR_ENTRY, IM_PLE_KEY_LENGTH, 1, IM_OP_ADD, 1,
                  VHDX_E_ALIGNMENT, "parent_locator.entry.odd");
}

static void test_struct_file_identifier_signature(void **state)
{
    (void)state;
    expect_error1(IM_BASE_FIXED, IM_T_IDENTIFIER, IM_IDENT_SIGNATURE, 0, IM_OP_XOR_BIT, 3,
                  VHDX_E_SIGNATURE, "file_identifier.signature");
}

static void test_struct_file_shorter_than_header_section(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DYNAMIC, IM_T_FILE, IM_FILE_LENGTH, 0, IM_OP_BOUNDARY, IM_B_1MIB_M1,
                  VHDX_E_TRUNCATED, "image.file.too_small");
}

static void test_struct_log_descriptor_bad_sequence(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DIRTY_ONE, IM_T_LOG_DESCRIPTOR, IM_LD_SEQUENCE, 0, IM_OP_ADD, 1,
                  VHDX_E_CORRUPT, "log.sequence.none");
    /* Why the only entry was refused: its descriptor, not its checksum. */
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log_entry.descriptor.sequence");
    assert_false(has_rule("log_entry.checksum"));
}

static void test_struct_log_data_sector_bad_sequence(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DIRTY_ONE, IM_T_LOG_DATA, IM_DS_SEQUENCE_LOW, 0, IM_OP_ADD, 1,
                  VHDX_E_CORRUPT, "log.sequence.none");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log_entry.data_sector.sequence");
    assert_false(has_rule("log_entry.checksum"));
}

static void test_struct_log_torn_head_entry_not_replayed(void **state)
{
    struct im_file f;
    vhdx_image *h = NULL;
    vhdx_info info;
    uint8_t r[IM_RECORD_SIZE];
    (void)state;
    /* The third of three entries (sequence 12) torn: 10 and 11 still form the sequence. */
    (void)im_record(r, IM_T_LOG_DATA, IM_DS_SEQUENCE_HIGH, 2, IM_OP_XOR_BIT, 31);
    apply(IM_BASE_DIRTY_MULTI, r, sizeof(r), &f);
    assert_status(open_file(&f, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log_entry.data_sector.sequence");
    assert_false(has_rule("log_entry.checksum"));
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.log_entries_replayed, 2);
    assert_int_equal(info.log_head_sequence, 11);
    vhdx_close(h);
    restore(IM_BASE_DIRTY_MULTI);
}

static void test_struct_log_entry_in_wrapped_ring_restamped(void **state)
{
    (void)state;
    /* The entry wraps around the end of the log: its CRC runs in ring order. */
    expect_error1(IM_BASE_DIRTY_WRAP, IM_T_LOG_DESCRIPTOR, IM_LD_FILE_OFFSET, 16,
                  IM_OP_BOUNDARY, IM_B_64KIB, VHDX_E_CORRUPT, "log.sequence.none");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE,
                "log_entry.descriptor.target.header_area");
    assert_false(has_rule("log_entry.checksum"));
}

static void test_struct_log_flushed_offset_past_end(void **state)
{
    (void)state;
    expect_error1(IM_BASE_DIRTY_ONE, IM_T_LOG_ENTRY, IM_LE_FLUSHED_OFFSET, 0, IM_OP_BOUNDARY,
                  IM_B_FILE_SIZE_P1MIB, VHDX_E_TRUNCATED, "log.truncated");
}

static void test_struct_parent_paths_changed(void **state)
{
    uint8_t r[2 * IM_RECORD_SIZE];
    (void)state;
    /* Locator entries 1 and 2 are relative_path and absolute_win32_path: one unit of each. */
    (void)im_record(r, IM_T_LOCATOR_VALUE, IM_STR_UNIT, 1 + 8 * 2, IM_OP_SET, 'q');
    (void)im_record(r + IM_RECORD_SIZE, IM_T_LOCATOR_VALUE, IM_STR_UNIT, 2 + 8 * 6, IM_OP_SET,
                    'q');
    expect_error(IM_BASE_DIFF_PARENT, r, sizeof(r), VHDX_E_MISSING, "image.parent.not_found");
    restore(IM_BASE_DIFF_PARENT);
}

/* ---- Checksums ---- */

static void test_struct_without_recomputed_checksums_tables_are_invalid(void **state)
{
    const struct ib_image *img = im_base_image(IM_BASE_DYNAMIC);
    struct im_file f;
    vhdx_image *h = NULL;
    uint8_t *raw;
    (void)state;
    assert_non_null(img);
    /* The same change as test_struct_region_overlaps_another, patched without the mutator. */
    raw = malloc(img->len);
    assert_non_null(raw);
    memcpy(raw, img->data, img->len);
    for (int copy = 0; copy < 2; copy++) {
        uint8_t *t = raw + (copy == 0 ? VHDX_REGION_TABLE1_OFFSET : VHDX_REGION_TABLE2_OFFSET);
        memcpy(t + 16 + 32 + 16, t + 16 + 16, 8);
    }
    memset(&f, 0, sizeof(f));
    f.base = IM_BASE_DYNAMIC;
    f.data = raw;
    f.len = img->len;
    assert_status(open_file(&f, &h), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "region_table.checksum");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "image.region_table.none_valid");
    assert_false(has_rule("region_table.overlap"));
    free(raw);
    /* Through the mutator the checksums are right, and the overlap is what is found. */
    expect_error1(IM_BASE_DYNAMIC, IM_T_REGION_ENTRY, IM_RE_FILE_OFFSET, 5, IM_OP_COPY_FIELD, 2,
                  VHDX_E_OVERLAP, "region_table.overlap");
    assert_false(has_rule("region_table.checksum"));
}

static void test_struct_checksum_record_keeps_header_checksum_wrong(void **state)
{
    struct im_file f;
    vhdx_image *h = NULL;
    vhdx_info info;
    uint8_t r[IM_RECORD_SIZE];
    (void)state;
    /* Header 2 (current) with one checksum bit flipped: header 1 serves. */
    (void)im_record(r, IM_T_HEADER, IM_HEADER_CHECKSUM, 1, IM_OP_XOR_BIT, 0);
    apply(IM_BASE_DYNAMIC, r, sizeof(r), &f);
    assert_status(open_file(&f, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CHECKSUM, "header.checksum");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.header.one_valid");
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.current_header, 1);
    vhdx_close(h);
    restore(IM_BASE_DYNAMIC);
    /* Both: no header is valid. */
    (void)im_record(r, IM_T_HEADER, IM_HEADER_CHECKSUM, 2, IM_OP_XOR_BIT, 0);
    expect_error(IM_BASE_DYNAMIC, r, sizeof(r), VHDX_E_CORRUPT, "image.header.none_valid");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "header.checksum");
    restore(IM_BASE_DYNAMIC);
}

static void test_struct_checksum_record_survives_later_records(void **state)
{
    uint8_t r[2 * IM_RECORD_SIZE];
    (void)state;
    /* A record on the same entry after the checksum one: the checksum stays wrong. */
    (void)im_record(r, IM_T_LOG_ENTRY, IM_LE_CHECKSUM, 0, IM_OP_XOR_BIT, 0);
    (void)im_record(r + IM_RECORD_SIZE, IM_T_LOG_ENTRY, IM_LE_LAST_OFFSET, 0, IM_OP_ADD,
                    0x301);
    expect_error(IM_BASE_DIRTY_ONE, r, sizeof(r), VHDX_E_CORRUPT, "log.sequence.none");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CHECKSUM, "log_entry.checksum");
    restore(IM_BASE_DIRTY_ONE);
}

/* ---- Operations ---- */

static void test_struct_swap_bat_entries_swaps_blocks(void **state)
{
    static uint8_t got[1u << 20], want[1u << 20];
    const struct ib_image *img = im_base_image(IM_BASE_DYNAMIC);
    struct im_file f;
    vhdx_image *h = NULL;
    uint8_t r[IM_RECORD_SIZE];
    (void)state;
    assert_non_null(img);
    /* Blocks 0 and 5 hold data; after the swap each reads as the other did. */
    (void)im_record(r, IM_T_BAT_PAYLOAD, IM_BAT_RAW, 0, IM_OP_SWAP, 5);
    apply(IM_BASE_DYNAMIC, r, sizeof(r), &f);
    assert_status(open_file(&f, &h), VHDX_OK);
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_OK);
    assert_int_equal(ib_expected_read(img, 5 * MiB, sizeof(want), want), 0);
    assert_memory_equal(got, want, sizeof(got));
    assert_status(vhdx_read(h, 5 * MiB, got, sizeof(got)), VHDX_OK);
    assert_int_equal(ib_expected_read(img, 0, sizeof(want), want), 0);
    assert_memory_equal(got, want, sizeof(got));
    vhdx_close(h);
    restore(IM_BASE_DYNAMIC);
}

static void test_struct_sector_bitmap_bit_selects_parent(void **state)
{
    const struct ib_image *img = im_base_image(IM_BASE_DIFF_PARENT);
    struct im_file f;
    vhdx_image *h = NULL;
    uint8_t got[1024], child[1024], parent[1024], r[IM_RECORD_SIZE];
    (void)state;
    assert_non_null(img);
    assert_non_null(img->parent);
    /* Sectors 1-2 of block 0 are the child's; clearing their bits shows the parent's. */
    assert_int_equal(ib_expected_read(img, 512, sizeof(child), child), 0);
    assert_int_equal(ib_expected_read(img->parent, 512, sizeof(parent), parent), 0);
    assert_memory_not_equal(child, parent, sizeof(child));
    (void)im_record(r, IM_T_SECTOR_BITMAP, IM_SB_BYTE, 0, IM_OP_SET, 0);
    apply(IM_BASE_DIFF_PARENT, r, sizeof(r), &f);
    assert_status(open_file(&f, &h), VHDX_OK);
    assert_status(vhdx_read(h, 512, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, parent, sizeof(got));
    vhdx_close(h);
    restore(IM_BASE_DIFF_PARENT);
}

static void test_struct_records_wrap(void **state)
{
    uint8_t plain[IM_RECORD_SIZE], wrapped[IM_RECORD_SIZE];
    uint8_t *first;
    struct im_file f;
    const struct ib_image *img = im_base_image(IM_BASE_FIXED);
    (void)state;
    assert_non_null(img);
    /* Target, field and op are taken modulo their counts, the index per target. */
    (void)im_record(plain, IM_T_BAT_PAYLOAD, IM_BAT_STATE, 1, IM_OP_SET, 4);
    (void)im_record(wrapped, IM_T_COUNT + IM_T_BAT_PAYLOAD, 4 + IM_BAT_STATE, 1 + 4,
                    IM_OP_COUNT + IM_OP_SET, 4);
    first = malloc(img->len);
    assert_non_null(first);
    apply(IM_BASE_FIXED, plain, sizeof(plain), &f);
    memcpy(first, f.data, f.len);
    restore(IM_BASE_FIXED);
    apply(IM_BASE_FIXED, wrapped, sizeof(wrapped), &f);
    assert_memory_equal(first, f.data, img->len);
    restore(IM_BASE_FIXED);
    free(first);
    expect_error(IM_BASE_FIXED, wrapped, sizeof(wrapped), VHDX_E_STATE, "bat.entry.state");
    restore(IM_BASE_FIXED);
}

static void test_struct_short_record_is_zero_padded(void **state)
{
    struct im_file f;
    vhdx_image *h = NULL;
    uint8_t got[4096], r[IM_RECORD_SIZE];
    (void)state;
    /* Five bytes: SET with value 0 makes block 0 NOT_PRESENT, which reads as zeros. */
    (void)im_record(r, IM_T_BAT_PAYLOAD, IM_BAT_RAW, 0, IM_OP_SET, 0x1234);
    apply(IM_BASE_DYNAMIC, r, 5, &f);
    assert_status(open_file(&f, &h), VHDX_OK);
    assert_status(vhdx_read(h, 4096, got, sizeof(got)), VHDX_OK);
    for (size_t i = 0; i < sizeof(got); i++)
        assert_int_equal(got[i], 0);
    vhdx_close(h);
    restore(IM_BASE_DYNAMIC);
}

static int free_bases(void **state)
{
    (void)state;
    im_free_all();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_struct_every_base_opens_and_checks_clean),
        cmocka_unit_test(test_struct_restore_undoes_random_records),
        cmocka_unit_test(test_struct_bat_entry_reserved_state),
        cmocka_unit_test(test_struct_bat_block_past_end_of_file),
        cmocka_unit_test(test_struct_bat_partial_without_bitmap),
        cmocka_unit_test(test_struct_region_overlaps_another),
        cmocka_unit_test(test_struct_virtual_size_not_sector_multiple),
        cmocka_unit_test(test_struct_metadata_item_length),
        cmocka_unit_test(test_struct_locator_key_length_odd),
        cmocka_unit_test(test_struct_file_identifier_signature),
        cmocka_unit_test(test_struct_file_shorter_than_header_section),
        cmocka_unit_test(test_struct_log_descriptor_bad_sequence),
        cmocka_unit_test(test_struct_log_data_sector_bad_sequence),
        cmocka_unit_test(test_struct_log_torn_head_entry_not_replayed),
        cmocka_unit_test(test_struct_log_entry_in_wrapped_ring_restamped),
        cmocka_unit_test(test_struct_log_flushed_offset_past_end),
        cmocka_unit_test(test_struct_parent_paths_changed),
        cmocka_unit_test(test_struct_without_recomputed_checksums_tables_are_invalid),
        cmocka_unit_test(test_struct_checksum_record_keeps_header_checksum_wrong),
        cmocka_unit_test(test_struct_checksum_record_survives_later_records),
        cmocka_unit_test(test_struct_swap_bat_entries_swaps_blocks),
        cmocka_unit_test(test_struct_sector_bitmap_bit_selects_parent),
        cmocka_unit_test(test_struct_records_wrap),
        cmocka_unit_test(test_struct_short_record_is_zero_padded),
    };
    return cmocka_run_group_tests(tests, NULL, free_bases);
}
