"""The data science environment's shared vocabulary: names, SSM contract and parameters used by several env-*
templates, defined once.

Every physical name of an environment carries EnvName and EnvType, so two environments (or two stages of
one) coexist in an account and region.  The lengths of EnvName (16) and EnvType (10) are what makes the
longest names fit: ``<env>-<type>-<region>-<account>-models`` is 63 characters with the longest region name,
S3's limit (checked by ``templates_src.naming`` wherever a name is built).
"""

from __future__ import annotations

from troposphere import Ref, Sub

from templates_src import naming
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ENV_NAME, ENV_TYPE, ENVIRONMENT, ParamSpec
from templates_src.context import BuildContext
from templates_src.naming import Name

ENV = "${EnvName}-${EnvType}"

# -- tags: what the environment's resources carry (its stacks' tags, its Studio domain's and user profiles', its
# projects' and endpoints') and what the core's environment configuration function finds a project's environment by.
# That function (templates_src/functions) and the seed code spell them too: tests/test_copies.py ties them to these.
ENV_NAME_TAG = "EnvironmentName"
ENV_TYPE_TAG = "EnvironmentType"
TAG_PARAMETERS = {ENV_NAME_TAG: ENV_NAME.name, ENV_TYPE_TAG: ENV_TYPE.name}  # tag -> the parameter holding its value


# The tag SageMaker puts on the home file system (EFS) it creates for a Studio domain: the domain's ARN.  The
# Studio stack's release function (templates_src/functions/studio_cleanup.py, tied by tests/test_copies.py), the
# data science administrator's clean-up permissions and ``generate.py cleanup`` find the file system by it.
SAGEMAKER_HOME_FS_TAG = "ManagedByAmazonSageMakerResource"


def tags() -> dict[str, Ref]:
    """The environment's tags as a template of the environment sets them (from its EnvName and EnvType)."""
    return {tag: Ref(param) for tag, param in TAG_PARAMETERS.items()}


# -- S3 buckets: <env>-<type>-<region>-<account>-<kind> (unprefixed: S3's 63 characters leave no room) -------
BUCKET_KINDS = ("data", "models", "logs")
LOGS_KIND = "logs"
# The MLOps projects' artifact buckets (templates_src.blocks.project) and where the log bucket keeps their logs.
PROJECT_BUCKETS = "sm-mlops-cp-*"
PROJECT_LOGS_PREFIX = "projects/"
# Where endpoints capture requests and responses (the endpoint template's DataCaptureS3Uri): the model bucket, under
# this prefix, is the one place the model execution roles of every account of the environment may write.
DATA_CAPTURE_PREFIX = "data-capture/"


def bucket_name(ctx: BuildContext, kind: str) -> Name:
    assert kind in BUCKET_KINDS, kind
    return ctx.namer.name("bucket", f"{ENV}-${{AWS::Region}}-${{AWS::AccountId}}-{kind}", ENVIRONMENT, prefixed=False)


# -- IAM roles the environment creates: <prefix><env>-<type>-<region>-<suffix> ---------------------------------
def role_name(ctx: BuildContext, suffix: str, regional: bool = True) -> Name:
    pattern = f"{ENV}-${{AWS::Region}}-{suffix}" if regional else f"{ENV}-{suffix}"
    return ctx.namer.name("role", pattern, ENVIRONMENT)


def role_arn(ctx: BuildContext, suffix: str, regional: bool = True) -> Sub:
    """ARN of a role the environment creates, known before the role exists (no dependency on its stack)."""
    return ctx.role_arn(role_name(ctx, suffix, regional).pattern)


# Role name suffixes (the markers other policies find roles by are in templates_src.naming).
SAGEMAKER_EXECUTION = naming.SAGEMAKER_EXECUTION_ROLE_MARKER
PIPELINE_EXECUTION = naming.PIPELINE_EXECUTION_ROLE_MARKER
DS_TEAM_ADMIN = "ds-team-admin"
DATA_SCIENTIST = "data-scientist"
FLOW_LOGS = "flow-logs"
SETUP_FUNCTIONS = "functions"
MODEL_BUILD = naming.MODEL_BUILD_ROLE_MARKER
MODEL_DEPLOY = naming.MODEL_DEPLOY_ROLE_MARKER
FUNCTION_ROLES = "fn-"  # the set-up functions' roles: <prefix><env>-<type>-<region>-fn-<what>


def policy_name(ctx: BuildContext, suffix: str, number: int) -> Name:
    """A customer managed policy of the environment: <prefix><env>-<type>-<region>-env-policy-<suffix>-<n>."""
    return ctx.namer.name(
        "policy", f"{ENV}-${{AWS::Region}}-{naming.ENVIRONMENT_POLICY_MARKER}-{suffix}-{number}", ENVIRONMENT
    )


