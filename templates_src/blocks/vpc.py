"""The environment's private network as blocks: VPC, private subnets and their route tables, the security groups
of SageMaker and of the VPC endpoints, VPC flow logs (and the flow logs role's permissions), and the optional
internet access of a development account (public subnets, internet gateway, NAT gateways).

env-vpc builds the environment's network from these, env-vpc-egress adds the NAT gateways, and
env-target-account-network puts a network of the same pieces in one stack, so the three templates build the same
resources the same way.  The VPC endpoints are in templates_src/blocks/endpoints.py, the permissions of the
roles that build networks in templates_src/blocks/network.py.

No DHCP options set: the VPC's default one (AmazonProvidedDNS) is what private DNS of the interface
endpoints needs, and a custom one would only add a resource to keep in sync.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import (
    And,
    AWSHelperFn,
    Condition,
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Or,
    Ref,
    Select,
    Sub,
    Tags,
    Template,
    ec2,
    logs,
    ssm,
)

from templates_src.blocks import environment, log_groups, policies
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ENVIRONMENT, ParamSpec
from templates_src.config import LOG_RETENTION_DAYS
from templates_src.context import BuildContext
from templates_src.naming import Name

ENV = environment.ENV
NO_VALUE = Ref("AWS::NoValue")

# -- parameters -------------------------------------------------------------------------------------------------
AVAILABILITY_ZONES = ParamSpec(
    "AvailabilityZones",
    "Availability Zones of the subnets, in order: subnet 1 in the first, subnet 2 in the second... Give at least "
    "NumberOfAZs zones",
    "Availability Zones",
    type="List<AWS::EC2::AvailabilityZone::Name>",
)
MAX_AZS = 4
NUMBER_OF_AZS = ParamSpec(
    "NumberOfAZs",
    "Number of Availability Zones, one private subnet (and, with NAT gateways, one public subnet and NAT gateway) in "
    "each. Two at least: the Studio domain and the VPC endpoints should survive the loss of one zone",
    "Number of Availability Zones",
    default="2",
    allowed_values=("2", "3", "4"),
    constraint="must be 2, 3 or 4",
)
CREATE_VPC = params.yes_no("CreateVPC", "Create a new VPC (NO: use the existing VPC given below)", "Create VPC")
EXISTING_VPC_ID = ParamSpec(
    "ExistingVPCId",
    "Existing VPC (only when CreateVPC is NO). Its DNS support and DNS hostnames must be enabled "
    "for the private DNS names of the VPC endpoints",
    "Existing VPC id",
    default="",
    allowed_pattern=r"(vpc-[0-9a-f]{8,17})?",
    max_length=21,
    constraint="must be a VPC id (vpc-...), or empty",
)
VPC_CIDR = environment.cidr("VPCCIDR", "IPv4 CIDR block of the new VPC", "VPC CIDR block", "10.0.0.0/16")
CREATE_PRIVATE_SUBNETS = params.yes_no(
    "CreatePrivateSubnets",
    "Create the private subnets and their route tables (NO: use the existing subnets and "
    "route tables given below, in an existing VPC)",
    "Create private subnets",
)
# CloudFormation matches the AllowedPattern of a CommaDelimitedList against each item.
EXISTING_PRIVATE_SUBNET_IDS = ParamSpec(
    "ExistingPrivateSubnetIds",
    "Existing private subnets, comma-separated, one per Availability Zone (only when CreatePrivateSubnets is NO)",
    "Existing private subnet ids",
    type="CommaDelimitedList",
    default="",
    allowed_pattern=r"(subnet-[0-9a-f]{8,17})?",
    constraint="must be comma-separated subnet ids (subnet-...)",
)
EXISTING_PRIVATE_ROUTE_TABLE_IDS = ParamSpec(
    "ExistingPrivateRouteTableIds",
    "Route tables of the existing private subnets, comma-separated (only when "
    "CreatePrivateSubnets is NO); the S3 gateway endpoint is associated with them",
    "Existing route table ids",
    type="CommaDelimitedList",
    default="",
    allowed_pattern=r"(rtb-[0-9a-f]{8,17})?",
    constraint="must be comma-separated route table ids (rtb-...)",
)
PRIVATE_SUBNET_CIDRS = tuple(
    environment.cidr(
        f"PrivateSubnet{i}ACIDR",
        f"IPv4 CIDR block of private subnet {i} (Availability Zone {i}), inside the VPC's block",
        f"Private subnet {i} CIDR block",
        default,
    )
    for i, default in enumerate(("10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19", "10.0.96.0/19"), start=1)
)

CREATE_FLOW_LOGS = params.yes_no(
    "CreateVPCFlowLogsToCloudWatch",
    "Record the VPC's IP traffic (VPC flow logs) in a CloudWatch log group",
    "Create VPC flow logs",
)
FLOW_LOGS_ROLE_ARN = params.role_arn_param(
    "VPCFlowLogsRoleArn",
    "Role the flow logs service (vpc-flow-logs.amazonaws.com) assumes to write the flow "
    "log group (the VPCFlowLogsRoleArn output of env-iam). Required when CreateVPCFlowLogsToCloudWatch is YES",
    "Flow logs role ARN",
)
FLOW_LOGS_KMS_KEY = environment.kms_key_arn_param(
    "VPCFlowLogsCloudWatchKMSKey",
    "KMS key that encrypts the flow log group. Its key policy must allow the "
    "CloudWatch Logs service principal (logs.<region>.amazonaws.com) to use it. Leave empty for the generation "
    "default (CloudWatch Logs' own encryption, or the log key of a hardened release)",
    "Flow logs KMS key ARN",
    required=False,
)
FLOW_LOGS_FORMAT = ParamSpec(
    "VPCFlowLogsLogFormat",
    "Fields of a flow log record, as ${field} separated by single spaces (default: the AWS "
    "default format, which CloudWatch Logs Insights parses without configuration)",
    "Flow log record format",
    default="${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
    "${packets} ${bytes} ${start} ${end} ${action} ${log-status}",
    allowed_pattern=r"(\$\{[a-z0-9-]+\} )*\$\{[a-z0-9-]+\}",
    constraint="must be ${field} names separated by single spaces",
)
# One year by default: flow logs are the evidence of who talked to what, and incidents are often found months
# after they happened (PCI DSS, for example, keeps audit trails for a year).  Every retention CloudWatch Logs
# accepts is allowed, a superset of the reference's list, so its parameter files stay valid.
FLOW_LOGS_RETENTION = ParamSpec(
    "VPCFlowLogsLogGroupRetention",
    "Days CloudWatch Logs keeps the flow log records",
    "Flow log retention (days)",
    type="Number",
    default="365",
    allowed_values=tuple(str(d) for d in LOG_RETENTION_DAYS),
    constraint="must be a retention period CloudWatch Logs supports, e.g. 30, 90, 365 or 731",
)
FLOW_LOGS_AGGREGATION = ParamSpec(
    "VPCFlowLogsMaxAggregationInterval",
    "Longest interval, in seconds, over which a flow is aggregated into one record",
    "Flow log aggregation interval (s)",
    type="Number",
    default="600",
    allowed_values=("60", "600"),
    constraint="must be 60 or 600",
)
# ALL, not the reference's REJECT: rejected packets show only what the security groups stopped; an investigation
# of data leaving the environment needs the accepted flows (who sent how many bytes where, through NAT or an
# endpoint).
FLOW_LOGS_TRAFFIC = ParamSpec(
    "VPCFlowLogsTrafficType",
    "Traffic to record: ALL (accepted and rejected), ACCEPT or REJECT",
    "Flow log traffic type",
    default="ALL",
    allowed_values=("ALL", "ACCEPT", "REJECT"),
    constraint="must be ALL, ACCEPT or REJECT",
)

# -- internet access (development account only: target accounts are internet-free) ----------------------------------
CREATE_NAT = params.yes_no(
    "CreateNATGateways",
    "Create an internet gateway, a public subnet and a NAT gateway per Availability Zone for "
    "outbound internet access from the private subnets. NO makes the environment internet-free: AWS services are "
    "reached only through the VPC endpoints. Needs a new VPC and new private subnets",
    "Create NAT gateways",
)
PUBLIC_SUBNET_CIDRS = tuple(
    environment.cidr(
        f"PublicSubnet{i}CIDR",
        f"IPv4 CIDR block of public subnet {i} (NAT gateway of Availability Zone {i}), inside the VPC's block",
        f"Public subnet {i} CIDR block",
        default,
    )
    for i, default in enumerate(("10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20", "10.0.176.0/20"), start=1)
)


def pinned_log_key(ctx: BuildContext) -> str | None:
    """The log key a release pins (encrypt_logs with logs_kms_key_arn), else None."""
    return ctx.config.logs_kms_key_arn if ctx.config.encrypt_logs else None


def pinned_flow_log_parameters(ctx: BuildContext) -> dict[str, ParamSpec]:
    """The flow log group's parameters as a release that pins the log key declares them (name -> spec; empty
    otherwise).  Such a release fixes the flow log group's key and retention too (the configuration's), so that
    the template as written says them: scanners that read files as written (AWS Control Tower's
    CT.CLOUDWATCH.PR.2 and PR.3 through cfn-guard) see literal values.  The two parameters stay, for the
    reference's parameter files, and accept only the release's values."""
    key = pinned_log_key(ctx)
    if not key:
        return {}
    days = str(ctx.config.log_retention_days)
    return {
        FLOW_LOGS_RETENTION.name: FLOW_LOGS_RETENTION.with_(
            description=f"Days CloudWatch Logs keeps the flow log records: {days}, fixed by this release",
            default=days,
            allowed_values=(days,),
            constraint=f"must be {days}: this release fixes the retention",
        ),
        FLOW_LOGS_KMS_KEY.name: FLOW_LOGS_KMS_KEY.with_(
            description="KMS key of the flow log group: this release's log key (empty or that key)",
            allowed_pattern=None,
            allowed_values=("", key),
            constraint="must be empty or the release's log key: this release fixes the key",
        ),
    }


# -- conditions -------------------------------------------------------------------------------------------------
NEW_VPC = "NewVPCCondition"
EXISTING_VPC = "ExistingVPCCondition"
NEW_SUBNETS = "PrivateSubnetsCondition"
FLOW_LOGS = "VPCFlowLogsCondition"
FLOW_LOGS_KEY_GIVEN = "VPCFlowLogsKMSKeyCondition"
AZ_CONDITIONS = {2: "ThreeAZsCondition", 3: "FourAZsCondition"}  # zone index (from 0) -> "at least that many"
NAT = "NATGatewaysCondition"

# -- ports (SageMaker's documentation for VPC-only Studio) -------------------------------------------------------
HTTPS = 443
NFS = 2049  # the domain's home file system (Amazon EFS)
APP_PORTS = (8192, 65535)  # Studio apps talking to each other, distributed training and processing


def flow_logs_log_group_name(ctx: BuildContext) -> Name:
    """Name of the flow log group (env-iam scopes the flow logs role to it)."""
    # The configured prefix goes in front of the environment, not in front of the path.
    return ctx.namer.name("log-group", f"/vpcflowlogs/{ctx.config.prefix}{ENV}", ENVIRONMENT, prefixed=False)


# -- zones ------------------------------------------------------------------------------------------------------
def az_conditions(t: Template, number_of_azs: ParamSpec = NUMBER_OF_AZS) -> None:
    """ThreeAZsCondition and FourAZsCondition (from NumberOfAZs), once per template: "at least 3 (4) zones",
    for the zone counts ``number_of_azs`` allows (a template of at most 3 zones gets ThreeAZsCondition only)."""
    if AZ_CONDITIONS[2] in t.conditions:
        return
    zones = Ref(number_of_azs.name)
    most = max(int(v) for v in number_of_azs.allowed_values)
    for index in range(2, most):
        counts = [Equals(zones, str(n)) for n in range(index + 1, most + 1)]
        t.add_condition(AZ_CONDITIONS[index], Or(*counts) if len(counts) > 1 else counts[0])


def az_condition(t: Template, base: str | None, index: int) -> str | None:
    """Condition for the resource of zone ``index`` (from 0) that exists when ``base`` holds: ``base`` itself for
    the first two zones, which always exist, else ``base`` and enough zones (added to ``t`` once).  With no
    ``base`` (the resource always exists): none for the first two zones, else the zone's own condition."""
    if index < 2:
        return base
    if base is None:
        return AZ_CONDITIONS[index]
    name = base.replace("Condition", f"AZ{index + 1}Condition")
    if name not in t.conditions:
        t.add_condition(name, And(Condition(base), Condition(AZ_CONDITIONS[index])))
    return name


