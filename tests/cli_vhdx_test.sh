#!/usr/bin/env bash
# The `vhdx` tool on the bundled Microsoft-made images: info (text and
# JSON), check (identical to vhdx-verify), map, read and convert -O raw
# against the contents given in corpus/images/README.md, the exit statuses
# (0 success, 1 invalid image, 2 usage or I/O error), the commands that are
# refused, and the promise that images are never modified.
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
vhdx="$root/tools/vhdx"
verify="$root/tools/vhdx-verify"
tmp="${TEST_TMPDIR:?}"
name=cli_vhdx_test
passed=0

hv_sha=d3d112d8dab7fd360609f7d5a7b769904b7a2a7d7b6b8c535f65a23293c05478
d2v_sha=96d964042be9b58dda1725567abfb0cf9fd8380e2118754afa979c2ad445938a
GiB=1073741824
MiB=1048576

fail() {
    echo "FAIL: $*" >&2
    echo "$name: $passed passed, 1 failed"
    exit 1
}
ok() { passed=$((passed + 1)); }

# run CMD...: runs with errexit off; sets rc, out (stdout) and err (stderr).
# The raw stdout stays in $tmp/stdout.
run() {
    set +e
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    set -e
    out=$(tr -d '\0' <"$tmp/stdout")
    err=$(cat "$tmp/stderr")
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stderr: $err"; ok; }
expect_out() { [ "$out" = "$1" ] || fail "$2: stdout is:
$out
expected:
$1"; ok; }
expect_line() { grep -qxF -- "$1" <<<"$2" || fail "$3: no line '$1' in:
$2"; ok; }
expect_grep() { grep -qF -- "$1" <<<"$2" || fail "$3: no '$1' in:
$2"; ok; }
expect_empty() { [ -z "$1" ] || fail "$2: expected no output, got: $1"; ok; }
expect_no_file() { [ ! -e "$1" ] || fail "$2: $1 exists"; ok; }
# expect_bytes FILE COUNT BYTE: FILE holds exactly COUNT bytes, all equal to BYTE (octal).
expect_bytes() {
    [ "$(wc -c <"$1")" -eq "$2" ] || fail "$4: $(wc -c <"$1") bytes, expected $2"
    ok
    head -c "$2" /dev/zero | tr '\0' "\\$3" | cmp -s - "$1" || fail "$4: bytes are not all \\$3"
    ok
}
# expect_json FILE PYTHON-BODY WHAT: the body gets `doc` and calls
# check(cond, what) for each assertion; each one counts.
expect_json() {
    local n
    n=$(python3 - "$1" <<EOF
import json, sys
count = 0
def check(cond, what):
    global count
    if not cond:
        print("assertion failed: " + what, file=sys.stderr)
        sys.exit(1)
    count += 1
with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
count += 1  # it parsed
$2
print(count)
EOF
    ) || fail "$3: JSON assertions failed on $(cat "$1")"
    passed=$((passed + n))
}

cd "$tmp"
umask 022
bunzip2 -c "$root/corpus/images/hyperv-dynamic-1G.vhdx.bz2" >hv.vhdx
bunzip2 -c "$root/corpus/images/disk2vhd-256M.vhdx.bz2" >d2v.vhdx
cp hv.vhdx bad-h2.vhdx
printf '\xff' | dd of=bad-h2.vhdx bs=1 seek=$((0x20000 + 100)) conv=notrunc status=none
cp bad-h2.vhdx bad-both.vhdx
printf '\xff' | dd of=bad-both.vhdx bs=1 seek=$((0x10000 + 100)) conv=notrunc status=none
for _ in 1 2 3 4; do echo 'this is not a disk image'; done >text.vhdx
images=(hv.vhdx d2v.vhdx bad-h2.vhdx bad-both.vhdx text.vhdx)
before=$(sha256sum "${images[@]}")

# ---- top level ----
run "$vhdx"
expect_rc 2 "no arguments"
expect_empty "$out" "no arguments stdout"
expect_grep "usage: vhdx COMMAND" "$err" "no arguments usage"
run "$vhdx" --help
expect_rc 0 "--help"
for c in info check map read convert replay replay-diff create write discard resize commit; do
    grep -q "^  vhdx $c " <<<"$out" || fail "--help does not list $c: $out"
    ok
done
run "$vhdx" frobnicate
expect_rc 2 "unknown command"
run "$vhdx" --version
expect_rc 0 "--version"
[[ "$out" =~ ^vhdx\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version output: $out"
ok
for c in info check map read convert; do
    run "$vhdx" "$c" --help
    expect_rc 0 "$c --help"
    expect_grep "usage: vhdx $c " "$out" "$c --help usage"
    run "$vhdx" "$c" --no-such-option hv.vhdx
    expect_rc 2 "$c with an unknown option"
done
# Words that must not appear in any help text (spelled in pieces so that
# this file does not contain them either).
run "$vhdx" --help
all_help="$out"
for c in info check map read convert; do
    run "$vhdx" "$c" --help
    all_help+="$out"
done
run "$verify" --help
all_help+="$out"
forbidden="not implem""ented|TO""DO|FIX""ME|X""XX"
if grep -Eiq "$forbidden" <<<"$all_help"; then fail "forbidden word in help"; fi
ok

# ---- info ----
run "$vhdx" info hv.vhdx
expect_rc 0 "info hyperv"
expect_line "image:                hv.vhdx" "$out" "info image"
expect_line "type:                 dynamic" "$out" "info type"
expect_line "virtual size:         1073741824 (1 GiB)" "$out" "info virtual size"
expect_line "file size:            104857600 (100 MiB)" "$out" "info file size"
expect_line "block size:           33554432 (32 MiB)" "$out" "info block size"
expect_line "logical sector size:  512" "$out" "info logical sector size"
expect_line "chunk ratio:          128" "$out" "info chunk ratio"
expect_line "blocks allocated:     3" "$out" "info blocks allocated"
expect_line "current header:       2" "$out" "info current header"
expect_line "log offset:           0x100000" "$out" "info log offset"
expect_line "log state:            clean" "$out" "info log state"
expect_line "chain depth:          0" "$out" "info chain depth"
expect_line "creator:              Microsoft Windows 6.2.9200.16384" "$out" "info creator"
if grep -q "^parent" <<<"$out"; then fail "info shows parent lines for a base image"; fi
ok

run "$vhdx" info d2v.vhdx
expect_rc 0 "info disk2vhd"
expect_line "virtual size:         268435456 (256 MiB)" "$out" "d2v virtual size"
expect_line "block size:           2097152 (2 MiB)" "$out" "d2v block size"
expect_line "current header:       1" "$out" "d2v current header"
expect_line "header sequence:      1" "$out" "d2v header sequence"

run "$vhdx" info --json hv.vhdx
expect_rc 0 "info --json"
cp "$tmp/stdout" info.json
python3 -m json.tool info.json >/dev/null || fail "json.tool rejects info --json"
ok
grep -q '"virtual_size": 1073741824' info.json || fail "info --json virtual_size text"
ok
expect_json info.json '
check(doc["version"] == 1, "version")
check(doc["path"] == "hv.vhdx", "path")
check(doc["type"] == "dynamic", "type")
check(doc["virtual_size"] == 1073741824, "virtual_size")
check(doc["file_size"] == 104857600, "file_size")
check(doc["block_size"] == 33554432, "block_size")
check(doc["logical_sector_size"] == 512, "logical_sector_size")
check(doc["chunk_ratio"] == 128, "chunk_ratio")
check(doc["blocks_allocated"] == 3, "blocks_allocated")
check(doc["current_header"] == 2, "current_header")
check(doc["log_offset"] == 1048576 and doc["log_length"] == 1048576, "log")
check(doc["log_dirty"] is False and doc["log_entries_replayed"] == 0, "log state")
check(doc["log_guid"] == "{00000000-0000-0000-0000-000000000000}", "log_guid")
check(doc["parent_linkage"] is None and doc["parent_path"] is None, "no parent")
check(doc["chain_depth"] == 0, "chain_depth")
check(doc["creator"] == "Microsoft Windows 6.2.9200.16384", "creator")
for k in ("file_write_guid", "data_write_guid", "virtual_disk_id"):
    check(len(doc[k]) == 38 and doc[k][0] == "{" and doc[k][-1] == "}", k)
' "info --json"

# Hostile creator text: control characters are escaped in both outputs.
cp hv.vhdx creator.vhdx
# UTF-16LE "E", ESC, "[", quote, backslash, BEL, "A", U+00E9, U+202E, then NUL.
printf 'E\x00\x1b\x00[\x00"\x00\\\x00\x07\x00A\x00\xe9\x00\x2e\x20\x00\x00' |
    dd of=creator.vhdx bs=1 seek=8 conv=notrunc status=none
run "$vhdx" info creator.vhdx
expect_rc 0 "info hostile creator"
expect_line 'creator:              E\x1b["\\x07Aé\u202e' "$out" "hostile creator in text"
run "$vhdx" info --json creator.vhdx
cp "$tmp/stdout" creator.json
expect_json creator.json '
check(doc["creator"] == "E\x1b[\"\\\x07A\u00e9\u202e", "creator round trip")
' "hostile creator in JSON"
grep -qF '"creator": "E\u001b[\"\\\u0007Aé\u202e"' creator.json || fail "creator escapes: $(grep creator creator.json)"
ok

run "$vhdx" info text.vhdx
expect_rc 1 "info on text"
expect_empty "$out" "info on text stdout"
expect_line "vhdx: text.vhdx: invalid image: bad signature" "$err" "info on text message"
expect_grep "  error   file_identifier.signature  at 0x0: " "$err" "info on text finding"
# One bad header: the image opens from header 1.
run "$vhdx" info bad-h2.vhdx
expect_rc 0 "info on corrupt header 2"
expect_line "current header:       1" "$out" "info on corrupt header 2 uses header 1"
# Both bad: invalid, and the error findings go to stderr.
run "$vhdx" info bad-both.vhdx
expect_rc 1 "info on two corrupt headers"
expect_empty "$out" "info on two corrupt headers stdout"
[ "$err" = "vhdx: bad-both.vhdx: invalid image: corrupt structure
  error   header.checksum  at 0x10004: checksum is 0x37fabb18, computed 0x1dde0d3c
  error   header.checksum  at 0x20004: checksum is 0xb502276f, computed 0x9f26914b
  error   image.header.none_valid  at 0x10000: neither header is valid" ] \
    || fail "info on two corrupt headers stderr: $err"
ok
run "$vhdx" info missing.vhdx
expect_rc 2 "info on missing file"
expect_line "vhdx: missing.vhdx: cannot open: No such file or directory" "$err" "info missing message"
run "$vhdx" info
expect_rc 2 "info without IMAGE"
run "$vhdx" info hv.vhdx d2v.vhdx
expect_rc 2 "info with two images"

# ---- check: the same as vhdx-verify ----
for img in hv.vhdx d2v.vhdx bad-h2.vhdx bad-both.vhdx text.vhdx missing.vhdx; do
    run "$verify" "$img"
    v_rc=$rc v_out=$out
    run "$vhdx" check "$img"
    [ "$rc" -eq "$v_rc" ] || fail "check $img: exit $rc, vhdx-verify $v_rc"
    ok
    [ "$out" = "$v_out" ] || fail "check $img: output differs from vhdx-verify: $out"
    ok
    run "$verify" --json "$img"
    v_out=$out
    run "$vhdx" check --json "$img"
    [ "$out" = "$v_out" ] || fail "check --json $img differs from vhdx-verify --json"
    ok
done
run "$vhdx" check d2v.vhdx
expect_rc 0 "check disk2vhd"
expect_line "d2v.vhdx: ok (2 warnings)" "$out" "check disk2vhd verdict"
run "$vhdx" check bad-h2.vhdx
expect_rc 0 "check corrupt header 2"
expect_line "bad-h2.vhdx: ok (2 warnings)" "$out" "check corrupt header 2 verdict"
run "$vhdx" check bad-both.vhdx
expect_rc 1 "check two corrupt headers"
expect_line "bad-both.vhdx: errors (3 errors, 0 warnings)" "$out" "check two corrupt headers verdict"
# A clean log: -r has nothing to repair, writes nothing, and checks.
hv_file_sha=$(sha256sum hv.vhdx | cut -d' ' -f1)
for level in leaks all; do
    run "$vhdx" check -r $level hv.vhdx
    expect_rc 0 "check -r $level"
    expect_line "hv.vhdx: the log is clean, nothing to replay" "$out" "check -r $level replay line"
    expect_line "hv.vhdx: ok (0 warnings)" "$out" "check -r $level verdict"
    [ "$(sha256sum hv.vhdx | cut -d' ' -f1)" = "$hv_file_sha" ] || fail "check -r $level wrote"
    ok
done
run "$vhdx" check -r everything hv.vhdx
expect_rc 2 "check -r with a bad value"
expect_grep "-r takes 'leaks' or 'all'" "$err" "check -r bad value message"

# ---- map ----
run "$vhdx" map hv.vhdx
expect_rc 0 "map hyperv"
# The three FULLY_PRESENT blocks are contiguous in the file: one extent of 96 MiB.
expect_out "0x0 0x6000000 data file 0x400000 (FULLY_PRESENT)
0x6000000 0x3a000000 zero (ZERO)" "map hyperv output"
run "$vhdx" map d2v.vhdx
expect_rc 0 "map disk2vhd"
expect_out "0x0 0x200000 data file 0x400000 (FULLY_PRESENT)
0x200000 0xfc00000 data file 0x800000 (FULLY_PRESENT)
0xfe00000 0x200000 data file 0x600000 (FULLY_PRESENT)" "map disk2vhd output"
run "$vhdx" map --json hv.vhdx
expect_rc 0 "map --json"
cp "$tmp/stdout" map.json
expect_json map.json '
check(isinstance(doc, list) and len(doc) == 2, "two extents")
check(doc[0] == {"offset": 0, "length": 3 * 32 * 1024 * 1024, "kind": "data",
                 "file_offset": 4 * 1024 * 1024, "bat_state": "FULLY_PRESENT"}, "data extent")
check(doc[1] == {"offset": 96 * 1024 * 1024, "length": (1024 - 96) * 1024 * 1024, "kind": "zero",
                 "file_offset": None, "bat_state": "ZERO"}, "zero extent")
check(sum(e["length"] for e in doc) == 1073741824, "extents cover the disk")
' "map --json"
run "$vhdx" map text.vhdx
expect_rc 1 "map on text"
run "$vhdx" map bad-both.vhdx
expect_rc 1 "map on two corrupt headers"
run "$vhdx" map missing.vhdx
expect_rc 2 "map on missing file"

# ---- read ----
run "$vhdx" read hv.vhdx 0 4096
expect_rc 0 "read [0, 4K)"
expect_bytes "$tmp/stdout" 4096 245 "read [0, 4K) is 0xa5"
run "$vhdx" read hv.vhdx 33M 4096
expect_rc 0 "read [33M, +4K)"
expect_bytes "$tmp/stdout" 4096 226 "read [33M, +4K) is 0x96"
run "$vhdx" read hv.vhdx 66M 4K
expect_rc 0 "read [66M, +4K)"
expect_bytes "$tmp/stdout" 4096 000 "read [66M, +4K) is zeros"
# Offsets in hex, a range across the 0xa5/0x96 boundary.
run "$vhdx" read hv.vhdx 0x20FFFFE 4
expect_rc 0 "read across the boundary"
[ "$(od -An -tx1 "$tmp/stdout" | tr -d ' ')" = "a5a59696" ] || fail "boundary bytes"
ok
# Reads of more than one 4 MiB chunk give exactly the bytes asked for.
run "$vhdx" read hv.vhdx 30M 5M
expect_rc 0 "read of 5 MiB"
head -c $((3 * MiB)) /dev/zero | tr '\0' '\245' >expect.bin
head -c $((2 * MiB)) /dev/zero | tr '\0' '\226' >>expect.bin
cmp -s expect.bin "$tmp/stdout" || fail "read of 5 MiB contents"
ok
run "$vhdx" read hv.vhdx 1G 0
expect_rc 0 "empty read at the end"
[ "$(wc -c <"$tmp/stdout")" -eq 0 ] || fail "empty read wrote bytes"
ok
run "$vhdx" read hv.vhdx 1023M 1M
expect_rc 0 "read of the last MiB"
expect_bytes "$tmp/stdout" $MiB 000 "last MiB is zeros"
# Ranges outside the disk and malformed numbers are usage errors.
for args in "1G 1" "1023M 2M" "0 2G" "18446744073709551615 1" "0x3FFFFFFFFFFFFFFF 16777215T"; do
    # shellcheck disable=SC2086
    run "$vhdx" read hv.vhdx $args
    expect_rc 2 "read outside: $args"
    [ "$(wc -c <"$tmp/stdout")" -eq 0 ] || fail "read outside wrote bytes: $args"
    ok
done
expect_grep "is outside the virtual disk" "$err" "outside message"
for bad in "" abc -1 1KB "1 " 0x 16777216T 18446744073709551616 1k2 +5; do
    run "$vhdx" read hv.vhdx "$bad" 1
    expect_rc 2 "read offset '$bad'"
    run "$vhdx" read hv.vhdx 0 "$bad"
    expect_rc 2 "read length '$bad'"
done
run "$vhdx" read hv.vhdx 0
expect_rc 2 "read without LENGTH"
run "$vhdx" read text.vhdx 0 1
expect_rc 1 "read on text"
run "$vhdx" read bad-both.vhdx 0 1
expect_rc 1 "read on two corrupt headers"
expect_empty "$out" "read on two corrupt headers stdout"
run "$vhdx" read missing.vhdx 0 1
expect_rc 2 "read on missing file"

# ---- convert ----
run "$vhdx" convert -O raw hv.vhdx hv.raw
expect_rc 0 "convert hyperv"
expect_empty "$out$err" "convert hyperv output"
[ "$(sha256sum <hv.raw | cut -d' ' -f1)" = "$hv_sha" ] || fail "hyperv raw SHA-256"
ok
[ "$(stat -c %s hv.raw)" -eq $GiB ] || fail "hyperv raw size"
ok
[ "$(stat -c %a hv.raw)" = 644 ] || fail "hyperv raw mode $(stat -c %a hv.raw)"
ok
used=$(($(stat -c %b hv.raw) * $(stat -c %B hv.raw)))
[ "$used" -lt $GiB ] || fail "hyperv raw is not sparse: $used bytes used"
ok
[ "$(du -B1 hv.raw | cut -f1)" -lt $GiB ] || fail "du: hyperv raw is not sparse"
ok
run "$vhdx" convert d2v.vhdx d2v.raw
expect_rc 0 "convert disk2vhd (raw is the default)"
[ "$(sha256sum <d2v.raw | cut -d' ' -f1)" = "$d2v_sha" ] || fail "disk2vhd raw SHA-256"
ok
[ "$(stat -c %s d2v.raw)" -eq $((256 * MiB)) ] || fail "disk2vhd raw size"
ok
# The raw file equals what `read` gives.
run "$vhdx" read hv.vhdx 0 100M
cmp -s "$tmp/stdout" <(head -c $((100 * MiB)) hv.raw) || fail "read and convert disagree"
ok
# An existing file is replaced, old bytes do not survive in the holes.
head -c $((200 * MiB)) /dev/zero | tr '\0' '\377' >old.raw
run "$vhdx" convert -p hv.vhdx old.raw
expect_rc 0 "convert over an existing file"
expect_empty "$err" "-p prints nothing when stderr is not a terminal"
[ "$(sha256sum <old.raw | cut -d' ' -f1)" = "$hv_sha" ] || fail "overwritten raw SHA-256"
ok
# Refusals: unknown formats, options for raw, DST = SRC, DST a VHDX.
run "$vhdx" convert -O qcow2 hv.vhdx out.raw
expect_rc 2 "convert -O qcow2"
run "$vhdx" convert -o subformat=fixed hv.vhdx out.raw
expect_rc 2 "convert -o with raw"
expect_no_file out.raw "refused conversions"
run "$vhdx" convert hv.vhdx hv.vhdx
expect_rc 2 "convert onto itself"
expect_grep "it is the source image" "$err" "onto itself message"
ln hv.vhdx hardlink.vhdx
run "$vhdx" convert hv.vhdx hardlink.vhdx
expect_rc 2 "convert onto a hard link of itself"
cp d2v.vhdx victim.vhdx
run "$vhdx" convert hv.vhdx victim.vhdx
expect_rc 2 "convert onto a VHDX image"
cmp -s d2v.vhdx victim.vhdx || fail "the VHDX destination was changed"
ok
run "$vhdx" convert hv.vhdx /dev/null
expect_rc 2 "convert onto a device"
run "$vhdx" convert text.vhdx out.raw
expect_rc 1 "convert an invalid image"
expect_no_file out.raw "convert an invalid image"
run "$vhdx" convert bad-both.vhdx out.raw
expect_rc 1 "convert two corrupt headers"
expect_no_file out.raw "convert two corrupt headers"
# One bad header: converts from header 1 to the same disk.
run "$vhdx" convert bad-h2.vhdx h2.raw
expect_rc 0 "convert corrupt header 2"
[ "$(sha256sum <h2.raw | cut -d' ' -f1)" = "$hv_sha" ] || fail "corrupt header 2 raw SHA-256"
ok
run "$vhdx" convert missing.vhdx out.raw
expect_rc 2 "convert a missing image"
expect_no_file out.raw "convert a missing image"
run "$vhdx" convert hv.vhdx
expect_rc 2 "convert without DST"
# A failed write (file size limit) removes the DST it created.
run bash -c 'ulimit -f 10240 && exec "$0" convert hv.vhdx limited.raw' "$vhdx"
expect_rc 2 "convert past the file size limit"
expect_grep "File too large" "$err" "file size limit message"
expect_no_file limited.raw "convert past the file size limit"

# ---- read-only: nothing was written to the images ----
after=$(sha256sum "${images[@]}")
[ "$before" = "$after" ] || fail "images were modified"
ok

echo "$name: $passed passed, 0 failed"
