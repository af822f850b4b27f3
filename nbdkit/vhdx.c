/*
 * nbdkit-vhdx-plugin: serves the virtual disk of a VHDX image over NBD,
 * through the public interface include/vhdx.h only.
 *
 *   nbdkit vhdx file=DISK.vhdx [parent-dir=DIR]... [max-memory=SIZE]
 *
 * With -r the image is opened read-only: a dirty log is replayed in memory
 * and the file is never written. Without it the image is opened writable
 * (a dirty log is replayed into the file) and every write goes through the
 * library's journaled writer. A differencing image is served with its
 * chain; parents are found exactly where vhdx-verify finds them: the
 * child's directory and the parent-dir directories.
 *
 * One vhdx_image serves every connection: the library forbids a file open
 * writable in two handles, and one handle is not safe for concurrent calls,
 * so the thread model serialises all requests of all connections, and a
 * mutex keeps connection open/close (which may end the write session) off
 * the requests too.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS

#define MAX_PARENT_DIRS 16
#define ZERO_CHUNK (1024u * 1024u)

static char *image_path;
static char *parent_dirs[MAX_PARENT_DIRS + 1];
static size_t parent_dir_count;
static uint64_t max_memory; /* 0: the library's default */

/* The one image every connection shares, opened by the first connection. */
static pthread_mutex_t image_lock = PTHREAD_MUTEX_INITIALIZER;
static vhdx_image *image;
static bool image_writable;
static unsigned connections;
static vhdx_info image_info;

struct connection {
    bool readonly;
};

/* The first error finding of an open, for nbdkit's error output. */
struct first_error {
    bool set;
    vhdx_diag diag;
};

static void keep_first_error(void *ctx, const vhdx_diag *d)
{
    struct first_error *fe = ctx;
    if (d->severity == VHDX_SEVERITY_ERROR && !fe->set) {
        fe->diag = *d;
        fe->set = true;
    }
}

/* The errno NBD can carry for a status: nothing finer crosses the wire. */
static int status_errno(vhdx_status st)
{
    switch (st) {
    case VHDX_E_NOMEM:
    case VHDX_E_LIMIT:
        return ENOMEM;
    case VHDX_E_INVALID_ARG:
    case VHDX_E_RANGE:
        return EINVAL;
    case VHDX_E_UNSUPPORTED:
        return ENOTSUP;
    default:
        return EIO;
    }
}

static int fail(const char *what, vhdx_status st)
{
    nbdkit_error("vhdx: %s: %s (%s)", what, vhdx_strerror(st), vhdx_status_name(st));
    nbdkit_set_error(status_errno(st));
    return -1;
}

static void vhdx_unload(void)
{
    free(image_path);
    for (size_t i = 0; i < parent_dir_count; i++)
        free(parent_dirs[i]);
}

static int vhdx_config(const char *key, const char *value)
{
    if (strcmp(key, "file") == 0) {
        free(image_path);
        image_path = nbdkit_realpath(value);
        return image_path == NULL ? -1 : 0;
    }
    if (strcmp(key, "parent-dir") == 0) {
        if (parent_dir_count == MAX_PARENT_DIRS) {
            nbdkit_error("vhdx: at most %d parent-dir parameters", MAX_PARENT_DIRS);
            return -1;
        }
        parent_dirs[parent_dir_count] = nbdkit_realpath(value);
        if (parent_dirs[parent_dir_count] == NULL)
            return -1;
        parent_dir_count++;
        return 0;
    }
    if (strcmp(key, "max-memory") == 0) {
        int64_t v = nbdkit_parse_size(value);
        if (v <= 0) {
            if (v == 0)
                nbdkit_error("vhdx: max-memory must be positive");
            return -1;
        }
        max_memory = (uint64_t)v;
        return 0;
    }
    nbdkit_error("vhdx: unknown parameter '%s'", key);
    return -1;
}

static int vhdx_config_complete(void)
{
    if (image_path == NULL) {
        nbdkit_error("vhdx: the file parameter is required (file=DISK.vhdx)");
        return -1;
    }
    return 0;
}

#define vhdx_config_help                                                                     \
    "file=<DISK.vhdx>     (required) the VHDX image to serve (-r: never written).\n"         \
    "parent-dir=<DIR>     a directory besides the image's own where parents may lie\n"       \
    "                     (repeatable).\n"                                                    \
    "max-memory=<SIZE>    memory the library may hold (default 64M)."

static void vhdx_dump_plugin(void)
{
    printf("vhdx_library_version=%s\n", vhdx_version());
}

