"""env-main: one data science environment, launched from Service Catalog or deployed directly.

The environment is a tree of nested stacks wired here, and nothing else: each child owns its resources, env-main
passes values between them, writes the SSM parameter contract the MLOps projects read, and checks the
parameters (Rules) before anything is created.

Dependency structure (what CloudFormation can create in parallel):

    env-iam ──> env-kms ──┐
    env-vpc ──────────────┼──> env-sagemaker-studio            (the long pole: the Studio domain)
       └──> env-vpc-egress ──> env-s3                           (endpoints, NAT, then the buckets' policies)
    env-sc-portfolio, env-iam-target-account-roles, guardrails policy: beside the domain
    StackSets into the target accounts (roles, network; account lists or OUs): beside the domain

The network is split in two on purpose: a nested stack's outputs exist only once all of its resources are
complete, and the domain must not wait for VPC endpoints or NAT gateways it does not need to be created.
Names that children need before their producers exist (bucket names, role names) are computed here from
EnvName and EnvType instead of read from outputs, so they add no dependency.
"""

from __future__ import annotations

from troposphere import (
    And,
    Condition,
    Equals,
    GetAtt,
    If,
    ImportValue,
    Join,
    Not,
    Or,
    Output,
    Ref,
    Split,
    Sub,
    Tags,
    Template,
    cloudformation,
    iam,
    resourcegroups,
    ssm,
)

from templates_src import references, release_layout
from templates_src.blocks import boundary as platform_boundary
from templates_src.blocks import endpoints, guardrails, nested, package_mirror, target_accounts
from templates_src.blocks import environment as envb
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks.nested import nested_stack, offer_parameters, pass_through
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext
from templates_src.templates.env import (
    env_iam,
    env_iam_target_account_roles,
    env_kms,
    env_s3,
    env_sagemaker_studio,
    env_sc_portfolio,
    env_target_account_network,
    env_vpc,
    env_vpc_egress,
)

NAME = "env-main"
DESCRIPTION = (
    "Creates a secure SageMaker data science environment: network, KMS keys, S3 buckets, IAM roles, "
    "a VPC-only Studio domain and the MLOps project portfolio"
)

yes_no = params.yes_no

ENV_NAME = params.ENV_NAME.with_(default="sm-mlops")
SEED_CODE_BUCKET = envb.bucket_param(
    "SeedCodeS3BucketName",
    "Bucket that holds the MLOps project seed code (the release bucket `generate.py package` publishes to)",
    "Seed code bucket",
    required=True,
)

# -- deployment options -----------------------------------------------------------------------------------------
CREATE_IAM_ROLES = yes_no(
    "CreateEnvironmentIAMRoles",
    "Create the environment's IAM roles (NO: give the ARNs and names of existing roles below; no role is created then)",
    "Create IAM roles",
)
CREATE_S3_BUCKETS = yes_no(
    "CreateEnvironmentS3Buckets",
    "Create the environment's data and model buckets (NO: give the names of existing buckets below)",
    "Create S3 buckets",
)
START_KERNEL_GATEWAY_APPS = ParamSpec(
    "StartKernelGatewayApps",
    "KernelGateway apps belong to Studio Classic, which this environment does not use; "
    "kept for parameter-file compatibility",
    "Start KernelGateway apps",
    default="NO",
    allowed_values=("NO",),
    constraint="must be NO: the environment uses the current Studio (JupyterLab and Code Editor spaces)",
)
USE_PYPI_MIRROR = package_mirror.USE_MIRROR
DATA_BUCKET = envb.bucket_param(
    "DataBucketName",
    "Existing data bucket (only when CreateEnvironmentS3Buckets is "
    "NO; new buckets are named <env>-<type>-<region>-<account>-data)",
    "Data bucket name",
)
MODEL_BUCKET = envb.bucket_param(
    "ModelBucketName",
    "Existing model bucket (only when CreateEnvironmentS3Buckets "
    "is NO; new buckets are named <env>-<type>-<region>-<account>-models)",
    "Model bucket name",
)

# -- existing roles (CreateEnvironmentIAMRoles NO) --------------------------------------------------------------
_EXISTING = "(only when CreateEnvironmentIAMRoles is NO)"
DS_TEAM_ADMIN_ARN = params.role_arn_param(
    "DSTeamAdministratorRoleArn",
    f"Data science team administrator role {_EXISTING}; may stay empty",
    "Team administrator role ARN",
)
DATA_SCIENTIST_ARN = params.role_arn_param(
    "DataScientistRoleArn", f"Data scientist role {_EXISTING}; may stay empty", "Data scientist role ARN"
)
EXECUTION_ROLE_ARN = params.role_arn_param(
    "SageMakerExecutionRoleArn",
    f"SageMaker execution role of Studio and the jobs {_EXISTING}",
    "SageMaker execution role ARN",
)
PIPELINE_ROLE_ARN = params.role_arn_param(
    "SageMakerPipelineExecutionRoleArn",
    f"SageMaker pipeline execution role {_EXISTING}",
    "SageMaker pipeline execution role ARN",
)
STACKSET_ADMIN_ARN = params.role_arn_param(
    "StackSetAdministrationRoleArn",
    f"StackSet administration role of the environment's own StackSets {_EXISTING}",
    "StackSet administration role ARN",
)
DEPLOYMENT_ADMIN_ARN = params.role_arn_param(
    "ModelDeploymentAdministrationRoleArn",
    f"StackSet administration role of the projects' model deployments {_EXISTING}",
    "Model deployment administration role ARN",
)
BUILD_ROLE_ARN = params.role_arn_param(
    "SageMakerModelBuildRoleArn", f"Role of the model build/train projects {_EXISTING}", "Model build role ARN"
)
DEPLOY_ROLE_ARN = params.role_arn_param(
    "SageMakerModelDeployRoleArn", f"Role of the model deploy projects {_EXISTING}", "Model deploy role ARN"
)
CORE_NAME = params.STACK_SET_NAME.with_(
    name="CoreStackSetName",
    default="sm-mlops-core",
    label="Core deployment name",
    description="Name of the core deployment (core-main's StackSetName) whose platform permissions boundary every "
    "role of the environment carries",
)
SETUP_LAMBDA_ROLE_ARN = params.role_arn_param(
    "SetupLambdaExecutionRoleArn",
    f"Role of the environment's set-up functions {_EXISTING}; it needs the permissions listed in the README",
    "Set-up function role ARN",
)
SC_PROJECT_LAUNCH_ROLE_ARN = params.role_arn_param(
    "SCProjectLaunchRoleArn",
    "Launch role of the MLOps project products; empty uses the account's "
    "service-role/AmazonSageMakerServiceCatalogProductsLaunchRole",
    "MLOps project launch role ARN",
)
SETUP_STACKSET_ROLE_NAME = params.role_name_param(
    "SetupStackSetExecutionRoleName",
    "Name of the StackSet execution role that env-iam-setup-stackset-role "
    "created in the target accounts; empty for its generated name",
    "Target account set-up role name",
)

