#!/usr/bin/env bash
# What OSS-Fuzz's check_build checks, for each sanitizer our OSS-Fuzz and
# ClusterFuzzLite files list, here without Docker:
#
#   tools/check_build.sh [SANITIZER...]     default: every sanitizer listed
#
# 1. The sanitizer lists agree: .clusterfuzzlite/project.yaml, the
#    sanitizer matrix of every .github/workflows/cflite_*.yml that has one,
#    and the OSS-Fuzz project.yaml fuzz/oss-fuzz/make-project.sh writes
#    (which also must carry the URL and contact it is given, and refuse a
#    URL that is not real).
# 2. Per sanitizer, every harness is built through fuzz/build.sh with the
#    flags OSS-Fuzz's base-builder uses for it (libFuzzer, -O1,
#    -gline-tables-only, -fsanitize=fuzzer-no-link plus the sanitizer's own).
# 3. Per harness and sanitizer:
#    - the binary carries that sanitizer's runtime and no other;
#    - it needs no shared library the runner image lacks (only libc, libm,
#      libpthread, libdl, librt, libstdc++, libgcc_s and the loader);
#    - its .options file gives only libFuzzer options libFuzzer knows of,
#      and its dictionary loads;
#    - it runs 4 inputs from an empty corpus (-runs=4), and then one input of
#      its seed corpus zip, and exits 0 both times.
# Prints one line per harness and sanitizer and "check_build: N passed,
# M failed" at the end; exits 1 on any failure.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
        exit 0
        ;;
esac

passed=0
failed=0
fail() {
    echo "check_build: FAILED: $*"
    failed=$((failed + 1))
}

# Its argument's lines as one line of words.
words() {
    echo "$1" | tr '\n' ' ' | sed 's/ *$//'
}

# The "sanitizers:" list of a project.yaml, or the "sanitizer: [...]" matrix
# of a workflow, one name a line, sorted.
yaml_sanitizers() {
    sed -n '/^sanitizers:/,/^[^ ]/{s/^ *- *\([a-z]*\) *$/\1/p}' "$1" | sort
}
matrix_sanitizers() {
    sed -n 's/^ *sanitizer: *\[\(.*\)\] *$/\1/p' "$1" | tr ',' '\n' | tr -d ' ' | sort
}

listed=$(yaml_sanitizers "$SRC_DIR/.clusterfuzzlite/project.yaml")
if [ -z "$listed" ]; then
    fail ".clusterfuzzlite/project.yaml lists no sanitizers"
else
    agree=1
    for wf in "$SRC_DIR"/.github/workflows/cflite_*.yml; do
        m=$(matrix_sanitizers "$wf")
        [ -n "$m" ] || continue
        if [ "$m" != "$listed" ]; then
            fail "$(basename "$wf") fuzzes with '$(words "$m")', .clusterfuzzlite/project.yaml lists '$(words "$listed")'"
            agree=0
        fi
    done
    if [ "$agree" -eq 1 ]; then
        echo "check_build: sanitizers agree: $(words "$listed")"
        passed=$((passed + 1))
    fi
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# fuzz/oss-fuzz/make-project.sh writes the project with the URL and contact
# it is given, the same sanitizers, and refuses a URL that is not real.
mp="$SRC_DIR/fuzz/oss-fuzz/make-project.sh"
why=""
if ! VHDX_REPO_URL=https://git.vhdx-project.org/vhdx.git VHDX_CONTACT=fuzz@vhdx-project.org \
    "$mp" "$WORK/project" >"$WORK/mp.log" 2>&1; then
    why="$why; refused a real URL: $(cat "$WORK/mp.log")"
