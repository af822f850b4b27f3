#!/usr/bin/env bash
# The Python package's tests (python/tests, pytest): builds the extension in
# a fresh venv exactly as README says (pip --no-build-isolation --no-index),
# makes the test images (tests/ib_make, tests/make_dirty, corpus/images) and
# runs pytest, whose tests also run Debian's pyvhdi side by side.
#   tools/python_test.sh [--asan]
# --asan builds the extension (and the library compiled into it) with
# -fsanitize=address,undefined and runs pytest with libasan preloaded
# (detect_leaks=0: CPython itself keeps memory to the end).
# Last line: "python_test: N passed, M failed" (with --asan: python_asan_test).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
label=python_test
asan=0
if [ "${1:-}" = "--asan" ]; then
    asan=1
    label=python_asan_test
fi
PY=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/$label.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() {
    echo "$label: $*" >&2
    echo "$label: 0 passed, 1 failed"
    exit 1
}

bazel build --noshow_progress --color=no --curses=no --jobs=2 \
    //tools:vhdx //tools:vhdx-verify //tests:ib_make //tests:make_dirty >/dev/null 2>&1 ||
    fail "bazel build failed"
bin=$(bazel info bazel-bin 2>/dev/null) || fail "bazel info failed"

# A copy of python/, so the in-place build/ of a plain and an ASan build never mix.
cp -r python "$work/src"
rm -rf "$work/src/build" "$work/src"/*.egg-info
$PY -m venv --system-site-packages "$work/venv" || fail "venv failed"
cflags=""
if [ "$asan" -eq 1 ]; then
    cflags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1"
fi
VHDX_SOURCE_DIR="$root" VHDX_CFLAGS="$cflags" \
    "$work/venv/bin/pip" install -q --no-build-isolation --no-index "$work/src" \
    >"$work/pip.log" 2>&1 || { grep -E "error|warning" "$work/pip.log" | tail -20 >&2; fail "pip install failed"; }

if [ "$asan" -eq 1 ]; then
    so=$(find "$work/venv" -name '_vhdx*.so' | head -n 1)
    nm -D "$so" | grep ' U __asan_report_load' >/dev/null || fail "the extension is not built with ASan"
fi

mkdir -p "$work/ib" "$work/dirty" "$work/samples"
"$bin/tests/ib_make" "$work/ib" >/dev/null || fail "ib_make failed"
"$bin/tests/make_dirty" "$work/dirty" >/dev/null || fail "make_dirty failed"
for f in corpus/images/*.vhdx.bz2; do
    bunzip2 -c "$f" >"$work/samples/$(basename "$f" .bz2)" || fail "bunzip2 $f"
done

export VHDX_TEST_IB="$work/ib" VHDX_TEST_DIRTY="$work/dirty" VHDX_TEST_SAMPLES="$work/samples"
export VHDX_TOOL="$bin/tools/vhdx"
env=()
if [ "$asan" -eq 1 ]; then
    libasan=$(gcc -print-file-name=libasan.so)
    libubsan=$(gcc -print-file-name=libubsan.so)
    env=(LD_PRELOAD="$libasan $libubsan" VHDX_TEST_ASAN=1
         ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
fi
# Run from outside python/ so `import vhdx` is the installed package.
(cd "$work" && env "${env[@]}" "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
    -o "testpaths=$root/python/tests" --rootdir "$root/python/tests" \
    "$root/python/tests" 2>&1) | tee "$work/pytest.log"
rc=${PIPESTATUS[0]}
summary=$(tail -n 1 "$work/pytest.log")
passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+')
failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+')
errors=$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+')
passed=${passed:-0}
failed=$((${failed:-0} + ${errors:-0}))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # pytest itself failed (or crashed under ASan)
fi
echo "$label: $passed passed, $failed failed"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
