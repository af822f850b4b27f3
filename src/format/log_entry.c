#include "format/log_entry.h"

#include <string.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/cursor.h"
#include "base/endian.h"
#include "format/constants.h"

static const char HEADER_NAME[] = "log entry header";
static const char DESC_NAME[] = "log descriptor";
static const char DATA_NAME[] = "log data sector";
static const char ENTRY_NAME[] = "log entry";

/* ---- Entry header (§8.3) ---- */

vhdx_status log_entry_header_decode(const uint8_t *buf, size_t len, struct log_entry_header *out,
                                    struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < LOG_ENTRY_HEADER_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "log_entry.truncated", HEADER_NAME, 0,
                          "log entry header needs %u bytes, only %zu available",
                          LOG_ENTRY_HEADER_SIZE, buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_LOG_ENTRY, 4) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "log_entry.signature", HEADER_NAME, 0,
                          "signature is not 'loge'");

    (void)rc_skip(&c, 4);
    out->checksum = rc_u32(&c);
    out->entry_length = rc_u32(&c);
    out->tail = rc_u32(&c);
    out->sequence_number = rc_u64(&c);
    out->descriptor_count = rc_u32(&c);
    out->reserved = rc_u32(&c);
    (void)rc_bytes(&c, out->log_guid.b, 16);
    out->flushed_file_offset = rc_u64(&c);
    out->last_file_offset = rc_u64(&c);
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "log_entry.truncated", HEADER_NAME, 0,
                          "log entry header fields run past the buffer");
    return VHDX_OK;
}

vhdx_status log_entry_header_validate(const struct log_entry_header *h, uint32_t log_length,
                                      const struct guid *log_guid, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    uint64_t need;

    /* §8.7.2 item 1: the entry belongs to the log the image header names. */
    if (log_guid != NULL && !guid_equal(&h->log_guid, log_guid)) {
        char have[GUID_TEXT_SIZE], want[GUID_TEXT_SIZE];
        guid_to_text(&h->log_guid, have);
        guid_to_text(log_guid, want);
        first = status_first(first, DIAG_ERROR(d, VHDX_E_CORRUPT, "log_entry.log_guid",
                                               HEADER_NAME, 32,
                                               "log GUID %s differs from the image header's %s",
                                               have, want));
    }

    /* §8.3 / §8.7.2 item 2: EntryLength is a non-zero multiple of 4 KiB, below LogLength. */
    if (h->entry_length == 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "log_entry.entry_length.zero",
                                               HEADER_NAME, 8, "entry length is 0"));
    else if (!is_aligned_u64(h->entry_length, LOG_SECTOR))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                               "log_entry.entry_length.alignment", HEADER_NAME, 8,
                                               "entry length 0x%x is not a multiple of 4096",
                                               h->entry_length));
    if (log_length != 0 && h->entry_length >= log_length)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "log_entry.entry_length.range",
                                               HEADER_NAME, 8,
                                               "entry length 0x%x is not less than the log "
                                               "length 0x%x",
                                               h->entry_length, log_length));

    /* §8.3: Tail is a multiple of 4 KiB; §8.7.2: it lies inside the log. */
    if (!is_aligned_u64(h->tail, LOG_SECTOR))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT, "log_entry.tail.alignment",
                                               HEADER_NAME, 12,
                                               "tail 0x%x is not a multiple of 4096", h->tail));
    if (log_length != 0 && h->tail >= log_length)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "log_entry.tail.range",
                                               HEADER_NAME, 12,
                                               "tail 0x%x is not less than the log length 0x%x",
                                               h->tail, log_length));

    /* §8.3: SequenceNumber > 0. */
    if (h->sequence_number == 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "log_entry.sequence_number.zero",
                                               HEADER_NAME, 16, "sequence number is 0"));

    /* §8.3: Reserved MUST be 0. */
    if (h->reserved != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "log_entry.reserved",
                                               HEADER_NAME, 28, "reserved field is 0x%x, not 0",
                                               h->reserved));

    /* §8.7.2 item 2: the header and the descriptors fit in the entry (64-bit math). */
    need = LOG_ENTRY_HEADER_SIZE + (uint64_t)LOG_DESCRIPTOR_SIZE * h->descriptor_count;
    if (need > h->entry_length)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "log_entry.descriptor_count.range",
                                               HEADER_NAME, 24,
                                               "%u descriptors need %llu bytes, the entry is %u "
                                               "bytes long",
                                               h->descriptor_count, (unsigned long long)need,
                                               h->entry_length));

    /* §8.3 says 1 MiB multiples; QEMU writes the plain file size (§11.2 item 14). */
    if (!is_aligned_u64(h->flushed_file_offset, VHDX_MiB))
        (void)DIAG_WARN(d, VHDX_E_ALIGNMENT, "log_entry.flushed_file_offset.alignment",
                        HEADER_NAME, 48, "flushed file offset 0x%llx is not a multiple of 1 MiB",
                        (unsigned long long)h->flushed_file_offset);
    if (!is_aligned_u64(h->last_file_offset, VHDX_MiB))
        (void)DIAG_WARN(d, VHDX_E_ALIGNMENT, "log_entry.last_file_offset.alignment", HEADER_NAME,
                        56, "last file offset 0x%llx is not a multiple of 1 MiB",
                        (unsigned long long)h->last_file_offset);
    return first;
}

