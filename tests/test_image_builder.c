/*
 * The test image builder (tests/image_builder.h): every image shape decodes
 * and validates with the project's codecs without a finding, ib_expected_read
 * agrees with an independent shadow of what was written, and each helper does
 * what its comment says. tests/oracle_check.sh checks the same builder
 * against qemu-img and libvhdi.
 */
#include "test_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "base/endian.h"
#include "format/constants.h"
#include "format/parent_locator.h"
#include "image_builder.h"

#define MIB (1024ull * 1024ull)
#define GIB (1024ull * MIB)

/* Big host structs live here, not on the stack. */
static struct ib_image img, par;
static struct region_table rt1, rt2;
static struct metadata_table mt;
static struct parent_locator pl;

/* ---- Decoding a whole image with the project's codecs ---- */

static const uint8_t *item_bytes(const struct ib_image *im, const struct guid *id,
                                 uint32_t *len)
{
    const struct metadata_entry *e = metadata_table_find(&mt, id, false);
    assert_non_null(e);
    *len = e->length;
    assert_true((uint64_t)e->offset + e->length <= im->metadata_length);
    return im->data + im->metadata_offset + e->offset;
}

struct extent {
    uint64_t off, len;
};

static int extent_cmp(const void *a, const void *b)
{
    const struct extent *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * Decodes and validates every structure of im (identifier, both headers,
 * both region tables, metadata table and items, parent locator, every BAT
 * entry) and checks no two allocated extents overlap. No finding of any
 * severity above info is allowed, and the decoded values must be the
 * builder's.
 */
static void verify_image(const struct ib_image *im)
{
    struct test_sink ts;
    struct file_identifier fi;
    struct header h1, h2;
    struct file_parameters fp;
    struct virtual_disk_size vds;
    struct virtual_disk_id vdi;
    struct logical_sector_size lss;
    struct physical_sector_size pss;
    struct bat_geometry g;
    const struct region_entry *bat_re, *meta_re;
    struct region_table_context rctx;
    const uint8_t *item;
    uint32_t ilen;
    struct extent *ext;
    size_t next = 0, slots;

    test_sink_init(&ts);
    assert_true(im->len % MIB == 0);

    assert_status(file_identifier_decode(im->data, im->len, &fi, &ts.sink), VHDX_OK);
    assert_status(file_identifier_validate(&fi, &ts.sink), VHDX_OK);
    assert_memory_equal(&fi, &im->ident, sizeof(fi));

    assert_status(header_decode(im->data + VHDX_HEADER1_OFFSET, HEADER_SIZE, &h1, &ts.sink),
                  VHDX_OK);
    assert_status(header_decode(im->data + VHDX_HEADER2_OFFSET, HEADER_SIZE, &h2, &ts.sink),
                  VHDX_OK);
    assert_status(header_validate(&h1, im->len, &ts.sink), VHDX_OK);
    assert_status(header_validate(&h2, im->len, &ts.sink), VHDX_OK);
    assert_int_equal(h1.sequence_number, 1);
    assert_int_equal(h2.sequence_number, 2);
    assert_memory_equal(&h2, &im->header, sizeof(h2));
    assert_true(guid_is_nil(&h2.log_guid));
    assert_int_equal(h2.log_offset, im->log_offset);
    assert_int_equal(h2.log_length, im->log_length);

    assert_status(region_table_decode(im->data + VHDX_REGION_TABLE1_OFFSET, REGION_TABLE_SIZE,
                                      &rt1, &ts.sink),
                  VHDX_OK);
    assert_status(region_table_decode(im->data + VHDX_REGION_TABLE2_OFFSET, REGION_TABLE_SIZE,
                                      &rt2, &ts.sink),
                  VHDX_OK);
    assert_true(region_table_equal(&rt1, &rt2));
    rctx = (struct region_table_context){im->len, h2.log_offset, h2.log_length};
    assert_status(region_table_validate(&rt1, &rctx, &ts.sink), VHDX_OK);
    bat_re = region_table_find(&rt1, &VHDX_GUID_REGION_BAT);
    meta_re = region_table_find(&rt1, &VHDX_GUID_REGION_METADATA);
    assert_non_null(bat_re);
    assert_non_null(meta_re);
    assert_int_equal(bat_re->file_offset, im->bat_offset);
    assert_int_equal(bat_re->length, im->bat_length);
    assert_int_equal(meta_re->file_offset, im->metadata_offset);
    assert_int_equal(meta_re->length, im->metadata_length);

    assert_status(metadata_table_decode(im->data + meta_re->file_offset, meta_re->length, &mt,
                                        &ts.sink),
                  VHDX_OK);
    assert_status(metadata_table_validate(&mt, meta_re->length, &ts.sink), VHDX_OK);

    item = item_bytes(im, &VHDX_GUID_FILE_PARAMETERS, &ilen);
    assert_status(file_parameters_decode(item, ilen, &fp, &ts.sink), VHDX_OK);
    assert_status(file_parameters_validate(&fp, &ts.sink), VHDX_OK);
    assert_status(metadata_table_check_parent_locator(&mt, fp.has_parent, &ts.sink), VHDX_OK);
    item = item_bytes(im, &VHDX_GUID_VIRTUAL_DISK_SIZE, &ilen);
    assert_status(virtual_disk_size_decode(item, ilen, &vds, &ts.sink), VHDX_OK);
    item = item_bytes(im, &VHDX_GUID_VIRTUAL_DISK_ID, &ilen);
    assert_status(virtual_disk_id_decode(item, ilen, &vdi, &ts.sink), VHDX_OK);
    assert_status(virtual_disk_id_validate(&vdi, &ts.sink), VHDX_OK);
    item = item_bytes(im, &VHDX_GUID_LOGICAL_SECTOR_SIZE, &ilen);
    assert_status(logical_sector_size_decode(item, ilen, &lss, &ts.sink), VHDX_OK);
    assert_status(logical_sector_size_validate(&lss, &ts.sink), VHDX_OK);
    item = item_bytes(im, &VHDX_GUID_PHYSICAL_SECTOR_SIZE, &ilen);
    assert_status(physical_sector_size_decode(item, ilen, &pss, &ts.sink), VHDX_OK);
    assert_status(physical_sector_size_validate(&pss, &ts.sink), VHDX_OK);
    assert_status(virtual_disk_size_validate(&vds, lss.size, &ts.sink), VHDX_OK);
    assert_int_equal(fp.block_size, im->geo.block_size);
    assert_int_equal(fp.has_parent, im->type == IB_DIFFERENCING);
    assert_int_equal(fp.leave_blocks_allocated, im->type == IB_FIXED);
    assert_int_equal(vds.size, im->geo.virtual_disk_size);
    assert_int_equal(lss.size, im->geo.logical_sector_size);
    assert_int_equal(pss.size, im->pss.size);
    assert_memory_equal(&vdi, &im->vdi, sizeof(vdi));

    if (fp.has_parent) {
        char text[GUID_TEXT_SIZE + 2], value[256];
        size_t vlen;
        struct guid linkage;
        item = item_bytes(im, &VHDX_GUID_PARENT_LOCATOR, &ilen);
        assert_status(parent_locator_decode(item, ilen, 0, &pl, &ts.sink), VHDX_OK);
        assert_status(parent_locator_validate(&pl, item, ilen, &ts.sink), VHDX_OK);
        assert_status(parent_locator_find(&pl, item, ilen, "parent_linkage", 14, value,
                                          sizeof(value), &vlen),
                      VHDX_OK);
        assert_status(guid_from_text(value, vlen, &linkage), VHDX_OK);
        if (im->parent != NULL)
            assert_memory_equal(&linkage, &im->parent->header.data_write_guid, 16);
        guid_to_text_braced_lower(&linkage, text);
        assert_string_equal(value, text);
    }

    /* §7.5, §7.6 */
    assert_status(bat_geometry_init(&g, vds.size, fp.block_size, lss.size, fp.has_parent,
                                    &ts.sink),
                  VHDX_OK);
    assert_memory_equal(&g, &im->geo, sizeof(g));
    assert_status(bat_region_check(&g, bat_re->length, &ts.sink), VHDX_OK);
    slots = bat_re->length / BAT_ENTRY_SIZE;
    ext = calloc(slots + 8, sizeof(*ext));
    assert_non_null(ext);
    ext[next++] = (struct extent){0, VHDX_HEADER_SECTION_SIZE};
    ext[next++] = (struct extent){h2.log_offset, h2.log_length};
    ext[next++] = (struct extent){bat_re->file_offset, bat_re->length};
    ext[next++] = (struct extent){meta_re->file_offset, meta_re->length};
    for (uint64_t s = 0; s < slots; s++) {
        uint64_t raw = le64_load_no_bounds_check(im->data + bat_re->file_offset + s * 8), number;
        struct bat_entry_context ctx = {im->len, s};
        struct bat_entry e = bat_entry_decode(raw);
        enum bat_slot_kind kind = bat_slot_classify(&g, s, &number);
        assert_status(bat_entry_validate(&g, raw, &ctx, &ts.sink), VHDX_OK);
        if (kind == BAT_SLOT_PAYLOAD && (e.state == BAT_PAYLOAD_FULLY_PRESENT ||
                                         e.state == BAT_PAYLOAD_PARTIALLY_PRESENT))
            ext[next++] = (struct extent){bat_entry_file_offset(&e), g.block_size};
        if (kind == BAT_SLOT_SECTOR_BITMAP && e.state == BAT_SB_PRESENT)
            ext[next++] = (struct extent){bat_entry_file_offset(&e), MIB};
        if (kind == BAT_SLOT_PADDING)
            assert_int_equal(raw, 0);
    }
    qsort(ext, next, sizeof(*ext), extent_cmp);
    for (size_t i = 0; i < next; i++) {
        assert_true(ext[i].off % MIB == 0);
        assert_true(ext[i].off + ext[i].len <= im->len);
        if (i > 0)
            assert_true(ext[i - 1].off + ext[i - 1].len <= ext[i].off);
    }
    free(ext);
    assert_no_findings(&ts);
}

/* ---- A shadow of what was written, independent of the builder ---- */

struct shadow {
    size_t n;
    uint64_t off[16];
    uint64_t len[16];
    uint8_t *data[16];
};

static void shadow_free(struct shadow *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

/* Writes a pattern through ib_write and records it. */
static void put(struct ib_image *im, struct shadow *s, struct test_rng *rng, uint64_t off,
                uint64_t len)
{
    assert_true(s->n < 16);
    s->off[s->n] = off;
    s->len[s->n] = len;
    s->data[s->n] = malloc(len);
    assert_non_null(s->data[s->n]);
    test_rng_fill(rng, s->data[s->n], len);
    assert_int_equal(ib_write(im, off, s->data[s->n], len), 0);
    s->n++;
}

/* What [off, off + len) holds after the writes of the shadows (oldest first), over zeros. */
static void shadow_read(const struct shadow *const *layers, size_t nl, uint64_t off, uint64_t len,
                        uint8_t *out)
{
    memset(out, 0, len);
    for (size_t l = 0; l < nl; l++) {
        const struct shadow *s = layers[l];
        for (size_t i = 0; i < s->n; i++) {
            uint64_t a = s->off[i] > off ? s->off[i] : off;
            uint64_t b = s->off[i] + s->len[i] < off + len ? s->off[i] + s->len[i] : off + len;
            if (a < b)
                memcpy(out + (a - off), s->data[i] + (a - s->off[i]), b - a);
        }
    }
}

/* ib_expected_read agrees with the shadows around every write and at a few fixed places. */
static void check_reads(const struct ib_image *im, const struct shadow *const *layers, size_t nl)
{
    uint64_t size = im->geo.virtual_disk_size, lss = im->geo.logical_sector_size;
    uint64_t probes[40][2];
    size_t np = 0;
    uint8_t *got, *want;

    for (size_t l = 0; l < nl; l++) {
        for (size_t i = 0; i < layers[l]->n && np < 36; i++) {
            uint64_t a = layers[l]->off[i] >= lss ? layers[l]->off[i] - lss : 0;
            uint64_t b = layers[l]->off[i] + layers[l]->len[i] + lss;
            probes[np][0] = a;
            probes[np++][1] = (b < size ? b : size) - a;
        }
    }
    probes[np][0] = 0;
    probes[np++][1] = size < MIB ? size : MIB;
    probes[np][0] = size - lss;
    probes[np++][1] = lss;
    probes[np][0] = size / 2 / lss * lss;
    probes[np++][1] = lss * 3 < size - size / 2 / lss * lss ? lss * 3 : lss;
    for (size_t i = 0; i < np; i++) {
        got = malloc(probes[i][1]);
        want = malloc(probes[i][1]);
        assert_non_null(got);
        assert_non_null(want);
        assert_int_equal(ib_expected_read(im, probes[i][0], probes[i][1], got), 0);
        shadow_read(layers, nl, probes[i][0], probes[i][1], want);
        assert_memory_equal(got, want, probes[i][1]);
        free(got);
        free(want);
    }
}

/* ---- Every shape ---- */

static const uint32_t block_sizes[] = {1 * MIB, 2 * MIB, 32 * MIB, 256 * MIB};

enum { SIZE_PARTIAL, SIZE_ONE_CHUNK, SIZE_CHUNK_PLUS_BLOCK };

static uint64_t shape_size(int which, uint32_t lss, uint32_t bs)
{
    uint64_t chunk = (1ull << 23) * lss;
    switch (which) {
    case SIZE_PARTIAL:
        return 2ull * bs + bs / 2 + lss; /* the last block is cut short */
    case SIZE_ONE_CHUNK:
        return chunk; /* N % ChunkRatio == 0: no SB slot after the last block */
    default:
        return chunk + bs; /* the SB slot of chunk 0 sits inside the BAT */
    }
}

static void fill_params(struct ib_params *p, int type, uint32_t lss, uint32_t pss, uint32_t bs,
                        uint64_t size, int layout)
{
    memset(p, 0, sizeof(*p));
    p->type = type;
    p->virtual_size = size;
    p->block_size = bs;
    p->logical_sector_size = lss;
    p->physical_sector_size = pss;
    p->layout = layout;
}

/* Builds one shape, writes patterns (and a parent for differencing), checks everything. */
static void one_shape(int type, uint32_t lss, uint32_t pss, uint32_t bs, int which, int layout)
{
    struct ib_params p;
    struct shadow base = {0}, top = {0};
    const struct shadow *layers[2] = {&base, &top};
    struct test_rng rng;
    uint64_t size = shape_size(which, lss, bs);
    uint64_t cr = (1ull << 23) * lss / bs;
    struct ib_image *target = &img;

    test_rng_seed(&rng, size ^ bs ^ (uint64_t)type << 40 ^ (uint64_t)layout << 50);
    if (type == IB_DIFFERENCING) {
        fill_params(&p, IB_DYNAMIC, lss, pss, bs, size, layout);
        assert_int_equal(ib_build(&p, &par), 0);
        put(&par, &base, &rng, 0, 3 * lss);
        put(&par, &base, &rng, bs - lss, 2 * lss);
        put(&par, &base, &rng, size - 4 * lss, 4 * lss);
        verify_image(&par);
    }
    fill_params(&p, type, lss, pss, bs, size, layout);
    p.parent = type == IB_DIFFERENCING ? &par : NULL;
    assert_int_equal(ib_build(&p, target), 0);
    verify_image(target);

    put(target, &top, &rng, lss, lss);                          /* one sector */
    put(target, &top, &rng, bs - 2 * lss + 7, 3 * lss);         /* across a block, unaligned */
    put(target, &top, &rng, size - lss, lss);                   /* the last sector */
    if (size > cr * bs)
        put(target, &top, &rng, cr * bs - lss, 2 * lss);        /* across the chunk boundary */
    verify_image(target);
    if (type == IB_DIFFERENCING)
        check_reads(target, layers, 2);
    else
        check_reads(target, &layers[1], 1);

    shadow_free(&top);
    shadow_free(&base);
    ib_free(&img);
    ib_free(&par);
}

static void test_every_shape_decodes_validates_and_reads_back(void **state)
{
    static const int types[] = {IB_FIXED, IB_DYNAMIC, IB_DIFFERENCING};
    static const uint32_t sectors[] = {512, 4096};
    size_t shapes = 0;
    (void)state;
    for (size_t t = 0; t < 3; t++)
        for (size_t l = 0; l < 2; l++)
            for (size_t ps = 0; ps < 2; ps++)
                for (size_t b = 0; b < 4; b++)
                    for (int w = SIZE_PARTIAL; w <= SIZE_CHUNK_PLUS_BLOCK; w++)
                        for (int lay = IB_LAYOUT_QEMU; lay <= IB_LAYOUT_OPENVMM; lay++) {
                            one_shape(types[t], sectors[l], sectors[ps], block_sizes[b], w, lay);
                            shapes++;
                        }
    assert_int_equal(shapes, 288);
}

/* ---- Layout ---- */

static void test_qemu_layout_puts_bat_after_log_and_metadata_after_bat(void **state)
{
    struct ib_params p;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, 32 * MIB, 100 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.log_offset, MIB);
    assert_int_equal(img.log_length, MIB);
    assert_int_equal(img.bat_offset, 2 * MIB);
    assert_int_equal(img.bat_length, MIB);
    assert_int_equal(img.metadata_offset, 3 * MIB);
    assert_int_equal(img.metadata_length, MIB);
    assert_int_equal(img.payload_start, 4 * MIB);
    assert_int_equal(img.len, 4 * MIB);
    ib_free(&img);
}

static void test_openvmm_layout_puts_metadata_at_2m_and_bat_at_3m(void **state)
{
    struct ib_params p;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, 32 * MIB, 100 * MIB, IB_LAYOUT_OPENVMM);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.metadata_offset, 2 * MIB);
    assert_int_equal(img.bat_offset, 3 * MIB);
    assert_int_equal(img.payload_start, 4 * MIB);
    ib_free(&img);
}

