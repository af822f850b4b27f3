/*
 * The production log engine: search (VHDX-FORMAT.md §8.7.2-§8.7.4, with the
 * result defined exactly by docs/REPLAY.md), apply (§8.7.5) and the header
 * update after an in-place replay (§8.7.6, §3.4). See log.h for the cost
 * argument.
 */
#include "image/log.h"

#include <string.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "base/guid.h"
#include "format/constants.h"

static const char LOG[] = "log";

/* At most this many torn entries and broken chains are reported one by one. */
#define LOG_REPORT_MAX 8u

/* Per 4 KiB slot of the log: which valid entry starts there (index + 1), or 0. */
struct slot_scan {
    uint32_t *slot_entry;       /* log_length / 4096 slots */
    struct log_entry_view *valid; /* valid entries in offset order */
    uint32_t nvalid;
    uint32_t *succ;             /* per valid entry: successor index + 1, or 0 */
    uint32_t *path;             /* per valid entry: path number + 1, or 0 */
    uint8_t *has_pred;
};

static uint64_t header_slot_offset(int slot)
{
    return slot == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
}

/*
 * An early-exit filter, cheaper than log_entry_check and never stricter:
 * everything it rejects, log_entry_check rejects too. It reads the entry's
 * sectors in order and stops at the first bad one, so its cost is bounded
 * by the sectors it accepts, none of which begins with `loge`.
 */
static bool prefilter(const uint8_t *log, uint32_t log_length, uint32_t p,
                      const struct guid *log_guid, uint64_t log_offset)
{
    struct log_entry_header h;
    uint64_t n_data = 0, d_sectors, expected;

    if (log_entry_header_decode(log + p, LOG_SECTOR, &h, NULL) != VHDX_OK)
        return false;
    if (log_entry_header_validate(&h, log_length, log_guid, NULL) != VHDX_OK)
        return false;
    for (uint64_t i = 0; i < h.descriptor_count; i++) {
        /* The header check bounds DescriptorCount by EntryLength < log_length. */
        uint64_t pos = log_entry_descriptor_offset(log_length, p, i);
        struct log_descriptor desc;
        if (log_descriptor_decode(log + pos, LOG_DESCRIPTOR_SIZE, &desc, NULL) != VHDX_OK ||
            log_descriptor_validate(&desc, h.sequence_number, log_offset, log_length, NULL) !=
                VHDX_OK)
            return false;
        n_data += desc.kind == LOG_DESCRIPTOR_DATA;
    }
    d_sectors = log_entry_descriptor_sectors(h.descriptor_count);
    expected = (d_sectors + n_data) * LOG_SECTOR;
    if (expected != h.entry_length)
        return false;
    for (uint64_t j = 0; j < n_data; j++) {
        const uint8_t *s = log + log_entry_sector_offset(log_length, p, d_sectors + j);
        if (memcmp(s, "data", 4) != 0 || le32_load_no_bounds_check(s + 4) != (uint32_t)(h.sequence_number >> 32) ||
            le32_load_no_bounds_check(s + LOG_DATA_SECTOR_LOW_OFFSET) != (uint32_t)h.sequence_number)
            return false;
    }
    return true;
}

/* Reports why the entry at p is not valid: its findings, as warnings. */
static void report_broken_entry(const struct log_plan *plan, uint32_t p,
                                const struct guid *log_guid, struct diag_sink *sink)
{
    vhdx_diag records[16];
    struct diag_sink held;
    diag_sink_init(&held, records, sizeof(records) / sizeof(records[0]));
    held.base = plan->log_offset;
    status_ignore(log_entry_check(plan->log, plan->log_length, p, log_guid, plan->log_offset,
                                  NULL, &held)); /* only its findings are wanted */
    (void)DIAG_WARN(sink, VHDX_E_CORRUPT, "log.entry.invalid", LOG, plan->log_offset + p,
                    "log entry at log offset 0x%x carries the log GUID but is not valid (a torn "
                    "or damaged write): it is not replayed; %zu finding(s) follow",
                    p, held.total);
    diag_forward(sink, &held, true);
}

