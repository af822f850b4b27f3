#include "format/parent_locator.h"

#include <string.h>

#include "base/checked.h"
#include "base/cursor.h"
#include "base/utf16.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "parent locator";

static uint64_t entry_offset(size_t i)
{
    return PARENT_LOCATOR_HEADER_SIZE + (uint64_t)i * PARENT_LOCATOR_ENTRY_SIZE;
}

static size_t entry_count_capped(const struct parent_locator *pl)
{
    size_t n = pl->key_value_count;
    return NEVER(n > PARENT_LOCATOR_MAX_ENTRIES) ? PARENT_LOCATOR_MAX_ENTRIES : n;
}

/*
 * §5.4.6 layout of one key or value: offset and length > 0 and even, inside
 * the item, and (recommended by the digest) not inside the header or the
 * entry table. field is the item offset of the Offset field.
 */
static vhdx_status check_string_layout(size_t i, const char *what, uint32_t off, uint16_t slen,
                                       uint64_t field, uint64_t length_field, size_t len,
                                       uint64_t table_end, struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    uint64_t end;

    if (off == 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "parent_locator.entry.offset.zero",
                                               STRUCT_NAME, field,
                                               "entry %zu: %s offset is 0, must be > 0", i, what));
    if (slen == 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "parent_locator.entry.length.zero",
                                               STRUCT_NAME, length_field,
                                               "entry %zu: %s length is 0, must be > 0", i, what));
    /* UTF-16 code units are 2 bytes: openvmm requires even offsets and lengths. */
    if ((off & 1u) != 0 || (slen & 1u) != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_ALIGNMENT, "parent_locator.entry.odd",
                                               STRUCT_NAME, (off & 1u) != 0 ? field : length_field,
                                               "entry %zu: %s offset %u / length %u is odd", i,
                                               what, off, slen));
    if (off == 0 || slen == 0)
        return first;
    if (NEVER(!ck_range_end(off, slen, &end)) || end > len)
        return status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "parent_locator.entry.bounds",
                                              STRUCT_NAME, field,
                                              "entry %zu: %s [%u, %llu) extends past the end of "
                                              "the %zu-byte item",
                                              i, what, off, (unsigned long long)off + slen, len));
    if (off < table_end)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_OVERLAP,
                                               "parent_locator.entry.overlaps_header", STRUCT_NAME,
                                               field,
                                               "entry %zu: %s at offset %u lies inside the header "
                                               "and entry table (%llu bytes)",
                                               i, what, off, (unsigned long long)table_end));
    return first;
}

vhdx_status parent_locator_decode(const uint8_t *buf, size_t len, uint32_t max_entries,
                                  struct parent_locator *out, struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);
    vhdx_status first = VHDX_OK;
    uint16_t reserved, count;
    uint32_t limit;
    uint64_t table_end;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < PARENT_LOCATOR_HEADER_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "parent_locator.truncated", STRUCT_NAME, 0,
                          "parent locator needs a %u-byte header, only %zu bytes available",
                          PARENT_LOCATOR_HEADER_SIZE, buf == NULL ? (size_t)0 : len);
    (void)rc_bytes(&c, out->locator_type.b, 16);
    reserved = rc_u16(&c);
    count = rc_u16(&c);

    /* §5.4.6: Reserved MUST be 0. */
    if (reserved != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "parent_locator.reserved",
                                               STRUCT_NAME, 16,
                                               "reserved field is 0x%04x, must be 0", reserved));
    /* openvmm: 1 <= KeyValueCount <= 256; the caller's limit may be lower. */
    if (count == 0)
        return DIAG_ERROR(d, VHDX_E_RANGE, "parent_locator.count.zero", STRUCT_NAME, 18,
                          "key/value count is 0");
    limit = max_entries == 0 || max_entries > PARENT_LOCATOR_MAX_ENTRIES
                ? PARENT_LOCATOR_MAX_ENTRIES
                : max_entries;
    if (count > limit)
        return DIAG_ERROR(d, VHDX_E_LIMIT, "parent_locator.count.limit", STRUCT_NAME, 18,
                          "key/value count %u exceeds the limit of %u", count, limit);
    table_end = entry_offset(count);
    if (len < table_end)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "parent_locator.truncated", STRUCT_NAME, 0,
                          "%u entries need %llu bytes, the item has %zu", count,
                          (unsigned long long)table_end, len);

    for (size_t i = 0; i < count; i++) {
        struct parent_locator_entry *e = &out->entries[i];
        uint64_t base = entry_offset(i);
        e->key_offset = rc_u32(&c);
        e->value_offset = rc_u32(&c);
        e->key_length = rc_u16(&c);
        e->value_length = rc_u16(&c);
        first = status_first(first, check_string_layout(i, "key", e->key_offset, e->key_length,
                                                        base, base + 8, len, table_end, d));
        first = status_first(first,
                             check_string_layout(i, "value", e->value_offset, e->value_length,
                                                 base + 4, base + 10, len, table_end, d));
    }
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "parent_locator.truncated", STRUCT_NAME, 0,
                          "entries run past the item");
    out->key_value_count = count;
    return first;
}

