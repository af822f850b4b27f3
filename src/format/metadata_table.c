#include "format/metadata_table.h"

#include <string.h>

#include "base/checked.h"
#include "base/cursor.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "metadata table";

/* §5.4: the items [MS-VHDX] defines, with the flags and sizes its table gives. */
struct known_item {
    const struct guid *id;
    const char *name;
    uint32_t length; /* exact length in bytes; 0 means variable */
    bool is_virtual_disk;
    bool mandatory; /* needed in every file */
};

static const struct known_item KNOWN_ITEMS[] = {
    {&VHDX_GUID_FILE_PARAMETERS, "File Parameters", 8, false, true},
    {&VHDX_GUID_VIRTUAL_DISK_SIZE, "Virtual Disk Size", 8, true, true},
    {&VHDX_GUID_VIRTUAL_DISK_ID, "Virtual Disk ID", 16, true, true},
    {&VHDX_GUID_LOGICAL_SECTOR_SIZE, "Logical Sector Size", 4, true, true},
    {&VHDX_GUID_PHYSICAL_SECTOR_SIZE, "Physical Sector Size", 4, true, true},
    {&VHDX_GUID_PARENT_LOCATOR, "Parent Locator", 0, false, false},
};

static uint64_t entry_offset(size_t i)
{
    return METADATA_TABLE_HEADER_SIZE + (uint64_t)i * METADATA_TABLE_ENTRY_SIZE;
}

static const struct known_item *find_known(const struct guid *id)
{
    for (size_t k = 0; k < ARRAY_LEN(KNOWN_ITEMS); k++) {
        if (guid_equal(KNOWN_ITEMS[k].id, id))
            return &KNOWN_ITEMS[k];
    }
    return NULL;
}

/* Items openvmm knows but this library does not implement (§5.4, §11.2 item 22). */
static const char *openvmm_item_name(const struct guid *id)
{
    if (guid_equal(id, &VHDX_GUID_CHS_PARAMETERS))
        return " (CHS parameters, an openvmm item outside MS-VHDX)";
    if (guid_equal(id, &VHDX_GUID_PMEM_LABEL_STORAGE))
        return " (PMEM label storage, an openvmm item outside MS-VHDX)";
    return "";
}

