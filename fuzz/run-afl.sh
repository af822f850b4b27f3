#!/usr/bin/env bash
# Fuzzes one harness with AFL++ on several cores, then reports what it found.
#
#   fuzz/run-afl.sh HARNESS [-j JOBS] [-t SECONDS] [-o OUTDIR]
#
#   HARNESS     a harness listed in fuzz/BUILD (e.g. fuzz_header)
#   -j JOBS     afl-fuzz instances (default: nproc): one "-M main" and
#               JOBS-1 "-S secN"
#   -t SECONDS  how long each instance fuzzes (afl-fuzz -V; default 1800)
#   -o OUTDIR   afl-fuzz output directory (default fuzz/out/afl-HARNESS);
#               an existing one is resumed (AFL_AUTORESUME)
#
# Builds the harness three times through fuzz/build.sh with afl-clang-fast
# and AFL++'s libFuzzer driver (libAFLDriver.a): plain (main and the
# secondaries), ASan+UBSan (sec1, or main when JOBS is 1) and CmpLog
# (main's -c binary). Every instance gets the harness's dictionary, its
# seed corpus (corpus/HARNESS/ plus corpus/regressions/HARNESS/), the
# max_len and timeout of its .options file, and runs under nice -n 10.
# Then prints each instance's and the total execs_done, corpus_count,
# saved_crashes and saved_hangs from its fuzzer_stats, and lists the crash
# and hang files. Exits 0 when nothing was saved, 1 when any crash or hang
# was saved, 2 on a usage, build or start error. Runs unattended (no UI).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
AFL_DRIVER="${AFL_DRIVER:-/usr/lib/afl/libAFLDriver.a}"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

die() {
    echo "run-afl: $*" >&2
    exit 2
}

harness=""
jobs=$(nproc)
seconds=1800
outdir=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        -j)
            [ "$#" -ge 2 ] || die "-j needs a number"
            jobs="$2"
            shift 2
            ;;
        -t)
            [ "$#" -ge 2 ] || die "-t needs a number of seconds"
            seconds="$2"
            shift 2
            ;;
        -o)
            [ "$#" -ge 2 ] || die "-o needs a directory"
            outdir="$2"
            shift 2
            ;;
        -*)
            die "unknown option '$1' (see --help)"
            ;;
        *)
            [ -z "$harness" ] || die "one harness at a time ('$harness' and '$1' given)"
            harness="$1"
            shift
            ;;
    esac
done

ALL_FUZZERS=$(sed -n 's/^ *"\(fuzz_[a-z_]*\)",$/\1/p' "$SRC_DIR/fuzz/BUILD")
[ -n "$harness" ] || die "no harness given; known: $(echo "$ALL_FUZZERS" | tr '\n' ' ')(see --help)"
grep -qx -- "$harness" <<<"$ALL_FUZZERS" ||
    die "unknown harness '$harness'; known: $(echo "$ALL_FUZZERS" | tr '\n' ' ')"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "-j wants a positive number, not '$jobs'"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "-t wants a positive number of seconds, not '$seconds'"
for tool in afl-fuzz afl-clang-fast afl-clang-fast++; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian package afl++)"
done
[ -f "$AFL_DRIVER" ] || die "no AFL++ libFuzzer driver at $AFL_DRIVER (set AFL_DRIVER)"

outdir="${outdir:-$SRC_DIR/fuzz/out/afl-$harness}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
build="$outdir/build"
seeds="$outdir/seeds"
logs="$outdir/logs"
mkdir -p "$build" "$seeds" "$logs"

# --- build ----------------------------------------------------------------
# build_variant NAME CFLAGS CXXFLAGS [VAR=VALUE...]: fuzz/build.sh with AFL++.
build_variant() {
    local name="$1" cflags="$2" cxxflags="$3"
    shift 3
    echo "run-afl: building $harness ($name)"
    if ! env "$@" AFL_QUIET=1 CC=afl-clang-fast CXX=afl-clang-fast++ \
            CFLAGS="$cflags" CXXFLAGS="$cxxflags" LIB_FUZZING_ENGINE="$AFL_DRIVER" \
            FUZZ_TARGETS="$harness" OUT="$build/$name" WORK="$build/work-$name" \
            nice -n 10 "$SRC_DIR/fuzz/build.sh" >"$logs/build-$name.log" 2>&1; then
        tail -30 "$logs/build-$name.log" >&2
        die "the $name build failed (log: $logs/build-$name.log)"
    fi
    rm -rf "$build/work-$name"
}
build_variant plain "-O2 -g" ""
build_variant asan "-O1 -g -fno-omit-frame-pointer" "" AFL_USE_ASAN=1 AFL_USE_UBSAN=1
build_variant cmplog "-O2 -g" "" AFL_LLVM_CMPLOG=1

