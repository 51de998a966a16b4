"""The environment network: env-vpc (VPC, subnets, security groups, flow logs) and env-vpc-egress (endpoints, NAT),
and the endpoint catalogue they are built from (templates_src/blocks/endpoints.py).

Scenarios are rendered offline with cloud-radar, which resolves conditions, Ref, Sub, Select, Split and Join for
given parameters; the Rules section, which cloud-radar ignores, is evaluated by ``rule_failures`` below.
"""

from __future__ import annotations

import copy
import fnmatch

import pytest
from cloud_radar.cf.unit import Template as Renderer

from templates_src.blocks import endpoints
from templates_src.blocks import parameters as params
from templates_src.blocks import vpc as vpc_blocks
from templates_src.context import BuildContext
from templates_src.generator import build_selected, render
from templates_src.templates.env import env_main, env_target_account_network, env_vpc, env_vpc_egress
from tests import cfn, support_render
from tests.cfn import walk

VPC, EGRESS = env_vpc.NAME, env_vpc_egress.NAME
REGION = "eu-west-1"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"]
ROLE = "arn:aws:iam::555555555555:role/team1-dev-eu-west-1-flow-logs"
KEY = "arn:aws:kms:eu-west-1:555555555555:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SUBNETS = [
    "subnet-0123456789abcdef0",
    "subnet-0123456789abcdef1",
    "subnet-0123456789abcdef2",
    "subnet-0123456789abcdef3",
]
TABLES = ["rtb-0123456789abcdef0", "rtb-0123456789abcdef1", "rtb-0123456789abcdef2", "rtb-0123456789abcdef3"]

VPC_PARAMS = {"EnvName": "team1", "AvailabilityZones": ",".join(ZONES), "VPCFlowLogsRoleArn": ROLE}
EGRESS_PARAMS = {
    "EnvName": "team1",
    "VPCId": "vpc-0123456789abcdef0",
    "AvailabilityZones": ",".join(ZONES),
    "PrivateSubnetIds": ",".join(SUBNETS[:2]),
    "PrivateRouteTableIds": ",".join(TABLES[:2]),
    "VPCEndpointsSecurityGroupId": "sg-0123456789abcdef0",
    "DataBucketName": "team1-dev-data",
    "ModelBucketName": "team1-dev-models",
    "SeedCodeS3BucketName": "release-bucket",
}
INTERNET = "0.0.0.0/0"
# The environment's interface endpoints (the catalogue's), their toggles, and those a new VPC gets by default.
INTERFACE = endpoints.created(endpoints.ENVIRONMENT)
INTERFACE_TOGGLES = [e.toggle for e in INTERFACE]
# Auto with a new VPC; the package mirror's endpoints only with the mirror (UseSharedServicesPyPiMirror YES).
DEFAULT_SET = {e.logical_id for e in INTERFACE if e.default == endpoints.AUTO and not e.with_mirror}
MIRROR_SET = {e.logical_id for e in INTERFACE if e.with_mirror}


@pytest.fixture(scope="module")
def built(configs) -> dict[str, dict[str, dict]]:
    """Both templates in every configuration of conftest: flavour -> name -> template."""
    return {flavour: build_selected([VPC, EGRESS], BuildContext(config)) for flavour, config in configs.items()}


@pytest.fixture(scope="module")
def vpc(built) -> dict:
    return built["default"][VPC]


@pytest.fixture(scope="module")
def egress(built) -> dict:
    return built["default"][EGRESS]


def deploy(template: dict, defaults: dict, **values) -> dict:
    """The template as CloudFormation would create it with these parameters (conditions applied, values resolved)."""
    stack = Renderer(copy.deepcopy(template)).create_stack({**defaults, **values}, region=REGION)
    return {"Resources": dict(stack["Resources"]), "Outputs": dict(stack.get("Outputs", {}))}


def of_type(stack: dict, type_: str) -> dict[str, dict]:
    return {k: v.get("Properties", {}) for k, v in stack["Resources"].items() if v["Type"] == type_}


def rule_failures(template: dict, **values) -> list[str]:
    """AssertDescriptions of the Rules that would refuse these parameters (CloudFormation checks them first)."""
    return support_render.rule_failures(template, values)