vhdx_status metadata_table_decode(const uint8_t *buf, size_t len, struct metadata_table *out,
                                  struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);
    vhdx_status first = VHDX_OK;
    uint16_t reserved, count;
    size_t end;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < METADATA_TABLE_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "metadata_table.truncated", STRUCT_NAME, 0,
                          "metadata table needs %u bytes, only %zu available",
                          METADATA_TABLE_SIZE, buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_METADATA, 8) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "metadata_table.signature", STRUCT_NAME, 0,
                          "signature is not 'metadata'");

    (void)rc_skip(&c, 8);
    reserved = rc_u16(&c);
    count = rc_u16(&c);
    /* §5.2: 32 + 2047 * 32 fills the 64 KiB table exactly; more cannot fit. */
    if (count > METADATA_TABLE_MAX_ENTRIES)
        return DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry_count", STRUCT_NAME, 10,
                          "entry count is %u, at most %u fit in the table", count,
                          METADATA_TABLE_MAX_ENTRIES);
    /* §5.2: Reserved and Reserved2 MUST be 0. */
    if (reserved != 0)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "metadata_table.reserved",
                                               STRUCT_NAME, 8,
                                               "reserved field is 0x%04x, must be 0", reserved));
    if (!rc_zeros(&c, 20))
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RESERVED, "metadata_table.reserved2",
                                               STRUCT_NAME, 12,
                                               "reserved bytes 12..31 are not zero"));

    for (size_t i = 0; i < count; i++) {
        struct metadata_entry *e = &out->entries[i];
        uint64_t base = entry_offset(i);
        uint32_t flags, reserved2;

        (void)rc_bytes(&c, e->item_id.b, 16);
        e->offset = rc_u32(&c);
        e->length = rc_u32(&c);
        flags = rc_u32(&c);
        reserved2 = rc_u32(&c);
        /* §5.3: flag bits 3-31 and Reserved2 MUST be 0. */
        if ((flags & METADATA_FLAGS_RESERVED) != 0)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RESERVED, "metadata_table.entry.flags.reserved",
                                  STRUCT_NAME, base + 24,
                                  "entry %zu: flags 0x%08x set reserved bits 3-31", i, flags));
        if (reserved2 != 0)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RESERVED, "metadata_table.entry.reserved2",
                                  STRUCT_NAME, base + 28,
                                  "entry %zu: reserved field is 0x%08x, must be 0", i,
                                  reserved2));
        e->is_user = (flags & METADATA_FLAG_IS_USER) != 0;
        e->is_virtual_disk = (flags & METADATA_FLAG_IS_VIRTUAL_DISK) != 0;
        e->is_required = (flags & METADATA_FLAG_IS_REQUIRED) != 0;
    }
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "metadata_table.truncated", STRUCT_NAME, 0,
                          "metadata table entries run past the buffer");
    out->entry_count = count;

    /*
     * The format says nothing about the bytes after the last entry. Hyper-V
     * leaves stale entries there, so they are neither an error nor a
     * warning; an info finding says hidden bytes exist.
     */
    end = (size_t)entry_offset(count);
    /* 4 KiB at a time: the table is read at every open (and every fuzz input). */
    for (size_t i = end; i < METADATA_TABLE_SIZE;) {
        static const uint8_t zeros[4096];
        size_t n = METADATA_TABLE_SIZE - i < sizeof(zeros) ? METADATA_TABLE_SIZE - i
                                                           : sizeof(zeros);
        if (memcmp(buf + i, zeros, n) != 0) {
            while (buf[i] == 0)
                i++;
            (void)DIAG_INFO(d, "metadata_table.trailing_nonzero", STRUCT_NAME, i,
                            "bytes after the last entry (from offset %zu) are not zero; "
                            "they are ignored and not re-encoded",
                            end);
            break;
        }
        i += n;
    }
    return first;
}

/* A heap sort of entry indices, so that sorting needs no heap and is O(n log n) worst case. */
typedef int (*index_cmp)(const struct metadata_table *t, uint16_t a, uint16_t b);

static void sift_down(const struct metadata_table *t, index_cmp cmp, uint16_t *v, size_t root,
                      size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        uint16_t tmp;
        if (child >= n)
            return;
        if (child + 1 < n && cmp(t, v[child], v[child + 1]) < 0)
            child++;
        if (cmp(t, v[root], v[child]) >= 0)
            return;
        tmp = v[root];
        v[root] = v[child];
        v[child] = tmp;
        root = child;
    }
}

