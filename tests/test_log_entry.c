/*
 * Log entry codec (VHDX-FORMAT.md §8.2-§8.7.2, §9): round trips of every
 * structure, whole entries in a circular log (wrapping, several descriptor
 * sectors), and one test per rule.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/log_entry.h"

#define LOG_LEN (64u * 1024u)       /* 16 sectors */
#define LOG_FOFF (1024ull * 1024ull) /* the log region [1 MiB, 1 MiB + 64 KiB) */
#define TARGET(k) (2ull * 1024 * 1024 + (uint64_t)(k) * 4096u)
#define SEQ 0x0000000500000007ull /* high and low halves differ */
#define MAX_DESCS 300

static uint8_t ring[LOG_LEN];
static uint8_t ring2[LOG_LEN];
static uint8_t pages[8][4096];
static const uint8_t *page_ptrs[8];
static struct log_descriptor descs[MAX_DESCS];

static struct guid sample_guid(void)
{
    static const uint8_t d4[8] = {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
    return guid_make(0xA1B2C3D4, 0x1122, 0x3344, d4);
}

static struct log_entry_header sample_header(void)
{
    struct log_entry_header h;
    memset(&h, 0, sizeof(h));
    h.tail = 0;
    h.sequence_number = SEQ;
    h.log_guid = sample_guid();
    h.flushed_file_offset = 4 * LOG_FOFF;
    h.last_file_offset = 5 * LOG_FOFF;
    return h;
}

static struct log_descriptor zero_desc(uint64_t off, uint64_t len)
{
    struct log_descriptor x;
    memset(&x, 0, sizeof(x));
    x.kind = LOG_DESCRIPTOR_ZERO;
    x.zero_length = len;
    x.file_offset = off;
    x.sequence_number = SEQ;
    return x;
}

static struct log_descriptor data_desc(uint64_t off)
{
    struct log_descriptor x;
    memset(&x, 0, sizeof(x));
    x.kind = LOG_DESCRIPTOR_DATA;
    x.file_offset = off;
    x.sequence_number = SEQ;
    return x;
}

static void fill_pages(uint64_t seed)
{
    struct test_rng r;
    test_rng_seed(&r, seed);
    for (size_t i = 0; i < 8; i++) {
        test_rng_fill(&r, pages[i], sizeof(pages[i]));
        page_ptrs[i] = pages[i];
    }
}

/* The four-descriptor example of §8.2: [hdr | DD1 DD2 ZD3 DD4] [data] [data] [data]. */
static size_t example_descs(void)
{
    descs[0] = data_desc(TARGET(0));
    descs[1] = data_desc(TARGET(1));
    descs[2] = zero_desc(TARGET(8), 3 * 4096);
    descs[3] = data_desc(TARGET(2));
    return 4;
}

static uint64_t sector_at(uint32_t log_len, uint32_t off, uint64_t k)
{
    return (off + k * 4096u) % log_len;
}

/* An independent CRC: copy the entry out of the ring in order, zero the field, hash it once. */
static uint32_t linear_crc(const uint8_t *log, uint32_t log_len, uint32_t off)
{
    static uint8_t lin[LOG_LEN];
    uint32_t el = le32_load_no_bounds_check(log + off + 8);
    for (uint32_t k = 0; k < el / 4096; k++)
        memcpy(lin + k * 4096, log + sector_at(log_len, off, k), 4096);
    memset(lin + 4, 0, 4);
    return crc32c(0, lin, el);
}

/* Re-stamps the entry's checksum after a test edits bytes of it. */
static void restamp(uint8_t *log, uint32_t log_len, uint32_t off)
{
    le32_store_no_bounds_check(log + off + 4, linear_crc(log, log_len, off));
}

static vhdx_status check_at(const uint8_t *log, uint32_t log_len, uint32_t off,
                            struct log_entry_view *v, struct test_sink *ts)
{
    struct guid g = sample_guid();
    test_sink_init(ts);
    return log_entry_check(log, log_len, off, &g, LOG_FOFF, v, &ts->sink);
}

static vhdx_status validate_header(struct log_entry_header h, uint32_t log_len,
                                   const struct guid *g, struct test_sink *ts)
{
    test_sink_init(ts);
    return log_entry_header_validate(&h, log_len, g, &ts->sink);
}

static vhdx_status validate_desc(struct log_descriptor x, uint64_t log_off, uint32_t log_len,
                                 struct test_sink *ts)
{
    test_sink_init(ts);
    return log_descriptor_validate(&x, SEQ, log_off, log_len, &ts->sink);
}

/* Header with valid fields for validation: a 4 KiB entry with no descriptors. */
static struct log_entry_header valid_fields(void)
{
    struct log_entry_header h = sample_header();
    h.entry_length = 4096;
    return h;
}

/* ------------------------------------------------------------------ */
/* Entry header (§8.3)                                                  */

static void test_log_entry_header_round_trip_is_byte_exact(void **state)
{
    struct log_entry_header h = sample_header(), out;
    uint8_t buf[64], again[64];
    struct test_sink ts;
    (void)state;

    h.checksum = 0xDEADBEEF;
    h.entry_length = 3 * 4096;
    h.tail = 5 * 4096;
    h.descriptor_count = 2;
    test_sink_init(&ts);
    assert_status(log_entry_header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    assert_status(log_entry_header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_true(log_entry_header_equal(&h, &out));
    assert_status(log_entry_header_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
    assert_no_findings(&ts);
}

static void test_log_entry_header_encode_field_offsets(void **state)
{
    struct log_entry_header h = sample_header();
    uint8_t buf[64];
    (void)state;

    h.checksum = 0x01020304;
    h.entry_length = 0x2000;
    h.tail = 0x3000;
    h.descriptor_count = 0x11;
    h.reserved = 0x22;
    assert_status(log_entry_header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "loge", 4);
    assert_int_equal(le32_load_no_bounds_check(buf + 4), 0x01020304);
    assert_int_equal(le32_load_no_bounds_check(buf + 8), 0x2000);
    assert_int_equal(le32_load_no_bounds_check(buf + 12), 0x3000);
    assert_int_equal(le64_load_no_bounds_check(buf + 16), SEQ);
    assert_int_equal(le32_load_no_bounds_check(buf + 24), 0x11);
    assert_int_equal(le32_load_no_bounds_check(buf + 28), 0x22);
    assert_memory_equal(buf + 32, h.log_guid.b, 16);
    assert_int_equal(le64_load_no_bounds_check(buf + 48), 4 * LOG_FOFF);
    assert_int_equal(le64_load_no_bounds_check(buf + 56), 5 * LOG_FOFF);
}

static void test_log_entry_header_encode_short_buffer_fails(void **state)
{
    struct log_entry_header h = sample_header();
    uint8_t buf[64];
    (void)state;
    assert_status(log_entry_header_encode(&h, buf, 63), VHDX_E_TRUNCATED);
}

static void test_log_entry_header_truncated(void **state)
{
    struct log_entry_header h = sample_header(), out;
    uint8_t buf[64];
    struct test_sink ts;
    (void)state;
    assert_status(log_entry_header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(log_entry_header_decode(buf, 63, &out, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "log_entry.truncated");
    test_sink_init(&ts);
    assert_status(log_entry_header_decode(NULL, 0, &out, &ts.sink), VHDX_E_TRUNCATED);
}

static void test_log_entry_header_signature(void **state)
{
    struct log_entry_header h = sample_header(), out;
    uint8_t buf[64];
    struct test_sink ts;
    (void)state;
    assert_status(log_entry_header_encode(&h, buf, sizeof(buf)), VHDX_OK);
    buf[0] = 'L';
    test_sink_init(&ts);
    ts.sink.base = 0x100000;
    assert_status(log_entry_header_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "log_entry.signature")->offset,
        0x100000);
}

static void test_log_entry_header_valid_fields_have_no_findings(void **state)
{
    struct guid g = sample_guid();
    struct test_sink ts;
    (void)state;
    assert_status(validate_header(valid_fields(), LOG_LEN, &g, &ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_entry_header_log_guid_mismatch(void **state)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct guid other = guid_make(1, 2, 3, d4);
    struct test_sink ts;
    (void)state;
    assert_status(validate_header(valid_fields(), LOG_LEN, &other, &ts), VHDX_E_CORRUPT);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.log_guid")->offset,
        32);
    /* An unknown (NULL) log GUID is not compared. */
    assert_status(validate_header(valid_fields(), LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_entry_header_entry_length_zero(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.entry_length = 0;
    /* DescriptorCount 0 still needs 64 bytes, so both rules fire. */
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.entry_length.zero");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor_count.range");
    assert_int_equal(ts.sink.total, 2);
}

static void test_log_entry_header_entry_length_alignment(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.entry_length = 4097;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "log_entry.entry_length.alignment");
    h.entry_length = 4095;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "log_entry.entry_length.alignment");
}

static void test_log_entry_header_entry_length_equal_to_log_length_rejected(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.entry_length = LOG_LEN;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RANGE);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.entry_length.range")
            ->offset,
        8);
    h.entry_length = LOG_LEN - 4096;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    /* LogLength 0 means unknown: no range rule. */
    h.entry_length = 0xFFFFF000u;
    assert_status(validate_header(h, 0, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_entry_header_tail_alignment(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.tail = 4096 + 512;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_ALIGNMENT);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "log_entry.tail.alignment")
            ->offset,
        12);
}

static void test_log_entry_header_tail_range(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.tail = LOG_LEN;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.tail.range");
    h.tail = LOG_LEN - 4096;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    h.tail = LOG_LEN;
    assert_status(validate_header(h, 0, NULL, &ts), VHDX_OK);
}

static void test_log_entry_header_sequence_number_zero(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.sequence_number = 0;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "log_entry.sequence_number.zero")
                         ->offset,
                     16);
    h.sequence_number = 1;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
}

static void test_log_entry_header_reserved(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.reserved = 0x80000000u;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RESERVED);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "log_entry.reserved")->offset,
        28);
}

