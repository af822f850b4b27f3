#include "base/utf16.h"

#include "base/endian.h"

static bool is_high_surrogate(uint32_t u)
{
    return u >= 0xD800 && u <= 0xDBFF;
}

static bool is_low_surrogate(uint32_t u)
{
    return u >= 0xDC00 && u <= 0xDFFF;
}

/* Decodes one code point at byte offset *pos; advances *pos. */
static vhdx_status next_code_point(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp)
{
    uint32_t u;
    if (len - *pos < 2)
        return VHDX_E_ENCODING;
    u = le16_load_no_bounds_check(s + *pos);
    if (u == 0 || is_low_surrogate(u))
        return VHDX_E_ENCODING;
    if (is_high_surrogate(u)) {
        uint32_t lo;
        if (len - *pos < 4)
            return VHDX_E_ENCODING;
        lo = le16_load_no_bounds_check(s + *pos + 2);
        if (!is_low_surrogate(lo))
            return VHDX_E_ENCODING;
        *cp = 0x10000u + ((u - 0xD800u) << 10) + (lo - 0xDC00u);
        *pos += 4;
        return VHDX_OK;
    }
    *cp = u;
    *pos += 2;
    return VHDX_OK;
}

vhdx_status utf16le_validate(const uint8_t *s, size_t len, size_t *bad_offset)
{
    size_t pos = 0, even = len & ~(size_t)1;
    /* Whole code units first, so the first bad one is reported even in odd input. */
    while (pos < even) {
        uint32_t cp;
        size_t at = pos;
        if (next_code_point(s, even, &pos, &cp) != VHDX_OK) {
            if (bad_offset != NULL)
                *bad_offset = at;
            return VHDX_E_ENCODING;
        }
    }
    if (len != even) {
        if (bad_offset != NULL)
            *bad_offset = len - 1;
        return VHDX_E_ENCODING;
    }
    return VHDX_OK;
}

vhdx_status utf16le_to_utf8(const uint8_t *s, size_t len, char *dst, size_t cap, size_t *out_len)
{
    size_t pos = 0, o = 0;
    vhdx_status st = VHDX_OK;

    if (out_len != NULL)
        *out_len = 0;
    if (cap == 0)
        return VHDX_E_LIMIT;
    if (len % 2 != 0) {
        dst[0] = '\0';
        return VHDX_E_ENCODING;
    }
    while (pos < len) {
        uint32_t cp;
        uint8_t enc[4];
        size_t n;
        if (next_code_point(s, len, &pos, &cp) != VHDX_OK) {
            st = VHDX_E_ENCODING;
            break;
        }
        if (cp < 0x80) {
            enc[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            enc[0] = (uint8_t)(0xC0 | (cp >> 6));
            enc[1] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            enc[0] = (uint8_t)(0xE0 | (cp >> 12));
            enc[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            enc[2] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            enc[0] = (uint8_t)(0xF0 | (cp >> 18));
            enc[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            enc[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            enc[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        if (cap - 1 - o < n) {
            st = VHDX_E_LIMIT;
            break;
        }
        for (size_t i = 0; i < n; i++)
            dst[o++] = (char)enc[i];
    }
    dst[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return st;
}

/* Decodes one UTF-8 code point, rejecting overlongs, surrogates and > U+10FFFF. */
static vhdx_status utf8_next(const uint8_t *s, size_t len, size_t *pos, uint32_t *cp)
{
    uint8_t b0 = s[*pos];
    size_t n;
    uint32_t v, min;
    if (b0 < 0x80) {
        n = 1;
        v = b0;
        min = 0;
    } else if ((b0 & 0xE0) == 0xC0) {
        n = 2;
        v = b0 & 0x1Fu;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3;
        v = b0 & 0x0Fu;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4;
        v = b0 & 0x07u;
        min = 0x10000;
    } else {
        return VHDX_E_ENCODING;
    }
    if (len - *pos < n)
        return VHDX_E_ENCODING;
    for (size_t i = 1; i < n; i++) {
        uint8_t b = s[*pos + i];
        if ((b & 0xC0) != 0x80)
            return VHDX_E_ENCODING;
        v = (v << 6) | (b & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || v == 0)
        return VHDX_E_ENCODING;
    *pos += n;
    *cp = v;
    return VHDX_OK;
}

vhdx_status utf8_to_utf16le(const char *s, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t pos = 0, o = 0;
    while (pos < len) {
        uint32_t cp;
        if (utf8_next(u, len, &pos, &cp) != VHDX_OK)
            return VHDX_E_ENCODING;
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000u;
            if (cap - o < 4)
                return VHDX_E_LIMIT;
            le16_store_no_bounds_check(dst + o, (uint16_t)(0xD800u + (v >> 10)));
            le16_store_no_bounds_check(dst + o + 2, (uint16_t)(0xDC00u + (v & 0x3FFu)));
            o += 4;
        } else {
            if (cap - o < 2)
                return VHDX_E_LIMIT;
            le16_store_no_bounds_check(dst + o, (uint16_t)cp);
            o += 2;
        }
    }
    if (out_len != NULL)
        *out_len = o;
    return VHDX_OK;
}

size_t utf16le_nul_terminated_len(const uint8_t *s, size_t len)
{
    size_t pos = 0;
    while (len - pos >= 2) {
        if (s[pos] == 0 && s[pos + 1] == 0)
            break;
        pos += 2;
    }
    return pos;
}
