#!/usr/bin/env bash
# Reading a populated 1 GiB VHDX in 1 MiB reads from Python: vhdx.pyvhdi
# (this package) against Debian's pyvhdi (python3-libvhdi), and vhdx.Image's
# readinto for comparison. Builds the package in a venv the README way.
#   bench/run_pyvhdi_bench.sh [RUNS]    (default 7, alternating; prints best and median)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-7}
work=$(mktemp -d "${TMPDIR:-/tmp}/pyvhdi_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$root"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
cp -r python "$work/src"
rm -rf "$work/src/build"
VHDX_SOURCE_DIR="$root" "$work/venv/bin/pip" install -q --no-build-isolation --no-index \
    "$work/src" >/dev/null
head -c $((1024 * 1024 * 1024)) /dev/urandom >"$work/disk.raw"
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$work/disk.raw" "$work/disk.vhdx"
rm -f "$work/disk.raw"
echo "image: $(stat -c %s "$work/disk.vhdx") bytes; $(qemu-img --version | head -n 1); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$work"
"$work/venv/bin/python" - "$work/disk.vhdx" "$runs" <<'PY'
import sys, time
import pyvhdi as debian
import vhdx
from vhdx import pyvhdi

path, runs = sys.argv[1], int(sys.argv[2])
MiB = 1 << 20
open(path, "rb").read()  # page cache

def pyvhdi_read(module):
    f = module.file()
    f.open(path)
    n = f.get_media_size()
    t = time.perf_counter()
    for off in range(0, n, MiB):
        f.seek_offset(off, 0)
        if len(f.read_buffer(MiB)) != MiB:
            raise SystemExit("short read")
    t = time.perf_counter() - t
    f.close()
    return n, t

def image_readinto():
    buf = bytearray(MiB)
    with vhdx.open(path) as img:
        t = time.perf_counter()
        while img.readinto(buf):
            pass
        return img.size, time.perf_counter() - t

cases = [("Debian pyvhdi 20210425", lambda: pyvhdi_read(debian)),
         ("vhdx.pyvhdi", lambda: pyvhdi_read(pyvhdi)),
         ("vhdx.Image.readinto", image_readinto)]
times = {}
for r in range(runs):
    for name, fn in cases:
        n, t = fn()
        print("run %d %-24s %.3f s  %.2f GB/s" % (r + 1, name, t, n / t / 1e9))
        times.setdefault(name, []).append(t)
for name, _ in cases:
    ts = sorted(times[name])
    med = ts[len(ts) // 2]
    print("%-24s best %.3f s %.2f GB/s   median %.3f s %.2f GB/s" % (
        name, ts[0], (1 << 30) / ts[0] / 1e9, med, (1 << 30) / med / 1e9))
PY
