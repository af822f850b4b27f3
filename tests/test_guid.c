/* GUIDs in on-disk (mixed-endian) order (src/base/guid.h, VHDX-FORMAT.md §0.2). */
#include "test_util.h"

#include <string.h>

#include "base/guid.h"
#include "format/constants.h"

/* §0.2 worked example. */
static const char example_text[] = "2DC27766-F623-4200-9D64-115E9BFD4A08";
static const uint8_t example_bytes[16] = {0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42,
                                          0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};

/* A GUID whose every text nibble differs, to catch swapped bytes or nibbles. */
static const char mixed_text[] = "01234567-89AB-CDEF-0123-456789ABCDEF";
static const uint8_t mixed_bytes[16] = {0x67, 0x45, 0x23, 0x01, 0xAB, 0x89, 0xEF, 0xCD,
                                        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

static struct guid guid_of(const uint8_t b[16])
{
    struct guid g;
    memcpy(g.b, b, 16);
    return g;
}

static vhdx_status parse(const char *text, struct guid *out)
{
    return guid_from_text(text, strlen(text), out);
}

static void test_guid_example_text_to_bytes(void **state)
{
    struct guid g;
    (void)state;
    assert_status(parse(example_text, &g), VHDX_OK);
    assert_memory_equal(g.b, example_bytes, 16);
    assert_status(parse(mixed_text, &g), VHDX_OK);
    assert_memory_equal(g.b, mixed_bytes, 16);
}

static void test_guid_example_bytes_to_text_uppercase(void **state)
{
    struct guid g = guid_of(example_bytes);
    char text[GUID_TEXT_SIZE];
    (void)state;
    memset(text, 'x', sizeof(text));
    guid_to_text(&g, text);
    assert_string_equal(text, example_text);
    assert_int_equal(strlen(text), GUID_TEXT_LEN);
    g = guid_of(mixed_bytes);
    guid_to_text(&g, text);
    assert_string_equal(text, mixed_text);
}

static void test_guid_braced_lower_form(void **state)
{
    struct guid g = guid_of(example_bytes), back;
    char text[GUID_TEXT_SIZE + 2];
    (void)state;
    memset(text, 'x', sizeof(text));
    guid_to_text_braced_lower(&g, text);
    assert_string_equal(text, "{2dc27766-f623-4200-9d64-115e9bfd4a08}");
    assert_int_equal(strlen(text), GUID_TEXT_LEN + 2);
    assert_status(parse(text, &back), VHDX_OK);
    assert_true(guid_equal(&g, &back));
}

static void test_guid_from_text_accepts_braces_and_any_case(void **state)
{
    static const char *const forms[] = {
        "2DC27766-F623-4200-9D64-115E9BFD4A08",   "2dc27766-f623-4200-9d64-115e9bfd4a08",
        "2Dc27766-f623-4200-9D64-115e9BFD4a08",   "{2DC27766-F623-4200-9D64-115E9BFD4A08}",
        "{2dc27766-f623-4200-9d64-115e9bfd4a08}", "{2dC27766-F623-4200-9d64-115E9bfd4A08}",
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(forms); i++) {
        struct guid g;
        memset(&g, 0xEE, sizeof(g));
        assert_status(parse(forms[i], &g), VHDX_OK);
        assert_memory_equal(g.b, example_bytes, 16);
    }
}

static void test_guid_from_text_uses_len_not_nul(void **state)
{
    /* Only the first 36 characters are the GUID; what follows is not read. */
    static const char longer[] = "2DC27766-F623-4200-9D64-115E9BFD4A08trailing";
    struct guid g;
    (void)state;
    assert_status(guid_from_text(longer, GUID_TEXT_LEN, &g), VHDX_OK);
    assert_memory_equal(g.b, example_bytes, 16);
}

/* Asserts the text is rejected with VHDX_E_ENCODING and out is left alone. */
static void assert_rejected(const char *text, size_t len)
{
    struct guid g;
    memset(&g, 0xEE, sizeof(g));
    assert_status(guid_from_text(text, len, &g), VHDX_E_ENCODING);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(g.b[i], 0xEE);
}

static void test_guid_from_text_rejects_wrong_lengths(void **state)
{
    static const char braced_plus[] = "{2DC27766-F623-4200-9D64-115E9BFD4A08}0";
    (void)state;
    assert_rejected(example_text, 35);
    assert_rejected("2DC27766-F623-4200-9D64-115E9BFD4A080", 37);
    assert_rejected("{2DC27766-F623-4200-9D64-115E9BFD4A08", 37);
    assert_rejected("2DC27766-F623-4200-9D64-115E9BFD4A08}", 37);
    assert_rejected(braced_plus, 39);
    assert_rejected("{2DC27766-F623-4200-9D64-115E9BFD4A0}", 37);
    assert_rejected("", 0);
    assert_rejected("2DC27766F6234200", 16);
}

static void test_guid_from_text_rejects_missing_dash(void **state)
{
    static const size_t dashes[] = {8, 13, 18, 23};
    char text[GUID_TEXT_SIZE];
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(dashes); i++) {
        memcpy(text, example_text, sizeof(text));
        text[dashes[i]] = '0';
        assert_rejected(text, GUID_TEXT_LEN);
    }
    /* Right length, dash one place to the right. */
    assert_rejected("2DC277660-F23-4200-9D64-115E9BFD4A08", GUID_TEXT_LEN);
    /* No dashes at all, padded to 36 characters with hex. */
    assert_rejected("2DC27766F62342009D64115E9BFD4A080000", GUID_TEXT_LEN);
}

