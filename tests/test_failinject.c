/*
 * Failure injection: one workload of the whole API (create, or an unsealed
 * build sealed after its first write; check; a writable session with every
 * kind of change: a resize, partial and whole-block writes, overwrites,
 * zeroes, a discard; a flush; a close that leaves the log dirty; check and
 * a read-only open replaying it in memory, which must not write; a
 * writable open replaying it in place; a new session; finish), on a
 * dynamic, a fixed, a 4096-byte-sector and a differencing disk (whose
 * parent's file goes through the same failures), run again and again with
 * one failure injected at each point it can meet:
 *
 *   - the caller's allocator refuses the N-th allocation, for every N;
 *   - the back end fails the N-th read, write, flush, truncate or size,
 *     for every N, once or from then on.
 *
 * Each run stops at the call that failed, which must return exactly the
 * documented status (VHDX_E_NOMEM, VHDX_E_IO); the handle then behaves as
 * vhdx.h says (a failed write fails the handle: VHDX_E_BAD_STATE after; a
 * read that ran out of memory leaves it usable). After the handles are
 * closed, every allocation is back (the allocator counts them), and the
 * file is never corrupt: reopened with malloc it passes vhdx_check, its
 * dirty log (if any) replays in memory and in place to the same disk, and
 * every sector reads as its content before the failing call or as what
 * that call meant to write (or, for changes not yet flushed when the
 * handle failed, as its content at the last flush). A file whose creation
 * failed may be refused, by its signature, and only that file.
 *
 * The sweep for each kind of failure ends at the first N that the run
 * never reaches: that run succeeds and its results are checked exactly.
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

#include "test_util.h"
#include "vhdx.h"

#define MiB (1024ull * 1024ull)
#define BLOCK MiB
#define VSIZE (4 * MiB) /* four blocks: small, so that thousands of runs stay fast */

/* ---- The caller's allocator: fails the N-th allocation, counts what is live ---- */

/* Each allocation carries its size in front, so a free with the wrong size is caught. */
#define FA_HEADER 16u

struct failing_allocator {
    uint64_t calls;   /* allocations asked for */
    uint64_t fail_at; /* the one that fails (1-based); 0: none */
    bool sticky;      /* and every one after it */
    uint64_t failed;  /* allocations refused */
    uint64_t live, live_bytes;
    uint64_t bad_frees; /* frees whose size differs from the allocation's */
};

static void *fa_alloc(void *ctx, size_t size)
{
    struct failing_allocator *fa = ctx;
    uint8_t *p;
    fa->calls++;
    if (fa->fail_at != 0 && (fa->calls == fa->fail_at || (fa->sticky && fa->calls > fa->fail_at))) {
        fa->failed++;
        return NULL;
    }
    p = malloc(size + FA_HEADER);
    if (p == NULL)
        return NULL;
    memcpy(p, &size, sizeof(size));
    fa->live++;
    fa->live_bytes += size;
    return p + FA_HEADER;
}

static void fa_free(void *ctx, void *ptr, size_t size)
{
    struct failing_allocator *fa = ctx;
    uint8_t *p;
    size_t was;
    if (ptr == NULL)
        return;
    p = (uint8_t *)ptr - FA_HEADER;
    memcpy(&was, p, sizeof(was));
    if (was != size)
        fa->bad_frees++;
    fa->live--;
    fa->live_bytes -= was;
    free(p);
}

/* ---- The back end: files in memory behind a switch that fails the N-th operation ---- */

enum io_op { IO_READ, IO_WRITE, IO_FLUSH, IO_TRUNCATE, IO_SIZE, IO_OPS, IO_NONE = IO_OPS };

static const char *const io_op_names[IO_OPS] = {"read", "write", "flush", "truncate", "size"};

/* One plan for every file of a run (the image and its parent): one count per kind. */
struct fault_plan {
    uint64_t ops[IO_OPS]; /* operations seen, by kind */
    enum io_op fail_op;   /* IO_NONE: inject nothing */
    uint64_t fail_at;     /* the operation of that kind that fails (1-based) */
    bool sticky;          /* and every later one of that kind */
    uint64_t injected;    /* failures injected */
    bool stopped;         /* writes, truncates and flushes fail, uncounted: a stopped machine */
};

struct faulty {
    vhdx_io file; /* the memory file */
    struct fault_plan *plan;
};

static bool fault_now(struct fault_plan *p, enum io_op op)
{
    uint64_t n = ++p->ops[op];
    if (op != p->fail_op || !(n == p->fail_at || (p->sticky && n > p->fail_at)))
        return false;
    p->injected++;
    return true;
}

static vhdx_status fy_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    struct faulty *f = ctx;
    *got = 0;
    if (fault_now(f->plan, IO_READ))
        return VHDX_E_IO;
    return f->file.read(f->file.ctx, buf, len, off, got);
}

static vhdx_status fy_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
    struct faulty *f = ctx;
    if (f->plan->stopped || fault_now(f->plan, IO_WRITE) || f->file.write == NULL)
        return VHDX_E_IO;
    return f->file.write(f->file.ctx, buf, len, off);
}

static vhdx_status fy_flush(void *ctx)
{
    struct faulty *f = ctx;
    if (f->plan->stopped || fault_now(f->plan, IO_FLUSH))
        return VHDX_E_IO;
    return f->file.flush != NULL ? f->file.flush(f->file.ctx) : VHDX_OK;
}

static vhdx_status fy_truncate(void *ctx, uint64_t size)
{
    struct faulty *f = ctx;
    if (f->plan->stopped || fault_now(f->plan, IO_TRUNCATE) || f->file.truncate == NULL)
        return VHDX_E_IO;
    return f->file.truncate(f->file.ctx, size);
}

