"""Which role deploys what: the deployment topology the deploying-role check (``iam_coverage``) proves.

Every role that deploys templates is listed here with the templates it deploys, who assumes it (the caller
whose own calls it must allow) and sample parameter values that make physical names concrete.  What a role
deploys without a template of ours (what a CodePipeline action creates, such as the model deploy pipeline's
StackSets) is described by the reviewed ``planned`` resources of ``iam_coverage.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from templates_src.blocks import boundary, stacksets, target_accounts
from templates_src.checks import iam_coverage
from templates_src.checks.iam_coverage import Coverage, Deployed
from templates_src.checks.iam_policy import PSEUDO, Resolver, role_statements
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.naming import ENVIRONMENT_STACKS
from templates_src.templates.bootstrap import env_iam_setup_stackset_role as setup_role
from templates_src.templates.core import core_iam_sc_sm_projects_roles as projects_roles
from templates_src.templates.core import core_iam_shared_roles as shared_roles
from templates_src.templates.core import core_main
from templates_src.templates.env import env_iam, env_iam_target_account_roles, env_main, env_target_account_network
from templates_src.templates.project import cfn_sm_endpoint_template, project_model_build_train, project_model_deploy

ACCOUNT = PSEUDO["AWS::AccountId"]
CORE_NAME = "sm-mlops-core"  # env-main's default CoreStackSetName
SHARED_ROLES_CORE = "core"  # the StackSetName core-main's shared roles are named after
REGION = PSEUDO["AWS::Region"]
ADMIN_ACCOUNT = "222222222222"
ENV = {"EnvName": "sm-mlops", "EnvType": "dev"}
TARGET_ENV = {"EnvName": "sm-mlops", "EnvType": "staging", "AdministratorAccountId": ADMIN_ACCOUNT}
SC_STACK = f"SC-{ACCOUNT}-pp-abcdefghijklm"  # the stack Service Catalog provisions a product into
# The two ways a multi-account environment names its target accounts.
ACCOUNT_LISTS = {
    "StagingAccountList": "333333333333,444444444444",
    "ProductionAccountList": "555555555555",
    "SetupStackSetExecutionRoleName": "sm-mlops-setup-stackset-execution-role",
}
# A SageMaker project as SageMaker fills in its parameters, and a deployment of its endpoint template.
PROJECT = {"SageMakerProjectName": "churn", "SageMakerProjectId": "p-abc123"}
CONNECTION = {
    "SourceCodeProvider": "CodeConnection",
    "RepositoryFullName": "example-org/churn-model",
    "CodeConnectionArn": f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0123abcd-4567-89ef-0123-456789abcdef",
}
ENDPOINT = {
    "ModelPackageName": f"arn:aws:sagemaker:{REGION}:{ADMIN_ACCOUNT}:model-package/churn-p-abc123/3",
    "VolumeKmsKeyArn": f"arn:aws:kms:{REGION}:{ADMIN_ACCOUNT}:key/0123abcd-4567-89ef-0123-456789abcdef",
}
ORGANIZATIONAL_UNITS = {
    "OrganizationalUnitStagingId": "ou-abcd-11111111",
    "OrganizationalUnitProdId": "ou-abcd-22222222",
    "OrganizationId": "o-abcdefghij",
    "StackSetCallAs": "DELEGATED_ADMIN",
}


@dataclass(frozen=True)
class Deployer:
    key: str  # how iam_coverage.yaml's not_granted entries name it
    description: str
    role_template: str
    role: str  # logical id of the AWS::IAM::Role
    deploys: tuple[str, ...]  # the templates it deploys, as root stacks
    caller: str  # key of the caller's needs in iam_coverage.yaml
    stack_name: str  # name of the root stacks it deploys (prefix of nested stack names)
    params: dict[str, str] = field(default_factory=dict)  # sample values for every template involved
    planned: dict[str, str] = field(default_factory=dict)  # template name -> planned resources key
    exceptions: str = ""  # key of its not_granted entries in iam_coverage.yaml when shared with another deployer
    imports: dict[str, str] = field(default_factory=dict)  # exports its templates import (name -> value)

    @property
    def values(self) -> dict[str, str]:
        return {**ENV, **self.params}


def sample(pattern: str, values: dict[str, str]) -> str:
    """A name pattern of the templates (``${Parameter}``, ``${AWS::Region}``) with the sample values."""
    return re.sub(r"\$\{([^}]+)\}", lambda m: {**PSEUDO, **values}[m.group(1)], pattern)


def boundary_arn(config: Config) -> str:
    """The configured permissions boundary as the sample account's ARN ('' when none)."""
    boundary = config.permissions_boundary
    if not boundary:
        return ""
    return boundary if boundary.startswith("arn:") else f"arn:aws:iam::{ACCOUNT}:policy/{boundary}"


