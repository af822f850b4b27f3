#include "base/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void diag_sink_init(struct diag_sink *sink, vhdx_diag *records, size_t capacity)
{
    memset(sink, 0, sizeof(*sink));
    sink->records = records;
    sink->capacity = records != NULL ? capacity : 0;
}

__attribute__((noinline)) void diag_corruption_breakpoint(const vhdx_diag *d)
{
    /* An empty asm keeps the call from being optimised away. */
    __asm__ volatile("" : : "r"(d) : "memory");
}

vhdx_status diag_report(struct diag_sink *sink, const char *src_file, int src_line,
                        vhdx_severity severity, vhdx_status code, const char *rule,
                        const char *structure, uint64_t rel_offset, const char *fmt, ...)
{
    vhdx_diag d;
    va_list ap;

    if (sink == NULL)
        return code;

    memset(&d, 0, sizeof(d));
    d.code = code;
    d.severity = severity;
    d.rule = rule;
    d.structure = structure;
    d.src_file = src_file;
    d.src_line = src_line;
    if (rel_offset == VHDX_OFFSET_NONE || sink->base == VHDX_OFFSET_NONE ||
        __builtin_add_overflow(sink->base, rel_offset, &d.offset))
        d.offset = VHDX_OFFSET_NONE;

    va_start(ap, fmt);
    (void)vsnprintf(d.message, sizeof(d.message), fmt, ap);
    va_end(ap);

    sink->total++;
    switch (severity) {
    case VHDX_SEVERITY_ERROR:
        sink->errors++;
        diag_corruption_breakpoint(&d);
        break;
    case VHDX_SEVERITY_WARNING:
        sink->warnings++;
        break;
    case VHDX_SEVERITY_INFO:
    default:
        sink->infos++;
        break;
    }
    if (sink->stored < sink->capacity)
        sink->records[sink->stored++] = d;
    if (sink->on_diag != NULL)
        sink->on_diag(sink->ctx, &d);
    return code;
}

void diag_forward(struct diag_sink *to, const struct diag_sink *held, bool demote_errors)
{
    uint64_t base;
    if (to == NULL || held == NULL)
        return;
    base = to->base;
    to->base = 0;
    for (size_t i = 0; i < held->stored; i++) {
        const vhdx_diag *d = &held->records[i];
        vhdx_severity sev = demote_errors && d->severity == VHDX_SEVERITY_ERROR
                                ? VHDX_SEVERITY_WARNING
                                : d->severity;
        (void)diag_report(to, d->src_file, d->src_line, sev, d->code, d->rule, d->structure,
                          d->offset, "%s", d->message);
    }
    to->base = base;
}

bool diag_has_rule(const struct diag_sink *sink, const char *rule)
{
    if (sink == NULL || rule == NULL)
        return false;
    for (size_t i = 0; i < sink->stored; i++) {
        if (sink->records[i].rule != NULL && strcmp(sink->records[i].rule, rule) == 0)
            return true;
    }
    return false;
}
