#!/usr/bin/env bash
# Whole-disk convert, both directions, against qemu-img and cp (bench/README.md,
# section "Convert against qemu-img and cp").
#
#   bench/run_convert_bench.sh [--keep] [WORKDIR]
#
# Builds //tools:vhdx with `bazel build -c opt`, then, in a new directory
# under WORKDIR (default: ${TMPDIR:-/var/tmp}; it must be a real disk, not
# tmpfs, and have $MIN_FREE_GIB GiB free):
#
#   disk.raw  a 4 GiB sparse raw disk holding 2.5 GiB of random data
#             (python3, seed 15) in 160 extents of varied sizes, 4 KiB
#             aligned, with holes of varied sizes between them;
#   img.vhdx  the same disk as a dynamic VHDX (qemu-img convert -O vhdx
#             -o subformat=dynamic).
#
# Then, in one run, side by side, each command followed by `sync OUT`:
#   vhdx->raw:  vhdx convert -O raw img.vhdx OUT
#               qemu-img convert -f vhdx -O raw img.vhdx OUT
#               cp --sparse=always disk.raw OUT   (the floor: the same bytes)
#   raw->vhdx:  vhdx convert -O vhdx disk.raw OUT
#               qemu-img convert -f raw -O vhdx -o subformat=dynamic disk.raw OUT
#               cp --sparse=always disk.raw OUT   (the floor)
# Each run: OUT removed and everything synced (untimed), the source read
# once (warm cache), then the command under /usr/bin/time (user, sys, peak
# RSS) and `sync OUT`; wall = bash $EPOCHREALTIME around both. Rows
# alternate run by run. The figures are medians of $REPS_RAW (default 5)
# and $REPS_VHDX (default 3) runs. The 1-minute load average is recorded
# before every run (another build may share the machine); the table gives
# its range. Outputs of the last run are checked (cmp, qemu-img compare).
#
# Environment: REPS_RAW, REPS_VHDX, BAZEL (default bazel), MIN_FREE_GIB
# (default 12), SEED (default 15).

set -euo pipefail
export LC_ALL=C

# ---------------------------------------------------------------- options

KEEP=0
WORKDIR=
for arg in "$@"; do
    case "$arg" in
    --keep) KEEP=1 ;;
    -h | --help)
        sed -n '2,34s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    -*)
        echo "run_convert_bench.sh: unknown option $arg" >&2
        exit 2
        ;;
    *)
        if [[ -n "$WORKDIR" ]]; then
            echo "run_convert_bench.sh: only one WORKDIR" >&2
            exit 2
        fi
        WORKDIR=$arg
        ;;
    esac
done
WORKDIR=${WORKDIR:-${TMPDIR:-/var/tmp}}

REPS_RAW=${REPS_RAW:-5}
REPS_VHDX=${REPS_VHDX:-3}
BAZEL=${BAZEL:-bazel}
MIN_FREE_GIB=${MIN_FREE_GIB:-12}
SEED=${SEED:-15}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
    echo "run_convert_bench.sh: $*" >&2
    exit 2
}

for tool in qemu-img /usr/bin/time /usr/bin/python3 cmp awk df cp sync "$BAZEL"; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
for n in REPS_RAW REPS_VHDX; do
    [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "$n must be a positive integer"
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer"

# ------------------------------------------------------- free space check

mkdir -p "$WORKDIR"
fstype=$(df --output=fstype "$WORKDIR" 2>/dev/null | awk 'NR == 2 { print $1 }' || true)
[[ "$fstype" != tmpfs && "$fstype" != ramfs ]] ||
    die "$WORKDIR is on $fstype: give a WORKDIR on a disk (the syncs are part of what is measured)"
free_kib=$(df -Pk "$WORKDIR" | awk 'NR == 2 { print $4 }')
if ((free_kib < MIN_FREE_GIB * 1024 * 1024)); then
    die "$WORKDIR has $((free_kib / 1024 / 1024)) GiB free; the benchmark needs at least $MIN_FREE_GIB GiB (source raw and image, two outputs). Free some space or give another WORKDIR."
fi

RUN=$(mktemp -d "$WORKDIR/vhdx-convert-bench.XXXXXX")
cleanup() {
    if ((KEEP)); then
        echo "kept: $RUN"
    else
        rm -rf -- "$RUN"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }

# ------------------------------------------------------------------ build

say "== building (bazel build -c opt //tools:vhdx)"
(cd "$ROOT" && "$BAZEL" build -c opt //tools:vhdx)
BIN=$(cd "$ROOT" && "$BAZEL" info -c opt bazel-bin 2>/dev/null)/tools
# A private copy: a concurrent build cannot swap it during the runs.
mkdir "$RUN/bin"
cp "$BIN/vhdx" "$RUN/bin/"
VHDX=$RUN/bin/vhdx
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n "$(cd "$ROOT" && git status --porcelain -- src include tools 2>/dev/null)" ]]; then
    COMMIT="$COMMIT (+ uncommitted changes in src/include/tools)"
