/*
 * The whole-disk copies (src/image/export.c, src/image/convert.c):
 * vhdx_export_raw into a file (holes for zeros) and into a sink,
 * vhdx_convert from an image, a file and a back end into fixed, dynamic
 * and differencing images, progress, cancel, failures and memory limits.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dirty_images.h"
#include "test_util.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)

static struct test_sink ts;

static vhdx_open_options opts(unsigned flags)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.on_diag = test_sink_collect;
    o.diag_ctx = &ts;
    test_sink_init(&ts);
    return o;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 31u + seed * 7u + 1u);
}

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhdx-convert-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

/*
 * A 16 MiB dynamic image (1 MiB blocks) in memory: 4 KiB of data at 2 MiB,
 * a block of written zeros at 5 MiB (allocated, reads zeros), 4 KiB of
 * data at 15 MiB + 512 KiB. *disk receives the expected virtual disk.
 */
static void make_source(struct memfile *m, uint8_t **disk)
{
    vhdx_create_options c;
    vhdx_image *img = NULL;
    vhdx_open_options o = opts(0);
    uint8_t *zeros = calloc(1, MiB);
    uint8_t data[4096];

    assert_non_null(zeros);
    *disk = calloc(1, 16 * MiB);
    assert_non_null(*disk);
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = 16 * MiB;
    c.block_size = (uint32_t)MiB;
    mf_init(m);
    {
        vhdx_io io = io_borrow(&m->io);
        assert_status(vhdx_create_open(&io, &c, &o, &img), VHDX_OK);
    }
    fill(data, sizeof(data), 1);
    assert_status(vhdx_write(img, 2 * MiB, data, sizeof(data)), VHDX_OK);
    memcpy(*disk + 2 * MiB, data, sizeof(data));
    assert_status(vhdx_write(img, 5 * MiB, zeros, MiB), VHDX_OK);
    fill(data, sizeof(data), 2);
    assert_status(vhdx_write(img, 15 * MiB + 512 * 1024, data, sizeof(data)), VHDX_OK);
    memcpy(*disk + 15 * MiB + 512 * 1024, data, sizeof(data));
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    free(zeros);
}

static vhdx_image *open_mem(const struct memfile *m)
{
    vhdx_io io = io_borrow(&m->io);
    vhdx_open_options o = opts(0);
    vhdx_image *img = NULL;
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    return img;
}

/* The whole virtual disk of img equals expect. */
static void assert_disk(vhdx_image *img, const uint8_t *expect, uint64_t size)
{
    uint8_t *back = malloc((size_t)size);
    vhdx_info info;
    assert_non_null(back);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.virtual_size, size);
    assert_status(vhdx_read(img, 0, back, (size_t)size), VHDX_OK);
    assert_memory_equal(back, expect, (size_t)size);
    free(back);
}

/* ---- progress recording ---- */

struct progress_log {
    uint64_t done[4096];
    uint64_t total;
    size_t n;
    size_t cancel_at; /* returns 1 on this call (0: never) */
};

static int record_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    if (p->n == 0)
        p->total = total;
    assert_int_equal(total, p->total);
    if (p->n > 0)
        assert_true(done >= p->done[p->n - 1]);
    assert_true(done <= total);
    if (p->n < sizeof(p->done) / sizeof(p->done[0]))
        p->done[p->n] = done;
    p->n++;
    return p->cancel_at != 0 && p->n == p->cancel_at;
}

/* ---- vhdx_export_raw ---- */

