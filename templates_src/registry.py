"""Every template this generator builds: name -> builder, family, description and how users deploy it.

Tests, the command line and packaging take template names, counts and families from here, never from
literals, so a new template is registered in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from troposphere import Template

from templates_src.context import BuildContext
from templates_src.templates.bootstrap import env_iam_setup_stackset_role, package_cfn
from templates_src.templates.core import (
    core_iam_sc_sm_projects_roles,
    core_iam_shared_roles,
    core_main,
    core_sc_shared_portfolio,
)
from templates_src.templates.env import (
    data_science_environment_quickstart,
    env_iam,
    env_iam_target_account_roles,
    env_kms,
    env_main,
    env_s3,
    env_sagemaker_studio,
    env_sc_portfolio,
    env_target_account_network,
    env_vpc,
    env_vpc_egress,
)
from templates_src.templates.project import cfn_sm_endpoint_template, project_model_build_train, project_model_deploy

# `aws cloudformation deploy --template-file` uploads the body inline only up to this size.
DIRECT_DEPLOY_LIMIT = 51_200
# CloudFormation's limit for a template read from S3 (nested stacks, StackSets, Service Catalog products).
S3_TEMPLATE_LIMIT = 1_000_000

FAMILIES = ("core", "env", "project", "bootstrap")

# How a template reaches CloudFormation.
NESTED = "nested"  # only as a child of another template (nested stack, StackSet or product)
BY_URL = "by-url"  # users create a stack from its release URL after packaging (core-main)
DIRECTLY = "directly"  # users deploy the file itself (`aws cloudformation deploy --template-file`)


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    family: str
    description: str
    build: Callable[[BuildContext], Template]
    deployed: str  # NESTED | BY_URL | DIRECTLY

    @property
    def deploy_directly(self) -> bool:
        """Deployed with --template-file by users: must fit DIRECT_DEPLOY_LIMIT."""
        return self.deployed == DIRECTLY

    @property
    def entry(self) -> bool:
        """A release publishes it under a version-addressed URL too (users start from it)."""
        return self.deployed != NESTED

    @property
    def size_limit(self) -> int:
        return DIRECT_DEPLOY_LIMIT if self.deploy_directly else S3_TEMPLATE_LIMIT


def _spec(module: ModuleType, deployed: str = NESTED) -> TemplateSpec:
    family = module.__name__.split(".")[-2]
    assert family in FAMILIES, module.__name__
    return TemplateSpec(module.NAME, family, module.DESCRIPTION, module.build, deployed)


TEMPLATES: dict[str, TemplateSpec] = {
    s.name: s
    for s in (
        _spec(core_main, BY_URL),
        _spec(core_iam_shared_roles),
        _spec(core_iam_sc_sm_projects_roles),
        _spec(core_sc_shared_portfolio),
        _spec(env_iam_setup_stackset_role, DIRECTLY),
        _spec(env_main, BY_URL),
        _spec(env_iam),
        _spec(env_kms),
        _spec(env_vpc),
        _spec(env_vpc_egress),
        _spec(env_s3),
        _spec(env_sagemaker_studio),
        _spec(env_sc_portfolio),
        _spec(data_science_environment_quickstart, BY_URL),
        _spec(env_iam_target_account_roles, DIRECTLY),
        _spec(env_target_account_network),
        _spec(project_model_build_train, BY_URL),
        _spec(project_model_deploy, BY_URL),
        _spec(cfn_sm_endpoint_template),
        _spec(package_cfn, DIRECTLY),
    )
}


# Generated templates a seed-code folder ships (file name in the folder -> template name): packaging adds them to
# the folder's zip, so a project's repository has the endpoint template its pipeline deploys.
SEED_CODE_TEMPLATES: dict[str, dict[str, str]] = {
    project_model_deploy.SEED_CODE: {f"{cfn_sm_endpoint_template.NAME}.yaml": cfn_sm_endpoint_template.NAME},
}
# Object tags of published project templates: SageMaker lists S3 project templates tagged for Studio, and the
# SageMaker products launch role reads only objects tagged for Service Catalog provisioning.
PROJECT_TEMPLATE_TAGS = (("sagemaker:studio-visibility", "true"), ("servicecatalog:provisioning", "true"))


def unknown(names) -> list[str]:
    return [n for n in names if n not in TEMPLATES]


def by_family(family: str) -> list[str]:
    return [name for name, spec in TEMPLATES.items() if spec.family == family]
