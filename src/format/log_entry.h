/*
 * Log entries (VHDX-FORMAT.md §8.2-§8.7.2, CRC per §9): the 64-byte entry
 * header, the 32-byte zero and data descriptors, the 4 KiB data sector, and
 * whole-entry validation and encoding over a circular log held in memory.
 *
 * An entry is a run of 4 KiB sectors starting on a 4 KiB boundary of the
 * log: DescriptorSectors descriptor sectors (the first begins with the
 * header and holds 126 descriptors, each further one holds 128), then one
 * data sector per data descriptor, in descriptor order. Sector k of the
 * entry at offset p lives at (p + k * 4096) mod LogLength: entries wrap
 * around the end of the log.
 *
 * Pure codecs: no I/O, no allocation. Offsets in diagnostics are relative
 * to the buffer given (for log_entry_check: to the start of the log), and
 * the sink adds its base.
 */
#ifndef VHDX_FORMAT_LOG_ENTRY_H
#define VHDX_FORMAT_LOG_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define LOG_SECTOR 4096u
#define LOG_ENTRY_HEADER_SIZE 64u
#define LOG_ENTRY_CHECKSUM_OFFSET 4u
#define LOG_DESCRIPTOR_SIZE 32u
/* (4096 - 64) / 32 descriptors share the first sector with the header. */
#define LOG_DESCRIPTORS_FIRST_SECTOR 126u
#define LOG_DESCRIPTORS_PER_SECTOR 128u
#define LOG_DATA_SECTOR_DATA_OFFSET 8u
#define LOG_DATA_SECTOR_DATA_SIZE 4084u
#define LOG_DATA_SECTOR_LOW_OFFSET 4092u
/* §8.7.2 [O]: replay never writes the file identifier or the headers. */
#define LOG_DESCRIPTOR_MIN_TARGET (192ull * 1024ull)

/* §8.3. The checksum is kept as read: it covers the whole entry, not these 64 bytes. */
struct log_entry_header {
    uint32_t checksum;
    uint32_t entry_length;
    uint32_t tail;
    uint32_t descriptor_count;
    uint64_t sequence_number;
    uint32_t reserved;
    struct guid log_guid;
    uint64_t flushed_file_offset;
    uint64_t last_file_offset;
};

enum log_descriptor_kind {
    LOG_DESCRIPTOR_ZERO = 1, /* 'zero' (§8.4) */
    LOG_DESCRIPTOR_DATA = 2  /* 'desc' (§8.5) */
};

/*
 * §8.4 / §8.5 in one host struct. Fields that the kind does not have are 0
 * after decoding and are not written by encoding: trailing_bytes and
 * leading_bytes belong to data descriptors, reserved and zero_length to
 * zero descriptors.
 */
struct log_descriptor {
    enum log_descriptor_kind kind;
    uint32_t trailing_bytes;
    uint64_t leading_bytes;
    uint32_t reserved;
    uint64_t zero_length;
    uint64_t file_offset;
    uint64_t sequence_number;
};

/* §8.6. data holds the sector's bytes 8..4091 (the payload's same bytes). */
struct log_data_sector {
    uint32_t sequence_high;
    uint32_t sequence_low;
    uint8_t data[LOG_DATA_SECTOR_DATA_SIZE];
};

/*
 * What log_entry_check learnt about an entry. Complete only when the check
 * returned VHDX_OK; after a failure the header is filled once it decoded.
 */
struct log_entry_view {
    struct log_entry_header header;
    uint32_t log_length;
    uint32_t entry_offset;
    uint32_t descriptor_sectors; /* Ceil((DescriptorCount + 2) / 128) */
    uint32_t data_count;         /* number of data descriptors = data sectors */
    uint32_t computed_checksum;  /* CRC-32C of the entry with the checksum field as zero */
};

/* ---- Entry header (§8.3) ---- */

/*
 * Decodes the 64-byte header at buf (len >= 64). Fails on a short buffer or
 * a signature other than 'loge'. The checksum is stored, not verified.
 */
MUST_USE vhdx_status log_entry_header_decode(const uint8_t *buf, size_t len,
                                             struct log_entry_header *out, struct diag_sink *d);

