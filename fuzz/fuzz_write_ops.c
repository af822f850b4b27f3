/*
 * Write operations against a flat model of the virtual disk.
 *
 * The input makes an image with vhdx_create in an in-memory file (a
 * writable sparse store, src/io/sparse.h), opens it writable through the
 * fault back end (src/io/fault.h), and applies a sequence of operations to
 * the image and to a byte array holding what the disk must read. Or
 * (byte 0 bit 7, dynamic or fixed) it builds the image unsealed: see
 * "Unsealed builds" below. Aborts on:
 *   - a status other than VHDX_OK for a valid operation. Legitimate
 *     failures: VHDX_E_IO from an operation running while a crash is armed
 *     (the injected power loss), VHDX_E_LIMIT once the file holds half of
 *     FILE_CAP bytes of data (the store's cap), VHDX_E_STATE from a shrink
 *     without VHDX_RESIZE_FORCE exactly when the model has a non-zero byte
 *     past the new end, and VHDX_E_UNSUPPORTED (only) from resizing a
 *     differencing image;
 *   - a read of the range an operation touched that differs from the model
 *     (through the same handle; a range over 512 KiB is sampled: its ends
 *     and the edges of its blocks);
 *   - after every fresh open of the file (a reopen, a crash, the read-back
 *     after vhdx_finish): a page (4 KiB) that an operation touched since
 *     the last fresh open, or the first or last page of a block whose data
 *     is older than that, differing from the model. Every fresh open falls
 *     on a durable point, so these pages include all that a crash may
 *     change; a block's mapping going astray shows on its older pages;
 *   - at the end of the input (a clean close and open): the whole disk
 *     differing from the model, or vhdx_check on the file (a fresh
 *     read-only open) reporting an error; after every crash: vhdx_check,
 *     and the pages above over the rules below. A range the model holds
 *     as zeros is passed over where the image's map says it reads zeros:
 *     a ZERO extent, a DATA extent over a hole of the file's sparse store,
 *     a PARENT extent over the same in the parent. (A writable or
 *     read-only vhdx_open that succeeds validates every structure
 *     vhdx_check does, so the check runs where it adds something: after a
 *     crash, whose replay changed the file, and at the end.)
 *
 * Durability (include/vhdx.h, "Writing"): what was on the disk at the last
 * successful vhdx_flush / vhdx_finish is durable; a power loss after it may
 * keep or lose each later change sector by sector. After a crash each
 * 512-byte unit must read as one of: its durable content, its latest
 * content, its content right after any operation since the durable point
 * (kept as hashes), or zeros when an operation since then zeroed it. The
 * virtual size must be the durable one or one resized to since. What was
 * read then becomes the model.
 *
 * Unsealed builds (include/vhdx.h, vhdx_create_open; docs/WRITER.md §1):
 * with byte 0 bit 7 set and a dynamic or fixed type, vhdx_create_open makes
 * the image in the empty file through the fault back end, with no
 * signature, and returns the writable handle (differencing images ignore
 * the bit). While the image is unsealed:
 *   - write, zeroes, discard and resize run and are checked as above, and
 *     must not flush the file (they change it in place, without the log);
 *     nor may vhdx_create_open itself;
 *   - flush runs as above and leaves the image unsealed: a fresh read-only
 *     vhdx_open of the file must fail with VHDX_E_SIGNATURE, and (at the
 *     start, after the first flush and after a crash) vhdx_check must
 *     report that as its first error;
 *   - finish and reopen (either way) first seal it with vhdx_finish, which
 *     must return VHDX_OK (VHDX_E_IO while a crash is armed), then go on as
 *     for an ordinary image. The seal must leave the signature on the file
 *     and flush (the fault back end counts the flushes) once, or twice (a
 *     flush before the signature) when anything was written since the last
 *     vhdx_flush (the creation counts) or the seal writes more than the
 *     signature;
 *   - crash: the armed operation runs as above. If the file then has no
 *     signature (the seal did not reach it), a writable and a read-only
 *     vhdx_open must fail with VHDX_E_SIGNATURE (VHDX_E_TRUNCATED allowed
 *     for a file under 1 MiB) and the run ends: nothing else can be
 *     checked. If it has (the armed operation sealed it), the seal wrote
 *     the signature only after a flush that followed every other write, so
 *     the whole latest content is durable and the post-crash rules above
 *     apply with that durable point;
 *   - at the end of the input the image is sealed, then closed and
 *     reopened as for any image.
 * After the seal the handle is an ordinary writable one.
 *
 * Input:
 *   byte 0   bits 0-1: 0, 1 dynamic, 2 fixed, 3 differencing; bit 2: logical
 *            sectors of 4096 (else 512); bit 3: blocks of 2 MiB (else 1 MiB);
 *            bit 4: physical sectors of 512 (512-byte logical only); bit 5:
 *            the parent is fixed; bit 6: the parent has the other block size;
 *            bit 7: an unsealed build (dynamic and fixed only, see above)
 *   byte 1   virtual size in MiB: bit 6 clear (the default), 1 + (b & 7)
 *            (fixed: 1 + (b & 3)); bit 6 set, 1 + (b & 63) (fixed: 1 + (b & 15))
 *   byte 2   sectors taken off the virtual size
 *   then     up to MAX_OPS operations: an opcode byte (bits 0-2 the kind,
 *            bit 3 byte-granular offsets and lengths (resize: no FORCE),
 *            bit 4 offsets relative to a block start), then its operands,
 *            little-endian; operands past the end of the input read as 0:
 *     0 write       u32 offset, u24 length l: (1 + l mod 128 KiB/sector) sectors
 *                   (bit 3: 1 + l mod 128 KiB bytes)
 *     1 zeroes      u32 offset, u24 length l: 1 + ((l & 0xffff) >> ((l >> 16) & 15))
 *     2 discard     sectors (bit 3: (l & 0xffff) * 64 + (l >> 16) + 1 bytes)
 *     3 flush       (bit 4: u8 n, then n % 96 + 1 times: a sector written at the
 *                   start of block i, flush, that block discarded, flush: a
 *                   log entry each, so the log fills and wraps; MAX_STORM
 *                   rounds per input, then one round per storm)
 *     4 resize      u16 s: ((s & 0x3ff) + 1) * 64 KiB (fixed: ((s & 0xff) + 1)
 *                   * 64 KiB), less (s >> 10) sectors while that leaves some;
 *                   bit 4 (dynamic only): 129 GiB (2 MiB blocks: 257 GiB) plus
 *                   (s & 0x3ff) * 64 KiB less (s >> 10) sectors: the BAT moves
 *     5 reopen      u8: bit 0 vhdx_finish before vhdx_close (unsealed: the seal,
 *                   then with bit 0 a second vhdx_finish)
 *     6 crash       u8 k, u8 t: k = 0 stops the file now; else the next
 *                   operation runs with k - 1 more writes reaching the file
 *                   (the one meeting the stop torn after (t & 15) * 4096
 *                   bytes), then the file stops. Then close and reopen.
 *     7 finish      vhdx_finish, then a fresh read-only open must see the model
 *                   (unsealed: the seal, then vhdx_finish again); the open
 *                   is skipped when neither the model nor (by the handle)
 *                   the file changed since the last such open saw it
 * Operations touch the first 64 MiB (the model's window); past it (after a
 * resize to a huge size) every extent must be ZERO. Lengths are cut at the
 * window's or the disk's end. Once MAX_COST thousand BAT entries have been
 * visited by whole-image passes, the rest of the input is skipped.
 * Offsets (u32 r): r mod the size, in sectors (bit 3: in bytes); bit 4:
 * block (r >> 16) mod the block count, plus the signed 16-bit low half in
 * sectors (bytes). Torn writes tear at 4096-byte multiples.
 * Checksums are enforced even in the fuzzing build (crc32c_fuzz_enforce,
 * src/base/crc32c.h): every image here comes from our writer, never from
 * the fuzzer's bytes, and the crash checks rely on a torn log entry failing
 * its checksum, as it does in a shipped build. (Without it, a log entry
 * torn after its first 4 KiB was replayed in the fuzzing build: regression
 * input corpus/regressions/fuzz_write_ops/torn-log-entry-replayed.)
 *
 * Speed (fuzz/CAMPAIGNS.md), with the invariants as they were: the model
 * marks the 4 KiB pages that may hold data (it marked MiBs, and zeroed,
 * copied and compared whole MiBs), a differencing image's PARENT extents
 * count as zeros where the parent (kept open) maps ZERO, flush storms share
 * MAX_STORM rounds per input, creation uses the pool allocator, the file
 * and the parent are sparse stores reused across inputs (an overlay over an
 * empty memory back end allocated a page per 4 KiB written, zeros
 * included; the store keeps holes as holes), the library allocates through
 * the pooling allocator of fuzz_pool.h, disks are small unless byte 1 bit 6
 * asks for the whole range (the committed regression input decodes as
 * before; corpus inputs without the bit now get the small disk), and
 * MAX_COST is 600 (was 2000): an input that grows the disk to HUGE_SIZE
 * still moves the BAT and reopens, checks and walks it a few times, but no
 * longer fifteen. Then (the fourth step): a fresh open compares what was
 * touched since the last one and two older pages per block, where it
 * compared every page holding data (the whole disk is still swept at the
 * end); a touched range is sampled past 512 KiB (was 4 MiB); DATA extents
 * over holes of the store count as zeros; fill() mixes once per 512-byte
 * unit, not per word.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/bytes.h"
#include "base/compiler.h"
#include "base/crc32c.h"
#include "format/constants.h"
#include "fuzz_common.h"
#include "fuzz_pool.h"
#include "io/fault.h"
#include "io/sparse.h"
#include "vhdx.h"

#define UNIT 512u
#define MIB (1u << 20)
#define MAX_OPS 64u
#define WINDOW (64u * MIB) /* the model's bytes; the disk reads zeros past them */
/*
 * Growing a new image to just over 128 GiB (1 MiB blocks) or 256 GiB (2 MiB
 * blocks) needs more than the 131072 BAT entries its 1 MiB BAT region
 * holds, so the BAT moves.
 */
#define HUGE_SIZE(block) ((uint64_t)((block) >> 20) * ((uint64_t)128 << 30) + ((uint64_t)1 << 30))
#define FIXED_MAX_MIB 16u
#define WRITE_MAX (128u * 1024u)
#define FILE_CAP ((uint64_t)192 * MIB)
#define CHUNK MIB
#define PAGE 4096u /* the model's unit of "may hold data" */
#define MAX_RANGES (MAX_OPS + 8u)
/*
 * Whole-image passes (open, check, a resize) visit every BAT entry: after
 * this many thousand entries visited, the operations left are skipped, so
 * an input of huge disks (130K entries each) stays within the timeout.
 */
