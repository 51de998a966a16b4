"""How long CloudFormation takes to create a stack tree, estimated from the built templates (no AWS call).

CloudFormation starts creating a resource as soon as every resource it depends on is complete: the resources
it names with ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub`` (``${Res}``, ``${Res.Attr}`` and the values of the Sub
variable map) and those in its ``DependsOn``.  Conditions, evaluated with the stack's parameter values, decide
which resources exist and which branch of an ``Fn::If`` is used.  Independent resources are created in
parallel, so the create time of a stack is the longest path through its dependency graph, each resource weighted
by how long its type takes to create (``TYPICAL_SECONDS``).  A nested stack costs its child stack's own longest
path (estimated with the parameters the parent passes) plus ``NESTED_STACK_OVERHEAD``; a StackSet costs one
stack instance's longest path plus ``STACKSET_OVERHEAD``; a custom resource costs ``CUSTOM_RESOURCE_SECONDS``.

The weights are a model for comparing designs (what waits for what), not a measurement: real times vary by
region, account and day.

    from templates_src.estimate import estimate
    result = estimate(build_selected(None, BuildContext(config)), "env-main", {"CreateNATGateways": "NO"})
    result.seconds, result.path       # total, and the critical path [(template, logical id, type, seconds)]

``scripts/estimate_creation_time.py`` prints the same from the command line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Typical seconds CloudFormation takes to create one resource of each type, from the resource's create call to
# CREATE_COMPLETE: typical observed values, rounded.  This is a model to compare designs under the same
# assumptions, not a measurement of any deployment.
TYPICAL_SECONDS: dict[str, int] = {
    # bookkeeping resources: one quick API call
    "AWS::SSM::Parameter": 3,
    "AWS::Logs::LogGroup": 3,
    "AWS::ResourceGroups::Group": 3,
    "AWS::Events::Rule": 4,
    # network
    "AWS::EC2::VPC": 12,
    "AWS::EC2::Subnet": 6,
    "AWS::EC2::RouteTable": 4,
    "AWS::EC2::Route": 4,
    "AWS::EC2::SubnetRouteTableAssociation": 3,
    "AWS::EC2::SecurityGroup": 6,
    "AWS::EC2::SecurityGroupIngress": 3,
    "AWS::EC2::SecurityGroupEgress": 3,
    "AWS::EC2::InternetGateway": 12,
    "AWS::EC2::VPCGatewayAttachment": 16,
    "AWS::EC2::EIP": 4,
    "AWS::EC2::NatGateway": 110,  # waits until the gateway is available
    "AWS::EC2::VPCEndpoint": 100,  # an interface endpoint: network interfaces and private DNS (gateway: below)
    "AWS::EC2::FlowLog": 8,
    # identity and keys (CloudFormation waits for IAM's propagation)
    "AWS::IAM::Role": 14,
    "AWS::IAM::ManagedPolicy": 9,
    "AWS::IAM::Policy": 16,
    "AWS::IAM::InstanceProfile": 120,
    "AWS::KMS::Key": 14,
    "AWS::KMS::Alias": 3,
    # storage
    "AWS::S3::Bucket": 6,
    "AWS::S3::BucketPolicy": 3,
    "AWS::EFS::FileSystem": 12,
    "AWS::EFS::MountTarget": 85,
    # code and delivery
    "AWS::Lambda::Function": 8,  # outside a VPC (in a VPC: below)
    "AWS::Lambda::Permission": 3,
    "AWS::CodeCommit::Repository": 5,
    "AWS::CodeBuild::Project": 4,
    "AWS::CodePipeline::Pipeline": 6,
    # Service Catalog
    "AWS::ServiceCatalog::Portfolio": 4,
    "AWS::ServiceCatalog::CloudFormationProduct": 12,
    "AWS::ServiceCatalog::PortfolioProductAssociation": 5,
    "AWS::ServiceCatalog::PortfolioPrincipalAssociation": 5,
    "AWS::ServiceCatalog::LaunchRoleConstraint": 6,
    # SageMaker
    "AWS::SageMaker::Domain": 330,  # VPC-only, with its home file system, mount targets and NFS security groups
    "AWS::SageMaker::UserProfile": 25,
    "AWS::SageMaker::Space": 25,
    "AWS::SageMaker::App": 270,
    "AWS::SageMaker::Model": 4,
    "AWS::SageMaker::EndpointConfig": 3,
    "AWS::SageMaker::Endpoint": 480,  # instances provisioned and the model loaded
}
DEFAULT_SECONDS = 5  # a resource type the table does not list
# AWS::SageMaker::Domain with HomeEfsFileSystemCreation Disabled: the domain without what the home file system
# adds, in this table's own terms (a file system, its mount targets, the NFS security groups; the mount targets
# of the subnets are created in parallel).
DOMAIN_WITHOUT_HOME_SECONDS = (
    TYPICAL_SECONDS["AWS::SageMaker::Domain"]
    - TYPICAL_SECONDS["AWS::EFS::FileSystem"]
    - TYPICAL_SECONDS["AWS::EFS::MountTarget"]
    - TYPICAL_SECONDS["AWS::EC2::SecurityGroup"]
)
GATEWAY_ENDPOINT_SECONDS = 8  # AWS::EC2::VPCEndpoint of type Gateway (S3, DynamoDB): route table entries only
VPC_FUNCTION_SECONDS = 60  # AWS::Lambda::Function with a VpcConfig: its network interfaces before it is Active
CUSTOM_RESOURCE_SECONDS = 15  # a custom resource: request, the function's cold start and work, response
NESTED_STACK_OVERHEAD = 15  # a nested stack beyond its child's own path: stack creation and completion
STACKSET_OVERHEAD = 45  # a StackSet beyond one instance's path: the operation and its stack instances

# Values of the pseudo parameters while estimating (they decide no condition of the generated templates).
PSEUDO_PARAMETERS: dict[str, Any] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
    "AWS::NoValue": None,
}
# Parameter values of env-main's deployment modes the README quotes: the defaults, the internet-free mode (no NAT
# gateway: env-main's InternetFree rule then requires the interface endpoints, which their Auto defaults create in
# a new VPC), and the Studio domain with its home file system.
ENVIRONMENT_MODES: dict[str, dict[str, str]] = {
    "default": {},
    "internet-free": {"CreateNATGateways": "NO"},
    "home-file-system": {"CreateStudioHomeFileSystem": "YES"},  # the Studio home file system (EFS) kept
}
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
MAX_DEPTH = 10  # nested stacks and StackSets deeper than this: a template that contains itself


class Step(NamedTuple):
    """One resource of a critical path, with the seconds it adds (a nested stack or StackSet: its overhead,
    after its child's own steps)."""

    template: str
    logical_id: str
    type: str
    seconds: int


@dataclass
class Estimate:
    """The estimated create time of one stack (and, in ``nested``, of the stacks it creates)."""

    template: str
    parameters: dict[str, Any]  # the values the stack was estimated with (given, else defaults)
    seconds: int  # the longest path: when the last resource is complete
    path: list[Step]  # the critical path, first resource first; its seconds add up to ``seconds``
    finish: dict[str, int] = field(default_factory=dict)  # logical id -> seconds when complete (created ones)
    waits_for: dict[str, list[str]] = field(default_factory=dict)  # logical id -> the created resources it waits for
    skipped: list[str] = field(default_factory=list)  # logical ids whose condition is false
    nested: dict[str, Estimate] = field(default_factory=dict)  # nested stack / StackSet logical id -> its child


class _Unresolved(str):
    """A value known only at deployment (a resource's attribute, an import): never equal to a literal."""


def _unresolved(what: str) -> _Unresolved:
    return _Unresolved("{{" + what + "}}")


_SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")


class _Stack:
    """One stack: its template and parameter values; evaluates conditions and values, finds dependencies."""

    def __init__(self, name: str, template: dict, given: Mapping[str, Any]):
        self.name = name
        self.template = template
        self.resources: dict[str, dict] = template.get("Resources") or {}
        declared = template.get("Parameters") or {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ValueError(f"{name}: no parameter {', '.join(unknown)} among its {len(declared)} parameters")
        self.values: dict[str, Any] = {**PSEUDO_PARAMETERS, "AWS::StackName": name}
        for key, spec in declared.items():
            value = given.get(key, spec.get("Default", ""))
            kind = spec.get("Type", "String")
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                if not isinstance(value, list):
                    value = [v.strip() for v in str(value).split(",")] if str(value) != "" else []
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            self.values[key] = value
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- conditions ---------------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise ValueError(f"{self.name}: no condition {name!r}")
            if name in self._evaluating:
                raise ValueError(f"{self.name}: condition {name!r} refers to itself")
            self._evaluating.add(name)
            self._conditions[name] = bool(self.value(conditions[name]))
            self._evaluating.discard(name)
        return self._conditions[name]

    def exists(self, logical_id: str) -> bool:
        name = self.resources[logical_id].get("Condition")
        return name is None or self.condition(name)

    # -- values -------------------------------------------------------------------------------------------------
    def value(self, expr: Any) -> Any:
        """The value of ``expr`` (condition functions give booleans); what only a deployment knows is
        ``_Unresolved``."""
        if isinstance(expr, list):
            return [self.value(x) for x in expr]
        if not (isinstance(expr, dict) and len(expr) == 1):
            return expr
        ((key, arg),) = expr.items()
        if key == "Ref":
            if arg in self.values:
                return self.values[arg]
            return _unresolved(arg)  # a resource's id
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (_text(self.value(x)) for x in arg)
            return left == right
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(x) for x in arg)
        if key == "Fn::Or":
            return any(self.value(x) for x in arg)
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.value(when_true if self.condition(name) else when_false)
        if key == "Fn::Join":
            separator, items = arg
            items = self.value(items)
            if not isinstance(items, list):
                return _unresolved(f"Join:{items}")
            return separator.join(_text(i) for i in items if i is not None)
        if key == "Fn::Split":
            separator, text = arg
            text = self.value(text)
            return _text(text).split(separator) if not isinstance(text, _Unresolved) else [text]
        if key == "Fn::Select":
            index, items = (self.value(x) for x in arg)
            try:
                return items[int(index)]
            except (IndexError, TypeError, ValueError):
                return _unresolved(f"Select:{index}")
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::FindInMap":
            name, first, second = (self.value(x) for x in arg[:3])
            try:
                return (self.template.get("Mappings") or {})[name][first][second]
            except (KeyError, TypeError):
                return _unresolved(f"FindInMap:{name}")
        if key == "Fn::Contains":
            items, item = (self.value(x) for x in arg)
            return isinstance(items, list) and _text(item) in [_text(i) for i in items]
        if key == "Fn::GetAtt":
            return _unresolved(arg if isinstance(arg, str) else ".".join(map(str, arg)))
        return _unresolved(key)  # Fn::ImportValue, Fn::GetAZs, Fn::Cidr, ...: known at deployment only

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] or {})

        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return _text(self.value(variables[name]))
            if name in self.values:
                return _text(self.values[name])
            return _unresolved(name)

        return _SUB_NAME.sub(one, text).replace("${!", "${")

    # -- dependencies -------------------------------------------------------------------------------------------
    def references(self, expr: Any) -> set[str]:
        """Names ``expr`` refers to (Ref, GetAtt, Sub), following only the branch of each Fn::If its condition
        chooses."""
        if isinstance(expr, list):
            return set().union(*(self.references(x) for x in expr))
        if not isinstance(expr, dict):
            return set()
        if len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                return {arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]}
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] or {})
                named = {m.group(1).split(".", 1)[0].strip() for m in _SUB_NAME.finditer(text)}
                return (named - set(variables)) | self.references(list(variables.values()))
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.references(when_true if self.condition(name) else when_false)
        return set().union(*(self.references(v) for v in expr.values()))

    def dependencies(self, logical_id: str) -> list[str]:
        """The created resources ``logical_id`` waits for, in template order."""
        resource = self.resources[logical_id]
        names = self.references(resource.get("Properties") or {})
        depends_on = resource.get("DependsOn") or []
        names |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
        return [r for r in self.resources if r in names and r != logical_id and self.exists(r)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def child_template(url: Any) -> str:
    """The template name a TemplateURL names (``env-iam.yaml``, ``.../templates/env-iam/<hash>.yaml``: the file
    name without its suffix)."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"TemplateURL {url!r} names no template")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    for suffix in TEMPLATE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def resource_seconds(resource_type: str, properties: Mapping[str, Any] | None = None) -> int:
    """The model's seconds for one resource that is neither a nested stack nor a StackSet (``properties``
    with their values resolved)."""
    properties = properties or {}
    if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
        return CUSTOM_RESOURCE_SECONDS
    if resource_type == "AWS::EC2::VPCEndpoint" and properties.get("VpcEndpointType", "Gateway") == "Gateway":
        return GATEWAY_ENDPOINT_SECONDS
    if resource_type == "AWS::Lambda::Function" and properties.get("VpcConfig"):
        return VPC_FUNCTION_SECONDS
    if resource_type == "AWS::SageMaker::Domain" and properties.get("HomeEfsFileSystemCreation") == "Disabled":
        return DOMAIN_WITHOUT_HOME_SECONDS
    return TYPICAL_SECONDS.get(resource_type, DEFAULT_SECONDS)


def _as_template(template: Any) -> dict:
    return template.to_dict() if hasattr(template, "to_dict") else template


def _passed_parameters(stack: _Stack, resource: dict) -> dict[str, Any]:
    """The parameter values a nested stack or StackSet resource gives its child (AWS::NoValue: not given)."""
    properties = resource.get("Properties") or {}
    raw = properties.get("Parameters") or {}
    if isinstance(raw, list):  # StackSet: [{ParameterKey, ParameterValue}]
        raw = {p["ParameterKey"]: p.get("ParameterValue") for p in raw}
    passed = {}
    for key, expr in raw.items():
        value = stack.value(expr)
        if value is not None:
            passed[key] = value if isinstance(value, list) else _text(value)
    return passed


def estimate(templates: Mapping[str, Any], root: str, parameters: Mapping[str, Any] | None = None) -> Estimate:
    """The estimated create time of ``root`` (a name in ``templates``: name -> template dict or troposphere
    Template) with ``parameters`` (the template's defaults for the others), nested stacks and StackSets included.
    """
    return _estimate({name: _as_template(t) for name, t in templates.items()}, root, dict(parameters or {}), ())


def _estimate(templates: dict[str, dict], name: str, given: dict[str, Any], parents: tuple[str, ...]) -> Estimate:
    if name not in templates:
        where = f" (created by {parents[-1]})" if parents else ""
        raise ValueError(f"template {name!r}{where} is not among the built templates")
    if len(parents) >= MAX_DEPTH:
        raise ValueError(f"stacks nested more than {MAX_DEPTH} deep: {' > '.join((*parents, name))}")
    stack = _Stack(name, templates[name], given)
    result = Estimate(
        name, {k: v for k, v in stack.values.items() if k not in PSEUDO_PARAMETERS and "::" not in k}, 0, []
    )
    created = [r for r in stack.resources if stack.exists(r)]
    result.skipped = [r for r in stack.resources if r not in created]
    paths: dict[str, list[Step]] = {}
    visiting: list[str] = []

    def own(logical_id: str) -> list[Step]:
        resource = stack.resources[logical_id]
        kind = resource.get("Type", "")
        if kind in ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet"):
            properties = resource.get("Properties") or {}
            child_name = child_template(stack.value(properties.get("TemplateURL")))
            child = _estimate(templates, child_name, _passed_parameters(stack, resource), (*parents, name))
            result.nested[logical_id] = child
            overhead = NESTED_STACK_OVERHEAD if kind.endswith("::Stack") else STACKSET_OVERHEAD
            return [*child.path, Step(name, logical_id, kind, overhead)]
        properties = {key: stack.value(value) for key, value in (resource.get("Properties") or {}).items()}
        return [Step(name, logical_id, kind, resource_seconds(kind, properties))]

    def finish(logical_id: str) -> int:
        if logical_id in result.finish:
            return result.finish[logical_id]
        if logical_id in visiting:
            cycle = visiting[visiting.index(logical_id) :] + [logical_id]
            raise ValueError(f"{name}: circular dependency {' -> '.join(cycle)}")
        visiting.append(logical_id)
        start, before = 0, []
        result.waits_for[logical_id] = stack.dependencies(logical_id)
        for dependency in result.waits_for[logical_id]:
            if finish(dependency) > start:
                start, before = result.finish[dependency], paths[dependency]
        visiting.pop()
        steps = own(logical_id)
        paths[logical_id] = before + steps
        result.finish[logical_id] = start + sum(s.seconds for s in steps)
        return result.finish[logical_id]

    for logical_id in created:
        finish(logical_id)
    result.finish = {r: result.finish[r] for r in created}  # template order
    result.waits_for = {r: result.waits_for[r] for r in created}
    if created:
        last = max(created, key=lambda r: result.finish[r])  # the first of the latest, in template order
        result.seconds, result.path = result.finish[last], paths[last]
    return result


def describe(result: Estimate) -> str:
    """``result`` as text: the total, then the critical path, one resource a line with the time it completes."""
    lines = [f"{result.template}: {result.seconds} s ({minutes(result.seconds)}), critical path:"]
    elapsed = 0
    for step in result.path:
        elapsed += step.seconds
        lines.append(f"  {elapsed:>5} s  +{step.seconds:<4} {step.template}  {step.logical_id}  ({step.type})")
    return "\n".join(lines)


def summary(result: Estimate) -> str:
    """The critical path in one line (Markdown): the templates it runs through, in order, and its longest step."""
    stacks = ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet")
    through: list[str] = []
    for step in result.path:
        if step.type not in stacks and (not through or through[-1] != step.template):
            through.append(step.template)
    if not through:
        return "no resource is created"
    longest = max((s for s in result.path if s.type not in stacks), key=lambda s: s.seconds)
    return (
        f"{' → '.join(f'`{t}`' for t in through)}, the longest step `{longest.logical_id}` "
        f"({longest.type}, {longest.seconds} s)"
    )


def minutes(seconds: int) -> str:
    """``505`` -> ``8 min 25 s``."""
    return f"{seconds // 60} min {seconds % 60:02d} s"


def environment_estimates(templates: Mapping[str, Any], root: str = "env-main") -> dict[str, Estimate]:
    """``root``'s estimate in each of ``ENVIRONMENT_MODES`` (the README's figures)."""
    return {mode: estimate(templates, root, values) for mode, values in ENVIRONMENT_MODES.items()}
