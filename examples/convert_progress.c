/*
 * convert_progress: a new VHDX image from a raw file or another VHDX, with
 * a progress bar, through vhdx.h alone.
 *
 *   convert_progress [-f] SRC DST      (-f: a fixed image; default dynamic)
 *
 * SRC is opened as a VHDX when it starts with the "vhdxfile" signature
 * (read through its chain, a dirty log replayed in memory), else read as
 * raw bytes (holes skipped with SEEK_DATA). vhdx_convert_path builds DST
 * unsealed, so an interrupted or failed run leaves nothing a reader would
 * take for a complete image, and removes DST on failure itself.
 *
 * Progress goes to standard error: a bar redrawn in place on a terminal,
 * else one line per tenth ("progress: 10%" ... "progress: 100%"). SIGINT
 * (Ctrl-C) cancels through the progress callback: the library stops,
 * removes DST and the example says "cancelled".
 * Exit: 0 converted; 1 SRC is a VHDX that does not open (its findings are
 * printed); 2 usage, I/O or system errors; 130 cancelled.
 */
#define _FILE_OFFSET_BITS 64

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhdx.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct bar {
    int tty;
    int shown; /* percent last shown, -1 before the first */
};

/* vhdx_progress_fn: draws the bar, and cancels once SIGINT came. */
static int draw(void *ctx, uint64_t done, uint64_t total)
{
    struct bar *b = ctx;
    int pct = total == 0 ? 100 : (int)(done * 100 / total);
    if (b->tty && pct != b->shown) {
        char line[51];
        memset(line, '#', (size_t)(pct / 2));
        memset(line + pct / 2, '.', (size_t)(50 - pct / 2));
        line[50] = '\0';
        fprintf(stderr, "\r[%s] %3d%%", line, pct);
    } else if (!b->tty) {
        for (int t = b->shown < 0 ? 10 : (b->shown / 10 + 1) * 10; t <= pct; t += 10)
            fprintf(stderr, "progress: %d%%\n", t);
    }
    if (!b->tty && pct / 10 * 10 > b->shown)
        b->shown = pct / 10 * 10;
    else if (b->tty)
        b->shown = pct;
    return interrupted;
}

static void print_finding(void *ctx, const vhdx_diag *d)
{
    (void)ctx;
    if (d->severity == VHDX_SEVERITY_ERROR)
        fprintf(stderr, "error %s: %s\n", d->rule, d->message);
}

int main(int argc, char **argv)
{
    vhdx_convert_options co;
    vhdx_convert_result res;
    vhdx_open_options oo;
    vhdx_source src;
    vhdx_image *img = NULL;
    struct bar bar = {isatty(STDERR_FILENO), -1};
    const char *in, *out;
    char sig[8] = {0};
    vhdx_status st;
    int fixed = 0, fd, rc = 0;

    if (argc == 4 && strcmp(argv[1], "-f") == 0)
        fixed = 1;
    if (argc != 3 + fixed) {
        fprintf(stderr, "usage: convert_progress [-f] SRC DST\n");
        return 2;
    }
    in = argv[1 + fixed];
    out = argv[2 + fixed];
    fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(in);
        return 2;
    }
    memset(&src, 0, sizeof(src));
    memset(&oo, 0, sizeof(oo));
    oo.on_diag = print_finding;
    if (pread(fd, sig, sizeof(sig), 0) == (ssize_t)sizeof(sig) &&
        memcmp(sig, "vhdxfile", sizeof(sig)) == 0) {
        st = vhdx_open_path(in, &oo, &img);
        if (st != VHDX_OK) {
            fprintf(stderr, "%s: does not open: %s\n", in, vhdx_strerror(st));
            close(fd);
            return 1;
        }
        src.kind = VHDX_SOURCE_IMAGE;
        src.image = img;
    } else {
        src.kind = VHDX_SOURCE_FD;
        src.fd = fd;
    }
    memset(&co, 0, sizeof(co));
    co.create.type = fixed ? VHDX_DISK_FIXED : VHDX_DISK_DYNAMIC;
    co.progress = draw;
    co.progress_ctx = &bar;
    (void)signal(SIGINT, on_sigint);
    st = vhdx_convert_path(&src, out, &co, NULL, &oo, &res);
    if (bar.tty)
        fputc('\n', stderr);
    if (st == VHDX_OK) {
        printf("converted %s to %s: %" PRIu64 " bytes of data\n", in, out, res.data_bytes);
    } else if (st == VHDX_E_CANCELLED) {
        fprintf(stderr, "cancelled: %s removed\n", out);
        rc = 130;
    } else {
        fprintf(stderr, "%s: %s", res.failed_side == VHDX_SIDE_SOURCE ? in : out,
                vhdx_strerror(st));
        if (res.failed_offset != VHDX_OFFSET_NONE)
            fprintf(stderr, " at disk offset 0x%" PRIx64, res.failed_offset);
        fputc('\n', stderr);
        rc = 2;
    }
    vhdx_close(img);
    close(fd);
    return rc;
}
