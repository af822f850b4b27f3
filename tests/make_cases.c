/*
 * Writes one image per rule for the vhdx-verify tests, each breaking exactly
 * that rule in an otherwise valid image, and a manifest:
 *     NAME EXIT RULE SEVERITY
 * where EXIT is the exit status vhdx-verify must give (0 with only
 * warnings, 1 with errors). Images named huge-* make claims far larger than
 * the file; their memory and time are measured by the test.
 *
 *   make_cases OUTDIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "format/constants.h"
#include "format/parent_locator.h"
#include "image_builder.h"

#define MiB (1024ull * 1024ull)

static const char *outdir;
static FILE *manifest;
static int failures;

static void base(struct ib_image *img, int type)
{
    struct ib_params p;
    memset(&p, 0, sizeof(p));
    p.type = type;
    p.virtual_size = 8 * MiB;
    p.block_size = (uint32_t)MiB;
    if (ib_build(&p, img) != 0) {
        fprintf(stderr, "build failed\n");
        exit(2);
    }
}

static void emit(struct ib_image *img, const char *name, int exit_code, const char *rule,
                 const char *severity)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.vhdx", outdir, name);
    if (ib_save(img, path) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        failures++;
    }
    fprintf(manifest, "%s %d %s %s\n", name, exit_code, rule, severity);
    ib_free(img);
}

int main(int argc, char **argv)
{
    static const uint8_t d4[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct ib_image img, parent;
    char path[4096];
    uint64_t raw, sb = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: make_cases OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    snprintf(path, sizeof(path), "%s/manifest", outdir);
    manifest = fopen(path, "w");
    if (manifest == NULL)
        return 2;

    base(&img, IB_DYNAMIC);
    emit(&img, "valid-dynamic", 0, "-", "-");

    base(&img, IB_DYNAMIC);
    img.data[VHDX_HEADER1_OFFSET + 300] ^= 1;
    img.data[VHDX_HEADER2_OFFSET + 300] ^= 1;
    emit(&img, "header-none-valid", 1, "image.header.none_valid", "error");

    base(&img, IB_DYNAMIC);
    img.data[VHDX_HEADER2_OFFSET + 300] ^= 1;
    emit(&img, "header-torn", 0, "image.header.one_valid", "warning");

    base(&img, IB_DYNAMIC);
    img.header.version = 2;
    if (ib_refresh(&img) == 0)
        emit(&img, "header-version", 0, "header.version", "warning");

    base(&img, IB_DYNAMIC);
    img.data[VHDX_REGION_TABLE1_OFFSET + 5] ^= 1;
    img.data[VHDX_REGION_TABLE2_OFFSET + 5] ^= 1;
    emit(&img, "regions-none-valid", 1, "image.region_table.none_valid", "error");

    base(&img, IB_DYNAMIC);
    img.rt.entries[img.rt.entry_count] = img.rt.entries[0];
    img.rt.entries[img.rt.entry_count].file_offset += 64 * MiB;
    img.rt.entry_count++;
    if (ib_refresh(&img) == 0)
        emit(&img, "region-duplicate", 1, "region_table.entry.duplicate", "error");

    base(&img, IB_DYNAMIC);
    img.rt.entries[img.rt.entry_count].guid = guid_make(0xBADBAD, 1, 2, d4);
    img.rt.entries[img.rt.entry_count].file_offset = img.len;
    img.rt.entries[img.rt.entry_count].length = (uint32_t)MiB;
    img.rt.entries[img.rt.entry_count].required = 1;
    img.rt.entry_count++;
    if (ib_resize(&img, img.len + MiB) == 0 && ib_refresh(&img) == 0)
        emit(&img, "region-unknown-required", 1, "region_table.entry.unknown_required", "error");

    base(&img, IB_DYNAMIC);
    img.mt.entries[img.mt.entry_count] = img.mt.entries[0];
    img.mt.entry_count++;
    if (ib_refresh(&img) == 0)
        emit(&img, "metadata-duplicate-item", 1, "metadata_table.entry.duplicate", "error");

    base(&img, IB_DYNAMIC);
    img.fp.has_parent = true;
    if (ib_refresh(&img) == 0)
        emit(&img, "has-parent-without-locator", 1, "metadata_table.parent_locator.missing",
             "error");

    base(&parent, IB_DYNAMIC);
    {
        struct ib_params p;
        memset(&p, 0, sizeof(p));
        p.type = IB_DIFFERENCING;
        p.virtual_size = 8 * MiB;
        p.block_size = (uint32_t)MiB;
        p.parent = &parent;
        p.relative_path = "parent.vhdx";
        if (ib_build(&p, &img) == 0) {
            /* Rebuild the locator without parent_linkage. */
            static const struct parent_locator_kv kv[1] = {{"relative_path", "parent.vhdx"}};
            uint8_t loc[4096];
            size_t n = 0;
            if (parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, kv, 1, loc, sizeof(loc), &n) ==
                    VHDX_OK &&
                n <= img.locator_len) {
                memset(img.locator, 0, img.locator_len);
                memcpy(img.locator, loc, n);
                if (ib_refresh(&img) == 0)
                    emit(&img, "locator-without-linkage", 1,
                         "parent_locator.parent_linkage.missing", "error");
            }
        }
    }
    ib_free(&parent);

    base(&img, IB_DYNAMIC);
    ib_set_block_state(&img, 2, BAT_PAYLOAD_ZERO, 3);
    emit(&img, "zero-block-with-offset", 1, "bat.entry.zero.offset", "error");

    base(&img, IB_DYNAMIC);
    ib_set_block_state(&img, 2, BAT_PAYLOAD_NOT_PRESENT, 3);
    emit(&img, "not-present-block-with-offset", 0, "bat.entry.offset.reserved", "warning");

    base(&img, IB_DYNAMIC);
    ib_set_bat_raw(&img, 1, 4);
    emit(&img, "bat-state-4", 1, "bat.entry.state", "error");

    base(&img, IB_DYNAMIC);
    ib_set_bat_raw(&img, 1, (1ull << 12) | BAT_PAYLOAD_NOT_PRESENT);
    emit(&img, "bat-reserved-bits", 1, "bat.entry.reserved", "error");

    base(&img, IB_DYNAMIC);
    ib_set_block_state(&img, 3, BAT_PAYLOAD_FULLY_PRESENT, img.len / MiB + 10);
    emit(&img, "block-past-eof", 1, "bat.entry.past_eof", "error");

    base(&img, IB_DYNAMIC);
    ib_set_block_state(&img, 3, BAT_PAYLOAD_FULLY_PRESENT, img.bat_offset / MiB);
    emit(&img, "block-over-bat", 1, "image.space.overlap", "error");

    base(&img, IB_DYNAMIC);
    {
        uint8_t d[512] = {7};
        if (ib_write(&img, 0, d, sizeof(d)) == 0 && ib_get_block_entry(&img, 0, &raw) == 0) {
            ib_set_bat_raw(&img, 5, raw);
            emit(&img, "blocks-share-offset", 1, "image.space.overlap", "error");
        } else {
            ib_free(&img);
        }
    }

    base(&img, IB_DYNAMIC);
    ib_set_block_state(&img, 4, BAT_PAYLOAD_UNMAPPED, img.log_offset / MiB);
    emit(&img, "block-over-log", 1, "image.space.overlap", "error");

    base(&img, IB_DYNAMIC);
    ib_resize(&img, img.len + 4096);
    emit(&img, "trailing-data", 0, "image.space.trailing_data", "warning");

    base(&img, IB_DYNAMIC);
    {
        struct guid g = guid_make(0x10C, 1, 2, d4);
        ib_set_log_guid(&img, &g);
    }
    emit(&img, "log-guid-without-entries", 1, "log.sequence.none", "error");

    base(&img, IB_DYNAMIC);
    ib_resize(&img, 512 * 1024);
    emit(&img, "file-too-small", 1, "image.file.too_small", "error");

    base(&img, IB_DYNAMIC);
    memcpy(img.data + VHDX_HEADER1_OFFSET, img.data + VHDX_HEADER2_OFFSET, HEADER_SIZE);
    emit(&img, "headers-equal-identical", 0, "image.header.equal_identical", "warning");

    base(&img, IB_DYNAMIC);
    img.header_old.sequence_number = img.header.sequence_number;
    img.header_old.file_write_guid.b[0] ^= 1;
    if (ib_refresh(&img) == 0)
        emit(&img, "headers-equal-sequence", 1, "image.header.equal_sequence", "error");

    base(&img, IB_DYNAMIC);
    img.data[VHDX_REGION_TABLE1_OFFSET + 100] ^= 1;
    emit(&img, "region-copy1-invalid", 0, "image.region_table.copy1_invalid", "warning");

    base(&img, IB_DYNAMIC);
    img.data[VHDX_REGION_TABLE2_OFFSET + 100] ^= 1;
    emit(&img, "region-copy2-invalid", 0, "image.region_table.copy2_invalid", "warning");

    base(&img, IB_DYNAMIC);
    {
        static struct region_table t;
        t = img.rt;
        t.entries[0].required = 0; /* valid, but not what copy 1 says */
        if (region_table_encode(&t, img.data + VHDX_REGION_TABLE2_OFFSET, REGION_TABLE_SIZE) ==
            VHDX_OK)
            emit(&img, "region-copies-differ", 0, "image.region_table.mismatch", "warning");
        else
            ib_free(&img);
    }

    base(&img, IB_DYNAMIC);
    for (uint32_t i = 0; i < img.rt.entry_count; i++) {
        if (guid_equal(&img.rt.entries[i].guid, &VHDX_GUID_REGION_METADATA))
            img.rt.entries[i].length = 32 * 1024;
    }
    if (ib_refresh(&img) == 0)
        emit(&img, "metadata-region-too-small", 1, "image.metadata.region_too_small", "error");

    /* Differencing chains resolved by path next to the child. */
    base(&parent, IB_DYNAMIC);
    parent.header.data_write_guid = guid_make(0xBA5E, 1, 2, d4);
    if (ib_refresh(&parent) == 0) {
        struct ib_params p;
        uint8_t d[512] = {3};
        char ppath[4096];
        snprintf(ppath, sizeof(ppath), "%s/chain-parent.vhdx", outdir);
        if (ib_save(&parent, ppath) != 0)
            failures++;
        memset(&p, 0, sizeof(p));
        p.type = IB_DIFFERENCING;
        p.virtual_size = 8 * MiB;
        p.block_size = (uint32_t)MiB;
        p.parent = &parent;
        p.data_write_guid = guid_make(0xC41D, 1, 2, d4);

        p.relative_path = "chain-parent.vhdx";
        if (ib_build(&p, &img) == 0)
            emit(&img, "chain-valid", 0, "-", "-");

        p.relative_path = "no-such-parent.vhdx";
        if (ib_build(&p, &img) == 0)
            emit(&img, "chain-parent-missing", 1, "image.parent.not_found", "error");

        p.relative_path = "..\\chain-parent.vhdx";
        if (ib_build(&p, &img) == 0)
            emit(&img, "chain-parent-outside", 1, "image.parent.refused", "error");

        p.relative_path = "chain-parent.vhdx";
        p.parent_linkage = guid_make(0x0DD, 1, 2, d4);
        if (ib_build(&p, &img) == 0)
            emit(&img, "chain-linkage-mismatch", 1, "image.parent.linkage_mismatch", "error");
        memset(&p.parent_linkage, 0, sizeof(p.parent_linkage));

        if (ib_build(&p, &img) == 0) {
            if (ib_write(&img, 0, d, sizeof(d)) == 0 && bat_sb_index(&img.geo, 0, &sb) == VHDX_OK &&
                ib_set_bat_raw(&img, sb, 0) == 0)
                emit(&img, "chain-partial-without-bitmap", 1, "image.bat.partial_without_bitmap",
                     "error");
            else
                ib_free(&img);
        }
    }
    ib_free(&parent);

    /* Huge claims in tiny files: errors in milliseconds, little memory. */
    base(&img, IB_DYNAMIC);
    img.vds.size = 64ull << 40;
    if (ib_refresh(&img) == 0)
        emit(&img, "huge-disk-small-bat", 1, "bat.region.too_small", "error");

    base(&img, IB_DYNAMIC);
    for (uint32_t i = 0; i < img.rt.entry_count; i++) {
        if (guid_equal(&img.rt.entries[i].guid, &VHDX_GUID_REGION_BAT))
            img.rt.entries[i].length = 0xFFF00000u;
    }
    if (ib_refresh(&img) == 0)
        emit(&img, "huge-bat-region", 1, "region_table.entry.past_eof", "error");

    base(&img, IB_DYNAMIC);
    for (uint32_t i = 0; i < img.rt.entry_count; i++) {
        if (guid_equal(&img.rt.entries[i].guid, &VHDX_GUID_REGION_METADATA))
            img.rt.entries[i].length = 0xFFF00000u;
    }
    if (ib_refresh(&img) == 0)
        emit(&img, "huge-metadata-region", 1, "region_table.entry.past_eof", "error");

    base(&img, IB_DYNAMIC);
    img.header.log_length = 0xFFF00000u;
    {
        struct guid g = guid_make(0x10C, 1, 2, d4);
        img.header.log_guid = g;
    }
    if (ib_refresh(&img) == 0)
        emit(&img, "huge-log", 1, "header.log.past_eof", "error");

    /* A 64 TiB disk whose BAT really is 512 MiB long, in a sparse file: */
    /* the walk is bounded by the geometry and reads the BAT in pages. */
    {
        struct ib_params p;
        memset(&p, 0, sizeof(p));
        p.type = IB_DYNAMIC;
        p.virtual_size = 64ull << 40;
        p.block_size = (uint32_t)MiB;
        if (ib_build(&p, &img) == 0) {
            emit(&img, "huge-valid-64t", 0, "-", "-");
        }
    }

    fclose(manifest);
    return failures != 0 ? 1 : 0;
}
