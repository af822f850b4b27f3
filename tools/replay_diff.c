/*
 * `vhdx replay-diff`: see replay_diff.h. This tool uses internal modules
 * (the overlay back end and the reference replayer) besides vhdx.h.
 */
#include "replay_diff.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/endian.h"
#include "cli_common.h"
#include "format/constants.h"
#include "format/region_table.h"
#include "io/overlay.h"
#include "refreplay/outcome.h"
#include "refreplay/ref_replay.h"
#include "vhdx.h"

#define CHUNK (1u << 20)

/* A replayed copy: an overlay over the read-only file. */
struct copy {
    struct alloc_acct acct;
    vhdx_io io;
    bool open;
};

static int copy_open(struct copy *c, const vhdx_io *base)
{
    alloc_acct_init(&c->acct, NULL, 0);
    c->open = io_overlay_create(base, &c->acct, 0, &c->io) == VHDX_OK;
    return c->open ? 0 : -1;
}

static void copy_close(struct copy *c)
{
    if (c->open)
        vhdx_io_close(&c->io);
    c->open = false;
}

static int read_at(const vhdx_io *io, uint8_t *buf, size_t len, uint64_t off, size_t *got)
{
    *got = 0;
    return io->read(io->ctx, buf, len, off, got) == VHDX_OK ? 0 : -1;
}

static uint64_t io_size(const vhdx_io *io)
{
    uint64_t s = 0;
    if (io->size(io->ctx, &s) != VHDX_OK)
        return 0;
    return s;
}

/* ---- Comparisons ---- */

struct side {
    const char *name;
    const vhdx_io *io;
};

static void report(FILE *out, const struct side *a, const struct side *b, const char *what,
                   uint64_t off)
{
    fprintf(out, "  DIFFERENCE: %s at file offset 0x%" PRIx64 ": %s and %s differ\n", what, off,
            a->name, b->name);
}

/*
 * Compares [from, to) of both files byte for byte; 1 and a report at the
 * first difference. In headers mode, the FileWriteGuid (bytes 16..31) and
 * the checksum (bytes 4..7) of each 4 KiB header are not compared: they
 * differ between any two replays.
 */
static int compare_range(FILE *out, const struct side *a, const struct side *b, const char *what,
                         uint64_t from, uint64_t to, bool headers)
{
    static uint8_t ba[CHUNK], bb[CHUNK];
    for (uint64_t off = from; off < to; off += CHUNK) {
        size_t n = (size_t)(to - off < CHUNK ? to - off : CHUNK), ga, gb;
        if (read_at(a->io, ba, n, off, &ga) != 0 || read_at(b->io, bb, n, off, &gb) != 0) {
            fprintf(out, "  cannot read %s at 0x%" PRIx64 "\n", what, off);
            return 2;
        }
        if (ga < n)
            memset(ba + ga, 0, n - ga);
        if (gb < n)
            memset(bb + gb, 0, n - gb);
        if (headers) {
            for (uint64_t h = VHDX_HEADER1_OFFSET; h <= VHDX_HEADER2_OFFSET; h += 64 * VHDX_KiB) {
                if (h >= off && h + 32 <= off + n) {
                    memset(ba + (h - off) + 4, 0, 4);
                    memset(bb + (h - off) + 4, 0, 4);
                    memset(ba + (h - off) + 16, 0, 16);
                    memset(bb + (h - off) + 16, 0, 16);
                }
            }
        }
        if (memcmp(ba, bb, n) != 0) {
            size_t i = 0;
            while (ba[i] == bb[i])
                i++;
            report(out, a, b, what, off + i);
            return 1;
        }
    }
    return 0;
}

