#!/usr/bin/env bash
# Quick start: installs what is missing, builds the tools, and decodes a
# bundled sample image made by Hyper-V (or the image given as argument).
#   tools/demo.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build --noshow_progress -c opt //tools:vhdx-dump >&2
image="${1:-}"
if [ -z "$image" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    image="$tmp/hyperv-dynamic-1G.vhdx"
    bunzip2 -c corpus/images/hyperv-dynamic-1G.vhdx.bz2 > "$image"
fi
status=0
bazel-bin/tools/vhdx-dump "$image" || status=$?
bazel shutdown >/dev/null 2>&1 || true
exit "$status"
