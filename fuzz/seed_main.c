/*
 * Seed corpus generator: `seeds_<harness> DIR` runs the harness's
 * fuzz_make_seeds() and writes each seed as DIR/<name>.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

struct seed_out {
    const char *dir;
    unsigned count;
    int failed;
};

void seed_emit(struct seed_out *out, const char *name, const void *data, size_t len)
{
    char path[4096];
    FILE *f;
    int w = snprintf(path, sizeof(path), "%s/%s", out->dir, name);
    if (w < 0 || (size_t)w >= sizeof(path)) {
        out->failed = 1;
        return;
    }
    f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len)) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        out->failed = 1;
    }
    if (f != NULL && fclose(f) != 0)
        out->failed = 1;
    out->count++;
}

int main(int argc, char **argv)
{
    struct seed_out out = {NULL, 0, 0};
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out.dir = argv[1];
    if (mkdir(out.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", out.dir, strerror(errno));
        return 2;
    }
    fuzz_make_seeds(&out);
    printf("%u seeds written to %s\n", out.count, out.dir);
    return out.failed ? 1 : 0;
}

/* The harness is linked in but never run by the generator. */
