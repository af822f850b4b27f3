/* Structure-aware mutation of whole images: see image_mutator.h. */
#include "image_mutator.h"

#include <stdlib.h>
#include <string.h>

#include "base/compiler.h"
#include "base/crc32c.h"
#include "base/endian.h"
#include "dirty_images.h"
#include "format/bat.h"
#include "format/constants.h"
#include "format/header.h"
#include "format/log_entry.h"
#include "format/metadata_table.h"
#include "format/parent_locator.h"
#include "format/region_table.h"

#define PAGE 4096u
#define MIB (1024u * 1024u)
#define MAX_ENTRIES 16u  /* log entries of a base we can name */
#define MAX_LOCATOR 8u   /* locator entries of a base we can name */
#define MAX_PINS 32u     /* checksum fields a record asked to keep wrong */
#define MAX_STRUCT 65536u

/* Where a field lies in its structure and how it is read. */
enum unit { U_RAW, U_BYTES, U_MIB };

struct field {
    uint16_t off;
    uint8_t width; /* bytes: 1, 2, 4, 8, or 16 for a GUID */
    uint8_t shift; /* bit field inside the width (bits 0: the whole width) */
    uint8_t bits;
    uint8_t unit;
    uint8_t crc; /* the structure's checksum: changes are kept, not recomputed */
};

#define F(o, w, u) {(o), (w), 0, 0, (u), 0}
#define CRC(o) {(o), 4, 0, 0, U_RAW, 1}
#define BITS(o, w, s, n, u) {(o), (w), (s), (n), (u), 0}

/* Offsets: VHDX-FORMAT.md §2 - §8.6 (and the src/format headers). */
static const struct field FILE_FIELDS[] = {F(0, 8, U_BYTES)};
static const struct field IDENT_FIELDS[] = {F(0, 8, U_RAW), F(8, 2, U_RAW), F(520, 8, U_RAW)};
static const struct field UNIT_FIELDS[] = {F(0, 2, U_RAW)};
static const struct field HEADER_FIELDS[] = {
    F(0, 4, U_RAW),   CRC(4),           F(8, 8, U_RAW),   F(16, 16, U_RAW),
    F(32, 16, U_RAW), F(48, 16, U_RAW), F(64, 2, U_RAW),  F(66, 2, U_RAW),
    F(68, 4, U_BYTES), F(72, 8, U_BYTES), F(80, 8, U_RAW),
};
static const struct field RT_FIELDS[] = {F(0, 4, U_RAW), CRC(4), F(8, 4, U_RAW), F(12, 4, U_RAW)};
static const struct field RE_FIELDS[] = {F(0, 16, U_RAW), F(16, 8, U_BYTES), F(24, 4, U_BYTES),
                                         F(28, 4, U_RAW)};
static const struct field MT_FIELDS[] = {F(0, 8, U_RAW), F(8, 2, U_RAW), F(10, 2, U_RAW),
                                         F(12, 4, U_RAW)};
static const struct field ME_FIELDS[] = {
    F(0, 16, U_RAW),          F(16, 4, U_BYTES),        F(20, 4, U_BYTES),
    F(24, 4, U_RAW),          F(28, 4, U_RAW),          BITS(24, 4, 0, 1, U_RAW),
    BITS(24, 4, 1, 1, U_RAW), BITS(24, 4, 2, 1, U_RAW),
};
static const struct field FP_FIELDS[] = {F(0, 4, U_BYTES), F(4, 4, U_RAW),
                                         BITS(4, 4, 0, 1, U_RAW), BITS(4, 4, 1, 1, U_RAW)};
static const struct field SIZE_FIELDS[] = {F(0, 8, U_BYTES)};
static const struct field ID_FIELDS[] = {F(0, 16, U_RAW)};
static const struct field SECTOR_FIELDS[] = {F(0, 4, U_BYTES)};
static const struct field PL_FIELDS[] = {F(0, 16, U_RAW), F(16, 2, U_RAW), F(18, 2, U_RAW)};
static const struct field PLE_FIELDS[] = {F(0, 4, U_BYTES), F(4, 4, U_BYTES), F(8, 2, U_BYTES),
                                          F(10, 2, U_BYTES)};
static const struct field BAT_FIELDS[] = {F(0, 8, U_RAW), BITS(0, 8, 0, 3, U_RAW),
                                          BITS(0, 8, 3, 17, U_RAW), BITS(0, 8, 20, 44, U_MIB)};
static const struct field SB_FIELDS[] = {F(0, 1, U_RAW), F(0, 8, U_RAW)};
static const struct field LE_FIELDS[] = {
    F(0, 4, U_RAW),  CRC(4),           F(8, 4, U_BYTES),  F(12, 4, U_BYTES), F(16, 8, U_RAW),
    F(24, 4, U_RAW), F(28, 4, U_RAW),  F(32, 16, U_RAW),  F(48, 8, U_BYTES), F(56, 8, U_BYTES),
};
static const struct field LD_FIELDS[] = {F(0, 4, U_RAW), F(4, 4, U_RAW), F(8, 8, U_BYTES),
                                         F(16, 8, U_BYTES), F(24, 8, U_RAW)};
