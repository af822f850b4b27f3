#include "format/file_identifier.h"

#include <stdio.h>
#include <string.h>

#include "base/utf16.h"
#include "format/constants.h"

static const char STRUCT_NAME[] = "file identifier";

vhdx_status file_identifier_decode(const uint8_t *buf, size_t len, struct file_identifier *out,
                                   struct diag_sink *d)
{
    memset(out, 0, sizeof(*out));
    if (buf == NULL || len < FILE_IDENTIFIER_SIZE)
        return DIAG_ERROR(d, VHDX_E_TRUNCATED, "file_identifier.truncated", STRUCT_NAME, 0,
                          "file identifier needs %u bytes, only %zu available",
                          FILE_IDENTIFIER_SIZE, buf == NULL ? (size_t)0 : len);
    /* §2: the signature MUST be checked on load. */
    if (memcmp(buf, VHDX_SIG_FILE, 8) != 0)
        return DIAG_ERROR(d, VHDX_E_SIGNATURE, "file_identifier.signature", STRUCT_NAME, 0,
                          "signature is not 'vhdxfile': not a VHDX file");
    memcpy(out->creator, buf + FILE_IDENTIFIER_CREATOR_OFFSET, FILE_IDENTIFIER_CREATOR_SIZE);
    out->creator_len =
        (uint32_t)utf16le_nul_terminated_len(out->creator, FILE_IDENTIFIER_CREATOR_SIZE);
    return VHDX_OK;
}

vhdx_status file_identifier_validate(const struct file_identifier *fi, struct diag_sink *d)
{
    size_t bad = 0;
    if (fi->creator_len > FILE_IDENTIFIER_CREATOR_SIZE ||
        utf16le_validate(fi->creator, fi->creator_len, &bad) != VHDX_OK)
        (void)DIAG_WARN(d, VHDX_E_ENCODING, "file_identifier.creator.encoding", STRUCT_NAME,
                        FILE_IDENTIFIER_CREATOR_OFFSET + bad,
                        "creator is not valid UTF-16LE at byte %zu", bad);
    return VHDX_OK;
}

void file_identifier_creator_utf8(const struct file_identifier *fi, char *dst, size_t cap)
{
    size_t n = fi->creator_len <= FILE_IDENTIFIER_CREATOR_SIZE ? fi->creator_len : 0;
    if (cap == 0)
        return;
    if (utf16le_to_utf8(fi->creator, n, dst, cap, NULL) != VHDX_OK)
        (void)snprintf(dst, cap, "(invalid UTF-16)");
}

vhdx_status file_identifier_set_creator(struct file_identifier *fi, const char *utf8)
{
    size_t n = 0;
    uint8_t tmp[FILE_IDENTIFIER_CREATOR_SIZE];
    vhdx_status st = utf8_to_utf16le(utf8, strlen(utf8), tmp, sizeof(tmp), &n);
    if (st != VHDX_OK)
        return st;
    memset(fi->creator, 0, sizeof(fi->creator));
    memcpy(fi->creator, tmp, n);
    fi->creator_len = (uint32_t)n;
    return VHDX_OK;
}

vhdx_status file_identifier_encode(const struct file_identifier *fi, uint8_t *buf, size_t len)
{
    if (buf == NULL || len < FILE_IDENTIFIER_SIZE)
        return VHDX_E_TRUNCATED;
    memset(buf, 0, FILE_IDENTIFIER_SIZE);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): on-disk bytes, not a string */
    memcpy(buf, VHDX_SIG_FILE, 8);
    memcpy(buf + FILE_IDENTIFIER_CREATOR_OFFSET, fi->creator, FILE_IDENTIFIER_CREATOR_SIZE);
    return VHDX_OK;
}
