#!/usr/bin/env bash
# The nbdkit plugin over a Unix socket, against the vhdx tool, qemu-img and
# qemu-io:
#   - the read-only export of the sample images, a dirty image (whose file
#     must not change: sha256 before and after) and a differencing chain
#     equals `vhdx convert -O raw` (nbdcopy, and qemu-img convert);
#   - parents only where vhdx-verify finds them (parent-dir=);
#   - a corrupt image is refused at start with the rule id in the error;
#   - writes, zeroes, discards and FUA writes with qemu-io over NBD, then
#     vhdx-verify and qemu-img check pass and the bytes read back;
#   - nbdinfo --map agrees with `vhdx map`;
#   - SIGKILL of nbdkit during a stream of writes leaves an image that verifies.
# Usage: nbdkit/nbdkit_test.sh PLUGIN.so VHDX VHDX_VERIFY MAKE_DIRTY
# Last line: "nbdkit_test: N passed, M failed"; non-zero exit on any failure.
set -u
if [ "$#" -ne 4 ]; then
    echo "usage: nbdkit/nbdkit_test.sh PLUGIN.so VHDX VHDX_VERIFY MAKE_DIRTY" >&2
    echo "nbdkit_test: 0 passed, 1 failed"
    exit 2
fi
for f in "$@"; do
    [ -x "$f" ] || { echo "nbdkit_test: missing $f" >&2; echo "nbdkit_test: 0 passed, 1 failed"; exit 1; }
