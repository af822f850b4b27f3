#!/usr/bin/env bash
# The writing commands of `vhdx` (docs/CLI.md): create, write, discard,
# resize, convert -O vhdx and commit.
# - every usage error: the exact exit status and the exact first line of
#   the message, and that nothing was created or changed;
# - every shape create makes (dynamic, fixed, differencing; 512- and
#   4096-byte logical sectors; blocks of 1M, automatic (8M) and 256M; logs
#   of 1M, 2M, 4M): the 'Formatting' line, `vhdx info --json`, vhdx-verify;
# - write (unaligned, across blocks, the disk's last bytes, from a pipe),
#   discard and resize against a model of the disk kept beside it with dd:
#   the whole disk (`vhdx convert -O raw`) must equal the model byte for
#   byte after each step, and vhdx-verify must find no error;
# - convert raw -> vhdx -> raw, vhdx -> vhdx (compaction, sector sizes and
#   block size kept), differencing -> flat; commit, with the parent's disk
#   equal to what the child showed, and the child stale afterwards;
# - with MAKE_DIRTY (tests/make_dirty): writing to every dirty-log shape
#   replays the log into the file first (the disk is then the replayed view
#   plus the write, the log clean); a log that cannot be replayed refuses
#   the write (exit 1) and leaves the file unchanged.
#
# Usage: cli_write_test.sh VHDX VHDX-VERIFY [MAKE_DIRTY]   (under Bazel,
# the tools come from the runfiles when no arguments are given). The last
# line is "cli_write_test: N passed, M failed"; the exit status is 1 on any
# failure.
set -uo pipefail
name=cli_write_test
make_dirty=
if [ $# -ge 2 ]; then
    vhdx=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    verify=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
    [ $# -lt 3 ] || make_dirty=$(cd "$(dirname "$3")" && pwd)/$(basename "$3")
else
    root="${TEST_SRCDIR:?give VHDX and VHDX-VERIFY}/${TEST_WORKSPACE:?}"
    vhdx="$root/tools/vhdx"
    verify="$root/tools/vhdx-verify"
    [ ! -x "$root/tests/make_dirty" ] || make_dirty="$root/tests/make_dirty"
fi
if [ -n "${TEST_TMPDIR:-}" ]; then
    tmp="$TEST_TMPDIR/cli_write"
    rm -rf "$tmp"
    mkdir -p "$tmp"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_write_test.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
fi
cd "$tmp" || exit 1
PY=python3
passed=0
failed=0
MiB=1048576

ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}
# run CMD...: sets rc, out (stdout) and err (stderr).
run() {
    "$@" >"$tmp/.stdout" 2>"$tmp/.stderr"
    rc=$?
    out=$(tr -d '\0' <"$tmp/.stdout")
    err=$(cat "$tmp/.stderr")
}
expect_rc() {
    if [ "$rc" -eq "$1" ]; then ok; else bad "$2: exit $rc, expected $1; stdout: $out; stderr: $err"; fi
}
expect_out() {
    if [ "$out" = "$1" ]; then ok; else bad "$2: stdout is '$out', expected '$1' (stderr: $err)"; fi
}
# The first line of standard error, exactly.
expect_err1() {
    if [ "$(head -n 1 <<<"$err")" = "$1" ]; then ok; else bad "$2: stderr begins '$(head -n 1 <<<"$err")', expected '$1'"; fi
}
expect_grep() {
    if grep -qF -- "$1" <<<"$2"; then ok; else bad "$3: no '$1' in: $2"; fi
}
expect_no_file() {
    if [ ! -e "$1" ]; then ok; else bad "$2: $1 exists"; fi
}
# A cmp for big sparse files: ranges that are holes in both are skipped.
cat >"$tmp/.samefile.py" <<'PYEOF'
import os, sys
a, b = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(a).st_size
if os.fstat(b).st_size != size:
    print("sizes %d and %d" % (size, os.fstat(b).st_size))
    sys.exit(1)
def next_data(fd, off):
    try:
        return os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        return size
off, step = 0, 8 << 20
while off < size:
    d = min(next_data(a, off), next_data(b, off))
    if d >= size:
        break
    off = d - d % 4096
    n = min(step, size - off)
    x, y = os.pread(a, n, off), os.pread(b, n, off)
    if x != y:
        i = next(i for i in range(n) if x[i] != y[i])
        print("first difference at byte %d" % (off + i))
        sys.exit(1)
    off += n
PYEOF
expect_same() {
    local why
    if why=$($PY "$tmp/.samefile.py" "$1" "$2" 2>&1); then ok; else bad "$3: $1 and $2 differ ($why)"; fi
}
expect_eq() {
    if [ "$1" = "$2" ]; then ok; else bad "$3: '$1', expected '$2'"; fi
}
# usage_case RC 'FIRST LINE' WHAT CMD...: the exit status and the message.
usage_case() {
    local want_rc=$1 want=$2 what=$3
    shift 3
    run "$@"
    expect_rc "$want_rc" "$what"
    expect_err1 "$want" "$what"
}
# json_get IMAGE KEY: one field of `vhdx info --json`.
json_get() {
    "$vhdx" info --json "$1" | $PY -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if v is not None else "null")' "$2"
}
verify_ok() {
    run "$verify" "$1"
    if [ "$rc" -eq 0 ] && ! grep -q "^  error" <<<"$out"; then ok; else bad "$2: vhdx-verify $1: exit $rc: $out"; fi
}
# The whole virtual disk of IMAGE equals MODEL.
disk_is() {
    rm -f "$tmp/.disk.raw"
    if "$vhdx" convert -O raw "$1" "$tmp/.disk.raw" 2>"$tmp/.cerr"; then
        expect_same "$tmp/.disk.raw" "$2" "$3"
    else
        bad "$3: convert -O raw $1: $(cat "$tmp/.cerr")"
    fi
    rm -f "$tmp/.disk.raw"
}
# model_write MODEL OFFSET FILE / model_zero MODEL OFFSET LENGTH
model_write() { dd if="$3" of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc status=none; }
model_zero() {
    fallocate --punch-hole --offset "$2" --length "$3" "$1" 2>/dev/null ||
        head -c "$3" /dev/zero | dd of="$1" bs=1M seek="$2" oflag=seek_bytes iflag=fullblock conv=notrunc status=none
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- help
run "$vhdx" --help
expect_rc 0 "--help"
for c in create write discard resize convert commit; do
    expect_grep "  vhdx $c " "$out" "--help lists $c"
done
expect_grep "vhdx convert [-p] [-O raw|vhdx] [-o OPTIONS] SRC DST" "$out" "--help convert synopsis"
for c in create write discard resize convert commit; do
    run "$vhdx" "$c" --help
    expect_rc 0 "$c --help"
    expect_eq "$(head -n 1 <<<"$out")" "$(grep "^  vhdx $c " <<<"$("$vhdx" --help)" | sed 's/^  /usage: /')" "$c --help usage line"
done
run "$vhdx" create -o help
expect_rc 0 "create -o help"
for k in subformat= block_size= log_size= logical_sector_size= physical_sector_size= parent=; do
    expect_grep "$k" "$out" "create -o help lists $k"
done
run "$vhdx" convert -O vhdx -o help
expect_rc 0 "convert -O vhdx -o help"
expect_grep "block_size=" "$out" "convert -o help"
if grep -q "parent=" <<<"$out"; then bad "convert -o help offers parent="; else ok; fi

# ---------------------------------------------------------------- create: usage errors
u="vhdx create"
usage_case 2 "$u: missing IMAGE" "create without IMAGE" "$vhdx" create
usage_case 2 "$u: missing SIZE" "create without SIZE" "$vhdx" create x.vhdx
usage_case 2 "$u: too many arguments" "create with 3 arguments" "$vhdx" create x.vhdx 1G 2G
usage_case 2 "$u: unknown option '-x'" "create -x" "$vhdx" create -x x.vhdx 1G
usage_case 2 "$u: option '-o' needs a value" "create -o without value" "$vhdx" create x.vhdx 1G -o
usage_case 2 "$u: invalid subformat 'sparse' (dynamic, fixed or differencing)" "subformat" \
    "$vhdx" create -o subformat=sparse x.vhdx 1G
for v in 3M 512K 512M 1 abc -1M 0x; do
    usage_case 2 "$u: invalid block_size '$v' (0 for automatic, or a power of two from 1M to 256M)" \
        "block_size=$v" "$vhdx" create -o "block_size=$v" x.vhdx 1G
done
for v in 0 512K 1536K 4096M 4G x; do
    usage_case 2 "$u: invalid log_size '$v' (a multiple of 1M from 1M to 4095M)" "log_size=$v" \
        "$vhdx" create -o "log_size=$v" x.vhdx 1G
done
for v in 0 1024 2048 8192 4k5; do
    usage_case 2 "$u: invalid logical_sector_size '$v' (512 or 4096)" "logical_sector_size=$v" \
        "$vhdx" create -o "logical_sector_size=$v" x.vhdx 1G
    usage_case 2 "$u: invalid physical_sector_size '$v' (512 or 4096)" "physical_sector_size=$v" \
        "$vhdx" create -o "physical_sector_size=$v" x.vhdx 1G
done
usage_case 2 "$u: unknown option 'cluster_size' in -o (subformat, block_size, log_size, logical_sector_size, physical_sector_size, parent)" \
    "unknown -o key" "$vhdx" create -o cluster_size=1M x.vhdx 1G
usage_case 2 "$u: option 'block_size' is given twice" "repeated key" \
    "$vhdx" create -o block_size=1M,block_size=1M x.vhdx 1G
usage_case 2 "$u: option 'log_size' is given twice" "repeated key over two -o" \
    "$vhdx" create -o log_size=1M -o block_size=1M,log_size=2M x.vhdx 1G
usage_case 2 "$u: option 'block_size' needs a value (KEY=VALUE)" "key without value" \
    "$vhdx" create -o block_size x.vhdx 1G
usage_case 2 "$u: empty option in -o ''" "empty -o" "$vhdx" create -o '' x.vhdx 1G
usage_case 2 "$u: empty option in -o 'block_size=1M,'" "trailing comma" \
    "$vhdx" create -o block_size=1M, x.vhdx 1G
usage_case 2 "$u: empty option in -o ',block_size=1M'" "leading comma" \
    "$vhdx" create -o ,block_size=1M x.vhdx 1G
usage_case 2 "$u: subformat=differencing needs parent=PATH" "differencing without parent" \
    "$vhdx" create -o subformat=differencing x.vhdx
usage_case 2 "$u: parent=PATH needs subformat=differencing" "parent without differencing" \
    "$vhdx" create -o parent=p.vhdx x.vhdx 1G
usage_case 2 "$u: parent=PATH needs subformat=differencing" "parent with dynamic" \
    "$vhdx" create -o subformat=dynamic,parent=p.vhdx x.vhdx 1G
usage_case 2 "$u: option 'parent' needs the parent image's PATH" "empty parent" \
    "$vhdx" create -o subformat=differencing,parent= x.vhdx
usage_case 2 "$u: invalid SIZE '1G5'" "bad SIZE" "$vhdx" create x.vhdx 1G5
usage_case 2 "$u: invalid SIZE '-1G'" "negative SIZE" "$vhdx" create x.vhdx -- -1G
usage_case 2 "$u: SIZE 0 is out of range (one logical sector to 64T)" "SIZE 0" \
    "$vhdx" create x.vhdx 0
usage_case 2 "$u: SIZE 70368744178176 is out of range (one logical sector to 64T)" "SIZE 64T+512" \
    "$vhdx" create x.vhdx $(((64 << 40) + 512))
usage_case 2 "$u: SIZE 1000 is not a multiple of the logical sector size 512" "SIZE 1000" \
    "$vhdx" create x.vhdx 1000
usage_case 2 "$u: SIZE 1049088 is not a multiple of the logical sector size 4096" \
    "SIZE 1M+512 with 4096-byte sectors" "$vhdx" create -o logical_sector_size=4096 x.vhdx 1049088
expect_no_file x.vhdx "no usage error creates IMAGE"

echo "not an image" >exists.vhdx
s0=$(sha exists.vhdx)
usage_case 2 "$u: exists.vhdx: already exists" "existing IMAGE" "$vhdx" create exists.vhdx 1G
expect_eq "$(sha exists.vhdx)" "$s0" "existing IMAGE untouched"
ln -s nowhere dangling.vhdx
usage_case 2 "$u: dangling.vhdx: already exists" "dangling symlink IMAGE" "$vhdx" create dangling.vhdx 1G
expect_no_file nowhere "the dangling link's target is not created"
usage_case 2 "$u: nodir/x.vhdx: No such file or directory" "IMAGE in a missing directory" \
    "$vhdx" create nodir/x.vhdx 1G

# 64T, the largest disk, and one sector, the smallest.
run "$vhdx" create -q big.vhdx 64T
expect_rc 0 "create 64T"
expect_out "" "create -q prints nothing"
expect_eq "$(json_get big.vhdx virtual_size)" $((64 << 40)) "64T virtual size"
expect_eq "$(json_get big.vhdx block_size)" $((64 * MiB)) "64T automatic block size (64M)"
verify_ok big.vhdx "64T"
run "$vhdx" create one.vhdx 512
expect_rc 0 "create one sector"
expect_out "Formatting 'one.vhdx', fmt=vhdx size=512 subformat=dynamic block_size=8388608 log_size=1048576 logical_sector_size=512 physical_sector_size=4096" "one sector line"
verify_ok one.vhdx "one sector"
run "$vhdx" create -o logical_sector_size=4096 one4k.vhdx 4K
expect_rc 0 "create one 4096-byte sector"
verify_ok one4k.vhdx "one 4096-byte sector"
rm -f big.vhdx one.vhdx one4k.vhdx
# The largest log the format allows, 4095 MiB (LogLength is a u32 multiple
# of 1 MiB). WRITER BUG: vhdx_create refuses it (E_RANGE: its check is
# log_size > UINT32_MAX - 1 MiB, which lets 4094M through but not 4095M).
run "$vhdx" create -q -o log_size=4095M maxlog.vhdx 1G
expect_rc 0 "create with the largest log, 4095M"
[ ! -e maxlog.vhdx ] || verify_ok maxlog.vhdx "the largest log"
rm -f maxlog.vhdx
run "$vhdx" create -q -o log_size=4094M maxlog.vhdx 1G
expect_rc 0 "create with a log of 4094M"
expect_eq "$(json_get maxlog.vhdx log_length)" $((4094 * MiB)) "log of 4094M"
rm -f maxlog.vhdx
# Automatic block sizes by size (like QEMU).
for pair in 1G:8 1025M:16 100G:16 101G:32 32T:32; do
    s=${pair%%:*}
    want=$((${pair##*:} * MiB))
    "$vhdx" create -q auto.vhdx "$s"
    expect_eq "$(json_get auto.vhdx block_size)" "$want" "automatic block size for $s"
    rm -f auto.vhdx
done

# ---------------------------------------------------------------- shapes
# Data files of various sizes.
head -c 5000 /dev/urandom >w5000.bin
head -c $((3 * MiB + 777)) /dev/urandom >w3m.bin
head -c 100 /dev/urandom >w100.bin
head -c $((1 * MiB)) /dev/urandom >w1m.bin
head -c $((1 * MiB + 777)) /dev/urandom >w1m777.bin

# exercise IMAGE MODEL TYPE LSS BS SIZE: writes, a discard, checks after each.
exercise() {
    local img=$1 model=$2 type=$3 lss=$4 bs=$5 size=$6 tag="$1"
    local off
    # Unaligned, inside block 0.
    run "$vhdx" write "$img" 1000 w5000.bin
    expect_rc 0 "$tag: write 5000 at 1000"
    expect_out "wrote 5000 bytes at offset 1000" "$tag: write message"
    model_write "$model" 1000 w5000.bin
    # Across the boundary of blocks 0 and 1, unaligned at both ends.
    local cross=w3m.bin
    [ "$bs" -gt $((3 * MiB)) ] || cross=w1m777.bin
    local clen
    clen=$(stat -c %s "$cross")
    off=$((bs - (clen - 777) / 2 - 13))
    run "$vhdx" write "$img" "$off" "$cross"
    expect_rc 0 "$tag: write across a block boundary"
    model_write "$model" "$off" "$cross"
    # 1 MiB at the start of block 2, through a pipe.
    run bash -c 'cat "$1" | "$0" write "$2" "$3" -' "$vhdx" w1m.bin "$img" $((2 * bs))
    expect_rc 0 "$tag: write from a pipe"
    expect_out "wrote $MiB bytes at offset $((2 * bs))" "$tag: pipe write message"
    model_write "$model" $((2 * bs)) w1m.bin
    # The disk's last 100 bytes.
    run "$vhdx" write "$img" $((size - 100)) w100.bin
    expect_rc 0 "$tag: write the last 100 bytes"
    model_write "$model" $((size - 100)) w100.bin
    disk_is "$img" "$model" "$tag: after the writes"
    run "$vhdx" read "$img" "$off" "$clen"
    cmp -s "$tmp/.stdout" "$cross" && ok || bad "$tag: read back across the boundary"
    verify_ok "$img" "$tag: after the writes"
    # Discard [bs/2, bs/2 + 3 bs): blocks 1 and 2 whole, the half of 0 and
    # the part of the last block (3) it covers are kept.
    run "$vhdx" discard "$img" $((bs / 2)) $((3 * bs))
    expect_rc 0 "$tag: discard"
    if [ "$type" = fixed ]; then
        expect_out "discarded $((3 * bs)) bytes" "$tag: a fixed image zeroes the whole range"
        model_zero "$model" $((bs / 2)) $((3 * bs))
    else
        expect_out "discarded $((2 * bs)) bytes" "$tag: discard counts whole blocks"
        model_zero "$model" "$bs" $((2 * bs))
    fi
    disk_is "$img" "$model" "$tag: after the discard"
    run "$vhdx" read "$img" "$bs" "$bs"
    cmp -s "$tmp/.stdout" <(head -c "$bs" /dev/zero) && ok || bad "$tag: discarded block reads zeros"
    verify_ok "$img" "$tag: after the discard"
    # A discard inside one block changes nothing in a dynamic image.
    run "$vhdx" discard "$img" 512 $((bs / 2))
    expect_rc 0 "$tag: discard of part of a block"
    if [ "$type" != fixed ]; then
        expect_out "discarded 0 bytes" "$tag: part of a block is not discarded"
    else
        model_zero "$model" 512 $((bs / 2))
    fi
    [ "$type" != fixed ] || disk_is "$img" "$model" "$tag: after the partial discard"
}

i=0
for lss in 512 4096; do
    for bs_opt in 1M 0 256M; do
        for type in dynamic fixed; do
            case $bs_opt in 1M) bs=$MiB ;; 0) bs=$((8 * MiB)) ;; 256M) bs=$((256 * MiB)) ;; esac
            logs=(1M 2M 4M)
            log=${logs[$((i % 3))]}
            i=$((i + 1))
            # Three and a half blocks and three sectors: the last block is partial.
            size=$((3 * bs + bs / 2 + 3 * lss))
            img="$type-$lss-$bs_opt.vhdx"
            pss=4096
            if [ "$lss" = 512 ] && [ $((i % 2)) = 1 ]; then pss=512; fi
            run "$vhdx" create -o "subformat=$type,block_size=$bs_opt,log_size=$log,logical_sector_size=$lss,physical_sector_size=$pss" "$img" "$size"
            expect_rc 0 "create $img"
            expect_out "Formatting '$img', fmt=vhdx size=$size subformat=$type block_size=$bs log_size=$(($(numfmt --from=iec "$log"))) logical_sector_size=$lss physical_sector_size=$pss" "create $img line"
            "$vhdx" info --json "$img" | $PY -c '
import json, sys
d = json.load(sys.stdin)
img, typ, size, bs, lss, pss, log = sys.argv[1:]
want = {"type": typ, "virtual_size": int(size), "block_size": int(bs),
        "logical_sector_size": int(lss), "physical_sector_size": int(pss),
        "log_length": int(log), "log_dirty": False, "log_state": "clean",
        "chain_depth": 0, "parent_linkage": None}
if typ == "dynamic":
    want["blocks_allocated"] = 0
bad = ["%s=%r (want %r)" % (k, d.get(k), v) for k, v in want.items() if d.get(k) != v]
if typ == "fixed" and d["blocks_allocated"] != (int(size) + int(bs) - 1) // int(bs):
    bad.append("fixed blocks_allocated %d" % d["blocks_allocated"])
print("; ".join(bad))' "$img" "$type" "$size" "$bs" "$lss" "$pss" "$(numfmt --from=iec "$log")" >"$tmp/.json"
            if [ -s "$tmp/.json" ] && [ -n "$(cat "$tmp/.json")" ]; then bad "info --json $img: $(cat "$tmp/.json")"; else ok; fi
            verify_ok "$img" "$img new"
            truncate -s "$size" "$img.model"
            disk_is "$img" "$img.model" "$img: a new image reads zeros"
            exercise "$img" "$img.model" "$type" "$lss" "$bs" "$size"
            if [ "$type" = dynamic ]; then
                # A differencing child over the written image, same block size.
                child="diff-$lss-$bs_opt.vhdx"
                run "$vhdx" create -o "subformat=differencing,parent=$img,block_size=$bs_opt" "$child"
                expect_rc 0 "create $child"
                expect_out "Formatting '$child', fmt=vhdx size=$size subformat=differencing block_size=$bs log_size=1048576 logical_sector_size=$lss physical_sector_size=4096" "create $child line"
                expect_eq "$(json_get "$child" type)" differencing "$child type"
                expect_eq "$(json_get "$child" parent_linkage)" "$(json_get "$img" data_write_guid)" "$child parent_linkage"
                expect_eq "$(json_get "$child" chain_depth)" 1 "$child chain depth"
                verify_ok "$child" "$child new"
                cp --sparse=always "$img.model" "$child.model"
                disk_is "$child" "$child.model" "$child shows its parent"
                exercise "$child" "$child.model" differencing "$lss" "$bs" "$size"
                disk_is "$img" "$img.model" "$child: writing the child left the parent alone"
            fi
            rm -f "$img.model" "$child.model"
        done
    done
done
echo "$name: shapes done ($passed passed, $failed failed so far)"

# ---------------------------------------------------------------- differencing create errors
"$vhdx" create -q base.vhdx 64M
"$vhdx" create -q -o logical_sector_size=4096 base4k.vhdx 64M
usage_case 2 "$u: SIZE 33554432 differs from the parent's virtual size 67108864 (leave SIZE out)" \
    "differencing SIZE" "$vhdx" create -o subformat=differencing,parent=base.vhdx d.vhdx 32M
usage_case 2 "$u: logical_sector_size 4096 differs from the parent's 512" "differencing lss" \
    "$vhdx" create -o subformat=differencing,parent=base.vhdx,logical_sector_size=4096 d.vhdx
usage_case 2 "vhdx: missing.vhdx: cannot open: No such file or directory" "missing parent" \
    "$vhdx" create -o subformat=differencing,parent=missing.vhdx d.vhdx
usage_case 1 "vhdx: exists.vhdx: invalid image: bad signature" "invalid parent" \
    "$vhdx" create -o subformat=differencing,parent=exists.vhdx d.vhdx
mkdir -p sub
usage_case 2 "$u: the parent base.vhdx is not in the directory of sub/d.vhdx or below it: parents are only looked for there (SECURITY.md)" \
    "parent outside the child's directory" \
    "$vhdx" create -o subformat=differencing,parent=base.vhdx sub/d.vhdx
expect_no_file d.vhdx "refused differencing images"
expect_no_file sub/d.vhdx "refused differencing image in sub/"
run "$vhdx" create -o subformat=differencing,parent=base.vhdx d.vhdx 64M
expect_rc 0 "differencing with SIZE equal to the parent's"
cp base4k.vhdx sub/base4k.vhdx
run "$vhdx" create -o subformat=differencing,parent=sub/base4k.vhdx,logical_sector_size=4096 d4k.vhdx
expect_rc 0 "differencing with its parent in a subdirectory"
expect_eq "$(json_get d4k.vhdx logical_sector_size)" 4096 "a differencing image takes the parent's sector size"
verify_ok d4k.vhdx "parent in a subdirectory"
rm -f d.vhdx d4k.vhdx
# ",," in a value is a comma: a parent whose name has one.
cp base.vhdx "a,b.vhdx"
run "$vhdx" create -q -o "subformat=differencing,parent=a,,b.vhdx" comma.vhdx
expect_rc 0 "parent=a,,b.vhdx"
expect_eq "$(basename "$(json_get comma.vhdx parent_path)")" "a,b.vhdx" "',,' is a comma"
rm -f comma.vhdx "a,b.vhdx"

# ---------------------------------------------------------------- write: errors
u="vhdx write"
"$vhdx" create -q w.vhdx 16M
s0=$(sha w.vhdx)
usage_case 2 "$u: missing arguments" "write without FILE" "$vhdx" write w.vhdx 0
usage_case 2 "$u: too many arguments" "write with 4 arguments" "$vhdx" write w.vhdx 0 w100.bin x
usage_case 2 "$u: invalid OFFSET '1x'" "write bad OFFSET" "$vhdx" write w.vhdx 1x w100.bin
usage_case 2 "$u: missing.bin: No such file or directory" "write missing FILE" \
    "$vhdx" write w.vhdx 0 missing.bin
usage_case 2 "$u: sub: Is a directory" "write a directory" "$vhdx" write w.vhdx 0 sub
usage_case 2 "$u: w.vhdx: FILE is the image itself" "write the image into itself" \
    "$vhdx" write w.vhdx 0 w.vhdx
usage_case 2 "$u: the range 0xffffff9d + 0x64 is outside the virtual disk (size 0x1000000)" \
    "write past the end" "$vhdx" write w.vhdx 0xffffff9d w100.bin
usage_case 2 "$u: the range 0xffff9d + 0x64 is outside the virtual disk (size 0x1000000)" \
    "write just past the end" "$vhdx" write w.vhdx $((16 * MiB - 99)) w100.bin
usage_case 2 "$u: the range 0x1000001 + 0x64 is outside the virtual disk (size 0x1000000)" \
    "write after the end" "$vhdx" write w.vhdx $((16 * MiB + 1)) w100.bin
expect_eq "$(sha w.vhdx)" "$s0" "refused writes change nothing"
usage_case 1 "vhdx: exists.vhdx: invalid image: bad signature" "write into an invalid image" \
    "$vhdx" write exists.vhdx 0 w100.bin
usage_case 2 "vhdx: nothing.vhdx: cannot open: No such file or directory" "write into a missing image" \
    "$vhdx" write nothing.vhdx 0 w100.bin
run "$vhdx" write w.vhdx 0 /dev/null
expect_rc 0 "write an empty FILE"
expect_out "wrote 0 bytes at offset 0" "empty FILE message"
run "$vhdx" write w.vhdx $((16 * MiB)) /dev/null
expect_rc 0 "write nothing at the end"
expect_eq "$(sha w.vhdx)" "$s0" "an empty write changes nothing"
run "$vhdx" write -q w.vhdx 0 w100.bin
expect_rc 0 "write -q"
expect_out "" "write -q prints nothing"
# A pipe that goes past the end: what fits is written, then exit 2.
truncate -s $((16 * MiB)) w.model
model_write w.model 0 w100.bin
run bash -c 'cat "$1" "$1" | "$0" write "$2" $((16 * 1048576 - 3 * 1048576)) -' "$vhdx" w3m.bin w.vhdx
expect_rc 2 "a pipe past the end"
expect_err1 "$u: FILE goes past the end of the virtual disk (size 0x1000000): only the 0x300000 bytes up to the end were written" "pipe past the end message"
head -c $((3 * MiB + 777)) w3m.bin >w6.bin
cat w3m.bin >>w6.bin
head -c $((3 * MiB)) w6.bin >w6head.bin
model_write w.model $((13 * MiB)) w6head.bin
disk_is w.vhdx w.model "a pipe past the end writes what fits"
verify_ok w.vhdx "after a pipe past the end"
# A write that fails part way (the file size limit): exit 2, and the image
# stays consistent (what the log committed, or the state before).
rm -f lim.vhdx
"$vhdx" create -q -o block_size=1M lim.vhdx 64M
head -c $((20 * MiB)) /dev/urandom >w20m.bin
run bash -c 'ulimit -f 7168 && exec "$0" write lim.vhdx 0 w20m.bin' "$vhdx"
expect_rc 2 "write past the file size limit"
expect_grep "vhdx: lim.vhdx: cannot write at 0x" "$err" "file size limit message"
verify_ok lim.vhdx "after a failed write"
run "$vhdx" write lim.vhdx 0 w20m.bin
expect_rc 0 "the image takes writes again"
run "$vhdx" read lim.vhdx 0 20M
cmp -s "$tmp/.stdout" w20m.bin && ok || bad "after a failed write, a new write reads back"
rm -f lim.vhdx w20m.bin
# Standard input from a terminal is refused (only when a terminal can be had).
if command -v script >/dev/null 2>&1; then
    script -qec "$vhdx write w.vhdx 0 - </dev/tty; echo \"rc=\$?\"" /dev/null >"$tmp/.tty" 2>&1
    if grep -q "standard input is a terminal" "$tmp/.tty" && grep -q "rc=2" "$tmp/.tty"; then ok; else bad "write from a terminal: $(cat "$tmp/.tty")"; fi
fi
# A read-only image file (skipped as root, who can write anyway).
if [ "$(id -u)" != 0 ]; then
    cp w.vhdx ro.vhdx
    chmod 444 ro.vhdx
    usage_case 2 "vhdx: ro.vhdx: cannot open for writing: Permission denied" "write a read-only file" \
        "$vhdx" write ro.vhdx 0 w100.bin
fi

# ---------------------------------------------------------------- discard: errors
u="vhdx discard"
s0=$(sha w.vhdx)
usage_case 2 "$u: missing arguments" "discard without LENGTH" "$vhdx" discard w.vhdx 0
usage_case 2 "$u: invalid OFFSET 'x'" "discard bad OFFSET" "$vhdx" discard w.vhdx x 1
usage_case 2 "$u: invalid LENGTH '1.5M'" "discard bad LENGTH" "$vhdx" discard w.vhdx 0 1.5M
usage_case 2 "$u: the range 0x0 + 0x1000001 is outside the virtual disk (size 0x1000000)" \
    "discard past the end" "$vhdx" discard w.vhdx 0 $((16 * MiB + 1))
usage_case 2 "$u: the range 0xffffffffffffffff + 0x1 is outside the virtual disk (size 0x1000000)" \
    "discard at 2^64-1" "$vhdx" discard w.vhdx 0xffffffffffffffff 1
run "$vhdx" discard w.vhdx 16M 0
expect_rc 0 "discard nothing at the end"
expect_out "discarded 0 bytes" "discard 0 bytes"
expect_eq "$(sha w.vhdx)" "$s0" "refused and empty discards change nothing"
usage_case 1 "vhdx: exists.vhdx: invalid image: bad signature" "discard an invalid image" \
    "$vhdx" discard exists.vhdx 0 1M

# ---------------------------------------------------------------- resize
u="vhdx resize"
rm -f r.vhdx
"$vhdx" create -q -o block_size=1M r.vhdx 8M
truncate -s $((8 * MiB)) r.model
"$vhdx" write -q r.vhdx $((2 * MiB - 50)) w1m.bin
model_write r.model $((2 * MiB - 50)) w1m.bin
usage_case 2 "$u: missing arguments" "resize without SIZE" "$vhdx" resize r.vhdx
usage_case 2 "$u: too many arguments" "resize 3 arguments" "$vhdx" resize r.vhdx 1G 2G
usage_case 2 "$u: invalid SIZE '+-1M'" "resize bad SIZE" "$vhdx" resize r.vhdx +-1M
usage_case 2 "$u: invalid SIZE '1Q'" "resize bad suffix" "$vhdx" resize r.vhdx 1Q
usage_case 2 "$u: the new size 0 is out of range (one logical sector to 64T)" "resize to 0" \
    "$vhdx" resize r.vhdx 0
usage_case 2 "$u: the new size 70368744177665 is out of range (one logical sector to 64T)" "resize past 64T" \
    "$vhdx" resize r.vhdx $(((64 << 40) + 1))
usage_case 2 "$u: the new size 8388708 is not a multiple of the logical sector size 512" \
    "resize to 8M + 100" "$vhdx" resize r.vhdx 8388708
usage_case 2 "$u: the new size 8388709 is not a multiple of the logical sector size 512" \
    "resize +101" "$vhdx" resize r.vhdx +101
usage_case 2 "$u: SIZE -8M would leave no disk (the virtual size is 8388608)" "resize -8M" \
    "$vhdx" resize r.vhdx -8M
usage_case 2 "$u: SIZE +64T would make the disk larger than 64T (the virtual size is 8388608)" \
    "resize +64T" "$vhdx" resize r.vhdx +64T
usage_case 2 "$u: unknown option '--shrink'" "resize --shrink" "$vhdx" resize --shrink r.vhdx 1M
run "$vhdx" resize r.vhdx 8M
expect_rc 0 "resize to the same size"
expect_out "the virtual size is already 8388608 bytes: nothing to do" "same size message"
# Grow, absolute and relative; new space reads zeros.
run "$vhdx" resize r.vhdx 20M
expect_rc 0 "grow to 20M"
expect_out "resized from 8388608 to 20971520 bytes" "grow message"
truncate -s $((20 * MiB)) r.model
disk_is r.vhdx r.model "after growing"
verify_ok r.vhdx "after growing"
run "$vhdx" resize r.vhdx +1M
expect_rc 0 "grow by +1M"
expect_eq "$(json_get r.vhdx virtual_size)" $((21 * MiB)) "size after +1M"
truncate -s $((21 * MiB)) r.model
"$vhdx" write -q r.vhdx $((20 * MiB + 4096)) w100.bin
model_write r.model $((20 * MiB + 4096)) w100.bin
disk_is r.vhdx r.model "a write into the grown part"
# Shrinking over data is refused (exit 1), and nothing changes.
s0=$(sha r.vhdx)
usage_case 1 "vhdx: r.vhdx: cannot shrink to 2097152 bytes: blocks past the new end hold data; nothing was changed (--force shrinks anyway and loses that data)" \
    "shrink over data" "$vhdx" resize r.vhdx 2M
expect_eq "$(sha r.vhdx)" "$s0" "a refused shrink changes nothing"
usage_case 1 "vhdx: r.vhdx: cannot shrink to 20971520 bytes: blocks past the new end hold data; nothing was changed (--force shrinks anyway and loses that data)" \
    "shrink by -1M over data" "$vhdx" resize r.vhdx -1M
# Shrinking over zeros only: allowed (the data block written with zeros).
run "$vhdx" write r.vhdx $((20 * MiB + 4096)) <(head -c 100 /dev/zero)
model_zero r.model $((20 * MiB + 4096)) 100
run "$vhdx" resize r.vhdx -1M
expect_rc 0 "shrink over zeros"
truncate -s $((20 * MiB)) r.model
disk_is r.vhdx r.model "after shrinking over zeros"
# --force: the data past the end is dropped; growing again reads zeros.
run "$vhdx" resize r.vhdx --force $((2 * MiB + 512))
expect_rc 0 "shrink --force"
expect_out "resized from 20971520 to 2097664 bytes" "shrink --force message"
truncate -s $((2 * MiB + 512)) r.model
disk_is r.vhdx r.model "after shrink --force"
verify_ok r.vhdx "after shrink --force"
run "$vhdx" resize r.vhdx 8M
expect_rc 0 "grow after shrink --force"
truncate -s $((8 * MiB)) r.model
disk_is r.vhdx r.model "grown again: the dropped data reads zeros"
verify_ok r.vhdx "grown after --force"
run "$vhdx" resize -q r.vhdx 2M
expect_rc 1 "shrink over data, -q"
expect_out "" "resize -q prints nothing"
run "$vhdx" resize --force -q r.vhdx -6M
expect_rc 0 "resize --force -q -6M"
expect_eq "$(json_get r.vhdx virtual_size)" $((2 * MiB)) "size after -6M"
truncate -s $((2 * MiB)) r.model
disk_is r.vhdx r.model "after -6M"
# Fixed and 4096-byte-sector images. A dynamic image grown from 3M to 200G
# with 1M blocks needs more BAT entries than its 1 MiB BAT region holds: the
# BAT moves to the end of the file. Fixed images get every new block.
for spec in fixed:512:1G dynamic:4096:200G fixed:4096:1G dynamic:512:200G; do
    t=${spec%%:*}
    l=${spec#*:}
    l=${l%%:*}
    g=$(numfmt --from=iec "${spec##*:}")
    rm -f rz.vhdx rz.model
    "$vhdx" create -q -o "subformat=$t,logical_sector_size=$l,block_size=1M" rz.vhdx 3M
    truncate -s $((3 * MiB)) rz.model
    "$vhdx" write -q rz.vhdx 4096 w1m.bin
    model_write rz.model 4096 w1m.bin
    if [ "$l" = 4096 ]; then
        usage_case 2 "$u: the new size 3146240 is not a multiple of the logical sector size 4096" \
            "$t/$l resize +512" "$vhdx" resize rz.vhdx +512
    fi
    run "$vhdx" resize rz.vhdx "$g"
    expect_rc 0 "$t/$l: grow 3M -> $g"
    expect_eq "$(json_get rz.vhdx type)" "$t" "$t/$l: type after growing"
    if [ "$t" = fixed ]; then
        expect_eq "$(json_get rz.vhdx blocks_allocated)" $((g / MiB)) "$t/$l: every new block allocated"
    fi
    truncate -s "$g" rz.model
    "$vhdx" write -q rz.vhdx $((g - MiB)) w1m.bin
    model_write rz.model $((g - MiB)) w1m.bin
    disk_is rz.vhdx rz.model "$t/$l: after growing to $g"
    verify_ok rz.vhdx "$t/$l: after growing to $g"
    run "$vhdx" resize --force rz.vhdx 1M
    expect_rc 0 "$t/$l: shrink --force to 1M"
    truncate -s $MiB rz.model
    disk_is rz.vhdx rz.model "$t/$l: after shrinking to 1M"
    verify_ok rz.vhdx "$t/$l: after shrinking to 1M"
    # Shrink into the middle of a data block, grow: the cut part reads zeros.
    "$vhdx" write -q rz.vhdx 0 w1m.bin
    model_write rz.model 0 w1m.bin
    run "$vhdx" resize --force rz.vhdx 8K
    expect_rc 0 "$t/$l: shrink --force into a block"
    run "$vhdx" resize rz.vhdx 2M
    expect_rc 0 "$t/$l: grow again"
    truncate -s 8K rz.model
    truncate -s $((2 * MiB)) rz.model
    disk_is rz.vhdx rz.model "$t/$l: the cut part of the block reads zeros"
    verify_ok rz.vhdx "$t/$l: shrunk into a block and grown"
done
rm -f rz.vhdx rz.model
# A differencing image cannot be resized.
"$vhdx" create -q -o subformat=differencing,parent=base.vhdx rd.vhdx
usage_case 2 "vhdx: rd.vhdx: a differencing image cannot be resized: its virtual size is its parent's" \
    "resize a differencing image" "$vhdx" resize rd.vhdx 128M
rm -f rd.vhdx

# ---------------------------------------------------------------- convert -O vhdx
u="vhdx convert"
# A raw disk: data, zero blocks, a sparse hole, data, a partial last block.
{
    head -c $((5 * MiB)) /dev/urandom
    head -c $((10 * MiB)) /dev/zero
    head -c $((3 * MiB)) /dev/urandom
} >src.raw
truncate -s $((40 * MiB)) src.raw # a hole
head -c $((2 * MiB + 1536)) /dev/urandom >>src.raw
rawsize=$(stat -c %s src.raw)
run "$vhdx" convert -O vhdx -o block_size=1M src.raw c1.vhdx
expect_rc 0 "convert raw -> vhdx"
expect_out "" "convert prints nothing"
expect_eq "$(json_get c1.vhdx virtual_size)" "$rawsize" "converted virtual size"
expect_eq "$(json_get c1.vhdx type)" dynamic "converted type (default dynamic)"
expect_eq "$(json_get c1.vhdx block_size)" "$MiB" "converted block size"
# 5 + 3 + 3 (2M and a partial block) data blocks of 1M.
expect_eq "$(json_get c1.vhdx blocks_allocated)" 11 "zero blocks stay unallocated"
verify_ok c1.vhdx "converted raw"
run "$vhdx" convert c1.vhdx back.raw
expect_rc 0 "convert vhdx -> raw"
expect_same back.raw src.raw "raw -> vhdx -> raw is byte-exact"
# Default block size (automatic) and 4096-byte sectors.
run "$vhdx" convert -O vhdx -o logical_sector_size=4096,physical_sector_size=4096,log_size=2M src.raw c2.vhdx
expect_rc 0 "convert raw -> vhdx with 4096-byte sectors (padded)"
expect_err1 "$u: src.raw: $rawsize bytes is not a multiple of the logical sector size 4096: the virtual disk is $(((rawsize + 4095) / 4096 * 4096)) bytes, the rest padded with zeros" "padding notice"
expect_eq "$(json_get c2.vhdx virtual_size)" $(((rawsize + 4095) / 4096 * 4096)) "padded virtual size"
expect_eq "$(json_get c2.vhdx block_size)" $((8 * MiB)) "automatic block size"
expect_eq "$(json_get c2.vhdx log_length)" $((2 * MiB)) "log_size"
expect_eq "$(json_get c2.vhdx logical_sector_size)" 4096 "logical sector size"
verify_ok c2.vhdx "converted with 4096-byte sectors"
cp src.raw src.pad
truncate -s $(((rawsize + 4095) / 4096 * 4096)) src.pad
disk_is c2.vhdx src.pad "padded conversion"
# vhdx -> vhdx keeps SRC's block size and sector sizes.
run "$vhdx" convert -O vhdx c2.vhdx c3.vhdx
expect_rc 0 "convert vhdx -> vhdx"
for k in block_size logical_sector_size physical_sector_size virtual_size; do
    expect_eq "$(json_get c3.vhdx "$k")" "$(json_get c2.vhdx "$k")" "vhdx -> vhdx keeps $k"
done
disk_is c3.vhdx src.pad "vhdx -> vhdx content"
run "$vhdx" convert -O vhdx -o block_size=2M,subformat=fixed c2.vhdx c4.vhdx
expect_rc 0 "convert vhdx -> fixed vhdx, 2M blocks"
expect_eq "$(json_get c4.vhdx type)" fixed "-o subformat=fixed"
expect_eq "$(json_get c4.vhdx block_size)" $((2 * MiB)) "-o block_size overrides SRC's"
disk_is c4.vhdx src.pad "fixed conversion content"
verify_ok c4.vhdx "fixed conversion"
# Compaction: discarded blocks, and a block allocated with zeros only, are not copied.
"$vhdx" create -q -o block_size=1M cp.vhdx 32M
"$vhdx" write -q cp.vhdx 0 <(head -c $((20 * MiB)) /dev/urandom)
"$vhdx" discard -q cp.vhdx $((4 * MiB)) $((8 * MiB))
"$vhdx" write -q cp.vhdx $((14 * MiB)) <(head -c $((2 * MiB)) /dev/zero)
"$vhdx" write -q cp.vhdx $((25 * MiB)) <(head -c 4096 /dev/zero)
expect_eq "$(json_get cp.vhdx blocks_allocated)" 11 "before compaction: 20 - 8 discarded - 2 zeroed + 1 of zeros"
run "$vhdx" convert -O vhdx cp.vhdx cp2.vhdx
expect_rc 0 "compaction"
expect_eq "$(json_get cp2.vhdx blocks_allocated)" 10 "after compaction: only blocks with data"
"$vhdx" convert cp.vhdx cp.raw
disk_is cp2.vhdx cp.raw "compaction keeps the disk"
if [ "$(stat -c %s cp2.vhdx)" -lt "$(stat -c %s cp.vhdx)" ]; then ok; else bad "compaction: the file did not get smaller"; fi
# A differencing image is flattened.
"$vhdx" create -q -o block_size=1M fb.vhdx 16M
"$vhdx" write -q fb.vhdx 0 <(head -c $((16 * MiB)) /dev/urandom)
"$vhdx" create -q -o subformat=differencing,parent=fb.vhdx fc.vhdx
"$vhdx" write -q fc.vhdx 12345 w3m.bin
"$vhdx" discard -q fc.vhdx $((8 * MiB)) $((8 * MiB))
"$vhdx" convert fc.vhdx fc.raw
run "$vhdx" convert -O vhdx fc.vhdx flat.vhdx
expect_rc 0 "convert a differencing image"
expect_eq "$(json_get flat.vhdx type)" dynamic "flattened type"
expect_eq "$(json_get flat.vhdx chain_depth)" 0 "flattened: no parent"
expect_eq "$(json_get flat.vhdx block_size)" "$(json_get fc.vhdx block_size)" "flattened block size"
disk_is flat.vhdx fc.raw "flattened content = the child's view"
verify_ok flat.vhdx "flattened"
# -p: a line per 10% when standard error is not a terminal.
run "$vhdx" convert -p -O vhdx src.raw prog.vhdx
expect_rc 0 "convert -p"
expect_eq "$err" "$(for p in 10 20 30 40 50 60 70 80 90 100; do echo "    ($p.00/100%)"; done)" "convert -p lines"
# Refusals.
s0=$(sha c1.vhdx)
usage_case 2 "$u: c1.vhdx: already exists" "convert onto an existing DST" \
    "$vhdx" convert -O vhdx src.raw c1.vhdx
expect_eq "$(sha c1.vhdx)" "$s0" "existing DST untouched"
usage_case 2 "$u: unknown output format 'qcow2' (raw or vhdx)" "convert -O qcow2" \
    "$vhdx" convert -O qcow2 src.raw out.vhdx
usage_case 2 "$u: raw output takes no -o options ('block_size=1M')" "convert -o with raw" \
    "$vhdx" convert -o block_size=1M c1.vhdx out.raw
usage_case 2 "$u: invalid subformat 'differencing' (dynamic or fixed)" "convert subformat=differencing" \
    "$vhdx" convert -O vhdx -o subformat=differencing src.raw out.vhdx
usage_case 2 "$u: unknown option 'parent' in -o (subformat, block_size, log_size, logical_sector_size, physical_sector_size)" \
    "convert parent=" "$vhdx" convert -O vhdx -o parent=c1.vhdx src.raw out.vhdx
usage_case 2 "$u: invalid block_size '3M' (0 for automatic, or a power of two from 1M to 256M)" \
    "convert block_size=3M" "$vhdx" convert -O vhdx -o block_size=3M src.raw out.vhdx
usage_case 2 "$u: option 'block_size' is given twice" "convert repeated key" \
    "$vhdx" convert -O vhdx -o block_size=1M -o block_size=2M src.raw out.vhdx
usage_case 2 "$u: missing SRC or DST" "convert -O vhdx without DST" "$vhdx" convert -O vhdx src.raw
: >empty.raw
usage_case 2 "$u: empty.raw: SRC is empty (a virtual disk has at least one sector)" "convert an empty SRC" \
    "$vhdx" convert -O vhdx empty.raw out.vhdx
usage_case 2 "$u: missing.raw: No such file or directory" "convert a missing SRC" \
    "$vhdx" convert -O vhdx missing.raw out.vhdx
usage_case 2 "$u: sub: is a directory" "convert a directory" "$vhdx" convert -O vhdx sub out.vhdx
mkfifo fifo.raw
usage_case 2 "$u: fifo.raw: not a regular file or block device" "convert a FIFO" \
    "$vhdx" convert -O vhdx fifo.raw out.vhdx
printf 'vhdxfile but not an image' >fake.vhdx
usage_case 1 "vhdx: fake.vhdx: invalid image: input truncated" "convert an invalid VHDX" \
    "$vhdx" convert -O vhdx fake.vhdx out.vhdx
expect_no_file out.vhdx "refused conversions create nothing"
# A failed copy (file size limit) removes DST.
run bash -c 'ulimit -f 8192 && exec "$0" convert -O vhdx -o block_size=1M "$1" "$2"' "$vhdx" src.raw limited.vhdx
expect_rc 2 "convert -O vhdx past the file size limit"
expect_grep "vhdx: limited.vhdx: cannot write at 0x" "$err" "file size limit message"
expect_grep "$u: removed the incomplete limited.vhdx" "$err" "removal message"
expect_no_file limited.vhdx "the incomplete DST is removed"

# ---------------------------------------------------------------- commit
u="vhdx commit"
usage_case 2 "$u: missing CHILD" "commit without CHILD" "$vhdx" commit
usage_case 2 "$u: too many arguments" "commit with 2 arguments" "$vhdx" commit a b
usage_case 2 "vhdx: c1.vhdx: not a differencing image: it has no parent to commit into" \
    "commit a dynamic image" "$vhdx" commit c1.vhdx
usage_case 1 "vhdx: exists.vhdx: invalid image: bad signature" "commit an invalid image" \
    "$vhdx" commit exists.vhdx
for l in 512 4096; do
    rm -f cb.vhdx cc.vhdx
    "$vhdx" create -q -o "block_size=1M,logical_sector_size=$l" cb.vhdx 12M
    "$vhdx" write -q cb.vhdx 0 <(head -c $((12 * MiB)) /dev/urandom)
    "$vhdx" create -q -o subformat=differencing,parent=cb.vhdx cc.vhdx
    run "$vhdx" commit cc.vhdx
    expect_rc 0 "$l: commit an empty child"
    expect_out "cc.vhdx: nothing to commit: every block reads from the parent; nothing was written" "$l: nothing to commit"
    verify_ok cc.vhdx "$l: the child still opens after an empty commit"
    # Data (unaligned, across blocks), a discarded block, zeros written.
    "$vhdx" write -q cc.vhdx 777 w3m.bin
    "$vhdx" discard -q cc.vhdx $((6 * MiB)) $((2 * MiB))
    "$vhdx" write -q cc.vhdx $((9 * MiB + 4096)) <(head -c 8192 /dev/zero)
    "$vhdx" write -q cc.vhdx $((12 * MiB - 100)) w100.bin
    "$vhdx" convert cc.vhdx cc.raw
    pdata=$(json_get cb.vhdx data_write_guid)
    run "$vhdx" commit -p cc.vhdx
    expect_rc 0 "$l: commit"
    # The sectors the writes touched: w3m.bin, 8192 zeros (not a whole
    # block: written as data), the sector of w100.bin; the discard: 2M.
    cdata=$(((777 + 3 * MiB + 777 + l - 1) / l * l - 777 / l * l + 8192 + l))
    expect_eq "$(head -n 1 <<<"$out")" "committed cc.vhdx into $(cd "$tmp" && pwd -P)/cb.vhdx: $cdata bytes of data written, $((2 * MiB)) bytes zeroed" "$l: commit message"
    expect_eq "$(tail -n 1 <<<"$out")" "cc.vhdx now names the parent's new DataWriteGuid: it still opens and reads the same; it can be deleted" "$l: child message"
    expect_eq "$(tail -n 1 <<<"$err")" "    (100.00/100%)" "$l: commit -p"
    disk_is cb.vhdx cc.raw "$l: the parent now shows what the child showed"
    verify_ok cb.vhdx "$l: the parent after commit"
    pnew=$(json_get cb.vhdx data_write_guid)
    if [ "$pnew" != "$pdata" ]; then ok; else bad "$l: the parent's DataWriteGuid did not change"; fi
    # The child names the new identity, without parent_linkage2: it opens cleanly.
    verify_ok cc.vhdx "$l: the child after commit"
    expect_eq "$(json_get cc.vhdx parent_linkage)" "$pnew" "$l: the child's linkage"
    disk_is cc.vhdx cc.raw "$l: the child reads the same"
    # A second commit does the same work again.
    run "$vhdx" commit cc.vhdx
    expect_rc 0 "$l: commit again"
    expect_eq "$(head -n 1 <<<"$out")" "committed cc.vhdx into $(cd "$tmp" && pwd -P)/cb.vhdx: $cdata bytes of data written, $((2 * MiB)) bytes zeroed" "$l: commit again message"
    disk_is cb.vhdx cc.raw "$l: the parent after a second commit"
done
# An interrupted commit (the parent cannot grow past the file size limit),
# then run again: the chain reads as before in between, and the second run
# finishes.
rm -f ib.vhdx ic.vhdx ic.raw
"$vhdx" create -q -o block_size=1M ib.vhdx 16M
"$vhdx" write -q ib.vhdx 0 <(head -c $((2 * MiB)) /dev/urandom)
"$vhdx" create -q -o subformat=differencing,parent=ib.vhdx ic.vhdx
"$vhdx" write -q ic.vhdx $((2 * MiB)) <(head -c $((12 * MiB)) /dev/urandom)
"$vhdx" convert ic.vhdx ic.raw
limit=$(( $(stat -c %s ib.vhdx) / 1024 + 3 * 1024 ))
run bash -c 'ulimit -f "$1" && exec "$0" commit ic.vhdx' "$vhdx" "$limit"
expect_rc 2 "commit past the file size limit"
expect_grep "vhdx: ic.vhdx: cannot commit into $(cd "$tmp" && pwd -P)/ib.vhdx: I/O error" "$err" "interrupted commit message"
expect_grep "vhdx commit: the commit stopped part way; ic.vhdx still reads as before: run the commit again to finish it" "$err" "interrupted commit: run again"
disk_is ic.vhdx ic.raw "the chain after an interrupted commit"
run "$verify" ic.vhdx
expect_grep "parent_locator.parent_linkage2.present" "$out" "the interrupted commit's parent_linkage2"
run "$vhdx" commit ic.vhdx
expect_rc 0 "commit run again"
disk_is ib.vhdx ic.raw "the parent after the commit run again"
verify_ok ib.vhdx "the parent after the commit run again"
verify_ok ic.vhdx "the child after the commit run again"
if grep -q "parent_linkage2" <<<"$out"; then bad "parent_linkage2 left after the commit"; else ok; fi
rm -f ib.vhdx ic.vhdx ic.raw
# Parent and child with different block sizes.
for pair in 8M:1M 1M:32M; do
    rm -f pb.vhdx pc.vhdx
    "$vhdx" create -q -o "block_size=${pair%%:*}" pb.vhdx 40M
    "$vhdx" write -q pb.vhdx 0 <(head -c $((40 * MiB)) /dev/urandom)
    "$vhdx" create -q -o "subformat=differencing,parent=pb.vhdx,block_size=${pair##*:}" pc.vhdx
    "$vhdx" write -q pc.vhdx 777 w3m.bin
    "$vhdx" discard -q pc.vhdx $((8 * MiB)) $((32 * MiB))
    "$vhdx" write -q pc.vhdx $((20 * MiB + 5)) <(head -c 100 /dev/zero)
    "$vhdx" convert pc.vhdx pc.raw
    run "$vhdx" commit -q pc.vhdx
    expect_rc 0 "commit, blocks $pair"
    disk_is pb.vhdx pc.raw "commit, blocks $pair: the parent shows the child's disk"
    verify_ok pb.vhdx "commit, blocks $pair"
    rm -f pb.vhdx pc.vhdx pc.raw
done
# A three-level chain: commit the top into the middle; the base stays.
rm -f g0.vhdx g1.vhdx g2.vhdx
"$vhdx" create -q -o block_size=1M g0.vhdx 8M
"$vhdx" write -q g0.vhdx 0 <(head -c $((8 * MiB)) /dev/urandom)
"$vhdx" create -q -o subformat=differencing,parent=g0.vhdx g1.vhdx
"$vhdx" write -q g1.vhdx $((1 * MiB)) w1m.bin
"$vhdx" create -q -o subformat=differencing,parent=g1.vhdx g2.vhdx
"$vhdx" write -q g2.vhdx $((3 * MiB + 5)) w1m.bin
"$vhdx" discard -q g2.vhdx $((5 * MiB)) $((1 * MiB))
"$vhdx" convert g2.vhdx g2.raw
"$vhdx" convert g0.vhdx g0.raw
run "$vhdx" commit -q g2.vhdx
expect_rc 0 "commit in a 3-level chain"
expect_out "" "commit -q prints nothing"
disk_is g1.vhdx g2.raw "the middle image shows what the top showed"
disk_is g0.vhdx g0.raw "the base is untouched"
verify_ok g1.vhdx "the middle after commit"
expect_eq "$(json_get g1.vhdx type)" differencing "the middle is still differencing"

# ---------------------------------------------------------------- dirty logs
if [ -n "$make_dirty" ]; then
    mkdir -p dirty
    if "$make_dirty" dirty >/dev/null 2>&1; then ok; else bad "make_dirty failed"; fi
    nd=0
    while IFS=$'\t' read -r shape rule _; do
        nd=$((nd + 1))
        cp "dirty/dirty-$shape.vhdx" dw.vhdx
        s0=$(sha dw.vhdx)
        run "$vhdx" write dw.vhdx 4096 w5000.bin
        if [ "$rule" = - ]; then
            expect_rc 0 "dirty $shape: write"
            # The disk is the replayed view (what a read-only open shows) plus the write.
            "$vhdx" convert "dirty/dirty-$shape.vhdx" dview.raw
            model_write dview.raw 4096 w5000.bin
            disk_is dw.vhdx dview.raw "dirty $shape: replayed, then written"
            expect_eq "$(json_get dw.vhdx log_state)" clean "dirty $shape: the log is clean after"
            verify_ok dw.vhdx "dirty $shape: after the write"
            rm -f dview.raw
        else
            expect_rc 1 "dirty $shape: a log that cannot be replayed refuses the write"
            expect_eq "$(sha dw.vhdx)" "$s0" "dirty $shape: refused, unchanged"
        fi
        rm -f dw.vhdx
    done <dirty/manifest.tsv
    [ "$nd" -ge 24 ] && ok || bad "only $nd dirty shapes"
else
    echo "$name: no MAKE_DIRTY given: the dirty-log cases are skipped"
fi

# ---------------------------------------------------------------- unknown things
usage_case 2 "vhdx: unknown command 'commitx' (try 'vhdx --help')" "unknown command" "$vhdx" commitx

echo "$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