static const uint8_t *slice(const uint8_t *buf, size_t len, uint32_t off, uint16_t slen,
                            size_t *out_len)
{
    *out_len = 0;
    if (buf == NULL || off > len || len - off < slen)
        return NULL;
    *out_len = slen;
    return buf + off;
}

const uint8_t *parent_locator_key(const struct parent_locator *pl, const uint8_t *buf, size_t len,
                                  size_t i, size_t *out_len)
{
    *out_len = 0;
    if (i >= entry_count_capped(pl))
        return NULL;
    return slice(buf, len, pl->entries[i].key_offset, pl->entries[i].key_length, out_len);
}

const uint8_t *parent_locator_value(const struct parent_locator *pl, const uint8_t *buf,
                                    size_t len, size_t i, size_t *out_len)
{
    *out_len = 0;
    if (i >= entry_count_capped(pl))
        return NULL;
    return slice(buf, len, pl->entries[i].value_offset, pl->entries[i].value_length, out_len);
}

/* The j-th UTF-16 code unit of s, or 0 past its end (0 never occurs inside valid text). */
static uint16_t unit_at(const uint8_t *s, size_t slen, size_t j)
{
    if (j >= slen / 2)
        return 0;
    return le16_load_no_bounds_check(s + 2 * j);
}

static bool equals_ascii(const uint8_t *s, size_t slen, const char *name)
{
    size_t n = strlen(name);
    if (slen != 2 * n)
        return false;
    for (size_t j = 0; j < n; j++) {
        if (unit_at(s, slen, j) != (uint8_t)name[j])
            return false;
    }
    return true;
}

static uint16_t ascii_lower(uint16_t u)
{
    return u >= 'A' && u <= 'Z' ? (uint16_t)(u + ('a' - 'A')) : u;
}

/* True when s starts with prefix, ASCII letters compared case-insensitively. */
static bool starts_with_ascii_nocase(const uint8_t *s, size_t slen, const char *prefix)
{
    for (size_t j = 0; prefix[j] != '\0'; j++) {
        if (ascii_lower(unit_at(s, slen, j)) != ascii_lower((uint8_t)prefix[j]))
            return false;
    }
    return true;
}

/* §5.4.6: \\?\ then a drive letter and colon, or a UNC share (\\?\UNC\server\...). */
static bool is_absolute_win32_path(const uint8_t *s, size_t slen)
{
    uint16_t u4 = ascii_lower(unit_at(s, slen, 4));
    if (!starts_with_ascii_nocase(s, slen, "\\\\?\\"))
        return false;
    if (u4 >= 'a' && u4 <= 'z' && unit_at(s, slen, 5) == ':')
        return true;
    return starts_with_ascii_nocase(s, slen, "\\\\?\\UNC\\") && unit_at(s, slen, 8) != 0 &&
           unit_at(s, slen, 8) != '\\';
}

/* GUID text, with or without braces, any case (§5.4.6, §11.2 item 8). */
static bool is_guid_text(const uint8_t *s, size_t slen)
{
    char text[GUID_TEXT_SIZE + 2];
    size_t n;
    struct guid g;
    if (utf16le_to_utf8(s, slen, text, sizeof(text), &n) != VHDX_OK)
        return false;
    return guid_from_text(text, n, &g) == VHDX_OK;
}

