/*
 * The sparse memory back end: see sparse.h.
 *
 * Extents are kept in an array sorted by offset (binary search to find
 * one, a memmove of the tail to insert). Their bytes live in the arena,
 * which only grows between resets: a write that replaces part of an extent
 * leaves those bytes unused, and when the unused bytes outgrow the used
 * ones (and nothing is frozen) the arena is compacted into a second buffer
 * kept for the next time.
 */
#include "io/sparse.h"

#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

struct sp_extent {
    uint64_t off, len;
    size_t at; /* where its bytes start in the arena */
};

struct io_sparse {
    struct sp_extent *ext;
    size_t n, cap;
    uint8_t *arena, *spare;
    size_t used, arena_cap, spare_cap;
    uint64_t size, live, max_bytes;
    /* The frozen contents: extents, arena bytes below frozen_used, size. */
    struct sp_extent *fext;
    size_t fn, fcap, frozen_used;
    uint64_t fsize, flive;
    bool frozen;
};

struct io_sparse *io_sparse_new(uint64_t max_bytes)
{
    struct io_sparse *sp = calloc(1, sizeof(*sp));
    if (sp != NULL)
        sp->max_bytes = max_bytes;
    return sp;
}

void io_sparse_free(struct io_sparse *sp)
{
    if (sp == NULL)
        return;
    free(sp->ext);
    free(sp->fext);
    free(sp->arena);
    free(sp->spare);
    free(sp);
}

void io_sparse_reset(struct io_sparse *sp)
{
    sp->n = 0;
    sp->used = 0;
    sp->size = 0;
    sp->live = 0;
    sp->frozen = false;
    sp->frozen_used = 0;
}

void io_sparse_set_cap(struct io_sparse *sp, uint64_t max_bytes)
{
    sp->max_bytes = max_bytes;
}

vhdx_status io_sparse_freeze(struct io_sparse *sp)
{
    if (sp->n > sp->fcap) {
        struct sp_extent *f = realloc(sp->fext, sp->n * sizeof(*f));
        if (f == NULL)
            return VHDX_E_NOMEM;
        sp->fext = f;
        sp->fcap = sp->n;
    }
    if (sp->n > 0)
        memcpy(sp->fext, sp->ext, sp->n * sizeof(*sp->ext));
    sp->fn = sp->n;
    sp->frozen_used = sp->used;
    sp->fsize = sp->size;
    sp->flive = sp->live;
    sp->frozen = true;
    return VHDX_OK;
}

void io_sparse_rewind(struct io_sparse *sp)
{
    if (!sp->frozen) {
        io_sparse_reset(sp);
        return;
    }
    /* ext can hold fn entries: it held them when they were frozen. */
    if (sp->fn > 0)
        memcpy(sp->ext, sp->fext, sp->fn * sizeof(*sp->ext));
    sp->n = sp->fn;
    sp->used = sp->frozen_used;
    sp->size = sp->fsize;
    sp->live = sp->flive;
}

uint64_t io_sparse_size(const struct io_sparse *sp)
{
    return sp->size;
}

uint64_t io_sparse_bytes(const struct io_sparse *sp)
{
    return sp->live;
}

size_t io_sparse_extents(const struct io_sparse *sp)
{
    return sp->n;
}

bool io_sparse_extent(const struct io_sparse *sp, size_t i, uint64_t *off, uint64_t *len)
{
    if (i >= sp->n)
        return false;
    *off = sp->ext[i].off;
    *len = sp->ext[i].len;
    return true;
}

