/* vhdx discard: the whole blocks of a range given back (they read as zeros). */

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vhdx_common.h"

int cmd_discard(int argc, char **argv)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img = NULL;
    vhdx_info *info = NULL;
    const char *path;
    uint64_t offset, length, discarded = 0;
    bool quiet = false;
    int c, rc;

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
    if (!image_offset_length(argc, argv, &path, &offset, &length))
        return CLI_EXIT_USAGE;
    rc = open_image_info("discard", path, &fs, &img, &info);
    vhdx_close(img);
    img = NULL;
    if (rc == CLI_EXIT_OK &&
        (offset > info->virtual_size || length > info->virtual_size - offset)) {
        range_outside("discard", offset, length, info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && length != 0)
        rc = open_writable(path, &fs, &img);
    if (rc == CLI_EXIT_OK && length != 0) {
        size_t before = fs.count;
        vhdx_status st = vhdx_discard(img, offset, length, &discarded);
        rc = st != VHDX_OK ? write_failure(path, "discard", offset, st, &fs, before)
                           : finish_writing(path, img, &fs);
    }
    if (rc == CLI_EXIT_OK && !quiet)
        printf("discarded %" PRIu64 " bytes\n", discarded);
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}
