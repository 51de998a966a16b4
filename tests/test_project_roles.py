"""The MLOps projects' pipelines run as SageMaker's products use role: it must allow what their builds call.

* The model deploy build (seed_code/model-deploy/build.py) is run against the moto server with every AWS call
  recorded, single-account and multi-account (account lists, organizational units), and each recorded call is
  evaluated against the use role's policy as IAM would authorize it (tests/support_iam.py).
* The model build/train build drives the SageMaker Python SDK for hours against real SageMaker; its calls are the
  reviewed list BUILD_TRAIN_CALLS (from the seed code and the SDK's pipeline API), evaluated the same way, and
  the endpoint test's calls likewise.
The deploying-role check (tests/test_iam_coverage.py) covers what the templates and the StackSet actions need.
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import sys

import boto3
from botocore.awsrequest import AWSResponse
import pytest

from templates_src import iam_coverage
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected, build_template, render
from templates_src.iam_policy import Resolver, request, role_statements
from templates_src.naming import SAGEMAKER_PRODUCTS_USE_ROLE
from templates_src.templates.project import cfn_sm_endpoint_template as endpoint
from tests.support_iam import code_needs, record_calls

REPO = pathlib.Path(__file__).resolve().parents[1]
SEED = REPO / "seed_code" / "model-deploy"
REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's
GROUP = "churn-build-p-abc123def456"
ENV = "sm-mlops"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ENV}-dev-{REGION}-sm-pipeline"
MODEL_ROLE = f"{ENV}-dev-{REGION}-sm-model-exec"


def use_role_statements(config: Config):
    template = build_selected(["core-iam-sc-sm-projects-roles"], BuildContext(config))["core-iam-sc-sm-projects-roles"]
    resolver = Resolver(template, {}, pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
                        arn_of=lambda r, lid, res: iam_coverage.own_arns(r, lid, res))
    statements, unreadable = role_statements(template, SAGEMAKER_PRODUCTS_USE_ROLE, resolver)
    assert not unreadable
    return statements


def assert_allowed(needs, config: Config = Config()):
    coverage = iam_coverage.check(SAGEMAKER_PRODUCTS_USE_ROLE, use_role_statements(config), needs, [])
    assert not coverage.missing, "\n".join(coverage.report())
    assert not coverage.by_status("conditional"), "\n".join(coverage.report())
    return coverage


def _load_build():
    spec = importlib.util.spec_from_file_location("model_deploy_build_for_roles", SEED / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def checkout(tmp_path):
    """The deploy repository as a project gets it: the seed code and the generated endpoint template."""
    if not SEED.is_dir():
        pytest.skip("seed_code/model-deploy is absent")
    source = tmp_path / "src"
    shutil.copytree(SEED, source, ignore=shutil.ignore_patterns("tests", "__pycache__", ".pytest_cache"))
    (source / f"{endpoint.NAME}.yaml").write_text(render(build_template(endpoint.NAME, BuildContext(Config())),
                                                         ".yaml"))
    return source


def session_on(moto, monkeypatch) -> boto3.session.Session:
    for key, value in moto.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return boto3.session.Session(region_name=REGION)


def approved_package(moto):
    sm = moto.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
                            InferenceSpecification={"Containers": [{"Image": "xgboost:latest",
                                                                    "ModelDataUrl": "s3://models/model.tar.gz"}],
                                                    "SupportedContentTypes": ["text/csv"],
                                                    "SupportedResponseMIMETypes": ["text/csv"]})


def settings(build, **multi):
    values = {"SAGEMAKER_PROJECT_NAME": "churn-deploy", "SAGEMAKER_PROJECT_ID": "p-999deploy999", "ENV_NAME": ENV,
              "ENV_TYPE": "dev", "MODEL_PACKAGE_GROUP_NAME": GROUP, "MODEL_EXECUTION_ROLE_NAME": MODEL_ROLE,
              "STACKSET_EXECUTION_ROLE_NAME": f"{ENV}-dev-{REGION}-stackset-exec", "ROLE_PATH": "/",
              "EBS_KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
              "CFN_TEMPLATE_NAME": "cfn-sm-endpoint", **multi}
    return build.Settings.from_env(values)


def run_recorded(build, checkout, tmp_path, session, values) -> list:
    def answer_policy(**kwargs):  # moto has no PutModelPackageGroupPolicy: answered here, still recorded
        return {"ResponseMetadata": {"HTTPStatusCode": 200}, "ModelPackageGroupArn": "arn"}

    session.events.register("before-call.sagemaker.PutModelPackageGroupPolicy",
                            lambda **kwargs: (AWSResponse(None, 200, {}, None), answer_policy()))
    with record_calls(session) as calls:
        build.run(checkout, tmp_path / "out", values, session=session)
    return calls


@pytest.mark.parametrize("mode", ["single-account", "account-lists", "organizational-units"])
def test_use_role_allows_every_call_of_the_deploy_build(moto, monkeypatch, checkout, tmp_path, mode):
    build = _load_build()
    session = session_on(moto, monkeypatch)
    approved_package(moto)
    multi = {}
    if mode == "account-lists":
        multi = {"MULTI_ACCOUNT_DEPLOYMENT": "YES", "STAGING_ACCOUNT_LIST": "333333333333,444444444444",
                 "PROD_ACCOUNT_LIST": "555555555555"}
    elif mode == "organizational-units":
        org = moto.client("organizations")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        ous = {}
        for stage in ("staging", "prod"):
            ou = org.create_organizational_unit(ParentId=root, Name=stage)["OrganizationalUnit"]["Id"]
            account = org.create_account(AccountName=stage, Email=f"{stage}@example.com")["CreateAccountStatus"]
            org.move_account(AccountId=account["AccountId"], SourceParentId=root, DestinationParentId=ou)
            ous[stage] = ou
        multi = {"MULTI_ACCOUNT_DEPLOYMENT": "YES", "STAGING_OU_ID": ous["staging"], "PROD_OU_ID": ous["prod"]}
    calls = run_recorded(build, checkout, tmp_path, session, settings(build, **multi))
    operations = {(service, operation) for service, operation, _ in calls}
    assert ("sagemaker", "ListModelPackages") in operations or ("api.sagemaker", "ListModelPackages") in operations
    if mode != "single-account":
        assert any(op == "PutModelPackageGroupPolicy" for _, op in operations)
    if mode == "organizational-units":
        assert ("organizations", "ListAccountsForParent") in operations
    coverage = assert_allowed(code_needs(calls, REGION, ACCOUNT, "model-deploy build"))
    assert len(coverage.findings) >= 2  # at least the group and its packages


# What the model build/train build calls (buildspec.yml and pipelines/run_pipeline.py through the SDK's
# Pipeline.upsert/start and the execution's waiter), and the deploy project's endpoint test.
PIPELINE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/sagemaker-churn-build-p-abc123def456"
DATA = f"{ENV}-dev-{REGION}-{ACCOUNT}-data"
BUILD_TRAIN_CALLS = [
    *((f"sagemaker:{action}", PIPELINE, {}) for action in (
        "CreatePipeline", "UpdatePipeline", "DescribePipeline", "StartPipelineExecution", "ListTags")),
    ("sagemaker:AddTags", PIPELINE, {"aws:TagKeys": ["EnvironmentName", "EnvironmentType"]}),
    *((f"sagemaker:{action}", f"{PIPELINE}/execution/abcdef123456", {}) for action in (
        "DescribePipelineExecution", "ListPipelineExecutionSteps")),
    ("iam:PassRole", PIPELINE_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ("s3:ListBucket", f"arn:aws:s3:::{DATA}", {"s3:prefix": "datasets/abalone/"}),
    *((f"s3:{action}", f"arn:aws:s3:::{DATA}/datasets/abalone/abalone.csv", {})
      for action in ("GetObject", "PutObject")),
    ("s3:PutObject", f"arn:aws:s3:::{DATA}/churn-build-p-abc123def456/code/0123abcd/preprocess.py", {}),
    ("kms:GenerateDataKey", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", {}),
]
ENDPOINT_TEST_CALLS = [
    ("sts:AssumeRole", f"arn:aws:iam::333333333333:role/{MODEL_ROLE}", {}),
    ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/{MODEL_ROLE}", {}),
    *((f"codebuild:{action}", f"arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/"
       "sagemaker-churn-deploy-p-999deploy999-modeldeploy-test-endpoint-tests", {})
      for action in ("CreateReportGroup", "CreateReport", "UpdateReport", "BatchPutTestCases")),
]


@pytest.mark.parametrize("calls", [BUILD_TRAIN_CALLS, ENDPOINT_TEST_CALLS], ids=["build-train", "endpoint-test"])
def test_use_role_allows_the_build_train_and_endpoint_test_calls(calls):
    needs = [iam_coverage.Need(action, "project build", "reviewed call",
                               requests=(request(action, resource, True, context, complete=True),))
             for action, resource, context in calls]
    assert_allowed(needs)


def test_use_role_does_not_reach_other_accounts_roles_or_studio():
    """Narrowed, not open: another role of a target account, another pipeline role, Studio itself."""
    statements = use_role_statements(Config())
    from templates_src.iam_policy import evaluate
    for action, resource, context in [
        ("sts:AssumeRole", "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("sagemaker:DeleteDomain", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/d-abc", {}),
        ("organizations:MoveAccount", "arn:aws:organizations::999999999999:account/o-x/333333333333", {}),
    ]:
        decision = evaluate(statements, request(action, resource, True, context, complete=True))
        assert not decision.allowed, (action, resource)
