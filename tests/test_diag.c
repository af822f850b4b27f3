/* Diagnostic sink and status tables (src/base/diag.h, status.c, include/vhdx.h). */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "base/diag.h"

/* Records what the callback saw. */
struct seen {
    size_t calls;
    vhdx_diag last;
    const char *rules[16];
    uint64_t offsets[16];
};

static void on_diag(void *ctx, const vhdx_diag *d)
{
    struct seen *s = ctx;
    if (s->calls < ARRAY_LEN(s->rules)) {
        s->rules[s->calls] = d->rule;
        s->offsets[s->calls] = d->offset;
    }
    s->last = *d;
    s->calls++;
}

static void test_diag_stores_up_to_capacity_and_counts_beyond(void **state)
{
    vhdx_diag recs[3];
    struct diag_sink sink;
    (void)state;
    diag_sink_init(&sink, recs, ARRAY_LEN(recs));
    assert_int_equal(DIAG_ERROR(&sink, VHDX_E_RANGE, "t.e1", "s", 0, "e1"), VHDX_E_RANGE);
    assert_int_equal(DIAG_WARN(&sink, VHDX_E_RESERVED, "t.w1", "s", 0, "w1"), VHDX_E_RESERVED);
    assert_int_equal(DIAG_INFO(&sink, "t.i1", "s", 0, "i1"), VHDX_OK);
    assert_int_equal(DIAG_ERROR(&sink, VHDX_E_CHECKSUM, "t.e2", "s", 0, "e2"), VHDX_E_CHECKSUM);
    assert_int_equal(DIAG_INFO(&sink, "t.i2", "s", 0, "i2"), VHDX_OK);
    assert_int_equal(DIAG_WARN(&sink, VHDX_E_RESERVED, "t.w2", "s", 0, "w2"), VHDX_E_RESERVED);
    assert_int_equal(sink.stored, 3);
    assert_int_equal(sink.total, 6);
    assert_int_equal(sink.errors, 2);
    assert_int_equal(sink.warnings, 2);
    assert_int_equal(sink.infos, 2);
    assert_string_equal(recs[0].rule, "t.e1");
    assert_int_equal(recs[0].severity, VHDX_SEVERITY_ERROR);
    assert_int_equal(recs[0].code, VHDX_E_RANGE);
    assert_string_equal(recs[0].structure, "s");
    assert_string_equal(recs[1].rule, "t.w1");
    assert_int_equal(recs[1].severity, VHDX_SEVERITY_WARNING);
    assert_int_equal(recs[1].code, VHDX_E_RESERVED);
    assert_string_equal(recs[2].rule, "t.i1");
    assert_int_equal(recs[2].severity, VHDX_SEVERITY_INFO);
    assert_int_equal(recs[2].code, VHDX_OK);
    assert_string_equal(recs[2].message, "i1");
}

/* diag_forward keeps file offsets and order, demotes errors only when asked, and restores base. */
static void test_diag_forward_demotes_and_keeps_offsets(void **state)
{
    vhdx_diag held_records[4];
    struct diag_sink held;
    struct test_sink to;
    (void)state;
    diag_sink_init(&held, held_records, 4);
    held.base = 0x1000;
    (void)DIAG_ERROR(&held, VHDX_E_CHECKSUM, "x.checksum", "x", 4, "bad %d", 1);
    (void)DIAG_INFO(&held, "x.note", "x", 8, "note");
    test_sink_init(&to);
    to.sink.base = 0x77;
    diag_forward(&to.sink, &held, true);
    assert_int_equal(to.sink.base, 0x77);
    assert_int_equal(to.sink.stored, 2);
    assert_int_equal(to.records[0].severity, VHDX_SEVERITY_WARNING);
    assert_int_equal(to.records[0].code, VHDX_E_CHECKSUM);
    assert_int_equal(to.records[0].offset, 0x1004);
    assert_string_equal(to.records[0].message, "bad 1");
    assert_int_equal(to.records[1].severity, VHDX_SEVERITY_INFO);
    assert_int_equal(to.records[1].offset, 0x1008);
    test_sink_init(&to);
    diag_forward(&to.sink, &held, false);
    assert_int_equal(to.records[0].severity, VHDX_SEVERITY_ERROR);
    diag_forward(NULL, &held, true); /* a NULL sink is allowed everywhere */
}

