/*
 * Random 4 KiB writes into a dynamic image through the library
 * (bench/README.md, "Writes"):
 *
 *   write_bench IMAGE SIZE_MIB COUNT SEED FLUSH_EVERY [QEMU_SCRIPT]
 *
 * Creates IMAGE (dynamic, 1 MiB blocks, SIZE_MIB MiB), opens it writable
 * and writes COUNT 4 KiB buffers at 4 KiB-aligned offsets drawn from a
 * xorshift generator seeded with SEED, with vhdx_flush after every
 * FLUSH_EVERY writes (0: only vhdx_finish at the end). Prints the elapsed
 * seconds and writes per second. With QEMU_SCRIPT it also writes the same
 * operations as qemu-io commands (write -P, flush), so that
 * `qemu-io -f vhdx IMAGE2 < QEMU_SCRIPT` does exactly the same work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vhdx.h"

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    vhdx_create_options c;
    vhdx_open_options o;
    vhdx_image *img = NULL;
    uint64_t size, count, seed, every;
    uint8_t buf[4096];
    FILE *script = NULL;
    vhdx_status st;
    double t0, t1;

    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: write_bench IMAGE SIZE_MIB COUNT SEED FLUSH_EVERY [QEMU_SCRIPT]\n");
        return 2;
    }
    size = strtoull(argv[2], NULL, 10) << 20;
    count = strtoull(argv[3], NULL, 10);
    seed = strtoull(argv[4], NULL, 10) | 1u;
    every = strtoull(argv[5], NULL, 10);
    if (argc == 7 && (script = fopen(argv[6], "w")) == NULL) {
        perror(argv[6]);
        return 2;
    }
    memset(&c, 0, sizeof(c));
    c.type = VHDX_DISK_DYNAMIC;
    c.virtual_size = size;
    c.block_size = 1u << 20;
    unlink(argv[1]);
    st = vhdx_create_path(argv[1], &c, NULL, NULL);
    memset(&o, 0, sizeof(o));
    o.flags = VHDX_OPEN_WRITABLE;
    if (st == VHDX_OK)
        st = vhdx_open_path(argv[1], &o, &img);
    t0 = now();
    for (uint64_t i = 0; st == VHDX_OK && i < count; i++) {
        uint64_t off = (next(&seed) % (size / 4096)) * 4096;
        memset(buf, (int)(i & 0xff), sizeof(buf));
        st = vhdx_write(img, off, buf, sizeof(buf));
        if (script != NULL)
            fprintf(script, "write -P %u %llu 4k\n", (unsigned)(i & 0xff),
                    (unsigned long long)off);
        if (st == VHDX_OK && every != 0 && (i + 1) % every == 0) {
            st = vhdx_flush(img);
            if (script != NULL)
                fprintf(script, "flush\n");
        }
    }
    if (st == VHDX_OK)
        st = vhdx_finish(img);
    t1 = now();
    vhdx_close(img);
    if (script != NULL) {
        fprintf(script, "flush\n");
        fclose(script);
    }
    if (st != VHDX_OK) {
        fprintf(stderr, "write_bench: %s\n", vhdx_strerror(st));
        return 1;
    }
    printf("%llu writes in %.3f s: %.0f writes/s\n", (unsigned long long)count, t1 - t0,
           (double)count / (t1 - t0));
    return 0;
}
