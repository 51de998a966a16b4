"""End to end: the data science environment templates deployed on a local moto server with the real AWS CLI
(``aws cloudformation create-stack`` with ``--parameters ParameterKey=...``, ``describe-stacks``), the created
resources inspected with boto3.  Nothing reaches the internet or a real AWS account (tests.support_moto).

What is deployed: env-vpc (new network in two zones; an existing VPC with existing subnets), env-vpc-egress on
both networks (NAT gateways; internet-free), env-kms, env-s3, env-iam, and env-main's wiring: its children in
dependency order with the parameter values env-main passes them, computed from env-main's own template and
the outputs the children really produced, then env-main's own resources (guardrail policies, SSM parameters).
env-iam-target-account-roles is covered by tests/test_e2e_deploy.py and is deployed here only as env-main's
child.  ``aws cloudformation validate-template`` runs on every generated template.

Not deployable on moto 5.2.5, and why:
* env-main as one nested stack: ``Fn::GetAtt Child.Outputs.X`` makes CreateStack fail with HTTP 500
  (server: ``AttributeError: 'Stack' object has no attribute 'get_cfn_attribute'``), the parent stays
  CREATE_IN_PROGRESS with only its first child created (test_env_main_nested_stacks_on_moto records it);
  data-science-environment-quickstart nests env-main and core-main the same way.
* env-sagemaker-studio: moto skips ``AWS::SageMaker::Domain``/``UserProfile``, and the ``GetAtt`` on the
  skipped domain is an HTTP 500 (``AttributeError: 'NoneType' object has no attribute 'has_cfn_attr'``);
  its Lambda-backed custom resources never complete without Docker.
* env-sc-portfolio: moto skips every ``AWS::ServiceCatalog::*`` resource, the stack is CREATE_COMPLETE
  with nothing created and the ``MLOpsPortfolioId`` output (a Ref to the skipped portfolio) silently missing.
The wiring test still checks what env-main passes to these two against their parameters and Rules.

moto faults on valid templates.  Every template is deployed in CloudFormation's long form (JSON, what
``generate.py build --format json`` writes): moto's YAML loader reads the short form ``!Condition X`` as
``Fn::Condition``, which its condition evaluation does not know (``!And``/``!Or`` of conditions are false,
``!Not`` true).  The other faults are worked around on that copy, each by the function named after it, which
removes exactly that one property and fails if the template no longer has it:
* ``AWS::SSM::Parameter`` ``Tags`` (a JSON map in CloudFormation) -> HTTP 500, server:
  ``TypeError: string indices must be integers, not 'str'`` (moto/ssm/models.py put_parameter);
* ``AWS::KMS::Key`` ``Tags`` -> HTTP 500, server: ``KeyError: 'TagKey'`` (moto/utilities/tagging_service.py);
* ``AWS::EC2::FlowLog`` ``MaxAggregationInterval`` from a Ref to a ``Number`` parameter arrives as the
  string '600', moto compares it with the ints 60/600: ``InvalidParameter: Invalid Flow Log Max Aggregation
  Interval`` (without the property moto uses 600, the template's default).

What moto creates but does not apply (so the tests do not look for it; the offline tests of the templates,
tests/test_env_network.py, test_env_data.py, test_env_iam.py, check these properties on the templates):
* EC2: ``EnableDnsSupport``/``EnableDnsHostnames`` of a VPC; ``Tags`` of route tables, VPC endpoints, NAT and
  internet gateways, EIPs; ``SecurityGroupEgress`` of a security group and ``AWS::EC2::SecurityGroupEgress``
  (skipped: every group keeps the allow-all egress rule); ``Description`` of ingress rules; route table
  associations made by CloudFormation are not shown by DescribeRouteTables;
* S3: versioning, public access block, ownership controls, access logging, lifecycle, EventBridge
  notifications, ``BucketKeyEnabled`` and ``BlockedEncryptionTypes``; ``AWS::S3::BucketPolicy`` is skipped;
* IAM: ``ManagedPolicyArns`` of ``AWS::IAM::Role`` (the ``Roles`` of ``AWS::IAM::ManagedPolicy`` are applied);
* KMS: keys made by CloudFormation keep their policy as a dict, so DescribeKey answers HTTP 500
  (``TypeError: the JSON object must be str, bytes or bytearray, not dict`` in moto/kms/policy_validator.py);
  GetKeyPolicy, GetKeyRotationStatus, ListAliases, Encrypt work;
* CloudFormation: parameter constraints and ``Rules`` are not evaluated (the wiring test evaluates them);
  ``AWS::ResourceGroups::Group`` is skipped.
"""

from __future__ import annotations

import fnmatch
import json
import pathlib
import re
import subprocess
import sys

import pytest

from templates_src.blocks import endpoints
from tests import cfn
from tests.support_moto import (
    ACCOUNT_ID,
    REGION,
    as_list,
    aws,
    moto_limitation,
    policy_document,
    stack_outputs,
    statements,
    wait_for_stack,
)
from tests.test_env_network import default_interface_endpoints

pytestmark = pytest.mark.e2e

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV_NAME, ENV_TYPE = "sm-mlops", "dev"
PREFIX = f"{ENV_NAME}-{ENV_TYPE}"
AZS = ("us-east-1a", "us-east-1b")
SEED_BUCKET = "sm-mlops-seed-code"
DATA_BUCKET = f"{PREFIX}-{REGION}-{ACCOUNT_ID}-data"
MODEL_BUCKET = f"{PREFIX}-{REGION}-{ACCOUNT_ID}-models"
LOGS_BUCKET = f"{PREFIX}-{REGION}-{ACCOUNT_ID}-logs"
# CloudFormation accepts at most 51,200 bytes as TemplateBody (what the CLI sends for --template-body);
# larger templates must come from S3 (--template-url), as a user uploads them.
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_BUCKET = f"cfn-templates-{ACCOUNT_ID}-{REGION}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


# The roles env-iam creates, by the names it gives them.
EXECUTION_ROLE = f"{PREFIX}-{REGION}-sm-execution"
PIPELINE_ROLE = f"{PREFIX}-{REGION}-sm-pipeline"
BUILD_ROLE = f"{PREFIX}-{REGION}-sm-model-build"
DEPLOY_ROLE = f"{PREFIX}-{REGION}-sm-model-deploy"
SCIENTIST_ROLE = f"{PREFIX}-{REGION}-data-scientist"
TEAM_ADMIN_ROLE = f"{PREFIX}-{REGION}-ds-team-admin"
FLOW_LOGS_ROLE = f"{PREFIX}-{REGION}-flow-logs"
STACKSET_ADMIN_ROLE = f"{PREFIX}-stackset-admin"
DEPLOYMENT_ADMIN_ROLE = f"{PREFIX}-deploy-admin"
# The core's platform boundary, as env-main imports it (by the core's name, env-main's default CoreStackSetName).
CORE_NAME = "sm-mlops-core"
PLATFORM_BOUNDARY = f"arn:aws:iam::{ACCOUNT_ID}:policy/{CORE_NAME}-{REGION}-platform-boundary"
CORE_EXPORTS = {f"{CORE_NAME}-platform-boundary-arn": PLATFORM_BOUNDARY}


def create_platform_boundary(server) -> str:
    """The platform boundary the core creates (a stand-in document: moto enforces no boundary)."""
    iam = server.client("iam")
    try:
        iam.get_policy(PolicyArn=PLATFORM_BOUNDARY)
    except iam.exceptions.NoSuchEntityException:
        iam.create_policy(
            PolicyName=PLATFORM_BOUNDARY.rsplit("/", 1)[1],
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "sagemaker:Describe*", "Resource": "*"}],
                }
            ),
        )
    return PLATFORM_BOUNDARY


# The interface endpoints' toggles, and those env-vpc-egress creates by default in a new VPC (the Studio Classic
# notebook endpoint is off).
INTERFACE_TOGGLES = tuple(e.toggle for e in endpoints.created(endpoints.ENVIRONMENT))
DEFAULT_INTERFACE_ENDPOINTS = default_interface_endpoints(REGION)


# --------------------------------------------------------------------------------------------------------------
# Building, adapting and deploying templates


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> pathlib.Path:
    """Every template, built by the generator's own command line into a temporary directory."""
    output = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "generate.py"), "build", "--output-dir", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"generate.py build exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return output


def load(path: pathlib.Path) -> dict:
    return cfn.load(path.read_text())


def without_ssm_parameter_tags(template: dict) -> None:
    """moto: ``Tags`` of AWS::SSM::Parameter -> HTTP 500 (TypeError: string indices must be integers, not 'str')."""
    tagged = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Parameter" and "Tags" in r["Properties"]
    ]
    assert tagged, "no tagged SSM parameter left: drop this adaptation"
    for resource in tagged:
        del resource["Properties"]["Tags"]


def without_kms_key_tags(template: dict) -> None:
    """moto: ``Tags`` of AWS::KMS::Key -> HTTP 500 (KeyError: 'TagKey')."""
    tagged = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key" and "Tags" in r["Properties"]]
    assert tagged, "no tagged KMS key left: drop this adaptation"
    for resource in tagged:
        del resource["Properties"]["Tags"]


def without_flow_log_max_aggregation_interval(template: dict) -> None:
    """moto: MaxAggregationInterval from a Number parameter is the string '600', moto wants the int:
    ``InvalidParameter: Invalid Flow Log Max Aggregation Interval``.  moto then uses 600, the default."""
    logs = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::EC2::FlowLog" and "MaxAggregationInterval" in r["Properties"]
    ]
    assert logs, "no flow log with MaxAggregationInterval left: drop this adaptation"
    for resource in logs:
        del resource["Properties"]["MaxAggregationInterval"]