static vhdx_status fy_size(void *ctx, uint64_t *size)
{
    struct faulty *f = ctx;
    if (fault_now(f->plan, IO_SIZE))
        return VHDX_E_IO;
    return f->file.size(f->file.ctx, size);
}

/* The faulty back end as a vhdx_io that vhdx_close does not close. */
static vhdx_io faulty_io(struct faulty *f)
{
    vhdx_io io;
    memset(&io, 0, sizeof(io));
    io.ctx = f;
    io.read = fy_read;
    io.write = fy_write;
    io.flush = fy_flush;
    io.truncate = fy_truncate;
    io.size = fy_size;
    return io;
}

/* A faulty back end that owns its memory file and itself (a parent's, closed with it). */
static void fy_close_owned(void *ctx)
{
    struct faulty *f = ctx;
    vhdx_io_close(&f->file);
    free(f);
}

/* ---- Findings ---- */

/*
 * Counts findings. The only warning a failure may leave behind is data
 * past the last structure: a block written for a change whose BAT entry
 * never reached the file (the crash semantics of vhdx.h allow losing it).
 */
struct findings {
    size_t errors, warnings, unexpected;
    vhdx_diag first_unexpected;
};

static void findings_collect(void *ctx, const vhdx_diag *d)
{
    struct findings *f = ctx;
    bool expected = true;
    if (d->severity == VHDX_SEVERITY_ERROR) {
        f->errors++;
        expected = false;
    } else if (d->severity == VHDX_SEVERITY_WARNING) {
        f->warnings++;
        expected = d->rule != NULL && strcmp(d->rule, "image.space.trailing_data") == 0;
    }
    if (!expected && f->unexpected++ == 0)
        f->first_unexpected = *d;
}

/* ---- The disk model ---- */

struct variant {
    const char *name;
    vhdx_disk_type type;
    uint32_t lss;
    bool unsealed; /* built by vhdx_create_open, sealed by vhdx_finish after the first write */
};

/* What a call means to do to the disk: data of a seed, or zeros (seed 0). */
struct change {
    uint64_t off, len;
    unsigned seed;
};

#define SEEDS 9u
#define PARENT_SEED 8u /* the parent of the differencing disk holds it everywhere */

/*
 * The content a seed gives the whole disk, made once (random bytes, so no
 * two seeds agree on a sector): a write of seed s at off writes
 * seeded[s] + off, and the model copies the same bytes.
 */
static uint8_t *seeded[SEEDS];

static const uint8_t *seed_content(unsigned seed)
{
    if (seeded[seed] == NULL) {
        struct test_rng rng;
        seeded[seed] = malloc(VSIZE);
        assert_non_null(seeded[seed]);
        test_rng_seed(&rng, 0xF417 + seed);
        test_rng_fill(&rng, seeded[seed], VSIZE);
    }
    return seeded[seed];
}


static void change_apply(uint8_t *disk, const struct change *c)
{
    if (c->seed == 0)
        memset(disk + c->off, 0, (size_t)c->len);
    else
        memcpy(disk + c->off, seed_content(c->seed) + c->off, (size_t)c->len);
}

/* ---- One run of the workload ---- */

enum sweep_kind { SWEEP_ALLOC, SWEEP_IO };

struct run {
    const struct variant *v;
    const char *sweep; /* for messages */
    uint64_t n;
    vhdx_status expect; /* the status an injected failure must give */
    struct memfile m;
    struct fault_plan plan;
    struct faulty f; /* the image's file */
    vhdx_io fio;
    struct failing_allocator fa;
    vhdx_allocator allocator;
    uint8_t *cur;     /* the disk after every call that succeeded */
    uint8_t *durable; /* the disk at the last flush (or finish, or open) */
    uint64_t cur_size, durable_size, next_size; /* virtual sizes: bytes past them are zero */
    uint8_t *buf;     /* reads */
    uint64_t hits_seen;
    bool sealed;             /* the file became an image: vhdx_create or the seal returned */
    const char *failed_step; /* NULL: the run succeeded */
    vhdx_status failed_status;
    bool has_next;           /* the failing call's change */
    struct change next;
    struct findings handle_findings;
    const uint8_t *parent_bytes; /* the differencing disk's parent file */
    size_t parent_len;
    vhdx_image *parent; /* opened once per sweep, for vhdx_create */
    unsigned anomalies;
    unsigned swallowed; /* injected failures a call could not report (vhdx_close) */
};

