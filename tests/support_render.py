"""Offline rendering of generated templates with cloud-radar: parameters, conditions and intrinsic functions
evaluated as CloudFormation would, for scenario tests ("with these parameters, which resources exist and how are
they configured").

cloud-radar 0.17 evaluates both branches of ``Fn::If`` before choosing one, so a branch CloudFormation never
evaluates (``Fn::Select [1, ...]`` on a list that is empty unless its condition holds) fails the rendering.
``render`` evaluates ``Fn::If`` lazily, as CloudFormation does; everything else is cloud-radar's.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from typing import Any

from cloud_radar.cf.unit import Template as _Template
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


def render(template: dict, parameters: dict[str, str] | None = None, region: str = REGION) -> dict:
    """The template as CloudFormation would create it: resources of false conditions dropped, values resolved."""
    parameters = {k: (",".join(v) if isinstance(v, (list, tuple)) else v) for k, v in (parameters or {}).items()}
    with contextlib.redirect_stdout(io.StringIO()):  # cloud-radar prints the template object
        return _Template(json.loads(json.dumps(template)), imports={}).create_stack(parameters, region=region)


def resources(stack: dict, type_: str | None = None) -> dict[str, dict]:
    return {k: v for k, v in stack["Resources"].items() if type_ is None or v["Type"] == type_}


__all__ = ["render", "resources", "functions", "ACCOUNT", "REGION"]


def _child_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def render_tree(templates: dict[str, dict], root: str, parameters: dict[str, str] | None = None,
                region: str = REGION, _depth: int = 0) -> dict[str, dict]:
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
            tree = render_tree(templates, _child_name(resource["Properties"]["TemplateURL"]), values, region,
                               _depth + 1)
            done[lid] = tree
            outputs = {f"Outputs.{k}": v["Value"] for k, v in tree["root"].get("Outputs", {}).items()}
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
    return result
