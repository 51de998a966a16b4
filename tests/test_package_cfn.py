"""package-cfn: the packaging bootstrap (CodeBuild project + StartBuild custom resource) and its handler.

The template is built as every registered template is (``generator.build_selected``: version, tags).  The
handler runs through the real custom-resource runtime against moto's
CodeBuild, answering a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import sys
import time

import boto3
import pytest
import yaml

from templates_src import functions, generator
from templates_src import release_layout as layout
from templates_src.blocks import partitions
from templates_src.config import from_mapping
from templates_src.context import BuildContext
from templates_src.registry import DIRECT_DEPLOY_LIMIT, TEMPLATES
from templates_src.templates.bootstrap import package_cfn
from tests import cfn
from tests.conftest import REPO
from tests.support_cfn import (
    FakeContext,
    ResponseRecorder,
    cfn_event,
    count_calls,
    load_inline,
    load_source,
    mocked_aws,
)

PROJECT_ID = "CfnTemplatePackageProject"
CODEBUILD_ROLE = "CodeBuildServiceRole"
FUNCTION_ROLE = "StartBuildLambdaRole"


def build(config) -> dict:
    return generator.build_selected([package_cfn.NAME], BuildContext(config))[package_cfn.NAME]


@pytest.fixture(scope="module")
def default(default_config):
    return build(default_config)


@pytest.fixture(scope="module")
def enterprise(enterprise_config):
    return build(enterprise_config)


@pytest.fixture(scope="module", params=["default", "enterprise"])
def both(request, default, enterprise, default_config, enterprise_config):
    """(config, template) for both configurations."""
    return (default_config, default) if request.param == "default" else (enterprise_config, enterprise)


def project_props(template: dict) -> dict:
    return template["Resources"][PROJECT_ID]["Properties"]


def buildspec(template: dict) -> dict:
    return yaml.safe_load(project_props(template)["Source"]["BuildSpec"])


def all_commands(spec: dict) -> list[str]:
    return [c for phase in spec["phases"].values() for c in phase.get("commands", [])]


ONLY = '${PACKAGE_ONLY:+--only "$PACKAGE_ONLY"}'


def package_command(template: dict) -> list[str]:
    """The package command's words, without the optional --only the shell adds when Templates is set."""
    (command,) = [c for c in all_commands(buildspec(template)) if "generate.py package" in c]
    assert command.endswith(" " + ONLY)
    return shlex.split(command[: -len(ONLY)])


# --------------------------------------------------------------------------------------------------------
# Parameters


def test_parameters_match_the_reference_and_stop_bad_input(default):
    params = default["Parameters"]
    assert list(params) == ["S3BucketName", "S3Prefix", "Templates", "ReleaseTrigger"]
    templates = params["Templates"]
    assert templates["Default"] == ""
    for good in ("", "env-iam-setup-stackset-role", "env-iam-setup-stackset-role,env-iam-target-account-roles"):
        assert cfn.accepts(templates, good), good
    for bad in ("a,,b", ",a", "a b", "$(x)"):
        assert not cfn.accepts(templates, bad), bad
    for spec in params.values():
        assert spec["ConstraintDescription"] and spec["Description"]

    bucket = params["S3BucketName"]
    assert "Default" not in bucket  # required, as in the reference
    for good in ("my-bucket", "sagemaker-mlops-111122223333-eu-west-1", "my.dotted.bucket", "abc", "a" * 63):
        assert cfn.accepts(bucket, good), good
    for bad in (
        "",
        "ab",
        "a" * 64,
        "My-Bucket",
        "my_bucket",
        "-bucket",
        "bucket-",
        "xn--bucket",
        "sthree-x",
        "s3://my-bucket",
    ):
        assert not cfn.accepts(bucket, bad), bad

    prefix = params["S3Prefix"]
    assert prefix["Default"] == layout.DEFAULT_PREFIX and cfn.accepts(prefix, prefix["Default"])
    for good in ("sagemaker-mlops", "ml-platform/releases", "Team_1/sm.mlops-v2", "a" * 128):
        assert cfn.accepts(prefix, good), good
    # No slash at either end, no empty, '.' or '..' segment, no IAM wildcard, nothing a shell or URL mangles.
    for bad in (
        "",
        "/sagemaker-mlops",
        "sagemaker-mlops/",
        "a//b",
        "../x",
        "a/./b",
        "a/*",
        "a?",
        "a b",
        "${AWS::Region}",
        "a" * 129,
    ):
        assert not cfn.accepts(prefix, bad), bad

    trigger = params["ReleaseTrigger"]
    assert trigger["Default"] == "1"
    for good in ("1", "2", "2026-11-25T10:00", "v1.2.3_rebuild"):
        assert cfn.accepts(trigger, good), good
    for bad in ("", "a b", "x" * 65, "$(reboot)"):
        assert not cfn.accepts(trigger, bad), bad


