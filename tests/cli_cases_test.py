#!/usr/bin/env python3
"""vhdx-verify on one image per rule (written by make_cases): the exact exit
status, the exact rule id at the exact severity, and, for images that claim
structures far larger than the file, a time and memory bound."""
import json
import os
import resource
import subprocess
import sys
import time

root = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
tmp = os.environ["TEST_TMPDIR"]
verify = os.path.join(root, "tools", "vhdx-verify")
make_cases = os.path.join(root, "tests", "make_cases")

subprocess.run([make_cases, tmp], check=True)
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


with open(os.path.join(tmp, "manifest")) as f:
    cases = [line.split() for line in f if line.strip()]
check(len(cases) >= 20, "make_cases wrote %d cases" % len(cases))

for name, exit_code, rule, severity in cases:
    path = os.path.join(tmp, name + ".vhdx")
    with open(path, "rb") as img:
        before = img.read()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([verify, "--json", path], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    check(proc.returncode == int(exit_code),
          "%s: exit %d, expected %s\n%s%s" % (name, proc.returncode, exit_code, proc.stdout, proc.stderr))
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        check(False, "%s: output is not JSON: %r" % (name, proc.stdout[:400]))
        continue
    findings = doc["images"][0]["findings"]
    if rule == "-":
        check(not any(x["severity"] in ("error", "warning") for x in findings),
              "%s: expected no errors or warnings, got %s" % (name, findings))
    else:
        check(any(x["rule"] == rule and x["severity"] == severity for x in findings),
              "%s: no %s %s among %s" % (name, severity, rule,
                                         [(x["severity"], x["rule"]) for x in findings]))
    with open(path, "rb") as img:
        check(img.read() == before, "%s: the image was modified" % name)
    if name.startswith("huge-"):
        # ru_maxrss of children is the largest any child reached, in KiB.
        rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        check(rss_kib < 64 * 1024, "%s: peak RSS %d KiB, limit 65536" % (name, rss_kib))
        limit = 10.0 if name == "huge-valid-64t" else 0.5
        check(elapsed < limit, "%s: took %.3f s, limit %.1f s" % (name, elapsed, limit))
        print("%s: %.3f s, peak RSS of any run so far %d KiB" % (name, elapsed, rss_kib))

print("cli_cases_test: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