# -- SSM parameters: the contract with the MLOps projects and their seed code ---------------------------------
# Read as <EnvName>-<EnvType>-<suffix> by the core's environment configuration function and the seed code; the
# suffixes, each written once.  The function (templates_src/functions) and the model deploy seed code
# (seed_code/model-deploy/build.py) spell the ones they read by hand: tests/test_copies.py ties them to these.
# The network (env-vpc, and env-target-account-network in each target account).
VPC_ID_SSM = "vpc-id"
PRIVATE_SUBNET_IDS_SSM = "private-subnet-ids"
SECURITY_GROUP_IDS_SSM = "sagemaker-sg-ids"
S3_ENDPOINT_ID_SSM = "s3-vpce-id"
KMS_ENDPOINT_ID_SSM = "kms-vpce-id"
# The keys (env-kms): kms-<kind>-key-arn, and their aliases alias/<env>-<type>-kms-<kind>.
EBS_KEY, EFS_KEY, S3_KEY = "ebs", "efs", "s3"


def kms_key_arn_ssm(kind: str) -> str:
    return f"kms-{kind}-key-arn"


def kms_alias(kind: str) -> str:
    return f"alias/{ENV}-kms-{kind}"


# Studio (env-sagemaker-studio).
SAGEMAKER_DOMAIN_ID_SSM = "sagemaker-domain-id"
# Roles, buckets and stages (env-main).
PIPELINE_EXECUTION_ROLE_ARN_SSM = "sm-pipeline-execution-role-arn"
EXECUTION_ROLE_ARN_SSM = "sm-execution-role-arn"
MODEL_EXECUTION_ROLE_NAME_SSM = "sm-model-execution-role-name"
STACKSET_ADMINISTRATION_ROLE_ARN_SSM = "stackset-administration-role-arn"  # the model deployments' administrator
MODEL_BUILD_ROLE_ARN_SSM = "sm-model-build-role-arn"
MODEL_DEPLOY_ROLE_ARN_SSM = "sm-model-deploy-role-arn"
STACKSET_EXECUTION_ROLE_NAME_SSM = "stackset-execution-role-name"
MODEL_BUCKET_NAME_SSM = "model-bucket-name"
DATA_BUCKET_NAME_SSM = "data-bucket-name"
ENV_TYPE_STAGING_NAME_SSM = "env-type-staging-name"
ENV_TYPE_PROD_NAME_SSM = "env-type-prod-name"
SEED_CODE_BUCKET_NAME_SSM = "seed-code-s3bucket-name"
# Where the projects' builds install Python packages from (templates_src/blocks/package_mirror.py).
PACKAGE_INDEX_SSM = "python-package-index"
# The target accounts (env-main): by lists, or by organizational units and the StackSet whose stack instances are
# the accounts the environment set up there (and how the deploy builds call it).
STAGING_ACCOUNT_LIST_SSM = "staging-account-list"
PROD_ACCOUNT_LIST_SSM = "production-account-list"
OU_STAGING_ID_SSM = "ou-staging-id"
OU_PROD_ID_SSM = "ou-prod-id"
TARGET_ACCOUNTS_STACKSET_SSM = "target-accounts-stackset-name"
STACKSET_CALL_AS_SSM = "stackset-call-as"


def ssm_name(suffix: str, env_type: str = "${EnvType}") -> Sub:
    return Sub(f"${{EnvName}}-{env_type}-{suffix}")


# -- Parameters shared by env-main and its children ------------------------------------------------------------
ENV_TYPE_STAGING = ParamSpec(
    "EnvTypeStagingName",
    "Stage name of the staging accounts (part of their resource names)",
    "Staging stage name",
    default="staging",
    min_length=1,
    max_length=10,
    allowed_pattern=params.LOWER_NAME,
    constraint="1 to 10 characters: lower-case letters, digits and hyphens, not starting or ending with a hyphen",
)
ENV_TYPE_PROD = ENV_TYPE_STAGING.with_(
    name="EnvTypeProdName",
    description="Stage name of the production accounts (part of their resource names)",
    label="Production stage name",
    default="prod",
)

SUBNET_CIDR = (
    r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"/(1[6-9]|2[0-8])"
)


def cidr(name: str, description: str, label: str, default: str) -> ParamSpec:
    return ParamSpec(
        name,
        description,
        label,
        default=default,
        allowed_pattern=SUBNET_CIDR,
        max_length=18,
        constraint="must be an IPv4 CIDR block with a prefix length from /16 to /28, e.g. 10.0.0.0/19",
    )


def bucket_param(name: str, description: str, label: str, required: bool = False) -> ParamSpec:
    constraint = "must be an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)"
    return ParamSpec(
        name,
        description,
        label,
        default=None if required else "",
        allowed_pattern=params.BUCKET_NAME if required else params.optional(params.BUCKET_NAME),
        max_length=63,
        min_length=3 if required else None,
        constraint=constraint if required else constraint + ", or empty",
    )


def kms_key_arn_param(name: str, description: str, label: str, required: bool = True) -> ParamSpec:
    constraint = "must be a KMS key ARN: arn:<partition>:kms:<region>:<account-id>:key/<key-id>"
    return ParamSpec(
        name,
        description,
        label,
        default=None if required else "",
        allowed_pattern=params.KMS_KEY_ARN if required else params.optional(params.KMS_KEY_ARN),
        max_length=params.KMS_KEY_ARN_MAX,
        constraint=constraint if required else constraint + ", or empty",
    )
