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
    "role deploys (tests/test_iam_coverage.py). Every other write is scoped to this account and region, and to "
    "the platform's names wherever the resource has one (stacks, StackSets, buckets, roles, policies, functions, "
    "parameters, log groups); every role it creates, changes, attaches a policy to or passes must carry the "
    "platform boundary (or the configured one), which holds no IAM write, and it never changes its own policies, "
    "the boundary or the core's roles (tests/test_escalation.py proves no persona reaches more through it).",
)
PERMISSIONS_BOUNDARY = Reason(
    ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_111"),
    "A permissions boundary, never attached as a grant: it allows nothing alone and only caps the roles of the "
    "environments (a role may do what both its own policies and this ceiling allow). Its Resource is '*' by "
    "design: every role's own policies scope resources, and tests/test_boundary.py proves each of their "
    "statements lies within this ceiling, which holds no IAM write and no whole service, and passes and assumes "
    "only roles under the configured role path and name prefix (any role with the defaults: the roles' own "
    "policies name the roles they pass and assume, and tests/test_escalation.py proves no chain reaches another).",
)
# S3: the environment's access-log bucket (env-s3).
CONDITIONED_CROSS_ACCOUNT_PRINCIPAL = Reason(
    ("CKV_AWS_33",),
    "With organizational units the principal is '*' narrowed by conditions to the model execution role "
    "(aws:PrincipalArn) of the organization's accounts (aws:PrincipalOrgID) in the environment's OUs "
    "(aws:PrincipalOrgPaths), using the key only through S3 (kms:ViaService: decrypting models, encrypting their "
    "endpoints' data capture); with account lists the principals are the listed accounts, narrowed to that role. "
    "KMS refuses a key policy naming a role that does not exist yet, "
    "and the target accounts' roles are created by StackSets after the key.",
)
CONDITIONED_CROSS_ACCOUNT_VOLUME_KEY = Reason(
    ("CKV_AWS_33",),
    "With organizational units the principal is '*' narrowed by conditions to the model deployment StackSet "
    "execution role (aws:PrincipalArn) of the organization's accounts (aws:PrincipalOrgID) in the environment's "
    "OUs (aws:PrincipalOrgPaths): it may describe the key and create grants for AWS resources only "
    "(kms:GrantIsForAWSResource), which is how SageMaker encrypts an endpoint's volume; with account lists the "
    "principals are the listed accounts, narrowed to that role. KMS refuses a key policy naming a role that does "
    "not exist yet.",
)
NETWORK_ISOLATION_BY_PARAMETER = Reason(
    ("CKV_AWS_370",),
    "Network isolation is on by default (parameter NetworkIsolation, YES); the parameter exists for model "
    "containers that must reach the VPC (the endpoint runs in the stage's private subnets either way).",
)
ACCESS_LOGS_BUCKET_NOT_LOGGED = Reason(
    ("CKV_AWS_18",),
    "This bucket receives the server access logs of the environment's data and model buckets. Logging it into "
    "itself would log every log delivery, without end; its objects are written only by S3's logging service "
    "(bucket policy) and its management calls are recorded by CloudTrail.",
)


# -- AWS Control Tower proactive controls ---------------------------------------------------------------------
# Control Tower's proactive controls are CloudFormation hooks: an organization that enables one blocks every
# resource that fails it.  They are not skipped in a template; what the templates do not meet is listed here,
# reviewed, quoted in the README (Scanners) and asserted exactly by tests/test_scanners.py: a listed exception
# that stops failing fails the suite as much as an unlisted failure.
@dataclass(frozen=True)
class ControlException:
    """Where a Control Tower control fails, and why.

    ``resource_type``: every resource of that type; or ``resources``: "template/LogicalId" entries.  ``option``:
    the configuration switch that meets the control (None: no configuration does, the reason says why);
    ``pinned_by``: the configuration value that fixes at generation time what the switch otherwise takes as a
    deploy-time parameter (None: the switch needs no value).
    """

    control: str
    requires: str
    reason: str
    resource_type: str = ""
    resources: tuple[str, ...] = ()
    option: str | None = None
    pinned_by: str | None = None

    def __post_init__(self):
        if not self.control.startswith("CT.") or not self.requires.strip() or not self.reason.strip():
            raise ValueError(f"{self.control}: a control id, what it requires and a reason are needed")
        if bool(self.resource_type) == bool(self.resources):
            raise ValueError(f"{self.control}: name a resource type or resources, not both")

    def covers(self, template: str, logical_id: str, resource_type: str) -> bool:
        if self.resource_type:
            return resource_type == self.resource_type
        return f"{template}/{logical_id}" in self.resources


