#include "io/replaymap.h"

#include <string.h>

#include "base/checked.h"
#include "base/endian.h"

struct replaymap {
    void *base_ctx;
    vhdx_status (*base_read)(void *ctx, void *buf, size_t len, uint64_t off, size_t *got);
    struct alloc_acct *acct;
    struct io_replay_extent *ext; /* sorted by start, disjoint */
    size_t count;
    uint64_t size;
};

static uint64_t ext_end(const struct io_replay_extent *e)
{
    return e->start + e->length; /* checked when the range was added */
}

/* ---- Building ---- */

vhdx_status io_replaymap_builder_init(struct io_replaymap_builder *b, struct alloc_acct *acct,
                                      size_t cap)
{
    vhdx_status st = VHDX_OK;

    memset(b, 0, sizeof(*b));
    b->acct = acct;
    if (cap == 0)
        return VHDX_OK;
    b->ext = acct_alloc_array(acct, cap, sizeof(*b->ext), &st);
    if (b->ext == NULL)
        return st;
    b->cap = cap;
    return VHDX_OK;
}

vhdx_status io_replaymap_add(struct io_replaymap_builder *b, uint64_t start, uint64_t length,
                             uint64_t source, uint64_t leading, uint32_t trailing)
{
    struct io_replay_extent *e;
    uint64_t end;

    if (start % IO_REPLAY_SECTOR != 0 || length % IO_REPLAY_SECTOR != 0 ||
        (source != IO_REPLAY_ZERO && length != IO_REPLAY_SECTOR) ||
        !ck_add_u64(start, length, &end))
        return VHDX_E_INVALID_ARG;
    if (length == 0)
        return VHDX_OK;
    if (b->count >= b->cap || b->count >= UINT32_MAX)
        return VHDX_E_INVALID_ARG;
    e = &b->ext[b->count];
    e->start = start;
    e->length = length;
    e->source = source;
    e->leading = source == IO_REPLAY_ZERO ? 0 : leading;
    e->trailing = source == IO_REPLAY_ZERO ? 0 : trailing;
    e->order = (uint32_t)b->count++;
    return VHDX_OK;
}

void io_replaymap_builder_free(struct io_replaymap_builder *b)
{
    if (b->acct != NULL)
        acct_free(b->acct, b->ext, b->cap * sizeof(*b->ext));
    memset(b, 0, sizeof(*b));
}

/* Order by start, then by replay order. */
static bool ext_less(const struct io_replay_extent *a, const struct io_replay_extent *b)
{
    return a->start < b->start || (a->start == b->start && a->order < b->order);
}

/*
 * In-place heapsort: no allocation (qsort may take a hidden buffer as large
 * as the array, outside the memory limit), O(n log n) whatever the input.
 */
static void sift_down(struct io_replay_extent *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1, big = root;
        struct io_replay_extent t;
        if (child < n && ext_less(&a[big], &a[child]))
            big = child;
        if (child + 1 < n && ext_less(&a[big], &a[child + 1]))
            big = child + 1;
        if (big == root)
            return;
        t = a[root];
        a[root] = a[big];
        a[big] = t;
        root = big;
    }
}

static void sort_extents(struct io_replay_extent *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end > 1; end--) {
        struct io_replay_extent t = a[0];
        a[0] = a[end - 1];
        a[end - 1] = t;
        sift_down(a, 0, end - 1);
    }
}

/* Index heaps for the sweep: `ends` sorted by end, `active` a max-heap by replay order. */
struct sweep {
    const struct io_replay_extent *ext;
    size_t n;
    uint32_t *by_end;
    uint32_t *heap;
    size_t heap_len;
};

