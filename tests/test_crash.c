/*
 * Crash consistency of the writer (include/vhdx.h, "Writing"): each
 * workload runs on an in-memory image through the recording back end
 * (src/io/record.h); then every state a power loss could leave
 * (tests/crash_sim.h: each prefix of the operations, each write torn at
 * every 512 bytes, subsets of each epoch between flushes) is opened
 * writable (which replays the log), read back sector by sector, closed
 * and judged by vhdx_check.
 *
 * The rule for every logical sector: it holds its content after all the
 * steps certainly durable in that state, or the new content of one of the
 * steps in flight that covers it (old or new, per write; zeros past the
 * new end of a shrink in flight). A vhdx_flush, vhdx_finish, vhdx_close or
 * vhdx_create makes every earlier step durable once it has returned, that
 * is once an operation issued after it is in the state
 * (CRASH_DURABLE_RETURNED: the contract, stricter than counting only
 * flushed operations). The virtual size is the durable one or that of a
 * resize in flight. Outside the modelled windows the disk reads zeros. A
 * state may be refused by vhdx_open only while the vhdx_create that made
 * the file is not durable (for vhdx_create_open: until the sealing
 * vhdx_finish is durable, and a state that opens must then hold every step
 * before the seal whole); whatever opens must get no error from
 * vhdx_check.
 *
 * The workloads: (a) vhdx_create of dynamic, fixed and differencing
 * images; (b) allocating writes; (c) overwrites; (d) discard and
 * write_zeroes of whole blocks; (e) resize growing past the BAT region
 * (the BAT moves); (f) a differencing child (sector bitmaps); (g) a
 * conversion; then a discard and a rewrite in one batch, a forced shrink,
 * a fixed image, 4 KiB sectors, writes after a replay; (i) vhdx_repair
 * of damaged spare copies (a header, either region table copy), where
 * once the repair is durable vhdx_check must find no warning either; (h)
 * a batch larger than the log (several entries, the log wraps); (j) vhdx_commit of a child into a dynamic and into a
 * differencing parent, two files (the section's own comment says how its
 * states are enumerated and judged: the chain reads its old disk at every
 * state, and a second commit from each finishes). The last tests break
 * recorded runs on purpose, to show that the checker sees it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crash_sim.h"
#include "io/record.h"
#include "test_util.h"
#include "vhdx.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define MAX_WINDOWS 4
#define READ_CHUNK (1u << 20)
#define MAX_REPORTED 5

/* ---- Workload steps and the expected-content model ---- */

enum step_kind {
    STEP_OTHER,  /* open, flush, finish, close: no change of the virtual disk */
    STEP_WRITE,  /* data over [off, off + len) */
    STEP_ZERO,   /* zeros over [off, off + len): vhdx_write_zeroes, vhdx_discard of whole blocks */
    STEP_RESIZE, /* the virtual size becomes `size` */
    STEP_CREATE  /* vhdx_create: the file becomes an image of `size` reading zeros */
};

struct step {
    enum step_kind kind;
    uint64_t off;
    uint64_t len;
    uint8_t *data; /* STEP_WRITE: malloc'd copy */
    uint64_t size; /* STEP_RESIZE, STEP_CREATE */
};

/*
 * A range of the virtual disk whose content is modelled byte for byte;
 * outside the windows the disk must read as zeros.
 */
struct window {
    uint64_t off;
    size_t len;
    uint8_t *before;  /* the content before the workload (zeros, or a parent's data) */
    uint8_t *durable; /* scratch: the content after the durable steps */
};

struct workload {
    const char *name;
    /* The file being written, under the recorder (which allocates from file.acct). */
    struct memfile file;
    vhdx_io rec;
    uint8_t *initial;
    size_t initial_len;
    vhdx_image *img; /* the writer's handle while the workload runs */
    struct crash_workload w;
    struct step steps[CRASH_MAX_STEPS];
    uint64_t size0;   /* the virtual size before the first step (or the one created) */
    bool has_create;  /* step 0 is the vhdx_create that makes the file */
    struct window win[MAX_WINDOWS];
    size_t n_win;
    /* Differencing: the parent's file, given to every open. */
    const uint8_t *parent;
    size_t parent_len;
    struct test_rng rng;

    /* While judging */
    size_t durable_cached; /* 1 + the span.durable the windows' durable content is for; 0: none */
    uint8_t *chunk;
    struct test_sink ts;
    uint64_t states;
    uint64_t by_kind[CRASH_KINDS];
    uint64_t refused;
    /* Steps that must be durable before the file must open: 1 after
       wl_create; the sealing vhdx_finish after wl_create_open. */
    size_t image_from;
    uint64_t violations;
    uint64_t synced_only; /* violations that the SYNCED rule would have accepted */
    bool quiet;           /* the checker's own tests: violations expected, not printed */
    /* Steps that, once durable, leave an image vhdx_check finds no warning in
       (a repair's): 0 when the workload promises no such thing. */
    size_t clean_from;
    struct crash_sim_options sim;
};

static vhdx_status open_parent_from_memory(void *ctx, const char *key, const char *path,
                                           vhdx_io *out)
{
    const struct workload *wl = ctx;
    (void)key;
    (void)path;
    return vhdx_io_from_memory(wl->parent, wl->parent_len, out);
}

static vhdx_open_options open_options(struct workload *wl, unsigned flags)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.on_diag = test_sink_collect;
    o.diag_ctx = &wl->ts;
    test_sink_init(&wl->ts);
    if (wl->parent != NULL) {
        o.open_parent = open_parent_from_memory;
        o.open_parent_ctx = wl;
    }
    return o;
}

/* A new image in memory, returned as file bytes. */
static uint8_t *create_image(const vhdx_create_options *co, size_t *len)
{
    struct memfile m;
    uint8_t *bytes;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, co), VHDX_OK);
    bytes = io_bytes(&m.io, len);
    mf_free(&m);
    return bytes;
}

static vhdx_create_options dynamic_options(uint64_t size)
{
    vhdx_create_options co;
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DYNAMIC;
    co.virtual_size = size;
    co.block_size = (uint32_t)MiB;
    return co;
}

/* ---- Building a workload ---- */

static void wl_init(struct workload *wl, const char *name, const uint8_t *initial, size_t len,
                    uint64_t size0)
{
    memset(wl, 0, sizeof(*wl));
    wl->name = name;
    wl->size0 = size0;
    wl->initial = malloc(len > 0 ? len : 1);
    assert_non_null(wl->initial);
    if (len > 0)
        memcpy(wl->initial, initial, len);
    wl->initial_len = len;
    mf_open(&wl->file, wl->initial, len);
    assert_status(io_record_create(&wl->file.io, &wl->file.acct, &wl->rec), VHDX_OK);
    crash_workload_init(&wl->w, &wl->rec);
    test_rng_seed(&wl->rng, 0xC0FFEEu + (uint64_t)strlen(name));
    wl->sim = crash_sim_defaults();
    /* A torn write with subsets of its own epoch too (crash_sim.h, TORN_SUBSET). */
    wl->sim.torn_subset_points = 3;
}

/* Models [off, off + len) of the virtual disk; `before` NULL: zeros. */
static void wl_window(struct workload *wl, uint64_t off, size_t len, const uint8_t *before)
{
    struct window *w;
    assert_true(wl->n_win < MAX_WINDOWS);
    w = &wl->win[wl->n_win++];
    w->off = off;
    w->len = len;
    w->before = calloc(len, 1);
    w->durable = malloc(len);
    assert_non_null(w->before);
    assert_non_null(w->durable);
    if (before != NULL)
        memcpy(w->before, before, len);
}

/* Writes are modelled byte for byte: each must fall in one window. */
static void assert_in_a_window(const struct workload *wl, uint64_t off, uint64_t len)
{
    for (size_t i = 0; i < wl->n_win; i++)
        if (off >= wl->win[i].off && off + len <= wl->win[i].off + wl->win[i].len)
            return;
    fail_msg("%s: [%llu, +%llu) is outside every modelled window", wl->name,
             (unsigned long long)off, (unsigned long long)len);
}

static struct step *begin(struct workload *wl, const char *label, bool makes_durable,
                          enum step_kind kind)
{
    struct step *s;
    assert_true(crash_workload_begin(&wl->w, label, makes_durable));
    s = &wl->steps[wl->w.count];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    return s;
}

static void end(struct workload *wl)
{
    assert_true(crash_workload_end(&wl->w));
}

static void wl_create(struct workload *wl, const vhdx_create_options *co)
{
    struct step *s = begin(wl, "vhdx_create", true, STEP_CREATE);
    s->size = co->virtual_size;
    assert_status(vhdx_create(&wl->rec, co), VHDX_OK);
    end(wl);
    wl->has_create = true;
    wl->image_from = 1;
    wl->size0 = co->virtual_size;
}

/* vhdx_create_open: the image is unsealed, so refused, until wl_finish returns. */
static void wl_create_open(struct workload *wl, const vhdx_create_options *co)
{
    vhdx_open_options o = open_options(wl, 0);
    vhdx_io io = io_borrow(&wl->rec);
    struct step *s = begin(wl, "vhdx_create_open", false, STEP_CREATE);
    s->size = co->virtual_size;
    assert_status(vhdx_create_open(&io, co, &o, &wl->img), VHDX_OK);
    end(wl);
    wl->has_create = true;
    wl->image_from = SIZE_MAX;
    wl->size0 = co->virtual_size;
}

static void wl_open(struct workload *wl)
{
    vhdx_open_options o = open_options(wl, VHDX_OPEN_WRITABLE);
    vhdx_io io = io_borrow(&wl->rec);
    begin(wl, "open", false, STEP_OTHER);
    assert_status(vhdx_open(&io, &o, &wl->img), VHDX_OK);
    end(wl);
}

static void wl_write_bytes(struct workload *wl, const char *label, uint64_t off,
                           const uint8_t *data, size_t len)
{
    struct step *s = begin(wl, label, false, STEP_WRITE);
    assert_in_a_window(wl, off, len);
    s->off = off;
    s->len = len;
    s->data = malloc(len);
    assert_non_null(s->data);
    memcpy(s->data, data, len);
    assert_status(vhdx_write(wl->img, off, s->data, len), VHDX_OK);
    end(wl);
}

/* A write of random bytes (never all zeros, so that old and new differ). */
static void wl_write(struct workload *wl, const char *label, uint64_t off, size_t len)
{
    uint8_t *data = malloc(len);
    assert_non_null(data);
    test_rng_fill(&wl->rng, data, len);
    data[0] |= 1;
    wl_write_bytes(wl, label, off, data, len);
    free(data);
}

static void wl_zeroes(struct workload *wl, const char *label, uint64_t off, uint64_t len)
{
    struct step *s = begin(wl, label, false, STEP_ZERO);
    s->off = off;
    s->len = len;
    assert_status(vhdx_write_zeroes(wl->img, off, len), VHDX_OK);
    end(wl);
}

