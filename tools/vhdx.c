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
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "replay_diff.h"
#include "vhdx.h"

#define PROG "vhdx"

/* Reads and writes of the virtual disk go in pieces of this size. */
#define IO_CHUNK (4u << 20)

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
};

static const struct command *current; /* the command being run, for messages */

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG " %s: ", current->name);
    if (arg != NULL) {
        /* fmt has one %s, which is arg: print the parts around it safely. */
        const char *at = strstr(fmt, "%s");
        (void)fwrite(fmt, 1, (size_t)(at - fmt), stderr); /* stderr: nowhere to report */
        cli_text_safe(stderr, arg);
        fputs(at + 2, stderr);
    } else {
        fputs(fmt, stderr);
    }
    fprintf(stderr, "\n%s(try '" PROG " %s --help')\n", current->usage, current->name);
}

static void print_command_help(void)
{
    fputs(current->usage, stdout);
    fputs(current->help, stdout);
}

/*
 * Parses the options of the current command with getopt_long. Returns the
 * option character, -1 at the end, or 'h' for --help; unknown options and
 * missing values are reported here and give '?'.
 */
static int next_option(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    char opt[3] = {'-', 0, 0};
    if (c == '?') {
        /* optopt names an unknown short option; 0 means a long one. */
        opt[1] = (char)optopt;
        usage_error("unknown option '%s'", optopt != 0 ? opt : argv[optind - 1]);
    } else if (c == ':') {
        opt[1] = (char)optopt;
        usage_error("option '%s' needs a value", optopt != 0 ? opt : argv[optind - 1]);
        c = '?';
    }
    return c;
}

static void print_path(FILE *f, const char *path)
{
    cli_text_safe(f, path);
}

/* "vhdx: PATH: " before a message about an image. */
static void image_message(const char *path)
{
    fputs(PROG ": ", stderr);
    print_path(stderr, path);
    fputs(": ", stderr);
}

/* Prints the error findings collected since index `from` (a failed read or map). */
static void print_new_errors(const struct cli_findings *fs, size_t from)
{
    size_t shown = 0;
    for (size_t i = from; i < fs->count && shown < CLI_OPEN_ERRORS_SHOWN; i++) {
        if (fs->items[i].severity == VHDX_SEVERITY_ERROR) {
            cli_diag_print_text(stderr, &fs->items[i]);
            shown++;
        }
    }
}

/* Standard output's write errors stay in the stream: reported here, once, before exit. */
static int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG "%s%s: error writing the output: %s\n", current != NULL ? " " : "",
                current != NULL ? current->name : "", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return rc;
}

static int get_info(const char *path, vhdx_image *img, vhdx_info *info)
{
    vhdx_status st = vhdx_get_info(img, info);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot read the image's description: %s\n", vhdx_strerror(st));
        return cli_status_exit(st);
    }
    return CLI_EXIT_OK;
}

/* ---- info ---- */

static const char *disk_type_name(vhdx_disk_type t)
{
    switch (t) {
    case VHDX_DISK_FIXED:
        return "fixed";
    case VHDX_DISK_DYNAMIC:
        return "dynamic";
    case VHDX_DISK_DIFFERENCING:
        return "differencing";
    default:
        return "unknown";
    }
}

static void info_line_size(const char *key, uint64_t v)
{
    char h[32];
    cli_format_size(v, h, sizeof(h));
    if (v < 1024)
        printf("%-22s%" PRIu64 "\n", key, v);
    else
        printf("%-22s%" PRIu64 " (%s)\n", key, v, h);
}

static void info_line_text(const char *key, const char *v)
{
    printf("%-22s", key);
    cli_text_safe(stdout, v);
    putchar('\n');
}

static void print_info_text(const char *path, const vhdx_info *in)
{
    info_line_text("image:", path);
    info_line_text("type:", disk_type_name(in->type));
    info_line_size("virtual size:", in->virtual_size);
    info_line_size("file size:", in->file_size);
    info_line_size("block size:", in->block_size);
    printf("%-22s%" PRIu32 "\n", "logical sector size:", in->logical_sector_size);
    printf("%-22s%" PRIu32 "\n", "physical sector size:", in->physical_sector_size);
    printf("%-22s%" PRIu32 "\n", "chunk ratio:", in->chunk_ratio);
    printf("%-22s%" PRIu64 "\n", "BAT entries:", in->bat_entries);
    printf("%-22s%" PRIu64 "\n", "blocks allocated:", in->blocks_allocated);
    printf("%-22s%" PRIu64 "\n", "header sequence:", in->header_sequence);
    printf("%-22s%d\n", "current header:", in->current_header);
    info_line_text("file write GUID:", in->file_write_guid);
    info_line_text("data write GUID:", in->data_write_guid);
    info_line_text("log GUID:", in->log_guid);
    info_line_text("virtual disk ID:", in->virtual_disk_id);
    printf("%-22s0x%" PRIx64 "\n", "log offset:", in->log_offset);
    printf("%-22s0x%" PRIx32 "\n", "log length:", in->log_length);
    if (in->log_replay == VHDX_LOG_REPLAYED_IN_MEMORY)
        printf("%-22sdirty, replayed in memory: %" PRIu32 " entries (head sequence %" PRIu64
               "); the file is unchanged\n",
               "log state:", in->log_entries_replayed, in->log_head_sequence);
    else if (in->log_replay == VHDX_LOG_REPLAYED_IN_PLACE)
        printf("%-22sreplayed into the file: %" PRIu32 " entries (head sequence %" PRIu64 ")\n",
               "log state:", in->log_entries_replayed, in->log_head_sequence);
    else
        printf("%-22sclean\n", "log state:");
    if (in->type == VHDX_DISK_DIFFERENCING) {
        info_line_text("parent linkage:", in->parent_linkage);
        info_line_text("parent path:", in->parent_path);
    }
    printf("%-22s%" PRIu32 "\n", "chain depth:", in->chain_depth);
    info_line_text("creator:", in->creator);
}

static void json_key(const char *key, bool first)
{
    printf("%s\n  \"%s\": ", first ? "" : ",", key);
}

static void json_u64(const char *key, uint64_t v)
{
    json_key(key, false);
    printf("%" PRIu64, v);
}

static void json_str(const char *key, const char *v)
{
    json_key(key, false);
    cli_json_string(stdout, v);
}

