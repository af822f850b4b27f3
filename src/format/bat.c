#include "format/bat.h"

#include <string.h>

#include "base/bytes.h"
#include "base/checked.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "BAT";

struct bat_entry bat_entry_decode(uint64_t raw)
{
    struct bat_entry e;
    e.state = (uint8_t)(raw & BAT_STATE_MASK);
    e.reserved = (uint32_t)((raw & BAT_RESERVED_MASK) >> 3);
    e.file_offset_mb = raw >> 20;
    return e;
}

NO_COVERAGE uint64_t bat_zero_prefix(const uint8_t *entries, uint64_t n)
{
    uint64_t k = 0;
    if (n == 0 || bytes_all_zero(entries, (size_t)n * BAT_ENTRY_SIZE))
        return n;
    while (n - k >= 32 && bytes_all_zero(entries + k * BAT_ENTRY_SIZE, (size_t)32 * BAT_ENTRY_SIZE))
        k += 32;
    while (k < n && bytes_all_zero(entries + k * BAT_ENTRY_SIZE, BAT_ENTRY_SIZE))
        k++;
    return k;
}

uint64_t bat_entry_encode(const struct bat_entry *e)
{
    return ((uint64_t)e->state & BAT_STATE_MASK) | (((uint64_t)e->reserved << 3) & BAT_RESERVED_MASK) |
           ((e->file_offset_mb & BAT_FILE_OFFSET_MB_MAX) << 20);
}

const char *bat_payload_state_name(uint8_t state)
{
    switch (state) {
    case BAT_PAYLOAD_NOT_PRESENT:
        return "NOT_PRESENT";
    case BAT_PAYLOAD_UNDEFINED:
        return "UNDEFINED";
    case BAT_PAYLOAD_ZERO:
        return "ZERO";
    case BAT_PAYLOAD_UNMAPPED:
        return "UNMAPPED";
    case BAT_PAYLOAD_FULLY_PRESENT:
        return "FULLY_PRESENT";
    case BAT_PAYLOAD_PARTIALLY_PRESENT:
        return "PARTIALLY_PRESENT";
    default:
        return "reserved";
    }
}

vhdx_status bat_geometry_init(struct bat_geometry *g, uint64_t virtual_disk_size,
                              uint32_t block_size, uint32_t logical_sector_size, bool has_parent,
                              struct diag_sink *d)
{
    uint64_t chunk_bytes, n, ns, total;

    memset(g, 0, sizeof(*g));
    /* §5.4.1: BlockSize is a power of two from 1 MiB to 256 MiB. */
    if (!is_pow2_u64(block_size) || block_size < VHDX_MIN_BLOCK_SIZE ||
        block_size > VHDX_MAX_BLOCK_SIZE)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.geometry.block_size", STRUCT_NAME,
                          VHDX_OFFSET_NONE,
                          "block size %u is not a power of two from 1 MiB to 256 MiB", block_size);
    /* §5.4.4: 512 or 4096. */
    if (logical_sector_size != 512 && logical_sector_size != 4096)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.geometry.sector_size", STRUCT_NAME,
                          VHDX_OFFSET_NONE, "logical sector size %u is not 512 or 4096",
                          logical_sector_size);
    /* §5.4.2: > 0 (else N - 1 underflows), <= 64 TiB, a multiple of the sector size. */
    if (virtual_disk_size == 0 || virtual_disk_size > VHDX_MAX_VIRTUAL_DISK_SIZE ||
        virtual_disk_size % logical_sector_size != 0)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.geometry.disk_size", STRUCT_NAME,
                          VHDX_OFFSET_NONE,
                          "virtual disk size %llu is not a non-zero multiple of %u up to 64 TiB",
                          (unsigned long long)virtual_disk_size, logical_sector_size);

    /* §6.1: ChunkRatio = 2^23 * LSS / BlockSize, between 16 and 32768. */
    chunk_bytes = VHDX_SECTORS_PER_BITMAP_BLOCK * logical_sector_size;
    g->virtual_disk_size = virtual_disk_size;
    g->block_size = block_size;
    g->logical_sector_size = logical_sector_size;
    g->has_parent = has_parent;
    g->chunk_ratio = (uint32_t)(chunk_bytes / block_size);

    /* §7.5. */
    n = virtual_disk_size / block_size + (virtual_disk_size % block_size != 0);
    ns = n / g->chunk_ratio + (n % g->chunk_ratio != 0);
    if (has_parent)
        total = ns * ((uint64_t)g->chunk_ratio + 1);
    else
        total = n + (n - 1) / g->chunk_ratio;
    g->payload_blocks = n;
    g->sector_bitmap_blocks = ns;
    g->total_entries = total;
    return VHDX_OK;
}

