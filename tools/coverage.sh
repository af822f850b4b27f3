#!/usr/bin/env bash
# Source-based line, branch and function coverage of the library (src/) by
# the cmocka suites and the fuzz harnesses' corpora, without bazel.
#
#   tools/coverage.sh [-o HTMLDIR] [-k] [-h|--help]
#
# Builds, with clang -fprofile-instr-generate -fcoverage-mapping in a
# temporary directory: every library source, every tests/test_*.c (each
# linked with the helpers tests/BUILD gives it: test_util.c, image_builder.c,
# dirty_images.c, crash_sim.c, fuzz/image_mutator.c) and every fuzz/fuzz_*.c harness linked with the
# engine-free driver fuzz/standalone_main.c (the checked build: no
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so checksums are enforced, as in
# the harnesses' bazel _regress tests). Then runs every test binary and every
# harness over corpus/<harness>/ and corpus/regressions/<harness>/ (README.md
# files skipped), each writing its own profile; merges the profiles; prints
# `llvm-cov report` for the files under src/, a per-layer summary and the line
#   coverage: lines L% (covered/total), branches B% (covered/total), functions F%
#
#   -o HTMLDIR  also write llvm-cov's HTML report (src/ only) into HTMLDIR
#   -k          keep the build directory and print its path (binaries and
#               merged profile, for `llvm-cov show`)
#
# Environment:
#   LINE_MIN    (default 90)  least line coverage of src/ in percent
#   BRANCH_MIN  (default 80)  least branch coverage of src/ in percent
#   COVERAGE_CC (default clang, or clang-14)  the compiler (CC is not used: it
#               often names gcc, which has no source-based coverage)
#   LLVM_PROFDATA, LLVM_COV   (default llvm-profdata / llvm-cov, or the -14 names)
#   COVERAGE_JOBS (default 2) compilations run at once
#
# Exit status: 0 every test and harness passed and both minimums are met;
# 1 a test or harness failed, or a minimum is not met; 2 a tool is missing
# or the build failed.
set -euo pipefail
caller_dir=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

html_dir=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        -o)
            [ $# -ge 2 ] || { echo "coverage: -o needs a directory" >&2; exit 2; }
            case "$2" in
                /*) html_dir="$2" ;;
                *) html_dir="$caller_dir/$2" ;; # relative to where the script was started
            esac
            shift 2
            ;;
        -k) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "coverage: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

LINE_MIN="${LINE_MIN:-90}"
BRANCH_MIN="${BRANCH_MIN:-80}"
JOBS="${COVERAGE_JOBS:-2}"

# The first of the names given that is installed.
pick() {
    for t in "$@"; do
        if command -v "$t" >/dev/null 2>&1; then
            echo "$t"
            return 0
        fi
    done
    echo "coverage: none of $* is installed" >&2
    return 1
}
CC="${COVERAGE_CC:-$(pick clang clang-14)}" || exit 2
PROFDATA="${LLVM_PROFDATA:-$(pick llvm-profdata llvm-profdata-14)}" || exit 2
COV="${LLVM_COV:-$(pick llvm-cov llvm-cov-14)}" || exit 2
if ! "$CC" --version 2>/dev/null | grep -q clang; then
    echo "coverage: $CC is not clang (source-based coverage needs clang)" >&2
    exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vhdx-coverage.XXXXXX")
if [ "$keep" -eq 1 ]; then
    trap 'echo "coverage: build directory kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/obj" "$work/bin" "$work/prof" "$work/log"

CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O0 -Wall -Wextra -Werror -Wconversion -Wsign-conversion
    -Wshadow -Wimplicit-fallthrough -Wformat=2 -Wvla -Wundef -Wcast-qual -Wpointer-arith
    -Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing
    -fprofile-instr-generate -fcoverage-mapping
    -Iinclude -Isrc -Itests -Ifuzz)
LDFLAGS=(-fprofile-instr-generate -fcoverage-mapping)
LIBS=(-lcmocka -luuid)

shopt -s nullglob
lib_srcs=(src/*/*.c)
tests=()
for t in tests/test_*.c; do
    [ "$t" = tests/test_util.c ] || tests+=("$t")
