"""Create or update the SageMaker pipeline, start it and wait for the execution (the CodeBuild build step).

Every option has an environment variable default, so in CodeBuild (see buildspec.yml) it runs without arguments:

    run-pipeline                      # or: python -m pipelines.run_pipeline

    --region                  AWS_REGION / AWS_DEFAULT_REGION
    --role-arn                SAGEMAKER_PIPELINE_ROLE_ARN   role of the pipeline and of its jobs
    --pipeline-name           SAGEMAKER_PIPELINE_NAME
    --model-package-group-name MODEL_PACKAGE_GROUP_NAME
    --base-job-prefix         BASE_JOB_PREFIX (default: the model package group name)
    --data-bucket             DATA_BUCKET
    --model-bucket            MODEL_BUCKET
    --s3-kms-key-arn          S3_KMS_KEY_ARN
    --ebs-kms-key-arn         EBS_KMS_KEY_ARN
    --subnet-ids              SUBNET_IDS (comma-separated)
    --security-group-ids      SECURITY_GROUP_IDS (comma-separated)
    --tag KEY=VALUE           repeatable; default: sagemaker:project-name, sagemaker:project-id,
                              EnvironmentName, EnvironmentType from SAGEMAKER_PROJECT_NAME, SAGEMAKER_PROJECT_ID,
                              ENV_NAME, ENV_TYPE
    --parameter NAME=VALUE    repeatable: pipeline parameter values for this execution
    --wait-timeout SECONDS    PIPELINE_WAIT_TIMEOUT_SECONDS (default 10800)
    --no-wait                 start the execution and return
    --dry-run                 print the pipeline definition (JSON) and exit; no AWS call

Exit codes: 0 the execution succeeded (or --no-wait / --dry-run), 1 it failed or was stopped, 2 bad arguments,
3 the wait timed out (the execution keeps running; see it in SageMaker Studio).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence

DEFAULT_WAIT_TIMEOUT = 3 * 60 * 60
TERMINAL = {"Succeeded", "Failed", "Stopped"}
EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT = 1, 2, 3

# (option destination, environment variable, required)
ENVIRONMENT = [
    ("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), True),
    ("role_arn", ("SAGEMAKER_PIPELINE_ROLE_ARN",), True),
    ("pipeline_name", ("SAGEMAKER_PIPELINE_NAME",), True),
    ("model_package_group_name", ("MODEL_PACKAGE_GROUP_NAME",), True),
    ("base_job_prefix", ("BASE_JOB_PREFIX",), False),
    ("data_bucket", ("DATA_BUCKET",), True),
    ("model_bucket", ("MODEL_BUCKET",), True),
    ("s3_kms_key_arn", ("S3_KMS_KEY_ARN",), True),
    ("ebs_kms_key_arn", ("EBS_KMS_KEY_ARN",), True),
    ("subnet_ids", ("SUBNET_IDS",), True),
    ("security_group_ids", ("SECURITY_GROUP_IDS",), True),
]
TAGS_FROM_ENVIRONMENT = [
    ("sagemaker:project-name", "SAGEMAKER_PROJECT_NAME"),
    ("sagemaker:project-id", "SAGEMAKER_PROJECT_ID"),
    ("EnvironmentName", "ENV_NAME"),
    ("EnvironmentType", "ENV_TYPE"),
]


def _key_values(items: Sequence[str], what: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"{what} must be KEY=VALUE, got {item!r}")
        result[key.strip()] = value
    return result


def split_ids(value: str | None) -> list[str]:
    """Comma-separated ids as a list, without blanks."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="run-pipeline",
        description=__doc__.splitlines()[0],
        epilog="See the module documentation for the environment variables.",
    )
    for dest, _, _ in ENVIRONMENT:
        parser.add_argument("--" + dest.replace("_", "-"), dest=dest, default=None)
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--description", default="Abalone model build pipeline (preprocess, train, evaluate, register)")
    parser.add_argument("--wait-timeout", type=int, default=None, metavar="SECONDS")
    parser.add_argument("--poll-interval", type=int, default=30, metavar="SECONDS")
    parser.add_argument("--no-wait", dest="wait", action="store_false")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)

    missing = []
    for dest, variables, required in ENVIRONMENT:
        if getattr(args, dest) is None:
            setattr(args, dest, next((environ[v] for v in variables if environ.get(v)), None))
        if required and not getattr(args, dest):
            missing.append(f"--{dest.replace('_', '-')} ({' or '.join(variables)})")
    if missing:
        parser.error("missing: " + ", ".join(missing))
    args.base_job_prefix = args.base_job_prefix or args.model_package_group_name
    args.subnet_ids = split_ids(args.subnet_ids)
    args.security_group_ids = split_ids(args.security_group_ids)
    if not args.subnet_ids or not args.security_group_ids:
        parser.error("--subnet-ids and --security-group-ids need at least one id each")

    tags = {key: environ[variable] for key, variable in TAGS_FROM_ENVIRONMENT if environ.get(variable)}
    tags.update(_key_values(args.tag, "--tag", parser))
    args.tags = [{"Key": key, "Value": value} for key, value in tags.items()]
    args.parameters = _key_values(args.parameter, "--parameter", parser)

    if args.wait_timeout is None:
        raw = environ.get("PIPELINE_WAIT_TIMEOUT_SECONDS") or str(DEFAULT_WAIT_TIMEOUT)
        try:
            args.wait_timeout = int(raw)
        except ValueError:
            parser.error(f"PIPELINE_WAIT_TIMEOUT_SECONDS must be a number of seconds, got {raw!r}")
    if args.wait_timeout < 0 or args.poll_interval < 1:
        parser.error("--wait-timeout must be >= 0 and --poll-interval >= 1")
    return args


