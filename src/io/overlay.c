#include "io/overlay.h"

#include <string.h>

#include "base/checked.h"

#define PAGE_SHIFT 12

_Static_assert(IO_OVERLAY_PAGE_SIZE == 1u << PAGE_SHIFT, "page size and shift disagree");

struct page_ref {
    uint64_t no; /* page number: byte offset >> PAGE_SHIFT */
    uint8_t *data;
};

struct overlay {
    /* Only the base's read is kept: nothing here can write to it. */
    void *base_ctx;
    vhdx_status (*base_read)(void *ctx, void *buf, size_t len, uint64_t off, size_t *got);
    struct alloc_acct *acct;
    uint64_t max_bytes;
    struct page_ref *pages; /* sorted by no, no duplicates */
    size_t count;
    size_t cap;
    uint64_t size;         /* the logical size of the view */
    uint64_t base_visible; /* base bytes at or past this offset read as zeros */
};

/*
 * Invariants: base_visible <= size, and every page byte at or past size is
 * zero. So growing the size (by write or truncate) exposes zeros only.
 */

/* The first index whose page number is >= no (count when there is none). */
static size_t lower_bound(const struct overlay *o, uint64_t no)
{
    size_t lo = 0, hi = o->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->pages[mid].no < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* What the view holds at [off, off + len) where no page covers it. */
static vhdx_status fill_under(const struct overlay *o, uint8_t *buf, uint64_t off, size_t len)
{
    size_t from_base = 0, done = 0;

    if (off < o->base_visible) {
        uint64_t avail = o->base_visible - off;
        from_base = len < avail ? len : (size_t)avail;
    }
    while (done < from_base) {
        size_t got = 0, want = from_base - done;
        vhdx_status st = o->base_read(o->base_ctx, buf + done, want, off + done, &got);
        if (st != VHDX_OK)
            return st;
        if (got > want)
            return VHDX_E_IO;
        /* The base ended early (it shrank under us): the rest reads as zeros. */
        if (got == 0)
            break;
        done += got;
    }
    memset(buf + done, 0, len - done);
    return VHDX_OK;
}

static vhdx_status overlay_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct overlay *o = ctx;
    uint8_t *out = buf;
    size_t n, done = 0;
    uint64_t avail;

    *got = 0;
    if (off >= o->size)
        return VHDX_OK;
    avail = o->size - off;
    n = len < avail ? len : (size_t)avail;
    while (done < n) {
        uint64_t pos = off + done;
        uint64_t no = pos >> PAGE_SHIFT;
        size_t idx = lower_bound(o, no);
        size_t k;

        if (idx < o->count && o->pages[idx].no == no) {
            size_t in_page = (size_t)(pos & (IO_OVERLAY_PAGE_SIZE - 1));
            k = IO_OVERLAY_PAGE_SIZE - in_page;
            if (k > n - done)
                k = n - done;
            memcpy(out + done, o->pages[idx].data + in_page, k);
        } else {
            /* Up to the next page held (no << PAGE_SHIFT cannot overflow), in one piece. */
            uint64_t next = idx < o->count ? o->pages[idx].no << PAGE_SHIFT : UINT64_MAX;
            uint64_t gap = next - pos;
            vhdx_status st;
            k = n - done;
            if (gap < k)
                k = (size_t)gap;
            st = fill_under(o, out + done, pos, k);
            if (st != VHDX_OK)
                return st;
        }
        done += k;
    }
    *got = n;
    return VHDX_OK;
}

/* Doubles the index's capacity (64 entries at first). */
static vhdx_status index_grow(struct overlay *o)
{
    size_t new_cap = 64;
    struct page_ref *grown;
    vhdx_status st;

    if (o->cap != 0 && __builtin_mul_overflow(o->cap, (size_t)2, &new_cap))
        return VHDX_E_OVERFLOW;
    grown = acct_alloc_array(o->acct, new_cap, sizeof(*grown), &st);
    if (grown == NULL)
        return st;
    if (o->count > 0)
        memcpy(grown, o->pages, o->count * sizeof(*grown));
    acct_free(o->acct, o->pages, o->cap * sizeof(*o->pages));
    o->pages = grown;
    o->cap = new_cap;
    return VHDX_OK;
}

/* Makes sure page `no` is held, copying what the view shows there now. */
static vhdx_status page_make(struct overlay *o, uint64_t no)
{
    size_t idx = lower_bound(o, no);
    uint64_t page_bytes;
    uint8_t *data;
    vhdx_status st;

    if (idx < o->count && o->pages[idx].no == no)
        return VHDX_OK;
    if (o->max_bytes != 0 &&
        (!ck_mul_u64((uint64_t)o->count + 1, IO_OVERLAY_PAGE_SIZE, &page_bytes) ||
         page_bytes > o->max_bytes))
        return VHDX_E_LIMIT;

    data = acct_alloc(o->acct, IO_OVERLAY_PAGE_SIZE, &st);
    if (data == NULL)
        return st;
    st = fill_under(o, data, no << PAGE_SHIFT, IO_OVERLAY_PAGE_SIZE);
    if (st != VHDX_OK) {
        acct_free(o->acct, data, IO_OVERLAY_PAGE_SIZE);
        return st;
    }

    if (o->count == o->cap) {
        st = index_grow(o);
        if (st != VHDX_OK) {
            acct_free(o->acct, data, IO_OVERLAY_PAGE_SIZE);
            return st;
        }
    }
    memmove(o->pages + idx + 1, o->pages + idx, (o->count - idx) * sizeof(*o->pages));
    o->pages[idx].no = no;
    o->pages[idx].data = data;
    o->count++;
    return VHDX_OK;
}