# --- seeds and options ------------------------------------------------------
cp "$SRC_DIR/corpus/$harness"/* "$seeds"/
if [ -d "$SRC_DIR/corpus/regressions/$harness" ]; then
    for f in "$SRC_DIR/corpus/regressions/$harness"/*; do
        [ -f "$f" ] && cp "$f" "$seeds/regression-$(basename "$f")"
    done
fi
options="$SRC_DIR/fuzz/$harness.options"
max_len=$(sed -n 's/^ *max_len *= *\([0-9]*\).*/\1/p' "$options" | head -1)
timeout_s=$(sed -n 's/^ *timeout *= *\([0-9]*\).*/\1/p' "$options" | head -1)
# A generous default: an input slower than this under ASan is worth a look,
# but a slow machine should not turn a seed into a "hang".
timeout_ms=$(( ${timeout_s:-5} * 1000 ))

# --- fuzz -------------------------------------------------------------------
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_NO_AFFINITY=1 AFL_FAST_CAL=1 AFL_CMPLOG_ONLY_NEW=1 AFL_AUTORESUME=1
if [ -n "$max_len" ]; then
    export AFL_INPUT_LEN_MAX="$max_len"
fi
# afl-fuzz sets the sanitizer options it needs (abort_on_error, symbolize=0)
# when these are unset, and refuses some values of them.
unset ASAN_OPTIONS UBSAN_OPTIONS MSAN_OPTIONS LSAN_OPTIONS

schedules=(fast explore coe lin quad exploit rare)
names=()
pids=()
# shellcheck disable=SC2317  # called from the trap below
stop_all() {
    local p
    for p in "${pids[@]}"; do
        kill -INT "$p" 2>/dev/null || true
    done
}
trap 'stop_all; exit 130' INT TERM

for ((i = 0; i < jobs; i++)); do
    if [ "$i" -eq 0 ]; then
        name=main
        role=(-M main -c "$build/cmplog/$harness")
    else
        name="sec$i"
        role=(-S "$name" -p "${schedules[$(( (i - 1) % ${#schedules[@]} ))]}")
    fi
    variant=plain
    if [ "$i" -eq 1 ] || [ "$jobs" -eq 1 ]; then
        variant=asan
    fi
    echo "run-afl: starting $name ($variant build) for $seconds s"
    # The watchdog only matters if -V does not stop the instance (it does
    # not count the time spent calibrating the seeds).
    timeout -s INT -k 60 $((seconds + 900)) \
        nice -n 10 afl-fuzz -i "$seeds" -o "$outdir" "${role[@]}" \
        -x "$SRC_DIR/fuzz/$harness.dict" -t "$timeout_ms" -V "$seconds" \
        -- "$build/$variant/$harness" >"$logs/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
    # Let main create the output directory's layout first.
    [ "$i" -eq 0 ] && sleep 2
done

start_failed=0
for idx in "${!pids[@]}"; do
    if ! wait "${pids[$idx]}"; then
        echo "run-afl: ${names[$idx]} ended with an error; last lines of $logs/${names[$idx]}.log:"
        tail -15 "$logs/${names[$idx]}.log" | sed 's/^/    /'
        start_failed=1
    fi
done
trap - INT TERM

# --- report -----------------------------------------------------------------
# stat FILE KEY [OLD_KEY]: a value of fuzzer_stats (older AFL++ names as fallback).
stat() {
    local v
    v=$(sed -n "s/^$2 *: *\([0-9]*\).*/\1/p" "$1")
    if [ -z "$v" ] && [ -n "${3:-}" ]; then
        v=$(sed -n "s/^$3 *: *\([0-9]*\).*/\1/p" "$1")
    fi
    echo "${v:-0}"
}

total_execs=0
total_corpus=0
total_crashes=0
total_hangs=0
for name in "${names[@]}"; do
    stats="$outdir/$name/fuzzer_stats"
    if [ ! -f "$stats" ]; then
        echo "run-afl: $name: no fuzzer_stats (it did not start)"
        start_failed=1
        continue
    fi
    execs=$(stat "$stats" execs_done)
    corpus=$(stat "$stats" corpus_count paths_total)
    crashes=$(stat "$stats" saved_crashes unique_crashes)
    hangs=$(stat "$stats" saved_hangs unique_hangs)
    echo "run-afl: $name: execs_done $execs, corpus_count $corpus, saved_crashes $crashes, saved_hangs $hangs"
    total_execs=$((total_execs + execs))
    total_corpus=$((total_corpus + corpus))
    total_crashes=$((total_crashes + crashes))
    total_hangs=$((total_hangs + hangs))
done
echo "run-afl: total ($jobs instances, $seconds s): execs_done $total_execs," \
    "corpus_count $total_corpus (summed over instances), saved_crashes $total_crashes," \
    "saved_hangs $total_hangs"

found=()
for name in "${names[@]}"; do
    for kind in crashes hangs; do
        for f in "$outdir/$name/$kind"/id:*; do
            [ -f "$f" ] && found+=("$f")
        done
    done
done
if [ "${#found[@]}" -gt 0 ] || [ "$total_crashes" -gt 0 ] || [ "$total_hangs" -gt 0 ]; then
    echo "run-afl: saved crash and hang inputs (reproduce with fuzz/regress.sh after copying"
    echo "         one into corpus/regressions/$harness/, or run $build/asan/$harness FILE):"
    printf '    %s\n' "${found[@]}"
    exit 1
fi
if [ "$start_failed" -ne 0 ]; then
    exit 2
fi
echo "run-afl: no crashes or hangs (output in $outdir)"
exit 0
