"""The two target-account templates: env-iam-setup-stackset-role and env-iam-target-account-roles."""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests import cfn

SETUP = "env-iam-setup-stackset-role"
TARGET = "env-iam-target-account-roles"


@pytest.fixture(scope="module")
def setup(templates):
    return templates[SETUP]


@pytest.fixture(scope="module")
def target(templates):
    return templates[TARGET]


def test_setup_role_parameters_match_the_reference_and_stop_bad_input(setup):
    params = setup["Parameters"]
    assert list(params) == ["EnvName", "EnvType", "StackSetExecutionRoleName", "AdministratorAccountId"]
    assert params["EnvType"]["Default"] == "dev" and params["StackSetExecutionRoleName"]["Default"] == ""
    account = params["AdministratorAccountId"]
    assert cfn.accepts(account, "123456789012")
    for bad in ("12345", "1234567890123", "12345678901a", ""):
        assert not cfn.accepts(account, bad)
    assert "12-digit" in account["ConstraintDescription"]
    assert cfn.accepts(params["EnvName"], "sm-mlops")
    for bad in ("SM-MLOPS", "-x", "x-", "a" * 17, ""):
        assert not cfn.accepts(params["EnvName"], bad)
    assert cfn.accepts(params["StackSetExecutionRoleName"], "sm-mlops-setup-stackset-execution-role")
    assert not cfn.accepts(params["StackSetExecutionRoleName"], "bad name")


def test_setup_role_name_generated_or_given(setup):
    role = setup["Resources"]["SetupStackSetExecutionRole"]["Properties"]
    cond, generated, given = role["RoleName"]["Fn::If"]
    assert setup["Conditions"][cond] == {"Fn::Equals": [{"Ref": "StackSetExecutionRoleName"}, ""]}
    assert cfn.sub_name(generated, EnvName="sm-mlops", EnvType="staging") == "sm-mlops-staging-stackset-setup"
    assert given == {"Ref": "StackSetExecutionRoleName"}
    # Ref of a role is its name; the reference split the ARN, which breaks with a role path.
    assert setup["Outputs"]["StackSetExecutionRoleName"]["Value"] == {"Ref": "SetupStackSetExecutionRole"}


def test_setup_role_trusts_only_the_stackset_administration_role(setup, enterprise_templates):
    """Requests from other principals are evaluated in test_iam_coverage; here the shape of the trust."""
    for template, pattern in (
        (setup, "arn:${AWS::Partition}:iam::${AdministratorAccountId}:role/${EnvName}-*-stackset-admin"),
        (
            enterprise_templates[SETUP],
            "arn:${AWS::Partition}:iam::${AdministratorAccountId}:role/ml-platform/acme-${EnvName}-*-stackset-admin",
        ),
    ):
        (stmt,) = template["Resources"]["SetupStackSetExecutionRole"]["Properties"]["AssumeRolePolicyDocument"][
            "Statement"
        ]
        assert cfn.text(stmt["Principal"]["AWS"]) == "arn:${AWS::Partition}:iam::${AdministratorAccountId}:root"
        assert cfn.text(stmt["Condition"]["ArnLike"]["aws:PrincipalArn"]) == pattern
        assert "Service" not in stmt["Principal"]


def test_setup_role_has_no_broad_managed_policy_and_no_s3_or_sns_writes(setup):
    props = setup["Resources"]["SetupStackSetExecutionRole"]["Properties"]
    assert "ManagedPolicyArns" not in props  # the reference attached AmazonVPCFullAccess
    acts = cfn.actions(cfn.role_statements(setup, "SetupStackSetExecutionRole"))
    assert not {a for a in acts if a.startswith("s3:") and not a.startswith("s3:Get")}
    assert not {a for a in acts if a.startswith("sns:")}  # stack sets here publish no notifications
    assert "iam:DeleteRolePermissionsBoundary" not in acts
    assert not {a for a in acts if a.endswith("*") and not a.endswith(":Describe*")}
    # Managed policies: only the network's guardrails of the model deployments, written and attached by it.
    stmts = cfn.role_statements(setup, "SetupStackSetExecutionRole")
    guardrails = "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${EnvName}-*-endpoint-guardrails"
    for s in stmts:
        if {"iam:CreatePolicyVersion", "iam:AttachRolePolicy"} & set(cfn.as_list(s["Action"])):
            if "iam:AttachRolePolicy" in s["Action"]:
                assert cfn.text(s["Condition"]["ArnLike"]["iam:PolicyARN"][0]) == guardrails
            else:
                assert [cfn.text(r) for r in s["Resource"]] == [guardrails]