static vhdx_status overlay_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct overlay *o = ctx;
    const uint8_t *in = buf;
    uint64_t end, first, last, pos;
    size_t done = 0;

    if (len == 0)
        return VHDX_OK;
    if (!ck_add_u64(off, len, &end))
        return VHDX_E_RANGE;
    first = off >> PAGE_SHIFT;
    last = (end - 1) >> PAGE_SHIFT;

    /*
     * First hold every page the write touches. Making a page does not change
     * what the view shows, so a failure here leaves the view as it was.
     */
    for (uint64_t no = first;; no++) {
        vhdx_status st = page_make(o, no);
        if (st != VHDX_OK)
            return st;
        if (no == last)
            break;
    }
    for (pos = off; done < len;) {
        size_t idx = lower_bound(o, pos >> PAGE_SHIFT);
        size_t in_page = (size_t)(pos & (IO_OVERLAY_PAGE_SIZE - 1));
        size_t k = IO_OVERLAY_PAGE_SIZE - in_page;
        if (NEVER(idx >= o->count || o->pages[idx].no != pos >> PAGE_SHIFT))
            return VHDX_E_IO;
        if (k > len - done)
            k = len - done;
        memcpy(o->pages[idx].data + in_page, in + done, k);
        done += k;
        pos += k;
    }
    if (end > o->size)
        o->size = end;
    return VHDX_OK;
}

static vhdx_status overlay_flush(void *ctx)
{
    (void)ctx;
    return VHDX_OK;
}

static vhdx_status overlay_size(void *ctx, uint64_t *size)
{
    const struct overlay *o = ctx;
    *size = o->size;
    return VHDX_OK;
}

static vhdx_status overlay_truncate(void *ctx, uint64_t size)
{
    struct overlay *o = ctx;

    if (size < o->size) {
        /* The first page lying wholly at or past the new size. */
        uint64_t keep = (size >> PAGE_SHIFT) + ((size & (IO_OVERLAY_PAGE_SIZE - 1)) != 0);
        size_t idx = lower_bound(o, keep);
        size_t tail_idx;

        for (size_t i = idx; i < o->count; i++)
            acct_free(o->acct, o->pages[i].data, IO_OVERLAY_PAGE_SIZE);
        o->count = idx;
        /* Keep the invariant: page bytes past the size are zero. */
        if ((size & (IO_OVERLAY_PAGE_SIZE - 1)) != 0) {
            tail_idx = lower_bound(o, size >> PAGE_SHIFT);
            if (tail_idx < o->count && o->pages[tail_idx].no == size >> PAGE_SHIFT) {
                size_t in_page = (size_t)(size & (IO_OVERLAY_PAGE_SIZE - 1));
                memset(o->pages[tail_idx].data + in_page, 0, IO_OVERLAY_PAGE_SIZE - in_page);
            }
        }
        if (size < o->base_visible)
            o->base_visible = size;
    }
    o->size = size;
    return VHDX_OK;
}

static void overlay_close(void *ctx)
{
    struct overlay *o = ctx;
    struct alloc_acct *acct;

    if (o == NULL)
        return;
    acct = o->acct;
    for (size_t i = 0; i < o->count; i++)
        acct_free(acct, o->pages[i].data, IO_OVERLAY_PAGE_SIZE);
    acct_free(acct, o->pages, o->cap * sizeof(*o->pages));
    acct_free(acct, o, sizeof(*o));
}

vhdx_status io_overlay_create(const vhdx_io *base, struct alloc_acct *acct, uint64_t max_bytes,
                              vhdx_io *out)
{
    struct overlay *o;
    uint64_t base_size = 0;
    vhdx_status st;

    if (out == NULL)
        return VHDX_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (base == NULL || acct == NULL || base->read == NULL || base->size == NULL)
        return VHDX_E_INVALID_ARG;
    st = base->size(base->ctx, &base_size);
    if (st != VHDX_OK)
        return st;
    o = acct_alloc(acct, sizeof(*o), &st);
    if (o == NULL)
        return st;
    o->base_ctx = base->ctx;
    o->base_read = base->read;
    o->acct = acct;
    o->max_bytes = max_bytes;
    o->size = base_size;
    o->base_visible = base_size;

    out->ctx = o;
    out->read = overlay_read;
    out->write = overlay_write;
    out->flush = overlay_flush;
    out->size = overlay_size;
    out->truncate = overlay_truncate;
    out->close = overlay_close;
    return VHDX_OK;
}

size_t io_overlay_pages(const vhdx_io *overlay)
{
    const struct overlay *o;

    if (overlay == NULL || overlay->read != overlay_read || overlay->ctx == NULL)
        return 0;
    o = overlay->ctx;
    return o->count;
}

bool io_overlay_page_offset(const vhdx_io *overlay, size_t i, uint64_t *offset)
{
    const struct overlay *o;

    if (overlay == NULL || overlay->read != overlay_read || overlay->ctx == NULL)
        return false;
    o = overlay->ctx;
    if (i >= o->count)
        return false;
    *offset = o->pages[i].no * IO_OVERLAY_PAGE_SIZE;
    return true;
}