/* Heap sort of entry indices by (key length, key bytes, index), for the duplicate check. */
struct key_sort {
    const struct parent_locator *pl;
    const uint8_t *buf;
    size_t len;
};

static int cmp_keys(const struct key_sort *ks, uint16_t a, uint16_t b)
{
    size_t la, lb;
    const uint8_t *ka = parent_locator_key(ks->pl, ks->buf, ks->len, a, &la);
    const uint8_t *kb = parent_locator_key(ks->pl, ks->buf, ks->len, b, &lb);
    int r;
    if (la != lb)
        return la < lb ? -1 : 1;
    r = la == 0 || ka == NULL || kb == NULL ? 0 : memcmp(ka, kb, la);
    if (r != 0)
        return r;
    return a < b ? -1 : a > b ? 1 : 0;
}

static void sift_down(const struct key_sort *ks, uint16_t *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        uint16_t tmp;
        if (child >= n)
            return;
        if (child + 1 < n && cmp_keys(ks, v[child], v[child + 1]) < 0)
            child++;
        if (cmp_keys(ks, v[root], v[child]) >= 0)
            return;
        tmp = v[root];
        v[root] = v[child];
        v[child] = tmp;
        root = child;
    }
}

static void heap_sort(const struct key_sort *ks, uint16_t *v, size_t n)
{
    for (size_t i = n / 2; i > 0; i--)
        sift_down(ks, v, i - 1, n);
    for (size_t end = n; end > 1; end--) {
        uint16_t tmp = v[0];
        v[0] = v[end - 1];
        v[end - 1] = tmp;
        sift_down(ks, v, 0, end - 1);
    }
}

/* §5.4.6: keys are unique (compared as bytes: keys are case-sensitive). */
static vhdx_status check_duplicate_keys(const struct parent_locator *pl, const uint8_t *buf,
                                        size_t len, struct diag_sink *d)
{
    struct key_sort ks = {pl, buf, len};
    uint16_t order[PARENT_LOCATOR_MAX_ENTRIES];
    vhdx_status first = VHDX_OK;
    size_t n = 0, run = 0;

    for (size_t i = 0; i < entry_count_capped(pl); i++) {
        size_t kl;
        if (parent_locator_key(pl, buf, len, i, &kl) != NULL && kl > 0)
            order[n++] = (uint16_t)i;
    }
    heap_sort(&ks, order, n);
    for (size_t i = 1; i < n; i++) {
        size_t la, lb;
        const uint8_t *ka = parent_locator_key(pl, buf, len, order[run], &la);
        const uint8_t *kb = parent_locator_key(pl, buf, len, order[i], &lb);
        char text[64];
        if (la != lb || memcmp(ka, kb, la) != 0) {
            run = i;
            continue;
        }
        if (utf16le_to_utf8(kb, lb, text, sizeof(text), NULL) == VHDX_E_ENCODING)
            text[0] = '\0';
        first = status_first(first, DIAG_ERROR(d, VHDX_E_DUPLICATE, "parent_locator.key.duplicate",
                                               STRUCT_NAME, entry_offset(order[i]),
                                               "entry %u repeats the key of entry %u ('%s')",
                                               order[i], order[run], text));
    }
    return first;
}

enum known_key {
    KEY_PARENT_LINKAGE,
    KEY_PARENT_LINKAGE2,
    KEY_RELATIVE_PATH,
    KEY_VOLUME_PATH,
    KEY_ABSOLUTE_WIN32_PATH,
    KEY_COUNT_
};

static const char *const KEY_NAMES[KEY_COUNT_] = {
    [KEY_PARENT_LINKAGE] = "parent_linkage",
    [KEY_PARENT_LINKAGE2] = "parent_linkage2",
    [KEY_RELATIVE_PATH] = "relative_path",
    [KEY_VOLUME_PATH] = "volume_path",
    [KEY_ABSOLUTE_WIN32_PATH] = "absolute_win32_path",
};

/*
 * §5.4.6: the keys of the VHDX locator type. key_ok[i] / value_ok[i]: entry
 * i's key / value is valid text. A key with a bad value still counts as
 * present; only its value is not looked at (the encoding error is reported).
 */
