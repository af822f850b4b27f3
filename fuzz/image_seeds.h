/* Seeds for the whole-image harnesses: small valid images of every shape. */
#ifndef VHDX_FUZZ_IMAGE_SEEDS_H
#define VHDX_FUZZ_IMAGE_SEEDS_H

#include <stddef.h>
#include <stdint.h>

struct seed_out;

typedef void (*image_seed_emit)(struct seed_out *out, const char *name, const uint8_t *file,
                                size_t len);

/* Builds each seed image with tests/image_builder and hands it to emit. */
void fuzz_image_seeds(struct seed_out *out, image_seed_emit emit);

/*
 * The sparse description of fuzz_image: u32 size in KiB, then records
 * (u32 offset, u16 length, bytes) of the file's non-zero 4 KiB runs.
 * Returns a malloc'd buffer, or NULL.
 */
uint8_t *image_seed_sparse(const uint8_t *file, size_t len, size_t *out_len);

/*
 * An image_seed_emit for the harnesses whose input is the whole-image
 * format as it is (fuzz_image, fuzz_copies): the image's sparse description,
 * named "<name>-sparse" (small and mutable).
 */
void image_seed_emit_sparse(struct seed_out *out, const char *name, const uint8_t *file,
                            size_t len);

#endif
