#!/usr/bin/env bash
# Static analysis of the library, the tools and the nbdkit plugin:
#   clang-tidy  the bugprone, cert and misc checks (.clang-tidy);
#   cppcheck    its warning, portability and performance checks;
#   scan-build  clang's static analyzer (in place of clang-tidy's clang-analyzer
#               checks): every file compiled with clang and CFLAGS below,
#               analysed with the default checkers plus SCAN_CHECKERS; any
#               report fails (--status-bugs), and so does a file that does not
#               compile or that the analyzer cannot finish. Its reports go to
#               a temporary directory, removed on exit; the findings are
#               printed as FILE:LINE:COLUMN lines;
#   check_layers.sh  the call graph between the files of src/ has no cycle,
#               within each directory and between them (docs/DESIGN.md,
#               "Layers"): one "layers: ..." line per graph.
# Each tool prints one summary line ("scan-build: N files, M reports").
# Exit status: 0 none reports anything, 1 a finding, 2 a tool is missing.
# LINT_JOBS (default 2) clang-tidy or scan-build compilations run at once.
set -euo pipefail
cd "$(dirname "$0")/.."

# The layers first: it needs only the compiler and binutils.
layers_rc=0
tools/check_layers.sh || layers_rc=$?

missing=0
for tool in clang-tidy cppcheck scan-build; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "lint: $tool is not installed (tools/setup.sh installs it)" >&2
        missing=1
    fi
done
if [ "$missing" -ne 0 ]; then
    exit 2
fi