def test_every_parameter_has_a_console_label(default):
    interface = default["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
    assert sorted(grouped) == sorted(default["Parameters"]) == sorted(interface["ParameterLabels"])


# --------------------------------------------------------------------------------------------------------
# CodeBuild project


def test_project_uses_a_current_image_and_python(both):
    _, template = both
    env = project_props(template)["Environment"]
    assert env == {
        **env,
        "Type": "LINUX_CONTAINER",
        "ComputeType": "BUILD_GENERAL1_SMALL",
        "Image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
    }
    body = json.dumps(template)
    for stale in ("standard:3.0", "standard:4.0", "python3.8", "amazonlinux2-"):
        assert stale not in body
    spec = buildspec(template)
    assert str(spec["version"]) == "0.2"
    assert str(spec["phases"]["install"]["runtime-versions"]["python"]) == "3.12"


def test_source_is_the_archive_and_nothing_else_is_attached(both):
    _, template = both
    props = project_props(template)
    assert props["Source"]["Type"] == "S3"
    assert cfn.text(props["Source"]["Location"]) == "${S3BucketName}/" + layout.source_archive_key("${S3Prefix}")
    assert props["Artifacts"] == {"Type": "NO_ARTIFACTS"}
    assert 15 <= props["TimeoutInMinutes"] <= 30
    for absent in ("VpcConfig", "EncryptionKey", "SecondarySources", "Cache"):
        assert absent not in props
    assert props["ServiceRole"] == {"Fn::GetAtt": [CODEBUILD_ROLE, "Arn"]}


def test_project_logs_to_its_own_log_group_with_the_configured_retention(both):
    config, template = both
    props = project_props(template)
    assert props["Name"] == config.prefix + "sagemaker-mlops-package"
    assert props["LogsConfig"]["CloudWatchLogs"] == {"Status": "ENABLED", "GroupName": {"Ref": "CodeBuildLogGroup"}}
    group = template["Resources"]["CodeBuildLogGroup"]
    assert group["Properties"]["LogGroupName"] == f"/aws/codebuild/{props['Name']}"
    assert group["Properties"]["RetentionInDays"] == config.log_retention_days
    assert group["DeletionPolicy"] == "Delete"


def test_buildspec_installs_the_source_in_a_venv_then_packages(default):
    """Dependencies from the archive's lock file with hashes (nothing unpinned from the index), then the
    generator itself without dependencies, then the package command."""
    commands = all_commands(buildspec(default))
    assert commands[0] == "python3 -m venv .venv"
    lock = package_cfn.RUNTIME_LOCK
    assert (REPO / lock).is_file()  # in the repository, hence in `git archive`'s source archive
    dependencies = commands.index(f".venv/bin/python -m pip install --quiet --no-cache-dir --require-hashes -r {lock}")
    generator = commands.index(
        ".venv/bin/python -m pip install --quiet --no-cache-dir --no-deps --no-build-isolation ."
    )
    assert [c for c in commands if "pip install" in c] == [commands[dependencies], commands[generator]]
    package = next(i for i, c in enumerate(commands) if "generate.py package" in c)
    assert dependencies < generator < package == len(commands) - 1
    args = package_command(default)
    assert args[:3] == [".venv/bin/python", "generate.py", "package"]
    options = dict(zip(args[3::2], args[4::2], strict=False))
    assert options == {
        "--config": package_cfn.CONFIG_FILE,
        "--bucket": "$S3_BUCKET_NAME",
        "--prefix": "$S3_PREFIX",
        "--region": "$AWS_REGION",
    }
    # The values are quoted, so the shell passes each as one word.
    assert '--bucket "$S3_BUCKET_NAME" --prefix "$S3_PREFIX" --region "$AWS_REGION"' in commands[package]


def test_environment_passes_bucket_prefix_and_the_generation_config(both):
    config, template = both
    env = {v["Name"]: v for v in project_props(template)["Environment"]["EnvironmentVariables"]}
    assert set(env) == {"S3_BUCKET_NAME", "S3_PREFIX", "PACKAGE_ONLY", "GENERATOR_CONFIG"}
    assert env["PACKAGE_ONLY"]["Value"] == {"Ref": "Templates"}
    assert {v["Type"] for v in env.values()} == {"PLAINTEXT"}
    assert env["S3_BUCKET_NAME"]["Value"] == {"Ref": "S3BucketName"}
    assert env["S3_PREFIX"]["Value"] == {"Ref": "S3Prefix"}
    # The build publishes the templates of exactly the configuration this bootstrap was generated with.
    assert from_mapping(json.loads(env["GENERATOR_CONFIG"]["Value"])) == config
    written = [c for c in all_commands(buildspec(template)) if "GENERATOR_CONFIG" in c]
    assert written == [f"printf '%s\\n' \"$GENERATOR_CONFIG\" > {package_cfn.CONFIG_FILE}"]


def test_buildspec_command_is_accepted_by_the_package_command(default):
    """The options the buildspec passes are the ones `generate.py package` defines."""
    import click

    from templates_src import cli as generate

    command = generate.cli.commands.get("package")
    if command is None:
        pytest.skip("generate.py has no package command yet")
    args = [
        {"$S3_BUCKET_NAME": "my-bucket", "$S3_PREFIX": "sagemaker-mlops", "$AWS_REGION": "eu-west-1"}.get(a, a)
        for a in package_command(default)[3:]
    ]
    ctx = command.make_context("package", args, resilient_parsing=False)
    assert isinstance(ctx, click.Context)
    assert (ctx.params["bucket"], ctx.params["prefix"], ctx.params["region"], ctx.params["config_path"]) == (
        "my-bucket",
        "sagemaker-mlops",
        "eu-west-1",
        package_cfn.CONFIG_FILE,
    )
    # ...and the prefix pattern of this template only admits prefixes that command accepts.
    if hasattr(generate, "KEY_PREFIX"):
        for prefix in ("sagemaker-mlops", "ml-platform/releases", "Team_1/sm.mlops-v2"):
            assert re.fullmatch(generate.KEY_PREFIX, prefix)


# --------------------------------------------------------------------------------------------------------
# IAM


def _resolve(value, **values) -> str:
    return cfn.sub_name(value, S3BucketName="my-bucket", S3Prefix="sagemaker-mlops", **values)


def test_codebuild_role_reads_the_archive_and_writes_only_under_the_prefix(both):
    _, template = both
    stmts = cfn.role_statements(template, CODEBUILD_ROLE)
    assert {s["Effect"] for s in stmts} == {"Allow"}
    acts = cfn.actions(stmts)
    assert acts == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObjectTagging",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetBucketAcl",
        "s3:GetBucketCORS",
    }
    assert not {a for a in acts if "Delete" in a or "*" in a or "Acl" in a and a.startswith("s3:Put")}

    archive = cfn.statement(stmts, "ReadSourceArchive")
    assert [_resolve(r) for r in archive["Resource"]] == [
        "arn:aws:s3:::my-bucket/sagemaker-mlops/sagemaker-secure-mlops.zip"
    ]

    objects = [
        _resolve(r)
        for s in stmts
        for r in cfn.as_list(s["Resource"])
        if any(a in cfn.as_list(s["Action"]) for a in ("s3:GetObject", "s3:PutObject"))
    ]
    inside = (
        "arn:aws:s3:::my-bucket/sagemaker-mlops/releases/1.0.0/core-main.yaml",
        "arn:aws:s3:::my-bucket/sagemaker-mlops/templates/core-main/0123456789abcdef.yaml",
    )
    outside = (
        "arn:aws:s3:::my-bucket/other/core-main.yaml",
        "arn:aws:s3:::my-bucket/sagemaker-mlops-evil/x",
        "arn:aws:s3:::other-bucket/sagemaker-mlops/x",
        "arn:aws:s3:::my-bucket/sagemaker-mlops",
    )
    writes = [_resolve(r) for r in cfn.statement(stmts, "PublishUnderPrefix")["Resource"]]
    assert all(any(fnmatch.fnmatchcase(key, p) for p in writes) for key in inside)
    assert not any(fnmatch.fnmatchcase(key, p) for key in outside for p in objects)

    listing = cfn.statement(stmts, "ListPrefixOnly")
    assert listing["Action"] == ["s3:ListBucket"]
    assert [_resolve(r) for r in listing["Resource"]] == ["arn:aws:s3:::my-bucket"]
    assert {k: [cfn.text(v) for v in cfn.as_list(vs)] for k, vs in listing["Condition"]["StringLike"].items()} == {
        "s3:prefix": ["${S3Prefix}/*"]
    }
    bucket_only = cfn.statement(stmts, "BucketIdentity")
    assert [_resolve(r) for r in bucket_only["Resource"]] == ["arn:aws:s3:::my-bucket"]


