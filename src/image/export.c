/*
 * vhdx_export_raw: the virtual disk of an open image as raw bytes, into a
 * file descriptor (sparse: zeros stay holes) or a caller's sink.
 *
 * The disk is walked by extents (vhdx_map_next): ZERO extents are skipped
 * without reading, DATA and PARENT extents are read in chunks of up to
 * EXPORT_CHUNK and cut into HOLE_GRAIN pieces, of which only the ones that
 * are not all zeros are passed on. One buffer, from the image's own
 * accountant, so the handle's allocator and memory limit apply.
 *
 * A DATA extent lies in the image's own file, at e.file_offset. When the
 * handle reads that file directly (a descriptor back end: no view of a
 * dirty log replayed in memory over it, no metadata change pending), the
 * holes of the file inside the extent read as zeros, so they are skipped
 * without reading them (SEEK_DATA/SEEK_HOLE): blocks that other tools
 * allocate whole but fill in part (qemu-img leaves the rest a hole) cost
 * only their data. What is read is still checked for zeros.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/bytes.h"
#include "image/copy.h"
#include "image/image.h"
#include "io/fd.h"

#define EXPORT_CHUNK ((size_t)4 << 20)

struct fd_target {
    int fd;
};

/* Writes all of buf at off: pwrite until done (EINTR retried). */
vhdx_status copy_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n;
        if (off > (uint64_t)INT64_MAX - len)
            return VHDX_E_RANGE;
        n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return VHDX_E_IO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return VHDX_OK;
}

static vhdx_status fd_sink(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    const struct fd_target *t = ctx;
    return copy_pwrite_all(t->fd, buf, len, offset);
}

vhdx_status copy_sparse(vhdx_sink_fn sink, void *ctx, const uint8_t *buf, size_t len,
                        uint64_t off, size_t grain)
{
    size_t pos = 0, run = 0;
    bool in_run = false;

    while (pos < len) {
        size_t piece = grain - (size_t)((off + pos) % grain);
        if (piece > len - pos)
            piece = len - pos;
        if (bytes_all_zero(buf + pos, piece)) {
            if (in_run) {
                vhdx_status st = sink(ctx, off + run, buf + run, pos - run);
                if (st != VHDX_OK)
                    return st;
            }
            in_run = false;
        } else if (!in_run) {
            run = pos;
            in_run = true;
        }
        pos += piece;
    }
    if (in_run)
        return sink(ctx, off + run, buf + run, len - run);
    return VHDX_OK;
}

vhdx_status copy_progress(vhdx_progress_fn progress, void *ctx, uint64_t done, uint64_t total)
{
    if (progress != NULL && progress(ctx, done, total) != 0)
        return VHDX_E_CANCELLED;
    return VHDX_OK;
}

/*
 * The descriptor of the image's own file when the handle reads it as it is
 * (see the top of the file), else -1.
 */
static int hole_fd(const vhdx_image *image, uint64_t *file_size)
{
    struct stat st;
    int fd;

    if (image->batch.npages != 0 || image->batch.nzeros != 0)
        return -1;
    fd = io_fd_descriptor(&image->io);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return -1;
    *file_size = (uint64_t)st.st_size;
    return fd;
}

bool copy_file_next_data(int fd, uint64_t pos, uint64_t end, uint64_t *ds, uint64_t *de)
{
    off_t d, h;

    *ds = pos;
    *de = end;
    if (pos > (uint64_t)INT64_MAX || end > (uint64_t)INT64_MAX)
        return false;
    d = lseek(fd, (off_t)pos, SEEK_DATA);
    if (d < 0) {
        if (errno != ENXIO)
            return false;
        *ds = end; /* no data from pos to the end of the file */
        return true;
    }
    if ((uint64_t)d >= end) {
        *ds = end;
        return true;
    }
    /* Data may start before pos only if the kernel rounds: never before pos. */
    *ds = (uint64_t)d > pos ? (uint64_t)d : pos;
    h = lseek(fd, d, SEEK_HOLE);
    if (h >= 0 && (uint64_t)h > *ds && (uint64_t)h < end)
        *de = (uint64_t)h;
    return true;
}

