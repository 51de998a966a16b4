"""env-vpc-egress: how the environment's private subnets reach AWS services and, optionally, the internet.

Interface VPC endpoints (private DNS, in every private subnet, behind the endpoints' security group of env-vpc),
the S3 gateway endpoint with a policy that names the environment's buckets, and optionally NAT gateways, one
per Availability Zone.  Without NAT gateways the environment is internet-free: AWS services are reachable
only through the endpoints created here.

Separate from env-vpc because endpoints and NAT gateways take minutes to create and the Studio domain needs
none of them to be created (a nested stack's outputs wait for all of its resources).  The endpoints are the
environment's rows of the catalogue in templates_src/blocks/endpoints.py, the NAT gateways a network block
(templates_src/blocks/vpc.py).
"""

from __future__ import annotations

from awacs.aws import PolicyDocument
from troposphere import Output, Ref, Template

from templates_src.blocks import endpoints, environment, package_mirror, vpc
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

NAME = "env-vpc-egress"
DESCRIPTION = (
    "Connects the environment's private subnets to AWS services through VPC endpoints and, optionally, "
    "to the internet through NAT gateways"
)

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


def parameters() -> tuple[ParamSpec, ...]:
    """The template's parameters: the network's, then every endpoint toggle of the environment in the catalogue
    (read when called)."""
    s3 = endpoints.s3()
    return (
        params.ENV_NAME,
        params.ENV_TYPE,
        vpc.CREATE_VPC,
        VPC_ID,
        vpc.AVAILABILITY_ZONES,
        vpc.NUMBER_OF_AZS,
        PRIVATE_SUBNET_IDS,
        PRIVATE_ROUTE_TABLE_IDS,
        VPC_ENDPOINTS_SECURITY_GROUP_ID,
        vpc.CREATE_NAT,
        *vpc.PUBLIC_SUBNET_CIDRS,
        s3.spec,
        s3.existing_spec,
        *(e.spec for e in endpoints.created(endpoints.ENVIRONMENT)),
        *_mirror(),
        DATA_BUCKET,
        MODEL_BUCKET,
        SEED_CODE_BUCKET,
    )


def _mirror() -> tuple[ParamSpec, ...]:
    """The package mirror's choice, when endpoints of the catalogue serve it (their Auto and policy depend on it)."""
    return (package_mirror.USE_MIRROR,) if endpoints.mirror_toggles() else ()


def s3_endpoint_policy(ctx: BuildContext) -> PolicyDocument:
    """The buckets workloads in the VPC may use through the S3 endpoint, by name: no 'any bucket whose name
    contains sagemaker, in any account', no grant by object tag (a tag anybody can set on their own objects).

    Requests to buckets of this account carry the condition that the caller is of this account too, so
    credentials brought in from elsewhere cannot use the endpoint to reach them.  The AWS-owned buckets are
    reached with URLs presigned by AWS (ECR, CloudFormation), whose principal is not of this account.
    """
    seed = "${SeedCodeS3BucketName}"
    return iam_blocks.document(
        # The environment's data and models: what Studio, jobs and pipelines read and write.
        endpoints.named_buckets_statement(ctx, "EnvironmentBuckets", ("${DataBucketName}", "${ModelBucketName}")),
        # The MLOps seed code the projects start from: read only.
        endpoints.s3_statement("SeedCodeRead", ("GetObject",), [ctx.bucket_arn(seed, "*")], endpoints.own_principal()),
        endpoints.s3_statement("SeedCodeList", ("ListBucket",), [ctx.bucket_arn(seed)], endpoints.own_principal()),
        *endpoints.account_sagemaker_bucket_statements(ctx),
        endpoints.ecr_layers_statement(ctx),
        endpoints.cloudformation_responses_statement(),
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    s3, interface = endpoints.s3(), endpoints.created(endpoints.ENVIRONMENT)
    params.add(t, *parameters())
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            (
                "Network (outputs of env-vpc)",
                [
                    vpc.CREATE_VPC,
                    VPC_ID,
                    vpc.AVAILABILITY_ZONES,
                    vpc.NUMBER_OF_AZS,
                    PRIVATE_SUBNET_IDS,
                    PRIVATE_ROUTE_TABLE_IDS,
                    VPC_ENDPOINTS_SECURITY_GROUP_ID,
                ],
            ),
            ("Internet access", [vpc.CREATE_NAT, *vpc.PUBLIC_SUBNET_CIDRS]),
            ("S3 endpoint", [s3.spec, s3.existing_spec, DATA_BUCKET, MODEL_BUCKET, SEED_CODE_BUCKET]),
            ("Interface endpoints", [e.spec for e in interface]),
            *([("Package mirror", list(_mirror()))] if _mirror() else []),
        ],
    )
    if _mirror():
        package_mirror.add_conditions(t, index=False)
    vpc_id, route_tables = Ref(VPC_ID.name), Ref(PRIVATE_ROUTE_TABLE_IDS.name)
    created = endpoints.interface_endpoints(
        t, vpc_id, Ref(PRIVATE_SUBNET_IDS.name), Ref(VPC_ENDPOINTS_SECURITY_GROUP_ID.name)
    )
    s3_endpoint_id = endpoints.s3_endpoint(t, vpc_id, route_tables, s3_endpoint_policy(ctx))
    nats = vpc.nat_gateways(ctx, t, vpc_id, route_tables)
    kms = endpoints.kms()
    endpoints.ssm_parameters(t, s3_endpoint_id, created[kms.toggle])
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
                Condition=kms.condition,
                Value=Ref(created[kms.toggle]),
            ),
            Output(
                "NATGatewayIds",
                Description="Ids of the NAT gateways, comma-separated, in zone order",
                Condition=vpc.NAT,
                Value=vpc.join_per_az(nats),
            ),
        ]
    )
    return t
