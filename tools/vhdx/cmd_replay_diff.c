/* vhdx replay-diff: the log replayed by two engines (and qemu-img), compared. */

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../replay_diff.h"
#include "vhdx_common.h"

int cmd_replay_diff(int argc, char **argv)
{
    static const struct option longopts[] = {{"qemu", no_argument, NULL, 'q'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool qemu = false;
    uint64_t timeout = 60;
    int c;

    while ((c = next_option(argc, argv, ":h", longopts)) != -1) {
        switch (c) {
        case 'q':
            qemu = true;
            break;
        case 't':
            if (!cli_parse_size(optarg, &timeout) || timeout == 0 || timeout > 86400) {
                usage_error("invalid --timeout '%s' (seconds, 1 to 86400)", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        usage_error(argc - optind == 0 ? "missing IMAGE" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    return finish_stdout(replay_diff_run(PROG, argv[optind], qemu, (unsigned)timeout, stdout));
}
