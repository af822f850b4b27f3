#include "base/alloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/checked.h"

void alloc_acct_init(struct alloc_acct *acct, const vhdx_allocator *allocator, uint64_t limit)
{
    memset(acct, 0, sizeof(*acct));
    /* A half-set allocator would free one allocator's memory with another's free. */
    if (allocator != NULL && allocator->alloc != NULL && allocator->free != NULL)
        acct->allocator = *allocator;
    acct->limit = limit;
}

/*
 * The default allocator maps large buffers (a dirty log, the pages its
 * replay writes) directly: the kernel hands out zeroed pages, so nothing is
 * zeroed twice, and transparent huge pages cut the page faults of filling
 * them by up to 512 times (a 64 MiB log is read about twice as fast).
 * acct_free knows the size, so it knows which way the memory came.
 */
#define ALLOC_LARGE ((size_t)2 * 1024 * 1024)

static void *large_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    return p;
}

/* acct_alloc and acct_alloc_uninit: `zero` says whether the memory must read zeros. */
static void *alloc_accounted(struct alloc_acct *acct, size_t size, bool zero, vhdx_status *status)
{
    uint64_t after;
    void *p;

    if (size == 0) {
        *status = VHDX_E_INVALID_ARG;
        return NULL;
    }
    if (!ck_add_u64(acct->in_use, size, &after)) {
        *status = VHDX_E_OVERFLOW;
        return NULL;
    }
    if (acct->limit != 0 && after > acct->limit) {
        *status = VHDX_E_LIMIT;
        return NULL;
    }
    if (acct->allocator.alloc != NULL) {
        p = acct->allocator.alloc(acct->allocator.ctx, size);
        if (p != NULL && zero)
            memset(p, 0, size);
    } else if (size >= ALLOC_LARGE) {
        p = large_alloc(size);
    } else {
        p = zero ? calloc(1, size) : malloc(size);
    }
    if (p == NULL) {
        *status = VHDX_E_NOMEM;
        return NULL;
    }
    acct->in_use = after;
    acct->count++;
    if (after > acct->peak)
        acct->peak = after;
    *status = VHDX_OK;
    return p;
}

void *acct_alloc(struct alloc_acct *acct, size_t size, vhdx_status *status)
{
    return alloc_accounted(acct, size, true, status);
}

void *acct_alloc_uninit(struct alloc_acct *acct, size_t size, vhdx_status *status)
{
    return alloc_accounted(acct, size, false, status);
}

void *acct_alloc_array(struct alloc_acct *acct, size_t count, size_t size, vhdx_status *status)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        *status = VHDX_E_OVERFLOW;
        return NULL;
    }
    return acct_alloc(acct, total, status);
}

void acct_free(struct alloc_acct *acct, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    if (acct->allocator.free != NULL)
        acct->allocator.free(acct->allocator.ctx, ptr, size);
    else if (size >= ALLOC_LARGE)
        munmap(ptr, size);
    else
        free(ptr);
    acct->in_use = size <= acct->in_use ? acct->in_use - size : 0;
}
