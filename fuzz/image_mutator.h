/*
 * Structure-aware mutation of whole images, shared by the fuzz_image_struct
 * harness and tests/test_struct_mutator.c.
 *
 * A small fixed set of valid base images is built once (lazily, kept in
 * static storage) with tests/image_builder and tests/dirty_images. A list of
 * mutation records then changes named fields of named structures of one
 * base, and every checksum is recomputed afterwards, so that a checked
 * build (checksums enforced) gets past every CRC and reaches the rules
 * behind it. Only a record that changes a checksum field itself leaves that
 * checksum wrong (by the bits it changed).
 *
 * Each base keeps a pristine copy and a working copy; a mutation marks the
 * 4 KiB pages it writes, and im_restore copies back only those, so an input
 * costs what it touches, not the size of the image.
 *
 * Record (IM_RECORD_SIZE bytes; a short last record is zero-padded):
 *   u8  target   which structure (enum im_target), taken mod IM_T_COUNT
 *   u8  field    which field of it (the target's enum below), mod its count
 *   u16 index    which instance (LE): header/region table copy, entry,
 *                BAT block, log entry, ... (see enum im_target), wrapping
 *   u8  op       enum im_op, mod IM_OP_COUNT
 *   u64 value    the operand (LE)
 * Field offsets are those of the src/format headers and VHDX-FORMAT.md; every
 * location is the base image's (a record that moves the BAT does not move
 * what a later BAT record changes).
 */
#ifndef VHDX_FUZZ_IMAGE_MUTATOR_H
#define VHDX_FUZZ_IMAGE_MUTATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_builder.h"
#include "vhdx.h"

#define IM_RECORD_SIZE 13u
/* Records past this many are ignored: they bound the work per input. */
#define IM_MAX_RECORDS 64u
/* The working copy can grow the file by this much (file-length records). */
#define IM_SLACK (2u << 20)

enum im_base_id {
    IM_BASE_DYNAMIC,     /* 8 MiB, 1 MiB blocks, 512-byte sectors: 2 blocks, a ZERO block */
    IM_BASE_FIXED,       /* 4 MiB fixed, openvmm layout (metadata before the BAT) */
    IM_BASE_DYNAMIC_4K,  /* 4096-byte sectors, 2 MiB blocks, a partial last block */
    IM_BASE_DIFF,        /* differencing, PARTIALLY_PRESENT blocks; opened NO_PARENT */
    IM_BASE_DIFF_PARENT, /* the same child opened with its parent (in memory) */
    IM_BASE_DIRTY_ONE,   /* dirty log: one entry (dirty_images shape one-entry) */
    IM_BASE_DIRTY_MULTI, /* three entries */
    IM_BASE_DIRTY_WRAP,  /* one entry wrapping around the end of the log */
    IM_BASE_DIRTY_ZERO,  /* zero and data descriptors mixed */
    IM_BASE_COUNT
};

enum im_target {
    IM_T_FILE,             /* the file: its length */
    IM_T_IDENTIFIER,       /* §2 */
    IM_T_CREATOR,          /* §2: creator code unit, index mod 256 */
    IM_T_HEADER,           /* §3: index mod 3: header 1, header 2, both */
    IM_T_REGION_TABLE,     /* §4.1: index mod 3: copy 1, copy 2, both */
    IM_T_REGION_ENTRY,     /* §4.2: copy index mod 3, entry (index / 3) mod 16 */
    IM_T_METADATA_TABLE,   /* §5.2 */
    IM_T_METADATA_ENTRY,   /* §5.3: entry index mod 16 */
    IM_T_FILE_PARAMETERS,  /* §5.4.1 */
    IM_T_VIRTUAL_DISK_SIZE,
    IM_T_VIRTUAL_DISK_ID,  /* the v1.00 "page 83 data" */
    IM_T_LOGICAL_SECTOR_SIZE,
    IM_T_PHYSICAL_SECTOR_SIZE,
    IM_T_LOCATOR,          /* §5.4.6 header (differencing bases only) */
    IM_T_LOCATOR_ENTRY,    /* entry index mod 8 */
    IM_T_LOCATOR_KEY,      /* code unit (index / 8) of entry index mod 8's key */
    IM_T_LOCATOR_VALUE,    /* ... of its value */
    IM_T_BAT_PAYLOAD,      /* §7: payload entry of block index mod blocks */
    IM_T_BAT_SB,           /* sector bitmap entry of chunk index mod chunks */
    IM_T_BAT_SLOT,         /* any slot of the BAT region (padding too) */
    IM_T_SECTOR_BITMAP,    /* §6.2: byte index of the first present SB block's used part */
    IM_T_LOG_ENTRY,        /* §8.3: entry index mod entries of the base's log */
    IM_T_LOG_DESCRIPTOR,   /* §8.4/§8.5: entry index mod 16, descriptor index / 16 */
    IM_T_LOG_DATA,         /* §8.6: entry index mod 16, data sector (index / 16) mod 16,
                              data word index / 256 */
    IM_T_COUNT
};