vhdx_status log_entry_header_encode(const struct log_entry_header *h, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < LOG_ENTRY_HEADER_SIZE)
        return VHDX_E_TRUNCATED;
    wc_bytes(&c, VHDX_SIG_LOG_ENTRY, 4);
    wc_u32(&c, h->checksum);
    wc_u32(&c, h->entry_length);
    wc_u32(&c, h->tail);
    wc_u64(&c, h->sequence_number);
    wc_u32(&c, h->descriptor_count);
    wc_u32(&c, h->reserved);
    wc_bytes(&c, h->log_guid.b, 16);
    wc_u64(&c, h->flushed_file_offset);
    wc_u64(&c, h->last_file_offset);
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    return VHDX_OK;
}

bool log_entry_header_equal(const struct log_entry_header *a, const struct log_entry_header *b)
{
    return a->checksum == b->checksum && a->entry_length == b->entry_length &&
           a->tail == b->tail && a->descriptor_count == b->descriptor_count &&
           a->sequence_number == b->sequence_number && a->reserved == b->reserved &&
           guid_equal(&a->log_guid, &b->log_guid) &&
           a->flushed_file_offset == b->flushed_file_offset &&
           a->last_file_offset == b->last_file_offset;
}

/* ---- Descriptors (§8.4, §8.5) ---- */

vhdx_status log_descriptor_decode(const uint8_t *buf, size_t len, struct log_descriptor *out,
                                  struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < LOG_DESCRIPTOR_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "log_entry.descriptor.truncated", DESC_NAME, 0,
                          "descriptor needs %u bytes, only %zu available", LOG_DESCRIPTOR_SIZE,
                          buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_ZERO, 4) == 0)
        out->kind = LOG_DESCRIPTOR_ZERO;
    else if (memcmp(buf, VHDX_SIG_DESC, 4) == 0)
        out->kind = LOG_DESCRIPTOR_DATA;
    else
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "log_entry.descriptor.signature", DESC_NAME, 0,
                          "signature %02x %02x %02x %02x is neither 'zero' nor 'desc'", buf[0],
                          buf[1], buf[2], buf[3]);

    (void)rc_skip(&c, 4);
    if (out->kind == LOG_DESCRIPTOR_ZERO) {
        out->reserved = rc_u32(&c);
        out->zero_length = rc_u64(&c);
    } else {
        out->trailing_bytes = rc_u32(&c);
        out->leading_bytes = rc_u64(&c);
    }
    out->file_offset = rc_u64(&c);
    out->sequence_number = rc_u64(&c);
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "log_entry.descriptor.truncated", DESC_NAME, 0,
                          "descriptor fields run past the buffer");
    return VHDX_OK;
}