/*
 * The field rules of §8.7.2 item 2 and the LogGuid rule of item 1.
 * log_length is the log's length, or 0 when unknown (the EntryLength and
 * Tail range rules are then skipped); log_guid is the image header's
 * LogGuid, or NULL when unknown. Reports every violation; returns the first
 * error's status. FlushedFileOffset / LastFileOffset not on 1 MiB are only
 * warnings (QEMU writes such values, §11.2 item 14).
 */
MUST_USE vhdx_status log_entry_header_validate(const struct log_entry_header *h,
                                               uint32_t log_length, const struct guid *log_guid,
                                               struct diag_sink *d);

/* Writes the 64 bytes, every field as given (checksum and Reserved included). */
MUST_USE vhdx_status log_entry_header_encode(const struct log_entry_header *h, uint8_t *buf,
                                             size_t len);

/* Field-by-field equality (host structs have padding, so memcmp is only safe after memset). */
bool log_entry_header_equal(const struct log_entry_header *a, const struct log_entry_header *b);

/* ---- Zero and data descriptors (§8.4, §8.5) ---- */

/* Decodes 32 bytes; the signature must be 'zero' or 'desc'. */
MUST_USE vhdx_status log_descriptor_decode(const uint8_t *buf, size_t len,
                                           struct log_descriptor *out, struct diag_sink *d);

/*
 * The descriptor rules of §8.7.2 item 3. entry_sequence is the entry
 * header's SequenceNumber; [log_offset, log_offset + log_length) is the log
 * region in the file, which no target may overlap (log_length 0: unknown,
 * not checked). VHDX_E_INVALID_ARG for an unknown kind.
 */
MUST_USE vhdx_status log_descriptor_validate(const struct log_descriptor *desc,
                                             uint64_t entry_sequence, uint64_t log_offset,
                                             uint32_t log_length, struct diag_sink *d);

/* Field-by-field equality of every field of the struct. */
bool log_descriptor_equal(const struct log_descriptor *a, const struct log_descriptor *b);

/* Writes 32 bytes for the descriptor's kind; VHDX_E_INVALID_ARG for an unknown kind. */
MUST_USE vhdx_status log_descriptor_encode(const struct log_descriptor *desc, uint8_t *buf,
                                           size_t len);

/* ---- Data sector (§8.6) ---- */

/* Decodes 4096 bytes; the signature must be 'data'. */
MUST_USE vhdx_status log_data_sector_decode(const uint8_t *buf, size_t len,
                                            struct log_data_sector *out, struct diag_sink *d);

/* SequenceHigh:SequenceLow must equal the entry's SequenceNumber. */
MUST_USE vhdx_status log_data_sector_validate(const struct log_data_sector *s,
                                              uint64_t entry_sequence, struct diag_sink *d);

MUST_USE vhdx_status log_data_sector_encode(const struct log_data_sector *s, uint8_t *buf,
                                            size_t len);

/*
 * The 4 KiB page a data descriptor writes on replay: bytes 0-7 are
 * LeadingBytes (LE), 8-4091 come from the sector, 4092-4095 are
 * TrailingBytes (LE). The sector's signature and sequence are not looked at.
 */
void log_data_sector_rebuild(const struct log_descriptor *desc, const uint8_t sector[4096],
                             uint8_t out[4096]);

/*
 * The inverse: builds the data sector for `payload` in an entry with
 * sequence number seq, and stores the payload's bytes 0-7 and 4092-4095 in
 * desc_inout's leading_bytes / trailing_bytes (nothing else is changed).
 */
void log_data_sector_make(const uint8_t payload[4096], uint64_t seq, uint8_t sector_out[4096],
                          struct log_descriptor *desc_inout);

/* ---- Whole entries in a circular log ---- */

/* Ceil((n + 2) / 128): the descriptor sectors of an entry with n descriptors (>= 1). */
uint64_t log_entry_descriptor_sectors(uint64_t n);

/*
 * The log offset of sector k of the entry at entry_offset, wrapping:
 * (entry_offset + k * 4096) mod log_length (log_length not 0; k below
 * log_length / 4096, so nothing overflows).
 */
uint64_t log_entry_sector_offset(uint32_t log_length, uint32_t entry_offset, uint64_t k);

