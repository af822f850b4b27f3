#include "format/region_table.h"

#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/cursor.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "region table";

static uint64_t entry_pos(uint32_t i)
{
    return REGION_TABLE_HEADER_SIZE + (uint64_t)i * REGION_TABLE_ENTRY_SIZE;
}

vhdx_status region_table_decode(const uint8_t *buf, size_t len, struct region_table *out,
                                struct diag_sink *d)
{
    struct rcursor c = rc_make(buf, len);
    uint32_t stored, computed;

    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < REGION_TABLE_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "region_table.truncated", STRUCT_NAME, 0,
                          "region table needs %u bytes, only %zu available", REGION_TABLE_SIZE,
                          buf == NULL ? (size_t)0 : len);
    if (memcmp(buf, VHDX_SIG_REGION, 4) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "region_table.signature", STRUCT_NAME, 0,
                          "signature is not 'regi'");

    /* §4.1: CRC-32C over the entire 64 KiB table with the checksum field zeroed. */
    stored = le32_load_no_bounds_check(buf + REGION_TABLE_CHECKSUM_OFFSET);
    computed =
        crc32c_with_zero_field(buf, REGION_TABLE_SIZE, REGION_TABLE_CHECKSUM_OFFSET);
    if (stored != computed && crc32c_enforced())
        return DIAG_ERROR(d, VHDX_E_CHECKSUM, "region_table.checksum", STRUCT_NAME,
                          REGION_TABLE_CHECKSUM_OFFSET, "checksum is 0x%08x, computed 0x%08x",
                          stored, computed);

    (void)rc_skip(&c, 8);
    out->entry_count = rc_u32(&c);
    out->reserved = rc_u32(&c);
    /* §4.1: at most 2047 entries fit in the 64 KiB table. */
    if (out->entry_count > REGION_TABLE_MAX_ENTRIES) {
        uint32_t count = out->entry_count;
        out->entry_count = 0;
        return DIAG_ERROR(d, VHDX_E_RANGE, "region_table.entry_count", STRUCT_NAME, 8,
                          "entry count %u exceeds the maximum of %u", count,
                          REGION_TABLE_MAX_ENTRIES);
    }
    /* §4.1: Reserved MUST be 0 (openvmm rejects a non-zero value). */
    if (out->reserved != 0)
        return DIAG_ERROR(d, VHDX_E_RESERVED, "region_table.reserved", STRUCT_NAME, 12,
                          "reserved field is 0x%08x, must be 0", out->reserved);
    for (uint32_t i = 0; i < out->entry_count; i++) {
        struct region_entry *e = &out->entries[i];
        (void)rc_bytes(&c, e->guid.b, 16);
        e->file_offset = rc_u64(&c);
        e->length = rc_u32(&c);
        e->required = rc_u32(&c);
    }
    if (NEVER(!rc_ok(&c)))
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "region_table.truncated", STRUCT_NAME, 0,
                          "entries run past the table");
    return VHDX_OK;
}

bool region_guid_is_known(const struct guid *g)
{
    return guid_equal(g, &VHDX_GUID_REGION_BAT) || guid_equal(g, &VHDX_GUID_REGION_METADATA);
}

static const char *region_name(const struct guid *g)
{
    if (guid_equal(g, &VHDX_GUID_REGION_BAT))
        return "BAT";
    if (guid_equal(g, &VHDX_GUID_REGION_METADATA))
        return "metadata";
    return "unknown";
}

