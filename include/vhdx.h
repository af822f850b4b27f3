/*
 * vhdx.h: the public interface of the VHDX library.
 *
 * Everything a caller sees is declared here. Status codes and rule ids are
 * stable: a code keeps its number and a rule id keeps its text across
 * releases, so scanners may store and compare them.
 */
#ifndef VHDX_H
#define VHDX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VHDX_VERSION_MAJOR 0
#define VHDX_VERSION_MINOR 2
#define VHDX_VERSION_PATCH 0
#define VHDX_VERSION_STRING "0.2.0"

#if defined(__GNUC__)
#define VHDX_API __attribute__((visibility("default")))
#define VHDX_MUST_USE __attribute__((warn_unused_result))
#else
#define VHDX_API
#define VHDX_MUST_USE
#endif

/*
 * Thread safety (docs/API.md, "Thread safety").
 *
 * The library has no global mutable state: its tables are constants, and
 * all state lives in a handle (vhdx_image), in a back end's context or on
 * the stack of the call. It starts no threads and installs no handlers.
 *
 *   - Different handles are independent: threads may use their own handles
 *     at the same time, also handles over the same file while all of them
 *     are read-only. The library takes no file lock: a file open writable
 *     in one handle must not be open in another (reader or writer).
 *   - One handle is not safe for concurrent calls. Even vhdx_read and
 *     vhdx_map_next change it (the BAT page cache, the failed state), so a
 *     handle shared between threads needs the caller's lock around every
 *     call on it, vhdx_close included. Only vhdx_get_info merely reads it:
 *     several vhdx_get_info calls may overlap, with no other call.
 *   - The parents of a differencing image belong to its handle. The parent
 *     handle given to vhdx_create (vhdx_create_options.parent) is read
 *     during that call: no other call on it may run meanwhile.
 *   - A vhdx_io is used by the one call that owns or borrows it at a time.
 *     The fd and memory back ends share nothing: back ends over the same
 *     descriptor (pread) or the same buffer (never written) may be used by
 *     different handles at once.
 *   - Callbacks run synchronously on the thread of the call that triggers
 *     them, never later: on_diag inside the opening, checking and replaying
 *     calls, and inside a writing call or vhdx_close when a header update
 *     fails; open_parent inside the opening and checking calls; the
 *     allocator inside any call on its handle.
 *   - An allocator (with its ctx) shared by handles that different threads
 *     use at the same time must be thread-safe itself; malloc is.
 *   - vhdx_strerror, vhdx_status_name, vhdx_severity_name, vhdx_version and
 *     vhdx_limits_default return constants and may be called from anywhere.
 */

/*
 * Status codes. One flat enum; the diagnostic's rule id says which rule of
 * the format was broken, the code says what kind of failure it was.
 * Numbers are stable: new codes are only ever appended.
 */
typedef enum vhdx_status {
    VHDX_OK = 0,
    VHDX_E_TRUNCATED = 1,   /* input shorter than the structure needs */
    VHDX_E_SIGNATURE = 2,   /* wrong signature bytes */
    VHDX_E_CHECKSUM = 3,    /* CRC-32C mismatch */
    VHDX_E_VERSION = 4,     /* unsupported version field */
    VHDX_E_RESERVED = 5,    /* a reserved field or bit is not zero */
    VHDX_E_ALIGNMENT = 6,   /* offset or length not aligned as required */
    VHDX_E_RANGE = 7,       /* value outside the range the format allows */
    VHDX_E_OVERFLOW = 8,    /* offset + length (or similar) overflows 64 bits */
    VHDX_E_DUPLICATE = 9,   /* something that must be unique is repeated */
    VHDX_E_OVERLAP = 10,    /* two structures share bytes */
    VHDX_E_MISSING = 11,    /* a required structure or item is absent */
    VHDX_E_UNSUPPORTED = 12,/* required feature this implementation does not know */
    VHDX_E_ENCODING = 13,   /* text is not valid UTF-16LE or GUID text */
    VHDX_E_STATE = 14,      /* a BAT or log state value that is not allowed */
    VHDX_E_CORRUPT = 15,    /* other structural inconsistency */
    VHDX_E_LIMIT = 16,      /* exceeds a configured vhdx_limits value */
    VHDX_E_NOMEM = 17,      /* the allocator failed */
    VHDX_E_IO = 18,         /* the I/O back end failed */
    VHDX_E_INVALID_ARG = 19,/* the caller passed an invalid argument */
    VHDX_E_BAD_STATE = 20,  /* the handle is in a failed state */
    VHDX_E_CANCELLED = 21,  /* a progress callback asked the call to stop */
    VHDX_STATUS_COUNT_ = 22
} vhdx_status;

/* A short, constant, human-readable name of the status ("checksum mismatch"). */
VHDX_API const char *vhdx_strerror(vhdx_status status);

