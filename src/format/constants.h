/*
 * Constants of the VHDX format (VHDX-FORMAT.md; [MS-VHDX] rev 8.0).
 * GUIDs are given as their on-disk bytes, signatures as their ASCII bytes.
 */
#ifndef VHDX_FORMAT_CONSTANTS_H
#define VHDX_FORMAT_CONSTANTS_H

#include <stdint.h>

#include "base/guid.h"

#define VHDX_KiB 1024ull
#define VHDX_MiB (1024ull * 1024ull)
#define VHDX_GiB (1024ull * VHDX_MiB)
#define VHDX_TiB (1024ull * VHDX_GiB)

/* §1.2: the fixed 1 MiB header section. */
#define VHDX_HEADER_SECTION_SIZE VHDX_MiB
#define VHDX_FILE_IDENTIFIER_OFFSET 0ull
#define VHDX_HEADER1_OFFSET (64ull * VHDX_KiB)
#define VHDX_HEADER2_OFFSET (128ull * VHDX_KiB)
#define VHDX_REGION_TABLE1_OFFSET (192ull * VHDX_KiB)
#define VHDX_REGION_TABLE2_OFFSET (256ull * VHDX_KiB)

/* §1.1: every object after the header section is 1 MiB aligned. */
#define VHDX_OBJECT_ALIGNMENT VHDX_MiB

/* §5.4.2: largest virtual disk. */
#define VHDX_MAX_VIRTUAL_DISK_SIZE (64ull * VHDX_TiB)

/* §5.4.1: block size range. */
#define VHDX_MIN_BLOCK_SIZE VHDX_MiB
#define VHDX_MAX_BLOCK_SIZE (256ull * VHDX_MiB)

/* §6.1: a sector bitmap block is 1 MiB = 2^23 bits. */
#define VHDX_SECTOR_BITMAP_BLOCK_SIZE VHDX_MiB
#define VHDX_SECTORS_PER_BITMAP_BLOCK (1ull << 23)

/* §8: log sector size. */
#define VHDX_LOG_SECTOR_SIZE 4096u

/* Signatures (§0.3), as the ASCII bytes. */
#define VHDX_SIG_FILE "vhdxfile"
#define VHDX_SIG_HEADER "head"
#define VHDX_SIG_REGION "regi"
#define VHDX_SIG_METADATA "metadata"
#define VHDX_SIG_LOG_ENTRY "loge"
#define VHDX_SIG_ZERO "zero"
#define VHDX_SIG_DESC "desc"
#define VHDX_SIG_DATA "data"

/* §4.3 known regions. */
extern const struct guid VHDX_GUID_REGION_BAT;
extern const struct guid VHDX_GUID_REGION_METADATA;

/* §5.4 known metadata items. */
extern const struct guid VHDX_GUID_FILE_PARAMETERS;
extern const struct guid VHDX_GUID_VIRTUAL_DISK_SIZE;
extern const struct guid VHDX_GUID_VIRTUAL_DISK_ID;
extern const struct guid VHDX_GUID_LOGICAL_SECTOR_SIZE;
extern const struct guid VHDX_GUID_PHYSICAL_SECTOR_SIZE;
extern const struct guid VHDX_GUID_PARENT_LOCATOR;

/* Items outside [MS-VHDX] that openvmm knows (§5.4, §11.2 item 22). */
extern const struct guid VHDX_GUID_CHS_PARAMETERS;
extern const struct guid VHDX_GUID_INCOMPLETE_FILE;
extern const struct guid VHDX_GUID_PMEM_LABEL_STORAGE;

/* §5.4.6: the only parent locator type [MS-VHDX] defines. */
extern const struct guid VHDX_GUID_LOCATOR_TYPE_VHDX;

#endif