static void test_diag_sink_without_records_only_counts(void **state)
{
    struct diag_sink sink;
    (void)state;
    /* A NULL array with a non-zero capacity must not be written to. */
    diag_sink_init(&sink, NULL, 10);
    assert_int_equal(sink.capacity, 0);
    assert_int_equal(DIAG_ERROR(&sink, VHDX_E_RANGE, "t.e", "s", 0, "x"), VHDX_E_RANGE);
    assert_int_equal(sink.stored, 0);
    assert_int_equal(sink.total, 1);
    assert_int_equal(sink.errors, 1);
    assert_false(diag_has_rule(&sink, "t.e"));
}

static void test_diag_sink_init_resets_everything(void **state)
{
    vhdx_diag recs[2];
    struct diag_sink sink;
    (void)state;
    memset(&sink, 0xA5, sizeof(sink));
    diag_sink_init(&sink, recs, 2);
    assert_ptr_equal(sink.records, recs);
    assert_int_equal(sink.capacity, 2);
    assert_int_equal(sink.stored, 0);
    assert_int_equal(sink.total, 0);
    assert_int_equal(sink.errors, 0);
    assert_int_equal(sink.warnings, 0);
    assert_int_equal(sink.infos, 0);
    assert_int_equal(sink.base, 0);
    assert_null(sink.on_diag);
    assert_null(sink.ctx);
}

static uint64_t offset_of_report(uint64_t base, uint64_t rel)
{
    struct test_sink ts;
    test_sink_init(&ts);
    ts.sink.base = base;
    status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.off", "s", rel, "x"));
    assert_int_equal(ts.sink.stored, 1);
    return ts.records[0].offset;
}

static void test_diag_offset_adds_base(void **state)
{
    (void)state;
    assert_int_equal(offset_of_report(0, 0), 0);
    assert_int_equal(offset_of_report(0, 12), 12);
    assert_int_equal(offset_of_report(0x10000, 4), 0x10004);
    assert_int_equal(offset_of_report(0x30000, 0), 0x30000);
    assert_int_equal(offset_of_report(UINT64_MAX - 10, 9), UINT64_MAX - 1);
}

static void test_diag_offset_none_stays_none(void **state)
{
    (void)state;
    assert_int_equal(offset_of_report(0, VHDX_OFFSET_NONE), VHDX_OFFSET_NONE);
    assert_int_equal(offset_of_report(0x10000, VHDX_OFFSET_NONE), VHDX_OFFSET_NONE);
    /* A base of NONE means the buffer has no file offset: everything is NONE. */
    assert_int_equal(offset_of_report(VHDX_OFFSET_NONE, 0), VHDX_OFFSET_NONE);
    assert_int_equal(offset_of_report(VHDX_OFFSET_NONE, 5), VHDX_OFFSET_NONE);
}

static void test_diag_offset_overflow_gives_none(void **state)
{
    (void)state;
    assert_int_equal(offset_of_report(UINT64_MAX - 4, 5), VHDX_OFFSET_NONE);
    assert_int_equal(offset_of_report(2, UINT64_MAX - 1), VHDX_OFFSET_NONE);
    assert_int_equal(offset_of_report(1ull << 63, 1ull << 63), VHDX_OFFSET_NONE);
    assert_int_equal(offset_of_report(UINT64_MAX - 1, UINT64_MAX - 1), VHDX_OFFSET_NONE);
}

static void test_diag_message_formatting(void **state)
{
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.fmt", "s", 0, "value %u at %#llx (%s)",
                             42u, 0x1234ull, "why"));
    assert_string_equal(ts.records[0].message, "value 42 at 0x1234 (why)");
    status_ignore(DIAG_INFO(&ts.sink, "t.fmt2", "s", 0, "%s", ""));
    assert_string_equal(ts.records[1].message, "");
}

