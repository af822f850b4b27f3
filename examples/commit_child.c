/*
 * commit_child: merges a differencing image into its parent through vhdx.h
 * alone, and shows that an interrupted commit is finished by running it
 * again.
 *
 *   commit_child [--stop-at PERCENT] CHILD
 *
 * vhdx_commit_path finds the parent exactly as opening CHILD does, judges
 * the chain read-only, then writes every range CHILD holds of its own into
 * the parent. Progress goes to standard error, one line per quarter
 * ("commit: 25%" ... "commit: 100%"). --stop-at cancels through the
 * progress callback once that share of the disk is done, as a crash or a
 * Ctrl-C would stop it: the chain CHILD -> parent still reads exactly as
 * before, and a new run finishes the work (the result says "resumed" when
 * the parent already carried the commit's identity).
 * Exit: 0 committed (or nothing to commit); 1 CHILD or its parent does not
 * open, or they no longer match; 2 usage or I/O errors; 130 stopped.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx.h"

struct progress {
    int stop_at; /* percent, or -1: never */
    int shown;   /* quarters shown */
};

/* vhdx_progress_fn: a line per quarter; non-zero (cancel) at stop_at. */
static int report(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    int pct = total == 0 ? 100 : (int)(done * 100 / total);
    while (p->shown < 4 && pct >= (p->shown + 1) * 25)
        fprintf(stderr, "commit: %d%%\n", ++p->shown * 25);
    return p->stop_at >= 0 && pct >= p->stop_at;
}

static void print_finding(void *ctx, const vhdx_diag *d)
{
    (void)ctx;
    if (d->severity == VHDX_SEVERITY_ERROR)
        fprintf(stderr, "error %s: %s\n", d->rule, d->message);
}

int main(int argc, char **argv)
{
    struct progress pg = {-1, 0};
    vhdx_commit_options co;
    vhdx_commit_result res;
    vhdx_open_options oo;
    char *parent = NULL;
    const char *child;
    vhdx_status st;
    int rc = 0;

    if (argc == 4 && strcmp(argv[1], "--stop-at") == 0) {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*argv[2] == '\0' || *end != '\0' || v < 0 || v > 100) {
            fprintf(stderr, "commit_child: --stop-at takes a percentage from 0 to 100\n");
            return 2;
        }
        pg.stop_at = (int)v;
        child = argv[3];
    } else if (argc == 2) {
        child = argv[1];
    } else {
        fprintf(stderr, "usage: commit_child [--stop-at PERCENT] CHILD\n");
        return 2;
    }
    memset(&co, 0, sizeof(co));
    memset(&oo, 0, sizeof(oo));
    co.progress = report;
    co.progress_ctx = &pg;
    oo.on_diag = print_finding;
    st = vhdx_commit_path(child, &co, &oo, &parent, &res);
    if (st == VHDX_OK && res.data_bytes == 0 && res.zero_bytes == 0) {
        printf("%s: nothing to commit\n", child);
    } else if (st == VHDX_OK) {
        printf("committed %s into %s: %" PRIu64 " bytes of data, %" PRIu64 " bytes zeroed%s\n",
               child, parent, res.data_bytes, res.zero_bytes, res.resumed ? " (resumed)" : "");
    } else if (st == VHDX_E_CANCELLED) {
        fprintf(stderr, "stopped: %s still reads as before; run again to finish\n", child);
        rc = 130;
    } else {
        fprintf(stderr, "%s: cannot commit: %s\n", child, vhdx_strerror(st));
        rc = st == VHDX_E_IO || st == VHDX_E_INVALID_ARG || st == VHDX_E_NOMEM ||
                     st == VHDX_E_MISSING
                 ? 2
                 : 1;
    }
    free(parent);
    return rc;
}
