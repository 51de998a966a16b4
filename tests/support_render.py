"""Offline rendering of generated templates with cloud-radar: parameters, conditions and intrinsic functions
evaluated as CloudFormation would, for scenario tests ("with these parameters, which resources exist and how are
they configured").

cloud-radar 0.17 evaluates both branches of ``Fn::If`` before choosing one, so a branch CloudFormation never
evaluates (``Fn::Select [1, ...]`` on a list that is empty unless its condition holds) fails the rendering.
``render`` evaluates ``Fn::If`` lazily, as CloudFormation does; everything else is cloud-radar's (its copies of the
template through YAML made with libyaml, which is faster and gives the same copy).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
from typing import Any

import yaml
from cloud_radar.cf.unit import Template as _Template
from cloud_radar.cf.unit import _template as _template_module
from cloud_radar.cf.unit import functions

ACCOUNT = "123456789012"
REGION = "us-east-1"


_resolve = _Template.resolve_values


def _lazy_if(self, data: Any) -> Any:
    if isinstance(data, dict) and set(data) == {"Fn::If"}:
        name, when_true, when_false = data["Fn::If"]
        chosen = when_true if self.template["Conditions"][name] else when_false
        return _resolve(self, copy.deepcopy(chosen))
    return _resolve(self, data)


# Installed for every rendering in the test process (cloud-radar's transform step creates new Template objects).
_Template.resolve_values = _lazy_if
_Template.AccountId = ACCOUNT
# cloud-radar downloads the region list for Fn::GetAZs; tests never reach the internet: six zones a-f.
functions.get_region_azs = lambda region: [f"{region}{zone}" for zone in "abcdef"]


class _LibYaml:
    """cloud-radar copies every template it renders through YAML (``yaml.dump`` on creation, ``yaml.load`` with the
    FullLoader on each rendering): most of a rendering's time in pure-Python PyYAML.  The same copy with
    libyaml's C emitter and parser (same representer and constructors; PyYAML's wheels carry libyaml), for every
    use of cloud-radar in the test process (tests/conftest.py imports this module)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    @staticmethod
    def dump(data: Any, **kwargs: Any) -> str:
        return yaml.dump(data, Dumper=yaml.CDumper, **kwargs)

    @staticmethod
    def load(stream: Any, Loader: Any = None) -> Any:  # noqa: N803 (PyYAML's own name)
        return yaml.load(stream, Loader=yaml.CFullLoader if Loader is yaml.FullLoader else Loader)


if yaml.__with_libyaml__:
    _template_module.yaml = _LibYaml()


# Physical ids offline: well-formed fakes per resource type (what Ref and GetAtt return), so values that flow
# into AWS-typed or pattern-checked parameters of other templates validate as the real ones would.
_ID_PREFIX = {
    "AWS::EC2::VPC": "vpc-",
    "AWS::EC2::Subnet": "subnet-",
    "AWS::EC2::SecurityGroup": "sg-",
    "AWS::EC2::RouteTable": "rtb-",
    "AWS::EC2::VPCEndpoint": "vpce-",
    "AWS::EC2::NatGateway": "nat-",
    "AWS::EC2::InternetGateway": "igw-",
}


