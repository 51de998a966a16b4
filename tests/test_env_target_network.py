"""env-target-account-network: the internet-free network of SageMaker endpoints in a staging or production account.

Scenarios are rendered offline (tests/support_render.py: Fn::GetAZs answers the zones <region>a to <region>f,
physical ids are well-formed fakes).  The template is built from the network blocks env-vpc and env-vpc-egress are
built from (templates_src/blocks/vpc.py, endpoints.py); the last tests prove that those two templates still render
byte for byte as their golden snapshots.
"""

from __future__ import annotations

import pytest

from templates_src import registry
from templates_src.blocks import endpoints as endpoint_blocks
from templates_src.blocks import vpc as vpc_blocks
from templates_src.checks import iam_coverage, iam_deployers
from templates_src.context import BuildContext
from templates_src.generator import build_selected, generate, render
from templates_src.templates.env import env_iam, env_target_account_network, env_vpc, env_vpc_egress
from tests import cfn, support_render
from tests.cfn import walk
from tests.support_render import ACCOUNT, REGION
from tests.test_golden import snapshot

NAME = env_target_account_network.NAME
MODEL_BUCKET = f"team1-dev-{REGION}-222222222222-models"
DEPLOYMENT_ROLE = "team1-dev-eu-west-1-stackset-exec"
EBS_KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PARAMS = {
    "EnvName": "team1",
    "EnvType": "staging",
    "ModelBucketName": MODEL_BUCKET,
    "StackSetExecutionRoleName": DEPLOYMENT_ROLE,
    "EndpointVolumeKmsKeyArn": EBS_KEY,
}
ZONES = [f"{REGION}{z}" for z in "abc"]
CIDRS = ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
INTERNET = "0.0.0.0/0"
ENDPOINT_SERVICES = {"sagemaker.api", "sagemaker.runtime", "sts", "logs", "monitoring", "ecr.api", "ecr.dkr", "kms"}
# Resource types that connect a VPC to the internet or to other networks.
WAYS_OUT = {
    "AWS::EC2::InternetGateway",
    "AWS::EC2::EgressOnlyInternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::EIP",
    "AWS::EC2::NatGateway",
    "AWS::EC2::Route",
    "AWS::EC2::VPNGateway",
    "AWS::EC2::TransitGatewayAttachment",
    "AWS::EC2::VPCPeeringConnection",
    "AWS::EC2::CarrierGateway",
}
FLOW_LOG_RESOURCES = {"VPCFlowLogsRole", "VPCFlowLogsLogGroup", "VPCFlowLogsToCloudWatch"}


@pytest.fixture(scope="module")
def built(configs) -> dict[str, dict]:
    """The template in every configuration of conftest: flavour -> template."""
    return {flavour: build_selected([NAME], BuildContext(config))[NAME] for flavour, config in configs.items()}


@pytest.fixture(scope="module")
def template(built) -> dict:
    return built["default"]


def deploy(template: dict, **values) -> dict:
    """The stack CloudFormation would create with these parameters (conditions applied, values resolved)."""
    return support_render.render(template, {**PARAMS, **values})


def of_type(stack: dict, type_: str) -> dict[str, dict]:
    return {k: v.get("Properties", {}) for k, v in stack["Resources"].items() if v["Type"] == type_}


def interface_endpoints(stack: dict) -> dict[str, dict]:
    return {k: v for k, v in of_type(stack, "AWS::EC2::VPCEndpoint").items() if v["VpcEndpointType"] == "Interface"}


def fake(template: dict, logical_id: str, attribute: str | None = None) -> str:
    return support_render.fake(template, logical_id, attribute)


SCENARIOS = [
    pytest.param(zones, flow_logs, id=f"{zones}-zones-flow-logs-{flow_logs}")
    for zones in (2, 3)
    for flow_logs in ("NO", "YES")
]


# -- registration and parameters ---------------------------------------------------------------------------------------
def test_registered_as_a_nested_template_of_the_env_family():
    spec = registry.TEMPLATES[NAME]
    assert spec.family == "env" and spec.deployed == registry.NESTED and not spec.entry


