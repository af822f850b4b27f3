/* Allocation with accounting against a limit (src/base/alloc.h). */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

/* A recording allocator: backs onto malloc, fills fresh memory with junk, can be told to fail. */
struct recorder {
    size_t alloc_calls;
    size_t free_calls;
    size_t alloc_sizes[16];
    size_t free_sizes[16];
    void *free_ptrs[16];
    int fail_after; /* fail every call once alloc_calls reaches this; -1 never */
};

static void *rec_alloc(void *ctx, size_t size)
{
    struct recorder *r = ctx;
    void *p;
    if (r->alloc_calls < ARRAY_LEN(r->alloc_sizes))
        r->alloc_sizes[r->alloc_calls] = size;
    r->alloc_calls++;
    if (r->fail_after >= 0 && r->alloc_calls > (size_t)r->fail_after)
        return NULL;
    p = malloc(size);
    if (p != NULL)
        memset(p, 0xA5, size);
    return p;
}

static void rec_free(void *ctx, void *ptr, size_t size)
{
    struct recorder *r = ctx;
    if (r->free_calls < ARRAY_LEN(r->free_sizes)) {
        r->free_sizes[r->free_calls] = size;
        r->free_ptrs[r->free_calls] = ptr;
    }
    r->free_calls++;
    free(ptr);
}

static vhdx_allocator recorder_allocator(struct recorder *r)
{
    vhdx_allocator a;
    memset(r, 0, sizeof(*r));
    r->fail_after = -1;
    a.alloc = rec_alloc;
    a.free = rec_free;
    a.ctx = r;
    return a;
}

static void assert_all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i], 0);
}

static void test_acct_alloc_returns_zeroed_memory(void **state)
{
    struct recorder r;
    vhdx_allocator a = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_E_IO;
    void *p;
    (void)state;
    alloc_acct_init(&acct, &a, 0);
    /* The recording allocator hands out 0xA5 bytes; the accountant must zero them. */
    p = acct_alloc(&acct, 4096, &st);
    assert_non_null(p);
    assert_status(st, VHDX_OK);
    assert_all_zero(p, 4096);
    acct_free(&acct, p, 4096);
}

static void test_acct_alloc_default_allocator_zeroed(void **state)
{
    struct alloc_acct acct;
    vhdx_status st = VHDX_E_IO;
    uint8_t *p;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    p = acct_alloc(&acct, 100, &st);
    assert_non_null(p);
    assert_status(st, VHDX_OK);
    assert_all_zero(p, 100);
    assert_int_equal(acct.in_use, 100);
    acct_free(&acct, p, 100);
    assert_int_equal(acct.in_use, 0);
}

static void test_acct_tracks_in_use_peak_count(void **state)
{
    struct alloc_acct acct;
    vhdx_status st;
    void *a, *b, *c;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(acct.peak, 0);
    assert_int_equal(acct.count, 0);
    a = acct_alloc(&acct, 60, &st);
    assert_non_null(a);
    b = acct_alloc(&acct, 40, &st);
    assert_non_null(b);
    assert_int_equal(acct.in_use, 100);
    assert_int_equal(acct.peak, 100);
    assert_int_equal(acct.count, 2);
    acct_free(&acct, a, 60);
    assert_int_equal(acct.in_use, 40);
    assert_int_equal(acct.peak, 100);
    c = acct_alloc(&acct, 30, &st);
    assert_non_null(c);
    assert_int_equal(acct.in_use, 70);
    assert_int_equal(acct.peak, 100);
    assert_int_equal(acct.count, 3);
    acct_free(&acct, b, 40);
    acct_free(&acct, c, 30);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(acct.peak, 100);
    /* count is allocations made, not live ones. */
    assert_int_equal(acct.count, 3);
}

static void test_acct_limit_exactly_reached_ok(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st;
    void *a, *b;
    (void)state;
    alloc_acct_init(&acct, &al, 100);
    a = acct_alloc(&acct, 60, &st);
    assert_status(st, VHDX_OK);
    b = acct_alloc(&acct, 40, &st);
    assert_status(st, VHDX_OK);
    assert_non_null(b);
    assert_int_equal(acct.in_use, 100);
    assert_int_equal(acct.peak, 100);
    acct_free(&acct, a, 60);
    acct_free(&acct, b, 40);
    /* One allocation of exactly the limit. */
    a = acct_alloc(&acct, 100, &st);
    assert_status(st, VHDX_OK);
    assert_non_null(a);
    acct_free(&acct, a, 100);
}

