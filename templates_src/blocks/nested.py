"""Nested stacks: one child template, referenced by its local path until packaging rewrites it."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src import references
from templates_src.context import BuildContext


def nested_stack(ctx: BuildContext, template: Template, title: str, child: str, parameters: dict,
                 condition: str | None = None) -> cloudformation.Stack:
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