/* The data word's offset (8 + 8k) is set from the record's index. */
static const struct field DS_FIELDS[] = {F(0, 4, U_RAW), F(4, 4, U_RAW), F(4092, 4, U_RAW),
                                         F(8, 8, U_RAW)};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
    const struct field *f;
    size_t n;
} FIELDS[IM_T_COUNT] = {
    [IM_T_FILE] = {FILE_FIELDS, N(FILE_FIELDS)},
    [IM_T_IDENTIFIER] = {IDENT_FIELDS, N(IDENT_FIELDS)},
    [IM_T_CREATOR] = {UNIT_FIELDS, N(UNIT_FIELDS)},
    [IM_T_HEADER] = {HEADER_FIELDS, N(HEADER_FIELDS)},
    [IM_T_REGION_TABLE] = {RT_FIELDS, N(RT_FIELDS)},
    [IM_T_REGION_ENTRY] = {RE_FIELDS, N(RE_FIELDS)},
    [IM_T_METADATA_TABLE] = {MT_FIELDS, N(MT_FIELDS)},
    [IM_T_METADATA_ENTRY] = {ME_FIELDS, N(ME_FIELDS)},
    [IM_T_FILE_PARAMETERS] = {FP_FIELDS, N(FP_FIELDS)},
    [IM_T_VIRTUAL_DISK_SIZE] = {SIZE_FIELDS, N(SIZE_FIELDS)},
    [IM_T_VIRTUAL_DISK_ID] = {ID_FIELDS, N(ID_FIELDS)},
    [IM_T_LOGICAL_SECTOR_SIZE] = {SECTOR_FIELDS, N(SECTOR_FIELDS)},
    [IM_T_PHYSICAL_SECTOR_SIZE] = {SECTOR_FIELDS, N(SECTOR_FIELDS)},
    [IM_T_LOCATOR] = {PL_FIELDS, N(PL_FIELDS)},
    [IM_T_LOCATOR_ENTRY] = {PLE_FIELDS, N(PLE_FIELDS)},
    [IM_T_LOCATOR_KEY] = {UNIT_FIELDS, N(UNIT_FIELDS)},
    [IM_T_LOCATOR_VALUE] = {UNIT_FIELDS, N(UNIT_FIELDS)},
    [IM_T_BAT_PAYLOAD] = {BAT_FIELDS, N(BAT_FIELDS)},
    [IM_T_BAT_SB] = {BAT_FIELDS, N(BAT_FIELDS)},
    [IM_T_BAT_SLOT] = {BAT_FIELDS, N(BAT_FIELDS)},
    [IM_T_SECTOR_BITMAP] = {SB_FIELDS, N(SB_FIELDS)},
    [IM_T_LOG_ENTRY] = {LE_FIELDS, N(LE_FIELDS)},
    [IM_T_LOG_DESCRIPTOR] = {LD_FIELDS, N(LD_FIELDS)},
    [IM_T_LOG_DATA] = {DS_FIELDS, N(DS_FIELDS)},
};

/* Known metadata items, in the order of their targets. */
enum { ITEM_FP, ITEM_VDS, ITEM_VDI, ITEM_LSS, ITEM_PSS, ITEM_PL, ITEM_COUNT };

struct log_entry_loc {
    uint32_t offset; /* in the log */
    uint32_t length;
    uint32_t descriptors;
    uint32_t descriptor_sectors;
    uint32_t data_sectors;
};

struct pin {
    uint64_t off;
    uint32_t delta;
};

struct base {
    bool built, failed;
    struct ib_image img;    /* pristine */
    struct ib_image parent; /* IM_BASE_DIFF_PARENT's parent, opened from memory */
    unsigned flags;

    uint8_t *work; /* working copy, cap bytes: the file is work[0, len) */
    size_t cap, len;
    uint8_t *dirty;      /* one bit per page of work */
    uint32_t *dirty_list;
    size_t ndirty;
    struct pin pins[MAX_PINS];
    size_t npins;

    /* Where the base's structures are (file offsets; 0: absent). */
    uint64_t item_off[ITEM_COUNT];
    uint32_t item_len[ITEM_COUNT];
    struct parent_locator_entry locator[MAX_LOCATOR];
    uint32_t nlocator;
    uint64_t sb_off; /* the first PRESENT sector bitmap block */
    uint32_t sb_used; /* bytes of it that belong to payload blocks */
    struct log_entry_loc entries[MAX_ENTRIES];
    uint32_t nentries;
};

static struct base bases[IM_BASE_COUNT];

static const char *const NAMES[IM_BASE_COUNT] = {
    "dynamic", "fixed", "dynamic-4k", "diff", "diff-parent",
    "dirty-one", "dirty-multi", "dirty-wrap", "dirty-zero",
};

/* dirty_images shapes behind the dirty bases. */
static const int DIRTY_SHAPE[IM_BASE_COUNT] = {
    [IM_BASE_DIRTY_ONE] = 0, [IM_BASE_DIRTY_MULTI] = 1, [IM_BASE_DIRTY_WRAP] = 2,
    [IM_BASE_DIRTY_ZERO] = 5,
};

static const char PARENT_RELATIVE[] = "parent.vhdx";
static const char PARENT_ABSOLUTE[] = "\\\\?\\C:\\images\\parent.vhdx";

const char *im_base_name(int base)
{
    if (base < 0 || base >= IM_BASE_COUNT)
        return "?";
    return NAMES[base];
}

/* ---- Building the bases ---- */

static void pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7u + (i >> 9));
}

static int build_plain(int id, struct ib_image *img)
{
    static uint8_t data[65536];
    struct ib_params p;
    int rc;

    pattern(data, sizeof(data), 0x5a);
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8u * MIB;
    p.block_size = MIB;
    if (id == IM_BASE_FIXED) {
        p.type = IB_FIXED;
        p.virtual_size = 4u * MIB;
        p.layout = IB_LAYOUT_OPENVMM;
    } else if (id == IM_BASE_DYNAMIC_4K) {
        p.virtual_size = 6u * MIB + 4096u;
        p.block_size = 2u * MIB;
        p.logical_sector_size = 4096;
        p.physical_sector_size = 4096;
    }
    rc = ib_build(&p, img);
    if (rc != 0)
        return rc;
    switch (id) {
    case IM_BASE_DYNAMIC:
        rc = ib_write(img, 4096, data, 8192);
        if (rc == 0)
            rc = ib_write(img, 5u * MIB, data, sizeof(data));
        if (rc == 0)
            rc = ib_set_block_state(img, 3, BAT_PAYLOAD_ZERO, 0);
        break;
    case IM_BASE_FIXED:
        rc = ib_write(img, MIB, data, 4096);
        break;
    default: /* IM_BASE_DYNAMIC_4K: the first block and the partial last one */
        rc = ib_write(img, 0, data, 8192);
        if (rc == 0)
            rc = ib_write(img, 6u * MIB, data, 4096);
        break;
    }
    return rc;
}

