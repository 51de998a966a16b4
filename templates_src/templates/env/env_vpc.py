"""env-vpc: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-vpc"
DESCRIPTION = "Creates the environment's private network: VPC (or uses an existing one), private subnets, route tables, security groups and flow logs"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