def per_az(values: list, combine=list) -> AWSHelperFn | list:
    """``combine`` of the zones' values, as many as there are zones (``values`` has one per zone the template
    allows, 2 to 4).  Nested conditions rather than AWS::NoValue items in the list, so the value does not depend
    on how a function treats removed items."""
    result = combine(values[:2])
    for count in range(3, len(values) + 1):
        result = If(AZ_CONDITIONS[count - 1], combine(values[:count]), result)
    return result


def join_per_az(values: list) -> If:
    """The zones' values comma-joined, as many as there are zones."""
    return per_az(values, lambda items: Join(",", items))


def zone(index: int) -> Select:
    """The Availability Zone of subnet ``index`` (from 0): an integer index, as Fn::Select requires."""
    return Select(index, Ref(AVAILABILITY_ZONES.name))


def name_tag(suffix: str) -> Tags:
    return Tags(Name=Sub(f"{ENV}-{suffix}"))


# -- the network --------------------------------------------------------------------------------------------------
def new_or_existing_vpc(ctx: BuildContext, t: Template) -> AWSHelperFn:
    """The new VPC, or the existing one: returns the VPC id."""
    # The rule refuses CreateVPC NO without an id; saying so in the conditions too lets cfn-lint see that an
    # existing VPC id is never empty where it is used.
    t.add_condition(EXISTING_VPC, And(Equals(Ref(CREATE_VPC.name), "NO"), Not(Equals(Ref(EXISTING_VPC_ID.name), ""))))
    t.add_condition(NEW_VPC, Not(Condition(EXISTING_VPC)))
    t.add_rule(
        "VPC",
        {
            "RuleCondition": Equals(Ref(CREATE_VPC.name), "NO"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(EXISTING_VPC_ID.name), "")),
                    "AssertDescription": "ExistingVPCId is required when CreateVPC is NO",
                }
            ],
        },
    )
    new_vpc(t, NEW_VPC)
    return If(NEW_VPC, Ref("VPC"), Ref(EXISTING_VPC_ID.name))