static void test_export_fd_sparse(void **state)
{
    struct memfile m;
    uint8_t *disk, *back;
    vhdx_image *img;
    struct progress_log pl;
    vhdx_export_options eo;
    char path[128];
    struct stat st;
    int fd;
    (void)state;

    make_source(&m, &disk);
    img = open_mem(&m);
    path_in(path, sizeof(path), "export.raw");
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    memset(&pl, 0, sizeof(pl));
    memset(&eo, 0, sizeof(eo));
    eo.progress = record_progress;
    eo.progress_ctx = &pl;
    assert_status(vhdx_export_raw(img, fd, &eo), VHDX_OK);
    assert_int_equal(pl.done[0], 0);
    assert_int_equal(pl.done[pl.n - 1], 16 * MiB);
    assert_int_equal(pl.total, 16 * MiB);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 16 * MiB);
    /* Two 4 KiB pieces of data; the written zeros and the rest are holes. */
    assert_true((uint64_t)st.st_blocks * 512u <= 64 * 1024);
    back = malloc(16 * MiB);
    assert_non_null(back);
    assert_int_equal(pread(fd, back, 16 * MiB, 0), (ssize_t)(16 * MiB));
    assert_memory_equal(back, disk, 16 * MiB);
    /* options may be NULL with an fd. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_status(vhdx_export_raw(img, fd, NULL), VHDX_OK);
    assert_int_equal(pread(fd, back, 16 * MiB, 0), (ssize_t)(16 * MiB));
    assert_memory_equal(back, disk, 16 * MiB);
    close(fd);
    free(back);
    free(disk);
    vhdx_close(img);
    mf_free(&m);
}

struct sink_log {
    uint64_t off[16];
    size_t len[16];
    size_t n;
    vhdx_status fail_with; /* returned by the second call (VHDX_OK: none) */
};

static vhdx_status record_sink(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct sink_log *s = ctx;
    (void)buf;
    assert_true(s->n < 16);
    s->off[s->n] = offset;
    s->len[s->n] = len;
    s->n++;
    return s->n == 2 ? s->fail_with : VHDX_OK;
}

/* vhdx_export_raw of img into record_sink, the calls recorded in *sl (emptied first). */
static vhdx_status export_recorded(vhdx_image *img, struct sink_log *sl, vhdx_status fail_with)
{
    vhdx_export_options eo;
    memset(sl, 0, sizeof(*sl));
    sl->fail_with = fail_with;
    memset(&eo, 0, sizeof(eo));
    eo.sink = record_sink;
    eo.sink_ctx = sl;
    return vhdx_export_raw(img, -1, &eo);
}

static void test_export_sink(void **state)
{
    struct memfile m;
    uint8_t *disk;
    vhdx_image *img;
    struct sink_log sl;
    vhdx_export_options eo;
    (void)state;

    make_source(&m, &disk);
    img = open_mem(&m);
    memset(&sl, 0, sizeof(sl));
    memset(&eo, 0, sizeof(eo));
    eo.sink = record_sink;
    eo.sink_ctx = &sl;
    assert_status(vhdx_export_raw(img, -1, &eo), VHDX_OK);
    /* Exactly the two pieces of data, in order. */
    assert_int_equal(sl.n, 2);
    assert_int_equal(sl.off[0], 2 * MiB);
    assert_int_equal(sl.len[0], 4096);
    assert_int_equal(sl.off[1], 15 * MiB + 512 * 1024);
    assert_int_equal(sl.len[1], 4096);
    /* A sink's failure stops the export with its status. */
    memset(&sl, 0, sizeof(sl));
    sl.fail_with = VHDX_E_IO;
    assert_status(vhdx_export_raw(img, -1, &eo), VHDX_E_IO);
    assert_int_equal(sl.n, 2);
    /* Refusals. */
    assert_status(vhdx_export_raw(img, -1, NULL), VHDX_E_INVALID_ARG);
    eo.sink = NULL;
    assert_status(vhdx_export_raw(img, -1, &eo), VHDX_E_INVALID_ARG);
    assert_status(vhdx_export_raw(NULL, 1, NULL), VHDX_E_INVALID_ARG);
    free(disk);
    vhdx_close(img);
    mf_free(&m);
}