# What each template needs to be deployable on moto 5.2.5 (templates not listed deploy unchanged).
MOTO_ADAPTATIONS = {
    "env-vpc.yaml": (without_ssm_parameter_tags, without_flow_log_max_aggregation_interval),
    "env-vpc-egress.yaml": (without_ssm_parameter_tags,),
    "env-kms.yaml": (without_ssm_parameter_tags, without_kms_key_tags),
    "env-main.yaml": (without_ssm_parameter_tags,),
}


def for_moto(build_dir: pathlib.Path, name: str) -> dict:
    """The built template in CloudFormation's long form (what ``generate.py build --format json`` writes), with
    exactly the adaptations moto needs.  Long form, because moto's YAML loader turns the short form
    ``!Condition X`` into ``{"Fn::Condition": X}`` (CloudFormation's long form is ``{"Condition": X}``), which
    its condition evaluation does not know: ``!And``/``!Or`` of conditions come out false and ``!Not`` true,
    so a YAML env-vpc would create a new VPC whatever CreateVPC says and env-iam would lose its console links."""
    template = load(build_dir / name)
    for adapt in MOTO_ADAPTATIONS.get(name, ()):
        adapt(template)
    return template


def template_argument(server, path: pathlib.Path) -> list[str]:
    """--template-body file://... or, above CloudFormation's TemplateBody limit, --template-url of an upload."""
    body = path.read_bytes()
    if len(body) <= TEMPLATE_BODY_LIMIT:
        return ["--template-body", path.as_uri()]
    s3 = server.client("s3")
    if TEMPLATE_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=TEMPLATE_BUCKET)
    s3.put_object(Bucket=TEMPLATE_BUCKET, Key=path.name, Body=body)
    return ["--template-url", f"https://{TEMPLATE_BUCKET}.s3.{REGION}.amazonaws.com/{path.name}"]


def parameters_argument(values: dict[str, str], path: pathlib.Path) -> list[str]:
    """--parameters in the CLI's shorthand (ParameterKey=K,ParameterValue=V, commas in values escaped as the CLI
    documents: a\\,b), or, for values the shorthand cannot carry (braces, brackets, quotes: the flow log
    format's ${field}s), a JSON parameter file, as a user passes those."""
    if not values:
        return []
    if all(re.fullmatch(r"[^{}\[\]\"'=]*", v) for v in values.values()):
        escaped = {k: v.replace(",", "\\,") for k, v in values.items()}
        return ["--parameters", *(f"ParameterKey={k},ParameterValue={v}" for k, v in escaped.items())]
    path.write_text(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]))
    return ["--parameters", path.as_uri()]


def create_stack(server, stack_name: str, template: dict, parameters: dict[str, str], workdir: pathlib.Path) -> dict:
    """``aws cloudformation create-stack`` as a user runs it; the created stack (CREATE_COMPLETE) from boto3."""
    path = workdir / f"{stack_name}.json"
    path.write_text(json.dumps(template, separators=(",", ":")))
    aws(
        server,
        "cloudformation",
        "create-stack",
        "--stack-name",
        stack_name,
        *template_argument(server, path),
        "--capabilities",
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        *parameters_argument(parameters, workdir / f"{stack_name}-parameters.json"),
    )
    stack = wait_for_stack(server, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return stack


def cli_outputs(server, stack_name: str) -> dict[str, str]:
    """The stack's outputs as ``aws cloudformation describe-stacks`` shows them."""
    _, outputs, _ = aws(
        server,
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack_name,
        "--query",
        "Stacks[0].Outputs[*].[OutputKey, OutputValue]",
    )
    return dict(map(tuple, outputs or []))


def in_vpc(vpc_id: str) -> list[dict]:
    return [{"Name": "vpc-id", "Values": [vpc_id]}]


def attached_to(vpc_id: str) -> list[dict]:
    return [{"Name": "attachment.vpc-id", "Values": [vpc_id]}]


def tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def ssm_values(server, *names: str) -> dict[str, str]:
    found = server.client("ssm").get_parameters(Names=list(names))["Parameters"]
    return {p["Name"]: p["Value"] for p in found}


def by_sid(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in statements(document)}


# --------------------------------------------------------------------------------------------------------------
# env-vpc and env-vpc-egress


def vpc_parameters(**overrides: str) -> dict[str, str]:
    return {
        "EnvName": ENV_NAME,
        "EnvType": ENV_TYPE,
        "AvailabilityZones": ",".join(AZS),
        "VPCFlowLogsRoleArn": role_arn(FLOW_LOGS_ROLE),
        **overrides,
    }


def egress_parameters(network: dict[str, str], **overrides: str) -> dict[str, str]:
    return {
        "EnvName": ENV_NAME,
        "EnvType": ENV_TYPE,
        "VPCId": network["VPCId"],
        "AvailabilityZones": ",".join(AZS),
        "PrivateSubnetIds": network["PrivateSubnetIds"],
        "PrivateRouteTableIds": network["PrivateRouteTableIds"],
        "VPCEndpointsSecurityGroupId": network["VPCEndpointsSecurityGroupId"],
        "DataBucketName": DATA_BUCKET,
        "ModelBucketName": MODEL_BUCKET,
        "SeedCodeS3BucketName": SEED_BUCKET,
        **overrides,
    }


def assert_security_groups(ec2, network: dict[str, str], vpc_id: str) -> None:
    sagemaker_sg, endpoints_sg = network["SageMakerSecurityGroupIds"], network["VPCEndpointsSecurityGroupId"]
    found = ec2.describe_security_groups(GroupIds=[sagemaker_sg, endpoints_sg])["SecurityGroups"]
    groups = {g["GroupId"]: g for g in found}
    assert {g["VpcId"] for g in groups.values()} == {vpc_id}

    def ingress(group_id):
        return sorted(
            (
                p["IpProtocol"],
                p.get("FromPort"),
                p.get("ToPort"),
                tuple(sorted(pair["GroupId"] for pair in p["UserIdGroupPairs"])),
                tuple(r["CidrIp"] for r in p["IpRanges"]),
            )
            for p in groups[group_id]["IpPermissions"]
        )

    # NFS to the home file system and app-to-app traffic only among Studio apps and jobs themselves.
    assert ingress(sagemaker_sg) == [
        ("tcp", 2049, 2049, (sagemaker_sg,), ()),
        ("tcp", 8192, 65535, (sagemaker_sg,), ()),
    ]
    # The endpoints accept HTTPS from the SageMaker group only.
    assert ingress(endpoints_sg) == [("tcp", 443, 443, (sagemaker_sg,), ())]
    # Egress rules are not checked: moto ignores SecurityGroupEgress (see the module docstring).


def assert_interface_endpoints(ec2, vpc_id: str, subnets: list[str], endpoints_sg: str, expected: set[str]) -> dict:
    found = ec2.describe_vpc_endpoints(Filters=in_vpc(vpc_id))["VpcEndpoints"]
    interface = {e["ServiceName"]: e for e in found if e["VpcEndpointType"] == "Interface"}
    assert set(interface) == expected
    for name, endpoint in interface.items():
        assert endpoint["PrivateDnsEnabled"] is True, name
        assert sorted(endpoint["SubnetIds"]) == sorted(subnets), name
        assert [g["GroupId"] for g in endpoint["Groups"]] == [endpoints_sg], name
    return interface


def assert_kms_endpoint_policy(endpoint: dict) -> None:
    [statement] = statements(policy_document(endpoint["PolicyDocument"]))
    assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}


