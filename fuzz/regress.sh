#!/usr/bin/env bash
# Replays every seed input (corpus/<harness>/) and every regression input
# (corpus/regressions/<harness>/) through every harness with no fuzzing
# engine, in the build OSS-Fuzz makes: fuzz/build.sh, so with
# -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (checksums not enforced, the mode
# fuzzer-found inputs were found in), clang with
# -fsanitize=address,undefined -fno-sanitize-recover=all and leak detection,
# linked with fuzz/standalone_main.c in place of libFuzzer.
# (The Bazel <harness>_regress tests replay the same files in the checked,
# non-fuzzing build.)
#
#   fuzz/regress.sh [HARNESS...]     default: every harness in fuzz/BUILD
#
# Prints "regress: <harness>: N inputs run" per harness and ends with
# "regress: N passed, M failed" (inputs). Each harness first runs over all
# its inputs in one process, as a fuzzer would; when that fails, every input
# is run alone so each failing one is named. Exits 1 on any failure.
# REGRESS_TIMEOUT (seconds, default 900) bounds each harness's run.
# REGRESS_SANITIZER=memory builds with MemorySanitizer instead of ASan +
# UBSan (the fuzzing build needs no uninstrumented library: it makes its
# GUIDs without libuuid).
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
esac

ALL_FUZZERS=$(sed -n 's/^ *"\(fuzz_[a-z_]*\)",$/\1/p' "$SRC_DIR/fuzz/BUILD")
if [ "$#" -gt 0 ]; then
    harnesses=("$@")
else
    read -r -a harnesses <<<"$(echo "$ALL_FUZZERS" | tr '\n' ' ')"
fi
for h in "${harnesses[@]}"; do
    if ! grep -qx -- "$h" <<<"$ALL_FUZZERS"; then
        echo "regress: unknown harness '$h'; known: $(echo "$ALL_FUZZERS" | tr '\n' ' ')" >&2
        exit 2
    fi
done

passed=0
failed=0
failures=()

# A regression directory whose harness no longer exists would be skipped
# silently otherwise.
for d in "$SRC_DIR"/corpus/regressions/*/; do
    [ -d "$d" ] || continue
    h=$(basename "$d")
    if ! grep -qx -- "$h" <<<"$ALL_FUZZERS"; then
        echo "regress: corpus/regressions/$h/ names no harness in fuzz/BUILD"
        failed=$((failed + 1))
        failures+=("corpus/regressions/$h/")
    fi
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

export CC=clang CXX=clang++
case "${REGRESS_SANITIZER:-address}" in
    address)
        export CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
        export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" ;;
    memory)
        export CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=memory -fsanitize-memory-track-origins"
        export CXXFLAGS="-fsanitize=memory" ;;
    *)
        echo "regress: REGRESS_SANITIZER is address or memory" >&2
        exit 2 ;;
esac
export OUT="$WORK/out"
# shellcheck disable=SC2086
$CC $CFLAGS -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
    -I"$SRC_DIR/include" -I"$SRC_DIR/src" -I"$SRC_DIR/fuzz" \
    -c "$SRC_DIR/fuzz/standalone_main.c" -o "$WORK/standalone_main.o"
export LIB_FUZZING_ENGINE="$WORK/standalone_main.o"
if ! FUZZ_TARGETS="${harnesses[*]}" WORK="$WORK/build" "$SRC_DIR/fuzz/build.sh" \
        >"$WORK/build.log" 2>&1; then
    echo "regress: the build failed; last lines of its log:"
    tail -30 "$WORK/build.log"
    echo "regress: 0 passed, 1 failed"
    exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
LIMIT="${REGRESS_TIMEOUT:-900}"

for h in "${harnesses[@]}"; do
    inputs=()
    for dir in "corpus/$h" "corpus/regressions/$h"; do
        [ -d "$SRC_DIR/$dir" ] || continue
        while IFS= read -r -d '' file; do
            inputs+=("$file")
        done < <(cd "$SRC_DIR" && find "$dir" -type f ! -name '.*' -print0 | sort -z)
    done
    if [ "${#inputs[@]}" -eq 0 ]; then
        echo "regress: $h: no inputs in corpus/$h/"
        failed=$((failed + 1))
        failures+=("$h (no inputs)")
        continue
    fi
    log="$WORK/$h.log"
    # Each run is a subshell whose output goes to a log, so its own report
    # of a harness killed by a signal ("Aborted") lands in the log too.
    if (cd "$SRC_DIR" && timeout "$LIMIT" "$OUT/$h" "${inputs[@]}"; exit $?) >"$log" 2>&1; then
        # The driver's own count, so an input it skipped cannot pass unseen.
        ran=$(sed -n 's/^.*: \([0-9]*\) inputs run$/\1/p' "$log" | tail -1)
        if [ "${ran:-0}" -ne "${#inputs[@]}" ]; then
            echo "regress: $h: the driver ran ${ran:-0} of ${#inputs[@]} inputs"
            failed=$((failed + 1))
            failures+=("$h (inputs skipped)")
            continue
        fi
        echo "regress: $h: ${#inputs[@]} inputs run"
        passed=$((passed + ${#inputs[@]}))
        continue
    fi
    # Something failed: run each input alone to name the failing ones.
    echo "regress: $h: the run over all ${#inputs[@]} inputs failed; running each alone"
    for input in "${inputs[@]}"; do
        one="$WORK/$h.one.log"
        if (cd "$SRC_DIR" && timeout "$LIMIT" "$OUT/$h" "$input"; exit $?) >"$one" 2>&1; then
            passed=$((passed + 1))
        else
            rc=$?
            [ "$rc" -eq 124 ] && echo "regress: $h: TIMEOUT (${LIMIT} s) on $input"
            echo "regress: $h: FAILED on $input; last lines of its output:"
            tail -25 "$one" | sed 's/^/    /'
            failed=$((failed + 1))
            failures+=("$input")
        fi
    done
    echo "regress: $h: ${#inputs[@]} inputs run"
done

if [ "$failed" -gt 0 ]; then
    echo "regress: failing inputs:"
    printf '    %s\n' "${failures[@]}"
fi
echo "regress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
