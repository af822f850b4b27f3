#!/usr/bin/env bash
# Installs the Debian packages the build, tests and fuzzing need, if missing.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(bazel-bootstrap libcmocka-dev uuid-dev clang libclang-rt-14-dev afl++
          qemu-utils libvhdi-utils python3-libvhdi bzip2 zip python3 time
          clang-tidy cppcheck clang-tools binutils llvm-14
          python3-dev python3-venv python3-setuptools python3-pytest
          nbdkit nbdkit-plugin-dev libnbd-bin python3-libnbd)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
