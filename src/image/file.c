/*
 * File access for the image modules: reads that see the writer's pending
 * batch, the batch itself, and the seal of a created file (file.h).
 */
#include <string.h>

#include "base/checked.h"
#include "format/constants.h"
#include "image/file.h"
#include "image/image.h"

#define SIGNATURE_SECTOR 512u

/* Index of the first page whose offset is >= off. */
static size_t page_search(const struct file_batch *b, uint64_t off)
{
    size_t lo = 0, hi = b->npages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->pages[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void zero_ranges_patch(const struct file_batch *b, uint64_t off, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < b->nzeros; i++) {
        uint64_t a = b->zeros[i].off, e = a + b->zeros[i].len;
        uint64_t lo = a > off ? a : off, hi = e < off + len ? e : off + len;
        if (lo < hi)
            memset(buf + (lo - off), 0, (size_t)(hi - lo));
    }
}

/* The batch's pages and zero ranges over [off, off + len) of the file, copied over buf. */
static void batch_patch(const struct file_batch *b, uint64_t off, uint8_t *out, size_t len)
{
    uint64_t end;
    if (len == 0 || (b->npages == 0 && b->nzeros == 0))
        return;
    if (!ck_add_u64(off, len, &end))
        return;
    zero_ranges_patch(b, off, out, len);
    for (size_t i = page_search(b, off & ~(uint64_t)(FILE_PAGE - 1)); i < b->npages; i++) {
        uint64_t a = b->pages[i].off, e = a + FILE_PAGE;
        uint64_t lo, hi;
        if (a >= end)
            break;
        lo = a > off ? a : off;
        hi = e < end ? e : end;
        if (lo < hi)
            memcpy(out + (lo - off), b->pages[i].data + (lo - a), (size_t)(hi - lo));
    }
}

vhdx_status image_read_exact(struct vhdx_image *img, uint64_t off, void *buf, size_t len)
{
    size_t got = 0;
    vhdx_status st;
    if (img->io.read == NULL)
        return VHDX_E_IO;
    st = img->io.read(img->io.ctx, buf, len, off, &got);
    if (st != VHDX_OK)
        return VHDX_E_IO;
    if (got != len)
        return VHDX_E_TRUNCATED;
    batch_patch(&img->batch, off, buf, len);
    return VHDX_OK;
}

vhdx_status file_batch_page(struct vhdx_image *img, uint64_t page_off, uint8_t **out)
{
    struct file_batch *b = &img->batch;
    size_t i = page_search(b, page_off), got = 0;
    uint8_t *data;
    vhdx_status st;

    if (i < b->npages && b->pages[i].off == page_off) {
        *out = b->pages[i].data;
        return VHDX_OK;
    }
    if (b->npages >= b->max_pages)
        return VHDX_E_LIMIT; /* the writer reserves room first: a bug, never reached */
    if (b->npages == b->cap) {
        size_t ncap = b->cap == 0 ? 16 : b->cap * 2;
        struct file_page *np;
        if (ncap > b->max_pages)
            ncap = b->max_pages;
        np = acct_alloc(&img->acct, ncap * sizeof(*np), &st);
        if (np == NULL)
            return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
        if (b->npages != 0)
            memcpy(np, b->pages, b->npages * sizeof(*np));
        acct_free(&img->acct, b->pages, b->cap * sizeof(*b->pages));
        b->pages = np;
        b->cap = ncap;
    }
    data = acct_alloc(&img->acct, FILE_PAGE, &st);
    if (data == NULL)
        return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
    if (img->io.read(img->io.ctx, data, FILE_PAGE, page_off, &got) != VHDX_OK) {
        acct_free(&img->acct, data, FILE_PAGE);
        img->failed = true;
        return VHDX_E_IO;
    }
    if (got < FILE_PAGE)
        memset(data + got, 0, FILE_PAGE - got);
    zero_ranges_patch(b, page_off, data, FILE_PAGE);
    memmove(&b->pages[i + 1], &b->pages[i], (b->npages - i) * sizeof(*b->pages));
    b->pages[i].off = page_off;
    b->pages[i].data = data;
    b->npages++;
    *out = data;
    return VHDX_OK;
}

vhdx_status file_batch_write(struct vhdx_image *img, uint64_t off, const void *src, size_t len)
{
    const uint8_t *in = src;
    while (len > 0) {
        uint64_t page_off = off & ~(uint64_t)(FILE_PAGE - 1);
        size_t at = (size_t)(off - page_off), n = FILE_PAGE - at;
        uint8_t *page;
        vhdx_status st = file_batch_page(img, page_off, &page);
        if (st != VHDX_OK)
            return st;
        if (n > len)
            n = len;
        memcpy(page + at, in, n);
        in += n;
        off += n;
        len -= n;
    }
    return VHDX_OK;
}

vhdx_status file_batch_zero(struct vhdx_image *img, uint64_t off, uint64_t len)
{
    struct file_batch *b = &img->batch;
    if (len == 0)
        return VHDX_OK;
    if (b->nzeros == FILE_BATCH_ZERO_RANGES || (off % FILE_PAGE) != 0 || (len % FILE_PAGE) != 0)
        return VHDX_E_INVALID_ARG;
    b->zeros[b->nzeros].off = off;
    b->zeros[b->nzeros].len = len;
    b->nzeros++;
    return VHDX_OK;
}

void file_batch_clear(struct vhdx_image *img)
{
    struct file_batch *b = &img->batch;
    for (size_t i = 0; i < b->npages; i++)
        acct_free(&img->acct, b->pages[i].data, FILE_PAGE);
    b->npages = 0;
    b->nzeros = 0;
}

void file_batch_free(struct vhdx_image *img)
{
    struct file_batch *b = &img->batch;
    file_batch_clear(img);
    acct_free(&img->acct, b->pages, b->cap * sizeof(*b->pages));
    b->pages = NULL;
    b->cap = 0;
}

vhdx_status image_seal(vhdx_io *io)
{
    uint8_t sig[SIGNATURE_SECTOR];
    size_t got = 0;

    /* Everything else durable first: only then may the file become an image. */
    if (io->flush(io->ctx) != VHDX_OK)
        return VHDX_E_IO;
    if (io->read(io->ctx, sig, sizeof(sig), 0, &got) != VHDX_OK || got != sizeof(sig))
        return VHDX_E_IO;
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): on-disk bytes, not a string */
    memcpy(sig, VHDX_SIG_FILE, 8);
    if (io->write(io->ctx, sig, sizeof(sig), 0) != VHDX_OK || io->flush(io->ctx) != VHDX_OK)
        return VHDX_E_IO;
    return VHDX_OK;
}
