"""The data science environment's shared vocabulary: names, SSM contract and parameters used by several env-*
templates, defined once.

Every physical name of an environment carries EnvName and EnvType, so two environments (or two stages of
one) coexist in an account and region.  The lengths of EnvName (16) and EnvType (10) are what makes the
longest names fit: ``<env>-<type>-<region>-<account>-models`` is 63 characters with the longest region name,
S3's limit (checked by ``templates_src.naming`` wherever a name is built).
"""

from __future__ import annotations

from troposphere import Sub

from templates_src import naming
from templates_src.blocks import parameters as params
from templates_src.blocks.parameters import ENVIRONMENT, ParamSpec
from templates_src.context import BuildContext
from templates_src.naming import Name

ENV = "${EnvName}-${EnvType}"

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
# Read as <EnvName>-<EnvType>-<suffix> by the core's environment configuration function and the seed code.


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
