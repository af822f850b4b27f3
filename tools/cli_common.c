/*
 * cli_common.c: number parsing, safe text output, findings and verdicts
 * shared by `vhdx` and `vhdx-verify`. See cli_common.h.
 */
#include "cli_common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Numbers ---- */

static int digit_value(char c, unsigned base)
{
    int v;
    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    else
        return -1;
    return (unsigned)v < base ? v : -1;
}

bool cli_parse_size(const char *text, uint64_t *out)
{
    const char *p = text;
    unsigned base = 10, shift = 0;
    uint64_t v = 0;
    size_t digits = 0;

    if (p == NULL || out == NULL)
        return false;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++) {
        int d = digit_value(*p, base);
        if (d < 0)
            break;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return false;
        v = v * base + (uint64_t)d;
        digits++;
    }
    if (digits == 0)
        return false;
    switch (*p) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        p++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        p++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        p++;
        break;
    case 't':
    case 'T':
        shift = 40;
        p++;
        break;
    default:
        return false;
    }
    if (*p != '\0')
        return false;
    if (shift != 0 && v > (UINT64_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

bool cli_parse_size_delta(const char *text, int *sign, uint64_t *out)
{
    int sg = 0;
    uint64_t v;

    if (text == NULL || sign == NULL || out == NULL)
        return false;
    if (text[0] == '+' || text[0] == '-') {
        sg = text[0] == '+' ? 1 : -1;
        text++;
    }
    if (!cli_parse_size(text, &v))
        return false;
    *sign = sg;
    *out = v;
    return true;
}

void cli_format_size(uint64_t value, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned u = 0;

    /* Text for people: a buffer too small cuts it short, which is all it can do. */
    if (value < 1024) {
        (void)snprintf(buf, cap, "%" PRIu64 " bytes", value);
        return;
    }
    while (u + 1 < sizeof(units) / sizeof(units[0]) && (value >> (10 * (u + 2))) != 0)
        u++;
    if ((value & ((UINT64_C(1) << (10 * (u + 1))) - 1)) == 0)
        (void)snprintf(buf, cap, "%" PRIu64 " %s", value >> (10 * (u + 1)), units[u]);
    else
        (void)snprintf(buf, cap, "%.2f %s",
                       (double)value / (double)(UINT64_C(1) << (10 * (u + 1))), units[u]);
}

/* ---- Text from files ---- */

/*
 * The length of the valid UTF-8 sequence at s (1-4), or 0 when the byte at s
 * does not start one: no overlong forms, no surrogates, nothing above
 * U+10FFFF. s is NUL-terminated; NUL is never a continuation byte, so the
 * checks stop there. *cp receives the code point.
 */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
        *cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        *cp = b & 0x0Fu;
        if (b == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        *cp = b & 0x07u;
        if (b == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char c = s[i];
        if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF))
            return 0;
        *cp = (*cp << 6) | (c & 0x3Fu);
    }
    return n;
}

/*
 * Characters that change how the rest of a line is laid out: bidirectional
 * marks, embeddings, overrides and isolates, and the line and paragraph
 * separators. A file could use them to make a printed line say something
 * else than its bytes.
 */
static bool is_layout_control(uint32_t cp)
{
    return cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

void cli_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    while (*p != '\0') {
        uint32_t cp;
        size_t n = utf8_sequence(p, &cp);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        switch (cp) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            /* C0, DEL and C1 controls, and the layout controls (which include
             * the two separators JavaScript treats as newlines). */
            if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || is_layout_control(cp))
                fprintf(f, "\\u%04" PRIx32, cp);
            else
                (void)fwrite(p, 1, n, f); /* errors: the stream's indicator, checked at exit */
            break;
        }
        p += n;
    }
    fputc('"', f);
}

