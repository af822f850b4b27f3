/*
 * vhdx_commit and vhdx_commit_path (docs/API.md, "Commit"): a child with
 * whole blocks, partly present blocks and ZERO blocks merged into a
 * dynamic parent and into a differencing one; the refusals with their
 * exact statuses (not a differencing image, sizes, sector sizes, a parent
 * that is not the child's); an empty child; a second commit; a cancel from
 * the progress callback and an I/O failure at every write of either file,
 * each followed by a call that finishes the work, the chain reading its
 * old content in between; the locator's parent_linkage2 accepted at open;
 * the caller's allocator; the path form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"
#include "vhdx.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define SIZE (8 * MiB)
/* What the child of fx_make holds of its own. */
#define CHILD_DATA (MiB + 1536 + 1024 + 512)
#define CHILD_ZERO (MiB)

static struct test_sink ts;

/* A base (when the parent is differencing), the parent and the child, in memory. */
struct fx {
    struct memfile base, parent, child;
    bool has_base;
    uint8_t want[SIZE]; /* what the chain child -> parent reads */
};

static vhdx_status open_parent_fx(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct fx *f = ctx;
    (void)key;
    *out = io_borrow(strcmp(path, "base.vhdx") == 0 ? &f->base.io : &f->parent.io);
    return VHDX_OK;
}

static vhdx_open_options opts(struct fx *f, unsigned flags)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.on_diag = test_sink_collect;
    o.diag_ctx = &ts;
    o.open_parent = f != NULL ? open_parent_fx : NULL;
    o.open_parent_ctx = f;
    test_sink_init(&ts);
    return o;
}

static vhdx_image *open_fx(struct fx *f, const vhdx_io *file, unsigned flags)
{
    vhdx_io io = io_borrow(file);
    vhdx_open_options o = opts(f, flags);
    vhdx_image *img = NULL;
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    return img;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 31u + seed * 7u + 1u);
}

static void make_dynamic(struct memfile *m, uint64_t size, uint32_t lss)
{
    vhdx_create_options c;
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = size;
    c.block_size = (uint32_t)MiB;
    c.logical_sector_size = lss;
    mf_init(m);
    assert_status(vhdx_create(&m->io, &c), VHDX_OK);
}

static void make_child(struct fx *f, struct memfile *m, const vhdx_io *parent, const char *rel)
{
    vhdx_create_options c;
    vhdx_image *p = open_fx(f, parent, 0);
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DIFFERENCING;
    c.parent = p;
    c.parent_relative_path = rel;
    mf_init(m);
    assert_status(vhdx_create(&m->io, &c), VHDX_OK);
    vhdx_close(p);
}

static void read_all(vhdx_image *img, uint8_t *buf)
{
    assert_status(vhdx_read(img, 0, buf, SIZE), VHDX_OK);
}

/* The disk the file (with its parents) reads. */
static void disk_of(struct fx *f, const vhdx_io *file, uint8_t *buf)
{
    vhdx_image *img = open_fx(f, file, 0);
    read_all(img, buf);
    vhdx_close(img);
}

/*
 * The parent: dynamic, data everywhere but block 6 (unallocated: zeros);
 * or differencing over a full base, with data in block 2 and part of
 * block 4. The child: block 1 whole, part of block 3 (sectors 1-3), part
 * of the unallocated block 6 (sectors 0-1), block 5 zeroed, the last sector.
 */
