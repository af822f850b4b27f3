#!/usr/bin/env bash
# The release build carries its hardening: builds the three tools with
# `bazel build --config=release` and runs tools/check_hardening.sh on them
# (PIE, full RELRO, non-executable stack, stack protector, FORTIFY_SOURCE, CET).
# A step of tools/test.sh; run from anywhere in the repository.
#
# The outputs are found with `bazel info --config=release bazel-bin`: the
# release config's --platform_suffix=release puts them in
# bazel-out/k8-optrelease/bin, not where the bazel-bin symlink of another
# configuration points.
#
# CET: the linker marks an executable IBT and SHSTK only if every object it
# links is marked, the C library's startup files included. Before checking the
# tools, a probe program is linked with `${CC:-gcc} -fcf-protection=full`
# (the compiler Bazel's auto-configured toolchain uses). If even the probe
# is not marked (Debian 12: glibc's Scrt1.o, crti.o and crtn.o are built
# without CET), no binary can be, so check_hardening.sh runs with --no-cet, the
# reason is printed, and instead every object Bazel compiled for the tools is
# checked for IBT and SHSTK ("cet_objects: N passed, M failed"): that is what
# -fcf-protection=full can still be seen to do. On a toolchain that can mark
# executables, the tools themselves must be marked.
#
# Exit status: 0 every check passed, 1 the build or a check failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export LC_ALL=C

BAZEL_FLAGS=(--noshow_progress --color=no --curses=no)
TOOLS=(vhdx vhdx-verify vhdx-dump)
targets=()
for t in "${TOOLS[@]}"; do
    targets+=("//tools:$t")
done

if ! bazel build "${BAZEL_FLAGS[@]}" --config=release "${targets[@]}"; then
    echo "hardening_test: bazel build --config=release failed"
    exit 1
fi
if ! bin=$(bazel info "${BAZEL_FLAGS[@]}" --config=release bazel-bin) || [ ! -d "$bin" ]; then
    echo "hardening_test: bazel info --config=release bazel-bin failed"
    exit 1
fi
binaries=()
for t in "${TOOLS[@]}"; do
    if [ ! -f "$bin/tools/$t" ]; then
        echo "hardening_test: $bin/tools/$t was not built"
        exit 1
    fi
    binaries+=("$bin/tools/$t")
done

# Can this toolchain link a CET-marked executable at all?
has_cet() {
    readelf -nW "$1" 2>/dev/null | grep -o -E 'x86 feature: [A-Z0-9_, ]*' |
        grep -q -E '\bIBT\b.*\bSHSTK\b'
}
cc="${CC:-gcc}"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int main(void)\n{\n    return 0;\n}\n' >"$probe/probe.c"
cet_linkable=0
if "$cc" -O2 -fcf-protection=full -fPIE -pie -o "$probe/probe" "$probe/probe.c" &&
    has_cet "$probe/probe"; then
    cet_linkable=1
fi

rc=0
if [ "$cet_linkable" -eq 1 ]; then
    tools/check_hardening.sh "${binaries[@]}" || rc=1
else
    unmarked=""
    for f in Scrt1.o crti.o crtn.o; do
        path=$(readlink -f "$("$cc" -print-file-name="$f")")
        if ! has_cet "$path"; then
            unmarked="$unmarked $path"
        fi
    done
    echo "hardening_test: $cc cannot link an executable marked IBT and SHSTK even from a" \
        "program compiled with -fcf-protection=full (startup files without the property:" \
        "${unmarked# }); cet is checked on the objects Bazel compiled instead"
    tools/check_hardening.sh --no-cet "${binaries[@]}" || rc=1

    # The objects of the library and of the tools' own sources.
    mapfile -t objects < <(find "$bin/_objs/vhdx" "$bin/tools/_objs" -name '*.o' 2>/dev/null | sort)
    obj_passed=0
    obj_failed=0
    for o in "${objects[@]}"; do
        if has_cet "$o"; then
            obj_passed=$((obj_passed + 1))
        else
            echo "$o: cet: FAIL (no IBT and SHSTK in its x86 feature property)"
            obj_failed=$((obj_failed + 1))
        fi
    done
    if [ "${#objects[@]}" -eq 0 ]; then
        echo "hardening_test: no objects under $bin/_objs/vhdx or $bin/tools/_objs"
        obj_failed=1
    fi
    echo "cet_objects: $obj_passed passed, $obj_failed failed"
    if [ "$obj_failed" -ne 0 ]; then
        rc=1
    fi
fi
exit "$rc"
