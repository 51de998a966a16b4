"""Policy documents checked against the size limits AWS enforces at deployment, with worst-case values.

A policy document in a template is JSON with CloudFormation functions in it; its deployed size depends on what
those functions return.  Each function is bounded by the longest value it can take: a parameter by its
MaxLength (or its longest AllowedValue), a pseudo parameter by the longest value AWS has (region, partition,
URL suffix), a resource's name or ARN by what AWS allows for it, a nested stack's output by the worst case of
its value in the child with the values the parent passes, ``Fn::If`` by its longer branch.  A document that
could exceed its limit fails the generation with one line naming the template, the resource and the
configuration field that makes it long (``ConfigError``, exit 2), before anything is written; one that needs an
adjustable IAM quota raised gets a warning.

Limits (IAM counts characters without white space; KMS, S3 and VPC endpoints count the whole document):

* a role's trust policy: 2,048 characters by default, at most 4,096 with the quota "Role trust policy length"
  raised;
* the inline policies of a role together: 10,240 characters (``Policies`` and every ``AWS::IAM::Policy`` /
  ``AWS::IAM::RolePolicy`` of the template attached to it);
* a customer managed policy: 6,144 characters;
* managed policies attached to a role: 10 by default, at most 20 with the quota raised;
* a KMS key policy: 32,768 bytes; an S3 bucket policy: 20,480 bytes; a VPC endpoint policy: 20,480 characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from templates_src.blocks.iam import INLINE_POLICIES_LIMIT, MANAGED_POLICY_LIMIT
from templates_src.parameter_spec import IAM_PATH_MAX, LONGEST

TRUST_POLICY_DEFAULT = 2048
TRUST_POLICY_MAX = 4096
ROLE_INLINE_POLICIES = INLINE_POLICIES_LIMIT
MANAGED_POLICY = MANAGED_POLICY_LIMIT
MANAGED_POLICIES_PER_ROLE_DEFAULT = 10
MANAGED_POLICIES_PER_ROLE_MAX = 20
RESOURCE_POLICIES = {  # type -> (property, limit, unit)
    "AWS::KMS::Key": ("KeyPolicy", 32768, "bytes"),
    "AWS::S3::BucketPolicy": ("PolicyDocument", 20480, "bytes"),
    "AWS::EC2::VPCEndpoint": ("PolicyDocument", 20480, "characters"),
}

# Lengths AWS allows (IAM: role names 64, paths 512, policy names 128).
ROLE_NAME, POLICY_NAME, BUCKET_NAME, KEY_ID = 64, 128, 63, 36
STACK_NAME, UUID = 128, 36
ACCOUNT_LIST_ITEM = re.compile(r"\\d\{12\}\(,\\d\{12\}\)\*")  # blocks.target_accounts.ACCOUNT_LIST


def pseudo_length(name: str) -> int | None:
    if name in LONGEST:
        return LONGEST[name]
    return {
        "AWS::StackName": STACK_NAME,
        "AWS::StackId": (
            len("arn::cloudformation:::stack//")
            + LONGEST["AWS::Partition"]
            + LONGEST["AWS::Region"]
            + LONGEST["AWS::AccountId"]
            + STACK_NAME
            + UUID
        ),
    }.get(name)


def arn_length(service: str, resource: int, regional: bool = True, account: bool = True) -> int:
    return (
        len(f"arn::{service}:::")
        + LONGEST["AWS::Partition"]
        + resource
        + (LONGEST["AWS::Region"] if regional else 0)
        + (LONGEST["AWS::AccountId"] if account else 0)
    )


class Unbounded(Exception):
    """A value whose longest form this module cannot tell (a defect to fix here or in the template)."""


@dataclass
class Scope:
    """One template, with the worst-case lengths its parent passes to its parameters (nested stacks)."""

    name: str
    template: dict
    templates: dict[str, dict]
    passed: dict[str, int | None]

    def parameter(self, name: str) -> int:
        spec = self.template["Parameters"][name]
        own = None
        if spec.get("AllowedValues"):
            own = max(len(str(v)) for v in spec["AllowedValues"])
        elif "MaxLength" in spec:
            own = int(spec["MaxLength"])
        elif spec.get("Type") in ID_TYPES:
            own = ID_TYPES[spec["Type"]]
        given = self.passed.get(name)
        bounds = [b for b in (own, given) if b is not None]
        if not bounds:
            raise Unbounded(f"{self.name}: parameter {name} has no MaxLength")
        return min(bounds)

    def account_list(self, node) -> tuple[int, int] | None:
        """(most items, item length) when ``node`` is a Ref to a parameter holding 12-digit account ids."""
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in (self.template.get("Parameters") or {}):
            spec = self.template["Parameters"][node["Ref"]]
            if ACCOUNT_LIST_ITEM.search(spec.get("AllowedPattern", "")):
                return (self.parameter(node["Ref"]) + 1) // 13, 12
        return None


ID_TYPES = {"AWS::EC2::VPC::Id": 21, "AWS::EC2::Subnet::Id": 24, "AWS::EC2::SecurityGroup::Id": 20}
# List parameters of ids have no length constraint in CloudFormation; the templates' lists reach a SageMaker
# domain's VpcConfig (and Lambda's), whose APIs take at most 16 subnets and 5 security groups.
# Such lists are typed (List<AWS::EC2::Subnet::Id>) or comma-delimited with an AllowedPattern per item.
LIST_ITEMS = {"subnet": (16, ID_TYPES["AWS::EC2::Subnet::Id"]), "sg": (5, ID_TYPES["AWS::EC2::SecurityGroup::Id"])}
_LIST_KIND = {"List<AWS::EC2::Subnet::Id>": "subnet", "List<AWS::EC2::SecurityGroup::Id>": "sg"}


def _resource_length(scope: Scope, logical_id: str, attribute: str | None) -> int:
    resource = scope.template["Resources"][logical_id]
    kind, props = resource["Type"], resource.get("Properties") or {}

    def prop(name: str, default: int) -> int:
        return length(props[name], scope) if name in props else default

    if kind == "AWS::CloudFormation::Stack" and attribute and attribute.startswith("Outputs."):
        return _child_output(scope, logical_id, attribute[len("Outputs.") :])
    if kind == "AWS::IAM::Role":
        name = prop("RoleName", ROLE_NAME)
        if attribute is None:
            return name
        if attribute == "Arn":
            return arn_length("iam", len("role") + prop("Path", 1) + name, regional=False)
        if attribute == "RoleId":
            return 128
    if kind == "AWS::IAM::ManagedPolicy" and attribute in (None, "PolicyArn"):
        return arn_length(
            "iam", len("policy") + prop("Path", 1) + prop("ManagedPolicyName", POLICY_NAME), regional=False
        )
    if kind == "AWS::S3::Bucket":
        name = prop("BucketName", BUCKET_NAME)
        if attribute is None:
            return name
        if attribute == "Arn":
            return arn_length("s3", name, regional=False, account=False)
    if kind == "AWS::KMS::Key":
        if attribute is None or attribute == "KeyId":
            return KEY_ID
        if attribute == "Arn":
            return arn_length("kms", len("key/") + KEY_ID)
    if kind == "AWS::CodeBuild::Project" and attribute == "Arn":
        return arn_length("codebuild", len("project/") + prop("Name", 255))
    if kind in ("AWS::EC2::Subnet", "AWS::EC2::VPC", "AWS::EC2::SecurityGroup", "AWS::EC2::VPCEndpoint"):
        if attribute in (None, "GroupId", "SubnetId", "VpcId", "Id"):
            return len("vpce-") + 17
    if kind == "AWS::SageMaker::Domain" and attribute in (None, "DomainId"):
        return 63  # SageMaker's DomainId limit
    if (kind, attribute) in CUSTOM_ATTRIBUTES:
        return CUSTOM_ATTRIBUTES[(kind, attribute)]()
    raise Unbounded(
        f"{scope.name}: the longest value of {kind} {logical_id}"
        + (f".{attribute}" if attribute else "")
        + " is not known to templates_src.document_limits"
    )


# Attributes our own custom resources return (templates_src.functions), bounded like the values they are.
CUSTOM_ATTRIBUTES = {
    ("Custom::GetEnvironmentConfiguration", "ProjectRoleArn"): lambda: arn_length(
        "iam", len("role") + IAM_PATH_MAX + ROLE_NAME, regional=False
    ),
}


def _child(scope: Scope, logical_id: str) -> tuple[dict, Scope]:
    """The template a nested stack runs and its scope: its parameters bounded by what the parent passes."""
    from templates_src import references

    resource = scope.template["Resources"][logical_id]
    stem = next(
        (r.stem for r in references.iter_references({"Resources": {logical_id: resource}}) if r.kind == "nested-stack"),
        None,
    )
    if stem not in scope.templates:
        raise Unbounded(f"{scope.name}: {logical_id} nests a template this generation does not build")
    child = scope.templates[stem]
    passed = {}
    for name, value in ((resource.get("Properties") or {}).get("Parameters") or {}).items():
        try:
            passed[name] = length(value, scope)
        except Unbounded:
            passed[name] = None
    return child, Scope(stem, child, scope.templates, passed)


def _child_output(scope: Scope, logical_id: str, output: str) -> int:
    child, child_scope = _child(scope, logical_id)
    return length(child["Outputs"][output]["Value"], child_scope)


_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")


def length(node, scope: Scope) -> int:
    """The longest string ``node`` (a literal or a function returning a string) can be."""
    if isinstance(node, str):
        return len(node)
    if isinstance(node, bool):
        return len(json.dumps(node))
    if isinstance(node, (int, float)):
        return len(str(node))
    if not (isinstance(node, dict) and len(node) == 1):
        raise Unbounded(f"{scope.name}: {json.dumps(node)[:80]} is not a string")
    ((fn, args),) = node.items()
    if fn == "Ref":
        return _ref_length(args, scope)
    if fn == "Fn::GetAtt":
        logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
        return _resource_length(scope, logical_id, attribute)
    if fn == "Fn::Sub":
        text, local = (args, {}) if isinstance(args, str) else (args[0], args[1])
        total = len(_SUB_VAR.sub("", text))
        for var in _SUB_VAR.findall(text):
            if var in local:
                total += length(local[var], scope)
            elif "." in var and var.split(".", 1)[0] in scope.template["Resources"]:
                total += _resource_length(scope, *var.split(".", 1))
            else:
                total += _ref_length(var, scope)
        return total
    if fn == "Fn::Join":
        separator, items = args
        shape = _list_shape(items, scope)
        return shape.total + max(shape.count - 1, 0) * len(separator)
    if fn == "Fn::If":
        return max(_branch_length(branch, scope) for branch in args[1:])
    if fn == "Fn::Select":
        return _list_shape(args[1], scope).longest
    if fn == "Fn::FindInMap":
        mapping = scope.template["Mappings"][args[0]]
        return max(length(v, scope) for top in mapping.values() for v in top.values())
    raise Unbounded(f"{scope.name}: cannot bound {fn}")


def _branch_length(node, scope: Scope) -> int:
    return 0 if node == {"Ref": "AWS::NoValue"} else length(node, scope)


def _ref_length(name: str, scope: Scope) -> int:
    if name.startswith("AWS::"):
        value = pseudo_length(name)
        if value is None:
            raise Unbounded(f"{scope.name}: cannot bound {name}")
        return value
    if name in (scope.template.get("Parameters") or {}):
        return scope.parameter(name)
    return _resource_length(scope, name, None)


@dataclass(frozen=True)
class Shape:
    """The worst case of a list of strings: most items, most characters in all items, longest item."""

    count: int
    total: int
    longest: int

    def json_size(self) -> int:
        return 2 + self.total + 2 * self.count + max(self.count - 1, 0)

    @staticmethod
    def worst(shapes: list["Shape"]) -> "Shape":
        return Shape(max(s.count for s in shapes), max(s.total for s in shapes), max(s.longest for s in shapes))


def _list_shape(node, scope: Scope) -> Shape:
    """The worst case of a list: literal, or a function returning one."""
    if isinstance(node, list):
        lengths = [length(n, scope) for n in node if n != {"Ref": "AWS::NoValue"}]
        return Shape(len(lengths), sum(lengths), max(lengths, default=0))
    if isinstance(node, dict) and len(node) == 1:
        ((fn, args),) = node.items()
        if fn == "Fn::Split":
            return _split_shape(args[1], args[0], scope)
        if fn == "Ref" and _is_list_parameter(args, scope):
            return _list_parameter(args, scope)
        if fn == "Fn::If":
            return Shape.worst([_list_shape(branch, scope) for branch in args[1:]])
    raise Unbounded(f"{scope.name}: {json.dumps(node)[:80]} is not a list this module can bound")


def _split_shape(value, separator: str, scope: Scope) -> Shape:
    """``Fn::Split`` of ``value``: the items a Fn::Join with the same separator made (followed through Fn::If
    and nested stack outputs), an account-id list parameter's ids, or else any string of bounded length."""
    if isinstance(value, dict) and len(value) == 1:
        ((fn, args),) = value.items()
        if fn == "Fn::Join" and args[0] == separator:
            items = args[1]
            if not isinstance(items, list):
                return _list_shape(items, scope)
            shapes = [_split_shape(item, separator, scope) for item in items if item != {"Ref": "AWS::NoValue"}]
            return Shape(
                sum(s.count for s in shapes), sum(s.total for s in shapes), max((s.longest for s in shapes), default=0)
            )
        if fn == "Fn::If":
            return Shape.worst(
                [_split_shape(branch, separator, scope) for branch in args[1:] if branch != {"Ref": "AWS::NoValue"}]
            )
        if fn == "Fn::GetAtt":
            logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
            if attribute.startswith("Outputs."):
                child, child_scope = _child(scope, logical_id)
                return _split_shape(child["Outputs"][attribute[len("Outputs.") :]]["Value"], separator, child_scope)
        if fn == "Ref" and separator == ",":
            accounts = scope.account_list(value)
            if accounts:
                return Shape(accounts[0], accounts[0] * accounts[1], accounts[1])
            if _is_list_parameter(args, scope):
                return _list_parameter(args, scope)
    most = length(value, scope)
    if isinstance(value, str) or not separator:
        parts = value.split(separator) if isinstance(value, str) and separator else [value]
        return Shape(len(parts), most - (len(parts) - 1) * len(separator), most)
    # n items hold at most most - (n - 1) * len(separator) characters: the JSON is largest with the most items
    count = most // len(separator) + 1
    return Shape(count, most - (count - 1) * len(separator), most)


