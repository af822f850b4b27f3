/* Shared helpers for the cmocka suites. Include after <cmocka.h>'s prerequisites. */
#ifndef VHDX_TESTS_TEST_UTIL_H
#define VHDX_TESTS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/diag.h"
#include "vhdx.h"

/* A sink with room for 64 records, reset per test. */
struct test_sink {
    struct diag_sink sink;
    vhdx_diag records[64];
};

void test_sink_init(struct test_sink *ts);

/*
 * A vhdx_open_options.on_diag callback (ctx: a struct test_sink) that
 * counts every finding and stores it while there is room, so the assert_*
 * helpers below work on findings reported through the public interface.
 */
void test_sink_collect(void *ctx, const vhdx_diag *d);

/* Fails with both names printed when the statuses differ. */
#define assert_status(actual, expected) \
    test_assert_status((actual), (expected), #actual, __FILE__, __LINE__)
void test_assert_status(vhdx_status actual, vhdx_status expected, const char *expr,
                        const char *file, int line);

/*
 * Asserts that the sink holds a record with exactly this severity, code and
 * rule id, and returns it.
 */
#define assert_diag(ts, severity, code, rule) \
    test_assert_diag((ts), (severity), (code), (rule), __FILE__, __LINE__)
const vhdx_diag *test_assert_diag(const struct test_sink *ts, vhdx_severity severity,
                                  vhdx_status code, const char *rule, const char *file, int line);

/* Asserts the sink holds exactly one record in all, with these properties. */
#define assert_only_diag(ts, severity, code, rule) \
    test_assert_only_diag((ts), (severity), (code), (rule), __FILE__, __LINE__)
const vhdx_diag *test_assert_only_diag(const struct test_sink *ts, vhdx_severity severity,
                                       vhdx_status code, const char *rule, const char *file,
                                       int line);

/* Asserts the sink holds no error and no warning. */
#define assert_no_findings(ts) test_assert_no_findings((ts), __FILE__, __LINE__)
void test_assert_no_findings(const struct test_sink *ts, const char *file, int line);

/* A deterministic xorshift64* generator for randomised tests. */
struct test_rng {
    uint64_t state;
};
void test_rng_seed(struct test_rng *r, uint64_t seed);
uint64_t test_rng_next(struct test_rng *r);
void test_rng_fill(struct test_rng *r, void *buf, size_t len);

/*
 * A writable file in memory: an io overlay over a read-only memory base.
 * Writes and growth stay in the overlay; the base bytes are never written.
 */
struct memfile {
    struct alloc_acct acct; /* the overlay's memory */
    vhdx_io base, io;       /* io is the file to use */
};

/* Opens a memfile over `len` bytes at `data`, which must outlive it. */
void mf_open(struct memfile *m, const uint8_t *data, size_t len);

/* Opens an empty memfile. */
void mf_init(struct memfile *m);

/* Closes the memfile and asserts that the overlay gave back all its memory. */
void mf_free(struct memfile *m);

/* The same file, not owned: a vhdx_close of an image opened on it leaves it open. */
vhdx_io io_borrow(const vhdx_io *io);

/* The size of a file, asserted to be readable. */
uint64_t io_size(const vhdx_io *io);

/* A malloc'd copy of the whole file (at least one byte allocated); its length in *len. */
uint8_t *io_bytes(const vhdx_io *io, size_t *len);

#endif
