/*
 * The read side of an open image: the BAT page cache, virtual-disk reads
 * with the read semantics of VHDX-FORMAT.md §7.2 (the deterministic table),
 * sector bitmaps of differencing images, the allocation map and the info.
 */
#include <stdio.h>
#include <string.h>

#include "base/checked.h"
#include "base/compiler.h"
#include "base/endian.h"
#include "format/constants.h"
#include "image/file.h"
#include "image/image.h"

/* ---- BAT page cache ---- */

/*
 * Entries are little-endian on disk: converted in place, on a big-endian
 * host only (a little-endian one has them as they are). Out of the fuzzers'
 * coverage: a branch per entry that no input steers.
 */
static NO_COVERAGE void bat_entries_to_host(uint64_t *entries, uint64_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)entries;
    (void)n;
#else
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *b = (uint8_t *)&entries[i];
        entries[i] = le64_load_no_bounds_check(b);
    }
#endif
}

vhdx_status image_bat_get(struct vhdx_image *img, uint64_t slot, uint64_t *raw)
{
    struct bat_cache *c = &img->bat;
    uint64_t page = slot / BAT_PAGE_ENTRIES;
    struct bat_page *victim = &c->pages[0];
    uint64_t first_slot, n, off;
    vhdx_status st;

    if (slot >= img->geo.total_entries)
        return VHDX_E_RANGE;
    c->clock++;
    if (c->pages[c->hot].index == page) {
        c->pages[c->hot].last_use = c->clock;
        *raw = c->pages[c->hot].entries[slot % BAT_PAGE_ENTRIES];
        return VHDX_OK;
    }
    for (unsigned i = 0; i < BAT_CACHE_PAGES; i++) {
        struct bat_page *p = &c->pages[i];
        if (p->index == page) {
            p->last_use = c->clock;
            c->hot = i;
            *raw = p->entries[slot % BAT_PAGE_ENTRIES];
            return VHDX_OK;
        }
        if (p->index == UINT64_MAX || p->last_use < victim->last_use)
            victim = p;
    }
    if (victim->entries == NULL) {
        victim->entries = acct_alloc(&img->acct, BAT_PAGE_ENTRIES * sizeof(uint64_t), &st);
        if (victim->entries == NULL)
            return st;
    }
    /* Only the entries of the geometry are read: the region may be longer (padding). */
    first_slot = page * BAT_PAGE_ENTRIES;
    n = img->geo.total_entries - first_slot;
    if (n > BAT_PAGE_ENTRIES)
        n = BAT_PAGE_ENTRIES;
    off = img->bat_region.file_offset + first_slot * BAT_ENTRY_SIZE;
    victim->index = UINT64_MAX;
    st = image_read_exact(img, off, victim->entries, (size_t)n * BAT_ENTRY_SIZE);
    if (st != VHDX_OK)
        return st;
    bat_entries_to_host(victim->entries, n);
    victim->index = page;
    victim->last_use = c->clock;
    c->hot = (uint64_t)(victim - c->pages);
    *raw = victim->entries[slot % BAT_PAGE_ENTRIES];
    return VHDX_OK;
}

vhdx_status image_bat_span(struct vhdx_image *img, uint64_t slot, uint64_t max,
                           const uint64_t **entries, uint64_t *count)
{
    const struct bat_page *p;
    uint64_t raw, in_page, n;
    vhdx_status st = image_bat_get(img, slot, &raw);
    if (st != VHDX_OK)
        return st;
    /* image_bat_get left the page of `slot` hot. */
    p = &img->bat.pages[img->bat.hot];
    in_page = slot % BAT_PAGE_ENTRIES;
    n = img->geo.total_entries - slot;
    if (n > BAT_PAGE_ENTRIES - in_page)
        n = BAT_PAGE_ENTRIES - in_page;
    *entries = p->entries + in_page;
    *count = n < max ? n : max;
    return VHDX_OK;
}

vhdx_status image_bat_payload_span(struct vhdx_image *img, uint64_t b, uint64_t max,
                                   const uint64_t **entries, uint64_t *count)
{
    const struct bat_geometry *g = &img->geo;
    uint64_t slot = 0, in_chunk;
    vhdx_status st = bat_payload_index(g, b, &slot);
    if (st != VHDX_OK)
        return st;
    in_chunk = g->chunk_ratio - b % g->chunk_ratio;
    return image_bat_span(img, slot, max < in_chunk ? max : in_chunk, entries, count);
}

vhdx_status image_bat_entry(struct vhdx_image *img, uint64_t slot, struct bat_entry *e)
{
    uint64_t raw;
    vhdx_status st = image_bat_get(img, slot, &raw);
    if (st == VHDX_OK)
        *e = bat_entry_decode(raw);
    return st;
}

