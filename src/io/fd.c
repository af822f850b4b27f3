/*
 * The file-descriptor back end: pread/pwrite on a caller's descriptor.
 *
 * Its context is a few bytes not driven by any file content, so it comes
 * from malloc rather than from an accountant.
 */
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/checked.h"
#include "base/compiler.h"
#include "io/fd.h"
#include "vhdx.h"

/* Offsets are cast to off_t only after a check against INT64_MAX. */
_Static_assert(sizeof(off_t) == sizeof(int64_t), "off_t must be 64 bits");

/* One pread call moves at most this much (Linux caps a call near 2 GiB anyway). */
#define FD_CHUNK_MAX ((size_t)1 << 30)

/*
 * One pwrite call moves at most this much. Linux sizes the page-cache folios
 * of new data by the write: fresh multi-megabyte folios made large writes
 * (a convert's runs of up to 32 MiB) 1.5x slower and erratic on the
 * benchmark machine (bench/README.md, "Writes"); 128 KiB is what cp uses.
 */
#define FD_WRITE_MAX ((size_t)128 << 10)

/*
 * Write-behind: after every WRITE_BEHIND bytes written, the kernel is asked
 * to start writing the file's dirty pages back without waiting for them
 * (Linux sync_file_range). The flush that ends a long run of writes, such as
 * a convert's, then waits for the last of them only, instead of for all of
 * them at once: on the convert benchmark (bench/README.md) the copy and the
 * disk work at the same time. It is a hint: a failure changes nothing.
 */
#define WRITE_BEHIND ((uint64_t)64 << 20)

struct fd_ctx {
    int fd;
    int own_fd;
    uint64_t written; /* bytes written since write-behind last started */
};

static size_t chunk_len(size_t remaining)
{
    return remaining < FD_CHUNK_MAX ? remaining : FD_CHUNK_MAX;
}

/*
 * Reads until len bytes or the end of the file. *got is the count read so
 * far, also when a later pread fails.
 */
static vhdx_status fd_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct fd_ctx *c = ctx;
    uint8_t *p = buf;
    size_t done = 0;

    *got = 0;
    if (off > (uint64_t)INT64_MAX)
        return VHDX_E_RANGE;
    while (done < len) {
        uint64_t pos = off + done, room;
        size_t want = chunk_len(len - done);
        ssize_t n;
        /*
         * No file extends past INT64_MAX, so reaching it is the end of the
         * file; the kernel refuses a pread whose end passes it (EOVERFLOW).
         */
        if (pos >= (uint64_t)INT64_MAX)
            break;
        room = (uint64_t)INT64_MAX - pos;
        if (want > room)
            want = (size_t)room;
        n = pread(c->fd, p + done, want, (off_t)pos);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return VHDX_E_IO;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return VHDX_OK;
}