shopt -s nullglob
files=(src/*/*.c tools/*.c tools/vhdx/*.c examples/*.c nbdkit/*.c)
shopt -u nullglob
CFLAGS=(-std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Itests)
# A finding as both tools print it: FILE:LINE:COLUMN: warning|error: ...
FINDING='^[^ :]+:[0-9]+:[0-9]+: (warning|error):'

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# clang-tidy: one process per file; each file's output and exit status kept apart.
printf '%s\0' "${files[@]}" |
    xargs -0 -P "${LINT_JOBS:-2}" -I{} sh -c '
        out="$1" f="$2"
        shift 2
        log="$out/$(printf "%s" "$f" | tr / _)"
        rc=0
        clang-tidy --quiet "$f" -- "$@" >"$log.out" 2>&1 || rc=$?
        echo "$rc" >"$log.rc"
    ' sh "$out" {} "${CFLAGS[@]}"
# A finding in a header is printed once per file including it: count it once.
cat "$out"/*.out | grep -E "$FINDING" | sort -u >"$out/tidy" || true
tidy_findings=$(wc -l <"$out/tidy")
tidy_failed=0
for rc in "$out"/*.rc; do
    if [ "$(cat "$rc")" != 0 ]; then
        tidy_failed=$((tidy_failed + 1))
    fi
done
if [ "$tidy_findings" -ne 0 ] || [ "$tidy_failed" -ne 0 ]; then
    # The whole report (notes and source lines included) of each file that failed.
    for rc in "$out"/*.rc; do
        if [ "$(cat "$rc")" != 0 ]; then
            grep -v -E '^[0-9]+ (warning|error)s? generated\.$' "${rc%.rc}.out" || true
        fi
    done
fi
echo "clang-tidy: ${#files[@]} files, $tidy_findings findings"
if [ "$tidy_findings" -eq 0 ] && [ "$tidy_failed" -ne 0 ]; then
    echo "clang-tidy: failed on $tidy_failed file(s) without a finding (see above)"
fi

# cppcheck: one run over every file.
cpp_rc=0
cppcheck --quiet --enable=warning,portability,performance --inline-suppr --std=c11 \
    -D_GNU_SOURCE -Iinclude -Isrc --error-exitcode=1 -j "${LINT_JOBS:-2}" \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    "${files[@]}" >"$out/cppcheck" 2>&1 || cpp_rc=$?
cpp_findings=$(grep -c -E '^[^ :]+:[0-9]+:[0-9]+: ' "$out/cppcheck" || true)
if [ "$cpp_rc" -ne 0 ] || [ "$cpp_findings" -ne 0 ]; then
    cat "$out/cppcheck"
fi
echo "cppcheck: $cpp_findings findings"
if [ "$cpp_findings" -eq 0 ] && [ "$cpp_rc" -ne 0 ]; then
    echo "cppcheck: exited with status $cpp_rc without a finding (see above)"
fi

# scan-build: the analyzer's checkers that are off by default, added so that it
# runs every checker that can fire on this C code (.clang-tidy leaves the
# analyzer to scan-build). Left off, one reason each:
#   security.insecureAPI.DeprecatedOrUnsafeBufferHandling: it asks for Annex K
#     functions (memcpy_s, snprintf_s), which glibc does not provide;
#   osx.*, optin.osx.*, security.insecureAPI.decodeValueOfObjCType, webkit.*,
#   optin.cplusplus.*, optin.performance.GCDAntipattern, optin.mpi.*,
#   fuchsia.*: Objective-C, C++, Apple, MPI and Fuchsia APIs, none used here;
#   alpha.*: unfinished checkers.
SCAN_CHECKERS=(
    security.FloatLoopCounter
    security.insecureAPI.bcmp security.insecureAPI.bcopy security.insecureAPI.bzero
    security.insecureAPI.rand security.insecureAPI.strcpy
    valist.CopyToSelf valist.Uninitialized valist.Unterminated
    nullability.NullableDereferenced nullability.NullablePassedToNonnull
    nullability.NullableReturnedFromNonnull
    optin.portability.UnixAPI optin.performance.Padding
)
scan_args=()
for checker in "${SCAN_CHECKERS[@]}"; do
    scan_args+=(-enable-checker "$checker")
done
# One scan-build run whose build command compiles LINT_JOBS files at once
# through scan-build's compiler wrapper ($CC); objects go to the temporary directory.
mkdir "$out/scan" "$out/obj"
scan_rc=0
printf '%s\0' "${files[@]}" >"$out/files"
scan-build -o "$out/scan" --status-bugs --use-cc=clang "${scan_args[@]}" \
    xargs -0 -a "$out/files" -P "${LINT_JOBS:-2}" -I{} sh -c '
        obj="$1/$(printf "%s" "$2" | tr / _).o" f="$2"
        shift 2
        "$CC" "$@" -c "$f" -o "$obj"
    ' sh "$out/obj" {} "${CFLAGS[@]}" >"$out/scan.log" 2>&1 || scan_rc=$?
scan_reports=$(find "$out/scan" -name 'report-*.html' | wc -l)
scan_failures=$(find "$out/scan" -path '*/failures/*' -name '*.info.txt' | wc -l)
if [ "$scan_rc" -ne 0 ] || [ "$scan_reports" -ne 0 ] || [ "$scan_failures" -ne 0 ]; then
    # Without scan-build's own progress lines: its report directory is removed on exit.
    grep -v -E -e '^[0-9]+ (warning|error)s? generated\.$' \
        -e "^scan-build: (Using |Emitting reports|Analysis run complete|Run 'scan-view|Removing directory|[0-9]+ bugs? found|No bugs found)" \
        "$out/scan.log" || true
fi
echo "scan-build: ${#files[@]} files, $scan_reports reports"
if [ "$scan_failures" -ne 0 ]; then
    echo "scan-build: the analyzer failed on $scan_failures file(s) (see above)"
elif [ "$scan_reports" -eq 0 ] && [ "$scan_rc" -ne 0 ]; then
    echo "scan-build: exited with status $scan_rc without a report (see above)"
fi

if [ "$layers_rc" -ne 0 ]; then
    echo "layers: check_layers.sh exited with status $layers_rc (see above)"
fi

if [ "$tidy_findings" -ne 0 ] || [ "$tidy_failed" -ne 0 ] || [ "$cpp_findings" -ne 0 ] ||
    [ "$cpp_rc" -ne 0 ] || [ "$scan_reports" -ne 0 ] || [ "$scan_failures" -ne 0 ] ||
    [ "$scan_rc" -ne 0 ] || [ "$layers_rc" -ne 0 ]; then
    exit 1
fi
