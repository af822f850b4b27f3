/*
 * The writer: writes, zeroing, discard, resize and the journaled metadata
 * updates behind them (VHDX-FORMAT.md §3.3, §3.4, §7.7, §8.8;
 * docs/WRITER.md).
 *
 * Payload data is written in place. Every change of metadata (BAT entries,
 * sector bitmap bits, the virtual size item, the region tables) is made to
 * a 4 KiB page held in memory, the batch; reads of the image see the batch
 * (image/file.h, which holds it). A commit turns the batch into one log entry:
 *
 *   1. flush: the payload the entry refers to, and the previous entry's
 *      pages applied in place, are durable;
 *   2. write the entry at the head of the log, flush;
 *   3. the first entry of a log session: a header update naming its
 *      LogGuid (see below), which flushes;
 *   4. write the pages to their places (made durable by the next flush).
 *
 * Each entry's Tail is its own offset: when it is written, every earlier
 * entry is applied and flushed (step 1). An entry is never longer than
 * (LogLength - 4096) / 2, and the next entry starts where it ends, so a
 * new entry never overwrites the newest one and one sector stays free
 * (§8.8 item 4): a torn entry leaves the previous one valid, and its
 * replay is idempotent.
 *
 * Order of the first entry: it is written and flushed before the header
 * update that names its LogGuid, while both headers still say LogGuid 0.
 * Nothing can read it before that update, so no file state has a LogGuid
 * without a valid entry (the window [S]'s order leaves open, which openvmm
 * narrows with an empty entry). docs/WRITER.md explains the choice.
 *
 * An unsealed image (vhdx_create_open) has no signature, so no reader
 * accepts it: its batch is applied in place without the log or a flush,
 * and vhdx_finish seals it (image_seal: flush, signature, flush).
 */
#include <string.h>

#include "base/bytes.h"
#include "base/checked.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/log_entry.h"
#include "format/region_table.h"
#include "image/file.h"
#include "image/image.h"
#include "image/log.h"

#define PAGE FILE_PAGE
#define MAX_ZERO_RANGES FILE_BATCH_ZERO_RANGES
/* Pages one batch may hold at most, whatever the log: 8 MiB of memory. */
#define MAX_BATCH_PAGES 2048u

struct writer {
    bool guids_done; /* the headers carry this session's FileWriteGuid */
    bool data_guid_done; /* and its DataWriteGuid (not for a repair alone, §3.3) */
    bool log_named;  /* the headers carry log_guid: the log session is open */
    struct guid log_guid;
    uint64_t seq;      /* sequence number of the last entry written in the log session */
    uint32_t head;     /* log offset of the next entry */
    uint32_t max_entry;
    bool unflushed;    /* something was written since the last flush */
    bool released;     /* a block or the BAT lost its space: trim the file at finish */
    uint64_t file_end;  /* where the next allocation goes (1 MiB aligned) */
    /* The batch itself is img->batch (image/file.h): every read sees it. */
};

/* Zeros to write from: a zero range is written in pieces of this size. */
static const uint8_t zeros[64 * 1024];

static uint64_t round_up_mib(uint64_t v)
{
    return (v + VHDX_MiB - 1) & ~(VHDX_MiB - 1);
}

/* ---- Failure: the handle is failed after any write or flush error ---- */

/*
 * Any failure after the first change fails the handle: the batch or the
 * file may be half updated, and only the log at the next open may repair
 * it. Range and argument errors found before a change do not come here.
 */
static vhdx_status fail(struct vhdx_image *img, vhdx_status st)
{
    if (st != VHDX_OK)
        img->failed = true;
    return st;
}

static vhdx_status io_flush(struct vhdx_image *img)
{
    struct writer *w = img->writer;
    if (img->io.flush(img->io.ctx) != VHDX_OK)
        return fail(img, VHDX_E_IO);
    w->unflushed = false;
    return VHDX_OK;
}

static vhdx_status io_write(struct vhdx_image *img, uint64_t off, const void *buf, size_t len)
{
    struct writer *w = img->writer;
    uint64_t end;
    if (!ck_add_u64(off, len, &end))
        return VHDX_E_OVERFLOW;
    if (img->io.write(img->io.ctx, buf, len, off) != VHDX_OK)
        return fail(img, VHDX_E_IO);
    w->unflushed = true;
    if (end > img->file_size)
        img->file_size = end;
    return VHDX_OK;
}

static vhdx_status io_write_zeros(struct vhdx_image *img, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
        vhdx_status st = io_write(img, off, zeros, n);
        if (st != VHDX_OK)
            return st;
        off += n;
        len -= n;
    }
    return VHDX_OK;
}

/* Makes the file at least `end` bytes long (new bytes read as zeros). */
static vhdx_status ensure_size(struct vhdx_image *img, uint64_t end)
{
    struct writer *w = img->writer;
    if (img->file_size >= end)
        return VHDX_OK;
    if (img->io.truncate(img->io.ctx, end) != VHDX_OK)
        return fail(img, VHDX_E_IO);
    w->unflushed = true;
    img->file_size = end;
    return VHDX_OK;
}

/* Space for a new object at the end of the file, 1 MiB aligned (§7.7). */
static vhdx_status allocate(struct vhdx_image *img, uint64_t len, uint64_t *off)
{
    struct writer *w = img->writer;
    uint64_t end;
    if (!ck_add_u64(w->file_end, len, &end) || (end >> 20) > BAT_FILE_OFFSET_MB_MAX)
        return VHDX_E_RANGE;
    *off = w->file_end;
    w->file_end = end;
    return VHDX_OK;
}

/* ---- The batch (held in img->batch, image/file.h) ---- */

static vhdx_status write_headers(struct vhdx_image *img, const struct header_change *c)
{
    img->sink.base = 0;
    vhdx_status st = log_update_headers(&img->io, img->current_header, c, &img->header, &img->sink);
    if (st != VHDX_OK)
        return fail(img, st);
    /* Both slots now hold the current header's bytes, a damaged spare's included. */
    img->spare_header_damaged = false;
    return VHDX_OK;
}

/* Writes the batch to its places in the file and empties it. */
static vhdx_status txn_apply(struct vhdx_image *img)
{
    const struct file_batch *b = &img->batch;
    vhdx_status st = VHDX_OK;
    for (size_t i = 0; i < b->nzeros && st == VHDX_OK; i++)
        st = io_write_zeros(img, b->zeros[i].off, b->zeros[i].len);
    for (size_t i = 0; i < b->npages && st == VHDX_OK; i++)
        st = io_write(img, b->pages[i].off, b->pages[i].data, PAGE);
    if (st == VHDX_OK)
        file_batch_clear(img);
    return st;
}

