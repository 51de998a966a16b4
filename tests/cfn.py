"""Small helpers to look into rendered templates (dicts) in tests."""

from __future__ import annotations

import json

import cfn_tools
import yaml
from cfn_tools import yaml_loader


class _CfnLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):
    """cfn-flip's YAML loader (its constructors: short-form intrinsic functions, ordered mappings) on libyaml's
    parser where PyYAML has it: the same data as ``cfn_flip.to_json``, several times faster."""


_CfnLoader.add_constructor(yaml_loader.TAG_MAP, yaml_loader.construct_mapping)
_CfnLoader.add_multi_constructor("!", yaml_loader.multi_constructor)


def load(text: bytes | str) -> dict:
    """A CloudFormation template (YAML with short-form intrinsics, or JSON) as a dict in long form.

    The one way tests read template files: cfn-flip's reading (``cfn_flip.to_json``: JSON first, else YAML),
    the library the generator renders with.
    """
    text = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        data = cfn_tools.load_json(text)
    except ValueError:
        data = yaml.load(text, Loader=_CfnLoader)
    return json.loads(cfn_tools.dump_json(data))


def resources(template: dict, type_: str | None = None) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if type_ is None or v["Type"] == type_}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def text(value) -> str:
    """A value as text: Sub patterns unwrapped, everything else as JSON."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def role_statements(template: dict, role_id: str) -> list[dict]:
    """Inline statements of a role plus those of the template's managed policies attached to it."""
    role = template["Resources"][role_id]["Properties"]
    out = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            out += template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return out


def actions(statements: list[dict], effect: str = "Allow") -> set[str]:
    return {a for s in statements if s["Effect"] == effect for a in as_list(s["Action"])}


def statement(statements: list[dict], sid: str) -> dict:
    matches = [s for s in statements if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid}, found {len(matches)}"
    return matches[0]


def all_statements(template: dict) -> list[dict]:
    """Every policy statement in a template: role policies, managed policies, trust policies."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "Effect" in node and ("Action" in node or "NotAction" in node):
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(template["Resources"])
    return found


def accepts(parameter: dict, value: str) -> bool:
    """Whether CloudFormation would accept ``value`` for this parameter (AllowedPattern is a full match)."""
    import re

    if "AllowedValues" in parameter and value not in parameter["AllowedValues"]:
        return False
    if "AllowedPattern" in parameter and not re.fullmatch(parameter["AllowedPattern"], value):
        return False
    if len(value) > parameter.get("MaxLength", 10**9) or len(value) < parameter.get("MinLength", 0):
        return False
    return True


def sub_name(value, **values) -> str:
    """Resolve a Sub'd name with sample values (pseudo parameters included)."""
    import re

    defaults = {"AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "AWS::Partition": "aws"}
    pattern = text(value)
    return re.sub(r"\$\{([^}]+)\}", lambda m: {**defaults, **values}[m.group(1)], pattern)


def walk(node):
    """Every node of a template (dicts, lists, scalars), depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