/* A stable identifier of the status ("E_CHECKSUM"), for machine output. */
VHDX_API const char *vhdx_status_name(vhdx_status status);

typedef enum vhdx_severity {
    VHDX_SEVERITY_INFO = 0,
    VHDX_SEVERITY_WARNING = 1,
    VHDX_SEVERITY_ERROR = 2
} vhdx_severity;

VHDX_API const char *vhdx_severity_name(vhdx_severity severity);

/* Offset value meaning "no particular file offset". */
#define VHDX_OFFSET_NONE UINT64_MAX

#define VHDX_DIAG_MESSAGE_MAX 192

/*
 * One finding. rule and structure point to static strings owned by the
 * library and valid for the life of the program.
 */
typedef struct vhdx_diag {
    vhdx_status code;
    vhdx_severity severity;
    const char *rule;      /* stable rule id, e.g. "header.checksum" */
    const char *structure; /* e.g. "header", "region table" */
    uint64_t offset;       /* file offset of the offending bytes, or VHDX_OFFSET_NONE */
    char message[VHDX_DIAG_MESSAGE_MAX];
    const char *src_file;  /* where in the library it was detected */
    int src_line;
} vhdx_diag;

/*
 * A caller-supplied allocator. alloc returns NULL on failure; free receives
 * the size that was allocated. Both must be set; if either is NULL, malloc
 * and free are used for both.
 */
typedef struct vhdx_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr, size_t size);
    void *ctx;
} vhdx_allocator;

/*
 * Limits on what a file may make the library do. Every allocation driven by
 * file contents is checked against these. vhdx_limits_default() gives the
 * documented defaults.
 */
typedef struct vhdx_limits {
    uint64_t max_memory;          /* bytes the library may hold at once: 64 MiB */
    uint32_t max_metadata_region; /* metadata region bytes read: 128 MiB */
    uint32_t max_metadata_item;   /* one metadata item: 1 MiB (the format's maximum) */
    uint32_t max_log_length;      /* log bytes examined: 4095 MiB (the format's maximum) */
    uint32_t max_locator_entries; /* parent locator key/value pairs: 256 */
    uint32_t max_parent_depth;    /* differencing chain length: 16; at most
                                     VHDX_MAX_PARENT_DEPTH (more: VHDX_E_INVALID_ARG) */
} vhdx_limits;

/*
 * The ceiling of vhdx_limits.max_parent_depth: opening a chain recurses
 * once per parent and holds about 9 KiB of stack per level, so a chain at
 * the ceiling needs about 600 KiB of the caller's stack.
 */
#define VHDX_MAX_PARENT_DEPTH 64

VHDX_API vhdx_limits vhdx_limits_default(void);

/*
 * Progress of a long call (vhdx_convert, vhdx_export_raw, vhdx_commit,
 * vhdx_check, vhdx_replay and the in-place replay of a writable open):
 * `done` of `total` units of work, bytes unless the call says otherwise.
 * Called with done == 0 first and done == total last when the call gets
 * that far; done never decreases and total does not change within a call.
 * Returning non-zero cancels: the call stops at the next safe point and
 * returns VHDX_E_CANCELLED, leaving nothing a reader would accept as
 * complete (each call says what it leaves).
 */
typedef int (*vhdx_progress_fn)(void *ctx, uint64_t done, uint64_t total);

VHDX_API const char *vhdx_version(void);

/* ------------------------------------------------------------------------
 * I/O: everything the library reads or writes goes through a vhdx_io.
 * ------------------------------------------------------------------------ */

/*
 * pread/pwrite-style callbacks over one file-like object.
 *   read:     reads up to len bytes at off into buf; *got receives the count,
 *             which is less than len only at the end of the file. Returns
 *             VHDX_OK or VHDX_E_IO.
 *   write:    writes len bytes at off, extending the file if needed
 *             (NULL for a read-only back end).
 *   flush:    makes every completed write durable (NULL: nothing to flush).
 *   size:     the current size in bytes.
 *   truncate: sets the size (NULL for a read-only back end).
 *   close:    releases ctx (NULL: nothing to release). vhdx_close() and
 *             vhdx_io_close() call it.
 *   zero:     makes [off, off + len) read as zeros, extending the file if
 *             needed, without writing len bytes where it can (punching a
 *             hole, say). VHDX_E_UNSUPPORTED when it cannot, with nothing
 *             changed: the library then writes zeros. NULL: the same.
 *             Durable after flush, like a write.
 */
typedef struct vhdx_io {
    void *ctx;
    vhdx_status (*read)(void *ctx, void *buf, size_t len, uint64_t off, size_t *got);
    vhdx_status (*write)(void *ctx, const void *buf, size_t len, uint64_t off);
    vhdx_status (*flush)(void *ctx);
    vhdx_status (*size)(void *ctx, uint64_t *size);
    vhdx_status (*truncate)(void *ctx, uint64_t size);
    void (*close)(void *ctx);
    vhdx_status (*zero)(void *ctx, uint64_t off, uint64_t len);
} vhdx_io;

