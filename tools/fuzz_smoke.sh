#!/usr/bin/env bash
# Runs every libFuzzer harness for FUZZ_SECONDS (default 20) over a copy of
# its seed corpus, built through fuzz/build.sh (the OSS-Fuzz contract).
# Fails on any crash, leak, timeout or out-of-memory. Prints, per harness,
# the executions run and the coverage reached.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_EACH="${FUZZ_SECONDS:-20}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

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
    if (cd "$WORK" && "$bin" -max_total_time="$SECONDS_EACH" -timeout=25 -rss_limit_mb=2560 \
            -malloc_limit_mb=2560 -dict="$OUT/$name.dict" -print_final_stats=1 \
            "$corpus" >"$log" 2>&1); then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz: $name ok: ${execs:-0} executions, $cov"
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
