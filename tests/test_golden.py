"""Golden snapshots of every rendered template, for the default, an enterprise, a hardened and a pinned
configuration.

A change to any template shows up here as a readable diff.  Each configuration builds on the one before it
(``PARENT``: enterprise on default, hardened on enterprise, pinned on hardened), and its folder holds only the
templates that differ from its parent's: a template missing from ``golden/<flavour>/`` is its parent's, byte
for byte (no copies to keep in step).  After an intended change, refresh them with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and review the diff of tests/golden/ before committing.
"""

from __future__ import annotations

import difflib
import os
import pathlib

import pytest

from templates_src.generator import generate
from tests import cfn

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
FLAVOURS = ("default", "enterprise", "hardened", "pinned")
PARENT = {"enterprise": "default", "hardened": "enterprise", "pinned": "hardened"}


def snapshot(flavour: str) -> dict[str, bytes]:
    """Every template of ``flavour`` as its golden folders give it: its own files over its parent's."""
    inherited = snapshot(PARENT[flavour]) if flavour in PARENT else {}
    own = {p.name: p.read_bytes() for p in sorted((GOLDEN / flavour).glob("*.yaml"))}
    return {**inherited, **own}


def own_files(flavour: str, templates: dict[str, bytes], parent: dict[str, bytes]) -> dict[str, bytes]:
    """What ``golden/<flavour>/`` must hold: the templates that are not their parent's byte for byte."""
    return {rel: data for rel, data in templates.items() if parent.get(rel) != data}


@pytest.fixture(scope="module")
def rendered(configs) -> dict[str, dict[str, bytes]]:
    out = {}
    for flavour in FLAVOURS:
        files = generate(configs[flavour], fmt="yaml").files()
        out[flavour] = {rel: data for rel, data in files.items() if rel.endswith(".yaml")}
    return out


@pytest.fixture(scope="module")
def refreshed(rendered):
    """With UPDATE_GOLDEN=1, the folders are rewritten (parents first) before any comparison."""
    if UPDATE:
        for flavour in FLAVOURS:
            folder = GOLDEN / flavour
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.yaml"):
                old.unlink()
            parent = rendered[PARENT[flavour]] if flavour in PARENT else {}
            for rel, data in own_files(flavour, rendered[flavour], parent).items():
                (folder / rel).write_bytes(data)
    return rendered


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_templates_match_golden_snapshots(refreshed, flavour):
    templates = refreshed[flavour]
    expected = snapshot(flavour)
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


@pytest.mark.parametrize("flavour", [f for f in FLAVOURS if f in PARENT])
def test_a_flavour_keeps_no_copy_of_its_parents_templates(refreshed, flavour):
    """No golden file is a byte copy of what its parent's folders already give."""
    parent = snapshot(PARENT[flavour])
    copies = [p.name for p in (GOLDEN / flavour).glob("*.yaml") if parent.get(p.name) == p.read_bytes()]
    assert copies == [], f"golden/{flavour}/ repeats its parent's {copies}: refresh with UPDATE_GOLDEN=1"


def test_the_inheritance_check_can_fail(tmp_path):
    assert own_files("x", {"a.yaml": b"1", "b.yaml": b"2"}, {"a.yaml": b"1", "b.yaml": b"3"}) == {"b.yaml": b"2"}


def test_the_tests_read_templates_as_cfn_flip_does():
    """tests/cfn.py's ``load`` (cfn-flip's constructors on libyaml's parser) gives what ``cfn_flip.to_json`` gives,
    for a template with every short form the generator writes, and for JSON."""
    import json

    import cfn_flip

    text = (GOLDEN / "default" / "env-main.yaml").read_text()
    assert cfn.load(text) == json.loads(cfn_flip.to_json(text))
    assert "!Sub" in text and "!If" in text and "!Ref" in text and "Fn::GetAtt:" in text  # the forms it writes
    as_json = json.dumps(cfn.load(text))
    assert cfn.load(as_json) == json.loads(cfn_flip.to_json(as_json))