def test_codebuild_role_logs_only_to_its_log_group_and_is_trusted_by_codebuild_only(both):
    _, template = both
    stmts = cfn.role_statements(template, CODEBUILD_ROLE)
    group = template["Resources"]["CodeBuildLogGroup"]["Properties"]["LogGroupName"]
    logs = cfn.statement(stmts, "OwnLogGroupOnly")
    assert [cfn.text(r) for r in logs["Resource"]] == [
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{group}{suffix}"
        for suffix in ("", ":*")
    ]
    (trust,) = template["Resources"][CODEBUILD_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["codebuild.amazonaws.com"]}
    assert trust["Action"] == ["sts:AssumeRole"]


def test_function_role_may_only_start_this_project(both):
    _, template = both
    stmts = cfn.role_statements(template, FUNCTION_ROLE)
    assert cfn.actions(stmts) == {"logs:CreateLogStream", "logs:PutLogEvents", "codebuild:StartBuild"}
    start = cfn.statement(stmts, "StartPackagingBuild")
    assert start["Action"] == ["codebuild:StartBuild"]
    assert start["Resource"] == [{"Fn::GetAtt": [PROJECT_ID, "Arn"]}]


def test_roles_get_path_boundary_and_no_managed_policies(both):
    config, template = both
    for logical_id, role in cfn.resources(template, "AWS::IAM::Role").items():
        props = role["Properties"]
        assert props["Path"] == config.role_path, logical_id
        assert "ManagedPolicyArns" not in props and "RoleName" not in props
        if config.permissions_boundary:
            assert cfn.text(props["PermissionsBoundary"]).endswith(f":policy/{config.permissions_boundary}")
        else:
            assert "PermissionsBoundary" not in props


