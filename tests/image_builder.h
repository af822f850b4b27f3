/*
 * Test support: builds complete VHDX images in memory from the project's own
 * encoders (file identifier, header, region table, metadata table and items,
 * parent locator, BAT entries, log entries), so that readers, validators and
 * the log replayer can be tested on whole files. tests/oracle_check.sh proves
 * the images right with readers we did not write (qemu-img, libvhdi).
 *
 * Memory: the file lives in one anonymous MAP_NORESERVE mapping that grows
 * with mremap. Pages nobody wrote are never touched, so a fixed image of a
 * 32 GiB disk (to put a sector bitmap slot inside the BAT) costs only the
 * pages of its metadata. Test code only: no limits, no accounting.
 *
 * Every function returns 0 on success, else a vhdx_status code (> 0).
 *
 * Layout of a built image (VHDX-FORMAT.md §1):
 *   0        file identifier (creator)            §2
 *   64 KiB   header 1, SequenceNumber 1            §3
 *   128 KiB  header 2, SequenceNumber 2 (current)  §3
 *   192 KiB  region table copy 1 (BAT, metadata)   §4
 *   256 KiB  region table copy 2 (identical)
 *   1 MiB    log, log_length bytes of zeros, LogGuid nil
 *   then BAT and metadata region in the order of the layout:
 *     IB_LAYOUT_QEMU:    BAT at log end, metadata (1 MiB) after the BAT
 *     IB_LAYOUT_OPENVMM: metadata (1 MiB) at log end, BAT after it
 *                        (with the default 1 MiB log: metadata@2M, BAT@3M)
 *   payload_start = the end of the last of them; blocks follow.
 * The metadata region holds the table (64 KiB) and then, packed from 64 KiB,
 * File Parameters, Virtual Disk Size, Virtual Disk ID, Logical Sector Size,
 * Physical Sector Size and (differencing) the Parent Locator.
 * The BAT region is Ceil(TotalBATEntries * 8 / 1 MiB) MiB; padding is zero.
 */
#ifndef VHDX_TESTS_IMAGE_BUILDER_H
#define VHDX_TESTS_IMAGE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "base/guid.h"
#include "format/bat.h"
#include "format/file_identifier.h"
#include "format/header.h"
#include "format/log_entry.h"
#include "format/metadata_items.h"
#include "format/metadata_table.h"
#include "format/region_table.h"

enum { IB_FIXED = 1, IB_DYNAMIC = 2, IB_DIFFERENCING = 3 };
enum { IB_LAYOUT_QEMU = 0, IB_LAYOUT_OPENVMM = 1 };

struct ib_image;

struct ib_params {
    int type;                  /* IB_FIXED, IB_DYNAMIC, IB_DIFFERENCING */
    uint64_t virtual_size;     /* bytes, a non-zero multiple of the logical sector size */
    uint32_t block_size;       /* 0 = 32 MiB */
    uint32_t logical_sector_size, physical_sector_size; /* 0 = 512 */
    uint32_t log_length;       /* 0 = 1 MiB */
    int layout;                /* IB_LAYOUT_QEMU or IB_LAYOUT_OPENVMM */
    const char *creator;       /* UTF-8, NULL = "vhdx test builder" */
    /* nil = fixed deterministic defaults (IB_DEFAULT_*_GUID) */
    struct guid data_write_guid, file_write_guid, virtual_disk_id;
    /* differencing only: */
    const struct ib_image *parent; /* optional; becomes img->parent */
    /* nil = the parent's DataWriteGuid, or IB_DEFAULT_DATA_WRITE_GUID without a parent */
    struct guid parent_linkage;
    /* NULL = omitted; when all three are NULL, relative_path = "parent.vhdx"
     * (the locator needs at least one path, §5.4.6) */
    const char *relative_path, *absolute_win32_path, *volume_path;
};

/* The defaults used for nil GUIDs (on-disk bytes). A differencing image's
 * default DataWriteGuid differs from a base image's, so that a default child
 * never shares its parent's. */
extern const struct guid IB_DEFAULT_DATA_WRITE_GUID;
extern const struct guid IB_DEFAULT_CHILD_DATA_WRITE_GUID;
extern const struct guid IB_DEFAULT_FILE_WRITE_GUID;
extern const struct guid IB_DEFAULT_VIRTUAL_DISK_ID;

struct ib_image {
    uint8_t *data;  /* the file: data[0, len) */
    size_t len;     /* file size, a multiple of 1 MiB unless a test changed it */
    size_t cap;     /* bytes mapped */
    int type;

    /* Where everything is (file offsets, bytes). */
    uint64_t log_offset, bat_offset, metadata_offset, payload_start;
    uint32_t log_length, bat_length, metadata_length;
    struct bat_geometry geo;

    /* The structures as encoded; change them and call ib_refresh. */
    struct file_identifier ident;
    struct header header;     /* current: slot 2, SequenceNumber 2 */
    struct header header_old; /* slot 1, SequenceNumber 1, otherwise the same at build */
    struct region_table rt;   /* written to both copies */
    struct metadata_table mt;
    struct file_parameters fp;
    struct virtual_disk_size vds;
    struct virtual_disk_id vdi;
    struct logical_sector_size lss;
    struct physical_sector_size pss;
    uint8_t *locator;   /* parent locator item bytes (malloc'd), differencing only */
    size_t locator_len;

