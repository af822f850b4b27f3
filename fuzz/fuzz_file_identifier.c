/* Harness for the file type identifier codec (format/file_identifier). */
#include <string.h>

#include "format/file_identifier.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t enc[FILE_IDENTIFIER_SIZE];
    struct fuzz_sink fs;
    struct file_identifier fi, again;
    char text[1024];

    if (file_identifier_decode(data, size, &fi, fuzz_sink_init(&fs)) != VHDX_OK)
        return 0;
    status_ignore(file_identifier_validate(&fi, &fs.sink)); /* findings only */
    file_identifier_creator_utf8(&fi, text, sizeof(text));
    FUZZ_CHECK(file_identifier_encode(&fi, enc, sizeof(enc)) == VHDX_OK);
    FUZZ_CHECK(file_identifier_decode(enc, sizeof(enc), &again, fuzz_sink_init(&fs)) == VHDX_OK);
    FUZZ_CHECK(memcmp(&fi, &again, sizeof(fi)) == 0);
    return 0;
}

#ifdef FUZZ_SEEDS
void fuzz_make_seeds(struct seed_out *out)
{
    static uint8_t buf[FILE_IDENTIFIER_SIZE];
    struct file_identifier fi;
    memset(&fi, 0, sizeof(fi));
    if (file_identifier_set_creator(&fi, "Microsoft Windows 6.3.9600.18512") != VHDX_OK ||
        file_identifier_encode(&fi, buf, sizeof(buf)) != VHDX_OK)
        return;
    seed_emit(out, "valid-windows", buf, sizeof(buf));
    buf[8] = 0x00;
    buf[9] = 0xD8; /* lone high surrogate */
    seed_emit(out, "bad-creator", buf, sizeof(buf));
    memcpy(buf, "vhdxfilE", 8);
    seed_emit(out, "bad-signature", buf, sizeof(buf));
    seed_emit(out, "truncated", buf, 520);
}
#endif
