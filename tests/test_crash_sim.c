/*
 * The recording back end (src/io/record.c) and the crash-state enumerator
 * (tests/crash_sim.c): what is recorded and passed through, and for small
 * synthetic operation lists the exact number of states of each kind, their
 * bounds and their bytes, checked against a naive model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "crash_sim.h"
#include "io/overlay.h"
#include "io/record.h"
#include "test_util.h"
#include "vhdx.h"

/* ---- A writable file in memory under a recorder ---- */

struct recfile {
    struct alloc_acct acct;
    vhdx_io mem, file, rec;
};

static void recfile_open(struct recfile *f, const uint8_t *data, size_t len)
{
    alloc_acct_init(&f->acct, NULL, 0);
    assert_status(vhdx_io_from_memory(data, len, &f->mem), VHDX_OK);
    assert_status(io_overlay_create(&f->mem, &f->acct, 0, &f->file), VHDX_OK);
    assert_status(io_record_create(&f->file, &f->acct, &f->rec), VHDX_OK);
}

static void recfile_close(struct recfile *f)
{
    vhdx_io_close(&f->rec);
    vhdx_io_close(&f->file);
    vhdx_io_close(&f->mem);
    assert_int_equal(f->acct.in_use, 0);
}

static void rec_write(vhdx_io *io, uint64_t off, uint8_t byte, size_t len)
{
    uint8_t buf[8192];
    assert_true(len <= sizeof(buf));
    memset(buf, byte, len);
    assert_status(io->write(io->ctx, buf, len, off), VHDX_OK);
}

static void assert_op(const struct io_op *op, enum io_op_kind kind, uint64_t off, uint64_t len)
{
    assert_non_null(op);
    assert_int_equal(op->kind, kind);
    assert_int_equal(op->off, off);
    assert_int_equal(op->len, len);
    if (kind != IO_OP_WRITE || len == 0)
        assert_null(op->data);
}

static void assert_bytes(const uint8_t *p, uint8_t byte, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != byte)
            fail_msg("byte %zu is 0x%02x, expected 0x%02x", i, p[i], byte);
}

/* ---- The recorder ---- */

