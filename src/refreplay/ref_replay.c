/*
 * The reference log replayer (docs/REPLAY.md, written to be read beside it).
 * Every number derived from the file is a uint64_t; every sum that could
 * exceed 64 bits goes through ck_add_u64 or is bounded by a check stated next
 * to it. No code is shared with src/format/log_entry.c or src/image/.
 */
#include "refreplay/ref_replay.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "base/guid.h"

#define SECTOR 4096u
#define ENTRY_HEADER_SIZE 64u
#define DESCRIPTOR_SIZE 32u
#define DESCRIPTORS_IN_SECTOR0 126u
#define DESCRIPTORS_PER_SECTOR 128u
#define MIN_TARGET (192ull * 1024ull)
#define ZERO_CHUNK ((size_t)1024 * 1024)
#define HEADER_BYTES 4096u

/* The log, as read from the file, and what an entry is checked against. */
struct log_view {
    const uint8_t *log;     /* log[0, length) = file bytes [file_offset, file_offset + length) */
    uint64_t length;        /* L: a non-zero multiple of SECTOR, below 2^32 */
    uint64_t file_offset;   /* O */
    const uint8_t *guid;    /* G: 16 bytes */
};

/* The fields of a valid entry that the sequence rules and the replay need. */
struct entry {
    bool valid;
    uint64_t length;         /* EntryLength */
    uint64_t tail;           /* Tail */
    uint64_t seq;            /* SequenceNumber */
    uint64_t desc_count;     /* DescriptorCount */
    uint64_t desc_sectors;   /* D = ceil((DescriptorCount + 2) / 128) */
    uint64_t flushed;        /* FlushedFileOffset */
    uint64_t last;           /* LastFileOffset */
};

/* ---- Reading the log ---- */

/* Sector k of the entry at log offset p: file offset O + ((p + 4096 k) mod L). */
static const uint8_t *get_sector(const struct log_view *v, uint64_t p, uint64_t k)
{
    uint64_t sectors = v->length / SECTOR;
    /* p < L and (k mod sectors) * 4096 < L, with L < 2^32: no overflow. */
    uint64_t off = (p % v->length + (k % sectors) * SECTOR) % v->length;
    return v->log + off;
}

/* Descriptor i of the entry at p (docs/REPLAY.md rule 8). */
static const uint8_t *get_descriptor(const struct log_view *v, uint64_t p, uint64_t i)
{
    if (i < DESCRIPTORS_IN_SECTOR0)
        return get_sector(v, p, 0) + ENTRY_HEADER_SIZE + DESCRIPTOR_SIZE * i;
    return get_sector(v, p, 1 + (i - DESCRIPTORS_IN_SECTOR0) / DESCRIPTORS_PER_SECTOR) +
           DESCRIPTOR_SIZE * ((i - DESCRIPTORS_IN_SECTOR0) % DESCRIPTORS_PER_SECTOR);
}

static bool is_zero_descriptor(const uint8_t *desc)
{
    return memcmp(desc, "zero", 4) == 0;
}

static bool is_data_descriptor(const uint8_t *desc)
{
    return memcmp(desc, "desc", 4) == 0;
}

/* ---- Rules 1-11: is the entry at p valid? ---- */

/* Rule 8 for one descriptor of an entry with SequenceNumber seq. */
static bool descriptor_valid(const struct log_view *v, const uint8_t *desc, uint64_t seq)
{
    uint64_t file_offset = le64_load_no_bounds_check(desc + 16);
    uint64_t length, end;

    if (!is_zero_descriptor(desc) && !is_data_descriptor(desc))
        return false;
    if (le64_load_no_bounds_check(desc + 24) != seq)
        return false;
    if (file_offset % SECTOR != 0 || file_offset < MIN_TARGET)
        return false;
    if (is_zero_descriptor(desc)) {
        if (le64_load_no_bounds_check(desc + 8) % SECTOR != 0)
            return false;
        if (le32_load_no_bounds_check(desc + 4) != 0)
            return false;
        length = le64_load_no_bounds_check(desc + 8);
    } else {
        length = SECTOR;
    }
    if (!ck_add_u64(file_offset, length, &end))
        return false;
    /* ranges_overlap is false when a length is 0 and never computes an end. */
    if (length != 0 && ranges_overlap(file_offset, length, v->file_offset, v->length))
        return false;
    return true;
}

/*
 * Rules 1-11 in the order of docs/REPLAY.md. scratch holds at least L bytes:
 * the entry is copied there in ring order for its CRC. Fills *e (e->valid
 * says the verdict).
 */
