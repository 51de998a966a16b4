"""What a deploy-time parameter is (``ParamSpec``), the patterns its constraints use, and the longest values of
the pseudo parameters: the lowest layer of the generator, read by the configuration (``templates_src.config``),
the physical-name checks (``templates_src.naming``) and the shared parameter catalogue
(``templates_src.blocks.parameters``, which re-exports them for the templates).

Imports nothing of the generator, so configuration -> naming -> context -> blocks -> templates stays one way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from troposphere import Parameter

# -- reusable patterns (CloudFormation matches AllowedPattern against the whole value) -----------------
ACCOUNT_ID = r"\d{12}"
ROLE_NAME = r"[\w+=,.@-]{1,64}"
PARTITION = r"aws(-[a-z]+)*"
ROLE_ARN = rf"arn:{PARTITION}:iam::\d{{12}}:role/([\x21-\x7e]+/)?[\w+=,.@-]{{1,64}}"
POLICY_ARN = rf"arn:{PARTITION}:iam::(\d{{12}}|aws):policy/([\x21-\x7e]+/)?[\w+=,.@-]{{1,128}}"
KMS_KEY_ARN = rf"arn:{PARTITION}:kms:[a-z0-9-]+:\d{{12}}:key/(mrk-)?[a-f0-9-]{{32,36}}"
# S3's bucket naming rules (general purpose buckets), Java-compatible for AllowedPattern: no '..', '.-' or
# '-.', not an IP address, none of the reserved prefixes and suffixes.
BUCKET_NAME = (
    r"(?!xn--|sthree-|amzn-s3-demo-)(?!\d+\.\d+\.\d+\.\d+$)(?!.*(\.\.|\.-|-\.))"
    r"(?!.*(-s3alias|--ol-s3|--x-s3|--table-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
)
LOWER_NAME = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"

# The longest values AWS gives the pseudo parameters (tests/test_document_limits.py checks them against botocore's
# partitions and cfn-lint's regions): they bound physical names (templates_src.naming) and policy documents
# (templates_src.document_limits).
LONGEST = {"AWS::Region": 15, "AWS::AccountId": 12, "AWS::Partition": 10, "AWS::URLSuffix": 16}
IAM_PATH_MAX = 512  # IAM: a path has at most 512 characters, a role name 64, a policy name 128
_ARN_HEAD = len("arn:") + LONGEST["AWS::Partition"] + 1
# The longest ARNs the patterns above accept that AWS can issue: the MaxLength of ARN parameters, so that the
# policies built from them stay within IAM's size limits at their worst case (templates_src.document_limits).
ROLE_ARN_MAX = _ARN_HEAD + len("iam::") + 12 + len(":role") + IAM_PATH_MAX + 64
POLICY_ARN_MAX = _ARN_HEAD + len("iam::") + 12 + len(":policy") + IAM_PATH_MAX + 128
KMS_KEY_ARN_MAX = _ARN_HEAD + len("kms:") + LONGEST["AWS::Region"] + 1 + 12 + len(":key/mrk-") + 36


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