static void print_info_json(const char *path, const vhdx_info *in)
{
    bool diff = in->type == VHDX_DISK_DIFFERENCING;

    putchar('{');
    json_key("version", true);
    printf("%d", CLI_JSON_VERSION);
    json_str("path", path);
    json_str("type", disk_type_name(in->type));
    json_u64("virtual_size", in->virtual_size);
    json_u64("file_size", in->file_size);
    json_u64("block_size", in->block_size);
    json_u64("logical_sector_size", in->logical_sector_size);
    json_u64("physical_sector_size", in->physical_sector_size);
    json_u64("chunk_ratio", in->chunk_ratio);
    json_u64("bat_entries", in->bat_entries);
    json_u64("blocks_allocated", in->blocks_allocated);
    json_u64("header_sequence", in->header_sequence);
    json_u64("current_header", (uint64_t)in->current_header);
    json_str("file_write_guid", in->file_write_guid);
    json_str("data_write_guid", in->data_write_guid);
    json_str("log_guid", in->log_guid);
    json_str("virtual_disk_id", in->virtual_disk_id);
    json_u64("log_offset", in->log_offset);
    json_u64("log_length", in->log_length);
    json_key("log_dirty", false);
    fputs(in->log_dirty ? "true" : "false", stdout);
    json_str("log_state", in->log_replay == VHDX_LOG_REPLAYED_IN_MEMORY  ? "replayed_in_memory"
                          : in->log_replay == VHDX_LOG_REPLAYED_IN_PLACE ? "replayed_in_place"
                                                                         : "clean");
    json_u64("log_entries_replayed", in->log_entries_replayed);
    json_u64("log_head_sequence", in->log_head_sequence);
    json_str("parent_linkage", diff ? in->parent_linkage : NULL);
    json_str("parent_path", diff ? in->parent_path : NULL);
    json_u64("chain_depth", in->chain_depth);
    json_str("creator", in->creator);
    fputs("\n}\n", stdout);
}

/*
 * The start of every command that reads an image: the findings list, the
 * image opened read-only, and its info. On failure *img is NULL and the exit
 * status is returned. close_image_info() releases all three either way.
 */
static int open_image_info(const char *cmd, const char *path, struct cli_findings *fs,
                           vhdx_image **img, vhdx_info **info)
{
    int rc;

    *img = NULL;
    cli_findings_init(fs);
    *info = malloc(sizeof(**info));
    if (*info == NULL) {
        fprintf(stderr, PROG " %s: out of memory\n", cmd);
        return CLI_EXIT_USAGE;
    }
    rc = cli_open_image(PROG, path, fs, img);
    if (rc != CLI_EXIT_OK) {
        *img = NULL;
        return rc;
    }
    rc = get_info(path, *img, *info);
    if (rc != CLI_EXIT_OK) {
        vhdx_close(*img);
        *img = NULL;
    }
    return rc;
}

static void close_image_info(struct cli_findings *fs, vhdx_image *img, vhdx_info *info)
{
    vhdx_close(img);
    cli_findings_free(fs);
    free(info);
}

/*
 * Options of the commands that take only [--json] IMAGE (info, map).
 * Returns -1 to go on with argv[optind] as the image, or an exit status.
 */
