/* The I/O layer (src/io): fd, memory and overlay back ends, path resolution. */
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/alloc.h"
#include "io/fault.h"
#include "io/overlay.h"
#include "io/path.h"

#define PAGE IO_OVERLAY_PAGE_SIZE

/* ------------------------------------------------------------------------
 * Scratch files
 * ------------------------------------------------------------------------ */

struct scratch {
    char dir[PATH_MAX];
};

static void scratch_make(struct scratch *s)
{
    strcpy(s->dir, "/tmp/vhdx_test_io.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
}

static void scratch_path(const struct scratch *s, const char *name, char *out)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", s->dir, name);
    assert_true(n > 0 && n < PATH_MAX);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void scratch_remove(struct scratch *s)
{
    assert_int_equal(nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static void write_file(const struct scratch *s, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    int fd;
    scratch_path(s, name, path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void make_dir(const struct scratch *s, const char *name)
{
    char path[PATH_MAX];
    scratch_path(s, name, path);
    assert_int_equal(mkdir(path, 0700), 0);
}

static void make_symlink(const struct scratch *s, const char *target, const char *name)
{
    char path[PATH_MAX];
    scratch_path(s, name, path);
    assert_int_equal(symlink(target, path), 0);
}

static void make_fifo(const struct scratch *s, const char *name)
{
    char path[PATH_MAX];
    scratch_path(s, name, path);
    assert_int_equal(mkfifo(path, 0600), 0);
}

static int open_scratch(const struct scratch *s, const char *name, int flags)
{
    char path[PATH_MAX];
    int fd;
    scratch_path(s, name, path);
    fd = open(path, flags | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed + i * 7u);
}

static void assert_zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            fail_msg("byte %zu is 0x%02x, expected 0", i, p[i]);
}

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* ------------------------------------------------------------------------
 * fd back end
 * ------------------------------------------------------------------------ */

static void test_fd_read_across_eof_gives_short_count(void **state)
{
    struct scratch s;
    uint8_t data[100], buf[200];
    vhdx_io io;
    size_t got = 999;
    (void)state;
    scratch_make(&s);
    fill_pattern(data, sizeof(data), 1);
    write_file(&s, "f", data, sizeof(data));
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDONLY), 0, 1, &io), VHDX_OK);

    assert_status(io.read(io.ctx, buf, 200, 50, &got), VHDX_OK);
    assert_int_equal(got, 50);
    assert_memory_equal(buf, data + 50, 50);
    assert_status(io.read(io.ctx, buf, 100, 0, &got), VHDX_OK);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, data, 100);
    assert_status(io.read(io.ctx, buf, 10, 100, &got), VHDX_OK);
    assert_int_equal(got, 0);
    assert_status(io.read(io.ctx, buf, 10, 1u << 30, &got), VHDX_OK);
    assert_int_equal(got, 0);
    assert_status(io.read(io.ctx, buf, 0, 0, &got), VHDX_OK);
    assert_int_equal(got, 0);

    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_write_then_read_back_extends_with_zeros(void **state)
{
    struct scratch s;
    uint8_t data[300], buf[1000];
    vhdx_io io;
    size_t got;
    uint64_t size = 0;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "", 0);
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 1, 1, &io), VHDX_OK);
    assert_non_null(io.write);

    fill_pattern(data, sizeof(data), 9);
    assert_status(io.write(io.ctx, data, sizeof(data), 700), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 1000);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 1000);
    assert_zeros(buf, 700);
    assert_memory_equal(buf + 700, data, 300);
    /* A zero-length write changes nothing. */
    assert_status(io.write(io.ctx, data, 0, 5000), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 1000);

    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_size_is_file_length(void **state)
{
    struct scratch s;
    uint8_t data[4321] = {0};
    vhdx_io io;
    uint64_t size = 0;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", data, sizeof(data));
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDONLY), 0, 1, &io), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 4321);
    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_truncate_shrinks_and_grows_with_zeros(void **state)
{
    struct scratch s;
    uint8_t data[1000], buf[1000];
    vhdx_io io;
    uint64_t size = 0;
    size_t got;
    (void)state;
    scratch_make(&s);
    fill_pattern(data, sizeof(data), 3);
    write_file(&s, "f", data, sizeof(data));
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 1, 1, &io), VHDX_OK);
    assert_non_null(io.truncate);

    assert_status(io.truncate(io.ctx, 100), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 100);
    assert_status(io.truncate(io.ctx, 1000), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 1000);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 1000);
    assert_memory_equal(buf, data, 100);
    assert_zeros(buf + 100, 900);

    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_flush_succeeds_on_writable(void **state)
{
    struct scratch s;
    vhdx_io io;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 1, 1, &io), VHDX_OK);
    assert_non_null(io.flush);
    assert_status(io.write(io.ctx, "xyz", 3, 1), VHDX_OK);
    assert_status(io.flush(io.ctx), VHDX_OK);
    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_read_only_has_no_write_truncate_flush(void **state)
{
    struct scratch s;
    vhdx_io io;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);
    /* Even over a read-write descriptor, a read-only io offers no way to write. */
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 0, 1, &io), VHDX_OK);
    assert_null(io.write);
    assert_null(io.truncate);
    assert_null(io.flush);
    assert_non_null(io.read);
    assert_non_null(io.size);
    assert_non_null(io.close);
    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_offsets_past_int64_max_are_range(void **state)
{
    struct scratch s;
    uint8_t buf[16] = {0};
    vhdx_io io;
    size_t got = 7;
    uint64_t over = (uint64_t)INT64_MAX + 1;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 1, 1, &io), VHDX_OK);

    assert_status(io.read(io.ctx, buf, 1, over, &got), VHDX_E_RANGE);
    assert_int_equal(got, 0);
    assert_status(io.read(io.ctx, buf, 1, UINT64_MAX, &got), VHDX_E_RANGE);
    /* At and just below INT64_MAX: the end of any file, not an error. */
    assert_status(io.read(io.ctx, buf, 16, (uint64_t)INT64_MAX, &got), VHDX_OK);
    assert_int_equal(got, 0);
    assert_status(io.read(io.ctx, buf, 16, (uint64_t)INT64_MAX - 4, &got), VHDX_OK);
    assert_int_equal(got, 0);
    assert_status(io.write(io.ctx, buf, 1, over), VHDX_E_RANGE);
    /* The end of the write must fit too. */
    assert_status(io.write(io.ctx, buf, 2, (uint64_t)INT64_MAX), VHDX_E_RANGE);
    assert_status(io.write(io.ctx, buf, 16, UINT64_MAX - 3), VHDX_E_RANGE);
    assert_status(io.truncate(io.ctx, over), VHDX_E_RANGE);

    vhdx_io_close(&io);
    scratch_remove(&s);
}

static void test_fd_own_fd_closes_descriptor(void **state)
{
    struct scratch s;
    vhdx_io io;
    int fd;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);
    fd = open_scratch(&s, "f", O_RDONLY);
    assert_status(vhdx_io_from_fd(fd, 0, 1, &io), VHDX_OK);
    vhdx_io_close(&io);
    assert_false(fd_is_open(fd));
    assert_null(io.ctx);
    assert_null(io.read);
    scratch_remove(&s);
}

static void test_fd_not_own_fd_leaves_descriptor_open(void **state)
{
    struct scratch s;
    vhdx_io io;
    int fd;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);
    fd = open_scratch(&s, "f", O_RDONLY);
    assert_status(vhdx_io_from_fd(fd, 0, 0, &io), VHDX_OK);
    vhdx_io_close(&io);
    assert_true(fd_is_open(fd));
    assert_int_equal(close(fd), 0);
    scratch_remove(&s);
}

