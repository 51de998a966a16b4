"""build.py against moto (SageMaker model registry, STS, Organizations) behind the front server.

moto does not implement PutModelPackageGroupPolicy; the front server answers it and records the policy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from seed_deploy_support import (BASE_ENV, GROUP, OWN_ACCOUNT, SEED_ROOT, json_answer, load_seed_module,
                                 make_checkout, packages)

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
    assert all(set(p) == {"ParameterKey", "ParameterValue"} and isinstance(p["ParameterValue"], str)
               for p in parameters)
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
        "cfn-sm-endpoint.yaml", "prod-config.json", "prod-targets.json", "staging-config.json",
        "staging-targets.json"]
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
    assert staging == {"EndpointInstanceType": "ml.m5.large", "EndpointInstanceCount": "1",
                       "NetworkIsolation": "YES", "DataCapture": "NO"}
    assert prod == {**staging, "EndpointInstanceCount": "2"}


def test_missing_group_is_created_with_project_and_environment_tags(workspace, capsys, aws):
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert f"model package group {GROUP} has no Approved model package" in out.err
    sm = boto3.client("sagemaker")
    arn = sm.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
    assert tags == {"sagemaker:project-name": "churn", "sagemaker:project-id": "p-abc123def456",
                    "EnvironmentName": "ds-team", "EnvironmentType": "dev"}
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
    result = subprocess.run([sys.executable, str(SEED_ROOT / "build.py"), "--source-dir", str(source),
                             "--output-dir", str(output)], capture_output=True, text=True, timeout=60,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert as_dict(read(output, "prod-config.json"))["ModelPackageName"] == arn


# --- multi-account ----------------------------------------------------------------------------------------

def record_group_policy(aws):
    def override(request):
        if request.operation == "SageMaker.PutModelPackageGroupPolicy":
            name = request.params["ModelPackageGroupName"]
            return json_answer({"ModelPackageGroupArn":
                                f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package-group/{name}"})
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
        for name in ("ds-team-model-execution-role", "ds-team-stackset-execution-role"))
    assert sorted(statement["Action"]) == ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup",
                                           "sagemaker:ListModelPackages"]
    group_arn = f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package-group/{GROUP}"
    assert set(statement["Resource"]) == {
        group_arn, f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package/{GROUP}/*"}
    # the package ARN of the group must be covered by the policy's package resource
    assert as_dict(read(output, "staging-config.json"))["ModelPackageName"].startswith(
        f"arn:aws:sagemaker:us-east-1:{OWN_ACCOUNT}:model-package/{GROUP}/")


def organization_with_nested_ous():
    """Root > Staging OU (1 active, 1 closed account) > Nested OU (21 accounts: more than one page)."""
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    staging = org.create_organizational_unit(ParentId=root, Name="staging")["OrganizationalUnit"]["Id"]
    nested = org.create_organizational_unit(ParentId=staging, Name="team-a")["OrganizationalUnit"]["Id"]
    org.create_organizational_unit(ParentId=root, Name="empty")

    def account(name, parent):
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        account_id = status["AccountId"]
        org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=parent)
        return account_id

    active = [account("staging-1", staging)] + [account(f"nested-{i}", nested) for i in range(21)]
    closed = account("closed", staging)
    org.close_account(AccountId=closed)
    outside = account("outside", root)
    return staging, sorted(active), closed, outside


def test_ou_accounts_are_the_active_accounts_of_the_ou_and_its_children(workspace, capsys, aws, monkeypatch):
    packages(["Approved"])
    record_group_policy(aws)
    staging_ou, active, closed, outside = organization_with_nested_ous()
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_OU_ID", staging_ou)
    monkeypatch.setenv("PROD_ACCOUNT_LIST", "333333333333")
    code, out = run_build(workspace, capsys)
    assert code == 0, out.err
    targets = read(workspace[1], "staging-targets.json")
    assert targets == active and len(targets) == 22
    assert closed not in targets and outside not in targets
    assert read(workspace[1], "prod-targets.json") == ["333333333333"]
    assert len(aws.calls("AWSOrganizationsV20161128.ListAccountsForParent")) >= 3, "pages were followed"


def test_an_ou_without_active_accounts_fails(workspace, capsys, aws, monkeypatch):
    packages(["Approved"])
    org = boto3.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    empty = org.create_organizational_unit(ParentId=root, Name="empty")["OrganizationalUnit"]["Id"]
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", "111111111111")
    monkeypatch.setenv("PROD_OU_ID", empty)
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert f"stage prod: PROD_OU_ID={empty} and its child OUs have no ACTIVE account" in out.err


def test_multi_account_needs_the_stackset_execution_role_name(workspace, capsys, monkeypatch):
    monkeypatch.setenv("MULTI_ACCOUNT_DEPLOYMENT", "YES")
    monkeypatch.setenv("STAGING_ACCOUNT_LIST", "111111111111")
    monkeypatch.setenv("PROD_ACCOUNT_LIST", "333333333333")
    monkeypatch.setenv("STACKSET_EXECUTION_ROLE_NAME", "")
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "environment variable STACKSET_EXECUTION_ROLE_NAME is not set" in out.err
    assert workspace[2].requests == [], "nothing is asked of AWS"


@pytest.mark.parametrize("staging_list, prod_list, message", [
    ("", "", "stage staging has no target account: set STAGING_ACCOUNT_LIST"),
    ("111111111111", "", "stage prod has no target account: set PROD_ACCOUNT_LIST"),
    ("111111111111", "3333", "PROD_ACCOUNT_LIST must be a comma-separated list of 12-digit account ids; "
                             "not account ids: 3333"),
])
def test_multi_account_without_usable_targets_fails(workspace, capsys, aws, monkeypatch, staging_list, prod_list,
                                                     message):
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
        '{"Parameters": {"EndpointInstanceCount": "1", "EndpointInstanceCount": "3"}}')
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
    assert ("staging-config.json: parameter(s) InstanceTyp are not parameters of cfn-sm-endpoint-template.yaml"
            in out.err)


def test_data_capture_needs_a_destination(workspace, capsys):
    packages(["Approved"])
    source = workspace[0]
    document = json.loads((source / "prod-config-template.json").read_text())
    document["Parameters"]["DataCapture"] = "YES"
    (source / "prod-config-template.json").write_text(json.dumps(document))
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "prod-config-template.json: DataCapture is YES but DataCaptureS3Uri is not set" in out.err
    assert workspace[2].requests == [], "found before any AWS call"


def test_missing_endpoint_template_fails_clearly(workspace, capsys):
    (workspace[0] / "cfn-sm-endpoint-template.yaml").unlink()
    code, out = run_build(workspace, capsys)
    assert code == 1
    assert "cfn-sm-endpoint-template.yaml is missing from the repository root" in out.err


def test_template_check_reads_short_form_tags_and_finds_missing_required_parameters():
    text = ("Parameters:\n  A: {Type: String}\n  B: {Type: String, Default: x, AllowedValues: [x, y]}\n"
            "Conditions:\n  C: !Equals [!Ref B, x]\nResources:\n  R:\n    Type: AWS::SNS::Topic\n"
            "    Properties: {TopicName: !Sub '${A}-t', DisplayName: !GetAtt R.TopicName}\n")
    declared = build.template_parameters(text)
    assert set(declared) == {"A", "B"}
    build.check_parameters([{"ParameterKey": "A", "ParameterValue": "1"}], declared, "f.json", "t.yaml")
    with pytest.raises(build.BuildError, match=r"f.json: t.yaml requires parameter\(s\) A"):
        build.check_parameters([{"ParameterKey": "B", "ParameterValue": "y"}], declared, "f.json", "t.yaml")
    with pytest.raises(build.BuildError, match=r"f.json: B='z' is not one of x, y"):
        build.check_parameters([{"ParameterKey": "A", "ParameterValue": "1"}, {"ParameterKey": "B",
                                                                              "ParameterValue": "z"}],
                               declared, "f.json", "t.yaml")


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
    spec = {"Type": "String", "AllowedPattern": "ml\\.[a-z0-9]+\\.[a-z0-9]+", "MaxLength": 12,
            "ConstraintDescription": "an instance type"}
    assert build.constraint_problem("ml.m5.large", spec) is None
    assert build.constraint_problem("m5.large", spec) == (
        "does not match the pattern ml\\.[a-z0-9]+\\.[a-z0-9]+ (an instance type)")
    assert build.constraint_problem("ml.m5.24xlarge", spec) == "is longer than 12 characters"
    assert build.constraint_problem("anything", {"Type": "String", "AllowedPattern": "(?<name>x)"}) is None, \
        "a pattern Python cannot compile is left to CloudFormation"
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
