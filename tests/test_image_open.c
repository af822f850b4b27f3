/*
 * The image layer (src/image): one test per rule of the open and check
 * path, each breaking exactly that rule in an otherwise valid image built
 * by tests/image_builder, plus read semantics of every payload state,
 * 4096-byte sectors, differencing chains and the allocation map.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/endian.h"
#include "format/constants.h"
#include "dirty_images.h"
#include "format/parent_locator.h"
#include "image_builder.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)

/* ---- Collecting findings through the public on_diag callback ---- */

static struct test_sink ts;

static vhdx_open_options opts(void)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.on_diag = test_sink_collect;
    o.diag_ctx = &ts;
    return o;
}

static vhdx_status open_with(const struct ib_image *img, const vhdx_open_options *o,
                             vhdx_image **out)
{
    vhdx_io io;
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(img->data, img->len, &io), VHDX_OK);
    return vhdx_open(&io, o, out);
}

static vhdx_status open_img(const struct ib_image *img, vhdx_image **out)
{
    vhdx_open_options o = opts();
    return open_with(img, &o, out);
}

static vhdx_status check_img(const struct ib_image *img, vhdx_check_result *r)
{
    vhdx_open_options o = opts();
    vhdx_io io;
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(img->data, img->len, &io), VHDX_OK);
    return vhdx_check(&io, &o, r);
}

/* Opening must fail with `code`, and check must report `rule` as an error. */
static void expect_open_error(const struct ib_image *img, vhdx_status code, const char *rule)
{
    vhdx_image *h = NULL;
    vhdx_check_result r;
    assert_status(open_img(img, &h), code);
    assert_null(h);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, code, rule);
    assert_status(check_img(img, &r), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, code, rule);
    assert_true(r.errors > 0);
}

static void build(struct ib_image *img, int type, uint64_t size, uint32_t block_size)
{
    struct ib_params p;
    memset(&p, 0, sizeof(p));
    p.type = type;
    p.virtual_size = size;
    p.block_size = block_size;
    assert_int_equal(ib_build(&p, img), 0);
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 13u + (i >> 9));
}

/* Reads the whole disk through the library and compares with the builder's model. */
static void assert_reads_like_model(vhdx_image *h, const struct ib_image *img)
{
    static uint8_t got[1u << 20], want[1u << 20];
    uint64_t size = img->vds.size;
    for (uint64_t off = 0; off < size; off += sizeof(got)) {
        size_t n = size - off < sizeof(got) ? (size_t)(size - off) : sizeof(got);
        assert_status(vhdx_read(h, off, got, n), VHDX_OK);
        assert_int_equal(ib_expected_read(img, off, n, want), 0);
        assert_memory_equal(got, want, n);
    }
}

/* ---- Valid images ---- */

static void test_open_valid_dynamic_reads_like_model(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    vhdx_info info;
    uint8_t data[3 * 4096];
    (void)state;
    build(&img, IB_DYNAMIC, 64 * MiB, (uint32_t)(8 * MiB));
    fill(data, sizeof(data), 1);
    assert_int_equal(ib_write(&img, 8 * MiB - 4096, data, sizeof(data)), 0);
    assert_int_equal(ib_write(&img, 40 * MiB + 512, data, 1000), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DYNAMIC);
    assert_int_equal(info.virtual_size, 64 * MiB);
    assert_int_equal(info.block_size, 8 * MiB);
    assert_int_equal(info.blocks_allocated, 3);
    assert_int_equal(info.current_header, 2);
    assert_reads_like_model(h, &img);
    vhdx_close(h);
    ib_free(&img);
}

static void test_open_valid_fixed_4k_sectors_partial_last_block(void **state)
{
    struct ib_params p;
    struct ib_image img;
    vhdx_image *h;
    vhdx_info info;
    uint8_t data[8192];
    (void)state;
    memset(&p, 0, sizeof(p));
    p.type = IB_FIXED;
    p.virtual_size = 5 * MiB + 4096; /* the last 2 MiB block is mostly past the disk */
    p.block_size = (uint32_t)(2 * MiB);
    p.logical_sector_size = 4096;
    p.physical_sector_size = 4096;
    assert_int_equal(ib_build(&p, &img), 0);
    fill(data, sizeof(data), 7);
    assert_int_equal(ib_write(&img, 5 * MiB - 4096, data, sizeof(data)), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_FIXED);
    assert_int_equal(info.logical_sector_size, 4096);
    assert_reads_like_model(h, &img);
    /* One byte past the disk is out of range. */
    assert_status(vhdx_read(h, 5 * MiB + 4096, data, 1), VHDX_E_RANGE);
    assert_status(vhdx_read(h, 5 * MiB, data, 4097), VHDX_E_RANGE);
    vhdx_close(h);
    ib_free(&img);
}

static void test_read_every_payload_state(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    uint8_t data[4096], got[4096], zeros[4096];
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    fill(data, sizeof(data), 3);
    memset(zeros, 0, sizeof(zeros));
    for (uint64_t b = 0; b < 4; b++)
        assert_int_equal(ib_write(&img, b * MiB, data, sizeof(data)), 0);
    /* Blocks 1-3 keep their data in the file, but their states say "zeros". */
    {
        uint64_t raw;
        assert_int_equal(ib_get_block_entry(&img, 1, &raw), 0);
        assert_int_equal(ib_set_block_state(&img, 1, BAT_PAYLOAD_UNDEFINED, raw >> 20), 0);
        assert_int_equal(ib_get_block_entry(&img, 2, &raw), 0);
        assert_int_equal(ib_set_block_state(&img, 2, BAT_PAYLOAD_UNMAPPED, raw >> 20), 0);
        assert_int_equal(ib_set_block_state(&img, 3, BAT_PAYLOAD_ZERO, 0), 0);
    }
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(got)); /* FULLY_PRESENT */
    for (uint64_t b = 1; b < 5; b++) {
        assert_status(vhdx_read(h, b * MiB, got, sizeof(got)), VHDX_OK);
        assert_memory_equal(got, zeros, sizeof(got)); /* UNDEFINED, UNMAPPED, ZERO, NOT_PRESENT */
    }
    vhdx_close(h);
    ib_free(&img);
}

