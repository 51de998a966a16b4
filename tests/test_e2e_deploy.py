"""End to end: build the templates, then run the blog post's own deployment commands with the
real AWS CLI against a local moto server (never the internet or a real AWS account).

moto behaviour these tests allow for (moto 5.2.5, awscli 1.46):
* ``aws cloudformation deploy`` (change sets) creates the resources but leaves the stack's
  Outputs empty, so the outputs are checked on a second stack made with ``create-stack``;
* parameter constraints (AllowedPattern, MinLength, MaxLength) are not enforced, so a malformed
  value deploys; the constraint is then checked against the template's own Parameter definition;
* inline policies created by CloudFormation come back as a Python repr, not JSON
  (``support_moto.policy_document`` reads both).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from tests import cfn
from tests.support_moto import ACCOUNT_ID, as_list, aws, policy_document, stack_outputs, statements, wait_for_stack

pytestmark = pytest.mark.e2e

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SETUP_TEMPLATE = "env-iam-setup-stackset-role.yaml"
TARGET_TEMPLATE = "env-iam-target-account-roles.yaml"

# The blog post's values.
STACK_NAME = "sm-mlops-setup-stackset-role"
ENV_NAME = "sm-mlops"
ENV_TYPE = "staging"
SETUP_ROLE_NAME = "sm-mlops-setup-stackset-execution-role"
# The development (administrator) account: deliberately not moto's own account, so a trust
# policy that named the wrong account would show.
ADMIN_ACCOUNT_ID = "210987654321"

ACCOUNT_ID_CONSTRAINT = "must be a 12-digit AWS account id"
KMS_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MODEL_BUCKET = f"sm-mlops-dev-us-east-1-{ACCOUNT_ID}-models"


def load_template(path: pathlib.Path) -> dict:
    return cfn.load(path.read_text())


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> pathlib.Path:
    """Every template, built by the generator's own command line into a temporary directory."""
    output = tmp_path_factory.mktemp("build")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "generate.py"), "build", "--output-dir", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"generate.py build exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    for name in (SETUP_TEMPLATE, TARGET_TEMPLATE):
        assert (output / name).is_file(), f"generate.py build did not write {name}:\n{result.stdout}"
    return output


# The development account's model deploy role, which tests the staging endpoints as each account's model role.
DEPLOY_ROLE = f"arn:aws:iam::{ADMIN_ACCOUNT_ID}:role/{ENV_NAME}-dev-us-east-1-sm-model-deploy"


def role_arn(name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role{path}{name}"


def assert_trusts_only_admin_account_roles(
    document: dict, admin_account_id: str, administrator: str = "stackset-admin"
) -> None:
    """Only the environment's StackSet administration role(s) of the administrator account: the set-up one
    (stackset-admin) for the setup role, the model deployments' one (deploy-admin) for the deployment role."""
    [statement] = statements(document)
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["sts:AssumeRole"]
    assert statement.get("Principal") == {"AWS": f"arn:aws:iam::{admin_account_id}:root"}
    assert statement.get("Condition") == {
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{admin_account_id}:role/{ENV_NAME}-*-{administrator}"}
    }


def boundary_arn() -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy/{ENV_NAME}-{ENV_TYPE}-target-account-boundary"


def assert_no_wildcard_actions(document: dict) -> None:
    for statement in statements(document):
        assert "NotAction" not in statement, statement
        actions = as_list(statement["Action"])
        assert "*" not in actions, statement
        assert not [a for a in actions if a.lower() == "iam:*"], statement


def cli_parameters(**values: str) -> list[str]:
    return [f"ParameterKey={key},ParameterValue={value}" for key, value in values.items()]


def constraint_errors(name: str, definition: dict, value: str) -> list[str]:
    """What CloudFormation checks for a String parameter before it creates anything."""
    broken = []
    pattern = definition.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):  # the whole value must match
        broken.append(f"must match pattern {pattern}")
    if "MinLength" in definition and len(value) < int(definition["MinLength"]):
        broken.append(f"must have length greater than or equal to {definition['MinLength']}")
    if "MaxLength" in definition and len(value) > int(definition["MaxLength"]):
        broken.append(f"must have length less than or equal to {definition['MaxLength']}")
    if "AllowedValues" in definition and value not in [str(v) for v in definition["AllowedValues"]]:
        broken.append(f"must be one of {definition['AllowedValues']}")
    description = definition.get("ConstraintDescription")
    return [f"Parameter {name} failed to satisfy constraint: {description or problem}" for problem in broken]