void image_bat_cache_free(struct vhdx_image *img)
{
    for (unsigned i = 0; i < BAT_CACHE_PAGES; i++) {
        acct_free(&img->acct, img->bat.pages[i].entries, BAT_PAGE_ENTRIES * sizeof(uint64_t));
        img->bat.pages[i].entries = NULL;
        img->bat.pages[i].index = UINT64_MAX;
    }
}

/* ---- Reads ---- */

static vhdx_status fail_io(struct vhdx_image *img, vhdx_status st)
{
    if (st == VHDX_E_IO)
        img->failed = true;
    return st;
}

static vhdx_status block_entry(struct vhdx_image *img, uint64_t block, struct bat_entry *e)
{
    uint64_t slot;
    vhdx_status st = bat_payload_index(&img->geo, block, &slot);
    return st == VHDX_OK ? image_bat_entry(img, slot, e) : st;
}

/* Reads [off, off+len) of the parent, or fails when there is none. */
/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
static vhdx_status read_parent(struct vhdx_image *img, uint64_t off, uint8_t *buf, size_t len)
{
    if (img->parent == NULL)
        return VHDX_E_MISSING;
    /* A parent smaller than the child (not expected) reads as zeros past its end. */
    if (off >= img->parent->virtual_size) {
        memset(buf, 0, len);
        return VHDX_OK;
    }
    if (len > img->parent->virtual_size - off) {
        size_t in = (size_t)(img->parent->virtual_size - off);
        memset(buf + in, 0, len - in);
        len = in;
    }
    return vhdx_read(img->parent, off, buf, len);
}

/*
 * The sector bitmap bit of sector `sector` (absolute virtual sector) for a
 * block in a chunk whose SB block is at sb_off. Reads bytes in batches.
 */
struct bitmap_window {
    uint64_t sb_off;     /* file offset of the SB block */
    uint64_t first_byte; /* byte of the SB block held in bytes[] */
    uint32_t len;
    uint8_t bytes[512];
};

static vhdx_status bitmap_bit(struct vhdx_image *img, struct bitmap_window *w, uint64_t bit,
                              bool *set)
{
    uint64_t byte = bit / 8;
    if (w->len == 0 || byte < w->first_byte || byte >= w->first_byte + w->len) {
        uint64_t n = VHDX_SECTOR_BITMAP_BLOCK_SIZE - byte;
        vhdx_status st;
        if (n > sizeof(w->bytes))
            n = sizeof(w->bytes);
        st = image_read_exact(img, w->sb_off + byte, w->bytes, (size_t)n);
        if (st != VHDX_OK)
            return st;
        w->first_byte = byte;
        w->len = (uint32_t)n;
    }
    *set = ((unsigned)w->bytes[byte - w->first_byte] >> (bit % 8)) & 1u;
    return VHDX_OK;
}

/*
 * Sets up a bitmap window on the sector bitmap of block's chunk and gives
 * the block's first bit in it (§6.2). Fails when the chunk has no bitmap
 * block (rejected at open; a bitmap that is not there is never read).
 */
static vhdx_status bitmap_window_open(struct vhdx_image *img, uint64_t block,
                                      struct bitmap_window *w, uint64_t *bit0)
{
    const struct bat_geometry *g = &img->geo;
    uint64_t sb_slot;
    struct bat_entry sb;
    vhdx_status st = bat_sb_index(g, block / g->chunk_ratio, &sb_slot);

    if (st == VHDX_OK)
        st = image_bat_entry(img, sb_slot, &sb);
    if (st != VHDX_OK)
        return st;
    if (sb.state != BAT_SB_PRESENT || sb.file_offset_mb == 0)
        return VHDX_E_STATE;
    memset(w, 0, sizeof(*w));
    w->sb_off = bat_entry_file_offset(&sb);
    *bit0 = (block % g->chunk_ratio) * (g->block_size / g->logical_sector_size);
    return VHDX_OK;
}

/* A PARTIALLY_PRESENT block: each sector from this file (bit 1) or the parent (bit 0). */
/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
static vhdx_status read_partial(struct vhdx_image *img, uint64_t block, const struct bat_entry *e,
                                uint64_t in_block, uint8_t *buf, size_t len)
{
    uint32_t lss = img->geo.logical_sector_size;
    uint64_t block_start = block * img->geo.block_size, bit0;
    struct bitmap_window w;
    vhdx_status st;
    size_t done = 0;

    st = bitmap_window_open(img, block, &w, &bit0);
    if (st != VHDX_OK)
        return st;

    while (done < len) {
        uint64_t pos = in_block + done;
        uint64_t sector = pos / lss;
        bool here;
        size_t run;
        st = bitmap_bit(img, &w, bit0 + sector, &here);
        if (st != VHDX_OK)
            return st;
        /* Extend the run over following sectors with the same bit. */
        run = (size_t)((sector + 1) * lss - pos);
        while (done + run < len) {
            bool next;
            st = bitmap_bit(img, &w, bit0 + (in_block + done + run) / lss, &next);
            if (st != VHDX_OK)
                return st;
            if (next != here)
                break;
            run += lss;
        }
        if (run > len - done)
            run = len - done;
        if (here)
            st = image_read_exact(img, bat_entry_file_offset(e) + pos, buf + done, run);
        else
            st = read_parent(img, block_start + pos, buf + done, run);
        if (st != VHDX_OK)
            return st;
        done += run;
    }
    return VHDX_OK;
}