static void test_diag_message_truncated_to_max_minus_one(void **state)
{
    char longer[VHDX_DIAG_MESSAGE_MAX * 2];
    struct test_sink ts;
    (void)state;
    for (size_t i = 0; i < sizeof(longer) - 1; i++)
        longer[i] = (char)('a' + (char)(i % 26));
    longer[sizeof(longer) - 1] = '\0';
    test_sink_init(&ts);
    /* Exactly MAX - 1 characters fit untouched. */
    status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.len", "s", 0, "%.*s",
                             VHDX_DIAG_MESSAGE_MAX - 1, longer));
    assert_int_equal(strlen(ts.records[0].message), VHDX_DIAG_MESSAGE_MAX - 1);
    assert_memory_equal(ts.records[0].message, longer, VHDX_DIAG_MESSAGE_MAX - 1);
    /* MAX characters lose the last one. */
    status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.len", "s", 0, "%.*s",
                             VHDX_DIAG_MESSAGE_MAX, longer));
    assert_int_equal(strlen(ts.records[1].message), VHDX_DIAG_MESSAGE_MAX - 1);
    assert_memory_equal(ts.records[1].message, longer, VHDX_DIAG_MESSAGE_MAX - 1);
    /* Much longer text is cut at the same place and stays NUL-terminated. */
    status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.len", "s", 0, "%s", longer));
    assert_int_equal(ts.records[2].message[VHDX_DIAG_MESSAGE_MAX - 1], '\0');
    assert_memory_equal(ts.records[2].message, longer, VHDX_DIAG_MESSAGE_MAX - 1);
}

static void test_diag_callback_sees_every_finding(void **state)
{
    vhdx_diag recs[1];
    struct diag_sink sink;
    struct seen seen;
    (void)state;
    memset(&seen, 0, sizeof(seen));
    diag_sink_init(&sink, recs, ARRAY_LEN(recs));
    sink.on_diag = on_diag;
    sink.ctx = &seen;
    sink.base = 100;
    status_ignore(DIAG_ERROR(&sink, VHDX_E_RANGE, "t.a", "s", 1, "a"));
    status_ignore(DIAG_WARN(&sink, VHDX_E_RESERVED, "t.b", "s", 2, "b"));
    status_ignore(DIAG_INFO(&sink, "t.c", "s", VHDX_OFFSET_NONE, "c=%d", 3));
    assert_int_equal(seen.calls, 3);
    assert_int_equal(sink.stored, 1);
    assert_int_equal(sink.total, 3);
    assert_string_equal(seen.rules[0], "t.a");
    assert_string_equal(seen.rules[1], "t.b");
    assert_string_equal(seen.rules[2], "t.c");
    /* The callback sees the finished record: absolute offset and message. */
    assert_int_equal(seen.offsets[0], 101);
    assert_int_equal(seen.offsets[1], 102);
    assert_int_equal(seen.offsets[2], VHDX_OFFSET_NONE);
    assert_string_equal(seen.last.message, "c=3");
    assert_int_equal(seen.last.severity, VHDX_SEVERITY_INFO);
    assert_int_equal(seen.last.code, VHDX_OK);
}

static void test_diag_callback_without_storage(void **state)
{
    struct diag_sink sink;
    struct seen seen;
    (void)state;
    memset(&seen, 0, sizeof(seen));
    diag_sink_init(&sink, NULL, 0);
    sink.on_diag = on_diag;
    sink.ctx = &seen;
    status_ignore(DIAG_ERROR(&sink, VHDX_E_CORRUPT, "t.only_cb", "s", 8, "x"));
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.last.rule, "t.only_cb");
    assert_int_equal(seen.last.code, VHDX_E_CORRUPT);
    assert_int_equal(seen.last.offset, 8);
}

static void test_diag_null_sink_returns_code(void **state)
{
    (void)state;
    assert_int_equal(DIAG_ERROR(NULL, VHDX_E_CHECKSUM, "t.n", "s", 0, "x %d", 1), VHDX_E_CHECKSUM);
    assert_int_equal(DIAG_WARN(NULL, VHDX_E_RESERVED, "t.n", "s", 0, "x"), VHDX_E_RESERVED);
    assert_int_equal(DIAG_INFO(NULL, "t.n", "s", 0, "x"), VHDX_OK);
    assert_false(diag_has_rule(NULL, "t.n"));
}