vhdx_status bat_region_check(const struct bat_geometry *g, uint64_t region_length,
                             struct diag_sink *d)
{
    /* total_entries <= 2^26 + 2^22 by the limits above, so * 8 cannot overflow. */
    uint64_t need = g->total_entries * BAT_ENTRY_SIZE;
    if (region_length < need)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.region.too_small", STRUCT_NAME, VHDX_OFFSET_NONE,
                          "BAT region is %llu bytes but %llu entries need %llu bytes",
                          (unsigned long long)region_length,
                          (unsigned long long)g->total_entries, (unsigned long long)need);
    return VHDX_OK;
}

vhdx_status bat_payload_index(const struct bat_geometry *g, uint64_t block, uint64_t *slot)
{
    if (g->chunk_ratio == 0 || block >= g->payload_blocks)
        return VHDX_E_RANGE;
    *slot = block + block / g->chunk_ratio;
    return VHDX_OK;
}

vhdx_status bat_sb_index(const struct bat_geometry *g, uint64_t chunk, uint64_t *slot)
{
    if (g->chunk_ratio == 0 || chunk >= g->sector_bitmap_blocks)
        return VHDX_E_RANGE;
    *slot = chunk * ((uint64_t)g->chunk_ratio + 1) + g->chunk_ratio;
    return VHDX_OK;
}

enum bat_slot_kind bat_slot_classify(const struct bat_geometry *g, uint64_t slot,
                                     uint64_t *number)
{
    uint64_t group, pos, block;
    *number = 0;
    if (g->chunk_ratio == 0 || slot >= g->total_entries)
        return BAT_SLOT_PADDING;
    group = slot / ((uint64_t)g->chunk_ratio + 1);
    pos = slot % ((uint64_t)g->chunk_ratio + 1);
    if (pos == g->chunk_ratio) {
        *number = group;
        return group < g->sector_bitmap_blocks ? BAT_SLOT_SECTOR_BITMAP : BAT_SLOT_PADDING;
    }
    block = group * g->chunk_ratio + pos;
    if (block >= g->payload_blocks)
        return BAT_SLOT_PADDING;
    *number = block;
    return BAT_SLOT_PAYLOAD;
}

/*
 * The bytes of payload block `block` that hold virtual disk: the whole
 * block, except for the last one when the virtual size is not a multiple of
 * the block size. A writer may end the file there (QEMU does with
 * block_state_zero=off), and no reader reads past it.
 */
static uint64_t block_extent(const struct bat_geometry *g, uint64_t block)
{
    uint64_t start;
    if (!ck_mul_u64(block, g->block_size, &start) || start >= g->virtual_disk_size)
        return g->block_size;
    return g->virtual_disk_size - start < g->block_size ? g->virtual_disk_size - start
                                                         : g->block_size;
}

static vhdx_status check_extent(const struct bat_entry *e, uint64_t len, const char *what,
                                uint64_t number, const struct bat_entry_context *ctx,
                                uint64_t pos, struct diag_sink *d)
{
    uint64_t off = bat_entry_file_offset(e), end;
    /* §7.1: a meaningful offset is after the 1 MiB header section. */
    if (e->file_offset_mb == 0)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.entry.offset.zero", STRUCT_NAME, pos,
                          "%s %llu is present but its file offset is 0", what,
                          (unsigned long long)number);
    if (!ck_range_end(off, len, &end))
        return DIAG_ERROR(d, VHDX_E_OVERFLOW, "bat.entry.overflow", STRUCT_NAME, pos,
                          "%s %llu at 0x%llx: offset + length overflows 64 bits", what,
                          (unsigned long long)number, (unsigned long long)off);
    if (ctx->file_size != 0 && end > ctx->file_size)
        return DIAG_ERROR(d, VHDX_E_RANGE, "bat.entry.past_eof", STRUCT_NAME, pos,
                          "%s %llu [0x%llx, 0x%llx) extends past the end of the file (0x%llx)",
                          what, (unsigned long long)number, (unsigned long long)off,
                          (unsigned long long)end, (unsigned long long)ctx->file_size);
    return VHDX_OK;
}

