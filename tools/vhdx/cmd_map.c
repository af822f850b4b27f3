/* vhdx map: the extents of the virtual disk, as text or JSON. */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vhdx_common.h"

static const char *extent_kind_name(vhdx_extent_kind k)
{
    switch (k) {
    case VHDX_EXTENT_DATA:
        return "data";
    case VHDX_EXTENT_ZERO:
        return "zero";
    case VHDX_EXTENT_PARENT:
        return "parent";
    default:
        return "unknown";
    }
}

/*
 * The extent at `offset`, checked: it must start there, be non-empty and
 * end within the disk, or the walk could loop or run off the end.
 */
static int map_at(const char *path, vhdx_image *img, const struct cli_findings *fs, uint64_t offset,
                  uint64_t virtual_size, vhdx_extent *e)
{
    size_t before = fs->count;
    vhdx_status st = vhdx_map_next(img, offset, e);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot map the virtual disk at 0x%" PRIx64 ": %s\n", offset,
                vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    if (e->offset != offset || e->length == 0 || e->length > virtual_size - offset) {
        image_message(path);
        fprintf(stderr,
                "the library returned an impossible extent at 0x%" PRIx64 " (offset 0x%" PRIx64
                ", length 0x%" PRIx64 ")\n",
                offset, e->offset, e->length);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cmd_map(int argc, char **argv)
{
    struct cli_findings fs;
    vhdx_image *img;
    vhdx_info *info;
    const char *path;
    bool json = false, opened = false;
    uint64_t n = 0;
    int rc;

    rc = parse_json_image_args(argc, argv, &json);
    if (rc >= 0)
        return rc;
    path = argv[optind];
    rc = open_image_info("map", path, &fs, &img, &info);
    if (rc == CLI_EXIT_OK) {
        if (json) {
            fputs("[", stdout);
            opened = true;
        }
        for (uint64_t off = 0; rc == CLI_EXIT_OK && off < info->virtual_size; n++) {
            vhdx_extent e;
            rc = map_at(path, img, &fs, off, info->virtual_size, &e);
            if (rc != CLI_EXIT_OK)
                break;
            if (json) {
                printf("%s\n  {\"offset\": %" PRIu64 ", \"length\": %" PRIu64
                       ", \"kind\": \"%s\", \"file_offset\": ",
                       n == 0 ? "" : ",", e.offset, e.length, extent_kind_name(e.kind));
                if (e.kind == VHDX_EXTENT_DATA)
                    printf("%" PRIu64, e.file_offset);
                else
                    fputs("null", stdout);
                printf(", \"bat_state\": \"%s\"}", cli_bat_state_name(e.bat_state));
            } else {
                printf("0x%" PRIx64 " 0x%" PRIx64 " %s", e.offset, e.length,
                       extent_kind_name(e.kind));
                if (e.kind == VHDX_EXTENT_DATA)
                    printf(" file 0x%" PRIx64, e.file_offset);
                printf(" (%s)\n", cli_bat_state_name(e.bat_state));
            }
            off += e.length;
        }
        /* The array is closed even after an error, so the output stays JSON;
         * the exit status says it is incomplete. */
        if (opened)
            fputs(n == 0 ? "]\n" : "\n]\n", stdout);
    }
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}