done
plugin=$(realpath "$1")
vhdx=$(realpath "$2")
verify=$(realpath "$3")
make_dirty=$(realpath "$4")
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/nbdkit_test.XXXXXX")
nbdkit_pid=
cleanup() {
    if [ -n "$nbdkit_pid" ]; then kill "$nbdkit_pid" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # check NAME COMMAND...
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
    echo "nbdkit_test: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}
for t in nbdkit nbdcopy nbdinfo qemu-img qemu-io cmp sha256sum; do
    command -v "$t" >/dev/null || { bad "missing tool $t"; finish; }
done
cd "$work" || exit 1

# export_equals_convert NAME IMAGE [nbdkit params...]: nbdcopy and qemu-img
# convert of the read-only export both equal vhdx convert -O raw.
export_equals_convert() {
    local name=$1 image=$2
    shift 2
    rm -f want.raw got.raw got2.raw
    "$vhdx" convert -O raw "$image" want.raw >/dev/null 2>&1 || { bad "$name: vhdx convert"; return; }
    if ! nbdkit -r -U - "$plugin" file="$image" "$@" \
        --run 'nbdcopy "$uri" got.raw && qemu-img convert -f raw -O raw "$uri" got2.raw'; then
        bad "$name: export"
        return
    fi
    check "$name: nbdcopy of the export equals vhdx convert" cmp -s want.raw got.raw
    check "$name: qemu-img convert of the export equals vhdx convert" cmp -s want.raw got2.raw
}

# ---- sample images made by Hyper-V and Disk2VHD
for f in "$root"/corpus/images/*.vhdx.bz2; do
    img="$work/$(basename "$f" .bz2)"
    bunzip2 -c "$f" >"$img"
    export_equals_convert "$(basename "$img")" "$img"
done

# ---- a dirty image: replayed in memory, the file untouched
mkdir dirty
"$make_dirty" dirty >/dev/null || bad "make_dirty"
img=dirty/dirty-multi-entry.vhdx
before=$(sha256sum <"$img")
export_equals_convert "dirty-multi-entry (read-only)" "$PWD/$img"
check "dirty-multi-entry: the file is unchanged by the read-only export" \
    test "$(sha256sum <"$img")" = "$before"
check "dirty-multi-entry: the log still needs replay after the export" \
    sh -c "'$vhdx' info '$img' | grep -q '^log state: *dirty, replayed in memory'"

# ---- a differencing chain of three, parents only where vhdx-verify finds them
mkdir -p a c
"$vhdx" create -o subformat=dynamic,block_size=1M a/base.vhdx 32M >/dev/null
head -c 3145728 /dev/urandom >pat1
"$vhdx" write a/base.vhdx 0 pat1 >/dev/null
(cd a && "$vhdx" create -o subformat=differencing,parent=base.vhdx mid.vhdx >/dev/null)
head -c 65536 /dev/urandom >pat2
"$vhdx" write a/mid.vhdx 1048576 pat2 >/dev/null
(cd a && "$vhdx" create -o subformat=differencing,parent=mid.vhdx top.vhdx >/dev/null)
"$vhdx" write a/top.vhdx 1050000 pat2 >/dev/null
export_equals_convert "differencing chain of three (a/top.vhdx)" "$PWD/a/top.vhdx"
mv a/base.vhdx c/
nbdkit -r -U - "$plugin" file="$PWD/a/top.vhdx" --run 'true' 2>err.txt
check "parent moved away: refused with [image.parent.not_found]" \
    grep -q "\[image.parent.not_found\]" err.txt
"$verify" --quiet a/top.vhdx >/dev/null 2>&1
check "parent moved away: vhdx-verify refuses it too (exit 1)" test $? -eq 1
# relative_path "base.vhdx" names the child's directory only: parent-dir does not
# widen it (an absolute_win32_path would be looked up there), for both.
nbdkit -r -U - "$plugin" file="$PWD/a/top.vhdx" parent-dir="$PWD/c" --run 'true' 2>err.txt
check "parent-dir=c: still refused with [image.parent.not_found]" \
    grep -q "\[image.parent.not_found\]" err.txt
"$verify" --quiet --parent-dir c a/top.vhdx >/dev/null 2>&1
check "vhdx-verify --parent-dir c: refused too (exit 1)" test $? -eq 1
mv c/base.vhdx a/

# ---- a corrupt image is refused at start with its rule id
"$vhdx" create -o subformat=dynamic a/bad.vhdx 8M >/dev/null
printf '\x00' | dd of=a/bad.vhdx bs=1 seek=$((65536 + 100)) conv=notrunc 2>/dev/null
printf '\x00' | dd of=a/bad.vhdx bs=1 seek=$((131072 + 100)) conv=notrunc 2>/dev/null
printf 'XXXX' | dd of=a/bad.vhdx bs=1 seek=$((196608)) conv=notrunc 2>/dev/null
printf 'XXXX' | dd of=a/bad.vhdx bs=1 seek=$((262144)) conv=notrunc 2>/dev/null
nbdkit -r -U - "$plugin" file="$PWD/a/bad.vhdx" --run 'true' 2>err.txt
rc=$?
check "corrupt image: nbdkit exits non-zero" test "$rc" -ne 0
check "corrupt image: the error names a rule id ($(grep -o '\[[a-z_.]*\]' err.txt | head -n 1))" \
    grep -q "refused: E_[A-Z_]* \[[a-z_]*\.[a-z_.]*\]" err.txt
check "corrupt image: vhdx-verify refuses it too" sh -c "! '$verify' --quiet a/bad.vhdx >/dev/null 2>&1"

# ---- writes, zeroes, discards, FUA through the journaled writer
"$vhdx" create -o subformat=dynamic,block_size=1M w.vhdx 64M >/dev/null
nbdkit -U - "$plugin" file="$PWD/w.vhdx" --run 'qemu-io -f raw \
    -c "write -P 0xa5 0 3M" -c "write -z 1M 512k" -c "write -P 0x11 8M 4M" \
    -c "discard 10M 1M" -c "write -f -P 0x22 20M 64k" -c "write -z -u 40M 2M" \
    -c "write -P 0x33 40M 4k" -c "write -z 30M 1M" -c "write -z -u 32M 1M" \
    "$uri"' >/dev/null 2>err.txt
check "qemu-io writes over NBD succeed" test $? -eq 0
# A zero request with may_trim changes whole blocks to the ZERO state: nothing is
# allocated. (Without may_trim the plugin writes zeros as data; the library itself
# may record an all-zero whole block as ZERO, which reads the same.)
kind_at() { "$vhdx" map --json w.vhdx | sed -n "s/.*\"offset\": $1, \"length\": [0-9]*, \"kind\": \"\([a-z]*\)\".*\"bat_state\": \"\([A-Z_]*\)\".*/\1 \2/p"; }
check "zero with may_trim: 32M is a ZERO block ($(kind_at 33554432))" \
    test "$(kind_at 33554432)" = "zero ZERO"
check "vhdx-verify passes after the writes" "$verify" --quiet w.vhdx
check "qemu-img check passes after the writes" qemu-img check -q w.vhdx
python3 - <<'EOF'
buf = bytearray(64 << 20)
M = 1 << 20
buf[0:3 * M] = b"\xa5" * (3 * M)
buf[M:M + 512 * 1024] = bytes(512 * 1024)
buf[8 * M:12 * M] = b"\x11" * (4 * M)
buf[10 * M:11 * M] = bytes(M)
buf[20 * M:20 * M + 65536] = b"\x22" * 65536
buf[40 * M:40 * M + 4096] = b"\x33" * 4096
open("w.want", "wb").write(buf)
EOF
qemu-img convert -O raw w.vhdx w.got
check "the written bytes read back through qemu-img" cmp -s w.want w.got
nbdkit -r -U - "$plugin" file="$PWD/w.vhdx" --run 'nbdcopy "$uri" w.got2'
check "the written bytes read back through the export" cmp -s w.want w.got2

# ---- exact request flags with nbdsh (python3-libnbd): fast_zero, may_trim, FUA, trim
"$vhdx" create -o subformat=dynamic,block_size=1M f.vhdx 16M >/dev/null
"$vhdx" create -o subformat=fixed,block_size=1M fx.vhdx 8M >/dev/null
cat >flags.py <<'EOF2'
import os
def expect_enotsup(what, fn):
    try:
        fn()
    except nbd.Error as e:
        print(what, "ENOTSUP" if e.errno == "ENOTSUP" else "error %s" % e.errno)
    else:
        print(what, "done")
if os.environ["FLAGS_IMAGE"] == "fixed":
    expect_enotsup("fixed aligned fast zero:", lambda: h.zero(1048576, 0, nbd.CMD_FLAG_FAST_ZERO))
    h.zero(1048576, 0)
    print("fixed zero:", h.pread(4, 0) == bytes(4))
else:
    h.pwrite(b"x" * 4194304, 0)
    expect_enotsup("no_hole fast zero:",
                   lambda: h.zero(1048576, 0, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE))
    expect_enotsup("unaligned fast zero:", lambda: h.zero(512, 1048576, nbd.CMD_FLAG_FAST_ZERO))
    expect_enotsup("aligned fast zero:", lambda: h.zero(1048576, 2097152, nbd.CMD_FLAG_FAST_ZERO))
    h.zero(1048576, 0, nbd.CMD_FLAG_NO_HOLE)
    h.pwrite(b"y" * 512, 3145728 + 512, nbd.CMD_FLAG_FUA)
    h.trim(1048576, 1048576)
    print("reads:", bytes(h.pread(2, 0)), bytes(h.pread(2, 1048576)), bytes(h.pread(2, 1048576 + 512)),
          bytes(h.pread(2, 2097152)), bytes(h.pread(2, 3145728)), bytes(h.pread(2, 3145728 + 512)))
EOF2
# nbdsh runs `python3`: Debian's, which has the nbd module.
PATH="/usr/bin:$PATH" FLAGS_IMAGE=dynamic nbdkit -U - "$plugin" file="$PWD/f.vhdx" --run \
    'nbdsh -u "$uri" -c "exec(open(\"flags.py\").read())"' >flags.out 2>&1
PATH="/usr/bin:$PATH" FLAGS_IMAGE=fixed nbdkit -U - "$plugin" file="$PWD/fx.vhdx" --run \
    'nbdsh -u "$uri" -c "exec(open(\"flags.py\").read())"' >>flags.out 2>&1
cat >flags.want <<'EOF2'
no_hole fast zero: ENOTSUP
unaligned fast zero: ENOTSUP
aligned fast zero: done
reads: b'\x00\x00' b'\x00\x00' b'\x00\x00' b'\x00\x00' b'xx' b'yy'
fixed aligned fast zero: ENOTSUP
fixed zero: True
EOF2
check "nbdsh: fast_zero refused unless whole blocks of a non-fixed image may be trimmed" \
    cmp -s flags.want flags.out
cmp -s flags.want flags.out || diff flags.want flags.out | head -n 10
"$vhdx" map f.vhdx >f.map
cat >f.map.want <<'EOF2'
0x0 0x100000 zero (ZERO)
0x100000 0x100000 zero (UNMAPPED)
0x200000 0x100000 zero (ZERO)
0x300000 0x100000 data file 0x700000 (FULLY_PRESENT)
0x400000 0xc00000 zero (NOT_PRESENT)
EOF2
check "nbdsh: trim unmaps the whole block, fast zero makes it ZERO (vhdx map)" cmp -s f.map.want f.map
check "nbdsh: vhdx-verify passes after the flag tests" "$verify" --quiet f.vhdx fx.vhdx

# ---- nbdinfo --map agrees with vhdx map (runs merged by kind: data, or zero = hole,zero)
map_agrees() {
    local image=$1
    nbdkit -r -U - "$plugin" file="$image" --run 'nbdinfo --map "$uri"' |
        awk '{k = ($3 == 3) ? "zero" : "data"; print $1, $2, k}' |
        awk '{ if (n && k == $3 && s + l == $1) { l += $2 } else { if (n) print s, l, k; s = $1; l = $2; k = $3; n = 1 } } END { if (n) print s, l, k }' >map.nbd
    "$vhdx" map --json "$image" |
        sed -n 's/.*"offset": \([0-9]*\), "length": \([0-9]*\), "kind": "\([a-z]*\)".*/\1 \2 \3/p' |
        awk '{k = ($3 == "zero") ? "zero" : "data"; print $1, $2, k}' |
        awk '{ if (n && k == $3 && s + l == $1) { l += $2 } else { if (n) print s, l, k; s = $1; l = $2; k = $3; n = 1 } } END { if (n) print s, l, k }' >map.vhdx
    [ -s map.vhdx ] && cmp -s map.nbd map.vhdx
}
check "nbdinfo --map agrees with vhdx map (written image)" map_agrees "$PWD/w.vhdx"
check "nbdinfo --map agrees with vhdx map (hyperv-dynamic-1G)" map_agrees "$work/hyperv-dynamic-1G.vhdx"
check "nbdinfo --map agrees with vhdx map (differencing child)" map_agrees "$PWD/a/top.vhdx"

# ---- the read-only export refuses writes (advertised read-only: the client refuses)
head -c 1048576 /dev/zero >zeros.bin
nbdkit -r -U - "$plugin" file="$PWD/w.vhdx" --run \
    'nbdinfo --json "$uri" | grep -q "\"is_read_only\": true" && ! nbdcopy zeros.bin "$uri"' \
    >/dev/null 2>&1
check "a read-only export is read-only and refuses writes" test $? -eq 0
check "the read-only export left the image as written" sh -c "qemu-img convert -O raw w.vhdx w.got3 && cmp -s w.want w.got3"

# ---- limits and I/O errors
nbdkit -r -U - "$plugin" file="$work/hyperv-dynamic-1G.vhdx" max-memory=4K --run 'true' \
    2>err.txt
check "max-memory=4K: refused at start with E_LIMIT" grep -q "E_LIMIT" err.txt
cp w.vhdx t.vhdx # data at 8M lies past the first 2 MiB of the file
# The connection opens the image; the file is cut short under it, then read.
nbdkit -r -U - "$plugin" file="$PWD/t.vhdx" --run \
    '(sleep 1; truncate -s 2M t.vhdx) & qemu-io -r -f raw -c "sleep 2000" -c "read 8M 64k" "$uri"' \
    >out.txt 2>&1
check "a read the file can no longer serve fails with EIO at the client" \
    grep -q "Input/output error" out.txt

# ---- SIGKILL during a stream of writes: the image still verifies
"$vhdx" create -o subformat=dynamic,block_size=1M k.vhdx 256M >/dev/null
nbdkit -f -U "$work/k.sock" -P "$work/k.pid" "$plugin" file="$PWD/k.vhdx" &
nbdkit_pid=$!
for _ in $(seq 50); do [ -S "$work/k.sock" ] && break; sleep 0.1; done
cmds=()
for i in $(seq 0 199); do cmds+=(-c "write -P $((i % 250 + 1)) $((i * 1234567 % 250000000 / 512 * 512)) 256k"); done
qemu-io -f raw "${cmds[@]}" "nbd+unix:///?socket=$work/k.sock" >/dev/null 2>&1 &
writer=$!
sleep 0.7
kill -9 "$nbdkit_pid"
wait "$nbdkit_pid" 2>/dev/null
nbdkit_pid=
wait "$writer" 2>/dev/null
echo "note: at the kill: $("$vhdx" info k.vhdx 2>/dev/null | grep '^log state')"
check "after SIGKILL mid-stream: vhdx-verify passes (a dirty log replays)" "$verify" --quiet k.vhdx
cp k.vhdx k2.vhdx
"$vhdx" replay k2.vhdx >/dev/null 2>&1
check "after SIGKILL mid-stream: replayed, qemu-img check passes" qemu-img check -q k2.vhdx

finish