enum im_op {
    IM_OP_SET,        /* the value's low bytes (GUIDs: the 8 value bytes twice) */
    IM_OP_ADD,        /* += (int8)value * {1, 512, 4096, 1 MiB}[(value >> 8) & 3] */
    IM_OP_XOR_BIT,    /* flips bit value mod the field's width */
    IM_OP_BOUNDARY,   /* a boundary value (im_boundary), value mod their count */
    IM_OP_COPY,       /* the whole instance from instance (u16)value of the same target */
    IM_OP_SWAP,       /* swaps the instance with instance (u16)value */
    IM_OP_COPY_FIELD, /* the field from the same field of instance (u16)value */
    IM_OP_COUNT
};

/* Fields, per target (values of the record's field byte). */
enum { IM_FILE_LENGTH };
enum { IM_IDENT_SIGNATURE, IM_IDENT_CREATOR0, IM_IDENT_RESERVED };
enum {
    IM_HEADER_SIGNATURE, IM_HEADER_CHECKSUM, IM_HEADER_SEQUENCE, IM_HEADER_FILE_WRITE_GUID,
    IM_HEADER_DATA_WRITE_GUID, IM_HEADER_LOG_GUID, IM_HEADER_LOG_VERSION, IM_HEADER_VERSION,
    IM_HEADER_LOG_LENGTH, IM_HEADER_LOG_OFFSET, IM_HEADER_RESERVED
};
enum { IM_RT_SIGNATURE, IM_RT_CHECKSUM, IM_RT_ENTRY_COUNT, IM_RT_RESERVED };
enum { IM_RE_GUID, IM_RE_FILE_OFFSET, IM_RE_LENGTH, IM_RE_REQUIRED };
enum { IM_MT_SIGNATURE, IM_MT_RESERVED, IM_MT_ENTRY_COUNT, IM_MT_RESERVED2 };
enum {
    IM_ME_ITEM_ID, IM_ME_OFFSET, IM_ME_LENGTH, IM_ME_FLAGS, IM_ME_RESERVED2, IM_ME_IS_USER,
    IM_ME_IS_VIRTUAL_DISK, IM_ME_IS_REQUIRED
};
enum { IM_FP_BLOCK_SIZE, IM_FP_FLAGS, IM_FP_LEAVE_BLOCKS_ALLOCATED, IM_FP_HAS_PARENT };
enum { IM_ITEM_VALUE }; /* virtual disk size, id, logical and physical sector size */
enum { IM_PL_TYPE, IM_PL_RESERVED, IM_PL_COUNT };
enum { IM_PLE_KEY_OFFSET, IM_PLE_VALUE_OFFSET, IM_PLE_KEY_LENGTH, IM_PLE_VALUE_LENGTH };
enum { IM_STR_UNIT };
enum { IM_BAT_RAW, IM_BAT_STATE, IM_BAT_RESERVED, IM_BAT_OFFSET_MB };
enum { IM_SB_BYTE, IM_SB_WORD };
enum {
    IM_LE_SIGNATURE, IM_LE_CHECKSUM, IM_LE_ENTRY_LENGTH, IM_LE_TAIL, IM_LE_SEQUENCE,
    IM_LE_DESCRIPTOR_COUNT, IM_LE_RESERVED, IM_LE_LOG_GUID, IM_LE_FLUSHED_OFFSET,
    IM_LE_LAST_OFFSET
};
/* Zero descriptors have Reserved / ZeroLength where data descriptors have Trailing / Leading. */
enum { IM_LD_SIGNATURE, IM_LD_TRAILING, IM_LD_LEADING, IM_LD_FILE_OFFSET, IM_LD_SEQUENCE };
enum { IM_DS_SIGNATURE, IM_DS_SEQUENCE_HIGH, IM_DS_SEQUENCE_LOW, IM_DS_DATA_WORD };

