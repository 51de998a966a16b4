"""End to end on moto: a multi-account model deployment as the model deploy pipeline runs it.

1. The deploy seed code's build (seed_code/model-deploy/build.py) runs against the moto server in the development
   account: the newest approved package of the group, the stage configurations and the per-stage target files
   from the environment's account lists, and the model package group's policy for the target accounts' roles.
2. The StackSet deploy action of each stage, done with the real AWS CLI as CodePipeline's CloudFormationStackSet
   action does it: ``create-stack-set`` (self-managed, the environment's administration role and execution role
   name) with the build's template and parameters file, then ``create-stack-instances`` for the accounts of the
   stage's targets file.
3. In every target account (moto accounts reached with an assumed role's credentials), the endpoint the instance
   created: the development account's EBS key on its volumes, the account's own private subnets and security
   group (its SSM parameters, different per account), the account's model execution role.

moto does not implement PutModelPackageGroupPolicy: the call is answered in the client and its policy checked.
"""

from __future__ import annotations

import json

import pytest

from tests import support_project
from tests.support_moto import ACCOUNT_ID, aws
from tests.test_e2e_multi_account import Accounts

pytestmark = pytest.mark.e2e

REGION = "us-east-1"
ENV = "sm-mlops"
GROUP = "churn-build-p-abc123def456"
STAGING, PROD = ["333333333333", "444444444444"], ["555555555555"]
MODEL_ROLE, STACKSET_ROLE = support_project.MODEL_ROLE, support_project.STACKSET_ROLE
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/{ENV}-dev-deploy-admin"  # the model deployments' administrator
EBS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def network(account: str) -> tuple[str, str]:
    """Distinct per account, so the endpoint shows which account's SSM parameters it read."""
    return (f"subnet-{account[:8]}0000000a,subnet-{account[:8]}0000000b", f"sg-{account[:8]}000000000")


@pytest.fixture
def build_output(moto, monkeypatch, tmp_path):
    source = support_project.deploy_checkout(tmp_path / "src")
    # An approved package, then a newer one still pending: the approved one is deployed.
    support_project.approved_package(moto, GROUP, ("Approved", "PendingManualApproval"))
    policies = []
    session = support_project.moto_session(moto, monkeypatch, policies)
    build = support_project.load_deploy_build()
    settings = support_project.deploy_settings(
        build,
        GROUP,
        MULTI_ACCOUNT_DEPLOYMENT="YES",
        STAGING_ACCOUNT_LIST=",".join(STAGING),
        PROD_ACCOUNT_LIST=",".join(PROD),
        EBS_KMS_KEY_ARN=EBS_KEY,
    )
    result = build.run(source, tmp_path / "out", settings, session=session)
    return tmp_path / "out", result, policies


def deploy_stage(moto, output, stage: str, config: str) -> list[str]:
    """What the stage's CloudFormationStackSet action does, with the CLI."""
    name = f"sagemaker-churn-deploy-p-999deploy999-deploy-{stage}"
    aws(
        moto,
        "cloudformation",
        "create-stack-set",
        "--stack-set-name",
        name,
        "--template-body",
        (output / "cfn-sm-endpoint.yaml").as_uri(),
        "--parameters",
        (output / f"{config}.json").as_uri(),
        "--permission-model",
        "SELF_MANAGED",
        "--administration-role-arn",
        ADMIN_ROLE,
        "--execution-role-name",
        STACKSET_ROLE,
    )
    targets = json.loads((output / f"{stage}-targets.json").read_text())
    aws(
        moto,
        "cloudformation",
        "create-stack-instances",
        "--stack-set-name",
        name,
        "--accounts",
        *targets,
        "--regions",
        REGION,
    )
    return targets


def test_multi_account_deployment_creates_each_stages_endpoints_in_its_accounts(moto, build_output):
    output, result, policies = build_output
    assert json.loads((output / "staging-targets.json").read_text()) == STAGING
    assert json.loads((output / "prod-targets.json").read_text()) == PROD
    assert result["model_package_arn"].endswith(f"model-package/{GROUP}/1")  # the approved one, not the newer
    # The group's policy lets exactly the target accounts' StackSet execution and model execution roles read it.
    ((group, policy),) = policies
    assert group == GROUP
    principals = {
        p
        for s in policy["Statement"]
        for p in (s["Principal"]["AWS"] if isinstance(s["Principal"]["AWS"], list) else [s["Principal"]["AWS"]])
    }
    assert principals == {f"arn:aws:iam::{a}:role/{r}" for a in STAGING + PROD for r in (MODEL_ROLE, STACKSET_ROLE)}

    accounts = Accounts(moto)
    for account in STAGING + PROD:
        subnets, group = network(account)
        ssm = accounts(account)("ssm")
        stage = "staging" if account in STAGING else "prod"
        ssm.put_parameter(Name=f"{ENV}-{stage}-private-subnet-ids", Value=subnets, Type="String")
        ssm.put_parameter(Name=f"{ENV}-{stage}-sagemaker-sg-ids", Value=group, Type="String")

    assert deploy_stage(moto, output, "staging", "staging-config") == STAGING
    for account in STAGING + PROD:
        endpoints = accounts(account)("sagemaker").list_endpoints()["Endpoints"]
        assert len(endpoints) == (1 if account in STAGING else 0), account  # production waits for the approval
    assert deploy_stage(moto, output, "prod", "prod-config") == PROD

    for account in STAGING + PROD:
        sagemaker = accounts(account)("sagemaker")
        (summary,) = sagemaker.list_endpoints()["Endpoints"]
        described = sagemaker.describe_endpoint(EndpointName=summary["EndpointName"])
        config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        assert config["KmsKeyId"] == EBS_KEY, account
        (variant,) = config["ProductionVariants"]
        assert variant["InitialInstanceCount"] == (1 if account in STAGING else 2), account
        model = sagemaker.describe_model(ModelName=variant["ModelName"])
        subnets, group = network(account)
        assert model["VpcConfig"] == {"Subnets": subnets.split(","), "SecurityGroupIds": [group]}, account
        assert model["ExecutionRoleArn"] == f"arn:aws:iam::{account}:role/{MODEL_ROLE}", account
        assert model["PrimaryContainer"]["ModelPackageName"] == result["model_package_arn"]
        # (The endpoints' tags are checked in tests/test_e2e_endpoint.py: moto's ListTags fails with HTTP 500 for
        # a resource of another account's session.)
    # Nothing was deployed in the development account itself.
    assert moto.client("sagemaker").list_endpoints()["Endpoints"] == []
