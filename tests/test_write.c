/*
 * The writer (src/image/create.c, src/image/write.c, docs/WRITER.md):
 * creation of each shape and its refusals, atomic creation, the header
 * updates of a write session, batching into log entries and the flushes it
 * costs, block state transitions of writes, zeroing and discard, sector
 * bitmaps of differencing images, resize, and failure handling. Crash
 * consistency of every workload is proven in test_crash.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "format/constants.h"
#include "image_builder.h"
#include "io/fault.h"
#include "io/overlay.h"
#include "test_util.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

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

static vhdx_create_options dyn(uint64_t size, uint32_t block)
{
    vhdx_create_options c;
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = size;
    c.block_size = block;
    return c;
}

static vhdx_image *open_io(const vhdx_io *file, unsigned flags)
{
    vhdx_io io = io_borrow(file);
    vhdx_open_options o = opts(flags);
    vhdx_image *img = NULL;
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    return img;
}

/* vhdx_check of the file: errors and warnings. */
static void check_clean(const vhdx_io *file)
{
    vhdx_io io = io_borrow(file);
    vhdx_open_options o = opts(0);
    vhdx_check_result r;
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 0);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 31u + seed * 7u + 1u);
}

static vhdx_extent extent_at(vhdx_image *img, uint64_t off)
{
    vhdx_extent e;
    assert_status(vhdx_map_next(img, off, &e), VHDX_OK);
    return e;
}

static void header_guids(const vhdx_io *file, int slot, uint8_t fwg[16], uint8_t dwg[16],
                         uint8_t log[16], uint64_t *seq)
{
    uint8_t h[4096];
    size_t got = 0;
    assert_status(file->read(file->ctx, h, sizeof(h), slot == 1 ? 65536u : 131072u, &got), VHDX_OK);
    memcpy(fwg, h + 16, 16);
    memcpy(dwg, h + 32, 16);
    memcpy(log, h + 48, 16);
    *seq = le64_load_no_bounds_check(h + 8);
}

static bool nil(const uint8_t g[16])
{
    static const uint8_t z[16];
    return memcmp(g, z, 16) == 0;
}

/* ---- Create ---- */

static void test_create_dynamic_layout_and_info(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(64 * MiB, (uint32_t)MiB);
    vhdx_image *img;
    vhdx_info info;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    /* header section, 1 MiB log, 1 MiB metadata, 1 MiB BAT */
    assert_int_equal(io_size(&m.io), 4 * MiB);
    img = open_io(&m.io, 0);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DYNAMIC);
    assert_int_equal(info.virtual_size, 64 * MiB);
    assert_int_equal(info.block_size, MiB);
    assert_int_equal(info.logical_sector_size, 512);
    assert_int_equal(info.physical_sector_size, 4096);
    assert_int_equal(info.bat_entries, 64);
    assert_int_equal(info.blocks_allocated, 0);
    assert_int_equal(info.header_sequence, 2);
    assert_int_equal(info.current_header, 2);
    assert_int_equal(info.log_offset, MiB);
    assert_int_equal(info.log_length, MiB);
    assert_string_equal(info.creator, "vhdx " VHDX_VERSION_STRING);
    assert_string_equal(info.log_guid, "{00000000-0000-0000-0000-000000000000}");
    assert_int_equal(extent_at(img, 0).kind, VHDX_EXTENT_ZERO);
    assert_int_equal(extent_at(img, 0).length, 64 * MiB);
    assert_int_equal(extent_at(img, 0).bat_state, 0); /* NOT_PRESENT */
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

static void test_create_fixed_allocates_every_block_reading_zeros(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB + 4096, (uint32_t)MiB);
    vhdx_image *img;
    vhdx_info info;
    uint8_t buf[4096];
    (void)state;
    c.type = VHDX_DISK_FIXED;
    c.logical_sector_size = 4096;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    assert_int_equal(io_size(&m.io), 4 * MiB + 9 * MiB);
    img = open_io(&m.io, 0);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_FIXED);
    assert_int_equal(info.blocks_allocated, 9);
    assert_int_equal(extent_at(img, 0).kind, VHDX_EXTENT_DATA);
    assert_int_equal(extent_at(img, 0).file_offset, 4 * MiB);
    assert_int_equal(extent_at(img, 8 * MiB).file_offset, 12 * MiB);
    assert_status(vhdx_read(img, 8 * MiB, buf, sizeof(buf)), VHDX_OK);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

static void test_create_default_block_size_follows_qemu(void **state)
{
    static const struct {
        uint64_t size;
        uint32_t block;
    } cases[] = {{GiB, 8u << 20},           {GiB + 512, 16u << 20},
                 {100 * GiB, 16u << 20},    {100 * GiB + 512, 32u << 20},
                 {32 * TiB, 32u << 20},     {32 * TiB + 512, 64u << 20}};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct memfile m;
        vhdx_create_options c = dyn(cases[i].size, 0);
        vhdx_image *img;
        vhdx_info info;
        mf_init(&m);
        assert_status(vhdx_create(&m.io, &c), VHDX_OK);
        img = open_io(&m.io, 0);
        assert_status(vhdx_get_info(img, &info), VHDX_OK);
        assert_int_equal(info.block_size, cases[i].block);
        vhdx_close(img);
        mf_free(&m);
    }
}

static void test_create_refuses_bad_options(void **state)
{
    static const struct {
        uint64_t size;
        uint32_t block, log, lss, pss;
        vhdx_status expect;
    } cases[] = {
        {64 * MiB, 3u << 20, 0, 0, 0, VHDX_E_RANGE},      /* not a power of two */
        {64 * MiB, 512u << 10, 0, 0, 0, VHDX_E_RANGE},    /* below 1 MiB */
        {64 * MiB, 512u << 20, 0, 0, 0, VHDX_E_RANGE},    /* above 256 MiB */
        {64 * MiB, 0, (3u << 20) / 2, 0, 0, VHDX_E_RANGE}, /* log not whole MiB */
        {64 * MiB, 0, 0, 1024, 0, VHDX_E_RANGE},
        {64 * MiB, 0, 0, 0, 2048, VHDX_E_RANGE},
        {0, 0, 0, 0, 0, VHDX_E_RANGE},
        {513, 0, 0, 0, 0, VHDX_E_RANGE},
        {64 * MiB + 512, 0, 0, 4096, 0, VHDX_E_RANGE},
        {64 * TiB + 512, 0, 0, 0, 0, VHDX_E_RANGE},
        {64 * TiB, 256u << 20, 0, 0, 0, VHDX_OK},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct memfile m;
        vhdx_create_options c = dyn(cases[i].size, cases[i].block);
        c.log_size = cases[i].log;
        c.logical_sector_size = cases[i].lss;
        c.physical_sector_size = cases[i].pss;
        mf_init(&m);
        assert_status(vhdx_create(&m.io, &c), cases[i].expect);
        if (cases[i].expect != VHDX_OK)
            assert_int_equal(io_size(&m.io), 0); /* nothing written */
        mf_free(&m);
    }
}

static void test_create_refuses_non_empty_file_and_bad_parent_options(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(64 * MiB, 0);
    (void)state;
    mf_init(&m);
    assert_status(m.io.write(m.io.ctx, "x", 1, 0), VHDX_OK);
    assert_status(vhdx_create(&m.io, &c), VHDX_E_INVALID_ARG);
    mf_free(&m);
    mf_init(&m);
    c.type = VHDX_DISK_DIFFERENCING; /* no parent */
    assert_status(vhdx_create(&m.io, &c), VHDX_E_INVALID_ARG);
    c.type = VHDX_DISK_DYNAMIC;
    c.parent_relative_path = "p.vhdx"; /* a path without differencing */
    assert_status(vhdx_create(&m.io, &c), VHDX_E_INVALID_ARG);
    assert_int_equal(io_size(&m.io), 0);
    mf_free(&m);
}