static void test_guid_from_text_rejects_non_hex(void **state)
{
    static const char bad[] = {'G', 'g', 'x', ' ', '+', '\0', '-', '{', '\xC3', '/', ':', '@', '`'};
    char text[GUID_TEXT_SIZE];
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        /* Every hex position, for both nibbles of every byte. */
        for (size_t pos = 0; pos < GUID_TEXT_LEN; pos++) {
            if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
                continue;
            memcpy(text, example_text, sizeof(text));
            text[pos] = bad[i];
            assert_rejected(text, GUID_TEXT_LEN);
        }
    }
}

static void test_guid_from_text_rejects_brace_mismatch(void **state)
{
    (void)state;
    assert_rejected("{2DC27766-F623-4200-9D64-115E9BFD4A08)", 38);
    assert_rejected("(2DC27766-F623-4200-9D64-115E9BFD4A08}", 38);
    assert_rejected("}2DC27766-F623-4200-9D64-115E9BFD4A08{", 38);
    assert_rejected("[2DC27766-F623-4200-9D64-115E9BFD4A08]", 38);
    assert_rejected("02DC27766-F623-4200-9D64-115E9BFD4A080", 38);
    /* Braces around the wrong length of content. */
    assert_rejected("{2DC27766-F623-4200-9D64-115E9BFD4A0}", 37);
    assert_rejected("{{2DC27766-F623-4200-9D64-115E9BFD4A08}}", 40);
}

static void test_guid_from_text_null_args(void **state)
{
    struct guid g;
    (void)state;
    assert_status(guid_from_text(NULL, GUID_TEXT_LEN, &g), VHDX_E_INVALID_ARG);
    assert_status(guid_from_text(NULL, 0, &g), VHDX_E_INVALID_ARG);
    assert_status(guid_from_text(example_text, GUID_TEXT_LEN, NULL), VHDX_E_INVALID_ARG);
}

static void test_guid_text_round_trip_random(void **state)
{
    struct test_rng rng;
    (void)state;
    test_rng_seed(&rng, 0x6775696431ull);
    for (int i = 0; i < 1000; i++) {
        struct guid g, back;
        char text[GUID_TEXT_SIZE], braced[GUID_TEXT_SIZE + 2];
        test_rng_fill(&rng, g.b, sizeof(g.b));
        guid_to_text(&g, text);
        assert_status(parse(text, &back), VHDX_OK);
        assert_true(guid_equal(&g, &back));
        guid_to_text_braced_lower(&g, braced);
        assert_status(parse(braced, &back), VHDX_OK);
        assert_true(guid_equal(&g, &back));
    }
}

static void test_guid_generate_is_random_v4(void **state)
{
    enum { N = 64 };
    struct guid g[N];
    (void)state;
    for (size_t i = 0; i < N; i++) {
        guid_generate(&g[i]);
        assert_false(guid_is_nil(&g[i]));
        /* Data3's high nibble is the version: byte 7 on disk (Data3 is LE). */
        assert_int_equal(g[i].b[7] >> 4, 4);
        /* RFC 4122 variant: the top two bits of Data4[0] are 10. */
        assert_int_equal(g[i].b[8] & 0xC0, 0x80);
        for (size_t j = 0; j < i; j++)
            assert_false(guid_equal(&g[i], &g[j]));
    }
}

static void test_guid_generate_text_shows_version_digit(void **state)
{
    struct guid g;
    char text[GUID_TEXT_SIZE];
    (void)state;
    guid_generate(&g);
    guid_to_text(&g, text);
    /* xxxxxxxx-xxxx-4xxx-[89AB]xxx-xxxxxxxxxxxx */
    assert_int_equal(text[14], '4');
    assert_non_null(strchr("89AB", text[19]));
}

static void test_guid_make_matches_text_fields(void **state)
{
    static const uint8_t d4[8] = {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08};
    struct guid g = guid_make(0x2DC27766u, 0xF623, 0x4200, d4);
    (void)state;
    assert_memory_equal(g.b, example_bytes, 16);
    assert_true(guid_equal(&g, &VHDX_GUID_REGION_BAT));
}

