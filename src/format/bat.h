/*
 * The block allocation table (VHDX-FORMAT.md §6, §7): the 64-bit entry codec,
 * the geometry (chunk ratio, entry counts) and the mapping between payload
 * blocks, chunks and BAT slots.
 */
#ifndef VHDX_FORMAT_BAT_H
#define VHDX_FORMAT_BAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"

#define BAT_ENTRY_SIZE 8u

/* §7.2 payload block states and §7.3 sector bitmap block states. */
enum {
    BAT_PAYLOAD_NOT_PRESENT = 0,
    BAT_PAYLOAD_UNDEFINED = 1,
    BAT_PAYLOAD_ZERO = 2,
    BAT_PAYLOAD_UNMAPPED = 3,
    BAT_PAYLOAD_UNMAPPED_V095 = 5, /* §11.2 item 1: reserved since v1.00 */
    BAT_PAYLOAD_FULLY_PRESENT = 6,
    BAT_PAYLOAD_PARTIALLY_PRESENT = 7,
    BAT_SB_NOT_PRESENT = 0,
    BAT_SB_PRESENT = 6
};

#define BAT_STATE_MASK 0x7ull
#define BAT_RESERVED_MASK 0xFFFF8ull          /* bits 3-19 */
#define BAT_OFFSET_MASK 0xFFFFFFFFFFF00000ull /* bits 20-63 */
#define BAT_FILE_OFFSET_MB_MAX ((1ull << 44) - 1)

struct bat_entry {
    uint8_t state;           /* bits 0-2 */
    uint32_t reserved;       /* bits 3-19, shifted down */
    uint64_t file_offset_mb; /* bits 20-63 */
};

struct bat_entry bat_entry_decode(uint64_t raw);
uint64_t bat_entry_encode(const struct bat_entry *e);

/*
 * How many of the n 8-byte entries at `entries` (raw on-disk bytes or host
 * order: zero is zero in both) are all-zero before the first that is not:
 * the whole span in one test when it is all zero (a sparse table), else
 * 32 entries and then one at a time.
 */
uint64_t bat_zero_prefix(const uint8_t *entries, uint64_t n);

/* File byte offset of an entry (FileOffsetMB << 20; never overflows: 44 + 20 = 64 bits). */
static inline uint64_t bat_entry_file_offset(const struct bat_entry *e)
{
    return e->file_offset_mb << 20;
}

/* What the BAT of one image looks like. */
struct bat_geometry {
    uint64_t virtual_disk_size;
    uint32_t block_size;
    uint32_t logical_sector_size;
    bool has_parent;
    uint32_t chunk_ratio;          /* payload blocks per chunk: 2^23 * LSS / BlockSize */
    uint64_t payload_blocks;       /* N = Ceil(VirtualDiskSize / BlockSize) */
    uint64_t sector_bitmap_blocks; /* NS = Ceil(N / ChunkRatio) */
    uint64_t total_entries;        /* §7.5 */
};

/*
 * Computes the geometry and checks the parameters it depends on (block
 * size, sector size, virtual disk size: the rules of §5.4.1, §5.4.2,
 * §5.4.4, repeated here because the geometry is meaningless without them).
 */
MUST_USE vhdx_status bat_geometry_init(struct bat_geometry *g, uint64_t virtual_disk_size,
                                       uint32_t block_size, uint32_t logical_sector_size,
                                       bool has_parent, struct diag_sink *d);

/* §7.5: the BAT region must hold TotalBATEntries entries. */
MUST_USE vhdx_status bat_region_check(const struct bat_geometry *g, uint64_t region_length,
                                      struct diag_sink *d);

/* §7.4 index formulas; they fail (VHDX_E_RANGE) for a block or chunk past the disk. */
MUST_USE vhdx_status bat_payload_index(const struct bat_geometry *g, uint64_t block,
                                       uint64_t *slot);
MUST_USE vhdx_status bat_sb_index(const struct bat_geometry *g, uint64_t chunk, uint64_t *slot);

enum bat_slot_kind { BAT_SLOT_PAYLOAD, BAT_SLOT_SECTOR_BITMAP, BAT_SLOT_PADDING };

/*
 * What slot s holds: a payload entry (*number = block), a sector bitmap
 * entry (*number = chunk), or padding past TotalBATEntries (or an SB slot
 * past the last chunk).
 */
enum bat_slot_kind bat_slot_classify(const struct bat_geometry *g, uint64_t slot,
                                     uint64_t *number);

/* Context for checking one entry. Zero file_size means "unknown". */
struct bat_entry_context {
    uint64_t file_size;
    uint64_t slot;
};

/*
 * Checks one raw entry in its slot (§7.6 items 1-3, 5, 6): reserved bits,
 * allowed states for the slot kind and disk type, FileOffsetMB non-zero for
 * present blocks and zero where it is reserved, extent inside the file.
 * Overlap and uniqueness across entries need the whole image and are
 * checked by the space map. The offset reported is the entry's index * 8.
 */
MUST_USE vhdx_status bat_entry_validate(const struct bat_geometry *g, uint64_t raw,
                                        const struct bat_entry_context *ctx, struct diag_sink *d);

/* Where payload block b's bits sit in its chunk's sector bitmap block (§6.2). */
struct bat_bitmap_slice {
    uint64_t chunk;
    uint32_t byte_offset; /* into the 1 MiB sector bitmap block */
    uint32_t byte_length; /* 1 MiB / ChunkRatio */
};
MUST_USE vhdx_status bat_bitmap_slice(const struct bat_geometry *g, uint64_t block,
                                      struct bat_bitmap_slice *out);

const char *bat_payload_state_name(uint8_t state);

#endif