static void test_record_passes_through_and_records_mutations(void **state)
{
    struct recfile f;
    uint8_t buf[4096];
    size_t got = 0;
    uint64_t size = 0;
    (void)state;
    recfile_open(&f, NULL, 0);
    rec_write(&f.rec, 0, 0xAA, 1024);
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    rec_write(&f.rec, 3000, 0xBB, 100);
    assert_status(f.rec.truncate(f.rec.ctx, 2048), VHDX_OK);
    /* Reads and size pass through and are not recorded. */
    assert_status(f.rec.size(f.rec.ctx, &size), VHDX_OK);
    assert_int_equal(size, 2048);
    assert_status(f.rec.read(f.rec.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 2048);
    assert_bytes(buf, 0xAA, 1024);
    assert_bytes(buf + 1024, 0, 1024);
    /* The base saw the same. */
    assert_status(f.file.read(f.file.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 2048);
    assert_bytes(buf, 0xAA, 1024);

    assert_int_equal(io_record_count(&f.rec), 4);
    assert_op(io_record_op(&f.rec, 0), IO_OP_WRITE, 0, 1024);
    assert_bytes(io_record_op(&f.rec, 0)->data, 0xAA, 1024);
    assert_op(io_record_op(&f.rec, 1), IO_OP_FLUSH, 0, 0);
    assert_op(io_record_op(&f.rec, 2), IO_OP_WRITE, 3000, 100);
    assert_bytes(io_record_op(&f.rec, 2)->data, 0xBB, 100);
    assert_op(io_record_op(&f.rec, 3), IO_OP_TRUNCATE, 2048, 0);
    assert_null(io_record_op(&f.rec, 4));
    recfile_close(&f);
}

static void test_record_copies_write_data(void **state)
{
    struct recfile f;
    uint8_t buf[512];
    (void)state;
    recfile_open(&f, NULL, 0);
    memset(buf, 0x11, sizeof(buf));
    assert_status(f.rec.write(f.rec.ctx, buf, sizeof(buf), 512), VHDX_OK);
    memset(buf, 0x22, sizeof(buf));
    assert_ptr_not_equal(io_record_op(&f.rec, 0)->data, buf);
    assert_bytes(io_record_op(&f.rec, 0)->data, 0x11, sizeof(buf));
    recfile_close(&f);
}

static void test_record_zero_length_write_has_no_data(void **state)
{
    struct recfile f;
    uint8_t b = 0;
    (void)state;
    recfile_open(&f, NULL, 0);
    assert_status(f.rec.write(f.rec.ctx, &b, 0, 4096), VHDX_OK);
    assert_int_equal(io_record_count(&f.rec), 1);
    assert_op(io_record_op(&f.rec, 0), IO_OP_WRITE, 4096, 0);
    recfile_close(&f);
}

static void test_record_clear_forgets_ops_not_effects(void **state)
{
    struct recfile f;
    uint64_t size = 0;
    (void)state;
    recfile_open(&f, NULL, 0);
    for (int i = 0; i < 40; i++) /* past the first growth of the list */
        rec_write(&f.rec, (uint64_t)i * 512u, (uint8_t)i, 512);
    assert_int_equal(io_record_count(&f.rec), 40);
    assert_true(f.acct.in_use > 40u * 512u);
    io_record_clear(&f.rec);
    assert_int_equal(io_record_count(&f.rec), 0);
    assert_null(io_record_op(&f.rec, 0));
    assert_status(f.rec.size(f.rec.ctx, &size), VHDX_OK);
    assert_int_equal(size, 40u * 512u);
    rec_write(&f.rec, 0, 0x77, 16);
    assert_int_equal(io_record_count(&f.rec), 1);
    assert_op(io_record_op(&f.rec, 0), IO_OP_WRITE, 0, 16);
    recfile_close(&f);
}

static void test_record_refused_ops_are_not_recorded(void **state)
{
    static const uint8_t data[16];
    struct alloc_acct acct;
    vhdx_io mem, rec;
    uint8_t b = 1;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    /* A read-only base: write and truncate fail, flush is a no-op. */
    assert_status(vhdx_io_from_memory(data, sizeof(data), &mem), VHDX_OK);
    assert_status(io_record_create(&mem, &acct, &rec), VHDX_OK);
    assert_status(rec.write(rec.ctx, &b, 1, 0), VHDX_E_IO);
    assert_status(rec.truncate(rec.ctx, 0), VHDX_E_IO);
    assert_int_equal(io_record_count(&rec), 0);
    assert_status(rec.flush(rec.ctx), VHDX_OK);
    assert_int_equal(io_record_count(&rec), 1);
    assert_op(io_record_op(&rec, 0), IO_OP_FLUSH, 0, 0);
    vhdx_io_close(&rec);
    vhdx_io_close(&mem);
    assert_int_equal(acct.in_use, 0);
}

static void test_record_memory_limit_fails_before_base(void **state)
{
    struct recfile f;
    uint8_t buf[4096];
    uint64_t size = 0;
    (void)state;
    recfile_open(&f, NULL, 0);
    rec_write(&f.rec, 0, 0x55, 512);
    /* No room for a 4 KiB copy: the write fails and the base is untouched. */
    f.acct.limit = f.acct.in_use + 1024;
    memset(buf, 0x66, sizeof(buf));
    assert_status(f.rec.write(f.rec.ctx, buf, sizeof(buf), 0), VHDX_E_LIMIT);
    assert_int_equal(io_record_count(&f.rec), 1);
    assert_status(f.rec.size(f.rec.ctx, &size), VHDX_OK);
    assert_int_equal(size, 512);
    f.acct.limit = 0;
    recfile_close(&f);
}

static void test_record_rejects_bad_arguments(void **state)
{
    struct alloc_acct acct;
    vhdx_io none, out;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    memset(&none, 0, sizeof(none));
    assert_status(io_record_create(NULL, &acct, &out), VHDX_E_INVALID_ARG);
    assert_status(io_record_create(&none, &acct, &out), VHDX_E_INVALID_ARG);
    assert_int_equal(io_record_count(&none), 0);
    assert_null(io_record_op(&none, 0));
    assert_int_equal(io_record_count(NULL), 0);
    io_record_clear(&none);
    io_record_clear(NULL);
}

static void test_ops_from_record_copies_the_list(void **state)
{
    struct recfile f;
    struct io_op *ops = NULL;
    size_t n = 9;
    (void)state;
    recfile_open(&f, NULL, 0);
    assert_status(crash_ops_from_record(&f.rec, &ops, &n), VHDX_OK);
    assert_null(ops);
    assert_int_equal(n, 0);
    rec_write(&f.rec, 0, 1, 512);
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    assert_status(crash_ops_from_record(&f.rec, &ops, &n), VHDX_OK);
    assert_int_equal(n, 2);
    assert_op(&ops[0], IO_OP_WRITE, 0, 512);
    assert_ptr_equal(ops[0].data, io_record_op(&f.rec, 0)->data);
    assert_op(&ops[1], IO_OP_FLUSH, 0, 0);
    free(ops);
    recfile_close(&f);
}

/* ---- The enumerator ---- */

/* What a visitor saw: every state's bounds, and its bytes checked against the naive model. */
struct seen {
    struct {
        enum crash_kind kind;
        size_t op, torn, durable_ops, pending_end, len;
        uint8_t applied[32];
    } s[512];
    size_t count;
    size_t by_kind[CRASH_KINDS];
    const uint8_t *initial;
    size_t initial_len;
    const struct io_op *ops;
    size_t n_ops;
    int stop_at; /* stop after this many states (0: never) */
};

/* The naive model: the initial file, then each chosen operation, then a torn prefix. */
static uint8_t *model_state(const struct seen *v, const uint8_t *applied, size_t torn_op,
                            size_t torn, size_t *len)
{
    size_t cap = v->initial_len, n = v->initial_len;
    uint8_t *f;
    for (size_t i = 0; i < v->n_ops; i++) {
        uint64_t end = v->ops[i].kind == IO_OP_WRITE      ? v->ops[i].off + v->ops[i].len
                       : v->ops[i].kind == IO_OP_TRUNCATE ? v->ops[i].off
                                                          : 0;
        if (end > cap)
            cap = (size_t)end;
    }
    f = calloc(cap + 1, 1);
    assert_non_null(f);
    if (v->initial_len > 0)
        memcpy(f, v->initial, v->initial_len);
    for (size_t i = 0; i < v->n_ops; i++) {
        const struct io_op *op = &v->ops[i];
        size_t upto;
        if (i == torn_op && torn > 0) {
            memcpy(f + op->off, op->data, torn);
            if (op->off + torn > n)
                n = (size_t)op->off + torn;
            continue;
        }
        if (!applied[i])
            continue;
        if (op->kind == IO_OP_WRITE) {
            memcpy(f + op->off, op->data, (size_t)op->len);
            upto = (size_t)(op->off + op->len);
            if (upto > n)
                n = upto;
        } else if (op->kind == IO_OP_TRUNCATE) {
            if (op->off < n)
                memset(f + op->off, 0, n - (size_t)op->off);
            n = (size_t)op->off;
        }
    }
    *len = n;
    return f;
}

static int record_state(void *ctx, const struct crash_state *st)
{
    struct seen *v = ctx;
    size_t len = 0;
    uint8_t *want;
    assert_true(v->count < ARRAY_LEN(v->s));
    assert_true(v->n_ops <= sizeof(v->s[0].applied));
    assert_int_equal(st->index, v->count);
    v->s[v->count].kind = st->kind;
    v->s[v->count].op = st->op;
    v->s[v->count].torn = st->torn_bytes;
    v->s[v->count].durable_ops = st->durable_ops;
    v->s[v->count].pending_end = st->pending_end;
    v->s[v->count].len = st->len;
    memcpy(v->s[v->count].applied, st->applied, v->n_ops);
    v->count++;
    v->by_kind[st->kind]++;
    /* The flags agree with the bounds. */
    for (size_t i = 0; i < v->n_ops; i++) {
        if (i < st->durable_ops)
            assert_int_equal(st->applied[i], 1);
        if (i >= st->pending_end)
            assert_int_equal(st->applied[i], 0);
    }
    if (st->kind == CRASH_TORN || st->kind == CRASH_TORN_SUBSET)
        assert_int_equal(st->applied[st->op], 0);
    want = model_state(v, st->applied,
                       st->kind == CRASH_TORN || st->kind == CRASH_TORN_SUBSET ? st->op
                                                                              : SIZE_MAX,
                       st->torn_bytes, &len);
    assert_int_equal(st->len, len);
    assert_memory_equal(st->data, want, len);
    free(want);
    return v->stop_at > 0 && (int)v->count >= v->stop_at;
}

static void seen_init(struct seen *v, const uint8_t *initial, size_t initial_len,
                      const struct io_op *ops, size_t n_ops)
{
    memset(v, 0, sizeof(*v));
    v->initial = initial;
    v->initial_len = initial_len;
    v->ops = ops;
    v->n_ops = n_ops;
}

static struct io_op wr(uint64_t off, const uint8_t *data, uint64_t len)
{
    struct io_op op = {IO_OP_WRITE, off, len, data};
    return op;
}

static struct io_op tr(uint64_t size)
{
    struct io_op op = {IO_OP_TRUNCATE, size, 0, NULL};
    return op;
}

static struct io_op fl(void)
{
    struct io_op op = {IO_OP_FLUSH, 0, 0, NULL};
    return op;
}

static uint8_t A[1024], B[512], C[1536], D[512], E[1024], INIT[1024];

static void fill_letters(void)
{
    memset(A, 'A', sizeof(A));
    memset(B, 'B', sizeof(B));
    memset(C, 'C', sizeof(C));
    memset(D, 'D', sizeof(D));
    memset(E, 'E', sizeof(E));
    memset(INIT, 'i', sizeof(INIT));
}

static void assert_state(const struct seen *v, size_t i, enum crash_kind kind, size_t op,
                         size_t torn, size_t durable_ops, size_t pending_end)
{
    if (v->s[i].kind != kind || v->s[i].op != op || v->s[i].torn != torn ||
        v->s[i].durable_ops != durable_ops || v->s[i].pending_end != pending_end)
        fail_msg("state %zu is %s op %zu torn %zu durable %zu pending %zu; expected %s op %zu "
                 "torn %zu durable %zu pending %zu",
                 i, crash_kind_name(v->s[i].kind), v->s[i].op, v->s[i].torn,
                 v->s[i].durable_ops, v->s[i].pending_end, crash_kind_name(kind), op, torn,
                 durable_ops, pending_end);
}

/*
 * The run most tests use, 3 writes, flush, 2 writes (over INIT, 1 KiB):
 *   W0 1 KiB 'A' at 0, W1 512 B 'B' at 2048 (past the end), W2 1.5 KiB 'C' at 512,
 *   F3, W4 512 B 'D' at 0, W5 1 KiB 'E' at 4096.
 */
static void two_epoch_ops(struct io_op *ops)
{
    fill_letters();
    ops[0] = wr(0, A, sizeof(A));
    ops[1] = wr(2048, B, sizeof(B));
    ops[2] = wr(512, C, sizeof(C));
    ops[3] = fl();
    ops[4] = wr(0, D, sizeof(D));
    ops[5] = wr(4096, E, sizeof(E));
}

/*
 * 3 writes, flush, 2 writes over a 1 KiB file:
 *   W0 1 KiB 'A' at 0, W1 512 B 'B' at 2048 (past the end), W2 1.5 KiB 'C' at 512,
 *   F3, W4 512 B 'D' at 0, W5 1 KiB 'E' at 4096.
 * Prefixes: k = 0..6: 7. Torn at every 512: W0 1, W1 0, W2 2, W4 0, W5 1: 4.
 * Subsets: epoch {W0,W1,W2}: 2^3 - 4 = 4; epoch {W4,W5}: 2^2 - 3 = 1. In all 16.
 */
static void test_sim_counts_and_bounds_of_two_epochs(void **state)
{
    struct io_op ops[6];
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    two_epoch_ops(ops);
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 16);
    assert_int_equal(crash_sim_count(ops, 6, NULL), 16);
    assert_int_equal(v->count, 16);
    assert_int_equal(v->by_kind[CRASH_PREFIX], 7);
    assert_int_equal(v->by_kind[CRASH_TORN], 4);
    assert_int_equal(v->by_kind[CRASH_SUBSET], 5);

    /* The order, the kinds and the bounds, state by state. */
    assert_state(v, 0, CRASH_PREFIX, 0, 0, 0, 0);
    assert_state(v, 1, CRASH_TORN, 0, 512, 0, 1);
    assert_state(v, 2, CRASH_PREFIX, 1, 0, 0, 1);
    assert_state(v, 3, CRASH_PREFIX, 2, 0, 0, 2);
    assert_state(v, 4, CRASH_TORN, 2, 512, 0, 3);
    assert_state(v, 5, CRASH_TORN, 2, 1024, 0, 3);
    assert_state(v, 6, CRASH_PREFIX, 3, 0, 0, 3);
    assert_state(v, 7, CRASH_PREFIX, 4, 0, 4, 4);
    assert_state(v, 8, CRASH_PREFIX, 5, 0, 4, 5);
    assert_state(v, 9, CRASH_TORN, 5, 512, 4, 6);
    assert_state(v, 10, CRASH_PREFIX, 6, 0, 4, 6);
    /* Epoch 1's subsets in mask order: {W1}, {W0,W2}... the non-prefix masks 2, 4, 5, 6. */
    assert_state(v, 11, CRASH_SUBSET, 0, 0, 0, 2);
    assert_state(v, 12, CRASH_SUBSET, 0, 0, 0, 3);
    assert_state(v, 13, CRASH_SUBSET, 0, 0, 0, 3);
    assert_state(v, 14, CRASH_SUBSET, 0, 0, 0, 3);
    assert_state(v, 15, CRASH_SUBSET, 4, 0, 4, 6);
    {
        static const uint8_t masks[5][6] = {
            {0, 1, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}, {1, 0, 1, 0, 0, 0},
            {0, 1, 1, 0, 0, 0}, {1, 1, 1, 1, 0, 1},
        };
        for (size_t i = 0; i < 5; i++)
            assert_memory_equal(v->s[11 + i].applied, masks[i], 6);
    }
    free(v);
}

/*
 * TORN_SUBSET, every subset: W0 (1 tear point, at 512) with the subsets of
 * {W1, W2} but the empty one (a TORN state): 3; W2 (2 tear points, 512 and
 * 1024) with those of {W0, W1} but {W0, W1}: 2 x 3; W1 and W4 have no
 * tear point; W5 (at 512) with {} (not {W4}): 1. 16 + 10 = 26 states; each
 * state's bytes are checked against the naive model by record_state.
 */
static void test_sim_torn_with_subsets_of_its_epoch(void **state)
{
    struct io_op ops[6];
    struct crash_sim_options o = crash_sim_defaults();
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0, exhaustive = 9, sampled = 9;
    size_t largest = 99;
    (void)state;
    assert_non_null(v);
    two_epoch_ops(ops);
    o.torn_subset_points = 3;
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, &o, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 26);
    assert_int_equal(crash_sim_count(ops, 6, &o), 26);
    assert_int_equal(v->by_kind[CRASH_PREFIX], 7);
    assert_int_equal(v->by_kind[CRASH_TORN], 4);
    assert_int_equal(v->by_kind[CRASH_SUBSET], 5);
    assert_int_equal(v->by_kind[CRASH_TORN_SUBSET], 10);
    crash_sim_epochs(ops, 6, &o, &exhaustive, &sampled, &largest);
    assert_int_equal(exhaustive, 2);
    assert_int_equal(sampled, 0);
    assert_int_equal(largest, 3);
    /* Epoch 1: its subsets (11-14), then the torn writes with subsets. */
    assert_state(v, 14, CRASH_SUBSET, 0, 0, 0, 3);
    assert_state(v, 15, CRASH_TORN_SUBSET, 0, 512, 0, 2);
    assert_state(v, 16, CRASH_TORN_SUBSET, 0, 512, 0, 3);
    assert_state(v, 17, CRASH_TORN_SUBSET, 0, 512, 0, 3);
    assert_state(v, 18, CRASH_TORN_SUBSET, 2, 512, 0, 3);
    assert_state(v, 19, CRASH_TORN_SUBSET, 2, 512, 0, 3);
    assert_state(v, 20, CRASH_TORN_SUBSET, 2, 512, 0, 3);
    assert_state(v, 21, CRASH_TORN_SUBSET, 2, 1024, 0, 3);
    assert_state(v, 22, CRASH_TORN_SUBSET, 2, 1024, 0, 3);
    assert_state(v, 23, CRASH_TORN_SUBSET, 2, 1024, 0, 3);
    /* Epoch 2. */
    assert_state(v, 24, CRASH_SUBSET, 4, 0, 4, 6);
    assert_state(v, 25, CRASH_TORN_SUBSET, 5, 512, 4, 6);
    {
        static const uint8_t masks[11][6] = {
            {0, 1, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}, {0, 1, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0},
            {1, 0, 0, 0, 0, 0}, {0, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0},
            {0, 1, 0, 0, 0, 0}, {1, 1, 1, 1, 0, 1}, {1, 1, 1, 1, 0, 0},
        };
        for (size_t i = 0; i < 11; i++)
            assert_memory_equal(v->s[15 + i].applied, masks[i], 6);
    }
    free(v);
}