vhdx_status log_descriptor_validate(const struct log_descriptor *desc, uint64_t entry_sequence,
                                    uint64_t log_offset, uint32_t log_length, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    bool is_zero;
    uint64_t length, end, log_end;

    if (desc->kind != LOG_DESCRIPTOR_ZERO && desc->kind != LOG_DESCRIPTOR_DATA)
        return VHDX_E_INVALID_ARG;
    is_zero = desc->kind == LOG_DESCRIPTOR_ZERO;
    length = is_zero ? desc->zero_length : LOG_SECTOR;

    /* §8.4 / §8.5: the descriptor carries the entry's sequence number. */
    if (desc->sequence_number != entry_sequence)
        first = status_first(first,
                             DIAG_ERROR(d, VHDX_E_CORRUPT, "log_entry.descriptor.sequence",
                                        DESC_NAME, 24,
                                        "sequence number 0x%llx differs from the entry's 0x%llx",
                                        (unsigned long long)desc->sequence_number,
                                        (unsigned long long)entry_sequence));

    /* §8.4 / §8.5: FileOffset is a multiple of 4 KiB. */
    if (!is_aligned_u64(desc->file_offset, LOG_SECTOR))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                               "log_entry.descriptor.file_offset.alignment",
                                               DESC_NAME, 16,
                                               "file offset 0x%llx is not a multiple of 4096",
                                               (unsigned long long)desc->file_offset));

    if (is_zero) {
        /* §8.4: ZeroLength is a multiple of 4 KiB; Reserved MUST be 0. */
        if (!is_aligned_u64(desc->zero_length, LOG_SECTOR))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                                   "log_entry.descriptor.zero_length.alignment",
                                                   DESC_NAME, 8,
                                                   "zero length 0x%llx is not a multiple of 4096",
                                                   (unsigned long long)desc->zero_length));
        else if (desc->zero_length == 0)
            /* Not forbidden by the format, but it describes no work at all. */
            (void)DIAG_WARN(d, VHDX_E_RANGE, "log_entry.descriptor.zero_length.zero", DESC_NAME, 8,
                            "zero descriptor has a zero length");
        if (desc->reserved != 0)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED,
                                                   "log_entry.descriptor.reserved", DESC_NAME, 4,
                                                   "reserved field is 0x%x, not 0",
                                                   desc->reserved));
    }

    /* §8.7.2 item 3 [O]: the target may not reach the identifier or the headers. */
    if (desc->file_offset < LOG_DESCRIPTOR_MIN_TARGET)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                               "log_entry.descriptor.target.header_area",
                                               DESC_NAME, 16,
                                               "target 0x%llx lies below 192 KiB (identifier and "
                                               "headers)",
                                               (unsigned long long)desc->file_offset));

    /* §8.7.2 item 3: FileOffset + length must not overflow 64 bits. */
    if (!ck_range_end(desc->file_offset, length, &end)) {
        first = status_first(first, DIAG_ERROR(d, VHDX_E_OVERFLOW, "log_entry.descriptor.overflow",
                                               DESC_NAME, 16,
                                               "target 0x%llx + length 0x%llx overflows 64 bits",
                                               (unsigned long long)desc->file_offset,
                                               (unsigned long long)length));
        return first;
    }

    /* §8.7.2 item 3 [O]: replay must never write into the log itself. */
    if (log_length != 0 && length != 0) {
        if (!ck_range_end(log_offset, log_length, &log_end))
            log_end = UINT64_MAX; /* a log reaching the top of the space: treat as open-ended */
        if (desc->file_offset < log_end && log_offset < end)
            first = status_first(first,
                                 DIAG_ERROR(d, VHDX_E_OVERLAP,
                                            "log_entry.descriptor.target.log_overlap",
                                            DESC_NAME, 16,
                                            "target [0x%llx, 0x%llx) overlaps the log [0x%llx, "
                                            "0x%llx)",
                                            (unsigned long long)desc->file_offset,
                                            (unsigned long long)end, (unsigned long long)log_offset,
                                            (unsigned long long)log_end));
    }
    return first;
}

bool log_descriptor_equal(const struct log_descriptor *a, const struct log_descriptor *b)
{
    return a->kind == b->kind && a->trailing_bytes == b->trailing_bytes &&
           a->leading_bytes == b->leading_bytes && a->reserved == b->reserved &&
           a->zero_length == b->zero_length && a->file_offset == b->file_offset &&
           a->sequence_number == b->sequence_number;
}

