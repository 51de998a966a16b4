"""run_pipeline: settings from the CodeBuild environment, the dry run, the whole upsert-start-wait flow against
moto, and how the build fails."""

from __future__ import annotations

import json

import pytest
from pipelines import run_pipeline
from seed_build_support import REGION, apply_fake_aws, block_network

REAL_WAIT = run_pipeline.wait_for_execution
REAL_FAILURE_REPORT = run_pipeline.failure_report


def test_settings_come_from_the_codebuild_environment(build_env):
    args = run_pipeline.parse_args([], {**build_env, "AWS_REGION": REGION})
    assert args.region == REGION
    assert args.role_arn == build_env["SAGEMAKER_PIPELINE_ROLE_ARN"]
    assert args.pipeline_name == build_env["SAGEMAKER_PIPELINE_NAME"]
    assert args.base_job_prefix == args.model_package_group_name == build_env["MODEL_PACKAGE_GROUP_NAME"]
    assert args.subnet_ids == ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
    assert args.security_group_ids == ["sg-0cccccccccccccccc"]
    assert args.tags == [
        {"Key": "sagemaker:project-name", "Value": "abalone"},
        {"Key": "sagemaker:project-id", "Value": "p-abc123def456"},
        {"Key": "EnvironmentName", "Value": "team1"},
        {"Key": "EnvironmentType", "Value": "dev"},
    ]
    assert args.wait and args.wait_timeout == run_pipeline.DEFAULT_WAIT_TIMEOUT and args.parameters == {}


def test_options_override_the_environment(build_env):
    args = run_pipeline.parse_args(
        [
            "--region",
            "us-east-1",
            "--subnet-ids",
            "subnet-1",
            "--tag",
            "EnvironmentType=prod",
            "--tag",
            "Team=x",
            "--parameter",
            "MseThreshold=4.5",
            "--base-job-prefix",
            "mine",
            "--no-wait",
        ],
        {**build_env, "AWS_DEFAULT_REGION": REGION, "PIPELINE_WAIT_TIMEOUT_SECONDS": "60"},
    )
    assert (args.region, args.subnet_ids, args.base_job_prefix) == ("us-east-1", ["subnet-1"], "mine")
    assert {t["Key"]: t["Value"] for t in args.tags}["EnvironmentType"] == "prod"
    assert {"Key": "Team", "Value": "x"} in args.tags
    assert args.parameters == {"MseThreshold": "4.5"}
    assert args.wait is False and args.wait_timeout == 60


@pytest.mark.parametrize(
    "variable",
    [
        "SAGEMAKER_PIPELINE_ROLE_ARN",
        "SUBNET_IDS",
        "SECURITY_GROUP_IDS",
        "EBS_KMS_KEY_ARN",
        "S3_KMS_KEY_ARN",
        "DATA_BUCKET",
        "MODEL_BUCKET",
    ],
)
def test_a_missing_setting_is_a_usage_error(build_env, variable, capsys):
    environ = {**build_env, "AWS_REGION": REGION, variable: ""}
    assert run_pipeline.main([], environ) == run_pipeline.EXIT_USAGE
    assert variable in capsys.readouterr().err


def test_bad_values_are_usage_errors(build_env):
    environ = {**build_env, "AWS_REGION": REGION}
    assert run_pipeline.main(["--tag", "novalue"], environ) == run_pipeline.EXIT_USAGE
    assert run_pipeline.main(["--subnet-ids", " , "], environ) == run_pipeline.EXIT_USAGE
    assert run_pipeline.main([], {**environ, "PIPELINE_WAIT_TIMEOUT_SECONDS": "soon"}) == run_pipeline.EXIT_USAGE


def test_dry_run_prints_the_definition_without_calling_aws(build_env, offline_aws, capsys):
    assert run_pipeline.main(["--dry-run"], {**build_env, "AWS_REGION": REGION}) == 0
    definition = json.loads(capsys.readouterr().out)
    assert [step["Name"] for step in definition["Steps"]][0] == "PreprocessAbaloneData"


class FakeSageMaker:
    """describe_pipeline_execution answers with the given statuses in turn; the steps as given."""

    def __init__(self, statuses, steps=(), failure_reason=None):
        self.statuses = list(statuses)
        self.steps = list(steps)
        self.failure_reason = failure_reason
        self.describes = 0

    def describe_pipeline_execution(self, PipelineExecutionArn):
        status = self.statuses[min(self.describes, len(self.statuses) - 1)]
        self.describes += 1
        answer = {"PipelineExecutionArn": PipelineExecutionArn, "PipelineExecutionStatus": status}
        if self.failure_reason:
            answer["FailureReason"] = self.failure_reason
        return answer

    def list_pipeline_execution_steps(self, PipelineExecutionArn, SortOrder, NextToken=None):
        if NextToken is None and len(self.steps) > 1:
            return {"PipelineExecutionSteps": self.steps[:1], "NextToken": "more"}
        return {"PipelineExecutionSteps": self.steps[1:] if NextToken else self.steps}


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_polls_until_the_execution_ends():
    clock = FakeClock()
    client = FakeSageMaker(["Executing", "Executing", "Succeeded"])
    assert (
        run_pipeline.wait_for_execution(client, "arn", timeout=600, poll_interval=30, sleep=clock.sleep, clock=clock)
        == "Succeeded"
    )
    assert clock.sleeps == [30, 30]


