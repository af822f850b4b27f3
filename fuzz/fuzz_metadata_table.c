/*
 * Harness for the metadata table codec (format/metadata_table). The input
 * is the table's bytes followed by an 8-byte little-endian metadata region
 * length. Inputs shorter than the 64 KiB table are decoded once as they are
 * (the truncation path) and then zero-padded to 64 KiB, so that short
 * inputs reach the entry rules. When decoding succeeds: validate, check the
 * parent-locator rule both ways, re-encode, decode again and require the
 * same host struct, the same validation verdict, and the same header and
 * entry bytes as the input.
 */
#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/metadata_table.h"
#include "fuzz_common.h"

static struct metadata_table t, again;
static uint8_t padded[METADATA_TABLE_SIZE];
static uint8_t enc[METADATA_TABLE_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_sink fs;
    const uint8_t *table = data;
    size_t table_len = size, used;
    uint64_t region_length = VHDX_MiB;
    vhdx_status v1, v2;
    size_t errors;

    if (size >= 8) {
        region_length = le64_load_no_bounds_check(data + size - 8);
        table_len = size - 8;
    }
    if (table_len < METADATA_TABLE_SIZE) {
        FUZZ_CHECK(metadata_table_decode(table_len > 0 ? data : NULL, table_len, &t,
                                         fuzz_sink_init(&fs)) == VHDX_E_TRUNCATED);
        memset(padded, 0, sizeof(padded));
        if (table_len > 0)
            memcpy(padded, data, table_len);
        table = padded;
        table_len = sizeof(padded);
    }
    if (metadata_table_decode(table, table_len, &t, fuzz_sink_init(&fs)) != VHDX_OK)
        return 0;
    /* Validation findings are not an invariant; only crashes, UB and determinism matter. */
    v1 = metadata_table_validate(&t, region_length, fuzz_sink_init(&fs));
    errors = fs.sink.errors;
    status_ignore(metadata_table_check_parent_locator(&t, true, &fs.sink));
    status_ignore(metadata_table_check_parent_locator(&t, false, &fs.sink));

    FUZZ_CHECK(metadata_table_encode(&t, enc, sizeof(enc)) == VHDX_OK);
    FUZZ_CHECK(metadata_table_decode(enc, sizeof(enc), &again, fuzz_sink_init(&fs)) == VHDX_OK);
    FUZZ_CHECK(fs.sink.total == 0);
    FUZZ_CHECK(memcmp(&t, &again, sizeof(t)) == 0);
    /* Reserved fields are zero in anything that decodes, so header and entries re-encode exactly. */
    used = METADATA_TABLE_HEADER_SIZE + (size_t)t.entry_count * METADATA_TABLE_ENTRY_SIZE;
    FUZZ_CHECK(memcmp(enc, table, used) == 0);
    v2 = metadata_table_validate(&again, region_length, fuzz_sink_init(&fs));
    FUZZ_CHECK(v1 == v2 && errors == fs.sink.errors);
    return 0;
}

#ifdef FUZZ_SEEDS
static void emit_table(struct seed_out *out, const char *name, const struct metadata_table *tb,
                       size_t table_bytes, uint64_t region_length)
{
    static uint8_t buf[METADATA_TABLE_SIZE + 8];
    if (metadata_table_encode(tb, buf, METADATA_TABLE_SIZE) != VHDX_OK)
        return;
    /* The region length follows the part of the table that is kept. */
    le64_store_no_bounds_check(buf + table_bytes, region_length);
    seed_emit(out, name, buf, table_bytes + 8);
}

static void add(struct metadata_table *tb, struct guid id, uint32_t off, uint32_t len, bool user,
                bool vd, bool req)
{
    struct metadata_entry *e = &tb->entries[tb->entry_count++];
    memset(e, 0, sizeof(*e));
    e->item_id = id;
    e->offset = off;
    e->length = len;
    e->is_user = user;
    e->is_virtual_disk = vd;
    e->is_required = req;
}

