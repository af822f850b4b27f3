#!/usr/bin/env bash
# The whole test suite, as CI runs it (README: "tools/test.sh").
#   1. installs missing Debian packages (tools/setup.sh);
#   2. bazel test //...                  (cmocka suites, regression drivers, rule check)
#   3. bazel test --config=asan //...    (the same under ASan + UBSan)
#   4. bazel build --config=fuzz / --config=afl  (both fuzzing configurations build)
#   5. tools/fuzz_smoke.sh               (every harness, FUZZ_SECONDS each, default 20)
# Ends with one line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
BAZEL_FLAGS=(--noshow_progress --color=no --curses=no)

step() {
    local name="$1"
    shift
    echo "=== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($((SECONDS - start)) s)"
    else
        failed=$((failed + 1))
        echo "=== $name: FAILED ($((SECONDS - start)) s)"
    fi
}

count_tests() {
    bazel query 'tests(//...)' 2>/dev/null | wc -l
}

step "bazel test //..." bazel test "${BAZEL_FLAGS[@]}" //...
step "bazel test --config=asan //..." bazel test "${BAZEL_FLAGS[@]}" --config=asan //...
step "bazel build --config=fuzz //fuzz:all_fuzzers" \
    bazel build "${BAZEL_FLAGS[@]}" --config=fuzz //fuzz:all_fuzzers
step "bazel build --config=afl //fuzz:all_fuzzers" \
    bazel build "${BAZEL_FLAGS[@]}" --config=afl //fuzz:all_fuzzers
step "fuzz smoke run" tools/fuzz_smoke.sh

ntests=$(count_tests)
bazel shutdown >/dev/null 2>&1 || true
echo "bazel test targets: $ntests, each run plain and under ASan/UBSan"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
