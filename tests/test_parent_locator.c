/* Parent locator item (VHDX-FORMAT.md §5.4.6): round trip, helpers and one test per rule. */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/parent_locator.h"

#define LINKAGE "{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}"
#define RELATIVE "..\\..\\path2\\sub3\\parent.vhdx"
#define VOLUME "\\\\?\\Volume{26A21BDA-A627-11D7-9931-806E6F6E6963}\\path2\\sub3\\parent.vhdx"
#define ABSOLUTE "\\\\?\\d:\\path2\\sub3\\parent.vhdx"

static uint8_t item[16384];
static uint8_t again[16384];
static size_t item_len;
static struct parent_locator pl, pl2;

static const struct parent_locator_kv SAMPLE[] = {
    {"parent_linkage", LINKAGE},
    {"relative_path", RELATIVE},
    {"volume_path", VOLUME},
    {"absolute_win32_path", ABSOLUTE},
};

static void build(const struct guid *type, const struct parent_locator_kv *pairs, size_t n)
{
    assert_status(parent_locator_build(type, pairs, n, item, sizeof(item), &item_len), VHDX_OK);
}

static void build_vhdx(const struct parent_locator_kv *pairs, size_t n)
{
    build(&VHDX_GUID_LOCATOR_TYPE_VHDX, pairs, n);
}

static vhdx_status decode(struct test_sink *ts)
{
    test_sink_init(ts);
    return parent_locator_decode(item, item_len, 0, &pl, &ts->sink);
}

/* Decodes (which must succeed cleanly) and validates. */
static vhdx_status decode_validate(struct test_sink *ts)
{
    assert_status(decode(ts), VHDX_OK);
    assert_int_equal(ts->sink.total, 0);
    return parent_locator_validate(&pl, item, item_len, &ts->sink);
}

/* A header with count entries and no strings; entries are set with set_entry. */
static void raw_header(uint16_t count, size_t len)
{
    memset(item, 0, sizeof(item));
    memcpy(item, VHDX_GUID_LOCATOR_TYPE_VHDX.b, 16);
    le16_store_no_bounds_check(item + 18, count);
    item_len = len;
}

static void set_entry(size_t i, uint32_t koff, uint32_t voff, uint16_t klen, uint16_t vlen)
{
    uint8_t *e = item + 20 + 12 * i;
    le32_store_no_bounds_check(e, koff);
    le32_store_no_bounds_check(e + 4, voff);
    le16_store_no_bounds_check(e + 8, klen);
    le16_store_no_bounds_check(e + 10, vlen);
}

/* The byte offset in item of entry i's value. */
static size_t value_at(size_t i)
{
    return le32_load_no_bounds_check(item + 20 + 12 * i + 4);
}

/* ---- round trip, layout and helpers ---- */

