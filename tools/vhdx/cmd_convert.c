/*
 * vhdx convert: the virtual disk to a raw file (-O raw, sparse) or to a new
 * VHDX image (-O vhdx, from a VHDX or raw SRC).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vhdx_common.h"

/* ---- convert -O raw ---- */

/* Writes all of buf to fd at offset off. */
/*
 * Writes are issued in pieces of at most 128 KiB. The kernel sizes the
 * output's page-cache folios by the write size, and fresh 2 MiB folios (what
 * 4 MiB writes get) made convert 3-4x slower and erratic on the benchmark
 * machine (bench/README.md); 128 KiB is what cp uses.
 */
#define WRITE_PIECE ((size_t)128 * 1024)

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len < WRITE_PIECE ? len : WRITE_PIECE, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* The library's progress callback: the -p display. Never cancels. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    p->total = total;
    progress_update(p, done);
    return 0;
}

/*
 * The raw DST of convert, as vhdx_export_raw's sink: pwrite at the disk
 * offset, remembering why a write failed (the library says only E_IO).
 */
struct raw_sink {
    int fd;
    int error; /* errno of the failed write, 0 while none failed */
};

static vhdx_status raw_sink_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct raw_sink *r = ctx;
    if (pwrite_all(r->fd, buf, len, offset) != 0) {
        r->error = errno != 0 ? errno : EIO;
        return VHDX_E_IO;
    }
    return VHDX_OK;
}

/*
 * Opens DST for writing: created when absent (mode 0644), else checked and
 * emptied. Refuses a DST that is the source file, is not a regular file, or
 * holds a VHDX image (it could be the source's parent). *created tells
 * whether a failure may remove it.
 */