static void test_fd_rejects_unusable_descriptors(void **state)
{
    struct scratch s;
    vhdx_io io;
    int fd;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "abc", 3);

    assert_status(vhdx_io_from_fd(-1, 0, 0, &io), VHDX_E_INVALID_ARG);
    assert_null(io.read);
    assert_status(vhdx_io_from_fd(0, 0, 0, NULL), VHDX_E_INVALID_ARG);
    /* A closed descriptor. */
    fd = open_scratch(&s, "f", O_RDONLY);
    assert_int_equal(close(fd), 0);
    assert_status(vhdx_io_from_fd(fd, 0, 0, &io), VHDX_E_INVALID_ARG);
    /* Writable io over a read-only descriptor, and any io over a write-only one. */
    fd = open_scratch(&s, "f", O_RDONLY);
    assert_status(vhdx_io_from_fd(fd, 1, 1, &io), VHDX_E_INVALID_ARG);
    assert_true(fd_is_open(fd)); /* not taken over on failure */
    assert_int_equal(close(fd), 0);
    fd = open_scratch(&s, "f", O_WRONLY);
    assert_status(vhdx_io_from_fd(fd, 0, 1, &io), VHDX_E_INVALID_ARG);
    assert_int_equal(close(fd), 0);
    scratch_remove(&s);
}

static void test_fd_read_error_is_io(void **state)
{
    int p[2];
    uint8_t buf[4];
    size_t got = 9;
    vhdx_io io;
    (void)state;
    /* pread on a pipe fails (ESPIPE): the back end reports VHDX_E_IO. */
    assert_int_equal(pipe(p), 0);
    assert_status(vhdx_io_from_fd(p[0], 0, 0, &io), VHDX_OK);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_E_IO);
    assert_int_equal(got, 0);
    vhdx_io_close(&io);
    assert_int_equal(close(p[0]), 0);
    assert_int_equal(close(p[1]), 0);
}

/* Every write, flush and truncate /dev/full refuses is VHDX_E_IO (flush tries fsync too). */
static void test_fd_write_flush_truncate_failures_are_io(void **state)
{
    uint8_t data[64] = {1};
    vhdx_io io;
    int fd;
    (void)state;
    fd = open("/dev/full", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        skip();
    assert_status(vhdx_io_from_fd(fd, 1, 1, &io), VHDX_OK);
    assert_status(io.write(io.ctx, data, sizeof(data), 0), VHDX_E_IO);
    assert_status(io.flush(io.ctx), VHDX_E_IO);
    assert_status(io.truncate(io.ctx, 4096), VHDX_E_IO);
    vhdx_io_close(&io);
}

/* Past the write-behind threshold (64 MiB) the data is still exactly what was written. */
static void test_fd_long_write_run_past_write_behind(void **state)
{
    struct scratch s;
    static uint8_t chunk[1u << 20], back[1u << 20];
    uint64_t size = 0;
    size_t got;
    vhdx_io io;
    (void)state;
    scratch_make(&s);
    write_file(&s, "f", "", 0);
    assert_status(vhdx_io_from_fd(open_scratch(&s, "f", O_RDWR), 1, 1, &io), VHDX_OK);
    for (unsigned i = 0; i < 65; i++) {
        fill_pattern(chunk, sizeof(chunk), (uint8_t)i);
        assert_status(io.write(io.ctx, chunk, sizeof(chunk), (uint64_t)i << 20), VHDX_OK);
    }
    assert_status(io.flush(io.ctx), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 65u << 20);
    for (unsigned i = 63; i < 65; i++) {
        fill_pattern(chunk, sizeof(chunk), (uint8_t)i);
        assert_status(io.read(io.ctx, back, sizeof(back), (uint64_t)i << 20, &got), VHDX_OK);
        assert_int_equal(got, sizeof(back));
        assert_memory_equal(back, chunk, sizeof(back));
    }
    vhdx_io_close(&io);
    scratch_remove(&s);
}

/* ------------------------------------------------------------------------
 * memory back end
 * ------------------------------------------------------------------------ */

static void test_memory_read_at_end_gives_short_count(void **state)
{
    uint8_t data[64], buf[64];
    vhdx_io io;
    size_t got = 99;
    uint64_t size = 0;
    (void)state;
    fill_pattern(data, sizeof(data), 5);
    assert_status(vhdx_io_from_memory(data, sizeof(data), &io), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 64);

    assert_status(io.read(io.ctx, buf, 64, 0, &got), VHDX_OK);
    assert_int_equal(got, 64);
    assert_memory_equal(buf, data, 64);
    assert_status(io.read(io.ctx, buf, 64, 60, &got), VHDX_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, data + 60, 4);
    assert_status(io.read(io.ctx, buf, 1, 64, &got), VHDX_OK);
    assert_int_equal(got, 0);
    assert_status(io.read(io.ctx, buf, 1, UINT64_MAX, &got), VHDX_OK);
    assert_int_equal(got, 0);
    vhdx_io_close(&io);
}

static void test_memory_is_read_only(void **state)
{
    uint8_t data[8] = {0};
    vhdx_io io;
    (void)state;
    assert_status(vhdx_io_from_memory(data, sizeof(data), &io), VHDX_OK);
    assert_null(io.write);
    assert_null(io.truncate);
    assert_null(io.flush);
    vhdx_io_close(&io);
}

static void test_memory_zero_length(void **state)
{
    uint8_t data[1] = {42}, buf[4];
    vhdx_io io;
    size_t got = 5;
    uint64_t size = 7;
    (void)state;
    assert_status(vhdx_io_from_memory(NULL, 0, &io), VHDX_OK);
    assert_status(io.size(io.ctx, &size), VHDX_OK);
    assert_int_equal(size, 0);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 0);
    vhdx_io_close(&io);

    assert_status(vhdx_io_from_memory(data, 0, &io), VHDX_OK);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 0);
    vhdx_io_close(&io);
}

static void test_memory_rejects_null_data_with_length(void **state)
{
    vhdx_io io;
    (void)state;
    assert_status(vhdx_io_from_memory(NULL, 10, &io), VHDX_E_INVALID_ARG);
    assert_null(io.ctx);
    assert_status(vhdx_io_from_memory("x", 1, NULL), VHDX_E_INVALID_ARG);
}

static void test_io_close_clears_and_tolerates_null(void **state)
{
    vhdx_io io;
    (void)state;
    vhdx_io_close(NULL);
    memset(&io, 0, sizeof(io));
    vhdx_io_close(&io); /* no close callback */
    assert_status(vhdx_io_from_memory("abc", 3, &io), VHDX_OK);
    vhdx_io_close(&io);
    assert_null(io.ctx);
    assert_null(io.read);
    assert_null(io.size);
    assert_null(io.close);
    vhdx_io_close(&io); /* twice is harmless */
}

/* ------------------------------------------------------------------------
 * overlay back end
 * ------------------------------------------------------------------------ */

static vhdx_status base_write_forbidden(void *ctx, const void *buf, size_t len, uint64_t off)
{
    (void)ctx;
    (void)buf;
    fail_msg("overlay wrote %zu bytes at %llu to its base", len, (unsigned long long)off);
    return VHDX_E_IO;
}

static vhdx_status base_truncate_forbidden(void *ctx, uint64_t size)
{
    (void)ctx;
    fail_msg("overlay truncated its base to %llu", (unsigned long long)size);
    return VHDX_E_IO;
}

static vhdx_status base_flush_forbidden(void *ctx)
{
    (void)ctx;
    fail_msg("overlay flushed its base");
    return VHDX_E_IO;
}

/* A memory base whose write, truncate and flush fail the test when called. */
static void make_base(vhdx_io *base, const uint8_t *data, size_t len)
{
    assert_status(vhdx_io_from_memory(data, len, base), VHDX_OK);
    base->write = base_write_forbidden;
    base->truncate = base_truncate_forbidden;
    base->flush = base_flush_forbidden;
}

/* A recording allocator: counts calls and bytes, can fail from the n-th call. */
struct recorder {
    size_t allocs; /* calls, failed ones included */
    size_t ok;     /* allocations handed out */
    size_t frees;
    long fail_from; /* fail every alloc call numbered >= this (1-based); 0: never */
};

static void *rec_alloc(void *ctx, size_t size)
{
    struct recorder *r = ctx;
    void *p;
    r->allocs++;
    if (r->fail_from > 0 && r->allocs >= (size_t)r->fail_from)
        return NULL;
    p = malloc(size);
    if (p != NULL)
        r->ok++;
    return p;
}

static void rec_free(void *ctx, void *ptr, size_t size)
{
    struct recorder *r = ctx;
    (void)size;
    r->frees++;
    free(ptr);
}

static void acct_with_recorder(struct alloc_acct *acct, struct recorder *r, uint64_t limit)
{
    vhdx_allocator a = {rec_alloc, rec_free, r};
    memset(r, 0, sizeof(*r));
    alloc_acct_init(acct, &a, limit);
}