static void heap_sort(const struct metadata_table *t, index_cmp cmp, uint16_t *v, size_t n)
{
    for (size_t i = n / 2; i > 0; i--)
        sift_down(t, cmp, v, i - 1, n);
    for (size_t end = n; end > 1; end--) {
        uint16_t tmp = v[0];
        v[0] = v[end - 1];
        v[end - 1] = tmp;
        sift_down(t, cmp, v, 0, end - 1);
    }
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Order by (ItemId, IsUser), then index, so equal keys are adjacent and ordered. */
static int cmp_identity(const struct metadata_table *t, uint16_t a, uint16_t b)
{
    const struct metadata_entry *ea = &t->entries[a], *eb = &t->entries[b];
    int r = memcmp(ea->item_id.b, eb->item_id.b, 16);
    if (r != 0)
        return r;
    if (ea->is_user != eb->is_user)
        return ea->is_user ? 1 : -1;
    return cmp_u64(a, b);
}

static int cmp_position(const struct metadata_table *t, uint16_t a, uint16_t b)
{
    const struct metadata_entry *ea = &t->entries[a], *eb = &t->entries[b];
    int r = cmp_u64(ea->offset, eb->offset);
    if (r != 0)
        return r;
    r = cmp_u64(ea->length, eb->length);
    return r != 0 ? r : cmp_u64(a, b);
}

/* §5.3 rules that concern one entry on its own. */
static vhdx_status check_entry(const struct metadata_table *t, size_t i, uint64_t region_length,
                               struct diag_sink *d)
{
    const struct metadata_entry *e = &t->entries[i];
    uint64_t base = entry_offset(i), end;
    vhdx_status first = VHDX_OK;
    char id[GUID_TEXT_SIZE];

    guid_to_text(&e->item_id, id);
    /* openvmm rejects a zero ItemId. */
    if (guid_is_nil(&e->item_id))
        first = status_first(first,
                             DIAG_ERROR(d, VHDX_E_CORRUPT, "metadata_table.entry.item_id.nil",
                                        STRUCT_NAME, base, "entry %zu: item id is the nil GUID",
                                        i));

    if (e->length == 0) {
        /* An empty item is present but has no bytes: its Offset MUST be 0. */
        if (e->offset != 0)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry.offset.empty",
                                  STRUCT_NAME, base + 16,
                                  "entry %zu (%s): length is 0 but offset is 0x%x, must be 0", i,
                                  id, e->offset));
    } else {
        if (e->offset < METADATA_ITEM_MIN_OFFSET)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry.offset.range",
                                  STRUCT_NAME, base + 16,
                                  "entry %zu (%s): offset 0x%x lies inside the 64 KiB table", i,
                                  id, e->offset));
        if (e->length > METADATA_ITEM_MAX_LENGTH)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry.length.range",
                                  STRUCT_NAME, base + 20,
                                  "entry %zu (%s): length %u exceeds 1 MiB", i, id, e->length));
        /* Both are u32, so the sum cannot wrap; checked all the same. */
        if (NEVER(!ck_range_end(e->offset, e->length, &end)) || end > region_length)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry.past_region",
                                  STRUCT_NAME, base + 16,
                                  "entry %zu (%s): item [0x%x, 0x%llx) extends past the end of "
                                  "the metadata region (0x%llx)",
                                  i, id, e->offset, (unsigned long long)e->offset + e->length,
                                  (unsigned long long)region_length));
    }

    if (e->is_user) {
        /* openvmm: a user item cannot be required; such a table is corrupt. */
        if (e->is_required)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_CORRUPT, "metadata_table.entry.user_required",
                                  STRUCT_NAME, base + 24,
                                  "entry %zu (%s): a user item is marked required", i, id));
        return first;
    }

    const struct known_item *k = find_known(&e->item_id);
    if (k != NULL) {
        if (!e->is_required)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_CORRUPT, "metadata_table.entry.known.not_required",
                                  STRUCT_NAME, base + 24,
                                  "entry %zu: the %s item must be marked required", i, k->name));
        if (e->is_virtual_disk != k->is_virtual_disk)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_CORRUPT,
                                  "metadata_table.entry.known.virtual_disk_flag", STRUCT_NAME,
                                  base + 24,
                                  "entry %zu: the %s item has IsVirtualDisk = %d, must be %d", i,
                                  k->name, e->is_virtual_disk ? 1 : 0,
                                  k->is_virtual_disk ? 1 : 0));
        if (k->length != 0 && e->length != k->length)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.entry.known.length",
                                  STRUCT_NAME, base + 20,
                                  "entry %zu: the %s item is %u bytes long, must be exactly %u",
                                  i, k->name, e->length, k->length));
        return first;
    }

    /* openvmm's marker of a file whose creation never finished: never open it. */
    if (guid_equal(&e->item_id, &VHDX_GUID_INCOMPLETE_FILE))
        return status_first(first,
                            DIAG_ERROR(d, VHDX_E_CORRUPT, "metadata_table.incomplete_file",
                                       STRUCT_NAME, base,
                                       "entry %zu: the incomplete-file marker (%s) is present: "
                                       "the file was never finished",
                                       i, id));

    /* §5.3: an unrecognised required item means the file MUST NOT be loaded. */
    if (e->is_required)
        return status_first(first, DIAG_ERROR(d, VHDX_E_UNSUPPORTED,
                                              "metadata_table.entry.unknown_required",
                                              STRUCT_NAME, base,
                                              "entry %zu: required system item %s%s is not "
                                              "supported",
                                              i, id, openvmm_item_name(&e->item_id)));
    (void)DIAG_INFO(d, "metadata_table.entry.unknown", STRUCT_NAME, base,
                    "entry %zu: optional system item %s%s is not known and is ignored", i, id,
                    openvmm_item_name(&e->item_id));
    return first;
}

