"""env-vpc-egress: how the environment's private subnets reach AWS services and, optionally, the internet.

Interface VPC endpoints (private DNS, in every private subnet, behind the endpoints' security group of env-vpc),
the S3 gateway endpoint with a policy that names the environment's buckets, and optionally NAT gateways, one
per Availability Zone.  Without NAT gateways the environment is internet-free: AWS services are reachable
only through the endpoints created here.

Separate from env-vpc because endpoints and NAT gateways take minutes to create and the Studio domain needs
none of them to be created (a nested stack's outputs wait for all of its resources).  The builder functions
take the template and the network values, so a template for target accounts can put VPC and endpoints in one
stack (env-target-account-network).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import (
    And,
    AWSHelperFn,
    Equals,
    GetAtt,
    If,
    Join,
    Not,
    Or,
    Output,
    Ref,
    Select,
    Split,
    Sub,
    Tags,
    Template,
    ec2,
    ssm,
)
from troposphere import Condition as TemplateCondition

from templates_src.blocks import environment
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext
from templates_src.templates.env import env_vpc

NAME = "env-vpc-egress"
DESCRIPTION = (
    "Connects the environment's private subnets to AWS services through VPC endpoints and, optionally, "
    "to the internet through NAT gateways"
)

ENV = environment.ENV
ACCOUNT = Ref("AWS::AccountId")


# -- the interface endpoints, as data ---------------------------------------------------------------------------
# An interface endpoint's toggle: YES, NO, or Auto (created with a new VPC; with an existing VPC its own endpoints
# serve: EC2 refuses a second endpoint with private DNS for a service in one VPC, and enterprise VPCs have them).
AUTO = "Auto"


@dataclass(frozen=True)
class InterfaceEndpoint:
    """An interface VPC endpoint of the environment and the parameter that turns it on."""

    toggle: str  # parameter name (the reference's, so its parameter files keep working)
    logical_id: str
    service: str  # after com.amazonaws.<region>., or a full name pattern (SageMaker's aws.sagemaker.<region>.*)
    label: str
    purpose: str
    default: str = AUTO
    account_principals_only: bool = False  # endpoint policy: only principals of this account

    @property
    def service_name(self) -> str:
        return self.service if "${AWS::Region}" in self.service else f"com.amazonaws.${{AWS::Region}}.{self.service}"

    @property
    def short_name(self) -> str:
        """The service without region: ssm, sagemaker.studio..."""
        return self.service.replace("aws.sagemaker.${AWS::Region}.", "sagemaker.")

    @property
    def condition(self) -> str:
        return f"{self.logical_id}Condition"

    @property
    def spec(self) -> ParamSpec:
        return ParamSpec(
            self.toggle,
            f"Create the {self.label} interface endpoint (private DNS): {self.purpose}. Auto: created "
            "with a new VPC; with an existing VPC (CreateVPC NO) not created, the VPC's own endpoint serves (EC2 "
            "refuses a second endpoint with private DNS for one service in a VPC)",
            f"{self.label} endpoint",
            default=self.default,
            allowed_values=("YES", "NO", AUTO),
            constraint="must be YES, NO or Auto",
        )


E = InterfaceEndpoint
INTERFACE_ENDPOINTS = (
    E(
        "CreateSSMVPCEndpoint",
        "VPCEndpointSSM",
        "ssm",
        "Systems Manager",
        "the environment's SSM parameters, read by the MLOps projects and their seed code",
    ),
    E("CreateCWVPCEndpoint", "VPCEndpointCW", "monitoring", "CloudWatch", "metrics of jobs and endpoints"),
    E("CreateCWLVPCEndpoint", "VPCEndpointCWL", "logs", "CloudWatch Logs", "logs of jobs, endpoints and functions"),
    E(
        "CreateSageMakerAPIVPCEndpoint",
        "VPCEndpointSageMakerAPI",
        "sagemaker.api",
        "SageMaker API",
        "the SageMaker API (Studio, jobs, pipelines, model registry) and Studio's presigned URLs",
    ),
    E(
        "CreateSageMakerRuntimeVPCEndpoint",
        "VPCEndpointSageMakerRuntime",
        "sagemaker.runtime",
        "SageMaker Runtime",
        "invocations of SageMaker endpoints",
    ),
    E(
        "CreateSageMakerNotebookVPCEndpoint",
        "VPCEndpointSageMakerNotebook",
        "aws.sagemaker.${AWS::Region}.notebook",
        "SageMaker notebook",
        "only Studio Classic and notebook instances use it",
        default="NO",
    ),
    E(
        "CreateSageMakerStudioVPCEndpoint",
        "VPCEndpointSageMakerStudio",
        "aws.sagemaker.${AWS::Region}.studio",
        "SageMaker Studio",
        "Studio's web interface from the VPC or networks connected to it",
    ),
    E("CreateSTSVPCEndpoint", "VPCEndpointSTS", "sts", "STS", "role sessions of jobs, pipelines and the SDK"),
    E(
        "CreateCodeCommitVPCEndpoint",
        "VPCEndpointCodeCommit",
        "git-codecommit",
        "CodeCommit Git",
        "git over HTTPS to the projects' CodeCommit repositories",
    ),
    E(
        "CreateCodeCommitAPIVPCEndpoint",
        "VPCEndpointCodeCommitAPI",
        "codecommit",
        "CodeCommit API",
        "the CodeCommit API",
    ),
    E(
        "CreateCodePipelineVPCEndpoint",
        "VPCEndpointCodePipeline",
        "codepipeline",
        "CodePipeline",
        "the projects' pipelines",
    ),
    E("CreateCodeBuildVPCEndpoint", "VPCEndpointCodeBuild", "codebuild", "CodeBuild", "the projects' builds"),
    E("CreateECRAPIVPCEndpoint", "VPCEndpointECRAPI", "ecr.api", "ECR API", "container image metadata"),
    E("CreateECRVPCEndpoint", "VPCEndpointECR", "ecr.dkr", "ECR Docker", "container image pulls"),
    E(
        "CreateServiceCatalogVPCEndpoint",
        "VPCEndpointServiceCatalog",
        "servicecatalog",
        "Service Catalog",
        "SageMaker projects, provisioned from Service Catalog",
    ),
    E(
        "CreateCloudFormationVPCEndpoint",
        "VPCEndpointCloudFormation",
        "cloudformation",
        "CloudFormation",
        "the model deploy builds find the accounts of the environment's organizational units (its StackSet's "
        "instances) and follow the deployments",
    ),
    E(
        "CreateKMSVPCEndpoint",
        "VPCEndpointKMS",
        "kms",
        "KMS",
        "encryption with the environment's keys; only principals of this account may use it",
        account_principals_only=True,
    ),
)
KMS_ENDPOINT = next(e for e in INTERFACE_ENDPOINTS if e.service == "kms")

# -- parameters -------------------------------------------------------------------------------------------------
VPC_ID = ParamSpec("VPCId", "The environment's VPC (the VPCId output of env-vpc)", "VPC id", type="AWS::EC2::VPC::Id")
PRIVATE_SUBNET_IDS = ParamSpec(
    "PrivateSubnetIds",
    "Private subnets, one per Availability Zone in zone order (the PrivateSubnetIds output of "
    "env-vpc): every interface endpoint gets a network interface in each",
    "Private subnet ids",
    type="List<AWS::EC2::Subnet::Id>",
)
PRIVATE_ROUTE_TABLE_IDS = ParamSpec(
    "PrivateRouteTableIds",
    "Route tables of the private subnets, in the order of the subnets (the "
    "PrivateRouteTableIds output of env-vpc): the S3 gateway endpoint is associated with all, and with NAT "
    "gateways route table i gets a default route to the NAT gateway of zone i",
    "Private route table ids",
    type="CommaDelimitedList",
    allowed_pattern=r"rtb-[0-9a-f]{8,17}",
    constraint="must be comma-separated route table ids (rtb-...)",
)
VPC_ENDPOINTS_SECURITY_GROUP_ID = ParamSpec(
    "VPCEndpointsSecurityGroupId",
    "Security group of the interface endpoints (the VPCEndpointsSecurityGroupId output of env-vpc)",
    "Endpoints security group id",
    type="AWS::EC2::SecurityGroup::Id",
)
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
CREATE_S3_ENDPOINT = params.yes_no(
    "CreateS3VPCEndpoint",
    "Create the S3 gateway endpoint (NO: the VPC has one already, given below; its policy "
    "must allow what the environment needs)",
    "Create S3 endpoint",
)
EXISTING_S3_ENDPOINT_ID = ParamSpec(
    "ExistingS3VPCEndpointId",
    "Existing S3 gateway endpoint of the VPC (only when CreateS3VPCEndpoint is NO)",
    "Existing S3 endpoint id",
    default="",
    allowed_pattern=r"(vpce-[0-9a-f]{8,17})?",
    max_length=22,
    constraint="must be a VPC endpoint id (vpce-...), or empty",
)
DATA_BUCKET = environment.bucket_param(
    "DataBucketName",
    "The environment's data bucket (read and written through the S3 endpoint)",
    "Data bucket name",
    required=True,
)
MODEL_BUCKET = environment.bucket_param(
    "ModelBucketName",
    "The environment's model bucket (read and written through the S3 endpoint)",
    "Model bucket name",
    required=True,
)
SEED_CODE_BUCKET = environment.bucket_param(
    "SeedCodeS3BucketName",
    "Bucket with the MLOps project seed code (read only through the S3 endpoint)",
    "Seed code bucket",
    required=True,
)

PARAMETERS = (
    params.ENV_NAME,
    params.ENV_TYPE,
    env_vpc.CREATE_VPC,
    VPC_ID,
    env_vpc.AVAILABILITY_ZONES,
    env_vpc.NUMBER_OF_AZS,
    PRIVATE_SUBNET_IDS,
    PRIVATE_ROUTE_TABLE_IDS,
    VPC_ENDPOINTS_SECURITY_GROUP_ID,
    CREATE_NAT,
    *PUBLIC_SUBNET_CIDRS,
    CREATE_S3_ENDPOINT,
    EXISTING_S3_ENDPOINT_ID,
    *(e.spec for e in INTERFACE_ENDPOINTS),
    DATA_BUCKET,
    MODEL_BUCKET,
    SEED_CODE_BUCKET,
)

# -- conditions -------------------------------------------------------------------------------------------------
NAT = "NATGatewaysCondition"
NEW_VPC = "NewVPCCondition"
S3_ENDPOINT = "S3VPCEndpointCondition"


def name_tag(suffix: str) -> Tags:
    return Tags(Name=Sub(f"{ENV}-{suffix}"))


# -- endpoint policies ------------------------------------------------------------------------------------------
# What SageMaker, the SDK and the projects do with objects, and the bucket calls that go with it.  No bucket
# configuration (policy, encryption, ACLs): that is changed by administrators through the console and
# CloudFormation, outside the VPC.
OBJECT_ACTIONS = (
    "GetObject",
    "GetObjectVersion",
    "GetObjectTagging",
    "PutObject",
    "PutObjectTagging",
    "DeleteObject",
    "AbortMultipartUpload",
    "ListMultipartUploadParts",
)
BUCKET_ACTIONS = ("ListBucket", "ListBucketVersions", "ListBucketMultipartUploads", "GetBucketLocation")


def _statement(sid: str, actions: tuple[str, ...], resources: list, condition: Condition | None = None) -> Statement:
    kwargs = {
        "Sid": sid,
        "Effect": Allow,
        "Principal": Principal("*"),
        "Action": iam_blocks.actions("s3", *actions),
        "Resource": resources,
    }
    if condition is not None:
        kwargs["Condition"] = condition
    return Statement(**kwargs)


def _objects_and_buckets(ctx: BuildContext, buckets: tuple[str, ...]) -> list:
    return [arn for bucket in buckets for arn in (ctx.bucket_arn(bucket), ctx.bucket_arn(bucket, "*"))]


def own_principal() -> Condition:
    """Only callers of this account."""
    return Condition(StringEquals({"aws:PrincipalAccount": ACCOUNT}))


def named_buckets_statement(
    ctx: BuildContext, sid: str, buckets: tuple[str, ...], actions: tuple[str, ...] = OBJECT_ACTIONS + BUCKET_ACTIONS
) -> Statement:
    """``actions`` on the buckets named (Fn::Sub patterns) and their objects, for callers of this account."""
    return _statement(sid, actions, _objects_and_buckets(ctx, buckets), own_principal())


def prefix_statement(ctx: BuildContext, sid: str, bucket: str, prefix: str, actions: tuple[str, ...]) -> Statement:
    """``actions`` on the objects under ``prefix`` of one bucket (an Fn::Sub pattern), for callers of this
    account."""
    return _statement(sid, actions, [ctx.bucket_arn(bucket, prefix + "*")], own_principal())


def account_sagemaker_bucket_statements(ctx: BuildContext) -> list[Statement]:
    """Buckets of this account that SageMaker projects (CodePipeline artifacts, sm-mlops-cp-*) and the SageMaker
    SDK (its default bucket sagemaker-<region>-<account>, Studio's sagemaker-studio-*) use.  The names are
    anybody's to take in other accounts, hence the bucket owner condition."""
    return [
        _statement(
            "AccountSageMakerBuckets",
            OBJECT_ACTIONS + BUCKET_ACTIONS,
            _objects_and_buckets(ctx, ("sagemaker-*", "sm-mlops-cp-*")),
            Condition(StringEquals({"s3:ResourceAccount": ACCOUNT, "aws:PrincipalAccount": ACCOUNT})),
        ),
        # The SDK creates its default bucket on first use; a new bucket belongs to the caller's account.
        _statement(
            "CreateAccountSageMakerBuckets",
            ("CreateBucket",),
            [ctx.bucket_arn("sagemaker-*"), ctx.bucket_arn("sm-mlops-cp-*")],
            own_principal(),
        ),
    ]


def ecr_layers_statement(ctx: BuildContext) -> Statement:
    """ECR keeps image layers in an AWS-owned bucket of the region; pulls from the VPC (Studio images, job and
    endpoint containers) download them through the S3 endpoint.  Read only."""
    return _statement(
        "ECRImageLayers", ("GetObject",), [ctx.bucket_arn("prod-${AWS::Region}-starport-layer-bucket", "*")]
    )


def s3_endpoint_policy(ctx: BuildContext) -> PolicyDocument:
    """The buckets workloads in the VPC may use through the S3 endpoint, by name: no 'any bucket whose name
    contains sagemaker, in any account', no grant by object tag (a tag anybody can set on their own objects).

    Requests to buckets of this account carry the condition that the caller is of this account too, so
    credentials brought in from elsewhere cannot use the endpoint to reach them.  The AWS-owned buckets are
    reached with URLs presigned by AWS (ECR, CloudFormation), whose principal is not of this account.
    """
    # cloudformation-custom-resource-response-<region without dashes>: exactly the AWS-owned bucket of this
    # region.  A wildcard would let anybody's bucket named cloudformation-custom-resource-response-<anything>
    # receive objects from the VPC.
    cfn_responses = Sub(
        "arn:${AWS::Partition}:s3:::cloudformation-custom-resource-response-${Region}/*",
        Region=Join("", Split("-", Ref("AWS::Region"))),
    )
    return iam_blocks.document(
        # The environment's data and models: what Studio, jobs and pipelines read and write.
        named_buckets_statement(ctx, "EnvironmentBuckets", ("${DataBucketName}", "${ModelBucketName}")),
        # The MLOps seed code the projects start from: read only.
        _statement("SeedCodeRead", ("GetObject",), [ctx.bucket_arn("${SeedCodeS3BucketName}", "*")], own_principal()),
        _statement("SeedCodeList", ("ListBucket",), [ctx.bucket_arn("${SeedCodeS3BucketName}")], own_principal()),
        *account_sagemaker_bucket_statements(ctx),
        ecr_layers_statement(ctx),
        # Functions in the VPC (custom resources) answer CloudFormation with a PUT to its response bucket of
        # this region, through a presigned URL; without it the stack waits for an hour and fails.
        _statement("CloudFormationResponses", ("PutObject",), [cfn_responses]),
    )


def kms_endpoint_policy() -> PolicyDocument:
    """KMS through the endpoint only for principals of this account: credentials of another account cannot use
    it (for example to encrypt data with a key of their own and carry it out).  Keys of other accounts stay
    usable by this account's principals; KMS key policies decide who may use which key."""
    return iam_blocks.document(
        Statement(
            Sid="AccountPrincipalsOnly",
            Effect=Allow,
            Principal=Principal("*"),
            Action=iam_blocks.actions("kms", "*"),
            Resource=["*"],
            Condition=Condition(StringEquals({"aws:PrincipalAccount": ACCOUNT})),
        )
    )


# -- builders ---------------------------------------------------------------------------------------------------
def interface_endpoints(
    ctx: BuildContext, t: Template, vpc_id, subnet_ids, security_group_id
) -> dict[str, ec2.VPCEndpoint]:
    """Every interface endpoint of the table, each behind its parameter (Auto: with a new VPC only), with private
    DNS (the services' own names resolve to the endpoint inside the VPC, so no client needs to be configured)."""
    created = {}
    t.add_condition(NEW_VPC, Equals(Ref(env_vpc.CREATE_VPC.name), "YES"))
    for endpoint in INTERFACE_ENDPOINTS:
        t.add_condition(
            endpoint.condition,
            Or(
                Equals(Ref(endpoint.toggle), "YES"), And(Equals(Ref(endpoint.toggle), AUTO), TemplateCondition(NEW_VPC))
            ),
        )
        created[endpoint.toggle] = t.add_resource(
            interface_endpoint(endpoint, vpc_id, subnet_ids, security_group_id, endpoint.condition)
        )
    return created


def interface_endpoint(
    endpoint: InterfaceEndpoint, vpc_id, subnet_ids, security_group_id, condition: str | None = None
) -> ec2.VPCEndpoint:
    """One interface endpoint of the table with private DNS, in ``subnet_ids`` behind ``security_group_id``
    (not yet added to a template); it exists when ``condition`` holds (None: always)."""
    only_if = {"Condition": condition} if condition else {}
    resource = ec2.VPCEndpoint(
        endpoint.logical_id,
        **only_if,
        VpcEndpointType="Interface",
        ServiceName=Sub(endpoint.service_name),
        VpcId=vpc_id,
        SubnetIds=subnet_ids,
        SecurityGroupIds=[security_group_id],
        PrivateDnsEnabled=True,
        Tags=name_tag(endpoint.short_name),
    )
    if endpoint.account_principals_only:
        resource.PolicyDocument = kms_endpoint_policy()
    return resource


def s3_endpoint(ctx: BuildContext, t: Template, vpc_id, route_table_ids) -> AWSHelperFn:
    """The S3 gateway endpoint on the private route tables, or the existing one: returns the endpoint id."""
    t.add_condition(S3_ENDPOINT, Equals(Ref(CREATE_S3_ENDPOINT.name), "YES"))
    t.add_rule(
        "S3VPCEndpoint",
        {
            "RuleCondition": Equals(Ref(CREATE_S3_ENDPOINT.name), "NO"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(EXISTING_S3_ENDPOINT_ID.name), "")),
                    "AssertDescription": "ExistingS3VPCEndpointId is required when CreateS3VPCEndpoint is NO",
                }
            ],
        },
    )
    endpoint = t.add_resource(s3_gateway_endpoint(vpc_id, route_table_ids, s3_endpoint_policy(ctx), S3_ENDPOINT))
    return If(S3_ENDPOINT, Ref(endpoint), Ref(EXISTING_S3_ENDPOINT_ID.name))


