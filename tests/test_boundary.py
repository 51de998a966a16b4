"""The platform permissions boundary (templates_src/blocks/boundary.py): a ceiling that never causes an
AccessDenied the templates did not intend, and that holds no way out.

* Every Allow statement of every role that carries it (each action its patterns name, on each resource) lies
  within it, and so does every key-policy grant naming such a role (IAM evaluates a boundary on those too).
* It holds no IAM write, no whole service ("service:*", which AWS Control Tower's CT.IAM.PR.3 also refuses),
  nothing of Organizations but reads, and passes and assumes only the platform's roles.
"""

from __future__ import annotations

import pytest

from templates_src.blocks import boundary
from templates_src.checks import iam_reference, platform
from templates_src.checks.escalation import resource_policy_statements
from templates_src.checks.iam_policy import evaluate, names_accounts_only, request
from templates_src.config import from_mapping
from templates_src.context import BuildContext
from templates_src.generator import build_selected

SCENARIOS = platform.SCENARIOS


@pytest.fixture(scope="module")
def worlds(templates, default_config):
    return {scenario: platform.build(templates, default_config, scenario) for scenario in SCENARIOS}


def _platform_bounded(p):
    [arn] = (
        p.core.attribute("PlatformBoundary", "Arn") if "PlatformBoundary" in p.core.template["Resources"] else [None]
    )
    roles = [r for r in p.world.principals if r.boundary_arn and r.boundary_arn == arn]
    return arn, roles


def _within(role, action: str, resource: str, context: dict) -> bool:
    req = request(action, resource, literal="*" not in resource or resource == "*", context=context, complete=True)
    return evaluate(role.boundary, req).allowed


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_statement_of_every_bounded_role_lies_within_the_boundary(worlds, scenario):
    p = worlds[scenario]
    arn, roles = _platform_bounded(p)
    assert arn and len(roles) >= 10, "the environment's roles carry the platform boundary"
    outside, checked = [], 0
    for role in roles:
        assert role.boundary, role.key
        for statement in role.identity:
            if statement.effect != "Allow":
                continue  # a deny only narrows
            context = {
                key: values[0]
                for op, key, values in statement.conditions
                if op in ("StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool") and values
            }
            for pattern in statement.actions:
                for action in iam_reference.actions(pattern) or [pattern]:
                    for resource in statement.resources:
                        checked += 1
                        if not _within(role, action, resource, context):
                            outside.append(f"{role.logical_id}/{statement.sid}: {action} on {resource}")
    assert outside == [], "\n".join(sorted(set(outside))[:40])
    assert checked > 2000


@pytest.mark.parametrize("scenario", ["account-lists"])
def test_key_policy_grants_to_bounded_roles_lie_within_the_boundary(worlds, scenario):
    """A key policy naming a role grants it only what its boundary allows too: every key use the environment's key
    policies give its roles is within the ceiling."""
    p = worlds[scenario]
    _, roles = _platform_bounded(p)
    outside, checked = [], 0
    for stack, lid, resource in p.world.resources("AWS::KMS::Key"):
        key_arn = stack.attribute(lid, "Arn")[0]
        policy = resource_policy_statements(resource["Properties"]["KeyPolicy"], stack, f"key:{lid}")
        for role in roles:
            if role.account != stack.account:
                continue
            for statement in policy:
                if statement.effect != "Allow" or names_accounts_only(statement):
                    continue  # the account's statement delegates to IAM policies (checked above)
                for pattern in statement.actions:
                    for action in iam_reference.actions(pattern):
                        req = request(
                            action,
                            key_arn,
                            context={"aws:PrincipalArn": role.arn, "aws:PrincipalAccount": role.account},
                        )
                        if not evaluate([statement], req).allowed or action == "kms:*":
                            continue
                        checked += 1
                        if not _within(role, action, key_arn, {}):
                            outside.append(f"{role.logical_id}: {action} on {lid}")
    assert outside == [], "\n".join(sorted(set(outside)))
    assert checked >= 20