static void test_log_entry_header_descriptor_count_range(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    /* 64 + 32 * 126 = 4096 fits one sector exactly; 127 does not. */
    h.descriptor_count = 126;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    h.descriptor_count = 127;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "log_entry.descriptor_count.range")
                         ->offset,
                     24);
}

static void test_log_entry_header_descriptor_count_uses_64_bit_math(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    /* 64 + 32 * 0x08000000 = 2^32 + 64: in 32 bits it would wrap to 64 and pass. */
    h.descriptor_count = 0x08000000u;
    h.entry_length = 0xFFFFF000u;
    assert_status(validate_header(h, 0, NULL, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor_count.range");
    h.descriptor_count = UINT32_MAX;
    assert_status(validate_header(h, 0, NULL, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor_count.range");
}

static void test_log_entry_header_file_offsets_not_1mib_warn(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.flushed_file_offset = 4 * LOG_FOFF + 4096;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_ALIGNMENT,
                                      "log_entry.flushed_file_offset.alignment")
                         ->offset,
                     48);
    h = valid_fields();
    h.last_file_offset = 5 * LOG_FOFF + 1;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_ALIGNMENT,
                                      "log_entry.last_file_offset.alignment")
                         ->offset,
                     56);
}

static void test_log_entry_header_last_below_flushed_is_not_a_rule(void **state)
{
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.flushed_file_offset = 8 * LOG_FOFF;
    h.last_file_offset = 2 * LOG_FOFF;
    assert_status(validate_header(h, LOG_LEN, NULL, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_entry_header_validate_reports_every_violation(void **state)
{
    static const uint8_t d4[8] = {0};
    struct guid other = guid_make(9, 9, 9, d4);
    struct log_entry_header h = valid_fields();
    struct test_sink ts;
    (void)state;
    h.entry_length = 4097;
    h.tail = LOG_LEN + 1;
    h.sequence_number = 0;
    h.reserved = 1;
    h.flushed_file_offset = 1;
    assert_status(validate_header(h, LOG_LEN, &other, &ts), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.log_guid");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "log_entry.entry_length.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "log_entry.tail.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.tail.range");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.sequence_number.zero");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "log_entry.reserved");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_ALIGNMENT,
                "log_entry.flushed_file_offset.alignment");
    assert_int_equal(ts.sink.errors, 6);
    assert_int_equal(ts.sink.warnings, 1);
}

/* ------------------------------------------------------------------ */
/* Descriptors (§8.4, §8.5)                                             */

static void test_log_descriptor_zero_round_trip_is_byte_exact(void **state)
{
    struct log_descriptor x = zero_desc(TARGET(3), 5 * 4096), out;
    uint8_t buf[32], again[32];
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    assert_status(log_descriptor_encode(&x, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "zero", 4);
    assert_int_equal(le64_load_no_bounds_check(buf + 8), 5 * 4096);
    assert_int_equal(le64_load_no_bounds_check(buf + 16), TARGET(3));
    assert_int_equal(le64_load_no_bounds_check(buf + 24), SEQ);
    assert_status(log_descriptor_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_true(log_descriptor_equal(&x, &out));
    assert_status(log_descriptor_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
    assert_status(log_descriptor_validate(&out, SEQ, LOG_FOFF, LOG_LEN, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_descriptor_data_round_trip_is_byte_exact(void **state)
{
    struct log_descriptor x = data_desc(TARGET(4)), out;
    uint8_t buf[32], again[32];
    struct test_sink ts;
    (void)state;
    x.trailing_bytes = 0xCAFEF00D;
    x.leading_bytes = 0x0102030405060708ull;
    test_sink_init(&ts);
    assert_status(log_descriptor_encode(&x, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "desc", 4);
    assert_int_equal(le32_load_no_bounds_check(buf + 4), 0xCAFEF00D);
    assert_int_equal(le64_load_no_bounds_check(buf + 8), 0x0102030405060708ull);
    assert_int_equal(le64_load_no_bounds_check(buf + 16), TARGET(4));
    assert_int_equal(le64_load_no_bounds_check(buf + 24), SEQ);
    assert_status(log_descriptor_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_true(log_descriptor_equal(&x, &out));
    assert_status(log_descriptor_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
    assert_status(log_descriptor_validate(&out, SEQ, LOG_FOFF, LOG_LEN, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_descriptor_truncated(void **state)
{
    struct log_descriptor x = data_desc(TARGET(0)), out;
    uint8_t buf[32];
    struct test_sink ts;
    (void)state;
    assert_status(log_descriptor_encode(&x, buf, 31), VHDX_E_TRUNCATED);
    assert_status(log_descriptor_encode(&x, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(log_descriptor_decode(buf, 31, &out, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "log_entry.descriptor.truncated");
}

static void test_log_descriptor_signature(void **state)
{
    static const char *const bad[] = {"data", "loge", "Zero", "\0\0\0\0"};
    struct log_descriptor x = zero_desc(TARGET(0), 4096), out;
    uint8_t buf[32];
    struct test_sink ts;
    (void)state;
    assert_status(log_descriptor_encode(&x, buf, sizeof(buf)), VHDX_OK);
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memcpy(buf, bad[i], 4);
        test_sink_init(&ts);
        assert_status(log_descriptor_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                         "log_entry.descriptor.signature");
    }
}

static void test_log_descriptor_unknown_kind_is_invalid_arg(void **state)
{
    struct log_descriptor x = data_desc(TARGET(0));
    uint8_t buf[32];
    struct test_sink ts;
    (void)state;
    x.kind = (enum log_descriptor_kind)7;
    assert_status(log_descriptor_encode(&x, buf, sizeof(buf)), VHDX_E_INVALID_ARG);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_INVALID_ARG);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_descriptor_sequence_mismatch(void **state)
{
    struct log_descriptor x = data_desc(TARGET(0));
    struct test_sink ts;
    (void)state;
    x.sequence_number = SEQ + 1;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "log_entry.descriptor.sequence")
                         ->offset,
                     24);
    x = zero_desc(TARGET(0), 4096);
    x.sequence_number = SEQ - 1;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.descriptor.sequence");
}

static void test_log_descriptor_file_offset_alignment(void **state)
{
    struct log_descriptor x = data_desc(TARGET(0) + 512);
    struct test_sink ts;
    (void)state;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_ALIGNMENT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                                      "log_entry.descriptor.file_offset.alignment")
                         ->offset,
                     16);
    x = zero_desc(TARGET(0) + 1, 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "log_entry.descriptor.file_offset.alignment");
}

static void test_log_descriptor_zero_length_alignment(void **state)
{
    struct log_descriptor x = zero_desc(TARGET(0), 4096 + 1);
    struct test_sink ts;
    (void)state;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_ALIGNMENT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                                      "log_entry.descriptor.zero_length.alignment")
                         ->offset,
                     8);
}

static void test_log_descriptor_zero_length_zero_warns(void **state)
{
    struct log_descriptor x = zero_desc(TARGET(0), 0);
    struct test_sink ts;
    (void)state;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE,
                     "log_entry.descriptor.zero_length.zero");
    /* An empty range touches nothing, not even the log it points into. */
    x = zero_desc(LOG_FOFF, 0);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_RANGE,
                     "log_entry.descriptor.zero_length.zero");
}

static void test_log_descriptor_reserved(void **state)
{
    struct log_descriptor x = zero_desc(TARGET(0), 4096);
    struct test_sink ts;
    (void)state;
    x.reserved = 1;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "log_entry.descriptor.reserved")
                         ->offset,
                     4);
}

static void test_log_descriptor_zero_overflow_edges(void **state)
{
    struct log_descriptor x;
    struct test_sink ts;
    (void)state;
    /* End exactly 2^64 - 4096: fits. */
    x = zero_desc(UINT64_MAX - 8191, 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    /* End exactly 2^64: not representable, an overflow. */
    x = zero_desc(UINT64_MAX - 8191, 8192);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERFLOW);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW,
                                      "log_entry.descriptor.overflow")
                         ->offset,
                     16);
    /* A huge aligned length from a small offset. */
    x = zero_desc(TARGET(0), UINT64_MAX - 4095);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERFLOW);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "log_entry.descriptor.overflow");
    /* The largest length that still ends at 2^64 - 4096 from 192 KiB. */
    x = zero_desc(192 * 1024, UINT64_MAX - 4095 - 192 * 1024);
    x.zero_length &= ~4095ull;
    x.zero_length -= 4096;
    assert_status(validate_desc(x, 0, 0, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_descriptor_data_overflow_edges(void **state)
{
    struct log_descriptor x;
    struct test_sink ts;
    (void)state;
    x = data_desc(UINT64_MAX - 8191); /* ends at 2^64 - 4096 */
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    x = data_desc(UINT64_MAX - 4095); /* ends at 2^64 */
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERFLOW);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERFLOW, "log_entry.descriptor.overflow");
}

static void test_log_descriptor_target_below_192k(void **state)
{
    struct log_descriptor x = data_desc(192 * 1024 - 4096);
    struct test_sink ts;
    (void)state;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "log_entry.descriptor.target.header_area")
                         ->offset,
                     16);
    x = data_desc(192 * 1024);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    x = zero_desc(0, 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                     "log_entry.descriptor.target.header_area");
    x = zero_desc(192 * 1024, 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
}

static void test_log_descriptor_target_log_boundaries(void **state)
{
    struct log_descriptor x;
    struct test_sink ts;
    (void)state;
    /* The sector just before the log ends where it starts: allowed. */
    x = data_desc(LOG_FOFF - 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    /* The log's first sector. */
    x = data_desc(LOG_FOFF);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERLAP);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                                      "log_entry.descriptor.target.log_overlap")
                         ->offset,
                     16);
    /* The log's last sector. */
    x = data_desc(LOG_FOFF + LOG_LEN - 4096);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                     "log_entry.descriptor.target.log_overlap");
    /* The sector right after the log. */
    x = data_desc(LOG_FOFF + LOG_LEN);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    /* A zero range that ends exactly at the log start, and one 4 KiB longer. */
    x = zero_desc(LOG_FOFF - 8192, 8192);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_OK);
    x = zero_desc(LOG_FOFF - 8192, 12288);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                     "log_entry.descriptor.target.log_overlap");
    /* A zero range that covers the whole log from before to after. */
    x = zero_desc(LOG_FOFF - 4096, LOG_LEN + 8192);
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_OVERLAP);
    /* Log length 0 (unknown): not checked. */
    x = data_desc(LOG_FOFF);
    assert_status(validate_desc(x, LOG_FOFF, 0, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_descriptor_validate_reports_every_violation(void **state)
{
    struct log_descriptor x = zero_desc(4096 + 1, 4096 + 3);
    struct test_sink ts;
    (void)state;
    x.reserved = 5;
    x.sequence_number = 9;
    assert_status(validate_desc(x, LOG_FOFF, LOG_LEN, &ts), VHDX_E_CORRUPT);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.descriptor.sequence");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                "log_entry.descriptor.file_offset.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                "log_entry.descriptor.zero_length.alignment");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "log_entry.descriptor.reserved");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor.target.header_area");
    assert_int_equal(ts.sink.errors, 5);
}

