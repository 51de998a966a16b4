"""env-sagemaker-studio and env-sc-portfolio: the environment's Studio domain and its MLOps project portfolio.

Templates are rendered offline with cloud-radar (tests/support_render.py: parameters, conditions and intrinsics
evaluated as CloudFormation would; ``GetAtt X.Y`` renders as the text ``X.Y``; an ``If`` that yields
``AWS::NoValue`` inside a list renders as ``""``, which CloudFormation drops).  The handlers behind the custom
resources are tested in tests/test_studio_functions.py.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from templates_src import functions
from templates_src.context import BuildContext
from templates_src.generator import build_template, generate
from templates_src.templates.env import env_sagemaker_studio as studio_module
from templates_src.templates.env import env_sc_portfolio as portfolio_module
from tests import cfn
from tests.support_render import fake, render

STUDIO, PORTFOLIO = "env-sagemaker-studio", "env-sc-portfolio"
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXECUTION = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-sm-execution"
PIPELINE = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-sm-pipeline"
SCIENTIST = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-data-scientist"
TEAM_ADMIN = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-ds-team-admin"
SETUP = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-functions"
STUDIO_PARAMS = {
    "EnvName": "mlops",
    "EnvType": "dev",
    "VPCId": "vpc-0123456789abcdef0",
    "SageMakerStudioSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "SageMakerSecurityGroupIds": "sg-0123456789abcdef0",
    "SageMakerStudioStorageKMSKeyId": KEY,
    "SageMakerExecutionRoleArn": EXECUTION,
    "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/sm-mlops-core-us-east-1-platform-boundary",
    # The tests of the clean-up resources render the domain with its home file system (all of them exist);
    # test_by_default_no_home_file_system_and_nothing_to_release renders the default.
    "CreateStudioHomeFileSystem": "YES",
}
FUNCTIONS = {
    "EnableSageMakerProjectsLambda": "enable_sagemaker_projects",
    "StudioAppsCleanupLambda": "studio_cleanup",
    "HomeFileSystemReleaseLambda": "studio_cleanup",
}


@pytest.fixture(scope="module")
def built(configs):
    """``built(flavour, name)``: one of this file's templates, rendered for a configuration of conftest.py (only
    these templates are built: the other environment templates are not this file's concern)."""
    cache = {}

    def get(flavour: str, name: str) -> dict:
        if (flavour, name) not in cache:
            cache[flavour, name] = build_template(name, BuildContext(configs[flavour]))
        return cache[flavour, name]

    return get


@pytest.fixture(scope="module")
def studio(built):
    return built("default", STUDIO)


@pytest.fixture(scope="module")
def stack(studio):
    return render(studio, STUDIO_PARAMS)


# --------------------------------------------------------------------------------------------------------
# env-sagemaker-studio: parameters


def test_studio_parameters_keep_the_reference_names_and_allow_only_iam_and_vpc_only(studio):
    params = studio["Parameters"]
    assert set(params) == {
        "EnvName",
        "EnvType",
        "DomainName",
        "UserProfileName",
        "AuthMode",
        "NetworkAccessType",
        "VPCId",
        "SageMakerStudioSubnetIds",
        "SageMakerSecurityGroupIds",
        "CreateStudioHomeFileSystem",
        "ProjectTemplatesS3Location",
        "SageMakerStudioStorageKMSKeyId",
        "SageMakerExecutionRoleArn",
        "SetupLambdaExecutionRoleArn",
        "PermissionsBoundaryArn",
    }
    assert (params["CreateStudioHomeFileSystem"]["Default"], params["CreateStudioHomeFileSystem"]["AllowedValues"]) == (
        "NO",
        ["YES", "NO"],
    )
    assert (params["AuthMode"]["AllowedValues"], params["AuthMode"]["Default"]) == (["IAM"], "IAM")
    assert (params["NetworkAccessType"]["AllowedValues"], params["NetworkAccessType"]["Default"]) == (
        ["VpcOnly"],
        "VpcOnly",
    )
    assert "StartKernelGatewayApps" not in params  # Studio Classic: env-main keeps it for parameter files
    for name in ("DomainName", "UserProfileName"):
        assert params[name]["Default"] == ""
        for good in ("", "mlops-dev", "a", "A1-b--2", "x" * 63):
            assert cfn.accepts(params[name], good), (name, good)
        for bad in ("-x", "x-", "x_y", "x y", "x" * 64):
            assert not cfn.accepts(params[name], bad), (name, bad)
    assert cfn.accepts(params["SageMakerStudioStorageKMSKeyId"], KEY)
    assert not cfn.accepts(params["SageMakerStudioStorageKMSKeyId"], "alias/aws/sagemaker")
    assert not cfn.accepts(params["SageMakerExecutionRoleArn"], "")
    assert params["VPCId"]["Type"] == "AWS::EC2::VPC::Id"


