/*
 * Opening an image: the strict open order of VHDX-FORMAT.md §12.
 *
 *  1. the file is at least 1 MiB; the file type identifier;
 *  2. both headers, the current one chosen by sequence number (§3.2);
 *  3. the log: a dirty log is replayed, into the file for a writable open,
 *     into an in-memory view otherwise (§8.7, docs/REPLAY.md);
 *  4. both region tables, copy 1 used when valid (§4.5);
 *  5. the metadata table and every item (§5), the parent locator;
 *  6. the BAT geometry and every BAT entry, streamed page by page (§7);
 *  7. the space map: every structure's MiB units, overlaps named (§1.1);
 *  8. the parent chain of a differencing image (§5.4.6).
 *
 * Every finding goes to the caller's on_diag. In check mode the load goes
 * on past errors wherever what follows can still be examined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "base/endian.h"
#include "base/utf16.h"
#include "format/constants.h"
#include "format/metadata_items.h"
#include "format/metadata_table.h"
#include "format/parent_locator.h"
#include "image/file.h"
#include "image/image.h"
#include "image/log.h"
#include "image/space_map.h"
#include "io/path.h"

static const char IMAGE[] = "image";

/* The sink callback: forwards every finding and remembers the first error. */
static void on_finding(void *ctx, const vhdx_diag *d)
{
    struct vhdx_image *img = ctx;
    if (d->severity == VHDX_SEVERITY_ERROR && img->first_error == VHDX_OK)
        img->first_error = d->code;
    if (img->options.on_diag != NULL)
        img->options.on_diag(img->options.diag_ctx, d);
}

static struct diag_sink *sink_at(struct vhdx_image *img, uint64_t base)
{
    img->sink.base = base;
    return &img->sink;
}

/* Findings held back until it is known whether the structure is used. */
struct held_findings {
    struct diag_sink sink;
    vhdx_diag records[8];
};

static struct diag_sink *hold_at(struct held_findings *h, uint64_t base)
{
    diag_sink_init(&h->sink, h->records, sizeof(h->records) / sizeof(h->records[0]));
    h->sink.base = base;
    return &h->sink;
}

/*
 * Passes held findings on. A redundant copy that is damaged while the other
 * copy serves (a torn header write is what the two headers exist for) makes
 * its errors warnings: the image is readable, but the damage is reported.
 */
static void release_findings(struct vhdx_image *img, const struct held_findings *h, bool demote)
{
    diag_forward(sink_at(img, 0), &h->sink, demote);
}

/*
 * What is wrong with a spare copy, for the warning that leads its report:
 * the rule id of its first error, and how many more problems it has.
 */
static void describe_damage(const struct held_findings *h, char *buf, size_t cap)
{
    const char *rule = "damaged";
    size_t more = h->sink.errors > 0 ? h->sink.errors - 1 : 0;
    for (size_t i = 0; i < h->sink.stored; i++) {
        if (h->records[i].severity == VHDX_SEVERITY_ERROR) {
            rule = h->records[i].rule;
            break;
        }
    }
    /* Text for people: a buffer too small cuts it short, which is all it can do. */
    if (more == 0)
        (void)snprintf(buf, cap, "%s", rule);
    else
        (void)snprintf(buf, cap, "%s and %zu more problem%s", rule, more, more == 1 ? "" : "s");
}

/*
 * Reads into an accounted buffer; the caller frees it with acct_free(len).
 * Not zeroed first: the read fills it whole, or it is freed unread.
 */
static vhdx_status read_alloc(struct vhdx_image *img, uint64_t off, size_t len, uint8_t **out)
{
    vhdx_status st;
    uint8_t *buf = acct_alloc_uninit(&img->acct, len, &st);
    *out = NULL;
    if (buf == NULL)
        return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
    st = image_read_exact(img, off, buf, len);
    if (st != VHDX_OK) {
        acct_free(&img->acct, buf, len);
        return st;
    }
    *out = buf;
    return VHDX_OK;
}

static vhdx_status io_failure(struct vhdx_image *img, vhdx_status st, const char *what,
                              uint64_t off, size_t len)
{
    if (st == VHDX_E_TRUNCATED)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_TRUNCATED, "image.file.truncated", IMAGE, off,
                          "the file ends inside %s [0x%llx, 0x%llx)", what,
                          (unsigned long long)off, (unsigned long long)(off + len));
    if (st == VHDX_E_IO)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_IO, "image.io", IMAGE, off,
                          "reading %s failed", what);
    return DIAG_ERROR(sink_at(img, 0), st, "image.limit.memory", IMAGE, VHDX_OFFSET_NONE,
                      "cannot hold %s (%zu bytes) within the memory limit", what, len);
}

/* ---- 1. File and identifier ---- */

static vhdx_status load_identifier(struct vhdx_image *img)
{
    uint8_t *buf;
    vhdx_status st;

    if (img->io.size == NULL || img->io.size(img->io.ctx, &img->file_size) != VHDX_OK)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_IO, "image.io", IMAGE, VHDX_OFFSET_NONE,
                          "cannot get the size of the file");
    /*
     * Whether it is a VHDX file at all, from its first 8 bytes: before 64 KiB
     * are read, and before the size, which is the less useful message.
     * (vhdx_create_open's file has zeros there until the seal.)
     */
    if (!img->unsealed || img->file_size < VHDX_HEADER_SECTION_SIZE) {
        uint8_t sig[8];
        st = image_read_exact(img, 0, sig, sizeof(sig));
        if (st == VHDX_OK && memcmp(sig, VHDX_SIG_FILE, 8) != 0)
            return DIAG_ERROR(sink_at(img, 0), VHDX_E_SIGNATURE, "file_identifier.signature",
                              "file identifier", 0, "signature is not 'vhdxfile': not a VHDX file");
        /* A short file is refused for its size below, whatever this read did. */
        if (st != VHDX_OK && img->file_size >= VHDX_HEADER_SECTION_SIZE)
            return io_failure(img, st, "the file identifier", 0, FILE_IDENTIFIER_SIZE);
    }
    /* §1.1: the fixed 1 MiB header section comes first. */
    if (img->file_size < VHDX_HEADER_SECTION_SIZE)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_TRUNCATED, "image.file.too_small", IMAGE, 0,
                          "the file is %llu bytes, smaller than the 1 MiB header section",
                          (unsigned long long)img->file_size);
    st = read_alloc(img, 0, FILE_IDENTIFIER_SIZE, &buf);
    if (st != VHDX_OK)
        return io_failure(img, st, "the file identifier", 0, FILE_IDENTIFIER_SIZE);
    /* vhdx_create_open's file: the signature comes at the seal; its place is zeros. */
    if (img->unsealed) {
        static const uint8_t none[8];
        if (memcmp(buf, none, sizeof(none)) != 0) {
            acct_free(&img->acct, buf, FILE_IDENTIFIER_SIZE);
            return VHDX_E_STATE;
        }
        memcpy(buf, VHDX_SIG_FILE, 8);
    }
    st = file_identifier_decode(buf, FILE_IDENTIFIER_SIZE, &img->identifier, sink_at(img, 0));
    acct_free(&img->acct, buf, FILE_IDENTIFIER_SIZE);
    if (st != VHDX_OK)
        return st;
    status_ignore(file_identifier_validate(&img->identifier, sink_at(img, 0))); /* warnings only */
    return VHDX_OK;
}

/* ---- 2. Headers ---- */

