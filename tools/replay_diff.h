/*
 * The differential replay checker behind `vhdx replay-diff` (docs/CLI.md):
 * the log of one image replayed by the production engine (vhdx_replay),
 * by the reference engine (src/refreplay) and, when asked and installed,
 * by `qemu-img check -r all`, then compared. The image itself is never
 * written: both engines replay into in-memory overlays, and qemu-img works
 * on a temporary copy.
 */
#ifndef VHDX_TOOLS_REPLAY_DIFF_H
#define VHDX_TOOLS_REPLAY_DIFF_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Exit statuses: 0 all engines agree, 1 a difference, 2 could not run.
 * qemu-img is stopped after `timeout` seconds (it loops on some logs).
 */
int replay_diff_run(const char *prog, const char *path, bool use_qemu, unsigned timeout,
                    FILE *out);

#endif
