/*
 * Creating images (VHDX-FORMAT.md §1-§7; docs/WRITER.md): fixed, dynamic
 * and differencing.
 *
 * Layout (like openvmm's and QEMU's, §1.3):
 *   0        the header section: identifier, two headers, two region tables
 *   1 MiB    the log (log_size, 1 MiB by default)
 *   +log     the metadata region, 1 MiB: the table, then the items at 64 KiB
 *   +1 MiB   the BAT, its length rounded up to 1 MiB
 *   then     payload blocks (a fixed image's, in order; a dynamic image's
 *            as they are written)
 *
 * Atomic to a reader: everything but the identifier's signature is written
 * and flushed first; the first 512 bytes of the file, which hold the
 * `vhdxfile` signature and the creator, are written last and flushed. A
 * file cut short at any point before that has no signature and is refused
 * (file_identifier.signature), never read as an image with wrong content.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/endian.h"
#include "format/bat.h"
#include "format/constants.h"
#include "format/file_identifier.h"
#include "format/header.h"
#include "format/metadata_items.h"
#include "format/metadata_table.h"
#include "format/parent_locator.h"
#include "format/region_table.h"
#include "image/file.h"
#include "image/image.h"

#define ITEMS_OFFSET METADATA_ITEM_MIN_OFFSET
#define ITEMS_CAP (64u * 1024u)

struct layout {
    vhdx_disk_type type;
    uint64_t virtual_size;
    uint32_t block_size, log_size, lss, pss;
    struct bat_geometry geo;
    uint64_t log_off, meta_off, bat_off, bat_len, data_off, file_end;
};

static bool power_of_two(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* QEMU's choice by size (the values `qemu-img create -f vhdx` picks). */
static uint32_t default_block_size(uint64_t size)
{
    if (size > 32 * VHDX_TiB)
        return 64u << 20;
    if (size > 100 * VHDX_GiB)
        return 32u << 20;
    if (size > VHDX_GiB)
        return 16u << 20;
    return 8u << 20;
}

static vhdx_status plan(const vhdx_create_options *o, struct layout *l)
{
    struct diag_sink quiet;
    uint64_t n;
    vhdx_status st;

    memset(l, 0, sizeof(*l));
    l->type = o->type;
    l->virtual_size = o->virtual_size;
    l->block_size = o->block_size;
    l->lss = o->logical_sector_size != 0 ? o->logical_sector_size : 512u;
    l->pss = o->physical_sector_size != 0 ? o->physical_sector_size : 4096u;
    l->log_size = o->log_size != 0 ? o->log_size : (uint32_t)VHDX_MiB;
    if (o->type != VHDX_DISK_FIXED && o->type != VHDX_DISK_DYNAMIC &&
        o->type != VHDX_DISK_DIFFERENCING)
        return VHDX_E_INVALID_ARG;
    if (o->type == VHDX_DISK_DIFFERENCING) {
        const vhdx_image *p = o->parent;
        if (p == NULL || o->parent_relative_path == NULL || o->parent_relative_path[0] == '\0')
            return VHDX_E_INVALID_ARG;
        if ((o->virtual_size != 0 && o->virtual_size != p->virtual_size) ||
            (o->logical_sector_size != 0 && o->logical_sector_size != p->logical_sector_size))
            return VHDX_E_INVALID_ARG;
        l->virtual_size = p->virtual_size;
        l->lss = p->logical_sector_size;
        if (l->block_size == 0)
            l->block_size = p->block_size;
    } else if (o->parent != NULL || o->parent_relative_path != NULL) {
        return VHDX_E_INVALID_ARG;
    }
    if ((l->lss != 512 && l->lss != 4096) || (l->pss != 512 && l->pss != 4096))
        return VHDX_E_RANGE;
    if (l->virtual_size == 0 || l->virtual_size % l->lss != 0 ||
        l->virtual_size > VHDX_MAX_VIRTUAL_DISK_SIZE)
        return VHDX_E_RANGE;
    if (l->block_size == 0)
        l->block_size = default_block_size(l->virtual_size);
    if (!power_of_two(l->block_size) || l->block_size < VHDX_MIN_BLOCK_SIZE ||
        l->block_size > VHDX_MAX_BLOCK_SIZE)
        return VHDX_E_RANGE;
    if (l->log_size % VHDX_MiB != 0) /* a u32 multiple of 1 MiB: at most 4095 MiB */
        return VHDX_E_RANGE;
    diag_sink_init(&quiet, NULL, 0);
    st = bat_geometry_init(&l->geo, l->virtual_size, l->block_size, l->lss,
                           o->type == VHDX_DISK_DIFFERENCING, &quiet);
    if (st != VHDX_OK)
        return st;
    l->log_off = VHDX_MiB;
    l->meta_off = l->log_off + l->log_size;
    l->bat_off = l->meta_off + VHDX_MiB;
    l->bat_len = (l->geo.total_entries * BAT_ENTRY_SIZE + VHDX_MiB - 1) & ~(VHDX_MiB - 1);
    l->data_off = l->bat_off + l->bat_len;
    l->file_end = l->data_off;
    if (o->type == VHDX_DISK_FIXED) {
        if (!ck_mul_u64(l->geo.payload_blocks, l->block_size, &n) ||
            !ck_add_u64(l->data_off, n, &l->file_end) ||
            (l->file_end >> 20) > BAT_FILE_OFFSET_MB_MAX)
            return VHDX_E_RANGE;
    }
    return VHDX_OK;
}