fi

# ----------------------------------------------------------------- inputs

RAW=$RUN/disk.raw
IMG=$RUN/img.vhdx
OUT_RAW=$RUN/out.raw
OUT_VHDX=$RUN/out.vhdx

say "== inputs: 4 GiB raw disk with 2.5 GiB of random data (seed $SEED), and a dynamic VHDX of it"
/usr/bin/python3 - "$RAW" "$SEED" <<'EOF'
import random, sys
path, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
G = 4096
size, data, extents = 4 << 30, (5 << 30) // 2, 160

def split(total, n):
    # n pieces of total bytes, multiples of G, of varied sizes (some small).
    w = [rng.random() ** 3 + 0.002 for _ in range(n)]
    units = total // G
    parts = [max(1, int(x / sum(w) * units)) for x in w]
    parts[-1] += units - sum(parts)
    assert parts[-1] >= 1
    return [p * G for p in parts]

lens = split(data, extents)
gaps = split(size - data, extents + 1)
with open(path, "wb") as f:
    f.truncate(size)
    off = 0
    for i, n in enumerate(lens):
        off += gaps[i]
        f.seek(off)
        left = n
        while left:
            k = min(left, 64 << 20)
            f.write(rng.randbytes(k))
            left -= k
        off += n
    assert off + gaps[-1] == size
EOF
qemu-img convert -q -f raw -O vhdx -o subformat=dynamic "$RAW" "$IMG"
sync
r_disk=$(du -k "$RAW" | awk '{ print $1 }')
i_size=$(stat -c %s "$IMG")
VSIZE=$(stat -c %s "$RAW")
say "  disk.raw: $((VSIZE >> 20)) MiB, $((r_disk / 1024)) MiB on disk; img.vhdx: $((i_size >> 20)) MiB"

# ------------------------------------------------------------ measurement

# Per label: space-separated lists of the runs' figures.
declare -A L_WALL L_USER L_SYS L_RSS
LOAD_MIN=
LOAD_MAX=

