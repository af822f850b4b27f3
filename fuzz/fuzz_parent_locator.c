/*
 * Harness for the parent locator item (format/parent_locator). The input is
 * the item. When decoding succeeds: validate, look up the known keys,
 * re-encode from the input and require the same host struct and the same
 * key and value bytes. When every key and value is valid text, also
 * rebuild the item from its UTF-8 pairs with parent_locator_build and
 * require that it decodes and validates to the same verdict.
 */
#include <string.h>

#include "base/utf16.h"
#include "format/constants.h"
#include "format/parent_locator.h"
#include "fuzz_common.h"

#define MAX_ITEM (1u << 16)

static struct parent_locator pl, again;
static uint8_t enc[MAX_ITEM];
static char arena[1u << 20];
static uint8_t rebuilt[1u << 21];
static struct parent_locator_kv pairs[PARENT_LOCATOR_MAX_ENTRIES];

/* Converts every key and value to UTF-8 in arena; false when any is not valid text or no room. */
static bool pairs_from_item(const uint8_t *data, size_t size)
{
    size_t used = 0;
    for (size_t i = 0; i < pl.key_value_count; i++) {
        for (int s = 0; s < 2; s++) {
            size_t sl, n;
            const uint8_t *p = s == 0 ? parent_locator_key(&pl, data, size, i, &sl)
                                      : parent_locator_value(&pl, data, size, i, &sl);
            FUZZ_CHECK(p != NULL);
            if (utf16le_to_utf8(p, sl, arena + used, sizeof(arena) - used, &n) != VHDX_OK)
                return false;
            if (s == 0)
                pairs[i].key = arena + used;
            else
                pairs[i].value = arena + used;
            used += n + 1;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {"parent_linkage", "parent_linkage2", "relative_path",
                                       "volume_path", "absolute_win32_path"};
    struct fuzz_sink fs;
    char value[512];
    size_t errors, warnings, infos, rebuilt_len;
    vhdx_status v1, v2;

    if (size > MAX_ITEM)
        return 0;
    if (parent_locator_decode(size > 0 ? data : NULL, size, 0, &pl, fuzz_sink_init(&fs)) !=
        VHDX_OK)
        return 0;
    FUZZ_CHECK(fs.sink.total == 0);
    v1 = parent_locator_validate(&pl, data, size, fuzz_sink_init(&fs));
    errors = fs.sink.errors;
    warnings = fs.sink.warnings;
    infos = fs.sink.infos;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        status_ignore(parent_locator_find(&pl, data, size, keys[k], strlen(keys[k]), value,
                                          sizeof(value), NULL));

    FUZZ_CHECK(parent_locator_encode(&pl, data, size, enc, size) == VHDX_OK);
    FUZZ_CHECK(parent_locator_decode(enc, size, 0, &again, fuzz_sink_init(&fs)) == VHDX_OK);
    FUZZ_CHECK(memcmp(&pl, &again, sizeof(pl)) == 0);
    for (size_t i = 0; i < pl.key_value_count; i++) {
        size_t la, lb;
        const uint8_t *a = parent_locator_key(&pl, data, size, i, &la);
        const uint8_t *b = parent_locator_key(&again, enc, size, i, &lb);
        FUZZ_CHECK(a != NULL && b != NULL && la == lb && memcmp(a, b, la) == 0);
        a = parent_locator_value(&pl, data, size, i, &la);
        b = parent_locator_value(&again, enc, size, i, &lb);
        FUZZ_CHECK(a != NULL && b != NULL && la == lb && memcmp(a, b, la) == 0);
    }

    /* Valid text survives UTF-8 and back, so a rebuilt item gets the same verdict. */
    if (!pairs_from_item(data, size))
        return 0;
    if (parent_locator_build(&pl.locator_type, pairs, pl.key_value_count, rebuilt,
                             sizeof(rebuilt), &rebuilt_len) == VHDX_E_LIMIT)
        return 0;
    FUZZ_CHECK(parent_locator_decode(rebuilt, rebuilt_len, 0, &again, fuzz_sink_init(&fs)) ==
               VHDX_OK);
    v2 = parent_locator_validate(&again, rebuilt, rebuilt_len, fuzz_sink_init(&fs));
    FUZZ_CHECK(v1 == v2);
    FUZZ_CHECK(errors == fs.sink.errors && warnings == fs.sink.warnings && infos == fs.sink.infos);
    return 0;
}

#ifdef FUZZ_SEEDS
#include "base/endian.h"

#define LINKAGE "{83ed0ec3-24c8-49a6-a959-5e4bf1288bfb}"

static void emit_built(struct seed_out *out, const char *name, const struct guid *type,
                       const struct parent_locator_kv *kv, size_t n)
{
    static uint8_t buf[8192];
    size_t len;
    if (parent_locator_build(type, kv, n, buf, sizeof(buf), &len) == VHDX_OK)
        seed_emit(out, name, buf, len);
}

void fuzz_make_seeds(struct seed_out *out)
{
    static const struct parent_locator_kv full[] = {
        {"parent_linkage", LINKAGE},
        {"relative_path", "..\\..\\path2\\sub3\\parent.vhdx"},
        {"volume_path",
         "\\\\?\\Volume{26A21BDA-A627-11D7-9931-806E6F6E6963}\\path2\\sub3\\parent.vhdx"},
        {"absolute_win32_path", "\\\\?\\d:\\path2\\sub3\\parent.vhdx"},
    };
    static const struct parent_locator_kv unc[] = {
        {"parent_linkage", "{83ED0EC3-24C8-49A6-A959-5E4BF1288BFB}"},
        {"absolute_win32_path", "\\\\?\\UNC\\server\\share\\\xF0\x9F\x98\x80.vhdx"},
        {"parent_linkage2", "{00000000-1111-2222-3333-444444444444}"},
    };
    static const struct parent_locator_kv bad_keys[] = {
        {"parent_linkage", "not a guid"},
        {"volume_path", "C:\\parent.vhdx"},
        {"volume_path", "again"},
        {"vendor", "x"},
    };
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct guid other = guid_make(0x12345678, 0x9ABC, 0xDEF0, d4);
    static uint8_t buf[8192];
    size_t len;

    emit_built(out, "valid-all-paths", &VHDX_GUID_LOCATOR_TYPE_VHDX, full, 4);
    emit_built(out, "valid-unc-surrogates-linkage2", &VHDX_GUID_LOCATOR_TYPE_VHDX, unc, 3);
    emit_built(out, "bad-keys", &VHDX_GUID_LOCATOR_TYPE_VHDX, bad_keys, 4);
    emit_built(out, "unknown-type", &other, full, 2);

    if (parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, full, 4, buf, sizeof(buf), &len) !=
        VHDX_OK)
        return;
    /* A lone high surrogate inside relative_path's value. */
    le16_store_no_bounds_check(buf + le32_load_no_bounds_check(buf + 20 + 12 + 4) + 2, 0xD800);
    seed_emit(out, "lone-surrogate", buf, len);
    /* Entry 0's key moved into the entry table, entry 1's value made odd. */
    le32_store_no_bounds_check(buf + 20, 24);
    le16_store_no_bounds_check(buf + 20 + 12 + 10, 7);
    seed_emit(out, "bad-layout", buf, len);
    seed_emit(out, "truncated-table", buf, 40);
    seed_emit(out, "truncated-header", buf, 10);
    le16_store_no_bounds_check(buf + 18, 0);
    seed_emit(out, "count-0", buf, len);
    le16_store_no_bounds_check(buf + 18, 257);
    seed_emit(out, "count-257", buf, len);
}
#endif
