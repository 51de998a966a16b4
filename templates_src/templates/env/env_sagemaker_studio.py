"""env-sagemaker-studio: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-sagemaker-studio"
DESCRIPTION = "Creates the environment's VPC-only SageMaker Studio domain with SageMaker Projects enabled"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
