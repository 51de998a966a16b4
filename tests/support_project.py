"""An MLOps project as SageMaker creates it: its parameters and what the environment configuration function
answers for a (development) environment, for rendering the project templates offline."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import sys

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from templates_src.blocks import project

PROJECT = {"SageMakerProjectName": "Churn-Model", "SageMakerProjectId": "p-abc123def456"}
ENVIRONMENT = {
    "VpcId": "vpc-0123456789abcdef0",
    "SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "SecurityGroups": "sg-0123456789abcdef0",
    "EnvironmentName": "sm-mlops",
    "EnvironmentType": "dev",
    "DataBucketName": "sm-mlops-dev-us-east-1-123456789012-data",
    "ModelBucketName": "sm-mlops-dev-us-east-1-123456789012-models",
    "S3KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "EbsKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000",
    "PipelineExecutionRoleArn": "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-sm-pipeline",
    "SeedCodeS3BucketName": "release-bucket",
    "StagingAccountList": "333333333333,444444444444",
    "ProductionAccountList": "555555555555",
    "OrganizationalUnitStagingId": "",
    "OrganizationalUnitProdId": "",
    "ModelExecutionRoleName": "sm-mlops-dev-us-east-1-sm-model-exec",
    "StackSetExecutionRoleName": "sm-mlops-dev-us-east-1-stackset-exec",
    "StackSetAdministrationRoleArn": "arn:aws:iam::123456789012:role/sm-mlops-dev-deploy-admin",
    "TargetAccountsStackSetName": "",
    "StackSetCallAs": "",  # organizational units only
    "EnvTypeStagingName": "staging",
    "EnvTypeProdName": "prod",
}
# The project role each kind reads from the environment (its SSM contract's ProjectRoleArn).
PROJECT_ROLES = {
    "sm-model-build-role-arn": "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-sm-model-build",
    "sm-model-deploy-role-arn": "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-sm-model-deploy",
}


def with_environment(template: dict) -> dict:
    """A copy of a project template whose environment lookup answers ENVIRONMENT (its function is the core's
    export, which an offline rendering cannot import)."""
    text = json.dumps(template)
    template = json.loads(text)
    lookup = template["Resources"][project.ENV_CONFIG]
    role = [arn for suffix, arn in PROJECT_ROLES.items() if f"/{suffix}" in text or f'"{suffix}"' in text]
    assert len(role) == 1, "a project template reads exactly one project role"
    lookup["Metadata"] = {"Cloud-Radar": {"attribute-values": {**ENVIRONMENT, "ProjectRoleArn": role[0]}}}
    lookup["Properties"]["ServiceToken"] = "arn:aws:lambda:us-east-1:123456789012:function:core-get-env"
    return template


# -- the model deploy seed code's build, run against the moto server --------------------------------------------
MODEL_ROLE, STACKSET_ROLE = "sm-mlops-dev-us-east-1-sm-model-exec", "sm-mlops-dev-us-east-1-stackset-exec"
SEED_DEPLOY = pathlib.Path(__file__).resolve().parents[1] / "seed_code" / "model-deploy"


def load_deploy_build():
    """seed_code/model-deploy/build.py as a module (it is a script of the project's repository, not a package)."""
    spec = importlib.util.spec_from_file_location("seed_model_deploy_build", SEED_DEPLOY / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def deploy_checkout(folder: pathlib.Path) -> pathlib.Path:
    """The deploy repository as a project gets it: the seed code and the generated endpoint template."""
    from templates_src.config import Config
    from templates_src.context import BuildContext
    from templates_src.generator import build_template, render
    from templates_src.templates.project import cfn_sm_endpoint_template as endpoint

    if not SEED_DEPLOY.is_dir():
        pytest.skip("seed_code/model-deploy is absent")
    shutil.copytree(SEED_DEPLOY, folder, ignore=shutil.ignore_patterns("tests", "__pycache__", ".pytest_cache"))
    (folder / f"{endpoint.NAME}.yaml").write_text(
        render(build_template(endpoint.NAME, BuildContext(Config())), ".yaml")
    )
    return folder


def moto_session(moto, monkeypatch, policies: list | None = None) -> boto3.session.Session:
    """A boto3 session on the moto server as CodeBuild's would be (environment credentials and endpoint).  moto has
    no PutModelPackageGroupPolicy: the session answers it itself (still recorded by record_calls, which runs
    first) and appends the policy to ``policies``."""
    for key, value in moto.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    session = boto3.session.Session(region_name=moto.region)

    def put_policy(params, **kwargs):  # params: the serialized request (a JSON body)
        if policies is not None:
            body = json.loads(params["body"])
            policies.append((body["ModelPackageGroupName"], json.loads(body["ResourcePolicy"])))
        return AWSResponse(None, 200, {}, None), {"ModelPackageGroupArn": "arn"}

    session.events.register("before-call.sagemaker.PutModelPackageGroupPolicy", put_policy)
    return session


def answer_stack_instances(session, instances: list[tuple[str, str]]) -> None:
    """The session answers ListStackInstances itself (moto's service-managed stack instances carry no
    OrganizationalUnitId): (account, OU) per instance of the environment's target-account StackSet."""

    def list_instances(params, **kwargs):
        return AWSResponse(None, 200, {}, None), {
            "Summaries": [
                {
                    "StackSetId": "stack-set:1",
                    "Region": "us-east-1",
                    "Account": account,
                    "Status": "CURRENT",
                    "OrganizationalUnitId": ou,
                }
                for account, ou in instances
            ]
        }

    session.events.register("before-call.cloudformation.ListStackInstances", list_instances)


def approved_package(moto, group: str, statuses=("Approved",)) -> None:
    """A model package group in moto's registry with packages of these statuses, oldest first."""
    sm = moto.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=group)
    container = {
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
        "ModelDataUrl": "s3://models/churn/model.tar.gz",
    }
    for status in statuses:
        sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )


def deploy_settings(build, group: str, **environment):
    """The deploy build's settings as the project's CodeBuild project sets them (a development environment
    sm-mlops in us-east-1, moto's account), with ``environment`` on top."""
    account, region = "123456789012", "us-east-1"
    return build.Settings.from_env(
        {
            "SAGEMAKER_PROJECT_NAME": "churn-deploy",
            "SAGEMAKER_PROJECT_ID": "p-999deploy999",
            "ENV_NAME": "sm-mlops",
            "ENV_TYPE": "dev",
            "MODEL_PACKAGE_GROUP_NAME": group,
            "MODEL_EXECUTION_ROLE_NAME": MODEL_ROLE,
            "STACKSET_EXECUTION_ROLE_NAME": STACKSET_ROLE,
            "ROLE_PATH": "/",
            "CFN_TEMPLATE_NAME": "cfn-sm-endpoint",
            "EBS_KMS_KEY_ARN": f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            **environment,
        }
    )