static void test_longer_log_moves_the_regions_after_it(void **state)
{
    struct ib_params p;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, 0, 100 * MIB, IB_LAYOUT_OPENVMM);
    p.log_length = 3 * MIB;
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.header.log_length, 3 * MIB);
    assert_int_equal(img.metadata_offset, 4 * MIB);
    assert_int_equal(img.bat_offset, 5 * MIB);
    verify_image(&img);
    ib_free(&img);
}

static void test_bat_length_rounds_total_entries_up_to_1m(void **state)
{
    struct ib_params p;
    (void)state;
    /* LSS 4096, 1 MiB blocks, 32 GiB + 1 block: 32769 blocks + 1 SB slot = 32770 entries. */
    fill_params(&p, IB_DYNAMIC, 4096, 4096, MIB, 32 * GIB + MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.geo.total_entries, 32770);
    assert_int_equal(img.bat_length, MIB);
    ib_free(&img);
    /* 64 TiB, 1 MiB blocks: 2^26 + 2^14 - 1 entries need 513 MiB. */
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 64ull * 1024 * GIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.bat_length, 513 * MIB);
    ib_free(&img);
}

static void test_defaults_are_32m_blocks_512_sectors_1m_log_and_fixed_guids(void **state)
{
    struct ib_params p;
    char creator[64];
    (void)state;
    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 64 * MIB;
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.fp.block_size, 32 * MIB);
    assert_int_equal(img.lss.size, 512);
    assert_int_equal(img.pss.size, 512);
    assert_int_equal(img.log_length, MIB);
    assert_memory_equal(&img.header.data_write_guid, &IB_DEFAULT_DATA_WRITE_GUID, 16);
    assert_memory_equal(&img.header.file_write_guid, &IB_DEFAULT_FILE_WRITE_GUID, 16);
    assert_memory_equal(&img.vdi.id, &IB_DEFAULT_VIRTUAL_DISK_ID, 16);
    file_identifier_creator_utf8(&img.ident, creator, sizeof(creator));
    assert_string_equal(creator, "vhdx test builder");
    ib_free(&img);
}