/*
 * Commits the batch as one log entry (the protocol in the comment at the
 * top). An empty batch only flushes what is unflushed. An unsealed image's
 * batch is only applied in place: no reader accepts the file yet, so there
 * is nothing to keep consistent until the seal (vhdx_finish).
 */
static vhdx_status txn_commit(struct vhdx_image *img)
{
    struct writer *w = img->writer;
    const struct file_batch *b = &img->batch;
    struct log_descriptor *descs = NULL;
    const uint8_t **payloads = NULL;
    uint8_t *buf = NULL;
    size_t cap_desc = 0, cap_data = 0, k = 0, d = 0, len = 0, first;
    uint32_t log_length = img->header.log_length;
    struct log_entry_header hdr;
    vhdx_status st;

    if (img->unsealed)
        return txn_apply(img);
    if (b->npages == 0 && b->nzeros == 0)
        return w->unflushed ? io_flush(img) : VHDX_OK;
    st = io_flush(img);
    if (st != VHDX_OK)
        return st;
    if (!w->log_named) {
        /* A new log session: a new LogGuid, entries from the start of the log. */
        guid_generate(&w->log_guid);
        w->seq = 0;
        w->head = 0;
    }

    /* Zero ranges first, then each page: all-zero pages as zero descriptors (merged). */
    cap_desc = b->nzeros + b->npages;
    cap_data = b->npages;
    descs = acct_alloc(&img->acct, cap_desc * sizeof(*descs), &st);
    if (descs != NULL && cap_data != 0)
        payloads = acct_alloc(&img->acct, cap_data * sizeof(*payloads), &st);
    if (descs == NULL || (payloads == NULL && cap_data != 0))
        goto out;
    for (size_t i = 0; i < b->nzeros; i++, k++) {
        descs[k].kind = LOG_DESCRIPTOR_ZERO;
        descs[k].zero_length = b->zeros[i].len;
        descs[k].file_offset = b->zeros[i].off;
        descs[k].sequence_number = w->seq + 1;
    }
    for (size_t i = 0; i < cap_data; i++) { /* cap_data is b->npages */
        if (bytes_all_zero(b->pages[i].data, PAGE)) {
            if (k > b->nzeros && descs[k - 1].kind == LOG_DESCRIPTOR_ZERO &&
                descs[k - 1].file_offset + descs[k - 1].zero_length == b->pages[i].off) {
                descs[k - 1].zero_length += PAGE;
                continue;
            }
            descs[k].kind = LOG_DESCRIPTOR_ZERO;
            descs[k].zero_length = PAGE;
        } else {
            descs[k].kind = LOG_DESCRIPTOR_DATA;
            payloads[d++] = b->pages[i].data;
        }
        descs[k].file_offset = b->pages[i].off;
        descs[k].sequence_number = w->seq + 1;
        k++;
    }
    len = log_entry_length_for(k, d);
    if (len == 0 || len > w->max_entry) {
        st = VHDX_E_LIMIT; /* txn_reserve keeps batches smaller: never reached */
        goto out;
    }
    buf = acct_alloc(&img->acct, len + PAGE, &st);
    if (buf == NULL)
        goto out;

    memset(&hdr, 0, sizeof(hdr));
    hdr.tail = w->head;
    hdr.sequence_number = w->seq + 1;
    hdr.log_guid = w->log_guid;
    hdr.flushed_file_offset = img->file_size & ~(VHDX_MiB - 1);
    hdr.last_file_offset = round_up_mib(img->file_size) > w->file_end
                               ? round_up_mib(img->file_size)
                               : w->file_end;
    st = log_entry_encode(&hdr, descs, k, payloads, buf, (uint32_t)(len + PAGE), 0);
    if (st != VHDX_OK)
        goto out;

    /* The entry at the head, in two pieces when it wraps (§8.8 item 4). */
    first = log_length - w->head;
    if (first > len)
        first = len;
    st = io_write(img, img->header.log_offset + w->head, buf, first);
    if (st == VHDX_OK && first < len)
        st = io_write(img, img->header.log_offset, buf + first, len - first);
    if (st == VHDX_OK)
        st = io_flush(img);
    if (st == VHDX_OK && !w->log_named) {
        struct header_change c = {NULL, NULL, &w->log_guid};
        st = write_headers(img, &c);
        if (st == VHDX_OK)
            w->log_named = true;
    }
    if (st != VHDX_OK)
        goto out;
    w->seq++;
    w->head = (uint32_t)((w->head + len) % log_length);

    /* Applied in place; durable at the next flush, which comes before any other entry. */
    st = txn_apply(img);
out:
    acct_free(&img->acct, buf, len + PAGE);
    acct_free(&img->acct, payloads, cap_data * sizeof(*payloads));
    acct_free(&img->acct, descs, cap_desc * sizeof(*descs));
    return st == VHDX_OK ? VHDX_OK : fail(img, st);
}

/* Commits first when the batch could not take n more pages. */
static vhdx_status txn_reserve(struct vhdx_image *img, size_t n)
{
    const struct file_batch *b = &img->batch;
    if (b->npages + n <= b->max_pages)
        return VHDX_OK;
    return txn_commit(img);
}

/* ---- Session ---- */

static vhdx_status writer_get(struct vhdx_image *img, struct writer **out)
{
    struct writer *w;
    vhdx_status st;
    uint64_t size = 0;
    uint32_t sectors;
    size_t p;

    if (img == NULL)
        return VHDX_E_INVALID_ARG;
    if (img->failed)
        return VHDX_E_BAD_STATE;
    w = img->writer;
    if (w != NULL) {
        *out = w;
        return VHDX_OK;
    }
    if ((img->options.flags & VHDX_OPEN_WRITABLE) == 0 || img->base_io.ctx != NULL ||
        img->io.write == NULL || img->io.flush == NULL || img->io.truncate == NULL ||
        img->header.log_length < VHDX_MiB)
        return VHDX_E_INVALID_ARG;
    if (img->io.size(img->io.ctx, &size) != VHDX_OK)
        return VHDX_E_IO;
    w = acct_alloc(&img->acct, sizeof(*w), &st);
    if (w == NULL)
        return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
    memset(w, 0, sizeof(*w));
    img->file_size = size;
    w->file_end = round_up_mib(size);
    /* An entry may use half the log less a sector, so two never collide (top comment). */
    w->max_entry = ((img->header.log_length - PAGE) / 2) & ~(PAGE - 1);
    sectors = w->max_entry / PAGE;
    /* Pages such that the entry fits with room for the zero descriptors. */
    for (p = sectors; p > 0; p--)
        if (log_entry_descriptor_sectors(p + MAX_ZERO_RANGES) + p <= sectors)
            break;
    img->batch.max_pages = p > MAX_BATCH_PAGES ? MAX_BATCH_PAGES : p;
    img->writer = w;
    *out = w;
    return VHDX_OK;
}

