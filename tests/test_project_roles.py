"""The MLOps projects' pipelines and builds run as the environment's project roles (env-iam): the model build
role (build/train projects: code data scientists push) and the model deploy role (deploy projects: reviewed
code). Each must allow what its builds call.

* The model deploy build (seed_code/model-deploy/build.py) is run against the moto server with every AWS call
  recorded, single-account and multi-account (account lists, organizational units), and each recorded call is
  evaluated against the model deploy role's policies as IAM would authorize it (tests/support_iam.py).
* The model build/train build drives the SageMaker Python SDK for hours against real SageMaker; its calls are the
  reviewed list BUILD_TRAIN_CALLS (from the seed code and the SDK's pipeline API), evaluated against the model
  build role the same way, and the endpoint test's calls against the model deploy role.
The deploying-role check (tests/test_iam_coverage.py) covers what the templates and the StackSet actions need.
"""

from __future__ import annotations

import pytest

from templates_src.checks import iam_coverage
from templates_src.checks.iam_policy import Resolver, request, role_statements
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from tests import support_project
from tests.support_iam import code_needs, record_calls

REGION, ACCOUNT = "us-east-1", "123456789012"  # moto's
GROUP = "churn-build-p-abc123def456"
ENV = "sm-mlops"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ENV}-dev-{REGION}-sm-pipeline"
MODEL_ROLE = support_project.MODEL_ROLE


BUILD_ROLE, DEPLOY_ROLE = "SageMakerModelBuildRole", "SageMakerModelDeployRole"


def project_role_statements(role: str, config: Config | None = None):
    config = config or Config()
    template = build_selected(["env-iam"], BuildContext(config))["env-iam"]
    resolver = Resolver(
        template,
        {"EnvName": ENV, "EnvType": "dev"},
        pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
        arn_of=lambda r, lid, res: iam_coverage.own_arns(r, lid, res),
    )
    statements, unreadable = role_statements(template, role, resolver)
    assert not unreadable
    return statements


def assert_allowed(role: str, needs, config: Config | None = None):
    coverage = iam_coverage.check(role, project_role_statements(role, config), needs, [])
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
def test_model_deploy_role_allows_every_call_of_the_deploy_build(moto, monkeypatch, checkout, tmp_path, mode):
    build = support_project.load_deploy_build()
    session = support_project.moto_session(moto, monkeypatch)
    support_project.approved_package(moto, GROUP)
    multi = {}
    if mode == "account-lists":
        multi = {
            "MULTI_ACCOUNT_DEPLOYMENT": "YES",
            "STAGING_ACCOUNT_LIST": "333333333333,444444444444",
            "PROD_ACCOUNT_LIST": "555555555555",
        }
    elif mode == "organizational-units":
        # The accounts the environment set up in each OU: its target-account StackSet's stack instances.
        support_project.answer_stack_instances(
            session, [("333333333333", "ou-abcd-11111111"), ("555555555555", "ou-abcd-22222222")]
        )
        multi = {
            "MULTI_ACCOUNT_DEPLOYMENT": "YES",
            "STAGING_OU_ID": "ou-abcd-11111111",
            "PROD_OU_ID": "ou-abcd-22222222",
            "STACKSET_CALL_AS": "DELEGATED_ADMIN",
            "TARGET_ACCOUNTS_STACKSET": f"ds-{ENV}-dev-target-account-roles",
        }
    calls = run_recorded(build, checkout, tmp_path, session, support_project.deploy_settings(build, GROUP, **multi))
    operations = {(service, operation) for service, operation, _ in calls}
    assert ("sagemaker", "ListModelPackages") in operations or ("api.sagemaker", "ListModelPackages") in operations
    if mode != "single-account":
        assert any(op == "PutModelPackageGroupPolicy" for _, op in operations)
    if mode == "organizational-units":
        assert ("cloudformation", "ListStackInstances") in operations
        assert not [op for service, op in operations if service == "organizations"], "no route to Organizations"
    coverage = assert_allowed(DEPLOY_ROLE, code_needs(calls, REGION, ACCOUNT, "model-deploy build"))
    assert len(coverage.findings) >= 2  # at least the group and its packages