/* A back end over a file descriptor (not closed by the io unless own_fd). */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_io_from_fd(int fd, int writable, int own_fd,
                                                   vhdx_io *out);

/* A read-only back end over caller memory, which must outlive the io. */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_io_from_memory(const void *data, size_t len,
                                                       vhdx_io *out);

/* Calls io->close if set, then clears *io. */
VHDX_API void vhdx_io_close(vhdx_io *io);

/* ------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------ */

typedef struct vhdx_image vhdx_image;

/*
 * Opens the parent named by a differencing image's locator. `path` is the
 * UTF-8 value of the locator key `key` ("relative_path", "volume_path" or
 * "absolute_win32_path"), exactly as stored. Returns VHDX_OK with *out set,
 * VHDX_E_MISSING when there is no such file (the next key is tried), or
 * another status to refuse the path: an error finding
 * (image.parent.refused), the next key is still tried, and the open fails
 * in the end. The library validates the parent it gets, and only reads it.
 */
typedef vhdx_status (*vhdx_parent_opener)(void *ctx, const char *key, const char *path,
                                          vhdx_io *out);

/* Open flags. */
#define VHDX_OPEN_READ_ONLY 0u  /* the default: never writes (the io may lack write) */
#define VHDX_OPEN_WRITABLE 1u   /* replays a dirty log in place; allows vhdx_write and friends */
#define VHDX_OPEN_NO_PARENT 2u  /* open a differencing image without its parent: reads fail */

typedef struct vhdx_open_options {
    unsigned flags;
    const vhdx_limits *limits;         /* NULL: vhdx_limits_default() */
    const vhdx_allocator *allocator;   /* NULL: malloc/free */
    vhdx_parent_opener open_parent;    /* NULL: the built-in opener of vhdx_open_path; with
                                          vhdx_open, parents open as with NO_PARENT */
    void *open_parent_ctx;
    /*
     * vhdx_open_path's built-in opener only: directories, besides the
     * child's own, in which a parent may lie. A NULL-terminated array read
     * during the open only; NULL: the child's directory alone.
     */
    const char *const *parent_dirs;
    /* Every finding made while opening (and by vhdx_check), as it is made. */
    void (*on_diag)(void *ctx, const vhdx_diag *d);
    void *diag_ctx;
    /* vhdx_check, vhdx_replay and the in-place replay of a writable open:
       progress and cancellation (NULL: none). */
    vhdx_progress_fn progress;
    void *progress_ctx;
} vhdx_open_options;

/*
 * Opens an image: the strict open order (file identifier, headers, log,
 * region tables, metadata, BAT, space map, parent chain). Every finding is
 * passed to options->on_diag. Fails with the status of an error it found
 * (the first one's, unless a later step failed for its own reason: a refused
 * parent path followed by none that exists is VHDX_E_MISSING); *out is NULL
 * then. Takes ownership of *io (closed by vhdx_close, or on failure).
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_open(vhdx_io *io, const vhdx_open_options *options,
                                             vhdx_image **out);

/*
 * Convenience: opens the file at `path` (read-only unless VHDX_OPEN_WRITABLE)
 * with vhdx_open. When options->open_parent is NULL, parents are opened by a
 * built-in opener that resolves relative_path against the child's directory
 * and refuses anything that is not a regular file inside the directories it
 * allows: the child's own directory and options->parent_dirs (SECURITY.md).
 * A relative_path may climb out of the child's directory with ".." only
 * into one of parent_dirs; an absolute_win32_path or volume_path names its
 * final component, looked up in the child's directory, then in each of
 * parent_dirs in order.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_open_path(const char *path,
                                                  const vhdx_open_options *options,
                                                  vhdx_image **out);

/* Closes the image, its parent chain and their back ends. NULL is a no-op. */
VHDX_API void vhdx_close(vhdx_image *image);

/*
 * Reads len bytes of the virtual disk at offset. Reading past the virtual
 * size is VHDX_E_RANGE. A failed read leaves the handle usable unless the
 * back end failed (then it is in a failed state: VHDX_E_BAD_STATE after).
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_read(vhdx_image *image, uint64_t offset, void *buf,
                                             size_t len);

typedef enum vhdx_disk_type {
    VHDX_DISK_FIXED = 0,
    VHDX_DISK_DYNAMIC = 1,
    VHDX_DISK_DIFFERENCING = 2
} vhdx_disk_type;

#define VHDX_GUID_TEXT_SIZE 39 /* braces around 8-4-4-4-12 hex digits, plus NUL */

