/*
 * vhdx check: the verdict of vhdx-verify (cli_check_run), after an optional
 * repair (-r leaks|all: the log replayed, the spare copies rewritten).
 */

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vhdx_common.h"

/*
 * check -r all, after the replay: the damaged spare copies (a header, a
 * region table copy) rewritten from the good ones by vhdx_repair. An
 * image that does not open writable for its errors is left to the check
 * that follows, which reports them; one that cannot be opened at all is
 * exit 2. Prints one line per copy rewritten, nothing when none was.
 */
static int repair_spares(const char *path, FILE *out)
{
    struct cli_findings fs;
    vhdx_open_options o;
    vhdx_repair_result r;
    vhdx_image *img = NULL;
    vhdx_status st;
    char reason[256];

    cli_findings_init(&fs);
    memset(&o, 0, sizeof(o));
    /* The parent is not read: a repair changes none of the disk's content. */
    o.flags = VHDX_OPEN_WRITABLE | VHDX_OPEN_NO_PARENT;
    o.on_diag = cli_findings_collect;
    o.diag_ctx = &fs;
    st = vhdx_open_path(path, &o, &img);
    if (st != VHDX_OK) {
        int rc = fs.errors > 0 && cli_status_exit(st) != CLI_EXIT_USAGE ? CLI_EXIT_INVALID
                                                                         : CLI_EXIT_USAGE;
        cli_findings_free(&fs);
        if (rc == CLI_EXIT_INVALID)
            return CLI_EXIT_OK; /* the check reports the errors; nothing was written */
        cli_open_failure_reason(path, st, reason, sizeof(reason));
        fprintf(stderr, PROG " check: ");
        cli_text_safe(stderr, path);
        fprintf(stderr, ": cannot open for writing: %s\n", reason);
        return CLI_EXIT_USAGE;
    }
    st = vhdx_repair(img, &r);
    vhdx_close(img);
    cli_findings_free(&fs);
    if (st != VHDX_OK) {
        fprintf(stderr, PROG " check: ");
        cli_text_safe(stderr, path);
        fprintf(stderr, ": repairing the spare copies failed: %s\n", vhdx_strerror(st));
        return CLI_EXIT_USAGE;
    }
    if (r.header_rewritten != 0) {
        cli_text_safe(out, path);
        fprintf(out, ": rewrote header %d from header %d\n", r.header_rewritten,
                3 - r.header_rewritten);
    }
    if (r.region_table_rewritten != 0) {
        cli_text_safe(out, path);
        fprintf(out, ": rewrote region table copy %d from copy %d\n", r.region_table_rewritten,
                3 - r.region_table_rewritten);
    }
    return CLI_EXIT_OK;
}

int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_check chk;
    const char *repair = NULL;
    bool json = false;
    int c, rc;

    while ((c = next_option(argc, argv, ":hr:", longopts)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'r':
            repair = optarg;
            break;
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (repair != NULL && strcmp(repair, "leaks") != 0 && strcmp(repair, "all") != 0) {
        usage_error("-r takes 'leaks' or 'all', not '%s'", repair);
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != 1) {
        usage_error(argc - optind == 0 ? "missing IMAGE" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    if (repair != NULL) {
        /* Both levels replay a dirty log into the file; `all` also mends spare copies. */
        rc = replay_in_place("check", argv[optind], false, json ? stderr : stdout);
        if (rc == CLI_EXIT_OK && strcmp(repair, "all") == 0)
            rc = repair_spares(argv[optind], json ? stderr : stdout);
        if (rc != CLI_EXIT_OK)
            return finish_stdout(rc);
    }
    cli_check_run(argv[optind], &chk);
    if (json) {
        cli_check_json_begin(stdout);
        cli_check_print_json(stdout, &chk, true);
        cli_check_json_end(stdout);
    } else {
        cli_check_print_text(stdout, &chk, false);
    }
    rc = cli_check_exit(&chk);
    cli_check_free(&chk);
    return finish_stdout(rc);
}
