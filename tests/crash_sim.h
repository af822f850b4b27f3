/*
 * Crash-state enumeration for crash-consistency tests.
 *
 * Given a file's bytes before a run of mutating operations (recorded with
 * src/io/record.h) this calls back once per state in which a power loss
 * could leave the file. The disk model: a flush makes every earlier
 * operation durable; the operations since the last flush may each have
 * landed or not, in any combination; a write may land in part, torn at a
 * sector boundary. The states visited, in this order:
 *
 *   PREFIX  ops[0..k) applied, for k = 0..n (n + 1 states; k = n is the
 *           completed run);
 *   TORN    ops[0..k) plus the first t bytes of write ops[k], for every
 *           write and every t = g, 2g, ... below its length (g: the torn
 *           granule, 512): floor((len - 1) / g) states per write;
 *   SUBSET  per epoch (the operations between two flushes, or from the
 *           last flush to the end) of m writes and truncates: each subset
 *           of them applied in their order over the file as the epoch's
 *           first flush left it. With m <= max_exhaustive (12) every
 *           subset that is not a prefix of the epoch (those are PREFIX
 *           states already): 2^m - m - 1 states. With more: exactly
 *           random_subsets non-prefix subsets drawn from a xorshift64
 *           generator seeded with `seed` (deterministic; a subset may be
 *           drawn twice).
 *   TORN_SUBSET (off unless torn_subset_points is set) per epoch of m >= 2
 *           writes and truncates, per write ops[k] of it longer than the
 *           granule: the write torn at torn_subset_points tear points (the
 *           first granule, the last, and evenly spaced between; fewer when
 *           the write has fewer), each combined with subsets of the
 *           epoch's other m - 1 operations, applied in their order over the
 *           epoch's durable file with ops[k] torn at its place. With
 *           m - 1 <= torn_subset_exhaustive every subset except the one a
 *           TORN state already is (every operation before k, none after):
 *           2^(m-1) - 1 subsets; with more, torn_subset_random subsets
 *           drawn from the same generator (never that one).
 *
 * The file model: a write past the end extends the file with zeros up to
 * it; a truncate sets the size (shrinking drops the bytes, growing again
 * exposes zeros). Every state is built in one reusable buffer: prefixes
 * and torn writes by applying one operation after another, subsets by
 * applying the chosen operations over a copy of the epoch's durable file
 * and restoring the ranges they touched afterwards. Memory: two buffers of
 * the largest size the file reaches, plus one byte per operation.
 *
 * A workload (struct crash_workload) groups the operations into the steps
 * a test performed ("write 8 KiB at 1 MiB", "flush"), so that for a state
 * it can say which steps are certainly in it and which were in flight.
 */
#ifndef VHDX_TESTS_CRASH_SIM_H
#define VHDX_TESTS_CRASH_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "io/record.h"
#include "vhdx.h"

enum crash_kind {
    CRASH_PREFIX = 0,
    CRASH_TORN = 1,
    CRASH_SUBSET = 2,
    CRASH_TORN_SUBSET = 3
};
#define CRASH_KINDS 4

/* "prefix", "torn", "subset" or "torn-subset". */
const char *crash_kind_name(enum crash_kind kind);

struct crash_state {
    enum crash_kind kind;
    uint64_t index;      /* the state's position in the run, from 0 */
    const uint8_t *data; /* the file; valid during the callback only */
    size_t len;          /* its size */
    /*
     * PREFIX: the number of operations applied (k). TORN, TORN_SUBSET: the
     * torn write. SUBSET: the first operation of the epoch.
     */
    size_t op;
    size_t torn_bytes;   /* TORN, TORN_SUBSET: the bytes of ops[op] that landed; else 0 */
    /*
     * Every operation below durable_ops is certainly in the state: they
     * are the operations up to the last flush before the crash. No
     * operation at or past pending_end is in it. Between the two, `applied`
     * says which are (1) and which are not (0); a torn write reads 0.
     */
    size_t durable_ops;
    size_t pending_end;
    const uint8_t *applied; /* n_ops flags; valid during the callback only */
};

/* Returns 0 to go on, nonzero to stop the run after this state. */
typedef int (*crash_visit_fn)(void *ctx, const struct crash_state *state);

struct crash_sim_options {
    size_t torn_granule;    /* bytes; 0 visits no torn states */
    size_t max_exhaustive;  /* epochs with at most this many writes/truncates: every subset */
    size_t random_subsets;  /* per larger epoch */
    uint64_t seed;          /* of the generator that draws those; 0 is replaced by 1 */
    size_t torn_subset_points;     /* TORN_SUBSET tear points per write (0: no such states) */
    size_t torn_subset_exhaustive; /* every subset when the other operations are at most this */
    size_t torn_subset_random;     /* else this many drawn */
};