static void overlay_read_all(vhdx_io *ov, uint8_t *buf, size_t len, uint64_t off, size_t want)
{
    size_t got = 12345;
    assert_status(ov->read(ov->ctx, buf, len, off, &got), VHDX_OK);
    assert_int_equal(got, want);
}

static uint64_t overlay_size_of(vhdx_io *ov)
{
    uint64_t size = 0;
    assert_status(ov->size(ov->ctx, &size), VHDX_OK);
    return size;
}

static void test_overlay_reads_through_to_base(void **state)
{
    static uint8_t data[10000], buf[12000];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 11);
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    assert_int_equal(overlay_size_of(&ov), 10000);
    overlay_read_all(&ov, buf, sizeof(buf), 0, 10000);
    assert_memory_equal(buf, data, 10000);
    overlay_read_all(&ov, buf, 100, 9950, 50);
    assert_memory_equal(buf, data + 9950, 50);
    overlay_read_all(&ov, buf, 100, 10000, 0);
    assert_int_equal(io_overlay_pages(&ov), 0);
    assert_non_null(ov.write);
    assert_non_null(ov.truncate);
    assert_status(ov.flush(ov.ctx), VHDX_OK);

    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    vhdx_io_close(&base);
}

static void test_overlay_write_then_read_back_leaves_base_untouched(void **state)
{
    static uint8_t data[3 * PAGE], copy[3 * PAGE], buf[3 * PAGE];
    uint8_t w[100];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 1);
    memcpy(copy, data, sizeof(data));
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    fill_pattern(w, sizeof(w), 200);
    assert_status(ov.write(ov.ctx, w, sizeof(w), 5000), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 1);
    overlay_read_all(&ov, buf, 100, 5000, 100);
    assert_memory_equal(buf, w, 100);
    overlay_read_all(&ov, buf, sizeof(buf), 0, sizeof(buf));
    assert_memory_equal(buf, copy, 5000);
    assert_memory_equal(buf + 5100, copy + 5100, sizeof(buf) - 5100);
    assert_int_equal(overlay_size_of(&ov), sizeof(data));
    assert_memory_equal(data, copy, sizeof(data));

    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    vhdx_io_close(&base);
}

static void test_overlay_partial_page_writes_merge_with_base(void **state)
{
    static uint8_t data[2 * PAGE], expect[2 * PAGE], buf[2 * PAGE];
    const uint8_t w[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 77);
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    /* Straddles the boundary of pages 0 and 1: both are copied from the base first. */
    assert_status(ov.write(ov.ctx, w, sizeof(w), PAGE - 4), VHDX_OK);
    assert_status(ov.write(ov.ctx, w, 1, 3), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 2);
    memcpy(expect, data, sizeof(data));
    memcpy(expect + PAGE - 4, w, sizeof(w));
    expect[3] = w[0];
    overlay_read_all(&ov, buf, sizeof(buf), 0, sizeof(buf));
    assert_memory_equal(buf, expect, sizeof(buf));
    /* A read starting inside a held page and ending inside another. */
    overlay_read_all(&ov, buf, 20, PAGE - 10, 20);
    assert_memory_equal(buf, expect + PAGE - 10, 20);

    vhdx_io_close(&ov);
    vhdx_io_close(&base);
}

static void test_overlay_write_past_base_end_reads_zeros_between(void **state)
{
    static uint8_t data[5000], buf[20004];
    const uint8_t w[4] = {0xDE, 0xAD, 0xBE, 0xEF};
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 33);
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    assert_status(ov.write(ov.ctx, w, sizeof(w), 20000), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 20004);
    overlay_read_all(&ov, buf, sizeof(buf) + 0, 0, 20004);
    assert_memory_equal(buf, data, 5000);
    assert_zeros(buf + 5000, 15000);
    assert_memory_equal(buf + 20000, w, 4);
    /* A write that ends before the size does not shrink it. */
    assert_status(ov.write(ov.ctx, w, 1, 100), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 20004);
    /* The page holding the base's end: base bytes, then zeros (base page 1 is copied). */
    assert_status(ov.write(ov.ctx, w, 1, 4096), VHDX_OK);
    overlay_read_all(&ov, buf, PAGE, PAGE, PAGE);
    assert_int_equal(buf[0], w[0]);
    assert_memory_equal(buf + 1, data + PAGE + 1, 5000 - PAGE - 1);
    assert_zeros(buf + 5000 - PAGE, 2 * PAGE - 5000);

    vhdx_io_close(&ov);
    vhdx_io_close(&base);
}

static void test_overlay_truncate_shrink_hides_and_grow_reads_zeros(void **state)
{
    static uint8_t data[10000], buf[10000];
    uint8_t w[4000];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 4);
    fill_pattern(w, sizeof(w), 99);
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    /* Pages 0 and 1 held; the cut at 3000 falls inside page 0 and drops page 1. */
    assert_status(ov.write(ov.ctx, w, sizeof(w), 2000), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 2);
    assert_status(ov.truncate(ov.ctx, 3000), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 3000);
    assert_int_equal(io_overlay_pages(&ov), 1);
    overlay_read_all(&ov, buf, sizeof(buf), 0, 3000);
    assert_memory_equal(buf, data, 2000);
    assert_memory_equal(buf + 2000, w, 1000);
    overlay_read_all(&ov, buf, 10, 3000, 0);

    /* Growing again: neither the old overlay bytes nor the base come back. */
    assert_status(ov.truncate(ov.ctx, 10000), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 10000);
    overlay_read_all(&ov, buf, sizeof(buf), 0, 10000);
    assert_memory_equal(buf, data, 2000);
    assert_memory_equal(buf + 2000, w, 1000);
    assert_zeros(buf + 3000, 7000);

    /* A later write inside the regrown part copies zeros, not base bytes. */
    assert_status(ov.write(ov.ctx, w, 1, 9000), VHDX_OK);
    overlay_read_all(&ov, buf, 1000, 8192, 1000);
    assert_zeros(buf, 9000 - 8192);
    assert_int_equal(buf[9000 - 8192], w[0]);
    assert_zeros(buf + 9000 - 8192 + 1, 1000 - (9000 - 8192 + 1));

    /* Shrinking to a page boundary and to zero. */
    assert_status(ov.truncate(ov.ctx, PAGE), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 1);
    assert_status(ov.truncate(ov.ctx, 0), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 0);
    assert_int_equal(overlay_size_of(&ov), 0);
    overlay_read_all(&ov, buf, 10, 0, 0);
    assert_status(ov.truncate(ov.ctx, 50), VHDX_OK);
    overlay_read_all(&ov, buf, 100, 0, 50);
    assert_zeros(buf, 50);

    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    vhdx_io_close(&base);
}

static void test_overlay_size_is_max_of_base_writes_and_truncate(void **state)
{
    static uint8_t data[8192];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 8192);
    assert_status(ov.write(ov.ctx, "a", 1, 100), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 8192);
    assert_status(ov.truncate(ov.ctx, 1u << 20), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), 1u << 20);
    assert_status(ov.write(ov.ctx, "a", 1, 1u << 21), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), (1u << 21) + 1);
    vhdx_io_close(&ov);
    vhdx_io_close(&base);
}

static void test_overlay_never_writes_base(void **state)
{
    static uint8_t data[3 * PAGE], copy[3 * PAGE], big[5 * PAGE];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 8);
    memcpy(copy, data, sizeof(data));
    fill_pattern(big, sizeof(big), 61);
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    /* Every operation of the overlay; the base's write/truncate/flush fail the test. */
    assert_status(ov.write(ov.ctx, big, sizeof(big), 1), VHDX_OK);
    assert_status(ov.truncate(ov.ctx, 10), VHDX_OK);
    assert_status(ov.truncate(ov.ctx, 1u << 20), VHDX_OK);
    assert_status(ov.flush(ov.ctx), VHDX_OK);
    vhdx_io_close(&ov);
    assert_memory_equal(data, copy, sizeof(data));
    vhdx_io_close(&base);
}