/*
 * Before the first change of a session (the handle's first, or the first
 * after vhdx_finish): both headers get a new FileWriteGuid (§3.3: before
 * any change of the file). A user-visible change (every one vhdx_write
 * and friends make) also needs a new DataWriteGuid, once per session; a
 * repair of a spare copy is not one: it changes no byte a read of the
 * disk returns, and a differencing child's parent_linkage names the
 * DataWriteGuid, so a repair keeps it.
 */
static vhdx_status writer_begin_as(struct vhdx_image *img, bool user_visible,
                                   struct writer **out)
{
    struct guid fwg, dwg;
    struct header_change c = {NULL, NULL, NULL};
    struct writer *w;
    vhdx_status st = writer_get(img, out);
    /* An unsealed image's headers are new: vhdx_create_open generated its GUIDs. */
    if (st != VHDX_OK || img->unsealed)
        return st;
    w = *out;
    if (w->guids_done && (w->data_guid_done || !user_visible))
        return VHDX_OK;
    if (!w->guids_done) {
        guid_generate(&fwg);
        c.file_write = &fwg;
    }
    if (user_visible) {
        /* vhdx_commit's parent: the identity its child already names. */
        if (img->session_data_guid_fixed)
            dwg = img->session_data_guid;
        else
            guid_generate(&dwg);
        c.data_write = &dwg;
    }
    st = write_headers(img, &c);
    if (st == VHDX_OK) {
        w->guids_done = true;
        w->data_guid_done = w->data_guid_done || user_visible;
    }
    return st;
}

static vhdx_status writer_begin(struct vhdx_image *img, struct writer **out)
{
    return writer_begin_as(img, true, out);
}

/*
 * The file ends where its last structure ends: space released at the end
 * (blocks moved to ZERO or UNMAPPED, an old BAT) is given back. Every
 * structure is found from the log, the region table and the BAT.
 */
static vhdx_status trim_tail(struct vhdx_image *img)
{
    struct writer *w = img->writer;
    uint64_t used = img->header.log_offset + img->header.log_length, size;
    for (uint32_t i = 0; i < img->regions->entry_count; i++) {
        const struct region_entry *r = &img->regions->entries[i];
        if (r->file_offset + r->length > used)
            used = r->file_offset + r->length;
    }
    /* The BAT a cached span at a time, passing over runs of all-zero entries. */
    for (uint64_t slot = 0; slot < img->geo.total_entries;) {
        const uint64_t *ents = NULL;
        uint64_t count = 0;
        vhdx_status st = image_bat_span(img, slot, img->geo.total_entries - slot, &ents, &count);
        if (st != VHDX_OK)
            return fail(img, st);
        for (uint64_t i = 0; i < count;) {
            uint64_t number, end;
            struct bat_entry e;
            if (ents[i] == 0) {
                i += bat_zero_prefix((const uint8_t *)(ents + i), count - i);
                continue;
            }
            e = bat_entry_decode(ents[i]);
            if (e.file_offset_mb != 0) {
                end = bat_entry_file_offset(&e) +
                      (bat_slot_classify(&img->geo, slot + i, &number) == BAT_SLOT_SECTOR_BITMAP
                           ? VHDX_SECTOR_BITMAP_BLOCK_SIZE
                           : img->block_size);
                if (end > used)
                    used = end;
            }
            i++;
        }
        slot += count;
    }
    w->released = false;
    size = round_up_mib(used);
    if (size >= img->file_size)
        return VHDX_OK;
    /* An unsealed image's seal flushes next. */
    if (img->io.truncate(img->io.ctx, size) != VHDX_OK ||
        (!img->unsealed && img->io.flush(img->io.ctx) != VHDX_OK))
        return fail(img, VHDX_E_IO);
    w->file_end = size;
    img->file_size = size;
    return VHDX_OK;
}

static vhdx_status flush_session(vhdx_image *img)
{
    vhdx_status st;
    if (img == NULL)
        return VHDX_E_INVALID_ARG;
    if (img->failed)
        return VHDX_E_BAD_STATE;
    if (img->writer == NULL)
        return VHDX_OK;
    st = txn_commit(img);
    if (st == VHDX_OK && img->unsealed && img->writer->unflushed)
        st = io_flush(img);
    return st;
}

/* vhdx_finish of an unsealed image: the batch applied, the tail trimmed, the seal. */
static vhdx_status seal(struct vhdx_image *img)
{
    struct writer *w;
    vhdx_status st;
    if (img->failed)
        return VHDX_E_BAD_STATE;
    st = writer_get(img, &w);
    if (st == VHDX_OK)
        st = txn_commit(img);
    if (st == VHDX_OK && w->released)
        st = trim_tail(img);
    if (st == VHDX_OK)
        st = image_seal(&img->io) == VHDX_OK ? VHDX_OK : fail(img, VHDX_E_IO);
    if (st != VHDX_OK)
        return st;
    w->unflushed = false;
    img->unsealed = false;
    return VHDX_OK;
}

static vhdx_status finish_session(vhdx_image *img)
{
    static const struct guid nil;
    struct header_change c = {NULL, NULL, &nil};
    struct writer *w;
    vhdx_status st;
    if (img != NULL && img->unsealed)
        return seal(img);
    st = vhdx_flush(img);
    if (st != VHDX_OK || img->writer == NULL)
        return st;
    w = img->writer;
    if (w->unflushed) {
        st = io_flush(img);
        if (st != VHDX_OK)
            return st;
    }
    if (w->log_named) {
        st = write_headers(img, &c);
        if (st != VHDX_OK)
            return st;
        w->log_named = false;
    }
    /* The session is over: a later change is a new one, with new GUIDs. */
    w->guids_done = false;
    w->data_guid_done = false;
    /* Only with LogGuid 0: an entry's FlushedFileOffset may name the old size. */
    return w->released ? trim_tail(img) : VHDX_OK;
}