void cli_text_safe(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL)
        return;
    while (*p != '\0') {
        uint32_t cp;
        size_t n = utf8_sequence(p, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            if (n == 0)
                n = 1;
            for (size_t i = 0; i < n; i++)
                fprintf(f, "\\x%02x", p[i]);
        } else if (is_layout_control(cp)) {
            fprintf(f, "\\u%04" PRIx32, cp);
        } else {
            (void)fwrite(p, 1, n, f); /* errors: the stream's indicator, checked at exit */
        }
        p += n;
    }
}

/* ---- Findings ---- */

void cli_findings_init(struct cli_findings *f)
{
    memset(f, 0, sizeof(*f));
}

void cli_findings_free(struct cli_findings *f)
{
    free(f->items);
    free(f->rules);
    cli_findings_init(f);
}

/*
 * The count of d's rule id, added when first seen; NULL when there is no
 * room. The last one found is tried first: repeated damage comes in runs.
 */
static struct cli_rule_count *rule_count(struct cli_findings *f, const char *rule)
{
    if (rule == NULL)
        rule = "(no rule)";
    if (f->last_rule < f->nrules && strcmp(f->rules[f->last_rule].rule, rule) == 0)
        return &f->rules[f->last_rule];
    for (size_t i = 0; i < f->nrules; i++) {
        if (strcmp(f->rules[i].rule, rule) == 0) {
            f->last_rule = i;
            return &f->rules[i];
        }
    }
    if (f->nrules == f->rules_cap) {
        size_t ncap = f->rules_cap == 0 ? 32 : f->rules_cap * 2;
        struct cli_rule_count *n;
        if (ncap > CLI_RULES_MAX)
            ncap = CLI_RULES_MAX;
        if (ncap <= f->rules_cap)
            return NULL;
        n = realloc(f->rules, ncap * sizeof(*n));
        if (n == NULL)
            return NULL;
        f->rules = n;
        f->rules_cap = ncap;
    }
    f->last_rule = f->nrules;
    f->rules[f->nrules].rule = rule;
    f->rules[f->nrules].count = 0;
    f->rules[f->nrules].stored = 0;
    return &f->rules[f->nrules++];
}

void cli_findings_collect(void *ctx, const vhdx_diag *d)
{
    struct cli_findings *f = ctx;
    struct cli_rule_count *rc = rule_count(f, d->rule);

    if (rc != NULL)
        rc->count++;
    else
        f->uncounted++;

    switch (d->severity) {
    case VHDX_SEVERITY_ERROR:
        f->errors++;
        break;
    case VHDX_SEVERITY_WARNING:
        f->warnings++;
        break;
    case VHDX_SEVERITY_INFO:
    default:
        f->infos++;
        break;
    }
    if (f->count == f->cap) {
        size_t ncap = f->cap == 0 ? 16 : f->cap * 2;
        vhdx_diag *n;
        if (ncap > CLI_FINDINGS_MAX)
            ncap = CLI_FINDINGS_MAX;
        if (ncap <= f->cap) {
            f->omitted++;
            return;
        }
        n = realloc(f->items, ncap * sizeof(*n));
        if (n == NULL) {
            f->omitted++;
            return;
        }
        f->items = n;
        f->cap = ncap;
    }
    f->items[f->count] = *d;
    /* The message is the library's fixed-size buffer: make sure it ends. */
    f->items[f->count].message[VHDX_DIAG_MESSAGE_MAX - 1] = '\0';
    f->count++;
    if (rc != NULL)
        rc->stored++;
}

void cli_diag_print_text(FILE *f, const vhdx_diag *d)
{
    fprintf(f, "  %-7s ", vhdx_severity_name(d->severity));
    cli_text_safe(f, d->rule != NULL ? d->rule : "(no rule)");
    if (d->offset != VHDX_OFFSET_NONE)
        fprintf(f, "  at 0x%" PRIx64, d->offset);
    fputs(": ", f);
    cli_text_safe(f, d->message);
    fputc('\n', f);
}