/*
 * TORN_SUBSET drawn: with torn_subset_exhaustive 1, epoch 1 (two other
 * operations per write) gets torn_subset_random draws per tear point, none
 * of them the TORN state's subset; epoch 2 (one other) stays exhaustive.
 */
static void test_sim_torn_subsets_drawn(void **state)
{
    struct io_op ops[6];
    struct crash_sim_options o = crash_sim_defaults();
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    two_epoch_ops(ops);
    o.torn_subset_points = 3;
    o.torn_subset_exhaustive = 1;
    o.torn_subset_random = 5;
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, &o, record_state, v, &visited),
                  VHDX_OK);
    /* 16 + W0: 1 x 5, W2: 2 x 5, W5: 1. */
    assert_int_equal(visited, 32);
    assert_int_equal(crash_sim_count(ops, 6, &o), 32);
    assert_int_equal(v->by_kind[CRASH_TORN_SUBSET], 16);
    for (size_t i = 0; i < v->count; i++) {
        if (v->s[i].kind != CRASH_TORN_SUBSET)
            continue;
        if (v->s[i].op == 0)
            assert_false(v->s[i].applied[1] == 0 && v->s[i].applied[2] == 0);
        if (v->s[i].op == 2)
            assert_false(v->s[i].applied[0] == 1 && v->s[i].applied[1] == 1);
    }
    o.torn_subset_exhaustive = 33;
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, &o, record_state, v, &visited),
                  VHDX_E_INVALID_ARG);
    free(v);
}