STACKSET_CALL_AS = ParamSpec(
    "StackSetCallAs",
    "With organizational units: SELF when this is the organization's management account, "
    "DELEGATED_ADMIN when it is a registered delegated administrator for CloudFormation StackSets",
    "StackSets called as",
    default="SELF",
    allowed_values=("SELF", "DELEGATED_ADMIN"),
    constraint="must be SELF or DELEGATED_ADMIN",
)
CREATE_TARGET_NETWORK = yes_no(
    "CreateTargetAccountNetworkInfra",
    "Create the private, internet-free network for model hosting in every target account",
    "Create target account networks",
)

# -- network parameters env-main adds to what its children offer --------------------------------------------------
EXISTING_SUBNETS = "ExistingPrivateSubnetIds"
EXISTING_ROUTE_TABLES = "ExistingPrivateRouteTableIds"

# Parameters users set on env-main that go unchanged to a child: defined once, in the child.
VPC_PARAMETERS = (
    "AvailabilityZones",
    "NumberOfAZs",
    "CreateVPC",
    "ExistingVPCId",
    "VPCCIDR",
    "CreatePrivateSubnets",
    EXISTING_SUBNETS,
    EXISTING_ROUTE_TABLES,
    "PrivateSubnet1ACIDR",
    "PrivateSubnet2ACIDR",
    "PrivateSubnet3ACIDR",
    "PrivateSubnet4ACIDR",
)
FLOW_LOG_PARAMETERS = (
    "CreateVPCFlowLogsToCloudWatch",
    "VPCFlowLogsLogFormat",
    "VPCFlowLogsLogGroupRetention",
    "VPCFlowLogsMaxAggregationInterval",
    "VPCFlowLogsTrafficType",
    "VPCFlowLogsCloudWatchKMSKey",
)
STUDIO_PARAMETERS = (env_sagemaker_studio.HOME_FILE_SYSTEM.name, env_sagemaker_studio.PROJECT_TEMPLATES_LOCATION.name)
NAT_PARAMETERS = (
    "CreateNATGateways",
    "PublicSubnet1CIDR",
    "PublicSubnet2CIDR",
    "PublicSubnet3CIDR",
    "PublicSubnet4CIDR",
)
# The VPC endpoints' parameters env-main offers and the toggles an internet-free environment cannot do without (Rule
# InternetFree) are the environment's rows of the endpoint catalogue, read when the template is built
# (templates_src/blocks/endpoints.py: ``offered_parameters``, ``internet_free_toggles``).
CREATE_FLOW_LOGS_ROLE = yes_no(
    "CreateVPCFlowLogsRole",
    "Create the role VPC flow logs write with (NO: give VPCFlowLogsRoleArn)",
    "Create flow logs role",
)
FLOW_LOGS_ROLE_ARN = params.role_arn_param(
    "VPCFlowLogsRoleArn",
    "Existing role VPC flow logs write with (when CreateVPCFlowLogsRole or CreateEnvironmentIAMRoles is NO)",
    "Flow logs role ARN",
)

# -- conditions -----------------------------------------------------------------------------------------------------
IAM_ROLES = "IAMRolesCondition"
S3_BUCKETS = "S3BucketsConditions"
FLOW_LOGS = "VPCFlowLogsToCloudWatchCondition"
FLOW_LOGS_ROLE = "IAMRoles&VPCFlowLogsRoleCondition"
TARGET_NETWORK_OU = "TargetAccountNetworkInfraOUCondition"
TARGET_NETWORK_SELF = "TargetAccountNetworkInfraCondition"
SELF_MANAGED_TARGETS = "SelfManagedStackSetsCondition"
ADMIN_GIVEN = "StackSetAdministrationRoleGiven"
GENERATED_MODEL_ROLE = "GeneratedModelExecutionRoleName"
GENERATED_STACKSET_ROLE = "GeneratedStackSetExecutionRoleName"


def _yes(name: str) -> Equals:
    return Equals(Ref(name), "YES")


def _no(name: str) -> Equals:
    return Equals(Ref(name), "NO")


def _empty(name: str) -> Equals:
    return Equals(Ref(name), "")


def _given(name: str) -> Not:
    return Not(_empty(name))


def _has_empty_member(name: str) -> dict:
    """A comma-separated list parameter that is empty or has an empty item ("subnet-a,")."""
    return {"Fn::Contains": [Ref(name), ""]}


def _rule(t: Template, name: str, when, asserts: list[tuple]) -> None:
    rule = {"Assertions": [{"Assert": check, "AssertDescription": text} for check, text in asserts]}
    if when is not None:
        rule["RuleCondition"] = when
    t.add_rule(name, rule)


