"""The policy catalogue: statements several roles need, each written once and proven by the deploying-role
check (``templates_src.checks.iam_coverage``) against CloudFormation's handler permissions.

Pure functions of the build context that return awacs statements.  Where IAM authorizes an action only on
``*`` (IAM's action table lists no resource type for it), the catalogue grants it on ``*`` in a statement of
its own, so the scoped statements stay scoped.
"""

from __future__ import annotations

from awacs.aws import Condition, StringEquals
from troposphere import Ref

from templates_src.blocks.iam import actions as a
from templates_src.blocks.iam import allow
from templates_src.context import BuildContext

# -- CodeConnections --------------------------------------------------------------------------------------------
# CodeConnections answers to two IAM service prefixes: codeconnections (the connections the console has created since
# July 2024) and codestar-connections (older ones); each action and condition key exists under both.
CONNECTION_SERVICES = ("codeconnections", "codestar-connections")


def connection_actions(*names: str) -> list:
    """``names`` under both prefixes."""
    return [action for service in CONNECTION_SERVICES for action in a(service, *names)]


def connections(arn) -> list:
    """The account's connections under both prefixes: ``arn(service, "connection/*")`` for each."""
    return [arn(service, "connection/*") for service in CONNECTION_SERVICES]


def pass_connections(arn, to_service: str, sid: str) -> list:
    """PassConnection of the account's connections to ``to_service`` only: a statement per prefix, each with its
    own prefix's condition key (a request carries the key of its action's prefix)."""
    return [
        allow(
            a(service, "PassConnection"),
            arn(service, "connection/*"),
            sid=sid if service == CONNECTION_SERVICES[0] else f"{sid}CodeStar",
            condition=Condition(StringEquals({f"{service}:PassedToService": to_service})),
        )
        for service in CONNECTION_SERVICES
    ]


# -- CloudFormation -------------------------------------------------------------------------------------------
TAG_ACTIONS = ("TagResource", "UntagResource")
STACK_ACTIONS = (
    "CreateStack",
    "UpdateStack",
    "DeleteStack",
    "DescribeStacks",
    "DescribeStackEvents",
    "DescribeStackResource",
    "DescribeStackResources",
    "ListStackResources",
    "GetTemplate",
    "CreateChangeSet",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
    "SetStackPolicy",
    "UpdateTerminationProtection",
    *TAG_ACTIONS,
)
# The calls that give a stack its template (where a condition on cloudformation:TemplateUrl pins it).
STACK_TEMPLATE_ACTIONS = ("CreateStack", "UpdateStack", "CreateChangeSet")
# Running a stack whose template someone else chose: watch it, execute or delete its change sets, delete it.
STACK_RUN_ACTIONS = (
    "DeleteStack",
    "DescribeStacks",
    "DescribeStackEvents",
    "DescribeStackResources",
    "GetTemplate",
    "DescribeChangeSet",
    "ExecuteChangeSet",
    "DeleteChangeSet",
)
STACK_SET_ACTIONS = (
    "UpdateStackSet",
    "DeleteStackSet",
    "DescribeStackSet",
    "DescribeStackSetOperation",
    "ListStackSetOperations",
    "ListStackSetOperationResults",
    "CreateStackInstances",
    "UpdateStackInstances",
    "DeleteStackInstances",
    "DescribeStackInstance",
    "ListStackInstances",
    "StopStackSetOperation",
    *TAG_ACTIONS,
)
# IAM authorizes these on "*" only: ValidateTemplate has no resource type, GetTemplateSummary is called with a
# template URL, CreateStackSet has no resource type.
TEMPLATE_ACTIONS = ("ValidateTemplate", "GetTemplateSummary")
CREATE_STACK_SET = "CreateStackSet"
# Removing the StackSets of an environment's projects (the data science administrator's clean-up; its reads come
# from ReadOnlyAccess).
STACK_SET_CLEANUP_ACTIONS = ("DeleteStackInstances", "DeleteStackSet")
# What SageMaker's project launch role does with its projects' stacks and StackSets (tags in a statement of their
# own, GetTemplate and the template calls on "*").
PROJECT_STACK_ACTIONS = (
    *(
        x
        for x in STACK_ACTIONS
        if x not in ("DescribeStackResource", "GetTemplate", "UpdateTerminationProtection", *TAG_ACTIONS)
    ),
    CREATE_STACK_SET,
    *(x for x in STACK_SET_ACTIONS if x not in TAG_ACTIONS),
)


