"""The lint cache: a cached result is the result a fresh lint gives, and anything that could change the result
(the template's bytes, a nested child it reads, cfn-lint's version, the lint options) makes it lint again.

Behaviour only, nothing timed (scripts/benchmark.py measures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import lint
from templates_src.lint import Linter, check
from templates_src.lint_cache import LintCache
from tests.conftest import REPO

# A parent with findings of every level, one of them (E3043) from reading its nested child.
PARENT = textwrap.dedent("""\
    AWSTemplateFormatVersion: "2010-09-09"
    Parameters:
      Unused:
        Type: String
    Resources:
      Child:
        Type: AWS::CloudFormation::Stack
        Properties:
          TemplateURL: child.yaml
          Parameters:
            Name: x
            Extra: y
      Bucket:
        Type: AWS::S3::Bucket
        Properties:
          BucketName: BAD_NAME
    """).encode()
CHILD = textwrap.dedent("""\
    AWSTemplateFormatVersion: "2010-09-09"
    Parameters:
      Name:
        Type: String
    Resources:
      Topic:
        Type: AWS::SNS::Topic
        Properties:
          TopicName: !Ref Name
    """).encode()
FILES = {"parent.yaml": PARENT, "child.yaml": CHILD}


@pytest.fixture
def cache(tmp_path):
    return LintCache(tmp_path / "lint-cache")


def results(report):
    """Everything a report shows: the table, the problems, the verdict and each finding."""
    return (report.table(), report.problems, report.failed, {rel: r.findings for rel, r in report.results.items()})


def entries(cache):
    return sorted(cache.folder.glob("*.json")) if cache.folder.exists() else []


def test_cached_result_equals_a_fresh_lint(linter, cache):
    fresh = check(FILES, linter)
    first = check(FILES, linter, cache=cache)
    again = check(FILES, linter, cache=cache)
    assert (first.linted, first.cached) == (2, 0)
    assert (again.linted, again.cached) == (0, 2)
    assert results(again) == results(first) == results(fresh)
    rules = {f.rule for f in again.results["parent.yaml"].findings}
    assert {"W2001", "W3002", "E3043", "E3031"} <= rules  # a template with findings, E3043 from its child
    assert again.failed and len(entries(cache)) == 2


def test_one_changed_byte_lints_again(linter, cache):
    check(FILES, linter, cache=cache)
    changed = {**FILES, "parent.yaml": PARENT.replace(b"BAD_NAME", b"BAD_NAMF")}
    report = check(changed, linter, cache=cache)
    assert (report.linted, report.cached) == (1, 1)  # the child is unchanged
    assert any("BAD_NAMF" in f.message for f in report.results["parent.yaml"].findings)
    assert results(report) == results(check(changed, linter))


def test_a_changed_child_lints_the_parent_again(linter, cache):
    """The parent's bytes are the same, but E3043 reads the child: a child that now declares the parameter
    changes the parent's findings."""
    check(FILES, linter, cache=cache)
    child = CHILD.replace(b"  Name:\n", b"  Extra:\n    Type: String\n  Name:\n")
    report = check({**FILES, "child.yaml": child}, linter, cache=cache)
    assert report.linted == 2
    assert "E3043" not in {f.rule for f in report.results["parent.yaml"].findings}
    # ... and a missing child is a dependency too: the parent is linted again and E3043 has nothing to compare.
    alone = check({"parent.yaml": PARENT}, linter, cache=cache)
    assert (alone.linted, alone.cached) == (1, 0)
    assert results(alone) == results(check({"parent.yaml": PARENT}, linter))


def test_another_cfn_lint_version_or_other_options_miss(linter, cache, monkeypatch):
    check(FILES, linter, cache=cache)
    assert check(FILES, linter, cache=cache).cached == 2
    assert check(FILES, Linter(("us-east-1", "eu-west-1")), cache=cache).cached == 0  # other regions
    monkeypatch.setattr(Linter, "INCLUDE_CHECKS", ("I", "E"))
    assert check(FILES, Linter(), cache=cache).cached == 0  # other rules
    monkeypatch.undo()
    monkeypatch.setattr(lint, "cfn_lint_version", lambda: "0.0.1")
    assert check(FILES, linter, cache=cache).cached == 0  # another cfn-lint
    monkeypatch.undo()
    from templates_src import __version__

    monkeypatch.setattr("templates_src.__version__", __version__ + "-next")
    assert check(FILES, linter, cache=cache).cached == 0  # another generator version
    monkeypatch.undo()
    assert check(FILES, linter, cache=cache).cached == 2  # the original entries are still there


