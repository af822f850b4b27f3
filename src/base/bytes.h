/* Byte-range helpers shared by every layer. */
#ifndef VHDX_BASE_BYTES_H
#define VHDX_BASE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Whether the n bytes at p are all zero (true for n == 0). A word at a
 * time; kept out of the fuzzers' coverage instrumentation (NO_COVERAGE),
 * so a 4 KiB reserved field or a MiB of BAT costs no callback per byte.
 */
bool bytes_all_zero(const uint8_t *p, size_t n);

/* How many of the n bytes at p, counted from the end, are zero (n when all are). */
size_t bytes_zero_suffix(const uint8_t *p, size_t n);

#endif