static void test_parent_locator_round_trip_is_byte_exact(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    assert_status(decode_validate(&ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(parent_locator_encode(&pl, item, item_len, again, item_len), VHDX_OK);
    assert_memory_equal(item, again, item_len);
    test_sink_init(&ts);
    memset(&pl2, 0, sizeof(pl2));
    assert_status(parent_locator_decode(again, item_len, 0, &pl2, &ts.sink), VHDX_OK);
    assert_memory_equal(&pl, &pl2, sizeof(pl));
}

static void test_parent_locator_build_layout(void **state)
{
    struct test_sink ts;
    size_t kl;
    const uint8_t *k;
    (void)state;
    build_vhdx(SAMPLE, 4);
    assert_memory_equal(item, VHDX_GUID_LOCATOR_TYPE_VHDX.b, 16);
    assert_int_equal(le16_load_no_bounds_check(item + 16), 0);
    assert_int_equal(le16_load_no_bounds_check(item + 18), 4);
    /* Key 0 right after the 4-entry table: 20 + 48 = 68, 14 characters. */
    assert_int_equal(le32_load_no_bounds_check(item + 20), 68);
    assert_int_equal(le16_load_no_bounds_check(item + 28), 28);
    assert_int_equal(le32_load_no_bounds_check(item + 24), 68 + 28);
    assert_int_equal(le16_load_no_bounds_check(item + 30), 2 * strlen(LINKAGE));
    assert_int_equal(item[68], 'p');
    assert_int_equal(item[69], 0);
    assert_status(decode(&ts), VHDX_OK);
    k = parent_locator_key(&pl, item, item_len, 3, &kl);
    assert_non_null(k);
    assert_int_equal(kl, 2 * strlen("absolute_win32_path"));
    assert_int_equal(k[0], 'a');
    assert_null(parent_locator_key(&pl, item, item_len, 4, &kl));
    assert_int_equal(kl, 0);
    assert_null(parent_locator_value(&pl, item, item_len, 4, &kl));
    assert_non_null(parent_locator_value(&pl, item, item_len, 0, &kl));
    assert_int_equal(kl, 2 * strlen(LINKAGE));
    /* An accessor never returns a slice outside the buffer it is given. */
    assert_null(parent_locator_value(&pl, item, 100, 3, &kl));
}

static void test_parent_locator_find_returns_utf8_value(void **state)
{
    struct test_sink ts;
    char out[256];
    size_t n;
    (void)state;
    build_vhdx(SAMPLE, 4);
    assert_status(decode(&ts), VHDX_OK);
    assert_status(parent_locator_find(&pl, item, item_len, "volume_path", 11, out, sizeof(out), &n),
                  VHDX_OK);
    assert_string_equal(out, VOLUME);
    assert_int_equal(n, strlen(VOLUME));
    assert_status(parent_locator_find(&pl, item, item_len, "parent_linkage", 14, out,
                                      sizeof(out), &n),
                  VHDX_OK);
    assert_string_equal(out, LINKAGE);
    /* Keys are case-sensitive and matched whole. */
    assert_status(parent_locator_find(&pl, item, item_len, "Volume_path", 11, out, sizeof(out),
                                      &n),
                  VHDX_E_MISSING);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_status(parent_locator_find(&pl, item, item_len, "parent_linkage2", 15, out,
                                      sizeof(out), &n),
                  VHDX_E_MISSING);
    assert_status(parent_locator_find(&pl, item, item_len, "", 0, out, sizeof(out), &n),
                  VHDX_E_MISSING);
}

static void test_parent_locator_find_errors(void **state)
{
    static char long_key[300];
    struct test_sink ts;
    char out[16];
    (void)state;
    build_vhdx(SAMPLE, 4);
    assert_status(decode(&ts), VHDX_OK);
    /* The value does not fit: a truncated, NUL-terminated prefix and VHDX_E_LIMIT. */
    assert_status(parent_locator_find(&pl, item, item_len, "relative_path", 13, out, sizeof(out),
                                      NULL),
                  VHDX_E_LIMIT);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_status(parent_locator_find(&pl, item, item_len, "relative_path", 13, NULL, 0, NULL),
                  VHDX_E_INVALID_ARG);
    memset(long_key, 'k', sizeof(long_key));
    assert_status(parent_locator_find(&pl, item, item_len, long_key, sizeof(long_key), out,
                                      sizeof(out), NULL),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_find(&pl, item, item_len, "\xC0\x80", 2, out, sizeof(out), NULL),
                  VHDX_E_ENCODING);
    /* A stored value that is not valid UTF-16. */
    le16_store_no_bounds_check(item + value_at(1), 0xDC00);
    assert_status(parent_locator_find(&pl, item, item_len, "relative_path", 13, out, sizeof(out),
                                      NULL),
                  VHDX_E_ENCODING);
}

static void test_parent_locator_surrogate_pair_is_valid(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage", LINKAGE},
        {"relative_path", "..\\\xF0\x9F\x98\x80\\parent.vhdx"}, /* U+1F600 */
    };
    struct test_sink ts;
    char out[64];
    (void)state;
    build_vhdx(pairs, 2);
    assert_int_equal(le16_load_no_bounds_check(item + value_at(1) + 6), 0xD83D);
    assert_int_equal(le16_load_no_bounds_check(item + value_at(1) + 8), 0xDE00);
    assert_status(decode_validate(&ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    assert_status(parent_locator_find(&pl, item, item_len, "relative_path", 13, out, sizeof(out),
                                      NULL),
                  VHDX_OK);
    assert_string_equal(out, pairs[1].value);
}

static void test_parent_locator_encode_errors(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    assert_status(decode(&ts), VHDX_OK);
    /* The output must hold every string; the source must too. */
    assert_status(parent_locator_encode(&pl, item, item_len, again, item_len - 1),
                  VHDX_E_TRUNCATED);
    assert_status(parent_locator_encode(&pl, item, item_len, again, 20 + 12 * 4 - 1),
                  VHDX_E_TRUNCATED);
    assert_status(parent_locator_encode(&pl, item, item_len - 1, again, item_len),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_encode(&pl, NULL, 0, again, item_len), VHDX_E_INVALID_ARG);
    assert_status(parent_locator_encode(&pl, item, item_len, NULL, 0), VHDX_E_INVALID_ARG);
    pl.entries[0].key_offset = 20;
    assert_status(parent_locator_encode(&pl, item, item_len, again, item_len),
                  VHDX_E_INVALID_ARG);
}

static void test_parent_locator_build_errors(void **state)
{
    static const struct parent_locator_kv empty_key[] = {{"", "x"}};
    static const struct parent_locator_kv empty_value[] = {{"k", ""}};
    static const struct parent_locator_kv null_value[] = {{"k", NULL}};
    static const struct parent_locator_kv bad_utf8[] = {{"k", "\xFF"}};
    static char huge[40000];
    struct parent_locator_kv too_long[1] = {{"k", huge}};
    size_t n = 99;
    (void)state;
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, SAMPLE, 0, item,
                                       sizeof(item), &n),
                  VHDX_E_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, SAMPLE, 257, item,
                                       sizeof(item), &n),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, empty_key, 1, item,
                                       sizeof(item), &n),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, empty_value, 1, item,
                                       sizeof(item), &n),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, null_value, 1, item,
                                       sizeof(item), &n),
                  VHDX_E_INVALID_ARG);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, bad_utf8, 1, item,
                                       sizeof(item), &n),
                  VHDX_E_ENCODING);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, SAMPLE, 4, item, 60, &n),
                  VHDX_E_LIMIT);
    assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, SAMPLE, 4, item, 100, &n),
                  VHDX_E_LIMIT);
    /* 33333 characters are 66666 bytes in UTF-16: more than a u16 length holds. */
    memset(huge, 'a', 33333);
    {
        static uint8_t big[70000];
        assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, too_long, 1, big,
                                           sizeof(big), &n),
                      VHDX_E_RANGE);
        /* 32767 characters, 65534 bytes: the longest string that fits. */
        huge[32767] = '\0';
        assert_status(parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, too_long, 1, big,
                                           sizeof(big), &n),
                      VHDX_OK);
        assert_int_equal(n, 20 + 12 + 2 + 65534);
    }
}