def new_vpc(t: Template, condition: str | None = None) -> ec2.VPC:
    """The new VPC (CIDR block VPCCIDR), when ``condition`` holds (None: always)."""
    only_if = {"Condition": condition} if condition else {}
    return t.add_resource(
        ec2.VPC(
            "VPC",
            **only_if,
            CidrBlock=Ref(VPC_CIDR.name),
            # Both are needed for the private DNS names of interface endpoints.
            EnableDnsSupport=True,
            EnableDnsHostnames=True,
            Tags=name_tag("vpc"),
        )
    )


@dataclass(frozen=True)
class PrivateSubnets:
    """The private subnets and their route tables, each as a comma-joined list in zone order."""

    subnet_ids: AWSHelperFn
    route_table_ids: AWSHelperFn


def private_subnets(ctx: BuildContext, t: Template, vpc_id: AWSHelperFn) -> PrivateSubnets:
    """New private subnets with a route table each (so that env-vpc-egress can route each zone to its own NAT
    gateway), or the existing subnets and route tables, passed through."""
    az_conditions(t)
    t.add_condition(NEW_SUBNETS, Equals(Ref(CREATE_PRIVATE_SUBNETS.name), "YES"))
    t.add_rule(
        "PrivateSubnets",
        {
            "RuleCondition": Equals(Ref(CREATE_PRIVATE_SUBNETS.name), "NO"),
            "Assertions": [
                {
                    "Assert": Equals(Ref(CREATE_VPC.name), "NO"),
                    "AssertDescription": "Existing private subnets (CreatePrivateSubnets NO) need an existing VPC "
                    "(CreateVPC NO)",
                },
                {
                    "Assert": Not({"Fn::Contains": [Ref(EXISTING_PRIVATE_SUBNET_IDS.name), ""]}),
                    "AssertDescription": "ExistingPrivateSubnetIds is required (comma-separated, no empty item) when "
                    "CreatePrivateSubnets is NO",
                },
                {
                    "Assert": Not({"Fn::Contains": [Ref(EXISTING_PRIVATE_ROUTE_TABLE_IDS.name), ""]}),
                    "AssertDescription": "ExistingPrivateRouteTableIds is required (comma-separated, no empty item) "
                    "when "
                    "CreatePrivateSubnets is NO",
                },
            ],
        },
    )
    subnets, tables = new_private_subnets(t, vpc_id, PRIVATE_SUBNET_CIDRS, NEW_SUBNETS, zone)
    return PrivateSubnets(
        subnet_ids=If(NEW_SUBNETS, join_per_az(subnets), Join(",", Ref(EXISTING_PRIVATE_SUBNET_IDS.name))),
        route_table_ids=If(NEW_SUBNETS, join_per_az(tables), Join(",", Ref(EXISTING_PRIVATE_ROUTE_TABLE_IDS.name))),
    )