void cli_diag_print_json(FILE *f, const vhdx_diag *d)
{
    fputs("{\"severity\": ", f);
    cli_json_string(f, vhdx_severity_name(d->severity));
    fputs(", \"rule\": ", f);
    cli_json_string(f, d->rule);
    fputs(", \"status\": ", f);
    cli_json_string(f, vhdx_status_name(d->code));
    fputs(", \"structure\": ", f);
    cli_json_string(f, d->structure);
    if (d->offset == VHDX_OFFSET_NONE)
        fputs(", \"offset\": null", f);
    else
        fprintf(f, ", \"offset\": %" PRIu64, d->offset);
    fputs(", \"message\": ", f);
    cli_json_string(f, d->message);
    fputc('}', f);
}

static void limit_reason(const struct cli_findings *fs, vhdx_status st, char *buf, size_t cap);

int cli_status_exit(vhdx_status st)
{
    switch (st) {
    case VHDX_OK:
        return CLI_EXIT_OK;
    case VHDX_E_IO:
    case VHDX_E_NOMEM:
    case VHDX_E_LIMIT: /* a limit reached is never the image's fault */
    case VHDX_E_INVALID_ARG:
    case VHDX_E_BAD_STATE:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_INVALID;
    }
}

void cli_open_failure_reason(const char *path, vhdx_status st, char *buf, size_t cap)
{
    struct stat sb;

    /* Text for people: a buffer too small cuts it short, which is all it can do. */
    if (stat(path, &sb) != 0)
        (void)snprintf(buf, cap, "%s", strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        (void)snprintf(buf, cap, "is a directory");
    else if (!S_ISREG(sb.st_mode))
        (void)snprintf(buf, cap, "not a regular file");
    else
        (void)snprintf(buf, cap, "%s", vhdx_strerror(st));
}

static void print_error_findings(FILE *f, const struct cli_findings *fs, size_t max)
{
    size_t shown = 0;

    for (size_t i = 0; i < fs->count && shown < max; i++) {
        if (fs->items[i].severity != VHDX_SEVERITY_ERROR)
            continue;
        cli_diag_print_text(f, &fs->items[i]);
        shown++;
    }
    if (fs->errors > shown)
        fprintf(f, "  ... and %zu more error(s)\n", fs->errors - shown);
}

static const char *const *parent_dirs;

void cli_set_parent_dirs(const char *const *dirs)
{
    parent_dirs = dirs;
}

int cli_open_image(const char *prog, const char *path, struct cli_findings *fs, vhdx_image **out)
{
    vhdx_open_options o;
    vhdx_status st;
    char reason[256];

    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_READ_ONLY;
    o.limits = cli_read_limits();
    o.parent_dirs = parent_dirs;
    o.on_diag = cli_findings_collect;
    o.diag_ctx = fs;
    *out = NULL;
    st = vhdx_open_path(path, &o, out);
    if (st == VHDX_OK && *out != NULL)
        return CLI_EXIT_OK;
    if (st == VHDX_OK)
        st = VHDX_E_INVALID_ARG; /* no handle: treat as not opened */
    *out = NULL;
    /* Without an error finding, the file itself could not be opened. */
    if (fs->errors == 0 || cli_status_exit(st) == CLI_EXIT_USAGE) {
        if (st == VHDX_E_LIMIT || st == VHDX_E_NOMEM)
            limit_reason(fs, st, reason, sizeof(reason));
        else
            cli_open_failure_reason(path, st, reason, sizeof(reason));
        fprintf(stderr, "%s: ", prog);
        cli_text_safe(stderr, path);
        fprintf(stderr, ": cannot open: %s\n", reason);
        print_error_findings(stderr, fs, CLI_OPEN_ERRORS_SHOWN);
        return CLI_EXIT_USAGE;
    }
    fprintf(stderr, "%s: ", prog);
    cli_text_safe(stderr, path);
    fprintf(stderr, ": invalid image: %s\n", vhdx_strerror(st));
    print_error_findings(stderr, fs, CLI_OPEN_ERRORS_SHOWN);
    return CLI_EXIT_INVALID;
}

int cli_open_image_flags(const char *prog, const char *path, unsigned flags,
                         const vhdx_limits *limits, struct cli_findings *fs, vhdx_image **out)
{
    vhdx_open_options o;
    vhdx_status st;
    char reason[256];
    int exit_code;

    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.limits = limits;
    o.parent_dirs = parent_dirs;
    o.on_diag = cli_findings_collect;
    o.diag_ctx = fs;
    *out = NULL;
    st = vhdx_open_path(path, &o, out);
    if (st == VHDX_OK && *out != NULL)
        return CLI_EXIT_OK;
    if (st == VHDX_OK)
        st = VHDX_E_INVALID_ARG; /* no handle: treat as not opened */
    *out = NULL;
    exit_code = fs->errors == 0 || cli_status_exit(st) == CLI_EXIT_USAGE ? CLI_EXIT_USAGE
                                                                         : CLI_EXIT_INVALID;
    fprintf(stderr, "%s: ", prog);
    cli_text_safe(stderr, path);
    if (exit_code == CLI_EXIT_INVALID) {
        fprintf(stderr, ": invalid image: %s\n", vhdx_strerror(st));
    } else {
        const char *what = "cannot open";
        cli_open_failure_reason(path, st, reason, sizeof(reason));
        if ((flags & VHDX_OPEN_WRITABLE) != 0) {
            /* The file is there: say why it cannot be written, if that is why. */
            struct stat sb;
            if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0) {
                    what = "cannot open for writing";
                    (void)snprintf(reason, sizeof(reason), "%s", strerror(errno)); /* a message */
                } else {
                    close(fd);
                }
            }
        }
        fprintf(stderr, ": %s: %s\n", what, reason);
    }
    print_error_findings(stderr, fs, CLI_OPEN_ERRORS_SHOWN);
    return exit_code;
}