def test_no_hard_coded_partition_and_no_wildcard_actions(both):
    _, template = both
    assert "arn:aws:" not in json.dumps(template)
    assert "s3.amazonaws.com" not in json.dumps(template)
    for stmt in cfn.all_statements(template):
        acts = cfn.as_list(stmt["Action"])
        assert "*" not in acts and not any(re.fullmatch(r"[a-z0-9-]+:\*", a) for a in acts)
        assert "*" not in cfn.as_list(stmt.get("Resource", []))
        assert "NotResource" not in stmt and "NotAction" not in stmt


# --------------------------------------------------------------------------------------------------------
# Function and custom resource


def test_function_is_inlined_with_the_configured_runtime_and_a_bounded_name(both):
    config, template = both
    assert functions.fits_inline("start_build")
    fn = template["Resources"]["StartBuildLambda"]["Properties"]
    assert fn["Code"] == {"ZipFile": functions.inline_source("start_build")}
    assert fn["Runtime"] == config.lambda_runtime
    name = cfn.sub_name(fn["FunctionName"])
    assert name == config.prefix + "sagemaker-mlops-package-start-build-eu-west-1"
    log_group = template["Resources"]["StartBuildLambdaLogGroup"]["Properties"]
    assert cfn.sub_name(log_group["LogGroupName"]) == f"/aws/lambda/{name}"
    assert log_group["RetentionInDays"] == config.log_retention_days


def test_function_name_fits_lambda_with_the_longest_prefix_and_region():
    template = build(from_mapping({"name_prefix": "abcdefghijkl"}))  # 12 characters, the maximum
    name = cfn.sub_name(
        template["Resources"]["StartBuildLambda"]["Properties"]["FunctionName"], **{"AWS::Region": "us-isof-south-1"}
    )
    assert len(name) == 64


