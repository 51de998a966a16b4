"""Deploy-time parameters: every shared parameter is defined once, with its constraints and console label.

Constraints stop bad deploy-time input in CloudFormation itself (AllowedPattern, MaxLength, AllowedValues)
with a ConstraintDescription a person understands.  ``max_length`` also feeds the physical-name length
checks in ``templates_src.naming``: a name built from parameters can never exceed its AWS limit.
"""

from __future__ import annotations

import re

from troposphere import Parameter, Template

# The parameter model and its patterns (templates_src.parameter_spec, below the configuration and the names), as the
# templates read them: params.ParamSpec, params.LOWER_NAME, ...
from templates_src.parameter_spec import (  # noqa: F401
    ACCOUNT_ID,
    BUCKET_NAME,
    IAM_PATH_MAX,
    KMS_KEY_ARN,
    KMS_KEY_ARN_MAX,
    LONGEST,
    LOWER_NAME,
    PARTITION,
    POLICY_ARN,
    POLICY_ARN_MAX,
    ROLE_ARN,
    ROLE_ARN_MAX,
    ROLE_NAME,
    ParamSpec,
    optional,
)

INTERFACE = "AWS::CloudFormation::Interface"


def add(template: Template, *specs: ParamSpec) -> dict[str, Parameter]:
    """Add the parameters to the template; return them by name."""
    return {spec.name: template.add_parameter(spec.to_parameter()) for spec in specs}


def interface(template: Template, groups: list[tuple[str, list[ParamSpec]]]) -> None:
    """Console layout: parameter groups in order, and a label for every parameter.

    Groups that building blocks added already (``require``) stay, after these.
    """
    layout = {
        "ParameterGroups": [
            {"Label": {"default": label}, "Parameters": [s.name for s in specs]} for label, specs in groups
        ],
        "ParameterLabels": {s.name: {"default": s.label} for _, specs in groups for s in specs},
    }
    earlier = (template.metadata or {}).get(INTERFACE) or {}
    labels = {g["Label"]["default"] for g in layout["ParameterGroups"]}
    layout["ParameterGroups"] += [g for g in earlier.get("ParameterGroups", []) if g["Label"]["default"] not in labels]
    layout["ParameterLabels"] = {**earlier.get("ParameterLabels", {}), **layout["ParameterLabels"]}
    template.set_metadata({**(template.metadata or {}), INTERFACE: layout})


def require(template: Template, spec: ParamSpec, group: str) -> Parameter:
    """Add ``spec`` to the template once, with its label, at the end of the console group ``group``.

    For parameters that building blocks need wherever they are used (whatever template builds them), so a
    template gets them exactly when it has such a resource.
    """
    if spec.name in template.parameters:
        return template.parameters[spec.name]
    parameter = template.add_parameter(spec.to_parameter())
    metadata = dict(template.metadata or {})
    layout = dict(metadata.get(INTERFACE) or {"ParameterGroups": [], "ParameterLabels": {}})
    groups = [dict(g) for g in layout["ParameterGroups"]]
    target = next((g for g in groups if g["Label"]["default"] == group), None)
    if target is None:
        target = {"Label": {"default": group}, "Parameters": []}
        groups.append(target)
    target["Parameters"] = [*target["Parameters"], spec.name]
    layout["ParameterGroups"] = groups
    layout["ParameterLabels"] = {**layout["ParameterLabels"], spec.name: {"default": spec.label}}
    metadata[INTERFACE] = layout
    template.set_metadata(metadata)
    return parameter


def yes_no(name: str, description: str, label: str, default: str = "YES") -> ParamSpec:
    return ParamSpec(
        name, description, label, default=default, allowed_values=("YES", "NO"), constraint="must be YES or NO"
    )


# -- the shared catalogue -------------------------------------------------------------------------------
# EnvName and EnvType are part of bucket names (<env>-<type>-<region>-<account>-models, at most 63
# characters with the longest region name), hence lower case and these lengths.
ENV_NAME = ParamSpec(
    "EnvName",
    "Name of the data science environment; part of every resource name the environment creates",
    "Environment name",
    min_length=1,
    max_length=16,
    allowed_pattern=LOWER_NAME,
    constraint="1 to 16 characters: lower-case letters, digits and hyphens, not starting or ending with a hyphen",
)
ENV_TYPE = ParamSpec(
    "EnvType",
    "Environment stage, for example dev, staging or prod",
    "Environment stage",
    default="dev",
    min_length=1,
    max_length=10,
    allowed_pattern=LOWER_NAME,
    constraint="1 to 10 characters: lower-case letters, digits and hyphens, not starting or ending with a hyphen",
)
ADMINISTRATOR_ACCOUNT_ID = ParamSpec(
    "AdministratorAccountId",
    "AWS account id of the data science (development) account that administers the stack sets",
    "Administrator account id",
    min_length=12,
    max_length=12,
    allowed_pattern=ACCOUNT_ID,
    constraint="must be a 12-digit AWS account id, for example 123456789012",
)
# The two parameters every environment name is built from, by name (for templates_src.naming).
ENVIRONMENT = {spec.name: spec for spec in (ENV_NAME, ENV_TYPE)}