static void test_params_guids_and_creator_are_used(void **state)
{
    struct ib_params p;
    char creator[64];
    (void)state;
    fill_params(&p, IB_FIXED, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    memset(p.data_write_guid.b, 0xAA, 16);
    memset(p.file_write_guid.b, 0xBB, 16);
    memset(p.virtual_disk_id.b, 0xCC, 16);
    p.creator = "Pr\xC3\xBC" "fer \xE2\x82\xAC";
    assert_int_equal(ib_build(&p, &img), 0);
    assert_memory_equal(img.data + VHDX_HEADER2_OFFSET + 32, p.data_write_guid.b, 16);
    assert_memory_equal(img.data + VHDX_HEADER2_OFFSET + 16, p.file_write_guid.b, 16);
    assert_memory_equal(&img.vdi.id, &p.virtual_disk_id, 16);
    file_identifier_creator_utf8(&img.ident, creator, sizeof(creator));
    assert_string_equal(creator, p.creator);
    verify_image(&img);
    ib_free(&img);
}

static void test_build_rejects_bad_parameters(void **state)
{
    struct ib_params p;
    (void)state;
    fill_params(&p, 0, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), VHDX_E_INVALID_ARG);
    assert_null(img.data);
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 4 * MIB, 7);
    assert_int_equal(ib_build(&p, &img), VHDX_E_INVALID_ARG);
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    p.log_length = (uint32_t)MIB + 4096;
    assert_int_equal(ib_build(&p, &img), VHDX_E_ALIGNMENT);
    fill_params(&p, IB_DYNAMIC, 512, 512, 3 * MIB, 4 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), VHDX_E_RANGE);
    fill_params(&p, IB_DYNAMIC, 4096, 512, MIB, 4 * MIB + 512, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), VHDX_E_RANGE);
    fill_params(&p, IB_DYNAMIC, 1024, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), VHDX_E_RANGE);
}