/* The same run, the bytes of a few states spelled out by hand. */
struct pick {
    size_t index;
    uint8_t *copy;
    size_t len;
};

static int pick_state(void *ctx, const struct crash_state *st)
{
    struct pick *p = ctx;
    if (st->index == p->index) {
        p->copy = malloc(st->len + 1);
        assert_non_null(p->copy);
        memcpy(p->copy, st->data, st->len);
        p->len = st->len;
        return 1;
    }
    return 0;
}

static uint8_t *state_bytes(const struct io_op *ops, size_t n, size_t index, size_t *len)
{
    struct pick p = {index, NULL, 0};
    uint64_t visited = 0;
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, n, NULL, pick_state, &p, &visited),
                  VHDX_OK);
    assert_int_equal(visited, index + 1);
    assert_non_null(p.copy);
    *len = p.len;
    return p.copy;
}

static void test_sim_state_bytes_by_hand(void **state)
{
    struct io_op ops[6];
    uint8_t *f;
    size_t len = 0;
    (void)state;
    two_epoch_ops(ops);

    /* State 0: the initial file. */
    f = state_bytes(ops, 6, 0, &len);
    assert_int_equal(len, 1024);
    assert_bytes(f, 'i', 1024);
    free(f);
    /* State 1: W0 torn after 512 bytes. */
    f = state_bytes(ops, 6, 1, &len);
    assert_int_equal(len, 1024);
    assert_bytes(f, 'A', 512);
    assert_bytes(f + 512, 'i', 512);
    free(f);
    /* State 5: W0, W1, then W2 torn after 1 KiB: A to 512, C to 1536, zeros, B. */
    f = state_bytes(ops, 6, 5, &len);
    assert_int_equal(len, 2560);
    assert_bytes(f, 'A', 512);
    assert_bytes(f + 512, 'C', 1024);
    assert_bytes(f + 1536, 0, 512);
    assert_bytes(f + 2048, 'B', 512);
    free(f);
    /* State 11: W1 alone on the initial file: the gap reads zeros. */
    f = state_bytes(ops, 6, 11, &len);
    assert_int_equal(len, 2560);
    assert_bytes(f, 'i', 1024);
    assert_bytes(f + 1024, 0, 1024);
    assert_bytes(f + 2048, 'B', 512);
    free(f);
    /* State 12: W2 alone: it extends the file to 2 KiB. */
    f = state_bytes(ops, 6, 12, &len);
    assert_int_equal(len, 2048);
    assert_bytes(f, 'i', 512);
    assert_bytes(f + 512, 'C', 1536);
    free(f);
    /* State 15: the durable epoch, then W5 without W4: a hole up to 4 KiB. */
    f = state_bytes(ops, 6, 15, &len);
    assert_int_equal(len, 5120);
    assert_bytes(f, 'A', 512);
    assert_bytes(f + 512, 'C', 1536);
    assert_bytes(f + 2048, 'B', 512);
    assert_bytes(f + 2560, 0, 1536);
    assert_bytes(f + 4096, 'E', 1024);
    free(f);
    /* State 10: the whole run. */
    f = state_bytes(ops, 6, 10, &len);
    assert_int_equal(len, 5120);
    assert_bytes(f, 'D', 512);
    assert_bytes(f + 512, 'C', 1536);
    free(f);
}