/* ------------------------------------------------------------------ */
/* Data sectors (§8.6)                                                  */

static void test_log_data_sector_round_trip_is_byte_exact(void **state)
{
    static struct log_data_sector s, out;
    static uint8_t buf[4096], again[4096];
    struct test_sink ts;
    struct test_rng r;
    (void)state;
    memset(&s, 0, sizeof(s));
    test_rng_seed(&r, 11);
    test_rng_fill(&r, s.data, sizeof(s.data));
    s.sequence_high = (uint32_t)(SEQ >> 32);
    s.sequence_low = (uint32_t)SEQ;
    test_sink_init(&ts);
    assert_status(log_data_sector_encode(&s, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "data", 4);
    assert_int_equal(le32_load_no_bounds_check(buf + 4), 5);
    assert_int_equal(le32_load_no_bounds_check(buf + 4092), 7);
    assert_memory_equal(buf + 8, s.data, 4084);
    assert_status(log_data_sector_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_memory_equal(&s, &out, sizeof(s));
    assert_status(log_data_sector_validate(&out, SEQ, &ts.sink), VHDX_OK);
    assert_status(log_data_sector_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
    assert_int_equal(ts.sink.total, 0);
    assert_status(log_data_sector_encode(&s, buf, 4095), VHDX_E_TRUNCATED);
}

static void test_log_data_sector_truncated(void **state)
{
    static struct log_data_sector out;
    struct test_sink ts;
    (void)state;
    memcpy(ring, "data", 4);
    test_sink_init(&ts);
    assert_status(log_data_sector_decode(ring, 4095, &out, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED,
                     "log_entry.data_sector.truncated");
}

static void test_log_data_sector_signature(void **state)
{
    static struct log_data_sector out;
    static uint8_t buf[4096];
    struct test_sink ts;
    (void)state;
    memcpy(buf, "desc", 4);
    test_sink_init(&ts);
    assert_status(log_data_sector_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                     "log_entry.data_sector.signature");
}

static void test_log_data_sector_sequence_high_or_low_mismatch(void **state)
{
    static struct log_data_sector s;
    struct test_sink ts;
    (void)state;
    memset(&s, 0, sizeof(s));
    s.sequence_high = 6; /* torn: high half from another entry */
    s.sequence_low = (uint32_t)SEQ;
    test_sink_init(&ts);
    assert_status(log_data_sector_validate(&s, SEQ, &ts.sink), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "log_entry.data_sector.sequence")
                         ->offset,
                     4);
    s.sequence_high = (uint32_t)(SEQ >> 32);
    s.sequence_low = 8;
    test_sink_init(&ts);
    assert_status(log_data_sector_validate(&s, SEQ, &ts.sink), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "log_entry.data_sector.sequence")
                         ->offset,
                     4092);
    /* The halves swapped are a different number too. */
    s.sequence_high = (uint32_t)SEQ;
    s.sequence_low = (uint32_t)(SEQ >> 32);
    test_sink_init(&ts);
    assert_status(log_data_sector_validate(&s, SEQ, &ts.sink), VHDX_E_CORRUPT);
}

static void test_log_data_sector_make_and_rebuild_are_inverse(void **state)
{
    static uint8_t sector[4096], out[4096];
    struct log_descriptor x = data_desc(TARGET(0));
    (void)state;
    fill_pages(21);
    log_data_sector_make(pages[0], SEQ, sector, &x);
    assert_memory_equal(sector, "data", 4);
    assert_int_equal(le32_load_no_bounds_check(sector + 4), (uint32_t)(SEQ >> 32));
    assert_int_equal(le32_load_no_bounds_check(sector + 4092), (uint32_t)SEQ);
    assert_memory_equal(sector + 8, pages[0] + 8, 4084);
    assert_int_equal(x.leading_bytes, le64_load_no_bounds_check(pages[0]));
    assert_int_equal(x.trailing_bytes, le32_load_no_bounds_check(pages[0] + 4092));
    assert_int_equal(x.file_offset, TARGET(0));
    assert_int_equal(x.sequence_number, SEQ);
    log_data_sector_rebuild(&x, sector, out);
    assert_memory_equal(out, pages[0], 4096);
}

static void test_log_data_sector_make_in_place(void **state)
{
    static uint8_t buf[4096];
    struct log_descriptor x = data_desc(TARGET(0));
    (void)state;
    fill_pages(22);
    memcpy(buf, pages[1], 4096);
    log_data_sector_make(buf, SEQ, buf, &x);
    assert_memory_equal(buf, "data", 4);
    log_data_sector_rebuild(&x, buf, buf);
    assert_memory_equal(buf, pages[1], 4096);
}

/* ------------------------------------------------------------------ */
/* Whole entries                                                        */

static void test_log_entry_length_for_values(void **state)
{
    (void)state;
    assert_int_equal(log_entry_length_for(0, 0), 4096);
    assert_int_equal(log_entry_length_for(126, 0), 4096);
    assert_int_equal(log_entry_length_for(127, 0), 8192);
    assert_int_equal(log_entry_length_for(254, 0), 8192);
    assert_int_equal(log_entry_length_for(255, 0), 12288);
    assert_int_equal(log_entry_length_for(382, 0), 12288);
    assert_int_equal(log_entry_length_for(383, 0), 16384);
    assert_int_equal(log_entry_length_for(4, 3), 4 * 4096);
    assert_int_equal(log_entry_length_for(SIZE_MAX, 0), 0);
    assert_int_equal(log_entry_length_for(1, SIZE_MAX), 0);
}

static void test_log_entry_round_trip_is_byte_exact(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct log_descriptor got[4];
    const uint8_t *again_ptrs[3];
    static uint8_t rebuilt[3][4096];
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;

    fill_pages(1);
    memset(ring, 0xAA, sizeof(ring));
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 4 * 4096);
    assert_int_equal(v.header.descriptor_count, 4);
    assert_int_equal(v.descriptor_sectors, 1);
    assert_int_equal(v.data_count, 3);
    assert_int_equal(v.computed_checksum, v.header.checksum);
    assert_int_equal(v.header.checksum, linear_crc(ring, LOG_LEN, 0));

    /* The descriptors and payloads come back; re-encoding gives the same bytes. */
    for (uint32_t i = 0, j = 0; i < 4; i++) {
        assert_status(log_entry_descriptor(&v, ring, i, &got[i]), VHDX_OK);
        assert_int_equal(got[i].kind, descs[i].kind);
        assert_int_equal(got[i].file_offset, descs[i].file_offset);
        if (got[i].kind == LOG_DESCRIPTOR_DATA) {
            log_data_sector_rebuild(&got[i], log_entry_data_sector(&v, ring, j), rebuilt[j]);
            assert_memory_equal(rebuilt[j], pages[j], 4096);
            again_ptrs[j] = rebuilt[j];
            j++;
        }
    }
    memset(ring2, 0xAA, sizeof(ring2));
    assert_status(log_entry_encode(&v.header, got, 4, again_ptrs, ring2, LOG_LEN, 0), VHDX_OK);
    assert_memory_equal(ring, ring2, sizeof(ring));
}

static void test_log_entry_encode_layout_and_unused_slots(void **state)
{
    struct log_entry_header h = sample_header();
    size_t n = example_descs();
    (void)state;
    fill_pages(2);
    memset(ring, 0xAA, sizeof(ring));
    h.descriptor_count = 99; /* computed by the encoder */
    h.entry_length = 1;
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 4096), VHDX_OK);
    assert_memory_equal(ring + 4096, "loge", 4);
    assert_int_equal(le32_load_no_bounds_check(ring + 4096 + 8), 4 * 4096);
    assert_int_equal(le32_load_no_bounds_check(ring + 4096 + 24), 4);
    assert_memory_equal(ring + 4096 + 64, "desc", 4);
    assert_memory_equal(ring + 4096 + 96, "desc", 4);
    assert_memory_equal(ring + 4096 + 128, "zero", 4);
    assert_memory_equal(ring + 4096 + 160, "desc", 4);
    for (size_t i = 192; i < 4096; i++)
        assert_int_equal(ring[4096 + i], 0);
    /* Data sectors follow in descriptor order: DD1, DD2, DD4. */
    for (size_t j = 0; j < 3; j++) {
        assert_memory_equal(ring + 8192 + j * 4096, "data", 4);
        assert_memory_equal(ring + 8192 + j * 4096 + 8, pages[j] + 8, 4084);
    }
    /* Nothing outside the entry was touched. */
    assert_int_equal(ring[4095], 0xAA);
    assert_int_equal(ring[5 * 4096], 0xAA);
}