static void test_map_reports_runs(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    vhdx_extent e;
    uint8_t data[4096];
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    fill(data, sizeof(data), 9);
    assert_int_equal(ib_write(&img, 2 * MiB, data, sizeof(data)), 0);
    assert_int_equal(ib_write(&img, 3 * MiB, data, sizeof(data)), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_status(vhdx_map_next(h, 0, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_ZERO);
    assert_int_equal(e.length, 2 * MiB);
    assert_status(vhdx_map_next(h, 2 * MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.length, 2 * MiB); /* blocks 2 and 3 are adjacent in the file */
    assert_status(vhdx_map_next(h, 4 * MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_ZERO);
    assert_int_equal(e.offset + e.length, 8 * MiB);
    assert_status(vhdx_map_next(h, 8 * MiB, &e), VHDX_E_RANGE);
    vhdx_close(h);
    ib_free(&img);
}

/* ---- Differencing chains through a caller-supplied opener ---- */

struct chain_files {
    const struct ib_image *by_name[4];
    const char *names[4];
    vhdx_status refuse_with;
};

static vhdx_status memory_opener(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct chain_files *cf = ctx;
    (void)key;
    if (cf->refuse_with != VHDX_OK)
        return cf->refuse_with;
    for (int i = 0; i < 4; i++) {
        if (cf->names[i] != NULL && strcmp(cf->names[i], path) == 0)
            return vhdx_io_from_memory(cf->by_name[i]->data, cf->by_name[i]->len, out);
    }
    return VHDX_E_MISSING;
}

/* The opener's files: `name` opens as `img`, and nothing else until chain_add. */
static void chain_set(struct chain_files *cf, const char *name, const struct ib_image *img)
{
    memset(cf, 0, sizeof(*cf));
    cf->names[0] = name;
    cf->by_name[0] = img;
}

static void chain_add(struct chain_files *cf, const char *name, const struct ib_image *img)
{
    size_t i = 0;
    while (i < 4 && cf->names[i] != NULL)
        i++;
    assert_true(i < 4);
    cf->names[i] = name;
    cf->by_name[i] = img;
}

/* Opens `child` with `parent` found as "parent.vhdx"; the open must succeed. */
static vhdx_image *open_child_of(const struct ib_image *child, const struct ib_image *parent)
{
    struct chain_files cf;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    chain_set(&cf, "parent.vhdx", parent);
    o.open_parent = memory_opener;
    o.open_parent_ctx = &cf;
    assert_status(open_with(child, &o, &h), VHDX_OK);
    return h;
}

/*
 * Another dynamic image of `size` bytes with 1 MiB blocks and `lss`-byte
 * sectors (0: the builder's default) that carries the DataWriteGuid of
 * `parent`, so a child of `parent` links to it.
 */
static void build_linked_parent(struct ib_image *out, const struct ib_image *parent, uint64_t size,
                           uint32_t lss)
{
    struct ib_params p;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = size;
    p.block_size = (uint32_t)MiB;
    p.logical_sector_size = lss;
    p.data_write_guid = parent->header.data_write_guid;
    assert_int_equal(ib_build(&p, out), 0);
}

static void build_child(struct ib_image *child, const struct ib_image *parent, const char *rel)
{
    static const uint8_t d4[8] = {0xC1, 0x1D, 0, 0, 0, 0, 0, 0};
    static uint32_t serial = 1;
    struct ib_params p;
    memset(&p, 0, sizeof(p));
    /* Every child gets GUIDs of its own, as a real writer gives it. */
    p.file_write_guid = guid_make(0xF11E0000u + serial, 1, 2, d4);
    p.data_write_guid = guid_make(0xDA7A0000u + serial, 1, 2, d4);
    serial++;
    p.type = IB_DIFFERENCING;
    p.virtual_size = parent->vds.size;
    p.block_size = parent->fp.block_size;
    p.logical_sector_size = parent->lss.size;
    p.physical_sector_size = parent->pss.size;
    p.parent = parent;
    p.relative_path = rel;
    assert_int_equal(ib_build(&p, child), 0);
}

/* A writable back end over a copy of a file that counts what reaches it. */
struct rw_file {
    uint8_t *data;
    size_t len;
    unsigned writes, truncates;
};

static vhdx_status rw_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct rw_file *f = ctx;
    size_t n = off >= f->len ? 0 : (f->len - (size_t)off < len ? f->len - (size_t)off : len);
    if (n > 0)
        memcpy(buf, f->data + off, n);
    *got = n;
    return VHDX_OK;
}

static vhdx_status rw_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct rw_file *f = ctx;
    f->writes++;
    if (off > f->len || len > f->len - off)
        return VHDX_E_IO; /* these tests never grow a file */
    memcpy(f->data + off, buf, len);
    return VHDX_OK;
}

static vhdx_status rw_flush(void *ctx)
{
    (void)ctx;
    return VHDX_OK;
}

static vhdx_status rw_size(void *ctx, uint64_t *size)
{
    *size = ((struct rw_file *)ctx)->len;
    return VHDX_OK;
}

static vhdx_status rw_truncate(void *ctx, uint64_t size)
{
    struct rw_file *f = ctx;
    f->truncates++;
    return size == f->len ? VHDX_OK : VHDX_E_IO;
}

static vhdx_io rw_io(struct rw_file *f, const struct ib_image *img)
{
    vhdx_io io = {f, rw_read, rw_write, rw_flush, rw_size, rw_truncate, NULL, NULL};
    f->data = malloc(img->len);
    assert_non_null(f->data);
    memcpy(f->data, img->data, img->len);
    f->len = img->len;
    f->writes = f->truncates = 0;
    return io;
}

struct rw_parent {
    const struct ib_image *img;
    struct rw_file file;
    unsigned opened;
};

static vhdx_status rw_opener(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct rw_parent *p = ctx;
    (void)key;
    if (strcmp(path, "parent.vhdx") != 0)
        return VHDX_E_MISSING;
    p->opened++;
    *out = rw_io(&p->file, p->img);
    return VHDX_OK;
}

/*
 * A parent is only ever read, even when the child is opened writable and
 * the caller's opener hands back a writable back end: a dirty log in the
 * parent replays in memory, never into the parent's file.
 */
static void test_parent_opened_read_only_under_writable_child(void **state)
{
    struct dirty_image d;
    struct ib_image child;
    struct rw_parent rp;
    struct rw_file cf;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    vhdx_info info;
    vhdx_io io;
    uint8_t *buf;
    int shape;
    (void)state;

    for (shape = 0; shape < dirty_count(); shape++) {
        assert_int_equal(dirty_build(shape, &d), 0);
        if (d.rule == NULL && d.img.type == IB_DYNAMIC)
            break;
        dirty_free(&d);
    }
    assert_true(shape < dirty_count());
    build_child(&child, &d.img, "parent.vhdx");
    memset(&rp, 0, sizeof(rp));
    rp.img = &d.img;
    o.flags = VHDX_OPEN_WRITABLE;
    o.open_parent = rw_opener;
    o.open_parent_ctx = &rp;
    io = rw_io(&cf, &child);
    test_sink_init(&ts);
    assert_status(vhdx_open(&io, &o, &h), VHDX_OK);
    assert_int_equal(rp.opened, 1);
    assert_int_equal(rp.file.writes, 0);
    assert_int_equal(rp.file.truncates, 0);
    assert_memory_equal(rp.file.data, d.img.data, d.img.len);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.chain_depth, 1);
    /* The child reads the parent's replayed view: its bytes after replay. */
    buf = malloc(d.img.len < info.virtual_size ? d.img.len : (size_t)info.virtual_size);
    assert_non_null(buf);
    assert_status(vhdx_read(h, 0, buf, 4096), VHDX_OK);
    {
        vhdx_image *ph = NULL;
        vhdx_io pio;
        uint8_t *pbuf = malloc(4096);
        vhdx_open_options po = opts();
        assert_non_null(pbuf);
        assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &pio), VHDX_OK);
        assert_status(vhdx_open(&pio, &po, &ph), VHDX_OK);
        assert_status(vhdx_read(ph, 0, pbuf, 4096), VHDX_OK);
        assert_memory_equal(buf, pbuf, 4096);
        vhdx_close(ph);
        free(pbuf);
    }
    vhdx_close(h);
    assert_int_equal(rp.file.writes, 0);
    assert_memory_equal(rp.file.data, d.img.data, d.img.len);
    free(buf);
    free(rp.file.data);
    free(cf.data);
    ib_free(&child);
    dirty_free(&d);
}

static void test_differencing_reads_through_sector_bitmap(void **state)
{
    struct ib_image parent, child;
    vhdx_image *h;
    vhdx_info info;
    uint8_t a[3 * MiB], b[5000];
    (void)state;
    build(&parent, IB_DYNAMIC, 16 * MiB, (uint32_t)MiB);
    fill(a, sizeof(a), 0x40);
    assert_int_equal(ib_write(&parent, MiB, a, sizeof(a)), 0);
    build_child(&child, &parent, "parent.vhdx");
    fill(b, sizeof(b), 0x90);
    assert_int_equal(ib_write(&child, MiB + 700, b, sizeof(b)), 0);   /* partial sectors */
    assert_int_equal(ib_write(&child, 3 * MiB - 512, b, 1024), 0);     /* across two blocks */
    h = open_child_of(&child, &parent);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DIFFERENCING);
    assert_int_equal(info.chain_depth, 1);
    assert_string_equal(info.parent_path, "parent.vhdx");
    assert_reads_like_model(h, &child);
    vhdx_close(h);
    ib_free(&child);
    ib_free(&parent);
}

/* The last, partial block of a differencing disk: sector runs end at the disk's end. */
static void test_map_partial_block_at_the_end_of_the_disk(void **state)
{
    struct ib_image parent, child;
    vhdx_image *h;
    vhdx_extent e;
    uint8_t d[512];
    uint64_t raw;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB + 1024, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    fill(d, sizeof(d), 0x71);
    assert_int_equal(ib_write(&child, 8 * MiB + 512, d, sizeof(d)), 0);
    assert_int_equal(ib_get_block_entry(&child, 8, &raw), 0);
    h = open_child_of(&child, &parent);
    assert_status(vhdx_map_next(h, 8 * MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_PARENT);
    assert_int_equal(e.offset, 8 * MiB);
    assert_int_equal(e.length, 512);
    assert_int_equal(e.bat_state, BAT_PAYLOAD_PARTIALLY_PRESENT);
    assert_status(vhdx_map_next(h, 8 * MiB + 512, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.length, 512);
    assert_int_equal(e.file_offset, (raw >> 20) * MiB + 512);
    assert_status(vhdx_map_next(h, 8 * MiB + 1024, &e), VHDX_E_RANGE);
    assert_reads_like_model(h, &child);
    vhdx_close(h);
    ib_free(&child);
    ib_free(&parent);
}

static void test_differencing_4k_sectors_chain_of_two(void **state)
{
    struct ib_params p;
    struct ib_image base, mid, top;
    struct chain_files cf;
    vhdx_open_options o = opts();
    vhdx_image *h;
    vhdx_info info;
    uint8_t d[3 * 4096];
    (void)state;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 12 * MiB;
    p.block_size = (uint32_t)MiB;
    p.logical_sector_size = 4096;
    assert_int_equal(ib_build(&p, &base), 0);
    fill(d, sizeof(d), 1);
    assert_int_equal(ib_write(&base, 0, d, sizeof(d)), 0);
    build_child(&mid, &base, "base.vhdx");
    fill(d, sizeof(d), 2);
    assert_int_equal(ib_write(&mid, 4096, d, 4096), 0);
    build_child(&top, &mid, "mid.vhdx");
    fill(d, sizeof(d), 3);
    assert_int_equal(ib_write(&top, 8192, d, 4096), 0);
    chain_set(&cf, "base.vhdx", &base);
    chain_add(&cf, "mid.vhdx", &mid);
    o.open_parent = memory_opener;
    o.open_parent_ctx = &cf;
    assert_status(open_with(&top, &o, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.chain_depth, 2);
    assert_reads_like_model(h, &top);
    vhdx_close(h);
    ib_free(&top);
    ib_free(&mid);
    ib_free(&base);
}

static void test_parent_not_opened_without_opener_is_info(void **state)
{
    struct ib_image parent, child;
    vhdx_image *h;
    uint8_t buf[512];
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    assert_status(open_img(&child, &h), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "image.parent.not_opened");
    /* A read that needs the parent fails rather than inventing zeros. */
    assert_status(vhdx_read(h, 0, buf, sizeof(buf)), VHDX_E_MISSING);
    vhdx_close(h);
    ib_free(&child);
    ib_free(&parent);
}

static void open_child_with(const struct ib_image *child, struct chain_files *cf,
                            const vhdx_limits *limits, vhdx_status expect, const char *rule,
                            vhdx_severity sev)
{
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    o.open_parent = memory_opener;
    o.open_parent_ctx = cf;
    o.limits = limits;
    assert_status(open_with(child, &o, &h), expect);
    assert_diag(&ts, sev, sev == VHDX_SEVERITY_WARNING ? VHDX_E_RANGE : expect, rule);
    vhdx_close(h);
}

static void test_parent_linkage_mismatch(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    /* The parent changed after the child was made: a new DataWriteGuid. */
    parent.header.data_write_guid.b[0] ^= 1;
    assert_int_equal(ib_refresh(&parent), 0);
    chain_set(&cf, "parent.vhdx", &parent);
    open_child_with(&child, &cf, NULL, VHDX_E_CORRUPT, "image.parent.linkage_mismatch",
                    VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&parent);
}

static void test_parent_sector_size_mismatch(void **state)
{
    struct ib_image parent, other, child;
    struct chain_files cf;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    /* Another image with 4096-byte sectors but the same DataWriteGuid. */
    build_linked_parent(&other, &parent, 8 * MiB, 4096);
    chain_set(&cf, "parent.vhdx", &other);
    open_child_with(&child, &cf, NULL, VHDX_E_CORRUPT, "image.parent.sector_size_mismatch",
                    VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&other);
    ib_free(&parent);
}

static void test_parent_size_mismatch_warns(void **state)
{
    struct ib_image parent, bigger, child;
    vhdx_image *h;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    build_linked_parent(&bigger, &parent, 16 * MiB, 0);
    h = open_child_of(&child, &bigger);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "image.parent.size_mismatch");
    vhdx_close(h);
    ib_free(&child);
    ib_free(&bigger);
    ib_free(&parent);
}

/* A parent smaller than its child (a warning) reads as zeros past its end (§7.2 is silent). */
static void test_parent_smaller_reads_zeros_past_its_end(void **state)
{
    struct ib_image parent, smaller, child;
    vhdx_image *h;
    static uint8_t pdata[4 * MiB + 1536], got[8 * MiB], want[8 * MiB];
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    /* A parent of 4 MiB and three sectors with the DataWriteGuid the child links to. */
    build_linked_parent(&smaller, &parent, sizeof(pdata), 0);
    fill(pdata, sizeof(pdata), 0x33);
    assert_int_equal(ib_write(&smaller, 0, pdata, sizeof(pdata)), 0);
    h = open_child_of(&child, &smaller);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "image.parent.size_mismatch");
    memset(want, 0, sizeof(want));
    memcpy(want, pdata, sizeof(pdata));
    /* One read across the parent's end, one wholly past it, and the whole disk. */
    assert_status(vhdx_read(h, 4 * MiB - 1024, got, 4096), VHDX_OK);
    assert_memory_equal(got, want + 4 * MiB - 1024, 4096);
    assert_status(vhdx_read(h, 6 * MiB, got, 4096), VHDX_OK);
    assert_memory_equal(got, want + 6 * MiB, 4096);
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, want, sizeof(got));
    vhdx_close(h);
    ib_free(&child);
    ib_free(&smaller);
    ib_free(&parent);
}

