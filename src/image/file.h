/*
 * File access for the modules of src/image: the image's file as they all
 * see it, read-your-writes. The writer changes metadata in a batch of 4 KiB
 * pages held in memory and zero ranges not yet written (write.c commits the
 * batch through the log); every read of the file through here sees the
 * batch over the file's bytes, so no module reads stale metadata.
 *
 * The bottom of the image layer: it uses the handle's back end, accountant
 * and batch, and calls no other module of src/image (docs/DESIGN.md,
 * "Layers"; tools/check_layers.sh).
 */
#ifndef VHDX_IMAGE_FILE_H
#define VHDX_IMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

#define FILE_PAGE 4096u
/* Zero ranges one batch holds at most (each one descriptor of the entry). */
#define FILE_BATCH_ZERO_RANGES 4u

struct file_page {
    uint64_t off; /* 4 KiB aligned file offset */
    uint8_t *data;
};

struct file_zero_range {
    uint64_t off, len; /* 4 KiB aligned */
};

/*
 * The pending batch, a member of the handle (empty when zeroed). max_pages
 * is 0 until the writer sizes the batch to its log (write.c).
 */
struct file_batch {
    struct file_page *pages; /* sorted by offset */
    size_t npages, cap, max_pages;
    struct file_zero_range zeros[FILE_BATCH_ZERO_RANGES];
    size_t nzeros;
};

struct vhdx_image;

/*
 * Reads exactly len bytes at off from the image's back end (short =
 * VHDX_E_TRUNCATED, a back-end error = VHDX_E_IO), with the batch copied
 * over them.
 */
MUST_USE vhdx_status image_read_exact(struct vhdx_image *img, uint64_t off, void *buf,
                                      size_t len);

/*
 * The batch's page at page_off (4 KiB aligned), read from the file (zero
 * ranges applied, bytes past the end as zeros) when it is not held yet.
 * VHDX_E_LIMIT when the batch is full (the writer reserves room first); a
 * failed read fails the handle.
 */
MUST_USE vhdx_status file_batch_page(struct vhdx_image *img, uint64_t page_off, uint8_t **out);

/* Copies len bytes into the batch at file offset off. */
MUST_USE vhdx_status file_batch_write(struct vhdx_image *img, uint64_t off, const void *src,
                                      size_t len);

/*
 * Adds a zero range (4 KiB aligned) to the batch; no page of the batch may
 * lie in it. VHDX_E_INVALID_ARG when unaligned or when the ranges are all used.
 */
MUST_USE vhdx_status file_batch_zero(struct vhdx_image *img, uint64_t off, uint64_t len);

/* Empties the batch (its pages freed, its array kept). */
void file_batch_clear(struct vhdx_image *img);

/* Empties the batch and frees its array (vhdx_close). */
void file_batch_free(struct vhdx_image *img);

/* Makes the unsealed file behind io an image: flush, the signature, flush. */
MUST_USE vhdx_status image_seal(vhdx_io *io);

#endif