# --------------------------------------------------------------------------------------------------------
# env-sagemaker-studio: the domain and the user profile


def test_domain_is_current_studio_vpc_only_iam_encrypted_and_tagged(stack):
    domain = stack["Resources"]["SageMakerStudioDomain"]["Properties"]
    assert domain["AppNetworkAccessType"] == "VpcOnly" and domain["AuthMode"] == "IAM"
    assert domain["KmsKeyId"] == KEY
    assert domain["VpcId"] == "vpc-0123456789abcdef0"
    assert domain["SubnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    assert domain["DomainName"] == "mlops-dev"
    user = domain["DefaultUserSettings"]
    assert user["ExecutionRole"] == EXECUTION and user["SecurityGroups"] == ["sg-0123456789abcdef0"]
    assert user["StudioWebPortal"] == "ENABLED" and user["DefaultLandingUri"] == "studio::"
    assert user["StudioWebPortalSettings"]["HiddenAppTypes"] == ["JupyterServer"]  # Studio Classic hidden
    assert not {"JupyterServerAppSettings", "KernelGatewayAppSettings"} & set(user)
    for app in ("JupyterLabAppSettings", "CodeEditorAppSettings"):
        assert user[app]["DefaultResourceSpec"]["InstanceType"] == "ml.t3.medium"
        idle = user[app]["AppLifecycleManagement"]["IdleSettings"]
        assert idle["LifecycleManagement"] == "ENABLED"
        assert idle["MinIdleTimeoutInMinutes"] <= idle["IdleTimeoutInMinutes"] <= idle["MaxIdleTimeoutInMinutes"]
    ebs = user["SpaceStorageSettings"]["DefaultEbsStorageSettings"]
    assert 5 <= ebs["DefaultEbsVolumeSizeInGb"] <= ebs["MaximumEbsVolumeSizeInGb"] <= 16384
    space = domain["DefaultSpaceSettings"]
    assert space["ExecutionRole"] == EXECUTION and space["SecurityGroups"] == ["sg-0123456789abcdef0"]
    assert space["SpaceStorageSettings"] == user["SpaceStorageSettings"]
    assert domain["DomainSettings"]["ExecutionRoleIdentityConfig"] == "USER_PROFILE_NAME"
    assert domain["TagPropagation"] == "ENABLED"
    tags = {t["Key"]: t["Value"] for t in domain["Tags"] if t}  # "": the S3 project templates tag, not set
    assert tags["EnvironmentName"] == "mlops" and tags["EnvironmentType"] == "dev"


def test_names_given_or_generated(studio):
    given = render(studio, {**STUDIO_PARAMS, "DomainName": "team-studio", "UserProfileName": "alice"})
    assert given["Resources"]["SageMakerStudioDomain"]["Properties"]["DomainName"] == "team-studio"
    assert given["Resources"]["SageMakerStudioUserProfile"]["Properties"]["UserProfileName"] == "alice"
    assert given["Outputs"]["UserProfileName"]["Value"] == "alice"
    assert given["Resources"]["StudioAppsCleanup"]["Properties"]["KeepUserProfiles"] == ["alice"]
    longest = render(studio, {**STUDIO_PARAMS, "EnvName": "a" * 16, "EnvType": "b" * 10})
    assert len(longest["Resources"]["SageMakerStudioUserProfile"]["Properties"]["UserProfileName"]) <= 63
    assert len(longest["Resources"]["SageMakerStudioDomain"]["Properties"]["DomainName"]) <= 63


def test_user_profile_runs_as_the_domains_execution_role(stack, studio):
    """The profile sets no execution role (nor other settings) of its own: it runs with the domain's defaults,
    the environment's execution role and security groups, as AWS's migration into SageMaker Unified Studio
    requires."""
    profile = stack["Resources"]["SageMakerStudioUserProfile"]["Properties"]
    assert profile["DomainId"] == fake(studio, "SageMakerStudioDomain", "DomainId")
    assert profile["UserProfileName"] == "mlops-dev-default"
    assert "UserSettings" not in profile
    defaults = stack["Resources"]["SageMakerStudioDomain"]["Properties"]["DefaultUserSettings"]
    assert (defaults["ExecutionRole"], defaults["SecurityGroups"]) == (EXECUTION, ["sg-0123456789abcdef0"])
    tags = {t["Key"]: t["Value"] for t in profile["Tags"]}
    assert (tags["EnvironmentName"], tags["EnvironmentType"]) == ("mlops", "dev")


@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened", "pinned"])
def test_no_studio_classic_apps_or_kernel_gateway_clean_up(built, flavour):
    template = built(flavour, STUDIO)
    types = {r["Type"] for r in template["Resources"].values()}
    assert "AWS::SageMaker::App" not in types and "Custom::DeleteKernelGatewayApps" not in types
    assert "KernelGateway" not in json.dumps(template["Resources"])
    assert types >= {
        "AWS::SageMaker::Domain",
        "AWS::SageMaker::UserProfile",
        "AWS::SSM::Parameter",
        "Custom::EnableSageMakerProjects",
        "Custom::StudioAppsCleanup",
        "Custom::HomeFileSystemRelease",
    }


def test_domain_id_in_ssm_and_outputs(stack, built, studio):
    domain_id = fake(studio, "SageMakerStudioDomain", "DomainId")
    ssm = stack["Resources"]["SageMakerDomainIdSSM"]["Properties"]
    assert (ssm["Name"], ssm["Type"], ssm["Value"]) == ("mlops-dev-sagemaker-domain-id", "String", domain_id)
    outputs = stack["Outputs"]
    assert outputs["SageMakerDomainId"]["Value"] == domain_id
    assert outputs["SageMakerDomainId"]["Export"]["Name"] == "mlops-dev-sagemaker-domain-id"
    assert outputs["SageMakerDomainArn"]["Value"] == fake(studio, "SageMakerStudioDomain", "DomainArn")
    assert outputs["StudioUrl"]["Value"] == fake(studio, "SageMakerStudioDomain", "Url")
    assert outputs["HomeEfsFileSystemId"]["Value"] == fake(studio, "SageMakerStudioDomain", "HomeEfsFileSystemId")
    assert outputs["UserProfileName"]["Value"] == "mlops-dev-default"
    export = built("enterprise", STUDIO)["Outputs"]["SageMakerDomainId"]["Export"]["Name"]
    assert cfn.text(export) == "acme-${EnvName}-${EnvType}-sagemaker-domain-id"


# --------------------------------------------------------------------------------------------------------
# env-sagemaker-studio: deletion order of the clean-up resources


def _dependencies(template: dict) -> dict[str, set[str]]:
    """Logical id -> the resources it depends on directly (DependsOn, Ref, GetAtt, Sub references)."""
    resources = template["Resources"]

    def refs(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in resources:
                yield node["Ref"]
            elif set(node) == {"Fn::GetAtt"}:
                yield node["Fn::GetAtt"][0]
            elif set(node) == {"Fn::Sub"}:
                text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
                yield from (n.split(".")[0] for n in re.findall(r"\$\{([^}]+)\}", text) if n.split(".")[0] in resources)
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    return {
        lid: set(cfn.as_list(r.get("DependsOn", []))) | set(refs(r.get("Properties", {})))
        for lid, r in resources.items()
    }


def _depends(deps: dict[str, set[str]], source: str, target: str) -> bool:
    seen, todo = set(), [source]
    while todo:
        node = todo.pop()
        for nxt in deps[node] - seen:
            if nxt == target:
                return True
            seen.add(nxt)
            todo.append(nxt)
    return False


def test_apps_cleanup_is_deleted_before_the_profile_and_domain_and_release_after_the_domain(studio):
    deps = _dependencies(studio)
    # CloudFormation deletes a resource before what it depends on.
    assert _depends(deps, "StudioAppsCleanup", "SageMakerStudioDomain")
    assert "SageMakerStudioUserProfile" in deps["StudioAppsCleanup"]
    assert "HomeFileSystemRelease" in deps["SageMakerStudioDomain"]
    assert not _depends(deps, "HomeFileSystemRelease", "SageMakerStudioDomain")
    assert not _depends(deps, "SageMakerStudioDomain", "StudioAppsCleanup")
    # Each custom resource outlives nothing it needs: its function, role and log group are deleted after it.
    for resource, function in (
        ("StudioAppsCleanup", "StudioAppsCleanupLambda"),
        ("HomeFileSystemRelease", "HomeFileSystemReleaseLambda"),
        ("EnableSageMakerProjects", "EnableSageMakerProjectsLambda"),
    ):
        assert _depends(deps, resource, function) and _depends(deps, resource, f"{function}Role")
        assert f"{function}LogGroup" in deps[resource]
    props = studio["Resources"]["StudioAppsCleanup"]["Properties"]
    assert props["DomainId"] == {"Fn::GetAtt": ["SageMakerStudioDomain", "DomainId"]}
    assert props["KeepUserProfiles"] == [
        studio["Resources"]["SageMakerStudioUserProfile"]["Properties"]["UserProfileName"]
    ]
    assert studio["Resources"]["HomeFileSystemRelease"]["Properties"]["VpcId"] == {"Ref": "VPCId"}


def test_functions_package_the_handlers_with_a_timeout_that_covers_their_waits(studio):
    cleanup_budget = 780  # studio_cleanup.BUDGET (checked in tests/test_studio_functions.py)
    for function, module in FUNCTIONS.items():
        props = studio["Resources"][function]["Properties"]
        assert props["Code"] == functions.asset_path(module)
        assert props["Timeout"] <= 900
    for function in ("StudioAppsCleanupLambda", "HomeFileSystemReleaseLambda"):
        assert studio["Resources"][function]["Properties"]["Timeout"] >= cleanup_budget + 60
    assert studio["Resources"]["EnableSageMakerProjectsLambda"]["Properties"]["Timeout"] >= 5 * 10 + 30
    assert studio_module.FUNCTION_TIMEOUT == 900


# --------------------------------------------------------------------------------------------------------
# env-sagemaker-studio: the functions' roles


def _statements(template, role_id):
    return cfn.role_statements(template, role_id)


def test_enable_projects_role_and_principals(studio, stack):
    stmts = _statements(studio, "EnableSageMakerProjectsLambdaRole")
    assert cfn.actions(stmts) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sagemaker:EnableSagemakerServicecatalogPortfolio",
        "servicecatalog:ListAcceptedPortfolioShares",
        "servicecatalog:AcceptPortfolioShare",
        # principals of earlier versions are disassociated; none is associated
        "servicecatalog:DisassociatePrincipalFromPortfolio",
    }
    portfolio = cfn.statement(stmts, "SageMakerPortfolioPrincipals")
    assert [cfn.text(r) for r in portfolio["Resource"]] == [
        "arn:${AWS::Partition}:catalog:${AWS::Region}:*:portfolio/*"
    ]
    star = {a for s in stmts if "*" in cfn.as_list(s["Resource"]) for a in cfn.as_list(s["Action"])}
    assert star == {"sagemaker:EnableSagemakerServicecatalogPortfolio", "servicecatalog:ListAcceptedPortfolioShares"}
    # No principal of the environment uses SageMaker's own project templates (they run as SageMaker's account-wide
    # products use role): the environment offers its own.
    assert stack["Resources"]["EnableSageMakerProjects"]["Properties"]["PrincipalArns"] == []


def test_apps_cleanup_role_deletes_only_sagemaker_user_content_of_this_account_and_region(studio):
    stmts = _statements(studio, "StudioAppsCleanupLambdaRole")
    assert cfn.actions(stmts) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sagemaker:ListApps",
        "sagemaker:ListSpaces",
        "sagemaker:ListUserProfiles",
        "sagemaker:DescribeDomain",
        "sagemaker:DeleteApp",
        "sagemaker:DeleteSpace",
        "sagemaker:DeleteUserProfile",
        "cloudformation:DescribeStacks",
    }
    # Whether its stack is being deleted (never on an update: users' spaces stay), asked of its own stack only.
    assert cfn.statement(stmts, "OwnStackStatus")["Resource"] == [{"Ref": "AWS::StackId"}]
    for sid, kind in (
        ("DeleteApps", "app"),
        ("DeleteSpaces", "space"),
        ("DeleteUserProfiles", "user-profile"),
        ("DescribeDomains", "domain"),
    ):
        assert [cfn.text(r) for r in cfn.statement(stmts, sid)["Resource"]] == [
            f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/*"
        ]
    assert cfn.as_list(cfn.statement(stmts, "ListDomainContents")["Resource"]) == ["*"]


def test_release_role_detaches_file_systems_but_never_deletes_them(studio):
    stmts = _statements(studio, "HomeFileSystemReleaseLambdaRole")
    acts = cfn.actions(stmts)
    assert not {
        a
        for a in acts
        if a.startswith("elasticfilesystem:")
        and a != "elasticfilesystem:DeleteMountTarget"
        and not a.startswith("elasticfilesystem:Describe")
    }
    assert "elasticfilesystem:DeleteFileSystem" not in acts
    assert not {a for a in acts if a.startswith("sagemaker:Delete")}
    mount = cfn.statement(stmts, "DeleteHomeMountTargets")
    assert cfn.text(mount["Condition"]["StringLike"]["aws:ResourceTag/ManagedByAmazonSageMakerResource"]) == (
        "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:domain/*"
    )
    vpc = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${VPCId}"
    for sid in ("MountTargetInterfaces", "DeleteNfsSecurityGroups"):
        assert cfn.text(cfn.statement(stmts, sid)["Condition"]["ArnEquals"]["ec2:Vpc"]) == vpc
    writes_on_star = {a for s in stmts if "*" in cfn.as_list(s["Resource"]) for a in cfn.as_list(s["Action"])}
    assert writes_on_star == {"ec2:DescribeSecurityGroups"}


def test_functions_use_the_given_setup_role_and_create_no_role(studio, stack):
    assert {r["Type"] for r in stack["Resources"].values()} >= {"AWS::IAM::Role"}
    for function in FUNCTIONS:
        assert stack["Resources"][function]["Properties"]["Role"] == fake(studio, f"{function}Role", "Arn")
    given = render(studio, {**STUDIO_PARAMS, "SetupLambdaExecutionRoleArn": SETUP})
    assert not [lid for lid, r in given["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    for function in FUNCTIONS:
        assert given["Resources"][function]["Properties"]["Role"] == SETUP


def _conditions(template: dict, name: str) -> list[str]:
    """The conditions a condition is the conjunction of (itself, when it is not an Fn::And of conditions)."""
    body = template["Conditions"][name]
    if set(body) == {"Fn::And"} and all(set(c) == {"Condition"} for c in body["Fn::And"]):
        return [c["Condition"] for c in body["Fn::And"]]
    return [name]


def test_roles_get_the_configured_path_and_boundary(built):
    template = built("enterprise", STUDIO)
    for function in FUNCTIONS:
        role = template["Resources"][f"{function}Role"]
        # the home file system's release function and role exist only with a home file system
        conditions = ["CreateFunctionRoles"] + (
            ["CreateHomeFileSystem"] if function == "HomeFileSystemReleaseLambda" else []
        )
        assert sorted(_conditions(template, role["Condition"])) == sorted(conditions), function
        assert role["Properties"]["Path"] == "/ml-platform/"
        assert cfn.text(role["Properties"]["PermissionsBoundary"]).endswith(":policy/ml-platform-boundary")
        assert cfn.text(template["Resources"][function]["Properties"]["FunctionName"]).startswith("acme-${EnvName}")


@pytest.mark.parametrize("flavour", ["default", "enterprise", "hardened"])
def test_studio_and_portfolio_lint_clean(configs, linter, flavour):
    report = generate(configs[flavour], [STUDIO, PORTFOLIO]).lint(linter)
    assert not report.failed, "\n".join(report.problems)
    for name in (STUDIO, PORTFOLIO):
        result = report.results[f"{name}.yaml"]
        assert not result.counted("I"), [str(f) for f in result.counted("I")]


def test_hardened_functions_run_in_the_vpc_with_encrypted_logs(built):
    template = built("hardened", STUDIO)
    assert {"LogsKmsKeyArn", "FunctionSubnetIds", "FunctionSecurityGroupIds"} <= set(template["Parameters"])
    for function in FUNCTIONS:
        assert "VpcConfig" in template["Resources"][function]["Properties"]
        assert template["Resources"][f"{function}LogGroup"]["Properties"]["KmsKeyId"] == {"Ref": "LogsKmsKeyArn"}


# --------------------------------------------------------------------------------------------------------
# env-sc-portfolio


# The deploying account's role (cloud-radar's account id is its own).
SAGEMAKER_LAUNCH_ROLE = r"arn:aws:iam::\d{12}:role/service-role/AmazonSageMakerServiceCatalogProductsLaunchRole"
PORTFOLIO_PARAMS = {"EnvName": "mlops", "EnvType": "dev", "SCMLOpsPortfolioPrincipalRoleArn": EXECUTION}


@pytest.fixture(scope="module")
def portfolio(built):
    return built("default", PORTFOLIO)


def test_portfolio_parameters_and_outputs(portfolio):
    assert set(portfolio["Parameters"]) == {
        "EnvName",
        "EnvType",
        "SCMLOpsPortfolioPrincipalRoleArn",
        "DataScientistRoleArn",
        "DSTeamAdministratorRoleArn",
        "SCMLOpsProductLaunchRoleArn",
    }
    assert "Default" not in portfolio["Parameters"]["SCMLOpsPortfolioPrincipalRoleArn"]
    assert set(portfolio["Outputs"]) == {"MLOpsPortfolioId", "MLOpsDeploymentPortfolioId", "MLOpsProductLaunchRoleArn"}
    # The two MLOps project products, each in the portfolio with the SageMaker products launch constraint.
    products = {
        lid: r for lid, r in portfolio["Resources"].items() if r["Type"] == "AWS::ServiceCatalog::CloudFormationProduct"
    }
    assert {
        p["Properties"]["ProvisioningArtifactParameters"][-1]["Info"]["LoadTemplateFromURL"] for p in products.values()
    } == {"project-model-build-train.yaml", "project-model-deploy.yaml"}
    for kind in ("AWS::ServiceCatalog::PortfolioProductAssociation", "AWS::ServiceCatalog::LaunchRoleConstraint"):
        assert sorted(
            r["Properties"]["ProductId"]["Ref"] for r in portfolio["Resources"].values() if r["Type"] == kind
        ) == sorted(products), kind


def test_portfolio_principals_are_the_execution_role_and_the_given_persona_roles(portfolio):
    minimal = render(portfolio, PORTFOLIO_PARAMS)
    full = render(
        portfolio, {**PORTFOLIO_PARAMS, "DataScientistRoleArn": SCIENTIST, "DSTeamAdministratorRoleArn": TEAM_ADMIN}
    )

    def principals(stack):
        return sorted(
            (r["Properties"]["PrincipalARN"], r["Properties"]["PrincipalType"], r["Properties"]["PortfolioId"])
            for r in stack["Resources"].values()
            if r["Type"] == "AWS::ServiceCatalog::PortfolioPrincipalAssociation"
        )

    assert principals(minimal) == [(EXECUTION, "IAM", "MLOpsPortfolio")]
    # Model deploy projects are the team administrator's (what their code says is deployed to staging and
    # production): only it is a principal of the deployment portfolio.
    assert principals(full) == sorted(
        [
            *((arn, "IAM", "MLOpsPortfolio") for arn in (EXECUTION, SCIENTIST, TEAM_ADMIN)),
            (TEAM_ADMIN, "IAM", "MLOpsDeploymentPortfolio"),
        ]
    )
    products = {
        lid.removesuffix("PortfolioAssociation"): r["Properties"]["PortfolioId"]
        for lid, r in full["Resources"].items()
        if r["Type"] == "AWS::ServiceCatalog::PortfolioProductAssociation"
    }
    assert products == {"ProjectModelBuildTrain": "MLOpsPortfolio", "ProjectModelDeploy": "MLOpsDeploymentPortfolio"}
    display = minimal["Resources"]["MLOpsPortfolio"]["Properties"]["DisplayName"]
    assert "mlops-dev" in display and len(display) <= 100
    assert minimal["Outputs"]["MLOpsPortfolioId"]["Value"] == "MLOpsPortfolio"


def test_launch_role_is_sagemakers_products_launch_role_unless_given(portfolio):
    default = render(portfolio, PORTFOLIO_PARAMS)["Outputs"]["MLOpsProductLaunchRoleArn"]["Value"]
    assert re.fullmatch(SAGEMAKER_LAUNCH_ROLE, default)
    given = f"arn:aws:iam::{ACCOUNT}:role/my-launch-role"
    assert (
        render(portfolio, {**PORTFOLIO_PARAMS, "SCMLOpsProductLaunchRoleArn": given})["Outputs"][
            "MLOpsProductLaunchRoleArn"
        ]["Value"]
        == given
    )


FAKE_PRODUCT = portfolio_module.ProductSpec(
    stem="project-model-build-train",
    name="MLOps model build and train",
    description="Builds and trains a model with SageMaker Pipelines",
)


@pytest.fixture
def with_product(monkeypatch):
    monkeypatch.setattr(portfolio_module, "products", lambda ctx: (FAKE_PRODUCT,))


def test_product_slot_renders_product_version_association_and_launch_constraint(with_product, default_config):
    template = build_template(PORTFOLIO, BuildContext(default_config))
    products = cfn.resources(template, "AWS::ServiceCatalog::CloudFormationProduct")
    assert list(products) == ["ProjectModelBuildTrainProduct"]
    props = products["ProjectModelBuildTrainProduct"]["Properties"]
    assert cfn.text(props["Name"]) == "MLOps model build and train (${EnvName}-${EnvType})"
    assert props["Description"] == FAKE_PRODUCT.description and props["Owner"] == portfolio_module.PROVIDER
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert tags["sagemaker:studio-visibility"] == "true"
    assert tags["Solution"] == "sagemaker-secure-mlops"  # the configured tags too
    (version,) = props["ProvisioningArtifactParameters"]
    assert version["Info"] == {"LoadTemplateFromURL": "project-model-build-train.yaml"}
    assert version["Name"] == f"v{default_config.version}"
    assert props["ReplaceProvisioningArtifacts"] is False

    association = template["Resources"]["ProjectModelBuildTrainPortfolioAssociation"]
    assert association["Type"] == "AWS::ServiceCatalog::PortfolioProductAssociation"
    assert association["Properties"] == {
        "PortfolioId": {"Ref": "MLOpsPortfolio"},
        "ProductId": {"Ref": "ProjectModelBuildTrainProduct"},
    }
    constraint = template["Resources"]["ProjectModelBuildTrainLaunchRoleConstraint"]
    assert constraint["Type"] == "AWS::ServiceCatalog::LaunchRoleConstraint"
    assert constraint["DependsOn"] == ["ProjectModelBuildTrainPortfolioAssociation"]
    assert constraint["Properties"]["ProductId"] == {"Ref": "ProjectModelBuildTrainProduct"}
    rendered = render(template, PORTFOLIO_PARAMS)
    assert re.fullmatch(
        SAGEMAKER_LAUNCH_ROLE,
        rendered["Resources"]["ProjectModelBuildTrainLaunchRoleConstraint"]["Properties"]["RoleArn"],
    )


def test_product_slot_keeps_one_version_per_release(with_product, default_config):
    earlier = "https://bucket.s3.us-east-1.amazonaws.com/releases/1.0.0/project-model-build-train.yaml"
    ctx = BuildContext(default_config, product_history={"project-model-build-train": (("1.0.0", earlier),)})
    product = build_template(PORTFOLIO, ctx)["Resources"]["ProjectModelBuildTrainProduct"]["Properties"]
    assert [(v["Name"], v["Info"]["LoadTemplateFromURL"]) for v in product["ProvisioningArtifactParameters"]] == [
        ("v1.0.0", earlier),
        (f"v{default_config.version}", "project-model-build-train.yaml"),
    ]


def test_product_slot_lints_clean(with_product, default_config, linter):
    report = generate(default_config, [PORTFOLIO]).lint(linter)
    assert not report.failed, "\n".join(report.problems)
    assert not report.results[f"{PORTFOLIO}.yaml"].counted("I")
    assert "ProjectModelBuildTrainProduct" in cfn.resources(build_template(PORTFOLIO, BuildContext(default_config)))


def test_by_default_no_home_file_system_and_nothing_to_release(studio):
    """CreateStudioHomeFileSystem NO (the default): the domain is created with HomeEfsFileSystemCreation
    Disabled, and neither the release function, its role and log group, the release resource nor the file
    system's output exist; the domain waits for nothing of the stack.  YES: Enabled, from the release resource."""
    default = render(studio, {k: v for k, v in STUDIO_PARAMS.items() if k != "CreateStudioHomeFileSystem"})
    domain = default["Resources"]["SageMakerStudioDomain"]
    assert domain["Properties"]["HomeEfsFileSystemCreation"] == "Disabled"
    assert not _dependencies(default)["SageMakerStudioDomain"] & set(default["Resources"])
    assert not [lid for lid in default["Resources"] if lid.startswith("HomeFileSystemRelease")]
    assert "HomeEfsFileSystemId" not in default["Outputs"]
    answered = copy.deepcopy(studio)  # with the release function's answer (studio_cleanup.release_ready)
    answered["Resources"]["HomeFileSystemRelease"]["Metadata"] = {
        "Cloud-Radar": {"attribute-values": {"HomeEfsFileSystemCreation": "Enabled"}}
    }
    kept = render(answered, STUDIO_PARAMS)
    assert kept["Resources"]["SageMakerStudioDomain"]["Properties"]["HomeEfsFileSystemCreation"] == "Enabled"
    assert "HomeFileSystemRelease" in _dependencies(studio)["SageMakerStudioDomain"]
    assert {"HomeFileSystemRelease", "HomeFileSystemReleaseLambda", "HomeFileSystemReleaseLambdaRole"} <= set(
        kept["Resources"]
    )