vhdx_status log_descriptor_encode(const struct log_descriptor *desc, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (desc->kind != LOG_DESCRIPTOR_ZERO && desc->kind != LOG_DESCRIPTOR_DATA)
        return VHDX_E_INVALID_ARG;
    if (buf == NULL || len < LOG_DESCRIPTOR_SIZE)
        return VHDX_E_TRUNCATED;
    if (desc->kind == LOG_DESCRIPTOR_ZERO) {
        wc_bytes(&c, VHDX_SIG_ZERO, 4);
        wc_u32(&c, desc->reserved);
        wc_u64(&c, desc->zero_length);
    } else {
        wc_bytes(&c, VHDX_SIG_DESC, 4);
        wc_u32(&c, desc->trailing_bytes);
        wc_u64(&c, desc->leading_bytes);
    }
    wc_u64(&c, desc->file_offset);
    wc_u64(&c, desc->sequence_number);
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    return VHDX_OK;
}

/* ---- Data sector (§8.6) ---- */

/* The checks of decode without copying the data: signature and the two sequence halves. */
static vhdx_status data_sector_fields(const uint8_t *buf, size_t len, uint32_t *high,
                                      uint32_t *low, struct diag_sink *d)
{
    *high = *low = 0;
    if (buf == NULL || len < LOG_SECTOR)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "log_entry.data_sector.truncated", DATA_NAME, 0,
                          "data sector needs %u bytes, only %zu available", LOG_SECTOR,
                          buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_DATA, 4) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "log_entry.data_sector.signature", DATA_NAME, 0,
                          "signature %02x %02x %02x %02x is not 'data'", buf[0], buf[1], buf[2],
                          buf[3]);
    *high = le32_load_no_bounds_check(buf + 4);
    *low = le32_load_no_bounds_check(buf + LOG_DATA_SECTOR_LOW_OFFSET);
    return VHDX_OK;
}

vhdx_status log_data_sector_decode(const uint8_t *buf, size_t len, struct log_data_sector *out,
                                   struct diag_sink *d)
{
    vhdx_status st;

    memset(out, 0, sizeof(*out));
    st = data_sector_fields(buf, len, &out->sequence_high, &out->sequence_low, d);
    if (st != VHDX_OK)
        return st;
    memcpy(out->data, buf + LOG_DATA_SECTOR_DATA_OFFSET, LOG_DATA_SECTOR_DATA_SIZE);
    return VHDX_OK;
}

static vhdx_status sequence_check(uint32_t high, uint32_t low, uint64_t entry_sequence,
                                  struct diag_sink *d)
{
    uint64_t seq = ((uint64_t)high << 32) | low;

    /* §8.6: a torn or misdirected sector write shows up as a sequence mismatch. */
    if (seq != entry_sequence)
        return DIAG_ERROR(d, VHDX_E_CORRUPT, "log_entry.data_sector.sequence", DATA_NAME,
                          high != (uint32_t)(entry_sequence >> 32) ? 4u
                                                                   : LOG_DATA_SECTOR_LOW_OFFSET,
                          "sequence high:low 0x%08x:0x%08x differs from the entry's 0x%016llx",
                          high, low, (unsigned long long)entry_sequence);
    return VHDX_OK;
}

vhdx_status log_data_sector_validate(const struct log_data_sector *s, uint64_t entry_sequence,
                                     struct diag_sink *d)
{
    return sequence_check(s->sequence_high, s->sequence_low, entry_sequence, d);
}

vhdx_status log_data_sector_encode(const struct log_data_sector *s, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < LOG_SECTOR)
        return VHDX_E_TRUNCATED;
    wc_bytes(&c, VHDX_SIG_DATA, 4);
    wc_u32(&c, s->sequence_high);
    wc_bytes(&c, s->data, LOG_DATA_SECTOR_DATA_SIZE);
    wc_u32(&c, s->sequence_low);
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    return VHDX_OK;
}

void log_data_sector_rebuild(const struct log_descriptor *desc, const uint8_t sector[4096],
                             uint8_t out[4096])
{
    le64_store_no_bounds_check(out, desc->leading_bytes);
    memmove(out + LOG_DATA_SECTOR_DATA_OFFSET, sector + LOG_DATA_SECTOR_DATA_OFFSET,
            LOG_DATA_SECTOR_DATA_SIZE);
    le32_store_no_bounds_check(out + LOG_DATA_SECTOR_LOW_OFFSET, desc->trailing_bytes);
}