/* Opens the shared image; image_lock held. */
static int open_image(bool readonly)
{
    vhdx_open_options opts;
    vhdx_limits limits = vhdx_limits_default();
    struct first_error fe;
    vhdx_status st;

    memset(&opts, 0, sizeof(opts));
    memset(&fe, 0, sizeof(fe));
    if (max_memory != 0)
        limits.max_memory = max_memory;
    opts.flags = readonly ? VHDX_OPEN_READ_ONLY : VHDX_OPEN_WRITABLE;
    opts.limits = &limits;
    opts.parent_dirs = (const char *const *)parent_dirs;
    opts.on_diag = keep_first_error;
    opts.diag_ctx = &fe;
    st = vhdx_open_path(image_path, &opts, &image);
    if (st != VHDX_OK) {
        image = NULL;
        if (fe.set)
            nbdkit_error("vhdx: %s: refused: %s [%s] at %s0x%" PRIx64 ": %s", image_path,
                         vhdx_status_name(fe.diag.code), fe.diag.rule,
                         fe.diag.offset == VHDX_OFFSET_NONE ? "(no offset) " : "",
                         fe.diag.offset == VHDX_OFFSET_NONE ? (uint64_t)0 : fe.diag.offset,
                         fe.diag.message);
        else
            nbdkit_error("vhdx: %s: cannot open: %s (%s)", image_path, vhdx_strerror(st),
                         vhdx_status_name(st));
        nbdkit_set_error(status_errno(st));
        return -1;
    }
    st = vhdx_get_info(image, &image_info);
    if (st != VHDX_OK) {
        vhdx_close(image);
        image = NULL;
        return fail("get_info", st);
    }
    image_writable = !readonly;
    nbdkit_debug("vhdx: opened %s %s, log %s", image_path, readonly ? "read-only" : "writable",
                 image_info.log_dirty ? "replayed" : "clean");
    return 0;
}

/*
 * Before serving: the image is opened read-only once (nothing is written,
 * a dirty log replays in memory), so a corrupt image or a missing parent
 * stops nbdkit at start with the rule id, not at each client's connection.
 */
static int vhdx_get_ready(void)
{
    int r;
    pthread_mutex_lock(&image_lock);
    r = open_image(true);
    if (r == 0) {
        vhdx_close(image);
        image = NULL;
    }
    pthread_mutex_unlock(&image_lock);
    return r;
}

static void *vhdx_open_conn(int readonly)
{
    struct connection *c = calloc(1, sizeof(*c));
    int r = 0;

    if (c == NULL) {
        nbdkit_error("vhdx: out of memory");
        return NULL;
    }
    c->readonly = readonly != 0;
    pthread_mutex_lock(&image_lock);
    if (image == NULL)
        r = open_image(c->readonly);
    else if (!c->readonly && !image_writable) {
        nbdkit_error("vhdx: the image is already served read-only");
        r = -1;
    }
    if (r == 0)
        connections++;
    pthread_mutex_unlock(&image_lock);
    if (r != 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void vhdx_close_conn(void *handle)
{
    struct connection *c = handle;
    pthread_mutex_lock(&image_lock);
    connections--;
    /* The last writer gone: end the write session, so the file is clean (LogGuid 0). */
    if (connections == 0 && image_writable) {
        vhdx_status st = vhdx_finish(image);
        if (st != VHDX_OK)
            nbdkit_error("vhdx: %s: finishing the write session: %s", image_path,
                         vhdx_status_name(st));
    }
    pthread_mutex_unlock(&image_lock);
    free(c);
}

static void vhdx_cleanup(void)
{
    pthread_mutex_lock(&image_lock);
    vhdx_close(image);
    image = NULL;
    pthread_mutex_unlock(&image_lock);
}

static int64_t vhdx_get_size(void *handle)
{
    (void)handle;
    return (int64_t)image_info.virtual_size;
}

static int vhdx_can_write(void *handle)
{
    struct connection *c = handle;
    return !c->readonly && image_writable;
}

static int vhdx_can_flush(void *handle)
{
    (void)handle;
    return 1;
}

static int vhdx_can_fua(void *handle)
{
    (void)handle;
    return NBDKIT_FUA_NATIVE;
}

static int vhdx_can_multi_conn(void *handle)
{
    /* One handle serves every connection: a flush on one covers all. */
    (void)handle;
    return 1;
}

static int vhdx_can_cache(void *handle)
{
    (void)handle;
    return NBDKIT_CACHE_NONE;
}

static int vhdx_can_extents(void *handle)
{
    (void)handle;
    return 1;
}

static int vhdx_can_fast_zero(void *handle)
{
    (void)handle;
    return 1;
}

static int vhdx_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    vhdx_status st;
    (void)handle;
    (void)flags;
    pthread_mutex_lock(&image_lock);
    st = vhdx_read(image, offset, buf, count);
    pthread_mutex_unlock(&image_lock);
    return st == VHDX_OK ? 0 : fail("read", st);
}

static int flush_if_fua(uint32_t flags)
{
    if ((flags & NBDKIT_FLAG_FUA) != 0) {
        vhdx_status st;
        pthread_mutex_lock(&image_lock);
        st = vhdx_flush(image);
        pthread_mutex_unlock(&image_lock);
        if (st != VHDX_OK)
            return fail("flush", st);
    }
    return 0;
}

static int vhdx_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                       uint32_t flags)
{
    vhdx_status st;
    (void)handle;
    pthread_mutex_lock(&image_lock);
    st = vhdx_write(image, offset, buf, count);
    pthread_mutex_unlock(&image_lock);
    if (st != VHDX_OK)
        return fail("write", st);
    return flush_if_fua(flags);
}

