"""env-vpc: the environment's private network, everything the VPC-only Studio domain needs and nothing slow.

A new VPC (or an existing one), private subnets in 2 to 4 Availability Zones (or existing ones), one route
table per private subnet, the security groups of SageMaker and of the VPC endpoints, and VPC flow logs.  The
VPC endpoints and the optional NAT gateways take longer to create and are in env-vpc-egress: a nested stack's
outputs exist only when all of its resources are complete, and the Studio domain needs none of them to be
created.

Built from the network blocks (templates_src/blocks/vpc.py), which env-target-account-network builds its
network from too.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Template

from templates_src.blocks import parameters as params
from templates_src.blocks import vpc
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

NAME = "env-vpc"
DESCRIPTION = (
    "Creates the environment's private network: VPC (or uses an existing one), private subnets, route "
    "tables, security groups and flow logs"
)

PARAMETERS = (
    params.ENV_NAME,
    params.ENV_TYPE,
    vpc.AVAILABILITY_ZONES,
    vpc.NUMBER_OF_AZS,
    vpc.CREATE_VPC,
    vpc.EXISTING_VPC_ID,
    vpc.VPC_CIDR,
    vpc.CREATE_PRIVATE_SUBNETS,
    vpc.EXISTING_PRIVATE_SUBNET_IDS,
    vpc.EXISTING_PRIVATE_ROUTE_TABLE_IDS,
    *vpc.PRIVATE_SUBNET_CIDRS,
    vpc.CREATE_FLOW_LOGS,
    vpc.FLOW_LOGS_ROLE_ARN,
    vpc.FLOW_LOGS_KMS_KEY,
    vpc.FLOW_LOGS_FORMAT,
    vpc.FLOW_LOGS_RETENTION,
    vpc.FLOW_LOGS_AGGREGATION,
    vpc.FLOW_LOGS_TRAFFIC,
)


def parameters(ctx: BuildContext) -> tuple[ParamSpec, ...]:
    """PARAMETERS as this release declares them (a release that pins the log key fixes the flow log group's key
    and retention: ``vpc.pinned_flow_log_parameters``)."""
    fixed = vpc.pinned_flow_log_parameters(ctx)
    return tuple(fixed.get(spec.name, spec) for spec in PARAMETERS)


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(t, *parameters(ctx))
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            ("VPC", [vpc.AVAILABILITY_ZONES, vpc.NUMBER_OF_AZS, vpc.CREATE_VPC, vpc.EXISTING_VPC_ID, vpc.VPC_CIDR]),
            (
                "Private subnets",
                [
                    vpc.CREATE_PRIVATE_SUBNETS,
                    vpc.EXISTING_PRIVATE_SUBNET_IDS,
                    vpc.EXISTING_PRIVATE_ROUTE_TABLE_IDS,
                    *vpc.PRIVATE_SUBNET_CIDRS,
                ],
            ),
            (
                "VPC flow logs",
                [
                    vpc.CREATE_FLOW_LOGS,
                    vpc.FLOW_LOGS_ROLE_ARN,
                    vpc.FLOW_LOGS_KMS_KEY,
                    vpc.FLOW_LOGS_FORMAT,
                    vpc.FLOW_LOGS_RETENTION,
                    vpc.FLOW_LOGS_AGGREGATION,
                    vpc.FLOW_LOGS_TRAFFIC,
                ],
            ),
        ],
    )
    vpc_id = vpc.new_or_existing_vpc(ctx, t)
    subnets = vpc.private_subnets(ctx, t, vpc_id)
    groups = vpc.security_groups(ctx, t, vpc_id)
    vpc.flow_logs(ctx, t, vpc_id)
    vpc.ssm_parameters(t, vpc_id, subnets, groups)
    t.add_output(
        [
            Output("VPCId", Description="Id of the environment's VPC", Value=vpc_id),
            Output(
                "VPCCIDR",
                Description="IPv4 CIDR block of the new VPC",
                Condition=vpc.NEW_VPC,
                Value=GetAtt("VPC", "CidrBlock"),
            ),
            Output(
                "PrivateSubnetIds",
                Description="Ids of the private subnets, comma-separated, in zone order",
                Value=subnets.subnet_ids,
            ),
            Output(
                "PrivateRouteTableIds",
                Description="Ids of the private subnets' route tables, comma-separated, in the order of the subnets",
                Value=subnets.route_table_ids,
            ),
            Output(
                "SageMakerSecurityGroupIds",
                Description="Security groups of SageMaker apps and jobs (comma-separated)",
                Value=GetAtt(groups.sagemaker, "GroupId"),
            ),
            Output(
                "VPCEndpointsSecurityGroupId",
                Description="Security group of the interface VPC endpoints",
                Value=GetAtt(groups.endpoints, "GroupId"),
            ),
        ]
    )
    return t
