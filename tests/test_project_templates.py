"""The MLOps project templates (model build/train, model deploy) and the endpoint template they deploy: what a
project creates under its parameters, the approval-only trigger (on moto's EventBridge), the VPC and KMS settings
of every build, pipeline and endpoint, and the accounts and roles of the multi-account deployment actions."""

from __future__ import annotations

import json

import pytest

from templates_src.blocks import project
from templates_src.registry import SEED_CODE_TEMPLATES, TEMPLATES
from templates_src.templates.env import env_sc_portfolio
from templates_src.templates.project import cfn_sm_endpoint_template as endpoint
from templates_src.templates.project import project_model_deploy as deploy
from tests import cfn, support_project
from tests.support_cfn import load_source
from tests.support_project import ENVIRONMENT, PROJECT, with_environment
from tests.support_render import fake, render, resources, rule_failures

PROJECTS = ("project-model-build-train", "project-model-deploy")
CONNECTION = {
    "SourceCodeProvider": "CodeConnection",
    "RepositoryFullName": "example-org/churn",
    "CodeConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/"
    "0123abcd-4567-89ef-0123-456789abcdef",
}


def created(templates, name: str, **parameters) -> dict:
    """The project as CloudFormation creates it, the environment configuration answering ENVIRONMENT."""
    return render(with_environment(templates[name]), {**PROJECT, **parameters})


def env_vars(build_project: dict) -> dict[str, str]:
    return {v["Name"]: v.get("Value", "") for v in build_project["Properties"]["Environment"]["EnvironmentVariables"]}


def stage(pipeline: dict, name: str) -> dict:
    return next(s for s in pipeline["Properties"]["Stages"] if s["Name"] == name)


def action(pipeline: dict, name: str) -> dict:
    return next(a for s in pipeline["Properties"]["Stages"] for a in s["Actions"] if a["Name"] == name)