/* What opening did with the log (vhdx_info.log_replay). */
#define VHDX_LOG_CLEAN 0              /* LogGuid was 0: nothing to replay */
#define VHDX_LOG_REPLAYED_IN_MEMORY 1 /* read-only open: the view is replayed, the file unchanged */
#define VHDX_LOG_REPLAYED_IN_PLACE 2  /* writable open: replayed into the file, LogGuid cleared */

typedef struct vhdx_info {
    vhdx_disk_type type;
    uint64_t virtual_size;
    uint64_t file_size;
    uint32_t block_size;
    uint32_t logical_sector_size;
    uint32_t physical_sector_size;
    uint32_t chunk_ratio;
    uint64_t bat_entries;
    uint64_t blocks_allocated;        /* FULLY or PARTIALLY_PRESENT */
    uint64_t header_sequence;
    int current_header;               /* 1 or 2 */
    char creator[1024];               /* UTF-8 */
    char file_write_guid[VHDX_GUID_TEXT_SIZE];
    char data_write_guid[VHDX_GUID_TEXT_SIZE];
    char log_guid[VHDX_GUID_TEXT_SIZE];
    char virtual_disk_id[VHDX_GUID_TEXT_SIZE];
    uint64_t log_offset;
    uint32_t log_length;
    int log_dirty;                    /* LogGuid != 0 at open: the log needed replay */
    int log_replay;                   /* VHDX_LOG_CLEAN, _REPLAYED_IN_MEMORY or _REPLAYED_IN_PLACE */
    uint32_t log_entries_replayed;    /* entries of the active sequence applied */
    uint64_t log_head_sequence;       /* sequence number of the last entry applied (0: none) */
    char parent_linkage[VHDX_GUID_TEXT_SIZE]; /* differencing only */
    char parent_path[4096];           /* the locator path that opened the parent, UTF-8 */
    uint32_t chain_depth;             /* 0 for a base image */
} vhdx_info;

VHDX_API VHDX_MUST_USE vhdx_status vhdx_get_info(const vhdx_image *image, vhdx_info *out);

/* What backs a run of the virtual disk (vhdx_map_next). */
typedef enum vhdx_extent_kind {
    VHDX_EXTENT_DATA = 0,       /* read from this file at file_offset */
    VHDX_EXTENT_ZERO = 1,       /* reads as zeros (ZERO, UNMAPPED, UNDEFINED, unallocated) */
    VHDX_EXTENT_PARENT = 2      /* read from the parent (differencing images) */
} vhdx_extent_kind;

typedef struct vhdx_extent {
    uint64_t offset;       /* virtual offset */
    uint64_t length;
    vhdx_extent_kind kind;
    uint8_t bat_state;     /* the payload block state behind it */
    uint64_t file_offset;  /* DATA only */
} vhdx_extent;

/*
 * The extent that contains virtual offset `offset`: the longest run from it
 * of one kind with contiguous file offsets, not crossing a block of another
 * state. Iterate with offset = ext.offset + ext.length until virtual_size.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_map_next(vhdx_image *image, uint64_t offset,
                                                 vhdx_extent *out);

/* ------------------------------------------------------------------------
 * Writing (docs/WRITER.md). Needs a handle opened with VHDX_OPEN_WRITABLE
 * over a back end with write, flush and truncate.
 *
 * Data written by vhdx_write is durable once vhdx_flush (or vhdx_finish)
 * returns VHDX_OK; before that a power loss may keep or lose it, sector by
 * sector, but never gives a sector other than its old or new content (on a
 * disk that writes a logical sector atomically: an in-place overwrite torn
 * inside a 4096-byte sector mixes the two, as with any disk).
 * Every change of the BAT, the sector bitmaps, the metadata and the region
 * tables goes through the log (§8.8): payload flushed first, then the log
 * entry, flushed, then applied in place. Changes of many writes are
 * batched into one log entry until vhdx_flush, or until the batch fills
 * what the log can hold.
 *
 * The first change of a session writes both headers with a new
 * FileWriteGuid and a new DataWriteGuid. vhdx_finish ends the session:
 * everything applied and flushed, then LogGuid 0 in both headers.
 * A writing call (vhdx_write, _write_zeroes, _discard, _resize, _flush,
 * _finish) that fails for want of memory (VHDX_E_NOMEM, VHDX_E_LIMIT) or in
 * the back end (VHDX_E_IO) leaves the handle in a failed state
 * (VHDX_E_BAD_STATE after), wherever it failed; a refused request
 * (VHDX_E_RANGE, VHDX_E_INVALID_ARG, a shrink refused with VHDX_E_STATE)
 * does not. What reached the file is recovered by the log at the next open.
 * ------------------------------------------------------------------------ */

/* Writes len bytes at virtual offset `offset` (within the virtual size). */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_write(vhdx_image *image, uint64_t offset,
                                              const void *buf, size_t len);

