"""Contracts between a parent template and the generated templates it nests.

A parent may only pass parameters its child declares, must pass every child parameter that has no default,
and may only read outputs (``GetAtt Child.Outputs.X``) its child defines.  CloudFormation finds a broken
contract only at deploy time (cfn-lint follows local paths for parameters but not for outputs), so
generation checks every nested stack and StackSet whose template this generator builds, and fails with one
line per broken contract that names both templates.

The same word names what a parent template *module* may read of a child module's Python names
(``MODULE_CONTRACT`` below, enforced by tests/test_structure.py).
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


# -- between template modules ------------------------------------------------------------------------------------------
# What a parent template module may read of a child template module: the child's *contract*, the names a parent
# needs to refer to the child and to pass its parameters, and nothing else.  A child is a template the parent nests
# (nested stack), deploys by StackSet, offers as a Service Catalog product or ships in its seed code
# (``children``).  The contract of a child module is:
#   * ``MODULE_CONTRACT``: ``NAME`` (the template the parent refers to), and ``PARAMETERS`` and ``OUTPUTS`` where
#     the module defines them (its parameter definitions, its output names);
#   * its module-level UPPER_CASE ``ParamSpec`` constants of parameters its template declares (the parent passes
#     ``<spec>.name``);
#   * the module itself only as the argument of ``ctx.declared`` (directly, or through a module-level table of
#     children used for nothing else): the child's template as built, whose parameters, outputs and console labels
#     a parent reads.
# Everything else a template module defines is its own.  What several templates need is a block
# (templates_src/blocks), and blocks import no template module.
MODULE_CONTRACT = ("NAME", "PARAMETERS", "OUTPUTS")
CHILD_KINDS = ("nested-stack", "stack-set", "sc-product")  # references.Reference kinds that make a child


def children(built: dict[str, dict]) -> dict[str, set[str]]:
    """Template name -> the templates it nests, deploys by StackSet, offers as products or ships in its seed code
    (``registry.SEED_CODE_TEMPLATES``), among ``built`` (name -> rendered template)."""
    from templates_src import registry

    found: dict[str, set[str]] = {name: set() for name in built}
    for parent, template in built.items():
        for ref in references.iter_references(template):
            if ref.kind in CHILD_KINDS and ref.stem in built:
                found[parent].add(ref.stem)
            elif ref.kind == "seed-code":
                shipped = registry.SEED_CODE_TEMPLATES.get(references.seed_folder(ref), {})
                found[parent].update(name for name in shipped.values() if name in built)
    return found