#define MAX_COST 600u
/*
 * Flush-storm rounds per input (OP_FLUSH with bit 4): enough to wrap the
 * 1 MiB log twice (a round is two log entries, about 12 KiB). Past them a
 * storm runs one round: an input of many storms ran tens of thousands of
 * operations, a log wrap each 85 rounds.
 */
#define MAX_STORM 192u
#define MAX_HASHES (MAX_OPS * (WRITE_MAX / UNIT + 4u))

enum op_kind {
    OP_WRITE = 0,
    OP_ZEROES = 1,
    OP_DISCARD = 2,
    OP_FLUSH = 3,
    OP_RESIZE = 4,
    OP_REOPEN = 5,
    OP_CRASH = 6,
    OP_FINISH = 7
};

#define OPF_BYTES 0x08u
#define OPF_BLOCK 0x10u

struct op {
    unsigned kind;
    unsigned flags;
    uint32_t off;
    uint32_t len;
    uint16_t size;
    uint8_t a, b;
};

struct range {
    uint64_t start, end;
};

struct unit_hash {
    uint64_t unit;
    uint64_t hash;
};

/* A bit per PAGE bytes of the window. */
struct pages {
    uint64_t w[WINDOW / PAGE / 64u];
};

/*
 * The disk as it must read, and what a crash may bring back. Operations
 * only touch the first WINDOW bytes; the disk reads zeros past them (it is
 * only ever larger after a resize to HUGE_SIZE).
 */
struct model {
    uint8_t *latest;     /* WINDOW bytes: the disk now; zeros past size */
    uint8_t *durable;    /* the disk at the last durable point; zeros past durable_size */
    uint64_t size, durable_size;
    struct pages dirty_latest, dirty_durable; /* pages that may hold a non-zero byte */
    /*
     * Pages an operation touched since a fresh open of the file (a reopen,
     * a crash, the read-back after vhdx_finish) last compared them: every
     * such open falls on a durable point, so these include every page a
     * crash may change.
     */
    struct pages unchecked;
    struct range touched[MAX_RANGES]; /* changed since the durable point */
    size_t ntouched;
    struct range zeroed[MAX_RANGES];  /* read zeros at some point since */
    size_t nzeroed;
    struct unit_hash *hashes;         /* units' contents after each operation since */
    size_t nhashes;
    uint64_t sizes[MAX_RANGES];       /* virtual sizes resized to since */
    size_t nsizes;
};

struct session {
    struct alloc_acct acct;
    vhdx_io file;        /* the file: a sparse store (src/io/sparse.h), writable */
    vhdx_io pfile;       /* the parent's (differencing only) */
    bool has_parent;
    vhdx_image *parent;  /* the parent, open read-only for the whole input (it never changes) */
    vhdx_io fault;       /* a view of the open image's back end (it owns it) */
    vhdx_image *img;
    vhdx_disk_type type;
    uint32_t sector, block;
    unsigned op_index;
    uint64_t cost; /* thousands of BAT entries visited by whole-image passes */
    unsigned storm_left; /* flush-storm rounds left to this input (MAX_STORM at the start) */
    char data_write_guid[VHDX_GUID_TEXT_SIZE]; /* the open image's, when it was opened */
    bool changed;  /* the handle wrote, zeroed or resized: it must write a new DataWriteGuid */
    bool quiet; /* a power loss is armed or happened: the handle's failures are expected */
    bool unsealed; /* built by vhdx_create_open and not sealed yet: the file has no signature */
    uint64_t synced; /* unsealed: the fault back end's writes and truncates at the last flush */
    bool judged;     /* unsealed: vhdx_check has judged the file after a flush */
    bool read_back;  /* a fresh reader saw the model after vhdx_finish on this handle... */
    uint64_t read_back_at; /* ...when the handle had made this many writes and truncates */
};

static struct model m;
static struct session s;
static uint8_t *rbuf, *wbuf;
/* The files' stores, emptied for each input (their buffers are kept). */
static struct io_sparse *file_store, *parent_store;

static void init_once(void)
{
    if (m.latest != NULL)
        return;
    m.latest = calloc(1, WINDOW);
    m.durable = calloc(1, WINDOW);
    m.hashes = calloc(MAX_HASHES, sizeof(*m.hashes));
    rbuf = malloc(CHUNK);
    wbuf = malloc(WRITE_MAX);
    file_store = io_sparse_new(FILE_CAP);
    parent_store = io_sparse_new(FILE_CAP);
    if (m.latest == NULL || m.durable == NULL || m.hashes == NULL || rbuf == NULL ||
        wbuf == NULL || file_store == NULL || parent_store == NULL)
        abort();
}

static NO_COVERAGE uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9u;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 31;
    return x;
}

/*
 * The bytes operation `op` writes at virtual offset `off`: distinct per
 * operation and place. Byte v is byte (v & 7) of the little-endian word
 * mix64((op << 48) ^ (v >> 9) ^ 0x5741) ^ ((v >> 3) & 63) * 0x9e3779b97f4a7c15:
 * one mix per 512-byte unit, and aligned words are stored whole.
 */
static NO_COVERAGE uint64_t fill_word(unsigned op, uint64_t v)
{
    return mix64(((uint64_t)op << 48) ^ (v >> 9) ^ 0x5741u) ^
           (((v >> 3) & 63u) * 0x9e3779b97f4a7c15u);
}

static NO_COVERAGE void fill(uint8_t *buf, uint64_t off, size_t len, unsigned op)
{
    size_t i = 0;
    /* The bytes before the first aligned word, one at a time. */
    for (; i < len && ((off + i) & 7u) != 0; i++)
        buf[i] = (uint8_t)(fill_word(op, off + i) >> (((off + i) & 7u) * 8u));
    /* Whole words: one mix per unit, then a multiply per word. */
    while (len - i >= 8) {
        uint64_t v = off + i, base = fill_word(op, v) ^ (((v >> 3) & 63u) * 0x9e3779b97f4a7c15u);
        size_t words = (size_t)(64u - ((v >> 3) & 63u));
        if (words > (len - i) / 8)
            words = (len - i) / 8;
        for (size_t k = 0; k < words; k++, i += 8) {
            uint64_t w = base ^ ((((off + i) >> 3) & 63u) * 0x9e3779b97f4a7c15u);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            w = __builtin_bswap64(w);
#endif
            memcpy(buf + i, &w, 8);
        }
    }
    for (; i < len; i++)
        buf[i] = (uint8_t)(fill_word(op, off + i) >> (((off + i) & 7u) * 8u));
}

static NO_COVERAGE uint64_t unit_hash(const uint8_t *p)
{
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < UNIT; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = mix64(h ^ w) + i;
    }
    return h;
}

static uint64_t win(uint64_t v)
{
    return v < WINDOW ? v : WINDOW;
}

/* ---- the model ---------------------------------------------------------- */

/*
 * A page mask marks the PAGE-byte pages of the window that may hold a
 * non-zero byte of a model array: the model's work (zeroing, copying,
 * comparing) visits only marked pages, so it grows with what the input
 * wrote, not with the disk's size.
 */
static NO_COVERAGE bool page_marked(const struct pages *p, uint64_t pg)
{
    return ((p->w[pg / 64u] >> (pg % 64u)) & 1u) != 0;
}

static NO_COVERAGE void page_unmark(struct pages *p, uint64_t pg)
{
    p->w[pg / 64u] &= ~((uint64_t)1 << (pg % 64u));
}

/*
 * The first page in [pg, end) whose bit in `a` | `b` (b may be NULL), xor
 * `flip` (0, or all ones to look for an unmarked page), is set; `end` if
 * none. A word of the masks at a time.
 */
static NO_COVERAGE uint64_t scan_pages(const struct pages *a, const struct pages *b,
                                       uint64_t flip, uint64_t pg, uint64_t end)
{
    while (pg < end) {
        uint64_t w = (a->w[pg / 64u] | (b != NULL ? b->w[pg / 64u] : 0u)) ^ flip;
        w >>= pg % 64u;
        if (w != 0) {
            pg += (uint64_t)__builtin_ctzll(w);
            return pg < end ? pg : end;
        }
        pg = (pg / 64u + 1u) * 64u;
    }
    return end;
}

/* The first page in [pg, end) marked in `a` or (if not NULL) `b`; `end` if none. */
static NO_COVERAGE uint64_t next_marked(const struct pages *a, const struct pages *b, uint64_t pg,
                                        uint64_t end)
{
    return scan_pages(a, b, 0, pg, end);
}

static uint64_t first_page(uint64_t off)
{
    return off / PAGE;
}

static uint64_t end_page(uint64_t end)
{
    return (end + PAGE - 1u) / PAGE;
}

/* [*lo, *hi): the part of page pg inside [start, end). */
static NO_COVERAGE void clip(uint64_t pg, uint64_t start, uint64_t end, uint64_t *lo,
                             uint64_t *hi)
{
    *lo = start > pg * PAGE ? start : pg * PAGE;
    *hi = end < (pg + 1u) * PAGE ? end : (pg + 1u) * PAGE;
}

/* Marks the pages of [start, end) (inside the window) as possibly non-zero. */
static NO_COVERAGE void mark(struct pages *mask, uint64_t start, uint64_t end)
{
    for (uint64_t pg = first_page(start); pg < end_page(end); pg++)
        mask->w[pg / 64u] |= (uint64_t)1 << (pg % 64u);
}

/* Whether no page of [start, end) is marked in `a` or `b`: the model holds zeros there. */
static bool clean(const struct pages *a, const struct pages *b, uint64_t start, uint64_t end)
{
    return next_marked(a, b, first_page(start), end_page(end)) == end_page(end);
}

/*
 * Zeroes [start, end) of a model array, visiting only the pages its mask
 * marks and unmarking the pages it zeroes whole.
 */
static NO_COVERAGE void zero_range(uint8_t *a, struct pages *mask, uint64_t start, uint64_t end)
{
    for (uint64_t pg = next_marked(mask, NULL, first_page(start), end_page(end));
         pg < end_page(end); pg = next_marked(mask, NULL, pg + 1u, end_page(end))) {
        uint64_t lo, hi;
        clip(pg, start, end, &lo, &hi);
        memset(a + lo, 0, (size_t)(hi - lo));
        if (hi - lo == PAGE)
            page_unmark(mask, pg);
    }
}

/* Whether [start, end) of the latest content holds only zeros. */
static NO_COVERAGE bool latest_zero(uint64_t start, uint64_t end)
{
    for (uint64_t pg = next_marked(&m.dirty_latest, NULL, first_page(start), end_page(end));
         pg < end_page(end); pg = next_marked(&m.dirty_latest, NULL, pg + 1u, end_page(end))) {
        uint64_t lo, hi;
        clip(pg, start, end, &lo, &hi);
        if (!bytes_all_zero(m.latest + lo, (size_t)(hi - lo)))
            return false;
    }
    return true;
}