static void anomaly(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void anomaly(struct run *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->anomalies++;
    print_error("failinject %s, %s, N=%llu, step %s: %s\n", r->v->name, r->sweep,
                (unsigned long long)r->n, r->failed_step != NULL ? r->failed_step : "-", msg);
}

static uint64_t hits(const struct run *r)
{
    return r->fa.failed + r->plan.injected;
}

/* True when an injected failure was met since the last call to this. */
static bool hit_since(struct run *r)
{
    uint64_t h = hits(r);
    bool hit = h > r->hits_seen;
    r->hits_seen = h;
    return hit;
}

/*
 * The end of a step: true to go on. A failure must come from the injected
 * one and give exactly the documented status; the run stops there.
 */
static bool step_ok(struct run *r, const char *name, vhdx_status st)
{
    bool hit = hit_since(r);
    if (st == VHDX_OK) {
        if (hit)
            anomaly(r, "%s returned VHDX_OK though the injected failure hit it", name);
        r->has_next = false;
        return true;
    }
    r->failed_step = name;
    r->failed_status = st;
    if (!hit)
        anomaly(r, "%s failed with %s without an injected failure", name, vhdx_status_name(st));
    else if (st != r->expect)
        anomaly(r, "%s returned %s, expected %s", name, vhdx_status_name(st),
                vhdx_status_name(r->expect));
    return false;
}

/*
 * vhdx_close cannot report: an injected failure inside it (the sticky
 * kinds, after the failing call; or the close's own vhdx_finish) ends the
 * run without a status.
 */
static bool close_ok(struct run *r, const char *name, vhdx_image *img)
{
    vhdx_close(img);
    if (!hit_since(r))
        return true;
    r->swallowed++;
    if (r->failed_step != NULL)
        return false; /* the run had already failed: keep what failed and its change */
    r->failed_step = name;
    r->failed_status = VHDX_OK;
    r->has_next = false;
    return false;
}

/* The parent of a differencing disk, behind the same switch as the image's file. */
static vhdx_status open_parent_faulty(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    struct run *r = ctx;
    struct faulty *f = malloc(sizeof(*f));
    vhdx_status st;
    (void)key;
    (void)path;
    if (f == NULL)
        return VHDX_E_NOMEM;
    st = vhdx_io_from_memory(r->parent_bytes, r->parent_len, &f->file);
    if (st != VHDX_OK) {
        free(f);
        return st;
    }
    f->plan = &r->plan;
    *out = faulty_io(f);
    out->close = fy_close_owned;
    return VHDX_OK;
}

/* The parent as it is, for the checks after the run. */
static vhdx_status open_parent_plain(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    const struct run *r = ctx;
    (void)key;
    (void)path;
    return vhdx_io_from_memory(r->parent_bytes, r->parent_len, out);
}

static vhdx_open_options run_options(struct run *r, unsigned flags, struct findings *fd)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.allocator = &r->allocator;
    o.open_parent = open_parent_faulty;
    o.open_parent_ctx = r;
    o.on_diag = findings_collect;
    o.diag_ctx = fd;
    memset(fd, 0, sizeof(*fd));
    return o;
}

/* Writes, truncates and flushes that reached the file: a reader makes none. */
static uint64_t mutations(const struct run *r)
{
    return r->plan.ops[IO_WRITE] + r->plan.ops[IO_TRUNCATE] + r->plan.ops[IO_FLUSH];
}

/* The handle's findings go to r->handle_findings for as long as it is open. */
static vhdx_status run_open(struct run *r, unsigned flags, vhdx_image **img)
{
    struct findings *fd = &r->handle_findings;
    vhdx_open_options o = run_options(r, flags, fd);
    vhdx_io io = r->fio;
    uint64_t before = mutations(r);
    vhdx_status st;
    *img = NULL;
    st = vhdx_open(&io, &o, img);
    if ((flags & VHDX_OPEN_WRITABLE) == 0 && mutations(r) != before)
        anomaly(r, "a read-only open wrote to the file");
    if (st != VHDX_OK && *img != NULL)
        anomaly(r, "a failed open handed back a handle");
    if (st == VHDX_OK && fd->unexpected != 0)
        anomaly(r, "the open found %s %s", vhdx_status_name(fd->first_unexpected.code),
                fd->first_unexpected.rule);
    return st;
}

/* vhdx_create_open: the build's handle, its findings as run_open's. */
static vhdx_status run_create_open(struct run *r, const vhdx_create_options *c, vhdx_image **img)
{
    struct findings *fd = &r->handle_findings;
    vhdx_open_options o = run_options(r, 0, fd);
    vhdx_io io = r->fio;
    vhdx_status st = vhdx_create_open(&io, c, &o, img);
    if (st != VHDX_OK && *img != NULL)
        anomaly(r, "a failed vhdx_create_open handed back a handle");
    if (st == VHDX_OK && fd->unexpected != 0)
        anomaly(r, "the build found %s", fd->first_unexpected.rule);
    return st;
}

/* vhdx_check of the file: judged, and without an error. */
static vhdx_status run_check(struct run *r)
{
    struct findings fd;
    vhdx_open_options o = run_options(r, 0, &fd);
    vhdx_check_result res;
    vhdx_io io = r->fio;
    uint64_t before = mutations(r);
    vhdx_status st = vhdx_check(&io, &o, &res);
    if (mutations(r) != before)
        anomaly(r, "vhdx_check wrote to the file");
    if (st == VHDX_OK && (res.errors != 0 || fd.unexpected != 0))
        anomaly(r, "vhdx_check: %zu errors, first %s %s", res.errors,
                vhdx_status_name(fd.first_unexpected.code),
                fd.first_unexpected.rule != NULL ? fd.first_unexpected.rule : "");
    return st;
}

/* Reads the whole disk; when it succeeds, it must read as the model. */
static vhdx_status run_read_all(struct run *r, vhdx_image *img, const char *name)
{
    vhdx_status st = vhdx_read(img, 0, r->buf, (size_t)r->cur_size);
    if (st == VHDX_OK && memcmp(r->buf, r->cur, (size_t)r->cur_size) != 0)
        anomaly(r, "%s: the disk does not read as written", name);
    return st;
}

/*
 * What the handle must do after a call failed: a failed writing call fails
 * the handle (VHDX_E_BAD_STATE after, vhdx.h); a read that failed for
 * memory leaves it usable, one that failed in the back end fails it.
 */
