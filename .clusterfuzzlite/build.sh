#!/usr/bin/env bash
# ClusterFuzzLite build script for vhdx: runs the repository's
# fuzz/build.sh, which follows the OSS-Fuzz contract ($CC $CFLAGS,
# $CXX $CXXFLAGS $LIB_FUZZING_ENGINE, binaries, seed corpus zips,
# dictionaries and options into $OUT, libuuid linked statically).
set -euo pipefail

"$SRC/vhdx/fuzz/build.sh"
