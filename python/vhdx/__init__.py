"""VHDX (Hyper-V virtual hard disk v2) images for Python, over libvhdx.

    import vhdx
    with vhdx.open("disk.vhdx") as img:          # read-only; a dirty log is replayed in memory
        print(img.info.virtual_size, img.info.type)
        head = img.read(512)
        for ext in img.map():                     # what backs each virtual range
            print(ext.offset, ext.length, ext.kind)
    report = vhdx.verify("disk.vhdx")             # vhdx-verify's verdict, never writes
    print(report.ok, [f.rule for f in report.findings])

`vhdx.pyvhdi` is a drop-in for libvhdi's pyvhdi read API.

Thread safety: every call releases the GIL while the C library runs. An
Image may be shared between threads: each call on it takes the image's own
lock, so calls on one image run one at a time (the file position of
read/seek is shared too: use pread-style `read_at`/`readinto_at` from
several threads). Different images run in parallel. A file object given to
`open` is called (read, seek, write) with the GIL held on the calling
thread; do not use one file object from two images in different threads.
"""
import collections
import errno as _errno
import io
import os

from . import _vhdx

__all__ = [
    "open", "create", "verify", "check", "Image", "Info", "Extent", "Finding", "Report",
    "Error", "CorruptImageError", "UnsupportedError", "LimitError", "OutOfMemoryError",
    "BackendIOError", "InvalidArgumentError", "BadStateError", "NotFoundError", "CancelledError",
    "FIXED", "DYNAMIC", "DIFFERENCING", "__version__",
]

__version__ = _vhdx.version()

FIXED = "fixed"
DYNAMIC = "dynamic"
DIFFERENCING = "differencing"
_TYPE_NAMES = {_vhdx.FIXED: FIXED, _vhdx.DYNAMIC: DYNAMIC, _vhdx.DIFFERENCING: DIFFERENCING}
_TYPE_CODES = {v: k for k, v in _TYPE_NAMES.items()}
_LOG_REPLAY = {0: "clean", 1: "replayed_in_memory", 2: "replayed_in_place"}
_EXTENT_KINDS = {0: "data", 1: "zero", 2: "parent"}

#: status code -> stable name ("E_CHECKSUM"), as vhdx_status_name()
STATUS_NAMES = _vhdx.status_names()

Finding = collections.namedtuple(
    "Finding", "severity rule offset message status structure")
Finding.__doc__ = """One finding of the library: severity ("error", "warning", "info"),
stable rule id ("header.checksum"), file offset (None: no particular offset),
message, status name ("E_CHECKSUM") and the structure ("header")."""

Extent = collections.namedtuple("Extent", "offset length kind bat_state file_offset")
Extent.__doc__ = """A run of the virtual disk: kind is "data" (read from this file at
file_offset), "zero" (reads as zeros) or "parent" (read from the parent)."""


class Error(OSError):
    """An error of the VHDX library.

    status: the vhdx_status number; status_name: its stable name ("E_CHECKSUM");
    rule: the rule id of the finding that explains it, or None; offset: that
    finding's file offset, or None; message: a sentence; findings: every
    finding the failed call made (Finding tuples). An error raised by a file
    object's own methods is chained as __cause__.
    """

    #: the errno this class carries (None: a fault of the image, not of the system)
    errno_value = None

    def __init__(self, status, status_name, text, rule, offset, message, findings):
        super().__init__(self.errno_value, message)
        self.status = status
        self.status_name = status_name
        self.text = text
        self.rule = rule
        self.offset = offset
        self.message = message
        self.findings = [Finding(*f) for f in findings]

    def __str__(self):
        where = "" if self.offset is None else " at 0x%x" % self.offset
        rule = "" if self.rule is None else " [%s]" % self.rule
        return "%s%s%s: %s" % (self.status_name, rule, where, self.message)

    def __reduce__(self):
        return (self.__class__, (self.status, self.status_name, self.text, self.rule,
                                 self.offset, self.message, list(self.findings)))


class CorruptImageError(Error):
    """The image breaks a rule of the format (E_TRUNCATED .. E_CORRUPT, not E_UNSUPPORTED)."""


