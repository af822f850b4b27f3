/*
 * The memory back end: read-only access to a caller's buffer.
 *
 * vhdx_io carries a single context pointer, so the (data, len) pair lives in
 * a two-member context taken from malloc; the data itself is never copied.
 * Also here: vhdx_io_close, which every back end shares.
 */
#include <stdlib.h>
#include <string.h>

#include "vhdx.h"

struct memory_ctx {
    const uint8_t *data;
    size_t len;
};

static vhdx_status memory_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct memory_ctx *m = ctx;
    size_t avail, n;

    *got = 0;
    if (off >= m->len)
        return VHDX_OK;
    avail = m->len - (size_t)off;
    n = len < avail ? len : avail;
    if (n > 0)
        memcpy(buf, m->data + off, n);
    *got = n;
    return VHDX_OK;
}

static vhdx_status memory_size(void *ctx, uint64_t *size)
{
    const struct memory_ctx *m = ctx;
    *size = m->len;
    return VHDX_OK;
}

static void memory_close(void *ctx)
{
    free(ctx);
}

vhdx_status vhdx_io_from_memory(const void *data, size_t len, vhdx_io *out)
{
    struct memory_ctx *m;

    if (out == NULL)
        return VHDX_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (data == NULL && len != 0)
        return VHDX_E_INVALID_ARG;
    m = malloc(sizeof(*m));
    if (m == NULL)
        return VHDX_E_NOMEM;
    m->data = data;
    m->len = data == NULL ? 0 : len;
    out->ctx = m;
    out->read = memory_read;
    out->size = memory_size;
    out->close = memory_close;
    return VHDX_OK;
}

void vhdx_io_close(vhdx_io *io)
{
    if (io == NULL)
        return;
    if (io->close != NULL)
        io->close(io->ctx);
    memset(io, 0, sizeof(*io));
}