static void test_acct_limit_one_byte_over_fails_without_allocating(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st;
    void *a, *b;
    (void)state;
    alloc_acct_init(&acct, &al, 100);
    a = acct_alloc(&acct, 60, &st);
    assert_non_null(a);
    st = VHDX_OK;
    b = acct_alloc(&acct, 41, &st);
    assert_null(b);
    assert_status(st, VHDX_E_LIMIT);
    /* Nothing was asked of the allocator and nothing was counted. */
    assert_int_equal(r.alloc_calls, 1);
    assert_int_equal(acct.in_use, 60);
    assert_int_equal(acct.peak, 60);
    assert_int_equal(acct.count, 1);
    /* A single allocation one byte over the limit. */
    b = acct_alloc(&acct, 101, &st);
    assert_null(b);
    assert_status(st, VHDX_E_LIMIT);
    assert_int_equal(r.alloc_calls, 1);
    acct_free(&acct, a, 60);
    b = acct_alloc(&acct, 101, &st);
    assert_null(b);
    assert_status(st, VHDX_E_LIMIT);
    assert_int_equal(r.alloc_calls, 1);
    assert_int_equal(acct.in_use, 0);
}

static void test_acct_alloc_size_zero_is_invalid_arg(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    assert_null(acct_alloc(&acct, 0, &st));
    assert_status(st, VHDX_E_INVALID_ARG);
    assert_int_equal(r.alloc_calls, 0);
    assert_int_equal(acct.count, 0);
}

static void test_acct_alloc_in_use_overflow(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    /* Pretend the counter is at its top; the next byte must not wrap it. */
    acct.in_use = UINT64_MAX;
    assert_null(acct_alloc(&acct, 1, &st));
    assert_status(st, VHDX_E_OVERFLOW);
    assert_int_equal(r.alloc_calls, 0);
    assert_int_equal(acct.in_use, UINT64_MAX);
}

static void test_acct_alloc_array(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_E_IO;
    uint64_t *p;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    p = acct_alloc_array(&acct, 10, sizeof(uint64_t), &st);
    assert_non_null(p);
    assert_status(st, VHDX_OK);
    assert_int_equal(r.alloc_sizes[0], 80);
    assert_int_equal(acct.in_use, 80);
    assert_all_zero(p, 80);
    acct_free(&acct, p, 80);
    assert_int_equal(r.free_sizes[0], 80);
}

static void test_acct_alloc_array_overflow(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    assert_null(acct_alloc_array(&acct, SIZE_MAX, 2, &st));
    assert_status(st, VHDX_E_OVERFLOW);
    st = VHDX_OK;
    assert_null(acct_alloc_array(&acct, 2, SIZE_MAX, &st));
    assert_status(st, VHDX_E_OVERFLOW);
    st = VHDX_OK;
    assert_null(acct_alloc_array(&acct, (SIZE_MAX >> 1) + 1, 2, &st));
    assert_status(st, VHDX_E_OVERFLOW);
    assert_int_equal(r.alloc_calls, 0);
    assert_int_equal(acct.count, 0);
    assert_int_equal(acct.in_use, 0);
}

static void test_acct_alloc_array_zero_is_invalid_arg(void **state)
{
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    assert_null(acct_alloc_array(&acct, 0, 8, &st));
    assert_status(st, VHDX_E_INVALID_ARG);
    st = VHDX_OK;
    assert_null(acct_alloc_array(&acct, 8, 0, &st));
    assert_status(st, VHDX_E_INVALID_ARG);
}

static void test_acct_alloc_array_respects_limit(void **state)
{
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    void *p;
    (void)state;
    alloc_acct_init(&acct, NULL, 64);
    p = acct_alloc_array(&acct, 8, 8, &st);
    assert_non_null(p);
    acct_free(&acct, p, 64);
    assert_null(acct_alloc_array(&acct, 13, 5, &st));
    assert_status(st, VHDX_E_LIMIT);
}

static void test_acct_allocator_failure_is_nomem(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st = VHDX_OK;
    void *a;
    (void)state;
    r.fail_after = 1;
    alloc_acct_init(&acct, &al, 0);
    a = acct_alloc(&acct, 10, &st);
    assert_non_null(a);
    assert_null(acct_alloc(&acct, 20, &st));
    assert_status(st, VHDX_E_NOMEM);
    assert_int_equal(r.alloc_calls, 2);
    assert_int_equal(r.alloc_sizes[1], 20);
    /* The failed allocation is not accounted. */
    assert_int_equal(acct.in_use, 10);
    assert_int_equal(acct.peak, 10);
    assert_int_equal(acct.count, 1);
    acct_free(&acct, a, 10);
}

static void test_acct_free_passes_sizes_to_allocator(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st;
    void *a, *b, *c;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    a = acct_alloc(&acct, 7, &st);
    b = acct_alloc(&acct, 4096, &st);
    c = acct_alloc(&acct, 1, &st);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(r.alloc_calls, 3);
    assert_int_equal(r.alloc_sizes[0], 7);
    assert_int_equal(r.alloc_sizes[1], 4096);
    assert_int_equal(r.alloc_sizes[2], 1);
    acct_free(&acct, b, 4096);
    acct_free(&acct, c, 1);
    acct_free(&acct, a, 7);
    assert_int_equal(r.free_calls, 3);
    assert_ptr_equal(r.free_ptrs[0], b);
    assert_int_equal(r.free_sizes[0], 4096);
    assert_ptr_equal(r.free_ptrs[1], c);
    assert_int_equal(r.free_sizes[1], 1);
    assert_ptr_equal(r.free_ptrs[2], a);
    assert_int_equal(r.free_sizes[2], 7);
    assert_int_equal(acct.in_use, 0);
}

