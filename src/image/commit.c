/*
 * vhdx_commit: merges a differencing child into its parent, crash-safe and
 * resumable (docs/API.md, "Commit"; VHDX-FORMAT.md §3.3, §5.4.6, §11.2
 * item 7).
 *
 * The parent's DataWriteGuid changes with its first write, and the child's
 * parent_linkage names the old one: a plain copy would leave a chain that
 * no longer opens the moment the parent is touched. The locator's
 * parent_linkage2 is the parent identity during a merge, so the commit
 * runs in three phases, each ended durably before the next begins:
 *
 *   1. G, the parent's new DataWriteGuid, is chosen and written into the
 *      child's locator as parent_linkage2 (one log entry of the child,
 *      then vhdx_finish). The parent is untouched: it still matches
 *      parent_linkage.
 *   2. The parent is written in sessions that all give it DataWriteGuid G
 *      (image.h, session_data_guid): every DATA extent of the child is
 *      copied, every ZERO extent zeroed; vhdx_finish. Its header update
 *      leaves the old identity or G, whichever header a crash leaves
 *      current: both match the child's locator.
 *   3. The child's locator is rewritten to parent_linkage G alone (one log
 *      entry, vhdx_finish). The child stays a valid child of the parent,
 *      reading the same as it alone.
 *
 * The chain reads the same at every point: only ranges the child holds of
 * its own are written in the parent, and the chain reads those from the
 * child; the parent's other ranges keep their content (the writer's
 * guarantee), and its identity is one the locator names. A new call after
 * an interruption finds the state from the two identities: parent at
 * parent_linkage with no parent_linkage2 (fresh), at parent_linkage with
 * parent_linkage2 G (phase 1 done), at parent_linkage2 G (phase 2 begun:
 * resumed), and copies again from the start with the same G; writing the
 * same bytes twice changes nothing.
 *
 * The child's locator changes are not user-visible: the child keeps its
 * DataWriteGuid, which a child of its own may name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/endian.h"
#include "base/utf16.h"
#include "format/constants.h"
#include "format/metadata_table.h"
#include "format/parent_locator.h"
#include "image/copy.h"
#include "image/image.h"
#include "io/path.h"

#define IMAGE "image"
/* Data is copied in pieces of at most this (less when memory is short). */
#define COMMIT_CHUNK ((size_t)1 << 20)
#define COMMIT_CHUNK_MIN ((size_t)64 << 10)
/* A ZERO extent is zeroed in pieces of this, so that progress and cancel follow. */
#define COMMIT_ZERO_PIECE ((uint64_t)256 << 20)

/* ---- The child's parent locator ---- */

/* Where the rewritten item goes: its old offset when it fits there, else the first gap. */
static bool place_item(const struct metadata_table *t, size_t self, uint64_t region_len,
                       uint32_t len, uint32_t *at)
{
    uint64_t cand[METADATA_TABLE_MAX_ENTRIES + 2];
    size_t nc = 0;
    cand[nc++] = t->entries[self].offset;
    cand[nc++] = METADATA_ITEM_MIN_OFFSET;
    for (size_t i = 0; i < t->entry_count; i++)
        if (i != self && t->entries[i].length != 0)
            cand[nc++] = (uint64_t)t->entries[i].offset + t->entries[i].length;
    for (size_t k = 0; k < nc; k++) {
        uint64_t a = cand[k], b = a + len;
        bool free_here = a >= METADATA_ITEM_MIN_OFFSET && b <= region_len;
        for (size_t i = 0; free_here && i < t->entry_count; i++) {
            const struct metadata_entry *e = &t->entries[i];
            if (i != self && e->length != 0 && a < (uint64_t)e->offset + e->length &&
                e->offset < b)
                free_here = false;
        }
        if (free_here) {
            *at = (uint32_t)a;
            return true;
        }
    }
    return false;
}

struct locator_work {
    struct metadata_table table;
    struct parent_locator pl;
    struct parent_locator_kv kv[PARENT_LOCATOR_MAX_ENTRIES + 1];
    uint8_t table_bytes[METADATA_TABLE_SIZE];
};

/*
 * The locator's keys and values as UTF-8 in text (cap bytes), with
 * parent_linkage set to `linkage` and parent_linkage2 to `linkage2` (NULL:
 * left out); every other key kept, in its order. *n receives the count.
 */
