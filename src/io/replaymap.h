/*
 * The replay view (internal): a read-only back end that shows a file as a
 * log replay would leave it, without copying a byte of the replay.
 *
 * A read-only open of a dirty image must read the replayed file while the
 * file stays untouched (DESIGN.md, principle 7). Instead of 4 KiB copies of
 * every page the log writes, the view keeps one record per replayed range,
 * each either
 *   - zero:  the range reads as zeros, however long it is; or
 *   - data:  a 4 KiB sector whose bytes are the log's data sector at
 *            `source` in the file, with bytes 0-7 and 4092-4095 replaced by
 *            the descriptor's LeadingBytes and TrailingBytes (§8.6),
 * and reads everything else from the base. Memory grows with the number of
 * descriptors, never with the bytes they cover.
 *
 * Building: io_replaymap_builder_init with the number of ranges, one
 * io_replaymap_add per range in replay order (a later range overrides an
 * earlier one where they overlap, exactly as writing them in order would),
 * then io_replaymap_create. Every offset and length is a multiple of 4096.
 * Overlaps are resolved once, in O(n log n) (a sweep over the sorted ends
 * with a heap of the ranges that cover the sweep point); a read finds its
 * first range by binary search (O(log n)) and merges runs of data sectors
 * that lie next to each other in the log into one base read.
 *
 *   read:  as described; zeros past the base's end, short only at the
 *          view's size (the base's size at creation or more, as given).
 *   size:  the size given at creation.
 *   write, flush, truncate: none (a read-only back end).
 *   close: frees the records and the context; the base is not closed.
 */
#ifndef VHDX_IO_REPLAYMAP_H
#define VHDX_IO_REPLAYMAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "vhdx.h"

#define IO_REPLAY_SECTOR 4096u
/* io_replay_extent.source of a zero range. */
#define IO_REPLAY_ZERO UINT64_MAX

struct io_replay_extent {
    uint64_t start;    /* file offset, a multiple of 4096 */
    uint64_t length;   /* a multiple of 4096; exactly 4096 for data */
    uint64_t source;   /* IO_REPLAY_ZERO, or the file offset of the data sector */
    uint64_t leading;  /* data: the payload's bytes 0-7 (LE) */
    uint32_t trailing; /* data: the payload's bytes 4092-4095 (LE) */
    uint32_t order;    /* the range's place in replay order (while building) */
};

struct io_replaymap_builder {
    struct alloc_acct *acct;
    struct io_replay_extent *ext;
    size_t count;
    size_t cap;
};

/* Room for `cap` ranges (from acct). VHDX_E_LIMIT / VHDX_E_NOMEM / VHDX_E_OVERFLOW. */
MUST_USE vhdx_status io_replaymap_builder_init(struct io_replaymap_builder *b,
                                               struct alloc_acct *acct, size_t cap);

/*
 * The next range in replay order. VHDX_E_INVALID_ARG for an offset or
 * length off 4096, a data range not 4096 long, a range whose end overflows,
 * or more ranges than the capacity. A zero-length range is ignored.
 */
MUST_USE vhdx_status io_replaymap_add(struct io_replaymap_builder *b, uint64_t start,
                                      uint64_t length, uint64_t source, uint64_t leading,
                                      uint32_t trailing);

void io_replaymap_builder_free(struct io_replaymap_builder *b);

/*
 * Resolves the overlaps and makes the view over `base` (which needs read
 * and must outlive the view; the caller closes it afterwards) with the
 * given size. The builder is consumed, on failure too. Memory (resolved
 * records, scratch, context) comes from the builder's acct.
 */
MUST_USE vhdx_status io_replaymap_create(struct io_replaymap_builder *b, const vhdx_io *base,
                                         uint64_t size, vhdx_io *out);

/* The number of resolved ranges of a view; 0 when `io` is not a replay view. */
size_t io_replaymap_extents(const vhdx_io *io);

/* The i-th resolved range in offset order; NULL past the last or when `io` is not a view. */
const struct io_replay_extent *io_replaymap_extent(const vhdx_io *io, size_t i);

#endif