class UnsupportedError(CorruptImageError):
    """A required feature this implementation does not know (E_UNSUPPORTED)."""


class NotFoundError(CorruptImageError, FileNotFoundError):
    """The file (or a parent the locator names) does not exist (E_MISSING without a rule)."""

    errno_value = _errno.ENOENT


class LimitError(Error):
    """A configured limit (max_memory, ...) would be exceeded (E_LIMIT)."""


class OutOfMemoryError(Error):
    """The allocator failed (E_NOMEM)."""

    errno_value = _errno.ENOMEM


class BackendIOError(Error):
    """The file (or the file object) failed (E_IO); a file object's exception is the cause."""

    errno_value = _errno.EIO


class InvalidArgumentError(Error, ValueError):
    """The caller passed an invalid argument (E_INVALID_ARG), or read/wrote out of range (E_RANGE
    on an open image)."""

    errno_value = _errno.EINVAL


class BadStateError(Error):
    """The image is in a failed state after an I/O or memory failure (E_BAD_STATE)."""


class CancelledError(Error):
    """A progress callback asked the call to stop (E_CANCELLED)."""


_CLASS_BY_NAME = {
    "E_UNSUPPORTED": UnsupportedError,
    "E_LIMIT": LimitError,
    "E_NOMEM": OutOfMemoryError,
    "E_IO": BackendIOError,
    "E_INVALID_ARG": InvalidArgumentError,
    "E_BAD_STATE": BadStateError,
    "E_CANCELLED": CancelledError,
}


def _make_error(status, status_name, text, rule, offset, message, findings):
    cls = _CLASS_BY_NAME.get(status_name, CorruptImageError)
    if status_name == "E_RANGE" and not findings:
        cls = InvalidArgumentError  # a request past the end, not a field of the file
    if status_name == "E_MISSING" and (rule is None or rule == "image.parent.not_found"):
        cls = NotFoundError
    return cls(status, status_name, text, rule, offset, message, findings)


_vhdx._set_error_factory(_make_error)


class Info(collections.namedtuple("Info", [
        "type", "virtual_size", "file_size", "block_size", "logical_sector_size",
        "physical_sector_size", "chunk_ratio", "bat_entries", "blocks_allocated",
        "header_sequence", "current_header", "creator", "file_write_guid", "data_write_guid",
        "log_guid", "virtual_disk_id", "log_offset", "log_length", "log_dirty", "log_replay",
        "log_entries_replayed", "log_head_sequence", "parent_linkage", "parent_path",
        "chain_depth"])):
    """What vhdx_get_info knows: type ("fixed", "dynamic", "differencing"), sizes,
    GUIDs as the library prints them ("{8-4-4-4-12}", upper case), the log state
    (log_dirty: the log needed replay; log_replay: "clean", "replayed_in_memory",
    "replayed_in_place") and the parent (parent_linkage, parent_path, chain_depth)."""

    __slots__ = ()


def _info_from(d):
    d = dict(d)
    d["type"] = _TYPE_NAMES[d["type"]]
    d["log_dirty"] = bool(d["log_dirty"])
    d["log_replay"] = _LOG_REPLAY.get(d["log_replay"], d["log_replay"])
    return Info(**d)


def _source(path_or_fileobj):
    if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
        return path_or_fileobj
    for method in ("read", "seek"):
        if not callable(getattr(path_or_fileobj, method, None)):
            raise TypeError("expected a path or a file object with read() and seek()")
    return path_or_fileobj


