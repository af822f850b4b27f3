#!/usr/bin/env bash
# The images the writer makes, judged by readers we did not write:
# - qemu-img 7.2 (`qemu-img check -f vhdx` must exit 0; `qemu-img convert
#   -f vhdx -O raw` must give exactly the bytes of `vhdx convert -O raw` and
#   of the model, the data written kept beside each image with dd). qemu-img
#   cannot open differencing images nor 4096-byte logical sectors: it must
#   refuse them with "Operation not supported", which is not a pass: a
#   "NOT JUDGED" line names each such image, and the summary counts them
#   apart from the passes;
# - libvhdi 20210425: `vhdiinfo` must exit 0 on every image, and pyvhdi
#   (Debian's /usr/bin/python3) must read the whole disk (through the parent
#   for differencing images) as the model. Where libvhdi is known to deviate
#   from the format the range is left out and a NOTE says whether it still
#   deviates: a ZERO block of a differencing image (VHDX-FORMAT.md §7.2,
#   tests/ib_make.c), and the NOT_PRESENT blocks of a differencing image
#   whose chunk has no sector bitmap block (a new child: §7.3 allows the SB
#   entry to be NOT_PRESENT when no block of the chunk is PARTIALLY_PRESENT,
#   and such blocks read from the parent; libvhdi 20210425 reads zeros, so
#   it deviates exactly on the parent's data, the ranges left out; the rest
#   of the new child's disk is compared).
# Every shape: dynamic and fixed with 512- and 4096-byte logical sectors and
# several block sizes, differencing children of both, each checked when new,
# after writes, after a discard and after growing (and shrinking with
# --force); images made by convert -O vhdx (from raw, compaction, a
# flattened child); a parent after commit.
#
# Usage: interop_write_test.sh VHDX VHDX-VERIFY. A missing reference tool
# is a failure unless VHDX_INTEROP_OPTIONAL=1 (then its checks are skipped,
# and counted). The last line is "interop_write_test: N passed, M failed".
set -uo pipefail
name=interop_write_test
if [ $# -ge 2 ]; then
    vhdx=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    verify=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
else
    root="${TEST_SRCDIR:?give VHDX and VHDX-VERIFY}/${TEST_WORKSPACE:?}"
    vhdx="$root/tools/vhdx"
    verify="$root/tools/vhdx-verify"
fi
if [ -n "${TEST_TMPDIR:-}" ]; then
    tmp="$TEST_TMPDIR/interop_write"
    rm -rf "$tmp"
    mkdir -p "$tmp"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/interop_write_test.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
fi
cd "$tmp" || exit 1
VPY=/usr/bin/python3 # Debian's python3, where python3-libvhdi lives
passed=0
failed=0
skipped=0
MiB=1048576
# Counts per oracle.
q_check=0 q_read=0 q_refused=0 v_info=0 v_read=0 v_notes=0

ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $*" >&2
}
finish() {
    echo "$name: qemu-img check passed $q_check, qemu-img convert matched $q_read, not judged by qemu-img (it cannot open differencing images or 4096-byte sectors) $q_refused; vhdiinfo passed $v_info, pyvhdi matched $v_read (notes $v_notes); skipped $skipped"
    echo "$name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# ---- the reference tools
have_qemu=1 have_vhdi=1 have_pyvhdi=1
command -v qemu-img >/dev/null 2>&1 || have_qemu=0
command -v vhdiinfo >/dev/null 2>&1 || have_vhdi=0
$VPY -c 'import pyvhdi' >/dev/null 2>&1 || have_pyvhdi=0
for t in qemu:qemu-img vhdi:vhdiinfo pyvhdi:"pyvhdi ($VPY -c 'import pyvhdi'; apt-get install python3-libvhdi)"; do
    var=have_${t%%:*}
    if [ "${!var}" = 0 ]; then
        if [ "${VHDX_INTEROP_OPTIONAL:-0}" = 1 ]; then
            echo "SKIP: ${t#*:} is not installed (VHDX_INTEROP_OPTIONAL=1)"
        else
            bad "${t#*:} is not installed (set VHDX_INTEROP_OPTIONAL=1 to skip its checks)"
        fi
    fi
done
[ "$failed" -eq 0 ] || finish

# A cmp for big sparse files (holes in both are skipped); prints the first difference.
cat >"$tmp/samefile.py" <<'PYEOF'
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

# pyvhdi: reads the whole disk of IMAGE (its parents given after it, nearest
# first) and compares it with MODEL, except the ranges given as OFF:LEN,...
# ("-" for none) where libvhdi is known to deviate for REASON: a NOTE says
# whether it still does. Prints "PASS" or "FAIL ..." and NOTE lines.
cat >"$tmp/vhdi_compare.py" <<'PYEOF'
import os, sys
import pyvhdi

model, skip, reason, image, parents = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
skip = [] if skip == "-" else [tuple(int(x) for x in r.split(":")) for r in skip.split(",")]
opened = []
def open_file(path):
    f = pyvhdi.file()
    f.open(path)
    opened.append(f)
    return f
try:
    f = open_file(image)
    cur = f
    for p in parents:
        par = open_file(p)
        cur.set_parent(par)
        cur = par
    size = os.path.getsize(model)
    if f.media_size != size:
        print("FAIL media size %d, expected %d" % (f.media_size, size))
        sys.exit(0)
    def skipped(o, n):
        return [(max(o, a), min(o + n, a + l)) for a, l in skip if a < o + n and a + l > o]
    step = 16 << 20
    first = None
    deviates = None
    with open(model, "rb") as m:
        for o in range(0, size, step):
            n = min(step, size - o)
            got = f.read_buffer_at_offset(n, o)
            m.seek(o)
            want = m.read(n)
            if got == want:
                continue
            for i in range(n):
                if got[i] != want[i]:
                    at = o + i
                    if any(a <= at < b for a, b in skipped(o, n)):
                        deviates = deviates if deviates is not None else at
                        continue
                    first = at
                    break
            if first is not None:
                break
    for a, l in skip:
        print("NOTE libvhdi on [%d, %d) of %s (%s): %s" %
              (a, a + l, os.path.basename(image), reason,
               "still deviates (first at virtual offset %d)" % deviates if deviates is not None
               else "now agrees"))
    if first is not None:
        print("FAIL bytes differ at virtual offset %d" % first)
    else:
        print("PASS")
except Exception as e:
    print("FAIL libvhdi: %s" % e)
finally:
    for x in opened:
        try:
            x.close()
        except Exception:
            pass
PYEOF

model_write() { dd if="$3" of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc status=none; }
model_zero() {
    fallocate --punch-hole --offset "$2" --length "$3" "$1" 2>/dev/null ||
        head -c "$3" /dev/zero | dd of="$1" bs=1M seek="$2" oflag=seek_bytes iflag=fullblock conv=notrunc status=none
}
same() {
    local why
    if why=$($VPY "$tmp/samefile.py" "$1" "$2" 2>&1); then return 0; fi
    echo "$why"
    return 1
}
json_get() {
    "$vhdx" info --json "$1" | $VPY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
must() {
    if "$@" >"$tmp/.out" 2>&1; then ok; else bad "$* failed: $(cat "$tmp/.out")"; fi
}

# judge TAG IMAGE MODEL LSS [SKIP-RANGES REASON [PARENT...]]: every oracle on one image.
judge() {
    local tag=$1 img=$2 model=$3 lss=$4 skip=${5:--} reason=${6:--}
    shift 6 2>/dev/null || shift $#
    local parents=("$@")
    local why
    # Ours first: vhdx-verify and the disk we read.
    if "$verify" "$img" >"$tmp/.out" 2>&1; then ok; else bad "$tag: vhdx-verify: $(cat "$tmp/.out")"; fi
    rm -f ours.raw
    if "$vhdx" convert -O raw "$img" ours.raw 2>"$tmp/.out" && why=$(same ours.raw "$model"); then
        ok
    else
        bad "$tag: vhdx convert -O raw differs from the model: $why $(cat "$tmp/.out")"
    fi
    # qemu-img
    if [ $have_qemu = 1 ]; then
        if [ "$lss" = 512 ] && [ ${#parents[@]} = 0 ]; then
            if qemu-img check -f vhdx "$img" >"$tmp/.out" 2>&1; then
                ok
                q_check=$((q_check + 1))
            else
                bad "$tag: qemu-img check: $(cat "$tmp/.out")"
            fi
            rm -f qemu.raw
            if qemu-img convert -f vhdx -O raw "$img" qemu.raw 2>"$tmp/.out" &&
                why=$(same qemu.raw ours.raw) && why=$(same qemu.raw "$model"); then
                ok
                q_read=$((q_read + 1))
            else
                bad "$tag: qemu-img convert differs: $why $(cat "$tmp/.out")"
            fi
            rm -f qemu.raw
        else
            qemu-img check -f vhdx "$img" >"$tmp/.out" 2>&1
            local qrc=$?
            if [ $qrc = 0 ]; then
                ok
                q_check=$((q_check + 1))
                echo "NOTE $tag: qemu-img now opens $([ ${#parents[@]} = 0 ] && echo "4096-byte sectors" || echo "differencing images") and finds no error"
            elif grep -q "Operation not supported" "$tmp/.out"; then
                # Not a pass: qemu-img judged nothing. Counted and said.
                q_refused=$((q_refused + 1))
                echo "NOT JUDGED $tag: qemu-img cannot open $([ ${#parents[@]} = 0 ] && echo "4096-byte sectors" || echo "differencing images") (\"Operation not supported\")"
            else
                bad "$tag: qemu-img check failed otherwise than 'not supported': $(cat "$tmp/.out")"
            fi
        fi
    else
        skipped=$((skipped + 1))
    fi
    rm -f ours.raw
    # libvhdi
    if [ $have_vhdi = 1 ]; then
        if vhdiinfo "$img" >"$tmp/.out" 2>&1; then
            ok
            v_info=$((v_info + 1))
        else
            bad "$tag: vhdiinfo: $(cat "$tmp/.out")"
        fi
    else
        skipped=$((skipped + 1))
    fi
    if [ $have_pyvhdi = 1 ]; then
        $VPY "$tmp/vhdi_compare.py" "$model" "$skip" "$reason" "$img" "${parents[@]}" >"$tmp/.out" 2>&1
        while IFS= read -r line; do
            case "$line" in
            PASS*)
                ok
                v_read=$((v_read + 1))
                ;;
            NOTE*)
                echo "$line ($tag)"
                v_notes=$((v_notes + 1))
                ;;
            *) bad "$tag: pyvhdi: $line" ;;
            esac
        done <"$tmp/.out"
    else
        skipped=$((skipped + 1))
    fi
}

head -c 5000 /dev/urandom >w5000.bin
head -c $((3 * MiB + 777)) /dev/urandom >w3m.bin
head -c 100 /dev/urandom >w100.bin

# ---- dynamic and fixed images, their differencing children
for spec in dynamic:512:0 dynamic:512:1M dynamic:512:32M fixed:512:0 fixed:512:1M \
    dynamic:4096:0 dynamic:4096:1M fixed:4096:0 fixed:4096:2M; do
    IFS=: read -r type lss bs_opt <<<"$spec"
    img="$type-$lss-$bs_opt.vhdx"
    size=$((40 * MiB + 3 * lss)) # not a multiple of any block size
    must "$vhdx" create -q -o "subformat=$type,logical_sector_size=$lss,block_size=$bs_opt" "$img" "$size"
    bs=$(json_get "$img" block_size)
    truncate -s "$size" "$img.model"
    judge "$img new" "$img" "$img.model" "$lss"
    must "$vhdx" write -q "$img" 1000 w5000.bin
    model_write "$img.model" 1000 w5000.bin
    w3m_at=$((bs - MiB - 13 > 0 ? bs - MiB - 13 : bs / 2 - 13))
    must "$vhdx" write -q "$img" "$w3m_at" w3m.bin
    model_write "$img.model" "$w3m_at" w3m.bin
    must "$vhdx" write -q "$img" $((size - 100)) w100.bin
    model_write "$img.model" $((size - 100)) w100.bin
    # The parent's data: the only ranges where a reader taking a new child's
    # NOT_PRESENT blocks for zeros reads wrongly.
    parent_data="1000:5000,$w3m_at:$((3 * MiB + 777)),$((size - 100)):100"
    judge "$img written" "$img" "$img.model" "$lss"

    # A differencing child: its own writes and a discard (ZERO blocks).
    if [ "$type" = dynamic ]; then
        child="child-$lss-$bs_opt.vhdx"
        must "$vhdx" create -q -o "subformat=differencing,parent=$img" "$child"
        cp --sparse=always "$img.model" "$child.model"
        judge "$child new" "$child" "$child.model" "$lss" "$parent_data" \
            "the parent's data under NOT_PRESENT blocks of a chunk without a sector bitmap block" "$img"
        must "$vhdx" write -q "$child" $((5 * MiB + 7)) w3m.bin
        model_write "$child.model" $((5 * MiB + 7)) w3m.bin
        must "$vhdx" write -q "$child" $((size - 5000)) w5000.bin
        model_write "$child.model" $((size - 5000)) w5000.bin
        judge "$child written" "$child" "$child.model" "$lss" - - "$img"
        cbs=$(json_get "$child" block_size)
        # The discard makes whole blocks ZERO, which libvhdi reads wrongly.
        dlen=$((2 * cbs < size ? 2 * cbs : size))
        must "$vhdx" discard -q "$child" 0 "$dlen"
        model_zero "$child.model" 0 "$dlen"
        judge "$child discarded" "$child" "$child.model" "$lss" "0:$dlen" "ZERO blocks of a differencing image" "$img"
        # Commit the child: the parent then shows the child's disk.
        cp --sparse=always "$child.model" "$img.model"
        must "$vhdx" commit -q "$child"
        judge "$img after commit" "$img" "$img.model" "$lss"
        rm -f "$child" "$child.model"
    fi

    # Discard: whole blocks UNMAPPED (dynamic) or zeroed (fixed).
    doff=$((bs / 2))
    dend=$((doff + 2 * bs < size ? doff + 2 * bs : size))
    must "$vhdx" discard -q "$img" "$doff" $((dend - doff))
    if [ "$type" = fixed ]; then
        model_zero "$img.model" "$doff" $((dend - doff))
    else
        # The whole blocks inside (the disk's last block is whole at its end).
        b=$(((doff + bs - 1) / bs))
        while [ $((b * bs)) -lt "$size" ]; do
            bend=$((b * bs + bs < size ? b * bs + bs : size))
            [ "$bend" -le "$dend" ] || break
            model_zero "$img.model" $((b * bs)) $((bend - b * bs))
            b=$((b + 1))
        done
    fi
    judge "$img discarded" "$img" "$img.model" "$lss"
    # Grow, write at the new end; shrink with --force.
    must "$vhdx" resize -q "$img" +$((7 * MiB + lss))
    size=$((size + 7 * MiB + lss))
    truncate -s "$size" "$img.model"
    must "$vhdx" write -q "$img" $((size - 5000)) w5000.bin
    model_write "$img.model" $((size - 5000)) w5000.bin
    judge "$img grown" "$img" "$img.model" "$lss"
    must "$vhdx" resize -q --force "$img" $((size - 13 * MiB - 4096))
    size=$((size - 13 * MiB - 4096))
    truncate -s "$size" "$img.model"
    judge "$img shrunk" "$img" "$img.model" "$lss"

    # convert -O vhdx: from the raw disk, and from the image (compaction).
    "$vhdx" convert -O raw "$img" "$img.raw"
    must "$vhdx" convert -O vhdx -o "subformat=$type,logical_sector_size=$lss" "$img.raw" "conv-$img"
    judge "conv-$img (from raw)" "conv-$img" "$img.model" "$lss"
    must "$vhdx" convert -O vhdx "$img" "compact-$img"
    judge "compact-$img" "compact-$img" "$img.model" "$lss"
    rm -f "$img" "$img.model" "$img.raw" "conv-$img" "compact-$img"
done

# ---- a flattened differencing chain
for lss in 512 4096; do
    must "$vhdx" create -q -o "logical_sector_size=$lss,block_size=1M" base.vhdx 24M
    must "$vhdx" write -q base.vhdx 0 w3m.bin
    must "$vhdx" create -q -o subformat=differencing,parent=base.vhdx top.vhdx
    must "$vhdx" write -q top.vhdx $((2 * MiB + 100)) w3m.bin
    "$vhdx" convert -O raw top.vhdx top.raw
    must "$vhdx" convert -O vhdx top.vhdx flat.vhdx
    judge "flat-$lss" flat.vhdx top.raw "$lss"
    rm -f base.vhdx top.vhdx top.raw flat.vhdx
done

finish
