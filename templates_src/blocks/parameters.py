"""Deploy-time parameters: every shared parameter is defined once, with its constraints and console label.

Constraints stop bad deploy-time input in CloudFormation itself (AllowedPattern, MaxLength, AllowedValues)
with a ConstraintDescription a person understands.  ``max_length`` also feeds the physical-name length
checks in ``templates_src.naming``: a name built from parameters can never exceed its AWS limit.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from troposphere import Parameter, Template

# -- reusable patterns (CloudFormation matches AllowedPattern against the whole value) -----------------
ACCOUNT_ID = r"\d{12}"
ROLE_NAME = r"[\w+=,.@-]{1,64}"
PARTITION = r"aws(-[a-z]+)*"
ROLE_ARN = rf"arn:{PARTITION}:iam::\d{{12}}:role/([\x21-\x7e]+/)?[\w+=,.@-]{{1,64}}"
KMS_KEY_ARN = rf"arn:{PARTITION}:kms:[a-z0-9-]+:\d{{12}}:key/(mrk-)?[a-f0-9-]{{32,36}}"
BUCKET_NAME = r"(?!xn--)(?!sthree-)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
LOWER_NAME = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"


def optional(pattern: str) -> str:
    """Pattern that also accepts the empty string (used for 'leave empty to ...' parameters)."""
    return f"({pattern})?"


@dataclass(frozen=True)
class ParamSpec:
    """A deploy-time parameter definition.  Use ``dataclasses.replace`` to vary a default or description."""

    name: str
    description: str
    label: str
    type: str = "String"
    default: str | None = None
    allowed_values: tuple[str, ...] | None = None
    allowed_pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    constraint: str | None = None

    def with_(self, **changes) -> "ParamSpec":
        return dataclasses.replace(self, **changes)

    def longest(self) -> int:
        """Longest value this parameter can hold (for physical-name length checks)."""
        if self.allowed_values:
            return max(len(v) for v in self.allowed_values)
        if self.max_length is None:
            raise ValueError(f"parameter {self.name} has no MaxLength; it cannot be part of a physical name")
        return self.max_length

    def to_parameter(self) -> Parameter:
        kwargs = {"Type": self.type, "Description": self.description}
        for key, value in (
            ("Default", self.default),
            ("AllowedValues", list(self.allowed_values) if self.allowed_values else None),
            ("AllowedPattern", self.allowed_pattern),
            ("MinLength", self.min_length),
            ("MaxLength", self.max_length),
            ("ConstraintDescription", self.constraint),
        ):
            if value is not None:
                kwargs[key] = value
        return Parameter(self.name, **kwargs)


def add(template: Template, *specs: ParamSpec) -> dict[str, Parameter]:
    """Add the parameters to the template; return them by name."""
    return {spec.name: template.add_parameter(spec.to_parameter()) for spec in specs}


def interface(template: Template, groups: list[tuple[str, list[ParamSpec]]]) -> None:
    """Console layout: parameter groups in order, and a label for every parameter."""
    template.set_metadata(
        {
            **(template.metadata or {}),
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": label}, "Parameters": [s.name for s in specs]} for label, specs in groups
                ],
                "ParameterLabels": {s.name: {"default": s.label} for _, specs in groups for s in specs},
            },
        }
    )


def yes_no(name: str, description: str, label: str, default: str = "YES") -> ParamSpec:
    return ParamSpec(name, description, label, default=default, allowed_values=("YES", "NO"),
                     constraint="must be YES or NO")


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


def role_name_param(name: str, description: str, label: str, default: str = "", required: bool = False,
                    contains: str | None = None, starts_with: str = "") -> ParamSpec:
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
        name, description, label, default=None if required and not default else default,
        allowed_pattern=body if required else optional(body), max_length=64,
        min_length=1 if required else None, constraint=constraint,
    )


def role_arn_param(name: str, description: str, label: str, required: bool = False) -> ParamSpec:
    constraint = "must be an IAM role ARN (arn:<partition>:iam::<account-id>:role/<name>)"
    return ParamSpec(
        name, description, label, default=None if required else "",
        allowed_pattern=ROLE_ARN if required else optional(ROLE_ARN), max_length=2048,
        constraint=constraint if required else constraint + ", or empty",
    )
