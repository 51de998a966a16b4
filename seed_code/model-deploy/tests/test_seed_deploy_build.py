"""build.py against moto (SageMaker model registry, STS) behind the front server (which answers what moto lacks).

moto does not implement PutModelPackageGroupPolicy; the front server answers it and records the policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from seed_deploy_support import (
    BASE_ENV,
    GROUP,
    OWN_ACCOUNT,
    SEED_ROOT,
    json_answer,
    load_seed_module,
    make_checkout,
    packages,
)

build = load_seed_module("build.py", "seed_deploy_build_script")


@pytest.fixture
def workspace(aws, tmp_path, monkeypatch, build_template):
    """A repository checkout (config templates of the seed, endpoint template), an output folder, the fakes."""
    source = make_checkout(tmp_path / "src", build_template, monkeypatch)
    return source, tmp_path / "out", aws


def run_build(workspace, capsys):
    """Run the build like CodeBuild does (in-process); only the build's own AWS calls are recorded."""
    source, output, aws = workspace
    aws.requests.clear()
    code = build.main(["--source-dir", str(source), "--output-dir", str(output)])
    return code, capsys.readouterr()


def read(output, name):
    return json.loads((output / name).read_text())


def as_dict(parameters: list[dict]) -> dict:
    keys = [p["ParameterKey"] for p in parameters]
    assert len(keys) == len(set(keys)), f"a parameter appears twice: {keys}"
    assert all(
        set(p) == {"ParameterKey", "ParameterValue"} and isinstance(p["ParameterValue"], str) for p in parameters
    )
    return {p["ParameterKey"]: p["ParameterValue"] for p in parameters}


def template_parameters(text: str) -> dict:
    declared = build.template_parameters(text)
    assert declared, "the endpoint template declares no parameters"
    return declared


# --- single account -----------------------------------------------------------------------------------------


def test_single_account_writes_both_stages_for_the_newest_approved_package(workspace, capsys, aws):
    arns = packages(["Approved", "Approved", "PendingManualApproval", "Rejected"])
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    output = workspace[1]
    assert sorted(p.name for p in output.iterdir()) == [
        "cfn-sm-endpoint.yaml",
        "prod-config.json",
        "prod-targets.json",
        "staging-config.json",
        "staging-targets.json",
    ]
    for stage, config_template in (("staging", "staging-config-template.json"), ("prod", "prod-config-template.json")):
        parameters = as_dict(read(output, f"{stage}-config.json"))
        chosen = json.loads((SEED_ROOT / config_template).read_text())["Parameters"]
        assert parameters == {
            **chosen,
            "SageMakerProjectName": "churn",
            "SageMakerProjectId": "p-abc123def456",
            "ModelPackageName": arns[1],  # newest Approved; the newer pending and rejected ones are skipped
            "ExecutionRoleName": "ds-team-model-execution-role",
            "EnvName": "ds-team",
            "EnvType": stage,
            "SageMakerSubnetIds": f"ds-team-{stage}-private-subnet-ids",
            "SageMakerSecurityGroupIds": f"ds-team-{stage}-sagemaker-sg-ids",
            "VolumeKmsKeyArn": BASE_ENV["EBS_KMS_KEY_ARN"],
        }
        assert read(output, f"{stage}-targets.json") == [OWN_ACCOUNT]
    template = workspace[0] / "cfn-sm-endpoint-template.yaml"
    assert (output / "cfn-sm-endpoint.yaml").read_bytes() == template.read_bytes()
    assert aws.calls("SageMaker.PutModelPackageGroupPolicy") == [], "single account needs no resource policy"
    assert aws.calls("SageMaker.CreateModelPackageGroup") == [], "an existing group is reused"


def test_shipped_config_templates_choose_the_documented_endpoints():
    staging = json.loads((SEED_ROOT / "staging-config-template.json").read_text())["Parameters"]
    prod = json.loads((SEED_ROOT / "prod-config-template.json").read_text())["Parameters"]
    assert staging == {
        "EndpointInstanceType": "ml.m5.large",
        "EndpointInstanceCount": "1",
        "NetworkIsolation": "YES",
        "DataCapture": "NO",
    }
    assert prod == {**staging, "EndpointInstanceCount": "2"}