/* One mutated image, ready to open from memory. */
struct im_file {
    int base;
    const uint8_t *data; /* the working copy: valid until im_restore */
    size_t len;
    unsigned flags;                  /* open flags the base is meant for */
    vhdx_parent_opener open_parent;  /* NULL, or the in-memory parent's opener */
    void *open_parent_ctx;
};

const char *im_base_name(int base);

/* The pristine base image (built on first use), or NULL when it cannot be built. */
const struct ib_image *im_base_image(int base);

/*
 * Applies the records (at most IM_MAX_RECORDS) to base's working copy,
 * recomputes every checksum and fills *out. Returns 0, or -1 when the base
 * cannot be built. Call im_restore before the next im_apply on this base.
 */
int im_apply(int base, const uint8_t *records, size_t len, struct im_file *out);

/* Undoes every change of the last im_apply on base. */
void im_restore(int base);

/* True when base's working copy equals the pristine image (for tests). */
bool im_is_pristine(int base);

/* Sets o->flags, o->open_parent and o->open_parent_ctx as the file's base wants. */
void im_open_options(const struct im_file *f, vhdx_open_options *o);

/* Encodes one record into out[0, IM_RECORD_SIZE); returns IM_RECORD_SIZE. */
size_t im_record(uint8_t *out, unsigned target, unsigned field, unsigned index, unsigned op,
                 uint64_t value);

/* The number of boundary values IM_OP_BOUNDARY chooses among, and their names. */
enum {
    IM_B_ZERO, IM_B_ONE, IM_B_MAX, IM_B_MAX_MINUS_1, IM_B_TOP_BIT, IM_B_2, IM_B_3, IM_B_4,
    IM_B_5, IM_B_7, IM_B_126, IM_B_127, IM_B_128, IM_B_256, IM_B_257, IM_B_512, IM_B_1024,
    IM_B_1025, IM_B_2047, IM_B_2048, IM_B_4096, IM_B_65535,
    /* Byte values, converted to the field's unit (MiB for FileOffsetMB): */
    IM_B_FILE_SIZE, IM_B_FILE_SIZE_M1, IM_B_FILE_SIZE_P1, IM_B_FILE_SIZE_M1MIB,
    IM_B_FILE_SIZE_P1MIB, IM_B_1MIB, IM_B_1MIB_M1, IM_B_1MIB_P1, IM_B_64KIB, IM_B_192KIB,
    IM_B_BLOCK_SIZE, IM_B_BLOCK_SIZE_X2, IM_B_LOG_OFFSET, IM_B_LOG_LENGTH, IM_B_LOG_END,
    IM_B_BAT_OFFSET, IM_B_METADATA_OFFSET, IM_B_PAYLOAD_START, IM_B_VIRTUAL_SIZE,
    IM_B_VIRTUAL_SIZE_P_SECTOR, IM_B_VIRTUAL_SIZE_M1, IM_B_64TIB, IM_B_64TIB_P_SECTOR,
    IM_B_256MIB, IM_B_512MIB, IM_B_MAX_LOG, IM_B_4GIB,
    IM_B_COUNT
};

/* Frees every base (for leak-checked tests); they are rebuilt on next use. */
void im_free_all(void);

#endif
