/*
 * export_sink: the virtual disk of a VHDX image, streamed to standard
 * output through a sink callback, through vhdx.h alone.
 *
 *   export_sink IMAGE > disk.raw        (or | sha256sum, | ssh ..., etc.)
 *
 * vhdx_export_raw passes only the ranges that hold data, in increasing
 * order; everything between reads as zeros. Standard output may be a pipe,
 * so the sink writes those zeros itself, from one zeroed buffer, before each
 * range and at the end: the output is the whole disk, byte for byte.
 * A summary goes to standard error: "N ranges, D bytes of data, Z bytes of
 * zeros". Exit: 0 done; 1 IMAGE does not open; 2 usage or I/O errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhdx.h"

static const uint8_t zeros[64 * 1024];

struct out {
    uint64_t pos; /* bytes of the disk written so far */
    uint64_t ranges, data, zero;
};

static int write_all(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fill_zeros(struct out *o, uint64_t upto)
{
    while (o->pos < upto) {
        size_t n = upto - o->pos < sizeof(zeros) ? (size_t)(upto - o->pos) : sizeof(zeros);
        if (write_all(zeros, n) != 0)
            return -1;
        o->pos += n;
        o->zero += n;
    }
    return 0;
}

/* vhdx_sink_fn: zeros up to the range, then the range. */
static vhdx_status sink(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct out *o = ctx;
    if (fill_zeros(o, offset) != 0 || write_all(buf, len) != 0)
        return VHDX_E_IO;
    o->pos = offset + len;
    o->ranges++;
    o->data += len;
    return VHDX_OK;
}

int main(int argc, char **argv)
{
    vhdx_export_options eo;
    vhdx_image *img = NULL;
    vhdx_info info;
    struct out o = {0, 0, 0, 0};
    vhdx_status st;

    if (argc != 2) {
        fprintf(stderr, "usage: export_sink IMAGE > OUTPUT\n");
        return 2;
    }
    st = vhdx_open_path(argv[1], NULL, &img);
    if (st != VHDX_OK) {
        fprintf(stderr, "%s: does not open: %s\n", argv[1], vhdx_strerror(st));
        return 1;
    }
    st = vhdx_get_info(img, &info);
    memset(&eo, 0, sizeof(eo));
    eo.sink = sink;
    eo.sink_ctx = &o;
    if (st == VHDX_OK)
        st = vhdx_export_raw(img, -1, &eo);
    if (st == VHDX_OK && fill_zeros(&o, info.virtual_size) != 0)
        st = VHDX_E_IO;
    vhdx_close(img);
    if (st != VHDX_OK) {
        fprintf(stderr, "%s: export failed: %s\n", argv[1], vhdx_strerror(st));
        return 2;
    }
    fprintf(stderr, "%" PRIu64 " ranges, %" PRIu64 " bytes of data, %" PRIu64 " bytes of zeros\n",
            o.ranges, o.data, o.zero);
    return 0;
}
