"""vhdx.pyvhdi side by side with Debian's pyvhdi (python3-libvhdi), and
against the image builder's models where libvhdi deviates from the format."""
import io
import os
import subprocess

import pytest

import pyvhdi as debian  # Debian's python3-libvhdi: the reference
from vhdx import pyvhdi
from conftest import dirty_manifest, ib_manifest, sample_images, sampled, tool

IB = ib_manifest()
BY_NAME = {r["name"]: r for r in IB}
SAMPLES = sample_images()
METADATA = ["media_size", "bytes_per_sector", "disk_type", "identifier", "parent_identifier",
            "format_version"]


def open_chain(module, row, use_file_objects, keep):
    """file(), open / open_file_object, then set_parent up the chain, parent first."""
    def one(r):
        f = module.file()
        keep.append(f)  # libvhdi's file does not keep its parent alive
        if use_file_objects:
            fo = open(r["path"], "rb")
            keep.append(fo)
            f.open_file_object(fo)
        else:
            f.open(r["path"])
        if r["parent"] is not None:
            f.set_parent(one(BY_NAME[r["parent"]]))
        return f
    return one(row)


def test_module_surface_matches_debian():
    for name in ["get_version", "check_file_signature", "check_file_signature_file_object",
                 "open", "open_file_object", "file", "disk_types"]:
        assert hasattr(debian, name) and hasattr(pyvhdi, name), name
    for name in ["open", "open_file_object", "close", "read_buffer", "read_buffer_at_offset",
                 "seek_offset", "get_offset", "read", "seek", "tell", "set_parent",
                 "get_media_size", "get_bytes_per_sector", "get_disk_type", "get_identifier",
                 "get_parent_identifier", "get_parent_filename", "get_format_version",
                 "media_size", "bytes_per_sector", "disk_type", "identifier",
                 "parent_identifier", "parent_filename", "format_version"]:
        assert hasattr(debian.file, name) and hasattr(pyvhdi.file, name), name
    for t in ["FIXED", "DYNAMIC", "DIFFERENTIAL"]:
        assert getattr(pyvhdi.disk_types, t) == getattr(debian.disk_types, t)
    assert pyvhdi.get_version() == debian.get_version()


@pytest.mark.parametrize("use_file_objects", [False, True], ids=["path", "file_object"])
@pytest.mark.parametrize("row", IB, ids=[r["name"] for r in IB])
def test_side_by_side_with_debian_pyvhdi(row, use_file_objects):
    keep = []
    try:
        ours = open_chain(pyvhdi, row, use_file_objects, keep)
        ref = open_chain(debian, row, use_file_objects, keep)
        for name in METADATA:
            assert getattr(ours, name) == getattr(ref, name), name
            assert type(getattr(ours, name)) is type(getattr(ref, name)), name
        ranges = row["vhdi_ranges"] or row["ranges"]
        if use_file_objects:
            ranges = sampled(ranges, ref.media_size)
        for off, n in ranges or [(0, ref.media_size)]:
            assert ours.read_buffer_at_offset(n, off) == ref.read_buffer_at_offset(n, off)
            assert ours.get_offset() == ref.get_offset() == off + n
        # And both are the model there; where libvhdi deviates, we still are.
        model = open(row["raw"], "rb")
        keep.append(model)
        model_ranges = row["ranges"]
        if use_file_objects:
            model_ranges = sampled(model_ranges, ref.media_size)
        for off, n in model_ranges or [(0, ref.media_size)]:
            model.seek(off)
            assert ours.read_buffer_at_offset(n, off) == model.read(n), (off, n)
    finally:
        for f in keep:
            if not isinstance(f, (pyvhdi.file, debian.file)):
                f.close()


def test_libvhdi_deviations_are_read_right():
    """ZERO blocks in a differencing child and a fixed disk past 4 GiB: libvhdi's reads
    differ from the model, ours equal it."""
    for name in ["diff512_zero_child", "big_fixed_chunk_plus1"]:
        row = BY_NAME[name]
        keep = []
        ours = open_chain(pyvhdi, row, False, keep)
        ref = open_chain(debian, row, False, keep)
        ranges = [r for r in row["ranges"] or [(0, ours.media_size)]
                  if r not in (row["vhdi_ranges"] or [])]
        assert ranges, name
        deviations = 0
        for off, n in ranges:
            with open(row["raw"], "rb") as m:
                m.seek(off)
                want = m.read(n)
            assert ours.read_buffer_at_offset(n, off) == want, (name, off)
            deviations += ref.read_buffer_at_offset(n, off) != want
        assert deviations > 0, "libvhdi reads %s right now: move it to the side-by-side test" % name