done
harnesses=(fuzz/fuzz_*.c)
# The helpers the tests and harnesses link (tests/BUILD, fuzz/BUILD).
helper_srcs=(tests/test_util.c tests/image_builder.c tests/dirty_images.c tests/crash_sim.c
    fuzz/image_input.c fuzz/image_mutator.c fuzz/standalone_main.c)
shopt -u nullglob

# src/x/y.c -> $work/obj/src_x_y.o
obj_of() { echo "$work/obj/$(echo "${1%.c}" | tr / _).o"; }

echo "coverage: compiling ${#lib_srcs[@]} library, ${#helper_srcs[@]} helper, ${#tests[@]} test" \
    "and ${#harnesses[@]} harness sources with $CC ($JOBS at once)"
all_srcs=("${lib_srcs[@]}" "${helper_srcs[@]}" "${tests[@]}" "${harnesses[@]}")
# shellcheck disable=SC2016 # the inner script expands its own arguments
if ! printf '%s\0' "${all_srcs[@]}" |
    xargs -0 -P "$JOBS" -I{} sh -c '
        work="$1" cc="$2" src="$3"
        shift 3
        obj="$work/obj/$(echo "${src%.c}" | tr / _).o"
        "$cc" "$@" -c "$src" -o "$obj" 2>"$obj.err" || { cat "$obj.err" >&2; exit 255; }
    ' sh "$work" "$CC" {} "${CFLAGS[@]}"; then
    echo "coverage: compilation failed" >&2
    exit 2
fi

lib_objs=()
for s in "${lib_srcs[@]}"; do lib_objs+=("$(obj_of "$s")"); done
# Helpers go into an archive: a binary takes only the ones it calls (a test
# never gets the fuzz driver's main, a harness never gets cmocka's helpers).
# The library objects are linked whole, so every src/ file is in every
# binary's coverage map, run or not.
test_helpers="$work/obj/libtesthelpers.a"
ar rcs "$test_helpers" "$(obj_of tests/test_util.c)" "$(obj_of tests/image_builder.c)" \
    "$(obj_of tests/dirty_images.c)" "$(obj_of tests/crash_sim.c)" "$(obj_of fuzz/image_mutator.c)"
fuzz_helpers="$work/obj/libfuzzhelpers.a"
ar rcs "$fuzz_helpers" "$(obj_of fuzz/image_input.c)" "$(obj_of tests/image_builder.c)" \
    "$(obj_of tests/dirty_images.c)" "$(obj_of fuzz/image_mutator.c)"

binaries=()
link() {
    local out="$1"
    shift
    if ! "$CC" "${LDFLAGS[@]}" -o "$out" "$@" "${LIBS[@]}" 2>"$work/log/link.err"; then
        cat "$work/log/link.err" >&2
        echo "coverage: linking $(basename "$out") failed" >&2
        exit 2
    fi
    binaries+=("$out")
}
for t in "${tests[@]}"; do
    name=$(basename "${t%.c}")
    link "$work/bin/$name" "$(obj_of "$t")" "$test_helpers" "${lib_objs[@]}"
done
for h in "${harnesses[@]}"; do
    name=$(basename "${h%.c}")
    link "$work/bin/$name" "$(obj_of "$h")" "$(obj_of fuzz/standalone_main.c)" "$fuzz_helpers" \
        "${lib_objs[@]}"
done

failures=0
# Runs a command writing the profile and log of $1; says how it went, with
# $2 after "ok" and $3 after "FAILED"; a failure shows the log's end.
run_profiled() {
    local name=$1 ok_note=$2 fail_note=$3 start=$SECONDS
    shift 3
    if LLVM_PROFILE_FILE="$work/prof/$name.profraw" "$@" >"$work/log/$name.log" 2>&1; then
        echo "coverage: $name ok$ok_note ($((SECONDS - start)) s)"
    else
        echo "coverage: $name FAILED$fail_note; last lines of its output:"
        tail -30 "$work/log/$name.log"
        failures=$((failures + 1))
    fi
}
for t in "${tests[@]}"; do
    name=$(basename "${t%.c}")
    run_profiled "$name" "" "" "$work/bin/$name"