def test_setup_role_creates_only_the_marked_target_roles(setup, target):
    stmts = cfn.role_statements(setup, "SetupStackSetExecutionRole")
    iam_resources = {
        cfn.text(r)
        for s in stmts
        if any(a.startswith("iam:") for a in cfn.as_list(s["Action"]))
        for r in cfn.as_list(s["Resource"])
    }
    assert iam_resources == {
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*sm-model-exec*",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*stackset-exec*",
        # the network's flow logs role, and the model deployments' guardrails policy
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${EnvName}-*-flow-logs",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${EnvName}-*-endpoint-guardrails",
    }
    # ...and those patterns match the names the target-account template generates.
    for logical_id in ("SageMakerModelExecutionRole", "StackSetExecutionRole"):
        generated = target["Resources"][logical_id]["Properties"]["RoleName"]["Fn::If"][1]
        arn = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + cfn.sub_name(
            generated, EnvName="sm-mlops", EnvType="dev"
        )
        assert any(fnmatch.fnmatchcase(arn, p) for p in iam_resources), arn


def test_setup_role_with_boundary_may_only_create_bounded_roles(enterprise_templates):
    stmts = cfn.role_statements(enterprise_templates[SETUP], "SetupStackSetExecutionRole")
    creating = [
        s
        for s in stmts
        if {"iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} & set(cfn.as_list(s["Action"]))
    ]
    assert len(creating) == 2  # roles and inline policies; attachments (the guardrails policy only)
    for s in creating:
        condition = s["Condition"].get("StringEquals") or s["Condition"]["ArnLike"]
        assert cfn.text(condition["iam:PermissionsBoundary"]) == (
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/ml-platform-boundary"
        )
    assert "iam:DeleteRolePermissionsBoundary" not in cfn.actions(stmts)
    for s in creating:
        for r in cfn.as_list(s["Resource"]):
            assert cfn.text(r).startswith("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ml-platform/acme-")


def test_target_parameters_match_the_reference(target):
    assert list(target["Parameters"]) == [
        "EnvName",
        "EnvType",
        "SageMakerModelExecutionRoleName",
        "StackSetExecutionRoleName",
        "PipelineExecutionRoleArn",
        "AdministratorAccountId",
        "ModelS3KMSKeyArn",
        "ModelBucketName",
        "PermissionsBoundaryArn",
        "UseTargetAccountBoundary",
    ]  # the last two are new (optional): the boundary
    params = target["Parameters"]
    assert cfn.accepts(params["PermissionsBoundaryArn"], "")
    assert cfn.accepts(params["PermissionsBoundaryArn"], "arn:aws:iam::111122223333:policy/x-target-account-boundary")
    assert not cfn.accepts(params["PermissionsBoundaryArn"], "arn:aws:iam::111122223333:role/x")
    assert cfn.accepts(
        params["ModelS3KMSKeyArn"], "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    assert cfn.accepts(
        params["ModelS3KMSKeyArn"], "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    )
    assert not cfn.accepts(params["ModelS3KMSKeyArn"], "alias/my-key")
    assert cfn.accepts(params["ModelBucketName"], "sm-mlops-dev-eu-west-1-111122223333-models")
    assert not cfn.accepts(params["ModelBucketName"], "Bad_Bucket")
    assert cfn.accepts(params["PipelineExecutionRoleArn"], "")
    assert cfn.accepts(params["PipelineExecutionRoleArn"], "arn:aws:iam::111122223333:role/service-role/x")
    assert not cfn.accepts(params["PipelineExecutionRoleArn"], "arn:aws:iam::1111:role/x")


def test_user_chosen_target_role_names_must_carry_the_marker(target, enterprise_templates):
    model = target["Parameters"]["SageMakerModelExecutionRoleName"]
    assert cfn.accepts(model, "") and cfn.accepts(model, "team-sm-model-exec")
    assert not cfn.accepts(model, "team-model-role")
    assert "sm-model-exec" in model["ConstraintDescription"]
    enterprise = enterprise_templates[TARGET]["Parameters"]["StackSetExecutionRoleName"]
    assert cfn.accepts(enterprise, "acme-x-stackset-exec") and not cfn.accepts(enterprise, "x-stackset-exec")


def test_stackset_execution_role_is_not_trusted_by_lambda(target):
    (stmt,) = target["Resources"]["StackSetExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert set(stmt["Principal"]) == {"AWS"}


def test_model_role_trusts_sagemaker_and_the_endpoint_test_role(target):
    """SageMaker of this account (aws:SourceAccount), and the one role named for the endpoint tests (the
    environment's model deploy role, which env-main passes), never SageMaker's account-wide products use role."""
    sagemaker, tests = target["Resources"]["SageMakerModelExecutionRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert sagemaker["Principal"] == {"Service": ["sagemaker.amazonaws.com"]}
    assert sagemaker["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    condition, absent, statement = tests["Fn::If"]
    assert (condition, absent) == ("PipelineExecutionRoleCondition", {"Ref": "AWS::NoValue"})
    assert statement["Sid"] == "EndpointTests" and statement["Principal"] == {
        "AWS": {"Ref": "PipelineExecutionRoleArn"}
    }
    assert "AmazonSageMakerServiceCatalogProductsUseRole" not in json.dumps(target)


def test_model_role_reads_only_the_model_bucket_and_key_and_writes_only_data_capture(target):
    stmts = cfn.role_statements(target, "SageMakerModelExecutionRole")
    assert cfn.statement(stmts, "DecryptModelArtifacts")["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert cfn.statement(stmts, "DecryptModelArtifacts")["Resource"] == [{"Ref": "ModelS3KMSKeyArn"}]
    assert {a for a in cfn.actions(stmts) if a.startswith("s3:")} == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    capture = cfn.statement(stmts, "WriteDataCapture")
    assert capture["Action"] == ["s3:PutObject"] and cfn.text(capture["Resource"][0]).endswith(
        "${ModelBucketName}/data-capture/*"
    )
    assert cfn.statement(stmts, "EncryptDataCapture")["Resource"] == [{"Ref": "ModelS3KMSKeyArn"}]
    # Endpoints are created by the StackSet role; the model role only reads and invokes them.
    assert not {a for a in cfn.actions(stmts) if a.startswith("sagemaker:Create") or a.startswith("sagemaker:Delete")}


def test_stackset_role_passes_only_the_model_role_to_sagemaker(target):
    stmts = cfn.role_statements(target, "StackSetExecutionRole")
    passing = [s for s in stmts if "iam:PassRole" in cfn.as_list(s["Action"])]
    assert len(passing) == 1
    assert passing[0]["Resource"] == [{"Fn::GetAtt": ["SageMakerModelExecutionRole", "Arn"]}]
    assert passing[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_target_outputs(target):
    assert set(target["Outputs"]) == {
        "SageMakerModelExecutionRoleArn",
        "SageMakerModelExecutionRoleName",
        "StackSetExecutionRoleArn",
        "StackSetExecutionRoleName",
    }


def test_network_grants_are_account_scoped_except_the_endpoint_service(setup, templates):
    """Endpoint creation is authorized against the AWS-owned endpoint service too; nothing else leaves the account."""
    for template, role in ((setup, "SetupStackSetExecutionRole"), (templates["core-iam-shared-roles"], "SCLaunchRole")):
        stmts = cfn.role_statements(template, role)
        ec2 = [s for s in stmts if any(a.startswith("ec2:") and a != "ec2:Describe*" for a in cfn.as_list(s["Action"]))]
        foreign = [s for s in ec2 if any(":*:vpc-endpoint-service/" in cfn.text(r) for r in s["Resource"])]
        assert len(foreign) == 1 and foreign[0]["Action"] == ["ec2:CreateVpcEndpoint"]
        for s in ec2:
            if s is not foreign[0]:
                assert all("${AWS::AccountId}" in cfn.text(r) for r in s["Resource"]), role
    internet = {"ec2:CreateNatGateway", "ec2:CreateInternetGateway"}
    assert not internet & cfn.actions(cfn.role_statements(setup, "SetupStackSetExecutionRole"))
    assert internet <= cfn.actions(cfn.role_statements(templates["core-iam-shared-roles"], "SCLaunchRole"))


def test_target_roles_can_use_the_setup_templates_boundary_in_their_own_account(target):
    """What the environment's self-managed StackSets pass: one parameter value for every account, the boundary
    ARN computed in each account (the setup role creates roles only with it)."""
    from tests.support_render import render

    rendered = render(
        target,
        {
            "EnvName": "sm-mlops",
            "EnvType": "staging",
            "AdministratorAccountId": "222222222222",
            "ModelS3KMSKeyArn": "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "ModelBucketName": "sm-mlops-dev-us-east-1-222222222222-models",
            "UseTargetAccountBoundary": "YES",
        },
    )
    for role in ("SageMakerModelExecutionRole", "StackSetExecutionRole"):
        assert rendered["Resources"][role]["Properties"]["PermissionsBoundary"] == (
            "arn:aws:iam::123456789012:policy/sm-mlops-staging-target-account-boundary"
        )
    plain = render(
        target,
        {
            "EnvName": "sm-mlops",
            "AdministratorAccountId": "222222222222",
            "ModelS3KMSKeyArn": "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "ModelBucketName": "sm-mlops-dev-us-east-1-222222222222-models",
        },
    )
    assert "PermissionsBoundary" not in plain["Resources"]["StackSetExecutionRole"]["Properties"]