static void test_diag_has_rule(void **state)
{
    vhdx_diag recs[2];
    struct diag_sink sink;
    (void)state;
    diag_sink_init(&sink, recs, ARRAY_LEN(recs));
    assert_false(diag_has_rule(&sink, "t.a"));
    status_ignore(DIAG_WARN(&sink, VHDX_E_RESERVED, "t.a", "s", 0, "x"));
    status_ignore(DIAG_INFO(&sink, "t.b", "s", 0, "x"));
    status_ignore(DIAG_ERROR(&sink, VHDX_E_RANGE, "t.c", "s", 0, "x"));
    assert_true(diag_has_rule(&sink, "t.a"));
    assert_true(diag_has_rule(&sink, "t.b"));
    /* Only stored records can be found. */
    assert_false(diag_has_rule(&sink, "t.c"));
    /* Exact match, not a prefix. */
    assert_false(diag_has_rule(&sink, "t."));
    assert_false(diag_has_rule(&sink, "t.aa"));
    assert_false(diag_has_rule(&sink, NULL));
}

static void test_diag_has_rule_skips_null_rule(void **state)
{
    vhdx_diag recs[2];
    struct diag_sink sink;
    (void)state;
    diag_sink_init(&sink, recs, ARRAY_LEN(recs));
    status_ignore(diag_report(&sink, "f.c", 1, VHDX_SEVERITY_ERROR, VHDX_E_RANGE, NULL, "s", 0,
                              "x"));
    status_ignore(DIAG_ERROR(&sink, VHDX_E_RANGE, "t.x", "s", 0, "x"));
    assert_true(diag_has_rule(&sink, "t.x"));
    assert_false(diag_has_rule(&sink, "t.y"));
}

static void test_diag_records_source_location(void **state)
{
    struct test_sink ts;
    int line;
    (void)state;
    test_sink_init(&ts);
    /* clang-format off */
    line = __LINE__; status_ignore(DIAG_ERROR(&ts.sink, VHDX_E_RANGE, "t.src", "s", 0, "x"));
    /* clang-format on */
    assert_string_equal(ts.records[0].src_file, __FILE__);
    assert_int_equal(ts.records[0].src_line, line);
    status_ignore(diag_report(&ts.sink, "somewhere.c", 77, VHDX_SEVERITY_WARNING, VHDX_E_RANGE,
                              "t.src2", "s", 0, "x"));
    assert_string_equal(ts.records[1].src_file, "somewhere.c");
    assert_int_equal(ts.records[1].src_line, 77);
}

static void test_diag_unknown_severity_counts_as_info(void **state)
{
    struct test_sink ts;
    (void)state;
    test_sink_init(&ts);
    status_ignore(diag_report(&ts.sink, "f.c", 1, (vhdx_severity)7, VHDX_E_RANGE, "t.sev", "s",
                              0, "x"));
    assert_int_equal(ts.sink.total, 1);
    assert_int_equal(ts.sink.infos, 1);
    assert_int_equal(ts.sink.errors, 0);
    assert_int_equal(ts.sink.warnings, 0);
}

static void test_status_first_and_ignore(void **state)
{
    (void)state;
    assert_int_equal(status_first(VHDX_OK, VHDX_OK), VHDX_OK);
    assert_int_equal(status_first(VHDX_OK, VHDX_E_RANGE), VHDX_E_RANGE);
    assert_int_equal(status_first(VHDX_E_CHECKSUM, VHDX_E_RANGE), VHDX_E_CHECKSUM);
    assert_int_equal(status_first(VHDX_E_CHECKSUM, VHDX_OK), VHDX_E_CHECKSUM);
    status_ignore(VHDX_E_RANGE);
}

static void test_status_names_and_messages_for_every_code(void **state)
{
    (void)state;
    for (int i = 0; i < VHDX_STATUS_COUNT_; i++) {
        const char *msg = vhdx_strerror((vhdx_status)i);
        const char *name = vhdx_status_name((vhdx_status)i);
        assert_non_null(msg);
        assert_non_null(name);
        assert_true(msg[0] != '\0');
        assert_true(name[0] != '\0');
        assert_string_not_equal(msg, "unknown status");
        assert_string_not_equal(name, "E_UNKNOWN");
        if (i == VHDX_OK)
            assert_string_equal(name, "OK");
        else
            assert_memory_equal(name, "E_", 2);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(name, vhdx_status_name((vhdx_status)j));
            assert_string_not_equal(msg, vhdx_strerror((vhdx_status)j));
        }
    }
}

