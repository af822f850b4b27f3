/* In-memory VHDX image builder for tests; see image_builder.h. */
#include "image_builder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/parent_locator.h"

#define MIB VHDX_MiB
#define PAGE 4096u

const struct guid IB_DEFAULT_DATA_WRITE_GUID = {{0xD1, 0xD1, 0xD1, 0xD1, 0x01, 0x00, 0x01, 0x40,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}};
const struct guid IB_DEFAULT_CHILD_DATA_WRITE_GUID = {{0xD2, 0xD2, 0xD2, 0xD2, 0x02, 0x00, 0x02,
    0x40, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02}};
const struct guid IB_DEFAULT_FILE_WRITE_GUID = {{0xF1, 0xF1, 0xF1, 0xF1, 0x01, 0x00, 0x01, 0x40,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03}};
const struct guid IB_DEFAULT_VIRTUAL_DISK_ID = {{0x1D, 0x1D, 0x1D, 0x1D, 0x01, 0x00, 0x01, 0x40,
    0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04}};

/* Item placement inside the metadata region: packed after the 64 KiB table. */
#define OFF_FILE_PARAMETERS 0x10000u
#define OFF_VIRTUAL_DISK_SIZE 0x10008u
#define OFF_VIRTUAL_DISK_ID 0x10010u
#define OFF_LOGICAL_SECTOR_SIZE 0x10020u
#define OFF_PHYSICAL_SECTOR_SIZE 0x10024u
#define OFF_PARENT_LOCATOR 0x10028u

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* ---- The mapping ---- */

