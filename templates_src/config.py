"""Generation-time configuration: what an enterprise applies consistently to every template.

The configuration is validated completely before any template is built, so a bad value never produces
partial output.  Every problem is reported as one line that names the field (``ConfigError.lines``).
"""

from __future__ import annotations

import json
import pathlib
import re
import typing
import unicodedata
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from templates_src import __version__
from templates_src.parameter_spec import KMS_KEY_ARN

# Lambda runtimes that are supported today and will stay supported for a while (cfn-lint's lifecycle data
# lists the deprecation dates).  python3.12 is the oldest one we accept.
SUPPORTED_LAMBDA_RUNTIMES = ("python3.12", "python3.13", "python3.14")

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

# Tags reach every taggable resource of every template, so they follow the strictest rule of any of them
# (tests/test_config.py derives each rule from cfn-lint's resource schemas of the resource types the templates
# tag, and builds at the limits lint clean):
# AWS::ServiceCatalog::Portfolio and ::CloudFormationProduct take at most 20 tags, and the MLOps project products
# carry one of their own (sagemaker:studio-visibility, templates/env/env_sc_portfolio.py).
MAX_TAGS = 20 - 1
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 128  # AWS::SageMaker::Domain and ::UserProfile take values of at most 128 characters
# Keys: AWS::CloudFormation::StackSet takes ASCII letters and digits, white space and : _ . / = + - only (no
# '@', no other letters); the space is the only white space kept (tabs and line breaks fail elsewhere).
TAG_KEY_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 :_./=+-")
# Values: IAM, SageMaker, Service Catalog and SSM take Unicode letters (L*) and numbers (N*), separators and
# _ . : / = + - @; the ASCII space is the only separator kept (no tab, line break or invisible space).
TAG_VALUE_SYMBOLS = frozenset(" _.:/=+-@")