void image_writer_close(struct vhdx_image *img)
{
    struct writer *w = img->writer;
    if (w == NULL)
        return;
    /* An unsealed image stays so: only vhdx_finish makes it an image. */
    if (!img->failed && !img->unsealed)
        status_ignore(vhdx_finish(img));
    file_batch_free(img);
    acct_free(&img->acct, w, sizeof(*w));
    img->writer = NULL;
}

/* ---- BAT and sector bitmaps ---- */

static bool holds_data(uint8_t state)
{
    return state == BAT_PAYLOAD_FULLY_PRESENT || state == BAT_PAYLOAD_PARTIALLY_PRESENT;
}

/* Sets BAT slot `slot` in the batch and in the page cache. */
static vhdx_status bat_set(struct vhdx_image *img, uint64_t slot, uint8_t state, uint64_t file_off)
{
    struct bat_entry e = {state, 0, file_off >> 20}, was;
    uint64_t raw = bat_entry_encode(&e), number;
    uint8_t le[8];
    vhdx_status st = image_bat_entry(img, slot, &was);
    if (st != VHDX_OK)
        return st;
    /* vhdx_get_info's count follows the payload entries. */
    if (bat_slot_classify(&img->geo, slot, &number) == BAT_SLOT_PAYLOAD) {
        if (holds_data(state) && !holds_data(was.state))
            img->blocks_allocated++;
        else if (!holds_data(state) && holds_data(was.state))
            img->blocks_allocated--;
    }
    le64_store_no_bounds_check(le, raw);
    st = file_batch_write(img, img->bat_region.file_offset + slot * BAT_ENTRY_SIZE, le, 8);
    if (st != VHDX_OK)
        return st;
    for (unsigned i = 0; i < BAT_CACHE_PAGES; i++) {
        struct bat_page *p = &img->bat.pages[i];
        if (p->index == slot / BAT_PAGE_ENTRIES)
            p->entries[slot % BAT_PAGE_ENTRIES] = raw;
    }
    return VHDX_OK;
}

/* Pages of the batch one block operation may need (BAT, SB entry, bitmap bits). */
static size_t pages_per_block(const struct vhdx_image *img)
{
    uint64_t bitmap_bytes = img->block_size / img->logical_sector_size / 8;
    if (!img->has_parent)
        return 1;
    return 2 + (size_t)(bitmap_bytes / PAGE) + 1;
}

/*
 * Sets the sector bitmap bits of sectors [first, first + count) of block
 * (§6.2), allocating the chunk's sector bitmap block when it has none.
 */
static vhdx_status bitmap_set(struct vhdx_image *img, uint64_t block, uint64_t first,
                              uint64_t count)
{
    struct bat_bitmap_slice slice;
    struct bat_entry sb;
    uint64_t sb_slot, sb_off, bit, end;
    vhdx_status st = bat_bitmap_slice(&img->geo, block, &slice);
    if (st == VHDX_OK)
        st = bat_sb_index(&img->geo, slice.chunk, &sb_slot);
    if (st == VHDX_OK)
        st = image_bat_entry(img, sb_slot, &sb);
    if (st != VHDX_OK)
        return st;
    if (sb.state == BAT_SB_PRESENT && sb.file_offset_mb != 0) {
        sb_off = bat_entry_file_offset(&sb);
    } else {
        st = allocate(img, VHDX_SECTOR_BITMAP_BLOCK_SIZE, &sb_off);
        if (st == VHDX_OK)
            st = ensure_size(img, sb_off + VHDX_SECTOR_BITMAP_BLOCK_SIZE);
        if (st == VHDX_OK)
            st = bat_set(img, sb_slot, BAT_SB_PRESENT, sb_off);
        if (st != VHDX_OK)
            return st;
    }
    bit = (uint64_t)slice.byte_offset * 8 + first;
    end = bit + count;
    while (bit < end) {
        uint64_t byte = bit / 8;
        uint64_t page_off = (sb_off + byte) & ~(uint64_t)(PAGE - 1);
        uint8_t *page;
        st = file_batch_page(img, page_off, &page);
        if (st != VHDX_OK)
            return st;
        /* Every bit of this page in the range. */
        while (bit < end && ((sb_off + bit / 8) & ~(uint64_t)(PAGE - 1)) == page_off) {
            size_t at = (size_t)(sb_off + bit / 8 - page_off);
            if (bit % 8 == 0 && end - bit >= 8) {
                page[at] = 0xFF;
                bit += 8;
            } else {
                page[at] = (uint8_t)(page[at] | (1u << (bit % 8)));
                bit++;
            }
        }
    }
    return VHDX_OK;
}

/* The bytes of block b inside the virtual disk (the last block may be short). */
static uint64_t block_span(const struct vhdx_image *img, uint64_t b)
{
    uint64_t start = b * img->block_size;
    uint64_t left = img->virtual_size - start;
    return left < img->block_size ? left : img->block_size;
}

static vhdx_status block_slot(struct vhdx_image *img, uint64_t b, uint64_t *slot,
                              struct bat_entry *e)
{
    vhdx_status st = bat_payload_index(&img->geo, b, slot);
    return st == VHDX_OK ? image_bat_entry(img, *slot, e) : st;
}

/* Moves block b to `state` (ZERO or UNMAPPED), FileOffsetMB 0 (§7.7). */
static vhdx_status block_release(struct vhdx_image *img, uint64_t b, uint8_t state)
{
    uint64_t slot;
    struct bat_entry e;
    vhdx_status st = txn_reserve(img, 1);
    if (st != VHDX_OK)
        return st;
    st = block_slot(img, b, &slot, &e);
    if (st != VHDX_OK || (e.state == state && e.file_offset_mb == 0))
        return st;
    if (e.file_offset_mb != 0)
        img->writer->released = true;
    return bat_set(img, slot, state, 0);
}

/*
 * Writes into space past the end of the file, which reads as zeros: runs
 * of zero 4 KiB pieces are skipped (the file stays sparse, as a raw copy
 * with holes does), the rest is written in as few calls as possible.
 */
static vhdx_status write_sparse(struct vhdx_image *img, uint64_t off, const uint8_t *buf,
                                size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start, piece;
        /* Skip zero pieces. */
        while (i < n) {
            piece = n - i < PAGE ? n - i : PAGE;
            if (!bytes_all_zero(buf + i, piece))
                break;
            i += piece;
        }
        start = i;
        while (i < n) {
            piece = n - i < PAGE ? n - i : PAGE;
            if (bytes_all_zero(buf + i, piece))
                break;
            i += piece;
        }
        if (i > start) {
            vhdx_status st = io_write(img, off + start, buf + start, i - start);
            if (st != VHDX_OK)
                return st;
        }
    }
    return VHDX_OK;
}