/* ---- decode rules ---- */

static void test_parent_locator_truncated(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    test_sink_init(&ts);
    assert_status(parent_locator_decode(item, 19, 0, &pl, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "parent_locator.truncated");
    /* Header present, entry table cut short by one byte. */
    test_sink_init(&ts);
    assert_status(parent_locator_decode(item, 20 + 4 * 12 - 1, 0, &pl, &ts.sink),
                  VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "parent_locator.truncated");
    test_sink_init(&ts);
    assert_status(parent_locator_decode(NULL, 0, 0, &pl, &ts.sink), VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "parent_locator.truncated");
}

static void test_parent_locator_reserved(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    item[17] = 0x01;
    assert_status(decode(&ts), VHDX_E_RESERVED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED,
                                      "parent_locator.reserved")
                         ->offset,
                     16);
}

static void test_parent_locator_count_zero(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(0, 20);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.count.zero")
                         ->offset,
                     18);
}

static void test_parent_locator_count_257_over_limit(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(257, sizeof(item));
    assert_status(decode(&ts), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "parent_locator.count.limit");
    /* A caller's limit above 256 cannot raise the struct's capacity. */
    test_sink_init(&ts);
    assert_status(parent_locator_decode(item, item_len, 100000, &pl, &ts.sink), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "parent_locator.count.limit");
    raw_header(0xFFFF, sizeof(item));
    assert_status(decode(&ts), VHDX_E_LIMIT);
}

