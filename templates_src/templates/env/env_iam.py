"""env-iam: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-iam"
DESCRIPTION = "Creates the environment's IAM roles: personas, SageMaker execution roles with guardrails, StackSet administration and flow logs"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