/* ---- Limits ---- */

static vhdx_limits read_limits;
static bool read_limits_set;

const vhdx_limits *cli_read_limits(void)
{
    if (!read_limits_set) {
        read_limits = vhdx_limits_default();
        read_limits_set = true;
    }
    return &read_limits;
}

int cli_take_max_memory(const char *prog, int *argc, char **argv)
{
    int i = 1;
    while (i < *argc) {
        const char *a = argv[i], *value = NULL;
        int used;
        uint64_t v = 0;
        if (strcmp(a, "--") == 0)
            break;
        if (strcmp(a, "--max-memory") == 0) {
            value = i + 1 < *argc ? argv[i + 1] : NULL;
            used = 2;
        } else if (strncmp(a, "--max-memory=", 13) == 0) {
            value = a + 13;
            used = 1;
        } else {
            i++;
            continue;
        }
        if (value == NULL || !cli_parse_size(value, &v) || v < ((uint64_t)1 << 20)) {
            fprintf(stderr, "%s: --max-memory needs a SIZE of at least 1M (try --help)\n", prog);
            return CLI_EXIT_USAGE;
        }
        (void)cli_read_limits();
        read_limits.max_memory = v;
        for (int k = i; k + used < *argc; k++)
            argv[k] = argv[k + used];
        *argc -= used;
        argv[*argc] = NULL;
    }
    return -1;
}

/*
 * The reason of a verdict "cannot judge" reached at a limit: which limit,
 * what needed more, and how to raise it.
 */
static void limit_reason(const struct cli_findings *fs, vhdx_status st, char *buf, size_t cap)
{
    const vhdx_diag *d = NULL;
    for (size_t i = 0; i < fs->count && d == NULL; i++)
        if (fs->items[i].code == st)
            d = &fs->items[i];
    if (st == VHDX_E_NOMEM) {
        (void)snprintf(buf, cap, "out of memory (%s)", d != NULL ? d->rule : "the allocator failed");
        return;
    }
    if (d != NULL && (strstr(d->rule, "memory") != NULL || strstr(d->rule, "overlay") != NULL)) {
        (void)snprintf(buf, cap,
                       "the memory limit of %" PRIu64 " MiB was reached (%s); the image was not "
                       "judged: raise the limit with --max-memory SIZE",
                       cli_read_limits()->max_memory >> 20, d->rule);
        return;
    }
    (void)snprintf(buf, cap, "a limit of vhdx_limits was reached (%s); the image was not judged",
                   d != NULL ? d->rule : "no finding says which");
}