static void fx_make(struct fx *f, bool parent_differencing, bool child_writes)
{
    static uint8_t data[SIZE];
    vhdx_image *img;
    memset(f, 0, sizeof(*f));
    f->has_base = parent_differencing;
    if (parent_differencing) {
        make_dynamic(&f->base, SIZE, 0);
        img = open_fx(f, &f->base.io, VHDX_OPEN_WRITABLE);
        fill(data, SIZE, 1);
        assert_status(vhdx_write(img, 0, data, SIZE), VHDX_OK);
        assert_status(vhdx_finish(img), VHDX_OK);
        vhdx_close(img);
        make_child(f, &f->parent, &f->base.io, "base.vhdx");
        img = open_fx(f, &f->parent.io, VHDX_OPEN_WRITABLE);
        fill(data, SIZE, 2);
        assert_status(vhdx_write(img, 2 * MiB, data, MiB), VHDX_OK);
        assert_status(vhdx_write(img, 4 * MiB + 512, data, 1024), VHDX_OK);
    } else {
        make_dynamic(&f->parent, SIZE, 0);
        img = open_fx(f, &f->parent.io, VHDX_OPEN_WRITABLE);
        fill(data, SIZE, 2);
        assert_status(vhdx_write(img, 0, data, 6 * MiB), VHDX_OK);
        assert_status(vhdx_write(img, 7 * MiB, data, MiB), VHDX_OK);
    }
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    make_child(f, &f->child, &f->parent.io, "parent.vhdx");
    if (child_writes) {
        img = open_fx(f, &f->child.io, VHDX_OPEN_WRITABLE);
        fill(data, SIZE, 3);
        assert_status(vhdx_write(img, MiB, data, MiB), VHDX_OK);
        assert_status(vhdx_write(img, 3 * MiB + 1000, data, 777), VHDX_OK);
        assert_status(vhdx_write(img, 6 * MiB + 10, data, 600), VHDX_OK);
        assert_status(vhdx_write_zeroes(img, 5 * MiB, MiB), VHDX_OK);
        assert_status(vhdx_write(img, SIZE - 100, data, 100), VHDX_OK);
        assert_status(vhdx_finish(img), VHDX_OK);
        vhdx_close(img);
    }
    disk_of(f, &f->child.io, f->want);
}

static void fx_free(struct fx *f)
{
    mf_free(&f->child);
    mf_free(&f->parent);
    if (f->has_base)
        mf_free(&f->base);
}

static vhdx_status commit(struct fx *f, const vhdx_commit_options *co, vhdx_commit_result *r)
{
    vhdx_open_options o = opts(f, 0);
    return vhdx_commit(&f->child.io, &f->parent.io, co, &o, r);
}

/* The parent alone (with its own parents) reads `want`; so does the chain. */
static void assert_committed(struct fx *f)
{
    static uint8_t got[SIZE];
    disk_of(f, &f->parent.io, got);
    assert_memory_equal(got, f->want, SIZE);
    disk_of(f, &f->child.io, got);
    assert_memory_equal(got, f->want, SIZE);
}

/* The child opens on the parent without any finding, its linkage the parent's DataWriteGuid. */
static void assert_child_clean(struct fx *f)
{
    vhdx_info ci, pi;
    vhdx_image *c = open_fx(f, &f->child.io, 0);
    vhdx_image *p;
    assert_no_findings(&ts);
    p = open_fx(f, &f->parent.io, 0);
    assert_status(vhdx_get_info(c, &ci), VHDX_OK);
    assert_status(vhdx_get_info(p, &pi), VHDX_OK);
    assert_string_equal(ci.parent_linkage, pi.data_write_guid);
    vhdx_close(p);
    vhdx_close(c);
}

static void data_write_guid(struct fx *f, const vhdx_io *file, char out[VHDX_GUID_TEXT_SIZE])
{
    vhdx_info info;
    vhdx_image *img = open_fx(f, file, VHDX_OPEN_NO_PARENT);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    memcpy(out, info.data_write_guid, VHDX_GUID_TEXT_SIZE);
    vhdx_close(img);
}

static void commit_and_check(bool parent_differencing)
{
    static struct fx f;
    vhdx_commit_result r;
    char before[VHDX_GUID_TEXT_SIZE], after[VHDX_GUID_TEXT_SIZE];
    fx_make(&f, parent_differencing, true);
    data_write_guid(&f, &f.parent.io, before);
    assert_status(commit(&f, NULL, &r), VHDX_OK);
    assert_int_equal(r.data_bytes, CHILD_DATA);
    assert_int_equal(r.zero_bytes, CHILD_ZERO);
    assert_int_equal(r.resumed, 0);
    assert_committed(&f);
    assert_child_clean(&f);
    data_write_guid(&f, &f.parent.io, after);
    assert_string_not_equal(before, after);
    /* Again: the same work once more, with the same result and a new identity. */
    assert_status(commit(&f, NULL, &r), VHDX_OK);
    assert_int_equal(r.data_bytes, CHILD_DATA);
    assert_int_equal(r.zero_bytes, CHILD_ZERO);
    assert_int_equal(r.resumed, 0);
    assert_committed(&f);
    assert_child_clean(&f);
    data_write_guid(&f, &f.parent.io, before);
    assert_string_not_equal(before, after);
    if (f.has_base) {
        /* The base is not touched. */
        static uint8_t base[SIZE], want[SIZE];
        disk_of(&f, &f.base.io, base);
        fill(want, SIZE, 1);
        assert_memory_equal(base, want, SIZE);
    }
    fx_free(&f);
}