# -- what a project creates -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROJECTS)
def test_codecommit_project_seeds_a_repository_and_starts_on_pushes_to_its_branch(templates, name):
    stack = created(templates, name, RepositoryBranch="trunk")
    ((repo_id, repo),) = resources(stack, "AWS::CodeCommit::Repository").items()
    seed = "model-build-train" if "build" in name else "model-deploy"
    assert repo["Properties"]["Code"] == {
        "BranchName": "trunk",
        "S3": {"Bucket": "release-bucket", "Key": f"seed_code/{seed}.zip"},
    }  # packaging points Key at the release's zip
    (pipeline,) = resources(stack, "AWS::CodePipeline::Pipeline").values()
    source = action(pipeline, "Source")
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["BranchName"] == "trunk"
    assert source["Configuration"]["PollForSourceChanges"] == "false"
    pushes = [
        r
        for r in resources(stack, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.codecommit"]
    ]
    assert len(pushes) == 1
    pattern = pushes[0]["Properties"]["EventPattern"]
    assert pattern["detail"]["referenceName"] == ["trunk"] and pattern["detail"]["referenceType"] == ["branch"]
    assert pattern["resources"] == [fake(templates[name], repo_id, "Arn")]  # this repository only


@pytest.mark.parametrize("name", PROJECTS)
def test_codeconnection_project_uses_the_connection_and_creates_no_repository(templates, name):
    stack = created(templates, name, **CONNECTION)
    assert not resources(stack, "AWS::CodeCommit::Repository")
    assert all(
        r["Properties"]["EventPattern"]["source"] != ["aws.codecommit"]
        for r in resources(stack, "AWS::Events::Rule").values()
    )
    (pipeline,) = resources(stack, "AWS::CodePipeline::Pipeline").values()
    source = action(pipeline, "Source")
    assert source["ActionTypeId"] == {
        "Category": "Source",
        "Owner": "AWS",
        "Provider": "CodeStarSourceConnection",
        "Version": "1",
    }
    assert source["Configuration"] == {
        "ConnectionArn": CONNECTION["CodeConnectionArn"],
        "FullRepositoryId": "example-org/churn",
        "BranchName": "main",
        "OutputArtifactFormat": "CODE_ZIP",
        "DetectChanges": "true",
    }


@pytest.mark.parametrize("name", PROJECTS)
@pytest.mark.parametrize("missing", ["CodeConnectionArn", "RepositoryFullName"])
def test_a_connection_needs_its_arn_and_repository(templates, name, missing):
    failures = rule_failures(templates[name], {**PROJECT, **CONNECTION, missing: ""})
    assert failures == [f"{missing} is required with SourceCodeProvider=CodeConnection"]
    assert rule_failures(templates[name], {**PROJECT, **CONNECTION}) == []
    assert rule_failures(templates[name], PROJECT) == []


@pytest.mark.parametrize("name", PROJECTS)
def test_parameters_refuse_what_aws_names_cannot_hold(templates, name):
    parameters = templates[name]["Parameters"]
    assert cfn.accepts(parameters["SageMakerProjectName"], "Churn-Model")
    assert not cfn.accepts(parameters["SageMakerProjectName"], "9lives")
    assert not cfn.accepts(parameters["SageMakerProjectName"], "x" * 33)
    assert cfn.accepts(parameters["SageMakerProjectId"], "p-abc123def456")
    assert not cfn.accepts(parameters["SageMakerProjectId"], "P-ABC")
    assert not cfn.accepts(parameters["CodeConnectionArn"], "arn:aws:s3:::bucket")


@pytest.mark.parametrize("name", PROJECTS)
def test_physical_names_fit_their_limits_and_the_roles_prefixes(templates, name):
    """The longest project name and id still give valid names, all under the prefixes the SageMaker products
    roles are scoped to (sagemaker-*, sm-mlops-cp-*), and the artifact bucket name stays lower-case."""
    stack = created(templates, name, SageMakerProjectName="A" + "b" * 31, SageMakerProjectId="p-" + "a" * 13)
    limits = {
        "AWS::CodeCommit::Repository": ("RepositoryName", 100),
        "AWS::CodeBuild::Project": ("Name", 150),
        "AWS::CodePipeline::Pipeline": ("Name", 100),
        "AWS::Events::Rule": ("Name", 64),
        "AWS::S3::Bucket": ("BucketName", 63),
    }
    for resource in stack["Resources"].values():
        if resource["Type"] in limits:
            key, limit = limits[resource["Type"]]
            value = resource["Properties"][key]
            assert len(value) <= limit, value
            prefix = "sm-mlops-cp-" if resource["Type"] == "AWS::S3::Bucket" else "sagemaker-"
            assert value.startswith(prefix), value
    (bucket,) = resources(stack, "AWS::S3::Bucket").values()
    assert bucket["Properties"]["BucketName"] == bucket["Properties"]["BucketName"].lower()


# -- VPC and KMS everywhere ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROJECTS)
def test_every_build_runs_in_the_environments_vpc_with_its_key(templates, name):
    stack = created(templates, name)
    builds = resources(stack, "AWS::CodeBuild::Project")
    assert builds
    for build in builds.values():
        props = build["Properties"]
        assert props["VpcConfig"] == {
            "VpcId": ENVIRONMENT["VpcId"],
            "Subnets": ENVIRONMENT["SubnetIds"].split(","),
            "SecurityGroupIds": [ENVIRONMENT["SecurityGroups"]],
        }
        assert props["EncryptionKey"] == ENVIRONMENT["S3KmsKeyArn"]
        # The environment's role of the project kind (never SageMaker's account-wide products use role).
        assert (
            props["ServiceRole"]
            == support_project.PROJECT_ROLES[
                "sm-model-build-role-arn" if name == "project-model-build-train" else "sm-model-deploy-role-arn"
            ]
        )
        assert "standard:3.0" not in props["Environment"]["Image"]
        variables = env_vars(build)
        for key, attribute in (
            ("SUBNET_IDS", "SubnetIds"),
            ("SECURITY_GROUP_IDS", "SecurityGroups"),
            ("S3_KMS_KEY_ARN", "S3KmsKeyArn"),
            ("EBS_KMS_KEY_ARN", "EbsKmsKeyArn"),
            ("SAGEMAKER_PIPELINE_ROLE_ARN", "PipelineExecutionRoleArn"),
            ("DATA_BUCKET", "DataBucketName"),
            ("MODEL_BUCKET", "ModelBucketName"),
        ):
            assert variables[key] == ENVIRONMENT[attribute], key
    (pipeline,) = resources(stack, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["Properties"]["ArtifactStore"]["EncryptionKey"] == {"Id": ENVIRONMENT["S3KmsKeyArn"], "Type": "KMS"}


@pytest.mark.parametrize("name", PROJECTS)
def test_artifact_bucket_is_encrypted_versioned_private_and_tls_only(templates, name):
    stack = created(templates, name)
    (bucket,) = resources(stack, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": ENVIRONMENT["S3KmsKeyArn"],
    }
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert "AccessControl" not in props
    (policy,) = resources(stack, "AWS::S3::BucketPolicy").values()
    tls, project_role_only = policy["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Only the project's role reads and writes the artifacts a pipeline deploys.
    (build_project,) = [b for b in resources(stack, "AWS::CodeBuild::Project").values()][:1]
    assert project_role_only["Effect"] == "Deny" and project_role_only["Principal"] == "*"
    assert project_role_only["Condition"] == {
        "StringNotEquals": {"aws:PrincipalArn": build_project["Properties"]["ServiceRole"]}
    }


def test_endpoint_template_encrypts_the_volume_and_runs_in_the_stage_network(templates):
    values = {
        "SageMakerProjectName": "Churn",
        "SageMakerProjectId": "p-abc123def456",
        "EnvName": "sm-mlops",
        "EnvType": "staging",
        "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-p-abc123def456/3",
        "ExecutionRoleName": "sm-mlops-dev-us-east-1-sm-model-exec",
        "SageMakerSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
        "SageMakerSecurityGroupIds": "sg-0123456789abcdef0",
        "VolumeKmsKeyArn": ENVIRONMENT["EbsKmsKeyArn"],
    }
    template = json.loads(json.dumps(templates[endpoint.NAME]))
    for name in ("SageMakerSubnetIds", "SageMakerSecurityGroupIds"):  # CloudFormation resolves the SSM names
        assert template["Parameters"][name]["Type"] == "AWS::SSM::Parameter::Value<String>"
        template["Parameters"][name]["Type"] = "String"
    stack = render(template, values)
    model = stack["Resources"]["Model"]["Properties"]
    assert model["VpcConfig"] == {
        "Subnets": values["SageMakerSubnetIds"].split(","),
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
    }
    assert model["EnableNetworkIsolation"] is True
    assert model["PrimaryContainer"] == {"ModelPackageName": values["ModelPackageName"]}
    assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/sm-mlops-dev-us-east-1-sm-model-exec"
    config = stack["Resources"]["EndpointConfig"]["Properties"]
    assert config["KmsKeyId"] == ENVIRONMENT["EbsKmsKeyArn"]
    assert "DataCaptureConfig" not in config
    (variant,) = config["ProductionVariants"]
    assert variant["InstanceType"] == "ml.m5.large" and not variant["InstanceType"].startswith("ml.t2")
    assert stack["Resources"]["Endpoint"]["Properties"]["EndpointName"] == "Churn-p-abc123def456-staging"
    tags = {t["Key"]: t["Value"] for t in stack["Resources"]["Endpoint"]["Properties"]["Tags"]}
    assert tags["sagemaker:deployment-stage"] == "staging" and tags["sagemaker:project-name"] == "Churn"

    captured = render(
        template,
        {**values, "DataCapture": "YES", "NetworkIsolation": "NO", "DataCaptureS3Uri": "s3://capture-bucket/churn"},
    )
    assert captured["Resources"]["Model"]["Properties"]["EnableNetworkIsolation"] is False
    capture = captured["Resources"]["EndpointConfig"]["Properties"]["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and capture["DestinationS3Uri"] == "s3://capture-bucket/churn"
    assert rule_failures(templates[endpoint.NAME], {**values, "DataCapture": "YES"}) == [
        "DataCaptureS3Uri is required with DataCapture=YES"
    ]


def test_every_endpoint_template_parameter_is_set_by_the_build_or_has_a_default(templates):
    """The deploy seed code sets the build-owned parameters; everything else has a default the stage configuration
    may override (its own tests check the configurations against the same template)."""
    parameters = templates[endpoint.NAME]["Parameters"]
    without_default = {k for k, v in parameters.items() if "Default" not in v}
    assert without_default <= set(deploy.BUILD_OWNED_PARAMETERS)
    assert set(deploy.BUILD_OWNED_PARAMETERS) <= set(parameters)
    assert "Accounts" not in parameters  # the reference's unused parameter
    # The seed code's build owns exactly these (it refuses them in a stage configuration).
    assert set(support_project.load_deploy_build().BUILD_OWNED) == set(deploy.BUILD_OWNED_PARAMETERS)


# -- the model deploy pipeline --------------------------------------------------------------------------------------
def test_deploy_pipeline_stages_in_order(templates):
    stack = created(templates, deploy.NAME)
    (pipeline,) = resources(stack, "AWS::CodePipeline::Pipeline").values()
    assert [s["Name"] for s in pipeline["Properties"]["Stages"]] == [
        "Source",
        "Build",
        "DeployModelStaging",
        "DeployModelProd",
    ]
    staging = sorted(stage(pipeline, "DeployModelStaging")["Actions"], key=lambda a: a["RunOrder"])
    assert [(a["Name"], a["ActionTypeId"]["Provider"]) for a in staging] == [
        ("DeployStaging", "CloudFormationStackSet"),
        ("TestStaging", "CodeBuild"),
        ("ApproveProductionDeployment", "Manual"),
    ]
    test = staging[1]
    assert [i["Name"] for i in test["InputArtifacts"]] == ["SourceArtifact", "BuildArtifact"]
    assert test["Configuration"]["PrimarySource"] == "SourceArtifact"


@pytest.mark.parametrize(
    "stage_name,action_name,stage_type", [("staging", "DeployStaging", "staging"), ("prod", "DeployProd", "prod")]
)
def test_deploy_actions_target_the_build_accounts_as_the_environments_stackset_roles(
    templates, stage_name, action_name, stage_type
):
    stack = created(templates, deploy.NAME, MultiAccountDeployment="YES")
    (pipeline,) = resources(stack, "AWS::CodePipeline::Pipeline").values()
    config = action(pipeline, action_name)["Configuration"]
    assert config["PermissionModel"] == "SELF_MANAGED"
    assert config["AdministrationRoleArn"] == ENVIRONMENT["StackSetAdministrationRoleArn"]
    assert config["ExecutionRoleName"] == ENVIRONMENT["StackSetExecutionRoleName"]
    assert config["DeploymentTargets"] == f"BuildArtifact::{stage_name}-targets.json"
    assert config["Parameters"] == f"BuildArtifact::{stage_name}-config.json"
    assert config["TemplatePath"] == "BuildArtifact::cfn-sm-endpoint.yaml"
    assert config["Regions"] == "us-east-1"
    assert config["StackSetName"] == f"sagemaker-Churn-Model-p-abc123def456-deploy-{stage_type}"
    assert config["FailureTolerancePercentage"] == "0"
    # The build that writes the targets gets the environment's accounts and role names.
    build = next(
        b
        for b in resources(stack, "AWS::CodeBuild::Project").values()
        if b["Properties"]["Source"]["BuildSpec"] == "buildspec.yml"
    )
    variables = env_vars(build)
    assert variables["MULTI_ACCOUNT_DEPLOYMENT"] == "YES"
    assert variables["STAGING_ACCOUNT_LIST"] == ENVIRONMENT["StagingAccountList"]
    assert variables["PROD_ACCOUNT_LIST"] == ENVIRONMENT["ProductionAccountList"]
    assert variables["MODEL_EXECUTION_ROLE_NAME"] == ENVIRONMENT["ModelExecutionRoleName"]
    assert variables["STACKSET_EXECUTION_ROLE_NAME"] == ENVIRONMENT["StackSetExecutionRoleName"]
    assert variables["ENV_TYPE_STAGING_NAME"] == "staging" and variables["ENV_TYPE_PROD_NAME"] == "prod"


def test_model_package_group_defaults_to_the_projects_own(templates):
    auto = env_vars(next(iter(resources(created(templates, deploy.NAME), "AWS::CodeBuild::Project").values())))
    assert auto["MODEL_PACKAGE_GROUP_NAME"] == "Churn-Model-p-abc123def456"
    given = created(templates, deploy.NAME, ModelPackageGroupName="churn-build-p-999")
    assert {env_vars(b)["MODEL_PACKAGE_GROUP_NAME"] for b in resources(given, "AWS::CodeBuild::Project").values()} == {
        "churn-build-p-999"
    }


def _approval_rule(templates, **parameters) -> dict:
    stack = created(templates, deploy.NAME, **parameters)
    (rule,) = [
        r
        for r in resources(stack, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.sagemaker"]
    ]
    return rule


def _package_event(group: str, status: str) -> dict:
    return {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps(
            {
                "ModelPackageGroupName": group,
                "ModelPackageVersion": 3,
                "ModelApprovalStatus": status,
                "ModelPackageArn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/3",
            }
        ),
    }


def test_only_approval_of_the_groups_packages_starts_the_deployment_on_eventbridge(templates, moto):
    """The rule as rendered, put on moto's EventBridge with a queue as target: only the approval of a package of
    the project's group arrives (not registration, pending approval, rejection, or another group's approval)."""
    rule = _approval_rule(templates)
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"] == {
        "ModelPackageGroupName": ["Churn-Model-p-abc123def456"],
        "ModelApprovalStatus": ["Approved"],
    }
    events, sqs = moto.client("events"), moto.client("sqs")
    queue = sqs.create_queue(QueueName="deploy-starts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule["Properties"]["Name"], EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule["Properties"]["Name"], Targets=[{"Id": "queue", "Arn": arn}])
    group = "Churn-Model-p-abc123def456"
    sent = [_package_event(group, s) for s in ("PendingManualApproval", "Rejected", "Approved")]
    sent.append(_package_event("other-group", "Approved"))
    sent.append({**_package_event(group, "Approved"), "Source": "custom.sagemaker"})
    assert events.put_events(Entries=sent)["FailedEntryCount"] == 0
    received = []
    for _ in range(3):
        received += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    details = [json.loads(m["Body"])["detail"] for m in received]
    assert [(d["ModelPackageGroupName"], d["ModelApprovalStatus"]) for d in details] == [(group, "Approved")]


# -- the environment lookup -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROJECTS)
def test_every_environment_value_the_project_reads_is_one_the_function_returns(templates, name):
    """GetAtt of an attribute the function never returns would fail the stack: every attribute read is a domain
    field, a domain tag, or an SSM variable the custom resource asks for."""
    template = templates[name]
    env_config_function = load_source("get_environment_configuration")
    requested = {p["VariableName"] for p in template["Resources"][project.ENV_CONFIG]["Properties"]["SSMParams"]}
    returned = (
        set(env_config_function.DOMAIN_FIELDS)
        | set(env_config_function.USER_FIELDS)
        | {"EnvironmentName", "EnvironmentType"}
        | requested
    )
    read = {
        node["Fn::GetAtt"][1]
        for node in cfn.walk(template)
        if isinstance(node, dict) and "Fn::GetAtt" in node and node["Fn::GetAtt"][0] == project.ENV_CONFIG
    }
    assert read and read <= returned, read - returned
    assert requested <= read | {"SeedCodeS3BucketName"}, requested - read  # nothing asked for and unused


@pytest.mark.parametrize("name", PROJECTS)
def test_the_environment_function_is_the_cores_export(templates, name):
    token = templates[name]["Resources"][project.ENV_CONFIG]["Properties"]["ServiceToken"]
    assert token == {"Fn::ImportValue": {"Fn::Sub": "${CoreStackSetName}-get-environment-configuration-lambda-arn"}}
    assert templates["core-main"]["Outputs"]["GetEnvironmentConfigurationLambdaArn"]["Export"]["Name"] == {
        "Fn::Sub": "${StackSetName}-get-environment-configuration-lambda-arn"
    }


# -- products, seed code -----------------------------------------------------------------------------------------
def test_both_projects_are_studio_visible_products_of_the_environment_portfolio(templates):
    portfolio = templates[env_sc_portfolio.NAME]
    products = resources(portfolio, "AWS::ServiceCatalog::CloudFormationProduct")
    urls = {
        p["Properties"]["ProvisioningArtifactParameters"][-1]["Info"]["LoadTemplateFromURL"]: p
        for p in products.values()
    }
    assert set(urls) == {f"{name}.yaml" for name in PROJECTS}
    for product in products.values():
        tags = {t["Key"]: t["Value"] for t in product["Properties"]["Tags"]}
        assert tags["sagemaker:studio-visibility"] == "true"
    constraints = resources(portfolio, "AWS::ServiceCatalog::LaunchRoleConstraint")
    assert len(constraints) == len(products)


def test_the_deploy_seed_code_ships_the_generated_endpoint_template():
    assert SEED_CODE_TEMPLATES[deploy.SEED_CODE] == {f"{endpoint.NAME}.yaml": endpoint.NAME}
    assert TEMPLATES[endpoint.NAME].family == "project" and not TEMPLATES[endpoint.NAME].entry
    assert all(TEMPLATES[name].entry for name in PROJECTS)


def test_every_release_adds_a_version_of_each_project_product():
    """Packaged with an earlier release in the bucket, each product lists the earlier release's template (its own,
    unchanged URL) and then this release's: environments updated to a new release offer both versions."""
    import pathlib

    from templates_src.config import Config
    from templates_src.release.model import Target
    from templates_src.release.plan import plan_release

    target = Target("releases", "sagemaker-mlops", "us-east-1", "amazonaws.com")
    earlier = {
        name: {"key": f"sagemaker-mlops/templates/{name}/0123456789abcdef.yaml", "sha256": "0" * 64}
        for name in PROJECTS
    }
    seed = pathlib.Path(__file__).resolve().parents[1] / "seed_code"
    plan = plan_release(Config(), target, None, [{"release": "0.0.9", "templates": earlier}], seed)
    portfolio = plan.packaged.templates[env_sc_portfolio.NAME].template
    for product in resources(portfolio, "AWS::ServiceCatalog::CloudFormationProduct").values():
        versions = product["Properties"]["ProvisioningArtifactParameters"]
        (name,) = [n for n in PROJECTS if n in versions[-1]["Info"]["LoadTemplateFromURL"]]
        assert [(v["Name"], v["Info"]["LoadTemplateFromURL"]) for v in versions] == [
            ("v0.0.9", target.url(earlier[name]["key"])),
            (f"v{Config().version}", plan.template_urls[name]),
        ]