def _hex(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _identity(logical_id: str, resource: dict, region: str) -> dict:
    kind = resource["Type"]
    service = kind.split("::")[1].lower()
    uuid = (
        f"{_hex(logical_id, 8)}-{_hex(logical_id + '1', 4)}-{_hex(logical_id + '2', 4)}-"
        f"{_hex(logical_id + '3', 4)}-{_hex(logical_id + '4', 12)}"
    )
    if kind in _ID_PREFIX:
        ref = _ID_PREFIX[kind] + _hex(logical_id, 17)
    elif kind == "AWS::KMS::Key":
        ref = uuid
    elif kind == "AWS::IAM::ManagedPolicy":
        ref = f"arn:aws:iam::{ACCOUNT}:policy/{logical_id}"
    else:
        ref = logical_id
    arns = {
        "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{logical_id}",
        "AWS::KMS::Key": f"arn:aws:kms:{region}:{ACCOUNT}:key/{uuid}",
        "AWS::S3::Bucket": f"arn:aws:s3:::{logical_id.lower()}",
    }
    attributes = {
        "Arn": arns.get(kind, f"arn:aws:{service}:{region}:{ACCOUNT}:{logical_id.lower()}"),
        "KeyId": uuid,
        "GroupId": ref,
        "DomainId": f"d-{_hex(logical_id, 12)}",
        "Url": f"https://d-{_hex(logical_id, 12)}.studio.{region}.sagemaker.aws",
        "HomeEfsFileSystemId": f"fs-{_hex(logical_id, 17)}",
    }
    attributes["DomainArn"] = attributes["Arn"]
    return {"ref": ref, "attribute-values": attributes}


def fake(template: dict, logical_id: str, attribute: str | None = None, region: str = REGION) -> str:
    """The physical id (``attribute`` None) or attribute value ``render`` gives a resource of ``template``."""
    identity = _identity(logical_id, template["Resources"][logical_id], region)
    return identity["ref"] if attribute is None else identity["attribute-values"][attribute]


def _get_atts(node):
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            yield tuple(target if isinstance(target, list) else target.split(".", 1))
        for value in node.values():
            yield from _get_atts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _get_atts(value)


class _CoreExports(dict):
    """The exports of the core deployment any rendered template imports, whatever its name: the platform
    boundary's ARN (env-main) and the project functions (projects: environment configuration, seed code check-in)."""

    VALUES = {
        "-platform-boundary-arn": "arn:aws:iam::{account}:policy/{core}-{region}-platform-boundary",
        "-get-environment-configuration-lambda-arn": (
            "arn:aws:lambda:{region}:{account}:function:{core}-get-environment-configuration"
        ),
        "-seed-code-checkin-lambda-arn": "arn:aws:lambda:{region}:{account}:function:{core}-seed-code-checkin",
    }

    def __init__(self, region: str):
        super().__init__()
        self.region = region

    def _value(self, name: str) -> str | None:
        for suffix, value in self.VALUES.items():
            if name.endswith(suffix):
                return value.format(account=ACCOUNT, region=self.region, core=name[: -len(suffix)])
        return None

    def __contains__(self, name) -> bool:
        return self._value(name) is not None

    def __getitem__(self, name):
        value = self._value(name)
        if value is None:
            raise KeyError(name)
        return value

    def __bool__(self) -> bool:
        return True


def boundary_arn(core: str = "sm-mlops-core", region: str = REGION) -> str:
    """The platform boundary ARN ``render`` gives env-main's import of a core's export."""
    return _CoreExports(region)[f"{core}-platform-boundary-arn"]


# Rendered stacks by (template, parameters, region): a test session renders the same child stacks with the same
# values many times (every env-main scenario renders env-kms, env-s3... as the others do).  Each caller gets its
# own copy, so a test that changes what it got changes nothing for the others.
_RENDERED: dict[str, Any] = {}


def render(template: dict, parameters: dict[str, str] | None = None, region: str = REGION) -> dict:
    """The template as CloudFormation would create it: resources of false conditions dropped, values resolved."""
    parameters = {k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in (parameters or {}).items()}
    text = json.dumps(template, sort_keys=True)
    key = hashlib.sha256(json.dumps([text, parameters, region], sort_keys=True).encode()).hexdigest()
    if key not in _RENDERED:
        _RENDERED[key] = _render(json.loads(text), parameters, region)
    return copy.deepcopy(_RENDERED[key])


def _render(template: dict, parameters: dict[str, str], region: str) -> dict:
    # A custom resource's attributes are whatever its function answers: empty here unless a test sets them.
    custom = {lid for lid, r in template.get("Resources", {}).items() if r["Type"].startswith("Custom::")}
    custom_reads = {(lid, attr) for lid, attr in _get_atts(template) if lid in custom}
    for logical_id, resource in template.get("Resources", {}).items():
        metadata = resource.setdefault("Metadata", {}).setdefault("Cloud-Radar", {})
        identity = _identity(logical_id, resource, region)
        identity["attribute-values"].update({attr: "" for lid, attr in custom_reads if lid == logical_id})
        metadata.setdefault("ref", identity["ref"])
        metadata["attribute-values"] = {**identity["attribute-values"], **metadata.get("attribute-values", {})}
    with contextlib.redirect_stdout(io.StringIO()):  # cloud-radar prints the template object
        return _Template(template, imports=_CoreExports(region)).create_stack(parameters, region=region)


def resources(stack: dict, type_: str | None = None) -> dict[str, dict]:
    return {k: v for k, v in stack["Resources"].items() if type_ is None or v["Type"] == type_}


__all__ = ["render", "resources", "functions", "ACCOUNT", "REGION"]


def _child_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def render_tree(
    templates: dict[str, dict],
    root: str,
    parameters: dict[str, str] | None = None,
    region: str = REGION,
    _depth: int = 0,
) -> dict[str, dict]:
    """Render ``root`` and every nested stack it creates under ``parameters``, like a deployment would.

    A nested stack is rendered with the parameter values its parent passes; the parent's reads of a child's
    outputs (GetAtt Child.Outputs.X) get the child's rendered output values, so values travel between
    siblings as in CloudFormation.  Returns {"root": stack, "root/Child": stack, ...}.
    """
    template = json.loads(json.dumps(templates[root]))
    nested = {lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"}
    done: dict[str, dict] = {}
    for _ in range(len(nested) + 1):
        stack = render(template, parameters, region)
        progressed = False
        for lid in sorted(nested - set(done)):
            resource = stack["Resources"].get(lid)
            if resource is None:  # condition false: not created
                nested.discard(lid)
                continue
            values = resource["Properties"].get("Parameters", {})
            if any(isinstance(v, str) and ".Outputs." in v for v in values.values()):
                continue  # waits for a sibling's outputs
            tree = render_tree(
                templates, _child_name(resource["Properties"]["TemplateURL"]), values, region, _depth + 1
            )
            done[lid] = tree
            outputs = {f"Outputs.{k}": v["Value"] for k, v in tree["root"].get("Outputs", {}).items() if "Value" in v}
            template["Resources"][lid].setdefault("Metadata", {})["Cloud-Radar"] = {"attribute-values": outputs}
            progressed = True
        if not progressed:
            break
    stack = render(template, parameters, region)
    missing = sorted(nested - set(done))
    if missing:
        raise AssertionError(f"{root}: nested stacks {missing} wait for outputs no sibling provides")
    result = {"root": stack}
    for lid, tree in done.items():
        result.update({f"{lid}/{path}" if path != "root" else lid: s for path, s in tree.items()})
    # StackSets: every stack instance group's stacks, rendered with the StackSet's parameters and the group's
    # overrides ("<StackSet>@<group index>").
    for lid, resource in resources(stack, "AWS::CloudFormation::StackSet").items():
        properties = resource["Properties"]
        base = {p["ParameterKey"]: p.get("ParameterValue", "") for p in properties.get("Parameters", [])}
        for i, group in enumerate(properties.get("StackInstancesGroup", [])):
            overrides = {p["ParameterKey"]: p.get("ParameterValue", "") for p in group.get("ParameterOverrides", [])}
            child = render_tree(
                templates, _child_name(properties["TemplateURL"]), {**base, **overrides}, region, _depth + 1
            )
            result.update({f"{lid}@{i}/{path}" if path != "root" else f"{lid}@{i}": s for path, s in child.items()})
    return result


def rule_failures(template: dict, parameters: dict[str, str] | None = None) -> list[str]:
    """AssertDescriptions of the template's Rules that refuse these parameters (CloudFormation checks Rules
    before it creates anything; cloud-radar does not evaluate them)."""
    declared = template.get("Parameters", {})
    given = {name: (parameters or {}).get(name, p.get("Default")) for name, p in declared.items()}

    def evaluate(node):
        if not isinstance(node, dict):
            return node
        ((fn, arg),) = node.items()
        if fn == "Ref":
            value, kind = given[arg], declared[arg]["Type"]
            if value is None:
                raise AssertionError(f"parameter {arg} has no value")
            return str(value).split(",") if kind == "CommaDelimitedList" or kind.startswith("List<") else str(value)
        if fn == "Fn::Equals":
            return evaluate(arg[0]) == evaluate(arg[1])
        if fn == "Fn::Not":
            return not evaluate(arg[0])
        if fn == "Fn::And":
            return all(evaluate(a) for a in arg)
        if fn == "Fn::Or":
            return any(evaluate(a) for a in arg)
        if fn == "Fn::Contains":
            return evaluate(arg[1]) in evaluate(arg[0])
        if fn == "Fn::EachMemberEquals":
            return all(member == evaluate(arg[1]) for member in evaluate(arg[0]))
        raise AssertionError(f"rule function {fn} is not evaluated here")

    return [
        assertion["AssertDescription"]
        for rule in template.get("Rules", {}).values()
        if evaluate(rule.get("RuleCondition", True))
        for assertion in rule["Assertions"]
        if not evaluate(assertion["Assert"])
    ]