static void test_export_cancel(void **state)
{
    struct memfile m;
    uint8_t *disk, buf[4096];
    vhdx_image *img;
    struct progress_log pl;
    struct sink_log sl;
    vhdx_export_options eo;
    (void)state;

    make_source(&m, &disk);
    img = open_mem(&m);
    memset(&pl, 0, sizeof(pl));
    memset(&sl, 0, sizeof(sl));
    pl.cancel_at = 2;
    memset(&eo, 0, sizeof(eo));
    eo.sink = record_sink;
    eo.sink_ctx = &sl;
    eo.progress = record_progress;
    eo.progress_ctx = &pl;
    assert_status(vhdx_export_raw(img, -1, &eo), VHDX_E_CANCELLED);
    assert_int_equal(pl.n, 2);
    /* Cancelled at the first extent: nothing passed yet; the image stays usable. */
    assert_int_equal(sl.n, 0);
    assert_status(vhdx_read(img, 2 * MiB, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, disk + 2 * MiB, sizeof(buf));
    free(disk);
    vhdx_close(img);
    mf_free(&m);
}

/* ---- vhdx_convert ---- */

static void test_convert_image_to_dynamic(void **state)
{
    struct memfile m, out;
    uint8_t *disk;
    vhdx_image *src, *img;
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_convert_result r;
    vhdx_open_options o;
    vhdx_info info;
    (void)state;

    make_source(&m, &disk);
    src = open_mem(&m);
    mf_init(&out);
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_IMAGE;
    s.image = src;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DYNAMIC;
    o = opts(0);
    assert_status(vhdx_convert(&s, &out.io, &co, &o, &r), VHDX_OK);
    /* The two blocks with data, whole (a range is written unless it is all
       zeros); the block of written zeros is not copied. */
    assert_int_equal(r.data_bytes, 2 * MiB);
    assert_int_equal(r.failed_side, 0);
    assert_int_equal(r.failed_offset, VHDX_OFFSET_NONE);
    img = open_mem(&out);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DYNAMIC);
    assert_int_equal(info.block_size, MiB); /* the source's */
    assert_int_equal(info.blocks_allocated, 2);
    assert_disk(img, disk, 16 * MiB);
    vhdx_close(img);
    /* The borrowed dst io is still open: converting again into it is refused (not empty). */
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &r), VHDX_E_INVALID_ARG);
    vhdx_close(src);
    free(disk);
    mf_free(&out);
    mf_free(&m);
}

static void test_convert_fixed_4k(void **state)
{
    struct memfile m, out;
    uint8_t *disk;
    vhdx_image *src, *img;
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_info info;
    (void)state;

    make_source(&m, &disk);
    src = open_mem(&m);
    mf_init(&out);
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_IMAGE;
    s.image = src;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_FIXED;
    co.create.block_size = 2 * (uint32_t)MiB;
    co.create.logical_sector_size = 4096;
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, NULL), VHDX_OK);
    img = open_mem(&out);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_FIXED);
    assert_int_equal(info.block_size, 2 * MiB);
    assert_int_equal(info.logical_sector_size, 4096);
    assert_int_equal(info.blocks_allocated, 8);
    assert_disk(img, disk, 16 * MiB);
    vhdx_close(img);
    vhdx_close(src);
    free(disk);
    mf_free(&out);
    mf_free(&m);
}

/* A back end over a buffer whose reads fail at or past fail_at. */
struct raw_io {
    const uint8_t *data;
    uint64_t size;
    uint64_t fail_at;
};

static vhdx_status raw_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct raw_io *r = ctx;
    size_t n = off >= r->size ? 0 : r->size - off < len ? (size_t)(r->size - off) : len;
    if (off + n > r->fail_at) {
        *got = 0;
        return VHDX_E_IO;
    }
    memcpy(buf, r->data + off, n);
    *got = n;
    return VHDX_OK;
}

static vhdx_status raw_size(void *ctx, uint64_t *size)
{
    *size = ((struct raw_io *)ctx)->size;
    return VHDX_OK;
}