/*
 * Makes [offset, offset+len) read as zeros. Whole blocks move to the ZERO
 * state without allocating (fixed images and LeaveBlockAllocated images
 * get zeros written in place); the parts of partly covered blocks are
 * written with zeros like vhdx_write.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_write_zeroes(vhdx_image *image, uint64_t offset,
                                                     uint64_t len);

/*
 * Discards whole blocks inside [offset, offset+len): they move to UNMAPPED
 * in a dynamic image and to ZERO in a differencing one (so that they read
 * as zeros, never as the parent's data). Parts of blocks at either end are
 * left as they are. Fixed and LeaveBlockAllocated images keep their
 * blocks: the discarded range is written with zeros. *discarded (may be
 * NULL) receives the number of bytes whose blocks changed state or were
 * zeroed.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_discard(vhdx_image *image, uint64_t offset, uint64_t len,
                                                uint64_t *discarded);

/* Commits the pending batch through the log and makes every write durable. */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_flush(vhdx_image *image);

/*
 * Ends the write session: vhdx_flush, then both headers get LogGuid 0.
 * Nothing is written when the session changed nothing. The handle stays
 * usable; a later change starts a new session. vhdx_close does the same
 * but cannot report failure: call vhdx_finish first when it matters.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_finish(vhdx_image *image);

/* What vhdx_repair rewrote (0: nothing). */
typedef struct vhdx_repair_result {
    int header_rewritten;       /* the header slot (1 or 2) rewritten from the current header */
    int region_table_rewritten; /* the region table copy (1 or 2) rewritten from the one in use */
} vhdx_repair_result;

/*
 * Repairs the damaged spare copies the open reported, as warnings
 * (docs/RULES.md, "Spare copies"): a non-current header that is not valid
 * or breaks a field rule (image.header.one_valid, image.header.spare_damaged)
 * is rewritten from the current one by the header update of VHDX-FORMAT.md
 * §3.4, done twice (non-current slot first, flushed, then the current one,
 * flushed); a region table copy not in use that is damaged or differs from
 * the one in use (image.region_table.copy1_invalid, .copy2_invalid,
 * .mismatch) is rewritten from it, byte for byte, through the log (§4.4,
 * §8.1). The session's header update gives the file a new FileWriteGuid;
 * the DataWriteGuid is kept (nothing a read returns changes, and a
 * differencing child names it). Ends with vhdx_finish: on VHDX_OK
 * everything is durable and the log is empty; a crash at any point leaves
 * an image that opens, with the spare either repaired or still reported.
 * Nothing is written when there is nothing to repair. A copy in use that
 * breaks a rule is an error, so such an image does not open and is not
 * repaired here. Needs a handle opened with VHDX_OPEN_WRITABLE
 * (VHDX_E_INVALID_ARG otherwise); failures leave it failed, as the writing
 * calls do. out (may be NULL) says what was rewritten.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_repair(vhdx_image *image, vhdx_repair_result *out);

#define VHDX_RESIZE_FORCE 1u /* shrink even when blocks past the new end hold data */

/*
 * Changes the virtual size (a multiple of the logical sector size, at
 * most 64 TiB). Growing adds BAT entries, moving the BAT to the end of the
 * file when its region is too small. Shrinking fails with VHDX_E_STATE
 * when a block past the new end holds data, unless VHDX_RESIZE_FORCE;
 * those blocks are released and the bytes past the new end of the last
 * block are zeroed, so growing again reads zeros. Differencing images
 * cannot be resized (VHDX_E_UNSUPPORTED): their size is the parent's.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_resize(vhdx_image *image, uint64_t new_size,
                                               unsigned flags);

/* What vhdx_create makes. Zero fields take the defaults given. */
typedef struct vhdx_create_options {
    vhdx_disk_type type;           /* VHDX_DISK_DYNAMIC (0 is FIXED: set it explicitly) */
    uint64_t virtual_size;         /* bytes; a multiple of the logical sector size, at most
                                      64 TiB. Differencing: 0 or the parent's size */
    uint32_t block_size;           /* 0: by size, like QEMU (8 MiB up to 1 GiB, 16 MiB up to
                                      100 GiB, 32 MiB up to 32 TiB, then 64 MiB), or for a
                                      differencing image the parent's; else a power of two
                                      from 1 MiB to 256 MiB */
    uint32_t log_size;             /* 0: 1 MiB; else a multiple of 1 MiB */
    uint32_t logical_sector_size;  /* 0: 512 (differencing: the parent's); 512 or 4096 */
    uint32_t physical_sector_size; /* 0: 4096; 512 or 4096 */
    /* Differencing only: the opened parent, and the locator's relative_path
       (UTF-8, '/' or '\\' separators, stored with '\\'). */
    vhdx_image *parent;
    const char *parent_relative_path;
    const char *parent_absolute_path; /* optional: absolute_win32_path, must start with \\?\ */
    const char *creator;           /* NULL: "vhdx <version>" */
    /* The creation's own memory (about 1 MiB of scratch); NULL: malloc/free.
       vhdx_create_open's handle uses it too when open_options gives none. */
    const vhdx_allocator *allocator;
} vhdx_create_options;

