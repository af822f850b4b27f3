/*
 * The recording back end (internal, for crash-consistency tests): a
 * pass-through over a base back end that keeps a list of every mutating
 * operation that reached the base, in order.
 *
 * Reads and size pass through unrecorded. Writes, zero operations,
 * truncates and flushes pass through (a zero operation as the base's own,
 * or as writes of zeros when the base has none); each one the base accepts is appended to the list (a
 * write with a private copy of its bytes), so that a test can replay any
 * prefix or subset of them onto the file as it was before, which is what
 * a power loss can leave (tests/crash_sim.h). An operation the base
 * refuses is not recorded; one that cannot be recorded (no memory) is not
 * passed to the base either and fails with the allocator's status, so the
 * list always matches what the base has seen. A flush over a base without
 * flush succeeds and is recorded.
 *
 * The list and the copies come from acct, which must outlive the
 * back end; close frees them (the base is not closed).
 */
#ifndef VHDX_IO_RECORD_H
#define VHDX_IO_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "vhdx.h"

enum io_op_kind {
    IO_OP_WRITE = 0,
    IO_OP_TRUNCATE = 1,
    IO_OP_FLUSH = 2,
    IO_OP_ZERO = 3 /* the zero operation of vhdx_io: [off, off + len) reads as zeros */
};

struct io_op {
    enum io_op_kind kind;
    uint64_t off;        /* WRITE, ZERO: the file offset; TRUNCATE: the new size; FLUSH: 0 */
    uint64_t len;        /* WRITE, ZERO: the byte count; otherwise 0 */
    const uint8_t *data; /* WRITE: the bytes written (NULL when len is 0); otherwise NULL */
};

/* Wraps base (which needs read and size, and must outlive the result). */
MUST_USE vhdx_status io_record_create(const vhdx_io *base, struct alloc_acct *acct, vhdx_io *out);

/* The number of operations recorded; 0 when `io` is not a recording back end. */
size_t io_record_count(const vhdx_io *io);

/*
 * The i-th operation recorded (from 0), or NULL past the end or when `io`
 * is not a recording back end. The pointer stays valid until the next
 * mutating operation (the list may move as it grows); the bytes it points
 * to stay valid until io_record_clear or close.
 */
const struct io_op *io_record_op(const vhdx_io *io, size_t i);

/* Forgets the operations recorded so far (the base keeps their effect). */
void io_record_clear(vhdx_io *io);

#endif
