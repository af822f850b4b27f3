/* vhdx write: the bytes of a file or of standard input into the virtual disk. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vhdx_common.h"

/* FILE is read and written in pieces of this size. */
#define WRITE_CHUNK ((size_t)1 << 20)

/* Reads up to len bytes (less only at the end of the input). -1 on error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*
 * Opens FILE for `vhdx write` ('-': standard input, which must not be a
 * terminal). *known_size is its size when it is a regular file, else
 * UINT64_MAX (a pipe: the range is checked while reading).
 */
static int open_input(const char *file, const char *image, int *fd_out, uint64_t *known_size)
{
    struct stat fst, ist;
    int fd;

    *known_size = UINT64_MAX;
    if (strcmp(file, "-") == 0) {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, PROG " write: standard input is a terminal; redirect it from a file "
                                 "or a pipe\n");
            return CLI_EXIT_USAGE;
        }
        fd = STDIN_FILENO;
    } else {
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            fputs(PROG " write: ", stderr);
            print_path(stderr, file);
            fprintf(stderr, ": %s\n", strerror(errno));
            return CLI_EXIT_USAGE;
        }
    }
    if (fstat(fd, &fst) != 0 || S_ISDIR(fst.st_mode)) {
        int e = S_ISDIR(fst.st_mode) ? EISDIR : errno;
        fputs(PROG " write: ", stderr);
        print_path(stderr, file);
        fprintf(stderr, ": %s\n", strerror(e));
        if (fd != STDIN_FILENO)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (stat(image, &ist) == 0 && ist.st_dev == fst.st_dev && ist.st_ino == fst.st_ino) {
        fputs(PROG " write: ", stderr);
        print_path(stderr, file);
        fputs(": FILE is the image itself\n", stderr);
        if (fd != STDIN_FILENO)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (S_ISREG(fst.st_mode) && fst.st_size >= 0)
        *known_size = (uint64_t)fst.st_size;
    *fd_out = fd;
    return CLI_EXIT_OK;
}

int cmd_write(int argc, char **argv)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img = NULL;
    vhdx_info *info = NULL;
    const char *path, *file;
    uint64_t offset, known, done = 0;
    uint8_t *buf = NULL;
    bool quiet = false, write_failed = false, overflow = false;
    int c, rc, fd = -1;

    while ((c = next_option(argc, argv, ":hq", longopts)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 3) {
        usage_error(argc - optind < 3 ? "missing arguments" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    path = argv[optind];
    file = argv[optind + 2];
    if (!cli_parse_size(argv[optind + 1], &offset)) {
        usage_error("invalid OFFSET '%s'", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    rc = open_input(file, path, &fd, &known);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* The image is judged before it is opened for writing: an invalid
     * image is refused without a byte written (a writable open would
     * replay a dirty log in place first). */
    rc = open_image_info("write", path, &fs, &img, &info);
    vhdx_close(img);
    img = NULL;
    if (rc == CLI_EXIT_OK && (offset > info->virtual_size ||
                              (known != UINT64_MAX && known > info->virtual_size - offset))) {
        range_outside("write", offset, known == UINT64_MAX ? 0 : known, info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK) {
        buf = malloc(WRITE_CHUNK);
        if (buf == NULL) {
            fprintf(stderr, PROG " write: out of memory\n");
            rc = CLI_EXIT_USAGE;
        }
    }
    if (rc == CLI_EXIT_OK)
        rc = open_writable(path, &fs, &img);
    while (rc == CLI_EXIT_OK) {
        ssize_t got = read_full(fd, buf, WRITE_CHUNK);
        size_t before = fs.count;
        vhdx_status st;
        if (got < 0) {
            fputs(PROG " write: ", stderr);
            print_path(stderr, file);
            fprintf(stderr, ": %s\n", strerror(errno));
            rc = CLI_EXIT_USAGE;
            break;
        }
        if (got == 0)
            break;
        if ((uint64_t)got > info->virtual_size - offset - done) {
            /* Only a pipe (or a growing file) gets here: more bytes than
             * the disk has room for. What fits is written. */
            got = (ssize_t)(info->virtual_size - offset - done);
            overflow = true;
            if (got == 0)
                break;
        }
        st = vhdx_write(img, offset + done, buf, (size_t)got);
        if (st != VHDX_OK) {
            rc = write_failure(path, "write", offset + done, st, &fs, before);
            write_failed = true;
            break;
        }
        done += (uint64_t)got;
        if (overflow)
            break;
    }
    if (img != NULL && !write_failed) {
        /* What was written is kept (and the session closed) even after a
         * read error or a pipe that ran past the end; after a failed write
         * the handle is failed and the log recovers what reached the file
         * at the next open. */
        int frc = finish_writing(path, img, &fs);
        if (rc == CLI_EXIT_OK)
            rc = frc;
    }
    if (rc == CLI_EXIT_OK && overflow) {
        fprintf(stderr,
                PROG " write: FILE goes past the end of the virtual disk (size 0x%" PRIx64
                     "): only the 0x%" PRIx64 " bytes up to the end were written\n",
                info->virtual_size, done);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && !quiet)
        printf("wrote %" PRIu64 " bytes at offset %" PRIu64 "\n", done, offset);
    free(buf);
    if (fd >= 0 && fd != STDIN_FILENO)
        close(fd);
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}
