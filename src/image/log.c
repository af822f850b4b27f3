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
#include "io/replaymap.h"
#include "io/zero.h"

static const char LOG[] = "log";

/* At most this many torn entries, broken chains and bad targets are reported one by one. */
#define LOG_REPORT_MAX 8u

static uint64_t header_slot_offset(int slot)
{
    return slot == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
}

/* The log is read through windows of this size, never whole. */
#define LOG_WINDOW_SIZE (256u << 10)

/* ---- Reading the log through a window ---- */

/*
 * A window of the log: the sectors from `start` on, read from the file on
 * demand. Forward reads refill it once per LOG_WINDOW_SIZE bytes.
 */
struct log_window {
    const vhdx_io *io;
    struct alloc_acct *acct;
    uint64_t log_offset;
    uint32_t log_length;
    uint8_t *buf;
    uint32_t cap;
    uint32_t start;
    uint32_t len;
    bool failed; /* a read failed or came back short */
};

static vhdx_status window_open(struct log_window *w, const vhdx_io *io, struct alloc_acct *acct,
                               uint64_t log_offset, uint32_t log_length)
{
    vhdx_status st = VHDX_OK;
    memset(w, 0, sizeof(*w));
    w->io = io;
    w->acct = acct;
    w->log_offset = log_offset;
    w->log_length = log_length;
    w->cap = log_length < LOG_WINDOW_SIZE ? log_length : LOG_WINDOW_SIZE;
    w->buf = acct_alloc(acct, w->cap, &st);
    return w->buf != NULL ? VHDX_OK : st;
}

static void window_close(struct log_window *w)
{
    if (w->acct != NULL)
        acct_free(w->acct, w->buf, w->cap);
    w->buf = NULL;
    w->acct = NULL;
}

/*
 * The sector at log offset off (a multiple of 4096 below the log length),
 * or NULL. A refill reads up to `want` bytes from off (at least the sector,
 * at most the window), so a reader that needs a few sectors does not read a
 * whole window for them.
 */
static const uint8_t *window_sector_want(struct log_window *w, uint32_t off, uint32_t want)
{
    uint32_t n;
    size_t done = 0;

    if (w->len != 0 && off >= w->start && off - w->start <= w->len - LOG_SECTOR)
        return w->buf + (off - w->start);
    n = w->log_length - off < w->cap ? w->log_length - off : w->cap;
    if (want >= LOG_SECTOR && want < n)
        n = want;
    w->len = 0;
    while (done < n) {
        size_t got = 0;
        if (w->io->read(w->io->ctx, w->buf + done, n - done, w->log_offset + off + done, &got) !=
                VHDX_OK ||
            got == 0 || got > n - done) {
            w->failed = true;
            return NULL;
        }
        done += got;
    }
    w->start = off;
    w->len = n;
    return w->buf;
}

/* The sector at log offset off, refilling a whole window when it must. */
static const uint8_t *window_sector(void *ctx, uint32_t off)
{
    return window_sector_want(ctx, off, UINT32_MAX);
}

static struct log_sector_source window_source(struct log_window *w)
{
    struct log_sector_source src;
    src.sector = window_sector;
    src.ctx = w;
    return src;
}

static vhdx_status read_failure(struct diag_sink *sink, uint64_t log_offset, uint32_t log_length)
{
    return DIAG_ERROR(sink, VHDX_E_IO, "log.read", LOG, log_offset,
                      "reading the log [0x%llx, +0x%x) failed", (unsigned long long)log_offset,
                      log_length);
}

static vhdx_status limit_error(struct diag_sink *sink, vhdx_status st, uint32_t log_length)
{
    if (st != VHDX_E_NOMEM)
        st = VHDX_E_LIMIT;
    return DIAG_ERROR(sink, st, "log.limit.memory", LOG, VHDX_OFFSET_NONE,
                      "the index of the log (0x%x bytes) needs more memory than the limit "
                      "(vhdx_limits.max_memory) allows: the image cannot be judged within it",
                      log_length);
}

/* ---- The search (docs/REPLAY.md) ---- */

/* A valid entry found by the scan. */
struct scan_entry {
    uint64_t seq;
    uint32_t off;
    uint32_t len;
    uint32_t tail;
    uint32_t succ; /* successor index + 1, or 0 */
    uint32_t path; /* path number + 1, or 0 */
    uint8_t has_pred;
};

