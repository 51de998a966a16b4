"""What the self-managed StackSets of an environment need in a target account, defined once.

Each target-account execution role trusts one administration role of the environment (never the whole
administrator account): the setup role (env-iam-setup-stackset-role) its StackSet administration role, which
runs the environment's own StackSets; the model deployment StackSet execution role (env-iam-target-account-roles)
its model deployment administration role, which runs the projects' endpoint StackSets.  So model deployment
can never run as the setup role.  Both execution roles run CloudFormation stack instances.  The roles the
StackSets create are found by name marker, role path and prefix (``templates_src.naming``) and are held
below the target-account permissions boundary, so the setup role cannot make a role more powerful than
what model deployment needs.
"""

from __future__ import annotations

from awacs.aws import ArnLike, Condition, Principal, StringEquals, StringLike, StringNotEquals
from troposphere import Ref, Sub

from templates_src import naming
from templates_src.blocks import environment, policies
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks.parameters import ADMINISTRATOR_ACCOUNT_ID
from templates_src.context import BuildContext

ADMIN = "${%s}" % ADMINISTRATOR_ACCOUNT_ID.name
# The administration roles of the environment (any stage) in the administrator account: its own StackSets are
# administered by <prefix><EnvName>-<stage>-stackset-admin there, its projects' model deployments by
# <prefix><EnvName>-<stage>-deploy-admin.
ADMINISTRATION_ROLES = "${EnvName}-*-" + naming.STACKSET_ADMINISTRATION_ROLE_MARKER
DEPLOYMENT_ADMINISTRATION_ROLES = "${EnvName}-*-" + naming.DEPLOYMENT_ADMINISTRATION_ROLE_MARKER


def administration_role_arn(ctx: BuildContext, account: str = ADMIN, name: str = ADMINISTRATION_ROLES) -> Sub:
    return ctx.role_arn(ctx.config.prefix + name, account=account)


def administration_role_trust(ctx: BuildContext, name: str = ADMINISTRATION_ROLES):
    """Trust one administration role of the environment in the administrator account (``name``: the set-up
    one, or the model deployment one), nobody else.

    The principal is the administrator account with a condition on the caller's role ARN rather than the
    role ARN itself: IAM rejects a trust policy naming a role that does not exist yet, and the environment
    creates its administration roles after its target accounts were prepared.
    """
    return iam_blocks.trust(
        iam_blocks.trust_statement(
            Principal("AWS", ctx.root_arn(account=ADMIN)),
            condition=Condition(ArnLike({"aws:PrincipalArn": administration_role_arn(ctx, name=name)})),
            sid="StackSetAdministrationRole",
        )
    )


def stack_instance_statements(ctx: BuildContext) -> list:
    """Run the stack instances of self-managed StackSets (named StackSet-<stack set>-<id>) in this account."""
    return [
        *policies.stacks(ctx, ["StackSet-*"], region="*", sid="StackSetInstances"),
        # AWS lists S3 in an execution role's minimum for StackSets' templates, which never sit in this
        # account: reads are limited to other accounts' buckets (which must grant them too), so the role can
        # read nothing stored in this account.
        iam_blocks.allow(
            iam_blocks.actions("s3", "GetObject"),
            ctx.bucket_arn("*", "*"),
            sid="StackSetTemplates",
            condition=Condition(StringNotEquals({"s3:ResourceAccount": Ref("AWS::AccountId")})),
        ),
    ]


def admin_account_id() -> Ref:
    return Ref(ADMINISTRATOR_ACCOUNT_ID.name)


# -- the target-account boundary ----------------------------------------------------------------------------
TARGET_BOUNDARY = "${EnvName}-${EnvType}-target-account-boundary"  # managed policy name (with the prefix)


def target_boundary_arn(ctx: BuildContext) -> Sub:
    return ctx.policy_arn(ctx.config.prefix + TARGET_BOUNDARY)


