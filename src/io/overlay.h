/*
 * The overlay back end (internal): a writable view over a read-only base.
 *
 * A dirty log on a read-only open is replayed into an overlay, so the view
 * is the replayed disk while the file stays untouched (DESIGN.md,
 * principle 7). Written data lives in 4 KiB pages held in memory; the base
 * is only ever read (its write, flush and truncate are never called).
 *
 *   read:     overlay pages where written, base bytes elsewhere, zeros past
 *             the base's end or past a shrinking truncate; short only at the
 *             overlay's size.
 *   write:    copies each touched page on first write (base bytes or zeros),
 *             then stores the new bytes. A write that fails (page limit,
 *             allocator, base read error) leaves the view unchanged.
 *   size:     the base's size at creation, then grown by writes past it and
 *             set exactly by truncate.
 *   truncate: records a logical size. Shrinking hides everything past it
 *             (the base's bytes included); growing again reads zeros.
 *   flush:    succeeds without doing anything.
 *   close:    frees every page and the index; the base is not closed.
 *
 * Pages are found by binary search in an array sorted by page number
 * (O(log n)); inserting one moves the tail of the array (O(n) bytes moved,
 * 16 per page). All memory, context included, comes from `acct`.
 */
#ifndef VHDX_IO_OVERLAY_H
#define VHDX_IO_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "vhdx.h"

#define IO_OVERLAY_PAGE_SIZE 4096u

/*
 * Creates an overlay over `base`, which needs read and size and must stay
 * open (and its ctx alive) until the overlay is closed; the caller closes it
 * afterwards. `acct` must outlive the overlay. max_bytes caps the page data
 * (a page counts 4096 bytes): a write that would need more fails with
 * VHDX_E_LIMIT; 0 leaves only acct's own limit. The index and context are
 * charged to acct but not to max_bytes.
 */
MUST_USE vhdx_status io_overlay_create(const vhdx_io *base, struct alloc_acct *acct,
                                       uint64_t max_bytes, vhdx_io *out);

/* The number of pages the overlay holds; 0 when `overlay` is not an overlay. */
size_t io_overlay_pages(const vhdx_io *overlay);

/*
 * The file offset of the i-th page it holds (ascending order), for
 * comparing two overlays page by page; false past the last page or when
 * `overlay` is not an overlay.
 */
bool io_overlay_page_offset(const vhdx_io *overlay, size_t i, uint64_t *offset);

#endif
