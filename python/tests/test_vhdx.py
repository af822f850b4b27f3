"""The vhdx package against the image builder's models, the sample images,
the dirty-log shapes, qemu-img and the command-line tool."""
import gc
import io
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

import vhdx
from conftest import dirty_manifest, ib_manifest, sample_images, sampled, sha256, tool

IB = ib_manifest()
DIRTY = dirty_manifest()
SAMPLES = sample_images()
BY_NAME = {r["name"]: r for r in IB}


def chain_paths(row):
    """The parents of an ib image, parent first."""
    out = []
    while row["parent"] is not None:
        row = BY_NAME[row["parent"]]
        out.append(row["path"])
    return out


def model_ranges(row):
    size = os.path.getsize(row["raw"])
    return row["ranges"] or [(0, size)]


def read_model(row, off, n):
    with open(row["raw"], "rb") as f:
        f.seek(off)
        return f.read(n)


def test_manifests_present():
    assert len(IB) >= 25 and len(DIRTY) >= 20 and len(SAMPLES) >= 2


@pytest.mark.parametrize("row", IB, ids=[r["name"] for r in IB])
def test_ib_image_by_path_reads_the_model(row):
    with vhdx.open(row["path"]) as img:
        info = img.info
        assert info.type == row["type"]
        assert info.logical_sector_size == row["lss"]
        assert img.size == os.path.getsize(row["raw"])
        assert info.chain_depth == len(chain_paths(row))
        for off, n in model_ranges(row):
            img.seek(off)
            assert img.read(n) == read_model(row, off, n), (off, n)


@pytest.mark.parametrize("row", IB, ids=[r["name"] for r in IB])
def test_ib_image_by_file_object_reads_the_model(row):
    files = [open(p, "rb") for p in [row["path"]] + chain_paths(row)]
    try:
        with vhdx.open(files[0], parents=files[1:]) as img:
            for off, n in sampled(row["ranges"], img.size):
                buf = bytearray(n)
                assert img.readinto_at(off, buf) == n
                assert bytes(buf) == read_model(row, off, n), (off, n)
    finally:
        for f in files:
            f.close()


def test_differencing_from_file_object_without_parents_fails_reads_with_e_missing():
    row = BY_NAME["diff512_child"]
    with open(row["path"], "rb") as f, vhdx.open(f) as img:
        assert img.info.type == "differencing"
        assert img.info.parent_path is None
        with pytest.raises(vhdx.Error) as e:
            img.read_at(512, 512)  # the child's map says: from the parent
        assert e.value.status_name == "E_MISSING"


@pytest.mark.parametrize("path", SAMPLES, ids=[os.path.basename(p) for p in SAMPLES])
def test_sample_image_equals_vhdx_convert(path, tmp):
    raw = tmp / "out.raw"
    tool("convert", "-O", "raw", path, raw)
    with vhdx.open(path) as img, open(raw, "rb") as ref:
        assert img.size == os.path.getsize(raw)
        while True:
            want = ref.read(8 << 20)
            got = img.read(8 << 20)
            assert got == want, img.tell()
            if not want:
                break
    report = vhdx.verify(path)
    assert report.ok and report.errors == 0 and report.first_error == "OK"


@pytest.mark.parametrize("path", SAMPLES, ids=[os.path.basename(p) for p in SAMPLES])
def test_sample_image_info_and_map_equal_the_tool(path):
    with vhdx.open(path) as img:
        got = [(e.offset, e.length, e.kind, e.file_offset) for e in img.map()]
        info = img.info
    want = [(e["offset"], e["length"], e["kind"], e["file_offset"])
            for e in json.loads(tool("map", "--json", path))]
    assert got == want
    text = tool("info", path).decode()
    assert "data write GUID:      %s" % info.data_write_guid in text
    assert "virtual disk ID:      %s" % info.virtual_disk_id in text
    assert "block size:           %d " % info.block_size in text


REPLAYABLE = [d for d in DIRTY if d["rule"] is None]
REFUSED = [d for d in DIRTY if d["rule"] is not None]


@pytest.mark.parametrize("d", REPLAYABLE, ids=[d["name"] for d in REPLAYABLE])
def test_dirty_image_is_replayed_in_memory_and_left_unchanged(d, tmp):
    before = sha256(d["path"])
    with vhdx.open(d["path"]) as img:
        info = img.info
        assert info.log_dirty is True
        assert info.log_replay == "replayed_in_memory"
        assert info.log_entries_replayed == d["entries"]
        assert info.log_head_sequence == d["head"]
        data = img.read()
    assert sha256(d["path"]) == before
    if d["qemu_exit"] == 0:
        # qemu-img replays the same log into a copy: the disks must agree.
        copy = tmp / "copy.vhdx"
        shutil.copyfile(d["path"], copy)
        subprocess.run(["qemu-img", "check", "-q", "-r", "all", str(copy)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(copy), str(tmp / "q.raw")],
                       check=True)
        assert data == (tmp / "q.raw").read_bytes()
    else:
        tool("convert", "-O", "raw", d["path"], tmp / "v.raw")
        assert data == (tmp / "v.raw").read_bytes()


