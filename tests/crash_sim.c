/* Crash-state enumeration: see crash_sim.h. */
#include "crash_sim.h"

#include <stdlib.h>
#include <string.h>

#include "base/checked.h"

const char *crash_kind_name(enum crash_kind kind)
{
    switch (kind) {
    case CRASH_PREFIX:
        return "prefix";
    case CRASH_TORN:
        return "torn";
    case CRASH_SUBSET:
        return "subset";
    case CRASH_TORN_SUBSET:
        return "torn-subset";
    default:
        return "?";
    }
}

struct crash_sim_options crash_sim_defaults(void)
{
    struct crash_sim_options o;
    o.torn_granule = 512;
    o.max_exhaustive = 12;
    o.random_subsets = 200;
    o.seed = 1;
    o.torn_subset_points = 0;
    o.torn_subset_exhaustive = 6;
    o.torn_subset_random = 16;
    return o;
}

/*
 * A file image in memory. Invariant: every byte in [len, cap) is zero, so
 * growing the file (a write past the end, a truncate up) exposes zeros
 * without further work.
 */
struct file_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/* A byte range an operation touched, to restore from the durable file. */
struct touched {
    size_t from;
    size_t to;
};

struct run {
    const struct io_op *ops;
    size_t n_ops;
    struct crash_sim_options opt;
    crash_visit_fn visit;
    void *ctx;
    struct file_buf work;
    struct file_buf durable;
    uint8_t *applied;        /* n_ops flags */
    struct touched *undo;    /* one per operation of the current epoch */
    uint64_t visited;
    bool stopped;
    uint64_t rng;
};

/* Applies bytes [from, to) of a write (the whole write, or a piece of a torn one). */
static struct touched apply_write_part(struct file_buf *f, const struct io_op *op, size_t from,
                                       size_t to)
{
    /* crash_sim_run checked that off + len fits in cap. */
    size_t at = (size_t)op->off;
    struct touched t;
    if (to > from && op->data != NULL)
        memcpy(f->data + at + from, op->data + from, to - from);
    else if (to > from)
        memset(f->data + at + from, 0, to - from); /* a zero operation */
    if (at + to > f->len)
        f->len = at + to;
    t.from = at + from;
    t.to = at + to;
    return t;
}

static struct touched apply_op(struct file_buf *f, const struct io_op *op)
{
    struct touched t = {0, 0};
    switch (op->kind) {
    case IO_OP_WRITE:
    case IO_OP_ZERO:
        return apply_write_part(f, op, 0, (size_t)op->len);
    case IO_OP_TRUNCATE: {
        size_t size = (size_t)op->off;
        if (size < f->len) {
            memset(f->data + size, 0, f->len - size);
            t.from = size;
            t.to = f->len;
        }
        f->len = size;
        return t;
    }
    case IO_OP_FLUSH:
    default:
        return t;
    }
}

static void visit_state(struct run *r, enum crash_kind kind, size_t op, size_t torn,
                        size_t durable_ops, size_t pending_end)
{
    struct crash_state s;
    s.kind = kind;
    s.index = r->visited;
    s.data = r->work.data;
    s.len = r->work.len;
    s.op = op;
    s.torn_bytes = torn;
    s.durable_ops = durable_ops;
    s.pending_end = pending_end;
    s.applied = r->applied;
    r->visited++;
    if (r->visit(r->ctx, &s) != 0)
        r->stopped = true;
}

/* PREFIX and TORN states: one pass applying one operation after another. */
static void visit_prefixes(struct run *r)
{
    size_t durable_ops = 0;
    for (size_t k = 0;; k++) {
        const struct io_op *op;
        visit_state(r, CRASH_PREFIX, k, 0, durable_ops, k);
        if (r->stopped || k == r->n_ops)
            return;
        op = &r->ops[k];
        if ((op->kind == IO_OP_WRITE || op->kind == IO_OP_ZERO) && r->opt.torn_granule > 0) {
            size_t g = r->opt.torn_granule, len = (size_t)op->len;
            for (size_t t = g; t < len; t += g) {
                (void)apply_write_part(&r->work, op, t - g, t);
                visit_state(r, CRASH_TORN, k, t, durable_ops, k + 1);
                if (r->stopped)
                    return;
            }
        }
        (void)apply_op(&r->work, op);
        r->applied[k] = 1;
        if (op->kind == IO_OP_FLUSH)
            durable_ops = k + 1;
    }
}