static void test_log_entry_wrapping_entry_checks_and_crc_is_ring_order(void **state)
{
    struct log_entry_header h = sample_header();
    uint8_t *log = malloc(LOG_LEN); /* exact size: ASan sees any read past the log */
    struct log_entry_view v;
    struct log_descriptor got;
    static uint8_t out[4096];
    struct test_sink ts;
    const uint32_t off = 14 * 4096; /* sectors 14, 15, 0, 1 */
    size_t n = example_descs();
    (void)state;

    assert_non_null(log);
    fill_pages(3);
    memset(log, 0x55, LOG_LEN);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, log, LOG_LEN, off), VHDX_OK);
    assert_status(check_at(log, LOG_LEN, off, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.checksum, linear_crc(log, LOG_LEN, off));
    /* The second and third data sectors wrapped to the start of the log. */
    assert_ptr_equal(log_entry_data_sector(&v, log, 0), log + 15 * 4096);
    assert_ptr_equal(log_entry_data_sector(&v, log, 1), log);
    assert_ptr_equal(log_entry_data_sector(&v, log, 2), log + 4096);
    assert_int_equal(log[2 * 4096], 0x55);
    assert_status(log_entry_descriptor(&v, log, 3, &got), VHDX_OK);
    log_data_sector_rebuild(&got, log_entry_data_sector(&v, log, 2), out);
    assert_memory_equal(out, pages[2], 4096);
    /* A flipped byte in the wrapped part breaks the CRC. */
    log[4096 + 100] ^= 1;
    assert_status(check_at(log, LOG_LEN, off, &v, &ts), VHDX_E_CHECKSUM);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "log_entry.checksum");
    free(log);
}

