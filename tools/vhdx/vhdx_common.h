/*
 * vhdx_common.h: what the commands of `vhdx` share (vhdx_common.c): the
 * command table's entry and the command being run, messages, option
 * parsing, image opening, progress, the writing helpers and the -o options
 * of create and convert -O vhdx; and the entry point of each command
 * (cmd_*.c), which ../vhdx.c dispatches to.
 */

#ifndef VHDX_TOOLS_VHDX_COMMON_H
#define VHDX_TOOLS_VHDX_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../cli_common.h"
#include "vhdx.h"

#define PROG "vhdx"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *help;
};

extern const struct command *current; /* the command being run, for messages */

/* The commands (cmd_*.c), each run with argv[0] the command's name. */
int cmd_info(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_discard(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_replay_diff(int argc, char **argv);

/* Messages and options of the current command. */
void usage_error(const char *fmt, const char *arg);
void print_command_help(void);
int next_option(int argc, char **argv, const char *shortopts, const struct option *longopts);
void print_path(FILE *f, const char *path);
void image_message(const char *path);
void print_new_errors(const struct cli_findings *fs, size_t from);
int finish_stdout(int rc);

/* Opening an image read-only, with its info. */
int get_info(const char *path, vhdx_image *img, vhdx_info *info);
const char *disk_type_name(vhdx_disk_type t);
int open_image_info(const char *cmd, const char *path, struct cli_findings *fs,
                    vhdx_image **img, vhdx_info **info);
void close_image_info(struct cli_findings *fs, vhdx_image *img, vhdx_info *info);
int parse_json_image_args(int argc, char **argv, bool *json);
bool image_offset_length(int argc, char **argv, const char **path, uint64_t *offset,
                         uint64_t *length);
void range_outside(const char *cmd, uint64_t offset, uint64_t length, uint64_t size);

/*
 * Progress on standard error (-p of convert and commit). On a terminal one
 * line is updated in place, at most every PROGRESS_INTERVAL_MS
 * (vhdx_common.c); otherwise (lines) a line is printed at each tenth of the
 * way.
 */
struct progress {
    bool on;
    bool lines;       /* stderr is not a terminal: a line per 10% */
    uint64_t total;
    int shown;        /* per ten thousand, -1 before the first */
    int64_t last_ms;  /* when the terminal line was last written */
};

void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

/* Opening for writing and reporting failures (write, discard, resize, convert, commit). */
vhdx_limits writing_limits(void);
int open_writable(const char *path, struct cli_findings *fs, vhdx_image **img);
int finish_writing(const char *path, vhdx_image *img, struct cli_findings *fs);
int write_failure(const char *path, const char *what, uint64_t offset, vhdx_status st,
                  const struct cli_findings *fs, size_t before);

/* ---- create options (create, convert -O vhdx) ---- */

/* The largest virtual disk the format allows (VHDX-FORMAT.md §5.4.2). */
#define MAX_VIRTUAL_SIZE ((uint64_t)64 << 40)

enum create_key {
    KEY_SUBFORMAT,
    KEY_BLOCK_SIZE,
    KEY_LOG_SIZE,
    KEY_LOGICAL_SECTOR_SIZE,
    KEY_PHYSICAL_SECTOR_SIZE,
    KEY_PARENT,
    KEY_COUNT
};

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

void create_settings_init(struct create_settings *s, bool convert);
void create_settings_free(struct create_settings *s);
int parse_create_options(struct create_settings *s, const char *text);
int check_virtual_size(uint64_t size, uint32_t lss, const char *what);
int create_failure_exit(vhdx_status st);
int refuse_existing(const char *path);

/* Replays IMAGE's log into the file, or lists it (cmd_replay.c; also check -r). */
int replay_in_place(const char *cmd, const char *path, bool dry, FILE *out);

#endif
