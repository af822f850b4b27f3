/*
 * cli_common.h: what the command-line tools `vhdx` and `vhdx-verify` share:
 * number parsing, safe printing of text that comes from hostile files, the
 * collection and printing of findings, and the one implementation of the
 * verdict that `vhdx-verify` and `vhdx check` both print.
 *
 * Built on the public interface (vhdx.h) only.
 */
#ifndef VHDX_TOOLS_CLI_COMMON_H
#define VHDX_TOOLS_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vhdx.h"

/* Exit statuses of every tool (docs/CLI.md). */
enum {
    CLI_EXIT_OK = 0,      /* success; for a check: no errors (warnings allowed) */
    CLI_EXIT_INVALID = 1, /* the image is invalid (has errors) */
    CLI_EXIT_USAGE = 2    /* usage error, I/O error, or the image could not be judged */
};

/* The version of the JSON documents the tools print (docs/verify-json.md). */
#define CLI_JSON_VERSION 1

/* Findings kept per image; more are counted but not stored. */
#define CLI_FINDINGS_MAX 10000u

/* Error findings printed when an image fails to open. */
#define CLI_OPEN_ERRORS_SHOWN 20u

/*
 * Findings of one rule id printed in a text report; the rest of that rule
 * are folded into one line "... and N more `rule` findings", as compilers
 * do, so that one damage repeated a million times (a BAT) still gives a
 * short report. The JSON report lists them (up to CLI_FINDINGS_MAX).
 */
#define CLI_TEXT_PER_RULE 8u

/* Distinct rule ids counted per image (the library has fewer than 300). */
#define CLI_RULES_MAX 1024u

/* ---- Numbers ---- */

/*
 * Parses a byte count or offset: decimal digits, or 0x followed by hex
 * digits, then optionally one suffix K, M, G or T (either case), which
 * multiplies by 1024, 1024^2, 1024^3 or 1024^4. Rejects an empty string,
 * signs, spaces, any other character and any value above UINT64_MAX.
 * Returns true and sets *out on success; *out is untouched otherwise.
 */
bool cli_parse_size(const char *text, uint64_t *out);

/*
 * A size that may be relative: cli_parse_size's syntax, optionally preceded
 * by '+' or '-'. *sign receives +1, -1, or 0 when there is no sign (an
 * absolute size). Returns false (outputs untouched) on a syntax error.
 */
bool cli_parse_size_delta(const char *text, int *sign, uint64_t *out);

/*
 * Writes "1 GiB", "32 MiB", "1.50 GiB" or "512 bytes": the largest binary
 * unit the value reaches, exact when it is a multiple of it.
 */
void cli_format_size(uint64_t value, char *buf, size_t cap);

/* ---- Text from files ---- */

/*
 * Writes s as a JSON string, quotes included. Quotes, backslashes and
 * control characters (C0, DEL, C1) are escaped, and so are the layout
 * controls (bidirectional marks, overrides and isolates, U+2028, U+2029);
 * other valid UTF-8 passes through; every byte that is not part of a valid UTF-8
 * sequence (overlong forms and surrogates included) becomes U+FFFD. NULL
 * is written as null.
 */
void cli_json_string(FILE *f, const char *s);

/*
 * Writes s for a person's terminal: valid UTF-8 passes through, control
 * characters (C0, DEL, C1) and invalid bytes are written as \xNN so that a
 * file cannot send escape sequences to the terminal, and bidirectional
 * controls and line separators as \uNNNN so that it cannot reorder a line.
 */
void cli_text_safe(FILE *f, const char *s);

/* ---- Findings ---- */

/* How many findings of one rule id an image gave, stored or not. */
struct cli_rule_count {
    const char *rule; /* the library's static string */
    size_t count;
    size_t stored;    /* of them, how many are in items */
};

struct cli_findings {
    vhdx_diag *items;
    size_t count;
    size_t cap;
    size_t omitted; /* findings not stored (beyond CLI_FINDINGS_MAX, or no memory) */
    size_t errors;
    size_t warnings;
    size_t infos;
    /* Per rule id, in the order each was first seen (at most CLI_RULES_MAX). */
    struct cli_rule_count *rules;
    size_t nrules;
    size_t rules_cap;
    size_t last_rule; /* the rule the last finding had, tried first */
    size_t uncounted; /* findings whose rule found no room in rules */
};