static void test_log_entry_wrapping_descriptor_sectors(void **state)
{
    struct log_entry_header h = sample_header();
    uint8_t *log = malloc(LOG_LEN);
    struct log_entry_view v;
    struct log_descriptor got;
    struct test_sink ts;
    const uint32_t off = 15 * 4096; /* descriptor sectors 15 and 0, data sector 1 */
    (void)state;

    assert_non_null(log);
    fill_pages(4);
    for (size_t i = 0; i < 127; i++)
        descs[i] = zero_desc(TARGET(i), 4096);
    descs[126] = data_desc(TARGET(200));
    memset(log, 0, LOG_LEN);
    assert_status(log_entry_encode(&h, descs, 127, page_ptrs, log, LOG_LEN, off), VHDX_OK);
    assert_memory_equal(log, "desc", 4); /* descriptor 126 opens the wrapped sector */
    assert_memory_equal(log + 4096, "data", 4);
    assert_status(check_at(log, LOG_LEN, off, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.descriptor_sectors, 2);
    assert_int_equal(v.header.entry_length, 3 * 4096);
    assert_status(log_entry_descriptor(&v, log, 126, &got), VHDX_OK);
    assert_int_equal(got.file_offset, TARGET(200));
    assert_ptr_equal(log_entry_data_sector(&v, log, 0), log + 4096);
    free(log);
}

static void many_zero_descs(size_t n)
{
    for (size_t i = 0; i < n; i++)
        descs[i] = zero_desc(TARGET(i), 4096);
}

static void test_log_entry_126_descriptors_fill_one_sector_127_need_two(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct log_descriptor got;
    struct test_sink ts;
    (void)state;

    many_zero_descs(127);
    assert_status(log_entry_encode(&h, descs, 126, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 4096);
    assert_int_equal(v.descriptor_sectors, 1);
    assert_memory_equal(ring + 4064, "zero", 4); /* the last slot of the first sector */

    assert_status(log_entry_encode(&h, descs, 127, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 8192);
    assert_int_equal(v.descriptor_sectors, 2);
    assert_memory_equal(ring + 4096, "zero", 4);
    assert_int_equal(le64_load_no_bounds_check(ring + 4096 + 16), TARGET(126));
    for (size_t i = 32; i < 4096; i++)
        assert_int_equal(ring[4096 + i], 0);
    assert_status(log_entry_descriptor(&v, ring, 126, &got), VHDX_OK);
    assert_int_equal(got.file_offset, TARGET(126));
    assert_status(log_entry_descriptor(&v, ring, 127, &got), VHDX_E_INVALID_ARG);
}

static void test_log_entry_254_descriptors_fill_two_sectors_255_need_three(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct log_descriptor got;
    struct test_sink ts;
    (void)state;

    many_zero_descs(255);
    assert_status(log_entry_encode(&h, descs, 254, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 8192);
    assert_int_equal(v.descriptor_sectors, 2);
    assert_memory_equal(ring + 8192 - 32, "zero", 4);

    assert_status(log_entry_encode(&h, descs, 255, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 12288);
    assert_int_equal(v.descriptor_sectors, 3);
    assert_memory_equal(ring + 8192, "zero", 4);
    assert_int_equal(le64_load_no_bounds_check(ring + 8192 + 16), TARGET(254));
    assert_status(log_entry_descriptor(&v, ring, 254, &got), VHDX_OK);
    assert_int_equal(got.file_offset, TARGET(254));
    assert_status(log_entry_descriptor(&v, ring, 253, &got), VHDX_OK);
    assert_int_equal(got.file_offset, TARGET(253));
}

static void test_log_entry_zero_descriptors_only(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    descs[0] = zero_desc(TARGET(0), 16 * 4096);
    descs[1] = zero_desc(TARGET(100), 4096);
    descs[2] = zero_desc(TARGET(50), 8 * 4096);
    assert_status(log_entry_encode(&h, descs, 3, NULL, ring, LOG_LEN, 8192), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 8192, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 4096);
    assert_int_equal(v.data_count, 0);
    assert_null(log_entry_data_sector(&v, ring, 0));
}

static void test_log_entry_no_descriptors_is_one_sector(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    /* openvmm's initialising entry: no descriptors, Tail = its own offset (§8.8). */
    h.sequence_number = 1;
    h.tail = 3 * 4096;
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 3 * 4096), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 3 * 4096, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_int_equal(v.header.entry_length, 4096);
    assert_int_equal(v.header.descriptor_count, 0);
    assert_int_equal(v.descriptor_sectors, 1);
    for (size_t i = 64; i < 4096; i++)
        assert_int_equal(ring[3 * 4096 + i], 0);
}

static void test_log_entry_length_equal_to_log_length_rejected(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    fill_pages(5);
    descs[0] = data_desc(TARGET(0));
    memset(ring, 0, sizeof(ring));
    /* EntryLength 8192 in an 8 KiB log: the encoder refuses it. */
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, 8192, 0), VHDX_E_RANGE);
    /* Written into a larger log, then viewed as an 8 KiB log: the check refuses it. */
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, 8192, 0, &v, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.entry_length.range");
    /* LogLength - 4096 is accepted by both. */
    assert_status(check_at(ring, 12288, 0, &v, &ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    memset(ring, 0, sizeof(ring));
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, 12288, 0), VHDX_OK);
    assert_status(check_at(ring, 12288, 0, &v, &ts), VHDX_OK);
}

static void test_log_entry_check_signature(void **state)
{
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    memset(ring, 0, sizeof(ring));
    assert_status(check_at(ring, LOG_LEN, 4096, &v, &ts), VHDX_E_SIGNATURE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "log_entry.signature");
}

static void test_log_entry_check_log_guid_mismatch(void **state)
{
    static const uint8_t d4[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    h.log_guid = guid_make(7, 7, 7, d4);
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.log_guid");
    /* Unknown log GUID: accepted. */
    test_sink_init(&ts);
    assert_status(log_entry_check(ring, LOG_LEN, 0, NULL, LOG_FOFF, &v, &ts.sink), VHDX_OK);
}

static void test_log_entry_check_header_field_rule_offsets_are_log_relative(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    h.tail = LOG_LEN;
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 2 * 4096), VHDX_OK);
    test_sink_init(&ts);
    ts.sink.base = LOG_FOFF;
    assert_status(log_entry_check(ring, LOG_LEN, 2 * 4096, NULL, LOG_FOFF, &v, &ts.sink),
                  VHDX_E_RANGE);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.tail.range")->offset,
        LOG_FOFF + 2 * 4096 + 12);
    assert_int_equal(ts.sink.base, LOG_FOFF); /* the sink's base is restored */
}

