"""Physical names the templates build, with their AWS length limits checked at generation time.

A name is a ``Fn::Sub`` pattern.  Its worst-case length is computed from the MaxLength of every parameter it
uses and the longest pseudo-parameter values, so a name can never be too long for AWS at deploy time.  A
name prefix from the configuration that would break a limit is reported as a configuration error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from troposphere import Sub

from templates_src.config import ConfigError
from templates_src.parameter_spec import LONGEST, ParamSpec

# Longest values of the pseudo parameters that appear in names (parameter_spec.LONGEST).
PSEUDO_LENGTHS = LONGEST

LIMITS = {
    "role": 64,  # IAM role name
    "function": 64,  # Lambda function name
    "export": 255,  # CloudFormation export name
    "log-group": 512,
    "policy": 128,  # inline policy name
    "bucket": 63,
    "product": 100,  # Service Catalog product name (console shows up to 100)
    "stackset": 128,  # StackSet name
    "repository": 100,  # CodeCommit repository name
    "codebuild": 150,  # CodeBuild project name
    "pipeline": 100,  # CodePipeline pipeline name
    "rule": 64,  # EventBridge rule name
    "endpoint": 63,  # SageMaker endpoint name
    "sagemaker-pipeline": 256,  # SageMaker pipeline name
}

# Markers that other roles' policies use to find roles they may create, pass or assume.  A user-chosen
# role name for these roles must contain the marker (enforced by AllowedPattern).
MODEL_EXECUTION_ROLE_MARKER = "sm-model-exec"  # endpoint role in every deployment account
STACKSET_EXECUTION_ROLE_MARKER = "stackset-exec"  # model deployment StackSets in every deployment account
SAGEMAKER_EXECUTION_ROLE_MARKER = "sm-execution"  # Studio, notebooks and jobs of an environment
PIPELINE_EXECUTION_ROLE_MARKER = "sm-pipeline"  # SageMaker pipelines of an environment
STACKSET_ADMINISTRATION_ROLE_MARKER = "stackset-admin"  # administers the environment's set-up StackSets
# Administers the model deployment StackSets of the environment's MLOps projects (assumes only the model deployment
# StackSet execution roles of the target accounts, never their setup roles).
DEPLOYMENT_ADMINISTRATION_ROLE_MARKER = "deploy-admin"
MODEL_BUILD_ROLE_MARKER = "sm-model-build"  # the build/train projects' pipelines and builds (data scientists' code)
MODEL_DEPLOY_ROLE_MARKER = "sm-model-deploy"  # the model deploy projects' pipelines and builds (reviewed code)
# Every customer managed policy an environment creates carries this in its name: the environment launch role may
# create and version only these (never another policy of the account, never its own, never the boundary).
ENVIRONMENT_POLICY_MARKER = "env-policy"
GET_ENVIRONMENT_CONFIGURATION = "get-environment-configuration"  # the core function project templates call
SEED_CODE_CHECKIN = "seed-code-checkin"  # the core function that checks a project's seed code in to its repository

# SageMaker's own project roles: SageMaker looks them up by these exact names under this path.
SAGEMAKER_SERVICE_ROLE_PATH = "/service-role/"
SAGEMAKER_PRODUCTS_LAUNCH_ROLE = "AmazonSageMakerServiceCatalogProductsLaunchRole"
SAGEMAKER_PRODUCTS_USE_ROLE = "AmazonSageMakerServiceCatalogProductsUseRole"
SAGEMAKER_PRODUCTS_ROLES = "AmazonSageMakerServiceCatalogProducts*"  # both, as a pattern

# Stacks of environments deployed directly with CloudFormation (the two-step deployment) run as the
# environment launch role only under these names; Service Catalog's provisioned products are SC-*.
ENVIRONMENT_STACKS = "ds-env-*"

# The StackSet administration role of an environment (created by the environment in its account); the
# StackSet execution roles in target accounts trust exactly this role.
STACKSET_ADMINISTRATION_ROLE = "${EnvName}-${EnvType}-" + STACKSET_ADMINISTRATION_ROLE_MARKER

_VAR = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Name:
    """A physical name: the ``Fn::Sub`` pattern and its worst-case length."""

    pattern: str
    longest: int

    def sub(self) -> Sub:
        return Sub(self.pattern)


class Namer:
    """Builds prefixed physical names and checks them against AWS limits."""

    def __init__(self, prefix: str):
        self.prefix = prefix  # already includes the separator, or ''
        # (characters of prefix left, kind, name, longest, limit) of every prefixed name built so far
        self._room: list[tuple[int, str, str, int, int]] = []

    def name(self, kind: str, pattern: str, params: dict[str, ParamSpec] | None = None, prefixed: bool = True) -> Name:
        """Return the name ``<prefix><pattern>``; raise if it can exceed the limit of ``kind`` without a prefix.

        A name the prefix makes too long is recorded and reported by ``check_prefix`` once every template is
        built, with the prefix length that fits every name (not just the first one found)."""
        full = (self.prefix if prefixed else "") + pattern
        longest = worst_case_length(full, params or {})
        limit = LIMITS[kind]
        unprefixed = worst_case_length(pattern, params or {})
        if unprefixed > limit:
            raise ValueError(f"{kind} name {full!r} can reach {longest} characters (limit {limit})")
        if prefixed:
            self._room.append((limit - unprefixed - 1, kind, full, longest, limit))
        return Name(full, longest)

    def room(self) -> tuple[int, str, str, int]:
        """The longest name prefix every prefixed name built so far fits (without the '-' that follows it), with
        the name that limits it: (characters, kind, name pattern, limit)."""
        fits, kind, full, _, limit = min(self._room, key=lambda r: r[0])
        return fits, kind, full[len(self.prefix) :], limit

    def check_prefix(self) -> None:
        """Raise one ConfigError if the configured prefix makes any name built so far exceed its limit."""
        if not self.prefix:
            return
        too_long = [r for r in self._room if r[3] > r[4]]
        if too_long:
            room, kind, full, longest, limit = max(too_long, key=lambda r: r[3] - r[4])
            raise ConfigError(
                f"name_prefix: {self.prefix[:-1]!r} is too long: the {kind} name '{full}' can reach "
                f"{longest} characters (AWS allows {limit}); use at most {self.room()[0]} characters"
            )


def worst_case_length(pattern: str, params: dict[str, ParamSpec]) -> int:
    """Length of ``pattern`` with every ${...} replaced by the longest value it can take."""
    total = len(_VAR.sub("", pattern))
    for var in _VAR.findall(pattern):
        if var in PSEUDO_LENGTHS:
            total += PSEUDO_LENGTHS[var]
        elif var in params:
            total += params[var].longest()
        else:
            raise ValueError(f"cannot bound the length of ${{{var}}} in name {pattern!r}")
    return total
