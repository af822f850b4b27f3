#!/bin/bash
# Proves the test image builder (tests/image_builder.c) right with readers we
# did not write:
#   - qemu-img 7.2 (512-byte logical sectors, no parent): `qemu-img check`
#     must find no errors, and the virtual disk it reads (`qemu-img convert
#     -O raw`, or a raw-offset window for disks over 4 GiB) must equal the
#     builder's model, NAME.raw (cmp);
#   - libvhdi (pyvhdi, Debian's /usr/bin/python3) on every image, including
#     4096-byte sectors and differencing chains (parents attached with
#     set_parent): media size, sector size, disk type, parent identifier
#     (parent_linkage = the parent's DataWriteGuid) and every byte compared
#     with NAME.raw, except where libvhdi is known to deviate from the format
#     (printed as NOTE lines, with whether it still does);
#   - vhdiinfo must exit 0 on a differencing child and a 4 KiB-sector image.
#
# Usage: oracle_check.sh [IB_MAKE [VHDX]]   (IB_MAKE: a built tests/ib_make; without
# it the script compiles one with ${CC:-cc}; VHDX: the vhdx tool, whose
# reads of every image are then compared with the same confirmed models, so
# our reader is checked against libvhdi on 4096-byte sectors and
# differencing chains too). The last line is
# "oracle_check: N passed, M failed"; the exit status is non-zero on any
# failure or missing tool.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/oracle_check.XXXXXX")
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() {
    echo "oracle_check: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

for tool in qemu-img vhdiinfo cmp; do
    command -v "$tool" >/dev/null || { bad "missing tool $tool"; finish; }
done
$PY -c 'import pyvhdi' 2>/dev/null ||
    { bad "pyvhdi missing (apt-get install python3-libvhdi)"; finish; }

ib_make=${1:-}
if [ -z "$ib_make" ]; then
    ib_make="$work/ib_make"
    (cd "$root" && ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -Iinclude -Isrc -Itests \
        tests/ib_make.c tests/image_builder.c src/base/*.c src/format/*.c -luuid \
        -o "$ib_make") || { bad "cannot compile ib_make"; finish; }
fi
out="$work/img"
mkdir -p "$out"
"$ib_make" "$out" || { bad "ib_make failed"; finish; }
[ -s "$out/manifest" ] || { bad "ib_make wrote no manifest"; finish; }

# ---- qemu-img ----
# $1 image, $2 raw, $3 ranges ("all" or OFF:LEN,...)
qemu_read() {
    local img=$1 raw=$2 ranges=$3 r off len
    if [ "$ranges" = all ]; then
        qemu-img convert -f vhdx -O raw "$img" "$work/q.raw" || return 1
        cmp "$raw" "$work/q.raw" || return 1
        rm -f "$work/q.raw"
        return 0
    fi
    # qemu-img 7.2's `dd skip=` refuses offsets; a raw window over the vhdx works.
    for r in ${ranges//,/ }; do
        off=${r%%:*}
        len=${r##*:}
        opts="driver=raw,offset=$off,size=$len,file.driver=vhdx"
        opts="$opts,file.file.driver=file,file.file.filename=$img"
        qemu-img convert --image-opts -O raw "$opts" "$work/q.raw" || return 1
        cmp -n "$len" -i "$off:0" "$raw" "$work/q.raw" || return 1
        rm -f "$work/q.raw"
    done
    return 0
}

qemu_size() {
    local img=$1 raw=$2 got want
    got=$(qemu-img info -f vhdx --output=json "$img" |
        $PY -c 'import json, sys; print(json.load(sys.stdin)["virtual-size"])') || return 1
    want=$(stat -c %s "$raw")
    [ "$got" = "$want" ] || { echo "qemu virtual size $got, expected $want"; return 1; }
}

while read -r name type lss qemu parent ranges vranges; do
    [ "$qemu" = 1 ] || continue
    img="$out/$name.vhdx"
    if msg=$(qemu-img check -f vhdx "$img" 2>&1) && grep -q "No errors were found" <<<"$msg"; then
        ok
    else
        bad "qemu-img check $name: $msg"
    fi
    if qemu_size "$img" "$out/$name.raw" && qemu_read "$img" "$out/$name.raw" "$ranges"; then
        ok
    else
        bad "qemu-img read of $name differs from the builder's model"
    fi
done <"$out/manifest"

# ---- libvhdi ----
vhdi_out=$("$PY" - "$out" <<'EOF'
import os, sys
import pyvhdi

out = sys.argv[1]
rows = {}
for line in open(os.path.join(out, "manifest")):
    name, typ, lss, qemu, parent, ranges, vranges = line.split()
    rows[name] = dict(type=typ, lss=int(lss), parent=parent, ranges=ranges,
                      vranges=ranges if vranges == "=" else vranges)

opened = []

def open_chain(name):
    f = pyvhdi.file()
    f.open(os.path.join(out, name + ".vhdx"))
    opened.append(f)
    if rows[name]["parent"] != "-":
        f.set_parent(open_chain(rows[name]["parent"]))
    return f

TYPES = {"fixed": 2, "dynamic": 3, "differencing": 4}
STEP = 16 << 20

for name, row in rows.items():
    problems = []
    try:
        f = open_chain(name)
        raw_path = os.path.join(out, name + ".raw")
        size = os.path.getsize(raw_path)
        if f.media_size != size:
            problems.append("media size %d, expected %d" % (f.media_size, size))
        if f.bytes_per_sector != row["lss"]:
            problems.append("bytes per sector %d, expected %d" % (f.bytes_per_sector, row["lss"]))
        if f.disk_type != TYPES[row["type"]]:
            problems.append("disk type %d, expected %d" % (f.disk_type, TYPES[row["type"]]))
        if row["parent"] != "-":
            # libvhdi's identifier is the DataWriteGuid; the child's parent_linkage must match it.
            want = open_chain(row["parent"]).identifier
            if f.parent_identifier != want:
                problems.append("parent identifier %s, expected %s" % (f.parent_identifier, want))
        def spans_of(ranges):
            if ranges == "all":
                return [(o, min(STEP, size - o)) for o in range(0, size, STEP)]
            spans = []
            for r in ranges.split(","):
                o, n = (int(x) for x in r.split(":"))
                spans += [(p, min(STEP, o + n - p)) for p in range(o, o + n, STEP)]
            return spans

        def first_difference(ranges):
            with open(raw_path, "rb") as raw:
                for o, n in spans_of(ranges):
                    got = f.read_buffer_at_offset(n, o)
                    raw.seek(o)
                    want = raw.read(n)
                    if got != want:
                        return o + next((i for i in range(min(len(got), len(want)))
                                         if got[i] != want[i]), min(len(got), len(want)))
            return None

        at = first_difference(row["vranges"])
        if at is not None:
            problems.append("bytes differ at virtual offset %d" % at)
        if row["vranges"] != row["ranges"]:
            at = first_difference(row["ranges"])
            print("NOTE %s: libvhdi compared on %s only; on the rest it %s" %
                  (name, row["vranges"], "still deviates (first at virtual offset %d)" % at
                   if at is not None else "now agrees"))
    except Exception as e:  # an exception from libvhdi is a failed check
        problems.append("libvhdi: %s" % e)
    for f in opened:
        try:
            f.close()
        except Exception:
            pass
    opened.clear()
    print(("PASS " if not problems else "FAIL ") + name + ": " + "; ".join(problems))
EOF
) || bad "pyvhdi comparison script crashed"
while IFS= read -r line; do
    case "$line" in
    PASS*) ok ;;
    FAIL*) bad "libvhdi ${line#FAIL }" ;;
    NOTE*) echo "$line" ;;
    esac
done <<<"$vhdi_out"

# ---- our reader, against the same models the oracles confirmed ----
vhdx=${2:-}
if [ -n "$vhdx" ]; then
    while read -r name type lss qemu parent ranges vranges; do
        img="$out/$name.vhdx"
        if [ "$ranges" = all ]; then
            if "$vhdx" convert -O raw "$img" "$work/v.raw" && cmp -s "$out/$name.raw" "$work/v.raw"; then
                ok
            else
                bad "vhdx convert of $name differs from the model qemu-img/libvhdi confirmed"
            fi
            rm -f "$work/v.raw"
        else
            for r in ${ranges//,/ }; do
                off=${r%%:*}
                len=${r##*:}
                if cmp -s <("$vhdx" read "$img" "$off" "$len") \
                        <(dd if="$out/$name.raw" iflag=skip_bytes,count_bytes bs=1M skip="$off" count="$len" status=none); then
                    ok
                else
                    bad "vhdx read $name $off $len differs from the model"
                fi
            done
        fi
    done <"$out/manifest"
fi

# ---- vhdiinfo ----
for name in diff512_child fixed4k_bs1_16m_qemu; do
    if vhdiinfo "$out/$name.vhdx" >"$work/info.txt" 2>&1; then
        ok
    else
        bad "vhdiinfo $name: $(cat "$work/info.txt")"
    fi
done

finish