static void after_failure(struct run *r, vhdx_image *img, bool is_read)
{
    uint8_t sector[4096];
    vhdx_status st;
    if (img == NULL)
        return;
    /* Sector 0 as the model has it: a write that wrongly succeeds changes nothing. */
    memcpy(sector, r->cur, r->v->lss);
    if (is_read && r->failed_status == VHDX_E_NOMEM && !r->fa.sticky) {
        st = vhdx_read(img, 0, r->buf, (size_t)r->cur_size);
        if (st != VHDX_OK)
            anomaly(r, "a read after a read without memory: %s", vhdx_status_name(st));
        else if (memcmp(r->buf, r->cur, (size_t)r->cur_size) != 0)
            anomaly(r, "a read after a read without memory reads wrong data");
        (void)hit_since(r);
        return;
    }
    if (is_read && r->failed_status == VHDX_E_NOMEM)
        return;
    st = vhdx_read(img, 0, sector, r->v->lss);
    if (st != VHDX_E_BAD_STATE)
        anomaly(r, "vhdx_read after the failure: %s, expected E_BAD_STATE", vhdx_status_name(st));
    if (!is_read) {
        st = vhdx_flush(img);
        if (st != VHDX_E_BAD_STATE)
            anomaly(r, "vhdx_flush after the failure: %s, expected E_BAD_STATE",
                    vhdx_status_name(st));
        st = vhdx_write(img, 0, sector, r->v->lss);
        if (st != VHDX_E_BAD_STATE)
            anomaly(r, "vhdx_write after the failure: %s, expected E_BAD_STATE",
                    vhdx_status_name(st));
    }
    (void)hit_since(r);
}

enum change_call { CALL_WRITE, CALL_ZEROES, CALL_DISCARD };

/*
 * One change through the API. `c` is what the disk should become over
 * [c.off, c.off + c.len); the call's own range is [off, off + len).
 */
static bool run_change(struct run *r, vhdx_image *img, const char *name, enum change_call call,
                       uint64_t off, uint64_t len, struct change c, uint64_t want_discarded)
{
    uint64_t discarded = 0;
    vhdx_status st;
    r->next = c;
    r->next_size = r->cur_size;
    r->has_next = true;
    switch (call) {
    case CALL_WRITE:
        st = vhdx_write(img, off, seed_content(c.seed) + off, (size_t)len);
        break;
    case CALL_ZEROES:
        st = vhdx_write_zeroes(img, off, len);
        break;
    case CALL_DISCARD:
    default:
        st = vhdx_discard(img, off, len, &discarded);
        if (st == VHDX_OK && discarded != want_discarded)
            anomaly(r, "%s discarded %llu bytes, expected %llu", name,
                    (unsigned long long)discarded, (unsigned long long)want_discarded);
        break;
    }
    if (!step_ok(r, name, st)) {
        after_failure(r, img, false);
        return false;
    }
    change_apply(r->cur, &c);
    return true;
}

static bool run_write(struct run *r, vhdx_image *img, const char *name, uint64_t off, uint64_t len,
                      unsigned seed)
{
    struct change c = {off, len, seed};
    return run_change(r, img, name, CALL_WRITE, off, len, c, 0);
}

/*
 * A resize. The model keeps every byte past the size zero: growing shows
 * zeros, and shrinking drops what lay past the new end.
 */
static bool run_resize(struct run *r, vhdx_image *img, const char *name, uint64_t new_size,
                       unsigned flags)
{
    vhdx_status st;
    memset(&r->next, 0, sizeof(r->next));
    if (new_size < r->cur_size) {
        r->next.off = new_size;
        r->next.len = r->cur_size - new_size;
    }
    r->next_size = new_size;
    r->has_next = true;
    st = vhdx_resize(img, new_size, flags);
    if (!step_ok(r, name, st)) {
        after_failure(r, img, false);
        return false;
    }
    change_apply(r->cur, &r->next);
    r->cur_size = new_size;
    return true;
}

/* A call the library must refuse with `want`, leaving the handle usable. */
static bool run_refused(struct run *r, vhdx_image *img, const char *name, vhdx_status st,
                        vhdx_status want)
{
    r->has_next = false;
    if (!step_ok(r, name, st == want ? VHDX_OK : st)) {
        after_failure(r, img, false);
        return false;
    }
    return true;
}

static bool run_durable_point(struct run *r, vhdx_image *img, const char *name, bool finish)
{
    vhdx_status st = finish ? vhdx_finish(img) : vhdx_flush(img);
    if (!step_ok(r, name, st)) {
        after_failure(r, img, false);
        return false;
    }
    memcpy(r->durable, r->cur, VSIZE);
    r->durable_size = r->cur_size;
    return true;
}

static bool info_replay(struct run *r, vhdx_image *img, int want)
{
    vhdx_info info;
    if (vhdx_get_info(img, &info) != VHDX_OK || info.log_replay != want) {
        anomaly(r, "log_replay is %d, expected %d", info.log_replay, want);
        return false;
    }
    return true;
}

/*
 * The workload. S is the logical sector size; the disk is created with
 * three 1 MiB blocks and grown to four first (a log entry of its own, even
 * for a fixed disk, whose other changes are all in place: so every variant
 * leaves a dirty log). A differencing disk has its parent's four blocks
 * and refuses the resize instead. Session 1 (as a dynamic disk sees it):
 * block 0 gets a partial write (new block), block 1 a write of two partial
 * sectors (new block, read-modify-write), block 2 a whole block, then an
 * overwrite across blocks 0 and 1; zeroes over block 2 (whole: ZERO) and
 * into block 3 (no data: ZERO) and inside block 0 (zeros written); a
 * discard of block 1; flush. Then an overwrite in place and a write that
 * allocates block 3, and the machine stops: the close cannot finish, so
 * the log stays dirty and the new block's BAT entry is lost (the overwrite
 * in place is not). Session 2, after the replays: a write into block 2, a
 * discard of it, a shrink to three blocks, finish.
 */
