/*
 * Whole-image harness: builds an image in memory from the input, opens it
 * from memory (a sparse store, src/io/sparse.h, read-only), checks it, and
 * reads the virtual disk where blocks are allocated (a capped amount per
 * input).
 *
 * Input: either a raw image (it starts with "vhdxfile"), or a sparse image
 * description, so that small inputs reach every structure of a multi-MiB
 * file: a u32 file size in KiB (capped), then records of
 *     u32 file offset in bytes, u16 length, `length` bytes
 * copied into a zero-filled file. Seeds are made from valid images by
 * keeping their non-zero bytes.
 *
 * Speed (fuzz/CAMPAIGNS.md): the file was a fresh zeroed allocation of up
 * to 40 MiB per input, and the library's large buffers fresh mappings; now
 * the file is a sparse store reused across inputs (holes read as zeros,
 * the bytes the library sees are the same) and the library allocates
 * through the pooling allocator of fuzz_pool.h (blocks poisoned while
 * cached, reused only within its power-of-two size class, the bytes past
 * the size asked for poisoned). The invariants are unchanged.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "fuzz_common.h"
#include "fuzz_pool.h"
#include "image_input.h"
#include "vhdx.h"

#define MAX_READ_TOTAL (8u << 20)   /* bytes of virtual disk read per input */


static void read_allocated(vhdx_image *img, uint64_t virtual_size)
{
    static uint8_t buf[1u << 20];
    uint64_t off = 0, budget = MAX_READ_TOTAL;
    while (off < virtual_size && budget > 0) {
        vhdx_extent ext;
        uint64_t n;
        if (vhdx_map_next(img, off, &ext) != VHDX_OK)
            return;
        FUZZ_CHECK(ext.offset == off && ext.length > 0 && ext.length <= virtual_size - off);
        n = ext.length < sizeof(buf) ? ext.length : sizeof(buf);
        if (n > budget)
            n = budget;
        if (ext.kind != VHDX_EXTENT_ZERO) {
            if (vhdx_read(img, off, buf, (size_t)n) != VHDX_OK)
                return;
            budget -= n;
        }
        off += ext.length;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct io_sparse *file = image_input_load(data, size);
    vhdx_io io;
    vhdx_image *img = NULL;
    vhdx_check_result result;
    vhdx_open_options o;
    bool limited = false;

    if (file == NULL)
        return 0;
    memset(&result, 0, sizeof(result));
    memset(&o, 0, sizeof(o));
    o.allocator = &FUZZ_POOL;
    /*
     * The judge: judges a memory image, or says a limit stopped it (never a
     * verdict: then the open must stop at a limit too).
     */
    io_sparse_io(file, false, &io);
    {
        vhdx_status st = vhdx_check(&io, &o, &result);
        FUZZ_CHECK(st == VHDX_OK || st == VHDX_E_LIMIT);
        FUZZ_CHECK((result.errors == 0) == (result.first_error == VHDX_OK));
        limited = st == VHDX_E_LIMIT;
    }
    io_sparse_io(file, false, &io);
    {
        vhdx_status st = vhdx_open(&io, &o, &img);
        /* Open and check agree: an image that opens has no errors, one that
           does not open has at least one (the judge never calls clean what it
           could not read). */
        if (st != VHDX_OK && result.errors == 0)
            fprintf(stderr, "open failed with %s, check found no error\n", vhdx_status_name(st));
        FUZZ_CHECK((st == VHDX_OK) == (result.errors == 0));
        FUZZ_CHECK(!limited || st == VHDX_E_LIMIT);
    }
    if (img != NULL) {
        vhdx_info info;
        FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK);
        read_allocated(img, info.virtual_size);
        vhdx_close(img);
    }
    return 0;
}

#ifdef FUZZ_SEEDS
#include "image_seeds.h"

/* Each seed image as a sparse description. */
void fuzz_make_seeds(struct seed_out *out)
{
    fuzz_image_seeds(out, image_seed_emit_sparse);
}
#endif
