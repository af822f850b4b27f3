#!/usr/bin/env bash
# Bazel wrapper: runs tools/check_rules.py over the workspace's runfiles.
set -euo pipefail
root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
exec python3 "$root/tools/check_rules.py" "$root"
