/*
 * The sparse memory back end (src/io/sparse.h), test and fuzz
 * infrastructure: against a flat byte array under random writes, zero
 * ranges, truncates, freezes and rewinds (reads, and the holes
 * io_sparse_hole_len reports, writes of zeros among them); its cap; and an image created,
 * written and reopened through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/sparse.h"
#include "test_util.h"
#include "vhdx.h"

#define SPACE (1u << 20)

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The whole store reads as want[0, size) (read in random pieces), then nothing. */
static void expect_flat(vhdx_io *io, const uint8_t *want, uint64_t size, uint8_t *buf)
{
    uint64_t got_size = 0;
    size_t got = 0;
    assert_status(io->size(io->ctx, &got_size), VHDX_OK);
    assert_int_equal(got_size, size);
    for (uint64_t off = 0; off < size;) {
        size_t n = 1 + (size_t)(next() % 70000);
        if (n > size - off)
            n = (size_t)(size - off);
        memset(buf, 0xee, n);
        assert_status(io->read(io->ctx, buf, n, off, &got), VHDX_OK);
        assert_int_equal(got, n);
        assert_memory_equal(buf, want + off, n);
        off += n;
    }
    assert_status(io->read(io->ctx, buf, 16, size, &got), VHDX_OK);
    assert_int_equal(got, 0);
    if (size > 8) {
        assert_status(io->read(io->ctx, buf, 16, size - 8, &got), VHDX_OK);
        assert_int_equal(got, 8);
    }
}

/*
 * io_sparse_hole_len at random offsets: the run of zeros of `want` from
 * there, inside the size and at most `max`. (The test writes non-zero bytes
 * or only zeros, which the store keeps as holes, so the zeros of `want`
 * are exactly its holes.)
 */
static void expect_holes(const struct io_sparse *sp, const uint8_t *want, uint64_t size)
{
    for (int k = 0; k < 64; k++) {
        uint64_t off = next() % (size + 2), max = k % 4 == 0 ? UINT64_MAX : next() % 100000;
        uint64_t run = 0;
        while (off + run < size && run < max && want[off + run] == 0)
            run++;
        assert_int_equal(io_sparse_hole_len(sp, off, max), run);
    }
}

static void test_sparse_matches_flat_array(void **state)
{
    struct io_sparse *sp = io_sparse_new(0);
    uint8_t *want = calloc(1, SPACE), *frozen = calloc(1, SPACE), *buf = malloc(SPACE);
    uint8_t *src = malloc(65536);
    uint64_t size = 0, frozen_size = 0;
    bool is_frozen = false;
    vhdx_io io;
    (void)state;
    assert_non_null(sp);
    assert_non_null(want);
    assert_non_null(frozen);
    assert_non_null(buf);
    assert_non_null(src);
    io_sparse_io(sp, true, &io);
    assert_ptr_equal(io_sparse_of(&io), sp);
    for (int round = 0; round < 20000; round++) {
        uint64_t r = next(), off = next() % (SPACE - 65536);
        size_t len = (size_t)(next() % 65536);
        if ((r & 3) == 0)
            len %= 600; /* small ones, inside extents */
        switch ((r >> 2) % 16) {
        default: /* write */
            for (size_t i = 0; i < len; i++)
                src[i] = (uint8_t)(next() | 1);
            assert_status(io.write(io.ctx, src, len, off), VHDX_OK);
            memcpy(want + off, src, len);
            if (len > 0 && off + len > size)
                size = off + len;
            break;
        case 9: /* a write of zeros (a hole, as a zero is) */
            memset(src, 0, len);
            assert_status(io.write(io.ctx, src, len, off), VHDX_OK);
            memset(want + off, 0, len);
            if (len > 0 && off + len > size)
                size = off + len;
            break;
        case 10:
        case 11: /* zero */
            assert_status(io.zero(io.ctx, off, len), VHDX_OK);
            if (len > 0) {
                memset(want + off, 0, len);
                if (off + len > size)
                    size = off + len;
            }
            break;
        case 12: /* truncate */
            off = next() % SPACE;
            assert_status(io.truncate(io.ctx, off), VHDX_OK);
            if (off < size)
                memset(want + off, 0, (size_t)(size - off));
            size = off;
            break;
        case 13: /* freeze */
            if ((next() & 7) == 0) {
                assert_status(io_sparse_freeze(sp), VHDX_OK);
                memcpy(frozen, want, SPACE);
                frozen_size = size;
                is_frozen = true;
            }
            break;
        case 14: /* rewind */
            if ((next() & 3) == 0) {
                io_sparse_rewind(sp);
                if (is_frozen) {
                    memcpy(want, frozen, SPACE);
                    size = frozen_size;
                } else {
                    memset(want, 0, SPACE);
                    size = 0;
                }
            }
            break;
        case 15: /* reset */
            if ((next() & 15) == 0) {
                io_sparse_reset(sp);
                memset(want, 0, SPACE);
                size = 0;
                is_frozen = false;
            }
            break;
        }
        if (round % 500 == 0) {
            expect_flat(&io, want, size, buf);
            expect_holes(sp, want, size);
        }
    }
    expect_flat(&io, want, size, buf);
    expect_holes(sp, want, size);
    /* The extents are sorted, disjoint and inside the size. */
    {
        uint64_t prev_end = 0, o = 0, l = 0;
        for (size_t i = 0; io_sparse_extent(sp, i, &o, &l); i++) {
            assert_true(l > 0 && o >= prev_end && o + l <= size);
            prev_end = o + l;
        }
    }
    io_sparse_free(sp);
    free(want);
    free(frozen);
    free(buf);
    free(src);
}