/* durable = latest over [start, end), visiting only pages marked in either. */
static NO_COVERAGE void copy_durable(uint64_t start, uint64_t end)
{
    for (uint64_t pg = next_marked(&m.dirty_latest, &m.dirty_durable, first_page(start),
                                   end_page(end));
         pg < end_page(end);
         pg = next_marked(&m.dirty_latest, &m.dirty_durable, pg + 1u, end_page(end))) {
        uint64_t lo, hi;
        clip(pg, start, end, &lo, &hi);
        if (page_marked(&m.dirty_latest, pg)) {
            memcpy(m.durable + lo, m.latest + lo, (size_t)(hi - lo));
            mark(&m.dirty_durable, lo, hi);
        } else {
            zero_range(m.durable, &m.dirty_durable, lo, hi);
        }
    }
}

/* durable = latest over the whole window (which leaves the two masks equal). */
static void copy_all_durable(void)
{
    copy_durable(0, WINDOW);
}

static void model_reset(void)
{
    zero_range(m.latest, &m.dirty_latest, 0, WINDOW);
    zero_range(m.durable, &m.dirty_durable, 0, WINDOW);
    memset(&m.unchecked, 0, sizeof(m.unchecked));
    m.size = m.durable_size = 0;
    m.ntouched = m.nzeroed = m.nhashes = m.nsizes = 0;
}

static void note_touched(uint64_t start, uint64_t end)
{
    s.read_back = false; /* the model changed: a reader must see it again */
    mark(&m.unchecked, start, end);
    FUZZ_CHECK(m.ntouched < MAX_RANGES);
    m.touched[m.ntouched].start = start;
    m.touched[m.ntouched].end = end;
    m.ntouched++;
}

/* Records the latest content of every unit overlapping [start, end) as one a crash may keep. */
static NO_COVERAGE void note_states(uint64_t start, uint64_t end)
{
    for (uint64_t u = start / UNIT; u * UNIT < end; u++) {
        FUZZ_CHECK(m.nhashes < MAX_HASHES);
        m.hashes[m.nhashes].unit = u;
        m.hashes[m.nhashes].hash = unit_hash(m.latest + u * UNIT);
        m.nhashes++;
    }
}

/* [start, end) reads zeros now: whole units as an interval, partial ones by content. */
static void note_zeroed(uint64_t start, uint64_t end)
{
    uint64_t a = (start + UNIT - 1) / UNIT * UNIT, b = end / UNIT * UNIT;
    if (a < b) {
        FUZZ_CHECK(m.nzeroed < MAX_RANGES);
        m.zeroed[m.nzeroed].start = a;
        m.zeroed[m.nzeroed].end = b;
        m.nzeroed++;
    } else {
        a = b = start;
    }
    if (start < a)
        note_states(start, a < end ? a : end);
    if (b < end && b >= a)
        note_states(b > start ? b : start, end);
}

static void model_write(uint64_t off, const uint8_t *buf, size_t len)
{
    memcpy(m.latest + off, buf, len);
    mark(&m.dirty_latest, off, off + len);
    note_touched(off, off + len);
    note_states(off, off + len);
}

/* The latest content of [off, off + n) becomes `buf`: pages of zeros stay unmarked. */
static NO_COVERAGE void model_take(uint64_t off, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = (size_t)(PAGE - (off + i) % PAGE);
        if (k > n - i)
            k = n - i;
        if (bytes_all_zero(buf + i, k)) {
            zero_range(m.latest, &m.dirty_latest, off + i, off + i + k);
        } else {
            memcpy(m.latest + off + i, buf + i, k);
            mark(&m.dirty_latest, off + i, off + i + k);
        }
        i += k;
    }
}

static void model_zero(uint64_t off, uint64_t len)
{
    zero_range(m.latest, &m.dirty_latest, off, off + len);
    note_touched(off, off + len);
    note_zeroed(off, off + len);
}

static void model_resize(uint64_t new_size)
{
    uint64_t lo = win(new_size < m.size ? new_size : m.size);
    uint64_t hi = win(new_size < m.size ? m.size : new_size);
    if (new_size < m.size)
        zero_range(m.latest, &m.dirty_latest, lo, hi);
    if (lo < hi) {
        note_touched(lo, hi);
        note_zeroed(lo, hi);
    }
    s.read_back = false;
    FUZZ_CHECK(m.nsizes < MAX_RANGES);
    m.sizes[m.nsizes++] = new_size;
    m.size = new_size;
}

/* A flush or finish returned VHDX_OK: the latest content is durable. */
static NO_COVERAGE void model_durable(void)
{
    for (size_t i = 0; i < m.ntouched; i++)
        copy_durable(m.touched[i].start, m.touched[i].end);
    for (size_t i = 0; i < ARRAY_LEN(m.dirty_durable.w); i++)
        m.dirty_durable.w[i] |= m.dirty_latest.w[i];
    m.durable_size = m.size;
    m.ntouched = m.nzeroed = m.nhashes = m.nsizes = 0;
}

static int cmp_unit_hash(const void *pa, const void *pb)
{
    const struct unit_hash *a = pa, *b = pb;
    if (a->unit != b->unit)
        return a->unit < b->unit ? -1 : 1;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return 0;
}

static bool unit_allowed(uint64_t u, const uint8_t *got)
{
    struct unit_hash key;
    if (memcmp(got, m.latest + u * UNIT, UNIT) == 0 || memcmp(got, m.durable + u * UNIT, UNIT) == 0)
        return true;
    if (bytes_all_zero(got, UNIT)) {
        for (size_t i = 0; i < m.nzeroed; i++)
            if (u * UNIT >= m.zeroed[i].start && u * UNIT < m.zeroed[i].end)
                return true;
    }
    key.unit = u;
    key.hash = unit_hash(got);
    return bsearch(&key, m.hashes, m.nhashes, sizeof(key), cmp_unit_hash) != NULL;
}

/* ---- the file and the image ------------------------------------------------ */

static vhdx_status borrow_read(void *ctx, void *buf, size_t len, uint64_t off, size_t *got)
{
    vhdx_io *b = ctx;
    return b->read(b->ctx, buf, len, off, got);
}

static vhdx_status borrow_size(void *ctx, uint64_t *size)
{
    vhdx_io *b = ctx;
    return b->size(b->ctx, size);
}

/* A read-only view of `base` that closing leaves alone. */
static vhdx_io borrow(vhdx_io *base)
{
    vhdx_io io;
    memset(&io, 0, sizeof(io));
    io.ctx = base;
    io.read = borrow_read;
    io.size = borrow_size;
    return io;
}

static vhdx_status open_parent(void *ctx, const char *key, const char *path, vhdx_io *out)
{
    (void)key;
    (void)path;
    *out = borrow(ctx);
    return VHDX_OK;
}

static void print_error(void *ctx, const vhdx_diag *d)
{
    (void)ctx;
    if (d->severity == VHDX_SEVERITY_ERROR && !s.quiet)
        fprintf(stderr, "  %s %s at %llu: %s\n", vhdx_status_name(d->code), d->rule,
                (unsigned long long)d->offset, d->message);
}

static vhdx_open_options open_options(unsigned flags)
{
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    o.flags = flags;
    o.on_diag = print_error;
    o.allocator = &FUZZ_POOL;
    if (s.has_parent) {
        o.open_parent = open_parent;
        o.open_parent_ctx = &s.pfile;
    }
    return o;
}

static bool near_cap(void)
{
    return io_sparse_bytes(file_store) >= FILE_CAP / 2;
}

/* A new writable handle (or a handle just sealed): its DataWriteGuid, nothing changed yet. */
static void note_handle(void)
{
    vhdx_info info;
    FUZZ_CHECK(vhdx_get_info(s.img, &info) == VHDX_OK);
    memcpy(s.data_write_guid, info.data_write_guid, sizeof(s.data_write_guid));
    s.changed = false;
}

/*
 * Opens the file writable through a fresh fault back end. The image owns
 * that back end (vhdx_close closes it, as a failed open does); the back end
 * only borrows the file.
 */
static vhdx_status open_writable(void)
{
    vhdx_open_options o = open_options(VHDX_OPEN_WRITABLE);
    vhdx_io io;
    vhdx_status st;
    FUZZ_CHECK(io_fault_create(&s.file, &s.acct, UINT64_MAX, &s.fault) == VHDX_OK);
    io = s.fault;
    st = vhdx_open(&io, &o, &s.img);
    if (st == VHDX_OK)
        note_handle();
    else
        memset(&s.fault, 0, sizeof(s.fault));
    return st;
}

static void close_image(void)
{
    vhdx_close(s.img);
    s.img = NULL;
    s.read_back = false;
    memset(&s.fault, 0, sizeof(s.fault));
}

/* vhdx_check on the file bytes, read-only: no errors. */
static void check_file(void)
{
    vhdx_open_options o = open_options(VHDX_OPEN_READ_ONLY);
    vhdx_check_result r;
    vhdx_io io = borrow(&s.file);
    FUZZ_CHECK(vhdx_check(&io, &o, &r) == VHDX_OK);
    if (r.errors != 0)
        fprintf(stderr, "vhdx_check: %zu errors, first %s\n", r.errors,
                vhdx_status_name(r.first_error));
    FUZZ_CHECK(r.errors == 0);
}

/* A whole-image pass over a disk of `size` bytes. */
static void add_cost(uint64_t size)
{
    s.cost += size / s.block / 1024u;
}

/* Writes and truncates that reached the file through the open image's fault back end. */
static uint64_t mutations(const struct io_fault_stats *st)
{
    return st->writes + st->truncates;
}

/* Whether the file starts with the signature: an unsealed build's seal reached it. */
static bool has_signature(void)
{
    uint8_t sig[8];
    size_t got = 0;
    FUZZ_CHECK(s.file.read(s.file.ctx, sig, sizeof(sig), 0, &got) == VHDX_OK);
    return got == sizeof(sig) && memcmp(sig, VHDX_SIG_FILE, sizeof(sig)) == 0;
}

/* How a reader must refuse an unsealed file: no signature (a file under 1 MiB: short). */
static bool refused(vhdx_status st)
{
    uint64_t size = 0;
    FUZZ_CHECK(s.file.size(s.file.ctx, &size) == VHDX_OK);
    return st == VHDX_E_SIGNATURE || (size < VHDX_HEADER_SECTION_SIZE && st == VHDX_E_TRUNCATED);
}

