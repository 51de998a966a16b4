"""Reproducible installs: the lock files under requirements/ cover every requirement of setup.cfg within its
range, pin every package with its hashes, agree with each other, and are what the README's commands, CI and
package-cfn's build install; the environment these tests run in is the locked one.

The locks are made by scripts/update_locks.sh (uv's ``pip compile``); setup.cfg keeps ranges for users who
install the package into environments of their own.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import subprocess

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

RUNTIME, TEST, CHECKOV = (REPO / "requirements" / name for name in ("runtime.txt", "test.txt", "checkov.txt"))


def pins(lock) -> list[tuple[Requirement, list[str]]]:
    """Each pinned requirement of a lock file (continuation lines joined) with its hashes."""
    text = lock.read_text(encoding="utf-8")
    entries = []
    for logical in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = logical.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
        requirement = Requirement(re.sub(r"\s*--hash=\S+", "", line).strip())
        entries.append((requirement, hashes))
    return entries


def pinned_version(requirement: Requirement) -> str:
    [spec] = requirement.specifier
    assert spec.operator == "==", requirement
    return spec.version


def applicable(lock) -> dict[str, str]:
    """Name -> version of the pins whose markers hold for this interpreter and platform."""
    return {
        canonicalize_name(r.name): pinned_version(r) for r, _ in pins(lock) if r.marker is None or r.marker.evaluate()
    }


def setup_requirements(extra: str | None = None) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    text = config["options.extras_require"][extra] if extra else config["options"]["install_requires"]
    return [Requirement(line.split("#", 1)[0].strip()) for line in text.splitlines() if line.split("#", 1)[0].strip()]


def build_requirements_of(path) -> list[Requirement]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in (x.split("#", 1)[0].strip() for x in lines) if line]


def build_requirements() -> list[Requirement]:
    return build_requirements_of(REPO / "requirements" / "build.in")


@pytest.mark.parametrize("lock", [RUNTIME, TEST, CHECKOV], ids=lambda p: p.name)
def test_every_package_is_pinned_once_per_marker_with_hashes(lock):
    entries = pins(lock)
    assert len(entries) > 10
    for requirement, hashes in entries:
        pinned_version(requirement)
        assert hashes, f"{lock.name}: {requirement} has no hash"
    seen = [(canonicalize_name(r.name), str(r.marker)) for r, _ in entries]
    assert len(seen) == len(set(seen)), f"{lock.name} pins a package twice for the same marker"


@pytest.mark.parametrize(
    "lock, wanted",
    [
        (RUNTIME, lambda: setup_requirements() + build_requirements()),
        (TEST, lambda: setup_requirements() + setup_requirements("test") + build_requirements()),
    ],
    ids=["runtime", "test"],
)
def test_every_requirement_is_locked_within_its_range(lock, wanted):
    locked = applicable(lock)
    for requirement in wanted():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} of setup.cfg is not in {lock.name}: run scripts/update_locks.sh"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock.name} pins {name}=={locked[name]}, outside setup.cfg's {requirement}: run scripts/update_locks.sh"
        )


def test_checkov_lock_pins_the_scanner_version_install_scanners_installs():
    script = (REPO / "scripts" / "install_scanners.sh").read_text(encoding="utf-8")
    version = re.search(r"^CHECKOV_VERSION=(\S+)$", script, re.M).group(1)
    assert applicable(CHECKOV)["checkov"] == version
    assert '--require-hashes -r "$CHECKOV_LOCK"' in script and "CHECKOV_LOCK=requirements/checkov.txt" in script


def test_runtime_lock_has_the_test_lock_versions():
    """What users and package-cfn install is what the suite ran with."""
    test = {(canonicalize_name(r.name), str(r.marker)): pinned_version(r) for r, _ in pins(TEST)}
    for requirement, _ in pins(RUNTIME):
        key = (canonicalize_name(requirement.name), str(requirement.marker))
        assert test.get(key) == pinned_version(requirement), f"runtime.txt {requirement} vs test.txt {test.get(key)}"


def test_the_test_environment_is_the_locked_one():
    """Every package the test lock pins for this interpreter is installed at that version."""
    differences = {}
    for name, version in applicable(TEST).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differences[name] = (version, installed)
    assert not differences, (
        "the test environment is not requirements/test.txt (locked, installed): "
        f"{differences}; install it with the README's test command"
    )


def readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("## Commands")]
    return re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)


def test_readme_and_ci_install_from_the_locks():
    build, test = readme_commands()
    assert build.split(" && ")[0] == "bash scripts/install_venv.sh runtime", build
    assert test.split(" && ")[0] == "bash scripts/install_venv.sh test", test
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines(), "CI does not run the README's test command"
    assert "bash scripts/install_scanners.sh" in ci
    # The plain-pip way the README gives installs the same lock the same way.
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert (
        "`python3 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements/test.txt && "
        ".venv/bin/pip install --no-deps --no-build-isolation -e .`"
    ) in readme


def _fake(path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(0o755)


@pytest.fixture()
def checkout(tmp_path):
    """A copy of the scripts and locks, with a python3 whose `-m venv DIR` makes DIR/bin/python, a fake
    that logs its arguments and, for `-m pip install`, makes DIR/bin/uv (another logging fake)."""
    repo = tmp_path / "repo"
    for sub in ("scripts", "requirements"):
        for source in (REPO / sub).iterdir():
            if source.is_file():
                (repo / sub).mkdir(parents=True, exist_ok=True)
                (repo / sub / source.name).write_bytes(source.read_bytes())
    log = tmp_path / "calls"
    logger = f'echo "$(basename "$0") $*" >> {log}\n'
    _fake(
        tmp_path / "bin" / "python3",
        logger + 'if [[ $1 == -m && $2 == venv ]]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi\n'
        'if [[ $1 == -m && $2 == pip ]]; then d=$(dirname "$0"); printf \'%s\' "$(cat "$0")" > "$d/uv"; '
        'chmod +x "$d/uv"; fi\n',
    )
    return repo, tmp_path / "bin" / "python3", log


def _bash(repo, script, *args, python):
    return subprocess.run(
        ["bash", f"scripts/{script}", *args],
        cwd=repo,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_venv_installs_the_lock_with_its_hashes_then_the_project_with_pinned_uv(checkout):
    repo, python, log = checkout
    result = _bash(repo, "install_venv.sh", "test", python=python)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    uv_dir = repo / ".tools" / "uv"
    assert calls == [
        f"python3 -m venv {uv_dir.relative_to(repo)}",
        "python -m pip install --disable-pip-version-check --require-hashes -r requirements/uv.txt",
        "uv --version",
        "python3 -m venv .venv",
        "uv pip install --python .venv/bin/python --link-mode copy --compile-bytecode --require-hashes -r "
        "requirements/test.txt",
        "uv pip install --python .venv/bin/python --link-mode copy --no-deps --no-build-isolation -e .",
    ]
    # A second run reuses the installed uv (its lock unchanged) and installs the runtime lock if asked.
    log.unlink()
    assert _bash(repo, "install_venv.sh", "runtime", python=python).returncode == 0
    assert [c for c in log.read_text().splitlines() if "requirements/" in c] == [
        "uv pip install --python .venv/bin/python --link-mode copy --compile-bytecode --require-hashes -r "
        "requirements/runtime.txt"
    ]
    # A changed uv lock installs uv again.
    (repo / "requirements" / "uv.txt").write_text((repo / "requirements" / "uv.txt").read_text() + "\n")
    log.unlink()
    assert _bash(repo, "install_uv.sh", python=python).stdout.strip() == str(uv_dir / "bin" / "uv")
    assert "--require-hashes -r requirements/uv.txt" in log.read_text()


def test_install_venv_refuses_an_unknown_lock(checkout):
    repo, python, log = checkout
    result = _bash(repo, "install_venv.sh", "dev", python=python)
    assert result.returncode == 2 and result.stderr == "usage: bash scripts/install_venv.sh runtime|test\n"
    assert not log.exists()


def test_uv_is_locked_with_hashes_at_the_version_of_its_requirement():
    [(requirement, hashes)] = pins(REPO / "requirements" / "uv.txt")
    [wanted] = build_requirements_of(REPO / "requirements" / "uv.in")
    assert canonicalize_name(requirement.name) == "uv" and str(requirement.specifier) == str(wanted.specifier)
    assert len(hashes) > 5  # a wheel per platform
    update = (REPO / "scripts" / "update_locks.sh").read_text(encoding="utf-8")
    assert "compile requirements/uv.txt requirements/uv.in" in update and "uv=$(bash scripts/install_uv.sh)" in update