static void scan_free(struct alloc_acct *acct, struct slot_scan *s, uint32_t nslots)
{
    acct_free(acct, s->slot_entry, (size_t)nslots * sizeof(*s->slot_entry));
    acct_free(acct, s->valid, (size_t)nslots * sizeof(*s->valid));
    acct_free(acct, s->succ, (size_t)nslots * sizeof(*s->succ));
    acct_free(acct, s->path, (size_t)nslots * sizeof(*s->path));
    acct_free(acct, s->has_pred, nslots);
    memset(s, 0, sizeof(*s));
}

static vhdx_status scan_alloc(struct alloc_acct *acct, struct slot_scan *s, uint32_t nslots)
{
    vhdx_status st = VHDX_OK;
    memset(s, 0, sizeof(*s));
    s->slot_entry = acct_alloc_array(acct, nslots, sizeof(*s->slot_entry), &st);
    if (s->slot_entry != NULL)
        s->valid = acct_alloc_array(acct, nslots, sizeof(*s->valid), &st);
    if (s->valid != NULL)
        s->succ = acct_alloc_array(acct, nslots, sizeof(*s->succ), &st);
    if (s->succ != NULL)
        s->path = acct_alloc_array(acct, nslots, sizeof(*s->path), &st);
    if (s->path != NULL)
        s->has_pred = acct_alloc(acct, nslots, &st);
    if (s->has_pred == NULL) {
        scan_free(acct, s, nslots);
        return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
    }
    return VHDX_OK;
}

static vhdx_status limit_error(struct diag_sink *sink, vhdx_status st, uint32_t log_length)
{
    return DIAG_ERROR(sink, st, "log.limit.memory", LOG, VHDX_OFFSET_NONE,
                      "the log (0x%x bytes) and its index do not fit in the memory limit",
                      log_length);
}

vhdx_status log_plan_load(const vhdx_io *io, const struct header *h, uint64_t file_size,
                          uint32_t max_log_length, struct alloc_acct *acct,
                          struct diag_sink *sink, struct log_plan *plan)
{
    struct slot_scan s;
    vhdx_status st = VHDX_OK;
    uint32_t nslots, npaths = 0, reported_entries = 0, reported_tails = 0, broken = 0;
    uint32_t best_head = 0, best_tail_entry = 0;
    bool have_best = false;
    size_t got = 0;

    memset(plan, 0, sizeof(*plan));
    plan->acct = acct;
    plan->log_offset = h->log_offset;
    plan->log_length = h->log_length;
    plan->file_size = file_size;
    if (h->log_length == 0 || h->log_length % LOG_SECTOR != 0)
        return DIAG_ERROR(sink, VHDX_E_RANGE, "log.length", LOG, VHDX_OFFSET_NONE,
                          "the log length 0x%x cannot hold a log", h->log_length);
    if (h->log_length > max_log_length)
        return DIAG_ERROR(sink, VHDX_E_LIMIT, "log.limit.length", LOG, h->log_offset,
                          "the log is 0x%x bytes, more than the limit of 0x%x", h->log_length,
                          max_log_length);

    plan->log = acct_alloc(acct, h->log_length, &st);
    if (plan->log == NULL)
        return limit_error(sink, st, h->log_length);
    if (io->read == NULL ||
        io->read(io->ctx, plan->log, h->log_length, h->log_offset, &got) != VHDX_OK) {
        log_plan_free(plan);
        return DIAG_ERROR(sink, VHDX_E_IO, "log.read", LOG, h->log_offset,
                          "reading the log [0x%llx, +0x%x) failed",
                          (unsigned long long)h->log_offset, h->log_length);
    }
    if (got != h->log_length) {
        log_plan_free(plan);
        return DIAG_ERROR(sink, VHDX_E_TRUNCATED, "log.region.past_eof", LOG, h->log_offset,
                          "the file ends inside the log [0x%llx, +0x%x)",
                          (unsigned long long)h->log_offset, h->log_length);
    }

    nslots = h->log_length / LOG_SECTOR;
    st = scan_alloc(acct, &s, nslots);
    if (st != VHDX_OK) {
        log_plan_free(plan);
        return limit_error(sink, st, h->log_length);
    }