def test_every_parameter_is_constrained(template):
    p = template["Parameters"]
    assert list(p) == [spec.name for spec in env_target_account_network.PARAMETERS] + ["UseTargetAccountBoundary"]
    assert list(p) == [
        "EnvName",
        "EnvType",
        "NumberOfAZs",
        "VPCCIDR",
        "PrivateSubnet1ACIDR",
        "PrivateSubnet2ACIDR",
        "PrivateSubnet3ACIDR",
        "ModelBucketName",
        "CreateVPCFlowLogs",
        "StackSetExecutionRoleName",
        "EndpointVolumeKmsKeyArn",
        "UseTargetAccountBoundary",
    ]
    for name, parameter in p.items():
        assert "AllowedValues" in parameter or "AllowedPattern" in parameter, name
        assert parameter.get("ConstraintDescription"), name
    # A StackSet gives every account the same parameters: zones are the account's own (Fn::GetAZs).
    assert "AvailabilityZones" not in p and "AdministratorAccountId" not in p
    assert p["NumberOfAZs"]["AllowedValues"] == ["2", "3"] and p["NumberOfAZs"]["Default"] == "2"
    # Flow logs are evidence: on unless turned off.
    assert p["CreateVPCFlowLogs"]["AllowedValues"] == ["YES", "NO"] and p["CreateVPCFlowLogs"]["Default"] == "YES"
    assert p["UseTargetAccountBoundary"]["AllowedValues"] == ["YES", "NO"]
    assert p["VPCCIDR"]["Default"] == "10.0.0.0/16"
    assert [p[f"PrivateSubnet{i}ACIDR"]["Default"] for i in (1, 2, 3)] == CIDRS
    assert "Default" not in p["EnvType"] and "Default" not in p["ModelBucketName"]  # the stage is always given
    assert cfn.accepts(p["EnvType"], "staging") and not cfn.accepts(p["EnvType"], "Staging")
    assert not cfn.accepts(p["EnvType"], "a-stage-too-long")
    assert cfn.accepts(p["ModelBucketName"], MODEL_BUCKET) and not cfn.accepts(p["ModelBucketName"], "Bucket_1")
    assert cfn.accepts(p["VPCCIDR"], "172.16.0.0/16") and not cfn.accepts(p["VPCCIDR"], "10.0.0.0/8")
    assert not cfn.accepts(p["NumberOfAZs"], "4") and not cfn.accepts(p["CreateVPCFlowLogs"], "yes")
    assert "Rules" not in template  # nothing depends on a combination of parameters


# -- the network -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("zones,flow_logs", SCENARIOS)
def test_private_subnets_in_the_accounts_first_zones(template, zones, flow_logs):
    stack = deploy(template, NumberOfAZs=str(zones), CreateVPCFlowLogs=flow_logs)
    (vpc,) = of_type(stack, "AWS::EC2::VPC").values()
    assert vpc["CidrBlock"] == "10.0.0.0/16"
    assert vpc["EnableDnsSupport"] is True and vpc["EnableDnsHostnames"] is True  # private DNS of the endpoints
    subnets = of_type(stack, "AWS::EC2::Subnet")
    assert sorted(subnets) == [f"PrivateSubnet{n}A" for n in range(1, zones + 1)]
    vpc_id = fake(template, "VPC")
    for i in range(zones):
        subnet = subnets[f"PrivateSubnet{i + 1}A"]
        assert subnet == {
            **subnet,
            "AvailabilityZone": ZONES[i],
            "CidrBlock": CIDRS[i],
            "VpcId": vpc_id,
            "MapPublicIpOnLaunch": False,
        }
    associations = {
        a["SubnetId"]: a["RouteTableId"] for a in of_type(stack, "AWS::EC2::SubnetRouteTableAssociation").values()
    }
    assert associations == {
        fake(template, f"PrivateSubnet{n}A"): fake(template, f"PrivateSubnet{n}ARouteTable")
        for n in range(1, zones + 1)
    }
    assert len(of_type(stack, "AWS::EC2::RouteTable")) == zones
    subnet_ids = [fake(template, f"PrivateSubnet{n}A") for n in range(1, zones + 1)]
    assert stack["Outputs"]["PrivateSubnetIds"]["Value"] == ",".join(subnet_ids)
    # Every interface endpoint has a network interface in every zone; S3 is routed from every subnet.
    for endpoint in interface_endpoints(stack).values():
        assert endpoint["SubnetIds"] == subnet_ids
    assert stack["Resources"]["VPCEndpointS3"]["Properties"]["RouteTableIds"] == [
        fake(template, f"PrivateSubnet{n}ARouteTable") for n in range(1, zones + 1)
    ]
    assert (FLOW_LOG_RESOURCES <= set(stack["Resources"])) == (flow_logs == "YES")