static int parse_json_image_args(int argc, char **argv, bool *json)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;

    *json = false;
    while ((c = next_option(argc, argv, ":h", longopts)) != -1) {
        switch (c) {
        case 'j':
            *json = true;
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
    return -1;
}

static int cmd_info(int argc, char **argv)
{
    struct cli_findings fs;
    vhdx_image *img;
    vhdx_info *info;
    bool json = false;
    int rc;

    rc = parse_json_image_args(argc, argv, &json);
    if (rc >= 0)
        return rc;
    rc = open_image_info("info", argv[optind], &fs, &img, &info);
    if (rc == CLI_EXIT_OK) {
        if (json)
            print_info_json(argv[optind], info);
        else
            print_info_text(argv[optind], info);
    }
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}

/* ---- check ---- */

static int replay_in_place(const char *cmd, const char *path, bool dry, FILE *out);

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

static int cmd_check(int argc, char **argv)
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

/* ---- map ---- */

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

static int cmd_map(int argc, char **argv)
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

/* ---- read ---- */

/* Writes all of buf to fd at its current position. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes all of buf to fd at offset off. */
/*
 * Writes are issued in pieces of at most 128 KiB. The kernel sizes the
 * output's page-cache folios by the write size, and fresh 2 MiB folios (what
 * 4 MiB writes get) made convert 3-4x slower and erratic on the benchmark
 * machine (bench/README.md); 128 KiB is what cp uses.
 */
#define WRITE_PIECE ((size_t)128 * 1024)

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len < WRITE_PIECE ? len : WRITE_PIECE, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Reads len bytes of the virtual disk at off into buf, reporting a failure. */
static int read_disk(const char *path, vhdx_image *img, const struct cli_findings *fs, uint64_t off,
                     uint8_t *buf, size_t len)
{
    size_t before = fs->count;
    vhdx_status st = vhdx_read(img, off, buf, len);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot read the virtual disk at 0x%" PRIx64 ": %s\n", off,
                vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    return CLI_EXIT_OK;
}

/*
 * The operands IMAGE OFFSET LENGTH after the options (read, discard); a
 * usage error is reported and false returned when they are not that.
 */
static bool image_offset_length(int argc, char **argv, const char **path, uint64_t *offset,
                                uint64_t *length)
{
    if (argc - optind != 3) {
        usage_error(argc - optind < 3 ? "missing arguments" : "too many arguments", NULL);
        return false;
    }
    *path = argv[optind];
    if (!cli_parse_size(argv[optind + 1], offset)) {
        usage_error("invalid OFFSET '%s'", argv[optind + 1]);
        return false;
    }
    if (!cli_parse_size(argv[optind + 2], length)) {
        usage_error("invalid LENGTH '%s'", argv[optind + 2]);
        return false;
    }
    return true;
}

static int cmd_read(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img;
    vhdx_info *info;
    uint64_t offset, length;
    uint8_t *buf = NULL;
    const char *path;
    int c, rc;

    while ((c = next_option(argc, argv, ":h", longopts)) != -1) {
        switch (c) {
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (!image_offset_length(argc, argv, &path, &offset, &length))
        return CLI_EXIT_USAGE;
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, PROG " read: standard output is a terminal; redirect it to a file "
                             "or a pipe\n");
        return CLI_EXIT_USAGE;
    }
    rc = open_image_info("read", path, &fs, &img, &info);
    if (rc == CLI_EXIT_OK &&
        (offset > info->virtual_size || length > info->virtual_size - offset)) {
        fprintf(stderr,
                PROG " read: the range 0x%" PRIx64 " + 0x%" PRIx64
                     " is outside the virtual disk (size 0x%" PRIx64 ")\n",
                offset, length, info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && length != 0) {
        buf = malloc(length < IO_CHUNK ? (size_t)length : IO_CHUNK);
        if (buf == NULL) {
            fprintf(stderr, PROG " read: out of memory\n");
            rc = CLI_EXIT_USAGE;
        }
    }
    for (uint64_t done = 0; rc == CLI_EXIT_OK && done < length;) {
        size_t n = length - done < IO_CHUNK ? (size_t)(length - done) : IO_CHUNK;
        rc = read_disk(path, img, &fs, offset + done, buf, n);
        if (rc != CLI_EXIT_OK)
            break;
        if (write_all(STDOUT_FILENO, buf, n) != 0) {
            fprintf(stderr, PROG " read: writing to standard output: %s\n", strerror(errno));
            rc = CLI_EXIT_USAGE;
            break;
        }
        done += n;
    }
    free(buf);
    close_image_info(&fs, img, info);
    return rc;
}

/* ---- convert ---- */

/*
 * Progress on standard error (-p). On a terminal one line is updated in
 * place, at most every PROGRESS_INTERVAL_MS; otherwise (lines) a line is
 * printed at each tenth of the way.
 */
#define PROGRESS_INTERVAL_MS 100

struct progress {
    bool on;
    bool lines;       /* stderr is not a terminal: a line per 10% */
    uint64_t total;
    int shown;        /* per ten thousand, -1 before the first */
    int64_t last_ms;  /* when the terminal line was last written */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress_update(struct progress *p, uint64_t done)
{
    int now;
    int64_t t;
    if (!p->on)
        return;
    now = p->total == 0 || done >= p->total
              ? 10000
              : (int)((double)done * 10000.0 / (double)p->total);
    if (p->lines) {
        /* One line per tenth reached (from 10%); several when a step jumps. */
        int from = p->shown < 0 ? 1 : p->shown / 1000 + 1;
        for (int d = from; d <= now / 1000; d++)
            fprintf(stderr, "    (%d.00/100%%)\n", d * 10);
        if (p->shown < 0 || now / 1000 > p->shown / 1000)
            p->shown = now / 1000 * 1000;
        (void)fflush(stderr); /* progress only: a failure changes nothing */
        return;
    }
    if (now == p->shown)
        return;
    t = now_ms();
    /* The first and the last value always; in between, not too often. */
    if (p->shown >= 0 && now != 10000 && t - p->last_ms < PROGRESS_INTERVAL_MS)
        return;
    p->shown = now;
    p->last_ms = t;
    fprintf(stderr, "\r    (%d.%02d/100%%)", now / 100, now % 100);
    (void)fflush(stderr); /* progress only: a failure changes nothing */
}

/* The last value (100%), and the end of the terminal line. */
static void progress_end(struct progress *p)
{
    if (!p->on)
        return;
    progress_update(p, p->total);
    if (!p->lines)
        fputc('\n', stderr);
}

/* The library's progress callback: the -p display. Never cancels. */
static int show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    p->total = total;
    progress_update(p, done);
    return 0;
}

/*
 * The raw DST of convert, as vhdx_export_raw's sink: pwrite at the disk
 * offset, remembering why a write failed (the library says only E_IO).
 */
struct raw_sink {
    int fd;
    int error; /* errno of the failed write, 0 while none failed */
};

static vhdx_status raw_sink_write(void *ctx, uint64_t offset, const void *buf, size_t len)
{
    struct raw_sink *r = ctx;
    if (pwrite_all(r->fd, buf, len, offset) != 0) {
        r->error = errno != 0 ? errno : EIO;
        return VHDX_E_IO;
    }
    return VHDX_OK;
}

/*
 * Opens DST for writing: created when absent (mode 0644), else checked and
 * emptied. Refuses a DST that is the source file, is not a regular file, or
 * holds a VHDX image (it could be the source's parent). *created tells
 * whether a failure may remove it.
 */
static int open_destination(const char *dst, const struct stat *src_st, int *fd_out, bool *created)
{
    struct stat st;
    char sig[8];
    ssize_t got;
    int fd;

    *created = false;
    fd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd >= 0) {
        *created = true;
        *fd_out = fd;
        return CLI_EXIT_OK;
    }
    if (errno == EEXIST)
        fd = open(dst, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": %s\n", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (st.st_dev == src_st->st_dev && st.st_ino == src_st->st_ino)) {
        const char *why = !S_ISREG(st.st_mode) ? "not a regular file" : "it is the source image";
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": refusing to write: %s\n", why);
        close(fd);
        return CLI_EXIT_USAGE;
    }
    do
        got = pread(fd, sig, sizeof(sig), 0);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(sig) && memcmp(sig, "vhdxfile", sizeof(sig)) == 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": refusing to overwrite a VHDX image (remove it first)\n");
        close(fd);
        return CLI_EXIT_USAGE;
    }
    /* Old contents must go: skipped ranges have to read as zeros. */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || ftruncate(fd, 0) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, dst);
        fprintf(stderr, ": %s\n", strerror(errno));
        close(fd);
        return CLI_EXIT_USAGE;
    }
    *fd_out = fd;
    return CLI_EXIT_OK;
}

static int destination_error(const char *dst, const char *what)
{
    int e = errno;
    fputs(PROG " convert: ", stderr);
    print_path(stderr, dst);
    fprintf(stderr, ": %s: %s\n", what, strerror(e));
    return CLI_EXIT_USAGE;
}

