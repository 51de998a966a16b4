"""What real accounts enforce and moto does not, for each cross-account and cross-service flow.

The platform is deployed offline (``templates_src.checks.platform``, every scenario) and each flow is evaluated
as the chain of requests it is, with the identity policies and permissions boundaries of the caller, the
resource's policy (key policy, bucket policy, model package group policy), the policy of the VPC endpoint the
request goes through, the trust policy of a role assumed on the way, and the condition keys each request
really carries (``templates_src.checks.flows``).  Each flow: 0 denied requests.  And no bucket policy is
"public" by S3's definition in any mode (Block Public Access would refuse it and roll the environment back).
"""

from __future__ import annotations

import pytest

from templates_src import release_layout
from templates_src.blocks import package_mirror
from templates_src.checks import escalation, flows, platform
from templates_src.checks.platform import DEV, ENV_A, ENV_B, ORGANIZATION, OU_STAGING, STAGING
from templates_src.checks.world import Principal

SCENARIOS = platform.SCENARIOS
REGION = platform.REGION


@pytest.fixture(scope="module")
def worlds(templates, default_config):
    return {scenario: platform.build(templates, default_config, scenario) for scenario in SCENARIOS}


# -- where things are -------------------------------------------------------------------------------------------------
def _role(stack, logical_id) -> Principal:
    return next(r for r in stack.world.principals if r.stack is stack and r.logical_id == logical_id)


def _policy(stack, logical_id, prop):
    return escalation.resource_policy_statements(
        stack.template["Resources"][logical_id]["Properties"][prop], stack, f"{stack.name}/{logical_id}"
    )


def _output(stack, name) -> list[str]:
    """An output's values (a comma-separated list output as its items)."""
    return [
        item for value in stack.resolver.values(stack.template["Outputs"][name]["Value"]) for item in value.split(",")
    ]


def _target(p, account: str, template: str):
    """The stack of ``template`` in a target account (the development account's own, single-account)."""
    if p.multi_account:
        return next(s for s in p.targets[account] if s.name == template)
    return p.child(ENV_A, template)


def _target_account(p) -> str:
    return STAGING if p.multi_account else DEV


def _organization(p) -> dict:
    """The organization keys a target account's principal carries (organizational units only)."""
    if p.scenario != "organizational-units":
        return {}
    return {"aws:PrincipalOrgID": ORGANIZATION, "aws:PrincipalOrgPaths": [f"{ORGANIZATION}/r-ab12/{OU_STAGING}/"]}


def _network(p, account):
    """(VPC id, S3 endpoint id, S3 endpoint policy, subnet ids, security group ids) of the endpoints' network in
    ``account`` (the environment's own in single-account deployments)."""
    if p.multi_account:
        network = _target(p, account, "env-target-account-network")
        endpoint = network
        subnets, groups = _output(network, "PrivateSubnetIds"), _output(network, "SageMakerSecurityGroupIds")
    else:
        network = p.child(ENV_A, "env-vpc")
        endpoint = p.child(ENV_A, "env-vpc-egress")
        subnets, groups = _output(network, "PrivateSubnetIds"), _output(network, "SageMakerSecurityGroupIds")
    [vpc] = _output(network, "VPCId")
    [endpoint_id] = endpoint.physical("VPCEndpointS3")
    return vpc, endpoint_id, _policy(endpoint, "VPCEndpointS3", "PolicyDocument"), subnets, groups


def _assert_flow(steps):
    outcomes = flows.run(steps)
    denied = [str(o) for o in outcomes if not o.allowed]
    assert denied == [], "\n".join(denied)
    return outcomes


# -- S3's definition of public -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_bucket_policy_is_public_by_s3s_definition(worlds, scenario):
    """W1: Block Public Access refuses a bucket policy granting to "*" unless a fixed value of a key S3 lists
    restricts it; the model bucket's grant to the target accounts is non-public in every mode (named accounts,
    or the organization's fixed id), and so is every other bucket policy of the platform."""
    p = worlds[scenario]
    checked = 0
    for stack, lid, resource in p.world.resources("AWS::S3::BucketPolicy"):
        document = resource["Properties"]["PolicyDocument"]
        assert flows.public_statements(document, stack, f"{stack.name}/{lid}") == [], (stack.name, lid)
        checked += 1
    assert checked >= 5
    model = p.child(ENV_A, "env-s3")
    sids = [s.sid for s in _policy(model, "ModelBucketPolicy", "PolicyDocument")]
    assert {"TargetAccountsReadModels", "TargetAccountsWriteDataCapture"} <= set(sids)