void log_data_sector_make(const uint8_t payload[4096], uint64_t seq, uint8_t sector_out[4096],
                          struct log_descriptor *desc_inout)
{
    /* Read the payload's ends first: sector_out may be the payload's own buffer. */
    desc_inout->leading_bytes = le64_load_no_bounds_check(payload);
    desc_inout->trailing_bytes = le32_load_no_bounds_check(payload + LOG_DATA_SECTOR_LOW_OFFSET);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): on-disk bytes, not a string */
    memcpy(sector_out, VHDX_SIG_DATA, 4);
    le32_store_no_bounds_check(sector_out + 4, (uint32_t)(seq >> 32));
    memmove(sector_out + LOG_DATA_SECTOR_DATA_OFFSET, payload + LOG_DATA_SECTOR_DATA_OFFSET,
            LOG_DATA_SECTOR_DATA_SIZE);
    le32_store_no_bounds_check(sector_out + LOG_DATA_SECTOR_LOW_OFFSET, (uint32_t)seq);
}

/* ---- Whole entries ---- */

/* Ceil((n + 2) / 128): the header takes the room of two descriptors (§8.2). */
uint64_t log_entry_descriptor_sectors(uint64_t n)
{
    return n / LOG_DESCRIPTORS_PER_SECTOR + ((n % LOG_DESCRIPTORS_PER_SECTOR) + 2 + 127) / 128;
}

size_t log_entry_length_for(size_t n_desc, size_t n_data)
{
    uint64_t sectors, bytes;
    size_t out;

    if (!ck_add_u64(log_entry_descriptor_sectors(n_desc), n_data, &sectors) ||
        !ck_mul_u64(sectors, LOG_SECTOR, &bytes) || !ck_u64_to_size(bytes, &out))
        return 0;
    return out;
}

static bool log_geometry_ok(const uint8_t *log, uint32_t log_length, uint32_t entry_offset)
{
    return log != NULL && log_length != 0 && log_length % LOG_SECTOR == 0 &&
           entry_offset < log_length && entry_offset % LOG_SECTOR == 0;
}

/*
 * The log offset of sector k of the entry. k < log_length / 4096, so
 * k * 4096 < 2^32 and the sum cannot overflow 64 bits.
 */
uint64_t log_entry_sector_offset(uint32_t log_length, uint32_t entry_offset, uint64_t k)
{
    return ((uint64_t)entry_offset + k * LOG_SECTOR) % log_length;
}

/* Where descriptor i sits: its log offset. */
uint64_t log_entry_descriptor_offset(uint32_t log_length, uint32_t entry_offset, uint64_t i)
{
    uint64_t sector, within;

    if (i < LOG_DESCRIPTORS_FIRST_SECTOR) {
        sector = 0;
        within = LOG_ENTRY_HEADER_SIZE + i * LOG_DESCRIPTOR_SIZE;
    } else {
        uint64_t j = i - LOG_DESCRIPTORS_FIRST_SECTOR;
        sector = 1 + j / LOG_DESCRIPTORS_PER_SECTOR;
        within = (j % LOG_DESCRIPTORS_PER_SECTOR) * LOG_DESCRIPTOR_SIZE;
    }
    return log_entry_sector_offset(log_length, entry_offset, sector) + within;
}

/*
 * Points the sink's base at a structure inside the log while a decoder
 * reports offsets relative to it; returns the old base to restore.
 */
static uint64_t sink_enter(struct diag_sink *d, uint64_t rel)
{
    uint64_t saved;

    if (d == NULL)
        return 0;
    saved = d->base;
    if (saved != VHDX_OFFSET_NONE && !ck_add_u64(saved, rel, &d->base))
        d->base = VHDX_OFFSET_NONE;
    return saved;
}

static void sink_leave(struct diag_sink *d, uint64_t saved)
{
    if (d != NULL)
        d->base = saved;
}

/* The in-memory source behind log_entry_check: the log is one buffer. */
static const uint8_t *memory_sector(void *ctx, uint32_t log_offset)
{
    return (const uint8_t *)ctx + log_offset;
}