static uint64_t rng_next(struct run *r)
{
    /* xorshift64 */
    uint64_t x = r->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->rng = x;
    return x;
}

/* True when the chosen operations of the epoch are its first j for some j. */
static bool is_prefix(const uint8_t *chosen, size_t m)
{
    size_t j = 0;
    while (j < m && chosen[j])
        j++;
    while (j < m && !chosen[j])
        j++;
    return j == m;
}

/*
 * Back to the durable file after a state built over it: the n_undo ranges
 * recorded in r->undo (the durable bytes are zero past its end too), its
 * length, and no operation of the epoch ops[s..s+m) applied.
 */
static void restore_durable(struct run *r, size_t n_undo, size_t s, size_t m)
{
    for (size_t j = 0; j < n_undo; j++)
        memcpy(r->work.data + r->undo[j].from, r->durable.data + r->undo[j].from,
               r->undo[j].to - r->undo[j].from);
    r->work.len = r->durable.len;
    memset(r->applied + s, 0, m);
}

/*
 * One SUBSET state: the chosen operations of the epoch ops[s..s+m) over
 * the durable file (which work equals on entry and on return).
 */
static void visit_subset(struct run *r, size_t s, size_t m, const uint8_t *chosen)
{
    size_t last = s, n_undo = 0;
    for (size_t j = 0; j < m; j++) {
        if (!chosen[j])
            continue;
        r->undo[n_undo++] = apply_op(&r->work, &r->ops[s + j]);
        r->applied[s + j] = 1;
        last = s + j;
    }
    visit_state(r, CRASH_SUBSET, s, 0, s, last + 1);
    restore_durable(r, n_undo, s, m);
}

static void visit_epoch_subsets(struct run *r, size_t s, size_t m, uint8_t *chosen)
{
    if (m <= r->opt.max_exhaustive) {
        uint64_t all = (uint64_t)1 << m;
        for (uint64_t mask = 0; mask < all && !r->stopped; mask++) {
            /* The prefixes of the epoch are the masks 2^j - 1. */
            if ((mask & (mask + 1)) == 0)
                continue;
            for (size_t j = 0; j < m; j++)
                chosen[j] = (uint8_t)((mask >> j) & 1u);
            visit_subset(r, s, m, chosen);
        }
        return;
    }
    for (size_t i = 0; i < r->opt.random_subsets && !r->stopped; i++) {
        do {
            for (size_t j = 0; j < m; j++)
                chosen[j] = (uint8_t)(rng_next(r) >> 63);
        } while (is_prefix(chosen, m));
        visit_subset(r, s, m, chosen);
    }
}

/* The number of tear points of a write for TORN_SUBSET states. */
static size_t tear_points(const struct crash_sim_options *o, const struct io_op *op)
{
    size_t tears;
    if ((op->kind != IO_OP_WRITE && op->kind != IO_OP_ZERO) || o->torn_granule == 0 ||
        op->len == 0)
        return 0;
    tears = (size_t)((op->len - 1) / o->torn_granule);
    return tears < o->torn_subset_points ? tears : o->torn_subset_points;
}

/* The i-th of p tear points of a write with `tears` of them: granules 1, ..., tears. */
static size_t tear_at(size_t granule, size_t tears, size_t p, size_t i)
{
    return granule * (p == 1 ? 1 : 1 + i * (tears - 1) / (p - 1));
}

/*
 * One TORN_SUBSET state: the chosen operations of the epoch ops[s..s+m)
 * and ops[k] torn after `torn` bytes, in their order, over the durable file
 * (which work equals on entry and on return).
 */
