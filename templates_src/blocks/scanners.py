"""Explained exceptions for static security scanners (checkov), written into the template itself.

A scanner finding is either fixed or skipped on the resource with a reason a reviewer can check:

    from templates_src.blocks import scanners
    scanners.skip(function, scanners.NO_RESERVED_CONCURRENCY)

which renders as

    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_115
            comment: <the reason>

Every reason is a named constant below, defined once, so the same explanation is never written twice and a
reason that stops being true is changed in one place.  A reason names the checks it answers; ``skip`` adds one
entry per check.  Skipping the same check twice on a resource keeps one entry whose comment holds both reasons.

Adding a reason: define a ``Reason`` constant here (check ids and a comment that says why the finding does not
apply or what mitigates it, never just "accepted"), then call ``skip`` where the resource is built.
tests/test_scanners.py runs checkov over every configuration and fails on any finding that is neither fixed
nor skipped, and on any skip without a comment.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import BaseAWSObject

CHECKOV = "checkov"


@dataclass(frozen=True)
class Reason:
    """Why a resource does not follow one or more scanner checks."""

    checks: tuple[str, ...]
    comment: str

    def __post_init__(self):
        if not self.checks or not all(isinstance(c, str) and c.strip() for c in self.checks):
            raise ValueError("a reason names at least one check id")
        if not self.comment.strip():
            raise ValueError(f"reason for {', '.join(self.checks)} has no comment")


def skip(resource: BaseAWSObject, *reasons: Reason) -> BaseAWSObject:
    """Record on ``resource`` (its Metadata) that checkov skips the reasons' checks, with their comments."""
    metadata = dict(getattr(resource, "Metadata", None) or {})
    section = dict(metadata.get(CHECKOV) or {})
    entries = [dict(e) for e in section.get("skip", [])]
    for reason in reasons:
        for check in reason.checks:
            existing = next((e for e in entries if e["id"] == check), None)
            if existing is None:
                entries.append({"id": check, "comment": reason.comment})
            elif reason.comment not in existing["comment"]:
                existing["comment"] = f"{existing['comment']} {reason.comment}"
    section["skip"] = sorted(entries, key=lambda e: e["id"])
    metadata[CHECKOV] = section
    resource.Metadata = metadata
    return resource


def skipped(resource: BaseAWSObject) -> dict[str, str]:
    """The checks skipped on ``resource``: check id -> comment."""
    metadata = getattr(resource, "Metadata", None) or {}
    return {e["id"]: e["comment"] for e in (metadata.get(CHECKOV) or {}).get("skip", [])}


# -- reasons ------------------------------------------------------------------------------------------------
# Lambda functions.  Every function of this project is a CloudFormation custom resource handler.
NO_DEAD_LETTER_QUEUE = Reason(
    ("CKV_AWS_116",),
    "Custom resource handler invoked only by CloudFormation. It answers CloudFormation on every outcome (also on "
    "errors and before its timeout), and a request it never answers fails the stack operation visibly, so a "
    "dead-letter queue would only collect events nobody acts on.",
)
NO_RESERVED_CONCURRENCY = Reason(
    ("CKV_AWS_115",),
    "Runs a few times per stack operation. Reserved concurrency would subtract from the account's unreserved "
    "pool, and Lambda refuses it (failing the deployment) in accounts whose unreserved concurrency would drop "
    "below 10, as in new accounts with low limits.",
)
FUNCTION_OUTSIDE_VPC = Reason(
    ("CKV_AWS_117",),
    "Calls only AWS APIs and CloudFormation's S3 response URL and reaches no private network. Generate with "
    "functions_in_vpc: true to run it in VPC subnets and security groups given at deployment (or pinned with "
    "function_network).",
)
# Log groups.
LOGS_SERVICE_ENCRYPTED = Reason(
    ("CKV_AWS_158",),
    "CloudWatch Logs encrypts every log group at rest with keys it manages. Generate with encrypt_logs: true to "
    "use a customer managed KMS key given at deployment (or pinned with logs_kms_key_arn).",
)
# IAM: the statement Lambda needs to attach a function to a VPC.
LAMBDA_VPC_NETWORK_INTERFACES = Reason(
    ("CKV_AWS_111",),
    "Lambda creates, assigns and deletes the function's network interfaces in the VPC with this role; their ids "
    "are not known before, and EC2 authorizes DescribeNetworkInterfaces only on all resources.",
)


# IAM policies.
ACTIONS_AUTHORIZED_ONLY_ON_STAR = Reason(
    ("CKV_AWS_111",),
    "Creates resources with actions IAM authorizes only on '*' (IAM's action table lists no resource type for "
    "kms:CreateKey, elasticfilesystem:CreateFileSystem, resource-groups:CreateGroup and "
    "cloudformation:CreateStackSet), so no resource can narrow them. Each is proven needed by a resource this "
    "role deploys (tests/test_iam_coverage.py); every other write of the policy is scoped to the platform's "
    "names in this account.",
)
# S3: the environment's access-log bucket (env-s3).
ACCESS_LOGS_BUCKET_NOT_LOGGED = Reason(
    ("CKV_AWS_18",),
    "This bucket receives the server access logs of the environment's data and model buckets. Logging it into "
    "itself would log every log delivery, without end; its objects are written only by S3's logging service "
    "(bucket policy) and its management calls are recorded by CloudTrail.",
)