static bool entry_valid(const struct log_view *v, uint64_t p, uint8_t *scratch, struct entry *e)
{
    const uint8_t *s0 = get_sector(v, p, 0);
    uint32_t checksum, reserved;
    uint64_t n_data = 0, expected_length, d_sectors;

    memset(e, 0, sizeof(*e));

    /* 1. signature and header fields */
    if (memcmp(s0, "loge", 4) != 0)
        return false;
    checksum = le32_load_no_bounds_check(s0 + 4);
    e->length = le32_load_no_bounds_check(s0 + 8);
    e->tail = le32_load_no_bounds_check(s0 + 12);
    e->seq = le64_load_no_bounds_check(s0 + 16);
    e->desc_count = le32_load_no_bounds_check(s0 + 24);
    reserved = le32_load_no_bounds_check(s0 + 28);
    e->flushed = le64_load_no_bounds_check(s0 + 48);
    e->last = le64_load_no_bounds_check(s0 + 56);

    /* 2. LogGuid = G */
    if (memcmp(s0 + 32, v->guid, 16) != 0)
        return false;
    /* 3. EntryLength: non-zero multiple of 4096, less than L */
    if (e->length == 0 || e->length % SECTOR != 0 || e->length >= v->length)
        return false;
    /* 4. Tail: multiple of 4096, less than L */
    if (e->tail % SECTOR != 0 || e->tail >= v->length)
        return false;
    /* 5. SequenceNumber not 0 */
    if (e->seq == 0)
        return false;
    /* 6. Reserved is 0 */
    if (reserved != 0)
        return false;
    /* 7. 64 + 32 * DescriptorCount <= EntryLength (DescriptorCount < 2^32: no overflow) */
    if (ENTRY_HEADER_SIZE + DESCRIPTOR_SIZE * e->desc_count > e->length)
        return false;
    /* 8. every descriptor (rule 7 keeps each inside the entry) */
    for (uint64_t i = 0; i < e->desc_count; i++) {
        const uint8_t *desc = get_descriptor(v, p, i);
        if (!descriptor_valid(v, desc, e->seq))
            return false;
        if (is_data_descriptor(desc))
            n_data++;
    }
    /* 9. EntryLength = 4096 * (D + d) (D < 2^26, d < 2^32: no overflow) */
    if (!ck_div_ceil_u64(e->desc_count + 2, DESCRIPTORS_PER_SECTOR, &d_sectors))
        return false;
    e->desc_sectors = d_sectors;
    expected_length = SECTOR * (d_sectors + n_data);
    if (e->length != expected_length)
        return false;
    /* 10. data sector j is entry sector D + j */
    for (uint64_t j = 0; j < n_data; j++) {
        const uint8_t *data = get_sector(v, p, d_sectors + j);
        if (memcmp(data, "data", 4) != 0)
            return false;
        if (le32_load_no_bounds_check(data + 4) != (uint32_t)(e->seq >> 32))
            return false;
        if (le32_load_no_bounds_check(data + 4092) != (uint32_t)(e->seq & 0xFFFFFFFFu))
            return false;
    }
    /* 11. CRC-32C over the entry in ring order, bytes 4-7 of sector 0 as zero */
    for (uint64_t k = 0; k < e->length / SECTOR; k++)
        memcpy(scratch + k * SECTOR, get_sector(v, p, k), SECTOR);
    memset(scratch + 4, 0, 4);
    if (crc32c(0, scratch, (size_t)e->length) != checksum && crc32c_enforced())
        return false;

    e->valid = true;
    return true;
}

/* ---- Sequences ---- */

/*
 * The chain from the valid entry at `start` (table[k] is the entry at log
 * offset 4096 k): its log offsets in chain order into chain[], which has
 * room for L / 4096. Returns the number of entries (>= 1).
 */
static size_t build_chain(const struct log_view *v, const struct entry *table, uint64_t start,
                          uint64_t *chain)
{
    uint64_t total = table[start / SECTOR].length;
    uint64_t cur = start;
    size_t n = 0;

    chain[n++] = start;
    for (;;) {
        const struct entry *e = &table[cur / SECTOR];
        uint64_t next = (cur + e->length) % v->length; /* both < 2^32 */
        const struct entry *s = &table[next / SECTOR];

        if (e->seq == UINT64_MAX)
            break; /* no successor */
        if (!s->valid || s->seq != e->seq + 1)
            break;
        /* The cumulative-length guard: total and s->length are < 2^32 each. */
        if (total + s->length > v->length)
            break;
        total += s->length;
        chain[n++] = next;
        cur = next;
    }
    return n;
}