/* Replaces a child's parent locator item with one built from these pairs. */
static void set_locator(struct ib_image *child, const struct parent_locator_kv *kv, size_t n)
{
    struct metadata_entry *e = NULL;
    size_t len = 0;
    free(child->locator);
    child->locator = malloc(4096);
    assert_non_null(child->locator);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, kv, n, child->locator, 4096,
                                       &len),
                  VHDX_OK);
    child->locator_len = len;
    for (uint32_t i = 0; i < child->mt.entry_count; i++)
        if (guid_equal(&child->mt.entries[i].item_id, &VHDX_GUID_PARENT_LOCATOR))
            e = &child->mt.entries[i];
    assert_non_null(e);
    e->length = (uint32_t)len;
    assert_int_equal(ib_refresh(child), 0);
}

/*
 * §5.4.6: the parent's DataWriteGuid may match parent_linkage2 instead of
 * parent_linkage (a parent changed while the child's link was updated).
 */
static void test_parent_linkage2_matches_when_parent_linkage_does_not(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    vhdx_image *h;
    char text[GUID_TEXT_SIZE + 2];
    struct parent_locator_kv kv[3] = {
        {"parent_linkage", "{00000000-1111-2222-3333-444444444444}"},
        {"parent_linkage2", text},
        {"relative_path", "parent.vhdx"},
    };
    uint8_t d[4096], got[4096];
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    fill(d, sizeof(d), 0x21);
    assert_int_equal(ib_write(&parent, 3 * MiB, d, sizeof(d)), 0);
    build_child(&child, &parent, "parent.vhdx");
    guid_to_text_braced_lower(&parent.header.data_write_guid, text);
    set_locator(&child, kv, 3);
    h = open_child_of(&child, &parent);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT,
                     "parent_locator.parent_linkage2.present");
    assert_status(vhdx_read(h, 3 * MiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, d, sizeof(d));
    vhdx_close(h);
    /* Neither matching: refused, naming parent_linkage's GUID. */
    kv[1].value = "{55555555-1111-2222-3333-444444444444}";
    set_locator(&child, kv, 3);
    chain_set(&cf, "parent.vhdx", &parent);
    open_child_with(&child, &cf, NULL, VHDX_E_CORRUPT, "image.parent.linkage_mismatch",
                    VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&parent);
}

static void test_parent_not_found(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    memset(&cf, 0, sizeof(cf));
    open_child_with(&child, &cf, NULL, VHDX_E_MISSING, "image.parent.not_found",
                    VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&parent);
}

static void test_parent_refused_by_opener(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    memset(&cf, 0, sizeof(cf));
    cf.refuse_with = VHDX_E_INVALID_ARG;
    o.open_parent = memory_opener;
    o.open_parent_ctx = &cf;
    assert_status(open_with(&child, &o, &h), VHDX_E_MISSING);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_INVALID_ARG, "image.parent.refused");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "image.parent.not_found");
    ib_free(&child);
    ib_free(&parent);
}

static void test_parent_invalid(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    memcpy(parent.data, "vhdxfilX", 8);
    chain_set(&cf, "parent.vhdx", &parent);
    open_child_with(&child, &cf, NULL, VHDX_E_SIGNATURE, "image.parent.invalid",
                    VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&parent);
}

static void test_parent_depth_limit(void **state)
{
    struct ib_image base, mid, top;
    struct chain_files cf;
    vhdx_limits limits = vhdx_limits_default();
    (void)state;
    build(&base, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&mid, &base, "base.vhdx");
    build_child(&top, &mid, "mid.vhdx");
    chain_set(&cf, "base.vhdx", &base);
    chain_add(&cf, "mid.vhdx", &mid);
    limits.max_parent_depth = 1;
    open_child_with(&top, &cf, &limits, VHDX_E_LIMIT, "image.parent.depth", VHDX_SEVERITY_ERROR);
    /* The ceiling itself is allowed; one more is refused before anything is read. */
    {
        vhdx_open_options o = opts();
        vhdx_image *img = NULL;
        vhdx_io io;
        vhdx_info info;
        o.open_parent = memory_opener;
        o.open_parent_ctx = &cf;
        o.limits = &limits;
        limits.max_parent_depth = VHDX_MAX_PARENT_DEPTH;
        assert_status(open_with(&top, &o, &img), VHDX_OK);
        assert_status(vhdx_get_info(img, &info), VHDX_OK);
        assert_int_equal(info.chain_depth, 2);
        vhdx_close(img);
        img = (vhdx_image *)&o; /* must be set to NULL */
        limits.max_parent_depth = VHDX_MAX_PARENT_DEPTH + 1;
        assert_int_equal(vhdx_io_from_memory(top.data, top.len, &io), VHDX_OK);
        assert_int_equal(vhdx_open(&io, &o, &img), VHDX_E_INVALID_ARG);
        assert_null(img);
        assert_null(io.ctx); /* consumed: closed on failure */
    }
    ib_free(&top);
    ib_free(&mid);
    ib_free(&base);
}

static void test_parent_cycle(void **state)
{
    struct ib_image parent, child;
    struct chain_files cf;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "self.vhdx");
    /* The child names itself as its parent and links to its own DataWriteGuid. */
    chain_set(&cf, "self.vhdx", &child);
    open_child_with(&child, &cf, NULL, VHDX_E_CORRUPT, "image.parent.cycle", VHDX_SEVERITY_ERROR);
    ib_free(&child);
    ib_free(&parent);
}

/* ---- Chains opened by path: the built-in, confined parent resolution ---- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhdx-open-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void save_as(const struct ib_image *img, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    assert_int_equal(ib_save(img, path), 0);
}

static void test_open_path_resolves_relative_parent_and_reads(void **state)
{
    struct ib_image parent, child;
    char ppath[512], cpath[512];
    vhdx_open_options o = opts();
    vhdx_image *h;
    vhdx_info info;
    uint8_t d[4096];
    (void)state;
    make_tmpdir();
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    fill(d, sizeof(d), 5);
    assert_int_equal(ib_write(&parent, 2 * MiB, d, sizeof(d)), 0);
    /* Windows paths are normalised lexically: sub\..\base.vhdx is base.vhdx. */
    build_child(&child, &parent, "sub\\..\\base.vhdx");
    /* Both files deliberately share a FileWriteGuid: real paths tell them apart. */
    child.header.file_write_guid = parent.header.file_write_guid;
    assert_int_equal(ib_refresh(&child), 0);
    assert_int_equal(ib_write(&child, 2 * MiB + 512, d, 512), 0);
    save_as(&parent, "base.vhdx", ppath, sizeof(ppath));
    save_as(&child, "child.vhdx", cpath, sizeof(cpath));
    test_sink_init(&ts);
    assert_status(vhdx_open_path(cpath, &o, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_string_equal(info.parent_path, ppath);
    assert_reads_like_model(h, &child);
    vhdx_close(h);
    unlink(ppath);
    unlink(cpath);
    rmdir(tmpdir);
    ib_free(&child);
    ib_free(&parent);
}

static void test_open_path_cycle_by_real_path(void **state)
{
    struct ib_image parent, child;
    char cpath[512];
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    make_tmpdir();
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "self.vhdx");
    /* It links to its own DataWriteGuid and names itself. */
    child.header.data_write_guid = parent.header.data_write_guid;
    assert_int_equal(ib_refresh(&child), 0);
    save_as(&child, "self.vhdx", cpath, sizeof(cpath));
    test_sink_init(&ts);
    assert_status(vhdx_open_path(cpath, &o, &h), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "image.parent.cycle");
    unlink(cpath);
    rmdir(tmpdir);
    ib_free(&child);
    ib_free(&parent);
}

