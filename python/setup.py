"""Builds the vhdx package: the C extension vhdx._vhdx over include/vhdx.h.

Offline, with Debian's Python (python3-dev python3-venv python3-setuptools, uuid-dev):

    /usr/bin/python3 -m venv --system-site-packages VENV
    VENV/bin/pip install --no-build-isolation --no-index ./python

The library's C sources (the sources of Bazel's //:vhdx: ../src/**/*.c but
the test back ends and the reference replay engine, NOT_SHIPPED below) are
compiled into the extension with -fvisibility=hidden, so the extension
exports nothing but PyInit__vhdx. pip builds a local directory in place
(pip >= 21.3), so ../src is found beside this file; VHDX_SOURCE_DIR names
the repository root when building from elsewhere.

VHDX_CFLAGS adds compiler flags (tests/asan builds use -fsanitize=address).
"""
import glob
import os
import shlex

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("VHDX_SOURCE_DIR", os.path.dirname(HERE))
if not os.path.isfile(os.path.join(ROOT, "include", "vhdx.h")):
    raise SystemExit(
        "setup.py: cannot find the library's sources at %s (include/vhdx.h); "
        "set VHDX_SOURCE_DIR to the repository root" % ROOT
    )

# Under src/ but not in the library (NOT_SHIPPED_SRCS in the root BUILD).
NOT_SHIPPED = {
    "src/io/fault.c",
    "src/io/record.c",
    "src/io/sparse.c",
    "src/refreplay/outcome.c",
    "src/refreplay/ref_replay.c",
}
lib_sources = sorted(
    path
    for path in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True)
    if os.path.relpath(path, ROOT).replace(os.sep, "/") not in NOT_SHIPPED
)

# The project's warning set (.bazelrc), as errors.
STRICT = [
    "-std=c11", "-D_GNU_SOURCE", "-fno-strict-aliasing", "-fvisibility=hidden",
    "-Wall", "-Wextra", "-Werror", "-Wconversion", "-Wsign-conversion", "-Wshadow",
    "-Wimplicit-fallthrough", "-Wundef", "-Wcast-qual",
    "-Wformat=2", "-Wvla", "-Wpointer-arith", "-Wstrict-prototypes",
    "-Wmissing-prototypes", "-Wno-missing-field-initializers",
]
extra = shlex.split(os.environ.get("VHDX_CFLAGS", ""))

setup(
    name="vhdx",
    version="0.2.0",
    description="VHDX (Hyper-V virtual disk) reader and writer over libvhdx, with a pyvhdi drop-in",
    license="MIT",
    packages=["vhdx"],
    ext_modules=[
        Extension(
            "vhdx._vhdx",
            sources=["vhdx/_vhdx.c"] + lib_sources,
            include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src")],
            libraries=["uuid"],
            extra_compile_args=STRICT + extra,
            extra_link_args=extra,
        )
    ],
    python_requires=">=3.9",
)