static void test_parent_locator_count_256_valid(void **state)
{
    static struct parent_locator_kv pairs[256];
    static char names[256][8];
    struct test_sink ts;
    (void)state;
    pairs[0].key = "parent_linkage";
    pairs[0].value = LINKAGE;
    pairs[1].key = "relative_path";
    pairs[1].value = RELATIVE;
    for (size_t i = 2; i < 256; i++) {
        snprintf(names[i], sizeof(names[i]), "k%03zu", i);
        pairs[i].key = names[i];
        pairs[i].value = "v";
    }
    build_vhdx(pairs, 256);
    assert_status(decode_validate(&ts), VHDX_OK);
    assert_no_findings(&ts);
    assert_int_equal(ts.sink.infos, 254);
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "parent_locator.key.unknown");
}

static void test_parent_locator_count_over_caller_limit(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    test_sink_init(&ts);
    assert_status(parent_locator_decode(item, item_len, 3, &pl, &ts.sink), VHDX_E_LIMIT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_LIMIT, "parent_locator.count.limit");
    test_sink_init(&ts);
    assert_status(parent_locator_decode(item, item_len, 4, &pl, &ts.sink), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_parent_locator_offset_zero(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(1, 64);
    set_entry(0, 0, 40, 4, 4);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.entry.offset.zero")
                         ->offset,
                     20);
    set_entry(0, 40, 0, 4, 4);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.entry.offset.zero")
                         ->offset,
                     24);
}

static void test_parent_locator_length_zero(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(1, 64);
    set_entry(0, 32, 40, 0, 4);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.entry.length.zero")
                         ->offset,
                     28);
    set_entry(0, 32, 40, 4, 0);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.entry.length.zero")
                         ->offset,
                     30);
}

static void test_parent_locator_odd_offsets_and_lengths(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(1, 64);
    set_entry(0, 33, 40, 4, 4); /* odd key offset */
    assert_status(decode(&ts), VHDX_E_ALIGNMENT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                                      "parent_locator.entry.odd")
                         ->offset,
                     20);
    set_entry(0, 32, 40, 3, 4); /* odd key length */
    assert_status(decode(&ts), VHDX_E_ALIGNMENT);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT,
                                      "parent_locator.entry.odd")
                         ->offset,
                     28);
    set_entry(0, 32, 41, 4, 4); /* odd value offset */
    assert_status(decode(&ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "parent_locator.entry.odd");
    set_entry(0, 32, 40, 4, 5); /* odd value length */
    assert_status(decode(&ts), VHDX_E_ALIGNMENT);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "parent_locator.entry.odd");
}

static void test_parent_locator_string_past_item_end(void **state)
{
    struct test_sink ts;
    (void)state;
    /* Exactly to the end is fine. */
    raw_header(1, 64);
    set_entry(0, 32, 60, 4, 4);
    assert_status(decode(&ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
    set_entry(0, 32, 62, 4, 4);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                      "parent_locator.entry.bounds")
                         ->offset,
                     24);
    /* The largest offset: offset + length computed without wrapping. */
    set_entry(0, 0xFFFFFFFEu, 40, 0xFFFE, 4);
    assert_status(decode(&ts), VHDX_E_RANGE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "parent_locator.entry.bounds");
}

static void test_parent_locator_string_overlapping_header(void **state)
{
    struct test_sink ts;
    (void)state;
    /* Two entries: the table ends at 44. A key at 42 overlaps the second entry. */
    raw_header(2, 80);
    set_entry(0, 44, 48, 4, 4);
    set_entry(1, 42, 56, 4, 4);
    assert_status(decode(&ts), VHDX_E_OVERLAP);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                                      "parent_locator.entry.overlaps_header")
                         ->offset,
                     32);
    /* A value inside the 20-byte header. */
    set_entry(1, 52, 2, 4, 4);
    assert_status(decode(&ts), VHDX_E_OVERLAP);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_OVERLAP,
                     "parent_locator.entry.overlaps_header");
    /* Starting exactly at the end of the table is allowed. */
    set_entry(1, 52, 44, 4, 4);
    assert_status(decode(&ts), VHDX_OK);
    assert_int_equal(ts.sink.total, 0);
}