    /* 1. Every valid entry, in offset order (docs/REPLAY.md, rules 1-11). */
    for (uint32_t slot = 0; slot < nslots; slot++) {
        uint32_t p = slot * LOG_SECTOR;
        struct log_entry_view v;
        if (memcmp(plan->log + p, "loge", 4) != 0)
            continue;
        if (prefilter(plan->log, h->log_length, p, &h->log_guid, h->log_offset) &&
            log_entry_check(plan->log, h->log_length, p, &h->log_guid, h->log_offset, &v,
                            NULL) == VHDX_OK) {
            s.valid[s.nvalid] = v;
            s.slot_entry[slot] = ++s.nvalid;
            continue;
        }
        /* Entries of earlier log sessions carry another GUID: not worth a word. */
        if (memcmp(plan->log + p + 32, h->log_guid.b, 16) != 0)
            continue;
        broken++;
        if (reported_entries < LOG_REPORT_MAX) {
            reported_entries++;
            report_broken_entry(plan, p, &h->log_guid, sink);
        }
    }
    if (broken > reported_entries)
        (void)DIAG_INFO(sink, "log.entry.invalid_more", LOG, h->log_offset,
                        "%u more invalid log entries carrying the log GUID are not listed",
                        broken - reported_entries);

    /* 2. Successors: the valid entry right after, with the next sequence number. */
    for (uint32_t e = 0; e < s.nvalid; e++) {
        const struct log_entry_header *eh = &s.valid[e].header;
        uint32_t next_off = (uint32_t)(((uint64_t)s.valid[e].entry_offset + eh->entry_length) %
                                       h->log_length);
        uint32_t n = s.slot_entry[next_off / LOG_SECTOR];
        if (n != 0 && eh->sequence_number != UINT64_MAX &&
            s.valid[n - 1].header.sequence_number == eh->sequence_number + 1) {
            s.succ[e] = n;
            s.has_pred[n - 1] = 1;
        }
    }

    /*
     * 3. Walk each path from its first entry (no predecessor); then any
     * entry not yet on a path (none, since paths cannot loop: the sequence
     * numbers grow). The chain from the first entry is the most permissive
     * of the path's chains: they all share its head.
     */
    for (int round = 0; round < 2; round++) {
        for (uint32_t start = 0; start < s.nvalid; start++) {
            uint32_t e = start, head = start, path_id;
            uint64_t total = 0;
            uint32_t tail_slot, t;
            if (s.path[start] != 0 || (round == 0 && s.has_pred[start]))
                continue;
            path_id = ++npaths;
            for (;;) {
                uint64_t len = s.valid[e].header.entry_length;
                if (total + len > h->log_length || s.path[e] != 0)
                    break;
                total += len;
                s.path[e] = path_id;
                head = e;
                if (s.succ[e] == 0)
                    break;
                e = s.succ[e] - 1;
            }
            /* Valid when the head's Tail is the offset of an entry of this path. */
            tail_slot = s.valid[head].header.tail / LOG_SECTOR;
            t = s.slot_entry[tail_slot];
            if (t == 0 || s.path[t - 1] != path_id) {
                if (reported_tails < LOG_REPORT_MAX) {
                    reported_tails++;
                    (void)DIAG_WARN(sink, VHDX_E_CORRUPT, "log.sequence.tail", LOG,
                                    h->log_offset + s.valid[head].entry_offset + 12,
                                    "the log entries ending with sequence number %llu at log "
                                    "offset 0x%x are not a valid sequence: the head's tail "
                                    "0x%x is not the offset of one of its entries",
                                    (unsigned long long)s.valid[head].header.sequence_number,
                                    s.valid[head].entry_offset, s.valid[head].header.tail);
                }
                continue;
            }
            if (!have_best ||
                s.valid[head].header.sequence_number >
                    s.valid[best_head].header.sequence_number ||
                (s.valid[head].header.sequence_number ==
                     s.valid[best_head].header.sequence_number &&
                 s.valid[head].entry_offset < s.valid[best_head].entry_offset)) {
                have_best = true;
                best_head = head;
                best_tail_entry = t - 1;
            }
        }
    }

    if (!have_best) {
        scan_free(acct, &s, nslots);
        log_plan_free(plan);
        return DIAG_ERROR(sink, VHDX_E_CORRUPT, "log.sequence.none", LOG, h->log_offset,
                          "the log GUID is set but the log [0x%llx, +0x%x) holds no valid "
                          "sequence of entries (%u valid entries): the image cannot be "
                          "brought to a consistent state",
                          (unsigned long long)h->log_offset, h->log_length, s.nvalid);
    }

