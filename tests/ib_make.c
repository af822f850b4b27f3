/*
 * ib_make OUTDIR: writes a set of images made by the image builder, each as
 * NAME.vhdx with NAME.raw beside it (the builder's model of the whole virtual
 * disk, ib_expected_read, written sparse), and OUTDIR/manifest listing them
 * for tests/oracle_check.sh, one image per line:
 *
 *   NAME TYPE LSS QEMU PARENT RANGES VHDI_RANGES
 *
 * TYPE is fixed, dynamic or differencing; LSS the logical sector size; QEMU
 * is 1 when qemu-img can open the image (512-byte logical sectors, no
 * parent); PARENT is the parent image's NAME or "-"; RANGES is "all" or a
 * comma list of OFFSET:LENGTH (bytes) for disks too large to read whole in
 * the time allowed: then NAME.raw holds the model at those ranges only (the
 * rest is a hole) and only those ranges are compared. VHDI_RANGES is what
 * libvhdi is compared on: "=" for RANGES, or a shorter list where libvhdi is
 * known to deviate from the format (see big_fixed_chunk_plus1 below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/constants.h"
#include "image_builder.h"

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

static const char *outdir;
static FILE *manifest;
static int failures;

/* A deterministic pattern generator (xorshift64*), so reruns give the same files. */
static uint64_t rng_state = 0x243F6A8885A308D3ull;

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng_state = x;
        p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

static void check(int rc, const char *what, const char *name)
{
    if (rc != 0) {
        fprintf(stderr, "ib_make: %s: %s failed (%d)\n", name, what, rc);
        failures++;
    }
}

/* Writes len pattern bytes at voff. */
static void pattern(struct ib_image *img, const char *name, uint64_t voff, size_t len)
{
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        check(-1, "malloc", name);
        return;
    }
    fill(buf, len);
    check(ib_write(img, voff, buf, len), "ib_write", name);
    free(buf);
}

struct range {
    uint64_t off, len;
};

/* Saves NAME.vhdx and NAME.raw and lists the image in the manifest. */
static void print_ranges(const struct range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(manifest, "%s%llu:%llu", i ? "," : "", (unsigned long long)r[i].off,
                (unsigned long long)r[i].len);
}

/* vranges NULL: libvhdi is compared on the same ranges as qemu. */
static void emit(const struct ib_image *img, const char *name, const char *parent,
                 const struct range *ranges, size_t nranges, const struct range *vranges,
                 size_t nvranges)
{
    static const char *const type_names[] = {"?", "fixed", "dynamic", "differencing"};
    int qemu = img->geo.logical_sector_size == 512 && !img->geo.has_parent;
    char path[4096];
    FILE *raw;
    uint8_t *buf = malloc(MIB);
    struct range all = {0, img->geo.virtual_disk_size};

    snprintf(path, sizeof(path), "%s/%s.vhdx", outdir, name);
    check(ib_save(img, path), "ib_save", name);
    snprintf(path, sizeof(path), "%s/%s.raw", outdir, name);
    raw = fopen(path, "wb");
    if (raw == NULL || buf == NULL) {
        check(-1, "fopen raw", name);
        free(buf);
        if (raw != NULL)
            fclose(raw);
        return;
    }
    if (ranges == NULL) {
        ranges = &all;
        nranges = 1;
    }
    for (size_t r = 0; r < nranges; r++) {
        for (uint64_t at = ranges[r].off; at < ranges[r].off + ranges[r].len; at += MIB) {
            uint64_t n = ranges[r].off + ranges[r].len - at;
            int zero;
            if (n > MIB)
                n = MIB;
            check(ib_expected_read(img, at, n, buf), "ib_expected_read", name);
            zero = buf[0] == 0 && memcmp(buf, buf + 1, (size_t)n - 1) == 0;
            if (zero)
                continue; /* leave a hole */
            if (fseeko(raw, (off_t)at, SEEK_SET) != 0 || fwrite(buf, 1, (size_t)n, raw) != n)
                check(-1, "write raw", name);
        }
    }
    if (fflush(raw) != 0 || ftruncate(fileno(raw), (off_t)img->geo.virtual_disk_size) != 0)
        check(-1, "truncate raw", name);
    fclose(raw);
    free(buf);

    fprintf(manifest, "%s %s %u %d %s ", name, type_names[img->type],
            img->geo.logical_sector_size, qemu, parent != NULL ? parent : "-");
    if (ranges == &all)
        fprintf(manifest, "all");
    else
        print_ranges(ranges, nranges);
    fprintf(manifest, " ");
    if (vranges == NULL)
        fprintf(manifest, "=");
    else
        print_ranges(vranges, nvranges);
    fprintf(manifest, "\n");
}