/*
 * Writes a new image to the empty file behind io (borrowed, not closed).
 * Creation is atomic to a reader: the file identifier's signature is the
 * last sector written, after everything else is flushed, so a file cut
 * short at any point is refused (file_identifier.signature), never read
 * with wrong content. Fixed images get every block allocated (the file is
 * extended: the blocks read as zeros).
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_create(vhdx_io *io, const vhdx_create_options *options);

/*
 * vhdx_create on a new file at `path`: VHDX_E_DUPLICATE when it exists,
 * VHDX_E_MISSING when its directory does not. For a differencing image
 * parent_path names the parent: it is opened read-only (with
 * `open_options`, may be NULL), and the locator records its path relative
 * to the new file's directory. On failure the file is removed; on success
 * the directory is flushed too.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_create_path(const char *path,
                                                    const vhdx_create_options *options,
                                                    const char *parent_path,
                                                    const vhdx_open_options *open_options);

/*
 * Builds a new dynamic or fixed image in one pass, for import and convert:
 * vhdx_create into the empty file behind io (owned: closed on failure and
 * by vhdx_close), leaving out the identifier's signature, then the file
 * opened writable as *out. Until it is sealed the image is *unsealed*: no
 * reader accepts the file (file_identifier.signature), so its writes change
 * the BAT and other metadata in place, without the log and without any
 * flush. vhdx_finish seals it: everything flushed, then the signature
 * written and flushed; after that the handle is an ordinary writable one
 * (a later change starts a logged session). vhdx_close without a successful
 * vhdx_finish leaves the file unsealed. So a crash or failure at any point
 * before the seal leaves a file every reader refuses, never an image with
 * part of its content; the whole build costs two flushes.
 * A differencing image (options->parent and parent_relative_path set) is
 * opened without its parent (VHDX_OPEN_NO_PARENT): it can be written, and
 * its reads of sectors it does not hold fail; reopen it after the seal to
 * read through the chain. open_options (may be NULL) are used for the
 * open, with VHDX_OPEN_WRITABLE added.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_create_open(vhdx_io *io,
                                                    const vhdx_create_options *options,
                                                    const vhdx_open_options *open_options,
                                                    vhdx_image **out);

/*
 * vhdx_create_open on a new file at `path` (VHDX_E_DUPLICATE when it
 * exists, VHDX_E_MISSING when its directory does not). The directory is
 * flushed once the file exists; on failure the file is removed. A file
 * left by a crash, or by vhdx_close before vhdx_finish, stays unsealed:
 * the caller removes it.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_create_open_path(const char *path,
                                                         const vhdx_create_options *options,
                                                         const vhdx_open_options *open_options,
                                                         vhdx_image **out);

/* ------------------------------------------------------------------------
 * Converting, exporting and committing (docs/API.md, "Whole-disk copies")
 * ------------------------------------------------------------------------ */

/*
 * Receives the virtual disk from vhdx_export_raw: len bytes of it at
 * virtual offset `offset`, in increasing offset order. Ranges never passed
 * read as zeros. Returns VHDX_OK, or a status that stops the export and is
 * returned by it.
 */
typedef vhdx_status (*vhdx_sink_fn)(void *ctx, uint64_t offset, const void *buf, size_t len);

#define VHDX_EXPORT_NO_SYNC 1u /* fd target: skip the final fsync */

typedef struct vhdx_export_options {
    unsigned flags;
    vhdx_sink_fn sink;          /* used when vhdx_export_raw gets fd < 0 */
    void *sink_ctx;
    vhdx_progress_fn progress;  /* bytes of the virtual disk done (NULL: none) */
    void *progress_ctx;
} vhdx_export_options;

/*
 * Writes the virtual disk of an open image (any kind: a differencing one
 * reads through its chain, a dirty one through its replayed view) as raw
 * bytes. With fd >= 0: into that file from offset 0, which must be empty
 * or hold nothing that must be kept; ranges that read as zeros (ZERO
 * extents, and data that is all zeros) are left as holes, the file is
 * sized to the virtual size and flushed (unless VHDX_EXPORT_NO_SYNC).
 * With fd < 0: into options->sink, which gets only the ranges that are
 * not zeros. options may be NULL with fd >= 0. Uses the image's allocator
 * and holds at most about 4 MiB, within its max_memory. A cancelled or
 * failed export leaves the fd target with part of the disk: the caller
 * removes it. The image stays usable.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_export_raw(vhdx_image *image, int fd,
                                                   const vhdx_export_options *options);

/* What vhdx_convert reads. */
typedef enum vhdx_source_kind {
    VHDX_SOURCE_IMAGE = 0, /* an open image, of any kind, read through its chain */
    VHDX_SOURCE_FD = 1,    /* raw bytes from a file or block device (SEEK_DATA/SEEK_HOLE) */
    VHDX_SOURCE_IO = 2     /* raw bytes from a back end */
} vhdx_source_kind;