static void test_open_path_refuses_parent_outside_directory(void **state)
{
    struct ib_image parent, child;
    char ppath[512], cpath[512], sub[600];
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    make_tmpdir();
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "..\\base.vhdx");
    save_as(&parent, "base.vhdx", ppath, sizeof(ppath));
    snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    assert_int_equal(mkdir(sub, 0700), 0);
    save_as(&child, "sub/child.vhdx", cpath, sizeof(cpath));
    test_sink_init(&ts);
    assert_status(vhdx_open_path(cpath, &o, &h), VHDX_E_MISSING);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_INVALID_ARG, "image.parent.refused");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "image.parent.not_found");
    unlink(cpath);
    unlink(ppath);
    rmdir(sub);
    rmdir(tmpdir);
    ib_free(&child);
    ib_free(&parent);
}

/* vhdx_check_path: the verdict of a file by name, and the files it cannot judge. */
static void test_check_path_judges_files_by_name(void **state)
{
    struct ib_image img;
    char good[512], bad[512], missing[512];
    vhdx_open_options o = opts();
    vhdx_check_result r;
    (void)state;
    make_tmpdir();
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    save_as(&img, "good.vhdx", good, sizeof(good));
    img.data[VHDX_HEADER1_OFFSET + 200] ^= 1;
    img.data[VHDX_HEADER2_OFFSET + 200] ^= 1;
    save_as(&img, "bad.vhdx", bad, sizeof(bad));
    snprintf(missing, sizeof(missing), "%s/none.vhdx", tmpdir);

    test_sink_init(&ts);
    assert_status(vhdx_check_path(good, &o, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 0);
    assert_status(r.first_error, VHDX_OK);
    test_sink_init(&ts);
    assert_status(vhdx_check_path(bad, &o, &r), VHDX_OK);
    /* Both headers fail their checksums: the first error found is the first checksum. */
    assert_int_equal(r.errors, 3);
    assert_status(r.first_error, VHDX_E_CHECKSUM);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "image.header.none_valid");
    assert_status(vhdx_check_path(missing, &o, &r), VHDX_E_MISSING);
    /* A directory is not a regular file: it cannot be judged. */
    assert_status(vhdx_check_path(tmpdir, &o, &r), VHDX_E_IO);
    assert_status(vhdx_check_path(NULL, &o, &r), VHDX_E_INVALID_ARG);
    assert_status(vhdx_check_path(good, &o, NULL), VHDX_E_INVALID_ARG);
    unlink(good);
    unlink(bad);
    rmdir(tmpdir);
    ib_free(&img);
}

/* ---- File, header and log rules ---- */

static void test_file_too_small(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_resize(&img, MiB - 512), 0);
    expect_open_error(&img, VHDX_E_TRUNCATED, "image.file.too_small");
    /* A short file that is not VHDX at all says so. */
    memcpy(img.data, "not vhdx", 8);
    expect_open_error(&img, VHDX_E_SIGNATURE, "file_identifier.signature");
    ib_free(&img);
}

/* A back end whose size() claims more than its read() delivers, or that fails. */
struct lying_io {
    const struct ib_image *img;
    uint64_t claimed;
    uint64_t fail_reads_from;
};

static vhdx_status lying_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct lying_io *l = ctx;
    if (off >= l->fail_reads_from)
        return VHDX_E_IO;
    *got = 0;
    if (off < l->img->len) {
        size_t n = l->img->len - off < len ? (size_t)(l->img->len - off) : len;
        memcpy(buf, l->img->data + off, n);
        *got = n;
    }
    return VHDX_OK;
}

static vhdx_status lying_size(void *ctx, uint64_t *size)
{
    *size = ((struct lying_io *)ctx)->claimed;
    return VHDX_OK;
}

/* Serves `img` whole and honestly until told otherwise. */
static void lying_init(struct lying_io *l, const struct ib_image *img, uint64_t fail_reads_from)
{
    l->img = img;
    l->claimed = img->len;
    l->fail_reads_from = fail_reads_from;
}

/* A read-only vhdx_io over `l` (no close: nothing to free). */
static vhdx_io lying_io_of(struct lying_io *l)
{
    vhdx_io io;
    memset(&io, 0, sizeof(io));
    io.ctx = l;
    io.read = lying_read;
    io.size = lying_size;
    return io;
}

static vhdx_status open_lying(struct lying_io *l)
{
    vhdx_io io = lying_io_of(l);
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    vhdx_status st;
    test_sink_init(&ts);
    st = vhdx_open(&io, &o, &h);
    vhdx_close(h);
    return st;
}

static void test_file_truncated_under_a_lying_size(void **state)
{
    struct ib_image img;
    struct lying_io l;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    lying_init(&l, &img, UINT64_MAX);
    assert_int_equal(ib_resize(&img, img.metadata_offset + 4096), 0);
    l.claimed = img.metadata_offset + MiB + 64 * MiB; /* claims more than it has */
    assert_status(open_lying(&l), VHDX_E_TRUNCATED);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "image.file.truncated");
    ib_free(&img);
}

static void test_io_failure(void **state)
{
    struct ib_image img;
    struct lying_io l;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    lying_init(&l, &img, VHDX_HEADER2_OFFSET);
    assert_status(open_lying(&l), VHDX_E_IO);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "image.io");
    ib_free(&img);
}

/*
 * A read the back end fails leaves the handle failed: every later read and
 * map is VHDX_E_BAD_STATE, even once the back end works again. A read cut
 * short (the file shrank under the handle) is VHDX_E_TRUNCATED and leaves
 * it usable.
 */
static void test_read_failure_fails_the_handle(void **state)
{
    struct ib_image img;
    struct lying_io l;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    vhdx_extent e;
    vhdx_io io;
    uint8_t d[4096], got[4096];
    uint64_t raw;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    fill(d, sizeof(d), 0x5A);
    assert_int_equal(ib_write(&img, 0, d, sizeof(d)), 0);
    assert_int_equal(ib_write(&img, 3 * MiB, d, sizeof(d)), 0);
    assert_int_equal(ib_get_block_entry(&img, 3, &raw), 0);
    lying_init(&l, &img, UINT64_MAX);
    io = lying_io_of(&l);
    test_sink_init(&ts);
    assert_status(vhdx_open(&io, &o, &h), VHDX_OK);
    assert_status(vhdx_read(NULL, 0, got, 1), VHDX_E_INVALID_ARG);
    assert_status(vhdx_read(h, 0, NULL, 1), VHDX_E_INVALID_ARG);
    assert_status(vhdx_read(h, 0, NULL, 0), VHDX_OK);
    assert_status(vhdx_map_next(NULL, 0, &e), VHDX_E_INVALID_ARG);
    assert_status(vhdx_map_next(h, 0, NULL), VHDX_E_INVALID_ARG);
    /* Block 3's data lies past what the back end now delivers. */
    l.fail_reads_from = UINT64_MAX - 1;
    img.len = (size_t)(raw >> 20) * MiB; /* lying_read serves img.data[0, len) */
    assert_status(vhdx_read(h, 3 * MiB, got, sizeof(got)), VHDX_E_TRUNCATED);
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, d, sizeof(d));
    /* Now every read fails. */
    l.fail_reads_from = 0;
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_E_IO);
    l.fail_reads_from = UINT64_MAX;
    assert_status(vhdx_read(h, 0, got, sizeof(got)), VHDX_E_BAD_STATE);
    assert_status(vhdx_map_next(h, 0, &e), VHDX_E_BAD_STATE);
    vhdx_close(h);
    img.len = (size_t)l.claimed;
    ib_free(&img);
}

/* vhdx_check cannot judge an image its back end fails to deliver: VHDX_E_IO, counted too. */
static void test_check_of_failing_back_end_is_io(void **state)
{
    struct ib_image img;
    struct lying_io l;
    vhdx_open_options o = opts();
    vhdx_check_result r;
    vhdx_io io;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    lying_init(&l, &img, img.bat_offset);
    io = lying_io_of(&l);
    test_sink_init(&ts);
    assert_status(vhdx_check(&io, &o, &r), VHDX_E_IO);
    assert_int_equal(r.errors, 1);
    assert_status(r.first_error, VHDX_E_IO);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "image.io");
    assert_status(vhdx_check(NULL, &o, &r), VHDX_E_INVALID_ARG);
    ib_free(&img);
}

/* Keeps the count of overlap findings and the last one. */
struct overlap_log {
    unsigned count;
    vhdx_diag last;
};

static void log_overlaps(void *ctx, const vhdx_diag *d)
{
    struct overlap_log *l = ctx;
    if (d->rule != NULL && strcmp(d->rule, "image.space.overlap") == 0) {
        l->count++;
        l->last = *d;
    }
}

