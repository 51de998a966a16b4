"""Golden snapshots of every rendered template, for the default, an enterprise, a hardened and a pinned
configuration.

A change to any template shows up here as a readable diff.  After an intended change, refresh them with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

import difflib
import os
import pathlib

import pytest

from templates_src.generator import generate

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module", params=["default", "enterprise", "hardened", "pinned"])
def rendered(request, configs):
    return request.param, generate(configs[request.param], fmt="yaml").files()


def test_templates_match_golden_snapshots(rendered):
    flavour, files = rendered
    folder = GOLDEN / flavour
    templates = {rel: data for rel, data in files.items() if rel.endswith(".yaml")}
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        for rel, data in templates.items():
            (folder / rel).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in sorted(folder.glob("*.yaml"))}
    assert sorted(expected) == sorted(templates), "templates added or removed: refresh with UPDATE_GOLDEN=1"
    for rel, data in templates.items():
        if data != expected[rel]:
            diff = "".join(
                difflib.unified_diff(
                    expected[rel].decode().splitlines(True),
                    data.decode().splitlines(True),
                    f"golden/{flavour}/{rel}",
                    f"generated/{rel}",
                    n=2,
                )
            )
            pytest.fail(f"{rel} differs from its golden snapshot (UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}")
