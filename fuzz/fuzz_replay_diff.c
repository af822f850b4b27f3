/*
 * Differential replay: the production engine (vhdx_replay, src/image/log.c)
 * and the reference engine (src/refreplay) on the same dirty file, each
 * into its own in-memory overlay. Any disagreement aborts: one accepting
 * where the other rejects, different rejections, or different bytes after
 * replay (outside the headers' FileWriteGuid and checksum, which differ by
 * design: docs/REPLAY.md).
 *
 * The production engine's read-only view (the extent map of io/replaymap,
 * what every read-only open of a dirty image reads) must hold the same
 * bytes as the reference's replay too, the two headers aside (a view does
 * not update them).
 *
 * The file is a fixed valid image (tests/dirty_images shape "one-entry")
 * with its log region replaced from the input, and the current header's
 * log fields optionally taken from it:
 *   byte 0      flags: bit 0 LogGuid from bytes 1-16 (else the image's),
 *               bit 1 LogVersion = byte 17, bit 2 LogLength = 2 MiB,
 *               bit 3 LogOffset = 4 MiB
 *   bytes 1-17  as above
 *   then        records: u32 log offset (taken mod LogLength), u16 length,
 *               that many bytes, written into the log region in order.
 *
 * Speed (fuzz/CAMPAIGNS.md): the file was a copy of the whole base image
 * per input, and the comparisons read every page of it on each side. Now
 * the file is a sparse store (src/io/sparse.h) holding the base image's
 * non-zero 4 KiB pages, frozen once and rewound per input, and the sweeps
 * of the file visit the pages the store holds data in (the base's non-zero
 * pages, the header and the input's records) instead of every page: a page
 * neither overlay (nor the view's extents) holds is read from the same
 * store on both sides, so where the store is a hole both read zeros, as a
 * truncate past it does. The comparisons are as strong as before. Both
 * engines and the overlays allocate through the pooling allocator of
 * fuzz_pool.h (ref_replay_set_allocator), so the 1-2 MiB log buffers are
 * not fresh mappings for each input.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "dirty_images.h"
#include "format/constants.h"
#include "format/header.h"
#include "fuzz_common.h"
#include "fuzz_pool.h"
#include "image/log.h"
#include "io/overlay.h"
#include "io/replaymap.h"
#include "io/sparse.h"
#include "refreplay/outcome.h"
#include "refreplay/ref_replay.h"
#include "vhdx.h"

#define HEADER_BYTES 18u
#define OVERLAY_CAP (16u << 20)

static struct dirty_image base;
static bool base_ready;
static struct io_sparse *file; /* the base image's non-zero pages, frozen */
static size_t file_len;

static void init_base(void)
{
    static const uint8_t zeros[4096];
    if (base_ready)
        return;
    if (dirty_build(0, &base) != 0)
        abort();
    file_len = base.img.len;
    file = io_sparse_new(0);
    if (file == NULL || io_sparse_truncate(file, file_len) != VHDX_OK)
        abort();
    for (size_t off = 0; off < file_len; off += 4096) {
        size_t n = file_len - off < 4096 ? file_len - off : 4096;
        if (memcmp(base.img.data + off, zeros, n) != 0 &&
            io_sparse_write(file, base.img.data + off, n, off) != VHDX_OK)
            abort();
    }
    if (io_sparse_freeze(file) != VHDX_OK)
        abort();
    ref_replay_set_allocator(&FUZZ_POOL);
    base_ready = true;
}

/* The pages of the file holding data (the rest is holes). */
static size_t file_pages(uint64_t *first, uint64_t *count, size_t i)
{
    uint64_t off = 0, len = 0;
    if (!io_sparse_extent(file, i, &off, &len))
        return 0;
    *first = off / 4096 * 4096;
    *count = (off + len - *first + 4095) / 4096;
    return 1;
}

static void read_page(const vhdx_io *io, uint64_t off, uint8_t *buf, size_t n)
{
    size_t got = 0;
    FUZZ_CHECK(io->read(io->ctx, buf, n, off, &got) == VHDX_OK);
    if (got < n)
        memset(buf + got, 0, n - got);
}