    /* 4. The active sequence, from the head's Tail to the head. */
    {
        uint32_t count = 1;
        for (uint32_t e = best_tail_entry; e != best_head; e = s.succ[e] - 1)
            count++;
        plan->entries = acct_alloc_array(acct, count, sizeof(*plan->entries), &st);
        if (plan->entries == NULL) {
            scan_free(acct, &s, nslots);
            log_plan_free(plan);
            return limit_error(sink, st, h->log_length);
        }
        plan->entries_cap = count;
        for (uint32_t e = best_tail_entry;; e = s.succ[e] - 1) {
            plan->entries[plan->count++].view = s.valid[e];
            plan->descriptors += s.valid[e].header.descriptor_count;
            if (e == best_head)
                break;
        }
    }
    scan_free(acct, &s, nslots);

    /* §8.7.3: a file shorter than the head's FlushedFileOffset was truncated. */
    {
        const struct log_entry_view *hv = &plan->entries[plan->count - 1].view;
        if (file_size < hv->header.flushed_file_offset) {
            uint64_t off = h->log_offset + hv->entry_offset + 48;
            uint64_t flushed = hv->header.flushed_file_offset;
            log_plan_free(plan);
            return DIAG_ERROR(sink, VHDX_E_TRUNCATED, "log.truncated", LOG, off,
                              "the file is 0x%llx bytes, shorter than the 0x%llx the log says "
                              "were durable: the file was truncated",
                              (unsigned long long)file_size, (unsigned long long)flushed);
        }
    }
    return VHDX_OK;
}

void log_plan_free(struct log_plan *plan)
{
    if (plan->acct == NULL)
        return;
    acct_free(plan->acct, plan->log, plan->log_length);
    acct_free(plan->acct, plan->entries, (size_t)plan->entries_cap * sizeof(*plan->entries));
    plan->log = NULL;
    plan->entries = NULL;
    plan->count = plan->entries_cap = 0;
}

vhdx_status log_plan_descriptor(const struct log_plan *plan, uint32_t e, uint32_t i,
                                struct log_descriptor *out)
{
    if (e >= plan->count)
        return VHDX_E_INVALID_ARG;
    return log_entry_descriptor(&plan->entries[e].view, plan->log, i, out);
}

static vhdx_status apply_failure(struct diag_sink *sink, vhdx_status st, uint64_t off)
{
    if (st == VHDX_E_LIMIT || st == VHDX_E_NOMEM)
        return DIAG_ERROR(sink, st, "log.limit.overlay", LOG, off,
                          "replaying the log in memory needs more than the memory limit (at "
                          "file offset 0x%llx)",
                          (unsigned long long)off);
    return DIAG_ERROR(sink, VHDX_E_IO, "log.apply.io", LOG, off,
                      "writing the replayed log at file offset 0x%llx failed",
                      (unsigned long long)off);
}

static const uint8_t zero_chunk[64 * 1024];

