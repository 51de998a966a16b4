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


def test_generation_benchmark_prints_every_template():
    out = _run("scripts/benchmark.py", "--repeat", "1")
    assert {line.split()[0] for line in out.splitlines()[1:] if line.split()} >= set(TEMPLATES)
    assert "peak memory" in out


@pytest.mark.e2e
def test_package_benchmark_prints_both_runs():
    out = _run("scripts/benchmark_package.py")
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("full", "no-change"))}
    assert set(rows) == {"full", "no-change"}
    assert rows["no-change"][2:4] == ["0", "0"]  # the re-run uploads nothing: 0 objects, 0 bytes