struct scan {
    struct alloc_acct *acct;
    struct scan_entry *e; /* in offset order */
    uint32_t n;
    uint32_t cap;
};

static void scan_free(struct scan *s)
{
    acct_free(s->acct, s->e, (size_t)s->cap * sizeof(*s->e));
    s->e = NULL;
    s->n = s->cap = 0;
}

static vhdx_status scan_push(struct scan *s, const struct log_entry_view *v)
{
    if (s->n == s->cap) {
        vhdx_status st = VHDX_OK;
        uint32_t cap = s->cap == 0 ? 64 : s->cap * 2;
        struct scan_entry *grown = acct_alloc_array(s->acct, cap, sizeof(*grown), &st);
        if (grown == NULL)
            return st;
        if (s->n > 0)
            memcpy(grown, s->e, (size_t)s->n * sizeof(*grown));
        acct_free(s->acct, s->e, (size_t)s->cap * sizeof(*s->e));
        s->e = grown;
        s->cap = cap;
    }
    memset(&s->e[s->n], 0, sizeof(s->e[s->n]));
    s->e[s->n].seq = v->header.sequence_number;
    s->e[s->n].off = v->entry_offset;
    s->e[s->n].len = v->header.entry_length;
    s->e[s->n].tail = v->header.tail;
    s->n++;
    return VHDX_OK;
}

/* The index + 1 of the valid entry at log offset off, or 0. */
static uint32_t scan_at(const struct scan *s, uint32_t off)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->e[lo].off == off ? lo + 1 : 0;
}

/* Reports why the entry at p is not valid: its findings, as warnings. */
static void report_broken_entry(struct log_window *w, uint32_t p, const struct guid *log_guid,
                                struct diag_sink *sink)
{
    vhdx_diag records[16];
    struct diag_sink held;
    struct log_sector_source src = window_source(w);
    diag_sink_init(&held, records, sizeof(records) / sizeof(records[0]));
    held.base = w->log_offset;
    status_ignore(log_entry_check_source(&src, w->log_length, p, log_guid, w->log_offset, 0,
                                         NULL, &held)); /* only its findings are wanted */
    (void)DIAG_WARN(sink, VHDX_E_CORRUPT, "log.entry.invalid", LOG, w->log_offset + p,
                    "log entry at log offset 0x%x carries the log GUID but is not valid (a torn "
                    "or damaged write): it is not replayed; %zu finding(s) follow",
                    p, held.total);
    diag_forward(sink, &held, true);
}

/*
 * 1. Every valid entry, in offset order (docs/REPLAY.md, rules 1-11). The
 * scan looks at each sector for `loge`, then checks an entry that begins
 * there in one pass that stops at its first bad sector, through the same
 * window: it reads on from where the scan is. Only the first sector of an
 * entry can begin with `loge`, so the sectors one check walks are walked by
 * no other: linear in the log. For the same reason no entry begins inside a
 * valid entry, and the scan goes on after it: a valid log is read once.
 */
static vhdx_status scan_log(struct log_window *entry_w, const struct header *h, struct scan *s,
                            struct diag_sink *sink)
{
    struct log_sector_source src = window_source(entry_w);
    uint32_t reported = 0, broken = 0, p = 0;

    while (p < h->log_length) {
        const uint8_t *sec = window_sector(entry_w, p);
        uint8_t head[48];
        struct log_entry_view v;
        vhdx_status st;
        if (sec == NULL)
            return read_failure(sink, h->log_offset, h->log_length);
        if (memcmp(sec, "loge", 4) != 0) {
            p += LOG_SECTOR;
            continue;
        }
        memcpy(head, sec, sizeof(head)); /* the check may move the window under sec */
        st = log_entry_check_source(&src, h->log_length, p, &h->log_guid, h->log_offset,
                                    LOG_CHECK_FIRST_FAILURE, &v, NULL);
        if (st == VHDX_E_IO || entry_w->failed)
            return read_failure(sink, h->log_offset, h->log_length);
        if (st == VHDX_OK) {
            uint64_t next = (uint64_t)p + v.header.entry_length;
            st = scan_push(s, &v);
            if (st != VHDX_OK)
                return limit_error(sink, st, h->log_length);
            /* An entry that wraps ends in sectors the scan has seen already. */
            p = next < h->log_length ? (uint32_t)next : h->log_length;
            continue;
        }
        p += LOG_SECTOR;
        /* Entries of earlier log sessions carry another GUID: not worth a word. */
        if (memcmp(head + 32, h->log_guid.b, 16) != 0)
            continue;
        broken++;
        if (reported < LOG_REPORT_MAX) {
            reported++;
            report_broken_entry(entry_w, p - LOG_SECTOR, &h->log_guid, sink);
            if (entry_w->failed)
                return read_failure(sink, h->log_offset, h->log_length);
        }
    }
    if (broken > reported)
        (void)DIAG_INFO(sink, "log.entry.invalid_more", LOG, h->log_offset,
                        "%u more invalid log entries carrying the log GUID are not listed",
                        broken - reported);
    return VHDX_OK;
}