def stacks(ctx: BuildContext, names: list[str], region: str = "${AWS::Region}", sid: str = "Stacks") -> list:
    """Run stacks whose names match ``names`` (patterns), plus the template calls IAM authorizes on ``*``."""
    return [
        allow(
            a("cloudformation", *STACK_ACTIONS),
            [ctx.arn("cloudformation", f"stack/{name}/*", region=region) for name in names],
            sid=sid,
        ),
        allow(a("cloudformation", *TEMPLATE_ACTIONS), "*", sid=sid + "Templates"),
    ]


def stack_sets(ctx: BuildContext, names: str = "*", sid: str = "StackSets") -> list:
    """Create and run self-managed StackSets of this account and region."""
    return [
        allow(
            a("cloudformation", *STACK_SET_ACTIONS),
            [
                ctx.own("cloudformation", f"stackset/{names}:*"),
                ctx.own("cloudformation", "stackset-target/*"),
                ctx.own("cloudformation", "type/resource/*"),
            ],
            sid=sid,
        ),
        allow(a("cloudformation", CREATE_STACK_SET), "*", sid=sid + "Create"),
    ]


# -- action lists several roles share (each statement's resources and conditions stay with the role) -------------
# Objects read with their versions (templates, code and seed code in S3).
OBJECT_READ_ACTIONS = ("GetObject", "GetObjectVersion")
# SSM parameters: read (the environment's contract), and kept by the stacks that write them.
PARAMETER_READ_ACTIONS = ("GetParameter", "GetParameters")
PARAMETER_ADMIN_ACTIONS = (
    "PutParameter",
    "DeleteParameter",
    *PARAMETER_READ_ACTIONS,
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ListTagsForResource",
)
# CloudWatch Logs: writing a log group's streams (a function's, a build's), creating the group as well, and what
# SageMaker (jobs, endpoints) and VPC flow logs also call with their role.
LOG_STREAM_ACTIONS = ("CreateLogStream", "PutLogEvents")
LOG_ACTIONS = ("CreateLogGroup", *LOG_STREAM_ACTIONS)
SAGEMAKER_LOG_ACTIONS = (*LOG_ACTIONS, "DescribeLogStreams")
FLOW_LOG_STREAM_ACTIONS = (*LOG_STREAM_ACTIONS, "DescribeLogStreams")
# The log groups a stack creates (retention, tags, key).
LOG_GROUP_ADMIN_ACTIONS = (
    "CreateLogGroup",
    "DeleteLogGroup",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    *TAG_ACTIONS,
    "TagLogGroup",
    "ListTagsForResource",
    "AssociateKmsKey",
    "DisassociateKmsKey",
)
# Running in a VPC: SageMaker jobs and endpoints (the network interfaces SageMaker creates with their role, and the
# network they describe) ...
SAGEMAKER_INTERFACE_ACTIONS = (
    "CreateNetworkInterface",
    "CreateNetworkInterfacePermission",
    "DeleteNetworkInterface",
    "DeleteNetworkInterfacePermission",
)
SAGEMAKER_NETWORK_DESCRIBE_ACTIONS = (
    "DescribeVpcEndpoints",
    "DescribeDhcpOptions",
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "DescribeNetworkInterfaces",
)
# ... and CodeBuild projects (their service role creates the build's network interface) and the environment's stacks.
NETWORK_INTERFACE_ACTIONS = ("CreateNetworkInterface", "DeleteNetworkInterface", "CreateNetworkInterfacePermission")
NETWORK_DESCRIBE_ACTIONS = (
    "DescribeNetworkInterfaces",
    "DescribeVpcs",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "DescribeDhcpOptions",
)
# A build's test and coverage reports.
BUILD_REPORT_ACTIONS = (
    "CreateReportGroup",
    "CreateReport",
    "UpdateReport",
    "BatchPutTestCases",
    "BatchPutCodeCoverages",
)
# SageMaker: the calls that can set a model package's ModelApprovalStatus (approving one deploys it), and projects.
MODEL_PACKAGE_WRITE_ACTIONS = ("CreateModelPackage", "UpdateModelPackage")
SAGEMAKER_PROJECT_ACTIONS = ("CreateProject", "UpdateProject", "DeleteProject")


