/*
 * Harness for the header codec (format/header): decode, validate against a
 * file size taken from the input's tail, and when decoding succeeds check
 * that encode/decode gives the same host struct back.
 */
#include <string.h>

#include "base/endian.h"
#include "format/header.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_sink fs;
    struct header h, again;
    static uint8_t enc[HEADER_SIZE];
    uint64_t file_size = 0;

    if (size >= HEADER_SIZE + 8)
        file_size = le64_load_no_bounds_check(data + size - 8);
    if (header_decode(data, size, &h, fuzz_sink_init(&fs)) != VHDX_OK)
        return 0;
    /* Validation findings are not an invariant; only crashes and UB matter here. */
    status_ignore(header_validate(&h, file_size, &fs.sink));
    FUZZ_CHECK(header_encode(&h, enc, sizeof(enc)) == VHDX_OK);
    FUZZ_CHECK(header_decode(enc, sizeof(enc), &again, fuzz_sink_init(&fs)) == VHDX_OK);
    FUZZ_CHECK(memcmp(&h, &again, sizeof(h)) == 0);
    return 0;
}

#ifdef FUZZ_SEEDS
void fuzz_make_seeds(struct seed_out *out)
{
    static const uint8_t d4[8] = {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
    static uint8_t buf[HEADER_SIZE + 8];
    struct header h;

    memset(&h, 0, sizeof(h));
    h.sequence_number = 1;
    h.file_write_guid = guid_make(0x01020304, 0x0506, 0x0708, d4);
    h.data_write_guid = guid_make(0x11121314, 0x1516, 0x1718, d4);
    h.version = 1;
    h.log_length = 1u << 20;
    h.log_offset = 1u << 20;
    if (header_encode(&h, buf, sizeof(buf)) != VHDX_OK)
        return;
    le64_store_no_bounds_check(buf + HEADER_SIZE, 4ull << 20);
    seed_emit(out, "valid-clean", buf, sizeof(buf));

    h.log_guid = guid_make(0x21222324, 0x2526, 0x2728, d4);
    h.sequence_number = 0xFFFFFFFFFFFFFFFFull;
    if (header_encode(&h, buf, sizeof(buf)) != VHDX_OK)
        return;
    seed_emit(out, "valid-dirty", buf, sizeof(buf));

    h.version = 2;
    h.log_version = 1;
    h.log_offset = 4096;
    if (header_encode(&h, buf, sizeof(buf)) != VHDX_OK)
        return;
    seed_emit(out, "bad-fields", buf, sizeof(buf));

    buf[100] ^= 0xFF;
    seed_emit(out, "bad-checksum", buf, sizeof(buf));
    seed_emit(out, "truncated", buf, HEADER_SIZE / 2);
}
#endif