/* Writes n bytes (whole sectors) at in_block of block b. */
static vhdx_status block_write(struct vhdx_image *img, uint64_t b, uint64_t in_block,
                               const uint8_t *buf, size_t n)
{
    uint32_t lss = img->logical_sector_size;
    bool whole = in_block == 0 && n == block_span(img, b);
    uint64_t slot, off;
    struct bat_entry e;
    vhdx_status st;

    if (whole && !img->leave_blocks_allocated && bytes_all_zero(buf, n))
        return block_release(img, b, BAT_PAYLOAD_ZERO);
    st = block_slot(img, b, &slot, &e);
    if (st != VHDX_OK)
        return st;
    if (e.state == BAT_PAYLOAD_FULLY_PRESENT)
        return io_write(img, bat_entry_file_offset(&e) + in_block, buf, n);
    /* Everything else changes metadata: room in the batch first (it may commit). */
    st = txn_reserve(img, pages_per_block(img));
    if (st != VHDX_OK)
        return st;
    if (e.state == BAT_PAYLOAD_PARTIALLY_PRESENT && img->has_parent) {
        st = io_write(img, bat_entry_file_offset(&e) + in_block, buf, n);
        return st == VHDX_OK ? bitmap_set(img, b, in_block / lss, n / lss) : st;
    }
    /* A new block at the end of the file; its other bytes read as zeros. */
    st = allocate(img, img->block_size, &off);
    if (st == VHDX_OK)
        st = write_sparse(img, off + in_block, buf, n);
    if (st == VHDX_OK)
        st = ensure_size(img, off + img->block_size);
    if (st != VHDX_OK)
        return st;
    if (img->has_parent && e.state == BAT_PAYLOAD_NOT_PRESENT && !whole) {
        /* §6: the sectors not written keep reading from the parent. */
        st = bat_set(img, slot, BAT_PAYLOAD_PARTIALLY_PRESENT, off);
        return st == VHDX_OK ? bitmap_set(img, b, in_block / lss, n / lss) : st;
    }
    return bat_set(img, slot, BAT_PAYLOAD_FULLY_PRESENT, off);
}

/* Writes sector-aligned data, block by block. */
static vhdx_status write_aligned(struct vhdx_image *img, uint64_t offset, const uint8_t *buf,
                                 size_t len)
{
    while (len > 0) {
        uint64_t b = offset / img->block_size, in_block = offset % img->block_size;
        size_t n = len;
        vhdx_status st;
        if (n > block_span(img, b) - in_block)
            n = (size_t)(block_span(img, b) - in_block);
        st = block_write(img, b, in_block, buf, n);
        if (st != VHDX_OK)
            return st;
        buf += n;
        offset += n;
        len -= n;
    }
    return VHDX_OK;
}

static vhdx_status check_range(const struct vhdx_image *img, uint64_t offset, uint64_t len)
{
    uint64_t end;
    if (!ck_add_u64(offset, len, &end) || end > img->virtual_size)
        return VHDX_E_RANGE;
    return VHDX_OK;
}

static vhdx_status write_data(vhdx_image *img, uint64_t offset, const void *data, size_t len)
{
    const uint8_t *buf = data;
    struct writer *w;
    uint32_t lss;
    vhdx_status st;

    if (img == NULL || (buf == NULL && len != 0))
        return VHDX_E_INVALID_ARG;
    st = writer_get(img, &w);
    if (st == VHDX_OK)
        st = check_range(img, offset, len);
    if (st != VHDX_OK || len == 0)
        return st;
    st = writer_begin(img, &w);
    lss = img->logical_sector_size;
    while (st == VHDX_OK && len > 0) {
        uint64_t in_sector = offset % lss;
        if (in_sector != 0 || len < lss) {
            /* A partial sector: read it as the disk shows it, patch, write it whole. */
            uint8_t sector[4096];
            size_t n = lss - (size_t)in_sector;
            if (n > len)
                n = len;
            st = vhdx_read(img, offset - in_sector, sector, lss);
            if (st != VHDX_OK)
                break;
            memcpy(sector + in_sector, buf, n);
            st = write_aligned(img, offset - in_sector, sector, lss);
            buf += n;
            offset += n;
            len -= n;
        } else {
            size_t n = len - len % lss;
            st = write_aligned(img, offset, buf, n);
            buf += n;
            offset += n;
            len -= n;
        }
    }
    return st;
}

/* Writes zeros over [offset, offset + len) through vhdx_write. */
static vhdx_status write_zero_bytes(struct vhdx_image *img, uint64_t offset, uint64_t len)
{
    while (len > 0) {
        /*
         * Chunks end on multiples of 64 KiB (of every sector size), so each
         * sector is written by one chunk only. Chunks from an unaligned
         * offset wrote the sector on each boundary twice (the tail of one
         * chunk, then the head of the next): a power loss between them left
         * it half zeroed, a state no single change gives (regression input
         * fuzz_write_ops/partial-sector-after-crash).
         */
        size_t n = sizeof(zeros) - (size_t)(offset % sizeof(zeros));
        if (n > len)
            n = (size_t)len;
        vhdx_status st = vhdx_write(img, offset, zeros, n);
        if (st != VHDX_OK)
            return st;
        offset += n;
        len -= n;
    }
    return VHDX_OK;
}

static vhdx_status write_zeroes(vhdx_image *img, uint64_t offset, uint64_t len)
{
    struct writer *w;
    vhdx_status st;

    if (img == NULL)
        return VHDX_E_INVALID_ARG;
    st = writer_get(img, &w);
    if (st == VHDX_OK)
        st = check_range(img, offset, len);
    if (st != VHDX_OK || len == 0)
        return st;
    st = writer_begin(img, &w);
    while (st == VHDX_OK && len > 0) {
        uint64_t b = offset / img->block_size, in_block = offset % img->block_size;
        uint64_t n = block_span(img, b) - in_block;
        uint64_t slot;
        struct bat_entry e;
        if (n > len)
            n = len;
        st = block_slot(img, b, &slot, &e);
        if (st != VHDX_OK)
            break;
        if (img->leave_blocks_allocated || holds_data(e.state) ||
            (img->has_parent && e.state == BAT_PAYLOAD_NOT_PRESENT)) {
            /* Whole blocks move to ZERO; parts of blocks with data get zeros written. */
            if (!img->leave_blocks_allocated && n == block_span(img, b))
                st = block_release(img, b, BAT_PAYLOAD_ZERO);
            else
                st = write_zero_bytes(img, offset, n);
        } else if (e.state != BAT_PAYLOAD_ZERO) {
            /* No data: the contents were undefined (§7.2), zeros are one of them. */
            st = block_release(img, b, BAT_PAYLOAD_ZERO);
        }
        offset += n;
        len -= n;
    }
    return st;
}