def new_private_subnets(
    t: Template, vpc_id: AWSHelperFn, cidrs, condition: str | None, zone_of=zone
) -> tuple[list[Ref], list[Ref]]:
    """A private subnet per CIDR parameter (zone i: ``zone_of(i)``) with a route table of its own: subnets and
    route tables, in zone order.  They exist when ``condition`` holds (None: always), zones 3 and 4 only with
    enough zones (``az_conditions`` first)."""
    subnets, tables = [], []
    for i, cidr in enumerate(cidrs):
        n = i + 1
        zone_condition = az_condition(t, condition, i)
        only_if = {"Condition": zone_condition} if zone_condition else {}
        subnet = t.add_resource(
            ec2.Subnet(
                f"PrivateSubnet{n}A",
                **only_if,
                VpcId=vpc_id,
                CidrBlock=Ref(cidr.name),
                AvailabilityZone=zone_of(i),
                MapPublicIpOnLaunch=False,
                Tags=name_tag(f"private-subnet-{n}"),
            )
        )
        # One route table per subnet: env-vpc-egress routes each zone to the NAT gateway in the same zone.
        table = t.add_resource(
            ec2.RouteTable(
                f"PrivateSubnet{n}ARouteTable", **only_if, VpcId=vpc_id, Tags=name_tag(f"private-route-table-{n}")
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PrivateSubnet{n}ARouteTableAssociation", **only_if, SubnetId=Ref(subnet), RouteTableId=Ref(table)
            )
        )
        subnets.append(Ref(subnet))
        tables.append(Ref(table))
    return subnets, tables