/*
 * The unsealed file, read-only: vhdx_open refuses it, and (`judge`)
 * vhdx_check says why. The check goes on past the error over the whole
 * image: a whole-image pass.
 */
static void check_refused(bool judge)
{
    vhdx_open_options o;
    vhdx_check_result r;
    vhdx_image *ro = NULL;
    vhdx_io io = borrow(&s.file);
    vhdx_status st;
    memset(&o, 0, sizeof(o)); /* no on_diag: the refusal is expected */
    o.allocator = &FUZZ_POOL;
    st = vhdx_open(&io, &o, &ro);
    if (!refused(st))
        fprintf(stderr, "op %u: read-only open of the unsealed file: %s\n", s.op_index,
                vhdx_status_name(st));
    vhdx_close(ro);
    FUZZ_CHECK(refused(st));
    if (!judge)
        return;
    add_cost(m.size);
    io = borrow(&s.file);
    FUZZ_CHECK(vhdx_check(&io, &o, &r) == VHDX_OK);
    if (r.errors == 0 || !refused(r.first_error))
        fprintf(stderr, "op %u: vhdx_check of the unsealed file: %zu errors, first %s\n",
                s.op_index, r.errors, vhdx_status_name(r.first_error));
    FUZZ_CHECK(r.errors > 0 && refused(r.first_error));
}

/* While unsealed, an operation changes the file in place without flushing it. */
static void check_no_flush(uint64_t flushes_before)
{
    uint64_t flushes = io_fault_stats(&s.fault).flushes;
    if (s.unsealed && flushes != flushes_before)
        fprintf(stderr, "op %u: the unsealed image flushed %llu times\n", s.op_index,
                (unsigned long long)(flushes - flushes_before));
    FUZZ_CHECK(!s.unsealed || flushes == flushes_before);
}

static void read_exact(vhdx_image *img, uint64_t off, size_t len)
{
    vhdx_status st = vhdx_read(img, off, rbuf, len);
    if (st != VHDX_OK)
        fprintf(stderr, "vhdx_read(%llu, %zu): %s\n", (unsigned long long)off, len,
                vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
}

static void report_mismatch(uint64_t off, const uint8_t *got, const uint8_t *want, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] != want[i]) {
            fprintf(stderr, "op %u: disk differs from the model at %llu: read %02x, want %02x\n",
                    s.op_index, (unsigned long long)(off + i), got[i], want[i]);
            return;
        }
    }
}

/*
 * A disk larger than the window reads zeros past it: the first and last
 * 64 KiB read zeros, and (`walk`: after a reopen, as it visits every BAT
 * entry) every extent there is a ZERO one.
 */
static void check_tail(vhdx_image *img, uint64_t size, bool walk)
{
    uint64_t off = WINDOW;
    if (size <= WINDOW)
        return;
    while (walk && off < size) {
        vhdx_extent e;
        vhdx_status st = vhdx_map_next(img, off, &e);
        if (st != VHDX_OK)
            fprintf(stderr, "op %u: vhdx_map_next(%llu) of a disk of %llu: %s\n", s.op_index,
                    (unsigned long long)off, (unsigned long long)size, vhdx_status_name(st));
        FUZZ_CHECK(st == VHDX_OK);
        if (e.kind != VHDX_EXTENT_ZERO)
            fprintf(stderr, "op %u: extent at %llu past the window is of kind %d\n", s.op_index,
                    (unsigned long long)off, (int)e.kind);
        FUZZ_CHECK(e.kind == VHDX_EXTENT_ZERO && e.offset == off && e.length > 0);
        off += e.length;
    }
    FUZZ_CHECK(!walk || off == size);
    read_exact(img, WINDOW, 65536);
    FUZZ_CHECK(bytes_all_zero(rbuf, 65536));
    read_exact(img, size - 65536, 65536);
    FUZZ_CHECK(bytes_all_zero(rbuf, 65536));
}

/*
 * Bytes of extent `e` (of the image, or with `parent` of the parent) from
 * its start on that must read zeros without their bytes being read: a ZERO
 * extent, or a DATA one as far as it lies in a hole of its file's store (a
 * hole reads zeros: tests/test_io_sparse.c).
 */
static uint64_t zeros_behind(const vhdx_extent *e, bool parent)
{
    if (e->kind == VHDX_EXTENT_ZERO)
        return e->length;
    if (e->kind == VHDX_EXTENT_DATA)
        return io_sparse_hole_len(parent ? parent_store : file_store, e->file_offset, e->length);
    return 0;
}

/*
 * How many bytes from `off` on must read zeros by the image's map (0: not
 * known): a ZERO extent, a DATA extent as far as it lies over a hole of the
 * file's sparse store, a PARENT extent as far as the same holds in the
 * parent. Where the model holds zeros too, reading would only compare
 * zeros with zeros: skipping it keeps the cost of a comparison to the data
 * the disk holds. (The parent's written runs are marked in the model, so
 * what a PARENT extent reads from the parent's data is still read and
 * compared; so is every byte a write or a crash left in the file's store.)
 * 0 on a disk (of disk_size bytes) past the window: an extent there runs to
 * the end of a huge disk, and finding that end visits every BAT entry.
 */
