#!/usr/bin/env python3
"""vhdx-verify on one image per rule (written by make_cases): the exact exit
status, the exact rule id at the exact severity, and, for images that claim
structures far larger than the file, a time and memory bound."""
import hashlib
import json
import os
import subprocess
import sys
import time

root = os.path.join(os.environ["TEST_SRCDIR"], os.environ["TEST_WORKSPACE"])
tmp = os.environ["TEST_TMPDIR"]
verify = os.path.join(root, "tools", "vhdx-verify")
make_cases = os.path.join(root, "tests", "make_cases")

subprocess.run([make_cases, tmp], check=True)
passed = failed = 0


def digest(path):
    # In chunks: holding a big image in this process would inflate the
    # peak RSS the children inherit at fork.
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


with open(os.path.join(tmp, "manifest")) as f:
    cases = [line.split() for line in f if line.strip()]
check(len(cases) >= 35, "make_cases wrote %d cases" % len(cases))

for name, exit_code, rule, severity in cases:
    path = os.path.join(tmp, name + ".vhdx")
    before = digest(path)
    # GNU time forks a small process and reports the verifier's own peak RSS
    # (a child forked from this Python process would inherit its high-water mark).
    out_path = os.path.join(tmp, name + ".json")
    rss_path = os.path.join(tmp, name + ".rss")
    start = time.monotonic()
    with open(out_path, "w") as out:
        returncode = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", rss_path, verify,
                                     "--json", path], stdout=out, stderr=subprocess.DEVNULL).returncode
    elapsed = time.monotonic() - start
    with open(out_path) as out:
        stdout = out.read()
    check(returncode == int(exit_code),
          "%s: exit %d, expected %s\n%s" % (name, returncode, exit_code, stdout))
    try:
        doc = json.loads(stdout)
    except ValueError:
        check(False, "%s: output is not JSON: %r" % (name, stdout[:400]))
        continue
    findings = doc["images"][0]["findings"]
    if rule == "-":
        check(not any(x["severity"] in ("error", "warning") for x in findings),
              "%s: expected no errors or warnings, got %s" % (name, findings))
    else:
        check(any(x["rule"] == rule and x["severity"] == severity for x in findings),
              "%s: no %s %s among %s" % (name, severity, rule,
                                         [(x["severity"], x["rule"]) for x in findings]))
    check(digest(path) == before, "%s: the image was modified" % name)
    if name.startswith("huge-"):
        with open(rss_path) as f:
            rss_kib = int(f.read().split()[-1])
        check(rss_kib < 64 * 1024, "%s: peak RSS %d KiB, limit 65536" % (name, rss_kib))
        limit = 20.0 if name == "huge-valid-64t" else 0.5
        check(elapsed < limit, "%s: took %.3f s, limit %.1f s" % (name, elapsed, limit))
        print("%s: %.3f s, peak RSS %d KiB" % (name, elapsed, rss_kib))

print("cli_cases_test: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
