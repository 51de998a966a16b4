"""S3 project templates without manual wiring: what Studio needs to list and create the release's project
templates, set by the release and the environment, shown with the requests Studio makes.

A release is published with the real ``package`` to a moto server on 127.0.0.1, into a bucket it creates, then
the Studio side is followed request by request: the domain's ``sagemaker:projectS3TemplatesLocation`` tag
(packaged env-main passes the release's folder to env-sagemaker-studio), listing that folder, reading each
object's tags (``sagemaker:studio-visibility``) and the template itself, all from the browser (the bucket's
CORS configuration as moto holds it) with the environment's execution role (the platform's policies,
guardrails and boundary, and the release bucket's policy, evaluated: tests/support of templates_src/checks).
"""

from __future__ import annotations

import json
import os
import re

import pytest
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import release_layout as layout
from templates_src.checks import platform
from templates_src.checks.iam_policy import request, resource_policy_statements
from templates_src.checks.platform import DEV, ENV_A
from templates_src.checks.world import decide
from templates_src.release import publish
from templates_src.templates.env import env_main, env_sagemaker_studio
from tests.cfn import load
from tests.support_moto import aws
from tests.support_render import render

BUCKET = platform.SEED_BUCKET  # the release bucket the platform's environments are deployed with
PREFIX = layout.DEFAULT_PREFIX
REGION = "us-east-1"
ONLY = "env-main,project-model-build-train,project-model-deploy"
PROJECT_TEMPLATES = ("project-model-build-train", "project-model-deploy")
STUDIO_ORIGIN = "https://d-0123456789ab.studio.us-east-1.sagemaker.aws"  # Studio's web app, as browsers send it


@pytest.fixture
def seed_dir(tmp_path):
    root = tmp_path / "seed"
    for name in ("model-build-train", "model-deploy"):
        (root / name).mkdir(parents=True)
        (root / name / "buildspec.yml").write_text("version: 0.2\n")
    return root


def package(moto, seed_dir, *args: str):
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(moto.env)
    argv = ["package", "--bucket", BUCKET, "--endpoint-url", moto.url, "--only", ONLY]
    argv += ["--seed-code-dir", str(seed_dir), "--output", "json", *args]
    return CliRunner(env=env).invoke(generate.cli, argv, catch_exceptions=False)