static vhdx_status discard_blocks(vhdx_image *img, uint64_t offset, uint64_t len,
                                  uint64_t *discarded)
{
    struct writer *w;
    uint64_t done = 0, b, end;
    uint8_t target;
    vhdx_status st;

    if (discarded != NULL)
        *discarded = 0;
    if (img == NULL)
        return VHDX_E_INVALID_ARG;
    st = writer_get(img, &w);
    if (st == VHDX_OK)
        st = check_range(img, offset, len);
    if (st != VHDX_OK || len == 0)
        return st;
    if (img->leave_blocks_allocated) {
        /* Fixed images never leave FULLY_PRESENT (§7.2 footnote 6): zeros in place. */
        st = vhdx_write_zeroes(img, offset, len);
        if (st == VHDX_OK && discarded != NULL)
            *discarded = len;
        return st;
    }
    /* A differencing image's unmapped block must read zeros, not the parent. */
    target = img->has_parent ? BAT_PAYLOAD_ZERO : BAT_PAYLOAD_UNMAPPED;
    end = offset + len;
    for (b = (offset + img->block_size - 1) / img->block_size;
         b < img->geo.payload_blocks && b * img->block_size + block_span(img, b) <= end; b++) {
        uint64_t slot;
        struct bat_entry e;
        st = block_slot(img, b, &slot, &e);
        if (st != VHDX_OK)
            break;
        if (!holds_data(e.state) && !(img->has_parent && e.state == BAT_PAYLOAD_NOT_PRESENT))
            continue;
        st = writer_begin(img, &w);
        if (st == VHDX_OK)
            st = block_release(img, b, target);
        if (st != VHDX_OK)
            break;
        done += block_span(img, b);
    }
    if (discarded != NULL)
        *discarded = done;
    return st;
}

/* ---- Resize ---- */

/* True when a byte of the virtual range [from, to) held in this file is not zero. */
static vhdx_status data_past(struct vhdx_image *img, uint64_t from, uint64_t to, bool *found)
{
    uint8_t buf[64 * 1024];
    *found = false;
    /* Extent by extent: only DATA is read (a run of unallocated blocks is one extent). */
    while (from < to) {
        vhdx_extent e;
        uint64_t end;
        vhdx_status st = vhdx_map_next(img, from, &e);
        if (st != VHDX_OK)
            return st;
        end = e.length < to - from ? from + e.length : to;
        for (uint64_t p = from; e.kind == VHDX_EXTENT_DATA && p < end;) {
            size_t n = end - p > sizeof(buf) ? sizeof(buf) : (size_t)(end - p);
            st = vhdx_read(img, p, buf, n);
            if (st != VHDX_OK)
                return st;
            if (!bytes_all_zero(buf, n)) {
                *found = true;
                return VHDX_OK;
            }
            p += n;
        }
        from = end;
    }
    return VHDX_OK;
}

/*
 * How many of the payload blocks [from, to) hold data: the BAT a cached
 * span (within one chunk) at a time, runs of all-zero entries passed over.
 */
static vhdx_status count_data_blocks(struct vhdx_image *img, uint64_t from, uint64_t to,
                                     uint64_t *count)
{
    *count = 0;
    for (uint64_t b = from; b < to;) {
        const uint64_t *ents = NULL;
        uint64_t n = 0;
        vhdx_status st = image_bat_payload_span(img, b, to - b, &ents, &n);
        if (st != VHDX_OK)
            return st;
        for (uint64_t i = 0; i < n;) {
            if (ents[i] == 0) {
                i += bat_zero_prefix((const uint8_t *)(ents + i), n - i);
                continue;
            }
            *count += holds_data(bat_entry_decode(ents[i]).state) ? 1u : 0u;
            i++;
        }
        b += n;
    }
    return VHDX_OK;
}

/* Zeroes the file bytes of block b from virtual offset `from` to the block's end. */
static vhdx_status zero_block_tail(struct vhdx_image *img, uint64_t from)
{
    uint64_t b = from / img->block_size, in_block = from % img->block_size, slot;
    struct bat_entry e;
    vhdx_status st;
    if (in_block == 0 || b >= img->geo.payload_blocks)
        return VHDX_OK;
    st = block_slot(img, b, &slot, &e);
    if (st != VHDX_OK || !holds_data(e.state))
        return st;
    return io_write_zeros(img, bat_entry_file_offset(&e) + in_block, img->block_size - in_block);
}

/* BAT slots [a, b) become 0 in the batch: partial pages as pages, the rest as a zero range. */
static vhdx_status bat_zero_slots(struct vhdx_image *img, uint64_t a, uint64_t b)
{
    uint64_t lo = img->bat_region.file_offset + a * BAT_ENTRY_SIZE;
    uint64_t hi = img->bat_region.file_offset + b * BAT_ENTRY_SIZE;
    uint64_t lo_up = (lo + PAGE - 1) & ~(uint64_t)(PAGE - 1), hi_down = hi & ~(uint64_t)(PAGE - 1);
    vhdx_status st = VHDX_OK;
    if (a >= b)
        return VHDX_OK;
    /* What is not a whole page is under two pages: one copy from `zeros` each. */
    if (lo_up >= hi_down)
        return file_batch_write(img, lo, zeros, (size_t)(hi - lo));
    st = file_batch_zero(img, lo_up, hi_down - lo_up);
    if (st == VHDX_OK)
        st = file_batch_write(img, lo, zeros, (size_t)(lo_up - lo));
    if (st == VHDX_OK)
        st = file_batch_write(img, hi_down, zeros, (size_t)(hi - hi_down));
    return st;
}