static void test_overlay_page_limit_is_limit_and_view_unchanged(void **state)
{
    static uint8_t data[PAGE], buf[6 * PAGE], w[6 * PAGE];
    struct alloc_acct acct;
    struct recorder r;
    vhdx_io base, ov;
    uint64_t per_page_start;
    (void)state;
    fill_pattern(data, sizeof(data), 2);
    fill_pattern(w, sizeof(w), 150);
    make_base(&base, data, sizeof(data));
    acct_with_recorder(&acct, &r, 0);
    assert_status(io_overlay_create(&base, &acct, 3 * PAGE, &ov), VHDX_OK);

    assert_status(ov.write(ov.ctx, w, 1, 0), VHDX_OK);
    /* Each further page costs exactly one 4 KiB allocation. */
    per_page_start = acct.in_use;
    assert_status(ov.write(ov.ctx, w, 1, 1 * PAGE), VHDX_OK);
    assert_int_equal(acct.in_use, per_page_start + PAGE);
    assert_status(ov.write(ov.ctx, w, 1, 2 * PAGE), VHDX_OK);
    assert_int_equal(acct.in_use, per_page_start + 2 * PAGE);
    assert_int_equal(io_overlay_pages(&ov), 3);

    /* A fourth page is over max_bytes. Pages already held can still be written. */
    assert_status(ov.write(ov.ctx, w, 1, 3 * PAGE), VHDX_E_LIMIT);
    assert_status(ov.write(ov.ctx, w, 2 * PAGE, PAGE), VHDX_OK);
    assert_int_equal(io_overlay_pages(&ov), 3);
    assert_int_equal(acct.in_use, per_page_start + 2 * PAGE);
    assert_true(acct.peak >= acct.in_use);
    assert_int_equal(overlay_size_of(&ov), 3 * PAGE);

    /* A write over held and new pages fails whole: nothing of it shows. */
    overlay_read_all(&ov, buf, sizeof(buf), 0, 3 * PAGE);
    assert_status(ov.write(ov.ctx, w + 7, 3 * PAGE, 2 * PAGE), VHDX_E_LIMIT);
    {
        static uint8_t after[6 * PAGE];
        overlay_read_all(&ov, after, sizeof(after), 0, 3 * PAGE);
        assert_memory_equal(after, buf, 3 * PAGE);
    }
    assert_int_equal(overlay_size_of(&ov), 3 * PAGE);

    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(r.ok, r.frees);
    vhdx_io_close(&base);
}

static void test_overlay_acct_limit_is_limit(void **state)
{
    static uint8_t data[PAGE];
    struct alloc_acct acct;
    vhdx_io base, ov;
    int pages = 0;
    vhdx_status st = VHDX_OK;
    (void)state;
    make_base(&base, data, sizeof(data));
    /* The accountant's own limit also stops it (index and context count there). */
    alloc_acct_init(&acct, NULL, 10 * PAGE);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    for (pages = 0; pages < 20; pages++) {
        st = ov.write(ov.ctx, "x", 1, (uint64_t)pages * PAGE);
        if (st != VHDX_OK)
            break;
    }
    assert_status(st, VHDX_E_LIMIT);
    assert_true(pages >= 8 && pages < 10);
    assert_true(acct.in_use <= 10 * PAGE);
    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    vhdx_io_close(&base);
}

static void test_overlay_allocator_failure_is_nomem_and_view_unchanged(void **state)
{
    static uint8_t data[2 * PAGE], before[2 * PAGE], after[2 * PAGE];
    struct alloc_acct acct;
    struct recorder r;
    vhdx_io base, ov;
    (void)state;
    fill_pattern(data, sizeof(data), 19);
    make_base(&base, data, sizeof(data));

    /* Allocation 1 is the context, 2 the first page, 3 the index. */
    for (long fail_from = 1; fail_from <= 4; fail_from++) {
        vhdx_status st;
        acct_with_recorder(&acct, &r, 0);
        r.fail_from = fail_from;
        st = io_overlay_create(&base, &acct, 0, &ov);
        if (fail_from == 1) {
            assert_status(st, VHDX_E_NOMEM);
            assert_null(ov.ctx);
            assert_int_equal(acct.in_use, 0);
            continue;
        }
        assert_status(st, VHDX_OK);
        overlay_read_all(&ov, before, sizeof(before), 0, sizeof(before));
        /* Spans pages 0 and 1: page 0, the index, then page 1 are allocated. */
        st = ov.write(ov.ctx, "zz", 2, PAGE - 1);
        assert_status(st, VHDX_E_NOMEM);
        overlay_read_all(&ov, after, sizeof(after), 0, sizeof(after));
        assert_memory_equal(before, after, sizeof(before));
        vhdx_io_close(&ov);
        assert_int_equal(acct.in_use, 0);
        assert_int_equal(r.ok, r.frees);
    }
    vhdx_io_close(&base);
}

static vhdx_status base_read_fails(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    (void)ctx;
    (void)buf;
    (void)len;
    (void)off;
    *got = 0;
    return VHDX_E_IO;
}

static vhdx_status base_size_fails(void *ctx, uint64_t *size)
{
    (void)ctx;
    (void)size;
    return VHDX_E_IO;
}

static void test_overlay_base_read_error_propagates(void **state)
{
    static uint8_t data[2 * PAGE], buf[PAGE];
    struct alloc_acct acct;
    vhdx_io base, ov;
    size_t got = 5;
    (void)state;
    make_base(&base, data, sizeof(data));
    base.read = base_read_fails;
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    assert_status(ov.read(ov.ctx, buf, sizeof(buf), 0, &got), VHDX_E_IO);
    /* The copy-on-write read fails: no page is kept. */
    assert_status(ov.write(ov.ctx, "a", 1, 10), VHDX_E_IO);
    assert_int_equal(io_overlay_pages(&ov), 0);
    /* Past the base's end nothing is read from it. */
    assert_status(ov.write(ov.ctx, "a", 1, 2 * PAGE + 5), VHDX_OK);
    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    vhdx_io_close(&base);
}

/* A base that shrank under the overlay (or lies about its size), or overreports a read. */
struct shrunk_base {
    const uint8_t *data;
    size_t len;          /* what read() delivers */
    uint64_t claimed;    /* what size() says */
    int overreport;      /* read() says it got one byte more than asked */
};

static vhdx_status shrunk_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    const struct shrunk_base *b = ctx;
    size_t n = 0;
    if (off < b->len) {
        n = b->len - off < len ? (size_t)(b->len - off) : len;
        memcpy(buf, b->data + off, n);
    }
    *got = b->overreport ? len + 1 : n;
    return VHDX_OK;
}

static vhdx_status shrunk_size(void *ctx, uint64_t *size)
{
    *size = ((const struct shrunk_base *)ctx)->claimed;
    return VHDX_OK;
}