/* The current header's log fields and sequence number, from the raw bytes. */
static int compare_header_log_fields(FILE *out, const struct side *a, const struct side *b,
                                     bool both_slots)
{
    uint8_t ha[2][80], hb[2][80];
    size_t g;
    for (int i = 0; i < 2; i++) {
        uint64_t off = i == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
        if (read_at(a->io, ha[i], sizeof(ha[i]), off, &g) != 0 || g != sizeof(ha[i]) ||
            read_at(b->io, hb[i], sizeof(hb[i]), off, &g) != 0 || g != sizeof(hb[i]))
            return 2;
    }
    if (!both_slots) {
        /*
         * Another writer's header updates differ in number and GUIDs: only
         * the current header's log fields must agree (LogGuid 48..63,
         * LogVersion 64, Version 66, LogLength 68, LogOffset 72).
         */
        int ca = le64_load_no_bounds_check(ha[0] + 8) > le64_load_no_bounds_check(ha[1] + 8) ? 0 : 1;
        int cb = le64_load_no_bounds_check(hb[0] + 8) > le64_load_no_bounds_check(hb[1] + 8) ? 0 : 1;
        if (memcmp(ha[ca] + 48, hb[cb] + 48, 32) != 0) {
            report(out, a, b, "current header log fields (LogGuid, LogVersion, LogLength, LogOffset)",
                   (cb == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET) + 48);
            return 1;
        }
        return 0;
    }
    for (int i = 0; i < 2; i++) {
        uint64_t off = i == 0 ? VHDX_HEADER1_OFFSET : VHDX_HEADER2_OFFSET;
        /* SequenceNumber 8..15; LogGuid 48..63, LogVersion 64, Version 66, LogLength 68, LogOffset 72 */
        if (memcmp(ha[i] + 8, hb[i] + 8, 8) != 0) {
            report(out, a, b, "header sequence number", off + 8);
            return 1;
        }
        if (memcmp(ha[i] + 48, hb[i] + 48, 32) != 0) {
            report(out, a, b, "header log fields (LogGuid, LogVersion, LogLength, LogOffset)",
                   off + 48);
            return 1;
        }
    }
    return 0;
}

/* The BAT and metadata regions named by a's region table 1 (0 when unreadable). */
static void find_regions(const vhdx_io *io, struct region_entry *bat, struct region_entry *meta)
{
    static uint8_t buf[REGION_TABLE_SIZE];
    struct region_table rt;
    size_t got;
    memset(bat, 0, sizeof(*bat));
    memset(meta, 0, sizeof(*meta));
    if (read_at(io, buf, sizeof(buf), VHDX_REGION_TABLE1_OFFSET, &got) != 0 ||
        got != sizeof(buf) || region_table_decode(buf, sizeof(buf), &rt, NULL) != VHDX_OK)
        return;
    for (uint32_t i = 0; i < rt.entry_count; i++) {
        if (guid_equal(&rt.entries[i].guid, &VHDX_GUID_REGION_BAT))
            *bat = rt.entries[i];
        else if (guid_equal(&rt.entries[i].guid, &VHDX_GUID_REGION_METADATA))
            *meta = rt.entries[i];
    }
}

static vhdx_status borrowed_open(const vhdx_io *io, vhdx_image **img)
{
    vhdx_open_options o;
    vhdx_io b = *io;
    b.close = NULL;
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_NO_PARENT;
    return vhdx_open(&b, &o, img);
}

/* The virtual disks: the same extents, and the same bytes where this file holds them. */
static int compare_disks(FILE *out, const struct side *a, const struct side *b)
{
    static uint8_t ba[CHUNK], bb[CHUNK];
    vhdx_image *ia = NULL, *ib = NULL;
    vhdx_status sa = borrowed_open(a->io, &ia), sb = borrowed_open(b->io, &ib);
    vhdx_info info;
    int rc = 0;

    if (sa != VHDX_OK || sb != VHDX_OK) {
        if ((sa == VHDX_OK) != (sb == VHDX_OK)) {
            fprintf(out, "  DIFFERENCE: the replayed image opens with %s (%s) but not with %s (%s)\n",
                    sa == VHDX_OK ? a->name : b->name, "ok", sa == VHDX_OK ? b->name : a->name,
                    vhdx_strerror(sa == VHDX_OK ? sb : sa));
            rc = 1;
        } else {
            fprintf(out, "  note: the replayed image does not open with either (%s); its disk "
                         "content is not compared\n",
                    vhdx_strerror(sa));
        }
        goto out;
    }
    if (vhdx_get_info(ia, &info) != VHDX_OK) {
        rc = 2;
        goto out;
    }
    for (uint64_t off = 0; off < info.virtual_size;) {
        vhdx_extent ea, eb;
        if (vhdx_map_next(ia, off, &ea) != VHDX_OK || vhdx_map_next(ib, off, &eb) != VHDX_OK) {
            fprintf(out, "  note: the map stops at virtual offset 0x%" PRIx64 "\n", off);
            break;
        }
        if (ea.kind != eb.kind || ea.length != eb.length || ea.bat_state != eb.bat_state) {
            fprintf(out,
                    "  DIFFERENCE: virtual disk at offset 0x%" PRIx64 ": %s and %s map it "
                    "differently\n",
                    off, a->name, b->name);
            rc = 1;
            goto out;
        }
        if (ea.kind == VHDX_EXTENT_DATA) {
            for (uint64_t p = 0; p < ea.length; p += CHUNK) {
                size_t n = (size_t)(ea.length - p < CHUNK ? ea.length - p : CHUNK);
                if (vhdx_read(ia, off + p, ba, n) != VHDX_OK ||
                    vhdx_read(ib, off + p, bb, n) != VHDX_OK) {
                    rc = 2;
                    goto out;
                }
                if (memcmp(ba, bb, n) != 0) {
                    size_t i = 0;
                    while (ba[i] == bb[i])
                        i++;
                    fprintf(out,
                            "  DIFFERENCE: virtual disk content at offset 0x%" PRIx64 ": %s and "
                            "%s differ\n",
                            off + p + i, a->name, b->name);
                    rc = 1;
                    goto out;
                }
            }
        }
        off += ea.length;
    }
out:
    vhdx_close(ia);
    vhdx_close(ib);
    return rc;
}