def build_pipeline(args: argparse.Namespace, sagemaker_session=None):
    # Importing the SageMaker SDK creates boto3 clients, which need a Region.
    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    from pipelines.abalone.pipeline import get_pipeline

    return get_pipeline(
        region=args.region,
        role=args.role_arn,
        pipeline_name=args.pipeline_name,
        model_package_group_name=args.model_package_group_name,
        default_bucket=args.data_bucket,
        model_bucket=args.model_bucket,
        s3_kms_key_arn=args.s3_kms_key_arn,
        ebs_kms_key_arn=args.ebs_kms_key_arn,
        subnet_ids=args.subnet_ids,
        security_group_ids=args.security_group_ids,
        base_job_prefix=args.base_job_prefix,
        sagemaker_session=sagemaker_session,
        tags=args.tags,
    )


def ensure_model_package_group(sagemaker_client, name: str, tags: list[dict], project: str) -> bool:
    """Create the project's model package group, with the project's and the environment's tags, unless it exists;
    True when created.  The pipeline's register step would create it without tags, and the environment's clean-up
    (and every role's "only this environment" rule) knows a group by its tags."""
    from botocore.exceptions import ClientError

    try:
        sagemaker_client.describe_model_package_group(ModelPackageGroupName=name)
        return False
    except ClientError as error:
        # SageMaker answers ValidationException for a group that does not exist.
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
    sagemaker_client.create_model_package_group(
        ModelPackageGroupName=name, ModelPackageGroupDescription=f"Models of SageMaker project {project}", Tags=tags
    )
    print(f"Model package group {name} created")
    return True


def upload_scripts(s3_client, uploads: Mapping[object, str]) -> None:
    """Upload each local script to its s3:// URI (the bucket's default encryption applies)."""
    for path, uri in uploads.items():
        bucket, _, key = uri[len("s3://") :].partition("/")
        with open(path, "rb") as handle:
            s3_client.put_object(Bucket=bucket, Key=key, Body=handle.read(), ContentType="text/x-python")
        print(f"Uploaded {os.path.basename(str(path))} to {uri}")


def failure_report(sagemaker_client, execution_arn: str) -> list[str]:
    """Lines describing why an execution failed: its own reason and each failed step's."""
    description = sagemaker_client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    lines = []
    if description.get("FailureReason"):
        lines.append(f"Execution failure reason: {description['FailureReason']}")
    paginator_args = {"PipelineExecutionArn": execution_arn, "SortOrder": "Ascending"}
    while True:
        page = sagemaker_client.list_pipeline_execution_steps(**paginator_args)
        for step in page.get("PipelineExecutionSteps", []):
            if step.get("StepStatus") in ("Failed", "Stopped"):
                reason = step.get("FailureReason") or "no reason given"
                lines.append(f"Step {step.get('StepName')} {step.get('StepStatus').lower()}: {reason}")
        if not page.get("NextToken"):
            break
        paginator_args["NextToken"] = page["NextToken"]
    return lines


def wait_for_execution(
    sagemaker_client,
    execution_arn: str,
    timeout: int,
    poll_interval: int = 30,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Poll until the execution ends; its final status, or None when ``timeout`` seconds passed first."""
    deadline = clock() + timeout
    last = None
    while True:
        status = sagemaker_client.describe_pipeline_execution(PipelineExecutionArn=execution_arn)[
            "PipelineExecutionStatus"
        ]
        if status != last:
            print(f"Pipeline execution status: {status}", flush=True)
            last = status
        if status in TERMINAL:
            return status
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(poll_interval, remaining))


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    try:
        args = parse_args(argv, environ)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else 0

    logging.getLogger("sagemaker.config").setLevel(logging.WARNING)  # one line per configuration lookup
    pipeline = build_pipeline(args)
    if args.dry_run:
        print(json.dumps(json.loads(pipeline.definition()), indent=2))
        return 0

    from pipelines.abalone.pipeline import script_uploads

    session = pipeline.sagemaker_session
    upload_scripts(session.boto_session.client("s3"), script_uploads(args.data_bucket, args.base_job_prefix))
    project = next((t["Value"] for t in args.tags if t["Key"] == "sagemaker:project-name"), args.pipeline_name)
    ensure_model_package_group(session.sagemaker_client, args.model_package_group_name, args.tags, project)
    response = pipeline.upsert(role_arn=args.role_arn, description=args.description, tags=args.tags)
    print(f"Pipeline: {response['PipelineArn']}")
    execution = pipeline.start(parameters=args.parameters or None)
    print(f"Pipeline execution: {execution.arn}", flush=True)
    if not args.wait:
        return 0

    client = session.sagemaker_client
    status = wait_for_execution(client, execution.arn, args.wait_timeout, args.poll_interval)
    if status is None:
        print(
            f"Gave up waiting after {args.wait_timeout} s; the execution {execution.arn} is still running.",
            file=sys.stderr,
        )
        return EXIT_TIMEOUT
    if status != "Succeeded":
        print(f"Pipeline execution {execution.arn} ended with status {status}.", file=sys.stderr)
        for line in failure_report(client, execution.arn):
            print(line, file=sys.stderr)
        return EXIT_FAILED
    print(f"Pipeline execution {execution.arn} succeeded.")
    return 0


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    console_main()