/* Per-entry field rules; returns false when the extent cannot be used for overlap checks. */
static bool validate_entry(const struct region_entry *e, uint32_t i,
                           const struct region_table_context *ctx, struct diag_sink *d,
                           vhdx_status *first)
{
    uint64_t pos = entry_pos(i);
    uint64_t end = 0;
    char gtext[GUID_TEXT_SIZE];
    bool usable = true;

    guid_to_text(&e->guid, gtext);
    if (!is_aligned_u64(e->file_offset, VHDX_MiB)) {
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                                 "region_table.entry.offset.alignment",
                                                 STRUCT_NAME, pos + 16,
                                                 "region %u (%s) offset 0x%llx is not a multiple of 1 MiB",
                                                 i, region_name(&e->guid),
                                                 (unsigned long long)e->file_offset));
        usable = false;
    }
    if (e->file_offset < VHDX_HEADER_SECTION_SIZE) {
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                 "region_table.entry.offset.range", STRUCT_NAME,
                                                 pos + 16,
                                                 "region %u (%s) offset 0x%llx lies inside the 1 MiB header section",
                                                 i, region_name(&e->guid),
                                                 (unsigned long long)e->file_offset));
        usable = false;
    }
    if (!is_aligned_u64(e->length, VHDX_MiB)) {
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_ALIGNMENT,
                                                 "region_table.entry.length.alignment",
                                                 STRUCT_NAME, pos + 24,
                                                 "region %u (%s) length 0x%x is not a multiple of 1 MiB",
                                                 i, region_name(&e->guid), e->length));
        usable = false;
    }
    if (e->length == 0) {
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                 "region_table.entry.length.zero", STRUCT_NAME,
                                                 pos + 24, "region %u (%s) has length 0", i,
                                                 region_name(&e->guid)));
        usable = false;
    }
    /* Bit 0 is the Required flag; bits 1-31 are reserved (openvmm rejects them). */
    if ((e->required & ~1u) != 0)
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_RESERVED,
                                                 "region_table.entry.required.reserved",
                                                 STRUCT_NAME, pos + 28,
                                                 "region %u (%s) required field 0x%08x has reserved bits set",
                                                 i, region_name(&e->guid), e->required));
    if (!ck_range_end(e->file_offset, e->length, &end)) {
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_OVERFLOW,
                                                 "region_table.entry.overflow", STRUCT_NAME,
                                                 pos + 16,
                                                 "region %u (%s) offset + length overflows 64 bits",
                                                 i, region_name(&e->guid)));
        return false;
    }
    if (ctx != NULL && ctx->file_size != 0 && end > ctx->file_size)
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_RANGE, "region_table.entry.past_eof",
                                                 STRUCT_NAME, pos + 16,
                                                 "region %u (%s) [0x%llx, 0x%llx) extends past the end of the file (0x%llx)",
                                                 i, region_name(&e->guid),
                                                 (unsigned long long)e->file_offset,
                                                 (unsigned long long)end,
                                                 (unsigned long long)ctx->file_size));
    if (usable && ctx != NULL && ctx->log_length != 0 &&
        ranges_overlap(e->file_offset, e->length, ctx->log_offset, ctx->log_length))
        *first = status_first(*first, DIAG_ERROR(d, VHDX_E_OVERLAP,
                                                 "region_table.entry.overlaps_log", STRUCT_NAME,
                                                 pos + 16,
                                                 "region %u (%s) [0x%llx, 0x%llx) overlaps the log [0x%llx, 0x%llx)",
                                                 i, region_name(&e->guid),
                                                 (unsigned long long)e->file_offset,
                                                 (unsigned long long)end,
                                                 (unsigned long long)ctx->log_offset,
                                                 (unsigned long long)(ctx->log_offset + ctx->log_length)));

    if (!region_guid_is_known(&e->guid)) {
        if ((e->required & 1u) != 0)
            *first = status_first(*first, DIAG_ERROR(d, VHDX_E_UNSUPPORTED,
                                                     "region_table.entry.unknown_required",
                                                     STRUCT_NAME, pos,
                                                     "region %u has unknown GUID %s and is marked required: the file must not be opened",
                                                     i, gtext));
        else
            (void)DIAG_INFO(d, "region_table.entry.unknown", STRUCT_NAME, pos,
                            "region %u has unknown GUID %s (not required; preserved)", i, gtext);
    }
    return usable;
}