/* Both region tables with the BAT entry moved, through the batch (changed pages only). */
static vhdx_status regions_move_bat(struct vhdx_image *img, uint64_t off, uint32_t len)
{
    static const uint64_t copies[2] = {VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET};
    uint8_t *buf, *cur;
    vhdx_status st;
    bool found = false;

    for (uint32_t i = 0; i < img->regions->entry_count; i++) {
        struct region_entry *r = &img->regions->entries[i];
        if (guid_equal(&r->guid, &VHDX_GUID_REGION_BAT)) {
            r->file_offset = off;
            r->length = len;
            found = true;
        }
    }
    if (!found)
        return VHDX_E_MISSING;
    buf = acct_alloc(&img->acct, 2 * (size_t)REGION_TABLE_SIZE, &st);
    if (buf == NULL)
        return st;
    cur = buf + REGION_TABLE_SIZE;
    st = region_table_encode(img->regions, buf, REGION_TABLE_SIZE);
    for (int c = 0; c < 2 && st == VHDX_OK; c++) {
        st = image_read_exact(img, copies[c], cur, REGION_TABLE_SIZE);
        for (uint32_t p = 0; p < REGION_TABLE_SIZE && st == VHDX_OK; p += PAGE)
            if (memcmp(buf + p, cur + p, PAGE) != 0)
                st = file_batch_write(img, copies[c] + p, buf + p, PAGE);
    }
    acct_free(&img->acct, buf, 2 * (size_t)REGION_TABLE_SIZE);
    return st;
}

/*
 * The spare region table copy rewritten from the copy in use, byte for
 * byte (reserved bytes included, which its checksum covers): the pages
 * that differ, through the batch, so through the log (§4.4: changes to
 * the region table MUST go through the log; §8.1).
 */
static vhdx_status region_table_rewrite_spare(struct vhdx_image *img, int *rewritten)
{
    static const uint64_t copies[2] = {VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET};
    int use = img->region_table_used == 2 ? 1 : 0;
    uint8_t *buf, *cur;
    vhdx_status st;

    buf = acct_alloc(&img->acct, 2 * (size_t)REGION_TABLE_SIZE, &st);
    if (buf == NULL)
        return st;
    cur = buf + REGION_TABLE_SIZE;
    st = image_read_exact(img, copies[use], buf, REGION_TABLE_SIZE);
    if (st == VHDX_OK)
        st = image_read_exact(img, copies[1 - use], cur, REGION_TABLE_SIZE);
    if (st == VHDX_OK)
        st = txn_reserve(img, REGION_TABLE_SIZE / PAGE);
    for (uint32_t p = 0; p < REGION_TABLE_SIZE && st == VHDX_OK; p += PAGE)
        if (memcmp(buf + p, cur + p, PAGE) != 0)
            st = file_batch_write(img, copies[1 - use] + p, buf + p, PAGE);
    acct_free(&img->acct, buf, 2 * (size_t)REGION_TABLE_SIZE);
    if (st == VHDX_OK)
        *rewritten = 2 - use;
    return st;
}


/* Copies the first `entries` BAT entries to a new BAT at new_off (not yet referenced). */
static vhdx_status bat_copy(struct vhdx_image *img, uint64_t new_off, uint64_t entries)
{
    uint8_t buf[64 * 1024];
    uint64_t bytes = entries * BAT_ENTRY_SIZE;
    for (uint64_t p = 0; p < bytes;) {
        size_t n = bytes - p > sizeof(buf) ? sizeof(buf) : (size_t)(bytes - p);
        vhdx_status st = image_read_exact(img, img->bat_region.file_offset + p, buf, n);
        if (st == VHDX_OK)
            st = io_write(img, new_off + p, buf, n);
        if (st != VHDX_OK)
            return st;
        p += n;
    }
    return VHDX_OK;
}

static vhdx_status resize_disk(vhdx_image *img, uint64_t new_size, unsigned flags)
{
    struct bat_geometry g2, old;
    struct diag_sink quiet;
    struct writer *w;
    uint64_t keep_entries, bat_off, bat_len, new_blocks = 0, dropped = 0;
    bool move, found;
    uint8_t le[8];
    vhdx_status st;

    if (img == NULL || (flags & ~(unsigned)VHDX_RESIZE_FORCE) != 0)
        return VHDX_E_INVALID_ARG;
    st = writer_get(img, &w);
    if (st != VHDX_OK)
        return st;
    if (img->has_parent)
        return VHDX_E_UNSUPPORTED;
    if (new_size == 0 || new_size % img->logical_sector_size != 0 ||
        new_size > VHDX_MAX_VIRTUAL_DISK_SIZE)
        return VHDX_E_RANGE;
    if (new_size == img->virtual_size)
        return VHDX_OK;
    diag_sink_init(&quiet, NULL, 0);
    st = bat_geometry_init(&g2, new_size, img->block_size, img->logical_sector_size, false, &quiet);
    if (st != VHDX_OK)
        return st;
    old = img->geo;
    if (new_size < img->virtual_size && (flags & VHDX_RESIZE_FORCE) == 0) {
        st = data_past(img, new_size, img->virtual_size, &found);
        if (st != VHDX_OK)
            return st;
        if (found)
            return VHDX_E_STATE;
    }
    if (g2.payload_blocks < old.payload_blocks) {
        st = count_data_blocks(img, g2.payload_blocks, old.payload_blocks, &dropped);
        if (st != VHDX_OK)
            return st;
    }
    st = writer_begin(img, &w);
    if (st == VHDX_OK)
        st = txn_commit(img); /* the resize is one entry of its own */
    if (st != VHDX_OK)
        return st;

    /* Bytes past the old end of the last block (grow) or the new end (shrink) read zeros. */
    st = zero_block_tail(img, new_size < img->virtual_size ? new_size : img->virtual_size);
    if (st != VHDX_OK)
        return st;
    if (img->leave_blocks_allocated && g2.payload_blocks > old.payload_blocks)
        new_blocks = g2.payload_blocks - old.payload_blocks;
    keep_entries = g2.total_entries < old.total_entries ? g2.total_entries : old.total_entries;
    /* A larger BAT, or more new fixed-disk entries than one entry can carry: a new BAT. */
    move = g2.total_entries * BAT_ENTRY_SIZE > img->bat_region.length ||
           new_blocks * BAT_ENTRY_SIZE / PAGE + 8 > img->batch.max_pages;
    bat_off = img->bat_region.file_offset;
    bat_len = img->bat_region.length;
    if (move) {
        bat_len = round_up_mib(g2.total_entries * BAT_ENTRY_SIZE);
        if (bat_len > UINT32_MAX - VHDX_MiB)
            return VHDX_E_RANGE;
        st = allocate(img, bat_len, &bat_off);
        if (st == VHDX_OK)
            st = ensure_size(img, bat_off + bat_len);
        if (st == VHDX_OK)
            st = bat_copy(img, bat_off, keep_entries);
    } else {
        st = bat_zero_slots(img, keep_entries,
                            g2.total_entries > old.total_entries ? g2.total_entries
                                                                 : old.total_entries);
    }
    /* Fixed disks: every new block allocated and FULLY_PRESENT. */
    for (uint64_t b = old.payload_blocks; st == VHDX_OK && b < old.payload_blocks + new_blocks;
         b++) {
        uint64_t slot, off;
        struct bat_entry e = {BAT_PAYLOAD_FULLY_PRESENT, 0, 0};
        st = bat_payload_index(&g2, b, &slot);
        if (st == VHDX_OK)
            st = allocate(img, img->block_size, &off);
        if (st != VHDX_OK)
            break;
        e.file_offset_mb = off >> 20;
        le64_store_no_bounds_check(le, bat_entry_encode(&e));
        if (move)
            st = io_write(img, bat_off + slot * BAT_ENTRY_SIZE, le, 8);
        else
            st = file_batch_write(img, bat_off + slot * BAT_ENTRY_SIZE, le, 8);
    }
    if (st == VHDX_OK && new_blocks != 0)
        st = ensure_size(img, w->file_end);
    if (st == VHDX_OK && move)
        st = regions_move_bat(img, bat_off, (uint32_t)bat_len);
    le64_store_no_bounds_check(le, new_size);
    if (st == VHDX_OK)
        st = file_batch_write(img, img->vds_item_offset, le, 8);
    if (st == VHDX_OK)
        st = txn_commit(img);
    if (st != VHDX_OK)
        return fail(img, st);
    if (move || new_size < img->virtual_size)
        w->released = true;
    img->blocks_allocated = img->blocks_allocated + new_blocks - dropped;
    img->virtual_size = new_size;
    img->geo = g2;
    img->bat_region.file_offset = bat_off;
    img->bat_region.length = (uint32_t)bat_len;
    image_bat_cache_free(img);
    return VHDX_OK;
}

