/*
 * Allocation with accounting against a limit.
 *
 * Every allocation the library makes goes through an accountant: the
 * caller's allocator (or malloc), a byte limit, and counters of what is in
 * use and of the peak. Going over the limit is VHDX_E_LIMIT; the allocator
 * failing is VHDX_E_NOMEM. Memory comes back zeroed.
 */
#ifndef VHDX_BASE_ALLOC_H
#define VHDX_BASE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

struct alloc_acct {
    vhdx_allocator allocator; /* copied; NULL members mean malloc/free */
    uint64_t limit;           /* bytes; 0 means no limit */
    uint64_t in_use;
    uint64_t peak;
    uint64_t count;           /* allocations made, for failure injection tests */
};

void alloc_acct_init(struct alloc_acct *acct, const vhdx_allocator *allocator, uint64_t limit);

/* Zeroed memory of `size` bytes, or NULL with *status set. size 0 is INVALID_ARG. */
MUST_USE void *acct_alloc(struct alloc_acct *acct, size_t size, vhdx_status *status);

/*
 * As acct_alloc, but the contents are unspecified: for a buffer the caller
 * fills whole before reading any of it (a read that fails frees it unread).
 */
MUST_USE void *acct_alloc_uninit(struct alloc_acct *acct, size_t size, vhdx_status *status);

/* count * size bytes, failing with VHDX_E_OVERFLOW when that overflows. */
MUST_USE void *acct_alloc_array(struct alloc_acct *acct, size_t count, size_t size,
                                vhdx_status *status);

/* Frees memory from acct_alloc; size must be the size allocated. NULL is a no-op. */
void acct_free(struct alloc_acct *acct, void *ptr, size_t size);

#endif
