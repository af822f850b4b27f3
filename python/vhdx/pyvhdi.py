"""A drop-in for libvhdi's pyvhdi read API, over libvhdx.

    from vhdx import pyvhdi

The names, types and value formats are those of Debian's python3-libvhdi
(pyvhdi 20210425): disk_types.FIXED/DYNAMIC/DIFFERENTIAL are 2/3/4,
identifiers are lower-case GUID text without braces (identifier is the
DataWriteGuid, parent_identifier the parent linkage, as libvhdi gives them),
format_version is "1.0", failures raise OSError (IOError) and bad arguments
ValueError or TypeError.

Where this module differs, it is on purpose: a dirty log is replayed in
memory (libvhdi reads stale data); ZERO blocks of differencing children read
as zeros and NOT_PRESENT sector bitmaps as the parent; fixed disks past
4 GiB read right; parent_filename gives the parent locator's path
(relative_path, else volume_path, else absolute_win32_path, as stored, with
backslashes) where pyvhdi 20210425 gives None for VHDX; VHD (v1) files are
not read (check_file_signature is True for VHDX only).

Thread safety: a file object is not safe for concurrent use (its offset is
shared); the library calls release the GIL and are serialised per file.
"""
import io as _io
import os as _os

import vhdx as _vhdx
from vhdx import _vhdx as _c

__all__ = ["get_version", "check_file_signature", "check_file_signature_file_object",
           "open", "open_file_object", "file", "disk_types"]

_SIGNATURE = b"vhdxfile"


def get_version():
    """get_version() -> String

    Retrieves the version."""
    return "20210425"


def check_file_signature(filename):
    """check_file_signature(filename) -> Boolean

    Checks if a file has a VHDX image file signature."""
    _check_name(filename)
    with _io.open(filename, "rb") as f:
        return f.read(8) == _SIGNATURE


def check_file_signature_file_object(file_object):
    """check_file_signature_file_object(file_object) -> Boolean

    Checks if a file has a VHDX image file signature using a file-like object."""
    file_object.seek(0, 0)
    return file_object.read(8) == _SIGNATURE


def open(filename, mode="r"):
    """open(filename, mode='r') -> Object

    Opens a file."""
    f = file()
    f.open(filename, mode)
    return f


def open_file_object(file_object, mode="r"):
    """open_file_object(file_object, mode='r') -> Object

    Opens a file using a file-like object."""
    f = file()
    f.open_file_object(file_object, mode)
    return f


class disk_types(object):
    """pyvhdi disk types object (wraps LIBVHDI_DISK_TYPES)"""

    FIXED = 2
    DYNAMIC = 3
    DIFFERENTIAL = 4


_DISK_TYPE = {"fixed": disk_types.FIXED, "dynamic": disk_types.DYNAMIC,
              "differencing": disk_types.DIFFERENTIAL}


def _check_name(filename):
    if not isinstance(filename, (str, bytes, _os.PathLike)):
        raise TypeError("unsupported string object type.")


def _check_mode(fn, mode):
    if mode is not None and not (isinstance(mode, str) and mode[:1] == "r" and
                                 set(mode[1:]) <= {"b"}):
        raise ValueError("%s: unsupported mode: %s." % (fn, mode))


def _guid(text):
    """'{40302010-...}' -> '40302010-...' (libvhdi's format)."""
    if not text:
        return None
    return text.strip("{}").lower()


