"""The platform permissions boundary: the most any role of a data science environment may ever do.

The core creates it (``core-iam-shared-roles``) when the configuration names no ``permissions_boundary``, and
exports its ARN; every role the environment launch role creates carries it, and the launch role may create,
change, attach to or pass nothing but roles that carry it.  So whatever an environment's roles are given, by a
template or by a mistake, none of them can ever write IAM (create or change roles, users, groups, policies,
boundaries, credentials), act on the account's organization, or use a service the platform does not use.

It is a ceiling, not a grant: each role's own policies stay narrow (tests/test_escalation.py proves what every
role and persona can and cannot reach; tests/test_boundary.py proves every statement of every bounded role lies
within the ceiling, so the boundary never causes an AccessDenied the templates did not intend).
"""

from __future__ import annotations

from troposphere import Sub

from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

# What the environment's roles may ever do, by service: the kinds of calls (verbs, or whole actions) their
# Studio users, jobs, pipelines, builds, deployments and set-up functions make.  Never a whole service
# ("service:*": AWS Control Tower's CT.IAM.PR.3 refuses it, and a ceiling is a statement of intent): the roles' own
# policies scope resources.  tests/test_boundary.py proves every statement of every bounded role (and every
# key-policy and bucket-policy grant to one) lies within it.
ALLOWED = {
    "sagemaker": (
        "Add*",
        "Associate*",
        "Batch*",
        "Create*",
        "Delete*",
        "Describe*",
        "Disassociate*",
        "Enable*",
        "Get*",
        "Invoke*",
        "List*",
        "Put*",
        "Query*",
        "Retry*",
        "Search*",
        "Send*",
        "Start*",
        "Stop*",
        "Update*",
    ),
    "s3": (
        "AbortMultipartUpload",
        "CreateBucket",
        "DeleteObject",
        "DeleteObjectVersion",
        "Get*",
        "List*",
        "PutObject",
        "PutObjectTagging",
    ),
    "kms": (
        "Decrypt",
        "Encrypt",
        "GenerateDataKey*",
        "ReEncrypt*",
        "DescribeKey",
        "CreateGrant",
        "ListGrants",
        "RetireGrant",
        "RevokeGrant",
    ),
    "ec2": (
        "CreateNetworkInterface*",
        "DeleteNetworkInterface*",
        "DeleteSecurityGroup",
        "Describe*",
        "RevokeSecurityGroup*",
    ),
    "ecr": ("Batch*", "Describe*", "Get*"),
    "logs": (
        "CreateLogGroup",
        "CreateLogStream",
        "Describe*",
        "Filter*",
        "Get*",
        "PutLogEvents",
        "StartQuery",
        "StopQuery",
    ),
    "cloudwatch": ("Describe*", "Get*", "List*", "PutMetricData"),
    "ssm": ("Describe*", "Get*"),
    "codecommit": (
        "Batch*",
        "Cancel*",
        "Create*",
        "Describe*",
        "Get*",
        "Git*",
        "List*",
        "Merge*",
        "Post*",
        "PutFile",
        "Update*",
        "Upload*",
    ),
    "codebuild": ("Batch*", "Create*", "List*", "Start*", "Stop*", "Update*"),
    "codepipeline": ("Get*", "List*", "Put*", "Start*"),
    # The projects' builds install through the environment's package mirror (templates_src/blocks/package_mirror.py).
    "codeartifact": ("GetAuthorizationToken", "GetRepositoryEndpoint", "ReadFromRepository"),
    "sts": ("GetServiceBearerToken",),  # CodeArtifact's token (the roles' own policies name the service)
    "codestar-connections": ("GetConnection", "GetConnectionToken", "UseConnection"),
    "codeconnections": ("GetConnection", "GetConnectionToken", "UseConnection"),
    "servicecatalog": (
        "AcceptPortfolioShare",
        "Describe*",
        "DisassociatePrincipalFromPortfolio",
        "List*",
        "ProvisionProduct",
        "ScanProvisionedProducts",
        "Search*",
        "TerminateProvisionedProduct",
        "UpdateProvisionedProduct",
    ),
    "elasticfilesystem": ("DeleteMountTarget", "Describe*"),
    "cloudformation": (
        "Create*",
        "Delete*",
        "Describe*",
        "Execute*",
        "Get*",
        "List*",
        "Set*",
        "Stop*",
        "Tag*",
        "Untag*",
        "Update*",
        "Validate*",
    ),
    # Read-only calls of services whose writes no environment role may make.
    "organizations": ("Describe*", "List*"),
    "iam": ("GetRole",),
}

PARAMETER = ParamSpec(
    "PermissionsBoundaryArn",
    "The platform permissions boundary every role of the environment carries (the core's PlatformBoundaryArn "
    "output); env-main passes it",
    "Permissions boundary ARN",
    allowed_pattern=r"arn:aws[a-z-]*:iam::\d{12}:policy/[\w+=,.@/-]+",
    max_length=params.POLICY_ARN_MAX,
    constraint="must be an IAM managed policy ARN (arn:<partition>:iam::<account-id>:policy/<name>)",
)


def name(ctx: BuildContext):
    """The boundary's managed policy name: <prefix><core StackSetName>-<region>-platform-boundary."""
    return ctx.namer.name(
        "policy", "${StackSetName}-${AWS::Region}-platform-boundary", {"StackSetName": params.STACK_SET_NAME}
    )


def export_name(ctx: BuildContext, core_name: str = "StackSetName"):
    """The core's export of the boundary's ARN, which env-main imports (``core_name``: the parameter holding the
    core deployment's name)."""
    return ctx.namer.name(
        "export", f"${{{core_name}}}-platform-boundary-arn", {core_name: params.STACK_SET_NAME.with_(name=core_name)}
    )


def statements(ctx: BuildContext) -> list:
    a, allow = iam_blocks.actions, iam_blocks.allow
    platform_roles = Sub(ctx.role_path_pattern() + "*")
    any_account_platform_roles = Sub(ctx.role_path_pattern(account="*") + "*")
    return [
        allow(
            [action for service, names in ALLOWED.items() for action in a(service, *names)], "*", sid="PlatformServices"
        ),
        # Roles are passed only to the services that run the platform's work, and only roles of the platform.
        allow(a("iam", "PassRole"), platform_roles, sid="PassPlatformRoles"),
        # StackSet administration assumes execution roles of the target accounts; deployment tests assume model
        # execution roles there: platform roles (path and prefix), in any account.
        allow(a("sts", "AssumeRole"), any_account_platform_roles, sid="AssumePlatformRoles"),
    ]
