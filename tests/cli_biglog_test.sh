#!/usr/bin/env bash
# Replay by reference through the tools, on large sparse dirty images made
# by make_big_logs (issue: every valid dirty image judged in bounded memory,
# every hostile log bounded):
# - logs of 1 MiB to 4095 MiB holding one entry, zero descriptors clearing
#   128 MiB to 1 TiB of a sparse fixed disk, a log full of entries with one
#   and with three descriptor sectors: vhdx-verify says ok in a few MiB of
#   memory and leaves the file byte-identical;
# - the replayed view is the disk qemu-img gets after `check -r all`, and
#   `vhdx replay` in place gives the same disk; a zero range stays sparse;
# - the hostile 2 GiB zero range at 64 GiB: an error of its own rule, and
#   `vhdx replay` refuses without writing or growing the file;
# - --max-memory below what an image needs: "cannot judge" (exit 2) naming
#   the limit, never "errors".
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
vhdx="$root/tools/vhdx"
verify="$root/tools/vhdx-verify"
make="$root/tests/make_big_logs"
tmp="${TEST_TMPDIR:?}"
name=cli_biglog_test
passed=0
# Peak RSS allowed for one vhdx-verify run (KiB): the goals are 16 and 32 MiB.
RSS_ONE_ENTRY=16384
RSS_FULL=32768

fail() {
    echo "FAIL: $*" >&2
    echo "$name: $passed passed, 1 failed"
    exit 1
}
ok() { passed=$((passed + 1)); }
command -v qemu-img >/dev/null || fail "qemu-img is not installed (tools/setup.sh installs it)"
[ -x /usr/bin/time ] || fail "GNU time is not installed (tools/setup.sh installs it)"