vhdx_status log_entry_check(const uint8_t *log, uint32_t log_length, uint32_t entry_offset,
                            const struct guid *log_guid, uint64_t log_file_offset,
                            struct log_entry_view *out, struct diag_sink *d)
{
    struct log_sector_source src;

    if (!log_geometry_ok(log, log_length, entry_offset)) {
        if (out != NULL)
            memset(out, 0, sizeof(*out));
        return VHDX_E_INVALID_ARG;
    }
    src.sector = memory_sector;
    src.ctx = (void *)(uintptr_t)log; /* only ever read through memory_sector */
    return log_entry_check_source(&src, log_length, entry_offset, log_guid, log_file_offset, 0,
                                  out, d);
}

/* Sector k of the entry from the source; NULL when it cannot be read. */
static const uint8_t *entry_sector(const struct log_sector_source *src, uint32_t log_length,
                                   uint32_t entry_offset, uint64_t k)
{
    return src->sector(src->ctx, (uint32_t)log_entry_sector_offset(log_length, entry_offset, k));
}

/*
 * One pass over the entry's sectors in ring order (§8.7.2): the header, the
 * descriptors sector by sector, the length rule, the data sectors, the CRC
 * folded in as each sector goes by. The findings come in the order of the
 * rules. With LOG_CHECK_FIRST_FAILURE the pass stops at the first failure,
 * so it never reads past a sector that breaks the entry: every sector it
 * reads after the first is a descriptor or data sector, never one that
 * begins with `loge`.
 */
vhdx_status log_entry_check_source(const struct log_sector_source *src, uint32_t log_length,
                                   uint32_t entry_offset, const struct guid *log_guid,
                                   uint64_t log_file_offset, unsigned flags,
                                   struct log_entry_view *out, struct diag_sink *d)
{
    struct log_entry_view local = {0};
    struct log_entry_view *v = out != NULL ? out : &local;
    const struct log_entry_header *h = &v->header;
    const bool stop = (flags & LOG_CHECK_FIRST_FAILURE) != 0;
    const uint8_t *sec;
    vhdx_status first, s;
    uint64_t saved, n_sectors, data_count = 0, expected, data_in_entry, i = 0;
    uint32_t crc;
    bool descriptors_ok = true;

    memset(v, 0, sizeof(*v));
    if (src == NULL || src->sector == NULL || log_length == 0 || log_length % LOG_SECTOR != 0 ||
        entry_offset >= log_length || entry_offset % LOG_SECTOR != 0)
        return VHDX_E_INVALID_ARG;
    v->log_length = log_length;
    v->entry_offset = entry_offset;

    /* §8.7.2 items 1 and 2: signature, LogGuid, header fields. */
    sec = entry_sector(src, log_length, entry_offset, 0);
    if (sec == NULL)
        return VHDX_E_IO;
    saved = sink_enter(d, entry_offset);
    s = log_entry_header_decode(sec, LOG_SECTOR, &v->header, d);
    if (s != VHDX_OK) {
        sink_leave(d, saved);
        return s;
    }
    first = log_entry_header_validate(h, log_length, log_guid, d);
    sink_leave(d, saved);
    if (stop && first != VHDX_OK)
        return first;
    /* Without a usable length and descriptor count the entry cannot be walked. */
    if (h->entry_length == 0 || h->entry_length % LOG_SECTOR != 0 ||
        h->entry_length >= log_length ||
        LOG_ENTRY_HEADER_SIZE + (uint64_t)LOG_DESCRIPTOR_SIZE * h->descriptor_count >
            h->entry_length)
        return first;

    n_sectors = h->entry_length / LOG_SECTOR;
    v->descriptor_sectors = (uint32_t)log_entry_descriptor_sectors(h->descriptor_count);
    crc = crc32c_with_zero_field(sec, LOG_SECTOR, LOG_ENTRY_CHECKSUM_OFFSET);