def test_the_boundary_holds_no_iam_write_no_whole_service_and_only_platform_roles(templates, default_config):
    p = platform.build(templates, default_config, "single-account")
    statements = p.world.policy_statements(p.core.attribute("PlatformBoundary", "Arn")[0])
    assert statements
    names = [a for s in statements for a in s.actions]
    assert not [a for a in names if a == "*" or a.endswith(":*")], "no whole service"
    granted = {real for a in names for real in iam_reference.actions(a)}
    assert {a for a in granted if a.startswith("iam:")} == {"iam:GetRole", "iam:PassRole"}
    # Assuming platform roles, and the bearer token CodeArtifact asks for (a token for that service only).
    assert {a for a in granted if a.startswith("sts:")} == {"sts:AssumeRole", "sts:GetServiceBearerToken"}
    assert {a for a in granted if a.startswith("organizations:")} and all(
        iam_reference.access_level(a) in ("Read", "List") for a in granted if a.startswith("organizations:")
    )
    permissions = sorted(a for a in granted if iam_reference.access_level(a) == "Permissions management")
    # What the platform's roles manage permissions of: grants of its keys for AWS services, the model package
    # groups' cross-account read policies, the network interfaces of builds in the VPC, passing its own roles.
    assert set(permissions) <= {
        "iam:PassRole",
        "kms:CreateGrant",
        "kms:RetireGrant",
        "kms:RevokeGrant",
        "sagemaker:PutModelPackageGroupPolicy",
        "sagemaker:DeleteModelPackageGroupPolicy",
        "sagemaker:AddAssociation",
        "sagemaker:DeleteAssociation",
        "codecommit:PutRepositoryTriggers",
        "sagemaker:PutLineageGroupPolicy",
        "sagemaker:PutResourcePolicy",
        "sagemaker:DeleteResourcePolicy",
        "sagemaker:DeleteLineageGroupPolicy",
        "servicecatalog:AcceptPortfolioShare",
        "servicecatalog:DisassociatePrincipalFromPortfolio",
        "cloudformation:SetStackPolicy",
        "ecr:SetRepositoryPolicy",
        "codebuild:PutResourcePolicy",
        "codebuild:DeleteResourcePolicy",
        "codepipeline:PutWebhook",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterfacePermission",
    }, permissions
    assert boundary.ALLOWED


def test_the_boundary_passes_and_assumes_only_roles_of_the_configured_path_and_prefix():
    """With a role path and name prefix (and no boundary of the organization's: the core creates this one),
    only the platform's roles can be passed or assumed at all.  (Without them the ceiling cannot tell roles apart
    by name: the roles' own policies name the roles they pass and assume, and tests/test_escalation.py proves no
    chain reaches another.)"""
    config = from_mapping({"name_prefix": "acme", "role_path": "/ml-platform/"})
    p = platform.build(build_selected(None, BuildContext(config)), config, "single-account")
    statements = p.world.policy_statements(p.core.attribute("PlatformBoundary", "Arn")[0])
    path, prefix = config.role_path, config.prefix
    own = f"arn:aws:iam::111111111111:role{path}{prefix}sm-mlops-dev-eu-west-1-sm-pipeline"
    assert evaluate(statements, request("iam:PassRole", own)).allowed
    for role in (
        "arn:aws:iam::111111111111:role/Administrator",
        "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
        f"arn:aws:iam::111111111111:role{path}Administrator",
    ):
        assert not evaluate(statements, request("iam:PassRole", role)).allowed, role
        assert not evaluate(statements, request("sts:AssumeRole", role)).allowed, role


def test_a_grant_outside_the_boundary_is_found(templates, default_config):
    """The check can fail: a role given a call the ceiling does not hold (an IAM write) is reported."""
    import copy

    weakened = copy.deepcopy(templates)
    role = weakened["env-iam"]["Resources"]["SageMakerExecutionRole"]["Properties"]
    role.setdefault("Policies", []).append(
        {
            "PolicyName": "weakened",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*"}],
            },
        }
    )
    p = platform.build(weakened, default_config, "single-account")
    _, roles = _platform_bounded(p)
    execution = next(r for r in roles if r.logical_id == "SageMakerExecutionRole")
    assert not _within(execution, "iam:CreateUser", "arn:aws:iam::111111111111:user/x", {})
