/*
 * Harness for the BAT codec and geometry (format/bat). Input: 24 bytes of
 * parameters (virtual disk size u64, block size u32, sector size selector
 * u8, has-parent u8, 2 spare bytes, file size u64), then raw BAT entries.
 */
#include <string.h>

#include "base/endian.h"
#include "format/bat.h"
#include "fuzz_common.h"

#define PARAMS 24u
#define MAX_ENTRIES 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bat_geometry g;
    struct fuzz_sink fs;
    uint64_t vsize, file_size, n;
    uint32_t block_size, lss;
    bool parent;

    if (size < PARAMS)
        return 0;
    vsize = le64_load_no_bounds_check(data);
    block_size = le32_load_no_bounds_check(data + 8);
    lss = (data[12] & 1) ? 4096u : 512u;
    if (data[12] & 2)
        lss = le32_load_no_bounds_check(data + 8) >> 16; /* also try arbitrary sizes */
    parent = (data[13] & 1) != 0;
    file_size = le64_load_no_bounds_check(data + 16);

    if (bat_geometry_init(&g, vsize, block_size, lss, parent, fuzz_sink_init(&fs)) != VHDX_OK)
        return 0;
    FUZZ_CHECK(g.chunk_ratio >= 16 && g.chunk_ratio <= 32768);
    FUZZ_CHECK(g.payload_blocks >= 1 && g.total_entries >= g.payload_blocks);
    status_ignore(bat_region_check(&g, (uint64_t)(size - PARAMS), &fs.sink));

    n = (size - PARAMS) / BAT_ENTRY_SIZE;
    if (n > MAX_ENTRIES)
        n = MAX_ENTRIES;
    for (uint64_t s = 0; s < n; s++) {
        uint64_t raw = le64_load_no_bounds_check(data + PARAMS + s * BAT_ENTRY_SIZE);
        struct bat_entry e = bat_entry_decode(raw);
        struct bat_entry_context ctx = {file_size, s};
        uint64_t number = 0, back = 0;

        FUZZ_CHECK(bat_entry_encode(&e) == raw);
        status_ignore(bat_entry_validate(&g, raw, &ctx, fuzz_sink_init(&fs))); /* findings only */
        switch (bat_slot_classify(&g, s, &number)) {
        case BAT_SLOT_PAYLOAD: {
            struct bat_bitmap_slice sl;
            FUZZ_CHECK(bat_payload_index(&g, number, &back) == VHDX_OK && back == s);
            FUZZ_CHECK(bat_bitmap_slice(&g, number, &sl) == VHDX_OK);
            FUZZ_CHECK((uint64_t)sl.byte_offset + sl.byte_length <= (1u << 20));
            break;
        }
        case BAT_SLOT_SECTOR_BITMAP:
            FUZZ_CHECK(bat_sb_index(&g, number, &back) == VHDX_OK && back == s);
            break;
        case BAT_SLOT_PADDING:
        default:
            FUZZ_CHECK(s >= g.total_entries || (s + 1) % ((uint64_t)g.chunk_ratio + 1) != 0 ||
                       number >= g.sector_bitmap_blocks);
            break;
        }
    }
    return 0;
}

#ifdef FUZZ_SEEDS
static void params(uint8_t *p, uint64_t vsize, uint32_t bs, uint8_t sel, uint8_t parent,
                   uint64_t file_size)
{
    memset(p, 0, PARAMS);
    le64_store_no_bounds_check(p, vsize);
    le32_store_no_bounds_check(p + 8, bs);
    p[12] = sel;
    p[13] = parent;
    le64_store_no_bounds_check(p + 16, file_size);
}

void fuzz_make_seeds(struct seed_out *out)
{
    static uint8_t buf[PARAMS + 8 * 4200];
    const uint64_t mib = 1u << 20;
    struct bat_entry e = {6, 0, 0};

    /* 1 GiB dynamic, 32 MiB blocks: 32 entries, a few present. */
    params(buf, 1024 * mib, 32u << 20, 0, 0, 512 * mib);
    memset(buf + PARAMS, 0, 8 * 32);
    for (uint64_t i = 0; i < 4; i++) {
        e.file_offset_mb = 8 + 32 * i;
        le64_store_no_bounds_check(buf + PARAMS + 8 * i, bat_entry_encode(&e));
    }
    seed_emit(out, "dynamic-1g", buf, PARAMS + 8 * 32);

    /* 4 GiB + 1 MiB differencing, 1 MiB blocks: two chunks, SB slot present. */
    params(buf, 4096 * mib + mib, 1u << 20, 0, 1, 64 * mib);
    memset(buf + PARAMS, 0, 8 * 4200);
    e.state = 7;
    e.file_offset_mb = 10;
    le64_store_no_bounds_check(buf + PARAMS, bat_entry_encode(&e));
    e.state = 6;
    e.file_offset_mb = 11;
    le64_store_no_bounds_check(buf + PARAMS + 8 * 4096, bat_entry_encode(&e));
    seed_emit(out, "differencing-two-chunks", buf, PARAMS + 8 * 4200);

    /* Reserved bits, reserved states, 4096-byte sectors. */
    params(buf, 64 * mib, 1u << 20, 1, 0, 0);
    le64_store_no_bounds_check(buf + PARAMS, 0xFFFFFFFFFFFFFFFFull);
    le64_store_no_bounds_check(buf + PARAMS + 8, 0x0000000000100005ull);
    le64_store_no_bounds_check(buf + PARAMS + 16, 0x0000000000000004ull);
    seed_emit(out, "bad-entries-4k", buf, PARAMS + 8 * 64);

    params(buf, 3u << 20, 3u << 20, 0, 0, 0);
    seed_emit(out, "bad-block-size", buf, PARAMS + 8);
}
#endif