static void visit_torn_subset(struct run *r, size_t s, size_t m, const uint8_t *chosen, size_t k,
                              size_t torn)
{
    size_t last = k, n_undo = 0;
    for (size_t j = 0; j < m; j++) {
        if (s + j == k) {
            r->undo[n_undo++] = apply_write_part(&r->work, &r->ops[k], 0, torn);
            continue;
        }
        if (!chosen[j])
            continue;
        r->undo[n_undo++] = apply_op(&r->work, &r->ops[s + j]);
        r->applied[s + j] = 1;
        if (s + j > last)
            last = s + j;
    }
    visit_state(r, CRASH_TORN_SUBSET, k, torn, s, last + 1);
    restore_durable(r, n_undo, s, m);
}

/* True when the chosen operations (ops[k] aside) are exactly those before k. */
static bool is_torn_prefix(const uint8_t *chosen, size_t m, size_t kj)
{
    for (size_t j = 0; j < m; j++)
        if (j != kj && chosen[j] != (j < kj))
            return false;
    return true;
}

/* TORN_SUBSET states of the epoch ops[s..s+m). */
static void visit_epoch_torn_subsets(struct run *r, size_t s, size_t m, uint8_t *chosen)
{
    for (size_t kj = 0; kj < m && !r->stopped; kj++) {
        const struct io_op *op = &r->ops[s + kj];
        size_t p = tear_points(&r->opt, op);
        size_t tears = p > 0 ? (size_t)((op->len - 1) / r->opt.torn_granule) : 0;
        for (size_t i = 0; i < p && !r->stopped; i++) {
            size_t torn = tear_at(r->opt.torn_granule, tears, p, i);
            if (m - 1 <= r->opt.torn_subset_exhaustive) {
                uint64_t all = (uint64_t)1 << (m - 1);
                for (uint64_t mask = 0; mask < all && !r->stopped; mask++) {
                    /* mask bit b is the b-th operation other than ops[k]. */
                    for (size_t j = 0, b = 0; j < m; j++) {
                        uint8_t bit = 0;
                        if (j != kj)
                            bit = (uint8_t)((mask >> b++) & 1u);
                        chosen[j] = bit;
                    }
                    if (!is_torn_prefix(chosen, m, kj))
                        visit_torn_subset(r, s, m, chosen, s + kj, torn);
                }
                continue;
            }
            for (size_t d = 0; d < r->opt.torn_subset_random && !r->stopped; d++) {
                do {
                    for (size_t j = 0; j < m; j++) {
                        uint8_t bit = 0;
                        if (j != kj)
                            bit = (uint8_t)(rng_next(r) >> 63);
                        chosen[j] = bit;
                    }
                } while (is_torn_prefix(chosen, m, kj));
                visit_torn_subset(r, s, m, chosen, s + kj, torn);
            }
        }
    }
}

/* SUBSET states, epoch by epoch; the durable file follows the flushes. */
static vhdx_status visit_subsets(struct run *r)
{
    uint8_t *chosen = NULL;
    size_t s = 0;
    vhdx_status st = VHDX_OK;
    memset(r->applied, 0, r->n_ops);
    if (r->n_ops > 0) {
        chosen = calloc(r->n_ops, 1);
        r->undo = calloc(r->n_ops, sizeof(*r->undo));
        if (chosen == NULL || r->undo == NULL) {
            st = VHDX_E_NOMEM;
            goto out;
        }
    }
    while (!r->stopped) {
        size_t e = s;
        while (e < r->n_ops && r->ops[e].kind != IO_OP_FLUSH)
            e++;
        /* The epoch ops[s..e); work holds the durable file here. */
        if (e - s >= 2)
            visit_epoch_subsets(r, s, e - s, chosen);
        if (e - s >= 2 && r->opt.torn_subset_points > 0)
            visit_epoch_torn_subsets(r, s, e - s, chosen);
        for (size_t j = s; j < e; j++) {
            (void)apply_op(&r->durable, &r->ops[j]);
            (void)apply_op(&r->work, &r->ops[j]);
            r->applied[j] = 1;
        }
        if (e == r->n_ops)
            break;
        r->applied[e] = 1;
        s = e + 1;
    }
out:
    free(chosen);
    free(r->undo);
    r->undo = NULL;
    return st;
}

