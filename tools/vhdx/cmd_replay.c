/*
 * vhdx replay: a dirty log replayed into the file, or listed (--dry-run);
 * replay_in_place also serves check -r.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhdx_common.h"

struct listing {
    FILE *out;
};

static void print_item(void *ctx, const vhdx_log_item *it)
{
    struct listing *l = ctx;
    if (it->kind == VHDX_LOG_ITEM_ENTRY)
        fprintf(l->out,
                "entry %" PRIu32 ": sequence %" PRIu64 " at log offset 0x%" PRIx64
                ", 0x%" PRIx32 " bytes, tail 0x%" PRIx32 ", %" PRIu32 " descriptors (%" PRIu32
                " data), flushed file offset 0x%" PRIx64 ", last file offset 0x%" PRIx64 "\n",
                it->entry_index, it->sequence_number, it->log_offset, it->entry_length, it->tail,
                it->descriptor_count, it->data_count, it->flushed_file_offset,
                it->last_file_offset);
    else
        fprintf(l->out, "  %s [0x%" PRIx64 ", 0x%" PRIx64 ")\n",
                it->kind == VHDX_LOG_ITEM_DATA ? "data" : "zero", it->file_offset,
                it->file_offset + it->length);
}

/*
 * Replays IMAGE's log into the file (or, dry, lists it): the findings that
 * stop it go to stderr, the summary to `out`.
 */
int replay_in_place(const char *cmd, const char *path, bool dry, FILE *out)
{
    struct cli_findings fs;
    struct listing l = {out};
    vhdx_limits limits;
    vhdx_open_options o;
    vhdx_replay_result r;
    vhdx_status st;
    vhdx_io io;
    int fd, rc = CLI_EXIT_OK;

    fd = open(path, (dry ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, PROG " %s: ", cmd);
        cli_text_safe(stderr, path);
        fprintf(stderr, ": cannot open%s: %s\n", dry ? "" : " for writing", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (vhdx_io_from_fd(fd, !dry, 1, &io) != VHDX_OK) {
        close(fd);
        return CLI_EXIT_USAGE;
    }
    cli_findings_init(&fs);
    memset(&o, 0, sizeof(o));
    o.on_diag = cli_findings_collect;
    o.diag_ctx = &fs;
    /*
     * Replaying was asked for: hold the whole log whatever its length (the
     * format allows up to 4095 MiB, and the header check keeps it inside
     * the file), where a read-only open keeps to the default memory limit.
     */
    limits = vhdx_limits_default();
    limits.max_memory = (uint64_t)4096 << 20;
    o.limits = &limits;
    st = vhdx_replay(&io, &o, dry ? VHDX_REPLAY_DRY_RUN : 0, dry ? print_item : NULL, &l, &r);
    vhdx_io_close(&io);
    if (st != VHDX_OK) {
        rc = fs.errors > 0 && cli_status_exit(st) != CLI_EXIT_USAGE ? CLI_EXIT_INVALID
                                                                      : CLI_EXIT_USAGE;
        fprintf(stderr, PROG " %s: ", cmd);
        cli_text_safe(stderr, path);
        fprintf(stderr, ": %s: %s\n", rc == CLI_EXIT_INVALID ? "cannot replay the log" : "failed",
                vhdx_strerror(st));
    } else if (!r.dirty) {
        fprintf(out, "%s: the log is clean, nothing to replay\n", path);
    } else if (dry) {
        fprintf(out,
                "dry run: %" PRIu32 " entries, %" PRIu64 " descriptors (sequence %" PRIu64
                " to %" PRIu64 ") would be replayed; nothing was written\n",
                r.entries, r.descriptors, r.tail_sequence, r.head_sequence);
    } else {
        fprintf(out,
                "%s: replayed %" PRIu32 " log entries, %" PRIu64 " descriptors (sequence %" PRIu64
                " to %" PRIu64 "); file size 0x%" PRIx64 " -> 0x%" PRIx64 "; the log is now empty\n",
                path, r.entries, r.descriptors, r.tail_sequence, r.head_sequence,
                r.file_size_before, r.file_size_after);
    }
    /*
     * What made entries invalid or stopped the replay (warnings and errors).
     * A clean log has nothing to explain: a damaged spare header is the
     * check's to report (and check -r all's to repair), not the replay's.
     */
    for (size_t i = 0; i < fs.count && (st != VHDX_OK || r.dirty); i++)
        if (fs.items[i].severity != VHDX_SEVERITY_INFO)
            cli_diag_print_text(stderr, &fs.items[i]);
    cli_findings_free(&fs);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    static const struct option longopts[] = {{"dry-run", no_argument, NULL, 'n'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool dry = false;
    int c;

    while ((c = next_option(argc, argv, ":h", longopts)) != -1) {
        switch (c) {
        case 'n':
            dry = true;
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
    return finish_stdout(replay_in_place("replay", argv[optind], dry, stdout));
}