static int build_diff(struct base *b, bool keep_parent)
{
    static uint8_t data[65536];
    struct ib_params p;
    int rc;

    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 8u * MIB;
    p.block_size = MIB;
    rc = ib_build(&p, &b->parent);
    pattern(data, sizeof(data), 0x33);
    /* The parent has data in blocks 0-2 that the child's partial blocks show through. */
    if (rc == 0)
        rc = ib_write(&b->parent, 0, data, sizeof(data));
    if (rc == 0)
        rc = ib_write(&b->parent, 2u * MIB, data, sizeof(data));
    if (rc != 0)
        return rc;
    memset(&p, 0, sizeof(p));
    p.type = IB_DIFFERENCING;
    p.virtual_size = 8u * MIB;
    p.block_size = MIB;
    p.parent = &b->parent;
    p.relative_path = PARENT_RELATIVE;
    p.absolute_win32_path = PARENT_ABSOLUTE;
    rc = ib_build(&p, &b->img);
    pattern(data, sizeof(data), 0xc4);
    if (rc == 0)
        rc = ib_write(&b->img, 512, data, 1024);
    if (rc == 0)
        rc = ib_write(&b->img, 2u * MIB + 4096u, data, 8192);
    if (rc == 0)
        rc = ib_set_block_state(&b->img, 5, BAT_PAYLOAD_ZERO, 0);
    if (!keep_parent) {
        b->img.parent = NULL;
        ib_free(&b->parent);
    }
    return rc;
}

static int build_dirty(int shape, struct ib_image *img)
{
    struct dirty_image d;
    int rc = dirty_build(shape, &d);
    if (rc != 0)
        return rc;
    *img = d.img;
    memset(&d.img, 0, sizeof(d.img));
    dirty_free(&d);
    return 0;
}

/* Where the metadata items, the sector bitmap and the log entries of the base are. */
static void map_base(struct base *b)
{
    static const struct guid *const items[ITEM_COUNT] = {
        &VHDX_GUID_FILE_PARAMETERS,      &VHDX_GUID_VIRTUAL_DISK_SIZE,
        &VHDX_GUID_VIRTUAL_DISK_ID,      &VHDX_GUID_LOGICAL_SECTOR_SIZE,
        &VHDX_GUID_PHYSICAL_SECTOR_SIZE, &VHDX_GUID_PARENT_LOCATOR,
    };
    const struct ib_image *img = &b->img;
    const uint8_t *log = img->data + img->log_offset;

    for (int i = 0; i < ITEM_COUNT; i++) {
        const struct metadata_entry *e = metadata_table_find(&img->mt, items[i], false);
        if (e != NULL && e->length > 0) {
            b->item_off[i] = img->metadata_offset + e->offset;
            b->item_len[i] = e->length;
        }
    }
    if (img->locator != NULL) {
        static struct parent_locator pl;
        if (parent_locator_decode(img->locator, img->locator_len, 0, &pl, NULL) == VHDX_OK) {
            for (uint32_t k = 0; k < pl.key_value_count && k < MAX_LOCATOR; k++)
                b->locator[b->nlocator++] = pl.entries[k];
        }
    }
    for (uint64_t c = 0; img->geo.has_parent && c < img->geo.sector_bitmap_blocks; c++) {
        uint64_t slot, raw;
        struct bat_entry e;
        if (bat_sb_index(&img->geo, c, &slot) != VHDX_OK || ib_get_bat_raw(img, slot, &raw) != 0)
            break;
        e = bat_entry_decode(raw);
        if (e.state == BAT_SB_PRESENT) {
            uint64_t per_block = VHDX_SECTOR_BITMAP_BLOCK_SIZE / img->geo.chunk_ratio;
            uint64_t blocks = img->geo.payload_blocks - c * img->geo.chunk_ratio;
            if (blocks > img->geo.chunk_ratio)
                blocks = img->geo.chunk_ratio;
            b->sb_off = bat_entry_file_offset(&e);
            b->sb_used = (uint32_t)(per_block * blocks);
            break;
        }
    }
    /* Every sector that starts an entry header ('loge'), with its own lengths. */
    for (uint32_t off = 0; off < img->log_length && b->nentries < MAX_ENTRIES; off += PAGE) {
        struct log_entry_loc *e = &b->entries[b->nentries];
        if (memcmp(log + off, VHDX_SIG_LOG_ENTRY, 4) != 0)
            continue;
        e->offset = off;
        e->length = le32_load_no_bounds_check(log + off + 8);
        e->descriptors = le32_load_no_bounds_check(log + off + 24);
        if (e->length == 0 || e->length % PAGE != 0 || e->length >= img->log_length)
            continue;
        e->descriptor_sectors = (uint32_t)log_entry_descriptor_sectors(e->descriptors);
        e->data_sectors = e->length / PAGE > e->descriptor_sectors
                              ? e->length / PAGE - e->descriptor_sectors
                              : 0;
        b->nentries++;
    }
}

/* Frees what a base holds and leaves it as never built. */
static void base_free(struct base *b)
{
    free(b->work);
    free(b->dirty);
    free(b->dirty_list);
    ib_free(&b->img);
    ib_free(&b->parent);
    memset(b, 0, sizeof(*b));
}

