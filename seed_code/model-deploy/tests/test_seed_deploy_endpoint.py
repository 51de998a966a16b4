"""test/check_endpoint.py against local fakes: STS is moto (assumed-role credentials per account); the front server
plays SageMaker DescribeEndpoint and sagemaker-runtime InvokeEndpoint for each account, answering right or wrong."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET

import pytest
from seed_deploy_support import SEED_ROOT, error_answer, json_answer, load_seed_module, make_checkout, packages

check = load_seed_module("test/check_endpoint.py", "seed_deploy_check_endpoint")
build = load_seed_module("build.py", "seed_deploy_build_script")

ENDPOINT = "churn-p-abc123def456-staging"
ROLE_NAME = "ds-team-model-execution-role"
STAGING_ACCOUNTS = ["111111111111", "222222222222"]


def expected_rings() -> list[float]:
    lines = [
        line
        for line in (SEED_ROOT / "test" / "sample.csv").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [float(row["rings"]) for row in csv.DictReader(lines)]


def expected_model_rows() -> list[list[str]]:
    """The request rows, written out from sample.csv: one-hot F, I, M, then the seven measurements unscaled."""
    lines = [
        line
        for line in (SEED_ROOT / "test" / "sample.csv").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    one_hot = {"F": ["1.0", "0.0", "0.0"], "I": ["0.0", "1.0", "0.0"], "M": ["0.0", "0.0", "1.0"]}
    measurements = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
    return [one_hot[row["sex"]] + [repr(float(row[c])) for c in measurements] for row in csv.DictReader(lines)]


def good_predictions(rows: int) -> list[float]:
    """What a sound model answers: close to the known ring counts (within half a ring)."""
    return [value + (0.4 if i % 2 else -0.3) for i, value in enumerate(expected_rings()[:rows])]


def csv_answer(values, separator=","):
    return 200, {"Content-Type": "text/csv"}, separator.join(str(v) for v in values).encode()


class FakeEndpoints:
    """The endpoint in each account: its status sequence and how it answers an invocation."""

    def __init__(self, front):
        self.front = front
        self.account_of_key: dict[str, str] = {}
        self.statuses: dict[str, list[str]] = {a: ["InService"] for a in STAGING_ACCOUNTS}
        self.answers = {a: (lambda rows: csv_answer(good_predictions(len(rows)))) for a in STAGING_ACCOUNTS}
        self.invocations: list[dict] = []
        self.describes: list[str] = []
        front.on_forwarded = self.forwarded
        front.override = self.override

    def forwarded(self, request, status, body):
        # Remember which account each set of assumed-role credentials belongs to (moto issued them).
        if request.operation == "query.AssumeRole" and status == 200:
            key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body).group(1).decode()
            self.account_of_key[key] = request.params["RoleArn"].split(":")[4]

    def override(self, request):
        if request.operation not in ("SageMaker.DescribeEndpoint", "runtime.InvokeEndpoint"):
            return None
        account = self.account_of_key.get(request.access_key)
        if account is None:
            return error_answer(403, "AccessDeniedException", "not called with an assumed role's credentials")
        if request.params["EndpointName"] != ENDPOINT:
            return error_answer(400, "ValidationException", f"Could not find endpoint {request.params['EndpointName']}")
        if request.operation == "SageMaker.DescribeEndpoint":
            self.describes.append(account)
            sequence = self.statuses[account]
            status = sequence.pop(0) if len(sequence) > 1 else sequence[0]
            return json_answer(
                {
                    "EndpointName": ENDPOINT,
                    "EndpointStatus": status,
                    "EndpointConfigName": f"{ENDPOINT}-config",
                    "EndpointArn": f"arn:aws:sagemaker:us-east-1:{account}:endpoint/{ENDPOINT}",
                    "CreationTime": 1_700_000_000,
                    "LastModifiedTime": 1_700_000_000,
                    "DataCaptureConfig": {
                        "EnableCapture": False,
                        "CaptureStatus": "Stopped",
                        "CurrentSamplingPercentage": 100,
                        "DestinationS3Uri": "s3://b/capture",
                    },
                    **(
                        {"FailureReason": "The model container failed the ping health check"}
                        if status == "Failed"
                        else {}
                    ),
                }
            )
        rows = [line.split(",") for line in request.body.decode().splitlines() if line]
        self.invocations.append(
            {
                "account": account,
                "content_type": request.headers.get("Content-Type"),
                "accept": request.headers.get("Accept"),
                "rows": rows,
            }
        )
        return self.answers[account](rows)


@pytest.fixture
def endpoints(aws, tmp_path, monkeypatch):
    """Build artifacts of a two-account staging stage, the test's environment, and the fake endpoints."""
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    parameters = {
        "SageMakerProjectName": "churn",
        "SageMakerProjectId": "p-abc123def456",
        "EnvType": "staging",
        "ExecutionRoleName": ROLE_NAME,
        "EnvName": "ds-team",
        "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-p-abc123def456/3",
    }
    (artifact / "staging-config.json").write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    )
    (artifact / "staging-targets.json").write_text(json.dumps(STAGING_ACCOUNTS))
    for key, value in {
        "BUILD_CONFIG": "staging-config",
        "CODEBUILD_SRC_DIR_BuildArtifact": str(artifact),
        "MODEL_EXECUTION_ROLE_NAME": ROLE_NAME,
        "ROLE_PATH": "/mlops/",
        "ENDPOINT_POLL_SECONDS": "0.01",
        "ENDPOINT_WAIT_SECONDS": "5",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("TARGETS_FILE", "SAMPLE_FILE", "PREDICTION_MIN", "PREDICTION_MAX", "MAX_MEAN_ABSOLUTE_ERROR"):
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    fake = FakeEndpoints(aws)
    fake.out = out
    return fake


def run_check(endpoints, capsys):
    code = check.main()
    captured = capsys.readouterr()
    results = json.loads((endpoints.out / "test-results.json").read_text())  # one JSON document
    report = ET.parse(endpoints.out / "test-report.xml").getroot()
    return code, captured, results, report


def test_a_sound_endpoint_passes_in_every_account(endpoints, capsys, aws):
    code, captured, results, report = run_check(endpoints, capsys)
    assert code == 0, captured.err
    assert results["passed"] is True and results["endpoint"] == ENDPOINT
    assert [r["account"] for r in results["accounts"]] == STAGING_ACCOUNTS
    assert all(r["passed"] and r["mean_absolute_error"] < 0.5 for r in results["accounts"])
    assert [r["role"] for r in results["accounts"]] == [
        f"arn:aws:iam::{a}:role/mlops/{ROLE_NAME}" for a in STAGING_ACCOUNTS
    ]
    assert sorted(c.params["RoleArn"] for c in aws.calls("query.AssumeRole")) == [
        f"arn:aws:iam::{a}:role/mlops/{ROLE_NAME}" for a in STAGING_ACCOUNTS
    ]
    # each endpoint was really invoked, with the sample rows in the model's layout, as that account's role
    assert [i["account"] for i in endpoints.invocations] == STAGING_ACCOUNTS
    sample_rows = len(expected_rings())
    for invocation in endpoints.invocations:
        assert invocation["content_type"] == "text/csv" and invocation["accept"] == "text/csv"
        assert len(invocation["rows"]) == sample_rows
        assert invocation["rows"] == expected_model_rows(), "sex one-hot (F, I, M), then the raw measurements"
    (suite,) = report.findall("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [case.get("name") for case in suite.findall("testcase")] == [f"{ENDPOINT} in {a}" for a in STAGING_ACCOUNTS]


def test_newline_separated_predictions_are_read_too(endpoints, capsys):
    endpoints.answers = {a: (lambda rows: csv_answer(good_predictions(len(rows)), "\n")) for a in STAGING_ACCOUNTS}
    code, captured, _, _ = run_check(endpoints, capsys)
    assert code == 0, captured.err


def test_an_endpoint_still_creating_is_waited_for(endpoints, capsys):
    endpoints.statuses[STAGING_ACCOUNTS[0]] = ["Creating", "Creating", "InService"]
    code, captured, _, _ = run_check(endpoints, capsys)
    assert code == 0, captured.err
    assert endpoints.describes.count(STAGING_ACCOUNTS[0]) == 3


WRONG = {
    "too few predictions": (
        lambda rows: csv_answer(good_predictions(len(rows))[:-1]),
        "expected 12 predictions (one per sample row), got 11",
    ),
    "one prediction for all rows": (
        lambda rows: csv_answer([9.5]),
        "expected 12 predictions (one per sample row), got 1",
    ),
    "non-numeric": (
        lambda rows: csv_answer(["9.1"] * (len(rows) - 1) + ["NaN-ish"]),
        "prediction 12 is not a number: 'NaN-ish'",
    ),
    "not finite": (lambda rows: csv_answer(["nan"] * len(rows)), "prediction 1 is not a finite number"),
    "out of range": (
        lambda rows: csv_answer([9.0] * (len(rows) - 1) + [412.0]),
        "prediction 12 = 412 is outside the plausible range [0, 40]",
    ),
    "negative": (
        lambda rows: csv_answer([-3.0] + [9.0] * (len(rows) - 1)),
        "prediction 1 = -3 is outside the plausible range [0, 40]",
    ),
    "inaccurate": (lambda rows: csv_answer([v + 4.0 for v in good_predictions(len(rows))]), "mean absolute error 4.0"),
    "model error": (
        lambda rows: error_answer(424, "ModelError", "Received server error (500) from primary"),
        "invoking churn-p-abc123def456-staging failed: An error occurred (ModelError)",
    ),
    "empty answer": (
        lambda rows: (200, {"Content-Type": "text/csv"}, b""),
        "expected 12 predictions (one per sample row), got 0",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_wrong_answer_fails_with_a_message_naming_the_account(endpoints, capsys, case):
    answer, message = WRONG[case]
    bad = STAGING_ACCOUNTS[1]
    endpoints.answers[bad] = answer
    code, captured, results, report = run_check(endpoints, capsys)
    assert code == 1
    assert f"account {bad}: " in captured.err and message in captured.err
    assert f"ENDPOINT TEST FAILED in account(s) {bad}" in captured.err
    assert results["passed"] is False
    good, failed = results["accounts"]
    assert good["passed"] is True and failed["passed"] is False and message in failed["error"]
    failures = report.findall(".//failure")
    assert len(failures) == 1 and message in failures[0].get("message")


@pytest.mark.parametrize(
    "statuses, wait, message",
    [
        (
            ["Failed"],
            "5",
            "endpoint churn-p-abc123def456-staging is Failed: The model container failed the ping health check",
        ),
        (["OutOfService"], "5", "endpoint churn-p-abc123def456-staging is OutOfService"),
        (["Creating"], "0.1", "endpoint churn-p-abc123def456-staging is still Creating after waiting 0.1 s"),
    ],
)
def test_an_endpoint_not_in_service_fails_without_being_invoked(
    endpoints, capsys, monkeypatch, statuses, wait, message
):
    monkeypatch.setenv("ENDPOINT_WAIT_SECONDS", wait)
    bad = STAGING_ACCOUNTS[0]
    endpoints.statuses[bad] = statuses
    code, captured, results, _ = run_check(endpoints, capsys)
    assert code == 1
    assert f"account {bad}: {message}" in captured.err
    assert [i["account"] for i in endpoints.invocations] == [STAGING_ACCOUNTS[1]]


def test_a_missing_endpoint_fails(endpoints, capsys, monkeypatch):
    artifact = endpoints.out.parent / "artifact"
    config = json.loads((artifact / "staging-config.json").read_text())
    for parameter in config:
        if parameter["ParameterKey"] == "SageMakerProjectId":
            parameter["ParameterValue"] = "p-000000000000"
    (artifact / "staging-config.json").write_text(json.dumps(config))
    code, captured, _, _ = run_check(endpoints, capsys)
    assert code == 1
    assert "endpoint churn-p-000000000000-staging cannot be described" in captured.err
    assert "Could not find endpoint" in captured.err


def test_thresholds_are_configurable(endpoints, capsys, monkeypatch):
    endpoints.answers = {
        a: (lambda rows: csv_answer([v + 4.0 for v in good_predictions(len(rows))])) for a in STAGING_ACCOUNTS
    }
    monkeypatch.setenv("MAX_MEAN_ABSOLUTE_ERROR", "4.5")
    code, captured, results, _ = run_check(endpoints, capsys)
    assert code == 0, captured.err
    assert results["thresholds"]["max_mean_absolute_error"] == 4.5


def test_missing_build_artifact_is_reported_as_a_failed_run(endpoints, capsys):
    (endpoints.out.parent / "artifact" / "staging-targets.json").unlink()
    code, captured, results, report = run_check(endpoints, capsys)
    assert code == 2
    assert (
        "staging-targets.json is missing: is the build step's output the secondary source BuildArtifact?"
        in captured.err
    )
    assert results["passed"] is False and len(report.findall(".//failure")) == 1
    assert endpoints.invocations == []


def test_without_model_execution_role_name_the_config_names_the_role(endpoints, capsys, monkeypatch, aws):
    """MODEL_EXECUTION_ROLE_NAME unset: the role is the stage config's ExecutionRoleName (the template's name)."""
    monkeypatch.delenv("MODEL_EXECUTION_ROLE_NAME")
    config_file = endpoints.out.parent / "artifact" / "staging-config.json"
    config = json.loads(config_file.read_text())
    for parameter in config:
        if parameter["ParameterKey"] == "ExecutionRoleName":
            parameter["ParameterValue"] = "role-from-config"
    config_file.write_text(json.dumps(config))
    code, captured, _, _ = run_check(endpoints, capsys)
    assert code == 0, captured.err
    assert sorted(c.params["RoleArn"] for c in aws.calls("query.AssumeRole")) == [
        f"arn:aws:iam::{a}:role/mlops/role-from-config" for a in STAGING_ACCOUNTS
    ]

    config_file.write_text(json.dumps([p for p in config if p["ParameterKey"] != "ExecutionRoleName"]))
    code, captured, _, _ = run_check(endpoints, capsys)
    assert code == 2
    assert "MODEL_EXECUTION_ROLE_NAME is not set and the config has no ExecutionRoleName" in captured.err


def test_build_artifacts_feed_the_endpoint_test(aws, tmp_path, monkeypatch, capsys, build_template):
    """The two steps agree on the artifact format: build.py's output is check_endpoint.py's input."""
    source = make_checkout(tmp_path / "src", build_template, monkeypatch)
    packages(["Approved"])
    artifact = tmp_path / "artifact"
    assert build.main(["--source-dir", str(source), "--output-dir", str(artifact)]) == 0, capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    for key, value in {
        "BUILD_CONFIG": "staging-config",
        "CODEBUILD_SRC_DIR_BuildArtifact": str(artifact),
        "ENDPOINT_POLL_SECONDS": "0.01",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MODEL_EXECUTION_ROLE_NAME")  # the role name then comes from build.py's config
    fake = FakeEndpoints(aws)
    own = "123456789012"  # single account: the development account is the only target
    fake.statuses[own] = ["InService"]
    fake.answers[own] = lambda rows: csv_answer(good_predictions(len(rows)))
    assert check.main() == 0, capsys.readouterr().err
    assert [i["account"] for i in fake.invocations] == [own]
    (assumed,) = aws.calls("query.AssumeRole")
    assert assumed.params["RoleArn"] == f"arn:aws:iam::{own}:role/mlops/ds-team-model-execution-role"