def tag_value_character(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN" or char in TAG_VALUE_SYMBOLS


_POLICY_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy(/[\x21-\x7e]+)?/[\w+=,.@-]{1,128}$")
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_ROLE_PATH = re.compile(r"^/([\x21-\x2e\x30-\x7e]+/)*$")
# A release version is put raw into S3 keys, HTTPS URLs and Service Catalog product version names: semantic
# version (no leading zeros) with an optional pre-release of dot-separated [0-9A-Za-z-] identifiers and no
# build metadata ('+' would be read as a space in S3 keys and URLs).
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
_PREFIX = re.compile(r"^([a-z]([a-z0-9-]*[a-z0-9])?)?$")
# Pinned hardening values (logs_kms_key_arn, function_network): the key ARN pattern is the LogsKmsKeyArn
# parameter's, so a pinned key is exactly what the parameter would accept.
_KMS_KEY_ARN = re.compile(KMS_KEY_ARN)
_SUBNET_ID = re.compile(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$")
_SECURITY_GROUP_ID = re.compile(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$")
# Lambda's limits of a function's VpcConfig.
MAX_FUNCTION_SUBNETS = 16
MAX_FUNCTION_SECURITY_GROUPS = 5


class Problems(Exception):
    """An error reported to the user as one line per problem (``lines``)."""

    def __init__(self, lines: list[str] | str):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))


class ConfigError(Problems):
    """Bad generation-time input; each line names the field."""


_TRUSTED_ROLE = re.compile(r"^[\w+=,.@/*?-]{1,576}$")


class AdministratorTrust(BaseModel):
    """Who may assume the data science administrator role (see core-iam-shared-roles)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iam_users_with_mfa: bool = Field(
        default=True,
        strict=True,
        description="IAM users of the account, only with multi-factor authentication (their long-term access "
        "keys carry no MFA flag and are refused).",
    )
    roles: tuple[str, ...] = Field(
        default=("*",),
        description="Roles of the account (path and name, wildcards allowed) whose sessions may assume it: "
        "federated and IAM Identity Center users arrive as such sessions, e.g. "
        "`aws-reserved/sso.amazonaws.com/*`. Empty admits no role session.",
        json_schema_extra={
            "constraints": "each 1 to 576 characters of letters, digits and `+=,.@/*?_-`, not starting with `/`"
        },
    )

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            if not _TRUSTED_ROLE.match(pattern) or pattern.startswith("/"):
                raise ValueError(
                    f"{pattern!r} is not a role path and name pattern like "
                    "'aws-reserved/sso.amazonaws.com/*' or 'AdminRole' (no leading '/')"
                )
        return value

    @model_validator(mode="after")
    def _someone(self) -> "AdministratorTrust":
        if not self.iam_users_with_mfa and not self.roles:
            raise ValueError("nobody could assume the administrator role: set iam_users_with_mfa or list roles")
        return self


def _characters(chars: list[str]) -> str:
    """Characters named so that invisible ones show: 'a', '\\t', '\\u00a0'."""
    return ", ".join(
        repr(c)
        if c.isprintable() and not c.isspace() or c == " "
        else "'" + c.encode("unicode_escape").decode("ascii") + "'"
        for c in chars
    )


def _distinct_ids(value: tuple[str, ...], pattern: re.Pattern, what: str, example: str, most: int) -> tuple[str, ...]:
    if not 1 <= len(value) <= most:
        raise ValueError(f"give 1 to {most} {what} ids (Lambda's limit), got {len(value)}")
    for item in value:
        if not pattern.match(item):
            raise ValueError(f"{item!r} is not a {what} id like {example!r}")
    twice = sorted({item for item in value if value.count(item) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} listed more than once")
    return value


class FunctionNetwork(BaseModel):
    """The VPC subnets and security groups of every Lambda function, pinned at generation time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subnet_ids: tuple[str, ...] = Field(
        description=f"Private subnets of one VPC (1 to {MAX_FUNCTION_SUBNETS}, e.g. `subnet-0123456789abcdef0`; "
        "two or more Availability Zones recommended) with a route to the AWS APIs and Amazon S3 (NAT gateway or "
        "VPC endpoints), as parameter `FunctionSubnetIds` describes.",
        json_schema_extra={
            "constraints": f"1 to {MAX_FUNCTION_SUBNETS} distinct ids: `subnet-` and 8 or 17 hexadecimal digits"
        },
    )
    security_group_ids: tuple[str, ...] = Field(
        description=f"Security groups in that VPC (1 to {MAX_FUNCTION_SECURITY_GROUPS}, e.g. "
        "`sg-0123456789abcdef0`) allowing outbound HTTPS, as parameter `FunctionSecurityGroupIds` describes.",
        json_schema_extra={
            "constraints": f"1 to {MAX_FUNCTION_SECURITY_GROUPS} distinct ids: `sg-` and 8 or 17 hexadecimal digits"
        },
    )

    @field_validator("subnet_ids", "security_group_ids", mode="before")
    @classmethod
    def _a_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list of ids, got {value!r}")
        return value

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct_ids(value, _SUBNET_ID, "subnet", "subnet-0123456789abcdef0", MAX_FUNCTION_SUBNETS)

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _distinct_ids(
            value, _SECURITY_GROUP_ID, "security group", "sg-0123456789abcdef0", MAX_FUNCTION_SECURITY_GROUPS
        )


class Config(BaseModel):
    """Typed, immutable generation-time configuration with embedded defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    name_prefix: str = Field(
        default="",
        max_length=12,
        description="Put (with a `-`) in front of every physical name the templates generate: IAM roles, Lambda "
        "functions, exports (empty keeps the reference's names). Lower case, up to 12 characters; if it makes any "
        "generated name exceed its AWS limit, `build` says which name and how many characters fit every name it "
        "builds. SageMaker's fixed role names and names users pass as parameters are not prefixed.",
        json_schema_extra={
            "constraints": f"lower-case letters, digits and `-`, starting with a letter, not ending with `-` "
            f"(`{_PREFIX.pattern}`)"
        },
    )
    tags: dict[str, str] = Field(
        default_factory=lambda: {"Solution": "sagemaker-secure-mlops"},
        description="Every taggable resource of every template (checked by a test over all resource types). "
        f"Checked against the strictest rule of every resource they reach: at most {MAX_TAGS} tags (Service Catalog "
        f"takes 20 per product, which carries one of its own), keys and values up to {MAX_TAG_VALUE} characters "
        "(SageMaker), keys of ASCII letters, digits, spaces and `: _ . / = + -` (StackSets), values of letters and "
        "digits of any script, spaces and `_ . : / = + - @`; no tabs or line breaks, no `aws:` keys "
        "(`tests/test_config.py::test_tag_limits_are_the_strictest_of_every_tagged_resource` compares these rules "
        "with every tagged resource's schema, "
        "`test_the_most_tags_with_every_allowed_character_build_and_lint_clean`).",
        json_schema_extra={
            "constraints": f"at most {MAX_TAGS} tags; keys of 1 to {MAX_TAG_KEY} characters, values of 1 to "
            f"{MAX_TAG_VALUE}, not blank"
        },
    )
    permissions_boundary: str | None = Field(
        default=None,
        description="Every IAM role the templates create, as its permissions boundary (a managed policy ARN or "
        "a policy name). Roles that create other roles (StackSet setup role, Service Catalog launch role) may then "
        "only create roles carrying the same boundary. A policy name means a customer managed policy in the "
        "deploying account. Without it the core creates the **platform boundary** "
        "(`<prefix><StackSetName>-<region>-platform-boundary`, output `PlatformBoundaryArn`): every role of its "
        "environments carries it, and the environment launch role creates, changes, attaches to and passes only "
        "roles that do (see [No more than intended](#no-more-than-intended-escalation-proven-impossible)).",
        json_schema_extra={
            "constraints": "an IAM managed policy ARN (`arn:<partition>:iam::<account>:policy/<name>`) or a policy "
            "name (1 to 128 letters, digits and `+=,.@_-`)"
        },
    )
    role_path: str = Field(
        default="/",
        max_length=512,
        description="Every IAM role and customer managed policy (as their IAM path), except SageMaker's two "
        "project roles, which SageMaker requires under `/service-role/`. Trust and `iam:` grants between platform "
        "roles are scoped to this path and the name prefix.",
        json_schema_extra={"constraints": "starts and ends with `/` (e.g. `/ml-platform/`), printable ASCII, no `//`"},
    )
    lambda_runtime: Literal[SUPPORTED_LAMBDA_RUNTIMES] = Field(  # type: ignore[valid-type]
        default="python3.13",
        description="Every function; "
        + ", ".join(f"`{runtime}`" for runtime in SUPPORTED_LAMBDA_RUNTIMES[:-1])
        + f" or `{SUPPORTED_LAMBDA_RUNTIMES[-1]}`.",
    )
    log_retention_days: int = Field(
        default=365,
        description="The log group created for every function.",
        json_schema_extra={
            "constraints": "a whole number of days CloudWatch Logs takes: " + ", ".join(map(str, LOG_RETENTION_DAYS))
        },
    )
    version: str = Field(
        default=__version__,
        description="Service Catalog product version names (nowhere else, so a template that did not change keeps "
        "its bytes across releases), and the release `package` publishes.",
        json_schema_extra={
            "default_text": "the package version",
            "constraints": "major.minor.patch without leading zeros, optionally `-` and a pre-release of "
            "dot-separated 0-9, A-Z, a-z and `-`, no build metadata (`+`), at most 64 characters; e.g. `1.2.0` or "
            "`1.2.0-rc.1`",
        },
    )
    lint_regions: tuple[str, ...] = Field(
        default=("us-east-1",),
        min_length=1,
        description="Regions cfn-lint checks against.",
        json_schema_extra={"constraints": "regions cfn-lint knows"},
    )
    ds_administrator_trust: AdministratorTrust = Field(
        default_factory=AdministratorTrust,
        description="Who may assume the data science administrator role. IAM users of the account only with MFA "
        "(`Bool aws:MultiFactorAuthPresent`: long-term access keys carry no MFA flag and are refused, which "
        "`BoolIfExists` let through), and sessions of the account's roles whose path and name match `roles` "
        "(federation and IAM Identity Center users arrive as role sessions, already authenticated by their identity "
        'provider). Narrow it, e.g. `{iam_users_with_mfa: false, roles: ["aws-reserved/sso.amazonaws.com/*"]}` for '
        "Identity Center only.",
        json_schema_extra={"constraints": "`iam_users_with_mfa: true` or at least one role pattern in `roles`"},
    )
    # Hardening (AWS Control Tower proactive controls).  Generation-time switches, deploy-time values: the key
    # and the network differ per account and region, while one release serves them all; and a required
    # parameter, unlike an optional one with a condition, can neither be forgotten nor leave a resource
    # half-configured.  The switches stay the switches; pinning a value (logs_kms_key_arn, function_network)
    # only replaces its parameter with the literal, for scanners that check the template files themselves
    # (cfn-guard cannot resolve a parameter), at the price of a release tied to one account and region.  A
    # pinned value without its switch is an error, never silently ignored or silently turning the switch on.
    # s3_object_lock is a switch with no value to give.  Each switch is off by default because it costs money
    # (KMS requests, VPC endpoints or NAT for the functions) or cannot be undone (Object Lock).
    encrypt_logs: bool = Field(
        default=False,
        strict=True,
        description="Every log group gets a customer managed KMS key, given at deployment (required parameter "
        "`LogsKmsKeyArn` in the templates with log groups; the key policy must allow `logs.<region>.amazonaws.com`). "
        "Meets Control Tower control CT.CLOUDWATCH.PR.3.",
    )
    functions_in_vpc: bool = Field(
        default=False,
        strict=True,
        description="Every Lambda function runs in a VPC (required parameters `FunctionSubnetIds`, "
        "`FunctionSecurityGroupIds`; private subnets with a route to the AWS APIs and S3, security groups allowing "
        "outbound HTTPS); the function roles get the network-interface permissions Lambda uses. Meets Control Tower "
        "control CT.LAMBDA.PR.3.",
    )
    s3_object_lock: bool = Field(
        default=False,
        strict=True,
        description="S3 Object Lock on the environment's data and model buckets (env-s3), with no default "
        "retention: nothing is locked until a principal allowed `s3:PutObjectRetention` or `s3:PutObjectLegalHold` "
        "(no environment role is) locks an object version, and then only in governance mode (the bucket policies "
        "refuse compliance-mode locks, which nobody could lift, not even for a deletion request). It cannot be "
        "undone. The access-log bucket never has it (S3 does not deliver access logs to such a bucket). Meets "
        "CT.S3.PR.9; the environment launch role has `s3:PutBucketObjectLockConfiguration`.",
    )
    logs_kms_key_arn: str | None = Field(
        default=None,
        description="With `encrypt_logs: true`, the log groups' KMS key fixed at generation time "
        "(`arn:<partition>:kms:<region>:<account>:key/<id>`) instead of the `LogsKmsKeyArn` parameter, so the "
        "template files themselves pass CT.CLOUDWATCH.PR.3 (scanners such as cfn-guard cannot resolve a "
        "parameter). The release then deploys only in that key's account and region (leave it unset to give the "
        "key at deployment and keep one release for every account and region): `package` refuses a key of another "
        "region or partition than `--region`, and a `permissions_boundary` ARN of another partition "
        "(`tests/test_publish_faults.py::test_a_value_pinned_to_another_region_or_partition_is_refused_before_"
        "anything_is_written`). Without `encrypt_logs` it is an error.",
        json_schema_extra={
            "constraints": "a KMS key ARN (CloudWatch Logs takes no alias); only with `encrypt_logs: true`"
        },
    )
    function_network: FunctionNetwork | None = Field(
        default=None,
        description=f"With `functions_in_vpc: true`, `{{subnet_ids: [1–{MAX_FUNCTION_SUBNETS} subnet-…], "
        f"security_group_ids: [1–{MAX_FUNCTION_SECURITY_GROUPS} sg-…]}}` fixed at generation time instead of the "
        "`FunctionSubnetIds`/`FunctionSecurityGroupIds` parameters, so the files pass CT.LAMBDA.PR.3. The release "
        "then deploys only in that VPC's account and region (leave it unset to give the network at deployment and "
        "keep one release for every account and region). Without `functions_in_vpc` it is an error.",
        json_schema_extra={"constraints": "only with `functions_in_vpc: true`"},
    )

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("must start with a lower-case letter, contain only a-z, 0-9 and '-', and not end with '-'")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_TAGS:
            raise ValueError(
                f"at most {MAX_TAGS} tags (Service Catalog's limit of 20 on products, which carry one "
                f"tag of their own), got {len(value)}"
            )
        for key, val in value.items():
            if not 1 <= len(key) <= MAX_TAG_KEY:
                raise ValueError(f"key {key!r} must have 1 to {MAX_TAG_KEY} characters")
            if key.lower().startswith("aws:"):
                raise ValueError(f"key {key!r} uses the reserved 'aws:' prefix")
            bad = sorted({c for c in key if c not in TAG_KEY_CHARACTERS})
            if bad:
                raise ValueError(
                    f"key {key!r} contains {_characters(bad)}: tag keys reach CloudFormation StackSets, "
                    "which take only ASCII letters, digits, spaces and _ . : / = + -"
                )
            if len(val) > MAX_TAG_VALUE:
                raise ValueError(
                    f"value of {key!r} has {len(val)} characters: at most {MAX_TAG_VALUE} (SageMaker's "
                    "limit on domains and user profiles)"
                )
            if not val.strip():
                raise ValueError(
                    f"value of {key!r} is empty: give every tag a value (SageMaker, Service Catalog "
                    "and StackSets refuse empty tag values)"
                )
            bad = sorted({c for c in val if not tag_value_character(c)})
            if bad:
                raise ValueError(
                    f"value of {key!r} contains {_characters(bad)}: tag values take only letters, "
                    "digits, spaces and _ . : / = + - @"
                )
        return value

    @field_validator("permissions_boundary")
    @classmethod
    def _boundary(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith("arn:"):
            if not _POLICY_ARN.match(value):
                raise ValueError(
                    f"{value!r} is not an IAM managed policy ARN (arn:<partition>:iam::<account>:policy/<name>)"
                )
        elif not _POLICY_NAME.match(value):
            raise ValueError(f"{value!r} is neither a policy ARN nor a valid policy name")
        return value

    @field_validator("role_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _ROLE_PATH.match(value) or "//" in value:
            raise ValueError(f"{value!r} is not an IAM path: it must start and end with '/', e.g. /ml-platform/")
        return value

    @field_validator("log_retention_days", mode="before")
    @classmethod
    def _retention_is_a_number(cls, value: Any) -> Any:
        # Strict: YAML's `true` would otherwise become 1 day and "30" 30 days.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number of days, got {value!r}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention period ({', '.join(map(str, LOG_RETENTION_DAYS))})"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if "+" in value:
            raise ValueError(
                f"{value!r} has build metadata ('+...'), which S3 keys and URLs read as a space: "
                "use a release version like 1.2.0 or a pre-release like 1.2.0-rc.1"
            )
        if not _VERSION.match(value) or len(value) > 64:
            raise ValueError(
                f"{value!r} is not a release version like 1.2.0 or 1.2.0-rc.1 (major.minor.patch "
                "without leading zeros, optionally '-' and dot-separated identifiers of "
                "0-9, A-Z, a-z and '-'; at most 64 characters)"
            )
        return value

    @field_validator("lint_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from templates_src.lint import known_regions  # cfn-lint's list, without importing cfn-lint

        unknown = [r for r in value if r not in known_regions()]
        if unknown:
            raise ValueError(f"unknown region(s): {', '.join(unknown)}")
        return value

    @field_validator("encrypt_logs", "functions_in_vpc", "s3_object_lock", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        # Only real booleans: a quoted "false" or a 0 is a mistake more often than a wish.
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {value!r}")
        return value

    @field_validator("logs_kms_key_arn")
    @classmethod
    def _logs_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None
        if not _KMS_KEY_ARN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:"
                "key/<key-id>; CloudWatch Logs takes no alias)"
            )
        if info.data.get("encrypt_logs") is False:
            raise ValueError(
                "pins the log group key, but encrypt_logs is false: set encrypt_logs: true to encrypt "
                "the log groups with it, or remove logs_kms_key_arn"
            )
        return value

    @field_validator("function_network", mode="before")
    @classmethod
    def _network_is_a_mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, (dict, FunctionNetwork)):
            raise ValueError(f"must be a mapping with subnet_ids and security_group_ids, got {value!r}")
        return value

    @field_validator("function_network")
    @classmethod
    def _network(cls, value: FunctionNetwork | None, info: ValidationInfo) -> FunctionNetwork | None:
        if value is not None and info.data.get("functions_in_vpc") is False:
            raise ValueError(
                "pins the functions' network, but functions_in_vpc is false: set functions_in_vpc: "
                "true to run the functions in it, or remove function_network"
            )
        return value

    # -- derived values -------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """The name prefix with its separator, ready to put in front of a name ('' when unset)."""
        return f"{self.name_prefix}-" if self.name_prefix else ""


def _model_at(loc: tuple) -> type[BaseModel]:
    """The model whose fields are valid at ``loc`` (Config, or a nested section like function_network)."""
    model: type[BaseModel] = Config
    for part in loc:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        nested = [
            t for t in (annotation, *typing.get_args(annotation)) if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        if not nested:
            break
        model = nested[0]
    return model


def _format_error(err: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_model_at(err["loc"][:-1]).model_fields)
        return f"{field}: unknown option (allowed: {allowed})"
    msg = err["msg"]
    for noise in ("Value error, ", "Assertion failed, "):
        msg = msg.replace(noise, "")
    if err["type"] == "literal_error":
        msg = f"{err.get('input')!r} is not supported; {msg[0].lower()}{msg[1:]}"
    return f"{field}: {msg}"


def from_mapping(data: Any) -> Config:
    """Validate a mapping (already parsed from a file) into a Config, or raise ConfigError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config: the file must hold a mapping of option names to values")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_format_error(e) for e in exc.errors()]) from None


def load(path: str | pathlib.Path | None) -> Config:
    """Load the configuration file (YAML or JSON); ``None`` gives the embedded defaults."""
    if path is None:
        return Config()
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config: {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): save it as UTF-8"
        ) from None
    try:
        if path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_json_object)
            if isinstance(data, _Duplicate):
                raise DuplicateKey(data.field)
        else:
            _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
            data = yaml.safe_load(text)
    except DuplicateKey as exc:
        raise ConfigError(
            f"{exc.field}: {path} gives this key more than once{exc.where}: keep one (the file would "
            "otherwise mean whichever comes last)"
        ) from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"config: {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}"
        ) from None
    return from_mapping(data)