vhdx_status vhdx_export_raw(vhdx_image *image, int fd, const vhdx_export_options *options)
{
    vhdx_export_options o;
    struct fd_target target;
    vhdx_sink_fn sink;
    void *sink_ctx;
    uint8_t *buf = NULL;
    uint64_t size, off = 0;
    size_t cap;
    int hfd;
    uint64_t hfd_size = 0;
    off_t hfd_pos;
    vhdx_status st;

    if (image == NULL || (fd < 0 && (options == NULL || options->sink == NULL)))
        return VHDX_E_INVALID_ARG;
    if (options != NULL)
        o = *options;
    else
        memset(&o, 0, sizeof(o));
    if (image->failed)
        return VHDX_E_BAD_STATE;
    size = image->virtual_size;
    if (fd >= 0) {
        if (size > (uint64_t)INT64_MAX)
            return VHDX_E_RANGE;
        target.fd = fd;
        sink = fd_sink;
        sink_ctx = &target;
    } else {
        sink = o.sink;
        sink_ctx = o.sink_ctx;
    }
    cap = size < EXPORT_CHUNK ? (size_t)size : EXPORT_CHUNK;
    buf = acct_alloc(&image->acct, cap, &st);
    if (buf == NULL)
        return st;
    hfd = hole_fd(image, &hfd_size);
    /* The descriptor may be the caller's: its file position is put back at the end. */
    hfd_pos = hfd >= 0 ? lseek(hfd, 0, SEEK_CUR) : -1;
    st = copy_progress(o.progress, o.progress_ctx, 0, size);
    while (st == VHDX_OK && off < size) {
        vhdx_extent e;
        uint64_t end;
        st = vhdx_map_next(image, off, &e);
        if (st != VHDX_OK)
            break;
        end = off + e.length;
        if (e.kind != VHDX_EXTENT_ZERO) {
            /* File offset = virtual offset + delta, for a DATA extent. */
            uint64_t delta = e.file_offset - e.offset;
            bool holes = e.kind == VHDX_EXTENT_DATA && hfd >= 0;
            while (st == VHDX_OK && off < end) {
                uint64_t stop = end;
                size_t n;
                if (holes && off + delta < hfd_size) {
                    /* Only below the file's end: past it, the read fails as it should. */
                    uint64_t fe = end + delta < hfd_size ? end + delta : hfd_size;
                    uint64_t ds, de;
                    (void)copy_file_next_data(hfd, off + delta, fe, &ds, &de);
                    off = ds - delta;
                    stop = ds < fe ? de - delta : end;
                    if (off >= end)
                        break;
                }
                n = stop - off < cap ? (size_t)(stop - off) : cap;
                st = vhdx_read(image, off, buf, n);
                if (st == VHDX_OK)
                    st = copy_sparse(sink, sink_ctx, buf, n, off, COPY_HOLE_GRAIN);
                if (st == VHDX_OK) {
                    off += n;
                    if (off < end)
                        st = copy_progress(o.progress, o.progress_ctx, off, size);
                }
            }
        }
        off = end;
        if (st == VHDX_OK)
            st = copy_progress(o.progress, o.progress_ctx, off, size);
    }
    acct_free(&image->acct, buf, cap);
    if (hfd_pos >= 0)
        (void)lseek(hfd, hfd_pos, SEEK_SET);
    if (st == VHDX_OK && fd >= 0 && ftruncate(fd, (off_t)size) != 0)
        st = VHDX_E_IO;
    if (st == VHDX_OK && fd >= 0 && !(o.flags & VHDX_EXPORT_NO_SYNC) && fsync(fd) != 0)
        st = VHDX_E_IO;
    return st;
}
