/*
 * The log (src/image/log.c, docs/REPLAY.md): every dirty-image shape of
 * tests/dirty_images opened read-only (replayed into memory, the file
 * untouched), replayed in place (the file becomes `after`, the headers are
 * updated), replayed twice, and interrupted after every write; each
 * rejection with its rule id; the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "dirty_images.h"
#include "format/constants.h"
#include "format/header.h"
#include "image/log.h"
#include "io/fault.h"
#include "io/overlay.h"
#include "test_util.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)
#define HDR_LO (64u * 1024u)
#define HDR_HI (192u * 1024u)

static struct test_sink ts;

static vhdx_open_options opts(void)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.on_diag = test_sink_collect;
    o.diag_ctx = &ts;
    test_sink_init(&ts);
    return o;
}

/* The file equals `after` everywhere but the two headers. */
static void assert_file_is_after(const struct dirty_image *d, const uint8_t *buf, size_t len)
{
    assert_int_equal(len, d->after_len);
    assert_memory_equal(buf, d->after, HDR_LO);
    assert_memory_equal(buf + HDR_HI, d->after + HDR_HI, len - HDR_HI);
}

static void decode_header(const uint8_t *file, int slot, struct header *h)
{
    assert_status(header_decode(file + (slot == 1 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET),
                                HEADER_SIZE, h, NULL),
                  VHDX_OK);
}

/* A clean image whose file is `after` with the LogGuid cleared: the expected view. */
static vhdx_image *open_expected(const struct dirty_image *d, uint8_t **copy)
{
    struct header h;
    vhdx_image *img = NULL;
    vhdx_io io;
    *copy = malloc(d->after_len);
    assert_non_null(*copy);
    memcpy(*copy, d->after, d->after_len);
    decode_header(*copy, 2, &h);
    memset(&h.log_guid, 0, sizeof(h.log_guid));
    assert_status(header_encode(&h, *copy + VHDX_HEADER2_OFFSET, HEADER_SIZE), VHDX_OK);
    assert_status(vhdx_io_from_memory(*copy, d->after_len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, NULL, &img), VHDX_OK);
    return img;
}

static void assert_same_disk(vhdx_image *a, vhdx_image *b)
{
    vhdx_info ia, ib;
    static uint8_t ba[1 << 20], bb[1 << 20];
    assert_status(vhdx_get_info(a, &ia), VHDX_OK);
    assert_status(vhdx_get_info(b, &ib), VHDX_OK);
    assert_int_equal(ia.virtual_size, ib.virtual_size);
    for (uint64_t off = 0; off < ia.virtual_size; off += sizeof(ba)) {
        size_t n = (size_t)(ia.virtual_size - off < sizeof(ba) ? ia.virtual_size - off : sizeof(ba));
        assert_status(vhdx_read(a, off, ba, n), VHDX_OK);
        assert_status(vhdx_read(b, off, bb, n), VHDX_OK);
        assert_memory_equal(ba, bb, n);
    }
}

static void build(int shape, struct dirty_image *d)
{
    assert_int_equal(dirty_build(shape, d), 0);
}

/* ---- Read-only opens: the view is replayed, the file is not touched ---- */

static void test_read_only_open_replays_in_memory(void **state)
{
    (void)state;
    for (int s = 0; s < dirty_count(); s++) {
        struct dirty_image d;
        vhdx_open_options o;
        vhdx_image *img = NULL;
        uint8_t *before, *copy = NULL;
        vhdx_io io;
        build(s, &d);
        before = malloc(d.img.len);
        assert_non_null(before);
        memcpy(before, d.img.data, d.img.len);
        o = opts();
        assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
        if (d.rule != NULL) {
            assert_status(vhdx_open(&io, &o, &img), d.status);
            assert_null(img);
            assert_diag(&ts, VHDX_SEVERITY_ERROR, d.status, d.rule);
            if (d.warning != NULL)
                assert_diag(&ts, VHDX_SEVERITY_WARNING, d.warning_code, d.warning);
        } else {
            vhdx_info info;
            vhdx_image *want;
            assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
            assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "log.replayed");
            assert_int_equal(ts.sink.errors, 0);
            if (d.warning != NULL) {
                assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log.entry.invalid");
                assert_diag(&ts, VHDX_SEVERITY_WARNING, d.warning_code, d.warning);
            }
            assert_status(vhdx_get_info(img, &info), VHDX_OK);
            assert_int_equal(info.log_replay, VHDX_LOG_REPLAYED_IN_MEMORY);
            assert_int_equal(info.log_dirty, 1);
            assert_int_equal(info.log_entries_replayed, d.entries);
            assert_int_equal(info.log_head_sequence, d.head_sequence);
            assert_int_equal(info.file_size, d.after_len);
            want = open_expected(&d, &copy);
            assert_same_disk(img, want);
            vhdx_close(want);
            vhdx_close(img);
            free(copy);
        }
        assert_memory_equal(before, d.img.data, d.img.len);
        free(before);
        dirty_free(&d);
    }
}

/* ---- In place: the file becomes `after`, then the headers say the log is empty ---- */

static void replay_in_place(const struct dirty_image *d, struct memfile *m, vhdx_status want)
{
    vhdx_open_options o = opts();
    vhdx_replay_result r;
    assert_status(vhdx_replay(&m->io, &o, 0, NULL, NULL, &r), want);
    if (want == VHDX_OK) {
        assert_int_equal(r.dirty, 1);
        assert_int_equal(r.entries, d->entries);
        assert_int_equal(r.head_sequence, d->head_sequence);
        assert_int_equal(r.file_size_after, d->after_len);
    }
}

