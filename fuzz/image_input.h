/* The input format of the whole-image harnesses (fuzz_image, fuzz_image_options, fuzz_copies). */
#ifndef VHDX_FUZZ_IMAGE_INPUT_H
#define VHDX_FUZZ_IMAGE_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/sparse.h"

/* The file built from a sparse description is at most this large. */
#define IMAGE_INPUT_MAX_FILE (40u << 20)

/*
 * Turns a fuzz input into a file: the input itself when it starts with
 * "vhdxfile", else a sparse description (u32 file size in KiB, capped,
 * then records of u32 offset, u16 length, bytes, applied in order to a
 * zero-filled file; bytes past the size are dropped). The file is held in
 * a sparse store (src/io/sparse.h) that lives as long as the process and
 * is emptied for each input, so an input allocates and maps nothing once
 * the store has grown: the zeros are holes, never materialised. Returns
 * the store, or NULL when the input describes no file (under 4 bytes).
 */
struct io_sparse *image_input_load(const uint8_t *data, size_t size);

#endif