/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
vhdx_status vhdx_read(vhdx_image *img, uint64_t offset, void *out, size_t len)
{
    uint8_t *buf = out;
    uint64_t end;

    if (img == NULL || (buf == NULL && len != 0))
        return VHDX_E_INVALID_ARG;
    if (img->failed)
        return VHDX_E_BAD_STATE;
    if (!ck_add_u64(offset, len, &end) || end > img->virtual_size)
        return VHDX_E_RANGE;
    while (len > 0) {
        uint64_t block = offset / img->block_size;
        uint64_t in_block = offset % img->block_size;
        size_t n = len;
        struct bat_entry e;
        vhdx_status st;

        if (n > img->block_size - in_block)
            n = (size_t)(img->block_size - in_block);
        st = block_entry(img, block, &e);
        if (st != VHDX_OK)
            return fail_io(img, st);
        switch (e.state) {
        case BAT_PAYLOAD_FULLY_PRESENT:
            st = image_read_exact(img, bat_entry_file_offset(&e) + in_block, buf, n);
            break;
        case BAT_PAYLOAD_PARTIALLY_PRESENT:
            st = img->has_parent ? read_partial(img, block, &e, in_block, buf, n) : VHDX_E_STATE;
            break;
        case BAT_PAYLOAD_NOT_PRESENT:
            /* §7.2: a differencing file consults the parent; otherwise deterministic zeros. */
            if (img->has_parent)
                st = read_parent(img, offset, buf, n);
            else
                memset(buf, 0, n);
            break;
        case BAT_PAYLOAD_ZERO:
        case BAT_PAYLOAD_UNMAPPED:
        case BAT_PAYLOAD_UNDEFINED:
            /* Never dereference FileOffsetMB here (libvhdi issue 17): zeros. */
            memset(buf, 0, n);
            break;
        default:
            st = VHDX_E_STATE;
            break;
        }
        if (st != VHDX_OK)
            return fail_io(img, st);
        buf += n;
        offset += n;
        len -= n;
    }
    return VHDX_OK;
}

/* ---- Map ---- */

static vhdx_extent_kind kind_of(const struct vhdx_image *img, uint8_t state)
{
    switch (state) {
    case BAT_PAYLOAD_FULLY_PRESENT:
        return VHDX_EXTENT_DATA;
    case BAT_PAYLOAD_NOT_PRESENT:
        return img->has_parent ? VHDX_EXTENT_PARENT : VHDX_EXTENT_ZERO;
    default:
        return VHDX_EXTENT_ZERO;
    }
}