def _rules(t: Template) -> None:
    _rule(
        t,
        "IAMRoles",
        _no(CREATE_IAM_ROLES.name),
        [
            (_given(spec.name), f"{spec.name} is required when CreateEnvironmentIAMRoles is NO")
            for spec in (
                EXECUTION_ROLE_ARN,
                PIPELINE_ROLE_ARN,
                STACKSET_ADMIN_ARN,
                SETUP_LAMBDA_ROLE_ARN,
                DEPLOYMENT_ADMIN_ARN,
                BUILD_ROLE_ARN,
                DEPLOY_ROLE_ARN,
            )
        ],
    )
    _rule(
        t,
        "S3BucketsExisting",
        _no(CREATE_S3_BUCKETS.name),
        [
            (_given(spec.name), f"{spec.name} is required when CreateEnvironmentS3Buckets is NO")
            for spec in (DATA_BUCKET, MODEL_BUCKET)
        ],
    )
    _rule(
        t,
        "S3BucketsNew",
        _yes(CREATE_S3_BUCKETS.name),
        [
            (
                _empty(spec.name),
                f"{spec.name} must be empty when CreateEnvironmentS3Buckets is YES: new buckets are "
                "named <EnvName>-<EnvType>-<region>-<account>-data|models",
            )
            for spec in (DATA_BUCKET, MODEL_BUCKET)
        ],
    )
    _rule(
        t,
        "ExistingVPC",
        _no("CreateVPC"),
        [(_given("ExistingVPCId"), "ExistingVPCId is required when CreateVPC is NO")],
    )
    _rule(
        t,
        "NewVPC",
        _yes("CreateVPC"),
        [(_yes("CreatePrivateSubnets"), "CreatePrivateSubnets must be YES when CreateVPC is YES")],
    )
    _rule(
        t,
        "ExistingSubnets",
        _no("CreatePrivateSubnets"),
        [
            (
                Not(_has_empty_member(EXISTING_SUBNETS)),
                f"{EXISTING_SUBNETS} is required when CreatePrivateSubnets is NO (comma-separated, no empty item)",
            )
        ],
    )
    _rule(
        t,
        "ExistingSubnetsRouteTables",
        And(_no("CreatePrivateSubnets"), _yes("CreateS3VPCEndpoint")),
        [
            (
                Not(_has_empty_member(EXISTING_ROUTE_TABLES)),
                f"{EXISTING_ROUTE_TABLES} is required when CreatePrivateSubnets is NO and CreateS3VPCEndpoint is YES "
                "(the S3 gateway endpoint is added to the subnets' route tables)",
            )
        ],
    )
    _rule(
        t,
        "ExistingS3Endpoint",
        _no("CreateS3VPCEndpoint"),
        [(_given("ExistingS3VPCEndpointId"), "ExistingS3VPCEndpointId is required when CreateS3VPCEndpoint is NO")],
    )
    _rule(
        t,
        "NATGateways",
        _yes("CreateNATGateways"),
        [(_yes("CreateVPC"), "CreateNATGateways YES needs CreateVPC YES (public subnets are created in the new VPC)")],
    )
    _rule(
        t,
        "InternetFree",
        _no("CreateNATGateways"),
        [
            (
                Not(_no(toggle)),
                f"{toggle} must be YES or Auto when CreateNATGateways is NO: Studio, SageMaker jobs and "
                "the projects' builds reach this service only through a VPC endpoint in an internet-free "
                "environment (Auto with an existing VPC: its own endpoint)",
            )
            for toggle in endpoints.internet_free_toggles()
        ]
        + [
            (
                # An existing VPC may reach the internet its own way (an enterprise's egress); a new one cannot.
                Or(_no("CreateVPC"), _given(package_mirror.PIP_INDEX_URL.name), _yes(USE_PYPI_MIRROR.name)),
                "A new VPC without NAT gateways gives the MLOps projects' builds no Python package index: set "
                f"{USE_PYPI_MIRROR.name} YES (the environment's CodeArtifact mirror) or "
                f"{package_mirror.PIP_INDEX_URL.name} (an index reachable from the VPC)",
            )
        ]
        + [
            (
                Or(_no(USE_PYPI_MIRROR.name), Not(_no(toggle))),
                f"{toggle} must be YES or Auto when CreateNATGateways is NO and {USE_PYPI_MIRROR.name} is YES: the "
                "projects' builds reach the package mirror only through this endpoint",
            )
            for toggle in endpoints.mirror_toggles()
        ],
    )
    _rule(
        t,
        "PackageIndex",
        _yes(USE_PYPI_MIRROR.name),
        [
            (
                _empty(package_mirror.PIP_INDEX_URL.name),
                f"{package_mirror.PIP_INDEX_URL.name} must be empty when {USE_PYPI_MIRROR.name} is YES: the "
                "projects install from the environment's mirror",
            )
        ],
    )
    _rule(
        t,
        "VPCFlowLogsRole",
        And(_yes("CreateVPCFlowLogsToCloudWatch"), Or(_no(CREATE_FLOW_LOGS_ROLE.name), _no(CREATE_IAM_ROLES.name))),
        [
            (
                _given(FLOW_LOGS_ROLE_ARN.name),
                "VPCFlowLogsRoleArn is required when flow logs are on and the environment does not create their role",
            )
        ],
    )
    _rule(
        t,
        "StudioClassic",
        None,
        [
            (
                _no(START_KERNEL_GATEWAY_APPS.name),
                "KernelGateway apps are Studio Classic; set StartKernelGatewayApps NO",
            ),
        ],
    )


def _target_account_rules(t: Template) -> None:
    for name, rule in target_accounts.rules().items():
        t.add_rule(name, rule)
    # Self-managed StackSets run as one role name in every listed account: the setup role (deployed with the
    # same StackSetExecutionRoleName in each, as the README shows).
    _rule(
        t,
        "SetupStackSetExecutionRole",
        Or(*(_given(spec.name) for spec in (target_accounts.STAGING_ACCOUNTS, target_accounts.PROD_ACCOUNTS))),
        [
            (
                _given(SETUP_STACKSET_ROLE_NAME.name),
                "SetupStackSetExecutionRoleName is required with account lists: the "
                "name of the role env-iam-setup-stackset-role created in every listed "
                "account",
            )
        ],
    )


def _conditions(t: Template) -> None:
    t.add_condition(IAM_ROLES, _yes(CREATE_IAM_ROLES.name))
    package_mirror.add_conditions(t)
    t.add_condition(S3_BUCKETS, _yes(CREATE_S3_BUCKETS.name))
    t.add_condition(FLOW_LOGS, _yes("CreateVPCFlowLogsToCloudWatch"))
    t.add_condition(FLOW_LOGS_ROLE, And(Condition(IAM_ROLES), Condition(FLOW_LOGS), _yes(CREATE_FLOW_LOGS_ROLE.name)))
    target_accounts.add_conditions(t, multi_account=False)
    t.add_condition(GENERATED_MODEL_ROLE, _empty("SageMakerModelExecutionRoleName"))
    t.add_condition(GENERATED_STACKSET_ROLE, _empty("StackSetExecutionRoleName"))
    # Account lists, with what self-managed StackSets need (the Rules require it; said here for the linter too).
    t.add_condition(ADMIN_GIVEN, _given(STACKSET_ADMIN_ARN.name))
    t.add_condition(
        SELF_MANAGED_TARGETS, And(Condition(target_accounts.LIST_MODE), _given(SETUP_STACKSET_ROLE_NAME.name))
    )
    t.add_condition(TARGET_NETWORK_OU, And(Condition(target_accounts.OU_MODE), _yes(CREATE_TARGET_NETWORK.name)))
    t.add_condition(TARGET_NETWORK_SELF, And(Condition(SELF_MANAGED_TARGETS), _yes(CREATE_TARGET_NETWORK.name)))


