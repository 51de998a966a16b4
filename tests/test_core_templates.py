"""core-main and the templates it nests."""

from __future__ import annotations

import fnmatch

import pytest

from templates_src import functions
from tests import cfn

MAIN, SHARED, PROJECTS, PORTFOLIO = (
    "core-main",
    "core-iam-shared-roles",
    "core-iam-sc-sm-projects-roles",
    "core-sc-shared-portfolio",
)
LAUNCH, USE = "AmazonSageMakerServiceCatalogProductsLaunchRole", "AmazonSageMakerServiceCatalogProductsUseRole"


@pytest.fixture(scope="module")
def main(templates):
    return templates[MAIN]


def test_core_main_parameters_and_conditions(main):
    assert set(main["Parameters"]) >= {
        "StackSetName",
        "CreateIAMRoles",
        "DSAdministratorRoleArn",
        "SCLaunchRoleArn",
        "SecurityControlExecutionRoleArn",
        "CreateSharedServices",
        "CreateSCPortfolio",
    }
    assert main["Parameters"]["CreateSharedServices"]["AllowedValues"] == ["NO"]
    assert cfn.accepts(main["Parameters"]["StackSetName"], "sm-mlops-core")
    assert not cfn.accepts(main["Parameters"]["StackSetName"], "1core")
    assert main["Conditions"]["IAMRolesCondition"] == {"Fn::Equals": [{"Ref": "CreateIAMRoles"}, "YES"]}
    rule = main["Rules"]["IAMRoles"]
    asserted = {a["Assert"]["Fn::Not"][0]["Fn::Equals"][0]["Ref"] for a in rule["Assertions"]}
    assert asserted == {"DSAdministratorRoleArn", "SCLaunchRoleArn", "SecurityControlExecutionRoleArn"}


def test_nested_stacks_are_local_paths_with_exactly_the_child_parameters(templates, main):
    stacks = cfn.resources(main, "AWS::CloudFormation::Stack")
    assert {s["Properties"]["TemplateURL"] for s in stacks.values()} == {
        f"{n}.yaml" for n in (SHARED, PROJECTS, PORTFOLIO)
    }
    for stack in stacks.values():
        child = templates[stack["Properties"]["TemplateURL"][:-5]]
        assert set(stack["Properties"]["Parameters"]) == set(child["Parameters"])
        assert stack["DeletionPolicy"] == "Delete"


def test_existing_sagemaker_roles_are_detected_not_recreated(main):
    check = main["Resources"]["CheckIfSageMakerSCProductsRolesExist"]
    assert check["Type"] == "Custom::CheckIfIAMRolesExist"
    assert check["Properties"]["RoleNames"] == [LAUNCH, USE]
    params = main["Resources"]["IAMSCSageMakerProjectRoles"]["Properties"]["Parameters"]
    assert params == {
        f"{LAUNCH}Name": {"Fn::GetAtt": ["CheckIfSageMakerSCProductsRolesExist", LAUNCH]},
        f"{USE}Name": {"Fn::GetAtt": ["CheckIfSageMakerSCProductsRolesExist", USE]},
    }
    # The custom resource waits for its log group, so its first logs are kept.
    assert check["DependsOn"] == ["CheckIfIAMRolesExistLambdaLogGroup"]
    stmts = cfn.role_statements(main, "CheckIfIAMRolesExistLambdaRole")
    assert cfn.actions(stmts) == {"iam:GetRole", "logs:CreateLogStream", "logs:PutLogEvents"}


def test_function_code_inline_when_it_fits_else_packaged(main):
    check = main["Resources"]["CheckIfIAMRolesExistLambda"]["Properties"]["Code"]
    assert check["ZipFile"] == functions.inline_source("check_iam_roles_exist")
    assert len(check["ZipFile"]) <= functions.INLINE_LIMIT
    env = main["Resources"]["GetEnvironmentConfigurationLambda"]["Properties"]
    assert env["Code"] == "lambda/get_environment_configuration.zip"


def test_environment_configuration_function_has_its_own_narrow_role(main):
    fn = main["Resources"]["GetEnvironmentConfigurationLambda"]["Properties"]
    cond, own, fallback = fn["Role"]["Fn::If"]
    assert cond == "IAMRolesCondition" and own == {"Fn::GetAtt": ["GetEnvironmentConfigurationLambdaRole", "Arn"]}
    stmts = cfn.role_statements(main, "GetEnvironmentConfigurationLambdaRole")
    assert cfn.actions(stmts) == {
        "sagemaker:DescribeProject",
        "sagemaker:DescribeDomain",
        "sagemaker:ListTags",
        "ssm:GetParameter",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        # the environment of a project's creator outside Studio: its role's tags
        "iam:ListRoleTags",
        "iam:ListUserTags",
    }