typedef struct vhdx_source {
    vhdx_source_kind kind;
    vhdx_image *image; /* IMAGE: borrowed */
    int fd;            /* FD: borrowed, read with pread */
    vhdx_io *io;       /* IO: borrowed */
} vhdx_source;

typedef struct vhdx_convert_options {
    /*
     * The new image. virtual_size 0: the source's size, rounded up to the
     * logical sector size (the rest reads as zeros). block_size and the
     * sector sizes 0: an image source's own, else vhdx_create's defaults.
     * type VHDX_DISK_DIFFERENCING: a child of create.parent (with its
     * locator paths) holding only the sectors where the source differs
     * from the parent; its size is the parent's, which the source's must
     * not exceed.
     */
    vhdx_create_options create;
    vhdx_progress_fn progress;    /* bytes of the virtual disk done (NULL: none) */
    void *progress_ctx;
} vhdx_convert_options;

/* What vhdx_convert did, and where it failed. */
typedef struct vhdx_convert_result {
    uint64_t data_bytes;    /* bytes written into the new image */
    int failed_side;        /* on failure: VHDX_SIDE_SOURCE or _TARGET (0: neither, e.g. an
                               argument or the creation) */
    uint64_t failed_offset; /* virtual offset of the failed read or write, or VHDX_OFFSET_NONE */
    int sys_errno;          /* errno of the failed system call of an FD source (else 0) */
} vhdx_convert_result;

#define VHDX_SIDE_SOURCE 1
#define VHDX_SIDE_TARGET 2

/*
 * Builds a new image holding the bytes of `src` in the empty file behind
 * dst (borrowed, not closed). Only the ranges of the source that may hold
 * data are read (ZERO extents of an image, holes of a sparse file are
 * skipped) and of those only the sectors that are not all zeros are
 * written, so a block that gets no data stays unallocated. The file is
 * built unsealed (vhdx_create_open): no reader accepts it until it is
 * complete and sealed, so a failure, a cancel (VHDX_E_CANCELLED) or a
 * crash at any point leaves a file every reader refuses, which the caller
 * removes. On VHDX_OK everything is durable. open_options (may be NULL)
 * give the limits, allocator and findings of the new image's handle.
 * out (may be NULL) says what was written, and on failure which side
 * failed where.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_convert(const vhdx_source *src, vhdx_io *dst,
                                                const vhdx_convert_options *options,
                                                const vhdx_open_options *open_options,
                                                vhdx_convert_result *out);

/*
 * vhdx_convert into a new file at `path` (VHDX_E_DUPLICATE when it exists,
 * VHDX_E_MISSING when its directory does not; a differencing target gets
 * its locator's relative path from create.parent_relative_path, or, when
 * that is NULL, from parent_path, relative to the new file's directory).
 * parent_path names the parent of a differencing target (NULL otherwise),
 * opened read-only with open_options. On failure or cancel the file is
 * removed; on success the file and its directory are flushed.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_convert_path(const vhdx_source *src, const char *path,
                                                     const vhdx_convert_options *options,
                                                     const char *parent_path,
                                                     const vhdx_open_options *open_options,
                                                     vhdx_convert_result *out);

/* What vhdx_commit did. */
typedef struct vhdx_commit_result {
    uint64_t data_bytes;   /* bytes of the child's data written into the parent */
    uint64_t zero_bytes;   /* bytes the child's ZERO blocks made zero in the parent */
    int resumed;           /* the parent already carried this commit's identity */
} vhdx_commit_result;

typedef struct vhdx_commit_options {
    vhdx_progress_fn progress;  /* bytes of the virtual disk done (NULL: none) */
    void *progress_ctx;
} vhdx_commit_options;

/*
 * Merges a differencing child into its parent (docs/API.md, "Commit"):
 * every range the child holds of its own is written into the parent, so
 * that afterwards the parent alone reads what the chain read. Crash-safe
 * and resumable: at every point of an interrupted commit the chain
 * child->parent reads its pre-commit content, and calling vhdx_commit
 * again finishes the work. child and parent are borrowed back ends of the
 * two files (both need write, flush and truncate); open_options (may be
 * NULL) give the limits, allocator and findings for both. A cancel
 * (VHDX_E_CANCELLED) stops as an interruption does.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_commit(vhdx_io *child, vhdx_io *parent,
                                               const vhdx_commit_options *options,
                                               const vhdx_open_options *open_options,
                                               vhdx_commit_result *out);

/*
 * vhdx_commit of the file at `path` into the parent its locator names,
 * found as vhdx_open_path finds it (open_options->parent_dirs). *parent_path
 * (may be NULL) receives the parent's path, to free with free().
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_commit_path(const char *path,
                                                    const vhdx_commit_options *options,
                                                    const vhdx_open_options *open_options,
                                                    char **parent_path, vhdx_commit_result *out);

/* ------------------------------------------------------------------------
 * The log (VHDX-FORMAT.md §8.7; the exact result: docs/REPLAY.md)
 * ------------------------------------------------------------------------ */