# -- parameters -------------------------------------------------------------------------------------------------------
def _parameters(ctx: BuildContext, t: Template) -> None:
    model_role_name, stackset_role_name = target_accounts.role_name_params(ctx)
    groups: list[tuple[str, list]] = [
        (
            "Environment",
            [
                ENV_NAME,
                params.ENV_TYPE,
                envb.ENV_TYPE_STAGING,
                envb.ENV_TYPE_PROD,
                SEED_CODE_BUCKET,
                *([CORE_NAME] if ctx.permissions_boundary is None else []),
            ],
        ),
        ("Deployment options", [CREATE_IAM_ROLES, CREATE_S3_BUCKETS, START_KERNEL_GATEWAY_APPS]),
        ("Existing S3 buckets (only when CreateEnvironmentS3Buckets is NO)", [DATA_BUCKET, MODEL_BUCKET]),
        (
            "Existing IAM roles (only when CreateEnvironmentIAMRoles is NO)",
            [
                DS_TEAM_ADMIN_ARN,
                DATA_SCIENTIST_ARN,
                EXECUTION_ROLE_ARN,
                PIPELINE_ROLE_ARN,
                BUILD_ROLE_ARN,
                DEPLOY_ROLE_ARN,
                STACKSET_ADMIN_ARN,
                DEPLOYMENT_ADMIN_ARN,
                SETUP_LAMBDA_ROLE_ARN,
                model_role_name,
                stackset_role_name,
            ],
        ),
        ("MLOps projects", [SC_PROJECT_LAUNCH_ROLE_ARN, USE_PYPI_MIRROR, package_mirror.PIP_INDEX_URL]),
        (
            "Multi-account model deployment (target accounts by organizational units or by account lists; "
            "leave all empty for one account)",
            [*target_accounts.PARAMETERS, STACKSET_CALL_AS, SETUP_STACKSET_ROLE_NAME, CREATE_TARGET_NETWORK],
        ),
    ]
    params.add(t, *(spec for _, specs in groups for spec in specs))
    labels = {spec.name: spec.label for _, specs in groups for spec in specs}
    groups_out = [(label, [spec.name for spec in specs]) for label, specs in groups]
    vpc, egress = ctx.declared(env_vpc), ctx.declared(env_vpc_egress)
    for label, child, names in (
        ("Studio", ctx.declared(env_sagemaker_studio), STUDIO_PARAMETERS),
        ("Network", vpc, VPC_PARAMETERS),
        ("Internet access (NO NAT gateways: internet-free environment)", egress, NAT_PARAMETERS),
        ("VPC endpoints", egress, endpoints.offered_parameters()),
        ("VPC flow logs", vpc, FLOW_LOG_PARAMETERS),
    ):
        labels.update(offer_parameters(t, child, names))
        groups_out.append((label, list(names)))
    params.add(t, CREATE_FLOW_LOGS_ROLE, FLOW_LOGS_ROLE_ARN)
    labels.update(
        {CREATE_FLOW_LOGS_ROLE.name: CREATE_FLOW_LOGS_ROLE.label, FLOW_LOGS_ROLE_ARN.name: FLOW_LOGS_ROLE_ARN.label}
    )
    groups_out[-1][1].extend([CREATE_FLOW_LOGS_ROLE.name, FLOW_LOGS_ROLE_ARN.name])
    nested.layout(t, groups_out, labels)


# -- children ----------------------------------------------------------------------------------------------------------
def _stack_tags() -> Tags:
    # Stack tags propagate to the nested stacks' resources: the resource group and cost reports find them.
    return Tags(**envb.tags())


CHILDREN = {
    module.NAME: module
    for module in (
        env_iam,
        env_kms,
        env_vpc,
        env_vpc_egress,
        env_s3,
        env_sagemaker_studio,
        env_sc_portfolio,
        env_iam_target_account_roles,
    )
}


def _nested(ctx, t, title, child, parameters, condition=None):
    hardening = nested.forward_hardening(t, ctx.declared(CHILDREN[child]))
    stack = nested_stack(
        ctx,
        t,
        title,
        child,
        {"EnvName": Ref("EnvName"), "EnvType": Ref("EnvType"), **parameters, **hardening},
        condition=condition,
    )
    stack.Tags = _stack_tags()
    return stack


def _out(stack: str, output: str) -> GetAtt:
    return GetAtt(stack, f"Outputs.{output}")


class Wiring:
    """Values several children need, each expressed once: created (child output or computed name) or given."""

    def __init__(self, ctx: BuildContext):
        self.data_bucket = If(S3_BUCKETS, envb.bucket_name(ctx, "data").sub(), Ref(DATA_BUCKET.name))
        self.model_bucket = If(S3_BUCKETS, envb.bucket_name(ctx, "models").sub(), Ref(MODEL_BUCKET.name))
        self.execution = self.role("SageMakerExecutionRoleArn", EXECUTION_ROLE_ARN)
        self.pipeline = self.role("SageMakerPipelineExecutionRoleArn", PIPELINE_ROLE_ARN)
        self.data_scientist = self.role("DataScientistRoleArn", DATA_SCIENTIST_ARN)
        self.team_admin = self.role("DSTeamAdministratorRoleArn", DS_TEAM_ADMIN_ARN)
        self.stackset_admin = self.role("StackSetAdministrationRoleArn", STACKSET_ADMIN_ARN)
        self.deployment_admin = self.role("ModelDeploymentAdministrationRoleArn", DEPLOYMENT_ADMIN_ARN)
        self.build_role = self.role("SageMakerModelBuildRoleArn", BUILD_ROLE_ARN)
        self.deploy_role = self.role("SageMakerModelDeployRoleArn", DEPLOY_ROLE_ARN)
        self.seed = Ref(SEED_CODE_BUCKET.name)
        # The platform permissions boundary every role of the environment carries: the core's (imported by its
        # name), unless the configuration names one (then on every role already).
        self.boundary = (
            ImportValue(platform_boundary.export_name(ctx, CORE_NAME.name).sub())
            if ctx.permissions_boundary is None
            else None
        )
        # The model execution role's name in every account (generated from the environment's names, or given):
        # computed, not read from the target roles stack, so the keys and buckets do not wait for it.
        self.model_role = If(
            GENERATED_MODEL_ROLE,
            target_accounts.model_role_name(ctx).sub(),
            Ref("SageMakerModelExecutionRoleName"),
        )
        self.stackset_role = If(
            GENERATED_STACKSET_ROLE,
            target_accounts.stackset_role_name(ctx).sub(),
            Ref("StackSetExecutionRoleName"),
        )

    @staticmethod
    def role(output: str, given: ParamSpec):
        return If(IAM_ROLES, _out("EnvironmentIAMRoles", output), Ref(given.name))