static void test_status_names_match_enum(void **state)
{
    (void)state;
    assert_string_equal(vhdx_status_name(VHDX_OK), "OK");
    assert_string_equal(vhdx_status_name(VHDX_E_TRUNCATED), "E_TRUNCATED");
    assert_string_equal(vhdx_status_name(VHDX_E_CHECKSUM), "E_CHECKSUM");
    assert_string_equal(vhdx_status_name(VHDX_E_ENCODING), "E_ENCODING");
    assert_string_equal(vhdx_status_name(VHDX_E_LIMIT), "E_LIMIT");
    assert_string_equal(vhdx_status_name(VHDX_E_BAD_STATE), "E_BAD_STATE");
    assert_string_equal(vhdx_strerror(VHDX_OK), "success");
    assert_string_equal(vhdx_strerror(VHDX_E_CHECKSUM), "checksum mismatch");
}

static void test_status_out_of_range(void **state)
{
    static const int bad[] = {VHDX_STATUS_COUNT_, VHDX_STATUS_COUNT_ + 1, 1000, -1, -1000};
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        assert_string_equal(vhdx_strerror((vhdx_status)bad[i]), "unknown status");
        assert_string_equal(vhdx_status_name((vhdx_status)bad[i]), "E_UNKNOWN");
    }
}

static void test_severity_names(void **state)
{
    (void)state;
    assert_string_equal(vhdx_severity_name(VHDX_SEVERITY_INFO), "info");
    assert_string_equal(vhdx_severity_name(VHDX_SEVERITY_WARNING), "warning");
    assert_string_equal(vhdx_severity_name(VHDX_SEVERITY_ERROR), "error");
    assert_string_equal(vhdx_severity_name((vhdx_severity)3), "unknown");
    assert_string_equal(vhdx_severity_name((vhdx_severity)-1), "unknown");
}

static void test_limits_default_values(void **state)
{
    vhdx_limits l = vhdx_limits_default();
    (void)state;
    assert_int_equal(l.max_memory, 64ull * 1024 * 1024);
    assert_int_equal(l.max_metadata_region, 128u * 1024 * 1024);
    assert_int_equal(l.max_metadata_item, 1u * 1024 * 1024);
    assert_int_equal(l.max_log_length, 0xFFF00000u);
    assert_int_equal(l.max_locator_entries, 256);
    assert_int_equal(l.max_parent_depth, 16);
}

static void test_version_string(void **state)
{
    char expect[32];
    (void)state;
    assert_non_null(vhdx_version());
    assert_string_equal(vhdx_version(), VHDX_VERSION_STRING);
    (void)snprintf(expect, sizeof(expect), "%d.%d.%d", VHDX_VERSION_MAJOR, VHDX_VERSION_MINOR,
                   VHDX_VERSION_PATCH);
    assert_string_equal(vhdx_version(), expect);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diag_stores_up_to_capacity_and_counts_beyond),
        cmocka_unit_test(test_diag_sink_without_records_only_counts),
        cmocka_unit_test(test_diag_sink_init_resets_everything),
        cmocka_unit_test(test_diag_offset_adds_base),
        cmocka_unit_test(test_diag_offset_none_stays_none),
        cmocka_unit_test(test_diag_offset_overflow_gives_none),
        cmocka_unit_test(test_diag_message_formatting),
        cmocka_unit_test(test_diag_message_truncated_to_max_minus_one),
        cmocka_unit_test(test_diag_callback_sees_every_finding),
        cmocka_unit_test(test_diag_callback_without_storage),
        cmocka_unit_test(test_diag_null_sink_returns_code),
        cmocka_unit_test(test_diag_has_rule),
        cmocka_unit_test(test_diag_has_rule_skips_null_rule),
        cmocka_unit_test(test_diag_records_source_location),
        cmocka_unit_test(test_diag_unknown_severity_counts_as_info),
        cmocka_unit_test(test_status_first_and_ignore),
        cmocka_unit_test(test_status_names_and_messages_for_every_code),
        cmocka_unit_test(test_status_names_match_enum),
        cmocka_unit_test(test_status_out_of_range),
        cmocka_unit_test(test_severity_names),
        cmocka_unit_test(test_limits_default_values),
        cmocka_unit_test(test_version_string),
        cmocka_unit_test(test_diag_forward_demotes_and_keeps_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