/* ---- Fixed images ---- */

static void test_fixed_blocks_are_fully_present_and_consecutive(void **state)
{
    struct ib_params p;
    (void)state;
    /* 16 blocks of 256 MiB make chunk 0; block 16 sits after the SB slot. */
    fill_params(&p, IB_FIXED, 512, 512, 256 * MIB, 4 * GIB + 256 * MIB, IB_LAYOUT_OPENVMM);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_true(img.fp.leave_blocks_allocated);
    assert_int_equal(img.len, img.payload_start + 17 * 256 * MIB);
    for (uint64_t b = 0; b < 17; b++) {
        uint64_t raw;
        assert_int_equal(ib_get_block_entry(&img, b, &raw), 0);
        assert_int_equal(raw & 7, BAT_PAYLOAD_FULLY_PRESENT);
        assert_int_equal(raw >> 20, (img.payload_start >> 20) + b * 256);
    }
    {
        uint64_t raw;
        assert_int_equal(ib_get_bat_raw(&img, 16, &raw), 0); /* SB slot of chunk 0 */
        assert_int_equal(raw, 0);
        assert_int_equal(ib_get_bat_raw(&img, 17, &raw), 0); /* block 16 */
        assert_int_equal(raw >> 20, (img.payload_start >> 20) + 16 * 256);
    }
    ib_free(&img);
}

static void test_fixed_partial_last_block_is_allocated_whole(void **state)
{
    struct ib_params p;
    (void)state;
    fill_params(&p, IB_FIXED, 512, 512, 2 * MIB, 5 * MIB + 512, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(img.geo.payload_blocks, 3);
    assert_int_equal(img.len, img.payload_start + 6 * MIB);
    verify_image(&img);
    ib_free(&img);
}

/* ---- Dynamic writes ---- */

static void test_dynamic_write_allocates_at_eof_in_write_order(void **state)
{
    struct ib_params p;
    uint8_t b[16] = "0123456789abcdef", got[16];
    uint64_t raw;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, 2 * MIB, 20 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_get_block_entry(&img, 7, &raw), 0);
    assert_int_equal(raw, 0);
    assert_int_equal(ib_write(&img, 7 * 2 * MIB + 100, b, sizeof(b)), 0);
    assert_int_equal(ib_write(&img, 1 * 2 * MIB, b, sizeof(b)), 0);
    assert_int_equal(ib_get_block_entry(&img, 7, &raw), 0);
    assert_int_equal(raw, (img.payload_start) | BAT_PAYLOAD_FULLY_PRESENT);
    assert_int_equal(ib_get_block_entry(&img, 1, &raw), 0);
    assert_int_equal(raw, (img.payload_start + 2 * MIB) | BAT_PAYLOAD_FULLY_PRESENT);
    assert_int_equal(img.len, img.payload_start + 4 * MIB);
    assert_memory_equal(img.data + img.payload_start + 100, b, sizeof(b));
    assert_int_equal(ib_expected_read(&img, 7 * 2 * MIB + 100, sizeof(got), got), 0);
    assert_memory_equal(got, b, sizeof(b));
    verify_image(&img);
    ib_free(&img);
}

static void test_write_past_the_disk_fails(void **state)
{
    struct ib_params p;
    uint8_t b[2] = {1, 2};
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_write(&img, 4 * MIB - 1, b, 2), VHDX_E_RANGE);
    assert_int_equal(ib_write(&img, UINT64_MAX, b, 2), VHDX_E_RANGE);
    assert_int_equal(ib_write(&img, 4 * MIB - 2, b, 2), 0);
    ib_free(&img);
}