def target_boundary_statements(ctx: BuildContext) -> list:
    """The most any role the environment's StackSets create in a target account may ever do.

    It is the ceiling of the model execution role (endpoints read models from the administrator account's
    bucket and key) and of the model deployment StackSet execution role (endpoint stacks); the roles' own
    policies are narrower (a test proves every statement of theirs lies within it).  It grants no IAM
    write, so a role created under it cannot create or empower others.
    """
    a, allow = iam_blocks.actions, iam_blocks.allow
    admin_models = ctx.bucket_arn(f"${{EnvName}}-*-{ADMIN}-models")
    return [
        allow(
            a(
                "sagemaker",
                "CreateModel",
                "DeleteModel",
                "DescribeModel",
                "CreateEndpointConfig",
                "DeleteEndpointConfig",
                "DescribeEndpointConfig",
                "CreateEndpoint",
                "DeleteEndpoint",
                "DescribeEndpoint",
                "UpdateEndpoint",
                "UpdateEndpointWeightsAndCapacities",
                "InvokeEndpoint",
                "AddTags",
                "DeleteTags",
                "ListTags",
            ),
            [ctx.own("sagemaker", f"{kind}/*") for kind in ("endpoint", "endpoint-config", "model")],
            sid="Endpoints",
        ),
        allow(
            a("sagemaker", "DescribeModelPackage"),
            ctx.arn("sagemaker", "model-package/*", region="*", account=ADMIN),
            sid="SourceModelPackages",
        ),
        *stack_instance_statements(ctx),
        allow(
            a("s3", "GetObject", "ListBucket"),
            [admin_models, ctx.bucket_arn(f"${{EnvName}}-*-{ADMIN}-models", "*")],
            sid="ModelArtifacts",
        ),
        # The endpoints' data capture, under the development model bucket's capture prefix.
        allow(
            a("s3", "PutObject"),
            ctx.bucket_arn(f"${{EnvName}}-*-{ADMIN}-models", environment.DATA_CAPTURE_PREFIX + "*"),
            sid="DataCapture",
        ),
        allow(
            a("kms", "Decrypt", "DescribeKey", "CreateGrant", "GenerateDataKey"),
            [ctx.arn("kms", "key/*", region="*", account=ADMIN), ctx.own("kms", "key/*")],
            sid="Keys",
        ),
        allow(
            a(
                "ec2",
                *policies.SAGEMAKER_INTERFACE_ACTIONS,
            ),
            ctx.own("ec2", "*"),
            sid="NetworkInterfaces",
        ),
        allow(
            a(
                "ec2",
                *policies.SAGEMAKER_NETWORK_DESCRIBE_ACTIONS,
            ),
            "*",
            sid="DescribeNetwork",
        ),
        allow(
            a("logs", *policies.SAGEMAKER_LOG_ACTIONS),
            ctx.own("logs", "log-group:/aws/sagemaker/*"),
            sid="EndpointLogs",
        ),
        allow(
            a("cloudwatch", "PutMetricData"),
            "*",
            sid="EndpointMetrics",
            condition=Condition(StringLike({"cloudwatch:namespace": "/aws/sagemaker/*"})),
        ),
        allow(
            a("ssm", *policies.PARAMETER_READ_ACTIONS),
            ctx.own("ssm", "parameter/${EnvName}-*"),
            sid="EnvironmentParameters",
        ),
        # The network's flow logs role writes the flow log group.
        allow(
            a("logs", *policies.FLOW_LOG_STREAM_ACTIONS),
            ctx.own("logs", "log-group:/vpcflowlogs/*"),
            sid="FlowLogs",
        ),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        allow(
            a("iam", "PassRole"),
            Sub(ctx.role_path_pattern() + f"*{naming.MODEL_EXECUTION_ROLE_MARKER}*"),
            sid="PassModelRole",
            condition=Condition(StringEquals({"iam:PassedToService": "sagemaker.amazonaws.com"})),
        ),
    ]
