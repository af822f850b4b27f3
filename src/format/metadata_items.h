/*
 * The five fixed-size metadata items of VHDX-FORMAT.md §5.4.1-§5.4.5:
 * File Parameters, Virtual Disk Size, Virtual Disk ID, Logical Sector Size
 * and Physical Sector Size. (The variable-size Parent Locator of §5.4.6 is
 * format/parent_locator.)
 *
 * Each decoder takes exactly the item's bytes, as the metadata table
 * locates them: a length other than the item's size is an error here too
 * (the table's validator reports it as metadata_table.entry.known.length).
 * Whether the item's entry has the right flags is metadata_table's job.
 */
#ifndef VHDX_FORMAT_METADATA_ITEMS_H
#define VHDX_FORMAT_METADATA_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define FILE_PARAMETERS_SIZE 8u
#define VIRTUAL_DISK_SIZE_ITEM_SIZE 8u
#define VIRTUAL_DISK_ID_SIZE 16u
#define LOGICAL_SECTOR_SIZE_ITEM_SIZE 4u
#define PHYSICAL_SECTOR_SIZE_ITEM_SIZE 4u

#define FILE_PARAMETERS_FLAG_LEAVE_BLOCKS_ALLOCATED 0x1u
#define FILE_PARAMETERS_FLAG_HAS_PARENT 0x2u
#define FILE_PARAMETERS_FLAGS_RESERVED 0xFFFFFFFCu

/* §5.4.1 */
struct file_parameters {
    uint32_t block_size;
    bool leave_blocks_allocated; /* fixed disk; ignored when has_parent */
    bool has_parent;             /* differencing disk */
};

/* §5.4.2 */
struct virtual_disk_size {
    uint64_t size;
};

/* §5.4.3 */
struct virtual_disk_id {
    struct guid id;
};

/* §5.4.4 */
struct logical_sector_size {
    uint32_t size;
};

/* §5.4.5 */
struct physical_sector_size {
    uint32_t size;
};

/*
 * File Parameters: len must be 8. Flag bits 2-31 are reserved and MUST be
 * 0 (openvmm rejects them): an error, so the struct re-encodes exactly.
 */
MUST_USE vhdx_status file_parameters_decode(const uint8_t *buf, size_t len,
                                            struct file_parameters *out, struct diag_sink *d);
/* BlockSize a power of 2 in [1 MiB, 256 MiB]. */
MUST_USE vhdx_status file_parameters_validate(const struct file_parameters *fp,
                                              struct diag_sink *d);
MUST_USE vhdx_status file_parameters_encode(const struct file_parameters *fp, uint8_t *buf,
                                            size_t len);

MUST_USE vhdx_status virtual_disk_size_decode(const uint8_t *buf, size_t len,
                                              struct virtual_disk_size *out,
                                              struct diag_sink *d);
/*
 * Size > 0 (openvmm), <= 64 TiB, and a multiple of logical_sector_size.
 * The multiple rule is checked only when logical_sector_size is 512 or
 * 4096; pass 0 when it is unknown (an invalid one is reported by
 * logical_sector_size_validate).
 */
MUST_USE vhdx_status virtual_disk_size_validate(const struct virtual_disk_size *vds,
                                                uint32_t logical_sector_size,
                                                struct diag_sink *d);
MUST_USE vhdx_status virtual_disk_size_encode(const struct virtual_disk_size *vds, uint8_t *buf,
                                              size_t len);

MUST_USE vhdx_status virtual_disk_id_decode(const uint8_t *buf, size_t len,
                                            struct virtual_disk_id *out, struct diag_sink *d);
/* A nil id is allowed by the format but identifies nothing: a warning. */
MUST_USE vhdx_status virtual_disk_id_validate(const struct virtual_disk_id *vdi,
                                              struct diag_sink *d);
MUST_USE vhdx_status virtual_disk_id_encode(const struct virtual_disk_id *vdi, uint8_t *buf,
                                            size_t len);

MUST_USE vhdx_status logical_sector_size_decode(const uint8_t *buf, size_t len,
                                                struct logical_sector_size *out,
                                                struct diag_sink *d);
/* 512 or 4096. */
MUST_USE vhdx_status logical_sector_size_validate(const struct logical_sector_size *lss,
                                                  struct diag_sink *d);
MUST_USE vhdx_status logical_sector_size_encode(const struct logical_sector_size *lss,
                                                uint8_t *buf, size_t len);

/* The item is 4 bytes ([S], openvmm), though VirtualBox declares 8. */
MUST_USE vhdx_status physical_sector_size_decode(const uint8_t *buf, size_t len,
                                                 struct physical_sector_size *out,
                                                 struct diag_sink *d);
/* 512 or 4096. */
MUST_USE vhdx_status physical_sector_size_validate(const struct physical_sector_size *pss,
                                                   struct diag_sink *d);
MUST_USE vhdx_status physical_sector_size_encode(const struct physical_sector_size *pss,
                                                 uint8_t *buf, size_t len);

#endif
