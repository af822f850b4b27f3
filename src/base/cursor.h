/*
 * Bounds-checked cursors over a (pointer, length) slice.
 *
 * A read cursor (rcursor) and a write cursor (wcursor) keep a position and a
 * sticky failure flag. An access past the end sets the flag, reads yield 0,
 * writes store nothing, and the position does not move; the caller checks
 * rc_ok()/wc_ok() once after a run of accesses. So decoding can be written
 * straight-line without ever touching memory outside the slice.
 *
 * Invariant (checked by *_invariant in debug builds and tests):
 *     data != NULL || len == 0, and pos <= len.
 */
#ifndef VHDX_BASE_CURSOR_H
#define VHDX_BASE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/bytes.h"
#include "base/compiler.h"
#include "base/endian.h"

struct rcursor {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
};

struct wcursor {
    uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
};

static inline struct rcursor rc_make(const void *data, size_t len)
{
    struct rcursor c = {(const uint8_t *)data, data != NULL ? len : 0, 0, false};
    return c;
}

static inline bool rc_invariant(const struct rcursor *c)
{
    return (c->data != NULL || c->len == 0) && c->pos <= c->len;
}

static inline bool rc_ok(const struct rcursor *c)
{
    return !c->failed;
}

static inline size_t rc_remaining(const struct rcursor *c)
{
    return c->len - c->pos;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and fails). */
static inline const uint8_t *rc_take(struct rcursor *c, size_t n)
{
    const uint8_t *p;
    if (c->failed || n > c->len - c->pos) {
        c->failed = true;
        return NULL;
    }
    /* No pointer arithmetic on NULL, even by zero: that is UB too. */
    p = c->data != NULL ? c->data + c->pos : NULL;
    c->pos += n;
    return p;
}

static inline bool rc_seek(struct rcursor *c, size_t pos)
{
    if (c->failed || pos > c->len) {
        c->failed = true;
        return false;
    }
    c->pos = pos;
    return true;
}

static inline bool rc_skip(struct rcursor *c, size_t n)
{
    return rc_take(c, n) != NULL || (n == 0 && !c->failed);
}

static inline uint8_t rc_u8(struct rcursor *c)
{
    const uint8_t *p = rc_take(c, 1);
    return p != NULL ? p[0] : 0;
}

static inline uint16_t rc_u16(struct rcursor *c)
{
    const uint8_t *p = rc_take(c, 2);
    return p != NULL ? le16_load_no_bounds_check(p) : 0;
}

static inline uint32_t rc_u32(struct rcursor *c)
{
    const uint8_t *p = rc_take(c, 4);
    return p != NULL ? le32_load_no_bounds_check(p) : 0;
}

static inline uint64_t rc_u64(struct rcursor *c)
{
    const uint8_t *p = rc_take(c, 8);
    return p != NULL ? le64_load_no_bounds_check(p) : 0;
}

/* Copies n bytes out; on failure the destination is zeroed. */
static inline bool rc_bytes(struct rcursor *c, void *dst, size_t n)
{
    const uint8_t *p = rc_take(c, n);
    if (p == NULL) {
        if (dst != NULL && n > 0)
            memset(dst, 0, n);
        return n == 0 && !c->failed;
    }
    if (n > 0)
        memcpy(dst, p, n);
    return true;
}

/* True when the next n bytes exist and are all zero; advances past them. */
static inline bool rc_zeros(struct rcursor *c, size_t n)
{
    const uint8_t *p = rc_take(c, n);
    if (p == NULL)
        return n == 0 && !c->failed;
    return bytes_all_zero(p, n);
}

static inline struct wcursor wc_make(void *data, size_t len)
{
    struct wcursor c = {(uint8_t *)data, data != NULL ? len : 0, 0, false};
    return c;
}

static inline bool wc_invariant(const struct wcursor *c)
{
    return (c->data != NULL || c->len == 0) && c->pos <= c->len;
}

static inline bool wc_ok(const struct wcursor *c)
{
    return !c->failed;
}

static inline uint8_t *wc_take(struct wcursor *c, size_t n)
{
    uint8_t *p;
    if (c->failed || n > c->len - c->pos) {
        c->failed = true;
        return NULL;
    }
    /* No pointer arithmetic on NULL, even by zero: that is UB too. */
    p = c->data != NULL ? c->data + c->pos : NULL;
    c->pos += n;
    return p;
}

static inline bool wc_seek(struct wcursor *c, size_t pos)
{
    if (c->failed || pos > c->len) {
        c->failed = true;
        return false;
    }
    c->pos = pos;
    return true;
}

static inline void wc_u8(struct wcursor *c, uint8_t v)
{
    uint8_t *p = wc_take(c, 1);
    if (p != NULL)
        p[0] = v;
}

static inline void wc_u16(struct wcursor *c, uint16_t v)
{
    uint8_t *p = wc_take(c, 2);
    if (p != NULL)
        le16_store_no_bounds_check(p, v);
}

static inline void wc_u32(struct wcursor *c, uint32_t v)
{
    uint8_t *p = wc_take(c, 4);
    if (p != NULL)
        le32_store_no_bounds_check(p, v);
}

static inline void wc_u64(struct wcursor *c, uint64_t v)
{
    uint8_t *p = wc_take(c, 8);
    if (p != NULL)
        le64_store_no_bounds_check(p, v);
}

static inline void wc_bytes(struct wcursor *c, const void *src, size_t n)
{
    uint8_t *p = wc_take(c, n);
    if (p != NULL && n > 0)
        memcpy(p, src, n);
}

static inline void wc_zeros(struct wcursor *c, size_t n)
{
    uint8_t *p = wc_take(c, n);
    if (p != NULL && n > 0)
        memset(p, 0, n);
}

/* Bounds-checked loads at an absolute offset of a slice. */
MUST_USE static inline bool load_le32_at(const uint8_t *buf, size_t len, size_t off, uint32_t *out)
{
    if (off > len || len - off < 4)
        return false;
    *out = le32_load_no_bounds_check(buf + off);
    return true;
}

MUST_USE static inline bool load_le64_at(const uint8_t *buf, size_t len, size_t off, uint64_t *out)
{
    if (off > len || len - off < 8)
        return false;
    *out = le64_load_no_bounds_check(buf + off);
    return true;
}

#endif
