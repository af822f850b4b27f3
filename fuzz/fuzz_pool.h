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
 * Every open allocates a few of them (the metadata item buffer, the BAT
 * walk's page, the region tables, the log), and under ASan each is a fresh
 * mapping whose page faults cost most of an execution. A block is
 * allocated with its size rounded up to a power of two (its class) and
 * handed out again for any size of the same class: the bytes past the
 * size asked for stay poisoned, as a cached block is, so an overflow or a
 * use after free is still reported. Reuse within a class also keeps
 * libFuzzer's malloc and free counts even from one input to the next, so
 * it does not run inputs again to look for leaks.
 */
#define POOL_MIN 4096u
#define POOL_SLOTS 64u
#define POOL_BYTES (64u << 20)

static struct {
    void *p;
    size_t size; /* the class */
} fuzz_pool_slots[POOL_SLOTS];
static size_t fuzz_pool_bytes;

static size_t fuzz_pool_class(size_t size)
{
    size_t c = POOL_MIN;
    while (c < size && c <= POOL_BYTES)
        c *= 2;
    return c;
}

static void *fuzz_pool_alloc(void *ctx, size_t size)
{
    size_t cls;
    void *p;
    (void)ctx;
    if (size < POOL_MIN || size > POOL_BYTES)
        return malloc(size);
    cls = fuzz_pool_class(size);
    for (unsigned i = 0; i < POOL_SLOTS; i++) {
        if (fuzz_pool_slots[i].p != NULL && fuzz_pool_slots[i].size == cls) {
            p = fuzz_pool_slots[i].p;
            fuzz_pool_slots[i].p = NULL;
            fuzz_pool_bytes -= cls;
            ASAN_UNPOISON_MEMORY_REGION(p, size);
            return p;
        }
    }
    p = malloc(cls);
    if (p != NULL)
        ASAN_POISON_MEMORY_REGION((char *)p + size, cls - size);
    return p;
}

static void fuzz_pool_free(void *ctx, void *p, size_t size)
{
    size_t cls;
    (void)ctx;
    if (size < POOL_MIN || size > POOL_BYTES) {
        free(p);
        return;
    }
    cls = fuzz_pool_class(size);
    for (unsigned i = 0; cls <= POOL_BYTES - fuzz_pool_bytes && i < POOL_SLOTS; i++) {
        if (fuzz_pool_slots[i].p == NULL) {
            fuzz_pool_slots[i].p = p;
            fuzz_pool_slots[i].size = cls;
            fuzz_pool_bytes += cls;
            ASAN_POISON_MEMORY_REGION(p, cls);
            return;
        }
    }
    /* free() must not see poisoned bytes it does not own: unpoison first. */
    ASAN_UNPOISON_MEMORY_REGION(p, cls);
    free(p);
}

static const vhdx_allocator FUZZ_POOL = {fuzz_pool_alloc, fuzz_pool_free, NULL};

#endif
