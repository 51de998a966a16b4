"""Scenario tests of the whole environment: env-main and every nested stack rendered offline together
(tests/support_render.render_tree: conditions and intrinsics evaluated like CloudFormation, each child rendered
with the values its parent passes, children's outputs flowing to their siblings), for the deployment options
of the README: defaults, internet-free, existing VPC and subnets, existing IAM roles, the quickstart, and the
two two-step paths (Service Catalog product and direct CloudFormation deployment)."""

from __future__ import annotations

import json

import pytest

from templates_src import naming
from templates_src.templates.env import env_main
from tests.support_render import render_tree, resources, rule_failures

ZONES = "us-east-1a,us-east-1b"
BASE = {"SeedCodeS3BucketName": "release-bucket", "AvailabilityZones": ZONES}
ROLE = "arn:aws:iam::123456789012:role/team/{}"
EXISTING_ROLES = {
    "CreateEnvironmentIAMRoles": "NO",
    "SageMakerExecutionRoleArn": ROLE.format("exec"),
    "SageMakerPipelineExecutionRoleArn": ROLE.format("pipeline"),
    "StackSetAdministrationRoleArn": ROLE.format("admin"),
    "SetupLambdaExecutionRoleArn": ROLE.format("setup"),
    "ModelDeploymentAdministrationRoleArn": ROLE.format("deploy-admin"),
    "SageMakerModelBuildRoleArn": ROLE.format("sm-model-build"),
    "SageMakerModelDeployRoleArn": ROLE.format("sm-model-deploy"),
    "SageMakerModelExecutionRoleName": "model-sm-model-exec",
    "StackSetExecutionRoleName": "x-stackset-exec-x",
    "CreateVPCFlowLogsRole": "NO",
    "VPCFlowLogsRoleArn": ROLE.format("flow-logs"),
}
EXISTING_NETWORK = {
    "CreateVPC": "NO",
    "ExistingVPCId": "vpc-0123456789abcdef0",
    "CreatePrivateSubnets": "NO",
    "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
    "ExistingPrivateRouteTableIds": "rtb-0123456789abcdef0,rtb-0123456789abcdef1",
    "CreateNATGateways": "NO",
}


@pytest.fixture(scope="module")
def built(templates) -> dict[str, dict]:
    """The default configuration's templates, built once per session (conftest)."""
    return templates


@pytest.fixture(scope="module")
def defaults(built):
    return render_tree(built, env_main.NAME, BASE)


def props(stack: dict, type_: str) -> list[dict]:
    return [r.get("Properties", {}) for r in resources(stack, type_).values()]


def endpoint_services(tree) -> set[str]:
    return {p["ServiceName"].split(".", 3)[-1] for p in props(tree["EnvironmentVPCEndpoints"], "AWS::EC2::VPCEndpoint")}