@dataclass(frozen=True)
class SecurityGroups:
    sagemaker: ec2.SecurityGroup
    endpoints: ec2.SecurityGroup


def _rule(kind, title: str, group, ports: tuple[int, int], description: str, **peer):
    return kind(
        title,
        GroupId=GetAtt(group, "GroupId"),
        IpProtocol="tcp",
        FromPort=ports[0],
        ToPort=ports[1],
        Description=description,
        **peer,
    )


def security_groups(ctx: BuildContext, t: Template, vpc_id: AWSHelperFn) -> SecurityGroups:
    """The SageMaker security group (Studio apps and SageMaker jobs) and the VPC endpoints' security group, with
    exactly the traffic VPC-only Studio needs.

    Rules that name a group are resources of their own: inline, a self-reference would be a circular
    dependency.  Each group keeps one inline egress rule, so EC2 never adds its allow-all egress rule;
    CloudFormation changes inline rules by difference with the previous template, which leaves the standalone
    rules in place.  Traffic to the Amazon-provided DNS server is not subject to security groups, so no DNS rule.
    """
    sagemaker = sagemaker_security_group(
        t,
        vpc_id,
        "SageMaker Studio apps and jobs: NFS to the home file system, app-to-app traffic within this group, HTTPS out",
        "HTTPS to the VPC endpoints, S3 and, with NAT gateways, the internet",
    )
    studio_rules(t, sagemaker)
    endpoints = endpoints_security_group(t, vpc_id, sagemaker, "HTTPS from SageMaker Studio apps and jobs")
    return SecurityGroups(sagemaker, endpoints)


