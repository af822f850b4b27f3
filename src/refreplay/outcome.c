/* Outcome classes of the two replay engines: see outcome.h. */
#include "refreplay/outcome.h"

#include <stdio.h>
#include <string.h>

void replay_note_first_error(void *ctx, const vhdx_diag *d)
{
    struct replay_first_error *fe = ctx;
    if (d->severity == VHDX_SEVERITY_ERROR && fe->rule[0] == '\0')
        (void)snprintf(fe->rule, sizeof(fe->rule), "%s", /* rule ids are short: never cut */
                       d->rule != NULL ? d->rule : "");
}

enum replay_outcome replay_outcome_production(vhdx_status st, const char *first_error_rule)
{
    if (st == VHDX_OK)
        return REPLAY_REPLAYED;
    if (strcmp(first_error_rule, "log.sequence.none") == 0)
        return REPLAY_NO_SEQUENCE;
    if (strcmp(first_error_rule, "log.truncated") == 0 ||
        strcmp(first_error_rule, "log.region.past_eof") == 0)
        return REPLAY_TRUNCATED;
    if (strcmp(first_error_rule, "log.descriptor.past_end") == 0)
        return REPLAY_PAST_END;
    return REPLAY_OTHER;
}

enum replay_outcome replay_outcome_reference(enum ref_status st)
{
    switch (st) {
    case REF_OK:
        return REPLAY_REPLAYED;
    case REF_NO_SEQUENCE:
        return REPLAY_NO_SEQUENCE;
    case REF_TRUNCATED:
        return REPLAY_TRUNCATED;
    case REF_PAST_END:
        return REPLAY_PAST_END;
    case REF_BAD_ARG:
    case REF_IO:
    case REF_NOMEM:
    default:
        return REPLAY_OTHER;
    }
}

const char *replay_outcome_name(enum replay_outcome o)
{
    switch (o) {
    case REPLAY_REPLAYED:
        return "replayed";
    case REPLAY_NO_SEQUENCE:
        return "rejected: no valid sequence";
    case REPLAY_TRUNCATED:
        return "rejected: the file was truncated";
    case REPLAY_PAST_END:
        return "rejected: a descriptor reaches past the file's end";
    case REPLAY_OTHER:
    default:
        return "could not replay";
    }
}
