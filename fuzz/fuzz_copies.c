/*
 * The whole-disk copies on untrusted images: vhdx_export_raw, vhdx_convert
 * and vhdx_commit with the fuzzed image as the source, and as the parent a
 * commit writes into.
 *
 * Input: the whole-image format of fuzz_image (image_input.h), then
 * nothing else: the choices below come from a hash of the input. The image
 * (a sparse store reused across inputs) is opened read-only from memory (a differencing image without its
 * parent, so its reads of the parent's ranges fail). When it opens and its
 * virtual size is at most MAX_DISK:
 *   1. the whole disk is read with vhdx_read: the model. When that fails
 *      (a block past the end of the file, a missing parent) every copy
 *      below must fail too, with a status and no crash, and the run ends
 *      after trying them;
 *   2. vhdx_export_raw into a sink: the ranges come in increasing order,
 *      inside the disk, and together with zeros elsewhere they are the
 *      model exactly; a cancel chosen by the hash returns
 *      VHDX_E_CANCELLED;
 *   3. vhdx_convert of the open image into a new dynamic image in memory
 *      (an overlay over an empty back end): on VHDX_OK the new image opens
 *      and reads the model; cancelled, it must not open at all
 *      (VHDX_E_SIGNATURE: an unsealed file);
 *   4. vhdx_commit into the image: a differencing child of it is created in
 *      memory, a few sectors chosen by the hash written into it, and the
 *      child committed into a writable copy of the fuzzed file (an
 *      overlay). On VHDX_OK the parent alone reads the model with the
 *      child's sectors; a failure is allowed (the writable open of a
 *      hostile file may refuse what the read-only one accepted, e.g. a log
 *      it cannot replay in place), a crash or a leak is not.
 *   5. vhdx_repair on a writable copy of the fuzzed file (an overlay), the
 *      repair `vhdx check -r all` runs on untrusted images. A writable open
 *      or a repair may fail (with a status); when the repair returns
 *      VHDX_OK, a fresh read-only open of the result must succeed with no
 *      finding of a damaged spare copy (image.header.one_valid,
 *      image.header.spare_damaged, image.region_table.copy1_invalid,
 *      .copy2_invalid, .mismatch), read the model when the original was
 *      readable, and a second repair must find nothing to rewrite.
 * Every failure is a status: the harness aborts only on a broken
 * invariant.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "fuzz_common.h"
#include "image_input.h"
#include "io/overlay.h"
#include "vhdx.h"

#define MAX_DISK ((uint64_t)32 << 20) /* virtual bytes examined per input */
#define FILE_CAP ((uint64_t)96 << 20) /* bytes a memory file may grow by */
#define CHILD_WRITES 4u

struct run {
    const uint8_t *model;
    uint64_t size, next; /* the export: where the next range may start */
    uint32_t sector;     /* the logical sector size */
    uint8_t *seen;       /* the export's bytes, zeros elsewhere */
    uint64_t cancel_at;  /* progress calls before the cancel (0: never) */
    uint64_t calls;
};

static uint64_t hash_input(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    return h;
}

static vhdx_status sink(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct run *r = ctx;
    FUZZ_CHECK(len > 0 && offset >= r->next && offset <= r->size && len <= r->size - offset);
    memcpy(r->seen + offset, buf, len);
    r->next = offset + len;
    return VHDX_OK;
}

static int progress(void *ctx, uint64_t done, uint64_t total)
{
    struct run *r = ctx;
    FUZZ_CHECK(done <= total);
    r->calls++;
    return r->cancel_at != 0 && r->calls >= r->cancel_at;
}

/* Opens the file behind a borrowed back end and compares its disk with want. */
static void expect_disk(const vhdx_io *file, const uint8_t *want, uint64_t size, uint8_t *buf)
{
    vhdx_io b = *file;
    vhdx_image *img = NULL;
    vhdx_info info;
    b.close = NULL;
    FUZZ_CHECK(vhdx_open(&b, NULL, &img) == VHDX_OK);
    FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK && info.virtual_size == size);
    FUZZ_CHECK(vhdx_read(img, 0, buf, (size_t)size) == VHDX_OK);
    FUZZ_CHECK(memcmp(buf, want, (size_t)size) == 0);
    vhdx_close(img);
}

static void try_export(vhdx_image *img, struct run *r, bool readable, uint64_t h)
{
    vhdx_export_options eo;
    vhdx_status st;
    memset(&eo, 0, sizeof(eo));
    memset(r->seen, 0, (size_t)r->size);
    r->next = 0;
    r->calls = 0;
    r->cancel_at = (h & 7) == 0 ? 1 + (h >> 3) % 4 : 0;
    eo.sink = sink;
    eo.sink_ctx = r;
    eo.progress = progress;
    eo.progress_ctx = r;
    st = vhdx_export_raw(img, -1, &eo);
    if (st == VHDX_E_CANCELLED)
        FUZZ_CHECK(r->cancel_at != 0);
    else if (readable)
        FUZZ_CHECK(st == VHDX_OK && memcmp(r->seen, r->model, (size_t)r->size) == 0);
    else
        FUZZ_CHECK(st != VHDX_OK);
}