def sagemaker_security_group(
    t: Template, vpc_id: AWSHelperFn, description: str, egress_description: str
) -> ec2.SecurityGroup:
    """The SageMaker security group: HTTPS out, nothing in (rules are added by ``studio_rules``)."""
    return t.add_resource(
        ec2.SecurityGroup(
            "SageMakerSecurityGroup",
            GroupDescription=description,
            VpcId=vpc_id,
            # HTTPS to anywhere: it reaches the interface endpoints (addresses in the VPC's CIDR blocks, which an
            # existing VPC may have several of), the S3 gateway endpoint (S3's public addresses: its prefix list id
            # differs per region and CloudFormation cannot look it up) and, with NAT gateways, the internet (package
            # repositories).  No narrower destination covers all three; what leaves the VPC is limited by the routes
            # (none to the internet without NAT) and by the endpoint policies.  Giving an egress rule removes the
            # allow-all rule EC2 adds to a new group.
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="tcp", FromPort=HTTPS, ToPort=HTTPS, CidrIp="0.0.0.0/0", Description=egress_description
                )
            ],
            Tags=name_tag("sagemaker"),
        )
    )


def studio_rules(t: Template, sagemaker: ec2.SecurityGroup) -> None:
    """What Studio and distributed jobs add to the SageMaker group: NFS and app-to-app traffic within it."""
    self_ = {"SourceSecurityGroupId": GetAtt(sagemaker, "GroupId")}
    to_self = {"DestinationSecurityGroupId": GetAtt(sagemaker, "GroupId")}
    t.add_resource(
        [
            _rule(
                ec2.SecurityGroupIngress,
                "SageMakerSecurityGroupNFSIngress",
                sagemaker,
                (NFS, NFS),
                "NFS from Studio apps of this group (home file system)",
                **self_,
            ),
            _rule(
                ec2.SecurityGroupIngress,
                "SageMakerSecurityGroupAppIngress",
                sagemaker,
                APP_PORTS,
                "Studio app-to-app and distributed job traffic within this group",
                **self_,
            ),
            _rule(
                ec2.SecurityGroupEgress,
                "SageMakerSecurityGroupNFSEgress",
                sagemaker,
                (NFS, NFS),
                "NFS to the home file system within this group",
                **to_self,
            ),
            _rule(
                ec2.SecurityGroupEgress,
                "SageMakerSecurityGroupAppEgress",
                sagemaker,
                APP_PORTS,
                "Studio app-to-app and distributed job traffic within this group",
                **to_self,
            ),
        ]
    )


def endpoints_security_group(
    t: Template, vpc_id: AWSHelperFn, sagemaker: ec2.SecurityGroup, ingress_description: str
) -> ec2.SecurityGroup:
    """The interface endpoints' security group: HTTPS from the SageMaker group only, nothing out."""
    endpoints = t.add_resource(
        ec2.SecurityGroup(
            "VPCEndpointsSecurityGroup",
            GroupDescription="Interface VPC endpoints: HTTPS from the SageMaker security group only, no outbound",
            VpcId=vpc_id,
            # An endpoint only answers connections (answers pass a security group without a rule); it opens none.
            # Without an egress rule EC2 would add allow-all, so the group gets one that matches nothing anybody
            # sends: ICMP to the loopback address, which never leaves a host.
            SecurityGroupEgress=[
                ec2.SecurityGroupRule(
                    IpProtocol="icmp",
                    FromPort=-1,
                    ToPort=-1,
                    CidrIp="127.0.0.1/32",
                    Description="No outbound traffic (replaces the allow-all rule EC2 adds to a group without egress "
                    "rules)",
                )
            ],
            Tags=name_tag("vpc-endpoints"),
        )
    )
    t.add_resource(
        _rule(
            ec2.SecurityGroupIngress,
            "VPCEndpointsSecurityGroupHTTPSIngress",
            endpoints,
            (HTTPS, HTTPS),
            ingress_description,
            SourceSecurityGroupId=GetAtt(sagemaker, "GroupId"),
        )
    )
    return endpoints


