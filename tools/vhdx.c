/*
 * vhdx: the multi-command tool over the library's public interface.
 *
 *   vhdx info [--json] IMAGE
 *   vhdx check [--json] [-r leaks|all] IMAGE
 *   vhdx map [--json] IMAGE
 *   vhdx read IMAGE OFFSET LENGTH > bytes
 *   vhdx create [-q] [-o OPTIONS] IMAGE [SIZE]
 *   vhdx write [-q] IMAGE OFFSET FILE
 *   vhdx discard [-q] IMAGE OFFSET LENGTH
 *   vhdx resize [-q] [--force] IMAGE [+|-]SIZE
 *   vhdx convert [-p] [-O raw|vhdx] [-o OPTIONS] SRC DST
 *   vhdx commit [-p] [-q] CHILD
 *   vhdx replay [--dry-run] IMAGE
 *   vhdx replay-diff [--qemu [--timeout SECONDS]] IMAGE
 *
 * Reading commands open images read-only; create, write, discard, resize,
 * convert -O vhdx and commit go through the library's writer. Exit status:
 * 0 success, 1 the image is invalid (or refused), 2 usage or I/O error
 * (docs/CLI.md has the details).
 *
 * This file holds main() and the command table (each command's usage and
 * help text); each command is in vhdx/cmd_NAME.c, what several share in
 * vhdx/vhdx_common.c.
 */

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli_common.h"
#include "vhdx.h"
#include "vhdx/vhdx_common.h"

/* ---- main ---- */