static void test_log_entry_check_unwalkable_header_stops(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 0), VHDX_OK);
    le32_store_no_bounds_check(ring + 24, 127); /* 127 descriptors in a 4 KiB entry */
    restamp(ring, LOG_LEN, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor_count.range");
    le32_store_no_bounds_check(ring + 24, 0);
    le32_store_no_bounds_check(ring + 8, 4096 + 8);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                     "log_entry.entry_length.alignment");
    le32_store_no_bounds_check(ring + 8, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_RANGE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.entry_length.zero");
}

static void test_log_entry_check_descriptor_signature(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(6);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    memcpy(ring + 64 + 32, "DESC", 4);
    restamp(ring, LOG_LEN, 0);
    test_sink_init(&ts);
    ts.sink.base = LOG_FOFF;
    assert_status(log_entry_check(ring, LOG_LEN, 0, NULL, LOG_FOFF, &v, &ts.sink),
                  VHDX_E_SIGNATURE);
    /* The number of data sectors is unknown then: no length finding follows. */
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                                      "log_entry.descriptor.signature")
                         ->offset,
                     LOG_FOFF + 96);
}

static void test_log_entry_check_descriptor_sequence(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(7);
    descs[2].sequence_number = SEQ - 1; /* the encoder keeps it, and stamps a good CRC */
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "log_entry.descriptor.sequence")
                         ->offset,
                     64 + 2 * 32 + 24);
}

static void test_log_entry_check_descriptor_target_in_log(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    fill_pages(8);
    descs[0] = zero_desc(TARGET(0), 4096);
    descs[1] = data_desc(LOG_FOFF + 4096);
    assert_status(log_entry_encode(&h, descs, 2, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                     "log_entry.descriptor.target.log_overlap");
    /* The same entry in a log that lives elsewhere is fine. */
    test_sink_init(&ts);
    assert_status(log_entry_check(ring, LOG_LEN, 0, NULL, 8 * LOG_FOFF, &v, &ts.sink), VHDX_OK);
}

static void test_log_entry_check_length_mismatch_too_long(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    fill_pages(9);
    descs[0] = data_desc(TARGET(0));
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    le32_store_no_bounds_check(ring + 8, 3 * 4096); /* one padding sector (QEMU accepts) */
    restamp(ring, LOG_LEN, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CORRUPT);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.length.mismatch")
            ->offset,
        8);
}

static void test_log_entry_check_length_mismatch_too_short(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    fill_pages(10);
    descs[0] = data_desc(TARGET(0));
    descs[1] = data_desc(TARGET(1));
    assert_status(log_entry_encode(&h, descs, 2, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    le32_store_no_bounds_check(ring + 8, 2 * 4096); /* the second data sector is cut off */
    restamp(ring, LOG_LEN, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CORRUPT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.length.mismatch");
}

static void test_log_entry_check_data_sector_signature(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(11);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 13 * 4096), VHDX_OK);
    ring[0] = 'D'; /* the third data sector, wrapped to the log start */
    restamp(ring, LOG_LEN, 13 * 4096);
    test_sink_init(&ts);
    ts.sink.base = LOG_FOFF;
    assert_status(log_entry_check(ring, LOG_LEN, 13 * 4096, NULL, LOG_FOFF, &v, &ts.sink),
                  VHDX_E_SIGNATURE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE,
                                      "log_entry.data_sector.signature")
                         ->offset,
                     LOG_FOFF);
}

static void test_log_entry_check_data_sector_sequence(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(12);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    /* A torn write: the second data sector's low half is from the next entry. */
    le32_store_no_bounds_check(ring + 2 * 4096 + 4092, (uint32_t)SEQ + 1);
    restamp(ring, LOG_LEN, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CORRUPT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT,
                                      "log_entry.data_sector.sequence")
                         ->offset,
                     2 * 4096 + 4092);
}

static void test_log_entry_check_checksum(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(13);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    ring[3 * 4096 + 2000] ^= 0x80; /* payload bytes of a data sector */
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CHECKSUM);
    assert_int_equal(
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "log_entry.checksum")->offset,
        4);
    ring[3 * 4096 + 2000] ^= 0x80;
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    /* The checksum field itself. */
    ring[4] ^= 1;
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CHECKSUM);
    ring[4] ^= 1;
    /* The bytes just past the entry are not covered. */
    ring[4 * 4096] ^= 0xFF;
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
}

static void test_log_entry_check_checksum_covers_unused_descriptor_slots(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    descs[0] = zero_desc(TARGET(0), 4096);
    assert_status(log_entry_encode(&h, descs, 1, NULL, ring, LOG_LEN, 0), VHDX_OK);
    ring[4095] = 1;
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_CHECKSUM);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "log_entry.checksum");
    /* Garbage in unused slots with a matching CRC is accepted (writers should zero them). */
    restamp(ring, LOG_LEN, 0);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
}