static void assert_headers_cleared(const struct dirty_image *d, const uint8_t *file)
{
    struct header h1, h2;
    decode_header(file, 1, &h1);
    decode_header(file, 2, &h2);
    /* The builder's current header is slot 2 with sequence number 2. */
    assert_int_equal(h1.sequence_number, d->img.header.sequence_number + 1);
    assert_int_equal(h2.sequence_number, d->img.header.sequence_number + 2);
    assert_true(guid_is_nil(&h1.log_guid));
    assert_true(guid_is_nil(&h2.log_guid));
    assert_true(guid_equal(&h1.file_write_guid, &h2.file_write_guid));
    assert_false(guid_equal(&h2.file_write_guid, &d->img.header.file_write_guid));
    assert_true(guid_equal(&h2.data_write_guid, &d->img.header.data_write_guid));
    assert_int_equal(h2.log_offset, d->img.header.log_offset);
    assert_int_equal(h2.log_length, d->img.header.log_length);
}

static void test_replay_in_place(void **state)
{
    (void)state;
    for (int s = 0; s < dirty_count(); s++) {
        struct dirty_image d;
        struct memfile m;
        uint8_t *file;
        size_t len;
        build(s, &d);
        mf_open(&m, d.img.data, d.img.len);
        replay_in_place(&d, &m, d.rule == NULL ? VHDX_OK : d.status);
        file = io_bytes(&m.io, &len);
        if (d.rule == NULL) {
            assert_file_is_after(&d, file, len);
            assert_headers_cleared(&d, file);
        } else {
            /* A rejected log changes nothing at all. */
            assert_int_equal(len, d.img.len);
            assert_memory_equal(file, d.img.data, len);
            assert_int_equal(io_overlay_pages(&m.io), 0);
        }
        free(file);
        mf_free(&m);
        dirty_free(&d);
    }
}

/* A writable open replays in place and then reads the replayed image. */
static void test_writable_open_replays_in_place(void **state)
{
    struct dirty_image d;
    struct memfile m;
    vhdx_open_options o;
    vhdx_image *img = NULL, *want;
    vhdx_info info;
    uint8_t *file, *copy;
    size_t len;
    vhdx_io borrowed;
    (void)state;
    build(1, &d);
    mf_open(&m, d.img.data, d.img.len);
    o = opts();
    o.flags = VHDX_OPEN_WRITABLE;
    borrowed = io_borrow(&m.io);
    assert_status(vhdx_open(&borrowed, &o, &img), VHDX_OK);
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "log.replayed");
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.log_replay, VHDX_LOG_REPLAYED_IN_PLACE);
    assert_int_equal(info.log_entries_replayed, 3);
    assert_string_equal(info.log_guid, "{00000000-0000-0000-0000-000000000000}");
    want = open_expected(&d, &copy);
    assert_same_disk(img, want);
    vhdx_close(want);
    vhdx_close(img);
    free(copy);
    file = io_bytes(&m.io, &len);
    assert_file_is_after(&d, file, len);
    assert_headers_cleared(&d, file);
    free(file);
    mf_free(&m);
    dirty_free(&d);
}

/* ---- Idempotence: a second replay finds a clean log and writes nothing ---- */

static void test_replay_twice_same_as_once(void **state)
{
    (void)state;
    for (int s = 0; s < dirty_count(); s++) {
        struct dirty_image d;
        struct memfile m;
        vhdx_replay_result r;
        uint8_t *once, *twice;
        size_t len1, len2, pages;
        build(s, &d);
        if (d.rule != NULL) {
            dirty_free(&d);
            continue;
        }
        mf_open(&m, d.img.data, d.img.len);
        replay_in_place(&d, &m, VHDX_OK);
        once = io_bytes(&m.io, &len1);
        pages = io_overlay_pages(&m.io);
        assert_status(vhdx_replay(&m.io, NULL, 0, NULL, NULL, &r), VHDX_OK);
        assert_int_equal(r.dirty, 0);
        assert_int_equal(r.entries, 0);
        twice = io_bytes(&m.io, &len2);
        assert_int_equal(len1, len2);
        assert_memory_equal(once, twice, len1);
        assert_int_equal(io_overlay_pages(&m.io), pages);
        free(once);
        free(twice);
        mf_free(&m);
        dirty_free(&d);
    }
}

/*
 * Applying the same active sequence twice (a crash after the writes but
 * before the header update, then a replay at the next open) gives the
 * same file as applying it once.
 */
static void test_apply_twice_same_as_once(void **state)
{
    (void)state;
    for (int s = 0; s < dirty_count(); s++) {
        struct dirty_image d;
        struct memfile m;
        struct log_plan plan;
        struct alloc_acct acct;
        struct header h;
        uint8_t *once, *twice;
        size_t len1, len2;
        build(s, &d);
        if (d.rule != NULL) {
            dirty_free(&d);
            continue;
        }
        alloc_acct_init(&acct, NULL, 0);
        mf_open(&m, d.img.data, d.img.len);
        decode_header(d.img.data, 2, &h);
        assert_status(log_plan_load(&m.io, &h, d.img.len, 0xFFF00000u, &acct, NULL, &plan),
                      VHDX_OK);
        assert_status(log_plan_apply(&plan, &m.io, &m.io, NULL), VHDX_OK);
        once = io_bytes(&m.io, &len1);
        assert_status(log_plan_apply(&plan, &m.io, &m.io, NULL), VHDX_OK);
        twice = io_bytes(&m.io, &len2);
        assert_int_equal(len1, len2);
        assert_memory_equal(once, twice, len1);
        assert_file_is_after(&d, once, len1);
        log_plan_free(&plan);
        assert_int_equal(acct.in_use, 0);
        free(once);
        free(twice);
        mf_free(&m);
        dirty_free(&d);
    }
}

/* ---- Crash during replay: stop after every N-th write, replay again ---- */

/*
 * Every stop of an in-place replay, on both of its paths for zero ranges:
 * the back end's zero operation (zero_op true: here the fault back end's,
 * one operation however long) and writes of zeros (a back end without it).
 */