/* Copies the whole virtual disk to fd (vhdx_export_raw), leaving holes for zeros. */
static int convert_to_raw(const char *src, vhdx_image *img, const struct cli_findings *fs,
                          uint64_t size, int fd, const char *dst, struct progress *pg)
{
    struct raw_sink sink = {fd, 0};
    vhdx_export_options eo;
    size_t before = fs->count;
    vhdx_status st;

    memset(&eo, 0, sizeof(eo));
    eo.sink = raw_sink_write;
    eo.sink_ctx = &sink;
    if (pg->on) {
        eo.progress = show_progress;
        eo.progress_ctx = pg;
    }
    st = vhdx_export_raw(img, -1, &eo);
    if (st != VHDX_OK && sink.error != 0) {
        errno = sink.error;
        return destination_error(dst, "write");
    }
    if (st != VHDX_OK) {
        image_message(src);
        fprintf(stderr, "cannot read the virtual disk: %s\n", vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    if (ftruncate(fd, (off_t)size) != 0)
        return destination_error(dst, "setting the size");
    if (fsync(fd) != 0)
        return destination_error(dst, "flush");
    return CLI_EXIT_OK;
}

/* ---- opening images for writing, reporting failures ---- */

/*
 * The limits of the writing commands. A dirty log is replayed into the file
 * by a writable open; replaying was implied by asking to write, so the
 * whole log may be held in memory (as `vhdx replay` allows), whatever the
 * default limit.
 */
static vhdx_limits writing_limits(void)
{
    vhdx_limits limits = vhdx_limits_default();
    limits.max_memory = (uint64_t)4096 << 20;
    return limits;
}

/* Opens IMAGE for writing, with the writing limits. */
static int open_writable(const char *path, struct cli_findings *fs, vhdx_image **img)
{
    vhdx_limits limits = writing_limits();
    return cli_open_image_flags(PROG, path, VHDX_OPEN_WRITABLE, &limits, fs, img);
}

/* Ends the write session (vhdx_finish): everything durable, the log closed. */
static int finish_writing(const char *path, vhdx_image *img, struct cli_findings *fs)
{
    size_t before = fs->count;
    vhdx_status st = vhdx_finish(img);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot finish writing (flush and close the log): %s\n",
                vhdx_strerror(st));
        print_new_errors(fs, before);
        return cli_status_exit(st);
    }
    return CLI_EXIT_OK;
}

/*
 * A failed write-like call at a virtual offset: "vhdx: PATH: cannot WHAT at
 * 0xOFFSET: reason", the error findings it made; returns the exit status.
 */
static int write_failure(const char *path, const char *what, uint64_t offset, vhdx_status st,
                         const struct cli_findings *fs, size_t before)
{
    image_message(path);
    fprintf(stderr, "cannot %s at 0x%" PRIx64 ": %s\n", what, offset, vhdx_strerror(st));
    print_new_errors(fs, before);
    return cli_status_exit(st);
}

/* ---- create options (create, convert -O vhdx) ---- */

/* The largest virtual disk the format allows (VHDX-FORMAT.md §5.4.2). */
#define MAX_VIRTUAL_SIZE ((uint64_t)64 << 40)
#define MIB ((uint64_t)1 << 20)

enum create_key {
    KEY_SUBFORMAT,
    KEY_BLOCK_SIZE,
    KEY_LOG_SIZE,
    KEY_LOGICAL_SECTOR_SIZE,
    KEY_PHYSICAL_SECTOR_SIZE,
    KEY_PARENT,
    KEY_COUNT
};

static const char *const create_key_names[KEY_COUNT] = {
    "subformat", "block_size", "log_size", "logical_sector_size", "physical_sector_size", "parent"};

struct create_settings {
    bool convert;            /* convert -O vhdx: no parent, no differencing */
    bool given[KEY_COUNT];
    vhdx_disk_type type;     /* VHDX_DISK_DYNAMIC unless given */
    uint32_t block_size;     /* 0: automatic */
    uint32_t log_size;       /* 0: the library's default (1 MiB) */
    uint32_t logical_sector_size;
    uint32_t physical_sector_size;
    char *parent;            /* malloc'd, parent= only */
};

#define CREATE_OPTIONS_HELP \
    "  subformat=dynamic|fixed|differencing\n" \
    "                 the image type (default dynamic); differencing needs parent=\n" \
    "  block_size=N   payload block size: 0 for automatic (8M up to 1G, 16M up\n" \
    "                 to 100G, 32M up to 32T, then 64M; differencing: the\n" \
    "                 parent's), or a power of two from 1M to 256M\n" \
    "  log_size=N     log size: a multiple of 1M from 1M to 4095M (default 1M)\n" \
    "  logical_sector_size=512|4096\n" \
    "                 the disk's sector size (default 512; differencing: the\n" \
    "                 parent's)\n" \
    "  physical_sector_size=512|4096\n" \
    "                 the reported physical sector size (default 4096)\n" \
    "  parent=PATH    the parent image of a differencing image (it must be in\n" \
    "                 IMAGE's directory or below it)\n"

#define CONVERT_OPTIONS_HELP \
    "  subformat=dynamic|fixed\n" \
    "                 the image type (default dynamic)\n" \
    "  block_size=N   payload block size: 0 for automatic (8M up to 1G, 16M up\n" \
    "                 to 100G, 32M up to 32T, then 64M), or a power of two from\n" \
    "                 1M to 256M (default: SRC's block size when SRC is a VHDX,\n" \
    "                 else automatic)\n" \
    "  log_size=N     log size: a multiple of 1M from 1M to 4095M (default 1M)\n" \
    "  logical_sector_size=512|4096\n" \
    "  physical_sector_size=512|4096\n" \
    "                 the sector sizes (default: SRC's when SRC is a VHDX, else\n" \
    "                 512 and 4096)\n"

static void create_settings_init(struct create_settings *s, bool convert)
{
    memset(s, 0, sizeof(*s));
    s->convert = convert;
    s->type = VHDX_DISK_DYNAMIC;
}

static void create_settings_free(struct create_settings *s)
{
    free(s->parent);
    s->parent = NULL;
}