static void workload(struct run *r)
{
    const struct variant *v = r->v;
    const uint64_t S = v->lss;
    const bool fixed = v->type == VHDX_DISK_FIXED;
    vhdx_create_options c;
    vhdx_image *img = NULL;
    vhdx_status st;
    struct change z;
    uint64_t before;

    memset(&c, 0, sizeof(c));
    c.type = v->type;
    c.virtual_size = r->cur_size;
    c.block_size = (uint32_t)BLOCK;
    c.logical_sector_size = v->lss;
    c.allocator = &r->allocator;
    if (v->type == VHDX_DISK_DIFFERENCING) {
        c.parent = r->parent;
        c.parent_relative_path = "parent.vhdx";
    }
    if (v->unsealed) {
        if (!step_ok(r, "create open", run_create_open(r, &c, &img)))
            return;
    } else {
        st = vhdx_create(&r->fio, &c);
        if (!step_ok(r, "create", st))
            return;
        r->sealed = true;
        if (!step_ok(r, "open writable", run_open(r, VHDX_OPEN_WRITABLE, &img)))
            return;
        if (!step_ok(r, "check", run_check(r)))
            goto close;
    }
    if (!step_ok(r, "read new disk", run_read_all(r, img, "read new disk"))) {
        after_failure(r, img, true);
        goto close;
    }
    if (v->type == VHDX_DISK_DIFFERENCING) {
        /* Its size is the parent's: refused, and the handle stays usable. */
        if (!run_refused(r, img, "resize refused", vhdx_resize(img, VSIZE + BLOCK, 0),
                         VHDX_E_UNSUPPORTED))
            goto close;
    } else if (!run_resize(r, img, "grow to four blocks", VSIZE, 0)) {
        goto close;
    }
    if (!run_write(r, img, "write in block 0", 3 * S, 5 * S, 1))
        goto close;
    /* An unsealed build becomes an image here: the rest is an ordinary logged session. */
    if (v->unsealed) {
        if (!run_durable_point(r, img, "seal", true))
            goto close;
        r->sealed = true;
        if (!step_ok(r, "check", run_check(r)))
            goto close;
    }
    if (!run_write(r, img, "write partial sectors in block 1", BLOCK + 2 * S - 100, 300, 2) ||
        !run_write(r, img, "write block 2 whole", 2 * BLOCK, BLOCK, 3) ||
        !run_write(r, img, "overwrite across blocks 0 and 1", BLOCK - 2 * S, 4 * S, 4))
        goto close;
    z = (struct change){2 * BLOCK, BLOCK + 3 * S, 0};
    if (!run_change(r, img, "zeroes over block 2 and into 3", CALL_ZEROES, z.off, z.len, z, 0))
        goto close;
    z = (struct change){4 * S, S, 0};
    if (!run_change(r, img, "zeroes inside block 0", CALL_ZEROES, z.off, z.len, z, 0))
        goto close;
    /* Whole block 1 inside; fixed images get zeros over the whole range. */
    z = fixed ? (struct change){BLOCK - S, BLOCK + 2 * S, 0} : (struct change){BLOCK, BLOCK, 0};
    if (!run_change(r, img, "discard block 1", CALL_DISCARD, BLOCK - S, BLOCK + 2 * S, z,
                    fixed ? BLOCK + 2 * S : BLOCK))
        goto close;
    if (!run_durable_point(r, img, "flush", false))
        goto close;
    if (!run_write(r, img, "overwrite in block 0", 6 * S, 2 * S, 5) ||
        !run_write(r, img, "write in block 3", 3 * BLOCK + S, S, 6))
        goto close;

    /* The machine stops: vhdx_close cannot finish, the log stays dirty. */
    r->plan.stopped = true;
    vhdx_close(img);
    img = NULL;
    r->plan.stopped = false;
    if (hit_since(r)) {
        r->swallowed++;
        r->failed_step = "dirty close";
        r->has_next = false;
        return;
    }
    /*
     * Lost: the new block's BAT entry. Kept: the overwrite in place, and
     * all of a fixed disk, and of a differencing one (the zeroes made
     * block 3 PARTIALLY_PRESENT with that sector's bit set: written in place).
     */
    if (v->type == VHDX_DISK_DYNAMIC) {
        struct change lost = {3 * BLOCK + S, S, 0};
        change_apply(r->cur, &lost);
    }
    memcpy(r->durable, r->cur, VSIZE);
    r->durable_size = r->cur_size;

    if (!step_ok(r, "check dirty", run_check(r)))
        return;
    before = mutations(r);
    if (!step_ok(r, "open dirty read-only", run_open(r, 0, &img)))
        return;
    if (!info_replay(r, img, VHDX_LOG_REPLAYED_IN_MEMORY))
        goto close;
    if (!step_ok(r, "read replayed in memory", run_read_all(r, img, "read replayed in memory"))) {
        after_failure(r, img, true);
        goto close;
    }
    if (!close_ok(r, "close read-only", img))
        return;
    img = NULL;
    if (mutations(r) != before)
        anomaly(r, "the read-only handle of the dirty file wrote to it");
    if (!step_ok(r, "open dirty writable", run_open(r, VHDX_OPEN_WRITABLE, &img)))
        return;
    if (!info_replay(r, img, VHDX_LOG_REPLAYED_IN_PLACE))
        goto close;
    if (!step_ok(r, "read replayed in place", run_read_all(r, img, "read replayed in place"))) {
        after_failure(r, img, true);
        goto close;
    }
    /*
     * Session 2: block 2 is ZERO in a dynamic image, so this allocates it
     * again, at the end of the file; the discard releases it, so finish
     * trims the file. Block 3 holds data only in a fixed disk (the write
     * that landed in place): there a plain shrink is refused, and the forced
     * one drops the block (released too).
     */
    if (!run_write(r, img, "write in block 2", 2 * BLOCK + 5 * S, 3 * S, 7))
        goto close;
    z = (struct change){2 * BLOCK, BLOCK, 0};
    if (!run_change(r, img, "discard block 2", CALL_DISCARD, z.off, z.len, z, BLOCK))
        goto close;
    if (fixed && !run_refused(r, img, "shrink refused", vhdx_resize(img, VSIZE - BLOCK, 0),
                              VHDX_E_STATE))
        goto close;
    if (v->type != VHDX_DISK_DIFFERENCING &&
        !run_resize(r, img, "shrink to three blocks", VSIZE - BLOCK, VHDX_RESIZE_FORCE))
        goto close;
    if (!run_durable_point(r, img, "finish", true))
        goto close;
close:
    (void)close_ok(r, "close", img);
}