void cli_findings_init(struct cli_findings *f);
void cli_findings_free(struct cli_findings *f);

/* A vhdx_open_options.on_diag callback; ctx is a struct cli_findings. */
void cli_findings_collect(void *ctx, const vhdx_diag *d);

/*
 * One finding as a line of text:
 *   "  error   header.checksum  at 0x20004: message"
 *   "  warning image.header.equal_identical: message"   (no offset)
 */
void cli_diag_print_text(FILE *f, const vhdx_diag *d);

/* One finding as a JSON object (docs/verify-json.md). */
void cli_diag_print_json(FILE *f, const vhdx_diag *d);

/* Maps a failing status to an exit code: 2 for I/O, memory, argument and
 * failed-handle statuses (the image was not judged), 1 for the rest. */
int cli_status_exit(vhdx_status st);

/*
 * Why `path` could not be opened, for a message: the system's reason when
 * it cannot be examined, "not a regular file", or vhdx_strerror(st).
 */
void cli_open_failure_reason(const char *path, vhdx_status st, char *buf, size_t cap);

/*
 * Directories, besides an image's own, in which the built-in parent opener
 * may find its parents (vhdx_open_options.parent_dirs): a NULL-terminated
 * array that must outlive every later open, or NULL (the default). Every
 * open below uses it.
 */
void cli_set_parent_dirs(const char *const *dirs);

/*
 * Opens an image read-only with default limits, collecting its findings in
 * fs (initialised by the caller, which keeps it until after vhdx_close: the
 * library may report while the image is open). On failure prints
 * "PROG: PATH: ..." and up to CLI_OPEN_ERRORS_SHOWN error findings to
 * stderr and returns the exit code (1 invalid image, 2 cannot open);
 * returns 0 with *out set on success.
 */
int cli_open_image(const char *prog, const char *path, struct cli_findings *fs, vhdx_image **out);

/*
 * cli_open_image with open flags (VHDX_OPEN_WRITABLE, VHDX_OPEN_NO_PARENT)
 * and limits (NULL: the defaults). When a writable open fails because the
 * file cannot be opened for writing, the message says so with the system's
 * reason ("cannot open for writing: Permission denied").
 */
int cli_open_image_flags(const char *prog, const char *path, unsigned flags,
                         const vhdx_limits *limits, struct cli_findings *fs, vhdx_image **out);

/* ---- Verdicts (vhdx-verify, vhdx check) ---- */

enum cli_verdict { CLI_VERDICT_OK, CLI_VERDICT_ERRORS, CLI_VERDICT_CANNOT_JUDGE };

struct cli_check {
    const char *path;
    enum cli_verdict verdict;
    size_t errors;
    size_t warnings;
    size_t infos;
    char reason[256]; /* CANNOT_JUDGE only */
    bool limit;       /* CANNOT_JUDGE because a limit was reached (not the image's fault) */
    struct cli_findings findings;
};

/*
 * --max-memory SIZE (or --max-memory=SIZE) of the read-only commands:
 * removed from argv[1..*argc) (before any "--") and kept for
 * cli_read_limits. Returns -1 to go on, or CLI_EXIT_USAGE after a message
 * (prog names the program) for a missing or bad SIZE.
 */
int cli_take_max_memory(const char *prog, int *argc, char **argv);

/* The limits of read-only opens: the library's, with --max-memory applied. */
const vhdx_limits *cli_read_limits(void);

/* Judges one image with vhdx_check_path (read-only). Free with cli_check_free. */
void cli_check_run(const char *path, struct cli_check *c);
void cli_check_free(struct cli_check *c);

/* 0, 1 or 2 for one verdict. */
int cli_check_exit(const struct cli_check *c);

/*
 * The verdict line and the findings. With quiet, an ok image prints
 * nothing and another prints its verdict line only.
 */
void cli_check_print_text(FILE *f, const struct cli_check *c, bool quiet);

/* The JSON document: begin, one object per image (first says whether a
 * comma is needed), end. */
void cli_check_json_begin(FILE *f);
void cli_check_print_json(FILE *f, const struct cli_check *c, bool first);
void cli_check_json_end(FILE *f);

/* The name of a payload block state (FULLY_PRESENT...) for map output. */
const char *cli_bat_state_name(uint8_t state);

#endif /* VHDX_TOOLS_CLI_COMMON_H */