static vhdx_status load_headers(struct vhdx_image *img)
{
    static const uint64_t offsets[2] = {VHDX_HEADER1_OFFSET, VHDX_HEADER2_OFFSET};
    uint8_t *buf[2] = {NULL, NULL};
    struct header h[2];
    struct held_findings held[2];
    bool valid[2] = {false, false};
    vhdx_status st = VHDX_OK;
    int cur = -1;

    for (int i = 0; i < 2; i++) {
        st = read_alloc(img, offsets[i], HEADER_SIZE, &buf[i]);
        if (st != VHDX_OK) {
            st = io_failure(img, st, i == 0 ? "header 1" : "header 2", offsets[i], HEADER_SIZE);
            goto out;
        }
        valid[i] = header_decode(buf[i], HEADER_SIZE, &h[i], hold_at(&held[i], offsets[i])) ==
                   VHDX_OK;
        /* QEMU treats a header with Version != 1 as invalid; so do we when choosing. */
        if (valid[i] && h[i].version != 1) {
            (void)DIAG_ERROR(&held[i].sink, VHDX_E_VERSION, "header.version", "header", 66,
                             "version is %u, must be 1", h[i].version);
            valid[i] = false;
        }
    }
    /*
     * One rule for both redundant structures: the copy a reader uses is
     * judged strictly; the spare's damage, of any kind, is a warning that
     * leads with what is wrong, then the details as warnings. A damaged
     * header is that while the other one is valid.
     */
    if (valid[0] != valid[1]) {
        int bad = valid[0] ? 1 : 0;
        char what[96];
        describe_damage(&held[bad], what, sizeof(what));
        (void)DIAG_WARN(sink_at(img, 0), VHDX_E_CORRUPT, "image.header.one_valid", IMAGE,
                        offsets[bad],
                        "header %d is not valid (%s); header %d is used. Repairable: "
                        "'vhdx check -r all' rewrites it from header %d",
                        bad + 1, what, 2 - bad, 2 - bad);
        img->spare_header_damaged = true;
    }
    release_findings(img, &held[0], valid[1]);
    release_findings(img, &held[1], valid[0]);

    /* §3.2: the current header is the only valid one, or the one with the greater sequence. */
    if (valid[0] && valid[1]) {
        if (h[0].sequence_number > h[1].sequence_number) {
            cur = 0;
        } else if (h[1].sequence_number > h[0].sequence_number) {
            cur = 1;
        } else if (memcmp(buf[0], buf[1], HEADER_SIZE) == 0) {
            /* Disk2VHD writes two identical headers with the same sequence number (§11.2 item 9). */
            (void)DIAG_WARN(sink_at(img, 0), VHDX_E_CORRUPT, "image.header.equal_identical", IMAGE,
                            VHDX_HEADER2_OFFSET,
                            "both headers have sequence number %llu and identical bytes (as Disk2VHD writes them); header 1 is used",
                            (unsigned long long)h[0].sequence_number);
            cur = 0;
        } else {
            st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.header.equal_sequence", IMAGE,
                            VHDX_HEADER2_OFFSET,
                            "both headers are valid with sequence number %llu but differ: no header is current",
                            (unsigned long long)h[0].sequence_number);
            goto out;
        }
    } else if (valid[0] || valid[1]) {
        cur = valid[0] ? 0 : 1;
    } else {
        st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.header.none_valid", IMAGE,
                        VHDX_HEADER1_OFFSET, "neither header is valid");
        goto out;
    }
    img->header = h[cur];
    img->current_header = cur + 1;
    st = header_validate(&img->header, img->file_size, sink_at(img, offsets[cur]));
    /*
     * The non-current header, when valid and not the same bytes: its field
     * rules too, as warnings. Readers never use it (§3.2), but it is what
     * the next header update overwrites first, and a damaged spare is
     * damage all the same.
     */
    if (valid[1 - cur] && memcmp(buf[0], buf[1], HEADER_SIZE) != 0) {
        struct held_findings spare;
        int other = 1 - cur;
        status_ignore(header_validate(&h[other], img->file_size,
                                      hold_at(&spare, offsets[other]))); /* findings below */
        if (spare.sink.errors > 0) {
            char what[96];
            describe_damage(&spare, what, sizeof(what));
            (void)DIAG_WARN(sink_at(img, 0), VHDX_E_CORRUPT, "image.header.spare_damaged", IMAGE,
                            offsets[other],
                            "header %d (not current) is damaged (%s); header %d is used. "
                            "Repairable: 'vhdx check -r all' rewrites it from header %d",
                            other + 1, what, cur + 1, cur + 1);
            img->spare_header_damaged = true;
        }
        release_findings(img, &spare, true);
    }
out:
    for (int i = 0; i < 2; i++)
        acct_free(&img->acct, buf[i], HEADER_SIZE);
    return st;
}

/* ---- 3. Log ---- */

/*
 * §8.7.1: a dirty log is replayed before anything else is read, because it
 * may change the region tables, the metadata and the BAT. A writable open
 * replays into the file and clears the LogGuid; a read-only one replays
 * into a view (io/replaymap.h), so the view is the replayed disk and the file is not
 * written (principle 7).
 */
static vhdx_status replay_log(struct vhdx_image *img, bool writable)
{
    struct log_plan plan;
    vhdx_status st;
    uint64_t size = 0;
    const struct log_plan_entry *head, *tail;

    if (guid_is_nil(&img->header.log_guid))
        return VHDX_OK;
    st = log_plan_load(&img->io, &img->header, img->file_size, img->limits.max_log_length,
                       &img->acct, sink_at(img, 0), &plan);
    if (st != VHDX_OK)
        return st;
    head = &plan.entries[plan.count - 1];
    tail = &plan.entries[0];
    if (writable) {
        st = log_plan_apply_progress(&plan, &img->io, &img->io, sink_at(img, 0),
                                     img->options.progress, img->options.progress_ctx);
        if (st == VHDX_OK)
            st = log_clear_headers(&img->io, img->current_header, &img->header, sink_at(img, 0));
        if (st == VHDX_OK)
            img->log_replay_mode = VHDX_LOG_REPLAYED_IN_PLACE;
    } else {
        vhdx_io view;
        st = log_plan_view(&plan, &img->io, &view, sink_at(img, 0));
        if (st == VHDX_OK) {
            img->base_io = img->io;
            img->io = view;
            img->log_replay_mode = VHDX_LOG_REPLAYED_IN_MEMORY;
        }
    }
    /* The replay may have extended the file (§8.7.5): the rest is checked against its new size. */
    if (st == VHDX_OK && img->io.size(img->io.ctx, &size) != VHDX_OK)
        st = DIAG_ERROR(sink_at(img, 0), VHDX_E_IO, "image.io", IMAGE, VHDX_OFFSET_NONE,
                        "cannot get the size of the file after the log replay");
    if (st == VHDX_OK) {
        img->log_entries_replayed = plan.count;
        img->log_head_sequence = head->sequence_number;
        img->file_size = size;
        (void)DIAG_INFO(sink_at(img, 0), "log.replayed", "log",
                        img->header.log_offset + tail->entry_offset,
                        "the log held %u entr%s to replay (sequence numbers %llu to %llu, %llu "
                        "descriptors), replayed %s",
                        plan.count, plan.count == 1 ? "y" : "ies",
                        (unsigned long long)tail->sequence_number,
                        (unsigned long long)head->sequence_number,
                        (unsigned long long)plan.descriptors,
                        writable ? "into the file; the log is now empty"
                                 : "in memory: the file is not changed");
    }
    log_plan_free(&plan);
    return st;
}

/* ---- 4. Region tables ---- */

/* Where two valid copies first differ, for the mismatch warning. */
static void describe_difference(const struct region_table *used, int used_no,
                                const struct region_table *spare, int spare_no, char *buf,
                                size_t cap)
{
    uint32_t n = used->entry_count < spare->entry_count ? used->entry_count : spare->entry_count;
    /* Text for people: a buffer too small cuts it short, which is all it can do. */
    if (used->entry_count != spare->entry_count) {
        (void)snprintf(buf, cap, "copy %d has %u entries, copy %d has %u", used_no,
                       used->entry_count, spare_no, spare->entry_count);
        return;
    }
    for (uint32_t i = 0; i < n && i < REGION_TABLE_MAX_ENTRIES; i++) {
        const struct region_entry *x = &used->entries[i], *y = &spare->entries[i];
        const char *field = !guid_equal(&x->guid, &y->guid) ? "GUID"
                            : x->file_offset != y->file_offset ? "offset"
                            : x->length != y->length           ? "length"
                            : x->required != y->required       ? "required flag"
                                                               : NULL;
        if (field != NULL) {
            (void)snprintf(buf, cap, "entry %u differs in its %s", i, field);
            return;
        }
    }
    (void)snprintf(buf, cap, "the header's reserved field differs");
}

