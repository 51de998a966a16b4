"""env-target-account-network: the private network SageMaker endpoints run in, in a staging or production account.

Deployed by the environment's StackSets into every target account, beside env-iam-target-account-roles (with
account lists, self-managed: as the setup StackSet execution role of env-iam-setup-stackset-role).  The model
deployment of the MLOps projects finds it through the SSM parameters ${EnvName}-${EnvType}-vpc-id,
-private-subnet-ids, -sagemaker-sg-ids and -s3-vpce-id.

Internet-free: a new VPC with private subnets only (one route table each), no internet gateway, no NAT, no
public address.  AWS services are reached through VPC endpoints: the S3 gateway endpoint (model artifacts from
the development account's model bucket, ECR image layers, SageMaker's buckets of this account) and the interface
endpoints, with private DNS, that an endpoint and its deployment call (the catalogue's rows of the target
accounts, templates_src/blocks/endpoints.py).  Built from the network blocks env-vpc and env-vpc-egress are built
from too, so the three templates build the same resources the same way.

The zones are the account's first NumberOfAZs zones (Fn::GetAZs): a StackSet deploys the same parameters to
every account, and zone names map to different physical zones in each account.  (Where the account has a
default VPC with default subnets in some zones only, Fn::GetAZs returns those zones.)

VPC flow logs (CreateVPCFlowLogs, on by default: logs are evidence) are written by a role this template creates,
named like env-iam's flow logs role (with UseTargetAccountBoundary, under the target-account permissions
boundary, which lets it write the flow log group and nothing else), into a log group that is kept when the stack
is deleted.  Service-managed StackSets run with an execution role of their own.

The model deployments of this account get their guardrails here, where the network's identifiers are known
(``EndpointGuardrails``, attached to the model deployment StackSet execution role by name): models only in
this network's subnets and security group, endpoint volumes only with the environment's EBS key, whatever a
deployment's template says.
"""

from __future__ import annotations

from awacs.aws import ArnLike
from troposphere import Equals, GetAtt, GetAZs, If, Output, Ref, Select, Split, Template, iam

from templates_src.blocks import endpoints, environment, guardrails, stacksets, target_accounts, vpc
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "env-target-account-network"
DESCRIPTION = (
    "Creates the internet-free private network for SageMaker endpoints in a target account (staging, "
    "prod): VPC, private subnets, security groups, VPC endpoints, optional flow logs"
)

# -- parameters -------------------------------------------------------------------------------------------------
ENV_TYPE = params.ENV_TYPE.with_(
    description="Stage of this target account, for example staging or prod (the environment's EnvTypeStagingName "
    "or EnvTypeProdName); part of every resource name",
    default=None,
)
MAX_AZS = 3
NUMBER_OF_AZS = vpc.NUMBER_OF_AZS.with_(
    description="Number of Availability Zones, one private subnet in each: the account's first zones in the "
    "region. Two at least: endpoints with two or more instances survive the loss of one zone",
    allowed_values=("2", "3"),
    constraint="must be 2 or 3",
)
VPC_CIDR = vpc.VPC_CIDR
PRIVATE_SUBNET_CIDRS = vpc.PRIVATE_SUBNET_CIDRS[:MAX_AZS]
MODEL_BUCKET = target_accounts.MODEL_BUCKET_NAME  # the development account's model bucket
CREATE_FLOW_LOGS = params.yes_no(
    "CreateVPCFlowLogs",
    "Record the VPC's IP traffic (VPC flow logs) in a CloudWatch log group (kept when the stack is deleted), "
    "written by a role this stack creates",
    "Create VPC flow logs",
    default="YES",
)

# Only without a configured permissions boundary (a configured one is on every role anyway).
USE_TARGET_BOUNDARY = params.yes_no(
    "UseTargetAccountBoundary",
    "YES: the flow logs role carries the target-account permissions boundary env-iam-setup-stackset-role created "
    "in this account (self-managed StackSets: their execution role creates roles only with it). NO for "
    "service-managed StackSets, whose accounts have no such boundary",
    "Use the target-account boundary",
    default="NO",
)
TARGET_BOUNDARY = "TargetAccountBoundaryCondition"