static const struct command commands[] = {
    {"info", cmd_info, "usage: vhdx info [--json] [--max-memory SIZE] IMAGE\n",
     "Describes an image: type, sizes, geometry, headers, GUIDs, log, parent and\n"
     "creator.\n"
     "\n"
     "  --json  print one JSON object (docs/verify-json.md)\n"
     "  --max-memory SIZE  the most memory the library may hold while reading\n"
     "                    the image (default 64M); an image that needs more is\n"
     "                    not judged (exit 2)\n"
     "\n"
     "Exit status: 0 success, 1 the image is invalid, 2 usage or I/O error, or\n"
     "a limit reached.\n"},
    {"check", cmd_check, "usage: vhdx check [--json] [-r leaks|all] [--max-memory SIZE] IMAGE\n",
     "Checks an image against every rule of the format without writing to it\n"
     "(unless -r); prints exactly what 'vhdx-verify IMAGE' prints. A dirty log\n"
     "is replayed in memory and the replayed view is judged.\n"
     "\n"
     "  --json            print one JSON document (docs/verify-json.md)\n"
     "  -r leaks|all      repair first, writing to IMAGE: a dirty log is replayed\n"
     "                    into the file and the headers updated (as 'vhdx replay');\n"
     "                    with 'all', a damaged spare header or region table copy\n"
     "                    is then rewritten from the good one (vhdx_repair). Then\n"
     "                    the repaired image is checked\n"
     "  --max-memory SIZE  the most memory the library may hold while reading\n"
     "                    the image (default 64M); an image that needs more is\n"
     "                    not judged (exit 2)\n"
     "\n"
     "Exit status: 0 no errors (warnings allowed), 1 the image has errors,\n"
     "2 usage or I/O error, or a limit reached (the image could not be judged).\n"},
    {"map", cmd_map, "usage: vhdx map [--json] [--max-memory SIZE] IMAGE\n",
     "Lists what backs each run of the virtual disk, one extent per line:\n"
     "  0xOFFSET 0xLENGTH data file 0xFILE_OFFSET (STATE)\n"
     "  0xOFFSET 0xLENGTH zero (STATE)\n"
     "  0xOFFSET 0xLENGTH parent (STATE)\n"
     "STATE is the payload block state behind the extent (FULLY_PRESENT, ZERO,\n"
     "NOT_PRESENT, UNMAPPED, UNDEFINED, PARTIALLY_PRESENT).\n"
     "\n"
     "  --json  print a JSON array of extent objects (docs/verify-json.md)\n"
     "  --max-memory SIZE  the most memory the library may hold while reading\n"
     "                    the image (default 64M); an image that needs more is\n"
     "                    not judged (exit 2)\n"
     "\n"
     "Exit status: 0 success, 1 the image is invalid, 2 usage or I/O error, or\n"
     "a limit reached.\n"},
    {"read", cmd_read, "usage: vhdx read [--max-memory SIZE] IMAGE OFFSET LENGTH > FILE\n",
     "Writes LENGTH bytes of the virtual disk from OFFSET to standard output,\n"
     "which must not be a terminal. OFFSET and LENGTH are decimal or 0x-hex\n"
     "with an optional suffix K, M, G or T (powers of 1024).\n"
     "\n"
     "  --max-memory SIZE  the most memory the library may hold while reading\n"
     "                    the image (default 64M); an image that needs more is\n"
     "                    not judged (exit 2)\n"
     "\n"
     "Exit status: 0 success; 1 the image is invalid (it does not open, or a\n"
     "structure needed for the range is corrupt); 2 usage error (including a\n"
     "range beyond the virtual size) or I/O error.\n"},
    {"create", cmd_create, "usage: vhdx create [-q] [-o OPTIONS] IMAGE [SIZE]\n",
     "Creates a new VHDX image at IMAGE, which must not exist. SIZE, the virtual\n"
     "size, is a multiple of the logical sector size from one sector to 64T. A\n"
     "differencing image has its parent's size: leave SIZE out, or give exactly\n"
     "that. Prints one line describing the image made (with the block size the\n"
     "automatic choice gave):\n"
     "  Formatting 'IMAGE', fmt=vhdx size=N subformat=S block_size=N log_size=N\n"
     "  logical_sector_size=N physical_sector_size=N\n"
     "\n"
     "  -o OPTIONS  KEY=VALUE,... (',,' is a comma inside a value; -o may be\n"
     "              repeated; '-o help' lists the options):\n" CREATE_OPTIONS_HELP
     "  -q          print nothing on success\n"
     "\n"
     "Exit status: 0 created; 1 the parent is invalid; 2 usage or I/O error\n"
     "(IMAGE exists, an option is out of range).\n"},
    {"write", cmd_write, "usage: vhdx write [-q] IMAGE OFFSET FILE\n",
     "Writes the bytes of FILE ('-': standard input, not a terminal) to the\n"
     "virtual disk of IMAGE from OFFSET, 1 MiB at a time, then ends the write\n"
     "session (everything flushed, the log closed). Prints\n"
     "'wrote N bytes at offset OFFSET'. A dirty log is first replayed into IMAGE.\n"
     "\n"
     "  -q  print nothing on success\n"
     "\n"
     "Exit status: 0 written; 1 the image is invalid; 2 usage error (including\n"
     "a range beyond the virtual size) or I/O error.\n"},
    {"discard", cmd_discard, "usage: vhdx discard [-q] IMAGE OFFSET LENGTH\n",
     "Discards the whole blocks inside the range: they read as zeros and give\n"
     "their space back (UNMAPPED in a dynamic image, ZERO in a differencing one,\n"
     "so that the parent does not show through). Parts of blocks at either end\n"
     "are left as they are. A fixed image keeps its blocks: the range is\n"
     "written with zeros. Prints 'discarded N bytes': the bytes whose blocks\n"
     "changed.\n"
     "\n"
     "  -q  print nothing on success\n"
     "\n"
     "Exit status: 0 done; 1 the image is invalid; 2 usage error (including a\n"
     "range beyond the virtual size) or I/O error.\n"},
    {"resize", cmd_resize, "usage: vhdx resize [-q] [--force] IMAGE [+|-]SIZE\n",
     "Changes the virtual size of IMAGE to SIZE, or by +SIZE or -SIZE. The new\n"
     "size is a multiple of the logical sector size from one sector to 64T.\n"
     "Growing adds blocks that read as zeros. Shrinking is refused when a block\n"
     "past the new end holds data, unless --force, which drops that data.\n"
     "Differencing images cannot be resized. Prints\n"
     "'resized from OLD to NEW bytes'.\n"
     "\n"
     "  --force  shrink even when data past the new end is lost\n"
     "  -q       print nothing on success\n"
     "\n"
     "Exit status: 0 resized (or already that size); 1 the image is invalid,\n"
     "or shrinking was refused (data past the new end); 2 usage or I/O error.\n"},
    {"convert", cmd_convert, "usage: vhdx convert [-p] [-O raw|vhdx] [-o OPTIONS] SRC DST\n",
     "-O raw (the default): writes the virtual disk of the VHDX image SRC to DST\n"
     "as a raw image, sparse: runs that read as zeros (to 4 KiB granularity)\n"
     "become holes. DST is created with mode 0644 or emptied; it must not be SRC\n"
     "or a VHDX image. On failure a DST this command created is removed.\n"
     "\n"
     "-O vhdx: makes a new VHDX image DST (which must not exist) holding SRC's\n"
     "disk. SRC is a VHDX image (a differencing one is read through its parents:\n"
     "DST is flat) or any other file, read as raw bytes (rounded up to whole\n"
     "sectors with zeros). Blocks that read as zeros stay unallocated. On\n"
     "failure DST is removed.\n"
     "\n"
     "  -p          show progress on standard error: in place on a terminal;\n"
     "              with -O vhdx, otherwise a line per 10%\n"
     "  -O raw|vhdx the output format (default raw)\n"
     "  -o OPTIONS  options of the VHDX output, KEY=VALUE,... ('-o help'):\n" CONVERT_OPTIONS_HELP
     "\n"
     "Exit status: 0 success, 1 SRC is invalid, 2 usage or I/O error.\n"},
    {"commit", cmd_commit, "usage: vhdx commit [-p] [-q] CHILD\n",
     "Merges the differencing image CHILD into its parent (the file CHILD's\n"
     "locator names, found as when CHILD is opened): every sector CHILD holds is\n"
     "written to the parent, every range CHILD has zeroed or discarded is zeroed\n"
     "there; what CHILD takes from the parent stays. CHILD is not written, but\n"
     "the parent gets a new DataWriteGuid, so CHILD no longer opens afterwards:\n"
     "it is stale and can be deleted.\n"
     "\n"
     "  -p  show progress on standard error (in place on a terminal, else a\n"
     "      line per 10%)\n"
     "  -q  print nothing on success\n"
     "\n"
     "Exit status: 0 committed (or nothing to commit); 1 CHILD or its parent is\n"
     "invalid, or the parent no longer matches CHILD; 2 usage or I/O error.\n"},
    {"replay", cmd_replay, "usage: vhdx replay [--dry-run] IMAGE\n",
     "Replays a dirty log into IMAGE (VHDX-FORMAT.md §8.7, docs/REPLAY.md): the\n"
     "active sequence is applied, the file extended to the head's LastFileOffset\n"
     "and flushed, then both headers are rewritten with LogGuid 0 and a new\n"
     "FileWriteGuid. A clean log changes nothing. The region tables, metadata\n"
     "and BAT are not checked: run 'vhdx check IMAGE' after. The log is read\n"
     "through a window: memory grows with its entries and descriptors, never\n"
     "with its length. A descriptor reaching past both the file's end and its\n"
     "entry's LastFileOffset makes the log unreplayable: nothing is written.\n"
     "\n"
     "  --dry-run  list the active sequence (entries, descriptors and their\n"
     "             target ranges) and write nothing\n"
     "\n"
     "Exit status: 0 replayed (or clean), 1 the log cannot be replayed (no valid\n"
     "sequence, truncated file, a target past the end), 2 usage or I/O error.\n"},
    {"replay-diff", cmd_replay_diff, "usage: vhdx replay-diff [--qemu [--timeout SECONDS]] IMAGE\n",
     "Replays IMAGE's log with two independent engines, the production one and\n"
     "the reference one (docs/REPLAY.md), each into memory, and compares the\n"
     "outcome, the headers' log fields, both region tables, the metadata and\n"
     "BAT regions, the virtual disk and every other byte of the file. IMAGE is\n"
     "never written. Prints the first difference with its offset and the\n"
     "engines that disagree.\n"
     "\n"
     "  --qemu  also replay a temporary copy with 'qemu-img check -r all' and\n"
     "          compare it (skipped when qemu-img is not installed, and for\n"
     "          4096-byte sectors and differencing images, which it cannot open)\n"
     "  --timeout SECONDS\n"
     "          stop qemu-img after this long (default 60); some logs make it loop\n"
     "\n"
     "Exit status: 0 all engines agree, 1 a difference, 2 could not run.\n"},
};

