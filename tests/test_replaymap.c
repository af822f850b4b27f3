/*
 * The replay view (src/io/replaymap.c): ranges added in replay order read
 * exactly as writing them in that order over the base would leave the file,
 * compared with a byte-array model over random overlapping ranges; the
 * argument checks, the memory accounting and the reads at the edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "io/replaymap.h"
#include "test_util.h"
#include "vhdx.h"

#define SEC 4096u
#define BASE_LEN (1u << 20)
#define VIEW_LEN (2u << 20)

static uint8_t base_bytes[BASE_LEN];

/* The model: the base, zeros past it, then every range written in order. */
struct model {
    uint8_t bytes[VIEW_LEN];
};

static void model_apply(struct model *m, uint64_t start, uint64_t length, uint64_t source,
                        uint64_t leading, uint32_t trailing)
{
    if (source == IO_REPLAY_ZERO) {
        memset(m->bytes + start, 0, (size_t)length);
        return;
    }
    memcpy(m->bytes + start, base_bytes + source, SEC);
    le64_store_no_bounds_check(m->bytes + start, leading);
    le32_store_no_bounds_check(m->bytes + start + SEC - 4, trailing);
}

static void check_reads(const vhdx_io *view, const struct model *m, struct test_rng *rng)
{
    static uint8_t got[VIEW_LEN];
    size_t n = 0;
    /* The whole view at once, then pieces at any byte. */
    assert_status(view->read(view->ctx, got, VIEW_LEN, 0, &n), VHDX_OK);
    assert_int_equal(n, VIEW_LEN);
    assert_memory_equal(got, m->bytes, VIEW_LEN);
    for (int i = 0; i < 200; i++) {
        uint64_t off = test_rng_next(rng) % VIEW_LEN;
        size_t len = (size_t)(test_rng_next(rng) % (3 * SEC)) + 1;
        size_t want = off + len > VIEW_LEN ? (size_t)(VIEW_LEN - off) : len;
        assert_status(view->read(view->ctx, got, len, off, &n), VHDX_OK);
        assert_int_equal(n, want);
        assert_memory_equal(got, m->bytes + off, want);
    }
}

/* Random ranges, overlapping at will; `data_runs` adds runs of adjacent sectors. */
static void random_round(uint64_t seed, size_t count)
{
    static struct model m;
    struct test_rng rng;
    struct alloc_acct acct;
    struct io_replaymap_builder b;
    vhdx_io base, view;

    test_rng_seed(&rng, seed);
    memcpy(m.bytes, base_bytes, BASE_LEN);
    memset(m.bytes + BASE_LEN, 0, VIEW_LEN - BASE_LEN);
    alloc_acct_init(&acct, NULL, 0);
    assert_status(vhdx_io_from_memory(base_bytes, BASE_LEN, &base), VHDX_OK);
    assert_status(io_replaymap_builder_init(&b, &acct, count), VHDX_OK);
    for (size_t i = 0; i < count; i++) {
        uint64_t r = test_rng_next(&rng);
        uint64_t start = (test_rng_next(&rng) % (VIEW_LEN / SEC)) * SEC;
        if (r % 3 == 0) {
            uint64_t pages = test_rng_next(&rng) % 24;
            uint64_t length = pages * SEC;
            if (start + length > VIEW_LEN)
                length = VIEW_LEN - start;
            assert_status(io_replaymap_add(&b, start, length, IO_REPLAY_ZERO, 0, 0), VHDX_OK);
            model_apply(&m, start, length, IO_REPLAY_ZERO, 0, 0);
        } else {
            uint64_t source = (test_rng_next(&rng) % (BASE_LEN / SEC)) * SEC;
            uint64_t leading = test_rng_next(&rng);
            uint32_t trailing = (uint32_t)test_rng_next(&rng);
            if (r % 3 == 1 && i > 0 && start + SEC < VIEW_LEN && source + SEC < BASE_LEN) {
                /* The sector after the last one, from the next log sector: a run. */
                const struct io_replay_extent *prev = &b.ext[b.count - 1];
                if (prev->source != IO_REPLAY_ZERO && prev->start + SEC < VIEW_LEN &&
                    prev->source + SEC < BASE_LEN) {
                    start = prev->start + SEC;
                    source = prev->source + SEC;
                }
            }
            assert_status(io_replaymap_add(&b, start, SEC, source, leading, trailing), VHDX_OK);
            model_apply(&m, start, SEC, source, leading, trailing);
        }
    }
    assert_status(io_replaymap_create(&b, &base, VIEW_LEN, &view), VHDX_OK);
    /* The resolved ranges are sorted and disjoint. */
    for (size_t i = 0; i + 1 < io_replaymap_extents(&view); i++) {
        const struct io_replay_extent *e = io_replaymap_extent(&view, i);
        assert_true(e->length > 0);
        assert_true(e->start + e->length <= io_replaymap_extent(&view, i + 1)->start);
    }
    check_reads(&view, &m, &rng);
    vhdx_io_close(&view);
    vhdx_io_close(&base);
    assert_int_equal(acct.in_use, 0);
}