@pytest.fixture
def release(moto, seed_dir) -> dict:
    result = package(moto, seed_dir, "--create-bucket")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _read(moto, key: str) -> dict:
    return load(moto.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _key(url: str) -> str:
    return re.sub(r"^https://[^/]+/", "", url)


def test_a_fresh_environment_shows_both_project_templates_in_studio(moto, release, templates, default_config):
    s3 = moto.client("s3")
    folder = layout.release_folder(PREFIX, release["release"])
    location = f"s3://{BUCKET}/{folder}"

    # The release's env-main passes its own folder to the Studio stack, which tags the domain with it.
    main = _read(moto, layout.release_key(PREFIX, release["release"], f"{env_main.NAME}.yaml"))
    param = env_sagemaker_studio.PROJECT_TEMPLATES_LOCATION.name
    assert main["Parameters"][param]["Default"] == location
    studio_url = main["Resources"]["EnvironmentSageMakerStudio"]["Properties"]["TemplateURL"]
    assert main["Resources"]["EnvironmentSageMakerStudio"]["Properties"]["Parameters"][param] == {"Ref": param}
    studio = _read(moto, _key(studio_url))
    given = {
        "EnvName": "team1",
        "VPCId": "vpc-0123456789abcdef0",
        "SageMakerStudioSubnetIds": "subnet-0123456789abcdef0",
        "SageMakerSecurityGroupIds": "sg-0123456789abcdef0",
        "SageMakerStudioStorageKMSKeyId": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "SageMakerExecutionRoleArn": "arn:aws:iam::111111111111:role/team1-dev-us-east-1-sm-execution",
        "PermissionsBoundaryArn": "arn:aws:iam::111111111111:policy/sm-mlops-core-us-east-1-platform-boundary",
        param: location,
    }
    domain = render(studio, given)["Resources"]["SageMakerStudioDomain"]["Properties"]
    tags = {t["Key"]: t["Value"] for t in domain["Tags"]}
    assert tags[env_sagemaker_studio.PROJECT_TEMPLATES_TAG] == location
    # Without a location (a local build), no tag: Studio offers the Service Catalog templates only.
    local = render(studio, {**given, param: ""})["Resources"]["SageMakerStudioDomain"]["Properties"]
    # (an Fn::If that yields AWS::NoValue in a list renders as "", which CloudFormation drops)
    assert [t for t in local["Tags"] if not isinstance(t, dict)] == [""]
    assert env_sagemaker_studio.PROJECT_TEMPLATES_TAG not in {t["Key"] for t in local["Tags"] if t}

    # Studio lists the folder and shows the objects tagged for it: the two project templates, nothing else.
    bucket, prefix = re.fullmatch(r"s3://([^/]+)/(.*)", location).groups()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    visible = sorted(
        key
        for key in keys
        if {"Key": "sagemaker:studio-visibility", "Value": "true"}
        in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    )
    assert visible == [f"{folder}{name}.yaml" for name in PROJECT_TEMPLATES]
    assert len(keys) > len(visible)  # the folder holds other templates, which Studio does not show

    # From the browser: the bucket's CORS configuration (as moto holds it) lets Studio's origin read, no one else.
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert publish.cors_allows(rules, STUDIO_ORIGIN, "GET") and publish.cors_allows(rules, STUDIO_ORIGIN, "HEAD")
    assert not publish.cors_allows(rules, STUDIO_ORIGIN, "PUT")
    assert not publish.cors_allows(rules, "https://studio.example.com", "GET")

    # With the environment's execution role (Studio's credentials): its policies, the guardrails and boundary
    # env-main attaches, and the release bucket's policy, for each request Studio makes.
    p = platform.build(templates, default_config)
    role = next(
        r
        for r in p.world.principals
        if r.stack is p.child(ENV_A, "env-iam") and r.logical_id == "SageMakerExecutionRole"
    )
    arn = f"arn:aws:s3:::{bucket}"
    bucket_policy = resource_policy_statements(
        publish.release_bucket_policy(arn), p.child(ENV_A, "env-iam").resolver, "release bucket"
    )
    secure = {"aws:SecureTransport": True, "s3:ResourceAccount": DEV}
    studio_domain = f"arn:aws:sagemaker:{platform.REGION}:{DEV}:domain/d-0123456789ab"
    requests = [
        request("sagemaker:ListTags", studio_domain, context={}),
        request("s3:ListBucket", arn, context={**secure, "s3:prefix": prefix}),
    ]
    for key in visible:
        requests += [
            request("s3:GetObjectTagging", f"{arn}/{key}", context=secure),
            request("s3:GetObject", f"{arn}/{key}", context=secure),
        ]
    refused = [(r.action, r.resource) for r in requests if not decide(role, r, bucket_policy).allowed]
    assert refused == []
    # the same read without TLS is refused by the bucket
    plain = request("s3:GetObject", f"{arn}/{visible[0]}", context={**secure, "aws:SecureTransport": False})
    assert not decide(role, plain, bucket_policy).allowed


def test_a_bucket_package_does_not_manage_gets_the_one_line_command(moto, seed_dir):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    first = package(moto, seed_dir)
    assert first.exit_code == 0, first.output
    [warning] = [line for line in json.loads(first.stdout)["warnings"] if "CORS" in line]
    command = warning.split("run: ", 1)[1]
    assert command == publish.studio_cors_command(BUCKET, REGION)
    with pytest.raises(Exception, match="NoSuchCORSConfiguration"):
        moto.client("s3").get_bucket_cors(Bucket=BUCKET)  # the owner's bucket is left as it is
    # The command, run with the real AWS CLI, is all it takes: the next run has nothing to say.
    args = command.split(" ", 1)[1]
    configuration = args.split("--cors-configuration ", 1)[1].strip("'")
    aws(moto, "s3api", "put-bucket-cors", "--bucket", BUCKET, "--region", REGION, "--cors-configuration", configuration)
    second = package(moto, seed_dir)
    assert second.exit_code == 0, second.output
    assert not [line for line in json.loads(second.stdout)["warnings"] if "CORS" in line]