static void test_parent_locator_decode_reports_every_bad_entry(void **state)
{
    struct test_sink ts;
    (void)state;
    raw_header(3, 100);
    set_entry(0, 0, 56, 4, 4);
    set_entry(1, 57, 60, 4, 4);
    set_entry(2, 64, 98, 4, 4);
    item[16] = 1;
    assert_status(decode(&ts), VHDX_E_RESERVED);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RESERVED, "parent_locator.reserved");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "parent_locator.entry.offset.zero");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ALIGNMENT, "parent_locator.entry.odd");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "parent_locator.entry.bounds");
    assert_int_equal(ts.sink.errors, 4);
}

/* ---- validate rules ---- */

static void test_parent_locator_lone_high_surrogate_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    le16_store_no_bounds_check(item + value_at(1) + 4, 0xD800); /* followed by a '.' */
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING,
                                      "parent_locator.entry.encoding")
                         ->offset,
                     value_at(1) + 4);
    /* A high surrogate as the last unit has nothing to pair with. */
    build_vhdx(SAMPLE, 4);
    le16_store_no_bounds_check(item + value_at(1) + 2 * strlen(RELATIVE) - 2, 0xDBFF);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
}

static void test_parent_locator_lone_low_surrogate_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    le16_store_no_bounds_check(item + value_at(2), 0xDFFF);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
}

static void test_parent_locator_nul_inside_rejected(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE, 4);
    /* A NUL in the middle of a key. */
    le16_store_no_bounds_check(item + le32_load_no_bounds_check(item + 20 + 12) + 2, 0);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
    /* A terminating NUL counted in the length is inside the string too. */
    build_vhdx(SAMPLE, 4);
    le16_store_no_bounds_check(item + value_at(3) + 2 * strlen(ABSOLUTE) - 2, 0);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
}

static void test_parent_locator_duplicate_keys(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage", LINKAGE},
        {"relative_path", RELATIVE},
        {"relative_path", "other.vhdx"},
        {"Relative_path", "case differs: a different key"},
    };
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 4);
    assert_status(decode_validate(&ts), VHDX_E_DUPLICATE);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE, "parent_locator.key.duplicate");
    assert_int_equal(assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE,
                                 "parent_locator.key.duplicate")
                         ->offset,
                     20 + 2 * 12);
    assert_int_equal(ts.sink.errors, 1);
    assert_int_equal(ts.sink.warnings, 0);
    assert_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK, "parent_locator.key.unknown");
}

static void test_parent_locator_unknown_type_unsupported(void **state)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct guid other = guid_make(0x12345678, 0x9ABC, 0xDEF0, d4);
    static const struct parent_locator_kv pairs[] = {{"whatever", "x"}};
    struct test_sink ts;
    (void)state;
    build(&other, pairs, 1);
    assert_status(decode_validate(&ts), VHDX_E_UNSUPPORTED);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_UNSUPPORTED,
                                      "parent_locator.type.unknown")
                         ->offset,
                     0);
}

static void test_parent_locator_parent_linkage_missing(void **state)
{
    struct test_sink ts;
    (void)state;
    build_vhdx(SAMPLE + 1, 3);
    assert_status(decode_validate(&ts), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING,
                     "parent_locator.parent_linkage.missing");
}

static void test_parent_locator_parent_linkage_not_guid(void **state)
{
    static const char *const bad[] = {
        "{83ed0ec3-24c8-49a6-a959-5e4bf1288bf}",  "{83ed0ec3-24c8-49a6-a959-5e4bf1288bfg}",
        "(83ed0ec3-24c8-49a6-a959-5e4bf1288bfb)", "83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}",
        "{83ed0ec3x24c8-49a6-a959-5e4bf1288bfb}", "x",
    };
    struct parent_locator_kv pairs[2] = {{"parent_linkage", NULL}, {"relative_path", RELATIVE}};
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pairs[0].value = bad[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_E_ENCODING);
        assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING,
                                          "parent_locator.parent_linkage.invalid")
                             ->offset,
                         value_at(0));
    }
}