static void test_random_ranges_read_as_written_in_order(void **state)
{
    static const size_t counts[] = {1, 2, 3, 7, 40, 300, 2000};
    (void)state;
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++)
        for (uint64_t seed = 1; seed <= 12; seed++)
            random_round(seed * 7919 + c, counts[c]);
}

/* Later ranges win: a zero range over data, then data inside it: three pieces. */
static void test_later_ranges_override_and_split(void **state)
{
    struct alloc_acct acct;
    struct io_replaymap_builder b;
    vhdx_io base, view;
    const struct io_replay_extent *e;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    assert_status(vhdx_io_from_memory(base_bytes, BASE_LEN, &base), VHDX_OK);
    assert_status(io_replaymap_builder_init(&b, &acct, 3), VHDX_OK);
    assert_status(io_replaymap_add(&b, 8 * SEC, SEC, 0, 1, 2), VHDX_OK);
    assert_status(io_replaymap_add(&b, 4 * SEC, 8 * SEC, IO_REPLAY_ZERO, 0, 0), VHDX_OK);
    assert_status(io_replaymap_add(&b, 6 * SEC, SEC, 3 * SEC, 5, 6), VHDX_OK);
    assert_status(io_replaymap_create(&b, &base, VIEW_LEN, &view), VHDX_OK);
    assert_int_equal(io_replaymap_extents(&view), 3);
    e = io_replaymap_extent(&view, 0);
    assert_int_equal(e->start, 4 * SEC);
    assert_int_equal(e->length, 2 * SEC);
    assert_int_equal(e->source, IO_REPLAY_ZERO);
    e = io_replaymap_extent(&view, 1);
    assert_int_equal(e->start, 6 * SEC);
    assert_int_equal(e->source, 3 * SEC);
    assert_int_equal(e->leading, 5);
    e = io_replaymap_extent(&view, 2);
    assert_int_equal(e->start, 7 * SEC);
    assert_int_equal(e->length, 5 * SEC); /* the data at 8 was zeroed over: hidden */
    assert_int_equal(e->source, IO_REPLAY_ZERO);
    assert_null(io_replaymap_extent(&view, 3));
    vhdx_io_close(&view);
    vhdx_io_close(&base);
    assert_int_equal(acct.in_use, 0);
}

/* A terabyte of zeros is one record; a read anywhere in it is zeros. */
static void test_huge_zero_range_is_one_record(void **state)
{
    struct alloc_acct acct;
    struct io_replaymap_builder b;
    vhdx_io base, view;
    uint8_t buf[3 * SEC], zeros[3 * SEC];
    uint64_t size = 0;
    size_t n = 0;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    memset(zeros, 0, sizeof(zeros));
    assert_status(vhdx_io_from_memory(base_bytes, BASE_LEN, &base), VHDX_OK);
    assert_status(io_replaymap_builder_init(&b, &acct, 1), VHDX_OK);
    assert_status(io_replaymap_add(&b, SEC, 1ull << 40, IO_REPLAY_ZERO, 0, 0), VHDX_OK);
    assert_status(io_replaymap_create(&b, &base, (1ull << 40) + SEC, &view), VHDX_OK);
    assert_int_equal(io_replaymap_extents(&view), 1);
    assert_true(acct.in_use < 1024);
    assert_status(view.size(view.ctx, &size), VHDX_OK);
    assert_int_equal(size, (1ull << 40) + SEC);
    assert_status(view.read(view.ctx, buf, sizeof(buf), 0, &n), VHDX_OK);
    assert_int_equal(n, sizeof(buf));
    assert_memory_equal(buf, base_bytes, SEC);
    assert_memory_equal(buf + SEC, zeros, 2 * SEC);
    assert_status(view.read(view.ctx, buf, sizeof(buf), 1ull << 39, &n), VHDX_OK);
    assert_memory_equal(buf, zeros, sizeof(buf));
    /* Short at the view's end, empty past it. */
    assert_status(view.read(view.ctx, buf, sizeof(buf), (1ull << 40), &n), VHDX_OK);
    assert_int_equal(n, SEC);
    assert_status(view.read(view.ctx, buf, sizeof(buf), (1ull << 40) + SEC, &n), VHDX_OK);
    assert_int_equal(n, 0);
    assert_null(view.write);
    assert_null(view.truncate);
    vhdx_io_close(&view);
    vhdx_io_close(&base);
    assert_int_equal(acct.in_use, 0);
}

