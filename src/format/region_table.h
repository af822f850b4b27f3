/*
 * The region table (VHDX-FORMAT.md §4): two 64 KiB copies at 192 KiB and
 * 256 KiB, each a 16-byte header and up to 2047 32-byte entries.
 */
#ifndef VHDX_FORMAT_REGION_TABLE_H
#define VHDX_FORMAT_REGION_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define REGION_TABLE_SIZE 65536u
#define REGION_TABLE_HEADER_SIZE 16u
#define REGION_TABLE_ENTRY_SIZE 32u
#define REGION_TABLE_MAX_ENTRIES 2047u
#define REGION_TABLE_CHECKSUM_OFFSET 4u

struct region_entry {
    struct guid guid;
    uint64_t file_offset;
    uint32_t length;
    uint32_t required; /* the raw field: bit 0 is the flag, bits 1-31 reserved */
};

struct region_table {
    uint32_t entry_count;
    uint32_t reserved;
    struct region_entry entries[REGION_TABLE_MAX_ENTRIES];
};

/* What the table is checked against; zero fields mean "unknown, not checked". */
struct region_table_context {
    uint64_t file_size;
    uint64_t log_offset;
    uint32_t log_length;
};

/*
 * Decodes a 64 KiB table: length, signature, checksum (over all 65536
 * bytes), entry count and the header's reserved field. Entries are decoded
 * as they are; their rules are checked by region_table_validate.
 */
MUST_USE vhdx_status region_table_decode(const uint8_t *buf, size_t len, struct region_table *out,
                                         struct diag_sink *d);

/*
 * Every rule of §4.2/§4.4: alignment, ranges, overflow, reserved bits, unique
 * GUIDs, unknown required regions, BAT and metadata present exactly once, no
 * overlap between regions, with the log or the header section, and (when the
 * file size is known) nothing past the end of the file.
 */
MUST_USE vhdx_status region_table_validate(const struct region_table *t,
                                           const struct region_table_context *ctx,
                                           struct diag_sink *d);

/* Encodes 64 KiB: header, entries, zero padding, checksum. */
MUST_USE vhdx_status region_table_encode(const struct region_table *t, uint8_t *buf, size_t len);

/* The entry with this GUID, or NULL. */
const struct region_entry *region_table_find(const struct region_table *t, const struct guid *g);

/* True when both tables hold the same entries in the same order. */
bool region_table_equal(const struct region_table *a, const struct region_table *b);

/* True for the two region GUIDs this implementation understands (BAT, metadata). */
bool region_guid_is_known(const struct guid *g);

#endif
