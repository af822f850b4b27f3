#!/usr/bin/env bash
# Checks that ELF executables and shared objects carry what the release
# configuration of .bazelrc asks the compiler and linker for, reading each file
# with readelf (binutils) only:
#   pie        ELF type DYN with a program interpreter (-fPIE -pie); a shared
#              object (NAME.so, NAME.so.N) needs only the type DYN;
#   relro      a GNU_RELRO segment and immediate binding: DT_BIND_NOW, FLAGS
#              BIND_NOW or FLAGS_1 NOW (-Wl,-z,relro,-z,now: full RELRO);
#   nx_stack   a GNU_STACK segment without E (-Wl,-z,noexecstack);
#   stack_protector  a reference to __stack_chk_fail (-fstack-protector-strong);
#   fortify    a reference to at least one __*_chk function (-D_FORTIFY_SOURCE=3
#              with -O2);
#   cet        IBT and SHSTK in the x86 feature property of .note.gnu.property
#              (-fcf-protection=full).
# The linker keeps the cet property only if every object it links has it, the C
# library's startup files (Scrt1.o, crti.o, crtn.o) included. Debian 12's glibc
# is built without it, so no executable linked there can pass cet, whatever
# the compiler flags; --no-cet leaves it unchecked (tools/hardening_test.sh
# passes it only after proving the toolchain cannot produce the property).
#
# Usage: tools/check_hardening.sh [--no-cet] BINARY...
# Prints "BINARY: PROPERTY: ok" or "BINARY: PROPERTY: FAIL (why)" for each
# binary and property ("skipped" for cet under --no-cet, counted neither way),
# then "check_hardening: N passed, M failed".
# Exit status: 0 every check passed, 1 a check failed, 2 usage error or readelf
# is missing.
set -uo pipefail
export LC_ALL=C

check_cet=1
if [ "${1:-}" = "--no-cet" ]; then
    check_cet=0
    shift
fi
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 [--no-cet] BINARY..." >&2
    exit 2
fi
if ! command -v readelf >/dev/null 2>&1; then
    echo "check_hardening: readelf is not installed (tools/setup.sh installs binutils)" >&2
    exit 2
fi

passed=0
failed=0
ok() {
    echo "$1: $2: ok"
    passed=$((passed + 1))
}
fail() {
    echo "$1: $2: FAIL ($3)"
    failed=$((failed + 1))
}

for bin in "$@"; do
    if ! header=$(readelf -hW "$bin" 2>&1); then
        fail "$bin" elf "not an ELF file readelf can read: $(printf '%s' "$header" | head -n 1)"
        continue
    fi
    segments=$(readelf -lW "$bin" 2>/dev/null)
    dynamic=$(readelf -dW "$bin" 2>/dev/null)
    symbols=$(readelf -sW "$bin" 2>/dev/null)
    notes=$(readelf -nW "$bin" 2>/dev/null)
    type=$(printf '%s\n' "$header" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
    machine=$(printf '%s\n' "$header" | sed -n 's/^ *Machine: *//p')

    # pie
    case "$bin" in
        *.so | *.so.[0-9]*) shared=1 ;;
        *) shared=0 ;;
    esac
    has_interp=0
    if printf '%s\n' "$segments" | grep -q -E '^ *INTERP '; then
        has_interp=1
    fi
    if [ "$type" != DYN ]; then
        fail "$bin" pie "ELF type ${type:-unknown}, not DYN"
    elif [ "$shared" -eq 0 ] && [ "$has_interp" -eq 0 ]; then
        fail "$bin" pie "type DYN without a program interpreter: not an executable"
    else
        ok "$bin" pie
    fi

    # relro: the segment, and every relocation done before main (no lazy binding).
    has_relro=0
    if printf '%s\n' "$segments" | grep -q -E '^ *GNU_RELRO '; then
        has_relro=1
    fi
    has_now=0
    if printf '%s\n' "$dynamic" | grep -q -E '\(BIND_NOW\)|\(FLAGS\) .*\bBIND_NOW\b|\(FLAGS_1\) .*\bNOW\b'; then
        has_now=1
    fi
    if [ "$has_relro" -eq 1 ] && [ "$has_now" -eq 1 ]; then
        ok "$bin" relro
    elif [ "$has_relro" -eq 1 ]; then
        fail "$bin" relro "GNU_RELRO without BIND_NOW: partial RELRO"
    elif [ "$has_now" -eq 1 ]; then
        fail "$bin" relro "BIND_NOW without a GNU_RELRO segment"
    else
        fail "$bin" relro "no GNU_RELRO segment, no BIND_NOW"
    fi

    # nx_stack: the flags of GNU_STACK are the fields between its memory size
    # and its alignment ("RW", or "RWE" for an executable stack).
    stack_flags=$(printf '%s\n' "$segments" | awk '$1 == "GNU_STACK" {
        f = ""; for (i = 7; i < NF; i++) f = f $i; print f; exit }')
    if printf '%s\n' "$segments" | grep -q -E '^ *GNU_STACK '; then
        case "$stack_flags" in
            *E*) fail "$bin" nx_stack "GNU_STACK is executable ($stack_flags)" ;;
            *) ok "$bin" nx_stack ;;
        esac
    else
        fail "$bin" nx_stack "no GNU_STACK segment: the stack defaults to executable"
    fi

    # stack_protector
    if printf '%s\n' "$symbols" | grep -q -E ' __stack_chk_fail(_local)?(@|$)'; then
        ok "$bin" stack_protector
    else
        fail "$bin" stack_protector "no reference to __stack_chk_fail"
    fi

    # fortify: __memcpy_chk, __snprintf_chk, ... (not __stack_chk_fail).
    chk=$(printf '%s\n' "$symbols" | grep -o -E ' __[a-z0-9_]+_chk(@|$)' | head -n 1)
    if [ -n "$chk" ]; then
        ok "$bin" fortify
    else
        fail "$bin" fortify "no reference to a __*_chk function"
    fi

    # cet
    if [ "$check_cet" -eq 0 ]; then
        echo "$bin: cet: skipped (--no-cet)"
    else
        case "$machine" in
            *X86-64* | *80386*)
                features=$(printf '%s\n' "$notes" | grep -o -E 'x86 feature: [A-Z0-9_, ]*' | head -n 1)
                missing=""
                for f in IBT SHSTK; do
                    if ! printf '%s\n' "$features" | grep -q -E "\b$f\b"; then
                        missing="$missing $f"
                    fi
                done
                if [ -z "$missing" ]; then
                    ok "$bin" cet
                else
                    fail "$bin" cet "x86 feature property lacks${missing}${features:+ (has ${features#x86 feature: })}"
                fi
                ;;
            *) fail "$bin" cet "machine ${machine:-unknown} has no x86 CET" ;;
        esac
    fi
done

echo "check_hardening: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
    exit 1
fi