static void test_overlay_over_a_shrunk_or_lying_base(void **state)
{
    static uint8_t data[4096], buf[8192];
    struct shrunk_base b = {data, sizeof(data), 8192, 0};
    struct alloc_acct acct;
    vhdx_io base, ov;
    uint64_t where = 0;
    size_t got = 0;
    (void)state;
    fill_pattern(data, sizeof(data), 3);
    memset(&base, 0, sizeof(base));
    base.ctx = &b;
    base.read = shrunk_read;
    base.size = shrunk_size;
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    /* What the base no longer has reads as zeros, up to the size it had. */
    memset(buf, 0xEE, sizeof(buf));
    assert_status(ov.read(ov.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, sizeof(buf));
    assert_memory_equal(buf, data, sizeof(data));
    assert_zeros(buf + sizeof(data), sizeof(buf) - sizeof(data));
    /* The page list: none yet; asking past it is refused. */
    assert_int_equal(io_overlay_pages(&ov), 0);
    assert_false(io_overlay_page_offset(&ov, 0, &where));
    assert_int_equal(io_overlay_pages(&base), 0);
    assert_false(io_overlay_page_offset(&base, 0, &where));
    /* A base claiming more bytes than asked for is broken: VHDX_E_IO. */
    b.overreport = 1;
    assert_status(ov.read(ov.ctx, buf, 100, 0, &got), VHDX_E_IO);
    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
}

static void test_overlay_create_rejects_bad_base(void **state)
{
    static uint8_t data[16];
    struct alloc_acct acct;
    vhdx_io base, bad, ov;
    (void)state;
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    bad = base;
    bad.read = NULL;
    assert_status(io_overlay_create(&bad, &acct, 0, &ov), VHDX_E_INVALID_ARG);
    assert_null(ov.ctx);
    bad = base;
    bad.size = NULL;
    assert_status(io_overlay_create(&bad, &acct, 0, &ov), VHDX_E_INVALID_ARG);
    bad = base;
    bad.size = base_size_fails;
    assert_status(io_overlay_create(&bad, &acct, 0, &ov), VHDX_E_IO);
    assert_status(io_overlay_create(NULL, &acct, 0, &ov), VHDX_E_INVALID_ARG);
    assert_status(io_overlay_create(&base, NULL, 0, &ov), VHDX_E_INVALID_ARG);
    assert_status(io_overlay_create(&base, &acct, 0, NULL), VHDX_E_INVALID_ARG);
    assert_int_equal(acct.in_use, 0);
    /* io_overlay_pages on something that is not an overlay. */
    assert_int_equal(io_overlay_pages(&base), 0);
    assert_int_equal(io_overlay_pages(NULL), 0);
    vhdx_io_close(&base);
}

static void test_overlay_write_range_overflow_is_range(void **state)
{
    static uint8_t data[16];
    struct alloc_acct acct;
    vhdx_io base, ov;
    (void)state;
    make_base(&base, data, sizeof(data));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);
    assert_status(ov.write(ov.ctx, "ab", 2, UINT64_MAX), VHDX_E_RANGE);
    assert_int_equal(io_overlay_pages(&ov), 0);
    /* The very last byte of the 64-bit space is a valid page. */
    assert_status(ov.write(ov.ctx, "a", 1, UINT64_MAX - 1), VHDX_OK);
    assert_int_equal(overlay_size_of(&ov), UINT64_MAX);
    {
        uint8_t b[2] = {0};
        overlay_read_all(&ov, b, 2, UINT64_MAX - 2, 2);
        assert_int_equal(b[0], 0);
        assert_int_equal(b[1], 'a');
    }
    vhdx_io_close(&ov);
    vhdx_io_close(&base);
}

/* The test's own model: which version of each page was written last. */
struct ref_page {
    uint64_t no;
    uint32_t version;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref_page *x = a, *y = b;
    return x->no < y->no ? -1 : x->no > y->no;
}

static void page_content(uint8_t *buf, uint64_t no, uint32_t version)
{
    struct test_rng rng;
    test_rng_seed(&rng, no * 1000003u + version + 1);
    test_rng_fill(&rng, buf, PAGE);
}

static void test_overlay_page_lookup_matches_reference_over_10000_pages(void **state)
{
    enum { WRITES = 10000, SPACE_PAGES = 1u << 20 };
    static uint8_t base_data[3 * PAGE];
    static struct ref_page ref[WRITES];
    static uint8_t run[64 * PAGE], expect_run[64 * PAGE];
    uint8_t page[PAGE], got_page[PAGE];
    struct alloc_acct acct;
    struct recorder r;
    struct test_rng rng;
    vhdx_io base, ov;
    size_t nref = 0;
    uint64_t max_end = sizeof(base_data);
    (void)state;
    test_rng_seed(&rng, 0x10DE5EED);
    test_rng_fill(&rng, base_data, sizeof(base_data));
    make_base(&base, base_data, sizeof(base_data));
    acct_with_recorder(&acct, &r, 0);
    assert_status(io_overlay_create(&base, &acct, 0, &ov), VHDX_OK);

    for (uint32_t i = 0; i < WRITES; i++) {
        uint64_t no;
        struct ref_page *hit = NULL;
        uint64_t pick = test_rng_next(&rng);
        /* A mix: a dense run at the start, rewrites of earlier pages, and scattered pages. */
        if (pick % 8 == 0)
            no = test_rng_next(&rng) % 64;
        else if (pick % 8 == 1 && nref > 0)
            no = ref[test_rng_next(&rng) % nref].no;
        else
            no = test_rng_next(&rng) % SPACE_PAGES;
        for (size_t j = 0; j < nref; j++)
            if (ref[j].no == no) {
                hit = &ref[j];
                break;
            }
        if (hit == NULL) {
            hit = &ref[nref++];
            hit->no = no;
        }
        hit->version = i;
        page_content(page, no, i);
        assert_status(ov.write(ov.ctx, page, PAGE, no * PAGE), VHDX_OK);
        if ((no + 1) * PAGE > max_end)
            max_end = (no + 1) * PAGE;
    }
    assert_int_equal(io_overlay_pages(&ov), nref);
    assert_int_equal(overlay_size_of(&ov), max_end);

    /* Every written page reads back as its last version. */
    qsort(ref, nref, sizeof(ref[0]), ref_cmp);
    for (size_t j = 0; j < nref; j++) {
        page_content(page, ref[j].no, ref[j].version);
        overlay_read_all(&ov, got_page, PAGE, ref[j].no * PAGE, PAGE);
        if (memcmp(page, got_page, PAGE) != 0)
            fail_msg("page %llu differs", (unsigned long long)ref[j].no);
    }
    /* Unwritten pages read as the base (pages 0-2) or zeros. */
    for (uint32_t k = 0; k < 2000; k++) {
        struct ref_page key = {test_rng_next(&rng) % SPACE_PAGES, 0};
        if (bsearch(&key, ref, nref, sizeof(ref[0]), ref_cmp) != NULL)
            continue;
        if (key.no * PAGE >= max_end)
            continue;
        overlay_read_all(&ov, got_page, PAGE, key.no * PAGE, PAGE);
        if (key.no < 3)
            assert_memory_equal(got_page, base_data + key.no * PAGE, PAGE);
        else
            assert_zeros(got_page, PAGE);
    }
    /* One read across the dense run: held pages, base pages and zero pages merged. */
    for (uint64_t no = 0; no < 64; no++) {
        struct ref_page key = {no, 0};
        const struct ref_page *hit = bsearch(&key, ref, nref, sizeof(ref[0]), ref_cmp);
        uint8_t *dst = expect_run + no * PAGE;
        if (hit != NULL)
            page_content(dst, no, hit->version);
        else if (no < 3)
            memcpy(dst, base_data + no * PAGE, PAGE);
        else
            memset(dst, 0, PAGE);
    }
    overlay_read_all(&ov, run, sizeof(run) - 100, 100, sizeof(run) - 100);
    assert_memory_equal(run, expect_run + 100, sizeof(run) - 100);

    vhdx_io_close(&ov);
    assert_int_equal(acct.in_use, 0);
    assert_int_equal(r.ok, r.frees);
    vhdx_io_close(&base);
}

/* ------------------------------------------------------------------------
 * path resolution
 * ------------------------------------------------------------------------ */

/*
 * The layout every path test uses:
 *   <tmp>/outside.vhdx
 *   <tmp>/child/p.vhdx, child/sub/q.vhdx, child/dir.vhdx/ (a directory),
 *   child/fifo.vhdx (a FIFO), child/link_out -> ../outside.vhdx,
 *   child/link_in -> p.vhdx, child/up -> .. (a directory symlink)
 */
struct tree {
    struct scratch s;
    char child[PATH_MAX];
};

static void tree_make(struct tree *t)
{
    char real[PATH_MAX];
    scratch_make(&t->s);
    /* The temp dir's real path, so resolved paths compare as strings. */
    assert_non_null(realpath(t->s.dir, real));
    strcpy(t->s.dir, real);
    write_file(&t->s, "outside.vhdx", "OUT", 3);
    make_dir(&t->s, "child");
    make_dir(&t->s, "child/sub");
    make_dir(&t->s, "child/dir.vhdx");
    write_file(&t->s, "child/p.vhdx", "PPP", 3);
    write_file(&t->s, "child/sub/q.vhdx", "QQQ", 3);
    make_fifo(&t->s, "child/fifo.vhdx");
    make_symlink(&t->s, "../outside.vhdx", "child/link_out");
    make_symlink(&t->s, "p.vhdx", "child/link_in");
    make_symlink(&t->s, "..", "child/up");
    scratch_path(&t->s, "child", t->child);
}

static void tree_path(const struct tree *t, const char *name, char *out)
{
    scratch_path(&t->s, name, out);
}

/*
 * What every resolution must leave: on success a read-only io (closed
 * here), on failure no io and an empty resolved path. Returns `st`.
 */