def test_defaults_create_every_part(defaults, built):
    nested = {k for k, r in defaults["root"]["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"}
    assert nested == {
        "EnvironmentIAMRoles",
        "EnvironmentKMSKeys",
        "EnvironmentVPC",
        "EnvironmentVPCEndpoints",
        "EnvironmentS3",
        "EnvironmentSageMakerStudio",
        "EnvironmentSCPortfolio",
        "EnvironmentTargetAccountRoles",
    }
    assert rule_failures(built[env_main.NAME], BASE) == []


def test_studio_domain_uses_the_environment_network_key_and_role(defaults):
    vpc, kms, iam = defaults["EnvironmentVPC"], defaults["EnvironmentKMSKeys"], defaults["EnvironmentIAMRoles"]
    (domain,) = props(defaults["EnvironmentSageMakerStudio"], "AWS::SageMaker::Domain")
    assert domain["AppNetworkAccessType"] == "VpcOnly" and domain["AuthMode"] == "IAM"
    assert domain["VpcId"] == vpc["Outputs"]["VPCId"]["Value"]
    assert ",".join(domain["SubnetIds"]) == vpc["Outputs"]["PrivateSubnetIds"]["Value"]
    assert domain["SubnetIds"] and all(s.startswith("subnet-") for s in domain["SubnetIds"])
    assert domain["KmsKeyId"] == kms["Outputs"]["SageMakerStudioStorageKMSKeyArn"]["Value"]
    assert domain["DefaultUserSettings"]["ExecutionRole"] == iam["Outputs"]["SageMakerExecutionRoleArn"]["Value"]
    assert domain["DefaultUserSettings"]["SecurityGroups"] == vpc["Outputs"]["SageMakerSecurityGroupIds"][
        "Value"
    ].split(",")
    assert {t["Key"]: t["Value"] for t in domain["Tags"] if t}.items() >= {
        "EnvironmentName": "sm-mlops",
        "EnvironmentType": "dev",
    }.items()


@pytest.mark.parametrize("scenario", ["defaults", "existing network"])
def test_the_environment_meets_sagemaker_unified_studios_migration_preconditions(built, scenario):
    """AWS's migration of a SageMaker AI domain into SageMaker Unified Studio takes a domain with IAM
    authentication, in the account, region and VPC of the environment (the Unified Studio project uses that VPC),
    whose user profiles set no execution role of their own (the domain's default becomes the project role)."""
    tree = render_tree(built, env_main.NAME, BASE if scenario == "defaults" else {**BASE, **EXISTING_NETWORK})
    studio, vpc = tree["EnvironmentSageMakerStudio"], tree["EnvironmentVPC"]
    (domain,) = props(studio, "AWS::SageMaker::Domain")
    profiles = props(studio, "AWS::SageMaker::UserProfile")
    assert domain["AuthMode"] == "IAM"
    assert domain["VpcId"] == vpc["Outputs"]["VPCId"]["Value"]
    if scenario == "existing network":
        assert domain["VpcId"] == EXISTING_NETWORK["ExistingVPCId"]
    assert domain["DefaultUserSettings"]["ExecutionRole"].startswith("arn:aws:iam::123456789012:role/")
    assert profiles and all("ExecutionRole" not in p.get("UserSettings", {}) for p in profiles)


def test_buckets_encrypted_with_the_environment_key_and_reachable_through_its_endpoint(defaults):
    s3, kms = defaults["EnvironmentS3"], defaults["EnvironmentKMSKeys"]
    key = kms["Outputs"]["S3BucketKMSKeyArn"]["Value"]
    names = {p["BucketName"] for p in props(s3, "AWS::S3::Bucket")}
    assert names == {f"sm-mlops-dev-us-east-1-123456789012-{kind}" for kind in ("data", "models", "logs")}
    for bucket in props(s3, "AWS::S3::Bucket"):
        if bucket["BucketName"].endswith("-logs"):
            continue
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    endpoint = defaults["EnvironmentVPCEndpoints"]["Outputs"]["VPCEndpointS3Id"]["Value"]
    policies = json.dumps(props(s3, "AWS::S3::BucketPolicy"))
    assert endpoint.startswith("vpce-") and endpoint in policies
    assert "PrincipalTag" not in policies  # no tag-based bypass of the VPC restriction


def test_guardrails_name_the_environment_network_and_keys_and_attach_to_its_roles(defaults):
    policies = props(defaults["root"], "AWS::IAM::ManagedPolicy")
    text = json.dumps(policies)
    vpc, kms, iam = defaults["EnvironmentVPC"], defaults["EnvironmentKMSKeys"], defaults["EnvironmentIAMRoles"]
    for subnet in vpc["Outputs"]["PrivateSubnetIds"]["Value"].split(","):
        assert subnet in text
    assert vpc["Outputs"]["SageMakerSecurityGroupIds"]["Value"] in text
    assert kms["Outputs"]["SagemakerEBSKMSKeyArn"]["Value"] in text
    guardrails = [p for p in policies if "sm-guardrails" in p["ManagedPolicyName"]]
    attached = {role for policy in guardrails for role in policy["Roles"]}
    # Every role that creates or uses SageMaker resources, the projects' too, and this account's model
    # deployment role (single-account deployments put staging and production endpoints here).
    assert attached == {iam["Outputs"][o]["Value"] for o in env_main.GUARDED_ROLES} | {
        defaults["EnvironmentTargetAccountRoles"]["Outputs"]["StackSetExecutionRoleName"]["Value"]
    }
    assert {"SageMakerModelBuildRoleName", "SageMakerModelDeployRoleName"} <= set(env_main.GUARDED_ROLES)
    # Studio only in the environment's domain, for the roles that use Studio.
    [scope] = [p for p in policies if "studio-scope" in p["ManagedPolicyName"]]
    assert set(scope["Roles"]) == {iam["Outputs"][o]["Value"] for o in env_main.STUDIO_ROLES}
    domain = defaults["EnvironmentSageMakerStudio"]["Outputs"]["SageMakerDomainId"]["Value"]
    [statement] = scope["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and all(f"/{domain}/*" in r for r in statement["NotResource"])


def test_ssm_contract_is_complete_and_never_empty(defaults):
    names = {}
    for stack in defaults.values():
        for p in props(stack, "AWS::SSM::Parameter"):
            assert p["Value"] not in ("", None), p["Name"]
            names[p["Name"]] = p["Value"]
    expected = {
        f"sm-mlops-dev-{s}"
        for s in (
            "vpc-id",
            "private-subnet-ids",
            "sagemaker-sg-ids",
            "s3-vpce-id",
            "kms-vpce-id",
            "kms-ebs-key-arn",
            "kms-efs-key-arn",
            "kms-s3-key-arn",
            "sagemaker-domain-id",
            "sm-pipeline-execution-role-arn",
            "sm-model-execution-role-name",
            "stackset-administration-role-arn",
            "stackset-execution-role-name",
            "model-bucket-name",
            "data-bucket-name",
            "env-type-staging-name",
            "env-type-prod-name",
            "seed-code-s3bucket-name",
        )
    }
    expected |= {
        f"sm-mlops-{stage}-{s}" for stage in ("staging", "prod") for s in ("sagemaker-sg-ids", "private-subnet-ids")
    }
    assert expected <= set(names)
    assert names["sm-mlops-dev-model-bucket-name"] == "sm-mlops-dev-us-east-1-123456789012-models"


def test_defaults_have_nat_gateways_per_zone(defaults):
    egress = defaults["EnvironmentVPCEndpoints"]
    assert len(resources(egress, "AWS::EC2::NatGateway")) == 2
    assert len(resources(egress, "AWS::EC2::InternetGateway")) == 1


INTERNET_FREE = {**BASE, "CreateNATGateways": "NO", "UseSharedServicesPyPiMirror": "YES"}


def test_internet_free_environment(built):
    params = INTERNET_FREE
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    egress = tree["EnvironmentVPCEndpoints"]
    for kind in ("AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"):
        assert resources(egress, kind) == {}, kind
    routes = props(egress, "AWS::EC2::Route")
    assert not [r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    # Every endpoint Studio, jobs and pipelines need, with private DNS.
    needed = {
        "sagemaker.api",
        "sagemaker.runtime",
        "studio",
        "sts",
        "logs",
        "monitoring",
        "ssm",
        "kms",
        "servicecatalog",
        "ecr.api",
        "ecr.dkr",
        "s3",
        "cloudformation",
        "codeartifact.api",
        "codeartifact.repositories",
    }
    assert needed <= endpoint_services(tree)
    for endpoint in props(egress, "AWS::EC2::VPCEndpoint"):
        if endpoint.get("VpcEndpointType", "Gateway") == "Interface":
            assert endpoint["PrivateDnsEnabled"] is True


def test_internet_free_refuses_a_missing_endpoint(built):
    failures = rule_failures(built[env_main.NAME], {**INTERNET_FREE, "CreateSTSVPCEndpoint": "NO"})
    assert failures and all("CreateSTSVPCEndpoint" in f for f in failures)


def test_existing_vpc_and_subnets(built):
    params = {**BASE, **EXISTING_NETWORK}
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    vpc = tree["EnvironmentVPC"]
    assert resources(vpc, "AWS::EC2::VPC") == {} and resources(vpc, "AWS::EC2::Subnet") == {}
    (domain,) = props(tree["EnvironmentSageMakerStudio"], "AWS::SageMaker::Domain")
    assert domain["VpcId"] == "vpc-0123456789abcdef0"
    assert domain["SubnetIds"] == EXISTING_NETWORK["ExistingPrivateSubnetIds"].split(",")
    (s3_endpoint,) = [
        p for p in props(tree["EnvironmentVPCEndpoints"], "AWS::EC2::VPCEndpoint") if p["ServiceName"].endswith(".s3")
    ]
    assert s3_endpoint["RouteTableIds"] == EXISTING_NETWORK["ExistingPrivateRouteTableIds"].split(",")


@pytest.mark.parametrize("missing", ["ExistingVPCId", "ExistingPrivateSubnetIds", "ExistingPrivateRouteTableIds"])
def test_existing_network_needs_its_ids(built, missing):
    failures = rule_failures(built[env_main.NAME], {**BASE, **EXISTING_NETWORK, missing: ""})
    assert any(missing in f for f in failures)


def test_nat_needs_a_new_vpc(built):
    failures = rule_failures(built[env_main.NAME], {**BASE, **EXISTING_NETWORK, "CreateNATGateways": "YES"})
    assert any("CreateNATGateways" in f for f in failures)


def test_existing_iam_roles_create_no_role(built):
    params = {**BASE, **EXISTING_ROLES}
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    assert "EnvironmentIAMRoles" not in tree and "EnvironmentTargetAccountRoles" not in tree
    roles = [k for stack in tree.values() for k in resources(stack, "AWS::IAM::Role")]
    assert roles == []
    (domain,) = props(tree["EnvironmentSageMakerStudio"], "AWS::SageMaker::Domain")
    assert domain["DefaultUserSettings"]["ExecutionRole"] == ROLE.format("exec")
    functions = props(tree["EnvironmentSageMakerStudio"], "AWS::Lambda::Function")
    assert functions and {f["Role"] for f in functions} == {ROLE.format("setup")}
    (flow_log,) = props(tree["EnvironmentVPC"], "AWS::EC2::FlowLog")
    assert flow_log["DeliverLogsPermissionArn"] == ROLE.format("flow-logs")
    # The guardrails exist for the given roles to attach (no role of the user's is changed).
    assert all("Roles" not in p for p in props(tree["root"], "AWS::IAM::ManagedPolicy"))


@pytest.mark.parametrize("missing", ["SageMakerExecutionRoleArn", "SetupLambdaExecutionRoleArn", "VPCFlowLogsRoleArn"])
def test_existing_roles_must_be_given(built, missing):
    failures = rule_failures(built[env_main.NAME], {**BASE, **EXISTING_ROLES, missing: ""})
    assert any(missing in f for f in failures)


def test_existing_buckets(built):
    params = {
        **BASE,
        "CreateEnvironmentS3Buckets": "NO",
        "DataBucketName": "their-data",
        "ModelBucketName": "their-models",
    }
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    assert "EnvironmentS3" not in tree
    ssm = {p["Name"]: p["Value"] for p in props(tree["root"], "AWS::SSM::Parameter")}
    assert ssm["sm-mlops-dev-data-bucket-name"] == "their-data"
    assert "their-models" in json.dumps(props(tree["EnvironmentIAMRoles"], "AWS::IAM::ManagedPolicy"))
    assert rule_failures(built[env_main.NAME], {**BASE, "DataBucketName": "x-data"})  # names are generated


def test_quickstart_creates_core_and_environment(built):
    tree = render_tree(
        built, "data-science-environment-quickstart", {"EnvName": "team1", "SeedCodeS3BucketName": "release-bucket"}
    )
    assert {"DataScienceCore", "DataScienceEnvironment"} <= set(tree)
    core = tree["root"]["Resources"]["DataScienceCore"]["Properties"]["Parameters"]
    assert core["StackSetName"] == "ds-team1"  # a second quickstart with another EnvName does not collide
    env = tree["root"]["Resources"]["DataScienceEnvironment"]
    assert env["DependsOn"] == ["DataScienceCore"] or env["DependsOn"] == "DataScienceCore"
    assert env["Properties"]["Parameters"]["AvailabilityZones"] == "us-east-1a,us-east-1b"
    # The environment's roles carry the platform boundary of this quickstart's own core (imported by its name).
    assert env["Properties"]["Parameters"]["CoreStackSetName"] == core["StackSetName"]
    assert "DataScienceEnvironment/EnvironmentSageMakerStudio" in tree
    three = render_tree(
        built,
        "data-science-environment-quickstart",
        {"EnvName": "team1", "SeedCodeS3BucketName": "release-bucket", "NumberOfAZs": "3"},
    )
    assert len(resources(three["DataScienceEnvironment/EnvironmentVPC"], "AWS::EC2::Subnet")) == 3


def test_service_catalog_path_offers_env_main_with_the_launch_role(built):
    """Two-step option 2: core-main's portfolio offers env-main as the product, launched as the SC launch role
    (whose permissions tests/test_iam_coverage.py proves against every environment resource)."""
    core = render_tree(built, "core-main", {"StackSetName": "core"})
    portfolio = core["SharedServiceCatalogPortfolio"]
    (product,) = props(portfolio, "AWS::ServiceCatalog::CloudFormationProduct")
    assert [v["Info"]["LoadTemplateFromURL"] for v in product["ProvisioningArtifactParameters"]] == ["env-main.yaml"]
    (constraint,) = props(portfolio, "AWS::ServiceCatalog::LaunchRoleConstraint")
    assert constraint["RoleArn"] == core["IAMSharedRoles"]["Outputs"]["SCLaunchRoleArn"]["Value"]


def test_direct_deployment_runs_as_the_launch_role_only_under_its_stack_names(built):
    """Two-step option 1: the environment stack created with --role-arn <SCLaunchRole> must be named
    ds-env-*; the administrator may pass the role to CloudFormation and run exactly those stacks."""
    shared = built["core-iam-shared-roles"]
    text = json.dumps(shared)
    assert f"stack/{naming.ENVIRONMENT_STACKS}/*" in text
    admin = json.dumps(shared["Resources"]["DataScienceAdministratorRole"])
    assert "cloudformation.amazonaws.com" in admin and "EnvironmentLaunchRole" in admin


def test_nothing_waits_for_endpoints_but_the_buckets(built):
    """The deployment-time design: the Studio domain's stack depends on the network, keys and roles, never on
    the VPC endpoints or NAT gateways (env-vpc-egress), which only the buckets' policies wait for."""
    resources_ = built[env_main.NAME]["Resources"]

    def reads(node) -> set[str]:
        text = json.dumps(node)
        return {lid for lid in resources_ if f'"{lid}.Outputs.' in text or f'["{lid}", "Outputs.' in text}

    studio = reads(resources_["EnvironmentSageMakerStudio"])
    assert studio == {"EnvironmentVPC", "EnvironmentKMSKeys", "EnvironmentIAMRoles"}
    assert reads(resources_["EnvironmentKMSKeys"]) == {"EnvironmentIAMRoles"}
    assert reads(resources_["EnvironmentVPC"]) <= {"EnvironmentIAMRoles"}
    waiting_for_egress = {lid for lid, r in resources_.items() if "EnvironmentVPCEndpoints" in reads(r)}
    assert waiting_for_egress == {"EnvironmentS3"}


def test_a_stage_environment_does_not_write_its_own_ssm_names_twice(built):
    tree = render_tree(built, env_main.NAME, {**BASE, "EnvType": "staging"})
    names = [p["Name"] for stack in tree.values() for p in props(stack, "AWS::SSM::Parameter")]
    assert len(names) == len(set(names))
    assert "sm-mlops-staging-private-subnet-ids" in names and "sm-mlops-prod-private-subnet-ids" in names


def test_existing_subnets_refuse_an_empty_item(built):
    failures = rule_failures(
        built[env_main.NAME], {**BASE, **EXISTING_NETWORK, "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,"}
    )
    assert any("ExistingPrivateSubnetIds" in f for f in failures)


# -- multi-account ----------------------------------------------------------------------------------------------
LISTS = {
    "StagingAccountList": "333333333333,444444444444",
    "ProductionAccountList": "555555555555",
    "SetupStackSetExecutionRoleName": "sm-mlops-setup-stackset-execution-role",
}
OUS = {
    "OrganizationalUnitStagingId": "ou-abcd-11111111",
    "OrganizationalUnitProdId": "ou-abcd-22222222",
    "OrganizationId": "o-abcdefghij",
}


def stack_sets(tree) -> dict[str, dict]:
    return {k: r["Properties"] for k, r in resources(tree["root"], "AWS::CloudFormation::StackSet").items()}


def _policy_statements(stack, type_, key):
    return [s for p in props(stack, type_) for s in p[key]["Statement"]]


def test_single_account_creates_no_stack_set_and_no_cross_account_grant(defaults):
    assert stack_sets(defaults) == {}
    (reader,) = [
        s
        for s in _policy_statements(defaults["EnvironmentS3"], "AWS::S3::BucketPolicy", "PolicyDocument")
        if s["Sid"] == "TargetAccountsReadModels"
    ]
    assert reader["Principal"] == {"AWS": ["123456789012"]}  # this account only
    (decrypt,) = [
        s
        for p in props(defaults["EnvironmentKMSKeys"], "AWS::KMS::Key")
        for s in p["KeyPolicy"]["Statement"]
        if s["Sid"] == "TargetAccountsDecryptModels"
    ]
    assert decrypt["Principal"] == {"AWS": ["123456789012"]}


def test_account_lists_self_managed_stack_sets_and_grants(built):
    params = {**BASE, **LISTS}
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    assert set(stack_sets(tree)) == {"EnvironmentTargetAccountRolesStackSet", "EnvironmentVPCStackSet"}
    network = stack_sets(tree)["EnvironmentVPCStackSet"]
    assert network["TemplateURL"] == "env-target-account-network.yaml"
    assert network["PermissionModel"] == "SELF_MANAGED"
    stack_set = stack_sets(tree)["EnvironmentTargetAccountRolesStackSet"]
    assert stack_set["PermissionModel"] == "SELF_MANAGED" and "AutoDeployment" not in stack_set
    assert (
        stack_set["AdministrationRoleARN"]
        == tree["EnvironmentIAMRoles"]["Outputs"]["StackSetAdministrationRoleArn"]["Value"]
    )
    assert stack_set["ExecutionRoleName"] == LISTS["SetupStackSetExecutionRoleName"]
    groups = [(g["DeploymentTargets"]["Accounts"], g["ParameterOverrides"]) for g in stack_set["StackInstancesGroup"]]
    assert groups == [
        (["333333333333", "444444444444"], [{"ParameterKey": "EnvType", "ParameterValue": "staging"}]),
        (["555555555555"], [{"ParameterKey": "EnvType", "ParameterValue": "prod"}]),
    ]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    assert passed["UseTargetAccountBoundary"] == "YES"  # the setup role creates roles only with it
    assert passed["SageMakerModelExecutionRoleName"] == "sm-mlops-dev-us-east-1-sm-model-exec"
    # Grants name the listed accounts (by id: not "public" by S3's definition), narrowed to the role.
    (reader,) = [
        s
        for s in _policy_statements(tree["EnvironmentS3"], "AWS::S3::BucketPolicy", "PolicyDocument")
        if s["Sid"] == "TargetAccountsReadModels"
    ]
    assert reader["Principal"] == {"AWS": ["333333333333", "444444444444", "555555555555"]}
    assert reader["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/sm-mlops-dev-us-east-1-sm-model-exec"}
    }
    (decrypt,) = [
        s
        for p in props(tree["EnvironmentKMSKeys"], "AWS::KMS::Key")
        for s in p["KeyPolicy"]["Statement"]
        if s["Sid"] == "TargetAccountsDecryptModels"
    ]
    assert decrypt["Condition"]["StringLike"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    assert decrypt["Principal"] == reader["Principal"]
    # The model deployments' StackSet execution role of the listed accounts describes the EBS key and lets
    # SageMaker encrypt endpoint volumes with it (grants for AWS resources only); no other key, no other role.
    # DescribeKey requests carry no grant keys: it has its own statement.
    volumes = {
        s["Sid"]: (k, s)
        for k, r in resources(tree["EnvironmentKMSKeys"], "AWS::KMS::Key").items()
        for s in r["Properties"]["KeyPolicy"]["Statement"]
        if s["Sid"].startswith("TargetAccounts") and "EndpointVolume" in s["Sid"]
    }
    assert {k for k, _ in volumes.values()} == {"SagemakerEBSKMSKey"}
    describe, grant = (
        volumes["TargetAccountsDescribeEndpointVolumeKey"][1],
        volumes["TargetAccountsEncryptEndpointVolumes"][1],
    )
    assert describe["Action"] == ["kms:DescribeKey"] and "Bool" not in describe["Condition"]
    assert grant["Action"] == ["kms:CreateGrant"]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    for statement in (describe, grant):
        assert statement["Principal"] == {"AWS": ["333333333333", "444444444444", "555555555555"]}
        assert statement["Condition"]["ArnLike"]["aws:PrincipalArn"] == (
            "arn:aws:iam::*:role/sm-mlops-dev-us-east-1-stackset-exec"
        )


def test_an_updated_account_list_changes_the_grants(built):
    before = render_tree(built, env_main.NAME, {**BASE, **LISTS})
    after = render_tree(built, env_main.NAME, {**BASE, **LISTS, "StagingAccountList": "666666666666"})

    def accounts(tree):
        (reader,) = [
            s
            for s in _policy_statements(tree["EnvironmentS3"], "AWS::S3::BucketPolicy", "PolicyDocument")
            if s["Sid"] == "TargetAccountsReadModels"
        ]
        return reader["Principal"]["AWS"]

    assert accounts(before) == ["333333333333", "444444444444", "555555555555"]
    assert accounts(after) == ["666666666666", "555555555555"]


def test_organizational_units_service_managed_stack_sets_and_org_path_grants(built):
    params = {**BASE, **OUS, "StackSetCallAs": "DELEGATED_ADMIN"}
    assert rule_failures(built[env_main.NAME], params) == []
    tree = render_tree(built, env_main.NAME, params)
    assert set(stack_sets(tree)) == {"EnvironmentTargetAccountRolesStackSetOU", "EnvironmentVPCStackSetOU"}
    stack_set = stack_sets(tree)["EnvironmentTargetAccountRolesStackSetOU"]
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED" and stack_set["CallAs"] == "DELEGATED_ADMIN"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert "AdministrationRoleARN" not in stack_set and "ExecutionRoleName" not in stack_set
    assert [g["DeploymentTargets"] for g in stack_set["StackInstancesGroup"]] == [
        {"OrganizationalUnitIds": ["ou-abcd-11111111"]},
        {"OrganizationalUnitIds": ["ou-abcd-22222222"]},
    ]
    (reader,) = [
        s
        for s in _policy_statements(tree["EnvironmentS3"], "AWS::S3::BucketPolicy", "PolicyDocument")
        if s["Sid"] == "TargetAccountsReadModels"
    ]
    assert reader["Condition"]["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"] == [
        "o-abcdefghij/*/ou-abcd-11111111/*",
        "o-abcdefghij/*/ou-abcd-22222222/*",
    ]
    # Principal "*" restricted to the organization by a fixed value: not "public" by S3's definition.
    assert reader["Principal"] == {"AWS": "*"}
    assert reader["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-abcdefghij"}


@pytest.mark.parametrize(
    "params,field",
    [
        ({**OUS, "StagingAccountList": "333333333333"}, "not both"),
        ({"OrganizationalUnitStagingId": "ou-abcd-11111111"}, "OrganizationalUnitProdId"),
        ({**OUS, "OrganizationId": ""}, "OrganizationId"),
        ({"StagingAccountList": "333333333333"}, "ProductionAccountList"),
        ({**LISTS, "SetupStackSetExecutionRoleName": ""}, "SetupStackSetExecutionRoleName"),
    ],
)
def test_target_account_rules(built, params, field):
    failures = rule_failures(built[env_main.NAME], {**BASE, **params})
    assert any(field in f for f in failures), failures


@pytest.mark.parametrize(
    "name,good,bad",
    [
        ("OrganizationalUnitStagingId", "ou-abcd-11111111", "ou-ABCD"),
        ("OrganizationId", "o-abcdefghij", "org-1"),
        ("StagingAccountList", "111111111111,222222222222", "11111111111,2"),
        ("ProductionAccountList", "111111111111", "111111111111, 222222222222"),
    ],
)
def test_malformed_ids_fail_parameter_validation(built, name, good, bad):
    from tests import cfn

    spec = built[env_main.NAME]["Parameters"][name]
    assert cfn.accepts(spec, good) and cfn.accepts(spec, "") and not cfn.accepts(spec, bad)
    assert spec["ConstraintDescription"]


def test_target_networks_can_be_left_out(built):
    tree = render_tree(built, env_main.NAME, {**BASE, **LISTS, "CreateTargetAccountNetworkInfra": "NO"})
    assert set(stack_sets(tree)) == {"EnvironmentTargetAccountRolesStackSet"}


def test_stackset_administration_path_fits_together(built):
    """Self-managed StackSets: CloudFormation assumes the environment's administration role, which may assume the
    setup role named in the target accounts, whose trust accepts exactly that administration role."""
    from templates_src.checks.iam_policy import Resolver, evaluate, request, role_statements, trust_statements

    dev, target = "123456789012", "333333333333"
    setup_name = LISTS["SetupStackSetExecutionRoleName"]
    iam = built["env-iam"]
    values = {"EnvName": "sm-mlops", "EnvType": "dev", "SetupStackSetExecutionRoleName": setup_name}
    resolver = Resolver(
        iam, values, pseudo={"AWS::AccountId": dev, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}
    )
    statements, _ = role_statements(iam, "StackSetAdministrationRole", resolver)
    setup_arn = f"arn:aws:iam::{target}:role/{setup_name}"
    assert evaluate(statements, request("sts:AssumeRole", setup_arn, complete=True)).allowed
    assert not evaluate(
        statements, request("sts:AssumeRole", f"arn:aws:iam::{target}:role/Admin", complete=True)
    ).allowed
    tree = render_tree(built, env_main.NAME, {**BASE, **LISTS})
    admin_arn = f"arn:aws:iam::{dev}:role/sm-mlops-dev-stackset-admin"
    assert stack_sets(tree)["EnvironmentTargetAccountRolesStackSet"]["ExecutionRoleName"] == setup_name

    setup = built["env-iam-setup-stackset-role"]
    setup_values = {
        "EnvName": "sm-mlops",
        "EnvType": "staging",
        "AdministratorAccountId": dev,
        "StackSetExecutionRoleName": setup_name,
    }
    trust = trust_statements(
        setup,
        "SetupStackSetExecutionRole",
        Resolver(
            setup, setup_values, pseudo={"AWS::AccountId": target, "AWS::Region": "us-east-1", "AWS::Partition": "aws"}
        ),
    )

    def assumes(principal_arn: str) -> bool:
        account = principal_arn.split(":")[4]
        return evaluate(
            trust,
            request(
                "sts:AssumeRole",
                setup_arn,
                complete=True,
                context={
                    "aws:PrincipalArn": principal_arn,
                    "aws:PrincipalAccount": account,
                    "principal": f"arn:aws:iam::{account}:root",
                },
            ),
        ).allowed

    assert assumes(admin_arn)
    assert not assumes(f"arn:aws:iam::{dev}:role/SomeoneElse")
