/* The recording back end: see record.h. */
#include "io/record.h"

#include <string.h>

#include "io/zero.h"

/* An operation as handed out, and the copy of its bytes that we own. */
struct record_entry {
    struct io_op op;
    uint8_t *copy;
};

struct record_ctx {
    vhdx_io base;
    struct alloc_acct *acct;
    struct record_entry *ops;
    size_t count;
    size_t cap;
};

static void append(struct record_ctx *r, enum io_op_kind kind, uint64_t off, uint64_t len,
                   uint8_t *copy)
{
    struct record_entry *e = &r->ops[r->count++];
    e->op.kind = kind;
    e->op.off = off;
    e->op.len = len;
    e->op.data = copy;
    e->copy = copy;
}

/* Room for one more operation: the list doubles (from 16) when full. */
static vhdx_status reserve_one(struct record_ctx *r)
{
    struct record_entry *grown;
    size_t cap;
    vhdx_status st;
    if (r->count < r->cap)
        return VHDX_OK;
    if (r->cap > SIZE_MAX / 2 / sizeof(*r->ops))
        return VHDX_E_OVERFLOW;
    cap = r->cap == 0 ? 16 : r->cap * 2;
    grown = acct_alloc_array(r->acct, cap, sizeof(*grown), &st);
    if (grown == NULL)
        return st;
    if (r->count > 0)
        memcpy(grown, r->ops, r->count * sizeof(*grown));
    acct_free(r->acct, r->ops, r->cap * sizeof(*r->ops));
    r->ops = grown;
    r->cap = cap;
    return VHDX_OK;
}

static void forget_all(struct record_ctx *r)
{
    for (size_t i = 0; i < r->count; i++)
        acct_free(r->acct, r->ops[i].copy, (size_t)r->ops[i].op.len);
    r->count = 0;
}

static vhdx_status record_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct record_ctx *r = ctx;
    return r->base.read(r->base.ctx, buf, len, off, got);
}

static vhdx_status record_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct record_ctx *r = ctx;
    uint8_t *copy = NULL;
    vhdx_status st;
    if (r->base.write == NULL)
        return VHDX_E_IO;
    st = reserve_one(r);
    if (st != VHDX_OK)
        return st;
    if (len > 0) {
        copy = acct_alloc(r->acct, len, &st);
        if (copy == NULL)
            return st;
        memcpy(copy, buf, len);
    }
    st = r->base.write(r->base.ctx, buf, len, off);
    if (st != VHDX_OK) {
        acct_free(r->acct, copy, len);
        return st;
    }
    append(r, IO_OP_WRITE, off, len, copy);
    return VHDX_OK;
}

static vhdx_status record_zero(void *ctx, uint64_t off, uint64_t len)
{
    struct record_ctx *r = ctx;
    vhdx_status st;
    if (r->base.write == NULL)
        return VHDX_E_IO;
    st = reserve_one(r);
    if (st != VHDX_OK)
        return st;
    st = io_zero_through(&r->base, off, len);
    if (st != VHDX_OK)
        return st;
    append(r, IO_OP_ZERO, off, len, NULL);
    return VHDX_OK;
}

static vhdx_status record_truncate(void *ctx, uint64_t size)
{
    struct record_ctx *r = ctx;
    vhdx_status st;
    if (r->base.truncate == NULL)
        return VHDX_E_IO;
    st = reserve_one(r);
    if (st != VHDX_OK)
        return st;
    st = r->base.truncate(r->base.ctx, size);
    if (st != VHDX_OK)
        return st;
    append(r, IO_OP_TRUNCATE, size, 0, NULL);
    return VHDX_OK;
}

static vhdx_status record_flush(void *ctx)
{
    struct record_ctx *r = ctx;
    vhdx_status st = reserve_one(r);
    if (st != VHDX_OK)
        return st;
    if (r->base.flush != NULL) {
        st = r->base.flush(r->base.ctx);
        if (st != VHDX_OK)
            return st;
    }
    append(r, IO_OP_FLUSH, 0, 0, NULL);
    return VHDX_OK;
}

static vhdx_status record_size(void *ctx, uint64_t *size)
{
    struct record_ctx *r = ctx;
    return r->base.size(r->base.ctx, size);
}

static void record_close(void *ctx)
{
    struct record_ctx *r = ctx;
    forget_all(r);
    acct_free(r->acct, r->ops, r->cap * sizeof(*r->ops));
    acct_free(r->acct, r, sizeof(*r));
}

vhdx_status io_record_create(const vhdx_io *base, struct alloc_acct *acct, vhdx_io *out)
{
    struct record_ctx *r;
    vhdx_status st;
    if (base == NULL || acct == NULL || out == NULL || base->read == NULL || base->size == NULL)
        return VHDX_E_INVALID_ARG;
    r = acct_alloc(acct, sizeof(*r), &st);
    if (r == NULL)
        return st;
    r->base = *base;
    r->acct = acct;
    memset(out, 0, sizeof(*out));
    out->ctx = r;
    out->read = record_read;
    out->write = record_write;
    out->flush = record_flush;
    out->size = record_size;
    out->truncate = record_truncate;
    out->zero = record_zero;
    out->close = record_close;
    return VHDX_OK;
}

size_t io_record_count(const vhdx_io *io)
{
    if (io == NULL || io->read != record_read)
        return 0;
    return ((const struct record_ctx *)io->ctx)->count;
}

const struct io_op *io_record_op(const vhdx_io *io, size_t i)
{
    const struct record_ctx *r;
    if (io == NULL || io->read != record_read)
        return NULL;
    r = io->ctx;
    return i < r->count ? &r->ops[i].op : NULL;
}

void io_record_clear(vhdx_io *io)
{
    if (io != NULL && io->read == record_read)
        forget_all(io->ctx);
}
