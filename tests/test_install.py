"""The wheel installs and works anywhere: `pip install .` into a new virtual environment, then the installed
`sm-mlops-templates` runs from another working directory, with no checkout in reach.

The wheel is built from a copy of the tracked sources (nothing is written into the checkout) with the test
environment's setuptools; the new environment borrows the test environment's dependencies through a
``.pth`` line (no download: tests never reach the internet), while the project itself comes only from the
wheel: ``.pth`` files of a borrowed folder are not executed, so the checkout's editable install stays out.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile

import pytest

from templates_src.registry import TEMPLATES
from tests.conftest import REPO

SOURCES = ("templates_src", "setup.cfg", "pyproject.toml", "README.md", "generate.py")


def run(*args, cwd, env=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(map(str, args)), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> pathlib.Path:
    """A copy of the tracked sources holding a generator output folder, as a user's checkout would."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    (source / "build").mkdir()
    (source / "build" / "core-main.yaml").write_text("generated\n")
    return source


@pytest.fixture(scope="module")
def wheel(checkout, tmp_path_factory) -> pathlib.Path:
    source = checkout
    out = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "-w",
        out,
        source,
        cwd=source,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> pathlib.Path:
    """A new virtual environment with the wheel installed; returns its bin folder."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = pathlib.Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=env_dir).stdout.strip()
    )
    (purelib / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel, cwd=env_dir)
    return env_dir / "bin"


def test_wheel_holds_every_package_and_no_top_level_scripts(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top_level == {"templates_src"}  # no `scripts` or `generate` module to collide with others
    source_packages = {
        str(p.parent.relative_to(REPO)) for p in (REPO / "templates_src").rglob("*.py") if "__pycache__" not in p.parts
    }
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith(".py")}
    assert source_packages <= packaged, f"left out of the wheel: {sorted(source_packages - packaged)}"
    assert {"templates_src/compatibility.yaml", "templates_src/checks/iam_coverage.yaml"} <= set(names)


def test_building_the_wheel_leaves_the_generators_output_folder_alone(wheel, checkout):
    """`pip install .` used to put setuptools' build/lib and build/bdist.* into build/, the generator's
    default output folder; setup.cfg sends them to a folder of their own that git ignores."""
    assert sorted(p.name for p in (checkout / "build").iterdir()) == ["core-main.yaml"]
    ignored = (REPO / ".gitignore").read_text().split()
    made = sorted(d.name for d in checkout.iterdir() if d.is_dir() and d.name not in (*SOURCES, "build"))
    assert any((checkout / name / "lib").is_dir() for name in made), made  # setuptools' files went elsewhere
    assert all(f"{name}/" in ignored or name.endswith(".egg-info") for name in made), made


def test_installed_command_lists_and_builds_from_another_directory(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    command = installed / "sm-mlops-templates"

    where = run(
        installed / "python", "-c", "import templates_src; print(templates_src.__file__)", cwd=elsewhere, env=env
    ).stdout.strip()
    assert str(REPO) not in where and where.startswith(str(installed.parent)), where

    listed = run(command, "list", cwd=elsewhere, env=env).stdout
    assert [line.split()[0] for line in listed.splitlines()] == list(TEMPLATES)

    built = run(command, "build", "--output-dir", "out", cwd=elsewhere, env=env)
    written = sorted(p.name for p in (elsewhere / "out").glob("*.yaml"))
    assert written == sorted(f"{name}.yaml" for name in TEMPLATES), built.stdout
    assert "lint" in built.stdout.splitlines()[0]
