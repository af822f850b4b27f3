/*
 * Runs a libFuzzer-style harness over files and directories without a
 * fuzzing engine: the regression driver used by the tests (under ASan and
 * UBSan), and a way to reproduce a crash with a plain build.
 *
 *   harness FILE|DIR...   runs every input once; exits non-zero on a
 *                         harness abort or sanitizer report (they abort).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

static unsigned long runs;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                free(buf);
                fclose(f);
                return 1;
            }
            buf = nbuf;
            cap = ncap;
        }
        n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    /* An exact-size copy so ASan catches a read one byte past the input. */
    {
        uint8_t *exact = malloc(len > 0 ? len : 1);
        if (exact == NULL) {
            free(buf);
            return 1;
        }
        if (len > 0)
            memcpy(exact, buf, len);
        free(buf);
        (void)LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    runs++;
    return 0;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "cannot stat %s\n", path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int n = scandir(path, &names, NULL, alphasort);
        int rc = 0;
        if (n < 0) {
            fprintf(stderr, "cannot read directory %s\n", path);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (names[i]->d_name[0] != '.') {
                char child[4096];
                int w = snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
                if (w > 0 && (size_t)w < sizeof(child))
                    rc |= run_path(child);
            }
            free(names[i]);
        }
        free(names);
        return rc;
    }
    return run_file(path);
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= run_path(argv[i]);
    printf("%s: %lu inputs run\n", argc > 0 ? argv[0] : "harness", runs);
    if (runs == 0) {
        /* A regression run over nothing proves nothing. */
        fprintf(stderr, "no inputs were run\n");
        return 1;
    }
    return rc;
}