def test_exports_and_names_carry_the_core_name(main, enterprise_templates):
    exports = {k: cfn.text(v["Export"]["Name"]) for k, v in main["Outputs"].items() if "Export" in v}
    assert exports == {
        "SCLaunchRoleArn": "${StackSetName}-service-catalog-launch-role-arn",
        "GetEnvironmentConfigurationLambdaArn": "${StackSetName}-get-environment-configuration-lambda-arn",
        "SeedCodeCheckinLambdaArn": "${StackSetName}-seed-code-checkin-lambda-arn",
        "PlatformBoundaryArn": "${StackSetName}-platform-boundary-arn",
    }
    ent = enterprise_templates[MAIN]
    assert cfn.text(ent["Outputs"]["SCLaunchRoleArn"]["Export"]["Name"]).startswith("acme-${StackSetName}-")
    names = ent["Resources"]["IAMSharedRoles"]["Properties"]["Parameters"]
    assert cfn.sub_name(names["SCLaunchRoleName"], StackSetName="core") == "acme-core-eu-west-1-sc-launch"
    for fn in cfn.resources(ent, "AWS::Lambda::Function").values():
        assert cfn.text(fn["Properties"]["FunctionName"]).startswith("acme-${StackSetName}-")


def test_reference_outputs_are_present(main):
    assert set(main["Outputs"]) >= {
        "AssumeDSAdministratorRole",
        "SCLaunchRoleArn",
        "ProductId",
        "PortfolioId",
        "ProductName",
        "ProvisioningArtifactIds",
        "ProvisioningArtifactNames",
        "GetEnvironmentConfigurationLambdaArn",
    }
    assert main["Outputs"]["ProductId"]["Condition"] == "SCPortfolioCondition"


def test_project_roles_are_sagemakers_own_names_path_and_retained(templates):
    t = templates[PROJECTS]
    for role in (LAUNCH, USE):
        assert t["Parameters"][f"{role}Name"]["AllowedValues"] == [role, ""]
        resource = t["Resources"][role]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
        assert resource["Properties"]["Path"] == "/service-role/"
        assert resource["Condition"] == f"{role}Condition"
    launch_trust = t["Resources"][LAUNCH]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in launch_trust] == [{"Service": ["servicecatalog.amazonaws.com"]}]


def test_project_roles_fix_the_reference_faults(templates):
    t = templates[PROJECTS]
    launch, use = cfn.role_statements(t, LAUNCH), cfn.role_statements(t, USE)
    assert "codebuild:TagResource" not in cfn.actions(launch)  # does not exist
    # Seed code and product templates sit in Service Catalog's own bucket: the tag, no account condition.
    seed = cfn.statement(launch, "ProductTemplatesAndSeedCode")
    assert seed["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}
    deny = cfn.statement(use, "NoStudioChanges")
    assert deny["Effect"] == "Deny"
    assert {cfn.text(r).rsplit(":", 1)[1] for r in deny["Resource"]} == {
        "domain/*",
        "user-profile/*",
        "app/*",
        "space/*",
        "flow-definition/*",
    }
    # SageMaker's own templates' role: no other role assumed, itself passed only to the services it runs with,
    # never a model approval, the guardrails that need no environment.
    assert not [s for s in use if "sts:AssumeRole" in cfn.as_list(s["Action"])]
    (passing,) = [s for s in use if "iam:PassRole" in cfn.as_list(s["Action"])]
    assert [cfn.text(r) for r in passing["Resource"]] == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/service-role/AmazonSageMakerServiceCatalogProductsUseRole"
    ]
    assert "iam:PassedToService" in passing["Condition"]["StringEquals"]
    approval = cfn.statement(use, "NoModelApproval")
    assert approval["Effect"] == "Deny" and approval["Condition"] == {
        "StringEquals": {"sagemaker:ModelApprovalStatus": "Approved"}
    }
    assert {"RequireVpcSubnets", "RequireVolumeKey", "NotebookNoDirectInternet", "StudioVpcOnly"} <= {
        s["Sid"] for s in use if s["Effect"] == "Deny"
    }
    kms = cfn.statement(use, "EnvironmentKeys")
    assert [cfn.text(r) for r in kms["Resource"]] == ["arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"]


def test_launch_role_may_invoke_the_core_function(templates, main):
    pattern = cfn.text(
        cfn.statement(cfn.role_statements(templates[PROJECTS], LAUNCH), "EnvironmentConfiguration")["Resource"][0]
    )
    name = cfn.sub_name(
        main["Resources"]["GetEnvironmentConfigurationLambda"]["Properties"]["FunctionName"],
        StackSetName="sm-mlops-core",
    )
    arn = f"arn:${{AWS::Partition}}:lambda:*:${{AWS::AccountId}}:function:{name}"
    assert fnmatch.fnmatchcase(arn, pattern)


