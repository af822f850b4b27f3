/* vhdx read: a range of the virtual disk to standard output. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhdx_common.h"

/* Reads and writes of the virtual disk go in pieces of this size. */
#define IO_CHUNK (4u << 20)

/* Writes all of buf to fd at its current position. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads len bytes of the virtual disk at off into buf, reporting a failure. */
static int read_disk(const char *path, vhdx_image *img, const struct cli_findings *fs, uint64_t off,
                     uint8_t *buf, size_t len)
{
    size_t before = fs->count;
    vhdx_status st = vhdx_read(img, off, buf, len);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot read the virtual disk at 0x%" PRIx64 ": %s\n", off,
                vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    return CLI_EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img;
    vhdx_info *info;
    uint64_t offset, length;
    uint8_t *buf = NULL;
    const char *path;
    int c, rc;

    while ((c = next_option(argc, argv, ":h", longopts)) != -1) {
        switch (c) {
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (!image_offset_length(argc, argv, &path, &offset, &length))
        return CLI_EXIT_USAGE;
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, PROG " read: standard output is a terminal; redirect it to a file "
                             "or a pipe\n");
        return CLI_EXIT_USAGE;
    }
    rc = open_image_info("read", path, &fs, &img, &info);
    if (rc == CLI_EXIT_OK &&
        (offset > info->virtual_size || length > info->virtual_size - offset)) {
        fprintf(stderr,
                PROG " read: the range 0x%" PRIx64 " + 0x%" PRIx64
                     " is outside the virtual disk (size 0x%" PRIx64 ")\n",
                offset, length, info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && length != 0) {
        buf = malloc(length < IO_CHUNK ? (size_t)length : IO_CHUNK);
        if (buf == NULL) {
            fprintf(stderr, PROG " read: out of memory\n");
            rc = CLI_EXIT_USAGE;
        }
    }
    for (uint64_t done = 0; rc == CLI_EXIT_OK && done < length;) {
        size_t n = length - done < IO_CHUNK ? (size_t)(length - done) : IO_CHUNK;
        rc = read_disk(path, img, &fs, offset + done, buf, n);
        if (rc != CLI_EXIT_OK)
            break;
        if (write_all(STDOUT_FILENO, buf, n) != 0) {
            fprintf(stderr, PROG " read: writing to standard output: %s\n", strerror(errno));
            rc = CLI_EXIT_USAGE;
            break;
        }
        done += n;
    }
    free(buf);
    close_image_info(&fs, img, info);
    return rc;
}
