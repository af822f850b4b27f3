#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: "tools/test.sh").
#   1. installs missing Debian packages (tools/setup.sh);
#   2. tools/lint.sh                     (clang-tidy, cppcheck and scan-build report nothing;
#                                         tools/check_layers.sh finds no call cycle in src/)
#   3. bazel test //...                  (cmocka suites, regression drivers, rule check)
#   4. bazel test --config=asan //...    (the same under ASan + UBSan)
#   5. bazel build --config=fuzz / --config=afl  (both fuzzing configurations build)
#   6. tools/hardening_test.sh           (release build: PIE, full RELRO, NX stack, stack
#                                         protector, FORTIFY, CET, checked with readelf)
#   7. tools/fuzz_smoke.sh               (every harness, FUZZ_SECONDS each, default 10)
#      tools/check_build.sh              (what OSS-Fuzz's check_build checks, per sanitizer of
#                                         project.yaml: instrumented, no missing library, runs)
#   8. fuzz/regress.sh                   (every corpus and regression input through every
#                                         harness in the fuzzing build, ASan + UBSan, no engine;
#                                         then the same under MemorySanitizer)
#   9. tools/coverage.sh                 (line and branch coverage of src/ from the unit
#                                         tests and the corpora; fails under 90% / 80%)
#  10. tools/python_test.sh              (the Python package: pytest, beside Debian's pyvhdi)
#  11. tools/python_test.sh --asan       (the same, the extension built with ASan + UBSan)
#  12. nbdkit/nbdkit_test.sh             (the nbdkit plugin over a Unix socket: nbdcopy,
#                                         qemu-img, qemu-io, nbdinfo --map, SIGKILL)
# Ends with one line "N passed, M failed" counting test cases.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
BAZEL_FLAGS=(--noshow_progress --color=no --curses=no)