def test_data_science_administrator_is_narrowed(templates):
    """Reads, the environment product, and the release's env-main as the launch role: no AWS managed policy that
    writes (AmazonSageMakerFullAccess would put the administrator outside every guardrail)."""
    role = templates[SHARED]["Resources"]["DataScienceAdministratorRole"]["Properties"]
    managed = {cfn.text(a).rsplit("/", 1)[1] for a in role["ManagedPolicyArns"]}
    assert managed == {"ReadOnlyAccess"}
    users, users_identity, sessions, sessions_identity = role["AssumeRolePolicyDocument"]["Statement"]
    assert {frozenset(s["Principal"]) for s in role["AssumeRolePolicyDocument"]["Statement"]} == {frozenset({"AWS"})}
    # Bool, not BoolIfExists: access keys (which carry no MFA flag) are refused; evaluated in test_iam_coverage.
    assert users["Condition"]["Bool"] == {"aws:MultiFactorAuthPresent": "true"}
    assert set(sessions["Condition"]) == {"ArnLike"}
    # Who the person is: an IAM user may name only themselves; a role session keeps the identity it has.
    assert users_identity["Action"] == sessions_identity["Action"] == ["sts:SetSourceIdentity"]
    assert users_identity["Condition"]["StringEquals"] == {"sts:SourceIdentity": "${aws:username}"}
    assert sessions_identity["Condition"]["StringEquals"] == {"sts:SourceIdentity": "${aws:SourceIdentity}"}


def test_sc_launch_role_cannot_change_the_core_roles(templates, enterprise_templates):
    for t in (templates[SHARED], enterprise_templates[SHARED]):
        stmts = cfn.role_statements(t, "SCLaunchRole")
        assert not t["Resources"]["SCLaunchRole"]["Properties"].get("Policies")
        assert all(
            cfn.text(a).startswith("arn:${AWS::Partition}:iam::aws:") is False
            for a in t["Resources"]["SCLaunchRole"]["Properties"]["ManagedPolicyArns"]
        )
        deny = cfn.statement(stmts, "NoChangesToCoreRoles")
        assert deny["Effect"] == "Deny"
        denied = {cfn.text(r) for r in deny["Resource"]}
        assert any("${SCLaunchRoleName}" in r for r in denied)
        assert any("${DSAdministratorRoleName}" in r for r in denied)
        assert {"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"} <= set(deny["Action"])
        passing = [s for s in stmts if "iam:PassRole" in cfn.as_list(s["Action"])]
        assert all("iam:PassedToService" in s["Condition"]["StringEquals"] for s in passing)


def test_sc_launch_role_only_creates_bounded_roles_when_a_boundary_is_set(enterprise_templates):
    stmts = cfn.role_statements(enterprise_templates[SHARED], "SCLaunchRole")
    creating = [s for s in stmts if s["Effect"] == "Allow" and "iam:CreateRole" in cfn.as_list(s["Action"])]
    assert len(creating) == 1 and "iam:PermissionsBoundary" in creating[0]["Condition"]["StringEquals"]
    assert [cfn.text(r) for r in creating[0]["Resource"]] == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ml-platform/acme-*"
    ]


def test_switch_role_link_is_partition_aware(templates, enterprise_templates):
    for t, role in (
        (templates[SHARED], "${DSAdministratorRoleName}"),
        (enterprise_templates[SHARED], "ml-platform/${DSAdministratorRoleName}"),
    ):
        value = t["Outputs"]["AssumeDSAdministratorRole"]["Value"]["Fn::Sub"]
        assert f"roleName={role}&" in value[0]
        assert value[1]["Host"] == {"Fn::FindInMap": ["Partitions", {"Ref": "AWS::Partition"}, "SignIn"]}
        assert t["Mappings"]["Partitions"]["aws-cn"]["SignIn"] == "signin.amazonaws.cn"
        # Isolated partitions have no console: the link is left out there instead of failing the stack.
        assert t["Outputs"]["AssumeDSAdministratorRole"]["Condition"] == "DSAdministratorRoleLink"
        assert t["Conditions"]["DSAdministratorRoleLink"] == {
            "Fn::And": [{"Condition": "DSAdministratorRoleCondition"}, {"Condition": "PartitionWithConsole"}]
        }


def test_portfolio_offers_the_environment_template_as_a_versioned_product(templates, enterprise_templates):
    t = templates[PORTFOLIO]
    product = t["Resources"]["DataScienceEnvironmentProduct"]["Properties"]
    (artifact,) = product["ProvisioningArtifactParameters"]
    assert artifact["Name"] == "v0.1.0"
    assert artifact["Info"] == {"LoadTemplateFromURL": "env-main.yaml"}
    assert (
        enterprise_templates[PORTFOLIO]["Resources"]["DataScienceEnvironmentProduct"]["Properties"][
            "ProvisioningArtifactParameters"
        ][0]["Name"]
        == "v2.3.0-rc.1"
    )
    constraint = t["Resources"]["SCProductLaunchRoleConstraint"]
    assert constraint["DependsOn"] == ["SCPortfolioProductAssociation"]
    assert constraint["Properties"]["RoleArn"] == {"Ref": "SCProductLaunchRoleArn"}
    assert set(t["Outputs"]) == {
        "ProductId",
        "PortfolioId",
        "ProductName",
        "ProvisioningArtifactIds",
        "ProvisioningArtifactNames",
    }