/*
 * Index sorts with qsort_r (the table is the sort argument: no globals, and
 * only 2 x 4 KiB of stack for 2047 entries).
 */
static int by_start_cmp(const void *a, const void *b, void *arg)
{
    const struct region_table *t = arg;
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    uint64_t sx = t->entries[x].file_offset, sy = t->entries[y].file_offset;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_guid_cmp(const void *a, const void *b, void *arg)
{
    const struct region_table *t = arg;
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    int c = memcmp(t->entries[x].guid.b, t->entries[y].guid.b, 16);
    if (c != 0)
        return c;
    return x < y ? -1 : x > y;
}

static bool entry_is_zero(const struct region_entry *e)
{
    return guid_is_nil(&e->guid) && e->file_offset == 0 && e->length == 0 && e->required == 0;
}

static uint64_t entry_end(const struct region_table *t, uint16_t i)
{
    return t->entries[i].file_offset + t->entries[i].length;
}

vhdx_status region_table_validate(const struct region_table *t,
                                  const struct region_table_context *ctx, struct diag_sink *d)
{
    static const char *const required_names[2] = {"BAT", "metadata"};
    const struct guid *required_guids[2] = {&VHDX_GUID_REGION_BAT, &VHDX_GUID_REGION_METADATA};
    uint16_t refs[REGION_TABLE_MAX_ENTRIES];    /* usable extents, to sort by start */
    uint16_t by_guid[REGION_TABLE_MAX_ENTRIES]; /* every entry, to sort by GUID */
    uint32_t nrefs = 0, nguid = 0, nzero = 0, first_zero = 0, last_real = 0;
    vhdx_status first = VHDX_OK;
    uint32_t count = t->entry_count;

    if (count > REGION_TABLE_MAX_ENTRIES)
        return DIAG_ERROR(d, VHDX_E_RANGE, "region_table.entry_count", STRUCT_NAME, 8,
                          "entry count %u exceeds the maximum of %u", count,
                          REGION_TABLE_MAX_ENTRIES);

    /*
     * Entries that are all zero are not regions: an EntryCount larger than
     * the entries written (one flipped bit turns 2 into 258). The count is
     * the finding, once, rather than every rule each zero entry breaks.
     */
    for (uint32_t i = 0; i < count; i++) {
        if (entry_is_zero(&t->entries[i])) {
            if (nzero++ == 0)
                first_zero = i;
        } else {
            last_real = i + 1;
        }
    }
    if (nzero > 0) {
        if (first_zero == last_real && nzero == count - last_real)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                   "region_table.entry_count.zero_entries",
                                                   STRUCT_NAME, 8,
                                                   "entry count is %u, but entries %u to %u are all zero: the count is wrong (the table holds %u entries)",
                                                   count, first_zero, count - 1, last_real));
        else
            first = status_first(first, DIAG_ERROR(d, VHDX_E_RANGE,
                                                   "region_table.entry_count.zero_entries",
                                                   STRUCT_NAME, 8,
                                                   "entry count is %u, but %u of the entries (the first is entry %u) are all zero",
                                                   count, nzero, first_zero));
    }

    for (uint32_t i = 0; i < count; i++) {
        const struct region_entry *e = &t->entries[i];
        if (entry_is_zero(e))
            continue;
        if (validate_entry(e, i, ctx, d, &first))
            refs[nrefs++] = (uint16_t)i;
        by_guid[nguid++] = (uint16_t)i;
    }

    /* §4.2: the GUID MUST be unique within the table. Sort indices by GUID. */
    qsort_r(by_guid, nguid, sizeof(by_guid[0]), by_guid_cmp, (void *)(uintptr_t)t);
    for (uint32_t k = 1; k < nguid; k++) {
        uint32_t i = by_guid[k], j = by_guid[k - 1];
        if (guid_equal(&t->entries[i].guid, &t->entries[j].guid))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_DUPLICATE,
                                                   "region_table.entry.duplicate", STRUCT_NAME,
                                                   entry_pos(i),
                                                   "region %u (%s) repeats the GUID of region %u",
                                                   i, region_name(&t->entries[i].guid), j));
    }

    /* §4.4: both BAT and metadata regions must be present. */
    for (size_t r = 0; r < 2; r++) {
        if (region_table_find(t, required_guids[r]) == NULL)
            first = status_first(first, DIAG_ERROR(d, VHDX_E_MISSING,
                                                   r == 0 ? "region_table.bat.missing"
                                                          : "region_table.metadata.missing",
                                                   STRUCT_NAME, 0, "the %s region is missing",
                                                   required_names[r]));
    }

    /* §4.4: regions must not overlap each other. Sort by start, compare neighbours. */
    qsort_r(refs, nrefs, sizeof(refs[0]), by_start_cmp, (void *)(uintptr_t)t);
    for (uint32_t k = 1, reach = 0; k < nrefs; k++) {
        /* refs[reach] is the earlier extent that ends last. */
        uint16_t cur = refs[k], prev = refs[reach];
        if (t->entries[cur].file_offset < entry_end(t, prev))
            first = status_first(first, DIAG_ERROR(d, VHDX_E_OVERLAP, "region_table.overlap",
                                                   STRUCT_NAME, entry_pos(cur) + 16,
                                                   "region %u (%s) overlaps region %u (%s)", cur,
                                                   region_name(&t->entries[cur].guid), prev,
                                                   region_name(&t->entries[prev].guid)));
        if (entry_end(t, cur) > entry_end(t, prev))
            reach = k;
    }
    return first;
}