static vhdx_status locator_pairs(struct locator_work *lw, const uint8_t *item, size_t item_len,
                                 char *text, size_t cap, const char *linkage,
                                 const char *linkage2, size_t *n)
{
    size_t k = 0, used = 0;
    lw->kv[k].key = "parent_linkage";
    lw->kv[k++].value = linkage;
    if (linkage2 != NULL) {
        lw->kv[k].key = "parent_linkage2";
        lw->kv[k++].value = linkage2;
    }
    for (size_t i = 0; i < lw->pl.key_value_count; i++) {
        size_t kl, vl, klen, vlen;
        const uint8_t *key = parent_locator_key(&lw->pl, item, item_len, i, &kl);
        const uint8_t *value = parent_locator_value(&lw->pl, item, item_len, i, &vl);
        char *ktext = text + used, *vtext;
        vhdx_status st;
        if (key == NULL || value == NULL)
            return VHDX_E_CORRUPT; /* decode placed every string inside the item */
        st = utf16le_to_utf8(key, kl, ktext, cap - used, &klen);
        if (st != VHDX_OK)
            return st;
        used += klen + 1;
        if (strcmp(ktext, "parent_linkage") == 0 || strcmp(ktext, "parent_linkage2") == 0) {
            used -= klen + 1;
            continue;
        }
        vtext = text + used;
        st = utf16le_to_utf8(value, vl, vtext, cap - used, &vlen);
        if (st != VHDX_OK)
            return st;
        used += vlen + 1;
        if (k == PARENT_LOCATOR_MAX_ENTRIES)
            return VHDX_E_LIMIT;
        lw->kv[k].key = ktext;
        lw->kv[k++].value = vtext;
    }
    *n = k;
    return VHDX_OK;
}

/*
 * Rewrites the child's parent locator with parent_linkage = linkage and
 * parent_linkage2 = linkage2 (NULL: none), every other key as it was: the
 * item and its table entry change in one log entry (image_write_metadata).
 * The item stays where it is when it fits there, else it moves to the
 * first free range of the metadata region; bytes of the old item the new
 * one does not cover are zeroed.
 */
