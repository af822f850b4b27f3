#!/usr/bin/env bash
# Writer benchmarks against QEMU (bench/README.md, "Writes"):
#
#   bench/run_write_bench.sh [WORKDIR]
#
# 1. Convert: a 4 GiB sparse raw file (1 MiB pieces: a quarter random
#    data, a quarter 4 KiB of data then zeros, half zeros) converted to
#    VHDX by `vhdx convert -O vhdx` and by `qemu-img convert -O vhdx`, in
#    its default mode and with -t writeback (its crash-safe one):
#    wall time (best of $REPS, default 5), and the fsync/fdatasync calls of
#    one run of each under `strace -f -c`. The two outputs are compared
#    with `qemu-img compare`.
# 2. Random 4 KiB writes into a 4 GiB dynamic image with 1 MiB blocks:
#    bench/write_bench (the library, in process) against qemu-io running
#    the same operations (write -P, flush) from a script: COUNT writes with
#    one flush at the end, and COUNT/10 writes with a flush after each.
#    The resulting images are compared with `qemu-img compare`.
# WORKDIR (default ${TMPDIR:-/tmp}) should be on a real disk: the flushes
# are part of what is measured. It needs about 6 GB free.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
REPS="${REPS:-5}"
COUNT="${COUNT:-20000}"
BAZEL="${BAZEL:-bazel}"
base="${1:-${TMPDIR:-/tmp}}"
work=$(mktemp -d "$base/vhdx-write-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
for tool in qemu-img qemu-io strace python3; do
    command -v "$tool" >/dev/null || { echo "run_write_bench: $tool is needed" >&2; exit 2; }
done

"$BAZEL" build -c opt //bench:write_bench //tools:vhdx >/dev/null 2>&1
bin=$("$BAZEL" info -c opt bazel-bin 2>/dev/null)
cp "$bin/bench/write_bench" "$bin/tools/vhdx" "$work/"

echo "== making the 4 GiB raw file"
python3 - "$work/src.raw" <<'EOF'
import os, random, sys
random.seed(1)
mib = 1 << 20
with open(sys.argv[1], "wb") as f:
    f.truncate(4096 * mib)
    for i in range(4096):
        kind = i % 4
        if kind == 0:
            f.seek(i * mib); f.write(random.randbytes(mib))
        elif kind == 1:
            f.seek(i * mib); f.write(random.randbytes(4096))
EOF
sync

# best_of CMD...: the fastest wall time of $REPS runs, each on a new DST.
best_of() {
    local best="" t
    for _ in $(seq "$REPS"); do
        rm -f "$work/dst.vhdx"
        sync
        /usr/bin/time -f %e -o "$work/time.txt" "$@" >/dev/null 2>&1
        t=$(tail -1 "$work/time.txt")
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    echo "$best"
}
fsyncs() {
    rm -f "$work/dst.vhdx" "$work/strace.txt"
    strace -f -c -e trace=fsync,fdatasync -o "$work/strace.txt" "$@" >/dev/null 2>&1
    awk '$NF=="fsync"||$NF=="fdatasync"{n+=$4} END{print n+0}' "$work/strace.txt"
}

echo "== convert -O vhdx (4 GiB raw)"
ours=$(best_of "$work/vhdx" convert -O vhdx "$work/src.raw" "$work/dst.vhdx")
ours_sync=$(fsyncs "$work/vhdx" convert -O vhdx "$work/src.raw" "$work/dst.vhdx")
mv "$work/dst.vhdx" "$work/ours.vhdx"
qemu=$(best_of qemu-img convert -f raw -O vhdx "$work/src.raw" "$work/dst.vhdx")
qemu_sync=$(fsyncs qemu-img convert -f raw -O vhdx "$work/src.raw" "$work/dst.vhdx")
qemu-img compare -f vhdx -F vhdx "$work/ours.vhdx" "$work/dst.vhdx"
# The default output made durable afterwards: the same end state as ours
# (though a crash during it can leave a valid-looking partial image).
durable=$(best_of sh -c 'qemu-img convert -f raw -O vhdx "$1" "$2" && sync -d "$2"' sh \
    "$work/src.raw" "$work/dst.vhdx")
# qemu-img's crash-safe mode: its default (-t unsafe) drops every flush.
safe=$(best_of qemu-img convert -t writeback -f raw -O vhdx "$work/src.raw" "$work/dst.vhdx")
safe_sync=$(fsyncs qemu-img convert -t writeback -f raw -O vhdx "$work/src.raw" "$work/dst.vhdx")
qemu-img compare -q -f vhdx -F vhdx "$work/ours.vhdx" "$work/dst.vhdx"
printf 'vhdx convert:                    %6.2f s  %4d fsync/fdatasync  file %d bytes\n' \
    "$ours" "$ours_sync" "$(stat -c %s "$work/ours.vhdx")"
printf 'qemu-img convert (default):      %6.2f s  %4d fsync/fdatasync  file %d bytes\n' \
    "$qemu" "$qemu_sync" "$(stat -c %s "$work/dst.vhdx")"
printf 'qemu-img convert, then sync -d:  %6.2f s\n' "$durable"
printf 'qemu-img convert -t writeback:   %6.2f s  %4d fsync/fdatasync\n' "$safe" "$safe_sync"
awk -v a="$ours" -v b="$qemu" -v c="$safe" -v d="$durable" \
    'BEGIN{printf "ratio (qemu-img time / ours): %.2fx default, %.2fx default + sync, %.2fx -t writeback\n", b / a, d / a, c / a}'
rm -f "$work/ours.vhdx" "$work/dst.vhdx" "$work/src.raw"

echo "== random 4 KiB writes, 4 GiB dynamic image, 1 MiB blocks"
for mode in "$COUNT 0" "$((COUNT / 10)) 1"; do
    set -- $mode
    n=$1 every=$2
    line=$("$work/write_bench" "$work/ours.vhdx" 4096 "$n" 7 "$every" "$work/qemu.txt")
    qemu-img create -q -f vhdx -o block_size=1M "$work/q.vhdx" 4G
    t=$( { /usr/bin/time -f %e qemu-io -f vhdx "$work/q.vhdx" <"$work/qemu.txt" >/dev/null; } 2>&1 | tail -1)
    qemu-img compare -q -f vhdx -F vhdx "$work/ours.vhdx" "$work/q.vhdx"
    ours_t=$(echo "$line" | awk '{print $4}')
    label=$([ "$every" = 0 ] && echo "one flush at the end" || echo "a flush after each write")
    printf '%s writes, %s: write_bench %.3f s (%.0f/s), qemu-io %.3f s (%.0f/s): %.1fx\n' \
        "$n" "$label" "$ours_t" "$(awk -v n="$n" -v t="$ours_t" 'BEGIN{print n/t}')" \
        "$t" "$(awk -v n="$n" -v t="$t" 'BEGIN{print n/t}')" \
        "$(awk -v a="$ours_t" -v b="$t" 'BEGIN{print b/a}')"
    rm -f "$work/ours.vhdx" "$work/q.vhdx"
done