/*
 * §4.5: two copies. Which one a reader uses is decided by signature and
 * checksum alone: copy 1 when it decodes, else copy 2 (openvmm; QEMU reads
 * copy 1 only, libvhdi never compares them). Hyper-V is not documented to
 * prefer copy 2 in any case (VHDX-FORMAT.md §4.5, §13), so neither do we.
 * The copy in use is judged strictly; the spare copy's damage, of any kind
 * (checksum, signature or the rules of its entries), is one warning naming
 * what is wrong, followed by its findings as warnings, and the image is
 * repairable (vhdx_repair rewrites the spare from the copy in use). Two
 * valid copies that differ are a warning naming where.
 */
static vhdx_status load_region_tables(struct vhdx_image *img, bool check_mode)
{
    static const uint64_t offsets[2] = {VHDX_REGION_TABLE1_OFFSET, VHDX_REGION_TABLE2_OFFSET};
    struct region_table *t[2] = {NULL, NULL};
    bool valid[2] = {false, false};
    struct region_table_context ctx = {img->file_size, img->header.log_offset,
                                       img->header.log_length};
    vhdx_status st = VHDX_OK;
    struct held_findings held[2];
    const struct region_entry *bat, *meta;
    bool same;
    int use, spare;

    for (int i = 0; i < 2; i++) {
        uint8_t *buf;
        t[i] = acct_alloc(&img->acct, sizeof(*t[i]), &st);
        if (t[i] == NULL) {
            st = io_failure(img, st, "a region table", offsets[i], sizeof(*t[i]));
            goto out;
        }
        st = read_alloc(img, offsets[i], REGION_TABLE_SIZE, &buf);
        if (st != VHDX_OK) {
            st = io_failure(img, st, i == 0 ? "region table 1" : "region table 2", offsets[i],
                            REGION_TABLE_SIZE);
            goto out;
        }
        valid[i] = region_table_decode(buf, REGION_TABLE_SIZE, t[i],
                                       hold_at(&held[i], offsets[i])) == VHDX_OK;
        acct_free(&img->acct, buf, REGION_TABLE_SIZE);
    }
    if (!valid[0] && !valid[1]) {
        release_findings(img, &held[0], false);
        release_findings(img, &held[1], false);
        st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.region_table.none_valid", IMAGE,
                        VHDX_REGION_TABLE1_OFFSET, "neither region table copy is valid");
        goto out;
    }
    use = valid[0] ? 0 : 1;
    spare = 1 - use;
    same = valid[spare] && region_table_equal(t[0], t[1]);
    /* The copy in use, strictly; identical copies are checked once, so each problem shows once. */
    st = region_table_validate(t[use], &ctx, sink_at(img, offsets[use]));
    if (valid[spare] && !same)
        status_ignore(region_table_validate(t[spare], &ctx, hold_at(&held[spare], offsets[spare])));
    img->region_table_used = use + 1;
    if (!valid[spare] || held[spare].sink.errors > 0) {
        char what[96];
        describe_damage(&held[spare], what, sizeof(what));
        (void)DIAG_WARN(sink_at(img, 0), VHDX_E_CORRUPT,
                        spare == 0 ? "image.region_table.copy1_invalid"
                                   : "image.region_table.copy2_invalid",
                        IMAGE,
                        offsets[spare],
                        "region table copy %d is damaged (%s); copy %d is used. Repairable: "
                        "'vhdx check -r all' rewrites it from copy %d",
                        spare + 1, what, use + 1, use + 1);
        img->spare_region_table_damaged = true;
    } else if (!same) {
        char where[96];
        describe_difference(t[use], use + 1, t[spare], spare + 1, where, sizeof(where));
        (void)DIAG_WARN(sink_at(img, 0), VHDX_E_CORRUPT, "image.region_table.mismatch", IMAGE,
                        offsets[spare],
                        "the two region table copies are valid but differ (%s); copy %d is used%s",
                        where, use + 1,
                        st == VHDX_OK ? ". Repairable: 'vhdx check -r all' rewrites copy 2 from copy 1"
                                      : ", and copy 2 passes every check: copy 1 is the broken one");
        img->spare_region_table_damaged = st == VHDX_OK;
    }
    release_findings(img, &held[spare], true);
    bat = region_table_find(t[use], &VHDX_GUID_REGION_BAT);
    meta = region_table_find(t[use], &VHDX_GUID_REGION_METADATA);
    if (bat != NULL)
        img->bat_region = *bat;
    if (meta != NULL)
        img->metadata_region = *meta;
    /* Keep the copy in use: its unknown regions are preserved structures too. */
    img->regions = t[use];
    t[use] = NULL;
    /* Without both regions, or with unusable ones, nothing further can be read. */
    if (bat == NULL || meta == NULL)
        st = status_first(st, VHDX_E_MISSING);
    if (st != VHDX_OK && !check_mode)
        goto out;
    if (bat == NULL || meta == NULL)
        goto out;
    st = VHDX_OK;
out:
    for (int i = 0; i < 2; i++)
        acct_free(&img->acct, t[i], sizeof(*t[i]));
    return st;
}

/* True when the region can be read: inside the file, no overflow, aligned. */
static bool region_usable(const struct vhdx_image *img, const struct region_entry *r)
{
    uint64_t end;
    return r->length != 0 && r->file_offset >= VHDX_MiB && ck_range_end(r->file_offset, r->length, &end) &&
           end <= img->file_size;
}

/* ---- 5. Metadata ---- */

struct metadata_load {
    struct metadata_table *table;
    uint8_t *item;     /* one item buffer of item_cap bytes */
    size_t item_cap;   /* the largest entry length, at most METADATA_ITEM_MAX_LENGTH */
    size_t item_len;
};

static vhdx_status read_item(struct vhdx_image *img, struct metadata_load *ml, const struct guid *id,
                             const char *name, uint64_t *item_off)
{
    const struct metadata_entry *e = metadata_table_find(ml->table, id, false);
    uint64_t off;
    vhdx_status st;

    ml->item_len = 0;
    if (e == NULL)
        return VHDX_E_MISSING; /* metadata_table_validate reported it */
    if (e->length > ml->item_cap ||
        (uint64_t)e->offset + e->length > img->metadata_region.length)
        return VHDX_E_RANGE; /* reported by the table validation */
    off = img->metadata_region.file_offset + e->offset;
    if (e->length > img->limits.max_metadata_item)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_LIMIT, "image.limit.metadata_item", IMAGE, off,
                          "the metadata item %s is %u bytes, more than the limit of %u", name, e->length,
                          img->limits.max_metadata_item);
    *item_off = off;
    if (e->length == 0)
        return VHDX_OK;
    st = image_read_exact(img, off, ml->item, e->length);
    if (st != VHDX_OK)
        return io_failure(img, st, name, off, e->length);
    ml->item_len = e->length;
    return VHDX_OK;
}

