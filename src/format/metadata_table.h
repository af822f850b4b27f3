/*
 * The metadata table (VHDX-FORMAT.md §5.1-§5.4): the first 64 KiB of the
 * metadata region, a 32-byte header followed by up to 2047 32-byte entries
 * that locate the metadata items inside the region.
 *
 * Decode checks the layout (size, signature, entry count, reserved fields
 * and flag bits). Validate checks every rule that needs the region length
 * or looks at more than one entry: item bounds, overlaps, uniqueness, the
 * user-item limit, unknown required items, and the per-item rules of the
 * six known items of §5.4 (IsRequired set, IsVirtualDisk as the table
 * says, exact lengths 8/8/16/4/4, the five mandatory items present). The
 * values inside the items are checked by metadata_items and parent_locator.
 */
#ifndef VHDX_FORMAT_METADATA_TABLE_H
#define VHDX_FORMAT_METADATA_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define METADATA_TABLE_SIZE 65536u
#define METADATA_TABLE_HEADER_SIZE 32u
#define METADATA_TABLE_ENTRY_SIZE 32u
/* 32 + 2047 * 32 = 65536: the table is exactly full. */
#define METADATA_TABLE_MAX_ENTRIES 2047u
#define METADATA_TABLE_MAX_USER_ENTRIES 1024u
/* Items live after the table: Offset >= 64 KiB (unless the item is empty). */
#define METADATA_ITEM_MIN_OFFSET 65536u
#define METADATA_ITEM_MAX_LENGTH (1u << 20)

#define METADATA_FLAG_IS_USER 0x1u
#define METADATA_FLAG_IS_VIRTUAL_DISK 0x2u
#define METADATA_FLAG_IS_REQUIRED 0x4u
#define METADATA_FLAGS_RESERVED 0xFFFFFFF8u

struct metadata_entry {
    struct guid item_id;
    uint32_t offset; /* from the start of the metadata region */
    uint32_t length;
    bool is_user;
    bool is_virtual_disk;
    bool is_required;
};

/*
 * Everything a valid table holds. Flag bits 3-31 and every Reserved field
 * must be zero for decode to succeed, so these fields re-encode a decoded
 * table byte for byte, except bytes past the last entry (see decode).
 */
struct metadata_table {
    uint16_t entry_count;
    struct metadata_entry entries[METADATA_TABLE_MAX_ENTRIES];
};

/*
 * Decodes the 64 KiB table at buf (len >= 65536; bytes past 64 KiB are not
 * looked at). Errors: short buffer, wrong signature, EntryCount > 2047, and
 * non-zero Reserved/Reserved2 fields or entry flag bits 3-31 (all MUST be
 * 0; every such field is reported before returning). Bytes past the last
 * entry are not defined by the format: non-zero ones give one info finding
 * (Hyper-V leaves stale entries there) and are not kept.
 * entries[entry_count..] are zero.
 */
MUST_USE vhdx_status metadata_table_decode(const uint8_t *buf, size_t len,
                                           struct metadata_table *out, struct diag_sink *d);

/*
 * Checks the rules of §5.3 and §5.4 against a metadata region of
 * region_length bytes. Reports every violation; returns the first error's
 * status. Unknown required system items give VHDX_E_UNSUPPORTED (the file
 * must not be loaded); the openvmm incomplete-file marker is an error of its
 * own. Uses about 4 KiB of stack for sorting, no heap.
 */
MUST_USE vhdx_status metadata_table_validate(const struct metadata_table *t,
                                             uint64_t region_length, struct diag_sink *d);

/*
 * §5.4: the parent locator item must be present if and only if the File
 * Parameters flag HasParent is set. has_parent comes from the decoded
 * file_parameters item.
 */
MUST_USE vhdx_status metadata_table_check_parent_locator(const struct metadata_table *t,
                                                         bool has_parent, struct diag_sink *d);

/* The first entry with this (ItemId, IsUser), or NULL. */
const struct metadata_entry *metadata_table_find(const struct metadata_table *t,
                                                 const struct guid *item_id, bool is_user);

/*
 * Encodes into buf[0, 65536): header, entries, zeros after them.
 * VHDX_E_TRUNCATED when len < 65536, VHDX_E_INVALID_ARG when
 * entry_count > 2047.
 */
MUST_USE vhdx_status metadata_table_encode(const struct metadata_table *t, uint8_t *buf,
                                           size_t len);

#endif