/* Whole blocks only: they read as zeros afterwards (UNMAPPED, or ZERO in a differencing image). */
static void wl_discard(struct workload *wl, const char *label, uint64_t off, uint64_t len)
{
    struct step *s = begin(wl, label, false, STEP_ZERO);
    uint64_t discarded = 0;
    s->off = off;
    s->len = len;
    assert_status(vhdx_discard(wl->img, off, len, &discarded), VHDX_OK);
    assert_int_equal(discarded, len);
    end(wl);
}

static void wl_resize(struct workload *wl, const char *label, uint64_t size, unsigned flags)
{
    struct step *s = begin(wl, label, false, STEP_RESIZE);
    s->size = size;
    assert_status(vhdx_resize(wl->img, size, flags), VHDX_OK);
    end(wl);
}

static void wl_flush(struct workload *wl)
{
    begin(wl, "vhdx_flush", true, STEP_OTHER);
    assert_status(vhdx_flush(wl->img), VHDX_OK);
    end(wl);
}

static void wl_finish(struct workload *wl)
{
    begin(wl, "vhdx_finish", true, STEP_OTHER);
    assert_status(vhdx_finish(wl->img), VHDX_OK);
    end(wl);
    if (wl->image_from == SIZE_MAX)
        wl->image_from = wl->w.count; /* the seal */
}

/* vhdx_repair: no change of the disk; durable on return (it ends with vhdx_finish). */
static void wl_repair(struct workload *wl, int header, int region_table)
{
    vhdx_repair_result r;
    begin(wl, "vhdx_repair", true, STEP_OTHER);
    assert_status(vhdx_repair(wl->img, &r), VHDX_OK);
    end(wl);
    assert_int_equal(r.header_rewritten, header);
    assert_int_equal(r.region_table_rewritten, region_table);
    wl->clean_from = wl->w.count;
}

/* ---- The model ---- */

/* The virtual size after steps [0, n). */
static uint64_t size_after(const struct workload *wl, size_t n)
{
    uint64_t size = wl->size0;
    for (size_t i = 0; i < n; i++)
        if (wl->steps[i].kind == STEP_RESIZE || wl->steps[i].kind == STEP_CREATE)
            size = wl->steps[i].size;
    return size;
}

/* The part of [off, off + len) inside window w, as offsets into it; false when none. */
static bool clip(const struct window *w, uint64_t off, uint64_t len, size_t *from, size_t *to)
{
    uint64_t a = off > w->off ? off : w->off;
    uint64_t b = off + len < w->off + w->len ? off + len : w->off + w->len;
    if (a >= b)
        return false;
    *from = (size_t)(a - w->off);
    *to = (size_t)(b - w->off);
    return true;
}

static void apply_step(const struct step *s, struct window *w)
{
    size_t from, to;
    switch (s->kind) {
    case STEP_WRITE:
        if (clip(w, s->off, s->len, &from, &to))
            memcpy(w->durable + from, s->data + (w->off + from - s->off), to - from);
        break;
    case STEP_ZERO:
        if (clip(w, s->off, s->len, &from, &to))
            memset(w->durable + from, 0, to - from);
        break;
    case STEP_RESIZE:
        /* Shrinking drops the content past the end: growing again reads zeros. */
        if (clip(w, s->size, UINT64_MAX - s->size, &from, &to))
            memset(w->durable + from, 0, to - from);
        break;
    case STEP_CREATE:
    case STEP_OTHER:
    default:
        break;
    }
}

/* Every window's content after steps [0, n), cached for the last n asked. */
static void model_durable(struct workload *wl, size_t n)
{
    if (wl->durable_cached == n + 1)
        return;
    for (size_t i = 0; i < wl->n_win; i++) {
        struct window *w = &wl->win[i];
        memcpy(w->durable, w->before, w->len);
        for (size_t k = 0; k < n; k++)
            apply_step(&wl->steps[k], w);
    }
    wl->durable_cached = n + 1;
}

/* ---- Judging one crash state ---- */

struct verdict {
    struct workload *wl;
    const struct crash_state *st;
    struct crash_span span;
    char what[384];
    bool bad;
    bool refused; /* vhdx_open refused it, as it may before the creation is durable */
};

static void describe_state(const struct verdict *v, char *buf, size_t len)
{
    const struct crash_state *st = v->st;
    int n = snprintf(buf, len,
                     "%s: state #%llu %s op %zu torn %zu (ops durable < %zu, none >= %zu; "
                     "steps durable < %zu",
                     v->wl->name, (unsigned long long)st->index, crash_kind_name(st->kind),
                     st->op, st->torn_bytes, st->durable_ops, st->pending_end, v->span.durable);
    for (size_t i = v->span.durable; i < v->span.started && n > 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s %zu %s",
                      i == v->span.durable ? ", in flight:" : ",", i, v->wl->w.steps[i].label);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ")");
}

