"""The command line: build, list, lint, and how it treats bad input."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src.registry import TEMPLATES
from tests import cfn
from tests.conftest import ENTERPRISE, REPO


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
    written = cfn.load((out / "env-iam-setup-stackset-role.yaml").read_text())
    assert int(cells[1]) == len(written["Resources"]) and int(cells[2]) == len(written["Parameters"])
    assert int(cells[3]) == (out / "env-iam-setup-stackset-role.yaml").stat().st_size
    assert cells[4] == "ok"
    assert "W3002" in next(line for line in result.output.splitlines() if line.startswith("core-main.yaml"))


def test_build_twice_gives_identical_bytes(built, tmp_path):
    out, _ = built
    assert run("build", "--output-dir", str(tmp_path)).exit_code == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes(), path.name


def test_json_and_both_formats(tmp_path):
    """The formats through the command, on the portfolio and the two project templates it offers (every
    template's JSON is its YAML's template, which lints clean: tests/test_quality_gates.py)."""
    family = ["env-sc-portfolio", "project-model-build-train", "project-model-deploy"]
    only = ("--only", "env-sc-portfolio")
    assert run("build", "--output-dir", str(tmp_path / "j"), "--format", "json", *only).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "j").glob("*.*")) == [f"{n}.json" for n in family]
    portfolio = (tmp_path / "j" / "env-sc-portfolio.json").read_text()
    assert '"LoadTemplateFromURL": "project-model-deploy.json"' in portfolio  # references follow the format
    assert run("build", "--output-dir", str(tmp_path / "b"), "--format", "both", *only).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "b").glob("*.*")) == sorted(
        f"{n}.{x}" for n in family for x in ("json", "yaml")
    )


def test_only_builds_the_named_templates_and_what_they_nest(tmp_path):
    result = run("build", "--output-dir", str(tmp_path / "a"), "--only", "env-iam-setup-stackset-role")
    assert result.exit_code == 0
    assert [p.name for p in (tmp_path / "a").glob("*.yaml")] == ["env-iam-setup-stackset-role.yaml"]
    result = run("build", "--output-dir", str(tmp_path / "b"), "--only", "env-main,package-cfn")
    assert result.exit_code == 0
    assert sorted(p.stem for p in (tmp_path / "b").glob("*.yaml")) == sorted(
        [
            "env-main",
            "env-iam",
            "env-kms",
            "env-vpc",
            "env-vpc-egress",
            "env-s3",
            "env-sagemaker-studio",
            "env-sc-portfolio",
            "env-iam-target-account-roles",
            "env-target-account-network",
            "package-cfn",
            "project-model-build-train",
            "project-model-deploy",
        ]
    )


def test_unknown_template_is_a_usage_error(tmp_path):
    result = run("build", "--output-dir", str(tmp_path / "x"), "--only", "env-nope")
    assert result.exit_code == 2
    assert "--only: unknown template env-nope" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "content, field",
    [
        ("lambda_runtime: python3.8\n", "lambda_runtime"),
        ("colour: blue\n", "colour"),
        ("name_prefix: enterprise\n", "name_prefix"),  # valid alone, too long for the role names built from it
        ("tags: {aws:x: y}\n", "tags"),
    ],
)
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


# Another configuration than the default, built by several tests: the enterprise one of the test matrix, as a
# user writes it (its lint results are in the session's lint cache: conftest.pytest_sessionstart).
OTHER_CONFIG = yaml.safe_dump(ENTERPRISE)


def test_configuration_is_applied(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(OTHER_CONFIG)
    assert run("build", "--config", str(config), "--output-dir", str(tmp_path / "o")).exit_code == 0
    text = (tmp_path / "o" / "env-iam-setup-stackset-role.yaml").read_text()
    assert f"Path: {ENTERPRISE['role_path']}" in text and "Key: CostCenter" in text
    assert f"{ENTERPRISE['name_prefix']}-${{EnvName}}-${{EnvType}}-stackset-setup" in text


def test_list_names_and_describes_every_template():
    result = run("list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(TEMPLATES)
    assert [line.split()[1] for line in lines] == [spec.family for spec in TEMPLATES.values()]
    assert all(len(line.split(None, 2)[2]) > 20 for line in lines)
    assert "[deploy directly]" in next(line for line in lines if line.startswith("env-iam-setup-stackset-role"))


def test_lint_passes_on_the_build_and_fails_on_a_broken_template(built, tmp_path):
    out, _ = built
    result = run("lint", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.count(": ok") == len(TEMPLATES)
    core_main = next(line for line in result.output.splitlines() if "core-main.yaml" in line)
    assert "W3002 local path" in core_main
    # `build` linted these very bytes: lint takes its results from the lint cache; --no-cache lints afresh
    # and says the same.
    assert result.output.count(" [from the cache]") == len(TEMPLATES)
    fresh = run("lint", "--no-cache", str(out / "core-main.yaml"))
    assert fresh.exit_code == 0 and "from the cache" not in fresh.output
    assert fresh.output.splitlines()[-1].rsplit(" [", 1)[0] == core_main.rsplit(" [", 1)[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  F:\n    Type: AWS::Lambda::Function\n"
        "    Properties:\n      Runtime: python3.8\n      Handler: i.h\n      Role: r\n"
        "      Code: {ZipFile: x}\n"
    )
    result = run("lint", str(bad))
    assert result.exit_code == 1
    assert "W2531" in result.output or "E" in result.output
    again = run("lint", str(bad))  # findings come from the cache too, under the path given, and still fail
    assert again.exit_code == 1 and again.output.splitlines()[-1].endswith(" [from the cache]")
    assert again.output.splitlines()[:-1] == result.output.splitlines()[:-1]
    assert all(line.startswith(str(bad)) for line in again.output.splitlines())


def test_lint_packaged_flag_makes_local_paths_fail(built):
    out, _ = built
    assert run("lint", "--packaged", str(out / "core-main.yaml")).exit_code == 1


def test_real_process_exit_codes(tmp_path):
    """The README's command as a real process: exit 0 and files on disk; exit 2 on bad input."""
    env_ok = subprocess.run(
        [sys.executable, str(REPO / "generate.py"), "build", "--output-dir", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert env_ok.returncode == 0, env_ok.stderr
    assert (tmp_path / "o" / "core-main.yaml").is_file()
    bad = subprocess.run(
        [sys.executable, str(REPO / "generate.py"), "build", "--format", "xml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "xml" in bad.stderr
    assert not pathlib.Path(tmp_path / "build").exists()


def one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def old_build(folder: pathlib.Path) -> dict[pathlib.Path, bytes]:
    """An output folder holding an earlier build (other bytes than the next build writes)."""
    folder.mkdir()
    return old_build_into(folder)


def snapshot(folder: pathlib.Path) -> dict[pathlib.Path, bytes]:
    """Every file and folder under ``folder`` (folders map to None)."""
    return {p: p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def test_read_only_output_folder_keeps_its_files(tmp_path):
    out = tmp_path / "out"
    before = old_build(out)
    out.chmod(0o555)
    try:
        probe = out / ".probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("permissions do not stop writes here (running as root): see the variants below")
        result = run("build", "--output-dir", str(out))
        assert result.exit_code == 2
        assert one_error_line(result).startswith(f"error: --output-dir: cannot write {out}")
        assert snapshot(out) == before
    finally:
        out.chmod(0o755)


def test_output_folder_with_a_file_in_the_way_keeps_its_files(tmp_path):
    """Works as root too: lambda/ must be a folder, but an old file of that name is there.  The failure comes
    before the first file is replaced."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "lambda").write_text("not a folder\n")
    before = old_build_into(out)
    result = run("build", "--output-dir", str(out))
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: --output-dir: cannot write {out / 'lambda'}: File exists; nothing was changed there"
    )
    assert snapshot(out) == before


class FailingMoves:
    """``os.replace`` that fails (PermissionError, or the given exception) for the ``nth`` file moved into the
    output folder, and, if ``put_back`` names a file, for putting that file back: a folder whose subfolder is
    read-only, seen from a process permissions do not stop (root)."""

    def __init__(self, monkeypatch, nth: int, exc: BaseException | None = None, put_back: str | None = None):
        import os

        self.real, self.nth, self.exc, self.put_back, self.moves = os.replace, nth, exc, put_back, 0
        monkeypatch.setattr(os, "replace", self)

    def __call__(self, src, dst, **kwargs):
        src, dst = pathlib.Path(src), pathlib.Path(dst)
        if src.parent.name == "new" or "new" in src.parts:
            self.moves += 1
            if self.moves == self.nth:
                raise self.exc or PermissionError(13, "Permission denied", str(dst))
        elif self.put_back and dst.name == self.put_back:
            raise PermissionError(13, "Permission denied", str(dst))
        return self.real(src, dst, **kwargs)


@pytest.fixture()
def earlier_build(tmp_path):
    """An output folder holding a complete build of another configuration, and that configuration."""
    out = tmp_path / "out"
    assert run("build", "--output-dir", str(out)).exit_code == 0
    other = tmp_path / "other.yaml"
    other.write_text(OTHER_CONFIG)
    return out, other, snapshot(out)


def test_a_move_failing_midway_puts_the_earlier_build_back(earlier_build, monkeypatch):
    """Issue 15 item 5: before, the files moved before the failure stayed new and the rest old, and the message
    said nothing had changed.  Any failure while files move puts every moved file back."""
    out, other, before = earlier_build
    moves = FailingMoves(monkeypatch, nth=5)
    result = run("build", "--config", str(other), "--output-dir", str(out))
    assert moves.moves == 5  # four files had been replaced when the fifth failed
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"error: --output-dir: cannot write {out}/") and line.endswith(
        ": Permission denied; nothing was changed there"
    )
    assert snapshot(out) == before


def test_an_interrupted_move_puts_the_earlier_build_back(earlier_build, monkeypatch):
    out, other, before = earlier_build
    FailingMoves(monkeypatch, nth=3, exc=KeyboardInterrupt())
    result = run("build", "--config", str(other), "--output-dir", str(out))
    assert result.exit_code == generate.EXIT_INTERRUPTED
    assert snapshot(out) == before


def test_a_file_that_cannot_be_put_back_is_named(earlier_build, monkeypatch):
    """When undoing fails too, the error says which files are from the new build instead of claiming nothing
    changed."""
    out, other, before = earlier_build
    FailingMoves(monkeypatch, nth=5, put_back="core-main.yaml")
    result = run("build", "--config", str(other), "--output-dir", str(out))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert (
        "; 1 file(s) already replaced could not be put back and are from the new build (core-main.yaml); the "
        f"other files are the old build: run the build again once {out} can be written"
    ) in line
    after = snapshot(out)
    assert after[out / "core-main.yaml"] != before[out / "core-main.yaml"]
    assert {p: b for p, b in after.items() if p.name != "core-main.yaml"} == {
        p: b for p, b in before.items() if p.name != "core-main.yaml"
    }


def old_build_into(folder: pathlib.Path) -> dict[pathlib.Path, bytes]:
    (folder / "core-main.yaml").write_text("old: core-main\n")
    (folder / "env-iam-setup-stackset-role.yaml").write_text("old: setup\n")
    return snapshot(folder)


def test_output_folder_under_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    result = run("build", "--output-dir", str(out))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith(f"error: --output-dir: cannot write {out}") and line.endswith("nothing was changed there")


def test_configuration_file_that_is_not_utf8(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_bytes(b"tags: {Owner: caf\xe9}\n")
    result = run("build", "--config", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert (
        one_error_line(result)
        == f"error: config: {config} is not UTF-8 text (byte 0xe9 at offset 17): save it as UTF-8"
    )
    assert not (tmp_path / "out").exists()


def test_lint_with_an_unknown_region(built):
    out, _ = built
    result = run("lint", "--region", "mars-1", str(out))
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "error: --region: unknown region 'mars-1': give regions cfn-lint knows, like us-east-1 or eu-west-1"
    )


@pytest.mark.parametrize("value", ["", " ", "env-iam-setup-stackset-role,", ",env-iam-setup-stackset-role"])
def test_only_with_an_empty_name_is_an_error(tmp_path, value):
    result = run("build", "--output-dir", str(tmp_path / "x"), "--only", value)
    assert result.exit_code == 2
    assert one_error_line(result) == (
        f"error: --only: {value!r} has an empty template name: give template names "
        "separated by commas (see `generate.py list`)"
    )
    assert not (tmp_path / "x").exists()


def test_only_ignores_spaces_around_names(tmp_path):
    result = run(
        "build", "--output-dir", str(tmp_path), "--only", "env-iam-setup-stackset-role, env-iam-target-account-roles "
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in tmp_path.glob("*.yaml")) == [
        "env-iam-setup-stackset-role",
        "env-iam-target-account-roles",
    ]


@pytest.mark.parametrize(
    "name, ok",
    [
        ("mlops-releases", True),
        ("my.bucket.1", True),
        ("abc", True),
        ("a" * 63, True),
        ("a..b", False),
        ("a.-b", False),
        ("a-.b", False),
        ("192.168.1.10", False),
        ("ab", False),
        ("a" * 64, False),
        ("xn--abc", False),
        ("sthree-abc", False),
        ("amzn-s3-demo-abc", False),
        ("abc-s3alias", False),
        ("abc--ol-s3", False),
        ("abc--x-s3", False),
        ("Abc", False),
        ("abc-", False),
        (".abc", False),
    ],
)
def test_bucket_name_rule_of_the_option_and_the_templates(name, ok):
    import re

    from templates_src.blocks.parameters import BUCKET_NAME

    assert generate.BUCKET_NAME == BUCKET_NAME  # one rule for `package --bucket` and the templates' parameters
    assert bool(re.fullmatch(BUCKET_NAME, name)) is ok
    if not ok:
        result = run("package", "--bucket", name, "--dry-run")
        assert result.exit_code == 2
        assert one_error_line(result).startswith(f"error: --bucket: {name!r} is not an S3 bucket name (3 to 63")
