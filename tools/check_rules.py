#!/usr/bin/env python3
"""Checks docs/RULES.md against the code and the tests.

Every rule id the library can report (a string literal passed to DIAG_ERROR,
DIAG_WARN or DIAG_INFO under src/) must appear exactly once as a row of
docs/RULES.md; every row must name a rule the code reports; every test
function a row names must exist in tests/ and mention the rule id, so that
the test really asserts that rule.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
DIAG_CALL = re.compile(r'DIAG_(?:ERROR|WARN|INFO)\s*\(')
RULE_LIT = re.compile(r'"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"')
ROW = re.compile(r'^\|\s*`?([a-z0-9_]+(?:\.[a-z0-9_]+)+)`?\s*\|(.*)\|\s*$')


def code_rules():
    rules = {}
    for path in sorted((ROOT / "src").rglob("*.c")):
        text = path.read_text()
        for call in DIAG_CALL.finditer(text):
            # The rule id is the first dotted string literal among the arguments
            # (a conditional expression may choose between several).
            window = text[call.end():call.end() + 300]
            window = window.split('",', 3)  # sink, code, rule(s) come first
            for lit in RULE_LIT.findall('",'.join(window[:3])):
                rules.setdefault(lit, path.relative_to(ROOT))
    return rules


def main():
    problems = []
    rules = code_rules()
    doc = (ROOT / "docs" / "RULES.md").read_text().splitlines()
    tests_text = {p: p.read_text() for p in (ROOT / "tests").glob("test_*.c")}
    seen = {}
    for n, line in enumerate(doc, 1):
        m = ROW.match(line)
        if not m:
            continue
        rule, rest = m.group(1), m.group(2)
        if rule in seen:
            problems.append(f"RULES.md:{n}: {rule} listed twice (first at line {seen[rule]})")
        seen[rule] = n
        if rule not in rules:
            problems.append(f"RULES.md:{n}: {rule} is not reported anywhere in src/")
        test_names = re.findall(r'\b(test_[a-z0-9_]+)\b', rest)
        if not test_names:
            problems.append(f"RULES.md:{n}: {rule} names no test")
        for t in test_names:
            holders = [p for p, s in tests_text.items() if re.search(r'\b' + t + r'\s*\(', s)]
            if not holders:
                problems.append(f"RULES.md:{n}: test {t} for {rule} does not exist")
                continue
            if not any(f'"{rule}"' in tests_text[p] for p in holders):
                problems.append(f"RULES.md:{n}: {rule}: no test file holding {t} asserts the rule id")
    for rule, where in sorted(rules.items()):
        if rule not in seen:
            problems.append(f"{where}: rule {rule} is missing from docs/RULES.md")
    for p in problems:
        print(p)
    print(f"check_rules: {len(rules)} rules in src/, {len(seen)} rows in RULES.md, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