static struct base *get_base(int id)
{
    struct base *b;
    int rc;

    if (id < 0 || id >= IM_BASE_COUNT)
        return NULL;
    b = &bases[id];
    if (b->built || b->failed)
        return b->built ? b : NULL;
    switch (id) {
    case IM_BASE_DIFF:
    case IM_BASE_DIFF_PARENT:
        rc = build_diff(b, id == IM_BASE_DIFF_PARENT);
        b->flags = id == IM_BASE_DIFF ? VHDX_OPEN_NO_PARENT : VHDX_OPEN_READ_ONLY;
        break;
    case IM_BASE_DIRTY_ONE:
    case IM_BASE_DIRTY_MULTI:
    case IM_BASE_DIRTY_WRAP:
    case IM_BASE_DIRTY_ZERO:
        rc = build_dirty(DIRTY_SHAPE[id], &b->img);
        break;
    default:
        rc = build_plain(id, &b->img);
        break;
    }
    if (rc == 0) {
        size_t pages;
        b->cap = (b->img.len + IM_SLACK + PAGE - 1) / PAGE * PAGE;
        pages = b->cap / PAGE;
        b->work = malloc(b->cap);
        b->dirty = calloc(1, (pages + 7) / 8);
        b->dirty_list = malloc(pages * sizeof(*b->dirty_list));
        if (b->work == NULL || b->dirty == NULL || b->dirty_list == NULL)
            rc = VHDX_E_NOMEM;
    }
    if (rc != 0) {
        base_free(b);
        b->failed = true;
        return NULL;
    }
    memcpy(b->work, b->img.data, b->img.len);
    memset(b->work + b->img.len, 0, b->cap - b->img.len);
    b->len = b->img.len;
    map_base(b);
    b->built = true;
    return b;
}

const struct ib_image *im_base_image(int base)
{
    struct base *b = get_base(base);
    return b != NULL ? &b->img : NULL;
}

void im_free_all(void)
{
    for (int i = 0; i < IM_BASE_COUNT; i++)
        base_free(&bases[i]);
}

/* ---- The working copy: every access bounds-checked, every write tracked ---- */

static void mark(struct base *b, uint64_t off, size_t n)
{
    for (uint64_t p = off / PAGE; n > 0 && p <= (off + n - 1) / PAGE; p++) {
        uint8_t bit = (uint8_t)(1u << (p % 8));
        if ((b->dirty[p / 8] & bit) == 0) {
            b->dirty[p / 8] = (uint8_t)(b->dirty[p / 8] | bit);
            b->dirty_list[b->ndirty++] = (uint32_t)p;
        }
    }
}

/* Reads n bytes at off; bytes outside the working copy read as zeros. */
static void rd(const struct base *b, uint64_t off, void *dst, size_t n)
{
    size_t avail;
    memset(dst, 0, n);
    if (off >= b->cap)
        return;
    avail = b->cap - (size_t)off;
    memcpy(dst, b->work + off, n < avail ? n : avail);
}

/* Writes n bytes at off; whatever lies outside the working copy is dropped. */
static void wr(struct base *b, uint64_t off, const void *src, size_t n)
{
    size_t avail;
    if (off >= b->cap || n == 0)
        return;
    avail = b->cap - (size_t)off;
    if (n > avail)
        n = avail;
    mark(b, off, n);
    memmove(b->work + off, src, n);
}

void im_restore(int base)
{
    struct base *b = get_base(base);
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->ndirty; i++) {
        size_t p = b->dirty_list[i], at = p * PAGE, n = PAGE, keep = 0;
        if (at < b->img.len)
            keep = b->img.len - at < n ? b->img.len - at : n;
        memcpy(b->work + at, b->img.data + at, keep);
        memset(b->work + at + keep, 0, n - keep);
        b->dirty[p / 8] = 0;
    }
    b->ndirty = 0;
    b->npins = 0;
    b->len = b->img.len;
}

bool im_is_pristine(int base)
{
    struct base *b = get_base(base);
    static const uint8_t zero[PAGE];
    if (b == NULL)
        return false;
    if (b->len != b->img.len || memcmp(b->work, b->img.data, b->img.len) != 0)
        return false;
    for (size_t at = b->img.len; at < b->cap; at += PAGE) {
        size_t n = b->cap - at < PAGE ? b->cap - at : PAGE;
        if (memcmp(b->work + at, zero, n) != 0)
            return false;
    }
    return true;
}

/* ---- Instances ---- */

struct inst {
    uint64_t off[2];
    unsigned n;    /* 0: the base has no such structure */
    uint32_t size; /* bytes an IM_OP_COPY or IM_OP_SWAP moves */
};

static void one(struct inst *in, uint64_t off, uint32_t size)
{
    in->off[0] = off;
    in->n = 1;
    in->size = size;
}

/* index mod 3: the first copy, the second, both. */
static void pair(struct inst *in, uint64_t first, uint64_t second, unsigned index, uint32_t size)
{
    switch (index % 3) {
    case 0:
        one(in, first, size);
        break;
    case 1:
        one(in, second, size);
        break;
    default:
        one(in, first, size);
        in->off[1] = second;
        in->n = 2;
        break;
    }
}

static const struct log_entry_loc *entry_of(const struct base *b, unsigned index)
{
    if (b->nentries == 0)
        return NULL;
    return &b->entries[index % b->nentries];
}