static int build(const struct ib_params *p, struct ib_image *img, const char *name)
{
    int rc = ib_build(p, img);
    check(rc, "ib_build", name);
    return rc;
}

static struct guid guid_n(uint8_t n)
{
    struct guid g = {{0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 0}};
    g.b[15] = n;
    return g;
}

/* A base image with some blocks written, for qemu and libvhdi. */
static void simple(const char *name, int type, uint64_t size, uint32_t bs, uint32_t lss,
                   uint32_t pss, int layout, uint32_t log_length)
{
    struct ib_params p = {0};
    struct ib_image img;
    p.type = type;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    p.physical_sector_size = pss;
    p.layout = layout;
    p.log_length = log_length;
    if (build(&p, &img, name) != 0)
        return;
    pattern(&img, name, 0, 4096);                       /* the first sectors */
    pattern(&img, name, bs - 1000, 3000);               /* across the first block boundary */
    pattern(&img, name, size / 2 + 512, 70000);         /* the middle, unaligned length */
    pattern(&img, name, size - (lss ? lss : 512), lss ? lss : 512); /* the last sector */
    emit(&img, name, NULL, NULL, 0, NULL, 0);
    ib_free(&img);
}

/* Dynamic image with blocks in every state a reader must accept. */
static void states(const char *name, uint32_t lss)
{
    struct ib_params p = {0};
    struct ib_image img;
    uint64_t off;
    p.type = IB_DYNAMIC;
    p.virtual_size = 12 * MIB;
    p.block_size = (uint32_t)MIB;
    p.logical_sector_size = lss;
    if (build(&p, &img, name) != 0)
        return;
    pattern(&img, name, 0, 12 * MIB); /* every block present */
    check(ib_set_block_state(&img, 1, BAT_PAYLOAD_NOT_PRESENT, 0), "state", name);
    check(ib_set_block_state(&img, 3, BAT_PAYLOAD_ZERO, 0), "state", name);
    check(ib_set_block_state(&img, 5, BAT_PAYLOAD_UNMAPPED, 0), "state", name);
    check(ib_set_block_state(&img, 7, BAT_PAYLOAD_UNDEFINED, 0), "state", name);
    /* A block whose old bytes are still in the file but marked ZERO (offset 0). */
    check(ib_alloc_space(&img, MIB, &off), "alloc", name);
    emit(&img, name, NULL, NULL, 0, NULL, 0);
    ib_free(&img);
}

/* Parent + differencing child (+ grandchild when depth 3). */
static void chain(const char *prefix, uint32_t lss, uint32_t bs, uint64_t size, int base_type,
                  int depth, int zero_block_in_child)
{
    struct ib_params p = {0};
    struct ib_image base, child, grand;
    char n0[64], n1[64], n2[64];
    uint64_t sec = lss;

    snprintf(n0, sizeof(n0), "%s_base", prefix);
    snprintf(n1, sizeof(n1), "%s_child", prefix);
    snprintf(n2, sizeof(n2), "%s_grandchild", prefix);

    p.type = base_type;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    p.data_write_guid = guid_n(1);
    p.virtual_disk_id = guid_n(9);
    if (build(&p, &base, n0) != 0)
        return;
    pattern(&base, n0, 0, (size_t)(size < 8 * MIB ? size : 8 * MIB));
    pattern(&base, n0, size - 3 * bs / 2, (size_t)bs);

    memset(&p, 0, sizeof(p));
    p.type = IB_DIFFERENCING;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    p.data_write_guid = guid_n(2);
    p.virtual_disk_id = guid_n(9);
    p.parent = &base;
    {
        char rel[80];
        snprintf(rel, sizeof(rel), "%s.vhdx", n0);
        p.relative_path = rel;
        if (build(&p, &child, n1) != 0) {
            ib_free(&base);
            return;
        }
    }
    /* Single sectors, runs, a partial sector, a whole block, across a block boundary. */
    pattern(&child, n1, 0, (size_t)sec);
    pattern(&child, n1, 5 * sec, (size_t)(3 * sec));
    pattern(&child, n1, 20 * sec + 100, 50);
    pattern(&child, n1, bs - 2 * sec, (size_t)(4 * sec));
    pattern(&child, n1, 2ull * bs, bs);                 /* every bit of block 2 */
    pattern(&child, n1, size - sec, (size_t)sec);       /* the last sector */
    if (zero_block_in_child)
        check(ib_set_block_state(&child, 0, BAT_PAYLOAD_ZERO, 0), "state", n1);

    if (depth >= 3) {
        char rel[80];
        memset(&p, 0, sizeof(p));
        p.type = IB_DIFFERENCING;
        p.virtual_size = size;
        p.block_size = bs;
        p.logical_sector_size = lss;
        p.data_write_guid = guid_n(3);
        p.virtual_disk_id = guid_n(9);
        p.parent = &child;
        snprintf(rel, sizeof(rel), "%s.vhdx", n1);
        p.relative_path = rel;
        if (build(&p, &grand, n2) == 0) {
            pattern(&grand, n2, 4 * sec, (size_t)(4 * sec));
            pattern(&grand, n2, bs + 7 * sec, (size_t)sec);
            emit(&grand, n2, n1, NULL, 0, NULL, 0);
            ib_free(&grand);
        }
    }
    emit(&base, n0, NULL, NULL, 0, NULL, 0);
    if (zero_block_in_child) {
        /*
         * libvhdi 20210425 reads a ZERO block of a differencing image through
         * the sector bitmap (parent where a bit is 0, and file offset 0, the
         * file identifier, where a bit is 1) instead of returning zeros
         * (VHDX-FORMAT.md §7.2: ZERO reads MUST return zeros). It is compared
         * past block 0 only.
         */
        struct range past = {bs, size - bs};
        emit(&child, n1, n0, NULL, 0, &past, 1);
    } else {
        emit(&child, n1, n0, NULL, 0, NULL, 0);
    }
    ib_free(&child);
    ib_free(&base);
}

