"""Generation-time configuration: what an enterprise applies consistently to every template.

The configuration is validated completely before any template is built, so a bad value never produces
partial output.  Every problem is reported as one line that names the field (``ConfigError.lines``).
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from templates_src import __version__

# Lambda runtimes that are supported today and will stay supported for a while (cfn-lint's lifecycle data
# lists the deprecation dates).  python3.12 is the oldest one we accept.
SUPPORTED_LAMBDA_RUNTIMES = ("python3.12", "python3.13", "python3.14")

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)

# Resources accept at most 50 tags; the templates add none of their own today, but keep room for the
# tags CloudFormation and Service Catalog propagate (aws:* tags do not count) and for later additions.
MAX_TAGS = 40

_TAG_CHARS = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
_POLICY_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy(/[\x21-\x7e]+)?/[\w+=,.@-]{1,128}$")
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_ROLE_PATH = re.compile(r"^/([\x21-\x2e\x30-\x7e]+/)*$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")
_PREFIX = re.compile(r"^([a-z][a-z0-9-]*[a-z0-9])?$")


class Problems(Exception):
    """An error reported to the user as one line per problem (``lines``)."""

    def __init__(self, lines: list[str] | str):
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        super().__init__("; ".join(self.lines))


class ConfigError(Problems):
    """Bad generation-time input; each line names the field."""


class Config(BaseModel):
    """Typed, immutable generation-time configuration with embedded defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    name_prefix: str = Field(
        default="",
        max_length=12,
        description="Prefix (lower case, digits, hyphens) put in front of every physical name the templates "
        "generate themselves: IAM roles, Lambda functions, exports. Empty keeps the reference names.",
    )
    tags: dict[str, str] = Field(
        default_factory=lambda: {"Solution": "sagemaker-secure-mlops"},
        description="Tags applied to every taggable resource of every template.",
    )
    permissions_boundary: str | None = Field(
        default=None,
        description="Managed policy (ARN, or name of a customer managed policy in the deploying account) "
        "set as permissions boundary on every IAM role the templates create.",
    )
    role_path: str = Field(
        default="/",
        max_length=512,
        description="IAM path of every role the templates create (SageMaker's own service roles keep "
        "/service-role/, which SageMaker requires).",
    )
    lambda_runtime: Literal[SUPPORTED_LAMBDA_RUNTIMES] = Field(  # type: ignore[valid-type]
        default="python3.13", description="Runtime of every Lambda function."
    )
    log_retention_days: int = Field(default=365, description="Retention of the Lambda log groups.")
    version: str = Field(default=__version__, description="Release version written into every template.")
    lint_regions: tuple[str, ...] = Field(
        default=("us-east-1",), min_length=1, description="Regions cfn-lint checks the templates against."
    )

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("must start with a lower-case letter, contain only a-z, 0-9 and '-', "
                             "and not end with '-'")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags, got {len(value)}")
        for key, val in value.items():
            if not 1 <= len(key) <= 128:
                raise ValueError(f"key {key!r} must have 1 to 128 characters")
            if key.lower().startswith("aws:"):
                raise ValueError(f"key {key!r} uses the reserved 'aws:' prefix")
            if len(val) > 256:
                raise ValueError(f"value of {key!r} is longer than 256 characters")
            for text in (key, val):
                if not _TAG_CHARS.match(text):
                    raise ValueError(f"{text!r} contains characters AWS tags do not allow "
                                     "(letters, digits, spaces and _ . : / = + - @ only)")
        return value

    @field_validator("permissions_boundary")
    @classmethod
    def _boundary(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.startswith("arn:"):
            if not _POLICY_ARN.match(value):
                raise ValueError(f"{value!r} is not an IAM managed policy ARN "
                                 "(arn:<partition>:iam::<account>:policy/<name>)")
        elif not _POLICY_NAME.match(value):
            raise ValueError(f"{value!r} is neither a policy ARN nor a valid policy name")
        return value

    @field_validator("role_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _ROLE_PATH.match(value) or "//" in value:
            raise ValueError(f"{value!r} is not an IAM path: it must start and end with '/', e.g. /ml-platform/")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention period "
                             f"({', '.join(map(str, LOG_RETENTION_DAYS))})")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value) or len(value) > 64:
            raise ValueError(f"{value!r} is not a release version like 1.2.0 or 1.2.0-rc.1")
        return value

    @field_validator("lint_regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from cfnlint.helpers import REGIONS

        unknown = [r for r in value if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown region(s): {', '.join(unknown)}")
        return value

    # -- derived values -------------------------------------------------------------------------------
    @property
    def prefix(self) -> str:
        """The name prefix with its separator, ready to put in front of a name ('' when unset)."""
        return f"{self.name_prefix}-" if self.name_prefix else ""


def _format_error(err: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(Config.model_fields)
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
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"config: {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}") from None
    return from_mapping(data)
