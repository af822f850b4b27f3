/*
 * What a replay engine made of a log, in classes both engines share, so
 * that the production engine (vhdx_replay) and the reference engine
 * (ref_replay) can be compared: by `vhdx replay-diff` and fuzz_replay_diff.
 */
#ifndef VHDX_REFREPLAY_OUTCOME_H
#define VHDX_REFREPLAY_OUTCOME_H

#include "refreplay/ref_replay.h"
#include "vhdx.h"

enum replay_outcome {
    REPLAY_REPLAYED = 0,    /* an active sequence was found and applied */
    REPLAY_NO_SEQUENCE = 1, /* rejected: no valid sequence */
    REPLAY_TRUNCATED = 2,   /* rejected: the file is shorter than the log says */
    REPLAY_OTHER = 3,       /* could not replay for another reason: not comparable */
    REPLAY_PAST_END = 4     /* rejected: a descriptor reaches past what its entry may */
};

/* An on_diag callback (ctx: struct replay_first_error) keeping the first error's rule id. */
struct replay_first_error {
    char rule[96];
};
void replay_note_first_error(void *ctx, const vhdx_diag *d);

/* The class of vhdx_replay's status, given the rule of its first error ("" when none). */
enum replay_outcome replay_outcome_production(vhdx_status st, const char *first_error_rule);

enum replay_outcome replay_outcome_reference(enum ref_status st);

const char *replay_outcome_name(enum replay_outcome o);

#endif