/* ---- The writing calls ---- */

/*
 * A writing call that ran out of memory or met a failing back end fails
 * the handle wherever that happened (vhdx.h), before its first change too:
 * it may have left half a change in the batch or the file (a block
 * written whose BAT entry never made the batch, a count moved ahead of
 * it), and only a reopen is sure to see the file as it is. Refusals (a
 * range, an argument, a shrink with data) leave the handle as it was.
 */
static vhdx_status fail_on_resource_error(vhdx_image *img, vhdx_status st)
{
    if (img != NULL && (st == VHDX_E_NOMEM || st == VHDX_E_LIMIT || st == VHDX_E_IO))
        img->failed = true;
    return st;
}

/*
 * vhdx_repair: the damaged spare copies the open found. The header update
 * that begins the session rewrites both header slots from the current
 * header (§3.4: the non-current slot first, flushed, then the current
 * one); the region table goes through the log; vhdx_finish makes it all
 * durable and empties the log.
 */
vhdx_status vhdx_repair(vhdx_image *img, vhdx_repair_result *out)
{
    vhdx_repair_result local = {0, 0};
    vhdx_repair_result *res = out != NULL ? out : &local;
    struct writer *w;
    bool header;
    vhdx_status st;

    memset(res, 0, sizeof(*res));
    if (img == NULL)
        return VHDX_E_INVALID_ARG;
    header = img->spare_header_damaged;
    st = writer_get(img, &w);
    if (st != VHDX_OK || img->unsealed ||
        (!img->spare_header_damaged && !img->spare_region_table_damaged))
        return fail_on_resource_error(img, st);
    st = writer_begin_as(img, false, &w);
    /* A session already begun rewrote both slots then: once more, from the current one. */
    if (st == VHDX_OK && img->spare_header_damaged) {
        struct header_change c = {NULL, NULL, NULL};
        st = write_headers(img, &c);
    }
    if (st == VHDX_OK && header)
        res->header_rewritten = 3 - img->current_header;
    if (st == VHDX_OK && img->spare_region_table_damaged) {
        st = region_table_rewrite_spare(img, &res->region_table_rewritten);
        if (st == VHDX_OK)
            img->spare_region_table_damaged = false;
    }
    if (st == VHDX_OK)
        st = finish_session(img);
    return fail_on_resource_error(img, st);
}

/* image.h: one log entry of metadata ranges, in a session that keeps the DataWriteGuid. */
vhdx_status image_write_metadata(struct vhdx_image *img, const struct image_patch *p, size_t n)
{
    struct writer *w;
    size_t pages = 0;
    vhdx_status st = writer_get(img, &w);
    if (st != VHDX_OK)
        return fail_on_resource_error(img, st);
    if (img->unsealed || w->guids_done || img->batch.npages != 0 ||
        img->batch.nzeros != 0)
        return VHDX_E_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        uint64_t end;
        if (p[i].len == 0)
            continue;
        if (!ck_add_u64(p[i].off, p[i].len, &end))
            return VHDX_E_OVERFLOW;
        pages += (size_t)((end + PAGE - 1) / PAGE - p[i].off / PAGE);
    }
    if (pages > img->batch.max_pages)
        return VHDX_E_LIMIT;
    st = writer_begin_as(img, false, &w);
    for (size_t i = 0; i < n && st == VHDX_OK; i++)
        st = file_batch_write(img, p[i].off, p[i].data, p[i].len);
    if (st == VHDX_OK)
        st = finish_session(img);
    return fail_on_resource_error(img, st);
}

vhdx_status vhdx_write(vhdx_image *img, uint64_t offset, const void *data, size_t len)
{
    return fail_on_resource_error(img, write_data(img, offset, data, len));
}

vhdx_status vhdx_write_zeroes(vhdx_image *img, uint64_t offset, uint64_t len)
{
    return fail_on_resource_error(img, write_zeroes(img, offset, len));
}

vhdx_status vhdx_discard(vhdx_image *img, uint64_t offset, uint64_t len, uint64_t *discarded)
{
    return fail_on_resource_error(img, discard_blocks(img, offset, len, discarded));
}

vhdx_status vhdx_resize(vhdx_image *img, uint64_t new_size, unsigned flags)
{
    return fail_on_resource_error(img, resize_disk(img, new_size, flags));
}

vhdx_status vhdx_flush(vhdx_image *img)
{
    return fail_on_resource_error(img, flush_session(img));
}

vhdx_status vhdx_finish(vhdx_image *img)
{
    return fail_on_resource_error(img, finish_session(img));
}
