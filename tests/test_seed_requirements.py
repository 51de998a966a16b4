"""The SageMaker Python SDK range of the build/train seed code: one range in the seed's requirements.txt (what its
CodeBuild build installs), its pyproject.toml (what `pip install .` of the seed checks) and setup.cfg (what the test
environment is locked from), and the locked release inside it, so CI tests a release the projects' builds may get.
scripts/seed_newest.sh runs the seed's tests against the newest release of the range."""

from __future__ import annotations

import configparser
import pathlib
import re
import shlex
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED = ROOT / "seed_code" / "model-build-train"
# What the seed's pipeline needs first arrived with this SDK release (sagemaker-core 2.25); its next major version
# may remove the APIs the seed uses.
FLOOR, CEILING = Version("3.25"), Version("4")


def _requirement(lines, name: str = "sagemaker") -> Requirement:
    found = [Requirement(line) for line in lines if line.strip() and Requirement(line).name == name]
    assert len(found) == 1, f"{name} is required once, found {len(found)}"
    return found[0]


def _lines(text: str) -> list[str]:
    return [re.sub(r"\s+#.*", "", line).strip() for line in text.splitlines() if not line.lstrip().startswith("#")]


def seed_requirements() -> Requirement:
    return _requirement(_lines((SEED / "requirements.txt").read_text()))


def seed_project() -> Requirement:
    return _requirement(tomllib.loads((SEED / "pyproject.toml").read_text())["project"]["dependencies"])


def locked_environment() -> Requirement:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return _requirement(_lines(cfg["options.extras_require"]["test"]))


def locked(name: str = "sagemaker") -> Version:
    match = re.search(rf"^{re.escape(name)}==([^ ;\\]+)", (ROOT / "requirements" / "test.txt").read_text(), re.M)
    assert match, f"{name} is not in requirements/test.txt"
    return Version(match.group(1))


def test_the_seeds_sdk_range_is_one_range_everywhere():
    ranges = {str(r.specifier) for r in (seed_requirements(), seed_project(), locked_environment())}
    assert len(ranges) == 1, ranges


@pytest.mark.parametrize(
    ("version", "admitted"),
    [(FLOOR, True), (Version("3.27.0"), True), (Version("3.99.1"), True), (Version("3.24.9"), False), (CEILING, False)],
)
def test_the_range_admits_every_3x_release_from_the_one_the_seed_needs(version, admitted):
    assert seed_requirements().specifier.contains(version) is admitted


def test_ci_tests_a_release_inside_the_range():
    assert seed_requirements().specifier.contains(locked())


def test_the_newest_release_script_upgrades_within_the_seeds_own_range_and_runs_the_seeds_tests():
    run = subprocess.run(
        ["bash", "scripts/seed_newest.sh", "--dry-run"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    commands = [shlex.split(line[2:]) for line in run.stderr.splitlines() if line.startswith("+ ")]
    upgrade = next(c for c in commands if "--upgrade" in c)
    assert upgrade[upgrade.index("-r") + 1] == str(SEED.relative_to(ROOT) / "requirements.txt")
    assert "--require-hashes" in next(c for c in commands if "requirements/test.txt" in c)
    assert commands.index(upgrade) < len(commands) - 1
    assert commands[-1][commands[-1].index("pytest") :] == ["pytest", "-p", "no:cacheprovider", "seed_code"]