    /* The parent of a differencing image, for ib_expected_read and ib_write. */
    const struct ib_image *parent;

    /* Log writer state: where ib_add_log_entry puts the next entry. */
    uint32_t log_head;
};

/* Builds the image; on failure *out is freed and zeroed. */
int ib_build(const struct ib_params *p, struct ib_image *out);

/* Releases everything; *img is zeroed. Safe on a zeroed image. */
void ib_free(struct ib_image *img);

/*
 * Writes virtual disk bytes [voff, voff + len), allocating blocks at the end
 * of the file (1 MiB aligned, zero-filled) as needed:
 * - fixed/dynamic: a block that is not FULLY_PRESENT gets a new block and
 *   becomes FULLY_PRESENT;
 * - differencing: a NOT_PRESENT block gets a new block and becomes
 *   PARTIALLY_PRESENT, with its chunk's sector bitmap block allocated (SB
 *   entry PRESENT) if it was not; each sector written gets its bit set, and
 *   a sector whose bit was 0 is first filled with the parent's bytes (or
 *   zeros without a parent), as a correct writer does for partial sectors.
 *   The block stays PARTIALLY_PRESENT even when every bit is set.
 *   A ZERO/UNDEFINED/UNMAPPED block (reads as zeros, not the parent) gets a
 *   zero-filled block and becomes FULLY_PRESENT.
 * Fails on a range past the disk and on PARTIALLY_PRESENT in a non-differencing
 * image or an entry with a reserved state.
 */
int ib_write(struct ib_image *img, uint64_t voff, const void *buf, size_t len);

/* Writes the raw payload entry of block: state | offset_mb << 20. */
int ib_set_block_state(struct ib_image *img, uint64_t block, uint8_t state, uint64_t offset_mb);

/* Raw BAT access by slot (any slot of the BAT region, padding included). */
int ib_set_bat_raw(struct ib_image *img, uint64_t slot, uint64_t raw);
int ib_get_bat_raw(const struct ib_image *img, uint64_t slot, uint64_t *raw);

/* The raw payload entry of block. */
int ib_get_block_entry(const struct ib_image *img, uint64_t block, uint64_t *raw);

/*
 * Sets (value != 0) or clears bits [first_sector, first_sector + count) of
 * block's slice of its chunk's sector bitmap (§6.2), allocating the sector
 * bitmap block (SB entry PRESENT) when the chunk has none. Sectors are
 * logical sectors counted from the start of the block.
 */
int ib_set_sb_bits(struct ib_image *img, uint64_t block, uint64_t first_sector, uint64_t count,
                   int value);
/* Reads one bit; *bit = 0 when the chunk has no sector bitmap block. */
int ib_get_sb_bit(const struct ib_image *img, uint64_t block, uint64_t sector, int *bit);

/*
 * Reserves size bytes (rounded up to 1 MiB) of zeros at the end of the file,
 * 1 MiB aligned; *offset receives where.
 */
int ib_alloc_space(struct ib_image *img, uint64_t size, uint64_t *offset);

/* Grows (zero-filled) or shrinks the file to exactly new_len bytes. */
int ib_resize(struct ib_image *img, uint64_t new_len);

/*
 * Re-encodes the identifier, header_old (slot 1), header (slot 2), both
 * region tables, the metadata table and every item it locates (the five
 * known items from the structs above, the parent locator from locator[])
 * from the struct fields. The BAT, the log and payload are not touched, nor
 * is geo. Items the table does not list are not written.
 */
int ib_refresh(struct ib_image *img);

/* Recomputes only the CRCs of both headers and both region tables in place. */
int ib_restamp_checksums(struct ib_image *img);

/* Writes the file (sparse: all-zero MiBs are skipped, then ftruncate). */
int ib_save(const struct ib_image *img, const char *path);

/*
 * The builder's model of what a correct reader returns for virtual bytes
 * [voff, voff + len) (the deterministic table of §7.2):
 * - FULLY_PRESENT: the file's bytes;
 * - NOT_PRESENT: zeros, except in a differencing image: the parent's bytes
 *   (an error when img->parent is NULL);
 * - ZERO, UNDEFINED, UNMAPPED: zeros (in differencing images too);
 * - PARTIALLY_PRESENT (differencing only): per sector, bit 1 = file,
 *   bit 0 = parent.
 * Reserved states (4, 5), PARTIALLY_PRESENT in a non-differencing image, a
 * block past the end of the file and a range past the disk are errors.
 */
int ib_expected_read(const struct ib_image *img, uint64_t voff, uint64_t len, void *buf);

/*
 * Lays a log entry at log_head (wrapping), with log_entry_encode: header
 * LogGuid = header.log_guid, FlushedFileOffset = LastFileOffset = len, the
 * given sequence number and tail, the descriptors with their SequenceNumber
 * set to seq, one payload page (4096 bytes) per data descriptor in order.
 * Advances log_head past the entry. *entry_offset (may be NULL) receives
 * where the entry starts in the log.
 */
int ib_add_log_entry(struct ib_image *img, uint64_t seq, uint32_t tail,
                     const struct log_descriptor *descs, size_t n,
                     const uint8_t *const *payloads, uint32_t *entry_offset);

/* Sets header.log_guid and re-encodes the current header (slot 2) only. */
int ib_set_log_guid(struct ib_image *img, const struct guid *log_guid);

#endif