static void test_sparse_cap_changes_nothing(void **state)
{
    struct io_sparse *sp = io_sparse_new(8192);
    uint8_t a[8192], b[4096];
    vhdx_io io;
    (void)state;
    assert_non_null(sp);
    memset(a, 0x11, sizeof(a));
    memset(b, 0x22, sizeof(b));
    io_sparse_io(sp, true, &io);
    assert_status(io.write(io.ctx, a, sizeof(a), 0), VHDX_OK);
    assert_status(io.write(io.ctx, b, sizeof(b), 65536), VHDX_E_LIMIT);
    assert_int_equal(io_sparse_size(sp), sizeof(a));
    /* Overwriting what it holds needs no more. */
    assert_status(io.write(io.ctx, b, sizeof(b), 4096), VHDX_OK);
    assert_int_equal(io_sparse_bytes(sp), sizeof(a));
    assert_status(io.zero(io.ctx, 0, 4096), VHDX_OK);
    assert_status(io.write(io.ctx, b, sizeof(b), 65536), VHDX_OK);
    assert_int_equal(io_sparse_extents(sp), 2);
    /* A read-only view has no write. */
    io_sparse_io(sp, false, &io);
    assert_null(io.write);
    assert_null(io.truncate);
    vhdx_io_close(&io); /* close leaves the store alone */
    assert_int_equal(io_sparse_size(sp), 65536 + sizeof(b));
    io_sparse_free(sp);
}

static void test_sparse_holds_an_image(void **state)
{
    struct io_sparse *sp = io_sparse_new(0);
    vhdx_create_options co;
    vhdx_image *img = NULL;
    vhdx_open_options oo;
    uint8_t data[4096], got[4096];
    vhdx_io io;
    (void)state;
    assert_non_null(sp);
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DYNAMIC;
    co.virtual_size = 64u << 20;
    io_sparse_io(sp, true, &io);
    assert_status(vhdx_create(&io, &co), VHDX_OK);
    memset(&oo, 0, sizeof(oo));
    oo.flags = VHDX_OPEN_WRITABLE;
    io_sparse_io(sp, true, &io);
    assert_status(vhdx_open(&io, &oo, &img), VHDX_OK);
    memset(data, 0x5a, sizeof(data));
    assert_status(vhdx_write(img, 40u << 20, data, sizeof(data)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    /* Only what was written is held: far less than the file's size. */
    assert_true(io_sparse_bytes(sp) < io_sparse_size(sp));
    io_sparse_io(sp, false, &io);
    assert_status(vhdx_open(&io, NULL, &img), VHDX_OK);
    assert_status(vhdx_read(img, 40u << 20, got, sizeof(got)), VHDX_OK);
    assert_memory_equal(got, data, sizeof(data));
    vhdx_close(img);
    io_sparse_free(sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse_matches_flat_array),
        cmocka_unit_test(test_sparse_cap_changes_nothing),
        cmocka_unit_test(test_sparse_holds_an_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
