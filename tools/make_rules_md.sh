#!/usr/bin/env bash
# Regenerates docs/RULES.md from the per-module tables in docs/rules/.
set -euo pipefail
cd "$(dirname "$0")/.."
{
    cat <<'HDR'
# Rules

Every finding the library reports carries a stable rule id. This file lists
each rule id once: its severity, its status code (`vhdx_status_name()`),
what it means with the section of VHDX-FORMAT.md it enforces, and the test
that breaks exactly that rule and asserts it. `tools/check_rules.py` (run by
`bazel test //...`) fails when a rule in the code is missing here, when a row
names no rule of the code, or when a named test does not assert its rule.

Severity: **error**, the image is invalid; **warning**, allowed by the format
but worth knowing; **info**, a fact about the image.

This file is generated from `docs/rules/*.md` by `tools/make_rules_md.sh`.

HDR
    for m in file_identifier header region_table metadata_table metadata_items parent_locator bat log_entry log image; do
        if [ -f "docs/rules/$m.md" ]; then
            cat "docs/rules/$m.md"
            echo
        fi
    done
} > docs/RULES.md
