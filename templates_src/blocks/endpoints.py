"""The VPC endpoints of the platform's networks: one catalogue, and the blocks that build them.

Each endpoint is one row of ``ENDPOINTS``: its service, its kind (interface or gateway), the parameter that turns
it on (with its default, console label and purpose), its endpoint policy, whether an internet-free environment
(no NAT gateways) needs it, and the networks that have it: the environment's VPC (``ENVIRONMENT``: env-vpc-egress
creates it behind its toggle, env-main offers the toggle and passes it on) and the network of the staging and
production accounts (``TARGET_ACCOUNTS``: env-target-account-network creates it, always).

Everything else is derived from the rows: env-vpc-egress's toggles and endpoints, the toggles env-main offers,
env-main's InternetFree Rule, the target-account network's endpoints and the README's table of endpoints
(templates_src/readme_blocks.py).  Adding an interface endpoint is adding a row (and its test).  The selectors
read ``ENDPOINTS`` when they are called, never at import, so a test can add a row and build.

The S3 endpoint is the one gateway endpoint: its policy names buckets, which each template gives
(``s3_gateway_endpoint``), and an existing one can stand in for it (``ExistingS3VPCEndpointId``).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import And, Equals, If, Join, Not, Or, Ref, Split, Sub, Template, ec2, ssm
from troposphere import Condition as TemplateCondition

from templates_src.blocks import environment, package_mirror, vpc
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext

ENV = environment.ENV
ACCOUNT = Ref("AWS::AccountId")

# Kinds (EC2's VpcEndpointType).
INTERFACE = "Interface"
GATEWAY = "Gateway"

# The networks that have an endpoint.
ENVIRONMENT = "environment"  # the environment's VPC: env-vpc-egress, toggles offered by env-main
TARGET_ACCOUNTS = "target accounts"  # env-target-account-network in every staging and production account

# Endpoint policies.
DEFAULT_POLICY = "default"  # AWS's (any principal, any action): the security groups decide who reaches it
ACCOUNT_PRINCIPALS_ONLY = "account principals only"  # only principals of this account may use it
NAMED_BUCKETS = "named buckets"  # S3: the buckets each template names (``s3_gateway_endpoint``)
PACKAGE_MIRROR = (
    "package mirror"  # CodeArtifact: the environment's mirror only (templates_src/blocks/package_mirror.py)
)

# An interface endpoint's toggle: YES, NO, or Auto (created with a new VPC; with an existing VPC its own endpoints
# serve: EC2 refuses a second endpoint with private DNS for a service in one VPC, and enterprise VPCs have them).
AUTO = "Auto"


@dataclass(frozen=True)
class Endpoint:
    """A VPC endpoint of the platform's networks and the parameter that turns it on."""

    toggle: str  # parameter name (the reference's, so its parameter files keep working)
    logical_id: str
    service: str  # after com.amazonaws.<region>., or a full name pattern (SageMaker's aws.sagemaker.<region>.*)
    label: str
    purpose: str
    kind: str = INTERFACE
    default: str = AUTO
    policy: str = DEFAULT_POLICY
    internet_free: bool = False  # an environment without NAT gateways cannot work without it
    networks: tuple[str, ...] = (ENVIRONMENT,)
    # Position of its assertion in env-main's InternetFree Rule, whose order predates the catalogue (kept, so that
    # the generated template does not change); rows without one follow the numbered ones, in catalogue order.
    rule_position: int | None = None
    existing: str | None = None  # gateway: the parameter that names the VPC's existing endpoint instead
    iam_prefix: str | None = None  # service prefix of its IAM actions (policy), when not the service's first part
    # Serves the environment's package mirror (UseSharedServicesPyPiMirror): Auto creates it only with the mirror,
    # and an internet-free environment with the mirror needs it.
    with_mirror: bool = False

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
    def actions_prefix(self) -> str:
        return self.iam_prefix or self.service.split(".")[0]

    @property
    def spec(self) -> ParamSpec:
        """The toggle's parameter."""
        if self.kind == GATEWAY:
            return params.yes_no(
                self.toggle,
                f"Create the {self.label} gateway endpoint (NO: the VPC has one already, given below; its policy "
                "must allow what the environment needs)",
                f"Create {self.label} endpoint",
                default=self.default,
            )
        auto = (
            f"with the environment's package mirror ({package_mirror.USE_MIRROR.name} YES) in "
            if self.with_mirror
            else "with "
        )
        return ParamSpec(
            self.toggle,
            f"Create the {self.label} interface endpoint (private DNS): {self.purpose}. Auto: created "
            f"{auto}a new VPC; with an existing VPC (CreateVPC NO) not created, the VPC's own endpoint serves (EC2 "
            "refuses a second endpoint with private DNS for one service in a VPC)",
            f"{self.label} endpoint",
            default=self.default,
            allowed_values=("YES", "NO", AUTO),
            constraint="must be YES, NO or Auto",
        )

    @property
    def existing_spec(self) -> ParamSpec | None:
        """The parameter that names an existing endpoint (gateway endpoints), else None."""
        if self.existing is None:
            return None
        return ParamSpec(
            self.existing,
            f"Existing {self.label} gateway endpoint of the VPC (only when {self.toggle} is NO)",
            f"Existing {self.label} endpoint id",
            default="",
            allowed_pattern=r"(vpce-[0-9a-f]{8,17})?",
            max_length=22,
            constraint="must be a VPC endpoint id (vpce-...), or empty",
        )

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names of its parameters, as env-main offers them."""
        return (self.toggle,) + ((self.existing,) if self.existing else ())


E = Endpoint
BOTH = (ENVIRONMENT, TARGET_ACCOUNTS)
# In the order env-main lists the toggles (and the README the endpoints); env-vpc-egress creates them in this order
# too, but those with a policy of their own last (``created``).
ENDPOINTS: tuple[Endpoint, ...] = (
    E(
        "CreateS3VPCEndpoint",
        "VPCEndpointS3",
        "s3",
        "S3",
        "the environment's buckets, the seed code, this account's SageMaker buckets, ECR image layers and "
        "CloudFormation's responses, by name",
        kind=GATEWAY,
        default="YES",
        policy=NAMED_BUCKETS,
        internet_free=True,
        networks=BOTH,
        existing="ExistingS3VPCEndpointId",
    ),
    E(
        "CreateSSMVPCEndpoint",
        "VPCEndpointSSM",
        "ssm",
        "Systems Manager",
        "the environment's SSM parameters, read by the MLOps projects and their seed code",
        internet_free=True,
        rule_position=7,
    ),
    E(
        "CreateCWVPCEndpoint",
        "VPCEndpointCW",
        "monitoring",
        "CloudWatch",
        "metrics of jobs and endpoints",
        internet_free=True,
        networks=BOTH,
        rule_position=6,
    ),
    E(
        "CreateCWLVPCEndpoint",
        "VPCEndpointCWL",
        "logs",
        "CloudWatch Logs",
        "logs of jobs, endpoints and functions",
        internet_free=True,
        networks=BOTH,
        rule_position=5,
    ),
    E(
        "CreateSageMakerAPIVPCEndpoint",
        "VPCEndpointSageMakerAPI",
        "sagemaker.api",
        "SageMaker API",
        "the SageMaker API (Studio, jobs, pipelines, model registry) and Studio's presigned URLs",
        internet_free=True,
        networks=BOTH,
        rule_position=1,
    ),
    E(
        "CreateSageMakerRuntimeVPCEndpoint",
        "VPCEndpointSageMakerRuntime",
        "sagemaker.runtime",
        "SageMaker Runtime",
        "invocations of SageMaker endpoints",
        internet_free=True,
        networks=BOTH,
        rule_position=2,
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
        internet_free=True,
        rule_position=3,
    ),
    E(
        "CreateSTSVPCEndpoint",
        "VPCEndpointSTS",
        "sts",
        "STS",
        "role sessions of jobs, pipelines and the SDK",
        internet_free=True,
        networks=BOTH,
        rule_position=4,
    ),
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
    E(
        "CreateECRAPIVPCEndpoint",
        "VPCEndpointECRAPI",
        "ecr.api",
        "ECR API",
        "container image metadata",
        internet_free=True,
        networks=BOTH,
        rule_position=10,
    ),
    E(
        "CreateECRVPCEndpoint",
        "VPCEndpointECR",
        "ecr.dkr",
        "ECR Docker",
        "container image pulls",
        internet_free=True,
        networks=BOTH,
        rule_position=11,
    ),
    E(
        "CreateServiceCatalogVPCEndpoint",
        "VPCEndpointServiceCatalog",
        "servicecatalog",
        "Service Catalog",
        "SageMaker projects, provisioned from Service Catalog",
        internet_free=True,
        rule_position=9,
    ),
    E(
        "CreateKMSVPCEndpoint",
        "VPCEndpointKMS",
        "kms",
        "KMS",
        "encryption with the environment's keys; only principals of this account may use it",
        policy=ACCOUNT_PRINCIPALS_ONLY,
        internet_free=True,
        networks=BOTH,
        rule_position=8,
    ),
    E(
        "CreateCodeArtifactAPIVPCEndpoint",
        "VPCEndpointCodeArtifactAPI",
        "codeartifact.api",
        "CodeArtifact API",
        "the projects' builds get a token and the address of the environment's package mirror",
        policy=PACKAGE_MIRROR,
        with_mirror=True,
    ),
    E(
        "CreateCodeArtifactRepositoriesVPCEndpoint",
        "VPCEndpointCodeArtifactRepositories",
        "codeartifact.repositories",
        "CodeArtifact repositories",
        "pip installs the projects' packages from the environment's package mirror",
        policy=PACKAGE_MIRROR,
        with_mirror=True,
        iam_prefix="codeartifact",
    ),
    E(
        "CreateCloudFormationVPCEndpoint",
        "VPCEndpointCloudFormation",
        "cloudformation",
        "CloudFormation",
        "the model deploy builds find the accounts of the environment's organizational units (its StackSet's "
        "instances) and follow the deployments",
        internet_free=True,
        rule_position=12,
    ),
)


# -- selectors (read ENDPOINTS when called) -------------------------------------------------------------------------
def rows(network: str | None = None, kind: str | None = None) -> tuple[Endpoint, ...]:
    """The catalogue's rows of ``network`` and ``kind`` (all when None), in catalogue order."""
    return tuple(
        e for e in ENDPOINTS if (network is None or network in e.networks) and (kind is None or e.kind == kind)
    )