vhdx_status bat_entry_validate(const struct bat_geometry *g, uint64_t raw,
                               const struct bat_entry_context *ctx, struct diag_sink *d)
{
    struct bat_entry e = bat_entry_decode(raw);
    uint64_t number = 0, pos;
    enum bat_slot_kind kind = bat_slot_classify(g, ctx->slot, &number);
    vhdx_status first = VHDX_OK;

    if (!ck_mul_u64(ctx->slot, BAT_ENTRY_SIZE, &pos))
        pos = VHDX_OFFSET_NONE;

    if (kind == BAT_SLOT_PADDING) {
        /* §7.5: entries past TotalBATEntries are padding; openvmm writes them as 0. */
        if (raw != 0)
            (void)DIAG_WARN(d, VHDX_E_RESERVED, "bat.padding.nonzero", STRUCT_NAME, pos,
                            "padding entry %llu is 0x%016llx, expected 0",
                            (unsigned long long)ctx->slot, (unsigned long long)raw);
        return VHDX_OK;
    }

    /* §7.1 / §7.6 item 1: bits 3-19 are reserved. */
    if (e.reserved != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "bat.entry.reserved",
                                               STRUCT_NAME, pos,
                                               "entry %llu has reserved bits 0x%05x set",
                                               (unsigned long long)ctx->slot, e.reserved));

    if (kind == BAT_SLOT_SECTOR_BITMAP) {
        switch (e.state) {
        case BAT_SB_NOT_PRESENT:
            if (e.file_offset_mb != 0)
                (void)DIAG_WARN(d, VHDX_E_RESERVED, "bat.sb.offset.reserved", STRUCT_NAME, pos,
                                "sector bitmap entry of chunk %llu is NOT_PRESENT with a non-zero offset",
                                (unsigned long long)number);
            break;
        case BAT_SB_PRESENT:
            /* §7.3: only differencing files have sector bitmap blocks. */
            if (!g->has_parent)
                first = status_first(first, DIAG_ERROR(d, VHDX_E_STATE,
                                                       "bat.sb.present_without_parent",
                                                       STRUCT_NAME, pos,
                                                       "sector bitmap of chunk %llu is PRESENT in a file without a parent",
                                                       (unsigned long long)number));
            first = status_first(first, check_extent(&e, VHDX_SECTOR_BITMAP_BLOCK_SIZE,
                                                     "sector bitmap of chunk", number, ctx, pos, d));
            break;
        default:
            first = status_first(first, DIAG_ERROR(d, VHDX_E_STATE, "bat.sb.state", STRUCT_NAME,
                                                   pos,
                                                   "sector bitmap entry of chunk %llu has reserved state %u",
                                                   (unsigned long long)number, e.state));
            break;
        }
        return first;
    }

    switch (e.state) {
    case BAT_PAYLOAD_NOT_PRESENT:
        /* §7.6 item 5: FileOffsetMB is reserved. */
        if (e.file_offset_mb != 0)
            (void)DIAG_WARN(d, VHDX_E_RESERVED, "bat.entry.offset.reserved", STRUCT_NAME, pos,
                            "block %llu is %s with a non-zero file offset 0x%llx",
                            (unsigned long long)number, bat_payload_state_name(e.state),
                            (unsigned long long)bat_entry_file_offset(&e));
        break;
    case BAT_PAYLOAD_ZERO:
        /* §7.6 item 5: FileOffsetMB is reserved, and Hyper-V refuses an image that sets it. */
        if (e.file_offset_mb != 0)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "bat.entry.zero.offset",
                                                   STRUCT_NAME, pos,
                                                   "block %llu is ZERO with a non-zero file offset "
                                                   "0x%llx (Hyper-V refuses it)",
                                                   (unsigned long long)number,
                                                   (unsigned long long)bat_entry_file_offset(&e)));
        break;
    case BAT_PAYLOAD_UNDEFINED:
    case BAT_PAYLOAD_UNMAPPED:
        /* §7.6 item 4: a non-zero offset keeps its range reserved ("soft-anchored"). */
        if (e.file_offset_mb != 0)
            first = status_first(first, check_extent(&e, block_extent(g, number), "block",
                                                     number, ctx, pos, d));
        break;
    case BAT_PAYLOAD_FULLY_PRESENT:
        first = status_first(first, check_extent(&e, block_extent(g, number), "block", number,
                                                 ctx, pos, d));
        break;
    case BAT_PAYLOAD_PARTIALLY_PRESENT:
        /* §7.2: valid in differencing files only. */
        if (!g->has_parent)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_STATE,
                                                   "bat.entry.partial_without_parent",
                                                   STRUCT_NAME, pos,
                                                   "block %llu is PARTIALLY_PRESENT in a file without a parent",
                                                   (unsigned long long)number));
        first = status_first(first, check_extent(&e, block_extent(g, number), "block", number,
                                                 ctx, pos, d));
        break;
    case BAT_PAYLOAD_UNMAPPED_V095:
        /* §11.2 item 1: UNMAPPED was 5 in v0.95; reserved since v1.00. */
        first = status_first(first, DIAG_ERROR(d, VHDX_E_STATE, "bat.entry.state.legacy_unmapped",
                                               STRUCT_NAME, pos,
                                               "block %llu has state 5 (UNMAPPED of the v0.95 draft, reserved since v1.00)",
                                               (unsigned long long)number));
        break;
    default:
        first = status_first(first, DIAG_ERROR(d, VHDX_E_STATE, "bat.entry.state", STRUCT_NAME,
                                               pos, "block %llu has reserved state %u",
                                               (unsigned long long)number, e.state));
        break;
    }
    return first;
}

vhdx_status bat_bitmap_slice(const struct bat_geometry *g, uint64_t block,
                             struct bat_bitmap_slice *out)
{
    if (g->chunk_ratio == 0 || block >= g->payload_blocks)
        return VHDX_E_RANGE;
    out->chunk = block / g->chunk_ratio;
    out->byte_length = (uint32_t)(VHDX_SECTOR_BITMAP_BLOCK_SIZE / g->chunk_ratio);
    out->byte_offset = (uint32_t)(block % g->chunk_ratio) * out->byte_length;
    return VHDX_OK;
}
