"""What a role needs to build an environment network, defined once for every role that builds one.

EC2 cannot scope creation by name, so VPC actions are scoped to this account.  Endpoint creation is also
authorized against the endpoint *service*, which AWS (or a partner) owns: that one resource is allowed in
any account, and only for CreateVpcEndpoint.
"""

from __future__ import annotations

from templates_src.blocks import iam as iam_blocks
from templates_src.context import BuildContext

PRIVATE_NETWORK_ACTIONS = (
    "CreateVpc",
    "DeleteVpc",
    "ModifyVpcAttribute",
    "CreateSubnet",
    "DeleteSubnet",
    "ModifySubnetAttribute",
    "CreateRouteTable",
    "DeleteRouteTable",
    "AssociateRouteTable",
    "DisassociateRouteTable",
    "ReplaceRouteTableAssociation",
    "CreateRoute",
    "DeleteRoute",
    "ReplaceRoute",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "CreateVpcEndpoint",
    "DeleteVpcEndpoints",
    "ModifyVpcEndpoint",
    "CreateDhcpOptions",
    "DeleteDhcpOptions",
    "AssociateDhcpOptions",
    "CreateTags",
    "DeleteTags",
)
# Public subnets with NAT gateways (the development account's network; target accounts have none).
INTERNET_ACTIONS = (
    "CreateInternetGateway",
    "DeleteInternetGateway",
    "AttachInternetGateway",
    "DetachInternetGateway",
    "AllocateAddress",
    "ReleaseAddress",
    "AssociateAddress",
    "DisassociateAddress",
    "CreateNatGateway",
    "DeleteNatGateway",
)
FLOW_LOG_ACTIONS = ("CreateFlowLogs", "DeleteFlowLogs")


def network_statements(
    ctx: BuildContext,
    region: str,
    *,
    internet: bool,
    flow_logs: bool,
    extra: tuple[str, ...] = (),
    sid: str = "Network",
) -> list:
    a, allow = iam_blocks.actions, iam_blocks.allow
    ec2 = (
        PRIVATE_NETWORK_ACTIONS
        + (INTERNET_ACTIONS if internet else ())
        + (FLOW_LOG_ACTIONS if flow_logs else ())
        + extra
    )
    flow_log_tags = [allow(a("autoscaling", "DescribeTags"), "*", sid="FlowLogSourceTags")] if flow_logs else []
    return flow_log_tags + [
        allow(a("ec2", *ec2), ctx.arn("ec2", "*", region=region), sid=sid),
        allow(
            a("ec2", "CreateVpcEndpoint"),
            ctx.arn("ec2", "vpc-endpoint-service/*", region=region, account="*"),
            sid=sid + "EndpointServices",
        ),
        # Describe calls have no resource-level permissions in EC2.
        allow(a("ec2", "Describe*"), "*", sid="DescribeNetwork"),
    ]