static uint64_t crash_during_replay(bool zero_op, uint64_t *zero_ops)
{
    uint64_t crash_states = 0;
    *zero_ops = 0;
    for (int s = 0; s < dirty_count(); s++) {
        struct dirty_image d;
        struct memfile ref;
        uint8_t *want;
        size_t want_len;
        uint64_t total;
        build(s, &d);
        if (d.rule != NULL) {
            dirty_free(&d);
            continue;
        }
        /* The uninterrupted replay, counting its mutating operations. */
        mf_open(&ref, d.img.data, d.img.len);
        {
            struct alloc_acct acct;
            vhdx_io f;
            struct io_fault_stats st;
            alloc_acct_init(&acct, NULL, 0);
            assert_status(io_fault_create(&ref.io, &acct, UINT64_MAX, &f), VHDX_OK);
            {
                vhdx_io path = f;
                if (!zero_op)
                    path.zero = NULL;
                assert_status(vhdx_replay(&path, NULL, 0, NULL, NULL, NULL), VHDX_OK);
            }
            st = io_fault_stats(&f);
            total = st.writes + st.truncates;
            *zero_ops += st.zeros;
            assert_true(total >= 3); /* at least one target and two headers */
            vhdx_io_close(&f);
        }
        want = io_bytes(&ref.io, &want_len);
        mf_free(&ref);

        /* Each stop, with the stopping write lost, or torn after 512 B, 2 KiB or 3.5 KiB. */
        for (uint64_t step = 0; step < total * 4; step++) {
            static const size_t torn[4] = {0, 512, 2048, 3584};
            uint64_t n = step / 4;
            struct memfile m;
            struct alloc_acct acct;
            vhdx_io f;
            struct header h1, h2, *cur;
            uint8_t *got;
            size_t got_len;
            mf_open(&m, d.img.data, d.img.len);
            alloc_acct_init(&acct, NULL, 0);
            assert_status(io_fault_create(&m.io, &acct, n, &f), VHDX_OK);
            io_fault_set_torn(&f, torn[step % 4]);
            {
                vhdx_io path = f;
                if (!zero_op)
                    path.zero = NULL;
                assert_status(vhdx_replay(&path, NULL, 0, NULL, NULL, NULL), VHDX_E_IO);
            }
            assert_true(io_fault_stats(&f).stopped);
            crash_states++;
            vhdx_io_close(&f);
            /* The next open replays what was left. */
            assert_status(vhdx_replay(&m.io, NULL, 0, NULL, NULL, NULL), VHDX_OK);
            got = io_bytes(&m.io, &got_len);
            assert_int_equal(got_len, want_len);
            assert_memory_equal(got, want, HDR_LO);
            assert_memory_equal(got + HDR_HI, want + HDR_HI, want_len - HDR_HI);
            decode_header(got, 1, &h1);
            decode_header(got, 2, &h2);
            cur = h1.sequence_number > h2.sequence_number ? &h1 : &h2;
            assert_true(guid_is_nil(&cur->log_guid));
            assert_int_equal(cur->log_offset, d.img.header.log_offset);
            assert_true(guid_equal(&cur->data_write_guid, &d.img.header.data_write_guid));
            free(got);
            mf_free(&m);
        }
        free(want);
        dirty_free(&d);
    }
    return crash_states;
}

static void test_crash_during_replay(void **state)
{
    uint64_t with_zero_op, with_writes, zero_ops, none;
    (void)state;
    with_zero_op = crash_during_replay(true, &zero_ops);
    with_writes = crash_during_replay(false, &none);
    print_message("crash states replayed: %llu with the zero operation (%llu zero operations), "
                  "%llu with writes\n",
                  (unsigned long long)with_zero_op, (unsigned long long)zero_ops,
                  (unsigned long long)with_writes);
    assert_true(with_zero_op > 400);
    assert_true(with_writes > 400);
    /* The first path zeroes through the operation, the second never does. */
    assert_true(zero_ops > 0);
    assert_int_equal(none, 0);
}

/* A torn write lands exactly its first bytes, once. */
static void test_fault_torn_write(void **state)
{
    static uint8_t base[8192], page[4096];
    struct alloc_acct acct;
    struct memfile m;
    vhdx_io f;
    size_t got = 0;
    uint8_t back[4096];
    (void)state;
    memset(page, 0xAB, sizeof(page));
    mf_open(&m, base, sizeof(base));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_fault_create(&m.io, &acct, 1, &f), VHDX_OK);
    io_fault_set_torn(&f, 1024);
    assert_status(f.write(f.ctx, page, 4096, 0), VHDX_OK);
    assert_status(f.write(f.ctx, page, 4096, 4096), VHDX_E_IO);
    assert_status(f.write(f.ctx, page, 4096, 4096), VHDX_E_IO);
    assert_int_equal(io_fault_stats(&f).torn, 1024);
    assert_int_equal(io_fault_stats(&f).writes, 1);
    assert_int_equal(io_fault_stats(&f).refused, 2);
    assert_status(m.io.read(m.io.ctx, back, 4096, 4096, &got), VHDX_OK);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(back[i], i < 1024 ? 0xAB : 0);
    vhdx_io_close(&f);
    mf_free(&m);
}

/* ---- Dry run and the listing ---- */

struct listing {
    uint32_t entries, data, zero;
    uint64_t last_seq;
};

static void count_item(void *ctx, const vhdx_log_item *it)
{
    struct listing *l = ctx;
    if (it->kind == VHDX_LOG_ITEM_ENTRY) {
        l->entries++;
        assert_true(it->sequence_number > l->last_seq);
        l->last_seq = it->sequence_number;
    } else if (it->kind == VHDX_LOG_ITEM_DATA) {
        l->data++;
        assert_int_equal(it->length, 4096);
    } else {
        l->zero++;
    }
}

static void test_dry_run_lists_and_writes_nothing(void **state)
{
    struct dirty_image d;
    struct memfile m;
    struct listing l;
    vhdx_replay_result r;
    (void)state;
    build(5, &d); /* zero-descriptors: 2 zero + 2 data descriptors in one entry */
    mf_open(&m, d.img.data, d.img.len);
    memset(&l, 0, sizeof(l));
    assert_status(vhdx_replay(&m.io, NULL, VHDX_REPLAY_DRY_RUN, count_item, &l, &r), VHDX_OK);
    assert_int_equal(l.entries, 1);
    assert_int_equal(l.data, 2);
    assert_int_equal(l.zero, 2);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.descriptors, 4);
    assert_int_equal(r.head_sequence, 50);
    assert_int_equal(r.file_size_after, d.img.len);
    assert_int_equal(io_overlay_pages(&m.io), 0);
    mf_free(&m);
    dirty_free(&d);
}