    /*
     * §8.7.2 item 3: every descriptor, sector by sector. They all lie in the
     * descriptor sectors, which the length rule above keeps inside the entry.
     */
    for (uint64_t k = 0; k < v->descriptor_sectors; k++) {
        uint64_t end = k == 0 ? LOG_DESCRIPTORS_FIRST_SECTOR
                              : LOG_DESCRIPTORS_FIRST_SECTOR + k * LOG_DESCRIPTORS_PER_SECTOR;
        if (k > 0) {
            sec = entry_sector(src, log_length, entry_offset, k);
            if (sec == NULL)
                return VHDX_E_IO;
            crc = crc32c(crc, sec, LOG_SECTOR);
        }
        if (end > h->descriptor_count)
            end = h->descriptor_count;
        for (; i < end; i++) {
            uint64_t pos = log_entry_descriptor_offset(log_length, entry_offset, i);
            struct log_descriptor desc;

            saved = sink_enter(d, pos);
            s = log_descriptor_decode(sec + pos % LOG_SECTOR, LOG_DESCRIPTOR_SIZE, &desc, d);
            if (s == VHDX_OK) {
                if (desc.kind == LOG_DESCRIPTOR_DATA)
                    data_count++;
                s = log_descriptor_validate(&desc, h->sequence_number, log_file_offset,
                                            log_length, d);
            } else {
                descriptors_ok = false;
            }
            sink_leave(d, saved);
            first = status_first(first, s);
            if (stop && first != VHDX_OK)
                return first;
        }
    }
    v->data_count = (uint32_t)data_count;

    /* §8.7.2 item 4: EntryLength = 4096 * (DescriptorSectors + data descriptors), exactly. */
    expected = (v->descriptor_sectors + data_count) * LOG_SECTOR;
    if (descriptors_ok && expected != h->entry_length) {
        saved = sink_enter(d, entry_offset);
        first = status_first(first,
                             DIAG_ERROR(d, VHDX_E_CORRUPT, "log_entry.length.mismatch", ENTRY_NAME,
                                        8,
                                        "entry length is 0x%x, but %u descriptor sector(s) and "
                                        "%llu data sector(s) make 0x%llx",
                                        h->entry_length, v->descriptor_sectors,
                                        (unsigned long long)data_count,
                                        (unsigned long long)expected));
        sink_leave(d, saved);
        if (stop)
            return first;
    }

    /*
     * §8.7.2 items 5 and 6: every data sector that lies inside the entry
     * (the fields only: copying every sector's data would double the cost
     * of a search), and the CRC-32C over all EntryLength bytes in ring order.
     */
    data_in_entry = n_sectors - v->descriptor_sectors;
    if (data_in_entry > data_count)
        data_in_entry = data_count;
    for (uint64_t k = v->descriptor_sectors; k < n_sectors; k++) {
        uint64_t j = k - v->descriptor_sectors;
        sec = entry_sector(src, log_length, entry_offset, k);
        if (sec == NULL)
            return VHDX_E_IO;
        if (j < data_in_entry) {
            uint64_t pos = log_entry_sector_offset(log_length, entry_offset, k);
            uint32_t high, low;
            saved = sink_enter(d, pos);
            s = data_sector_fields(sec, LOG_SECTOR, &high, &low, d);
            if (s == VHDX_OK)
                s = sequence_check(high, low, h->sequence_number, d);
            sink_leave(d, saved);
            first = status_first(first, s);
            if (stop && first != VHDX_OK)
                return first;
        }
        crc = crc32c(crc, sec, LOG_SECTOR);
    }

    v->computed_checksum = crc;
    if (v->computed_checksum != h->checksum && crc32c_enforced()) {
        saved = sink_enter(d, entry_offset);
        first = status_first(first, DIAG_ERROR(d, VHDX_E_CHECKSUM, "log_entry.checksum",
                                               ENTRY_NAME, LOG_ENTRY_CHECKSUM_OFFSET,
                                               "checksum is 0x%08x, computed 0x%08x over 0x%x "
                                               "bytes",
                                               h->checksum, v->computed_checksum,
                                               h->entry_length));
        sink_leave(d, saved);
    }
    return first;
}

vhdx_status log_entry_descriptor(const struct log_entry_view *view, const uint8_t *log, uint32_t i,
                                 struct log_descriptor *out)
{
    uint64_t pos;

