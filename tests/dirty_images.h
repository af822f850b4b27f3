/*
 * Dirty images: whole VHDX files with a log to replay, made with the
 * project's own log entry encoder (the test log writer of issue 4). Each
 * shape comes with the file it must become: `after` holds the expected
 * bytes of the file after replay, except the two headers (64 KiB-192 KiB),
 * which the header update changes (docs/REPLAY.md).
 *
 * Replayable shapes have rule == NULL; the others name the error the open
 * must fail with (and `warning`, when not NULL, a warning it must also
 * report, naming why the entry was rejected).
 */
#ifndef VHDX_TESTS_DIRTY_IMAGES_H
#define VHDX_TESTS_DIRTY_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "image_builder.h"

struct dirty_image {
    const char *name;
    struct ib_image img;   /* the dirty file */
    uint8_t *after;        /* expected file after replay (headers excepted) */
    size_t after_len;
    const char *rule;      /* NULL: replayable; else the error rule id */
    vhdx_status status;    /* the open's status (VHDX_OK when replayable) */
    const char *warning;   /* a warning rule id also expected, or NULL */
    vhdx_status warning_code;
    uint32_t entries;      /* entries in the active sequence */
    uint64_t head_sequence;
    /*
     * What `vhdx replay-diff --qemu` must exit with: 0 when qemu-img agrees
     * (it replays the same, or it also refuses a log we reject), 1 where it
     * is known to differ from the format, for the reason in qemu_note.
     */
    int qemu_exit;
    const char *qemu_note;
};

/* The number of shapes; shapes are numbered 0 .. dirty_count() - 1. */
int dirty_count(void);

/* Builds shape i; 0 on success. */
int dirty_build(int i, struct dirty_image *out);

void dirty_free(struct dirty_image *d);

/* The LogGuid every shape's header carries. */
extern const struct guid DIRTY_LOG_GUID;

#endif
