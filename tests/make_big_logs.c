/*
 * Writes large dirty images, as sparse files, for the tests and benchmarks
 * of replay by reference (tests/cli_biglog_test.sh, bench/run_log_bench.sh):
 *
 *   make_big_logs DIR NAME...
 *
 * Each NAME is made as DIR/NAME.vhdx with the library's own create, then a
 * log written straight into the file with the log entry encoder, then the
 * current header's LogGuid set. Names:
 *
 *   log-MMm-one-entry   a dynamic 64 MiB disk with an MM MiB log (1 to 4095)
 *                       holding one 8 KiB entry that rewrites region table 1's
 *                       first page with its own bytes: valid, replays to the
 *                       same file
 *   zero-NNm            a fixed disk of NN MiB + 32 MiB whose payload starts
 *                       with 1 MiB of 0xA5; one 4 KiB entry with a zero
 *                       descriptor clearing NN MiB of payload from its start
 *                       (NN up to 1048576: 1 TiB)
 *   full-NNm            a fixed disk; an NN MiB log whose active sequence fills
 *                       it (but 1 MiB) with entries of 126 data
 *                       descriptors (127 sectors each), each writing its own
 *                       payload page (pattern below)
 *   wide-NNm            the same with entries of 255 data descriptors (3
 *                       descriptor sectors, 258 sectors each). qemu-img 7.2
 *                       refuses every entry with more than 126 descriptors
 *                       ("Invalid argument"), so it is compared with ours only
 *   hostile-zero-64g    a dynamic 8 MiB disk (a small file) whose one entry
 *                       zeroes 2 GiB at file offset 64 GiB, LastFileOffset the
 *                       file's size: log.descriptor.past_end
 *
 * The payload page of data descriptor j of entry e (from 0) in full-NNm is
 * 4096 bytes of the byte k % 251 + 1, at virtual offset k * 4096, where
 * k = e * 126 + j (e * 255 + j in wide-NNm). Prints one line per image:
 * NAME PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "format/constants.h"
#include "format/header.h"
#include "format/log_entry.h"
#include "vhdx.h"

#define MiB (1ull << 20)
#define SEC 4096u

static const struct guid LOG_GUID = {{0x4c, 0x4f, 0x47, 0x21, 0x62, 0x69, 0x67, 0x6c, 0x6f,
                                      0x67, 0x73, 0x00, 0x00, 0x00, 0x00, 0x01}};

static void die(const char *what)
{
    fprintf(stderr, "make_big_logs: %s\n", what);
    exit(2);
}

static void pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n <= 0)
            die(strerror(errno));
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
}

static void pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n <= 0)
            die("short read");
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
}

struct target {
    int fd;
    uint64_t file_size;
    uint64_t log_offset;
    uint32_t log_length;
    uint64_t payload; /* file offset of virtual offset 0 (fixed disks), else 0 */
};

static void create(const char *path, vhdx_disk_type type, uint64_t size, uint32_t log_size,
                   struct target *t)
{
    vhdx_create_options c;
    vhdx_image *img = NULL;
    vhdx_info info;
    vhdx_extent e;
    vhdx_io io;
    int fd;

    (void)unlink(path);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || vhdx_io_from_fd(fd, 1, 0, &io) != VHDX_OK)
        die("cannot create the file");
    memset(&c, 0, sizeof(c));
    c.type = type;
    c.virtual_size = size;
    c.block_size = 32u << 20;
    c.log_size = log_size;
    if (vhdx_create(&io, &c) != VHDX_OK)
        die("vhdx_create failed");
    vhdx_io_close(&io);
    if (vhdx_io_from_fd(fd, 0, 0, &io) != VHDX_OK || vhdx_open(&io, NULL, &img) != VHDX_OK ||
        vhdx_get_info(img, &info) != VHDX_OK)
        die("cannot open what was created");
    memset(t, 0, sizeof(*t));
    t->fd = fd;
    t->file_size = info.file_size;
    t->log_offset = info.log_offset;
    t->log_length = info.log_length;
    if (type == VHDX_DISK_FIXED) {
        if (vhdx_map_next(img, 0, &e) != VHDX_OK || e.kind != VHDX_EXTENT_DATA)
            die("a fixed disk without data at 0");
        t->payload = e.file_offset;
    }
    vhdx_close(img);
}

/* Encodes one entry and writes it at log offset p. */
static void put_entry(const struct target *t, uint32_t p, uint64_t seq, uint32_t tail,
                      const struct log_descriptor *descs, size_t n, const uint8_t *const *pages,
                      uint64_t last)
{
    struct log_entry_header h;
    size_t n_data = 0, len;
    uint8_t *buf;
    for (size_t i = 0; i < n; i++)
        n_data += descs[i].kind == LOG_DESCRIPTOR_DATA;
    len = log_entry_length_for(n, n_data);
    buf = calloc(1, len + SEC);
    if (buf == NULL || len == 0)
        die("out of memory");
    memset(&h, 0, sizeof(h));
    h.sequence_number = seq;
    h.tail = tail;
    h.log_guid = LOG_GUID;
    h.flushed_file_offset = t->file_size;
    h.last_file_offset = last;
    {
        struct log_descriptor *d = calloc(n, sizeof(*d));
        if (d == NULL)
            die("out of memory");
        for (size_t i = 0; i < n; i++) {
            d[i] = descs[i];
            d[i].sequence_number = seq;
        }
        if (log_entry_encode(&h, d, n, pages, buf, (uint32_t)(len + SEC), 0) != VHDX_OK)
            die("log_entry_encode failed");
        free(d);
    }
    if (p + len > t->log_length)
        die("the entry does not fit the log");
    pwrite_all(t->fd, buf, len, t->log_offset + p);
    free(buf);
}