/* The index in chain[0, n) of the entry at the head's Tail; false when none. */
static bool find_tail(const struct entry *table, const uint64_t *chain, size_t n, size_t *index)
{
    uint64_t tail = table[chain[n - 1] / SECTOR].tail;

    for (size_t i = 0; i < n; i++) {
        if (chain[i] == tail) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* ---- File I/O ---- */

/* Reads exactly len bytes at off. */
static enum ref_status read_exact(vhdx_io *file, uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        size_t got = 0;
        uint64_t pos;
        if (!ck_add_u64(off, done, &pos))
            return REF_TRUNCATED;
        if (file->read(file->ctx, buf + done, len - done, pos, &got) != VHDX_OK)
            return REF_IO;
        if (got > len - done)
            return REF_IO;
        if (got == 0)
            return REF_TRUNCATED;
        done += got;
    }
    return REF_OK;
}

static enum ref_status write_all(vhdx_io *file, const uint8_t *buf, size_t len, uint64_t off)
{
    return file->write(file->ctx, buf, len, off) == VHDX_OK ? REF_OK : REF_IO;
}

static enum ref_status flush(vhdx_io *file)
{
    if (file->flush == NULL)
        return REF_OK;
    return file->flush(file->ctx) == VHDX_OK ? REF_OK : REF_IO;
}

static enum ref_status file_size(vhdx_io *file, uint64_t *size)
{
    return file->size(file->ctx, size) == VHDX_OK ? REF_OK : REF_IO;
}

/* Writes len zero bytes at off, 1 MiB at a time. off + len does not overflow (rule 8). */
static enum ref_status write_zeros(vhdx_io *file, uint64_t off, uint64_t len)
{
    static const uint8_t zeros[ZERO_CHUNK];

    while (len > 0) {
        size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;
        enum ref_status st = write_all(file, zeros, n, off);
        if (st != REF_OK)
            return st;
        off += n;
        len -= n;
    }
    return REF_OK;
}

/* ---- Applying ---- */

/*
 * Applies the descriptors of the entry at p in order, growing *size as the
 * writes do; with dry_run, only grows *size.
 */
static enum ref_status apply_entry(vhdx_io *file, const struct log_view *v, uint64_t p,
                                   const struct entry *e, int dry_run, uint64_t *size)
{
    uint64_t next_data = e->desc_sectors;

    for (uint64_t i = 0; i < e->desc_count; i++) {
        const uint8_t *desc = get_descriptor(v, p, i);
        uint64_t target = le64_load_no_bounds_check(desc + 16);
        uint64_t length, end;
        enum ref_status st = REF_OK;

        if (is_zero_descriptor(desc)) {
            length = le64_load_no_bounds_check(desc + 8);
            if (!dry_run)
                st = write_zeros(file, target, length);
        } else {
            uint8_t sector[SECTOR];
            length = SECTOR;
            memcpy(sector, get_sector(v, p, next_data), SECTOR);
            next_data++;
            /* LeadingBytes (descriptor byte 8) and TrailingBytes (byte 4) */
            memcpy(sector, desc + 8, 8);
            memcpy(sector + 4092, desc + 4, 4);
            if (!dry_run)
                st = write_all(file, sector, SECTOR, target);
        }
        if (st != REF_OK)
            return st;
        /* Rule 8 checked that target + length does not overflow. */
        if (length != 0 && ck_add_u64(target, length, &end) && end > *size)
            *size = end;
    }
    return REF_OK;
}

/* ---- The header update ---- */

static uint64_t slot_offset(int slot)
{
    return slot == 1 ? 64u * 1024u : 128u * 1024u;
}

/* The current header with LogGuid nil, FileWriteGuid fwg, SequenceNumber seq, checksum. */
static void patch_header(const uint8_t current[HEADER_BYTES], const struct guid *fwg,
                         uint64_t seq, uint8_t out[HEADER_BYTES])
{
    memcpy(out, current, HEADER_BYTES);
    memset(out + 4, 0, 4);
    le64_store_no_bounds_check(out + 8, seq);
    memcpy(out + 16, fwg->b, 16);
    memset(out + 48, 0, 16);
    le32_store_no_bounds_check(out + 4, crc32c(0, out, HEADER_BYTES));
}

static enum ref_status update_headers(vhdx_io *file, const uint8_t current[HEADER_BYTES],
                                      int current_slot)
{
    uint64_t s = le64_load_no_bounds_check(current + 8);
    uint8_t next[HEADER_BYTES];
    struct guid fwg;
    enum ref_status st;

    /* ref_replay checked s <= UINT64_MAX - 2. */
    guid_generate(&fwg);
    patch_header(current, &fwg, s + 1, next);
    st = write_all(file, next, HEADER_BYTES, slot_offset(3 - current_slot));
    if (st == REF_OK)
        st = flush(file);
    if (st != REF_OK)
        return st;
    patch_header(current, &fwg, s + 2, next);
    st = write_all(file, next, HEADER_BYTES, slot_offset(current_slot));
    if (st == REF_OK)
        st = flush(file);
    return st;
}

/* ---- The engine ---- */

struct work {
    uint8_t *log;
    uint8_t *scratch;
    struct entry *table;
    uint64_t *chain;
    size_t log_bytes, table_bytes, chain_bytes;
};

static const vhdx_allocator *work_allocator;

void ref_replay_set_allocator(const vhdx_allocator *allocator)
{
    work_allocator = allocator;
}

static void *work_alloc(size_t size, bool zero)
{
    void *p;
    if (work_allocator == NULL)
        return zero ? calloc(1, size) : malloc(size);
    p = work_allocator->alloc(work_allocator->ctx, size);
    if (p != NULL && zero)
        memset(p, 0, size);
    return p;
}

static void work_release(void *p, size_t size)
{
    if (p == NULL)
        return;
    if (work_allocator == NULL)
        free(p);
    else
        work_allocator->free(work_allocator->ctx, p, size);
}

static void work_free(struct work *w)
{
    work_release(w->log, w->log_bytes);
    work_release(w->scratch, w->log_bytes);
    work_release(w->table, w->table_bytes);
    work_release(w->chain, w->chain_bytes);
}

static enum ref_status check_args(const vhdx_io *file, const uint8_t *log_guid,
                                  uint64_t log_offset, uint32_t log_length, int current_slot,
                                  int dry_run)
{
    uint64_t end;

    if (file == NULL || file->read == NULL || file->size == NULL || log_guid == NULL)
        return REF_BAD_ARG;
    if (!dry_run && (file->write == NULL || file->truncate == NULL))
        return REF_BAD_ARG;
    if (log_length == 0 || log_length % SECTOR != 0)
        return REF_BAD_ARG;
    if (!ck_add_u64(log_offset, log_length, &end))
        return REF_BAD_ARG;
    if (current_slot != 0 && current_slot != 1 && current_slot != 2)
        return REF_BAD_ARG;
    return REF_OK;
}

/* Every valid chain; the best by (highest head SequenceNumber, lowest head offset). */
static bool find_active(const struct log_view *v, const struct work *w, uint64_t *best_start)
{
    bool found = false;
    uint64_t best_seq = 0, best_head = 0;

    for (uint64_t p = 0; p < v->length; p += SECTOR) {
        size_t n, tail_index;
        uint64_t head, head_seq;

        if (!w->table[p / SECTOR].valid)
            continue;
        n = build_chain(v, w->table, p, w->chain);
        if (!find_tail(w->table, w->chain, n, &tail_index))
            continue;
        head = w->chain[n - 1];
        head_seq = w->table[head / SECTOR].seq;
        if (!found || head_seq > best_seq || (head_seq == best_seq && head < best_head)) {
            found = true;
            best_seq = head_seq;
            best_head = head;
            *best_start = p;
        }
    }
    return found;
}

static enum ref_status replay(vhdx_io *file, const uint8_t *log_guid, uint64_t log_offset,
                              uint32_t log_length, int current_slot, int dry_run,
                              struct ref_result *res, struct work *w)
{
    struct log_view v;
    uint8_t header[HEADER_BYTES];
    uint64_t size_before, size, end, best_start = 0, sectors = log_length / SECTOR;
    size_t n, tail_index;
    const struct entry *head;
    enum ref_status st;

    /* The log must lie inside the file, and is read whole. */
    st = file_size(file, &size_before);
    if (st != REF_OK)
        return st;
    end = log_offset + log_length; /* checked by check_args */
    if (end > size_before)
        return REF_TRUNCATED;

    w->log_bytes = log_length;
    w->table_bytes = (size_t)sectors * sizeof(*w->table);
    w->chain_bytes = (size_t)sectors * sizeof(*w->chain);
    w->log = work_alloc(w->log_bytes, false);
    w->scratch = work_alloc(w->log_bytes, false);
    w->table = work_alloc(w->table_bytes, true);
    w->chain = work_alloc(w->chain_bytes, true);
    if (w->log == NULL || w->scratch == NULL || w->table == NULL || w->chain == NULL)
        return REF_NOMEM;
    st = read_exact(file, w->log, log_length, log_offset);
    if (st != REF_OK)
        return st;

    v.log = w->log;
    v.length = log_length;
    v.file_offset = log_offset;
    v.guid = log_guid;

    /* The validity of the entry at every offset, decided once. */
    for (uint64_t p = 0; p < v.length; p += SECTOR)
        (void)entry_valid(&v, p, w->scratch, &w->table[p / SECTOR]);

    if (!find_active(&v, w, &best_start))
        return REF_NO_SEQUENCE;
    n = build_chain(&v, w->table, best_start, w->chain);
    if (!find_tail(w->table, w->chain, n, &tail_index))
        return REF_NO_SEQUENCE; /* cannot happen: find_active kept it */
    head = &w->table[w->chain[n - 1] / SECTOR];
    res->head_sequence = head->seq;
    res->head_offset = (uint32_t)w->chain[n - 1];
    res->tail_offset = (uint32_t)head->tail;
    res->entries = (uint32_t)(n - tail_index);
    for (size_t i = tail_index; i < n; i++)
        res->descriptors += w->table[w->chain[i] / SECTOR].desc_count;

    if (size_before < head->flushed)
        return REF_TRUNCATED;

    /* Bounds: every target ends inside max(size before, min(entry's and head's LastFileOffset)). */
    for (size_t i = tail_index; i < n; i++) {
        const struct entry *e = &w->table[w->chain[i] / SECTOR];
        uint64_t last = e->last < head->last ? e->last : head->last;
        uint64_t bound = size_before > last ? size_before : last;
        for (uint64_t k = 0; k < e->desc_count; k++) {
            const uint8_t *desc = get_descriptor(&v, w->chain[i], k);
            uint64_t length = is_zero_descriptor(desc) ? le64_load_no_bounds_check(desc + 8)
                                                       : SECTOR;
            if (length != 0 && le64_load_no_bounds_check(desc + 16) + length > bound)
                return REF_PAST_END; /* rule 8: the sum does not overflow */
        }
    }

    if (!dry_run && current_slot != 0) {
        st = read_exact(file, header, HEADER_BYTES, slot_offset(current_slot));
        if (st != REF_OK)
            return st;
        if (le64_load_no_bounds_check(header + 8) > UINT64_MAX - 2)
            return REF_BAD_ARG;
    }

    /* Apply the active sequence: the chain's entries from the Tail through the head. */
    size = size_before;
    for (size_t i = tail_index; i < n; i++) {
        st = apply_entry(file, &v, w->chain[i], &w->table[w->chain[i] / SECTOR], dry_run, &size);
        if (st != REF_OK)
            return st;
    }
    if (dry_run) {
        res->final_size = size < head->last ? head->last : size;
        return REF_OK;
    }

    /* Extend (never shorten) to the head's LastFileOffset, then flush. */
    st = file_size(file, &size);
    if (st != REF_OK)
        return st;
    if (size < head->last && file->truncate(file->ctx, head->last) != VHDX_OK)
        return REF_IO;
    st = flush(file);
    if (st != REF_OK)
        return st;

    if (current_slot != 0) {
        st = update_headers(file, header, current_slot);
        if (st != REF_OK)
            return st;
    }
    st = file_size(file, &res->final_size);
    if (st != REF_OK)
        res->final_size = 0;
    return st;
}

enum ref_status ref_replay(vhdx_io *file, const uint8_t log_guid[16], uint64_t log_offset,
                           uint32_t log_length, int current_slot, int dry_run,
                           struct ref_result *out)
{
    struct ref_result res;
    struct work w;
    enum ref_status st;

    memset(&res, 0, sizeof(res));
    memset(&w, 0, sizeof(w));
    st = check_args(file, log_guid, log_offset, log_length, current_slot, dry_run);
    if (st == REF_OK)
        st = replay(file, log_guid, log_offset, log_length, current_slot, dry_run, &res, &w);
    work_free(&w);
    if (out != NULL)
        *out = res;
    return st;
}

const char *ref_status_name(enum ref_status s)
{
    switch (s) {
    case REF_OK:
        return "REF_OK";
    case REF_NO_SEQUENCE:
        return "REF_NO_SEQUENCE";
    case REF_TRUNCATED:
        return "REF_TRUNCATED";
    case REF_BAD_ARG:
        return "REF_BAD_ARG";
    case REF_IO:
        return "REF_IO";
    case REF_NOMEM:
        return "REF_NOMEM";
    case REF_PAST_END:
        return "REF_PAST_END";
    default:
        return "REF_UNKNOWN";
    }
}