/* Both overlays hold the same file, headers' FileWriteGuid and checksum aside. */
static void compare(const vhdx_io *a, const vhdx_io *b)
{
    static uint8_t pa[4096], pb[4096];
    uint64_t sa = 0, sb = 0, off;
    FUZZ_CHECK(a->size(a->ctx, &sa) == VHDX_OK && b->size(b->ctx, &sb) == VHDX_OK);
    FUZZ_CHECK(sa == sb);
    /*
     * Every page either overlay holds, and every page the file holds data
     * in (elsewhere both read the same hole: zeros).
     */
    for (int side = 0; side < 3; side++) {
        size_t n = side == 2 ? io_sparse_extents(file) : io_overlay_pages(side == 0 ? a : b);
        for (size_t i = 0; i < n; i++) {
            uint64_t first = 0, count = 1;
            if (side == 2)
                (void)file_pages(&first, &count, i);
            else if (!io_overlay_page_offset(side == 0 ? a : b, i, &first))
                abort();
            for (uint64_t k = 0; k < count; k++) {
                off = first + k * 4096;
                if (off >= sa)
                    continue;
                read_page(a, off, pa, 4096);
                read_page(b, off, pb, 4096);
                if (off == VHDX_HEADER1_OFFSET || off == VHDX_HEADER2_OFFSET) {
                    memset(pa + 4, 0, 4);
                    memset(pb + 4, 0, 4);
                    memset(pa + 16, 0, 16);
                    memset(pb + 16, 0, 16);
                }
                FUZZ_CHECK(memcmp(pa, pb, 4096) == 0);
            }
        }
    }
}

static bool header_page(uint64_t off)
{
    return off >= VHDX_HEADER1_OFFSET && off < VHDX_HEADER2_OFFSET + 4096;
}

static void compare_view_page(const vhdx_io *view, const vhdx_io *ref, uint64_t off,
                              uint64_t size)
{
    static uint8_t pa[4096], pb[4096];
    if (off >= size || header_page(off))
        return;
    read_page(view, off, pa, 4096);
    read_page(ref, off, pb, 4096);
    FUZZ_CHECK(memcmp(pa, pb, 4096) == 0);
}