# run_rss CMD...: runs it; rc, out, err and rss (peak KiB) are set.
run_rss() {
    set +e
    /usr/bin/time -f "%M" -o "$tmp/rss" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    set -e
    out=$(cat "$tmp/stdout")
    err=$(cat "$tmp/stderr")
    rss=$(tail -n 1 "$tmp/rss")
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stdout: $out; stderr: $err"; ok; }
expect_line() { grep -qxF -- "$1" <<<"$2" || fail "$3: no line '$1' in:
$2"; ok; }
expect_rss() { [ "$rss" -le "$1" ] || fail "$2: peak RSS $rss KiB, more than $1 KiB"; ok; }
# What says a file is unchanged: size, allocation, change time (any write or
# truncate sets it) and the first 64 MiB's digest (hashing a sparse TiB
# would take the test's time).
sum() { echo "$(stat -c '%s %b %Z.%z' "$1") $(head -c $((64 << 20)) "$1" | sha256sum | cut -d' ' -f1)"; }

"$make" "$tmp" log-1m-one-entry log-64m-one-entry log-256m-one-entry log-4095m-one-entry \
    zero-128m zero-1024m zero-1048576m full-64m full-256m wide-64m hostile-zero-64g >/dev/null ||
    fail "make_big_logs"
ok

# ---- Valid dirty images: ok, bounded memory, file untouched ----
replayed_one="  info    log.replayed  at 0x100000: the log held 1 entry to replay (sequence numbers 1 to 1, 1 descriptors), replayed in memory: the file is not changed"
for img in log-1m-one-entry log-64m-one-entry log-256m-one-entry log-4095m-one-entry \
    zero-128m zero-1024m zero-1048576m; do
    f="$tmp/$img.vhdx"
    before=$(sum "$f")
    run_rss "$verify" "$f"
    expect_rc 0 "verify $img"
    expect_line "$f: ok (0 warnings)" "$out" "verify $img"
    expect_line "$replayed_one" "$out" "verify $img"
    expect_rss "$RSS_ONE_ENTRY" "verify $img"
    [ "$(sum "$f")" = "$before" ] || fail "verify $img changed the file"
    ok
done
for img in full-64m wide-64m; do
    f="$tmp/$img.vhdx"
    before=$(sum "$f")
    run_rss "$verify" "$f"
    expect_rc 0 "verify $img"
    expect_line "$f: ok (0 warnings)" "$out" "verify $img"
    expect_rss "$RSS_FULL" "verify $img"
    [ "$(sum "$f")" = "$before" ] || fail "verify $img changed the file"
    ok
done
# 63 MiB of entries of 127 sectors: 126 entries of 126 descriptors.
run_rss "$verify" "$tmp/full-64m.vhdx"
expect_line "  info    log.replayed  at 0x100000: the log held 126 entries to replay (sequence numbers 1 to 126, 15876 descriptors), replayed in memory: the file is not changed" "$out" "full-64m entries"

# ---- The view is the disk qemu-img replays; vhdx replay in place gives it too ----
for img in full-64m zero-128m log-64m-one-entry; do
    f="$tmp/$img.vhdx"
    "$vhdx" convert -O raw "$f" "$tmp/view.raw" || fail "convert $img"
    cp --sparse=always "$f" "$tmp/q.vhdx"
    qemu-img check -r all "$tmp/q.vhdx" >/dev/null 2>&1 || fail "qemu-img check -r all $img"
    qemu-img convert -O raw "$tmp/q.vhdx" "$tmp/qemu.raw" || fail "qemu-img convert $img"
    cmp "$tmp/view.raw" "$tmp/qemu.raw" || fail "$img: the replayed view differs from qemu-img's replay"
    ok
    cp --sparse=always "$f" "$tmp/ours.vhdx"
    run_rss "$vhdx" replay "$tmp/ours.vhdx"
    expect_rc 0 "replay $img"
    "$vhdx" convert -O raw "$tmp/ours.vhdx" "$tmp/ours.raw" || fail "convert replayed $img"
    cmp "$tmp/ours.raw" "$tmp/qemu.raw" || fail "$img: vhdx replay differs from qemu-img's replay"
    ok
    rm -f "$tmp/view.raw" "$tmp/qemu.raw" "$tmp/ours.raw" "$tmp/q.vhdx" "$tmp/ours.vhdx"
done
# The wide entries (three descriptor sectors), which qemu-img refuses: view = in place.
f="$tmp/wide-64m.vhdx"
"$vhdx" convert -O raw "$f" "$tmp/view.raw" || fail "convert wide"
cp --sparse=always "$f" "$tmp/ours.vhdx"
"$vhdx" replay "$tmp/ours.vhdx" >/dev/null || fail "replay wide"
"$vhdx" convert -O raw "$tmp/ours.vhdx" "$tmp/ours.raw" || fail "convert replayed wide"
cmp "$tmp/view.raw" "$tmp/ours.raw" || fail "wide-64m: view and in-place replay differ"
ok
# Page 300 of the wide log holds the byte 300 % 251 + 1 = 50 (0x32).
"$vhdx" read "$tmp/ours.vhdx" $((300 * 4096)) 4096 >"$tmp/page" || fail "read page 300"
[ "$(od -An -tx1 -v "$tmp/page" | tr -s ' \n' ' ' | sed 's/ //g')" = "$(printf '32%.0s' $(seq 4096))" ] ||
    fail "page 300 of wide-64m is not 0x32"
ok
rm -f "$tmp/view.raw" "$tmp/ours.raw" "$tmp/ours.vhdx" "$tmp/page"

# ---- A 1 TiB zero range replayed in place: seconds, and the file stays sparse ----
f="$tmp/zero-1048576m.vhdx"
size_before=$(stat -c %s "$f")
run_rss "$vhdx" replay "$f"
expect_rc 0 "replay zero-1t"
expect_line "$f: replayed 1 log entries, 1 descriptors (sequence 1 to 1); file size 0x10002400000 -> 0x10002400000; the log is now empty" "$out" "replay zero-1t"
[ "$(stat -c %s "$f")" = "$size_before" ] || fail "replay zero-1t changed the size"
blocks=$(stat -c %b "$f")
[ "$blocks" -lt 65536 ] || fail "replay zero-1t allocated $blocks blocks: not sparse"
ok
"$vhdx" read "$f" 0 4096 | cmp - <(head -c 4096 /dev/zero) || fail "zero-1t: not zeros after replay"
ok

# ---- The hostile zero range: its own error; replay refuses, the file does not grow ----
f="$tmp/hostile-zero-64g.vhdx"
before=$(sum "$f")
size_before=$(stat -c %s "$f")
run_rss "$verify" "$f"
expect_rc 1 "verify hostile"
expect_line "$f: errors (1 error, 0 warnings)" "$out" "verify hostile"
expect_line "  error   log.descriptor.past_end  at 0x100040: descriptor 0 of log entry 1 zeroes [0x1000000000, 0x1080000000), past the file's end (0x400000) and the LastFileOffset its entry may reach (0x400000): the log cannot be replayed" "$out" "verify hostile"
run_rss "$vhdx" replay "$f"
expect_rc 1 "replay hostile"
[ "$(sum "$f")" = "$before" ] && [ "$(stat -c %s "$f")" = "$size_before" ] ||
    fail "replay hostile wrote to the file"
ok

# ---- A limit is not a verdict ----
# full-256m: 64,764 descriptors, more than 1 MiB of replay map (full-64m's
# 15,876 fit in 1 MiB beside the fixed buffers of an open).
f="$tmp/full-256m.vhdx"
run_rss "$verify" --max-memory 1M "$f"
expect_rc 2 "verify --max-memory 1M"
grep -qxE -- "$f: cannot judge: the memory limit of 1 MiB was reached \((log|image)\.limit\.(memory|overlay)\); the image was not judged: raise the limit with --max-memory SIZE" <<<"$out" ||
    fail "verify --max-memory 1M: $out"
ok
run_rss "$verify" --json --max-memory=1M "$f"
expect_rc 2 "verify --json --max-memory 1M"
python3 - "$tmp/stdout" <<'EOF' || fail "verify --json --max-memory: JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
img = doc["images"][0]
assert img["verdict"] == "cannot_judge", img["verdict"]
assert img["limit_reached"] is True
assert img["errors"] == 1, img["errors"]
assert [f["status"] for f in img["findings"] if f["severity"] == "error"] == ["E_LIMIT"]
EOF
ok
run_rss "$vhdx" info --max-memory 1M "$f"
expect_rc 2 "info --max-memory 1M"
grep -qE "cannot open: the memory limit of 1 MiB was reached \((log|image)\.limit\.(memory|overlay)\)" <<<"$err" ||
    fail "info --max-memory 1M: $err"
ok
run_rss "$verify" --max-memory 8M "$f"
expect_rc 0 "verify --max-memory 8M"
run_rss "$verify" --max-memory 100K "$f"
expect_rc 2 "verify --max-memory 100K"
expect_line "vhdx-verify: --max-memory needs a SIZE of at least 1M (try --help)" "$err" "verify --max-memory 100K"

echo "$name: $passed passed, 0 failed"