def assert_s3_gateway_endpoint(ec2, vpc_id: str, route_tables: list[str], endpoint_id: str) -> None:
    [endpoint] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    assert endpoint["VpcId"] == vpc_id
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["ServiceName"] == f"com.amazonaws.{REGION}.s3"
    assert sorted(endpoint["RouteTableIds"]) == sorted(route_tables)
    policy = by_sid(policy_document(endpoint["PolicyDocument"]))
    assert set(policy["EnvironmentBuckets"]["Resource"]) == {
        f"arn:aws:s3:::{b}{suffix}" for b in (DATA_BUCKET, MODEL_BUCKET) for suffix in ("", "/*")
    }
    assert policy["EnvironmentBuckets"]["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}
    assert as_list(policy["SeedCodeRead"]["Resource"]) == [f"arn:aws:s3:::{SEED_BUCKET}/*"]
    assert as_list(policy["ECRImageLayers"]["Resource"]) == [f"arn:aws:s3:::prod-{REGION}-starport-layer-bucket/*"]
    assert as_list(policy["CloudFormationResponses"]["Resource"]) == [
        "arn:aws:s3:::cloudformation-custom-resource-response-useast1/*"
    ]
    for sid, statement in policy.items():
        assert statement["Effect"] == "Allow" and "*" not in as_list(statement["Action"]), sid
    # Every private route table sends S3 traffic to the endpoint.
    for table in ec2.describe_route_tables(RouteTableIds=route_tables)["RouteTables"]:
        assert [r["DestinationPrefixListId"] for r in table["Routes"] if r.get("GatewayId") == endpoint_id], table


def test_env_vpc_new_network_in_two_zones_with_nat_egress(moto, build_dir, tmp_path):
    """A new VPC: two private subnets and route tables in two zones, security groups, flow logs, SSM
    parameters; then env-vpc-egress on it with NAT gateways: endpoints, S3 gateway endpoint, one NAT per zone."""
    create_stack(moto, "sm-mlops-dev-vpc", for_moto(build_dir, "env-vpc.yaml"), vpc_parameters(), tmp_path)
    network = cli_outputs(moto, "sm-mlops-dev-vpc")
    assert set(network) == {
        "VPCId",
        "VPCCIDR",
        "PrivateSubnetIds",
        "PrivateRouteTableIds",
        "SageMakerSecurityGroupIds",
        "VPCEndpointsSecurityGroupId",
    }
    ec2 = moto.client("ec2")
    vpc_id = network["VPCId"]
    [vpc] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpc["CidrBlock"] == network["VPCCIDR"] == "10.0.0.0/16"
    assert tags(vpc)["Name"] == f"{PREFIX}-vpc"

    subnets = network["PrivateSubnetIds"].split(",")
    route_tables = network["PrivateRouteTableIds"].split(",")
    assert len(subnets) == len(route_tables) == 2
    found = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    # In zone order: subnet i in zone i, with the default CIDR blocks.
    assert [(found[s]["AvailabilityZone"], found[s]["CidrBlock"]) for s in subnets] == [
        ("us-east-1a", "10.0.0.0/19"),
        ("us-east-1b", "10.0.32.0/19"),
    ]
    for i, subnet in enumerate(subnets, start=1):
        assert found[subnet]["VpcId"] == vpc_id and found[subnet]["MapPublicIpOnLaunch"] is False
        assert tags(found[subnet])["Name"] == f"{PREFIX}-private-subnet-{i}"
    tables = ec2.describe_route_tables(RouteTableIds=route_tables)["RouteTables"]
    assert {t["VpcId"] for t in tables} == {vpc_id}
    # Private: nothing but the local route before env-vpc-egress.
    assert [[r.get("GatewayId") for r in t["Routes"]] for t in tables] == [["local"], ["local"]]

    assert_security_groups(ec2, network, vpc_id)

    [flow_log] = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    assert flow_log["LogDestinationType"] == "cloud-watch-logs"
    assert flow_log["LogGroupName"] == f"/vpcflowlogs/{PREFIX}"
    assert flow_log["DeliverLogsPermissionArn"] == role_arn(FLOW_LOGS_ROLE)
    assert flow_log["TrafficType"] == "ALL"
    assert flow_log["LogFormat"].startswith("${version} ${account-id} ${interface-id}")
    [group] = moto.client("logs").describe_log_groups(logGroupNamePrefix=f"/vpcflowlogs/{PREFIX}")["logGroups"]
    assert str(group["retentionInDays"]) == "365"  # moto keeps the Number parameter as the string '365'

    assert ssm_values(moto, f"{PREFIX}-vpc-id", f"{PREFIX}-private-subnet-ids", f"{PREFIX}-sagemaker-sg-ids") == {
        f"{PREFIX}-vpc-id": vpc_id,
        f"{PREFIX}-private-subnet-ids": network["PrivateSubnetIds"],
        f"{PREFIX}-sagemaker-sg-ids": network["SageMakerSecurityGroupIds"],
    }

    # env-vpc-egress on this network, with NAT gateways (the default).
    stack = create_stack(
        moto,
        "sm-mlops-dev-vpc-egress",
        for_moto(build_dir, "env-vpc-egress.yaml"),
        egress_parameters(network),
        tmp_path,
    )
    egress = stack_outputs(stack)
    assert set(egress) == {"VPCEndpointS3Id", "VPCEndpointKMSId", "NATGatewayIds"}
    interface = assert_interface_endpoints(
        ec2, vpc_id, subnets, network["VPCEndpointsSecurityGroupId"], DEFAULT_INTERFACE_ENDPOINTS
    )
    assert interface[f"com.amazonaws.{REGION}.kms"]["VpcEndpointId"] == egress["VPCEndpointKMSId"]
    assert_kms_endpoint_policy(interface[f"com.amazonaws.{REGION}.kms"])
    assert_s3_gateway_endpoint(ec2, vpc_id, route_tables, egress["VPCEndpointS3Id"])

    [igw] = ec2.describe_internet_gateways(Filters=attached_to(vpc_id))["InternetGateways"]
    nat_ids = egress["NATGatewayIds"].split(",")
    nats = {n["NatGatewayId"]: n for n in ec2.describe_nat_gateways(NatGatewayIds=nat_ids)["NatGateways"]}
    public_ids = [nats[n]["SubnetId"] for n in nat_ids]
    public = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=public_ids)["Subnets"]}
    # One NAT gateway with an elastic IP in a public subnet of each zone, in zone order.
    assert [(public[s]["AvailabilityZone"], public[s]["CidrBlock"]) for s in public_ids] == [
        ("us-east-1a", "10.0.128.0/20"),
        ("us-east-1b", "10.0.144.0/20"),
    ]
    assert all(n["NatGatewayAddresses"][0]["AllocationId"].startswith("eipalloc-") for n in nats.values())
    assert all(s["MapPublicIpOnLaunch"] is False for s in public.values())
    # The public route table: default route to the internet gateway.
    to_igw = {
        t["RouteTableId"]: [
            r["DestinationCidrBlock"] for r in t["Routes"] if r.get("GatewayId") == igw["InternetGatewayId"]
        ]
        for t in ec2.describe_route_tables(Filters=in_vpc(vpc_id))["RouteTables"]
    }
    assert [routes for routes in to_igw.values() if routes] == [["0.0.0.0/0"]]
    # Private route table i: default route to the NAT gateway of zone i.
    tables = {t["RouteTableId"]: t for t in ec2.describe_route_tables(RouteTableIds=route_tables)["RouteTables"]}
    assert [
        [r["NatGatewayId"] for r in tables[t]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        for t in route_tables
    ] == [[n] for n in nat_ids]

    assert ssm_values(moto, f"{PREFIX}-s3-vpce-id", f"{PREFIX}-kms-vpce-id") == {
        f"{PREFIX}-s3-vpce-id": egress["VPCEndpointS3Id"],
        f"{PREFIX}-kms-vpce-id": egress["VPCEndpointKMSId"],
    }


def test_env_vpc_existing_network_and_internet_free_egress(moto, build_dir, tmp_path):
    """An existing VPC with existing private subnets and route tables: env-vpc creates only security groups and
    SSM parameters on it; env-vpc-egress without NAT gateways creates no way to the internet."""
    ec2 = moto.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):  # what the endpoints' private DNS needs
        ec2.modify_vpc_attribute(VpcId=vpc_id, **{attribute: {"Value": True}})
    subnets, route_tables = [], []
    for i, zone in enumerate(AZS):
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i * 16}.0/20", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
        subnets.append(subnet)
        route_tables.append(table)
    before = {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "route tables": len(ec2.describe_route_tables()["RouteTables"]),
    }

    stack = create_stack(
        moto,
        "sm-mlops-dev-vpc",
        for_moto(build_dir, "env-vpc.yaml"),
        vpc_parameters(
            CreateVPC="NO",
            ExistingVPCId=vpc_id,
            CreatePrivateSubnets="NO",
            ExistingPrivateSubnetIds=",".join(subnets),
            ExistingPrivateRouteTableIds=",".join(route_tables),
            CreateVPCFlowLogsToCloudWatch="NO",
            VPCFlowLogsRoleArn="",
        ),
        tmp_path,
    )
    network = stack_outputs(stack)
    # The existing network passed through, in the order given; no VPC CIDR output without a new VPC.
    assert network["VPCId"] == vpc_id and "VPCCIDR" not in network
    assert network["PrivateSubnetIds"].split(",") == subnets
    assert network["PrivateRouteTableIds"].split(",") == route_tables
    assert {
        "vpcs": len(ec2.describe_vpcs()["Vpcs"]),
        "subnets": len(ec2.describe_subnets()["Subnets"]),
        "route tables": len(ec2.describe_route_tables()["RouteTables"]),
    } == before
    assert_security_groups(ec2, network, vpc_id)
    assert ec2.describe_flow_logs()["FlowLogs"] == []
    assert moto.client("logs").describe_log_groups(logGroupNamePrefix="/vpcflowlogs/")["logGroups"] == []
    assert ssm_values(moto, f"{PREFIX}-vpc-id", f"{PREFIX}-private-subnet-ids") == {
        f"{PREFIX}-vpc-id": vpc_id,
        f"{PREFIX}-private-subnet-ids": ",".join(subnets),
    }

    # Internet-free in the existing VPC: its own endpoints serve (Auto creates none there), except those asked
    # for, here every one but CodeCommit's Git endpoint, and the notebook one.
    asked = {name: "YES" for name in INTERFACE_TOGGLES}
    stack = create_stack(
        moto,
        "sm-mlops-dev-vpc-egress",
        for_moto(build_dir, "env-vpc-egress.yaml"),
        egress_parameters(
            network,
            CreateVPC="NO",
            CreateNATGateways="NO",
            **{**asked, "CreateCodeCommitVPCEndpoint": "NO", "CreateSageMakerNotebookVPCEndpoint": "YES"},
        ),
        tmp_path,
    )
    egress = stack_outputs(stack)
    assert set(egress) == {"VPCEndpointS3Id", "VPCEndpointKMSId"}  # no NATGatewayIds
    assert_interface_endpoints(
        ec2,
        vpc_id,
        subnets,
        network["VPCEndpointsSecurityGroupId"],
        DEFAULT_INTERFACE_ENDPOINTS - {f"com.amazonaws.{REGION}.git-codecommit"}
        | {f"aws.sagemaker.{REGION}.notebook"}
        # asked for too: the package mirror's endpoints (Auto creates them only with the mirror)
        | {f"com.amazonaws.{REGION}.{e.service}" for e in endpoints.rows(endpoints.ENVIRONMENT) if e.with_mirror},
    )
    assert_s3_gateway_endpoint(ec2, vpc_id, route_tables, egress["VPCEndpointS3Id"])
    # No way out: no internet gateway, NAT gateway, elastic IP, public subnet or default route.
    assert ec2.describe_internet_gateways()["InternetGateways"] == []
    assert ec2.describe_nat_gateways()["NatGateways"] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert sorted(s["SubnetId"] for s in ec2.describe_subnets(Filters=in_vpc(vpc_id))["Subnets"]) == sorted(subnets)
    for table in ec2.describe_route_tables(Filters=in_vpc(vpc_id))["RouteTables"]:
        assert not [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"], table


# --------------------------------------------------------------------------------------------------------------
# env-kms

KEYS = {  # output prefix -> (alias, SSM parameter)
    "SagemakerEBSKMSKey": (f"alias/{PREFIX}-kms-ebs", f"{PREFIX}-kms-ebs-key-arn"),
    "SageMakerStudioStorageKMSKey": (f"alias/{PREFIX}-kms-efs", f"{PREFIX}-kms-efs-key-arn"),
    "S3BucketKMSKey": (f"alias/{PREFIX}-kms-s3", f"{PREFIX}-kms-s3-key-arn"),
}


def assert_key_policy(document: dict, *, users: list[str]) -> None:
    statements_ = by_sid(document)
    base = [
        "EnableIAMPolicies",
        "KeyUsers",
        "KeyUsersGrantsForAWSResources",
        "DenyKeyAdministrationToEnvironmentRoles",
        "DenyGrantsNotForAWSResources",
    ]
    # The S3 key also lets the model execution roles of the deployment accounts decrypt models through S3, the
    # EBS key their model deployment StackSet execution role create grants for endpoint volumes.
    assert list(statements_) in (
        base,
        base + ["TargetAccountsDecryptModels"],
        base + ["TargetAccountsDescribeEndpointVolumeKey", "TargetAccountsEncryptEndpointVolumes"],
    )
    assert statements_["EnableIAMPolicies"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    assert as_list(statements_["KeyUsers"]["Principal"]["AWS"]) == users
    assert set(as_list(statements_["KeyUsers"]["Action"])) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
    }
    grants = statements_["KeyUsersGrantsForAWSResources"]
    assert as_list(grants["Principal"]["AWS"]) == users
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    deny = statements_["DenyKeyAdministrationToEnvironmentRoles"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert as_list(deny["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == users  # none administers a key
    assert {"kms:ScheduleKeyDeletion", "kms:Put*", "kms:Disable*"} <= set(as_list(deny["Action"]))
    assert statements_["DenyGrantsNotForAWSResources"]["Effect"] == "Deny"


def test_env_kms_keys_rotate_and_their_users_never_administer_them(moto, build_dir, tmp_path):
    """Three keys with rotation, their aliases and SSM parameters; key policies for the given roles, and with the
    optional persona roles left out (the account administers the keys through IAM)."""
    template = for_moto(build_dir, "env-kms.yaml")
    # KMS refuses a key policy naming a principal that does not exist (moto does not check): create them first.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    for name in (EXECUTION_ROLE, PIPELINE_ROLE, BUILD_ROLE, DEPLOY_ROLE, SCIENTIST_ROLE, TEAM_ADMIN_ROLE):
        moto.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    roles = {
        "SageMakerExecutionRoleArn": role_arn(EXECUTION_ROLE),
        "SageMakerPipelineExecutionRoleArn": role_arn(PIPELINE_ROLE),
        "SageMakerModelBuildRoleArn": role_arn(BUILD_ROLE),
        "SageMakerModelDeployRoleArn": role_arn(DEPLOY_ROLE),
        "DataScientistRoleArn": role_arn(SCIENTIST_ROLE),
        "DSTeamAdministratorRoleArn": role_arn(TEAM_ADMIN_ROLE),
    }
    stack = create_stack(
        moto, "sm-mlops-dev-kms", template, {"EnvName": ENV_NAME, "EnvType": ENV_TYPE, **roles}, tmp_path
    )
    outputs = stack_outputs(stack)
    assert set(outputs) == {f"{key}{suffix}" for key in KEYS for suffix in ("Arn", "Id")}

    kms = moto.client("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    key_ids = [outputs[f"{key}Id"] for key in KEYS]
    assert len(set(key_ids)) == 3
    assert set(key_ids) <= {k["KeyId"] for k in kms.list_keys()["Keys"]}
    for key, (alias, parameter) in KEYS.items():
        key_id, arn = outputs[f"{key}Id"], outputs[f"{key}Arn"]
        assert arn == f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"
        assert aliases[alias] == key_id
        assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
        assert_key_policy(
            policy_document(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]),
            users=[
                role_arn(n)
                for n in (EXECUTION_ROLE, PIPELINE_ROLE, BUILD_ROLE, DEPLOY_ROLE, SCIENTIST_ROLE, TEAM_ADMIN_ROLE)
            ],
        )
        assert ssm_values(moto, parameter) == {parameter: arn}
        # The key works (moto's DescribeKey fails on keys made by CloudFormation: see the module docstring).
        assert kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"] == arn

    # Another stage, without the optional persona roles.
    stack = create_stack(
        moto,
        "sm-mlops-test-kms",
        template,
        {
            "EnvName": ENV_NAME,
            "EnvType": "test",
            "SageMakerExecutionRoleArn": role_arn(EXECUTION_ROLE),
            "SageMakerPipelineExecutionRoleArn": role_arn(PIPELINE_ROLE),
            "SageMakerModelBuildRoleArn": role_arn(BUILD_ROLE),
            "SageMakerModelDeployRoleArn": role_arn(DEPLOY_ROLE),
        },
        tmp_path,
    )
    key_id = stack_outputs(stack)["S3BucketKMSKeyId"]
    assert {a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]} == {f"alias/{ENV_NAME}-test-kms-s3"}
    assert_key_policy(
        policy_document(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]),
        users=[role_arn(n) for n in (EXECUTION_ROLE, PIPELINE_ROLE, BUILD_ROLE, DEPLOY_ROLE)],
    )


# --------------------------------------------------------------------------------------------------------------
# env-s3


def test_env_s3_buckets_encrypted_with_the_environment_key(moto, build_dir, tmp_path):
    """The data, model and access-log buckets with their names, encryption and tags, and the exports.

    moto creates the buckets and applies their encryption (algorithm and key) and tags; it ignores versioning,
    the public access block, ownership controls, access logging, lifecycle rules, EventBridge notifications,
    BucketKeyEnabled and BlockedEncryptionTypes, and skips the three AWS::S3::BucketPolicy resources (TLS only,
    S3 endpoint only, the environment's key only).  Those are checked on the template by tests/test_env_data.py.
    """
    key_arn = moto.client("kms").create_key(Description="environment S3 key")["KeyMetadata"]["Arn"]
    ec2 = moto.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName=f"com.amazonaws.{REGION}.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    # No adaptation: moto deploys the template as it is.
    stack = create_stack(
        moto,
        "sm-mlops-dev-s3",
        for_moto(build_dir, "env-s3.yaml"),
        {
            "EnvName": ENV_NAME,
            "EnvType": ENV_TYPE,
            "DataBucketName": DATA_BUCKET,
            "ModelBucketName": MODEL_BUCKET,
            "VPCEndpointS3Id": endpoint,
            "S3BucketKMSKeyId": key_arn,
        },
        tmp_path,
    )
    assert stack_outputs(stack) == {
        "DataBucketName": DATA_BUCKET,
        "ModelBucketName": MODEL_BUCKET,
        "LogsBucketName": LOGS_BUCKET,
        "DataBucketArn": f"arn:aws:s3:::{DATA_BUCKET}",
        "ModelBucketArn": f"arn:aws:s3:::{MODEL_BUCKET}",
    }

    s3 = moto.client("s3")
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {DATA_BUCKET, MODEL_BUCKET, LOGS_BUCKET}
    for bucket in (DATA_BUCKET, MODEL_BUCKET):
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    # The access-log bucket: SSE-S3, which S3 server access logging requires.
    [rule] = s3.get_bucket_encryption(Bucket=LOGS_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    for bucket in (DATA_BUCKET, MODEL_BUCKET, LOGS_BUCKET):
        assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]} == {
            "Solution": "sagemaker-secure-mlops"
        }
    exports = {e["Name"]: e["Value"] for e in moto.client("cloudformation").list_exports()["Exports"]}
    assert exports == {f"{PREFIX}-data-bucket-name": DATA_BUCKET, f"{PREFIX}-model-bucket-name": MODEL_BUCKET}


# --------------------------------------------------------------------------------------------------------------
# env-iam


def inline_policy(iam, role: str, name: str) -> dict:
    return policy_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])


