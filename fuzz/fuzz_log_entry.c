/*
 * Harness for the log entry codec (format/log_entry).
 *
 * Input: 4 bytes of selector (LE u32), then a log image, truncated down to
 * a multiple of 4096 and capped at 1 MiB. Selector bits 0-23 pick the
 * entry's sector (mod the log's sector count), bit 24 says whether the
 * known LogGuid below is given (else the GUID is not compared), bits 25-31
 * give the log's file offset in MiB minus 1.
 *
 * 1. The single-structure decoders run on the raw log bytes (header at 0,
 *    the 126 descriptor slots of the first sector, a data sector at 4096);
 *    each decoded structure must re-encode and decode to the same struct.
 * 2. log_entry_check runs at the selected offset. When the entry is valid,
 *    its header, descriptors and rebuilt payloads are re-encoded with
 *    log_entry_encode into a fresh ring at the same offset; that entry must
 *    check, carry a correct CRC, and give back the same header, descriptor
 *    bytes, data sectors and payloads.
 */
#include <string.h>

#include "base/endian.h"
#include "format/log_entry.h"
#include "fuzz_common.h"

#define FUZZ_MAX_LOG (1u << 20)
#define FUZZ_MAX_DESCS (FUZZ_MAX_LOG / LOG_DESCRIPTOR_SIZE)
#define FUZZ_MAX_DATA (FUZZ_MAX_LOG / LOG_SECTOR)
#define SEL_USE_GUID (1u << 24)

