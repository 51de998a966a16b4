"""The benchmarks still run (they print numbers; nothing here is timed): a benchmark that rots measures nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from templates_src.registry import TEMPLATES
from tests.conftest import REPO


def _run(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# The benchmark runs the same code for every template: the test measures a small family that nests others
# (the portfolio and its two project products, in registry order), which keeps the suite fast.
ONLY = "env-sc-portfolio"
SELECTION = ["env-sc-portfolio", "project-model-build-train", "project-model-deploy"]


def test_generation_benchmark_prints_every_template_and_whole_builds():
    out = _run("scripts/benchmark.py", "--repeat", "1", "--runs", "1", "--only", ONLY)
    assert [line.split()[0] for line in out.splitlines()[1 : 1 + len(SELECTION)]] == SELECTION
    assert "peak memory" in out
    # Whole builds: a cold one lints every template, the unchanged rebuild takes every result from the cache.
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("run ")).replace("cfn-lint load", "load").split()
    assert header == [
        "run",
        "seconds",
        "cpu",
        "startup",
        "build",
        "render",
        "cache",
        "load",
        "lint",
        "write",
        "linted",
        "cached",
        "exit",
    ]
    rows = {
        line.split()[0]: dict(zip(header, line.split(), strict=False))
        for line in lines
        if line.split()[:1] in (["cold"], ["warm"]) and len(line.split()) == len(header)
    }
    assert set(rows) == {"cold", "warm"}
    for row in rows.values():
        assert all(float(row[k]) >= 0 for k in header[1:10]) and row["exit"] in ("0", "1")
    assert (int(rows["cold"]["linted"]), int(rows["cold"]["cached"])) == (len(SELECTION), 0)
    assert (int(rows["warm"]["linted"]), int(rows["warm"]["cached"])) == (0, len(SELECTION))
    assert float(rows["warm"]["load"]) == float(rows["warm"]["lint"]) == 0  # cfn-lint not even loaded
    assert any(line.startswith("reference: 6.5 s = one cfn-lint process") for line in lines)
    assert any(
        line.startswith(f"cold build of {len(SELECTION)} of {len(TEMPLATES)} templates: ") and "x reference" in line
        for line in lines
    )


@pytest.mark.e2e
def test_package_benchmark_prints_both_runs():
    out = _run("scripts/benchmark_package.py", "--only", ONLY)
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("full", "no-change"))}
    assert set(rows) == {"full", "no-change"}
    assert rows["no-change"][2:4] == ["0", "0"]  # the re-run uploads nothing: 0 objects, 0 bytes
    # The lint cache starts empty: the full release lints every packaged template, the re-run none.
    assert rows["full"][5:7] == [str(len(SELECTION)), "0"] and rows["no-change"][5:7] == ["0", str(len(SELECTION))]