/* Past SPACE_MAP_MAX_COLLISIONS (64) overlaps, the rest are counted in one more finding. */
static void test_overlaps_past_the_listed_ones_are_counted(void **state)
{
    struct ib_image img;
    struct overlap_log l;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    uint8_t data[512] = {3};
    uint64_t raw;
    (void)state;
    build(&img, IB_DYNAMIC, 80 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_write(&img, 0, data, sizeof(data)), 0);
    assert_int_equal(ib_get_block_entry(&img, 0, &raw), 0);
    /* Blocks 1..70 all at block 0's offset: 70 overlaps. */
    for (uint64_t b = 1; b <= 70; b++)
        assert_int_equal(ib_set_block_state(&img, b, BAT_PAYLOAD_FULLY_PRESENT, raw >> 20), 0);
    memset(&l, 0, sizeof(l));
    o.on_diag = log_overlaps;
    o.diag_ctx = &l;
    assert_status(open_with(&img, &o, &h), VHDX_E_OVERLAP);
    assert_null(h);
    assert_int_equal(l.count, 65);
    assert_int_equal(l.last.severity, VHDX_SEVERITY_ERROR);
    assert_int_equal(l.last.code, VHDX_E_OVERLAP);
    assert_int_equal(l.last.offset, VHDX_OFFSET_NONE);
    assert_string_equal(l.last.message, "6 more overlapping structures are not listed");
    ib_free(&img);
}

/* The public entry points refuse missing arguments without touching anything. */
static void test_open_and_info_argument_refusals(void **state)
{
    struct ib_image img;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    vhdx_info info;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_status(vhdx_open(NULL, &o, &h), VHDX_E_INVALID_ARG);
    assert_null(h);
    /* A back end without size or read cannot be opened: an I/O failure, reported. */
    {
        vhdx_io io;
        assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
        io.size = NULL;
        test_sink_init(&ts);
        assert_status(vhdx_open(&io, &o, &h), VHDX_E_IO);
        assert_null(h);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "image.io");
        assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
        io.read = NULL;
        test_sink_init(&ts);
        assert_status(vhdx_open(&io, &o, &h), VHDX_E_IO);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "image.io");
    }
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_status(vhdx_get_info(NULL, &info), VHDX_E_INVALID_ARG);
    assert_status(vhdx_get_info(h, NULL), VHDX_E_INVALID_ARG);
    vhdx_close(h);
    ib_free(&img);
}

/* Counts the closes of a memory back end. */
struct counted_io {
    vhdx_io inner;
    int closes;
};

static vhdx_status counted_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct counted_io *c = ctx;
    return c->inner.read(c->inner.ctx, buf, len, off, got);
}

static vhdx_status counted_size(void *ctx, uint64_t *size)
{
    struct counted_io *c = ctx;
    return c->inner.size(c->inner.ctx, size);
}

static void counted_close(void *ctx)
{
    struct counted_io *c = ctx;
    c->closes++;
    vhdx_io_close(&c->inner);
}

static vhdx_io counted(struct counted_io *c, const struct ib_image *img)
{
    vhdx_io io;
    c->closes = 0;
    assert_status(vhdx_io_from_memory(img->data, img->len, &c->inner), VHDX_OK);
    memset(&io, 0, sizeof(io));
    io.ctx = c;
    io.read = counted_read;
    io.size = counted_size;
    io.close = counted_close;
    return io;
}

/*
 * vhdx_open and vhdx_check take ownership of the io: it is closed on every
 * failure, the refusal of a missing out or result argument included.
 */
static void test_open_and_check_close_the_io_when_refusing_arguments(void **state)
{
    struct ib_image img;
    struct counted_io c;
    vhdx_open_options o = opts();
    vhdx_check_result r;
    vhdx_image *h = NULL;
    vhdx_io io;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    io = counted(&c, &img);
    assert_status(vhdx_open(&io, &o, NULL), VHDX_E_INVALID_ARG);
    assert_int_equal(c.closes, 1);
    assert_null(io.ctx);
    io = counted(&c, &img);
    assert_status(vhdx_check(&io, &o, NULL), VHDX_E_INVALID_ARG);
    assert_int_equal(c.closes, 1);
    assert_null(io.ctx);
    /* And once on success, by vhdx_close. */
    io = counted(&c, &img);
    assert_status(vhdx_open(&io, &o, &h), VHDX_OK);
    assert_int_equal(c.closes, 0);
    vhdx_close(h);
    assert_int_equal(c.closes, 1);
    io = counted(&c, &img);
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_int_equal(c.closes, 1);
    ib_free(&img);
}

static void test_memory_limit(void **state)
{
    struct ib_image img;
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    limits.max_memory = 40 * 1024; /* the handle fits; the 64 KiB identifier does not */
    o.limits = &limits;
    assert_status(open_with(&img, &o, &h), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "image.limit.memory");
    ib_free(&img);
}

static void test_headers_equal_and_identical_warns(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    vhdx_info info;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    memcpy(img.data + VHDX_HEADER1_OFFSET, img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.header.equal_identical");
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.current_header, 1);
    vhdx_close(h);
    ib_free(&img);
}

static void test_headers_equal_sequence_but_different(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.header_old.sequence_number = img.header.sequence_number;
    assert_int_equal(ib_refresh(&img), 0); /* header 1 keeps an older FileWriteGuid? make it differ */
    img.data[VHDX_HEADER1_OFFSET + 16] ^= 0x55;
    assert_int_equal(ib_restamp_checksums(&img), 0);
    expect_open_error(&img, VHDX_E_CORRUPT, "image.header.equal_sequence");
    ib_free(&img);
}

/*
 * Header 2, the current one, is refused for `rule` (a warning): the open
 * reports that and image.header.one_valid, nothing else, and uses header 1.
 */
static void expect_header_1_used(const struct ib_image *img, vhdx_status code, const char *rule)
{
    vhdx_image *h;
    vhdx_info info;
    assert_status(open_img(img, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, code, rule);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.header.one_valid");
    assert_int_equal(ts.sink.total, 2);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.current_header, 1);
    assert_int_equal(info.header_sequence, 1);
    vhdx_close(h);
}

static void test_header_one_valid_warns_and_uses_the_other(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_HEADER2_OFFSET + 200] ^= 1; /* header 2 (the current one) fails its CRC */
    /* A torn header is what the second copy is for: reported, but the image is readable. */
    expect_header_1_used(&img, VHDX_E_CHECKSUM, "header.checksum");
    ib_free(&img);
}

/* §3.1: Version MUST be 1. A header with another version is not chosen, like a torn one. */
static void test_header_version_not_one_is_not_chosen(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.header.version = 2; /* header 2, the current one, with a valid checksum */
    assert_int_equal(ib_refresh(&img), 0);
    expect_header_1_used(&img, VHDX_E_VERSION, "header.version");
    /* Both: no header to use. */
    img.header_old.version = 2;
    assert_int_equal(ib_refresh(&img), 0);
    expect_open_error(&img, VHDX_E_CORRUPT, "image.header.none_valid");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_VERSION, "header.version");
    ib_free(&img);
}

static void test_header_none_valid(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_HEADER1_OFFSET + 200] ^= 1;
    img.data[VHDX_HEADER2_OFFSET + 200] ^= 1;
    expect_open_error(&img, VHDX_E_CORRUPT, "image.header.none_valid");
    ib_free(&img);
}

/* A LogGuid with an empty log: no valid sequence, the open fails (§8.7.3). */
static void test_log_guid_without_entries(void **state)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct ib_image img;
    struct guid g = guid_make(0xABCD, 1, 2, d4);
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_log_guid(&img, &g), 0);
    expect_open_error(&img, VHDX_E_CORRUPT, "log.sequence.none");
    ib_free(&img);
}

/* A writable open of a clean image has nothing to replay and writes nothing. */
static void test_writable_open_clean(void **state)
{
    struct ib_image img;
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    vhdx_info info;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    o.flags = VHDX_OPEN_WRITABLE;
    assert_status(open_with(&img, &o, &h), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.log_replay, VHDX_LOG_CLEAN);
    assert_int_equal(info.log_dirty, 0);
    vhdx_close(h);
    ib_free(&img);
}

/* Regression (fuzz_image_options): check with the writable flag must still judge, read-only. */
static void test_check_ignores_writable_flag(void **state)
{
    struct ib_image img;
    vhdx_open_options o = opts();
    vhdx_check_result r;
    vhdx_io io;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    o.flags = VHDX_OPEN_WRITABLE;
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(ts.sink.total, 0);
    ib_free(&img);
}

/* ---- Region tables ---- */

static void test_region_tables_none_valid(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] ^= 1;
    img.data[VHDX_REGION_TABLE2_OFFSET + 100] ^= 1;
    expect_open_error(&img, VHDX_E_CORRUPT, "image.region_table.none_valid");
    ib_free(&img);
}

static void test_region_table_copy_invalid_warns(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    vhdx_check_result r;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] ^= 1;
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy1_invalid");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CHECKSUM, "region_table.checksum");
    assert_int_equal(r.errors, 0);
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] ^= 1;
    img.data[VHDX_REGION_TABLE2_OFFSET + 100] ^= 1;
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy2_invalid");
    assert_int_equal(ts.sink.total, 2);
    vhdx_close(h);
    ib_free(&img);
}

