"""The README says what the code does: its figures and samples are produced by the tool (generated blocks,
``scripts/update_readme.py``), and every guarantee it makes names the test that proves it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from templates_src import readme_blocks

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
TEST_REFERENCE = re.compile(r"`((?:tests|seed_code)/[\w/.-]+\.py)::(test_\w+)`")


def _block(name: str) -> str:
    match = next(m for m in readme_blocks.BLOCK.finditer(README) if m.group("name") == name)
    return match.group("body")


def test_the_readme_has_every_generated_block_once():
    assert sorted(readme_blocks.names_in(README)) == sorted(readme_blocks.PRODUCERS)


@pytest.mark.parametrize("name", sorted(readme_blocks.PRODUCERS))
def test_generated_blocks_are_what_the_code_produces_now(name):
    """Run ``python scripts/update_readme.py`` after a change that moves a figure."""
    assert _block(name) == readme_blocks.PRODUCERS[name](), (
        f"README block {name} is stale: run scripts/update_readme.py"
    )


def test_the_escalation_figures_show_no_path():
    rows = [line for line in _block("escalation").splitlines()[2:] if line.startswith("|")]
    assert len(rows) == 9  # three scenarios, three personas
    assert {line.rsplit("|", 2)[1].strip() for line in rows} == {"0"}


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_guarantee_names_a_test_that_exists():
    section = README.split("<!-- guarantees -->", 1)[1].split("<!-- /guarantees -->", 1)[0]
    guarantees = [g for g in re.split(r"\n\* ", "\n" + section.strip()) if g.strip()]
    assert len(guarantees) >= 10
    for guarantee in guarantees:
        named = TEST_REFERENCE.findall(guarantee)
        assert named, f"a guarantee without its test: {guarantee[:80]!r}"
        for file, test in named:
            assert test in _defined_tests(REPO / file), f"{file}::{test} does not exist"


def test_the_guarantee_check_can_fail(tmp_path):
    assert not TEST_REFERENCE.findall("* KMS keys rotate (a test somewhere).")
    assert "test_nothing_like_this" not in _defined_tests(REPO / "tests" / "test_readme.py")


def outside_references(text: str) -> list[str]:
    """Paths and links of the README that leave the repository or name a file it does not hold."""
    found = re.findall(r"(?<![\w/.])\.\./[\w./-]+", text)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+://|mailto:", target) and not (REPO / target).exists():
            found.append(target)
    return found


def test_the_readme_refers_to_nothing_outside_the_repository():
    """A user clones only this repository: every relative link resolves inside it, and no path leaves it."""
    assert outside_references(README) == []


def test_the_outside_reference_check_can_fail():
    assert outside_references("run `../shared/tools/x.py` and see [docs](docs/nothing-here.md)") == [
        "../shared/tools/x.py",
        "docs/nothing-here.md",
    ]
