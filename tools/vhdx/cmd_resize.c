/* vhdx resize: a new virtual size, absolute or relative. */

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vhdx_common.h"

int cmd_resize(int argc, char **argv)
{
    static const struct option longopts[] = {{"force", no_argument, NULL, 'f'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img = NULL;
    vhdx_info *info = NULL;
    const char *path, *size_text;
    uint64_t amount, size = 0;
    const char *negative[4];
    size_t nnegative = 0;
    bool force = false, quiet = false;
    int c, rc, sign;

    /*
     * "-1G" is a relative SIZE, not options: hide the '-' from getopt (which
     * permutes the pointers, not the strings) and put it back below.
     */
    for (int i = 1; i < argc && nnegative < sizeof(negative) / sizeof(negative[0]); i++) {
        if (argv[i][0] == '-' && argv[i][1] >= '0' && argv[i][1] <= '9') {
            argv[i]++;
            negative[nnegative++] = argv[i];
        }
    }
    while ((c = next_option(argc, argv, ":hq", longopts)) != -1) {
        switch (c) {
        case 'f':
            force = true;
            break;
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
    if (argc - optind != 2) {
        usage_error(argc - optind < 2 ? "missing arguments" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++)
        for (size_t k = 0; k < nnegative; k++)
            if (argv[i] == negative[k])
                argv[i]--;
    path = argv[optind];
    size_text = argv[optind + 1];
    if (!cli_parse_size_delta(size_text, &sign, &amount)) {
        usage_error("invalid SIZE '%s'", size_text);
        return CLI_EXIT_USAGE;
    }
    rc = open_image_info("resize", path, &fs, &img, &info);
    vhdx_close(img);
    img = NULL;
    if (rc == CLI_EXIT_OK && info->type == VHDX_DISK_DIFFERENCING) {
        image_message(path);
        fputs("a differencing image cannot be resized: its virtual size is its parent's\n",
              stderr);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK) {
        if (sign > 0 && amount > MAX_VIRTUAL_SIZE - info->virtual_size) {
            fprintf(stderr,
                    PROG " resize: SIZE %s would make the disk larger than 64T (the virtual "
                         "size is %" PRIu64 ")\n",
                    size_text, info->virtual_size);
            rc = CLI_EXIT_USAGE;
        } else if (sign < 0 && amount >= info->virtual_size) {
            fprintf(stderr,
                    PROG " resize: SIZE %s would leave no disk (the virtual size is %" PRIu64
                         ")\n",
                    size_text, info->virtual_size);
            rc = CLI_EXIT_USAGE;
        } else {
            size = sign > 0 ? info->virtual_size + amount
                   : sign < 0 ? info->virtual_size - amount
                              : amount;
        }
    }
    if (rc == CLI_EXIT_OK) {
        int vrc = check_virtual_size(size, info->logical_sector_size, "the new size");
        if (vrc >= 0)
            rc = vrc;
    }
    if (rc == CLI_EXIT_OK && size == info->virtual_size) {
        if (!quiet)
            printf("the virtual size is already %" PRIu64 " bytes: nothing to do\n", size);
        close_image_info(&fs, img, info);
        return finish_stdout(rc);
    }
    if (rc == CLI_EXIT_OK)
        rc = open_writable(path, &fs, &img);
    if (rc == CLI_EXIT_OK) {
        size_t before = fs.count;
        vhdx_status st = vhdx_resize(img, size, force ? VHDX_RESIZE_FORCE : 0u);
        if (st == VHDX_E_STATE && !force && size < info->virtual_size) {
            image_message(path);
            fprintf(stderr,
                    "cannot shrink to %" PRIu64
                    " bytes: blocks past the new end hold data; nothing was changed "
                    "(--force shrinks anyway and loses that data)\n",
                    size);
            rc = CLI_EXIT_INVALID;
        } else if (st != VHDX_OK) {
            image_message(path);
            fprintf(stderr, "cannot resize to %" PRIu64 " bytes: %s\n", size,
                    vhdx_strerror(st));
            print_new_errors(&fs, before);
            rc = cli_status_exit(st);
        } else {
            rc = finish_writing(path, img, &fs);
        }
    }
    if (rc == CLI_EXIT_OK && !quiet)
        printf("resized from %" PRIu64 " to %" PRIu64 " bytes\n", info->virtual_size, size);
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}
