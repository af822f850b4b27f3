/*
 * The fault-injecting back end (internal, for crash-consistency tests): a
 * pass-through over a base back end that "loses power" after a given
 * number of mutating operations.
 *
 * Writes and truncates are mutating operations, counted from 1. The first
 * `allowed` of them reach the base; from the next one on, every write,
 * truncate and flush fails with VHDX_E_IO and has no effect, as if the
 * machine had stopped. Reads and size always pass through, so a test can
 * look at what reached the "disk". UINT64_MAX: never fails (a recorder).
 */
#ifndef VHDX_IO_FAULT_H
#define VHDX_IO_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "vhdx.h"

struct io_fault_stats {
    uint64_t writes;    /* writes (zero operations included) that reached the base */
    uint64_t zeros;     /* of which zero operations */
    uint64_t truncates; /* truncates that reached the base */
    uint64_t flushes;   /* flushes that reached the base */
    uint64_t refused;   /* operations failed after the stop */
    uint64_t torn;      /* bytes of the stopping write that landed (torn writes) */
    bool stopped;
};

/*
 * Wraps base (which must outlive the result and is not closed by it). The
 * context comes from acct.
 */
MUST_USE vhdx_status io_fault_create(const vhdx_io *base, struct alloc_acct *acct,
                                     uint64_t allowed, vhdx_io *out);

/*
 * Makes the write that meets the stop torn: its first `bytes` bytes (when
 * fewer than its length; a multiple of 512 models a disk that writes whole
 * sectors) reach the base before it fails, as a power loss in the middle
 * of a multi-sector write can leave. 0 (the default): nothing of it lands.
 */
void io_fault_set_torn(vhdx_io *io, size_t bytes);

/*
 * Moves the stop: from now on `more` mutating operations reach the base,
 * then the back end stops as above. 0 stops it now: every later write,
 * truncate and flush fails (a power loss between two operations).
 * UINT64_MAX: never. A back end already stopped stays stopped. No effect
 * when `io` is not a fault back end.
 */
void io_fault_stop_after(vhdx_io *io, uint64_t more);

/* What the back end has seen so far; zeros when `io` is not a fault back end. */
struct io_fault_stats io_fault_stats(const vhdx_io *io);

#endif