def test_custom_resource_starts_this_project_and_carries_its_triggers(both):
    config, template = both
    resource = template["Resources"]["StartBuild"]
    assert resource["Type"] == "Custom::StartBuild"
    assert resource["DependsOn"] == ["StartBuildLambdaLogGroup"]
    props = resource["Properties"]
    assert props == {
        "ServiceToken": {"Fn::GetAtt": ["StartBuildLambda", "Arn"]},
        "ProjectName": {"Ref": PROJECT_ID},
        "SourceLocation": props["SourceLocation"],
        "ReleaseVersion": config.version,
        "Templates": {"Ref": "Templates"},
        "ReleaseTrigger": {"Ref": "ReleaseTrigger"},
    }
    assert cfn.text(props["SourceLocation"]) == cfn.text(project_props(template)["Source"]["Location"])


def test_resources_are_the_expected_ones_and_all_tagged(both):
    config, template = both
    assert sorted((k, v["Type"]) for k, v in template["Resources"].items()) == sorted(
        [
            ("CodeBuildLogGroup", "AWS::Logs::LogGroup"),
            (CODEBUILD_ROLE, "AWS::IAM::Role"),
            (PROJECT_ID, "AWS::CodeBuild::Project"),
            (FUNCTION_ROLE, "AWS::IAM::Role"),
            ("StartBuildLambdaLogGroup", "AWS::Logs::LogGroup"),
            ("StartBuildLambda", "AWS::Lambda::Function"),
            ("StartBuild", "Custom::StartBuild"),
        ]
    )
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "Custom::StartBuild":
            continue
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags == config.tags, logical_id


# --------------------------------------------------------------------------------------------------------
# Outputs


def _condition_true(template: dict, name: str, **values) -> bool:
    """Evaluate this template's two conditions for sample values (Equals, Or, Select/Split, Ref)."""

    def ev(node):
        if isinstance(node, dict):
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return values[arg]
            if fn == "Fn::Split":
                return ev(arg[1]).split(arg[0])
            if fn == "Fn::Select":
                return ev(arg[1])[arg[0]]
            if fn == "Fn::Equals":
                return ev(arg[0]) == ev(arg[1])
            if fn == "Fn::Or":
                return any(ev(a) for a in arg)
            raise AssertionError(fn)
        return node

    return ev(template["Conditions"][name])


@pytest.mark.parametrize("bucket", ["my-bucket", "my.dotted.bucket"])
def test_core_main_url_is_the_regional_url_packaging_publishes(both, bucket):
    config, template = both
    cond, virtual, path = template["Outputs"]["CoreMainStackS3Uri"]["Value"]["Fn::If"]
    chosen = virtual if _condition_true(template, cond, S3BucketName=bucket) else path
    url = cfn.sub_name(chosen, S3BucketName=bucket, S3Prefix="sagemaker-mlops", **{"AWS::URLSuffix": "amazonaws.com"})
    key = layout.release_key("sagemaker-mlops", config.version, "core-main.yaml")
    assert url == layout.https_url(bucket, "eu-west-1", "amazonaws.com", key)
    assert cfn.text(virtual).startswith("https://${S3BucketName}.s3.${AWS::Region}.${AWS::URLSuffix}/")


def test_deploy_link_uses_the_partition_console_and_the_core_main_url(both):
    _, template = both
    output = template["Outputs"]["CoreMainStackDeployLink"]
    pattern, variables = output["Value"]["Fn::Sub"]
    assert pattern == ("https://${Host}/cloudformation/home?region=${AWS::Region}#/stacks/new?templateURL=${Url}")
    assert variables["Url"] == template["Outputs"]["CoreMainStackS3Uri"]["Value"]
    assert variables["Host"] == {"Fn::FindInMap": ["Partitions", {"Ref": "AWS::Partition"}, "Console"]}
    hosts = {p: v["Console"] for p, v in template["Mappings"]["Partitions"].items()}
    assert hosts["aws"] == "console.aws.amazon.com" and set(hosts) == {"aws", "aws-cn", "aws-us-gov"}
    # Partitions without a known console host (the isolated ones) get no link instead of a failed deploy.
    for partition in ("aws", "aws-cn", "aws-us-gov", "aws-iso"):
        assert _condition_true(template, output["Condition"], **{"AWS::Partition": partition}) == (partition in hosts)


