#!/usr/bin/env bash
# The shared library exports the public interface and nothing else:
#   - every exported function is named vhdx_*;
#   - the exported functions are exactly those include/vhdx.h declares with
#     VHDX_API (the header is parsed, so a new public function that lacks
#     VHDX_API, or an internal one that gains default visibility, fails);
#   - no data object is exported (only the markers gold itself defines);
#   - the soname follows the header's version (BUILD sets it by hand);
#   - neither libvhdx.so nor libvhdx.a holds any code of the libraries that
#     are not shipped (the fault, record and sparse back ends, the reference replay
#     engine: NOT_SHIPPED_SRCS in BUILD): no symbol those archives define is
#     defined in either (all symbols, not only the exported ones).
# Usage: visibility_test.sh [LIBVHDX_SO [VHDX_H [LIBVHDX_A [NOT_SHIPPED_ARCHIVE...]]]]
# (defaults: the runfiles; without LIBVHDX_A the last check is skipped).
set -uo pipefail

root="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-}"
so="${1:-$root/libvhdx.so}"
header="${2:-$root/include/vhdx.h}"
static="${3:-}"
shift $(($# < 3 ? $# : 3))
# The remaining arguments: the archives of the libraries that are not shipped.
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
passed=0
failed=0

check() { # check NAME CONDITION-STATUS [DETAILS]
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        [ -z "${3:-}" ] || printf '%s\n' "$3" | sed 's/^/    /'
    fi
}

finish() {
    echo "visibility_test: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

if [ ! -f "$so" ] || [ ! -f "$header" ]; then
    check "inputs exist ($so, $header)" 1
    finish
fi

# The names of the functions declared with VHDX_API: each declaration runs
# from a line starting with VHDX_API to its ';'; the name is the identifier
# just before the first '('.
awk '
    /^VHDX_API[ \t]/ { decl = ""; on = 1 }
    on { decl = decl " " $0 }
    on && /;/ {
        on = 0
        if (match(decl, /[A-Za-z_][A-Za-z0-9_]*[ \t]*\(/)) {
            name = substr(decl, RSTART, RLENGTH)
            sub(/[ \t]*\($/, "", name)
            print name
        } else {
            print "UNPARSED:" decl
        }
    }
' "$header" | sort -u >"$tmp/declared"
declarations=$(grep -c '^VHDX_API[[:space:]]' "$header")
check "every VHDX_API declaration parsed ($declarations declarations)" \
    "$(! grep -q '^UNPARSED:' "$tmp/declared" &&
        [ "$(wc -l <"$tmp/declared")" -eq "$declarations" ]; echo $?)" \
    "$(cat "$tmp/declared")"

# nm -D --defined-only: "VALUE TYPE NAME"; a versioned name carries @VERSION.
if ! nm -D --defined-only "$so" >"$tmp/nm" 2>"$tmp/nm.err"; then
    check "nm -D --defined-only $so" 1 "$(cat "$tmp/nm.err")"
    finish
fi
awk 'NF == 3 && $2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u \
    >"$tmp/functions"
awk 'NF == 3 && $2 !~ /^[TWi]$/ { sub(/@.*/, "", $3); print $2 " " $3 }' "$tmp/nm" |
    grep -v -x -e 'D _edata' -e 'D _end' -e 'D __bss_start' -e 'B _edata' \
        -e 'B _end' -e 'B __bss_start' >"$tmp/data"

check "the library exports functions ($(wc -l <"$tmp/functions"))" \
    "$([ -s "$tmp/functions" ]; echo $?)"

grep -v '^vhdx_' "$tmp/functions" >"$tmp/unprefixed"
check "every exported function starts with vhdx_" \
    "$([ ! -s "$tmp/unprefixed" ]; echo $?)" \
    "exported without the prefix: $(tr '\n' ' ' <"$tmp/unprefixed")"

comm -23 "$tmp/functions" "$tmp/declared" | sed 's/^/exported but not declared with VHDX_API: /' \
    >"$tmp/difference"
comm -13 "$tmp/functions" "$tmp/declared" | sed 's/^/declared with VHDX_API but not exported: /' \
    >>"$tmp/difference"
check "the exported functions are exactly the VHDX_API ones of vhdx.h" \
    "$([ ! -s "$tmp/difference" ]; echo $?)" "$(cat "$tmp/difference")"

check "no data symbol is exported" "$([ ! -s "$tmp/data" ]; echo $?)" \
    "exported data: $(tr '\n' ' ' <"$tmp/data")"

# Every defined dynamic symbol, of any kind: a vhdx_ name or a linker marker.
awk 'NF == 3 { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u |
    grep -v -x -e 'vhdx_.*' -e _edata -e _end -e __bss_start >"$tmp/foreign" || true
check "nm -D exports only vhdx_ names" "$([ ! -s "$tmp/foreign" ]; echo $?)" \
    "exported: $(tr '\n' ' ' <"$tmp/foreign")"

# The soname: libvhdx.so.MAJOR.MINOR before 1.0, libvhdx.so.MAJOR after.
major=$(sed -n 's/^#define VHDX_VERSION_MAJOR \([0-9]*\)$/\1/p' "$header")
minor=$(sed -n 's/^#define VHDX_VERSION_MINOR \([0-9]*\)$/\1/p' "$header")
if [ "$major" = 0 ]; then want="libvhdx.so.$major.$minor"; else want="libvhdx.so.$major"; fi
got=$(objdump -p "$so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
check "the soname is $want (VHDX_VERSION_MAJOR $major, MINOR $minor)" \
    "$([ -n "$major" ] && [ -n "$minor" ] && [ "$got" = "$want" ]; echo $?)" \
    "SONAME of $so: ${got:-none}"

# The code that is not shipped. Its symbols come from its own archives
# (global definitions: the names the tests and tools link against).
if [ -n "$static" ]; then
    if [ ! -f "$static" ] || [ "$#" -eq 0 ]; then
        check "inputs exist (libvhdx.a: $static; $# archives not shipped)" 1
        finish
    fi
    : >"$tmp/not_shipped"
    for archive in "$@"; do
        nm --defined-only -g "$archive" 2>>"$tmp/nm.err" |
            awk 'NF == 3 { print $3 }' >"$tmp/one"
        check "the archive not shipped defines symbols: $(basename "$archive") ($(wc -l <"$tmp/one"))" \
            "$([ -s "$tmp/one" ]; echo $?)" "$(cat "$tmp/nm.err")"
        cat "$tmp/one" >>"$tmp/not_shipped"
    done
    sort -u -o "$tmp/not_shipped" "$tmp/not_shipped"

    # Every defined symbol of the shipped libraries, local ones included.
    for lib in "$so" "$static"; do
        name=$(basename "$lib")
        nm --defined-only "$lib" 2>"$tmp/nm.err" | awk 'NF == 3 { print $3 }' | sort -u \
            >"$tmp/shipped"
        # A stripped library would pass the comparison below by showing nothing.
        check "nm $name lists its internal symbols ($(wc -l <"$tmp/shipped"))" \
            "$(grep -q -x image_open "$tmp/shipped"; echo $?)" "$(cat "$tmp/nm.err")"
        comm -12 "$tmp/shipped" "$tmp/not_shipped" >"$tmp/leaked"
        check "$name holds no symbol of the libraries not shipped" \
            "$([ ! -s "$tmp/leaked" ]; echo $?)" "defined in $name: $(tr '\n' ' ' <"$tmp/leaked")"
    done
fi

finish
