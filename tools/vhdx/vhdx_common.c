/*
 * What several commands of `vhdx` share: the messages and option parsing of
 * the command being run, opening an image with its info, the -p progress
 * display, opening for writing and reporting failed writes, the -o options
 * of create and convert -O vhdx, and the checks of a new image's size and
 * path. The commands themselves are in cmd_*.c; main() is in ../vhdx.c.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "vhdx_common.h"

const struct command *current; /* the command being run, for messages */

void usage_error(const char *fmt, const char *arg)
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

void print_command_help(void)
{
    fputs(current->usage, stdout);
    fputs(current->help, stdout);
}

/*
 * Parses the options of the current command with getopt_long. Returns the
 * option character, -1 at the end, or 'h' for --help; unknown options and
 * missing values are reported here and give '?'.
 */
int next_option(int argc, char **argv, const char *shortopts, const struct option *longopts)
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

void print_path(FILE *f, const char *path)
{
    cli_text_safe(f, path);
}

/* "vhdx: PATH: " before a message about an image. */
void image_message(const char *path)
{
    fputs(PROG ": ", stderr);
    print_path(stderr, path);
    fputs(": ", stderr);
}

/* Prints the error findings collected since index `from` (a failed read or map). */
void print_new_errors(const struct cli_findings *fs, size_t from)
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
int finish_stdout(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG "%s%s: error writing the output: %s\n", current != NULL ? " " : "",
                current != NULL ? current->name : "", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return rc;
}

int get_info(const char *path, vhdx_image *img, vhdx_info *info)
{
    vhdx_status st = vhdx_get_info(img, info);
    if (st != VHDX_OK) {
        image_message(path);
        fprintf(stderr, "cannot read the image's description: %s\n", vhdx_strerror(st));
        return cli_status_exit(st);
    }
    return CLI_EXIT_OK;
}

const char *disk_type_name(vhdx_disk_type t)
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

/*
 * The start of every command that reads an image: the findings list, the
 * image opened read-only, and its info. On failure *img is NULL and the exit
 * status is returned. close_image_info() releases all three either way.
 */
int open_image_info(const char *cmd, const char *path, struct cli_findings *fs,
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

void close_image_info(struct cli_findings *fs, vhdx_image *img, vhdx_info *info)
{
    vhdx_close(img);
    cli_findings_free(fs);
    free(info);
}

/*
 * Options of the commands that take only [--json] IMAGE (info, map).
 * Returns -1 to go on with argv[optind] as the image, or an exit status.
 */
int parse_json_image_args(int argc, char **argv, bool *json)
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

/*
 * The operands IMAGE OFFSET LENGTH after the options (read, discard); a
 * usage error is reported and false returned when they are not that.
 */
bool image_offset_length(int argc, char **argv, const char **path, uint64_t *offset,
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

void range_outside(const char *cmd, uint64_t offset, uint64_t length, uint64_t size)
{
    fprintf(stderr,
            PROG " %s: the range 0x%" PRIx64 " + 0x%" PRIx64
                 " is outside the virtual disk (size 0x%" PRIx64 ")\n",
            cmd, offset, length, size);
}

/* ---- progress (convert, commit) ---- */

#define PROGRESS_INTERVAL_MS 100

static int64_t now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void progress_update(struct progress *p, uint64_t done)
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
void progress_end(struct progress *p)
{
    if (!p->on)
        return;
    progress_update(p, p->total);
    if (!p->lines)
        fputc('\n', stderr);
}

/* ---- opening images for writing, reporting failures ---- */

/*
 * The limits of the writing commands. A dirty log is replayed into the file
 * by a writable open; replaying was implied by asking to write, so the
 * whole log may be held in memory (as `vhdx replay` allows), whatever the
 * default limit.
 */
vhdx_limits writing_limits(void)
{
    vhdx_limits limits = vhdx_limits_default();
    limits.max_memory = (uint64_t)4096 << 20;
    return limits;
}

/* Opens IMAGE for writing, with the writing limits. */
int open_writable(const char *path, struct cli_findings *fs, vhdx_image **img)
{
    vhdx_limits limits = writing_limits();
    return cli_open_image_flags(PROG, path, VHDX_OPEN_WRITABLE, &limits, fs, img);
}

/* Ends the write session (vhdx_finish): everything durable, the log closed. */
int finish_writing(const char *path, vhdx_image *img, struct cli_findings *fs)
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
int write_failure(const char *path, const char *what, uint64_t offset, vhdx_status st,
                  const struct cli_findings *fs, size_t before)
{
    image_message(path);
    fprintf(stderr, "cannot %s at 0x%" PRIx64 ": %s\n", what, offset, vhdx_strerror(st));
    print_new_errors(fs, before);
    return cli_status_exit(st);
}

/* ---- create options (create, convert -O vhdx) ---- */

#define MIB ((uint64_t)1 << 20)

static const char *const create_key_names[KEY_COUNT] = {
    "subformat", "block_size", "log_size", "logical_sector_size", "physical_sector_size", "parent"};

void create_settings_init(struct create_settings *s, bool convert)
{
    memset(s, 0, sizeof(*s));
    s->convert = convert;
    s->type = VHDX_DISK_DYNAMIC;
}

void create_settings_free(struct create_settings *s)
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
int parse_create_options(struct create_settings *s, const char *text)
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

/* ---- the size and path of a new image (create, resize, convert -O vhdx) ---- */

/*
 * Checks SIZE against the logical sector size: more than 0, at most 64T, a
 * multiple of it. Returns -1 when good, else prints and gives the status.
 */
int check_virtual_size(uint64_t size, uint32_t lss, const char *what)
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
int create_failure_exit(vhdx_status st)
{
    if (st == VHDX_E_RANGE || st == VHDX_E_DUPLICATE || st == VHDX_E_MISSING)
        return CLI_EXIT_USAGE;
    return cli_status_exit(st);
}

/* IMAGE must not exist (not even as a dangling symbolic link), and its
 * directory must. */
int refuse_existing(const char *path)
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
