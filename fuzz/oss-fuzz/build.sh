#!/usr/bin/env bash
# OSS-Fuzz build script for vhdx (projects/vhdx/build.sh). Everything is in
# the repository's fuzz/build.sh, which already follows the OSS-Fuzz
# contract: $CC $CFLAGS to compile, $CXX $CXXFLAGS $LIB_FUZZING_ENGINE to
# link, binaries, seed corpus zips, dictionaries and options into $OUT, and
# libuuid linked statically.
set -euo pipefail

"$SRC/vhdx/fuzz/build.sh"
