/*
 * The reference log replayer: a deliberately simple and slow engine that
 * implements docs/REPLAY.md literally, so that `vhdx replay-diff` and the
 * fuzz/replay_diff harness can compare the production engine
 * (src/image/log.c) with it byte for byte.
 *
 * It shares no log code with the production path: it uses only src/base/
 * (CRC-32C, little-endian loads, checked arithmetic, GUID generation) and
 * the vhdx_io callbacks of include/vhdx.h. Clarity comes before speed:
 *   - the whole log is read into one buffer;
 *   - the validity of the entry at every 4 KiB offset is decided by checking
 *     rules 1-11 of docs/REPLAY.md in the order written there;
 *   - the chain from EVERY valid entry is built and kept when it is valid
 *     and better than the best so far (highest head SequenceNumber, then
 *     lowest head offset): O(n^2) in the number of sectors;
 *   - the active sequence is applied descriptor by descriptor.
 * Memory: about 2 * log_length bytes (the log and a scratch copy of one
 * entry for its CRC) plus 72 bytes per log sector (the verdict on the entry
 * there, and room for one chain); the caller bounds log_length.
 */
#ifndef VHDX_REFREPLAY_REF_REPLAY_H
#define VHDX_REFREPLAY_REF_REPLAY_H

#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

enum ref_status {
    REF_OK = 0,          /* replayed (or, with dry_run, found) */
    REF_NO_SEQUENCE = 1, /* LogGuid set but no valid chain (docs/REPLAY.md) */
    REF_TRUNCATED = 2,   /* file shorter than the head's FlushedFileOffset, or the log region is
                            not fully inside the file */
    REF_BAD_ARG = 3,     /* log_length 0 / not a multiple of 4096, log_offset+log_length overflow,
                            NULL io, bad slot */
    REF_IO = 4,          /* a read/write/flush/truncate/size of the io failed */
    REF_NOMEM = 5,
    REF_PAST_END = 6     /* a descriptor reaches past both the file's end and what its entry
                            may reach (docs/REPLAY.md, "Bounds"); nothing is written */
};

struct ref_result {
    uint64_t head_sequence; /* SequenceNumber of the head */
    uint32_t head_offset;   /* log offset of the head */
    uint32_t tail_offset;   /* log offset of the first entry of the active sequence (= head's Tail) */
    uint32_t entries;       /* entries in the active sequence */
    uint64_t descriptors;   /* descriptors applied */
    uint64_t final_size;    /* file size after replay */
};

/*
 * Replays the log [log_offset, log_offset + log_length) of the file behind
 * `file` (needs read, size; and write, truncate unless dry_run; a NULL flush
 * means "nothing to flush", as vhdx.h defines it) whose current header has
 * LogGuid log_guid (16 on-disk bytes). current_slot is 1 or 2: the slot of
 * the current header (at 64 KiB or 128 KiB), for the header update of
 * docs/REPLAY.md (0: no header update). Result in *out (may be NULL).
 *
 * Steps, in this order:
 *  1. arguments (REF_BAD_ARG): file, file->read, file->size and log_guid not
 *     NULL; log_length a non-zero multiple of 4096; log_offset + log_length
 *     does not overflow; current_slot 0, 1 or 2; unless dry_run, file->write
 *     and file->truncate not NULL;
 *  2. the file size; the log region must lie inside the file (REF_TRUNCATED)
 *     and is read whole (a short read is REF_TRUNCATED);
 *  3. the active sequence (REF_NO_SEQUENCE when there is no valid chain);
 *  4. the file size before replay must be at least the head's
 *     FlushedFileOffset (REF_TRUNCATED);
 *  5. with a header update, the current header's 4 KiB are read now (they
 *     lie below 192 KiB, which no descriptor may target, so replay cannot
 *     change them): a short read is REF_TRUNCATED, and a SequenceNumber
 *     above 2^64 - 3 (s + 2 would not fit) is REF_BAD_ARG, before anything
 *     is written;
 *  6. unless dry_run: every descriptor of the active sequence is applied in
 *     order (a zero descriptor of length 0 writes nothing), the file is
 *     extended to the head's LastFileOffset when shorter (never shortened),
 *     flushed; then the header update: LogGuid (bytes 48..63) := nil,
 *     FileWriteGuid (bytes 16..31) := one new random GUID used for both
 *     writes, SequenceNumber (bytes 8..15) := s + 1, checksum (bytes 4..7)
 *     recomputed, written to the other slot and flushed; the same with
 *     s + 2 written to the current slot and flushed.
 *
 * *out is zeroed first. Once the active sequence is found (steps 4-6 and
 * dry_run), head_sequence, head_offset, tail_offset, entries and
 * descriptors (those of the active sequence: applied, or to be applied with
 * dry_run) are filled whatever the outcome. final_size is filled on REF_OK
 * only: the file's size after replay, or with dry_run the size the replay
 * would leave (the size before, grown by every write past it and by the
 * head's LastFileOffset).
 */
MUST_USE enum ref_status ref_replay(vhdx_io *file, const uint8_t log_guid[16], uint64_t log_offset,
                                    uint32_t log_length, int current_slot, int dry_run,
                                    struct ref_result *out);

/*
 * The allocator of the engine's work buffers (the log read whole, a scratch
 * copy of it, the entry tables), for every later call; NULL: malloc/free.
 * Process-wide and not synchronised: set it once, before any replay (the
 * fuzz harness gives it its pooling allocator, so the buffers are not fresh
 * mappings for every input).
 */
void ref_replay_set_allocator(const vhdx_allocator *allocator);

/* "REF_OK", "REF_NO_SEQUENCE", ...; "REF_UNKNOWN" for any other value. */
const char *ref_status_name(enum ref_status s);

#endif