def deployers(config: Config) -> tuple[Deployer, ...]:
    """Every deploying role, with the names and logical ids the templates' builders define (as the sample values
    make them concrete)."""
    ctx = BuildContext(config)
    core = {
        param: sample(name.pattern, {"StackSetName": SHARED_ROLES_CORE})
        for param, name in core_main.shared_role_names(ctx).items()
    }
    imports = {}
    if not config.permissions_boundary:  # the platform boundary core-main creates, passes and exports
        core_values = {"StackSetName": CORE_NAME}
        platform = f"arn:aws:iam::{ACCOUNT}:policy/{sample(boundary.name(ctx).pattern, core_values)}"
        core[boundary.PARAMETER.name] = platform
        imports[sample(boundary.export_name(ctx).pattern, core_values)] = platform
    target_boundary = (
        f"arn:aws:iam::{ACCOUNT}:policy{config.role_path}{config.prefix}{sample(stacksets.TARGET_BOUNDARY, TARGET_ENV)}"
    )
    launch = (shared_roles.NAME, shared_roles.SC_LAUNCH_ROLE_ID)
    sagemaker_launch = (projects_roles.NAME, projects_roles.LAUNCH_ROLE)
    projects = (project_model_build_train.NAME, project_model_deploy.NAME)
    return (
        Deployer(
            "environment-launch-role",
            "Service Catalog launch role of the data science environment product (also the --role-arn of "
            "a direct CloudFormation deployment)",
            *launch,
            (env_main.NAME,),
            "service-catalog-launch",
            SC_STACK,
            params=core,
            imports=imports,
        ),
        Deployer(
            "environment-launch-role-account-lists",
            "The environment launch role deploying a multi-account environment with account lists "
            "(self-managed StackSets)",
            *launch,
            (env_main.NAME,),
            "service-catalog-launch",
            SC_STACK,
            params={**core, **ACCOUNT_LISTS},
            exceptions="environment-launch-role",
            imports=imports,
        ),
        Deployer(
            "environment-launch-role-organizational-units",
            "The environment launch role deploying a multi-account environment with organizational units "
            "(service-managed StackSets, as a delegated administrator)",
            *launch,
            (env_main.NAME,),
            "service-catalog-launch",
            SC_STACK,
            params={**core, **ORGANIZATIONAL_UNITS},
            exceptions="environment-launch-role",
            imports=imports,
        ),
        Deployer(
            "environment-launch-role-internet-free",
            "The environment launch role deploying an internet-free environment with its package mirror (a "
            "CodeArtifact domain and repository, and their endpoints)",
            *launch,
            (env_main.NAME,),
            "service-catalog-launch",
            SC_STACK,
            params={**core, "CreateNATGateways": "NO", "UseSharedServicesPyPiMirror": "YES"},
            exceptions="environment-launch-role",
            imports=imports,
        ),
        Deployer(
            "environment-direct-deployment",
            "The same role as the --role-arn of the two-step CloudFormation deployment of the environment",
            *launch,
            (env_main.NAME,),
            "cloudformation-service-role",
            f"{config.prefix}{ENVIRONMENT_STACKS.replace('*', 'sm-mlops-dev')}",
            params=core,
            exceptions="environment-launch-role",
            imports=imports,
        ),
        Deployer(
            "setup-stackset-role",
            "StackSet execution role of the environment's StackSets in each target account",
            setup_role.NAME,
            setup_role.SETUP_ROLE_ID,
            (env_iam_target_account_roles.NAME, env_target_account_network.NAME),
            "stackset-execution",
            "StackSet-sm-mlops-staging-roles-0123abcd-4567-89ef-0123-456789abcdef",
            # As the environment's self-managed StackSets pass them: roles under the target-account boundary.
            params={
                **TARGET_ENV,
                "PermissionsBoundaryArn": target_boundary,
                "UseTargetAccountBoundary": "YES",
                "StackSetExecutionRoleName": sample(target_accounts.stackset_role_name(ctx).pattern, TARGET_ENV),
                "EndpointVolumeKmsKeyArn": ENDPOINT["VolumeKmsKeyArn"],
            },
        ),
        Deployer(
            "model-deployment-stackset-role",
            "StackSet execution role of the MLOps projects' model deployments in each target account",
            env_iam_target_account_roles.NAME,
            env_iam_target_account_roles.STACKSET_EXECUTION_ROLE_ID,
            (cfn_sm_endpoint_template.NAME,),
            "stackset-execution",
            "StackSet-sagemaker-churn-p-abc123-deploy-staging-0123abcd-4567-89ef-0123-456789abcdef",
            params={
                **TARGET_ENV,
                **PROJECT,
                **ENDPOINT,
                # the target-account roles' generated name (the environment passes the same everywhere)
                "ExecutionRoleName": sample(target_accounts.model_role_name(ctx).pattern, TARGET_ENV),
            },
        ),
        Deployer(
            "sagemaker-projects-launch-role",
            "Service Catalog launch role of the MLOps project products (SageMaker projects)",
            *sagemaker_launch,
            projects,
            "service-catalog-launch",
            SC_STACK,
            params=PROJECT,
        ),
        Deployer(
            "sagemaker-projects-launch-role-code-connections",
            "The same role launching the project templates with a CodeConnections repository",
            *sagemaker_launch,
            projects,
            "service-catalog-launch",
            SC_STACK,
            params={**PROJECT, **CONNECTION},
            exceptions="sagemaker-projects-launch-role",
        ),
        Deployer(
            "model-deploy-role",
            "Role of the environment's model deploy projects: their pipelines' StackSet actions create and "
            "update the endpoint StackSets (the CodePipeline action modelled as the StackSet resource it "
            "amounts to)",
            env_iam.NAME,
            env_iam.MODEL_DEPLOY_ROLE_ID,
            ("model-deployment-stacksets",),
            "codepipeline-stackset-action",
            "sagemaker-churn-p-abc123-deploy-staging",
            params=PROJECT,
            planned={"model-deployment-stacksets": "model-deployment-stacksets"},
        ),
    )