/* §5.3: the pair (ItemId, IsUser) is unique. */
static vhdx_status check_duplicates(const struct metadata_table *t, uint16_t *order,
                                    struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    size_t n = t->entry_count, run = 0;

    for (size_t i = 0; i < n; i++)
        order[i] = (uint16_t)i;
    heap_sort(t, cmp_identity, order, n);
    for (size_t i = 1; i < n; i++) {
        const struct metadata_entry *a = &t->entries[order[run]], *b = &t->entries[order[i]];
        char id[GUID_TEXT_SIZE];
        if (!guid_equal(&a->item_id, &b->item_id) || a->is_user != b->is_user) {
            run = i;
            continue;
        }
        guid_to_text(&b->item_id, id);
        first = status_first(first,
                             DIAG_ERROR(d, VHDX_E_DUPLICATE, "metadata_table.entry.duplicate",
                                        STRUCT_NAME, entry_offset(order[i]),
                                        "entry %u repeats entry %u: %s item %s", order[i],
                                        order[run], b->is_user ? "user" : "system", id));
    }
    return first;
}

/* §5.3: items must not overlap. Empty items have no bytes and overlap nothing. */
static vhdx_status check_overlaps(const struct metadata_table *t, uint16_t *order,
                                  struct diag_sink *d)
{
    vhdx_status first = VHDX_OK;
    size_t n = 0;
    uint64_t reach = 0;
    uint16_t reach_idx = 0;

    for (size_t i = 0; i < t->entry_count; i++) {
        if (t->entries[i].length != 0)
            order[n++] = (uint16_t)i;
    }
    heap_sort(t, cmp_position, order, n);
    /* In offset order an item overlaps an earlier one iff it starts before the furthest end. */
    for (size_t i = 0; i < n; i++) {
        const struct metadata_entry *e = &t->entries[order[i]];
        uint64_t end = (uint64_t)e->offset + e->length;
        if (i > 0 && e->offset < reach)
            first = status_first(
                first, DIAG_ERROR(d, VHDX_E_OVERLAP, "metadata_table.entry.overlap", STRUCT_NAME,
                                  entry_offset(order[i]) + 16,
                                  "entry %u item [0x%x, 0x%llx) overlaps entry %u item [0x%x, "
                                  "0x%llx)",
                                  order[i], e->offset, (unsigned long long)end, reach_idx,
                                  t->entries[reach_idx].offset, (unsigned long long)reach));
        if (end > reach) {
            reach = end;
            reach_idx = order[i];
        }
    }
    return first;
}

vhdx_status metadata_table_validate(const struct metadata_table *t, uint64_t region_length,
                                    struct diag_sink *d)
{
    uint16_t order[METADATA_TABLE_MAX_ENTRIES];
    vhdx_status first = VHDX_OK;
    size_t user_count = 0;

    if (t->entry_count > METADATA_TABLE_MAX_ENTRIES)
        return VHDX_E_INVALID_ARG; /* not a decoded table */