/*
 * 2.-3. Successors, then each path from its first entry (no predecessor),
 * then any entry not yet on a path (none, since paths cannot loop: the
 * sequence numbers grow). The chain from the first entry is the most
 * permissive of the path's chains: they all share its head. On success
 * *head and *tail are the active sequence's head and first entry.
 */
static bool choose_sequence(struct scan *s, const struct header *h, uint32_t *head_out,
                            uint32_t *tail_out, struct diag_sink *sink)
{
    uint32_t npaths = 0, reported_tails = 0, best_head = 0, best_tail = 0;
    bool have_best = false;

    for (uint32_t e = 0; e < s->n; e++) {
        uint32_t next_off = (uint32_t)(((uint64_t)s->e[e].off + s->e[e].len) % h->log_length);
        uint32_t n = scan_at(s, next_off);
        if (n != 0 && s->e[e].seq != UINT64_MAX && s->e[n - 1].seq == s->e[e].seq + 1) {
            s->e[e].succ = n;
            s->e[n - 1].has_pred = 1;
        }
    }
    for (int round = 0; round < 2; round++) {
        for (uint32_t start = 0; start < s->n; start++) {
            uint32_t e = start, head = start, path_id, t;
            uint64_t total = 0;
            if (s->e[start].path != 0 || (round == 0 && s->e[start].has_pred))
                continue;
            path_id = ++npaths;
            for (;;) {
                if (total + s->e[e].len > h->log_length || s->e[e].path != 0)
                    break;
                total += s->e[e].len;
                s->e[e].path = path_id;
                head = e;
                if (s->e[e].succ == 0)
                    break;
                e = s->e[e].succ - 1;
            }
            /* Valid when the head's Tail is the offset of an entry of this path. */
            t = scan_at(s, s->e[head].tail);
            if (t == 0 || s->e[t - 1].path != path_id) {
                if (reported_tails < LOG_REPORT_MAX) {
                    reported_tails++;
                    (void)DIAG_WARN(sink, VHDX_E_CORRUPT, "log.sequence.tail", LOG,
                                    h->log_offset + s->e[head].off + 12,
                                    "the log entries ending with sequence number %llu at log "
                                    "offset 0x%x are not a valid sequence: the head's tail "
                                    "0x%x is not the offset of one of its entries",
                                    (unsigned long long)s->e[head].seq, s->e[head].off,
                                    s->e[head].tail);
                }
                continue;
            }
            if (!have_best || s->e[head].seq > s->e[best_head].seq ||
                (s->e[head].seq == s->e[best_head].seq &&
                 s->e[head].off < s->e[best_head].off)) {
                have_best = true;
                best_head = head;
                best_tail = t - 1;
            }
        }
    }
    *head_out = best_head;
    *tail_out = best_tail;
    return have_best;
}

/* ---- Walking the descriptors of the plan ---- */

/*
 * The entry header of a plan entry, read again from the file; it must be
 * the one the search checked (the file may have changed since).
 */
static bool reread_header(struct log_window *w, struct log_plan_entry *pe)
{
    const uint8_t *sec = window_sector(w, pe->entry_offset);
    struct log_entry_header h;
    if (sec == NULL || log_entry_header_decode(sec, LOG_SECTOR, &h, NULL) != VHDX_OK ||
        h.sequence_number != pe->sequence_number || h.entry_length != pe->entry_length ||
        h.tail != pe->tail)
        return false;
    pe->descriptor_count = h.descriptor_count;
    pe->descriptor_sectors = (uint32_t)log_entry_descriptor_sectors(h.descriptor_count);
    pe->flushed_file_offset = h.flushed_file_offset;
    pe->last_file_offset = h.last_file_offset;
    return true;
}