/*
 * The log offset of descriptor i of the entry at entry_offset: in sector 0
 * after the header for i < 126, else in sector 1 + (i - 126) / 128. The
 * descriptor's 32 bytes lie inside that sector.
 */
uint64_t log_entry_descriptor_offset(uint32_t log_length, uint32_t entry_offset, uint64_t i);

/*
 * 4096 * (Ceil((n_desc + 2) / 128) + n_data): the EntryLength of an entry
 * with n_desc descriptors of which n_data are data descriptors. 0 when it
 * does not fit in a size_t.
 */
size_t log_entry_length_for(size_t n_desc, size_t n_data);

/*
 * Checks the entry at entry_offset of the log held in log[0, log_length):
 * every rule of §8.7.2 items 1-6 (header, LogGuid, each descriptor with its
 * targets against the log region [log_file_offset, + log_length), exact
 * EntryLength, each data sector, the CRC-32C over the entry in ring order).
 * log_length must be a non-zero multiple of 4096 and entry_offset a
 * multiple of 4096 below it (else VHDX_E_INVALID_ARG, no finding).
 * log_guid may be NULL (not compared). Reads only inside the log, never
 * allocates; work is bounded by log_length. Fills *out (may be NULL).
 */
MUST_USE vhdx_status log_entry_check(const uint8_t *log, uint32_t log_length,
                                     uint32_t entry_offset, const struct guid *log_guid,
                                     uint64_t log_file_offset, struct log_entry_view *out,
                                     struct diag_sink *d);

/*
 * Where the sectors of an entry come from, for logs that are not held in
 * memory: sector(ctx, log_offset) gives the 4096 bytes at that log offset
 * (a multiple of 4096 below the log length), valid until the next call, or
 * NULL when they cannot be read.
 */
struct log_sector_source {
    const uint8_t *(*sector)(void *ctx, uint32_t log_offset);
    void *ctx;
};

/* log_entry_check_source flag: return at the first failure, reporting only it. */
#define LOG_CHECK_FIRST_FAILURE 1u

/*
 * log_entry_check over a sector source, in one pass over the entry's
 * sectors in ring order, one sector at a time (no buffer, no allocation).
 * VHDX_E_IO, with no finding, when the source fails. With
 * LOG_CHECK_FIRST_FAILURE it stops at the first failing rule: it then never
 * reads a sector past one that breaks the entry, which keeps a search over
 * a hostile log linear.
 */
MUST_USE vhdx_status log_entry_check_source(const struct log_sector_source *src,
                                            uint32_t log_length, uint32_t entry_offset,
                                            const struct guid *log_guid,
                                            uint64_t log_file_offset, unsigned flags,
                                            struct log_entry_view *out, struct diag_sink *d);

/* Decodes descriptor i (< DescriptorCount) of a checked entry. */
MUST_USE vhdx_status log_entry_descriptor(const struct log_entry_view *view, const uint8_t *log,
                                          uint32_t i, struct log_descriptor *out);

/* The j-th data sector (j < data_count) of a checked entry inside the ring, or NULL. */
const uint8_t *log_entry_data_sector(const struct log_entry_view *view, const uint8_t *log,
                                     uint32_t j);

/*
 * Lays an entry into the ring at entry_offset (wrapping): the header from
 * hdr_in with DescriptorCount and EntryLength computed, the n descriptors as
 * given (their SequenceNumber too) with the unused slots zeroed, one data
 * sector per data descriptor built from the next page of `payloads` (each
 * 4096 bytes; the descriptor's LeadingBytes/TrailingBytes come from it) and
 * the sequence number of hdr_in, and the checksum last. Nothing else is
 * checked, so tests can write broken entries. The payloads must not lie in
 * the entry's sectors.
 * VHDX_E_INVALID_ARG: bad log geometry, unknown kind or missing payload;
 * VHDX_E_RANGE: the entry would not be shorter than the log.
 */
MUST_USE vhdx_status log_entry_encode(const struct log_entry_header *hdr_in,
                                      const struct log_descriptor *descs, size_t n,
                                      const uint8_t *const *payloads, uint8_t *log,
                                      uint32_t log_length, uint32_t entry_offset);

#endif
