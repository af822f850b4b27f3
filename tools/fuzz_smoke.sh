#!/usr/bin/env bash
# Runs every libFuzzer harness for FUZZ_SECONDS (default 10) over a copy of
# its seed corpus, built through fuzz/build.sh (the OSS-Fuzz contract).
# Fails on any crash, leak, timeout or out-of-memory. Prints, per harness,
# the executions run and the coverage reached.
#
# Bounded by time, not by corpus size: libFuzzer checks -max_total_time only
# once it has run the whole seed corpus, so a large corpus of a slow
# harness could take minutes. Each harness is therefore interrupted (SIGINT,
# libFuzzer's own clean stop: "run interrupted") FUZZ_GRACE seconds (default
# 5) after its time is up; an interrupted run that found nothing counts as
# passed, and the line says it stopped inside the seed corpus.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH="${FUZZ_SECONDS:-10}"
GRACE="${FUZZ_GRACE:-5}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Say so when a command of this script itself fails (set -e would end it silently).
trap 'echo "fuzz: this script failed at line $LINENO: $BASH_COMMAND" >&2' ERR

export CC=clang CXX=clang++
export CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export OUT="$WORK/out"
WORK="$WORK/build" "$SRC_DIR/fuzz/build.sh" >/dev/null

failed=0
total_execs=0
for bin in "$OUT"/fuzz_*; do
    case "$bin" in *.dict|*.options|*.zip) continue ;; esac
    name=$(basename "$bin")
    corpus="$WORK/corpus-$name"
    mkdir -p "$corpus"
    cp "$SRC_DIR/corpus/$name"/* "$corpus"/
    if [ -d "$SRC_DIR/corpus/regressions/$name" ]; then
        cp "$SRC_DIR/corpus/regressions/$name"/* "$corpus"/ 2>/dev/null || true
    fi
    log="$WORK/$name.log"
    rc=0
    (cd "$WORK" && timeout -s INT -k 30 $((SECONDS_EACH + GRACE)) \
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2560 \
        -malloc_limit_mb=2560 -dict="$OUT/$name.dict" -print_final_stats=1 \
        "$corpus" >"$log" 2>&1) || rc=$?
    note=
    # Interrupted at the time bound, with nothing found: a pass.
    if [ "$rc" -eq 124 ] && grep -q "libFuzzer: run interrupted" "$log" &&
        ! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|deadly signal|runtime error" "$log"; then
        rc=0
        note=" (stopped at the time bound, inside the seed corpus)"
    fi
    if [ "$rc" -eq 0 ]; then
        # A run interrupted early may have printed no stats and no coverage
        # line yet: that is not a failure (and must not end the script).
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "fuzz: $name ok: ${execs:-0} executions, ${cov:-no coverage line yet}$note"
        total_execs=$((total_execs + ${execs:-0}))
    else
        echo "fuzz: $name FAILED; last lines of its log:"
        tail -40 "$log"
        mkdir -p "$SRC_DIR/fuzz/crashes"
        cp "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-* \
            "$SRC_DIR/fuzz/crashes/" 2>/dev/null || true
        failed=$((failed + 1))
    fi
done
echo "fuzz: $total_execs executions in all, $failed harness(es) failed"
[ "$failed" -eq 0 ]