/* ---- Verdicts ---- */

void cli_check_run(const char *path, struct cli_check *c)
{
    vhdx_open_options o;
    vhdx_check_result r;
    vhdx_status st;

    memset(c, 0, sizeof(*c));
    c->path = path;
    cli_findings_init(&c->findings);
    memset(&o, 0, sizeof(o));
    memset(&r, 0, sizeof(r));
    o.flags = VHDX_OPEN_READ_ONLY;
    o.limits = cli_read_limits();
    o.parent_dirs = parent_dirs;
    o.on_diag = cli_findings_collect;
    o.diag_ctx = &c->findings;
    st = vhdx_check_path(path, &o, &r);
    if (st != VHDX_OK) {
        c->verdict = CLI_VERDICT_CANNOT_JUDGE;
        c->errors = c->findings.errors;
        c->warnings = c->findings.warnings;
        c->infos = c->findings.infos;
        c->limit = st == VHDX_E_LIMIT || st == VHDX_E_NOMEM;
        if (c->limit)
            limit_reason(&c->findings, st, c->reason, sizeof(c->reason));
        else if (c->findings.count == 0)
            cli_open_failure_reason(path, st, c->reason, sizeof(c->reason));
        else
            (void)snprintf(c->reason, sizeof(c->reason), "%s", vhdx_strerror(st)); /* a message */
        return;
    }
    c->errors = r.errors;
    c->warnings = r.warnings;
    c->infos = r.infos;
    c->verdict = r.errors != 0 ? CLI_VERDICT_ERRORS : CLI_VERDICT_OK;
    /* Errors came before a limit: they are the verdict; the report still says a limit stopped it. */
    for (size_t i = 0; i < c->findings.count && !c->limit; i++)
        c->limit = c->findings.items[i].code == VHDX_E_LIMIT;
}

void cli_check_free(struct cli_check *c)
{
    cli_findings_free(&c->findings);
}