static void test_multi_entry_listing_order(void **state)
{
    struct dirty_image d;
    struct memfile m;
    struct listing l;
    (void)state;
    build(4, &d); /* stale-before-tail: only sequence 41 is listed */
    mf_open(&m, d.img.data, d.img.len);
    memset(&l, 0, sizeof(l));
    assert_status(vhdx_replay(&m.io, NULL, VHDX_REPLAY_DRY_RUN, count_item, &l, NULL), VHDX_OK);
    assert_int_equal(l.entries, 1);
    assert_int_equal(l.last_seq, 41);
    mf_free(&m);
    dirty_free(&d);
}

/* ---- Choosing between sequences (docs/REPLAY.md) ---- */

struct entry_list {
    uint32_t n;
    uint64_t seq[4];
    uint64_t log_offset[4];
    uint64_t target[4];
};

static void list_entries(void *ctx, const vhdx_log_item *it)
{
    struct entry_list *l = ctx;
    if (l->n >= 4)
        return;
    if (it->kind == VHDX_LOG_ITEM_ENTRY) {
        l->seq[l->n] = it->sequence_number;
        l->log_offset[l->n] = it->log_offset;
    } else if (it->kind == VHDX_LOG_ITEM_DATA) {
        l->target[l->n++] = it->file_offset;
    }
}

/* One entry writing a page of `tag` bytes at file offset `target`. */
static void add_entry(struct ib_image *img, uint32_t at, uint64_t seq, uint32_t tail,
                      uint64_t target, uint8_t tag)
{
    static uint8_t page[4096];
    const uint8_t *payloads[1] = {page};
    struct log_descriptor desc;
    uint32_t where = 0;
    memset(page, tag, sizeof(page));
    memset(&desc, 0, sizeof(desc));
    desc.kind = LOG_DESCRIPTOR_DATA;
    desc.file_offset = target;
    img->log_head = at;
    assert_int_equal(ib_add_log_entry(img, seq, tail, &desc, 1, payloads, &where), 0);
    assert_int_equal(where, at);
}

/* Replays the image's log in memory; the page at `target` must hold `tag`. */
static void replay_expect(const struct ib_image *img, uint64_t target, uint8_t tag,
                          struct entry_list *l)
{
    struct memfile m;
    uint8_t got[4096], want[4096];
    size_t n = 0;
    vhdx_replay_result r;
    mf_open(&m, img->data, img->len);
    memset(l, 0, sizeof(*l));
    assert_status(vhdx_replay(&m.io, NULL, 0, list_entries, l, &r), VHDX_OK);
    assert_status(m.io.read(m.io.ctx, got, sizeof(got), target, &n), VHDX_OK);
    assert_int_equal(n, sizeof(got));
    memset(want, tag, sizeof(want));
    assert_memory_equal(got, want, sizeof(got));
    mf_free(&m);
}

/*
 * An 8 MiB dynamic image with 1 MiB blocks whose header names log `g`,
 * with 1 MiB of file space at *target for the entries to write to.
 */
static void build_logged(struct ib_image *img, const struct guid *g, uint64_t *target)
{
    struct ib_params p;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8 * MiB;
    p.block_size = (uint32_t)MiB;
    assert_int_equal(ib_build(&p, img), 0);
    assert_int_equal(ib_alloc_space(img, MiB, target), 0);
    assert_int_equal(ib_set_log_guid(img, g), 0);
}

/* The sequence with the higher head sequence number wins, wherever it lies in the log. */
static void test_higher_head_later_in_the_log_wins(void **state)
{
    static const uint8_t d4[8] = {0x10, 0x6C, 0, 0, 0, 0, 0, 2};
    struct guid g = guid_make(0x106C0002u, 1, 2, d4);
    struct ib_image img;
    struct entry_list l;
    uint64_t target;
    (void)state;
    build_logged(&img, &g, &target);
    add_entry(&img, 0, 7, 0, target, 0xA7);
    add_entry(&img, 512 * 1024, 100, 512 * 1024, target, 0xB1);
    replay_expect(&img, target, 0xB1, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.seq[0], 100);
    assert_int_equal(l.log_offset[0], 512 * 1024);
    assert_int_equal(l.target[0], target);
    ib_free(&img);
}

/*
 * Equal head sequence numbers: the head at the lower log offset wins, also
 * when its sequence starts later in the log (it wraps round the end).
 */
static void test_equal_heads_lower_offset_wins_across_the_wrap(void **state)
{
    static const uint8_t d4[8] = {0x10, 0x6C, 0, 0, 0, 0, 0, 3};
    struct guid g = guid_make(0x106C0003u, 1, 2, d4);
    struct ib_image img;
    struct entry_list l;
    uint64_t target;
    const uint32_t last = (uint32_t)MiB - 8192; /* an 8 KiB entry ending at the log's end */
    (void)state;
    build_logged(&img, &g, &target);
    /* Sequence A: 10 at the end of the log, 11 at offset 0 (its head). */
    add_entry(&img, last, 10, last, target, 0x0A);
    add_entry(&img, 0, 11, last, target + 4096, 0x1A);
    /* Sequence B: 11 alone at 256 KiB. */
    add_entry(&img, 256 * 1024, 11, 256 * 1024, target, 0x0B);
    replay_expect(&img, target, 0x0A, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.seq[0], 10);
    assert_int_equal(l.log_offset[0], last);
    assert_int_equal(l.seq[1], 11);
    assert_int_equal(l.log_offset[1], 0);
    assert_int_equal(l.target[1], target + 4096);
    ib_free(&img);

    /* Two lone entries with sequence number 7: the one at offset 0, found first, stays. */
    build_logged(&img, &g, &target);
    add_entry(&img, 64 * 4096, 7, 64 * 4096, target, 0x0C);
    add_entry(&img, 0, 7, 0, target, 0x0D);
    replay_expect(&img, target, 0x0D, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.log_offset[0], 0);
    ib_free(&img);
}

