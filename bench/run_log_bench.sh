#!/usr/bin/env bash
# Large dirty logs, replay by reference, against qemu-img (bench/README.md,
# "Large logs"):
#
#   bench/run_log_bench.sh [WORKDIR]
#
# Makes three images with tests/make_big_logs (sparse files, about 1.1 GiB
# of real data in all) in WORKDIR (default ${TMPDIR:-/tmp}), then, each best
# of $REPS (default 3) runs, wall time and peak RSS from /usr/bin/time:
#   full-1024m         a 1 GiB log whose active sequence fills it but 1 MiB
#                      (2,062 entries, 259,812 data descriptors): vhdx-verify (the
#                      in-memory view), `vhdx replay` on a fresh copy and
#                      `qemu-img check -r all` on a fresh copy
#   log-4095m-one-entry  a 4095 MiB log holding one entry: vhdx-verify, and
#                      qemu-img check -r all on a fresh copy
#   zero-1048576m      one zero descriptor clearing 1 TiB of a sparse fixed
#                      disk: vhdx-verify, and `vhdx replay` on a fresh copy,
#                      with the file's allocated KiB after it (qemu-img would
#                      write the TiB of zeros: not run)
# Prints every measurement and a table with the ratios and the goals.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
REPS="${REPS:-3}"
BAZEL="${BAZEL:-bazel}"
base="${1:-${TMPDIR:-/tmp}}"
work=$(mktemp -d "$base/vhdx-log-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
command -v qemu-img >/dev/null || { echo "qemu-img is needed (tools/setup.sh)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is needed as /usr/bin/time" >&2; exit 2; }

"$BAZEL" build -c opt //tests:make_big_logs //tools:vhdx //tools:vhdx-verify >/dev/null 2>&1
bin=$("$BAZEL" info -c opt bazel-bin 2>/dev/null)
cp "$bin/tests/make_big_logs" "$bin/tools/vhdx" "$bin/tools/vhdx-verify" "$work/"
"$work/make_big_logs" "$work" full-1024m log-4095m-one-entry zero-1048576m >/dev/null

# best_of COPY IMAGE CMD...: "seconds peak_kib" of the fastest of $REPS runs.
# With COPY=1 each run gets a fresh sparse copy of IMAGE as $work/run.vhdx,
# which CMD names; with COPY=0 CMD runs on IMAGE itself.
best_of() {
    local copy=$1 img=$2 best_t="" best_m=""
    shift 2
    for _ in $(seq "$REPS"); do
        if [ "$copy" = 1 ]; then
            rm -f "$work/run.vhdx"
            cp --sparse=always "$img" "$work/run.vhdx"
        fi
        sync
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1 || true
        read -r t m <"$work/time"
        echo "    run: $t s, $m KiB: $*" >&2
        if [ -z "$best_t" ] || awk "BEGIN{exit !($t < $best_t)}"; then
            best_t=$t
            best_m=$m
        fi
    done
    echo "$best_t $best_m"
}
ratio() { awk "BEGIN{ if ($2 == 0) print \"-\"; else printf \"%.2f\", $1 / $2 }"; }
gbps() { awk "BEGIN{ if ($2 == 0) print \"-\"; else printf \"%.2f\", $1 / $2 / 1e9 }"; }

GIB=1073741824
full="$work/full-1024m.vhdx"
one="$work/log-4095m-one-entry.vhdx"
zero="$work/zero-1048576m.vhdx"

echo "== full-1024m (1 GiB log, active sequence fills it)"
read -r v_t v_m < <(best_of 0 "$full" "$work/vhdx-verify" "$full")
read -r r_t r_m < <(best_of 1 "$full" "$work/vhdx" replay "$work/run.vhdx")
read -r q_t q_m < <(best_of 1 "$full" qemu-img check -r all "$work/run.vhdx")
echo "== log-4095m-one-entry"
read -r o_t o_m < <(best_of 0 "$one" "$work/vhdx-verify" "$one")
read -r oq_t oq_m < <(best_of 1 "$one" qemu-img check -r all "$work/run.vhdx")
echo "== zero-1048576m (1 TiB zero range)"
read -r z_t z_m < <(best_of 0 "$zero" "$work/vhdx-verify" "$zero")
read -r zr_t zr_m < <(best_of 1 "$zero" "$work/vhdx" replay "$work/run.vhdx")
alloc=$(du -k "$work/run.vhdx" | cut -f1)

printf '\n| image | measure | ours | qemu-img check -r all | ratio (ours / qemu) | goal |\n'
printf '|---|---|---|---|---|---|\n'
printf '| full-1024m | vhdx-verify: s, peak RSS | %s s, %s KiB (%s GB/s of log) | %s s, %s KiB | %s (time) | <= 32768 KiB, >= 1 GB/s |\n' \
    "$v_t" "$v_m" "$(gbps $GIB "$v_t")" "$q_t" "$q_m" "$(ratio "$v_t" "$q_t")"
printf '| full-1024m | vhdx replay (in place): s, peak RSS | %s s, %s KiB (%s GB/s of log) | %s s, %s KiB | %s (time) | - |\n' \
    "$r_t" "$r_m" "$(gbps $GIB "$r_t")" "$q_t" "$q_m" "$(ratio "$r_t" "$q_t")"
printf '| log-4095m-one-entry | vhdx-verify: s, peak RSS | %s s, %s KiB | %s s, %s KiB | %s (time) | <= 16384 KiB |\n' \
    "$o_t" "$o_m" "$oq_t" "$oq_m" "$(ratio "$o_t" "$oq_t")"
printf '| zero-1048576m | vhdx-verify: s, peak RSS | %s s, %s KiB | not run | - | O(1) memory |\n' "$z_t" "$z_m"
printf '| zero-1048576m | vhdx replay: s, peak RSS; KiB allocated after | %s s, %s KiB; %s KiB | not run | - | seconds, stays sparse |\n' \
    "$zr_t" "$zr_m" "$alloc"