STEP_LOGS="$(mktemp -d)"
trap 'rm -rf "$STEP_LOGS"' EXIT
failed_steps=()
step() {
    local name="$1"
    shift
    echo "=== $name"
    local start=$SECONDS
    local log="$STEP_LOGS/step$((passed + failed)).log"
    # The step runs in a subshell of the pipeline: what it counts goes
    # through a file (count_script), not through variables.
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        # A failed bazel test: the end of its own log, while bazel-testlogs
        # still points at this configuration's outputs.
        local target
        for target in $(sed -n 's#^\(//[^ ]*\) .*\(FAILED\|TIMEOUT\|NO STATUS\).*#\1#p' "$log"); do
            local tlog="bazel-testlogs/${target#//}"
            tlog="${tlog/://}/test.log"
            { echo "Test output for $target (last 30 lines):"; tail -n 30 "$tlog" 2>/dev/null; } |
                tee -a "$log.tests"
        done
        failed_steps+=("$name:$log")
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

# Counts the test cases of the last `bazel test` from its logs: cmocka's
# "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)" / "[  SKIPPED ] N
# test(s)", the regression drivers' and shell tests' "N passed, N failed"
# lines. Skipped cases are neither passes nor failures: the summary counts
# them apart.
cases_passed=0
cases_failed=0
cases_skipped=0
count_cases() {
    local p f s
    p=$(cat bazel-testlogs/*/*/test.log bazel-testlogs/*/test.log 2>/dev/null |
        sed -n -e 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' \
               -e 's/^[a-z_]*: \([0-9]*\) passed, [0-9]* failed$/\1/p' \
               -e 's/^.*: \([0-9]*\) inputs run$/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(cat bazel-testlogs/*/*/test.log bazel-testlogs/*/test.log 2>/dev/null |
        sed -n -e 's/^\[  FAILED  \] \([0-9]*\) test(s).*/\1/p' \
               -e 's/^[a-z_]*: [0-9]* passed, \([0-9]*\) failed$/\1/p' | awk '{s+=$1} END {print s+0}')
    s=$(cat bazel-testlogs/*/*/test.log bazel-testlogs/*/test.log 2>/dev/null |
        sed -n -e 's/^\[  SKIPPED \] \([0-9]*\) test(s).*/\1/p' | awk '{s+=$1} END {print s+0}')
    echo "test cases in this run: $p passed, $f failed, $s skipped"
    cases_passed=$((cases_passed + p))
    cases_failed=$((cases_failed + f))
    cases_skipped=$((cases_skipped + s))
}

step "lint (clang-tidy, cppcheck, scan-build, layers)" tools/lint.sh
step "bazel test //..." bazel test "${BAZEL_FLAGS[@]}" --cache_test_results=no //...
count_cases
step "bazel test --config=asan //..." bazel test "${BAZEL_FLAGS[@]}" --cache_test_results=no --config=asan //...
count_cases
step "bazel build --config=fuzz //fuzz:all_fuzzers" \
    bazel build "${BAZEL_FLAGS[@]}" --config=fuzz //fuzz:all_fuzzers
step "bazel build --config=afl //fuzz:all_fuzzers" \
    bazel build "${BAZEL_FLAGS[@]}" --config=afl //fuzz:all_fuzzers
step "release hardening (bazel build --config=release, check_hardening.sh)" tools/hardening_test.sh
step "fuzz smoke run" tools/fuzz_smoke.sh
step "OSS-Fuzz check_build (every harness under address, undefined, memory)" tools/check_build.sh
step "fuzzing-mode regression replay (ASan+UBSan)" fuzz/regress.sh
step "fuzzing-mode regression replay (MSan)" env REGRESS_SANITIZER=memory fuzz/regress.sh
step "coverage of src/ (lines >= 90%, branches >= 80%)" tools/coverage.sh

# Steps whose scripts end with "NAME: N passed, M failed": their cases are counted.
count_script() {
    local log p f
    log=$(mktemp)
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    p=$(tail -n 1 "$log" | sed -n 's/^[a-z_]*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(tail -n 1 "$log" | sed -n 's/^[a-z_]*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    rm -f "$log"
    [ -n "$p" ] || { p=0; f=1; }
    echo "$p $f" >>"$STEP_LOGS/script_counts"
    [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]
}
step "Python package (pytest, beside Debian's pyvhdi)" count_script tools/python_test.sh
step "Python package under ASan + UBSan" count_script tools/python_test.sh --asan
nbdkit_step() {
    bazel build "${BAZEL_FLAGS[@]}" //nbdkit:nbdkit-vhdx-plugin //tools:vhdx //tools:vhdx-verify \
        //tests:make_dirty || return 1
    local bin
    bin=$(bazel info bazel-bin) || return 1
    count_script nbdkit/nbdkit_test.sh "$bin/nbdkit/nbdkit-vhdx-plugin.so" "$bin/tools/vhdx" \
        "$bin/tools/vhdx-verify" "$bin/tests/make_dirty"
}
step "nbdkit plugin (nbdcopy, qemu-io, nbdinfo over a Unix socket)" nbdkit_step

bazel shutdown >/dev/null 2>&1 || true
# The cases counted by count_script inside the steps.
if [ -f "$STEP_LOGS/script_counts" ]; then
    while read -r p f; do
        cases_passed=$((cases_passed + p))
        cases_failed=$((cases_failed + f))
    done <"$STEP_LOGS/script_counts"
fi
# A failed step is named again at the end, with the lines that say why
# (a failed or timed-out bazel test, a sanitizer report, a FAILED line),
# so that the tail of the output is enough to tell what failed.
for entry in "${failed_steps[@]}"; do
    name="${entry%:*}"
    log="${entry##*:}"
    echo "--- FAILED step: $name; the lines that say why:"
    grep -E "FAILED|TIMEOUT|NO STATUS|ERROR|error:|not ok|runtime error|deadly signal|Test output for" "$log" |
        grep -v "^=== " | tail -n 25
    echo "--- its last 15 lines:"
    tail -n 15 "$log"
    [ -f "$log.tests" ] && cat "$log.tests"
done
echo "steps: $passed passed, $failed failed"
echo "test cases (plain + ASan/UBSan, cmocka cases, regression inputs, CLI checks, Python, nbdkit): $cases_passed passed, $cases_failed failed, $cases_skipped skipped (cmocka)"
# The closing line counts test cases; any failed step counts as a failure too.
echo "$cases_passed passed, $((cases_failed + failed)) failed"
[ "$failed" -eq 0 ] && [ "$cases_failed" -eq 0 ]
