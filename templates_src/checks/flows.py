"""What real accounts enforce and moto does not: key policies, bucket policies, VPC endpoint policies, trust
policies and S3 Block Public Access, evaluated together with the identity policies (and permissions boundaries)
for each request of a cross-account or cross-service flow.

A *flow* is the chain of requests one piece of work makes (``Step``): an endpoint configuration created in a
staging account with the development account's EBS key, a model read by a staging account's endpoint through
its S3 endpoint, a Studio user's data read through the environment's S3 endpoint.  Each step is decided the way
AWS decides it (``world.decide``: an explicit Deny anywhere wins; in the resource's own account the identity
policy or the resource policy allows; across accounts both must; the caller's permissions boundary must allow
too), and a request that goes through a VPC endpoint must also be allowed by the endpoint's policy.  Each
request carries the condition keys it really carries (``s3_context``, ``kms_via_s3_context``): a policy that
depends on a key the request does not send fails here as it would in AWS.

``public_statements`` is S3's definition of a public bucket policy (the one Block Public Access refuses).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from templates_src.checks.iam_policy import chosen, evaluate, raw_statements, request, statements_from
from templates_src.checks.world import Principal, Stack, decide

# Condition keys whose fixed values make a statement granting to everyone non-public, as S3 defines it (Amazon S3
# User Guide, "Blocking public access", "The meaning of public").  aws:PrincipalAccount is not in the list: a
# statement relying on it alone is treated as public (S3 does not document it either way).
NON_PUBLIC_KEYS = {
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalorgid",
    "aws:userid",
    "aws:sourceip",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
}
FIXED_OPERATORS = ("stringequals", "stringequalsignorecase", "arnequals", "arnlike", "stringlike", "ipaddress")


def _fixed(operator: str, key: str, values: tuple[str, ...]) -> bool:
    """Whether a condition restricts ``key`` to fixed values (no wildcard; no broad address range)."""
    base = operator.lower().removeprefix("forallvalues:").removeprefix("foranyvalue:").removesuffix("ifexists")
    if base not in FIXED_OPERATORS or not values:
        return False
    if any("*" in v or "?" in v for v in values):
        return False
    if key.lower() == "aws:sourceip":
        return all(ipaddress.ip_network(v, strict=False).prefixlen >= 8 for v in values)
    if key.lower() == "aws:userid":
        return not any(v.endswith(":*") for v in values)
    return True


def _everyone(principal) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        values = aws if isinstance(aws, list) else [aws]
        return "*" in values
    return False


def public_statements(document: dict, stack: Stack, source: str) -> list[str]:
    """The Sids of the Allow statements that make a bucket policy public by S3's definition: a statement that
    grants to everyone (``*``) without a fixed value of a key S3 lists (a named principal is never public)."""
    resolver = stack.resolver
    out = []
    for stmt, raw in zip(
        statements_from(document, resolver, source), raw_statements(document, resolver, source), strict=False
    ):
        if stmt.effect != "Allow":
            continue
        principal = chosen(raw.get("Principal"), resolver, source)
        if isinstance(principal, dict) and "AWS" in principal:
            principal = {
                "AWS": [
                    v
                    for item in (principal["AWS"] if isinstance(principal["AWS"], list) else [principal["AWS"]])
                    for v in resolver.values(item)
                ]
            }
        if not _everyone(principal):
            continue
        if not any(key.lower() in NON_PUBLIC_KEYS and _fixed(op, key, values) for op, key, values in stmt.conditions):
            out.append(stmt.sid or "(no Sid)")
    return out


# -- requests of a flow ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One request of a flow: who, what, on what, with which keys, and the policies on the way."""

    what: str
    principal: Principal
    action: str
    resource: str
    context: dict = field(default_factory=dict)
    resource_policy: list | None = None  # key, bucket, model package group policy (None: the resource has none)
    resource_account: str = ""  # the resource's account ("" : the principal's)
    endpoint_policy: list | None = None  # the VPC endpoint the request goes through (None: no endpoint)


@dataclass(frozen=True)
class Outcome:
    step: Step
    allowed: bool
    why: str

    def __str__(self) -> str:
        return (
            f"{'allowed' if self.allowed else 'DENIED '} {self.step.what}: {self.step.principal.logical_id} "
            f"{self.step.action} on {self.step.resource} ({self.why})"
        )


def evaluate_step(step: Step) -> Outcome:
    principal = step.principal
    context = {
        "aws:PrincipalArn": principal.arn,
        "aws:PrincipalAccount": principal.account,
        "aws:SecureTransport": "true",
        **{f"aws:PrincipalTag/{k}": v for k, v in principal.tags.items()},
        **step.context,
    }
    req = request(step.action, step.resource, context=context, complete=True)
    same = (step.resource_account or principal.account) == principal.account
    decision = decide(principal, req, step.resource_policy, same_account=same)
    if not decision.allowed:
        why = (
            f"denied by {decision.denied_by}"
            if decision.denied_by
            else (
                "no identity or resource policy statement allows it"
                if same
                else "needs both the identity and the resource policy"
            )
        )
        return Outcome(step, False, why)
    if step.endpoint_policy is not None:
        through = evaluate(step.endpoint_policy, req)
        if not through.allowed:
            return Outcome(
                step, False, f"the VPC endpoint policy does not allow it ({through.denied_by or 'no statement'})"
            )
    return Outcome(step, True, "allowed by " + ", ".join(decision.by[:3]))


def s3_context(bucket_account: str, endpoint_id: str | None, vpc_id: str | None = None, **extra) -> dict:
    """What an S3 request carries: the bucket's account, and the VPC endpoint and VPC it came through (none from
    a service acting with the caller's credentials)."""
    context = {"s3:ResourceAccount": bucket_account, "aws:ViaAWSService": "false", **extra}
    if endpoint_id:
        context["aws:SourceVpce"] = endpoint_id
    if vpc_id:
        context["aws:SourceVpc"] = vpc_id
    return context


def kms_via_s3_context(caller_account: str, region: str, bucket_arn: str, **extra) -> dict:
    """What S3's call to KMS for an SSE-KMS object carries: made by S3 for the caller (forward access session)."""
    return {
        "kms:ViaService": f"s3.{region}.amazonaws.com",
        "kms:CallerAccount": caller_account,
        "aws:ViaAWSService": "true",
        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
        **extra,
    }


def run(steps: list[Step]) -> list[Outcome]:
    return [evaluate_step(step) for step in steps]
