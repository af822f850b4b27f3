/*
 * The parent locator metadata item (VHDX-FORMAT.md §5.4.6): a 20-byte
 * header (LocatorType, Reserved, KeyValueCount), a table of 12-byte
 * entries at offset 20, then UTF-16LE keys and values that the entries
 * locate by offset from the start of the item.
 *
 * The host struct holds the header and the entry table only. The strings
 * stay in the caller's item buffer: accessors return slices into it, so
 * nothing is copied or allocated. Every function that looks at strings
 * takes that buffer again; it must be the one that was decoded.
 *
 * Decode checks the layout: sizes, Reserved, KeyValueCount (1 .. the
 * limit), and that every key and value lies inside the item, after the
 * entry table, at an even offset with a non-zero even length. After a
 * successful decode every accessor slice is inside the item.
 * Validate checks the text: UTF-16 without U+0000, unique keys, a known
 * locator type, and the keys of the VHDX type.
 */
#ifndef VHDX_FORMAT_PARENT_LOCATOR_H
#define VHDX_FORMAT_PARENT_LOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define PARENT_LOCATOR_HEADER_SIZE 20u
#define PARENT_LOCATOR_ENTRY_SIZE 12u
/* openvmm's bound, and the default of vhdx_limits.max_locator_entries. */
#define PARENT_LOCATOR_MAX_ENTRIES 256u

struct parent_locator_entry {
    uint32_t key_offset; /* bytes from the start of the item */
    uint32_t value_offset;
    uint16_t key_length; /* bytes */
    uint16_t value_length;
};

struct parent_locator {
    struct guid locator_type;
    uint16_t key_value_count;
    struct parent_locator_entry entries[PARENT_LOCATOR_MAX_ENTRIES];
};

/*
 * Decodes the item buf[0, len). max_entries is the caller's limit on
 * KeyValueCount (vhdx_limits.max_locator_entries); 0 means the default
 * 256, and values above 256 are capped at 256, the struct's capacity. A
 * count above it is VHDX_E_LIMIT. Reports every bad entry before
 * returning. entries[key_value_count..] are zero.
 */
MUST_USE vhdx_status parent_locator_decode(const uint8_t *buf, size_t len, uint32_t max_entries,
                                           struct parent_locator *out, struct diag_sink *d);

/*
 * Checks a decoded locator against its item bytes: every key and value is
 * well-formed UTF-16LE without U+0000, keys are unique, the locator type
 * is the VHDX type (others are VHDX_E_UNSUPPORTED) and, for that type:
 * parent_linkage present and GUID text; parent_linkage2 reported (warning)
 * and GUID text; one of relative_path, volume_path, absolute_win32_path;
 * the forms of volume_path and absolute_win32_path. Unknown keys are info.
 * Reports every violation; returns the first error's status.
 */
MUST_USE vhdx_status parent_locator_validate(const struct parent_locator *pl, const uint8_t *buf,
                                             size_t len, struct diag_sink *d);

/*
 * The key or value of entry i as a slice of the item buf[0, len), or NULL
 * (with *out_len = 0) when i >= key_value_count or the slice is not inside
 * the buffer.
 */
const uint8_t *parent_locator_key(const struct parent_locator *pl, const uint8_t *buf, size_t len,
                                  size_t i, size_t *out_len);
const uint8_t *parent_locator_value(const struct parent_locator *pl, const uint8_t *buf,
                                    size_t len, size_t i, size_t *out_len);

/*
 * Looks up the key given in UTF-8 (key_len bytes; keys are compared
 * exactly, case-sensitively) and writes its value as NUL-terminated UTF-8
 * into dst[0, cap). Returns VHDX_E_MISSING when there is no such key,
 * VHDX_E_ENCODING when the stored value is not valid UTF-16 (or the key is
 * not valid UTF-8), VHDX_E_LIMIT when dst is too small, VHDX_E_INVALID_ARG
 * for a key longer than 256 UTF-16 units. The first matching entry wins.
 */
MUST_USE vhdx_status parent_locator_find(const struct parent_locator *pl, const uint8_t *buf,
                                         size_t len, const char *key, size_t key_len, char *dst,
                                         size_t cap, size_t *out_len);

/*
 * Re-encodes a decoded locator: header and entry table from pl, then each
 * key and value copied from src (the item it was decoded from) to the same
 * offset in buf. Bytes no entry covers are zero. buf must hold len bytes,
 * len >= the end of the entry table and of every string; src must hold
 * every string. VHDX_E_TRUNCATED / VHDX_E_INVALID_ARG otherwise.
 */
MUST_USE vhdx_status parent_locator_encode(const struct parent_locator *pl, const uint8_t *src,
                                           size_t src_len, uint8_t *buf, size_t len);

/* A key and its value, NUL-terminated UTF-8. */
struct parent_locator_kv {
    const char *key;
    const char *value;
};

/*
 * Builds a locator item for a writer: the header, count entries, then
 * key 0, value 0, key 1, value 1, ... converted to UTF-16LE and packed
 * right after the entry table. *out_len receives the item's length.
 * VHDX_E_INVALID_ARG for count 0 or > 256 or an empty key or value,
 * VHDX_E_ENCODING for bad UTF-8, VHDX_E_RANGE for a string longer than
 * 65534 bytes in UTF-16, VHDX_E_LIMIT when buf is too small. The pairs
 * are not otherwise checked: validate the result.
 */
MUST_USE vhdx_status parent_locator_build(const struct guid *locator_type,
                                          const struct parent_locator_kv *pairs, size_t count,
                                          uint8_t *buf, size_t cap, size_t *out_len);

#endif
