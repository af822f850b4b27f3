"""Shared fixtures. tools/python_test.sh sets the environment:
VHDX_TEST_IB (tests/ib_make output: NAME.vhdx, NAME.raw, manifest),
VHDX_TEST_DIRTY (tests/make_dirty output: dirty-NAME.vhdx, manifest.tsv),
VHDX_TEST_SAMPLES (the decompressed images of corpus/images),
VHDX_TOOL (the vhdx command-line tool)."""
import hashlib
import os
import subprocess

import pytest

# Under tools/python_test.sh --asan this process runs with libasan preloaded; the
# tools the tests start (qemu-img, qemu-io, vhdx) must not inherit it.
os.environ.pop("LD_PRELOAD", None)


def _env_dir(name):
    d = os.environ.get(name)
    if not d or not os.path.isdir(d):
        pytest.fail("%s is not set to a directory: run tools/python_test.sh" % name)
    return d


def ib_manifest():
    d = os.environ.get("VHDX_TEST_IB")
    if not d:
        return []
    rows = []
    with open(os.path.join(d, "manifest")) as f:
        for line in f:
            name, typ, lss, qemu, parent, ranges, vhdi = line.split()
            rows.append(dict(name=name, type=typ, lss=int(lss), qemu=qemu == "1",
                             parent=None if parent == "-" else parent,
                             ranges=_ranges(ranges), vhdi_ranges=None if vhdi == "=" else
                             _ranges(vhdi), path=os.path.join(d, name + ".vhdx"),
                             raw=os.path.join(d, name + ".raw")))
    return rows


def _ranges(text):
    if text == "all":
        return None
    return [tuple(int(x) for x in r.split(":")) for r in text.split(",")]


def dirty_manifest():
    d = os.environ.get("VHDX_TEST_DIRTY")
    if not d:
        return []
    rows = []
    with open(os.path.join(d, "manifest.tsv")) as f:
        for line in f:
            name, rule, warning, entries, head, qemu_exit, _ = line.rstrip("\n").split("\t")
            rows.append(dict(name=name, rule=None if rule == "-" else rule,
                             warning=None if warning == "-" else warning,
                             entries=int(entries), head=int(head), qemu_exit=int(qemu_exit),
                             path=os.path.join(d, "dirty-%s.vhdx" % name)))
    return rows


def sample_images():
    d = os.environ.get("VHDX_TEST_SAMPLES")
    if not d:
        return []
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".vhdx"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tool(*args, **kw):
    return subprocess.run([os.environ["VHDX_TOOL"]] + [str(a) for a in args], check=True,
                          stdout=subprocess.PIPE, **kw).stdout


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


def sampled(ranges, size, limit=64 << 20):
    """The ranges to compare through the slower file-object path: all of a small
    disk; of a larger one, 4 MiB at its start, middle and end and 1 MiB at a third."""
    if ranges is not None or size <= limit:
        return ranges or [(0, size)]
    mid = (size // 2) & ~0xFFFFF
    third = (size // 3) & ~0xFFFFF
    return [(0, 4 << 20), (third, 1 << 20), (mid, 4 << 20), (size - (4 << 20), 4 << 20)]