else
    y="$WORK/project/project.yaml"
    grep -qx 'main_repo: "https://git.vhdx-project.org/vhdx.git"' "$y" || why="$why; main_repo"
    grep -qx 'homepage: "https://git.vhdx-project.org/vhdx"' "$y" || why="$why; homepage"
    grep -qx 'primary_contact: "fuzz@vhdx-project.org"' "$y" || why="$why; primary_contact"
    [ "$(yaml_sanitizers "$y")" = "$listed" ] || why="$why; sanitizers"
    # shellcheck disable=SC2016 # the Dockerfile's own $SRC
    grep -qx 'RUN git clone --depth 1 https://git.vhdx-project.org/vhdx.git $SRC/vhdx' \
        "$WORK/project/Dockerfile" || why="$why; Dockerfile clone line"
    cmp -s "$WORK/project/build.sh" "$SRC_DIR/fuzz/oss-fuzz/build.sh" || why="$why; build.sh"
    ! grep -qi placeholder "$WORK/project"/* || why="$why; a placeholder is left"
fi
for bad in https://PLACEHOLDER.invalid/vhdx.git http://git.vhdx-project.org/vhdx.git \
    https://example.com/vhdx.git; do
    rc=0
    VHDX_REPO_URL=$bad VHDX_CONTACT=fuzz@vhdx-project.org "$mp" "$WORK/refused" \
        >/dev/null 2>&1 || rc=$?
    if [ "$rc" -ne 2 ] || [ -e "$WORK/refused" ]; then
        why="$why; $bad: exit $rc (want 2, nothing written)"
    fi
done
if [ -z "$why" ]; then
    echo "check_build: make-project.sh writes the project and refuses unreal URLs"
    passed=$((passed + 1))
else
    fail "make-project.sh: ${why#; }"
fi

if [ "$#" -gt 0 ]; then
    sanitizers=("$@")
else
    read -r -a sanitizers <<<"$(words "$listed")"
fi

# OSS-Fuzz's base-builder flags (SANITIZER_FLAGS_<name>); unsigned overflow
# is instrumented but not reported (UBSAN_OPTIONS silence_unsigned_overflow).
UBSAN_CHECKS=array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unreachable,vla-bound,vptr
san_flags() {
    case "$1" in
        address) echo "-fsanitize=address -fsanitize-address-use-after-scope" ;;
        undefined) echo "-fsanitize=$UBSAN_CHECKS,unsigned-integer-overflow -fno-sanitize-recover=$UBSAN_CHECKS" ;;
        memory) echo "-fsanitize=memory -fsanitize-memory-track-origins" ;;
        *) return 1 ;;
    esac
}
# The runtime symbol each build must carry, and those it must not.
runtime_of() {
    case "$1" in
        address) echo "__asan_init" ;;
        undefined) echo "__ubsan_handle_" ;;
        memory) echo "__msan_init" ;;
    esac
}

# The libFuzzer flags an .options file may set (those our harnesses use or
# OSS-Fuzz documents for it).
KNOWN_OPTIONS="max_len timeout rss_limit_mb malloc_limit_mb dict only_ascii use_value_profile detect_leaks close_fd_mask"

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="silence_unsigned_overflow=1:print_stacktrace=1:halt_on_error=1"
export MSAN_OPTIONS="halt_on_error=1"

for san in "${sanitizers[@]}"; do
    flags=$(san_flags "$san") || { fail "unknown sanitizer $san"; continue; }
    out="$WORK/$san/out"
    mkdir -p "$out"
    start=$SECONDS
    if ! CC=clang CXX=clang++ \
        CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=fuzzer-no-link $flags" \
        CXXFLAGS="$flags" LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT="$out" WORK="$WORK/$san/build" \
        "$SRC_DIR/fuzz/build.sh" >"$WORK/$san.build.log" 2>&1; then
        fail "$san: fuzz/build.sh failed:"
        tail -20 "$WORK/$san.build.log"
        continue
    fi
    echo "check_build: $san: built in $((SECONDS - start)) s"
    want=$(runtime_of "$san")
    for bin in "$out"/fuzz_*; do
        case "$bin" in *.dict | *.options | *.zip) continue ;; esac
        h=$(basename "$bin")
        why=""
        syms=$(nm "$bin" 2>/dev/null || true)
        grep -q "$want" <<<"$syms" || why="$why; no $want (not built with $san)"
        for other in address undefined memory; do
            [ "$other" = "$san" ] && continue
            [ "$other" = undefined ] && continue # ASan and MSan builds may carry UBSan's handlers
            o=$(runtime_of "$other")
            if grep -q "$o" <<<"$syms"; then
                why="$why; carries $o too"
            fi
        done
        bad_libs=$(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' |
            grep -vE '^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so' || true)
        [ -z "$bad_libs" ] || why="$why; needs $(words "$bad_libs")"
        opts=$(sed -n '/^\[libfuzzer\]/,/^\[/{s/^ *\([a-z_]*\) *=.*/\1/p}' "$out/$h.options")
        for o in $opts; do
            grep -qw "$o" <<<"$KNOWN_OPTIONS" || why="$why; unknown option $o in $h.options"
        done
        max_len=$(sed -n 's/^ *max_len *= *\([0-9]*\).*/\1/p' "$out/$h.options")
        run="$WORK/$san/run-$h"
        mkdir -p "$run/empty" "$run/seed"
        if ! (cd "$run" && timeout 120 "$bin" -runs=4 -seed=1 -dict="$out/$h.dict" \
            ${max_len:+-max_len=$max_len} -rss_limit_mb=2560 -timeout=25 empty) >"$run/empty.log" 2>&1; then
            why="$why; -runs=4 from an empty corpus failed: $(grep -m1 -E 'ERROR|error|deadly' "$run/empty.log" || tail -1 "$run/empty.log")"
        fi
        seed=$(unzip -Z1 "$out/${h}_seed_corpus.zip" | awk '!/\/$/ && !f { print; f = 1 }')
        if [ -z "$seed" ]; then
            why="$why; empty seed corpus zip"
        else
            unzip -q -o "$out/${h}_seed_corpus.zip" "$seed" -d "$run/seed"
            if ! (cd "$run" && timeout 120 "$bin" -rss_limit_mb=2560 -timeout=25 "seed/$seed") \
                >"$run/seed.log" 2>&1; then
                why="$why; seed input $seed failed: $(grep -m1 -E 'ERROR|error|deadly' "$run/seed.log" || tail -1 "$run/seed.log")"
            fi
        fi
        if [ -z "$why" ]; then
            echo "check_build: $san: $h ok"
            passed=$((passed + 1))
        else
            fail "$san: $h: ${why#; }"
        fi
    done
done

echo "check_build: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