/* The LogGuid the seeds use; on disk: D4 C3 B2 A1 22 11 44 33 9D 64 11 5E 9B FD 4A 08. */
static struct guid fuzz_log_guid(void)
{
    static const uint8_t d4[8] = {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
    return guid_make(0xA1B2C3D4, 0x1122, 0x3344, d4);
}

static void fuzz_structures(const uint8_t *log, size_t len)
{
    struct fuzz_sink fs;
    struct log_entry_header h, h2;
    struct log_descriptor x, x2;
    static struct log_data_sector s, s2;
    static uint8_t enc[LOG_SECTOR];
    uint64_t seq = 1;

    if (log_entry_header_decode(log, len, &h, fuzz_sink_init(&fs)) == VHDX_OK) {
        /* Findings are not an invariant here; crashes and UB are. */
        status_ignore(log_entry_header_validate(&h, len <= FUZZ_MAX_LOG ? (uint32_t)len : 0, NULL,
                                                &fs.sink));
        seq = h.sequence_number;
        FUZZ_CHECK(log_entry_header_encode(&h, enc, LOG_ENTRY_HEADER_SIZE) == VHDX_OK);
        FUZZ_CHECK(log_entry_header_decode(enc, LOG_ENTRY_HEADER_SIZE, &h2,
                                           fuzz_sink_init(&fs)) == VHDX_OK);
        FUZZ_CHECK(log_entry_header_equal(&h, &h2));
        FUZZ_CHECK(memcmp(log, enc, LOG_ENTRY_HEADER_SIZE) == 0);
    }
    for (size_t i = 0; i < LOG_DESCRIPTORS_FIRST_SECTOR; i++) {
        size_t off = LOG_ENTRY_HEADER_SIZE + i * LOG_DESCRIPTOR_SIZE;
        if (off > len)
            break;
        if (log_descriptor_decode(log + off, len - off, &x, fuzz_sink_init(&fs)) != VHDX_OK)
            continue;
        status_ignore(log_descriptor_validate(&x, seq, (uint64_t)1 << 20, FUZZ_MAX_LOG,
                                              &fs.sink));
        FUZZ_CHECK(log_descriptor_encode(&x, enc, LOG_DESCRIPTOR_SIZE) == VHDX_OK);
        FUZZ_CHECK(log_descriptor_decode(enc, LOG_DESCRIPTOR_SIZE, &x2, fuzz_sink_init(&fs)) ==
                   VHDX_OK);
        FUZZ_CHECK(log_descriptor_equal(&x, &x2));
        FUZZ_CHECK(memcmp(log + off, enc, LOG_DESCRIPTOR_SIZE) == 0);
    }
    if (len >= 2 * LOG_SECTOR &&
        log_data_sector_decode(log + LOG_SECTOR, len - LOG_SECTOR, &s, fuzz_sink_init(&fs)) ==
            VHDX_OK) {
        status_ignore(log_data_sector_validate(&s, seq, &fs.sink));
        FUZZ_CHECK(log_data_sector_encode(&s, enc, sizeof(enc)) == VHDX_OK);
        FUZZ_CHECK(log_data_sector_decode(enc, sizeof(enc), &s2, fuzz_sink_init(&fs)) == VHDX_OK);
        FUZZ_CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
        FUZZ_CHECK(memcmp(log + LOG_SECTOR, enc, LOG_SECTOR) == 0);
    }
}

static uint64_t slot_position(const struct log_entry_view *v, uint32_t i)
{
    uint64_t sector = 0, within;
    if (i < LOG_DESCRIPTORS_FIRST_SECTOR) {
        within = LOG_ENTRY_HEADER_SIZE + (uint64_t)i * LOG_DESCRIPTOR_SIZE;
    } else {
        uint64_t j = (uint64_t)i - LOG_DESCRIPTORS_FIRST_SECTOR;
        sector = 1 + j / LOG_DESCRIPTORS_PER_SECTOR;
        within = (j % LOG_DESCRIPTORS_PER_SECTOR) * LOG_DESCRIPTOR_SIZE;
    }
    return (v->entry_offset + sector * LOG_SECTOR) % v->log_length + within;
}

static void fuzz_entry(const uint8_t *log, uint32_t log_length, uint32_t selector)
{
    static struct log_descriptor descs[FUZZ_MAX_DESCS];
    static uint8_t payloads[FUZZ_MAX_DATA][LOG_SECTOR];
    static const uint8_t *payload_ptrs[FUZZ_MAX_DATA];
    static uint8_t ring[FUZZ_MAX_LOG];
    static uint8_t page[LOG_SECTOR];
    struct fuzz_sink fs;
    struct log_entry_view v, v2;
    struct log_entry_header h1, h2;
    struct guid g = fuzz_log_guid();
    const struct guid *gp = (selector & SEL_USE_GUID) != 0 ? &g : NULL;
    uint64_t log_file_offset = (uint64_t)(1 + (selector >> 25)) << 20;
    uint32_t n_sectors = log_length / LOG_SECTOR;
    uint32_t entry_offset = ((selector & 0xFFFFFFu) % n_sectors) * LOG_SECTOR;
    uint32_t n_data = 0;

    if (log_entry_check(log, log_length, entry_offset, gp, log_file_offset, &v,
                        fuzz_sink_init(&fs)) != VHDX_OK)
        return;
    FUZZ_CHECK(v.header.descriptor_count <= FUZZ_MAX_DESCS);
    FUZZ_CHECK((uint64_t)v.header.entry_length ==
               ((uint64_t)v.descriptor_sectors + v.data_count) * LOG_SECTOR);
    FUZZ_CHECK(v.header.entry_length < log_length);

    for (uint32_t i = 0; i < v.header.descriptor_count; i++) {
        FUZZ_CHECK(log_entry_descriptor(&v, log, i, &descs[i]) == VHDX_OK);
        if (descs[i].kind == LOG_DESCRIPTOR_DATA) {
            const uint8_t *sector = log_entry_data_sector(&v, log, n_data);
            FUZZ_CHECK(sector != NULL);
            log_data_sector_rebuild(&descs[i], sector, payloads[n_data]);
            payload_ptrs[n_data] = payloads[n_data];
            n_data++;
        }
    }
    FUZZ_CHECK(n_data == v.data_count);
    FUZZ_CHECK(log_entry_data_sector(&v, log, n_data) == NULL);

    memset(ring, 0, log_length);
    FUZZ_CHECK(log_entry_encode(&v.header, descs, v.header.descriptor_count, payload_ptrs, ring,
                                log_length, entry_offset) == VHDX_OK);
    FUZZ_CHECK(log_entry_check(ring, log_length, entry_offset, gp, log_file_offset, &v2,
                               fuzz_sink_init(&fs)) == VHDX_OK);
    /* The fuzzing build does not enforce CRCs, so check the re-encoded one directly. */
    FUZZ_CHECK(v2.computed_checksum == v2.header.checksum);

    /* Same header apart from the checksum (unused descriptor slots may have differed). */
    memcpy(&h1, &v.header, sizeof(h1));
    memcpy(&h2, &v2.header, sizeof(h2));
    h1.checksum = h2.checksum = 0;
    FUZZ_CHECK(log_entry_header_equal(&h1, &h2));
    FUZZ_CHECK(v2.descriptor_sectors == v.descriptor_sectors && v2.data_count == v.data_count);
    FUZZ_CHECK(memcmp(log + entry_offset, ring + entry_offset, 4) == 0);
    FUZZ_CHECK(memcmp(log + entry_offset + 8, ring + entry_offset + 8,
                      LOG_ENTRY_HEADER_SIZE - 8) == 0);

    n_data = 0;
    for (uint32_t i = 0; i < v.header.descriptor_count; i++) {
        struct log_descriptor again;
        uint64_t pos = slot_position(&v, i);
        FUZZ_CHECK(log_entry_descriptor(&v2, ring, i, &again) == VHDX_OK);
        FUZZ_CHECK(log_descriptor_equal(&again, &descs[i]));
        FUZZ_CHECK(memcmp(log + pos, ring + pos, LOG_DESCRIPTOR_SIZE) == 0);
        if (again.kind == LOG_DESCRIPTOR_DATA) {
            const uint8_t *s1 = log_entry_data_sector(&v, log, n_data);
            const uint8_t *s2 = log_entry_data_sector(&v2, ring, n_data);
            FUZZ_CHECK(s1 != NULL && s2 != NULL && s1 - log == s2 - ring);
            FUZZ_CHECK(memcmp(s1, s2, LOG_SECTOR) == 0);
            log_data_sector_rebuild(&again, s2, page);
            FUZZ_CHECK(memcmp(page, payloads[n_data], LOG_SECTOR) == 0);
            n_data++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t selector, log_length;
    size_t avail;

    if (size < 4)
        return 0;
    selector = le32_load_no_bounds_check(data);
    avail = size - 4;
    fuzz_structures(data + 4, avail);
    if (avail > FUZZ_MAX_LOG)
        avail = FUZZ_MAX_LOG;
    log_length = (uint32_t)(avail - avail % LOG_SECTOR);
    if (log_length == 0)
        return 0;
    fuzz_entry(data + 4, log_length, selector);
    return 0;
}

#ifdef FUZZ_SEEDS
#define SEED_LOG (64u * 1024u)
#define SEED_TARGET(k) ((2ull << 20) + (uint64_t)(k) * LOG_SECTOR)

static uint8_t seed_buf[4 + SEED_LOG];
static struct log_descriptor seed_descs[300];
static uint8_t seed_pages[4][LOG_SECTOR];
static const uint8_t *seed_ptrs[300];

static struct log_entry_header seed_header(uint64_t seq, uint32_t tail)
{
    struct log_entry_header h;
    memset(&h, 0, sizeof(h));
    h.sequence_number = seq;
    h.tail = tail;
    h.log_guid = fuzz_log_guid();
    h.flushed_file_offset = 4u << 20;
    h.last_file_offset = 4u << 20;
    return h;
}

static struct log_descriptor seed_desc(enum log_descriptor_kind kind, uint64_t off, uint64_t len,
                                       uint64_t seq)
{
    struct log_descriptor x;
    memset(&x, 0, sizeof(x));
    x.kind = kind;
    x.file_offset = off;
    x.zero_length = kind == LOG_DESCRIPTOR_ZERO ? len : 0;
    x.sequence_number = seq;
    return x;
}

/* Selector: the entry's sector, and "compare the LogGuid". Log at 1 MiB. */
static void seed_reset(uint32_t sector)
{
    memset(seed_buf, 0, sizeof(seed_buf));
    le32_store_no_bounds_check(seed_buf, sector | SEL_USE_GUID);
}

/* The four-descriptor example of §8.2 with sequence seq at `sector`. */
static int seed_example(uint32_t sector, uint64_t seq, uint32_t tail)
{
    struct log_entry_header h = seed_header(seq, tail);
    seed_descs[0] = seed_desc(LOG_DESCRIPTOR_DATA, SEED_TARGET(0), 0, seq);
    seed_descs[1] = seed_desc(LOG_DESCRIPTOR_DATA, SEED_TARGET(1), 0, seq);
    seed_descs[2] = seed_desc(LOG_DESCRIPTOR_ZERO, SEED_TARGET(8), 4 * LOG_SECTOR, seq);
    seed_descs[3] = seed_desc(LOG_DESCRIPTOR_DATA, SEED_TARGET(2), 0, seq);
    return log_entry_encode(&h, seed_descs, 4, seed_ptrs, seed_buf + 4, SEED_LOG,
                            sector * LOG_SECTOR) == VHDX_OK;
}

static void seed_restamp(uint32_t sector)
{
    uint8_t *log = seed_buf + 4;
    uint32_t off = sector * LOG_SECTOR;
    struct log_entry_view v;
    /* In the seed build CRCs are enforced: read the computed one from the view. */
    status_ignore(log_entry_check(log, SEED_LOG, off, NULL, 1u << 20, &v, NULL));
    le32_store_no_bounds_check(log + off + LOG_ENTRY_CHECKSUM_OFFSET, v.computed_checksum);
}

void fuzz_make_seeds(struct seed_out *out)
{
    struct log_entry_header h;

    for (size_t i = 0; i < 4; i++) {
        for (size_t b = 0; b < LOG_SECTOR; b++)
            seed_pages[i][b] = (uint8_t)(b * 7u + i * 31u);
        memcpy(seed_pages[i], "PAGE", 4);
    }
    for (size_t i = 0; i < 300; i++)
        seed_ptrs[i] = seed_pages[i % 4];

    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    seed_emit(out, "valid-one-entry", seed_buf, sizeof(seed_buf));

    /* The initialising entry: no descriptors, one sector (§8.8). */
    seed_reset(0);
    h = seed_header(1, 0);
    if (log_entry_encode(&h, NULL, 0, NULL, seed_buf + 4, SEED_LOG, 0) != VHDX_OK)
        return;
    seed_emit(out, "valid-empty-entry", seed_buf, sizeof(seed_buf));

    /* Sectors 14, 15, 0, 1 of a 16-sector log. */
    seed_reset(14);
    if (!seed_example(14, 42, 14 * LOG_SECTOR))
        return;
    seed_emit(out, "valid-wrapping", seed_buf, sizeof(seed_buf));

    /* 200 descriptors (two descriptor sectors), two of them data. */
    seed_reset(3);
    h = seed_header(9, 3 * LOG_SECTOR);
    for (size_t i = 0; i < 200; i++)
        seed_descs[i] = seed_desc(i % 100 == 50 ? LOG_DESCRIPTOR_DATA : LOG_DESCRIPTOR_ZERO,
                                  SEED_TARGET(i), LOG_SECTOR, 9);
    if (log_entry_encode(&h, seed_descs, 200, seed_ptrs, seed_buf + 4, SEED_LOG,
                         3 * LOG_SECTOR) != VHDX_OK)
        return;
    seed_emit(out, "valid-two-descriptor-sectors", seed_buf, sizeof(seed_buf));

    /* 255 zero descriptors (three descriptor sectors), wrapping from the last sector. */
    seed_reset(15);
    h = seed_header(10, 15 * LOG_SECTOR);
    for (size_t i = 0; i < 255; i++)
        seed_descs[i] = seed_desc(LOG_DESCRIPTOR_ZERO, SEED_TARGET(i), LOG_SECTOR, 10);
    if (log_entry_encode(&h, seed_descs, 255, NULL, seed_buf + 4, SEED_LOG, 15 * LOG_SECTOR) !=
        VHDX_OK)
        return;
    seed_emit(out, "valid-three-descriptor-sectors-wrapping", seed_buf, sizeof(seed_buf));

    /* Two entries in sequence; the selector picks the second. */
    seed_reset(4);
    if (!seed_example(0, 5, 0) || !seed_example(4, 6, 0))
        return;
    seed_emit(out, "valid-two-entries", seed_buf, sizeof(seed_buf));

    /* Broken variants of the one-entry log. */
    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    seed_buf[4 + 3 * LOG_SECTOR + 100] ^= 0xFF;
    seed_emit(out, "bad-checksum", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    seed_buf[4 + 2 * LOG_SECTOR] = 'D';
    seed_restamp(0);
    seed_emit(out, "bad-data-sector-signature", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    le32_store_no_bounds_check(seed_buf + 4 + LOG_SECTOR + 4092, 8); /* torn sector */
    seed_restamp(0);
    seed_emit(out, "bad-data-sector-sequence", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    h = seed_header(3, 0);
    seed_descs[0] = seed_desc(LOG_DESCRIPTOR_ZERO, SEED_TARGET(0), LOG_SECTOR, 2);
    seed_descs[1] = seed_desc(LOG_DESCRIPTOR_DATA, 1u << 20, 0, 3); /* inside the log */
    seed_descs[2] = seed_desc(LOG_DESCRIPTOR_ZERO, 64u * 1024u, 3, 3);
    if (log_entry_encode(&h, seed_descs, 3, seed_ptrs, seed_buf + 4, SEED_LOG, 0) != VHDX_OK)
        return;
    seed_emit(out, "bad-descriptors", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    le32_store_no_bounds_check(seed_buf + 4 + 8, 5 * LOG_SECTOR); /* padding sector */
    seed_restamp(0);
    seed_emit(out, "bad-length-mismatch", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    h = seed_header(1, 0);
    h.log_guid.b[0] ^= 1;
    h.reserved = 1;
    h.flushed_file_offset = 12345;
    if (log_entry_encode(&h, NULL, 0, NULL, seed_buf + 4, SEED_LOG, 0) != VHDX_OK)
        return;
    seed_emit(out, "bad-header-fields", seed_buf, sizeof(seed_buf));

    seed_reset(0);
    if (!seed_example(0, 0x0000000500000007ull, 0))
        return;
    seed_emit(out, "truncated", seed_buf, 4 + 2 * LOG_SECTOR + 100);
}
#endif
