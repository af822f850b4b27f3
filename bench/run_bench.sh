#!/usr/bin/env bash
# Benchmarks of the command-line tools against qemu-img (bench/README.md,
# section "Tools against qemu-img").
#
#   bench/run_bench.sh [--keep] [--no-cold] [--no-tmpfs] [WORKDIR]
#
# Builds //tools:vhdx and //tools:vhdx-verify with `bazel build -c opt`,
# creates the input images with qemu-img and qemu-io in a new directory
# under WORKDIR (default: ${TMPDIR:-/tmp}), measures, prints a table, and
# removes everything it created (unless --keep).
#
#   1. verify:  vhdx-verify IMAGE  vs  qemu-img check -f vhdx IMAGE
#               on a 2 TiB dynamic image with 1 MiB blocks and
#               $VERIFY_BLOCKS (default 25000) blocks allocated.
#   2. convert: vhdx convert -O raw  vs  qemu-img convert -f vhdx -O raw
#               on a 4 GiB dynamic image (3.25 GiB allocated), and vs
#               cp --sparse=never / cp of a raw file with the same disk.
#
# Wall time: bash's $EPOCHREALTIME around the command (microseconds).
# Peak RSS:  /usr/bin/time -f '%e %M'.
# Warm cache (the main figures): one warm-up run, then the best of $REPS
# (default 5; verify: best of $VERIFY_REPS, default 10, as one run takes
# milliseconds). Cold cache (root only, --no-cold to skip):
# `sync; echo 3 > /proc/sys/vm/drop_caches` before each of $COLD_REPS
# (default 3) runs.
#
# Environment: VERIFY_BLOCKS, REPS, VERIFY_REPS, COLD_REPS, BAZEL (default
# bazel), MIN_FREE_GIB (default 40).

set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- options

KEEP=0
COLD=1
TMPFS=1
WORKDIR=
for arg in "$@"; do
    case "$arg" in
    --keep) KEEP=1 ;;
    --no-cold) COLD=0 ;;
    --no-tmpfs) TMPFS=0 ;;
    -h | --help)
        sed -n '2,28s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    -*)
        echo "run_bench.sh: unknown option $arg" >&2
        exit 2
        ;;
    *)
        if [[ -n "$WORKDIR" ]]; then
            echo "run_bench.sh: only one WORKDIR" >&2
            exit 2
        fi
        WORKDIR=$arg
        ;;
    esac
done
WORKDIR=${WORKDIR:-${TMPDIR:-/tmp}}

VERIFY_BLOCKS=${VERIFY_BLOCKS:-25000}
REPS=${REPS:-5}
VERIFY_REPS=${VERIFY_REPS:-10}
COLD_REPS=${COLD_REPS:-3}
BAZEL=${BAZEL:-bazel}
MIN_FREE_GIB=${MIN_FREE_GIB:-40}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
    echo "run_bench.sh: $*" >&2
    exit 2
}

for tool in qemu-img qemu-io /usr/bin/time cmp awk df du "$BAZEL"; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
[[ "$VERIFY_BLOCKS" =~ ^[1-9][0-9]*$ ]] || die "VERIFY_BLOCKS must be a positive integer"
((VERIFY_BLOCKS <= 30000)) ||
    echo "run_bench.sh: note: VERIFY_BLOCKS=$VERIFY_BLOCKS makes a verify image of more than 30 GiB (apparent size; it is sparse)" >&2
