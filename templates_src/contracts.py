"""Contracts between a parent template and the generated templates it nests.

A parent may only pass parameters its child declares, must pass every child parameter that has no default,
and may only read outputs (``GetAtt Child.Outputs.X``) its child defines.  CloudFormation finds a broken
contract only at deploy time (cfn-lint follows local paths for parameters but not for outputs), so
generation checks every nested stack and StackSet whose template this generator builds, and fails with one
line per broken contract that names both templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from templates_src import references
from templates_src.config import Problems

_SUB_OUTPUT = re.compile(r"\$\{([A-Za-z0-9]+)\.Outputs\.([A-Za-z0-9]+)\}")


class ContractError(Problems):
    """A parent and a child template do not fit together (a defect of the generator, not of the input)."""


def _passed_parameters(resource: dict) -> dict:
    params = (resource.get("Properties") or {}).get("Parameters") or {}
    if isinstance(params, list):  # StackSet: [{ParameterKey, ParameterValue}]
        return {p.get("ParameterKey"): p.get("ParameterValue") for p in params if isinstance(p, dict)}
    return params if isinstance(params, dict) else {}


def output_reads(node) -> Iterator[tuple[str, str]]:
    """Every (logical id, output name) a template reads with GetAtt X.Outputs.Y, in any of its forms."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            parts = target if isinstance(target, list) else str(target).split(".", 1)
            if len(parts) == 2 and isinstance(parts[1], str) and parts[1].startswith("Outputs."):
                yield parts[0], parts[1][len("Outputs.") :]
        elif set(node) == {"Fn::Sub"}:
            text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
            yield from _SUB_OUTPUT.findall(text)
        for value in node.values():
            yield from output_reads(value)
    elif isinstance(node, list):
        for value in node:
            yield from output_reads(value)


def violations(built: dict[str, dict]) -> list[str]:
    """Broken contracts between the templates in ``built`` (name -> rendered template); empty when all fit."""
    problems = []
    for parent, template in built.items():
        children = {
            ref.resource: ref.stem
            for ref in references.iter_references(template)
            if ref.kind in ("nested-stack", "stack-set") and ref.stem in built
        }
        for logical_id, child in children.items():
            declared = built[child].get("Parameters") or {}
            passed = _passed_parameters(template["Resources"][logical_id])
            for name in sorted(set(passed) - set(declared)):
                problems.append(
                    f"{parent}: {logical_id} passes parameter {name} to {child}, which {child} does not declare"
                )
            for name in sorted(n for n, p in declared.items() if "Default" not in p and n not in passed):
                problems.append(
                    f"{parent}: {logical_id} does not pass parameter {name}, which {child} requires (it has no default)"
                )
        outputs_read = sorted(set(output_reads({k: v for k, v in template.items() if k != "Parameters"})))
        for logical_id, output in outputs_read:
            if logical_id in children and output not in (built[children[logical_id]].get("Outputs") or {}):
                child = children[logical_id]
                problems.append(
                    f"{parent}: reads output {output} of {child} ({logical_id}), which {child} does not define"
                )
    return problems


def check(built: dict[str, dict]) -> None:
    problems = violations(built)
    if problems:
        raise ContractError(problems)
