#!/usr/bin/env bash
# examples/convert_progress, export_sink and commit_child on the bundled
# images and on a chain made with the vhdx tool: the whole-disk SHA-256
# after each round trip (corpus/images/README.md), the exact progress
# lines, the summaries and the exit statuses.
# Usage: examples_test.sh CONVERT_PROGRESS EXPORT_SINK COMMIT_CHILD VHDX
# (Bazel passes them).
set -uo pipefail
usage="usage: examples_test.sh CONVERT_PROGRESS EXPORT_SINK COMMIT_CHILD VHDX"
conv=$(realpath "${1:?$usage}")
expo=$(realpath "${2:?$usage}")
comm=$(realpath "${3:?$usage}")
vhdx=$(realpath "${4:?$usage}")
if [ -n "${TEST_SRCDIR:-}" ]; then
    root="$TEST_SRCDIR/${TEST_WORKSPACE:?}"
else
    root="$(dirname "$0")/.."
fi
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
hv_sha=d3d112d8dab7fd360609f7d5a7b769904b7a2a7d7b6b8c535f65a23293c05478
d2v_sha=96d964042be9b58dda1725567abfb0cf9fd8380e2118754afa979c2ad445938a
passed=0
failed=0

check() { # check DESCRIPTION STATUS
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1"
        sed 's/^/    | /' "$tmp/err"
    fi
}
expect_eq() { check "$3: '$1', expected '$2'" "$([ "$1" = "$2" ]; echo $?)"; }

bunzip2 -c "$root/corpus/images/hyperv-dynamic-1G.vhdx.bz2" >"$tmp/hv.vhdx"
bunzip2 -c "$root/corpus/images/disk2vhd-256M.vhdx.bz2" >"$tmp/d2v.vhdx"
cd "$tmp" || exit 2

# --- export_sink: the whole disk on a pipe ---
sha=$("$expo" hv.vhdx 2>err | sha256sum | cut -d' ' -f1)
expect_eq "$sha" "$hv_sha" "export_sink hv.vhdx SHA-256"
# 66 MiB of data (0xa5 then 0x96), the rest of the 1 GiB zeros.
expect_eq "$(sed 's/^[0-9]* ranges, //' err)" "69206016 bytes of data, 1004535808 bytes of zeros" "export_sink summary"
sha=$("$expo" d2v.vhdx 2>err | sha256sum | cut -d' ' -f1)
expect_eq "$sha" "$d2v_sha" "export_sink d2v.vhdx SHA-256"

# --- convert_progress: VHDX -> VHDX, progress lines when stderr is a file ---
"$conv" hv.vhdx copy.vhdx >out 2>err
expect_eq "$?" 0 "convert_progress hv.vhdx exit"
# The 96 MiB of data blocks go in runs of 16 MiB (half of what the default
# 64 MiB limit leaves, in a power-of-two part of a 32 MiB block); of those
# runs, the one holding [80 MiB, 96 MiB) is all zeros and is not written.
expect_eq "$(cat out)" "converted hv.vhdx to copy.vhdx: 83886080 bytes of data" "convert_progress output"
expect_eq "$(tr '\n' ' ' <err)" "progress: 10% progress: 20% progress: 30% progress: 40% progress: 50% progress: 60% progress: 70% progress: 80% progress: 90% progress: 100% " "progress lines"
sha=$("$expo" copy.vhdx 2>err | sha256sum | cut -d' ' -f1)
expect_eq "$sha" "$hv_sha" "hv.vhdx -> copy.vhdx SHA-256"

# --- raw -> fixed VHDX -> raw ---
"$expo" d2v.vhdx >d2v.raw 2>err
"$conv" -f d2v.raw fixed.vhdx >out 2>err
expect_eq "$?" 0 "convert_progress -f d2v.raw exit"
sha=$("$expo" fixed.vhdx 2>err | sha256sum | cut -d' ' -f1)
expect_eq "$sha" "$d2v_sha" "d2v.raw -> fixed.vhdx SHA-256"

# --- refusals ---
before=$(sha256sum copy.vhdx)
"$conv" hv.vhdx copy.vhdx >out 2>err
expect_eq "$?" 2 "convert_progress onto an existing file"
expect_eq "$(sha256sum copy.vhdx)" "$before" "the existing file is untouched"
"$conv" missing.raw new.vhdx >out 2>err
expect_eq "$?" 2 "convert_progress of a missing SRC"
check "no new.vhdx after a missing SRC" "$([ ! -e new.vhdx ]; echo $?)"
printf 'x' | dd of=hv.vhdx bs=1 seek=$((0x10000)) conv=notrunc status=none
printf 'x' | dd of=hv.vhdx bs=1 seek=$((0x20000)) conv=notrunc status=none
"$conv" hv.vhdx new.vhdx >out 2>err
expect_eq "$?" 1 "convert_progress of a VHDX with both headers broken"
"$expo" hv.vhdx >/dev/null 2>err
expect_eq "$?" 1 "export_sink of a VHDX with both headers broken"
"$expo" >/dev/null 2>err
expect_eq "$?" 2 "export_sink without IMAGE"

# --- commit_child: stopped at a quarter, the chain unchanged, run again ---
MiB=$((1024 * 1024))
"$vhdx" create -q -o block_size=1M p.vhdx 64M
head -c $((8 * MiB)) /dev/urandom >p.bin
"$vhdx" write -q p.vhdx 0 p.bin
"$vhdx" create -q -o subformat=differencing,parent=p.vhdx c.vhdx
head -c $((16 * MiB)) /dev/urandom >c.bin
"$vhdx" write -q c.vhdx $((4 * MiB)) c.bin
chain_sha=$("$expo" c.vhdx 2>err | sha256sum | cut -d' ' -f1)
want_sha=$( (head -c $((4 * MiB)) p.bin; cat c.bin; head -c $((44 * MiB)) /dev/zero) | sha256sum | cut -d' ' -f1)
expect_eq "$chain_sha" "$want_sha" "the chain before the commit"
"$comm" --stop-at 25 c.vhdx >out 2>err
expect_eq "$?" 130 "commit_child --stop-at 25 exit"
expect_eq "$(tr '\n' ' ' <err)" "commit: 25% stopped: c.vhdx still reads as before; run again to finish " "commit_child --stop-at 25 messages"
expect_eq "$("$expo" c.vhdx 2>err | sha256sum | cut -d' ' -f1)" "$want_sha" "the chain after the stop"
"$comm" c.vhdx >out 2>err
expect_eq "$?" 0 "commit_child run again exit"
expect_eq "$(cat out)" "committed c.vhdx into $(realpath p.vhdx): $((16 * MiB)) bytes of data, 0 bytes zeroed (resumed)" "commit_child run again output"
expect_eq "$(tr '\n' ' ' <err)" "commit: 25% commit: 50% commit: 75% commit: 100% " "commit_child progress lines"
expect_eq "$("$expo" p.vhdx 2>err | sha256sum | cut -d' ' -f1)" "$want_sha" "the parent alone after the commit"
expect_eq "$("$expo" c.vhdx 2>err | sha256sum | cut -d' ' -f1)" "$want_sha" "the child after the commit"
"$comm" p.vhdx >out 2>err
expect_eq "$?" 2 "commit_child of an image without a parent"
expect_eq "$(cat err)" "p.vhdx: cannot commit: invalid argument" "commit_child of an image without a parent: message"

echo "examples_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
