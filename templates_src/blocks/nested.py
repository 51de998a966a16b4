"""Nested stacks: one child template, referenced by its local path until packaging rewrites it."""

from __future__ import annotations

import copy

from troposphere import Join, Ref, Template, cloudformation

from templates_src import references
from templates_src.blocks.parameters import INTERFACE
from templates_src.context import BuildContext


def nested_stack(
    ctx: BuildContext, template: Template, title: str, child: str, parameters: dict, condition: str | None = None
) -> cloudformation.Stack:
    stack = cloudformation.Stack(
        title,
        TemplateURL=references.local_template(child),
        Parameters=parameters,
        # Explicit: a nested stack is deleted with its parent (cfn-lint I3011 asks to say so).
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    if condition:
        stack.Condition = condition
    return template.add_resource(stack)


def offer_parameters(template: Template, child: Template, names) -> dict[str, str]:
    """Declare a child's own definitions of ``names`` on its parent, which passes them through unchanged.

    A parameter that users set on the parent and the child receives as is is defined once, in the child, so the
    two can never disagree on constraints or defaults.  Returns the child's console labels of ``names``.
    """
    labels = ((child.metadata or {}).get(INTERFACE) or {}).get("ParameterLabels", {})
    for name in names:
        template.add_parameter(copy.deepcopy(child.parameters[name]))
    return {name: labels.get(name, {}).get("default", name) for name in names}


def pass_through(template: Template, name: str):
    """A parent's parameter as the value of the child parameter of the same name (lists joined back)."""
    kind = template.parameters[name].Type
    if kind.startswith("List<") or kind == "CommaDelimitedList":
        return Join(",", Ref(name))
    return Ref(name)


def layout(template: Template, groups: list[tuple[str, list[str]]], labels: dict[str, str]) -> None:
    """The console layout of a template whose parameters come from several definitions."""
    template.set_metadata(
        {
            **(template.metadata or {}),
            INTERFACE: {
                "ParameterGroups": [
                    {"Label": {"default": label}, "Parameters": list(names)} for label, names in groups
                ],
                "ParameterLabels": {name: {"default": text} for name, text in labels.items()},
            },
        }
    )


def forward_hardening(template: Template, child: Template) -> dict:
    """The hardening parameters a child declares (log group key, function network: configuration
    ``encrypt_logs`` / ``functions_in_vpc`` without pinned values) are declared on the parent too, in the same
    console group, and passed through: returns the child parameters to add."""
    from templates_src.blocks import parameters as params

    forwarded = {}
    for spec in (params.LOGS_KMS_KEY_ARN, params.FUNCTION_SUBNET_IDS, params.FUNCTION_SECURITY_GROUP_IDS):
        if spec.name in child.parameters:
            params.require(template, spec, params.HARDENING_GROUP)
            forwarded[spec.name] = pass_through(template, spec.name)
    return forwarded
