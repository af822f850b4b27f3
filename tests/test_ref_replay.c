/*
 * The reference log replayer (src/refreplay, docs/REPLAY.md): images built in
 * memory with tests/image_builder.c, replayed into an overlay over them, and
 * the overlay read back byte for byte.
 */
#include "test_util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "image_builder.h"
#include "io/overlay.h"
#include "refreplay/outcome.h"
#include "refreplay/ref_replay.h"

#define SEC 4096u
#define MIB VHDX_MiB
#define KIB VHDX_KiB

/* With the default builder layout (64 MiB dynamic disk, 1 MiB log at 1 MiB,
 * BAT at 2 MiB, metadata at 3 MiB), the file is 4 MiB and these targets lie
 * outside the log. */
#define FILE_LEN (4 * MIB)
#define T1 (2 * MIB + 64 * KIB)
#define T2 (2 * MIB + 128 * KIB)
#define T3 (2 * MIB + 192 * KIB)

struct fx {
    struct ib_image img;
    struct guid guid;
    vhdx_io base, ov;
    struct alloc_acct acct;
    bool open;
};

static void fx_build(struct fx *f)
{
    static const uint8_t d4[8] = {0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80};
    struct ib_params p;

    memset(f, 0, sizeof(*f));
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 64 * MIB;
    assert_int_equal(ib_build(&p, &f->img), 0);
    assert_int_equal(f->img.len, FILE_LEN);
    assert_int_equal(f->img.log_offset, MIB);
    assert_int_equal(f->img.log_length, MIB);
    f->guid = guid_make(0xA1B2C3D4u, 0x1111, 0x2222, d4);
    assert_int_equal(ib_set_log_guid(&f->img, &f->guid), 0);
}

/* The overlay over the image as it is now: the writable view replay writes to. */
static void fx_open(struct fx *f)
{
    assert_status(vhdx_io_from_memory(f->img.data, f->img.len, &f->base), VHDX_OK);
    alloc_acct_init(&f->acct, NULL, 0);
    assert_status(io_overlay_create(&f->base, &f->acct, 0, &f->ov), VHDX_OK);
    f->open = true;
}

static void fx_free(struct fx *f)
{
    if (f->open) {
        vhdx_io_close(&f->ov);
        vhdx_io_close(&f->base);
    }
    ib_free(&f->img);
}

static enum ref_status fx_replay_slot(struct fx *f, int slot, int dry_run, struct ref_result *r)
{
    if (!f->open)
        fx_open(f);
    return ref_replay(&f->ov, f->guid.b, f->img.log_offset, f->img.log_length, slot, dry_run, r);
}

static enum ref_status fx_replay(struct fx *f, struct ref_result *r)
{
    return fx_replay_slot(f, 2, 0, r);
}

static void ov_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
    size_t got = 0;
    assert_status(f->ov.read(f->ov.ctx, buf, len, off, &got), VHDX_OK);
    assert_int_equal(got, len);
}

static uint64_t ov_size(struct fx *f)
{
    uint64_t size = 0;
    assert_status(f->ov.size(f->ov.ctx, &size), VHDX_OK);
    return size;
}

static void assert_ov_bytes(struct fx *f, uint64_t off, const uint8_t *want, size_t len)
{
    uint8_t *got = malloc(len);
    assert_non_null(got);
    ov_read(f, off, got, len);
    assert_memory_equal(got, want, len);
    free(got);
}

static void assert_ov_filled(struct fx *f, uint64_t off, uint8_t value, size_t len)
{
    uint8_t *want = malloc(len);
    assert_non_null(want);
    memset(want, value, len);
    assert_ov_bytes(f, off, want, len);
    free(want);
}

/* ---- Building entries ---- */

static struct log_descriptor data_desc(uint64_t target)
{
    struct log_descriptor d;
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_DATA;
    d.file_offset = target;
    return d;
}

static struct log_descriptor zero_desc(uint64_t target, uint64_t length)
{
    struct log_descriptor d;
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_ZERO;
    d.file_offset = target;
    d.zero_length = length;
    return d;
}

/* A 4 KiB payload of distinct bytes, none of its ends zero. */
static void make_payload(uint8_t *p, unsigned seed)
{
    for (size_t i = 0; i < SEC; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* Sector k of the entry at log offset off, in the image (ring order). */
static uint8_t *entry_sector(struct fx *f, uint32_t off, uint32_t k)
{
    uint64_t pos = ((uint64_t)off + (uint64_t)k * SEC) % f->img.log_length;
    return f->img.data + f->img.log_offset + pos;
}

/* Recomputes the CRC of the entry at off after a test edited its bytes (own code, §9). */
static void restamp_entry(struct fx *f, uint32_t off)
{
    uint8_t *s0 = entry_sector(f, off, 0);
    uint32_t len = le32_load_no_bounds_check(s0 + 8);
    uint32_t crc = 0;
    uint8_t first[SEC];

    assert_true(len > 0 && len % SEC == 0 && len < f->img.log_length);
    memcpy(first, s0, SEC);
    memset(first + 4, 0, 4);
    crc = crc32c(crc, first, SEC);
    for (uint32_t k = 1; k < len / SEC; k++)
        crc = crc32c(crc, entry_sector(f, off, k), SEC);
    le32_store_no_bounds_check(s0 + 4, crc);
}

static uint32_t add_entry(struct fx *f, uint64_t seq, uint32_t tail,
                          const struct log_descriptor *descs, size_t n,
                          const uint8_t *const *payloads)
{
    uint32_t off = 0;
    assert_int_equal(ib_add_log_entry(&f->img, seq, tail, descs, n, payloads, &off), 0);
    return off;
}

/* An entry whose Tail is its own offset (the next entry starts at log_head). */
static uint32_t add_lone_entry(struct fx *f, uint64_t seq, const struct log_descriptor *descs,
                               size_t n, const uint8_t *const *payloads)
{
    return add_entry(f, seq, f->img.log_head, descs, n, payloads);
}

/* ---- One entry with a data descriptor and a zero descriptor ---- */

static void test_one_entry_data_descriptor_writes_payload(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    const uint8_t *pl[1] = {payload};
    struct log_descriptor d = data_desc(T1);
    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(payload, 1);
    off = add_lone_entry(&f, 5, &d, 1, pl);
    assert_int_equal(off, 0);
    /* The log's data sector itself carries 'data' and the sequence in its ends. */
    assert_memory_equal(entry_sector(&f, off, 1), "data", 4);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, payload, SEC);
    assert_int_equal(r.head_sequence, 5);
    assert_int_equal(r.head_offset, 0);
    assert_int_equal(r.tail_offset, 0);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.descriptors, 1);
    assert_int_equal(r.final_size, FILE_LEN);
    assert_int_equal(ov_size(&f), FILE_LEN);
    fx_free(&f);
}

static void test_data_descriptor_leading_and_trailing_come_from_descriptor(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC], want[SEC];
    const uint8_t *pl[1] = {payload};
    struct log_descriptor d = data_desc(T1);
    uint8_t *desc;
    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(payload, 2);
    off = add_lone_entry(&f, 5, &d, 1, pl);
    /* LeadingBytes (descriptor byte 8) and TrailingBytes (byte 4) given new values. */
    desc = entry_sector(&f, off, 0) + 64;
    le64_store_no_bounds_check(desc + 8, 0x1122334455667788ull);
    le32_store_no_bounds_check(desc + 4, 0xAABBCCDDu);
    restamp_entry(&f, off);
    memcpy(want, payload, SEC);
    le64_store_no_bounds_check(want, 0x1122334455667788ull);
    le32_store_no_bounds_check(want + 4092, 0xAABBCCDDu);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, want, SEC);
    fx_free(&f);
}

static void test_zero_descriptor_writes_zeros_in_range_only(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, 2 * SEC);
    (void)state;

    fx_build(&f);
    memset(f.img.data + T1 - SEC, 0xAB, 4 * SEC);
    add_lone_entry(&f, 9, &d, 1, NULL);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_filled(&f, T1 - SEC, 0xAB, SEC);
    assert_ov_filled(&f, T1, 0, 2 * SEC);
    assert_ov_filled(&f, T1 + 2 * SEC, 0xAB, SEC);
    assert_int_equal(r.descriptors, 1);
    assert_int_equal(r.final_size, FILE_LEN);
    fx_free(&f);
}