/* Stopped after every write: refused by its signature until the very last write. */
static void test_create_is_atomic_to_a_reader(void **state)
{
    struct memfile ref;
    struct alloc_acct acct;
    vhdx_create_options c = dyn(64 * MiB, (uint32_t)MiB);
    uint64_t total;
    vhdx_io f;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    mf_init(&ref);
    assert_status(io_fault_create(&ref.io, &acct, UINT64_MAX, &f), VHDX_OK);
    assert_status(vhdx_create(&f, &c), VHDX_OK);
    total = io_fault_stats(&f).writes + io_fault_stats(&f).truncates;
    assert_int_equal(io_fault_stats(&f).flushes, 2);
    vhdx_io_close(&f);
    mf_free(&ref);
    for (uint64_t n = 0; n < total; n++) {
        struct memfile m;
        vhdx_io io;
        vhdx_image *img = NULL;
        vhdx_open_options o = opts(0);
        mf_init(&m);
        assert_status(io_fault_create(&m.io, &acct, n, &f), VHDX_OK);
        assert_status(vhdx_create(&f, &c), VHDX_E_IO);
        vhdx_io_close(&f);
        io = io_borrow(&m.io);
        if (n == 0) { /* not even the size */
            assert_status(vhdx_open(&io, &o, &img), VHDX_E_TRUNCATED);
        } else {
            assert_status(vhdx_open(&io, &o, &img), VHDX_E_SIGNATURE);
            assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                             "file_identifier.signature");
        }
        assert_null(img);
        mf_free(&m);
    }
}

/* ---- Unsealed builds (vhdx_create_open) ---- */

/* Whether [off, off + len) of the file is all zeros. */
static bool file_zero(const vhdx_io *file, uint64_t off, size_t len)
{
    uint8_t *buf = malloc(len);
    size_t got = 0;
    bool zero = true;
    assert_non_null(buf);
    assert_status(file->read(file->ctx, buf, len, off, &got), VHDX_OK);
    assert_int_equal(got, len);
    for (size_t i = 0; i < len && zero; i++)
        zero = buf[i] == 0;
    free(buf);
    return zero;
}

/*
 * A build writes data, BAT entries and a release without the log and
 * without a flush; the file stays refused by its signature; vhdx_finish
 * seals it with exactly two flushes and the headers as created.
 */
static void test_create_open_builds_unsealed_then_seals(void **state)
{
    struct memfile m;
    struct alloc_acct acct;
    vhdx_create_options c = dyn(64 * MiB, (uint32_t)MiB);
    uint8_t fwg0[16], dwg0[16], log0[16], fwg[16], dwg[16], log[16];
    uint8_t *data = malloc(2 * MiB), *back = malloc(2 * MiB);
    uint64_t seq0, seq;
    vhdx_image *img = NULL, *reader = NULL;
    vhdx_open_options o = opts(0);
    vhdx_io f, g;
    vhdx_info info;
    (void)state;
    assert_non_null(data);
    assert_non_null(back);
    alloc_acct_init(&acct, NULL, 0);
    mf_init(&m);
    assert_status(io_fault_create(&m.io, &acct, UINT64_MAX, &f), VHDX_OK);
    g = io_borrow(&f);
    assert_status(vhdx_create_open(&g, &c, &o, &img), VHDX_OK);
    header_guids(&m.io, 2, fwg0, dwg0, log0, &seq0);
    assert_int_equal(seq0, 2);
    fill(data, (size_t)(2 * MiB), 5);
    /* Blocks 3-4 whole, 512 bytes in 40 more, block 10 zeroed, block 63 written then discarded. */
    assert_status(vhdx_write(img, 3 * MiB, data, (size_t)(2 * MiB)), VHDX_OK);
    for (uint64_t b = 11; b < 51; b++)
        assert_status(vhdx_write(img, b * MiB + 512, data, 512), VHDX_OK);
    assert_status(vhdx_write_zeroes(img, 10 * MiB, MiB), VHDX_OK);
    assert_status(vhdx_write(img, 63 * MiB, data, 4096), VHDX_OK);
    assert_status(vhdx_discard(img, 63 * MiB, MiB, NULL), VHDX_OK);
    /* No flush, no log, no header change, no signature: every reader refuses the file. */
    assert_int_equal(io_fault_stats(&f).flushes, 0);
    assert_true(file_zero(&m.io, 0, 8));
    assert_true(file_zero(&m.io, MiB, (size_t)MiB));
    header_guids(&m.io, 2, fwg, dwg, log, &seq);
    assert_int_equal(seq, seq0);
    g = io_borrow(&m.io);
    {
        vhdx_open_options ro = opts(0);
        assert_status(vhdx_open(&g, &ro, &reader), VHDX_E_SIGNATURE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "file_identifier.signature");
        assert_null(reader);
    }
    /* The handle reads what it wrote. */
    assert_status(vhdx_read(img, 3 * MiB, back, (size_t)(2 * MiB)), VHDX_OK);
    assert_memory_equal(back, data, (size_t)(2 * MiB));
    assert_int_equal(extent_at(img, 63 * MiB).kind, VHDX_EXTENT_ZERO);
    /* The seal: the batch applied, the released tail trimmed, flush, signature, flush. */
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_int_equal(io_fault_stats(&f).flushes, 2);
    assert_false(file_zero(&m.io, 0, 8));
    assert_true(file_zero(&m.io, MiB, (size_t)MiB));
    header_guids(&m.io, 2, fwg, dwg, log, &seq);
    assert_int_equal(seq, seq0);
    assert_memory_equal(fwg, fwg0, 16);
    assert_memory_equal(dwg, dwg0, 16);
    assert_true(nil(log));
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 2 + 40);
    /* Data from 4 MiB (log 1, metadata 1, BAT 1): 42 blocks, the discarded one trimmed. */
    assert_int_equal(io_size(&m.io), 4 * MiB + 42 * MiB);
    /* Sealed: the next change is an ordinary logged session with new GUIDs. */
    assert_status(vhdx_write(img, 60 * MiB, data, 4096), VHDX_OK);
    header_guids(&m.io, 2, fwg, dwg, log, &seq);
    assert_int_equal(seq, seq0 + 2);
    assert_memory_not_equal(fwg, fwg0, 16);
    assert_memory_not_equal(dwg, dwg0, 16);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    vhdx_io_close(&f);
    img = open_io(&m.io, 0);
    assert_status(vhdx_read(img, 3 * MiB, back, (size_t)(2 * MiB)), VHDX_OK);
    assert_memory_equal(back, data, (size_t)(2 * MiB));
    for (uint64_t b = 11; b < 51; b++) {
        assert_status(vhdx_read(img, b * MiB, back, 1024), VHDX_OK);
        assert_memory_equal(back + 512, data, 512);
    }
    assert_int_equal(extent_at(img, 10 * MiB).kind, VHDX_EXTENT_ZERO);
    assert_status(vhdx_read(img, 60 * MiB, back, 4096), VHDX_OK);
    assert_memory_equal(back, data, 4096);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
    free(data);
    free(back);
}

