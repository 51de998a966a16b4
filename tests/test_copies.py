"""Facts that code outside the package has to spell by itself, tied to their one definition in templates_src.

Lambda handler modules (templates_src/functions) are inlined or zipped into templates and run alone in Lambda; the
seed code (seed_code/) runs in the projects' CodeBuild builds without this package.  Neither can import the
definitions, so each copy is compared with its definition here: a change on one side fails until the other follows.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

from botocore.exceptions import ClientError

from templates_src.blocks import environment
from tests import support_project
from tests.support_cfn import load_source

SEED = pathlib.Path(__file__).resolve().parents[1] / "seed_code"
ENVIRONMENT_TAGS = (environment.ENV_NAME_TAG, environment.ENV_TYPE_TAG)


# -- the core's environment configuration function ---------------------------------------------------------------
def test_the_environment_configuration_function_reads_the_environments_tags_and_domain_parameter():
    function = load_source("get_environment_configuration")
    assert function.TAGS == ENVIRONMENT_TAGS
    assert function.DOMAIN_SSM == environment.SAGEMAKER_DOMAIN_ID_SSM


# -- the Studio stack's clean-up functions -----------------------------------------------------------------------
def test_the_home_file_system_release_finds_the_file_systems_by_sagemakers_tag():
    assert load_source("studio_cleanup").TAG == environment.SAGEMAKER_HOME_FS_TAG


# -- the model deploy seed code's build --------------------------------------------------------------------------
class _NewGroup:
    """SageMaker as the build finds it before the project's first model: no model package group yet."""

    def __init__(self):
        self.created = {}

    def describe_model_package_group(self, **kwargs):
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "no group"}}, "Describe")

    def create_model_package_group(self, **kwargs):
        self.created = kwargs
        return {"ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/g"}


def test_the_deploy_build_tags_the_model_package_group_with_the_environments_tags():
    build = support_project.load_deploy_build()
    settings = support_project.deploy_settings(build, "churn-p-abc123")
    sagemaker = _NewGroup()
    build.ensure_model_package_group(sagemaker, settings)
    tags = {t["Key"]: t["Value"] for t in sagemaker.created["Tags"]}
    assert {k: v for k, v in tags.items() if not k.startswith("sagemaker:")} == dict(
        zip(ENVIRONMENT_TAGS, (settings.env_name, settings.env_type), strict=True)
    )


def test_the_deploy_build_names_the_ssm_parameters_each_stage_writes():
    """The endpoint template resolves the names the build passes: the ones env-vpc and env-target-account-network
    write in each account of a stage."""
    build = support_project.load_deploy_build()
    settings = support_project.deploy_settings(build, "churn-p-abc123")
    for stage in settings.stages:
        given = {
            p["ParameterKey"]: p["ParameterValue"]
            for p in build.stage_parameters(settings, stage, "arn:aws:sagemaker:::model-package/g/1", {})
        }
        prefix = f"{settings.env_name}-{stage.name}-"
        assert given["SageMakerSubnetIds"] == prefix + environment.PRIVATE_SUBNET_IDS_SSM
        assert given["SageMakerSecurityGroupIds"] == prefix + environment.SECURITY_GROUP_IDS_SSM


def test_the_deploy_build_puts_data_capture_where_the_model_roles_may_write():
    assert support_project.load_deploy_build().DATA_CAPTURE_PREFIX == environment.DATA_CAPTURE_PREFIX


# -- the model build/train seed code's pipeline runner -----------------------------------------------------------
def _run_pipeline():
    """seed_code/model-build-train/pipelines/run_pipeline.py (standard library only at import)."""
    path = SEED / "model-build-train" / "pipelines" / "run_pipeline.py"
    spec = importlib.util.spec_from_file_location("seed_build_run_pipeline_for_copies", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_pipeline_runner_tags_with_the_environments_tags():
    tags = [key for key, _variable in _run_pipeline().TAGS_FROM_ENVIRONMENT if not key.startswith("sagemaker:")]
    assert tuple(tags) == ENVIRONMENT_TAGS