/*
 * Disks larger than one chunk: an SB slot sits inside the BAT and blocks
 * after it are mapped through slot block + 1 (§7.4).
 */
static void big(const char *name, int type, uint32_t lss, uint32_t bs, uint64_t size)
{
    struct ib_params p = {0};
    struct ib_image img;
    uint64_t chunk = (1ull << 23) * lss;
    uint64_t cr = chunk / bs;
    struct range r[4], vr[2];
    p.type = type;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    if (build(&p, &img, name) != 0)
        return;
    pattern(&img, name, 0, 8192);
    if (size >= cr * bs + 4096) /* the last block of chunk 0 into chunk 1 */
        pattern(&img, name, cr * bs - 4096, 8192);
    else
        pattern(&img, name, cr * bs - 8192, 8192);
    pattern(&img, name, size - 4096, 4096);               /* the last block */
    r[0] = (struct range){0, MIB};
    /* Across the chunk boundary (when the disk goes past it). */
    r[1] = (struct range){cr * bs - MIB, size > cr * bs ? 2 * MIB : MIB};
    r[2] = (struct range){size - MIB, MIB};
    r[3] = (struct range){size / 3 / MIB * MIB, MIB};
    vr[0] = r[0];
    vr[1] = r[3];
    /*
     * libvhdi 20210425 indexes the BAT of a fixed disk without the SB slots
     * (VHDX-FORMAT.md §11.2 item 19), so past the first chunk it reads the
     * wrong entries; it is compared on the first chunk only.
     */
    emit(&img, name, NULL, r, 4, type == IB_FIXED ? vr : NULL, 2);
    ib_free(&img);
}

/* A differencing child of a big dynamic parent: sector bitmaps of chunk 0 and chunk 1. */
static void big_chain(const char *prefix, uint32_t lss, uint32_t bs, uint64_t size)
{
    struct ib_params p = {0};
    struct ib_image base, child;
    char n0[64], n1[64], rel[80];
    uint64_t cr = (1ull << 23) * lss / bs;
    struct range r[3];

    snprintf(n0, sizeof(n0), "%s_base", prefix);
    snprintf(n1, sizeof(n1), "%s_child", prefix);
    p.type = IB_DYNAMIC;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    p.data_write_guid = guid_n(0x21);
    if (build(&p, &base, n0) != 0)
        return;
    pattern(&base, n0, (cr - 1) * bs, 2ull * bs <= size - (cr - 1) * bs ? 2ull * bs : bs);
    memset(&p, 0, sizeof(p));
    p.type = IB_DIFFERENCING;
    p.virtual_size = size;
    p.block_size = bs;
    p.logical_sector_size = lss;
    p.data_write_guid = guid_n(0x22);
    p.parent = &base;
    snprintf(rel, sizeof(rel), "%s.vhdx", n0);
    p.relative_path = rel;
    if (build(&p, &child, n1) != 0) {
        ib_free(&base);
        return;
    }
    pattern(&child, n1, (cr - 1) * bs + 3 * lss, lss);  /* chunk 0's SB block */
    pattern(&child, n1, cr * bs + 5 * lss, 2ull * lss); /* chunk 1's SB block */
    r[0] = (struct range){(cr - 1) * bs, MIB};
    r[1] = (struct range){cr * bs - MIB, 2 * MIB};
    r[2] = (struct range){size - MIB, MIB};
    emit(&base, n0, NULL, r, 3, NULL, 0);
    emit(&child, n1, n0, r, 3, NULL, 0);
    ib_free(&child);
    ib_free(&base);
}