/* Sets the current header's LogGuid: the image is dirty from now on. */
static void set_dirty(const struct target *t)
{
    uint8_t b[2][HEADER_SIZE];
    struct header h[2];
    int cur;
    pread_all(t->fd, b[0], HEADER_SIZE, VHDX_HEADER1_OFFSET);
    pread_all(t->fd, b[1], HEADER_SIZE, VHDX_HEADER2_OFFSET);
    if (header_decode(b[0], HEADER_SIZE, &h[0], NULL) != VHDX_OK ||
        header_decode(b[1], HEADER_SIZE, &h[1], NULL) != VHDX_OK)
        die("cannot decode the headers");
    cur = h[1].sequence_number > h[0].sequence_number ? 1 : 0;
    h[cur].log_guid = LOG_GUID;
    if (header_encode(&h[cur], b[cur], HEADER_SIZE) != VHDX_OK)
        die("cannot encode the header");
    pwrite_all(t->fd, b[cur], HEADER_SIZE, cur == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET);
    if (fsync(t->fd) != 0)
        die("fsync failed");
    close(t->fd);
}

static void one_entry(const char *path, uint32_t log_mib)
{
    struct target t;
    struct log_descriptor d;
    uint8_t page[SEC];
    const uint8_t *pages[1] = {page};
    create(path, VHDX_DISK_DYNAMIC, 64 * MiB, (uint32_t)(log_mib * MiB), &t);
    pread_all(t.fd, page, SEC, VHDX_REGION_TABLE1_OFFSET);
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_DATA;
    d.file_offset = VHDX_REGION_TABLE1_OFFSET;
    put_entry(&t, 0, 1, 0, &d, 1, pages, t.file_size);
    set_dirty(&t);
}

static void zero_range(const char *path, uint64_t mib)
{
    struct target t;
    struct log_descriptor d;
    uint8_t *mark = malloc(MiB);
    if (mark == NULL)
        die("out of memory");
    create(path, VHDX_DISK_FIXED, (mib + 32) * MiB, 0, &t);
    memset(mark, 0xA5, MiB);
    pwrite_all(t.fd, mark, MiB, t.payload);
    free(mark);
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_ZERO;
    d.file_offset = t.payload;
    d.zero_length = mib * MiB;
    put_entry(&t, 0, 1, 0, &d, 1, NULL, t.file_size);
    set_dirty(&t);
}

/*
 * Entries of `per` data descriptors each, back to back from log offset 0,
 * as many as fit leaving 1 MiB free (qemu-img 7.2 searches a log with a
 * single free sector forever); all one active sequence.
 */
static void full_log(const char *path, uint32_t log_mib, uint32_t per)
{
    struct target t;
    struct log_descriptor d[255];
    uint8_t *pages = malloc(255 * SEC);
    const uint8_t *pp[255];
    const uint32_t len = (uint32_t)log_entry_length_for(per, per);
    uint32_t entries = (log_mib - 1) * (uint32_t)MiB / len;
    if (pages == NULL)
        die("out of memory");
    create(path, VHDX_DISK_FIXED, (uint64_t)log_mib * MiB + 64 * MiB, log_mib * (uint32_t)MiB,
           &t);
    for (uint32_t e = 0; e < entries; e++) {
        for (uint32_t j = 0; j < per; j++) {
            uint64_t k = (uint64_t)e * per + j;
            memset(pages + (size_t)j * SEC, (int)(k % 251 + 1), SEC);
            pp[j] = pages + (size_t)j * SEC;
            memset(&d[j], 0, sizeof(d[j]));
            d[j].kind = LOG_DESCRIPTOR_DATA;
            d[j].file_offset = t.payload + k * SEC;
        }
        put_entry(&t, e * len, (uint64_t)e + 1, 0, d, per, pp, t.file_size);
    }
    free(pages);
    set_dirty(&t);
}

static void hostile_zero(const char *path)
{
    struct target t;
    struct log_descriptor d;
    create(path, VHDX_DISK_DYNAMIC, 8 * MiB, 0, &t);
    memset(&d, 0, sizeof(d));
    d.kind = LOG_DESCRIPTOR_ZERO;
    d.file_offset = 64ull << 30;
    d.zero_length = 2ull << 30;
    put_entry(&t, 0, 1, 0, &d, 1, NULL, t.file_size);
    set_dirty(&t);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: make_big_logs DIR NAME...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *name = argv[i];
        char path[4096];
        unsigned long n = 0;
        char tail[32];
        snprintf(path, sizeof(path), "%s/%s.vhdx", argv[1], name);
        if (sscanf(name, "log-%lum-one-entr%31s", &n, tail) == 2 && n >= 1 && n <= 4095)
            one_entry(path, (uint32_t)n);
        else if (sscanf(name, "zero-%lum%31s", &n, tail) == 1 && n >= 1 && n <= 1048576)
            zero_range(path, n);
        else if (sscanf(name, "full-%lum%31s", &n, tail) == 1 && n >= 2 && n <= 4095)
            full_log(path, (uint32_t)n, 126);
        else if (sscanf(name, "wide-%lum%31s", &n, tail) == 1 && n >= 2 && n <= 4095)
            full_log(path, (uint32_t)n, 255);
        else if (strcmp(name, "hostile-zero-64g") == 0)
            hostile_zero(path);
        else {
            fprintf(stderr, "make_big_logs: unknown image '%s'\n", name);
            return 2;
        }
        printf("%s %s\n", name, path);
    }
    return 0;
}