@pytest.mark.parametrize("d", REFUSED, ids=[d["name"] for d in REFUSED])
def test_refused_dirty_image_raises_its_rule(d):
    before = sha256(d["path"])
    with pytest.raises(vhdx.CorruptImageError) as e:
        vhdx.open(d["path"])
    assert e.value.rule == d["rule"]
    if d["warning"] is not None:
        assert d["warning"] in [f.rule for f in e.value.findings]
    assert sha256(d["path"]) == before
    report = vhdx.verify(d["path"])
    assert report.ok is False
    assert d["rule"] in [f.rule for f in report.findings if f.severity == "error"]


def test_not_a_vhdx_maps_to_e_signature_with_rule_and_offset():
    with pytest.raises(vhdx.CorruptImageError) as e:
        vhdx.open(io.BytesIO(b"\x01" * (2 << 20)))
    err = e.value
    assert (err.status, err.status_name, err.rule, err.offset) == (
        2, "E_SIGNATURE", "file_identifier.signature", 0)
    assert isinstance(err, OSError)
    assert str(err).startswith("E_SIGNATURE [file_identifier.signature] at 0x0: ")


def test_missing_file_is_not_found_error():
    with pytest.raises(FileNotFoundError) as e:
        vhdx.open("/nonexistent/disk.vhdx")
    assert isinstance(e.value, vhdx.NotFoundError)
    assert e.value.status_name == "E_MISSING"


def test_file_object_exception_is_chained_to_an_io_error():
    class Exploding(io.BytesIO):
        def read(self, n=-1):
            raise RuntimeError("the archive member is damaged")

    with pytest.raises(vhdx.BackendIOError) as e:
        vhdx.open(Exploding(b"\0" * (2 << 20)))
    assert e.value.status_name == "E_IO"
    assert e.value.errno == 5
    assert isinstance(e.value.__cause__, RuntimeError)
    assert str(e.value.__cause__) == "the archive member is damaged"


def test_file_object_exception_during_a_read_is_chained():
    data = open(BY_NAME["dyn_bs1_8m_ovmm"]["path"], "rb").read()

    class Fuse(io.BytesIO):
        armed = False

        def read(self, n=-1):
            if self.armed:
                raise ValueError("gone")
            return super().read(n)

    f = Fuse(data)
    img = vhdx.open(f)
    f.armed = True
    with pytest.raises(vhdx.BackendIOError) as e:
        img.read_at(0, 1 << 20)
    assert isinstance(e.value.__cause__, ValueError)
    with pytest.raises(vhdx.BadStateError):  # the handle fails fast after a back end failure
        img.read_at(0, 512)
    img.close()


def test_max_memory_too_small_is_limit_error():
    with pytest.raises(vhdx.LimitError) as e:
        vhdx.open(SAMPLES[0], max_memory=4096)
    assert e.value.status_name == "E_LIMIT"


def test_read_only_image_refuses_writes_and_closed_image_refuses_reads():
    img = vhdx.open(SAMPLES[0])
    assert img.readable() and img.seekable() and not img.writable()
    with pytest.raises(io.UnsupportedOperation):
        img.write(b"x")
    img.close()
    assert img.closed
    with pytest.raises(ValueError):
        img.read(1)


def test_stream_semantics():
    row = BY_NAME["dyn_bs1_8m_ovmm"]
    model = open(row["raw"], "rb").read()
    with vhdx.open(row["path"]) as img:
        assert isinstance(img, io.RawIOBase)
        assert img.seek(-100, io.SEEK_END) == len(model) - 100
        assert img.read(1000) == model[-100:]
        assert img.read(10) == b""
        assert img.seek(10) == 10 and img.tell() == 10
        assert img.seek(5, io.SEEK_CUR) == 15
        assert img.read(7) == model[15:22]
        with pytest.raises(ValueError):
            img.seek(-1)
        buffered = io.BufferedReader(img, 4096)
        buffered.seek(3)
        assert buffered.read(5000) == model[3:5003]