static int open_destination(const char *dst, const struct stat *src_st, int *fd_out, bool *created)
{
    struct stat st;
    char sig[8];
    ssize_t got;
    int fd;

    *created = false;
    fd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd >= 0) {
        *created = true;
        *fd_out = fd;
        return CLI_EXIT_OK;
    }
    if (errno == EEXIST)
        fd = open(dst, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": %s\n", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_dev == src_st->st_dev && st.st_ino == src_st->st_ino)) {
        const char *why = !S_ISREG(st.st_mode) ? "not a regular file" : "it is the source image";
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": refusing to write: %s\n", why);
        close(fd);
        return CLI_EXIT_USAGE;
    }
    do
        got = pread(fd, sig, sizeof(sig), 0);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(sig) && memcmp(sig, "vhdxfile", sizeof(sig)) == 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": refusing to overwrite a VHDX image (remove it first)\n");
        close(fd);
        return CLI_EXIT_USAGE;
    }
    /* Old contents must go: skipped ranges have to read as zeros. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || ftruncate(fd, 0) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": %s\n", strerror(errno));
        close(fd);
        return CLI_EXIT_USAGE;
    }
    *fd_out = fd;
    return CLI_EXIT_OK;
}

static int destination_error(const char *dst, const char *what)
{
    int e = errno;
    fputs(PROG " convert: ", stderr);
    print_path(stderr, dst);
    fprintf(stderr, ": %s: %s\n", what, strerror(e));
    return CLI_EXIT_USAGE;
}

/* Copies the whole virtual disk to fd (vhdx_export_raw), leaving holes for zeros. */
static int convert_to_raw(const char *src, vhdx_image *img, const struct cli_findings *fs,
                          uint64_t size, int fd, const char *dst, struct progress *pg)
{
    struct raw_sink sink = {fd, 0};
    vhdx_export_options eo;
    size_t before = fs->count;
    vhdx_status st;

    memset(&eo, 0, sizeof(eo));
    eo.sink = raw_sink_write;
    eo.sink_ctx = &sink;
    if (pg->on) {
        eo.progress = show_progress;
        eo.progress_ctx = pg;
    }
    st = vhdx_export_raw(img, -1, &eo);
    if (st != VHDX_OK && sink.error != 0) {
        errno = sink.error;
        return destination_error(dst, "write");
    }
    if (st != VHDX_OK) {
        image_message(src);
        fprintf(stderr, "cannot read the virtual disk: %s\n", vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    if (ftruncate(fd, (off_t)size) != 0)
        return destination_error(dst, "setting the size");
    if (fsync(fd) != 0)
        return destination_error(dst, "flush");
    return CLI_EXIT_OK;
}

/* ---- convert -O vhdx ---- */

struct source {
    const char *path;
    int fd;                  /* a raw SRC, else -1 */
    vhdx_image *img;         /* a VHDX SRC, else NULL */
    struct cli_findings *fs; /* the VHDX SRC's findings */
    uint64_t size;           /* the bytes SRC has: the raw file's size, or the virtual size */
};

/*
 * Opens SRC for convert -O vhdx: a VHDX (by its signature) read-only
 * through its chain, or anything else as raw bytes (a regular file or a
 * block device).
 */
static int open_source(struct source *s, const char *path, vhdx_info **info)
{
    struct stat st;
    char sig[8];
    ssize_t got;
    int fd, rc;

    memset(s, 0, sizeof(*s));
    s->path = path;
    s->fd = -1;
    *info = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n",
                S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file or block device");
        close(fd);
        return CLI_EXIT_USAGE;
    }
    do
        got = pread(fd, sig, sizeof(sig), 0);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(sig) && memcmp(sig, "vhdxfile", sizeof(sig)) == 0) {
        close(fd);
        s->fs = malloc(sizeof(*s->fs));
        if (s->fs == NULL) {
            fprintf(stderr, PROG " convert: out of memory\n");
            return CLI_EXIT_USAGE;
        }
        rc = open_image_info("convert", path, s->fs, &s->img, info);
        if (rc == CLI_EXIT_OK)
            s->size = (*info)->virtual_size;
        return rc;
    }
    if (got < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        close(fd);
        return CLI_EXIT_USAGE;
    }
    if (S_ISREG(st.st_mode)) {
        s->size = (uint64_t)st.st_size;
    } else {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) {
            fputs(PROG " convert: ", stderr);
            print_path(stderr, path);
            fprintf(stderr, ": %s\n", strerror(errno));
            close(fd);
            return CLI_EXIT_USAGE;
        }
        s->size = (uint64_t)end;
    }
    s->fd = fd;
    return CLI_EXIT_OK;
}

static void close_source(struct source *s, vhdx_info *info)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->fs != NULL) {
        close_image_info(s->fs, s->img, info);
        free(s->fs);
    } else {
        free(info);
    }
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

/* Reports a failed vhdx_convert_path by the side that failed; returns the exit status. */
static int convert_failure(const struct source *s, const char *dst, vhdx_status st,
                           const vhdx_convert_result *res, const struct cli_findings *ofs,
                           size_t obefore, size_t sbefore)
{
    if (res->failed_side == VHDX_SIDE_TARGET && res->failed_offset == VHDX_OFFSET_NONE) {
        image_message(dst);
        fprintf(stderr, "cannot finish writing (flush and close the log): %s\n",
                vhdx_strerror(st));
        print_new_errors(ofs, obefore);
        return cli_status_exit(st);
    }
    if (res->failed_side == VHDX_SIDE_TARGET)
        return write_failure(dst, "write", res->failed_offset, st, ofs, obefore);
    if (s->img != NULL) {
        image_message(s->path);
        fprintf(stderr, "cannot read the virtual disk at 0x%" PRIx64 ": %s\n",
                res->failed_offset, vhdx_strerror(st));
        print_new_errors(s->fs, sbefore);
        return cli_status_exit(st);
    }
    fputs(PROG " convert: ", stderr);
    print_path(stderr, s->path);
    fprintf(stderr, ": read at 0x%" PRIx64 ": %s\n", res->failed_offset,
            res->sys_errno != 0 ? strerror(res->sys_errno) : vhdx_strerror(st));
    return CLI_EXIT_USAGE;
}

