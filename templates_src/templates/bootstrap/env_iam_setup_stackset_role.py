"""env-iam-setup-stackset-role: the StackSet execution role deployed by hand in every target account.

The environment's two self-managed StackSets (target-account roles and VPC) run as this role.  It may
create only the roles those StackSets define (found by name marker, role path and prefix), the VPC
resources of the target-account network, and the environment's SSM parameters.
"""

from __future__ import annotations

from troposphere import Equals, If, Output, Ref, Sub, Template

from templates_src import naming
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import network
from templates_src.blocks import parameters as params
from templates_src.blocks import stacksets
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

def target_role_resources(ctx: BuildContext) -> list[Sub]:
    """The roles the target-account StackSet may create: the two marked role kinds, under the platform path."""
    base = ctx.role_path_pattern()
    return [Sub(f"{base}*{marker}*") for marker in
            (naming.MODEL_EXECUTION_ROLE_MARKER, naming.STACKSET_EXECUTION_ROLE_MARKER)]


def setup_policy(ctx: BuildContext):
    return iam_blocks.inline(
        "stackset-setup",
        *stacksets.stack_instance_statements(ctx),
        *iam_blocks.role_admin_statements(ctx, target_role_resources(ctx), sid="TargetAccountRoles"),
        # The target-account network: private subnets and endpoints only (no NAT, no internet gateway).
        *network.network_statements(ctx, "*", internet=False, flow_logs=False, sid="TargetAccountNetwork"),
        iam_blocks.allow(
            iam_blocks.actions("ssm", "PutParameter", "DeleteParameter", "GetParameter", "GetParameters",
                               "AddTagsToResource", "RemoveTagsFromResource", "ListTagsForResource"),
            ctx.arn("ssm", "parameter/${EnvName}-*", region="*"),
            sid="EnvironmentParameters",
        ),
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [params.ENV_NAME, params.ENV_TYPE, SETUP_ROLE_NAME, params.ADMINISTRATOR_ACCOUNT_ID]
    params.add(t, *specs)
    params.interface(t, [("Environment", [params.ENV_NAME, params.ENV_TYPE]),
                         ("StackSet execution role", [SETUP_ROLE_NAME, params.ADMINISTRATOR_ACCOUNT_ID])])
    t.add_condition(GENERATE_NAME, Equals(Ref(SETUP_ROLE_NAME.name), ""))

    generated = ctx.namer.name("role", "${EnvName}-${EnvType}-stackset-setup",
                               {p.name: p for p in (params.ENV_NAME, params.ENV_TYPE)})
    role = t.add_resource(iam_blocks.role(
        ctx,
        "SetupStackSetExecutionRole",
        description="Runs the environment's self-managed StackSets in this account",
        name=If(GENERATE_NAME, generated.sub(), Ref(SETUP_ROLE_NAME.name)),
        assume=stacksets.admin_account_trust(ctx),
        policies=[setup_policy(ctx)],
    ))
    t.add_output([
        Output("StackSetExecutionRoleArn", Description="ARN of the StackSet execution role",
               Value=iam_blocks.role_arn(role)),
        Output("StackSetExecutionRoleName",
               Description="Name of the StackSet execution role (the environment's SetupStackSetExecutionRoleName)",
               Value=Ref(role)),
    ])
    return t