def created(network: str, kind: str = INTERFACE) -> tuple[Endpoint, ...]:
    """The endpoints of ``kind`` a template of ``network`` creates, in the order it creates them: catalogue order,
    those with a policy of their own last (the order of the first release, kept so that the generated templates
    do not change)."""
    return tuple(sorted(rows(network, kind), key=lambda e: e.policy != DEFAULT_POLICY))


def by_service(service: str, kind: str = INTERFACE) -> Endpoint:
    (row,) = [e for e in ENDPOINTS if e.service == service and e.kind == kind]
    return row


def s3() -> Endpoint:
    """The S3 gateway endpoint's row."""
    return by_service("s3", GATEWAY)


def kms() -> Endpoint:
    """The KMS interface endpoint's row (its id is in the environment's SSM contract)."""
    return by_service("kms")


def offered_parameters(network: str = ENVIRONMENT) -> tuple[str, ...]:
    """The endpoint parameters of ``network``'s endpoints, in catalogue order: what env-main offers and passes to
    env-vpc-egress."""
    return tuple(name for e in rows(network) for name in e.parameters)


def mirror_toggles() -> tuple[str, ...]:
    """The toggles of the endpoints the environment's package mirror is reached through, in catalogue order."""
    return tuple(e.toggle for e in rows(ENVIRONMENT, INTERFACE) if e.with_mirror)


