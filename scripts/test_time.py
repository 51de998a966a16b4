#!/usr/bin/env python3
"""How long the README's test command takes, and where the time goes (prints numbers, no verdict).

    .venv/bin/python scripts/test_time.py [--slowest N] [PYTEST_ARGS ...]

Runs `.venv/bin/python -m pytest` (the README's test command, with any extra arguments) in a new process with
pytest's own timing report, then prints: wall and CPU seconds of the whole run, the machine's core count and
load, the number of tests (passed, skipped, failed) and of ``assert`` statements in the test files, and the
seconds per test file (setup, call and teardown of its tests: fixtures that build a scenario once are
charged to the first test that needs them), the slowest first.  The goal the project holds itself to is in
the README (section Tests); this script only measures.
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import pathlib
import re
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO = pathlib.Path(__file__).resolve().parents[1]


def assertions(folder: pathlib.Path) -> int:
    """``assert`` statements in the test files (tests/ and the seed code's tests)."""
    count = 0
    for path in sorted([*(folder / "tests").rglob("test_*.py"), *(folder / "seed_code").rglob("test_*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        count += sum(isinstance(node, ast.Assert) for node in ast.walk(tree))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slowest", type=int, default=15, help="test files to list (default 15)")
    args, pytest_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit1",
            *pytest_args,
        ]
        load = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if not report.exists():
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            return 2
        cases = ET.parse(report).getroot().iter("testcase")
        per_file: dict[str, float] = collections.defaultdict(float)
        outcome = collections.Counter()
        failed = []
        for case in cases:
            name = case.get("file") or case.get("classname", "")  # xunit1 names each test's file
            per_file[name] += float(case.get("time", 0))
            kinds = {child.tag for child in case}
            outcome["failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"] += 1
            if kinds & {"failure", "error"}:
                failed.append(f"{name}::{case.get('name')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"command: {' '.join(['.venv/bin/python', '-m', 'pytest', *pytest_args])}")
    print(
        f"wall: {wall:.1f} s ({wall / 60:.1f} min); cpu (pytest and its children): {cpu:.1f} s; "
        f"cores: {os.cpu_count()}; load before: {' '.join(f'{x:.2f}' for x in load)}"
    )
    print(
        f"tests: {sum(outcome.values())} ({outcome['passed']} passed, {outcome['skipped']} skipped, "
        f"{outcome['failed']} failed); assert statements in test files: {assertions(REPO)}"
    )
    print(f"exit code: {result.returncode}")
    print(f"slowest test files (seconds of their tests, {len(per_file)} files):")
    for name, seconds in sorted(per_file.items(), key=lambda item: -item[1])[: args.slowest]:
        print(f"  {seconds:7.1f}  {name}")
    for test in failed:
        print(f"failed: {test}")
    summary = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    if summary:
        print(f"pytest: {summary[-1].strip('= ')}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