static void write_behind(struct fd_ctx *c, size_t len)
{
    c->written += len;
    if (c->written < WRITE_BEHIND)
        return;
    c->written = 0;
#ifdef SYNC_FILE_RANGE_WRITE
    /* A hint: where it is not supported (a pipe, an old kernel) writes are only slower. */
    (void)sync_file_range(c->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
}

static vhdx_status fd_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct fd_ctx *c = ctx;
    const uint8_t *p = buf;
    size_t done = 0;
    uint64_t end;

    if (!ck_add_u64(off, len, &end) || end > (uint64_t)INT64_MAX)
        return VHDX_E_RANGE;
    while (done < len) {
        ssize_t n = pwrite(c->fd, p + done, len - done < FD_WRITE_MAX ? len - done : FD_WRITE_MAX,
                           (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return VHDX_E_IO;
        }
        /* A write that makes no progress would loop for ever. */
        if (n == 0)
            return VHDX_E_IO;
        done += (size_t)n;
    }
    write_behind(c, len);
    return VHDX_OK;
}

static vhdx_status fd_flush(void *ctx)
{
    struct fd_ctx *c = ctx;
    int r;

    do
        r = fdatasync(c->fd);
    while (r != 0 && errno == EINTR);
    c->written = 0;
    /* Some file systems and kernels lack fdatasync; fsync is the stronger fallback. */
    if (r != 0 && (errno == ENOSYS || errno == EINVAL)) {
        do
            r = fsync(c->fd);
        while (r != 0 && errno == EINTR);
    }
    return r == 0 ? VHDX_OK : VHDX_E_IO;
}

static vhdx_status fd_size(void *ctx, uint64_t *size)
{
    const struct fd_ctx *c = ctx;
    struct stat st;

    if (fstat(c->fd, &st) != 0 || st.st_size < 0)
        return VHDX_E_IO;
    *size = (uint64_t)st.st_size;
    return VHDX_OK;
}

static vhdx_status fd_truncate(void *ctx, uint64_t size)
{
    const struct fd_ctx *c = ctx;
    int r;

    if (size > (uint64_t)INT64_MAX)
        return VHDX_E_RANGE;
    do
        r = ftruncate(c->fd, (off_t)size);
    while (r != 0 && errno == EINTR);
    return r == 0 ? VHDX_OK : VHDX_E_IO;
}

/*
 * Zeros without writing them: the part inside the file becomes a hole
 * (FALLOC_FL_PUNCH_HOLE, which keeps the size and reads as zeros; else
 * FALLOC_FL_ZERO_RANGE), the part past its end is covered by extending the
 * file, which reads as zeros too. A file system with neither operation gets
 * VHDX_E_UNSUPPORTED before anything changes, and the caller writes zeros.
 */
static vhdx_status fd_zero(void *ctx, uint64_t off, uint64_t len)
{
    const struct fd_ctx *c = ctx;
    uint64_t size = 0, end, inside;
    vhdx_status st;
    int r;

    if (len == 0)
        return VHDX_OK;
    if (!ck_add_u64(off, len, &end) || end > (uint64_t)INT64_MAX)
        return VHDX_E_RANGE;
    st = fd_size(ctx, &size);
    if (st != VHDX_OK)
        return st;
    inside = end < size ? end : size;
    if (off < inside) {
        do
            r = fallocate(c->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                          (off_t)(inside - off));
        while (r != 0 && errno == EINTR);
        if (r != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
            do
                r = fallocate(c->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                              (off_t)(inside - off));
            while (r != 0 && errno == EINTR);
            if (r != 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
                return VHDX_E_UNSUPPORTED;
        }
        if (r != 0)
            return VHDX_E_IO;
    }
    return end > size ? fd_truncate(ctx, end) : VHDX_OK;
}

static void fd_close(void *ctx)
{
    struct fd_ctx *c = ctx;

    if (c == NULL)
        return;
    /* After close(2) fails with EINTR the descriptor is gone on Linux: never retry. */
    if (c->own_fd)
        (void)close(c->fd);
    free(c);
}

int io_fd_descriptor(const vhdx_io *io)
{
    if (io == NULL || io->read != fd_read || io->ctx == NULL)
        return -1;
    return ((const struct fd_ctx *)io->ctx)->fd;
}

vhdx_status vhdx_io_from_fd(int fd, int writable, int own_fd, vhdx_io *out)
{
    struct fd_ctx *c;
    int flags, mode;

    if (out == NULL)
        return VHDX_E_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return VHDX_E_INVALID_ARG;
    /* The descriptor must be open and allow what the io promises: reading always. */
    flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return VHDX_E_INVALID_ARG;
    mode = flags & O_ACCMODE;
    if (mode == O_WRONLY || (writable && mode != O_RDWR))
        return VHDX_E_INVALID_ARG;

    c = malloc(sizeof(*c));
    if (c == NULL)
        return VHDX_E_NOMEM;
    c->fd = fd;
    c->own_fd = own_fd != 0;
    c->written = 0;

    out->ctx = c;
    out->read = fd_read;
    out->size = fd_size;
    out->close = fd_close;
    if (writable) {
        out->write = fd_write;
        out->flush = fd_flush;
        out->truncate = fd_truncate;
        out->zero = fd_zero;
    }
    return VHDX_OK;
}