/* The first extent ending after x (sp->n when none does). */
static size_t find(const struct io_sparse *sp, uint64_t x)
{
    size_t lo = 0, hi = sp->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp->ext[mid].off + sp->ext[mid].len > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t io_sparse_hole_len(const struct io_sparse *sp, uint64_t off, uint64_t max)
{
    size_t i = find(sp, off);
    uint64_t end = sp->size;
    if (off >= end)
        return 0;
    if (i < sp->n) {
        if (sp->ext[i].off <= off)
            return 0;
        end = sp->ext[i].off < end ? sp->ext[i].off : end;
    }
    return end - off < max ? end - off : max;
}

/* Bytes the extents hold inside [a, b). */
static uint64_t covered(const struct io_sparse *sp, uint64_t a, uint64_t b)
{
    uint64_t sum = 0;
    for (size_t i = find(sp, a); i < sp->n && sp->ext[i].off < b; i++) {
        uint64_t s = sp->ext[i].off > a ? sp->ext[i].off : a;
        uint64_t e = sp->ext[i].off + sp->ext[i].len < b ? sp->ext[i].off + sp->ext[i].len : b;
        sum += e - s;
    }
    return sum;
}

static bool reserve_extents(struct io_sparse *sp, size_t more)
{
    size_t want = sp->n + more, cap;
    struct sp_extent *e;
    if (want <= sp->cap)
        return true;
    cap = sp->cap < 16 ? 16 : sp->cap * 2;
    while (cap < want)
        cap *= 2;
    e = realloc(sp->ext, cap * sizeof(*e));
    if (e == NULL)
        return false;
    sp->ext = e;
    sp->cap = cap;
    return true;
}

/* Copies the live bytes into the spare buffer, which becomes the arena. */
static void compact(struct io_sparse *sp)
{
    size_t at = 0, c;
    uint8_t *t;
    if (sp->frozen)
        return; /* the frozen extents name places in this arena */
    if (sp->spare_cap < sp->live) {
        t = realloc(sp->spare, (size_t)sp->live);
        if (t == NULL)
            return;
        sp->spare = t;
        sp->spare_cap = (size_t)sp->live;
    }
    for (size_t i = 0; i < sp->n; i++) {
        memcpy(sp->spare + at, sp->arena + sp->ext[i].at, (size_t)sp->ext[i].len);
        sp->ext[i].at = at;
        at += (size_t)sp->ext[i].len;
    }
    t = sp->arena;
    sp->arena = sp->spare;
    sp->spare = t;
    c = sp->arena_cap;
    sp->arena_cap = sp->spare_cap;
    sp->spare_cap = c;
    sp->used = at;
}

/* Room for len more arena bytes. */
static bool reserve_arena(struct io_sparse *sp, size_t len)
{
    size_t cap;
    uint8_t *a;
    if (sp->arena_cap - sp->used >= len)
        return true;
    if (sp->used - (size_t)sp->live > (size_t)sp->live + len) {
        compact(sp);
        if (sp->arena_cap - sp->used >= len)
            return true;
    }
    cap = sp->arena_cap < 65536 ? 65536 : sp->arena_cap * 2;
    while (cap - sp->used < len)
        cap *= 2;
    a = realloc(sp->arena, cap);
    if (a == NULL)
        return false;
    sp->arena = a;
    sp->arena_cap = cap;
    return true;
}

/*
 * Removes [a, b) from the extents and puts `add` (when not NULL) in its
 * place. Needs room for two more extents (a split).
 */
static void replace(struct io_sparse *sp, uint64_t a, uint64_t b, const struct sp_extent *add)
{
    size_t i = find(sp, a), j = i;
    struct sp_extent piece[3];
    size_t k = 0;
    while (j < sp->n && sp->ext[j].off < b)
        j++;
    if (j > i && sp->ext[i].off < a) {
        piece[k] = sp->ext[i];
        piece[k].len = a - sp->ext[i].off;
        k++;
    }
    if (add != NULL)
        piece[k++] = *add;
    if (j > i && sp->ext[j - 1].off + sp->ext[j - 1].len > b) {
        const struct sp_extent *e = &sp->ext[j - 1];
        piece[k].off = b;
        piece[k].len = e->off + e->len - b;
        piece[k].at = e->at + (size_t)(b - e->off);
        k++;
    }
    sp->live -= covered(sp, a, b);
    if (add != NULL)
        sp->live += add->len;
    if (k != j - i)
        memmove(sp->ext + i + k, sp->ext + j, (sp->n - j) * sizeof(*sp->ext));
    memcpy(sp->ext + i, piece, k * sizeof(*piece));
    sp->n = sp->n - (j - i) + k;
}

vhdx_status io_sparse_write(struct io_sparse *sp, const void *buf, size_t len, uint64_t off)
{
    size_t i;
    struct sp_extent add;
    if (len == 0)
        return VHDX_OK;
    if (off > UINT64_MAX - len)
        return VHDX_E_RANGE;
    /* Zeros are kept as a hole: they read the same and cost nothing to hold. */
    if (bytes_all_zero(buf, len))
        return io_sparse_zero(sp, off, len);
    i = find(sp, off);
    if (i < sp->n && sp->ext[i].off <= off && off + len <= sp->ext[i].off + sp->ext[i].len &&
        sp->ext[i].at >= sp->frozen_used) {
        memcpy(sp->arena + sp->ext[i].at + (size_t)(off - sp->ext[i].off), buf, len);
    } else {
        if (sp->max_bytes != 0 && sp->live - covered(sp, off, off + len) + len > sp->max_bytes)
            return VHDX_E_LIMIT;
        if (!reserve_extents(sp, 3) || !reserve_arena(sp, len))
            return VHDX_E_NOMEM;
        add.off = off;
        add.len = len;
        add.at = sp->used;
        memcpy(sp->arena + sp->used, buf, len);
        sp->used += len;
        replace(sp, off, off + len, &add);
        /* A run continuing the one before it, in the arena too, joins it. */
        i = find(sp, off);
        if (i > 0 && sp->ext[i - 1].off + sp->ext[i - 1].len == off &&
            sp->ext[i - 1].at + sp->ext[i - 1].len == add.at) {
            sp->ext[i - 1].len += len;
            memmove(sp->ext + i, sp->ext + i + 1, (sp->n - i - 1) * sizeof(*sp->ext));
            sp->n--;
        }
    }
    if (off + len > sp->size)
        sp->size = off + len;
    return VHDX_OK;
}

vhdx_status io_sparse_zero(struct io_sparse *sp, uint64_t off, uint64_t len)
{
    if (len == 0)
        return VHDX_OK;
    if (off > UINT64_MAX - len)
        return VHDX_E_RANGE;
    if (!reserve_extents(sp, 3))
        return VHDX_E_NOMEM;
    replace(sp, off, off + len, NULL);
    if (off + len > sp->size)
        sp->size = off + len;
    return VHDX_OK;
}

vhdx_status io_sparse_truncate(struct io_sparse *sp, uint64_t size)
{
    if (size < sp->size) {
        if (!reserve_extents(sp, 3))
            return VHDX_E_NOMEM;
        replace(sp, size, sp->size, NULL);
    }
    sp->size = size;
    return VHDX_OK;
}

/* ---- the vhdx_io ---- */

static vhdx_status sp_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct io_sparse *sp = ctx;
    uint8_t *out = buf;
    uint64_t end;
    size_t n, i;

    *got = 0;
    if (off >= sp->size || len == 0)
        return VHDX_OK;
    n = sp->size - off < len ? (size_t)(sp->size - off) : len;
    end = off + n;
    i = find(sp, off);
    for (uint64_t p = off; p < end;) {
        uint64_t q;
        if (i >= sp->n || sp->ext[i].off >= end) {
            memset(out + (p - off), 0, (size_t)(end - p));
            break;
        }
        if (sp->ext[i].off > p) {
            memset(out + (p - off), 0, (size_t)(sp->ext[i].off - p));
            p = sp->ext[i].off;
        }
        q = sp->ext[i].off + sp->ext[i].len < end ? sp->ext[i].off + sp->ext[i].len : end;
        memcpy(out + (p - off), sp->arena + sp->ext[i].at + (size_t)(p - sp->ext[i].off),
               (size_t)(q - p));
        p = q;
        i++;
    }
    *got = n;
    return VHDX_OK;
}

static vhdx_status sp_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    return io_sparse_write(ctx, buf, len, off);
}

static vhdx_status sp_zero(void *ctx, uint64_t off, uint64_t len)
{
    return io_sparse_zero(ctx, off, len);
}

static vhdx_status sp_truncate(void *ctx, uint64_t size)
{
    return io_sparse_truncate(ctx, size);
}

static vhdx_status sp_flush(void *ctx)
{
    (void)ctx;
    return VHDX_OK;
}

static vhdx_status sp_size(void *ctx, uint64_t *size)
{
    *size = io_sparse_size(ctx);
    return VHDX_OK;
}

void io_sparse_io(struct io_sparse *sp, bool writable, vhdx_io *out)
{
    memset(out, 0, sizeof(*out));
    out->ctx = sp;
    out->read = sp_read;
    out->size = sp_size;
    if (writable) {
        out->write = sp_write;
        out->zero = sp_zero;
        out->flush = sp_flush;
        out->truncate = sp_truncate;
    }
}

struct io_sparse *io_sparse_of(const vhdx_io *io)
{
    return io != NULL && io->read == sp_read ? io->ctx : NULL;
}