static void test_parent_locator_parent_linkage_case_and_braces(void **state)
{
    static const char *const good[] = {
        "{83ED0EC3-24C8-49A6-A959-5E4BF1288BFB}",
        "{83ed0ec3-24C8-49a6-A959-5e4bf1288bfb}",
        "83ed0ec3-24c8-49a6-a959-5e4bf1288bfb",
    };
    struct parent_locator_kv pairs[2] = {{"parent_linkage", NULL}, {"relative_path", RELATIVE}};
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        pairs[0].value = good[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_OK);
        assert_int_equal(ts.sink.total, 0);
    }
}

static void test_parent_locator_parent_linkage2_present_warns(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage", LINKAGE},
        {"parent_linkage2", "{00000000-1111-2222-3333-444444444444}"},
        {"relative_path", RELATIVE},
    };
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 3);
    assert_status(decode_validate(&ts), VHDX_OK);
    assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT,
                     "parent_locator.parent_linkage2.present");
}

static void test_parent_locator_parent_linkage2_not_guid(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage", LINKAGE},
        {"parent_linkage2", "{00000000-1111-2222-3333-44444444444}"},
        {"relative_path", RELATIVE},
    };
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 3);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT,
                "parent_locator.parent_linkage2.present");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING,
                "parent_locator.parent_linkage2.invalid");
    assert_int_equal(ts.sink.total, 2);
}

static void test_parent_locator_no_path_key(void **state)
{
    static const struct parent_locator_kv pairs[] = {{"parent_linkage", LINKAGE}};
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 1);
    assert_status(decode_validate(&ts), VHDX_E_MISSING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "parent_locator.path.missing");
}

static void test_parent_locator_any_one_path_key_is_enough(void **state)
{
    struct parent_locator_kv pairs[2] = {{"parent_linkage", LINKAGE}, {NULL, NULL}};
    struct test_sink ts;
    (void)state;
    for (size_t i = 1; i < 4; i++) {
        pairs[1] = SAMPLE[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_OK);
        assert_int_equal(ts.sink.total, 0);
    }
}

static void test_parent_locator_volume_path_form(void **state)
{
    static const char *const bad[] = {
        "C:\\path\\parent.vhdx",
        "\\\\?\\d:\\parent.vhdx",
        "\\\\?\\Volume",
        "\\\\.\\Volume{26A21BDA-A627-11D7-9931-806E6F6E6963}\\p.vhdx",
    };
    struct parent_locator_kv pairs[2] = {{"parent_linkage", LINKAGE}, {"volume_path", NULL}};
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pairs[1].value = bad[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_E_RANGE);
        assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                                          "parent_locator.volume_path.form")
                             ->offset,
                         value_at(1));
    }
    /* Windows paths are case-insensitive. */
    pairs[1].value = "\\\\?\\VOLUME{26a21bda-a627-11d7-9931-806e6f6e6963}\\p.vhdx";
    build_vhdx(pairs, 2);
    assert_status(decode_validate(&ts), VHDX_OK);
}

static void test_parent_locator_absolute_win32_path_form(void **state)
{
    static const char *const bad[] = {
        "d:\\path\\parent.vhdx", "\\\\?\\d\\parent.vhdx", "\\\\?\\1:\\parent.vhdx",
        "\\\\?\\UNC\\\\share\\p.vhdx", "\\\\?\\UNC\\", "\\\\server\\share\\p.vhdx", "\\\\?\\",
    };
    static const char *const good[] = {
        "\\\\?\\d:\\parent.vhdx",
        "\\\\?\\Z:\\a\\b.vhdx",
        "\\\\?\\UNC\\server\\share\\p.vhdx",
        "\\\\?\\unc\\server\\share\\p.vhdx",
    };
    struct parent_locator_kv pairs[2] = {{"parent_linkage", LINKAGE},
                                         {"absolute_win32_path", NULL}};
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pairs[1].value = bad[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_E_RANGE);
        assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                         "parent_locator.absolute_win32_path.form");
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        pairs[1].value = good[i];
        build_vhdx(pairs, 2);
        assert_status(decode_validate(&ts), VHDX_OK);
        assert_int_equal(ts.sink.total, 0);
    }
}

static void test_parent_locator_unknown_key_is_info(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage", LINKAGE},
        {"relative_path", RELATIVE},
        {"vendor_hint", "anything"},
    };
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 3);
    assert_status(decode_validate(&ts), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_INFO, VHDX_OK,
                                      "parent_locator.key.unknown")
                         ->offset,
                     le32_load_no_bounds_check(item + 20 + 2 * 12));
}

