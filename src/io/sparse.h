/*
 * The sparse memory back end (internal, for the tests and fuzz harnesses;
 * not part of the shipped library: //:vhdx_sparse, NOT_SHIPPED_SRCS in
 * BUILD).
 *
 * A file held as extents: sorted, disjoint runs of data, each a slice of
 * one growing byte buffer (the arena); the gaps between them are holes
 * that read as zeros. Nothing is materialised: a 40 MiB file with 20 KiB
 * of non-zero bytes costs 20 KiB. The store is reused from one fuzz input
 * to the next (io_sparse_reset, or io_sparse_rewind to a frozen base), so
 * an input allocates nothing once the buffers have grown.
 *
 *   read:     extent bytes, zeros in holes; short only at the size.
 *   write:    stores the bytes (in place when they fall inside one extent
 *             written since the freeze, else as a new extent replacing the
 *             parts of the ones it covers); extends the size. A write of
 *             only zeros is a zero (a hole).
 *   zero:     punches a hole; extends the size.
 *   truncate: sets the size; shrinking drops the data past it, growing
 *             again reads zeros.
 *   flush:    succeeds without doing anything.
 *   close:    nothing: the store belongs to its creator (io_sparse_free).
 * max_bytes caps the bytes the extents hold: a write that would need more
 * fails with VHDX_E_LIMIT and changes nothing. A failed allocation is
 * VHDX_E_NOMEM with nothing changed.
 */
#ifndef VHDX_IO_SPARSE_H
#define VHDX_IO_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

struct io_sparse;

/* An empty store (size 0); max_bytes 0: no cap. NULL when out of memory. */
struct io_sparse *io_sparse_new(uint64_t max_bytes);
void io_sparse_free(struct io_sparse *sp);

/* Empties the store (size 0, no freeze) and keeps its buffers. */
void io_sparse_reset(struct io_sparse *sp);
/* Remembers the contents now; io_sparse_rewind returns to them cheaply. */
MUST_USE vhdx_status io_sparse_freeze(struct io_sparse *sp);
void io_sparse_rewind(struct io_sparse *sp);
void io_sparse_set_cap(struct io_sparse *sp, uint64_t max_bytes);

MUST_USE vhdx_status io_sparse_write(struct io_sparse *sp, const void *buf, size_t len,
                                     uint64_t off);
MUST_USE vhdx_status io_sparse_zero(struct io_sparse *sp, uint64_t off, uint64_t len);
MUST_USE vhdx_status io_sparse_truncate(struct io_sparse *sp, uint64_t size);
uint64_t io_sparse_size(const struct io_sparse *sp);
/* The bytes the extents hold (what max_bytes caps). */
uint64_t io_sparse_bytes(const struct io_sparse *sp);

/*
 * A back end over the store: read and size, and (writable) write, zero,
 * flush and truncate. Its close leaves the store alone.
 */
void io_sparse_io(struct io_sparse *sp, bool writable, vhdx_io *out);

/* The store behind a back end io_sparse_io made; NULL for any other. */
struct io_sparse *io_sparse_of(const vhdx_io *io);

/*
 * How many bytes from `off` on (at most `max`) fall in a hole inside the
 * size: bytes a read returns as zeros without any extent behind them. 0
 * when `off` is inside an extent or at or past the size.
 */
uint64_t io_sparse_hole_len(const struct io_sparse *sp, uint64_t off, uint64_t max);

/* The number of extents, and the i-th (ascending); false past the last. */
size_t io_sparse_extents(const struct io_sparse *sp);
bool io_sparse_extent(const struct io_sparse *sp, size_t i, uint64_t *off, uint64_t *len);

#endif
