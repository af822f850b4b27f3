/*
 * vhdx-verify: judges untrusted VHDX images without ever writing to them.
 *
 *   vhdx-verify [--json] [--quiet] [--parent-dir DIR]... [--max-memory SIZE] IMAGE...
 *
 * Each image is checked with vhdx_check_path (read-only). The verdict and
 * the findings are printed as text (docs/CLI.md) or as one JSON document
 * (docs/verify-json.md).
 *
 * Exit status: 0 no image has errors (warnings allowed), 1 an image has
 * errors, 2 usage error or an image could not be judged (2 wins over 1).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_common.h"
#include "vhdx.h"

static const char usage_text[] =
    "usage: vhdx-verify [--json] [--quiet] [--parent-dir DIR]... [--max-memory SIZE] IMAGE...\n";

static const char help_text[] =
    "Checks VHDX images against every rule of the format without writing to\n"
    "them, and prints a verdict per image with its findings.\n"
    "\n"
    "Options:\n"
    "  --json       print one JSON document (schema: docs/verify-json.md)\n"
    "  -q, --quiet  print nothing for a good image, only the verdict line for\n"
    "               another; no effect with --json\n"
    "  --parent-dir DIR\n"
    "               a directory, besides the image's own, in which the parent\n"
    "               of a differencing image may lie (repeatable). Without it a\n"
    "               parent is only looked for in the image's own directory\n"
    "  --max-memory SIZE\n"
    "               the most memory the library may hold for one image (default\n"
    "               64M; suffixes K, M, G, T). An image that needs more is not\n"
    "               judged: 'cannot judge', naming the limit (exit 2)\n"
    "  -h, --help   print this help\n"
    "  --version    print the version\n"
    "  --           end of options: every later argument is an IMAGE\n"
    "\n"
    "Verdict lines:\n"
    "  IMAGE: ok (N warnings)\n"
    "  IMAGE: errors (N errors, M warnings)\n"
    "  IMAGE: cannot judge: REASON\n"
    "each followed by one line per finding (error, warning or info):\n"
    "  SEVERITY RULE-ID  at 0xOFFSET: MESSAGE\n"
    "\n"
    "Exit status:\n"
    "  0  no image has errors (warnings and infos allowed)\n"
    "  1  at least one image has errors\n"
    "  2  usage error, or an image could not be judged (missing, unreadable,\n"
    "     I/O error, a limit reached); 2 wins over 1. A limit reached is never\n"
    "     a verdict on the image\n";

/* Standard output's write errors stay in the stream: reported here, once, before exit. */
static int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "vhdx-verify: error writing the output\n");
        return CLI_EXIT_USAGE;
    }
    return rc;
}

int main(int argc, char **argv)
{
    bool json = false, quiet = false, options_done = false;
    int images = 0, rc = CLI_EXIT_OK;
    int ndirs = 0;
    char **paths = calloc((size_t)argc, sizeof(*paths));
    const char **dirs = calloc((size_t)argc, sizeof(*dirs)); /* NULL-terminated */

    if (paths == NULL || dirs == NULL) {
        free(paths);
        free(dirs);
        fprintf(stderr, "vhdx-verify: out of memory\n");
        return CLI_EXIT_USAGE;
    }
    {
        int rc_mm = cli_take_max_memory("vhdx-verify", &argc, argv);
        if (rc_mm >= 0) {
            free(paths);
            free(dirs);
            return rc_mm;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            paths[images++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = true;
        } else if (strcmp(a, "--parent-dir") == 0 || strncmp(a, "--parent-dir=", 13) == 0) {
            const char *dir = a[12] == '=' ? a + 13 : (i + 1 < argc ? argv[++i] : NULL);
            if (dir == NULL || dir[0] == '\0') {
                fprintf(stderr, "vhdx-verify: --parent-dir needs a directory (try --help)\n");
                free(paths);
                free(dirs);
                return CLI_EXIT_USAGE;
            }
            dirs[ndirs++] = dir;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            fputs(help_text, stdout);
            free(paths);
            free(dirs);
            return finish_stdout(CLI_EXIT_OK);
        } else if (strcmp(a, "--version") == 0) {
            printf("vhdx-verify %s\n", vhdx_version());
            free(paths);
            free(dirs);
            return finish_stdout(CLI_EXIT_OK);
        } else {
            fprintf(stderr, "vhdx-verify: unknown option '");
            cli_text_safe(stderr, a);
            fprintf(stderr, "' (try --help)\n");
            free(paths);
            free(dirs);
            return CLI_EXIT_USAGE;
        }
    }
    if (images == 0) {
        fputs(usage_text, stderr);
        free(paths);
        free(dirs);
        return CLI_EXIT_USAGE;
    }
    if (ndirs > 0)
        cli_set_parent_dirs(dirs);

    if (json)
        cli_check_json_begin(stdout);
    for (int i = 0; i < images; i++) {
        struct cli_check c;
        int img_rc;
        cli_check_run(paths[i], &c);
        if (json)
            cli_check_print_json(stdout, &c, i == 0);
        else
            cli_check_print_text(stdout, &c, quiet);
        img_rc = cli_check_exit(&c);
        if (img_rc > rc)
            rc = img_rc;
        cli_check_free(&c);
        (void)fflush(stdout); /* each verdict as it comes; errors stay for finish_stdout */
    }
    if (json)
        cli_check_json_end(stdout);
    free(paths);
    free(dirs);
    return finish_stdout(rc);
}