/* The largest size the file reaches, checking every write has its bytes. */
static vhdx_status file_capacity(size_t initial_len, const struct io_op *ops, size_t n_ops,
                                 size_t *cap)
{
    uint64_t most = initial_len;
    for (size_t i = 0; i < n_ops; i++) {
        uint64_t end = 0;
        switch (ops[i].kind) {
        case IO_OP_WRITE:
            if (ops[i].len > 0 && ops[i].data == NULL)
                return VHDX_E_INVALID_ARG;
            if (!ck_add_u64(ops[i].off, ops[i].len, &end))
                return VHDX_E_OVERFLOW;
            break;
        case IO_OP_ZERO:
            if (!ck_add_u64(ops[i].off, ops[i].len, &end))
                return VHDX_E_OVERFLOW;
            break;
        case IO_OP_TRUNCATE:
            end = ops[i].off;
            break;
        case IO_OP_FLUSH:
            break;
        default:
            return VHDX_E_INVALID_ARG;
        }
        if (end > most)
            most = end;
    }
    if (most > CRASH_SIM_MAX_FILE)
        return VHDX_E_LIMIT;
    if (!ck_u64_to_size(most, cap))
        return VHDX_E_OVERFLOW;
    return VHDX_OK;
}

vhdx_status crash_sim_run(const uint8_t *initial, size_t initial_len, const struct io_op *ops,
                          size_t n_ops, const struct crash_sim_options *options,
                          crash_visit_fn visit, void *ctx, uint64_t *visited)
{
    struct run r;
    size_t cap = 0;
    vhdx_status st;
    if (visited != NULL)
        *visited = 0;
    if (visit == NULL || visited == NULL || (initial == NULL && initial_len > 0) ||
        (ops == NULL && n_ops > 0))
        return VHDX_E_INVALID_ARG;
    memset(&r, 0, sizeof(r));
    r.opt = options != NULL ? *options : crash_sim_defaults();
    if (r.opt.max_exhaustive > 32 || r.opt.torn_subset_exhaustive > 32)
        return VHDX_E_INVALID_ARG;
    st = file_capacity(initial_len, ops, n_ops, &cap);
    if (st != VHDX_OK)
        return st;
    r.ops = ops;
    r.n_ops = n_ops;
    r.visit = visit;
    r.ctx = ctx;
    r.rng = r.opt.seed != 0 ? r.opt.seed : 1;
    /* calloc(0) may return NULL: ask for at least one byte. */
    r.work.data = calloc(cap > 0 ? cap : 1, 1);
    r.durable.data = calloc(cap > 0 ? cap : 1, 1);
    r.applied = calloc(n_ops > 0 ? n_ops : 1, 1);
    if (r.work.data == NULL || r.durable.data == NULL || r.applied == NULL) {
        st = VHDX_E_NOMEM;
        goto out;
    }
    r.work.cap = r.durable.cap = cap;
    if (initial_len > 0) {
        memcpy(r.work.data, initial, initial_len);
        memcpy(r.durable.data, initial, initial_len);
    }
    r.work.len = r.durable.len = initial_len;

    visit_prefixes(&r);
    if (!r.stopped) {
        /* Back to the initial file for the epochs. */
        memset(r.work.data, 0, cap);
        if (initial_len > 0)
            memcpy(r.work.data, initial, initial_len);
        r.work.len = initial_len;
        st = visit_subsets(&r);
    }
    *visited = r.visited;
out:
    free(r.work.data);
    free(r.durable.data);
    free(r.applied);
    return st;
}

