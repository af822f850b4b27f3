/*
 * Zeroing a range through any back end (internal): the back end's own zero
 * operation where it has one, writes of zeros where it has none or where it
 * answers VHDX_E_UNSUPPORTED.
 */
#ifndef VHDX_IO_ZERO_H
#define VHDX_IO_ZERO_H

#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

/* Makes [off, off + len) of io read as zeros (io needs write). */
MUST_USE vhdx_status io_zero_through(const vhdx_io *io, uint64_t off, uint64_t len);

#endif