done
for h in "${harnesses[@]}"; do
    name=$(basename "${h%.c}")
    inputs=()
    for dir in "corpus/$name" "corpus/regressions/$name"; do
        [ -d "$dir" ] || continue
        while IFS= read -r -d '' f; do
            inputs+=("$f")
        done < <(find "$dir" -type f ! -name README.md -print0 | sort -z)
    done
    if [ "${#inputs[@]}" -eq 0 ]; then
        echo "coverage: $name has no corpus inputs"
        failures=$((failures + 1))
        continue
    fi
    run_profiled "$name" ": ${#inputs[@]} inputs" " on its corpus" "$work/bin/$name" "${inputs[@]}"
done

shopt -s nullglob
profiles=("$work"/prof/*.profraw)
shopt -u nullglob
if [ "${#profiles[@]}" -eq 0 ]; then
    echo "coverage: no profile was written" >&2
    exit 2
fi
"$PROFDATA" merge -sparse -o "$work/merged.profdata" "${profiles[@]}"

objects=()
for b in "${binaries[@]:1}"; do objects+=(-object "$b"); done
COV_ARGS=(-instr-profile="$work/merged.profdata" "${binaries[0]}" "${objects[@]}")

echo
"$COV" report "${COV_ARGS[@]}" "$ROOT/src" | tee "$work/report.txt"

# Per layer (src/<layer>/): sums of the report's per-file counts. Columns of
# llvm-cov 14's report: file, regions, missed, %, functions, missed, %,
# lines, missed, %, branches, missed, %.
echo
awk -v root="$ROOT/src/" '
    $1 ~ /\.[ch]$/ && NF == 13 {
        f = $1
        sub("^" root, "", f)
        n = split(f, part, "/")
        layer = n > 1 ? part[1] : "."
        if (!(layer in lines)) order[++count] = layer
        fn[layer] += $5; fnm[layer] += $6
        lines[layer] += $8; lm[layer] += $9
        br[layer] += $11; bm[layer] += $12
    }
    function pct(total, missed) { return total == 0 ? 100 : 100 * (total - missed) / total }
    END {
        printf "%-10s %22s %22s %16s\n", "layer", "lines", "branches", "functions"
        for (i = 1; i <= count; i++) {
            l = order[i]
            printf "%-10s %6.2f%% (%5d/%5d) %6.2f%% (%5d/%5d) %6.2f%% (%3d/%3d)\n", l,
                pct(lines[l], lm[l]), lines[l] - lm[l], lines[l],
                pct(br[l], bm[l]), br[l] - bm[l], br[l],
                pct(fn[l], fnm[l]), fn[l] - fnm[l], fn[l]
        }
    }' "$work/report.txt"

total=$(grep '^TOTAL' "$work/report.txt")
# TOTAL regions missed % functions missed % lines missed % branches missed %
read -r _ _ _ _ _ _ fn_pct ln_total ln_missed ln_pct br_total br_missed br_pct <<<"$total"
echo
echo "coverage: lines $ln_pct ($((ln_total - ln_missed))/$ln_total)," \
    "branches $br_pct ($((br_total - br_missed))/$br_total), functions $fn_pct"

if [ -n "$html_dir" ]; then
    mkdir -p "$html_dir"
    "$COV" show "${COV_ARGS[@]}" -format=html -show-line-counts-or-regions \
        -show-branches=count -output-dir="$html_dir" "$ROOT/src"
    echo "coverage: HTML report in $html_dir/index.html"
fi

status=0
if [ "$failures" -ne 0 ]; then
    echo "coverage: $failures test binar(ies) or harness(es) failed"
    status=1
fi
# Compare as numbers with two decimals, without floating point in the shell.
at_least() { awk -v a="${1%\%}" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
if ! at_least "$ln_pct" "$LINE_MIN"; then
    echo "coverage: line coverage $ln_pct is below LINE_MIN=$LINE_MIN%"
    status=1
fi
if ! at_least "$br_pct" "$BRANCH_MIN"; then
    echo "coverage: branch coverage $br_pct is below BRANCH_MIN=$BRANCH_MIN%"
    status=1
fi
exit "$status"