static void instance(const struct base *b, unsigned target, unsigned index, struct inst *in)
{
    const struct ib_image *img = &b->img;
    const struct log_entry_loc *e;
    uint64_t slot;

    memset(in, 0, sizeof(*in));
    switch (target) {
    case IM_T_IDENTIFIER:
        one(in, 0, FILE_IDENTIFIER_SIZE);
        break;
    case IM_T_CREATOR:
        one(in, FILE_IDENTIFIER_CREATOR_OFFSET + 2u * (index % 256u), 2);
        break;
    case IM_T_HEADER:
        pair(in, VHDX_HEADER1_OFFSET, VHDX_HEADER2_OFFSET, index, HEADER_SIZE);
        break;
    case IM_T_REGION_TABLE:
        pair(in, VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET, index, REGION_TABLE_SIZE);
        break;
    case IM_T_REGION_ENTRY: {
        uint64_t at = REGION_TABLE_HEADER_SIZE + REGION_TABLE_ENTRY_SIZE * ((index / 3u) % 16u);
        pair(in, VHDX_REGION_TABLE1_OFFSET + at, VHDX_REGION_TABLE2_OFFSET + at, index,
             REGION_TABLE_ENTRY_SIZE);
        break;
    }
    case IM_T_METADATA_TABLE:
        one(in, img->metadata_offset, METADATA_TABLE_SIZE);
        break;
    case IM_T_METADATA_ENTRY:
        one(in, img->metadata_offset + METADATA_TABLE_HEADER_SIZE +
                    METADATA_TABLE_ENTRY_SIZE * (index % 16u),
            METADATA_TABLE_ENTRY_SIZE);
        break;
    case IM_T_FILE_PARAMETERS:
    case IM_T_VIRTUAL_DISK_SIZE:
    case IM_T_VIRTUAL_DISK_ID:
    case IM_T_LOGICAL_SECTOR_SIZE:
    case IM_T_PHYSICAL_SECTOR_SIZE:
    case IM_T_LOCATOR: {
        unsigned item = target - IM_T_FILE_PARAMETERS;
        if (b->item_off[item] != 0)
            one(in, b->item_off[item], b->item_len[item]);
        break;
    }
    case IM_T_LOCATOR_ENTRY:
        if (b->item_off[ITEM_PL] != 0)
            one(in, b->item_off[ITEM_PL] + PARENT_LOCATOR_HEADER_SIZE +
                        PARENT_LOCATOR_ENTRY_SIZE * (index % MAX_LOCATOR),
                PARENT_LOCATOR_ENTRY_SIZE);
        break;
    case IM_T_LOCATOR_KEY:
    case IM_T_LOCATOR_VALUE:
        if (b->item_off[ITEM_PL] != 0 && b->nlocator > 0) {
            const struct parent_locator_entry *pe = &b->locator[(index % 8u) % b->nlocator];
            uint32_t at = target == IM_T_LOCATOR_KEY ? pe->key_offset : pe->value_offset;
            uint32_t units = (target == IM_T_LOCATOR_KEY ? pe->key_length : pe->value_length) / 2u;
            /* One unit past the string too: where a longer length would reach. */
            one(in, b->item_off[ITEM_PL] + at + 2u * ((index / 8u) % (units + 1u)), 2);
        }
        break;
    case IM_T_BAT_PAYLOAD:
        if (bat_payload_index(&img->geo, index % img->geo.payload_blocks, &slot) == VHDX_OK)
            one(in, img->bat_offset + slot * BAT_ENTRY_SIZE, BAT_ENTRY_SIZE);
        break;
    case IM_T_BAT_SB:
        if (img->geo.sector_bitmap_blocks > 0 &&
            bat_sb_index(&img->geo, index % img->geo.sector_bitmap_blocks, &slot) == VHDX_OK &&
            slot < img->bat_length / BAT_ENTRY_SIZE)
            one(in, img->bat_offset + slot * BAT_ENTRY_SIZE, BAT_ENTRY_SIZE);
        break;
    case IM_T_BAT_SLOT:
        one(in, img->bat_offset + (index % (img->bat_length / BAT_ENTRY_SIZE)) * BAT_ENTRY_SIZE,
            BAT_ENTRY_SIZE);
        break;
    case IM_T_SECTOR_BITMAP:
        if (b->sb_off != 0 && b->sb_used > 0)
            one(in, b->sb_off + index % b->sb_used, 1);
        break;
    case IM_T_LOG_ENTRY:
        e = entry_of(b, index);
        if (e != NULL)
            one(in, img->log_offset + e->offset, LOG_SECTOR);
        break;
    case IM_T_LOG_DESCRIPTOR:
        e = entry_of(b, index % 16u);
        if (e != NULL) {
            uint32_t d = (index / 16u) % (e->descriptors > 0 ? e->descriptors : 1u);
            one(in, img->log_offset + log_entry_descriptor_offset(img->log_length, e->offset, d),
                LOG_DESCRIPTOR_SIZE);
        }
        break;
    case IM_T_LOG_DATA:
        e = entry_of(b, index % 16u);
        if (e != NULL) {
            uint32_t j = ((index / 16u) % 16u) % (e->data_sectors > 0 ? e->data_sectors : 1u);
            one(in, img->log_offset + log_entry_sector_offset(img->log_length, e->offset,
                                                              e->descriptor_sectors + j),
                LOG_SECTOR);
        }
        break;
    default: /* IM_T_FILE is no structure */
        break;
    }
}

/* ---- Values ---- */

static unsigned field_bits(const struct field *f)
{
    return f->bits != 0 ? f->bits : f->width * 8u;
}

static uint64_t field_max(const struct field *f)
{
    unsigned bits = field_bits(f);
    return bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
}

static uint64_t load_raw(const struct base *b, uint64_t off, unsigned width)
{
    uint8_t buf[8];
    rd(b, off, buf, width);
    switch (width) {
    case 1:
        return buf[0];
    case 2:
        return le16_load_no_bounds_check(buf);
    case 4:
        return le32_load_no_bounds_check(buf);
    default:
        return le64_load_no_bounds_check(buf);
    }
}