static void test_commit_into_dynamic_parent(void **state)
{
    (void)state;
    commit_and_check(false);
}

static void test_commit_into_differencing_parent(void **state)
{
    (void)state;
    commit_and_check(true);
}

/* The parent's blocks after the commit: whole, partly present (a differencing parent), ZERO. */
static void test_commit_block_states(void **state)
{
    static struct fx f;
    vhdx_image *p;
    vhdx_extent e;
    (void)state;
    fx_make(&f, true, true);
    assert_status(commit(&f, NULL, NULL), VHDX_OK);
    p = open_fx(&f, &f.parent.io, 0);
    assert_status(vhdx_map_next(p, MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.bat_state, 6);
    assert_status(vhdx_map_next(p, 5 * MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_ZERO);
    assert_int_equal(e.length, MiB);
    /* Block 6: sectors 0-1 from the child, the rest still from the base. */
    assert_status(vhdx_map_next(p, 6 * MiB, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_DATA);
    assert_int_equal(e.length, 1024);
    assert_int_equal(e.bat_state, 7);
    assert_status(vhdx_map_next(p, 6 * MiB + 1024, &e), VHDX_OK);
    assert_int_equal(e.kind, VHDX_EXTENT_PARENT);
    vhdx_close(p);
    fx_free(&f);
}

/* A child with nothing of its own: nothing is written to either file. */
static void test_commit_empty_child(void **state)
{
    static struct fx f;
    vhdx_commit_result r;
    uint8_t *c0, *p0, *c1, *p1;
    size_t cl0, pl0, cl1, pl1;
    (void)state;
    fx_make(&f, false, false);
    c0 = io_bytes(&f.child.io, &cl0);
    p0 = io_bytes(&f.parent.io, &pl0);
    r.resumed = 7;
    assert_status(commit(&f, NULL, &r), VHDX_OK);
    assert_int_equal(r.data_bytes, 0);
    assert_int_equal(r.zero_bytes, 0);
    assert_int_equal(r.resumed, 0);
    c1 = io_bytes(&f.child.io, &cl1);
    p1 = io_bytes(&f.parent.io, &pl1);
    assert_int_equal(cl0, cl1);
    assert_int_equal(pl0, pl1);
    assert_memory_equal(c0, c1, cl0);
    assert_memory_equal(p0, p1, pl0);
    free(c0);
    free(p0);
    free(c1);
    free(p1);
    fx_free(&f);
}

/* A refused commit writes nothing. */
static void assert_refused(struct fx *f, const vhdx_io *child, const vhdx_io *parent,
                           vhdx_status want)
{
    uint8_t *c0, *p0, *c1, *p1;
    size_t cl0, pl0, cl1, pl1;
    vhdx_open_options o = opts(f, 0);
    vhdx_io cb = io_borrow(child), pb = io_borrow(parent);
    c0 = io_bytes(child, &cl0);
    p0 = io_bytes(parent, &pl0);
    assert_status(vhdx_commit(&cb, &pb, NULL, &o, NULL), want);
    c1 = io_bytes(child, &cl1);
    p1 = io_bytes(parent, &pl1);
    assert_int_equal(cl0, cl1);
    assert_int_equal(pl0, pl1);
    assert_memory_equal(c0, c1, cl0);
    assert_memory_equal(p0, p1, pl0);
    free(c0);
    free(p0);
    free(c1);
    free(p1);
}

static void test_commit_refusals(void **state)
{
    static struct fx f;
    struct memfile other;
    vhdx_io ro;
    (void)state;
    fx_make(&f, false, true);
    /* Not a differencing image: VHDX_E_INVALID_ARG. */
    assert_refused(&f, &f.parent.io, &f.child.io, VHDX_E_INVALID_ARG);
    /* Another image of another size: VHDX_E_RANGE (checked before the identity). */
    make_dynamic(&other, 2 * SIZE, 0);
    assert_refused(&f, &f.child.io, &other.io, VHDX_E_RANGE);
    mf_free(&other);
    /* Another image of the same size: not the child's parent. */
    make_dynamic(&other, SIZE, 0);
    assert_refused(&f, &f.child.io, &other.io, VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "image.parent.linkage_mismatch");
    mf_free(&other);
    /* 4096-byte logical sectors against 512. */
    make_dynamic(&other, SIZE, 4096);
    assert_refused(&f, &f.child.io, &other.io, VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "image.parent.sector_size_mismatch");
    mf_free(&other);
    /* Arguments, and back ends that cannot write. */
    assert_status(vhdx_commit(NULL, &f.parent.io, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_commit(&f.child.io, NULL, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    ro = io_borrow(&f.parent.io);
    ro.write = NULL;
    assert_status(vhdx_commit(&f.child.io, &ro, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    fx_free(&f);
}

/* ---- Interruptions ---- */

struct progress_log {
    uint64_t calls, last, total;
    uint64_t cancel_after; /* cancel at the call with done > 0 number this (0: never) */
    uint64_t nonzero;
};

static int progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    if (p->calls == 0)
        assert_int_equal(done, 0);
    else
        assert_true(done >= p->last);
    assert_int_equal(total, SIZE);
    p->calls++;
    p->last = done;
    p->total = total;
    if (done > 0)
        p->nonzero++;
    return p->cancel_after != 0 && p->nonzero == p->cancel_after;
}

/* The chain opens, accepting the parent through parent_linkage2, and reads `want`. */
static void assert_chain_reads(struct fx *f, bool via_linkage2)
{
    static uint8_t got[SIZE];
    vhdx_image *img = open_fx(f, &f->child.io, 0);
    if (via_linkage2)
        assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT,
                         "parent_locator.parent_linkage2.present");
    read_all(img, got);
    assert_memory_equal(got, f->want, SIZE);
    vhdx_close(img);
}

static void test_commit_cancel_then_resume(void **state)
{
    static struct fx f;
    struct progress_log pl;
    vhdx_commit_options co;
    vhdx_commit_result r;
    char child_linkage[VHDX_GUID_TEXT_SIZE], parent_dwg[VHDX_GUID_TEXT_SIZE];
    vhdx_info info;
    vhdx_image *img;
    (void)state;
    fx_make(&f, false, true);
    memset(&pl, 0, sizeof(pl));
    pl.cancel_after = 2;
    co.progress = progress_cb;
    co.progress_ctx = &pl;
    assert_status(commit(&f, &co, &r), VHDX_E_CANCELLED);
    assert_int_equal(pl.nonzero, 2);
    assert_true(pl.last < SIZE);
    /* The parent carries the commit's identity; the child names it as parent_linkage2. */
    img = open_fx(&f, &f.child.io, VHDX_OPEN_NO_PARENT);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    memcpy(child_linkage, info.parent_linkage, sizeof(child_linkage));
    vhdx_close(img);
    data_write_guid(&f, &f.parent.io, parent_dwg);
    assert_string_not_equal(child_linkage, parent_dwg);
    assert_chain_reads(&f, true);
    /* Once more, to the end. */
    memset(&pl, 0, sizeof(pl));
    assert_status(commit(&f, &co, &r), VHDX_OK);
    assert_int_equal(r.resumed, 1);
    assert_int_equal(r.data_bytes, CHILD_DATA);
    assert_int_equal(r.zero_bytes, CHILD_ZERO);
    assert_int_equal(pl.last, SIZE);
    assert_true(pl.calls >= 3);
    assert_committed(&f);
    assert_child_clean(&f);
    /* The identity is the one the interrupted call chose. */
    data_write_guid(&f, &f.parent.io, child_linkage);
    assert_string_equal(child_linkage, parent_dwg);
    fx_free(&f);
}

/* A back end whose writes fail from the n-th on. */
struct failing {
    vhdx_io inner;
    uint64_t writes, fail_from;
};

static vhdx_status failing_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct failing *fl = ctx;
    if (fl->writes++ >= fl->fail_from)
        return VHDX_E_IO;
    return fl->inner.write(fl->inner.ctx, buf, len, off);
}

static vhdx_status failing_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct failing *fl = ctx;
    return fl->inner.read(fl->inner.ctx, buf, len, off, got);
}

static vhdx_status failing_flush(void *ctx)
{
    struct failing *fl = ctx;
    return fl->inner.flush(fl->inner.ctx);
}

static vhdx_status failing_size(void *ctx, uint64_t *size)
{
    struct failing *fl = ctx;
    return fl->inner.size(fl->inner.ctx, size);
}

static vhdx_status failing_truncate(void *ctx, uint64_t size)
{
    struct failing *fl = ctx;
    if (fl->writes++ >= fl->fail_from)
        return VHDX_E_IO;
    return fl->inner.truncate(fl->inner.ctx, size);
}

static vhdx_io failing_io(struct failing *fl, const vhdx_io *inner, uint64_t fail_from)
{
    vhdx_io io;
    memset(&io, 0, sizeof(io));
    fl->inner = *inner;
    fl->writes = 0;
    fl->fail_from = fail_from;
    io.ctx = fl;
    io.read = failing_read;
    io.write = failing_write;
    io.flush = failing_flush;
    io.size = failing_size;
    io.truncate = failing_truncate;
    return io;
}

/*
 * The writes of the child (side 0) or of the parent (side 1) fail from the
 * n-th on, for every n until the commit no longer reaches the failure:
 * each failed call leaves a chain that reads its old content, and a second
 * call finishes.
 */
static void fail_every_write(bool parent_side)
{
    static struct fx f;
    static uint8_t got[SIZE];
    uint8_t *c0, *p0;
    size_t cl, pl;
    uint64_t n, runs = 0, resumed = 0;
    fx_make(&f, false, true);
    c0 = io_bytes(&f.child.io, &cl);
    p0 = io_bytes(&f.parent.io, &pl);
    for (n = 0;; n++) {
        struct failing fl;
        struct fx *g = &f;
        vhdx_io c, p;
        vhdx_open_options o;
        vhdx_commit_result r;
        vhdx_status st;
        mf_free(&f.child);
        mf_free(&f.parent);
        mf_open(&f.child, c0, cl);
        mf_open(&f.parent, p0, pl);
        c = parent_side ? io_borrow(&f.child.io) : failing_io(&fl, &f.child.io, n);
        p = parent_side ? failing_io(&fl, &f.parent.io, n) : io_borrow(&f.parent.io);
        o = opts(g, 0);
        st = vhdx_commit(&c, &p, NULL, &o, NULL);
        if (st == VHDX_OK) {
            assert_true(fl.writes <= n);
            break;
        }
        runs++;
        assert_status(st, VHDX_E_IO);
        /* The chain reads what it read. */
        disk_of(&f, &f.child.io, got);
        assert_memory_equal(got, f.want, SIZE);
        assert_status(commit(&f, NULL, &r), VHDX_OK);
        resumed += (uint64_t)r.resumed;
        assert_committed(&f);
        assert_child_clean(&f);
    }
    assert_true(runs > 3);
    /* Failures in the parent's copy leave it at the new identity: those calls resume. */
    if (parent_side)
        assert_true(resumed > 0);
    print_message("%s: %llu failure points, %llu resumed\n", parent_side ? "parent" : "child",
                  (unsigned long long)runs, (unsigned long long)resumed);
    free(c0);
    free(p0);
    fx_free(&f);
}

static void test_commit_child_write_failures(void **state)
{
    (void)state;
    fail_every_write(false);
}

static void test_commit_parent_write_failures(void **state)
{
    (void)state;
    fail_every_write(true);
}

/* ---- Memory ---- */

struct counting {
    uint64_t allocs;
    int64_t live;
};

static void *count_alloc(void *ctx, size_t size)
{
    struct counting *c = ctx;
    c->allocs++;
    c->live += (int64_t)size;
    return malloc(size);
}

static void count_free(void *ctx, void *ptr, size_t size)
{
    struct counting *c = ctx;
    c->live -= (int64_t)size;
    free(ptr);
}

static void test_commit_uses_the_allocator_and_limits(void **state)
{
    static struct fx f;
    struct counting cnt = {0, 0};
    vhdx_allocator a = {count_alloc, count_free, &cnt};
    vhdx_limits lim = vhdx_limits_default();
    vhdx_open_options o;
    (void)state;
    fx_make(&f, false, true);
    /* Too little memory for the handles: the limit, and nothing changed. */
    lim.max_memory = 64 * KiB;
    o = opts(&f, 0);
    o.allocator = &a;
    o.limits = &lim;
    {
        vhdx_io cb = io_borrow(&f.child.io), pb = io_borrow(&f.parent.io);
        assert_status(vhdx_commit(&cb, &pb, NULL, &o, NULL), VHDX_E_LIMIT);
    }
    assert_int_equal(cnt.live, 0);
    assert_chain_reads(&f, false);
    /* Enough for the handles, not for a 1 MiB copy buffer: smaller pieces. */
    lim.max_memory = 1536 * KiB;
    cnt.allocs = 0;
    o = opts(&f, 0);
    o.allocator = &a;
    o.limits = &lim;
    {
        vhdx_io cb = io_borrow(&f.child.io), pb = io_borrow(&f.parent.io);
        assert_status(vhdx_commit(&cb, &pb, NULL, &o, NULL), VHDX_OK);
    }
    assert_true(cnt.allocs > 0);
    assert_int_equal(cnt.live, 0);
    assert_committed(&f);
    fx_free(&f);
}

/* ---- vhdx_commit_path ---- */

static void write_file(const char *path, const vhdx_io *io)
{
    size_t len;
    uint8_t *bytes = io_bytes(io, &len);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    free(bytes);
}

static void test_commit_path(void **state)
{
    static struct fx f;
    static uint8_t got[SIZE];
    char dir[] = "/tmp/vhdx-commit-XXXXXX", child[256], parent[256], real[4096];
    vhdx_open_options o;
    vhdx_commit_result r;
    vhdx_image *img = NULL;
    char *pp = NULL;
    (void)state;
    fx_make(&f, false, true);
    assert_non_null(mkdtemp(dir));
    snprintf(child, sizeof(child), "%s/child.vhdx", dir);
    snprintf(parent, sizeof(parent), "%s/parent.vhdx", dir);
    write_file(child, &f.child.io);
    write_file(parent, &f.parent.io);
    assert_non_null(realpath(parent, real));
    /* A caller's parent opener cannot give a writable parent. */
    o = opts(&f, 0);
    assert_status(vhdx_commit_path(child, NULL, &o, &pp, &r), VHDX_E_INVALID_ARG);
    assert_null(pp);
    o = opts(NULL, 0);
    assert_status(vhdx_commit_path(parent, NULL, &o, &pp, &r), VHDX_E_INVALID_ARG);
    assert_null(pp);
    assert_status(vhdx_commit_path(NULL, NULL, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    {
        char missing[300];
        snprintf(missing, sizeof(missing), "%s/none.vhdx", dir);
        assert_status(vhdx_commit_path(missing, NULL, NULL, &pp, NULL), VHDX_E_MISSING);
    }
    o = opts(NULL, 0);
    assert_status(vhdx_commit_path(child, NULL, &o, &pp, &r), VHDX_OK);
    assert_non_null(pp);
    assert_string_equal(pp, real);
    free(pp);
    assert_int_equal(r.data_bytes, CHILD_DATA);
    assert_int_equal(r.zero_bytes, CHILD_ZERO);
    o = opts(NULL, 0);
    assert_status(vhdx_open_path(parent, &o, &img), VHDX_OK);
    read_all(img, got);
    vhdx_close(img);
    assert_memory_equal(got, f.want, SIZE);
    o = opts(NULL, 0);
    assert_status(vhdx_open_path(child, &o, &img), VHDX_OK);
    assert_no_findings(&ts);
    read_all(img, got);
    vhdx_close(img);
    assert_memory_equal(got, f.want, SIZE);
    /* NULL for parent_path and result. */
    assert_status(vhdx_commit_path(child, NULL, NULL, NULL, NULL), VHDX_OK);
    assert_int_equal(unlink(child), 0);
    assert_int_equal(unlink(parent), 0);
    assert_int_equal(rmdir(dir), 0);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_into_dynamic_parent),
        cmocka_unit_test(test_commit_into_differencing_parent),
        cmocka_unit_test(test_commit_block_states),
        cmocka_unit_test(test_commit_empty_child),
        cmocka_unit_test(test_commit_refusals),
        cmocka_unit_test(test_commit_cancel_then_resume),
        cmocka_unit_test(test_commit_child_write_failures),
        cmocka_unit_test(test_commit_parent_write_failures),
        cmocka_unit_test(test_commit_uses_the_allocator_and_limits),
        cmocka_unit_test(test_commit_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