/*
 * Granule 512, every subset up to 12 operations, 200 random subsets, seed
 * 1; no TORN_SUBSET states (torn_subset_points 0; exhaustive 6 and random
 * 16 when a caller sets points).
 */
struct crash_sim_options crash_sim_defaults(void);

/* The largest file the enumerator holds (it keeps two copies). */
#define CRASH_SIM_MAX_FILE (1ull << 30)

/*
 * Visits every crash state of ops[0..n_ops) over the file `initial`
 * (options NULL: the defaults); *visited receives the number of states
 * visited, the one that stopped the run included. VHDX_E_INVALID_ARG for
 * a write without data or an options value out of range (max_exhaustive
 * or torn_subset_exhaustive above 32), VHDX_E_OVERFLOW when an operation's end overflows,
 * VHDX_E_LIMIT when the file would grow past CRASH_SIM_MAX_FILE,
 * VHDX_E_NOMEM when the buffers cannot be had: no state is visited then.
 */
MUST_USE vhdx_status crash_sim_run(const uint8_t *initial, size_t initial_len,
                                   const struct io_op *ops, size_t n_ops,
                                   const struct crash_sim_options *options, crash_visit_fn visit,
                                   void *ctx, uint64_t *visited);

/*
 * The number of states crash_sim_run visits for these operations when the
 * callback never stops it (by the formulas above, without building any).
 */
uint64_t crash_sim_count(const struct io_op *ops, size_t n_ops,
                         const struct crash_sim_options *options);

/*
 * How the epochs of these operations (those of at least two writes and
 * truncates) are enumerated: *exhaustive get every subset, *sampled get
 * random_subsets drawn ones; *largest is the most writes and truncates of
 * any epoch (what max_exhaustive would need to be to enumerate them all).
 */
void crash_sim_epochs(const struct io_op *ops, size_t n_ops,
                      const struct crash_sim_options *options, uint64_t *exhaustive,
                      uint64_t *sampled, size_t *largest);

/*
 * The operations a recording back end holds, as an array from malloc (free
 * it with free); the data pointers point into the recorder, so they are
 * valid until it is cleared or closed. *ops is NULL when there are none.
 */
MUST_USE vhdx_status crash_ops_from_record(const vhdx_io *recorder, struct io_op **ops,
                                           size_t *n_ops);

/* ---- Workloads: the steps a test performed, and what a crash keeps of them ---- */

#define CRASH_MAX_STEPS 128

struct crash_step {
    const char *label;   /* a static string, for messages */
    bool makes_durable;  /* vhdx_flush, vhdx_finish, vhdx_create, vhdx_close: durable on return */
    size_t op_begin;     /* the recorder's op count when the step started */
    size_t op_end;       /* and when it returned */
};

struct crash_workload {
    const vhdx_io *recorder;
    size_t count;
    bool open;           /* a step has begun and not ended */
    struct crash_step steps[CRASH_MAX_STEPS];
};

void crash_workload_init(struct crash_workload *w, const vhdx_io *recorder);

/*
 * Starts step w->count. false (and nothing recorded) when the workload is
 * full or a step is already open.
 */
MUST_USE bool crash_workload_begin(struct crash_workload *w, const char *label,
                                   bool makes_durable);

/* Ends the open step; false when no step is open. */
MUST_USE bool crash_workload_end(struct crash_workload *w);

/*
 * When is a step that makes data durable known to have done so?
 *   SYNCED:   when all its operations are below durable_ops (the disk
 *             model's own guarantee: they were followed by a flush).
 *   RETURNED: also when it returned before the crash, that is when an
 *             operation of a later step is in the state (op_end <
 *             pending_end). This is the library's contract ("durable once
 *             vhdx_flush returns"): a writer whose flush ends with
 *             unflushed writes must make them recoverable.
 * RETURNED marks at least the steps SYNCED does, so it checks more.
 */
enum crash_durability {
    CRASH_DURABLE_SYNCED = 0,
    CRASH_DURABLE_RETURNED = 1
};

/*
 * What a crash state keeps of a workload. The steps in [0, durable) are
 * certainly in the state (each is followed by a durable step that is,
 * or is one); those in [durable, started) were in flight: they began
 * before the last operation in the state, so any of their effects may be
 * there or not; those in [started, count) had not begun (none of their
 * operations, nor of any later step, is in the state).
 */
struct crash_span {
    size_t durable;
    size_t started;
};

struct crash_span crash_workload_span(const struct crash_workload *w,
                                      const struct crash_state *state,
                                      enum crash_durability rule);

#endif
