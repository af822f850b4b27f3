#include "format/header.h"

#include <string.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/cursor.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "header";

vhdx_status header_decode(const uint8_t *buf, size_t len, struct header *out,
                          struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);
    uint32_t stored, computed;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < HEADER_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "header.truncated", STRUCT_NAME, 0,
                          "header needs %u bytes, only %zu available", HEADER_SIZE,
                          buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_HEADER, 4) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "header.signature", STRUCT_NAME, 0,
                          "signature is not 'head'");

    /* §3.1: CRC-32C over all 4096 bytes with the checksum field as zero. */
    stored = le32_load_no_bounds_check(buf + HEADER_CHECKSUM_OFFSET);
    computed = crc32c_with_zero_field(buf, HEADER_SIZE, HEADER_CHECKSUM_OFFSET);
    if (stored != computed && crc32c_enforced())
        return DIAG_ERROR(d, VHDX_E_CHECKSUM, "header.checksum", STRUCT_NAME,
                          HEADER_CHECKSUM_OFFSET, "checksum is 0x%08x, computed 0x%08x", stored,
                          computed);

    (void)rc_skip(&c, 8);
    out->sequence_number = rc_u64(&c);
    (void)rc_bytes(&c, out->file_write_guid.b, 16);
    (void)rc_bytes(&c, out->data_write_guid.b, 16);
    (void)rc_bytes(&c, out->log_guid.b, 16);
    out->log_version = rc_u16(&c);
    out->version = rc_u16(&c);
    out->log_length = rc_u32(&c);
    out->log_offset = rc_u64(&c);
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "header.truncated", STRUCT_NAME, 0,
                          "header fields run past the buffer");

    /* §3.1: reserved bytes MUST be 0 on write and are ignored on read. */
    if (!rc_zeros(&c, HEADER_SIZE - HEADER_FIELDS_SIZE))
        (void)DIAG_WARN(d, VHDX_E_RESERVED, "header.reserved", STRUCT_NAME, HEADER_FIELDS_SIZE,
                        "reserved bytes 80..4095 are not zero");
    return VHDX_OK;
}

vhdx_status header_validate(const struct header *h, uint64_t file_size, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    bool has_log_guid = !guid_is_nil(&h->log_guid);
    uint64_t log_end;

    /* §3.1: Version MUST be 1. */
    if (h->version != 1)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_VERSION, "header.version", STRUCT_NAME,
                                               66, "version is %u, must be 1", h->version));

    /* §3.1: LogVersion MUST be 0, which matters only when there is a log to replay. */
    if (h->log_version != 0 && has_log_guid)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_VERSION, "header.log_version",
                                               STRUCT_NAME, 64,
                                               "log version is %u with a log present, must be 0",
                                               h->log_version));
    else if (h->log_version != 0)
        (void)DIAG_WARN(d, VHDX_E_VERSION, "header.log_version.ignored", STRUCT_NAME, 64,
                        "log version is %u (ignored: the log GUID is zero)", h->log_version);

    if (!is_aligned_u64(h->log_offset, VHDX_MiB))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT, "header.log_offset.alignment",
                                               STRUCT_NAME, 72,
                                               "log offset 0x%llx is not a multiple of 1 MiB",
                                               (unsigned long long)h->log_offset));
    if (!is_aligned_u64(h->log_length, VHDX_MiB))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT, "header.log_length.alignment",
                                               STRUCT_NAME, 68,
                                               "log length 0x%x is not a multiple of 1 MiB",
                                               h->log_length));

    /* A log of length 0 means "no log", allowed only with LogGuid = 0 (openvmm). */
    if (h->log_length == 0 && has_log_guid)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "header.log_length.zero",
                                               STRUCT_NAME, 68,
                                               "log length is 0 but the log GUID is set"));

    if (h->log_length != 0) {
        /* §1.1: the log lies after the 1 MiB header section. */
        if (h->log_offset < VHDX_HEADER_SECTION_SIZE)
            first = status_first(first,
                                 DIAG_ERROR(d, VHDX_E_RANGE, "header.log_offset.range",
                                            STRUCT_NAME, 72,
                                            "log offset 0x%llx lies inside the 1 MiB header area",
                                            (unsigned long long)h->log_offset));
        if (!ck_range_end(h->log_offset, h->log_length, &log_end))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_OVERFLOW, "header.log.overflow",
                                                   STRUCT_NAME, 72,
                                                   "log offset + length overflows 64 bits"));
        else if (file_size != 0 && log_end > file_size)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "header.log.past_eof", STRUCT_NAME, 72,
                                  "log [0x%llx, 0x%llx) extends past the end of the file (0x%llx)",
                                  (unsigned long long)h->log_offset,
                                  (unsigned long long)log_end, (unsigned long long)file_size));
    }
    return first;
}

vhdx_status header_encode(const struct header *h, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < HEADER_SIZE)
        return VHDX_E_TRUNCATED;
    wc_bytes(&c, VHDX_SIG_HEADER, 4);
    wc_u32(&c, 0);
    wc_u64(&c, h->sequence_number);
    wc_bytes(&c, h->file_write_guid.b, 16);
    wc_bytes(&c, h->data_write_guid.b, 16);
    wc_bytes(&c, h->log_guid.b, 16);
    wc_u16(&c, h->log_version);
    wc_u16(&c, h->version);
    wc_u32(&c, h->log_length);
    wc_u64(&c, h->log_offset);
    wc_zeros(&c, HEADER_SIZE - HEADER_FIELDS_SIZE);
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    le32_store_no_bounds_check(buf + HEADER_CHECKSUM_OFFSET,
                               crc32c_with_zero_field(buf, HEADER_SIZE, HEADER_CHECKSUM_OFFSET));
    return VHDX_OK;
}
