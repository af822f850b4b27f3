/*
 * vhdx_convert: a new image holding the bytes of an image, a file or a
 * back end.
 *
 * The new image is built unsealed (vhdx_create_open): its writes change
 * the BAT in place without the log or any flush, and no reader accepts the
 * file until vhdx_finish seals it. So a failure, a cancel or a crash at any
 * point leaves a file every reader refuses.
 *
 * Only the ranges of the source that may hold data are read: an image's
 * ZERO extents and a file's holes (SEEK_DATA/SEEK_HOLE) are skipped, and
 * of what is read, ranges that are all zeros are not written, so their
 * blocks stay unallocated. Writes go out in runs of consecutive data of up
 * to RUN_BYTES, one vhdx_write each. A differencing target is compared
 * with its parent sector by sector and gets only the sectors that differ.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/bytes.h"
#include "base/checked.h"
#include "format/constants.h"
#include "image/copy.h"
#include "image/image.h"

/* Consecutive data is written with one vhdx_write of up to this much (or one
 * block, when blocks are larger). */
#define RUN_BYTES ((size_t)32 << 20)

struct source {
    const vhdx_source *src;
    uint64_t size;   /* bytes the source has */
    vhdx_extent ext; /* IMAGE: the extent mapped last (length 0: none yet) */
    bool no_seek;    /* FD: SEEK_DATA is not available: everything may be data */
};

static vhdx_status source_open(const vhdx_source *src, struct source *s)
{
    memset(s, 0, sizeof(*s));
    s->src = src;
    switch (src->kind) {
    case VHDX_SOURCE_IMAGE:
        if (src->image == NULL)
            return VHDX_E_INVALID_ARG;
        s->size = src->image->virtual_size;
        return VHDX_OK;
    case VHDX_SOURCE_FD: {
        struct stat st;
        off_t end;
        if (src->fd < 0 || fstat(src->fd, &st) != 0)
            return VHDX_E_INVALID_ARG;
        if (S_ISREG(st.st_mode)) {
            s->size = (uint64_t)st.st_size;
            return VHDX_OK;
        }
        if (!S_ISBLK(st.st_mode))
            return VHDX_E_INVALID_ARG;
        end = lseek(src->fd, 0, SEEK_END);
        if (end < 0)
            return VHDX_E_IO;
        s->size = (uint64_t)end;
        s->no_seek = true;
        return VHDX_OK;
    }
    case VHDX_SOURCE_IO:
        if (src->io == NULL || src->io->read == NULL || src->io->size == NULL)
            return VHDX_E_INVALID_ARG;
        return src->io->size(src->io->ctx, &s->size) == VHDX_OK ? VHDX_OK : VHDX_E_IO;
    }
    return VHDX_E_INVALID_ARG;
}

/* Makes s->ext the extent of the image source that holds off. */
static vhdx_status source_extent(struct source *s, uint64_t off)
{
    if (s->ext.length != 0 && off >= s->ext.offset && off - s->ext.offset < s->ext.length)
        return VHDX_OK;
    return vhdx_map_next(s->src->image, off, &s->ext);
}

/*
 * The first range of [pos, end) of the source that may hold data: *ds..*de,
 * in whole sectors of lss bytes (pos and end are multiples of it). The rest
 * of [pos, end) reads as zeros without reading it. *ds == end: no data.
 */
