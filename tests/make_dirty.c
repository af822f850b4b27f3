/*
 * Writes every dirty-image shape of tests/dirty_images to DIR as
 * dirty-<name>.vhdx, with DIR/manifest.tsv: one line per image,
 *   name  rule|-  warning|-  entries  head_sequence  qemu_exit  qemu_note|-
 * for the CLI replay tests (tests/cli_replay_test.sh).
 */
#include <stdio.h>
#include <string.h>

#include "dirty_images.h"

int main(int argc, char **argv)
{
    char path[4096];
    FILE *m;
    int failures = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: make_dirty DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", argv[1]);
    m = fopen(path, "w");
    if (m == NULL) {
        perror(path);
        return 2;
    }
    for (int i = 0; i < dirty_count(); i++) {
        struct dirty_image d;
        if (dirty_build(i, &d) != 0) {
            fprintf(stderr, "make_dirty: shape %d failed to build\n", i);
            failures++;
            continue;
        }
        snprintf(path, sizeof(path), "%s/dirty-%s.vhdx", argv[1], d.name);
        if (ib_save(&d.img, path) != 0) {
            fprintf(stderr, "make_dirty: cannot write %s\n", path);
            failures++;
        }
        fprintf(m, "%s\t%s\t%s\t%u\t%llu\t%d\t%s\n", d.name, d.rule != NULL ? d.rule : "-",
                d.warning != NULL ? d.warning : "-", d.entries,
                (unsigned long long)d.head_sequence, d.qemu_exit,
                d.qemu_note != NULL ? d.qemu_note : "-");
        dirty_free(&d);
    }
    if (fclose(m) != 0)
        failures++;
    return failures == 0 ? 0 : 1;
}