static void test_region_table_copies_differ_warns(void **state)
{
    static const uint8_t d4[8] = {8, 8, 8, 8, 8, 8, 8, 8};
    struct ib_image img;
    struct region_table *t = malloc(sizeof(*t));
    vhdx_image *h;
    uint64_t off;
    (void)state;
    assert_non_null(t);
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    /* Copy 2 gains an optional unknown region that copy 1 lacks. */
    *t = img.rt;
    assert_int_equal(ib_alloc_space(&img, MiB, &off), 0);
    t->entries[t->entry_count].guid = guid_make(0x1234, 5, 6, d4);
    t->entries[t->entry_count].file_offset = off;
    t->entries[t->entry_count].length = (uint32_t)MiB;
    t->entries[t->entry_count].required = 0;
    t->entry_count++;
    assert_status(region_table_encode(t, img.data + VHDX_REGION_TABLE2_OFFSET, REGION_TABLE_SIZE),
                  VHDX_OK);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.mismatch");
    /* Both copies are validated (copy 2 lists its unknown region), but copy 1 is in use, */
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "region_table.entry.unknown");
    /* so the space only copy 2 claims belongs to nothing. */
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "image.space.trailing_data");
    assert_int_equal(ts.sink.total, 3);
    vhdx_close(h);
    free(t);
    ib_free(&img);
}

/* Findings of one rule id the sink stored, any severity. */
static size_t count_rule(const struct test_sink *t, const char *rule)
{
    size_t n = 0;
    for (size_t i = 0; i < t->sink.stored; i++)
        if (strcmp(t->records[i].rule, rule) == 0)
            n++;
    return n;
}

/* Copy 2 of the region table: the builder's table with `edit` applied, a valid checksum. */
static void write_copy(struct ib_image *img, uint64_t at, void (*edit)(struct region_table *))
{
    struct region_table *t = malloc(sizeof(*t));
    assert_non_null(t);
    *t = img->rt;
    edit(t);
    assert_status(region_table_encode(t, img->data + at, REGION_TABLE_SIZE), VHDX_OK);
    free(t);
}

static void add_unknown_required(struct region_table *t)
{
    static const uint8_t d4[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    struct region_entry *e = &t->entries[t->entry_count++];
    e->guid = guid_make(0x5151, 7, 7, d4);
    e->file_offset = 64 * MiB; /* past the end of the file too: two problems */
    e->length = (uint32_t)MiB;
    e->required = 1;
}

static void drop_metadata(struct region_table *t)
{
    for (uint32_t i = 0; i < t->entry_count; i++)
        if (guid_equal(&t->entries[i].guid, &VHDX_GUID_REGION_METADATA)) {
            t->entries[i] = t->entries[t->entry_count - 1];
            t->entry_count--;
            return;
        }
    fail_msg("no metadata region to drop");
}

/*
 * One verdict policy for spare copies: copy 2, valid checksum but broken
 * content, is damage of the spare like a bad checksum is: warnings only,
 * led by image.region_table.copy2_invalid naming the first rule broken.
 */
static void test_region_table_spare_content_damage_warns(void **state)
{
    struct ib_image img;
    vhdx_check_result r;
    vhdx_image *h;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    write_copy(&img, VHDX_REGION_TABLE2_OFFSET, add_unknown_required);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 3);
    assert_int_equal(ts.sink.total, 3);
    d = assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy2_invalid");
    assert_int_equal(d->offset, VHDX_REGION_TABLE2_OFFSET);
    assert_non_null(strstr(d->message, "(region_table.entry.past_eof and 1 more problem)"));
    assert_non_null(strstr(d->message, "vhdx check -r all"));
    assert_int_equal(strcmp(ts.records[0].rule, "image.region_table.copy2_invalid"), 0);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_UNSUPPORTED, "region_table.entry.unknown_required");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "region_table.entry.past_eof");
    assert_int_equal(count_rule(&ts, "image.region_table.mismatch"), 0);
    /* It opens, and copy 1 is what it reads. */
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_int_equal(ts.sink.errors, 0);
    vhdx_close(h);

    /* A required region missing from the spare: the same policy. */
    write_copy(&img, VHDX_REGION_TABLE2_OFFSET, drop_metadata);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(ts.sink.total, 2);
    d = assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy2_invalid");
    assert_non_null(strstr(d->message, "(region_table.metadata.missing)"));
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_MISSING, "region_table.metadata.missing");
    ib_free(&img);
}

/* The copy in use is judged strictly: copy 1 broken in content is an error, whatever copy 2 holds. */
static void test_region_table_copy_in_use_is_strict(void **state)
{
    struct ib_image img;
    vhdx_check_result r;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    write_copy(&img, VHDX_REGION_TABLE1_OFFSET, drop_metadata);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.warnings, 1);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "region_table.metadata.missing");
    d = assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.mismatch");
    assert_non_null(strstr(d->message, "copy 1 has 1 entries, copy 2 has 2"));
    assert_non_null(strstr(d->message, "copy 1 is the broken one"));
    ib_free(&img);
}

/*
 * Copy 1's entry count 2 -> 258 (one bit), checksum recomputed: one error
 * about the count, not three for each of the 256 zero entries.
 */
static void test_region_table_entry_count_flip_is_one_finding(void **state)
{
    struct ib_image img;
    vhdx_check_result r;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(img.rt.entry_count, 2);
    img.data[VHDX_REGION_TABLE1_OFFSET + 9] ^= 1; /* 2 -> 258 */
    assert_int_equal(ib_restamp_checksums(&img), 0);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.warnings, 1);
    assert_int_equal(ts.sink.total, 2);
    d = assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "region_table.entry_count.zero_entries");
    assert_int_equal(d->offset, VHDX_REGION_TABLE1_OFFSET + 8);
    assert_non_null(strstr(d->message, "entries 2 to 257 are all zero"));
    d = assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.mismatch");
    assert_non_null(strstr(d->message, "copy 1 has 258 entries, copy 2 has 2"));
    /* The same flip in the spare copy: the same finding, as a warning. */
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE2_OFFSET + 9] ^= 1;
    assert_int_equal(ib_restamp_checksums(&img), 0);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 2);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy2_invalid");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "region_table.entry_count.zero_entries");
    ib_free(&img);
}

/* The non-current header with a valid checksum but a broken field: a warning, like a torn one. */
static void test_header_spare_content_damage_warns(void **state)
{
    struct ib_image img;
    vhdx_check_result r;
    vhdx_image *h;
    vhdx_info info;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.header_old.log_offset += 4096; /* header 1, not current: misaligned log */
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 2);
    assert_int_equal(ts.sink.total, 2);
    d = assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.header.spare_damaged");
    assert_int_equal(d->offset, VHDX_HEADER1_OFFSET);
    assert_non_null(strstr(d->message, "header 1 (not current) is damaged (header.log_offset.alignment)"));
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_ALIGNMENT, "header.log_offset.alignment");
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, &info), VHDX_OK);
    assert_int_equal(info.current_header, 2);
    vhdx_close(h);
    /* The same damage in the current header is an error. */
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.header.log_offset += 4096;
    assert_int_equal(ib_refresh(&img), 0);
    expect_open_error(&img, VHDX_E_ALIGNMENT, "header.log_offset.alignment");
    assert_int_equal(count_rule(&ts, "image.header.spare_damaged"), 0);
    ib_free(&img);
}

/* ---- Repairing spare copies (vhdx_repair) ---- */

/* Opens the memfile writable, repairs, finishes; the result in *res. */
static vhdx_status repair_file(struct memfile *m, vhdx_repair_result *res, vhdx_info *before,
                               vhdx_info *after)
{
    vhdx_open_options o = opts();
    vhdx_io io = io_borrow(&m->io);
    vhdx_image *h = NULL;
    vhdx_status st;
    o.flags = VHDX_OPEN_WRITABLE;
    test_sink_init(&ts);
    assert_status(vhdx_open(&io, &o, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, before), VHDX_OK);
    st = vhdx_repair(h, res);
    assert_status(vhdx_get_info(h, after), VHDX_OK);
    vhdx_close(h);
    return st;
}

static void check_file(struct memfile *m, vhdx_check_result *r)
{
    vhdx_open_options o = opts();
    vhdx_io io = io_borrow(&m->io);
    test_sink_init(&ts);
    assert_status(vhdx_check(&io, &o, r), VHDX_OK);
}

static void test_repair_rewrites_spare_copies(void **state)
{
    struct ib_image img;
    struct memfile m;
    vhdx_repair_result res;
    vhdx_check_result r;
    vhdx_info before, after;
    uint8_t *bytes, *again;
    size_t len, len2;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    write_copy(&img, VHDX_REGION_TABLE2_OFFSET, add_unknown_required);
    img.data[VHDX_HEADER1_OFFSET + 200] ^= 1; /* header 1, not current, fails its checksum */
    mf_open(&m, img.data, img.len);
    check_file(&m, &r);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 5);

    assert_status(repair_file(&m, &res, &before, &after), VHDX_OK);
    assert_int_equal(res.header_rewritten, 1);
    assert_int_equal(res.region_table_rewritten, 2);
    /* A new FileWriteGuid (§3.3: before any change); the DataWriteGuid kept (no read changes). */
    assert_string_not_equal(before.file_write_guid, after.file_write_guid);
    assert_string_equal(before.data_write_guid, after.data_write_guid);
    assert_string_equal(after.log_guid, "{00000000-0000-0000-0000-000000000000}");
    check_file(&m, &r);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 0);
    assert_int_equal(ts.sink.total, 0);
    bytes = io_bytes(&m.io, &len);
    assert_memory_equal(bytes + VHDX_REGION_TABLE1_OFFSET, bytes + VHDX_REGION_TABLE2_OFFSET,
                        REGION_TABLE_SIZE);

    /* Nothing left to repair: nothing is written. */
    assert_status(repair_file(&m, &res, &before, &after), VHDX_OK);
    assert_int_equal(res.header_rewritten, 0);
    assert_int_equal(res.region_table_rewritten, 0);
    again = io_bytes(&m.io, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(bytes, again, len);
    free(bytes);
    free(again);
    mf_free(&m);
    ib_free(&img);
}