static void test_zero_descriptor_longer_than_one_mib(void **state)
{
    struct fx f;
    struct ref_result r;
    /* 1 MiB + 8 KiB from 2 MiB + 4 KiB: more than one 1 MiB chunk. */
    struct log_descriptor d = zero_desc(2 * MIB + SEC, MIB + 2 * SEC);
    (void)state;

    fx_build(&f);
    memset(f.img.data + 2 * MIB, 0xAB, 2 * MIB);
    add_lone_entry(&f, 9, &d, 1, NULL);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_filled(&f, 2 * MIB, 0xAB, SEC);
    assert_ov_filled(&f, 2 * MIB + SEC, 0, MIB + 2 * SEC);
    assert_ov_filled(&f, 3 * MIB + 3 * SEC, 0xAB, MIB - 3 * SEC);
    fx_free(&f);
}

static void test_zero_length_zero_descriptor_writes_nothing(void **state)
{
    struct fx f;
    struct ref_result r;
    /* Past the end of the file: a write of 0 bytes would not extend it. */
    struct log_descriptor d = zero_desc(FILE_LEN + MIB, 0);
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, 9, &d, 1, NULL);
    assert_int_equal(fx_replay_slot(&f, 0, 0, &r), REF_OK);
    assert_int_equal(r.descriptors, 1);
    assert_int_equal(r.final_size, FILE_LEN);
    assert_int_equal(ov_size(&f), FILE_LEN);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_entry_without_descriptors_is_a_valid_sequence(void **state)
{
    struct fx f;
    struct ref_result r;
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, 1, NULL, 0, NULL);
    assert_int_equal(fx_replay_slot(&f, 0, 0, &r), REF_OK);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.descriptors, 0);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_data_write_past_end_extends_file_with_zero_gap(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    const uint8_t *pl[1] = {payload};
    struct log_descriptor d = data_desc(FILE_LEN + MIB);
    (void)state;

    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(payload, 3);
    off = add_lone_entry(&f, 5, &d, 1, pl);
    /* The target lies past the file's end but inside what the entry may reach. */
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, FILE_LEN + MIB + SEC);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay_slot(&f, 0, 0, &r), REF_OK);
    assert_int_equal(r.final_size, FILE_LEN + MIB + SEC);
    assert_int_equal(ov_size(&f), FILE_LEN + MIB + SEC);
    assert_ov_filled(&f, FILE_LEN, 0, MIB);
    assert_ov_bytes(&f, FILE_LEN + MIB, payload, SEC);
    fx_free(&f);
}

/* ---- Sequences ---- */

static void test_multi_entry_sequence_applies_in_order(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC], p3[SEC], p4[SEC];
    const uint8_t *pl1[2] = {p1, p2}, *pl2[1] = {p3}, *pl3[1] = {p4};
    struct log_descriptor e1[2] = {data_desc(T1), data_desc(T2)};
    struct log_descriptor e2[2] = {data_desc(T1), zero_desc(T2, SEC)};
    struct log_descriptor e3[1] = {data_desc(T3)};
    uint32_t o1, o2, o3;
    (void)state;

    fx_build(&f);
    make_payload(p1, 11);
    make_payload(p2, 12);
    make_payload(p3, 13);
    make_payload(p4, 14);
    o1 = add_entry(&f, 100, 0, e1, 2, pl1);
    o2 = add_entry(&f, 101, 0, e2, 2, pl2);
    o3 = add_entry(&f, 102, 0, e3, 1, pl3);
    assert_int_equal(o1, 0);
    assert_int_equal(o2, 3 * SEC);
    assert_int_equal(o3, 5 * SEC);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    /* The later entry wins on T1; T2 was written then zeroed. */
    assert_ov_bytes(&f, T1, p3, SEC);
    assert_ov_filled(&f, T2, 0, SEC);
    assert_ov_bytes(&f, T3, p4, SEC);
    assert_int_equal(r.head_sequence, 102);
    assert_int_equal(r.head_offset, o3);
    assert_int_equal(r.tail_offset, 0);
    assert_int_equal(r.entries, 3);
    assert_int_equal(r.descriptors, 5);
    fx_free(&f);
}

static void test_sequence_wrapping_around_end_of_log(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC], p3[SEC];
    const uint8_t *pl1[2] = {p1, p2}, *pl2[1] = {p3};
    struct log_descriptor e1[2] = {data_desc(T1), data_desc(T2)};
    struct log_descriptor e2[1] = {data_desc(T3)};
    uint32_t o1, o2, start = MIB - SEC;
    (void)state;

    fx_build(&f);
    make_payload(p1, 21);
    make_payload(p2, 22);
    make_payload(p3, 23);
    f.img.log_head = start;
    /* Entry 1: descriptor sector in the last sector of the log, data sectors at 0 and 4096. */
    o1 = add_entry(&f, 7, start, e1, 2, pl1);
    o2 = add_entry(&f, 8, start, e2, 1, pl2);
    assert_int_equal(o1, start);
    assert_int_equal(o2, 2 * SEC);
    assert_memory_equal(entry_sector(&f, o1, 1), "data", 4);
    assert_ptr_equal(entry_sector(&f, o1, 1), f.img.data + f.img.log_offset);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, p1, SEC);
    assert_ov_bytes(&f, T2, p2, SEC);
    assert_ov_bytes(&f, T3, p3, SEC);
    assert_int_equal(r.head_sequence, 8);
    assert_int_equal(r.head_offset, 2 * SEC);
    assert_int_equal(r.tail_offset, start);
    assert_int_equal(r.entries, 2);
    assert_int_equal(r.descriptors, 3);
    fx_free(&f);
}

static void test_stale_entry_before_tail_not_applied(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC];
    const uint8_t *pl1[1] = {p1}, *pl2[1] = {p2};
    struct log_descriptor e1 = data_desc(T1), e2 = data_desc(T2);
    uint32_t o2;
    (void)state;

    fx_build(&f);
    make_payload(p1, 31);
    make_payload(p2, 32);
    add_entry(&f, 1, 0, &e1, 1, pl1);
    o2 = add_lone_entry(&f, 2, &e2, 1, pl2); /* Tail = itself: entry 1 was applied */
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_filled(&f, T1, 0, SEC);
    assert_ov_bytes(&f, T2, p2, SEC);
    assert_int_equal(r.head_offset, o2);
    assert_int_equal(r.tail_offset, o2);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.descriptors, 1);
    fx_free(&f);
}

static void test_tail_in_middle_of_chain_applies_from_tail(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC], p3[SEC];
    const uint8_t *pl1[1] = {p1}, *pl2[1] = {p2}, *pl3[1] = {p3};
    struct log_descriptor e1 = data_desc(T1), e2 = data_desc(T2), e3 = data_desc(T3);
    uint32_t o2;
    (void)state;

    fx_build(&f);
    make_payload(p1, 41);
    make_payload(p2, 42);
    make_payload(p3, 43);
    add_entry(&f, 1, 0, &e1, 1, pl1);
    o2 = add_entry(&f, 2, 0, &e2, 1, pl2);
    add_entry(&f, 3, o2, &e3, 1, pl3);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_filled(&f, T1, 0, SEC);
    assert_ov_bytes(&f, T2, p2, SEC);
    assert_ov_bytes(&f, T3, p3, SEC);
    assert_int_equal(r.tail_offset, o2);
    assert_int_equal(r.entries, 2);
    fx_free(&f);
}