static void test_add_refuses_bad_ranges(void **state)
{
    struct alloc_acct acct;
    struct io_replaymap_builder b;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_replaymap_builder_init(&b, &acct, 1), VHDX_OK);
    assert_status(io_replaymap_add(&b, 100, SEC, IO_REPLAY_ZERO, 0, 0), VHDX_E_INVALID_ARG);
    assert_status(io_replaymap_add(&b, SEC, 100, IO_REPLAY_ZERO, 0, 0), VHDX_E_INVALID_ARG);
    assert_status(io_replaymap_add(&b, SEC, 2 * SEC, 0, 0, 0), VHDX_E_INVALID_ARG);
    assert_status(io_replaymap_add(&b, UINT64_MAX - SEC + 1, 2 * SEC, IO_REPLAY_ZERO, 0, 0),
                  VHDX_E_INVALID_ARG);
    /* Empty ranges are ignored; the capacity counts the others. */
    assert_status(io_replaymap_add(&b, SEC, 0, IO_REPLAY_ZERO, 0, 0), VHDX_OK);
    assert_status(io_replaymap_add(&b, SEC, SEC, IO_REPLAY_ZERO, 0, 0), VHDX_OK);
    assert_status(io_replaymap_add(&b, 2 * SEC, SEC, IO_REPLAY_ZERO, 0, 0), VHDX_E_INVALID_ARG);
    assert_int_equal(b.count, 1);
    io_replaymap_builder_free(&b);
    assert_int_equal(acct.in_use, 0);
}

/* The records count against the accountant's limit; failures give everything back. */
static void test_memory_limit_and_accounting(void **state)
{
    struct alloc_acct acct;
    struct io_replaymap_builder b;
    vhdx_io base, view;
    (void)state;
    alloc_acct_init(&acct, NULL, 100 * sizeof(struct io_replay_extent));
    assert_status(io_replaymap_builder_init(&b, &acct, 200), VHDX_E_LIMIT);
    assert_int_equal(acct.in_use, 0);
    /* Overlaps need scratch (8 bytes a range) and the resolved records: over the limit here. */
    assert_status(vhdx_io_from_memory(base_bytes, BASE_LEN, &base), VHDX_OK);
    assert_status(io_replaymap_builder_init(&b, &acct, 90), VHDX_OK);
    for (uint64_t i = 0; i < 90; i++)
        assert_status(io_replaymap_add(&b, (i % 3) * SEC, 2 * SEC, IO_REPLAY_ZERO, 0, 0),
                      VHDX_OK);
    assert_status(io_replaymap_create(&b, &base, VIEW_LEN, &view), VHDX_E_LIMIT);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(io_replaymap_extents(&base), 0);
    assert_null(io_replaymap_extent(&base, 0));
    vhdx_io_close(&base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ranges_read_as_written_in_order),
        cmocka_unit_test(test_later_ranges_override_and_split),
        cmocka_unit_test(test_huge_zero_range_is_one_record),
        cmocka_unit_test(test_add_refuses_bad_ranges),
        cmocka_unit_test(test_memory_limit_and_accounting),
    };
    struct test_rng rng;
    test_rng_seed(&rng, 42);
    test_rng_fill(&rng, base_bytes, sizeof(base_bytes));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
