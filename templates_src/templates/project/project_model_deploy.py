"""project-model-deploy: the MLOps project that deploys approved models to staging, tests them, and after a
manual approval deploys them to production.

The pipeline starts when a model package of the group is **approved** (only then: other state changes of the
package do not start it) and on every commit to the project's repository (seeded with ``seed_code/model-deploy``,
which contains the generated endpoint template ``cfn-sm-endpoint-template``).  Its stages:

1. Build (CodeBuild in the environment's VPC): the newest approved package, the stage configurations and the
   target accounts of each stage (the environment's account lists, or the accounts of its OUs);
2. DeployStaging: a self-managed StackSet of the endpoint template, administered by the environment's StackSet
   administration role and run as its StackSet execution role in each staging account (the development account
   itself for single-account deployments); then TestStaging really invokes the endpoints; then a manual approval;
3. DeployProd: the same StackSet deployment to the production accounts.
"""

from __future__ import annotations

from troposphere import Equals, If, Ref, Sub, Template, codepipeline, events

from templates_src.blocks import environment as envb
from templates_src.blocks import parameters as params
from templates_src.blocks import project
from templates_src.blocks.parameters import ParamSpec
from templates_src.context import BuildContext
from templates_src.templates.project import cfn_sm_endpoint_template as endpoint

NAME = "project-model-deploy"
DESCRIPTION = (
    "MLOps project: deploys approved models to staging, tests the endpoints and, after a manual "
    "approval, deploys them to production (single- or multi-account)"
)
SEED_CODE = "model-deploy"
# The files the seed code's build writes (see seed_code/model-deploy).
ENDPOINT_TEMPLATE = "cfn-sm-endpoint.yaml"
CONFIG_NAMES = {"staging": "staging-config", "prod": "prod-config"}

GROUP = ParamSpec(
    "ModelPackageGroupName",
    "Model package group whose approved packages are deployed: the build project's group "
    "(<build project name>-<build project id>). Auto: <this project's name>-<this project's id>",
    "Model package group",
    default="Auto",
    max_length=63,
    allowed_pattern=r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    constraint="must be a model package group name (letters, digits and hyphens, up to 63), or Auto",
)
MULTI_ACCOUNT = params.yes_no(
    "MultiAccountDeployment",
    "Deploy to the environment's staging and production accounts (its account lists or "
    "organizational units). NO: both stages in this account",
    "Multi-account deployment",
    default="NO",
)
AUTO_GROUP = "GenerateModelPackageGroupName"

SSM = {
    **project.COMMON_SSM,
    **project.DEPLOY_ROLE_SSM,
    "StagingAccountList": envb.STAGING_ACCOUNT_LIST_SSM,
    "ProductionAccountList": envb.PROD_ACCOUNT_LIST_SSM,
    "OrganizationalUnitStagingId": envb.OU_STAGING_ID_SSM,
    "OrganizationalUnitProdId": envb.OU_PROD_ID_SSM,
    "TargetAccountsStackSetName": envb.TARGET_ACCOUNTS_STACKSET_SSM,
    "StackSetCallAs": envb.STACKSET_CALL_AS_SSM,
    "ModelExecutionRoleName": envb.MODEL_EXECUTION_ROLE_NAME_SSM,
    "StackSetExecutionRoleName": envb.STACKSET_EXECUTION_ROLE_NAME_SSM,
    "StackSetAdministrationRoleArn": envb.STACKSET_ADMINISTRATION_ROLE_ARN_SSM,
    "EnvTypeStagingName": envb.ENV_TYPE_STAGING_NAME_SSM,
    "EnvTypeProdName": envb.ENV_TYPE_PROD_NAME_SSM,
}


def group_name():
    return If(AUTO_GROUP, Sub("${SageMakerProjectName}-${SageMakerProjectId}"), Ref(GROUP.name))


def approval_rule(ctx: BuildContext, t: Template, pipe: codepipeline.Pipeline) -> events.Rule:
    """Approved model packages of the group, and nothing else, start the deployment."""
    return t.add_resource(
        events.Rule(
            "ModelDeployRegistryEventRule",
            Name=project.physical(ctx, "rule", "-model"),
            Description=Sub("Starts ${Pipeline} when a model package of the group is approved", Pipeline=Ref(pipe)),
            EventPattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Package State Change"],
                "detail": {"ModelPackageGroupName": [group_name()], "ModelApprovalStatus": ["Approved"]},
            },
            State="ENABLED",
            Targets=[project.rule_target(ctx, pipe, "Pipeline")],
        )
    )


# The deploy pipeline's StackSet of each stage (``generate.py cleanup`` finds them by it).
DEPLOY_STACKSET = project.PHYSICAL + "-deploy-${Stage}"