static void test_torn_entry_after_sequence_ignored(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC], p3[SEC];
    const uint8_t *pl1[1] = {p1}, *pl2[1] = {p2}, *pl3[1] = {p3};
    struct log_descriptor e1 = data_desc(T1), e2 = data_desc(T2), e3 = data_desc(T3);
    uint32_t o2, o3;
    (void)state;

    fx_build(&f);
    make_payload(p1, 51);
    make_payload(p2, 52);
    make_payload(p3, 53);
    add_entry(&f, 1, 0, &e1, 1, pl1);
    o2 = add_entry(&f, 2, 0, &e2, 1, pl2);
    o3 = add_entry(&f, 3, 0, &e3, 1, pl3);
    entry_sector(&f, o3, 0)[4] ^= 0x01; /* its checksum */
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, p1, SEC);
    assert_ov_bytes(&f, T2, p2, SEC);
    assert_ov_filled(&f, T3, 0, SEC);
    assert_int_equal(r.head_sequence, 2);
    assert_int_equal(r.head_offset, o2);
    assert_int_equal(r.entries, 2);
    fx_free(&f);
}

static void test_sequence_gap_breaks_chain(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p3[SEC];
    const uint8_t *pl1[1] = {p1}, *pl3[1] = {p3};
    struct log_descriptor e1 = data_desc(T1), e3 = data_desc(T3);
    (void)state;

    fx_build(&f);
    make_payload(p1, 56);
    make_payload(p3, 57);
    /* 3 follows 1 in the log but is not its successor; 3's Tail (0) is outside [3]. */
    add_entry(&f, 1, 0, &e1, 1, pl1);
    add_entry(&f, 3, 0, &e3, 1, pl3);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_sequence, 1);
    assert_int_equal(r.entries, 1);
    assert_ov_bytes(&f, T1, p1, SEC);
    assert_ov_filled(&f, T3, 0, SEC);
    fx_free(&f);
}

static void test_sequence_filling_whole_log(void **state)
{
    struct fx f;
    struct ref_result r;
    (void)state;

    /* 256 one-sector entries: their lengths add up to exactly L, which the guard allows. */
    fx_build(&f);
    for (uint64_t seq = 1; seq <= 256; seq++)
        add_entry(&f, seq, 0, NULL, 0, NULL);
    assert_int_equal(f.img.log_head, 0);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_sequence, 256);
    assert_int_equal(r.head_offset, MIB - SEC);
    assert_int_equal(r.tail_offset, 0);
    assert_int_equal(r.entries, 256);
    fx_free(&f);
}

static void test_two_sequences_higher_head_wins(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t pa[SEC], pb[SEC], pc[SEC];
    const uint8_t *pla[1] = {pa}, *plb[1] = {pb}, *plc[1] = {pc};
    struct log_descriptor da = data_desc(T1), db = data_desc(T2), dc = data_desc(T3);
    uint32_t oc;
    (void)state;

    fx_build(&f);
    make_payload(pa, 61);
    make_payload(pb, 62);
    make_payload(pc, 63);
    /* Sequence A (10, 11) at 0; a gap; sequence B (20) further on. */
    add_entry(&f, 10, 0, &da, 1, pla);
    add_entry(&f, 11, 0, &db, 1, plb);
    f.img.log_head += 4 * SEC;
    oc = add_lone_entry(&f, 20, &dc, 1, plc);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_filled(&f, T1, 0, SEC);
    assert_ov_filled(&f, T2, 0, SEC);
    assert_ov_bytes(&f, T3, pc, SEC);
    assert_int_equal(r.head_sequence, 20);
    assert_int_equal(r.head_offset, oc);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

static void test_two_sequences_higher_head_wins_at_lower_offset(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t pa[SEC], pb[SEC], pc[SEC];
    const uint8_t *pla[1] = {pa}, *plb[1] = {pb}, *plc[1] = {pc};
    struct log_descriptor da = data_desc(T1), db = data_desc(T2), dc = data_desc(T3);
    uint32_t oa;
    (void)state;

    fx_build(&f);
    make_payload(pa, 64);
    make_payload(pb, 65);
    make_payload(pc, 66);
    add_lone_entry(&f, 30, &dc, 1, plc);
    f.img.log_head += 4 * SEC;
    oa = add_entry(&f, 10, f.img.log_head, &da, 1, pla);
    add_entry(&f, 11, oa, &db, 1, plb);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T3, pc, SEC);
    assert_ov_filled(&f, T1, 0, SEC);
    assert_ov_filled(&f, T2, 0, SEC);
    assert_int_equal(r.head_sequence, 30);
    assert_int_equal(r.head_offset, 0);
    fx_free(&f);
}

static void test_equal_head_sequence_lower_offset_wins(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t plo[SEC], phi[SEC];
    const uint8_t *pl_lo[1] = {plo}, *pl_hi[1] = {phi};
    struct log_descriptor d = data_desc(T1);
    (void)state;

    fx_build(&f);
    make_payload(plo, 71);
    make_payload(phi, 72);
    /* Written first at the higher offset, then at offset 0: the offset decides. */
    f.img.log_head = 64 * SEC;
    add_lone_entry(&f, 7, &d, 1, pl_hi);
    f.img.log_head = 0;
    add_lone_entry(&f, 7, &d, 1, pl_lo);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, plo, SEC);
    assert_int_equal(r.head_sequence, 7);
    assert_int_equal(r.head_offset, 0);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

/*
 * Equal head sequence numbers, the lower head found later: a sequence that
 * wraps round the log's end (10 at the end, its head 11 at offset 0) beats
 * a lone 11 at 256 KiB, although the scan meets the lone one first.
 */
static void test_equal_heads_lower_offset_wins_across_the_wrap(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t pa[SEC], pb[SEC], pc[SEC];
    const uint8_t *pl_a[1] = {pa}, *pl_b[1] = {pb}, *pl_c[1] = {pc};
    struct log_descriptor d = data_desc(T1);
    const uint32_t last = (uint32_t)MIB - 2 * SEC; /* one data descriptor: two sectors */
    (void)state;

    fx_build(&f);
    make_payload(pa, 81);
    make_payload(pb, 82);
    make_payload(pc, 83);
    f.img.log_head = last;
    assert_int_equal(add_entry(&f, 10, last, &d, 1, pl_a), last);
    assert_int_equal(add_entry(&f, 11, last, &d, 1, pl_b), 0);
    f.img.log_head = 64 * SEC;
    add_lone_entry(&f, 11, &d, 1, pl_c);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, pb, SEC);
    assert_int_equal(r.head_sequence, 11);
    assert_int_equal(r.head_offset, 0);
    assert_int_equal(r.tail_offset, last);
    assert_int_equal(r.entries, 2);
    fx_free(&f);
}

static void test_tail_outside_chain_is_no_sequence(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    (void)state;

    fx_build(&f);
    add_entry(&f, 5, 10 * SEC, &d, 1, NULL);
    assert_int_equal(fx_replay(&f, &r), REF_NO_SEQUENCE);
    assert_int_equal(r.entries, 0);
    assert_int_equal(r.head_sequence, 0);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_tail_at_valid_entry_outside_chain_makes_chain_invalid(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p1[SEC], p2[SEC];
    const uint8_t *pl1[1] = {p1}, *pl2[1] = {p2};
    struct log_descriptor e1 = data_desc(T1), e2 = data_desc(T2);
    (void)state;

    fx_build(&f);
    make_payload(p1, 81);
    make_payload(p2, 82);
    add_lone_entry(&f, 1, &e1, 1, pl1);
    /* Sequence 9 is not 1's successor; its Tail names entry 1, outside its own chain. */
    f.img.log_head = 16 * SEC;
    add_entry(&f, 9, 0, &e2, 1, pl2);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_sequence, 1);
    assert_int_equal(r.head_offset, 0);
    assert_ov_bytes(&f, T1, p1, SEC);
    assert_ov_filled(&f, T2, 0, SEC);
    fx_free(&f);
}

static void test_no_valid_entry_is_no_sequence(void **state)
{
    struct fx f;
    struct ref_result r;
    (void)state;

    fx_build(&f);
    assert_int_equal(fx_replay(&f, &r), REF_NO_SEQUENCE);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_highest_sequence_number_has_no_successor(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, UINT64_MAX, &d, 1, NULL);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_sequence, UINT64_MAX);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

/* ---- File size ---- */

