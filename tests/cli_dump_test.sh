#!/usr/bin/env bash
# vhdx-dump on the bundled images made by Hyper-V and Disk2VHD: exact exit
# status and the decoded facts the images are known to hold
# (corpus/images/README.md), and the file is not modified.
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
dump="$root/tools/vhdx-dump"
tmp="${TEST_TMPDIR:?}"
fail() { echo "FAIL: $*"; exit 1; }

bunzip2 -c "$root/corpus/images/hyperv-dynamic-1G.vhdx.bz2" > "$tmp/hv.vhdx"
bunzip2 -c "$root/corpus/images/disk2vhd-256M.vhdx.bz2" > "$tmp/d2v.vhdx"
before=$(sha256sum "$tmp/hv.vhdx" "$tmp/d2v.vhdx")

out=$("$dump" "$tmp/hv.vhdx") || fail "hyperv image: exit $?"
grep -qx '  creator              "Microsoft Windows 6.2.9200.16384"' <<<"$out" || fail "creator"
grep -qx 'current header: 2' <<<"$out" || fail "current header"
grep -qx '  block size           33554432 (32 MiB)' <<<"$out" || fail "block size"
grep -qx '  virtual disk size    1073741824 (1024 MiB)' <<<"$out" || fail "disk size"
grep -qx '  payload blocks by state: ZERO=29 FULLY_PRESENT=3' <<<"$out" || fail "BAT states"
grep -qx 'summary: 0 error(s), 0 warning(s)' <<<"$out" || fail "summary"
# Hyper-V left two stale, valid log entries of an earlier session (not of the current, nil LogGuid).
grep -qx '  entry at +0x1000: sequence 4371089312299158168, length 0x2000, tail +0x1000, 1 descriptor(s), 1 data sector(s)' <<<"$out" || fail "stale log entry"

out=$("$dump" "$tmp/d2v.vhdx") || fail "disk2vhd image: exit $?"
grep -qx 'current header: 1 (both headers identical, equal sequence numbers)' <<<"$out" \
    || fail "disk2vhd equal headers"
grep -qx '  payload blocks by state: FULLY_PRESENT=128' <<<"$out" || fail "disk2vhd BAT"

# A corrupted header 2 checksum: header 1 becomes current, the error is reported, exit 1.
cp "$tmp/hv.vhdx" "$tmp/bad.vhdx"
printf '\xff' | dd of="$tmp/bad.vhdx" bs=1 seek=$((0x20000 + 100)) conv=notrunc status=none
set +e
out=$("$dump" "$tmp/bad.vhdx"); rc=$?
set -e
[ "$rc" -eq 1 ] || fail "corrupt header: exit $rc, expected 1"
grep -q '\[error\] header.checksum at 0x20004' <<<"$out" || fail "checksum finding"
grep -qx 'current header: 1' <<<"$out" || fail "fallback to header 1"

# Usage errors exit 2.
set +e
"$dump" >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "no argument: exit $rc, expected 2"
set +e
"$dump" "$tmp/missing.vhdx" >/dev/null 2>&1; rc=$?
set -e
[ "$rc" -eq 2 ] || fail "missing file: exit $rc, expected 2"

after=$(sha256sum "$tmp/hv.vhdx" "$tmp/d2v.vhdx")
[ "$before" = "$after" ] || fail "images were modified"
# Reaching this line means every assertion above held; count them.
checks=$(grep -e '|| fail "' "$0" | grep -vc -e 'checks=')
echo "cli_dump_test: $checks passed, 0 failed"
