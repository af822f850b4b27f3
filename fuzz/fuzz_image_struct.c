/*
 * Structure-aware whole-image harness: a valid base image, the input's
 * records applied as targeted field mutations, every checksum recomputed
 * (fuzz/image_mutator.h), then the image judged, opened from memory,
 * mapped and read like fuzz_image does. Because the checksums are right,
 * the rules behind them are reached in the checked build too, where the
 * other whole-image harnesses stop at the first CRC.
 *
 * Input: byte 0 picks the base (mod IM_BASE_COUNT); the rest is records of
 * IM_RECORD_SIZE bytes (u8 target, u8 field, u16 index, u8 op, u64 value).
 *
 * Invariants (a broken one aborts):
 * - vhdx_check judges every image (memory never fails) and its counts agree
 *   with the findings it passed on;
 * - an open that succeeds reported no error, and check found none; an open
 *   that fails reported an error, and check found one (check runs every
 *   check of the open);
 * - an opened image's info obeys the rules the open enforced; map extents
 *   tile the disk; ZERO extents read as zeros; DATA extents read as the
 *   file's bytes when no log was replayed; reads past the end are refused.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_pool.h"
#include "image_mutator.h"
#include "vhdx.h"

/* Bytes read per extent (from its start) and in all, per input. */
#define READ_PER_EXTENT 16384u
#define READ_TOTAL (256u << 10)
#define MAX_EXTENTS 4096u

struct counts {
    size_t errors, warnings, infos;
};

static void count(void *ctx, const vhdx_diag *d)
{
    struct counts *c = ctx;
    switch (d->severity) {
    case VHDX_SEVERITY_ERROR:
        FUZZ_CHECK(d->code != VHDX_OK && d->rule != NULL);
        c->errors++;
        break;
    case VHDX_SEVERITY_WARNING:
        c->warnings++;
        break;
    default:
        c->infos++;
        break;
    }
}

static bool all_zero(const uint8_t *p, size_t n)
{
    static const uint8_t zero[READ_PER_EXTENT];
    return n <= sizeof(zero) && memcmp(p, zero, n) == 0;
}

static void read_disk(vhdx_image *img, const vhdx_info *info, const struct im_file *f)
{
    static uint8_t buf[READ_PER_EXTENT];
    uint64_t off = 0, budget = READ_TOTAL, size = info->virtual_size;
    bool exact = info->log_replay == VHDX_LOG_CLEAN;
    vhdx_status st;

    for (unsigned k = 0; off < size && k < MAX_EXTENTS; k++) {
        vhdx_extent ext;
        size_t n;
        if (vhdx_map_next(img, off, &ext) != VHDX_OK)
            return;
        FUZZ_CHECK(ext.offset == off && ext.length > 0 && ext.length <= size - off);
        n = ext.length < sizeof(buf) ? (size_t)ext.length : sizeof(buf);
        if (n > budget)
            n = (size_t)budget;
        if (n > 0) {
            st = vhdx_read(img, off, buf, n);
            budget -= n;
            if (st == VHDX_OK && ext.kind == VHDX_EXTENT_ZERO)
                FUZZ_CHECK(all_zero(buf, n));
            /* Without a replay the view is the file itself. */
            if (st == VHDX_OK && ext.kind == VHDX_EXTENT_DATA && exact &&
                ext.file_offset <= f->len && n <= f->len - ext.file_offset)
                FUZZ_CHECK(memcmp(buf, f->data + ext.file_offset, n) == 0);
        }
        off += ext.length;
    }
    if (size >= info->logical_sector_size)
        status_ignore(vhdx_read(img, size - info->logical_sector_size, buf,
                                info->logical_sector_size));
    st = vhdx_read(img, size, buf, 1);
    FUZZ_CHECK(st == VHDX_E_RANGE || st == VHDX_E_BAD_STATE);
}

static void check_info(const vhdx_info *info)
{
    uint32_t bs = info->block_size;
    FUZZ_CHECK(info->logical_sector_size == 512 || info->logical_sector_size == 4096);
    FUZZ_CHECK(info->physical_sector_size == 512 || info->physical_sector_size == 4096);
    FUZZ_CHECK(bs >= (1u << 20) && bs <= (256u << 20) && (bs & (bs - 1)) == 0);
    FUZZ_CHECK(info->virtual_size > 0 && info->virtual_size % info->logical_sector_size == 0);
    FUZZ_CHECK(info->current_header == 1 || info->current_header == 2);
    FUZZ_CHECK(info->blocks_allocated <= info->bat_entries);
}