class Image(io.RawIOBase):
    """An open VHDX image: the virtual disk as a seekable binary stream.

    read/readinto/seek/tell work on the virtual disk; reads past its end are
    short (at the end: b""). Writable images (mode "r+") also take write,
    write_zeroes, discard, flush (durable through the log) and resize;
    close() ends the write session (vhdx_finish) and raises if that fails.
    Thread safety: see the module's documentation.
    """

    def __init__(self, handle, findings, mode, name=None):
        super().__init__()
        self._h = handle
        self._pos = 0
        self._mode = mode
        self._name = name
        #: findings made while opening (warnings and notices; errors refuse the open)
        self.open_findings = [Finding(*f) for f in findings]
        self._size = handle.info()["virtual_size"]

    # -- stream protocol
    def readable(self):
        self._checkClosed()
        return True

    def seekable(self):
        self._checkClosed()
        return True

    def writable(self):
        self._checkClosed()
        return self._mode == "r+"

    @property
    def name(self):
        return self._name

    @property
    def mode(self):
        return "rb" if self._mode == "r" else "rb+"

    @property
    def size(self):
        """The virtual disk's size in bytes."""
        return self._size

    def tell(self):
        self._checkClosed()
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        self._checkClosed()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError("invalid whence (%r)" % (whence,))
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos

    def readinto(self, b):
        self._checkClosed()
        with memoryview(b) as mv, mv.cast("B") as out:
            n = max(0, min(len(out), self._size - self._pos))
            if n:
                self._h.readinto(self._pos, out[:n])
                self._pos += n
            return n

    def read(self, size=-1):
        self._checkClosed()
        if size is None or size < 0:
            size = self._size - self._pos
        n = max(0, min(size, self._size - self._pos))
        if n == 0:
            return b""
        data = self._h.read(self._pos, n)
        self._pos += n
        return data

    def readall(self):
        return self.read(-1)

    def read_at(self, offset, size):
        """Reads size bytes at a virtual offset, leaving the position alone (short at the end)."""
        self._checkClosed()
        n = max(0, min(size, self._size - offset))
        return self._h.read(offset, n) if n else b""

    def readinto_at(self, offset, b):
        """readinto at a virtual offset, leaving the position alone."""
        self._checkClosed()
        with memoryview(b) as mv, mv.cast("B") as out:
            n = max(0, min(len(out), self._size - offset))
            if n:
                self._h.readinto(offset, out[:n])
            return n

    def write(self, b):
        self._check_writable()
        with memoryview(b) as mv, mv.cast("B") as data:
            if self._pos + len(data) > self._size:
                raise InvalidArgumentError(19, "E_INVALID_ARG", "invalid argument", None, None,
                                           "a VHDX image does not grow by writing: resize() it",
                                           [])
            n = self._h.write(self._pos, data)
        self._pos += n
        return n

    def write_zeroes(self, offset, length):
        """Makes [offset, offset+length) read as zeros (whole blocks become ZERO)."""
        self._check_writable()
        self._h.write_zeroes(offset, length)

    def discard(self, offset, length):
        """Releases the whole blocks inside the range; returns the bytes that changed."""
        self._check_writable()
        return self._h.discard(offset, length)

    def flush(self):
        """Commits the pending changes through the log and makes them durable."""
        if self.closed:
            return
        if self._mode == "r+":
            self._h.flush()

    def resize(self, size, force=False):
        """Changes the virtual size (shrinking past data needs force=True)."""
        self._check_writable()
        self._h.resize(size, force)
        self._size = self._h.info()["virtual_size"]

    def truncate(self, size=None):
        self.resize(self._pos if size is None else size, force=True)
        return self._size

    def close(self):
        """Closes the image; a writable one ends its write session first (vhdx_finish)."""
        if self.closed:
            return
        try:
            if self._mode == "r+" and not self._h.closed:
                self._h.finish()
        finally:
            try:
                super().close()  # calls flush() on the still open handle
            finally:
                self._h.close()

    def fileno(self):
        raise io.UnsupportedOperation("a VHDX virtual disk has no file descriptor")

    # -- VHDX specific
    @property
    def info(self):
        """An Info: type, sizes, GUIDs, log state, parent."""
        self._checkClosed()
        return _info_from(self._h.info())

    def map(self, offset=0, length=None):
        """Yields the Extents that back [offset, offset+length) (default: the whole disk)."""
        self._checkClosed()
        end = self._size if length is None else min(self._size, offset + length)
        pos = offset
        while pos < end:
            o, n, kind, state, foff = self._h.map_next(pos)
            yield Extent(o, n, _EXTENT_KINDS.get(kind, kind), state, foff)
            if n == 0:
                break
            pos = o + n

    def check(self):
        """The findings of vhdx_check on this image's file (a new read-only pass)."""
        self._checkClosed()
        if self._name is None:
            raise io.UnsupportedOperation("check() needs an image opened by path; use vhdx.check")
        return check(self._name).findings

    def _check_writable(self):
        self._checkClosed()
        if self._mode != "r+":
            raise io.UnsupportedOperation("the image is open read-only (mode 'r')")

    def __repr__(self):
        state = "closed" if self.closed else "%d bytes" % self._size
        return "<vhdx.Image %r %s %s>" % (self._name, self._mode, state)


