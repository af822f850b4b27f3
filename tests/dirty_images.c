/* Dirty images for the log tests: see dirty_images.h. */
#include "dirty_images.h"

#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "format/bat.h"
#include "format/constants.h"

#define MIB (1024u * 1024u)
#define PAGE 4096u
#define MAX_DESC 300u
#define MAX_RECS 1024u

const struct guid DIRTY_LOG_GUID = {{0x4c, 0x4f, 0x47, 0x21, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60,
                                     0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0}};

struct write_rec {
    uint64_t off, len;
    uint8_t *data; /* NULL: zeros */
};

struct builder {
    struct dirty_image *d;
    struct ib_image *img;
    uint64_t block_x, block_y; /* two allocated payload blocks (file offsets) */
    struct log_descriptor desc[MAX_DESC];
    uint8_t *pages[MAX_DESC];
    size_t n;
    struct write_rec recs[MAX_RECS];
    size_t nrec;
    uint64_t head_last; /* LastFileOffset of the active head */
};

static void fill(uint8_t *page, uint32_t tag)
{
    for (uint32_t i = 0; i < PAGE; i += 4)
        le32_store_no_bounds_check(page + i, tag * 0x01000193u + i);
}

static int stage_data(struct builder *b, uint64_t off, const uint8_t *page)
{
    if (b->n >= MAX_DESC)
        return -1;
    b->pages[b->n] = malloc(PAGE);
    if (b->pages[b->n] == NULL)
        return -1;
    memcpy(b->pages[b->n], page, PAGE);
    memset(&b->desc[b->n], 0, sizeof(b->desc[0]));
    b->desc[b->n].kind = LOG_DESCRIPTOR_DATA;
    b->desc[b->n].file_offset = off;
    b->n++;
    return 0;
}

static int stage_pattern(struct builder *b, uint64_t off, uint32_t tag)
{
    uint8_t page[PAGE];
    fill(page, tag);
    return stage_data(b, off, page);
}

static int stage_zero(struct builder *b, uint64_t off, uint64_t len)
{
    if (b->n >= MAX_DESC)
        return -1;
    b->pages[b->n] = NULL;
    memset(&b->desc[b->n], 0, sizeof(b->desc[0]));
    b->desc[b->n].kind = LOG_DESCRIPTOR_ZERO;
    b->desc[b->n].file_offset = off;
    b->desc[b->n].zero_length = len;
    b->n++;
    return 0;
}

/* The BAT page 0 with payload block `block` pointing at file offset `at` (0: unallocated). */
static int stage_bat(struct builder *b, const uint8_t *base_page, uint64_t block, uint64_t at,
                     uint8_t *page_out)
{
    uint64_t slot = 0;
    uint64_t raw = at == 0 ? 0 : (BAT_PAYLOAD_FULLY_PRESENT | (at / MIB) << 20);
    if (bat_payload_index(&b->img->geo, block, &slot) != VHDX_OK || slot * 8 >= PAGE)
        return -1;
    if (base_page != page_out)
        memcpy(page_out, base_page, PAGE);
    le64_store_no_bounds_check(page_out + slot * 8, raw);
    return stage_data(b, b->img->bat_offset, page_out);
}

struct commit_opts {
    uint64_t seq;
    uint32_t tail;
    uint64_t flushed, last; /* 0: the file size */
    int applied;            /* part of the active sequence */
    const struct guid *log_guid; /* NULL: the header's */
};

