#include "image_input.h"

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "fuzz_common.h"

struct io_sparse *image_input_load(const uint8_t *data, size_t size)
{
    static struct io_sparse *sp;
    size_t len, pos = 4;

    if (sp == NULL) {
        sp = io_sparse_new(0);
        if (sp == NULL)
            abort();
    }
    io_sparse_reset(sp);
    if (size >= 8 && memcmp(data, "vhdxfile", 8) == 0) {
        FUZZ_CHECK(io_sparse_write(sp, data, size, 0) == VHDX_OK);
        return sp;
    }
    if (size < 4)
        return NULL;
    len = (size_t)le32_load_no_bounds_check(data) * 1024u;
    if (len > IMAGE_INPUT_MAX_FILE)
        len = IMAGE_INPUT_MAX_FILE;
    FUZZ_CHECK(io_sparse_truncate(sp, len) == VHDX_OK);
    while (size - pos >= 6) {
        uint32_t off = le32_load_no_bounds_check(data + pos);
        size_t n = le16_load_no_bounds_check(data + pos + 4);
        pos += 6;
        if (n > size - pos)
            n = size - pos;
        if (off < len)
            FUZZ_CHECK(io_sparse_write(sp, data + pos, n < len - off ? n : len - off, off) ==
                       VHDX_OK);
        pos += n;
    }
    return sp;
}
