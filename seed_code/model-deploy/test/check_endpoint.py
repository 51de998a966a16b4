"""Test step of the model deploy pipeline: call the deployed endpoint in every target account of a stage.

For each account in the stage's targets file the script assumes the model execution role of that account,
waits (bounded) until the endpoint ``<project name>-<project id>-<stage>`` is InService, sends the sample
rows of ``test/sample.csv`` (text/csv, each raw row encoded by ``encode()`` as the model build pipeline's
preprocessing encodes its training data) and checks the answer: one numeric prediction per row, each
inside a plausible range, and a mean absolute error against the known ring counts below a threshold.

It writes ``test-results.json`` (one JSON document) and ``test-report.xml`` (JUnit, shown as a CodeBuild
test report) and exits non-zero when any account fails.  Only boto3 is required.

Environment (the CodeBuild project sets the first four; test/buildspec.yml sets the thresholds):
  BUILD_CONFIG                    parameter file of the stage without .json (default staging-config)
  CODEBUILD_SRC_DIR_BuildArtifact folder holding the build step's artifacts (default: current folder)
  MODEL_EXECUTION_ROLE_NAME       role assumed in each account (default: ExecutionRoleName of the config)
  ROLE_PATH                       IAM path of that role (default /)
  ENDPOINT_WAIT_SECONDS           how long to wait for InService per account (default 1200)
  ENDPOINT_POLL_SECONDS           pause between status checks (default 30)
  PREDICTION_MIN, PREDICTION_MAX  plausible range of a prediction (default 0 and 40 rings)
  MAX_MEAN_ABSOLUTE_ERROR         largest accepted mean absolute error in rings (default 1.5)
  SAMPLE_FILE                     sample rows (default test/sample.csv next to this script)
  TARGETS_FILE                    targets file name (default derived: staging-config -> staging-targets.json)
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

HERE = Path(__file__).resolve().parent

# The abalone columns of the sample file; "rings" is the label. The model's input is encode() of a row.
SEX_COLUMN = "sex"
SEX_CATEGORIES = ("F", "I", "M")  # one-hot column order of the model input
NUMERIC_COLUMNS = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
LABEL_COLUMN = "rings"

BROKEN = {"Failed", "OutOfService", "Deleting", "UpdateRollbackFailed"}


class CheckFailed(Exception):
    """The endpoint of one account did not pass."""


class SetupError(Exception):
    """The test cannot run at all (missing or malformed input)."""


def encode(row: dict[str, str]) -> list[float]:
    """One raw abalone row -> the model's input, as the model build pipeline's preprocess.py encodes its
    training data: ``sex`` one-hot in the order F, I, M, then the seven measurements unchanged (no scaling).
    Keep this in step with that preprocessing if you change it."""
    sex = row[SEX_COLUMN].strip().upper()
    if sex not in SEX_CATEGORIES:
        raise SetupError(f"sample row has sex={row[SEX_COLUMN]!r}; expected one of {', '.join(SEX_CATEGORIES)}")
    return [1.0 if sex == category else 0.0 for category in SEX_CATEGORIES] + [float(row[c]) for c in NUMERIC_COLUMNS]


def load_samples(path: Path) -> tuple[list[list[float]], list[float]]:
    """The model inputs and the known ring counts of the sample rows."""
    if not path.is_file():
        raise SetupError(f"sample file {path} is missing")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(line for line in handle if line.strip() and not line.startswith("#"))
        needed = {SEX_COLUMN, LABEL_COLUMN, *NUMERIC_COLUMNS}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            raise SetupError(f"{path.name} needs the columns {', '.join(sorted(needed))}")
        rows = list(reader)
    if not rows:
        raise SetupError(f"{path.name} has no sample rows")
    try:
        return [encode(r) for r in rows], [float(r[LABEL_COLUMN]) for r in rows]
    except ValueError as error:
        raise SetupError(f"{path.name}: {error}") from None


def to_csv(rows: list[list[float]]) -> str:
    return "".join(",".join(repr(v) for v in row) + "\n" for row in rows)


@dataclass
class Settings:
    artifact_dir: Path
    config_name: str
    targets_file: str
    role_name: str
    role_path: str
    wait_seconds: float
    poll_seconds: float
    prediction_min: float
    prediction_max: float
    max_mae: float
    sample_file: Path
    output_dir: Path = field(default_factory=Path.cwd)

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env

        def number(name: str, default: float) -> float:
            text = env.get(name, "").strip()
            try:
                return float(text) if text else default
            except ValueError:
                raise SetupError(f"{name} must be a number, not {text!r}") from None

        config_name = env.get("BUILD_CONFIG", "").strip() or "staging-config"
        stem = config_name[: -len("-config")] if config_name.endswith("-config") else config_name
        role_path = env.get("ROLE_PATH", "").strip() or "/"
        if not (role_path.startswith("/") and role_path.endswith("/")):
            raise SetupError(f"ROLE_PATH must start and end with '/', not {role_path!r}")
        settings = cls(
            artifact_dir=Path(env.get("CODEBUILD_SRC_DIR_BuildArtifact", "").strip() or "."),
            config_name=config_name,
            targets_file=env.get("TARGETS_FILE", "").strip() or f"{stem}-targets.json",
            role_name=env.get("MODEL_EXECUTION_ROLE_NAME", "").strip(),
            role_path=role_path,
            wait_seconds=number("ENDPOINT_WAIT_SECONDS", 1200),
            poll_seconds=number("ENDPOINT_POLL_SECONDS", 30),
            prediction_min=number("PREDICTION_MIN", 0),
            prediction_max=number("PREDICTION_MAX", 40),
            max_mae=number("MAX_MEAN_ABSOLUTE_ERROR", 1.5),
            sample_file=Path(env.get("SAMPLE_FILE", "").strip() or HERE / "sample.csv"),
        )
        if settings.prediction_min >= settings.prediction_max:
            raise SetupError("PREDICTION_MIN must be smaller than PREDICTION_MAX")
        return settings


def region() -> str | None:
    """CodeBuild sets AWS_REGION (and AWS_DEFAULT_REGION, which boto3 reads itself)."""
    return os.environ.get("AWS_REGION") or None


def read_json(path: Path, hint: str = ""):
    if not path.is_file():
        raise SetupError(f"{path} is missing{hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SetupError(f"{path.name} is not valid JSON: {error}") from None


ARTIFACT_HINT = ": is the build step's output the secondary source BuildArtifact?"


def load_parameters(path: Path) -> dict[str, str]:
    document = read_json(path, ARTIFACT_HINT)
    if not isinstance(document, list) or not all(isinstance(p, dict) and "ParameterKey" in p for p in document):
        raise SetupError(f"{path.name} is not a list of ParameterKey/ParameterValue objects")
    keys = [p["ParameterKey"] for p in document]
    if len(keys) != len(set(keys)):
        raise SetupError(f"{path.name} sets a parameter more than once")
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in document}
    for key in ("SageMakerProjectName", "SageMakerProjectId", "EnvType"):
        if not parameters.get(key):
            raise SetupError(f"{path.name} has no {key}")
    return parameters


def load_targets(path: Path) -> list[str]:
    accounts = read_json(path, ARTIFACT_HINT)
    if (
        not isinstance(accounts, list)
        or not accounts
        or not all(isinstance(a, str) and len(a) == 12 and a.isdigit() for a in accounts)
    ):
        raise SetupError(f"{path.name} must be a non-empty JSON list of 12-digit account ids")
    return accounts


def wait_in_service(sm, endpoint: str, settings: Settings) -> dict:
    deadline = time.monotonic() + settings.wait_seconds
    while True:
        try:
            description = sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as error:
            raise CheckFailed(f"endpoint {endpoint} cannot be described: {error}") from None
        status = description.get("EndpointStatus")
        if status == "InService":
            return description
        if status in BROKEN:
            reason = description.get("FailureReason", "")
            raise CheckFailed(f"endpoint {endpoint} is {status}" + (f": {reason}" if reason else ""))
        if time.monotonic() + settings.poll_seconds > deadline:
            raise CheckFailed(f"endpoint {endpoint} is still {status} after waiting {settings.wait_seconds:g} s")
        print(f"  {endpoint} is {status}; checking again in {settings.poll_seconds:g} s")
        time.sleep(settings.poll_seconds)


def parse_predictions(body: str) -> list[str]:
    """XGBoost answers text/csv with comma- or newline-separated values."""
    return [v.strip() for line in body.splitlines() for v in line.split(",") if v.strip()]


def evaluate(body: str, expected: list[float], settings: Settings) -> tuple[list[float], float]:
    values = parse_predictions(body)
    if len(values) != len(expected):
        raise CheckFailed(
            f"expected {len(expected)} predictions (one per sample row), got {len(values)}: {body[:200]!r}"
        )
    predictions = []
    for index, value in enumerate(values):
        try:
            number = float(value)
        except ValueError:
            raise CheckFailed(f"prediction {index + 1} is not a number: {value[:50]!r}") from None
        if not math.isfinite(number):
            raise CheckFailed(f"prediction {index + 1} is not a finite number: {value!r}")
        if not settings.prediction_min <= number <= settings.prediction_max:
            raise CheckFailed(
                f"prediction {index + 1} = {number:g} is outside the plausible range "
                f"[{settings.prediction_min:g}, {settings.prediction_max:g}]"
            )
        predictions.append(number)
    mae = sum(abs(p - e) for p, e in zip(predictions, expected, strict=False)) / len(expected)
    if mae > settings.max_mae:
        raise CheckFailed(f"mean absolute error {mae:.3f} rings is above MAX_MEAN_ABSOLUTE_ERROR={settings.max_mae:g}")
    return predictions, mae


def check_account(
    account: str, endpoint: str, partition: str, payload: str, expected: list[float], settings: Settings
) -> dict:
    result = {"account": account, "endpoint": endpoint, "passed": False}
    role = f"arn:{partition}:iam::{account}:role{settings.role_path}{settings.role_name}"
    result["role"] = role
    try:
        credentials = boto3.client("sts", region_name=region()).assume_role(
            RoleArn=role, RoleSessionName=f"endpoint-test-{account}"
        )["Credentials"]
    except ClientError as error:
        raise CheckFailed(f"cannot assume {role}: {error}") from None
    session = boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region(),
    )
    retries = Config(retries={"mode": "standard", "max_attempts": 3})
    description = wait_in_service(session.client("sagemaker", config=retries), endpoint, settings)
    result["status"] = description["EndpointStatus"]
    result["data_capture"] = bool(description.get("DataCaptureConfig", {}).get("EnableCapture"))
    runtime = session.client("sagemaker-runtime", config=retries)
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=payload.encode("utf-8")
        )
    except (ClientError, BotoCoreError) as error:
        raise CheckFailed(f"invoking {endpoint} failed: {error}") from None
    body = response["Body"].read().decode("utf-8", errors="replace")
    predictions, mae = evaluate(body, expected, settings)
    result.update(predictions=predictions, expected=expected, mean_absolute_error=round(mae, 4), passed=True)
    return result


def junit(results: list[dict], suite_name: str) -> bytes:
    failures = sum(1 for r in results if not r["passed"])
    total_time = sum(r.get("seconds", 0.0) for r in results)
    suites = ET.Element("testsuites", tests=str(len(results)), failures=str(failures), time=f"{total_time:.3f}")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=suite_name,
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{total_time:.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=suite_name,
            name=f"{r['endpoint']} in {r['account']}",
            time=f"{r.get('seconds', 0.0):.3f}",
        )
        if not r["passed"]:
            ET.SubElement(case, "failure", message=r["error"]).text = r["error"]
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write_outputs(folder: Path, summary: dict, report: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test-results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "test-report.xml").write_bytes(report)


def run(settings: Settings) -> int:
    parameters = load_parameters(settings.artifact_dir / f"{settings.config_name}.json")
    accounts = load_targets(settings.artifact_dir / settings.targets_file)
    rows, expected = load_samples(settings.sample_file)
    settings.role_name = settings.role_name or parameters.get("ExecutionRoleName", "")
    if not settings.role_name:
        raise SetupError("MODEL_EXECUTION_ROLE_NAME is not set and the config has no ExecutionRoleName")
    endpoint = f"{parameters['SageMakerProjectName']}-{parameters['SageMakerProjectId']}-{parameters['EnvType']}"
    partition = boto3.client("sts", region_name=region()).get_caller_identity()["Arn"].split(":")[1]
    payload = to_csv(rows)

    results = []
    for account in accounts:
        print(f"Testing endpoint {endpoint} in account {account}")
        started = time.monotonic()
        try:
            result = check_account(account, endpoint, partition, payload, expected, settings)
            print(f"  PASSED: {len(expected)} predictions, mean absolute error {result['mean_absolute_error']}")
        except (CheckFailed, ClientError, BotoCoreError) as error:
            result = {"account": account, "endpoint": endpoint, "passed": False, "error": f"account {account}: {error}"}
            print(f"  FAILED: {result['error']}", file=sys.stderr)
        result["seconds"] = round(time.monotonic() - started, 3)
        results.append(result)

    passed = all(r["passed"] for r in results)
    summary = {
        "config": settings.config_name,
        "stage": parameters["EnvType"],
        "endpoint": endpoint,
        "model_package": parameters.get("ModelPackageName"),
        "passed": passed,
        "thresholds": {
            "prediction_min": settings.prediction_min,
            "prediction_max": settings.prediction_max,
            "max_mean_absolute_error": settings.max_mae,
        },
        "accounts": results,
    }
    write_outputs(settings.output_dir, summary, junit(results, f"endpoint-{parameters['EnvType']}"))
    if not passed:
        failed = [r["account"] for r in results if not r["passed"]]
        print(f"ENDPOINT TEST FAILED in account(s) {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"Endpoint {endpoint} passed in {len(results)} account(s)")
    return 0


def main() -> int:
    try:
        return run(Settings.from_env())
    except SetupError as error:
        message = f"the endpoint test could not run: {error}"
        print(f"ENDPOINT TEST FAILED: {message}", file=sys.stderr)
        failed = {"account": "-", "endpoint": "-", "passed": False, "error": message}
        write_outputs(Path.cwd(), {"passed": False, "error": message, "accounts": []}, junit([failed], "endpoint"))
        return 2


if __name__ == "__main__":
    sys.exit(main())