/* ---- Limits ---- */

/* Dirty image `shape` opened under `lim`: refused with VHDX_E_LIMIT, `rule` the only finding. */
static void expect_limit_refusal(int shape, const vhdx_limits *lim, const char *rule)
{
    struct dirty_image d;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    build(shape, &d);
    o = opts();
    o.limits = lim;
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, &o, &img), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, rule);
    dirty_free(&d);
}

static void test_log_longer_than_limit(void **state)
{
    vhdx_limits lim = vhdx_limits_default();
    (void)state;
    lim.max_log_length = (uint32_t)MiB - 4096;
    expect_limit_refusal(0, &lim, "log.limit.length");
}

static void test_log_memory_limit(void **state)
{
    vhdx_limits lim = vhdx_limits_default();
    (void)state;
    lim.max_memory = 192 * 1024; /* less than the search's 256 KiB window */
    expect_limit_refusal(0, &lim, "log.limit.memory");
}

/*
 * An image whose one entry holds `n` zero descriptors, each zeroing one of
 * the 256 pages of a free MiB at *target in turn.
 */
static void build_many_zero_descriptors(struct ib_image *img, size_t n, uint64_t *target)
{
    static const uint8_t d4[8] = {0x10, 0x6C, 0, 0, 0, 0, 0, 9};
    struct guid g = guid_make(0x106C0009u, 1, 2, d4);
    struct log_descriptor *descs = calloc(n, sizeof(*descs));
    assert_non_null(descs);
    build_logged(img, &g, target);
    for (size_t i = 0; i < n; i++) {
        descs[i].kind = LOG_DESCRIPTOR_ZERO;
        descs[i].file_offset = *target + (i % 256) * 4096;
        descs[i].zero_length = 4096;
    }
    assert_int_equal(ib_add_log_entry(img, 3, 0, descs, n, NULL, NULL), 0);
    free(descs);
}

/*
 * The view of a read-only replay counts against the memory limit: 40 bytes
 * a descriptor, never the bytes it covers. The smallest limit (in 16 KiB
 * steps) that lets the search through stops at the view: 16,000
 * descriptors need 625 KiB more than the search's windows.
 */
static void test_overlay_memory_limit(void **state)
{
    struct ib_image img;
    uint64_t target;
    vhdx_limits lim = vhdx_limits_default();
    bool seen_overlay = false;
    (void)state;
    build_many_zero_descriptors(&img, 16000, &target);
    for (uint64_t limit = 256 * 1024; limit < 4 * MiB && !seen_overlay; limit += 16 * 1024) {
        vhdx_open_options o = opts();
        vhdx_image *h = NULL;
        vhdx_io io;
        vhdx_status st;
        lim.max_memory = limit;
        o.limits = &lim;
        assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
        st = vhdx_open(&io, &o, &h);
        assert_status(st, VHDX_E_LIMIT);
        assert_null(h);
        if (strcmp(ts.records[ts.sink.stored - 1].rule, "log.limit.overlay") == 0) {
            assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "log.limit.overlay");
            seen_overlay = true;
        } else {
            assert_string_equal(ts.records[ts.sink.stored - 1].rule, "log.limit.memory");
        }
        test_sink_init(&ts);
    }
    assert_true(seen_overlay);
    ib_free(&img);
}

/*
 * The same image under the default limit: the view holds one record per
 * page the descriptors zero (256), not 16,000, and the replayed image is
 * judged clean without a byte of the file changing.
 */
static void test_many_descriptors_view_is_compact(void **state)
{
    struct ib_image img;
    uint64_t target;
    vhdx_check_result r;
    vhdx_io io;
    uint8_t *before;
    (void)state;
    build_many_zero_descriptors(&img, 16000, &target);
    memset(img.data + target, 0x5A, MiB);
    before = malloc(img.len);
    assert_non_null(before);
    memcpy(before, img.data, img.len);
    assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, NULL, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_memory_equal(before, img.data, img.len);
    free(before);
    ib_free(&img);
}

/* The image's bytes at off, as a read callback gives them: short at the end. */
static void serve(const struct ib_image *img, void *buf, size_t len, uint64_t off, size_t *got)
{
    *got = off >= img->len ? 0 : len < img->len - off ? len : (size_t)(img->len - off);
    if (*got > 0)
        memcpy(buf, img->data + off, *got);
}

/* A failing back end while reading the log: log.read. */
static vhdx_status failing_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct ib_image *img = ctx;
    if (off >= img->log_offset && off < img->log_offset + img->log_length)
        return VHDX_E_IO;
    serve(img, buf, len, off, got);
    return VHDX_OK;
}

static vhdx_status img_size(void *ctx, uint64_t *size)
{
    *size = ((const struct ib_image *)ctx)->len;
    return VHDX_OK;
}

static void test_log_read_failure(void **state)
{
    struct dirty_image d;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    (void)state;
    build(0, &d);
    o = opts();
    memset(&io, 0, sizeof(io));
    io.ctx = &d.img;
    io.read = failing_read;
    io.size = img_size;
    assert_status(vhdx_open(&io, &o, &img), VHDX_E_IO);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "log.read");
    dirty_free(&d);
}

/* More than LOG_REPORT_MAX torn entries: the rest are counted in one notice. */
static void test_many_torn_entries_summarised(void **state)
{
    struct dirty_image d;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    uint8_t *log;
    (void)state;
    build(12, &d); /* one torn entry at offset 0 */
    log = d.img.data + d.img.log_offset;
    for (uint32_t k = 1; k <= 10; k++)
        memcpy(log + k * 16384u, log, 8192);
    o = opts();
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, &o, &img), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "log.entry.invalid_more");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log.sequence.none");
    dirty_free(&d);
}

