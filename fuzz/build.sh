#!/usr/bin/env bash
# Builds every fuzz harness following the OSS-Fuzz contract:
#   compile with $CC $CFLAGS, link with $CXX $CXXFLAGS $LIB_FUZZING_ENGINE,
#   put binaries, <fuzzer>_seed_corpus.zip (corpus/<fuzzer>/ plus
#   corpus/regressions/<fuzzer>/), <fuzzer>.dict and <fuzzer>.options in $OUT.
# Locally: CC=clang CXX=clang++ CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
#          CXXFLAGS="-fsanitize=address,undefined" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#          OUT=/tmp/out fuzz/build.sh
# Used by fuzz/oss-fuzz/build.sh and .clusterfuzzlite/build.sh (libFuzzer,
# AFL++, honggfuzz), fuzz/run-afl.sh (LIB_FUZZING_ENGINE=libAFLDriver.a) and
# fuzz/regress.sh (LIB_FUZZING_ENGINE=a compiled fuzz/standalone_main.c: any
# object or archive that supplies main() and calls LLVMFuzzerTestOneInput).
# FUZZ_TARGETS (optional): the harnesses to build, separated by spaces;
# default every harness listed in fuzz/BUILD.
# libuuid is linked statically when the toolchain has libuuid.a: the image
# that runs OSS-Fuzz's fuzzers has no libuuid.so.
set -euo pipefail

SRC_DIR="$(cd "$(dirname "$0")/.." && pwd)"
: "${CC:=clang}"
: "${CXX:=clang++}"
: "${CFLAGS:=-O1 -g -fsanitize=fuzzer-no-link,address,undefined}"
: "${CXXFLAGS:=-fsanitize=address,undefined}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:=$SRC_DIR/fuzz/out}"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$OUT" "$WORK/obj"

ALL_FUZZERS=$(sed -n 's/^ *"\(fuzz_[a-z_]*\)",$/\1/p' "$SRC_DIR/fuzz/BUILD")
FUZZERS="${FUZZ_TARGETS:-$ALL_FUZZERS}"
for f in $FUZZERS; do
    if ! grep -qx -- "$f" <<<"$ALL_FUZZERS"; then
        echo "build.sh: unknown harness '$f' (not listed in fuzz/BUILD)" >&2
        exit 2
    fi
done

# The archive's full path when the compiler finds libuuid.a (it prints the
# bare name when it does not); otherwise the shared library.
# shellcheck disable=SC2086
UUID_LIB=$($CC $CFLAGS -print-file-name=libuuid.a 2>/dev/null || true)
if [ "${UUID_LIB#/}" = "$UUID_LIB" ] || [ ! -f "$UUID_LIB" ]; then
    echo "build.sh: no libuuid.a found; linking libuuid dynamically" >&2
    UUID_LIB=-luuid
fi

# The harness build may skip checksum enforcement (src/base/crc32c.h).
FLAGS="-std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
  -I$SRC_DIR/include -I$SRC_DIR/src -I$SRC_DIR/fuzz -I$SRC_DIR/tests"

# Every source under src/: the library (//:vhdx) and those that are not
# part of it (NOT_SHIPPED_SRCS in BUILD), which some harnesses need: the
# fault back end (fuzz_write_ops), the sparse memory back end (the
# whole-image harnesses, fuzz_replay_diff, fuzz_write_ops) and the reference
# replay engine (fuzz_replay_diff). The harnesses are not shipped.
# Compiles run BUILD_JOBS at a time (default: the number of CPUs); the
# first one that fails fails the build.
BUILD_JOBS="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 1)}"
rm -f "$WORK/compile-failed"
compile() {
    while [ "$(jobs -rp | wc -l)" -ge "$BUILD_JOBS" ]; do
        wait -n || true
    done
    # shellcheck disable=SC2086
    { $CC $CFLAGS $FLAGS -c "$1" -o "$2" || echo "$1" >>"$WORK/compile-failed"; } &
}
wait_all() {
    wait
    if [ -s "$WORK/compile-failed" ]; then
        echo "build.sh: compile failed: $(tr '\n' ' ' <"$WORK/compile-failed")" >&2
        exit 1
    fi
}

objs=()
for c in "$SRC_DIR"/src/*/*.c; do
    o="$WORK/obj/$(basename "$(dirname "$c")")_$(basename "${c%.c}").o"
    compile "$c" "$o"
    objs+=("$o")
done

# Shared by the whole-image harnesses.
compile "$SRC_DIR/fuzz/image_input.c" "$WORK/obj/fuzz_image_input.o"
objs+=("$WORK/obj/fuzz_image_input.o")
# The replay_diff harness builds its base image with the test image builder.
for c in image_builder dirty_images; do
    compile "$SRC_DIR/tests/$c.c" "$WORK/obj/tests_$c.o"
    objs+=("$WORK/obj/tests_$c.o")
done
# The structure-aware mutator of fuzz_image_struct (on top of the builder).
compile "$SRC_DIR/fuzz/image_mutator.c" "$WORK/obj/fuzz_image_mutator.o"
objs+=("$WORK/obj/fuzz_image_mutator.o")
for f in $FUZZERS; do
    compile "$SRC_DIR/fuzz/$f.c" "$WORK/obj/$f.o"
done
wait_all

for f in $FUZZERS; do
    # shellcheck disable=SC2086
    $CXX $CXXFLAGS "$WORK/obj/$f.o" "${objs[@]}" $LIB_FUZZING_ENGINE "$UUID_LIB" -o "$OUT/$f"
    cp "$SRC_DIR/fuzz/$f.dict" "$OUT/$f.dict"
    cp "$SRC_DIR/fuzz/$f.options" "$OUT/$f.options"
    rm -f "$OUT/${f}_seed_corpus.zip"
    (cd "$SRC_DIR/corpus/$f" && zip -q -r "$OUT/${f}_seed_corpus.zip" .)
    # Inputs that once found a bug seed the fuzzer too (stored at the top of
    # the zip, as some engines do not look into subdirectories).
    if [ -d "$SRC_DIR/corpus/regressions/$f" ]; then
        find "$SRC_DIR/corpus/regressions/$f" -type f ! -name '.*' \
            -exec zip -q -j "$OUT/${f}_seed_corpus.zip" {} +
    fi
    echo "built $OUT/$f"
done