/* Encodes the staged descriptors as one entry at img->log_head. */
static int commit(struct builder *b, const struct commit_opts *o, uint32_t *at)
{
    struct ib_image *img = b->img;
    struct log_entry_header h;
    const uint8_t *payloads[MAX_DESC];
    size_t np = 0, length;
    int rc = 0;

    memset(&h, 0, sizeof(h));
    h.sequence_number = o->seq;
    h.tail = o->tail;
    h.log_guid = o->log_guid != NULL ? *o->log_guid : img->header.log_guid;
    h.flushed_file_offset = o->flushed != 0 ? o->flushed : img->len;
    h.last_file_offset = o->last != 0 ? o->last : img->len;
    for (size_t i = 0; i < b->n; i++) {
        if (b->desc[i].sequence_number == 0)
            b->desc[i].sequence_number = o->seq;
        if (b->desc[i].kind == LOG_DESCRIPTOR_DATA)
            payloads[np++] = b->pages[i];
    }
    if (log_entry_encode(&h, b->desc, b->n, payloads, img->data + img->log_offset,
                         img->log_length, img->log_head) != VHDX_OK)
        rc = -1;
    length = log_entry_length_for(b->n, np);
    if (at != NULL)
        *at = img->log_head;
    img->log_head = (uint32_t)((img->log_head + length) % img->log_length);
    for (size_t i = 0; i < b->n; i++) {
        if (rc == 0 && o->applied) {
            struct write_rec *r = &b->recs[b->nrec++];
            r->off = b->desc[i].file_offset;
            r->len = b->desc[i].kind == LOG_DESCRIPTOR_DATA ? PAGE : b->desc[i].zero_length;
            r->data = b->pages[i]; /* ownership moves to the record */
        } else {
            free(b->pages[i]);
        }
        b->pages[i] = NULL;
    }
    if (o->applied) {
        b->d->entries++;
        b->d->head_sequence = o->seq;
        b->head_last = h.last_file_offset;
    }
    b->n = 0;
    return rc;
}

static int commit_simple(struct builder *b, uint64_t seq, uint32_t tail, int applied,
                         uint32_t *at)
{
    struct commit_opts o;
    memset(&o, 0, sizeof(o));
    o.seq = seq;
    o.tail = tail;
    o.applied = applied;
    return commit(b, &o, at);
}

/* Recomputes the checksum of the entry at log offset `at` after a test patched it. */
static void restamp(struct builder *b, uint32_t at)
{
    struct log_entry_view v;
    uint8_t *log = b->img->data + b->img->log_offset;
    status_ignore(log_entry_check(log, b->img->log_length, at, NULL, b->img->log_offset, &v, NULL));
    le32_store_no_bounds_check(log + at + 4, v.computed_checksum);
}

static uint8_t *log_at(struct builder *b, uint32_t at)
{
    return b->img->data + b->img->log_offset + at;
}

/* The expected file: the dirty file with the active sequence applied. */
static int finalize(struct builder *b)
{
    struct dirty_image *d = b->d;
    size_t len = d->img.len;
    for (size_t i = 0; i < b->nrec && d->rule == NULL; i++)
        if (b->recs[i].off + b->recs[i].len > len)
            len = (size_t)(b->recs[i].off + b->recs[i].len);
    if (d->rule == NULL && b->head_last > len)
        len = (size_t)b->head_last;
    d->after = calloc(1, len);
    if (d->after == NULL)
        return -1;
    memcpy(d->after, d->img.data, d->img.len);
    d->after_len = len;
    for (size_t i = 0; i < b->nrec; i++) {
        if (d->rule != NULL)
            break;
        if (b->recs[i].data != NULL)
            memcpy(d->after + b->recs[i].off, b->recs[i].data, (size_t)b->recs[i].len);
        else
            memset(d->after + b->recs[i].off, 0, (size_t)b->recs[i].len);
    }
    if (d->rule != NULL) {
        d->after_len = d->img.len; /* nothing may change */
        d->entries = 0;
        d->head_sequence = 0;
    }
    return 0;
}

/* VHDX-FORMAT.md §11.2 item 11. */
static const char QEMU_OPENS_UNREPLAYED[] =
    "qemu-img opens the image without replaying when no sequence is valid (VHDX-FORMAT.md 11.2 "
    "item 11)";

/*
 * The open must fail with log.sequence.none. `warning` (NULL: none) is the
 * rule that rejected the only entry; qemu_opens: qemu-img opens the image
 * without replaying it instead.
 */
static void expect_no_sequence(struct dirty_image *d, const char *warning, vhdx_status code,
                               int qemu_opens)
{
    d->rule = "log.sequence.none";
    d->status = VHDX_E_CORRUPT;
    d->warning = warning;
    d->warning_code = code;
    if (qemu_opens) {
        d->qemu_exit = 1;
        d->qemu_note = QEMU_OPENS_UNREPLAYED;
    }
}

