/*
 * The log (VHDX-FORMAT.md §8.7): finding the active sequence of a dirty
 * log, applying it to a file or making a read-only view of it, and the header
 * update that marks the log empty. The exact result is defined in
 * docs/REPLAY.md; src/refreplay/ is an independent engine computing the
 * same, and the two are compared by `vhdx replay-diff` and fuzz/replay_diff.
 *
 * The search is one pass over the log, read through a bounded window and
 * linear in its length whatever the bytes: every 4 KiB offset that begins
 * with `loge` is checked in one early-exit pass over the entry's sectors
 * (only the first sector of an entry can begin with `loge`, so the sectors
 * one check walks are never walked again by another). Valid entries never
 * share a sector, so each has at most one successor and one predecessor:
 * the chains are simple paths, walked once each.
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

/* One entry of the active sequence, in replay order: its header's fields. */
struct log_plan_entry {
    uint64_t sequence_number;
    uint64_t flushed_file_offset;
    uint64_t last_file_offset;
    uint32_t entry_offset;
    uint32_t entry_length;
    uint32_t tail;
    uint32_t descriptor_count;
    uint32_t descriptor_sectors;
};

/*
 * The active sequence of a dirty log. It holds no byte of the log: the
 * descriptors and data sectors stay in the file and are read again, through
 * a window, by whatever walks the plan.
 */
struct log_plan {
    struct alloc_acct *acct;
    uint64_t log_offset;
    uint32_t log_length;
    struct log_plan_entry *entries; /* the active sequence, tail first */
    uint32_t count;
    uint32_t entries_cap;
    uint64_t file_size;        /* the file size before replay */
    uint64_t view_size;        /* the file size after replay: max(file_size, head's LastFileOffset) */
    uint64_t descriptors;      /* descriptors of the active sequence */
    uint64_t data_descriptors; /* of which data descriptors */
    uint64_t ranges;           /* descriptors that write at least one byte */
};

/*
 * Reads the log of the image whose current header is h (LogGuid set) from
 * io and finds the active sequence, then checks every descriptor's target
 * against what its entry may reach. Findings go to sink with file offsets:
 * torn or broken entries carrying the header's LogGuid and chains whose
 * head's Tail lies outside them are warnings (at most a few of each);
 * `log.sequence.none`, `log.truncated` and `log.descriptor.past_end` are
 * errors; `log.limit.memory` (VHDX_E_LIMIT / VHDX_E_NOMEM) means the image
 * could not be judged within the memory limit.
 *
 * Cost: the log is read through one 256 KiB window, the scan and the checks
 * going forward together: each sector is read about once, at most twice
 * (plus the few entries reported broken); the active sequence's header and
 * descriptor sectors are read once more, no more than they are. Memory: the
 * window,
 * 32 bytes per valid entry while searching, 40 per entry of the active
 * sequence after: never the log's bytes. On success the caller owns *plan
 * (log_plan_free).
 */
MUST_USE vhdx_status log_plan_load(const vhdx_io *io, const struct header *h, uint64_t file_size,
                                   uint32_t max_log_length, struct alloc_acct *acct,
                                   struct diag_sink *sink, struct log_plan *plan);

void log_plan_free(struct log_plan *plan);

/* One descriptor of the plan, as log_plan_walk visits it. */
struct log_plan_item {
    uint32_t entry; /* index in plan->entries */
    uint32_t index; /* descriptor index in the entry */
    struct log_descriptor desc;
    uint64_t descriptor_file_offset;
    uint64_t data_file_offset; /* data descriptors: where the data sector lies in the file */
    /*
     * With LOG_WALK_DATA, data descriptors: the 4096 bytes the descriptor
     * writes (its data sector with LeadingBytes and TrailingBytes put back,
     * §8.6), valid during the call.
     */
    const uint8_t *payload;
};

typedef vhdx_status (*log_plan_visit_fn)(void *ctx, const struct log_plan_item *item);

/* log_plan_walk flag: read each data sector and give its payload (else only its position). */
#define LOG_WALK_DATA 1u

/*
 * Visits every descriptor of the plan in replay order, read again from io
 * through a window (two with LOG_WALK_DATA). A descriptor or data sector
 * that no longer passes the search's checks is `log.changed` (VHDX_E_IO).
 * Stops at, and returns, the first status other than VHDX_OK that visit
 * returns.
 */
MUST_USE vhdx_status log_plan_walk(const struct log_plan *plan, const vhdx_io *io, unsigned flags,
                                   log_plan_visit_fn visit, void *ctx, struct diag_sink *sink);

/*
 * Applies the plan, read from source, to target (the same file for an
 * in-place replay): every descriptor in order (zero ranges through the
 * target's zero operation where it has one), then the extension to the
 * head's LastFileOffset, then a flush. Failures of the target are reported
 * as `log.apply.io` (`log.limit.overlay` for a target that runs out of memory).
 */
MUST_USE vhdx_status log_plan_apply(const struct log_plan *plan, const vhdx_io *source,
                                    vhdx_io *target, struct diag_sink *sink);

/*
 * log_plan_apply with progress in descriptors applied (of plan->descriptors),
 * reported every few hundred; a non-zero answer stops it between two
 * descriptors with VHDX_E_CANCELLED, the log still set (replayed again, from
 * the start, by the next writable open).
 */
MUST_USE vhdx_status log_plan_apply_progress(const struct log_plan *plan, const vhdx_io *source,
                                             vhdx_io *target, struct diag_sink *sink,
                                             vhdx_progress_fn progress, void *progress_ctx);

/*
 * The replayed file as a read-only view over base (io/replaymap.h): one
 * record per descriptor that writes a byte, data by reference into the log,
 * overlaps resolved. Memory from plan->acct; the view does not own base.
 */
MUST_USE vhdx_status log_plan_view(const struct log_plan *plan, const vhdx_io *base, vhdx_io *out,
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