class file(object):
    """pyvhdi file object (wraps libvhdi_file_t)

    Thread safety: calls on one file run one at a time (the image's lock), with
    the GIL released while the library reads; the read offset is shared, so
    threads sharing a file use read_buffer_at_offset. A file object given to
    open_file_object must not be shared with files used by other threads."""

    def __init__(self, *args, **kwargs):
        self._img = None
        self._source = None
        self._parent = None
        self._info = None
        self._offset = 0
        self._locator = None

    # -- opening
    def open(self, filename, mode="r"):
        """open(filename, mode='r') -> None

        Opens a file."""
        _check_name(filename)
        _check_mode("pyvhdi_file_open", mode)
        self._open_source(_os.fspath(filename), "pyvhdi_file_open")

    def open_file_object(self, file_object, mode="r"):
        """open_file_object(file_object, mode='r') -> None

        Opens a file using a file-like object."""
        for method in ("read", "seek"):
            if not callable(getattr(file_object, method, None)):
                raise TypeError("pyvhdi_file_open_file_object: unsupported file object - "
                                "missing %s method." % method)
        _check_mode("pyvhdi_file_open_file_object", mode)
        self._open_source(file_object, "pyvhdi_file_open_file_object")

    def _open_source(self, source, fn):
        if self._img is not None:
            raise IOError("%s: invalid file - file IO handle already set." % fn)
        # Parents come from set_parent, as with libvhdi: open without them.
        h, _, _ = _c.open(source, no_parent=True)
        self._img = h
        self._source = source
        self._info = h.info()
        self._offset = 0
        self._parent = None
        self._locator = None

    def close(self):
        """close() -> None

        Closes a file."""
        if self._img is None:
            raise IOError("pyvhdi_file_close: unable to close file. "
                          "libvhdi_file_close: invalid file - missing file IO handle.")
        self._img.close()
        self._img = None
        self._source = None
        self._parent = None
        self._info = None
        self._locator = None

    def _chain_sources(self):
        """The sources of this file's chain, parent first."""
        out = []
        p = self._parent
        while p is not None:
            out.append(p._source)
            p = p._parent
        return out

    def set_parent(self, parent_file):
        """set_parent(parent_file) -> None

        Sets the parent file."""
        if not isinstance(parent_file, file):
            raise TypeError("pyvhdi_file_set_parent: unsupported type of argument parent file.")
        self._require("pyvhdi_file_set_parent")
        if parent_file._img is None:
            raise IOError("pyvhdi_file_set_parent: unable to set parent file. "
                          "invalid parent file - missing file IO handle.")
        if self._parent is not None:
            raise IOError("pyvhdi_file_set_parent: unable to set parent file. "
                          "invalid file - parent file already set.")
        if self._info["type"] != _c.DIFFERENCING or _guid(self._info["parent_linkage"]) != \
                _guid(parent_file._info["data_write_guid"]):
            raise IOError("pyvhdi_file_set_parent: unable to set parent file. "
                          "mismatch in identifier.")
        sources = [parent_file._source]
        p = parent_file._parent
        while p is not None:
            sources.append(p._source)
            p = p._parent
        # Reopen with the chain given explicitly: the library validates each level.
        h, _, _ = _c.open(self._source, parents=tuple(sources))
        self._img.close()
        self._img = h
        self._info = h.info()
        self._parent = parent_file

    def signal_abort(self):
        """signal_abort() -> None

        Signals the file to abort the current activity."""
        self._require("pyvhdi_file_signal_abort")

    # -- reading
    def _require(self, fn):
        if self._img is None:
            raise IOError("%s: invalid file - missing file IO handle." % fn)

    def read_buffer(self, size=None):
        """read_buffer(size) -> Binary string or None

        Reads a buffer of data."""
        self._require("pyvhdi_file_read_buffer")
        media = self._info["virtual_size"]
        if size is None:
            size = max(0, media - self._offset)
        if not isinstance(size, int):
            raise TypeError("pyvhdi_file_read_buffer: unsupported integer object type.")
        if size < 0:
            raise ValueError("pyvhdi_file_read_buffer: invalid read size value less than zero.")
        n = max(0, min(size, media - self._offset))
        if n == 0:
            return b""
        data = self._img.read(self._offset, n)
        self._offset += n
        return data

    read = read_buffer

    def read_buffer_at_offset(self, size, offset):
        """read_buffer_at_offset(size, offset) -> Binary string or None

        Reads a buffer of data at a specific offset."""
        self._require("pyvhdi_file_read_buffer_at_offset")
        if size < 0:
            raise ValueError("pyvhdi_file_read_buffer_at_offset: invalid read size value "
                             "less than zero.")
        if offset < 0:
            raise ValueError("pyvhdi_file_read_buffer_at_offset: invalid read offset value "
                             "less than zero.")
        self._offset = offset
        return self.read_buffer(size)

    def seek_offset(self, offset, whence=0):
        """seek_offset(offset, whence) -> None

        Seeks an offset within the data."""
        self._require("pyvhdi_file_seek_offset")
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self._offset + offset
        elif whence == 2:
            pos = self._info["virtual_size"] + offset
        else:
            raise IOError("pyvhdi_file_seek_offset: unable to seek offset. "
                          "unsupported whence.")
        if pos < 0:
            raise IOError("pyvhdi_file_seek_offset: unable to seek offset. "
                          "invalid offset value out of bounds.")
        self._offset = pos

    seek = seek_offset

    def get_offset(self):
        """get_offset() -> Integer or None

        Retrieves the current offset within the data."""
        self._require("pyvhdi_file_get_offset")
        return self._offset

    tell = get_offset

    # -- metadata
    def get_media_size(self):
        """get_media_size() -> Integer or None

        Retrieves the media size."""
        return 0 if self._info is None else self._info["virtual_size"]

    def get_bytes_per_sector(self):
        """get_bytes_per_sector() -> Integer or None

        Retrieves the number of bytes per sector."""
        return 512 if self._info is None else self._info["logical_sector_size"]

    def get_disk_type(self):
        """get_disk_type() -> Integer or None

        Retrieves the disk type."""
        return 0 if self._info is None else _DISK_TYPE[_vhdx._TYPE_NAMES[self._info["type"]]]

    def get_format_version(self):
        """get_format_version() -> Unicode string or None

        Retrieves the format version."""
        if self._info is None:
            raise IOError("pyvhdi_file_get_format_version: unable to retrieve format version.")
        return "1.0"

    def get_identifier(self):
        """get_identifier() -> Unicode string or None

        Retrieves the identifier."""
        if self._info is None:
            raise IOError("pyvhdi_file_get_identifier: unable to retrieve identifier.")
        return _guid(self._info["data_write_guid"])

    def get_parent_identifier(self):
        """get_parent_identifier() -> Unicode string or None

        Retrieves the parent identifier."""
        if self._info is None or self._info["type"] != _c.DIFFERENCING:
            return None
        return _guid(self._info["parent_linkage"])

    def get_parent_filename(self):
        """get_parent_filename() -> Unicode string or None

        Retrieves the parent filename."""
        if self._info is None or self._info["type"] != _c.DIFFERENCING:
            return None
        if self._locator is None:
            # The locator's paths, as the library offers them to a parent opener.
            _, _, offers = _c.open(self._source, record_offers=True, parents=())
            self._locator = dict(offers or ())
        for key in ("relative_path", "volume_path", "absolute_win32_path"):
            if self._locator.get(key):
                return self._locator[key]
        return None

    media_size = property(get_media_size, doc="The media size.")
    bytes_per_sector = property(get_bytes_per_sector, doc="The number of bytes per sector.")
    disk_type = property(get_disk_type, doc="The disk type.")
    format_version = property(get_format_version, doc="The format version.")
    identifier = property(get_identifier, doc="The identifier.")
    parent_identifier = property(get_parent_identifier, doc="The parent identifier.")
    parent_filename = property(get_parent_filename, doc="The parent filename.")