static void by_end_sift(const struct sweep *s, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1, big = root;
        uint32_t t;
        if (child < n && ext_end(&s->ext[s->by_end[big]]) < ext_end(&s->ext[s->by_end[child]]))
            big = child;
        if (child + 1 < n &&
            ext_end(&s->ext[s->by_end[big]]) < ext_end(&s->ext[s->by_end[child + 1]]))
            big = child + 1;
        if (big == root)
            return;
        t = s->by_end[root];
        s->by_end[root] = s->by_end[big];
        s->by_end[big] = t;
        root = big;
    }
}

static void sort_by_end(struct sweep *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->by_end[i] = (uint32_t)i;
    for (size_t i = s->n / 2; i-- > 0;)
        by_end_sift(s, i, s->n);
    for (size_t end = s->n; end > 1; end--) {
        uint32_t t = s->by_end[0];
        s->by_end[0] = s->by_end[end - 1];
        s->by_end[end - 1] = t;
        by_end_sift(s, 0, end - 1);
    }
}

static uint32_t heap_order(const struct sweep *s, size_t i)
{
    return s->ext[s->heap[i]].order;
}

static void heap_push(struct sweep *s, uint32_t idx)
{
    size_t i = s->heap_len++;
    s->heap[i] = idx;
    while (i > 0 && heap_order(s, (i - 1) / 2) < heap_order(s, i)) {
        uint32_t t = s->heap[i];
        s->heap[i] = s->heap[(i - 1) / 2];
        s->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static void heap_pop(struct sweep *s)
{
    size_t i = 0;
    s->heap[0] = s->heap[--s->heap_len];
    for (;;) {
        size_t child = 2 * i + 1, big = i;
        uint32_t t;
        if (child < s->heap_len && heap_order(s, big) < heap_order(s, child))
            big = child;
        if (child + 1 < s->heap_len && heap_order(s, big) < heap_order(s, child + 1))
            big = child + 1;
        if (big == i)
            return;
        t = s->heap[i];
        s->heap[i] = s->heap[big];
        s->heap[big] = t;
        i = big;
    }
}

/*
 * The sweep: at each point where a range starts or ends, the range that
 * covers the point with the highest replay order owns the view up to the
 * next such point. Writes the resolved pieces to out (when not NULL) and
 * returns how many there are; consecutive pieces of one range are merged.
 * Every end is a multiple of 4096 and a data range is one sector, so a data
 * range is never cut: it is whole or hidden.
 */
static size_t sweep_run(struct sweep *s, struct io_replay_extent *out)
{
    size_t si = 0, ei = 0, count = 0;
    uint64_t x;
    uint32_t last_owner = UINT32_MAX;
    uint64_t last_end = 0;

    s->heap_len = 0;
    if (s->n == 0)
        return 0;
    x = s->ext[0].start;
    for (;;) {
        uint64_t nx;
        uint32_t owner;
        while (si < s->n && s->ext[si].start == x)
            heap_push(s, (uint32_t)si++);
        while (ei < s->n && ext_end(&s->ext[s->by_end[ei]]) <= x)
            ei++;
        while (s->heap_len > 0 && ext_end(&s->ext[s->heap[0]]) <= x)
            heap_pop(s);
        if (s->heap_len == 0) {
            if (si == s->n)
                break;
            x = s->ext[si].start;
            continue;
        }
        /* A range covers x, so one ends after x: ei < n. */
        nx = ext_end(&s->ext[s->by_end[ei]]);
        if (si < s->n && s->ext[si].start < nx)
            nx = s->ext[si].start;
        owner = s->heap[0];
        if (owner == last_owner && last_end == x && count > 0) {
            if (out != NULL)
                out[count - 1].length += nx - x;
        } else {
            if (out != NULL) {
                out[count] = s->ext[owner];
                out[count].start = x;
                out[count].length = nx - x;
            }
            count++;
        }
        last_owner = owner;
        last_end = nx;
        x = nx;
    }
    return count;
}

/* Sorts the ranges and resolves their overlaps; on success b->ext is sorted and disjoint. */
static vhdx_status resolve(struct io_replaymap_builder *b)
{
    struct sweep s;
    struct io_replay_extent *out;
    vhdx_status st = VHDX_OK;
    size_t n = b->count, m;
    bool overlap = false;

    sort_extents(b->ext, n);
    for (size_t i = 0; i + 1 < n && !overlap; i++)
        overlap = ext_end(&b->ext[i]) > b->ext[i + 1].start;
    if (!overlap)
        return VHDX_OK;

    memset(&s, 0, sizeof(s));
    s.ext = b->ext;
    s.n = n;
    s.by_end = acct_alloc_array(b->acct, n, sizeof(*s.by_end), &st);
    if (s.by_end != NULL)
        s.heap = acct_alloc_array(b->acct, n, sizeof(*s.heap), &st);
    if (s.heap == NULL) {
        acct_free(b->acct, s.by_end, n * sizeof(*s.by_end));
        return st;
    }
    sort_by_end(&s);
    m = sweep_run(&s, NULL);
    out = acct_alloc_array(b->acct, m, sizeof(*out), &st);
    if (out != NULL) {
        size_t again = sweep_run(&s, out);
        if (NEVER(again != m))
            st = VHDX_E_INVALID_ARG;
    }
    acct_free(b->acct, s.heap, n * sizeof(*s.heap));
    acct_free(b->acct, s.by_end, n * sizeof(*s.by_end));
    if (out == NULL || st != VHDX_OK) {
        acct_free(b->acct, out, m * sizeof(*out));
        return st;
    }
    acct_free(b->acct, b->ext, b->cap * sizeof(*b->ext));
    b->ext = out;
    b->count = b->cap = m;
    return VHDX_OK;
}

/* ---- The view ---- */

/* The first range whose end is past off (count when there is none). */
static size_t first_after(const struct replaymap *m, uint64_t off)
{
    size_t lo = 0, hi = m->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ext_end(&m->ext[mid]) <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* len bytes of the base at off; zeros past its end. */
static vhdx_status base_fill(const struct replaymap *m, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        size_t got = 0, want = len - done;
        vhdx_status st = m->base_read(m->base_ctx, buf + done, want, off + done, &got);
        if (st != VHDX_OK)
            return st;
        if (got > want)
            return VHDX_E_IO;
        if (got == 0)
            break; /* the base ends here: the rest reads as zeros */
        done += got;
    }
    memset(buf + done, 0, len - done);
    return VHDX_OK;
}

/* Puts the descriptor's bytes 0-7 and 4092-4095 of the sector at s over buf = view [from, to). */
static void patch_ends(const struct io_replay_extent *e, uint8_t *buf, uint64_t from, uint64_t to)
{
    uint8_t lead[8], trail[4];
    le64_store_no_bounds_check(lead, e->leading);
    le32_store_no_bounds_check(trail, e->trailing);
    for (uint64_t k = 0; k < 8; k++)
        if (e->start + k >= from && e->start + k < to)
            buf[e->start + k - from] = lead[k];
    for (uint64_t k = 0; k < 4; k++)
        if (e->start + 4092 + k >= from && e->start + 4092 + k < to)
            buf[e->start + 4092 + k - from] = trail[k];
}

static vhdx_status replaymap_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct replaymap *m = ctx;
    uint8_t *out = buf;
    uint64_t end, pos;
    size_t i;

    *got = 0;
    if (off >= m->size || len == 0)
        return VHDX_OK;
    end = m->size - off < len ? m->size : off + len;
    pos = off;
    i = first_after(m, off);
    while (pos < end) {
        const struct io_replay_extent *e = i < m->count ? &m->ext[i] : NULL;
        vhdx_status st;
        if (e == NULL || e->start >= end) {
            st = base_fill(m, out + (pos - off), (size_t)(end - pos), pos);
            if (st != VHDX_OK)
                return st;
            pos = end;
        } else if (e->start > pos) {
            st = base_fill(m, out + (pos - off), (size_t)(e->start - pos), pos);
            if (st != VHDX_OK)
                return st;
            pos = e->start;
        } else if (e->source == IO_REPLAY_ZERO) {
            uint64_t stop = ext_end(e) < end ? ext_end(e) : end;
            memset(out + (pos - off), 0, (size_t)(stop - pos));
            pos = stop;
            i++;
        } else {
            /* A run of data sectors that follow each other in the view and in the log: one read. */
            size_t j = i + 1;
            uint64_t stop;
            while (j < m->count && m->ext[j].start < end && m->ext[j].source != IO_REPLAY_ZERO &&
                   m->ext[j].start == ext_end(&m->ext[j - 1]) &&
                   m->ext[j].source == m->ext[j - 1].source + IO_REPLAY_SECTOR)
                j++;
            stop = ext_end(&m->ext[j - 1]) < end ? ext_end(&m->ext[j - 1]) : end;
            st = base_fill(m, out + (pos - off), (size_t)(stop - pos), e->source + (pos - e->start));
            if (st != VHDX_OK)
                return st;
            for (size_t k = i; k < j; k++)
                patch_ends(&m->ext[k], out + (pos - off), pos, stop);
            pos = stop;
            i = j;
        }
    }
    *got = (size_t)(end - off);
    return VHDX_OK;
}

static vhdx_status replaymap_size(void *ctx, uint64_t *size)
{
    const struct replaymap *m = ctx;
    *size = m->size;
    return VHDX_OK;
}

static void replaymap_close(void *ctx)
{
    struct replaymap *m = ctx;
    struct alloc_acct *acct;
    if (m == NULL)
        return;
    acct = m->acct;
    acct_free(acct, m->ext, m->count * sizeof(*m->ext));
    acct_free(acct, m, sizeof(*m));
}

vhdx_status io_replaymap_create(struct io_replaymap_builder *b, const vhdx_io *base,
                                uint64_t size, vhdx_io *out)
{
    struct replaymap *m;
    vhdx_status st = VHDX_OK;

    memset(out, 0, sizeof(*out));
    if (b == NULL || b->acct == NULL || base == NULL || base->read == NULL) {
        if (b != NULL)
            io_replaymap_builder_free(b);
        return VHDX_E_INVALID_ARG;
    }
    st = resolve(b);
    if (st == VHDX_OK && b->count < b->cap) {
        /* Give back the room of ranges that were never added or were merged away. */
        struct io_replay_extent *fit = NULL;
        if (b->count > 0)
            fit = acct_alloc_array(b->acct, b->count, sizeof(*fit), &st);
        if (st == VHDX_OK) {
            if (b->count > 0)
                memcpy(fit, b->ext, b->count * sizeof(*fit));
            acct_free(b->acct, b->ext, b->cap * sizeof(*b->ext));
            b->ext = fit;
            b->cap = b->count;
        }
    }
    m = st == VHDX_OK ? acct_alloc(b->acct, sizeof(*m), &st) : NULL;
    if (m == NULL) {
        io_replaymap_builder_free(b);
        return st;
    }
    m->base_ctx = base->ctx;
    m->base_read = base->read;
    m->acct = b->acct;
    m->ext = b->ext;
    m->count = b->count;
    m->size = size;
    memset(b, 0, sizeof(*b)); /* the view owns the records now */
    out->ctx = m;
    out->read = replaymap_read;
    out->size = replaymap_size;
    out->close = replaymap_close;
    return VHDX_OK;
}

size_t io_replaymap_extents(const vhdx_io *io)
{
    if (io == NULL || io->read != replaymap_read || io->ctx == NULL)
        return 0;
    return ((const struct replaymap *)io->ctx)->count;
}

const struct io_replay_extent *io_replaymap_extent(const vhdx_io *io, size_t i)
{
    const struct replaymap *m;
    if (io == NULL || io->read != replaymap_read || io->ctx == NULL)
        return NULL;
    m = io->ctx;
    return i < m->count ? &m->ext[i] : NULL;
}
