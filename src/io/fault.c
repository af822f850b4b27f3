/* The fault-injecting back end: see fault.h. */
#include "io/fault.h"

#include <string.h>

#include "io/zero.h"

struct fault_ctx {
    vhdx_io base;
    struct alloc_acct *acct;
    uint64_t allowed;
    uint64_t mutations;
    size_t torn_bytes;
    struct io_fault_stats stats;
};

/* True when the next mutating operation may reach the base. */
static bool admit(struct fault_ctx *f)
{
    if (f->stats.stopped || f->mutations >= f->allowed) {
        f->stats.stopped = true;
        f->stats.refused++;
        return false;
    }
    f->mutations++;
    return true;
}

static vhdx_status fault_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct fault_ctx *f = ctx;
    return f->base.read(f->base.ctx, buf, len, off, got);
}

static vhdx_status fault_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct fault_ctx *f = ctx;
    vhdx_status st;
    if (f->base.write == NULL)
        return VHDX_E_IO;
    if (!admit(f)) {
        /* The write that meets the stop may land in part (once). */
        if (f->stats.refused == 1 && f->torn_bytes > 0 && f->torn_bytes < len &&
            f->base.write(f->base.ctx, buf, f->torn_bytes, off) == VHDX_OK)
            f->stats.torn = f->torn_bytes;
        return VHDX_E_IO;
    }
    st = f->base.write(f->base.ctx, buf, len, off);
    if (st == VHDX_OK)
        f->stats.writes++;
    return st;
}

/* A zero operation counts as one write: lost, torn (its first bytes zeroed) or done. */
static vhdx_status fault_zero(void *ctx, uint64_t off, uint64_t len)
{
    struct fault_ctx *f = ctx;
    vhdx_status st;
    if (f->base.write == NULL)
        return VHDX_E_IO;
    if (!admit(f)) {
        if (f->stats.refused == 1 && f->torn_bytes > 0 && f->torn_bytes < len &&
            io_zero_through(&f->base, off, f->torn_bytes) == VHDX_OK)
            f->stats.torn = f->torn_bytes;
        return VHDX_E_IO;
    }
    st = io_zero_through(&f->base, off, len);
    if (st == VHDX_OK) {
        f->stats.writes++;
        f->stats.zeros++;
    }
    return st;
}

static vhdx_status fault_truncate(void *ctx, uint64_t size)
{
    struct fault_ctx *f = ctx;
    vhdx_status st;
    if (f->base.truncate == NULL || !admit(f))
        return VHDX_E_IO;
    st = f->base.truncate(f->base.ctx, size);
    if (st == VHDX_OK)
        f->stats.truncates++;
    return st;
}

static vhdx_status fault_flush(void *ctx)
{
    struct fault_ctx *f = ctx;
    if (f->stats.stopped) {
        f->stats.refused++;
        return VHDX_E_IO;
    }
    f->stats.flushes++;
    return f->base.flush != NULL ? f->base.flush(f->base.ctx) : VHDX_OK;
}

static vhdx_status fault_size(void *ctx, uint64_t *size)
{
    struct fault_ctx *f = ctx;
    return f->base.size(f->base.ctx, size);
}

static void fault_close(void *ctx)
{
    struct fault_ctx *f = ctx;
    acct_free(f->acct, f, sizeof(*f));
}

vhdx_status io_fault_create(const vhdx_io *base, struct alloc_acct *acct, uint64_t allowed,
                            vhdx_io *out)
{
    struct fault_ctx *f;
    vhdx_status st;
    if (base == NULL || acct == NULL || out == NULL || base->read == NULL || base->size == NULL)
        return VHDX_E_INVALID_ARG;
    f = acct_alloc(acct, sizeof(*f), &st);
    if (f == NULL)
        return st;
    f->base = *base;
    f->acct = acct;
    f->allowed = allowed;
    memset(out, 0, sizeof(*out));
    out->ctx = f;
    out->read = fault_read;
    out->write = fault_write;
    out->flush = fault_flush;
    out->size = fault_size;
    out->truncate = fault_truncate;
    out->zero = fault_zero;
    out->close = fault_close;
    return VHDX_OK;
}

void io_fault_set_torn(vhdx_io *io, size_t bytes)
{
    if (io != NULL && io->read == fault_read)
        ((struct fault_ctx *)io->ctx)->torn_bytes = bytes;
}

void io_fault_stop_after(vhdx_io *io, uint64_t more)
{
    struct fault_ctx *f;
    if (io == NULL || io->read != fault_read)
        return;
    f = io->ctx;
    f->allowed = more > UINT64_MAX - f->mutations ? UINT64_MAX : f->mutations + more;
    if (more == 0)
        f->stats.stopped = true;
}

struct io_fault_stats io_fault_stats(const vhdx_io *io)
{
    struct io_fault_stats none;
    memset(&none, 0, sizeof(none));
    if (io == NULL || io->read != fault_read)
        return none;
    return ((const struct fault_ctx *)io->ctx)->stats;
}