def test_zones_come_from_the_account_by_integer_index(template):
    zones = [r["Properties"]["AvailabilityZone"] for r in cfn.resources(template, "AWS::EC2::Subnet").values()]
    assert zones == [{"Fn::Select": [i, {"Fn::GetAZs": ""}]} for i in range(3)]
    selects = [n["Fn::Select"] for n in walk(template) if isinstance(n, dict) and "Fn::Select" in n]
    assert selects and all(type(index) is int for index, _ in selects)


@pytest.mark.parametrize("zones,flow_logs", SCENARIOS)
def test_internet_free(template, zones, flow_logs):
    """No internet gateway, NAT, Elastic IP, route or other network connection, in any scenario and in the
    template itself; 0.0.0.0/0 appears only as the SageMaker group's HTTPS egress (which no route takes out)."""
    assert not {r["Type"] for r in template["Resources"].values()} & WAYS_OUT
    stack = deploy(template, NumberOfAZs=str(zones), CreateVPCFlowLogs=flow_logs)
    assert not {r["Type"] for r in stack["Resources"].values()} & WAYS_OUT
    anywhere = [lid for lid, r in stack["Resources"].items() if INTERNET in str(r.get("Properties"))]
    assert anywhere == ["SageMakerSecurityGroup"]
    assert all(s["MapPublicIpOnLaunch"] is False for s in of_type(stack, "AWS::EC2::Subnet").values())


# -- security groups ---------------------------------------------------------------------------------------------------
def test_security_group_rules_exactly(template):
    stack = deploy(template, NumberOfAZs="3", CreateVPCFlowLogs="YES")
    groups = of_type(stack, "AWS::EC2::SecurityGroup")
    assert set(groups) == {"SageMakerSecurityGroup", "VPCEndpointsSecurityGroup"}
    sagemaker, endpoints = (fake(template, g, "GroupId") for g in groups)
    vpc_id = fake(template, "VPC")

    def rules(group):
        return [{k: v for k, v in r.items() if k != "Description"} for r in group.get("SecurityGroupEgress", [])]

    # SageMaker endpoints: HTTPS out only (VPC endpoints and S3), nothing in.
    assert (
        groups["SageMakerSecurityGroup"]["VpcId"] == vpc_id
        and "SecurityGroupIngress" not in groups["SageMakerSecurityGroup"]
    )
    assert rules(groups["SageMakerSecurityGroup"]) == [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": INTERNET}
    ]
    # The endpoints: HTTPS from the SageMaker group only, and an egress rule that matches nothing.
    assert groups["VPCEndpointsSecurityGroup"]["VpcId"] == vpc_id
    assert "SecurityGroupIngress" not in groups["VPCEndpointsSecurityGroup"]
    assert rules(groups["VPCEndpointsSecurityGroup"]) == [
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "CidrIp": "127.0.0.1/32"}
    ]
    ingress = of_type(stack, "AWS::EC2::SecurityGroupIngress")
    assert {k: {p: v for p, v in r.items() if p != "Description"} for k, r in ingress.items()} == {
        "VPCEndpointsSecurityGroupHTTPSIngress": {
            "GroupId": endpoints,
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "SourceSecurityGroupId": sagemaker,
        }
    }
    assert not of_type(stack, "AWS::EC2::SecurityGroupEgress")  # no Studio NFS or app-to-app rules here
    for endpoint in interface_endpoints(stack).values():
        assert endpoint["SecurityGroupIds"] == [endpoints]
    assert stack["Outputs"]["SageMakerSecurityGroupIds"]["Value"] == sagemaker


