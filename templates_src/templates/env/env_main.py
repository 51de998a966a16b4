"""env-main: placeholder, being written."""

from __future__ import annotations

from troposphere import Template, cloudformation

from templates_src.context import BuildContext

NAME = "env-main"
DESCRIPTION = "Creates a secure SageMaker data science environment: network, KMS keys, S3 buckets, IAM roles, a VPC-only Studio domain and the MLOps project portfolio"


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    t.add_resource(cloudformation.WaitConditionHandle("Placeholder"))
    return t