static void put_entry(struct metadata_table *t, const struct guid *id, uint32_t off, uint32_t len,
                      bool is_virtual_disk)
{
    struct metadata_entry *e = &t->entries[t->entry_count++];
    e->item_id = *id;
    e->offset = off;
    e->length = len;
    e->is_user = false;
    e->is_virtual_disk = is_virtual_disk;
    e->is_required = true;
}

/* The metadata table and items: buf holds the first ITEMS_OFFSET + ITEMS_CAP bytes. */
static vhdx_status build_metadata(const vhdx_create_options *o, const struct layout *l,
                                  uint8_t *buf, struct metadata_table *t)
{
    struct file_parameters fp = {l->block_size, l->type == VHDX_DISK_FIXED,
                                 l->type == VHDX_DISK_DIFFERENCING};
    struct virtual_disk_size vds = {l->virtual_size};
    struct virtual_disk_id vdi;
    struct logical_sector_size lss = {l->lss};
    struct physical_sector_size pss = {l->pss};
    uint8_t *items = buf + ITEMS_OFFSET;
    uint32_t at = 0;
    vhdx_status st;

    guid_generate(&vdi.id);
    memset(t, 0, sizeof(*t));
    st = file_parameters_encode(&fp, items + at, FILE_PARAMETERS_SIZE);
    put_entry(t, &VHDX_GUID_FILE_PARAMETERS, ITEMS_OFFSET + at, FILE_PARAMETERS_SIZE, false);
    at += FILE_PARAMETERS_SIZE;
    if (st == VHDX_OK)
        st = virtual_disk_size_encode(&vds, items + at, VIRTUAL_DISK_SIZE_ITEM_SIZE);
    put_entry(t, &VHDX_GUID_VIRTUAL_DISK_SIZE, ITEMS_OFFSET + at, VIRTUAL_DISK_SIZE_ITEM_SIZE, true);
    at += VIRTUAL_DISK_SIZE_ITEM_SIZE;
    if (st == VHDX_OK)
        st = virtual_disk_id_encode(&vdi, items + at, VIRTUAL_DISK_ID_SIZE);
    put_entry(t, &VHDX_GUID_VIRTUAL_DISK_ID, ITEMS_OFFSET + at, VIRTUAL_DISK_ID_SIZE, true);
    at += VIRTUAL_DISK_ID_SIZE;
    if (st == VHDX_OK)
        st = logical_sector_size_encode(&lss, items + at, LOGICAL_SECTOR_SIZE_ITEM_SIZE);
    put_entry(t, &VHDX_GUID_LOGICAL_SECTOR_SIZE, ITEMS_OFFSET + at, LOGICAL_SECTOR_SIZE_ITEM_SIZE,
              true);
    at += LOGICAL_SECTOR_SIZE_ITEM_SIZE;
    if (st == VHDX_OK)
        st = physical_sector_size_encode(&pss, items + at, PHYSICAL_SECTOR_SIZE_ITEM_SIZE);
    put_entry(t, &VHDX_GUID_PHYSICAL_SECTOR_SIZE, ITEMS_OFFSET + at,
              PHYSICAL_SECTOR_SIZE_ITEM_SIZE, true);
    at += PHYSICAL_SECTOR_SIZE_ITEM_SIZE;
    if (st == VHDX_OK && l->type == VHDX_DISK_DIFFERENCING) {
        /* §5.4.6: parent_linkage is the parent's DataWriteGuid now; paths with '\'. */
        char linkage[GUID_TEXT_SIZE + 2], rel[4096];
        struct parent_locator_kv kv[3];
        size_t n = 0, len = 0;
        guid_to_text_braced_lower(&o->parent->header.data_write_guid, linkage);
        /* Cut short, the path would name another file. */
        if ((size_t)snprintf(rel, sizeof(rel), "%s", o->parent_relative_path) >= sizeof(rel))
            return VHDX_E_RANGE;
        for (char *c = rel; *c != '\0'; c++)
            if (*c == '/')
                *c = '\\';
        kv[n].key = "parent_linkage";
        kv[n++].value = linkage;
        kv[n].key = "relative_path";
        kv[n++].value = rel;
        if (o->parent_absolute_path != NULL) {
            if (strncmp(o->parent_absolute_path, "\\\\?\\", 4) != 0)
                return VHDX_E_INVALID_ARG;
            kv[n].key = "absolute_win32_path";
            kv[n++].value = o->parent_absolute_path;
        }
        st = parent_locator_build(&VHDX_GUID_LOCATOR_TYPE_VHDX, kv, n, items + at,
                                  ITEMS_CAP - at, &len);
        if (st == VHDX_E_LIMIT)
            st = VHDX_E_RANGE;
        put_entry(t, &VHDX_GUID_PARENT_LOCATOR, ITEMS_OFFSET + at, (uint32_t)len, false);
    }
    if (st == VHDX_OK)
        st = metadata_table_encode(t, buf, METADATA_TABLE_SIZE);
    return st;
}