int main(int argc, char **argv)
{
    char path[4096];
    if (argc != 2) {
        fprintf(stderr, "usage: ib_make OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    snprintf(path, sizeof(path), "%s/manifest", outdir);
    manifest = fopen(path, "w");
    if (manifest == NULL) {
        perror(path);
        return 1;
    }

    /* 512-byte sectors: qemu-img and libvhdi. */
    simple("fixed_bs1_8m_qemu", IB_FIXED, 8 * MIB, (uint32_t)MIB, 512, 512, IB_LAYOUT_QEMU, 0);
    simple("fixed_bs2_partial_ovmm", IB_FIXED, 21 * MIB + 512, 2 * (uint32_t)MIB, 512, 4096,
           IB_LAYOUT_OPENVMM, 0);
    simple("fixed_bs32_100m_qemu", IB_FIXED, 100 * MIB, 32 * (uint32_t)MIB, 512, 512,
           IB_LAYOUT_QEMU, 0);
    simple("dyn_bs1_8m_ovmm", IB_DYNAMIC, 8 * MIB, (uint32_t)MIB, 512, 512, IB_LAYOUT_OPENVMM, 0);
    simple("dyn_bs2_50m_qemu_log2m", IB_DYNAMIC, 50 * MIB, 2 * (uint32_t)MIB, 512, 512,
           IB_LAYOUT_QEMU, 2 * (uint32_t)MIB);
    simple("dyn_bs32_partial_ovmm_pss4k", IB_DYNAMIC, 100 * MIB + 512, 32 * (uint32_t)MIB, 512,
           4096, IB_LAYOUT_OPENVMM, 0);
    simple("dyn_bs256_300m_qemu", IB_DYNAMIC, 300 * MIB, 256 * (uint32_t)MIB, 512, 512,
           IB_LAYOUT_QEMU, 0);
    simple("fixed_bs256_partial_ovmm", IB_FIXED, 260 * MIB, 256 * (uint32_t)MIB, 512, 512,
           IB_LAYOUT_OPENVMM, 3 * (uint32_t)MIB);
    states("dyn_states_512", 512);

    /* 4096-byte sectors: libvhdi only. */
    simple("fixed4k_bs1_16m_qemu", IB_FIXED, 16 * MIB, (uint32_t)MIB, 4096, 4096, IB_LAYOUT_QEMU,
           0);
    simple("dyn4k_bs32_partial_ovmm", IB_DYNAMIC, 100 * MIB + 4096, 32 * (uint32_t)MIB, 4096,
           4096, IB_LAYOUT_OPENVMM, 0);
    simple("dyn4k_pss512_bs2_24m", IB_DYNAMIC, 24 * MIB, 2 * (uint32_t)MIB, 4096, 512,
           IB_LAYOUT_QEMU, 0);
    simple("fixed4k_bs256_300m_ovmm", IB_FIXED, 300 * MIB, 256 * (uint32_t)MIB, 4096, 4096,
           IB_LAYOUT_OPENVMM, 0);
    states("dyn4k_states", 4096);

    /* Differencing chains: libvhdi only (qemu-img 7.2 refuses HasParent). */
    chain("diff512", 512, 2 * (uint32_t)MIB, 24 * MIB, IB_DYNAMIC, 3, 0);
    chain("diff512_fixedbase", 512, (uint32_t)MIB, 16 * MIB + 512, IB_FIXED, 2, 0);
    chain("diff4k", 4096, (uint32_t)MIB, 16 * MIB, IB_DYNAMIC, 3, 0);
    chain("diff512_zero", 512, (uint32_t)MIB, 8 * MIB, IB_DYNAMIC, 2, 1);

    /* Larger than one chunk (sparse). */
    big("big_dyn_chunk_plus1", IB_DYNAMIC, 512, 32 * (uint32_t)MIB, 4 * GIB + 32 * MIB);
    big("big_dyn_one_chunk", IB_DYNAMIC, 512, 256 * (uint32_t)MIB, 4 * GIB);
    big("big_fixed_chunk_plus1", IB_FIXED, 512, 256 * (uint32_t)MIB, 4 * GIB + 256 * MIB);
    big("big4k_dyn_chunk_plus1", IB_DYNAMIC, 4096, 256 * (uint32_t)MIB, 32 * GIB + 256 * MIB);
    big_chain("big_diff512", 512, 32 * (uint32_t)MIB, 4 * GIB + 64 * MIB);

    fclose(manifest);
    return failures != 0;
}
