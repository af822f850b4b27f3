/* vhdx commit: a differencing image merged into its parent (vhdx_commit_path). */

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhdx_common.h"

/* vhdx_commit's progress on the -p display (never cancels). */
static int commit_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)total;
    progress_update(ctx, done);
    return 0;
}

int cmd_commit(int argc, char **argv)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct progress pg = {false, !isatty(STDERR_FILENO), 0, -1, 0};
    struct cli_findings cfs, pfs;
    vhdx_image *child = NULL;
    vhdx_info *cinfo = NULL;
    vhdx_commit_options co;
    vhdx_commit_result res;
    vhdx_open_options oo;
    vhdx_limits limits = writing_limits();
    vhdx_status st;
    const char *path;
    char *parent_path = NULL;
    bool quiet = false;
    int c, rc;

    while ((c = next_option(argc, argv, ":hpq", longopts)) != -1) {
        switch (c) {
        case 'p':
            pg.on = true;
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
    if (argc - optind != 1) {
        usage_error(argc - optind == 0 ? "missing CHILD" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    path = argv[optind];
    cli_findings_init(&pfs);
    /* 1. The whole chain, read-only: CHILD must be valid and differencing. */
    rc = open_image_info("commit", path, &cfs, &child, &cinfo);
    vhdx_close(child);
    if (rc == CLI_EXIT_OK && cinfo->type != VHDX_DISK_DIFFERENCING) {
        image_message(path);
        fputs("not a differencing image: it has no parent to commit into\n", stderr);
        rc = CLI_EXIT_USAGE;
    }
    if (rc != CLI_EXIT_OK) {
        close_image_info(&cfs, NULL, cinfo);
        return rc;
    }
    /* 2. The library does the rest: crash-safe, and a new run finishes an interrupted one. */
    memset(&co, 0, sizeof(co));
    memset(&oo, 0, sizeof(oo));
    pg.total = cinfo->virtual_size;
    co.progress = commit_progress;
    co.progress_ctx = &pg;
    oo.limits = &limits;
    oo.on_diag = cli_findings_collect;
    oo.diag_ctx = &pfs;
    st = vhdx_commit_path(path, &co, &oo, &parent_path, &res);
    if (st == VHDX_OK) {
        progress_end(&pg);
    } else {
        if (pg.on && !pg.lines && pg.shown >= 0)
            fputc('\n', stderr);
        image_message(path);
        if (st == VHDX_E_RANGE) {
            fputs("the virtual size differs from the parent's: cannot commit\n", stderr);
        } else {
            fputs("cannot commit into ", stderr);
            print_path(stderr, parent_path != NULL ? parent_path : "its parent");
            fprintf(stderr, ": %s\n", vhdx_strerror(st));
        }
        print_new_errors(&pfs, 0);
        if (st == VHDX_E_IO || st == VHDX_E_NOMEM || st == VHDX_E_LIMIT ||
            st == VHDX_E_BAD_STATE) {
            fputs(PROG " commit: the commit stopped part way; ", stderr);
            print_path(stderr, path);
            fputs(" still reads as before: run the commit again to finish it\n", stderr);
        }
        rc = cli_status_exit(st);
    }
    if (rc == CLI_EXIT_OK && !quiet) {
        if (res.data_bytes == 0 && res.zero_bytes == 0) {
            print_path(stdout, path);
            fputs(": nothing to commit: every block reads from the parent; nothing was "
                  "written\n",
                  stdout);
        } else {
            fputs("committed ", stdout);
            print_path(stdout, path);
            fputs(" into ", stdout);
            print_path(stdout, parent_path);
            printf(": %" PRIu64 " bytes of data written, %" PRIu64 " bytes zeroed\n",
                   res.data_bytes, res.zero_bytes);
            print_path(stdout, path);
            fputs(" now names the parent's new DataWriteGuid: it still opens and reads the "
                  "same; it can be deleted\n",
                  stdout);
        }
    }
    cli_findings_free(&pfs);
    close_image_info(&cfs, NULL, cinfo);
    free(parent_path);
    return finish_stdout(rc);
}
