/*
 * What the whole-disk copies (export.c, convert.c) share: zero detection,
 * sparse output, the holes of a file, progress.
 */
#ifndef VHDX_IMAGE_COPY_H
#define VHDX_IMAGE_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

/* Zeros are detected, and holes left, in pieces of this many bytes of the disk. */
#define COPY_HOLE_GRAIN 4096u

/*
 * Passes buf (len disk bytes at disk offset off) to sink, leaving out every
 * piece that is all zeros: pieces end at multiples of grain on the disk.
 */
MUST_USE vhdx_status copy_sparse(vhdx_sink_fn sink, void *ctx, const uint8_t *buf, size_t len,
                                 uint64_t off, size_t grain);

/* pwrite of all len bytes at off (VHDX_E_IO with errno set on failure). */
MUST_USE vhdx_status copy_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/*
 * The first range of [pos, end) of the file fd that may hold data, as the
 * file's holes tell it (SEEK_DATA/SEEK_HOLE): *ds..*de, *ds == end when
 * there is none. False when the file cannot tell (no SEEK_DATA there, or an
 * offset past INT64_MAX): then *ds..*de is all of [pos, end).
 */
bool copy_file_next_data(int fd, uint64_t pos, uint64_t end, uint64_t *ds, uint64_t *de);

/* Calls progress (when set): VHDX_E_CANCELLED when it asks to stop. */
MUST_USE vhdx_status copy_progress(vhdx_progress_fn progress, void *ctx, uint64_t done,
                                   uint64_t total);

#endif