static vhdx_status load_parent_locator(struct vhdx_image *img, struct metadata_load *ml)
{
    static const char *const keys[3] = {"relative_path", "volume_path", "absolute_win32_path"};
    struct parent_locator *pl;
    uint64_t off = 0;
    vhdx_status st;
    char text[GUID_TEXT_SIZE + 8];
    size_t n;

    st = read_item(img, ml, &VHDX_GUID_PARENT_LOCATOR, "the parent locator", &off);
    if (st != VHDX_OK)
        return st;
    pl = acct_alloc(&img->acct, sizeof(*pl), &st);
    if (pl == NULL)
        return io_failure(img, st, "the parent locator", off, sizeof(*pl));
    st = parent_locator_decode(ml->item, ml->item_len, img->limits.max_locator_entries, pl,
                               sink_at(img, off));
    if (st == VHDX_OK)
        st = parent_locator_validate(pl, ml->item, ml->item_len, sink_at(img, off));
    if (st == VHDX_OK) {
        if (parent_locator_find(pl, ml->item, ml->item_len, "parent_linkage", 14, text,
                                sizeof(text), &n) == VHDX_OK &&
            guid_from_text(text, n, &img->parent_linkage) == VHDX_OK)
            img->has_parent_linkage = true;
        if (parent_locator_find(pl, ml->item, ml->item_len, "parent_linkage2", 15, text,
                                sizeof(text), &n) == VHDX_OK &&
            guid_from_text(text, n, &img->parent_linkage2) == VHDX_OK)
            img->has_parent_linkage2 = true;
        for (int k = 0; k < 3; k++) {
            if (parent_locator_find(pl, ml->item, ml->item_len, keys[k], strlen(keys[k]),
                                    img->parent_paths[k], sizeof(img->parent_paths[k]),
                                    &n) != VHDX_OK)
                img->parent_paths[k][0] = '\0';
        }
    }
    acct_free(&img->acct, pl, sizeof(*pl));
    return st;
}

static vhdx_status load_metadata(struct vhdx_image *img)
{
    struct metadata_load ml = {NULL, NULL, 0, 0};
    const struct region_entry *r = &img->metadata_region;
    struct file_parameters fp;
    struct virtual_disk_size vds;
    struct virtual_disk_id vdi;
    struct logical_sector_size lss = {0}; /* stays 0 if missing: the size check skips it */
    struct physical_sector_size pss;
    uint8_t *table_buf = NULL;
    uint64_t off = 0;
    vhdx_status st, first = VHDX_OK;

    if (!region_usable(img, r))
        return VHDX_E_RANGE; /* the region table validation reported why */
    if (r->length > img->limits.max_metadata_region)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_LIMIT, "image.limit.metadata_region", IMAGE,
                          r->file_offset,
                          "the metadata region is %u bytes, more than the limit of %u",
                          r->length, img->limits.max_metadata_region);
    if (r->length < METADATA_TABLE_SIZE)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_RANGE, "image.metadata.region_too_small", IMAGE,
                          r->file_offset,
                          "the metadata region is %u bytes, smaller than its 64 KiB table",
                          r->length);

    ml.table = acct_alloc(&img->acct, sizeof(*ml.table), &st);
    if (ml.table == NULL)
        return io_failure(img, st, "the metadata table", r->file_offset, sizeof(*ml.table));
    st = read_alloc(img, r->file_offset, METADATA_TABLE_SIZE, &table_buf);
    if (st != VHDX_OK) {
        st = io_failure(img, st, "the metadata table", r->file_offset, METADATA_TABLE_SIZE);
        goto out;
    }
    st = metadata_table_decode(table_buf, METADATA_TABLE_SIZE, ml.table,
                               sink_at(img, r->file_offset));
    acct_free(&img->acct, table_buf, METADATA_TABLE_SIZE);
    if (st != VHDX_OK)
        goto out;
    first = metadata_table_validate(ml.table, r->length, sink_at(img, r->file_offset));

    /*
     * One buffer for the items, as long as the longest entry (an item
     * longer than METADATA_ITEM_MAX_LENGTH is never read: the table
     * validation reported it), not a MiB whatever the items are.
     */
    ml.item_cap = 1;
    for (uint32_t i = 0; i < ml.table->entry_count; i++) {
        uint32_t len = ml.table->entries[i].length;
        if (len <= METADATA_ITEM_MAX_LENGTH && len > ml.item_cap)
            ml.item_cap = len;
    }
    ml.item = acct_alloc(&img->acct, ml.item_cap, &st);
    if (ml.item == NULL) {
        st = io_failure(img, st, "a metadata item", r->file_offset, ml.item_cap);
        goto out;
    }

    /* The five items every file needs (§5.4); each decoder insists on its exact length. */
    st = read_item(img, &ml, &VHDX_GUID_FILE_PARAMETERS, "file parameters", &off);
    if (st == VHDX_OK)
        st = file_parameters_decode(ml.item, ml.item_len, &fp, sink_at(img, off));
    if (st == VHDX_OK)
        st = file_parameters_validate(&fp, sink_at(img, off));
    first = status_first(first, st);
    st = read_item(img, &ml, &VHDX_GUID_LOGICAL_SECTOR_SIZE, "logical sector size", &off);
    if (st == VHDX_OK)
        st = logical_sector_size_decode(ml.item, ml.item_len, &lss, sink_at(img, off));
    if (st == VHDX_OK)
        st = logical_sector_size_validate(&lss, sink_at(img, off));
    first = status_first(first, st);
    st = read_item(img, &ml, &VHDX_GUID_PHYSICAL_SECTOR_SIZE, "physical sector size", &off);
    if (st == VHDX_OK)
        st = physical_sector_size_decode(ml.item, ml.item_len, &pss, sink_at(img, off));
    if (st == VHDX_OK)
        st = physical_sector_size_validate(&pss, sink_at(img, off));
    first = status_first(first, st);
    st = read_item(img, &ml, &VHDX_GUID_VIRTUAL_DISK_SIZE, "virtual disk size", &off);
    img->vds_item_offset = off;
    if (st == VHDX_OK)
        st = virtual_disk_size_decode(ml.item, ml.item_len, &vds, sink_at(img, off));
    if (st == VHDX_OK)
        st = virtual_disk_size_validate(&vds, lss.size, sink_at(img, off));
    first = status_first(first, st);
    st = read_item(img, &ml, &VHDX_GUID_VIRTUAL_DISK_ID, "virtual disk id", &off);
    if (st == VHDX_OK)
        st = virtual_disk_id_decode(ml.item, ml.item_len, &vdi, sink_at(img, off));
    if (st == VHDX_OK)
        st = virtual_disk_id_validate(&vdi, sink_at(img, off));
    first = status_first(first, st);
    if (first != VHDX_OK) {
        st = first;
        goto out;
    }
    img->block_size = fp.block_size;
    img->has_parent = fp.has_parent;
    img->leave_blocks_allocated = fp.leave_blocks_allocated;
    img->logical_sector_size = lss.size;
    img->physical_sector_size = pss.size;
    img->virtual_size = vds.size;
    img->virtual_disk_id = vdi.id;

    /* §5.4: a parent locator if and only if HasParent. */
    st = metadata_table_check_parent_locator(ml.table, fp.has_parent, sink_at(img, r->file_offset));
    if (st == VHDX_OK && fp.has_parent)
        st = load_parent_locator(img, &ml);
out:
    if (ml.item != NULL)
        acct_free(&img->acct, ml.item, ml.item_cap);
    acct_free(&img->acct, ml.table, sizeof(*ml.table));
    return st;
}

/* ---- 6 and 7. BAT and space map ---- */

static void report_overlaps(struct vhdx_image *img, struct space_map *m)
{
    for (uint32_t i = 0; i < m->ncollisions; i++) {
        const struct space_collision *c = &m->collisions[i];
        char a[96], b[96];
        /* Fit: a structure's name and a number are far shorter than 96 bytes. */
        if (c->second.kind >= SPACE_REGION_OTHER)
            (void)snprintf(a, sizeof(a), "%s %llu", space_owner_kind_name(c->second.kind),
                           (unsigned long long)c->second.number);
        else
            (void)snprintf(a, sizeof(a), "%s", space_owner_kind_name(c->second.kind));
        if (!c->first_found)
            (void)snprintf(b, sizeof(b), "another structure");
        else if (c->first.kind >= SPACE_REGION_OTHER)
            (void)snprintf(b, sizeof(b), "%s %llu", space_owner_kind_name(c->first.kind),
                           (unsigned long long)c->first.number);
        else
            (void)snprintf(b, sizeof(b), "%s", space_owner_kind_name(c->first.kind));
        (void)DIAG_ERROR(sink_at(img, 0), VHDX_E_OVERLAP, "image.space.overlap", IMAGE,
                         c->unit * VHDX_MiB, "%s overlaps %s at file offset 0x%llx", a, b,
                         (unsigned long long)(c->unit * VHDX_MiB));
    }
    if (m->collisions_total > m->ncollisions)
        (void)DIAG_ERROR(sink_at(img, 0), VHDX_E_OVERLAP, "image.space.overlap", IMAGE,
                         VHDX_OFFSET_NONE, "%llu more overlapping structures are not listed",
                         (unsigned long long)(m->collisions_total - m->ncollisions));
}