def flow_logs(ctx: BuildContext, t: Template, vpc_id: AWSHelperFn) -> None:
    """Flow logs of the VPC (new or existing) into an encrypted-when-asked log group of the environment."""
    t.add_condition(FLOW_LOGS, Equals(Ref(CREATE_FLOW_LOGS.name), "YES"))
    t.add_rule(
        "VPCFlowLogs",
        {
            "RuleCondition": Equals(Ref(CREATE_FLOW_LOGS.name), "YES"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(FLOW_LOGS_ROLE_ARN.name), "")),
                    "AssertDescription": "VPCFlowLogsRoleArn is required when CreateVPCFlowLogsToCloudWatch "
                    "is YES: the flow logs service writes the log group with that role",
                }
            ],
        },
    )
    # The project's log group with this template's retention, and the key given for the flow logs in front of
    # the default; a release that pins the log key writes both as literals (``pinned_flow_log_parameters``).
    group = flow_log_group(ctx, t, FLOW_LOGS)
    key = pinned_log_key(ctx)
    if key:  # the parameters accept only the release's values; say so where they are checked
        t.add_rule(
            "PinnedFlowLogGroup",
            {
                "Assertions": [
                    {
                        "Assert": Or(Equals(Ref(FLOW_LOGS_KMS_KEY.name), ""), Equals(Ref(FLOW_LOGS_KMS_KEY.name), key)),
                        "AssertDescription": "VPCFlowLogsCloudWatchKMSKey must be empty or this release's log key: "
                        "the release "
                        "fixes the flow log group's key",
                    },
                    {
                        "Assert": Equals(Ref(FLOW_LOGS_RETENTION.name), str(ctx.config.log_retention_days)),
                        "AssertDescription": f"VPCFlowLogsLogGroupRetention must be {ctx.config.log_retention_days}: "
                        f"the "
                        "release fixes the flow log group's retention",
                    },
                ]
            },
        )
    else:
        t.add_condition(FLOW_LOGS_KEY_GIVEN, Not(Equals(Ref(FLOW_LOGS_KMS_KEY.name), "")))
        group.RetentionInDays = Ref(FLOW_LOGS_RETENTION.name)
        default_key = group.properties.get("KmsKeyId", NO_VALUE)
        group.KmsKeyId = If(FLOW_LOGS_KEY_GIVEN, Ref(FLOW_LOGS_KMS_KEY.name), default_key)
    t.add_resource(group)
    t.add_resource(
        flow_log(
            vpc_id,
            group,
            Ref(FLOW_LOGS_ROLE_ARN.name),
            FLOW_LOGS,
            LogFormat=Ref(FLOW_LOGS_FORMAT.name),
            MaxAggregationInterval=Ref(FLOW_LOGS_AGGREGATION.name),
            TrafficType=Ref(FLOW_LOGS_TRAFFIC.name),
        )
    )


def flow_log_group(ctx: BuildContext, t: Template, condition: str) -> logs.LogGroup:
    """The flow log group, not yet added to ``t``: the project's log group (the configuration's key, or
    LogsKmsKeyArn, when logs are encrypted; the configured retention), kept when its stack is deleted or the group
    replaced: flow logs are evidence.  (An environment created again with the same names finds its old group:
    delete it first, or keep the environment's name.)"""
    group = log_groups.log_group(ctx, t, "VPCFlowLogsLogGroup", flow_logs_log_group_name(ctx).sub())
    group.Condition = condition
    group.DeletionPolicy = "Retain"
    group.UpdateReplacePolicy = "Retain"
    return group


def flow_log(vpc_id: AWSHelperFn, group: logs.LogGroup, role_arn: AWSHelperFn, condition: str, **record) -> ec2.FlowLog:
    """The VPC's flow log into ``group``, written as ``role_arn``; ``record``: LogFormat,
    MaxAggregationInterval and TrafficType."""
    return ec2.FlowLog(
        "VPCFlowLogsToCloudWatch",
        Condition=condition,
        ResourceId=vpc_id,
        ResourceType="VPC",
        LogDestinationType="cloud-watch-logs",
        LogGroupName=Ref(group),
        DeliverLogsPermissionArn=role_arn,
        **record,
        Tags=name_tag("flow-logs"),
    )


def flow_logs_role_statements(ctx: BuildContext) -> list:
    """What a flow logs role may do: write the environment's flow log group (env-iam's role, and the role of
    env-target-account-network)."""
    group = flow_logs_log_group_name(ctx).pattern
    a, allow = iam_blocks.actions, iam_blocks.allow
    return [
        allow(
            a("logs", *policies.FLOW_LOG_STREAM_ACTIONS),
            [ctx.own("logs", f"log-group:{group}"), ctx.own("logs", f"log-group:{group}:*")],
            sid="FlowLogGroup",
        ),
        allow(a("logs", "DescribeLogGroups"), "*", sid="DescribeLogGroups"),
    ]


