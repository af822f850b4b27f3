/*
 * scan_buffer: how a scanner judges a VHDX image it holds in memory.
 *
 *   scan_buffer IMAGE        (IMAGE "-" reads standard input)
 *
 * A scanner usually has the bytes already (an attachment, a member of an
 * archive): this example reads the file into memory first and then works
 * on the buffer only, through vhdx.h alone:
 *
 *   1. vhdx_check over vhdx_io_from_memory, under a tight budget: at most
 *      8 MiB of library memory (vhdx_limits.max_memory), every byte of it
 *      taken through a counting allocator, and every finding printed by
 *      the on_diag callback as it is made;
 *   2. when the image has no errors, vhdx_open of the same buffer, and a
 *      walk of the virtual disk with vhdx_map_next and vhdx_read, handing
 *      each byte of data to scan_bytes() (where a scanner's engine would
 *      look at it), then vhdx_close.
 *
 * Output: one line per finding, "SEVERITY RULE [CODE] at 0xOFFSET: MESSAGE"
 * (no [CODE] for an info, no "at" when no offset applies),
 * then a "disk:" line for an image without errors, a "memory:" line, and
 * last the verdict, one of
 *   verdict: clean (E errors, W warnings, I infos)       exit 0
 *   verdict: errors (E errors, W warnings, I infos)      exit 1
 *   verdict: cannot judge (REASON)                       exit 2
 * Warnings and infos do not make an image unclean. Usage errors exit 2.
 * A finding with code E_LIMIT means the image needs more than the budget
 * to be judged; a scanner may report those apart from corruption.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx.h"

#define MEMORY_LIMIT ((uint64_t)8 << 20)
#define READ_CHUNK ((size_t)1 << 20)

/*
 * ---- A counting allocator: what the library holds, at most, and how often it asked ----
 * Without a lock: this program uses one handle at a time, on one thread. An
 * allocator shared by handles that threads use at once must be thread-safe.
 */

struct counting_allocator {
    size_t in_use;
    size_t peak;
    size_t allocations;
};

static void *counting_alloc(void *ctx, size_t size)
{
    struct counting_allocator *c = ctx;
    void *p = malloc(size);
    if (p != NULL) {
        c->in_use += size;
        if (c->in_use > c->peak)
            c->peak = c->in_use;
        c->allocations++;
    }
    return p;
}

static void counting_free(void *ctx, void *ptr, size_t size)
{
    struct counting_allocator *c = ctx;
    if (ptr == NULL)
        return;
    c->in_use -= size; /* the library passes the size it allocated */
    free(ptr);
}

/* ---- Findings ---- */

/*
 * Messages and rule ids are printed byte by byte: a message may quote text
 * from the file (a parent path, a creator string), which must not reach a
 * terminal or a log as control characters.
 */
static void print_safe(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\')
            fputc(*p, f);
        else
            fprintf(f, "\\x%02x", *p);
    }
}

/* Called by the library, on this thread, for each finding as it is made. */
static void print_finding(void *ctx, const vhdx_diag *d)
{
    FILE *out = ctx;
    fprintf(out, "%-7s ", vhdx_severity_name(d->severity));
    print_safe(out, d->rule != NULL ? d->rule : "(no rule)");
    if (d->code != VHDX_OK)
        fprintf(out, " [%s]", vhdx_status_name(d->code));
    if (d->offset != VHDX_OFFSET_NONE)
        fprintf(out, " at 0x%" PRIx64, d->offset);
    fputs(": ", out);
    print_safe(out, d->message);
    fputc('\n', out);
}

/* ---- The file into memory ---- */

/* Reads all of f into a new buffer (*data, *len); 0 or errno. */
static int read_all(FILE *f, unsigned char **data, size_t *len)
{
    size_t cap = 0, used = 0;
    unsigned char *buf = NULL;

    for (;;) {
        size_t n;
        if (used == cap) {
            unsigned char *grown;
            size_t next = cap == 0 ? READ_CHUNK : cap * 2;
            if (next < cap) {
                free(buf);
                return EFBIG;
            }
            grown = realloc(buf, next);
            if (grown == NULL) {
                free(buf);
                return ENOMEM;
            }
            buf = grown;
            cap = next;
        }
        errno = 0;
        n = fread(buf + used, 1, cap - used, f);
        used += n;
        if (n == 0) {
            if (ferror(f)) {
                int e = errno != 0 ? errno : EIO;
                free(buf);
                return e;
            }
            break;
        }
    }
    *data = buf;
    *len = used;
    return 0;
}

/* ---- The virtual disk's content ---- */

struct content {
    uint64_t data_bytes;    /* read from this image and scanned */
    uint64_t nonzero_bytes; /* of those, bytes that are not zero */
    uint64_t data_extents;
    uint64_t parent_bytes;  /* held by a parent this buffer does not include */
};

/* Where a scanner would pass the bytes to its engine. */
static void scan_bytes(const unsigned char *p, size_t n, struct content *c)
{
    for (size_t i = 0; i < n; i++)
        c->nonzero_bytes += p[i] != 0;
    c->data_bytes += n;
}

static vhdx_status scan_content(vhdx_image *img, uint64_t virtual_size, unsigned char *buf,
                                struct content *c)
{
    uint64_t off = 0;

