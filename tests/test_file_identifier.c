/* File type identifier codec (VHDX-FORMAT.md §2). */
#include "test_util.h"

#include <string.h>

#include "format/file_identifier.h"

static uint8_t buf[FILE_IDENTIFIER_SIZE];
static struct test_sink ts;

static void test_file_identifier_round_trip_is_byte_exact(void **state)
{
    static uint8_t again[FILE_IDENTIFIER_SIZE];
    struct file_identifier fi, out;
    char text[128];
    (void)state;
    memset(&fi, 0, sizeof(fi));
    assert_status(file_identifier_set_creator(&fi, "QEMU v8.2.0"), VHDX_OK);
    assert_int_equal(fi.creator_len, 22);
    assert_status(file_identifier_encode(&fi, buf, sizeof(buf)), VHDX_OK);
    assert_memory_equal(buf, "vhdxfile", 8);
    assert_memory_equal(buf + 8, "Q\0E\0M\0U\0", 8);
    test_sink_init(&ts);
    assert_status(file_identifier_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_memory_equal(&fi, &out, sizeof(fi));
    assert_status(file_identifier_validate(&out, &ts.sink), VHDX_OK);
    assert_no_findings(&ts);
    file_identifier_creator_utf8(&out, text, sizeof(text));
    assert_string_equal(text, "QEMU v8.2.0");
    assert_status(file_identifier_encode(&out, again, sizeof(again)), VHDX_OK);
    assert_memory_equal(buf, again, sizeof(buf));
}

static void test_file_identifier_creator_fills_512_bytes_without_nul(void **state)
{
    struct file_identifier fi, out;
    char text[300];
    char long_name[257];
    (void)state;
    memset(long_name, 'x', 256);
    long_name[256] = '\0';
    memset(&fi, 0, sizeof(fi));
    assert_status(file_identifier_set_creator(&fi, long_name), VHDX_OK);
    assert_status(file_identifier_encode(&fi, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(file_identifier_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_int_equal(out.creator_len, 512);
    file_identifier_creator_utf8(&out, text, sizeof(text));
    assert_string_equal(text, long_name);
    /* 257 code units do not fit. */
    memset(text, 'y', 257);
    text[257] = '\0';
    assert_status(file_identifier_set_creator(&fi, text), VHDX_E_LIMIT);
}

static void test_file_identifier_truncated(void **state)
{
    struct file_identifier fi, out;
    (void)state;
    memset(&fi, 0, sizeof(fi));
    assert_status(file_identifier_encode(&fi, buf, sizeof(buf)), VHDX_OK);
    test_sink_init(&ts);
    assert_status(file_identifier_decode(buf, FILE_IDENTIFIER_SIZE - 1, &out, &ts.sink),
                  VHDX_E_TRUNCATED);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_TRUNCATED, "file_identifier.truncated");
    assert_status(file_identifier_encode(&fi, buf, FILE_IDENTIFIER_SIZE - 1), VHDX_E_TRUNCATED);
}

static void test_file_identifier_signature(void **state)
{
    struct file_identifier fi, out;
    (void)state;
    memset(&fi, 0, sizeof(fi));
    assert_status(file_identifier_encode(&fi, buf, sizeof(buf)), VHDX_OK);
    memcpy(buf, "vhdxfilf", 8);
    test_sink_init(&ts);
    assert_status(file_identifier_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_E_SIGNATURE);
    assert_only_diag(&ts, VHDX_SEVERITY_ERROR, VHDX_E_SIGNATURE, "file_identifier.signature");
}

static void test_file_identifier_bad_creator_only_warns(void **state)
{
    struct file_identifier fi, out;
    char text[64];
    (void)state;
    memset(&fi, 0, sizeof(fi));
    assert_status(file_identifier_encode(&fi, buf, sizeof(buf)), VHDX_OK);
    /* "A" then a lone low surrogate U+DC00. */
    buf[8] = 'A';
    buf[10] = 0x00;
    buf[11] = 0xDC;
    test_sink_init(&ts);
    assert_status(file_identifier_decode(buf, sizeof(buf), &out, &ts.sink), VHDX_OK);
    assert_status(file_identifier_validate(&out, &ts.sink), VHDX_OK);
    assert_int_equal(assert_only_diag(&ts, VHDX_SEVERITY_WARNING, VHDX_E_ENCODING,
                                      "file_identifier.creator.encoding")
                         ->offset,
                     10);
    file_identifier_creator_utf8(&out, text, sizeof(text));
    assert_string_equal(text, "(invalid UTF-16)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_identifier_round_trip_is_byte_exact),
        cmocka_unit_test(test_file_identifier_creator_fills_512_bytes_without_nul),
        cmocka_unit_test(test_file_identifier_truncated),
        cmocka_unit_test(test_file_identifier_signature),
        cmocka_unit_test(test_file_identifier_bad_creator_only_warns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