static vhdx_status set_linkage(struct vhdx_image *c, const struct guid *linkage,
                               const struct guid *linkage2)
{
    char l1[GUID_TEXT_SIZE + 2], l2[GUID_TEXT_SIZE + 2];
    const struct metadata_entry *e;
    struct locator_work *lw;
    uint8_t *item = NULL, *built = NULL, *gap = NULL, entry_le[8];
    char *text = NULL;
    size_t self = 0, n = 0, built_len = 0, item_len = 0, built_cap = 0, text_cap = 0, gap_len = 0;
    uint64_t region = c->metadata_region.file_offset;
    struct image_patch patch[3];
    size_t np = 0;
    uint32_t at = 0;
    vhdx_status st;

    lw = acct_alloc(&c->acct, sizeof(*lw), &st);
    if (lw == NULL)
        return st;
    st = image_read_exact(c, region, lw->table_bytes, METADATA_TABLE_SIZE);
    if (st == VHDX_OK)
        st = metadata_table_decode(lw->table_bytes, METADATA_TABLE_SIZE, &lw->table, NULL);
    e = st == VHDX_OK ? metadata_table_find(&lw->table, &VHDX_GUID_PARENT_LOCATOR, false) : NULL;
    if (st == VHDX_OK && (e == NULL || e->length == 0 || e->length > c->limits.max_metadata_item ||
                          (uint64_t)e->offset + e->length > c->metadata_region.length))
        st = VHDX_E_CORRUPT; /* the open checked all of this */
    if (st == VHDX_OK) {
        self = (size_t)(e - lw->table.entries);
        item_len = e->length;
        /* UTF-16 to UTF-8: at most 3 bytes per 2, plus the NULs. */
        text_cap = item_len * 2 + (size_t)2 * PARENT_LOCATOR_MAX_ENTRIES + 16;
        built_cap = item_len + (size_t)2 * (PARENT_LOCATOR_ENTRY_SIZE + 2 * 64);
        item = acct_alloc(&c->acct, item_len, &st);
        if (item != NULL)
            text = acct_alloc(&c->acct, text_cap, &st);
        if (text != NULL)
            built = acct_alloc(&c->acct, built_cap, &st);
    }
    if (built != NULL) {
        st = image_read_exact(c, region + e->offset, item, item_len);
        if (st == VHDX_OK)
            st = parent_locator_decode(item, item_len, c->limits.max_locator_entries, &lw->pl,
                                       NULL);
        guid_to_text_braced_lower(linkage, l1);
        if (linkage2 != NULL)
            guid_to_text_braced_lower(linkage2, l2);
        if (st == VHDX_OK)
            st = locator_pairs(lw, item, item_len, text, text_cap, l1,
                               linkage2 != NULL ? l2 : NULL, &n);
        if (st == VHDX_OK)
            st = parent_locator_build(&lw->pl.locator_type, lw->kv, n, built, built_cap,
                                      &built_len);
        if (st == VHDX_OK && (built_len > METADATA_ITEM_MAX_LENGTH ||
                              !place_item(&lw->table, self, c->metadata_region.length,
                                          (uint32_t)built_len, &at)))
            st = VHDX_E_RANGE; /* no room in the metadata region */
    }
    if (st == VHDX_OK) {
        uint64_t old_a = e->offset, old_b = old_a + item_len, keep_a = at,
                 keep_b = (uint64_t)at + built_len;
        /* The old item's bytes outside the new one: at most one range at each end. */
        if (old_a < keep_a || old_b > keep_b) {
            uint64_t za = old_a < keep_a ? old_a : keep_b;
            uint64_t zb = old_a < keep_a ? (old_b < keep_a ? old_b : keep_a) : old_b;
            gap_len = (size_t)(zb - za);
            gap = acct_alloc(&c->acct, gap_len, &st);
            if (gap != NULL) {
                memset(gap, 0, gap_len);
                patch[np].off = region + za;
                patch[np].data = gap;
                patch[np++].len = gap_len;
            }
        }
    }
    if (st == VHDX_OK) {
        uint8_t *ent = lw->table_bytes + METADATA_TABLE_HEADER_SIZE +
                       self * METADATA_TABLE_ENTRY_SIZE;
        le32_store_no_bounds_check(entry_le, at);
        le32_store_no_bounds_check(entry_le + 4, (uint32_t)built_len);
        /* Entry fields Offset (16) and Length (20). */
        patch[np].off = region + (uint64_t)(ent - lw->table_bytes) + 16;
        patch[np].data = entry_le;
        patch[np++].len = 8;
        patch[np].off = region + at;
        patch[np].data = built;
        patch[np++].len = built_len;
        st = image_write_metadata(c, patch, np);
    }
    if (st == VHDX_OK) {
        c->parent_linkage = *linkage;
        c->has_parent_linkage = true;
        c->has_parent_linkage2 = linkage2 != NULL;
        if (linkage2 != NULL)
            c->parent_linkage2 = *linkage2;
    }
    acct_free(&c->acct, gap, gap_len);
    acct_free(&c->acct, built, built_cap);
    acct_free(&c->acct, text, text_cap);
    acct_free(&c->acct, item, item_len);
    acct_free(&c->acct, lw, sizeof(*lw));
    return st;
}

/* ---- The copy ---- */

struct copy {
    struct vhdx_image *c, *p;
    const vhdx_commit_options *options;
    uint8_t *buf;
    size_t cap;
    uint64_t total;
    vhdx_commit_result *res;
};

/* Reports progress; VHDX_E_CANCELLED when the callback asks to stop. */
static vhdx_status report(const struct copy *cp, uint64_t done)
{
    const vhdx_commit_options *o = cp->options;
    return o == NULL ? VHDX_OK : copy_progress(o->progress, o->progress_ctx, done, cp->total);
}

/* Whether the child holds any range of its own (a DATA or ZERO extent). */
static vhdx_status holds_any(struct vhdx_image *c, bool *any)
{
    *any = false;
    for (uint64_t off = 0; off < c->virtual_size;) {
        vhdx_extent e;
        vhdx_status st = vhdx_map_next(c, off, &e);
        if (st != VHDX_OK)
            return st;
        if (e.kind != VHDX_EXTENT_PARENT) {
            *any = true;
            return VHDX_OK;
        }
        off = e.offset + e.length;
    }
    return VHDX_OK;
}

