#include "io/zero.h"

#include <stddef.h>

static const uint8_t zero_chunk[64 * 1024];

vhdx_status io_zero_through(const vhdx_io *io, uint64_t off, uint64_t len)
{
    uint64_t done = 0;
    if (io->write == NULL)
        return VHDX_E_INVALID_ARG;
    if (io->zero != NULL) {
        vhdx_status st = io->zero(io->ctx, off, len);
        if (st != VHDX_E_UNSUPPORTED)
            return st;
    }
    while (done < len) {
        uint64_t n = len - done;
        vhdx_status st;
        if (n > sizeof(zero_chunk))
            n = sizeof(zero_chunk);
        st = io->write(io->ctx, zero_chunk, (size_t)n, off + done);
        if (st != VHDX_OK)
            return st;
        done += n;
    }
    return VHDX_OK;
}