def _children(ctx: BuildContext, t: Template, w: Wiring) -> None:
    bounded = {platform_boundary.PARAMETER.name: w.boundary} if w.boundary is not None else {}
    _nested(
        ctx,
        t,
        "EnvironmentIAMRoles",
        env_iam.NAME,
        {
            "CreateIAMUserRoles": "YES",
            "CreateVPCFlowLogsRole": If(FLOW_LOGS_ROLE, "YES", "NO"),
            "DataBucketName": w.data_bucket,
            "ModelBucketName": w.model_bucket,
            "SeedCodeS3BucketName": w.seed,
            "SetupStackSetExecutionRoleName": Ref(SETUP_STACKSET_ROLE_NAME.name),
            **bounded,
        },
        condition=IAM_ROLES,
    )
    _nested(
        ctx,
        t,
        "EnvironmentKMSKeys",
        env_kms.NAME,
        {
            "DSTeamAdministratorRoleArn": w.team_admin,
            "DataScientistRoleArn": w.data_scientist,
            "SageMakerExecutionRoleArn": w.execution,
            "SageMakerPipelineExecutionRoleArn": w.pipeline,
            "SageMakerModelBuildRoleArn": w.build_role,
            "SageMakerModelDeployRoleArn": w.deploy_role,
            **{spec.name: Ref(spec.name) for spec in target_accounts.PARAMETERS},
            target_accounts.MODEL_ROLE_NAME.name: w.model_role,
            target_accounts.STACKSET_ROLE_NAME.name: w.stackset_role,
        },
    )
    _nested(
        ctx,
        t,
        "EnvironmentVPC",
        env_vpc.NAME,
        {
            **{name: pass_through(t, name) for name in VPC_PARAMETERS + FLOW_LOG_PARAMETERS},
            "VPCFlowLogsRoleArn": If(
                FLOW_LOGS_ROLE, _out("EnvironmentIAMRoles", "VPCFlowLogsRoleArn"), Ref(FLOW_LOGS_ROLE_ARN.name)
            ),
        },
    )
    vpc = lambda output: _out("EnvironmentVPC", output)  # noqa: E731
    kms = lambda output: _out("EnvironmentKMSKeys", output)  # noqa: E731
    _nested(
        ctx,
        t,
        "EnvironmentVPCEndpoints",
        env_vpc_egress.NAME,
        {
            "CreateVPC": pass_through(t, "CreateVPC"),
            "VPCId": vpc("VPCId"),
            "AvailabilityZones": pass_through(t, "AvailabilityZones"),
            "NumberOfAZs": Ref("NumberOfAZs"),
            "PrivateSubnetIds": vpc("PrivateSubnetIds"),
            "PrivateRouteTableIds": vpc("PrivateRouteTableIds"),
            "VPCEndpointsSecurityGroupId": vpc("VPCEndpointsSecurityGroupId"),
            **{name: pass_through(t, name) for name in NAT_PARAMETERS + endpoints.offered_parameters()},
            **({USE_PYPI_MIRROR.name: Ref(USE_PYPI_MIRROR.name)} if endpoints.mirror_toggles() else {}),
            "DataBucketName": w.data_bucket,
            "ModelBucketName": w.model_bucket,
            "SeedCodeS3BucketName": w.seed,
        },
    )
    _nested(
        ctx,
        t,
        "EnvironmentS3",
        env_s3.NAME,
        {
            "DataBucketName": envb.bucket_name(ctx, "data").sub(),
            "ModelBucketName": envb.bucket_name(ctx, "models").sub(),
            "VPCEndpointS3Id": _out("EnvironmentVPCEndpoints", "VPCEndpointS3Id"),
            "S3BucketKMSKeyId": kms("S3BucketKMSKeyArn"),
            **{spec.name: Ref(spec.name) for spec in target_accounts.PARAMETERS},
            target_accounts.MODEL_ROLE_NAME.name: w.model_role,
        },
        condition=S3_BUCKETS,
    )
    _nested(
        ctx,
        t,
        "EnvironmentSageMakerStudio",
        env_sagemaker_studio.NAME,
        {
            "VPCId": vpc("VPCId"),
            "SageMakerStudioSubnetIds": vpc("PrivateSubnetIds"),
            "SageMakerSecurityGroupIds": vpc("SageMakerSecurityGroupIds"),
            "SageMakerStudioStorageKMSKeyId": kms("SageMakerStudioStorageKMSKeyArn"),
            **{name: pass_through(t, name) for name in STUDIO_PARAMETERS},
            "SageMakerExecutionRoleArn": w.execution,
            "SetupLambdaExecutionRoleArn": If(IAM_ROLES, "", Ref(SETUP_LAMBDA_ROLE_ARN.name)),
            **bounded,
        },
    )
    _nested(
        ctx,
        t,
        "EnvironmentSCPortfolio",
        env_sc_portfolio.NAME,
        {
            "SCMLOpsPortfolioPrincipalRoleArn": w.execution,
            "DataScientistRoleArn": w.data_scientist,
            "DSTeamAdministratorRoleArn": w.team_admin,
            "SCMLOpsProductLaunchRoleArn": Ref(SC_PROJECT_LAUNCH_ROLE_ARN.name),
        },
    )
    _nested(
        ctx,
        t,
        "EnvironmentTargetAccountRoles",
        env_iam_target_account_roles.NAME,
        {
            "SageMakerModelExecutionRoleName": Ref("SageMakerModelExecutionRoleName"),
            "StackSetExecutionRoleName": Ref("StackSetExecutionRoleName"),
            # Created with the environment's roles only (its condition): the deploy role is the created one.
            "PipelineExecutionRoleArn": _out("EnvironmentIAMRoles", "SageMakerModelDeployRoleArn"),
            "AdministratorAccountId": Ref("AWS::AccountId"),
            "ModelS3KMSKeyArn": kms("S3BucketKMSKeyArn"),
            "ModelBucketName": w.model_bucket,
            **bounded,
        },
        condition=IAM_ROLES,
    )


STACK_SET_CHILDREN = {module.NAME: module for module in (env_iam_target_account_roles, env_target_account_network)}

# -- multi-account: StackSets into the target accounts -------------------------------------------------------------
STAGES = (
    ("staging", envb.ENV_TYPE_STAGING, target_accounts.OU_STAGING, target_accounts.STAGING_ACCOUNTS),
    ("prod", envb.ENV_TYPE_PROD, target_accounts.OU_PROD, target_accounts.PROD_ACCOUNTS),
)


