/*
 * Diagnostic sink: where decoders and validators report findings.
 *
 * A sink stores up to `capacity` records in caller-owned memory (no
 * allocation) and counts every finding, stored or not. An optional callback
 * sees every finding as it is made. A NULL sink is allowed everywhere: the
 * finding is then only reflected in the returned status.
 *
 * Offsets: a module reports offsets relative to the buffer it was given; the
 * sink adds `base`, the file offset of that buffer, which the caller sets.
 */
#ifndef VHDX_BASE_DIAG_H
#define VHDX_BASE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

struct diag_sink {
    vhdx_diag *records;
    size_t capacity;
    size_t stored;
    size_t total;
    size_t errors;
    size_t warnings;
    size_t infos;
    uint64_t base; /* file offset of the buffer under decode */
    void (*on_diag)(void *ctx, const vhdx_diag *d);
    void *ctx;
};

void diag_sink_init(struct diag_sink *sink, vhdx_diag *records, size_t capacity);

/*
 * Records a finding and returns `code`, so that a decoder can write
 *     return DIAG_ERROR(d, VHDX_E_SIGNATURE, "header.signature", "header", 0, "...");
 * rel_offset is relative to sink->base; VHDX_OFFSET_NONE stays NONE.
 */
vhdx_status diag_report(struct diag_sink *sink, const char *src_file, int src_line,
                        vhdx_severity severity, vhdx_status code, const char *rule,
                        const char *structure, uint64_t rel_offset, const char *fmt, ...)
    PRINTF_LIKE(9, 10);

#define DIAG_ERROR(sink, code, rule, structure, off, ...)                                     \
    diag_report((sink), __FILE__, __LINE__, VHDX_SEVERITY_ERROR, (code), (rule), (structure), \
                (off), __VA_ARGS__)
#define DIAG_WARN(sink, code, rule, structure, off, ...)                                        \
    diag_report((sink), __FILE__, __LINE__, VHDX_SEVERITY_WARNING, (code), (rule), (structure), \
                (off), __VA_ARGS__)
#define DIAG_INFO(sink, rule, structure, off, ...)                                           \
    diag_report((sink), __FILE__, __LINE__, VHDX_SEVERITY_INFO, VHDX_OK, (rule), (structure), \
                (off), __VA_ARGS__)

/*
 * Passes the records a sink stored on to `to`, in order: offsets are kept
 * as they are (already file offsets), and with demote_errors an error
 * becomes a warning. For findings held back until it is known whether they
 * matter (a redundant copy, a torn log entry).
 */
void diag_forward(struct diag_sink *to, const struct diag_sink *held, bool demote_errors);

/* True when the sink holds a record with this rule id (any severity). */
bool diag_has_rule(const struct diag_sink *sink, const char *rule);

/*
 * Called for every error-severity finding. It does nothing; it exists so a
 * debugger can break on corruption detection (SQLite's CORRUPT_BKPT idea).
 */
void diag_corruption_breakpoint(const vhdx_diag *d);

/*
 * Explicitly discards a status (gcc does not accept a (void) cast on a
 * warn_unused_result call). Use only where the findings, not the status,
 * are what matters, and say why at the call.
 */
static inline void status_ignore(vhdx_status s)
{
    (void)s;
}

/* Keeps the first error seen: `first = status_first(first, s)`. */
static inline vhdx_status status_first(vhdx_status first, vhdx_status next)
{
    return first != VHDX_OK ? first : next;
}

#endif
