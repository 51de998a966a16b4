"""The package-cfn CodeBuild role allows every S3 call the publisher makes, and nothing outside its prefix.

`generate.py package` runs against the moto server (as the bootstrap's CodeBuild project runs it: the
bucket exists, no --create-bucket) while every AWS call of the publisher is recorded; each call is turned
into the IAM request AWS authorizes it as, with its context (s3:prefix of listings, tagging of uploads),
and evaluated against the CodeBuildServiceRole as package-cfn renders it, together with what CodeBuild
itself does with the role (logs, source archive).
"""

from __future__ import annotations

import os

import boto3
import pytest
from click.testing import CliRunner

from templates_src import cli
from templates_src import release_layout as layout
from templates_src.checks import iam_coverage
from templates_src.checks.iam_policy import Resolver, role_statements
from tests.support_iam import code_needs, record_calls
from tests.support_moto import ACCOUNT_ID, REGION

BUCKET = "mlops-releases"
PREFIX = "ml-platform/releases"
TARGETS = "env-iam-setup-stackset-role,env-iam-target-account-roles"


@pytest.fixture
def recorded_package_run(moto, tmp_path, monkeypatch):
    """Publish a release as the CodeBuild project does; returns the recorded calls of the publisher."""
    seed = tmp_path / "seed" / "model-build"
    seed.mkdir(parents=True)
    (seed / "buildspec.yml").write_text("version: 0.2\n")
    moto.client("s3").create_bucket(Bucket=BUCKET)
    recorders = []

    class RecordingSession(boto3.Session):
        """The publisher's session, with every call of its clients recorded."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            recorder = record_calls(self)
            recorders.append((recorder, recorder.__enter__()))

    from templates_src.release import publish

    monkeypatch.setattr(publish.boto3, "Session", RecordingSession)
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(moto.env)
    result = CliRunner(env=env).invoke(
        cli.cli,
        [
            "package",
            "--bucket",
            BUCKET,
            "--prefix",
            PREFIX,
            "--endpoint-url",
            moto.url,
            "--region",
            REGION,
            "--only",
            TARGETS,
            "--seed-code-dir",
            str(tmp_path / "seed"),
        ],
        catch_exceptions=False,
    )
    for recorder, _ in recorders:
        recorder.__exit__(None, None, None)
    assert result.exit_code == 0, result.output
    return [call for _, recorded in recorders for call in recorded]


def test_codebuild_role_allows_every_call_of_the_publisher(recorded_package_run, templates):
    template = templates["package-cfn"]
    resolver = Resolver(
        template,
        {"S3BucketName": BUCKET, "S3Prefix": PREFIX},
        pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID},
    )
    statements, _ = role_statements(template, "CodeBuildServiceRole", resolver)
    (log_group,) = resolver.values(template["Resources"]["CodeBuildLogGroup"]["Properties"]["LogGroupName"])
    operations = {op for _, op, _ in recorded_package_run}
    assert {"PutObject", "ListObjectsV2", "GetBucketLocation"} <= operations
    needs = code_needs(recorded_package_run, REGION, ACCOUNT_ID, "generate.py package") + iam_coverage.caller_needs(
        "codebuild-project",
        {
            "region": REGION,
            "account": ACCOUNT_ID,
            "log_group": log_group,
            "bucket": BUCKET,
            "source_key": layout.source_archive_key(PREFIX),
        },
    )
    coverage = iam_coverage.check("CodeBuildServiceRole", statements, needs, [])
    print("\n".join(coverage.report()))
    assert coverage.missing == [], "\n".join(coverage.report())
    assert len(coverage.findings) >= 8

    # ... and nothing beyond the prefix: the same calls elsewhere in the bucket are refused.
    elsewhere = [
        (
            service,
            op,
            {
                **params,
                **({"Key": "other/" + params["Key"]} if "Key" in params else {}),
                **({"Prefix": "other/"} if "Prefix" in params else {}),
            },
        )
        for service, op, params in recorded_package_run
        if service == "s3" and op not in ("GetBucketLocation", "GetBucketCors")  # of the bucket, not under a prefix
    ]
    outside = iam_coverage.check(
        "CodeBuildServiceRole", statements, code_needs(elsewhere, REGION, ACCOUNT_ID, "elsewhere"), []
    )
    assert outside.findings and all(f.status == "missing" for f in outside.findings)