/*
 * Truncates: shrinking drops bytes (growing again reads zeros), growing
 * exposes zeros. W0 'A' 1 KiB at 0; T1 to 256; W2 'B' 512 at 2048; T3 to 8192.
 * One epoch of 4: 2^4 - 5 = 11 subsets. Prefixes 5, torn W0 1 = 17.
 */
static void test_sim_truncates_shrink_and_grow(void **state)
{
    struct io_op ops[4];
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    fill_letters();
    ops[0] = wr(0, A, sizeof(A));
    ops[1] = tr(256);
    ops[2] = wr(2048, B, sizeof(B));
    ops[3] = tr(8192);
    seen_init(v, INIT, sizeof(INIT), ops, 4);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 4, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 17);
    assert_int_equal(crash_sim_count(ops, 4, NULL), 17);
    assert_int_equal(v->by_kind[CRASH_PREFIX], 5);
    assert_int_equal(v->by_kind[CRASH_TORN], 1);
    assert_int_equal(v->by_kind[CRASH_SUBSET], 11);
    /* The full run: A to 256, zeros, B at 2048, zeros to 8 KiB. */
    assert_int_equal(v->s[5].kind, CRASH_PREFIX);
    assert_int_equal(v->s[5].op, 4);
    assert_int_equal(v->s[5].len, 8192);
    {
        size_t len = 0;
        uint8_t *f = state_bytes(ops, 4, 5, &len);
        assert_int_equal(len, 8192);
        assert_bytes(f, 'A', 256);
        assert_bytes(f + 256, 0, 2048 - 256);
        assert_bytes(f + 2048, 'B', 512);
        assert_bytes(f + 2560, 0, 8192 - 2560);
        free(f);
        /* Subset {T1} (mask 2, state 6): the initial file cut to 256 bytes. */
        f = state_bytes(ops, 4, 6, &len);
        assert_int_equal(len, 256);
        assert_bytes(f, 'i', 256);
        free(f);
        /* Subset {T1, W2} (mask 6, state 9): 'i' to 256, zeros (not 'i') to 2048, B. */
        f = state_bytes(ops, 4, 9, &len);
        assert_int_equal(len, 2560);
        assert_bytes(f, 'i', 256);
        assert_bytes(f + 256, 0, 2048 - 256);
        assert_bytes(f + 2048, 'B', 512);
        free(f);
    }
    free(v);
}

/* Flushes at both ends and back to back: empty epochs add no subsets. */
static void test_sim_empty_epochs(void **state)
{
    struct io_op ops[6];
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    fill_letters();
    ops[0] = fl();
    ops[1] = wr(0, D, sizeof(D));
    ops[2] = fl();
    ops[3] = fl();
    ops[4] = wr(512, D, sizeof(D));
    ops[5] = fl();
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 7);
    assert_int_equal(crash_sim_count(ops, 6, NULL), 7);
    assert_int_equal(v->by_kind[CRASH_PREFIX], 7);
    assert_state(v, 6, CRASH_PREFIX, 6, 0, 6, 6);
    assert_state(v, 3, CRASH_PREFIX, 3, 0, 3, 3);
    free(v);
}