static void test_last_file_offset_beyond_file_extends_it(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t off;
    (void)state;

    fx_build(&f);
    off = add_lone_entry(&f, 5, &d, 1, NULL);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, FILE_LEN + 3 * MIB);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.final_size, FILE_LEN + 3 * MIB);
    assert_int_equal(ov_size(&f), FILE_LEN + 3 * MIB);
    assert_ov_filled(&f, FILE_LEN, 0, 3 * MIB);
    fx_free(&f);
}

static void test_last_file_offset_below_file_does_not_shrink(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t off;
    (void)state;

    fx_build(&f);
    off = add_lone_entry(&f, 5, &d, 1, NULL);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, MIB);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.final_size, FILE_LEN);
    assert_int_equal(ov_size(&f), FILE_LEN);
    fx_free(&f);
}

static void test_flushed_file_offset_beyond_file_is_truncated(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t off;
    (void)state;

    fx_build(&f);
    off = add_lone_entry(&f, 5, &d, 1, NULL);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 48, FILE_LEN + SEC);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_TRUNCATED);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    /* The sequence was found; the file is left as it was. */
    assert_int_equal(r.head_sequence, 5);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.final_size, 0);
    fx_free(&f);
}

static void test_flushed_file_offset_equal_to_file_size_is_accepted(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t off;
    (void)state;

    fx_build(&f);
    off = add_lone_entry(&f, 5, &d, 1, NULL);
    assert_int_equal(le64_load_no_bounds_check(entry_sector(&f, off, 0) + 48), FILE_LEN);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    fx_free(&f);
}

static void test_flushed_file_offset_checked_on_head_only(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t o1;
    (void)state;

    fx_build(&f);
    o1 = add_entry(&f, 5, 0, &d, 1, NULL);
    add_entry(&f, 6, 0, &d, 1, NULL);
    le64_store_no_bounds_check(entry_sector(&f, o1, 0) + 48, FILE_LEN + MIB);
    restamp_entry(&f, o1);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.entries, 2);
    fx_free(&f);
}

static void test_log_past_end_of_file_is_truncated(void **state)
{
    struct fx f;
    struct ref_result r;
    (void)state;

    fx_build(&f);
    fx_open(&f);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, FILE_LEN - MIB + SEC, MIB, 2, 0, &r),
                     REF_TRUNCATED);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, FILE_LEN - MIB, MIB, 0, 1, &r), REF_NO_SEQUENCE);
    fx_free(&f);
}

/* ---- Rules 2-11: one broken rule makes the only entry invalid ---- */

/* seq 0x100000005 (SequenceHigh 1): a data descriptor to T1, a zero descriptor to T2. */
#define RULE_SEQ 0x100000005ull

static uint32_t rule_entry(struct fx *f, uint8_t payload[SEC])
{
    const uint8_t *pl[1] = {payload};
    struct log_descriptor d[2] = {data_desc(T1), zero_desc(T2, 2 * SEC)};
    make_payload(payload, 90);
    fx_build(f);
    return add_lone_entry(f, RULE_SEQ, d, 2, pl);
}

static uint8_t *desc_bytes(struct fx *f, uint32_t off, unsigned i)
{
    return entry_sector(f, off, 0) + 64 + 32 * i;
}

static void expect_ignored(struct fx *f)
{
    struct ref_result r;
    assert_int_equal(fx_replay(f, &r), REF_NO_SEQUENCE);
    assert_int_equal(io_overlay_pages(&f->ov), 0);
    fx_free(f);
}

static void test_rule_entry_control_is_valid(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, T1, payload, SEC);
    assert_int_equal(r.head_sequence, RULE_SEQ);
    assert_int_equal(r.descriptors, 2);
    fx_free(&f);
}

static void test_rule1_signature_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    entry_sector(&f, off, 0)[3] = 'E';
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule2_log_guid_differs_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    entry_sector(&f, off, 0)[32 + 15] ^= 0x80;
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule3_entry_length_zero_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 8, 0);
    expect_ignored(&f);
}

static void test_rule3_entry_length_not_sector_multiple_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 8, 2 * SEC + 512);
    expect_ignored(&f);
}

static void test_rule3_entry_length_equal_to_log_length_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 8, (uint32_t)MIB);
    expect_ignored(&f);
}

static void test_rule3_entry_as_long_as_log_ignored(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    /* The entry is 8192 bytes: a log of 8192 bytes is too short for it, 12288 is not. */
    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 0) + 8), 2 * SEC);
    fx_open(&f);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, 2 * SEC, 0, 1, &r), REF_NO_SEQUENCE);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, 3 * SEC, 0, 1, &r), REF_OK);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

static void test_rule4_tail_not_sector_multiple_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 12, 512);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule4_tail_at_log_length_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 12, (uint32_t)MIB);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

/* Tail values no entry can have still break the chain when the entry sits in its middle. */
static void check_middle_tail(uint32_t bad_tail)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint32_t o2;

    fx_build(&f);
    add_entry(&f, 1, 0, &d, 1, NULL);
    o2 = add_entry(&f, 2, 0, &d, 1, NULL);
    add_entry(&f, 3, 0, &d, 1, NULL);
    le32_store_no_bounds_check(entry_sector(&f, o2, 0) + 12, bad_tail);
    restamp_entry(&f, o2);
    /* Entry 2 is invalid: the chain from 1 is [1]; the chain [3] has no entry at its Tail. */
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_sequence, 1);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

static void test_rule4_bad_tail_in_middle_entry_breaks_chain(void **state)
{
    (void)state;
    check_middle_tail((uint32_t)MIB);
    check_middle_tail(512);
}

static void test_rule5_sequence_number_zero_ignored(void **state)
{
    struct fx f;
    uint32_t off;
    (void)state;

    /* No descriptors and no data sectors: only the header carries the sequence. */
    fx_build(&f);
    off = add_lone_entry(&f, 1, NULL, 0, NULL);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 16, 0);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule6_reserved_nonzero_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 28, 1);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule7_descriptors_beyond_entry_length_ignored(void **state)
{
    struct fx f;
    uint32_t off;
    (void)state;

    /* EntryLength 4096 holds at most 126 descriptors: 64 + 32 * 127 > 4096. */
    fx_build(&f);
    off = add_lone_entry(&f, 1, NULL, 0, NULL);
    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 24, 127);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_descriptor_signature_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    memcpy(desc_bytes(&f, off, 1), "zerx", 4);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_descriptor_sequence_mismatch_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 24, RULE_SEQ + 1);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_file_offset_not_sector_multiple_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, T1 + 512);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_target_below_192k_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, 192 * KIB - SEC);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_target_at_192k_accepted(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, 192 * KIB);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, 192 * KIB, payload, SEC);
    fx_free(&f);
}

static void test_rule8_zero_length_not_sector_multiple_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 8, SEC + 512);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_zero_reserved_nonzero_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le32_store_no_bounds_check(desc_bytes(&f, off, 1) + 4, 1);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_zero_range_overflow_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 16, UINT64_MAX - SEC + 1);
    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 8, 2 * SEC);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_data_target_at_end_of_address_space_overflows_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    /* 2^64 - 4096 + 4096 = 2^64 overflows. */
    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, UINT64_MAX - SEC + 1);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_data_target_overlapping_log_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, 2 * MIB - SEC);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_zero_range_straddling_log_start_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 16, MIB - SEC);
    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 8, 2 * SEC);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule8_ranges_touching_log_accepted(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    /* Data right after the log; zeros ending exactly at the log's start. */
    le64_store_no_bounds_check(desc_bytes(&f, off, 0) + 16, 2 * MIB);
    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 16, MIB - 2 * SEC);
    memset(f.img.data + MIB - 3 * SEC, 0xAB, 3 * SEC);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_ov_bytes(&f, 2 * MIB, payload, SEC);
    assert_ov_filled(&f, MIB - 3 * SEC, 0xAB, SEC);
    assert_ov_filled(&f, MIB - 2 * SEC, 0, 2 * SEC);
    fx_free(&f);
}