def _stack_set(
    ctx: BuildContext,
    t: Template,
    title: str,
    child: str,
    suffix: str,
    parameters: dict,
    w: Wiring,
    service_managed: bool,
    condition: str | None = None,
) -> cloudformation.StackSet:
    """One StackSet, two stack instance groups (staging, production), in the way the parameters chose:

    * organizational units: SERVICE_MANAGED, automatic deployment (an account added to an OU is set up, one
      removed is cleaned up: the stacks hold roles and networks, no data), called as this account (the
      management account) or as a delegated administrator (StackSetCallAs);
    * account lists: SELF_MANAGED, administered by the environment's StackSet administration role and run as
      the setup role env-iam-setup-stackset-role created in every listed account.
    """
    name = ctx.namer.name("stackset", f"ds-{envb.ENV}-{suffix}", params.ENVIRONMENT)
    groups = [
        cloudformation.StackInstances(
            DeploymentTargets=cloudformation.DeploymentTargets(
                **(
                    {"OrganizationalUnitIds": [Ref(ou_spec.name)]}
                    if service_managed
                    else {"Accounts": Split(",", Ref(list_spec.name))}
                )
            ),
            Regions=[Ref("AWS::Region")],
            ParameterOverrides=[cloudformation.Parameter(ParameterKey="EnvType", ParameterValue=Ref(type_spec.name))],
        )
        for _, type_spec, ou_spec, list_spec in STAGES
    ]
    # A stack instance group can override only parameters the StackSet itself has: EnvType is there with the
    # staging name and overridden per group.
    parameters = {"EnvType": Ref(envb.ENV_TYPE_STAGING.name), **parameters}
    # Hardening values (log key, function network) reach the target accounts too: with encrypt_logs, the key's
    # policy must let the target accounts' CloudWatch Logs use it.
    template = ctx.declared(STACK_SET_CHILDREN[child])
    parameters.update(nested.forward_hardening(t, template))
    if "UseTargetAccountBoundary" in template.parameters:  # no configured boundary (which is on every role)
        # Self-managed: the setup role creates roles only with the target-account boundary.
        parameters["UseTargetAccountBoundary"] = "NO" if service_managed else "YES"
    mode = (
        {
            "PermissionModel": "SERVICE_MANAGED",
            "AutoDeployment": cloudformation.AutoDeployment(Enabled=True, RetainStacksOnAccountRemoval=False),
            "CallAs": Ref(STACKSET_CALL_AS.name),
        }
        if service_managed
        else {
            # Never the account-wide default administration role: Rule IAMRoles requires the given ARN when the
            # environment creates no role (said again with ADMIN_GIVEN, for the linter).
            "PermissionModel": "SELF_MANAGED",
            "AdministrationRoleARN": If(
                IAM_ROLES,
                _out("EnvironmentIAMRoles", "StackSetAdministrationRoleArn"),
                If(ADMIN_GIVEN, Ref(STACKSET_ADMIN_ARN.name), Ref("AWS::NoValue")),
            ),
            "ExecutionRoleName": Ref(SETUP_STACKSET_ROLE_NAME.name),
        }
    )
    return t.add_resource(
        cloudformation.StackSet(
            title,
            Condition=condition or (target_accounts.OU_MODE if service_managed else SELF_MANAGED_TARGETS),
            StackSetName=name.sub(),
            Description=Sub(
                f"Environment {envb.ENV}: {suffix.replace('-', ' ')} in the staging and production accounts"
            ),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            ManagedExecution=cloudformation.ManagedExecution(Active=True),
            OperationPreferences=cloudformation.OperationPreferences(
                FailureTolerancePercentage=0, MaxConcurrentPercentage=100, RegionConcurrencyType="PARALLEL"
            ),
            TemplateURL=references.local_template(child),
            Parameters=[cloudformation.Parameter(ParameterKey=k, ParameterValue=v) for k, v in parameters.items()],
            StackInstancesGroup=groups,
            Tags=_stack_tags(),
            **mode,
        )
    )


TARGET_ROLES_SUFFIX = "target-account-roles"
# The StackSets of the target accounts (self-managed with account lists, service-managed with organizational units).
TARGET_ROLES_STACKSET, TARGET_ROLES_STACKSET_OU = (
    "EnvironmentTargetAccountRolesStackSet",
    "EnvironmentTargetAccountRolesStackSetOU",
)
TARGET_NETWORK_STACKSET, TARGET_NETWORK_STACKSET_OU = "EnvironmentVPCStackSet", "EnvironmentVPCStackSetOU"


def _target_accounts(ctx: BuildContext, t: Template, w: Wiring) -> None:
    kms = _out("EnvironmentKMSKeys", "S3BucketKMSKeyArn")
    for service_managed, title in (
        (True, TARGET_ROLES_STACKSET_OU),
        (False, TARGET_ROLES_STACKSET),
    ):
        _stack_set(
            ctx,
            t,
            title,
            env_iam_target_account_roles.NAME,
            TARGET_ROLES_SUFFIX,
            {
                "EnvName": Ref("EnvName"),
                "SageMakerModelExecutionRoleName": w.model_role,
                "StackSetExecutionRoleName": w.stackset_role,
                "AdministratorAccountId": Ref("AWS::AccountId"),
                # The deploy projects' role tests the endpoints (as each account's model execution role).
                "PipelineExecutionRoleArn": w.deploy_role,
                "ModelS3KMSKeyArn": kms,
                "ModelBucketName": w.model_bucket,
            },
            w,
            service_managed,
        )
    ebs = _out("EnvironmentKMSKeys", "SagemakerEBSKMSKeyArn")
    for service_managed, title, condition, roles in (
        (True, TARGET_NETWORK_STACKSET_OU, TARGET_NETWORK_OU, TARGET_ROLES_STACKSET_OU),
        (False, TARGET_NETWORK_STACKSET, TARGET_NETWORK_SELF, TARGET_ROLES_STACKSET),
    ):
        network = _stack_set(
            ctx,
            t,
            title,
            env_target_account_network.NAME,
            "target-account-network",
            {
                "EnvName": Ref("EnvName"),
                "ModelBucketName": w.model_bucket,
                # The model deployments' guardrails of each account attach to its deployment role (created first).
                "StackSetExecutionRoleName": w.stackset_role,
                "EndpointVolumeKmsKeyArn": ebs,
            },
            w,
            service_managed,
            condition,
        )
        network.DependsOn = [roles]
    for title, suffix, value in (
        ("OrganizationalUnitStagingIdSSM", envb.OU_STAGING_ID_SSM, target_accounts.OU_STAGING),
        ("OrganizationalUnitProdIdSSM", envb.OU_PROD_ID_SSM, target_accounts.OU_PROD),
    ):
        _ssm(t, title, suffix, Ref(value.name), condition=target_accounts.OU_MODE)
    # With organizational units, the deploy build finds the accounts of each OU the environment set up in the
    # stack instances of its target-account StackSet (CloudFormation answers through the VPC's endpoint; AWS
    # Organizations has no endpoint in most regions, so an internet-free build cannot ask it).
    _ssm(
        t,
        "TargetAccountsStackSetSSM",
        envb.TARGET_ACCOUNTS_STACKSET_SSM,
        ctx.namer.name("stackset", f"ds-{envb.ENV}-{TARGET_ROLES_SUFFIX}", params.ENVIRONMENT).sub(),
        condition=target_accounts.OU_MODE,
    )
    _ssm(
        t,
        "StackSetCallAsSSM",
        envb.STACKSET_CALL_AS_SSM,
        Ref(STACKSET_CALL_AS.name),
        condition=target_accounts.OU_MODE,
    )
    for title, suffix, value in (
        ("StagingAccountListSSM", envb.STAGING_ACCOUNT_LIST_SSM, target_accounts.STAGING_ACCOUNTS),
        ("ProductionAccountListSSM", envb.PROD_ACCOUNT_LIST_SSM, target_accounts.PROD_ACCOUNTS),
    ):
        _ssm(t, title, suffix, Ref(value.name), condition=target_accounts.LIST_MODE)