def internet_free_toggles() -> tuple[str, ...]:
    """The toggles env-main's InternetFree Rule refuses NO for (without NAT gateways): the environment's interface
    endpoints an internet-free environment needs.  A gateway endpoint is never missing: its toggle NO means the
    VPC's existing one (whose id the ExistingS3Endpoint Rule requires)."""
    needed = [e for e in rows(ENVIRONMENT, INTERFACE) if e.internet_free]
    last = len(ENDPOINTS) + 1
    return tuple(e.toggle for e in sorted(needed, key=lambda e: last if e.rule_position is None else e.rule_position))


# -- endpoint policies ------------------------------------------------------------------------------------------------
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


def s3_statement(sid: str, actions: tuple[str, ...], resources: list, condition: Condition | None = None) -> Statement:
    """A statement of the S3 endpoint's policy: ``actions`` on ``resources``, for any principal (``condition``
    narrows it)."""
    return iam_blocks.allow(
        iam_blocks.actions("s3", *actions), resources, sid=sid, principal=Principal("*"), condition=condition
    )


def _objects_and_buckets(ctx: BuildContext, buckets: tuple[str, ...]) -> list:
    return [arn for bucket in buckets for arn in (ctx.bucket_arn(bucket), ctx.bucket_arn(bucket, "*"))]


