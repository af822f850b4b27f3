/*
 * Progress and cancellation of vhdx_check (BAT entries examined) and of
 * the in-place replay (descriptors applied: vhdx_replay and a writable
 * open of a dirty image). The whole-disk copies are in test_convert.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dirty_images.h"
#include "test_util.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)

struct progress_log {
    uint64_t first_done, last_done, total;
    size_t n;
    size_t cancel_at; /* returns 1 on this call (0: never) */
};

static int record(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    if (p->n == 0) {
        p->first_done = done;
        p->total = total;
    } else {
        assert_int_equal(total, p->total);
        assert_true(done >= p->last_done);
    }
    assert_true(done <= total);
    p->last_done = done;
    p->n++;
    return p->cancel_at != 0 && p->n == p->cancel_at;
}

static vhdx_open_options with_progress(struct progress_log *pl, unsigned flags)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.progress = record;
    o.progress_ctx = pl;
    memset(pl, 0, sizeof(*pl));
    return o;
}

static void test_check_progress_and_cancel(void **state)
{
    struct memfile m;
    vhdx_create_options c;
    vhdx_check_result r;
    vhdx_open_options o;
    struct progress_log pl;
    vhdx_io io;
    (void)state;

    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    /* 64 GiB of 32 MiB blocks: 2048 payload entries, a sector bitmap entry
       after every 128 (chunk ratio 128) but the last: 2063 BAT entries. */
    c.virtual_size = 64 * 1024 * MiB;
    c.block_size = 32 * (uint32_t)MiB;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &c), VHDX_OK);
    o = with_progress(&pl, 0);
    io = io_borrow(&m.io);
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(pl.first_done, 0);
    assert_int_equal(pl.total, 2063);
    assert_int_equal(pl.last_done, 2063);
    assert_int_equal(pl.n, 2);
    /* Cancelled: the check says so, never a verdict. */
    o = with_progress(&pl, 0);
    pl.cancel_at = 1;
    io = io_borrow(&m.io);
    assert_status(vhdx_check(&io, &o, &r), VHDX_E_CANCELLED);
    assert_int_equal(r.errors, 0);
    assert_int_equal(pl.n, 1);
    /* Plain opens report nothing. */
    {
        vhdx_image *img = NULL;
        o = with_progress(&pl, 0);
        io = io_borrow(&m.io);
        assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
        assert_int_equal(pl.n, 0);
        vhdx_close(img);
    }
    mf_free(&m);
}

/* The first replayable dirty shape with descriptors. */
static void replayable(struct dirty_image *d)
{
    for (int i = 0; i < dirty_count(); i++) {
        assert_int_equal(dirty_build(i, d), 0);
        if (d->rule == NULL && d->entries > 0)
            return;
        dirty_free(d);
    }
    fail_msg("no replayable dirty image");
}

static void test_replay_progress_and_cancel(void **state)
{
    struct dirty_image d;
    struct memfile m;
    struct progress_log pl;
    vhdx_replay_result res;
    vhdx_open_options o;
    uint8_t *before;
    size_t len;
    vhdx_io io;
    (void)state;

    replayable(&d);
    /* Cancelled before the first descriptor: the file is not changed. */
    mf_open(&m, d.img.data, d.img.len);
    o = with_progress(&pl, 0);
    pl.cancel_at = 1;
    io = io_borrow(&m.io);
    assert_status(vhdx_replay(&io, &o, 0, NULL, NULL, &res), VHDX_E_CANCELLED);
    assert_int_equal(pl.n, 1);
    before = io_bytes(&m.io, &len);
    assert_int_equal(len, d.img.len);
    assert_memory_equal(before, d.img.data, len);
    free(before);
    /* Whole: from 0 to every descriptor of the active sequence. */
    o = with_progress(&pl, 0);
    io = io_borrow(&m.io);
    assert_status(vhdx_replay(&io, &o, 0, NULL, NULL, &res), VHDX_OK);
    assert_int_equal(pl.first_done, 0);
    assert_int_equal(pl.total, res.descriptors);
    assert_int_equal(pl.last_done, res.descriptors);
    assert_true(pl.n >= 2);
    mf_free(&m);
    /* A writable open replays in place with the same progress; a cancel fails the open. */
    mf_open(&m, d.img.data, d.img.len);
    {
        vhdx_image *img = NULL;
        o = with_progress(&pl, VHDX_OPEN_WRITABLE);
        pl.cancel_at = 1;
        io = io_borrow(&m.io);
        assert_status(vhdx_open(&io, &o, &img), VHDX_E_CANCELLED);
        assert_null(img);
        o = with_progress(&pl, VHDX_OPEN_WRITABLE);
        io = io_borrow(&m.io);
        assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
        assert_int_equal(pl.last_done, pl.total);
        assert_true(pl.total > 0);
        vhdx_close(img);
    }
    mf_free(&m);
    dirty_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_progress_and_cancel),
        cmocka_unit_test(test_replay_progress_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