static void test_convert_io_source(void **state)
{
    /* 3 MiB + 100 bytes: the disk is rounded up to whole 512-byte sectors. */
    const uint64_t size = 3 * MiB + 100, vsize = 3 * MiB + 512;
    uint8_t *raw = calloc(1, vsize);
    struct raw_io r = {raw, size, UINT64_MAX};
    vhdx_io io;
    struct memfile out;
    vhdx_image *img;
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_convert_result res;
    struct progress_log pl;
    vhdx_info info;
    (void)state;

    assert_non_null(raw);
    fill(raw, 4096, 3);
    fill(raw + 3 * MiB, 100, 4);
    memset(&io, 0, sizeof(io));
    io.ctx = &r;
    io.read = raw_read;
    io.size = raw_size;
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_IO;
    s.io = &io;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DYNAMIC;
    co.create.block_size = (uint32_t)MiB;
    memset(&pl, 0, sizeof(pl));
    co.progress = record_progress;
    co.progress_ctx = &pl;
    mf_init(&out);
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &res), VHDX_OK);
    assert_int_equal(pl.total, vsize);
    assert_int_equal(pl.done[0], 0);
    assert_int_equal(pl.done[pl.n - 1], vsize);
    /* A source without holes is read whole; only the blocks with data are written. */
    img = open_mem(&out);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.virtual_size, vsize);
    assert_int_equal(info.blocks_allocated, 2);
    assert_disk(img, raw, vsize);
    vhdx_close(img);
    mf_free(&out);

    /* A read failure: which side, where. */
    r.fail_at = 3 * MiB;
    mf_init(&out);
    memset(&pl, 0, sizeof(pl));
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &res), VHDX_E_IO);
    assert_int_equal(res.failed_side, VHDX_SIDE_SOURCE);
    assert_int_equal(res.failed_offset, 3 * MiB);
    assert_int_equal(res.sys_errno, 0);
    /* The file is left unsealed: every reader refuses it. */
    {
        vhdx_io b = io_borrow(&out.io);
        vhdx_open_options o = opts(0);
        vhdx_image *none = NULL;
        assert_status(vhdx_open(&b, &o, &none), VHDX_E_SIGNATURE);
    }
    mf_free(&out);

    /* A size the source does not fit in, and an empty source. */
    r.fail_at = UINT64_MAX;
    co.create.virtual_size = 2 * MiB;
    mf_init(&out);
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &res), VHDX_E_RANGE);
    assert_int_equal(io_size(&out.io), 0);
    co.create.virtual_size = 0;
    r.size = 0;
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &res), VHDX_E_RANGE);
    assert_status(vhdx_convert(NULL, &out.io, &co, NULL, &res), VHDX_E_INVALID_ARG);
    s.kind = (vhdx_source_kind)7;
    assert_status(vhdx_convert(&s, &out.io, &co, NULL, &res), VHDX_E_INVALID_ARG);
    mf_free(&out);
    free(raw);
}

/* A memory limit smaller than the default run buffer: the runs get shorter. */
static void test_convert_small_memory_limit(void **state)
{
    const uint64_t vsize = 64 * MiB;
    uint8_t *raw = malloc(vsize);
    struct raw_io r = {raw, vsize, UINT64_MAX};
    vhdx_io io;
    struct memfile out;
    vhdx_image *img;
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_limits lim = vhdx_limits_default();
    vhdx_open_options o;
    (void)state;

    assert_non_null(raw);
    fill(raw, vsize, 5);
    memset(&io, 0, sizeof(io));
    io.ctx = &r;
    io.read = raw_read;
    io.size = raw_size;
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_IO;
    s.io = &io;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DYNAMIC;
    co.create.block_size = (uint32_t)MiB;
    lim.max_memory = 8 * MiB;
    o = opts(0);
    o.limits = &lim;
    mf_init(&out);
    assert_status(vhdx_convert(&s, &out.io, &co, &o, NULL), VHDX_OK);
    img = open_mem(&out);
    assert_disk(img, raw, vsize);
    vhdx_close(img);
    mf_free(&out);
    free(raw);
}

static void write_file(const char *path, const uint8_t *data, uint64_t size)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    /* Only the non-zero 4 KiB pieces: the rest stays holes. */
    for (uint64_t off = 0; off < size; off += 4096) {
        size_t n = size - off < 4096 ? (size_t)(size - off) : 4096;
        bool zero = true;
        for (size_t i = 0; i < n; i++)
            zero = zero && data[off + i] == 0;
        if (!zero)
            assert_int_equal(pwrite(fd, data + off, n, (off_t)off), (ssize_t)n);
    }
    close(fd);
}