# -- endpoints ---------------------------------------------------------------------------------------------------------
def test_interface_endpoints_with_private_dns(template):
    stack = deploy(template)
    endpoints = interface_endpoints(stack)
    assert {e["ServiceName"] for e in endpoints.values()} == {f"com.amazonaws.{REGION}.{s}" for s in ENDPOINT_SERVICES}
    assert len(endpoints) == len(ENDPOINT_SERVICES)
    for endpoint in endpoints.values():
        assert endpoint["PrivateDnsEnabled"] is True and endpoint["VpcId"] == fake(template, "VPC")
    # The catalogue's endpoints of the target accounts (env-vpc-egress's logical ids), always created here: no
    # toggles.
    catalogue = endpoint_blocks.rows(endpoint_blocks.TARGET_ACCOUNTS, endpoint_blocks.INTERFACE)
    assert {e.service for e in catalogue} == ENDPOINT_SERVICES
    table = {e.logical_id: e for e in endpoint_blocks.ENDPOINTS}
    for logical_id, resource in cfn.resources(template, "AWS::EC2::VPCEndpoint").items():
        assert "Condition" not in resource
        if resource["Properties"]["VpcEndpointType"] == "Interface":
            assert table[logical_id].service in ENDPOINT_SERVICES
            assert resource["Properties"]["PrivateDnsEnabled"] is True
    # KMS only for principals of this account; the other interface endpoints keep the default policy.
    (kms,) = [k for k, e in endpoints.items() if e["ServiceName"].endswith(".kms")]
    (statement,) = endpoints[kms]["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    assert [k for k, e in endpoints.items() if "PolicyDocument" in e] == [kms]


def test_s3_gateway_endpoint_policy_names_the_model_bucket(template, configs):
    stack = deploy(template)
    endpoint = stack["Resources"]["VPCEndpointS3"]["Properties"]
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["ServiceName"] == f"com.amazonaws.{REGION}.s3"
    statements = {s["Sid"]: s for s in endpoint["PolicyDocument"]["Statement"]}
    assert list(statements) == [
        "ModelArtifacts",
        "DataCapture",
        "AccountSageMakerBuckets",
        "CreateAccountSageMakerBuckets",
        "ECRImageLayers",
    ]
    assert statements["DataCapture"]["Action"] == ["s3:PutObject"]
    assert statements["DataCapture"]["Resource"] == ["arn:aws:s3:::" + PARAMS["ModelBucketName"] + "/data-capture/*"]
    model = statements["ModelArtifacts"]
    assert model["Action"] == ["s3:GetObject", "s3:ListBucket"]  # read only
    assert model["Resource"] == [f"arn:aws:s3:::{MODEL_BUCKET}", f"arn:aws:s3:::{MODEL_BUCKET}/*"]
    assert model["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}
    assert statements["ECRImageLayers"]["Resource"] == [f"arn:aws:s3:::prod-{REGION}-starport-layer-bucket/*"]
    assert statements["ECRImageLayers"]["Action"] == ["s3:GetObject"]
    assert statements["AccountSageMakerBuckets"]["Condition"] == {
        "StringEquals": {"s3:ResourceAccount": ACCOUNT, "aws:PrincipalAccount": ACCOUNT}
    }
    # Those two statements are env-vpc-egress's own (one definition).
    egress = build_selected([env_vpc_egress.NAME], BuildContext(configs["default"]))[env_vpc_egress.NAME]
    egress_statements = {
        s["Sid"]: s for s in egress["Resources"]["VPCEndpointS3"]["Properties"]["PolicyDocument"]["Statement"]
    }
    own = {s["Sid"]: s for s in template["Resources"]["VPCEndpointS3"]["Properties"]["PolicyDocument"]["Statement"]}
    for sid in ("AccountSageMakerBuckets", "CreateAccountSageMakerBuckets", "ECRImageLayers"):
        assert own[sid] == egress_statements[sid]
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
        assert not any(a == "s3:*" or a.startswith("s3:PutBucket") for a in statement["Action"])
    assert stack["Outputs"]["VPCEndpointS3Id"]["Value"] == fake(template, "VPCEndpointS3")


# -- flow logs ---------------------------------------------------------------------------------------------------------
def test_flow_logs_are_on_by_default_and_kept(template):
    """Flow logs are evidence: on unless turned off, their log group kept when the stack is deleted."""
    stack = deploy(template)
    assert FLOW_LOG_RESOURCES <= set(stack["Resources"])
    group = template["Resources"]["VPCFlowLogsLogGroup"]
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
    off = deploy(template, CreateVPCFlowLogs="NO")
    assert not FLOW_LOG_RESOURCES & set(off["Resources"])
    assert not of_type(off, "AWS::IAM::Role") and not of_type(off, "AWS::Logs::LogGroup")
    for logical_id in FLOW_LOG_RESOURCES:
        assert template["Resources"][logical_id]["Condition"] == vpc_blocks.FLOW_LOGS


def test_flow_logs_on_create_their_role_under_the_target_account_boundary(template):
    stack = deploy(template, CreateVPCFlowLogs="YES", UseTargetAccountBoundary="YES")
    role = stack["Resources"]["VPCFlowLogsRole"]["Properties"]
    assert role["RoleName"] == f"team1-staging-{REGION}-flow-logs"
    assert role["PermissionsBoundary"] == f"arn:aws:iam::{ACCOUNT}:policy/team1-staging-target-account-boundary"
    # Service-managed StackSets: no setup template in the account, hence no such boundary to carry.
    unbounded = deploy(template, CreateVPCFlowLogs="YES")["Resources"]["VPCFlowLogsRole"]["Properties"]
    assert "PermissionsBoundary" not in unbounded and unbounded["RoleName"] == role["RoleName"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["vpc-flow-logs.amazonaws.com"]}
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"},
    }
    (policy,) = role["Policies"]
    group = "/vpcflowlogs/team1-staging"
    writes = cfn.statement(policy["PolicyDocument"]["Statement"], "FlowLogGroup")
    assert writes["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*",
    ]
    (log_group,) = of_type(stack, "AWS::Logs::LogGroup").values()
    assert log_group["LogGroupName"] == group and log_group["RetentionInDays"] == 365
    (flow_log,) = of_type(stack, "AWS::EC2::FlowLog").values()
    assert flow_log == {
        **flow_log,
        "ResourceId": fake(template, "VPC"),
        "ResourceType": "VPC",
        "LogDestinationType": "cloud-watch-logs",
        "LogGroupName": "VPCFlowLogsLogGroup",
        "DeliverLogsPermissionArn": fake(template, "VPCFlowLogsRole", "Arn"),
        "TrafficType": "ALL",
        "MaxAggregationInterval": 600,
    }


def test_flow_logs_role_is_env_iams(configs, built):
    """Named, trusted and allowed exactly like env-iam's flow logs role (which env-vpc's flow logs use)."""
    for flavour, config in configs.items():
        theirs = build_selected([env_iam.NAME], BuildContext(config))[env_iam.NAME]["Resources"]["VPCFlowLogsRole"]
        ours = built[flavour]["Resources"]["VPCFlowLogsRole"]
        for key in ("RoleName", "Path", "AssumeRolePolicyDocument", "Policies"):
            assert ours["Properties"][key] == theirs["Properties"][key], (flavour, key)
        boundary = ours["Properties"]["PermissionsBoundary"]
        if config.permissions_boundary:
            assert boundary == theirs["Properties"]["PermissionsBoundary"]  # the configured one
            assert "UseTargetAccountBoundary" not in built[flavour]["Parameters"]
        else:
            condition, target, none = boundary["Fn::If"]
            assert built[flavour]["Conditions"][condition] == {
                "Fn::Equals": [{"Ref": "UseTargetAccountBoundary"}, "YES"]
            }
            assert cfn.text(target).endswith(":policy/${EnvName}-${EnvType}-target-account-boundary")
            assert none == {"Ref": "AWS::NoValue"}


# -- the SSM contract, outputs and names -------------------------------------------------------------------------------
@pytest.mark.parametrize("zones", [2, 3])
def test_ssm_contract_for_the_model_endpoints(template, zones):
    stack = deploy(template, NumberOfAZs=str(zones))
    subnets = ",".join(fake(template, f"PrivateSubnet{n}A") for n in range(1, zones + 1))
    assert {p["Name"]: p["Value"] for p in of_type(stack, "AWS::SSM::Parameter").values()} == {
        "team1-staging-vpc-id": fake(template, "VPC"),
        "team1-staging-private-subnet-ids": subnets,
        "team1-staging-sagemaker-sg-ids": fake(template, "SageMakerSecurityGroup", "GroupId"),
        "team1-staging-s3-vpce-id": fake(template, "VPCEndpointS3"),
    }
    assert {k: v["Value"] for k, v in stack["Outputs"].items()} == {
        "VPCId": fake(template, "VPC"),
        "PrivateSubnetIds": subnets,
        "SageMakerSecurityGroupIds": fake(template, "SageMakerSecurityGroup", "GroupId"),
        "VPCEndpointS3Id": fake(template, "VPCEndpointS3"),
    }


def test_physical_names_carry_the_environment(built):
    """SSM names, the role and log group names and every Name tag: two stages (or environments) of one account
    and region never share one."""
    for flavour, template in built.items():
        names = []
        for resource in template["Resources"].values():
            props = resource.get("Properties", {})
            names += [props[k] for k in ("Name", "LogGroupName", "RoleName") if "Fn::Sub" in (props.get(k) or {})]
            tags = props.get("Tags", [])
            names += [t["Value"] for t in (tags if isinstance(tags, list) else []) if t["Key"] == "Name"]
        assert len(names) >= 25, flavour
        for name in names:
            assert "${EnvName}-${EnvType}" in cfn.text(name), (flavour, name)
    stages = [
        {
            p["Name"]
            for p in of_type(
                deploy(built["default"], EnvType=stage, CreateVPCFlowLogs="YES"), "AWS::SSM::Parameter"
            ).values()
        }
        for stage in ("staging", "prod")
    ]
    assert len(stages[0]) == 4 and not stages[0] & stages[1]


@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened", "pinned"])
def test_lint_clean(built, linter, flavour):
    result = linter.lint_text(f"{NAME}.yaml", render(built[flavour], ".yaml").encode("utf-8"))
    assert result.findings == [], "\n".join(map(str, result.findings))


# -- who deploys it ----------------------------------------------------------------------------------------------------
def test_the_setup_stackset_role_deploys_it_with_flow_logs_on(configs, templates):
    """The setup StackSet execution role deploys this template (no longer a planned stand-in) and allows every
    action its resources need with the default parameters: flow logs on, their role under the target-account
    boundary, and the model deployments' guardrails policy."""
    config = configs["default"]
    (setup,) = [d for d in iam_deployers.deployers(config) if d.key == "setup-stackset-role"]
    assert NAME in setup.deploys and not setup.planned
    assert "target-account-network" not in iam_coverage.reviewed()["planned"]
    coverage = iam_deployers.coverage(setup, templates, config)
    ours = [f for f in coverage.findings if f.need.where.startswith(f"{NAME}/")]
    assert len({f.need.where for f in ours}) >= 20
    assert not [f for f in ours if f.status == "missing"]
    # Excused only what the setup role must never do to any role it creates (the reviewed exception).
    assert {f.need.action for f in ours if f.status == "excused"} <= {"iam:DeleteRolePermissionsBoundary"}
    assert {
        r
        for r in FLOW_LOG_RESOURCES | {"EndpointGuardrails"}
        if any(f.need.where.startswith(f"{NAME}/{r} ") for f in ours)
    } == FLOW_LOG_RESOURCES | {"EndpointGuardrails"}


# -- env-vpc and env-vpc-egress are unchanged --------------------------------------------------------------------------
@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened", "pinned"])
def test_env_vpc_and_egress_render_as_their_golden_snapshots(configs, flavour):
    """The functions this template shares with env-vpc and env-vpc-egress still build those byte for byte."""
    files = generate(configs[flavour], [env_vpc.NAME, env_vpc_egress.NAME]).files()
    for name in (env_vpc.NAME, env_vpc_egress.NAME):
        assert files[f"{name}.yaml"] == snapshot(flavour)[f"{name}.yaml"], (flavour, name)