def s3_gateway_endpoint(
    vpc_id, route_table_ids, policy: PolicyDocument, condition: str | None = None
) -> ec2.VPCEndpoint:
    """The S3 gateway endpoint on ``route_table_ids`` with ``policy`` (not yet added to a template); it exists
    when ``condition`` holds (None: always)."""
    only_if = {"Condition": condition} if condition else {}
    return ec2.VPCEndpoint(
        "VPCEndpointS3",
        **only_if,
        VpcEndpointType="Gateway",
        ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
        VpcId=vpc_id,
        RouteTableIds=route_table_ids,
        PolicyDocument=policy,
        Tags=name_tag("s3"),
    )


def nat_gateways(ctx: BuildContext, t: Template, vpc_id, route_table_ids) -> list:
    """Internet gateway, a public subnet and NAT gateway per zone, and in private route table i a default route
    to the NAT gateway of zone i (a zone keeps its internet access when another zone fails).  Only with a new
    VPC and new private subnets (env-main checks that): returns the NAT gateways, zones 3 and 4 conditional."""
    env_vpc.az_conditions(t)
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
        condition = env_vpc.az_condition(t, NAT, i)
        subnet = t.add_resource(
            ec2.Subnet(
                f"PublicSubnet{n}",
                Condition=condition,
                VpcId=vpc_id,
                CidrBlock=Ref(cidr.name),
                AvailabilityZone=env_vpc.zone(i),
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


def ssm_parameters(t: Template, s3_endpoint_id, kms_endpoint: ec2.VPCEndpoint) -> None:
    """The SSM contract: the S3 endpoint always (bucket policies name it), the KMS endpoint when it exists."""
    s3_endpoint_ssm_parameter(t, s3_endpoint_id)
    t.add_resource(
        ssm.Parameter(
            "VPCEndpointKMSIdSSM",
            Condition=KMS_ENDPOINT.condition,
            Name=environment.ssm_name("kms-vpce-id"),
            Type="String",
            Value=Ref(kms_endpoint),
            Description=Sub(f"Environment {ENV}: KMS interface endpoint"),
        )
    )


def s3_endpoint_ssm_parameter(t: Template, s3_endpoint_id) -> None:
    """${EnvName}-${EnvType}-s3-vpce-id: the S3 gateway endpoint's id."""
    t.add_resource(
        ssm.Parameter(
            "VPCEndpointS3IdSSM",
            Name=environment.ssm_name("s3-vpce-id"),
            Type="String",
            Value=s3_endpoint_id,
            Description=Sub(f"Environment {ENV}: S3 gateway endpoint"),
        )
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(t, *PARAMETERS)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            (
                "Network (outputs of env-vpc)",
                [
                    env_vpc.CREATE_VPC,
                    VPC_ID,
                    env_vpc.AVAILABILITY_ZONES,
                    env_vpc.NUMBER_OF_AZS,
                    PRIVATE_SUBNET_IDS,
                    PRIVATE_ROUTE_TABLE_IDS,
                    VPC_ENDPOINTS_SECURITY_GROUP_ID,
                ],
            ),
            ("Internet access", [CREATE_NAT, *PUBLIC_SUBNET_CIDRS]),
            ("S3 endpoint", [CREATE_S3_ENDPOINT, EXISTING_S3_ENDPOINT_ID, DATA_BUCKET, MODEL_BUCKET, SEED_CODE_BUCKET]),
            ("Interface endpoints", [e.spec for e in INTERFACE_ENDPOINTS]),
        ],
    )
    vpc_id, route_tables = Ref(VPC_ID.name), Ref(PRIVATE_ROUTE_TABLE_IDS.name)
    endpoints = interface_endpoints(
        ctx, t, vpc_id, Ref(PRIVATE_SUBNET_IDS.name), Ref(VPC_ENDPOINTS_SECURITY_GROUP_ID.name)
    )
    s3_endpoint_id = s3_endpoint(ctx, t, vpc_id, route_tables)
    nats = nat_gateways(ctx, t, vpc_id, route_tables)
    ssm_parameters(t, s3_endpoint_id, endpoints[KMS_ENDPOINT.toggle])
    t.add_output(
        [
            Output(
                "VPCEndpointS3Id",
                Description="Id of the S3 gateway endpoint (created or existing)",
                Value=s3_endpoint_id,
            ),
            Output(
                "VPCEndpointKMSId",
                Description="Id of the KMS interface endpoint",
                Condition=KMS_ENDPOINT.condition,
                Value=Ref(endpoints[KMS_ENDPOINT.toggle]),
            ),
            Output(
                "NATGatewayIds",
                Description="Ids of the NAT gateways, comma-separated, in zone order",
                Condition=NAT,
                Value=env_vpc.join_per_az(nats),
            ),
        ]
    )
    return t