static void store_raw(struct base *b, uint64_t off, unsigned width, uint64_t v)
{
    uint8_t buf[8];
    le64_store_no_bounds_check(buf, v);
    wr(b, off, buf, width);
}

static uint64_t get_value(const struct base *b, uint64_t at, const struct field *f)
{
    return (load_raw(b, at, f->width) >> f->shift) & field_max(f);
}

static void set_value(struct base *b, uint64_t at, const struct field *f, uint64_t v)
{
    uint64_t raw = load_raw(b, at, f->width), mask = field_max(f) << f->shift;
    raw = (raw & ~mask) | ((v << f->shift) & mask);
    store_raw(b, at, f->width, raw);
}

static uint64_t boundary(const struct base *b, uint64_t sel, const struct field *f)
{
    const struct ib_image *img = &b->img;
    uint64_t max = field_max(f), lss = img->geo.logical_sector_size, v;
    uint64_t log_end = img->log_offset + img->log_length;
    static const uint64_t small[] = {2, 3, 4, 5, 7, 126, 127, 128, 256, 257, 512, 1024, 1025,
                                     2047, 2048, 4096, 65535};

    switch (sel % IM_B_COUNT) {
    case IM_B_ZERO:
        return 0;
    case IM_B_ONE:
        return 1;
    case IM_B_MAX:
        return max;
    case IM_B_MAX_MINUS_1:
        return max - 1;
    case IM_B_TOP_BIT:
        return 1ull << (field_bits(f) - 1);
    case IM_B_FILE_SIZE: v = b->len; break;
    case IM_B_FILE_SIZE_M1: v = b->len - 1; break;
    case IM_B_FILE_SIZE_P1: v = b->len + 1; break;
    case IM_B_FILE_SIZE_M1MIB: v = b->len - MIB; break;
    case IM_B_FILE_SIZE_P1MIB: v = b->len + MIB; break;
    case IM_B_1MIB: v = MIB; break;
    case IM_B_1MIB_M1: v = MIB - 1; break;
    case IM_B_1MIB_P1: v = MIB + 1; break;
    case IM_B_64KIB: v = 65536; break;
    case IM_B_192KIB: v = LOG_DESCRIPTOR_MIN_TARGET; break;
    case IM_B_BLOCK_SIZE: v = img->geo.block_size; break;
    case IM_B_BLOCK_SIZE_X2: v = 2ull * img->geo.block_size; break;
    case IM_B_LOG_OFFSET: v = img->log_offset; break;
    case IM_B_LOG_LENGTH: v = img->log_length; break;
    case IM_B_LOG_END: v = log_end; break;
    case IM_B_BAT_OFFSET: v = img->bat_offset; break;
    case IM_B_METADATA_OFFSET: v = img->metadata_offset; break;
    case IM_B_PAYLOAD_START: v = img->payload_start; break;
    case IM_B_VIRTUAL_SIZE: v = img->geo.virtual_disk_size; break;
    case IM_B_VIRTUAL_SIZE_P_SECTOR: v = img->geo.virtual_disk_size + lss; break;
    case IM_B_VIRTUAL_SIZE_M1: v = img->geo.virtual_disk_size - 1; break;
    case IM_B_64TIB: v = VHDX_MAX_VIRTUAL_DISK_SIZE; break;
    case IM_B_64TIB_P_SECTOR: v = VHDX_MAX_VIRTUAL_DISK_SIZE + lss; break;
    case IM_B_256MIB: v = VHDX_MAX_BLOCK_SIZE; break;
    case IM_B_512MIB: v = 2 * VHDX_MAX_BLOCK_SIZE; break;
    case IM_B_MAX_LOG: v = 0xFFF00000ull; break;
    case IM_B_4GIB: v = 1ull << 32; break;
    default: /* IM_B_2 .. IM_B_65535: small counts and sizes, in no unit */
        return small[(sel % IM_B_COUNT) - IM_B_2] & max;
    }
    if (f->unit == U_MIB)
        v >>= 20;
    return v & max;
}