for n in REPS VERIFY_REPS COLD_REPS; do
    [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer"
done
if ((COLD)) && ! { [[ $(id -u) == 0 ]] && [[ -w /proc/sys/vm/drop_caches ]]; }; then
    echo "run_bench.sh: not root: no cold-cache runs" >&2
    COLD=0
fi

# ------------------------------------------------------- free space check

mkdir -p "$WORKDIR"
free_kib=$(df -Pk "$WORKDIR" | awk 'NR == 2 { print $4 }')
if ((free_kib < MIN_FREE_GIB * 1024 * 1024)); then
    die "$WORKDIR has $((free_kib / 1024 / 1024)) GiB free; the benchmark needs at least $MIN_FREE_GIB GiB (images, raw copies and outputs). Free some space or give another WORKDIR."
fi

RUN=$(mktemp -d "$WORKDIR/vhdx-bench.XXXXXX")
SHM=
cleanup() {
    if ((KEEP)); then
        echo "kept: $RUN${SHM:+ and $SHM}"
    else
        rm -rf -- "$RUN"
        [[ -z "$SHM" ]] || rm -rf -- "$SHM"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }

# ------------------------------------------------------------------ build

say "== building (bazel build -c opt //tools:vhdx //tools:vhdx-verify)"
(cd "$ROOT" && "$BAZEL" build -c opt //tools:vhdx //tools:vhdx-verify)
BIN=$(cd "$ROOT" && "$BAZEL" info -c opt bazel-bin 2>/dev/null)/tools
# Private copies: a concurrent build cannot swap them during the runs.
mkdir "$RUN/bin"
cp "$BIN/vhdx" "$BIN/vhdx-verify" "$RUN/bin/"
VHDX=$RUN/bin/vhdx
VERIFY=$RUN/bin/vhdx-verify
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(cd "$ROOT" && git status --porcelain -- src include tools 2>/dev/null)" ]]; then
    COMMIT="$COMMIT (+ uncommitted changes in src/include/tools)"
fi

# ------------------------------------------------------------ measurement

# Results, by row label.
declare -A WALL   # best wall time, microseconds
declare -A WALLS  # best of (wall + fsync of DST), microseconds
declare -A RSS    # highest peak RSS seen, KiB

usec() { local t=${1/./}; echo $((10#$t)); }

# timed_run LABEL cmd...: one run under /usr/bin/time; sets T_US, T_RSS.
timed_run() {
    local label=$1 t0 t1 rc=0
    shift
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %M' -o "$RUN/time.out" "$@" >"$RUN/cmd.out" 2>"$RUN/cmd.err" || rc=$?
    t1=$EPOCHREALTIME
    if ((rc != 0)); then
        echo "run_bench.sh: $label: exit status $rc: $*" >&2
        cat "$RUN/cmd.out" "$RUN/cmd.err" "$RUN/time.out" >&2
        exit 2
    fi
    T_US=$(($(usec "$t1") - $(usec "$t0")))
    T_RSS=$(awk 'END { print $2 }' "$RUN/time.out")
}

# bare_run LABEL cmd...: one run without /usr/bin/time; sets T_US.
bare_run() {
    local label=$1 t0 t1 rc=0
    shift
    t0=$EPOCHREALTIME
    "$@" >"$RUN/cmd.out" 2>"$RUN/cmd.err" || rc=$?
    t1=$EPOCHREALTIME
    if ((rc != 0)); then
        echo "run_bench.sh: $label: exit status $rc: $*" >&2
        cat "$RUN/cmd.out" "$RUN/cmd.err" >&2
        exit 2
    fi
    T_US=$(($(usec "$t1") - $(usec "$t0")))
}

record() { # LABEL US RSS [US_WITH_SYNC]
    local l=$1
    if [[ -z "${WALL[$l]:-}" ]] || (($2 < WALL[$l])); then WALL[$l]=$2; fi
    if [[ -z "${RSS[$l]:-}" ]] || (($3 > RSS[$l])); then RSS[$l]=$3; fi
    if [[ -n "${4:-}" ]]; then
        if [[ -z "${WALLS[$l]:-}" ]] || (($4 < WALLS[$l])); then WALLS[$l]=$4; fi
    fi
}

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
sec() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# measure_quick LABEL cmd...: for commands that take milliseconds. Wall time
# from runs without /usr/bin/time (whose own exec would be a visible part),
# peak RSS from as many runs under it; runs of the rows alternate.
measure_quick() {
    local label=$1 wall rss
    shift
    bare_run "$label" "$@"
    wall=$T_US
    timed_run "$label" "$@"
    rss=$T_RSS
    record "$label" "$wall" "$rss"
    printf '  %-28s %9s ms  %8s MiB\n' "$label" "$(ms "$wall")" "$(mib "$rss")"
}

# measure_cold LABEL cmd...: caches dropped first; one run under /usr/bin/time.
measure_cold() {
    local label=$1
    shift
    drop_caches
    timed_run "$label" "$@"
    record "$label" "$T_US" "$T_RSS"
    printf '  %-28s %9s ms  %8s MiB\n' "$label" "$(ms "$T_US")" "$(mib "$T_RSS")"
}

# measure_copy LABEL DST SRC COLD cmd...: a run that reads SRC and writes
# DST. Not timed: DST is removed and everything flushed; then SRC is read
# once (warm) or the caches are dropped (cold). Timed: the command, and
# then, on its own, `sync DST` (fsync of DST), so that the table can give
# the time with and without the flush.
measure_copy() {
    local label=$1 dst=$2 src=$3 cold=$4 us rss sus
    shift 4
    rm -f -- "$dst"
    sync
    if ((cold)); then
        drop_caches
    else
        # Page cache that has not been read for a while may have been
        # reclaimed (e.g. by a DAMON pageout scheme): make sure it is warm.
        cat -- "$src" >/dev/null
    fi
    timed_run "$label" "$@"
    us=$T_US
    rss=$T_RSS
    bare_run "sync $label" sync -- "$dst"
    sus=$T_US
    record "$label" "$us" "$rss" $((us + sus))
    printf '  %-34s %7s s  + fsync %5s s  %8s MiB\n' "$label" "$(sec "$us")" "$(sec "$sus")" "$(mib "$rss")"
}

# ------------------------------------------------------------- 1. verify

VIMG=$RUN/verify-2T.vhdx
say ""
say "== verify input: 2 TiB dynamic, 1 MiB blocks, $VERIFY_BLOCKS blocks allocated"
qemu-img create -q -f vhdx -o subformat=dynamic,block_size=1M "$VIMG" 2T
# One 4 KiB write per block, the blocks spread evenly over the 2 TiB
# (2^21 blocks), at a varying offset inside each block. Each write makes
# qemu allocate the whole block: 1 MiB of file, mostly a hole.
awk -v n="$VERIFY_BLOCKS" 'BEGIN {
    nb = 2097152
    for (i = 0; i < n; i++) {
        b = int(i * nb / n)
        printf "write -P 0x11 %.0f 4k\n", b * 1048576 + (i % 256) * 4096
    }
}' >"$RUN/writes.txt"
split -l 5000 -d -a 3 "$RUN/writes.txt" "$RUN/writes."
t0=$EPOCHREALTIME
for f in "$RUN"/writes.[0-9][0-9][0-9]; do
    # Commands from standard input; cache=unsafe: no flush per allocation.
    qemu-io -f vhdx -t unsafe "$VIMG" <"$f" >"$RUN/qemu-io.out" 2>&1 ||
        { cat "$RUN/qemu-io.out" >&2; die "qemu-io failed on $f"; }
    wrote=$(grep -c 'wrote 4096/4096 bytes' "$RUN/qemu-io.out" || true)
    if ((wrote != $(wc -l <"$f"))); then
        grep -v -e 'wrote 4096/4096' -e 'ops/sec' "$RUN/qemu-io.out" | head >&2
        die "qemu-io did $wrote of the $(wc -l <"$f") writes of $f"
    fi
done
rm -f "$RUN"/writes.*
sync
t1=$EPOCHREALTIME
allocated=$("$VHDX" info "$VIMG" | awk -F: '/^blocks allocated/ { gsub(/ /, "", $2); print $2 }')
[[ "$allocated" == "$VERIFY_BLOCKS" ]] || die "verify image has $allocated blocks allocated, not $VERIFY_BLOCKS"
v_apparent=$(stat -c %s "$VIMG")
v_disk=$(du -k "$VIMG" | awk '{ print $1 }')
say "  made in $(sec $(($(usec "$t1") - $(usec "$t0")))) s: $allocated blocks allocated, file $(awk -v b="$v_apparent" 'BEGIN { printf "%.2f", b / 2^30 }') GiB apparent, $(mib "$v_disk") MiB on disk"

say "  warm cache, $VERIFY_REPS runs each after one warm-up (wall: without /usr/bin/time; RSS: under it)"
# Warm-up, and both verdicts must be clean.
"$VERIFY" --quiet "$VIMG" >/dev/null || die "vhdx-verify does not find the verify image clean"
qemu-img check -q -f vhdx "$VIMG" >/dev/null || die "qemu-img check does not find the verify image clean"
# Process start alone, for scale.
"$VERIFY" --version >/dev/null
qemu-img --version >/dev/null
for ((r = 0; r < VERIFY_REPS; r++)); do
    measure_quick "vhdx-verify" "$VERIFY" "$VIMG"
    measure_quick "qemu-img check" qemu-img check -f vhdx "$VIMG"
    measure_quick "vhdx-verify --version" "$VERIFY" --version
    measure_quick "qemu-img --version" qemu-img --version
done
if ((COLD)); then
    say "  cold cache, $COLD_REPS runs each"
    for ((r = 0; r < COLD_REPS; r++)); do
        measure_cold "cold vhdx-verify" "$VERIFY" "$VIMG"
        measure_cold "cold qemu-img check" qemu-img check -f vhdx "$VIMG"
    done
fi
rm -f -- "$VIMG"
sync

# ------------------------------------------------------------ 2. convert

CIMG=$RUN/convert-4G.vhdx
SRCRAW=$RUN/source.raw
say ""
say "== convert input: 4 GiB dynamic, 32 MiB blocks, 3.25 GiB allocated"
qemu-img create -q -f vhdx -o subformat=dynamic,block_size=32M "$CIMG" 4G
# 0 .. 3 GiB: 0x5a, except 512 .. 640 MiB: zeros written as data (allocated
# blocks that read as zeros); 3 .. 3.5 GiB: never written; 3.5 .. 3.75 GiB:
# 0xa5; 3.75 .. 4 GiB: never written.
t0=$EPOCHREALTIME
qemu-io -f vhdx -t unsafe \
    -c "write -P 0x5a 0 1G" -c "write -P 0x5a 1G 1G" -c "write -P 0x5a 2G 1G" \
    -c "write -z 512M 128M" -c "write -P 0xa5 3584M 256M" "$CIMG" >"$RUN/qemu-io.out" 2>&1 ||
    { cat "$RUN/qemu-io.out" >&2; die "qemu-io failed on the convert image"; }
# The raw file for cp: the same disk, made by qemu-img (zeros as holes).
qemu-img convert -f vhdx -O raw "$CIMG" "$SRCRAW"
sync
t1=$EPOCHREALTIME
"$VERIFY" --quiet "$CIMG" >/dev/null || die "vhdx-verify does not find the convert image clean"
c_apparent=$(stat -c %s "$CIMG")
c_disk=$(du -k "$CIMG" | awk '{ print $1 }')
r_disk=$(du -k "$SRCRAW" | awk '{ print $1 }')
VSIZE=$(stat -c %s "$SRCRAW")
((VSIZE == 4294967296)) || die "raw source is $VSIZE bytes, not 4 GiB"
say "  made in $(sec $(($(usec "$t1") - $(usec "$t0")))) s: image $(mib $((c_apparent / 1024))) MiB ($(mib "$c_disk") MiB on disk), raw source 4096 MiB ($(mib "$r_disk") MiB on disk)"

# check_output LABEL FILE: the same bytes as the raw source; then removed.
check_output() {
    local size disk
    size=$(stat -c %s -- "$2")
    disk=$(du -k -- "$2" | awk '{ printf "%.0f", $1 / 1024 }')
    cmp -- "$SRCRAW" "$2" >/dev/null || die "$1: output differs from the raw source (made by qemu-img convert)"
    say "    $1: output identical to the raw source (cmp); $size bytes, $disk MiB on disk"
    rm -f -- "$2"
}

# convert_set PREFIX DSTDIR COLD NRUNS WARMUP: the four commands in turn,
# NRUNS times (after one untimed warm-up run of each if WARMUP); after the
# last run of each command its output is compared with the raw source and
# removed.
convert_set() {
    local p=$1 dir=$2 cold=$3 n=$4 warm=$5 r last
    local out_v=$dir/out-vhdx.raw out_q=$dir/out-qemu.raw out_n=$dir/out-cp-never.raw out_c=$dir/out-cp.raw
    if ((warm)); then
        for out in "$out_v" "$out_q" "$out_n" "$out_c"; do rm -f -- "$out"; done
        "$VHDX" convert -O raw "$CIMG" "$out_v"
        rm -f -- "$out_v"
        qemu-img convert -f vhdx -O raw "$CIMG" "$out_q"
        rm -f -- "$out_q"
        cp --sparse=never -- "$SRCRAW" "$out_n"
        rm -f -- "$out_n"
        cp -- "$SRCRAW" "$out_c"
        rm -f -- "$out_c"
        sync
    fi
    for ((r = 1; r <= n; r++)); do
        last=$((r == n))
        measure_copy "${p}vhdx convert" "$out_v" "$CIMG" "$cold" "$VHDX" convert -O raw "$CIMG" "$out_v"
        ((last)) && check_output "${p}vhdx convert" "$out_v"
        measure_copy "${p}qemu-img convert" "$out_q" "$CIMG" "$cold" qemu-img convert -f vhdx -O raw "$CIMG" "$out_q"
        ((last)) && check_output "${p}qemu-img convert" "$out_q"
        measure_copy "${p}cp --sparse=never" "$out_n" "$SRCRAW" "$cold" cp --sparse=never -- "$SRCRAW" "$out_n"
        ((last)) && check_output "${p}cp --sparse=never" "$out_n"
        measure_copy "${p}cp" "$out_c" "$SRCRAW" "$cold" cp -- "$SRCRAW" "$out_c"
        ((last)) && check_output "${p}cp" "$out_c"
    done
    sync
}

say "  warm cache, DST in $RUN: $REPS runs each after one warm-up"
convert_set "" "$RUN" 0 "$REPS" 1

shm_free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }' || echo 0)
if ((TMPFS)) && ((${shm_free:-0} >= 10 * 1024 * 1024)); then
    SHM=$(mktemp -d /dev/shm/vhdx-bench.XXXXXX)
    say "  warm cache, DST in $SHM (tmpfs: no disk writes): $REPS runs each after one warm-up"
    convert_set "tmpfs " "$SHM" 0 "$REPS" 1
    rm -rf -- "$SHM"
    SHM=
else
    TMPFS=0
fi

if ((COLD)); then
    say "  cold cache (caches dropped before each run), DST in $RUN: $COLD_REPS runs each"
    convert_set "cold " "$RUN" 1 "$COLD_REPS" 0
fi

# ------------------------------------------------------------------ table

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mbps() { awk -v u="$1" -v s="$VSIZE" 'BEGIN { printf "%.0f", s / 2^20 / (u / 1e6) }'; }

verify_header() {
    say "| command                | wall (ms) | peak RSS (MiB) | time / vhdx-verify | RSS / vhdx-verify |"
    say "|------------------------|----------:|---------------:|-------------------:|------------------:|"
}
verify_row() { # LABEL BASE
    printf '| %-22s | %9s | %14s | %18s | %17s |\n' "$1" "$(ms "${WALL[$1]}")" "$(mib "${RSS[$1]}")" \
        "$(ratio "${WALL[$1]}" "${WALL[$2]}")" "$(ratio "${RSS[$1]}" "${RSS[$2]}")"
}
convert_row() { # LABEL BASE
    printf '| %-24s | %8s | %11s | %14s | %5s | %14s | %11s | %13s |\n' "$1" \
        "$(sec "${WALL[$1]}")" "$(sec "${WALLS[$1]}")" "$(mbps "${WALLS[$1]}")" "$(mbps "${WALL[$1]}")" \
        "$(mib "${RSS[$1]}")" "$(ratio "${WALL[$1]}" "${WALL[$2]}")" "$(ratio "${WALLS[$1]}" "${WALLS[$2]}")"
}

say ""
say "== results ($(date -u +%Y-%m-%d), commit $COMMIT, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs)"
say ""
say "Verify: 2 TiB dynamic, 1 MiB blocks, $VERIFY_BLOCKS blocks allocated; warm cache, best of $VERIFY_REPS"
say ""
verify_header
for l in "vhdx-verify" "qemu-img check" "vhdx-verify --version" "qemu-img --version"; do
    verify_row "$l" "vhdx-verify"
done
if ((COLD)); then
    say ""
    say "Cold cache, best of $COLD_REPS (wall under /usr/bin/time)"
    say ""
    verify_header
    verify_row "cold vhdx-verify" "cold vhdx-verify"
    verify_row "cold qemu-img check" "cold vhdx-verify"
fi
q=$(ratio "${WALL[qemu-img check]}" "${WALL[vhdx-verify]}")
m=$(ratio "${RSS[vhdx-verify]}" "${RSS[qemu-img check]}")
say ""
say "verify goal: vhdx-verify >= 2x faster than qemu-img check: measured ${q}x $(awk -v r="$q" 'BEGIN { print (r >= 2 ? "(met)" : "(NOT met)") }');"
say "             peak RSS <= 0.5x qemu-img check's: measured ${m}x $(awk -v r="$m" 'BEGIN { print (r <= 0.5 ? "(met)" : "(NOT met)") }')"

convert_table() { # PREFIX TITLE
    local p=$1
    say ""
    say "$2"
    say ""
    say "| command                  | wall (s) | + fsync (s) | MiB/s (+fsync) | MiB/s | peak RSS (MiB) | time / vhdx | +fsync / vhdx |"
    say "|--------------------------|---------:|------------:|---------------:|------:|---------------:|------------:|--------------:|"
    for l in "vhdx convert" "qemu-img convert" "cp --sparse=never" "cp"; do
        convert_row "$p$l" "${p}vhdx convert"
    done
}
convert_table "" "Convert: 4 GiB disk (3.25 GiB allocated) to raw; DST on the same file system; warm cache, best of $REPS. MiB/s = 4096 MiB of disk / time"
if ((TMPFS)); then
    convert_table "tmpfs " "Same, DST on tmpfs (/dev/shm): no disk writes; warm cache, best of $REPS"
fi
if ((COLD)); then
    convert_table "cold " "Same, DST on the same file system; cold cache, best of $COLD_REPS"
fi
qs=$(ratio "${WALLS[qemu-img convert]}" "${WALLS[vhdx convert]}")
qn=$(ratio "${WALL[qemu-img convert]}" "${WALL[vhdx convert]}")
cs=$(ratio "${WALLS[cp --sparse=never]}" "${WALLS[vhdx convert]}")
cn=$(ratio "${WALL[cp --sparse=never]}" "${WALL[vhdx convert]}")
cps=$(ratio "${WALLS[cp]}" "${WALLS[vhdx convert]}")
say ""
say "convert goal: >= 1.5x qemu-img convert's speed: measured ${qs}x with both flushed, ${qn}x as the commands run"
say "              (vhdx convert fsyncs DST; qemu-img convert and cp do not)"
say "              >= 0.8x cp's throughput: measured ${cs}x of cp --sparse=never (${cn}x unflushed), ${cps}x of cp, with both flushed"