static vhdx_status check_resolution(vhdx_status st, vhdx_io *io, const char *resolved)
{
    if (st == VHDX_OK) {
        assert_non_null(io->read);
        assert_null(io->write); /* parents are always read-only */
        vhdx_io_close(io);
    } else {
        assert_null(io->ctx);
        assert_string_equal(resolved, "");
    }
    return st;
}

/* Resolves key=value against the child directory (`resolved` may be NULL). */
static vhdx_status resolve(const struct tree *t, const char *key, const char *value,
                           char *resolved)
{
    vhdx_io io;
    char buf[PATH_MAX];
    char *out = resolved ? resolved : buf;
    return check_resolution(io_path_resolve_parent(t->child, key, value, &io, out, PATH_MAX),
                            &io, out);
}

static void test_path_relative_backslashes_resolve_in_child_dir(void **state)
{
    struct tree t;
    char resolved[PATH_MAX], want[PATH_MAX];
    vhdx_io io;
    uint8_t buf[8];
    size_t got;
    (void)state;
    tree_make(&t);

    assert_status(io_path_resolve_parent(t.child, "relative_path", "sub\\q.vhdx", &io, resolved,
                                         sizeof(resolved)),
                  VHDX_OK);
    tree_path(&t, "child/sub/q.vhdx", want);
    assert_string_equal(resolved, want);
    assert_status(io.read(io.ctx, buf, sizeof(buf), 0, &got), VHDX_OK);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "QQQ", 3);
    vhdx_io_close(&io);

    tree_path(&t, "child/p.vhdx", want);
    assert_status(resolve(&t, "relative_path", "p.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    assert_status(resolve(&t, "relative_path", ".\\sub\\..\\p.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    assert_status(resolve(&t, "relative_path", "sub\\\\..\\p.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    /* A symlink that stays inside is followed. */
    assert_status(resolve(&t, "relative_path", "link_in", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    scratch_remove(&t.s);
}

static void test_path_relative_escaping_with_dotdot_refused(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "relative_path", "..\\outside.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "sub\\..\\..\\outside.vhdx", NULL),
                  VHDX_E_INVALID_ARG);
    /* Refused even when the target does not exist: the path itself is the problem. */
    assert_status(resolve(&t, "relative_path", "..\\..\\nothere.vhdx", NULL),
                  VHDX_E_INVALID_ARG);
    /* Climbing out and back in is refused too (strict). */
    assert_status(resolve(&t, "relative_path", "..\\child\\p.vhdx", NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

static void test_path_relative_symlink_escaping_refused(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "relative_path", "link_out", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "up\\outside.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\x\\link_out", NULL),
                  VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

static void test_path_relative_absolute_forms_refused(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "relative_path", "\\p.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "\\\\server\\share\\p.vhdx", NULL),
                  VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "C:\\p.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "c:p.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "/etc/passwd", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "", NULL), VHDX_E_INVALID_ARG);
    /* Names the directory itself. */
    assert_status(resolve(&t, "relative_path", ".", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "sub\\..", NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

static void test_path_absolute_win32_and_volume_use_basename(void **state)
{
    struct tree t;
    char resolved[PATH_MAX], want[PATH_MAX];
    (void)state;
    tree_make(&t);
    tree_path(&t, "child/p.vhdx", want);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\D:\\elsewhere\\deep\\p.vhdx",
                          resolved),
                  VHDX_OK);
    assert_string_equal(resolved, want);
    assert_status(resolve(&t, "volume_path",
                          "\\\\?\\Volume{26A21BDA-A627-11D7-9931-806E6F6E6963}\\a\\p.vhdx",
                          resolved),
                  VHDX_OK);
    assert_string_equal(resolved, want);
    /* The directory part is never used, even when it would escape. */
    assert_status(resolve(&t, "absolute_win32_path", "..\\..\\p.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    /* q.vhdx is only in child/sub: the basename alone is looked up in child. */
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\child\\sub\\q.vhdx", NULL),
                  VHDX_E_MISSING);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\x\\..", NULL),
                  VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\x\\", NULL),
                  VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "volume_path", "", NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

static void test_path_missing_file_is_missing(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "relative_path", "nothere.vhdx", NULL), VHDX_E_MISSING);
    assert_status(resolve(&t, "relative_path", "nodir\\p.vhdx", NULL), VHDX_E_MISSING);
    assert_status(resolve(&t, "relative_path", "p.vhdx\\x", NULL), VHDX_E_MISSING);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\nothere.vhdx", NULL),
                  VHDX_E_MISSING);
    assert_status(resolve(&t, "volume_path", "\\\\?\\Volume{x}\\nothere.vhdx", NULL),
                  VHDX_E_MISSING);
    scratch_remove(&t.s);
}

static void test_path_fifo_refused_without_blocking(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    /* If the open blocked waiting for a writer, the alarm would kill the suite. */
    alarm(10);
    assert_status(resolve(&t, "relative_path", "fifo.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\fifo.vhdx", NULL),
                  VHDX_E_INVALID_ARG);
    alarm(0);
    scratch_remove(&t.s);
}

/* Resolves key=value against the child directory with the caller's allowed directories. */
static vhdx_status resolve_in(const struct tree *t, const char *const *allowed, const char *key,
                              const char *value, char *resolved)
{
    vhdx_io io;
    char buf[PATH_MAX];
    char *out = resolved ? resolved : buf;
    return check_resolution(
        io_path_resolve_parent_in(t->child, allowed, key, value, &io, out, PATH_MAX), &io, out);
}

/*
 * The caller's allowed directories: a relative_path may climb out of the
 * child's directory only into one of them, a win32/volume path's final
 * component is looked up in the child's directory first, then in each in
 * order; devices, FIFOs and symlinks leading out stay refused inside them.
 */
static void test_path_allowed_dirs(void **state)
{
    struct tree t;
    char base[PATH_MAX], resolved[PATH_MAX], want[PATH_MAX];
    (void)state;
    tree_make(&t);
    make_dir(&t.s, "base");
    write_file(&t.s, "base/b.vhdx", "BBB", 3);
    write_file(&t.s, "base/p.vhdx", "bbb", 3);
    make_fifo(&t.s, "base/fifo2.vhdx");
    make_symlink(&t.s, "../outside.vhdx", "base/link_out");
    tree_path(&t, "base", base);
    {
        const char *const allowed[] = {"/nonexistent-vhdx-dir", base, NULL};
        const char *const dev[] = {"/dev", NULL};
        const char *const none[] = {NULL};

        /* Without allowed directories, climbing out is refused as before. */
        assert_status(resolve(&t, "relative_path", "..\\base\\b.vhdx", NULL), VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, none, "relative_path", "..\\base\\b.vhdx", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve(&t, "absolute_win32_path", "\\\\?\\C:\\x\\b.vhdx", NULL),
                      VHDX_E_MISSING);

        /* Into an allowed directory (a missing one in the list is skipped). */
        tree_path(&t, "base/b.vhdx", want);
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\base\\b.vhdx", resolved),
                      VHDX_OK);
        assert_string_equal(resolved, want);
        assert_status(resolve_in(&t, allowed, "relative_path", "sub\\..\\..\\base\\b.vhdx",
                                 resolved),
                      VHDX_OK);
        assert_string_equal(resolved, want);
        assert_status(resolve_in(&t, allowed, "absolute_win32_path", "\\\\?\\C:\\x\\b.vhdx",
                                 resolved),
                      VHDX_OK);
        assert_string_equal(resolved, want);
        assert_status(resolve_in(&t, allowed, "volume_path", "\\\\?\\Volume{x}\\b.vhdx", resolved),
                      VHDX_OK);
        assert_string_equal(resolved, want);
        /* The child's own directory comes first. */
        tree_path(&t, "child/p.vhdx", want);
        assert_status(resolve_in(&t, allowed, "absolute_win32_path", "\\\\?\\C:\\p.vhdx", resolved),
                      VHDX_OK);
        assert_string_equal(resolved, want);

        /* Still refused: outside every allowed directory, above the root,
           a symlink leading out, the allowed directory itself, a FIFO, a device. */
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\outside.vhdx", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, allowed, "relative_path",
                                 "..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\..\\etc\\passwd",
                                 NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\base\\link_out", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\base", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\base\\nothere.vhdx", NULL),
                      VHDX_E_MISSING);
        assert_status(resolve_in(&t, allowed, "absolute_win32_path", "\\\\?\\C:\\nothere.vhdx",
                                 NULL),
                      VHDX_E_MISSING);
        alarm(10);
        assert_status(resolve_in(&t, allowed, "relative_path", "..\\base\\fifo2.vhdx", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, allowed, "volume_path", "\\\\?\\Volume{x}\\fifo2.vhdx", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, dev, "absolute_win32_path", "\\\\?\\C:\\null", NULL),
                      VHDX_E_INVALID_ARG);
        assert_status(resolve_in(&t, dev, "absolute_win32_path", "\\\\?\\C:\\zero", NULL),
                      VHDX_E_INVALID_ARG);
        alarm(0);
    }
    scratch_remove(&t.s);
}

/* vhdx_open_path finds a parent outside the child's directory only through parent_dirs. */
static void test_open_path_parent_dirs(void **state)
{
    struct scratch s;
    char parent[PATH_MAX], child[PATH_MAX], base[PATH_MAX], real[PATH_MAX];
    vhdx_create_options co;
    vhdx_open_options oo;
    vhdx_image *img = NULL;
    vhdx_info info;
    uint8_t buf[512];
    (void)state;

    scratch_make(&s);
    assert_non_null(realpath(s.dir, real));
    strcpy(s.dir, real);
    make_dir(&s, "base");
    make_dir(&s, "child");
    scratch_path(&s, "base/parent.vhdx", parent);
    scratch_path(&s, "child/c.vhdx", child);
    scratch_path(&s, "base", base);
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DYNAMIC;
    co.virtual_size = 8u << 20;
    assert_status(vhdx_create_path(parent, &co, NULL, NULL), VHDX_OK);
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DIFFERENCING;
    assert_status(vhdx_create_path(child, &co, parent, NULL), VHDX_OK);

    /* The locator says ..\base\parent.vhdx: outside the child's directory. */
    assert_status(vhdx_open_path(child, NULL, &img), VHDX_E_MISSING);
    assert_null(img);
    {
        const char *const dirs[] = {base, NULL};
        memset(&oo, 0, sizeof(oo));
        oo.parent_dirs = dirs;
        assert_status(vhdx_open_path(child, &oo, &img), VHDX_OK);
        assert_status(vhdx_get_info(img, &info), VHDX_OK);
        assert_int_equal(info.chain_depth, 1);
        assert_string_equal(info.parent_path, parent);
        assert_status(vhdx_read(img, 0, buf, sizeof(buf)), VHDX_OK);
        vhdx_close(img);
    }
    scratch_remove(&s);
}

/* A socket is not a regular file: opening it fails at once (ENXIO), refused as invalid. */
static void test_path_socket_refused(void **state)
{
    struct tree t;
    struct sockaddr_un addr;
    char path[PATH_MAX];
    vhdx_image *img = NULL;
    int sock;
    (void)state;
    tree_make(&t);
    tree_path(&t, "child/sock.vhdx", path);
    sock = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(sock >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    assert_true(strlen(path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(sock, (const struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_status(resolve(&t, "relative_path", "sock.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    assert_int_equal(close(sock), 0);
    scratch_remove(&t.s);
}

static void test_path_directory_refused(void **state)
{
    struct tree t;
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "relative_path", "dir.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "relative_path", "sub", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "volume_path", "\\\\?\\Volume{x}\\sub", NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

static void test_path_bad_arguments_refused(void **state)
{
    struct tree t;
    vhdx_io io;
    char small[8];
    (void)state;
    tree_make(&t);
    assert_status(resolve(&t, "parent_linkage", "p.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "", "p.vhdx", NULL), VHDX_E_INVALID_ARG);
    assert_status(io_path_resolve_parent(NULL, "relative_path", "p.vhdx", &io, NULL, 0),
                  VHDX_E_INVALID_ARG);
    assert_status(io_path_resolve_parent(t.child, NULL, "p.vhdx", &io, NULL, 0),
                  VHDX_E_INVALID_ARG);
    assert_status(io_path_resolve_parent(t.child, "relative_path", NULL, &io, NULL, 0),
                  VHDX_E_INVALID_ARG);
    assert_status(io_path_resolve_parent(t.child, "relative_path", "p.vhdx", NULL, NULL, 0),
                  VHDX_E_INVALID_ARG);
    /* resolved too small for the real path: refused, nothing left open. */
    assert_status(io_path_resolve_parent(t.child, "relative_path", "p.vhdx", &io, small,
                                         sizeof(small)),
                  VHDX_E_INVALID_ARG);
    assert_null(io.ctx);
    assert_string_equal(small, "");
    /* resolved may be NULL. */
    assert_status(io_path_resolve_parent(t.child, "relative_path", "p.vhdx", &io, NULL, 0),
                  VHDX_OK);
    vhdx_io_close(&io);
    /* A child directory that does not exist. */
    assert_status(io_path_resolve_parent("/nonexistent-vhdx-dir/x", "relative_path", "p.vhdx",
                                         &io, NULL, 0),
                  VHDX_E_MISSING);
    scratch_remove(&t.s);
}

static void test_path_overlong_value_refused(void **state)
{
    struct tree t;
    static char value[PATH_MAX + 16];
    (void)state;
    tree_make(&t);
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_status(resolve(&t, "relative_path", value, NULL), VHDX_E_INVALID_ARG);
    assert_status(resolve(&t, "absolute_win32_path", value, NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

/* ".." removes the component before it, lexically: the directory need not exist. */
static void test_path_relative_dotdot_after_two_components(void **state)
{
    struct tree t;
    char resolved[PATH_MAX], want[PATH_MAX];
    (void)state;
    tree_make(&t);
    tree_path(&t, "child/sub/q.vhdx", want);
    assert_status(resolve(&t, "relative_path", "sub\\nodir\\..\\q.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    assert_status(resolve(&t, "relative_path", "sub/./q.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    /* '/' separates components of a Windows path too: only p.vhdx is looked up. */
    tree_path(&t, "child/p.vhdx", want);
    assert_status(resolve(&t, "volume_path", "C:/vms/p.vhdx", resolved), VHDX_OK);
    assert_string_equal(resolved, want);
    scratch_remove(&t.s);
}

/* Paths realpath() cannot resolve: a symlink loop, a component longer than NAME_MAX. */
static void test_path_unresolvable_is_invalid(void **state)
{
    struct tree t;
    char path[PATH_MAX], name[300];
    vhdx_image *img = (vhdx_image *)&t;
    (void)state;
    tree_make(&t);
    make_symlink(&t.s, "loop_b", "child/loop_a");
    make_symlink(&t.s, "loop_a", "child/loop_b");
    assert_status(resolve(&t, "relative_path", "loop_a", NULL), VHDX_E_INVALID_ARG);
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_status(resolve(&t, "relative_path", name, NULL), VHDX_E_INVALID_ARG);
    /* vhdx_open_path: the same refusals before anything is read. */
    tree_path(&t, "child/loop_a", path);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    {
        char rel[320];
        snprintf(rel, sizeof(rel), "child/%s", name);
        tree_path(&t, rel, path);
    }
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_INVALID_ARG);
    /* A regular file used as a directory: there is no such file. */
    tree_path(&t, "child/p.vhdx/x.vhdx", path);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_MISSING);
    scratch_remove(&t.s);
}

static void test_open_path_refuses_before_open(void **state)
{
    struct tree t;
    char path[PATH_MAX];
    vhdx_open_options opts;
    vhdx_image *img = (vhdx_image *)&t;
    (void)state;
    tree_make(&t);
    memset(&opts, 0, sizeof(opts));

    tree_path(&t, "child/dir.vhdx", path);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_INVALID_ARG);
    assert_null(img);
    opts.flags = VHDX_OPEN_WRITABLE;
    assert_status(vhdx_open_path(path, &opts, &img), VHDX_E_INVALID_ARG);

    alarm(10);
    tree_path(&t, "child/fifo.vhdx", path);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_INVALID_ARG);
    assert_status(vhdx_open_path(path, &opts, &img), VHDX_E_INVALID_ARG);
    alarm(0);

    tree_path(&t, "child/nothere.vhdx", path);
    assert_status(vhdx_open_path(path, NULL, &img), VHDX_E_MISSING);
    assert_null(img);
    assert_status(vhdx_open_path(NULL, NULL, &img), VHDX_E_INVALID_ARG);
    assert_status(vhdx_open_path("", NULL, &img), VHDX_E_INVALID_ARG);
    assert_status(vhdx_open_path(path, NULL, NULL), VHDX_E_INVALID_ARG);
    scratch_remove(&t.s);
}

/* ---- The fault back end's moving stop (io_fault_stop_after) ---- */

static void test_fault_stop_after_moves_the_stop(void **state)
{
    static const uint8_t none[1];
    struct alloc_acct acct;
    vhdx_io base, mem, f;
    uint8_t buf[2048], back[2048];
    size_t got = 0;
    struct io_fault_stats st;
    (void)state;
    memset(buf, 0xab, sizeof(buf));
    alloc_acct_init(&acct, NULL, 0);
    assert_status(vhdx_io_from_memory(none, 0, &base), VHDX_OK);
    assert_status(io_overlay_create(&base, &acct, 0, &mem), VHDX_OK);
    assert_status(io_fault_create(&mem, &acct, UINT64_MAX, &f), VHDX_OK);
    for (int i = 0; i < 3; i++)
        assert_status(f.write(f.ctx, buf, 512, (uint64_t)i * 512), VHDX_OK);
    /* Two more mutations reach the file, the third fails, and so does all after it. */
    io_fault_stop_after(&f, 2);
    io_fault_set_torn(&f, 512);
    assert_status(f.write(f.ctx, buf, 512, 1536), VHDX_OK);
    assert_status(f.truncate(f.ctx, 8192), VHDX_OK);
    assert_status(f.flush(f.ctx), VHDX_OK);
    assert_status(f.write(f.ctx, buf, sizeof(buf), 4096), VHDX_E_IO);
    assert_status(f.flush(f.ctx), VHDX_E_IO);
    assert_status(f.truncate(f.ctx, 0), VHDX_E_IO);
    st = io_fault_stats(&f);
    assert_int_equal(st.writes, 4);
    assert_int_equal(st.truncates, 1);
    assert_int_equal(st.flushes, 1);
    assert_int_equal(st.refused, 3);
    assert_int_equal(st.torn, 512);
    assert_true(st.stopped);
    /* The stopping write landed torn: its first 512 bytes, nothing after. */
    memset(back, 0, sizeof(back));
    assert_status(mem.read(mem.ctx, back, sizeof(back), 4096, &got), VHDX_OK);
    assert_int_equal(got, 2048);
    assert_memory_equal(back, buf, 512);
    for (size_t i = 512; i < sizeof(back); i++)
        assert_int_equal(back[i], 0);
    /* A stopped back end stays stopped, whatever stop comes later. */
    io_fault_stop_after(&f, 5);
    assert_status(f.write(f.ctx, buf, 512, 0), VHDX_E_IO);
    assert_int_equal(io_fault_stats(&f).writes, 4);
    vhdx_io_close(&f);

    /* 0: stopped at once, before any mutation or flush. */
    assert_status(io_fault_create(&mem, &acct, UINT64_MAX, &f), VHDX_OK);
    io_fault_stop_after(&f, 0);
    assert_true(io_fault_stats(&f).stopped);
    assert_status(f.flush(f.ctx), VHDX_E_IO);
    assert_status(f.write(f.ctx, buf, 512, 0), VHDX_E_IO);
    assert_int_equal(io_fault_stats(&f).refused, 2);
    vhdx_io_close(&f);

    /* Counted from the mutations already made; UINT64_MAX never stops. */
    assert_status(io_fault_create(&mem, &acct, 1, &f), VHDX_OK);
    assert_status(f.write(f.ctx, buf, 512, 0), VHDX_OK);
    io_fault_stop_after(&f, UINT64_MAX);
    for (int i = 0; i < 100; i++)
        assert_status(f.write(f.ctx, buf, 512, 0), VHDX_OK);
    assert_false(io_fault_stats(&f).stopped);
    io_fault_stop_after(&f, 1);
    assert_status(f.write(f.ctx, buf, 512, 0), VHDX_OK);
    assert_status(f.write(f.ctx, buf, 512, 0), VHDX_E_IO);
    assert_int_equal(io_fault_stats(&f).writes, 102);
    vhdx_io_close(&f);

    /* Another back end: no effect, and no stats. */
    io_fault_stop_after(&mem, 0);
    assert_status(mem.write(mem.ctx, buf, 512, 0), VHDX_OK);
    assert_int_equal(io_fault_stats(&mem).writes, 0);
    assert_false(io_fault_stats(&mem).stopped);
    io_fault_stop_after(NULL, 0);
    vhdx_io_close(&mem);
    vhdx_io_close(&base);
    assert_int_equal(acct.in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_read_across_eof_gives_short_count),
        cmocka_unit_test(test_fd_write_then_read_back_extends_with_zeros),
        cmocka_unit_test(test_fd_size_is_file_length),
        cmocka_unit_test(test_fd_truncate_shrinks_and_grows_with_zeros),
        cmocka_unit_test(test_fd_flush_succeeds_on_writable),
        cmocka_unit_test(test_fd_read_only_has_no_write_truncate_flush),
        cmocka_unit_test(test_fd_offsets_past_int64_max_are_range),
        cmocka_unit_test(test_fd_own_fd_closes_descriptor),
        cmocka_unit_test(test_fd_not_own_fd_leaves_descriptor_open),
        cmocka_unit_test(test_fd_rejects_unusable_descriptors),
        cmocka_unit_test(test_fd_read_error_is_io),
        cmocka_unit_test(test_fd_write_flush_truncate_failures_are_io),
        cmocka_unit_test(test_fd_long_write_run_past_write_behind),
        cmocka_unit_test(test_memory_read_at_end_gives_short_count),
        cmocka_unit_test(test_memory_is_read_only),
        cmocka_unit_test(test_memory_zero_length),
        cmocka_unit_test(test_memory_rejects_null_data_with_length),
        cmocka_unit_test(test_io_close_clears_and_tolerates_null),
        cmocka_unit_test(test_overlay_reads_through_to_base),
        cmocka_unit_test(test_overlay_write_then_read_back_leaves_base_untouched),
        cmocka_unit_test(test_overlay_partial_page_writes_merge_with_base),
        cmocka_unit_test(test_overlay_write_past_base_end_reads_zeros_between),
        cmocka_unit_test(test_overlay_truncate_shrink_hides_and_grow_reads_zeros),
        cmocka_unit_test(test_overlay_size_is_max_of_base_writes_and_truncate),
        cmocka_unit_test(test_overlay_never_writes_base),
        cmocka_unit_test(test_overlay_page_limit_is_limit_and_view_unchanged),
        cmocka_unit_test(test_overlay_acct_limit_is_limit),
        cmocka_unit_test(test_overlay_allocator_failure_is_nomem_and_view_unchanged),
        cmocka_unit_test(test_overlay_base_read_error_propagates),
        cmocka_unit_test(test_overlay_over_a_shrunk_or_lying_base),
        cmocka_unit_test(test_overlay_create_rejects_bad_base),
        cmocka_unit_test(test_overlay_write_range_overflow_is_range),
        cmocka_unit_test(test_overlay_page_lookup_matches_reference_over_10000_pages),
        cmocka_unit_test(test_path_relative_backslashes_resolve_in_child_dir),
        cmocka_unit_test(test_path_relative_escaping_with_dotdot_refused),
        cmocka_unit_test(test_path_relative_symlink_escaping_refused),
        cmocka_unit_test(test_path_relative_absolute_forms_refused),
        cmocka_unit_test(test_path_absolute_win32_and_volume_use_basename),
        cmocka_unit_test(test_path_missing_file_is_missing),
        cmocka_unit_test(test_path_fifo_refused_without_blocking),
        cmocka_unit_test(test_path_directory_refused),
        cmocka_unit_test(test_path_allowed_dirs),
        cmocka_unit_test(test_open_path_parent_dirs),
        cmocka_unit_test(test_path_socket_refused),
        cmocka_unit_test(test_path_bad_arguments_refused),
        cmocka_unit_test(test_path_overlong_value_refused),
        cmocka_unit_test(test_path_relative_dotdot_after_two_components),
        cmocka_unit_test(test_path_unresolvable_is_invalid),
        cmocka_unit_test(test_open_path_refuses_before_open),
        cmocka_unit_test(test_fault_stop_after_moves_the_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