static vhdx_status check_vhdx_keys(const struct parent_locator *pl, const uint8_t *buf,
                                   size_t len, const bool *key_ok, const bool *value_ok,
                                   struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    int found[KEY_COUNT_];
    const uint8_t *v;
    size_t vl;

    for (size_t k = 0; k < KEY_COUNT_; k++)
        found[k] = -1;
    for (size_t i = 0; i < entry_count_capped(pl); i++) {
        size_t kl, k;
        const uint8_t *key = parent_locator_key(pl, buf, len, i, &kl);
        if (key == NULL || !key_ok[i])
            continue;
        for (k = 0; k < KEY_COUNT_; k++) {
            if (equals_ascii(key, kl, KEY_NAMES[k]))
                break;
        }
        if (k == KEY_COUNT_) {
            char text[64];
            if (utf16le_to_utf8(key, kl, text, sizeof(text), NULL) == VHDX_E_ENCODING)
                text[0] = '\0';
            (void)DIAG_INFO(d, "parent_locator.key.unknown", STRUCT_NAME,
                            pl->entries[i].key_offset, "entry %zu: unknown key '%s' is ignored",
                            i, text);
        } else if (found[k] < 0) {
            found[k] = (int)i;
        }
    }

    /* parent_linkage MUST be present: the parent's DataWriteGuid, as GUID text. */
    if (found[KEY_PARENT_LINKAGE] < 0) {
        first = status_first(first, DIAG_ERROR(d, VHDX_E_MISSING,
                                               "parent_locator.parent_linkage.missing",
                                               STRUCT_NAME, VHDX_OFFSET_NONE,
                                               "the parent_linkage key is missing"));
    } else {
        size_t i = (size_t)found[KEY_PARENT_LINKAGE];
        v = parent_locator_value(pl, buf, len, i, &vl);
        if (value_ok[i] && (v == NULL || !is_guid_text(v, vl)))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_ENCODING,
                                                   "parent_locator.parent_linkage.invalid",
                                                   STRUCT_NAME, pl->entries[i].value_offset,
                                                   "entry %zu: parent_linkage is not GUID text",
                                                   i));
    }

    /* §11.2 item 7: rev 8.0 says parent_linkage2 can't be present; strict readers report it. */
    if (found[KEY_PARENT_LINKAGE2] >= 0) {
        size_t i = (size_t)found[KEY_PARENT_LINKAGE2];
        (void)DIAG_WARN(d, VHDX_E_CORRUPT, "parent_locator.parent_linkage2.present", STRUCT_NAME,
                        pl->entries[i].key_offset,
                        "entry %zu: parent_linkage2 is present (MS-VHDX rev 8.0 says it can't be)",
                        i);
        v = parent_locator_value(pl, buf, len, i, &vl);
        if (value_ok[i] && (v == NULL || !is_guid_text(v, vl)))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_ENCODING,
                                                   "parent_locator.parent_linkage2.invalid",
                                                   STRUCT_NAME, pl->entries[i].value_offset,
                                                   "entry %zu: parent_linkage2 is not GUID text",
                                                   i));
    }

    /* At least one of the three path keys MUST be present. */
    if (found[KEY_RELATIVE_PATH] < 0 && found[KEY_VOLUME_PATH] < 0 &&
        found[KEY_ABSOLUTE_WIN32_PATH] < 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_MISSING, "parent_locator.path.missing",
                                               STRUCT_NAME, VHDX_OFFSET_NONE,
                                               "none of relative_path, volume_path and "
                                               "absolute_win32_path is present"));

    /* volume_path is a volume-GUID path only. */
    if (found[KEY_VOLUME_PATH] >= 0) {
        size_t i = (size_t)found[KEY_VOLUME_PATH];
        v = parent_locator_value(pl, buf, len, i, &vl);
        if (value_ok[i] &&
            (v == NULL || !starts_with_ascii_nocase(v, vl, "\\\\?\\Volume{")))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                   "parent_locator.volume_path.form", STRUCT_NAME,
                                                   pl->entries[i].value_offset,
                                                   "entry %zu: volume_path does not start with "
                                                   "\\\\?\\Volume{",
                                                   i));
    }

    /* absolute_win32_path: \\?\ then a drive letter or a UNC share. */
    if (found[KEY_ABSOLUTE_WIN32_PATH] >= 0) {
        size_t i = (size_t)found[KEY_ABSOLUTE_WIN32_PATH];
        v = parent_locator_value(pl, buf, len, i, &vl);
        if (value_ok[i] && (v == NULL || !is_absolute_win32_path(v, vl)))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                   "parent_locator.absolute_win32_path.form",
                                                   STRUCT_NAME, pl->entries[i].value_offset,
                                                   "entry %zu: absolute_win32_path does not start "
                                                   "with \\\\?\\ and a drive letter or UNC share",
                                                   i));
    }
    return first;
}