    memset(out, 0, sizeof(*out));
    if (!log_geometry_ok(log, view->log_length, view->entry_offset) ||
        i >= view->header.descriptor_count || view->descriptor_sectors == 0)
        return VHDX_E_INVALID_ARG;
    pos = log_entry_descriptor_offset(view->log_length, view->entry_offset, i);
    if (NEVER(pos > view->log_length - LOG_DESCRIPTOR_SIZE))
        return VHDX_E_INVALID_ARG;
    return log_descriptor_decode(log + pos, LOG_DESCRIPTOR_SIZE, out, NULL);
}

const uint8_t *log_entry_data_sector(const struct log_entry_view *view, const uint8_t *log,
                                     uint32_t j)
{
    if (!log_geometry_ok(log, view->log_length, view->entry_offset) || j >= view->data_count ||
        view->descriptor_sectors == 0)
        return NULL;
    return log + log_entry_sector_offset(view->log_length, view->entry_offset,
                             (uint64_t)view->descriptor_sectors + j);
}

/*
 * CRC-32C of the entry's entry_length bytes in ring order with the
 * checksum field as zero (§9). entry_length <= log_length and both are
 * 4 KiB multiples, so the entry is at most two runs: to the end of the log,
 * then from its start.
 */
static uint32_t entry_crc(const uint8_t *log, uint32_t log_length, uint32_t entry_offset,
                          uint32_t entry_length)
{
    uint32_t first_run = log_length - entry_offset;
    uint32_t crc;

    if (first_run > entry_length)
        first_run = entry_length;
    crc = crc32c_with_zero_field(log + entry_offset, first_run, LOG_ENTRY_CHECKSUM_OFFSET);
    if (entry_length > first_run)
        crc = crc32c(crc, log, entry_length - first_run);
    return crc;
}

vhdx_status log_entry_encode(const struct log_entry_header *hdr_in,
                             const struct log_descriptor *descs, size_t n,
                             const uint8_t *const *payloads, uint8_t *log, uint32_t log_length,
                             uint32_t entry_offset)
{
    struct log_entry_header h = *hdr_in;
    size_t n_data = 0, length, next_data = 0;
    uint64_t n_desc_sectors;
    uint8_t *sector0;

    if (!log_geometry_ok(log, log_length, entry_offset) || (n > 0 && descs == NULL))
        return VHDX_E_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        if (descs[i].kind == LOG_DESCRIPTOR_DATA) {
            if (payloads == NULL || payloads[n_data] == NULL)
                return VHDX_E_INVALID_ARG;
            n_data++;
        } else if (descs[i].kind != LOG_DESCRIPTOR_ZERO) {
            return VHDX_E_INVALID_ARG;
        }
    }
    length = log_entry_length_for(n, n_data);
    /* §8.7.2 item 2: an entry is shorter than the log. */
    if (n > UINT32_MAX || length == 0 || length >= log_length)
        return VHDX_E_RANGE;

    h.checksum = 0;
    h.entry_length = (uint32_t)length;
    h.descriptor_count = (uint32_t)n;
    n_desc_sectors = log_entry_descriptor_sectors(n);

    /* Descriptor sectors start zeroed: unused slots are covered by the CRC (§8.2). */
    for (uint64_t k = 0; k < n_desc_sectors; k++)
        memset(log + log_entry_sector_offset(log_length, entry_offset, k), 0, LOG_SECTOR);
    sector0 = log + entry_offset;
    if (NEVER(log_entry_header_encode(&h, sector0, LOG_SECTOR) != VHDX_OK))
        return VHDX_E_INVALID_ARG;

    for (size_t i = 0; i < n; i++) {
        struct log_descriptor desc = descs[i];
        uint64_t pos = log_entry_descriptor_offset(log_length, entry_offset, i);

        if (desc.kind == LOG_DESCRIPTOR_DATA) {
            uint8_t *sector =
                log + log_entry_sector_offset(log_length, entry_offset, n_desc_sectors + next_data);
            log_data_sector_make(payloads[next_data], h.sequence_number, sector, &desc);
            next_data++;
        }
        if (NEVER(log_descriptor_encode(&desc, log + pos, LOG_DESCRIPTOR_SIZE) != VHDX_OK))
            return VHDX_E_INVALID_ARG;
    }

    le32_store_no_bounds_check(sector0 + LOG_ENTRY_CHECKSUM_OFFSET,
                               entry_crc(log, log_length, entry_offset, h.entry_length));
    return VHDX_OK;
}
