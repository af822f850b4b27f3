/* The input format of the whole-image harnesses (fuzz_image, fuzz_image_options). */
#ifndef VHDX_FUZZ_IMAGE_INPUT_H
#define VHDX_FUZZ_IMAGE_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* The file built from a sparse description is at most this large. */
#define IMAGE_INPUT_MAX_FILE (40u << 20)

/*
 * Turns a fuzz input into a file image: the input itself when it starts
 * with "vhdxfile", else a sparse description (u32 file size in KiB, capped,
 * then records of u32 offset, u16 length, bytes) applied to a zero-filled
 * file. Returns a malloc'd buffer (free() it) and its length, or NULL.
 */
uint8_t *image_input_build(const uint8_t *data, size_t size, size_t *out_len);

#endif