static void judge(const struct im_file *f)
{
    struct counts in_check = {0, 0, 0}, in_open = {0, 0, 0};
    vhdx_open_options o;
    vhdx_check_result result;
    vhdx_image *img = NULL;
    vhdx_io io;
    vhdx_status st;
    bool limited;

    memset(&o, 0, sizeof(o));
    im_open_options(f, &o);
    o.allocator = &FUZZ_POOL;
    o.on_diag = count;

    o.diag_ctx = &in_check;
    FUZZ_CHECK(vhdx_io_from_memory(f->data, f->len, &io) == VHDX_OK);
    st = vhdx_check(&io, &o, &result);
    /* A limit reached is no verdict: the open must stop at one too. */
    FUZZ_CHECK(st == VHDX_OK || st == VHDX_E_LIMIT);
    limited = st == VHDX_E_LIMIT;
    FUZZ_CHECK((result.errors == 0) == (result.first_error == VHDX_OK));
    FUZZ_CHECK(result.errors == in_check.errors && result.warnings == in_check.warnings &&
               result.infos == in_check.infos);

    o.diag_ctx = &in_open;
    FUZZ_CHECK(vhdx_io_from_memory(f->data, f->len, &io) == VHDX_OK);
    st = vhdx_open(&io, &o, &img);
    if (limited && st != VHDX_E_LIMIT)
        fprintf(stderr, "check stopped at a limit, open returned %s\n", vhdx_status_name(st));
    FUZZ_CHECK(!limited || st == VHDX_E_LIMIT);
    if (st != VHDX_OK) {
        FUZZ_CHECK(img == NULL);
        FUZZ_CHECK(in_open.errors > 0);
        FUZZ_CHECK(result.errors > 0);
        return;
    }
    FUZZ_CHECK(img != NULL);
    FUZZ_CHECK(in_open.errors == 0);
    FUZZ_CHECK(result.errors == 0);
    {
        static vhdx_info info;
        FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK);
        check_info(&info);
        read_disk(img, &info, f);
    }
    vhdx_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct im_file f;
    int base;

    if (size == 0)
        return 0;
    base = data[0] % IM_BASE_COUNT;
    /* The bases are built by our own encoders: failing to build one is a harness bug. */
    FUZZ_CHECK(im_apply(base, data + 1, size - 1, &f) == 0);
    judge(&f);
    im_restore(base);
    return 0;
}

#ifdef FUZZ_SEEDS
/* One seed per base without a mutation, then representative records of every target. */
struct seed {
    const char *name;
    uint8_t base, target, field;
    uint16_t index;
    uint8_t op;
    uint64_t value;
};