def managed_policy(iam, arn: str) -> dict:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return policy_document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])


def attached_or_declared(server, stack_name: str, template: dict, logical_id: str, role: str) -> list[str]:
    """Managed policy ARNs of a role: as IAM reports them, or (moto ignores ManagedPolicyArns of
    AWS::IAM::Role) the ARNs of the stack's policies the role's template refers to."""
    attached = server.client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    if attached:
        return sorted(p["PolicyArn"] for p in attached)
    resources = server.client("cloudformation").describe_stack_resources(StackName=stack_name)["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId")}
    refs = template["Resources"][logical_id]["Properties"].get("ManagedPolicyArns", [])
    assert all(set(r) == {"Ref"} for r in refs), refs
    return sorted(physical[r["Ref"]] for r in refs)


def test_env_iam_roles_trust_policies_and_names(moto, build_dir, tmp_path):
    """Every role with its name, trust, boundary and policies, the managed policies and the outputs; then a second
    stage without the persona roles and the flow-logs role, with a custom StackSet setup role name."""
    template = for_moto(build_dir, "env-iam.yaml")  # no adaptation
    iam = moto.client("iam")
    boundary = create_platform_boundary(moto)  # the parameter env-main passes
    stack = create_stack(
        moto,
        "sm-mlops-dev-iam",
        template,
        {
            "EnvName": ENV_NAME,
            "EnvType": ENV_TYPE,
            "DataBucketName": DATA_BUCKET,
            "ModelBucketName": MODEL_BUCKET,
            "SeedCodeS3BucketName": SEED_BUCKET,
            "PermissionsBoundaryArn": boundary,
        },
        tmp_path,
    )
    outputs = stack_outputs(stack)
    names = {
        "DSTeamAdministratorRole": TEAM_ADMIN_ROLE,
        "DataScientistRole": SCIENTIST_ROLE,
        "SageMakerExecutionRole": EXECUTION_ROLE,
        "SageMakerPipelineExecutionRole": PIPELINE_ROLE,
        "SageMakerModelBuildRole": BUILD_ROLE,
        "SageMakerModelDeployRole": DEPLOY_ROLE,
    }
    expected = {f"{k}{s}": (role_arn(v) if s == "Arn" else v) for k, v in names.items() for s in ("Arn", "Name")}
    expected |= {
        "StackSetAdministrationRoleArn": role_arn(STACKSET_ADMIN_ROLE),
        "ModelDeploymentAdministrationRoleArn": role_arn(DEPLOYMENT_ADMIN_ROLE),
        "VPCFlowLogsRoleArn": role_arn(FLOW_LOGS_ROLE),
    }
    for output, role in (("AssumeTeamAdminRole", TEAM_ADMIN_ROLE), ("AssumeDataScientistRole", SCIENTIST_ROLE)):
        expected[output] = (
            f"https://signin.aws.amazon.com/switchrole?account={ACCOUNT_ID}&roleName={role}&displayName={role}"
        )
    assert outputs == expected

    roles = {r["RoleName"]: r for r in iam.list_roles()["Roles"]}
    assert set(roles) == {*names.values(), STACKSET_ADMIN_ROLE, DEPLOYMENT_ADMIN_ROLE, FLOW_LOGS_ROLE}
    for name, role in roles.items():
        assert role["Path"] == "/" and role["Arn"] == role_arn(name)
        assert role.get("Description"), name
        assert tags({"Tags": iam.list_role_tags(RoleName=name)["Tags"]}) == {"Solution": "sagemaker-secure-mlops"}
        # Every role of the environment carries the platform boundary.
        assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary

    def trust(name):
        return by_sid(policy_document(roles[name]["AssumeRolePolicyDocument"]))

    # Personas: IAM users of this account with MFA, or role sessions of this account (federation); never the
    # account root alone.  Each sets its source identity (a user: its own name), which Studio profiles match.
    for persona in (TEAM_ADMIN_ROLE, SCIENTIST_ROLE):
        statements_ = trust(persona)
        assert set(statements_) == {
            "IamUsersWithMfa",
            "IamUsersNameThemselves",
            "RoleSessions",
            "RoleSessionsKeepTheirIdentity",
        }
        root = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
        assert statements_["IamUsersWithMfa"]["Principal"] == root == statements_["RoleSessions"]["Principal"]
        assert statements_["IamUsersWithMfa"]["Condition"] == {
            "Bool": {"aws:MultiFactorAuthPresent": "true"},
            "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_ID}:user/*"},
        }
        assert as_list(statements_["RoleSessions"]["Condition"]["ArnLike"]["aws:PrincipalArn"]) == [
            f"arn:aws:iam::{ACCOUNT_ID}:role/*"
        ]
        assert as_list(statements_["IamUsersNameThemselves"]["Action"]) == ["sts:SetSourceIdentity"]
        assert statements_["IamUsersNameThemselves"]["Condition"]["StringEquals"] == {
            "sts:SourceIdentity": "${aws:username}"
        }
    # Service roles: their service, for this account only (and the source the service names, where it does).
    for name, service in (
        (EXECUTION_ROLE, "sagemaker"),
        (PIPELINE_ROLE, "sagemaker"),
        (STACKSET_ADMIN_ROLE, "cloudformation"),
        (DEPLOYMENT_ADMIN_ROLE, "cloudformation"),
        (FLOW_LOGS_ROLE, "vpc-flow-logs"),
    ):
        [statement] = trust(name).values()
        assert as_list(statement["Principal"]["Service"]) == [f"{service}.amazonaws.com"], name
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}, name
    assert trust(FLOW_LOGS_ROLE)["ServiceForThisAccount"]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:vpc-flow-log/*"
    }
    assert trust(STACKSET_ADMIN_ROLE)["ServiceForThisAccount"]["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudformation:*:{ACCOUNT_ID}:stackset/ds-{PREFIX}-*"
    }
    for name in (BUILD_ROLE, DEPLOY_ROLE):  # the projects' builds, pipelines and event rules
        statements_ = trust(name)
        assert set(statements_) == {"ProjectBuildsAndPipelines", "ProjectEventRules"}
        assert as_list(statements_["ProjectEventRules"]["Principal"]["Service"]) == ["events.amazonaws.com"]
        assert statements_["ProjectEventRules"]["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}

    inline = {name: iam.list_role_policies(RoleName=name)["PolicyNames"] for name in roles}
    assert inline == {
        TEAM_ADMIN_ROLE: [],
        SCIENTIST_ROLE: ["data-scientist"],
        EXECUTION_ROLE: [],
        PIPELINE_ROLE: [],
        BUILD_ROLE: [],
        DEPLOY_ROLE: [],
        STACKSET_ADMIN_ROLE: ["assume-stackset-setup-roles"],
        DEPLOYMENT_ADMIN_ROLE: ["assume-model-deployment-roles"],
        FLOW_LOGS_ROLE: ["vpc-flow-logs"],
    }
    documents = {
        (name, policy): inline_policy(iam, name, policy) for name, policies in inline.items() for policy in policies
    }
    # Two administrators: the environment's set-up StackSets assume only the target accounts' setup role, the
    # projects' model deployments only their model deployment role.
    [setup] = statements(documents[(STACKSET_ADMIN_ROLE, "assume-stackset-setup-roles")])
    assert as_list(setup["Resource"]) == [f"arn:aws:iam::*:role/{ENV_NAME}-*-stackset-setup"]
    [deployments] = statements(documents[(DEPLOYMENT_ADMIN_ROLE, "assume-model-deployment-roles")])
    assert as_list(deployments["Resource"]) == ["arn:aws:iam::*:role/*stackset-exec*"]
    flow_logs = by_sid(documents[(FLOW_LOGS_ROLE, "vpc-flow-logs")])
    assert as_list(flow_logs["FlowLogGroup"]["Resource"]) == [
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/vpcflowlogs/{PREFIX}{suffix}" for suffix in ("", ":*")
    ]

    policy_arns = {
        p["PolicyName"]: p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["Arn"] != boundary
    }
    # Every managed policy the environment creates carries its name marker (the launch role creates only those).
    assert policy_arns and all(n.startswith(f"{PREFIX}-{REGION}-env-policy-") for n in policy_arns)
    for name, arn in policy_arns.items():
        documents[(None, name)] = managed_policy(iam, arn)
        assert all(s.get("Sid") for s in statements(documents[(None, name)])), name
    for name, document in documents.items():
        for statement in statements(document):
            assert "*" not in as_list(statement["Action"]) and "NotAction" not in statement, (name, statement)
    # The environment's buckets, by the names given.
    buckets = [f"arn:aws:s3:::{DATA_BUCKET}", f"arn:aws:s3:::{MODEL_BUCKET}"]
    execution = {
        sid: st
        for (role, name), doc in documents.items()
        if role is None and "-sm-execution-" in name
        for sid, st in by_sid(doc).items()
    }
    # (and the SageMaker SDK's default bucket of the account)
    assert set(buckets) <= set(as_list(execution["EnvironmentBuckets"]["Resource"]))
    for output, role in names.items():
        logical_id = {"DSTeamAdministratorRole": "DataScienceTeamAdministratorRole"}.get(output, output)
        attached = attached_or_declared(moto, "sm-mlops-dev-iam", template, logical_id, role)
        kind = role.rsplit(f"{REGION}-", 1)[1]
        assert (
            attached
            == sorted(arn for n, arn in policy_arns.items() if n.startswith(f"{PREFIX}-{REGION}-env-policy-{kind}-"))
            or kind == "data-scientist"
        ), role

    # Another stage: no persona roles, no flow-logs role, a named StackSet setup role.
    stack = create_stack(
        moto,
        "sm-mlops-test-iam",
        template,
        {
            "EnvName": ENV_NAME,
            "EnvType": "test",
            "CreateIAMUserRoles": "NO",
            "CreateVPCFlowLogsRole": "NO",
            "DataBucketName": DATA_BUCKET,
            "ModelBucketName": MODEL_BUCKET,
            "SeedCodeS3BucketName": SEED_BUCKET,
            "SetupStackSetExecutionRoleName": "acme-stackset-setup",
            "PermissionsBoundaryArn": boundary,
        },
        tmp_path,
    )
    assert set(stack_outputs(stack)) == {
        "SageMakerExecutionRoleArn",
        "SageMakerExecutionRoleName",
        "SageMakerPipelineExecutionRoleArn",
        "SageMakerPipelineExecutionRoleName",
        "SageMakerModelBuildRoleArn",
        "SageMakerModelBuildRoleName",
        "SageMakerModelDeployRoleArn",
        "SageMakerModelDeployRoleName",
        "StackSetAdministrationRoleArn",
        "ModelDeploymentAdministrationRoleArn",
    }
    new_roles = {r["RoleName"] for r in iam.list_roles()["Roles"]} - set(roles)
    assert new_roles == {
        f"{ENV_NAME}-test-{REGION}-{kind}"
        for kind in ("sm-execution", "sm-pipeline", "sm-model-build", "sm-model-deploy")
    } | {f"{ENV_NAME}-test-stackset-admin", f"{ENV_NAME}-test-deploy-admin"}
    [assume] = statements(inline_policy(iam, f"{ENV_NAME}-test-stackset-admin", "assume-stackset-setup-roles"))
    assert as_list(assume["Resource"]) == ["arn:aws:iam::*:role/acme-stackset-setup"]


# --------------------------------------------------------------------------------------------------------------
# env-main's wiring, with a real CloudFormation engine

NO_VALUE = object()  # AWS::NoValue
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
_SUB = re.compile(r"\$\{(!?)([^}]+)\}")


class Evaluator:
    """Just enough of CloudFormation's intrinsic functions to compute what a template passes on: Ref (parameters,
    pseudo parameters), GetAtt of nested stack outputs (``outputs``: logical id -> the child's real outputs),
    If, Sub, Join, Split, Select, FindInMap, ImportValue (``imports``), conditions and the rule functions.  Anything
    else fails the test."""

    def __init__(
        self,
        template: dict,
        parameters: dict,
        outputs: dict[str, dict[str, str]] | None = None,
        imports: dict[str, str] | None = None,
    ):
        self.template, self.parameters, self.outputs = template, parameters, outputs if outputs is not None else {}
        self.imports = CORE_EXPORTS if imports is None else imports  # exports of other stacks (the core's)
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self(self.template["Conditions"][name]))
        return self._conditions[name]

    def output(self, logical_id: str, attribute: str) -> str:
        assert attribute.startswith("Outputs."), f"GetAtt {logical_id}.{attribute}: not a nested stack output"
        produced = self.outputs.get(logical_id)
        assert produced is not None, f"GetAtt {logical_id}.{attribute}: {logical_id} is not deployed"
        name = attribute[len("Outputs.") :]
        assert name in produced, f"GetAtt {logical_id}.{attribute}: the child has no output {name}: {sorted(produced)}"
        return produced[name]

    def ref(self, name: str):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        assert name in self.parameters, f"Ref {name}: not a parameter (resources are not evaluated here)"
        return self.parameters[name]

    def sub(self, text: str, variables: dict) -> str:
        def replace(match):
            if match.group(1):  # ${!Literal}
                return "${" + match.group(2) + "}"
            name = match.group(2)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.output(*name.split(".", 1))
            return str(self.ref(name))

        return _SUB.sub(replace, text)

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in map(self, node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            [(key, arg)] = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self.function(key, arg)
        return {k: v for k, v in ((k, self(x)) for k, x in node.items()) if v is not NO_VALUE}

    def function(self, key: str, arg):
        if key == "Fn::GetAtt":
            return self.output(*(arg if isinstance(arg, list) else arg.split(".", 1)))
        if key == "Fn::If":
            name, yes, no = arg
            return self(yes) if self.condition(name) else self(no)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
            return self.sub(text, variables)
        if key == "Fn::ImportValue":
            name = self(arg)
            assert name in self.imports, f"Fn::ImportValue {name}: no such export"
            return self.imports[name]
        if key == "Fn::FindInMap":
            mapping, first, second = self(arg)
            return self.template["Mappings"][mapping][first][second]
        values = self(arg)
        if key == "Fn::Join":
            return values[0].join(values[1])
        if key == "Fn::Split":
            return values[1].split(values[0])
        if key == "Fn::Select":
            return values[1][int(values[0])]
        if key == "Fn::Equals":
            return values[0] == values[1]
        if key == "Fn::Not":
            return not values[0]
        if key == "Fn::And":
            return all(values)
        if key == "Fn::Or":
            return any(values)
        if key == "Fn::Contains":
            return values[1] in values[0]
        if key == "Fn::EachMemberEquals":
            return all(v == values[1] for v in values[0])
        raise AssertionError(f"{key} is not evaluated by this test")


def is_list_type(definition: dict) -> bool:
    return definition["Type"] == "CommaDelimitedList" or definition["Type"].startswith("List<")


def parameter_values(template: dict, given: dict[str, str]) -> dict:
    """Every parameter's value as CloudFormation resolves it (given or default; list types as lists)."""
    declared = template.get("Parameters", {})
    unknown = set(given) - set(declared)
    assert not unknown, f"parameters the template does not declare: {sorted(unknown)}"
    values = {}
    for name, definition in declared.items():
        assert name in given or "Default" in definition, f"parameter {name} has no default and is not given"
        value = str(given[name] if name in given else definition["Default"])
        values[name] = value.split(",") if is_list_type(definition) else value
    return values


# What CloudFormation checks of the AWS-specific parameter types (the values must name existing resources).
AWS_TYPE_PATTERNS = {
    "AWS::EC2::VPC::Id": r"vpc-[0-9a-f]{8,17}",
    "AWS::EC2::Subnet::Id": r"subnet-[0-9a-f]{8,17}",
    "AWS::EC2::SecurityGroup::Id": r"sg-[0-9a-f]{8,17}",
    "AWS::EC2::AvailabilityZone::Name": r"[a-z]{2}(-[a-z]+)+-\d[a-z]",
}


def constraint_errors(template: dict, given: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse before creating anything (moto checks none of it): unknown or missing
    parameters, malformed values, failed Rules assertions."""
    declared = template.get("Parameters", {})
    errors = [f"{n}: not declared" for n in sorted(set(given) - set(declared))]
    errors += [f"{n}: required, not given" for n, d in declared.items() if n not in given and "Default" not in d]
    if errors:
        return errors
    for name, value in given.items():
        definition = declared[name]
        kind = definition["Type"]
        items = value.split(",") if is_list_type(definition) else [value]
        item_type = kind[len("List<") : -1] if kind.startswith("List<") else kind
        for item in items:
            if item_type in AWS_TYPE_PATTERNS and not re.fullmatch(AWS_TYPE_PATTERNS[item_type], item):
                errors.append(f"{name}={value!r}: {item!r} is not a {item_type}")
            if item_type == "Number" and not re.fullmatch(r"-?\d+(\.\d+)?", item):
                errors.append(f"{name}={value!r}: not a number")
            pattern = definition.get("AllowedPattern")
            if pattern is not None and not re.fullmatch(pattern, item):
                errors.append(f"{name}={value!r}: does not match {pattern}")
        if "AllowedValues" in definition and value not in [str(v) for v in definition["AllowedValues"]]:
            errors.append(f"{name}={value!r}: not one of {definition['AllowedValues']}")
        if "MinLength" in definition and len(value) < int(definition["MinLength"]):
            errors.append(f"{name}={value!r}: shorter than {definition['MinLength']}")
        if "MaxLength" in definition and len(value) > int(definition["MaxLength"]):
            errors.append(f"{name}={value!r}: longer than {definition['MaxLength']}")
    evaluate = Evaluator(template, parameter_values(template, given))
    for rule_name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"]):
            continue
        errors += [
            f"Rule {rule_name}: {a['AssertDescription']}" for a in rule["Assertions"] if not evaluate(a["Assert"])
        ]
    return errors


def output_reads(node) -> set[tuple[str, str]]:
    """(logical id, output) of every GetAtt X.Outputs.Y in node."""
    found = set()
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
            if attribute.startswith("Outputs."):
                found.add((logical_id, attribute[len("Outputs.") :]))
        for value in node.values():
            found |= output_reads(value)
    elif isinstance(node, list):
        for value in node:
            found |= output_reads(value)
    return found


def creation_order(nested: dict[str, dict]) -> list[str]:
    """Nested stacks in the order CloudFormation can create them (outputs read and DependsOn)."""
    needs = {
        lid: {ref for ref, _ in output_reads(r["Properties"])} | set(as_list(r.get("DependsOn", [])))
        for lid, r in nested.items()
    }
    order: list[str] = []
    while len(order) < len(nested):
        ready = [lid for lid in nested if lid not in order and needs[lid] & set(nested) <= set(order)]
        assert ready, f"nested stacks wait on each other: {needs}"
        order.append(ready[0])
    return order


def inline_outputs(node, outputs: dict[str, dict[str, str]]):
    """node with every GetAtt of a deployed child's output replaced by the value the child produced."""
    if isinstance(node, list):
        return [inline_outputs(v, outputs) for v in node]
    if isinstance(node, dict):
        reads = output_reads(node) if set(node) == {"Fn::GetAtt"} else set()
        if reads:
            [(logical_id, name)] = reads
            if logical_id in outputs:
                return outputs[logical_id][name]
        return {k: inline_outputs(v, outputs) for k, v in node.items()}
    return node


# env-main's stack; its children are named <parent>-<logical id>, as CloudFormation names nested stacks.
MAIN_STACK = "ds-env-team1-dev"
# What a user gives env-main (README, option 2); the rest are its defaults.
MAIN_PARAMETERS = {
    "EnvName": ENV_NAME,
    "EnvType": ENV_TYPE,
    "SeedCodeS3BucketName": SEED_BUCKET,
    "AvailabilityZones": ",".join(AZS),
}
# The children moto cannot create (module docstring): only what env-main passes them is checked.
NOT_ON_MOTO = {"EnvironmentSageMakerStudio", "EnvironmentSCPortfolio"}


def test_env_main_wiring_on_moto(moto, build_dir, tmp_path):
    """env-main's children created one by one, in dependency order, each with exactly the parameters env-main
    passes it: computed from env-main's template, the user's parameters and the outputs the children created
    before really produced.  Then env-main's own resources, with those outputs.  Proves the parameter contract
    between the children with a real CloudFormation engine, and that what they create fits together."""
    main = load(build_dir / "env-main.yaml")
    user = MAIN_PARAMETERS
    assert constraint_errors(main, user) == []
    # The check refuses what CloudFormation refuses before creating anything (moto refuses none of it).
    assert any("ExistingVPCId is required" in e for e in constraint_errors(main, {**user, "CreateVPC": "NO"}))
    assert [e.split(":")[0] for e in constraint_errors(main, {**user, "EnvName": "SM_MLOPS", "NumberOfAZs": "5"})] == [
        "EnvName='SM_MLOPS'",
        "NumberOfAZs='5'",
    ]
    assert constraint_errors(main, {"EnvName": ENV_NAME}) == [
        "SeedCodeS3BucketName: required, not given",
        "AvailabilityZones: required, not given",
    ]
    # The core's platform boundary, which env-main imports by the core's name (CoreStackSetName).
    assert parameter_values(main, user)["CoreStackSetName"] == CORE_NAME
    create_platform_boundary(moto)
    evaluate = Evaluator(main, parameter_values(main, user))

    nested = {
        lid: r
        for lid, r in main["Resources"].items()
        if r["Type"] == "AWS::CloudFormation::Stack" and ("Condition" not in r or evaluate.condition(r["Condition"]))
    }
    assert set(nested) == {
        "EnvironmentIAMRoles",
        "EnvironmentKMSKeys",
        "EnvironmentVPC",
        "EnvironmentVPCEndpoints",
        "EnvironmentS3",
        "EnvironmentSageMakerStudio",
        "EnvironmentSCPortfolio",
        "EnvironmentTargetAccountRoles",
    }
    passed: dict[str, dict[str, str]] = {}
    for logical_id in creation_order(nested):
        properties = nested[logical_id]["Properties"]
        child_name = properties["TemplateURL"]
        passed[logical_id] = values = evaluate(properties["Parameters"])
        assert all(isinstance(v, str) for v in values.values()), f"{logical_id}: parameters must be strings"
        child = load(build_dir / child_name)
        assert constraint_errors(child, values) == [], f"env-main passes {child_name} values it refuses"
        if logical_id in NOT_ON_MOTO:
            continue
        stack = create_stack(moto, f"{MAIN_STACK}-{logical_id}", for_moto(build_dir, child_name), values, tmp_path)
        evaluate.outputs[logical_id] = stack_outputs(stack)

    # env-main's own resources (guardrail policies, SSM parameters, resource group) as env-main declares them,
    # with the children's outputs in place of their GetAtt; the outputs read from Studio and the portfolio
    # (SageMakerDomainId, StudioUrl, MLOpsPortfolioId: env-main's outputs only) are left out.
    rest = for_moto(build_dir, "env-main.yaml")
    for logical_id in nested:
        del rest["Resources"][logical_id]
    # The Studio scope policy names the domain (not on moto): checked on the template (tests/test_env_main.py).
    scoped = {lid for lid, r in rest["Resources"].items() if {lid_ for lid_, _ in output_reads(r)} & NOT_ON_MOTO}
    assert scoped == {"StudioScopePolicy"}
    for logical_id in scoped:
        del rest["Resources"][logical_id]
    rest["Resources"] = inline_outputs(rest["Resources"], evaluate.outputs)
    assert output_reads(rest["Resources"]) == set()
    left_out = {k for k, o in rest["Outputs"].items() if {lid for lid, _ in output_reads(o)} & NOT_ON_MOTO}
    assert left_out == {"SageMakerDomainId", "StudioUrl", "MLOpsPortfolioId"}
    rest["Outputs"] = {k: inline_outputs(o, evaluate.outputs) for k, o in rest["Outputs"].items() if k not in left_out}
    create_stack(moto, MAIN_STACK, rest, user, tmp_path)
    outputs = cli_outputs(moto, MAIN_STACK)

    iam_out, kms_out = evaluate.outputs["EnvironmentIAMRoles"], evaluate.outputs["EnvironmentKMSKeys"]
    vpc_out, egress_out = evaluate.outputs["EnvironmentVPC"], evaluate.outputs["EnvironmentVPCEndpoints"]
    s3_out, target_out = evaluate.outputs["EnvironmentS3"], evaluate.outputs["EnvironmentTargetAccountRoles"]
    assert {k: outputs[k] for k in ("VPCId", "PrivateSubnetIds", "SageMakerSecurityGroupIds")} == {
        k: vpc_out[k] for k in ("VPCId", "PrivateSubnetIds", "SageMakerSecurityGroupIds")
    }
    assert outputs["DataBucketName"] == s3_out["DataBucketName"] == DATA_BUCKET
    assert outputs["ModelBucketName"] == s3_out["ModelBucketName"] == MODEL_BUCKET
    assert outputs["SageMakerExecutionRoleArn"] == iam_out["SageMakerExecutionRoleArn"] == role_arn(EXECUTION_ROLE)
    assert outputs["S3BucketKMSKeyArn"] == kms_out["S3BucketKMSKeyArn"]
    assert outputs["AssumeTeamAdminRole"] == iam_out["AssumeTeamAdminRole"]

    iam, ec2, s3, kms = (moto.client(s) for s in ("iam", "ec2", "s3", "kms"))
    # Flow logs: written as env-iam's role, to the log group that role may write.
    [flow_log] = ec2.describe_flow_logs()["FlowLogs"]
    assert flow_log["ResourceId"] == vpc_out["VPCId"]
    assert flow_log["DeliverLogsPermissionArn"] == iam_out["VPCFlowLogsRoleArn"] == role_arn(FLOW_LOGS_ROLE)
    [group] = moto.client("logs").describe_log_groups(logGroupNamePrefix=flow_log["LogGroupName"])["logGroups"]
    writable = by_sid(inline_policy(iam, FLOW_LOGS_ROLE, "vpc-flow-logs"))["FlowLogGroup"]["Resource"]
    assert {group["logGroupArn"], group["arn"]} <= set(as_list(writable))
    # The keys are for roles that exist; the buckets use the S3 key; the endpoints sit in the private subnets.
    role_arns = {r["Arn"] for r in iam.list_roles()["Roles"]}
    for key in ("SagemakerEBSKMSKey", "SageMakerStudioStorageKMSKey", "S3BucketKMSKey"):
        policy = by_sid(policy_document(kms.get_key_policy(KeyId=kms_out[f"{key}Id"], PolicyName="default")["Policy"]))
        users = as_list(policy["KeyUsers"]["Principal"]["AWS"])
        assert users == [
            iam_out[k]
            for k in (
                "SageMakerExecutionRoleArn",
                "SageMakerPipelineExecutionRoleArn",
                "SageMakerModelBuildRoleArn",
                "SageMakerModelDeployRoleArn",
                "DataScientistRoleArn",
                "DSTeamAdministratorRoleArn",
            )
        ]
        assert set(users) <= role_arns
        assert "KeyAdministrators" not in policy  # no role of the environment administers its keys
    for bucket in (DATA_BUCKET, MODEL_BUCKET):
        [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == kms_out["S3BucketKMSKeyArn"]
    assert passed["EnvironmentS3"]["VPCEndpointS3Id"] == egress_out["VPCEndpointS3Id"]
    [gateway] = ec2.describe_vpc_endpoints(VpcEndpointIds=[egress_out["VPCEndpointS3Id"]])["VpcEndpoints"]
    assert sorted(gateway["RouteTableIds"]) == sorted(vpc_out["PrivateRouteTableIds"].split(","))
    endpoint_buckets = by_sid(policy_document(gateway["PolicyDocument"]))["EnvironmentBuckets"]["Resource"]
    assert {f"arn:aws:s3:::{b}" for b in (DATA_BUCKET, MODEL_BUCKET)} <= set(endpoint_buckets)
    # The model role of the target accounts reads the model bucket with the S3 key.
    model_role = target_out["SageMakerModelExecutionRoleName"]
    model_policy = inline_policy(iam, model_role, "sagemaker-model-execution")
    resources = {r for s in statements(model_policy) for r in as_list(s["Resource"])}
    assert {kms_out["S3BucketKMSKeyArn"], f"arn:aws:s3:::{MODEL_BUCKET}/*"} <= resources
    # The model deployments' administration role may assume the model deployment role, which trusts it (and
    # not the set-up administration role).
    stackset_role = target_out["StackSetExecutionRoleName"]
    [assume] = statements(inline_policy(iam, DEPLOYMENT_ADMIN_ROLE, "assume-model-deployment-roles"))
    assert any(
        fnmatch.fnmatchcase(target_out["StackSetExecutionRoleArn"], p.replace("::*:", f"::{ACCOUNT_ID}:"))
        for p in as_list(assume["Resource"])
    )
    [trust] = statements(policy_document(iam.get_role(RoleName=stackset_role)["Role"]["AssumeRolePolicyDocument"]))
    assert fnmatch.fnmatchcase(
        iam_out["ModelDeploymentAdministrationRoleArn"], trust["Condition"]["ArnLike"]["aws:PrincipalArn"]
    )
    assert not fnmatch.fnmatchcase(
        iam_out["StackSetAdministrationRoleArn"], trust["Condition"]["ArnLike"]["aws:PrincipalArn"]
    )

    # The guardrails: attached to the environment's six roles that create SageMaker resources (and its model
    # deployment role), naming the environment's subnets, group and keys.
    guardrails = outputs["SageMakerGuardrailsPolicyArns"].split(",")
    assert [a.rsplit("/", 1)[1] for a in guardrails] == [
        f"{PREFIX}-{REGION}-env-policy-sm-guardrails-{i}" for i in (1, 2)
    ]
    for role in (
        EXECUTION_ROLE,
        PIPELINE_ROLE,
        BUILD_ROLE,
        DEPLOY_ROLE,
        SCIENTIST_ROLE,
        TEAM_ADMIN_ROLE,
        stackset_role,
    ):
        attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}
        assert set(guardrails) <= attached, role
    documents = by_sid(managed_policy(iam, guardrails[0])) | by_sid(managed_policy(iam, guardrails[1]))
    assert all(s["Effect"] == "Deny" for s in documents.values())
    condition = documents["OnlyEnvironmentSubnets"]["Condition"]["ForAnyValue:StringNotEquals"]["sagemaker:VpcSubnets"]
    assert as_list(condition) == vpc_out["PrivateSubnetIds"].split(",")
    volume_keys = documents["OnlyEnvironmentVolumeKeys"]["Condition"]["StringNotEquals"]["sagemaker:VolumeKmsKey"]
    assert {kms_out["SagemakerEBSKMSKeyArn"], kms_out["SagemakerEBSKMSKeyId"]} <= set(as_list(volume_keys))
    output_keys = documents["OnlyEnvironmentOutputKeys"]["Condition"]["StringNotEquals"]["sagemaker:OutputKmsKey"]
    assert {kms_out["S3BucketKMSKeyArn"], kms_out["S3BucketKMSKeyId"]} <= set(as_list(output_keys))

    # The SSM parameters the MLOps projects read, each with the value of the resource it names.
    stage_parameters = {
        f"{ENV_NAME}-{stage}-{name}": vpc_out[key]
        for stage in ("staging", "prod")
        for name, key in (("sagemaker-sg-ids", "SageMakerSecurityGroupIds"), ("private-subnet-ids", "PrivateSubnetIds"))
    }
    assert ssm_values(moto, *stage_parameters) == stage_parameters
    assert ssm_values(
        moto,
        *(
            f"{PREFIX}-{n}"
            for n in (
                "sm-pipeline-execution-role-arn",
                "sm-execution-role-arn",
                "sm-model-execution-role-name",
                "stackset-administration-role-arn",
                "stackset-execution-role-name",
                "model-bucket-name",
                "data-bucket-name",
                "env-type-staging-name",
                "env-type-prod-name",
                "seed-code-s3bucket-name",
            )
        ),
    ) == {
        f"{PREFIX}-sm-pipeline-execution-role-arn": iam_out["SageMakerPipelineExecutionRoleArn"],
        f"{PREFIX}-sm-execution-role-arn": iam_out["SageMakerExecutionRoleArn"],
        f"{PREFIX}-sm-model-execution-role-name": model_role,
        f"{PREFIX}-stackset-administration-role-arn": iam_out["ModelDeploymentAdministrationRoleArn"],
        f"{PREFIX}-stackset-execution-role-name": stackset_role,
        f"{PREFIX}-model-bucket-name": MODEL_BUCKET,
        f"{PREFIX}-data-bucket-name": DATA_BUCKET,
        f"{PREFIX}-env-type-staging-name": "staging",
        f"{PREFIX}-env-type-prod-name": "prod",
        f"{PREFIX}-seed-code-s3bucket-name": SEED_BUCKET,
    }


# --------------------------------------------------------------------------------------------------------------
# validate-template, and env-main as one nested stack

_BATCH_DRIVER = """
import contextlib, io, json, sys
from awscli.clidriver import create_clidriver
driver = create_clidriver()
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = driver.main(argv)
        except SystemExit as exit_:
            rc = exit_.code
    results.append([rc, out.getvalue(), err.getvalue()])
json.dump(results, sys.__stdout__)
"""


def aws_batch(server, commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Several AWS CLI commands run by the real CLI driver (awscli.clidriver, what ``aws`` runs) one after the
    other in one interpreter and session: one start-up and one loading of the service models instead of one per
    command (~0.03 s a command instead of ~0.45 s).  Returns (returncode, stdout, stderr) per command."""
    result = subprocess.run(
        [sys.executable, "-c", _BATCH_DRIVER],
        input=json.dumps(commands),
        env=server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return [tuple(r) for r in json.loads(result.stdout)]


@pytest.fixture
def cfn_lint_rules_loaded_once(monkeypatch):
    """moto's ValidateTemplate runs cfn-lint (moto.cloudformation.utils.validate_template_cfn_lint) and loads all
    of cfn-lint's rules afresh for every call (~0.45 s of ~0.6 s).  Same function, same rules and region, the
    rules loaded once for this test.  (The server runs in this process, so the patch reaches it.)"""
    import moto.cloudformation.models as models
    from cfnlint.api import lint
    from cfnlint.core import get_rules

    rules = get_rules([], [], [])
    monkeypatch.setattr(models, "validate_template_cfn_lint", lambda template: lint(template, rules, ["us-east-1"]))


def local_references(template: dict) -> list[str]:
    """Local paths `aws cloudformation package` uploads: nested stack templates and function code."""
    found = []
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudFormation::Stack" and "://" not in properties["TemplateURL"]:
            found.append(properties["TemplateURL"])
        if resource["Type"] == "AWS::Lambda::Function" and isinstance(properties.get("Code"), str):
            found.append(properties["Code"])
    return found


def package(server, sources: dict[pathlib.Path, pathlib.Path], bucket: str) -> None:
    """``aws cloudformation package`` of each source into its output file: children and function code uploaded
    to the server's S3.  The CLI writes each TemplateURL under the endpoint it uploaded to: against AWS
    https://s3.<region>.amazonaws.com/<bucket>/<key>, here http://127.0.0.1:<port>/<bucket>/<key>, which
    neither cfn-lint (W3002: not https) nor moto (it takes 127 for the bucket) accepts; the outputs get the
    AWS form back, from which moto reads its own S3."""
    results = aws_batch(
        server,
        [
            [
                "cloudformation",
                "package",
                "--template-file",
                str(source),
                "--s3-bucket",
                bucket,
                "--output-template-file",
                str(out),
            ]
            for source, out in sources.items()
        ],
    )
    for (rc, out, err), (source, output) in zip(results, sources.items(), strict=False):
        assert rc == 0, f"package {source.name}: exit {rc}\n{out}\n{err}"
        text = output.read_text()
        output.write_text(text.replace(f"{server.url}/", f"https://s3.{REGION}.amazonaws.com/"))
        assert local_references(load(output)) == [], source.name


def test_validate_template_accepts_every_generated_template(moto, build_dir, tmp_path, cfn_lint_rules_loaded_once):
    """``aws cloudformation validate-template`` (moto: the template parses, and cfn-lint finds nothing, at any
    level) for every template `generate.py build` writes.  Templates with local references (nested stacks,
    function code) are validated as users deploy them, after `aws cloudformation package`: moto fails
    ValidateTemplate on cfn-lint's W3002 warning for the local paths themselves.  Templates above the 51,200
    bytes of TemplateBody go through S3 (--template-url)."""
    files = sorted(build_dir.glob("*.yaml"))
    environment = {
        f"env-{n}.yaml"
        for n in (
            "main",
            "iam",
            "kms",
            "vpc",
            "vpc-egress",
            "s3",
            "sagemaker-studio",
            "sc-portfolio",
            "iam-target-account-roles",
        )
    }
    assert len(files) >= 16 and environment | {"data-science-environment-quickstart.yaml"} <= {f.name for f in files}
    bucket = "sm-mlops-packaging"
    moto.client("s3").create_bucket(Bucket=bucket)
    packaged = {f: tmp_path / f.name for f in files if local_references(load(f))}
    assert {f.name for f in packaged} == {
        "core-main.yaml",
        "data-science-environment-quickstart.yaml",
        "env-main.yaml",
        "env-sagemaker-studio.yaml",
    }
    package(moto, packaged, bucket)

    commands = []
    for source in files:
        path = packaged.get(source, source)
        commands.append(["cloudformation", "validate-template", *template_argument(moto, path), "--output", "json"])
    results = aws_batch(moto, commands)
    for source, (rc, out, err) in zip(files, results, strict=False):
        assert rc == 0, f"validate-template {source.name}: exit {rc}\n{out}\n{err}"
        assert json.loads(out)["Description"] == load(source)["Description"], source.name


def test_env_main_nested_stacks_on_moto(moto, build_dir, tmp_path):
    """env-main as users deploy it: packaged (children and function code uploaded), then one create-stack.
    moto 5.2.5 and 5.2.6 cannot create it: the first GetAtt of a child's output (EnvironmentKMSKeys reads
    EnvironmentIAMRoles.Outputs.*) is an HTTP 500 (server: AttributeError: 'Stack' object has no attribute
    'get_cfn_attribute').  Where moto creates it the test checks the stack; otherwise it skips, saying what it
    saw (test_env_main_wiring_on_moto deploys the same stacks one by one).  Past that fault, the children (YAML, as
    packaged) would meet the ones worked around
    above: the short-form conditions, SSM parameter and KMS key tags, the flow logs' aggregation interval."""
    # The core's export env-main imports (the platform boundary), as core-main exports it.
    boundary = create_platform_boundary(moto)
    [(export, _)] = CORE_EXPORTS.items()
    create_stack(
        moto,
        "sm-mlops-core-exports",
        {
            "Resources": {
                "Marker": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": "sm-mlops-core-marker", "Type": "String", "Value": "x"},
                }
            },
            "Outputs": {"PlatformBoundaryArn": {"Value": boundary, "Export": {"Name": export}}},
        },
        {},
        tmp_path,
    )
    bucket = "sm-mlops-packaging"
    moto.client("s3").create_bucket(Bucket=bucket)
    packaged = tmp_path / "env-main.yaml"
    package(moto, {build_dir / "env-main.yaml": packaged}, bucket)
    template = load(packaged)
    children = [
        r["Properties"]["TemplateURL"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudFormation::Stack"
    ]
    assert len(children) == 8
    keys = {o["Key"] for o in moto.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert all(url.rsplit("/", 1)[1] in keys for url in children), children

    rc, out, err = aws(
        moto,
        "cloudformation",
        "create-stack",
        "--stack-name",
        MAIN_STACK,
        *template_argument(moto, packaged),
        "--capabilities",
        "CAPABILITY_IAM",
        "CAPABILITY_NAMED_IAM",
        "CAPABILITY_AUTO_EXPAND",
        *parameters_argument(MAIN_PARAMETERS, tmp_path / "parameters.json"),
        check=False,
    )
    if rc == 0:  # a moto that creates nested stacks with output references
        stack = wait_for_stack(moto, MAIN_STACK)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack
        assert stack_outputs(stack)["VPCId"].startswith("vpc-")
        return
    # moto 5.2.5 and 5.2.6 answer the first Fn::GetAtt of a child's output with an HTTP 500 (docstring):
    # test_env_main_wiring_on_moto deploys the same children one by one with the outputs wired by hand.
    moto_limitation("create nested stacks that read each other's outputs", err)
