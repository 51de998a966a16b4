"""An MLOps project as SageMaker creates it: its parameters and what the environment configuration function
answers for a (development) environment, for rendering the project templates offline."""

from __future__ import annotations

import json

from templates_src.blocks import project

PROJECT = {"SageMakerProjectName": "Churn-Model", "SageMakerProjectId": "p-abc123def456"}
ENVIRONMENT = {
    "VpcId": "vpc-0123456789abcdef0", "SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "SecurityGroups": "sg-0123456789abcdef0", "EnvironmentName": "sm-mlops", "EnvironmentType": "dev",
    "DataBucketName": "sm-mlops-dev-us-east-1-123456789012-data",
    "ModelBucketName": "sm-mlops-dev-us-east-1-123456789012-models",
    "S3KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
    "EbsKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000",
    "PipelineExecutionRoleArn": "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-sm-pipeline",
    "SeedCodeS3BucketName": "release-bucket",
    "StagingAccountList": "333333333333,444444444444", "ProductionAccountList": "555555555555",
    "OrganizationalUnitStagingId": "", "OrganizationalUnitProdId": "",
    "ModelExecutionRoleName": "sm-mlops-dev-us-east-1-sm-model-exec",
    "StackSetExecutionRoleName": "sm-mlops-dev-us-east-1-stackset-exec",
    "StackSetAdministrationRoleArn": "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-stackset-admin",
    "EnvTypeStagingName": "staging", "EnvTypeProdName": "prod",
}


def with_environment(template: dict) -> dict:
    """A copy of a project template whose environment lookup answers ENVIRONMENT (its function is the core's
    export, which an offline rendering cannot import)."""
    template = json.loads(json.dumps(template))
    lookup = template["Resources"][project.ENV_CONFIG]
    lookup["Metadata"] = {"Cloud-Radar": {"attribute-values": ENVIRONMENT}}
    lookup["Properties"]["ServiceToken"] = "arn:aws:lambda:us-east-1:123456789012:function:core-get-env"
    return template