/*
 * The file after the run, opened with malloc: refused only when the
 * creation failed; otherwise clean, its log replayed in memory and then in
 * place to the same disk, and every sector as before the failing call, as
 * that call meant it, or as at the last flush.
 */
static void verify_file(struct run *r, uint8_t *next)
{
    struct findings fd;
    vhdx_open_options o;
    vhdx_check_result res;
    vhdx_image *img = NULL;
    vhdx_info info;
    vhdx_io io;
    vhdx_status st;
    uint64_t size;
    const size_t S = r->v->lss;

    memset(&o, 0, sizeof(o));
    o.on_diag = findings_collect;
    o.diag_ctx = &fd;
    o.open_parent = open_parent_plain;
    o.open_parent_ctx = r;
    memset(&fd, 0, sizeof(fd));
    io = io_borrow(&r->m.io);
    st = vhdx_open(&io, &o, &img);
    if (!r->sealed && st != VHDX_OK) {
        if (st != VHDX_E_SIGNATURE && st != VHDX_E_TRUNCATED)
            anomaly(r, "an unfinished creation is refused with %s", vhdx_status_name(st));
        return;
    }
    if (st != VHDX_OK) {
        anomaly(r, "the file no longer opens: %s (%s)", vhdx_status_name(st),
                fd.first_unexpected.rule != NULL ? fd.first_unexpected.rule : "");
        return;
    }
    if (fd.unexpected != 0)
        anomaly(r, "the reopen found %s", fd.first_unexpected.rule);
    memcpy(next, r->cur, VSIZE);
    if (r->has_next)
        change_apply(next, &r->next);
    st = vhdx_get_info(img, &info);
    if (st == VHDX_OK && info.virtual_size != r->cur_size && info.virtual_size != r->durable_size &&
        !(r->has_next && info.virtual_size == r->next_size)) {
        anomaly(r, "the disk is %llu bytes, neither old nor new",
                (unsigned long long)info.virtual_size);
        st = VHDX_E_RANGE;
    }
    size = info.virtual_size;
    if (st == VHDX_OK)
        st = vhdx_read(img, 0, r->buf, (size_t)size);
    vhdx_close(img);
    if (st != VHDX_OK) {
        anomaly(r, "the reopened disk cannot be read: %s", vhdx_status_name(st));
        return;
    }
    for (size_t s = 0; s < size; s += S) {
        if (memcmp(r->buf + s, r->cur + s, S) != 0 && memcmp(r->buf + s, next + s, S) != 0 &&
            memcmp(r->buf + s, r->durable + s, S) != 0) {
            anomaly(r, "sector at %zu reads neither old nor new content", s);
            break;
        }
    }
    io = io_borrow(&r->m.io);
    memset(&fd, 0, sizeof(fd));
    st = vhdx_check(&io, &o, &res);
    if (st != VHDX_OK || res.errors != 0 || fd.unexpected != 0)
        anomaly(r, "vhdx_check of the file: %s, %zu errors, first %s", vhdx_status_name(st),
                res.errors, fd.first_unexpected.rule != NULL ? fd.first_unexpected.rule : "");
    /* The dirty log, if any, replays in place to the same disk. */
    io = io_borrow(&r->m.io);
    o.flags = VHDX_OPEN_WRITABLE;
    memset(&fd, 0, sizeof(fd));
    st = vhdx_open(&io, &o, &img);
    if (st != VHDX_OK) {
        anomaly(r, "the writable reopen failed: %s", vhdx_status_name(st));
        return;
    }
    st = vhdx_read(img, 0, next, (size_t)size);
    if (st != VHDX_OK || memcmp(next, r->buf, (size_t)size) != 0)
        anomaly(r, "the disk replayed in place differs from the disk replayed in memory");
    st = vhdx_finish(img);
    if (st != VHDX_OK)
        anomaly(r, "vhdx_finish after the replay: %s", vhdx_status_name(st));
    vhdx_close(img);
    o.flags = 0;
    io = io_borrow(&r->m.io);
    memset(&fd, 0, sizeof(fd));
    st = vhdx_check(&io, &o, &res);
    if (st != VHDX_OK || res.errors != 0 || fd.unexpected != 0)
        anomaly(r, "vhdx_check after the replay in place: %zu errors", res.errors);
}