def test_dfvfs_style_program_runs_unchanged(tmp):
    """What dfvfs does: file(), open_file_object, parent_filename to find the parent
    beside the child, set_parent up the chain, then read."""
    vhdx_tool = os.environ["VHDX_TOOL"]
    subprocess.run([vhdx_tool, "create", "-o", "subformat=dynamic,block_size=1M",
                    str(tmp / "base.vhdx"), "16M"], check=True, stdout=subprocess.DEVNULL)
    (tmp / "a.bin").write_bytes(b"A" * 65536)
    tool("write", tmp / "base.vhdx", 0, tmp / "a.bin")
    subprocess.run([vhdx_tool, "create", "-o", "subformat=differencing,parent=base.vhdx",
                    str(tmp / "mid.vhdx")], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    (tmp / "b.bin").write_bytes(b"B" * 512)
    tool("write", tmp / "mid.vhdx", 4096, tmp / "b.bin")
    subprocess.run([vhdx_tool, "create", "-o", "subformat=differencing,parent=mid.vhdx",
                    str(tmp / "top.vhdx")], check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    tool("write", tmp / "top.vhdx", 8192, tmp / "b.bin")

    def program(module, path, files):
        fo = open(path, "rb")
        files.append(fo)
        f = module.file()
        f.open_file_object(fo)
        files.append(f)
        if f.parent_identifier:
            name = f.parent_filename.split("\\")[-1]
            parent = program(module, os.path.join(os.path.dirname(path), name), files)
            f.set_parent(parent)
        return f

    files = []  # libvhdi's file does not keep its parent alive: dfvfs keeps them too
    top = program(pyvhdi, str(tmp / "top.vhdx"), files)
    assert top.disk_type == pyvhdi.disk_types.DIFFERENTIAL
    assert top.parent_filename == "mid.vhdx"
    data = top.read_buffer_at_offset(65536, 0)
    assert data == b"A" * 4096 + b"B" * 512 + b"A" * 3584 + b"B" * 512 + b"A" * (65536 - 8704)
    assert top.read_buffer_at_offset(16, 65536) == bytes(16)
    for f in files:
        if not isinstance(f, pyvhdi.file):
            f.close()


def test_dirty_image_reads_replayed():
    d = [x for x in dirty_manifest() if x["name"] == "multi-entry"][0]
    f = pyvhdi.open(d["path"])
    with open(os.devnull, "wb"):
        want = tool("read", d["path"], 0, f.media_size)
    assert f.read_buffer(f.media_size) == want


def test_qemu_made_image_side_by_side(tmp):
    path = str(tmp / "q.vhdx")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", "-o",
                    "subformat=dynamic,block_size=1M", path, "24M"], check=True)
    subprocess.run(["qemu-io", "-c", "write -P 0xa5 0 3M", "-c", "write -P 0x5a 5M 1536k",
                    "-c", "write -z 1M 512k", path], check=True, stdout=subprocess.DEVNULL)
    ours, ref = pyvhdi.open(path), debian.open(path)
    for name in METADATA:
        assert getattr(ours, name) == getattr(ref, name), name
    assert ours.read_buffer(ours.media_size) == ref.read_buffer(ref.media_size)
    ours.seek_offset(-100, 2)
    ref.seek_offset(-100, 2)
    assert ours.read_buffer(1000) == ref.read_buffer(1000)
    assert ours.tell() == ref.tell() == 24 << 20


def test_signature_checks():
    path = SAMPLES[0]
    assert pyvhdi.check_file_signature(path) is True
    assert pyvhdi.check_file_signature(__file__) is False
    assert pyvhdi.check_file_signature_file_object(io.BytesIO(b"vhdxfile" + bytes(100))) is True
    assert pyvhdi.check_file_signature_file_object(io.BytesIO(b"xx")) is False
    with open(path, "rb") as f:
        assert pyvhdi.check_file_signature_file_object(f) == debian.check_file_signature_file_object(f)


def test_exceptions_match_debian():
    path = SAMPLES[0]
    for module in (pyvhdi, debian):
        f = module.file()
        with pytest.raises(IOError):
            f.read_buffer(10)
        with pytest.raises(IOError):
            f.get_offset()
        with pytest.raises(IOError):
            f.close()
        with pytest.raises(ValueError):
            f.open(path, "w")
        with pytest.raises(IOError):
            f.open("/nonexistent.vhdx")
        f.open(path)
        with pytest.raises(ValueError):
            f.read_buffer(-1)
        with pytest.raises(ValueError):
            f.read_buffer_at_offset(5, -1)
        with pytest.raises(IOError):
            f.seek_offset(-1, 0)
        with pytest.raises(IOError):
            f.seek_offset(0, 3)
        with pytest.raises(IOError):
            f.set_parent(f)  # not its parent: identifiers differ
        f.seek_offset(f.media_size + 100, 0)
        assert f.tell() == f.media_size + 100
        assert f.read_buffer(10) == b""
        f.close()


def test_set_parent_twice_and_corrupt_image():
    row = BY_NAME["diff512_child"]
    for module in (pyvhdi, debian):
        c, p = module.open(row["path"]), module.open(BY_NAME["diff512_base"]["path"])
        c.set_parent(p)
        with pytest.raises(IOError):
            c.set_parent(p)
    with pytest.raises(IOError) as e:
        pyvhdi.open_file_object(io.BytesIO(b"vhdxfile" + bytes(2 << 20)))
    assert e.value.rule == "image.header.none_valid"
    assert "header.signature" in [f.rule for f in e.value.findings]


class DfvfsStyleFileIO(object):
    """The shape of dfvfs's file_io.FileIO: read, seek returning None, get_offset,
    get_size, and no tell."""

    def __init__(self, path):
        self._f = open(path, "rb")

    def read(self, size=None):
        return self._f.read(size)

    def seek(self, offset, whence=0):
        self._f.seek(offset, whence)

    def get_offset(self):
        return self._f.tell()

    def get_size(self):
        return os.fstat(self._f.fileno()).st_size

    def close(self):
        self._f.close()


def test_dfvfs_file_io_objects_open_with_both_modules():
    row = BY_NAME["diff512_child"]
    parent_row = BY_NAME["diff512_base"]
    with open(row["raw"], "rb") as m:
        model = m.read()
    for module in (pyvhdi, debian):
        fio, pio = DfvfsStyleFileIO(row["path"]), DfvfsStyleFileIO(parent_row["path"])
        child, parent = module.file(), module.file()
        child.open_file_object(fio)
        parent.open_file_object(pio)
        child.set_parent(parent)
        assert child.read_buffer_at_offset(len(model), 0) == model, module.__name__
        fio.close()
        pio.close()
