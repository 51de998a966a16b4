"""cfn-lint (in-process, informational rules included) and reference parity, for every configuration."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from dataclasses import dataclass

import pytest

from templates_src import references
from templates_src.config import Config
from templates_src.generator import generate, write
from templates_src.lint import shared_linter
from templates_src.lint_cache import LintCache
from templates_src.registry import TEMPLATES
from tests import cfn
from tests.conftest import REPO, SHARED


@dataclass
class Written:
    folder: pathlib.Path
    config: Config
    lint: object = None  # lint.Report of the YAML files, in the configuration's lint_regions


@pytest.fixture(scope="module", params=["default", "enterprise", "hardened", "pinned"])
def written(request, tmp_path_factory, configs):
    out = tmp_path_factory.mktemp(request.param)
    config = configs[request.param]
    write(generate(config, fmt="both").files(), out)
    # Linted as `generate.py build` lints (the same path, the session's lint cache: a template another test
    # already linted with the same bytes, children and cfn-lint options is not linted again).
    report = generate(config, fmt="yaml").lint(shared_linter(tuple(config.lint_regions)), cache=LintCache.default())
    return Written(out, config, report)


def test_json_and_yaml_are_the_same_template(written):
    """The JSON files are linted through this equality: the same template as the YAML, whose local references
    name the sibling files of their own format."""
    for name in TEMPLATES:
        as_json = (written.folder / f"{name}.json").read_text()
        for other in TEMPLATES:
            as_json = as_json.replace(f'"{other}.json"', f'"{other}.yaml"')
        assert cfn.load(as_json) == cfn.load((written.folder / f"{name}.yaml").read_text()), name


def test_cfn_lint_reports_nothing_but_local_packaging_paths(written):
    """In every region the configuration is linted for (`lint_regions`: the enterprise configurations add
    eu-central-1)."""
    files = sorted(written.folder.glob("*.yaml"))
    assert sorted(p.name for p in files) == sorted(f"{n}.yaml" for n in TEMPLATES) == sorted(written.lint.results)
    for path in files:
        result = written.lint.results[path.name]
        reported = [str(f) for f in result.findings if not result.tolerated(f)]
        assert reported == [], path.name
        tolerated = [f for f in result.findings if result.tolerated(f)]
        # W3002 on exactly the local paths packaging rewrites: nested stacks and function packages
        # (Service Catalog product URLs are not a packaging property cfn-lint knows).
        local = [
            r
            for r in references.iter_references(cfn.load(path.read_text()))
            if r.kind in ("nested-stack", "lambda-code")
        ]
        assert len(tolerated) == len(local), path.name


def test_packaged_lint_does_not_tolerate_local_paths(written, linter):
    result = linter.lint(written.folder / "core-main.yaml", packaged=True)
    assert result.failed and {f.rule for f in result.findings} == {"W3002"}


@pytest.mark.skipif(not (SHARED / "tools" / "parity.py").exists(), reason="../shared/tools not beside the repo")
def test_reference_parity_is_complete(written):
    proc = subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "parity.py"),
            "--strict",
            "--only-present",
            str(written.folder),
            "--deviations",
            str(REPO / "templates_src" / "compatibility.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 unexplained" in proc.stdout.splitlines()[-1]