/* Copy 1 damaged, copy 2 in use: copy 1 is the one rewritten; a mismatch is repaired too. */
static void test_repair_region_table_copy1_and_mismatch(void **state)
{
    struct ib_image img;
    struct memfile m;
    vhdx_repair_result res;
    vhdx_check_result r;
    vhdx_info before, after;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] ^= 1;
    mf_open(&m, img.data, img.len);
    assert_status(repair_file(&m, &res, &before, &after), VHDX_OK);
    assert_int_equal(res.header_rewritten, 0);
    assert_int_equal(res.region_table_rewritten, 1);
    check_file(&m, &r);
    assert_int_equal(r.errors + r.warnings, 0);
    mf_free(&m);
    ib_free(&img);

    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE2_OFFSET + 9] ^= 1; /* copy 2: 258 entries, a valid checksum */
    assert_int_equal(ib_restamp_checksums(&img), 0);
    mf_open(&m, img.data, img.len);
    check_file(&m, &r);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "image.region_table.copy2_invalid");
    assert_status(repair_file(&m, &res, &before, &after), VHDX_OK);
    assert_int_equal(res.region_table_rewritten, 2);
    check_file(&m, &r);
    assert_int_equal(r.errors + r.warnings, 0);
    mf_free(&m);
    ib_free(&img);
}

/* A write after a repair, on the same handle, is a new session: it gets its new DataWriteGuid. */
static void test_repair_then_write_changes_data_write_guid(void **state)
{
    static uint8_t sector[4096];
    struct ib_image img;
    struct memfile m;
    vhdx_open_options o = opts();
    vhdx_repair_result res;
    vhdx_info a, b, c;
    vhdx_image *h = NULL;
    vhdx_io io;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.data[VHDX_REGION_TABLE2_OFFSET + 100] ^= 1;
    mf_open(&m, img.data, img.len);
    o.flags = VHDX_OPEN_WRITABLE;
    io = io_borrow(&m.io);
    assert_status(vhdx_open(&io, &o, &h), VHDX_OK);
    assert_status(vhdx_get_info(h, &a), VHDX_OK);
    assert_status(vhdx_repair(h, &res), VHDX_OK);
    assert_int_equal(res.region_table_rewritten, 2);
    assert_status(vhdx_get_info(h, &b), VHDX_OK);
    assert_string_equal(a.data_write_guid, b.data_write_guid);
    memset(sector, 0x5c, sizeof(sector));
    assert_status(vhdx_write(h, 0, sector, sizeof(sector)), VHDX_OK);
    assert_status(vhdx_finish(h), VHDX_OK);
    assert_status(vhdx_get_info(h, &c), VHDX_OK);
    assert_string_not_equal(b.data_write_guid, c.data_write_guid);
    assert_string_not_equal(b.file_write_guid, c.file_write_guid);
    vhdx_close(h);
    mf_free(&m);
    ib_free(&img);
}

/* A spare header that breaks a field rule is rewritten; a read-only handle is refused. */
static void test_repair_spare_header_fields_and_read_only_refusal(void **state)
{
    struct ib_image img;
    struct memfile m;
    vhdx_repair_result res;
    vhdx_check_result r;
    vhdx_info before, after;
    vhdx_image *h = NULL;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.header_old.log_offset += 4096;
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    res.header_rewritten = 7;
    assert_status(vhdx_repair(h, &res), VHDX_E_INVALID_ARG);
    assert_int_equal(res.header_rewritten, 0);
    vhdx_close(h);
    assert_status(vhdx_repair(NULL, NULL), VHDX_E_INVALID_ARG);
    mf_open(&m, img.data, img.len);
    assert_status(repair_file(&m, &res, &before, &after), VHDX_OK);
    assert_int_equal(res.header_rewritten, 1);
    assert_int_equal(res.region_table_rewritten, 0);
    assert_true(after.header_sequence > before.header_sequence);
    check_file(&m, &r);
    assert_int_equal(r.errors + r.warnings, 0);
    mf_free(&m);
    ib_free(&img);
}

/* ---- Metadata ---- */

static void test_metadata_region_over_limit(void **state)
{
    struct ib_image img;
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    limits.max_metadata_region = 512 * 1024;
    o.limits = &limits;
    assert_status(open_with(&img, &o, &h), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "image.limit.metadata_region");
    ib_free(&img);
}

/* A caller's item limit below an item's length is an error finding, in open and check alike. */
static void test_metadata_item_over_limit(void **state)
{
    struct ib_image img;
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options o = opts();
    vhdx_check_result r;
    vhdx_image *h = NULL;
    vhdx_io io;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    limits.max_metadata_item = 4;
    o.limits = &limits;
    /* Every item over the limit is named: the two 8-byte items and the 16-byte id. */
    assert_status(open_with(&img, &o, &h), VHDX_E_LIMIT);
    assert_null(h);
    assert_int_equal(ts.sink.total, 3);
    assert_int_equal(ts.sink.errors, 3);
    assert_string_equal(ts.records[0].rule, "image.limit.metadata_item");
    assert_string_equal(ts.records[0].message,
                        "the metadata item file parameters is 8 bytes, more than the limit of 4");
    assert_string_equal(ts.records[1].message,
                        "the metadata item virtual disk size is 8 bytes, more than the limit of 4");
    assert_string_equal(ts.records[2].rule, "image.limit.metadata_item");
    assert_int_equal(ts.records[2].code, VHDX_E_LIMIT);
    /*
     * The judge must not call an image clean that it could not read, nor
     * call it bad: a limit reached means it could not judge (VHDX_E_LIMIT).
     */
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, &o, &r), VHDX_E_LIMIT);
    assert_int_equal(r.first_error, VHDX_E_LIMIT);
    assert_int_equal(r.errors, 3);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "image.limit.metadata_item");
    /* 8 bytes is enough for every item but the 16-byte virtual disk id. */
    limits.max_metadata_item = 8;
    assert_status(open_with(&img, &o, &h), VHDX_E_LIMIT);
    d = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "image.limit.metadata_item");
    assert_string_equal(d->message,
                        "the metadata item virtual disk id is 16 bytes, more than the limit of 8");
    limits.max_metadata_item = 16;
    assert_status(open_with(&img, &o, &h), VHDX_OK);
    vhdx_close(h);
    ib_free(&img);
}

static void test_metadata_region_smaller_than_table(void **state)
{
    struct ib_image img;
    vhdx_check_result r;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    for (uint32_t i = 0; i < img.rt.entry_count; i++) {
        if (guid_equal(&img.rt.entries[i].guid, &VHDX_GUID_REGION_METADATA))
            img.rt.entries[i].length = 32 * 1024;
    }
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(check_img(&img, &r), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "region_table.entry.length.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "image.metadata.region_too_small");
    ib_free(&img);
}

/* ---- BAT and space map ---- */

static void test_block_overlapping_metadata(void **state)
{
    struct ib_image img;
    vhdx_image *h = NULL;
    const vhdx_diag *d;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_block_state(&img, 5, BAT_PAYLOAD_FULLY_PRESENT,
                                        img.metadata_offset / MiB),
                     0);
    assert_status(open_img(&img, &h), VHDX_E_OVERLAP);
    d = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "image.space.overlap");
    assert_non_null(strstr(d->message, "payload block 5 overlaps the metadata region"));
    assert_int_equal(d->offset, img.metadata_offset);
    ib_free(&img);
}

/*
 * §4: a region with an unknown GUID that is not required is kept, and the
 * space it claims is checked like any other: a block inside it overlaps it.
 */
static void test_unknown_optional_region_claims_its_space(void **state)
{
    static const uint8_t d4[8] = {0x0E, 0x6E, 0, 0, 0, 0, 0, 1};
    struct ib_image img;
    vhdx_image *h = NULL;
    const vhdx_diag *d;
    uint8_t data[512] = {7};
    uint64_t at;
    char want[96];
    struct region_entry *r;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_write(&img, 0, data, sizeof(data)), 0);
    assert_int_equal(ib_alloc_space(&img, MiB, &at), 0);
    r = &img.rt.entries[img.rt.entry_count++];
    memset(r, 0, sizeof(*r));
    r->guid = guid_make(0x0E6E0001u, 2, 3, d4);
    r->file_offset = at;
    r->length = (uint32_t)MiB;
    r->required = 0;
    assert_int_equal(ib_refresh(&img), 0);
    /* Alone it is only noted. */
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "region_table.entry.unknown");
    vhdx_close(h);
    h = NULL;
    /* Block 0 moved into it. */
    assert_int_equal(ib_set_block_state(&img, 0, BAT_PAYLOAD_FULLY_PRESENT, at / MiB), 0);
    assert_status(open_img(&img, &h), VHDX_E_OVERLAP);
    assert_null(h);
    d = assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "image.space.overlap");
    snprintf(want, sizeof(want), "payload block 0 overlaps region 2 at file offset 0x%llx",
             (unsigned long long)at);
    assert_string_equal(d->message, want);
    assert_int_equal(d->offset, at);
    ib_free(&img);
}