/* The run that met no failure: every result exact. */
static void verify_success(struct run *r)
{
    struct findings fd;
    vhdx_open_options o;
    vhdx_check_result res;
    vhdx_image *img = NULL;
    vhdx_io io = io_borrow(&r->m.io);
    vhdx_info info;

    if (r->failed_step != NULL)
        anomaly(r, "the run without a failure stopped at %s", r->failed_step);
    memset(&o, 0, sizeof(o));
    o.on_diag = findings_collect;
    o.diag_ctx = &fd;
    o.open_parent = open_parent_plain;
    o.open_parent_ctx = r;
    memset(&fd, 0, sizeof(fd));
    assert_status(vhdx_check(&io, &o, &res), VHDX_OK);
    assert_int_equal(res.errors, 0);
    assert_int_equal(res.warnings, 0);
    io = io_borrow(&r->m.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    assert_status(vhdx_get_info(img, &info), VHDX_OK);
    assert_int_equal(info.log_replay, VHDX_LOG_CLEAN);
    assert_int_equal(info.virtual_size, r->cur_size);
    assert_int_equal(info.logical_sector_size, r->v->lss);
    /* Blocks with data: 0, and 3 of a differencing disk, and all three left of a fixed one. */
    assert_int_equal(info.blocks_allocated, r->v->type == VHDX_DISK_FIXED          ? 3
                                            : r->v->type == VHDX_DISK_DIFFERENCING ? 2
                                                                                   : 1);
    assert_status(vhdx_read(img, 0, r->buf, (size_t)r->cur_size), VHDX_OK);
    assert_memory_equal(r->buf, r->cur, (size_t)r->cur_size);
    vhdx_close(img);
}

struct sweep_buffers {
    uint8_t *cur, *durable, *buf, *next;
    struct memfile parent_file; /* a differencing disk's parent */
    uint8_t *parent_bytes;
    size_t parent_len;
    vhdx_image *parent;
};

static void run_init(struct run *r, const struct variant *v, const struct sweep_buffers *b)
{
    memset(r, 0, sizeof(*r));
    r->v = v;
    r->cur = b->cur;
    r->durable = b->durable;
    r->buf = b->buf;
    r->parent_bytes = b->parent_bytes;
    r->parent_len = b->parent_len;
    r->parent = b->parent;
    /* A new differencing disk reads as its parent; the others read zeros. */
    if (v->type == VHDX_DISK_DIFFERENCING) {
        memcpy(r->cur, seed_content(PARENT_SEED), VSIZE);
        memcpy(r->durable, r->cur, VSIZE);
        r->cur_size = r->durable_size = VSIZE;
    } else {
        memset(r->cur, 0, VSIZE);
        memset(r->durable, 0, VSIZE);
        r->cur_size = r->durable_size = VSIZE - BLOCK;
    }
    mf_init(&r->m);
    r->f.file = r->m.io;
    r->f.plan = &r->plan;
    r->plan.fail_op = IO_NONE;
    r->fio = faulty_io(&r->f);
    r->allocator.alloc = fa_alloc;
    r->allocator.free = fa_free;
    r->allocator.ctx = &r->fa;
}

static const struct variant variants[] = {
    {"dynamic 512", VHDX_DISK_DYNAMIC, 512, false},
    {"fixed 512", VHDX_DISK_FIXED, 512, false},
    {"dynamic 4096", VHDX_DISK_DYNAMIC, 4096, false},
    {"unsealed dynamic 512", VHDX_DISK_DYNAMIC, 512, true},
    {"differencing 512", VHDX_DISK_DIFFERENCING, 512, false},
};

/*
 * The parent of the differencing disk, made with malloc and outside the
 * switch: a dynamic disk of the same geometry holding PARENT_SEED's
 * content everywhere, kept open for vhdx_create and as bytes for the opens.
 */
static void parent_make(struct sweep_buffers *b)
{
    vhdx_create_options c;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    vhdx_io io;
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = VSIZE;
    c.block_size = (uint32_t)BLOCK;
    mf_init(&b->parent_file);
    assert_status(vhdx_create(&b->parent_file.io, &c), VHDX_OK);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    io = io_borrow(&b->parent_file.io);
    assert_status(vhdx_open(&io, &o, &img), VHDX_OK);
    assert_status(vhdx_write(img, 0, seed_content(PARENT_SEED), VSIZE), VHDX_OK);
    assert_status(vhdx_finish(img), VHDX_OK);
    vhdx_close(img);
    b->parent_bytes = io_bytes(&b->parent_file.io, &b->parent_len);
    o.flags = 0;
    assert_status(vhdx_io_from_memory(b->parent_bytes, b->parent_len, &io), VHDX_OK);
    assert_status(vhdx_open(&io, &o, &b->parent), VHDX_OK);
}

static void parent_free(struct sweep_buffers *b)
{
    vhdx_close(b->parent);
    free(b->parent_bytes);
    mf_free(&b->parent_file);
}
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

/*
 * Runs the workload with the failure at N = 1, 2, ... until a run never
 * meets it; returns the number of failure points (the last N that hit).
 */
static uint64_t sweep(const struct variant *v, enum sweep_kind kind, enum io_op op, bool sticky,
                      unsigned *anomalies, uint64_t *in_close)
{
    struct sweep_buffers b;
    char name[64];
    uint64_t n;
    /* FAILINJECT_VERBOSE=1: one line per failure point, the call it failed and the status. */
    const bool verbose = getenv("FAILINJECT_VERBOSE") != NULL;
    b.cur = malloc(VSIZE);
    b.durable = malloc(VSIZE);
    b.buf = malloc(VSIZE);
    b.next = malloc(VSIZE);
    assert_non_null(b.cur);
    assert_non_null(b.durable);
    assert_non_null(b.buf);
    assert_non_null(b.next);
    memset(&b.parent_file, 0, sizeof(b.parent_file));
    b.parent_bytes = NULL;
    b.parent_len = 0;
    b.parent = NULL;
    if (v->type == VHDX_DISK_DIFFERENCING)
        parent_make(&b);
    (void)snprintf(name, sizeof(name), "%s%s", kind == SWEEP_ALLOC ? "alloc" : io_op_names[op],
                   sticky ? " (sticky)" : "");
    for (n = 1;; n++) {
        struct run r;
        bool hit;
        run_init(&r, v, &b);
        r.sweep = name;
        r.n = n;
        if (kind == SWEEP_ALLOC) {
            r.fa.fail_at = n;
            r.fa.sticky = sticky;
            r.expect = VHDX_E_NOMEM;
        } else {
            r.plan.fail_op = op;
            r.plan.fail_at = n;
            r.plan.sticky = sticky;
            r.expect = VHDX_E_IO;
        }
        workload(&r);
        hit = hits(&r) != 0;
        if (r.fa.live != 0 || r.fa.live_bytes != 0)
            anomaly(&r, "%llu allocations (%llu bytes) not freed", (unsigned long long)r.fa.live,
                    (unsigned long long)r.fa.live_bytes);
        if (r.fa.bad_frees != 0)
            anomaly(&r, "%llu frees with the wrong size", (unsigned long long)r.fa.bad_frees);
        if (hit)
            verify_file(&r, b.next);
        else
            verify_success(&r);
        if (verbose && hit)
            print_message("failinject %s, %s, N=%llu: %s -> %s\n", v->name, name,
                          (unsigned long long)n, r.failed_step != NULL ? r.failed_step : "-",
                          vhdx_status_name(r.failed_status));
        *anomalies += r.anomalies;
        *in_close += r.swallowed != 0;
        mf_free(&r.m);
        if (!hit)
            break;
    }
    free(b.cur);
    free(b.durable);
    free(b.buf);
    free(b.next);
    if (v->type == VHDX_DISK_DIFFERENCING)
        parent_free(&b);
    return n - 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Failure points by [sticky][kind]: the I/O operations, then the allocator. */
static uint64_t points_total[2][IO_OPS + 1];

static void sweep_all(enum sweep_kind kind, enum io_op op, bool sticky)
{
    unsigned anomalies = 0;
    uint64_t total = 0, in_close = 0;
    char per[256];
    size_t used = 0;
    double t0 = now();
    for (size_t i = 0; i < NVARIANTS; i++) {
        uint64_t points = sweep(&variants[i], kind, op, sticky, &anomalies, &in_close);
        int k = snprintf(per + used, sizeof(per) - used, "%s%s %llu", i == 0 ? "" : ", ",
                         variants[i].name, (unsigned long long)points);
        if (k > 0 && (size_t)k < sizeof(per) - used)
            used += (size_t)k;
        total += points;
    }
    print_message("failinject: %s%s failure points %llu (%s; %llu met in vhdx_close), %.1f s\n",
                  kind == SWEEP_ALLOC ? "allocation" : io_op_names[op], sticky ? " sticky" : "",
                  (unsigned long long)total, per, (unsigned long long)in_close, now() - t0);
    points_total[sticky][kind == SWEEP_ALLOC ? IO_OPS : op] = total;
    assert_int_equal(anomalies, 0);
    assert_true(total > 0);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_ALLOC, IO_NONE, false);
}

static void test_read_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_IO, IO_READ, false);
}