def ssm_parameters(t: Template, vpc_id, subnets: PrivateSubnets, groups: SecurityGroups) -> None:
    """The SSM contract the MLOps projects and their seed code read (values are never empty)."""
    for title, suffix, value, what in (
        ("VPCIdSSM", environment.VPC_ID_SSM, vpc_id, "VPC"),
        (
            "PrivateSubnetIdsSSM",
            environment.PRIVATE_SUBNET_IDS_SSM,
            subnets.subnet_ids,
            "private subnets (comma-separated)",
        ),
        (
            "SageMakerSecurityGroupIdsSSM",
            environment.SECURITY_GROUP_IDS_SSM,
            GetAtt(groups.sagemaker, "GroupId"),
            "security groups of SageMaker apps and jobs (comma-separated)",
        ),
    ):
        t.add_resource(
            ssm.Parameter(
                title,
                Name=environment.ssm_name(suffix),
                Type="String",
                Value=value,
                Description=Sub(f"Environment {ENV}: {what}"),
            )
        )


# -- internet access ----------------------------------------------------------------------------------------------
def nat_gateways(ctx: BuildContext, t: Template, vpc_id, route_table_ids) -> list:
    """Internet gateway, a public subnet and NAT gateway per zone, and in private route table i a default route
    to the NAT gateway of zone i (a zone keeps its internet access when another zone fails).  Only with a new
    VPC and new private subnets (env-main checks that): returns the NAT gateways, zones 3 and 4 conditional."""
    az_conditions(t)
    t.add_condition(NAT, Equals(Ref(CREATE_NAT.name), "YES"))
    gateway = t.add_resource(ec2.InternetGateway("InternetGateway", Condition=NAT, Tags=name_tag("igw")))
    attachment = t.add_resource(
        ec2.VPCGatewayAttachment("VPCGatewayAttachment", Condition=NAT, VpcId=vpc_id, InternetGatewayId=Ref(gateway))
    )
    public_table = t.add_resource(
        ec2.RouteTable("PublicSubnetRouteTable", Condition=NAT, VpcId=vpc_id, Tags=name_tag("public-route-table"))
    )
    t.add_resource(
        ec2.Route(
            "PublicSubnetRoute",
            Condition=NAT,
            DependsOn=attachment.title,
            RouteTableId=Ref(public_table),
            DestinationCidrBlock="0.0.0.0/0",
            GatewayId=Ref(gateway),
        )
    )
    nats = []
    for i, cidr in enumerate(PUBLIC_SUBNET_CIDRS):
        n = i + 1
        condition = az_condition(t, NAT, i)
        subnet = t.add_resource(
            ec2.Subnet(
                f"PublicSubnet{n}",
                Condition=condition,
                VpcId=vpc_id,
                CidrBlock=Ref(cidr.name),
                AvailabilityZone=zone(i),
                # Only the NAT gateway lives here, with its Elastic IP; nothing gets a public address by default.
                MapPublicIpOnLaunch=False,
                Tags=name_tag(f"public-subnet-{n}"),
            )
        )
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"PublicSubnet{n}RouteTableAssociation",
                Condition=condition,
                SubnetId=Ref(subnet),
                RouteTableId=Ref(public_table),
            )
        )
        eip = t.add_resource(
            ec2.EIP(
                f"NAT{n}EIP", Condition=condition, DependsOn=attachment.title, Domain="vpc", Tags=name_tag(f"nat-{n}")
            )
        )
        nat = t.add_resource(
            ec2.NatGateway(
                f"NATGateway{n}",
                Condition=condition,
                AllocationId=GetAtt(eip, "AllocationId"),
                SubnetId=Ref(subnet),
                Tags=name_tag(f"nat-{n}"),
            )
        )
        t.add_resource(
            ec2.Route(
                f"PrivateSubnet{n}ARoute",
                Condition=condition,
                RouteTableId=Select(i, route_table_ids),
                DestinationCidrBlock="0.0.0.0/0",
                NatGatewayId=Ref(nat),
            )
        )
        nats.append(Ref(nat))
    return nats