static void test_rule8_zero_length_zero_inside_log_accepted(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    /* length 0: no range, so no intersection with the log. */
    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 16, MIB + 8 * SEC);
    le64_store_no_bounds_check(desc_bytes(&f, off, 1) + 8, 0);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    fx_free(&f);
}

static void test_rule9_entry_length_not_exact_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    /* 1 descriptor sector + 1 data sector = 8192; claim one more sector. */
    le32_store_no_bounds_check(entry_sector(&f, off, 0) + 8, 3 * SEC);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule10_data_sector_signature_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    entry_sector(&f, off, 1)[0] = 'D';
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule10_data_sector_sequence_high_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 1) + 4), 1);
    le32_store_no_bounds_check(entry_sector(&f, off, 1) + 4, 0);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule10_data_sector_sequence_low_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 1) + 4092), 5);
    le32_store_no_bounds_check(entry_sector(&f, off, 1) + 4092, 6);
    restamp_entry(&f, off);
    expect_ignored(&f);
}

static void test_rule11_checksum_mismatch_ignored(void **state)
{
    struct fx f;
    uint8_t payload[SEC];
    uint32_t off = rule_entry(&f, payload);
    (void)state;

    entry_sector(&f, off, 1)[100] ^= 0x01; /* payload byte, checksum not restamped */
    expect_ignored(&f);
}

/* ---- Descriptor sectors ---- */

static void test_more_than_126_descriptors_use_second_descriptor_sector(void **state)
{
    struct fx f;
    struct ref_result r;
    enum { N = 130 };
    struct log_descriptor d[N];
    uint8_t p0[SEC], p126[SEC];
    const uint8_t *pl[2] = {p0, p126};
    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(p0, 100);
    make_payload(p126, 101);
    /* 0: data to 3 MiB; 1..125, 127..129: zero 4 KiB at 2 MiB + 4 KiB * i; 126: data. */
    for (unsigned i = 0; i < N; i++)
        d[i] = zero_desc(2 * MIB + (uint64_t)i * SEC, SEC);
    d[0] = data_desc(3 * MIB);
    d[126] = data_desc(3 * MIB + SEC);
    memset(f.img.data + 2 * MIB, 0xAB, N * SEC + SEC);
    off = add_lone_entry(&f, 3, d, N, pl);
    /* D = ceil(132 / 128) = 2 descriptor sectors, then 2 data sectors. */
    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 0) + 8), 4 * SEC);
    assert_memory_equal(entry_sector(&f, off, 1), "desc", 4);
    assert_memory_equal(entry_sector(&f, off, 1) + 32 * 3, "zero", 4);
    assert_memory_equal(entry_sector(&f, off, 2), "data", 4);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.descriptors, N);
    assert_ov_filled(&f, 2 * MIB, 0xAB, SEC); /* descriptor 0 was the data one */
    assert_ov_filled(&f, 2 * MIB + SEC, 0, 125 * SEC);
    assert_ov_filled(&f, 2 * MIB + 126 * SEC, 0xAB, SEC);
    assert_ov_filled(&f, 2 * MIB + 127 * SEC, 0, 3 * SEC);
    assert_ov_filled(&f, 2 * MIB + N * SEC, 0xAB, SEC);
    assert_ov_bytes(&f, 3 * MIB, p0, SEC);
    assert_ov_bytes(&f, 3 * MIB + SEC, p126, SEC);
    fx_free(&f);
}

/*
 * An entry of n descriptors (n - 1 zero, the last a data one) replays, and
 * its EntryLength shows `descriptor_sectors` descriptor sectors plus the
 * data sector.
 */
static void replay_descriptor_count(unsigned n, uint8_t seed, uint32_t descriptor_sectors)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d[128];
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    uint32_t off;

    assert_true(n >= 1 && n <= 128);
    fx_build(&f);
    make_payload(p, seed);
    for (unsigned i = 0; i < n; i++)
        d[i] = zero_desc(2 * MIB + (uint64_t)i * SEC, SEC);
    d[n - 1] = data_desc(3 * MIB);
    off = add_lone_entry(&f, 3, d, n, pl);
    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 0) + 8),
                     (descriptor_sectors + 1) * SEC);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.descriptors, n);
    assert_ov_bytes(&f, 3 * MIB, p, SEC);
    fx_free(&f);
}

static void test_126_descriptors_fit_first_sector(void **state)
{
    (void)state;
    replay_descriptor_count(126, 102, 1);
}

static void test_127_descriptors_need_second_sector(void **state)
{
    (void)state;
    /* D = ceil(129 / 128) = 2. */
    replay_descriptor_count(127, 105, 2);
}

static void test_second_descriptor_sector_wrapping_to_log_start(void **state)
{
    struct fx f;
    struct ref_result r;
    enum { N = 128 };
    struct log_descriptor d[N];
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(p, 103);
    for (unsigned i = 0; i < N; i++)
        d[i] = zero_desc(2 * MIB + (uint64_t)i * SEC, SEC);
    d[127] = data_desc(3 * MIB);
    memset(f.img.data + 2 * MIB, 0xAB, N * SEC);
    f.img.log_head = MIB - SEC;
    off = add_lone_entry(&f, 3, d, N, pl);
    assert_int_equal(off, MIB - SEC);
    assert_memory_equal(f.img.data + f.img.log_offset + 32, "desc", 4); /* descriptor 127 */
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.head_offset, MIB - SEC);
    assert_ov_filled(&f, 2 * MIB, 0, 127 * SEC);
    assert_ov_filled(&f, 2 * MIB + 127 * SEC, 0xAB, SEC);
    assert_ov_bytes(&f, 3 * MIB, p, SEC);
    fx_free(&f);
}

static void test_three_descriptor_sectors(void **state)
{
    struct fx f;
    struct ref_result r;
    enum { N = 300 };
    struct log_descriptor *d = calloc(N, sizeof(*d));
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    uint32_t off;
    (void)state;

    assert_non_null(d);
    fx_build(&f);
    make_payload(p, 104);
    for (unsigned i = 0; i < N; i++)
        d[i] = zero_desc(2 * MIB + (uint64_t)i * SEC, SEC);
    d[N - 1] = data_desc(FILE_LEN - SEC);
    memset(f.img.data + 2 * MIB, 0xAB, 2 * MIB);
    off = add_lone_entry(&f, 3, d, N, pl);
    /* D = ceil(302 / 128) = 3; descriptor 254 opens sector 2, 299 is its 46th. */
    assert_int_equal(le32_load_no_bounds_check(entry_sector(&f, off, 0) + 8), 4 * SEC);
    assert_memory_equal(entry_sector(&f, off, 2), "zero", 4);
    assert_memory_equal(entry_sector(&f, off, 2) + 32 * 45, "desc", 4);
    assert_int_equal(fx_replay(&f, &r), REF_OK);
    assert_int_equal(r.descriptors, N);
    assert_ov_filled(&f, 2 * MIB, 0, (N - 1) * SEC);
    assert_ov_filled(&f, 2 * MIB + (N - 1) * SEC, 0xAB, SEC);
    assert_ov_bytes(&f, FILE_LEN - SEC, p, SEC);
    free(d);
    fx_free(&f);
}

/* ---- Header update ---- */

static void check_header(struct fx *f, uint64_t slot_off, const uint8_t orig[SEC], uint64_t seq,
                         uint8_t fwg_out[16])
{
    uint8_t h[SEC], zero[16];

    memset(zero, 0, sizeof(zero));
    ov_read(f, slot_off, h, SEC);
    assert_memory_equal(h, "head", 4);
    assert_int_equal(le32_load_no_bounds_check(h + 4), crc32c_with_zero_field(h, SEC, 4));
    assert_int_equal(le64_load_no_bounds_check(h + 8), seq);
    assert_memory_not_equal(h + 16, orig + 16, 16);
    memcpy(fwg_out, h + 16, 16);
    assert_memory_equal(h + 32, orig + 32, 16);
    assert_memory_equal(h + 48, zero, 16);
    assert_memory_equal(h + 64, orig + 64, SEC - 64);
}