/* A header sequence number that cannot grow by 2. */
static void test_header_sequence_overflow(void **state)
{
    struct dirty_image d;
    struct memfile m;
    vhdx_open_options o;
    (void)state;
    build(0, &d);
    d.img.header.sequence_number = UINT64_MAX - 1;
    assert_status(header_encode(&d.img.header, d.img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE),
                  VHDX_OK);
    mf_open(&m, d.img.data, d.img.len);
    o = opts();
    assert_status(vhdx_replay(&m.io, &o, 0, NULL, NULL, NULL), VHDX_E_OVERFLOW);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "log.header_update.sequence");
    mf_free(&m);
    dirty_free(&d);
}

/* Writing the replay fails: log.apply.io, and the header is not updated. */
static void test_apply_write_failure(void **state)
{
    struct dirty_image d;
    struct memfile m;
    struct alloc_acct acct;
    vhdx_open_options o;
    vhdx_io f;
    (void)state;
    build(0, &d);
    mf_open(&m, d.img.data, d.img.len);
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_fault_create(&m.io, &acct, 0, &f), VHDX_OK);
    o = opts();
    assert_status(vhdx_replay(&f, &o, 0, NULL, NULL, NULL), VHDX_E_IO);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "log.apply.io");
    vhdx_io_close(&f);
    assert_int_equal(io_overlay_pages(&m.io), 0);
    mf_free(&m);
    dirty_free(&d);
}

/* The header update itself fails after the replay: log.header_update.io. */
static void test_header_update_failure(void **state)
{
    struct dirty_image d;
    struct memfile m;
    struct alloc_acct acct;
    vhdx_open_options o;
    vhdx_io f;
    (void)state;
    build(0, &d); /* one data descriptor: write 1 is the target, write 2 the header */
    mf_open(&m, d.img.data, d.img.len);
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_fault_create(&m.io, &acct, 1, &f), VHDX_OK);
    o = opts();
    assert_status(vhdx_replay(&f, &o, 0, NULL, NULL, NULL), VHDX_E_IO);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "log.header_update.io");
    vhdx_io_close(&f);
    mf_free(&m);
    dirty_free(&d);
}

/* vhdx_replay refuses a read-only back end unless it is a dry run. */
static void test_replay_needs_writable_io(void **state)
{
    struct dirty_image d;
    vhdx_io io;
    (void)state;
    build(0, &d);
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(vhdx_replay(&io, NULL, 0, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_replay(&io, NULL, VHDX_REPLAY_DRY_RUN, NULL, NULL, NULL), VHDX_OK);
    assert_status(vhdx_replay(&io, NULL, 4, NULL, NULL, NULL), VHDX_E_INVALID_ARG);
    vhdx_io_close(&io);
    dirty_free(&d);
}

/* vhdx_replay refuses an io without read or size, and clears *out even then. */
static void test_replay_refuses_incomplete_io(void **state)
{
    struct dirty_image d;
    vhdx_replay_result r;
    vhdx_io io, partial;
    (void)state;
    build(0, &d);
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    memset(&r, 0x5A, sizeof(r));
    assert_status(vhdx_replay(NULL, NULL, VHDX_REPLAY_DRY_RUN, NULL, NULL, &r),
                  VHDX_E_INVALID_ARG);
    assert_int_equal(r.current_header, 0);
    assert_int_equal(r.entries, 0);
    partial = io;
    partial.size = NULL;
    assert_status(vhdx_replay(&partial, NULL, VHDX_REPLAY_DRY_RUN, NULL, NULL, &r),
                  VHDX_E_INVALID_ARG);
    partial = io;
    partial.read = NULL;
    assert_status(vhdx_replay(&partial, NULL, VHDX_REPLAY_DRY_RUN, NULL, NULL, &r),
                  VHDX_E_INVALID_ARG);
    /* The whole io: the dry run finds the one entry. */
    assert_status(vhdx_replay(&io, NULL, VHDX_REPLAY_DRY_RUN, NULL, NULL, &r), VHDX_OK);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.current_header, 2);
    vhdx_io_close(&io);
    dirty_free(&d);
}

/* vhdx_check judges the replayed view: the dirty log is a notice, not an error. */
static void test_check_judges_replayed_view(void **state)
{
    struct dirty_image d;
    vhdx_open_options o;
    vhdx_check_result r;
    vhdx_io io;
    (void)state;
    build(1, &d);
    o = opts();
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.warnings, 0);
    assert_int_equal(r.infos, 1);
    assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "log.replayed");
    dirty_free(&d);
}

/* ---- The rules of the search, one shape each ---- */

static vhdx_status open_shape(int shape, struct dirty_image *d)
{
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    vhdx_status st;
    build(shape, d);
    o = opts();
    assert_status(vhdx_io_from_memory(d->img.data, d->img.len, &io), VHDX_OK);
    st = vhdx_open(&io, &o, &img);
    vhdx_close(img);
    return st;
}

static void test_no_valid_sequence(void **state)
{
    struct dirty_image d;
    (void)state;
    assert_status(open_shape(12, &d), VHDX_E_CORRUPT); /* its only entry is torn */
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log.sequence.none");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log.entry.invalid");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CHECKSUM, "log_entry.checksum");
    assert_int_equal(ts.sink.errors, 1);
    dirty_free(&d);
}

static void test_tail_outside_sequence(void **state)
{
    struct dirty_image d;
    (void)state;
    assert_status(open_shape(13, &d), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT, "log.sequence.tail");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log.sequence.none");
    assert_int_equal(ts.sink.total, 2);
    dirty_free(&d);
}

/*
 * docs/REPLAY.md, Bounds: a zero descriptor of 4 MiB at 64 GiB in a 20 MiB
 * file whose entry says LastFileOffset = the file's size. The read-only open
 * refuses it, the judge calls it an error (not a limit), and an in-place
 * replay refuses before writing a byte: the file neither grows nor changes.
 */