/* GUIDs the rules compare against: the known ones, and those of the bases. */
static const struct guid *guid_boundary(uint64_t sel)
{
    static const struct guid nil, ones = {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    static const struct guid *const all[] = {
        &nil,
        &ones,
        &VHDX_GUID_REGION_BAT,
        &VHDX_GUID_REGION_METADATA,
        &VHDX_GUID_FILE_PARAMETERS,
        &VHDX_GUID_VIRTUAL_DISK_SIZE,
        &VHDX_GUID_VIRTUAL_DISK_ID,
        &VHDX_GUID_LOGICAL_SECTOR_SIZE,
        &VHDX_GUID_PHYSICAL_SECTOR_SIZE,
        &VHDX_GUID_PARENT_LOCATOR,
        &VHDX_GUID_CHS_PARAMETERS,
        &VHDX_GUID_INCOMPLETE_FILE,
        &VHDX_GUID_PMEM_LABEL_STORAGE,
        &VHDX_GUID_LOCATOR_TYPE_VHDX,
        &DIRTY_LOG_GUID,
        &IB_DEFAULT_DATA_WRITE_GUID,
        &IB_DEFAULT_CHILD_DATA_WRITE_GUID,
        &IB_DEFAULT_FILE_WRITE_GUID,
        &IB_DEFAULT_VIRTUAL_DISK_ID,
    };
    return all[sel % N(all)];
}

static void pin_checksum(struct base *b, uint64_t at, uint32_t delta)
{
    if (delta != 0 && b->npins < MAX_PINS) {
        b->pins[b->npins].off = at;
        b->pins[b->npins].delta = delta;
        b->npins++;
    }
}

static uint64_t scaled_delta(uint64_t value)
{
    static const uint64_t scale[4] = {1, 512, 4096, MIB};
    int64_t d = (int8_t)(uint8_t)(value & 0xff);
    return (uint64_t)d * scale[(value >> 8) & 3];
}

static void guid_op(struct base *b, uint64_t at, unsigned op, uint64_t value)
{
    uint8_t g[16];
    rd(b, at, g, sizeof(g));
    switch (op) {
    case IM_OP_SET:
        le64_store_no_bounds_check(g, value);
        le64_store_no_bounds_check(g + 8, value);
        break;
    case IM_OP_ADD:
        le64_store_no_bounds_check(g, le64_load_no_bounds_check(g) + scaled_delta(value));
        break;
    case IM_OP_XOR_BIT:
        g[(value % 128) / 8] ^= (uint8_t)(1u << (value % 8));
        break;
    default: /* IM_OP_BOUNDARY */
        memcpy(g, guid_boundary(value)->b, sizeof(g));
        break;
    }
    wr(b, at, g, sizeof(g));
}

/* SET, ADD, XOR_BIT or BOUNDARY on the field at `at`. */
static void field_op(struct base *b, uint64_t at, const struct field *f, unsigned op,
                     uint64_t value)
{
    uint64_t old, v;

    if (f->width == 16) {
        guid_op(b, at, op, value);
        return;
    }
    old = get_value(b, at, f);
    switch (op) {
    case IM_OP_SET:
        v = value;
        break;
    case IM_OP_ADD:
        v = old + scaled_delta(value);
        break;
    case IM_OP_XOR_BIT:
        v = old ^ (1ull << (value % field_bits(f)));
        break;
    default: /* IM_OP_BOUNDARY */
        v = boundary(b, value, f);
        break;
    }
    set_value(b, at, f, v);
    if (f->crc)
        pin_checksum(b, at, (uint32_t)(old ^ get_value(b, at, f)));
}

/* ---- Whole instances ---- */

static void copy_bytes(struct base *b, uint64_t dst, uint64_t src, uint32_t n)
{
    static uint8_t tmp[MAX_STRUCT];
    if (n > sizeof(tmp) || dst == src)
        return;
    rd(b, src, tmp, n);
    wr(b, dst, tmp, n);
}

static void swap_bytes(struct base *b, uint64_t x, uint64_t y, uint32_t n)
{
    static uint8_t tx[MAX_STRUCT], ty[MAX_STRUCT];
    if (n > sizeof(tx) || x == y)
        return;
    rd(b, x, tx, n);
    rd(b, y, ty, n);
    wr(b, x, ty, n);
    wr(b, y, tx, n);
}

/* A log entry is copied or swapped whole, sector by sector in ring order. */
static void entry_move(struct base *b, const struct log_entry_loc *dst,
                       const struct log_entry_loc *src, bool swap)
{
    const struct ib_image *img = &b->img;
    uint32_t len = swap && dst->length > src->length ? dst->length : src->length;
    for (uint32_t k = 0; k < len / PAGE; k++) {
        uint64_t s = img->log_offset + log_entry_sector_offset(img->log_length, src->offset, k);
        uint64_t d = img->log_offset + log_entry_sector_offset(img->log_length, dst->offset, k);
        if (swap)
            swap_bytes(b, d, s, PAGE);
        else
            copy_bytes(b, d, s, PAGE);
    }
}

static void copy_field(struct base *b, uint64_t dst, uint64_t src, const struct field *f)
{
    if (f->width == 16) {
        copy_bytes(b, dst, src, 16);
        return;
    }
    {
        uint64_t old = get_value(b, dst, f);
        set_value(b, dst, f, get_value(b, src, f));
        if (f->crc)
            pin_checksum(b, dst, (uint32_t)(old ^ get_value(b, dst, f)));
    }
}

/* ---- Records ---- */

static void apply_file(struct base *b, const struct field *f, unsigned op, uint64_t value)
{
    uint64_t v = b->len;
    switch (op) {
    case IM_OP_SET:
        v = value;
        break;
    case IM_OP_ADD:
        v += scaled_delta(value);
        break;
    case IM_OP_XOR_BIT:
        v ^= 1ull << (value % 64);
        break;
    case IM_OP_BOUNDARY:
        v = boundary(b, value, f);
        break;
    default: /* copying and swapping need a second file */
        return;
    }
    b->len = v < b->cap ? (size_t)v : b->cap;
}

static void apply_record(struct base *b, const uint8_t *r)
{
    unsigned target = r[0] % IM_T_COUNT;
    const struct field *fields = FIELDS[target].f;
    struct field f = fields[r[1] % FIELDS[target].n];
    unsigned index = le16_load_no_bounds_check(r + 2);
    unsigned op = r[4] % IM_OP_COUNT;
    uint64_t value = le64_load_no_bounds_check(r + 5);
    struct inst dst, src;

    if (target == IM_T_FILE) {
        apply_file(b, &f, op, value);
        return;
    }
    if (target == IM_T_LOG_DATA && (r[1] % FIELDS[target].n) == IM_DS_DATA_WORD)
        f.off = (uint16_t)(LOG_DATA_SECTOR_DATA_OFFSET + 8u * ((index / 256u) % 510u));
    instance(b, target, index, &dst);
    if (dst.n == 0)
        return;
    if (op == IM_OP_COPY || op == IM_OP_SWAP || op == IM_OP_COPY_FIELD) {
        unsigned from = (unsigned)(value & 0xffff);
        instance(b, target, from, &src);
        if (src.n == 0)
            return;
        if (target == IM_T_LOG_ENTRY && op != IM_OP_COPY_FIELD) {
            entry_move(b, entry_of(b, index), entry_of(b, from), op == IM_OP_SWAP);
            return;
        }
        for (unsigned i = 0; i < dst.n; i++) {
            if (op == IM_OP_COPY)
                copy_bytes(b, dst.off[i], src.off[0], dst.size);
            else if (op == IM_OP_SWAP)
                swap_bytes(b, dst.off[i], src.off[0], dst.size);
            else
                copy_field(b, dst.off[i] + f.off, src.off[0] + f.off, &f);
        }
        return;
    }
    for (unsigned i = 0; i < dst.n; i++)
        field_op(b, dst.off[i] + f.off, &f, op, value);
}

/* ---- Checksums ---- */

/*
 * True when a record wrote into [off, off + n): only then can its checksum
 * be stale. Out of coverage: a branch per page that says nothing new.
 */
static NO_COVERAGE bool touched(const struct base *b, uint64_t off, uint64_t n)
{
    for (uint64_t p = off / PAGE; n > 0 && p <= (off + n - 1) / PAGE && p < b->cap / PAGE; p++)
        if ((b->dirty[p / 8] & (1u << (p % 8))) != 0)
            return true;
    return false;
}

static void put_crc(struct base *b, uint64_t at, uint32_t crc)
{
    if (load_raw(b, at, 4) != crc)
        store_raw(b, at, 4, crc);
}

/* CRC-32C of a log entry in ring order with its checksum field as zero (§8.3, §9). */
static uint32_t entry_crc(const struct base *b, uint32_t offset, uint32_t length)
{
    const uint8_t *log = b->work + b->img.log_offset;
    uint32_t first = b->img.log_length - offset, crc;
    if (first > length)
        first = length;
    crc = crc32c_with_zero_field(log + offset, first, LOG_ENTRY_CHECKSUM_OFFSET);
    if (length > first)
        crc = crc32c(crc, log, length - first);
    return crc;
}

/*
 * Both headers, both region tables and every entry header of the base's log
 * region get their checksum recomputed; then the checksum changes records
 * asked for are put back on top.
 */
static void restamp(struct base *b)
{
    static const uint64_t headers[2] = {VHDX_HEADER1_OFFSET, VHDX_HEADER2_OFFSET};
    static const uint64_t tables[2] = {VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET};
    const struct ib_image *img = &b->img;
    bool log_touched;

    for (int i = 0; i < 2; i++) {
        if (touched(b, headers[i], HEADER_SIZE))
            put_crc(b, headers[i] + HEADER_CHECKSUM_OFFSET,
                    crc32c_with_zero_field(b->work + headers[i], HEADER_SIZE,
                                           HEADER_CHECKSUM_OFFSET));
        if (touched(b, tables[i], REGION_TABLE_SIZE))
            put_crc(b, tables[i] + REGION_TABLE_CHECKSUM_OFFSET,
                    crc32c_with_zero_field(b->work + tables[i], REGION_TABLE_SIZE,
                                           REGION_TABLE_CHECKSUM_OFFSET));
    }
    /* The base was built with its whole log inside the working copy. */
    log_touched = touched(b, img->log_offset, img->log_length);
    for (uint32_t off = 0; log_touched && off < img->log_length; off += PAGE) {
        const uint8_t *s = b->work + img->log_offset + off;
        uint32_t length;
        if (memcmp(s, VHDX_SIG_LOG_ENTRY, 4) != 0)
            continue;
        length = le32_load_no_bounds_check(s + 8);
        /* The library computes the CRC of walkable entries only (log_entry_check). */
        if (length == 0 || length % PAGE != 0 || length >= img->log_length)
            continue;
        put_crc(b, img->log_offset + off + LOG_ENTRY_CHECKSUM_OFFSET, entry_crc(b, off, length));
    }
    for (size_t i = 0; i < b->npins; i++)
        store_raw(b, b->pins[i].off, 4, load_raw(b, b->pins[i].off, 4) ^ b->pins[i].delta);
}

/* ---- The interface ---- */

static vhdx_status open_parent_from_memory(void *ctx, const char *key, const char *path,
                                           vhdx_io *out)
{
    const struct base *b = ctx;
    /* Only the paths the child was built with name the parent: a changed one names nothing. */
    if ((strcmp(key, "relative_path") == 0 && strcmp(path, PARENT_RELATIVE) == 0) ||
        (strcmp(key, "absolute_win32_path") == 0 && strcmp(path, PARENT_ABSOLUTE) == 0))
        return vhdx_io_from_memory(b->parent.data, b->parent.len, out);
    return VHDX_E_MISSING;
}

int im_apply(int base, const uint8_t *records, size_t len, struct im_file *out)
{
    struct base *b = get_base(base);
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return -1;
    for (size_t pos = 0; pos < len && n < IM_MAX_RECORDS; pos += IM_RECORD_SIZE, n++) {
        uint8_t r[IM_RECORD_SIZE];
        size_t k = len - pos < IM_RECORD_SIZE ? len - pos : IM_RECORD_SIZE;
        memset(r, 0, sizeof(r));
        memcpy(r, records + pos, k);
        apply_record(b, r);
    }
    restamp(b);
    out->base = base;
    out->data = b->work;
    out->len = b->len;
    out->flags = b->flags;
    if (base == IM_BASE_DIFF_PARENT) {
        out->open_parent = open_parent_from_memory;
        out->open_parent_ctx = b;
    }
    return 0;
}

void im_open_options(const struct im_file *f, vhdx_open_options *o)
{
    o->flags = f->flags;
    o->open_parent = f->open_parent;
    o->open_parent_ctx = f->open_parent_ctx;
}

size_t im_record(uint8_t *out, unsigned target, unsigned field, unsigned index, unsigned op,
                 uint64_t value)
{
    out[0] = (uint8_t)target;
    out[1] = (uint8_t)field;
    le16_store_no_bounds_check(out + 2, (uint16_t)index);
    out[4] = (uint8_t)op;
    le64_store_no_bounds_check(out + 5, value);
    return IM_RECORD_SIZE;
}
