/* vhdx create: a new image (dynamic, fixed or differencing). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_common.h"

/*
 * The parent of a differencing image is found again, each time the child
 * is opened, only inside the child's directory (SECURITY.md). Refuses a
 * parent elsewhere: the image could never be opened with its parent.
 */
static int check_parent_location(const char *image, const char *parent)
{
    char *dir_copy = strdup(image);
    char *dir_real = NULL, *parent_real = NULL;
    int rc = CLI_EXIT_OK;
    size_t n;

    if (dir_copy == NULL) {
        fprintf(stderr, PROG " create: out of memory\n");
        return CLI_EXIT_USAGE;
    }
    dir_real = realpath(dirname(dir_copy), NULL);
    parent_real = realpath(parent, NULL);
    if (dir_real == NULL || parent_real == NULL) {
        fprintf(stderr, PROG " create: ");
        print_path(stderr, dir_real == NULL ? image : parent);
        fprintf(stderr, ": %s\n", strerror(errno));
        rc = CLI_EXIT_USAGE;
    } else {
        n = strlen(dir_real);
        /* Strictly inside: DIR/..., or /... when DIR is the root. */
        if (!(strncmp(parent_real, dir_real, n) == 0 &&
              (parent_real[n] == '/' || (n == 1 && dir_real[0] == '/')) &&
              parent_real[n == 1 ? 1 : n + 1] != '\0')) {
            fprintf(stderr, PROG " create: the parent ");
            print_path(stderr, parent);
            fprintf(stderr, " is not in the directory of ");
            print_path(stderr, image);
            fprintf(stderr, " or below it: parents are only looked for there (SECURITY.md)\n");
            rc = CLI_EXIT_USAGE;
        }
    }
    free(parent_real);
    free(dir_real);
    free(dir_copy);
    return rc;
}

/* "Formatting 'IMAGE', fmt=vhdx size=... " from the created image itself. */
static int print_created(const char *path)
{
    struct cli_findings fs;
    vhdx_image *img = NULL;
    vhdx_info *info = malloc(sizeof(*info));
    int rc;

    cli_findings_init(&fs);
    if (info == NULL) {
        fprintf(stderr, PROG " create: out of memory\n");
        return CLI_EXIT_USAGE;
    }
    rc = cli_open_image_flags(PROG, path, VHDX_OPEN_NO_PARENT, NULL, &fs, &img);
    if (rc == CLI_EXIT_OK)
        rc = get_info(path, img, info);
    if (rc == CLI_EXIT_OK) {
        fputs("Formatting '", stdout);
        print_path(stdout, path);
        printf("', fmt=vhdx size=%" PRIu64 " subformat=%s block_size=%" PRIu32
               " log_size=%" PRIu32 " logical_sector_size=%" PRIu32
               " physical_sector_size=%" PRIu32,
               info->virtual_size, disk_type_name(info->type), info->block_size,
               info->log_length, info->logical_sector_size, info->physical_sector_size);
        putchar('\n');
    }
    vhdx_close(img);
    cli_findings_free(&fs);
    free(info);
    return finish_stdout(rc);
}

int cmd_create(int argc, char **argv)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct create_settings s;
    vhdx_create_options co;
    const char *path;
    uint64_t size = 0;
    bool quiet = false, have_size;
    int c, rc = -1;

    create_settings_init(&s, false);
    while (rc < 0 && (c = next_option(argc, argv, ":hqo:", longopts)) != -1) {
        switch (c) {
        case 'q':
            quiet = true;
            break;
        case 'o':
            rc = parse_create_options(&s, optarg);
            break;
        case 'h':
            print_command_help();
            rc = finish_stdout(CLI_EXIT_OK);
            break;
        default:
            rc = CLI_EXIT_USAGE;
            break;
        }
    }
    if (rc < 0 && (argc - optind < 1 || argc - optind > 2)) {
        usage_error(argc - optind < 1 ? "missing IMAGE" : "too many arguments", NULL);
        rc = CLI_EXIT_USAGE;
    }
    if (rc >= 0) {
        create_settings_free(&s);
        return rc;
    }
    path = argv[optind];
    have_size = argc - optind == 2;
    if (s.type == VHDX_DISK_DIFFERENCING && s.parent == NULL) {
        usage_error("subformat=differencing needs parent=PATH", NULL);
        rc = CLI_EXIT_USAGE;
    } else if (s.type != VHDX_DISK_DIFFERENCING && s.parent != NULL) {
        usage_error("parent=PATH needs subformat=differencing", NULL);
        rc = CLI_EXIT_USAGE;
    } else if (s.type != VHDX_DISK_DIFFERENCING && !have_size) {
        usage_error("missing SIZE", NULL);
        rc = CLI_EXIT_USAGE;
    } else if (have_size && !cli_parse_size(argv[optind + 1], &size)) {
        usage_error("invalid SIZE '%s'", argv[optind + 1]);
        rc = CLI_EXIT_USAGE;
    } else if (have_size) {
        rc = check_virtual_size(size,
                                s.logical_sector_size != 0 ? s.logical_sector_size : 512u, "SIZE");
    }
    if (rc < 0)
        rc = refuse_existing(path);
    if (rc < 0 && s.type == VHDX_DISK_DIFFERENCING) {
        /* The parent must open (it is judged now, not by the library's
         * create), and SIZE and the sector size must be its own. */
        struct cli_findings fs;
        vhdx_image *parent;
        vhdx_info *pinfo;
        rc = open_image_info("create", s.parent, &fs, &parent, &pinfo);
        if (rc == CLI_EXIT_OK && have_size && size != pinfo->virtual_size) {
            fprintf(stderr,
                    PROG " create: SIZE %" PRIu64
                         " differs from the parent's virtual size %" PRIu64
                         " (leave SIZE out)\n",
                    size, pinfo->virtual_size);
            rc = CLI_EXIT_USAGE;
        } else if (rc == CLI_EXIT_OK && s.logical_sector_size != 0 &&
                   s.logical_sector_size != pinfo->logical_sector_size) {
            fprintf(stderr,
                    PROG " create: logical_sector_size %" PRIu32
                         " differs from the parent's %" PRIu32 "\n",
                    s.logical_sector_size, pinfo->logical_sector_size);
            rc = CLI_EXIT_USAGE;
        } else if (rc == CLI_EXIT_OK) {
            size = pinfo->virtual_size;
            rc = check_parent_location(path, s.parent);
        }
        close_image_info(&fs, parent, pinfo);
        if (rc == CLI_EXIT_OK)
            rc = -1;
    }
    if (rc < 0) {
        vhdx_status st;
        memset(&co, 0, sizeof(co));
        co.type = s.type;
        co.virtual_size = s.type == VHDX_DISK_DIFFERENCING ? 0 : size;
        co.block_size = s.block_size;
        co.log_size = s.log_size;
        co.logical_sector_size = s.logical_sector_size;
        co.physical_sector_size = s.physical_sector_size;
        st = vhdx_create_path(path, &co, s.type == VHDX_DISK_DIFFERENCING ? s.parent : NULL,
                              NULL);
        if (st != VHDX_OK) {
            fputs(PROG " create: ", stderr);
            print_path(stderr, path);
            fprintf(stderr, ": cannot create: %s\n", vhdx_strerror(st));
            rc = create_failure_exit(st);
        } else {
            rc = quiet ? CLI_EXIT_OK : print_created(path);
        }
    }
    create_settings_free(&s);
    return rc;
}
