/*
 * Log replay benchmark (bench/README.md, "Log replay"):
 *
 *   replay_bench [--write DIR]
 *
 * 1. A dynamic image with a full 64 MiB log: entries of 126 data
 *    descriptors each (one descriptor sector + 126 data sectors), laid end
 *    to end until the log is full save one 4 KiB sector, targeting distinct
 *    pages of a 64 MiB payload area. Timed, best of 5:
 *      - search: log_plan_load (read the log from memory, find and check
 *        the active sequence, every CRC included);
 *      - apply into an in-memory overlay (what a read-only open does);
 *      - the whole read-only open (vhdx_open: replay + region tables +
 *        metadata + BAT);
 *    reported in MB/s of log bytes (1 MB = 10^6 bytes).
 * 2. The search over 64 MiB of garbage, and over 16/32/64 MiB of a
 *    hostile log in which every sector begins with `loge` and the image's
 *    LogGuid, claims the longest entry and passes the header checks: the
 *    times must grow linearly.
 * With --write DIR, writes DIR/full-log.vhdx (the image of 1) and
 * DIR/half-log.vhdx (the same entries filling half of the log) for the
 * in-place comparison with qemu-img (bench/run_replay_bench.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/endian.h"
#include "dirty_images.h"
#include "format/log_entry.h"
#include "image/log.h"
#include "image_builder.h"
#include "io/overlay.h"
#include "vhdx.h"

#define MiB (1024u * 1024u)
#define REPS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "replay_bench: %s\n", what);
    exit(1);
}

static const struct guid LOG_GUID = {{0x42, 0x45, 0x4e, 0x43, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};

/* The full-log image; *log_bytes receives the bytes the entries occupy. */
static void build_full(struct ib_image *img, uint32_t log_len, uint32_t fill_len,
                       uint64_t *log_bytes, uint32_t *entries)
{
    struct ib_params p;
    uint64_t area, seq = 1;
    uint32_t used = 0, n = 0, tail = 0;
    static uint8_t pages[126][4096];
    const uint8_t *payloads[126];
    struct log_descriptor desc[126];
    size_t entry_len = log_entry_length_for(126, 126);

    memset(&p, 0, sizeof(p));
    p.type = IB_DYNAMIC;
    p.virtual_size = 1024ull * MiB;
    p.block_size = MiB;
    p.log_length = log_len;
    if (ib_build(&p, img) != 0 || ib_alloc_space(img, log_len, &area) != 0 ||
        ib_set_log_guid(img, &LOG_GUID) != 0)
        die("cannot build the image");
    for (int i = 0; i < 126; i++) {
        for (int k = 0; k < 4096; k++)
            pages[i][k] = (uint8_t)(i * 7 + k);
        payloads[i] = pages[i];
    }
    while (used + entry_len + 4096 <= fill_len) {
        struct log_entry_header h;
        memset(&h, 0, sizeof(h));
        for (int i = 0; i < 126; i++) {
            memset(&desc[i], 0, sizeof(desc[i]));
            desc[i].kind = LOG_DESCRIPTOR_DATA;
            desc[i].file_offset = area + ((uint64_t)n * 126 + (uint64_t)i) * 4096;
            desc[i].sequence_number = seq;
        }
        h.sequence_number = seq;
        h.tail = tail;
        h.log_guid = LOG_GUID;
        h.flushed_file_offset = h.last_file_offset = img->len;
        if (log_entry_encode(&h, desc, 126, payloads, img->data + img->log_offset, log_len,
                             used) != VHDX_OK)
            die("cannot encode an entry");
        used += (uint32_t)entry_len;
        seq++;
        n++;
    }
    *log_bytes = used;
    *entries = n;
}

static double best_search(const struct ib_image *img, uint32_t *count, vhdx_status want)
{
    double best = 1e9;
    for (int r = 0; r < REPS; r++) {
        struct alloc_acct acct;
        struct log_plan plan;
        vhdx_io io;
        double t0;
        vhdx_status st;
        alloc_acct_init(&acct, NULL, 0);
        if (vhdx_io_from_memory(img->data, img->len, &io) != VHDX_OK)
            die("io");
        t0 = now();
        st = log_plan_load(&io, &img->header, img->len, 0xFFF00000u, &acct, NULL, &plan);
        t0 = now() - t0;
        if (st != want)
            die("unexpected search result");
        if (count != NULL)
            *count = plan.count;
        if (st == VHDX_OK)
            log_plan_free(&plan);
        vhdx_io_close(&io);
        if (t0 < best)
            best = t0;
    }
    return best;
}

static double best_apply(const struct ib_image *img)
{
    double best = 1e9;
    for (int r = 0; r < REPS; r++) {
        struct alloc_acct acct;
        struct log_plan plan;
        vhdx_io io, ov;
        double t0;
        alloc_acct_init(&acct, NULL, 0);
        if (vhdx_io_from_memory(img->data, img->len, &io) != VHDX_OK ||
            log_plan_load(&io, &img->header, img->len, 0xFFF00000u, &acct, NULL, &plan) !=
                VHDX_OK ||
            io_overlay_create(&io, &acct, 0, &ov) != VHDX_OK)
            die("apply setup");
        t0 = now();
        if (log_plan_apply(&plan, &io, &ov, NULL) != VHDX_OK)
            die("apply");
        t0 = now() - t0;
        vhdx_io_close(&ov);
        log_plan_free(&plan);
        vhdx_io_close(&io);
        if (t0 < best)
            best = t0;
    }
    return best;
}