static bool is_power_of_two(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* One KEY=VALUE item of -o. Returns -1 when accepted, else the exit status. */
static int create_setting(struct create_settings *s, const char *key, const char *value)
{
    int k;
    uint64_t v = 0;

    for (k = 0; k < KEY_COUNT; k++)
        if (strcmp(key, create_key_names[k]) == 0)
            break;
    if (k == KEY_COUNT || (s->convert && k == KEY_PARENT)) {
        usage_error(s->convert ? "unknown option '%s' in -o (subformat, block_size, log_size, "
                                 "logical_sector_size, physical_sector_size)"
                               : "unknown option '%s' in -o (subformat, block_size, log_size, "
                                 "logical_sector_size, physical_sector_size, parent)",
                    key);
        return CLI_EXIT_USAGE;
    }
    if (s->given[k]) {
        usage_error("option '%s' is given twice", key);
        return CLI_EXIT_USAGE;
    }
    s->given[k] = true;
    switch ((enum create_key)k) {
    case KEY_SUBFORMAT:
        if (strcmp(value, "dynamic") == 0) {
            s->type = VHDX_DISK_DYNAMIC;
        } else if (strcmp(value, "fixed") == 0) {
            s->type = VHDX_DISK_FIXED;
        } else if (strcmp(value, "differencing") == 0 && !s->convert) {
            s->type = VHDX_DISK_DIFFERENCING;
        } else {
            usage_error(s->convert ? "invalid subformat '%s' (dynamic or fixed)"
                                   : "invalid subformat '%s' (dynamic, fixed or differencing)",
                        value);
            return CLI_EXIT_USAGE;
        }
        return -1;
    case KEY_BLOCK_SIZE:
        if (!cli_parse_size(value, &v) ||
            (v != 0 && (!is_power_of_two(v) || v < MIB || v > 256 * MIB))) {
            usage_error("invalid block_size '%s' (0 for automatic, or a power of two from 1M "
                        "to 256M)",
                        value);
            return CLI_EXIT_USAGE;
        }
        s->block_size = (uint32_t)v;
        return -1;
    case KEY_LOG_SIZE:
        if (!cli_parse_size(value, &v) || v < MIB || v > 4095 * MIB || v % MIB != 0) {
            usage_error("invalid log_size '%s' (a multiple of 1M from 1M to 4095M)", value);
            return CLI_EXIT_USAGE;
        }
        s->log_size = (uint32_t)v;
        return -1;
    case KEY_LOGICAL_SECTOR_SIZE:
    case KEY_PHYSICAL_SECTOR_SIZE:
        if (!cli_parse_size(value, &v) || (v != 512 && v != 4096)) {
            usage_error(k == KEY_LOGICAL_SECTOR_SIZE
                            ? "invalid logical_sector_size '%s' (512 or 4096)"
                            : "invalid physical_sector_size '%s' (512 or 4096)",
                        value);
            return CLI_EXIT_USAGE;
        }
        if (k == KEY_LOGICAL_SECTOR_SIZE)
            s->logical_sector_size = (uint32_t)v;
        else
            s->physical_sector_size = (uint32_t)v;
        return -1;
    case KEY_PARENT:
        if (value[0] == '\0') {
            usage_error("option 'parent' needs the parent image's PATH", NULL);
            return CLI_EXIT_USAGE;
        }
        s->parent = strdup(value);
        if (s->parent == NULL) {
            fprintf(stderr, PROG " %s: out of memory\n", current->name);
            return CLI_EXIT_USAGE;
        }
        return -1;
    case KEY_COUNT:
    default:
        return CLI_EXIT_USAGE;
    }
}

/*
 * Parses one -o argument: KEY=VALUE items separated by commas, where ",,"
 * inside a value stands for one comma (as qemu-img has it). "help" prints
 * the options and gives exit status 0. Returns -1 to go on, else the exit
 * status.
 */
static int parse_create_options(struct create_settings *s, const char *text)
{
    size_t len = strlen(text);
    char *item = malloc(len + 1);
    size_t pos = 0;
    int rc = -1;

    if (item == NULL) {
        fprintf(stderr, PROG " %s: out of memory\n", current->name);
        return CLI_EXIT_USAGE;
    }
    while (rc < 0) {
        size_t n = 0;
        char *eq;
        /* One item, up to a single comma or the end; ",," is a comma. */
        while (pos < len) {
            if (text[pos] == ',') {
                if (pos + 1 < len && text[pos + 1] == ',') {
                    item[n++] = ',';
                    pos += 2;
                    continue;
                }
                break;
            }
            item[n++] = text[pos++];
        }
        item[n] = '\0';
        if (n == 0) {
            usage_error("empty option in -o '%s'", text);
            rc = CLI_EXIT_USAGE;
            break;
        }
        if (strcmp(item, "help") == 0 || strcmp(item, "?") == 0) {
            printf("Options of %s (-o KEY=VALUE,...; sizes take K, M, G, T):\n",
                   s->convert ? "convert -O vhdx" : "create");
            fputs(s->convert ? CONVERT_OPTIONS_HELP : CREATE_OPTIONS_HELP, stdout);
            rc = finish_stdout(CLI_EXIT_OK);
            break;
        }
        eq = strchr(item, '=');
        if (eq == NULL) {
            usage_error("option '%s' needs a value (KEY=VALUE)", item);
            rc = CLI_EXIT_USAGE;
            break;
        }
        *eq = '\0';
        rc = create_setting(s, item, eq + 1);
        if (pos >= len)
            break;
        pos++; /* the comma */
        if (rc < 0 && pos >= len) {
            usage_error("empty option in -o '%s'", text);
            rc = CLI_EXIT_USAGE;
        }
    }
    free(item);
    return rc;
}

/* ---- create ---- */

/*
 * Checks SIZE against the logical sector size: more than 0, at most 64T, a
 * multiple of it. Returns -1 when good, else prints and gives the status.
 */
static int check_virtual_size(uint64_t size, uint32_t lss, const char *what)
{
    if (size == 0 || size > MAX_VIRTUAL_SIZE) {
        fprintf(stderr, PROG " %s: %s %" PRIu64 " is out of range (one logical sector to 64T)\n",
                current->name, what, size);
        fputs(current->usage, stderr);
        fprintf(stderr, "(try '" PROG " %s --help')\n", current->name);
        return CLI_EXIT_USAGE;
    }
    if (size % lss != 0) {
        fprintf(stderr,
                PROG " %s: %s %" PRIu64 " is not a multiple of the logical sector size %" PRIu32
                     "\n",
                current->name, what, size, lss);
        fputs(current->usage, stderr);
        fprintf(stderr, "(try '" PROG " %s --help')\n", current->name);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

/*
 * The exit status of a failed vhdx_create_path: the options were checked
 * before, so a value refused (E_RANGE), a file that appeared (E_DUPLICATE)
 * or a directory that went (E_MISSING) is a usage or I/O error, like the
 * system's failures; anything else is about the parent: invalid.
 */
static int create_failure_exit(vhdx_status st)
{
    if (st == VHDX_E_RANGE || st == VHDX_E_DUPLICATE || st == VHDX_E_MISSING)
        return CLI_EXIT_USAGE;
    return cli_status_exit(st);
}

/* IMAGE must not exist (not even as a dangling symbolic link), and its
 * directory must. */
static int refuse_existing(const char *path)
{
    struct stat sb;
    char *dir_copy = strdup(path);
    int e = 0;

    if (dir_copy == NULL) {
        fprintf(stderr, PROG " %s: out of memory\n", current->name);
        return CLI_EXIT_USAGE;
    }
    if (stat(dirname(dir_copy), &sb) != 0)
        e = errno;
    else if (!S_ISDIR(sb.st_mode))
        e = ENOTDIR;
    free(dir_copy);
    if (e != 0) {
        fprintf(stderr, PROG " %s: ", current->name);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(e));
        return CLI_EXIT_USAGE;
    }
    if (lstat(path, &sb) == 0) {
        fprintf(stderr, PROG " %s: ", current->name);
        print_path(stderr, path);
        fputs(": already exists\n", stderr);
        return CLI_EXIT_USAGE;
    }
    if (errno != ENOENT) {
        fprintf(stderr, PROG " %s: ", current->name);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return -1;
}

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

static int cmd_create(int argc, char **argv)
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

/* ---- write ---- */

/* FILE is read and written in pieces of this size. */
#define WRITE_CHUNK ((size_t)1 << 20)

/* Reads up to len bytes (less only at the end of the input). -1 on error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/*
 * Opens FILE for `vhdx write` ('-': standard input, which must not be a
 * terminal). *known_size is its size when it is a regular file, else
 * UINT64_MAX (a pipe: the range is checked while reading).
 */
static int open_input(const char *file, const char *image, int *fd_out, uint64_t *known_size)
{
    struct stat fst, ist;
    int fd;

    *known_size = UINT64_MAX;
    if (strcmp(file, "-") == 0) {
        if (isatty(STDIN_FILENO)) {
            fprintf(stderr, PROG " write: standard input is a terminal; redirect it from a file "
                                 "or a pipe\n");
            return CLI_EXIT_USAGE;
        }
        fd = STDIN_FILENO;
    } else {
        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            fputs(PROG " write: ", stderr);
            print_path(stderr, file);
            fprintf(stderr, ": %s\n", strerror(errno));
            return CLI_EXIT_USAGE;
        }
    }
    if (fstat(fd, &fst) != 0 || S_ISDIR(fst.st_mode)) {
        int e = S_ISDIR(fst.st_mode) ? EISDIR : errno;
        fputs(PROG " write: ", stderr);
        print_path(stderr, file);
        fprintf(stderr, ": %s\n", strerror(e));
        if (fd != STDIN_FILENO)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (stat(image, &ist) == 0 && ist.st_dev == fst.st_dev && ist.st_ino == fst.st_ino) {
        fputs(PROG " write: ", stderr);
        print_path(stderr, file);
        fputs(": FILE is the image itself\n", stderr);
        if (fd != STDIN_FILENO)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (S_ISREG(fst.st_mode) && fst.st_size >= 0)
        *known_size = (uint64_t)fst.st_size;
    *fd_out = fd;
    return CLI_EXIT_OK;
}

static void range_outside(const char *cmd, uint64_t offset, uint64_t length, uint64_t size)
{
    fprintf(stderr,
            PROG " %s: the range 0x%" PRIx64 " + 0x%" PRIx64
                 " is outside the virtual disk (size 0x%" PRIx64 ")\n",
            cmd, offset, length, size);
}

static int cmd_write(int argc, char **argv)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    vhdx_image *img = NULL;
    vhdx_info *info = NULL;
    const char *path, *file;
    uint64_t offset, known, done = 0;
    uint8_t *buf = NULL;
    bool quiet = false, write_failed = false, overflow = false;
    int c, rc, fd = -1;

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
    if (argc - optind != 3) {
        usage_error(argc - optind < 3 ? "missing arguments" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    path = argv[optind];
    file = argv[optind + 2];
    if (!cli_parse_size(argv[optind + 1], &offset)) {
        usage_error("invalid OFFSET '%s'", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    rc = open_input(file, path, &fd, &known);
    if (rc != CLI_EXIT_OK)
        return rc;
    /* The image is judged before it is opened for writing: an invalid
     * image is refused without a byte written (a writable open would
     * replay a dirty log in place first). */
    rc = open_image_info("write", path, &fs, &img, &info);
    vhdx_close(img);
    img = NULL;
    if (rc == CLI_EXIT_OK && (offset > info->virtual_size ||
                              (known != UINT64_MAX && known > info->virtual_size - offset))) {
        range_outside("write", offset, known == UINT64_MAX ? 0 : known, info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK) {
        buf = malloc(WRITE_CHUNK);
        if (buf == NULL) {
            fprintf(stderr, PROG " write: out of memory\n");
            rc = CLI_EXIT_USAGE;
        }
    }
    if (rc == CLI_EXIT_OK)
        rc = open_writable(path, &fs, &img);
    while (rc == CLI_EXIT_OK) {
        ssize_t got = read_full(fd, buf, WRITE_CHUNK);
        size_t before = fs.count;
        vhdx_status st;
        if (got < 0) {
            fputs(PROG " write: ", stderr);
            print_path(stderr, file);
            fprintf(stderr, ": %s\n", strerror(errno));
            rc = CLI_EXIT_USAGE;
            break;
        }
        if (got == 0)
            break;
        if ((uint64_t)got > info->virtual_size - offset - done) {
            /* Only a pipe (or a growing file) gets here: more bytes than
             * the disk has room for. What fits is written. */
            got = (ssize_t)(info->virtual_size - offset - done);
            overflow = true;
            if (got == 0)
                break;
        }
        st = vhdx_write(img, offset + done, buf, (size_t)got);
        if (st != VHDX_OK) {
            rc = write_failure(path, "write", offset + done, st, &fs, before);
            write_failed = true;
            break;
        }
        done += (uint64_t)got;
        if (overflow)
            break;
    }
    if (img != NULL && !write_failed) {
        /* What was written is kept (and the session closed) even after a
         * read error or a pipe that ran past the end; after a failed write
         * the handle is failed and the log recovers what reached the file
         * at the next open. */
        int frc = finish_writing(path, img, &fs);
        if (rc == CLI_EXIT_OK)
            rc = frc;
    }
    if (rc == CLI_EXIT_OK && overflow) {
        fprintf(stderr,
                PROG " write: FILE goes past the end of the virtual disk (size 0x%" PRIx64
                     "): only the 0x%" PRIx64 " bytes up to the end were written\n",
                info->virtual_size, done);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && !quiet)
        printf("wrote %" PRIu64 " bytes at offset %" PRIu64 "\n", done, offset);
    free(buf);
    if (fd >= 0 && fd != STDIN_FILENO)
        close(fd);
    close_image_info(&fs, img, info);
    return finish_stdout(rc);
}

/* ---- discard ---- */

static int cmd_discard(int argc, char **argv)
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

/* ---- resize ---- */

static int cmd_resize(int argc, char **argv)
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

/* ---- convert -O vhdx ---- */

struct source {
    const char *path;
    int fd;                  /* a raw SRC, else -1 */
    vhdx_image *img;         /* a VHDX SRC, else NULL */
    struct cli_findings *fs; /* the VHDX SRC's findings */
    uint64_t size;           /* the bytes SRC has: the raw file's size, or the virtual size */
};

/*
 * Opens SRC for convert -O vhdx: a VHDX (by its signature) read-only
 * through its chain, or anything else as raw bytes (a regular file or a
 * block device).
 */
static int open_source(struct source *s, const char *path, vhdx_info **info)
{
    struct stat st;
    char sig[8];
    ssize_t got;
    int fd, rc;

    memset(s, 0, sizeof(*s));
    s->path = path;
    s->fd = -1;
    *info = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_USAGE;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n",
                S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file or block device");
        close(fd);
        return CLI_EXIT_USAGE;
    }
    do
        got = pread(fd, sig, sizeof(sig), 0);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof(sig) && memcmp(sig, "vhdxfile", sizeof(sig)) == 0) {
        close(fd);
        s->fs = malloc(sizeof(*s->fs));
        if (s->fs == NULL) {
            fprintf(stderr, PROG " convert: out of memory\n");
            return CLI_EXIT_USAGE;
        }
        rc = open_image_info("convert", path, s->fs, &s->img, info);
        if (rc == CLI_EXIT_OK)
            s->size = (*info)->virtual_size;
        return rc;
    }
    if (got < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, path);
        fprintf(stderr, ": %s\n", strerror(errno));
        close(fd);
        return CLI_EXIT_USAGE;
    }
    if (S_ISREG(st.st_mode)) {
        s->size = (uint64_t)st.st_size;
    } else {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) {
            fputs(PROG " convert: ", stderr);
            print_path(stderr, path);
            fprintf(stderr, ": %s\n", strerror(errno));
            close(fd);
            return CLI_EXIT_USAGE;
        }
        s->size = (uint64_t)end;
    }
    s->fd = fd;
    return CLI_EXIT_OK;
}

static void close_source(struct source *s, vhdx_info *info)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->fs != NULL) {
        close_image_info(s->fs, s->img, info);
        free(s->fs);
    } else {
        free(info);
    }
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

/* Reports a failed vhdx_convert_path by the side that failed; returns the exit status. */
static int convert_failure(const struct source *s, const char *dst, vhdx_status st,
                           const vhdx_convert_result *res, const struct cli_findings *ofs,
                           size_t obefore, size_t sbefore)
{
    if (res->failed_side == VHDX_SIDE_TARGET && res->failed_offset == VHDX_OFFSET_NONE) {
        image_message(dst);
        fprintf(stderr, "cannot finish writing (flush and close the log): %s\n",
                vhdx_strerror(st));
        print_new_errors(ofs, obefore);
        return cli_status_exit(st);
    }
    if (res->failed_side == VHDX_SIDE_TARGET)
        return write_failure(dst, "write", res->failed_offset, st, ofs, obefore);
    if (s->img != NULL) {
        image_message(s->path);
        fprintf(stderr, "cannot read the virtual disk at 0x%" PRIx64 ": %s\n",
                res->failed_offset, vhdx_strerror(st));
        print_new_errors(s->fs, sbefore);
        return cli_status_exit(st);
    }
    fputs(PROG " convert: ", stderr);
    print_path(stderr, s->path);
    fprintf(stderr, ": read at 0x%" PRIx64 ": %s\n", res->failed_offset,
            res->sys_errno != 0 ? strerror(res->sys_errno) : vhdx_strerror(st));
    return CLI_EXIT_USAGE;
}

static int convert_to_vhdx(const char *src, const char *dst, struct create_settings *set,
                           bool progress)
{
    struct progress pg = {progress, !isatty(STDERR_FILENO), 0, -1, 0};
    struct source s;
    struct cli_findings ofs;
    vhdx_convert_options co;
    vhdx_convert_result res;
    vhdx_source vs;
    vhdx_info *info = NULL;
    uint32_t lss;
    int rc;

    cli_findings_init(&ofs);
    rc = open_source(&s, src, &info);
    memset(&co, 0, sizeof(co));
    co.create.type = set->type;
    co.create.block_size = set->block_size;
    co.create.log_size = set->log_size;
    co.create.logical_sector_size = set->logical_sector_size;
    co.create.physical_sector_size = set->physical_sector_size;
    if (rc == CLI_EXIT_OK && s.img != NULL && !set->given[KEY_LOGICAL_SECTOR_SIZE])
        co.create.logical_sector_size = info->logical_sector_size;
    lss = co.create.logical_sector_size != 0 ? co.create.logical_sector_size : 512u;
    if (rc == CLI_EXIT_OK && s.size == 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fputs(": SRC is empty (a virtual disk has at least one sector)\n", stderr);
        rc = CLI_EXIT_USAGE;
    } else if (rc == CLI_EXIT_OK && s.size > MAX_VIRTUAL_SIZE) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fprintf(stderr, ": SRC has %" PRIu64 " bytes, more than 64T, the largest VHDX disk\n",
                s.size);
        rc = CLI_EXIT_USAGE;
    } else if (rc == CLI_EXIT_OK && s.size % lss != 0) {
        fputs(PROG " convert: ", stderr);
        print_path(stderr, src);
        fprintf(stderr,
                ": %" PRIu64 " bytes is not a multiple of the logical sector size %" PRIu32
                ": the virtual disk is %" PRIu64 " bytes, the rest padded with zeros\n",
                s.size, lss, (s.size + lss - 1) / lss * lss);
    }
    if (rc == CLI_EXIT_OK) {
        rc = refuse_existing(dst);
        if (rc < 0)
            rc = CLI_EXIT_OK;
    }
    if (rc == CLI_EXIT_OK) {
        /* Built unsealed: no reader accepts DST until it is complete. */
        vhdx_limits limits = writing_limits();
        vhdx_open_options oo;
        size_t sbefore = s.fs != NULL ? s.fs->count : 0;
        vhdx_status st;
        memset(&oo, 0, sizeof(oo));
        oo.limits = &limits;
        oo.on_diag = cli_findings_collect;
        oo.diag_ctx = &ofs;
        memset(&vs, 0, sizeof(vs));
        vs.kind = s.img != NULL ? VHDX_SOURCE_IMAGE : VHDX_SOURCE_FD;
        vs.image = s.img;
        vs.fd = s.fd;
        if (pg.on) {
            co.progress = show_progress;
            co.progress_ctx = &pg;
        }
        st = vhdx_convert_path(&vs, dst, &co, NULL, &oo, &res);
        if (st != VHDX_OK && res.failed_side == 0) {
            /* Nothing was made: the creation itself failed. */
            if (pg.on && !pg.lines && pg.shown >= 0)
                fputc('\n', stderr);
            fputs(PROG " convert: ", stderr);
            print_path(stderr, dst);
            fprintf(stderr, ": cannot create: %s\n", vhdx_strerror(st));
            close_source(&s, info);
            cli_findings_free(&ofs);
            return create_failure_exit(st);
        }
        if (st == VHDX_OK) {
            progress_end(&pg);
        } else {
            if (pg.on && !pg.lines)
                fputc('\n', stderr);
            rc = convert_failure(&s, dst, st, &res, &ofs, 0, sbefore);
            /* vhdx_convert_path removed the unsealed DST. */
            fputs(access(dst, F_OK) != 0 ? PROG " convert: removed the incomplete "
                                         : PROG " convert: left incomplete: ",
                  stderr);
            print_path(stderr, dst);
            fputc('\n', stderr);
        }
    }
    cli_findings_free(&ofs);
    close_source(&s, info);
    return rc;
}

/* ---- commit ---- */

/* vhdx_commit's progress on the -p display (never cancels). */
static int commit_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)total;
    progress_update(ctx, done);
    return 0;
}