static const struct seed SEEDS[] = {
    {"file-truncate-1m", IM_BASE_DYNAMIC, IM_T_FILE, IM_FILE_LENGTH, 0, IM_OP_BOUNDARY,
     IM_B_1MIB},
    {"file-grow", IM_BASE_DYNAMIC, IM_T_FILE, IM_FILE_LENGTH, 0, IM_OP_ADD, 0x301},
    {"ident-signature", IM_BASE_FIXED, IM_T_IDENTIFIER, IM_IDENT_SIGNATURE, 0, IM_OP_XOR_BIT, 3},
    {"creator-surrogate", IM_BASE_DYNAMIC, IM_T_CREATOR, 0, 2, IM_OP_SET, 0xd800},
    {"header2-version", IM_BASE_DYNAMIC, IM_T_HEADER, IM_HEADER_VERSION, 1, IM_OP_SET, 2},
    {"headers-log-offset", IM_BASE_DYNAMIC, IM_T_HEADER, IM_HEADER_LOG_OFFSET, 2, IM_OP_BOUNDARY,
     IM_B_FILE_SIZE},
    {"header2-log-guid", IM_BASE_DYNAMIC, IM_T_HEADER, IM_HEADER_LOG_GUID, 1, IM_OP_BOUNDARY, 14},
    {"header1-over-header2", IM_BASE_DIRTY_ONE, IM_T_HEADER, 0, 1, IM_OP_COPY, 0},
    {"header2-checksum", IM_BASE_DIRTY_ONE, IM_T_HEADER, IM_HEADER_CHECKSUM, 1, IM_OP_XOR_BIT, 0},
    {"header-sequence-equal", IM_BASE_FIXED, IM_T_HEADER, IM_HEADER_SEQUENCE, 1, IM_OP_SET, 1},
    {"rt-entry-count", IM_BASE_DYNAMIC, IM_T_REGION_TABLE, IM_RT_ENTRY_COUNT, 2, IM_OP_SET, 3},
    {"rt1-checksum", IM_BASE_FIXED, IM_T_REGION_TABLE, IM_RT_CHECKSUM, 0, IM_OP_XOR_BIT, 9},
    {"region-overlap", IM_BASE_DYNAMIC, IM_T_REGION_ENTRY, IM_RE_FILE_OFFSET, 5, IM_OP_COPY_FIELD,
     2},
    {"region-past-eof", IM_BASE_FIXED, IM_T_REGION_ENTRY, IM_RE_FILE_OFFSET, 2, IM_OP_BOUNDARY,
     IM_B_FILE_SIZE},
    {"region-duplicate", IM_BASE_DYNAMIC, IM_T_REGION_ENTRY, IM_RE_GUID, 5, IM_OP_COPY_FIELD, 2},
    {"region-unknown-required", IM_BASE_DYNAMIC_4K, IM_T_REGION_ENTRY, IM_RE_GUID, 2,
     IM_OP_XOR_BIT, 77},
    {"mt-entry-count", IM_BASE_DYNAMIC, IM_T_METADATA_TABLE, IM_MT_ENTRY_COUNT, 0, IM_OP_ADD,
     0xff},
    {"me-offset-overlap", IM_BASE_DYNAMIC, IM_T_METADATA_ENTRY, IM_ME_OFFSET, 1, IM_OP_COPY_FIELD,
     0},
    {"me-not-required", IM_BASE_FIXED, IM_T_METADATA_ENTRY, IM_ME_IS_REQUIRED, 3, IM_OP_SET, 0},
    {"me-incomplete-file", IM_BASE_DYNAMIC, IM_T_METADATA_ENTRY, IM_ME_ITEM_ID, 2,
     IM_OP_BOUNDARY, 11},
    {"fp-block-size", IM_BASE_DYNAMIC, IM_T_FILE_PARAMETERS, IM_FP_BLOCK_SIZE, 0, IM_OP_BOUNDARY,
     IM_B_256MIB},
    {"fp-has-parent", IM_BASE_DYNAMIC, IM_T_FILE_PARAMETERS, IM_FP_HAS_PARENT, 0, IM_OP_SET, 1},
    {"vds-unaligned", IM_BASE_DYNAMIC_4K, IM_T_VIRTUAL_DISK_SIZE, 0, 0, IM_OP_ADD, 0x101},
    {"vds-64tib", IM_BASE_DYNAMIC, IM_T_VIRTUAL_DISK_SIZE, 0, 0, IM_OP_BOUNDARY, IM_B_64TIB},
    {"vdi-nil", IM_BASE_FIXED, IM_T_VIRTUAL_DISK_ID, 0, 0, IM_OP_SET, 0},
    {"lss-4096", IM_BASE_DYNAMIC, IM_T_LOGICAL_SECTOR_SIZE, 0, 0, IM_OP_BOUNDARY, IM_B_4096},
    {"pss-1024", IM_BASE_DYNAMIC, IM_T_PHYSICAL_SECTOR_SIZE, 0, 0, IM_OP_BOUNDARY, IM_B_1024},
    {"locator-count", IM_BASE_DIFF_PARENT, IM_T_LOCATOR, IM_PL_COUNT, 0, IM_OP_ADD, 1},
    {"locator-type", IM_BASE_DIFF, IM_T_LOCATOR, IM_PL_TYPE, 0, IM_OP_XOR_BIT, 5},
    {"locator-key-odd", IM_BASE_DIFF, IM_T_LOCATOR_ENTRY, IM_PLE_KEY_LENGTH, 1, IM_OP_ADD, 1},
    {"locator-linkage-text", IM_BASE_DIFF_PARENT, IM_T_LOCATOR_VALUE, 0, 8 * 3, IM_OP_XOR_BIT, 1},
    {"locator-path", IM_BASE_DIFF_PARENT, IM_T_LOCATOR_VALUE, 0, 1 + 8 * 2, IM_OP_SET, 'q'},
    {"locator-key-unknown", IM_BASE_DIFF, IM_T_LOCATOR_KEY, 0, 2, IM_OP_SET, 'Z'},
    {"bat-state-4", IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, IM_BAT_STATE, 0, IM_OP_SET, 4},
    {"bat-past-eof", IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, IM_BAT_OFFSET_MB, 0, IM_OP_BOUNDARY,
     IM_B_FILE_SIZE},
    {"bat-duplicate", IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, 0, 5, IM_OP_COPY, 0},
    {"bat-partial", IM_BASE_DYNAMIC, IM_T_BAT_PAYLOAD, IM_BAT_STATE, 0, IM_OP_SET, 7},
    {"bat-reserved", IM_BASE_FIXED, IM_T_BAT_PAYLOAD, IM_BAT_RESERVED, 2, IM_OP_SET, 1},
    {"bat-sb-not-present", IM_BASE_DIFF_PARENT, IM_T_BAT_SB, IM_BAT_STATE, 0, IM_OP_SET, 0},
    {"bat-padding", IM_BASE_DYNAMIC, IM_T_BAT_SLOT, IM_BAT_RAW, 100, IM_OP_SET, 1},
    {"sb-clear", IM_BASE_DIFF_PARENT, IM_T_SECTOR_BITMAP, IM_SB_BYTE, 0, IM_OP_SET, 0},
    {"sb-set", IM_BASE_DIFF_PARENT, IM_T_SECTOR_BITMAP, IM_SB_WORD, 520, IM_OP_SET, ~0ull},
    {"log-sequence-zero", IM_BASE_DIRTY_ONE, IM_T_LOG_ENTRY, IM_LE_SEQUENCE, 0, IM_OP_SET, 0},
    {"log-tail", IM_BASE_DIRTY_MULTI, IM_T_LOG_ENTRY, IM_LE_TAIL, 2, IM_OP_ADD, 0x201},
    {"log-guid", IM_BASE_DIRTY_WRAP, IM_T_LOG_ENTRY, IM_LE_LOG_GUID, 0, IM_OP_XOR_BIT, 3},
    {"log-flushed-past-eof", IM_BASE_DIRTY_ONE, IM_T_LOG_ENTRY, IM_LE_FLUSHED_OFFSET, 0,
     IM_OP_BOUNDARY, IM_B_FILE_SIZE_P1MIB},
    {"log-entry-copy", IM_BASE_DIRTY_MULTI, IM_T_LOG_ENTRY, 0, 1, IM_OP_COPY, 0},
    {"log-checksum", IM_BASE_DIRTY_WRAP, IM_T_LOG_ENTRY, IM_LE_CHECKSUM, 0, IM_OP_XOR_BIT, 7},
    {"desc-sequence", IM_BASE_DIRTY_ONE, IM_T_LOG_DESCRIPTOR, IM_LD_SEQUENCE, 0, IM_OP_ADD, 1},
    {"desc-target-header", IM_BASE_DIRTY_ZERO, IM_T_LOG_DESCRIPTOR, IM_LD_FILE_OFFSET, 16,
     IM_OP_BOUNDARY, IM_B_64KIB},
    {"desc-zero-length", IM_BASE_DIRTY_ZERO, IM_T_LOG_DESCRIPTOR, IM_LD_LEADING, 0, IM_OP_ADD,
     0x1ff},
    {"desc-signature", IM_BASE_DIRTY_MULTI, IM_T_LOG_DESCRIPTOR, IM_LD_SIGNATURE, 1, IM_OP_SET,
     0x6f72657a},
    {"data-sequence", IM_BASE_DIRTY_ONE, IM_T_LOG_DATA, IM_DS_SEQUENCE_LOW, 0, IM_OP_ADD, 1},
    {"data-bat-word", IM_BASE_DIRTY_ONE, IM_T_LOG_DATA, IM_DS_DATA_WORD, 0, IM_OP_SET,
     0x0000000000600007ull},
};

void fuzz_make_seeds(struct seed_out *out)
{
    uint8_t buf[1 + IM_RECORD_SIZE];
    char name[96];

    for (int b = 0; b < IM_BASE_COUNT; b++) {
        buf[0] = (uint8_t)b;
        snprintf(name, sizeof(name), "base-%s", im_base_name(b));
        seed_emit(out, name, buf, 1);
    }
    for (size_t i = 0; i < sizeof(SEEDS) / sizeof(SEEDS[0]); i++) {
        const struct seed *s = &SEEDS[i];
        buf[0] = s->base;
        (void)im_record(buf + 1, s->target, s->field, s->index, s->op, s->value);
        snprintf(name, sizeof(name), "%s-%s", im_base_name(s->base), s->name);
        seed_emit(out, name, buf, sizeof(buf));
    }
}
#endif
