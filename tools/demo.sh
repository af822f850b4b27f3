#!/usr/bin/env bash
# Quick start: installs what is missing, builds the tools, and judges a
# bundled image made by Hyper-V (or the images given as arguments) with
# vhdx-verify, then prints what `vhdx info` knows about it.
#   tools/demo.sh [IMAGE...]
# Exit status: vhdx-verify's (0 no errors, 1 errors, 2 could not judge).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build --noshow_progress -c opt //tools:vhdx //tools:vhdx-verify >&2
images=("$@")
if [ "${#images[@]}" -eq 0 ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    bunzip2 -c corpus/images/hyperv-dynamic-1G.vhdx.bz2 > "$tmp/hyperv-dynamic-1G.vhdx"
    images=("$tmp/hyperv-dynamic-1G.vhdx")
fi
status=0
bazel-bin/tools/vhdx-verify "${images[@]}" || status=$?
for image in "${images[@]}"; do
    bazel-bin/tools/vhdx info "$image" || true
done
bazel shutdown >/dev/null 2>&1 || true
exit "$status"