static void test_sim_no_ops_is_one_state(void **state)
{
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    fill_letters();
    seen_init(v, INIT, sizeof(INIT), NULL, 0);
    assert_status(crash_sim_run(INIT, sizeof(INIT), NULL, 0, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 1);
    assert_int_equal(crash_sim_count(NULL, 0, NULL), 1);
    assert_state(v, 0, CRASH_PREFIX, 0, 0, 0, 0);
    assert_int_equal(v->s[0].len, 1024);
    /* And from an empty file. */
    seen_init(v, NULL, 0, NULL, 0);
    assert_status(crash_sim_run(NULL, 0, NULL, 0, NULL, record_state, v, &visited), VHDX_OK);
    assert_int_equal(visited, 1);
    assert_int_equal(v->s[0].len, 0);
    free(v);
}

/* Torn granules: 4 KiB write, granule 1024 gives 3 torn states; 0 gives none. */
static void test_sim_torn_granule(void **state)
{
    static uint8_t big[4096];
    struct io_op ops[1];
    struct seen *v = malloc(sizeof(*v));
    struct crash_sim_options o = crash_sim_defaults();
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    memset(big, 'Z', sizeof(big));
    ops[0] = wr(100, big, sizeof(big)); /* unaligned: torn points are relative to the write */
    seen_init(v, NULL, 0, ops, 1);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, record_state, v, &visited), VHDX_OK);
    assert_int_equal(visited, 2 + 7);
    assert_state(v, 7, CRASH_TORN, 0, 3584, 0, 1);
    assert_int_equal(v->s[7].len, 100 + 3584);
    o.torn_granule = 1024;
    seen_init(v, NULL, 0, ops, 1);
    assert_status(crash_sim_run(NULL, 0, ops, 1, &o, record_state, v, &visited), VHDX_OK);
    assert_int_equal(visited, 2 + 3);
    assert_int_equal(crash_sim_count(ops, 1, &o), 2 + 3);
    o.torn_granule = 0;
    seen_init(v, NULL, 0, ops, 1);
    assert_status(crash_sim_run(NULL, 0, ops, 1, &o, record_state, v, &visited), VHDX_OK);
    assert_int_equal(visited, 2);
    free(v);
}

/* 12 writes in an epoch: every subset, 2^12 - 13 of them. */
static int count_kinds(void *ctx, const struct crash_state *st)
{
    uint64_t *by_kind = ctx;
    by_kind[st->kind]++;
    return 0;
}

static void test_sim_twelve_writes_are_exhaustive(void **state)
{
    struct io_op ops[12];
    uint64_t by_kind[3] = {0, 0, 0}, visited = 0;
    (void)state;
    fill_letters();
    for (size_t i = 0; i < 12; i++)
        ops[i] = wr(i * 512u, B, sizeof(B));
    assert_status(crash_sim_run(NULL, 0, ops, 12, NULL, count_kinds, by_kind, &visited), VHDX_OK);
    assert_int_equal(by_kind[CRASH_PREFIX], 13);
    assert_int_equal(by_kind[CRASH_TORN], 0);
    assert_int_equal(by_kind[CRASH_SUBSET], 4096 - 13);
    assert_int_equal(visited, 4096);
    assert_int_equal(crash_sim_count(ops, 12, NULL), 4096);
}

/*
 * 14 writes (more than 12): exactly random_subsets subsets, none of them a
 * prefix, the same for the same seed and different for another.
 */
struct draws {
    uint8_t masks[300][14];
    size_t count;
};

static int keep_subsets(void *ctx, const struct crash_state *st)
{
    struct draws *d = ctx;
    if (st->kind != CRASH_SUBSET)
        return 0;
    assert_true(d->count < ARRAY_LEN(d->masks));
    assert_int_equal(st->durable_ops, 0);
    memcpy(d->masks[d->count++], st->applied, 14);
    return 0;
}

static bool is_epoch_prefix(const uint8_t *m, size_t n)
{
    size_t j = 0;
    while (j < n && m[j])
        j++;
    while (j < n && !m[j])
        j++;
    return j == n;
}

static void test_sim_large_epoch_draws_seeded_subsets(void **state)
{
    struct io_op ops[14];
    struct crash_sim_options o = crash_sim_defaults();
    struct draws *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
                 *c = calloc(1, sizeof(*c));
    uint64_t visited = 0;
    (void)state;
    assert_true(a != NULL && b != NULL && c != NULL);
    fill_letters();
    for (size_t i = 0; i < 14; i++)
        ops[i] = wr(i * 512u, D, sizeof(D));
    o.random_subsets = 250;
    o.seed = 42;
    assert_status(crash_sim_run(NULL, 0, ops, 14, &o, keep_subsets, a, &visited), VHDX_OK);
    assert_int_equal(visited, 15 + 250);
    assert_int_equal(crash_sim_count(ops, 14, &o), 15 + 250);
    assert_int_equal(a->count, 250);
    for (size_t i = 0; i < a->count; i++)
        assert_false(is_epoch_prefix(a->masks[i], 14));
    assert_status(crash_sim_run(NULL, 0, ops, 14, &o, keep_subsets, b, &visited), VHDX_OK);
    assert_memory_equal(a->masks, b->masks, sizeof(a->masks));
    o.seed = 43;
    assert_status(crash_sim_run(NULL, 0, ops, 14, &o, keep_subsets, c, &visited), VHDX_OK);
    assert_int_equal(c->count, 250);
    assert_memory_not_equal(a->masks, c->masks, 250u * 14u);
    free(a);
    free(b);
    free(c);
}

