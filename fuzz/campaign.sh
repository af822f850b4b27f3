#!/usr/bin/env bash
# A long libFuzzer campaign over one or more harnesses, built as OSS-Fuzz
# builds them (fuzz/build.sh: clang, ASan + UBSan, the fuzzing build mode).
#
#   fuzz/campaign.sh [-t SECONDS] [-j PARALLEL] [-w WORKDIR] [--merge] HARNESS[:SECONDS]...
#
#   -t SECONDS   wall time per harness (default 1800: 30 minutes); a
#                HARNESS:SECONDS argument sets that harness's own time
#   -j PARALLEL  harnesses run at once, one process each (default 1)
#   -w WORKDIR   keeps the build, the growing corpora, logs and artifacts
#                (default: a new directory under /tmp, kept and printed)
#   --merge      when a harness's run ends, minimises its corpus (the seeds, the
#                regression inputs and what the campaign found) with
#                -merge=1 into corpus/HARNESS/, replacing its contents
#
# Each harness starts from corpus/HARNESS plus corpus/regressions/HARNESS
# (and what WORKDIR/corpus/HARNESS holds from an earlier campaign),
# with its dictionary, -timeout=25, -rss_limit_mb=2560 and
# -malloc_limit_mb=2560 (the OSS-Fuzz limits). Per harness it prints the
# executions, the final coverage and features, the CPU time used and any
# crash, leak, timeout or out-of-memory input (copied to WORKDIR/artifacts).
# Exits 1 if any harness failed, 0 otherwise. Runs at nice 10.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH=1800
PARALLEL=1
WORKDIR=""
MERGE=0

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        -t) SECONDS_EACH="$2"; shift 2 ;;
        -j) PARALLEL="$2"; shift 2 ;;
        -w) WORKDIR="$2"; shift 2 ;;
        --merge) MERGE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "campaign: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    echo "campaign: name at least one harness (fuzz/fuzz_*.c)" >&2
    exit 2
fi
case "$SECONDS_EACH$PARALLEL" in
    *[!0-9]*) echo "campaign: -t and -j take whole numbers" >&2; exit 2 ;;
esac
# HARNESS or HARNESS:SECONDS; the names go on in "$@", the times in TIMES.
declare -A TIMES=()
args=()
for a in "$@"; do
    h="${a%%:*}"
    t="$SECONDS_EACH"
    [ "$h" = "$a" ] || t="${a#*:}"
    case "$t" in
        ''|*[!0-9]*) echo "campaign: $a: the time after ':' must be whole seconds" >&2; exit 2 ;;
    esac
    if [ ! -f "$SRC_DIR/fuzz/$h.c" ]; then
        echo "campaign: no harness $h (fuzz/$h.c)" >&2
        exit 2
    fi
    TIMES[$h]="$t"
    args+=("$h")
done
set -- "${args[@]}"

[ -n "$WORKDIR" ] || WORKDIR="$(mktemp -d /tmp/vhdx-campaign.XXXXXX)"
mkdir -p "$WORKDIR/artifacts" "$WORKDIR/logs"
echo "campaign: work directory $WORKDIR"

export CC=clang CXX=clang++
export CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
OUT="$WORKDIR/out"
FUZZ_TARGETS="$*" OUT="$OUT" WORK="$WORKDIR/build" "$SRC_DIR/fuzz/build.sh" >/dev/null
echo "campaign: harnesses built in $OUT"

# Minimises the seeds, the regression inputs and what the campaign found into
# corpus/HARNESS/, as soon as that harness's run ends.
merge_one() {
    local h="$1" new="$WORKDIR/merged/$1"
    rm -rf "$new"
    mkdir -p "$new"
    nice -n 10 "$OUT/$h" -merge=1 -timeout=25 -rss_limit_mb=2560 -malloc_limit_mb=2560 \
        "$new" "$SRC_DIR/corpus/$h" "$WORKDIR/corpus/$h" >"$WORKDIR/logs/$h.merge" 2>&1
    find "$SRC_DIR/corpus/$h" -type f -delete
    cp "$new"/* "$SRC_DIR/corpus/$h"/
    echo "campaign: $h corpus minimised to $(find "$new" -type f | wc -l) files ($(du -sk "$new" | cut -f1) KiB)"
}

run_one() {
    local h="$1" corpus="$WORKDIR/corpus/$1" log="$WORKDIR/logs/$1.log"
    mkdir -p "$corpus" "$WORKDIR/artifacts/$h"
    cp "$SRC_DIR/corpus/$h"/* "$corpus"/ 2>/dev/null || true
    if [ -d "$SRC_DIR/corpus/regressions/$h" ]; then
        find "$SRC_DIR/corpus/regressions/$h" -type f ! -name README.md -exec cp {} "$corpus"/ \;
    fi
    local rc=0 start=$SECONDS
    (cd "$WORKDIR/artifacts/$h" &&
        /usr/bin/time -f "cpu %U user %S sys" -o "$WORKDIR/logs/$h.time" \
        nice -n 10 "$OUT/$h" -max_total_time="${TIMES[$h]}" -timeout=25 \
            -rss_limit_mb=2560 -malloc_limit_mb=2560 -dict="$OUT/$h.dict" \
            -print_final_stats=1 -artifact_prefix="$WORKDIR/artifacts/$h/" \
            "$corpus" >"$log" 2>&1) || rc=$?
    local execs cov ft cpu
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | sed 's/cov: //')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | sed 's/ft: //')
    cpu=$(tail -1 "$WORKDIR/logs/$h.time" | awk '{printf "%.1f", ($2 + $4) / 60}' 2>/dev/null || echo "?")
    [ "$MERGE" -eq 0 ] || merge_one "$h"
    if [ "$rc" -eq 0 ]; then
        echo "campaign: $h ok: ${execs:-0} executions, cov ${cov:-0}, ft ${ft:-0}, $cpu CPU-minutes, $((SECONDS - start)) s, corpus $(find "$corpus" -type f | wc -l) files"
    else
        echo "campaign: $h FAILED (exit $rc) after ${execs:-?} executions, $cpu CPU-minutes; artifacts:"
        ls "$WORKDIR/artifacts/$h"
        tail -30 "$log"
        return 1
    fi
}

failed=0
pids=()
names=()
for h in "$@"; do
    run_one "$h" > "$WORKDIR/logs/$h.summary" 2>&1 &
    pids+=("$!")
    names+=("$h")
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do
        sleep 5
    done
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=$((failed + 1))
    cat "$WORKDIR/logs/${names[$i]}.summary"
done

echo "campaign: $# harness(es), $failed failed"
[ "$failed" -eq 0 ]