def test_blog_deploy_command_creates_the_setup_stackset_role(moto, build_dir):
    rc, out, err = aws(
        moto,
        "cloudformation",
        "deploy",
        "--template-file",
        str(build_dir / SETUP_TEMPLATE),
        "--stack-name",
        STACK_NAME,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameter-overrides",
        f"EnvName={ENV_NAME}",
        f"EnvType={ENV_TYPE}",
        f"StackSetExecutionRoleName={SETUP_ROLE_NAME}",
        f"AdministratorAccountId={ADMIN_ACCOUNT_ID}",
    )
    assert rc == 0
    assert f"Successfully created/updated stack - {STACK_NAME}" in out

    # The blog's follow-up command. moto's change-set path leaves Outputs empty (null); real
    # CloudFormation fills them, and then they must name the role.
    _, outputs, _ = aws(
        moto,
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        STACK_NAME,
        "--query",
        "Stacks[0].Outputs[*].[OutputKey, OutputValue]",
    )
    assert outputs is None or dict(map(tuple, outputs)) == {
        "StackSetExecutionRoleName": SETUP_ROLE_NAME,
        "StackSetExecutionRoleArn": role_arn(SETUP_ROLE_NAME),
        "PermissionsBoundaryArn": boundary_arn(),
    }

    stack = wait_for_stack(moto, STACK_NAME)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "EnvName": ENV_NAME,
        "EnvType": ENV_TYPE,
        "StackSetExecutionRoleName": SETUP_ROLE_NAME,
        "AdministratorAccountId": ADMIN_ACCOUNT_ID,
    }
    resources = moto.client("cloudformation").describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    assert sorted((r["LogicalResourceId"], r["ResourceType"], r["PhysicalResourceId"]) for r in resources) == [
        ("SetupStackSetExecutionRole", "AWS::IAM::Role", SETUP_ROLE_NAME),
        ("TargetAccountBoundary", "AWS::IAM::ManagedPolicy", boundary_arn()),
    ]

    _, got, _ = aws(moto, "iam", "get-role", "--role-name", SETUP_ROLE_NAME)
    role = got["Role"]
    assert role["RoleName"] == SETUP_ROLE_NAME
    assert role["Path"] == "/"
    assert role["Arn"] == role_arn(SETUP_ROLE_NAME)
    assert_trusts_only_admin_account_roles(policy_document(role["AssumeRolePolicyDocument"]), ADMIN_ACCOUNT_ID)

    _, listed, _ = aws(moto, "iam", "list-role-policies", "--role-name", SETUP_ROLE_NAME)
    assert listed["PolicyNames"] == ["stackset-setup"]
    _, inline, _ = aws(
        moto, "iam", "get-role-policy", "--role-name", SETUP_ROLE_NAME, "--policy-name", "stackset-setup"
    )
    document = policy_document(inline["PolicyDocument"])
    assert statements(document), document
    assert_no_wildcard_actions(document)
    attached = moto.client("iam").list_attached_role_policies(RoleName=SETUP_ROLE_NAME)["AttachedPolicies"]
    assert attached == []


