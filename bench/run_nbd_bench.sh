#!/usr/bin/env bash
# Reading a populated 4 GiB VHDX through NBD: nbdkit's vhdx plugin against
# qemu-nbd -r, both read whole by nbdcopy into null: over a Unix socket.
#   bench/run_nbd_bench.sh [RUNS]     (default 3 runs of each, alternating)
# Needs nbdkit, libnbd-bin (nbdcopy), qemu-utils (qemu-nbd, qemu-img), about
# 8.5 GB free in ${TMPDIR:-/tmp}. Prints one line per run and the best of each:
#   nbdkit-vhdx: S s, X MB/s     qemu-nbd: S s, X MB/s   (MB = 1e6 bytes)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/nbd_bench.XXXXXX")
qpid=
trap 'if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
cd "$root"
bazel build --noshow_progress -c opt //nbdkit:nbdkit-vhdx-plugin >&2
plugin="$(bazel info -c opt bazel-bin)/nbdkit/nbdkit-vhdx-plugin.so"
size=$((4 * 1024 * 1024 * 1024))

# A populated disk: every block FULLY_PRESENT with incompressible data.
head -c "$size" /dev/urandom >"$work/disk.raw"
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$work/disk.raw" "$work/disk.vhdx"
rm -f "$work/disk.raw"
cat "$work/disk.vhdx" >/dev/null # the page cache holds it for both readers
echo "image: $(stat -c %s "$work/disk.vhdx") bytes; $(qemu-img --version | head -n 1); nbdkit $(nbdkit --version | cut -d' ' -f2); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

mbps() { awk -v s="$1" -v n="$size" 'BEGIN { printf "%.0f", n / s / 1e6 }'; }
best_v=999999
best_q=999999
for i in $(seq "$runs"); do
    start=$(date +%s.%N)
    nbdkit -r -U - "$plugin" file="$work/disk.vhdx" --run 'nbdcopy "$uri" null:'
    t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    echo "run $i nbdkit-vhdx: $t s, $(mbps "$t") MB/s"
    best_v=$(awk -v a="$best_v" -v b="$t" 'BEGIN { print (b < a) ? b : a }')

    rm -f "$work/q.sock"
    qemu-nbd -r -f vhdx -k "$work/q.sock" "$work/disk.vhdx" &
    qpid=$!
    for _ in $(seq 100); do [ -S "$work/q.sock" ] && break; sleep 0.05; done
    start=$(date +%s.%N)
    nbdcopy "nbd+unix:///?socket=$work/q.sock" null:
    t=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
    kill "$qpid" 2>/dev/null || true  # qemu-nbd (no -t) ends with its one client
    wait "$qpid" 2>/dev/null || true
    qpid=
    echo "run $i qemu-nbd -r:  $t s, $(mbps "$t") MB/s"
    best_q=$(awk -v a="$best_q" -v b="$t" 'BEGIN { print (b < a) ? b : a }')
done
echo "best nbdkit-vhdx: $best_v s, $(mbps "$best_v") MB/s"
echo "best qemu-nbd -r: $best_q s, $(mbps "$best_q") MB/s"