static vhdx_status write_all(vhdx_io *io, uint64_t off, const void *buf, size_t len)
{
    return io->write(io->ctx, buf, len, off) == VHDX_OK ? VHDX_OK : VHDX_E_IO;
}

/* A fixed image's BAT: every payload entry FULLY_PRESENT, blocks in order. */
static vhdx_status write_fixed_bat(vhdx_io *io, const struct layout *l, uint8_t *buf, size_t cap)
{
    uint64_t entries = l->geo.total_entries, slot = 0;
    while (slot < entries) {
        size_t n = (size_t)(entries - slot), bytes;
        vhdx_status st;
        if (n > cap / BAT_ENTRY_SIZE)
            n = cap / BAT_ENTRY_SIZE;
        bytes = n * BAT_ENTRY_SIZE;
        memset(buf, 0, bytes);
        for (size_t i = 0; i < n; i++) {
            uint64_t number;
            if (bat_slot_classify(&l->geo, slot + i, &number) == BAT_SLOT_PAYLOAD) {
                struct bat_entry e = {BAT_PAYLOAD_FULLY_PRESENT, 0,
                                      (l->data_off + number * l->block_size) >> 20};
                le64_store_no_bounds_check(buf + i * BAT_ENTRY_SIZE, bat_entry_encode(&e));
            }
        }
        st = write_all(io, l->bat_off + slot * BAT_ENTRY_SIZE, buf, bytes);
        if (st != VHDX_OK)
            return st;
        slot += n;
    }
    return VHDX_OK;
}

/*
 * Writes the whole new image into the empty file behind io, except the
 * identifier's 8-byte signature, and flushes nothing.
 */
