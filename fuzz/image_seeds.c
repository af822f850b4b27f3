#include "image_seeds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "format/bat.h"
#include "fuzz_common.h"
#include "image_builder.h"

uint8_t *image_seed_sparse(const uint8_t *file, size_t len, size_t *out_len)
{
    size_t cap = 4, pos = 4;
    uint8_t *d;
    for (size_t off = 0; off < len; off += 4096)
        cap += 6 + 4096;
    d = calloc(1, cap);
    if (d == NULL)
        return NULL;
    le32_store_no_bounds_check(d, (uint32_t)((len + 1023) / 1024));
    for (size_t off = 0; off < len; off += 4096) {
        size_t n = len - off < 4096 ? len - off : 4096, used = n;
        while (used > 0 && file[off + used - 1] == 0)
            used--;
        if (used == 0)
            continue;
        le32_store_no_bounds_check(d + pos, (uint32_t)off);
        le16_store_no_bounds_check(d + pos + 4, (uint16_t)used);
        memcpy(d + pos + 6, file + off, used);
        pos += 6 + used;
    }
    *out_len = pos;
    return d;
}

static void pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7u);
}

void fuzz_image_seeds(struct seed_out *out, image_seed_emit emit)
{
    static uint8_t data[65536];
    struct ib_image img, parent;
    struct ib_params p;

    pattern(data, sizeof(data), 0x11);

    /* Dynamic, 1 MiB blocks, 8 MiB disk: two written ranges, one ZERO block. */
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8u << 20;
    p.block_size = 1u << 20;
    if (ib_build(&p, &img) == 0) {
        if (ib_write(&img, 4096, data, 8192) == 0 && ib_write(&img, 5u << 20, data, 65536) == 0 &&
            ib_set_block_state(&img, 3, BAT_PAYLOAD_ZERO, 0) == 0)
            emit(out, "dynamic-8m", img.data, img.len);
        ib_free(&img);
    }

    /* Fixed, 4 MiB, openvmm layout. */
    memset(&p, 0, sizeof(p));
    p.type = IB_FIXED;
    p.virtual_size = 4u << 20;
    p.block_size = 1u << 20;
    p.layout = IB_LAYOUT_OPENVMM;
    if (ib_build(&p, &img) == 0) {
        if (ib_write(&img, 1u << 20, data, 4096) == 0)
            emit(out, "fixed-4m-openvmm", img.data, img.len);
        ib_free(&img);
    }

    /* 4096-byte logical sectors, partial last block. */
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = (6u << 20) + 4096;
    p.block_size = 2u << 20;
    p.logical_sector_size = 4096;
    p.physical_sector_size = 4096;
    if (ib_build(&p, &img) == 0) {
        if (ib_write(&img, (6u << 20), data, 4096) == 0)
            emit(out, "dynamic-4k-partial-block", img.data, img.len);
        ib_free(&img);
    }

    /* Differencing child with a partially present block (its parent is not in the input). */
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8u << 20;
    p.block_size = 1u << 20;
    if (ib_build(&p, &parent) == 0) {
        memset(&p, 0, sizeof(p));
        p.type = IB_DIFFERENCING;
        p.virtual_size = 8u << 20;
        p.block_size = 1u << 20;
        p.parent = &parent;
        p.relative_path = "parent.vhdx";
        p.absolute_win32_path = "\\\\?\\C:\\images\\parent.vhdx";
        if (ib_build(&p, &img) == 0) {
            if (ib_write(&img, 512, data, 1024) == 0)
                emit(out, "differencing-partial", img.data, img.len);
            ib_free(&img);
        }
        ib_free(&parent);
    }
}

void image_seed_emit_sparse(struct seed_out *out, const char *name, const uint8_t *file,
                            size_t len)
{
    char n[128];
    size_t slen = 0;
    uint8_t *sparse = image_seed_sparse(file, len, &slen);
    if (sparse != NULL) {
        snprintf(n, sizeof(n), "%s-sparse", name);
        seed_emit(out, n, sparse, slen);
        free(sparse);
    }
}