static void test_header_update_from_slot_2(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint8_t orig[SEC], fwg1[16], fwg2[16];
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, 5, &d, 1, NULL);
    memcpy(orig, f.img.data + VHDX_HEADER2_OFFSET, SEC);
    assert_int_equal(le64_load_no_bounds_check(orig + 8), 2);
    assert_memory_equal(orig + 48, f.guid.b, 16);
    assert_int_equal(fx_replay_slot(&f, 2, 0, &r), REF_OK);
    check_header(&f, VHDX_HEADER1_OFFSET, orig, 3, fwg1);
    check_header(&f, VHDX_HEADER2_OFFSET, orig, 4, fwg2);
    assert_memory_equal(fwg1, fwg2, 16);
    /* Bytes of the slots past the 4 KiB header are untouched. */
    assert_ov_bytes(&f, VHDX_HEADER1_OFFSET + SEC, f.img.data + VHDX_HEADER1_OFFSET + SEC,
                    64 * KIB - SEC);
    fx_free(&f);
}

static void test_header_update_from_slot_1(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint8_t orig[SEC], fwg1[16], fwg2[16];
    (void)state;

    fx_build(&f);
    /* Make slot 1 carry the LogGuid too, as the current header would. */
    f.img.header_old.log_guid = f.guid;
    assert_status(header_encode(&f.img.header_old, f.img.data + VHDX_HEADER1_OFFSET, HEADER_SIZE),
                  VHDX_OK);
    add_lone_entry(&f, 5, &d, 1, NULL);
    memcpy(orig, f.img.data + VHDX_HEADER1_OFFSET, SEC);
    assert_int_equal(fx_replay_slot(&f, 1, 0, &r), REF_OK);
    check_header(&f, VHDX_HEADER2_OFFSET, orig, 2, fwg2);
    check_header(&f, VHDX_HEADER1_OFFSET, orig, 3, fwg1);
    assert_memory_equal(fwg1, fwg2, 16);
    fx_free(&f);
}

static void test_header_sequence_too_high_for_update_is_bad_arg(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    (void)state;

    fx_build(&f);
    f.img.header.sequence_number = UINT64_MAX - 1;
    assert_status(header_encode(&f.img.header, f.img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE),
                  VHDX_OK);
    add_lone_entry(&f, 5, &d, 1, NULL);
    assert_int_equal(fx_replay_slot(&f, 2, 0, &r), REF_BAD_ARG);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_header_sequence_highest_updatable(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    uint8_t h[SEC];
    (void)state;

    fx_build(&f);
    f.img.header.sequence_number = UINT64_MAX - 2;
    assert_status(header_encode(&f.img.header, f.img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE),
                  VHDX_OK);
    add_lone_entry(&f, 5, &d, 1, NULL);
    assert_int_equal(fx_replay_slot(&f, 2, 0, &r), REF_OK);
    ov_read(&f, VHDX_HEADER2_OFFSET, h, SEC);
    assert_int_equal(le64_load_no_bounds_check(h + 8), UINT64_MAX);
    fx_free(&f);
}

static void test_slot_0_updates_no_header(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    struct log_descriptor d = data_desc(T1);
    (void)state;

    fx_build(&f);
    make_payload(p, 110);
    add_lone_entry(&f, 5, &d, 1, pl);
    assert_int_equal(fx_replay_slot(&f, 0, 0, &r), REF_OK);
    assert_int_equal(io_overlay_pages(&f.ov), 1);
    assert_ov_bytes(&f, 0, f.img.data, 1 * MIB);
    fx_free(&f);
}

static void test_dry_run_writes_nothing_and_reports(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    struct log_descriptor d[2] = {data_desc(FILE_LEN + MIB), zero_desc(T1, SEC)};
    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(p, 111);
    off = add_lone_entry(&f, 5, d, 2, pl);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, FILE_LEN + 4 * MIB);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay_slot(&f, 2, 1, &r), REF_OK);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    assert_int_equal(ov_size(&f), FILE_LEN);
    assert_int_equal(r.head_sequence, 5);
    assert_int_equal(r.head_offset, 0);
    assert_int_equal(r.tail_offset, 0);
    assert_int_equal(r.entries, 1);
    assert_int_equal(r.descriptors, 2);
    assert_int_equal(r.final_size, FILE_LEN + 4 * MIB);
    fx_free(&f);
}

static void test_dry_run_final_size_from_write_past_end(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    struct log_descriptor d = data_desc(FILE_LEN + MIB);
    (void)state;

    uint32_t off;
    (void)state;

    fx_build(&f);
    make_payload(p, 112);
    off = add_lone_entry(&f, 5, &d, 1, pl);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, FILE_LEN + MIB + SEC);
    restamp_entry(&f, off);
    assert_int_equal(fx_replay_slot(&f, 2, 1, &r), REF_OK);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    assert_int_equal(r.final_size, FILE_LEN + MIB + SEC);
    fx_free(&f);
}

/*
 * docs/REPLAY.md, Bounds: a target past both the file's end and the
 * entry's LastFileOffset (here the file size) refuses the whole log before
 * anything is written, a zero range as much as a data sector.
 */
static void test_target_past_end_refused_before_any_write(void **state)
{
    struct fx f;
    struct ref_result r;
    uint8_t p[SEC];
    const uint8_t *pl[1] = {p};
    struct log_descriptor d[2] = {data_desc(T1), zero_desc(64ull << 30, 2ull << 30)};
    struct log_descriptor lone = data_desc(FILE_LEN);
    (void)state;

    fx_build(&f);
    make_payload(p, 113);
    add_lone_entry(&f, 5, d, 2, pl);
    assert_int_equal(fx_replay_slot(&f, 2, 0, &r), REF_PAST_END);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    assert_int_equal(ov_size(&f), FILE_LEN);
    fx_free(&f);

    /* One sector exactly at the end, with LastFileOffset the file's size: refused too. */
    fx_build(&f);
    add_lone_entry(&f, 6, &lone, 1, pl);
    assert_int_equal(fx_replay_slot(&f, 2, 0, &r), REF_PAST_END);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

static void test_dry_run_needs_only_read_and_size(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, 5, &d, 1, NULL);
    assert_status(vhdx_io_from_memory(f.img.data, f.img.len, &f.base), VHDX_OK);
    assert_int_equal(ref_replay(&f.base, f.guid.b, MIB, MIB, 2, 1, &r), REF_OK);
    assert_int_equal(r.entries, 1);
    /* Not dry: the read-only memory back end has no write. */
    assert_int_equal(ref_replay(&f.base, f.guid.b, MIB, MIB, 2, 0, &r), REF_BAD_ARG);
    vhdx_io_close(&f.base);
    fx_free(&f);
}

static void test_out_may_be_null(void **state)
{
    struct fx f;
    struct log_descriptor d = zero_desc(T1, SEC);
    (void)state;

    fx_build(&f);
    add_lone_entry(&f, 5, &d, 1, NULL);
    assert_int_equal(fx_replay(&f, NULL), REF_OK);
    fx_free(&f);
}

/* ---- Arguments ---- */

static void test_bad_arguments(void **state)
{
    struct fx f;
    struct ref_result r;
    vhdx_io no_read;
    (void)state;

    fx_build(&f);
    fx_open(&f);
    assert_int_equal(ref_replay(NULL, f.guid.b, MIB, MIB, 2, 0, &r), REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, NULL, MIB, MIB, 2, 0, &r), REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, 0, 2, 0, &r), REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, MIB + 512, 2, 0, &r), REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, UINT64_MAX - MIB + 2, MIB, 2, 0, &r),
                     REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, MIB, 3, 0, &r), REF_BAD_ARG);
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, MIB, -1, 0, &r), REF_BAD_ARG);
    no_read = f.ov;
    no_read.read = NULL;
    assert_int_equal(ref_replay(&no_read, f.guid.b, MIB, MIB, 2, 1, &r), REF_BAD_ARG);
    /* A log ending at 2^64 - 1 does not overflow: it is just past the file. */
    assert_int_equal(ref_replay(&f.ov, f.guid.b, UINT64_MAX - MIB, MIB, 2, 0, &r),
                     REF_TRUNCATED);
    /* A 4 KiB log is accepted (no entry fits: EntryLength < L). */
    assert_int_equal(ref_replay(&f.ov, f.guid.b, MIB, SEC, 2, 0, &r), REF_NO_SEQUENCE);
    assert_int_equal(io_overlay_pages(&f.ov), 0);
    fx_free(&f);
}

