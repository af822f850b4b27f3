/*
 * The space map: which structure owns each 1 MiB unit of the file
 * (VHDX-FORMAT.md §1.1: objects are 1 MiB aligned and must not overlap).
 *
 * Detection uses one bit per MiB of the file (a 1 TiB file costs 128 KiB),
 * so marking n objects is O(n + total MiB) with no sorting and no per-object
 * memory. When a unit is claimed twice, the second claimant is recorded
 * (up to SPACE_MAP_MAX_COLLISIONS); space_map_name_owners() then finds the
 * first claimant of each such unit in a second pass over the same claims in
 * the same order, so every overlap is reported with both parties named.
 */
#ifndef VHDX_IMAGE_SPACE_MAP_H
#define VHDX_IMAGE_SPACE_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "vhdx.h"

#define SPACE_MAP_MAX_COLLISIONS 64u

enum space_owner_kind {
    SPACE_HEADER_AREA,
    SPACE_LOG,
    SPACE_REGION_BAT,
    SPACE_REGION_METADATA,
    SPACE_REGION_OTHER,
    SPACE_PAYLOAD_BLOCK,
    SPACE_SECTOR_BITMAP
};

struct space_owner {
    enum space_owner_kind kind;
    uint64_t number; /* block, chunk or region index */
};

struct space_collision {
    uint64_t unit;
    struct space_owner second;
    struct space_owner first;
    bool first_found;
};

struct space_map {
    uint8_t *bits;
    uint64_t units; /* bits */
    size_t bytes;
    uint64_t highest_end; /* the end of the furthest claim, in bytes */
    uint32_t ncollisions;
    uint64_t collisions_total;
    struct space_collision collisions[SPACE_MAP_MAX_COLLISIONS];
    /* second pass */
    bool naming;
};

/* Covers [0, file_size); VHDX_E_LIMIT when the bitmap would pass the accountant's limit. */
MUST_USE vhdx_status space_map_init(struct space_map *m, struct alloc_acct *acct,
                                    uint64_t file_size);
void space_map_free(struct space_map *m, struct alloc_acct *acct);

/*
 * Claims [off, off + len) for owner. Units past the end of the file are
 * ignored (the decoders report extents past EOF). Returns the number of
 * units that were already claimed.
 */
uint64_t space_map_claim(struct space_map *m, uint64_t off, uint64_t len, struct space_owner owner);

/* Starts the naming pass: claims are replayed and the first owner of each collided unit found. */
void space_map_begin_naming(struct space_map *m);

const char *space_owner_kind_name(enum space_owner_kind kind);

#endif