static void test_acct_free_null_is_noop(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st;
    void *a;
    (void)state;
    alloc_acct_init(&acct, &al, 0);
    a = acct_alloc(&acct, 50, &st);
    assert_non_null(a);
    acct_free(&acct, NULL, 50);
    acct_free(&acct, NULL, 0);
    assert_int_equal(r.free_calls, 0);
    assert_int_equal(acct.in_use, 50);
    acct_free(&acct, a, 50);
    assert_int_equal(r.free_calls, 1);
}

static void test_acct_free_more_than_in_use_clamps_to_zero(void **state)
{
    struct alloc_acct acct;
    vhdx_status st;
    void *a;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    a = acct_alloc(&acct, 10, &st);
    assert_non_null(a);
    acct_free(&acct, a, 20);
    assert_int_equal(acct.in_use, 0);
}

static void test_acct_limit_zero_is_unlimited(void **state)
{
    struct alloc_acct acct;
    vhdx_status st = VHDX_E_IO;
    void *a, *b;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    assert_int_equal(acct.limit, 0);
    a = acct_alloc(&acct, 8u << 20, &st);
    assert_non_null(a);
    assert_status(st, VHDX_OK);
    b = acct_alloc(&acct, 8u << 20, &st);
    assert_non_null(b);
    assert_int_equal(acct.in_use, 16u << 20);
    acct_free(&acct, a, 8u << 20);
    acct_free(&acct, b, 8u << 20);
}

static void test_acct_init_copies_allocator(void **state)
{
    struct recorder r;
    vhdx_allocator al = recorder_allocator(&r);
    struct alloc_acct acct;
    vhdx_status st;
    void *a;
    (void)state;
    alloc_acct_init(&acct, &al, 1234);
    assert_int_equal(acct.limit, 1234);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(acct.peak, 0);
    assert_int_equal(acct.count, 0);
    /* Changing the caller's struct afterwards does not affect the accountant. */
    al.alloc = NULL;
    al.free = NULL;
    a = acct_alloc(&acct, 8, &st);
    assert_non_null(a);
    assert_int_equal(r.alloc_calls, 1);
    acct_free(&acct, a, 8);
    assert_int_equal(r.free_calls, 1);
}

static int half_set_alloc_calls;
static void *half_set_alloc(void *ctx, size_t size)
{
    (void)ctx;
    half_set_alloc_calls++;
    return malloc(size);
}

static void test_half_set_allocator_falls_back_to_malloc_for_both(void **state)
{
    vhdx_allocator a = {half_set_alloc, NULL, NULL};
    struct alloc_acct acct;
    vhdx_status st;
    void *p;
    (void)state;
    alloc_acct_init(&acct, &a, 0);
    p = acct_alloc(&acct, 32, &st);
    assert_status(st, VHDX_OK);
    assert_non_null(p);
    assert_int_equal(half_set_alloc_calls, 0);
    acct_free(&acct, p, 32); /* libc free of libc memory: ASan checks the pairing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acct_alloc_returns_zeroed_memory),
        cmocka_unit_test(test_acct_alloc_default_allocator_zeroed),
        cmocka_unit_test(test_acct_tracks_in_use_peak_count),
        cmocka_unit_test(test_acct_limit_exactly_reached_ok),
        cmocka_unit_test(test_acct_limit_one_byte_over_fails_without_allocating),
        cmocka_unit_test(test_acct_alloc_size_zero_is_invalid_arg),
        cmocka_unit_test(test_acct_alloc_in_use_overflow),
        cmocka_unit_test(test_acct_alloc_array),
        cmocka_unit_test(test_acct_alloc_array_overflow),
        cmocka_unit_test(test_acct_alloc_array_zero_is_invalid_arg),
        cmocka_unit_test(test_acct_alloc_array_respects_limit),
        cmocka_unit_test(test_acct_allocator_failure_is_nomem),
        cmocka_unit_test(test_acct_free_passes_sizes_to_allocator),
        cmocka_unit_test(test_acct_free_null_is_noop),
        cmocka_unit_test(test_acct_free_more_than_in_use_clamps_to_zero),
        cmocka_unit_test(test_acct_limit_zero_is_unlimited),
        cmocka_unit_test(test_acct_init_copies_allocator),
        cmocka_unit_test(test_half_set_allocator_falls_back_to_malloc_for_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