def test_other_outputs(both):
    config, template = both
    outputs = template["Outputs"]
    entries = {"CoreMain": "core-main", "EnvMain": "env-main", "QuickStart": "data-science-environment-quickstart"}
    assert set(outputs) == {f"{o}Stack{kind}" for o in entries for kind in ("S3Uri", "DeployLink")} | {
        "StartBuildCLICommand",
        "ReleaseManifestS3Uri",
    }
    for output, name in entries.items():  # the release URLs of the entry templates users start from
        assert name in TEMPLATES and TEMPLATES[name].entry
        assert f"/{name}.yaml" in json.dumps(outputs[f"{output}StackS3Uri"]["Value"])
        assert outputs[f"{output}StackDeployLink"]["Condition"] == partitions.KNOWN
    assert cfn.text(outputs["StartBuildCLICommand"]["Value"]) == (
        "aws codebuild start-build --project-name ${CfnTemplatePackageProject}"
    )
    assert cfn.text(outputs["ReleaseManifestS3Uri"]["Value"]) == (
        "s3://${S3BucketName}/" + layout.manifest_key("${S3Prefix}", config.version)
    )
    for output in outputs.values():
        assert output["Description"]


# --------------------------------------------------------------------------------------------------------
# Lint and size


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_cfn_lint_reports_nothing(both, suffix, linter, tmp_path):
    _, template = both
    path = tmp_path / f"{package_cfn.NAME}{suffix}"
    path.write_text(generator.render(template, suffix), encoding="utf-8")
    result = linter.lint(path)
    assert result.findings == [], [str(f) for f in result.findings]
    # Users deploy it with --template-file: it must fit what that uploads inline.
    assert len(path.read_bytes()) <= DIRECT_DEPLOY_LIMIT


# --------------------------------------------------------------------------------------------------------
# The start_build handler, through the real runtime against moto's CodeBuild


PROJECT = "sagemaker-mlops-package"
OTHER_PROJECT = "other-package"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)


