"""IAM building blocks on awacs: pure policy factories and the one role factory every template uses.

The role factory applies what the configuration demands of every role: the role path (except where AWS
mandates one) and the permissions boundary (the tags, like every resource's, are added to the whole template by
``generator.tag_everything``).  Policy factories return plain awacs objects, so
tests can inspect statements without rendering a template.  Every policy statement of the templates and blocks is
made here (``allow`` / ``deny``, through ``statement``), its keys always in one order (tests/test_structure.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence

from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    Policy,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.sts import AssumeRole, SetSourceIdentity
from troposphere import AWSHelperFn, GetAtt, Ref, Template, encode_to_dict, iam

from templates_src.blocks.parameters import LONGEST
from templates_src.context import BuildContext

POLICY_VERSION = "2012-10-17"
INLINE_POLICIES_LIMIT = 10_240  # all inline policies of one role together, characters without whitespace
MANAGED_POLICY_LIMIT = 6_144  # one customer managed policy
# What a generated managed policy may fill at worst-case values: a tenth of the limit stays free, so a longer
# name prefix, role path or a statement added in a fix never turns into a deployment that IAM refuses.
MANAGED_POLICY_BUDGET = MANAGED_POLICY_LIMIT * 9 // 10
# Worst-case values for the size estimate: the longest pseudo parameters (the packer's estimate; the generation
# checks every document exactly, templates_src.document_limits).
_WORST = {name: "x" * length for name, length in LONGEST.items()}
_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def actions(service: str, *names: str) -> list[Action]:
    """``actions("iam", "GetRole", "List*")`` -> awacs actions (wildcards allowed; cfn-lint checks names)."""
    return [Action(service, name) for name in names]


Resources = Sequence | str | AWSHelperFn


def _listed(resources: Resources) -> list:
    return resources if isinstance(resources, list) else [resources]


def statement(
    effect,
    acts: Sequence[Action] | None = None,
    resources: Resources | None = None,
    *,
    sid: str | None = None,
    principal: Principal | None = None,
    not_actions: Sequence[Action] | None = None,
    not_resources: Resources | None = None,
    condition: Condition | None = None,
) -> Statement:
    """The one place a policy statement is made (``allow`` and ``deny`` are its two effects).

    Its keys are always in one order: Sid, Effect, Principal, Action or NotAction, Resource or NotResource,
    Condition.  Exactly one of ``acts`` and ``not_actions``; at most one of ``resources`` and ``not_resources``
    (a trust statement has neither); ``principal`` only for resource and trust policies.
    """
    if (acts is None) == (not_actions is None):
        raise ValueError("a statement has either actions or not_actions")
    if resources is not None and not_resources is not None:
        raise ValueError("a statement has resources or not_resources, not both")
    kwargs = {}
    if sid:
        kwargs["Sid"] = sid
    kwargs["Effect"] = effect
    if principal is not None:
        kwargs["Principal"] = principal
    if acts is not None:
        kwargs["Action"] = list(acts)
    else:
        kwargs["NotAction"] = list(not_actions)
    if resources is not None:
        kwargs["Resource"] = _listed(resources)
    elif not_resources is not None:
        kwargs["NotResource"] = _listed(not_resources)
    if condition is not None:
        kwargs["Condition"] = condition
    return Statement(**kwargs)


def allow(
    acts: Sequence[Action] | None = None,
    resources: Resources | None = None,
    sid: str | None = None,
    condition: Condition | None = None,
    *,
    principal: Principal | None = None,
    not_actions: Sequence[Action] | None = None,
    not_resources: Resources | None = None,
) -> Statement:
    """An Allow statement (see ``statement``)."""
    return statement(
        Allow,
        acts,
        resources,
        sid=sid,
        principal=principal,
        not_actions=not_actions,
        not_resources=not_resources,
        condition=condition,
    )


def deny(
    acts: Sequence[Action] | None = None,
    resources: Resources | None = None,
    *,
    sid: str,
    condition: Condition | None = None,
    principal: Principal | None = None,
    not_actions: Sequence[Action] | None = None,
    not_resources: Resources | None = None,
) -> Statement:
    """A Deny statement (see ``statement``): always with a Sid, which says what it forbids."""
    return statement(
        Deny,
        acts,
        resources,
        sid=sid,
        principal=principal,
        not_actions=not_actions,
        not_resources=not_resources,
        condition=condition,
    )


def document(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version=POLICY_VERSION, Statement=list(statements))


def inline(name: str | AWSHelperFn, *statements: Statement) -> iam.Policy:
    return iam.Policy(PolicyName=name, PolicyDocument=document(*statements))


def service_trust(*services: str, condition: Condition | None = None) -> PolicyDocument:
    """Trust policy for AWS service principals (``lambda`` -> lambda.amazonaws.com)."""
    principal = Principal("Service", [f"{s}.amazonaws.com" for s in services])
    return document(allow([AssumeRole], principal=principal, condition=condition))


def trust(*statements: Statement) -> PolicyDocument:
    return document(*statements)


def trust_statement(principal: Principal, condition: Condition | None = None, sid: str | None = None) -> Statement:
    return allow([AssumeRole], sid=sid, principal=principal, condition=condition)


def source_identity_statement(principal: Principal, identity: str, sid: str, condition: list = ()) -> Statement:
    """Trust statement allowing the caller to set the session's source identity, only to ``identity`` (a policy
    variable such as ``${aws:username}``)."""
    return allow(
        [SetSourceIdentity],
        sid=sid,
        principal=principal,
        condition=Condition([*condition, StringEquals({"sts:SourceIdentity": identity})]),
    )


def account_service_trust(service: str, extra: list | None = None, source_identity: bool = False) -> PolicyDocument:
    """Trust an AWS service acting for this account only (confused-deputy protection: ``aws:SourceAccount``, and
    ``extra`` conditions such as the source ARN).

    ``source_identity``: the service may also set the session's source identity (Studio sets the user profile
    name, env-sagemaker-studio's ExecutionRoleIdentityConfig, so CloudTrail shows who did what).
    """
    return trust(account_service_statement(service, extra, source_identity))


def account_service_statement(
    service: str, extra: list | None = None, source_identity: bool = False, sid: str = "ServiceForThisAccount"
) -> Statement:
    """The trust statement of ``account_service_trust``."""
    condition = Condition([StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}), *(extra or [])])
    acts = [AssumeRole, *([SetSourceIdentity] if source_identity else [])]
    return allow(acts, sid=sid, principal=Principal("Service", [f"{service}.amazonaws.com"]), condition=condition)


def administrator_trust(ctx: BuildContext) -> PolicyDocument:
    """Who may assume the persona roles (configuration ``ds_administrator_trust``): core-iam-shared-roles'
    administrator role and env-iam's user roles.

    * IAM users of this account, only with MFA: their long-term access keys carry no MFA flag, so
      ``Bool`` (not ``BoolIfExists``) keeps them out unless they signed in, or got a session, with MFA.
    * Role sessions of this account whose role matches the configured patterns: federated (SAML, OIDC) and
      IAM Identity Center users arrive as role sessions, authenticated (with MFA) by their identity provider.
    ``aws:PrincipalArn`` is the user's ARN, or for a role session the role's ARN (path included).

    And who the person is, for the session's whole life (``sts:SourceIdentity``, in CloudTrail and in every
    request; a Studio user profile opens only for its own person): an IAM user may set only their own user
    name; a role session only carries on the identity it already has (set by its identity provider, or at
    the start of its chain), which STS never lets anyone change.
    """
    trust_ = ctx.config.ds_administrator_trust
    account = Principal("AWS", ctx.root_arn())
    users = ArnLike({"aws:PrincipalArn": ctx.arn("iam", "user/*")})
    roles = ArnLike({"aws:PrincipalArn": [ctx.arn("iam", f"role/{pattern}") for pattern in trust_.roles]})
    statements = []
    if trust_.iam_users_with_mfa:
        mfa = Bool({"aws:MultiFactorAuthPresent": "true"})
        statements.append(trust_statement(account, sid="IamUsersWithMfa", condition=Condition([mfa, users])))
        statements.append(
            source_identity_statement(account, "${aws:username}", sid="IamUsersNameThemselves", condition=[mfa, users])
        )
    if trust_.roles:
        statements.append(trust_statement(account, sid="RoleSessions", condition=Condition(roles)))
        statements.append(
            source_identity_statement(
                account, "${aws:SourceIdentity}", sid="RoleSessionsKeepTheirIdentity", condition=[roles]
            )
        )
    return trust(*statements)


def _worst_case(node, bounds: dict[str, int]):
    """A policy (as a dict) with every ${...}, Ref and GetAtt at its longest value: a parameter's MaxLength
    (``bounds``), the longest pseudo parameter, else 64 characters (128 for an attribute)."""

    def longest(name: str) -> str:
        return _WORST.get(name) or "x" * bounds.get(name, 64)

    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            return _SUB_VAR.sub(lambda m: longest(m.group(1)), text)
        if set(node) == {"Ref"}:
            return longest(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            return "x" * 128
        return {k: _worst_case(v, bounds) for k, v in node.items()}
    if isinstance(node, list):
        return [_worst_case(v, bounds) for v in node]
    return node


def parameter_bounds(template: Template | None) -> dict[str, int]:
    """The MaxLength (or longest AllowedValue) of every parameter ``template`` has so far."""
    bounds = {}
    for name, parameter in (template.parameters if template is not None else {}).items():
        props = parameter.properties
        if props.get("AllowedValues"):
            bounds[name] = max(len(str(v)) for v in props["AllowedValues"])
        elif "MaxLength" in props:
            bounds[name] = int(props["MaxLength"])
    return bounds


def policy_size(document, bounds: dict[str, int] | None = None) -> int:
    """Characters IAM counts for a policy (no whitespace), with every ${...} at its longest value."""
    return len(json.dumps(_worst_case(encode_to_dict(document), bounds or {}), separators=(",", ":")))


def creates_on_star(document: PolicyDocument) -> bool:
    """Whether a policy allows creating something on Resource "*" (what scanners flag as unconstrained)."""
    for stmt in document.Statement:
        resources = stmt.Resource if isinstance(stmt.Resource, list) else [stmt.Resource]
        names = [a.JSONrepr() if hasattr(a, "JSONrepr") else str(a) for a in stmt.Action]
        if stmt.Effect == Allow and "*" in resources and any(":Create" in n for n in names):
            return True
    return False


def managed_policies(
    ctx: BuildContext, title: str, description: str, statements: Sequence[Statement], template: Template
) -> list[iam.ManagedPolicy]:
    """Pack statements, in order, into as few customer managed policies as the size budget (90 % of IAM's limit
    at worst-case values) allows.

    Used where a role needs more than the 10,240 characters of inline policy IAM allows per role.
    """
    # A document's size is its frame, its statements and the commas between them: each statement is measured
    # once (measuring every growing group again made this quadratic, half the time of some templates' build).
    groups: list[list[Statement]] = [[]]
    frame = used = 0
    bounds = parameter_bounds(template)
    for stmt in statements:
        size = policy_size(stmt, bounds)
        if not frame:
            frame = policy_size(document(stmt), bounds) - size
        if groups[-1] and frame + used + len(groups[-1]) + size > MANAGED_POLICY_BUDGET:
            groups.append([])
            used = 0
        groups[-1].append(stmt)
        used += size
        if frame + used + len(groups[-1]) - 1 > MANAGED_POLICY_BUDGET:
            raise ValueError(f"statement {stmt.Sid!r} alone exceeds the managed policy size budget")
    return [
        iam.ManagedPolicy(
            f"{title}{i + 1}",
            Description=f"{description} ({i + 1}/{len(groups)})",
            Path=ctx.config.role_path,
            PolicyDocument=document(*group),
        )
        for i, group in enumerate(groups)
    ]


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
    boundary: str | AWSHelperFn | None = None,
) -> iam.Role:
    """The only way templates create roles: path and permissions boundary come from the config.

    ``boundary`` replaces the configured permissions boundary where none is configured (a template's own
    boundary, e.g. the target-account roles'); a configured boundary always wins.
    """
    kwargs = {
        "Description": description,
        "AssumeRolePolicyDocument": assume,
        "Path": ctx.config.role_path if path is None else path,
    }
    if name is not None:
        kwargs["RoleName"] = name
    if ctx.permissions_boundary is not None:
        kwargs["PermissionsBoundary"] = ctx.permissions_boundary
    elif boundary is not None:
        kwargs["PermissionsBoundary"] = boundary
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


def boundary_condition(boundary) -> Condition | None:
    """Requests must carry exactly this permissions boundary (None: no condition)."""
    if boundary is None:
        return None
    return Condition(StringEquals({"iam:PermissionsBoundary": boundary}))


def role_admin_statements(
    ctx: BuildContext, resources: list, sid: str, *, boundary=None, attachable: list | tuple = ()
) -> list[Statement]:
    """Create and maintain roles matching ``resources``, the one rule every role-creating role follows.

    * ``boundary`` (default: the configured permissions boundary): when there is one, every write that shapes
      or changes a role (create, inline policies, attachments, setting the boundary, trust policy, settings,
      deletion: every call IAM checks ``iam:PermissionsBoundary`` on) requires the role to carry exactly that
      boundary, so no role this one creates can exceed it and no other role of the account can be touched.
    * Removing a boundary (DeleteRolePermissionsBoundary) is never granted.
    * ``attachable``: the only managed policies the roles may get (iam:PolicyARN); none means no attachments.
    """
    boundary = ctx.permissions_boundary if boundary is None else boundary
    read = actions("iam", "GetRole", "ListRoleTags", "GetRolePolicy", "ListRolePolicies", "ListAttachedRolePolicies")
    maintain = actions("iam", "TagRole", "UntagRole")  # IAM checks no boundary on these
    changes = actions("iam", "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy", "DeleteRole")
    shape = actions("iam", "CreateRole", "PutRolePolicy", "DeleteRolePolicy")
    if boundary is not None:
        shape += actions("iam", "PutRolePermissionsBoundary") + changes
    else:
        maintain += changes
    cond = boundary_condition(boundary)
    statements = [
        allow(read + maintain, resources, sid=sid + "Maintain"),
        allow(shape, resources, sid=sid + ("WithBoundary" if cond else "Policies"), condition=cond),
    ]
    if attachable:
        attach = {"iam:PolicyARN": list(attachable)}
        if boundary is not None:
            attach["iam:PermissionsBoundary"] = boundary
        statements.append(
            allow(
                actions("iam", "AttachRolePolicy", "DetachRolePolicy"),
                resources,
                sid=sid + "ManagedPolicies",
                condition=Condition(ArnLike(attach)),
            )
        )
    return statements


__all__ = [
    "Policy",
    "actions",
    "statement",
    "allow",
    "deny",
    "document",
    "inline",
    "service_trust",
    "account_service_trust",
    "account_service_statement",
    "administrator_trust",
    "trust",
    "trust_statement",
    "role",
    "role_arn",
    "boundary_condition",
    "role_admin_statements",
]
