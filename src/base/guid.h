/*
 * GUIDs as VHDX stores them: 16 bytes in Microsoft binary order (Data1 u32
 * LE, Data2 u16 LE, Data3 u16 LE, Data4 8 raw bytes). struct guid holds the
 * on-disk bytes; compare with guid_equal (memcmp), convert only to print.
 */
#ifndef VHDX_BASE_GUID_H
#define VHDX_BASE_GUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

struct guid {
    uint8_t b[16];
};

/* 8-4-4-4-12 hex digits and dashes, plus NUL. */
#define GUID_TEXT_LEN 36
#define GUID_TEXT_SIZE (GUID_TEXT_LEN + 1)

static inline bool guid_equal(const struct guid *a, const struct guid *b)
{
    return __builtin_memcmp(a->b, b->b, 16) == 0;
}

bool guid_is_nil(const struct guid *g);

/* Uppercase text form, no braces. */
void guid_to_text(const struct guid *g, char out[GUID_TEXT_SIZE]);

/* Lowercase text form with braces, as parent locators store it: 38 chars + NUL. */
void guid_to_text_braced_lower(const struct guid *g, char out[GUID_TEXT_SIZE + 2]);

/*
 * Parses text of exactly 36 characters, or 38 with surrounding braces,
 * case-insensitively. Returns VHDX_E_ENCODING on anything else.
 */
MUST_USE vhdx_status guid_from_text(const char *text, size_t len, struct guid *out);

/* A new random (version 4) GUID from libuuid. */
void guid_generate(struct guid *out);

/* Builds the on-disk bytes from the text-form fields (for constants). */
struct guid guid_make(uint32_t d1, uint16_t d2, uint16_t d3, const uint8_t d4[8]);

#endif