vhdx_status parent_locator_validate(const struct parent_locator *pl, const uint8_t *buf,
                                    size_t len, struct diag_sink *d)
{
    bool key_ok[PARENT_LOCATOR_MAX_ENTRIES], value_ok[PARENT_LOCATOR_MAX_ENTRIES];
    vhdx_status first = VHDX_OK;
    size_t n = entry_count_capped(pl);

    /* §5.4.6: keys and values are UTF-16LE without NUL characters. */
    for (size_t i = 0; i < n; i++) {
        const struct parent_locator_entry *e = &pl->entries[i];
        size_t kl, vl, bad = 0;
        const uint8_t *k = parent_locator_key(pl, buf, len, i, &kl);
        const uint8_t *v = parent_locator_value(pl, buf, len, i, &vl);
        key_ok[i] = k != NULL;
        value_ok[i] = v != NULL;
        if (k != NULL && utf16le_validate(k, kl, &bad) != VHDX_OK) {
            key_ok[i] = false;
            first = status_first(first, DIAG_ERROR(d, VHDX_E_ENCODING,
                                                   "parent_locator.entry.encoding", STRUCT_NAME,
                                                   (uint64_t)e->key_offset + bad,
                                                   "entry %zu: key is not valid UTF-16LE without "
                                                   "NUL (bad unit at key byte %zu)",
                                                   i, bad));
        }
        if (v != NULL && utf16le_validate(v, vl, &bad) != VHDX_OK) {
            value_ok[i] = false;
            first = status_first(first, DIAG_ERROR(d, VHDX_E_ENCODING,
                                                   "parent_locator.entry.encoding", STRUCT_NAME,
                                                   (uint64_t)e->value_offset + bad,
                                                   "entry %zu: value is not valid UTF-16LE without "
                                                   "NUL (bad unit at value byte %zu)",
                                                   i, bad));
        }
    }
    first = status_first(first, check_duplicate_keys(pl, buf, len, d));

    /* §5.4.6: the implementation MUST check that it understands the locator type. */
    if (!guid_equal(&pl->locator_type, &VHDX_GUID_LOCATOR_TYPE_VHDX)) {
        char id[GUID_TEXT_SIZE];
        guid_to_text(&pl->locator_type, id);
        return status_first(first, DIAG_ERROR(d, VHDX_E_UNSUPPORTED, "parent_locator.type.unknown",
                                              STRUCT_NAME, 0,
                                              "locator type %s is not the VHDX type", id));
    }
    return status_first(first, check_vhdx_keys(pl, buf, len, key_ok, value_ok, d));
}

vhdx_status parent_locator_find(const struct parent_locator *pl, const uint8_t *buf, size_t len,
                                const char *key, size_t key_len, char *dst, size_t cap,
                                size_t *out_len)
{
    uint8_t want[2 * PARENT_LOCATOR_MAX_ENTRIES];
    size_t want_len = 0;
    vhdx_status st;

    if (out_len != NULL)
        *out_len = 0;
    if (dst == NULL || cap == 0 || (key == NULL && key_len != 0))
        return VHDX_E_INVALID_ARG;
    dst[0] = '\0';
    st = utf8_to_utf16le(key, key_len, want, sizeof(want), &want_len);
    if (st == VHDX_E_LIMIT)
        return VHDX_E_INVALID_ARG;
    if (st != VHDX_OK)
        return st;
    for (size_t i = 0; i < entry_count_capped(pl); i++) {
        size_t kl, vl;
        const uint8_t *k = parent_locator_key(pl, buf, len, i, &kl);
        const uint8_t *v = parent_locator_value(pl, buf, len, i, &vl);
        if (k == NULL || v == NULL || kl != want_len || kl == 0 || memcmp(k, want, kl) != 0)
            continue;
        return utf16le_to_utf8(v, vl, dst, cap, out_len);
    }
    return VHDX_E_MISSING;
}

