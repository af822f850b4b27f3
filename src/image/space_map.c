#include "image/space_map.h"

#include <string.h>

#include "base/checked.h"
#include "format/constants.h"

vhdx_status space_map_init(struct space_map *m, struct alloc_acct *acct, uint64_t file_size)
{
    vhdx_status st;
    uint64_t units = file_size / VHDX_MiB + (file_size % VHDX_MiB != 0);
    uint64_t bytes = units / 8 + 1;

    memset(m, 0, sizeof(*m));
    if (bytes > SIZE_MAX)
        return VHDX_E_LIMIT;
    m->bits = acct_alloc(acct, (size_t)bytes, &st);
    if (m->bits == NULL)
        return st;
    m->units = units;
    m->bytes = (size_t)bytes;
    return VHDX_OK;
}

void space_map_free(struct space_map *m, struct alloc_acct *acct)
{
    acct_free(acct, m->bits, m->bytes);
    m->bits = NULL;
}

void space_map_begin_naming(struct space_map *m)
{
    m->naming = true;
}

static bool test_and_set(struct space_map *m, uint64_t unit)
{
    uint8_t bit = (uint8_t)(1u << (unit % 8));
    bool was = (m->bits[unit / 8] & bit) != 0;
    m->bits[unit / 8] = (uint8_t)(m->bits[unit / 8] | bit);
    return was;
}

uint64_t space_map_claim(struct space_map *m, uint64_t off, uint64_t len, struct space_owner owner)
{
    uint64_t first_unit, end, last_unit, dup = 0;

    if (len == 0 || !ck_range_end(off, len, &end))
        return 0;
    first_unit = off / VHDX_MiB;
    last_unit = end / VHDX_MiB + (end % VHDX_MiB != 0); /* exclusive */
    if (last_unit > m->units)
        last_unit = m->units;

    if (m->naming) {
        /* The first claim in order that covers a collided unit is its first owner. */
        for (uint32_t i = 0; i < m->ncollisions; i++) {
            struct space_collision *c = &m->collisions[i];
            if (!c->first_found && c->unit >= first_unit && c->unit < last_unit) {
                c->first = owner;
                c->first_found = true;
            }
        }
        return 0;
    }

    if (end > m->highest_end)
        m->highest_end = end;
    for (uint64_t u = first_unit; u < last_unit; u++) {
        if (!test_and_set(m, u))
            continue;
        /* Record one collided unit per claim: enough to name both parties. */
        if (dup == 0) {
            m->collisions_total++;
            if (m->ncollisions < SPACE_MAP_MAX_COLLISIONS) {
                struct space_collision *c = &m->collisions[m->ncollisions++];
                memset(c, 0, sizeof(*c));
                c->unit = u;
                c->second = owner;
            }
        }
        dup++;
    }
    return dup;
}

const char *space_owner_kind_name(enum space_owner_kind kind)
{
    switch (kind) {
    case SPACE_HEADER_AREA:
        return "the header section";
    case SPACE_LOG:
        return "the log";
    case SPACE_REGION_BAT:
        return "the BAT region";
    case SPACE_REGION_METADATA:
        return "the metadata region";
    case SPACE_REGION_OTHER:
        return "region";
    case SPACE_PAYLOAD_BLOCK:
        return "payload block";
    case SPACE_SECTOR_BITMAP:
        return "sector bitmap block of chunk";
    default:
        return "unknown";
    }
}
