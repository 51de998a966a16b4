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

import pytest

from templates_src import iam_coverage
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.iam_policy import Resolver, request, role_statements
from templates_src.naming import SAGEMAKER_PRODUCTS_USE_ROLE
from tests import support_project
from tests.support_iam import code_needs, record_calls

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's
GROUP = "churn-build-p-abc123def456"
ENV = "sm-mlops"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ENV}-dev-{REGION}-sm-pipeline"
MODEL_ROLE = support_project.MODEL_ROLE


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


@pytest.fixture
def checkout(tmp_path):
    return support_project.deploy_checkout(tmp_path / "src")


def run_recorded(build, checkout, tmp_path, session, values) -> list:
    with record_calls(session) as calls:
        build.run(checkout, tmp_path / "out", values, session=session)
    return calls


@pytest.mark.parametrize("mode", ["single-account", "account-lists", "organizational-units"])
def test_use_role_allows_every_call_of_the_deploy_build(moto, monkeypatch, checkout, tmp_path, mode):
    build = support_project.load_deploy_build()
    session = support_project.moto_session(moto, monkeypatch)
    support_project.approved_package(moto, GROUP)
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
    calls = run_recorded(build, checkout, tmp_path, session, support_project.deploy_settings(build, GROUP, **multi))
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