/* ---- I/O failures ---- */

enum { FAIL_NONE, FAIL_READ, FAIL_WRITE, FAIL_FLUSH, FAIL_SIZE, FAIL_TRUNCATE, FAIL_SHORT };

struct flaky {
    vhdx_io *inner;
    int fail;
};

static vhdx_status flaky_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct flaky *fl = ctx;
    if (fl->fail == FAIL_READ)
        return VHDX_E_IO;
    if (fl->fail == FAIL_SHORT) {
        *got = 0;
        return VHDX_OK;
    }
    return fl->inner->read(fl->inner->ctx, buf, len, off, got);
}

static vhdx_status flaky_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct flaky *fl = ctx;
    if (fl->fail == FAIL_WRITE)
        return VHDX_E_IO;
    return fl->inner->write(fl->inner->ctx, buf, len, off);
}

static vhdx_status flaky_flush(void *ctx)
{
    struct flaky *fl = ctx;
    if (fl->fail == FAIL_FLUSH)
        return VHDX_E_IO;
    return fl->inner->flush(fl->inner->ctx);
}

static vhdx_status flaky_size(void *ctx, uint64_t *size)
{
    struct flaky *fl = ctx;
    if (fl->fail == FAIL_SIZE)
        return VHDX_E_IO;
    return fl->inner->size(fl->inner->ctx, size);
}

static vhdx_status flaky_truncate(void *ctx, uint64_t size)
{
    struct flaky *fl = ctx;
    if (fl->fail == FAIL_TRUNCATE)
        return VHDX_E_IO;
    return fl->inner->truncate(fl->inner->ctx, size);
}

static enum ref_status replay_failing(int fail)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    struct flaky fl;
    vhdx_io io;
    enum ref_status st;
    uint32_t off;

    fx_build(&f);
    off = add_lone_entry(&f, 5, &d, 1, NULL);
    le64_store_no_bounds_check(entry_sector(&f, off, 0) + 56, FILE_LEN + MIB);
    restamp_entry(&f, off);
    fx_open(&f);
    fl.inner = &f.ov;
    fl.fail = fail;
    memset(&io, 0, sizeof(io));
    io.ctx = &fl;
    io.read = flaky_read;
    io.write = flaky_write;
    io.flush = flaky_flush;
    io.size = flaky_size;
    io.truncate = flaky_truncate;
    st = ref_replay(&io, f.guid.b, MIB, MIB, 2, 0, &r);
    fx_free(&f);
    return st;
}

static void test_io_failures(void **state)
{
    (void)state;
    assert_int_equal(replay_failing(FAIL_NONE), REF_OK);
    assert_int_equal(replay_failing(FAIL_READ), REF_IO);
    assert_int_equal(replay_failing(FAIL_WRITE), REF_IO);
    assert_int_equal(replay_failing(FAIL_FLUSH), REF_IO);
    assert_int_equal(replay_failing(FAIL_SIZE), REF_IO);
    assert_int_equal(replay_failing(FAIL_TRUNCATE), REF_IO);
    assert_int_equal(replay_failing(FAIL_SHORT), REF_TRUNCATED);
}

/* A back end that claims one byte more than every read asked for. */
static vhdx_status overreporting_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    vhdx_io *inner = ctx;
    vhdx_status st = inner->read(inner->ctx, buf, len, off, got);
    *got = len + 1;
    return st;
}

static vhdx_status inner_size(void *ctx, uint64_t *size)
{
    vhdx_io *inner = ctx;
    return inner->size(inner->ctx, size);
}

/*
 * A read reporting more bytes than asked is a broken back end: REF_IO. A
 * back end without flush (nothing to make durable) replays as with one.
 */
static void test_overreporting_read_and_missing_flush(void **state)
{
    struct fx f;
    struct ref_result r;
    struct log_descriptor d = zero_desc(T1, SEC);
    vhdx_io io;
    (void)state;
    fx_build(&f);
    (void)add_lone_entry(&f, 5, &d, 1, NULL);
    fx_open(&f);
    memset(&io, 0, sizeof(io));
    io.ctx = &f.ov;
    io.read = overreporting_read;
    io.size = inner_size;
    assert_int_equal(ref_replay(&io, f.guid.b, MIB, MIB, 2, 1, &r), REF_IO);
    io = f.ov;
    io.flush = NULL;
    assert_int_equal(ref_replay(&io, f.guid.b, MIB, MIB, 2, 0, &r), REF_OK);
    assert_int_equal(r.head_sequence, 5);
    assert_int_equal(r.entries, 1);
    fx_free(&f);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(ref_status_name(REF_OK), "REF_OK");
    assert_string_equal(ref_status_name(REF_NO_SEQUENCE), "REF_NO_SEQUENCE");
    assert_string_equal(ref_status_name(REF_TRUNCATED), "REF_TRUNCATED");
    assert_string_equal(ref_status_name(REF_BAD_ARG), "REF_BAD_ARG");
    assert_string_equal(ref_status_name(REF_IO), "REF_IO");
    assert_string_equal(ref_status_name(REF_NOMEM), "REF_NOMEM");
    assert_string_equal(ref_status_name(REF_PAST_END), "REF_PAST_END");
    assert_string_equal(ref_status_name((enum ref_status)99), "REF_UNKNOWN");
}

/* ---- Outcome classes (refreplay/outcome.c), as replay-diff compares them ---- */

static vhdx_diag diag_of(vhdx_severity sev, const char *rule)
{
    vhdx_diag d;
    memset(&d, 0, sizeof(d));
    d.severity = sev;
    d.code = sev == VHDX_SEVERITY_ERROR ? VHDX_E_CORRUPT : VHDX_E_RANGE;
    d.rule = rule;
    return d;
}

/* Only the first error is kept: warnings and infos before it and errors after it are not. */
static void test_outcome_first_error_keeps_the_first_error_only(void **state)
{
    struct replay_first_error fe;
    vhdx_diag d;
    (void)state;
    memset(&fe, 0, sizeof(fe));
    d = diag_of(VHDX_SEVERITY_WARNING, "log.entry.torn");
    replay_note_first_error(&fe, &d);
    d = diag_of(VHDX_SEVERITY_INFO, "log.replayed");
    replay_note_first_error(&fe, &d);
    assert_string_equal(fe.rule, "");
    d = diag_of(VHDX_SEVERITY_ERROR, "log.sequence.none");
    replay_note_first_error(&fe, &d);
    d = diag_of(VHDX_SEVERITY_ERROR, "log.truncated");
    replay_note_first_error(&fe, &d);
    assert_string_equal(fe.rule, "log.sequence.none");
    /* An error without a rule id is kept as "": a later one does not replace it. */
    memset(&fe, 0, sizeof(fe));
    d = diag_of(VHDX_SEVERITY_ERROR, NULL);
    replay_note_first_error(&fe, &d);
    assert_string_equal(fe.rule, "");
}