static void test_states_zero_unmapped_undefined_not_present_read_as_zeros(void **state)
{
    struct ib_params p;
    uint8_t *ones = malloc(MIB), *got = malloc(MIB), *zeros = calloc(1, MIB);
    static const uint8_t st[] = {BAT_PAYLOAD_NOT_PRESENT, BAT_PAYLOAD_ZERO, BAT_PAYLOAD_UNMAPPED,
                                 BAT_PAYLOAD_UNDEFINED};
    (void)state;
    assert_non_null(ones);
    assert_non_null(got);
    assert_non_null(zeros);
    memset(ones, 0xFF, MIB);
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    for (uint64_t b = 0; b < 4; b++) {
        uint64_t raw;
        assert_int_equal(ib_write(&img, b * MIB, ones, MIB), 0);
        assert_int_equal(ib_get_block_entry(&img, b, &raw), 0);
        /* UNDEFINED keeps its old offset (§7.2 allows it); the others get 0. */
        assert_int_equal(ib_set_block_state(&img, b, st[b],
                                            st[b] == BAT_PAYLOAD_UNDEFINED ? raw >> 20 : 0),
                         0);
        assert_int_equal(ib_expected_read(&img, b * MIB, MIB, got), 0);
        assert_memory_equal(got, zeros, MIB);
    }
    verify_image(&img);
    /* Writing into a ZERO block gives it a new zero-filled FULLY_PRESENT block. */
    assert_int_equal(ib_write(&img, 1 * MIB + 5, ones, 1), 0);
    assert_int_equal(ib_expected_read(&img, 1 * MIB, MIB, got), 0);
    assert_int_equal(got[5], 0xFF);
    assert_int_equal(got[4], 0);
    assert_int_equal(got[6], 0);
    free(ones);
    free(got);
    free(zeros);
    ib_free(&img);
}

static void test_reserved_or_partial_states_make_expected_read_fail(void **state)
{
    struct ib_params p;
    uint8_t got[16];
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_set_block_state(&img, 0, 4, 0), 0);
    assert_int_equal(ib_expected_read(&img, 0, 16, got), VHDX_E_STATE);
    assert_int_equal(ib_write(&img, 0, got, 16), VHDX_E_STATE);
    assert_int_equal(ib_set_block_state(&img, 0, BAT_PAYLOAD_UNMAPPED_V095, 0), 0);
    assert_int_equal(ib_expected_read(&img, 0, 16, got), VHDX_E_STATE);
    assert_int_equal(ib_set_block_state(&img, 0, BAT_PAYLOAD_PARTIALLY_PRESENT, 8), 0);
    assert_int_equal(ib_expected_read(&img, 0, 16, got), VHDX_E_STATE);
    assert_int_equal(ib_write(&img, 0, got, 16), VHDX_E_STATE);
    /* A FULLY_PRESENT block past the end of the file. */
    assert_int_equal(ib_set_block_state(&img, 0, BAT_PAYLOAD_FULLY_PRESENT, 1000), 0);
    assert_int_equal(ib_expected_read(&img, 0, 16, got), VHDX_E_RANGE);
    assert_int_equal(ib_expected_read(&img, 8 * MIB - 8, 16, got), VHDX_E_RANGE);
    ib_free(&img);
}

static void test_bat_raw_access_is_bounded_by_the_region(void **state)
{
    struct ib_params p;
    uint64_t raw;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_set_bat_raw(&img, MIB / 8 - 1, 0x1234), 0);
    assert_int_equal(ib_get_bat_raw(&img, MIB / 8 - 1, &raw), 0);
    assert_int_equal(raw, 0x1234);
    assert_int_equal(le64_load_no_bounds_check(img.data + img.bat_offset + MIB - 8), 0x1234);
    assert_int_equal(ib_set_bat_raw(&img, MIB / 8, 0), VHDX_E_RANGE);
    assert_int_equal(ib_get_bat_raw(&img, MIB / 8, &raw), VHDX_E_RANGE);
    assert_int_equal(ib_set_block_state(&img, 8, BAT_PAYLOAD_ZERO, 0), VHDX_E_RANGE);
    ib_free(&img);
}

/* ---- Differencing ---- */

static void build_chain(uint32_t lss, uint32_t bs, uint64_t size)
{
    struct ib_params p;
    fill_params(&p, IB_DYNAMIC, lss, lss, bs, size, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &par), 0);
    fill_params(&p, IB_DIFFERENCING, lss, lss, bs, size, IB_LAYOUT_QEMU);
    p.parent = &par;
    assert_int_equal(ib_build(&p, &img), 0);
}

static void test_differencing_write_makes_partially_present_with_sb_bits(void **state)
{
    uint8_t *pat = malloc(4096), got[4096];
    uint64_t raw, sb_slot;
    int bit;
    (void)state;
    assert_non_null(pat);
    build_chain(512, MIB, 8 * MIB);
    memset(pat, 0xAB, 4096);
    assert_int_equal(ib_write(&par, 0, pat, 4096), 0);
    memset(pat, 0x11, 4096);
    assert_int_equal(ib_write(&img, 1024, pat, 1024), 0); /* sectors 2 and 3 of block 0 */

    assert_int_equal(ib_get_block_entry(&img, 0, &raw), 0);
    assert_int_equal(raw & 7, BAT_PAYLOAD_PARTIALLY_PRESENT);
    assert_int_equal(bat_sb_index(&img.geo, 0, &sb_slot), VHDX_OK);
    assert_int_equal(ib_get_bat_raw(&img, sb_slot, &raw), 0);
    assert_int_equal(raw & 7, BAT_SB_PRESENT);
    for (uint64_t k = 0; k < 6; k++) {
        assert_int_equal(ib_get_sb_bit(&img, 0, k, &bit), 0);
        assert_int_equal(bit, k == 2 || k == 3);
    }
    assert_int_equal(ib_expected_read(&img, 0, 4096, got), 0);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(got[i], i >= 1024 && i < 2048 ? 0x11 : 0xAB);
    verify_image(&img);
    free(pat);
    ib_free(&img);
    ib_free(&par);
}

static void test_differencing_partial_sector_write_keeps_parent_bytes(void **state)
{
    uint8_t pat[512], got[512], one = 0x77;
    (void)state;
    build_chain(4096, MIB, 8 * MIB);
    memset(pat, 0x5A, sizeof(pat));
    assert_int_equal(ib_write(&par, 4096, pat, sizeof(pat)), 0);
    assert_int_equal(ib_write(&img, 4096 + 10, &one, 1), 0);
    assert_int_equal(ib_expected_read(&img, 4096, sizeof(got), got), 0);
    for (size_t i = 0; i < sizeof(got); i++)
        assert_int_equal(got[i], i == 10 ? 0x77 : 0x5A);
    ib_free(&img);
    ib_free(&par);
}

