"""Automation interfaces (issue 16, item 7): ``--output json`` on build, list, lint and package (one JSON
document on standard output, progress and tables on standard error, the documented exit codes), and
``lint --format sarif`` (a SARIF 2.1.0 log on standard output)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import jsonschema
import pytest
import yaml

from templates_src.registry import TEMPLATES
from tests.conftest import REPO
from tests.test_package import BUCKET, PREFIX, TARGETS, objects, package

SMALL = "env-iam-setup-stackset-role"  # a template that builds and lints in well under a second


def run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "generate.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def document(result) -> dict:
    """The one JSON document a run wrote on standard output (nothing else is there)."""
    return json.loads(result.stdout)


def test_list_as_json_is_the_registry():
    result = run("list", "--output", "json")
    assert result.returncode == 0, result.stderr
    doc = document(result)
    assert doc["command"] == "list" and doc["exit_code"] == 0 and doc["errors"] == []
    assert [t["name"] for t in doc["templates"]] == list(TEMPLATES)
    assert {t["name"] for t in doc["templates"] if t["deploy_directly"]} == {
        name for name, spec in TEMPLATES.items() if spec.deploy_directly
    }


def test_build_as_json_lists_the_files_written_and_their_findings_with_the_table_on_stderr(tmp_path):
    out = tmp_path / "out"
    result = run("build", "--output", "json", "--only", f"{SMALL},core-main", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    doc = document(result)
    assert doc["exit_code"] == 0 and doc["output_dir"] == str(out) and doc["lint_failed"] is False
    assert sorted(row["file"] for row in doc["files"]) == sorted(p.name for p in out.glob("*.yaml"))
    main = next(row for row in doc["files"] if row["template"] == "core-main")
    written = yaml.load((out / "core-main.yaml").read_text(), Loader=yaml.BaseLoader)
    assert main["resources"] == len(written["Resources"]) and main["bytes"] == (out / "core-main.yaml").stat().st_size
    # core-main nests local files: W3002, tolerated before packaging, and said so
    assert main["findings"] and {(f["rule"], f["tolerated"]) for f in main["findings"]} == {("W3002", True)}
    assert doc["function_packages"] == sorted(p.relative_to(out).as_posix() for p in out.glob("lambda/*.zip"))
    assert "template" in result.stderr and "resources" in result.stderr  # the human table, on stderr


def test_bad_input_as_json_gives_the_exit_code_and_the_error_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("role_path: ml\n")
    result = run("build", "--output", "json", "--config", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    doc = document(result)
    assert doc["exit_code"] == 2 and doc["command"] == "build"
    (line,) = doc["errors"]
    assert line.startswith("role_path: ") and f"error: {line}" in result.stderr.splitlines()
    assert not (tmp_path / "out").exists()


@pytest.fixture
def broken(tmp_path) -> pathlib.Path:
    """A folder with a template cfn-lint fails (an unknown property and a bad reference) and a clean one."""
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Resources:\n"
        "  Bucket:\n"
        "    Type: AWS::S3::Bucket\n"
        "    Properties:\n"
        "      NoSuchProperty: 1\n"
        "Outputs:\n"
        "  Name:\n"
        "    Value: !Ref Missing\n"
    )
    (folder / "good.yaml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    )
    return folder


def test_lint_as_json_reports_each_file_and_exits_1_on_findings(broken):
    result = run("lint", "--output", "json", str(broken))
    assert result.returncode == 1
    doc = document(result)
    assert doc["exit_code"] == 1 and doc["lint_failed"] is True and doc["regions"] == ["us-east-1"]
    by_file = {pathlib.Path(row["file"]).name: row for row in doc["files"]}
    assert by_file["good.yaml"]["findings"] == [] and by_file["good.yaml"]["failed"] is False
    rules = {f["rule"] for f in by_file["bad.yaml"]["findings"]}
    assert "E3002" in rules, rules  # the unknown property
    assert all(
        f["line"] >= 1 and f["level"] in ("error", "warning", "informational") for f in by_file["bad.yaml"]["findings"]
    )


# The SARIF 2.1.0 requirements (OASIS, sarif-v2.1.0-os, sections 3.13-3.30) that code-scanning tools rely on,
# written from the specification as a JSON Schema: the official schema file ships in no package the locks hold,
# and tests never reach the internet.  Required properties and enumerations are the standard's.
SARIF_2_1_0 = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "version": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {"id": {"type": "string"}},
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": {
                                    "type": "object",
                                    "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
                                },
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {"uri": {"type": "string"}},
                                                    },
                                                    "region": {
                                                        "type": "object",
                                                        "properties": {
                                                            "startLine": {"type": "integer", "minimum": 1},
                                                            "startColumn": {"type": "integer", "minimum": 1},
                                                            "endLine": {"type": "integer", "minimum": 1},
                                                            "endColumn": {"type": "integer", "minimum": 1},
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_lint_as_sarif_is_a_valid_sarif_log_of_the_findings_that_count(broken):
    rows = document(run("lint", "--output", "json", str(broken)))["files"]
    counted = [(f["rule"], f["line"]) for row in rows for f in row["findings"] if not f["tolerated"]]
    result = run("lint", "--format", "sarif", str(broken))
    assert result.returncode == 1
    log = json.loads(result.stdout)
    jsonschema.validate(log, SARIF_2_1_0)
    (sarif_run,) = log["runs"]
    results = sarif_run["results"]
    assert (
        sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results)
        == sorted(counted)
        and counted
    )
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {
        str(broken / "bad.yaml")
    }
    assert {r["ruleId"] for r in results} <= {rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]}
    assert "bad.yaml" in result.stderr  # the per-file lines, for people, on stderr


def test_the_sarif_check_fails_on_a_log_without_runs():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.1.0"}, SARIF_2_1_0)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {
                "version": "2.1.0",
                "runs": [
                    {"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "fatal"}]}
                ],
            },
            SARIF_2_1_0,
        )


def test_tolerated_local_paths_are_not_in_the_sarif_log(tmp_path):
    out = tmp_path / "out"
    assert run("build", "--only", "core-main", "--output-dir", str(out)).returncode == 0
    result = run("lint", "--format", "sarif", str(out / "core-main.yaml"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["runs"][0]["results"] == []
    packaged = run("lint", "--format", "sarif", "--packaged", str(out / "core-main.yaml"))
    assert packaged.returncode == 1
    assert {r["ruleId"] for r in json.loads(packaged.stdout)["runs"][0]["results"]} == {"W3002"}


def test_sarif_and_json_together_are_refused():
    result = run("lint", "--format", "sarif", "--output", "json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: --format sarif and --output json")


def test_package_as_json_gives_the_urls_the_uploads_and_the_next_steps(moto):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    result = package(moto, "--only", TARGETS, "--output", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 0 and doc["release"] == "0.1.0" and doc["bucket"] == BUCKET
    stored = objects(moto)
    assert doc["uploaded"] and {u["key"] for u in doc["uploaded"]} <= set(stored)
    assert set(doc["entry_urls"]) == {name for name in TARGETS.split(",") if TEMPLATES[name].entry}
    for url in [*doc["entry_urls"].values(), *doc["template_urls"].values(), doc["manifest_url"]]:
        assert url.split(f"/{BUCKET}/", 1)[-1].split(".amazonaws.com/", 1)[-1] in stored or any(
            url.endswith(key) for key in stored
        ), url
    assert doc["next_steps"] and any("aws cloudformation" in line for line in doc["next_steps"])
    assert "uploaded " in result.stderr or "uploading " in result.stderr  # progress for people, on stderr
    again = json.loads(package(moto, "--only", TARGETS, "--output", "json").stdout)
    assert again["already_published"] is True and again["uploaded"] == []


def test_package_refusal_as_json(moto):
    result = package(moto, "--only", TARGETS, "--prefix", "/abs/", "--output", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 2 and doc["errors"][0].startswith("--prefix: '/abs/' is not a key prefix")
    assert PREFIX not in json.dumps(doc.get("uploaded", []))