def size(node, scope: Scope, whitespace: bool = True) -> int:
    """The longest compact JSON ``node`` can render to; without the white space in its strings unless
    ``whitespace`` (IAM does not count white space)."""
    if isinstance(node, dict) and len(node) == 1 and (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
        fn, args = next(iter(node.items()))
        if fn == "Fn::If":
            return max(0 if b == {"Ref": "AWS::NoValue"} else size(b, scope, whitespace) for b in args[1:])
        if fn == "Fn::Split" or (fn == "Ref" and _is_list_parameter(args, scope)):
            return _list_shape(node, scope).json_size()
        return length(node, scope) + 2
    if isinstance(node, dict):
        entries = [
            size(k, scope, whitespace) + 1 + size(v, scope, whitespace)
            for k, v in node.items()
            if v != {"Ref": "AWS::NoValue"}
        ]
        return 2 + sum(entries) + max(len(entries) - 1, 0)
    if isinstance(node, list):
        items = [size(v, scope, whitespace) for v in node if v != {"Ref": "AWS::NoValue"}]
        return 2 + sum(items) + max(len(items) - 1, 0)
    text = json.dumps(node)
    return len(text) if whitespace else len(text) - sum(c.isspace() for c in text)


def _is_list_parameter(name: str, scope: Scope) -> bool:
    spec = (scope.template.get("Parameters") or {}).get(name)
    return bool(spec) and (spec.get("Type", "").startswith("List<") or spec.get("Type") == "CommaDelimitedList")


_ID_PATTERN = re.compile(r"^[(^]*([a-z]+)-")


def _list_parameter(name: str, scope: Scope) -> Shape:
    spec = scope.template["Parameters"][name]
    kind = _LIST_KIND.get(spec.get("Type"))
    if kind is None and _ID_PATTERN.match(spec.get("AllowedPattern", "")):
        kind = _ID_PATTERN.match(spec["AllowedPattern"]).group(1)
    if "MaxLength" not in spec and kind in LIST_ITEMS:
        count, item = LIST_ITEMS[kind]
        return Shape(count, count * item, item)
    most = scope.parameter(name)
    return Shape(most // 2 + 1, most // 2 + 1, most)


# -- the documents of a template ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One document (or count) measured at its worst case, with AWS's limit and, for adjustable IAM quotas, the
    default quota."""

    template: str
    resource: str
    what: str  # e.g. "trust policy"
    size: int
    limit: int
    unit: str
    quota: int | None = None

    @property
    def fatal(self) -> bool:
        return self.size > self.limit

    @property
    def over(self) -> bool:
        return self.size > (self.quota or self.limit)

    def line(self) -> str:
        if self.fatal:
            return (
                f"the {self.what} of {self.resource} ({self.template}) can reach {self.size:,} {self.unit} with "
                f"the longest values its parameters and names allow; AWS accepts at most {self.limit:,}"
            )
        return (
            f"the {self.what} of {self.resource} ({self.template}) can reach {self.size:,} {self.unit}, over "
            f"IAM's default quota of {self.quota:,} (at most {self.limit:,} when raised): it deploys only in "
            "accounts where that quota was raised"
        )


def findings(templates: dict[str, dict], everything: bool = False) -> Iterator[Finding]:
    """The documents over a limit or default quota (every document measured, with ``everything``)."""
    for measured in measure(templates):
        if everything or measured.over:
            yield measured


_RESOURCE_POLICY_NAMES = {
    "AWS::KMS::Key": "key policy",
    "AWS::S3::BucketPolicy": "bucket policy",
    "AWS::EC2::VPCEndpoint": "endpoint policy",
}


def measure(templates: dict[str, dict]) -> Iterator[Finding]:
    for name, template in templates.items():
        scope = Scope(name, template, templates, {})
        resources = template.get("Resources") or {}
        for logical_id, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties") or {}
            if kind == "AWS::IAM::Role":
                yield from _role(scope, logical_id, props, resources)
            elif kind == "AWS::IAM::ManagedPolicy":
                yield Finding(
                    name,
                    logical_id,
                    "managed policy",
                    size(props["PolicyDocument"], scope, False),
                    MANAGED_POLICY,
                    "characters",
                )
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy") and not _attached_here(props, resources):
                yield Finding(
                    name,
                    logical_id,
                    "inline policy",
                    size(props["PolicyDocument"], scope, False),
                    ROLE_INLINE_POLICIES,
                    "characters",
                )
            elif kind in RESOURCE_POLICIES and RESOURCE_POLICIES[kind][0] in props:
                prop, limit, unit = RESOURCE_POLICIES[kind]
                yield Finding(name, logical_id, _RESOURCE_POLICY_NAMES[kind], size(props[prop], scope), limit, unit)


def _roles_of(props: dict) -> list:
    return props.get("Roles") or ([props["RoleName"]] if "RoleName" in props else [])


def _attached_here(props: dict, resources: dict) -> bool:
    return any(_refs_to(r, logical_id) for r in _roles_of(props) for logical_id in resources)


def _refs_to(node, logical_id: str) -> bool:
    return node == {"Ref": logical_id} or (
        isinstance(node, dict)
        and len(node) == 1
        and next(iter(node)) == "Fn::If"
        and any(_refs_to(b, logical_id) for b in node["Fn::If"][1:])
    )


def _role(scope: Scope, logical_id: str, props: dict, resources: dict) -> Iterator[Finding]:
    name = scope.name
    yield Finding(
        name,
        logical_id,
        "trust policy",
        size(props["AssumeRolePolicyDocument"], scope, False),
        TRUST_POLICY_MAX,
        "characters",
        TRUST_POLICY_DEFAULT,
    )
    inline = sum(size(p["PolicyDocument"], scope, False) for p in props.get("Policies") or [])
    attached = _list_shape(props["ManagedPolicyArns"], scope).count if props.get("ManagedPolicyArns") else 0
    for other in resources.values():
        other_props = other.get("Properties") or {}
        if not any(_refs_to(r, logical_id) for r in _roles_of(other_props)):
            continue
        if other["Type"] in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy"):
            inline += size(other_props["PolicyDocument"], scope, False)
        elif other["Type"] == "AWS::IAM::ManagedPolicy":
            attached += 1
    yield Finding(name, logical_id, "inline policies", inline, ROLE_INLINE_POLICIES, "characters")
    yield Finding(
        name,
        logical_id,
        "managed policies",
        attached,
        MANAGED_POLICIES_PER_ROLE_MAX,
        "attached",
        MANAGED_POLICIES_PER_ROLE_DEFAULT,
    )
