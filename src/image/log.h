/*
 * The log (VHDX-FORMAT.md §8.7): finding the active sequence of a dirty
 * log, applying it to a file or to an in-memory overlay, and the header
 * update that marks the log empty. The exact result is defined in
 * docs/REPLAY.md; src/refreplay/ is an independent engine computing the
 * same, and the two are compared by `vhdx replay-diff` and fuzz/replay_diff.
 *
 * The search is one pass over the log held in memory, linear in its
 * length whatever the bytes: every 4 KiB offset that begins with `loge` is
 * checked with an early-exit prefilter in sector order (only the first
 * sector of an entry can begin with `loge`, so the sectors a prefilter
 * walks are never walked again by another), and only entries that pass it
 * get the full check of log_entry_check (CRC included). Valid entries
 * never share a sector, so each has at most one successor and one
 * predecessor: the chains are simple paths, walked once each.
 */
#ifndef VHDX_IMAGE_LOG_H
#define VHDX_IMAGE_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "base/diag.h"
#include "format/header.h"
#include "format/log_entry.h"
#include "vhdx.h"

/* One entry of the active sequence, in replay order. */
struct log_plan_entry {
    struct log_entry_view view; /* header, offset, descriptor and data counts */
};

struct log_plan {
    struct alloc_acct *acct;
    uint8_t *log; /* the whole log region, log_length bytes */
    uint64_t log_offset;
    uint32_t log_length;
    struct log_plan_entry *entries; /* the active sequence, tail first */
    uint32_t count;
    uint32_t entries_cap;
    uint64_t file_size; /* the file size before replay */
    uint64_t descriptors;     /* descriptors of the active sequence */
};

/*
 * Reads the log of the image whose current header is h (LogGuid set) from
 * io and finds the active sequence. Findings go to sink with file offsets:
 * torn or broken entries carrying the header's LogGuid and chains whose
 * head's Tail lies outside them are warnings (at most a few of each);
 * `log.sequence.none` and `log.truncated` are errors. Memory: the log and
 * one small record per 4 KiB of it, from acct. On success the caller owns
 * *plan (log_plan_free).
 */
MUST_USE vhdx_status log_plan_load(const vhdx_io *io, const struct header *h, uint64_t file_size,
                                   uint32_t max_log_length, struct alloc_acct *acct,
                                   struct diag_sink *sink, struct log_plan *plan);

void log_plan_free(struct log_plan *plan);

/* Descriptor i of entry e of the plan. */
MUST_USE vhdx_status log_plan_descriptor(const struct log_plan *plan, uint32_t e, uint32_t i,
                                         struct log_descriptor *out);

/*
 * Applies the plan to target (the file itself, or an overlay of it):
 * every descriptor in order, then the extension to the head's
 * LastFileOffset, then a flush. VHDX_E_IO / VHDX_E_LIMIT (overlay full)
 * from the target are reported as `log.apply.io` / `log.limit.overlay`.
 */
MUST_USE vhdx_status log_plan_apply(const struct log_plan *plan, vhdx_io *target,
                                    struct diag_sink *sink);

/*
 * What a header update changes (§3.4); NULL fields keep their value.
 * log: the LogGuid to store (the nil GUID marks the log empty).
 */
struct header_change {
    const struct guid *file_write;
    const struct guid *data_write;
    const struct guid *log;
};

/*
 * The header update of §3.4, done twice: from the current header's bytes in
 * slot current_slot (1 or 2), the changed fields, SequenceNumber + 1 into
 * the other slot, flush, then SequenceNumber + 2 into the current slot,
 * flush. Every other byte of the header is kept. *out (may be NULL)
 * receives the new header; the current slot stays current_slot.
 * Failures are reported as `log.header_update.io` / `.sequence`.
 */
MUST_USE vhdx_status log_update_headers(vhdx_io *io, int current_slot,
                                        const struct header_change *change, struct header *out,
                                        struct diag_sink *sink);

/*
 * The header update after an in-place replay (docs/REPLAY.md): LogGuid nil
 * and a new FileWriteGuid, through log_update_headers.
 */
MUST_USE vhdx_status log_clear_headers(vhdx_io *io, int current_slot, struct header *out,
                                       struct diag_sink *sink);

#endif