/* Entries the walk reads at once: 1 MiB of BAT. */
#define WALK_ENTRIES ((size_t)128 * 1024)


/*
 * Validates every BAT entry (first pass) and claims the blocks it allocates.
 * The BAT is streamed a MiB at a time; an all-zero entry (NOT_PRESENT, no
 * offset) is valid in every slot and claims nothing, so sparse tables cost
 * little more than reading them.
 */
static vhdx_status walk_bat(struct vhdx_image *img, struct space_map *m, bool first_pass)
{
    const struct bat_geometry *g = &img->geo;
    bool chunk_has_partial = false;
    vhdx_status first = VHDX_OK, st;
    uint64_t allocated = 0;
    /* A MiB of entries, or the whole table when it is smaller. */
    size_t page_entries = g->total_entries < WALK_ENTRIES ? (size_t)g->total_entries : WALK_ENTRIES;
    uint8_t *page;

    if (page_entries == 0)
        page_entries = 1;
    /* Not zeroed: each pass reads the entries it looks at first. */
    page = acct_alloc_uninit(&img->acct, page_entries * BAT_ENTRY_SIZE, &st);
    if (page == NULL)
        return io_failure(img, st, "a BAT page", img->bat_region.file_offset,
                          page_entries * BAT_ENTRY_SIZE);
    /* group/pos: where slot `base + k` sits in the interleave, kept without division. */
    for (uint64_t base = 0, group = 0, pos = 0; base < g->total_entries; base += WALK_ENTRIES) {
        uint64_t n = g->total_entries - base;
        if (n > WALK_ENTRIES)
            n = WALK_ENTRIES;
        st = image_read_exact(img, img->bat_region.file_offset + base * BAT_ENTRY_SIZE, page,
                              (size_t)n * BAT_ENTRY_SIZE);
        if (st != VHDX_OK) {
            first = io_failure(img, st, "the BAT", img->bat_region.file_offset + base * 8,
                               (size_t)n * BAT_ENTRY_SIZE);
            break;
        }
        /* vhdx_check: progress in BAT entries examined; a cancel stops the check. */
        if (first_pass && img->check_progress && img->options.progress != NULL &&
            img->options.progress(img->options.progress_ctx, base, g->total_entries) != 0) {
            first = VHDX_E_CANCELLED;
            break;
        }
        for (uint64_t k = 0; k < n; k++, pos = pos == g->chunk_ratio ? 0 : pos + 1,
                      group += pos == 0) {
            uint64_t slot, number, raw;
            /*
             * Runs of all-zero entries (bat_zero_prefix): each is valid in
             * every slot and claims nothing (the first fast path below),
             * unless it is the sector bitmap slot of a chunk with a
             * PARTIALLY_PRESENT block: after such a block only the entries
             * before the chunk's sector bitmap slot are skipped. A few
             * tests per run instead of one per entry; pos and group move on
             * as the per-entry steps would (pos counts in chunk_ratio + 1).
             */
            uint64_t span = n - k, zeros;
            if (chunk_has_partial && span > g->chunk_ratio - pos)
                span = g->chunk_ratio - pos;
            zeros = bat_zero_prefix(page + k * BAT_ENTRY_SIZE, span);
            if (zeros != 0) {
                k += zeros;
                pos += zeros;
                group += pos / ((uint64_t)g->chunk_ratio + 1);
                pos %= (uint64_t)g->chunk_ratio + 1;
            }
            if (k == n)
                break;
            slot = base + k;
            raw = le64_load_no_bounds_check(page + k * BAT_ENTRY_SIZE);
            bool sb_slot = pos == g->chunk_ratio;
            bool payload = !sb_slot && group * g->chunk_ratio + pos < g->payload_blocks;
            struct bat_entry e;

            /*
             * Fast paths: NOT_PRESENT with no offset (all zero) is valid in
             * every slot, and ZERO with no offset in every payload slot (QEMU
             * marks every unwritten block ZERO); neither claims space nor
             * counts as allocated.
             */
            if ((raw == 0 || (raw == BAT_PAYLOAD_ZERO && payload)) &&
                !(sb_slot && chunk_has_partial)) {
                if (sb_slot)
                    chunk_has_partial = false;
                continue;
            }
            e = bat_entry_decode(raw);
            if (first_pass) {
                struct bat_entry_context ctx = {img->file_size, slot};
                first = status_first(first, bat_entry_validate(g, raw, &ctx,
                                                               sink_at(img, img->bat_region.file_offset)));
            }
            switch (bat_slot_classify(g, slot, &number)) {
            case BAT_SLOT_PAYLOAD: {
                bool anchored = e.file_offset_mb != 0 &&
                                (e.state == BAT_PAYLOAD_FULLY_PRESENT ||
                                 e.state == BAT_PAYLOAD_PARTIALLY_PRESENT ||
                                 e.state == BAT_PAYLOAD_UNDEFINED ||
                                 e.state == BAT_PAYLOAD_UNMAPPED);
                if (e.state == BAT_PAYLOAD_FULLY_PRESENT || e.state == BAT_PAYLOAD_PARTIALLY_PRESENT)
                    allocated++;
                if (e.state == BAT_PAYLOAD_PARTIALLY_PRESENT)
                    chunk_has_partial = true;
                if (anchored) {
                    struct space_owner o = {SPACE_PAYLOAD_BLOCK, number};
                    (void)space_map_claim(m, bat_entry_file_offset(&e), g->block_size, o);
                }
                break;
            }
            case BAT_SLOT_SECTOR_BITMAP:
                if (e.state == BAT_SB_PRESENT && e.file_offset_mb != 0) {
                    struct space_owner o = {SPACE_SECTOR_BITMAP, number};
                    (void)space_map_claim(m, bat_entry_file_offset(&e), VHDX_MiB, o);
                }
                /* §7.6 item 7: a chunk with a PARTIALLY_PRESENT block needs its sector bitmap. */
                if (first_pass && chunk_has_partial && g->has_parent && e.state != BAT_SB_PRESENT)
                    first = status_first(first, DIAG_ERROR(sink_at(img, img->bat_region.file_offset),
                                                           VHDX_E_STATE, "image.bat.partial_without_bitmap",
                                                           "BAT", slot * 8,
                                                           "chunk %llu has PARTIALLY_PRESENT blocks but its sector bitmap is not present",
                                                           (unsigned long long)number));
                chunk_has_partial = false;
                break;
            case BAT_SLOT_PADDING:
            default:
                break;
            }
        }
    }
    acct_free(&img->acct, page, page_entries * BAT_ENTRY_SIZE);
    if (first_pass)
        img->blocks_allocated = allocated;
    if (first_pass && first != VHDX_E_CANCELLED && img->check_progress &&
        img->options.progress != NULL &&
        img->options.progress(img->options.progress_ctx, g->total_entries, g->total_entries) != 0)
        first = VHDX_E_CANCELLED;
    return first;
}