# -- templates and code in S3 -----------------------------------------------------------------------------------
def provisioning_artifacts(sid: str = "ProvisioningArtifacts") -> object:
    """Service Catalog's product templates and the seed code it provisions: objects tagged
    servicecatalog:provisioning=true, which Service Catalog keeps in a bucket of its own account (so no
    account condition), the statement AWS documents as mandatory for every launch role."""
    return allow(
        a("s3", *OBJECT_READ_ACTIONS),
        "*",
        sid=sid,
        condition=Condition(StringEquals({"s3:ExistingObjectTag/servicecatalog:provisioning": "true"})),
    )


def own_account_objects(ctx: BuildContext, sid: str = "ReleaseObjects") -> object:
    """Nested templates and function packages of a release: read from buckets of this account only."""
    return allow(
        a("s3", *OBJECT_READ_ACTIONS),
        ctx.bucket_arn("*", "*"),
        sid=sid,
        condition=Condition(StringEquals({"s3:ResourceAccount": Ref("AWS::AccountId")})),
    )


# -- KMS --------------------------------------------------------------------------------------------------------
# No ScheduleKeyDeletion: the environment's keys are kept when their stack is deleted (DeletionPolicy Retain).
KEY_ADMIN_ACTIONS = (
    "DescribeKey",
    "EnableKeyRotation",
    "GetKeyRotationStatus",
    "GetKeyPolicy",
    "PutKeyPolicy",
    "TagResource",
    "UntagResource",
    "UpdateKeyDescription",
    "ListResourceTags",
)
KEY_USE_ACTIONS = ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "CreateGrant")


def kms_keys(ctx: BuildContext, sid: str = "Keys") -> list:
    """Create and administer the environment's keys (never disable them, never turn rotation off) and use them
    for the resources they encrypt."""
    return [
        # A key's ARN does not exist before CreateKey; IAM authorizes it on "*" only.
        allow(a("kms", "CreateKey"), "*", sid=sid + "Create"),
        allow(a("kms", *KEY_ADMIN_ACTIONS, *KEY_USE_ACTIONS), ctx.own("kms", "key/*"), sid=sid),
        allow(
            a("kms", "CreateAlias", "DeleteAlias", "UpdateAlias"),
            [ctx.own("kms", "alias/*"), ctx.own("kms", "key/*")],
            sid=sid + "Aliases",
        ),
        allow(a("kms", "ListAliases"), "*", sid=sid + "List"),
    ]


# -- S3 buckets ---------------------------------------------------------------------------------------------------
BUCKET_ACTIONS = (
    "CreateBucket",
    "ListBucket",
    "GetBucketLocation",
    "GetBucketAcl",
    "PutBucketPolicy",
    "GetBucketPolicy",
    "DeleteBucketPolicy",
    "PutEncryptionConfiguration",
    "GetEncryptionConfiguration",
    "PutBucketPublicAccessBlock",
    "GetBucketPublicAccessBlock",
    "PutBucketVersioning",
    "GetBucketVersioning",
    "PutBucketTagging",
    "GetBucketTagging",
    "PutBucketLogging",
    "GetBucketLogging",
    "PutBucketOwnershipControls",
    "GetBucketOwnershipControls",
    "PutLifecycleConfiguration",
    "GetLifecycleConfiguration",
    "PutBucketNotification",
    "GetBucketNotification",
    "PutBucketObjectLockConfiguration",
    "GetBucketObjectLockConfiguration",
    "TagResource",
    "UntagResource",
)