static vhdx_status changed_error(const struct log_plan *plan, uint32_t pos, struct diag_sink *sink)
{
    return DIAG_ERROR(sink, VHDX_E_IO, "log.changed", LOG, plan->log_offset + pos,
                      "the log at log offset 0x%x no longer holds what the search found: the "
                      "file changed while it was read",
                      pos);
}

vhdx_status log_plan_walk(const struct log_plan *plan, const vhdx_io *io, unsigned flags,
                          log_plan_visit_fn visit, void *ctx, struct diag_sink *sink)
{
    struct log_window dw, sw;
    vhdx_status st;
    bool with_data = (flags & LOG_WALK_DATA) != 0;

    if (plan->count == 0 || io == NULL || io->read == NULL)
        return VHDX_E_INVALID_ARG;
    st = window_open(&dw, io, plan->acct, plan->log_offset, plan->log_length);
    if (st != VHDX_OK)
        return limit_error(sink, st, plan->log_length);
    if (with_data) {
        st = window_open(&sw, io, plan->acct, plan->log_offset, plan->log_length);
        if (st != VHDX_OK) {
            window_close(&dw);
            return limit_error(sink, st, plan->log_length);
        }
    }
    for (uint32_t e = 0; e < plan->count && st == VHDX_OK; e++) {
        const struct log_plan_entry *pe = &plan->entries[e];
        uint32_t j = 0;
        for (uint32_t i = 0; i < pe->descriptor_count && st == VHDX_OK; i++) {
            uint32_t pos = (uint32_t)log_entry_descriptor_offset(plan->log_length,
                                                                 pe->entry_offset, i);
            /* Descriptor sectors: read this one and the entry's others after it, no more. */
            uint32_t k = (uint32_t)(i < LOG_DESCRIPTORS_FIRST_SECTOR
                                        ? 0
                                        : 1 + (i - LOG_DESCRIPTORS_FIRST_SECTOR) /
                                                  LOG_DESCRIPTORS_PER_SECTOR);
            const uint8_t *sec = window_sector_want(&dw, pos - pos % LOG_SECTOR,
                                                    (pe->descriptor_sectors - k) * LOG_SECTOR);
            const uint8_t *data = NULL;
            uint8_t *payload = NULL;
            struct log_plan_item item;
            if (sec == NULL) {
                st = read_failure(sink, plan->log_offset, plan->log_length);
                break;
            }
            memset(&item, 0, sizeof(item));
            if (log_descriptor_decode(sec + pos % LOG_SECTOR, LOG_DESCRIPTOR_SIZE, &item.desc,
                                      NULL) != VHDX_OK ||
                log_descriptor_validate(&item.desc, pe->sequence_number, plan->log_offset,
                                        plan->log_length, NULL) != VHDX_OK) {
                st = changed_error(plan, pos, sink);
                break;
            }
            item.entry = e;
            item.index = i;
            item.descriptor_file_offset = plan->log_offset + pos;
            if (item.desc.kind == LOG_DESCRIPTOR_DATA) {
                uint32_t dpos;
                if (j >= pe->entry_length / LOG_SECTOR - pe->descriptor_sectors) {
                    st = changed_error(plan, pe->entry_offset, sink);
                    break;
                }
                dpos = (uint32_t)log_entry_sector_offset(plan->log_length, pe->entry_offset,
                                                         (uint64_t)pe->descriptor_sectors + j++);
                item.data_file_offset = plan->log_offset + dpos;
                if (with_data) {
                    data = window_sector(&sw, dpos);
                    if (data == NULL) {
                        st = read_failure(sink, plan->log_offset, plan->log_length);
                        break;
                    }
                    if (memcmp(data, "data", 4) != 0 ||
                        le32_load_no_bounds_check(data + 4) !=
                            (uint32_t)(pe->sequence_number >> 32) ||
                        le32_load_no_bounds_check(data + LOG_DATA_SECTOR_LOW_OFFSET) !=
                            (uint32_t)pe->sequence_number) {
                        st = changed_error(plan, dpos, sink);
                        break;
                    }
                    /*
                     * The payload, rebuilt where the sector lies in the walk's
                     * own window (§8.6): no copy. The walk reads each data
                     * sector once, so the window never serves it again.
                     */
                    payload = sw.buf + (size_t)(data - sw.buf);
                    le64_store_no_bounds_check(payload, item.desc.leading_bytes);
                    le32_store_no_bounds_check(payload + LOG_DATA_SECTOR_LOW_OFFSET,
                                               item.desc.trailing_bytes);
                }
            }
            item.payload = payload;
            st = visit(ctx, &item);
        }
    }
    window_close(&dw);
    if (with_data)
        window_close(&sw);
    return st;
}