static void test_write_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_IO, IO_WRITE, false);
}

static void test_flush_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_IO, IO_FLUSH, false);
}

static void test_truncate_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_IO, IO_TRUNCATE, false);
}

static void test_size_failures(void **state)
{
    (void)state;
    sweep_all(SWEEP_IO, IO_SIZE, false);
}

/* The allocator refuses everything from the N-th allocation on: vhdx_close too. */
static void test_allocation_failures_sticky(void **state)
{
    (void)state;
    sweep_all(SWEEP_ALLOC, IO_NONE, true);
}

/* The back end fails every operation of the kind from the N-th on. */
static void test_io_failures_sticky(void **state)
{
    (void)state;
    for (int op = IO_READ; op < IO_OPS; op++)
        sweep_all(SWEEP_IO, (enum io_op)op, true);
}

/* One line with every count, then the seeded contents go. */
static int summary(void **state)
{
    (void)state;
    for (int sticky = 0; sticky < 2; sticky++)
        print_message("failinject: %sallocation failure points %llu, read %llu, write %llu, "
                      "flush %llu, truncate %llu, size %llu\n",
                      sticky ? "sticky: " : "", (unsigned long long)points_total[sticky][IO_OPS],
                      (unsigned long long)points_total[sticky][IO_READ],
                      (unsigned long long)points_total[sticky][IO_WRITE],
                      (unsigned long long)points_total[sticky][IO_FLUSH],
                      (unsigned long long)points_total[sticky][IO_TRUNCATE],
                      (unsigned long long)points_total[sticky][IO_SIZE]);
    for (unsigned i = 0; i < SEEDS; i++) {
        free(seeded[i]);
        seeded[i] = NULL;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_read_failures),
        cmocka_unit_test(test_write_failures),
        cmocka_unit_test(test_flush_failures),
        cmocka_unit_test(test_truncate_failures),
        cmocka_unit_test(test_size_failures),
        cmocka_unit_test(test_allocation_failures_sticky),
        cmocka_unit_test(test_io_failures_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, summary);
}
