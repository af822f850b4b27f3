#include "base/bytes.h"

#include <string.h>

#include "base/compiler.h"

NO_COVERAGE bool bytes_all_zero(const uint8_t *p, size_t n)
{
    size_t i = 0;
    /*
     * Longer spans: zero when the first byte is and each byte equals the
     * next, which the C library's memcmp tests many bytes at a time (and a
     * sanitizer checks as two ranges, not byte by byte).
     */
    if (n >= 256)
        return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
    /* Bytes up to an 8-byte boundary, then four words at a time, then the tail. */
    while (i < n && ((uintptr_t)(p + i) % sizeof(uint64_t)) != 0) {
        if (p[i] != 0)
            return false;
        i++;
    }
    for (; i + 4 * sizeof(uint64_t) <= n; i += 4 * sizeof(uint64_t)) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof(w));
        if ((w[0] | w[1] | w[2] | w[3]) != 0)
            return false;
    }
    for (; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

NO_COVERAGE size_t bytes_zero_suffix(const uint8_t *p, size_t n)
{
    size_t k = 0;
    /* Whole 4 KiB and 64-byte pieces from the end, then bytes. */
    while (n - k >= 4096 && bytes_all_zero(p + n - k - 4096, 4096))
        k += 4096;
    while (n - k >= 64 && bytes_all_zero(p + n - k - 64, 64))
        k += 64;
    while (k < n && p[n - k - 1] == 0)
        k++;
    return k;
}
