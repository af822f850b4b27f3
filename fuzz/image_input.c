#include "image_input.h"

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"

uint8_t *image_input_build(const uint8_t *data, size_t size, size_t *out_len)
{
    uint8_t *file;
    size_t len, pos = 4;

    if (size >= 8 && memcmp(data, "vhdxfile", 8) == 0) {
        file = malloc(size);
        if (file != NULL)
            memcpy(file, data, size);
        *out_len = size;
        return file;
    }
    if (size < 4)
        return NULL;
    len = (size_t)le32_load_no_bounds_check(data) * 1024u;
    if (len > IMAGE_INPUT_MAX_FILE)
        len = IMAGE_INPUT_MAX_FILE;
    file = calloc(1, len > 0 ? len : 1);
    if (file == NULL)
        return NULL;
    while (size - pos >= 6) {
        uint32_t off = le32_load_no_bounds_check(data + pos);
        size_t n = le16_load_no_bounds_check(data + pos + 4);
        pos += 6;
        if (n > size - pos)
            n = size - pos;
        if (off < len)
            memcpy(file + off, data + pos, n < len - off ? n : len - off);
        pos += n;
    }
    *out_len = len;
    return file;
}