static void try_convert(vhdx_image *img, struct run *r, bool readable, uint64_t h,
                        uint8_t *buf)
{
    struct alloc_acct acct;
    vhdx_io mem, file;
    vhdx_source src;
    vhdx_convert_options co;
    vhdx_convert_result res;
    vhdx_status st;

    alloc_acct_init(&acct, NULL, 0);
    FUZZ_CHECK(vhdx_io_from_memory(NULL, 0, &mem) == VHDX_OK);
    FUZZ_CHECK(io_overlay_create(&mem, &acct, FILE_CAP, &file) == VHDX_OK);
    memset(&src, 0, sizeof(src));
    src.kind = VHDX_SOURCE_IMAGE;
    src.image = img;
    memset(&co, 0, sizeof(co));
    co.create.type = VHDX_DISK_DYNAMIC;
    co.create.block_size = (h & 16) != 0 ? 1u << 20 : 0;
    co.progress = progress;
    co.progress_ctx = r;
    r->calls = 0;
    r->cancel_at = (h & 0x60) == 0 ? 1 + (h >> 8) % 3 : 0;
    st = vhdx_convert(&src, &file, &co, NULL, &res);
    if (st == VHDX_OK) {
        FUZZ_CHECK(readable);
        expect_disk(&file, r->model, r->size, buf);
    } else {
        vhdx_io b = file;
        vhdx_image *bad = NULL;
        /* A readable source fails only at the memory file's cap. */
        FUZZ_CHECK(st == VHDX_E_CANCELLED ? r->cancel_at != 0 : !readable || st == VHDX_E_LIMIT);
        /* Whatever was left is unsealed: no reader takes it for an image. */
        uint64_t flen = 0;
        b.close = NULL;
        if (b.size(b.ctx, &flen) == VHDX_OK && flen != 0)
            FUZZ_CHECK(vhdx_open(&b, NULL, &bad) != VHDX_OK);
    }
    vhdx_io_close(&file);
    vhdx_io_close(&mem);
}

static void try_commit(struct io_sparse *bytes, vhdx_image *parent, struct run *r,
                       uint64_t h, uint8_t *buf)
{
    struct alloc_acct acct;
    vhdx_io pmem, pfile, cmem, cfile, b;
    vhdx_create_options co;
    vhdx_open_options oo;
    vhdx_image *child = NULL;
    uint8_t *want = NULL;
    bool ok = true;

    alloc_acct_init(&acct, NULL, 0);
    io_sparse_io(bytes, false, &pmem);
    FUZZ_CHECK(io_overlay_create(&pmem, &acct, FILE_CAP, &pfile) == VHDX_OK);
    FUZZ_CHECK(vhdx_io_from_memory(NULL, 0, &cmem) == VHDX_OK);
    FUZZ_CHECK(io_overlay_create(&cmem, &acct, FILE_CAP, &cfile) == VHDX_OK);
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DIFFERENCING;
    co.parent = parent;
    co.parent_relative_path = "parent.vhdx";
    if (vhdx_create(&cfile, &co) != VHDX_OK)
        goto out;
    want = malloc((size_t)r->size);
    FUZZ_CHECK(want != NULL);
    memcpy(want, r->model, (size_t)r->size);
    /* A few sectors of the child's own, over the parent's disk. */
    b = cfile;
    b.close = NULL;
    memset(&oo, 0, sizeof(oo));
    oo.flags = VHDX_OPEN_WRITABLE | VHDX_OPEN_NO_PARENT;
    FUZZ_CHECK(vhdx_open(&b, &oo, &child) == VHDX_OK);
    for (unsigned i = 0; i < CHILD_WRITES && ok; i++) {
        uint64_t sectors = r->size / r->sector, s = (h >> (i * 13)) % sectors;
        uint8_t sector[4096];
        memset(sector, 0xA0 + (int)i, r->sector);
        ok = vhdx_write(child, s * r->sector, sector, r->sector) == VHDX_OK;
        if (ok)
            memcpy(want + s * r->sector, sector, r->sector);
    }
    if (ok)
        ok = vhdx_finish(child) == VHDX_OK;
    vhdx_close(child);
    if (ok) {
        vhdx_commit_result res;
        vhdx_status st = vhdx_commit(&cfile, &pfile, NULL, NULL, &res);
        if (st == VHDX_OK) {
            FUZZ_CHECK(res.data_bytes != 0);
            expect_disk(&pfile, want, r->size, buf);
        }
    }
out:
    free(want);
    vhdx_io_close(&cfile);
    vhdx_io_close(&cmem);
    vhdx_io_close(&pfile);
    vhdx_io_close(&pmem);
}