    while (off < virtual_size) {
        vhdx_extent ext;
        vhdx_status st = vhdx_map_next(img, off, &ext);
        if (st != VHDX_OK)
            return st;
        if (ext.kind == VHDX_EXTENT_DATA) {
            c->data_extents++;
            for (uint64_t done = 0; done < ext.length;) {
                size_t n = ext.length - done < READ_CHUNK ? (size_t)(ext.length - done) : READ_CHUNK;
                st = vhdx_read(img, ext.offset + done, buf, n);
                if (st != VHDX_OK)
                    return st;
                scan_bytes(buf, n, c);
                done += n;
            }
        } else if (ext.kind == VHDX_EXTENT_PARENT) {
            c->parent_bytes += ext.length;
        }
        off = ext.offset + ext.length;
    }
    return VHDX_OK;
}

static const char *disk_type_name(vhdx_disk_type t)
{
    switch (t) {
    case VHDX_DISK_FIXED:
        return "fixed";
    case VHDX_DISK_DYNAMIC:
        return "dynamic";
    case VHDX_DISK_DIFFERENCING:
        return "differencing";
    default:
        return "unknown";
    }
}

/*
 * Opens the buffer again (vhdx_check keeps no handle), prints its shape and
 * scans its data. A differencing image is opened without its parent, which
 * the buffer does not hold: the ranges it would supply are only counted.
 */
static vhdx_status open_and_scan(const unsigned char *data, size_t len,
                                 const vhdx_open_options *check_options)
{
    vhdx_open_options options = *check_options;
    vhdx_image *img = NULL;
    vhdx_info info;
    struct content c = {0, 0, 0, 0};
    unsigned char *buf;
    vhdx_io io;
    vhdx_status st;

    options.flags = VHDX_OPEN_READ_ONLY | VHDX_OPEN_NO_PARENT;
    options.on_diag = NULL; /* vhdx_check has printed every finding already */
    options.diag_ctx = NULL;
    buf = malloc(READ_CHUNK);
    if (buf == NULL)
        return VHDX_E_NOMEM;
    st = vhdx_io_from_memory(data, len, &io);
    if (st == VHDX_OK)
        st = vhdx_open(&io, &options, &img); /* owns io from here, even on failure */
    if (st == VHDX_OK)
        st = vhdx_get_info(img, &info);
    if (st == VHDX_OK)
        st = scan_content(img, info.virtual_size, buf, &c);
    if (st == VHDX_OK)
        printf("disk: %s, %" PRIu64 " bytes; scanned %" PRIu64 " bytes of data in %" PRIu64
               " %s (%" PRIu64 " not zero); %" PRIu64 " bytes in the parent, not scanned\n",
               disk_type_name(info.type), info.virtual_size, c.data_bytes, c.data_extents,
               c.data_extents == 1 ? "extent" : "extents", c.nonzero_bytes, c.parent_bytes);
    vhdx_close(img); /* NULL when the open failed */
    free(buf);
    return st;
}

/* ---- main ---- */

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

int main(int argc, char **argv)
{
    struct counting_allocator counter = {0, 0, 0};
    vhdx_allocator allocator = {counting_alloc, counting_free, &counter};
    vhdx_limits limits = vhdx_limits_default();
    vhdx_open_options options;
    vhdx_check_result result;
    unsigned char *data = NULL;
    size_t len = 0;
    vhdx_io io;
    vhdx_status st;
    FILE *f;
    int err, rc;

    if (argc != 2) {
        fprintf(stderr, "usage: scan_buffer IMAGE\n");
        return 2;
    }
    f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    if (f == NULL) {
        printf("verdict: cannot judge (cannot open the file: %s)\n", strerror(errno));
        return 2;
    }
    err = read_all(f, &data, &len);
    if (f != stdin)
        (void)fclose(f); /* opened for reading: a failed close loses nothing */
    if (err != 0) {
        printf("verdict: cannot judge (cannot read the file: %s)\n", strerror(err));
        return 2;
    }

    /* The budget: only the memory limit is lowered, the others keep their defaults. */
    limits.max_memory = MEMORY_LIMIT;
    memset(&options, 0, sizeof(options));
    options.flags = VHDX_OPEN_READ_ONLY;
    options.limits = &limits;
    options.allocator = &allocator;
    options.on_diag = print_finding;
    options.diag_ctx = stdout;

    st = vhdx_io_from_memory(data, len, &io);
    if (st == VHDX_OK)
        st = vhdx_check(&io, &options, &result); /* takes io: closed when it returns */
    if (st != VHDX_OK) {
        printf("verdict: cannot judge (%s)\n", vhdx_strerror(st));
        free(data);
        return 2;
    }
    rc = result.errors == 0 ? 0 : 1;
    if (rc == 0) {
        st = open_and_scan(data, len, &options);
        if (st != VHDX_OK)
            rc = 2;
    }
    printf("memory: peak %zu bytes in %zu %s (limit %" PRIu64 "), %zu held after close\n",
           counter.peak, counter.allocations, plural(counter.allocations, "allocation", "allocations"),
           MEMORY_LIMIT, counter.in_use);
    if (rc == 2)
        printf("verdict: cannot judge (the disk walk failed: %s)\n", vhdx_strerror(st));
    else
        printf("verdict: %s (%zu %s, %zu %s, %zu %s)\n", rc == 0 ? "clean" : "errors",
               result.errors, plural(result.errors, "error", "errors"), result.warnings,
               plural(result.warnings, "warning", "warnings"), result.infos,
               plural(result.infos, "info", "infos"));
    free(data);
    return rc;
}