def test_writer_round_trip_checked_by_qemu(tmp):
    path = str(tmp / "w.vhdx")
    vhdx.create(path, 64 << 20, block_size=1 << 20)
    pattern = bytes(range(256)) * 4096  # 1 MiB
    with vhdx.open(path, "r+") as img:
        assert img.writable()
        img.seek(3 << 20)
        assert img.write(pattern) == len(pattern)
        img.write_zeroes((3 << 20) + 4096, 4096)
        img.seek(10 << 20)
        img.write(pattern * 3)
        assert img.discard(11 << 20, 1 << 20) == 1 << 20
        img.flush()
        img.resize(128 << 20)
        assert img.size == 128 << 20
    report = vhdx.verify(path)
    assert report.ok, report.findings
    subprocess.run(["qemu-img", "check", "-q", path], check=True)
    expect = bytearray(128 << 20)
    expect[3 << 20:4 << 20] = pattern
    expect[(3 << 20) + 4096:(3 << 20) + 8192] = bytes(4096)
    expect[10 << 20:13 << 20] = pattern * 3
    expect[11 << 20:12 << 20] = bytes(1 << 20)
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, str(tmp / "q.raw")], check=True)
    assert (tmp / "q.raw").read_bytes() == bytes(expect)
    with vhdx.open(path) as img:
        assert img.read() == bytes(expect)
        assert img.info.log_dirty is False


def test_write_past_the_end_is_invalid_argument(tmp):
    path = str(tmp / "w.vhdx")
    vhdx.create(path, 8 << 20, type="fixed")
    with vhdx.open(path, "r+") as img:
        img.seek((8 << 20) - 1)
        with pytest.raises(vhdx.InvalidArgumentError):
            img.write(b"ab")
        with pytest.raises(vhdx.InvalidArgumentError) as e:
            img.write_zeroes(8 << 20, 512)
        assert e.value.status_name == "E_RANGE"
        assert img.info.type == "fixed"


def test_create_and_write_through_a_file_object():
    f = io.BytesIO()
    vhdx.create(f, 16 << 20)
    with vhdx.open(f, "r+") as img:
        img.seek(1 << 20)
        img.write(b"\xa5" * 4096)
    with vhdx.open(io.BytesIO(f.getvalue())) as img:
        assert img.read_at((1 << 20) - 1, 4098) == b"\0" + b"\xa5" * 4096 + b"\0"
    assert vhdx.check(io.BytesIO(f.getvalue())).ok


def test_create_differencing_and_read_through_the_chain(tmp):
    base = str(tmp / "base.vhdx")
    child = str(tmp / "child.vhdx")
    vhdx.create(base, 8 << 20)
    with vhdx.open(base, "r+") as img:
        img.write(b"B" * 8192)
    vhdx.create(child, type="differencing", parent=base)
    with vhdx.open(child, "r+") as img:
        img.seek(4096)
        img.write(b"C" * 512)
    with vhdx.open(child) as img:
        assert img.info.chain_depth == 1
        assert img.info.parent_path == base
        assert img.read(8192) == b"B" * 4096 + b"C" * 512 + b"B" * 3584


def test_parent_outside_allowed_dirs_is_not_found_and_parent_dirs_allows_it(tmp):
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    base = str(tmp / "a" / "base.vhdx")
    child = str(tmp / "b" / "child.vhdx")
    vhdx.create(base, 8 << 20)
    vhdx.create(child, type="differencing", parent=base)
    with pytest.raises(vhdx.NotFoundError) as e:
        vhdx.open(child)
    assert e.value.rule == "image.parent.not_found"
    with vhdx.open(child, parent_dirs=[str(tmp / "a")]) as img:
        assert img.info.chain_depth == 1


def test_check_reports_findings_of_a_corrupt_image(tmp):
    data = bytearray(open(BY_NAME["dyn_bs1_8m_ovmm"]["path"], "rb").read())
    data[64 * 1024 + 100] ^= 0xFF  # inside header 1: its checksum breaks
    bad = tmp / "bad.vhdx"
    bad.write_bytes(bytes(data))
    report = vhdx.check(str(bad))
    rules = [(f.severity, f.rule) for f in report.findings]
    assert ("warning", "header.checksum") in rules or ("error", "header.checksum") in rules
    finding = [f for f in report.findings if f.rule == "header.checksum"][0]
    assert finding.offset == 64 * 1024 + 4  # the checksum field of header 1
    assert finding.status == "E_CHECKSUM"