vhdx_status region_table_encode(const struct region_table *t, uint8_t *buf, size_t len)
{
    struct wcursor c = wc_make(buf, len);
    if (buf == NULL || len < REGION_TABLE_SIZE)
        return VHDX_E_TRUNCATED;
    if (t->entry_count > REGION_TABLE_MAX_ENTRIES)
        return VHDX_E_RANGE;
    memset(buf, 0, REGION_TABLE_SIZE);
    wc_bytes(&c, VHDX_SIG_REGION, 4);
    wc_u32(&c, 0);
    wc_u32(&c, t->entry_count);
    wc_u32(&c, t->reserved);
    for (uint32_t i = 0; i < t->entry_count; i++) {
        const struct region_entry *e = &t->entries[i];
        wc_bytes(&c, e->guid.b, 16);
        wc_u64(&c, e->file_offset);
        wc_u32(&c, e->length);
        wc_u32(&c, e->required);
    }
    if (NEVER(!wc_ok(&c)))
        return VHDX_E_TRUNCATED;
    le32_store_no_bounds_check(
        buf + REGION_TABLE_CHECKSUM_OFFSET,
        crc32c_with_zero_field(buf, REGION_TABLE_SIZE, REGION_TABLE_CHECKSUM_OFFSET));
    return VHDX_OK;
}

const struct region_entry *region_table_find(const struct region_table *t, const struct guid *g)
{
    uint32_t count = t->entry_count <= REGION_TABLE_MAX_ENTRIES ? t->entry_count : 0;
    for (uint32_t i = 0; i < count; i++) {
        if (guid_equal(&t->entries[i].guid, g))
            return &t->entries[i];
    }
    return NULL;
}

bool region_table_equal(const struct region_table *a, const struct region_table *b)
{
    if (a->entry_count != b->entry_count || a->reserved != b->reserved ||
        a->entry_count > REGION_TABLE_MAX_ENTRIES)
        return false;
    for (uint32_t i = 0; i < a->entry_count; i++) {
        const struct region_entry *x = &a->entries[i], *y = &b->entries[i];
        if (!guid_equal(&x->guid, &y->guid) || x->file_offset != y->file_offset ||
            x->length != y->length || x->required != y->required)
            return false;
    }
    return true;
}
