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
    deployment: str = ""  # how it is deployed, in words (TEXTS)
    content: str = ""  # what it holds, in words (TEXTS)

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


# How each template is deployed and what it holds, in words: the README's template table (generated block
# `templates`) and the parameter pages of docs/ (templates_src/docs.py) are made from these.
TEXTS: dict[str, tuple[str, str]] = {
    "core-main": (
        "once per core deployment (account + region), after packaging",
        "nests core-iam-shared-roles, core-iam-sc-sm-projects-roles and core-sc-shared-portfolio; the platform "
        "permissions boundary every environment role carries (unless `permissions_boundary` is configured); the "
        "function the MLOps projects call to read their environment; detection of existing SageMaker project roles",
    ),
    "core-iam-shared-roles": (
        "nested in core-main",
        "data science administrator persona, detective-control role, Service Catalog launch role of the environment "
        "product",
    ),
    "core-iam-sc-sm-projects-roles": (
        "nested in core-main",
        "`AmazonSageMakerServiceCatalogProductsLaunchRole` (launches the project templates) and `UseRole` "
        "(SageMaker's own templates; the platform's projects do not use it), only those missing in the account",
    ),
    "core-sc-shared-portfolio": (
        "nested in core-main",
        "portfolio with the data science environment product (`env-main`)",
    ),
    "env-iam-setup-stackset-role": (
        "by hand in every staging/production account",
        "the StackSet execution role the environment's StackSets run as, and the target-account permissions boundary",
    ),
    "env-main": (
        "per environment: Service Catalog product of the core's portfolio, or directly (two-step option), or in the "
        "quickstart",
        "nests env-iam, env-kms, env-vpc, env-vpc-egress, env-s3, env-sagemaker-studio, env-sc-portfolio and "
        "env-iam-target-account-roles, writes the SSM parameters the MLOps projects read, checks parameter "
        "combinations (Rules), attaches the SageMaker guardrails",
    ),
    "env-iam": (
        "nested in env-main",
        "team administrator and data scientist personas, SageMaker execution and pipeline roles, the projects' model "
        "build and model deploy roles, the two StackSet administration roles (environment set-up, model "
        "deployments), flow-logs role; all under the platform boundary",
    ),
    "env-kms": (
        "nested in env-main",
        "KMS keys for SageMaker volumes, Studio storage and S3 (rotation, kept on delete, no environment role "
        "administers them)",
    ),
    "env-vpc": (
        "nested in env-main",
        "VPC (or an existing one), private subnets in 2-4 zones, route tables, security groups, flow logs",
    ),
    "env-vpc-egress": (
        "nested in env-main",
        "VPC endpoints (private DNS) and, optionally, NAT gateways",
    ),
    "env-s3": (
        "nested in env-main",
        "data, model and access-log buckets: KMS, versioned, private, TLS-only, reachable only through the "
        "environment's S3 endpoint, kept on delete",
    ),
    "env-sagemaker-studio": (
        "nested in env-main",
        "VPC-only SageMaker Studio domain (current Studio, IAM auth), the team administrator's default user profile, "
        "SageMaker Projects enabled, clean deletion",
    ),
    "env-sc-portfolio": (
        "nested in env-main",
        "the environment's two portfolios of MLOps project templates, visible in Studio: model build/train (data "
        "scientists, Studio, team administrator) and model deploy (team administrator only)",
    ),
    "data-science-environment-quickstart": (
        "directly from its release URL, for one account",
        "core-main and env-main in one stack",
    ),
    "env-iam-target-account-roles": (
        "nested in the environment and by StackSet in target accounts",
        "model execution role and model-deployment StackSet execution role, under the target-account permissions "
        "boundary",
    ),
    "env-target-account-network": (
        "by the environment's StackSets in every staging/production account",
        "internet-free VPC, private subnets, security groups, the endpoints SageMaker endpoints need, flow logs "
        "(kept), and the guardrails of the account's model deployments",
    ),
    "project-model-build-train": (
        "a product of the environment's portfolio (Studio: *Create project*), or an S3 project template",
        "repository seeded with `seed_code/model-build-train`, artifact bucket, CodeBuild in the environment's VPC, "
        "pipeline that runs the SageMaker pipeline on every commit",
    ),
    "project-model-deploy": (
        "a product of the environment's portfolio (Studio: *Create project*), or an S3 project template",
        "repository seeded with `seed_code/model-deploy` (with the endpoint template), build and test projects, "
        "pipeline: staging StackSet deployment, endpoint test, manual approval, production; started by model "
        "approvals and commits",
    ),
    "cfn-sm-endpoint-template": (
        "in the model deploy seed code, deployed by that pipeline's StackSets into each stage's account",
        "SageMaker model, endpoint configuration and endpoint: private subnets, EBS key, network isolation, optional "
        "data capture",
    ),
    "package-cfn": (
        "by hand, once, to publish from AWS instead of a workstation",
        "CodeBuild project that runs `generate.py package` on the source archive in the bucket, started once by a "
        "custom resource",
    ),
}


def _spec(module: ModuleType, deployed: str = NESTED) -> TemplateSpec:
    family = module.__name__.split(".")[-2]
    assert family in FAMILIES, module.__name__
    assert module.NAME in TEXTS, f"{module.NAME}: say in registry.TEXTS how it is deployed and what it holds"
    return TemplateSpec(module.NAME, family, module.DESCRIPTION, module.build, deployed, *TEXTS[module.NAME])


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