STACK_SET_NAME = ParamSpec(
    "StackSetName",
    "Name of this core deployment (use the stack name); part of role names and export names, so two core "
    "stacks with different names can live in one account and region",
    "Core deployment name",
    min_length=1,
    max_length=20,
    allowed_pattern=r"[a-zA-Z][a-zA-Z0-9-]*",
    constraint="1 to 20 characters: letters, digits and hyphens, starting with a letter",
)

# Hardening (config: encrypt_logs, functions_in_vpc): required in every template that has a log group or a
# function, in one console group, unless the value is pinned at generation time (logs_kms_key_arn,
# function_network).
HARDENING_GROUP = "Encryption and network isolation"
LOGS_KMS_KEY_ARN = ParamSpec(
    "LogsKmsKeyArn",
    "ARN of the customer managed KMS key, in this stack's region, that encrypts the stack's CloudWatch log "
    "groups. Its key policy must allow the CloudWatch Logs service principal (logs.<region>.amazonaws.com) "
    "kms:Encrypt*, kms:Decrypt*, kms:ReEncrypt*, kms:GenerateDataKey* and kms:Describe*, or creating the log "
    "groups fails",
    "Log group KMS key ARN",
    max_length=KMS_KEY_ARN_MAX,
    allowed_pattern=KMS_KEY_ARN,
    constraint="must be a KMS key ARN: arn:<partition>:kms:<region>:<account-id>:key/<key-id>",
)
FUNCTION_SUBNET_IDS = ParamSpec(
    "FunctionSubnetIds",
    "Private subnets of one VPC (two or more Availability Zones recommended) the stack's Lambda functions run "
    "in. They need a route to the AWS APIs the functions call and to Amazon S3, where the functions answer "
    "CloudFormation: a NAT gateway, or VPC endpoints for those services. A function role given as a parameter "
    "needs the network-interface permissions of the AWSLambdaVPCAccessExecutionRole managed policy",
    "Function subnets",
    type="List<AWS::EC2::Subnet::Id>",
)
FUNCTION_SECURITY_GROUP_IDS = ParamSpec(
    "FunctionSecurityGroupIds",
    "Security groups of the stack's Lambda functions, in the VPC of the function subnets. They must allow "
    "outbound HTTPS (port 443) to the AWS APIs and Amazon S3; the functions accept no inbound connections",
    "Function security groups",
    type="List<AWS::EC2::SecurityGroup::Id>",
)


def role_name_param(
    name: str,
    description: str,
    label: str,
    default: str = "",
    required: bool = False,
    contains: str | None = None,
    starts_with: str = "",
) -> ParamSpec:
    """A role-name parameter; empty means 'generate a name' unless ``required``.

    ``contains`` (and ``starts_with``, the name prefix) force a marker into user-chosen names when other
    roles' policies find the role by it.
    """
    body = ROLE_NAME if contains is None else rf"{re.escape(starts_with)}[\w+=,.@-]*{contains}[\w+=,.@-]*"
    constraint = "must be an IAM role name (up to 64 letters, digits and +=,.@_-)"
    if starts_with:
        constraint += f" starting with '{starts_with}'"
    if contains:
        constraint += f" containing '{contains}'"
    if not required:
        constraint += ", or empty"
    return ParamSpec(
        name,
        description,
        label,
        default=None if required and not default else default,
        allowed_pattern=body if required else optional(body),
        max_length=64,
        min_length=1 if required else None,
        constraint=constraint,
    )


def role_arn_param(name: str, description: str, label: str, required: bool = False) -> ParamSpec:
    constraint = "must be an IAM role ARN (arn:<partition>:iam::<account-id>:role/<name>)"
    return ParamSpec(
        name,
        description,
        label,
        default=None if required else "",
        allowed_pattern=ROLE_ARN if required else optional(ROLE_ARN),
        max_length=ROLE_ARN_MAX,
        constraint=constraint if required else constraint + ", or empty",
    )
