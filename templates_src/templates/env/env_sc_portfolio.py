"""env-sc-portfolio: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-sc-portfolio"
DESCRIPTION = "Creates the environment's Service Catalog portfolio of MLOps project templates"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
