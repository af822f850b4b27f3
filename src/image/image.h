/*
 * The image handle and the internal interface between the image modules
 * (open, space map, BAT cache, read, map, check). File access (reads that
 * see the writer's batch) is image/file.h, included here.
 */
#ifndef VHDX_IMAGE_IMAGE_H
#define VHDX_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/compiler.h"
#include "base/diag.h"
#include "base/guid.h"
#include "format/bat.h"
#include "format/file_identifier.h"
#include "format/header.h"
#include "format/region_table.h"
#include "image/file.h"
#include "vhdx.h"

/* BAT pages: 4096 entries (32 KiB) each, 8 of them cached (256 KiB). */
#define BAT_PAGE_ENTRIES 4096u
#define BAT_CACHE_PAGES 8u

struct bat_page {
    uint64_t index; /* page number, or UINT64_MAX when empty */
    uint64_t *entries;
    uint64_t last_use;
};

struct bat_cache {
    struct bat_page pages[BAT_CACHE_PAGES];
    uint64_t clock;
    uint64_t hot; /* the page of the last hit, looked at first (a walk stays on one page) */
};

struct vhdx_image {
    vhdx_io io;      /* the file, or the view replaying a dirty log over it (io/replaymap) */
    vhdx_io base_io; /* the file under the view (ctx NULL when there is none) */
    struct alloc_acct acct;
    vhdx_limits limits;
    vhdx_open_options options;
    struct diag_sink sink;
    vhdx_status first_error;
    bool failed; /* sticky: the back end failed during a read */
    /* Built by vhdx_create_open and not yet sealed: the file has no
       signature, and the writer changes metadata in place, without the log. */
    bool unsealed;
    /* What vhdx_repair mends: the other header is damaged (not valid, or its
       fields break a rule); the region table copy not in use is damaged or
       differs while the one in use is sound. */
    /* vhdx_check of this image (not of a parent): the BAT walk reports
       progress through options.progress. */
    bool check_progress;
    bool spare_header_damaged;
    bool spare_region_table_damaged;
    bool has_parent;             /* differencing */
    bool leave_blocks_allocated;
    bool has_parent_linkage;     /* the locator's keys (below) */
    bool has_parent_linkage2;
    /* vhdx_commit (commit.c): every write session of this handle gives the
       file session_data_guid (below) as its DataWriteGuid instead of a new
       one, the identity the child's parent_linkage2 names while the merge
       runs. */
    bool session_data_guid_fixed;

    uint64_t file_size;
    struct file_identifier identifier;
    struct header header;
    int current_header; /* 1 or 2 */
    int region_table_used; /* 1 or 2 */

    /* The log (§8.7): what the open did with a dirty one. */
    int log_replay_mode;          /* VHDX_LOG_CLEAN, _REPLAYED_IN_MEMORY, _REPLAYED_IN_PLACE */
    uint32_t log_entries_replayed;
    uint64_t log_head_sequence;

    struct region_entry bat_region;
    struct region_entry metadata_region;
    struct region_table *regions; /* the copy in use (accounted), for unknown regions */

    uint32_t block_size;
    uint32_t logical_sector_size;
    uint32_t physical_sector_size;
    uint64_t virtual_size;
    struct guid virtual_disk_id;
    struct bat_geometry geo;
    uint64_t blocks_allocated;

    /* Differencing: the locator and the opened parent. */
    struct guid parent_linkage;
    struct guid parent_linkage2;
    struct guid session_data_guid; /* see session_data_guid_fixed */
    char parent_paths[3][1024]; /* relative_path, volume_path, absolute_win32_path (UTF-8) */
    char parent_path_used[4096];
    struct vhdx_image *parent;
    uint32_t depth;
    char dir[4096];  /* directory of the file when opened by path, else "" */
    char path[4096]; /* real path of the file when opened by path, else "" */

    struct bat_cache bat;

    /* The writer (write.c): NULL until the first change of a writable handle. */
    uint64_t vds_item_offset; /* file offset of the Virtual Disk Size item */
    struct writer *writer;
    /* Its metadata changes not yet committed, which every read sees (file.c). */
    struct file_batch batch;
};

/*
 * commit.c: changes n ranges of the file's metadata region (the parent
 * locator and its table entry) through the log, all in one entry, as a
 * session of their own ended by vhdx_finish. Not user-visible: the
 * DataWriteGuid is kept (a differencing child of this image names it);
 * the FileWriteGuid changes. Needs a writable handle with no session
 * begun (VHDX_E_INVALID_ARG otherwise); VHDX_E_LIMIT when the ranges do
 * not fit one entry. Failures leave the handle failed, as vhdx_finish.
 */
struct image_patch {
    uint64_t off;
    const void *data;
    size_t len;
};
MUST_USE vhdx_status image_write_metadata(struct vhdx_image *img, const struct image_patch *p,
                                          size_t n);

/* vhdx_finish without reporting, then frees the writer (vhdx_close). */
void image_writer_close(struct vhdx_image *img);

/* The raw BAT entry in slot s (through the page cache). */
MUST_USE vhdx_status image_bat_get(struct vhdx_image *img, uint64_t slot, uint64_t *raw);

/*
 * The raw entries from slot s on, as the page cache holds them: *entries
 * points at slot s's and *count (1 to max) entries follow in the same
 * cached page. Valid until the next BAT lookup or change; max > 0.
 */
MUST_USE vhdx_status image_bat_span(struct vhdx_image *img, uint64_t slot, uint64_t max,
                                    const uint64_t **entries, uint64_t *count);

/*
 * The same for payload blocks: the entries of blocks b, b + 1, ... (at
 * most max, within b's chunk, whose payload slots are consecutive).
 * b < payload_blocks; max > 0.
 */
MUST_USE vhdx_status image_bat_payload_span(struct vhdx_image *img, uint64_t b, uint64_t max,
                                            const uint64_t **entries, uint64_t *count);

/* The same entry decoded. */
MUST_USE vhdx_status image_bat_entry(struct vhdx_image *img, uint64_t slot, struct bat_entry *e);

void image_bat_cache_free(struct vhdx_image *img);

/*
 * The images already open below a parent being opened, for cycle detection:
 * a file is identified by its real path when it was opened by path, else by
 * its FileWriteGuid and DataWriteGuid. The depth limit stops any loop the
 * identities miss.
 */
struct open_chain {
    const struct open_chain *child;
    const char *path; /* "" when unknown */
    struct guid file_write_guid;
    struct guid data_write_guid;
};

/*
 * Opens with the file's directory and real path known when it was opened by
 * path ("" otherwise): the built-in parent resolution works from the
 * directory, and the path identifies the file in its chain.
 */
#define IMAGE_OPEN_CHECK 1u    /* vhdx_check: go on past errors where possible */
#define IMAGE_OPEN_UNSEALED 2u /* the file of vhdx_create_open: no signature yet */
MUST_USE vhdx_status image_open(vhdx_io *io, const vhdx_open_options *options, const char *dir,
                                const char *path, uint32_t depth, const struct open_chain *chain,
                                unsigned mode, vhdx_image **out);

/*
 * The locator's relative_path of a parent at parent_path for a child to be
 * made at child_path ('\\' separators, ".." where it climbs; §5.4.6).
 */
MUST_USE vhdx_status image_relative_path(const char *child_path, const char *parent_path,
                                         char *out, size_t cap);

#endif