int cli_check_exit(const struct cli_check *c)
{
    switch (c->verdict) {
    case CLI_VERDICT_OK:
        return CLI_EXIT_OK;
    case CLI_VERDICT_ERRORS:
        return CLI_EXIT_INVALID;
    case CLI_VERDICT_CANNOT_JUDGE:
    default:
        return CLI_EXIT_USAGE;
    }
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The index of a stored finding's rule in fs->rules, or fs->nrules when it has none. */
static size_t rule_index(const struct cli_findings *fs, const char *rule)
{
    if (rule == NULL)
        rule = "(no rule)";
    for (size_t i = 0; i < fs->nrules; i++)
        if (strcmp(fs->rules[i].rule, rule) == 0)
            return i;
    return fs->nrules;
}

/*
 * The findings in the order made, at most CLI_TEXT_PER_RULE of each rule
 * id; then one line per rule with more, and one for findings not counted
 * by rule (none unless memory ran out).
 */
static void print_findings_capped(FILE *f, const struct cli_findings *fs)
{
    size_t *printed = fs->nrules != 0 ? calloc(fs->nrules, sizeof(*printed)) : NULL;
    size_t shown = 0, folded = 0, total = fs->errors + fs->warnings + fs->infos;

    for (size_t i = 0; i < fs->count; i++) {
        size_t r = printed != NULL ? rule_index(fs, fs->items[i].rule) : fs->nrules;
        if (r < fs->nrules && printed[r] >= CLI_TEXT_PER_RULE)
            continue;
        if (r < fs->nrules)
            printed[r]++;
        cli_diag_print_text(f, &fs->items[i]);
        shown++;
    }
    for (size_t r = 0; printed != NULL && r < fs->nrules; r++) {
        size_t more = fs->rules[r].count - printed[r];
        if (more == 0)
            continue;
        fprintf(f, "  ... and %zu more `", more);
        cli_text_safe(f, fs->rules[r].rule);
        fprintf(f, "` finding%s\n", more == 1 ? "" : "s");
        folded += more;
    }
    free(printed);
    if (total > shown + folded)
        fprintf(f, "  ... %zu more finding(s) not shown\n", total - shown - folded);
}

void cli_check_print_text(FILE *f, const struct cli_check *c, bool quiet)
{
    if (quiet && c->verdict == CLI_VERDICT_OK)
        return;
    cli_text_safe(f, c->path);
    switch (c->verdict) {
    case CLI_VERDICT_OK:
        fprintf(f, ": ok (%zu %s)\n", c->warnings, plural(c->warnings, "warning", "warnings"));
        break;
    case CLI_VERDICT_ERRORS:
        fprintf(f, ": errors (%zu %s, %zu %s)\n", c->errors, plural(c->errors, "error", "errors"),
                c->warnings, plural(c->warnings, "warning", "warnings"));
        break;
    case CLI_VERDICT_CANNOT_JUDGE:
    default:
        fputs(": cannot judge: ", f);
        cli_text_safe(f, c->reason);
        fputc('\n', f);
        break;
    }
    if (quiet)
        return;
    print_findings_capped(f, &c->findings);
}

void cli_check_json_begin(FILE *f)
{
    fprintf(f, "{\n  \"version\": %d,\n  \"images\": [", CLI_JSON_VERSION);
}

void cli_check_print_json(FILE *f, const struct cli_check *c, bool first)
{
    static const char *const verdicts[] = {"ok", "errors", "cannot_judge"};

    fputs(first ? "\n    {\n" : ",\n    {\n", f);
    fputs("      \"path\": ", f);
    cli_json_string(f, c->path);
    fprintf(f, ",\n      \"verdict\": \"%s\",\n", verdicts[c->verdict]);
    fputs("      \"reason\": ", f);
    cli_json_string(f, c->verdict == CLI_VERDICT_CANNOT_JUDGE ? c->reason : NULL);
    fprintf(f, ",\n      \"limit_reached\": %s", c->limit ? "true" : "false");
    fprintf(f,
            ",\n      \"errors\": %zu,\n      \"warnings\": %zu,\n      \"infos\": %zu,\n"
            "      \"findings_omitted\": %zu,\n      \"findings\": [",
            c->errors, c->warnings, c->infos, c->findings.omitted);
    for (size_t i = 0; i < c->findings.count; i++) {
        fputs(i == 0 ? "\n        " : ",\n        ", f);
        cli_diag_print_json(f, &c->findings.items[i]);
    }
    fputs(c->findings.count != 0 ? "\n      ],\n" : "],\n", f);
    /* Per rule id: how many there were and how many `findings` lists. */
    fputs("      \"rules\": [", f);
    for (size_t r = 0; r < c->findings.nrules; r++) {
        const struct cli_rule_count *rc = &c->findings.rules[r];
        fputs(r == 0 ? "\n        {\"rule\": " : ",\n        {\"rule\": ", f);
        cli_json_string(f, rc->rule);
        fprintf(f, ", \"count\": %zu, \"listed\": %zu}", rc->count, rc->stored);
    }
    fputs(c->findings.nrules != 0 ? "\n      ]\n    }" : "]\n    }", f);
}

void cli_check_json_end(FILE *f)
{
    fputs("\n  ]\n}\n", f);
}

const char *cli_bat_state_name(uint8_t state)
{
    switch (state) {
    case 0:
        return "NOT_PRESENT";
    case 1:
        return "UNDEFINED";
    case 2:
        return "ZERO";
    case 3:
        return "UNMAPPED";
    case 6:
        return "FULLY_PRESENT";
    case 7:
        return "PARTIALLY_PRESENT";
    default:
        return "RESERVED";
    }
}