    /* §5.1: the region starts with the fixed 64 KiB table. */
    if (region_length < METADATA_TABLE_SIZE)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.region.too_small",
                                               STRUCT_NAME, VHDX_OFFSET_NONE,
                                               "metadata region is %llu bytes, smaller than its "
                                               "64 KiB table",
                                               (unsigned long long)region_length));

    for (size_t i = 0; i < t->entry_count; i++) {
        first = status_first(first, check_entry(t, i, region_length, d));
        if (t->entries[i].is_user)
            user_count++;
    }
    /* §5.3: at most 1024 entries may have IsUser set. */
    if (user_count > METADATA_TABLE_MAX_USER_ENTRIES)
        first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE, "metadata_table.user_count",
                                               STRUCT_NAME, 10,
                                               "%zu entries are user items, at most %u allowed",
                                               user_count, METADATA_TABLE_MAX_USER_ENTRIES));
    first = status_first(first, check_duplicates(t, order, d));
    first = status_first(first, check_overlaps(t, order, d));

    /* §5.4: the first five known items are needed in every file. */
    for (size_t k = 0; k < ARRAY_LEN(KNOWN_ITEMS); k++) {
        if (KNOWN_ITEMS[k].mandatory && metadata_table_find(t, KNOWN_ITEMS[k].id, false) == NULL)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_MISSING,
                                                   "metadata_table.missing_item", STRUCT_NAME,
                                                   VHDX_OFFSET_NONE,
                                                   "the required %s item is missing",
                                                   KNOWN_ITEMS[k].name));
    }
    return first;
}

vhdx_status metadata_table_check_parent_locator(const struct metadata_table *t, bool has_parent,
                                                struct diag_sink *d)
{
    const struct metadata_entry *pl = metadata_table_find(t, &VHDX_GUID_PARENT_LOCATOR, false);

    /* §5.4: a parent locator is present if and only if HasParent = 1. */
    if (has_parent && pl == NULL)
        return DIAG_ERROR(d, VHDX_E_MISSING, "metadata_table.parent_locator.missing", STRUCT_NAME,
                          VHDX_OFFSET_NONE,
                          "HasParent is set (differencing disk) but there is no parent locator");
    if (!has_parent && pl != NULL)
        return DIAG_ERROR(d, VHDX_E_CORRUPT, "metadata_table.parent_locator.unexpected",
                          STRUCT_NAME, entry_offset((size_t)(pl - t->entries)),
                          "a parent locator is present but HasParent is not set");
    return VHDX_OK;
}

const struct metadata_entry *metadata_table_find(const struct metadata_table *t,
                                                 const struct guid *item_id, bool is_user)
{
    size_t n = t->entry_count;
    if (NEVER(n > METADATA_TABLE_MAX_ENTRIES))
        n = METADATA_TABLE_MAX_ENTRIES;
    for (size_t i = 0; i < n; i++) {
        const struct metadata_entry *e = &t->entries[i];
        if (e->is_user == is_user && guid_equal(&e->item_id, item_id))
            return e;
    }
    return NULL;
}

vhdx_status metadata_table_encode(const struct metadata_table *t, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);

    if (buf == NULL || len < METADATA_TABLE_SIZE)
        return VHDX_E_TRUNCATED;
    if (t->entry_count > METADATA_TABLE_MAX_ENTRIES)
        return VHDX_E_INVALID_ARG;
    wc_bytes(&c, VHDX_SIG_METADATA, 8);
    wc_u16(&c, 0);
    wc_u16(&c, t->entry_count);
    wc_zeros(&c, 20);
    for (size_t i = 0; i < t->entry_count; i++) {
        const struct metadata_entry *e = &t->entries[i];
        uint32_t flags = (e->is_user ? METADATA_FLAG_IS_USER : 0u) |
                         (e->is_virtual_disk ? METADATA_FLAG_IS_VIRTUAL_DISK : 0u) |
                         (e->is_required ? METADATA_FLAG_IS_REQUIRED : 0u);
        wc_bytes(&c, e->item_id.b, 16);
        wc_u32(&c, e->offset);
        wc_u32(&c, e->length);
        wc_u32(&c, flags);
        wc_u32(&c, 0);
    }
    wc_zeros(&c, METADATA_TABLE_SIZE - c.pos);
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    return VHDX_OK;
}
