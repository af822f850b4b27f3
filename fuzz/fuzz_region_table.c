/*
 * Harness for the region table codec (format/region_table). Input: the 64 KiB
 * table, then optionally 20 bytes of context (file size u64, log offset u64,
 * log length u32).
 */
#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/region_table.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct region_table t, again;
    static uint8_t enc[REGION_TABLE_SIZE];
    struct region_table_context ctx = {0, 0, 0};
    struct fuzz_sink fs;

    if (size >= REGION_TABLE_SIZE + 20) {
        const uint8_t *tail = data + REGION_TABLE_SIZE;
        ctx.file_size = le64_load_no_bounds_check(tail);
        ctx.log_offset = le64_load_no_bounds_check(tail + 8);
        ctx.log_length = le32_load_no_bounds_check(tail + 16);
    }
    if (region_table_decode(data, size, &t, fuzz_sink_init(&fs)) != VHDX_OK)
        return 0;
    status_ignore(region_table_validate(&t, &ctx, &fs.sink)); /* findings only */
    FUZZ_CHECK(region_table_encode(&t, enc, sizeof(enc)) == VHDX_OK);
    FUZZ_CHECK(region_table_decode(enc, sizeof(enc), &again, fuzz_sink_init(&fs)) == VHDX_OK);
    FUZZ_CHECK(region_table_equal(&t, &again));
    return 0;
}

#ifdef FUZZ_SEEDS
void fuzz_make_seeds(struct seed_out *out)
{
    static uint8_t buf[REGION_TABLE_SIZE + 20];
    static struct region_table t;
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint64_t mib = VHDX_MiB;

    memset(&t, 0, sizeof(t));
    t.entry_count = 2;
    t.entries[0] = (struct region_entry){VHDX_GUID_REGION_BAT, 3 * mib, (uint32_t)mib, 1};
    t.entries[1] = (struct region_entry){VHDX_GUID_REGION_METADATA, 2 * mib, (uint32_t)mib, 1};
    if (region_table_encode(&t, buf, sizeof(buf)) != VHDX_OK)
        return;
    le64_store_no_bounds_check(buf + REGION_TABLE_SIZE, 8 * mib);
    le64_store_no_bounds_check(buf + REGION_TABLE_SIZE + 8, 1 * mib);
    le32_store_no_bounds_check(buf + REGION_TABLE_SIZE + 16, (uint32_t)mib);
    seed_emit(out, "valid-openvmm-layout", buf, sizeof(buf));

    t.entry_count = 4;
    t.entries[2] = (struct region_entry){guid_make(0xABCDEF01, 2, 3, d4), 4 * mib, (uint32_t)mib, 0};
    t.entries[3] = (struct region_entry){guid_make(0xABCDEF02, 2, 3, d4), 5 * mib, (uint32_t)mib, 1};
    if (region_table_encode(&t, buf, sizeof(buf)) != VHDX_OK)
        return;
    seed_emit(out, "unknown-regions", buf, sizeof(buf));

    t.entry_count = 3;
    t.entries[2] = (struct region_entry){VHDX_GUID_REGION_BAT, 3 * mib + 4096, (uint32_t)mib, 3};
    if (region_table_encode(&t, buf, sizeof(buf)) != VHDX_OK)
        return;
    seed_emit(out, "duplicate-overlap", buf, sizeof(buf));
    buf[9] = 0x08; /* entry count 2051 */
    seed_emit(out, "bad-count-and-checksum", buf, sizeof(buf));
    seed_emit(out, "truncated", buf, 4096);
}
#endif