/* Counts the findings that name a damaged spare copy. */
static void count_spare(void *ctx, const vhdx_diag *d)
{
    static const char *const rules[] = {"image.header.one_valid", "image.header.spare_damaged",
                                        "image.region_table.copy1_invalid",
                                        "image.region_table.copy2_invalid",
                                        "image.region_table.mismatch"};
    unsigned *n = ctx;
    for (size_t i = 0; d->rule != NULL && i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(d->rule, rules[i]) == 0) {
            fprintf(stderr, "after vhdx_repair: %s: %s\n", d->rule, d->message);
            (*n)++;
        }
}

static void try_repair(struct io_sparse *bytes, const vhdx_info *info, struct run *r,
                       bool readable, uint8_t *buf)
{
    struct alloc_acct acct;
    vhdx_io mem, file, b;
    vhdx_open_options oo;
    vhdx_image *img = NULL;
    vhdx_repair_result res;
    unsigned spare = 0;

    alloc_acct_init(&acct, NULL, 0);
    io_sparse_io(bytes, false, &mem);
    FUZZ_CHECK(io_overlay_create(&mem, &acct, FILE_CAP, &file) == VHDX_OK);
    memset(&oo, 0, sizeof(oo));
    oo.flags = VHDX_OPEN_WRITABLE;
    if (info->type == VHDX_DISK_DIFFERENCING)
        oo.flags |= VHDX_OPEN_NO_PARENT;
    b = file;
    b.close = NULL;
    if (vhdx_open(&b, &oo, &img) != VHDX_OK)
        goto out; /* e.g. a log it cannot replay in place */
    if (vhdx_repair(img, &res) != VHDX_OK) {
        vhdx_close(img);
        goto out;
    }
    vhdx_close(img);
    img = NULL;

    /* The result opens, with no damaged spare copy left, and reads as before. */
    memset(&oo, 0, sizeof(oo));
    if (info->type == VHDX_DISK_DIFFERENCING)
        oo.flags |= VHDX_OPEN_NO_PARENT;
    oo.on_diag = count_spare;
    oo.diag_ctx = &spare;
    b = file;
    b.close = NULL;
    FUZZ_CHECK(vhdx_open(&b, &oo, &img) == VHDX_OK);
    FUZZ_CHECK(spare == 0);
    if (readable) {
        FUZZ_CHECK(vhdx_read(img, 0, buf, (size_t)r->size) == VHDX_OK);
        FUZZ_CHECK(memcmp(buf, r->model, (size_t)r->size) == 0);
    }
    vhdx_close(img);
    img = NULL;

    /* A second repair finds nothing to rewrite. */
    oo.flags |= VHDX_OPEN_WRITABLE;
    oo.on_diag = NULL;
    b = file;
    b.close = NULL;
    FUZZ_CHECK(vhdx_open(&b, &oo, &img) == VHDX_OK);
    FUZZ_CHECK(vhdx_repair(img, &res) == VHDX_OK);
    FUZZ_CHECK(res.header_rewritten == 0 && res.region_table_rewritten == 0);
    vhdx_close(img);
out:
    vhdx_io_close(&file);
    vhdx_io_close(&mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct io_sparse *file = image_input_load(data, size);
    uint8_t *model = NULL, *seen = NULL, *buf = NULL;
    uint64_t h = hash_input(data, size);
    vhdx_io io;
    vhdx_image *img = NULL;
    vhdx_info info;
    struct run r;
    bool readable;

    if (file == NULL)
        return 0;
    io_sparse_io(file, false, &io);
    if (vhdx_open(&io, NULL, &img) != VHDX_OK)
        goto out;
    FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK);
    if (info.virtual_size == 0 || info.virtual_size > MAX_DISK ||
        (info.logical_sector_size != 512 && info.logical_sector_size != 4096))
        goto out;
    model = malloc((size_t)info.virtual_size);
    seen = malloc((size_t)info.virtual_size);
    buf = malloc((size_t)info.virtual_size);
    FUZZ_CHECK(model != NULL && seen != NULL && buf != NULL);
    readable = vhdx_read(img, 0, model, (size_t)info.virtual_size) == VHDX_OK;
    memset(&r, 0, sizeof(r));
    r.model = model;
    r.seen = seen;
    r.size = info.virtual_size;
    r.sector = info.logical_sector_size;
    try_export(img, &r, readable, h);
    try_convert(img, &r, readable, h, buf);
    if (readable && info.type != VHDX_DISK_DIFFERENCING)
        try_commit(file, img, &r, h, buf);
    try_repair(file, &info, &r, readable, buf);
out:
    vhdx_close(img);
    free(model);
    free(seen);
    free(buf);
    return 0;
}

#ifdef FUZZ_SEEDS
#include "image_seeds.h"

/* Each seed image as a sparse description. */
void fuzz_make_seeds(struct seed_out *out)
{
    fuzz_image_seeds(out, image_seed_emit_sparse);
}
#endif