typedef enum vhdx_log_item_kind {
    VHDX_LOG_ITEM_ENTRY = 0, /* an entry of the active sequence */
    VHDX_LOG_ITEM_DATA = 1,  /* a data descriptor: 4096 bytes written at file_offset */
    VHDX_LOG_ITEM_ZERO = 2   /* a zero descriptor: length zero bytes at file_offset */
} vhdx_log_item_kind;

typedef struct vhdx_log_item {
    vhdx_log_item_kind kind;
    uint32_t entry_index;          /* position in the active sequence, from 0 */
    uint64_t sequence_number;      /* the entry's */
    /* ENTRY only: */
    uint64_t log_offset;           /* where the entry starts in the log */
    uint32_t entry_length;
    uint32_t tail;
    uint32_t descriptor_count;
    uint32_t data_count;
    uint64_t flushed_file_offset;
    uint64_t last_file_offset;
    /* DATA and ZERO only: the target range in the file */
    uint64_t file_offset;
    uint64_t length;
} vhdx_log_item;

typedef struct vhdx_replay_result {
    /* From the current header, once the headers have been read: */
    int current_header;        /* 1 or 2 (0: the headers could not be read) */
    uint8_t log_guid[16];      /* its LogGuid, on-disk bytes */
    uint64_t log_offset;
    uint32_t log_length;
    int dirty;                 /* the current header's LogGuid was set */
    uint32_t entries;          /* entries in the active sequence */
    uint64_t descriptors;      /* their descriptors */
    uint64_t tail_sequence;    /* sequence number of the first entry applied */
    uint64_t head_sequence;    /* and of the last */
    uint64_t file_size_before;
    uint64_t file_size_after;  /* equal to file_size_before for a dry run */
} vhdx_replay_result;

#define VHDX_REPLAY_DRY_RUN 1u /* find and list the active sequence, write nothing */

/*
 * Replays the log of the file behind io in place (it needs write, flush and
 * truncate unless VHDX_REPLAY_DRY_RUN): reads the identifier and the
 * headers; when the current header's LogGuid is set, finds the active
 * sequence, passes each entry and descriptor to visit (may be NULL) in
 * replay order, applies them, extends the file to the head's
 * LastFileOffset, flushes, and updates both headers (LogGuid 0, a new
 * FileWriteGuid). A clean log changes nothing. Region tables, metadata and
 * the BAT are not read. Findings go to options->on_diag. io is borrowed:
 * it is not closed.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_replay(vhdx_io *io, const vhdx_open_options *options,
                                               unsigned flags,
                                               void (*visit)(void *ctx, const vhdx_log_item *item),
                                               void *visit_ctx, vhdx_replay_result *out);

/* ------------------------------------------------------------------------
 * Checking
 * ------------------------------------------------------------------------ */

typedef struct vhdx_check_result {
    size_t errors;
    size_t warnings;
    size_t infos;
    vhdx_status first_error;  /* VHDX_OK when there is no error */
} vhdx_check_result;

/*
 * Judges an image without writing to it: runs every check of vhdx_open and
 * continues past errors where the rest can still be examined, passing each
 * finding to options->on_diag. Returns VHDX_OK when it could judge the
 * image (whatever the verdict, in *result) and VHDX_E_IO / VHDX_E_NOMEM /
 * VHDX_E_INVALID_ARG / VHDX_E_LIMIT when it could not: VHDX_E_LIMIT when a
 * limit of vhdx_limits was reached before any error of the image was found
 * (the finding that says which limit, with code VHDX_E_LIMIT, went to
 * on_diag). A limit is never a verdict on the image: *result then only
 * counts what was found before it. When errors of the image came first, it
 * returns VHDX_OK: those errors are the verdict, and the limit finding is
 * among them (counted in result->errors, code VHDX_E_LIMIT). Takes
 * ownership of *io.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_check(vhdx_io *io, const vhdx_open_options *options,
                                              vhdx_check_result *result);

/*
 * vhdx_check on the file at `path`, resolving a differencing image's
 * parents like vhdx_open_path. Returns VHDX_E_MISSING when the file does
 * not exist and VHDX_E_IO when it cannot be opened or is not a regular file.
 */
VHDX_API VHDX_MUST_USE vhdx_status vhdx_check_path(const char *path,
                                                   const vhdx_open_options *options,
                                                   vhdx_check_result *result);

#ifdef __cplusplus
}
#endif

#endif /* VHDX_H */