static void test_guid_is_nil(void **state)
{
    struct guid g;
    (void)state;
    memset(&g, 0, sizeof(g));
    assert_true(guid_is_nil(&g));
    for (size_t i = 0; i < 16; i++) {
        memset(&g, 0, sizeof(g));
        g.b[i] = 1;
        assert_false(guid_is_nil(&g));
        g.b[i] = 0x80;
        assert_false(guid_is_nil(&g));
    }
    assert_status(parse("00000000-0000-0000-0000-000000000000", &g), VHDX_OK);
    assert_true(guid_is_nil(&g));
}

static void test_guid_equal_compares_all_bytes(void **state)
{
    struct guid a = guid_of(example_bytes), b = guid_of(example_bytes);
    (void)state;
    assert_true(guid_equal(&a, &b));
    for (size_t i = 0; i < 16; i++) {
        b = a;
        b.b[i] ^= 0x01;
        assert_false(guid_equal(&a, &b));
    }
}

/* Text forms as VHDX-FORMAT.md §4.3, §5.4 and §5.4.6 give them. */
static const struct {
    const char *text;
    const struct guid *constant;
} known[] = {
    {"2DC27766-F623-4200-9D64-115E9BFD4A08", &VHDX_GUID_REGION_BAT},
    {"8B7CA206-4790-4B9A-B8FE-575F050F886E", &VHDX_GUID_REGION_METADATA},
    {"CAA16737-FA36-4D43-B3B6-33F0AA44E76B", &VHDX_GUID_FILE_PARAMETERS},
    {"2FA54224-CD1B-4876-B211-5DBED83BF4B8", &VHDX_GUID_VIRTUAL_DISK_SIZE},
    {"BECA12AB-B2E6-4523-93EF-C309E000C746", &VHDX_GUID_VIRTUAL_DISK_ID},
    {"8141BF1D-A96F-4709-BA47-F233A8FAAB5F", &VHDX_GUID_LOGICAL_SECTOR_SIZE},
    {"CDA348C7-445D-4471-9CC9-E9885251C556", &VHDX_GUID_PHYSICAL_SECTOR_SIZE},
    {"A8D35F2D-B30B-454D-ABF7-D3D84834AB0C", &VHDX_GUID_PARENT_LOCATOR},
    {"DA02D7BC-3D3A-423C-AC88-2A36AB21479B", &VHDX_GUID_CHS_PARAMETERS},
    {"71CC85F0-1B69-4E28-9558-C3BF83AE75D3", &VHDX_GUID_INCOMPLETE_FILE},
    {"10E1AE8A-4B7E-4169-A40F-CD70DE928393", &VHDX_GUID_PMEM_LABEL_STORAGE},
    {"B04AEFB7-D19E-4A81-B789-25B8E9445913", &VHDX_GUID_LOCATOR_TYPE_VHDX},
};

static void test_guid_known_constants_match_format_text(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(known); i++) {
        struct guid g;
        char text[GUID_TEXT_SIZE];
        assert_status(parse(known[i].text, &g), VHDX_OK);
        if (!guid_equal(&g, known[i].constant)) {
            guid_to_text(known[i].constant, text);
            fail_msg("constant %s is %s in constants.c", known[i].text, text);
        }
        guid_to_text(known[i].constant, text);
        assert_string_equal(text, known[i].text);
    }
}

static void test_guid_known_constants_are_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(known); i++) {
        assert_false(guid_is_nil(known[i].constant));
        for (size_t j = 0; j < i; j++)
            assert_false(guid_equal(known[i].constant, known[j].constant));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guid_example_text_to_bytes),
        cmocka_unit_test(test_guid_example_bytes_to_text_uppercase),
        cmocka_unit_test(test_guid_braced_lower_form),
        cmocka_unit_test(test_guid_from_text_accepts_braces_and_any_case),
        cmocka_unit_test(test_guid_from_text_uses_len_not_nul),
        cmocka_unit_test(test_guid_from_text_rejects_wrong_lengths),
        cmocka_unit_test(test_guid_from_text_rejects_missing_dash),
        cmocka_unit_test(test_guid_from_text_rejects_non_hex),
        cmocka_unit_test(test_guid_from_text_rejects_brace_mismatch),
        cmocka_unit_test(test_guid_from_text_null_args),
        cmocka_unit_test(test_guid_text_round_trip_random),
        cmocka_unit_test(test_guid_generate_is_random_v4),
        cmocka_unit_test(test_guid_generate_text_shows_version_digit),
        cmocka_unit_test(test_guid_make_matches_text_fields),
        cmocka_unit_test(test_guid_is_nil),
        cmocka_unit_test(test_guid_equal_compares_all_bytes),
        cmocka_unit_test(test_guid_known_constants_match_format_text),
        cmocka_unit_test(test_guid_known_constants_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