def own_principal() -> Condition:
    """Only callers of this account."""
    return Condition(StringEquals({"aws:PrincipalAccount": ACCOUNT}))


def named_buckets_statement(
    ctx: BuildContext, sid: str, buckets: tuple[str, ...], actions: tuple[str, ...] = OBJECT_ACTIONS + BUCKET_ACTIONS
) -> Statement:
    """``actions`` on the buckets named (Fn::Sub patterns) and their objects, for callers of this account."""
    return s3_statement(sid, actions, _objects_and_buckets(ctx, buckets), own_principal())


def prefix_statement(ctx: BuildContext, sid: str, bucket: str, prefix: str, actions: tuple[str, ...]) -> Statement:
    """``actions`` on the objects under ``prefix`` of one bucket (an Fn::Sub pattern), for callers of this
    account."""
    return s3_statement(sid, actions, [ctx.bucket_arn(bucket, prefix + "*")], own_principal())


def account_sagemaker_bucket_statements(ctx: BuildContext) -> list[Statement]:
    """Buckets of this account that SageMaker projects (CodePipeline artifacts, sm-mlops-cp-*) and the SageMaker
    SDK (its default bucket sagemaker-<region>-<account>, Studio's sagemaker-studio-*) use.  The names are
    anybody's to take in other accounts, hence the bucket owner condition."""
    return [
        s3_statement(
            "AccountSageMakerBuckets",
            OBJECT_ACTIONS + BUCKET_ACTIONS,
            _objects_and_buckets(ctx, ("sagemaker-*", "sm-mlops-cp-*")),
            Condition(StringEquals({"s3:ResourceAccount": ACCOUNT, "aws:PrincipalAccount": ACCOUNT})),
        ),
        # The SDK creates its default bucket on first use; a new bucket belongs to the caller's account.
        s3_statement(
            "CreateAccountSageMakerBuckets",
            ("CreateBucket",),
            [ctx.bucket_arn("sagemaker-*"), ctx.bucket_arn("sm-mlops-cp-*")],
            own_principal(),
        ),
    ]


def ecr_layers_statement(ctx: BuildContext) -> Statement:
    """ECR keeps image layers in an AWS-owned bucket of the region; pulls from the VPC (Studio images, job and
    endpoint containers) download them through the S3 endpoint.  Read only."""
    return s3_statement(
        "ECRImageLayers", ("GetObject",), [ctx.bucket_arn("prod-${AWS::Region}-starport-layer-bucket", "*")]
    )


def cloudformation_responses_statement() -> Statement:
    """Functions in the VPC (custom resources) answer CloudFormation with a PUT to its response bucket of this
    region, through a presigned URL; without it the stack waits for an hour and fails."""
    # cloudformation-custom-resource-response-<region without dashes>: exactly the AWS-owned bucket of this
    # region.  A wildcard would let anybody's bucket named cloudformation-custom-resource-response-<anything>
    # receive objects from the VPC.
    responses = Sub(
        "arn:${AWS::Partition}:s3:::cloudformation-custom-resource-response-${Region}/*",
        Region=Join("", Split("-", Ref("AWS::Region"))),
    )
    return s3_statement("CloudFormationResponses", ("PutObject",), [responses])


def account_principals_only_policy(endpoint: Endpoint) -> PolicyDocument:
    """The service through the endpoint only for principals of this account: credentials of another account
    cannot use it (for KMS, for example, to encrypt data with a key of their own and carry it out).  Resources of
    other accounts stay usable by this account's principals; their own policies (key policies) decide."""
    return iam_blocks.document(
        iam_blocks.allow(
            iam_blocks.actions(endpoint.actions_prefix, "*"),
            ["*"],
            sid="AccountPrincipalsOnly",
            principal=Principal("*"),
            condition=Condition(StringEquals({"aws:PrincipalAccount": ACCOUNT})),
        )
    )