vhdx_status log_plan_apply(const struct log_plan *plan, vhdx_io *target, struct diag_sink *sink)
{
    uint8_t page[LOG_SECTOR];
    uint64_t size = 0, last;
    vhdx_status st;

    if (target->write == NULL || target->size == NULL)
        return VHDX_E_INVALID_ARG;
    for (uint32_t e = 0; e < plan->count; e++) {
        const struct log_entry_view *v = &plan->entries[e].view;
        uint32_t j = 0;
        for (uint32_t i = 0; i < v->header.descriptor_count; i++) {
            struct log_descriptor desc;
            st = log_entry_descriptor(v, plan->log, i, &desc);
            if (st != VHDX_OK)
                return st;
            if (desc.kind == LOG_DESCRIPTOR_DATA) {
                const uint8_t *sector = log_entry_data_sector(v, plan->log, j++);
                if (sector == NULL)
                    return VHDX_E_CORRUPT;
                log_data_sector_rebuild(&desc, sector, page);
                st = target->write(target->ctx, page, LOG_SECTOR, desc.file_offset);
                if (st != VHDX_OK)
                    return apply_failure(sink, st, desc.file_offset);
            } else {
                uint64_t done = 0;
                while (done < desc.zero_length) {
                    uint64_t n = desc.zero_length - done;
                    if (n > sizeof(zero_chunk))
                        n = sizeof(zero_chunk);
                    st = target->write(target->ctx, zero_chunk, (size_t)n,
                                       desc.file_offset + done);
                    if (st != VHDX_OK)
                        return apply_failure(sink, st, desc.file_offset + done);
                    done += n;
                }
            }
        }
    }
    /* §8.7.5: the file is at least the head's LastFileOffset long. */
    last = plan->entries[plan->count - 1].view.header.last_file_offset;
    st = target->size(target->ctx, &size);
    if (st != VHDX_OK)
        return apply_failure(sink, VHDX_E_IO, VHDX_OFFSET_NONE);
    if (size < last) {
        st = target->truncate != NULL ? target->truncate(target->ctx, last) : VHDX_E_IO;
        if (st != VHDX_OK)
            return apply_failure(sink, st, last);
    }
    if (target->flush != NULL && target->flush(target->ctx) != VHDX_OK)
        return apply_failure(sink, VHDX_E_IO, VHDX_OFFSET_NONE);
    return VHDX_OK;
}

static vhdx_status write_header_bytes(vhdx_io *io, uint8_t *buf, uint64_t seq, int slot,
                                      struct diag_sink *sink)
{
    uint64_t off = header_slot_offset(slot);
    le64_store_no_bounds_check(buf + 8, seq);
    memset(buf + HEADER_CHECKSUM_OFFSET, 0, 4);
    le32_store_no_bounds_check(buf + HEADER_CHECKSUM_OFFSET, crc32c(0, buf, HEADER_SIZE));
    if (io->write(io->ctx, buf, HEADER_SIZE, off) != VHDX_OK ||
        (io->flush != NULL && io->flush(io->ctx) != VHDX_OK))
        return DIAG_ERROR(sink, VHDX_E_IO, "log.header_update.io", LOG, off,
                          "writing header %d failed", slot);
    return VHDX_OK;
}

vhdx_status log_update_headers(vhdx_io *io, int current_slot, const struct header_change *change,
                               struct header *out, struct diag_sink *sink)
{
    uint8_t buf[HEADER_SIZE];
    size_t got = 0;
    uint64_t seq;
    vhdx_status st;
    int other = current_slot == 1 ? 2 : 1;

    if ((current_slot != 1 && current_slot != 2) || io->write == NULL || change == NULL)
        return VHDX_E_INVALID_ARG;
    if (io->read(io->ctx, buf, HEADER_SIZE, header_slot_offset(current_slot), &got) != VHDX_OK ||
        got != HEADER_SIZE)
        return DIAG_ERROR(sink, VHDX_E_IO, "log.header_update.io", LOG,
                          header_slot_offset(current_slot), "reading header %d failed",
                          current_slot);
    seq = le64_load_no_bounds_check(buf + 8);
    if (seq > UINT64_MAX - 2)
        return DIAG_ERROR(sink, VHDX_E_OVERFLOW, "log.header_update.sequence", LOG,
                          header_slot_offset(current_slot) + 8,
                          "the header sequence number 0x%llx cannot grow by 2",
                          (unsigned long long)seq);
    if (change->file_write != NULL)
        memcpy(buf + 16, change->file_write->b, 16);
    if (change->data_write != NULL)
        memcpy(buf + 32, change->data_write->b, 16);
    if (change->log != NULL)
        memcpy(buf + 48, change->log->b, 16);
    st = write_header_bytes(io, buf, seq + 1, other, sink);
    if (st == VHDX_OK)
        st = write_header_bytes(io, buf, seq + 2, current_slot, sink);
    if (st == VHDX_OK && out != NULL)
        st = header_decode(buf, HEADER_SIZE, out, NULL);
    return st;
}

vhdx_status log_clear_headers(vhdx_io *io, int current_slot, struct header *out,
                              struct diag_sink *sink)
{
    static const struct guid nil;
    struct guid fwg;
    struct header_change change = {&fwg, NULL, &nil};
    guid_generate(&fwg);
    return log_update_headers(io, current_slot, &change, out, sink);
}