/* The production view holds what the reference replayed, the headers aside. */
static void compare_view(const struct header *cur, const vhdx_io *mem, const vhdx_io *ref)
{
    struct alloc_acct acct;
    struct log_plan plan;
    vhdx_io view;
    uint64_t sv = 0, sr = 0;
    alloc_acct_init(&acct, &FUZZ_POOL, 0);
    FUZZ_CHECK(log_plan_load(mem, cur, file_len, 0xFFF00000u, &acct, NULL, &plan) == VHDX_OK);
    FUZZ_CHECK(log_plan_view(&plan, mem, &view, NULL) == VHDX_OK);
    log_plan_free(&plan);
    FUZZ_CHECK(view.size(view.ctx, &sv) == VHDX_OK && ref->size(ref->ctx, &sr) == VHDX_OK);
    FUZZ_CHECK(sv == sr);
    for (size_t i = 0; i < io_overlay_pages(ref); i++) {
        uint64_t off = 0;
        if (!io_overlay_page_offset(ref, i, &off))
            abort();
        compare_view_page(&view, ref, off, sv);
    }
    for (size_t i = 0; i < io_replaymap_extents(&view); i++) {
        const struct io_replay_extent *e = io_replaymap_extent(&view, i);
        for (uint64_t off = e->start; off < e->start + e->length && off < sv; off += 4096)
            compare_view_page(&view, ref, off, sv);
    }
    /* The file's data pages (elsewhere both read the same hole). */
    for (size_t i = 0; i < io_sparse_extents(file); i++) {
        uint64_t first = 0, count = 0;
        (void)file_pages(&first, &count, i);
        for (uint64_t k = 0; k < count; k++)
            compare_view_page(&view, ref, first + k * 4096, sv);
    }
    vhdx_io_close(&view);
    FUZZ_CHECK(acct.in_use == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct alloc_acct acct_a, acct_b;
    struct header h;
    struct replay_first_error fe;
    vhdx_open_options o;
    vhdx_replay_result pr;
    struct ref_result rr;
    enum ref_status rs;
    vhdx_io mem, a, b;
    vhdx_status ps;
    size_t pos = HEADER_BYTES;
    enum replay_outcome po, ro;
    uint8_t flags;
    static uint8_t hdr[HEADER_SIZE];

    if (size < HEADER_BYTES)
        return 0;
    init_base();
    io_sparse_rewind(file);
    h = base.img.header;
    flags = data[0];
    if (flags & 1)
        memcpy(h.log_guid.b, data + 1, 16);
    if (flags & 2)
        h.log_version = data[17];
    if (flags & 4)
        h.log_length = 2u << 20;
    if (flags & 8)
        h.log_offset = 4u << 20;
    if (header_encode(&h, hdr, HEADER_SIZE) != VHDX_OK ||
        io_sparse_write(file, hdr, HEADER_SIZE, VHDX_HEADER2_OFFSET) != VHDX_OK)
        abort();
    /* The log region: zeros, then the input's records. */
    if (h.log_offset + h.log_length <= file_len)
        FUZZ_CHECK(io_sparse_zero(file, h.log_offset, h.log_length) == VHDX_OK);
    while (pos + 6 <= size && h.log_offset + h.log_length <= file_len) {
        uint32_t off = le32_load_no_bounds_check(data + pos) % h.log_length;
        size_t len = le16_load_no_bounds_check(data + pos + 4);
        pos += 6;
        if (len > size - pos)
            len = size - pos;
        if (len > h.log_length - off)
            len = h.log_length - off;
        FUZZ_CHECK(io_sparse_write(file, data + pos, len, h.log_offset + off) == VHDX_OK);
        pos += len;
    }

    io_sparse_io(file, false, &mem);
    alloc_acct_init(&acct_a, &FUZZ_POOL, 0);
    alloc_acct_init(&acct_b, &FUZZ_POOL, 0);
    if (io_overlay_create(&mem, &acct_a, OVERLAY_CAP, &a) != VHDX_OK ||
        io_overlay_create(&mem, &acct_b, OVERLAY_CAP, &b) != VHDX_OK)
        abort();

    memset(&fe, 0, sizeof(fe));
    memset(&o, 0, sizeof(o));
    o.on_diag = replay_note_first_error;
    o.allocator = &FUZZ_POOL;
    o.diag_ctx = &fe;
    ps = vhdx_replay(&a, &o, 0, NULL, NULL, &pr);
    po = replay_outcome_production(ps, fe.rule);
    /* The reference is defined for a current header that passed validation. */
    if (pr.current_header != 0 && pr.dirty && po != REPLAY_OTHER) {
        rs = ref_replay(&b, pr.log_guid, pr.log_offset, pr.log_length, pr.current_header, 0, &rr);
        ro = replay_outcome_reference(rs);
        if (ro != REPLAY_OTHER) {
            if (po != ro)
                fprintf(stderr, "production %s (%s), reference %s\n", replay_outcome_name(po),
                        fe.rule, ref_status_name(rs));
            FUZZ_CHECK(po == ro);
            if (po == REPLAY_REPLAYED) {
                struct header cur;
                FUZZ_CHECK(pr.entries == rr.entries);
                FUZZ_CHECK(pr.head_sequence == rr.head_sequence);
                compare(&a, &b);
                read_page(&mem,
                          pr.current_header == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET,
                          hdr, HEADER_SIZE);
                FUZZ_CHECK(header_decode(hdr, HEADER_SIZE, &cur, NULL) == VHDX_OK);
                compare_view(&cur, &mem, &b);
            }
        }
    }
    vhdx_io_close(&a);
    vhdx_io_close(&b);
    vhdx_io_close(&mem);
    FUZZ_CHECK(acct_a.in_use == 0 && acct_b.in_use == 0);
    return 0;
}

#ifdef FUZZ_SEEDS
/* Each dirty shape's log as records of its non-zero 4 KiB sectors. */
void fuzz_make_seeds(struct seed_out *out)
{
    for (int i = 0; i < dirty_count(); i++) {
        struct dirty_image d;
        uint8_t *seed, *log;
        size_t n = HEADER_BYTES;
        char name[96];
        if (dirty_build(i, &d) != 0)
            continue;
        log = d.img.data + d.img.log_offset;
        seed = calloc(1, HEADER_BYTES + (size_t)d.img.log_length / 4096 * (6 + 4096));
        if (seed == NULL) {
            dirty_free(&d);
            continue;
        }
        /* Keep the shape's own LogGuid (flag 1): it is the base image's. */
        for (uint32_t off = 0; off < d.img.log_length; off += 4096) {
            bool zero = true;
            for (uint32_t k = 0; k < 4096 && zero; k++)
                zero = log[off + k] == 0;
            if (zero)
                continue;
            le32_store_no_bounds_check(seed + n, off);
            le16_store_no_bounds_check(seed + n + 4, 4096);
            memcpy(seed + n + 6, log + off, 4096);
            n += 6 + 4096;
        }
        snprintf(name, sizeof(name), "dirty-%s", d.name);
        seed_emit(out, name, seed, n);
        free(seed);
        dirty_free(&d);
    }
}
#endif
