/*
 * An allocator for the library that keeps large blocks for reuse, shared
 * by the whole-image harnesses (pass &FUZZ_POOL in vhdx_open_options).
 */
#ifndef VHDX_FUZZ_POOL_H
#define VHDX_FUZZ_POOL_H

#include <stddef.h>
#include <stdlib.h>

#include "vhdx.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

/*
 * The allocator passed to the library: large blocks are kept for reuse.
 * Every open allocates a few of them (the 1 MiB metadata item buffer, the
 * region tables, the log), and under ASan each is a fresh mapping whose
 * page faults cost most of an execution. A cached block is poisoned, so a
 * use after free is still reported, and it is handed out again only for
 * the same size, so the redzone behind it still catches an overflow.
 */
#define POOL_MIN 4096u
#define POOL_SLOTS 64u
#define POOL_BYTES (64u << 20)

static struct {
    void *p;
    size_t size;
} fuzz_pool_slots[POOL_SLOTS];
static size_t fuzz_pool_bytes;

static void *fuzz_pool_alloc(void *ctx, size_t size)
{
    (void)ctx;
    for (unsigned i = 0; size >= POOL_MIN && i < POOL_SLOTS; i++) {
        if (fuzz_pool_slots[i].p != NULL && fuzz_pool_slots[i].size == size) {
            void *p = fuzz_pool_slots[i].p;
            fuzz_pool_slots[i].p = NULL;
            fuzz_pool_bytes -= size;
            ASAN_UNPOISON_MEMORY_REGION(p, size);
            return p;
        }
    }
    return malloc(size);
}

static void fuzz_pool_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    for (unsigned i = 0; size >= POOL_MIN && size <= POOL_BYTES - fuzz_pool_bytes && i < POOL_SLOTS;
         i++) {
        if (fuzz_pool_slots[i].p == NULL) {
            fuzz_pool_slots[i].p = p;
            fuzz_pool_slots[i].size = size;
            fuzz_pool_bytes += size;
            ASAN_POISON_MEMORY_REGION(p, size);
            return;
        }
    }
    free(p);
}

static const vhdx_allocator FUZZ_POOL = {fuzz_pool_alloc, fuzz_pool_free, NULL};

#endif