/* ---- Loading the plan ---- */

/* The LastFileOffset entry e may reach: its own, or the head's when smaller. */
static uint64_t entry_last(const struct log_plan *plan, const struct log_plan_entry *pe)
{
    uint64_t head_last = plan->entries[plan->count - 1].last_file_offset;
    return pe->last_file_offset < head_last ? pe->last_file_offset : head_last;
}

/*
 * How far the descriptors of an entry may reach (docs/REPLAY.md, Bounds):
 * the file's size before replay, or the LastFileOffset the entry may reach
 * when larger. No replay grows the file past the head's LastFileOffset.
 */
static uint64_t entry_bound(const struct log_plan *plan, const struct log_plan_entry *pe)
{
    uint64_t last = entry_last(plan, pe);
    return plan->file_size > last ? plan->file_size : last;
}

struct bound_check {
    struct log_plan *plan;
    struct diag_sink *sink;
    uint64_t bad;
    vhdx_status first;
};

static vhdx_status check_bounds(void *ctx, const struct log_plan_item *it)
{
    struct bound_check *bc = ctx;
    struct log_plan *plan = bc->plan;
    const struct log_plan_entry *pe = &plan->entries[it->entry];
    uint64_t len = it->desc.kind == LOG_DESCRIPTOR_ZERO ? it->desc.zero_length : LOG_SECTOR;
    uint64_t end = it->desc.file_offset + len; /* no overflow: checked by the descriptor rules */
    uint64_t bound = entry_bound(plan, pe);

    plan->descriptors++;
    if (len != 0)
        plan->ranges++;
    if (it->desc.kind == LOG_DESCRIPTOR_DATA)
        plan->data_descriptors++;
    if (len == 0 || end <= bound)
        return VHDX_OK;
    bc->bad++;
    if (bc->bad <= LOG_REPORT_MAX) {
        vhdx_status st = DIAG_ERROR(
            bc->sink, VHDX_E_RANGE, "log.descriptor.past_end", LOG, it->descriptor_file_offset,
            "descriptor %u of log entry %llu %s [0x%llx, 0x%llx), past the file's end (0x%llx) "
            "and the LastFileOffset its entry may reach (0x%llx): the log cannot be replayed",
            it->index, (unsigned long long)pe->sequence_number,
            it->desc.kind == LOG_DESCRIPTOR_ZERO ? "zeroes" : "writes",
            (unsigned long long)it->desc.file_offset, (unsigned long long)end,
            (unsigned long long)plan->file_size,
            (unsigned long long)entry_last(plan, pe));
        bc->first = status_first(bc->first, st);
    }
    return VHDX_OK;
}

