"""Lambda-backed custom resources, wired the same way everywhere.

A function gets its own least-privilege role (logging only to its own log group), an explicit log group
with the configured retention (``templates_src.blocks.log_groups``), the configured runtime, and code that is
either inlined or packaged (see ``templates_src.functions``).  The custom resource depends on the log group so
the first invocation's logs are kept.  With ``functions_in_vpc`` the function runs in the subnets and security
groups pinned at generation time (``function_network``), or else given at deployment (parameters added to the
template that has the function).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Statement
from troposphere import (
    And,
    AWSHelperFn,
    Condition,
    GetAtt,
    If,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudformation,
    iam,
    logs,
)

from templates_src import functions
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import log_groups, policies, scanners
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext
from templates_src.naming import Name
from templates_src.references import LocalPath


@dataclass
class LambdaFunction:
    function: awslambda.Function
    role: iam.Role
    log_group: logs.LogGroup

    @property
    def arn(self) -> GetAtt:
        return GetAtt(self.function, "Arn")


def vpc_network_interfaces() -> Statement:
    """What Lambda needs from a function's role to attach the function to a VPC (its network interfaces).

    The interfaces' ids are not known before Lambda creates them, and EC2 authorizes DescribeNetworkInterfaces
    only on all resources.
    """
    return iam_blocks.allow(
        iam_blocks.actions(
            "ec2",
            "CreateNetworkInterface",
            "DescribeNetworkInterfaces",
            "DeleteNetworkInterface",
            "AssignPrivateIpAddresses",
            "UnassignPrivateIpAddresses",
        ),
        "*",
        sid="VpcNetworkInterfaces",
    )


def vpc_config(ctx: BuildContext, template: Template) -> awslambda.VPCConfig:
    """The functions' network: the pinned ids, or else the deploy-time parameters (added to ``template``)."""
    pinned = ctx.config.function_network
    if pinned:
        return awslambda.VPCConfig(SubnetIds=list(pinned.subnet_ids), SecurityGroupIds=list(pinned.security_group_ids))
    params.require(template, params.FUNCTION_SUBNET_IDS, params.HARDENING_GROUP)
    params.require(template, params.FUNCTION_SECURITY_GROUP_IDS, params.HARDENING_GROUP)
    return awslambda.VPCConfig(
        SubnetIds=Ref(params.FUNCTION_SUBNET_IDS.name), SecurityGroupIds=Ref(params.FUNCTION_SECURITY_GROUP_IDS.name)
    )


def code(module: str) -> awslambda.Code | LocalPath:
    if functions.fits_inline(module):
        return awslambda.Code(ZipFile=functions.inline_source(module))
    # A local path, like nested stack templates: `build` writes the zip, packaging uploads it.
    return LocalPath(functions.asset_path(module))


def lambda_function(
    ctx: BuildContext,
    template: Template,
    title: str,
    *,
    module: str,
    description: str,
    name: Name,
    statements: list[Statement],
    timeout: int = 60,
    memory: int = 128,
    condition: str | None = None,
    role_condition: str | None = None,
    fallback_role_arn: AWSHelperFn | None = None,
    role_name: Name | None = None,
    boundary: AWSHelperFn | None = None,
) -> LambdaFunction:
    """Function + log group + its own least-privilege role.

    With ``role_condition`` the role exists only under that condition (for deployments that must not
    create IAM roles); otherwise the function runs as ``fallback_role_arn``.  With ``condition`` the function
    and its log group exist only under it, and the role under both (condition ``<title>Role``).  ``boundary``:
    the role's permissions boundary where none is configured (an environment's roles carry the platform
    boundary).
    """
    log_group = log_groups.log_group(ctx, template, f"{title}LogGroup", Sub(f"/aws/lambda/{name.pattern}"))
    in_vpc = ctx.config.functions_in_vpc
    log_arn = ctx.arn("logs", f"log-group:/aws/lambda/{name.pattern}:*", region="${AWS::Region}")
    fn_role = iam_blocks.role(
        ctx,
        f"{title}Role",
        description=f"Runs the {title} function",
        # No source-account condition: Lambda cannot be handed a role of another account (PassRole
        # does not cross accounts), so the Lambda service principal alone is not a confused deputy.
        assume=iam_blocks.service_trust("lambda"),
        policies=[
            iam_blocks.inline(
                "function",
                iam_blocks.allow(
                    iam_blocks.actions("logs", *policies.LOG_STREAM_ACTIONS), log_arn, sid="OwnLogGroupOnly"
                ),
                *statements,
                *([vpc_network_interfaces()] if in_vpc else []),
            )
        ],
        boundary=boundary,
    )
    if role_name is not None:  # where the deploying role may create roles by name only (prefix and path)
        fn_role.RoleName = role_name.sub()
    role_arn = GetAtt(fn_role, "Arn")
    if role_condition:
        fn_role.Condition = role_condition
        if condition:
            fn_role.Condition = f"{title}Role"
            template.add_condition(fn_role.Condition, And(Condition(condition), Condition(role_condition)))
        role_arn = If(role_condition, role_arn, fallback_role_arn)
    function = awslambda.Function(
        title,
        FunctionName=name.sub(),
        Description=description,
        Runtime=ctx.config.lambda_runtime,
        Handler="index.lambda_handler",
        Code=code(module),
        Role=role_arn,
        Timeout=timeout,
        MemorySize=memory,
    )
    if in_vpc:
        function.VpcConfig = vpc_config(ctx, template)
        scanners.skip(fn_role, scanners.LAMBDA_VPC_NETWORK_INTERFACES)
    else:
        scanners.skip(function, scanners.FUNCTION_OUTSIDE_VPC)
    scanners.skip(function, scanners.NO_DEAD_LETTER_QUEUE, scanners.NO_RESERVED_CONCURRENCY)
    for resource in (function, log_group) if role_condition else (function, log_group, fn_role):
        if condition:
            resource.Condition = condition
    template.add_resource([fn_role, log_group, function])
    return LambdaFunction(function, fn_role, log_group)


def custom_resource(
    template: Template, title: str, resource_type: str, fn: LambdaFunction, condition: str | None = None, **properties
) -> cloudformation.CustomResource:
    kind = type(resource_type.replace("::", ""), (cloudformation.CustomResource,), {"resource_type": resource_type})
    resource = kind(title, ServiceToken=fn.arn, **properties)
    resource.DependsOn = [fn.log_group.title]
    if condition:
        resource.Condition = condition
    return template.add_resource(resource)