static vhdx_status create_unsealed(vhdx_io *io, const vhdx_create_options *o)
{
    /* 1 MiB of scratch: the header section pieces, the metadata, BAT chunks. */
    const size_t cap = (size_t)VHDX_MiB;
    struct layout l;
    struct file_identifier fi;
    struct header h;
    struct region_table *rt = NULL;
    struct metadata_table *mt = NULL;
    struct alloc_acct acct;
    uint8_t *buf = NULL;
    uint64_t size = 1;
    vhdx_status st;

    if (io == NULL || o == NULL || io->read == NULL || io->write == NULL || io->flush == NULL ||
        io->truncate == NULL || io->size == NULL)
        return VHDX_E_INVALID_ARG;
    st = plan(o, &l);
    if (st != VHDX_OK)
        return st;
    if (io->size(io->ctx, &size) != VHDX_OK)
        return VHDX_E_IO;
    if (size != 0)
        return VHDX_E_INVALID_ARG;
    alloc_acct_init(&acct, o->allocator, 0);
    buf = acct_alloc(&acct, cap, &st);
    if (buf != NULL)
        rt = acct_alloc(&acct, sizeof(*rt), &st);
    if (rt != NULL)
        mt = acct_alloc(&acct, sizeof(*mt), &st);
    if (mt == NULL)
        goto out;
    if (io->truncate(io->ctx, l.file_end) != VHDX_OK) {
        st = VHDX_E_IO;
        goto out;
    }
    /* The BAT: a dynamic or differencing image's is all zeros, as the file already is. */
    if (l.type == VHDX_DISK_FIXED)
        st = write_fixed_bat(io, &l, buf, cap);
    /* The metadata region. */
    if (st == VHDX_OK) {
        memset(buf, 0, ITEMS_OFFSET + ITEMS_CAP); /* what is written of it */
        st = build_metadata(o, &l, buf, mt);
    }
    if (st == VHDX_OK)
        st = write_all(io, l.meta_off, buf, ITEMS_OFFSET + ITEMS_CAP);
    /* Both region tables. */
    if (st == VHDX_OK) {
        rt->entry_count = 2;
        rt->entries[0].guid = VHDX_GUID_REGION_BAT;
        rt->entries[0].file_offset = l.bat_off;
        rt->entries[0].length = (uint32_t)l.bat_len;
        rt->entries[0].required = 1;
        rt->entries[1].guid = VHDX_GUID_REGION_METADATA;
        rt->entries[1].file_offset = l.meta_off;
        rt->entries[1].length = (uint32_t)VHDX_MiB;
        rt->entries[1].required = 1;
        st = region_table_encode(rt, buf, REGION_TABLE_SIZE);
    }
    if (st == VHDX_OK)
        st = write_all(io, VHDX_REGION_TABLE1_OFFSET, buf, REGION_TABLE_SIZE);
    if (st == VHDX_OK)
        st = write_all(io, VHDX_REGION_TABLE2_OFFSET, buf, REGION_TABLE_SIZE);
    /* Both headers: sequence numbers 1 and 2, LogGuid 0 (§3.4). */
    if (st == VHDX_OK) {
        memset(&h, 0, sizeof(h));
        guid_generate(&h.file_write_guid);
        guid_generate(&h.data_write_guid);
        h.version = 1;
        h.log_length = l.log_size;
        h.log_offset = l.log_off;
        for (int i = 0; i < 2 && st == VHDX_OK; i++) {
            h.sequence_number = (uint64_t)i + 1;
            st = header_encode(&h, buf, HEADER_SIZE);
            if (st == VHDX_OK)
                st = write_all(io, i == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET, buf,
                               HEADER_SIZE);
        }
    }
    /* The identifier without its signature, flush, then the signature sector, flush. */
    if (st == VHDX_OK) {
        memset(&fi, 0, sizeof(fi));
        st = file_identifier_set_creator(&fi, o->creator != NULL ? o->creator
                                                                 : "vhdx " VHDX_VERSION_STRING);
    }
    if (st == VHDX_OK)
        st = file_identifier_encode(&fi, buf, FILE_IDENTIFIER_SIZE);
    if (st == VHDX_OK) {
        memset(buf, 0, 8);
        st = write_all(io, 0, buf, FILE_IDENTIFIER_SIZE);
    }
out:
    acct_free(&acct, mt, sizeof(*mt));
    acct_free(&acct, rt, sizeof(*rt));
    acct_free(&acct, buf, cap);
    return st;
}