vhdx_status parent_locator_encode(const struct parent_locator *pl, const uint8_t *src,
                                  size_t src_len, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);
    uint64_t table_end;

    if (buf == NULL || pl->key_value_count > PARENT_LOCATOR_MAX_ENTRIES)
        return VHDX_E_INVALID_ARG;
    table_end = entry_offset(pl->key_value_count);
    if (len < table_end)
        return VHDX_E_TRUNCATED;
    memset(buf, 0, len);
    wc_bytes(&c, pl->locator_type.b, 16);
    wc_u16(&c, 0);
    wc_u16(&c, pl->key_value_count);
    for (size_t i = 0; i < pl->key_value_count; i++) {
        const struct parent_locator_entry *e = &pl->entries[i];
        wc_u32(&c, e->key_offset);
        wc_u32(&c, e->value_offset);
        wc_u16(&c, e->key_length);
        wc_u16(&c, e->value_length);
    }
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    for (size_t i = 0; i < pl->key_value_count; i++) {
        const struct parent_locator_entry *e = &pl->entries[i];
        const uint32_t offs[2] = {e->key_offset, e->value_offset};
        const uint16_t lens[2] = {e->key_length, e->value_length};
        for (size_t s = 0; s < 2; s++) {
            uint64_t end = (uint64_t)offs[s] + lens[s];
            if (lens[s] == 0)
                continue;
            if (offs[s] < table_end)
                return VHDX_E_INVALID_ARG;
            if (end > len)
                return VHDX_E_TRUNCATED;
            if (src == NULL || end > src_len)
                return VHDX_E_INVALID_ARG;
            memcpy(buf + offs[s], src + offs[s], lens[s]);
        }
    }
    return VHDX_OK;
}

/* Converts one UTF-8 string into buf at *pos as UTF-16LE; fills its offset and length. */
static vhdx_status build_string(const char *s, uint8_t *buf, size_t cap, size_t *pos,
                                uint32_t *off, uint16_t *slen)
{
    size_t n = 0;
    vhdx_status st;

    if (s == NULL || s[0] == '\0')
        return VHDX_E_INVALID_ARG;
    if (*pos > UINT32_MAX)
        return VHDX_E_LIMIT;
    st = utf8_to_utf16le(s, strlen(s), buf + *pos, cap - *pos, &n);
    if (st != VHDX_OK)
        return st;
    if (n > UINT16_MAX)
        return VHDX_E_RANGE;
    *off = (uint32_t)*pos;
    *slen = (uint16_t)n;
    *pos += n;
    return VHDX_OK;
}

vhdx_status parent_locator_build(const struct guid *locator_type,
                                 const struct parent_locator_kv *pairs, size_t count,
                                 uint8_t *buf, size_t cap, size_t *out_len)
{
    struct wcursor c = wc_make(buf, cap);
    size_t pos;

    if (out_len != NULL)
        *out_len = 0;
    if (locator_type == NULL || pairs == NULL || buf == NULL || count == 0 ||
        count > PARENT_LOCATOR_MAX_ENTRIES)
        return VHDX_E_INVALID_ARG;
    pos = (size_t)entry_offset(count);
    if (cap < pos)
        return VHDX_E_LIMIT;
    wc_bytes(&c, locator_type->b, 16);
    wc_u16(&c, 0);
    wc_u16(&c, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        struct parent_locator_entry e;
        vhdx_status st = build_string(pairs[i].key, buf, cap, &pos, &e.key_offset, &e.key_length);
        if (st == VHDX_OK)
            st = build_string(pairs[i].value, buf, cap, &pos, &e.value_offset, &e.value_length);
        if (st != VHDX_OK)
            return st;
        wc_u32(&c, e.key_offset);
        wc_u32(&c, e.value_offset);
        wc_u16(&c, e.key_length);
        wc_u16(&c, e.value_length);
    }
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_LIMIT;
    if (out_len != NULL)
        *out_len = pos;
    return VHDX_OK;
}