static int cmd_commit(int argc, char **argv)
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

static int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    struct progress pg = {false, false, 0, -1, 0};
    struct stat src_st;
    vhdx_image *img;
    vhdx_info *info;
    const char *format = "raw", *options[16], *src, *dst;
    size_t noptions = 0;
    bool created = false;
    int c, rc, fd = -1;

    while ((c = next_option(argc, argv, ":hpO:o:", longopts)) != -1) {
        switch (c) {
        case 'p':
            pg.on = true;
            break;
        case 'O':
            format = optarg;
            break;
        case 'o':
            if (noptions == sizeof(options) / sizeof(options[0])) {
                usage_error("too many -o options", NULL);
                return CLI_EXIT_USAGE;
            }
            options[noptions++] = optarg;
            break;
        case 'h':
            print_command_help();
            return finish_stdout(CLI_EXIT_OK);
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(format, "raw") != 0 && strcmp(format, "vhdx") != 0) {
        usage_error("unknown output format '%s' (raw or vhdx)", format);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "raw") == 0 && noptions != 0) {
        usage_error("raw output takes no -o options ('%s')", options[0]);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "vhdx") == 0) {
        struct create_settings set;
        create_settings_init(&set, true);
        rc = -1;
        for (size_t i = 0; rc < 0 && i < noptions; i++)
            rc = parse_create_options(&set, options[i]);
        if (rc < 0 && argc - optind != 2) {
            usage_error(argc - optind < 2 ? "missing SRC or DST" : "too many arguments", NULL);
            rc = CLI_EXIT_USAGE;
        }
        if (rc < 0) {
            /* Past a file size limit, fail the write (EFBIG) and clean up. */
            (void)signal(SIGXFSZ, SIG_IGN); /* cannot fail: a valid signal and handler */
            rc = convert_to_vhdx(argv[optind], argv[optind + 1], &set, pg.on);
        }
        create_settings_free(&set);
        return rc;
    }
    if (argc - optind != 2) {
        usage_error(argc - optind < 2 ? "missing SRC or DST" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    src = argv[optind];
    dst = argv[optind + 1];
    /* Raw output: progress only on a terminal (-O vhdx prints lines otherwise). */
    pg.on = pg.on && isatty(STDERR_FILENO);
    /* Past a file size limit, fail the write (EFBIG) and clean up instead of dying. */
    (void)signal(SIGXFSZ, SIG_IGN); /* cannot fail: a valid signal and handler */

    rc = open_image_info("convert", src, &fs, &img, &info);
    if (rc == CLI_EXIT_OK && stat(src, &src_st) != 0) {
        image_message(src);
        fprintf(stderr, "%s\n", strerror(errno));
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK && info->virtual_size > (uint64_t)INT64_MAX) {
        image_message(src);
        fprintf(stderr, "the virtual size 0x%" PRIx64 " is too large for a file\n",
                info->virtual_size);
        rc = CLI_EXIT_USAGE;
    }
    if (rc == CLI_EXIT_OK)
        rc = open_destination(dst, &src_st, &fd, &created);
    if (rc == CLI_EXIT_OK) {
        pg.total = info->virtual_size;
        rc = convert_to_raw(src, img, &fs, info->virtual_size, fd, dst, &pg);
        if (pg.on)
            fputc('\n', stderr);
        if (close(fd) != 0 && rc == CLI_EXIT_OK)
            rc = destination_error(dst, "close");
        if (rc != CLI_EXIT_OK) {
            /* Remove only what this command created; an existing file stays. */
            bool removed = created && unlink(dst) == 0;
            fputs(removed ? PROG " convert: removed the incomplete "
                          : PROG " convert: left incomplete: ",
                  stderr);
            print_path(stderr, dst);
            fputc('\n', stderr);
        }
    }
    close_image_info(&fs, img, info);
    return rc;
}

/* ---- replay, replay-diff ---- */

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
static int replay_in_place(const char *cmd, const char *path, bool dry, FILE *out)
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

static int cmd_replay(int argc, char **argv)
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

static int cmd_replay_diff(int argc, char **argv)
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