/* Phase 2: every DATA extent of the child into the parent, every ZERO extent zeroed. */
static vhdx_status copy_extents(struct copy *cp)
{
    vhdx_status st = report(cp, 0);
    for (uint64_t off = 0; st == VHDX_OK && off < cp->total;) {
        vhdx_extent e;
        uint64_t end;
        st = vhdx_map_next(cp->c, off, &e);
        if (st != VHDX_OK)
            break;
        if (e.length == 0 || e.offset != off)
            return VHDX_E_CORRUPT; /* the map always moves on from off */
        end = off + e.length;
        while (st == VHDX_OK && off < end && e.kind != VHDX_EXTENT_PARENT) {
            uint64_t left = end - off;
            if (e.kind == VHDX_EXTENT_DATA) {
                size_t n = left < cp->cap ? (size_t)left : cp->cap;
                st = vhdx_read(cp->c, off, cp->buf, n);
                if (st == VHDX_OK)
                    st = vhdx_write(cp->p, off, cp->buf, n);
                if (st == VHDX_OK)
                    cp->res->data_bytes += n;
                off += n;
            } else {
                uint64_t n = left < COMMIT_ZERO_PIECE ? left : COMMIT_ZERO_PIECE;
                st = vhdx_write_zeroes(cp->p, off, n);
                if (st == VHDX_OK)
                    cp->res->zero_bytes += n;
                off += n;
            }
            if (st == VHDX_OK && off < end)
                st = report(cp, off);
        }
        off = end;
        if (st == VHDX_OK)
            st = report(cp, off);
    }
    return st;
}

/* The copy buffer from the child's accountant: 1 MiB, or less within its limit. */
static vhdx_status copy_buffer(struct copy *cp)
{
    vhdx_status st = VHDX_E_NOMEM;
    for (size_t cap = COMMIT_CHUNK; cap >= COMMIT_CHUNK_MIN; cap /= 2) {
        cp->buf = acct_alloc(&cp->c->acct, cap, &st);
        if (cp->buf != NULL) {
            cp->cap = cap;
            return VHDX_OK;
        }
        if (st != VHDX_E_LIMIT)
            break;
    }
    return st;
}

/* ---- The calls ---- */

/* Opens one side writable on its own, over a borrowed back end. */
static vhdx_status open_side(const vhdx_io *io, const vhdx_open_options *base, vhdx_image **out)
{
    vhdx_open_options o = *base;
    vhdx_io b;
    *out = NULL;
    if (io->read == NULL || io->size == NULL || io->write == NULL || io->flush == NULL ||
        io->truncate == NULL)
        return VHDX_E_INVALID_ARG;
    b = *io;
    b.close = NULL; /* borrowed: the caller closes it */
    o.flags = VHDX_OPEN_WRITABLE | VHDX_OPEN_NO_PARENT;
    return vhdx_open(&b, &o, out);
}

/* The parent matches the child: sector size, virtual size, identity. */
static vhdx_status check_pair(struct vhdx_image *c, struct vhdx_image *p, bool *resumed)
{
    const struct guid *dwg = &p->header.data_write_guid;
    *resumed = false;
    if (p->logical_sector_size != c->logical_sector_size)
        return DIAG_ERROR(&c->sink, VHDX_E_CORRUPT, "image.parent.sector_size_mismatch", IMAGE,
                          VHDX_OFFSET_NONE, "the parent has %u-byte logical sectors, the child %u",
                          p->logical_sector_size, c->logical_sector_size);
    if (p->virtual_size != c->virtual_size)
        return VHDX_E_RANGE;
    if (c->has_parent_linkage2 && guid_equal(dwg, &c->parent_linkage2)) {
        *resumed = true;
        return VHDX_OK;
    }
    if (c->has_parent_linkage && guid_equal(dwg, &c->parent_linkage))
        return VHDX_OK;
    {
        char want[GUID_TEXT_SIZE], got[GUID_TEXT_SIZE];
        guid_to_text(&c->parent_linkage, want);
        guid_to_text(dwg, got);
        return DIAG_ERROR(&c->sink, VHDX_E_CORRUPT, "image.parent.linkage_mismatch", IMAGE,
                          VHDX_OFFSET_NONE,
                          "the parent has DataWriteGuid %s, but the child expects %s: it is not "
                          "this child's parent (or it changed)",
                          got, want);
    }
}