def _guardrails(ctx: BuildContext, t: Template) -> list[iam.ManagedPolicy]:
    """The SageMaker guardrails need the network's and the keys' identifiers, so they are attached to the roles
    (Roles property) once those exist, instead of making the roles - and the Studio domain - wait for them."""
    kms = lambda output: _out("EnvironmentKMSKeys", output)  # noqa: E731

    def keys(kind: str, arn: str, key_id: str) -> list:
        # A request names a key by ARN, id or alias, in whatever form the caller chose.
        alias = envb.kms_alias(kind)
        return [kms(arn), kms(key_id), Sub(alias), ctx.own("kms", alias)]

    statements = guardrails.sagemaker_guardrail_statements(
        ctx,
        Split(",", _out("EnvironmentVPC", "PrivateSubnetIds")),
        Split(",", _out("EnvironmentVPC", "SageMakerSecurityGroupIds")),
        keys(envb.EBS_KEY, "SagemakerEBSKMSKeyArn", "SagemakerEBSKMSKeyId"),
        keys(envb.S3_KEY, "S3BucketKMSKeyArn", "S3BucketKMSKeyId"),
    )
    roles = If(
        IAM_ROLES,
        [_out("EnvironmentIAMRoles", output) for output in GUARDED_ROLES]
        # This account's model deployments (single-account: its staging and production endpoints).
        + [_out("EnvironmentTargetAccountRoles", "StackSetExecutionRoleName")],
        Ref("AWS::NoValue"),
    )
    packed = iam_blocks.managed_policies(
        ctx,
        "SageMakerGuardrailsPolicy",
        "SageMaker guardrails of the environment: jobs, models and domains only in its VPC and with its keys",
        statements,
        t,
    )
    for i, policy in enumerate(packed):
        policy.ManagedPolicyName = envb.policy_name(ctx, "sm-guardrails", i + 1).sub()
        policy.Roles = roles
        t.add_resource(policy)
    return packed


# Every role of the environment that can create or use SageMaker resources.
GUARDED_ROLES = (
    "SageMakerExecutionRoleName",
    "SageMakerPipelineExecutionRoleName",
    "SageMakerModelBuildRoleName",
    "SageMakerModelDeployRoleName",
    "DataScientistRoleName",
    "DSTeamAdministratorRoleName",
)


STUDIO_ROLES = ("SageMakerExecutionRoleName", "DataScientistRoleName", "DSTeamAdministratorRoleName")


