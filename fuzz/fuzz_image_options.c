/*
 * Whole-image harness with the open options taken from the input's last 8
 * bytes (libspng's habit), so one target covers every API mode:
 *   byte 0: flags (bit 0 writable request, bit 1 no-parent)
 *   byte 1: memory limit, 1..64 MiB (0 = default)
 *   byte 2: metadata region limit, in MiB (0 = default)
 *   byte 3: parent locator entry limit (0 = default)
 *   bytes 4-5: fail the N-th allocation (0 = never)
 *   byte 6: metadata item limit, in 4 KiB steps (0 = default)
 *   byte 7: log length limit, in MiB (0 = default)
 * The rest is the image (raw, or the sparse description of fuzz_image).
 * Whatever the options, open and check must end cleanly: no crash, no
 * leak, and the allocator's books balance. When check could judge the image
 * and no allocation failed, a read-only open that fails must match an error
 * the check reported (the judge never calls clean what it could not read).
 *
 * Speed: the file is a sparse store reused across inputs (image_input.h),
 * and the failing allocator hands what it lets through to the pooling one
 * of fuzz_pool.h (no fresh mapping per input); the invariants are as
 * before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "fuzz_common.h"
#include "fuzz_pool.h"
#include "image_input.h"
#include "vhdx.h"


struct failing_alloc {
    uint32_t fail_at;
    uint32_t count;
    int64_t live;
    int failed;
};

static void *fa_alloc(void *ctx, size_t size)
{
    struct failing_alloc *fa = ctx;
    if (fa->fail_at != 0 && ++fa->count == fa->fail_at) {
        fa->failed = 1;
        return NULL;
    }
    fa->live++;
    return fuzz_pool_alloc(NULL, size);
}

static void fa_free(void *ctx, void *ptr, size_t size)
{
    struct failing_alloc *fa = ctx;
    fa->live--;
    fuzz_pool_free(NULL, ptr, size);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *opt;
    struct failing_alloc fa = {0, 0, 0, 0};
    int judged = 0;
    vhdx_allocator allocator = {fa_alloc, fa_free, &fa};
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options options;
    vhdx_check_result result;
    vhdx_image *img = NULL;
    vhdx_io io;
    struct io_sparse *file;

    if (size < 8)
        return 0;
    opt = data + size - 8;
    memset(&options, 0, sizeof(options));
    options.flags = opt[0] & 3u;
    if (opt[1] != 0)
        limits.max_memory = (uint64_t)(opt[1] % 64 + 1) << 20;
    if (opt[2] != 0)
        limits.max_metadata_region = (uint32_t)opt[2] << 20;
    if (opt[3] != 0)
        limits.max_locator_entries = opt[3];
    if (opt[6] != 0)
        limits.max_metadata_item = (uint32_t)opt[6] << 12;
    if (opt[7] != 0)
        limits.max_log_length = (uint32_t)opt[7] << 20;
    fa.fail_at = le16_load_no_bounds_check(opt + 4);
    options.limits = &limits;
    options.allocator = &allocator;

    file = image_input_load(data, size - 8);
    if (file == NULL)
        return 0;
    io_sparse_io(file, false, &io);
    {
        vhdx_status st = vhdx_check(&io, &options, &result);
        if (!(st == VHDX_OK || st == VHDX_E_NOMEM || st == VHDX_E_LIMIT))
            fprintf(stderr, "check returned %s\n", vhdx_status_name(st));
        FUZZ_CHECK(st == VHDX_OK || st == VHDX_E_NOMEM || st == VHDX_E_LIMIT);
        judged = st == VHDX_OK && !fa.failed;
    }
    fa.count = 0;
    fa.failed = 0;
    io_sparse_io(file, false, &io);
    {
        vhdx_status st = vhdx_open(&io, &options, &img);
        if (st != VHDX_OK && judged && !fa.failed && (options.flags & VHDX_OPEN_WRITABLE) == 0 &&
            result.errors == 0) {
            fprintf(stderr, "open failed with %s, check found no error\n", vhdx_status_name(st));
            FUZZ_CHECK(0);
        }
    }
    if (img != NULL) {
        uint8_t buf[4096];
        vhdx_info info;
        FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK);
        if (info.virtual_size >= sizeof(buf))
            status_ignore(vhdx_read(img, info.virtual_size - sizeof(buf), buf, sizeof(buf)));
        vhdx_close(img);
    }
    /* Every allocation made through the caller's allocator was given back. */
    FUZZ_CHECK(fa.live == 0);
    return 0;
}

#ifdef FUZZ_SEEDS
#include "image_seeds.h"

static void emit_with_options(struct seed_out *out, const char *name, const uint8_t *file,
                              size_t len)
{
    static const uint8_t tails[3][8] = {
        {0, 0, 0, 0, 0, 0, 0, 0},   /* defaults */
        {2, 1, 1, 4, 0, 0, 0, 0},   /* no parent, 2 MiB memory, 1 MiB metadata, 4 entries */
        {0, 0, 0, 0, 3, 0, 0, 0},   /* fail the 3rd allocation */
    };
    size_t slen = 0;
    uint8_t *sparse = image_seed_sparse(file, len, &slen), *d;
    char n[128];
    if (sparse == NULL)
        return;
    d = malloc(slen + 8);
    if (d != NULL) {
        memcpy(d, sparse, slen);
        for (int i = 0; i < 3; i++) {
            memcpy(d + slen, tails[i], 8);
            snprintf(n, sizeof(n), "%s-opt%d", name, i);
            seed_emit(out, n, d, slen + 8);
        }
        free(d);
    }
    free(sparse);
}

void fuzz_make_seeds(struct seed_out *out)
{
    fuzz_image_seeds(out, emit_with_options);
}
#endif