@pytest.fixture
def recorder(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with ResponseRecorder() as rec:
        yield rec


@pytest.fixture(scope="module")
def boto_session():
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    session.client("codebuild")  # loads the service model once
    return session


@pytest.fixture
def codebuild(monkeypatch, tmp_path, boto_session):
    """moto with two CodeBuild projects; boto3's default session (what the handler uses) is the test one."""
    with mocked_aws(monkeypatch, tmp_path, boto_session):
        client = boto_session.client("codebuild")
        for name in (PROJECT, OTHER_PROJECT):
            client.create_project(
                name=name,
                source={"type": "S3", "location": "my-bucket/sagemaker-mlops/sagemaker-secure-mlops.zip"},
                artifacts={"type": "NO_ARTIFACTS"},
                serviceRole="arn:aws:iam::123456789012:role/package",
                environment={
                    "type": "LINUX_CONTAINER",
                    "image": package_cfn.IMAGE,
                    "computeType": "BUILD_GENERAL1_SMALL",
                },
            )
        yield client


@pytest.fixture(params=["source", "inline"])
def handler(request):
    """The handler module as it sits in templates_src/functions, and the exact code the template inlines."""
    sys.modules.pop("start_build", None)  # load_source binds it; a second load must import it afresh
    try:
        if request.param == "source":
            yield load_source("start_build").lambda_handler
        else:
            yield load_inline(functions.inline_source("start_build"), "start_build").lambda_handler
    finally:
        sys.modules.pop("start_build", None)


PROPS = {
    "ProjectName": PROJECT,
    "SourceLocation": "my-bucket/sagemaker-mlops/sagemaker-secure-mlops.zip",
    "ReleaseVersion": "1.0.0",
    "ReleaseTrigger": "1",
}


def builds(client, project=PROJECT) -> list[str]:
    return client.list_builds_for_project(projectName=project)["ids"]


def run(handler, recorder, request_type, properties=None, old=None, physical_id=None) -> dict:
    event = cfn_event(
        request_type,
        recorder.url,
        properties if properties is not None else PROPS,
        old_properties=old,
        physical_id=physical_id,
        logical_id="StartBuild",
        resource_type="Custom::StartBuild",
    )
    recorder.requests.clear()
    handler(event, FakeContext())
    body = recorder.single()
    assert body["RequestId"] == event["RequestId"] and body["LogicalResourceId"] == "StartBuild"
    return body


def test_create_starts_one_build_and_returns_its_id(handler, recorder, codebuild, boto_session):
    with count_calls(boto_session, "codebuild") as calls:
        body = run(handler, recorder, "Create")
    assert calls == ["StartBuild"]
    assert body["Status"] == "SUCCESS"
    (build_id,) = builds(codebuild)
    assert body["Data"] == {"BuildId": build_id}
    assert build_id.startswith(f"{PROJECT}:")


def test_update_with_unchanged_properties_starts_no_build(handler, recorder, codebuild, boto_session):
    # Only the ServiceToken differs: the function was replaced, the packaging inputs did not change.
    old = {**PROPS, "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:old-function"}
    with count_calls(boto_session, "codebuild") as calls:
        body = run(handler, recorder, "Update", old=old, physical_id="kept-id")
    assert calls == []
    assert body["Status"] == "SUCCESS" and body["Data"] == {} and body["PhysicalResourceId"] == "kept-id"
    assert builds(codebuild) == []


@pytest.mark.parametrize(
    "changed",
    [
        {"ReleaseTrigger": "2"},
        {"ReleaseVersion": "1.1.0"},
        {"SourceLocation": "other-bucket/sagemaker-mlops/sagemaker-secure-mlops.zip"},
    ],
)
def test_update_with_a_changed_trigger_starts_one_build(handler, recorder, codebuild, changed):
    body = run(handler, recorder, "Update", properties={**PROPS, **changed}, old=PROPS, physical_id="kept-id")
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "kept-id"
    (build_id,) = builds(codebuild)
    assert body["Data"] == {"BuildId": build_id}


def test_update_to_another_project_builds_that_project(handler, recorder, codebuild):
    body = run(handler, recorder, "Update", properties={**PROPS, "ProjectName": OTHER_PROJECT}, old=PROPS)
    assert body["Status"] == "SUCCESS"
    assert builds(codebuild) == [] and body["Data"] == {"BuildId": builds(codebuild, OTHER_PROJECT)[0]}


def test_delete_starts_no_build(handler, recorder, codebuild, boto_session):
    with count_calls(boto_session, "codebuild") as calls:
        body = run(handler, recorder, "Delete", physical_id="kept-id")
    assert calls == []
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "kept-id"
    assert builds(codebuild) == []


def test_missing_project_or_name_fails_with_a_reason(handler, recorder, codebuild):
    body = run(handler, recorder, "Create", properties={**PROPS, "ProjectName": "does-not-exist"})
    assert body["Status"] == "FAILED" and "ResourceNotFoundException" in body["Reason"]
    body = run(handler, recorder, "Create", properties={k: v for k, v in PROPS.items() if k != "ProjectName"})
    assert body["Status"] == "FAILED" and body["Reason"].startswith("ValueError: ProjectName")
    assert builds(codebuild) == []


@pytest.mark.parametrize("value, words", [("", []), ("a,b", ["--only", "a,b"])])
def test_templates_selection_reaches_the_command_as_one_option(value, words):
    """The shell adds `--only <names>` only when the Templates parameter is set (POSIX sh semantics)."""
    import subprocess

    out = subprocess.run(
        ["sh", "-c", f'set -- {ONLY}; for a in "$@"; do echo "[$a]"; done'],
        env={"PACKAGE_ONLY": value},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == [f"[{w}]" for w in words]


def test_start_build_function_role_allows_every_call_of_its_code(both, recorder, codebuild, boto_session):
    """The function role (as the template renders it) allows what the handler's code calls, on this project."""
    from tests.support_iam import function_role_coverage, record_calls

    config, template = both
    name = template["Resources"]["CfnTemplatePackageProject"]["Properties"]["Name"]
    if name != PROJECT:
        codebuild.create_project(
            name=name,
            source={"type": "S3", "location": PROPS["SourceLocation"]},
            artifacts={"type": "NO_ARTIFACTS"},
            serviceRole="arn:aws:iam::123456789012:role/package",
            environment={"type": "LINUX_CONTAINER", "image": package_cfn.IMAGE, "computeType": "BUILD_GENERAL1_SMALL"},
        )
    sys.modules.pop("start_build", None)
    try:
        handler = load_source("start_build").lambda_handler
    finally:
        sys.modules.pop("start_build", None)
    with record_calls(boto_session) as calls:
        assert run(handler, recorder, "Create", {**PROPS, "ProjectName": name})["Status"] == "SUCCESS"
    assert [c[1] for c in calls] == ["StartBuild"]
    coverage = function_role_coverage(template, "StartBuildLambda", calls, "us-east-1", "123456789012")
    assert coverage.missing == [], "\n".join(coverage.report())
    other = function_role_coverage(
        template,
        "StartBuildLambda",
        [("codebuild", "StartBuild", {"projectName": OTHER_PROJECT})],
        "us-east-1",
        "123456789012",
    )
    assert [f.need.action for f in other.missing] == ["codebuild:StartBuild"]  # no other project