static void test_descriptor_past_end_refused(void **state)
{
    struct dirty_image d;
    struct memfile m;
    vhdx_check_result r;
    vhdx_replay_result rr;
    vhdx_open_options o;
    vhdx_io io;
    uint8_t *after;
    size_t len;
    (void)state;
    assert_status(open_shape(24, &d), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log.descriptor.past_end");
    assert_int_equal(ts.records[0].offset, d.img.log_offset + 64 + 32);
    assert_string_equal(ts.records[0].message,
                        "descriptor 1 of log entry 1 zeroes [0x1000000000, 0x1000400000), past "
                        "the file's end (0x600000) and the LastFileOffset its entry may reach "
                        "(0x600000): the log cannot be replayed");

    test_sink_init(&ts);
    o = opts();
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(vhdx_check(&io, &o, &r), VHDX_OK);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.first_error, VHDX_E_RANGE);

    test_sink_init(&ts);
    mf_open(&m, d.img.data, d.img.len);
    assert_status(vhdx_replay(&m.io, &o, 0, NULL, NULL, &rr), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log.descriptor.past_end");
    after = io_bytes(&m.io, &len);
    assert_int_equal(len, d.img.len);
    assert_memory_equal(after, d.img.data, len);
    assert_int_equal(io_overlay_pages(&m.io), 0);
    free(after);
    mf_free(&m);
    dirty_free(&d);
}

/* Ten targets past the end: eight are listed, then one line counts the rest. */
static void test_descriptor_past_end_more_counted(void **state)
{
    static const uint8_t d4[8] = {0x10, 0x6C, 0, 0, 0, 0, 0, 10};
    struct guid g = guid_make(0x106C000Au, 1, 2, d4);
    struct log_descriptor descs[10];
    struct ib_image img;
    uint64_t target;
    vhdx_open_options o;
    vhdx_image *h = NULL;
    vhdx_io io;
    (void)state;
    build_logged(&img, &g, &target);
    memset(descs, 0, sizeof(descs));
    for (uint64_t i = 0; i < 10; i++) {
        descs[i].kind = LOG_DESCRIPTOR_ZERO;
        descs[i].file_offset = img.len + (uint64_t)i * MiB;
        descs[i].zero_length = 4096;
    }
    assert_int_equal(ib_add_log_entry(&img, 3, 0, descs, 10, NULL, NULL), 0);
    o = opts();
    assert_status(vhdx_io_from_memory(img.data, img.len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, &o, &h), VHDX_E_RANGE);
    assert_int_equal(ts.sink.errors, 8);
    assert_int_equal(ts.sink.infos, 1);
    assert_int_equal(ts.sink.total, 9);
    assert_string_equal(ts.records[8].rule, "log.descriptor.past_end_more");
    assert_string_equal(ts.records[8].message,
                        "2 more descriptors reaching past the file's end are not listed");
    ib_free(&img);
}

/* Reads the image, but the log's first sector changes after it was read twice. */
struct changing_file {
    const struct ib_image *img;
    unsigned reads_of_entry;
};

static vhdx_status changing_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct changing_file *c = ctx;
    const struct ib_image *img = c->img;
    serve(img, buf, len, off, got);
    if (off <= img->log_offset && off + *got > img->log_offset + 64 &&
        ++c->reads_of_entry > 2)
        memcpy((uint8_t *)buf + (img->log_offset - off) + 64, "XXXX", 4); /* descriptor 0 */
    return VHDX_OK;
}

static vhdx_status changing_size(void *ctx, uint64_t *size)
{
    *size = ((const struct changing_file *)ctx)->img->len;
    return VHDX_OK;
}

/*
 * The search reads the entry twice (scan, check); walking its descriptors
 * afterwards reads it again and finds another descriptor: log.changed, an
 * I/O failure (the file changed under the reader), not a verdict.
 */
static void test_log_changed_while_read(void **state)
{
    struct dirty_image d;
    struct changing_file c;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_check_result r;
    vhdx_io io;
    (void)state;
    build(0, &d);
    memset(&io, 0, sizeof(io));
    c.img = &d.img;
    c.reads_of_entry = 0;
    io.ctx = &c;
    io.read = changing_read;
    io.size = changing_size;
    o = opts();
    assert_status(vhdx_open(&io, &o, &img), VHDX_E_IO);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_IO, "log.changed");
    assert_int_equal(ts.records[0].offset, d.img.log_offset + 64);
    test_sink_init(&ts);
    c.reads_of_entry = 0;
    assert_status(vhdx_check(&io, &o, &r), VHDX_E_IO);
    dirty_free(&d);
}

/* A memory file that counts the bytes read inside [from, to). */
struct counted_file {
    const struct ib_image *img;
    uint64_t from, to;
    uint64_t bytes;
};

static vhdx_status counted_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct counted_file *c = ctx;
    serve(c->img, buf, len, off, got);
    if (off < c->to && off + *got > c->from) {
        uint64_t a = off > c->from ? off : c->from;
        uint64_t b = off + *got < c->to ? off + *got : c->to;
        c->bytes += b - a;
    }
    return VHDX_OK;
}

static vhdx_status counted_size(void *ctx, uint64_t *size)
{
    *size = ((const struct counted_file *)ctx)->img->len;
    return VHDX_OK;
}

/*
 * The hostile log: every one of its 4096 sectors (16 MiB) is an entry
 * header with the log's GUID claiming 254 zero descriptors, so each one's
 * check reads a second sector, which is the next entry's header. The search
 * reads the log about twice (the scan, the checks through their own
 * window), plus one window for each of the 8 entries reported broken:
 * linear, never a sector per entry per sector.
 */
