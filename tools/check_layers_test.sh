#!/usr/bin/env bash
# tools/check_layers.sh on the workspace's sources (no cycle), and on small
# source trees made here: a cycle inside a directory, a cycle between
# directories, a file that does not compile. Exact output and exit status.
set -uo pipefail

root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
script="$root/tools/check_layers.sh"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
passed=0
failed=0

expect() { # expect NAME WANT-STATUS GOT-STATUS WANT-OUTPUT GOT-OUTPUT
    if [ "$2" = "$3" ] && [ "$4" = "$5" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $1: status $3 (want $2)"
        diff <(printf '%s\n' "$4") <(printf '%s\n' "$5") | sed 's/^/    /'
    fi
}

# The workspace: every graph without a cycle, src/image among them.
out=$("$script" "$root" 2>&1)
rc=$?
expect "the workspace's layers" 0 "$rc" "" "$(printf '%s\n' "$out" | grep -v -E '^layers: src(/[a-z]+)?: [a-z0-9_ ]+$')"
expect "src/image is checked" 0 "$(grep -q '^layers: src/image: ' <<<"$out"; echo $?)" "" ""
expect "the file layer is the bottom of src/image" 0 \
    "$(grep -q -E '^layers: src/image: .* file$' <<<"$out"; echo $?)" "" ""

# tree NAME FILE=TEXT...: a source tree under $tmp/NAME.
tree() {
    local dir="$tmp/$1"
    shift
    rm -rf "$dir"
    mkdir -p "$dir/include"
    for spec in "$@"; do
        mkdir -p "$dir/$(dirname "${spec%%=*}")"
        printf '%s\n' "${spec#*=}" >"$dir/${spec%%=*}"
    done
}

# A calls b, b calls a (through c): one cycle of three files; d stays out of it.
tree inner \
    'src/x/a.c=void a(void); void b(void); void a(void) { b(); }' \
    'src/x/b.c=void b(void); void c(void); void b(void) { c(); }' \
    'src/x/c.c=void c(void); void a(void); void d(void); void c(void) { a(); d(); }' \
    'src/x/d.c=void d(void); void d(void) {}'
out=$("$script" "$tmp/inner" 2>&1)
rc=$?
expect "a cycle inside a directory" 1 "$rc" "layers: src/x: cycle through a b c
    a -> b: b
    b -> c: c
    c -> a: a
layers: src: x" "$out"

# Files calling down only, across two directories that call each other.
tree across \
    'src/hi/top.c=void top(void); void mid(void); void top(void) { mid(); }' \
    'src/hi/mid.c=void mid(void); void low(void); void mid(void) { low(); }' \
    'src/lo/low.c=void low(void); void back(void); void low(void) { back(); }' \
    'src/lo/back.c=void back(void); void back(void) {}' \
    'src/lo/up.c=void up(void); void top(void); void up(void) { top(); }'
out=$("$script" "$tmp/across" 2>&1)
rc=$?
expect "a cycle between directories" 1 "$rc" "layers: src/hi: top mid
layers: src/lo: low up back
layers: src: cycle through hi lo
    hi -> lo: hi/mid->lo/low:low
    lo -> hi: lo/up->hi/top:top" "$out"

# The same without the call back up: the order of each graph.
rm "$tmp/across/src/lo/up.c"
out=$("$script" "$tmp/across" 2>&1)
rc=$?
expect "no cycle" 0 "$rc" "layers: src/hi: top mid
layers: src/lo: low back
layers: src: hi lo" "$out"

tree broken 'src/x/a.c=int a(void) { return undeclared; }'
"$script" "$tmp/broken" >/dev/null 2>"$tmp/broken.err"
rc=$?
expect "a file that does not compile" 2 "$rc" "layers: src/x/a.c does not compile:" \
    "$(head -1 "$tmp/broken.err")"

echo "check_layers_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