static uint64_t zero_run(vhdx_image *img, uint64_t disk_size, uint64_t off)
{
    vhdx_extent e;
    vhdx_status st;
    uint64_t zeros;
    if (disk_size > WINDOW)
        return 0;
    st = vhdx_map_next(img, off, &e);
    if (st != VHDX_OK)
        fprintf(stderr, "op %u: vhdx_map_next(%llu): %s\n", s.op_index, (unsigned long long)off,
                vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    FUZZ_CHECK(e.offset == off && e.length > 0);
    if (e.kind == VHDX_EXTENT_PARENT && s.parent != NULL) {
        vhdx_extent pe;
        st = vhdx_map_next(s.parent, off, &pe);
        if (st != VHDX_OK)
            fprintf(stderr, "op %u: vhdx_map_next(%llu) of the parent: %s\n", s.op_index,
                    (unsigned long long)off, vhdx_status_name(st));
        FUZZ_CHECK(st == VHDX_OK && pe.offset == off && pe.length > 0);
        zeros = zeros_behind(&pe, true);
        return zeros < e.length ? zeros : e.length;
    }
    return zeros_behind(&e, false);
}

/*
 * Whether [off, off + n) must read zeros by the map (zero_run). *zero_end
 * carries the end of the last such run seen between calls (0 at first).
 */
static bool mapped_zero(vhdx_image *img, uint64_t disk_size, uint64_t off, uint64_t n,
                        uint64_t *zero_end)
{
    uint64_t zeros;
    if (off + n <= *zero_end)
        return true;
    zeros = zero_run(img, disk_size, off);
    if (zeros == 0)
        return false;
    *zero_end = off + zeros;
    return zeros >= n;
}

/* The first page from pg on (below `last`) that `mask` marks (`marked`) or does not. */
static uint64_t run_stop(const struct pages *mask, uint64_t pg, uint64_t last, bool marked)
{
    return scan_pages(mask, NULL, marked ? 0 : UINT64_MAX, pg, last);
}

/*
 * The image reads [start, end) as the model's latest content in the window
 * (past it: check_tail): a run of pages the model holds data on (at most
 * CHUNK bytes) a read; a run it holds as zeros passed over as far as the
 * map says it reads zeros (zero_run), else read.
 */
static void compare_range(vhdx_image *img, uint64_t start, uint64_t end)
{
    uint64_t wend = win(end), off = start;
    while (off < wend) {
        uint64_t pg = first_page(off);
        bool data = page_marked(&m.dirty_latest, pg);
        uint64_t stop = run_stop(&m.dirty_latest, pg, end_page(wend), !data) * PAGE;
        uint64_t run = (stop < wend ? stop : wend) - off;
        size_t n;
        if (!data) {
            uint64_t zeros = zero_run(img, m.size, off);
            if (zeros > 0) {
                off += zeros < run ? zeros : run;
                continue;
            }
        }
        n = (size_t)(run < CHUNK ? run : CHUNK);
        read_exact(img, off, n);
        if (memcmp(rbuf, m.latest + off, n) != 0) {
            report_mismatch(off, rbuf, m.latest + off, n);
            FUZZ_CHECK(0);
        }
        off += n;
    }
}

/*
 * The next run of pages marked in `u`, from page *pg on and below byte
 * `end`, at most CHUNK bytes: [*off, *off + *n), cut at `end`. *pg moves
 * past it. False when none is left.
 */
static bool next_run(const struct pages *u, uint64_t *pg, uint64_t end, uint64_t *off, size_t *n)
{
    uint64_t last = end_page(end), first = next_marked(u, NULL, *pg, last), stop;
    if (first >= last)
        return false;
    stop = first + 1;
    while (stop < last && (stop - first) * PAGE < CHUNK && page_marked(u, stop))
        stop++;
    *off = first * PAGE;
    *n = (size_t)((stop * PAGE < end ? stop * PAGE : end) - *off);
    *pg = stop;
    return true;
}

/* The last page in [first, end) marked in `a`; `end` if none. */
static NO_COVERAGE uint64_t last_marked(const struct pages *a, uint64_t first, uint64_t end)
{
    uint64_t at = end;
    while (at > first) {
        uint64_t top = at - 1u, w = a->w[top / 64u];
        unsigned keep = (unsigned)(top % 64u) + 1u;
        if (keep < 64u)
            w &= ((uint64_t)1 << keep) - 1u;
        if (w != 0) {
            uint64_t pg = top / 64u * 64u + 63u - (uint64_t)__builtin_clzll(w);
            return pg >= first ? pg : end;
        }
        at = top / 64u * 64u;
    }
    return end;
}

/*
 * The pages a fresh open of the file compares: those an operation touched
 * since the last such open (m.unchecked), and in every block of the window
 * the first and the last page whose data is older than that (either model
 * holds data on it, no operation touched it since). A block's mapping (its
 * BAT entry, a differencing block's sector bitmap) going astray shows on
 * those pages, also when a later write gave the block new data elsewhere;
 * what is wrong only inside such a block, between them, is left to the
 * sweep at the end of the input.
 */
static void pages_to_check(struct pages *u)
{
    uint64_t per_block = s.block / PAGE;
    struct pages old;
    for (size_t i = 0; i < ARRAY_LEN(old.w); i++)
        old.w[i] = (m.dirty_latest.w[i] | m.dirty_durable.w[i]) & ~m.unchecked.w[i];
    *u = m.unchecked;
    for (uint64_t b = 0; b < WINDOW / PAGE; b += per_block) {
        uint64_t first = next_marked(&old, NULL, b, b + per_block);
        uint64_t last = last_marked(&old, b, b + per_block);
        if (first < b + per_block)
            u->w[first / 64u] |= (uint64_t)1 << (first % 64u);
        if (last < b + per_block)
            u->w[last / 64u] |= (uint64_t)1 << (last % 64u);
    }
}

/*
 * The next run of pages_to_check() below byte `end` (see next_run) that
 * the image must read back: a run the model holds as zeros and the image
 * maps as ZERO (mapped_zero) is passed over. `zero_end` as for mapped_zero.
 */
static bool next_check(vhdx_image *img, const struct pages *u, uint64_t disk_size, uint64_t *pg,
                       uint64_t end, uint64_t *zero_end, uint64_t *off, size_t *n)
{
    while (next_run(u, pg, end, off, n)) {
        if (!clean(&m.dirty_latest, NULL, *off, *off + *n) ||
            !mapped_zero(img, disk_size, *off, *n, zero_end))
            return true;
    }
    return false;
}

/*
 * The image reads as the model's latest content on pages_to_check() of
 * [0, end); they are checked then. The rest is left to the sweep at the
 * end of the input (compare_range); past the window, to check_tail.
 */
static void compare_marked(vhdx_image *img, uint64_t end)
{
    struct pages u;
    uint64_t pg = 0, off, zero_end = 0;
    size_t n;
    pages_to_check(&u);
    while (next_check(img, &u, m.size, &pg, win(end), &zero_end, &off, &n)) {
        read_exact(img, off, n);
        if (memcmp(rbuf, m.latest + off, n) != 0) {
            report_mismatch(off, rbuf, m.latest + off, n);
            FUZZ_CHECK(0);
        }
    }
    memset(&m.unchecked, 0, sizeof(m.unchecked));
}

/*
 * After an operation: the range it touched reads as the model, through the
 * same handle. A range over 512 KiB is sampled (its first and last 128 KiB,
 * 8 KiB around each block boundary): it is in m.unchecked, so the next
 * fresh open reads all of it.
 */
static void compare_touched(uint64_t start, uint64_t end)
{
    const uint64_t edge = 128 * 1024;
    if (end - start <= 4 * edge) {
        compare_range(s.img, start, end);
        return;
    }
    compare_range(s.img, start, start + edge);
    for (uint64_t b = (start + edge) / s.block * s.block + s.block; b < end - edge; b += s.block)
        compare_range(s.img, b - 4096, b + 4096);
    compare_range(s.img, end - edge, end);
}

static void check_info(vhdx_image *img, bool clean)
{
    vhdx_info info;
    FUZZ_CHECK(vhdx_get_info(img, &info) == VHDX_OK);
    if (info.virtual_size != m.size)
        fprintf(stderr, "op %u: virtual size %llu, model %llu\n", s.op_index,
                (unsigned long long)info.virtual_size, (unsigned long long)m.size);
    FUZZ_CHECK(info.virtual_size == m.size);
    FUZZ_CHECK(info.type == s.type);
    FUZZ_CHECK(info.logical_sector_size == s.sector);
    FUZZ_CHECK(info.block_size == s.block);
    if (clean)
        FUZZ_CHECK(!info.log_dirty);
}

/*
 * After a clean close and open: the disk is the model. `full` (the end of
 * the input): the whole disk is compared and every extent past the window
 * walked, and vhdx_check must find the file clean. Otherwise only what the
 * input touched is compared (compare_marked), and the writable open that
 * just succeeded stands for the check: it validates every structure the
 * check does and fails on the first error, and the file has not changed
 * since (a writable handle writes nothing before its first change).
 */
static void verify_exact(bool full)
{
    add_cost(m.size);
    check_info(s.img, true);
    check_tail(s.img, m.size, full);
    if (full)
        compare_range(s.img, 0, m.size);
    else
        compare_marked(s.img, m.size);
    if (s.unsealed)
        check_refused(true);
    else if (full)
        check_file();
}

/* After a crash and a writable open: each unit is one a crash may leave; then it is the model. */
static void verify_after_crash(void)
{
    vhdx_info info;
    struct pages u;
    uint64_t pg = 0, off, zero_end = 0;
    size_t n;
    bool size_ok;
    FUZZ_CHECK(vhdx_get_info(s.img, &info) == VHDX_OK);
    add_cost(info.virtual_size);
    size_ok = info.virtual_size == m.durable_size || info.virtual_size == m.size;
    for (size_t i = 0; i < m.nsizes && !size_ok; i++)
        size_ok = info.virtual_size == m.sizes[i];
    if (!size_ok)
        fprintf(stderr, "op %u: virtual size %llu after the crash: durable %llu, latest %llu\n",
                s.op_index, (unsigned long long)info.virtual_size,
                (unsigned long long)m.durable_size, (unsigned long long)m.size);
    FUZZ_CHECK(size_ok);
    check_tail(s.img, info.virtual_size, true);
    qsort(m.hashes, m.nhashes, sizeof(*m.hashes), cmp_unit_hash);
    /*
     * The pages an operation touched since the last fresh open (all that a
     * crash may change), and a page of each block holding data: the rest
     * is left to the sweep at the end of the input.
     */
    pages_to_check(&u);
    while (next_check(s.img, &u, info.virtual_size, &pg, win(info.virtual_size), &zero_end, &off,
                      &n)) {
        read_exact(s.img, off, n);
        if (memcmp(rbuf, m.latest + off, n) == 0)
            continue;
        for (size_t i = 0; i < n; i += UNIT) {
            if (!unit_allowed((off + i) / UNIT, rbuf + i)) {
                fprintf(stderr, "op %u: unit at %llu after the crash is neither durable, "
                                "latest, zeroed nor written since\n",
                        s.op_index, (unsigned long long)(off + i));
                report_mismatch(off + i, rbuf + i, m.durable + off + i, UNIT);
                report_mismatch(off + i, rbuf + i, m.latest + off + i, UNIT);
                FUZZ_CHECK(0);
            }
        }
        /* What the crash left is the new model. */
        model_take(off, rbuf, n);
    }
    zero_range(m.latest, &m.dirty_latest, win(info.virtual_size), WINDOW);
    copy_all_durable();
    m.size = m.durable_size = info.virtual_size;
    m.ntouched = m.nzeroed = m.nhashes = m.nsizes = 0;
    memset(&m.unchecked, 0, sizeof(m.unchecked));
    check_info(s.img, false);
    check_file();
}

/* A power loss left an unsealed build without its signature: every open refuses it. */
static void refused_after_crash(void)
{
    vhdx_status st;
    s.quiet = true; /* the refusal is expected */
    st = open_writable();
    if (!refused(st))
        fprintf(stderr, "op %u: writable open of the unsealed file after a crash: %s\n",
                s.op_index, vhdx_status_name(st));
    FUZZ_CHECK(refused(st));
    s.quiet = false;
    check_refused(true);
}

/* Power loss now: nothing more reaches the file. Returns false when the run must end. */
static bool crash_and_reopen(void)
{
    vhdx_status st;
    if (s.img != NULL) {
        io_fault_stop_after(&s.fault, 0);
        s.quiet = true;
        close_image();
    }
    if (s.unsealed) {
        /* Not sealed: nothing else is left to check. */
        if (!has_signature()) {
            refused_after_crash();
            return false;
        }
        /*
         * A seal that failed after its signature reached the file (at its
         * last flush): the signature comes only after a flush that followed
         * every other write, so the whole latest content is durable.
         */
        s.unsealed = false;
        model_durable();
    }
    s.quiet = false;
    st = open_writable();
    if (st == VHDX_E_LIMIT && near_cap())
        return false;
    if (st != VHDX_OK)
        fprintf(stderr, "op %u: writable open after a crash: %s\n", s.op_index,
                vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    verify_after_crash();
    return true;
}

/* ---- operations --------------------------------------------------------- */

static uint64_t decode_offset(const struct op *op)
{
    uint64_t unit = (op->flags & OPF_BYTES) ? 1 : s.sector, span = win(m.size);
    int64_t off;
    if (op->flags & OPF_BLOCK) {
        uint64_t nblocks = (span + s.block - 1) / s.block;
        uint64_t blk = (op->off >> 16) % nblocks;
        int64_t delta = (int64_t)(op->off & 0xffffu) - ((op->off & 0x8000u) ? 0x10000 : 0);
        off = (int64_t)(blk * s.block) + delta * (int64_t)unit;
        if (off < 0)
            off = 0;
        if (off > (int64_t)(span - unit))
            off = (int64_t)(span - unit);
        return (uint64_t)off;
    }
    return (op->off % (span / unit)) * unit;
}

static uint64_t decode_length(const struct op *op, uint64_t off)
{
    uint64_t unit = (op->flags & OPF_BYTES) ? 1 : s.sector;
    uint64_t len;
    if (op->kind == OP_WRITE)
        len = (1 + op->len % (WRITE_MAX / unit)) * unit;
    else if (unit == 1)
        len = (uint64_t)(op->len & 0xffffu) * 64u + (op->len >> 16) + 1u;
    else
        len = ((uint64_t)((op->len & 0xffffu) >> ((op->len >> 16) & 15u)) + 1u) * unit;
    return len < win(m.size) - off ? len : win(m.size) - off;
}

static uint64_t decode_size(const struct op *op)
{
    uint64_t size, cut = (uint64_t)(op->size >> 10) * s.sector;
    if ((op->flags & OPF_BLOCK) && s.type == VHDX_DISK_DYNAMIC)
        return HUGE_SIZE(s.block) + (uint64_t)(op->size & 0x3ffu) * 65536u - cut;
    if (s.type == VHDX_DISK_FIXED)
        size = (uint64_t)((op->size & 0xffu) + 1) * 65536u;
    else
        size = (uint64_t)((op->size & 0x3ffu) + 1) * 65536u;
    if (cut < size)
        size -= cut;
    return size;
}

/*
 * A status from an operation: false for VHDX_OK, true for a legitimate
 * failure after which the caller crashes and reopens; aborts otherwise.
 */
static bool failed(const char *what, vhdx_status st, bool armed)
{
    if (st == VHDX_OK)
        return false;
    if (armed && st == VHDX_E_IO)
        return true;
    if (st == VHDX_E_LIMIT && near_cap())
        return true;
    fprintf(stderr, "op %u: %s: %s\n", s.op_index, what, vhdx_status_name(st));
    FUZZ_CHECK(0);
    return true;
}

/*
 * Seals an unsealed build (vhdx_finish): then it is an ordinary image, its
 * whole content durable. True when it was not unsealed; false when the seal
 * failed legitimately (`armed`: VHDX_E_IO).
 */
static bool seal(bool armed)
{
    struct io_fault_stats before, after;
    uint64_t wrote, flushes, need;
    if (!s.unsealed)
        return true;
    before = io_fault_stats(&s.fault);
    if (failed("vhdx_finish (the seal)", vhdx_finish(s.img), armed))
        return false;
    after = io_fault_stats(&s.fault);
    s.unsealed = false;
    model_durable();
    FUZZ_CHECK(has_signature());
    /*
     * The signature is written last, then flushed. Every other write must be
     * flushed before it: one more flush when the seal wrote anything else, or
     * anything was written since the last vhdx_flush (the creation counts).
     */
    wrote = mutations(&after) - mutations(&before);
    flushes = after.flushes - before.flushes;
    need = (wrote > 1 || mutations(&before) != s.synced) ? 2u : 1u;
#ifdef FUZZ_WRITE_OPS_TRACE
    fprintf(stderr, "op %u: sealed: %llu writes before it, %llu in it, %llu flushes in it\n",
            s.op_index, (unsigned long long)mutations(&before), (unsigned long long)wrote,
            (unsigned long long)flushes);
#endif
    if (wrote == 0 || flushes < need)
        fprintf(stderr, "op %u: the seal wrote %llu times and flushed %llu times, %llu needed\n",
                s.op_index, (unsigned long long)wrote, (unsigned long long)flushes,
                (unsigned long long)need);
    FUZZ_CHECK(wrote > 0 && flushes >= need);
    /* The image's GUIDs are new: a change after the seal starts a session with new ones. */
    note_handle();
    return true;
}

/* Discarded bytes the model changes: whole blocks in a dynamic or differencing image. */
static void discard_model(uint64_t off, uint64_t len)
{
    uint64_t a, b;
    if (s.type == VHDX_DISK_FIXED) {
        model_zero(off, len);
        return;
    }
    a = (off + s.block - 1) / s.block * s.block;
    b = (off + len) / s.block * s.block;
    /* The last, partial block is whole when the range reaches the end of the disk. */
    if (off + len == m.size && m.size % s.block != 0)
        b = m.size;
    if (a < b)
        model_zero(a, b - a);
}


/* What run_op leaves. */
enum op_result {
    OP_DONE,   /* the image is open and matches the model */
    OP_FAILED, /* failed legitimately: the caller crashes and reopens */
    OP_STOP    /* the file cap was reached on a reopen: the run ends */
};

static enum op_result run_op(const struct op *op, bool armed);

/*
 * vhdx_close (which finishes: everything is durable), then a writable open
 * must give the model back; a handle that changed the disk wrote a new
 * DataWriteGuid (§3.3).
 */
static enum op_result reopen_clean(bool full)
{
    char before[VHDX_GUID_TEXT_SIZE];
    bool changed = s.changed;
    vhdx_status st;
    memcpy(before, s.data_write_guid, sizeof(before));
    close_image();
    model_durable();
    st = open_writable();
    if (st == VHDX_E_LIMIT && near_cap())
        return OP_STOP;
    if (st != VHDX_OK)
        fprintf(stderr, "op %u: writable reopen: %s\n", s.op_index, vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    verify_exact(full);
    if (changed && strcmp(before, s.data_write_guid) == 0)
        fprintf(stderr, "op %u: the handle changed the disk, DataWriteGuid %s kept\n",
                s.op_index, before);
    FUZZ_CHECK(!changed || strcmp(before, s.data_write_guid) != 0);
    return OP_DONE;
}

/* Many small log entries in one log session: see OP_FLUSH at the top. */
static enum op_result flush_storm(const struct op *op, bool armed)
{
    uint64_t nblocks = (win(m.size) + s.block - 1) / s.block;
    unsigned rounds = op->a % 96u + 1u, budget = s.storm_left > 0 ? s.storm_left : 1u;
    if (rounds > budget)
        rounds = budget;
    s.storm_left = s.storm_left > rounds ? s.storm_left - rounds : 0u;
    for (unsigned i = 0; i < rounds; i++) {
        uint64_t first = i % nblocks * (s.block / s.sector);
        struct op sub[4];
        memset(sub, 0, sizeof(sub));
        sub[0].kind = OP_WRITE;
        sub[0].off = (uint32_t)first;
        sub[1].kind = OP_FLUSH;
        sub[2].kind = OP_DISCARD;
        sub[2].off = (uint32_t)first;
        sub[2].len = s.block / s.sector - 1u;
        sub[3].kind = OP_FLUSH;
        for (unsigned k = 0; k < 4; k++) {
            enum op_result r = run_op(&sub[k], armed);
            if (r != OP_DONE)
                return r;
        }
    }
    return OP_DONE;
}

/*
 * Runs one operation on the image and the model. `armed`: a crash is armed,
 * so the operation may fail with VHDX_E_IO.
 */
static enum op_result run_op(const struct op *op, bool armed)
{
    vhdx_status st;
    uint64_t off, len, discarded = 0, new_size, old_size;
    uint64_t flushes = io_fault_stats(&s.fault).flushes;
    bool bad;

#ifdef FUZZ_WRITE_OPS_TRACE
    /* -DFUZZ_WRITE_OPS_TRACE: each operation, for reading a reproducer. */
    fprintf(stderr, "op %u%s: kind %u flags %#x off %#x len %#x size %#x a %u (disk %llu)\n",
            s.op_index, armed ? " (armed)" : "", op->kind, op->flags, op->off, op->len, op->size,
            op->a, (unsigned long long)m.size);
#endif

    switch (op->kind) {
    case OP_WRITE:
        off = decode_offset(op);
        len = decode_length(op, off);
        fill(wbuf, off, (size_t)len, s.op_index);
        st = vhdx_write(s.img, off, wbuf, (size_t)len);
        check_no_flush(flushes);
        model_write(off, wbuf, (size_t)len);
        if (failed("vhdx_write", st, armed))
            return OP_FAILED;
        s.changed = true;
        compare_touched(off, off + len);
        return OP_DONE;
    case OP_ZEROES:
        off = decode_offset(op);
        len = decode_length(op, off);
        st = vhdx_write_zeroes(s.img, off, len);
        check_no_flush(flushes);
        model_zero(off, len);
        if (failed("vhdx_write_zeroes", st, armed))
            return OP_FAILED;
        s.changed = true;
        compare_touched(off, off + len);
        return OP_DONE;
    case OP_DISCARD:
        off = decode_offset(op);
        len = decode_length(op, off);
        st = vhdx_discard(s.img, off, len, &discarded);
        check_no_flush(flushes);
        discard_model(off, len);
        if (failed("vhdx_discard", st, armed))
            return OP_FAILED;
        FUZZ_CHECK(discarded <= len);
        compare_touched(off, off + len);
        return OP_DONE;
    case OP_FLUSH:
        if (op->flags & OPF_BLOCK)
            return flush_storm(op, armed);
        if (failed("vhdx_flush", vhdx_flush(s.img), armed))
            return OP_FAILED;
        model_durable();
        if (s.unsealed) {
            /* Flushed, not sealed: the file still has no signature (judged at the first). */
            struct io_fault_stats now = io_fault_stats(&s.fault);
            s.synced = mutations(&now);
            check_refused(!s.judged);
            s.judged = true;
        }
        return OP_DONE;
    case OP_RESIZE:
        new_size = decode_size(op);
        old_size = m.size;
        add_cost(new_size > m.size ? new_size : m.size);
        off = new_size < m.size ? new_size : m.size;
        st = vhdx_resize(s.img, new_size, (op->flags & OPF_BYTES) ? 0 : VHDX_RESIZE_FORCE);
        check_no_flush(flushes);
        if (s.type == VHDX_DISK_DIFFERENCING) {
            if (st != VHDX_E_UNSUPPORTED)
                fprintf(stderr, "op %u: vhdx_resize of a differencing image: %s\n", s.op_index,
                        vhdx_status_name(st));
            FUZZ_CHECK(st == VHDX_E_UNSUPPORTED);
            return OP_DONE;
        }
        if ((op->flags & OPF_BYTES) && new_size < m.size) {
            /* Without FORCE a shrink is refused exactly when a byte past the new end is not zero. */
            bool data = !latest_zero(win(new_size), win(m.size));
            if (data && st == VHDX_E_STATE)
                return OP_DONE;
            if (data || st == VHDX_E_STATE)
                fprintf(stderr, "op %u: shrink to %llu without FORCE: %s, data past it: %d\n",
                        s.op_index, (unsigned long long)new_size, vhdx_status_name(st), data);
            FUZZ_CHECK(!data && st != VHDX_E_STATE);
        }
        model_resize(new_size);
        if (failed("vhdx_resize", st, armed))
            return OP_FAILED;
        s.changed = s.changed || new_size != old_size;
        check_info(s.img, false);
        /* The last block before the old or new end, and what growing added. */
        off = off > s.block ? off - s.block : 0;
        if (off < win(new_size))
            compare_touched(off, win(new_size));
        check_tail(s.img, new_size, false);
        return OP_DONE;
    case OP_REOPEN:
        bad = !seal(armed);
        if (!bad && (op->a & 1)) {
            bad = failed("vhdx_finish", vhdx_finish(s.img), armed);
            if (!bad)
                model_durable();
        }
        if (!armed && !bad)
            return reopen_clean(false);
        close_image();
        /* Armed, the finish inside vhdx_close may meet the stop unseen: judge as a crash. */
        if (armed || bad)
            return crash_and_reopen() ? OP_DONE : OP_STOP;
        return reopen_clean(false);
    case OP_FINISH: {
        vhdx_open_options o = open_options(VHDX_OPEN_READ_ONLY);
        vhdx_image *ro = NULL;
        vhdx_io io = borrow(&s.file);
        struct io_fault_stats now;
        if (!seal(armed) || failed("vhdx_finish", vhdx_finish(s.img), armed))
            return OP_FAILED;
        model_durable();
        /*
         * Not a byte written or truncated since a fresh reader last saw
         * the model: the file is the one it saw (the handle's fault back
         * end counts every change), so it would see the same again.
         */
        now = io_fault_stats(&s.fault);
        if (s.read_back && mutations(&now) == s.read_back_at)
            return OP_DONE;
        add_cost(m.size);
        /* A fresh reader of the file sees the model: nothing is left in memory only. */
        st = vhdx_open(&io, &o, &ro);
        if (st != VHDX_OK)
            fprintf(stderr, "op %u: read-only open after vhdx_finish: %s\n", s.op_index,
                    vhdx_status_name(st));
        FUZZ_CHECK(st == VHDX_OK);
        check_info(ro, true);
        check_tail(ro, m.size, false);
        compare_marked(ro, m.size);
        vhdx_close(ro);
        s.read_back = true;
        s.read_back_at = mutations(&now);
        return OP_DONE;
    }
    default:
        return OP_DONE;
    }
}

/* ---- input --------------------------------------------------------------- */

struct input {
    const uint8_t *data;
    size_t size, pos;
};

static uint32_t take(struct input *in, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        uint32_t b = in->pos < in->size ? in->data[in->pos] : 0;
        if (in->pos < in->size)
            in->pos++;
        v |= b << (8 * i);
    }
    return v;
}

static bool next_op(struct input *in, struct op *op)
{
    uint8_t c;
    if (in->pos >= in->size)
        return false;
    c = in->data[in->pos++];
    memset(op, 0, sizeof(*op));
    op->kind = c & 7u;
    op->flags = c & (OPF_BYTES | OPF_BLOCK);
    switch (op->kind) {
    case OP_WRITE:
    case OP_ZEROES:
    case OP_DISCARD:
        op->off = take(in, 4);
        op->len = take(in, 3);
        break;
    case OP_RESIZE:
        op->size = (uint16_t)take(in, 2);
        break;
    case OP_REOPEN:
        op->a = (uint8_t)take(in, 1);
        break;
    case OP_FLUSH:
        if (op->flags & OPF_BLOCK)
            op->a = (uint8_t)take(in, 1);
        break;
    case OP_CRASH:
        op->a = (uint8_t)take(in, 1);
        op->b = (uint8_t)take(in, 1);
        break;
    default:
        break;
    }
    return true;
}

struct geometry {
    vhdx_disk_type type;
    uint32_t sector, physical, block;
    uint64_t size;
    bool parent_fixed;
    uint32_t parent_block;
    bool unsealed; /* built with vhdx_create_open */
};

static void decode_geometry(const uint8_t *d, struct geometry *g)
{
    static const vhdx_disk_type types[4] = {VHDX_DISK_DYNAMIC, VHDX_DISK_DYNAMIC, VHDX_DISK_FIXED,
                                            VHDX_DISK_DIFFERENCING};
    uint64_t mib;
    g->type = types[d[0] & 3u];
    g->sector = (d[0] & 4u) ? 4096u : 512u;
    g->block = (d[0] & 8u) ? 2u * MIB : MIB;
    g->physical = ((d[0] & 16u) && g->sector == 512u) ? 512u : 4096u;
    g->parent_fixed = (d[0] & 32u) != 0;
    g->parent_block = (d[0] & 64u) ? 3u * MIB - g->block : g->block;
    g->unsealed = (d[0] & 128u) != 0 && g->type != VHDX_DISK_DIFFERENCING;
    /* Small disks by default (byte 1 bit 6 clear), the whole range with bit 6 set. */
    if (d[1] & 64u)
        mib = g->type == VHDX_DISK_FIXED ? 1u + (d[1] & (FIXED_MAX_MIB - 1u)) : 1u + (d[1] & 63u);
    else
        mib = g->type == VHDX_DISK_FIXED ? 1u + (d[1] & 3u) : 1u + (d[1] & 7u);
    /* At most 255 sectors of 4096 bytes come off: at least one sector remains. */
    g->size = mib * MIB - (uint64_t)d[2] * g->sector;
}

/* The parent: created, then a few runs written (op index 255), crossing block boundaries. */
static void make_parent(const struct geometry *g)
{
    vhdx_create_options c;
    vhdx_open_options o;
    vhdx_image *p = NULL;
    vhdx_io io;
    uint64_t offs[3];
    io_sparse_reset(parent_store);
    io_sparse_io(parent_store, true, &s.pfile);
    memset(&c, 0, sizeof(c));
    c.type = g->parent_fixed ? VHDX_DISK_FIXED : VHDX_DISK_DYNAMIC;
    c.virtual_size = g->size;
    c.block_size = g->parent_block;
    c.log_size = MIB;
    c.logical_sector_size = g->sector;
    c.physical_sector_size = g->physical;
    c.allocator = &FUZZ_POOL;
    FUZZ_CHECK(vhdx_create(&s.pfile, &c) == VHDX_OK);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    o.allocator = &FUZZ_POOL;
    FUZZ_CHECK(io_fault_create(&s.pfile, &s.acct, UINT64_MAX, &io) == VHDX_OK);
    FUZZ_CHECK(vhdx_open(&io, &o, &p) == VHDX_OK);
    offs[0] = 0;
    offs[1] = g->size > MIB ? MIB - 32768u : g->size / 2;
    offs[2] = g->size > 65536u ? g->size - 65536u : 0;
    for (size_t i = 0; i < 3; i++) {
        size_t len = (size_t)(g->size - offs[i] < 65536u ? g->size - offs[i] : 65536u);
        len -= len % g->sector;
        fill(wbuf, offs[i], len, 255);
        FUZZ_CHECK(vhdx_write(p, offs[i], wbuf, len) == VHDX_OK);
        memcpy(m.latest + offs[i], wbuf, len);
        mark(&m.dirty_latest, offs[i], offs[i] + len);
        mark(&m.unchecked, offs[i], offs[i] + len); /* the child's first open reads it all */
    }
    FUZZ_CHECK(vhdx_finish(p) == VHDX_OK);
    vhdx_close(p);
    copy_all_durable();
}

/*
 * An unsealed build: vhdx_create_open through a fresh fault back end, which
 * the image owns (it borrows the file), as open_writable does.
 */
static void build_unsealed(const vhdx_create_options *c)
{
    vhdx_open_options o = open_options(VHDX_OPEN_WRITABLE);
    vhdx_io io;
    vhdx_status st;
    FUZZ_CHECK(io_fault_create(&s.file, &s.acct, UINT64_MAX, &s.fault) == VHDX_OK);
    io = s.fault;
    st = vhdx_create_open(&io, c, &o, &s.img);
    if (st != VHDX_OK)
        fprintf(stderr, "vhdx_create_open: %s\n", vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    /* The whole build flushes twice, both in the seal. */
    FUZZ_CHECK(io_fault_stats(&s.fault).flushes == 0);
    s.unsealed = true;
    s.synced = 0;
    note_handle();
}

/* Creates the image and opens it writable; the new disk reads zeros (or the parent). */
static void setup(const struct geometry *g)
{
    vhdx_create_options c;
    vhdx_status st;
    memset(&s, 0, sizeof(s));
    s.storm_left = MAX_STORM;
    alloc_acct_init(&s.acct, NULL, 0);
    s.type = g->type;
    s.sector = g->sector;
    s.block = g->block;
    m.size = m.durable_size = g->size;
    io_sparse_reset(file_store);
    io_sparse_io(file_store, true, &s.file);
    memset(&c, 0, sizeof(c));
    c.type = g->type;
    c.virtual_size = g->size;
    c.block_size = g->block;
    c.log_size = MIB;
    c.logical_sector_size = g->sector;
    c.physical_sector_size = g->physical;
    c.allocator = &FUZZ_POOL;
    if (g->type == VHDX_DISK_DIFFERENCING) {
        vhdx_open_options o;
        vhdx_io io;
        make_parent(g);
        s.has_parent = true;
        memset(&o, 0, sizeof(o));
        o.allocator = &FUZZ_POOL;
        io = borrow(&s.pfile);
        FUZZ_CHECK(vhdx_open(&io, &o, &s.parent) == VHDX_OK);
        c.parent = s.parent;
        c.parent_relative_path = "parent.vhdx";
    }
    if (g->unsealed) {
        build_unsealed(&c);
        verify_exact(false);
        return;
    }
    st = vhdx_create(&s.file, &c);
    if (st != VHDX_OK)
        fprintf(stderr, "vhdx_create: %s\n", vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    st = open_writable();
    if (st != VHDX_OK)
        fprintf(stderr, "writable open of the new image: %s\n", vhdx_status_name(st));
    FUZZ_CHECK(st == VHDX_OK);
    verify_exact(false);
}

static void teardown(void)
{
    close_image();
    vhdx_close(s.parent);
    s.parent = NULL;
    FUZZ_CHECK(s.acct.in_use == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct geometry g;
    struct input in;
    struct op op;
    bool alive = true;

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    crc32c_fuzz_enforce = true;
#endif
    if (size < 3)
        return 0;
    init_once();
    model_reset();
    decode_geometry(data, &g);
    setup(&g);
    in.data = data;
    in.size = size;
    in.pos = 3;
    for (s.op_index = 0; alive && s.op_index < MAX_OPS && s.cost <= MAX_COST && next_op(&in, &op);
         s.op_index++) {
        if (op.kind == OP_CRASH) {
#ifdef FUZZ_WRITE_OPS_TRACE
            fprintf(stderr, "op %u: crash k %u torn %u\n", s.op_index, op.a, op.b & 15u);
#endif
            struct op inflight;
            if (op.a != 0 && s.op_index + 1 < MAX_OPS && next_op(&in, &inflight) &&
                inflight.kind != OP_CRASH) {
                s.op_index++;
                s.quiet = true;
                io_fault_stop_after(&s.fault, op.a - 1u);
                io_fault_set_torn(&s.fault, (size_t)(op.b & 15u) * 4096u);
                if (run_op(&inflight, true) == OP_STOP) {
                    alive = false;
                    continue;
                }
            }
            alive = crash_and_reopen();
            continue;
        }
        switch (run_op(&op, false)) {
        case OP_FAILED:
            alive = crash_and_reopen();
            break;
        case OP_STOP:
            alive = false;
            break;
        default:
            break;
        }
    }
    /* The end: a clean close and open must give the model back (an unsealed build sealed first). */
    if (alive && seal(false) && !failed("final vhdx_finish", vhdx_finish(s.img), false)) {
        model_durable();
        (void)reopen_clean(true);
    }
    teardown();
    return 0;
}

#ifdef FUZZ_SEEDS
struct seed_buf {
    uint8_t b[2048];
    size_t n;
};

static void put(struct seed_buf *sb, uint32_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes && sb->n < sizeof(sb->b); i++)
        sb->b[sb->n++] = (uint8_t)(v >> (8 * i));
}

static void seed_start(struct seed_buf *sb, uint8_t geometry, uint8_t mib, uint8_t cut)
{
    sb->n = 0;
    put(sb, geometry, 1);
    put(sb, mib, 1);
    put(sb, cut, 1);
}

/* A range operation: kind 0-2 with flags, a raw offset and length. */
static void put_range(struct seed_buf *sb, unsigned op, uint32_t off, uint32_t len)
{
    put(sb, op, 1);
    put(sb, off, 4);
    put(sb, len, 3);
}

/* Block-relative offset: block `blk`, `delta` units from its start. */
static uint32_t at_block(uint16_t blk, int16_t delta)
{
    return ((uint32_t)blk << 16) | (uint16_t)delta;
}

static void put_resize(struct seed_buf *sb, bool force, uint16_t size)
{
    put(sb, OP_RESIZE | (force ? 0u : OPF_BYTES), 1);
    put(sb, size, 2);
}

static void put_crash(struct seed_buf *sb, uint8_t k, uint8_t t)
{
    put(sb, OP_CRASH, 1);
    put(sb, k, 1);
    put(sb, t, 1);
}

void fuzz_make_seeds(struct seed_out *out)
{
    struct seed_buf sb;

    /* Dynamic, 512, 1 MiB blocks, 8 MiB: writes across block ends, reopen. */
    seed_start(&sb, 0x00, 7, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -8), 15);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(3, 0), 255);
    put_range(&sb, OP_WRITE, 100, 0);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(3, 4), 3);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 0, 1);
    seed_emit(out, "dynamic-512-writes-reopen", sb.b, sb.n);

    /* Dynamic, 4096, 2 MiB blocks: writes, flush, more writes, crash. */
    seed_start(&sb, 0x0c, 15, 3);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 0), 31);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -2), 3);
    put(&sb, OP_FLUSH, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 4), 7);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(5, 0), 31);
    put_crash(&sb, 0, 0);
    put_range(&sb, OP_WRITE, 7, 2);
    seed_emit(out, "dynamic-4096-flush-crash", sb.b, sb.n);

    /* Fixed, 512, 4 MiB: write, zeroes, discard, reopen. */
    seed_start(&sb, 0x02, 3, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -16), 63);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(1, -4), 7);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(1, -12), 2047);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "fixed-512-zeroes-discard", sb.b, sb.n);

    /* Fixed, 4096, 2 MiB blocks, 6 MiB less a sector: writes, crash mid-write. */
    seed_start(&sb, 0x0e, 5, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -3), 5);
    put(&sb, OP_FLUSH, 1);
    put_crash(&sb, 1, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -1), 7);
    seed_emit(out, "fixed-4096-crash-mid-write", sb.b, sb.n);

    /* Dynamic: whole-block and partial discards, zeroes over blocks, reopen. */
    seed_start(&sb, 0x00, 5, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 0), 255);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, 0), 255);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -1), 1);
    put(&sb, OP_FLUSH, 1);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(0, 100), 4095);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(2, -8), 4095);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "dynamic-discard-zeroes", sb.b, sb.n);

    /* Resize: grow, write past the old end, shrink with FORCE, grow, reopen, crash. */
    seed_start(&sb, 0x00, 2, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -4), 7);
    put_resize(&sb, true, 127);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(5, -1), 3);
    put_resize(&sb, true, 40 | (3u << 10));
    put_resize(&sb, true, 159);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    put_resize(&sb, true, 31);
    put_crash(&sb, 0, 0);
    seed_emit(out, "dynamic-resize", sb.b, sb.n);

    /* Shrink without FORCE: refused with data past the end, allowed without. */
    seed_start(&sb, 0x04, 7, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(6, 0), 3);
    put_resize(&sb, false, 63);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(6, 0), 255);
    put_resize(&sb, false, 63);
    put(&sb, OP_FINISH, 1);
    seed_emit(out, "dynamic-4096-resize-noforce", sb.b, sb.n);

    /* Crash during a flush, torn. */
    seed_start(&sb, 0x08, 9, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 8), 100);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, 8), 100);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(2, 0), 4095);
    put_crash(&sb, 4, 1);
    put(&sb, OP_FLUSH, 1);
    seed_emit(out, "dynamic-crash-mid-flush-torn", sb.b, sb.n);

    /* vhdx_finish, then a new session, then a crash. */
    seed_start(&sb, 0x00, 3, 0);
    put_range(&sb, OP_WRITE, 1000, 63);
    put(&sb, OP_FINISH, 1);
    put_range(&sb, OP_WRITE, 1010, 63);
    put_range(&sb, OP_DISCARD, 0, 8191);
    put_crash(&sb, 0, 0);
    put(&sb, OP_FINISH, 1);
    seed_emit(out, "dynamic-finish-session-crash", sb.b, sb.n);

    /* Byte-granular writes and zeroes. */
    seed_start(&sb, 0x00, 2, 0);
    put_range(&sb, OP_WRITE | OPF_BYTES | OPF_BLOCK, at_block(1, -100), 1000);
    put_range(&sb, OP_WRITE | OPF_BYTES, 12345, 70000);
    put_range(&sb, OP_ZEROES | OPF_BYTES, 12400, 300);
    put_range(&sb, OP_DISCARD | OPF_BYTES, 7, 1500000);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "dynamic-unaligned", sb.b, sb.n);

    /* Differencing over a dynamic parent, 512: writes, discard, zeroes, crash. */
    seed_start(&sb, 0x03, 3, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 16), 7);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -70), 7);
    put(&sb, OP_FLUSH, 1);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(1, 0), 2047);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(0, 0), 3);
    put_resize(&sb, true, 100);
    put_crash(&sb, 0, 0);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "diff-512-dynamic-parent", sb.b, sb.n);

    /* Differencing, 4096, over a fixed parent with the other block size. */
    seed_start(&sb, 0x03 | 0x04 | 0x20 | 0x40, 4, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 1), 1);
    put_range(&sb, OP_WRITE | OPF_BYTES, 1000000, 100000);
    put_crash(&sb, 2, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -1), 3);
    put(&sb, OP_FINISH, 1);
    seed_emit(out, "diff-4096-fixed-parent", sb.b, sb.n);

    /* Physical sector 512, non-block-multiple size, discard to the end. */
    seed_start(&sb, 0x10, 4, 9);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(4, 0), 255);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(4, 0), 0xffff);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 0, 1);
    seed_emit(out, "dynamic-512e-tail-discard", sb.b, sb.n);

    /* Crash during a reopen (the finish) and during a resize. */
    seed_start(&sb, 0x04, 3, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, 0), 31);
    put_crash(&sb, 2, 0);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, 0), 31);
    put_crash(&sb, 3, 0);
    put_resize(&sb, true, 200);
    seed_emit(out, "dynamic-crash-in-finish-resize", sb.b, sb.n);

    /* Growing past what the BAT region holds moves the BAT; shrinking back; crashes. */
    seed_start(&sb, 0x00, 3, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -2), 7);
    put(&sb, OP_RESIZE | OPF_BLOCK, 1);
    put(&sb, 5, 2);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, 0), 7);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    put_crash(&sb, 6, 0);
    put_resize(&sb, true, 63);
    put_crash(&sb, 5, 0);
    put(&sb, OP_RESIZE | OPF_BLOCK, 1);
    put(&sb, 9, 2);
    put_resize(&sb, false, 31);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "dynamic-huge-resize-moves-bat", sb.b, sb.n);

    /* Log entries enough to wrap the log, then crashes in the middle of more. */
    seed_start(&sb, 0x00, 7, 0);
    put(&sb, OP_FLUSH | OPF_BLOCK, 1);
    put(&sb, 80, 1);
    put_crash(&sb, 0, 0);
    put(&sb, OP_FLUSH | OPF_BLOCK, 1);
    put(&sb, 70, 1);
    put_crash(&sb, 200, 0);
    put(&sb, OP_FLUSH | OPF_BLOCK, 1);
    put(&sb, 95, 1);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "dynamic-log-wraps", sb.b, sb.n);

    seed_start(&sb, 0x03 | 0x04, 3, 0);
    put(&sb, OP_FLUSH | OPF_BLOCK, 1);
    put(&sb, 95, 1);
    put_crash(&sb, 100, 1);
    put(&sb, OP_FLUSH | OPF_BLOCK, 1);
    put(&sb, 60, 1);
    seed_emit(out, "diff-4096-log-wraps-torn", sb.b, sb.n);

    /* Many operations of every kind. */
    seed_start(&sb, 0x08, 11, 0);
    for (unsigned i = 0; i < 60; i++) {
        switch (i % 10) {
        case 0:
        case 1:
        case 2:
            put_range(&sb, OP_WRITE | OPF_BLOCK, at_block((uint16_t)(i % 6), (int16_t)(i * 37 % 64 - 32)),
                      i * 13);
            break;
        case 3:
            put_range(&sb, OP_ZEROES, i * 1000, i * 100);
            break;
        case 4:
            put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block((uint16_t)(i % 5), 0), 4096);
            break;
        case 5:
            put(&sb, OP_FLUSH, 1);
            break;
        case 6:
            put_range(&sb, OP_WRITE | OPF_BYTES, i * 77777, i * 999);
            break;
        case 7:
            put_resize(&sb, true, (uint16_t)(150 + i));
            break;
        case 8:
            put_crash(&sb, (uint8_t)(i % 4), 0);
            break;
        default:
            put(&sb, OP_REOPEN, 1);
            put(&sb, (uint8_t)i, 1);
            break;
        }
    }
    seed_emit(out, "dynamic-many-ops", sb.b, sb.n);

    /*
     * Unsealed builds (byte 0 bit 7). Dynamic, 8 MiB: writes across block
     * ends, a flush (still unsealed), discards of whole blocks, zeroes, the
     * seal by a finish, then a logged session and a reopen.
     */
    seed_start(&sb, 0x80, 7, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 0), 255);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -8), 15);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(3, 0), 255);
    put(&sb, OP_FLUSH, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(5, 100), 63);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(3, 0), 2047);
    put_range(&sb, OP_DISCARD | OPF_BLOCK, at_block(0, 100), 4095);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(5, 96), 15);
    put(&sb, OP_FINISH, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(3, 4), 7);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "unsealed-dynamic-discard-finish", sb.b, sb.n);

    /* Unsealed fixed, 4 MiB: grow, write past the old end, shrink, grow, reopen (the seal). */
    seed_start(&sb, 0x82, 3, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, -16), 63);
    put_resize(&sb, true, 127);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(6, -2), 7);
    put_resize(&sb, true, 40 | (3u << 10));
    put_resize(&sb, true, 95);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(4, 0), 31);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 0, 1);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -1), 3);
    put(&sb, OP_REOPEN, 1);
    put(&sb, 1, 1);
    seed_emit(out, "unsealed-fixed-resize-reopen", sb.b, sb.n);

    /*
     * Unsealed dynamic, 2 MiB blocks: writes and zeroes, then a crash armed
     * over the sealing finish. Its batch is one write (the BAT page), so
     * with k = 2 the stop meets the signature: the file must be refused.
     */
    seed_start(&sb, 0x88, 9, 0);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(0, 0), 255);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(2, -2), 7);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(3, 64), 31);
    put_range(&sb, OP_ZEROES | OPF_BLOCK, at_block(4, 0), 4095);
    put_range(&sb, OP_WRITE | OPF_BLOCK, at_block(1, 8), 3);
    put_crash(&sb, 2, 0);
    put(&sb, OP_FINISH, 1);
    seed_emit(out, "unsealed-dynamic-crash-in-seal", sb.b, sb.n);
}
#endif
