"""env-iam-setup-stackset-role: the StackSet execution role deployed by hand in every target account.

The environment's self-managed StackSets (target-account roles and network) run as this role, and only
the environment's StackSet administration role may assume it.  It may create only the roles those
StackSets define (found by name marker, role path and prefix), each with the target-account permissions
boundary (the configured boundary, or the one this template creates), never attach managed policies to
them, never remove a boundary; plus the private network and the environment's SSM parameters.
"""

from __future__ import annotations

from awacs.aws import Condition, StringEquals
from troposphere import Equals, If, Output, Ref, Sub, Template, iam

from templates_src import naming
from templates_src.blocks import environment, network, policies, stacksets
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "env-iam-setup-stackset-role"
DESCRIPTION = "Creates the StackSet execution role in a target account (staging, prod) for the environment's StackSets"

SETUP_ROLE_NAME = params.role_name_param(
    "StackSetExecutionRoleName",
    "Name of the role to create; pass the same name to the environment as SetupStackSetExecutionRoleName. "
    "Leave empty to generate <EnvName>-<EnvType>-stackset-setup",
    "Role name",
)
GENERATE_NAME = "GenerateStackSetExecutionRoleName"
SETUP_ROLE_ID = "SetupStackSetExecutionRole"  # logical id (the proofs in templates_src/checks find it by it)


def target_role_resources(ctx: BuildContext) -> list[Sub]:
    """The roles the target-account StackSets may create: the two marked role kinds and the network's flow logs
    role, under the platform path."""
    base = ctx.role_path_pattern()
    return [
        Sub(f"{base}*{marker}*")
        for marker in (naming.MODEL_EXECUTION_ROLE_MARKER, naming.STACKSET_EXECUTION_ROLE_MARKER)
    ] + [Sub(f"{base}${{EnvName}}-*-{environment.FLOW_LOGS}")]


def guardrails_policy_arn(ctx: BuildContext) -> Sub:
    """The model deployments' guardrails policy the network template creates (env-target-account-network)."""
    return ctx.policy_arn(ctx.config.prefix + "${EnvName}-*-endpoint-guardrails")


def boundary_arn(ctx: BuildContext):
    """The boundary every target-account role must carry: the configured one, else this template's own."""
    return ctx.permissions_boundary if ctx.permissions_boundary is not None else stacksets.target_boundary_arn(ctx)


def setup_policy(ctx: BuildContext):
    return iam_blocks.inline(
        "stackset-setup",
        *stacksets.stack_instance_statements(ctx),
        *iam_blocks.role_admin_statements(
            ctx,
            target_role_resources(ctx),
            sid="TargetAccountRoles",
            boundary=boundary_arn(ctx),
            attachable=[guardrails_policy_arn(ctx)],
        ),
        # The network's guardrails of the model deployments (a policy it creates and attaches to their role).
        iam_blocks.allow(
            iam_blocks.actions(
                "iam",
                "CreatePolicy",
                "DeletePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "GetPolicy",
                "GetPolicyVersion",
                "ListPolicyVersions",
                "ListEntitiesForPolicy",
                "TagPolicy",
                "UntagPolicy",
            ),
            guardrails_policy_arn(ctx),
            sid="ModelDeploymentGuardrails",
        ),
        # The flow logs role of the network, handed to the flow logs service only.
        iam_blocks.allow(
            iam_blocks.actions("iam", "PassRole"),
            target_role_resources(ctx)[-1],
            sid="PassFlowLogsRole",
            condition=Condition(StringEquals({"iam:PassedToService": "vpc-flow-logs.amazonaws.com"})),
        ),
        # The target-account network: private subnets and endpoints only (no NAT, no internet gateway), and
        # its flow logs into a log group of the environment.
        *network.network_statements(ctx, "*", internet=False, flow_logs=True, sid="TargetAccountNetwork"),
        iam_blocks.allow(
            iam_blocks.actions(
                "logs",
                *policies.LOG_GROUP_ADMIN_ACTIONS,
            ),
            ctx.arn("logs", "log-group:/vpcflowlogs/*", region="*"),
            sid="FlowLogGroups",
        ),
        iam_blocks.allow(iam_blocks.actions("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
        iam_blocks.allow(
            iam_blocks.actions(
                "ssm",
                *policies.PARAMETER_ADMIN_ACTIONS,
            ),
            ctx.arn("ssm", "parameter/${EnvName}-*", region="*"),
            sid="EnvironmentParameters",
        ),
    )


def target_boundary(ctx: BuildContext) -> iam.ManagedPolicy:
    return iam.ManagedPolicy(
        "TargetAccountBoundary",
        ManagedPolicyName=ctx.namer.name("policy", stacksets.TARGET_BOUNDARY, params.ENVIRONMENT).sub(),
        Path=ctx.config.role_path,
        Description="Permissions boundary of the roles the environment's StackSets create in this account",
        PolicyDocument=iam_blocks.document(*stacksets.target_boundary_statements(ctx)),
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [params.ENV_NAME, params.ENV_TYPE, SETUP_ROLE_NAME, params.ADMINISTRATOR_ACCOUNT_ID]
    params.add(t, *specs)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            ("StackSet execution role", [SETUP_ROLE_NAME, params.ADMINISTRATOR_ACCOUNT_ID]),
        ],
    )
    t.add_condition(GENERATE_NAME, Equals(Ref(SETUP_ROLE_NAME.name), ""))

    generated = ctx.namer.name("role", "${EnvName}-${EnvType}-stackset-setup", params.ENVIRONMENT)
    if ctx.permissions_boundary is None:
        t.add_resource(target_boundary(ctx))
    role = t.add_resource(
        iam_blocks.role(
            ctx,
            SETUP_ROLE_ID,
            description="Runs the environment's self-managed StackSets in this account",
            name=If(GENERATE_NAME, generated.sub(), Ref(SETUP_ROLE_NAME.name)),
            assume=stacksets.administration_role_trust(ctx),
            policies=[setup_policy(ctx)],
        )
    )
    t.add_output(
        [
            Output(
                "StackSetExecutionRoleArn",
                Description="ARN of the StackSet execution role",
                Value=iam_blocks.role_arn(role),
            ),
            Output(
                "StackSetExecutionRoleName",
                Description="Name of the StackSet execution role (the environment's SetupStackSetExecutionRoleName)",
                Value=Ref(role),
            ),
            Output(
                "PermissionsBoundaryArn",
                Description="Permissions boundary the roles of the environment's StackSets must carry in this account",
                Value=boundary_arn(ctx),
            ),
        ]
    )
    return t