def test_threads_share_one_image():
    row = BY_NAME["dyn_bs2_50m_qemu_log2m"]
    model = open(row["raw"], "rb").read()
    img = vhdx.open(row["path"])
    errors = []

    def worker(seed):
        try:
            for i in range(200):
                off = ((seed * 7919 + i * 104729) * 512) % (len(model) - 65536)
                if img.read_at(off, 65536) != model[off:off + 65536]:
                    errors.append(off)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    img.close()
    assert errors == []


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(os.environ.get("VHDX_TEST_ASAN") == "1", reason="RSS is ASan's under ASan")
def test_ten_thousand_handles_leave_rss_flat():
    path = BY_NAME["dyn_bs1_8m_ovmm"]["path"]
    data = open(path, "rb").read()
    fobj = io.BytesIO(data)
    refs = sys.getrefcount(fobj)

    def cycle(n):
        for i in range(n):
            with vhdx.open(path if i % 2 else fobj) as img:
                img.read_at(0, 4096)

    cycle(1000)
    gc.collect()
    start = _rss_kib()
    cycle(10000)
    gc.collect()
    grown = _rss_kib() - start
    assert grown < 2048, "RSS grew by %d KiB over 10,000 opens" % grown
    assert sys.getrefcount(fobj) == refs


def test_archive_member_as_file_object(tmp):
    import zipfile
    row = BY_NAME["dyn_bs2_50m_qemu_log2m"]
    archive = tmp / "images.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.write(row["path"], "disk.vhdx")
    model = open(row["raw"], "rb").read()
    with zipfile.ZipFile(archive) as z, z.open("disk.vhdx") as member:
        with vhdx.open(member) as img:
            assert img.info.type == "dynamic"
            assert img.read_at(0, 4 << 20) == model[:4 << 20]
            assert img.read_at(len(model) - 65536, 65536) == model[-65536:]


def test_image_check_equals_module_check():
    path = SAMPLES[0]
    with vhdx.open(path) as img:
        findings = img.check()
    assert findings == vhdx.check(path).findings
    assert [f.rule for f in findings] == [f.rule for f in vhdx.verify(path).findings]


@pytest.mark.skipif(os.environ.get("VHDX_TEST_ASAN") == "1", reason="RSS is ASan's under ASan")
def test_failed_opens_and_chained_exceptions_leave_rss_flat():
    junk = io.BytesIO(b"\x01" * (2 << 20))

    class Exploding(io.BytesIO):
        def read(self, n=-1):
            raise RuntimeError("boom")

    boom = Exploding(b"\0" * (2 << 20))

    def cycle(n):
        for _ in range(n):
            for src in (junk, boom):
                try:
                    vhdx.open(src)
                except vhdx.Error:
                    pass

    cycle(500)
    gc.collect()
    start = _rss_kib()
    refs = (sys.getrefcount(junk), sys.getrefcount(boom))
    cycle(5000)
    gc.collect()
    grown = _rss_kib() - start
    assert grown < 2048, "RSS grew by %d KiB over 10,000 failed opens" % grown
    assert (sys.getrefcount(junk), sys.getrefcount(boom)) == refs


def test_writable_real_file_object_is_flushed_and_checked_by_qemu(tmp):
    path = str(tmp / "f.vhdx")
    vhdx.create(path, 16 << 20, block_size=1 << 20)
    with open(path, "r+b") as f:
        with vhdx.open(f, "r+") as img:
            img.seek(5 << 20)
            img.write(b"\x5a" * 8192)
            img.flush()
            img.discard(0, 4 << 20)
        assert not f.closed  # the caller's file object stays the caller's
    subprocess.run(["qemu-img", "check", "-q", path], check=True)
    subprocess.run(["qemu-img", "convert", "-O", "raw", path, str(tmp / "f.raw")], check=True)
    raw = (tmp / "f.raw").read_bytes()
    assert raw[5 << 20:(5 << 20) + 8192] == b"\x5a" * 8192
    assert raw.count(0) == len(raw) - 8192


def test_the_gil_is_released_while_the_library_reads():
    import time
    row = BY_NAME["fixed4k_bs256_300m_ovmm"]
    img = vhdx.open(row["path"])
    handle = img._h  # the C call itself, without Python code around it
    state = {"count": 0, "stop": False, "during": 0, "call_time": 0.0}

    def reader():
        for _ in range(3):
            before = state["count"]
            t = time.perf_counter()
            handle.read(0, 128 << 20)  # one library call of 128 MiB
            state["call_time"] += time.perf_counter() - t
            state["during"] += state["count"] - before
        state["stop"] = True

    # The loop's own rate, alone.
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        n += 1
    rate = n / (time.perf_counter() - t0)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # the GIL changes hands at most every 0.1 ms otherwise
    try:
        t = threading.Thread(target=reader)
        t.start()
        while not state["stop"]:
            state["count"] += 1
            time.perf_counter()
        t.join()
    finally:
        sys.setswitchinterval(old)
        img.close()
    # Held through each call, the loop could count only in the switch windows before
    # them (under a millisecond); released, it counts through the calls.
    assert state["during"] > 0.1 * rate * state["call_time"], (state, rate)