/*
 * Everything the issue names: the disk, the headers' log fields, the region
 * tables, the metadata and the BAT; then, for the two in-process engines,
 * every other byte of the file.
 */
static int compare_results(FILE *out, const struct side *a, const struct side *b, bool whole_file)
{
    struct region_entry bat, meta;
    int rc = compare_header_log_fields(out, a, b, whole_file);
    if (rc == 0)
        rc = compare_range(out, a, b, "region table 1", VHDX_REGION_TABLE1_OFFSET,
                           VHDX_REGION_TABLE1_OFFSET + REGION_TABLE_SIZE, false);
    if (rc == 0)
        rc = compare_range(out, a, b, "region table 2", VHDX_REGION_TABLE2_OFFSET,
                           VHDX_REGION_TABLE2_OFFSET + REGION_TABLE_SIZE, false);
    find_regions(a->io, &bat, &meta);
    if (rc == 0 && meta.length != 0)
        rc = compare_range(out, a, b, "metadata region", meta.file_offset,
                           meta.file_offset + meta.length, false);
    if (rc == 0 && bat.length != 0)
        rc = compare_range(out, a, b, "BAT region", bat.file_offset, bat.file_offset + bat.length,
                           false);
    if (rc == 0)
        rc = compare_disks(out, a, b);
    if (rc == 0 && whole_file) {
        uint64_t la = io_size(a->io), lb = io_size(b->io);
        if (la != lb) {
            fprintf(out, "  DIFFERENCE: file size: %s 0x%" PRIx64 ", %s 0x%" PRIx64 "\n", a->name,
                    la, b->name, lb);
            return 1;
        }
        rc = compare_range(out, a, b, "file", 0, la, true);
    }
    return rc;
}

/* ---- qemu-img ---- */

static bool find_in_path(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    const char *p = path != NULL ? path : "/usr/bin:/bin";
    while (*p != '\0') {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > 0 && (size_t)snprintf(out, cap, "%.*s/%s", (int)n, p, name) < cap &&
            access(out, X_OK) == 0)
            return true;
        p += n + (end != NULL ? 1 : 0);
    }
    return false;
}

static int copy_file(int src, const char *dst)
{
    static uint8_t buf[CHUNK];
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    uint64_t off = 0;
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t n = pread(src, buf, sizeof(buf), (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return n == 0 ? 0 : -1;
        }
        if (write(fd, buf, (size_t)n) != n) {
            close(fd);
            return -1;
        }
        off += (uint64_t)n;
    }
}

#define QEMU_TIMED_OUT 1000