def test_a_cfnlintrc_is_part_of_the_key(linter, cache, tmp_path, monkeypatch):
    """cfn-lint reads .cfnlintrc from the working folder (and the home folder): it can configure rules."""
    check(FILES, linter, cache=cache)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".cfnlintrc").write_text("ignore_checks:\n  - W2001\n")
    fresh = check(FILES, Linter(), cache=cache)
    assert fresh.cached == 0
    assert "W2001" not in {f.rule for f in fresh.results["parent.yaml"].findings}  # what the new file says
    assert check(FILES, linter, cache=cache).cached == 2  # a linter loaded before the file still is as it was


@pytest.mark.parametrize(
    "damage",
    [
        lambda entry, raw: b"",  # empty (a write cut short)
        lambda entry, raw: raw[: len(raw) // 2],  # truncated
        lambda entry, raw: b"\x00\xff not json",
        lambda entry, raw: json.dumps([entry]).encode(),  # not an entry
        lambda entry, raw: json.dumps({**entry, "format": 99}).encode(),  # another format
        lambda entry, raw: json.dumps({**entry, "findings": [["W2001", "three", "x"]]}).encode(),  # bad finding
        lambda entry, raw: json.dumps({**entry, "findings": None}).encode(),
        lambda entry, raw: json.dumps({**entry, "reads": []}).encode(),
    ],
)
def test_a_corrupted_entry_is_ignored_and_replaced(linter, cache, damage):
    expected = results(check(FILES, linter, cache=cache))
    for path in entries(cache):
        raw = path.read_bytes()
        path.write_bytes(damage(json.loads(raw), raw))
    report = check(FILES, linter, cache=cache)
    assert (report.linted, report.cached) == (2, 0)
    assert results(report) == expected
    assert check(FILES, linter, cache=cache).cached == 2  # rewritten whole


def test_a_foreign_entry_is_ignored(linter, cache):
    """An entry stored under another key's file name (copied, or written by something else) is not used."""
    check(FILES, linter, cache=cache)
    child_entry, parent_entry = sorted(entries(cache), key=lambda p: json.loads(p.read_bytes())["template"])
    parent_entry.write_bytes(child_entry.read_bytes())  # the child's (clean) findings for the parent
    report = check(FILES, linter, cache=cache)
    assert report.cached == 1 and report.failed
    assert results(report) == results(check(FILES, linter))


def test_nothing_is_cached_when_the_reads_cannot_be_followed(linter, cache, monkeypatch):
    """A cfn-lint whose nested-stack reads cannot be followed: results are right, but none is cached (a parent's
    entry could outlive a change of its child)."""
    monkeypatch.setattr(Linter, "_follow_children", lambda self: None)
    report = check(FILES, Linter(), cache=cache)
    assert report.linted == 2 and not entries(cache)
    assert results(report) == results(check(FILES, linter))


def test_an_unusable_cache_folder_only_costs_time(linter, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    report = check(FILES, linter, cache=LintCache(blocker))
    assert results(report) == results(check(FILES, linter))
    assert check(FILES, linter, cache=LintCache(blocker)).cached == 0


def test_entries_are_written_whole_and_pruned(linter, cache):
    check(FILES, linter, cache=cache)
    assert not list(cache.folder.glob(".tmp-*"))  # written to a temporary file, then renamed
    assert all(json.loads(p.read_bytes())["format"] for p in entries(cache))
    cache.prune(keep=1)
    assert len(entries(cache)) == 1


def test_parallel_lint_gives_the_serial_results(linter, tmp_path):
    for rel, data in FILES.items():
        (tmp_path / rel).write_bytes(data)
    (tmp_path / "other.yaml").write_bytes(PARENT.replace(b"Unused", b"Spare"))
    rels = ["parent.yaml", "child.yaml", "other.yaml"]
    assert linter.lint_many(tmp_path, rels, jobs=2) == linter.lint_many(tmp_path, rels, jobs=1)


def test_known_regions_are_cfn_lints():
    from cfnlint.helpers import REGIONS

    lint.known_regions.cache_clear()
    assert lint.known_regions() == frozenset(REGIONS)


# -- through the command line ---------------------------------------------------------------------------------


def build(out, *args, env=None):
    runner = CliRunner(env={"SM_MLOPS_TIMINGS": None, **(env or {})})  # the table only, no timings line
    return runner.invoke(
        generate.cli,
        ["build", "--output-dir", str(out), "--only", "env-iam-setup-stackset-role", *args],
        catch_exceptions=False,
    )


def test_build_uses_the_cache_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("SM_MLOPS_LINT_CACHE_DIR", str(tmp_path / "cache"))
    first = build(tmp_path / "a")
    again = build(tmp_path / "b")
    assert first.exit_code == again.exit_code == 0
    assert "from the cache" not in first.output and "lint results of 1 unchanged file(s) from the cache" in again.output
    table = [line for line in first.output.splitlines() if not line.startswith("1 file(s)")]
    assert table == [line for line in again.output.splitlines() if not line.startswith("1 file(s)")]
    # The only difference: the note at the end of the last line (the README's sample of a first build, made
    # with the cache, takes it off: readme_blocks.build_block).
    last = first.output.splitlines()[-1].replace(str(tmp_path / "a"), str(tmp_path / "b"))
    assert again.output.splitlines()[-1] == last + generate.CACHE_NOTE.format(1)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_cache_can_be_bypassed(tmp_path, monkeypatch, how):
    monkeypatch.setenv("SM_MLOPS_LINT_CACHE_DIR", str(tmp_path / "cache"))
    assert build(tmp_path / "a").exit_code == 0
    [entry] = (tmp_path / "cache").iterdir()
    planted = {**json.loads(entry.read_text()), "findings": [["E9999", 1, "planted in the cache"]]}
    entry.write_text(json.dumps(planted))
    args, env = (["--no-cache"], None) if how == "flag" else ([], {"SM_MLOPS_NO_LINT_CACHE": "1"})
    result = build(tmp_path / "b", *args, env=env)
    assert result.exit_code == 0 and "planted" not in result.output  # not read ...
    assert list((tmp_path / "cache").iterdir()) == [entry] and json.loads(entry.read_text()) == planted  # nor written
    used = build(tmp_path / "c")
    assert used.exit_code == 1 and "E9999 planted in the cache" in used.output  # what a build that reads it does


def test_the_program_prints_what_the_command_prints(tmp_path):
    """``python generate.py build`` (the installed command's ``main``: the interpreter's teardown skipped)
    prints the table and exits as the command run in-process does, cold and warm."""
    env = {**os.environ, "SM_MLOPS_LINT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SM_MLOPS_TIMINGS", None)
    expected = build(tmp_path / "in-process", "--no-cache")
    for run in ("cold", "warm"):
        result = subprocess.run(
            [
                sys.executable,
                "generate.py",
                "build",
                "--output-dir",
                str(tmp_path / "out"),
                "--only",
                "env-iam-setup-stackset-role",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == expected.exit_code, result.stderr
        assert result.stdout.splitlines()[:-1] == expected.output.splitlines()[:-1], run
        assert ("from the cache" in result.stdout) == (run == "warm")


def test_a_full_hit_does_not_import_cfn_lint(tmp_path):
    """A build whose lint results are all cached never imports cfn-lint (its import alone costs a third of a
    second), even with lint regions in the configuration (checked against cfn-lint's list)."""
    config = tmp_path / "config.yaml"
    config.write_text("lint_regions: [us-east-1, eu-west-1]\n")
    script = textwrap.dedent(f"""
        import sys
        from templates_src.cli import cli
        try:
            cli(["build", "--config", {str(config)!r}, "--output-dir", {str(tmp_path / "out")!r},
                 "--only", "env-iam-setup-stackset-role"], standalone_mode=False)
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        print(sorted(m for m in sys.modules if m == "cfnlint" or m.startswith("cfnlint.")))
    """)
    env = {**os.environ, "SM_MLOPS_LINT_CACHE_DIR": str(tmp_path / "cache")}

    def run():
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    cold = run()
    assert "'cfnlint'" in cold.splitlines()[-1] and "from the cache" not in cold
    warm = run()
    assert warm.splitlines()[-1] == "[]"
    assert "from the cache" in warm