static void test_hostile_loge_log_is_linear(void **state)
{
    static const uint8_t d4[8] = {0x10, 0x6C, 0, 0, 0, 0, 0, 11};
    struct guid g = guid_make(0x106C000Bu, 1, 2, d4);
    struct ib_params p;
    struct ib_image img;
    struct counted_file c;
    vhdx_open_options o;
    vhdx_image *h = NULL;
    vhdx_io io;
    uint8_t *log;
    (void)state;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8 * MiB;
    p.block_size = (uint32_t)MiB;
    p.log_length = 16 * (uint32_t)MiB;
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_set_log_guid(&img, &g), 0);
    log = img.data + img.log_offset;
    for (uint32_t off = 0; off < img.log_length; off += 4096) {
        struct log_entry_header eh;
        memset(&eh, 0, sizeof(eh));
        eh.entry_length = 2 * 4096;
        eh.sequence_number = 1 + off / 4096;
        eh.tail = off;
        eh.descriptor_count = 254;
        eh.log_guid = g;
        assert_status(log_entry_header_encode(&eh, log + off, 4096), VHDX_OK);
        for (uint32_t i = 0; i < 126; i++) {
            struct log_descriptor z;
            memset(&z, 0, sizeof(z));
            z.kind = LOG_DESCRIPTOR_ZERO;
            z.file_offset = img.len - 4096;
            z.zero_length = 4096;
            z.sequence_number = eh.sequence_number;
            assert_status(log_descriptor_encode(&z, log + off + 64 + 32 * i, 32), VHDX_OK);
        }
    }
    memset(&c, 0, sizeof(c));
    c.img = &img;
    c.from = img.log_offset;
    c.to = img.log_offset + img.log_length;
    memset(&io, 0, sizeof(io));
    io.ctx = &c;
    io.read = counted_read;
    io.size = counted_size;
    o = opts();
    assert_status(vhdx_open(&io, &o, &h), VHDX_E_CORRUPT);
    assert_int_equal(ts.sink.errors, 1);
    assert_int_equal(ts.sink.infos, 1); /* log.entry.invalid_more: 4088 more */
    print_message("the search read %llu bytes of a %u-byte log\n", (unsigned long long)c.bytes,
                  img.log_length);
    assert_true(c.bytes <= 2ull * img.log_length + 8ull * 256 * 1024);
    ib_free(&img);
}

static void test_flushed_offset_beyond_file_is_truncation(void **state)
{
    struct dirty_image d;
    (void)state;
    assert_status(open_shape(14, &d), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "log.truncated");
    dirty_free(&d);
}

/* An entry of another log (another LogGuid) is ignored without a word. */
static void test_foreign_entry_ignored_silently(void **state)
{
    struct dirty_image d;
    (void)state;
    assert_status(open_shape(21, &d), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log.sequence.none");
    dirty_free(&d);
}

/* log_plan_load itself refuses a log length that cannot hold a log. */
static void test_plan_rejects_unusable_log_length(void **state)
{
    struct dirty_image d;
    struct alloc_acct acct;
    struct log_plan plan;
    struct header h;
    vhdx_io io;
    (void)state;
    build(0, &d);
    decode_header(d.img.data, 2, &h);
    h.log_length = 0;
    alloc_acct_init(&acct, NULL, 0);
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(d.img.data, d.img.len, &io), VHDX_OK);
    assert_status(log_plan_load(&io, &h, d.img.len, 0xFFF00000u, &acct, &ts.sink, &plan),
                  VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log.length");
    vhdx_io_close(&io);
    assert_int_equal(acct.in_use, 0);
    dirty_free(&d);
}

/* A file that ends inside the log: log.region.past_eof. */
static void test_plan_log_past_end_of_file(void **state)
{
    struct dirty_image d;
    struct alloc_acct acct;
    struct log_plan plan;
    struct header h;
    vhdx_io io;
    (void)state;
    build(0, &d);
    decode_header(d.img.data, 2, &h);
    alloc_acct_init(&acct, NULL, 0);
    test_sink_init(&ts);
    assert_status(vhdx_io_from_memory(d.img.data, (size_t)(h.log_offset + 4096), &io), VHDX_OK);
    assert_status(log_plan_load(&io, &h, h.log_offset + 4096, 0xFFF00000u, &acct, &ts.sink,
                                &plan),
                  VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "log.region.past_eof");
    vhdx_io_close(&io);
    assert_int_equal(acct.in_use, 0);
    dirty_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_only_open_replays_in_memory),
        cmocka_unit_test(test_replay_in_place),
        cmocka_unit_test(test_writable_open_replays_in_place),
        cmocka_unit_test(test_replay_twice_same_as_once),
        cmocka_unit_test(test_apply_twice_same_as_once),
        cmocka_unit_test(test_crash_during_replay),
        cmocka_unit_test(test_fault_torn_write),
        cmocka_unit_test(test_dry_run_lists_and_writes_nothing),
        cmocka_unit_test(test_multi_entry_listing_order),
        cmocka_unit_test(test_higher_head_later_in_the_log_wins),
        cmocka_unit_test(test_equal_heads_lower_offset_wins_across_the_wrap),
        cmocka_unit_test(test_log_longer_than_limit),
        cmocka_unit_test(test_log_memory_limit),
        cmocka_unit_test(test_overlay_memory_limit),
        cmocka_unit_test(test_many_descriptors_view_is_compact),
        cmocka_unit_test(test_log_read_failure),
        cmocka_unit_test(test_many_torn_entries_summarised),
        cmocka_unit_test(test_header_sequence_overflow),
        cmocka_unit_test(test_apply_write_failure),
        cmocka_unit_test(test_header_update_failure),
        cmocka_unit_test(test_replay_needs_writable_io),
        cmocka_unit_test(test_replay_refuses_incomplete_io),
        cmocka_unit_test(test_check_judges_replayed_view),
        cmocka_unit_test(test_no_valid_sequence),
        cmocka_unit_test(test_tail_outside_sequence),
        cmocka_unit_test(test_flushed_offset_beyond_file_is_truncation),
        cmocka_unit_test(test_hostile_loge_log_is_linear),
        cmocka_unit_test(test_descriptor_past_end_refused),
        cmocka_unit_test(test_descriptor_past_end_more_counted),
        cmocka_unit_test(test_log_changed_while_read),
        cmocka_unit_test(test_foreign_entry_ignored_silently),
        cmocka_unit_test(test_plan_rejects_unusable_log_length),
        cmocka_unit_test(test_plan_log_past_end_of_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
