"""The whole repository is ruff-clean: lint (pyflakes, pycodestyle, import order, bugbear) and format, as
configured in pyproject.toml [tool.ruff].  Run by the README's test command, so CI fails on a finding.

Fix with `.venv/bin/ruff format . && .venv/bin/ruff check --fix .`."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def ruff() -> str:
    found = pathlib.Path(sys.executable).with_name("ruff")
    if found.exists():
        return str(found)
    on_path = shutil.which("ruff")
    if on_path is None:
        pytest.fail("ruff is not installed: it is in the test lock (requirements/test.txt)")
    return on_path


@pytest.mark.parametrize("check", [["check", "--output-format", "concise"], ["format", "--check"]])
def test_ruff_finds_nothing(check):
    result = subprocess.run([ruff(), *check, "."], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_sees_the_project_code():
    """The check above is not vacuous: ruff looks at the project's own files (and a finding makes it fail)."""
    listed = subprocess.run(
        [ruff(), "check", "--show-files", "."], cwd=REPO, capture_output=True, text=True, timeout=300
    ).stdout
    for path in ("templates_src/cli.py", "tests/conftest.py", "scripts/update_readme.py", "generate.py"):
        assert str(REPO / path) in listed, path
    bad = subprocess.run(
        [ruff(), "check", "--stdin-filename", "templates_src/x.py", "-"],
        input="import os\n",
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "F401" in bad.stdout