static void test_log_entry_check_reports_every_violation(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(14);
    h.reserved = 3;
    descs[0].file_offset = 4096;
    descs[2].sequence_number = 1;
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    memcpy(ring + 2 * 4096, "xxxx", 4);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_E_RESERVED);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "log_entry.reserved");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.descriptor.target.header_area");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CORRUPT, "log_entry.descriptor.sequence");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "log_entry.data_sector.signature");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_CHECKSUM, "log_entry.checksum");
    assert_int_equal(ts.sink.errors, 5);
}

static void test_log_entry_check_bad_geometry_is_invalid_arg(void **state)
{
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    assert_status(check_at(ring, 0, 0, &v, &ts), VHDX_E_INVALID_ARG);
    assert_status(check_at(ring, LOG_LEN - 1, 0, &v, &ts), VHDX_E_INVALID_ARG);
    assert_status(check_at(ring, LOG_LEN, 512, &v, &ts), VHDX_E_INVALID_ARG);
    assert_status(check_at(ring, LOG_LEN, LOG_LEN, &v, &ts), VHDX_E_INVALID_ARG);
    assert_status(check_at(NULL, LOG_LEN, 0, &v, &ts), VHDX_E_INVALID_ARG);
    assert_int_equal(ts.sink.total, 0);
}

static void test_log_entry_check_one_sector_log_rejects_every_entry(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct test_sink ts;
    (void)state;
    /* Even a descriptor-less entry (4096 bytes) is not shorter than a 4 KiB log. */
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, 4096, 0), VHDX_E_RANGE);
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, 4096, 0, &v, &ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "log_entry.entry_length.range");
}

static void test_log_entry_check_accepts_null_view_and_sink(void **state)
{
    struct log_entry_header h = sample_header();
    (void)state;
    assert_status(log_entry_encode(&h, NULL, 0, NULL, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(log_entry_check(ring, LOG_LEN, 0, NULL, LOG_FOFF, NULL, NULL), VHDX_OK);
    ring[100] ^= 1;
    assert_status(log_entry_check(ring, LOG_LEN, 0, NULL, LOG_FOFF, NULL, NULL),
                  VHDX_E_CHECKSUM);
}

static void test_log_entry_encode_argument_errors(void **state)
{
    struct log_entry_header h = sample_header();
    const uint8_t *missing[1] = {NULL};
    (void)state;
    fill_pages(15);
    descs[0] = data_desc(TARGET(0));
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, NULL, LOG_LEN, 0),
                  VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN + 1, 0),
                  VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN, 100),
                  VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN, LOG_LEN),
                  VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, descs, 1, NULL, ring, LOG_LEN, 0), VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, descs, 1, missing, ring, LOG_LEN, 0), VHDX_E_INVALID_ARG);
    assert_status(log_entry_encode(&h, NULL, 1, page_ptrs, ring, LOG_LEN, 0), VHDX_E_INVALID_ARG);
    descs[0].kind = (enum log_descriptor_kind)0;
    assert_status(log_entry_encode(&h, descs, 1, page_ptrs, ring, LOG_LEN, 0), VHDX_E_INVALID_ARG);
}

static void test_log_entry_encode_too_long_is_range(void **state)
{
    struct log_entry_header h = sample_header();
    static const uint8_t *ptrs[16];
    (void)state;
    fill_pages(16);
    for (size_t i = 0; i < 15; i++) {
        descs[i] = data_desc(TARGET(i));
        ptrs[i] = pages[i % 8];
    }
    /* 1 + 15 sectors = the whole 64 KiB log: refused; 1 + 14 fits. */
    assert_status(log_entry_encode(&h, descs, 15, ptrs, ring, LOG_LEN, 0), VHDX_E_RANGE);
    assert_status(log_entry_encode(&h, descs, 14, ptrs, ring, LOG_LEN, 0), VHDX_OK);
}

static void test_log_entry_view_accessors_reject_out_of_range(void **state)
{
    struct log_entry_header h = sample_header();
    struct log_entry_view v;
    struct log_descriptor got;
    struct test_sink ts;
    size_t n = example_descs();
    (void)state;
    fill_pages(17);
    assert_status(log_entry_encode(&h, descs, n, page_ptrs, ring, LOG_LEN, 0), VHDX_OK);
    assert_status(check_at(ring, LOG_LEN, 0, &v, &ts), VHDX_OK);
    assert_status(log_entry_descriptor(&v, ring, 4, &got), VHDX_E_INVALID_ARG);
    assert_null(log_entry_data_sector(&v, ring, 3));
    assert_non_null(log_entry_data_sector(&v, ring, 2));
    memset(&v, 0, sizeof(v));
    assert_status(log_entry_descriptor(&v, ring, 0, &got), VHDX_E_INVALID_ARG);
    assert_null(log_entry_data_sector(&v, ring, 0));
}

static void test_log_entry_equal_helpers_compare_every_field(void **state)
{
    struct log_entry_header a = sample_header(), b;
    struct log_descriptor x = data_desc(TARGET(1)), y;
    (void)state;
    b = a;
    assert_true(log_entry_header_equal(&a, &b));
    for (int f = 0; f < 9; f++) {
        b = a;
        switch (f) {
        case 0: b.checksum++; break;
        case 1: b.entry_length++; break;
        case 2: b.tail++; break;
        case 3: b.descriptor_count++; break;
        case 4: b.sequence_number++; break;
        case 5: b.reserved++; break;
        case 6: b.log_guid.b[15]++; break;
        case 7: b.flushed_file_offset++; break;
        default: b.last_file_offset++; break;
        }
        assert_false(log_entry_header_equal(&a, &b));
    }
    y = x;
    assert_true(log_descriptor_equal(&x, &y));
    for (int f = 0; f < 7; f++) {
        y = x;
        switch (f) {
        case 0: y.kind = LOG_DESCRIPTOR_ZERO; break;
        case 1: y.trailing_bytes++; break;
        case 2: y.leading_bytes++; break;
        case 3: y.reserved++; break;
        case 4: y.zero_length++; break;
        case 5: y.file_offset++; break;
        default: y.sequence_number++; break;
        }
        assert_false(log_descriptor_equal(&x, &y));
    }
}

/* The position helpers, at the sector boundaries of the descriptors and around the ring. */
static void test_log_entry_positions_at_boundaries(void **state)
{
    const uint32_t L = 1024u * 1024u;
    (void)state;
    assert_int_equal(log_entry_descriptor_sectors(0), 1);
    assert_int_equal(log_entry_descriptor_sectors(126), 1);
    assert_int_equal(log_entry_descriptor_sectors(127), 2);
    assert_int_equal(log_entry_descriptor_sectors(254), 2);
    assert_int_equal(log_entry_descriptor_sectors(255), 3);
    assert_int_equal(log_entry_sector_offset(L, 8192, 1), 12288);
    assert_int_equal(log_entry_sector_offset(L, L - 4096, 1), 0);
    assert_int_equal(log_entry_sector_offset(L, L - 4096, 3), 8192);
    assert_int_equal(log_entry_descriptor_offset(L, 4096, 0), 4096 + 64);
    assert_int_equal(log_entry_descriptor_offset(L, 4096, 125), 4096 + 64 + 125 * 32);
    assert_int_equal(log_entry_descriptor_offset(L, 4096, 126), 8192);
    assert_int_equal(log_entry_descriptor_offset(L, 4096, 253), 8192 + 127 * 32);
    assert_int_equal(log_entry_descriptor_offset(L, 4096, 254), 12288);
    assert_int_equal(log_entry_descriptor_offset(L, L - 4096, 126), 0);
}