# -- env-vpc --------------------------------------------------------------------------------------------------------
def test_vpc_parameters_keep_the_reference_names_and_constrain_input(vpc):
    p = vpc["Parameters"]
    assert list(p) == [spec.name for spec in env_vpc.PARAMETERS]
    assert p["NumberOfAZs"]["AllowedValues"] == ["2", "3", "4"] and p["NumberOfAZs"]["Default"] == "2"
    assert p["VPCCIDR"]["Default"] == "10.0.0.0/16"
    assert [p[f"PrivateSubnet{i}ACIDR"]["Default"] for i in range(1, 5)] == [
        "10.0.0.0/19",
        "10.0.32.0/19",
        "10.0.64.0/19",
        "10.0.96.0/19",
    ]
    assert p["CreateVPCFlowLogsToCloudWatch"]["Default"] == "YES"
    assert p["VPCFlowLogsTrafficType"]["Default"] == "ALL"
    assert p["VPCFlowLogsMaxAggregationInterval"]["AllowedValues"] == ["60", "600"]
    assert p["VPCFlowLogsMaxAggregationInterval"]["Default"] == "600"
    retention = p["VPCFlowLogsLogGroupRetention"]
    assert retention["Default"] == "365"
    reference = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653}
    assert reference <= {int(v) for v in retention["AllowedValues"]}  # reference parameter files stay valid
    for name in ("ExistingPrivateSubnetIds", "ExistingPrivateRouteTableIds"):
        assert p[name]["Type"] == "CommaDelimitedList" and p[name]["Default"] == ""
    assert cfn.accepts(p["ExistingVPCId"], "") and cfn.accepts(p["ExistingVPCId"], "vpc-0123456789abcdef0")
    assert not cfn.accepts(p["ExistingVPCId"], "subnet-0123456789abcdef0")
    assert not cfn.accepts(p["VPCCIDR"], "10.0.0.0/8") and cfn.accepts(p["VPCCIDR"], "172.16.0.0/16")
    assert cfn.accepts(p["VPCFlowLogsCloudWatchKMSKey"], "") and cfn.accepts(p["VPCFlowLogsCloudWatchKMSKey"], KEY)
    assert cfn.accepts(p["VPCFlowLogsLogFormat"], p["VPCFlowLogsLogFormat"]["Default"])
    assert not cfn.accepts(p["VPCFlowLogsLogFormat"], "${srcaddr}  ${dstaddr}")