def test_missing_group_is_created_with_project_and_environment_tags(workspace, capsys, aws):
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert f"model package group {GROUP} has no Approved model package" in out.err
    sm = boto3.client("sagemaker")
    arn = sm.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {
        "sagemaker:project-name": "churn",
        "sagemaker:project-id": "p-abc123def456",
        "EnvironmentName": "ds-team",
        "EnvironmentType": "dev",
    }
    assert not workspace[1].exists() or not any(workspace[1].iterdir()), "no artifact without a model"


@pytest.mark.parametrize("statuses", [["PendingManualApproval", "Rejected"], []])
def test_no_approved_package_fails_clearly(workspace, capsys, statuses):
    packages(statuses)
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "BUILD FAILED" in out.err and "has no Approved model package" in out.err


def test_build_runs_as_a_script_like_codebuild_runs_it(workspace, aws):
    arn = packages(["Approved"])[0]
    source, output, _ = workspace
    result = subprocess.run(
        [sys.executable, str(SEED_ROOT / "build.py"), "--source-dir", str(source), "--output-dir", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    assert as_dict(read(output, "prod-config.json"))["ModelPackageName"] == arn


# --- multi-account ----------------------------------------------------------------------------------------


def record_group_policy(aws):
    def override(request):
        if request.operation == "SageMaker.PutModelPackageGroupPolicy":
            name = request.params["ModelPackageGroupName"]
            return json_answer(
                {"ModelPackageGroupArn": f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package-group/{name}"}
            )
        return None

    aws.override = override


def test_account_lists_give_sorted_targets_and_a_group_policy_for_their_roles(workspace, capsys, aws, monkeypatch):
    packages(["Approved"])
    record_group_policy(aws)
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", " 222222222222,111111111111 ,222222222222")
    monkeypatch.setenv("PROD_ACCOUNT_LIST", "333333333333")
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    output = workspace[1]
    assert read(output, "staging-targets.json") == ["111111111111", "222222222222"]
    assert read(output, "prod-targets.json") == ["333333333333"]
    (call,) = aws.calls("SageMaker.PutModelPackageGroupPolicy")
    assert call.params["ModelPackageGroupName"] == GROUP
    policy = json.loads(call.params["ResourcePolicy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"]["AWS"] == sorted(
        f"arn:aws:iam::{account}:role/mlops/{name}"
        for account in ("111111111111", "222222222222", "333333333333")
        for name in ("ds-team-model-execution-role", "ds-team-stackset-execution-role")
    )
    assert sorted(statement["Action"]) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
    ]
    group_arn = f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package-group/{GROUP}"
    assert set(statement["Resource"]) == {
        group_arn,
        f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package/{GROUP}/*",
    }
    # the package ARN of the group must be covered by the policy's package resource
    assert as_dict(read(output, "staging-config.json"))["ModelPackageName"].startswith(
        f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package/{GROUP}/"
    )


STACKSET = "ds-ds-team-dev-target-account-roles"


def answer_stack_instances(aws, instances: list[tuple[str, str, str]], page_size: int = 10):
    """The front server answers ListStackInstances of the environment's target-account StackSet, in pages:
    (account, organizational unit, status) per instance, as CloudFormation reports service-managed instances
    (the OU is the one the StackSet targets, also for accounts of the OUs below it)."""
    record_group_policy(aws)
    group_policy = aws.override

    def member(account, ou, status):
        return (
            f"<member><StackSetId>{STACKSET}:0123abcd</StackSetId><Region>us-east-1</Region>"
            f"<Account>{account}</Account><Status>{status}</Status>"
            f"<OrganizationalUnitId>{ou}</OrganizationalUnitId></member>"
        )

    def override(request):
        if request.operation != "query.ListStackInstances":
            return group_policy(request)
        start = int(request.params.get("NextToken", "0"))
        page = instances[start : start + page_size]
        token = f"<NextToken>{start + page_size}</NextToken>" if start + page_size < len(instances) else ""
        body = (
            '<ListStackInstancesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
            f"<ListStackInstancesResult><Summaries>{''.join(member(*i) for i in page)}</Summaries>{token}"
            "</ListStackInstancesResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</ListStackInstancesResponse>"
        ).encode()
        return 200, {"Content-Type": "text/xml"}, body

    aws.override = override


def test_ou_accounts_are_the_accounts_the_environment_set_up_in_the_ou(workspace, capsys, aws, monkeypatch):
    """W5: no call to AWS Organizations (no route from the VPC in most regions): the accounts are the stack
    instances of the environment's target-account StackSet in the stage's OU, through CloudFormation."""
    packages(["Approved"])
    staging_ou, prod_ou = "ou-abcd-11111111", "ou-abcd-22222222"
    nested = [(f"4444444444{i:02d}", staging_ou, "CURRENT") for i in range(21)]  # more than two pages
    answer_stack_instances(
        aws,
        [
            ("222222222222", staging_ou, "CURRENT"),
            *nested,
            ("999999999999", staging_ou, "INOPERABLE"),  # being removed: never a target
            ("333333333333", prod_ou, "OUTDATED"),
        ],
    )
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_OU_ID", staging_ou)
    monkeypatch.setenv("PROD_OU_ID", prod_ou)
    monkeypatch.setenv("TARGET_ACCOUNTS_STACKSET", STACKSET)
    monkeypatch.setenv("STACKSET_CALL_AS", "DELEGATED_ADMIN")
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    targets = read(workspace[1], "staging-targets.json")
    assert targets == sorted(["222222222222", *(a for a, _, _ in nested)]) and len(targets) == 22
    assert read(workspace[1], "prod-targets.json") == ["333333333333"]
    calls = aws.calls("query.ListStackInstances")
    assert len(calls) >= 3 * 2, "every page was followed for each stage"
    assert {(c.params["StackSetName"], c.params["CallAs"]) for c in calls} == {(STACKSET, "DELEGATED_ADMIN")}
    assert not [r for r in aws.requests if "Organizations" in r.operation or "organizations" in r.path]


def test_an_ou_the_environment_set_up_no_account_in_fails(workspace, capsys, aws, monkeypatch):
    packages(["Approved"])
    answer_stack_instances(aws, [("222222222222", "ou-abcd-11111111", "CURRENT")])
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", "111111111111")
    monkeypatch.setenv("PROD_OU_ID", "ou-abcd-33333333")
    monkeypatch.setenv("TARGET_ACCOUNTS_STACKSET", STACKSET)
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert (
        f"stage prod: the environment has set up no account of PROD_OU_ID=ou-abcd-33333333 or its child OUs "
        f"(StackSet {STACKSET} has no stack instance there)"
    ) in out.err
    assert {c.params["CallAs"] for c in aws.calls("query.ListStackInstances")} == {"SELF"}


def test_ou_mode_needs_the_environments_stackset(workspace, capsys, aws, monkeypatch):
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_OU_ID", "ou-abcd-11111111")
    monkeypatch.setenv("PROD_ACCOUNT_LIST", "333333333333")
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "STAGING_OU_ID is set but TARGET_ACCOUNTS_STACKSET is not" in out.err
    assert not aws.calls("query.ListStackInstances")


def test_multi_account_needs_the_stackset_execution_role_name(workspace, capsys, monkeypatch):
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", "111111111111")
    monkeypatch.setenv("PROD_ACCOUNT_LIST", "333333333333")
    monkeypatch.setenv("STACKSET_EXECUTION_ROLE_NAME", "")
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "environment variable STACKSET_EXECUTION_ROLE_NAME is not set" in out.err
    assert workspace[2].requests == [], "nothing is asked of AWS"


@pytest.mark.parametrize(
    "staging_list, prod_list, message",
    [
        ("", "", "stage staging has no target account: set STAGING_ACCOUNT_LIST"),
        ("111111111111", "", "stage prod has no target account: set PROD_ACCOUNT_LIST"),
        (
            "111111111111",
            "3333",
            "PROD_ACCOUNT_LIST must be a comma-separated list of 12-digit account ids; not account ids: 3333",
        ),
    ],
)
def test_multi_account_without_usable_targets_fails(
    workspace, capsys, aws, monkeypatch, staging_list, prod_list, message
):
    packages(["Approved"])
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", staging_list)
    monkeypatch.setenv("PROD_ACCOUNT_LIST", prod_list)
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert message in out.err
    assert aws.calls("SageMaker.PutModelPackageGroupPolicy") == []


# --- config templates and the endpoint template -----------------------------------------------------------------


@pytest.mark.parametrize("key", build.BUILD_OWNED)
def test_a_config_template_may_not_set_a_build_owned_parameter(workspace, capsys, aws, key):
    packages(["Approved"])
    source = workspace[0]
    document = json.loads((source / "prod-config-template.json").read_text())
    document["Parameters"][key] = "from-the-data-scientist"
    (source / "prod-config-template.json").write_text(json.dumps(document))
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert f"prod-config-template.json sets parameter {key}, which the build sets itself" in out.err
    assert aws.requests == [], "the mistake is found before any AWS call"


def test_a_duplicate_key_in_a_config_template_fails(workspace, capsys):
    (workspace[0] / "staging-config-template.json").write_text(
        '{"Parameters": {"EndpointInstanceCount": "1", "EndpointInstanceCount": "3"}}'
    )
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "staging-config-template.json: duplicate key(s) EndpointInstanceCount" in out.err


def test_an_unknown_parameter_is_refused_against_the_template(workspace, capsys):
    packages(["Approved"])
    source = workspace[0]
    document = json.loads((source / "staging-config-template.json").read_text())
    document["Parameters"]["InstanceTyp"] = "ml.m5.xlarge"
    (source / "staging-config-template.json").write_text(json.dumps(document))
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert (
        "staging-config.json: parameter(s) InstanceTyp are not parameters of cfn-sm-endpoint-template.yaml" in out.err
    )


def _set_capture(source, stage, **parameters):
    document = json.loads((source / f"{stage}-config-template.json").read_text())
    document["Parameters"].update(parameters)
    (source / f"{stage}-config-template.json").write_text(json.dumps(document))


def test_data_capture_goes_to_the_model_buckets_capture_prefix(workspace, capsys, monkeypatch):
    """The model execution roles may write captured data only under the model bucket's data-capture/ prefix: the
    build puts it there by default (per project and stage) and accepts a sub-prefix of it."""
    packages(["Approved"])
    monkeypatch.setenv("MODEL_BUCKET", "ds-team-dev-us-east-1-123456789012-models")
    _set_capture(workspace[0], "prod", DataCapture="YES")
    _set_capture(
        workspace[0],
        "staging",
        DataCapture="YES",
        DataCaptureS3Uri="s3://ds-team-dev-us-east-1-123456789012-models/data-capture/churn/custom",
    )
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    prod = as_dict(read(workspace[1], "prod-config.json"))
    assert prod["DataCaptureS3Uri"] == (
        "s3://ds-team-dev-us-east-1-123456789012-models/data-capture/churn-p-abc123def456/prod"
    )
    staging = as_dict(read(workspace[1], "staging-config.json"))
    assert staging["DataCaptureS3Uri"].endswith("/data-capture/churn/custom")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://another-bucket/capture",
        "s3://ds-team-dev-us-east-1-123456789012-models/x",
        "s3://ds-team-dev-us-east-1-123456789012-models/data-capture/",
    ],
)
def test_data_capture_elsewhere_is_refused_before_any_aws_call(workspace, capsys, monkeypatch, uri):
    monkeypatch.setenv("MODEL_BUCKET", "ds-team-dev-us-east-1-123456789012-models")
    _set_capture(workspace[0], "prod", DataCapture="YES", DataCaptureS3Uri=uri)
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert (
        "prod-config-template.json: DataCaptureS3Uri must lie under "
        "s3://ds-team-dev-us-east-1-123456789012-models/data-capture/"
    ) in out.err
    assert workspace[2].requests == [], "found before any AWS call"


def test_missing_endpoint_template_fails_clearly(workspace, capsys):
    (workspace[0] / "cfn-sm-endpoint-template.yaml").unlink()
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "cfn-sm-endpoint-template.yaml is missing from the repository root" in out.err


def test_template_check_reads_short_form_tags_and_finds_missing_required_parameters():
    text = (
        "Parameters:\n  A: {Type: String}\n  B: {Type: String, Default: x, AllowedValues: [x, y]}\n"
        "Conditions:\n  C: !Equals [!Ref B, x]\nResources:\n  R:\n    Type: AWS::SNS::Topic\n"
        "    Properties: {TopicName: !Sub '${A}-t', DisplayName: !GetAtt R.TopicName}\n"
    )
    declared = build.template_parameters(text)
    assert set(declared) == {"A", "B"}
    build.check_parameters([{"ParameterKey": "A", "ParameterValue": "1"}], declared, "f.json", "t.yaml")
    with pytest.raises(build.BuildError, match=r"f.json: t.yaml requires parameter\(s\) A"):
        build.check_parameters([{"ParameterKey": "B", "ParameterValue": "y"}], declared, "f.json", "t.yaml")
    with pytest.raises(build.BuildError, match=r"f.json: B='z' is not one of x, y"):
        build.check_parameters(
            [{"ParameterKey": "A", "ParameterValue": "1"}, {"ParameterKey": "B", "ParameterValue": "z"}],
            declared,
            "f.json",
            "t.yaml",
        )


@pytest.mark.parametrize("count, problem", [("0", "is below the minimum 1"), ("two", "is not a number")])
def test_values_the_template_refuses_fail_the_build(endpoint_template, workspace, capsys, count, problem):
    """CloudFormation would refuse these only when the StackSet deploys; the build refuses them first."""
    source = workspace[0]
    (source / "cfn-sm-endpoint-template.yaml").write_text(endpoint_template, encoding="utf-8")
    document = json.loads((source / "prod-config-template.json").read_text())
    document["Parameters"]["EndpointInstanceCount"] = count
    (source / "prod-config-template.json").write_text(json.dumps(document))
    packages(["Approved"])
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert f"prod-config.json: EndpointInstanceCount={count!r} {problem}" in out.err


def test_constraint_checks_follow_the_parameter_type():
    spec = {
        "Type": "String",
        "AllowedPattern": "ml\\.[a-z0-9]+\\.[a-z0-9]+",
        "MaxLength": 12,
        "ConstraintDescription": "an instance type",
    }
    assert build.constraint_problem("ml.m5.large", spec) is None
    assert build.constraint_problem("m5.large", spec) == (
        "does not match the pattern ml\\.[a-z0-9]+\\.[a-z0-9]+ (an instance type)"
    )
    assert build.constraint_problem("ml.m5.24xlarge", spec) == "is longer than 12 characters"
    assert build.constraint_problem("anything", {"Type": "String", "AllowedPattern": "(?<name>x)"}) is None, (
        "a pattern Python cannot compile is left to CloudFormation"
    )
    assert build.constraint_problem("ds-team-staging-sg", {"Type": "AWS::SSM::Parameter::Value<String>"}) is None


def test_configs_match_the_generated_endpoint_template(endpoint_template, workspace, capsys, monkeypatch):
    """The parameter names are a contract with the project's generated cfn-sm-endpoint-template."""
    declared = template_parameters(endpoint_template)
    assert set(build.BUILD_OWNED) <= set(declared)
    source, output, _ = workspace
    (source / "cfn-sm-endpoint-template.yaml").write_text(endpoint_template, encoding="utf-8")
    packages(["Approved"])
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    required = {k for k, spec in declared.items() if "Default" not in spec}
    for name in ("staging-config.json", "prod-config.json"):
        given = as_dict(read(output, name))
        assert set(given) <= set(declared), f"{name}: not template parameters: {set(given) - set(declared)}"
        assert required <= set(given), f"{name}: required parameters not set: {required - set(given)}"
