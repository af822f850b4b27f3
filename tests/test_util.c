#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/overlay.h"

void test_sink_init(struct test_sink *ts)
{
    memset(ts, 0, sizeof(*ts));
    diag_sink_init(&ts->sink, ts->records, sizeof(ts->records) / sizeof(ts->records[0]));
}

void test_sink_collect(void *ctx, const vhdx_diag *d)
{
    struct test_sink *t = ctx;
    struct diag_sink *s = &t->sink;
    s->total++;
    if (d->severity == VHDX_SEVERITY_ERROR)
        s->errors++;
    else if (d->severity == VHDX_SEVERITY_WARNING)
        s->warnings++;
    else
        s->infos++;
    if (s->stored < s->capacity)
        s->records[s->stored++] = *d;
}

void test_assert_status(vhdx_status actual, vhdx_status expected, const char *expr,
                        const char *file, int line)
{
    if (actual == expected)
        return;
    print_error("%s:%d: %s is %s (%d), expected %s (%d)\n", file, line, expr,
                vhdx_status_name(actual), (int)actual, vhdx_status_name(expected), (int)expected);
    _fail(file, line);
}

static void dump_sink(const struct test_sink *ts)
{
    for (size_t i = 0; i < ts->sink.stored; i++) {
        const vhdx_diag *d = &ts->records[i];
        print_error("  [%s] %s %s @%llu: %s\n", vhdx_severity_name(d->severity),
                    vhdx_status_name(d->code), d->rule ? d->rule : "(null)",
                    (unsigned long long)d->offset, d->message);
    }
}

const vhdx_diag *test_assert_diag(const struct test_sink *ts, vhdx_severity severity,
                                  vhdx_status code, const char *rule, const char *file, int line)
{
    for (size_t i = 0; i < ts->sink.stored; i++) {
        const vhdx_diag *d = &ts->records[i];
        if (d->severity == severity && d->code == code && d->rule != NULL &&
            strcmp(d->rule, rule) == 0)
            return d;
    }
    print_error("%s:%d: no %s %s %s among %zu findings:\n", file, line,
                vhdx_severity_name(severity), vhdx_status_name(code), rule, ts->sink.stored);
    dump_sink(ts);
    _fail(file, line);
    return NULL;
}

const vhdx_diag *test_assert_only_diag(const struct test_sink *ts, vhdx_severity severity,
                                       vhdx_status code, const char *rule, const char *file,
                                       int line)
{
    if (ts->sink.total != 1) {
        print_error("%s:%d: expected exactly one finding (%s), got %zu:\n", file, line, rule,
                    ts->sink.total);
        dump_sink(ts);
        _fail(file, line);
    }
    return test_assert_diag(ts, severity, code, rule, file, line);
}

void test_assert_no_findings(const struct test_sink *ts, const char *file, int line)
{
    if (ts->sink.errors == 0 && ts->sink.warnings == 0)
        return;
    print_error("%s:%d: expected no errors or warnings, got:\n", file, line);
    dump_sink(ts);
    _fail(file, line);
}

void test_rng_seed(struct test_rng *r, uint64_t seed)
{
    r->state = seed != 0 ? seed : 0x9E3779B97F4A7C15ull;
}

uint64_t test_rng_next(struct test_rng *r)
{
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void test_rng_fill(struct test_rng *r, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t v = test_rng_next(r);
        size_t n = len < 8 ? len : 8;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
}

void mf_open(struct memfile *m, const uint8_t *data, size_t len)
{
    alloc_acct_init(&m->acct, NULL, 0);
    assert_status(vhdx_io_from_memory(data, len, &m->base), VHDX_OK);
    assert_status(io_overlay_create(&m->base, &m->acct, 0, &m->io), VHDX_OK);
}

void mf_init(struct memfile *m)
{
    static const uint8_t empty_byte[1];
    mf_open(m, empty_byte, 0);
}

void mf_free(struct memfile *m)
{
    vhdx_io_close(&m->io);
    vhdx_io_close(&m->base);
    assert_int_equal(m->acct.in_use, 0);
}

vhdx_io io_borrow(const vhdx_io *io)
{
    vhdx_io b = *io;
    b.close = NULL;
    return b;
}

uint64_t io_size(const vhdx_io *io)
{
    uint64_t size = 0;
    assert_status(io->size(io->ctx, &size), VHDX_OK);
    return size;
}

uint8_t *io_bytes(const vhdx_io *io, size_t *len)
{
    uint64_t size = io_size(io);
    size_t got = 0;
    uint8_t *buf = malloc(size != 0 ? (size_t)size : 1);
    assert_non_null(buf);
    assert_status(io->read(io->ctx, buf, (size_t)size, 0, &got), VHDX_OK);
    assert_int_equal(got, size);
    *len = (size_t)size;
    return buf;
}
