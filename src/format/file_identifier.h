/* The file type identifier (VHDX-FORMAT.md §2): the first 64 KiB of the file. */
#ifndef VHDX_FORMAT_FILE_IDENTIFIER_H
#define VHDX_FORMAT_FILE_IDENTIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/diag.h"

#define FILE_IDENTIFIER_SIZE 65536u
#define FILE_IDENTIFIER_CREATOR_OFFSET 8u
#define FILE_IDENTIFIER_CREATOR_SIZE 512u

struct file_identifier {
    /* The raw UTF-16LE creator field; creator_len is the byte length before the first NUL. */
    uint8_t creator[FILE_IDENTIFIER_CREATOR_SIZE];
    uint32_t creator_len;
};

/* Decodes the 64 KiB identifier; fails on a short buffer or a wrong signature. */
MUST_USE vhdx_status file_identifier_decode(const uint8_t *buf, size_t len,
                                            struct file_identifier *out, struct diag_sink *d);

/*
 * The creator is for diagnostics only and MUST NOT change behaviour, so a
 * creator that is not valid UTF-16 is a warning, never an error.
 */
MUST_USE vhdx_status file_identifier_validate(const struct file_identifier *fi,
                                              struct diag_sink *d);

/* Creator text as UTF-8 for display (invalid text gives a placeholder). */
void file_identifier_creator_utf8(const struct file_identifier *fi, char *dst, size_t cap);

/* Sets the creator from UTF-8 text (at most 256 UTF-16 code units, no NUL). */
MUST_USE vhdx_status file_identifier_set_creator(struct file_identifier *fi, const char *utf8);

/* Encodes the 64 KiB identifier, reserved bytes zero. */
MUST_USE vhdx_status file_identifier_encode(const struct file_identifier *fi, uint8_t *buf,
                                            size_t len);

#endif
