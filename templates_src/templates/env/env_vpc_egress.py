"""env-vpc-egress: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-vpc-egress"
DESCRIPTION = "Connects the environment's private subnets to AWS services through VPC endpoints and, optionally, to the internet through NAT gateways"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