vhdx_status vhdx_commit(vhdx_io *child, vhdx_io *parent, const vhdx_commit_options *options,
                        const vhdx_open_options *open_options, vhdx_commit_result *out)
{
    static const vhdx_open_options defaults;
    const vhdx_open_options *base = open_options != NULL ? open_options : &defaults;
    vhdx_commit_result local = {0};
    struct copy cp;
    vhdx_image *c = NULL, *p = NULL;
    struct guid g;
    bool resumed = false, any = true;
    vhdx_status st, fin;

    memset(&cp, 0, sizeof(cp));
    memset(&local, 0, sizeof(local));
    cp.res = out != NULL ? out : &local;
    memset(cp.res, 0, sizeof(*cp.res));
    cp.options = options;
    if (child == NULL || parent == NULL)
        return VHDX_E_INVALID_ARG;
    st = open_side(child, base, &c);
    if (st == VHDX_OK && !c->has_parent)
        st = VHDX_E_INVALID_ARG; /* not a differencing image */
    if (st == VHDX_OK)
        st = open_side(parent, base, &p);
    if (st == VHDX_OK)
        st = check_pair(c, p, &resumed);
    /* Nothing of its own and no merge begun: nothing is written, the parent keeps its identity. */
    if (st == VHDX_OK && !c->has_parent_linkage2)
        st = holds_any(c, &any);
    if (st != VHDX_OK || !any)
        goto out;
    cp.res->resumed = resumed;
    cp.c = c;
    cp.p = p;
    cp.total = c->virtual_size;
    st = copy_buffer(&cp);

    /* Phase 1: the parent's new identity G in the child's locator, durable. */
    if (st == VHDX_OK && !c->has_parent_linkage2) {
        guid_generate(&g);
        st = set_linkage(c, &c->parent_linkage, &g);
    }
    /* Phase 2: every session of the parent gives it G. */
    if (st == VHDX_OK) {
        g = c->parent_linkage2;
        p->session_data_guid = g;
        p->session_data_guid_fixed = true;
        st = copy_extents(&cp);
        /* A cancel ends the session cleanly: a later call resumes from it. */
        fin = vhdx_finish(p);
        st = status_first(st, fin);
    }
    /* Phase 3: the child names G alone. */
    if (st == VHDX_OK)
        st = set_linkage(c, &g, NULL);
out:
    if (cp.buf != NULL)
        acct_free(&c->acct, cp.buf, cp.cap);
    vhdx_close(p);
    vhdx_close(c);
    return st;
}

vhdx_status vhdx_commit_path(const char *path, const vhdx_commit_options *options,
                             const vhdx_open_options *open_options, char **parent_path,
                             vhdx_commit_result *out)
{
    static const vhdx_open_options defaults;
    char dir[IO_PATH_MAX], real[IO_PATH_MAX], pdir[IO_PATH_MAX], preal[IO_PATH_MAX];
    vhdx_open_options o = open_options != NULL ? *open_options : defaults;
    vhdx_io cio, pio;
    vhdx_image *chain = NULL;
    vhdx_status st;

    if (parent_path != NULL)
        *parent_path = NULL;
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    /* The parent is opened writable here, by path: a caller's opener cannot give that. */
    if (path == NULL || o.open_parent != NULL)
        return VHDX_E_INVALID_ARG;
    /* The chain, read-only: judges the child and finds the parent as vhdx_open_path does. */
    o.flags = VHDX_OPEN_READ_ONLY;
    st = vhdx_open_path(path, &o, &chain);
    if (st != VHDX_OK)
        return st;
    if (!chain->has_parent || chain->parent == NULL) {
        vhdx_close(chain);
        return VHDX_E_INVALID_ARG;
    }
    (void)snprintf(preal, sizeof(preal), "%s", chain->parent_path_used); /* same size */
    vhdx_close(chain);
    if (parent_path != NULL) {
        *parent_path = strdup(preal);
        if (*parent_path == NULL)
            return VHDX_E_NOMEM;
    }
    /* Both files again, writable, with the same regular-file checks. */
    st = io_path_open_image(path, 1, &cio, dir, sizeof(dir), real, sizeof(real));
    if (st != VHDX_OK)
        return st;
    st = io_path_open_image(preal, 1, &pio, pdir, sizeof(pdir), real, sizeof(real));
    if (st != VHDX_OK) {
        vhdx_io_close(&cio);
        return st;
    }
    /* The parent's path was a real path: it must still be (no link put in its way). */
    if (strcmp(real, preal) != 0)
        st = VHDX_E_INVALID_ARG;
    else
        st = vhdx_commit(&cio, &pio, options, open_options, out);
    vhdx_io_close(&pio);
    vhdx_io_close(&cio);
    return st;
}