usec() { local t=${1/./}; echo $((10#$t)); }

# measure LABEL SRC OUT cmd...: one run (see the header).
measure() {
    local label=$1 src=$2 out=$3 t0 t1 rc=0 load u s m
    shift 3
    rm -f -- "$out"
    sync
    cat -- "$src" >/dev/null
    load=$(awk '{ print $1 }' /proc/loadavg)
    if [[ -z "$LOAD_MIN" ]] || awk -v a="$load" -v b="$LOAD_MIN" 'BEGIN { exit !(a < b) }'; then LOAD_MIN=$load; fi
    if [[ -z "$LOAD_MAX" ]] || awk -v a="$load" -v b="$LOAD_MAX" 'BEGIN { exit !(a > b) }'; then LOAD_MAX=$load; fi
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %U %S %M' -o "$RUN/time.out" "$@" >"$RUN/cmd.out" 2>"$RUN/cmd.err" || rc=$?
    ((rc == 0)) && { sync -- "$out" || rc=$?; }
    t1=$EPOCHREALTIME
    if ((rc != 0)); then
        echo "run_convert_bench.sh: $label: exit status $rc: $*" >&2
        cat "$RUN/cmd.out" "$RUN/cmd.err" "$RUN/time.out" >&2
        exit 2
    fi
    read -r _ u s m < <(tail -n 1 "$RUN/time.out")
    L_WALL[$label]+="$(awk -v a="$(usec "$t0")" -v b="$(usec "$t1")" 'BEGIN { printf "%.3f", (b - a) / 1e6 }') "
    L_USER[$label]+="$u "
    L_SYS[$label]+="$s "
    L_RSS[$label]+="$m "
    printf '  %-26s wall %7s s  user %5s  sys %5s  RSS %6s KiB  (load %s)\n' "$label" \
        "$(awk -v a="$(usec "$t0")" -v b="$(usec "$t1")" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')" \
        "$u" "$s" "$m" "$load"
}

median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

say ""
say "== vhdx->raw: $REPS_RAW runs of each (warm cache, each followed by sync OUT)"
for ((r = 1; r <= REPS_RAW; r++)); do
    measure "raw: vhdx convert" "$IMG" "$OUT_RAW" "$VHDX" convert -O raw "$IMG" "$OUT_RAW"
    ((r == REPS_RAW)) && { cmp -- "$RAW" "$OUT_RAW" || die "vhdx convert -O raw: output differs from disk.raw"; }
    measure "raw: qemu-img convert" "$IMG" "$OUT_RAW" qemu-img convert -f vhdx -O raw "$IMG" "$OUT_RAW"
    ((r == REPS_RAW)) && { cmp -- "$RAW" "$OUT_RAW" || die "qemu-img convert -O raw: output differs from disk.raw"; }
    measure "raw: cp --sparse=always" "$RAW" "$OUT_RAW" cp --sparse=always -- "$RAW" "$OUT_RAW"
done
rm -f -- "$OUT_RAW"

say ""
say "== raw->vhdx: $REPS_VHDX runs of each (warm cache, each followed by sync OUT)"
for ((r = 1; r <= REPS_VHDX; r++)); do
    measure "vhdx: vhdx convert" "$RAW" "$OUT_VHDX" "$VHDX" convert -O vhdx "$RAW" "$OUT_VHDX"
    ((r == REPS_VHDX)) && { qemu-img compare -q -f raw -F vhdx "$RAW" "$OUT_VHDX" || die "vhdx convert -O vhdx: output differs from disk.raw"; }
    measure "vhdx: qemu-img convert" "$RAW" "$OUT_VHDX" qemu-img convert -f raw -O vhdx -o subformat=dynamic "$RAW" "$OUT_VHDX"
    measure "vhdx: cp --sparse=always" "$RAW" "$OUT_VHDX" cp --sparse=always -- "$RAW" "$OUT_VHDX"
done
rm -f -- "$OUT_VHDX"

# ------------------------------------------------------------------ table

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A M_WALL M_CPU
table() { # PREFIX TITLE
    local p=$1 l w u s m
    say ""
    say "$2"
    say ""
    say "| command                    | wall (s) | user (s) | sys (s) | peak RSS (MiB) | wall / cp | wall / qemu-img | CPU / qemu-img |"
    say "|----------------------------|---------:|---------:|--------:|---------------:|----------:|----------------:|---------------:|"
    for l in "vhdx convert" "qemu-img convert" "cp --sparse=always"; do
        w=$(median "${L_WALL[$p$l]}")
        u=$(median "${L_USER[$p$l]}")
        s=$(median "${L_SYS[$p$l]}")
        m=$(median "${L_RSS[$p$l]}")
        M_WALL[$p$l]=$w
        M_CPU[$p$l]=$(awk -v a="$u" -v b="$s" 'BEGIN { print a + b }')
    done
    for l in "vhdx convert" "qemu-img convert" "cp --sparse=always"; do
        w=${M_WALL[$p$l]}
        u=$(median "${L_USER[$p$l]}")
        s=$(median "${L_SYS[$p$l]}")
        m=$(median "${L_RSS[$p$l]}")
        printf '| %-26s | %8.2f | %8.2f | %7.2f | %14.1f | %9s | %15s | %14s |\n' "$l" "$w" "$u" "$s" \
            "$(awk -v k="$m" 'BEGIN { print k / 1024 }')" \
            "$(ratio "$w" "${M_WALL[${p}cp --sparse=always]}")" \
            "$(ratio "$w" "${M_WALL[${p}qemu-img convert]}")" \
            "$(ratio "${M_CPU[$p$l]}" "${M_CPU[${p}qemu-img convert]}")"
    done
}

goals() { # PREFIX NAME
    local p=$1 cpr qr cr
    cpr=$(ratio "${M_WALL[${p}vhdx convert]}" "${M_WALL[${p}cp --sparse=always]}")
    qr=$(ratio "${M_WALL[${p}vhdx convert]}" "${M_WALL[${p}qemu-img convert]}")
    cr=$(ratio "${M_CPU[${p}vhdx convert]}" "${M_CPU[${p}qemu-img convert]}")
    say "$2: wall ${cpr}x the cp floor (goal <= 1.1: $(awk -v r="$cpr" 'BEGIN { print (r <= 1.1 ? "met" : "NOT met") }')), ${qr}x qemu-img (goal <= 1: $(awk -v r="$qr" 'BEGIN { print (r <= 1 ? "met" : "NOT met") }')), CPU ${cr}x qemu-img's (goal <= 1: $(awk -v r="$cr" 'BEGIN { print (r <= 1 ? "met" : "NOT met") }'))"
}

say ""
say "== results ($(date -u +%Y-%m-%d), commit $COMMIT, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, $(df --output=fstype "$RUN" | awk 'NR == 2') in $WORKDIR; 1-min load average $LOAD_MIN .. $LOAD_MAX)"
table "raw: " "vhdx->raw: 4 GiB disk, 2.5 GiB data; median of $REPS_RAW runs; wall includes sync OUT; CPU = user + sys"
table "vhdx: " "raw->vhdx: same disk; median of $REPS_VHDX runs; wall includes sync OUT"
say ""
goals "raw: " "vhdx->raw"
goals "vhdx: " "raw->vhdx"
exit 0