DEPLOYMENT_ROLE_NAME = params.role_name_param(
    "StackSetExecutionRoleName",
    "Name of the model deployment StackSet execution role in this account (the "
    "environment's env-iam-target-account-roles): its deployments get this network's guardrails",
    "Model deployment StackSet execution role name",
    required=True,
)
VOLUME_KEY = environment.kms_key_arn_param(
    "EndpointVolumeKmsKeyArn",
    "The environment's EBS key (development account): the only key endpoint volumes "
    "of this account's model deployments may be encrypted with",
    "Endpoint volume KMS key ARN",
)
GUARDRAILS_POLICY = "${EnvName}-${EnvType}-endpoint-guardrails"  # managed policy name (with the prefix)

PARAMETERS = (
    params.ENV_NAME,
    ENV_TYPE,
    NUMBER_OF_AZS,
    VPC_CIDR,
    *PRIVATE_SUBNET_CIDRS,
    MODEL_BUCKET,
    CREATE_FLOW_LOGS,
    DEPLOYMENT_ROLE_NAME,
    VOLUME_KEY,
)

# Model artifacts are only read: SageMaker downloads them with the model execution role of this account.
MODEL_READ_ACTIONS = ("GetObject", "ListBucket")


def guardrails_policy_name(ctx: BuildContext):
    return ctx.namer.name("policy", GUARDRAILS_POLICY, params.ENVIRONMENT)


def zone(index: int) -> Select:
    """The account's zone ``index`` (from 0) in the region: an integer index, as Fn::Select requires."""
    return Select(index, GetAZs(""))


def s3_endpoint_policy(ctx: BuildContext):
    """The buckets endpoints in this VPC use, by name: the development account's model bucket (read only), ECR's
    image layers, and SageMaker's buckets of this account (as in env-vpc-egress)."""
    return iam_blocks.document(
        endpoints.named_buckets_statement(ctx, "ModelArtifacts", (f"${{{MODEL_BUCKET.name}}}",), MODEL_READ_ACTIONS),
        # The endpoints' data capture, under the model bucket's capture prefix only.
        endpoints.prefix_statement(
            ctx, "DataCapture", f"${{{MODEL_BUCKET.name}}}", environment.DATA_CAPTURE_PREFIX, ("PutObject",)
        ),
        *endpoints.account_sagemaker_bucket_statements(ctx),
        endpoints.ecr_layers_statement(ctx),
    )