static const char *const NAMES[] = {
    "one-entry",         "multi-entry",        "entry-wraps",
    "sequence-wraps",    "stale-before-tail",  "zero-descriptors",
    "many-descriptors",  "torn-checksum",      "torn-missing-data",
    "two-sequences",     "last-offset-beyond", "mid-ring",
    "no-valid-sequence", "tail-outside",       "truncated",
    "target-header-area", "target-in-log",     "target-overflow",
    "length-mismatch",   "descriptor-sequence", "data-sequence",
    "foreign-log-guid",  "sequence-zero",      "entry-too-long",
    "target-past-end",   "data-past-end-within-last",
};

int dirty_count(void)
{
    return (int)(sizeof(NAMES) / sizeof(NAMES[0]));
}

static int shape(struct builder *b, int i)
{
    struct dirty_image *d = b->d;
    struct ib_image *img = b->img;
    uint8_t bat0[PAGE], page[PAGE];
    uint32_t at = 0;
    const uint8_t *bat_base = img->data + img->bat_offset;
    int rc = 0;

    switch (i) {
    case 0: /* one entry: the BAT learns about block 0 */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, NULL);
        break;
    case 1: /* three entries, the later ones overwriting the earlier */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 10, 0, 1, NULL);
        rc |= stage_bat(b, bat0, 1, b->block_y, bat0);
        rc |= stage_pattern(b, b->block_x + 8 * PAGE, 11);
        rc |= commit_simple(b, 11, 0, 1, NULL);
        rc |= stage_pattern(b, b->block_x + 8 * PAGE, 12);
        rc |= stage_pattern(b, b->block_y, 13);
        rc |= commit_simple(b, 12, 0, 1, NULL);
        break;
    case 2: /* one entry whose sectors wrap around the end of the log */
        img->log_head = img->log_length - 2 * PAGE;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= stage_pattern(b, b->block_x, 21);
        rc |= stage_pattern(b, b->block_x + PAGE, 22);
        rc |= commit_simple(b, 7, img->log_length - 2 * PAGE, 1, NULL);
        break;
    case 3: /* a sequence whose second entry starts again at log offset 0 */
        img->log_head = img->log_length - 2 * PAGE;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 30, img->log_length - 2 * PAGE, 1, &at);
        rc |= stage_pattern(b, b->block_x + 3 * PAGE, 31);
        rc |= commit_simple(b, 31, at, 1, NULL);
        d->qemu_exit = 1;
        d->qemu_note = "qemu-img replays only the entry it meets first from log offset 0, not the "
                       "sequence from the head's Tail (VHDX-FORMAT.md 11.2 item 12)";
        break;
    case 4: /* an already-applied entry before the Tail is not replayed again */
        rc |= stage_pattern(b, b->block_x + 5 * PAGE, 40); /* stale */
        rc |= commit_simple(b, 40, 0, 0, NULL);
        at = img->log_head;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 41, at, 1, NULL);
        d->qemu_exit = 1;
        d->qemu_note = "qemu-img also replays the stale entry before the Tail (VHDX-FORMAT.md "
                       "11.2 item 12)";
        break;
    case 5: /* zero descriptors mixed with data descriptors */
        rc |= stage_zero(b, b->block_y, 16 * PAGE);
        rc |= stage_bat(b, bat_base, 0, b->block_y, bat0);
        rc |= stage_zero(b, b->block_x + 64 * PAGE, 4 * PAGE);
        rc |= stage_pattern(b, b->block_y + 2 * PAGE, 50);
        rc |= commit_simple(b, 50, 0, 1, NULL);
        break;
    case 6: /* 130 descriptors: a second descriptor sector */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        for (uint32_t k = 0; k < 129; k++)
            rc |= stage_pattern(b, b->block_x + (uint64_t)k * PAGE, 600 + k);
        rc |= commit_simple(b, 60, 0, 1, NULL);
        d->qemu_exit = 1;
        d->qemu_note = "qemu-img check -r all fails to open this image (EINVAL)";
        break;
    case 7: /* a valid sequence, then a torn entry (bad checksum) */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 70, 0, 1, NULL);
        rc |= stage_pattern(b, b->block_x + 9 * PAGE, 71);
        rc |= commit_simple(b, 71, 0, 0, &at);
        log_at(b, at)[4] ^= 0x5a;
        d->warning = "log_entry.checksum";
        d->warning_code = VHDX_E_CHECKSUM;
        break;
    case 8: /* a valid sequence, then an entry whose data sector never reached the disk */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 80, 0, 1, NULL);
        rc |= stage_pattern(b, b->block_x + 9 * PAGE, 81);
        rc |= commit_simple(b, 81, 0, 0, &at);
        memset(log_at(b, at) + PAGE, 0, PAGE);
        d->warning = "log_entry.data_sector.signature";
        d->warning_code = VHDX_E_SIGNATURE;
        break;
    case 9: /* two independent sequences: the higher sequence number wins */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 100, 0, 1, &at);
        rc |= stage_pattern(b, b->block_x, 101);
        rc |= commit_simple(b, 101, at, 1, NULL);
        img->log_head = 512 * 1024;
        rc |= stage_bat(b, bat_base, 0, b->block_y, page);
        rc |= commit_simple(b, 7, 512 * 1024, 0, NULL);
        break;
    case 10: { /* LastFileOffset beyond the file: replay extends it */
        struct commit_opts o;
        memset(&o, 0, sizeof(o));
        o.seq = 3;
        o.applied = 1;
        o.last = img->len + 3 * MIB;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit(b, &o, NULL);
        break;
    }
    case 11: /* the log starts in the middle of the ring */
        img->log_head = 512 * 1024;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 90, 512 * 1024, 1, NULL);
        rc |= stage_bat(b, bat0, 1, b->block_y, bat0);
        rc |= commit_simple(b, 91, 512 * 1024, 1, NULL);
        break;
    case 12: /* the only entry is torn: no valid sequence */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, &at);
        log_at(b, at)[4] ^= 1;
        expect_no_sequence(d, "log_entry.checksum", VHDX_E_CHECKSUM, 1);
        break;
    case 13: /* the head's Tail names no entry of its sequence */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 512 * 1024, 1, NULL);
        expect_no_sequence(d, "log.sequence.tail", VHDX_E_CORRUPT, 1);
        break;
    case 14: { /* FlushedFileOffset beyond the file: the file was truncated */
        struct commit_opts o;
        memset(&o, 0, sizeof(o));
        o.seq = 1;
        o.applied = 1;
        o.flushed = img->len + MIB;
        o.last = img->len + MIB;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit(b, &o, NULL);
        d->rule = "log.truncated";
        d->status = VHDX_E_TRUNCATED;
        break;
    }
    case 15: /* a target in the header area */
        rc |= stage_pattern(b, 128 * 1024, 150);
        rc |= commit_simple(b, 1, 0, 1, NULL);
        expect_no_sequence(d, "log_entry.descriptor.target.header_area", VHDX_E_RANGE, 1);
        break;
    case 16: /* a target inside the log */
        rc |= stage_pattern(b, img->log_offset + 64 * PAGE, 160);
        rc |= commit_simple(b, 1, 0, 1, NULL);
        expect_no_sequence(d, "log_entry.descriptor.target.log_overlap", VHDX_E_OVERLAP, 1);
        break;
    case 17: /* a zero descriptor running past 2^64 */
        rc |= stage_zero(b, UINT64_MAX - PAGE + 1, 2 * PAGE);
        rc |= commit_simple(b, 1, 0, 1, NULL);
        expect_no_sequence(d, "log_entry.descriptor.overflow", VHDX_E_OVERFLOW, 0);
        break;
    case 18: /* EntryLength one sector longer than its descriptors need */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, &at);
        le32_store_no_bounds_check(log_at(b, at) + 8, 3 * PAGE);
        restamp(b, at);
        expect_no_sequence(d, "log_entry.length.mismatch", VHDX_E_CORRUPT, 1);
        break;
    case 19: /* a descriptor carrying another sequence number */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        b->desc[0].sequence_number = 2;
        rc |= commit_simple(b, 1, 0, 1, NULL);
        expect_no_sequence(d, "log_entry.descriptor.sequence", VHDX_E_CORRUPT, 0);
        break;
    case 20: /* a data sector carrying another sequence number */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, &at);
        le32_store_no_bounds_check(log_at(b, at) + PAGE + 4092, 9);
        restamp(b, at);
        expect_no_sequence(d, "log_entry.data_sector.sequence", VHDX_E_CORRUPT, 0);
        break;
    case 21: { /* the only entry belongs to another log (another LogGuid) */
        static const struct guid other = {{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}};
        struct commit_opts o;
        memset(&o, 0, sizeof(o));
        o.seq = 1;
        o.applied = 1;
        o.log_guid = &other;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit(b, &o, NULL);
        expect_no_sequence(d, NULL, VHDX_OK, 1);
        break;
    }
    case 22: /* sequence number 0 */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, &at);
        memset(log_at(b, at) + 16, 0, 8);
        restamp(b, at);
        expect_no_sequence(d, "log_entry.sequence_number.zero", VHDX_E_RANGE, 1);
        break;
    case 23: /* EntryLength not below LogLength */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= commit_simple(b, 1, 0, 1, &at);
        le32_store_no_bounds_check(log_at(b, at) + 8, img->log_length);
        expect_no_sequence(d, "log_entry.entry_length.range", VHDX_E_RANGE, 0);
        break;
    case 24: /* a zero descriptor far past the file's end and the entry's LastFileOffset */
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= stage_zero(b, 64ull << 30, 4 * MIB);
        rc |= commit_simple(b, 1, 0, 1, NULL);
        d->rule = "log.descriptor.past_end";
        d->status = VHDX_E_RANGE;
        d->qemu_exit = 1;
        d->qemu_note = "qemu-img replays a descriptor past the file's end and its entry's "
                       "LastFileOffset, growing the file (docs/REPLAY.md, Bounds)";
        break;
    case 25: { /* a data target past the file's end but inside the entry's LastFileOffset */
        struct commit_opts o;
        memset(&o, 0, sizeof(o));
        o.seq = 5;
        o.applied = 1;
        o.last = img->len + 2 * MIB;
        rc |= stage_bat(b, bat_base, 0, b->block_x, bat0);
        rc |= stage_pattern(b, img->len + MIB, 250);
        rc |= commit(b, &o, NULL);
        break;
    }
    default:
        return -1;
    }
    return rc;
}