/* Claims every structure of the file in a fixed order (run twice when naming overlaps). */
static vhdx_status claim_all(struct vhdx_image *img, struct space_map *m, bool first_pass)
{
    struct space_owner o;
    o.number = 0;
    o.kind = SPACE_HEADER_AREA;
    (void)space_map_claim(m, 0, VHDX_HEADER_SECTION_SIZE, o);
    if (img->header.log_length != 0 && img->header.log_offset >= VHDX_MiB) {
        o.kind = SPACE_LOG;
        (void)space_map_claim(m, img->header.log_offset, img->header.log_length, o);
    }
    /* Regions overlapping each other or the log were reported by the region table check. */
    o.kind = SPACE_REGION_BAT;
    (void)space_map_claim(m, img->bat_region.file_offset, img->bat_region.length, o);
    o.kind = SPACE_REGION_METADATA;
    (void)space_map_claim(m, img->metadata_region.file_offset, img->metadata_region.length, o);
    o.kind = SPACE_REGION_OTHER;
    for (uint32_t i = 0; img->regions != NULL && i < img->regions->entry_count; i++) {
        const struct region_entry *r = &img->regions->entries[i];
        if (region_guid_is_known(&r->guid))
            continue;
        o.number = i;
        (void)space_map_claim(m, r->file_offset, r->length, o);
    }
    return walk_bat(img, m, first_pass);
}

static vhdx_status load_bat(struct vhdx_image *img)
{
    struct space_map m;
    vhdx_status st;
    uint64_t units_used;

    st = bat_geometry_init(&img->geo, img->virtual_size, img->block_size, img->logical_sector_size,
                           img->has_parent, sink_at(img, img->metadata_region.file_offset));
    if (st != VHDX_OK)
        return st;
    if (!region_usable(img, &img->bat_region))
        return VHDX_E_RANGE; /* reported by the region table check */
    st = bat_region_check(&img->geo, img->bat_region.length,
                          sink_at(img, img->bat_region.file_offset));
    if (st != VHDX_OK)
        return st;

    st = space_map_init(&m, &img->acct, img->file_size);
    if (st != VHDX_OK)
        return DIAG_ERROR(sink_at(img, 0), st, "image.limit.memory", IMAGE, VHDX_OFFSET_NONE,
                          "the space map of a %llu-byte file does not fit the memory limit",
                          (unsigned long long)img->file_size);
    st = claim_all(img, &m, true);
    if (m.collisions_total != 0) {
        space_map_begin_naming(&m);
        status_ignore(claim_all(img, &m, false)); /* only names the first owners */
        report_overlaps(img, &m);
        st = status_first(st, VHDX_E_OVERLAP);
    }
    /* Data past the last structure: allowed, but a careful reader should know. */
    units_used = m.highest_end;
    if (units_used % VHDX_MiB != 0)
        units_used += VHDX_MiB - units_used % VHDX_MiB;
    if (img->file_size > units_used)
        (void)DIAG_WARN(sink_at(img, 0), VHDX_E_RANGE, "image.space.trailing_data", IMAGE,
                        units_used,
                        "%llu bytes after the last structure (which ends at 0x%llx) belong to nothing",
                        (unsigned long long)(img->file_size - units_used),
                        (unsigned long long)units_used);
    space_map_free(&m, &img->acct);
    return st;
}

/* ---- 8. Parent chain ---- */

/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
static vhdx_status open_parent(struct vhdx_image *img, const struct open_chain *chain,
                               bool check_mode)
{
    static const char *const keys[3] = {"relative_path", "volume_path", "absolute_win32_path"};
    struct open_chain link = {chain, img->path, img->header.file_write_guid,
                              img->header.data_write_guid};
    vhdx_open_options parent_options;
    vhdx_status st = VHDX_E_MISSING;

    if ((img->options.flags & VHDX_OPEN_NO_PARENT) != 0)
        return VHDX_OK;
    if (img->options.open_parent == NULL && img->dir[0] == '\0') {
        (void)DIAG_INFO(sink_at(img, 0), "image.parent.not_opened", IMAGE, VHDX_OFFSET_NONE,
                        "the parent is not opened (no parent opener); reads that need it fail");
        return VHDX_OK;
    }
    if (img->depth + 1 > img->limits.max_parent_depth)
        return DIAG_ERROR(sink_at(img, 0), VHDX_E_LIMIT, "image.parent.depth", IMAGE,
                          VHDX_OFFSET_NONE, "the differencing chain is deeper than the limit of %u",
                          img->limits.max_parent_depth);

    for (int k = 0; k < 3; k++) {
        vhdx_io io;
        char resolved[4096];
        char parent_dir[4096];
        vhdx_image *parent = NULL;
        const char *path = img->parent_paths[k];

        if (path[0] == '\0')
            continue;
        memset(&io, 0, sizeof(io));
        resolved[0] = '\0';
        parent_dir[0] = '\0';
        /* §5.4.6: try relative_path, then volume_path, then absolute_win32_path. */
        if (img->options.open_parent != NULL)
            st = img->options.open_parent(img->options.open_parent_ctx, keys[k], path, &io);
        else
            st = io_path_resolve_parent_in(img->dir, img->options.parent_dirs, keys[k], path, &io,
                                           resolved, sizeof(resolved));
        if (st == VHDX_E_MISSING)
            continue;
        if (st != VHDX_OK) {
            (void)DIAG_ERROR(sink_at(img, 0), st, "image.parent.refused", IMAGE, VHDX_OFFSET_NONE,
                             "the parent path %s = \"%s\" was refused: %s", keys[k], path,
                             vhdx_strerror(st));
            continue;
        }
        if (resolved[0] != '\0') {
            char *slash;
            (void)snprintf(parent_dir, sizeof(parent_dir), "%s", resolved); /* same size */
            slash = strrchr(parent_dir, '/');
            if (slash != NULL)
                *(slash == parent_dir ? slash + 1 : slash) = '\0';
        }
        /* A parent is only ever read: a dirty log in it replays in memory. */
        parent_options = img->options;
        parent_options.flags &= ~VHDX_OPEN_WRITABLE;
        st = image_open(&io, &parent_options, parent_dir, resolved, img->depth + 1, &link,
                        check_mode ? IMAGE_OPEN_CHECK : 0u, &parent);
        if (st != VHDX_OK) {
            vhdx_close(parent); /* check mode hands back a handle even on errors */
            (void)DIAG_ERROR(sink_at(img, 0), st, "image.parent.invalid", IMAGE, VHDX_OFFSET_NONE,
                             "the parent %s = \"%s\" could not be opened: %s", keys[k], path,
                             vhdx_strerror(st));
            return st;
        }
        /* §5.4.6: the parent's DataWriteGuid MUST equal parent_linkage (or parent_linkage2). */
        if (!(img->has_parent_linkage && guid_equal(&parent->header.data_write_guid, &img->parent_linkage)) &&
            !(img->has_parent_linkage2 &&
              guid_equal(&parent->header.data_write_guid, &img->parent_linkage2))) {
            char want[GUID_TEXT_SIZE], got[GUID_TEXT_SIZE];
            guid_to_text(&img->parent_linkage, want);
            guid_to_text(&parent->header.data_write_guid, got);
            st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.parent.linkage_mismatch", IMAGE,
                            VHDX_OFFSET_NONE,
                            "the parent \"%s\" has DataWriteGuid %s, but the child expects %s: it is not this child's parent (or it changed)",
                            path, got, want);
            vhdx_close(parent);
            return st;
        }
        /* §5.4.4: a parent and its child MUST have the same logical sector size. */
        if (parent->logical_sector_size != img->logical_sector_size) {
            st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.parent.sector_size_mismatch",
                            IMAGE, VHDX_OFFSET_NONE,
                            "the parent has %u-byte logical sectors, the child %u",
                            parent->logical_sector_size, img->logical_sector_size);
            vhdx_close(parent);
            return st;
        }
        if (parent->virtual_size != img->virtual_size)
            (void)DIAG_WARN(sink_at(img, 0), VHDX_E_RANGE, "image.parent.size_mismatch", IMAGE,
                            VHDX_OFFSET_NONE,
                            "the parent's virtual size %llu differs from the child's %llu",
                            (unsigned long long)parent->virtual_size,
                            (unsigned long long)img->virtual_size);
        img->parent = parent;
        /* Fits: resolved has the same size, a locator path 1024 bytes. */
        (void)snprintf(img->parent_path_used, sizeof(img->parent_path_used), "%s",
                       resolved[0] != '\0' ? resolved : path);
        return VHDX_OK;
    }
    return DIAG_ERROR(sink_at(img, 0), VHDX_E_MISSING, "image.parent.not_found", IMAGE,
                      VHDX_OFFSET_NONE, "no parent path of the locator names an existing file");
}