static int vhdx_flush_req(void *handle, uint32_t flags)
{
    vhdx_status st;
    (void)handle;
    (void)flags;
    pthread_mutex_lock(&image_lock);
    st = vhdx_flush(image);
    pthread_mutex_unlock(&image_lock);
    return st == VHDX_OK ? 0 : fail("flush", st);
}

static int vhdx_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    vhdx_status st;
    (void)handle;
    pthread_mutex_lock(&image_lock);
    st = vhdx_discard(image, offset, count, NULL);
    pthread_mutex_unlock(&image_lock);
    if (st != VHDX_OK)
        return fail("discard", st);
    return flush_if_fua(flags);
}

static bool block_aligned(uint64_t off)
{
    return off % image_info.block_size == 0 || off == image_info.virtual_size;
}

/* Zeros written as data: the blocks stay (or become) allocated. */
static int write_zero_data(uint32_t count, uint64_t offset)
{
    void *zeros = calloc(1, count < ZERO_CHUNK ? count : ZERO_CHUNK);
    if (zeros == NULL) {
        nbdkit_set_error(ENOMEM);
        return -1;
    }
    while (count > 0) {
        uint32_t n = count < ZERO_CHUNK ? count : ZERO_CHUNK;
        vhdx_status st;
        pthread_mutex_lock(&image_lock);
        st = vhdx_write(image, offset, zeros, n);
        pthread_mutex_unlock(&image_lock);
        if (st != VHDX_OK) {
            free(zeros);
            return fail("write zeroes", st);
        }
        offset += n;
        count -= n;
    }
    free(zeros);
    return 0;
}

static int vhdx_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    bool may_trim = (flags & NBDKIT_FLAG_MAY_TRIM) != 0;
    /* Fast only when whole blocks change state: no data is written at all. */
    bool fast = may_trim && image_info.type != VHDX_DISK_FIXED && block_aligned(offset) &&
                block_aligned(offset + count);
    (void)handle;

    if ((flags & NBDKIT_FLAG_FAST_ZERO) != 0 && !fast) {
        nbdkit_set_error(ENOTSUP);
        return -1;
    }
    if (may_trim) {
        vhdx_status st;
        pthread_mutex_lock(&image_lock);
        st = vhdx_write_zeroes(image, offset, count);
        pthread_mutex_unlock(&image_lock);
        if (st != VHDX_OK)
            return fail("write_zeroes", st);
    } else if (write_zero_data(count, offset) != 0) {
        return -1;
    }
    return flush_if_fua(flags);
}

static int vhdx_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                        struct nbdkit_extents *extents)
{
    uint64_t end = offset + count;
    (void)handle;

    while (offset < end) {
        vhdx_extent e;
        uint32_t type;
        uint64_t len;
        vhdx_status st;
        pthread_mutex_lock(&image_lock);
        st = vhdx_map_next(image, offset, &e);
        pthread_mutex_unlock(&image_lock);
        if (st != VHDX_OK)
            return fail("map", st);
        if (e.offset + e.length <= offset || e.length == 0) {
            nbdkit_error("vhdx: map made no progress at %" PRIu64, offset);
            nbdkit_set_error(EIO);
            return -1;
        }
        /* ZERO: unallocated or zero state, reads as zeros; DATA and PARENT hold data. */
        type = e.kind == VHDX_EXTENT_ZERO ? (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) : 0u;
        len = e.offset + e.length - offset;
        if (nbdkit_add_extent(extents, offset, len, type) != 0)
            return -1;
        offset += len;
        if ((flags & NBDKIT_FLAG_REQ_ONE) != 0)
            break;
    }
    return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "vhdx",
    .longname = "nbdkit VHDX plugin (libvhdx)",
    .version = VHDX_VERSION_STRING,
    .description = "Serves the virtual disk of a VHDX (Hyper-V) image, its log replayed",
    .unload = vhdx_unload,
    .config = vhdx_config,
    .config_complete = vhdx_config_complete,
    .config_help = vhdx_config_help,
    .magic_config_key = "file",
    .dump_plugin = vhdx_dump_plugin,
    .get_ready = vhdx_get_ready,
    .open = vhdx_open_conn,
    .close = vhdx_close_conn,
    .cleanup = vhdx_cleanup,
    .get_size = vhdx_get_size,
    .can_write = vhdx_can_write,
    .can_flush = vhdx_can_flush,
    .can_trim = vhdx_can_write,
    .can_zero = vhdx_can_write,
    .can_fast_zero = vhdx_can_fast_zero,
    .can_fua = vhdx_can_fua,
    .can_multi_conn = vhdx_can_multi_conn,
    .can_extents = vhdx_can_extents,
    .can_cache = vhdx_can_cache,
    .pread = vhdx_pread,
    .pwrite = vhdx_pwrite,
    .flush = vhdx_flush_req,
    .trim = vhdx_trim,
    .zero = vhdx_zero,
    .extents = vhdx_extents,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
