/*
 * Throughput of crc32c_hw and crc32c_portable on 4 KiB, 64 KiB and 64 MiB
 * buffers, in GB/s (1e9 bytes per second). Each measurement repeats the
 * call until at least 0.3 s (0.05 s with --quick) have passed; the figure
 * is the best of 5 measurements. Calls are chained, each starting from the
 * previous CRC, and the final CRCs are printed so no call can be dropped.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crc32c.h"

#define RUNS 5
#define BATCH_BYTES (1u << 20)

struct bench_size {
    const char *name;
    size_t len;
};

struct bench_impl {
    const char *name;
    uint32_t (*fn)(uint32_t crc, const void *data, size_t len);
};

static double now_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime");
        exit(1);
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * One measurement: GB/s over at least min_seconds. The clock is read once
 * per batch of about 1 MiB so that reading it does not weigh on 4 KiB calls.
 */
static double measure_once(const struct bench_impl *impl, const uint8_t *buf, size_t len,
                           double min_seconds, uint32_t *crc)
{
    size_t calls_per_batch = len >= BATCH_BYTES ? 1 : BATCH_BYTES / len;
    double start = now_seconds();
    double elapsed;
    double bytes = 0;

    do {
        for (size_t i = 0; i < calls_per_batch; i++)
            *crc = impl->fn(*crc, buf, len);
        bytes += (double)calls_per_batch * (double)len;
        elapsed = now_seconds() - start;
    } while (elapsed < min_seconds);
    return bytes / elapsed / 1e9;
}

static double measure_best(const struct bench_impl *impl, const uint8_t *buf, size_t len,
                           double min_seconds, uint32_t *crc)
{
    double best = 0;

    for (int run = 0; run < RUNS; run++) {
        double gbps = measure_once(impl, buf, len, min_seconds, crc);
        if (gbps > best)
            best = gbps;
    }
    return best;
}

static void print_cpu_model(void)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");

    if (f == NULL) {
        printf("cpu: unknown (/proc/cpuinfo not readable)\n");
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon;
        if (strncmp(line, "model name", 10) != 0)
            continue;
        colon = strchr(line, ':');
        if (colon != NULL) {
            colon++;
            colon += strspn(colon, " \t");
            printf("cpu: %s", colon);
            if (strchr(colon, '\n') == NULL)
                printf("\n");
        }
        break;
    }
    fclose(f);
}

static void fill_pseudo_random(uint8_t *buf, size_t len)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;

    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

int main(int argc, char **argv)
{
    static const struct bench_size sizes[] = {
        {"4KiB", 4u << 10},
        {"64KiB", 64u << 10},
        {"64MiB", 64u << 20},
    };
    const struct bench_impl impls[] = {
        {"hw", crc32c_hw},
        {"portable", crc32c_portable},
    };
    size_t max_len = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1].len;
    double min_seconds = 0.3;
    bool hw = crc32c_hw_available();
    double hw_64k = 0;
    uint32_t crc_sum = 0;
    uint8_t *buf;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            min_seconds = 0.05;
            continue;
        }
        fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
        return 2;
    }

    buf = aligned_alloc(64, max_len);
    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    fill_pseudo_random(buf, max_len);

    print_cpu_model();
    printf("crc32c_hw: %s\n", hw ? "available (SSE4.2 + PCLMULQDQ)" : "not available");
    printf("%-8s %-10s %8s\n", "size", "impl", "GB/s");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t m = 0; m < sizeof(impls) / sizeof(impls[0]); m++) {
            uint32_t crc = 0;
            double gbps;
            if (impls[m].fn == crc32c_hw && !hw) {
                printf("%-8s %-10s %8s\n", sizes[s].name, impls[m].name, "n/a");
                continue;
            }
            gbps = measure_best(&impls[m], buf, sizes[s].len, min_seconds, &crc);
            crc_sum ^= crc;
            printf("%-8s %-10s %8.2f\n", sizes[s].name, impls[m].name, gbps);
            fflush(stdout);
            if (impls[m].fn == crc32c_hw && sizes[s].len == (64u << 10))
                hw_64k = gbps;
        }
    }
    printf("checksum of results: 0x%08X\n", crc_sum);
    printf("hw 64KiB: %.2f GB/s (target >= 10)\n", hw_64k);
    free(buf);
    return 0;
}
