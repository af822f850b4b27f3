#!/usr/bin/env bash
# The log through the tools, on every dirty-image shape of
# tests/dirty_images (written by make_dirty with its manifest):
# - `vhdx replay-diff`: the production and reference engines agree on every
#   shape; with --qemu, qemu-img agrees except where the manifest documents
#   a known divergence from the format (VHDX-FORMAT.md §11.2 items 11, 12),
#   for which the exit status 1 and the difference line are asserted (a
#   missing qemu-img fails the test unless VHDX_INTEROP_OPTIONAL=1);
# - the read-only promise: vhdx-verify (text and JSON), info, read and
#   convert leave the file byte-identical, and what they show is the
#   replayed disk (convert of the dirty file = convert after `vhdx replay`);
# - `vhdx replay` (and --dry-run), `vhdx check -r all`: the rejection rule
#   of each broken log, a second replay finds the log clean.
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
vhdx="$root/tools/vhdx"
verify="$root/tools/vhdx-verify"
make_dirty="$root/tests/make_dirty"
tmp="${TEST_TMPDIR:?}"
name=cli_replay_test
passed=0

fail() {
    echo "FAIL: $*" >&2
    echo "$name: $passed passed, 1 failed"
    exit 1
}
ok() { passed=$((passed + 1)); }
run() {
    set +e
    "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    set -e
    out=$(tr -d '\0' <"$tmp/stdout")
    err=$(cat "$tmp/stderr")
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stdout: $out; stderr: $err"; ok; }
expect_grep() { grep -qF -- "$1" <<<"$2" || fail "$3: no '$1' in:
$2"; ok; }
expect_no_grep() { ! grep -qF -- "$1" <<<"$2" || fail "$3: unexpected '$1' in:
$2"; ok; }
same_file() { cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"; ok; }

# qemu-img is the independent engine: without it the test cannot say what
# it promises, so a missing qemu-img fails (tools/setup.sh installs it)
# unless VHDX_INTEROP_OPTIONAL=1 says the comparison may be left out.
have_qemu=0
if command -v qemu-img >/dev/null 2>&1; then
    have_qemu=1
elif [ "${VHDX_INTEROP_OPTIONAL:-0}" != 1 ]; then
    fail "qemu-img is not installed: install it (tools/setup.sh, apt-get install qemu-utils) or set VHDX_INTEROP_OPTIONAL=1 to leave the comparison out"
else
    echo "NOTE: qemu-img is not installed; the qemu-img comparison is left out (VHDX_INTEROP_OPTIONAL=1)"
fi
qemu_agree=0
qemu_documented=0

mkdir -p "$tmp/img"
"$make_dirty" "$tmp/img" || fail "make_dirty"
ok
shapes=0
while IFS=$'\t' read -r shape rule warning entries head qemu_exit qemu_note; do
    shapes=$((shapes + 1))
    img="$tmp/img/dirty-$shape.vhdx"
    sum=$(sha256sum "$img" | cut -d' ' -f1)

    # Two engines, always in agreement.
    run "$vhdx" replay-diff "$img"
    expect_rc 0 "$shape: replay-diff"
    expect_grep "result: all engines agree" "$out" "$shape: replay-diff"
    if [ "$rule" = - ]; then
        expect_grep "production: replayed, $entries entries" "$out" "$shape: production"
        expect_grep "reference:  replayed, $entries entries (head sequence $head)" "$out" \
            "$shape: reference"
    else
        expect_no_grep "replayed" "$out" "$shape: both engines reject"
    fi

    # And qemu-img, where installed.
    if [ $have_qemu = 1 ]; then
        run "$vhdx" replay-diff --qemu --timeout 10 "$img"
        expect_rc "$qemu_exit" "$shape: replay-diff --qemu ($qemu_note)"
        if [ "$qemu_exit" = 1 ]; then
            expect_grep "DIFFERENCE:" "$out" "$shape: the documented qemu-img divergence"
            expect_grep "qemu-img" "$(grep DIFFERENCE <<<"$out")" "$shape: names qemu-img"
            qemu_documented=$((qemu_documented + 1))
        else
            expect_grep "result: all engines agree" "$out" "$shape: qemu-img agrees"
            qemu_agree=$((qemu_agree + 1))
        fi
    fi

    # vhdx-verify judges the replayed view; the log is a notice.
    run "$verify" "$img"
    if [ "$rule" = - ]; then
        expect_rc 0 "$shape: verify"
        expect_grep "log.replayed" "$out" "$shape: verify notice"
        expect_grep "$entries entr" "$out" "$shape: verify notice count"
    else
        expect_rc 1 "$shape: verify"
        expect_grep "$rule" "$out" "$shape: verify rule"
    fi
    if [ "$warning" != - ]; then
        expect_grep "$warning" "$out" "$shape: verify names why the entry was rejected"
    fi
    run "$verify" --json "$img"
    if [ "$rule" = - ]; then
        expect_rc 0 "$shape: verify --json"
        expect_grep '"rule": "log.replayed"' "$out" "$shape: JSON notice"
    else
        expect_rc 1 "$shape: verify --json"
        expect_grep "\"rule\": \"$rule\"" "$out" "$shape: JSON rule"
    fi

    run "$vhdx" info "$img"
    if [ "$rule" = - ]; then
        expect_rc 0 "$shape: info"
        expect_grep "replayed in memory: $entries entries" "$out" "$shape: info log state"
        run "$vhdx" convert "$img" "$tmp/view.raw"
        expect_rc 0 "$shape: convert of the dirty file"
        run "$vhdx" read "$img" 0 1M
        expect_rc 0 "$shape: read"
        cmp -s "$tmp/stdout" <(head -c 1048576 "$tmp/view.raw") || fail "$shape: read differs"
        ok
    else
        expect_rc 1 "$shape: info"
        run "$vhdx" convert "$img" "$tmp/view.raw"
        expect_rc 1 "$shape: convert"
    fi
    [ "$(sha256sum "$img" | cut -d' ' -f1)" = "$sum" ] || fail "$shape: a read-only command wrote"
    ok

    # Replay in place, on a copy.
    cp "$img" "$tmp/copy.vhdx"
    run "$vhdx" replay --dry-run "$tmp/copy.vhdx"
    if [ "$rule" = - ]; then
        expect_rc 0 "$shape: dry run"
        expect_grep "dry run: $entries entries" "$out" "$shape: dry run"
    else
        expect_rc 1 "$shape: dry run"
        expect_grep "$rule" "$err" "$shape: dry run rule"
    fi
    same_file "$img" "$tmp/copy.vhdx" "$shape: the dry run wrote"
    run "$vhdx" replay "$tmp/copy.vhdx"
    if [ "$rule" = - ]; then
        expect_rc 0 "$shape: replay"
        expect_grep "replayed $entries log entries" "$out" "$shape: replay"
        run "$vhdx" replay "$tmp/copy.vhdx"
        expect_rc 0 "$shape: second replay"
        expect_grep "the log is clean" "$out" "$shape: second replay"
        run "$vhdx" info "$tmp/copy.vhdx"
        expect_grep "log state:            clean" "$out" "$shape: clean after replay"
        run "$vhdx" convert "$tmp/copy.vhdx" "$tmp/replayed.raw"
        expect_rc 0 "$shape: convert after replay"
        same_file "$tmp/view.raw" "$tmp/replayed.raw" "$shape: in-memory view = replayed file"
        run "$verify" "$tmp/copy.vhdx"
        expect_rc 0 "$shape: verify after replay"
        expect_no_grep "log.replayed" "$out" "$shape: no log notice after replay"
        cp "$img" "$tmp/copy2.vhdx"
        run "$vhdx" check -r all "$tmp/copy2.vhdx"
        expect_rc 0 "$shape: check -r all"
        expect_grep "replayed $entries log entries" "$out" "$shape: check -r all replays"
        # Equal but for the headers' random FileWriteGuid and checksums.
        cmp -s <(head -c 65536 "$tmp/copy.vhdx") <(head -c 65536 "$tmp/copy2.vhdx") &&
            cmp -s <(tail -c +196609 "$tmp/copy.vhdx") <(tail -c +196609 "$tmp/copy2.vhdx") ||
            fail "$shape: check -r all and replay give different files"
        ok
    else
        expect_rc 1 "$shape: replay"
        expect_grep "$rule" "$err" "$shape: replay rule"
        same_file "$img" "$tmp/copy.vhdx" "$shape: a rejected replay wrote"
        run "$vhdx" check -r all "$tmp/copy.vhdx"
        expect_rc 1 "$shape: check -r all"
    fi
    rm -f "$tmp/copy.vhdx" "$tmp/copy2.vhdx" "$tmp/view.raw" "$tmp/replayed.raw"
done <"$tmp/img/manifest.tsv"
[ "$shapes" -ge 24 ] || fail "only $shapes shapes"
ok

# Usage errors.
run "$vhdx" replay
expect_rc 2 "replay without IMAGE"
run "$vhdx" replay-diff --timeout 0 x
expect_rc 2 "replay-diff --timeout 0"
run "$vhdx" replay "$tmp/missing.vhdx"
expect_rc 2 "replay of a missing file"
run "$vhdx" check -r some "$tmp/missing.vhdx"
expect_rc 2 "check -r with a bad level"

echo "$name: $shapes shapes; qemu-img agreed on $qemu_agree, documented divergences $qemu_documented (installed: $have_qemu)"
echo "$name: $passed passed, 0 failed"