def test_wait_gives_up_after_the_timeout():
    clock = FakeClock()
    client = FakeSageMaker(["Executing"])
    assert (
        run_pipeline.wait_for_execution(client, "arn", timeout=100, poll_interval=30, sleep=clock.sleep, clock=clock)
        is None
    )
    assert sum(clock.sleeps) == 100 and clock.sleeps[-1] == 10


def test_failure_report_names_the_failing_steps():
    client = FakeSageMaker(
        ["Failed"],
        failure_reason="Step failure: One or multiple steps failed.",
        steps=[
            {
                "StepName": "AbaloneMSEAboveThreshold",
                "StepStatus": "Failed",
                "FailureReason": "The model's test MSE 7.1 is above the threshold 6.0",
            },
            {"StepName": "EvaluateAbaloneModel", "StepStatus": "Succeeded"},
            {"StepName": "TrainAbaloneModel", "StepStatus": "Stopped"},
        ],
    )
    assert run_pipeline.failure_report(client, "arn") == [
        "Execution failure reason: Step failure: One or multiple steps failed.",
        "Step AbaloneMSEAboveThreshold failed: The model's test MSE 7.1 is above the threshold 6.0",
        "Step TrainAbaloneModel stopped: no reason given",
    ]


@pytest.fixture
def moto_aws(monkeypatch, build_env):
    moto = pytest.importorskip("moto")
    apply_fake_aws(monkeypatch)
    attempts = block_network(monkeypatch)  # moto answers in-process; nothing may leave the machine
    with moto.mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=build_env["DATA_BUCKET"], CreateBucketConfiguration={"LocationConstraint": REGION})
        yield {
            "s3": s3,
            "sagemaker": boto3.client("sagemaker", region_name=REGION),
            "environ": {**build_env, "AWS_REGION": REGION},
        }
    assert attempts == []


def test_build_step_uploads_scripts_upserts_starts_and_waits(moto_aws, capsys):
    from pipelines.abalone.pipeline import script_uploads

    environ = moto_aws["environ"]
    assert run_pipeline.main(["--poll-interval", "1"], environ) == 0
    out = capsys.readouterr().out
    assert "Pipeline execution: arn:aws:sagemaker:" in out and "succeeded" in out

    # The scripts are where the definition reads them.
    for path, uri in script_uploads(environ["DATA_BUCKET"], environ["MODEL_PACKAGE_GROUP_NAME"]).items():
        bucket, _, key = uri[len("s3://") :].partition("/")
        assert moto_aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read() == path.read_bytes()

    sagemaker = moto_aws["sagemaker"]
    pipeline = sagemaker.describe_pipeline(PipelineName=environ["SAGEMAKER_PIPELINE_NAME"])
    assert pipeline["RoleArn"] == environ["SAGEMAKER_PIPELINE_ROLE_ARN"]
    definition = json.loads(pipeline["PipelineDefinition"])
    assert definition["Steps"][1]["Arguments"]["VpcConfig"]["Subnets"] == environ["SUBNET_IDS"].split(",")
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=pipeline["PipelineArn"])["Tags"]}
    assert tags["sagemaker:project-name"] == "abalone" and tags["EnvironmentType"] == "dev"

    # The model package group exists before the first registration, with the project's and environment's tags
    # (the register step would create it without them; the environment's clean-up finds it by them).
    group = sagemaker.describe_model_package_group(ModelPackageGroupName=environ["MODEL_PACKAGE_GROUP_NAME"])
    group_tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=group["ModelPackageGroupArn"])["Tags"]}
    assert group_tags == tags

    # A second commit updates the same pipeline and starts another execution; the group is left as it is.
    assert run_pipeline.main(["--no-wait", "--parameter", "MseThreshold=5.5"], environ) == 0
    executions = sagemaker.list_pipeline_executions(PipelineName=environ["SAGEMAKER_PIPELINE_NAME"])
    assert len(executions["PipelineExecutionSummaries"]) == 2
    assert "created" not in capsys.readouterr().out


def test_build_fails_when_the_execution_fails(moto_aws, monkeypatch, capsys):
    # moto's executions always succeed: this execution fails in its training step.
    client = FakeSageMaker(
        ["Executing", "Failed"],
        steps=[{"StepName": "TrainAbaloneModel", "StepStatus": "Failed", "FailureReason": "AccessDenied"}],
    )
    monkeypatch.setattr(
        run_pipeline,
        "wait_for_execution",
        lambda _client, arn, timeout, poll: REAL_WAIT(client, arn, timeout, poll, sleep=lambda _: None),
    )
    monkeypatch.setattr(run_pipeline, "failure_report", lambda _client, arn: REAL_FAILURE_REPORT(client, arn))
    assert run_pipeline.main([], moto_aws["environ"]) == run_pipeline.EXIT_FAILED
    err = capsys.readouterr().err
    assert "ended with status Failed" in err and "Step TrainAbaloneModel failed: AccessDenied" in err


def test_build_fails_when_the_wait_times_out(moto_aws, monkeypatch, capsys):
    monkeypatch.setattr(run_pipeline, "wait_for_execution", lambda *args: None)
    assert run_pipeline.main(["--wait-timeout", "5"], moto_aws["environ"]) == run_pipeline.EXIT_TIMEOUT
    assert "Gave up waiting after 5 s" in capsys.readouterr().err