vhdx_status log_plan_load(const vhdx_io *io, const struct header *h, uint64_t file_size,
                          uint32_t max_log_length, struct alloc_acct *acct,
                          struct diag_sink *sink, struct log_plan *plan)
{
    struct log_window entry_w;
    struct scan s;
    vhdx_status st;
    uint32_t best_head = 0, best_tail = 0, count = 1;
    uint64_t log_end;

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
                          "the log is 0x%x bytes, more than the limit of 0x%x "
                          "(vhdx_limits.max_log_length)",
                          h->log_length, max_log_length);
    if (io->read == NULL)
        return read_failure(sink, h->log_offset, h->log_length);
    if (!ck_add_u64(h->log_offset, h->log_length, &log_end) || file_size < log_end)
        return DIAG_ERROR(sink, VHDX_E_TRUNCATED, "log.region.past_eof", LOG, h->log_offset,
                          "the file ends inside the log [0x%llx, +0x%x)",
                          (unsigned long long)h->log_offset, h->log_length);

    memset(&s, 0, sizeof(s));
    s.acct = acct;
    st = window_open(&entry_w, io, acct, h->log_offset, h->log_length);
    if (st != VHDX_OK)
        return limit_error(sink, st, h->log_length);
    st = scan_log(&entry_w, h, &s, sink);
    if (st != VHDX_OK) {
        window_close(&entry_w);
        scan_free(&s);
        return st;
    }
    if (!choose_sequence(&s, h, &best_head, &best_tail, sink)) {
        uint32_t nvalid = s.n;
        window_close(&entry_w);
        scan_free(&s);
        return DIAG_ERROR(sink, VHDX_E_CORRUPT, "log.sequence.none", LOG, h->log_offset,
                          "the log GUID is set but the log [0x%llx, +0x%x) holds no valid "
                          "sequence of entries (%u valid entries): the image cannot be "
                          "brought to a consistent state",
                          (unsigned long long)h->log_offset, h->log_length, nvalid);
    }

    /* 4. The active sequence, from the head's Tail to the head. */
    for (uint32_t e = best_tail; e != best_head; e = s.e[e].succ - 1)
        count++;
    plan->entries = acct_alloc_array(acct, count, sizeof(*plan->entries), &st);
    if (plan->entries == NULL) {
        window_close(&entry_w);
        scan_free(&s);
        return limit_error(sink, st, h->log_length);
    }
    plan->entries_cap = count;
    for (uint32_t e = best_tail;; e = s.e[e].succ - 1) {
        struct log_plan_entry *pe = &plan->entries[plan->count++];
        pe->sequence_number = s.e[e].seq;
        pe->entry_offset = s.e[e].off;
        pe->entry_length = s.e[e].len;
        pe->tail = s.e[e].tail;
        if (e == best_head)
            break;
    }
    scan_free(&s);
    for (uint32_t e = 0; e < plan->count; e++) {
        if (!reread_header(&entry_w, &plan->entries[e])) {
            uint32_t off = plan->entries[e].entry_offset;
            window_close(&entry_w);
            log_plan_free(plan);
            return entry_w.failed ? read_failure(sink, h->log_offset, h->log_length)
                                  : changed_error(plan, off, sink);
        }
    }
    window_close(&entry_w);

    /* §8.7.3: a file shorter than the head's FlushedFileOffset was truncated. */
    {
        const struct log_plan_entry *hv = &plan->entries[plan->count - 1];
        if (file_size < hv->flushed_file_offset) {
            uint64_t off = h->log_offset + hv->entry_offset + 48;
            uint64_t flushed = hv->flushed_file_offset;
            log_plan_free(plan);
            return DIAG_ERROR(sink, VHDX_E_TRUNCATED, "log.truncated", LOG, off,
                              "the file is 0x%llx bytes, shorter than the 0x%llx the log says "
                              "were durable: the file was truncated",
                              (unsigned long long)file_size, (unsigned long long)flushed);
        }
    }

    /* 5. Every target inside what the entry may reach: nothing grows the file without bound. */
    {
        struct bound_check bc = {plan, sink, 0, VHDX_OK};
        st = log_plan_walk(plan, io, 0, check_bounds, &bc, sink);
        if (st == VHDX_OK && bc.bad > LOG_REPORT_MAX)
            (void)DIAG_INFO(sink, "log.descriptor.past_end_more", LOG, h->log_offset,
                            "%llu more descriptors reaching past the file's end are not listed",
                            (unsigned long long)(bc.bad - LOG_REPORT_MAX));
        if (st == VHDX_OK)
            st = bc.first;
        if (st != VHDX_OK) {
            log_plan_free(plan);
            return st;
        }
    }
    {
        uint64_t head_last = plan->entries[plan->count - 1].last_file_offset;
        plan->view_size = file_size > head_last ? file_size : head_last;
    }
    return VHDX_OK;
}

void log_plan_free(struct log_plan *plan)
{
    if (plan->acct == NULL)
        return;
    acct_free(plan->acct, plan->entries, (size_t)plan->entries_cap * sizeof(*plan->entries));
    plan->entries = NULL;
    plan->count = plan->entries_cap = 0;
}

/* ---- Applying in place ---- */

static vhdx_status apply_failure(struct diag_sink *sink, vhdx_status st, uint64_t off)
{
    if (st == VHDX_E_LIMIT || st == VHDX_E_NOMEM)
        return DIAG_ERROR(sink, st, "log.limit.overlay", LOG, off,
                          "replaying the log needs more memory than the limit "
                          "(vhdx_limits.max_memory) allows (at file offset 0x%llx)",
                          (unsigned long long)off);
    return DIAG_ERROR(sink, VHDX_E_IO, "log.apply.io", LOG, off,
                      "writing the replayed log at file offset 0x%llx failed",
                      (unsigned long long)off);
}

