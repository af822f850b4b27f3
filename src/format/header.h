/*
 * The VHDX header (VHDX-FORMAT.md §3): 4 KiB structures at 64 KiB and
 * 128 KiB, each in its own 64 KiB slot.
 */
#ifndef VHDX_FORMAT_HEADER_H
#define VHDX_FORMAT_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"

#define HEADER_SIZE 4096u
#define HEADER_SLOT_SIZE 65536u
#define HEADER_CHECKSUM_OFFSET 4u
#define HEADER_FIELDS_SIZE 80u

struct header {
    uint64_t sequence_number;
    struct guid file_write_guid;
    struct guid data_write_guid;
    struct guid log_guid;
    uint16_t log_version;
    uint16_t version;
    uint32_t log_length;
    uint64_t log_offset;
};

/*
 * Decodes the 4096 bytes at buf (len >= 4096). Fails on a short buffer,
 * a wrong signature or a wrong checksum: such a header is not "valid" in
 * the sense of §3.2. Warns when reserved bytes are not zero.
 */
MUST_USE vhdx_status header_decode(const uint8_t *buf, size_t len, struct header *out,
                                   struct diag_sink *d);

/*
 * Checks the field rules of §3.1/§3.2 on a decoded header. file_size is the
 * size of the file, or 0 when unknown (then the log-past-EOF rule is not
 * checked). Reports every violation; returns the first error's status.
 */
MUST_USE vhdx_status header_validate(const struct header *h, uint64_t file_size,
                                     struct diag_sink *d);

/* Encodes into buf[0, 4096) with zero reserved bytes and a fresh checksum. */
MUST_USE vhdx_status header_encode(const struct header *h, uint8_t *buf, size_t len);

#endif