def coverage(deployer: Deployer, templates: dict[str, dict], config: Config) -> Coverage:
    """Evaluate the deployer's role (as ``templates`` render it) against everything it deploys."""
    data = iam_coverage.reviewed()
    values = deployer.values
    role_template = templates[deployer.role_template]
    resolver = Resolver(role_template, values, arn_of=lambda r, lid, res: iam_coverage.own_arns(r, lid, res))
    statements, unreadable = role_statements(role_template, deployer.role, resolver)
    unset: list = []
    needs = []
    planned_done: set[str] = set()
    for name in deployer.deploys:
        if name in templates:
            needs += iam_coverage.template_needs(
                Deployed(name, templates[name], values, deployer.stack_name, deployer.imports), templates, unset
            )
        elif name in deployer.planned:
            key = deployer.planned[name]
            if key not in planned_done:
                planned_done.add(key)
                needs += iam_coverage.planned_needs(
                    data["planned"][key],
                    values,
                    deployer.stack_name,
                    unset,
                    prefix=config.prefix,
                    role_path=config.role_path,
                    boundary=boundary_arn(config),
                )
        else:
            raise ValueError(f"{deployer.key}: deploys {name}, which is neither generated nor planned")
    needs += iam_coverage.caller_needs(
        deployer.caller, {"region": REGION, "account": ACCOUNT, "stack_name": deployer.stack_name}
    )
    exceptions = [
        (i, e) for i, e in enumerate(data["not_granted"]) if e["role"] == (deployer.exceptions or deployer.key)
    ]
    return iam_coverage.check(deployer.key, statements, needs, exceptions, unset, unreadable)