vhdx_status vhdx_map_next(vhdx_image *img, uint64_t offset, vhdx_extent *out)
{
    struct bat_entry e;
    uint64_t block, in_block, pos;
    vhdx_status st;

    if (img == NULL || out == NULL)
        return VHDX_E_INVALID_ARG;
    if (img->failed)
        return VHDX_E_BAD_STATE;
    if (offset >= img->virtual_size)
        return VHDX_E_RANGE;
    block = offset / img->block_size;
    in_block = offset % img->block_size;
    st = block_entry(img, block, &e);
    if (st != VHDX_OK)
        return fail_io(img, st);
    memset(out, 0, sizeof(*out));
    out->offset = offset;
    out->bat_state = e.state;

    if (e.state == BAT_PAYLOAD_PARTIALLY_PRESENT) {
        /* One run of sectors with the same bitmap bit, within this block. */
        uint32_t lss = img->geo.logical_sector_size;
        uint64_t block_end = (block + 1) * (uint64_t)img->block_size, bit0;
        struct bitmap_window w;
        bool here, next;

        if (block_end > img->virtual_size)
            block_end = img->virtual_size;
        st = bitmap_window_open(img, block, &w, &bit0);
        if (st != VHDX_OK)
            return fail_io(img, st);
        st = bitmap_bit(img, &w, bit0 + in_block / lss, &here);
        if (st != VHDX_OK)
            return fail_io(img, st);
        pos = (in_block / lss + 1) * lss;
        while (block * (uint64_t)img->block_size + pos < block_end) {
            st = bitmap_bit(img, &w, bit0 + pos / lss, &next);
            if (st != VHDX_OK)
                return fail_io(img, st);
            if (next != here)
                break;
            pos += lss;
        }
        if (block * (uint64_t)img->block_size + pos > block_end)
            pos = block_end - block * (uint64_t)img->block_size;
        out->length = pos - in_block;
        out->kind = here ? VHDX_EXTENT_DATA : VHDX_EXTENT_PARENT;
        if (here)
            out->file_offset = bat_entry_file_offset(&e) + in_block;
        return VHDX_OK;
    }

    out->kind = kind_of(img, e.state);
    if (out->kind == VHDX_EXTENT_DATA)
        out->file_offset = bat_entry_file_offset(&e) + in_block;
    pos = (block + 1) * (uint64_t)img->block_size;
    /*
     * Extend over following blocks of the same kind (and contiguous file
     * offsets). The payload slots of one chunk are consecutive: they are
     * taken from the cache a span at a time, and runs of all-zero entries
     * (NOT_PRESENT) are passed over by bat_zero_prefix.
     */
    for (uint64_t b = block + 1; pos < img->virtual_size;) {
        const uint64_t *ents = NULL;
        uint64_t count = 0, i = 0;
        st = image_bat_payload_span(img, b, img->geo.payload_blocks - b, &ents, &count);
        if (st != VHDX_OK)
            return fail_io(img, st);
        while (i < count) {
            struct bat_entry n;
            if (e.state == BAT_PAYLOAD_NOT_PRESENT && ents[i] == 0) {
                uint64_t zeros = bat_zero_prefix((const uint8_t *)(ents + i), count - i);
                i += zeros;
                pos += zeros * img->block_size;
                continue;
            }
            n = bat_entry_decode(ents[i]);
            if (n.state == BAT_PAYLOAD_PARTIALLY_PRESENT || kind_of(img, n.state) != out->kind ||
                n.state != e.state)
                break;
            if (out->kind == VHDX_EXTENT_DATA &&
                bat_entry_file_offset(&n) != out->file_offset + (pos - offset))
                break;
            pos += img->block_size;
            i++;
        }
        if (i < count)
            break;
        b += count;
    }
    if (pos > img->virtual_size)
        pos = img->virtual_size;
    out->length = pos - offset;
    return VHDX_OK;
}

/* ---- Info ---- */

static void guid_text(const struct guid *g, char out[VHDX_GUID_TEXT_SIZE])
{
    char t[GUID_TEXT_SIZE];
    guid_to_text(g, t);
    (void)snprintf(out, VHDX_GUID_TEXT_SIZE, "{%s}", t); /* fits: the size counts the braces */
}

vhdx_status vhdx_get_info(const vhdx_image *img, vhdx_info *out)
{
    const vhdx_image *p;
    if (img == NULL || out == NULL)
        return VHDX_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    out->type = img->has_parent               ? VHDX_DISK_DIFFERENCING
                : img->leave_blocks_allocated ? VHDX_DISK_FIXED
                                              : VHDX_DISK_DYNAMIC;
    out->virtual_size = img->virtual_size;
    out->file_size = img->file_size;
    out->block_size = img->block_size;
    out->logical_sector_size = img->logical_sector_size;
    out->physical_sector_size = img->physical_sector_size;
    out->chunk_ratio = img->geo.chunk_ratio;
    out->bat_entries = img->geo.total_entries;
    out->blocks_allocated = img->blocks_allocated;
    out->header_sequence = img->header.sequence_number;
    out->current_header = img->current_header;
    file_identifier_creator_utf8(&img->identifier, out->creator, sizeof(out->creator));
    guid_text(&img->header.file_write_guid, out->file_write_guid);
    guid_text(&img->header.data_write_guid, out->data_write_guid);
    guid_text(&img->header.log_guid, out->log_guid);
    guid_text(&img->virtual_disk_id, out->virtual_disk_id);
    out->log_offset = img->header.log_offset;
    out->log_length = img->header.log_length;
    out->log_dirty = img->log_replay_mode != VHDX_LOG_CLEAN;
    out->log_replay = img->log_replay_mode;
    out->log_entries_replayed = img->log_entries_replayed;
    out->log_head_sequence = img->log_head_sequence;
    if (img->has_parent_linkage)
        guid_text(&img->parent_linkage, out->parent_linkage);
    /* Fits: both hold 4096 bytes. */
    (void)snprintf(out->parent_path, sizeof(out->parent_path), "%s", img->parent_path_used);
    for (p = img->parent; p != NULL; p = p->parent)
        out->chain_depth++;
    return VHDX_OK;
}
