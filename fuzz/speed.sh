#!/usr/bin/env bash
# Measures the speed of the fuzz harnesses as OSS-Fuzz runs them.
#
#   fuzz/speed.sh [-t SECONDS] [HARNESS...]   (default: every harness in fuzz/BUILD)
#
# Builds them with fuzz/build.sh (clang, libFuzzer, ASan + UBSan with
# -fno-sanitize-recover=all, the fuzzing build mode), then runs each alone
# for SECONDS (-t, or the environment's FUZZ_SECONDS; default 60) from a copy of its seed corpus (corpus/HARNESS/
# plus corpus/regressions/HARNESS/: the committed corpus is not changed),
# with its dictionary, -timeout=25, -rss_limit_mb=2560 and
# -malloc_limit_mb=2560, and prints a table of libFuzzer's
# average_exec_per_sec per harness with the goal (fuzz/CAMPAIGNS.md) and
# whether it was met, and the `uptime` load averages before and after each
# run (the figures mean little on a loaded machine). A crash or leak is
# reported as FAILED. Exits 1 if a run failed, 0 otherwise (a missed goal is
# printed, not an error). WORKDIR (default a temporary directory, removed)
# keeps the build and logs when set.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
SECS="${FUZZ_SECONDS:-60}"
if [ "${1:-}" = "-t" ]; then
    SECS="$2"
    shift 2
fi
if [ -n "${WORKDIR:-}" ]; then
    W="$WORKDIR"
    mkdir -p "$W"
else
    W="$(mktemp -d)"
    trap 'rm -rf "$W"' EXIT
fi

# Goals in executions per second (fuzz/CAMPAIGNS.md, "Speed"); 0: none.
goal() {
    case "$1" in
        fuzz_image | fuzz_image_options | fuzz_replay_diff) echo 2000 ;;
        fuzz_image_struct) echo 3000 ;;
        fuzz_write_ops) echo 200 ;;
        *) echo 0 ;;
    esac
}

export CC=clang CXX=clang++
export CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
export CXXFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export OUT="$W/out"
if [ "$#" -gt 0 ]; then
    export FUZZ_TARGETS="$*"
fi
WORK="$W/build" "$SRC_DIR/fuzz/build.sh" >/dev/null

loads() { uptime | sed 's/.*load average: *//'; }

failed=0
printf '%-22s %10s %8s %-8s %-18s %s\n' harness exec/s goal met load-before load-after
for bin in "$OUT"/fuzz_*; do
    case "$bin" in *.dict | *.options | *.zip) continue ;; esac
    name=$(basename "$bin")
    corpus="$W/corpus-$name"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$SRC_DIR/corpus/$name"/* "$corpus"/
    if [ -d "$SRC_DIR/corpus/regressions/$name" ]; then
        find "$SRC_DIR/corpus/regressions/$name" -type f ! -name '.*' -exec cp {} "$corpus"/ \;
    fi
    log="$W/$name.log"
    before=$(loads)
    if (cd "$W" && "$bin" -max_total_time="$SECS" -timeout=25 -rss_limit_mb=2560 \
            -malloc_limit_mb=2560 -dict="$OUT/$name.dict" -print_final_stats=1 \
            "$corpus" >"$log" 2>&1); then
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        g=$(goal "$name")
        if [ "$g" -eq 0 ]; then
            met="-"
        elif [ "${rate:-0}" -ge "$g" ]; then
            met="met"
        else
            met="NOT-MET"
        fi
        printf '%-22s %10s %8s %-8s %-18s %s\n' "$name" "${rate:-?}" "$g" "$met" \
            "$before" "$(loads)"
    else
        printf '%-22s %10s %8s %-8s %-18s %s\n' "$name" FAILED "$(goal "$name")" - \
            "$before" "$(loads)"
        tail -30 "$log" >&2
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