static void test_outcome_classes_of_both_engines(void **state)
{
    (void)state;
    assert_int_equal(replay_outcome_production(VHDX_OK, ""), REPLAY_REPLAYED);
    /* VHDX_OK wins over a stale rule: the status decides first. */
    assert_int_equal(replay_outcome_production(VHDX_OK, "log.truncated"), REPLAY_REPLAYED);
    assert_int_equal(replay_outcome_production(VHDX_E_CORRUPT, "log.sequence.none"),
                     REPLAY_NO_SEQUENCE);
    assert_int_equal(replay_outcome_production(VHDX_E_TRUNCATED, "log.truncated"),
                     REPLAY_TRUNCATED);
    assert_int_equal(replay_outcome_production(VHDX_E_TRUNCATED, "log.region.past_eof"),
                     REPLAY_TRUNCATED);
    assert_int_equal(replay_outcome_production(VHDX_E_RANGE, "log.descriptor.past_end"),
                     REPLAY_PAST_END);
    assert_int_equal(replay_outcome_production(VHDX_E_IO, "log.apply.io"), REPLAY_OTHER);
    assert_int_equal(replay_outcome_production(VHDX_E_SIGNATURE, ""), REPLAY_OTHER);

    assert_int_equal(replay_outcome_reference(REF_OK), REPLAY_REPLAYED);
    assert_int_equal(replay_outcome_reference(REF_NO_SEQUENCE), REPLAY_NO_SEQUENCE);
    assert_int_equal(replay_outcome_reference(REF_TRUNCATED), REPLAY_TRUNCATED);
    assert_int_equal(replay_outcome_reference(REF_BAD_ARG), REPLAY_OTHER);
    assert_int_equal(replay_outcome_reference(REF_IO), REPLAY_OTHER);
    assert_int_equal(replay_outcome_reference(REF_NOMEM), REPLAY_OTHER);
    assert_int_equal(replay_outcome_reference(REF_PAST_END), REPLAY_PAST_END);
    assert_int_equal(replay_outcome_reference((enum ref_status)99), REPLAY_OTHER);

    assert_string_equal(replay_outcome_name(REPLAY_REPLAYED), "replayed");
    assert_string_equal(replay_outcome_name(REPLAY_NO_SEQUENCE), "rejected: no valid sequence");
    assert_string_equal(replay_outcome_name(REPLAY_TRUNCATED), "rejected: the file was truncated");
    assert_string_equal(replay_outcome_name(REPLAY_PAST_END),
                        "rejected: a descriptor reaches past the file's end");
    assert_string_equal(replay_outcome_name(REPLAY_OTHER), "could not replay");
    assert_string_equal(replay_outcome_name((enum replay_outcome)99), "could not replay");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_entry_data_descriptor_writes_payload),
        cmocka_unit_test(test_data_descriptor_leading_and_trailing_come_from_descriptor),
        cmocka_unit_test(test_zero_descriptor_writes_zeros_in_range_only),
        cmocka_unit_test(test_zero_descriptor_longer_than_one_mib),
        cmocka_unit_test(test_zero_length_zero_descriptor_writes_nothing),
        cmocka_unit_test(test_entry_without_descriptors_is_a_valid_sequence),
        cmocka_unit_test(test_data_write_past_end_extends_file_with_zero_gap),
        cmocka_unit_test(test_multi_entry_sequence_applies_in_order),
        cmocka_unit_test(test_sequence_wrapping_around_end_of_log),
        cmocka_unit_test(test_stale_entry_before_tail_not_applied),
        cmocka_unit_test(test_tail_in_middle_of_chain_applies_from_tail),
        cmocka_unit_test(test_torn_entry_after_sequence_ignored),
        cmocka_unit_test(test_sequence_gap_breaks_chain),
        cmocka_unit_test(test_sequence_filling_whole_log),
        cmocka_unit_test(test_two_sequences_higher_head_wins),
        cmocka_unit_test(test_two_sequences_higher_head_wins_at_lower_offset),
        cmocka_unit_test(test_equal_head_sequence_lower_offset_wins),
        cmocka_unit_test(test_equal_heads_lower_offset_wins_across_the_wrap),
        cmocka_unit_test(test_tail_outside_chain_is_no_sequence),
        cmocka_unit_test(test_tail_at_valid_entry_outside_chain_makes_chain_invalid),
        cmocka_unit_test(test_no_valid_entry_is_no_sequence),
        cmocka_unit_test(test_highest_sequence_number_has_no_successor),
        cmocka_unit_test(test_last_file_offset_beyond_file_extends_it),
        cmocka_unit_test(test_last_file_offset_below_file_does_not_shrink),
        cmocka_unit_test(test_flushed_file_offset_beyond_file_is_truncated),
        cmocka_unit_test(test_flushed_file_offset_equal_to_file_size_is_accepted),
        cmocka_unit_test(test_flushed_file_offset_checked_on_head_only),
        cmocka_unit_test(test_log_past_end_of_file_is_truncated),
        cmocka_unit_test(test_rule_entry_control_is_valid),
        cmocka_unit_test(test_rule1_signature_ignored),
        cmocka_unit_test(test_rule2_log_guid_differs_ignored),
        cmocka_unit_test(test_rule3_entry_length_zero_ignored),
        cmocka_unit_test(test_rule3_entry_length_not_sector_multiple_ignored),
        cmocka_unit_test(test_rule3_entry_length_equal_to_log_length_ignored),
        cmocka_unit_test(test_rule3_entry_as_long_as_log_ignored),
        cmocka_unit_test(test_rule4_tail_not_sector_multiple_ignored),
        cmocka_unit_test(test_rule4_tail_at_log_length_ignored),
        cmocka_unit_test(test_rule4_bad_tail_in_middle_entry_breaks_chain),
        cmocka_unit_test(test_rule5_sequence_number_zero_ignored),
        cmocka_unit_test(test_rule6_reserved_nonzero_ignored),
        cmocka_unit_test(test_rule7_descriptors_beyond_entry_length_ignored),
        cmocka_unit_test(test_rule8_descriptor_signature_ignored),
        cmocka_unit_test(test_rule8_descriptor_sequence_mismatch_ignored),
        cmocka_unit_test(test_rule8_file_offset_not_sector_multiple_ignored),
        cmocka_unit_test(test_rule8_target_below_192k_ignored),
        cmocka_unit_test(test_rule8_target_at_192k_accepted),
        cmocka_unit_test(test_rule8_zero_length_not_sector_multiple_ignored),
        cmocka_unit_test(test_rule8_zero_reserved_nonzero_ignored),
        cmocka_unit_test(test_rule8_zero_range_overflow_ignored),
        cmocka_unit_test(test_rule8_data_target_at_end_of_address_space_overflows_ignored),
        cmocka_unit_test(test_rule8_data_target_overlapping_log_ignored),
        cmocka_unit_test(test_rule8_zero_range_straddling_log_start_ignored),
        cmocka_unit_test(test_rule8_ranges_touching_log_accepted),
        cmocka_unit_test(test_rule8_zero_length_zero_inside_log_accepted),
        cmocka_unit_test(test_rule9_entry_length_not_exact_ignored),
        cmocka_unit_test(test_rule10_data_sector_signature_ignored),
        cmocka_unit_test(test_rule10_data_sector_sequence_high_ignored),
        cmocka_unit_test(test_rule10_data_sector_sequence_low_ignored),
        cmocka_unit_test(test_rule11_checksum_mismatch_ignored),
        cmocka_unit_test(test_more_than_126_descriptors_use_second_descriptor_sector),
        cmocka_unit_test(test_126_descriptors_fit_first_sector),
        cmocka_unit_test(test_127_descriptors_need_second_sector),
        cmocka_unit_test(test_second_descriptor_sector_wrapping_to_log_start),
        cmocka_unit_test(test_three_descriptor_sectors),
        cmocka_unit_test(test_header_update_from_slot_2),
        cmocka_unit_test(test_header_update_from_slot_1),
        cmocka_unit_test(test_header_sequence_too_high_for_update_is_bad_arg),
        cmocka_unit_test(test_header_sequence_highest_updatable),
        cmocka_unit_test(test_slot_0_updates_no_header),
        cmocka_unit_test(test_dry_run_writes_nothing_and_reports),
        cmocka_unit_test(test_dry_run_final_size_from_write_past_end),
        cmocka_unit_test(test_target_past_end_refused_before_any_write),
        cmocka_unit_test(test_dry_run_needs_only_read_and_size),
        cmocka_unit_test(test_out_may_be_null),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_io_failures),
        cmocka_unit_test(test_overreporting_read_and_missing_flush),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_outcome_first_error_keeps_the_first_error_only),
        cmocka_unit_test(test_outcome_classes_of_both_engines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