static vhdx_status source_next_data(struct source *s, uint64_t pos, uint64_t end, uint32_t lss,
                                    uint64_t *ds, uint64_t *de)
{
    vhdx_status st = VHDX_OK;

    *ds = *de = end;
    if (s->src->kind == VHDX_SOURCE_IMAGE) {
        uint64_t off = pos;
        while (off < end && (st = source_extent(s, off)) == VHDX_OK &&
               s->ext.kind == VHDX_EXTENT_ZERO)
            off = s->ext.offset + s->ext.length;
        if (st != VHDX_OK || off >= end)
            return st;
        *ds = off;
        while (off < end && (st = source_extent(s, off)) == VHDX_OK &&
               s->ext.kind != VHDX_EXTENT_ZERO)
            off = s->ext.offset + s->ext.length;
        *de = off < end ? off : end;
        return st;
    }
    if (pos >= s->size)
        return VHDX_OK;
    if (s->src->kind == VHDX_SOURCE_IO || s->no_seek) {
        *ds = pos;
        *de = end;
        return VHDX_OK;
    }
    if (!copy_file_next_data(s->src->fd, pos, end, ds, de)) {
        s->no_seek = true; /* the file cannot tell: all of it may be data */
        return VHDX_OK;
    }
    if (*ds >= end)
        return VHDX_OK;
    /* Whole sectors: the data's start rounded down, its end up. */
    *ds = *ds / lss * lss < pos ? pos : *ds / lss * lss;
    *de = (*de + lss - 1) / lss * lss;
    if (*de > end)
        *de = end;
    return VHDX_OK;
}