def test_setup_stackset_role_outputs_with_generated_name(moto, build_dir):
    stack_name = "sm-mlops-setup-stackset-role-generated-name"
    generated = f"{ENV_NAME}-{ENV_TYPE}-stackset-setup"
    aws(
        moto,
        "cloudformation",
        "create-stack",
        "--template-body",
        (build_dir / SETUP_TEMPLATE).as_uri(),
        "--stack-name",
        stack_name,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        *cli_parameters(
            EnvName=ENV_NAME, EnvType=ENV_TYPE, StackSetExecutionRoleName="", AdministratorAccountId=ADMIN_ACCOUNT_ID
        ),
    )
    stack = wait_for_stack(moto, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack

    _, outputs, _ = aws(
        moto,
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        stack_name,
        "--query",
        "Stacks[0].Outputs[*].[OutputKey, OutputValue]",
    )
    assert dict(map(tuple, outputs)) == {
        "StackSetExecutionRoleName": generated,
        "StackSetExecutionRoleArn": role_arn(generated),
        "PermissionsBoundaryArn": boundary_arn(),
    }

    role = moto.client("iam").get_role(RoleName=generated)["Role"]
    assert role["Arn"] == role_arn(generated)
    assert role["Path"] == "/"
    assert_trusts_only_admin_account_roles(policy_document(role["AssumeRolePolicyDocument"]), ADMIN_ACCOUNT_ID)


def test_malformed_administrator_account_id_is_rejected(moto, build_dir):
    template = build_dir / SETUP_TEMPLATE
    definition = load_template(template)["Parameters"]["AdministratorAccountId"]
    assert definition["ConstraintDescription"].startswith(ACCOUNT_ID_CONSTRAINT)

    rc, out, err = aws(
        moto,
        "cloudformation",
        "deploy",
        "--template-file",
        str(template),
        "--stack-name",
        "sm-mlops-setup-stackset-role-bad-account",
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameter-overrides",
        f"EnvName={ENV_NAME}",
        f"EnvType={ENV_TYPE}",
        "AdministratorAccountId=12345",
        check=False,
    )
    if rc != 0:
        # Where parameter constraints are enforced (real CloudFormation), the CLI shows the description.
        assert ACCOUNT_ID_CONSTRAINT in err, f"exit {rc}\nstdout:\n{out}\nstderr:\n{err}"
    # moto 5.2.5 does not enforce AllowedPattern/MinLength/MaxLength (the stack above is created),
    # so the constraint is checked as CloudFormation applies it, from the template's own definition.
    for bad in ("12345", "1234567890123", "12345678901a", " 123456789012", "1234-5678-9012", ""):
        errors = constraint_errors("AdministratorAccountId", definition, bad)
        assert errors, f"AdministratorAccountId={bad!r} would be accepted"
        assert all(ACCOUNT_ID_CONSTRAINT in e for e in errors), errors
    for good in (ADMIN_ACCOUNT_ID, ACCOUNT_ID, "000000000000"):
        assert constraint_errors("AdministratorAccountId", definition, good) == []


def test_target_account_roles_stack(moto, build_dir):
    """As a StackSet creates it in a prepared target account: the setup stack first, its boundary passed on."""
    setup = "sm-mlops-setup-stackset-role"
    aws(
        moto,
        "cloudformation",
        "create-stack",
        "--template-body",
        (build_dir / SETUP_TEMPLATE).as_uri(),
        "--stack-name",
        setup,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        *cli_parameters(
            EnvName=ENV_NAME, EnvType=ENV_TYPE, StackSetExecutionRoleName="", AdministratorAccountId=ACCOUNT_ID
        ),
    )
    boundary = stack_outputs(wait_for_stack(moto, setup))["PermissionsBoundaryArn"]
    assert boundary == boundary_arn()
    stack_name = "sm-mlops-staging-target-account-roles"
    aws(
        moto,
        "cloudformation",
        "create-stack",
        "--template-body",
        (build_dir / TARGET_TEMPLATE).as_uri(),
        "--stack-name",
        stack_name,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        *cli_parameters(
            EnvName=ENV_NAME,
            EnvType=ENV_TYPE,
            AdministratorAccountId=ACCOUNT_ID,
            ModelS3KMSKeyArn=KMS_KEY_ARN,
            ModelBucketName=MODEL_BUCKET,
            PermissionsBoundaryArn=boundary,
            PipelineExecutionRoleArn=DEPLOY_ROLE,
        ),
    )
    stack = wait_for_stack(moto, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack

    outputs = stack_outputs(stack)
    assert set(outputs) == {
        "SageMakerModelExecutionRoleArn",
        "SageMakerModelExecutionRoleName",
        "StackSetExecutionRoleArn",
        "StackSetExecutionRoleName",
    }
    model_role, stackset_role = outputs["SageMakerModelExecutionRoleName"], outputs["StackSetExecutionRoleName"]
    assert model_role == f"{ENV_NAME}-{ENV_TYPE}-us-east-1-sm-model-exec"
    assert stackset_role == f"{ENV_NAME}-{ENV_TYPE}-us-east-1-stackset-exec"
    assert outputs["SageMakerModelExecutionRoleArn"] == role_arn(model_role)
    assert outputs["StackSetExecutionRoleArn"] == role_arn(stackset_role)

    iam = moto.client("iam")
    roles = {
        r["RoleName"]: r for r in iam.list_roles()["Roles"] if r["RoleName"] != f"{ENV_NAME}-{ENV_TYPE}-stackset-setup"
    }
    assert set(roles) == {model_role, stackset_role}
    for name in roles:
        assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    assert [n for n in roles if n.endswith("sm-model-exec")] == [model_role]
    assert [n for n in roles if n.endswith("stackset-exec")] == [stackset_role]
    for name in roles:
        assert roles[name]["Arn"] == role_arn(name)

    assert_trusts_only_admin_account_roles(
        policy_document(roles[stackset_role]["AssumeRolePolicyDocument"]), ACCOUNT_ID, "deploy-admin"
    )
    model_trust = policy_document(roles[model_role]["AssumeRolePolicyDocument"])
    principals = [s["Principal"] for s in statements(model_trust)]
    # SageMaker of this account, and the endpoint test of the environment's model deploy projects (their role);
    # never SageMaker's account-wide products use role, which every project of the account runs as.
    assert principals == [{"Service": ["sagemaker.amazonaws.com"]}, {"AWS": DEPLOY_ROLE}]

    for name, policy in ((model_role, "sagemaker-model-execution"), (stackset_role, "stackset-execution")):
        assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [policy]
        document = policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        assert_no_wildcard_actions(document)
    model_policy = policy_document(
        iam.get_role_policy(RoleName=model_role, PolicyName="sagemaker-model-execution")["PolicyDocument"]
    )
    resources = {r for s in statements(model_policy) for r in as_list(s["Resource"])}
    assert KMS_KEY_ARN in resources
    assert f"arn:aws:s3:::{MODEL_BUCKET}/*" in resources