def stack_set_action(ctx: BuildContext, stage: str, stage_attribute: str) -> codepipeline.Actions:
    name = ctx.namer.name(
        "stackset",
        DEPLOY_STACKSET,
        {**project.PROJECT, "Stage": envb.ENV_TYPE_STAGING},
        prefixed=False,
    )
    config = CONFIG_NAMES[stage]
    return codepipeline.Actions(
        Name=f"Deploy{stage.capitalize()}",
        RunOrder=1,
        ActionTypeId=codepipeline.ActionTypeId(
            Category="Deploy", Owner="AWS", Provider="CloudFormationStackSet", Version="1"
        ),
        InputArtifacts=[codepipeline.InputArtifacts(Name=project.BUILD_ARTIFACT)],
        Configuration={
            "StackSetName": Sub(name.pattern, Stage=project.env(stage_attribute)),
            "Description": Sub("Model endpoint of the SageMaker project ${SageMakerProjectName}"),
            "TemplatePath": f"{project.BUILD_ARTIFACT}::{ENDPOINT_TEMPLATE}",
            "Parameters": f"{project.BUILD_ARTIFACT}::{config}.json",
            "DeploymentTargets": f"{project.BUILD_ARTIFACT}::{stage}-targets.json",
            "PermissionModel": "SELF_MANAGED",
            "AdministrationRoleArn": project.env("StackSetAdministrationRoleArn"),
            "ExecutionRoleName": project.env("StackSetExecutionRoleName"),
            "Regions": Ref("AWS::Region"),
            "FailureTolerancePercentage": "0",
            "MaxConcurrentPercentage": "100",
        },
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    project.add_parameters(t, GROUP, MULTI_ACCOUNT, groups=[("Model deployment", [GROUP, MULTI_ACCOUNT])])
    t.add_condition(AUTO_GROUP, Equals(Ref(GROUP.name), "Auto"))
    project.environment_configuration(ctx, t, SSM)
    bucket = project.artifact_bucket(ctx, t)
    repo = project.repository(
        ctx, t, "ModelDeployCodeCommitRepository", project.DEPLOY_REPOSITORY_SUFFIX, SEED_CODE, "Model deployment code"
    )
    common = project.common_variables(bucket)
    deployment = {
        "MODEL_PACKAGE_GROUP_NAME": group_name(),
        "MODEL_EXECUTION_ROLE_NAME": project.env("ModelExecutionRoleName"),
        "ROLE_PATH": ctx.config.role_path,
    }
    build_project = project.build_project(
        ctx,
        t,
        "ModelDeployBuildProject",
        project.DEPLOY_SUFFIX,
        buildspec="buildspec.yml",
        timeout=15,
        description="Builds the endpoint deployment of the newest approved model package for each stage",
        values={
            **common,
            **deployment,
            "MULTI_ACCOUNT_DEPLOYMENT": Ref(MULTI_ACCOUNT.name),
            "STAGING_ACCOUNT_LIST": project.env("StagingAccountList"),
            "PROD_ACCOUNT_LIST": project.env("ProductionAccountList"),
            "STAGING_OU_ID": project.env("OrganizationalUnitStagingId"),
            "PROD_OU_ID": project.env("OrganizationalUnitProdId"),
            "TARGET_ACCOUNTS_STACKSET": project.env("TargetAccountsStackSetName"),
            "STACKSET_CALL_AS": project.env("StackSetCallAs"),
            "ENV_TYPE_STAGING_NAME": project.env("EnvTypeStagingName"),
            "ENV_TYPE_PROD_NAME": project.env("EnvTypeProdName"),
            "STACKSET_EXECUTION_ROLE_NAME": project.env("StackSetExecutionRoleName"),
            "STAGING_CONFIG_NAME": CONFIG_NAMES["staging"],
            "PROD_CONFIG_NAME": CONFIG_NAMES["prod"],
            "CFN_TEMPLATE_NAME": ENDPOINT_TEMPLATE.removesuffix(".yaml"),
        },
    )
    test_project = project.build_project(
        # The test waits up to 20 minutes for each staging account's endpoint to be in service.
        ctx,
        t,
        "ModelDeployTestProject",
        project.DEPLOY_SUFFIX + "-test",
        buildspec="test/buildspec.yml",
        timeout=60,
        description="Tests the staging endpoints by invoking them",
        values={**common, **deployment, "BUILD_CONFIG": CONFIG_NAMES["staging"]},
    )
    pipe = project.pipeline(
        ctx,
        t,
        "ModelDeployPipeline",
        project.DEPLOY_SUFFIX,
        bucket,
        [
            codepipeline.Stages(Name="Source", Actions=[project.source_action(repo)]),
            codepipeline.Stages(
                Name="Build",
                Actions=[
                    project.build_action(
                        "BuildEndpointDeployment", build_project, [project.SOURCE_ARTIFACT], [project.BUILD_ARTIFACT]
                    )
                ],
            ),
            codepipeline.Stages(
                Name="DeployModelStaging",
                Actions=[
                    stack_set_action(ctx, "staging", "EnvTypeStagingName"),
                    project.build_action(
                        "TestStaging",
                        test_project,
                        [project.SOURCE_ARTIFACT, project.BUILD_ARTIFACT],
                        run_order=2,
                        primary=project.SOURCE_ARTIFACT,
                    ),
                    codepipeline.Actions(
                        Name="ApproveProductionDeployment",
                        RunOrder=3,
                        ActionTypeId=codepipeline.ActionTypeId(
                            Category="Approval", Owner="AWS", Provider="Manual", Version="1"
                        ),
                        Configuration={
                            "CustomData": Sub(
                                "Approve the production deployment of the model tested in staging "
                                "(SageMaker project ${SageMakerProjectName})"
                            )
                        },
                    ),
                ],
            ),
            codepipeline.Stages(Name="DeployModelProd", Actions=[stack_set_action(ctx, "prod", "EnvTypeProdName")]),
        ],
    )
    approval_rule(ctx, t, pipe)
    project.push_rule(ctx, t, "ModelDeployCodeCommitEventRule", "-code", repo, pipe)
    project.outputs(t, repo, pipe, bucket)
    return t


# What the endpoint template receives from the build (kept here so the tests find the seed code's contract).
BUILD_OWNED_PARAMETERS = (
    "SageMakerProjectName",
    "SageMakerProjectId",
    "ModelPackageName",
    endpoint.MODEL_ROLE.name,
    "EnvName",
    "EnvType",
    endpoint.SUBNETS.name,
    endpoint.SECURITY_GROUPS.name,
    endpoint.VOLUME_KEY.name,
)
