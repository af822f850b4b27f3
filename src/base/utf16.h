/*
 * UTF-16LE text as VHDX stores it (creator string, parent locator keys and
 * values): validation and conversion to UTF-8 for display and for paths.
 */
#ifndef VHDX_BASE_UTF16_H
#define VHDX_BASE_UTF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/compiler.h"
#include "vhdx.h"

/*
 * Checks that bytes [0, len) are well-formed UTF-16LE: len even, every high
 * surrogate followed by a low one, no lone low surrogate, and no U+0000.
 * On failure *bad_offset (if not NULL) is the byte offset of the first bad
 * code unit. Returns VHDX_OK or VHDX_E_ENCODING.
 */
MUST_USE vhdx_status utf16le_validate(const uint8_t *s, size_t len, size_t *bad_offset);

/*
 * Converts well-formed UTF-16LE (as utf16le_validate accepts) to UTF-8 in
 * dst, always NUL-terminated when cap > 0. Returns VHDX_E_ENCODING on bad
 * input and VHDX_E_LIMIT when dst is too small (dst then holds a prefix).
 * *out_len (if not NULL) receives the UTF-8 length without the NUL.
 */
MUST_USE vhdx_status utf16le_to_utf8(const uint8_t *s, size_t len, char *dst, size_t cap,
                                     size_t *out_len);

/*
 * Converts UTF-8 to UTF-16LE. Rejects malformed UTF-8, overlong forms,
 * surrogates and U+0000 (VHDX_E_ENCODING); VHDX_E_LIMIT when dst is too small.
 */
MUST_USE vhdx_status utf8_to_utf16le(const char *s, size_t len, uint8_t *dst, size_t cap,
                                     size_t *out_len);

/* Number of bytes before the first NUL code unit (an even number <= len). */
size_t utf16le_nul_terminated_len(const uint8_t *s, size_t len);

#endif