def test_the_public_definition_catches_wildcard_restrictions(worlds):
    """The check can fail: the forms S3 treats as public (the 2022 grant restricted only by OU paths and ARN
    patterns, or by aws:PrincipalAccount) are found; fixed organization and endpoint ids are not."""
    stack = worlds["single-account"].child(ENV_A, "env-s3")

    def public(condition, principal="*"):
        return flows.public_statements(
            {
                "Statement": [
                    {
                        "Sid": "S",
                        "Effect": "Allow",
                        "Principal": principal,
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b/*",
                        "Condition": condition,
                    }
                ]
            },
            stack,
            "t",
        )

    assert public(
        {
            "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-abc/*/ou-a/*"]},
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/x"},
        }
    ) == ["S"]
    assert public({"StringEquals": {"aws:PrincipalAccount": "333333333333"}}) == ["S"]
    assert public({"StringLike": {"aws:PrincipalOrgID": "o-*"}}) == ["S"]
    assert public({"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}) == []
    assert public({"StringEquals": {"aws:SourceVpce": "vpce-0123"}}) == []
    assert public({}, principal={"AWS": ["333333333333"]}) == []


# -- cross-account flows -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_endpoint_configuration_with_the_development_accounts_ebs_key(worlds, scenario):
    """The model deployment role of a staging account creates the model and the endpoint configuration (ML
    storage volume encrypted with the development account's EBS key, W2) in its account's network: SageMaker
    describes the key and creates a grant for the endpoint, both as the caller and allowed by the key policy."""
    p = worlds[scenario]
    account = _target_account(p)
    roles = _target(p, account, "env-iam-target-account-roles")
    deployer, model_role = _role(roles, "StackSetExecutionRole"), _role(roles, "SageMakerModelExecutionRole")
    kms = p.child(ENV_A, "env-kms")
    [ebs] = kms.attribute("SagemakerEBSKMSKey", "Arn")
    key_policy = _policy(kms, "SagemakerEBSKMSKey", "KeyPolicy")
    _, _, _, subnets, groups = _network(p, account)
    tags = {"aws:RequestTag/EnvironmentName": ENV_A.name, "aws:TagKeys": ["EnvironmentName", "EnvironmentType"]}
    arn = lambda kind: f"arn:aws:sagemaker:{REGION}:{account}:{kind}/sagemaker-churn-p-aaaaaaaaaaaa-staging"  # noqa
    org = _organization(p)
    steps = [
        flows.Step(
            "pass the model role",
            deployer,
            "iam:PassRole",
            model_role.arn,
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
        ),
        flows.Step(
            "create the model in the account's network",
            deployer,
            "sagemaker:CreateModel",
            arn("model"),
            {**tags, "sagemaker:VpcSubnets": subnets, "sagemaker:VpcSecurityGroupIds": groups},
        ),
        flows.Step(
            "create the endpoint configuration",
            deployer,
            "sagemaker:CreateEndpointConfig",
            arn("endpoint-config"),
            {**tags, "sagemaker:VolumeKmsKey": ebs, "sagemaker:InstanceTypes": ["ml.m5.large"]},
        ),
        flows.Step(
            "SageMaker describes the volume key",
            deployer,
            "kms:DescribeKey",
            ebs,
            {"kms:ViaService": f"sagemaker.{REGION}.amazonaws.com", "kms:CallerAccount": account, **org},
            key_policy,
            DEV,
        ),
        flows.Step(
            "SageMaker's grant for the endpoint's volume",
            deployer,
            "kms:CreateGrant",
            ebs,
            {
                "kms:GrantIsForAWSResource": "true",
                "kms:ViaService": f"sagemaker.{REGION}.amazonaws.com",
                "kms:CallerAccount": account,
                "kms:GrantOperations": ["Decrypt", "GenerateDataKeyWithoutPlaintext", "CreateGrant"],
                **org,
            },
            key_policy,
            DEV,
        ),
        flows.Step("create the endpoint", deployer, "sagemaker:CreateEndpoint", arn("endpoint"), tags),
    ]
    _assert_flow(steps)
    # The same key with the grant condition missing (a grant to oneself) is refused: the flow is not open.
    misuse = flows.evaluate_step(
        flows.Step(
            "a grant not for an AWS resource",
            deployer,
            "kms:CreateGrant",
            ebs,
            {"kms:GrantIsForAWSResource": "false", "kms:CallerAccount": account, **org},
            key_policy,
            DEV,
        )
    )
    assert not misuse.allowed


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_model_role_reads_the_model_and_writes_data_capture_through_its_s3_endpoint(worlds, scenario):
    """The endpoint's model execution role reads the model artifacts from the development account's model bucket
    through its own account's S3 endpoint (identity, bucket policy, endpoint policy; S3 decrypts with the S3 key
    as the role: key policy), and writes its data capture under data-capture/ the same way.  Anywhere else in the
    bucket, or from outside a VPC endpoint, is refused."""
    p = worlds[scenario]
    account = _target_account(p)
    model_role = _role(_target(p, account, "env-iam-target-account-roles"), "SageMakerModelExecutionRole")
    s3 = p.child(ENV_A, "env-s3")
    [bucket] = s3.physical("ModelBucket")
    bucket_policy = _policy(s3, "ModelBucketPolicy", "PolicyDocument")
    kms = p.child(ENV_A, "env-kms")
    [key] = kms.attribute("S3BucketKMSKey", "Arn")
    key_policy = _policy(kms, "S3BucketKMSKey", "KeyPolicy")
    vpc, endpoint_id, endpoint_policy, _, _ = _network(p, account)
    org = _organization(p)
    through = flows.s3_context(DEV, endpoint_id, vpc, **org)
    via_s3 = flows.kms_via_s3_context(account, REGION, f"arn:aws:s3:::{bucket}", **org)
    model = f"arn:aws:s3:::{bucket}/churn-p-aaaaaaaaaaaa/model.tar.gz"
    capture = f"arn:aws:s3:::{bucket}/data-capture/churn-p-aaaaaaaaaaaa/staging/2026/12/06/capture.jsonl"
    _assert_flow(
        [
            flows.Step(
                "read the model", model_role, "s3:GetObject", model, through, bucket_policy, DEV, endpoint_policy
            ),
            flows.Step("S3 decrypts it with the S3 key", model_role, "kms:Decrypt", key, via_s3, key_policy, DEV),
            flows.Step(
                "write the data capture",
                model_role,
                "s3:PutObject",
                capture,
                through,
                bucket_policy,
                DEV,
                endpoint_policy,
            ),
            flows.Step(
                "S3 encrypts it with the S3 key", model_role, "kms:GenerateDataKey", key, via_s3, key_policy, DEV
            ),
        ]
    )
    refused = [
        flows.Step("write a model", model_role, "s3:PutObject", model, through, bucket_policy, DEV, endpoint_policy),
        flows.Step(
            "read from the internet",
            model_role,
            "s3:GetObject",
            model,
            flows.s3_context(DEV, None, **org),
            bucket_policy,
            DEV,
            None,
        ),
    ]
    assert [o.allowed for o in flows.run(refused)] == [False, False]


@pytest.mark.parametrize("scenario", ["single-account"])
def test_studio_user_reads_and_writes_data_through_the_environments_endpoint(worlds, scenario):
    """In Studio (the execution role) a data scientist reads and writes the data bucket through the environment's
    S3 endpoint, S3 using the S3 key as the role (a key user); the same request from outside the VPC, or to the
    other environment's bucket, is refused."""
    p = worlds[scenario]
    execution = _role(p.child(ENV_A, "env-iam"), "SageMakerExecutionRole")
    s3 = p.child(ENV_A, "env-s3")
    [bucket] = s3.physical("DataBucket")
    bucket_policy = _policy(s3, "DataBucketPolicy", "PolicyDocument")
    kms = p.child(ENV_A, "env-kms")
    [key] = kms.attribute("S3BucketKMSKey", "Arn")
    key_policy = _policy(kms, "S3BucketKMSKey", "KeyPolicy")
    vpc, endpoint_id, endpoint_policy, _, _ = _network(p, DEV)
    through = flows.s3_context(DEV, endpoint_id, vpc)
    via_s3 = flows.kms_via_s3_context(DEV, REGION, f"arn:aws:s3:::{bucket}")
    data = f"arn:aws:s3:::{bucket}/datasets/churn.csv"
    _assert_flow(
        [
            flows.Step(
                "list the data",
                execution,
                "s3:ListBucket",
                f"arn:aws:s3:::{bucket}",
                {**through, "s3:prefix": "datasets/"},
                bucket_policy,
                DEV,
                endpoint_policy,
            ),
            flows.Step("read the data", execution, "s3:GetObject", data, through, bucket_policy, DEV, endpoint_policy),
            flows.Step("S3 decrypts it", execution, "kms:Decrypt", key, via_s3, key_policy, DEV),
            flows.Step("write a result", execution, "s3:PutObject", data, through, bucket_policy, DEV, endpoint_policy),
            flows.Step("S3 encrypts it", execution, "kms:GenerateDataKey", key, via_s3, key_policy, DEV),
        ]
    )
    other = p.child(platform.ENV_B, "env-s3")
    [other_bucket] = other.physical("DataBucket")
    refused = flows.run(
        [
            flows.Step(
                "read from outside the VPC",
                execution,
                "s3:GetObject",
                data,
                flows.s3_context(DEV, None),
                bucket_policy,
                DEV,
            ),
            flows.Step(
                "read the other environment's data",
                execution,
                "s3:GetObject",
                f"arn:aws:s3:::{other_bucket}/datasets/x.csv",
                through,
                _policy(other, "DataBucketPolicy", "PolicyDocument"),
                DEV,
                endpoint_policy,
            ),
        ]
    )
    assert [o.allowed for o in refused] == [False, False], [str(o) for o in refused]


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "single-account"])
def test_model_deployment_administrator_reaches_each_target_account_only_through_its_deployment_role(worlds, scenario):
    """The StackSet administration role of model deployments assumes the staging account's model deployment role
    (its identity policy and the target role's trust policy), never the account's setup role; the environment's
    set-up administration role assumes the setup role only."""
    p = worlds[scenario]
    env_iam = p.child(ENV_A, "env-iam")
    deployment_admin, setup_admin = (
        _role(env_iam, "ModelDeploymentAdministrationRole"),
        _role(env_iam, "StackSetAdministrationRole"),
    )
    roles = _target(p, STAGING, "env-iam-target-account-roles")
    deployer = _role(roles, "StackSetExecutionRole")
    analysis = escalation.Analysis(p)
    stackset = f"arn:aws:cloudformation:{REGION}:{DEV}:stackset/sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging:id"
    trust_context = {
        **escalation.session_context(deployment_admin),
        "aws:SourceAccount": DEV,
        "aws:SourceArn": stackset,
    }
    assert analysis.trusts(deployer, trust_context)
    assert analysis.allowed(deployment_admin, "sts:AssumeRole", deployer.arn)
    assert not analysis.trusts(deployer, {**escalation.session_context(setup_admin), "aws:SourceAccount": DEV})
    setups = [r for r in p.world.principals if r.account == STAGING and r.logical_id == "SetupStackSetExecutionRole"]
    for setup in setups:
        assert not analysis.allowed(deployment_admin, "sts:AssumeRole", setup.arn)
        assert analysis.allowed(setup_admin, "sts:AssumeRole", setup.arn)


# -- internet-free -----------------------------------------------------------------------------------------------------
def test_the_deploy_build_needs_no_route_outside_the_vpc(moto, monkeypatch, tmp_path, templates):
    """W5: the model deploy build, run against moto with every call recorded (organizational units: the
    multi-account mode that used to ask AWS Organizations), calls only services an internet-free environment
    reaches through its own VPC endpoints, and its S3 calls are allowed by the S3 endpoint's policy."""
    from tests import support_project
    from tests.support_iam import code_needs, record_calls
    from tests.support_render import render_tree

    build = support_project.load_deploy_build()
    session = support_project.moto_session(moto, monkeypatch)
    support_project.approved_package(moto, "churn-build-p-abc123def456")
    support_project.answer_stack_instances(
        session, [("333333333333", "ou-abcd-11111111"), ("555555555555", "ou-abcd-22222222")]
    )
    checkout = support_project.deploy_checkout(tmp_path / "src")
    settings = support_project.deploy_settings(
        build,
        "churn-build-p-abc123def456",
        MULTI_ACCOUNT_DEPLOYMENT="YES",
        STAGING_OU_ID="ou-abcd-11111111",
        PROD_OU_ID="ou-abcd-22222222",
        TARGET_ACCOUNTS_STACKSET="ds-sm-mlops-dev-target-account-roles",
    )
    with record_calls(session) as calls:
        build.run(checkout, tmp_path / "out", settings, session=session)
    services = {service for service, _, _ in calls}
    assert "organizations" not in services
    # What an internet-free environment (no NAT gateway) creates with its defaults.
    tree = render_tree(
        templates,
        "env-main",
        {
            "EnvName": "sm-mlops",
            "EnvType": "dev",
            "CoreStackSetName": "core",
            "SeedCodeS3BucketName": "release-bucket",
            "CreateNATGateways": "NO",
            "AvailabilityZones": "eu-west-1a,eu-west-1b",
        },
    )
    egress = tree["EnvironmentVPCEndpoints"]
    created = {
        r["Properties"]["ServiceName"].rsplit(".", 1)[-1]
        if ".sagemaker." not in r["Properties"]["ServiceName"]
        else r["Properties"]["ServiceName"]
        for r in egress["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    services_created = {
        r["Properties"]["ServiceName"].split(".", 3)[-1]
        for r in egress["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    endpoint_of = {
        "api.sagemaker": "sagemaker.api",
        "sagemaker": "sagemaker.api",
        "sts": "sts",
        "cloudformation": "cloudformation",
        "s3": "s3",
        "ssm": "ssm",
    }
    missing = {s for s in services if endpoint_of.get(s, s) not in services_created}
    assert missing == set(), (missing, sorted(services_created), created)
    assert not [r for r in egress["Resources"].values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert code_needs(calls, "us-east-1", "123456789012", "model-deploy build")


# -- the package mirror ---------------------------------------------------------------------------------------------
def _mirror_steps(p, caller_env, mirror_env) -> list:
    """A project build of ``caller_env`` installs through ``mirror_env``'s package mirror, as package_index.sh and
    pip do: a token for the domain (CodeArtifact checks sts:GetServiceBearerToken for its own service), the
    repository's endpoint, its packages; each through the mirror environment's CodeArtifact endpoints."""
    build_role = _role(p.child(caller_env, "env-iam"), "SageMakerModelBuildRole")
    egress = p.child(mirror_env, "env-vpc-egress")
    api = _policy(egress, "VPCEndpointCodeArtifactAPI", "PolicyDocument")
    repositories = _policy(egress, "VPCEndpointCodeArtifactRepositories", "PolicyDocument")
    # The world knows no CodeArtifact ARNs: the repository's, as CodeArtifact forms it.
    repository = f"arn:aws:codeartifact:{REGION}:{DEV}:repository/{mirror_env.key}/{package_mirror.REPOSITORY}"
    domain = f"arn:aws:codeartifact:{REGION}:{DEV}:domain/{mirror_env.key}"
    return [
        flows.Step("get a token", build_role, "codeartifact:GetAuthorizationToken", domain, endpoint_policy=api),
        flows.Step(
            "as CodeArtifact's bearer token",
            build_role,
            "sts:GetServiceBearerToken",
            "*",
            {"sts:AWSServiceName": "codeartifact.amazonaws.com"},
            endpoint_policy=api,
        ),
        flows.Step(
            "find the repository", build_role, "codeartifact:GetRepositoryEndpoint", repository, endpoint_policy=api
        ),
        flows.Step(
            "download packages", build_role, "codeartifact:ReadFromRepository", repository, endpoint_policy=repositories
        ),
    ]


@pytest.mark.parametrize("scenario", ["single-account"])
def test_an_internet_free_environments_builds_install_through_its_package_mirror(worlds, scenario):
    """Environment B is internet-free with the package mirror (UseSharedServicesPyPiMirror YES): its projects'
    build role installs through its CodeArtifact repository, through the VPC's CodeArtifact endpoints, whose
    policies name that repository. Environment A's builds cannot use B's mirror (A's role names its own)."""
    p = worlds[scenario]
    _assert_flow(_mirror_steps(p, ENV_B, ENV_B))
    others = flows.run(_mirror_steps(p, ENV_A, ENV_B))
    assert [o.allowed for o in others] == [False, True, False, False]  # the bearer token alone grants nothing


# -- the seed code check-in of a connected repository -----------------------------------------------------------------
@pytest.mark.parametrize("role_id", ["SageMakerModelBuildRole", "SageMakerModelDeployRole"])
def test_a_connected_repositorys_check_in_build_reads_the_seed_and_uses_the_connection(worlds, role_id):
    """The check-in build (templates_src/blocks/project.py) runs as the project's role in the environment's VPC: it
    reads the release's seed code zip through the S3 endpoint, and CodeBuild gets the repository and Git's
    credentials through the project's connection with that role."""
    p = worlds["single-account"]
    role = _role(p.child(ENV_A, "env-iam"), role_id)
    vpc, endpoint_id, endpoint_policy, _, _ = _network(p, DEV)
    key = release_layout.content_key(
        release_layout.DEFAULT_PREFIX, release_layout.SEED_CODE_FOLDER, "model-build-train", "0" * 64, ".zip"
    )
    seed = f"arn:aws:s3:::{platform.SEED_BUCKET}/{key}"
    connection = f"arn:aws:codeconnections:{REGION}:{DEV}:connection/0123abcd-4567-89ef-0123-456789abcdef"
    _assert_flow(
        [
            flows.Step(
                "read the seed code",
                role,
                "s3:GetObject",
                seed,
                flows.s3_context(DEV, endpoint_id, vpc),
                endpoint_policy=endpoint_policy,
            ),
            *(
                flows.Step("use the connection", role, f"codeconnections:{action}", connection)
                for action in ("GetConnection", "GetConnectionToken", "UseConnection")
            ),
        ]
    )