static void test_convert_path_fd_source(void **state)
{
    const uint64_t size = 12 * MiB;
    uint8_t *raw = calloc(1, size);
    char src_path[128], dst_path[128];
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_convert_result res;
    struct progress_log pl;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_info info;
    int fd;
    (void)state;

    assert_non_null(raw);
    fill(raw, 8192, 6);
    fill(raw + 9 * MiB, 4096, 7);
    path_in(src_path, sizeof(src_path), "src.raw");
    path_in(dst_path, sizeof(dst_path), "dst.vhdx");
    write_file(src_path, raw, size);
    fd = open(src_path, O_RDONLY);
    assert_true(fd >= 0);
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_FD;
    s.fd = fd;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DYNAMIC;
    co.create.block_size = (uint32_t)MiB;
    assert_status(vhdx_convert_path(&s, dst_path, &co, NULL, NULL, &res), VHDX_OK);
    assert_int_equal(res.data_bytes, 8192 + 4096);
    o = opts(0);
    assert_status(vhdx_open_path(dst_path, &o, &img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 2);
    assert_disk(img, raw, size);
    vhdx_close(img);
    /* It exists now. */
    assert_status(vhdx_convert_path(&s, dst_path, &co, NULL, NULL, &res), VHDX_E_DUPLICATE);
    assert_int_equal(res.failed_side, 0);
    assert_int_equal(unlink(dst_path), 0);
    /* Cancelled half way: the file is removed. */
    memset(&pl, 0, sizeof(pl));
    pl.cancel_at = 6;
    co.progress = record_progress;
    co.progress_ctx = &pl;
    assert_status(vhdx_convert_path(&s, dst_path, &co, NULL, NULL, &res), VHDX_E_CANCELLED);
    assert_int_equal(pl.n, 6);
    assert_int_equal(res.failed_side, 0);
    assert_int_equal(access(dst_path, F_OK), -1);
    /* A differencing target needs a parent, and a parent needs a differencing target. */
    co.progress = NULL;
    co.create.type = VHDX_DISK_DIFFERENCING;
    assert_status(vhdx_convert_path(&s, dst_path, &co, NULL, NULL, &res), VHDX_E_INVALID_ARG);
    co.create.type = VHDX_DISK_DYNAMIC;
    assert_status(vhdx_convert_path(&s, dst_path, &co, src_path, NULL, &res),
                  VHDX_E_INVALID_ARG);
    assert_int_equal(access(dst_path, F_OK), -1);
    close(fd);
    free(raw);
}

/*
 * A differencing target holds exactly the sectors where the source differs
 * from the parent: block 0 is the same, block 1 is zeros in the source but
 * data in the parent, block 3 differs in one sector, block 5 is new.
 */
static void test_convert_differencing(void **state)
{
    const uint64_t size = 8 * MiB;
    uint8_t *pdisk = calloc(1, size), *sdisk = calloc(1, size);
    char parent_path[128], src_path[128], child_path[128];
    vhdx_create_options c;
    vhdx_source s;
    vhdx_convert_options co;
    vhdx_convert_result res;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_extent e;
    vhdx_info info;
    int fd;
    (void)state;

    assert_non_null(pdisk);
    assert_non_null(sdisk);
    fill(pdisk, MiB, 8);          /* block 0 */
    fill(pdisk + MiB, 65536, 9);  /* block 1 */
    fill(pdisk + 3 * MiB, MiB, 10); /* block 3 */
    memcpy(sdisk, pdisk, size);
    memset(sdisk + MiB, 0, 65536);
    sdisk[3 * MiB + 1024] ^= 0xff; /* one sector of block 3 */
    fill(sdisk + 5 * MiB, 4096, 11);
    path_in(parent_path, sizeof(parent_path), "parent.vhdx");
    path_in(src_path, sizeof(src_path), "new.raw");
    path_in(child_path, sizeof(child_path), "child.vhdx");
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = size;
    c.block_size = (uint32_t)MiB;
    o = opts(0);
    assert_status(vhdx_create_open_path(parent_path, &c, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, pdisk, (size_t)size), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    write_file(src_path, sdisk, size);
    fd = open(src_path, O_RDONLY);
    assert_true(fd >= 0);
    memset(&s, 0, sizeof(s));
    s.kind = VHDX_SOURCE_FD;
    s.fd = fd;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DIFFERENCING;
    assert_status(vhdx_convert_path(&s, child_path, &co, parent_path, NULL, &res), VHDX_OK);
    /* 64 KiB of zeros, one 512-byte sector, 4 KiB of new data. */
    assert_int_equal(res.data_bytes, 65536 + 512 + 4096);
    o = opts(0);
    assert_status(vhdx_open_path(child_path, &o, &img), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DIFFERENCING);
    assert_int_equal(info.chain_depth, 1);
    assert_disk(img, sdisk, size);
    assert_status(vhdx_map_next(img, 0, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_PARENT);
    assert_int_equal(e.length, MiB);
    assert_status(vhdx_map_next(img, 3 * MiB + 1024, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.length, 512);
    vhdx_close(img);
    /* A source larger than the parent does not fit. */
    assert_int_equal(unlink(child_path), 0);
    close(fd);
    write_file(src_path, sdisk, size);
    fd = open(src_path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(size + 512)), 0);
    s.fd = fd;
    assert_status(vhdx_convert_path(&s, child_path, &co, parent_path, NULL, &res), VHDX_E_RANGE);
    assert_int_equal(access(child_path, F_OK), -1);
    close(fd);
    free(pdisk);
    free(sdisk);
}

/* ---- vhdx_export_raw over the holes of the image's own file ---- */

/* The data ranges of file fd (SEEK_DATA/SEEK_HOLE), as start, end pairs; returns how many. */
static size_t data_ranges(int fd, uint64_t size, uint64_t *r, size_t cap)
{
    size_t n = 0;
    off_t pos = 0;
    while ((uint64_t)pos < size) {
        off_t d = lseek(fd, pos, SEEK_DATA), h;
        if (d < 0) {
            assert_int_equal(errno, ENXIO);
            break;
        }
        h = lseek(fd, d, SEEK_HOLE);
        assert_true(h > d);
        assert_true(n + 2 <= cap);
        r[n++] = (uint64_t)d;
        r[n++] = (uint64_t)h;
        pos = h;
    }
    return n / 2;
}

/*
 * An image file (by path: a descriptor back end, clean log) whose
 * allocated blocks are mostly holes in the file, and hold written zeros
 * besides data: the export skips the holes without reading them (the fast
 * path) and still leaves the written zeros as holes. Exact bytes, exact
 * data ranges of the output, exact sink calls.
 */
static void test_export_file_holes(void **state)
{
    char path[128], out[128];
    vhdx_create_options c;
    vhdx_open_options o = opts(VHDX_OPEN_WRITABLE);
    vhdx_image *img = NULL;
    vhdx_info info;
    uint8_t *disk, *back, a[4096], b[8192], zeros[8192];
    uint64_t r[16];
    struct sink_log sl;
    int fd, ifd;
    (void)state;

    path_in(path, sizeof(path), "holes.vhdx");
    path_in(out, sizeof(out), "holes.raw");
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = 8 * MiB;
    c.block_size = (uint32_t)MiB;
    disk = calloc(1, 8 * MiB);
    assert_non_null(disk);
    memset(zeros, 0, sizeof(zeros));
    assert_status(vhdx_create_open_path(path, &c, &o, &img), VHDX_OK);
    /* Block 1: 4 KiB of data at 64 KiB into it; the rest of the block is a hole of the file. */
    fill(a, sizeof(a), 3);
    assert_status(vhdx_write(img, MiB + 64 * 1024, a, sizeof(a)), VHDX_OK);
    memcpy(disk + MiB + 64 * 1024, a, sizeof(a));
    /* Block 3: data, then 8 KiB of zeros written into the present block (zeros in the
       file, not a hole), then data again right after them. */
    fill(b, sizeof(b), 4);
    assert_status(vhdx_write(img, 3 * MiB, b, sizeof(b)), VHDX_OK);
    assert_status(vhdx_write(img, 3 * MiB + 20 * 1024, a, sizeof(a)), VHDX_OK);
    assert_status(vhdx_write(img, 3 * MiB + 8 * 1024, zeros, sizeof(zeros)), VHDX_OK);
    memcpy(disk + 3 * MiB, b, sizeof(b));
    memcpy(disk + 3 * MiB + 20 * 1024, a, sizeof(a));
    memset(disk + 3 * MiB + 8 * 1024, 0, sizeof(zeros));
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);

    /* The image file itself has holes inside block 1 (so the fast path has some to skip). */
    ifd = open(path, O_RDONLY);
    assert_true(ifd >= 0);
    o = opts(0);
    assert_status(vhdx_open_path(path, &o, &img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.log_replay, VHDX_LOG_CLEAN);
    {
        vhdx_extent e;
        assert_status(vhdx_map_next(img, MiB, &e), VHDX_OK);
        assert_int_equal(e.kind, VHDX_EXTENT_DATA);
        assert_int_equal(lseek(ifd, (off_t)e.file_offset, SEEK_HOLE), (off_t)e.file_offset);
        assert_int_equal(lseek(ifd, (off_t)e.file_offset, SEEK_DATA),
                         (off_t)(e.file_offset + 64 * 1024));
    }
    close(ifd);

    fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_status(vhdx_export_raw(img, fd, NULL), VHDX_OK);
    back = malloc(8 * MiB);
    assert_non_null(back);
    assert_int_equal(pread(fd, back, 8 * MiB, 0), (ssize_t)(8 * MiB));
    assert_memory_equal(back, disk, 8 * MiB);
    /* Data exactly where the disk has non-zero bytes; holes everywhere else. */
    assert_int_equal(data_ranges(fd, 8 * MiB, r, 16), 3);
    assert_int_equal(r[0], MiB + 64 * 1024);
    assert_int_equal(r[1], MiB + 68 * 1024);
    assert_int_equal(r[2], 3 * MiB);
    assert_int_equal(r[3], 3 * MiB + 8 * 1024);
    assert_int_equal(r[4], 3 * MiB + 20 * 1024);
    assert_int_equal(r[5], 3 * MiB + 24 * 1024);
    close(fd);

    /* The same three pieces through a sink. */
    assert_status(export_recorded(img, &sl, VHDX_OK), VHDX_OK);
    assert_int_equal(sl.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(sl.off[i], r[2 * i]);
        assert_int_equal(sl.len[i], r[2 * i + 1] - r[2 * i]);
    }
    vhdx_close(img);
    free(back);
    free(disk);
}

/*
 * Where the file's holes must not be trusted: a dirty log replayed in
 * memory (a read-only open) puts data over ranges that are holes of the
 * file. The export reads through the replayed view, and gives what
 * vhdx_read gives, data included.
 */
static void test_export_dirty_log_holes(void **state)
{
    struct dirty_image d;
    char path[128], out[128];
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_info info;
    uint8_t *disk, *back;
    bool nonzero = false;
    int fd;
    (void)state;

    /* "multi-entry": the log maps block 0 and writes patterns into it. */
    assert_int_equal(dirty_build(1, &d), 0);
    assert_null(d.rule);
    path_in(path, sizeof(path), "dirty.vhdx");
    path_in(out, sizeof(out), "dirty.raw");
    write_file(path, d.img.data, d.img.len); /* zero pages become holes of the file */
    o = opts(0);
    assert_status(vhdx_open_path(path, &o, &img), VHDX_OK);
    {
        /* The block the log maps at disk offset 0 gets zeros in the file, i.e. a hole:
           only the log's pages then hold its data. */
        vhdx_extent e;
        assert_status(vhdx_map_next(img, 0, &e), VHDX_OK);
        assert_int_equal(e.kind, VHDX_EXTENT_DATA);
        assert_true(e.file_offset + MiB <= d.img.len);
        memset(d.img.data + e.file_offset, 0, MiB);
        vhdx_close(img);
        write_file(path, d.img.data, d.img.len);
        o = opts(0);
        assert_status(vhdx_open_path(path, &o, &img), VHDX_OK);
    }
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.log_replay, VHDX_LOG_REPLAYED_IN_MEMORY);
    disk = malloc((size_t)info.virtual_size);
    back = malloc((size_t)info.virtual_size);
    assert_non_null(disk);
    assert_non_null(back);
    assert_status(vhdx_read(img, 0, disk, (size_t)info.virtual_size), VHDX_OK);
    for (uint64_t i = 0; i < info.virtual_size && !nonzero; i++)
        nonzero = disk[i] != 0;
    assert_true(nonzero); /* the log's data, which the file alone does not hold */

    fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_status(vhdx_export_raw(img, fd, NULL), VHDX_OK);
    assert_int_equal(pread(fd, back, (size_t)info.virtual_size, 0), (ssize_t)info.virtual_size);
    assert_memory_equal(back, disk, (size_t)info.virtual_size);
    close(fd);
    vhdx_close(img);
    free(back);
    free(disk);
    dirty_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_fd_sparse),
        cmocka_unit_test(test_export_sink),
        cmocka_unit_test(test_export_cancel),
        cmocka_unit_test(test_export_file_holes),
        cmocka_unit_test(test_export_dirty_log_holes),
        cmocka_unit_test(test_convert_image_to_dynamic),
        cmocka_unit_test(test_convert_fixed_4k),
        cmocka_unit_test(test_convert_io_source),
        cmocka_unit_test(test_convert_small_memory_limit),
        cmocka_unit_test(test_convert_path_fd_source),
        cmocka_unit_test(test_convert_differencing),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