vhdx_status vhdx_create(vhdx_io *io, const vhdx_create_options *o)
{
    vhdx_status st = create_unsealed(io, o);
    return st == VHDX_OK ? image_seal(io) : st;
}

/* The directory part of path ("." when there is none), into out. */
static vhdx_status dir_of(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (slash == NULL)
        return snprintf(out, cap, ".") < (int)cap ? VHDX_OK : VHDX_E_RANGE;
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap)
        return VHDX_E_RANGE;
    memcpy(out, path, n);
    out[n] = '\0';
    return VHDX_OK;
}

/*
 * The path of `target` relative to directory `from` (both absolute real
 * paths), with '\' separators and ".." where it climbs (§5.4.6).
 */
static vhdx_status relative_path(const char *from, const char *target, char *out, size_t cap)
{
    size_t common = 0, i, len = 0;
    /* The longest common prefix ending at a component boundary. */
    for (i = 0; from[i] != '\0' && from[i] == target[i]; i++)
        if (from[i] == '/')
            common = i;
    if (from[i] == '\0' && target[i] == '/')
        common = i;
    else if (strcmp(from, "/") == 0)
        common = 0;
    out[0] = '\0';
    /* One ".." per component of `from` after the common prefix. */
    for (const char *c = from + common; *c != '\0'; c++) {
        if (*c == '/' && c[1] != '\0') {
            if (len + 3 >= cap)
                return VHDX_E_RANGE;
            memcpy(out + len, "..\\", 3);
            len += 3;
            out[len] = '\0';
        }
    }
    for (const char *c = target + common + 1; *c != '\0'; c++) {
        if (len + 1 >= cap)
            return VHDX_E_RANGE;
        out[len++] = (char)(*c == '/' ? '\\' : *c);
        out[len] = '\0';
    }
    return len == 0 ? VHDX_E_INVALID_ARG : VHDX_OK;
}

vhdx_status image_relative_path(const char *child_path, const char *parent_path, char *out,
                                size_t cap)
{
    char dir[4096], real_dir[PATH_MAX], real_parent[PATH_MAX];
    vhdx_status st = dir_of(child_path, dir, sizeof(dir));
    if (st != VHDX_OK)
        return st;
    if (realpath(dir, real_dir) == NULL || realpath(parent_path, real_parent) == NULL)
        return errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
    return relative_path(real_dir, real_parent, out, cap);
}

/*
 * Creates the new file at `path` (it must not exist) as a writable back end
 * that owns its descriptor. On failure nothing is left at `path`.
 */
static vhdx_status new_file(const char *path, vhdx_io *io)
{
    vhdx_status st;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

    if (fd < 0)
        return errno == EEXIST ? VHDX_E_DUPLICATE : errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
    st = vhdx_io_from_fd(fd, 1, 1, io);
    if (st != VHDX_OK) {
        close(fd);
        unlink(path);
    }
    return st;
}