/* Closed before vhdx_finish, or failed half-way: the file stays refused. */
static void test_create_open_unfinished_stays_refused(void **state)
{
    struct memfile m;
    struct alloc_acct acct;
    vhdx_create_options c = dyn(16 * MiB, (uint32_t)MiB);
    uint8_t data[4096];
    uint64_t total;
    vhdx_image *img = NULL;
    vhdx_open_options o = opts(0);
    vhdx_io f, g;
    (void)state;
    fill(data, sizeof(data), 9);
    alloc_acct_init(&acct, NULL, 0);
    /* Closed without vhdx_finish. */
    mf_init(&m);
    g = io_borrow(&m.io);
    assert_status(vhdx_create_open(&g, &c, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_OK);
    vhdx_close(img);
    g = io_borrow(&m.io);
    o = opts(0);
    assert_status(vhdx_open(&g, &o, &img), VHDX_E_SIGNATURE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "file_identifier.signature");
    /* And it cannot be taken for an unsealed build again: the file is not empty. */
    g = io_borrow(&m.io);
    assert_status(vhdx_create_open(&g, &c, &o, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    mf_free(&m);
    /* The back end fails at each write or truncate of a build: refused every time. */
    mf_init(&m);
    assert_status(io_fault_create(&m.io, &acct, UINT64_MAX, &f), VHDX_OK);
    g = io_borrow(&f);
    assert_status(vhdx_create_open(&g, &c, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 5 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    /* truncate, metadata, 2 region tables, 2 headers, identifier; data, truncate, BAT; signature */
    total = io_fault_stats(&f).writes + io_fault_stats(&f).truncates;
    assert_int_equal(total, 11);
    vhdx_io_close(&f);
    mf_free(&m);
    for (uint64_t n = 0; n < total; n++) {
        vhdx_status st;
        mf_init(&m);
        assert_status(io_fault_create(&m.io, &acct, n, &f), VHDX_OK);
        g = io_borrow(&f);
        o = opts(0);
        st = vhdx_create_open(&g, &c, &o, &img);
        if (st == VHDX_OK) {
            st = vhdx_write(img, 5 * MiB, data, sizeof(data));
            if (st == VHDX_OK)
                st = vhdx_finish(img);
            assert_status(st, VHDX_E_IO);
            assert_status(vhdx_finish(img), VHDX_E_BAD_STATE);
            vhdx_close(img);
        } else {
            assert_status(st, VHDX_E_IO);
            assert_null(img);
        }
        assert_true(io_fault_stats(&f).stopped);
        vhdx_io_close(&f);
        g = io_borrow(&m.io);
        o = opts(0);
        st = vhdx_open(&g, &o, &img);
        assert_true(st == VHDX_E_SIGNATURE || (n == 0 && st == VHDX_E_TRUNCATED));
        assert_null(img);
        mf_free(&m);
    }
    /* Refusals. */
    mf_init(&m);
    g = io_borrow(&m.io);
    c.type = VHDX_DISK_DIFFERENCING; /* without a parent */
    assert_status(vhdx_create_open(&g, &c, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    c.type = VHDX_DISK_DYNAMIC;
    g = io_borrow(&m.io);
    assert_status(vhdx_create_open(&g, &c, NULL, NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_create_open(NULL, &c, NULL, &img), VHDX_E_INVALID_ARG);
    assert_int_equal(io_size(&m.io), 0);
    mf_free(&m);
}

/* vhdx_create_open_path: the file exists from the start, refused until sealed. */
static void test_create_open_path(void **state)
{
    char dir[] = "/tmp/vhdx-create-open-XXXXXX", path[256], missing[256];
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    uint8_t data[4096], back[4096];
    vhdx_image *img = NULL;
    vhdx_open_options o = opts(0);
    (void)state;
    fill(data, sizeof(data), 4);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/new.vhdx", dir);
    snprintf(missing, sizeof(missing), "%s/no/new.vhdx", dir);
    assert_status(vhdx_create_open_path(missing, &c, NULL, &img), VHDX_E_MISSING);
    assert_status(vhdx_create_open_path(path, &c, NULL, &img), VHDX_OK);
    assert_status(vhdx_write(img, 2 * MiB, data, sizeof(data)), VHDX_OK);
    /* Another reader now: refused by the signature. */
    {
        vhdx_image *other = NULL;
        o = opts(0);
        assert_status(vhdx_open_path(path, &o, &other), VHDX_E_SIGNATURE);
        assert_null(other);
    }
    {
        vhdx_image *dup = NULL;
        assert_status(vhdx_create_open_path(path, &c, NULL, &dup), VHDX_E_DUPLICATE);
        assert_null(dup);
    }
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    o = opts(0);
    assert_status(vhdx_open_path(path, &o, &img), VHDX_OK);
    assert_status(vhdx_read(img, 2 * MiB, back, sizeof(back)), VHDX_OK);
    assert_memory_equal(back, data, sizeof(data));
    vhdx_close(img);
    /* Closed unsealed: left for the caller to remove, and refused. */
    assert_int_equal(unlink(path), 0);
    assert_status(vhdx_create_open_path(path, &c, NULL, &img), VHDX_OK);
    vhdx_close(img);
    o = opts(0);
    assert_status(vhdx_open_path(path, &o, &img), VHDX_E_SIGNATURE);
    assert_int_equal(unlink(path), 0);
    c.type = VHDX_DISK_DIFFERENCING; /* without a parent: nothing is left */
    assert_status(vhdx_create_open_path(path, &c, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- vhdx_create_path ---- */

/*
 * A parent opener that records every key and path it is offered and opens
 * `file` for the keys in `accept` (others get VHDX_E_MISSING, so the next
 * key is tried).
 */
struct locator_log {
    const char *file;
    const char *accept;
    int calls;
    char keys[3][32];
    char paths[3][4096];
};

static vhdx_status open_parent_logged(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct locator_log *l = ctx;
    int fd;
    if (l->calls < 3) {
        snprintf(l->keys[l->calls], sizeof(l->keys[0]), "%s", key);
        snprintf(l->paths[l->calls], sizeof(l->paths[0]), "%s", path);
    }
    l->calls++;
    if (strstr(l->accept, key) == NULL)
        return VHDX_E_MISSING;
    fd = open(l->file, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    return vhdx_io_from_fd(fd, 0, 1, out);
}

/* Opens `child` with open_parent_logged and returns the relative_path it stored. */
static void assert_relative_path(const char *child, const char *parent_file, const char *want)
{
    struct locator_log l;
    vhdx_open_options o = opts(0);
    vhdx_image *img = NULL;
    vhdx_info info;
    memset(&l, 0, sizeof(l));
    l.file = parent_file;
    l.accept = "relative_path";
    o.open_parent = open_parent_logged;
    o.open_parent_ctx = &l;
    assert_status(vhdx_open_path(child, &o, &img), VHDX_OK);
    assert_int_equal(l.calls, 1);
    assert_string_equal(l.keys[0], "relative_path");
    assert_string_equal(l.paths[0], want);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DIFFERENCING);
    assert_int_equal(info.chain_depth, 1);
    assert_string_equal(info.parent_path, want);
    vhdx_close(img);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A new file at a path: refusals leave nothing behind; a made image checks clean. */
static void test_create_path_dynamic_and_refusals(void **state)
{
    char dir[] = "/tmp/vhdx-create-path-XXXXXX", path[256], missing[256], notimg[256];
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    vhdx_open_options o;
    vhdx_check_result r;
    vhdx_image *img = NULL;
    vhdx_info info;
    FILE *f;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/d.vhdx", dir);
    snprintf(missing, sizeof(missing), "%s/no/d.vhdx", dir);
    snprintf(notimg, sizeof(notimg), "%s/text.vhdx", dir);

    assert_status(vhdx_create_path(NULL, &c, NULL, NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_create_path("", &c, NULL, NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_create_path(path, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    /* A parent for a dynamic image, none for a differencing one. */
    assert_status(vhdx_create_path(path, &c, notimg, NULL), VHDX_E_INVALID_ARG);
    c.type = VHDX_DISK_DIFFERENCING;
    assert_status(vhdx_create_path(path, &c, NULL, NULL), VHDX_E_INVALID_ARG);
    c.type = VHDX_DISK_DYNAMIC;
    assert_status(vhdx_create_path(missing, &c, NULL, NULL), VHDX_E_MISSING);
    /* Options create refuses: the file it opened is removed. */
    c.block_size = 3u << 20;
    assert_status(vhdx_create_path(path, &c, NULL, NULL), VHDX_E_RANGE);
    assert_false(exists(path));
    c.block_size = (uint32_t)MiB;

    assert_status(vhdx_create_path(path, &c, NULL, NULL), VHDX_OK);
    assert_status(vhdx_create_path(path, &c, NULL, NULL), VHDX_E_DUPLICATE);
    o = opts(0);
    assert_status(vhdx_open_path(path, &o, &img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_DYNAMIC);
    assert_int_equal(info.virtual_size, 8 * MiB);
    assert_int_equal(info.block_size, MiB);
    assert_int_equal(info.blocks_allocated, 0);
    vhdx_close(img);
    o = opts(0);
    assert_status(vhdx_check_path(path, &o, &r), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(r.errors + r.warnings, 0);

    /* Differencing: a parent that is absent, or not an image, makes no child. */
    c.type = VHDX_DISK_DIFFERENCING;
    c.virtual_size = 0;
    assert_status(vhdx_create_path(notimg, &c, missing, NULL), VHDX_E_MISSING);
    assert_false(exists(notimg));
    f = fopen(notimg, "w");
    assert_non_null(f);
    fputs("not an image\n", f);
    fclose(f);
    snprintf(missing, sizeof(missing), "%s/child.vhdx", dir);
    o = opts(0);
    assert_status(vhdx_create_path(missing, &c, notimg, &o), VHDX_E_SIGNATURE);
    assert_false(exists(missing));
    /* A size other than the parent's is refused after the parent was opened. */
    c.virtual_size = 16 * MiB;
    assert_status(vhdx_create_path(missing, &c, path, NULL), VHDX_E_INVALID_ARG);
    assert_false(exists(missing));

    assert_int_equal(unlink(notimg), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/*
 * The locator's relative_path is the parent's real path relative to the
 * child's directory, with '\' separators and ".." where it climbs (§5.4.6).
 */
static void test_create_path_differencing_records_relative_path(void **state)
{
    char root[] = "/tmp/vhdx-create-diff-XXXXXX", base[64], sub[64], other[64];
    char parent[256], c_same[256], c_sub[256], c_other[256], c_up[256], via_dots[300];
    vhdx_create_options c = dyn(4 * MiB, (uint32_t)MiB);
    static uint8_t data[4 * MiB], back[4 * MiB];
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_info pinfo, info;
    (void)state;
    fill(data, sizeof(data), 9);
    assert_non_null(mkdtemp(root));
    snprintf(base, sizeof(base), "%s/base", root);
    snprintf(sub, sizeof(sub), "%s/base/sub", root);
    snprintf(other, sizeof(other), "%s/other", root);
    assert_int_equal(mkdir(base, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(parent, sizeof(parent), "%s/p.vhdx", base);
    snprintf(c_same, sizeof(c_same), "%s/c1.vhdx", base);
    snprintf(c_sub, sizeof(c_sub), "%s/c2.vhdx", sub);
    snprintf(c_other, sizeof(c_other), "%s/c3.vhdx", other);
    snprintf(c_up, sizeof(c_up), "%s/c4.vhdx", root);
    /* The parent named through "sub/..": recorded by its real path. */
    snprintf(via_dots, sizeof(via_dots), "%s/sub/../p.vhdx", base);

    assert_status(vhdx_create_path(parent, &c, NULL, NULL), VHDX_OK);
    o = opts(VHDX_OPEN_WRITABLE);
    assert_status(vhdx_open_path(parent, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &pinfo), VHDX_OK);
    vhdx_close(img);

    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DIFFERENCING;
    /* Writable open options: the parent is still opened read-only. */
    o = opts(VHDX_OPEN_WRITABLE);
    assert_status(vhdx_create_path(c_same, &c, via_dots, &o), VHDX_OK);
    assert_status(vhdx_create_path(c_sub, &c, parent, NULL), VHDX_OK);
    assert_status(vhdx_create_path(c_other, &c, parent, NULL), VHDX_OK);
    assert_status(vhdx_create_path(c_up, &c, parent, NULL), VHDX_OK);
    assert_relative_path(c_same, parent, "p.vhdx");
    assert_relative_path(c_sub, parent, "..\\p.vhdx");
    assert_relative_path(c_other, parent, "..\\base\\p.vhdx");
    assert_relative_path(c_up, parent, "base\\p.vhdx");

    /* The built-in opener finds the parent beside the child; the child reads it. */
    o = opts(0);
    assert_status(vhdx_open_path(c_same, &o, &img), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_string_equal(info.parent_linkage, pinfo.data_write_guid);
    assert_int_equal(info.virtual_size, 4 * MiB);
    assert_int_equal(info.block_size, MiB);
    assert_status(vhdx_read(img, 0, back, sizeof(back)), VHDX_OK);
    assert_memory_equal(back, data, sizeof(back));
    vhdx_close(img);

    assert_int_equal(unlink(c_up), 0);
    assert_int_equal(unlink(c_other), 0);
    assert_int_equal(unlink(c_sub), 0);
    assert_int_equal(unlink(c_same), 0);
    assert_int_equal(unlink(parent), 0);
    assert_int_equal(rmdir(sub), 0);
    assert_int_equal(rmdir(base), 0);
    assert_int_equal(rmdir(other), 0);
    assert_int_equal(rmdir(root), 0);
}

/* Differencing options that contradict the parent, and the absolute path's form and size. */
static void test_create_differencing_option_refusals(void **state)
{
    struct memfile pm, cm;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    static char huge[40000];
    vhdx_image *parent;
    struct locator_log l;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    (void)state;
    mf_init(&pm);
    assert_status(vhdx_create(&pm.io, &c), VHDX_OK);
    parent = open_io(&pm.io, 0);

    /* A parent for a dynamic image, even without a relative path. */
    c.parent = parent;
    mf_init(&cm);
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_INVALID_ARG);
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DIFFERENCING;
    c.parent = parent;
    c.parent_relative_path = "";
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_INVALID_ARG);
    c.parent_relative_path = "p.vhdx";
    c.virtual_size = 16 * MiB;
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_INVALID_ARG);
    c.virtual_size = 8 * MiB; /* the parent's: allowed */
    c.logical_sector_size = 4096;
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_INVALID_ARG);
    c.logical_sector_size = 512;
    assert_int_equal(io_size(&cm.io), 0);
    /* absolute_win32_path must be a \\?\ path. */
    c.parent_absolute_path = "C:\\vms\\p.vhdx";
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_INVALID_ARG);
    mf_free(&cm);
    /* One that does not fit the parent locator item is refused, not cut. */
    memcpy(huge, "\\\\?\\C:\\", 7);
    memset(huge + 7, 'a', sizeof(huge) - 8);
    huge[sizeof(huge) - 1] = '\0';
    c.parent_absolute_path = huge;
    mf_init(&cm);
    assert_status(vhdx_create(&cm.io, &c), VHDX_E_RANGE);
    mf_free(&cm);

    /* A well-formed one is stored: the opener is offered it after relative_path. */
    c.parent_absolute_path = "\\\\?\\C:\\vms\\p.vhdx";
    mf_init(&cm);
    assert_status(vhdx_create(&cm.io, &c), VHDX_OK);
    vhdx_close(parent);
    memset(&l, 0, sizeof(l));
    l.file = "/nonexistent";
    l.accept = "";
    o = opts(0);
    o.open_parent = open_parent_logged;
    o.open_parent_ctx = &l;
    io = io_borrow(&cm.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_E_MISSING);
    assert_null(img);
    assert_int_equal(l.calls, 2);
    assert_string_equal(l.keys[0], "relative_path");
    assert_string_equal(l.paths[0], "p.vhdx");
    assert_string_equal(l.keys[1], "absolute_win32_path");
    assert_string_equal(l.paths[1], "\\\\?\\C:\\vms\\p.vhdx");
    mf_free(&cm);
    mf_free(&pm);
}

/* Names without a directory are in the working directory, for creating and opening. */
static void test_create_and_open_paths_relative_to_the_working_directory(void **state)
{
    char dir[] = "/tmp/vhdx-create-cwd-XXXXXX", cwd[4096];
    vhdx_create_options c = dyn(4 * MiB, (uint32_t)MiB);
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_info info;
    (void)state;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chdir(dir), 0);
    assert_status(vhdx_create_path("p.vhdx", &c, NULL, NULL), VHDX_OK);
    assert_status(vhdx_create_open_path("u.vhdx", &c, NULL, &img), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DIFFERENCING;
    assert_status(vhdx_create_path("c.vhdx", &c, "p.vhdx", NULL), VHDX_OK);
    o = opts(0);
    assert_status(vhdx_open_path("c.vhdx", &o, &img), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.chain_depth, 1);
    assert_true(strlen(info.parent_path) > strlen(dir));
    assert_memory_equal(info.parent_path, dir, strlen(dir));
    assert_string_equal(info.parent_path + strlen(dir), "/p.vhdx");
    vhdx_close(img);
    o = opts(0);
    assert_status(vhdx_open_path("u.vhdx", &o, &img), VHDX_OK);
    vhdx_close(img);
    assert_int_equal(unlink("c.vhdx"), 0);
    assert_int_equal(unlink("u.vhdx"), 0);
    assert_int_equal(unlink("p.vhdx"), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* The creator string, an unknown disk type and the argument refusals of the path forms. */
static void test_create_creator_type_and_path_argument_refusals(void **state)
{
    char dir[] = "/tmp/vhdx-create-args-XXXXXX", path[256], slash[256];
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    vhdx_image *img = (vhdx_image *)&m;
    vhdx_info info;
    (void)state;
    c.creator = "coverage test tool";
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, 0);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_string_equal(info.creator, "coverage test tool");
    vhdx_close(img);
    mf_free(&m);
    c.creator = NULL;
    c.type = (vhdx_disk_type)7;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_E_INVALID_ARG);
    assert_int_equal(io_size(&m.io), 0);
    mf_free(&m);

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.vhdx", dir);
    snprintf(slash, sizeof(slash), "%s/", dir);
    c = dyn(8 * MiB, (uint32_t)MiB);
    img = (vhdx_image *)&m;
    assert_status(vhdx_create_open_path(NULL, &c, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    assert_status(vhdx_create_open_path("", &c, NULL, &img), VHDX_E_INVALID_ARG);
    assert_status(vhdx_create_open_path(path, NULL, NULL, &img), VHDX_E_INVALID_ARG);
    assert_status(vhdx_create_open_path(path, &c, NULL, NULL), VHDX_E_INVALID_ARG);
    /* A name that ends in '/' names no file. */
    assert_status(vhdx_create_open_path(slash, &c, NULL, &img), VHDX_E_RANGE);
    /* Options create refuses: the file made for them is removed again. */
    c.block_size = 3u << 20;
    assert_status(vhdx_create_open_path(path, &c, NULL, &img), VHDX_E_RANGE);
    assert_null(img);
    assert_false(exists(path));
    assert_int_equal(rmdir(dir), 0);
}

/* vhdx_create needs read, write, flush, truncate and size: a back end lacking one is refused. */
static void test_create_refuses_incomplete_back_ends(void **state)
{
    static const uint8_t empty_byte[1];
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    vhdx_io ro, partial;
    (void)state;
    assert_status(vhdx_create(NULL, &c), VHDX_E_INVALID_ARG);
    assert_status(vhdx_io_from_memory(empty_byte, 0, &ro), VHDX_OK); /* read-only */
    assert_status(vhdx_create(&ro, &c), VHDX_E_INVALID_ARG);
    vhdx_io_close(&ro);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, NULL), VHDX_E_INVALID_ARG);
    partial = m.io;
    partial.flush = NULL;
    assert_status(vhdx_create(&partial, &c), VHDX_E_INVALID_ARG);
    partial = m.io;
    partial.truncate = NULL;
    assert_status(vhdx_create(&partial, &c), VHDX_E_INVALID_ARG);
    partial = m.io;
    partial.size = NULL;
    assert_status(vhdx_create(&partial, &c), VHDX_E_INVALID_ARG);
    assert_int_equal(io_size(&m.io), 0);
    mf_free(&m);
}

/* A fixed disk whose BAT is larger than the 1 MiB the writer fills at once: 133,152 entries. */
static void test_create_fixed_bat_larger_than_one_chunk(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(130 * GiB, (uint32_t)MiB);
    vhdx_image *img;
    vhdx_info info;
    vhdx_extent e;
    (void)state;
    c.type = VHDX_DISK_FIXED;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    check_clean(&m.io);
    img = open_io(&m.io, 0);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.type, VHDX_DISK_FIXED);
    assert_int_equal(info.blocks_allocated, 133120);
    assert_int_equal(info.bat_entries, 133120 + 32);
    /* The last block, its entry written in the second chunk, follows the others. */
    e = extent_at(img, 130 * GiB - MiB);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.file_offset, extent_at(img, 0).file_offset + 130 * GiB - MiB);
    vhdx_close(img);
    mf_free(&m);
}

/* ---- The write session ---- */

static void test_session_updates_guids_then_names_and_clears_the_log(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(64 * MiB, (uint32_t)MiB);
    uint8_t fwg0[16], dwg0[16], log0[16], fwg[16], dwg[16], log[16], data[4096];
    uint64_t seq0, seq;
    vhdx_image *img;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    header_guids(&m.io, 2, fwg0, dwg0, log0, &seq0);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    /* Opening writable changes nothing. */
    header_guids(&m.io, 2, fwg, dwg, log, &seq);
    assert_int_equal(seq, seq0);
    fill(data, sizeof(data), 1);
    assert_status(vhdx_write(img, 3 * MiB, data, sizeof(data)), VHDX_OK);
    /* The first change: both GUIDs new, both headers rewritten, the log still empty. */
    header_guids(&m.io, 2, fwg, dwg, log, &seq);
    assert_int_equal(seq, seq0 + 2);
    assert_memory_not_equal(fwg, fwg0, 16);
    assert_memory_not_equal(dwg, dwg0, 16);
    assert_true(nil(log));
    header_guids(&m.io, 1, fwg0, dwg0, log0, &seq0);
    assert_int_equal(seq0, seq - 1);
    assert_memory_equal(fwg0, fwg, 16);
    assert_memory_equal(dwg0, dwg, 16);
    /* The commit names a LogGuid; the headers keep the session's GUIDs. */
    assert_status(vhdx_flush(img), VHDX_OK);
    header_guids(&m.io, 2, fwg0, dwg0, log, &seq0);
    assert_int_equal(seq0, seq + 2);
    assert_false(nil(log));
    assert_memory_equal(fwg0, fwg, 16);
    assert_memory_equal(dwg0, dwg, 16);
    /* Finish: LogGuid 0 again. */
    assert_status(vhdx_finish(img), VHDX_OK);
    header_guids(&m.io, 2, fwg0, dwg0, log, &seq);
    assert_int_equal(seq, seq0 + 2);
    assert_true(nil(log));
    /* A finished session with nothing new writes nothing. */
    assert_status(vhdx_finish(img), VHDX_OK);
    header_guids(&m.io, 2, fwg0, dwg0, log, &seq0);
    assert_int_equal(seq0, seq);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

struct replay_count {
    uint32_t entries, data, zero;
};

static void count_items(void *ctx, const vhdx_log_item *item)
{
    struct replay_count *rc = ctx;
    if (item->kind == VHDX_LOG_ITEM_ENTRY)
        rc->entries++;
    else if (item->kind == VHDX_LOG_ITEM_DATA)
        rc->data++;
    else
        rc->zero++;
}

/* The log as it is now (a dry-run replay of a copy of the file). */
static vhdx_replay_result log_now(const vhdx_io *file, struct replay_count *rc)
{
    size_t len;
    uint8_t *bytes = io_bytes(file, &len);
    vhdx_io io;
    vhdx_open_options o = opts(0);
    vhdx_replay_result r;
    memset(rc, 0, sizeof(*rc));
    assert_status(vhdx_io_from_memory(bytes, len, &io), VHDX_OK);
    assert_status(vhdx_replay(&io, &o, VHDX_REPLAY_DRY_RUN, count_items, rc, &r), VHDX_OK);
    vhdx_io_close(&io);
    free(bytes);
    return r;
}

/* 40 block allocations: one entry, one data descriptor (one BAT page), nine flushes in all. */
static void test_allocations_are_batched_into_one_entry(void **state)
{
    struct memfile m;
    struct alloc_acct acct;
    vhdx_create_options c = dyn(64 * MiB, (uint32_t)MiB);
    struct replay_count rc;
    vhdx_replay_result r;
    uint8_t data[512];
    vhdx_image *img = NULL;
    vhdx_open_options o = opts(VHDX_OPEN_WRITABLE);
    vhdx_io f, g;
    vhdx_info info;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    assert_status(io_fault_create(&m.io, &acct, UINT64_MAX, &f), VHDX_OK);
    g = io_borrow(&f);
    assert_status(vhdx_open(&g, &o, &img), VHDX_OK);
    fill(data, sizeof(data), 2);
    for (uint64_t b = 0; b < 40; b++)
        assert_status(vhdx_write(img, b * MiB + 512, data, sizeof(data)), VHDX_OK);
    assert_int_equal(io_fault_stats(&f).flushes, 2); /* the two header writes only */
    assert_status(vhdx_flush(img), VHDX_OK);
    /* payload, entry, two headers naming the LogGuid */
    assert_int_equal(io_fault_stats(&f).flushes, 6);
    r = log_now(&m.io, &rc);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.head_sequence, 1);
    assert_int_equal(rc.data, 1);
    assert_int_equal(rc.zero, 0);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_int_equal(io_fault_stats(&f).flushes, 9); /* apply, two headers clearing it */
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 40);
    assert_int_equal(info.file_size, 44 * MiB);
    vhdx_close(img);
    vhdx_io_close(&f);
    check_clean(&m.io);
    mf_free(&m);
}

/* A batch that outgrows what one entry may carry is committed on its own. */
static void test_full_batch_commits_before_growing(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(130 * 512 * MiB, (uint32_t)MiB);
    struct replay_count rc;
    vhdx_replay_result r;
    uint8_t data[512];
    vhdx_image *img;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    fill(data, sizeof(data), 3);
    /* Block b*512 has its BAT entry in BAT page b (chunk ratio 4096: no SB slot before 4096). */
    for (uint64_t b = 0; b < 130; b++)
        assert_status(vhdx_write(img, b * 512 * MiB, data, sizeof(data)), VHDX_OK);
    r = log_now(&m.io, &rc);
    /* 125 pages made the first entry; the rest waits in the batch. */
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.head_sequence, 1);
    assert_int_equal(rc.data, 125);
    assert_status(vhdx_flush(img), VHDX_OK);
    r = log_now(&m.io, &rc);
    assert_int_equal(r.entries, 1); /* each entry's Tail is itself */
    assert_int_equal(r.head_sequence, 2);
    assert_int_equal(rc.data, 5);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    check_clean(&m.io);
    img = open_io(&m.io, 0);
    for (uint64_t b = 0; b < 130; b++) {
        uint8_t got[512];
        assert_status(vhdx_read(img, b * 512 * MiB, got, sizeof(got)), VHDX_OK);
        assert_memory_equal(got, data, sizeof(got));
    }
    vhdx_close(img);
    mf_free(&m);
}

static void test_overwrite_is_in_place_and_unaligned_writes_merge(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(16 * MiB, (uint32_t)MiB);
    uint8_t a[8192], b[3], got[8192];
    vhdx_image *img;
    vhdx_info info;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    fill(a, sizeof(a), 4);
    assert_status(vhdx_write(img, 2 * MiB, a, sizeof(a)), VHDX_OK);
    assert_status(vhdx_flush(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.file_size, 5 * MiB);
    b[0] = 0xAA;
    b[1] = 0xBB;
    b[2] = 0xCC;
    /* Three bytes across a sector boundary. */
    assert_status(vhdx_write(img, 2 * MiB + 511, b, sizeof(b)), VHDX_OK);
    memcpy(a + 511, b, sizeof(b));
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.file_size, 5 * MiB);
    assert_int_equal(info.blocks_allocated, 1);
    assert_status(vhdx_read(img, 2 * MiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, a, sizeof(got));
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

static void test_zero_blocks_move_to_zero_without_allocating(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(16 * MiB, (uint32_t)MiB);
    static uint8_t block[1 << 20];
    uint8_t got[4096];
    vhdx_image *img;
    vhdx_info info;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    /* A whole block of zeros on an unallocated block: ZERO, no space. */
    memset(block, 0, sizeof(block));
    assert_status(vhdx_write(img, 0, block, sizeof(block)), VHDX_OK);
    assert_int_equal(extent_at(img, 0).bat_state, 2);
    assert_int_equal(extent_at(img, 0).length, MiB);
    /* Data, then zeros over the whole block: back to ZERO. */
    fill(block, sizeof(block), 5);
    assert_status(vhdx_write(img, MiB, block, sizeof(block)), VHDX_OK);
    assert_int_equal(extent_at(img, MiB).bat_state, 6);
    assert_status(vhdx_write_zeroes(img, MiB, MiB), VHDX_OK);
    assert_int_equal(extent_at(img, MiB).bat_state, 2);
    /* Zeroing part of a block with data writes zeros; part of a block without: ZERO. */
    assert_status(vhdx_write(img, 2 * MiB, block, sizeof(block)), VHDX_OK);
    assert_status(vhdx_write_zeroes(img, 2 * MiB + 4096, 4096), VHDX_OK);
    assert_int_equal(extent_at(img, 2 * MiB).bat_state, 6);
    assert_status(vhdx_read(img, 2 * MiB + 4096, got, sizeof(got)), VHDX_OK);
    for (size_t i = 0; i < sizeof(got); i++)
        assert_int_equal(got[i], 0);
    assert_status(vhdx_write_zeroes(img, 5 * MiB + 4096, 4096), VHDX_OK);
    assert_int_equal(extent_at(img, 5 * MiB).bat_state, 2);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 1);
    assert_int_equal(info.file_size, 6 * MiB); /* two blocks were ever allocated */
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

static void test_discard_by_image_type(void **state)
{
    static const vhdx_disk_type types[2] = {VHDX_DISK_DYNAMIC, VHDX_DISK_FIXED};
    static uint8_t data[3 << 20];
    (void)state;
    fill(data, sizeof(data), 6);
    for (int t = 0; t < 2; t++) {
        struct memfile m;
        vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
        uint64_t done = 1;
        uint8_t got[4096];
        vhdx_image *img;
        c.type = types[t];
        mf_init(&m);
        assert_status(vhdx_create(&m.io, &c), VHDX_OK);
        img = open_io(&m.io, VHDX_OPEN_WRITABLE);
        assert_status(vhdx_write(img, MiB, data, sizeof(data)), VHDX_OK);
        /* [1.5 MiB, 4 MiB): whole blocks 2 and 3; half of block 1. */
        assert_status(vhdx_discard(img, MiB + MiB / 2, 2 * MiB + MiB / 2, &done), VHDX_OK);
        if (types[t] == VHDX_DISK_DYNAMIC) {
            assert_int_equal(done, 2 * MiB);
            assert_int_equal(extent_at(img, 2 * MiB).bat_state, 3); /* UNMAPPED */
            assert_int_equal(extent_at(img, 2 * MiB).length, 2 * MiB);
            assert_status(vhdx_read(img, MiB + MiB / 2, got, sizeof(got)), VHDX_OK);
            assert_memory_equal(got, data + MiB / 2, sizeof(got)); /* partial: kept */
        } else {
            assert_int_equal(done, 2 * MiB + MiB / 2);
            assert_int_equal(extent_at(img, 2 * MiB).bat_state, 6); /* still FULLY_PRESENT */
            assert_status(vhdx_read(img, MiB + MiB / 2, got, sizeof(got)), VHDX_OK);
            for (size_t i = 0; i < sizeof(got); i++)
                assert_int_equal(got[i], 0);
        }
        assert_status(vhdx_read(img, 3 * MiB, got, sizeof(got)), VHDX_OK);
        for (size_t i = 0; i < sizeof(got); i++)
            assert_int_equal(got[i], 0);
        assert_status(vhdx_finish(img), VHDX_OK);
        vhdx_close(img);
        check_clean(&m.io);
        mf_free(&m);
    }
}

/* ---- Differencing ---- */

struct parent_ctx {
    const uint8_t *bytes;
    size_t len;
};

static vhdx_status open_parent_mem(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct parent_ctx *p = ctx;
    (void)key;
    (void)path;
    return vhdx_io_from_memory(p->bytes, p->len, out);
}

static void test_differencing_partial_writes_use_the_sector_bitmap(void **state)
{
    struct memfile pm, cm;
    vhdx_create_options c = dyn(8 * MiB, 2u * (uint32_t)MiB);
    static uint8_t pdata[8 << 20], cdata[8 << 20], want[8 << 20], got[8 << 20];
    struct parent_ctx pc;
    vhdx_image *parent, *img = NULL;
    vhdx_open_options o;
    vhdx_io io;
    vhdx_extent e;
    (void)state;
    fill(pdata, sizeof(pdata), 7);
    fill(cdata, sizeof(cdata), 8);
    mf_init(&pm);
    assert_status(vhdx_create(&pm.io, &c), VHDX_OK);
    parent = open_io(&pm.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(parent, 0, pdata, sizeof(pdata)), VHDX_OK);
    assert_status(vhdx_finish(parent), VHDX_OK);
    pc.bytes = io_bytes(&pm.io, &pc.len);

    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DIFFERENCING;
    c.parent = parent;
    /* A relative path too long to keep whole is refused, not cut to name another file. */
    {
        static char longpath[4097];
        memset(longpath, 'a', 4096);
        longpath[4096] = '\0';
        c.parent_relative_path = longpath;
        mf_init(&cm);
        assert_status(vhdx_create(&cm.io, &c), VHDX_E_RANGE);
        mf_free(&cm);
    }
    c.parent_relative_path = "sub/parent.vhdx";
    mf_init(&cm);
    assert_status(vhdx_create(&cm.io, &c), VHDX_OK);
    vhdx_close(parent);

    o = opts(VHDX_OPEN_WRITABLE);
    o.open_parent = open_parent_mem;
    o.open_parent_ctx = &pc;
    io = io_borrow(&cm.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    memcpy(want, pdata, sizeof(want));
    assert_status(vhdx_write(img, 1000, cdata + 1000, 3000), VHDX_OK);
    memcpy(want + 1000, cdata + 1000, 3000);
    assert_status(vhdx_write(img, 4 * MiB, cdata, 2 * MiB), VHDX_OK); /* a whole block */
    memcpy(want + 4 * MiB, cdata, 2 * MiB);
    assert_status(vhdx_write_zeroes(img, 6 * MiB, 2 * MiB), VHDX_OK); /* ZERO, not the parent */
    memset(want + 6 * MiB, 0, 2 * MiB);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_read(img, 0, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, want, sizeof(got));
    /* Sectors 1-7 of block 0 (bytes 512-4095) from this file; the rest from the parent. */
    e = extent_at(img, 0);
    assert_int_equal(e.kind, VHDX_EXTENT_PARENT);
    assert_int_equal(e.length, 512);
    assert_int_equal(e.bat_state, 7);
    e = extent_at(img, 512);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.length, 3584);
    e = extent_at(img, 4096);
    assert_int_equal(e.kind, VHDX_EXTENT_PARENT);
    assert_int_equal(extent_at(img, 2 * MiB).bat_state, 0);
    assert_int_equal(extent_at(img, 4 * MiB).bat_state, 6);
    assert_int_equal(extent_at(img, 6 * MiB).bat_state, 2);
    /* Differencing images take their size from the parent. */
    assert_status(vhdx_resize(img, 16 * MiB, 0), VHDX_E_UNSUPPORTED);
    vhdx_close(img);

    /* Reopened: the same view. */
    o = opts(0);
    o.open_parent = open_parent_mem;
    o.open_parent_ctx = &pc;
    io = io_borrow(&cm.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    assert_status(vhdx_read(img, 0, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, want, sizeof(got));
    vhdx_close(img);
    free((void *)(uintptr_t)pc.bytes);
    mf_free(&cm);
    mf_free(&pm);
}

/* ---- Resize ---- */

static void test_resize_grow_shrink_and_refusal(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB + 512, (uint32_t)MiB);
    uint8_t data[4096], got[4096];
    size_t before_len, after_len;
    uint8_t *before, *after;
    vhdx_image *img;
    (void)state;
    fill(data, sizeof(data), 9);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(img, 4 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_write(img, 8 * MiB, data, 512), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_resize(img, 8 * MiB + 100, 0), VHDX_E_RANGE);
    assert_status(vhdx_resize(img, 0, 0), VHDX_E_RANGE);
    assert_status(vhdx_resize(img, 64 * TiB + 512, 0), VHDX_E_RANGE);
    /* Data at 8 MiB: shrinking below it is refused, and nothing is written. */
    before = io_bytes(&m.io, &before_len);
    assert_status(vhdx_resize(img, 6 * MiB, 0), VHDX_E_STATE);
    after = io_bytes(&m.io, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    /* Forced: the disk ends at 6 MiB, then grows back reading zeros past it. */
    assert_status(vhdx_resize(img, 4 * MiB + 1024, VHDX_RESIZE_FORCE), VHDX_OK);
    assert_status(vhdx_read(img, 4 * MiB, got, 1024), VHDX_OK);
    assert_memory_equal(got, data, 1024);
    assert_status(vhdx_read(img, 4 * MiB, got, 2048), VHDX_E_RANGE);
    assert_status(vhdx_resize(img, 16 * MiB, 0), VHDX_OK);
    assert_status(vhdx_read(img, 4 * MiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, 1024);
    for (size_t i = 1024; i < sizeof(got); i++)
        assert_int_equal(got[i], 0);
    assert_status(vhdx_read(img, 8 * MiB, got, 512), VHDX_OK);
    for (size_t i = 0; i < 512; i++)
        assert_int_equal(got[i], 0);
    /* Grow past what the 1 MiB BAT region holds (131072 entries): a new BAT. */
    assert_status(vhdx_resize(img, 200 * GiB, 0), VHDX_OK);
    assert_status(vhdx_write(img, 150 * GiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    check_clean(&m.io);
    img = open_io(&m.io, 0);
    {
        vhdx_info info;
        assert_status(vhdx_get_info(img, &info), VHDX_OK);
        assert_int_equal(info.virtual_size, 200 * GiB);
        assert_int_equal(info.bat_entries, 204800 + 49);
    }
    assert_status(vhdx_read(img, 150 * GiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(got));
    assert_status(vhdx_read(img, 4 * MiB, got, 1024), VHDX_OK);
    assert_memory_equal(got, data, 1024);
    vhdx_close(img);
    mf_free(&m);
}

/*
 * Resizing to the same size writes nothing; shrinking without FORCE is
 * allowed when the bytes past the new end that this file holds are zeros,
 * even inside an allocated block.
 */
static void test_resize_same_size_and_shrink_past_zero_bytes(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    uint8_t data[4096], got[4096];
    size_t before_len, after_len;
    uint8_t *before, *after;
    vhdx_image *img;
    vhdx_info info;
    (void)state;
    fill(data, sizeof(data), 12);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(img, 6 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    before = io_bytes(&m.io, &before_len);
    assert_status(vhdx_resize(img, 8 * MiB, 0), VHDX_OK);
    assert_status(vhdx_resize(img, 8 * MiB, 2u), VHDX_E_INVALID_ARG); /* unknown flag */
    assert_status(vhdx_finish(img), VHDX_OK);
    after = io_bytes(&m.io, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    /* Block 6 holds data, but only zeros past 6 MiB + 4096. */
    assert_status(vhdx_resize(img, 6 * MiB + 4096, 0), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.virtual_size, 6 * MiB + 4096);
    assert_int_equal(info.blocks_allocated, 1);
    assert_status(vhdx_read(img, 6 * MiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(got));
    /* Now the data itself lies past the new end. */
    assert_status(vhdx_resize(img, 6 * MiB + 2048, 0), VHDX_E_STATE);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

struct zero_items {
    unsigned data, zero;
    uint64_t zero_off[8], zero_len[8];
};

static void collect_zero_items(void *ctx, const vhdx_log_item *it)
{
    struct zero_items *z = ctx;
    if (it->kind == VHDX_LOG_ITEM_DATA)
        z->data++;
    if (it->kind == VHDX_LOG_ITEM_ZERO && z->zero < 8) {
        z->zero_off[z->zero] = it->file_offset;
        z->zero_len[z->zero++] = it->length;
    }
}

/*
 * Adjacent batch pages that end up all zeros are logged as one zero
 * descriptor: a forced shrink clearing BAT slots 400..599 empties the BAT's
 * first two pages (slots 0..511 and 512..1023).
 */
static void test_adjacent_zero_pages_merge_into_one_zero_descriptor(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(600 * MiB, (uint32_t)MiB);
    uint8_t data[4096];
    struct zero_items z;
    vhdx_image *img;
    vhdx_io io;
    (void)state;
    fill(data, sizeof(data), 14);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(img, 450 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_write(img, 550 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_resize(img, 400 * MiB, VHDX_RESIZE_FORCE), VHDX_OK);
    /* The session's log, as a reader would replay it now: BAT at 3 MiB (after log and metadata). */
    memset(&z, 0, sizeof(z));
    io = io_borrow(&m.io);
    assert_status(vhdx_replay(&io, NULL, VHDX_REPLAY_DRY_RUN, collect_zero_items, &z, NULL),
                  VHDX_OK);
    assert_int_equal(z.zero, 1);
    assert_int_equal(z.zero_off[0], 3 * MiB);
    assert_int_equal(z.zero_len[0], 8192);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

static void test_resize_fixed_grow_allocates_blocks(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(4 * MiB, (uint32_t)MiB);
    vhdx_image *img;
    vhdx_info info;
    (void)state;
    c.type = VHDX_DISK_FIXED;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_resize(img, 10 * MiB, 0), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 10);
    assert_int_equal(extent_at(img, 9 * MiB).kind, VHDX_EXTENT_DATA);
    vhdx_close(img);
    check_clean(&m.io);
    mf_free(&m);
}

/*
 * A fixed disk grown by more blocks than one log entry can carry the BAT
 * pages of (the 1 MiB log: about 120 pages): the new BAT is written whole
 * in a new place, with every new block allocated, then the region tables
 * switch to it.
 */
static void test_resize_fixed_grow_past_one_entry_moves_the_bat(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    uint8_t data[4096], got[4096];
    vhdx_image *img;
    vhdx_info info;
    vhdx_extent e;
    (void)state;
    fill(data, sizeof(data), 15);
    c.type = VHDX_DISK_FIXED;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(img, 7 * MiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_resize(img, 64 * GiB, 0), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.blocks_allocated, 65536);
    e = extent_at(img, 64 * GiB - MiB);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.bat_state, 6);
    assert_status(vhdx_write(img, 63 * GiB, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    check_clean(&m.io);
    img = open_io(&m.io, 0);
    assert_status(vhdx_read(img, 7 * MiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(got));
    assert_status(vhdx_read(img, 63 * GiB, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(got));
    assert_status(vhdx_read(img, 40 * GiB, got, sizeof(got)), VHDX_OK);
    for (size_t i = 0; i < sizeof(got); i++)
        assert_int_equal(got[i], 0);
    vhdx_close(img);
    mf_free(&m);
}

/* ---- Refusals and failures ---- */

static void test_write_refusals(void **state)
{
    struct memfile m;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    uint8_t data[512] = {1};
    uint64_t done = 7;
    vhdx_image *img;
    (void)state;
    /* No handle. */
    assert_status(vhdx_write(NULL, 0, data, sizeof(data)), VHDX_E_INVALID_ARG);
    assert_status(vhdx_write_zeroes(NULL, 0, 512), VHDX_E_INVALID_ARG);
    assert_status(vhdx_discard(NULL, 0, 512, &done), VHDX_E_INVALID_ARG);
    assert_int_equal(done, 0);
    assert_status(vhdx_flush(NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_finish(NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_resize(NULL, MiB, 0), VHDX_E_INVALID_ARG);
    done = 7;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    img = open_io(&m.io, 0);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_E_INVALID_ARG);
    assert_status(vhdx_write_zeroes(img, 0, 512), VHDX_E_INVALID_ARG);
    assert_status(vhdx_discard(img, 0, MiB, &done), VHDX_E_INVALID_ARG);
    assert_int_equal(done, 0);
    assert_status(vhdx_resize(img, 16 * MiB, 0), VHDX_E_INVALID_ARG);
    assert_status(vhdx_flush(img), VHDX_OK); /* nothing to flush */
    vhdx_close(img);
    img = open_io(&m.io, VHDX_OPEN_WRITABLE);
    assert_status(vhdx_write(img, 8 * MiB - 256, data, sizeof(data)), VHDX_E_RANGE);
    assert_status(vhdx_write(img, UINT64_MAX, data, sizeof(data)), VHDX_E_RANGE);
    assert_status(vhdx_write(img, 0, NULL, 1), VHDX_E_INVALID_ARG);
    assert_status(vhdx_resize(img, 16 * MiB, 2), VHDX_E_INVALID_ARG);
    vhdx_close(img);
    mf_free(&m);
}

/*
 * An image without a log (LogLength 0, allowed with a nil LogGuid) opens
 * writable but cannot be written: every change must go through the log.
 */
static void test_image_without_a_log_cannot_be_written(void **state)
{
    struct ib_params p;
    struct ib_image ib;
    struct memfile m;
    vhdx_io io;
    vhdx_image *img = NULL;
    vhdx_open_options o;
    uint8_t data[512] = {9};
    (void)state;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8 * MiB;
    p.block_size = (uint32_t)MiB;
    assert_int_equal(ib_build(&p, &ib), 0);
    ib.header.log_length = 0;
    ib.header.log_offset = 0;
    ib.header_old.log_length = 0;
    ib.header_old.log_offset = 0;
    assert_int_equal(ib_refresh(&ib), 0);
    mf_open(&m, ib.data, ib.len);
    o = opts(VHDX_OPEN_WRITABLE);
    io = io_borrow(&m.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_E_INVALID_ARG);
    assert_status(vhdx_resize(img, 16 * MiB, 0), VHDX_E_INVALID_ARG);
    assert_status(vhdx_finish(img), VHDX_OK); /* nothing to finish */
    vhdx_close(img);
    assert_int_equal(io_overlay_pages(&m.io), 0); /* not a byte written */
    mf_free(&m);
    ib_free(&ib);
}

/* A failing back end fails the handle; the file reopens clean through its log. */
static void test_io_failure_fails_the_handle(void **state)
{
    struct memfile m;
    struct alloc_acct acct;
    vhdx_create_options c = dyn(8 * MiB, (uint32_t)MiB);
    uint8_t data[4096];
    vhdx_image *img = NULL;
    vhdx_open_options o = opts(VHDX_OPEN_WRITABLE);
    vhdx_io f, g;
    (void)state;
    alloc_acct_init(&acct, NULL, 0);
    fill(data, sizeof(data), 10);
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    /* Header pair (2 writes), payload (1), truncate (1): the entry write fails. */
    assert_status(io_fault_create(&m.io, &acct, 4, &f), VHDX_OK);
    g = io_borrow(&f);
    assert_status(vhdx_open(&g, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_flush(img), VHDX_E_IO);
    assert_status(vhdx_write(img, 0, data, sizeof(data)), VHDX_E_BAD_STATE);
    assert_status(vhdx_flush(img), VHDX_E_BAD_STATE);
    assert_status(vhdx_finish(img), VHDX_E_BAD_STATE);
    vhdx_close(img);
    vhdx_io_close(&f);
    /* The block written before the failure belongs to nothing: a warning, no error. */
    {
        vhdx_io io = io_borrow(&m.io);
        vhdx_check_result r;
        o = opts(0);
        assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
        assert_int_equal(r.errors, 0);
        assert_int_equal(r.warnings, 1);
        assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE, "image.space.trailing_data");
    }
    mf_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_dynamic_layout_and_info),
        cmocka_unit_test(test_create_fixed_allocates_every_block_reading_zeros),
        cmocka_unit_test(test_create_default_block_size_follows_qemu),
        cmocka_unit_test(test_create_refuses_bad_options),
        cmocka_unit_test(test_create_refuses_non_empty_file_and_bad_parent_options),
        cmocka_unit_test(test_create_is_atomic_to_a_reader),
        cmocka_unit_test(test_create_open_builds_unsealed_then_seals),
        cmocka_unit_test(test_create_open_unfinished_stays_refused),
        cmocka_unit_test(test_create_open_path),
        cmocka_unit_test(test_create_path_dynamic_and_refusals),
        cmocka_unit_test(test_create_path_differencing_records_relative_path),
        cmocka_unit_test(test_create_differencing_option_refusals),
        cmocka_unit_test(test_create_and_open_paths_relative_to_the_working_directory),
        cmocka_unit_test(test_create_creator_type_and_path_argument_refusals),
        cmocka_unit_test(test_create_refuses_incomplete_back_ends),
        cmocka_unit_test(test_create_fixed_bat_larger_than_one_chunk),
        cmocka_unit_test(test_session_updates_guids_then_names_and_clears_the_log),
        cmocka_unit_test(test_allocations_are_batched_into_one_entry),
        cmocka_unit_test(test_full_batch_commits_before_growing),
        cmocka_unit_test(test_overwrite_is_in_place_and_unaligned_writes_merge),
        cmocka_unit_test(test_zero_blocks_move_to_zero_without_allocating),
        cmocka_unit_test(test_discard_by_image_type),
        cmocka_unit_test(test_differencing_partial_writes_use_the_sector_bitmap),
        cmocka_unit_test(test_resize_grow_shrink_and_refusal),
        cmocka_unit_test(test_resize_fixed_grow_allocates_blocks),
        cmocka_unit_test(test_resize_fixed_grow_past_one_entry_moves_the_bat),
        cmocka_unit_test(test_resize_same_size_and_shrink_past_zero_bytes),
        cmocka_unit_test(test_adjacent_zero_pages_merge_into_one_zero_descriptor),
        cmocka_unit_test(test_write_refusals),
        cmocka_unit_test(test_image_without_a_log_cannot_be_written),
        cmocka_unit_test(test_io_failure_fails_the_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