static void test_differencing_block_stays_partially_present_when_all_bits_set(void **state)
{
    uint8_t *pat = malloc(MIB), *got = malloc(MIB);
    uint64_t raw;
    int bit;
    (void)state;
    assert_non_null(pat);
    assert_non_null(got);
    build_chain(512, MIB, 4 * MIB);
    memset(pat, 0x42, MIB);
    assert_int_equal(ib_write(&img, MIB, pat, MIB), 0);
    assert_int_equal(ib_get_block_entry(&img, 1, &raw), 0);
    assert_int_equal(raw & 7, BAT_PAYLOAD_PARTIALLY_PRESENT);
    assert_int_equal(ib_get_sb_bit(&img, 1, 2047, &bit), 0);
    assert_int_equal(bit, 1);
    /* Block 1's bits are bytes 256..511 of the SB block (ChunkRatio 4096, §6.2). */
    assert_int_equal(ib_get_sb_bit(&img, 0, 0, &bit), 0);
    assert_int_equal(bit, 0);
    assert_int_equal(ib_expected_read(&img, MIB, MIB, got), 0);
    assert_memory_equal(got, pat, MIB);
    free(pat);
    free(got);
    ib_free(&img);
    ib_free(&par);
}

static void test_differencing_zero_block_reads_zeros_not_the_parent(void **state)
{
    uint8_t pat[4096], got[4096], zeros[4096] = {0};
    uint64_t raw;
    (void)state;
    build_chain(512, MIB, 4 * MIB);
    memset(pat, 0x99, sizeof(pat));
    assert_int_equal(ib_write(&par, 0, pat, sizeof(pat)), 0);
    assert_int_equal(ib_expected_read(&img, 0, sizeof(got), got), 0);
    assert_memory_equal(got, pat, sizeof(got)); /* NOT_PRESENT: the parent */
    assert_int_equal(ib_set_block_state(&img, 0, BAT_PAYLOAD_ZERO, 0), 0);
    assert_int_equal(ib_expected_read(&img, 0, sizeof(got), got), 0);
    assert_memory_equal(got, zeros, sizeof(got));
    /* A write into it gives a zero-filled FULLY_PRESENT block, no parent bytes. */
    assert_int_equal(ib_write(&img, 100, pat, 1), 0);
    assert_int_equal(ib_get_block_entry(&img, 0, &raw), 0);
    assert_int_equal(raw & 7, BAT_PAYLOAD_FULLY_PRESENT);
    assert_int_equal(ib_expected_read(&img, 0, sizeof(got), got), 0);
    for (size_t i = 0; i < sizeof(got); i++)
        assert_int_equal(got[i], i == 100 ? 0x99 : 0);
    verify_image(&img);
    ib_free(&img);
    ib_free(&par);
}

