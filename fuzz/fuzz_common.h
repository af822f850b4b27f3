/*
 * Shared by every fuzz harness. A harness defines LLVMFuzzerTestOneInput
 * (libFuzzer's entry point, which AFL++ and the standalone regression driver
 * also call), and, between #ifdef FUZZ_SEEDS, fuzz_make_seeds(), which
 * writes its seed corpus with the project's own encoders.
 */
#ifndef VHDX_FUZZ_COMMON_H
#define VHDX_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/diag.h"

/* A broken invariant (e.g. decode(encode(x)) != x) is a bug: abort so the fuzzer reports it. */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A diagnostic sink with a few stored records, as a scanner would use. */
struct fuzz_sink {
    struct diag_sink sink;
    vhdx_diag records[8];
};

static inline struct diag_sink *fuzz_sink_init(struct fuzz_sink *fs)
{
    diag_sink_init(&fs->sink, fs->records, sizeof(fs->records) / sizeof(fs->records[0]));
    return &fs->sink;
}

#ifdef FUZZ_SEEDS
struct seed_out;
/* Writes one seed file named `name` into the harness's corpus directory. */
void seed_emit(struct seed_out *out, const char *name, const void *data, size_t len);
void fuzz_make_seeds(struct seed_out *out);
#endif

#endif