static double best_open(const struct ib_image *img)
{
    double best = 1e9;
    vhdx_limits lim = vhdx_limits_default();
    vhdx_open_options o;
    memset(&o, 0, sizeof(o));
    lim.max_memory = 512ull * MiB;
    o.limits = &lim;
    for (int r = 0; r < REPS; r++) {
        vhdx_image *h = NULL;
        vhdx_io io;
        double t0;
        if (vhdx_io_from_memory(img->data, img->len, &io) != VHDX_OK)
            die("io");
        t0 = now();
        if (vhdx_open(&io, &o, &h) != VHDX_OK)
            die("open");
        t0 = now() - t0;
        vhdx_close(h);
        if (t0 < best)
            best = t0;
    }
    return best;
}

/* Every sector begins with `loge`, the LogGuid and a header that passes its checks. */
static void fill_hostile(struct ib_image *img, uint32_t log_len)
{
    uint8_t *log = img->data + img->log_offset;
    for (uint32_t off = 0; off < log_len; off += 4096) {
        uint8_t *s = log + off;
        memset(s, 0, 4096);
        memcpy(s, "loge", 4);
        le32_store_no_bounds_check(s + 8, log_len - 4096);  /* EntryLength */
        le32_store_no_bounds_check(s + 12, off);             /* Tail */
        le64_store_no_bounds_check(s + 16, off / 4096 + 1);  /* SequenceNumber */
        le32_store_no_bounds_check(s + 24, 120);             /* DescriptorCount */
        memcpy(s + 32, LOG_GUID.b, 16);
        for (int i = 0; i < 120; i++) {
            uint8_t *d = s + 64 + 32 * i;
            memcpy(d, "desc", 4);
            le64_store_no_bounds_check(d + 16, (uint64_t)img->len + (uint64_t)i * 4096);
            le64_store_no_bounds_check(d + 24, off / 4096 + 1);
        }
    }
}

int main(int argc, char **argv)
{
    struct ib_image img;
    uint64_t log_bytes;
    uint32_t entries, found = 0;
    double t_search, t_apply, t_open;
    const char *dir = NULL;

    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        dir = argv[2];
    else if (argc != 1)
        die("usage: replay_bench [--write DIR]");

    build_full(&img, 64 * MiB, 64 * MiB, &log_bytes, &entries);
    t_search = best_search(&img, &found, VHDX_OK);
    if (found != entries)
        die("the search did not find every entry");
    t_apply = best_apply(&img);
    t_open = best_open(&img);
    printf("full 64 MiB log: %u entries, %llu log bytes, %llu data bytes applied\n", entries,
           (unsigned long long)log_bytes, (unsigned long long)entries * 126ull * 4096ull);
    printf("  search + check (CRC included): %8.1f ms  %7.0f MB/s\n", t_search * 1e3,
           (double)log_bytes / t_search / 1e6);
    printf("  apply into memory:             %8.1f ms  %7.0f MB/s\n", t_apply * 1e3,
           (double)log_bytes / t_apply / 1e6);
    printf("  replay (search + apply):       %8.1f ms  %7.0f MB/s\n", (t_search + t_apply) * 1e3,
           (double)log_bytes / (t_search + t_apply) / 1e6);
    printf("  read-only open (replay + rest): %7.1f ms  %7.0f MB/s\n", t_open * 1e3,
           (double)log_bytes / t_open / 1e6);
    if (dir != NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/full-log.vhdx", dir);
        if (ib_save(&img, path) != 0)
            die("cannot write the image");
        printf("  wrote %s\n", path);
    }
    ib_free(&img);
    if (dir != NULL) {
        /* The same entries filling half of the log, for qemu-img (bench/README.md). */
        char path[4096];
        build_full(&img, 64 * MiB, 32 * MiB, &log_bytes, &entries);
        snprintf(path, sizeof(path), "%s/half-log.vhdx", dir);
        if (ib_save(&img, path) != 0)
            die("cannot write the image");
        printf("  wrote %s (%u entries, %llu log bytes)\n", path, entries,
               (unsigned long long)log_bytes);
        ib_free(&img);
    }

    /* Garbage: random bytes. */
    {
        struct ib_params p;
        memset(&p, 0, sizeof(p));
        p.type = IB_DYNAMIC;
        p.virtual_size = 1024ull * MiB;
        p.block_size = MiB;
        p.log_length = 64 * MiB;
        if (ib_build(&p, &img) != 0 || ib_set_log_guid(&img, &LOG_GUID) != 0)
            die("garbage image");
        srand(1);
        for (uint32_t i = 0; i < 64 * MiB; i++)
            img.data[img.log_offset + i] = (uint8_t)rand();
        t_search = best_search(&img, NULL, VHDX_E_CORRUPT);
        printf("search over 64 MiB of random bytes: %8.1f ms  %7.0f MB/s\n", t_search * 1e3,
               64.0 * MiB / t_search / 1e6);
        ib_free(&img);
    }
    /* Hostile: every sector a plausible entry header. */
    for (uint32_t mb = 16; mb <= 64; mb *= 2) {
        struct ib_params p;
        memset(&p, 0, sizeof(p));
        p.type = IB_DYNAMIC;
        p.virtual_size = 1024ull * MiB;
        p.block_size = MiB;
        p.log_length = mb * MiB;
        if (ib_build(&p, &img) != 0 || ib_set_log_guid(&img, &LOG_GUID) != 0)
            die("hostile image");
        fill_hostile(&img, mb * MiB);
        t_search = best_search(&img, NULL, VHDX_E_CORRUPT);
        printf("search over %2u MiB, every sector 'loge': %8.1f ms  %7.0f MB/s\n", mb,
               t_search * 1e3, (double)mb * MiB / t_search / 1e6);
        ib_free(&img);
    }
    return 0;
}