vhdx_status vhdx_create_path(const char *path, const vhdx_create_options *options,
                             const char *parent_path, const vhdx_open_options *open_options)
{
    vhdx_create_options o;
    vhdx_image *parent = NULL;
    char dir[4096], real_dir[PATH_MAX], real_parent[PATH_MAX], rel[4096];
    vhdx_io io;
    vhdx_status st;
    int dfd;

    if (path == NULL || options == NULL || path[0] == '\0')
        return VHDX_E_INVALID_ARG;
    o = *options;
    if ((o.type == VHDX_DISK_DIFFERENCING) != (parent_path != NULL))
        return VHDX_E_INVALID_ARG;
    st = dir_of(path, dir, sizeof(dir));
    if (st != VHDX_OK)
        return st;
    if (realpath(dir, real_dir) == NULL)
        return errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
    if (parent_path != NULL) {
        vhdx_open_options po;
        if (open_options != NULL)
            po = *open_options;
        else
            memset(&po, 0, sizeof(po));
        po.flags &= ~(unsigned)VHDX_OPEN_WRITABLE;
        if (realpath(parent_path, real_parent) == NULL)
            return errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
        st = relative_path(real_dir, real_parent, rel, sizeof(rel));
        if (st != VHDX_OK)
            return st;
        st = vhdx_open_path(parent_path, &po, &parent);
        if (st != VHDX_OK)
            return st;
        o.parent = parent;
        o.parent_relative_path = rel;
    }
    st = new_file(path, &io);
    if (st != VHDX_OK) {
        vhdx_close(parent);
        return st;
    }
    st = vhdx_create(&io, &o);
    vhdx_io_close(&io);
    vhdx_close(parent);
    if (st != VHDX_OK) {
        unlink(path);
        return st;
    }
    /* The new name is durable too. */
    dfd = open(real_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            st = VHDX_E_IO;
        close(dfd);
    }
    return st;
}

/*
 * Opens the file create_unsealed wrote behind io (owned) as a writable
 * unsealed image, with the creation's allocator unless open_options names one.
 */
static vhdx_status open_unsealed(vhdx_io *io, const vhdx_create_options *options,
                                 const vhdx_open_options *open_options, const char *dir,
                                 const char *path, vhdx_image **out)
{
    vhdx_open_options oo;
    if (open_options != NULL)
        oo = *open_options;
    else
        memset(&oo, 0, sizeof(oo));
    oo.flags |= VHDX_OPEN_WRITABLE;
    /* A differencing image is built without its parent: its writes need
       only its own sector bitmaps, and the caller holds the parent. */
    if (options->type == VHDX_DISK_DIFFERENCING)
        oo.flags |= VHDX_OPEN_NO_PARENT;
    if (oo.allocator == NULL)
        oo.allocator = options->allocator;
    return image_open(io, &oo, dir, path, 0, NULL, IMAGE_OPEN_UNSEALED, out);
}

vhdx_status vhdx_create_open(vhdx_io *io, const vhdx_create_options *options,
                             const vhdx_open_options *open_options, vhdx_image **out)
{
    vhdx_status st;

    if (out != NULL)
        *out = NULL;
    if (io == NULL)
        return VHDX_E_INVALID_ARG;
    if (out == NULL || options == NULL)
        st = VHDX_E_INVALID_ARG;
    else
        st = create_unsealed(io, options);
    if (st != VHDX_OK) {
        vhdx_io_close(io);
        return st;
    }
    return open_unsealed(io, options, open_options, "", "", out);
}

vhdx_status vhdx_create_open_path(const char *path, const vhdx_create_options *options,
                                  const vhdx_open_options *open_options, vhdx_image **out)
{
    char dir[4096], real_dir[PATH_MAX], real[PATH_MAX + 256];
    const char *base;
    vhdx_io io;
    vhdx_status st;
    int dfd;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || options == NULL || out == NULL || path[0] == '\0')
        return VHDX_E_INVALID_ARG;
    st = dir_of(path, dir, sizeof(dir));
    if (st != VHDX_OK)
        return st;
    if (realpath(dir, real_dir) == NULL)
        return errno == ENOENT ? VHDX_E_MISSING : VHDX_E_IO;
    base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (base[0] == '\0' ||
        snprintf(real, sizeof(real), "%s/%s", strcmp(real_dir, "/") == 0 ? "" : real_dir, base) >=
            (int)sizeof(real))
        return VHDX_E_RANGE;
    st = new_file(path, &io);
    if (st != VHDX_OK)
        return st;
    /* The name is durable from the start; the content becomes an image at the seal. */
    dfd = open(real_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        st = VHDX_E_IO;
    if (dfd >= 0)
        close(dfd);
    if (st == VHDX_OK)
        st = create_unsealed(&io, options);
    if (st != VHDX_OK) {
        vhdx_io_close(&io);
        unlink(path);
        return st;
    }
    st = open_unsealed(&io, options, open_options, real_dir, real, out);
    if (st != VHDX_OK)
        unlink(path);
    return st;
}