struct apply_ctx {
    vhdx_io *target;
    struct diag_sink *sink;
    vhdx_progress_fn progress;
    void *progress_ctx;
    uint64_t done;  /* descriptors applied */
    uint64_t total; /* descriptors of the plan */
};

/* Progress is reported every this many descriptors. */
#define APPLY_PROGRESS_EVERY 256u

static vhdx_status apply_item(void *ctx, const struct log_plan_item *it)
{
    struct apply_ctx *ac = ctx;
    vhdx_status st;
    /* A cancel stops between descriptors: the log stays set, and the next
       open replays it from the start (replay is idempotent). */
    if (ac->progress != NULL && ac->done % APPLY_PROGRESS_EVERY == 0 && ac->done != 0 &&
        ac->progress(ac->progress_ctx, ac->done, ac->total) != 0)
        return VHDX_E_CANCELLED;
    ac->done++;
    if (it->desc.kind == LOG_DESCRIPTOR_DATA)
        st = ac->target->write(ac->target->ctx, it->payload, LOG_SECTOR, it->desc.file_offset);
    else
        st = io_zero_through(ac->target, it->desc.file_offset, it->desc.zero_length);
    return st == VHDX_OK ? VHDX_OK : apply_failure(ac->sink, st, it->desc.file_offset);
}

vhdx_status log_plan_apply(const struct log_plan *plan, const vhdx_io *source, vhdx_io *target,
                           struct diag_sink *sink)
{
    return log_plan_apply_progress(plan, source, target, sink, NULL, NULL);
}

vhdx_status log_plan_apply_progress(const struct log_plan *plan, const vhdx_io *source,
                                    vhdx_io *target, struct diag_sink *sink,
                                    vhdx_progress_fn progress, void *progress_ctx)
{
    struct apply_ctx ac = {target, sink, progress, progress_ctx, 0, plan->descriptors};
    uint64_t size = 0, last;
    vhdx_status st;

    if (target->write == NULL || target->size == NULL || plan->count == 0)
        return VHDX_E_INVALID_ARG;
    if (progress != NULL && progress(progress_ctx, 0, plan->descriptors) != 0)
        return VHDX_E_CANCELLED;
    st = log_plan_walk(plan, source, LOG_WALK_DATA, apply_item, &ac, sink);
    if (st != VHDX_OK)
        return st;
    /* §8.7.5: the file is at least the head's LastFileOffset long. */
    last = plan->entries[plan->count - 1].last_file_offset;
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
    /* Applied and flushed: too late to cancel, so the answer is not asked. */
    if (progress != NULL)
        (void)progress(progress_ctx, plan->descriptors, plan->descriptors);
    return VHDX_OK;
}

/* ---- Replaying into a view ---- */

static vhdx_status map_item(void *ctx, const struct log_plan_item *it)
{
    struct io_replaymap_builder *b = ctx;
    if (it->desc.kind == LOG_DESCRIPTOR_DATA)
        return io_replaymap_add(b, it->desc.file_offset, LOG_SECTOR, it->data_file_offset,
                                it->desc.leading_bytes, it->desc.trailing_bytes);
    return io_replaymap_add(b, it->desc.file_offset, it->desc.zero_length, IO_REPLAY_ZERO, 0, 0);
}

vhdx_status log_plan_view(const struct log_plan *plan, const vhdx_io *base, vhdx_io *out,
                          struct diag_sink *sink)
{
    struct io_replaymap_builder b;
    vhdx_status st;

    memset(out, 0, sizeof(*out));
    if (plan->count == 0 || plan->ranges > SIZE_MAX / sizeof(struct io_replay_extent))
        return limit_error(sink, VHDX_E_LIMIT, plan->log_length);
    st = io_replaymap_builder_init(&b, plan->acct, (size_t)plan->ranges);
    if (st != VHDX_OK)
        return apply_failure(sink, st, VHDX_OFFSET_NONE);
    st = log_plan_walk(plan, base, 0, map_item, &b, sink);
    if (st != VHDX_OK) {
        io_replaymap_builder_free(&b);
        return st;
    }
    st = io_replaymap_create(&b, base, plan->view_size, out);
    if (st != VHDX_OK)
        return apply_failure(sink, st, VHDX_OFFSET_NONE);
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