static void base_table(struct metadata_table *tb)
{
    memset(tb, 0, sizeof(*tb));
    add(tb, VHDX_GUID_FILE_PARAMETERS, 0x10000, 8, false, false, true);
    add(tb, VHDX_GUID_VIRTUAL_DISK_SIZE, 0x10008, 8, false, true, true);
    add(tb, VHDX_GUID_VIRTUAL_DISK_ID, 0x10010, 16, false, true, true);
    add(tb, VHDX_GUID_LOGICAL_SECTOR_SIZE, 0x10020, 4, false, true, true);
    add(tb, VHDX_GUID_PHYSICAL_SECTOR_SIZE, 0x10024, 4, false, true, true);
}

static size_t used_bytes(const struct metadata_table *tb)
{
    return METADATA_TABLE_HEADER_SIZE + (size_t)tb->entry_count * METADATA_TABLE_ENTRY_SIZE;
}

void fuzz_make_seeds(struct seed_out *out)
{
    static const uint8_t d4[8] = {0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8};
    static struct metadata_table tb;
    static uint8_t buf[METADATA_TABLE_SIZE + 8];

    base_table(&tb);
    emit_table(out, "valid-fixed", &tb, used_bytes(&tb), VHDX_MiB);

    add(&tb, VHDX_GUID_PARENT_LOCATOR, 0x10100, 400, false, false, true);
    add(&tb, guid_make(0x11111111, 1, 2, d4), 0x20000, 64, true, false, false);
    add(&tb, guid_make(0x22222222, 3, 4, d4), 0, 0, true, true, false);
    emit_table(out, "valid-differencing-user-items", &tb, used_bytes(&tb), VHDX_MiB);

    /* The whole 64 KiB with a stale entry past EntryCount, as Hyper-V leaves them. */
    base_table(&tb);
    if (metadata_table_encode(&tb, buf, METADATA_TABLE_SIZE) == VHDX_OK) {
        memcpy(buf + used_bytes(&tb), buf + used_bytes(&tb) - 32, 32);
        le64_store_no_bounds_check(buf + METADATA_TABLE_SIZE, VHDX_MiB);
        seed_emit(out, "valid-full-stale-entry", buf, sizeof(buf));
    }

    base_table(&tb);
    add(&tb, VHDX_GUID_INCOMPLETE_FILE, 0, 0, false, false, true);
    add(&tb, VHDX_GUID_CHS_PARAMETERS, 0x10028, 8, false, true, true);
    add(&tb, VHDX_GUID_PMEM_LABEL_STORAGE, 0x10030, 32, false, true, false);
    emit_table(out, "openvmm-items", &tb, used_bytes(&tb), VHDX_MiB);

    base_table(&tb);
    tb.entries[1].offset = 0x1000C;                      /* overlaps the next item */
    tb.entries[2].length = 15;                           /* wrong length */
    tb.entries[3].offset = 0x8000;                       /* inside the table */
    add(&tb, VHDX_GUID_VIRTUAL_DISK_ID, 0xFFFF0, 16, false, true, true); /* duplicate */
    add(&tb, guid_make(0x33333333, 5, 6, d4), 0xFFFF8, 16, true, false, true); /* past end */
    emit_table(out, "bad-entries", &tb, used_bytes(&tb), VHDX_MiB);

    /* 1025 user items, each one byte. */
    base_table(&tb);
    for (uint32_t i = 0; i < 1025; i++)
        add(&tb, guid_make(0x40000000u + i, 7, 8, d4), 0x20000 + i, 1, true, false, false);
    emit_table(out, "too-many-user-items", &tb, used_bytes(&tb), VHDX_MiB);

    base_table(&tb);
    if (metadata_table_encode(&tb, buf, METADATA_TABLE_SIZE) != VHDX_OK)
        return;
    le64_store_no_bounds_check(buf + used_bytes(&tb), VHDX_MiB);
    buf[0] = 'M';
    seed_emit(out, "bad-signature", buf, used_bytes(&tb) + 8);
    buf[0] = 'm';
    buf[10] = 0xFF;
    buf[11] = 0x07;
    seed_emit(out, "count-2047", buf, used_bytes(&tb) + 8);
    buf[11] = 0x08;
    seed_emit(out, "count-2048", buf, used_bytes(&tb) + 8);
    buf[10] = 5;
    buf[11] = 0;
    buf[32 + 24] = 0x0C; /* a reserved flag bit */
    buf[8] = 1;          /* Reserved */
    seed_emit(out, "bad-reserved", buf, used_bytes(&tb) + 8);
    seed_emit(out, "truncated", buf, 20);
}
#endif