uint64_t crash_sim_count(const struct io_op *ops, size_t n_ops,
                         const struct crash_sim_options *options)
{
    struct crash_sim_options o = options != NULL ? *options : crash_sim_defaults();
    uint64_t count = (uint64_t)n_ops + 1;
    size_t m = 0;
    for (size_t i = 0; i <= n_ops; i++) {
        if (i == n_ops || ops[i].kind == IO_OP_FLUSH) {
            /* The epoch of m writes and truncates that ends here. */
            if (m >= 2) {
                uint64_t others = m - 1 <= o.torn_subset_exhaustive
                                      ? ((uint64_t)1 << (m - 1)) - 1
                                      : o.torn_subset_random;
                count += m <= o.max_exhaustive ? ((uint64_t)1 << m) - m - 1 : o.random_subsets;
                for (size_t j = i - m; j < i; j++)
                    count += (uint64_t)tear_points(&o, &ops[j]) * others;
            }
            m = 0;
            continue;
        }
        m++;
        if ((ops[i].kind == IO_OP_WRITE || ops[i].kind == IO_OP_ZERO) && o.torn_granule > 0 &&
            ops[i].len > 0)
            count += (ops[i].len - 1) / o.torn_granule;
    }
    return count;
}

void crash_sim_epochs(const struct io_op *ops, size_t n_ops,
                      const struct crash_sim_options *options, uint64_t *exhaustive,
                      uint64_t *sampled, size_t *largest)
{
    struct crash_sim_options o = options != NULL ? *options : crash_sim_defaults();
    size_t m = 0;
    *exhaustive = *sampled = 0;
    *largest = 0;
    for (size_t i = 0; i <= n_ops; i++) {
        if (i == n_ops || ops[i].kind == IO_OP_FLUSH) {
            if (m > *largest)
                *largest = m;
            if (m >= 2 && m <= o.max_exhaustive)
                (*exhaustive)++;
            else if (m >= 2)
                (*sampled)++;
            m = 0;
        } else {
            m++;
        }
    }
}

vhdx_status crash_ops_from_record(const vhdx_io *recorder, struct io_op **ops, size_t *n_ops)
{
    size_t n;
    struct io_op *copy;
    if (ops == NULL || n_ops == NULL)
        return VHDX_E_INVALID_ARG;
    *ops = NULL;
    *n_ops = 0;
    n = io_record_count(recorder);
    if (n == 0)
        return VHDX_OK;
    copy = calloc(n, sizeof(*copy));
    if (copy == NULL)
        return VHDX_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = *io_record_op(recorder, i);
    *ops = copy;
    *n_ops = n;
    return VHDX_OK;
}

/* ---- Workloads ---- */

void crash_workload_init(struct crash_workload *w, const vhdx_io *recorder)
{
    memset(w, 0, sizeof(*w));
    w->recorder = recorder;
}

bool crash_workload_begin(struct crash_workload *w, const char *label, bool makes_durable)
{
    struct crash_step *s;
    if (w->open || w->count >= CRASH_MAX_STEPS)
        return false;
    s = &w->steps[w->count];
    s->label = label;
    s->makes_durable = makes_durable;
    s->op_begin = io_record_count(w->recorder);
    s->op_end = s->op_begin;
    w->open = true;
    return true;
}

bool crash_workload_end(struct crash_workload *w)
{
    if (!w->open)
        return false;
    w->steps[w->count].op_end = io_record_count(w->recorder);
    w->count++;
    w->open = false;
    return true;
}

struct crash_span crash_workload_span(const struct crash_workload *w,
                                      const struct crash_state *state,
                                      enum crash_durability rule)
{
    struct crash_span span = {0, 0};
    for (size_t i = 0; i < w->count; i++) {
        const struct crash_step *s = &w->steps[i];
        bool done;
        if (s->op_begin < state->pending_end)
            span.started = i + 1;
        if (!s->makes_durable)
            continue;
        done = s->op_end <= state->durable_ops ||
               (rule == CRASH_DURABLE_RETURNED && s->op_end < state->pending_end);
        if (done)
            span.durable = i + 1;
    }
    /* A durable step that issued no operation of its own has begun too. */
    if (span.started < span.durable)
        span.started = span.durable;
    return span;
}