class DuplicateKey(Exception):
    """A key given twice in one mapping of the configuration file (YAML and JSON parsers keep the last one)."""

    def __init__(self, field: str, where: str = ""):
        super().__init__(field)
        self.field, self.where = field, where


def _refuse_duplicate_keys(node, path: str = "") -> None:
    """Walk the composed YAML document; the first key found twice in a mapping raises DuplicateKey."""
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            field = f"{path}.{name}" if path else str(name)
            if name is not None:
                line = key.start_mark.line + 1
                if (key.tag, name) in first:
                    earlier = first[(key.tag, name)]
                    raise DuplicateKey(
                        field, f" (line {line})" if earlier == line else f" (lines {earlier} and {line})"
                    )
                first[(key.tag, name)] = line
            _refuse_duplicate_keys(value, field)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, f"{path}[{index}]")


class _Duplicate:
    """What a JSON object with a key given twice becomes while parsing: the field path, completed outwards."""

    def __init__(self, field: str):
        self.field = field


def _json_object(pairs: list[tuple[str, Any]]) -> Any:
    seen = set()
    for key, value in pairs:
        if key in seen:
            return _Duplicate(key)
        seen.add(key)
        inner = next((v for v in (value if isinstance(value, list) else [value]) if isinstance(v, _Duplicate)), None)
        if inner is not None:
            index = f"[{value.index(inner)}]" if isinstance(value, list) else ""
            return _Duplicate(f"{key}{index}.{inner.field}")
    return dict(pairs)
