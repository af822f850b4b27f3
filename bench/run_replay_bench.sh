#!/usr/bin/env bash
# Log replay benchmark (bench/README.md, "Log replay"):
#
#   bench/run_replay_bench.sh [WORKDIR]
#
# 1. bench/replay_bench (in process): search, apply and read-only open of a
#    full 64 MiB log; the search over 64 MiB of garbage and over hostile
#    logs of 16, 32 and 64 MiB.
# 2. In place, against qemu-img: the same full-log image, replayed on a
#    fresh copy by `vhdx replay` and by `qemu-img check -r all`; wall time
#    and peak RSS (/usr/bin/time), best of $REPS (default 3), with the ratio.
#    WORKDIR defaults to /dev/shm when it exists (so the figures measure the
#    engines, not the disk), else ${TMPDIR:-/tmp}.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
REPS="${REPS:-3}"
BAZEL="${BAZEL:-bazel}"
base="${1:-}"
if [ -z "$base" ]; then
    if [ -d /dev/shm ]; then base=/dev/shm; else base="${TMPDIR:-/tmp}"; fi
fi
work=$(mktemp -d "$base/vhdx-replay-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$BAZEL" build -c opt //bench:replay_bench //tools:vhdx >/dev/null 2>&1
bin=$("$BAZEL" info -c opt bazel-bin 2>/dev/null)
cp "$bin/bench/replay_bench" "$bin/tools/vhdx" "$work/"

echo "== in process (bench/replay_bench)"
"$work/replay_bench" --write "$work"

# best_of IMAGE CMD...: prints "seconds peak_kib" of the fastest of $REPS
# runs on a fresh copy of IMAGE each time; "timeout" when a run takes more
# than $LIMIT seconds (default 120: qemu-img loops on a full log).
LIMIT="${LIMIT:-120}"
best_of() {
    local best_t="" best_m="" img=$1
    shift
    for _ in $(seq "$REPS"); do
        cp "$work/$img" "$work/copy.vhdx"
        sync
        set +e
        /usr/bin/time -f '%e %M' -o "$work/time" timeout "$LIMIT" "$@" "$work/copy.vhdx" \
            >/dev/null 2>"$work/err"
        rc=$?
        set -e
        if [ $rc = 124 ]; then echo timeout; return 0; fi
        [ $rc = 0 ] || { echo "failed: $* ($(cat "$work/err"))" >&2; echo failed; return 0; }
        read -r t m <"$work/time"
        if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then best_t=$t; best_m=$m; fi
    done
    echo "$best_t $best_m"
}

for img in full-log.vhdx half-log.vhdx; do
    bytes=$([ $img = full-log.vhdx ] && echo 67104768 || echo 33292288)
    mb=$(awk "BEGIN{print $bytes/1e6}")
    echo "== in place: $img ($bytes log bytes), on $base (best of $REPS)"
    read -r vt vm < <(best_of "$img" "$work/vhdx" replay)
    if [ "$vt" = timeout ] || [ "$vt" = failed ]; then
        echo "  vhdx replay: $vt"
        continue
    fi
    printf '  vhdx replay:             %6.2f s  %7.0f MB/s of log  peak RSS %7d KiB\n' "$vt" \
        "$(awk "BEGIN{print $mb/($vt>0?$vt:0.001)}")" "$vm"
    if ! command -v qemu-img >/dev/null; then
        echo "  qemu-img not installed: no comparison"
        continue
    fi
    read -r qt qm < <(best_of "$img" qemu-img check -r all -f vhdx)
    if [ "$qt" = timeout ]; then
        echo "  qemu-img check -r all:   did not finish within $LIMIT s (stopped)"
    elif [ "$qt" = failed ]; then
        echo "  qemu-img check -r all:   failed"
    else
        printf '  qemu-img check -r all:   %6.2f s  %7.0f MB/s of log  peak RSS %7d KiB\n' "$qt" \
            "$(awk "BEGIN{print $mb/($qt>0?$qt:0.001)}")" "$qm"
        printf '  ratio (qemu-img / vhdx): time %.1fx, memory %.2fx\n' \
            "$(awk "BEGIN{print $qt/($vt>0?$vt:0.001)}")" "$(awk "BEGIN{print $qm/$vm}")"
    fi
done