def open(path_or_fileobj, mode="r", parent_dirs=(), max_memory=None, parents=None):
    """Opens a VHDX image and returns an Image.

    path_or_fileobj: a path, or a file object with read() and seek() (and write(),
    flush(), truncate() for mode "r+"). mode: "r" (read-only: a dirty log is replayed
    in memory, the file is never written) or "r+" (journaled writer: a dirty log is
    replayed into the file). parent_dirs: directories besides the child's own where
    parents of a differencing image may lie (paths only). parents: instead of the
    locator, the chain's parents in order (paths or file objects): parents[0] is the
    parent, parents[1] the grandparent... max_memory: bytes the library may hold
    (default 64 MiB). A differencing image opened from a file object without parents
    opens, but reads that need the parent fail.
    Raises an Error subclass (with .rule and .offset) when the image is refused.
    """
    if mode not in ("r", "r+", "rb", "rb+", "r+b"):
        raise ValueError("mode must be 'r' or 'r+', not %r" % (mode,))
    mode = "r" if mode in ("r", "rb") else "r+"
    src = _source(path_or_fileobj)
    if isinstance(parent_dirs, (str, bytes, os.PathLike)):
        parent_dirs = (parent_dirs,)
    handle, findings, _ = _vhdx.open(
        src, writable=(mode == "r+"), parent_dirs=tuple(parent_dirs),
        parents=None if parents is None else tuple(_source(p) for p in parents),
        max_memory=max_memory)
    name = os.fsdecode(src) if isinstance(src, (str, bytes, os.PathLike)) else getattr(
        src, "name", None)
    return Image(handle, findings, mode, name)


class Report(collections.namedtuple("Report", "ok errors warnings infos first_error findings")):
    """vhdx_check's verdict: ok (no errors), counts, first_error (status name, "E_OK"
    when none) and the findings."""

    __slots__ = ()


def check(path_or_fileobj, parent_dirs=(), max_memory=None):
    """Judges an image without writing to it (vhdx_check); returns a Report.
    Raises an Error only when the image could not be judged (I/O, memory, limits)."""
    if isinstance(parent_dirs, (str, bytes, os.PathLike)):
        parent_dirs = (parent_dirs,)
    errors, warnings, infos, first, findings = _vhdx.check(
        _source(path_or_fileobj), parent_dirs=tuple(parent_dirs), max_memory=max_memory)
    return Report(errors == 0, errors, warnings, infos, first, [Finding(*f) for f in findings])


def verify(path, parent_dirs=(), max_memory=None):
    """vhdx-verify's verdict on one image: a Report whose .ok is True when it has no
    errors (warnings allowed). Never writes."""
    return check(path, parent_dirs=parent_dirs, max_memory=max_memory)


def create(path_or_fileobj, size=0, type=DYNAMIC, block_size=0, log_size=0,
           logical_sector_size=0, physical_sector_size=0, parent=None, creator=None):
    """Creates a new image (vhdx_create_path, or vhdx_create into an empty writable file
    object). type: "fixed", "dynamic" or "differencing" (then parent names the parent's
    path and size may be 0). Zero sizes take the library's defaults. Returns None;
    open the image with vhdx.open(path, "r+") to write into it."""
    if type not in _TYPE_CODES:
        raise ValueError("type must be 'fixed', 'dynamic' or 'differencing'")
    if (type == DIFFERENCING) != (parent is not None):
        raise ValueError("a differencing image needs parent=, and only it")
    _vhdx.create(path_or_fileobj, _TYPE_CODES[type], size, block_size, log_size,
                 logical_sector_size, physical_sector_size, parent, creator)