@pytest.mark.parametrize("zones", [2, 3, 4])
def test_new_vpc_has_one_private_subnet_and_route_table_per_zone(vpc, zones):
    stack = deploy(vpc, VPC_PARAMS, NumberOfAZs=str(zones))
    (props,) = of_type(stack, "AWS::EC2::VPC").values()
    assert props["CidrBlock"] == "10.0.0.0/16"
    assert props["EnableDnsSupport"] is True and props["EnableDnsHostnames"] is True
    subnets = of_type(stack, "AWS::EC2::Subnet")
    assert sorted(subnets) == [f"PrivateSubnet{i}A" for i in range(1, zones + 1)]
    cidrs = ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19", "10.0.96.0/19"]
    for i in range(zones):
        subnet = subnets[f"PrivateSubnet{i + 1}A"]
        assert subnet["AvailabilityZone"] == ZONES[i] and subnet["CidrBlock"] == cidrs[i]
        assert subnet["MapPublicIpOnLaunch"] is False and subnet["VpcId"] == "VPC"
    # Each subnet has its own route table (a NAT route per zone needs it).
    associations = {
        a["SubnetId"]: a["RouteTableId"] for a in of_type(stack, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    assert associations == {f"PrivateSubnet{i}A": f"PrivateSubnet{i}ARouteTable" for i in range(1, zones + 1)}
    assert len(of_type(stack, "AWS::EC2::RouteTable")) == zones
    assert not of_type(stack, "AWS::EC2::Route")  # no route out of the VPC here; env-vpc-egress adds them
    outputs = {k: v["Value"] for k, v in stack["Outputs"].items()}
    assert outputs["PrivateSubnetIds"] == ",".join(f"PrivateSubnet{i}A" for i in range(1, zones + 1))
    assert outputs["PrivateRouteTableIds"] == ",".join(f"PrivateSubnet{i}ARouteTable" for i in range(1, zones + 1))
    assert outputs["VPCId"] == "VPC" and outputs["VPCCIDR"] == "VPC.CidrBlock"
    # The default DHCP options (AmazonProvidedDNS) serve private DNS; the template sets none.
    assert not {t for t in (r["Type"] for r in vpc["Resources"].values()) if "DHCP" in t}


def test_existing_vpc_and_subnets_are_passed_through(vpc):
    values = dict(
        CreateVPC="NO",
        ExistingVPCId="vpc-0123456789abcdef0",
        CreatePrivateSubnets="NO",
        ExistingPrivateSubnetIds=",".join(SUBNETS[:3]),
        ExistingPrivateRouteTableIds=",".join(TABLES[:3]),
        NumberOfAZs="3",
    )
    assert rule_failures(vpc, **VPC_PARAMS, **values) == []
    stack = deploy(vpc, VPC_PARAMS, **values)
    types = {r["Type"] for r in stack["Resources"].values()}
    assert not types & {
        "AWS::EC2::VPC",
        "AWS::EC2::Subnet",
        "AWS::EC2::RouteTable",
        "AWS::EC2::SubnetRouteTableAssociation",
    }
    outputs = {k: v["Value"] for k, v in stack["Outputs"].items()}
    assert outputs["VPCId"] == "vpc-0123456789abcdef0"
    assert outputs["PrivateSubnetIds"] == ",".join(SUBNETS[:3])
    assert outputs["PrivateRouteTableIds"] == ",".join(TABLES[:3])
    assert "VPCCIDR" not in outputs  # not known for an existing VPC
    for group in of_type(stack, "AWS::EC2::SecurityGroup").values():
        assert group["VpcId"] == "vpc-0123456789abcdef0"
    (flow_log,) = of_type(stack, "AWS::EC2::FlowLog").values()
    assert flow_log["ResourceId"] == "vpc-0123456789abcdef0" and flow_log["ResourceType"] == "VPC"
    ssm = {p["Name"]: p["Value"] for p in of_type(stack, "AWS::SSM::Parameter").values()}
    assert ssm["team1-dev-vpc-id"] == "vpc-0123456789abcdef0"
    assert ssm["team1-dev-private-subnet-ids"] == ",".join(SUBNETS[:3])


def test_vpc_rules_refuse_incomplete_choices(vpc):
    assert rule_failures(vpc, **VPC_PARAMS) == []
    assert rule_failures(vpc, **VPC_PARAMS, CreateVPC="NO") == ["ExistingVPCId is required when CreateVPC is NO"]
    no_role = rule_failures(vpc, **{**VPC_PARAMS, "VPCFlowLogsRoleArn": ""})
    assert len(no_role) == 1 and "VPCFlowLogsRoleArn is required" in no_role[0]
    assert rule_failures(vpc, **{**VPC_PARAMS, "VPCFlowLogsRoleArn": ""}, CreateVPCFlowLogsToCloudWatch="NO") == []
    existing = dict(CreateVPC="NO", ExistingVPCId="vpc-0123456789abcdef0", CreatePrivateSubnets="NO")
    failures = rule_failures(vpc, **VPC_PARAMS, **existing)
    assert len(failures) == 2 and all("required" in f for f in failures)  # subnets and route tables missing
    failures = rule_failures(
        vpc,
        **VPC_PARAMS,
        CreatePrivateSubnets="NO",
        ExistingPrivateSubnetIds=SUBNETS[0],
        ExistingPrivateRouteTableIds=TABLES[0],
    )
    assert len(failures) == 1 and "need an existing VPC" in failures[0]


def rules_of(stack: dict, group: str) -> dict[str, set]:
    """Every rule of a security group (inline and standalone) as (protocol, from, to, peer), by direction."""
    found = {"ingress": set(), "egress": set()}

    def peer(rule):
        for key in (
            "CidrIp",
            "CidrIpv6",
            "SourceSecurityGroupId",
            "DestinationSecurityGroupId",
            "SourcePrefixListId",
            "DestinationPrefixListId",
        ):
            if key in rule:
                return rule[key]
        raise AssertionError(f"rule without peer: {rule}")

    def add(direction, rule):
        assert rule.get("Description", "").strip(), rule  # every rule says why it exists
        found[direction].add((rule["IpProtocol"], rule.get("FromPort"), rule.get("ToPort"), peer(rule)))

    props = stack["Resources"][group]["Properties"]
    for direction, key in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
        for rule in props.get(key, []):
            add(direction, rule)
    for direction, type_ in (
        ("ingress", "AWS::EC2::SecurityGroupIngress"),
        ("egress", "AWS::EC2::SecurityGroupEgress"),
    ):
        for rule in of_type(stack, type_).values():
            if rule["GroupId"] == f"{group}.GroupId":
                add(direction, rule)
    return found


def test_security_groups_allow_exactly_what_vpc_only_studio_needs(vpc):
    stack = deploy(vpc, VPC_PARAMS)
    sagemaker, endpoints = "SageMakerSecurityGroup.GroupId", "VPCEndpointsSecurityGroup.GroupId"
    assert rules_of(stack, "SageMakerSecurityGroup") == {
        "ingress": {("tcp", 2049, 2049, sagemaker), ("tcp", 8192, 65535, sagemaker)},
        "egress": {("tcp", 2049, 2049, sagemaker), ("tcp", 8192, 65535, sagemaker), ("tcp", 443, 443, INTERNET)},
    }
    assert rules_of(stack, "VPCEndpointsSecurityGroup") == {
        "ingress": {("tcp", 443, 443, sagemaker)},
        # Replaces EC2's allow-all egress with a rule that matches nothing a host sends.
        "egress": {("icmp", -1, -1, "127.0.0.1/32")},
    }
    # No address range may reach anything in the environment.
    for rule in of_type(stack, "AWS::EC2::SecurityGroupIngress").values():
        assert not {"CidrIp", "CidrIpv6"} & set(rule)
    for group in of_type(stack, "AWS::EC2::SecurityGroup").values():
        assert "SecurityGroupIngress" not in group
        assert len(group["GroupDescription"]) > 40 and "default" not in group["GroupDescription"].lower()
    outputs = {k: v["Value"] for k, v in stack["Outputs"].items()}
    assert outputs["SageMakerSecurityGroupIds"] == sagemaker and outputs["VPCEndpointsSecurityGroupId"] == endpoints


def test_flow_logs_go_to_the_environment_log_group(vpc):
    """Flow logs are evidence: on by default, into the environment's log group, which is kept when the stack is
    deleted or the group replaced."""
    group = vpc["Resources"]["VPCFlowLogsLogGroup"]
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
    assert vpc["Parameters"]["CreateVPCFlowLogsToCloudWatch"]["Default"] == "YES"
    stack = deploy(vpc, VPC_PARAMS)
    (group,) = of_type(stack, "AWS::Logs::LogGroup").values()
    assert group["LogGroupName"] == "/vpcflowlogs/team1-dev" and group["RetentionInDays"] == "365"
    assert "KmsKeyId" not in group  # CloudWatch Logs' own encryption unless a key is given (default configuration)
    (flow_log,) = of_type(stack, "AWS::EC2::FlowLog").values()
    assert flow_log == {
        **flow_log,
        "ResourceId": "VPC",
        "ResourceType": "VPC",
        "TrafficType": "ALL",
        "LogDestinationType": "cloud-watch-logs",
        "LogGroupName": "VPCFlowLogsLogGroup",
        "DeliverLogsPermissionArn": ROLE,
        "MaxAggregationInterval": "600",
    }
    keyed = deploy(vpc, VPC_PARAMS, VPCFlowLogsCloudWatchKMSKey=KEY, VPCFlowLogsLogGroupRetention="731")
    (group,) = of_type(keyed, "AWS::Logs::LogGroup").values()
    assert group["KmsKeyId"] == KEY and group["RetentionInDays"] == "731"


def test_flow_logs_off(vpc):
    stack = deploy(vpc, {**VPC_PARAMS, "VPCFlowLogsRoleArn": ""}, CreateVPCFlowLogsToCloudWatch="NO")
    assert not of_type(stack, "AWS::EC2::FlowLog") and not of_type(stack, "AWS::Logs::LogGroup")


def test_flow_log_group_key_follows_the_hardening_configuration(built, configs):
    """The key given for the flow logs, else the configuration's; a release that pins the log key writes it (and
    the retention) into the template, and a Rule refuses other values of the two parameters."""
    for flavour, config in configs.items():
        template = built[flavour][VPC]
        group = template["Resources"]["VPCFlowLogsLogGroup"]["Properties"]
        key = group["KmsKeyId"]
        if config.logs_kms_key_arn:
            assert key == config.logs_kms_key_arn and group["RetentionInDays"] == config.log_retention_days
            for values in (
                {"VPCFlowLogsCloudWatchKMSKey": "arn:aws:kms:us-east-1:111122223333:key/other"},
                {"VPCFlowLogsLogGroupRetention": "90"},
            ):
                assert rule_failures(template, **{**VPC_PARAMS, **values}), values
            assert rule_failures(template, **VPC_PARAMS) == []
            continue
        cond, given, default = key["Fn::If"]
        assert cond == vpc_blocks.FLOW_LOGS_KEY_GIVEN and given == {"Ref": "VPCFlowLogsCloudWatchKMSKey"}
        assert group["RetentionInDays"] == {"Ref": "VPCFlowLogsLogGroupRetention"}
        if config.encrypt_logs:
            assert default == {"Ref": params.LOGS_KMS_KEY_ARN.name}
        else:
            assert default == {"Ref": "AWS::NoValue"}


def test_vpc_ssm_contract(vpc):
    stack = deploy(vpc, VPC_PARAMS, NumberOfAZs="3")
    assert {p["Name"]: p["Value"] for p in of_type(stack, "AWS::SSM::Parameter").values()} == {
        "team1-dev-vpc-id": "VPC",
        "team1-dev-private-subnet-ids": "PrivateSubnet1A,PrivateSubnet2A,PrivateSubnet3A",
        "team1-dev-sagemaker-sg-ids": "SageMakerSecurityGroup.GroupId",
    }


# -- env-vpc-egress -------------------------------------------------------------------------------------------------
def interface_endpoints(stack: dict) -> dict[str, dict]:
    return {k: v for k, v in of_type(stack, "AWS::EC2::VPCEndpoint").items() if v["VpcEndpointType"] == "Interface"}


def test_egress_parameters(egress):
    p = egress["Parameters"]
    assert list(p) == [spec.name for spec in env_vpc_egress.parameters()]
    assert p["CreateNATGateways"]["Default"] == "YES"
    assert [p[f"PublicSubnet{i}CIDR"]["Default"] for i in range(1, 5)] == [
        "10.0.128.0/20",
        "10.0.144.0/20",
        "10.0.160.0/20",
        "10.0.176.0/20",
    ]
    # One toggle per interface endpoint of the environment in the catalogue, and no other: Auto by default, but
    # the Studio Classic notebook endpoint's (NO).
    assert [n for n in p if n in INTERFACE_TOGGLES or n.endswith("VPCEndpoint")] == [
        "CreateS3VPCEndpoint",
        *INTERFACE_TOGGLES,
    ]
    toggles = {name: p[name]["Default"] for name in INTERFACE_TOGGLES}
    assert toggles.pop("CreateSageMakerNotebookVPCEndpoint") == "NO"
    assert set(toggles.values()) == {"Auto"} and "CreateSageMakerStudioVPCEndpoint" in toggles
    assert {p[t]["AllowedValues"] == ["YES", "NO", "Auto"] for t in toggles} == {True}
    assert p["AvailabilityZones"] == vpc_blocks.AVAILABILITY_ZONES.to_parameter().to_dict()


# The interface endpoints a new VPC gets by default (the product's promise, written out; the Studio Classic
# notebook endpoint is off).  Also the expectation of the end-to-end tests on moto.
DEFAULT_INTERFACE_SERVICES = (
    "ssm",
    "monitoring",
    "logs",
    "sagemaker.api",
    "sagemaker.runtime",
    "sts",
    "git-codecommit",
    "codecommit",
    "codepipeline",
    "codebuild",
    "ecr.api",
    "ecr.dkr",
    "servicecatalog",
    "kms",
    "cloudformation",
)


def default_interface_endpoints(region: str) -> set[str]:
    return {f"com.amazonaws.{region}.{s}" for s in DEFAULT_INTERFACE_SERVICES} | {f"aws.sagemaker.{region}.studio"}


def test_interface_endpoints_use_private_dns_in_every_private_subnet(egress):
    stack = deploy(egress, EGRESS_PARAMS)
    endpoints = interface_endpoints(stack)
    names = {e["ServiceName"] for e in endpoints.values()}
    expected = default_interface_endpoints(REGION)
    assert names == expected  # the notebook endpoint (Studio Classic, notebook instances) is off by default
    for endpoint in endpoints.values():
        assert endpoint["PrivateDnsEnabled"] is True
        assert endpoint["SubnetIds"] == SUBNETS[:2]
        assert endpoint["SecurityGroupIds"] == ["sg-0123456789abcdef0"]
        assert endpoint["VpcId"] == "vpc-0123456789abcdef0"
    # And in the template itself, whatever the parameters.
    for resource in cfn.resources(egress, "AWS::EC2::VPCEndpoint").values():
        if resource["Properties"]["VpcEndpointType"] == "Interface":
            assert resource["Properties"]["PrivateDnsEnabled"] is True


def test_an_existing_vpc_keeps_its_own_interface_endpoints_unless_asked(egress):
    """W6: EC2 refuses a second endpoint with private DNS for one service in a VPC, and an existing (enterprise)
    VPC usually has some: with CreateVPC NO the defaults create no interface endpoint; each one asked for (YES)
    is created; a new VPC gets the default set."""
    new = interface_endpoints(deploy(egress, EGRESS_PARAMS, CreateVPC="YES"))
    assert set(new) == DEFAULT_SET
    assert interface_endpoints(deploy(egress, EGRESS_PARAMS, CreateVPC="NO")) == {}
    asked = interface_endpoints(
        deploy(
            egress, EGRESS_PARAMS, CreateVPC="NO", CreateKMSVPCEndpoint="YES", CreateSageMakerStudioVPCEndpoint="YES"
        )
    )
    assert set(asked) == {"VPCEndpointKMS", "VPCEndpointSageMakerStudio"}
    assert "VPCEndpointS3" in deploy(egress, EGRESS_PARAMS, CreateVPC="NO")["Resources"]  # its id is needed
    assert interface_endpoints(
        deploy(egress, EGRESS_PARAMS, CreateVPC="YES", CreateSTSVPCEndpoint="NO")
    ).keys() == new.keys() - {"VPCEndpointSTS"}


@pytest.fixture(scope="module")
def all_endpoints(egress) -> dict[str, dict]:
    all_on = {e.toggle: "YES" for e in INTERFACE}
    return interface_endpoints(deploy(egress, EGRESS_PARAMS, **all_on))


@pytest.mark.parametrize("endpoint", INTERFACE, ids=lambda e: e.toggle)
def test_each_toggle_controls_its_endpoint(egress, all_endpoints, endpoint):
    all_on = {e.toggle: "YES" for e in INTERFACE}
    off = interface_endpoints(deploy(egress, EGRESS_PARAMS, **{**all_on, endpoint.toggle: "NO"}))
    assert set(all_endpoints) - set(off) == {endpoint.logical_id}
    assert all_endpoints[endpoint.logical_id]["ServiceName"] == endpoint.service_name.replace("${AWS::Region}", REGION)


def account() -> str:
    """The account id cloud-radar renders ${AWS::AccountId} with (read when used: another test module may set it)."""
    return Renderer.AccountId


def test_kms_endpoint_admits_only_principals_of_the_account(egress):
    stack = deploy(egress, EGRESS_PARAMS)
    (statement,) = stack["Resources"]["VPCEndpointKMS"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Condition"] == {
        "StringEquals": {"aws:PrincipalAccount": account()}
    }
    assert stack["Outputs"]["VPCEndpointKMSId"]["Value"] == "VPCEndpointKMS"
    ssm = {p["Name"]: p["Value"] for p in of_type(stack, "AWS::SSM::Parameter").values()}
    assert ssm["team1-dev-kms-vpce-id"] == "VPCEndpointKMS"
    without = deploy(egress, EGRESS_PARAMS, CreateKMSVPCEndpoint="NO")
    assert "VPCEndpointKMSId" not in without["Outputs"]  # no empty output, no empty SSM value
    assert [p["Name"] for p in of_type(without, "AWS::SSM::Parameter").values()] == ["team1-dev-s3-vpce-id"]
    # No other endpoint has a policy (their default full-access policy) but the package mirror's; the KMS one is not
    # '*' for anyone.
    policies = [
        k for k, v in cfn.resources(egress, "AWS::EC2::VPCEndpoint").items() if "PolicyDocument" in v["Properties"]
    ]
    assert sorted(policies) == sorted(["VPCEndpointKMS", "VPCEndpointS3", *MIRROR_SET])


def test_s3_endpoint_policy_names_the_environment_buckets(egress):
    stack = deploy(egress, EGRESS_PARAMS)
    own = account()
    endpoint = stack["Resources"]["VPCEndpointS3"]["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["ServiceName"] == f"com.amazonaws.{REGION}.s3"
    assert endpoint["RouteTableIds"] == TABLES[:2]
    statements = {s["Sid"]: s for s in endpoint["PolicyDocument"]["Statement"]}
    assert set(statements) == {
        "EnvironmentBuckets",
        "SeedCodeRead",
        "SeedCodeList",
        "AccountSageMakerBuckets",
        "CreateAccountSageMakerBuckets",
        "ECRImageLayers",
        "CloudFormationResponses",
    }
    resources = {sid: set(s["Resource"]) for sid, s in statements.items()}
    assert resources["EnvironmentBuckets"] == {
        f"arn:aws:s3:::{b}{o}" for b in ("team1-dev-data", "team1-dev-models") for o in ("", "/*")
    }
    assert resources["SeedCodeRead"] == {"arn:aws:s3:::release-bucket/*"}
    assert resources["SeedCodeList"] == {"arn:aws:s3:::release-bucket"}
    assert statements["SeedCodeRead"]["Action"] == ["s3:GetObject"]
    assert statements["SeedCodeList"]["Action"] == ["s3:ListBucket"]
    assert resources["ECRImageLayers"] == {f"arn:aws:s3:::prod-{REGION}-starport-layer-bucket/*"}
    assert statements["ECRImageLayers"]["Action"] == ["s3:GetObject"]
    # Exactly this region's AWS-owned response bucket, never anybody's cloudformation-custom-resource-response-*.
    assert resources["CloudFormationResponses"] == {"arn:aws:s3:::cloudformation-custom-resource-response-euwest1/*"}
    assert statements["CloudFormationResponses"]["Action"] == ["s3:PutObject"]
    # SageMaker's bucket names can be anybody's: only buckets of this account, only this account's callers.
    sagemaker = statements["AccountSageMakerBuckets"]
    assert sagemaker["Condition"] == {"StringEquals": {"s3:ResourceAccount": own, "aws:PrincipalAccount": own}}
    assert resources["AccountSageMakerBuckets"] == {
        f"arn:aws:s3:::{b}{o}" for b in ("sagemaker-*", "sm-mlops-cp-*") for o in ("", "/*")
    }
    assert statements["CreateAccountSageMakerBuckets"]["Condition"] == {"StringEquals": {"aws:PrincipalAccount": own}}
    for sid in ("EnvironmentBuckets", "SeedCodeRead", "SeedCodeList"):
        assert statements[sid]["Condition"] == {"StringEquals": {"aws:PrincipalAccount": own}}
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
        assert "s3:*" not in statement["Action"] and not any(a.startswith("s3:PutBucket") for a in statement["Action"])
        assert "ExistingObjectTag" not in str(statement.get("Condition"))  # no grants by tag
        for arn in statement["Resource"]:
            bucket = arn.removeprefix("arn:aws:s3:::").split("/")[0]
            assert "*" not in bucket or bucket in ("sagemaker-*", "sm-mlops-cp-*"), arn
            assert not bucket.startswith("*") and not fnmatch.fnmatch("any-bucket", bucket), arn
    assert stack["Outputs"]["VPCEndpointS3Id"]["Value"] == "VPCEndpointS3"


def test_existing_s3_endpoint(egress):
    assert rule_failures(egress, **EGRESS_PARAMS, CreateS3VPCEndpoint="NO") == [
        "ExistingS3VPCEndpointId is required when CreateS3VPCEndpoint is NO"
    ]
    values = dict(CreateS3VPCEndpoint="NO", ExistingS3VPCEndpointId="vpce-0123456789abcdef0")
    assert rule_failures(egress, **EGRESS_PARAMS, **values) == []
    stack = deploy(egress, EGRESS_PARAMS, **values)
    assert "VPCEndpointS3" not in stack["Resources"]
    assert stack["Outputs"]["VPCEndpointS3Id"]["Value"] == "vpce-0123456789abcdef0"
    ssm = {p["Name"]: p["Value"] for p in of_type(stack, "AWS::SSM::Parameter").values()}
    assert ssm["team1-dev-s3-vpce-id"] == "vpce-0123456789abcdef0"


@pytest.mark.parametrize("zones", [2, 3, 4])
def test_nat_gateway_per_zone_routes_its_own_zone(egress, zones):
    stack = deploy(
        egress,
        EGRESS_PARAMS,
        NumberOfAZs=str(zones),
        PrivateSubnetIds=",".join(SUBNETS[:zones]),
        PrivateRouteTableIds=",".join(TABLES[:zones]),
    )
    public = of_type(stack, "AWS::EC2::Subnet")
    assert sorted(public) == [f"PublicSubnet{i}" for i in range(1, zones + 1)]
    cidrs = ["10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20", "10.0.176.0/20"]
    nats = of_type(stack, "AWS::EC2::NatGateway")
    routes = of_type(stack, "AWS::EC2::Route")
    for i in range(zones):
        n = i + 1
        subnet = public[f"PublicSubnet{n}"]
        assert subnet["AvailabilityZone"] == ZONES[i] and subnet["CidrBlock"] == cidrs[i]
        assert subnet["MapPublicIpOnLaunch"] is False
        assert nats[f"NATGateway{n}"] == {
            **nats[f"NATGateway{n}"],
            "SubnetId": f"PublicSubnet{n}",
            "AllocationId": f"NAT{n}EIP.AllocationId",
        }
        # Private route table i (same order as the subnets) goes out through the NAT gateway of zone i.
        assert routes[f"PrivateSubnet{n}ARoute"] == {
            "RouteTableId": TABLES[i],
            "DestinationCidrBlock": INTERNET,
            "NatGatewayId": f"NATGateway{n}",
        }
    assert len(nats) == zones and len(of_type(stack, "AWS::EC2::EIP")) == zones
    for eip in ("NAT%dEIP" % n for n in range(1, zones + 1)):
        assert stack["Resources"][eip]["DependsOn"] == "VPCGatewayAttachment"
        assert stack["Resources"][eip]["Properties"]["Domain"] == "vpc"
    assert routes["PublicSubnetRoute"] == {
        "RouteTableId": "PublicSubnetRouteTable",
        "DestinationCidrBlock": INTERNET,
        "GatewayId": "InternetGateway",
    }
    assert stack["Resources"]["PublicSubnetRoute"]["DependsOn"] == "VPCGatewayAttachment"
    assert stack["Outputs"]["NATGatewayIds"]["Value"] == ",".join(f"NATGateway{n}" for n in range(1, zones + 1))


def test_internet_free_mode_has_no_way_out(egress):
    stack = deploy(egress, EGRESS_PARAMS, CreateNATGateways="NO", NumberOfAZs="4")
    types = {r["Type"] for r in stack["Resources"].values()}
    assert not types & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::EIP",
        "AWS::EC2::NatGateway",
        "AWS::EC2::Subnet",
        "AWS::EC2::Route",
        "AWS::EC2::RouteTable",
    }
    assert INTERNET not in str(stack["Resources"])
    assert "NATGatewayIds" not in stack["Outputs"]
    assert set(interface_endpoints(stack)) == DEFAULT_SET and "VPCEndpointS3" in stack["Resources"]


# -- the endpoint catalogue -------------------------------------------------------------------------------------------
def test_each_endpoint_is_one_consistent_row():
    rows = endpoints.rows()
    for key in ("toggle", "logical_id", "condition"):
        assert len({getattr(e, key) for e in rows}) == len(rows), key
    assert len({(e.service, e.kind) for e in rows}) == len(rows)
    for e in rows:
        assert e.kind in (endpoints.INTERFACE, endpoints.GATEWAY)
        assert e.networks and set(e.networks) <= {endpoints.ENVIRONMENT, endpoints.TARGET_ACCOUNTS}
        assert e.toggle.startswith("Create") and e.toggle.endswith("VPCEndpoint")
        assert e.logical_id == "VPCEndpoint" + e.toggle.removeprefix("Create").removesuffix("VPCEndpoint")
        assert (e.existing is not None) == (e.kind == endpoints.GATEWAY)  # a gateway may be the VPC's own
        assert e.default in (("YES", "NO") if e.kind == endpoints.GATEWAY else ("YES", "NO", endpoints.AUTO))
        assert e.policy in (
            endpoints.DEFAULT_POLICY,
            endpoints.ACCOUNT_PRINCIPALS_ONLY,
            endpoints.NAMED_BUCKETS,
            endpoints.PACKAGE_MIRROR,
        )
        # The package mirror's endpoints: the environment's only, named in their policy, needed with the mirror.
        assert (e.policy == endpoints.PACKAGE_MIRROR) == e.with_mirror
        assert not e.with_mirror or (e.networks == (endpoints.ENVIRONMENT,) and not e.internet_free)
        assert e.rule_position is None or (e.internet_free and e.kind == endpoints.INTERFACE)
    positions = [e.rule_position for e in rows if e.rule_position is not None]
    assert len(set(positions)) == len(positions)
    assert endpoints.kms().policy == endpoints.ACCOUNT_PRINCIPALS_ONLY
    assert endpoints.s3().policy == endpoints.NAMED_BUCKETS and endpoints.s3().networks == endpoints.BOTH


def test_the_internet_free_rule_requires_exactly_the_catalogues_needed_endpoints(configs):
    """env-main's InternetFree Rule, one assertion per interface endpoint of the environment an internet-free
    environment needs (the S3 gateway endpoint is always there: created, or the VPC's own, whose id a Rule
    requires)."""
    main = build_selected([env_main.NAME], BuildContext(configs["default"]))[env_main.NAME]
    assertions = [a["Assert"] for a in main["Rules"]["InternetFree"]["Assertions"]]
    checked = [a["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in assertions if "Fn::Not" in a]
    needed = {e.toggle for e in endpoints.rows(endpoints.ENVIRONMENT, endpoints.INTERFACE) if e.internet_free}
    assert checked == list(endpoints.internet_free_toggles()) and set(checked) == needed
    # With the package mirror, its endpoints too (Fn::Or: the mirror is off, or the toggle is not NO).
    with_mirror = [a["Fn::Or"][1]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in assertions if "Fn::Or" in a][1:]
    assert with_mirror == list(endpoints.mirror_toggles()) == [e.toggle for e in endpoints.rows() if e.with_mirror]
    assert main["Rules"]["InternetFree"]["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateNATGateways"}, "NO"]}


EXAMPLE = endpoints.Endpoint(
    "CreateExampleVPCEndpoint",
    "VPCEndpointExample",
    "example",
    "Example",
    "a service a test adds",
    internet_free=True,
    networks=endpoints.BOTH,
)
MAIN_PARAMS = {"SeedCodeS3BucketName": "release-bucket", "AvailabilityZones": ",".join(ZONES[:2])}


def test_adding_an_endpoint_is_adding_a_row(monkeypatch, configs):
    """One more row in the catalogue, and nothing else: env-vpc-egress has its toggle and creates it, env-main
    offers the toggle, passes it on and its internet-free Rule requires it, the target accounts' network creates it
    and the README's table lists it."""
    from templates_src import readme_blocks

    monkeypatch.setattr(endpoints, "ENDPOINTS", (*endpoints.ENDPOINTS, EXAMPLE))
    built = build_selected([env_main.NAME], BuildContext(configs["default"]))
    main, egress = built[env_main.NAME], built[EGRESS]
    toggle, service = EXAMPLE.toggle, f"com.amazonaws.{REGION}.example"

    # env-vpc-egress: the toggle (Auto), and the endpoint with a new VPC, not when turned off.
    assert egress["Parameters"][toggle]["Default"] == "Auto"
    created = interface_endpoints(deploy(egress, EGRESS_PARAMS))
    assert created[EXAMPLE.logical_id]["ServiceName"] == service
    assert created[EXAMPLE.logical_id]["PrivateDnsEnabled"] is True
    assert EXAMPLE.logical_id not in interface_endpoints(deploy(egress, EGRESS_PARAMS, **{toggle: "NO"}))

    # env-main: offers the child's definition in its endpoint group, passes it on, and refuses NO without NAT.
    assert main["Parameters"][toggle] == egress["Parameters"][toggle]
    groups = main["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    (group,) = [g["Parameters"] for g in groups if g["Label"]["default"] == "VPC endpoints"]
    assert group[-1] == toggle
    assert main["Resources"]["EnvironmentVPCEndpoints"]["Properties"]["Parameters"][toggle] == {"Ref": toggle}
    internet_free = {**MAIN_PARAMS, "CreateNATGateways": "NO", "UseSharedServicesPyPiMirror": "YES"}
    assert support_render.rule_failures(main, internet_free) == []
    failures = support_render.rule_failures(main, {**internet_free, toggle: "NO"})
    assert len(failures) == 1 and failures[0].startswith(f"{toggle} must be YES or Auto when CreateNATGateways is NO")
    assert support_render.rule_failures(main, {**MAIN_PARAMS, toggle: "NO"}) == []  # with NAT gateways: optional

    # The target accounts' network creates it, always; the README's table lists it.
    target = built[env_target_account_network.NAME]["Resources"][EXAMPLE.logical_id]
    assert "Condition" not in target and target["Properties"]["ServiceName"] == {"Fn::Sub": EXAMPLE.service_name}
    assert f"`{toggle}` (`Auto`)" in readme_blocks.endpoints_block()


# -- both templates ---------------------------------------------------------------------------------------------------
def test_select_indices_are_integers(built):
    for templates in built.values():
        for template in templates.values():
            selects = [n["Fn::Select"] for n in walk(template) if isinstance(n, dict) and "Fn::Select" in n]
            assert selects
            for index, _ in selects:
                assert type(index) is int, index


def test_physical_names_carry_the_environment(built):
    """SSM parameter names, the log group name and the Name tags: two environments in one account never share one."""
    for template in built["default"].values():
        names = []
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            names += [props[k] for k in ("Name", "LogGroupName") if "Fn::Sub" in (props.get(k) or {})]
            tags = props.get("Tags", [])
            names += [t["Value"] for t in (tags if isinstance(tags, list) else []) if t["Key"] == "Name"]
        assert len(names) > 10
        for name in names:
            assert "${EnvName}-${EnvType}" in cfn.text(name), name
    name = built["enterprise"][VPC]["Resources"]["VPCFlowLogsLogGroup"]["Properties"]["LogGroupName"]
    assert cfn.text(name) == "/vpcflowlogs/acme-${EnvName}-${EnvType}"  # with the configured prefix


def test_two_environments_do_not_collide(vpc, egress):
    for template, defaults in ((vpc, VPC_PARAMS), (egress, EGRESS_PARAMS)):
        names = [
            {
                p["Name"]
                for p in of_type(deploy(template, defaults, EnvName=env, EnvType=stage), "AWS::SSM::Parameter").values()
            }
            for env, stage in (("team1", "dev"), ("team1", "prod"))
        ]
        assert names[0] and not names[0] & names[1]


@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened"])
def test_templates_lint_clean(built, linter, flavour):
    """No cfn-lint finding at all: errors, warnings and the informational rules the project enables.  (The pinned
    configuration differs from the hardened one only by the literal log key; the build lints it too.)"""
    for name, template in built[flavour].items():
        result = linter.lint_text(f"{name}.yaml", render(template, ".yaml").encode("utf-8"))
        assert result.findings == [], "\n".join(map(str, result.findings))