static const char main_usage[] = "usage: vhdx COMMAND [OPTIONS] ARGUMENTS\n";

static void print_main_help(void)
{
    fputs(main_usage, stdout);
    fputs("\nCommands (create, write, discard, resize, commit, convert, replay and\n"
          "check -r write; the others only read):\n",
          stdout);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %s", commands[i].usage + strlen("usage: "));
    fputs("\n'vhdx COMMAND --help' describes a command. Sizes and offsets accept the\n"
          "suffixes K, M, G and T (powers of 1024).\n"
          "\n"
          "Exit status: 0 success, 1 the image is invalid (has errors) or the change\n"
          "was refused, 2 usage or I/O error.\n"
          "\n"
          "  -h, --help  print this help\n"
          "  --version   print the version\n",
          stdout);
}

int main(int argc, char **argv)
{
    const char *name;

    if (argc < 2) {
        fputs(main_usage, stderr);
        fputs("(try 'vhdx --help')\n", stderr);
        return CLI_EXIT_USAGE;
    }
    name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_main_help();
        return finish_stdout(CLI_EXIT_OK);
    }
    if (strcmp(name, "--version") == 0) {
        printf("vhdx %s\n", vhdx_version());
        return finish_stdout(CLI_EXIT_OK);
    }
    /* Past a file size limit, writes fail (EFBIG) and are reported, instead of
     * the signal ending the program in the middle of a write session. */
    (void)signal(SIGXFSZ, SIG_IGN); /* cannot fail: a valid signal and handler */
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            int sub_argc = argc - 1;
            current = &commands[i];
            opterr = 0;
            optind = 1;
            if (strstr(commands[i].usage, "[--max-memory SIZE]") != NULL) {
                int rc = cli_take_max_memory("vhdx", &sub_argc, argv + 1);
                if (rc >= 0)
                    return rc;
            }
            return current->run(sub_argc, argv + 1);
        }
    }
    fputs(name[0] == '-' ? "vhdx: unknown option '" : "vhdx: unknown command '", stderr);
    cli_text_safe(stderr, name);
    fputs("' (try 'vhdx --help')\n", stderr);
    return CLI_EXIT_USAGE;
}