# What the model build/train build calls (buildspec.yml and pipelines/run_pipeline.py through the SDK's
# Pipeline.upsert/start and the execution's waiter), and the deploy project's endpoint test.
PIPELINE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/sagemaker-churn-build-p-abc123def456"
DATA = f"{ENV}-dev-{REGION}-{ACCOUNT}-data"
BUILD_TRAIN_CALLS = [
    *(
        (f"sagemaker:{action}", PIPELINE, {})
        for action in ("CreatePipeline", "UpdatePipeline", "DescribePipeline", "StartPipelineExecution", "ListTags")
    ),
    ("sagemaker:AddTags", PIPELINE, {"aws:TagKeys": ["EnvironmentName", "EnvironmentType"]}),
    *(
        (f"sagemaker:{action}", f"{PIPELINE}/execution/abcdef123456", {})
        for action in ("DescribePipelineExecution", "ListPipelineExecutionSteps")
    ),
    ("iam:PassRole", PIPELINE_ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ("s3:ListBucket", f"arn:aws:s3:::{DATA}", {"s3:prefix": "datasets/abalone/"}),
    *(
        (f"s3:{action}", f"arn:aws:s3:::{DATA}/datasets/abalone/abalone.csv", {})
        for action in ("GetObject", "PutObject")
    ),
    ("s3:PutObject", f"arn:aws:s3:::{DATA}/churn-build-p-abc123def456/code/0123abcd/preprocess.py", {}),
]
# Its use of the environment's S3 key (kms:GenerateDataKey, Decrypt) is granted by the key policy, which names the
# role: evaluated with the key policy in tests/test_flows.py.
ENDPOINT_TEST_CALLS = [
    ("sts:AssumeRole", f"arn:aws:iam::333333333333:role/{MODEL_ROLE}", {}),
    ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/{MODEL_ROLE}", {}),
    *(
        (
            f"codebuild:{action}",
            f"arn:aws:codebuild:{REGION}:{ACCOUNT}:report-group/"
            "sagemaker-churn-deploy-p-999deploy999-modeldeploy-test-endpoint-tests",
            {},
        )
        for action in ("CreateReportGroup", "CreateReport", "UpdateReport", "BatchPutTestCases")
    ),
]


@pytest.mark.parametrize(
    "role,calls",
    [(BUILD_ROLE, BUILD_TRAIN_CALLS), (DEPLOY_ROLE, ENDPOINT_TEST_CALLS)],
    ids=["build-train", "endpoint-test"],
)
def test_project_roles_allow_the_build_train_and_endpoint_test_calls(role, calls):
    needs = [
        iam_coverage.Need(
            action,
            "project build",
            "reviewed call",
            requests=(request(action, resource, True, context, complete=True),),
        )
        for action, resource, context in calls
    ]
    assert_allowed(role, needs)


@pytest.mark.parametrize("role", [BUILD_ROLE, DEPLOY_ROLE])
def test_project_roles_do_not_reach_other_accounts_roles_or_studio(role):
    """Narrowed, not open: another role of a target account, another role to pass, Studio itself, the
    organization, a model approval."""
    statements = project_role_statements(role)
    from templates_src.checks.iam_policy import evaluate

    for action, resource, context in [
        ("sts:AssumeRole", "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole", {}),
        ("sts:AssumeRole", f"arn:aws:iam::333333333333:role/{ENV}-staging-stackset-setup", {}),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        ("sagemaker:DeleteDomain", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/d-abc", {}),
        (
            "sagemaker:UpdateModelPackage",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1",
            {"sagemaker:ModelApprovalStatus": "Approved"},
        ),
        ("organizations:MoveAccount", "arn:aws:organizations::999999999999:account/o-x/333333333333", {}),
    ]:
        decision = evaluate(statements, request(action, resource, True, context, complete=True))
        assert not decision.allowed, (action, resource)
