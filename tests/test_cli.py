"""The command line: build, list, lint, and how it treats bad input."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src.registry import TEMPLATES
from tests.conftest import REPO


def run(*args, **kwargs):
    return CliRunner().invoke(generate.cli, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    result = run("build", "--output-dir", str(out))
    return out, result


def test_build_writes_every_template_and_a_table(built):
    out, result = built
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.yaml")) == sorted(f"{n}.yaml" for n in TEMPLATES)
    assert (out / "lambda" / "get_environment_configuration.zip").is_file()
    header = result.output.splitlines()[0].split()
    assert header == ["template", "resources", "parameters", "bytes", "lint"]
    row = next(line for line in result.output.splitlines() if line.startswith("env-iam-setup-stackset-role.yaml"))
    cells = row.split()
    assert cells[1] == "1" and cells[2] == "4" and int(cells[3]) == (out / "env-iam-setup-stackset-role.yaml").stat().st_size
    assert cells[4] == "ok"
    assert "W3002" in next(line for line in result.output.splitlines() if line.startswith("core-main.yaml"))


def test_build_twice_gives_identical_bytes(built, tmp_path):
    out, _ = built
    assert run("build", "--output-dir", str(tmp_path)).exit_code == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes(), path.name


def test_json_and_both_formats(tmp_path):
    assert run("build", "--output-dir", str(tmp_path / "j"), "--format", "json").exit_code == 0
    assert sorted(p.suffix for p in (tmp_path / "j").glob("*.*")) == [".json"] * len(TEMPLATES)
    main = (tmp_path / "j" / "core-main.json").read_text()
    assert '"TemplateURL": "core-iam-shared-roles.json"' in main  # references follow the format
    assert run("build", "--output-dir", str(tmp_path / "b"), "--format", "both").exit_code == 0
    assert len(list((tmp_path / "b").glob("*.*"))) == 2 * len(TEMPLATES)


def test_only_builds_the_named_templates_and_what_they_nest(tmp_path):
    result = run("build", "--output-dir", str(tmp_path / "a"), "--only", "env-iam-setup-stackset-role")
    assert result.exit_code == 0
    assert [p.name for p in (tmp_path / "a").glob("*.yaml")] == ["env-iam-setup-stackset-role.yaml"]
    result = run("build", "--output-dir", str(tmp_path / "b"), "--only", "core-main,env-iam-target-account-roles")
    assert result.exit_code == 0
    assert sorted(p.stem for p in (tmp_path / "b").glob("*.yaml")) == sorted(
        ["core-main", "core-iam-shared-roles", "core-iam-sc-sm-projects-roles", "core-sc-shared-portfolio",
         "env-iam-target-account-roles"])


def test_unknown_template_is_a_usage_error(tmp_path):
    result = run("build", "--output-dir", str(tmp_path / "x"), "--only", "env-nope")
    assert result.exit_code == 2
    assert "--only: unknown template env-nope" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("content, field", [
    ("lambda_runtime: python3.8\n", "lambda_runtime"),
    ("colour: blue\n", "colour"),
    ("name_prefix: enterprise\n", "name_prefix"),  # valid alone, too long for the role names built from it
    ("tags: {aws:x: y}\n", "tags"),
])
def test_bad_configuration_exits_2_with_one_line_and_writes_nothing(tmp_path, content, field):
    config = tmp_path / "config.yaml"
    config.write_text(content)
    out = tmp_path / "out"
    result = run("build", "--config", str(config), "--output-dir", str(out))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), result.output
    assert not out.exists()


def test_bad_configuration_leaves_an_existing_build_untouched(built, tmp_path):
    out, _ = built
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    config = tmp_path / "c.yaml"
    config.write_text("role_path: nope\n")
    assert run("build", "--config", str(config), "--output-dir", str(out)).exit_code == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_configuration_is_applied(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("name_prefix: acme\nrole_path: /ml/\ntags: {Team: ml}\n")
    assert run("build", "--config", str(config), "--output-dir", str(tmp_path / "o")).exit_code == 0
    text = (tmp_path / "o" / "env-iam-setup-stackset-role.yaml").read_text()
    assert "Path: /ml/" in text and "Key: Team" in text and "acme-${EnvName}-${EnvType}-stackset-setup" in text


def test_list_names_and_describes_every_template():
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(TEMPLATES)
    assert all(len(line.split(None, 1)[1]) > 20 for line in lines)
    assert "[deploy directly]" in next(line for line in lines if line.startswith("env-iam-setup-stackset-role"))


def test_lint_passes_on_the_build_and_fails_on_a_broken_template(built, tmp_path):
    out, _ = built
    result = run("lint", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(TEMPLATES)
    assert "W3002 local path" in next(line for line in result.output.splitlines() if "core-main.yaml" in line)
    bad = tmp_path / "bad.yaml"
    bad.write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  F:\n    Type: AWS::Lambda::Function\n"
                   "    Properties:\n      Runtime: python3.8\n      Handler: i.h\n      Role: r\n"
                   "      Code: {ZipFile: x}\n")
    result = run("lint", str(bad))
    assert result.exit_code == 1
    assert "W2531" in result.output or "E" in result.output


def test_lint_packaged_flag_makes_local_paths_fail(built):
    out, _ = built
    assert run("lint", "--packaged", str(out / "core-main.yaml")).exit_code == 1


def test_real_process_exit_codes(tmp_path):
    """The README's command as a real process: exit 0 and files on disk; exit 2 on bad input."""
    env_ok = subprocess.run([sys.executable, str(REPO / "generate.py"), "build", "--output-dir", str(tmp_path / "o")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert env_ok.returncode == 0, env_ok.stderr
    assert (tmp_path / "o" / "core-main.yaml").is_file()
    bad = subprocess.run([sys.executable, str(REPO / "generate.py"), "build", "--format", "xml"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "xml" in bad.stderr
    assert not pathlib.Path(tmp_path / "build").exists()
