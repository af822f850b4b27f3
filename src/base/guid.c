#include "base/guid.h"

#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "base/compiler.h"
#include "base/endian.h"

bool guid_is_nil(const struct guid *g)
{
    for (size_t i = 0; i < sizeof(g->b); i++) {
        if (g->b[i] != 0)
            return false;
    }
    return true;
}

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

/* Text order of the 16 on-disk bytes: Data1..3 are little-endian. */
static const uint8_t text_order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

/*
 * Out of the fuzzers' coverage (with its two callers, so no inlining brings
 * it back): the same branches for every GUID, and a decoder formats each
 * metadata item's id for its messages.
 */
static NO_COVERAGE void guid_format(const struct guid *g, const char *hex, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        uint8_t byte = g->b[text_order[i]];
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[byte >> 4];
        out[o++] = hex[byte & 0xF];
    }
    out[o] = '\0';
}

NO_COVERAGE void guid_to_text(const struct guid *g, char out[GUID_TEXT_SIZE])
{
    guid_format(g, hex_upper, out);
}

NO_COVERAGE void guid_to_text_braced_lower(const struct guid *g, char out[GUID_TEXT_SIZE + 2])
{
    out[0] = '{';
    guid_format(g, hex_lower, out + 1);
    out[GUID_TEXT_LEN + 1] = '}';
    out[GUID_TEXT_LEN + 2] = '\0';
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

vhdx_status guid_from_text(const char *text, size_t len, struct guid *out)
{
    struct guid g;
    size_t pos = 0;

    if (text == NULL || out == NULL)
        return VHDX_E_INVALID_ARG;
    if (len == GUID_TEXT_LEN + 2) {
        if (text[0] != '{' || text[len - 1] != '}')
            return VHDX_E_ENCODING;
        text++;
        len -= 2;
    }
    if (len != GUID_TEXT_LEN)
        return VHDX_E_ENCODING;
    for (size_t i = 0; i < 16; i++) {
        int hi, lo;
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            if (text[pos] != '-')
                return VHDX_E_ENCODING;
            pos++;
        }
        hi = hex_value(text[pos]);
        lo = hex_value(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return VHDX_E_ENCODING;
        g.b[text_order[i]] = (uint8_t)((hi << 4) | lo);
        pos += 2;
    }
    *out = g;
    return VHDX_OK;
}

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/*
 * The fuzzing build only: distinct GUIDs from a counter instead of
 * libuuid, so that a harness's run depends on its inputs alone and
 * MemorySanitizer sees no bytes from an uninstrumented library. Never nil;
 * marked as version 4, variant 1 like the random ones.
 */
void guid_generate(struct guid *out)
{
    static uint64_t counter;
    uint8_t n[8];
    counter++;
    le64_store_no_bounds_check(n, counter);
    memset(out->b, 0, sizeof(out->b));
    out->b[0] = 0x46; /* "F": a fuzzing build's GUID */
    out->b[7] = 0x40; /* Data3's high nibble: version 4 */
    out->b[8] = 0x80; /* variant 1 */
    memcpy(out->b + 9, n, 7); /* 2^56 distinct values */
}
#else
void guid_generate(struct guid *out)
{
    uuid_t u;
    /* libuuid gives RFC 4122 (big-endian field) order: swap Data1..3. */
    uuid_generate_random(u);
    for (size_t i = 0; i < 16; i++)
        out->b[text_order[i]] = u[i];
}
#endif

struct guid guid_make(uint32_t d1, uint16_t d2, uint16_t d3, const uint8_t d4[8])
{
    struct guid g;
    le32_store_no_bounds_check(g.b, d1);
    le16_store_no_bounds_check(g.b + 4, d2);
    le16_store_no_bounds_check(g.b + 6, d3);
    memcpy(g.b + 8, d4, 8);
    return g;
}