int dirty_build(int i, struct dirty_image *out)
{
    struct ib_params p;
    struct builder *b;
    uint8_t page[PAGE];
    int rc;

    memset(out, 0, sizeof(*out));
    if (i < 0 || i >= dirty_count())
        return -1;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -1;
    out->name = NAMES[i];
    out->status = VHDX_OK;
    b->d = out;
    b->img = &out->img;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 16ull * MIB;
    p.block_size = MIB;
    rc = ib_build(&p, &out->img);
    /* Two payload blocks the log will hand to the BAT, with recognisable bytes. */
    if (rc == 0)
        rc = ib_alloc_space(&out->img, MIB, &b->block_x);
    if (rc == 0)
        rc = ib_alloc_space(&out->img, MIB, &b->block_y);
    if (rc == 0) {
        for (uint32_t k = 0; k < MIB / PAGE; k++) {
            fill(page, 0x1000 + k);
            memcpy(out->img.data + b->block_x + (uint64_t)k * PAGE, page, PAGE);
            fill(page, 0x2000 + k);
            memcpy(out->img.data + b->block_y + (uint64_t)k * PAGE, page, PAGE);
        }
        rc = ib_set_log_guid(&out->img, &DIRTY_LOG_GUID);
    }
    if (rc == 0)
        rc = shape(b, i);
    if (rc == 0)
        rc = finalize(b);
    for (size_t k = 0; k < b->nrec; k++)
        free(b->recs[k].data);
    for (size_t k = 0; k < b->n; k++)
        free(b->pages[k]);
    free(b);
    if (rc != 0)
        dirty_free(out);
    return rc;
}

void dirty_free(struct dirty_image *d)
{
    ib_free(&d->img);
    free(d->after);
    memset(d, 0, sizeof(*d));
}