/* Invariant: data[len, cap) is zero. */
static int reserve(struct ib_image *img, uint64_t need)
{
    uint64_t want;
    void *p;
    if (need <= img->cap)
        return 0;
    want = round_up(need, MIB);
    if (img->cap * 2 > want)
        want = round_up(img->cap * 2, MIB);
    if (want > (uint64_t)SIZE_MAX / 2)
        return VHDX_E_NOMEM;
    /* MAP_NORESERVE: untouched pages cost nothing, so sparse multi-GiB files are cheap. */
    if (img->data == NULL)
        p = mmap(NULL, (size_t)want, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    else
        p = mremap(img->data, img->cap, (size_t)want, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return VHDX_E_NOMEM;
    img->data = p;
    img->cap = (size_t)want;
    return 0;
}

int ib_resize(struct ib_image *img, uint64_t new_len)
{
    int rc;
    if (new_len > img->len) {
        rc = reserve(img, new_len);
        if (rc != 0)
            return rc;
    } else if (new_len < img->len) {
        /* Keep the invariant: give whole pages back, zero the edges. */
        uint64_t lo = round_up(new_len, PAGE), hi = img->len / PAGE * PAGE;
        if (hi > lo) {
            memset(img->data + new_len, 0, (size_t)(lo - new_len));
            if (madvise(img->data + lo, (size_t)(hi - lo), MADV_DONTNEED) != 0)
                memset(img->data + lo, 0, (size_t)(hi - lo));
            memset(img->data + hi, 0, (size_t)(img->len - hi));
        } else {
            memset(img->data + new_len, 0, (size_t)(img->len - new_len));
        }
    }
    img->len = (size_t)new_len;
    return 0;
}

int ib_alloc_space(struct ib_image *img, uint64_t size, uint64_t *offset)
{
    uint64_t at = round_up(img->len, MIB);
    int rc = ib_resize(img, at + round_up(size, MIB));
    if (rc != 0)
        return rc;
    *offset = at;
    return 0;
}

void ib_free(struct ib_image *img)
{
    if (img->data != NULL)
        munmap(img->data, img->cap);
    free(img->locator);
    memset(img, 0, sizeof(*img));
}

/* ---- Encoding the metadata ---- */

static void put_item(struct ib_image *img, const struct guid *id, const uint8_t *bytes,
                     size_t size)
{
    const struct metadata_entry *e = metadata_table_find(&img->mt, id, false);
    uint64_t end, n;
    if (e == NULL || e->length == 0)
        return;
    end = (uint64_t)e->offset + e->length;
    if (end > img->metadata_length || img->metadata_offset + end > img->len)
        return;
    n = e->length < size ? e->length : size;
    memcpy(img->data + img->metadata_offset + e->offset, bytes, (size_t)n);
}

int ib_refresh(struct ib_image *img)
{
    uint8_t item[16];
    vhdx_status st;

    if (img->len < VHDX_HEADER_SECTION_SIZE)
        return VHDX_E_TRUNCATED;
    st = file_identifier_encode(&img->ident, img->data, FILE_IDENTIFIER_SIZE);
    if (st == VHDX_OK)
        st = header_encode(&img->header_old, img->data + VHDX_HEADER1_OFFSET, HEADER_SIZE);
    if (st == VHDX_OK)
        st = header_encode(&img->header, img->data + VHDX_HEADER2_OFFSET, HEADER_SIZE);
    if (st == VHDX_OK)
        st = region_table_encode(&img->rt, img->data + VHDX_REGION_TABLE1_OFFSET,
                                 REGION_TABLE_SIZE);
    if (st == VHDX_OK)
        st = region_table_encode(&img->rt, img->data + VHDX_REGION_TABLE2_OFFSET,
                                 REGION_TABLE_SIZE);
    if (st != VHDX_OK)
        return (int)st;

    if (img->metadata_length < METADATA_TABLE_SIZE ||
        img->metadata_offset + img->metadata_length > img->len)
        return VHDX_E_RANGE;
    st = metadata_table_encode(&img->mt, img->data + img->metadata_offset, METADATA_TABLE_SIZE);
    if (st != VHDX_OK)
        return (int)st;

    if (file_parameters_encode(&img->fp, item, FILE_PARAMETERS_SIZE) == VHDX_OK)
        put_item(img, &VHDX_GUID_FILE_PARAMETERS, item, FILE_PARAMETERS_SIZE);
    if (virtual_disk_size_encode(&img->vds, item, VIRTUAL_DISK_SIZE_ITEM_SIZE) == VHDX_OK)
        put_item(img, &VHDX_GUID_VIRTUAL_DISK_SIZE, item, VIRTUAL_DISK_SIZE_ITEM_SIZE);
    if (virtual_disk_id_encode(&img->vdi, item, VIRTUAL_DISK_ID_SIZE) == VHDX_OK)
        put_item(img, &VHDX_GUID_VIRTUAL_DISK_ID, item, VIRTUAL_DISK_ID_SIZE);
    if (logical_sector_size_encode(&img->lss, item, LOGICAL_SECTOR_SIZE_ITEM_SIZE) == VHDX_OK)
        put_item(img, &VHDX_GUID_LOGICAL_SECTOR_SIZE, item, LOGICAL_SECTOR_SIZE_ITEM_SIZE);
    if (physical_sector_size_encode(&img->pss, item, PHYSICAL_SECTOR_SIZE_ITEM_SIZE) == VHDX_OK)
        put_item(img, &VHDX_GUID_PHYSICAL_SECTOR_SIZE, item, PHYSICAL_SECTOR_SIZE_ITEM_SIZE);
    if (img->locator != NULL)
        put_item(img, &VHDX_GUID_PARENT_LOCATOR, img->locator, img->locator_len);
    return 0;
}

int ib_restamp_checksums(struct ib_image *img)
{
    static const uint64_t headers[2] = {VHDX_HEADER1_OFFSET, VHDX_HEADER2_OFFSET};
    static const uint64_t tables[2] = {VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET};
    if (img->len < VHDX_HEADER_SECTION_SIZE)
        return VHDX_E_TRUNCATED;
    for (int i = 0; i < 2; i++) {
        uint8_t *h = img->data + headers[i], *t = img->data + tables[i];
        le32_store_no_bounds_check(h + HEADER_CHECKSUM_OFFSET,
                                   crc32c_with_zero_field(h, HEADER_SIZE, HEADER_CHECKSUM_OFFSET));
        le32_store_no_bounds_check(
            t + REGION_TABLE_CHECKSUM_OFFSET,
            crc32c_with_zero_field(t, REGION_TABLE_SIZE, REGION_TABLE_CHECKSUM_OFFSET));
    }
    return 0;
}

static void add_meta(struct metadata_table *mt, const struct guid *id, uint32_t offset,
                     uint32_t length, bool is_virtual_disk)
{
    struct metadata_entry *e = &mt->entries[mt->entry_count++];
    e->item_id = *id;
    e->offset = offset;
    e->length = length;
    e->is_user = false;
    e->is_virtual_disk = is_virtual_disk;
    e->is_required = true;
}

static int build_locator(struct ib_image *img, const struct ib_params *p,
                         const struct guid *linkage)
{
    char linkage_text[GUID_TEXT_SIZE + 2];
    struct parent_locator_kv kv[4];
    size_t count = 0, cap = PARENT_LOCATOR_HEADER_SIZE + 4 * PARENT_LOCATOR_ENTRY_SIZE;
    const char *relative = p->relative_path;
    vhdx_status st;

    if (relative == NULL && p->absolute_win32_path == NULL && p->volume_path == NULL)
        relative = "parent.vhdx";
    guid_to_text_braced_lower(linkage, linkage_text);
    kv[count++] = (struct parent_locator_kv){"parent_linkage", linkage_text};
    if (relative != NULL)
        kv[count++] = (struct parent_locator_kv){"relative_path", relative};
    if (p->volume_path != NULL)
        kv[count++] = (struct parent_locator_kv){"volume_path", p->volume_path};
    if (p->absolute_win32_path != NULL)
        kv[count++] = (struct parent_locator_kv){"absolute_win32_path", p->absolute_win32_path};
    /* UTF-16 takes at most two bytes per UTF-8 byte. */
    for (size_t i = 0; i < count; i++)
        cap += 2 * (strlen(kv[i].key) + strlen(kv[i].value));
    img->locator = malloc(cap);
    if (img->locator == NULL)
        return VHDX_E_NOMEM;
    st = parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, kv, count, img->locator, cap,
                              &img->locator_len);
    if (st != VHDX_OK)
        return (int)st;
    if (img->locator_len > METADATA_ITEM_MAX_LENGTH ||
        OFF_PARENT_LOCATOR + img->locator_len > img->metadata_length)
        return VHDX_E_RANGE;
    return 0;
}

static int build(const struct ib_params *p, struct ib_image *img)
{
    uint32_t block_size = p->block_size != 0 ? p->block_size : 32u * (uint32_t)MIB;
    uint32_t lss = p->logical_sector_size != 0 ? p->logical_sector_size : 512u;
    uint32_t pss = p->physical_sector_size != 0 ? p->physical_sector_size : 512u;
    uint32_t log_length = p->log_length != 0 ? p->log_length : (uint32_t)MIB;
    bool diff = p->type == IB_DIFFERENCING;
    struct guid linkage;
    uint64_t bat_bytes, file_len, after_log;
    vhdx_status st;
    int rc;

    if (p->type != IB_FIXED && p->type != IB_DYNAMIC && !diff)
        return VHDX_E_INVALID_ARG;
    if (p->layout != IB_LAYOUT_QEMU && p->layout != IB_LAYOUT_OPENVMM)
        return VHDX_E_INVALID_ARG;
    if (log_length % MIB != 0)
        return VHDX_E_ALIGNMENT;
    st = bat_geometry_init(&img->geo, p->virtual_size, block_size, lss, diff, NULL);
    if (st != VHDX_OK)
        return (int)st;
    img->type = p->type;
    img->parent = diff ? p->parent : NULL;

    /* Layout (§1.3). */
    bat_bytes = round_up(img->geo.total_entries * BAT_ENTRY_SIZE, MIB);
    if (bat_bytes > UINT32_MAX)
        return VHDX_E_RANGE;
    img->log_offset = MIB;
    img->log_length = log_length;
    img->bat_length = (uint32_t)bat_bytes;
    img->metadata_length = (uint32_t)MIB;
    after_log = img->log_offset + log_length;
    if (p->layout == IB_LAYOUT_QEMU) {
        img->bat_offset = after_log;
        img->metadata_offset = img->bat_offset + img->bat_length;
        img->payload_start = img->metadata_offset + img->metadata_length;
    } else {
        img->metadata_offset = after_log;
        img->bat_offset = img->metadata_offset + img->metadata_length;
        img->payload_start = img->bat_offset + img->bat_length;
    }
    file_len = img->payload_start;
    if (p->type == IB_FIXED)
        file_len += img->geo.payload_blocks * block_size;
    rc = ib_resize(img, file_len);
    if (rc != 0)
        return rc;

    /* §2 */
    st = file_identifier_set_creator(&img->ident,
                                     p->creator != NULL ? p->creator : "vhdx test builder");
    if (st != VHDX_OK)
        return (int)st;

    /* §3: header 2 is current. */
    img->header.sequence_number = 2;
    img->header.file_write_guid =
        guid_is_nil(&p->file_write_guid) ? IB_DEFAULT_FILE_WRITE_GUID : p->file_write_guid;
    if (!guid_is_nil(&p->data_write_guid))
        img->header.data_write_guid = p->data_write_guid;
    else
        img->header.data_write_guid =
            diff ? IB_DEFAULT_CHILD_DATA_WRITE_GUID : IB_DEFAULT_DATA_WRITE_GUID;
    img->header.version = 1;
    img->header.log_version = 0;
    img->header.log_length = log_length;
    img->header.log_offset = img->log_offset;
    img->header_old = img->header;
    img->header_old.sequence_number = 1;

    /* §4 */
    img->rt.entry_count = 2;
    img->rt.entries[0] = (struct region_entry){VHDX_GUID_REGION_BAT, img->bat_offset,
                                               img->bat_length, 1};
    img->rt.entries[1] = (struct region_entry){VHDX_GUID_REGION_METADATA, img->metadata_offset,
                                               img->metadata_length, 1};

    /* §5.4 */
    img->fp.block_size = block_size;
    img->fp.leave_blocks_allocated = p->type == IB_FIXED;
    img->fp.has_parent = diff;
    img->vds.size = p->virtual_size;
    img->vdi.id =
        guid_is_nil(&p->virtual_disk_id) ? IB_DEFAULT_VIRTUAL_DISK_ID : p->virtual_disk_id;
    img->lss.size = lss;
    img->pss.size = pss;
    add_meta(&img->mt, &VHDX_GUID_FILE_PARAMETERS, OFF_FILE_PARAMETERS, FILE_PARAMETERS_SIZE,
             false);
    add_meta(&img->mt, &VHDX_GUID_VIRTUAL_DISK_SIZE, OFF_VIRTUAL_DISK_SIZE,
             VIRTUAL_DISK_SIZE_ITEM_SIZE, true);
    add_meta(&img->mt, &VHDX_GUID_VIRTUAL_DISK_ID, OFF_VIRTUAL_DISK_ID, VIRTUAL_DISK_ID_SIZE,
             true);
    add_meta(&img->mt, &VHDX_GUID_LOGICAL_SECTOR_SIZE, OFF_LOGICAL_SECTOR_SIZE,
             LOGICAL_SECTOR_SIZE_ITEM_SIZE, true);
    add_meta(&img->mt, &VHDX_GUID_PHYSICAL_SECTOR_SIZE, OFF_PHYSICAL_SECTOR_SIZE,
             PHYSICAL_SECTOR_SIZE_ITEM_SIZE, true);
    if (diff) {
        if (!guid_is_nil(&p->parent_linkage))
            linkage = p->parent_linkage;
        else if (p->parent != NULL)
            linkage = p->parent->header.data_write_guid;
        else
            linkage = IB_DEFAULT_DATA_WRITE_GUID;
        rc = build_locator(img, p, &linkage);
        if (rc != 0)
            return rc;
        add_meta(&img->mt, &VHDX_GUID_PARENT_LOCATOR, OFF_PARENT_LOCATOR,
                 (uint32_t)img->locator_len, false);
    }
    rc = ib_refresh(img);
    if (rc != 0)
        return rc;

    /* §7.2: a fixed disk starts with every block FULLY_PRESENT, back to back. */
    if (p->type == IB_FIXED) {
        for (uint64_t b = 0; b < img->geo.payload_blocks; b++) {
            rc = ib_set_block_state(img, b, BAT_PAYLOAD_FULLY_PRESENT,
                                    (img->payload_start + b * block_size) >> 20);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int ib_build(const struct ib_params *p, struct ib_image *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    rc = build(p, out);
    if (rc != 0)
        ib_free(out);
    return rc;
}

/* ---- BAT ---- */

int ib_set_bat_raw(struct ib_image *img, uint64_t slot, uint64_t raw)
{
    if (slot >= img->bat_length / BAT_ENTRY_SIZE ||
        img->bat_offset + img->bat_length > img->len)
        return VHDX_E_RANGE;
    le64_store_no_bounds_check(img->data + img->bat_offset + slot * BAT_ENTRY_SIZE, raw);
    return 0;
}

int ib_get_bat_raw(const struct ib_image *img, uint64_t slot, uint64_t *raw)
{
    if (slot >= img->bat_length / BAT_ENTRY_SIZE ||
        img->bat_offset + img->bat_length > img->len)
        return VHDX_E_RANGE;
    *raw = le64_load_no_bounds_check(img->data + img->bat_offset + slot * BAT_ENTRY_SIZE);
    return 0;
}

int ib_set_block_state(struct ib_image *img, uint64_t block, uint8_t state, uint64_t offset_mb)
{
    struct bat_entry e = {state, 0, offset_mb};
    uint64_t slot;
    if (bat_payload_index(&img->geo, block, &slot) != VHDX_OK)
        return VHDX_E_RANGE;
    return ib_set_bat_raw(img, slot, bat_entry_encode(&e));
}

int ib_get_block_entry(const struct ib_image *img, uint64_t block, uint64_t *raw)
{
    uint64_t slot;
    if (bat_payload_index(&img->geo, block, &slot) != VHDX_OK)
        return VHDX_E_RANGE;
    return ib_get_bat_raw(img, slot, raw);
}

/* ---- Sector bitmaps ---- */

/* File offset of chunk's SB block, or 0 when its SB entry is not PRESENT. */
static int sb_lookup(const struct ib_image *img, uint64_t chunk, uint64_t *off)
{
    uint64_t slot, raw;
    struct bat_entry e;
    int rc;

    *off = 0;
    if (bat_sb_index(&img->geo, chunk, &slot) != VHDX_OK)
        return VHDX_E_RANGE;
    rc = ib_get_bat_raw(img, slot, &raw);
    if (rc != 0)
        return rc;
    e = bat_entry_decode(raw);
    if (e.state != BAT_SB_PRESENT)
        return 0;
    if (e.file_offset_mb == 0 ||
        bat_entry_file_offset(&e) + VHDX_SECTOR_BITMAP_BLOCK_SIZE > img->len)
        return VHDX_E_RANGE;
    *off = bat_entry_file_offset(&e);
    return 0;
}

/* Like sb_lookup, but allocates the SB block (entry PRESENT) when there is none. */
static int sb_block(struct ib_image *img, uint64_t chunk, uint64_t *off)
{
    uint64_t slot;
    struct bat_entry e;
    int rc = sb_lookup(img, chunk, off);
    if (rc != 0 || *off != 0)
        return rc;
    rc = ib_alloc_space(img, VHDX_SECTOR_BITMAP_BLOCK_SIZE, off);
    if (rc != 0)
        return rc;
    if (bat_sb_index(&img->geo, chunk, &slot) != VHDX_OK)
        return VHDX_E_RANGE;
    e = (struct bat_entry){BAT_SB_PRESENT, 0, *off >> 20};
    return ib_set_bat_raw(img, slot, bat_entry_encode(&e));
}

static uint64_t block_sectors(const struct ib_image *img)
{
    return img->geo.block_size / img->geo.logical_sector_size;
}

int ib_set_sb_bits(struct ib_image *img, uint64_t block, uint64_t first_sector, uint64_t count,
                   int value)
{
    struct bat_bitmap_slice s;
    uint64_t sb;
    int rc;
    if (bat_bitmap_slice(&img->geo, block, &s) != VHDX_OK || first_sector > block_sectors(img) ||
        count > block_sectors(img) - first_sector)
        return VHDX_E_RANGE;
    rc = sb_block(img, s.chunk, &sb);
    if (rc != 0)
        return rc;
    for (uint64_t k = first_sector; k < first_sector + count; k++) {
        uint8_t *byte = img->data + sb + s.byte_offset + k / 8;
        uint8_t mask = (uint8_t)(1u << (k % 8));
        *byte = value != 0 ? (uint8_t)(*byte | mask) : (uint8_t)(*byte & ~mask);
    }
    return 0;
}

/* Bit of `sector` given the SB block offset (0 = absent). */
static int bit_at(const struct ib_image *img, uint64_t sb, const struct bat_bitmap_slice *s,
                  uint64_t sector)
{
    if (sb == 0)
        return 0;
    return (img->data[sb + s->byte_offset + sector / 8] >> (sector % 8)) & 1;
}

int ib_get_sb_bit(const struct ib_image *img, uint64_t block, uint64_t sector, int *bit)
{
    struct bat_bitmap_slice s;
    uint64_t sb;
    int rc;
    if (bat_bitmap_slice(&img->geo, block, &s) != VHDX_OK || sector >= block_sectors(img))
        return VHDX_E_RANGE;
    rc = sb_lookup(img, s.chunk, &sb);
    if (rc != 0)
        return rc;
    *bit = bit_at(img, sb, &s, sector);
    return 0;
}

/* ---- The read model ---- */

static int read_block(const struct ib_image *img, uint64_t block, uint64_t in, uint64_t n,
                      uint8_t *out);

int ib_expected_read(const struct ib_image *img, uint64_t voff, uint64_t len, void *buf)
{
    uint8_t *out = buf;
    uint64_t end;
    if (!ck_range_end(voff, len, &end) || end > img->geo.virtual_disk_size)
        return VHDX_E_RANGE;
    while (len > 0) {
        uint64_t block = voff / img->geo.block_size, in = voff % img->geo.block_size;
        uint64_t n = img->geo.block_size - in;
        int rc;
        if (n > len)
            n = len;
        rc = read_block(img, block, in, n, out);
        if (rc != 0)
            return rc;
        voff += n;
        out += n;
        len -= n;
    }
    return 0;
}

static int read_parent(const struct ib_image *img, uint64_t voff, uint64_t n, uint8_t *out)
{
    if (img->parent == NULL)
        return VHDX_E_MISSING;
    return ib_expected_read(img->parent, voff, n, out);
}

static int read_block(const struct ib_image *img, uint64_t block, uint64_t in, uint64_t n,
                      uint8_t *out)
{
    uint64_t raw, off, vbase = block * img->geo.block_size;
    struct bat_entry e;
    int rc = ib_get_block_entry(img, block, &raw);
    if (rc != 0)
        return rc;
    e = bat_entry_decode(raw);
    off = bat_entry_file_offset(&e);
    switch (e.state) {
    case BAT_PAYLOAD_NOT_PRESENT:
        if (img->geo.has_parent)
            return read_parent(img, vbase + in, n, out);
        memset(out, 0, (size_t)n);
        return 0;
    case BAT_PAYLOAD_UNDEFINED:
    case BAT_PAYLOAD_ZERO:
    case BAT_PAYLOAD_UNMAPPED:
        memset(out, 0, (size_t)n);
        return 0;
    case BAT_PAYLOAD_FULLY_PRESENT:
        if (off == 0 || off + in + n > img->len)
            return VHDX_E_RANGE;
        memcpy(out, img->data + off + in, (size_t)n);
        return 0;
    case BAT_PAYLOAD_PARTIALLY_PRESENT: {
        struct bat_bitmap_slice s;
        uint32_t lss = img->geo.logical_sector_size;
        uint64_t sb, pos = in;
        if (!img->geo.has_parent || off == 0 || off + in + n > img->len)
            return VHDX_E_STATE;
        if (bat_bitmap_slice(&img->geo, block, &s) != VHDX_OK)
            return VHDX_E_RANGE;
        rc = sb_lookup(img, s.chunk, &sb);
        if (rc != 0)
            return rc;
        if (sb == 0)
            return VHDX_E_STATE; /* §7.3: the chunk's SB entry must be PRESENT */
        while (pos < in + n) {
            /* A run of sectors with the same bit. */
            uint64_t k = pos / lss, run_end;
            int bit = bit_at(img, sb, &s, k);
            while ((k + 1) * lss < in + n && bit_at(img, sb, &s, k + 1) == bit)
                k++;
            run_end = (k + 1) * lss < in + n ? (k + 1) * lss : in + n;
            if (bit)
                memcpy(out + (pos - in), img->data + off + pos, (size_t)(run_end - pos));
            else if ((rc = read_parent(img, vbase + pos, run_end - pos, out + (pos - in))) != 0)
                return rc;
            pos = run_end;
        }
        return 0;
    }
    default:
        return VHDX_E_STATE;
    }
}

/* ---- Writing ---- */

/* Gives block a new zero-filled block at EOF in `state`; *off receives where. */
static int new_block(struct ib_image *img, uint64_t block, uint8_t state, uint64_t *off)
{
    int rc = ib_alloc_space(img, img->geo.block_size, off);
    if (rc != 0)
        return rc;
    return ib_set_block_state(img, block, state, *off >> 20);
}

static int write_block(struct ib_image *img, uint64_t block, uint64_t in, const uint8_t *src,
                       uint64_t n)
{
    uint64_t raw, off;
    struct bat_entry e;
    int rc = ib_get_block_entry(img, block, &raw);
    if (rc != 0)
        return rc;
    e = bat_entry_decode(raw);
    off = bat_entry_file_offset(&e);
    switch (e.state) {
    case BAT_PAYLOAD_NOT_PRESENT:
        if (img->geo.has_parent) {
            rc = new_block(img, block, BAT_PAYLOAD_PARTIALLY_PRESENT, &off);
            break;
        }
        /* Outside a differencing image it reads as zeros, like the states below. */
        __attribute__((fallthrough));
    case BAT_PAYLOAD_UNDEFINED:
    case BAT_PAYLOAD_ZERO:
    case BAT_PAYLOAD_UNMAPPED:
        rc = new_block(img, block, BAT_PAYLOAD_FULLY_PRESENT, &off);
        break;
    case BAT_PAYLOAD_FULLY_PRESENT:
        break;
    case BAT_PAYLOAD_PARTIALLY_PRESENT:
        if (!img->geo.has_parent)
            return VHDX_E_STATE;
        break;
    default:
        return VHDX_E_STATE;
    }
    if (rc != 0)
        return rc;
    if (off == 0 || off + in + n > img->len)
        return VHDX_E_RANGE;

    rc = ib_get_block_entry(img, block, &raw);
    if (rc != 0)
        return rc;
    if (bat_entry_decode(raw).state == BAT_PAYLOAD_PARTIALLY_PRESENT) {
        uint32_t lss = img->geo.logical_sector_size;
        for (uint64_t k = in / lss; k * lss < in + n; k++) {
            int bit;
            rc = ib_get_sb_bit(img, block, k, &bit);
            if (rc != 0)
                return rc;
            if (bit)
                continue;
            /* A sector that comes into this file keeps the parent's bytes where not written. */
            if (k * lss < in || (k + 1) * lss > in + n) {
                uint8_t *dst = img->data + off + k * lss;
                uint64_t voff = block * img->geo.block_size + k * lss;
                if (img->parent == NULL || read_parent(img, voff, lss, dst) != 0)
                    memset(dst, 0, lss);
            }
            rc = ib_set_sb_bits(img, block, k, 1, 1);
            if (rc != 0)
                return rc;
        }
    }
    memcpy(img->data + off + in, src, (size_t)n);
    return 0;
}

int ib_write(struct ib_image *img, uint64_t voff, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    uint64_t end, left = len;
    if (!ck_range_end(voff, len, &end) || end > img->geo.virtual_disk_size)
        return VHDX_E_RANGE;
    while (left > 0) {
        uint64_t block = voff / img->geo.block_size, in = voff % img->geo.block_size;
        uint64_t n = img->geo.block_size - in;
        int rc;
        if (n > left)
            n = left;
        rc = write_block(img, block, in, src, n);
        if (rc != 0)
            return rc;
        voff += n;
        src += n;
        left -= n;
    }
    return 0;
}

/* ---- Saving ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int ib_save(const struct ib_image *img, const char *path)
{
    unsigned char *resident = NULL;
    size_t pages = (img->len + PAGE - 1) / PAGE;
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return VHDX_E_IO;
    /* Pages never touched are zero: skip them without reading (and faulting) them. */
    if (pages > 0) {
        resident = malloc(pages);
        if (resident != NULL && mincore(img->data, pages * PAGE, resident) != 0) {
            free(resident);
            resident = NULL;
        }
    }
    for (uint64_t at = 0; at < img->len && rc == 0; at += MIB) {
        size_t n = img->len - at < MIB ? (size_t)(img->len - at) : (size_t)MIB;
        bool touched = resident == NULL;
        for (size_t pg = 0; !touched && pg < (n + PAGE - 1) / PAGE; pg++)
            touched = (resident[at / PAGE + pg] & 1) != 0;
        if (!touched || all_zero(img->data + at, n))
            continue;
        for (size_t done = 0; done < n;) {
            ssize_t w = pwrite(fd, img->data + at + done, n - done, (off_t)(at + done));
            if (w <= 0) {
                if (w < 0 && errno == EINTR)
                    continue;
                rc = VHDX_E_IO;
                break;
            }
            done += (size_t)w;
        }
    }
    if (rc == 0 && ftruncate(fd, (off_t)img->len) != 0)
        rc = VHDX_E_IO;
    if (close(fd) != 0 && rc == 0)
        rc = VHDX_E_IO;
    free(resident);
    return rc;
}

/* ---- Log ---- */

int ib_add_log_entry(struct ib_image *img, uint64_t seq, uint32_t tail,
                     const struct log_descriptor *descs, size_t n,
                     const uint8_t *const *payloads, uint32_t *entry_offset)
{
    struct log_entry_header h;
    struct log_descriptor *copy = NULL;
    size_t n_data = 0, length;
    vhdx_status st;

    if (img->log_length == 0 || img->log_offset + img->log_length > img->len ||
        img->log_head % LOG_SECTOR != 0 || img->log_head >= img->log_length)
        return VHDX_E_RANGE;
    if (n > 0) {
        copy = malloc(n * sizeof(*copy));
        if (copy == NULL)
            return VHDX_E_NOMEM;
        for (size_t i = 0; i < n; i++) {
            copy[i] = descs[i];
            copy[i].sequence_number = seq;
            n_data += descs[i].kind == LOG_DESCRIPTOR_DATA;
        }
    }
    memset(&h, 0, sizeof(h));
    h.tail = tail;
    h.sequence_number = seq;
    h.log_guid = img->header.log_guid;
    h.flushed_file_offset = img->len;
    h.last_file_offset = img->len;
    st = log_entry_encode(&h, copy, n, payloads, img->data + img->log_offset, img->log_length,
                          img->log_head);
    free(copy);
    if (st != VHDX_OK)
        return (int)st;
    length = log_entry_length_for(n, n_data);
    if (entry_offset != NULL)
        *entry_offset = img->log_head;
    img->log_head = (uint32_t)((img->log_head + length) % img->log_length);
    return 0;
}

int ib_set_log_guid(struct ib_image *img, const struct guid *log_guid)
{
    if (img->len < VHDX_HEADER_SECTION_SIZE)
        return VHDX_E_TRUNCATED;
    img->header.log_guid = *log_guid;
    return (int)header_encode(&img->header, img->data + VHDX_HEADER2_OFFSET, HEADER_SIZE);
}