/* Reads [off, off + len) of the source; bytes past its end read as zeros. */
static vhdx_status source_read(struct source *s, uint64_t off, uint8_t *buf, size_t len)
{
    size_t got = 0, have;

    if (s->src->kind == VHDX_SOURCE_IMAGE) {
        have = off >= s->size ? 0 : s->size - off < len ? (size_t)(s->size - off) : len;
        memset(buf + have, 0, len - have);
        return have == 0 ? VHDX_OK : vhdx_read(s->src->image, off, buf, have);
    }
    have = off >= s->size ? 0 : s->size - off < len ? (size_t)(s->size - off) : len;
    while (got < have) {
        if (s->src->kind == VHDX_SOURCE_IO) {
            size_t n = 0;
            if (s->src->io->read(s->src->io->ctx, buf + got, have - got, off + got, &n) !=
                    VHDX_OK ||
                n == 0)
                return VHDX_E_IO;
            got += n;
        } else {
            ssize_t n = pread(s->src->fd, buf + got, have - got, (off_t)(off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (n == 0)
                    errno = EIO; /* the file is shorter than it was */
                return VHDX_E_IO;
            }
            got += (size_t)n;
        }
    }
    memset(buf + have, 0, len - have);
    return VHDX_OK;
}

struct copy {
    struct source src;
    vhdx_image *out;
    const vhdx_convert_options *o;
    uint64_t vsize;
    uint32_t block, lss;
    uint8_t *buf; /* cap bytes: the run being collected */
    size_t cap;
    uint8_t *pbuf; /* differencing: the parent's bytes (cap) */
    vhdx_convert_result *res;
};

/* Records where a failure happened (the first one only) and returns st. */
static vhdx_status failed(struct copy *c, vhdx_status st, int side, uint64_t off)
{
    if (st != VHDX_OK && st != VHDX_E_CANCELLED && c->res->failed_side == 0) {
        c->res->failed_side = side;
        c->res->failed_offset = off;
        if (side == VHDX_SIDE_SOURCE && c->src.src->kind == VHDX_SOURCE_FD && st == VHDX_E_IO)
            c->res->sys_errno = errno;
    }
    return st;
}

static vhdx_status write_run(struct copy *c, uint64_t start, size_t *len)
{
    vhdx_status st = *len == 0 ? VHDX_OK : vhdx_write(c->out, start, c->buf, *len);
    if (st == VHDX_OK)
        c->res->data_bytes += *len;
    *len = 0;
    return failed(c, st, VHDX_SIDE_TARGET, start);
}

/* A dynamic or fixed target: every non-zero range of the source. */
static vhdx_status copy_plain(struct copy *c)
{
    uint64_t run_start = 0, off = 0;
    size_t run_len = 0;
    vhdx_status st = VHDX_OK;

    while (st == VHDX_OK && off < c->vsize) {
        uint64_t end = c->vsize - off < c->block ? c->vsize : off + c->block;
        uint64_t pos = off;
        while (pos < end) {
            uint64_t ds, de;
            size_t n;
            st = failed(c, source_next_data(&c->src, pos, end, c->lss, &ds, &de),
                        VHDX_SIDE_SOURCE, pos);
            if (st != VHDX_OK || ds >= end)
                break;
            n = (size_t)(de - ds);
            /* A gap, or no room left, ends the run. */
            if (run_len != 0 && (ds != run_start + run_len || run_len + n > c->cap)) {
                st = write_run(c, run_start, &run_len);
                if (st != VHDX_OK)
                    break;
            }
            if (n > c->cap - run_len)
                n = c->cap - run_len;
            st = failed(c, source_read(&c->src, ds, c->buf + run_len, n), VHDX_SIDE_SOURCE, ds);
            if (st != VHDX_OK)
                break;
            if (bytes_all_zero(c->buf + run_len, n)) {
                st = write_run(c, run_start, &run_len);
            } else {
                if (run_len == 0)
                    run_start = ds;
                run_len += n;
            }
            pos = ds + n;
        }
        off = end;
        if (st == VHDX_OK)
            st = copy_progress(c->o->progress, c->o->progress_ctx, off, c->vsize);
    }
    if (st == VHDX_OK)
        st = write_run(c, run_start, &run_len);
    return st;
}

/*
 * A differencing target: chunk by chunk, the source (zeros where it has
 * none) against the parent (zeros where it has none); runs of sectors that
 * differ are written.
 */
static vhdx_status copy_differencing(struct copy *c, vhdx_image *parent)
{
    uint64_t off = 0;
    vhdx_status st = VHDX_OK;
    vhdx_extent pe;

    memset(&pe, 0, sizeof(pe));
    while (st == VHDX_OK && off < c->vsize) {
        size_t n = c->vsize - off < c->cap ? (size_t)(c->vsize - off) : c->cap;
        uint64_t ds, de, pos;
        bool src_data = false, parent_data = false;

        /* The source's bytes, read only where it may hold data. */
        memset(c->buf, 0, n);
        for (pos = off; st == VHDX_OK && pos < off + n; pos = de) {
            st = failed(c, source_next_data(&c->src, pos, off + n, c->lss, &ds, &de),
                        VHDX_SIDE_SOURCE, pos);
            if (st != VHDX_OK || ds >= off + n)
                break;
            st = failed(c, source_read(&c->src, ds, c->buf + (ds - off), (size_t)(de - ds)),
                        VHDX_SIDE_SOURCE, ds);
            src_data = true;
        }
        /* The parent's, read only where it is not known to be zeros. */
        memset(c->pbuf, 0, n);
        for (pos = off; st == VHDX_OK && pos < off + n; pos = pe.offset + pe.length) {
            uint64_t e_end;
            st = failed(c, vhdx_map_next(parent, pos, &pe), VHDX_SIDE_TARGET, pos);
            if (st != VHDX_OK)
                break;
            e_end = pe.offset + pe.length < off + n ? pe.offset + pe.length : off + n;
            if (pe.kind != VHDX_EXTENT_ZERO) {
                st = failed(c, vhdx_read(parent, pos, c->pbuf + (pos - off), (size_t)(e_end - pos)),
                            VHDX_SIDE_TARGET, pos);
                parent_data = true;
            }
            if (e_end == off + n)
                break;
        }
        if (st == VHDX_OK && (src_data || parent_data)) {
            size_t i = 0;
            while (st == VHDX_OK && i < n) {
                size_t j;
                if (memcmp(c->buf + i, c->pbuf + i, c->lss) == 0) {
                    i += c->lss;
                    continue;
                }
                for (j = i + c->lss; j < n && memcmp(c->buf + j, c->pbuf + j, c->lss) != 0;
                     j += c->lss)
                    ;
                st = failed(c, vhdx_write(c->out, off + i, c->buf + i, j - i), VHDX_SIDE_TARGET,
                            off + i);
                if (st == VHDX_OK)
                    c->res->data_bytes += j - i;
                i = j;
            }
        }
        off += n;
        if (st == VHDX_OK)
            st = copy_progress(c->o->progress, c->o->progress_ctx, off, c->vsize);
    }
    return st;
}

/*
 * The create options of the target: the caller's, with the source's size
 * and (for an image source) its geometry where the caller left them 0.
 */
static vhdx_status target_options(const struct source *s, const vhdx_convert_options *o,
                                  vhdx_create_options *co)
{
    uint32_t lss;

    *co = o->create;
    if (s->src->kind == VHDX_SOURCE_IMAGE && co->type != VHDX_DISK_DIFFERENCING) {
        const vhdx_image *img = s->src->image;
        if (co->block_size == 0)
            co->block_size = img->block_size;
        if (co->logical_sector_size == 0)
            co->logical_sector_size = img->logical_sector_size;
        if (co->physical_sector_size == 0)
            co->physical_sector_size = img->physical_sector_size;
    }
    if (co->type == VHDX_DISK_DIFFERENCING) {
        if (co->parent == NULL)
            return VHDX_E_INVALID_ARG;
        if (s->size > co->parent->virtual_size)
            return VHDX_E_RANGE;
        return VHDX_OK;
    }
    lss = co->logical_sector_size != 0 ? co->logical_sector_size : 512u;
    if (s->size == 0 || s->size > VHDX_MAX_VIRTUAL_DISK_SIZE)
        return VHDX_E_RANGE;
    if (co->virtual_size == 0)
        co->virtual_size = (s->size + lss - 1) / lss * lss;
    else if (co->virtual_size < s->size)
        return VHDX_E_RANGE; /* the source would not fit */
    return VHDX_OK;
}

/* Fills the new handle `out` from the source, then seals it (vhdx_finish). */
static vhdx_status convert_into(struct source *s, const vhdx_convert_options *o,
                                const vhdx_create_options *co, vhdx_image *out,
                                vhdx_convert_result *res)
{
    struct copy c;
    vhdx_status st = VHDX_OK;

    memset(&c, 0, sizeof(c));
    c.src = *s;
    c.out = out;
    c.o = o;
    c.res = res;
    c.vsize = out->virtual_size;
    c.block = out->block_size;
    c.lss = out->logical_sector_size;
    if (co->type == VHDX_DISK_DIFFERENCING)
        c.cap = c.block < (4u << 20) ? c.block : (size_t)4 << 20;
    else
        c.cap = c.block >= RUN_BYTES ? c.block : RUN_BYTES / c.block * c.block;
    /* Within the handle's memory limit: the buffers take at most half of
       what is left: whole blocks, else the largest power-of-two part of a
       block (at least a sector), so that runs stay aligned. */
    if (out->acct.limit != 0) {
        uint64_t room = out->acct.limit > out->acct.in_use ? out->acct.limit - out->acct.in_use : 0;
        uint64_t share = room / (co->type == VHDX_DISK_DIFFERENCING ? 4u : 2u);
        if (c.cap > share && share >= c.block) {
            c.cap = (size_t)(share / c.block * c.block);
        } else if (c.cap > share) {
            c.cap = c.block;
            while (c.cap > share && c.cap > c.lss)
                c.cap /= 2;
        }
    }
    c.buf = acct_alloc(&out->acct, c.cap, &st);
    if (c.buf != NULL && co->type == VHDX_DISK_DIFFERENCING)
        c.pbuf = acct_alloc(&out->acct, c.cap, &st);
    if (st == VHDX_OK &&
        (c.buf == NULL || (co->type == VHDX_DISK_DIFFERENCING && c.pbuf == NULL)))
        st = VHDX_E_NOMEM;
    if (st == VHDX_OK)
        st = copy_progress(o->progress, o->progress_ctx, 0, c.vsize);
    if (st == VHDX_OK)
        st = co->type == VHDX_DISK_DIFFERENCING ? copy_differencing(&c, co->parent)
                                                 : copy_plain(&c);
    acct_free(&out->acct, c.pbuf, c.pbuf != NULL ? c.cap : 0);
    acct_free(&out->acct, c.buf, c.buf != NULL ? c.cap : 0);
    if (st == VHDX_OK)
        st = failed(&c, vhdx_finish(out), VHDX_SIDE_TARGET, VHDX_OFFSET_NONE);
    return st;
}

static vhdx_convert_result *result_init(vhdx_convert_result *out, vhdx_convert_result *local)
{
    vhdx_convert_result *r = out != NULL ? out : local;
    memset(r, 0, sizeof(*r));
    r->failed_offset = VHDX_OFFSET_NONE;
    return r;
}

static vhdx_status check_args(const vhdx_source *src, const vhdx_convert_options *options)
{
    if (src == NULL || options == NULL)
        return VHDX_E_INVALID_ARG;
    if (src->kind != VHDX_SOURCE_IMAGE && src->kind != VHDX_SOURCE_FD &&
        src->kind != VHDX_SOURCE_IO)
        return VHDX_E_INVALID_ARG;
    return VHDX_OK;
}

vhdx_status vhdx_convert(const vhdx_source *src, vhdx_io *dst, const vhdx_convert_options *options,
                         const vhdx_open_options *open_options, vhdx_convert_result *out)
{
    vhdx_convert_result local, *res = result_init(out, &local);
    struct source s;
    vhdx_create_options co;
    vhdx_image *img = NULL;
    vhdx_io borrowed;
    vhdx_status st;

    st = check_args(src, options);
    if (st == VHDX_OK && dst == NULL)
        st = VHDX_E_INVALID_ARG;
    if (st == VHDX_OK)
        st = source_open(src, &s);
    if (st == VHDX_OK)
        st = target_options(&s, options, &co);
    if (st != VHDX_OK)
        return st;
    /* dst is the caller's: the handle must not close it. */
    borrowed = *dst;
    borrowed.close = NULL;
    st = vhdx_create_open(&borrowed, &co, open_options, &img);
    if (st != VHDX_OK)
        return st;
    st = convert_into(&s, options, &co, img, res);
    vhdx_close(img);
    return st;
}

vhdx_status vhdx_convert_path(const vhdx_source *src, const char *path,
                              const vhdx_convert_options *options, const char *parent_path,
                              const vhdx_open_options *open_options, vhdx_convert_result *out)
{
    vhdx_convert_result local, *res = result_init(out, &local);
    struct source s;
    vhdx_convert_options o;
    vhdx_create_options co;
    vhdx_image *img = NULL, *parent = NULL;
    char rel[4096];
    vhdx_status st;

    st = check_args(src, options);
    if (st == VHDX_OK && (path == NULL || path[0] == '\0'))
        st = VHDX_E_INVALID_ARG;
    if (st == VHDX_OK &&
        (options->create.type == VHDX_DISK_DIFFERENCING) != (parent_path != NULL ||
                                                             options->create.parent != NULL))
        st = VHDX_E_INVALID_ARG;
    if (st != VHDX_OK)
        return st;
    o = *options;
    if (parent_path != NULL) {
        vhdx_open_options po;
        if (open_options != NULL)
            po = *open_options;
        else
            memset(&po, 0, sizeof(po));
        po.flags &= ~(unsigned)VHDX_OPEN_WRITABLE;
        if (o.create.parent_relative_path == NULL) {
            st = image_relative_path(path, parent_path, rel, sizeof(rel));
            if (st != VHDX_OK)
                return st;
            o.create.parent_relative_path = rel;
        }
        st = vhdx_open_path(parent_path, &po, &parent);
        if (st != VHDX_OK)
            return st;
        o.create.parent = parent;
    }
    st = source_open(src, &s);
    if (st == VHDX_OK)
        st = target_options(&s, &o, &co);
    if (st == VHDX_OK)
        st = vhdx_create_open_path(path, &co, open_options, &img);
    if (st == VHDX_OK) {
        st = convert_into(&s, &o, &co, img, res);
        vhdx_close(img);
        if (st != VHDX_OK)
            (void)unlink(path); /* unsealed: no reader would accept it anyway */
    }
    vhdx_close(parent);
    return st;
}