/* The bytes of random subsets are right too (the undo of each subset restores the base). */
static void test_sim_random_subset_bytes(void **state)
{
    static uint8_t data[16][600];
    struct io_op ops[17];
    struct crash_sim_options o = crash_sim_defaults();
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    fill_letters();
    /* Overlapping unaligned writes and truncates, 16 of them after one flush. */
    ops[0] = fl();
    for (size_t i = 0; i < 16; i++) {
        memset(data[i], (int)('a' + i), sizeof(data[i]));
        ops[1 + i] = i % 5 == 4 ? tr(300u * i) : wr(i * 300u, data[i], sizeof(data[i]));
    }
    o.random_subsets = 100;
    seen_init(v, INIT, sizeof(INIT), ops, 17);
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 17, &o, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(v->by_kind[CRASH_PREFIX], 18);
    assert_int_equal(v->by_kind[CRASH_TORN], 13); /* 13 writes of 600 bytes: 1 each */
    assert_int_equal(v->by_kind[CRASH_SUBSET], 100);
    assert_int_equal(visited, 131);
    assert_int_equal(crash_sim_count(ops, 17, &o), 131);
    free(v);
}

static void test_sim_callback_stops_the_run(void **state)
{
    struct io_op ops[6];
    struct seen *v = malloc(sizeof(*v));
    uint64_t visited = 0;
    (void)state;
    assert_non_null(v);
    two_epoch_ops(ops);
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    v->stop_at = 3;
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 3);
    /* Stopping inside the subsets. */
    seen_init(v, INIT, sizeof(INIT), ops, 6);
    v->stop_at = 13;
    assert_status(crash_sim_run(INIT, sizeof(INIT), ops, 6, NULL, record_state, v, &visited),
                  VHDX_OK);
    assert_int_equal(visited, 13);
    free(v);
}

static int never_called(void *ctx, const struct crash_state *st)
{
    (void)ctx;
    (void)st;
    fail_msg("no state may be visited");
    return 1;
}

static void test_sim_rejects_bad_input(void **state)
{
    struct io_op ops[1];
    struct crash_sim_options o = crash_sim_defaults();
    uint64_t visited = 7;
    (void)state;
    ops[0] = wr(0, NULL, 16);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, never_called, NULL, &visited),
                  VHDX_E_INVALID_ARG);
    assert_int_equal(visited, 0);
    ops[0] = wr(UINT64_MAX - 4, A, 16);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, never_called, NULL, &visited),
                  VHDX_E_OVERFLOW);
    ops[0] = tr(UINT64_MAX);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, never_called, NULL, &visited),
                  VHDX_E_LIMIT);
    ops[0] = wr(CRASH_SIM_MAX_FILE, A, 1);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, never_called, NULL, &visited),
                  VHDX_E_LIMIT);
    ops[0] = fl();
    o.max_exhaustive = 33;
    assert_status(crash_sim_run(NULL, 0, ops, 1, &o, never_called, NULL, &visited),
                  VHDX_E_INVALID_ARG);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, NULL, NULL, &visited),
                  VHDX_E_INVALID_ARG);
    assert_status(crash_sim_run(NULL, 0, ops, 1, NULL, never_called, NULL, NULL),
                  VHDX_E_INVALID_ARG);
    assert_status(crash_sim_run(NULL, 4, ops, 1, NULL, never_called, NULL, &visited),
                  VHDX_E_INVALID_ARG);
}

/* ---- Workloads ---- */

static struct crash_state at(size_t durable_ops, size_t pending_end)
{
    struct crash_state s;
    memset(&s, 0, sizeof(s));
    s.durable_ops = durable_ops;
    s.pending_end = pending_end;
    return s;
}

static void assert_span(const struct crash_workload *w, size_t durable_ops, size_t pending_end,
                        enum crash_durability rule, size_t durable, size_t started)
{
    struct crash_state s = at(durable_ops, pending_end);
    struct crash_span span = crash_workload_span(w, &s, rule);
    if (span.durable != durable || span.started != started)
        fail_msg("ops [%zu, %zu) rule %d: span [%zu, %zu), expected [%zu, %zu)", durable_ops,
                 pending_end, (int)rule, span.durable, span.started, durable, started);
}

/*
 * Steps and their ops:
 *   0 write   ops 0-1 (W, W)
 *   1 write   no op (buffered)
 *   2 flush   ops 2-5 (W, F, W, W)  -- ends with unflushed writes
 *   3 write   op 6 (W)
 *   4 flush   ops 7-8 (W, F)
 *   5 flush   no op
 */
static void test_workload_spans(void **state)
{
    struct recfile f;
    struct crash_workload w;
    (void)state;
    recfile_open(&f, NULL, 0);
    crash_workload_init(&w, &f.rec);
    assert_true(crash_workload_begin(&w, "write 0", false));
    assert_false(crash_workload_begin(&w, "nested", false));
    rec_write(&f.rec, 0, 1, 512);
    rec_write(&f.rec, 512, 1, 512);
    assert_true(crash_workload_end(&w));
    assert_false(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "write 1", false));
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "flush 2", true));
    rec_write(&f.rec, 1024, 2, 512);
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    rec_write(&f.rec, 0, 2, 512);
    rec_write(&f.rec, 512, 2, 512);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "write 3", false));
    rec_write(&f.rec, 4096, 3, 512);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "flush 4", true));
    rec_write(&f.rec, 0, 4, 512);
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "flush 5", true));
    assert_true(crash_workload_end(&w));
    assert_int_equal(w.count, 6);
    assert_int_equal(w.steps[1].op_begin, 2);
    assert_int_equal(w.steps[1].op_end, 2);
    assert_int_equal(w.steps[2].op_end, 6);
    assert_int_equal(w.steps[5].op_begin, 9);

    /* Nothing applied: nothing started. */
    assert_span(&w, 0, 0, CRASH_DURABLE_RETURNED, 0, 0);
    /* Op 0 in: step 0 in flight. */
    assert_span(&w, 0, 1, CRASH_DURABLE_RETURNED, 0, 1);
    /* Op 2 (step 2's first) in: steps 0-2 in flight (step 1 issued nothing). */
    assert_span(&w, 0, 3, CRASH_DURABLE_SYNCED, 0, 3);
    /* Up to the flush inside step 2: still not returned, not all synced. */
    assert_span(&w, 4, 6, CRASH_DURABLE_SYNCED, 0, 3);
    assert_span(&w, 4, 6, CRASH_DURABLE_RETURNED, 0, 3);
    /* Op 6 of step 3 in: step 2 returned (RETURNED) but its ops 4-5 are not synced. */
    assert_span(&w, 4, 7, CRASH_DURABLE_SYNCED, 0, 4);
    assert_span(&w, 4, 7, CRASH_DURABLE_RETURNED, 3, 4);
    /* Step 4's flush is op 8: with it synced, steps 0-4 are durable, and the empty flush 5 too. */
    assert_span(&w, 9, 9, CRASH_DURABLE_SYNCED, 6, 6);
    assert_span(&w, 9, 9, CRASH_DURABLE_RETURNED, 6, 6);
    /* Op 7 in but not op 8. */
    assert_span(&w, 4, 8, CRASH_DURABLE_SYNCED, 0, 5);
    assert_span(&w, 4, 8, CRASH_DURABLE_RETURNED, 3, 5);
    recfile_close(&f);
}