static int convert_to_vhdx(const char *src, const char *dst, struct create_settings *set,
                           bool progress)
{
    struct progress pg = {progress, !isatty(STDERR_FILENO), 0, -1, 0};
    struct source s;
    struct cli_findings ofs;
    vhdx_convert_options co;
    vhdx_convert_result res;
    vhdx_source vs;
    vhdx_info *info = NULL;
    uint32_t lss;
    int rc;

    cli_findings_init(&ofs);
    rc = open_source(&s, src, &info);
    memset(&co, 0, sizeof(co));
    co.create.type = set->type;
    co.create.block_size = set->block_size;
    co.create.log_size = set->log_size;
    co.create.logical_sector_size = set->logical_sector_size;
    co.create.physical_sector_size = set->physical_sector_size;
    if (rc == CLI_EXIT_OK && s.img != NULL && !set->given[KEY_LOGICAL_SECTOR_SIZE])
        co.create.logical_sector_size = info->logical_sector_size;
    lss = co.create.logical_sector_size != 0 ? co.create.logical_sector_size : 512u;
    if (rc == CLI_EXIT_OK && s.size == 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fputs(": SRC is empty (a virtual disk has at least one sector)\n", stderr);
        rc = CLI_EXIT_USAGE;
    } else if (rc == CLI_EXIT_OK && s.size > MAX_VIRTUAL_SIZE) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fprintf(stderr, ": SRC has %" PRIu64 " bytes, more than 64T, the largest VHDX disk\n",
                s.size);
        rc = CLI_EXIT_USAGE;
    } else if (rc == CLI_EXIT_OK && s.size % lss != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fprintf(stderr,
                ": %" PRIu64 " bytes is not a multiple of the logical sector size %" PRIu32
                ": the virtual disk is %" PRIu64 " bytes, the rest padded with zeros\n",
                s.size, lss, (s.size + lss - 1) / lss * lss);
    }
    if (rc == CLI_EXIT_OK) {
        rc = refuse_existing(dst);
        if (rc < 0)
            rc = CLI_EXIT_OK;
    }
    if (rc == CLI_EXIT_OK) {
        /* Built unsealed: no reader accepts DST until it is complete. */
        vhdx_limits limits = writing_limits();
        vhdx_open_options oo;
        size_t sbefore = s.fs != NULL ? s.fs->count : 0;
        vhdx_status st;
        memset(&oo, 0, sizeof(oo));
        oo.limits = &limits;
        oo.on_diag = cli_findings_collect;
        oo.diag_ctx = &ofs;
        memset(&vs, 0, sizeof(vs));
        vs.kind = s.img != NULL ? VHDX_SOURCE_IMAGE : VHDX_SOURCE_FD;
        vs.image = s.img;
        vs.fd = s.fd;
        if (pg.on) {
            co.progress = show_progress;
            co.progress_ctx = &pg;
        }
        st = vhdx_convert_path(&vs, dst, &co, NULL, &oo, &res);
        if (st != VHDX_OK && res.failed_side == 0) {
            /* Nothing was made: the creation itself failed. */
            if (pg.on && !pg.lines && pg.shown >= 0)
                fputc('\n', stderr);
            fputs(PROG " convert: ", stderr);
            print_path(stderr, dst);
            fprintf(stderr, ": cannot create: %s\n", vhdx_strerror(st));
            close_source(&s, info);
            cli_findings_free(&ofs);
            return create_failure_exit(st);
        }
        if (st == VHDX_OK) {
            progress_end(&pg);
        } else {
            if (pg.on && !pg.lines)
                fputc('\n', stderr);
            rc = convert_failure(&s, dst, st, &res, &ofs, 0, sbefore);
            /* vhdx_convert_path removed the unsealed DST. */
            fputs(access(dst, F_OK) != 0 ? PROG " convert: removed the incomplete "
                                         : PROG " convert: left incomplete: ",
                  stderr);
            print_path(stderr, dst);
            fputc('\n', stderr);
        }
    }
    cli_findings_free(&ofs);
    close_source(&s, info);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    struct progress pg = {false, false, 0, -1, 0};
    struct stat src_st;
    vhdx_image *img;
    vhdx_info *info;
    const char *format = "raw", *options[16], *src, *dst;
    size_t noptions = 0;
    bool created = false;
    int c, rc, fd = -1;

    while ((c = next_option(argc, argv, ":hpO:o:", longopts)) != -1) {
        switch (c) {
        case 'p':
            pg.on = true;
            break;
        case 'O':
            format = optarg;
            break;
        case 'o':
            if (noptions == sizeof(options) / sizeof(options[0])) {
                usage_error("too many -o options", NULL);
                return CLI_EXIT_USAGE;
            }
            options[noptions++] = optarg;
            break;
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(format, "raw") != 0 && strcmp(format, "vhdx") != 0) {
        usage_error("unknown output format '%s' (raw or vhdx)", format);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "raw") == 0 && noptions != 0) {
        usage_error("raw output takes no -o options ('%s')", options[0]);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "vhdx") == 0) {
        struct create_settings set;
        create_settings_init(&set, true);
        rc = -1;
        for (size_t i = 0; rc < 0 && i < noptions; i++)
            rc = parse_create_options(&set, options[i]);
        if (rc < 0 && argc - optind != 2) {
            usage_error(argc - optind < 2 ? "missing SRC or DST" : "too many arguments", NULL);
            rc = CLI_EXIT_USAGE;
        }
        if (rc < 0) {
            /* Past a file size limit, fail the write (EFBIG) and clean up. */
            (void)signal(SIGXFSZ, SIG_IGN); /* cannot fail: a valid signal and handler */
            rc = convert_to_vhdx(argv[optind], argv[optind + 1], &set, pg.on);
        }
        create_settings_free(&set);
        return rc;
    }
    if (argc - optind != 2) {
        usage_error(argc - optind < 2 ? "missing SRC or DST" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    src = argv[optind];
    dst = argv[optind + 1];
    /* Raw output: progress only on a terminal (-O vhdx prints lines otherwise). */
    pg.on = pg.on && isatty(STDERR_FILENO);
    /* Past a file size limit, fail the write (EFBIG) and clean up instead of dying. */
    (void)signal(SIGXFSZ, SIG_IGN); /* cannot fail: a valid signal and handler */

    rc = open_image_info("convert", src, &fs, &img, &info);
    if (rc == CLI_EXIT_OK && stat(src, &src_st) != 0) {
        image_message(src);
        fprintf(stderr, "%s\n", strerror(errno));
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && info->virtual_size > (uint64_t)INT64_MAX) {
        image_message(src);
        fprintf(stderr, "the virtual size 0x%" PRIx64 " is too large for a file\n",
                info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK)
        rc = open_destination(dst, &src_st, &fd, &created);
    if (rc == CLI_EXIT_OK) {
        pg.total = info->virtual_size;
        rc = convert_to_raw(src, img, &fs, info->virtual_size, fd, dst, &pg);
        if (pg.on)
            fputc('\n', stderr);
        if (close(fd) != 0 && rc == CLI_EXIT_OK)
            rc = destination_error(dst, "close");
        if (rc != CLI_EXIT_OK) {
            /* Remove only what this command created; an existing file stays. */
            bool removed = created && unlink(dst) == 0;
            fputs(removed ? PROG " convert: removed the incomplete "
                          : PROG " convert: left incomplete: ",
                  stderr);
            print_path(stderr, dst);
            fputc('\n', stderr);
        }
    }
    close_image_info(&fs, img, info);
    return rc;
}
