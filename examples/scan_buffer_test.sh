#!/usr/bin/env bash
# examples/scan_buffer on the bundled Hyper-V and Disk2VHD images and on
# copies with one byte changed: exact exit statuses, verdict lines, rule ids
# and what the disk walk finds (corpus/images/README.md: the Hyper-V disk
# holds 0xa5 over [0, 33 MiB) and 0x96 over [33 MiB, 66 MiB)).
# Usage: scan_buffer_test.sh SCAN_BUFFER (Bazel passes it; by hand, any build).
set -uo pipefail
scan="${1:?usage: scan_buffer_test.sh SCAN_BUFFER}"
if [ -n "${TEST_SRCDIR:-}" ]; then
    root="$TEST_SRCDIR/${TEST_WORKSPACE:?}"
else
    root="$(dirname "$0")/.."
fi
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
passed=0
failed=0

check() { # check DESCRIPTION STATUS: counts one assertion
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        printf '%s\n' "$out" | sed 's/^/    | /'
    fi
}

run() { # run ARGS...: sets out (stdout and stderr) and rc
    out=$("$scan" "$@" 2>&1)
    rc=$?
}

expect_rc() { check "$2: exit $rc, expected $1" "$([ "$rc" -eq "$1" ]; echo $?)"; }
expect_line() { check "$2: no line '$1'" "$(grep -qxF -- "$1" <<<"$out"; echo $?)"; }
expect_last() { check "$2: last line is not '$1'" "$([ "$(tail -n 1 <<<"$out")" = "$1" ]; echo $?)"; }
expect_prefix() { check "$2: no line starting '$1'" "$(grep -qF -- "$1" <<<"$(cut -c1-${#1} <<<"$out")"; echo $?)"; }

bunzip2 -c "$root/corpus/images/hyperv-dynamic-1G.vhdx.bz2" >"$tmp/hv.vhdx"
bunzip2 -c "$root/corpus/images/disk2vhd-256M.vhdx.bz2" >"$tmp/d2v.vhdx"
# One byte changed: the first of the file identifier's signature, and the
# first of the metadata table's signature (at 2 MiB in this image).
cp "$tmp/hv.vhdx" "$tmp/bad-identifier.vhdx"
printf 'V' | dd of="$tmp/bad-identifier.vhdx" bs=1 seek=0 conv=notrunc status=none
cp "$tmp/hv.vhdx" "$tmp/bad-metadata.vhdx"
printf 'M' | dd of="$tmp/bad-metadata.vhdx" bs=1 seek=$((0x200000)) conv=notrunc status=none

# --- the Hyper-V image: clean, one info, its data scanned ---
run "$tmp/hv.vhdx"
expect_rc 0 "hyperv"
expect_last "verdict: clean (0 errors, 0 warnings, 1 info)" "hyperv"
expect_prefix "info    metadata_table.trailing_nonzero at 0x2000c0: " "hyperv"
expect_line "disk: dynamic, 1073741824 bytes; scanned 100663296 bytes of data in 1 extent (69206016 not zero); 0 bytes in the parent, not scanned" "hyperv"
# The library stayed within 8 MiB and gave everything back.
peak=$(sed -n 's/^memory: peak \([0-9]*\) bytes in [0-9]* allocations* (limit 8388608), 0 held after close$/\1/p' <<<"$out")
check "hyperv: memory line" "$([ -n "$peak" ] && [ "$peak" -gt 0 ] && [ "$peak" -le 8388608 ]; echo $?)"

# --- the same bytes from standard input ---
out=$("$scan" - <"$tmp/hv.vhdx" 2>&1)
rc=$?
expect_rc 0 "stdin"
expect_last "verdict: clean (0 errors, 0 warnings, 1 info)" "stdin"

# --- the Disk2VHD image: clean with two warnings ---
run "$tmp/d2v.vhdx"
expect_rc 0 "disk2vhd"
expect_last "verdict: clean (0 errors, 2 warnings, 0 infos)" "disk2vhd"
expect_prefix "warning image.header.equal_identical [E_CORRUPT] at 0x20000: " "disk2vhd"
expect_line "disk: dynamic, 268435456 bytes; scanned 268435456 bytes of data in 3 extents (394 not zero); 0 bytes in the parent, not scanned" "disk2vhd"

# --- one byte of the file identifier changed: not a VHDX file ---
run "$tmp/bad-identifier.vhdx"
expect_rc 1 "bad identifier"
expect_last "verdict: errors (1 error, 0 warnings, 0 infos)" "bad identifier"
expect_prefix "error   file_identifier.signature [E_SIGNATURE] at 0x0: " "bad identifier"
check "bad identifier: the disk is not walked" "$(! grep -q '^disk:' <<<"$out"; echo $?)"

# --- one byte of the metadata table changed ---
run "$tmp/bad-metadata.vhdx"
expect_rc 1 "bad metadata table"
expect_last "verdict: errors (1 error, 0 warnings, 0 infos)" "bad metadata table"
expect_prefix "error   metadata_table.signature [E_SIGNATURE] at 0x200000: " "bad metadata table"

# --- cannot judge, and usage ---
run "$tmp/missing.vhdx"
expect_rc 2 "missing file"
expect_last "verdict: cannot judge (cannot open the file: No such file or directory)" "missing file"
run
expect_rc 2 "no argument"
expect_line "usage: scan_buffer IMAGE" "no argument"

echo "scan_buffer_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