/* Runs qemu-img check -r all -f vhdx FILE; its exit status, QEMU_TIMED_OUT, or -1. */
static int run_qemu(const char *qemu, const char *file, unsigned timeout, char *msg, size_t cap)
{
    int pipefd[2], status = 0;
    pid_t pid;
    size_t used = 0;
    time_t deadline;
    bool timed_out = false;
    if (pipe(pipefd) != 0)
        return -1;
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        execl(qemu, qemu, "check", "-r", "all", "-f", "vhdx", file, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    deadline = time(NULL) + (time_t)timeout;
    for (;;) {
        char tmp[512];
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        time_t now = time(NULL);
        ssize_t n;
        int pr;
        if (now >= deadline) {
            /* qemu-img loops on some logs: stop it. */
            kill(pid, SIGKILL);
            timed_out = true;
            break;
        }
        pr = poll(&pfd, 1, (int)(deadline - now) * 1000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;
        n = read(pipefd[0], tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && used + 1 < cap; i++)
            msg[used++] = (char)(tmp[i] == '\n' ? ' ' : tmp[i]);
    }
    msg[used] = '\0';
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return QEMU_TIMED_OUT;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- The command ---- */

static int qemu_side(const char *prog, int fd, const struct side *prod, enum replay_outcome po,
                     unsigned timeout, FILE *out)
{
    char qemu[4096], dir[] = "/tmp/vhdx-replay-diff-XXXXXX", file[4096 + 32], msg[2048];
    vhdx_image *img = NULL;
    vhdx_info info;
    int rc = 0, qs;
    const char *tmp = getenv("TMPDIR");
    char dirbuf[4096];

    if (!find_in_path("qemu-img", qemu, sizeof(qemu))) {
        fprintf(out, "  qemu-img: not installed, skipped\n");
        return 0;
    }
    /* qemu cannot open 4096-byte sectors or differencing images (VHDX-FORMAT.md §11). */
    if (po == REPLAY_REPLAYED && borrowed_open(prod->io, &img) == VHDX_OK &&
        vhdx_get_info(img, &info) == VHDX_OK &&
        (info.logical_sector_size != 512 || info.type == VHDX_DISK_DIFFERENCING)) {
        fprintf(out, "  qemu-img: skipped (it cannot open %s)\n",
                info.type == VHDX_DISK_DIFFERENCING ? "differencing images"
                                                    : "4096-byte logical sectors");
        vhdx_close(img);
        return 0;
    }
    vhdx_close(img);
    if (tmp != NULL && tmp[0] != '\0' &&
        (size_t)snprintf(dirbuf, sizeof(dirbuf), "%s/vhdx-replay-diff-XXXXXX", tmp) <
            sizeof(dirbuf)) {
        if (mkdtemp(dirbuf) == NULL)
            return 2;
        (void)snprintf(file, sizeof(file), "%s/copy.vhdx", dirbuf); /* fits: 32 bytes spare */
    } else {
        if (mkdtemp(dir) == NULL)
            return 2;
        (void)snprintf(dirbuf, sizeof(dirbuf), "%s", dir); /* fits: dir is 29 bytes */
        (void)snprintf(file, sizeof(file), "%s/copy.vhdx", dir);
    }
    if (copy_file(fd, file) != 0) {
        fprintf(stderr, "%s replay-diff: cannot copy the image for qemu-img\n", prog);
        rc = 2;
        goto out;
    }
    qs = run_qemu(qemu, file, timeout, msg, sizeof(msg));
    if (qs == QEMU_TIMED_OUT) {
        fprintf(out, "  qemu-img: check -r all did not finish within %u s and was stopped\n",
                timeout);
        if (po == REPLAY_REPLAYED) {
            fprintf(out, "  DIFFERENCE: production and reference replay the log; qemu-img does "
                         "not finish\n");
            rc = 1;
        }
        goto out;
    }
    if (qs < 0 || qs == 127) {
        fprintf(out, "  qemu-img: could not run\n");
        rc = 2;
        goto out;
    }
    /* 0: consistent after repair; 3: leaks only. 1 and 2: it could not finish, or errors. */
    if (qs != 0 && qs != 3) {
        fprintf(out, "  qemu-img: check -r all failed (exit %d): %.300s\n", qs, msg);
        if (po == REPLAY_REPLAYED) {
            fprintf(out, "  DIFFERENCE: production and reference replay the log; qemu-img does "
                         "not\n");
            rc = 1;
        }
        goto out;
    }
    fprintf(out, "  qemu-img: check -r all succeeded (exit %d)\n", qs);
    if (po != REPLAY_REPLAYED) {
        fprintf(out, "  DIFFERENCE: qemu-img opens the image after its repair; production and "
                     "reference reject the log (%s)\n",
                replay_outcome_name(po));
        rc = 1;
        goto out;
    }
    {
        vhdx_io qio;
        int qfd = open(file, O_RDONLY | O_CLOEXEC);
        struct side q = {"qemu-img", &qio};
        if (qfd < 0 || vhdx_io_from_fd(qfd, 0, 1, &qio) != VHDX_OK) {
            if (qfd >= 0)
                close(qfd);
            rc = 2;
            goto out;
        }
        rc = compare_results(out, prod, &q, false);
        vhdx_io_close(&qio);
    }
out:
    unlink(file);
    rmdir(dirbuf);
    return rc;
}

int replay_diff_run(const char *prog, const char *path, bool use_qemu, unsigned timeout,
                    FILE *out)
{
    struct copy a, b;
    struct replay_first_error fe;
    vhdx_open_options o;
    vhdx_replay_result pr;
    struct ref_result rr;
    enum ref_status rs;
    enum replay_outcome po, ro;
    vhdx_status ps;
    vhdx_io base;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s replay-diff: ", prog);
        cli_text_safe(stderr, path);
        fprintf(stderr, ": cannot open: %s\n", strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (vhdx_io_from_fd(fd, 0, 0, &base) != VHDX_OK) {
        close(fd);
        return CLI_EXIT_USAGE;
    }
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (copy_open(&a, &base) != 0 || copy_open(&b, &base) != 0) {
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    fprintf(out, "replay-diff: ");
    cli_text_safe(out, path);
    fputc('\n', out);

    memset(&fe, 0, sizeof(fe));
    memset(&o, 0, sizeof(o));
    o.on_diag = replay_note_first_error;
    o.diag_ctx = &fe;
    ps = vhdx_replay(&a.io, &o, 0, NULL, NULL, &pr);
    if (pr.current_header == 0) {
        fprintf(out, "  cannot run: the headers cannot be read (%s%s%s)\n", vhdx_strerror(ps),
                fe.rule[0] != '\0' ? ", " : "", fe.rule);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (!pr.dirty) {
        fprintf(out, "  the log is clean (LogGuid is zero): nothing to replay\n"
                     "  result: all engines agree\n");
        goto out;
    }
    po = replay_outcome_production(ps, fe.rule);
    fprintf(out, "  production: %s", replay_outcome_name(po));
    if (po == REPLAY_REPLAYED)
        fprintf(out, ", %" PRIu32 " entries (sequence %" PRIu64 " to %" PRIu64 ")\n", pr.entries,
                pr.tail_sequence, pr.head_sequence);
    else
        fprintf(out, " (%s%s%s)\n", vhdx_strerror(ps), fe.rule[0] != '\0' ? ", " : "", fe.rule);

    rs = ref_replay(&b.io, pr.log_guid, pr.log_offset, pr.log_length, pr.current_header, 0, &rr);
    ro = replay_outcome_reference(rs);
    fprintf(out, "  reference:  %s", replay_outcome_name(ro));
    if (ro == REPLAY_REPLAYED)
        fprintf(out, ", %" PRIu32 " entries (head sequence %" PRIu64 ")\n", rr.entries,
                rr.head_sequence);
    else
        fprintf(out, " (%s)\n", ref_status_name(rs));

    if (po == REPLAY_OTHER || ro == REPLAY_OTHER) {
        fprintf(out, "  cannot compare: an engine could not run\n");
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (po != ro) {
        fprintf(out, "  DIFFERENCE: production %s, reference %s\n", replay_outcome_name(po),
                replay_outcome_name(ro));
        rc = 1;
    } else if (po == REPLAY_REPLAYED) {
        struct side sa = {"production", &a.io}, sb = {"reference", &b.io};
        if (pr.entries != rr.entries || pr.head_sequence != rr.head_sequence) {
            fprintf(out, "  DIFFERENCE: the active sequences differ\n");
            rc = 1;
        } else {
            rc = compare_results(out, &sa, &sb, true);
        }
    }
    if (rc == 0 && use_qemu) {
        struct side sa = {"production", &a.io};
        rc = qemu_side(prog, fd, &sa, po, timeout, out);
    }
    if (rc == 0)
        fprintf(out, "  result: all engines agree\n");
    else if (rc == 1)
        fprintf(out, "  result: the engines disagree\n");
out:
    copy_close(&a);
    copy_close(&b);
    vhdx_io_close(&base);
    close(fd);
    return rc;
}