/* ---- Open ---- */

static bool chain_has(const struct open_chain *chain, const struct vhdx_image *img)
{
    for (; chain != NULL; chain = chain->child) {
        if (chain->path[0] != '\0' && img->path[0] != '\0') {
            if (strcmp(chain->path, img->path) == 0)
                return true;
        } else if (guid_equal(&chain->file_write_guid, &img->header.file_write_guid) &&
                   guid_equal(&chain->data_write_guid, &img->header.data_write_guid)) {
            return true;
        }
    }
    return false;
}

/*
 * A handle with its accountant (limited by the options' max_memory), the
 * options and limits in force, and its findings sink; no back end yet.
 */
static vhdx_image *image_new(const vhdx_open_options *options, vhdx_status *st)
{
    static const vhdx_open_options defaults;
    const vhdx_open_options *opts = options != NULL ? options : &defaults;
    vhdx_limits limits = opts->limits != NULL ? *opts->limits : vhdx_limits_default();
    struct alloc_acct acct;
    vhdx_image *img;

    /* Each level of a chain holds a few KiB of stack while its parent opens. */
    if (limits.max_parent_depth > VHDX_MAX_PARENT_DEPTH) {
        *st = VHDX_E_INVALID_ARG;
        return NULL;
    }
    alloc_acct_init(&acct, opts->allocator, limits.max_memory);
    img = acct_alloc(&acct, sizeof(*img), st);
    if (img == NULL)
        return NULL;
    img->acct = acct;
    img->limits = limits;
    img->options = *opts;
    img->first_error = VHDX_OK;
    diag_sink_init(&img->sink, NULL, 0);
    img->sink.on_diag = on_finding;
    img->sink.ctx = img;
    for (unsigned i = 0; i < BAT_CACHE_PAGES; i++)
        img->bat.pages[i].index = UINT64_MAX;
    return img;
}

/*
 * Keeps a path in a handle. One that does not fit is kept as "", as for a
 * handle opened from a vhdx_io, never cut short into another file's name:
 * chain_has then compares GUIDs, and without a directory the built-in
 * parent opener is not used.
 */
static void keep_path(char *dst, size_t cap, const char *src)
{
    if (src == NULL || (size_t)snprintf(dst, cap, "%s", src) >= cap)
        dst[0] = '\0';
}

/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
vhdx_status image_open(vhdx_io *io, const vhdx_open_options *options, const char *dir,
                       const char *path, uint32_t depth, const struct open_chain *chain,
                       unsigned mode, vhdx_image **out)
{
    bool check_mode = (mode & IMAGE_OPEN_CHECK) != 0;
    vhdx_image *img;
    vhdx_status st;
    const vhdx_open_options *opts;

    *out = NULL;
    img = image_new(options, &st);
    if (img == NULL) {
        vhdx_io_close(io);
        return NEVER(st == VHDX_OK) ? VHDX_E_NOMEM : st;
    }
    opts = &img->options;
    img->io = *io;
    memset(io, 0, sizeof(*io));
    img->depth = depth;
    img->check_progress = check_mode && depth == 0;
    img->unsealed = (mode & IMAGE_OPEN_UNSEALED) != 0;
    keep_path(img->dir, sizeof(img->dir), dir);
    keep_path(img->path, sizeof(img->path), path);

    st = load_identifier(img);
    if (st == VHDX_OK)
        st = load_headers(img);
    if (st == VHDX_OK && chain_has(chain, img))
        st = DIAG_ERROR(sink_at(img, 0), VHDX_E_CORRUPT, "image.parent.cycle", IMAGE,
                        VHDX_OFFSET_NONE,
                        "the differencing chain loops back to an image already in it");
    if (st == VHDX_OK)
        st = replay_log(img, !check_mode && (opts->flags & VHDX_OPEN_WRITABLE) != 0);
    if (st == VHDX_OK)
        st = load_region_tables(img, check_mode);
    if (st == VHDX_OK || (check_mode && st != VHDX_E_MISSING && img->metadata_region.length != 0)) {
        vhdx_status mst = load_metadata(img);
        st = status_first(st, mst);
        if (mst == VHDX_OK && img->bat_region.length != 0 && (st == VHDX_OK || check_mode))
            st = status_first(st, load_bat(img));
    }
    if (st == VHDX_OK && img->has_parent)
        st = open_parent(img, chain, check_mode);
    /* Any error reported on the way makes the open fail, even one a step tolerated. */
    if (st == VHDX_OK && img->first_error != VHDX_OK)
        st = img->first_error;
    if (st != VHDX_OK && !check_mode)
        goto fail;
    *out = img;
    return st;
fail:
    vhdx_close(img);
    return st;
}

vhdx_status vhdx_open(vhdx_io *io, const vhdx_open_options *options, vhdx_image **out)
{
    if (io == NULL)
        return VHDX_E_INVALID_ARG;
    if (out == NULL) {
        vhdx_io_close(io); /* owned: closed on every failure (vhdx.h) */
        return VHDX_E_INVALID_ARG;
    }
    return image_open(io, options, "", "", 0, NULL, 0u, out);
}

/* NOLINTNEXTLINE(misc-no-recursion): a level per parent, at most limits.max_parent_depth */
void vhdx_close(vhdx_image *img)
{
    struct alloc_acct acct;
    if (img == NULL)
        return;
    image_writer_close(img);
    vhdx_close(img->parent);
    image_bat_cache_free(img);
    acct_free(&img->acct, img->regions, sizeof(*img->regions));
    vhdx_io_close(&img->io); /* the replay view, when there is one, before its base */
    vhdx_io_close(&img->base_io);
    acct = img->acct;
    acct_free(&acct, img, sizeof(*img));
}

struct check_counter {
    vhdx_check_result *result;
    void (*inner)(void *ctx, const vhdx_diag *d);
    void *inner_ctx;
    bool io_failed;
    bool out_of_memory;
    bool limit_reached;
    bool error_before_limit; /* an error of the image was found before any limit was reached */
};

/* Counts every finding of the image and its parents, then forwards it. */
static void check_count(void *ctx, const vhdx_diag *d)
{
    struct check_counter *cc = ctx;
    switch (d->severity) {
    case VHDX_SEVERITY_ERROR:
        cc->result->errors++;
        if (cc->result->first_error == VHDX_OK)
            cc->result->first_error = d->code;
        if (d->code == VHDX_E_IO)
            cc->io_failed = true;
        if (d->code == VHDX_E_NOMEM)
            cc->out_of_memory = true;
        if (d->code == VHDX_E_LIMIT)
            cc->limit_reached = true;
        else if (!cc->limit_reached && d->code != VHDX_E_NOMEM && d->code != VHDX_E_IO)
            cc->error_before_limit = true;
        break;
    case VHDX_SEVERITY_WARNING:
        cc->result->warnings++;
        break;
    case VHDX_SEVERITY_INFO:
    default:
        cc->result->infos++;
        break;
    }
    if (cc->inner != NULL)
        cc->inner(cc->inner_ctx, d);
}