static void violation(struct verdict *v, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void violation(struct verdict *v, const char *fmt, ...)
{
    va_list ap;
    if (v->bad)
        return;
    v->bad = true;
    va_start(ap, fmt);
    vsnprintf(v->what, sizeof(v->what), fmt, ap);
    va_end(ap);
}

/* Is the sector at virtual `off` (in window w at `at`) one of its allowed contents? */
static bool sector_allowed(const struct verdict *v, const struct window *w, size_t at,
                           const uint8_t *got, size_t ss)
{
    static const uint8_t zeros[4096];
    uint64_t off = w->off + at;
    if (memcmp(got, w->durable + at, ss) == 0)
        return true;
    for (size_t i = v->span.durable; i < v->span.started; i++) {
        const struct step *s = &v->wl->steps[i];
        /* A shrink in flight: what it cut off may read as zeros whatever the size shown. */
        if (s->kind == STEP_RESIZE && off >= s->size && memcmp(got, zeros, ss) == 0)
            return true;
        if ((s->kind != STEP_WRITE && s->kind != STEP_ZERO) || off < s->off ||
            off + ss > s->off + s->len)
            continue;
        if (s->kind == STEP_ZERO ? memcmp(got, zeros, ss) == 0
                                 : memcmp(got, s->data + (off - s->off), ss) == 0)
            return true;
    }
    return false;
}

static void check_window(struct verdict *v, vhdx_image *img, const struct window *w,
                         uint64_t vsize, uint32_t ss)
{
    struct workload *wl = v->wl;
    size_t end = w->len;
    if (w->off >= vsize)
        end = 0;
    else if (vsize - w->off < w->len)
        end = (size_t)(vsize - w->off);
    for (size_t at = 0; at < end && !v->bad; at += READ_CHUNK) {
        size_t n = end - at < READ_CHUNK ? end - at : READ_CHUNK;
        vhdx_status st = vhdx_read(img, w->off + at, wl->chunk, n);
        if (st != VHDX_OK) {
            violation(v, "vhdx_read at %llu failed: %s", (unsigned long long)(w->off + at),
                      vhdx_status_name(st));
            return;
        }
        if (memcmp(wl->chunk, w->durable + at, n) == 0)
            continue;
        for (size_t s = 0; s < n; s += ss) {
            if (sector_allowed(v, w, at + s, wl->chunk + s, ss))
                continue;
            violation(v,
                      "first bad sector at virtual offset %llu (LBA %llu): reads %02x %02x %02x "
                      "%02x..., durable content %02x %02x %02x %02x...",
                      (unsigned long long)(w->off + at + s),
                      (unsigned long long)((w->off + at + s) / ss), wl->chunk[s],
                      wl->chunk[s + 1], wl->chunk[s + 2], wl->chunk[s + 3],
                      w->durable[at + s], w->durable[at + s + 1], w->durable[at + s + 2],
                      w->durable[at + s + 3]);
            return;
        }
    }
}

static bool in_a_window(const struct workload *wl, uint64_t off, uint64_t *window_end)
{
    for (size_t i = 0; i < wl->n_win; i++)
        if (off >= wl->win[i].off && off < wl->win[i].off + wl->win[i].len) {
            *window_end = wl->win[i].off + wl->win[i].len;
            return true;
        }
    return false;
}

/* Outside the windows the disk reads zeros: its extents are ZERO, or DATA holding zeros. */
static void check_outside_windows(struct verdict *v, vhdx_image *img, uint64_t vsize)
{
    struct workload *wl = v->wl;
    uint64_t off = 0;
    while (off < vsize && !v->bad) {
        vhdx_extent e;
        uint64_t stop, wend = 0;
        vhdx_status st;
        if (in_a_window(wl, off, &wend)) {
            off = wend;
            continue;
        }
        st = vhdx_map_next(img, off, &e);
        if (st != VHDX_OK || e.length == 0 || e.offset > off || e.offset + e.length <= off) {
            violation(v, "vhdx_map_next at %llu: %s", (unsigned long long)off,
                      vhdx_status_name(st));
            return;
        }
        stop = e.offset + e.length;
        for (size_t i = 0; i < wl->n_win; i++)
            if (wl->win[i].off > off && wl->win[i].off < stop)
                stop = wl->win[i].off;
        if (e.kind != VHDX_EXTENT_ZERO) {
            /* Read it: it must hold zeros. */
            for (uint64_t at = off; at < stop && !v->bad; at += READ_CHUNK) {
                size_t n = stop - at < READ_CHUNK ? (size_t)(stop - at) : READ_CHUNK;
                st = vhdx_read(img, at, wl->chunk, n);
                if (st != VHDX_OK) {
                    violation(v, "vhdx_read at %llu failed: %s", (unsigned long long)at,
                              vhdx_status_name(st));
                    return;
                }
                for (size_t k = 0; k < n; k++)
                    if (wl->chunk[k] != 0) {
                        violation(v, "first bad sector at virtual offset %llu: not zero "
                                  "outside what was written (extent kind %d)",
                                  (unsigned long long)((at + k) & ~511ull), (int)e.kind);
                        return;
                    }
            }
        }
        off = stop;
    }
}

static const char *first_error_rule(const struct test_sink *ts)
{
    for (size_t i = 0; i < ts->sink.stored; i++)
        if (ts->records[i].severity == VHDX_SEVERITY_ERROR)
            return ts->records[i].rule;
    return "(none stored)";
}

static const char *first_error_message(const struct test_sink *ts)
{
    for (size_t i = 0; i < ts->sink.stored; i++)
        if (ts->records[i].severity == VHDX_SEVERITY_ERROR)
            return ts->records[i].message;
    return "";
}

/* The disk as the opened image shows it: size and every sector. */
static void check_disk(struct verdict *v, vhdx_image *img)
{
    struct workload *wl = v->wl;
    vhdx_info info;
    uint64_t want = size_after(wl, v->span.durable);
    bool size_ok;
    vhdx_status st = vhdx_get_info(img, &info);
    if (st != VHDX_OK) {
        violation(v, "vhdx_get_info: %s", vhdx_status_name(st));
        return;
    }
    size_ok = info.virtual_size == want;
    for (size_t i = v->span.durable; i < v->span.started; i++)
        if (wl->steps[i].kind == STEP_RESIZE && info.virtual_size == wl->steps[i].size)
            size_ok = true;
    if (!size_ok) {
        violation(v, "virtual size %llu, expected %llu (or an in-flight resize's)",
                  (unsigned long long)info.virtual_size, (unsigned long long)want);
        return;
    }
    model_durable(wl, v->span.durable);
    for (size_t i = 0; i < wl->n_win && !v->bad; i++)
        check_window(v, img, &wl->win[i], info.virtual_size, info.logical_sector_size);
    if (!v->bad)
        check_outside_windows(v, img, info.virtual_size);
}

static void judge_state(struct verdict *v)
{
    struct workload *wl = v->wl;
    const struct crash_state *st = v->st;
    struct memfile m;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_check_result res;
    vhdx_io io;
    vhdx_status s;

    mf_open(&m, st->data, st->len);
    o = open_options(wl, VHDX_OPEN_WRITABLE);
    io = io_borrow(&m.io);
    s = vhdx_open(&io, &o, &img);
    if (s != VHDX_OK) {
        /* Only a file whose creation is not durable yet may be refused. */
        if (wl->has_create && v->span.durable < wl->image_from)
            v->refused = true;
        else
            violation(v, "vhdx_open (writable) refused it: %s, %s: %s", vhdx_status_name(s),
                      first_error_rule(&wl->ts), first_error_message(&wl->ts));
        mf_free(&m);
        return;
    }
    /* An unsealed build that opens was sealed: everything before the seal is in it. */
    if (wl->image_from > 1 && v->span.durable < wl->image_from - 1)
        v->span.durable = wl->image_from - 1;
    check_disk(v, img);
    vhdx_close(img);
    if (!v->bad) {
        o = open_options(wl, 0);
        io = io_borrow(&m.io);
        memset(&res, 0, sizeof(res));
        s = vhdx_check(&io, &o, &res);
        if (s != VHDX_OK || res.errors != 0)
            violation(v, "vhdx_check after the replay: %s, %zu errors, first %s: %s",
                      vhdx_status_name(s), res.errors, first_error_rule(&wl->ts),
                      first_error_message(&wl->ts));
        else if (wl->clean_from != 0 && v->span.durable >= wl->clean_from && res.warnings != 0)
            violation(v, "vhdx_check after a durable repair: %zu warnings, first %s: %s",
                      res.warnings, wl->ts.sink.stored > 0 ? wl->ts.records[0].rule : "?",
                      wl->ts.sink.stored > 0 ? wl->ts.records[0].message : "");
    }
    mf_free(&m);
}

static int visit(void *ctx, const struct crash_state *st)
{
    struct workload *wl = ctx;
    struct verdict v;
    memset(&v, 0, sizeof(v));
    v.wl = wl;
    v.st = st;
    v.span = crash_workload_span(&wl->w, st, CRASH_DURABLE_RETURNED);
    wl->states++;
    wl->by_kind[st->kind]++;
    judge_state(&v);
    if (v.refused)
        wl->refused++;
    if (v.bad) {
        char where[768];
        struct verdict lenient = v;
        wl->violations++;
        /* Would the disk-level rule (durable only when synced) have accepted it? */
        lenient.span = crash_workload_span(&wl->w, st, CRASH_DURABLE_SYNCED);
        if (lenient.span.durable != v.span.durable) {
            lenient.bad = false;
            judge_state(&lenient);
            if (!lenient.bad)
                wl->synced_only++;
        }
        if (wl->violations <= MAX_REPORTED && !wl->quiet) {
            describe_state(&v, where, sizeof(where));
            print_error("VIOLATION %s: %s%s\n", where, v.what,
                        lenient.span.durable != v.span.durable && !lenient.bad
                            ? " [accepted if only synced steps counted as durable]"
                            : "");
        }
    }
    return 0;
}

/* ---- Running a workload ---- */

struct totals {
    uint64_t states;
    uint64_t violations;
};

static struct totals totals;

/* Visits every crash state of ops over the workload's initial file. */
static uint64_t wl_enumerate(struct workload *wl, const struct io_op *ops, size_t n)
{
    uint64_t visited = 0;
    free(wl->chunk);
    wl->chunk = malloc(READ_CHUNK);
    assert_non_null(wl->chunk);
    wl->durable_cached = 0;
    wl->states = wl->refused = wl->violations = wl->synced_only = 0;
    memset(wl->by_kind, 0, sizeof(wl->by_kind));
    assert_status(crash_sim_run(wl->initial, wl->initial_len, ops, n, &wl->sim, visit, wl,
                                &visited),
                  VHDX_OK);
    assert_int_equal(visited, wl->states);
    return visited;
}

/* Every crash state of the recorded workload must keep the contract. */
static void wl_run(struct workload *wl, uint64_t min_states)
{
    struct io_op *ops = NULL;
    size_t n = 0;
    uint64_t visited;
    clock_t t0 = clock();
    uint64_t exhaustive = 0, sampled = 0;
    size_t largest = 0;
    assert_status(crash_ops_from_record(&wl->rec, &ops, &n), VHDX_OK);
    visited = wl_enumerate(wl, ops, n);
    crash_sim_epochs(ops, n, &wl->sim, &exhaustive, &sampled, &largest);
    print_message("%-30s %3zu steps %4zu ops: %5llu states (%llu prefix, %llu torn, %llu subset, "
                  "%llu torn-subset; epochs %llu exhaustive, %llu sampled, largest %zu), "
                  "%llu refused, %llu violations, %.1f s\n",
                  wl->name, wl->w.count, n, (unsigned long long)visited,
                  (unsigned long long)wl->by_kind[CRASH_PREFIX],
                  (unsigned long long)wl->by_kind[CRASH_TORN],
                  (unsigned long long)wl->by_kind[CRASH_SUBSET],
                  (unsigned long long)wl->by_kind[CRASH_TORN_SUBSET],
                  (unsigned long long)exhaustive, (unsigned long long)sampled, largest,
                  (unsigned long long)wl->refused, (unsigned long long)wl->violations,
                  (double)(clock() - t0) / CLOCKS_PER_SEC);
    totals.states += visited;
    totals.violations += wl->violations;
    assert_int_equal(visited, crash_sim_count(ops, n, &wl->sim));
    free(ops);
    assert_true(visited >= min_states);
    if (wl->violations > 0)
        fail_msg("%s: %llu of %llu crash states violate the contract (%llu of them only under "
                 "the durable-on-return rule); the first are printed above",
                 wl->name, (unsigned long long)wl->violations, (unsigned long long)visited,
                 (unsigned long long)wl->synced_only);
}

/* The writer's own view after the workload matches the model (no crash at all). */
static void wl_assert_live_view(struct workload *wl)
{
    struct crash_state st;
    struct verdict v;
    memset(&st, 0, sizeof(st));
    memset(&v, 0, sizeof(v));
    v.wl = wl;
    v.st = &st;
    v.span.durable = wl->w.count;
    v.span.started = wl->w.count;
    wl->chunk = malloc(READ_CHUNK);
    assert_non_null(wl->chunk);
    wl->durable_cached = 0;
    check_disk(&v, wl->img);
    free(wl->chunk);
    wl->chunk = NULL;
    if (v.bad)
        fail_msg("%s, read through the writer's handle: %s", wl->name, v.what);
}

static void wl_close(struct workload *wl)
{
    wl_assert_live_view(wl);
    begin(wl, "vhdx_close", true, STEP_OTHER);
    vhdx_close(wl->img);
    wl->img = NULL;
    end(wl);
}

static void wl_free(struct workload *wl)
{
    for (size_t i = 0; i < wl->w.count; i++)
        free(wl->steps[i].data);
    for (size_t i = 0; i < wl->n_win; i++) {
        free(wl->win[i].before);
        free(wl->win[i].durable);
    }
    free(wl->chunk);
    vhdx_io_close(&wl->rec);
    mf_free(&wl->file);
    free(wl->initial);
}

static struct workload *wl_new(void)
{
    struct workload *wl = calloc(1, sizeof(*wl));
    assert_non_null(wl);
    return wl;
}

/* A dynamic image of `size` with 1 MiB blocks, recorded from its first writable open. */
static struct workload *dynamic_workload(const char *name, uint64_t size)
{
    vhdx_create_options co = dynamic_options(size);
    struct workload *wl = wl_new();
    size_t len = 0;
    uint8_t *bytes = create_image(&co, &len);
    wl_init(wl, name, bytes, len, size);
    free(bytes);
    return wl;
}

/* ---- (a) vhdx_create itself ---- */

static void test_crash_create_dynamic(void **state)
{
    struct workload *wl = wl_new();
    vhdx_create_options co = dynamic_options(8 * MiB);
    (void)state;
    wl_init(wl, "create dynamic 8 MiB", NULL, 0, 0);
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_create(wl, &co);
    wl_run(wl, 100);
    assert_true(wl->refused > 0);
    wl_free(wl);
    free(wl);
}

static void test_crash_create_fixed(void **state)
{
    struct workload *wl = wl_new();
    vhdx_create_options co = dynamic_options(4 * MiB);
    (void)state;
    co.type = VHDX_DISK_FIXED;
    wl_init(wl, "create fixed 4 MiB", NULL, 0, 0);
    wl_window(wl, 0, (size_t)(4 * MiB), NULL);
    wl_create(wl, &co);
    wl_run(wl, 100);
    assert_true(wl->refused > 0);
    wl_free(wl);
    free(wl);
}

static void test_crash_create_differencing(void **state)
{
    const uint64_t size = 8 * MiB;
    vhdx_create_options co = dynamic_options(size);
    struct workload *wl = wl_new();
    uint8_t *parent_bytes;
    size_t parent_len = 0;
    vhdx_image *pimg = NULL;
    vhdx_io pio;
    (void)state;
    parent_bytes = create_image(&co, &parent_len);
    assert_status(vhdx_io_from_memory(parent_bytes, parent_len, &pio), VHDX_OK);
    assert_status(vhdx_open(&pio, NULL, &pimg), VHDX_OK);
    co.type = VHDX_DISK_DIFFERENCING;
    co.virtual_size = 0;
    co.parent = pimg;
    co.parent_relative_path = "parent.vhdx";
    co.parent_absolute_path = "\\\\?\\C:\\images\\parent.vhdx";
    wl_init(wl, "create differencing", NULL, 0, 0);
    wl->parent = parent_bytes;
    wl->parent_len = parent_len;
    wl_window(wl, 0, (size_t)size, NULL);
    wl_create(wl, &co);
    /* The size comes from the parent. */
    wl->steps[0].size = size;
    wl->size0 = size;
    vhdx_close(pimg);
    wl_run(wl, 100);
    assert_true(wl->refused > 0);
    wl_free(wl);
    free(wl);
    free(parent_bytes);
}

/* ---- (b) allocating writes ---- */

static void test_crash_allocating_writes(void **state)
{
    struct workload *wl = dynamic_workload("allocating writes", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    /* One batch: two new blocks, one write across a block boundary. */
    wl_write(wl, "write 64 KiB in block 0", 0, (size_t)(64 * KiB));
    wl_write(wl, "write 4 KiB in block 1", 1 * MiB + 512, (size_t)(4 * KiB));
    wl_write(wl, "write 8 KiB across blocks 2|3", 3 * MiB - 4 * KiB, (size_t)(8 * KiB));
    wl_flush(wl);
    /* The next: a new block, and more in an allocated one. */
    wl_write(wl, "write 512 B in block 5", 5 * MiB + 7 * 512, 512);
    wl_write(wl, "write 16 KiB in block 0", 128 * KiB, (size_t)(16 * KiB));
    wl_flush(wl);
    /* Unflushed at the end: only vhdx_close makes it durable. */
    wl_write(wl, "write 32 KiB in block 7", 7 * MiB + 32 * KiB, (size_t)(32 * KiB));
    wl_close(wl);
    wl_run(wl, 300);
    wl_free(wl);
    free(wl);
}

/* ---- (c) overwrites of allocated blocks ---- */

static void test_crash_overwrites(void **state)
{
    struct workload *wl = dynamic_workload("overwrites", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 64 KiB in block 1", 1 * MiB, (size_t)(64 * KiB));
    wl_write(wl, "write 64 KiB in block 2", 2 * MiB, (size_t)(64 * KiB));
    wl_finish(wl);
    /* The blocks exist now: these only rewrite payload. */
    wl_write(wl, "overwrite 4 KiB in block 1", 1 * MiB + 4 * KiB, (size_t)(4 * KiB));
    wl_write(wl, "overwrite 8 KiB across 1|2", 2 * MiB - 4 * KiB, (size_t)(8 * KiB));
    wl_flush(wl);
    wl_write(wl, "overwrite 64 KiB in block 1", 1 * MiB, (size_t)(64 * KiB));
    wl_write(wl, "overwrite 512 B in block 2", 2 * MiB + 512, 512);
    wl_finish(wl);
    wl_close(wl);
    wl_run(wl, 300);
    wl_free(wl);
    free(wl);
}

/* ---- (d) discard and write_zeroes of whole blocks ---- */

static void test_crash_discard_and_zeroes(void **state)
{
    struct workload *wl = dynamic_workload("discard, write_zeroes", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 32 KiB in block 1", 1 * MiB + 64 * KiB, (size_t)(32 * KiB));
    wl_write(wl, "write 32 KiB in block 2", 2 * MiB, (size_t)(32 * KiB));
    wl_write(wl, "write 32 KiB in block 3", 3 * MiB + 512 * KiB, (size_t)(32 * KiB));
    wl_write(wl, "write 4 KiB in block 4", 4 * MiB, (size_t)(4 * KiB));
    wl_finish(wl);
    wl_discard(wl, "discard block 1", 1 * MiB, 1 * MiB);
    wl_zeroes(wl, "write_zeroes block 2", 2 * MiB, 1 * MiB);
    wl_flush(wl);
    wl_zeroes(wl, "write_zeroes blocks 3-4", 3 * MiB, 2 * MiB);
    wl_write(wl, "write 4 KiB in block 1 again", 1 * MiB + 8 * KiB, (size_t)(4 * KiB));
    wl_finish(wl);
    /* Every block released: vhdx_finish gives the space back (the file shrinks). */
    wl_discard(wl, "discard block 1 again", 1 * MiB, 1 * MiB);
    wl_finish(wl);
    wl_close(wl);
    wl_run(wl, 300);
    wl_free(wl);
    free(wl);
}

/* ---- (e) resize: grow within the BAT region, then past it (the BAT moves) ---- */

static void test_crash_resize_grow(void **state)
{
    /*
     * 1 MiB blocks, 512-byte sectors: the chunk ratio is 4096, and the
     * 1 MiB BAT region holds 131072 entries, so past about 127.97 GiB the
     * BAT no longer fits: 130 GiB makes it move.
     */
    const uint64_t big = 130 * GiB;
    struct workload *wl = dynamic_workload("resize grow", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(24 * MiB), NULL);
    wl_window(wl, big - 2 * MiB, (size_t)(2 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 16 KiB in block 0", 16 * KiB, (size_t)(16 * KiB));
    wl_write(wl, "write 8 KiB in block 7", 8 * MiB - 8 * KiB, (size_t)(8 * KiB));
    wl_finish(wl);
    wl_resize(wl, "resize to 16 MiB", 16 * MiB, 0);
    wl_write(wl, "write 8 KiB in block 12", 12 * MiB, (size_t)(8 * KiB));
    wl_flush(wl);
    wl_resize(wl, "resize to 130 GiB (BAT moves)", big, 0);
    wl_flush(wl);
    wl_write(wl, "write 4 KiB in block 20", 20 * MiB + 4 * KiB, (size_t)(4 * KiB));
    wl_write(wl, "write 4 KiB in the last block", big - 4 * KiB, (size_t)(4 * KiB));
    wl_write(wl, "write 4 KiB in block 0", 0, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 200);
    wl_free(wl);
    free(wl);
}

/* ---- (f) a differencing image: partial-block writes (sector bitmaps) ---- */

static void test_crash_differencing(void **state)
{
    const uint64_t size = 8 * MiB;
    vhdx_create_options co = dynamic_options(size);
    struct workload *parent = dynamic_workload("parent", size);
    struct workload *wl = wl_new();
    uint8_t *parent_bytes, *child_bytes, *parent_disk;
    size_t parent_len = 0, child_len = 0;
    vhdx_image *pimg = NULL;
    vhdx_io pio;
    (void)state;
    /* The parent: data in blocks 0-2. */
    wl_window(parent, 0, (size_t)size, NULL);
    wl_open(parent);
    wl_write(parent, "parent block 0", 0, (size_t)(1 * MiB));
    wl_write(parent, "parent block 1 part", 1 * MiB + 256 * KiB, (size_t)(256 * KiB));
    wl_write(parent, "parent block 2 part", 2 * MiB, (size_t)(64 * KiB));
    wl_close(parent);
    parent_bytes = io_bytes(&parent->file.io, &parent_len);
    wl_free(parent);
    free(parent);

    /* The child, created over the opened parent. */
    assert_status(vhdx_io_from_memory(parent_bytes, parent_len, &pio), VHDX_OK);
    assert_status(vhdx_open(&pio, NULL, &pimg), VHDX_OK);
    parent_disk = malloc((size_t)size);
    assert_non_null(parent_disk);
    assert_status(vhdx_read(pimg, 0, parent_disk, (size_t)size), VHDX_OK);
    co.type = VHDX_DISK_DIFFERENCING;
    co.virtual_size = 0;
    co.parent = pimg;
    co.parent_relative_path = "parent.vhdx";
    child_bytes = create_image(&co, &child_len);
    vhdx_close(pimg);

    wl_init(wl, "differencing child", child_bytes, child_len, size);
    free(child_bytes);
    wl->parent = parent_bytes;
    wl->parent_len = parent_len;
    wl_window(wl, 0, (size_t)size, parent_disk);
    free(parent_disk);
    wl_open(wl);
    wl_write(wl, "child 4 KiB over parent block 0", 64 * KiB, (size_t)(4 * KiB));
    wl_write(wl, "child 512 B over parent block 1", 1 * MiB + 300 * KiB, 512);
    wl_flush(wl);
    wl_write(wl, "child 8 KiB in block 4 (parent zeros)", 4 * MiB + 8 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "child 4 KiB again in block 0", 64 * KiB + 2 * KiB, (size_t)(4 * KiB));
    wl_flush(wl);
    wl_zeroes(wl, "child write_zeroes block 2", 2 * MiB, 1 * MiB);
    wl_zeroes(wl, "child write_zeroes 8 KiB in block 0", 512 * KiB, (size_t)(8 * KiB));
    wl_discard(wl, "child discard block 1", 1 * MiB, 1 * MiB);
    wl_write(wl, "child 4 KiB in block 5", 5 * MiB + 512 * KiB, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 200);
    wl_free(wl);
    free(wl);
    free(parent_bytes);
}

/*
 * ---- (g) a conversion as vhdx convert makes it: vhdx_create_open, copy the
 * non-zero chunks of a raw disk into the unsealed image, vhdx_finish (the
 * seal). Every state before the seal is durable must be refused or whole.
 */

static void test_crash_convert(void **state)
{
    const uint64_t size = 4 * MiB;
    const size_t chunk = (size_t)(64 * KiB);
    struct workload *wl = wl_new();
    vhdx_create_options co = dynamic_options(size);
    uint8_t *raw = calloc((size_t)size, 1);
    struct test_rng rng;
    size_t copied = 0;
    (void)state;
    assert_non_null(raw);
    /* Block 0: data at its start; 1: zeros; 2: data, a hole, data; 3: a little. */
    test_rng_seed(&rng, 77);
    test_rng_fill(&rng, raw, (size_t)(192 * KiB));
    test_rng_fill(&rng, raw + 2 * MiB, (size_t)(128 * KiB));
    test_rng_fill(&rng, raw + 2 * MiB + 640 * KiB, (size_t)(64 * KiB));
    test_rng_fill(&rng, raw + 3 * MiB + 960 * KiB, (size_t)(4 * KiB));
    wl_init(wl, "convert (unsealed build)", NULL, 0, 0);
    wl_window(wl, 0, (size_t)size, NULL);
    wl_create_open(wl, &co);
    for (size_t off = 0; off < size; off += chunk) {
        bool zero = true;
        for (size_t k = 0; k < chunk && zero; k++)
            zero = raw[off + k] == 0;
        if (zero)
            continue;
        wl_write_bytes(wl, "copy a 64 KiB chunk", off, raw + off, chunk);
        copied++;
    }
    assert_int_equal(copied, 3 + 2 + 1 + 1);
    wl_finish(wl);
    wl_close(wl);
    /* The whole build flushes twice, both in the seal; the signature goes between. */
    {
        size_t n = io_record_count(&wl->rec), flushes = 0, last_flush = 0, sig_at = 0;
        for (size_t i = 0; i < n; i++) {
            const struct io_op *op = io_record_op(&wl->rec, i);
            if (op->kind == IO_OP_FLUSH) {
                flushes++;
                last_flush = i;
            } else if (op->kind == IO_OP_WRITE && op->off == 0 && op->len >= 8 &&
                       memcmp(op->data, "vhdxfile", 8) == 0) {
                sig_at = i;
            }
        }
        assert_int_equal(flushes, 2);
        assert_int_equal(sig_at, n - 2);
        assert_int_equal(last_flush, n - 1);
        assert_int_equal(io_record_op(&wl->rec, n - 3)->kind, IO_OP_FLUSH);
    }
    /*
     * Its one large epoch (the 18 writes of the build before the seal's
     * first flush) is enumerated whole: 2^18 subsets, each refused at the
     * signature, which is cheap.
     */
    wl->sim.max_exhaustive = 18;
    wl_run(wl, 1000);
    assert_true(wl->refused > 0);
    wl_free(wl);
    free(wl);
    free(raw);
}

/* ---- More paths: reuse within a batch, shrinking, fixed images, 4 KiB sectors ---- */

static void test_crash_discard_and_rewrite_in_one_batch(void **state)
{
    struct workload *wl = dynamic_workload("discard, rewrite, one batch", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 16 KiB in block 1", 1 * MiB, (size_t)(16 * KiB));
    wl_write(wl, "write 16 KiB in block 2", 2 * MiB + 16 * KiB, (size_t)(16 * KiB));
    wl_flush(wl);
    /* No flush between: the batch frees a block and allocates again. */
    wl_discard(wl, "discard block 1", 1 * MiB, 1 * MiB);
    wl_write(wl, "write 8 KiB in block 1 again", 1 * MiB + 4 * KiB, (size_t)(8 * KiB));
    wl_zeroes(wl, "write_zeroes 4 KiB inside block 2", 2 * MiB + 20 * KiB, (size_t)(4 * KiB));
    wl_zeroes(wl, "write_zeroes block 3 (unallocated)", 3 * MiB, 1 * MiB);
    wl_write(wl, "write 4 KiB in block 3", 3 * MiB + 8 * KiB, (size_t)(4 * KiB));
    wl_flush(wl);
    wl_discard(wl, "discard block 2", 2 * MiB, 1 * MiB);
    wl_write(wl, "write 4 KiB in block 2 again", 2 * MiB, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 200);
    wl_free(wl);
    free(wl);
}

static void test_crash_resize_shrink_then_grow(void **state)
{
    struct workload *wl = dynamic_workload("resize shrink, grow", 8 * MiB);
    (void)state;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 8 KiB in block 1", 1 * MiB + 8 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "write 8 KiB in block 5", 5 * MiB + 8 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "write 8 KiB at the end of block 5", 5 * MiB + 1016 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "write 8 KiB in block 6", 6 * MiB + 512 * KiB, (size_t)(8 * KiB));
    wl_finish(wl);
    /* Blocks 5 and 6 hold data: FORCE releases 6; the new end cuts block 5 near its end. */
    wl_resize(wl, "shrink to 5 MiB + 960 KiB (FORCE)", 5 * MiB + 960 * KiB, VHDX_RESIZE_FORCE);
    wl_flush(wl);
    wl_resize(wl, "grow to 8 MiB", 8 * MiB, 0);
    wl_write(wl, "write 4 KiB in block 7", 7 * MiB, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 200);
    wl_free(wl);
    free(wl);
}

static void test_crash_fixed_image(void **state)
{
    vhdx_create_options co = dynamic_options(4 * MiB);
    struct workload *wl = wl_new();
    uint8_t *bytes;
    size_t len = 0;
    (void)state;
    co.type = VHDX_DISK_FIXED;
    bytes = create_image(&co, &len);
    wl_init(wl, "fixed image", bytes, len, 4 * MiB);
    free(bytes);
    wl_window(wl, 0, (size_t)(4 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 16 KiB in block 0", 4 * KiB, (size_t)(16 * KiB));
    wl_write(wl, "write 8 KiB across 1|2", 2 * MiB - 4 * KiB, (size_t)(8 * KiB));
    wl_flush(wl);
    wl_zeroes(wl, "write_zeroes 4 KiB in block 0", 8 * KiB, (size_t)(4 * KiB));
    /*
     * (A fixed image's discard writes whole blocks of zeros in place: 2047
     * torn states per block, left out for time; write_zeroes takes the
     * same path on a smaller range.)
     */
    wl_zeroes(wl, "write_zeroes 64 KiB in block 1", 1 * MiB + 128 * KiB, (size_t)(64 * KiB));
    wl_write(wl, "write 4 KiB in block 3", 3 * MiB + 4 * KiB, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 200);
    wl_free(wl);
    free(wl);
}

static void test_crash_4k_sectors(void **state)
{
    vhdx_create_options co = dynamic_options(8 * MiB);
    struct workload *wl = wl_new();
    uint8_t *bytes;
    size_t len = 0;
    (void)state;
    co.logical_sector_size = 4096;
    co.physical_sector_size = 4096;
    bytes = create_image(&co, &len);
    wl_init(wl, "4 KiB sectors", bytes, len, 8 * MiB);
    free(bytes);
    /*
     * A disk with 4 KiB logical sectors writes each of them whole: torn
     * at 4 KiB. (Torn at 512 bytes, an overwrite in place mixes old and
     * new within one logical sector, which no writer without data
     * journalling can prevent.)
     */
    wl->sim.torn_granule = 4096;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 4 KiB in block 0", 0, (size_t)(4 * KiB));
    wl_write(wl, "write 64 KiB in block 1", 1 * MiB + 64 * KiB, (size_t)(64 * KiB));
    wl_write(wl, "write 12 KiB across 2|3", 3 * MiB - 8 * KiB, (size_t)(12 * KiB));
    wl_flush(wl);
    wl_write(wl, "write 4 KiB in block 0 again", 0, (size_t)(4 * KiB));
    wl_write(wl, "write 32 KiB in block 1 again", 1 * MiB + 80 * KiB, (size_t)(32 * KiB));
    wl_discard(wl, "discard block 2", 2 * MiB, 1 * MiB);
    wl_close(wl);
    wl_run(wl, 50);
    wl_free(wl);
    free(wl);
}

/* ---- (i) vhdx_repair of damaged spare copies ---- */

/*
 * An 8 MiB dynamic image holding data, finished, then damaged: a bit
 * flipped in the non-current header (when damage_spare_header) and at
 * file offset table_byte. Its bytes, what its disk reads and its current
 * header, for a workload that repairs it.
 */
static uint8_t *damaged_image(bool damage_spare_header, uint64_t table_byte, size_t *len,
                              uint8_t *disk, int *current)
{
    vhdx_create_options co = dynamic_options(8 * MiB);
    vhdx_open_options o;
    struct memfile m;
    vhdx_image *img = NULL;
    vhdx_info info;
    uint8_t *bytes, *data;
    vhdx_io io;
    size_t n = 0;

    bytes = create_image(&co, &n);
    data = malloc((size_t)(64 * KiB));
    assert_non_null(data);
    for (size_t i = 0; i < 64 * KiB; i++)
        data[i] = (uint8_t)(i * 7u + 1u);
    mf_open(&m, bytes, n);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    io = io_borrow(&m.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, data, (size_t)(64 * KiB)), VHDX_OK);
    assert_status(vhdx_write(img, 3 * MiB, data, (size_t)(4 * KiB)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_status(vhdx_read(img, 0, disk, (size_t)(8 * MiB)), VHDX_OK);
    vhdx_close(img);
    free(data);
    data = io_bytes(&m.io, len);
    mf_free(&m);
    free(bytes); /* the memfile's base: only once it is closed */
    bytes = data;
    *current = info.current_header;
    if (damage_spare_header)
        bytes[(info.current_header == 1 ? 128 : 64) * KiB + 300] ^= 0x10;
    bytes[table_byte] ^= 0x10;
    return bytes;
}

/* A workload that opens the damaged image writable, repairs it and closes it. */
static struct workload *repair_workload(const char *name, bool spare_header, uint64_t table_byte,
                                        int region_table)
{
    int current = 0;
    struct workload *wl = wl_new();
    uint8_t *disk = malloc((size_t)(8 * MiB));
    uint8_t *bytes;
    vhdx_check_result r;
    struct memfile m;
    vhdx_io io;
    size_t len = 0;
    assert_non_null(disk);
    bytes = damaged_image(spare_header, table_byte, &len, disk, &current);
    /* Damaged spares are warnings, never errors (the one verdict policy). */
    mf_open(&m, bytes, len);
    io = io_borrow(&m.io);
    assert_status(vhdx_check(&io, NULL, &r), VHDX_OK);
    assert_int_equal(r.errors, 0);
    assert_true(r.warnings >= (spare_header ? 4u : 2u));
    mf_free(&m);
    wl_init(wl, name, bytes, len, 8 * MiB);
    free(bytes);
    wl_window(wl, 0, (size_t)(8 * MiB), disk);
    free(disk);
    wl_open(wl);
    wl_repair(wl, spare_header ? 3 - current : 0, region_table);
    wl_close(wl);
    return wl;
}

/* The repair after a crash at any point: the image opens with no error, and once durable with no warning. */
static void crash_repair(const char *name, bool spare_header, uint64_t table_byte,
                         int region_table)
{
    struct workload *wl = repair_workload(name, spare_header, table_byte, region_table);
    wl_run(wl, 80);
    wl_free(wl);
    free(wl);
}

/* The non-current header and region table copy 2 fail their checksums: both rewritten. */
static void test_crash_repair_spare_header_and_table_copy2(void **state)
{
    (void)state;
    crash_repair("repair header, table copy 2", true, 256 * KiB + 100, 2);
}

/* Region table copy 1 fails its checksum, so copy 2 is in use: copy 1 is rewritten from it. */
static void test_crash_repair_table_copy1(void **state)
{
    (void)state;
    crash_repair("repair table copy 1", false, 192 * KiB + 100, 1);
}

/* ---- A workload that starts from a crash: the open replays, then the writer goes on ---- */

struct prefix_pick {
    size_t k;
    uint8_t *bytes;
    size_t len;
};

static int pick_prefix(void *ctx, const struct crash_state *st)
{
    struct prefix_pick *p = ctx;
    if (st->kind != CRASH_PREFIX || st->op != p->k)
        return 0;
    p->bytes = malloc(st->len);
    assert_non_null(p->bytes);
    memcpy(p->bytes, st->data, st->len);
    p->len = st->len;
    return 1;
}

static void test_crash_writes_after_replay(void **state)
{
    struct workload *first = dynamic_workload("dirty", 8 * MiB);
    struct workload *wl = wl_new();
    struct prefix_pick pick = {0, NULL, 0};
    struct io_op *ops = NULL;
    size_t n = 0;
    uint64_t visited = 0;
    uint8_t *disk;
    vhdx_image *ro = NULL;
    vhdx_info info;
    vhdx_io io;
    (void)state;
    /* A committed batch whose last in-place write never happened: the log must replay it. */
    wl_window(first, 0, (size_t)(8 * MiB), NULL);
    wl_open(first);
    wl_write(first, "write 64 KiB in block 0", 0, (size_t)(64 * KiB));
    wl_write(first, "write 4 KiB in block 3", 3 * MiB, (size_t)(4 * KiB));
    wl_flush(first);
    assert_status(crash_ops_from_record(&first->rec, &ops, &n), VHDX_OK);
    assert_true(n > 2 && ops[n - 1].kind == IO_OP_WRITE);
    pick.k = n - 1;
    assert_status(crash_sim_run(first->initial, first->initial_len, ops, n, NULL, pick_prefix,
                                &pick, &visited),
                  VHDX_OK);
    assert_non_null(pick.bytes);
    free(ops);
    vhdx_close(first->img);
    first->img = NULL;
    wl_free(first);
    free(first);

    /* What it holds once replayed (read-only: in memory). */
    disk = malloc((size_t)(8 * MiB));
    assert_non_null(disk);
    assert_status(vhdx_io_from_memory(pick.bytes, pick.len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, NULL, &ro), VHDX_OK);
    assert_status(vhdx_get_info(ro, &info), VHDX_OK);
    assert_int_equal(info.log_dirty, 1);
    assert_status(vhdx_read(ro, 0, disk, (size_t)(8 * MiB)), VHDX_OK);
    vhdx_close(ro);

    wl_init(wl, "writes after a replay", pick.bytes, pick.len, 8 * MiB);
    free(pick.bytes);
    wl_window(wl, 0, (size_t)(8 * MiB), disk);
    free(disk);
    /* The writable open replays in place: its writes are crash states too. */
    wl_open(wl);
    assert_true(io_record_count(&wl->rec) > 0);
    wl_write(wl, "write 8 KiB in block 3", 3 * MiB + 2 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "write 4 KiB in block 5", 5 * MiB, (size_t)(4 * KiB));
    wl_flush(wl);
    wl_discard(wl, "discard block 0", 0, 1 * MiB);
    wl_close(wl);
    wl_run(wl, 100);
    wl_free(wl);
    free(wl);
}

/* ---- (h) batches larger than the log: write_zeroes over a 130 GiB disk ---- */

static void test_crash_batches_overflow_the_log(void **state)
{
    /*
     * Every block of a dynamic disk moves to ZERO: about 260 BAT pages,
     * more than one log entry holds (half the 1 MiB log), so the batch is
     * committed in several entries and the log wraps. Torn at every 4 KiB
     * (the log's sector) rather than 512 bytes: the entries are 0.5 MiB.
     */
    const uint64_t big = 130 * GiB;
    struct workload *wl;
    (void)state;
    wl = dynamic_workload("write_zeroes 130 GiB", big);
    wl->sim.torn_granule = 4096;
    /* Each state walks 133,000 BAT entries three times (open, map, check): fewer draws. */
    wl->sim.random_subsets = 64;
    wl->sim.torn_subset_random = 8;
    wl_window(wl, 0, (size_t)(2 * MiB), NULL);
    wl_window(wl, 64 * GiB, (size_t)(1 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 8 KiB in block 1", 1 * MiB + 8 * KiB, (size_t)(8 * KiB));
    wl_write(wl, "write 4 KiB at 64 GiB", 64 * GiB, (size_t)(4 * KiB));
    wl_flush(wl);
    wl_zeroes(wl, "write_zeroes the whole disk", 0, big);
    wl_flush(wl);
    wl_write(wl, "write 4 KiB in block 0", 0, (size_t)(4 * KiB));
    wl_close(wl);
    wl_run(wl, 300);
    wl_free(wl);
    free(wl);
}

/* ---- The checker itself: it must see a broken writer ---- */

/* write 64 KiB in block 2, flush, close: recorded, not yet judged. */
static struct workload *small_workload(void)
{
    struct workload *wl = dynamic_workload("tampered", 8 * MiB);
    wl->quiet = true;
    wl_window(wl, 0, (size_t)(8 * MiB), NULL);
    wl_open(wl);
    wl_write(wl, "write 64 KiB in block 2", 2 * MiB, (size_t)(64 * KiB));
    wl_flush(wl);
    wl_close(wl);
    return wl;
}

static struct io_op *recorded_ops(struct workload *wl, size_t *n)
{
    struct io_op *ops = NULL;
    assert_status(crash_ops_from_record(&wl->rec, &ops, n), VHDX_OK);
    assert_non_null(ops);
    return ops;
}

/* Runs the checker over tampered operations: it must flag some states. */
static void assert_flagged(struct workload *wl, const struct io_op *ops, size_t n,
                           const char *tampering)
{
    uint64_t visited = wl_enumerate(wl, ops, n);
    print_message("checker, %-28s %4llu of %4llu states flagged (%llu only by "
                  "durable-on-return)\n",
                  tampering, (unsigned long long)wl->violations, (unsigned long long)visited,
                  (unsigned long long)wl->synced_only);
    assert_true(wl->violations > 0);
}

/* The recorded run itself is fine: the tampering is what the checker finds. */
static void assert_untampered_clean(struct workload *wl, const struct io_op *ops, size_t n)
{
    assert_true(wl_enumerate(wl, ops, n) > 10);
    assert_int_equal(wl->violations, 0);
}

static void test_checker_sees_wrong_payload(void **state)
{
    struct workload *wl = small_workload();
    size_t n = 0, hit = 0;
    struct io_op *ops = recorded_ops(wl, &n);
    uint8_t *garbage = malloc((size_t)(64 * KiB));
    (void)state;
    assert_non_null(garbage);
    memset(garbage, 0x5A, (size_t)(64 * KiB));
    assert_untampered_clean(wl, ops, n);
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == IO_OP_WRITE && ops[i].len == 64 * KiB) {
            ops[i].data = garbage;
            hit++;
        }
    assert_int_equal(hit, 1);
    assert_flagged(wl, ops, n, "payload garbled:");
    free(garbage);
    free(ops);
    wl_free(wl);
    free(wl);
}

static void test_checker_sees_missing_flushes(void **state)
{
    struct workload *wl = small_workload();
    size_t n = 0, hit = 0;
    struct io_op *ops = recorded_ops(wl, &n);
    (void)state;
    /*
     * A writer that never flushes: nothing is durable on disk, yet its
     * flush returned. (Each flush becomes an empty write, so that the
     * steps' operation indices still hold.)
     */
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == IO_OP_FLUSH) {
            ops[i].kind = IO_OP_WRITE;
            hit++;
        }
    assert_true(hit > 0);
    assert_flagged(wl, ops, n, "flushes dropped:");
    /*
     * Some are states that cannot be opened at all (a header naming a log
     * entry that was lost); the others only the durable-on-return rule sees.
     */
    assert_true(wl->synced_only > 0);
    free(ops);
    wl_free(wl);
    free(wl);
}

static void test_checker_sees_corrupt_bat(void **state)
{
    struct workload *wl = small_workload();
    size_t n = 0, hit = 0;
    struct io_op *ops = recorded_ops(wl, &n);
    uint8_t *garbage = malloc(4096);
    (void)state;
    assert_non_null(garbage);
    memset(garbage, 0xFF, 4096);
    /* The BAT (at 3 MiB in these images) written in place with garbage. */
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == IO_OP_WRITE && ops[i].off == 3 * MiB && ops[i].len == 4096) {
            ops[i].data = garbage;
            hit++;
        }
    assert_true(hit > 0);
    assert_flagged(wl, ops, n, "BAT garbled in place:");
    free(garbage);
    free(ops);
    wl_free(wl);
    free(wl);
}

static void test_checker_sees_lost_log_entry(void **state)
{
    struct workload *wl = small_workload();
    size_t n = 0, hit = 0;
    struct io_op *ops = recorded_ops(wl, &n);
    (void)state;
    /* The log entries (the log starts at 1 MiB) never reach the disk: a zero-length write. */
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == IO_OP_WRITE && ops[i].off >= 1 * MiB && ops[i].off < 2 * MiB) {
            ops[i].len = 0;
            ops[i].data = NULL;
            hit++;
        }
    assert_true(hit > 0);
    /* A state whose BAT update is lost after the flush returned: the data is gone. */
    assert_flagged(wl, ops, n, "log entries lost:");
    free(ops);
    wl_free(wl);
    free(wl);
}

/* The repaired copy's page never reaches its place: once the repair is durable the spare is still damaged. */
static void test_checker_sees_unrepaired_spare(void **state)
{
    struct workload *wl = repair_workload("tampered repair", false, 256 * KiB + 100, 2);
    size_t n = 0, hit = 0;
    struct io_op *ops = recorded_ops(wl, &n);
    (void)state;
    wl->quiet = true;
    assert_untampered_clean(wl, ops, n);
    for (size_t i = 0; i < n; i++)
        if (ops[i].kind == IO_OP_WRITE && ops[i].off == 256 * KiB) {
            ops[i].len = 0;
            ops[i].data = NULL;
            hit++;
        }
    assert_int_equal(hit, 1);
    assert_flagged(wl, ops, n, "region table copy 2 lost:");
    free(ops);
    wl_free(wl);
    free(wl);
}

/* ---- Writer findings outside crash states ---- */

/*
 * include/vhdx.h: "The first change of a session writes both headers
 * with a new FileWriteGuid and a new DataWriteGuid. vhdx_finish ends the
 * session ... a later change starts a new session." Between sessions the
 * file is complete (LogGuid 0): another reader may make a child of it,
 * whose parent_linkage is the DataWriteGuid of then (VHDX-FORMAT.md §3.3,
 * §5.4.6). A later change of the contents must give a new one, or that
 * child reads a changed parent without noticing.
 */
static void test_new_session_after_finish_gets_new_data_write_guid(void **state)
{
    struct memfile m;
    vhdx_create_options co = dynamic_options(8 * MiB);
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_info first, second;
    uint8_t buf[4096];
    vhdx_io io;
    (void)state;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, &co), VHDX_OK);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    io = io_borrow(&m.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    memset(buf, 1, sizeof(buf));
    assert_status(vhdx_write(img, 0, buf, sizeof(buf)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &first), VHDX_OK);
    /* Session 2: the contents change again. */
    memset(buf, 2, sizeof(buf));
    assert_status(vhdx_write(img, 0, buf, sizeof(buf)), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    assert_status(vhdx_get_info(img, &second), VHDX_OK);
    vhdx_close(img);
    mf_free(&m);
    assert_string_not_equal(first.data_write_guid, second.data_write_guid);
    assert_string_not_equal(first.file_write_guid, second.file_write_guid);
}

/* ---- vhdx_commit: two files ---- */

/*
 * A commit writes two files: the child (its locator, twice) and the
 * parent. A tagging back end over each file's recorder notes which file
 * every operation went to, in the order they were issued. The commit's
 * contract makes the operations come in runs, one file at a time, each
 * run ending with a flush of its file (checked here): a flush makes every
 * earlier operation of its file durable, and nothing of the other file is
 * issued before it returns. So a crash during a run leaves the other
 * file exactly as the earlier runs left it, and the crash states of the
 * pair are those of each run (tests/crash_sim.h, over the file as the
 * earlier runs left it) with the other file fixed.
 *
 * At every state: the chain child -> parent opens and reads exactly the
 * disk it read before the commit; a new vhdx_commit from the state
 * succeeds, after which the parent alone (with its own parent) reads that
 * disk and the child opens without a finding. Once the whole run is
 * durable the parent alone reads it without a second commit. Torn states
 * of payload writes longer than 64 KiB are judged at 64 KiB boundaries
 * only (the checks are the same at every 512 bytes of a payload the chain
 * reads from the child).
 */

#define CM_SIZE (4 * MiB)
#define CM_BIG_WRITE (64 * KiB)

struct tag_io {
    vhdx_io inner;
    uint8_t file; /* 0 child, 1 parent */
    struct commit_crash *cc;
};

struct bytes {
    uint8_t *data;
    size_t len;
};

struct commit_crash {
    const char *name;
    struct bytes base, parent, child; /* before the commit (base: a differencing parent's) */
    uint8_t *want;
    /* The recorded run. */
    uint8_t *tags;
    size_t ntags, tags_cap;
    struct io_op *ops[2];
    size_t nops[2];
    /* While judging: the two files of the current state. */
    struct bytes cur[2];
    uint8_t *got;
    uint64_t states, skipped, resumed, final_checked;
    struct crash_sim_options sim;
};

static void tag(struct commit_crash *cc, uint8_t file)
{
    if (cc->ntags == cc->tags_cap) {
        cc->tags_cap = cc->tags_cap == 0 ? 256 : cc->tags_cap * 2;
        cc->tags = realloc(cc->tags, cc->tags_cap);
        assert_non_null(cc->tags);
    }
    cc->tags[cc->ntags++] = file;
}

static vhdx_status tag_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct tag_io *t = ctx;
    return t->inner.read(t->inner.ctx, buf, len, off, got);
}

static vhdx_status tag_size(void *ctx, uint64_t *size)
{
    struct tag_io *t = ctx;
    return t->inner.size(t->inner.ctx, size);
}

static vhdx_status tag_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct tag_io *t = ctx;
    vhdx_status st = t->inner.write(t->inner.ctx, buf, len, off);
    if (st == VHDX_OK)
        tag(t->cc, t->file);
    return st;
}

static vhdx_status tag_flush(void *ctx)
{
    struct tag_io *t = ctx;
    vhdx_status st = t->inner.flush(t->inner.ctx);
    if (st == VHDX_OK)
        tag(t->cc, t->file);
    return st;
}

static vhdx_status tag_truncate(void *ctx, uint64_t size)
{
    struct tag_io *t = ctx;
    vhdx_status st = t->inner.truncate(t->inner.ctx, size);
    if (st == VHDX_OK)
        tag(t->cc, t->file);
    return st;
}

static vhdx_status tag_zero(void *ctx, uint64_t off, uint64_t len)
{
    struct tag_io *t = ctx;
    vhdx_status st = t->inner.zero(t->inner.ctx, off, len);
    if (st == VHDX_OK)
        tag(t->cc, t->file);
    return st;
}

static vhdx_io tag_io_over(struct tag_io *t, const vhdx_io *inner, uint8_t file,
                           struct commit_crash *cc)
{
    vhdx_io io;
    memset(&io, 0, sizeof(io));
    t->inner = *inner;
    t->file = file;
    t->cc = cc;
    io.ctx = t;
    io.read = tag_read;
    io.size = tag_size;
    io.write = tag_write;
    io.flush = tag_flush;
    io.truncate = tag_truncate;
    io.zero = inner->zero != NULL ? tag_zero : NULL;
    return io;
}

/* Applies ops[0, n) to a file (a growable malloc'd buffer). */
static void apply_ops(struct bytes *b, const struct io_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct io_op *op = &ops[i];
        uint64_t end = op->off + op->len;
        if (op->kind == IO_OP_FLUSH)
            continue;
        if (op->kind == IO_OP_TRUNCATE)
            end = op->off;
        if (end > b->len || op->kind == IO_OP_TRUNCATE) {
            uint8_t *nb = realloc(b->data, end > 0 ? (size_t)end : 1);
            assert_non_null(nb);
            if (end > b->len)
                memset(nb + b->len, 0, (size_t)end - b->len);
            b->data = nb;
            if (op->kind == IO_OP_TRUNCATE || end > b->len)
                b->len = (size_t)end;
        }
        if (op->kind == IO_OP_WRITE && op->len > 0)
            memcpy(b->data + op->off, op->data, (size_t)op->len);
        else if (op->kind == IO_OP_ZERO)
            memset(b->data + op->off, 0, (size_t)op->len);
    }
}

static struct bytes bytes_copy(const struct bytes *b)
{
    struct bytes c;
    c.len = b->len;
    c.data = malloc(b->len > 0 ? b->len : 1);
    assert_non_null(c.data);
    memcpy(c.data, b->data, b->len);
    return c;
}

/* The files a chain is opened over: a base (a differencing parent's) and a parent. */
struct cc_parents {
    const vhdx_io *base, *parent;
};

static vhdx_status cc_open_parent(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    const struct cc_parents *p = ctx;
    (void)key;
    *out = io_borrow(strcmp(path, "base.vhdx") == 0 ? p->base : p->parent);
    return VHDX_OK;
}

/* Opens `file` read-only with its chain; NULL when it does not open. */
static vhdx_image *cc_open(const vhdx_io *file, const struct cc_parents *pp, struct test_sink *ts)
{
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io = io_borrow(file);
    memset(&o, 0, sizeof(o));
    o.on_diag = test_sink_collect;
    o.diag_ctx = ts;
    o.open_parent = cc_open_parent;
    o.open_parent_ctx = (void *)(uintptr_t)pp;
    test_sink_init(ts);
    if (vhdx_open(&io, &o, &img) != VHDX_OK)
        return NULL;
    return img;
}

static vhdx_io cc_memory(const struct bytes *b)
{
    vhdx_io io;
    assert_status(vhdx_io_from_memory(b->data, b->len, &io), VHDX_OK);
    return io;
}

/* Whether the file's chain opens and reads cc->want; what went wrong in why. */
static bool cc_reads_want(struct commit_crash *cc, const vhdx_io *file,
                          const struct cc_parents *pp, bool no_findings, const char **why)
{
    struct test_sink ts;
    vhdx_image *img = cc_open(file, pp, &ts);
    bool ok;
    if (img == NULL) {
        *why = "does not open";
        return false;
    }
    ok = vhdx_read(img, 0, cc->got, CM_SIZE) == VHDX_OK && memcmp(cc->got, cc->want, CM_SIZE) == 0;
    if (!ok)
        *why = "reads other content";
    if (ok && no_findings && (ts.sink.errors != 0 || ts.sink.warnings != 0)) {
        ok = false;
        *why = "has findings";
    }
    vhdx_close(img);
    return ok;
}

struct cc_visit {
    struct commit_crash *cc;
    int file;       /* the file the run writes */
    size_t run_ops; /* its operations in the run */
    bool last_run;
};

static int cc_visit(void *ctx, const struct crash_state *s)
{
    struct cc_visit *v = ctx;
    struct commit_crash *cc = v->cc;
    struct bytes files[2];
    vhdx_io base = cc_memory(&cc->base), io[2];
    struct cc_parents pp;
    const char *why = NULL;
    files[v->file].data = (uint8_t *)(uintptr_t)s->data;
    files[v->file].len = s->len;
    files[1 - v->file] = cc->cur[1 - v->file];
    io[0] = cc_memory(&files[0]);
    io[1] = cc_memory(&files[1]);
    pp.base = &base;
    pp.parent = &io[1];
    cc->states++;
    /* 1. The chain reads its pre-commit disk. */
    if (!cc_reads_want(cc, &io[0], &pp, false, &why))
        fail_msg("%s: %s state %llu (run of file %d, op %zu): the chain %s", cc->name,
                 crash_kind_name(s->kind), (unsigned long long)s->index, v->file, s->op, why);
    /* 2. Complete: the parent alone reads it. */
    if (v->last_run && s->kind == CRASH_PREFIX && s->op == v->run_ops) {
        cc->final_checked++;
        if (!cc_reads_want(cc, &io[1], &pp, false, &why))
            fail_msg("%s: after the whole commit the parent %s", cc->name, why);
    }
    /* 3. A new commit from this state finishes the work. */
    {
        struct memfile cm, pm;
        vhdx_commit_result r;
        vhdx_open_options o;
        vhdx_status st;
        mf_open(&cm, files[0].data, files[0].len);
        mf_open(&pm, files[1].data, files[1].len);
        memset(&o, 0, sizeof(o));
        st = vhdx_commit(&cm.io, &pm.io, NULL, &o, &r);
        if (st != VHDX_OK)
            fail_msg("%s: %s state %llu (run of file %d, op %zu): the second commit: %s", cc->name,
                     crash_kind_name(s->kind), (unsigned long long)s->index, v->file, s->op,
                     vhdx_strerror(st));
        cc->resumed += (uint64_t)r.resumed;
        pp.parent = &pm.io;
        if (!cc_reads_want(cc, &pm.io, &pp, false, &why))
            fail_msg("%s: %s state %llu: after the second commit the parent %s", cc->name,
                     crash_kind_name(s->kind), (unsigned long long)s->index, why);
        if (!cc_reads_want(cc, &cm.io, &pp, true, &why))
            fail_msg("%s: %s state %llu: after the second commit the chain %s", cc->name,
                     crash_kind_name(s->kind), (unsigned long long)s->index, why);
        mf_free(&cm);
        mf_free(&pm);
    }
    vhdx_io_close(&io[0]);
    vhdx_io_close(&io[1]);
    vhdx_io_close(&base);
    return 0;
}

/* Torn states of long payload writes only at 64 KiB boundaries (see above). */
struct cc_filter {
    struct cc_visit v;
    const struct io_op *ops;
};

static int cc_filter_visit(void *ctx, const struct crash_state *s)
{
    struct cc_filter *f = ctx;
    if (s->kind == CRASH_TORN && f->ops[s->op].len > CM_BIG_WRITE &&
        s->torn_bytes % CM_BIG_WRITE != 0) {
        f->v.cc->skipped++;
        return 0;
    }
    return cc_visit(&f->v, s);
}

static void cc_run(struct commit_crash *cc)
{
    struct memfile cm, pm;
    vhdx_io crec, prec, cio, pio;
    struct tag_io ct, pt;
    vhdx_open_options o;
    vhdx_commit_result r;
    size_t at[2] = {0, 0};
    uint64_t runs = 0;

    /* The disk before. */
    {
        vhdx_io b = cc_memory(&cc->base), p = cc_memory(&cc->parent), c = cc_memory(&cc->child);
        struct cc_parents pp = {&b, &p};
        struct test_sink ts;
        vhdx_image *img = cc_open(&c, &pp, &ts);
        assert_non_null(img);
        cc->want = malloc(CM_SIZE);
        cc->got = malloc(CM_SIZE);
        assert_non_null(cc->want);
        assert_non_null(cc->got);
        assert_status(vhdx_read(img, 0, cc->want, CM_SIZE), VHDX_OK);
        vhdx_close(img);
        vhdx_io_close(&b);
        vhdx_io_close(&p);
        vhdx_io_close(&c);
    }
    /* The recorded commit. */
    mf_open(&cm, cc->child.data, cc->child.len);
    mf_open(&pm, cc->parent.data, cc->parent.len);
    assert_status(io_record_create(&cm.io, &cm.acct, &crec), VHDX_OK);
    assert_status(io_record_create(&pm.io, &pm.acct, &prec), VHDX_OK);
    cio = tag_io_over(&ct, &crec, 0, cc);
    pio = tag_io_over(&pt, &prec, 1, cc);
    memset(&o, 0, sizeof(o));
    assert_status(vhdx_commit(&cio, &pio, NULL, &o, &r), VHDX_OK);
    assert_int_equal(r.resumed, 0);
    assert_status(crash_ops_from_record(&crec, &cc->ops[0], &cc->nops[0]), VHDX_OK);
    assert_status(crash_ops_from_record(&prec, &cc->ops[1], &cc->nops[1]), VHDX_OK);
    assert_int_equal(cc->nops[0] + cc->nops[1], cc->ntags);

    /* Each run over the files as the earlier runs left them. */
    cc->cur[0] = bytes_copy(&cc->child);
    cc->cur[1] = bytes_copy(&cc->parent);
    for (size_t i = 0; i < cc->ntags;) {
        int file = cc->tags[i];
        size_t j = i, n;
        struct cc_filter f;
        uint64_t visited = 0;
        while (j < cc->ntags && cc->tags[j] == file)
            j++;
        n = j - i;
        /* The run ends with a flush of its file: durable before the other file is touched. */
        assert_int_equal(cc->ops[file][at[file] + n - 1].kind, IO_OP_FLUSH);
        memset(&f, 0, sizeof(f));
        f.v.cc = cc;
        f.v.file = file;
        f.v.run_ops = n;
        f.v.last_run = j == cc->ntags;
        f.ops = cc->ops[file] + at[file];
        assert_status(crash_sim_run(cc->cur[file].data, cc->cur[file].len, f.ops, n, &cc->sim,
                                    cc_filter_visit, &f, &visited),
                      VHDX_OK);
        apply_ops(&cc->cur[file], f.ops, n);
        at[file] += n;
        runs++;
        i = j;
    }
    assert_int_equal(at[0], cc->nops[0]);
    assert_int_equal(at[1], cc->nops[1]);
    /* Child (parent_linkage2), parent, child (parent_linkage). */
    assert_int_equal(runs, 3);
    assert_true(cc->final_checked == 1);
    print_message("%s: %zu + %zu operations in %llu runs, %llu crash states checked (%llu "
                  "resumed with the parent at the commit's identity; %llu torn payload states "
                  "left out)\n",
                  cc->name, cc->nops[0], cc->nops[1], (unsigned long long)runs,
                  (unsigned long long)cc->states, (unsigned long long)cc->resumed,
                  (unsigned long long)cc->skipped);
    assert_true(cc->resumed > 0);
    totals.states += cc->states;

    free(cc->ops[0]);
    free(cc->ops[1]);
    vhdx_io_close(&crec);
    vhdx_io_close(&prec);
    mf_free(&cm);
    mf_free(&pm);
    free(cc->cur[0].data);
    free(cc->cur[1].data);
    free(cc->tags);
    free(cc->want);
    free(cc->got);
}

/* An image file made in memory: create, then the writes of `fill_fn`. */
static struct bytes cc_image(const vhdx_create_options *co, const struct bytes *base,
                             const struct bytes *parent, void (*fill_fn)(vhdx_image *img))
{
    struct memfile m;
    struct bytes b;
    vhdx_io bio = cc_memory(base), pio = cc_memory(parent);
    struct cc_parents pp = {&bio, &pio};
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    mf_init(&m);
    assert_status(vhdx_create(&m.io, co), VHDX_OK);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    o.open_parent = cc_open_parent;
    o.open_parent_ctx = &pp;
    io = io_borrow(&m.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    fill_fn(img);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    b.data = io_bytes(&m.io, &b.len);
    mf_free(&m);
    vhdx_io_close(&bio);
    vhdx_io_close(&pio);
    return b;
}

static void cc_pattern(vhdx_image *img, uint64_t off, size_t len, unsigned seed)
{
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 13u + seed * 29u + 5u);
    assert_status(vhdx_write(img, off, buf, len), VHDX_OK);
    free(buf);
}

/* Base and dynamic parent: data in blocks 0, 1 and 3; block 2 unallocated. */
static void cc_fill_parent(vhdx_image *img)
{
    cc_pattern(img, 0, (size_t)(2 * MiB), 1);
    cc_pattern(img, 3 * MiB, (size_t)MiB, 2);
}

/* A differencing parent: part of block 1 and of block 2. */
static void cc_fill_middle(vhdx_image *img)
{
    cc_pattern(img, MiB + 4096, 8192, 3);
    cc_pattern(img, 2 * MiB + 512, 1024, 4);
}

/* The child: block 1 whole, sectors of blocks 0 and 2, block 3 zeroed, the last sector. */
static void cc_fill_child(vhdx_image *img)
{
    cc_pattern(img, MiB, (size_t)MiB, 5);
    cc_pattern(img, 1000, 777, 6);
    cc_pattern(img, 2 * MiB + 10, 600, 7);
    assert_status(vhdx_write_zeroes(img, 3 * MiB, MiB), VHDX_OK);
    cc_pattern(img, CM_SIZE - 100, 100, 8);
}

/* The parent handle's files: read during the vhdx_create that follows, closed by cc_child_done. */
static vhdx_io bio, fio;

static void cc_child_done(vhdx_image *parent)
{
    vhdx_close(parent);
    vhdx_io_close(&bio);
    vhdx_io_close(&fio);
}

static vhdx_create_options cc_child_options(const struct bytes *file, const struct bytes *base,
                                            const char *rel, vhdx_image **parent)
{
    struct cc_parents pp = {&bio, &fio};
    vhdx_create_options co;
    struct test_sink ts;
    bio = cc_memory(base);
    fio = cc_memory(file);
    *parent = cc_open(&fio, &pp, &ts);
    assert_non_null(*parent);
    memset(&co, 0, sizeof(co));
    co.type = VHDX_DISK_DIFFERENCING;
    co.parent = *parent;
    co.parent_relative_path = rel;
    return co;
}

static void crash_commit(const char *name, bool parent_differencing)
{
    static struct commit_crash cc;
    vhdx_create_options co = dynamic_options(CM_SIZE);
    static const uint8_t nothing[1];
    struct bytes none = {(uint8_t *)(uintptr_t)nothing, 0};
    vhdx_image *p;
    memset(&cc, 0, sizeof(cc));
    cc.name = name;
    cc.sim = crash_sim_defaults();
    if (parent_differencing) {
        cc.base = cc_image(&co, &none, &none, cc_fill_parent);
        co = cc_child_options(&cc.base, &none, "base.vhdx", &p);
        cc.parent = cc_image(&co, &cc.base, &none, cc_fill_middle);
        cc_child_done(p);
    } else {
        cc.parent = cc_image(&co, &none, &none, cc_fill_parent);
    }
    co = cc_child_options(&cc.parent, &cc.base, "parent.vhdx", &p);
    cc.child = cc_image(&co, &cc.base, &cc.parent, cc_fill_child);
    cc_child_done(p);
    cc_run(&cc);
    free(cc.base.data);
    free(cc.parent.data);
    free(cc.child.data);
}

static void test_crash_commit_dynamic_parent(void **state)
{
    (void)state;
    crash_commit("commit into a dynamic parent", false);
}

static void test_crash_commit_differencing_parent(void **state)
{
    (void)state;
    crash_commit("commit into a differencing parent", true);
}

static bool filtered;

static int report_totals(void **state)
{
    (void)state;
    print_message("crash states in all: %llu, violations: %llu\n",
                  (unsigned long long)totals.states, (unsigned long long)totals.violations);
    /* Every workload ran: at least the sum of their lower bounds. */
    if (!filtered && totals.states < 2800) {
        print_error("only %llu crash states in all\n", (unsigned long long)totals.states);
        return -1;
    }
    return totals.violations == 0 ? 0 : -1;
}

int main(void)
{
    /* CRASH_TEST_FILTER="test_crash_resize*" runs only the tests matching it. */
    const char *filter = getenv("CRASH_TEST_FILTER");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_create_dynamic),
        cmocka_unit_test(test_crash_create_fixed),
        cmocka_unit_test(test_crash_create_differencing),
        cmocka_unit_test(test_crash_allocating_writes),
        cmocka_unit_test(test_crash_overwrites),
        cmocka_unit_test(test_crash_discard_and_zeroes),
        cmocka_unit_test(test_crash_resize_grow),
        cmocka_unit_test(test_crash_differencing),
        cmocka_unit_test(test_crash_convert),
        cmocka_unit_test(test_crash_batches_overflow_the_log),
        cmocka_unit_test(test_crash_discard_and_rewrite_in_one_batch),
        cmocka_unit_test(test_crash_resize_shrink_then_grow),
        cmocka_unit_test(test_crash_fixed_image),
        cmocka_unit_test(test_crash_4k_sectors),
        cmocka_unit_test(test_crash_writes_after_replay),
        cmocka_unit_test(test_crash_repair_spare_header_and_table_copy2),
        cmocka_unit_test(test_crash_repair_table_copy1),
        cmocka_unit_test(test_crash_commit_dynamic_parent),
        cmocka_unit_test(test_crash_commit_differencing_parent),
        cmocka_unit_test(test_checker_sees_wrong_payload),
        cmocka_unit_test(test_checker_sees_missing_flushes),
        cmocka_unit_test(test_checker_sees_corrupt_bat),
        cmocka_unit_test(test_checker_sees_lost_log_entry),
        cmocka_unit_test(test_checker_sees_unrepaired_spare),
        cmocka_unit_test(test_new_session_after_finish_gets_new_data_write_guid),
    };
    if (filter != NULL) {
        cmocka_set_test_filter(filter);
        filtered = true;
    }
    return cmocka_run_group_tests(tests, NULL, report_totals);
}
