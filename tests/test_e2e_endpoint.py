"""End to end on moto with the real AWS CLI: the model endpoint template as the model deploy pipeline deploys it
in a stage's account (one stack instance), its network read from the stage's SSM parameters.

The project templates themselves are not deployed here: moto skips CodeCommit, CodeBuild and CodePipeline
resources (the stack would say CREATE_COMPLETE having created nothing of them), and their environment lookup is a
Lambda-backed custom resource, which moto runs only with Docker.  They are checked offline
(tests/test_project_templates.py) and by the deploying-role check.

moto creates the model without EnableNetworkIsolation (its CloudFormation model takes role, container, VPC and
tags only) and names endpoints itself: both are checked on the rendered template offline.
"""

from __future__ import annotations

import json

import pytest

from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_template, render
from templates_src.templates.project import cfn_sm_endpoint_template as endpoint
from tests.support_moto import ACCOUNT_ID, aws, wait_for_stack

pytestmark = pytest.mark.e2e

ENV, STAGE = "sm-mlops", "staging"
SUBNETS = "subnet-0123456789abcdef0,subnet-0123456789abcdef1"
GROUPS = "sg-0123456789abcdef0"
VOLUME_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT_ID}:model-package/churn-p-abc123def456/3"
ROLE = "sm-mlops-dev-us-east-1-sm-model-exec"


@pytest.fixture(scope="module")
def template_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("endpoint") / f"{endpoint.NAME}.yaml"
    path.write_text(render(build_template(endpoint.NAME, BuildContext(Config())), ".yaml"))
    return path


def deploy(moto, template_file, stack: str, **extra) -> dict:
    # What the pipeline's build writes (SSM parameter names for the network) plus the stage configuration.
    parameters = {
        "SageMakerProjectName": "Churn",
        "SageMakerProjectId": "p-abc123def456",
        "EnvName": ENV,
        "EnvType": STAGE,
        "ModelPackageName": PACKAGE,
        "ExecutionRoleName": ROLE,
        "SageMakerSubnetIds": f"{ENV}-{STAGE}-private-subnet-ids",
        "SageMakerSecurityGroupIds": f"{ENV}-{STAGE}-sagemaker-sg-ids",
        "VolumeKmsKeyArn": VOLUME_KEY,
        **extra,
    }
    aws(
        moto,
        "cloudformation",
        "create-stack",
        "--stack-name",
        stack,
        "--template-body",
        f"file://{template_file}",
        "--parameters",
        *[f"ParameterKey={k},ParameterValue={v.replace(',', chr(92) + ',')}" for k, v in parameters.items()],
    )
    return wait_for_stack(moto, stack)


def endpoint_name(stack: dict) -> str:
    """The endpoint the stack created, by its output.  moto names endpoints <stack>-Endpoint-<random> instead of
    the template's EndpointName (<project>-<id>-<stage>, checked offline in test_project_templates.py)."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return outputs["EndpointName"]


def test_endpoint_stack_serves_the_package_from_the_stage_network_with_the_volume_key(moto, template_file):
    for suffix, value in (("private-subnet-ids", SUBNETS), ("sagemaker-sg-ids", GROUPS)):
        aws(moto, "ssm", "put-parameter", "--name", f"{ENV}-{STAGE}-{suffix}", "--type", "String", "--value", value)
    stack = deploy(moto, template_file, "sagemaker-churn-deploy-staging")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    sagemaker = moto.client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name(stack))
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    assert config["KmsKeyId"] == VOLUME_KEY
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
    assert not config.get("DataCaptureConfig")  # moto answers an empty mapping for none
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["VpcConfig"] == {"Subnets": SUBNETS.split(","), "SecurityGroupIds": [GROUPS]}
    assert model["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{ROLE}"
    tags = {t["Key"]: t["Value"] for t in sagemaker.list_tags(ResourceArn=described["EndpointArn"])["Tags"]}
    assert tags["sagemaker:deployment-stage"] == STAGE and tags["EnvironmentName"] == ENV


def test_data_capture_and_instance_settings_reach_the_endpoint_configuration(moto, template_file):
    for suffix, value in (("private-subnet-ids", SUBNETS), ("sagemaker-sg-ids", GROUPS)):
        aws(moto, "ssm", "put-parameter", "--name", f"{ENV}-{STAGE}-{suffix}", "--type", "String", "--value", value)
    stack = deploy(
        moto,
        template_file,
        "sagemaker-churn-capture",
        DataCapture="YES",
        DataCaptureSamplingPercentage="20",
        DataCaptureS3Uri="s3://capture-bucket/churn",
        EndpointInstanceCount="2",
        EndpointInstanceType="ml.c5.large",
    )
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    sagemaker = moto.client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name(stack))
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.large", 2)
    capture = config["DataCaptureConfig"]
    assert json.loads(json.dumps(capture))["DestinationS3Uri"] == "s3://capture-bucket/churn"
    assert capture["EnableCapture"] is True and capture["InitialSamplingPercentage"] == 20