static void test_two_blocks_share_an_offset(void **state)
{
    struct ib_image img;
    vhdx_image *h = NULL;
    const vhdx_diag *d;
    uint8_t data[512] = {1};
    uint64_t raw;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_write(&img, 0, data, sizeof(data)), 0);
    assert_int_equal(ib_get_block_entry(&img, 0, &raw), 0);
    assert_int_equal(ib_set_block_state(&img, 6, BAT_PAYLOAD_FULLY_PRESENT, raw >> 20), 0);
    assert_status(open_img(&img, &h), VHDX_E_OVERLAP);
    d = assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP, "image.space.overlap");
    assert_non_null(strstr(d->message, "payload block 6 overlaps payload block 0"));
    ib_free(&img);
}

static void test_block_overlapping_log_and_header(void **state)
{
    struct ib_image img;
    vhdx_image *h = NULL;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_block_state(&img, 1, BAT_PAYLOAD_UNMAPPED, img.log_offset / MiB), 0);
    assert_status(open_img(&img, &h), VHDX_E_OVERLAP);
    assert_non_null(strstr(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                                            "image.space.overlap")
                               ->message,
                           "payload block 1 overlaps the log"));
    ib_free(&img);
}

static void test_block_past_eof(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_block_state(&img, 2, BAT_PAYLOAD_FULLY_PRESENT, img.len / MiB), 0);
    expect_open_error(&img, VHDX_E_RANGE, "bat.entry.past_eof");
    ib_free(&img);
}

static void test_bat_reserved_state_and_bits(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_bat_raw(&img, 3, 4), 0);
    expect_open_error(&img, VHDX_E_STATE, "bat.entry.state");
    assert_int_equal(ib_set_bat_raw(&img, 3, 1u << 7), 0);
    expect_open_error(&img, VHDX_E_RESERVED, "bat.entry.reserved");
    ib_free(&img);
}

/* A ZERO block with an offset: Hyper-V refuses it, so the open does too; NOT_PRESENT warns. */
static void test_zero_block_with_offset_refused(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_set_block_state(&img, 4, BAT_PAYLOAD_ZERO, 3), 0);
    assert_status(open_img(&img, &h), VHDX_E_RESERVED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "bat.entry.zero.offset");
    assert_int_equal(ib_set_block_state(&img, 4, BAT_PAYLOAD_NOT_PRESENT, 3), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "bat.entry.offset.reserved");
    vhdx_close(h);
    ib_free(&img);
}

/* The walk's fast path skips ZERO entries only where they are payload entries. */
static void test_zero_entry_in_padding_slot_still_warns(void **state)
{
    struct ib_image parent, child;
    vhdx_image *h;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    /* 8 blocks, chunk ratio 4096: slots 8..4095 are padding in a differencing BAT. */
    assert_int_equal(ib_set_bat_raw(&child, 3, BAT_PAYLOAD_ZERO), 0);
    assert_int_equal(ib_set_bat_raw(&child, 10, BAT_PAYLOAD_ZERO), 0);
    assert_status(open_img(&child, &h), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RESERVED, "bat.padding.nonzero");
    assert_int_equal(ts.sink.warnings, 1);
    vhdx_close(h);
    ib_free(&child);
    ib_free(&parent);
}

static void test_partial_block_without_bitmap(void **state)
{
    struct ib_image parent, child;
    uint8_t data[512] = {9};
    uint64_t sb_slot;
    (void)state;
    build(&parent, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    build_child(&child, &parent, "parent.vhdx");
    assert_int_equal(ib_write(&child, 0, data, sizeof(data)), 0);
    assert_status(bat_sb_index(&child.geo, 0, &sb_slot), VHDX_OK);
    assert_int_equal(ib_set_bat_raw(&child, sb_slot, 0), 0);
    expect_open_error(&child, VHDX_E_STATE, "image.bat.partial_without_bitmap");
    ib_free(&child);
    ib_free(&parent);
}

static void test_trailing_data_warns(void **state)
{
    struct ib_image img;
    vhdx_image *h;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    assert_int_equal(ib_resize(&img, img.len + 4096), 0);
    assert_status(open_img(&img, &h), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "image.space.trailing_data");
    vhdx_close(h);
    ib_free(&img);
}

static void test_has_parent_without_locator(void **state)
{
    struct ib_image img;
    (void)state;
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.fp.has_parent = true;
    assert_int_equal(ib_refresh(&img), 0);
    expect_open_error(&img, VHDX_E_MISSING, "metadata_table.parent_locator.missing");
    ib_free(&img);
}

/* ---- Huge claims: fast errors, no big allocations ---- */

static void test_huge_claims_fail_fast_with_small_memory(void **state)
{
    struct ib_image img;
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options o = opts();
    vhdx_image *h = NULL;
    (void)state;
    limits.max_memory = 2 * MiB; /* everything the open needs fits in far less */
    o.limits = &limits;

    /* A 64 TiB disk with 1 MiB blocks whose BAT region is 1 MiB. */
    build(&img, IB_DYNAMIC, 8 * MiB, (uint32_t)MiB);
    img.vds.size = 64ull << 40;
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(open_with(&img, &o, &h), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "bat.region.too_small");

    /* A BAT region, a metadata region and a log of 4095 MiB each in an 8 MiB file. */
    for (uint32_t i = 0; i < img.rt.entry_count; i++)
        img.rt.entries[i].length = 0xFFF00000u;
    img.header.log_length = 0xFFF00000u;
    img.vds.size = 8 * MiB;
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(open_with(&img, &o, &h), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "header.log.past_eof");
    ib_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_valid_dynamic_reads_like_model),
        cmocka_unit_test(test_open_valid_fixed_4k_sectors_partial_last_block),
        cmocka_unit_test(test_read_every_payload_state),
        cmocka_unit_test(test_map_reports_runs),
        cmocka_unit_test(test_differencing_reads_through_sector_bitmap),
        cmocka_unit_test(test_map_partial_block_at_the_end_of_the_disk),
        cmocka_unit_test(test_differencing_4k_sectors_chain_of_two),
        cmocka_unit_test(test_parent_not_opened_without_opener_is_info),
        cmocka_unit_test(test_parent_linkage_mismatch),
        cmocka_unit_test(test_parent_sector_size_mismatch),
        cmocka_unit_test(test_parent_size_mismatch_warns),
        cmocka_unit_test(test_parent_smaller_reads_zeros_past_its_end),
        cmocka_unit_test(test_parent_linkage2_matches_when_parent_linkage_does_not),
        cmocka_unit_test(test_parent_not_found),
        cmocka_unit_test(test_parent_refused_by_opener),
        cmocka_unit_test(test_parent_invalid),
        cmocka_unit_test(test_parent_depth_limit),
        cmocka_unit_test(test_parent_opened_read_only_under_writable_child),
        cmocka_unit_test(test_parent_cycle),
        cmocka_unit_test(test_open_path_resolves_relative_parent_and_reads),
        cmocka_unit_test(test_open_path_cycle_by_real_path),
        cmocka_unit_test(test_open_path_refuses_parent_outside_directory),
        cmocka_unit_test(test_check_path_judges_files_by_name),
        cmocka_unit_test(test_file_too_small),
        cmocka_unit_test(test_file_truncated_under_a_lying_size),
        cmocka_unit_test(test_io_failure),
        cmocka_unit_test(test_read_failure_fails_the_handle),
        cmocka_unit_test(test_open_and_info_argument_refusals),
        cmocka_unit_test(test_open_and_check_close_the_io_when_refusing_arguments),
        cmocka_unit_test(test_check_of_failing_back_end_is_io),
        cmocka_unit_test(test_overlaps_past_the_listed_ones_are_counted),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_headers_equal_and_identical_warns),
        cmocka_unit_test(test_headers_equal_sequence_but_different),
        cmocka_unit_test(test_header_one_valid_warns_and_uses_the_other),
        cmocka_unit_test(test_header_version_not_one_is_not_chosen),
        cmocka_unit_test(test_header_none_valid),
        cmocka_unit_test(test_log_guid_without_entries),
        cmocka_unit_test(test_writable_open_clean),
        cmocka_unit_test(test_check_ignores_writable_flag),
        cmocka_unit_test(test_region_tables_none_valid),
        cmocka_unit_test(test_region_table_copy_invalid_warns),
        cmocka_unit_test(test_region_table_copies_differ_warns),
        cmocka_unit_test(test_region_table_spare_content_damage_warns),
        cmocka_unit_test(test_region_table_copy_in_use_is_strict),
        cmocka_unit_test(test_region_table_entry_count_flip_is_one_finding),
        cmocka_unit_test(test_header_spare_content_damage_warns),
        cmocka_unit_test(test_repair_rewrites_spare_copies),
        cmocka_unit_test(test_repair_region_table_copy1_and_mismatch),
        cmocka_unit_test(test_repair_then_write_changes_data_write_guid),
        cmocka_unit_test(test_repair_spare_header_fields_and_read_only_refusal),
        cmocka_unit_test(test_metadata_region_over_limit),
        cmocka_unit_test(test_metadata_item_over_limit),
        cmocka_unit_test(test_metadata_region_smaller_than_table),
        cmocka_unit_test(test_block_overlapping_metadata),
        cmocka_unit_test(test_unknown_optional_region_claims_its_space),
        cmocka_unit_test(test_two_blocks_share_an_offset),
        cmocka_unit_test(test_block_overlapping_log_and_header),
        cmocka_unit_test(test_block_past_eof),
        cmocka_unit_test(test_bat_reserved_state_and_bits),
        cmocka_unit_test(test_zero_block_with_offset_refused),
        cmocka_unit_test(test_zero_entry_in_padding_slot_still_warns),
        cmocka_unit_test(test_partial_block_without_bitmap),
        cmocka_unit_test(test_trailing_data_warns),
        cmocka_unit_test(test_has_parent_without_locator),
        cmocka_unit_test(test_huge_claims_fail_fast_with_small_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