/*
 * A log region whose end passes 2^64 (only a hostile header says so) is
 * open-ended: every target from its start up overlaps it, none below.
 */
static void test_log_desc_log_reaching_the_top_of_the_space(void **state)
{
    struct test_sink ts;
    const uint64_t log_off = UINT64_MAX - 0xFFFFFull; /* 1 MiB below 2^64; the log is 2 MiB */
    (void)state;
    assert_status(validate_desc(data_desc(TARGET(0)), log_off, LOG_LEN * 32u, &ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_status(validate_desc(zero_desc(0xFFFFFFFFFFF7E000ull, 4096), log_off,
                                LOG_LEN * 32u, &ts),
                  VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                     "log_entry.descriptor.target.log_overlap");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_desc_log_reaching_the_top_of_the_space),
        cmocka_unit_test(test_log_entry_positions_at_boundaries),
        cmocka_unit_test(test_log_entry_header_round_trip_is_byte_exact),
        cmocka_unit_test(test_log_entry_header_encode_field_offsets),
        cmocka_unit_test(test_log_entry_header_encode_short_buffer_fails),
        cmocka_unit_test(test_log_entry_header_truncated),
        cmocka_unit_test(test_log_entry_header_signature),
        cmocka_unit_test(test_log_entry_header_valid_fields_have_no_findings),
        cmocka_unit_test(test_log_entry_header_log_guid_mismatch),
        cmocka_unit_test(test_log_entry_header_entry_length_zero),
        cmocka_unit_test(test_log_entry_header_entry_length_alignment),
        cmocka_unit_test(test_log_entry_header_entry_length_equal_to_log_length_rejected),
        cmocka_unit_test(test_log_entry_header_tail_alignment),
        cmocka_unit_test(test_log_entry_header_tail_range),
        cmocka_unit_test(test_log_entry_header_sequence_number_zero),
        cmocka_unit_test(test_log_entry_header_reserved),
        cmocka_unit_test(test_log_entry_header_descriptor_count_range),
        cmocka_unit_test(test_log_entry_header_descriptor_count_uses_64_bit_math),
        cmocka_unit_test(test_log_entry_header_file_offsets_not_1mib_warn),
        cmocka_unit_test(test_log_entry_header_last_below_flushed_is_not_a_rule),
        cmocka_unit_test(test_log_entry_header_validate_reports_every_violation),
        cmocka_unit_test(test_log_descriptor_zero_round_trip_is_byte_exact),
        cmocka_unit_test(test_log_descriptor_data_round_trip_is_byte_exact),
        cmocka_unit_test(test_log_descriptor_truncated),
        cmocka_unit_test(test_log_descriptor_signature),
        cmocka_unit_test(test_log_descriptor_unknown_kind_is_invalid_arg),
        cmocka_unit_test(test_log_descriptor_sequence_mismatch),
        cmocka_unit_test(test_log_descriptor_file_offset_alignment),
        cmocka_unit_test(test_log_descriptor_zero_length_alignment),
        cmocka_unit_test(test_log_descriptor_zero_length_zero_warns),
        cmocka_unit_test(test_log_descriptor_reserved),
        cmocka_unit_test(test_log_descriptor_zero_overflow_edges),
        cmocka_unit_test(test_log_descriptor_data_overflow_edges),
        cmocka_unit_test(test_log_descriptor_target_below_192k),
        cmocka_unit_test(test_log_descriptor_target_log_boundaries),
        cmocka_unit_test(test_log_descriptor_validate_reports_every_violation),
        cmocka_unit_test(test_log_data_sector_round_trip_is_byte_exact),
        cmocka_unit_test(test_log_data_sector_truncated),
        cmocka_unit_test(test_log_data_sector_signature),
        cmocka_unit_test(test_log_data_sector_sequence_high_or_low_mismatch),
        cmocka_unit_test(test_log_data_sector_make_and_rebuild_are_inverse),
        cmocka_unit_test(test_log_data_sector_make_in_place),
        cmocka_unit_test(test_log_entry_length_for_values),
        cmocka_unit_test(test_log_entry_round_trip_is_byte_exact),
        cmocka_unit_test(test_log_entry_encode_layout_and_unused_slots),
        cmocka_unit_test(test_log_entry_wrapping_entry_checks_and_crc_is_ring_order),
        cmocka_unit_test(test_log_entry_wrapping_descriptor_sectors),
        cmocka_unit_test(test_log_entry_126_descriptors_fill_one_sector_127_need_two),
        cmocka_unit_test(test_log_entry_254_descriptors_fill_two_sectors_255_need_three),
        cmocka_unit_test(test_log_entry_zero_descriptors_only),
        cmocka_unit_test(test_log_entry_no_descriptors_is_one_sector),
        cmocka_unit_test(test_log_entry_length_equal_to_log_length_rejected),
        cmocka_unit_test(test_log_entry_check_signature),
        cmocka_unit_test(test_log_entry_check_log_guid_mismatch),
        cmocka_unit_test(test_log_entry_check_header_field_rule_offsets_are_log_relative),
        cmocka_unit_test(test_log_entry_check_unwalkable_header_stops),
        cmocka_unit_test(test_log_entry_check_descriptor_signature),
        cmocka_unit_test(test_log_entry_check_descriptor_sequence),
        cmocka_unit_test(test_log_entry_check_descriptor_target_in_log),
        cmocka_unit_test(test_log_entry_check_length_mismatch_too_long),
        cmocka_unit_test(test_log_entry_check_length_mismatch_too_short),
        cmocka_unit_test(test_log_entry_check_data_sector_signature),
        cmocka_unit_test(test_log_entry_check_data_sector_sequence),
        cmocka_unit_test(test_log_entry_check_checksum),
        cmocka_unit_test(test_log_entry_check_checksum_covers_unused_descriptor_slots),
        cmocka_unit_test(test_log_entry_check_reports_every_violation),
        cmocka_unit_test(test_log_entry_check_bad_geometry_is_invalid_arg),
        cmocka_unit_test(test_log_entry_check_one_sector_log_rejects_every_entry),
        cmocka_unit_test(test_log_entry_check_accepts_null_view_and_sink),
        cmocka_unit_test(test_log_entry_encode_argument_errors),
        cmocka_unit_test(test_log_entry_encode_too_long_is_range),
        cmocka_unit_test(test_log_entry_view_accessors_reject_out_of_range),
        cmocka_unit_test(test_log_entry_equal_helpers_compare_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