static void test_differencing_without_parent_cannot_model_not_present(void **state)
{
    struct ib_params p;
    uint8_t got[16];
    (void)state;
    fill_params(&p, IB_DIFFERENCING, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_null(img.parent);
    assert_int_equal(ib_expected_read(&img, 0, 16, got), VHDX_E_MISSING);
    verify_image(&img);
    ib_free(&img);
}

static void test_sb_bits_set_clear_and_allocate_the_sb_block(void **state)
{
    struct ib_params p;
    uint64_t slot, raw, before;
    int bit;
    (void)state;
    fill_params(&p, IB_DIFFERENCING, 512, 512, 256 * MIB, 4 * GIB + 256 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    before = img.len;
    assert_int_equal(ib_get_sb_bit(&img, 16, 3, &bit), 0);
    assert_int_equal(bit, 0);
    assert_int_equal(ib_set_sb_bits(&img, 16, 2, 3, 1), 0);
    assert_int_equal(img.len, before + MIB);
    assert_int_equal(bat_sb_index(&img.geo, 1, &slot), VHDX_OK);
    assert_int_equal(slot, 33);
    assert_int_equal(ib_get_bat_raw(&img, slot, &raw), 0);
    assert_int_equal(raw, before | BAT_SB_PRESENT);
    /* Chunk 1 has one block, the first slice: bits 2..4 of byte 0. */
    assert_int_equal(img.data[before], 0x1C);
    assert_int_equal(ib_set_sb_bits(&img, 16, 3, 1, 0), 0);
    assert_int_equal(img.data[before], 0x14);
    assert_int_equal(ib_get_sb_bit(&img, 16, 4, &bit), 0);
    assert_int_equal(bit, 1);
    assert_int_equal(ib_set_sb_bits(&img, 16, 0, 256 * MIB / 512 + 1, 1), VHDX_E_RANGE);
    assert_int_equal(ib_set_sb_bits(&img, 17, 0, 1, 1), VHDX_E_RANGE);
    verify_image(&img);
    ib_free(&img);
}

static void test_locator_holds_linkage_and_paths(void **state)
{
    struct ib_params p;
    struct test_sink ts;
    char value[128];
    size_t vlen;
    (void)state;
    build_chain(512, MIB, 4 * MIB);
    ib_free(&img);
    fill_params(&p, IB_DIFFERENCING, 512, 512, MIB, 4 * MIB, IB_LAYOUT_OPENVMM);
    p.parent = &par;
    p.relative_path = "..\\base.vhdx";
    p.absolute_win32_path = "\\\\?\\C:\\vms\\base.vhdx";
    p.volume_path = "\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\vms\\base.vhdx";
    assert_int_equal(ib_build(&p, &img), 0);
    verify_image(&img);
    test_sink_init(&ts);
    assert_status(parent_locator_decode(img.locator, img.locator_len, 0, &pl, &ts.sink), VHDX_OK);
    assert_int_equal(pl.key_value_count, 4);
    assert_status(parent_locator_find(&pl, img.locator, img.locator_len, "relative_path", 13,
                                      value, sizeof(value), &vlen),
                  VHDX_OK);
    assert_string_equal(value, p.relative_path);
    assert_status(parent_locator_find(&pl, img.locator, img.locator_len, "absolute_win32_path",
                                      19, value, sizeof(value), &vlen),
                  VHDX_OK);
    assert_string_equal(value, p.absolute_win32_path);
    assert_status(parent_locator_find(&pl, img.locator, img.locator_len, "volume_path", 11,
                                      value, sizeof(value), &vlen),
                  VHDX_OK);
    assert_string_equal(value, p.volume_path);
    ib_free(&img);

    /* No path given: relative_path "parent.vhdx"; explicit linkage wins over the parent's. */
    fill_params(&p, IB_DIFFERENCING, 512, 512, MIB, 4 * MIB, IB_LAYOUT_QEMU);
    memset(p.parent_linkage.b, 0x3C, 16);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_status(parent_locator_decode(img.locator, img.locator_len, 0, &pl, &ts.sink), VHDX_OK);
    assert_int_equal(pl.key_value_count, 2);
    assert_status(parent_locator_find(&pl, img.locator, img.locator_len, "relative_path", 13,
                                      value, sizeof(value), &vlen),
                  VHDX_OK);
    assert_string_equal(value, "parent.vhdx");
    assert_status(parent_locator_find(&pl, img.locator, img.locator_len, "parent_linkage", 14,
                                      value, sizeof(value), &vlen),
                  VHDX_OK);
    assert_string_equal(value, "{3c3c3c3c-3c3c-3c3c-3c3c-3c3c3c3c3c3c}");
    assert_memory_equal(&img.header.data_write_guid, &IB_DEFAULT_CHILD_DATA_WRITE_GUID, 16);
    ib_free(&img);
    ib_free(&par);
}

/* ---- Refresh, restamp, save ---- */

static void test_refresh_reencodes_changed_fields(void **state)
{
    struct ib_params p;
    struct test_sink ts;
    struct header h;
    struct virtual_disk_size vds;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    test_sink_init(&ts);
    img.header.sequence_number = 10;
    img.header_old.sequence_number = 11;
    img.vds.size = 6 * MIB;
    img.rt.entries[0].required = 0;
    assert_int_equal(ib_refresh(&img), 0);
    assert_status(header_decode(img.data + VHDX_HEADER1_OFFSET, HEADER_SIZE, &h, &ts.sink),
                  VHDX_OK);
    assert_int_equal(h.sequence_number, 11);
    assert_status(header_decode(img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE, &h, &ts.sink),
                  VHDX_OK);
    assert_int_equal(h.sequence_number, 10);
    assert_status(virtual_disk_size_decode(img.data + img.metadata_offset + 0x10008, 8, &vds,
                                           &ts.sink),
                  VHDX_OK);
    assert_int_equal(vds.size, 6 * MIB);
    assert_status(region_table_decode(img.data + VHDX_REGION_TABLE2_OFFSET, REGION_TABLE_SIZE,
                                      &rt2, &ts.sink),
                  VHDX_OK);
    assert_int_equal(rt2.entries[0].required, 0);
    /* A table entry moved past the region: the item is not written, refresh still succeeds. */
    img.mt.entries[0].offset = (uint32_t)MIB - 4;
    assert_int_equal(ib_refresh(&img), 0);
    ib_free(&img);
}

static void test_restamp_fixes_checksums_after_poking_bytes(void **state)
{
    struct ib_params p;
    struct test_sink ts;
    struct header h;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    test_sink_init(&ts);
    img.data[VHDX_HEADER2_OFFSET + 66] = 2; /* Version */
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] = 1; /* past the entries */
    assert_status(header_decode(img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE, &h, &ts.sink),
                  VHDX_E_CHECKSUM);
    assert_status(region_table_decode(img.data + VHDX_REGION_TABLE1_OFFSET, REGION_TABLE_SIZE,
                                      &rt1, &ts.sink),
                  VHDX_E_CHECKSUM);
    assert_int_equal(ib_restamp_checksums(&img), 0);
    test_sink_init(&ts);
    assert_status(header_decode(img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE, &h, &ts.sink),
                  VHDX_OK);
    assert_int_equal(h.version, 2);
    assert_status(region_table_decode(img.data + VHDX_REGION_TABLE1_OFFSET, REGION_TABLE_SIZE,
                                      &rt1, &ts.sink),
                  VHDX_OK);
    ib_free(&img);
}

static void test_save_writes_the_bytes_sparsely(void **state)
{
    struct ib_params p;
    char path[] = "/tmp/test_image_builder_XXXXXX";
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct stat st;
    uint8_t *back;
    int fd;
    (void)state;
    fill_params(&p, IB_FIXED, 512, 512, 256 * MIB, 4 * GIB + 256 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_write(&img, 4 * GIB + 5, b, sizeof(b)), 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(ib_save(&img, path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, img.len);
    assert_true((uint64_t)st.st_blocks * 512 < 64 * MIB); /* 4.6 GB file, a few MiB on disk */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    back = malloc(img.payload_start);
    assert_non_null(back);
    assert_int_equal(pread(fd, back, img.payload_start, 0), (ssize_t)img.payload_start);
    assert_memory_equal(back, img.data, img.payload_start);
    assert_int_equal(pread(fd, back, sizeof(b), (off_t)(img.payload_start + 4 * GIB + 5)),
                     (ssize_t)sizeof(b));
    assert_memory_equal(back, b, sizeof(b));
    free(back);
    close(fd);
    unlink(path);
    assert_int_equal(ib_save(&img, "/nonexistent-dir/x.vhdx"), VHDX_E_IO);
    ib_free(&img);
}

static void test_resize_shrinks_and_regrows_with_zeros(void **state)
{
    struct ib_params p;
    uint64_t off;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    assert_int_equal(ib_alloc_space(&img, 3 * MIB, &off), 0);
    assert_int_equal(off, img.payload_start);
    memset(img.data + off, 0xEE, 3 * MIB);
    assert_int_equal(ib_resize(&img, off + 100), 0);
    assert_int_equal(img.len, off + 100);
    assert_int_equal(ib_resize(&img, off + 3 * MIB), 0);
    assert_int_equal(img.data[off + 99], 0xEE);
    for (uint64_t i = off + 100; i < off + 3 * MIB; i += 511)
        assert_int_equal(img.data[i], 0);
    /* Allocation rounds the unaligned end of file up to 1 MiB. */
    assert_int_equal(ib_resize(&img, off + 100), 0);
    assert_int_equal(ib_alloc_space(&img, 1, &off), 0);
    assert_int_equal(off, img.payload_start + MIB);
    assert_int_equal(img.len, img.payload_start + 2 * MIB);
    ib_free(&img);
    ib_free(&img); /* a zeroed image frees again safely */
}

/* ---- Log ---- */

static void test_log_entries_check_with_the_log_codec(void **state)
{
    struct ib_params p;
    struct test_sink ts;
    struct log_entry_view view;
    struct log_descriptor d[2];
    struct guid lg;
    struct header h;
    uint8_t page[4096];
    const uint8_t *payloads[1] = {page};
    uint32_t at;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    memset(lg.b, 0x4C, 16);
    assert_int_equal(ib_set_log_guid(&img, &lg), 0);
    test_sink_init(&ts);
    assert_status(header_decode(img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE, &h, &ts.sink),
                  VHDX_OK);
    assert_memory_equal(&h.log_guid, &lg, 16);

    /* An empty initialising entry, then a BAT page and a zeroed range. */
    assert_int_equal(ib_add_log_entry(&img, 1, 0, NULL, 0, NULL, &at), 0);
    assert_int_equal(at, 0);
    memset(d, 0, sizeof(d));
    d[0].kind = LOG_DESCRIPTOR_DATA;
    d[0].file_offset = img.bat_offset;
    d[1].kind = LOG_DESCRIPTOR_ZERO;
    d[1].file_offset = img.bat_offset + 4096;
    d[1].zero_length = 4096;
    memset(page, 0, sizeof(page));
    le64_store_no_bounds_check(page, img.payload_start | BAT_PAYLOAD_FULLY_PRESENT);
    assert_int_equal(ib_add_log_entry(&img, 2, 4096, d, 2, payloads, &at), 0);
    assert_int_equal(at, 4096);
    assert_int_equal(img.log_head, 3 * 4096);

    assert_status(log_entry_check(img.data + img.log_offset, img.log_length, 0, &lg,
                                  img.log_offset, &view, &ts.sink),
                  VHDX_OK);
    assert_int_equal(view.header.sequence_number, 1);
    assert_status(log_entry_check(img.data + img.log_offset, img.log_length, 4096, &lg,
                                  img.log_offset, &view, &ts.sink),
                  VHDX_OK);
    assert_int_equal(view.header.sequence_number, 2);
    assert_int_equal(view.header.tail, 4096);
    assert_int_equal(view.header.descriptor_count, 2);
    assert_int_equal(view.header.flushed_file_offset, img.len);
    assert_no_findings(&ts);
    ib_free(&img);
}

static void test_log_entry_wraps_around_the_end_of_the_log(void **state)
{
    struct ib_params p;
    struct test_sink ts;
    struct log_entry_view view;
    struct log_descriptor d;
    struct guid lg;
    uint8_t page[4096];
    const uint8_t *payloads[1] = {page};
    uint32_t at;
    (void)state;
    fill_params(&p, IB_DYNAMIC, 512, 512, MIB, 8 * MIB, IB_LAYOUT_QEMU);
    assert_int_equal(ib_build(&p, &img), 0);
    memset(lg.b, 0x4D, 16);
    assert_int_equal(ib_set_log_guid(&img, &lg), 0);
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_DATA;
    d.file_offset = img.metadata_offset;
    memset(page, 0x61, sizeof(page));
    img.log_head = (uint32_t)MIB - 4096; /* descriptor sector last, data sector at 0 */
    assert_int_equal(ib_add_log_entry(&img, 7, (uint32_t)MIB - 4096, &d, 1, payloads, &at), 0);
    assert_int_equal(at, MIB - 4096);
    assert_int_equal(img.log_head, 4096);
    test_sink_init(&ts);
    assert_status(log_entry_check(img.data + img.log_offset, img.log_length, at, &lg,
                                  img.log_offset, &view, &ts.sink),
                  VHDX_OK);
    assert_memory_equal(img.data + img.log_offset, "data", 4);
    assert_int_equal(ib_add_log_entry(&img, 8, 0, NULL, 0, NULL, NULL), 0);
    img.log_head = 100;
    assert_int_equal(ib_add_log_entry(&img, 9, 0, NULL, 0, NULL, NULL), VHDX_E_RANGE);
    ib_free(&img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shape_decodes_validates_and_reads_back),
        cmocka_unit_test(test_qemu_layout_puts_bat_after_log_and_metadata_after_bat),
        cmocka_unit_test(test_openvmm_layout_puts_metadata_at_2m_and_bat_at_3m),
        cmocka_unit_test(test_longer_log_moves_the_regions_after_it),
        cmocka_unit_test(test_bat_length_rounds_total_entries_up_to_1m),
        cmocka_unit_test(test_defaults_are_32m_blocks_512_sectors_1m_log_and_fixed_guids),
        cmocka_unit_test(test_params_guids_and_creator_are_used),
        cmocka_unit_test(test_build_rejects_bad_parameters),
        cmocka_unit_test(test_fixed_blocks_are_fully_present_and_consecutive),
        cmocka_unit_test(test_fixed_partial_last_block_is_allocated_whole),
        cmocka_unit_test(test_dynamic_write_allocates_at_eof_in_write_order),
        cmocka_unit_test(test_write_past_the_disk_fails),
        cmocka_unit_test(test_states_zero_unmapped_undefined_not_present_read_as_zeros),
        cmocka_unit_test(test_reserved_or_partial_states_make_expected_read_fail),
        cmocka_unit_test(test_bat_raw_access_is_bounded_by_the_region),
        cmocka_unit_test(test_differencing_write_makes_partially_present_with_sb_bits),
        cmocka_unit_test(test_differencing_partial_sector_write_keeps_parent_bytes),
        cmocka_unit_test(test_differencing_block_stays_partially_present_when_all_bits_set),
        cmocka_unit_test(test_differencing_zero_block_reads_zeros_not_the_parent),
        cmocka_unit_test(test_differencing_without_parent_cannot_model_not_present),
        cmocka_unit_test(test_sb_bits_set_clear_and_allocate_the_sb_block),
        cmocka_unit_test(test_locator_holds_linkage_and_paths),
        cmocka_unit_test(test_refresh_reencodes_changed_fields),
        cmocka_unit_test(test_restamp_fixes_checksums_after_poking_bytes),
        cmocka_unit_test(test_save_writes_the_bytes_sparsely),
        cmocka_unit_test(test_resize_shrinks_and_regrows_with_zeros),
        cmocka_unit_test(test_log_entries_check_with_the_log_codec),
        cmocka_unit_test(test_log_entry_wraps_around_the_end_of_the_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