# -- builders ---------------------------------------------------------------------------------------------------------
def interface_endpoints(t: Template, vpc_id, subnet_ids, security_group_id) -> dict[str, ec2.VPCEndpoint]:
    """Every interface endpoint of the environment, each behind its toggle (Auto: with a new VPC only), with private
    DNS (the services' own names resolve to the endpoint inside the VPC, so no client needs to be configured):
    toggle -> endpoint."""
    created_ = {}
    t.add_condition(vpc.NEW_VPC, Equals(Ref(vpc.CREATE_VPC.name), "YES"))
    for endpoint in created(ENVIRONMENT):
        auto = [TemplateCondition(vpc.NEW_VPC)]
        if endpoint.with_mirror:
            auto.append(TemplateCondition(package_mirror.MIRROR))
        t.add_condition(
            endpoint.condition,
            Or(
                Equals(Ref(endpoint.toggle), "YES"),
                And(Equals(Ref(endpoint.toggle), AUTO), *auto),
            ),
        )
        created_[endpoint.toggle] = t.add_resource(
            interface_endpoint(endpoint, vpc_id, subnet_ids, security_group_id, endpoint.condition)
        )
    return created_


def interface_endpoint(
    endpoint: Endpoint, vpc_id, subnet_ids, security_group_id, condition: str | None = None
) -> ec2.VPCEndpoint:
    """One interface endpoint of the catalogue with private DNS, in ``subnet_ids`` behind ``security_group_id``
    (not yet added to a template); it exists when ``condition`` holds (None: always)."""
    only_if = {"Condition": condition} if condition else {}
    resource = ec2.VPCEndpoint(
        endpoint.logical_id,
        **only_if,
        VpcEndpointType=INTERFACE,
        ServiceName=Sub(endpoint.service_name),
        VpcId=vpc_id,
        SubnetIds=subnet_ids,
        SecurityGroupIds=[security_group_id],
        PrivateDnsEnabled=True,
        Tags=vpc.name_tag(endpoint.short_name),
    )
    if endpoint.policy == ACCOUNT_PRINCIPALS_ONLY:
        resource.PolicyDocument = account_principals_only_policy(endpoint)
    elif endpoint.policy == PACKAGE_MIRROR:
        # The mirror's repository only; without the mirror (an index of the user's own behind it) AWS's default.
        resource.PolicyDocument = If(package_mirror.MIRROR, package_mirror.endpoint_policy(), Ref("AWS::NoValue"))
    return resource


S3_ENDPOINT = "S3VPCEndpointCondition"


def s3_endpoint(t: Template, vpc_id, route_table_ids, policy: PolicyDocument) -> If:
    """The S3 gateway endpoint on the private route tables (its toggle YES), or the VPC's existing one (NO, its
    id given): returns the endpoint id."""
    row = s3()
    t.add_condition(S3_ENDPOINT, Equals(Ref(row.toggle), "YES"))
    t.add_rule(
        "S3VPCEndpoint",
        {
            "RuleCondition": Equals(Ref(row.toggle), "NO"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(row.existing), "")),
                    "AssertDescription": f"{row.existing} is required when {row.toggle} is NO",
                }
            ],
        },
    )
    endpoint = t.add_resource(s3_gateway_endpoint(vpc_id, route_table_ids, policy, S3_ENDPOINT))
    return If(S3_ENDPOINT, Ref(endpoint), Ref(row.existing))


def s3_gateway_endpoint(
    vpc_id, route_table_ids, policy: PolicyDocument, condition: str | None = None
) -> ec2.VPCEndpoint:
    """The S3 gateway endpoint on ``route_table_ids`` with ``policy`` (the buckets the template names; not yet added
    to a template); it exists when ``condition`` holds (None: always)."""
    row = s3()
    only_if = {"Condition": condition} if condition else {}
    return ec2.VPCEndpoint(
        row.logical_id,
        **only_if,
        VpcEndpointType=GATEWAY,
        ServiceName=Sub(row.service_name),
        VpcId=vpc_id,
        RouteTableIds=route_table_ids,
        PolicyDocument=policy,
        Tags=vpc.name_tag(row.short_name),
    )


def ssm_parameters(t: Template, s3_endpoint_id, kms_endpoint: ec2.VPCEndpoint) -> None:
    """The SSM contract: the S3 endpoint always (bucket policies name it), the KMS endpoint when it exists."""
    s3_endpoint_ssm_parameter(t, s3_endpoint_id)
    t.add_resource(
        ssm.Parameter(
            "VPCEndpointKMSIdSSM",
            Condition=kms().condition,
            Name=environment.ssm_name(environment.KMS_ENDPOINT_ID_SSM),
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
            Name=environment.ssm_name(environment.S3_ENDPOINT_ID_SSM),
            Type="String",
            Value=s3_endpoint_id,
            Description=Sub(f"Environment {ENV}: S3 gateway endpoint"),
        )
    )
