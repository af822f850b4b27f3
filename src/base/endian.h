/*
 * Little-endian loads and stores through memcpy, so they are valid for any
 * alignment and any host byte order. The caller has already checked that
 * the bytes exist: these names say so.
 */
#ifndef VHDX_BASE_ENDIAN_H
#define VHDX_BASE_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline uint16_t le16_load_no_bounds_check(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t le32_load_no_bounds_check(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t le64_load_no_bounds_check(const uint8_t *p)
{
    return (uint64_t)le32_load_no_bounds_check(p) | ((uint64_t)le32_load_no_bounds_check(p + 4) << 32);
}

static inline void le16_store_no_bounds_check(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void le32_store_no_bounds_check(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void le64_store_no_bounds_check(uint8_t *p, uint64_t v)
{
    le32_store_no_bounds_check(p, (uint32_t)v);
    le32_store_no_bounds_check(p + 4, (uint32_t)(v >> 32));
}

#endif
