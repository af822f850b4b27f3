/*
 * vhdx: the multi-command tool over the library's public interface.
 *
 *   vhdx info [--json] IMAGE
 *   vhdx check [--json] [-r leaks|all] IMAGE
 *   vhdx map [--json] IMAGE
 *   vhdx read IMAGE OFFSET LENGTH > bytes
 *   vhdx convert [-p] [-O raw] SRC DST
 *
 * Every command opens images read-only. Exit status: 0 success, 1 the
 * image is invalid, 2 usage or I/O error (docs/CLI.md has the details).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_common.h"
#include "replay_diff.h"
#include "vhdx.h"

#define PROG "vhdx"

/* Reads and writes of the virtual disk go in pieces of this size. */
#define IO_CHUNK (4u << 20)

/* convert leaves holes for all-zero pieces of this size (aligned on the disk). */
#define HOLE_GRAIN 4096u

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
        fwrite(fmt, 1, (size_t)(at - fmt), stderr);
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

static int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG " %s: error writing the output: %s\n", current->name, strerror(errno));
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
            return CLI_EXIT_OK;
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
            return CLI_EXIT_OK;
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
        /* The one repair there is: replaying a dirty log into the file. */
        rc = replay_in_place("check", argv[optind], false, json ? stderr : stdout);
        if (rc != CLI_EXIT_OK)
            return rc;
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
#define WRITE_PIECE (128u * 1024u)

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
            return CLI_EXIT_OK;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind != 3) {
        usage_error(argc - optind < 3 ? "missing arguments" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    path = argv[optind];
    if (!cli_parse_size(argv[optind + 1], &offset)) {
        usage_error("invalid OFFSET '%s'", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    if (!cli_parse_size(argv[optind + 2], &length)) {
        usage_error("invalid LENGTH '%s'", argv[optind + 2]);
        return CLI_EXIT_USAGE;
    }
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

struct progress {
    bool on;
    uint64_t total;
    int shown; /* per ten thousand, -1 before the first */
};

static void progress_update(struct progress *p, uint64_t done)
{
    int now;
    if (!p->on)
        return;
    now = p->total == 0 ? 10000 : (int)((double)done * 10000.0 / (double)p->total);
    if (now == p->shown)
        return;
    p->shown = now;
    fprintf(stderr, "\r    (%d.%02d/100%%)", now / 100, now % 100);
    fflush(stderr);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * Writes buf (disk bytes at disk offset off) to fd, skipping every piece
 * that is all zeros: pieces end at multiples of HOLE_GRAIN on the disk, so
 * the skipped ones stay holes in the sparse output.
 */
static int write_sparse(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t pos = 0, run = 0;
    bool in_run = false;

    while (pos < len) {
        size_t piece = HOLE_GRAIN - (size_t)((off + pos) % HOLE_GRAIN);
        if (piece > len - pos)
            piece = len - pos;
        if (all_zero(buf + pos, piece)) {
            if (in_run && pwrite_all(fd, buf + run, pos - run, off + run) != 0)
                return -1;
            in_run = false;
        } else if (!in_run) {
            run = pos;
            in_run = true;
        }
        pos += piece;
    }
    if (in_run && pwrite_all(fd, buf + run, len - run, off + run) != 0)
        return -1;
    return 0;
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

/* Copies the whole virtual disk to fd, leaving holes for zeros. */
static int convert_to_raw(const char *src, vhdx_image *img, const struct cli_findings *fs,
                          uint64_t size, int fd, const char *dst, struct progress *pg)
{
    uint8_t *buf = malloc(IO_CHUNK);
    int rc = CLI_EXIT_OK;

    if (buf == NULL) {
        fprintf(stderr, PROG " convert: out of memory\n");
        return CLI_EXIT_USAGE;
    }
    progress_update(pg, 0);
    for (uint64_t off = 0; rc == CLI_EXIT_OK && off < size;) {
        vhdx_extent e;
        uint64_t end;
        rc = map_at(src, img, fs, off, size, &e);
        if (rc != CLI_EXIT_OK)
            break;
        end = off + e.length;
        /* Only ZERO extents become holes; PARENT extents are read through the chain. */
        if (e.kind == VHDX_EXTENT_ZERO) {
            off = end;
            progress_update(pg, off);
            continue;
        }
        while (off < end) {
            size_t n = end - off < IO_CHUNK ? (size_t)(end - off) : IO_CHUNK;
            rc = read_disk(src, img, fs, off, buf, n);
            if (rc != CLI_EXIT_OK)
                break;
            if (write_sparse(fd, buf, n, off) != 0) {
                rc = destination_error(dst, "write");
                break;
            }
            off += n;
            progress_update(pg, off);
        }
    }
    free(buf);
    if (rc == CLI_EXIT_OK && ftruncate(fd, (off_t)size) != 0)
        rc = destination_error(dst, "setting the size");
    if (rc == CLI_EXIT_OK && fsync(fd) != 0)
        rc = destination_error(dst, "flush");
    return rc;
}

static int cmd_convert(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct cli_findings fs;
    struct progress pg = {false, 0, -1};
    struct stat src_st;
    vhdx_image *img;
    vhdx_info *info;
    const char *format = "raw", *options = NULL, *src, *dst;
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
            options = optarg;
            break;
        case 'h':
            print_command_help();
            return CLI_EXIT_OK;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(format, "vhdx") == 0) {
        fprintf(stderr, PROG " convert: conversion to VHDX needs the writer, which is not in "
                             "this version\n");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(format, "raw") != 0) {
        usage_error("unknown output format '%s' (only 'raw')", format);
        return CLI_EXIT_USAGE;
    }
    if (options != NULL) {
        usage_error("raw output takes no -o options ('%s')", options);
        return CLI_EXIT_USAGE;
    }
    if (argc - optind != 2) {
        usage_error(argc - optind < 2 ? "missing SRC or DST" : "too many arguments", NULL);
        return CLI_EXIT_USAGE;
    }
    src = argv[optind];
    dst = argv[optind + 1];
    pg.on = pg.on && isatty(STDERR_FILENO);
    /* Past a file size limit, fail the write (EFBIG) and clean up instead of dying. */
    signal(SIGXFSZ, SIG_IGN);

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
    /* What made entries invalid or stopped the replay (warnings and errors). */
    for (size_t i = 0; i < fs.count; i++)
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
            return CLI_EXIT_OK;
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
            return CLI_EXIT_OK;
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
    {"info", cmd_info, "usage: vhdx info [--json] IMAGE\n",
     "Describes an image: type, sizes, geometry, headers, GUIDs, log, parent and\n"
     "creator.\n"
     "\n"
     "  --json  print one JSON object (docs/verify-json.md)\n"
     "\n"
     "Exit status: 0 success, 1 the image is invalid, 2 usage or I/O error.\n"},
    {"check", cmd_check, "usage: vhdx check [--json] [-r leaks|all] IMAGE\n",
     "Checks an image against every rule of the format without writing to it\n"
     "(unless -r); prints exactly what 'vhdx-verify IMAGE' prints. A dirty log\n"
     "is replayed in memory and the replayed view is judged.\n"
     "\n"
     "  --json            print one JSON document (docs/verify-json.md)\n"
     "  -r leaks|all      repair first, writing to IMAGE: a dirty log is replayed\n"
     "                    into the file and the headers updated (as 'vhdx replay');\n"
     "                    then the replayed image is checked. Both levels do the\n"
     "                    same: the log is the only thing this version repairs\n"
     "\n"
     "Exit status: 0 no errors (warnings allowed), 1 the image has errors,\n"
     "2 usage or I/O error (the image could not be judged).\n"},
    {"map", cmd_map, "usage: vhdx map [--json] IMAGE\n",
     "Lists what backs each run of the virtual disk, one extent per line:\n"
     "  0xOFFSET 0xLENGTH data file 0xFILE_OFFSET (STATE)\n"
     "  0xOFFSET 0xLENGTH zero (STATE)\n"
     "  0xOFFSET 0xLENGTH parent (STATE)\n"
     "STATE is the payload block state behind the extent (FULLY_PRESENT, ZERO,\n"
     "NOT_PRESENT, UNMAPPED, UNDEFINED, PARTIALLY_PRESENT).\n"
     "\n"
     "  --json  print a JSON array of extent objects (docs/verify-json.md)\n"
     "\n"
     "Exit status: 0 success, 1 the image is invalid, 2 usage or I/O error.\n"},
    {"read", cmd_read, "usage: vhdx read IMAGE OFFSET LENGTH > FILE\n",
     "Writes LENGTH bytes of the virtual disk from OFFSET to standard output,\n"
     "which must not be a terminal. OFFSET and LENGTH are decimal or 0x-hex\n"
     "with an optional suffix K, M, G or T (powers of 1024).\n"
     "\n"
     "Exit status: 0 success; 1 the image is invalid (it does not open, or a\n"
     "structure needed for the range is corrupt); 2 usage error (including a\n"
     "range beyond the virtual size) or I/O error.\n"},
    {"convert", cmd_convert, "usage: vhdx convert [-p] [-O raw] SRC DST\n",
     "Writes the virtual disk of SRC to DST as a raw image, sparse: runs that\n"
     "read as zeros (to 4 KiB granularity) become holes. DST is created with\n"
     "mode 0644 or emptied; it must not be SRC or a VHDX image. On failure a\n"
     "DST this command created is removed.\n"
     "\n"
     "  -p      show progress on standard error when it is a terminal\n"
     "  -O raw  the output format (the default; 'vhdx' needs the writer, which\n"
     "          is not in this version)\n"
     "\n"
     "Exit status: 0 success, 1 SRC is invalid, 2 usage or I/O error.\n"},
    {"replay", cmd_replay, "usage: vhdx replay [--dry-run] IMAGE\n",
     "Replays a dirty log into IMAGE (VHDX-FORMAT.md §8.7, docs/REPLAY.md): the\n"
     "active sequence is applied, the file extended to the head's LastFileOffset\n"
     "and flushed, then both headers are rewritten with LogGuid 0 and a new\n"
     "FileWriteGuid. A clean log changes nothing. The region tables, metadata\n"
     "and BAT are not checked: run 'vhdx check IMAGE' after. The whole log is\n"
     "held in memory, whatever its length (at most 4095 MiB).\n"
     "\n"
     "  --dry-run  list the active sequence (entries, descriptors and their\n"
     "             target ranges) and write nothing\n"
     "\n"
     "Exit status: 0 replayed (or clean), 1 the log cannot be replayed (no valid\n"
     "sequence, truncated file), 2 usage or I/O error.\n"},
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
    fputs("\nCommands (all open images read-only except replay and check -r):\n", stdout);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %s", commands[i].usage + strlen("usage: "));
    fputs("\n'vhdx COMMAND --help' describes a command. Sizes and offsets accept the\n"
          "suffixes K, M, G and T (powers of 1024).\n"
          "\n"
          "Exit status: 0 success, 1 the image is invalid (has errors), 2 usage or\n"
          "I/O error.\n"
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
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("vhdx %s\n", vhdx_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(name, commands[i].name) == 0) {
            current = &commands[i];
            opterr = 0;
            optind = 1;
            return current->run(argc - 1, argv + 1);
        }
    }
    fputs(name[0] == '-' ? "vhdx: unknown option '" : "vhdx: unknown command '", stderr);
    cli_text_safe(stderr, name);
    fputs("' (try 'vhdx --help')\n", stderr);
    return CLI_EXIT_USAGE;
}