static void test_parent_locator_bad_text_skips_key_checks(void **state)
{
    struct test_sink ts;
    (void)state;
    /* parent_linkage's value with a lone surrogate: one encoding error, not two findings. */
    build_vhdx(SAMPLE, 4);
    le16_store_no_bounds_check(item + value_at(0) + 2, 0xD800);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
}

static void test_parent_locator_validate_reports_every_violation(void **state)
{
    static const struct parent_locator_kv pairs[] = {
        {"parent_linkage2", "nope"},
        {"volume_path", "c:\\x.vhdx"},
        {"volume_path", "c:\\y.vhdx"},
        {"absolute_win32_path", "x.vhdx"},
        {"bad", "xx"},
    };
    struct test_sink ts;
    (void)state;
    build_vhdx(pairs, 5);
    le16_store_no_bounds_check(item + value_at(4), 0xDC00);
    assert_status(decode_validate(&ts), VHDX_E_ENCODING);
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING, "parent_locator.entry.encoding");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_DUPLICATE, "parent_locator.key.duplicate");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_MISSING, "parent_locator.parent_linkage.missing");
    assert_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_CORRUPT,
                "parent_locator.parent_linkage2.present");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_ENCODING,
                "parent_locator.parent_linkage2.invalid");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, "parent_locator.volume_path.form");
    assert_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_RANGE,
                "parent_locator.absolute_win32_path.form");
    assert_int_equal(ts.sink.errors, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parent_locator_round_trip_is_byte_exact),
        cmocka_unit_test(test_parent_locator_build_layout),
        cmocka_unit_test(test_parent_locator_find_returns_utf8_value),
        cmocka_unit_test(test_parent_locator_find_errors),
        cmocka_unit_test(test_parent_locator_surrogate_pair_is_valid),
        cmocka_unit_test(test_parent_locator_encode_errors),
        cmocka_unit_test(test_parent_locator_build_errors),
        cmocka_unit_test(test_parent_locator_truncated),
        cmocka_unit_test(test_parent_locator_reserved),
        cmocka_unit_test(test_parent_locator_count_zero),
        cmocka_unit_test(test_parent_locator_count_257_over_limit),
        cmocka_unit_test(test_parent_locator_count_256_valid),
        cmocka_unit_test(test_parent_locator_count_over_caller_limit),
        cmocka_unit_test(test_parent_locator_offset_zero),
        cmocka_unit_test(test_parent_locator_length_zero),
        cmocka_unit_test(test_parent_locator_odd_offsets_and_lengths),
        cmocka_unit_test(test_parent_locator_string_past_item_end),
        cmocka_unit_test(test_parent_locator_string_overlapping_header),
        cmocka_unit_test(test_parent_locator_decode_reports_every_bad_entry),
        cmocka_unit_test(test_parent_locator_lone_high_surrogate_rejected),
        cmocka_unit_test(test_parent_locator_lone_low_surrogate_rejected),
        cmocka_unit_test(test_parent_locator_nul_inside_rejected),
        cmocka_unit_test(test_parent_locator_duplicate_keys),
        cmocka_unit_test(test_parent_locator_unknown_type_unsupported),
        cmocka_unit_test(test_parent_locator_parent_linkage_missing),
        cmocka_unit_test(test_parent_locator_parent_linkage_not_guid),
        cmocka_unit_test(test_parent_locator_parent_linkage_case_and_braces),
        cmocka_unit_test(test_parent_locator_parent_linkage2_present_warns),
        cmocka_unit_test(test_parent_locator_parent_linkage2_not_guid),
        cmocka_unit_test(test_parent_locator_no_path_key),
        cmocka_unit_test(test_parent_locator_any_one_path_key_is_enough),
        cmocka_unit_test(test_parent_locator_volume_path_form),
        cmocka_unit_test(test_parent_locator_absolute_win32_path_form),
        cmocka_unit_test(test_parent_locator_unknown_key_is_info),
        cmocka_unit_test(test_parent_locator_bad_text_skips_key_checks),
        cmocka_unit_test(test_parent_locator_validate_reports_every_violation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
