"""IAM building blocks on awacs: pure policy factories and the one role factory every template uses.

The role factory applies what the configuration demands of every role: the role path (except where AWS
mandates one), the permissions boundary and the tags.  Policy factories return plain awacs objects, so
tests can inspect statements without rendering a template.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from awacs.aws import Action, Allow, Condition, Deny, Policy, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import AWSHelperFn, GetAtt, Sub
from troposphere import iam

from templates_src.context import BuildContext

POLICY_VERSION = "2012-10-17"


def actions(service: str, *names: str) -> list[Action]:
    """``actions("iam", "GetRole", "List*")`` -> awacs actions (wildcards allowed; cfn-lint checks names)."""
    return [Action(service, name) for name in names]


def allow(acts: Sequence[Action], resources: Sequence | str | AWSHelperFn, sid: str | None = None,
          condition: Condition | None = None) -> Statement:
    kwargs = {"Effect": Allow, "Action": list(acts),
              "Resource": resources if isinstance(resources, list) else [resources]}
    if sid:
        kwargs["Sid"] = sid
    if condition is not None:
        kwargs["Condition"] = condition
    return Statement(**kwargs)


def deny(acts: Sequence[Action], resources: Sequence | str | AWSHelperFn, sid: str, condition: Condition | None = None) -> Statement:
    kwargs = {"Sid": sid, "Effect": Deny, "Action": list(acts),
              "Resource": resources if isinstance(resources, list) else [resources]}
    if condition is not None:
        kwargs["Condition"] = condition
    return Statement(**kwargs)


def document(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version=POLICY_VERSION, Statement=list(statements))


def inline(name: str | AWSHelperFn, *statements: Statement) -> iam.Policy:
    return iam.Policy(PolicyName=name, PolicyDocument=document(*statements))


def service_trust(*services: str, condition: Condition | None = None) -> PolicyDocument:
    """Trust policy for AWS service principals (``lambda`` -> lambda.amazonaws.com)."""
    stmt = {"Effect": Allow, "Action": [AssumeRole],
            "Principal": Principal("Service", [f"{s}.amazonaws.com" for s in services])}
    if condition is not None:
        stmt["Condition"] = condition
    return document(Statement(**stmt))


def trust(*statements: Statement) -> PolicyDocument:
    return document(*statements)


def trust_statement(principal: Principal, condition: Condition | None = None, sid: str | None = None) -> Statement:
    kwargs = {"Effect": Allow, "Action": [AssumeRole], "Principal": principal}
    if condition is not None:
        kwargs["Condition"] = condition
    if sid:
        kwargs["Sid"] = sid
    return Statement(**kwargs)


def aws_managed(name: str) -> Sub:
    """ARN of an AWS managed policy, e.g. ``service-role/AWSLambdaBasicExecutionRole``."""
    return Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}")


def role(
    ctx: BuildContext,
    title: str,
    *,
    description: str,
    assume: PolicyDocument,
    policies: Iterable[iam.Policy] = (),
    managed: Iterable[str | AWSHelperFn] = (),
    name: str | AWSHelperFn | None = None,
    path: str | None = None,
    condition: str | None = None,
    retain: bool = False,
    max_session_seconds: int | None = None,
) -> iam.Role:
    """The only way templates create roles: path, permissions boundary and tags come from the config."""
    kwargs = {
        "Description": description,
        "AssumeRolePolicyDocument": assume,
        "Path": ctx.config.role_path if path is None else path,
    }
    if name is not None:
        kwargs["RoleName"] = name
    if ctx.permissions_boundary is not None:
        kwargs["PermissionsBoundary"] = ctx.permissions_boundary
    policies, managed = list(policies), list(managed)
    if policies:
        kwargs["Policies"] = policies
    if managed:
        kwargs["ManagedPolicyArns"] = managed
    if max_session_seconds:
        kwargs["MaxSessionDuration"] = max_session_seconds
    resource = iam.Role(title, **kwargs)
    if condition:
        resource.Condition = condition
    if retain:
        resource.DeletionPolicy = "Retain"
        resource.UpdateReplacePolicy = "Retain"
    return resource


def role_arn(resource: iam.Role) -> GetAtt:
    return GetAtt(resource, "Arn")


def boundary_condition(ctx: BuildContext) -> Condition | None:
    """When a permissions boundary is configured, roles may only be created or changed with it attached."""
    from awacs.aws import StringEquals

    if ctx.permissions_boundary is None:
        return None
    return Condition(StringEquals({"iam:PermissionsBoundary": ctx.permissions_boundary}))


def role_admin_statements(ctx: BuildContext, resources: list, sid: str) -> list[Statement]:
    """Create and maintain roles matching ``resources``; with a boundary configured, only with the boundary.

    Shared by every role that creates other roles (StackSet execution, Service Catalog launch) so that the
    boundary rule is written once.
    """
    manage = actions(
        "iam", "GetRole", "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy", "TagRole",
        "UntagRole", "ListRoleTags", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies",
        "DetachRolePolicy", "ListAttachedRolePolicies", "DeleteRole",
    )
    create = actions("iam", "CreateRole", "PutRolePolicy", "AttachRolePolicy")
    cond = boundary_condition(ctx)
    if cond is None:
        return [allow(create + manage, resources, sid=sid)]
    return [
        allow(manage, resources, sid=sid + "Maintain"),
        allow(create + actions("iam", "PutRolePermissionsBoundary"), resources, sid=sid + "WithBoundary",
              condition=cond),
    ]


__all__ = [
    "Policy", "actions", "allow", "deny", "document", "inline", "service_trust", "trust", "trust_statement",
    "aws_managed", "role", "role_arn", "boundary_condition", "role_admin_statements",
]
