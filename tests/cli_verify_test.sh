#!/usr/bin/env bash
# vhdx-verify on the bundled Microsoft-made images and on broken copies:
# exact verdict lines, findings, exit statuses (0 no errors, 1 errors,
# 2 usage or cannot judge, 2 wins over 1), --quiet, the --json schema
# (docs/verify-json.md) checked with python3, and the promise that the
# images are never modified.
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
verify="$root/tools/vhdx-verify"
tmp="${TEST_TMPDIR:?}"
name=cli_verify_test
passed=0

fail() {
    echo "FAIL: $*" >&2
    echo "$name: $passed passed, 1 failed"
    exit 1
}
ok() { passed=$((passed + 1)); }

# run CMD...: runs with errexit off; sets rc, out (stdout) and err (stderr).
run() {
    set +e
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    set -e
    out=$(cat "$tmp/stdout")
    err=$(cat "$tmp/stderr")
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stderr: $err"; ok; }
expect_out() { [ "$out" = "$1" ] || fail "$2: stdout is:
$out
expected:
$1"; ok; }
expect_line() { grep -qxF -- "$1" <<<"$2" || fail "$3: no line '$1' in:
$2"; ok; }
expect_empty() { [ -z "$1" ] || fail "$2: expected no output, got: $1"; ok; }
# expect_json FILE PYTHON-BODY: the body gets `doc` (the parsed file) and
# calls check(cond, what) for each assertion; each one counts.
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
bunzip2 -c "$root/corpus/images/hyperv-dynamic-1G.vhdx.bz2" >hv.vhdx
bunzip2 -c "$root/corpus/images/disk2vhd-256M.vhdx.bz2" >d2v.vhdx
# Header 2 of the Hyper-V image (the current one) with one byte changed,
# and a copy with both headers changed.
cp hv.vhdx bad-h2.vhdx
printf '\xff' | dd of=bad-h2.vhdx bs=1 seek=$((0x20000 + 100)) conv=notrunc status=none
cp bad-h2.vhdx bad-both.vhdx
printf '\xff' | dd of=bad-both.vhdx bs=1 seek=$((0x10000 + 100)) conv=notrunc status=none
# 100 bytes of text (4 lines of 25).
for _ in 1 2 3 4; do echo 'this is not a disk image'; done >text.vhdx
[ "$(wc -c <text.vhdx)" -eq 100 ] || fail "text file size"
ok
# A name that is not UTF-8, for the JSON escaping of paths.
cp text.vhdx "$(printf 'name\xff.vhdx')"
mkdir -p adir
images=(hv.vhdx d2v.vhdx bad-h2.vhdx bad-both.vhdx text.vhdx)
before=$(sha256sum "${images[@]}")

# --- the Hyper-V image: valid, no warnings, one info finding ---
run "$verify" hv.vhdx
expect_rc 0 "hyperv image"
expect_line "hv.vhdx: ok (0 warnings)" "$out" "hyperv verdict"
grep -q '^  info    metadata_table.trailing_nonzero  at 0x2000c0: ' <<<"$out" \
    || fail "hyperv info finding: $out"
ok
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "hyperv: expected 2 lines, got: $out"
ok
expect_empty "$err" "hyperv stderr"

# --- the Disk2VHD image: valid with two warnings, equal headers accepted ---
run "$verify" d2v.vhdx
expect_rc 0 "disk2vhd image"
[ "$(head -n 1 <<<"$out")" = "d2v.vhdx: ok (2 warnings)" ] || fail "disk2vhd verdict: $out"
ok
grep -q '^  warning image.header.equal_identical  at 0x20000: ' <<<"$out" \
    || fail "disk2vhd equal headers warning: $out"
ok
grep -q '^  warning image.space.trailing_data  at 0x10400000: ' <<<"$out" \
    || fail "disk2vhd trailing data warning: $out"
ok
[ "$(wc -l <<<"$out")" -eq 3 ] || fail "disk2vhd: expected 3 lines, got: $out"
ok

# --- header 2 corrupted: header 1 is used; with one valid header left the
# checksum is a warning (an interrupted header update looks like this) ---
run "$verify" bad-h2.vhdx
expect_rc 0 "corrupt header 2"
expect_line "bad-h2.vhdx: ok (2 warnings)" "$out" "corrupt header 2 verdict"
grep -q '^  warning header.checksum  at 0x20004: ' <<<"$out" || fail "header.checksum: $out"
ok
grep -q '^  warning image.header.one_valid  at 0x20000: ' <<<"$out" || fail "one_valid: $out"
ok

# --- both headers corrupted: errors ---
run "$verify" bad-both.vhdx
expect_rc 1 "both headers corrupt"
expect_out "bad-both.vhdx: errors (3 errors, 0 warnings)
  error   header.checksum  at 0x10004: checksum is 0x37fabb18, computed 0x1dde0d3c
  error   header.checksum  at 0x20004: checksum is 0xb502276f, computed 0x9f26914b
  error   image.header.none_valid  at 0x10000: neither header is valid" "both headers corrupt output"

# --- not a VHDX file ---
run "$verify" text.vhdx
expect_rc 1 "text file"
expect_out "text.vhdx: errors (1 error, 0 warnings)
  error   file_identifier.signature  at 0x0: signature is not 'vhdxfile': not a VHDX file" \
    "text file output"

# --- cannot judge ---
run "$verify" missing.vhdx
expect_rc 2 "missing file"
expect_out "missing.vhdx: cannot judge: No such file or directory" "missing file output"
run "$verify" adir
expect_rc 2 "directory"
expect_out "adir: cannot judge: is a directory" "directory output"

# --- several images: the worst status wins, 2 over 1 ---
run "$verify" hv.vhdx d2v.vhdx
expect_rc 0 "two good images"
run "$verify" hv.vhdx text.vhdx d2v.vhdx
expect_rc 1 "good and bad images"
expect_line "hv.vhdx: ok (0 warnings)" "$out" "first of three"
expect_line "text.vhdx: errors (1 error, 0 warnings)" "$out" "second of three"
expect_line "d2v.vhdx: ok (2 warnings)" "$out" "third of three"
run "$verify" text.vhdx missing.vhdx
expect_rc 2 "bad and missing images"
run "$verify" missing.vhdx hv.vhdx
expect_rc 2 "missing and good images"

# --- --quiet: nothing for good images, the verdict line for the others ---
run "$verify" --quiet hv.vhdx d2v.vhdx
expect_rc 0 "quiet good"
expect_empty "$out" "quiet good output"
run "$verify" -q hv.vhdx bad-both.vhdx bad-h2.vhdx missing.vhdx
expect_rc 2 "quiet mixed"
expect_out "bad-both.vhdx: errors (3 errors, 0 warnings)
missing.vhdx: cannot judge: No such file or directory" "quiet mixed output"

# --- usage ---
run "$verify"
expect_rc 2 "no arguments"
expect_empty "$out" "no arguments stdout"
expect_line "usage: vhdx-verify [--json] [--quiet] [--parent-dir DIR]... [--max-memory SIZE] IMAGE..." "$err" "no arguments usage"
run "$verify" --bogus hv.vhdx
expect_rc 2 "unknown option"
expect_empty "$out" "unknown option stdout"
run "$verify" --help
expect_rc 0 "--help"
expect_line "usage: vhdx-verify [--json] [--quiet] [--parent-dir DIR]... [--max-memory SIZE] IMAGE..." "$out" "--help usage"
run "$verify" --version
expect_rc 0 "--version"
[[ "$out" =~ ^vhdx-verify\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version output: $out"
ok
# "--" ends the options: a file named like an option is an image.
cp text.vhdx ./--json
run "$verify" -- --json
expect_rc 1 "file named --json after --"
expect_line "--json: errors (1 error, 0 warnings)" "$out" "file named --json verdict"

# --- JSON ---
run "$verify" --json hv.vhdx d2v.vhdx bad-h2.vhdx bad-both.vhdx text.vhdx missing.vhdx
expect_rc 2 "json mixed"
cp "$tmp/stdout" mixed.json
python3 -m json.tool mixed.json >/dev/null || fail "json.tool rejects the output"
ok
expect_json mixed.json '
check(doc["version"] == 1, "version")
imgs = doc["images"]
check([i["path"] for i in imgs] == ["hv.vhdx", "d2v.vhdx", "bad-h2.vhdx", "bad-both.vhdx", "text.vhdx", "missing.vhdx"], "paths in order")
check([i["verdict"] for i in imgs] == ["ok", "ok", "ok", "errors", "errors", "cannot_judge"], "verdicts")
keys = {"path", "verdict", "reason", "errors", "warnings", "infos", "findings_omitted", "findings", "rules"}
for i in imgs:
    check(keys <= set(i), "image keys of " + i["path"])
    check(i["errors"] == sum(f["severity"] == "error" for f in i["findings"]), "error count of " + i["path"])
    check(i["warnings"] == sum(f["severity"] == "warning" for f in i["findings"]), "warning count of " + i["path"])
    check(i["infos"] == sum(f["severity"] == "info" for f in i["findings"]), "info count of " + i["path"])
    check(i["findings_omitted"] == 0, "nothing omitted")
hv, d2v, h2, both, text, missing = imgs
check(hv["reason"] is None and (hv["errors"], hv["warnings"], hv["infos"]) == (0, 0, 1), "hv counts")
check(hv["findings"][0]["rule"] == "metadata_table.trailing_nonzero", "hv info rule")
check(hv["findings"][0]["status"] == "OK" and hv["findings"][0]["severity"] == "info", "hv info status")
eq = [f for f in d2v["findings"] if f["rule"] == "image.header.equal_identical"]
check(len(eq) == 1, "d2v equal_identical once")
check(eq[0]["severity"] == "warning", "equal_identical severity")
check(eq[0]["offset"] == 0x20000 and type(eq[0]["offset"]) is int, "equal_identical offset")
check(isinstance(eq[0]["status"], str) and eq[0]["status"].startswith("E_"), "equal_identical status")
check(isinstance(eq[0]["structure"], str) and eq[0]["structure"] != "", "equal_identical structure")
check(isinstance(eq[0]["message"], str) and "sequence number" in eq[0]["message"], "equal_identical message")
ck = [f for f in h2["findings"] if f["rule"] == "header.checksum"]
check(len(ck) == 1 and ck[0]["severity"] == "warning" and ck[0]["status"] == "E_CHECKSUM", "header.checksum finding")
check(ck[0]["offset"] == 0x20004 and ck[0]["structure"] == "header", "header.checksum offset and structure")
check([f["rule"] for f in both["findings"]] == ["header.checksum", "header.checksum", "image.header.none_valid"], "both: rules")
check([f["offset"] for f in both["findings"]] == [0x10004, 0x20004, 0x10000], "both: offsets")
check((both["errors"], both["warnings"]) == (3, 0), "both: counts")
f = text["findings"][0]
check(f == {"severity": "error", "rule": "file_identifier.signature", "status": "E_SIGNATURE",
            "structure": "file identifier", "offset": 0,
            "message": "signature is not '"'"'vhdxfile'"'"': not a VHDX file"}, "text finding, every field")
check(missing["reason"] == "No such file or directory" and missing["findings"] == [], "missing reason")
check((missing["errors"], missing["warnings"], missing["infos"]) == (0, 0, 0), "missing counts")
' "mixed JSON"

# --quiet does not change the JSON document.
run "$verify" --json --quiet hv.vhdx d2v.vhdx bad-h2.vhdx bad-both.vhdx text.vhdx missing.vhdx
cmp -s "$tmp/stdout" mixed.json || fail "--quiet changed the JSON"
ok

# A path that is not UTF-8 becomes U+FFFD in JSON and \xff in text.
bad_name=$(printf 'name\xff.vhdx')
run "$verify" --json "$bad_name"
expect_rc 1 "non-UTF-8 name"
cp "$tmp/stdout" name.json
expect_json name.json '
check(doc["images"][0]["path"] == "name\ufffd.vhdx", "replacement character")
check(doc["images"][0]["findings"][0]["rule"] == "file_identifier.signature", "rule")
' "non-UTF-8 name JSON"
grep -q '"name\\ufffd.vhdx"' name.json || fail "escaped as \\ufffd: $(cat name.json)"
ok
run "$verify" "$bad_name"
expect_line 'name\xff.vhdx: errors (1 error, 0 warnings)' "$out" "non-UTF-8 name in text"

# --- --parent-dir: a parent outside the image's directory ---
# The child's locator says base\p.vhdx, and child/base is a symlink to
# ../base: the parent lies outside the child's directory, so it is refused
# unless --parent-dir allows its directory.
mkdir -p pd/child/base
"$root/tools/vhdx" create -o subformat=dynamic pd/child/base/p.vhdx 8M >/dev/null
"$root/tools/vhdx" create -o subformat=differencing,parent=pd/child/base/p.vhdx \
    pd/child/c.vhdx >/dev/null
mv pd/child/base pd/base
ln -s ../base pd/child/base
pd_before=$(sha256sum pd/base/p.vhdx pd/child/c.vhdx)
run "$verify" pd/child/c.vhdx
expect_rc 1 "parent outside the directory"
expect_out 'pd/child/c.vhdx: errors (2 errors, 0 warnings)
  error   image.parent.refused: the parent path relative_path = "base\p.vhdx" was refused: invalid argument
  error   image.parent.not_found: no parent path of the locator names an existing file' \
    "parent outside the directory"
run "$verify" --parent-dir pd/base pd/child/c.vhdx
expect_rc 0 "--parent-dir"
expect_out "pd/child/c.vhdx: ok (0 warnings)" "--parent-dir"
run "$verify" --parent-dir=pd/nothere --parent-dir="$PWD/pd/base" pd/child/c.vhdx
expect_rc 0 "--parent-dir= twice, one missing"
run "$verify" --parent-dir pd/child pd/child/c.vhdx
expect_rc 1 "--parent-dir of the child's own directory adds nothing"
run "$verify" pd/child/c.vhdx --parent-dir
expect_rc 2 "--parent-dir without a directory"
expect_out "" "--parent-dir without a directory: no verdict"
[ "$err" = "vhdx-verify: --parent-dir needs a directory (try --help)" ] ||
    fail "--parent-dir without a directory: stderr is: $err"
ok
[ "$pd_before" = "$(sha256sum pd/base/p.vhdx pd/child/c.vhdx)" ] || fail "parent-dir images modified"
ok

# --- spare copies: one verdict policy (issue 18) ---
# patch_rt FILE COPY EDIT: rewrites region table copy COPY (1 or 2) of FILE
# with EDIT applied (python over `count` and `entries`, a list of
# [guid, offset, length, required]) and its CRC-32C recomputed.
patch_rt() {
    python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys
def crc32c(data):
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
path, copy, edit = sys.argv[1], int(sys.argv[2]), sys.argv[3]
at = (192 if copy == 1 else 256) * 1024
with open(path, "r+b") as f:
    f.seek(at)
    t = bytearray(f.read(65536))
    count = struct.unpack_from("<I", t, 8)[0]
    entries = [[bytes(t[16 + 32 * i:32 + 32 * i])] + list(struct.unpack_from("<QII", t, 32 + 32 * i))
               for i in range(count)]
    META = bytes.fromhex("06a27c8b90479a4bb8fe575f050f886e")
    exec(edit)
    t[16:] = bytes(len(t) - 16)
    struct.pack_into("<II", t, 8, count, 0)
    for i, (g, o, l, r) in enumerate(entries):
        t[16 + 32 * i:48 + 32 * i] = g + struct.pack("<QII", o, l, r)
    struct.pack_into("<I", t, 4, 0)
    struct.pack_into("<I", t, 4, crc32c(bytes(t)))
    f.seek(at)
    f.write(t)
EOF
}
# Copy 2's metadata entry gets an unknown GUID, still required: copy 2 has
# an unknown required region and no metadata region, with a valid checksum.
cp hv.vhdx spare-rt.vhdx
patch_rt spare-rt.vhdx 2 '
for e in entries:
    if e[0] == META:
        e[0] = bytes(range(16)); e[3] = 1
'
run "$verify" spare-rt.vhdx
expect_rc 0 "spare region table broken in content"
expect_line "spare-rt.vhdx: ok (3 warnings)" "$out" "spare region table verdict"
expect_line "  warning image.region_table.copy2_invalid  at 0x40000: region table copy 2 is damaged (region_table.entry.unknown_required and 1 more problem); copy 1 is used. Repairable: 'vhdx check -r all' rewrites it from copy 1" "$out" "spare region table summary"
grep -q '^  warning region_table.entry.unknown_required  at 0x4' <<<"$out" || fail "unknown_required as a warning: $out"
ok
grep -q '^  warning region_table.metadata.missing  at 0x40000: ' <<<"$out" || fail "metadata.missing as a warning: $out"
ok
[ "$(grep -c '^  error' <<<"$out")" -eq 0 ] || fail "spare region table: no error expected: $out"
ok
[ "$(wc -l <<<"$out")" -eq 5 ] || fail "spare region table: 5 lines expected: $out"
ok
# The same damage in the copy in use (copy 1) is an error.
cp hv.vhdx used-rt.vhdx
patch_rt used-rt.vhdx 1 '
for e in entries:
    if e[0] == META:
        e[0] = bytes(range(16)); e[3] = 1
'
run "$verify" used-rt.vhdx
expect_rc 1 "region table in use broken in content"
grep -q '^  error   region_table.entry.unknown_required  at 0x3' <<<"$out" || fail "unknown_required as an error: $out"
ok
grep -q '^  warning image.region_table.mismatch  at 0x40000: .*copy 2 passes every check: copy 1 is the broken one$' <<<"$out" ||
    fail "mismatch names the broken copy: $out"
ok

# --- one flipped bit: region table copy 1's entry count 2 -> 258 ---
cp hv.vhdx count-flip.vhdx
patch_rt count-flip.vhdx 1 '
count = 258
entries += [[bytes(16), 0, 0, 0]] * 256
'
run "$verify" count-flip.vhdx
expect_rc 1 "entry count flipped"
expect_line "count-flip.vhdx: errors (1 error, 1 warning)" "$out" "entry count flipped verdict"
expect_line "  error   region_table.entry_count.zero_entries  at 0x30008: entry count is 258, but entries 2 to 257 are all zero: the count is wrong (the table holds 2 entries)" "$out" "entry count finding"
expect_line "  warning image.region_table.mismatch  at 0x40000: the two region table copies are valid but differ (copy 1 has 258 entries, copy 2 has 2); copy 1 is used, and copy 2 passes every check: copy 1 is the broken one" "$out" "entry count mismatch"
[ "$(wc -l <<<"$out")" -eq 4 ] || fail "entry count flipped: 4 lines expected (verdict, error, warning, info): $out"
ok

# --- a million bad BAT entries: a short report, in bounded time ---
"$root/tools/vhdx" create -o block_size=1M bat-bad.vhdx 1T >/dev/null
python3 - bat-bad.vhdx <<'EOF'
import struct, sys
BAT = bytes.fromhex("6677c22d23f600429d64115e9bfd4a08")
with open(sys.argv[1], "r+b") as f:
    f.seek(192 * 1024)
    rt = f.read(65536)
    for i in range(struct.unpack_from("<I", rt, 8)[0]):
        e = rt[16 + 32 * i:48 + 32 * i]
        if e[:16] == BAT:
            off, length = struct.unpack_from("<QI", e, 16)
    f.seek(off)
    f.write(struct.pack("<Q", 4) * (length // 8))  # every entry: reserved state 4
EOF
run timeout 60 "$verify" bat-bad.vhdx
expect_rc 1 "a million bad BAT entries"
expect_out "bat-bad.vhdx: errors (1048831 errors, 0 warnings)
  error   bat.entry.state  at 0x300000: block 0 has reserved state 4
  error   bat.entry.state  at 0x300008: block 1 has reserved state 4
  error   bat.entry.state  at 0x300010: block 2 has reserved state 4
  error   bat.entry.state  at 0x300018: block 3 has reserved state 4
  error   bat.entry.state  at 0x300020: block 4 has reserved state 4
  error   bat.entry.state  at 0x300028: block 5 has reserved state 4
  error   bat.entry.state  at 0x300030: block 6 has reserved state 4
  error   bat.entry.state  at 0x300038: block 7 has reserved state 4
  error   bat.sb.state  at 0x308000: sector bitmap entry of chunk 0 has reserved state 4
  error   bat.sb.state  at 0x310008: sector bitmap entry of chunk 1 has reserved state 4
  ... and 1048568 more \`bat.entry.state\` findings
  ... and 253 more \`bat.sb.state\` findings" "a million bad BAT entries: 8 of a rule, then one line"
run timeout 60 "$verify" --json bat-bad.vhdx
expect_rc 1 "a million bad BAT entries, JSON"
cp "$tmp/stdout" bat.json
expect_json bat.json '
i = doc["images"][0]
check(i["errors"] == 1048831 and len(i["findings"]) == 10000, "every finding counted, 10000 listed")
check(i["findings_omitted"] == 1048831 - 10000, "the rest omitted")
check(i["rules"] == [{"rule": "bat.entry.state", "count": 1048576, "listed": 9998},
                     {"rule": "bat.sb.state", "count": 255, "listed": 2}], "per rule: counted and listed")
check(sum(r["count"] for r in i["rules"]) == i["errors"] + i["warnings"] + i["infos"], "rules add up")
' "a million bad BAT entries, JSON"

# --- vhdx check -r all rewrites damaged spare copies (vhdx_repair) ---
vhdx="$root/tools/vhdx"
cp spare-rt.vhdx leaks.vhdx
run "$vhdx" check -r leaks leaks.vhdx
expect_rc 0 "check -r leaks on a damaged spare"
cmp -s spare-rt.vhdx leaks.vhdx || fail "check -r leaks rewrote a spare copy"
ok
cp spare-rt.vhdx fixed-rt.vhdx
printf '\xff' | dd of=fixed-rt.vhdx bs=1 seek=$((0x10000 + 100)) conv=notrunc status=none
run "$verify" fixed-rt.vhdx
expect_line "fixed-rt.vhdx: ok (5 warnings)" "$out" "two damaged spares before the repair"
run "$vhdx" check -r all fixed-rt.vhdx
expect_rc 0 "check -r all on damaged spares"
expect_out "fixed-rt.vhdx: the log is clean, nothing to replay
fixed-rt.vhdx: rewrote header 1 from header 2
fixed-rt.vhdx: rewrote region table copy 2 from copy 1
fixed-rt.vhdx: ok (0 warnings)
  info    metadata_table.trailing_nonzero  at 0x2000c0: bytes after the last entry (from offset 192) are not zero; they are ignored and not re-encoded" "check -r all output"
expect_empty "$err" "check -r all: nothing on standard error"
cmp -s <(dd if=fixed-rt.vhdx bs=64K skip=3 count=1 status=none) \
    <(dd if=fixed-rt.vhdx bs=64K skip=4 count=1 status=none) || fail "region table copies differ after the repair"
ok
# The disk reads the same; the repair changed no content.
[ "$("$vhdx" read hv.vhdx 0 1M | sha256sum)" = "$("$vhdx" read fixed-rt.vhdx 0 1M | sha256sum)" ] ||
    fail "the repair changed the disk"
ok
"$vhdx" info --json hv.vhdx >info-hv.json
"$vhdx" info --json fixed-rt.vhdx >info-fixed.json
python3 - info-hv.json info-fixed.json <<'EOF' || fail "DataWriteGuid changed by the repair"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a["data_write_guid"] == b["data_write_guid"] and a["file_write_guid"] != b["file_write_guid"] else 1)
EOF
ok
run "$vhdx" check -r all fixed-rt.vhdx
expect_out "fixed-rt.vhdx: the log is clean, nothing to replay
fixed-rt.vhdx: ok (0 warnings)
  info    metadata_table.trailing_nonzero  at 0x2000c0: bytes after the last entry (from offset 192) are not zero; they are ignored and not re-encoded" "check -r all with nothing to repair"
# --json keeps standard output one document: the repair lines go to standard error.
cp spare-rt.vhdx json-rt.vhdx
run "$vhdx" check --json -r all json-rt.vhdx
expect_rc 0 "check --json -r all"
expect_line "json-rt.vhdx: rewrote region table copy 2 from copy 1" "$err" "repair line on stderr with --json"
cp "$tmp/stdout" repair.json
expect_json repair.json '
check(doc["images"][0]["warnings"] == 0, "repaired: no warning")
' "check --json -r all"
# The copy in use broken: errors, not repaired, the file unchanged.
cp used-rt.vhdx used-rt2.vhdx
run "$vhdx" check -r all used-rt2.vhdx
expect_rc 1 "check -r all on a broken copy in use"
cmp -s used-rt.vhdx used-rt2.vhdx || fail "check -r all wrote an image whose copy in use is broken"
ok

# --- read-only: nothing was written ---
after=$(sha256sum "${images[@]}")
[ "$before" = "$after" ] || fail "images were modified"
ok

echo "$name: $passed passed, 0 failed"