static vhdx_status image_check(vhdx_io *io, const vhdx_open_options *options, const char *dir,
                               const char *path, vhdx_check_result *result)
{
    struct check_counter cc;
    vhdx_open_options opts;
    vhdx_image *img = NULL;
    vhdx_status st;

    if (io == NULL)
        return VHDX_E_INVALID_ARG;
    if (result == NULL) {
        vhdx_io_close(io); /* owned, as by vhdx_open */
        return VHDX_E_INVALID_ARG;
    }
    memset(result, 0, sizeof(*result));
    if (options != NULL)
        opts = *options;
    else
        memset(&opts, 0, sizeof(opts));
    cc.result = result;
    cc.inner = opts.on_diag;
    cc.inner_ctx = opts.diag_ctx;
    cc.io_failed = false;
    cc.out_of_memory = false;
    cc.limit_reached = false;
    cc.error_before_limit = false;
    /* Checking never writes, whatever flags the caller passed. */
    opts.flags &= ~VHDX_OPEN_WRITABLE;
    opts.on_diag = check_count;
    opts.diag_ctx = &cc;
    st = image_open(io, &opts, dir, path, 0, NULL, IMAGE_OPEN_CHECK, &img);
    if (img == NULL)
        return st; /* the handle itself could not be allocated */
    vhdx_close(img);
    /*
     * A failing back end or allocator, or a limit of vhdx_limits reached,
     * means the image could not be judged: never a verdict that it is bad.
     * Errors of the image found before the limit are a verdict of their
     * own, which the limit does not change.
     */
    if (st == VHDX_E_CANCELLED)
        return VHDX_E_CANCELLED;
    if (cc.io_failed)
        return VHDX_E_IO;
    if (cc.out_of_memory || st == VHDX_E_NOMEM)
        return VHDX_E_NOMEM;
    if ((cc.limit_reached || st == VHDX_E_LIMIT) && !cc.error_before_limit)
        return VHDX_E_LIMIT;
    return VHDX_OK;
}

vhdx_status vhdx_check(vhdx_io *io, const vhdx_open_options *options, vhdx_check_result *result)
{
    return image_check(io, options, "", "", result);
}

vhdx_status vhdx_open_path(const char *path, const vhdx_open_options *options, vhdx_image **out)
{
    char dir[IO_PATH_MAX], real[IO_PATH_MAX];
    vhdx_io io;
    vhdx_status st;
    int writable = options != NULL && (options->flags & VHDX_OPEN_WRITABLE) != 0;

    if (out == NULL)
        return VHDX_E_INVALID_ARG;
    *out = NULL;
    st = io_path_open_image(path, writable, &io, dir, sizeof(dir), real, sizeof(real));
    if (st != VHDX_OK)
        return st;
    return image_open(&io, options, dir, real, 0, NULL, 0u, out);
}

vhdx_status vhdx_check_path(const char *path, const vhdx_open_options *options,
                            vhdx_check_result *result)
{
    char dir[IO_PATH_MAX], real[IO_PATH_MAX];
    vhdx_io io;
    vhdx_status st;

    if (result == NULL)
        return VHDX_E_INVALID_ARG;
    memset(result, 0, sizeof(*result));
    st = io_path_open_image(path, 0, &io, dir, sizeof(dir), real, sizeof(real));
    if (st != VHDX_OK)
        return st == VHDX_E_INVALID_ARG && path != NULL && path[0] != '\0' ? VHDX_E_IO : st;
    return image_check(&io, options, dir, real, result);
}

/* ---- Replay in place without opening (vhdx_replay) ---- */

struct visit_ctx {
    const struct log_plan *plan;
    void (*visit)(void *ctx, const vhdx_log_item *item);
    void *ctx;
    uint32_t last_entry; /* entry_index + 1 of the last entry item given */
};

static void visit_entry(struct visit_ctx *vc, uint32_t e)
{
    const struct log_plan_entry *pe = &vc->plan->entries[e];
    vhdx_log_item item;
    memset(&item, 0, sizeof(item));
    item.kind = VHDX_LOG_ITEM_ENTRY;
    item.entry_index = e;
    item.sequence_number = pe->sequence_number;
    item.log_offset = pe->entry_offset;
    item.entry_length = pe->entry_length;
    item.tail = pe->tail;
    item.descriptor_count = pe->descriptor_count;
    item.data_count = pe->entry_length / LOG_SECTOR - pe->descriptor_sectors;
    item.flushed_file_offset = pe->flushed_file_offset;
    item.last_file_offset = pe->last_file_offset;
    vc->visit(vc->ctx, &item);
    vc->last_entry = e + 1;
}

static vhdx_status visit_descriptor(void *ctx, const struct log_plan_item *it)
{
    struct visit_ctx *vc = ctx;
    vhdx_log_item item;
    /* Entries without descriptors are visited too, in order. */
    while (vc->last_entry <= it->entry)
        visit_entry(vc, vc->last_entry);
    memset(&item, 0, sizeof(item));
    item.entry_index = it->entry;
    item.sequence_number = vc->plan->entries[it->entry].sequence_number;
    item.kind = it->desc.kind == LOG_DESCRIPTOR_ZERO ? VHDX_LOG_ITEM_ZERO : VHDX_LOG_ITEM_DATA;
    item.file_offset = it->desc.file_offset;
    item.length = it->desc.kind == LOG_DESCRIPTOR_ZERO ? it->desc.zero_length : LOG_SECTOR;
    vc->visit(vc->ctx, &item);
    return VHDX_OK;
}

static vhdx_status visit_plan(const struct log_plan *plan, const vhdx_io *io,
                              void (*visit)(void *ctx, const vhdx_log_item *item), void *ctx,
                              struct diag_sink *sink)
{
    struct visit_ctx vc = {plan, visit, ctx, 0};
    vhdx_status st = log_plan_walk(plan, io, 0, visit_descriptor, &vc, sink);
    while (st == VHDX_OK && vc.last_entry < plan->count)
        visit_entry(&vc, vc.last_entry);
    return st;
}

vhdx_status vhdx_replay(vhdx_io *io, const vhdx_open_options *options, unsigned flags,
                        void (*visit)(void *ctx, const vhdx_log_item *item), void *visit_ctx,
                        vhdx_replay_result *out)
{
    vhdx_replay_result local = {0};
    vhdx_replay_result *res = out != NULL ? out : &local;
    bool dry = (flags & VHDX_REPLAY_DRY_RUN) != 0;
    struct log_plan plan;
    vhdx_image *img;
    vhdx_status st;

    memset(res, 0, sizeof(*res));
    if (io == NULL || io->read == NULL || io->size == NULL || (flags & ~VHDX_REPLAY_DRY_RUN) != 0)
        return VHDX_E_INVALID_ARG;
    if (!dry && (io->write == NULL || io->truncate == NULL))
        return VHDX_E_INVALID_ARG;
    img = image_new(options, &st);
    if (img == NULL)
        return st;
    img->io = *io;
    img->io.close = NULL; /* borrowed */

    st = load_identifier(img);
    if (st == VHDX_OK)
        st = load_headers(img);
    if (st == VHDX_OK)
        st = img->first_error;
    res->file_size_before = res->file_size_after = img->file_size;
    if (st == VHDX_OK) {
        res->current_header = img->current_header;
        memcpy(res->log_guid, img->header.log_guid.b, 16);
        res->log_offset = img->header.log_offset;
        res->log_length = img->header.log_length;
    }
    if (st != VHDX_OK || guid_is_nil(&img->header.log_guid))
        goto out;
    res->dirty = 1;
    st = log_plan_load(&img->io, &img->header, img->file_size, img->limits.max_log_length,
                       &img->acct, sink_at(img, 0), &plan);
    if (st != VHDX_OK)
        goto out;
    res->entries = plan.count;
    res->descriptors = plan.descriptors;
    res->tail_sequence = plan.entries[0].sequence_number;
    res->head_sequence = plan.entries[plan.count - 1].sequence_number;
    if (visit != NULL)
        st = visit_plan(&plan, &img->io, visit, visit_ctx, sink_at(img, 0));
    if (st == VHDX_OK && !dry) {
        st = log_plan_apply_progress(&plan, &img->io, &img->io, sink_at(img, 0),
                                     img->options.progress, img->options.progress_ctx);
        if (st == VHDX_OK)
            st = log_clear_headers(&img->io, img->current_header, &img->header,
                                   sink_at(img, 0));
        if (st == VHDX_OK && img->io.size(img->io.ctx, &res->file_size_after) != VHDX_OK)
            st = VHDX_E_IO;
    }
    log_plan_free(&plan);
out:
    vhdx_close(img);
    return st;
}