def flow_logs(ctx: BuildContext, t: Template, vpc_id) -> None:
    """Flow logs into the environment's flow log group (env-vpc's name), written by a role of their own."""
    t.add_condition(vpc.FLOW_LOGS, Equals(Ref(CREATE_FLOW_LOGS.name), "YES"))
    boundary = None
    if ctx.permissions_boundary is None:
        t.add_condition(TARGET_BOUNDARY, Equals(Ref(USE_TARGET_BOUNDARY.name), "YES"))
        boundary = If(TARGET_BOUNDARY, stacksets.target_boundary_arn(ctx), Ref("AWS::NoValue"))
    role = t.add_resource(
        iam_blocks.role(
            ctx,
            "VPCFlowLogsRole",
            description="VPC flow logs of the environment's target-account network write to its log group as this role",
            name=environment.role_name(ctx, environment.FLOW_LOGS).sub(),
            assume=iam_blocks.account_service_trust(
                "vpc-flow-logs", [ArnLike({"aws:SourceArn": ctx.own("ec2", "vpc-flow-log/*")})]
            ),
            policies=[iam_blocks.inline("vpc-flow-logs", *vpc.flow_logs_role_statements(ctx))],
            # The setup StackSet execution role creates roles only under this boundary (or the configured one).
            boundary=boundary,
            condition=vpc.FLOW_LOGS,
        )
    )
    group = t.add_resource(vpc.flow_log_group(ctx, t, vpc.FLOW_LOGS))
    t.add_resource(
        vpc.flow_log(vpc_id, group, GetAtt(role, "Arn"), vpc.FLOW_LOGS, MaxAggregationInterval=600, TrafficType="ALL")
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    own_boundary = ctx.permissions_boundary is None
    params.add(t, *PARAMETERS, *([USE_TARGET_BOUNDARY] if own_boundary else []))
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, ENV_TYPE]),
            ("Network", [NUMBER_OF_AZS, VPC_CIDR, *PRIVATE_SUBNET_CIDRS]),
            ("Model artifacts", [MODEL_BUCKET]),
            ("Model deployments", [DEPLOYMENT_ROLE_NAME, VOLUME_KEY]),
            ("VPC flow logs", [CREATE_FLOW_LOGS, *([USE_TARGET_BOUNDARY] if own_boundary else [])]),
        ],
    )
    vpc.az_conditions(t, NUMBER_OF_AZS)

    vpc_id = Ref(vpc.new_vpc(t))
    subnets, tables = vpc.new_private_subnets(t, vpc_id, PRIVATE_SUBNET_CIDRS, None, zone)
    sagemaker = vpc.sagemaker_security_group(
        t,
        vpc_id,
        "SageMaker endpoints (model containers): HTTPS out to the VPC endpoints and S3, nothing in",
        "HTTPS to the VPC endpoints and S3 (no route to the internet)",
    )
    endpoints_group = vpc.endpoints_security_group(t, vpc_id, sagemaker, "HTTPS from SageMaker endpoints")

    # The catalogue's endpoints of the target accounts, always created: no toggles.
    subnet_ids = vpc.per_az(subnets)
    for endpoint in endpoints.created(endpoints.TARGET_ACCOUNTS):
        t.add_resource(endpoints.interface_endpoint(endpoint, vpc_id, subnet_ids, GetAtt(endpoints_group, "GroupId")))
    # The S3 gateway endpoint too: model artifacts, ECR layers, data capture (its id is in the SSM contract).
    assert endpoints.TARGET_ACCOUNTS in endpoints.s3().networks
    s3 = t.add_resource(endpoints.s3_gateway_endpoint(vpc_id, vpc.per_az(tables), s3_endpoint_policy(ctx)))
    flow_logs(ctx, t, vpc_id)

    network = vpc.PrivateSubnets(subnet_ids=vpc.join_per_az(subnets), route_table_ids=vpc.join_per_az(tables))
    vpc.ssm_parameters(t, vpc_id, network, vpc.SecurityGroups(sagemaker, endpoints_group))
    t.add_resource(
        iam.ManagedPolicy(
            "EndpointGuardrails",
            ManagedPolicyName=guardrails_policy_name(ctx).sub(),
            Path=ctx.config.role_path,
            Description="Model deployments of this account: only in its network, only with the environment's EBS key",
            PolicyDocument=iam_blocks.document(
                *guardrails.endpoint_statements(
                    Split(",", network.subnet_ids), [GetAtt(sagemaker, "GroupId")], [Ref(VOLUME_KEY.name)]
                )
            ),
            Roles=[Ref(DEPLOYMENT_ROLE_NAME.name)],
        )
    )
    endpoints.s3_endpoint_ssm_parameter(t, Ref(s3))
    t.add_output(
        [
            Output("VPCId", Description="Id of the VPC", Value=vpc_id),
            Output(
                "PrivateSubnetIds",
                Description="Ids of the private subnets, comma-separated, in zone order",
                Value=network.subnet_ids,
            ),
            Output(
                "SageMakerSecurityGroupIds",
                Description="Security groups of SageMaker endpoints (comma-separated)",
                Value=GetAtt(sagemaker, "GroupId"),
            ),
            Output("VPCEndpointS3Id", Description="Id of the S3 gateway endpoint", Value=Ref(s3)),
        ]
    )
    return t