# What the default configuration does not meet, each met by a configuration switch (on in the tests' hardened
# and pinned configurations).  Off by default because each costs money or cannot be undone.
NOT_MET_BY_DEFAULT = (
    ControlException(
        "CT.CLOUDWATCH.PR.3",
        "log groups encrypted with a customer managed KMS key",
        "CloudWatch Logs encrypts every log group with keys it manages; a customer managed key adds a key to "
        "provide (its policy must allow logs.<region>.amazonaws.com) and KMS requests to pay. env-vpc's flow-log "
        "group also takes a key of its own (parameter VPCFlowLogsCloudWatchKMSKey), which meets the control in "
        "any configuration.",
        resource_type="AWS::Logs::LogGroup",
        option="encrypt_logs",
        pinned_by="logs_kms_key_arn",
    ),
    ControlException(
        "CT.LAMBDA.PR.3",
        "Lambda functions in a customer VPC",
        "The functions are CloudFormation custom-resource handlers that call only AWS APIs and CloudFormation's "
        "response URL; in a VPC they need private subnets with a NAT gateway or VPC endpoints for each API they "
        "call.",
        resource_type="AWS::Lambda::Function",
        option="functions_in_vpc",
        pinned_by="function_network",
    ),
    ControlException(
        "CT.S3.PR.9",
        "S3 Object Lock activated on every bucket",
        "Object Lock cannot be deactivated once active; an environment that does not need write-once storage "
        "should not carry an irreversible setting. With s3_object_lock it is active on the data and model "
        "buckets, without default retention, and their bucket policies refuse compliance-mode locks (which "
        "nobody could lift, not even to honour a deletion request); the MLOps projects' artifact buckets follow "
        "the same switch.",
        resources=(
            "env-s3/DataBucket",
            "env-s3/ModelBucket",
            "project-model-build-train/MlOpsArtifactsBucket",
            "project-model-deploy/MlOpsArtifactsBucket",
        ),
        option="s3_object_lock",
    ),
)

# Never met, in any configuration: the controls contradict what the resource is for.
NEVER_MET = (
    ControlException(
        "CT.S3.PR.2",
        "server access logging on every bucket",
        "env-s3's LogsBucket is where the data and model buckets' server access logs go. Logging it into itself "
        "would log every log delivery without end, and logging it elsewhere needs another bucket with the same "
        "question; its objects are written only by S3's logging service (bucket policy), and its management "
        "calls are recorded by CloudTrail.",
        resources=("env-s3/LogsBucket",),
    ),
    ControlException(
        "CT.S3.PR.9",
        "S3 Object Lock activated on every bucket",
        "S3 does not deliver server access logs to a bucket with Object Lock, so env-s3's LogsBucket cannot have "
        "it. Its objects are written only by S3's logging service, are versioned, and expire after a year.",
        resources=("env-s3/LogsBucket",),
    ),
    ControlException(
        "CT.S3.PR.10",
        "SSE-KMS default encryption on every bucket",
        "S3 delivers server access logs only to a bucket whose default encryption is SSE-S3: env-s3's LogsBucket "
        "uses SSE-S3 (AES256), holds access logs only, and refuses customer-provided keys.",
        resources=("env-s3/LogsBucket",),
    ),
)

# Failing in the hardened template files as written (not pinned) only because a hardening parameter of the
# template gives the value (cfn-guard takes a Ref to a parameter for no value); a pinned release writes it.
PARAMETER_GIVEN_AS_WRITTEN = (
    ControlException(
        "CT.CLOUDWATCH.PR.2",
        "log groups retained for at least 365 days",
        "RetentionInDays is env-vpc's parameter VPCFlowLogsLogGroupRetention (default 365, kept for the "
        "reference's parameter files), which cfn-guard reads as no value. A release that pins the log key "
        "(logs_kms_key_arn) writes the configuration's retention instead and accepts only that value.",
        resources=("env-vpc/VPCFlowLogsLogGroup",),
    ),
)

# Failing in every template file as written, where cfn-guard sees the unresolved form, because the value exists
# only at deployment.  Checked on the rendered templates (what the hooks see, values resolved), they pass.
UNREADABLE_AS_WRITTEN = (
    ControlException(
        "CT.S3.PR.2",
        "server access logging on every bucket",
        "The MLOps projects' artifact buckets log into their environment's log bucket, whose name exists only at "
        "deployment: a project learns its environment from the environment lookup (Fn::GetAtt of the custom "
        "resource), and one project template serves every environment of every account. cfn-guard reads a "
        "computed DestinationBucketName as no value; a literal one would tie the template to one environment, "
        "and a log bucket of the project's own would need logging itself. Rendered, the control passes.",
        resources=("project-model-build-train/MlOpsArtifactsBucket", "project-model-deploy/MlOpsArtifactsBucket"),
    ),
)