static void test_workload_is_bounded(void **state)
{
    struct crash_workload *w = malloc(sizeof(*w));
    (void)state;
    assert_non_null(w);
    crash_workload_init(w, NULL);
    for (size_t i = 0; i < CRASH_MAX_STEPS; i++) {
        assert_true(crash_workload_begin(w, "step", false));
        assert_true(crash_workload_end(w));
    }
    assert_false(crash_workload_begin(w, "one too many", false));
    assert_int_equal(w->count, CRASH_MAX_STEPS);
    free(w);
}

/* End to end: a recorded run, enumerated, and the workload judged on each state. */
struct judge_ctx {
    const struct crash_workload *w;
    size_t durable_seen[8];
};

static int judge(void *ctx, const struct crash_state *st)
{
    struct judge_ctx *j = ctx;
    struct crash_span span = crash_workload_span(j->w, st, CRASH_DURABLE_RETURNED);
    assert_true(span.durable <= span.started);
    assert_true(span.started <= j->w->count);
    j->durable_seen[span.durable]++;
    /* A durable step's bytes are in the file: step 0 wrote 'A' at 0, step 2 'D' at 0. */
    if (span.durable >= 4)
        assert_int_equal(st->data[0], 'D');
    else if (span.durable >= 2 && span.started <= 2)
        assert_int_equal(st->data[0], 'A');
    else if (span.durable >= 2)
        assert_true(st->data[0] == 'A' || st->data[0] == 'D');
    return 0;
}

static void test_recorded_run_judged(void **state)
{
    struct recfile f;
    struct crash_workload w;
    struct judge_ctx j;
    struct io_op *ops = NULL;
    size_t n = 0;
    uint64_t visited = 0;
    (void)state;
    fill_letters();
    recfile_open(&f, NULL, 0);
    crash_workload_init(&w, &f.rec);
    assert_true(crash_workload_begin(&w, "write A", false));
    rec_write(&f.rec, 0, 'A', 1024);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "flush", true));
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "write D", false));
    rec_write(&f.rec, 0, 'D', 512);
    assert_true(crash_workload_end(&w));
    assert_true(crash_workload_begin(&w, "flush", true));
    assert_status(f.rec.flush(f.rec.ctx), VHDX_OK);
    assert_true(crash_workload_end(&w));
    assert_status(crash_ops_from_record(&f.rec, &ops, &n), VHDX_OK);
    assert_int_equal(n, 4);
    memset(&j, 0, sizeof(j));
    j.w = &w;
    assert_status(crash_sim_run(NULL, 0, ops, n, NULL, judge, &j, &visited), VHDX_OK);
    /* Prefixes 0..4 and one torn state of the 1 KiB write. */
    assert_int_equal(visited, 6);
    /* Durable steps: 0 (k=0, torn, k=1), 2 (k=2, k=3), 4 (k=4). */
    assert_int_equal(j.durable_seen[0], 3);
    assert_int_equal(j.durable_seen[2], 2);
    assert_int_equal(j.durable_seen[4], 1);
    free(ops);
    recfile_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_passes_through_and_records_mutations),
        cmocka_unit_test(test_record_copies_write_data),
        cmocka_unit_test(test_record_zero_length_write_has_no_data),
        cmocka_unit_test(test_record_clear_forgets_ops_not_effects),
        cmocka_unit_test(test_record_refused_ops_are_not_recorded),
        cmocka_unit_test(test_record_memory_limit_fails_before_base),
        cmocka_unit_test(test_record_rejects_bad_arguments),
        cmocka_unit_test(test_ops_from_record_copies_the_list),
        cmocka_unit_test(test_sim_counts_and_bounds_of_two_epochs),
        cmocka_unit_test(test_sim_torn_with_subsets_of_its_epoch),
        cmocka_unit_test(test_sim_torn_subsets_drawn),
        cmocka_unit_test(test_sim_state_bytes_by_hand),
        cmocka_unit_test(test_sim_truncates_shrink_and_grow),
        cmocka_unit_test(test_sim_empty_epochs),
        cmocka_unit_test(test_sim_no_ops_is_one_state),
        cmocka_unit_test(test_sim_torn_granule),
        cmocka_unit_test(test_sim_twelve_writes_are_exhaustive),
        cmocka_unit_test(test_sim_large_epoch_draws_seeded_subsets),
        cmocka_unit_test(test_sim_random_subset_bytes),
        cmocka_unit_test(test_sim_callback_stops_the_run),
        cmocka_unit_test(test_sim_rejects_bad_input),
        cmocka_unit_test(test_workload_spans),
        cmocka_unit_test(test_workload_is_bounded),
        cmocka_unit_test(test_recorded_run_judged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
