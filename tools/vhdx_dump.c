/*
 * vhdx-dump: decodes and prints every structure of a VHDX image with the
 * findings of each codec. A development and teaching tool: it shows the
 * bytes' meaning structure by structure. It never writes to the image.
 *
 *   vhdx-dump [--bat N] IMAGE
 *
 * Exit status: 0 no errors, 1 the image has errors, 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/endian.h"
#include "base/guid.h"
#include "base/utf16.h"
#include "format/bat.h"
#include "format/constants.h"
#include "format/file_identifier.h"
#include "format/header.h"
#include "format/log_entry.h"
#include "format/metadata_items.h"
#include "format/metadata_table.h"
#include "format/parent_locator.h"
#include "format/region_table.h"
#include "vhdx.h"

struct dump {
    int fd;
    uint64_t file_size;
    size_t errors;
    size_t warnings;
    uint64_t bat_show;
};

static void print_diag(void *ctx, const vhdx_diag *d)
{
    struct dump *dp = ctx;
    if (d->severity == VHDX_SEVERITY_ERROR)
        dp->errors++;
    else if (d->severity == VHDX_SEVERITY_WARNING)
        dp->warnings++;
    if (d->offset == VHDX_OFFSET_NONE)
        printf("    [%s] %s: %s\n", vhdx_severity_name(d->severity), d->rule, d->message);
    else
        printf("    [%s] %s at 0x%" PRIx64 ": %s\n", vhdx_severity_name(d->severity), d->rule,
               d->offset, d->message);
}

static void sink_at(struct diag_sink *s, struct dump *dp, uint64_t base)
{
    diag_sink_init(s, NULL, 0);
    s->on_diag = print_diag;
    s->ctx = dp;
    s->base = base;
}

/* Reads len bytes at off; a short file gives a short count, not an error. */
static int read_at(struct dump *dp, uint64_t off, uint8_t *buf, size_t len, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(dp->fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "vhdx-dump: read at 0x%" PRIx64 ": %s\n", off + done, strerror(errno));
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static void print_guid(const char *label, const struct guid *g)
{
    char t[GUID_TEXT_SIZE];
    guid_to_text(g, t);
    printf("  %-20s %s\n", label, t);
}

static int dump_identifier(struct dump *dp)
{
    static uint8_t buf[FILE_IDENTIFIER_SIZE];
    struct file_identifier fi;
    struct diag_sink s;
    char creator[1024];
    size_t got;

    printf("file identifier at 0x0\n");
    if (read_at(dp, 0, buf, sizeof(buf), &got) != 0)
        return -1;
    sink_at(&s, dp, 0);
    if (file_identifier_decode(buf, got, &fi, &s) != VHDX_OK)
        return 1;
    status_ignore(file_identifier_validate(&fi, &s)); /* findings are printed */
    file_identifier_creator_utf8(&fi, creator, sizeof(creator));
    printf("  creator              \"%s\"\n", creator);
    return 0;
}

static int dump_headers(struct dump *dp, struct header *current)
{
    static uint8_t buf[2][HEADER_SIZE];
    struct header h[2];
    bool valid[2];
    int cur = -1;

    for (int i = 0; i < 2; i++) {
        uint64_t off = i == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
        struct diag_sink s;
        size_t got;
        printf("header %d at 0x%" PRIx64 "\n", i + 1, off);
        if (read_at(dp, off, buf[i], HEADER_SIZE, &got) != 0)
            return -1;
        sink_at(&s, dp, off);
        valid[i] = header_decode(buf[i], got, &h[i], &s) == VHDX_OK;
        if (!valid[i])
            continue;
        printf("  sequence number      %" PRIu64 "\n", h[i].sequence_number);
        print_guid("file write GUID", &h[i].file_write_guid);
        print_guid("data write GUID", &h[i].data_write_guid);
        print_guid("log GUID", &h[i].log_guid);
        printf("  version              %u (log version %u)\n", h[i].version, h[i].log_version);
        printf("  log                  offset 0x%" PRIx64 ", length 0x%x\n", h[i].log_offset,
               h[i].log_length);
        status_ignore(header_validate(&h[i], dp->file_size, &s)); /* findings are printed */
    }
    /* §3.2: the current header has the greater sequence number among valid ones. */
    if (valid[0] && valid[1]) {
        if (h[1].sequence_number > h[0].sequence_number)
            cur = 1;
        else if (h[0].sequence_number > h[1].sequence_number ||
                 memcmp(buf[0], buf[1], HEADER_SIZE) == 0)
            cur = 0; /* the greater, or Disk2VHD's two identical headers */
    } else if (valid[0]) {
        cur = 0;
    } else if (valid[1]) {
        cur = 1;
    }
    if (cur < 0) {
        printf("  no current header\n");
        dp->errors++;
        return 1;
    }
    printf("current header: %d%s\n", cur + 1,
           valid[0] && valid[1] && h[0].sequence_number == h[1].sequence_number
               ? " (both headers identical, equal sequence numbers)"
               : "");
    *current = h[cur];
    return 0;
}

static int dump_region_tables(struct dump *dp, const struct header *h, struct region_table *out)
{
    static uint8_t buf[REGION_TABLE_SIZE];
    static struct region_table t[2];
    bool valid[2];
    struct region_table_context ctx = {dp->file_size, h->log_offset, h->log_length};

    for (int i = 0; i < 2; i++) {
        uint64_t off = i == 0 ? VHDX_REGION_TABLE1_OFFSET : VHDX_REGION_TABLE2_OFFSET;
        struct diag_sink s;
        size_t got;
        printf("region table %d at 0x%" PRIx64 "\n", i + 1, off);
        if (read_at(dp, off, buf, sizeof(buf), &got) != 0)
            return -1;
        sink_at(&s, dp, off);
        valid[i] = region_table_decode(buf, got, &t[i], &s) == VHDX_OK;
        if (!valid[i])
            continue;
        for (uint32_t k = 0; k < t[i].entry_count; k++) {
            const struct region_entry *e = &t[i].entries[k];
            char g[GUID_TEXT_SIZE];
            guid_to_text(&e->guid, g);
            printf("  %-9s %s offset 0x%" PRIx64 " length 0x%x%s\n",
                   guid_equal(&e->guid, &VHDX_GUID_REGION_BAT)        ? "BAT"
                   : guid_equal(&e->guid, &VHDX_GUID_REGION_METADATA) ? "metadata"
                                                                       : "unknown",
                   g, e->file_offset, e->length, (e->required & 1) ? " required" : "");
        }
        status_ignore(region_table_validate(&t[i], &ctx, &s)); /* findings are printed */
    }
    if (valid[0] && valid[1] && !region_table_equal(&t[0], &t[1]))
        printf("  note: the two copies differ; copy 1 is used\n");
    if (!valid[0] && !valid[1])
        return 1;
    *out = valid[0] ? t[0] : t[1];
    return 0;
}

/* The dump reads at most this much log; a larger log is reported, not read. */
#define DUMP_MAX_LOG (64u << 20)

/*
 * Lists every entry of the log ring that passes log_entry_check (any
 * LogGuid), marking those that carry the header's LogGuid. Replay itself
 * is not done here.
 */
static int dump_log(struct dump *dp, const struct header *h)
{
    uint8_t *log;
    size_t got;
    uint32_t found = 0;

    if (h->log_length == 0)
        return 0;
    printf("log at 0x%" PRIx64 " length 0x%x\n", h->log_offset, h->log_length);
    if (h->log_length > DUMP_MAX_LOG || h->log_length % VHDX_LOG_SECTOR_SIZE != 0) {
        printf("  (not listed: the dump reads logs up to %u MiB)\n", DUMP_MAX_LOG >> 20);
        return 0;
    }
    log = malloc(h->log_length);
    if (log == NULL) {
        fprintf(stderr, "vhdx-dump: out of memory\n");
        return -1;
    }
    if (read_at(dp, h->log_offset, log, h->log_length, &got) != 0) {
        free(log);
        return -1;
    }
    if (got != h->log_length) {
        printf("  (the file ends inside the log)\n");
        free(log);
        return 0;
    }
    for (uint32_t off = 0; off < h->log_length; off += VHDX_LOG_SECTOR_SIZE) {
        struct log_entry_view v;
        /* Most offsets hold no entry: check quietly, print only valid entries. */
        if (log_entry_check(log, h->log_length, off, NULL, h->log_offset, &v, NULL) != VHDX_OK)
            continue;
        found++;
        printf("  entry at +0x%x: sequence %" PRIu64 ", length 0x%x, tail +0x%x, %u descriptor(s), "
               "%u data sector(s)%s\n",
               off, v.header.sequence_number, v.header.entry_length, v.header.tail,
               v.header.descriptor_count, v.data_count,
               guid_equal(&v.header.log_guid, &h->log_guid) ? ", current log GUID" : "");
    }
    if (found == 0)
        printf("  no valid entries\n");
    free(log);
    return 0;
}

struct disk_params {
    uint32_t block_size;
    uint32_t logical_sector_size;
    uint32_t physical_sector_size;
    uint64_t virtual_disk_size;
    bool has_parent;
    bool leave_allocated;
    bool complete;
};

/* Reads the item (bounded by the 1 MiB item limit) into buf. */
static const uint8_t *item_bytes(struct dump *dp, const struct region_entry *meta,
                                 const struct metadata_entry *e, uint8_t *buf, size_t *len)
{
    size_t got;
    if (e == NULL || e->length > METADATA_ITEM_MAX_LENGTH)
        return NULL;
    if (read_at(dp, meta->file_offset + e->offset, buf, e->length, &got) != 0 || got != e->length)
        return NULL;
    *len = got;
    return buf;
}

static int dump_metadata(struct dump *dp, const struct region_entry *meta, struct disk_params *p)
{
    static uint8_t buf[METADATA_TABLE_SIZE];
    static uint8_t item[METADATA_ITEM_MAX_LENGTH];
    static struct metadata_table t;
    struct diag_sink s;
    size_t got, len = 0;
    const struct metadata_entry *e;
    struct file_parameters fp;
    struct virtual_disk_size vds;
    struct virtual_disk_id vdi;
    struct logical_sector_size lss;
    struct physical_sector_size pss;
    int missing = 0;

    memset(p, 0, sizeof(*p));
    printf("metadata table at 0x%" PRIx64 "\n", meta->file_offset);
    if (read_at(dp, meta->file_offset, buf, sizeof(buf), &got) != 0)
        return -1;
    sink_at(&s, dp, meta->file_offset);
    if (metadata_table_decode(buf, got, &t, &s) != VHDX_OK)
        return 1;
    for (uint32_t k = 0; k < t.entry_count; k++) {
        char g[GUID_TEXT_SIZE];
        guid_to_text(&t.entries[k].item_id, g);
        printf("  item %s offset 0x%x length %u%s%s%s\n", g, t.entries[k].offset,
               t.entries[k].length, t.entries[k].is_user ? " user" : "",
               t.entries[k].is_virtual_disk ? " virtual-disk" : "",
               t.entries[k].is_required ? " required" : "");
    }
    status_ignore(metadata_table_validate(&t, meta->length, &s)); /* findings are printed */

#define ITEM(guid_, decode_, out_, label_)                                                     \
    do {                                                                                      \
        e = metadata_table_find(&t, &(guid_), false);                                         \
        if (item_bytes(dp, meta, e, item, &len) == NULL) {                                    \
            printf("  %-20s (unreadable or absent)\n", label_);                               \
            missing++;                                                                        \
            break;                                                                            \
        }                                                                                     \
        sink_at(&s, dp, meta->file_offset + e->offset);                                       \
        if (decode_(item, len, &(out_), &s) != VHDX_OK)                                       \
            missing++;                                                                        \
    } while (0)

    ITEM(VHDX_GUID_FILE_PARAMETERS, file_parameters_decode, fp, "file parameters");
    ITEM(VHDX_GUID_LOGICAL_SECTOR_SIZE, logical_sector_size_decode, lss, "logical sector size");
    ITEM(VHDX_GUID_PHYSICAL_SECTOR_SIZE, physical_sector_size_decode, pss, "physical sector size");
    ITEM(VHDX_GUID_VIRTUAL_DISK_SIZE, virtual_disk_size_decode, vds, "virtual disk size");
    ITEM(VHDX_GUID_VIRTUAL_DISK_ID, virtual_disk_id_decode, vdi, "virtual disk id");
#undef ITEM
    if (missing != 0)
        return 1;
    printf("  block size           %u (%u MiB)%s%s\n", fp.block_size, fp.block_size >> 20,
           fp.leave_blocks_allocated ? ", leave blocks allocated (fixed)" : "",
           fp.has_parent ? ", has parent (differencing)" : "");
    status_ignore(file_parameters_validate(&fp, &s));
    printf("  logical sector size  %u\n", lss.size);
    status_ignore(logical_sector_size_validate(&lss, &s));
    printf("  physical sector size %u\n", pss.size);
    status_ignore(physical_sector_size_validate(&pss, &s));
    printf("  virtual disk size    %" PRIu64 " (%" PRIu64 " MiB)\n", vds.size, vds.size >> 20);
    status_ignore(virtual_disk_size_validate(&vds, lss.size, &s));
    print_guid("virtual disk id", &vdi.id);
    status_ignore(virtual_disk_id_validate(&vdi, &s));
    sink_at(&s, dp, meta->file_offset);
    status_ignore(metadata_table_check_parent_locator(&t, fp.has_parent, &s));

    e = metadata_table_find(&t, &VHDX_GUID_PARENT_LOCATOR, false);
    if (e != NULL && item_bytes(dp, meta, e, item, &len) != NULL) {
        struct parent_locator pl;
        printf("  parent locator\n");
        sink_at(&s, dp, meta->file_offset + e->offset);
        if (parent_locator_decode(item, len, PARENT_LOCATOR_MAX_ENTRIES, &pl, &s) == VHDX_OK) {
            status_ignore(parent_locator_validate(&pl, item, len, &s));
            for (size_t k = 0; k < pl.key_value_count; k++) {
                char key[1024], value[4096];
                size_t klen = 0, vlen = 0;
                const uint8_t *kp = parent_locator_key(&pl, item, len, k, &klen);
                const uint8_t *vp = parent_locator_value(&pl, item, len, k, &vlen);
                if (kp == NULL || vp == NULL ||
                    utf16le_to_utf8(kp, klen, key, sizeof(key), NULL) != VHDX_OK ||
                    utf16le_to_utf8(vp, vlen, value, sizeof(value), NULL) != VHDX_OK)
                    continue;
                printf("    %s = %s\n", key, value);
            }
        }
    }
    p->block_size = fp.block_size;
    p->logical_sector_size = lss.size;
    p->physical_sector_size = pss.size;
    p->virtual_disk_size = vds.size;
    p->has_parent = fp.has_parent;
    p->leave_allocated = fp.leave_blocks_allocated;
    p->complete = true;
    return 0;
}

static int dump_bat(struct dump *dp, const struct region_entry *bat, const struct disk_params *p)
{
    static uint8_t page[1u << 20];
    struct bat_geometry g;
    struct diag_sink s;
    uint64_t counts[8] = {0}, sb_present = 0, shown = 0;

    printf("BAT at 0x%" PRIx64 " length 0x%x\n", bat->file_offset, bat->length);
    sink_at(&s, dp, bat->file_offset);
    if (bat_geometry_init(&g, p->virtual_disk_size, p->block_size, p->logical_sector_size,
                          p->has_parent, &s) != VHDX_OK)
        return 1;
    printf("  chunk ratio %u, payload blocks %" PRIu64 ", sector bitmap blocks %" PRIu64
           ", entries %" PRIu64 "\n",
           g.chunk_ratio, g.payload_blocks, g.sector_bitmap_blocks, g.total_entries);
    if (bat_region_check(&g, bat->length, &s) != VHDX_OK)
        return 1;
    /* Stream the table a 1 MiB page at a time: memory stays bounded whatever the size. */
    for (uint64_t slot = 0; slot < g.total_entries;) {
        uint64_t n = g.total_entries - slot;
        size_t got;
        if (n > sizeof(page) / BAT_ENTRY_SIZE)
            n = sizeof(page) / BAT_ENTRY_SIZE;
        if (read_at(dp, bat->file_offset + slot * BAT_ENTRY_SIZE, page, (size_t)n * BAT_ENTRY_SIZE,
                    &got) != 0)
            return -1;
        if (got < n * BAT_ENTRY_SIZE) {
            printf("    [error] BAT is cut short by the end of the file\n");
            dp->errors++;
            return 1;
        }
        for (uint64_t k = 0; k < n; k++, slot++) {
            uint64_t raw = le64_load_no_bounds_check(page + k * BAT_ENTRY_SIZE), number;
            struct bat_entry e = bat_entry_decode(raw);
            struct bat_entry_context ctx = {dp->file_size, slot};
            enum bat_slot_kind kind = bat_slot_classify(&g, slot, &number);
            status_ignore(bat_entry_validate(&g, raw, &ctx, &s)); /* findings are printed */
            if (kind == BAT_SLOT_PAYLOAD) {
                counts[e.state]++;
                if (shown < dp->bat_show && e.state != BAT_PAYLOAD_NOT_PRESENT) {
                    printf("  block %-8" PRIu64 " %-17s at 0x%" PRIx64 "\n", number,
                           bat_payload_state_name(e.state), bat_entry_file_offset(&e));
                    shown++;
                }
            } else if (kind == BAT_SLOT_SECTOR_BITMAP && e.state == BAT_SB_PRESENT) {
                sb_present++;
            }
        }
    }
    printf("  payload blocks by state:");
    for (unsigned st = 0; st < 8; st++) {
        if (counts[st] != 0)
            printf(" %s=%" PRIu64, bat_payload_state_name((uint8_t)st), counts[st]);
    }
    printf("\n  sector bitmap blocks present: %" PRIu64 "\n", sb_present);
    return 0;
}

int main(int argc, char **argv)
{
    struct dump dp = {.fd = -1, .bat_show = 16};
    struct header h;
    static struct region_table rt;
    struct disk_params p;
    struct stat st;
    const char *path = NULL;
    const struct region_entry *meta, *bat;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bat") == 0 && i + 1 < argc) {
            dp.bat_show = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vhdx-dump [--bat N] IMAGE\n"
                   "Decodes and prints every structure of a VHDX image and the findings of\n"
                   "each decoder. --bat N lists the first N allocated blocks (default 16).\n"
                   "Exit status: 0 no errors, 1 the image has errors, 2 usage or I/O error.\n");
            return 0;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            fprintf(stderr, "vhdx-dump: unexpected argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: vhdx-dump [--bat N] IMAGE\n");
        return 2;
    }
    dp.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (dp.fd < 0 || fstat(dp.fd, &st) != 0) {
        fprintf(stderr, "vhdx-dump: %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "vhdx-dump: %s: not a regular file\n", path);
        return 2;
    }
    dp.file_size = (uint64_t)st.st_size;
    printf("%s: %" PRIu64 " bytes\n", path, dp.file_size);

    rc = dump_identifier(&dp);
    if (rc == 0)
        rc = dump_headers(&dp, &h);
    if (rc == 0 && !guid_is_nil(&h.log_guid))
        printf("note: the log GUID is set: the log must be replayed before the rest is trusted\n");
    if (rc == 0)
        rc = dump_log(&dp, &h);
    if (rc == 0)
        rc = dump_region_tables(&dp, &h, &rt);
    if (rc == 0) {
        meta = region_table_find(&rt, &VHDX_GUID_REGION_METADATA);
        bat = region_table_find(&rt, &VHDX_GUID_REGION_BAT);
        if (meta != NULL)
            rc = dump_metadata(&dp, meta, &p);
        if (rc == 0 && meta != NULL && bat != NULL && p.complete)
            rc = dump_bat(&dp, bat, &p);
    }
    close(dp.fd);
    if (rc < 0)
        return 2;
    printf("summary: %zu error(s), %zu warning(s)\n", dp.errors, dp.warnings);
    return dp.errors != 0 || rc != 0 ? 1 : 0;
}