def _studio_scope(ctx: BuildContext, t: Template) -> None:
    """Studio only in the environment's own domain: apps, spaces and user profiles of another domain of the
    account (which may allow internet access, or belong to another team) are denied to the roles that use
    Studio.  A policy of its own: it waits for the domain, the guardrails do not."""
    from awacs.aws import Action

    domain = _out("EnvironmentSageMakerStudio", "SageMakerDomainId")
    own = [
        Sub(
            f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/${{DomainId}}/*",
            DomainId=domain,
        )
        for kind in ("app", "space", "user-profile")
    ]
    statement = iam_blocks.deny(
        sid="StudioOnlyInTheEnvironmentsDomain",
        not_resources=own,
        acts=[
            Action("sagemaker", action)
            for action in (
                "CreateApp",
                "DeleteApp",
                "CreateSpace",
                "UpdateSpace",
                "DeleteSpace",
                "CreateUserProfile",
                "UpdateUserProfile",
                "DeleteUserProfile",
                "CreatePresignedDomainUrl",
            )
        ],
    )
    t.add_resource(
        iam.ManagedPolicy(
            "StudioScopePolicy",
            Condition=IAM_ROLES,
            ManagedPolicyName=envb.policy_name(ctx, "studio-scope", 1).sub(),
            Path=ctx.config.role_path,
            Description="Studio of the environment: only its own domain",
            PolicyDocument=iam_blocks.document(statement),
            Roles=[_out("EnvironmentIAMRoles", output) for output in STUDIO_ROLES],
        )
    )


# -- the SSM contract --------------------------------------------------------------------------------------------------
def _ssm(t: Template, title: str, suffix: str, value, env_type: str = "${EnvType}", condition: str | None = None):
    parameter = ssm.Parameter(
        title,
        Name=envb.ssm_name(suffix, env_type),
        Type="String",
        Value=value,
        Description=f"Data science environment configuration: {suffix}",
    )
    if condition:
        parameter.Condition = condition
    return t.add_resource(parameter)


def _contract(ctx: BuildContext, t: Template, w: Wiring) -> None:
    vpc = lambda output: _out("EnvironmentVPC", output)  # noqa: E731
    model_role, stackset_role = w.model_role, w.stackset_role
    # Single-account model deployment deploys "staging" and "prod" endpoints into this account's network: the
    # endpoint template reads <EnvName>-<stage>-... .  Not when this environment is that stage itself (its
    # env-vpc writes those names already).
    for stage, spec in (("Staging", envb.ENV_TYPE_STAGING), ("Prod", envb.ENV_TYPE_PROD)):
        env_type = "${%s}" % spec.name
        condition = f"Not{stage}Environment"
        t.add_condition(condition, Not(Equals(Ref("EnvType"), Ref(spec.name))))
        _ssm(
            t,
            f"SageMakerSecurityGroupIdsSSM{stage}",
            envb.SECURITY_GROUP_IDS_SSM,
            vpc("SageMakerSecurityGroupIds"),
            env_type,
            condition=condition,
        )
        _ssm(
            t,
            f"PrivateSubnetsSSM{stage}",
            envb.PRIVATE_SUBNET_IDS_SSM,
            vpc("PrivateSubnetIds"),
            env_type,
            condition=condition,
        )
    for title, suffix, value in (
        ("SageMakerPipelineExecutionRoleSSM", envb.PIPELINE_EXECUTION_ROLE_ARN_SSM, w.pipeline),
        ("SageMakerExecutionRoleSSM", envb.EXECUTION_ROLE_ARN_SSM, w.execution),
        ("SageMakerModelExecutionRoleSSM", envb.MODEL_EXECUTION_ROLE_NAME_SSM, model_role),
        # The administration role of the projects' model deployment StackSets (never the set-up one).
        ("StackSetAdminstratorRoleSSM", envb.STACKSET_ADMINISTRATION_ROLE_ARN_SSM, w.deployment_admin),
        ("SageMakerModelBuildRoleSSM", envb.MODEL_BUILD_ROLE_ARN_SSM, w.build_role),
        ("SageMakerModelDeployRoleSSM", envb.MODEL_DEPLOY_ROLE_ARN_SSM, w.deploy_role),
        ("StackSetExecutionRoleSSM", envb.STACKSET_EXECUTION_ROLE_NAME_SSM, stackset_role),
        ("ModelBucketSSM", envb.MODEL_BUCKET_NAME_SSM, w.model_bucket),
        ("DataBucketSSM", envb.DATA_BUCKET_NAME_SSM, w.data_bucket),
        ("EnvTypeStagingNameSSM", envb.ENV_TYPE_STAGING_NAME_SSM, Ref(envb.ENV_TYPE_STAGING.name)),
        ("EnvTypeProdNameSSM", envb.ENV_TYPE_PROD_NAME_SSM, Ref(envb.ENV_TYPE_PROD.name)),
        ("SeedCodeS3BucketNameSSM", envb.SEED_CODE_BUCKET_NAME_SSM, w.seed),
    ):
        _ssm(t, title, suffix, value)
    package_mirror.resources(t, _stack_tags())
    _ssm(t, "PythonPackageIndexSSM", envb.PACKAGE_INDEX_SSM, package_mirror.index_value())


def _resource_group(t: Template) -> None:
    t.add_resource(
        resourcegroups.Group(
            "EnvironmentResourceGroup",
            Name=Sub(f"{envb.ENV}-resources"),
            Description=f"Resources of the data science environment by {' and '.join(envb.TAG_PARAMETERS)} tags",
            ResourceQuery=resourcegroups.ResourceQuery(
                Type="TAG_FILTERS_1_0",
                Query=resourcegroups.Query(
                    ResourceTypeFilters=["AWS::AllSupported"],
                    TagFilters=[
                        resourcegroups.TagFilter(Key=tag, Values=[value]) for tag, value in envb.tags().items()
                    ],
                ),
            ),
        )
    )


def _outputs(t: Template, w: Wiring, guardrails_policies) -> None:
    studio = lambda output: _out("EnvironmentSageMakerStudio", output)  # noqa: E731
    t.add_output(
        [
            Output(
                "AssumeTeamAdminRole",
                Condition=IAM_ROLES,
                Description="Console link to switch to the team administrator role",
                Value=_out("EnvironmentIAMRoles", "AssumeTeamAdminRole"),
            ),
            Output(
                "AssumeDataScientistRole",
                Condition=IAM_ROLES,
                Description="Console link to switch to the data scientist role",
                Value=_out("EnvironmentIAMRoles", "AssumeDataScientistRole"),
            ),
            Output("SageMakerDomainId", Description="SageMaker Studio domain id", Value=studio("SageMakerDomainId")),
            Output(
                "StudioUrl",
                Description="Studio URL (open it through the console or a presigned URL)",
                Value=studio("StudioUrl"),
            ),
            Output("VPCId", Description="VPC of the environment", Value=_out("EnvironmentVPC", "VPCId")),
            Output(
                "PrivateSubnetIds",
                Description="Private subnets of the environment",
                Value=_out("EnvironmentVPC", "PrivateSubnetIds"),
            ),
            Output(
                "SageMakerSecurityGroupIds",
                Description="Security group of Studio and SageMaker jobs",
                Value=_out("EnvironmentVPC", "SageMakerSecurityGroupIds"),
            ),
            Output("DataBucketName", Description="Data bucket", Value=w.data_bucket),
            Output("ModelBucketName", Description="Model bucket", Value=w.model_bucket),
            Output("SageMakerExecutionRoleArn", Description="SageMaker execution role", Value=w.execution),
            Output(
                "S3BucketKMSKeyArn",
                Description="KMS key of the data and model buckets",
                Value=_out("EnvironmentKMSKeys", "S3BucketKMSKeyArn"),
            ),
            Output(
                "MLOpsPortfolioId",
                Description="Service Catalog portfolio of MLOps project templates",
                Value=_out("EnvironmentSCPortfolio", "MLOpsPortfolioId"),
            ),
            Output(
                "SageMakerGuardrailsPolicyArns",
                Description="SageMaker guardrails of the environment (attach them "
                "to existing roles when CreateEnvironmentIAMRoles is NO)",
                Value=Join(",", [Ref(p) for p in guardrails_policies]),
            ),
        ]
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    _parameters(ctx, t)
    _conditions(t)
    _rules(t)
    _target_account_rules(t)
    w = Wiring(ctx)
    _children(ctx, t, w)
    policies = _guardrails(ctx, t)
    _studio_scope(ctx, t)
    _contract(ctx, t, w)
    _target_accounts(ctx, t, w)
    _resource_group(t)
    _outputs(t, w, policies)
    if ctx.release_location:  # a packaged release: where its notebooks are (templates_src/release/plan.py)
        t.add_output(
            Output(
                "NotebooksS3Location",
                Description="The environment's notebooks in its release (copy them into a Studio space: aws s3 cp "
                "<location> notebooks/ --recursive)",
                Value=f"{ctx.release_location.rstrip('/')}/{release_layout.NOTEBOOKS_FOLDER}/",
            )
        )
    return t