def buckets(ctx: BuildContext, names: list[str], sid: str = "Buckets", deletable: bool = False) -> object:
    """Create and configure buckets whose names match ``names`` (patterns).  Data-bearing buckets are kept
    when their stack is deleted (DeletionPolicy Retain), so DeleteBucket is granted only when ``deletable``."""
    return allow(
        a("s3", *BUCKET_ACTIONS, *(("DeleteBucket",) if deletable else ())),
        [ctx.bucket_arn(name) for name in names],
        sid=sid,
    )


# -- Service Catalog ------------------------------------------------------------------------------------------------
SERVICE_CATALOG_ADMIN_ACTIONS = (
    "CreatePortfolio",
    "DeletePortfolio",
    "UpdatePortfolio",
    "DescribePortfolio",
    "CreateProduct",
    "DeleteProduct",
    "UpdateProduct",
    "DescribeProductAsAdmin",
    "CreateProvisioningArtifact",
    "DeleteProvisioningArtifact",
    "UpdateProvisioningArtifact",
    "DescribeProvisioningArtifact",
    "ListProvisioningArtifacts",
    "AssociateProductWithPortfolio",
    "DisassociateProductFromPortfolio",
    "ListPortfoliosForProduct",
    "AssociatePrincipalWithPortfolio",
    "DisassociatePrincipalFromPortfolio",
    "ListPrincipalsForPortfolio",
    "CreateConstraint",
    "DeleteConstraint",
    "DescribeConstraint",
    "UpdateConstraint",
    "ListConstraintsForPortfolio",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "ListServiceActionsForProvisioningArtifact",
    "DisassociateServiceActionFromProvisioningArtifact",
)


def service_catalog_admin(ctx: BuildContext, sid: str = "Portfolio") -> object:
    """Portfolios, products, versions and constraints of this account and region.  Service Catalog authorizes
    creation and its association and constraint calls against arn:<partition>:catalog:<region>:<account>:*,
    which also covers portfolio/* and product/*."""
    return allow(a("servicecatalog", *SERVICE_CATALOG_ADMIN_ACTIONS), ctx.own("catalog", "*"), sid=sid)


# -- Service Catalog, as an end user -------------------------------------------------------------------------------
def service_catalog_end_user(ctx: BuildContext, sid: str = "Products", products: list | None = None) -> list:
    """Launch, update and terminate products of the portfolios shared with the role (Service Catalog checks the
    portfolio association itself and runs them as their launch role): the end-user actions, written out instead
    of an AWS managed policy, on ``products`` (default: this account's), and only the role's own provisioned
    products (``servicecatalog:roleLevel`` self; provisioned products have no resource type in IAM)."""
    from awacs.aws import Condition, StringEquals

    own_products = Condition(StringEquals({"servicecatalog:roleLevel": "self"}))
    return [
        allow(
            a(
                "servicecatalog",
                "DescribeProduct",
                "DescribeProvisioningParameters",
                "DescribeProvisioningArtifact",
                "ListLaunchPaths",
                "ListProvisioningArtifacts",
                "ProvisionProduct",
            ),
            products or ctx.own("catalog", "product/*"),
            sid=sid,
        ),
        allow(
            a("servicecatalog", "SearchProducts", "DescribeProductView", "ListAcceptedPortfolioShares"),
            "*",
            sid=sid + "Find",
        ),
        allow(
            a(
                "servicecatalog",
                "DescribeProvisionedProduct",
                "DescribeRecord",
                "ListRecordHistory",
                "SearchProvisionedProducts",
                "ScanProvisionedProducts",
                "UpdateProvisionedProduct",
                "TerminateProvisionedProduct",
            ),
            "*",
            sid=sid + "Provisioned",
            condition=own_products,
        ),
    ]
