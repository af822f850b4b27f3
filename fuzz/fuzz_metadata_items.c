/*
 * Harness for the fixed-size metadata items (format/metadata_items). The
 * first input byte selects the item: bits 0-2 (mod 5) the kind, bits 5-6
 * the logical sector size handed to the virtual-disk-size validator (512,
 * 4096, 0 = unknown, or an invalid 1000). The rest of the input is the
 * item. When decoding succeeds: validate, re-encode, require the input
 * bytes back exactly (every bit of a decodable item is meaningful), and
 * decode again to the same host struct.
 */
#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/metadata_items.h"
#include "fuzz_common.h"

enum item_kind {
    KIND_FILE_PARAMETERS,
    KIND_VIRTUAL_DISK_SIZE,
    KIND_VIRTUAL_DISK_ID,
    KIND_LOGICAL_SECTOR_SIZE,
    KIND_PHYSICAL_SECTOR_SIZE,
    KIND_COUNT_
};

static const uint32_t SECTOR_SIZES[4] = {512, 4096, 0, 1000};

/* The re-encoded bytes must be the item itself. */
static void check_bytes(const uint8_t *item, size_t len, const uint8_t *enc, size_t enc_len)
{
    FUZZ_CHECK(len == enc_len);
    FUZZ_CHECK(memcmp(item, enc, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_sink fs;
    uint8_t enc[16];
    const uint8_t *item;
    size_t len;
    unsigned kind;
    uint32_t lss;

    if (size == 0)
        return 0;
    kind = (unsigned)(data[0] & 7u) % KIND_COUNT_;
    lss = SECTOR_SIZES[(data[0] >> 5) & 3u];
    item = size > 1 ? data + 1 : NULL;
    len = size - 1;

    switch (kind) {
    case KIND_FILE_PARAMETERS: {
        struct file_parameters a, b;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        if (file_parameters_decode(item, len, &a, fuzz_sink_init(&fs)) != VHDX_OK)
            return 0;
        status_ignore(file_parameters_validate(&a, &fs.sink));
        FUZZ_CHECK(file_parameters_encode(&a, enc, FILE_PARAMETERS_SIZE) == VHDX_OK);
        check_bytes(item, len, enc, FILE_PARAMETERS_SIZE);
        FUZZ_CHECK(file_parameters_decode(enc, FILE_PARAMETERS_SIZE, &b, &fs.sink) == VHDX_OK);
        FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
        break;
    }
    case KIND_VIRTUAL_DISK_SIZE: {
        struct virtual_disk_size a, b;
        if (virtual_disk_size_decode(item, len, &a, fuzz_sink_init(&fs)) != VHDX_OK)
            return 0;
        status_ignore(virtual_disk_size_validate(&a, lss, &fs.sink));
        FUZZ_CHECK(virtual_disk_size_encode(&a, enc, VIRTUAL_DISK_SIZE_ITEM_SIZE) == VHDX_OK);
        check_bytes(item, len, enc, VIRTUAL_DISK_SIZE_ITEM_SIZE);
        FUZZ_CHECK(virtual_disk_size_decode(enc, VIRTUAL_DISK_SIZE_ITEM_SIZE, &b, &fs.sink) ==
                   VHDX_OK);
        FUZZ_CHECK(a.size == b.size);
        break;
    }
    case KIND_VIRTUAL_DISK_ID: {
        struct virtual_disk_id a, b;
        if (virtual_disk_id_decode(item, len, &a, fuzz_sink_init(&fs)) != VHDX_OK)
            return 0;
        status_ignore(virtual_disk_id_validate(&a, &fs.sink));
        FUZZ_CHECK(virtual_disk_id_encode(&a, enc, VIRTUAL_DISK_ID_SIZE) == VHDX_OK);
        check_bytes(item, len, enc, VIRTUAL_DISK_ID_SIZE);
        FUZZ_CHECK(virtual_disk_id_decode(enc, VIRTUAL_DISK_ID_SIZE, &b, &fs.sink) == VHDX_OK);
        FUZZ_CHECK(guid_equal(&a.id, &b.id));
        break;
    }
    case KIND_LOGICAL_SECTOR_SIZE: {
        struct logical_sector_size a, b;
        if (logical_sector_size_decode(item, len, &a, fuzz_sink_init(&fs)) != VHDX_OK)
            return 0;
        status_ignore(logical_sector_size_validate(&a, &fs.sink));
        FUZZ_CHECK(logical_sector_size_encode(&a, enc, LOGICAL_SECTOR_SIZE_ITEM_SIZE) ==
                   VHDX_OK);
        check_bytes(item, len, enc, LOGICAL_SECTOR_SIZE_ITEM_SIZE);
        FUZZ_CHECK(logical_sector_size_decode(enc, LOGICAL_SECTOR_SIZE_ITEM_SIZE, &b,
                                              &fs.sink) == VHDX_OK);
        FUZZ_CHECK(a.size == b.size);
        break;
    }
    case KIND_PHYSICAL_SECTOR_SIZE:
    default: {
        struct physical_sector_size a, b;
        if (physical_sector_size_decode(item, len, &a, fuzz_sink_init(&fs)) != VHDX_OK)
            return 0;
        status_ignore(physical_sector_size_validate(&a, &fs.sink));
        FUZZ_CHECK(physical_sector_size_encode(&a, enc, PHYSICAL_SECTOR_SIZE_ITEM_SIZE) ==
                   VHDX_OK);
        check_bytes(item, len, enc, PHYSICAL_SECTOR_SIZE_ITEM_SIZE);
        FUZZ_CHECK(physical_sector_size_decode(enc, PHYSICAL_SECTOR_SIZE_ITEM_SIZE, &b,
                                               &fs.sink) == VHDX_OK);
        FUZZ_CHECK(a.size == b.size);
        break;
    }
    }
    return 0;
}

#ifdef FUZZ_SEEDS
/* Writes selector byte + item. */
static void emit(struct seed_out *out, const char *name, uint8_t selector, const uint8_t *item,
                 size_t len)
{
    uint8_t buf[1 + 32];
    if (len > sizeof(buf) - 1)
        return;
    buf[0] = selector;
    memcpy(buf + 1, item, len);
    seed_emit(out, name, buf, 1 + len);
}

void fuzz_make_seeds(struct seed_out *out)
{
    static const uint8_t d4[8] = {0x9b, 0x77, 0xe9, 0x94, 0xe3, 0x01, 0x7d, 0xdd};
    uint8_t b[16];
    struct file_parameters fp = {32u << 20, false, false};
    struct virtual_disk_size vds = {1ull << 30};
    struct virtual_disk_id vdi;
    struct logical_sector_size lss = {512};
    struct physical_sector_size pss = {4096};

    if (file_parameters_encode(&fp, b, sizeof(b)) == VHDX_OK)
        emit(out, "fp-valid-dynamic", KIND_FILE_PARAMETERS, b, FILE_PARAMETERS_SIZE);
    fp.block_size = 256u << 20;
    fp.leave_blocks_allocated = true;
    fp.has_parent = true;
    if (file_parameters_encode(&fp, b, sizeof(b)) == VHDX_OK)
        emit(out, "fp-valid-differencing", KIND_FILE_PARAMETERS, b, FILE_PARAMETERS_SIZE);
    fp.block_size = 3u << 20;
    if (file_parameters_encode(&fp, b, sizeof(b)) == VHDX_OK) {
        emit(out, "fp-bad-block-size", KIND_FILE_PARAMETERS, b, FILE_PARAMETERS_SIZE);
        b[4] |= 0x04;
        emit(out, "fp-reserved-flag", KIND_FILE_PARAMETERS, b, FILE_PARAMETERS_SIZE);
    }

    if (virtual_disk_size_encode(&vds, b, sizeof(b)) == VHDX_OK)
        emit(out, "vds-valid-1g-512", KIND_VIRTUAL_DISK_SIZE, b, 8);
    vds.size = (1ull << 46) + 1;
    if (virtual_disk_size_encode(&vds, b, sizeof(b)) == VHDX_OK)
        emit(out, "vds-over-64t-4096", KIND_VIRTUAL_DISK_SIZE | 0x20, b, 8);
    vds.size = 4096 * 10 + 512;
    if (virtual_disk_size_encode(&vds, b, sizeof(b)) == VHDX_OK)
        emit(out, "vds-unaligned-4096", KIND_VIRTUAL_DISK_SIZE | 0x20, b, 8);

    vdi.id = guid_make(0xfc7209f1, 0xf6eb, 0x4616, d4);
    if (virtual_disk_id_encode(&vdi, b, sizeof(b)) == VHDX_OK)
        emit(out, "vdi-valid", KIND_VIRTUAL_DISK_ID, b, 16);
    memset(b, 0, sizeof(b));
    emit(out, "vdi-nil", KIND_VIRTUAL_DISK_ID, b, 16);

    if (logical_sector_size_encode(&lss, b, sizeof(b)) == VHDX_OK)
        emit(out, "lss-valid-512", KIND_LOGICAL_SECTOR_SIZE, b, 4);
    lss.size = 1024;
    if (logical_sector_size_encode(&lss, b, sizeof(b)) == VHDX_OK)
        emit(out, "lss-bad-1024", KIND_LOGICAL_SECTOR_SIZE, b, 4);

    if (physical_sector_size_encode(&pss, b, sizeof(b)) == VHDX_OK)
        emit(out, "pss-valid-4096", KIND_PHYSICAL_SECTOR_SIZE, b, 4);
    /* VirtualBox's 8-byte form, which is refused. */
    le64_store_no_bounds_check(b, 4096);
    emit(out, "pss-8-bytes", KIND_PHYSICAL_SECTOR_SIZE, b, 8);
    emit(out, "fp-truncated", KIND_FILE_PARAMETERS, b, 5);
}
#endif
