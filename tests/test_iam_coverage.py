"""Every role that deploys templates allows what CloudFormation needs: proven against cfn-lint's resource
provider schemas (handler permissions) and IAM action table, not narrowed by judgement alone.

The check itself is templates_src/checks/iam_coverage.py; which role deploys what is
templates_src/checks/iam_deployers.py; everything the check cannot derive (and every action a role deliberately
does not get) is in the reviewed file templates_src/checks/iam_coverage.yaml.  The function roles and the
packaging CodeBuild role are checked against the calls their code makes in tests/test_functions.py,
tests/test_package_cfn.py and tests/test_package.py.
"""

from __future__ import annotations

import pytest

from templates_src.checks import iam_coverage, iam_deployers, iam_policy
from templates_src.checks.iam_policy import Resolver, Statement, evaluate, request, role_statements, trust_statements
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from tests.conftest import ENTERPRISE

CONFIGS = ["default", "enterprise", "hardened"]  # hardened: Object Lock, log keys, functions in a VPC


@pytest.fixture(scope="module", params=CONFIGS)
def configured(request, configs, templates, enterprise_templates, hardened_templates):
    return configs[request.param], {
        "default": templates,
        "enterprise": enterprise_templates,
        "hardened": hardened_templates,
    }[request.param]


def _coverages(config, templates):
    return {d.key: iam_deployers.coverage(d, templates, config) for d in iam_deployers.deployers(config)}


@pytest.fixture(scope="module")
def coverages(configured):
    config, templates = configured
    return _coverages(config, templates)


def test_every_deploying_role_allows_everything_its_deployments_need(coverages):
    report = []
    for _key, coverage in coverages.items():
        report += coverage.report()
    print("\n".join(report))  # shown with -s: the summary per role
    missing = [line for c in coverages.values() for line in c.report() if " MISSING " in line]
    assert missing == [], "\n".join(missing)


def test_each_role_is_checked_over_a_substantial_set_of_needs(coverages):
    """A check that finds nothing to check proves nothing: every deployer has handler needs and callers."""
    for key, coverage in coverages.items():
        granted = coverage.by_status("granted") + coverage.by_status("conditional")
        assert len(granted) >= 15, key
        assert any(f.need.where.startswith("caller:") for f in coverage.findings), key
        assert not coverage.unreadable_policies, (key, coverage.unreadable_policies)


def test_no_stale_or_unexplained_exceptions(default_config, enterprise_config, templates, enterprise_templates):
    """Every action a role deliberately does not get is listed once, with a reason, and still needed."""
    entries = iam_coverage.reviewed()["not_granted"]
    keys = {d.key for d in iam_deployers.deployers(default_config)}
    used = set()
    for config, built in ((default_config, templates), (enterprise_config, enterprise_templates)):
        for coverage in _coverages(config, built).values():
            used |= coverage.exceptions_used
    for i, entry in enumerate(entries):
        assert entry["role"] in keys, entry
        assert len(entry.get("why", "")) > 20, entry
        assert i in used, f"stale exception (nothing needs it any more, remove it): {entry}"


# -- the audit's findings, each as an explicit request -------------------------------------------------------
ACCOUNT, REGION = iam_policy.PSEUDO["AWS::AccountId"], iam_policy.PSEUDO["AWS::Region"]
SERVICE_CATALOG_OBJECT = "arn:aws:s3:::sc-owned-bucket/product/template.yaml"
TAGGED = {"s3:ExistingObjectTag/servicecatalog:provisioning": "true", "s3:ResourceAccount": "999999999999"}


def _role(templates, config, template, logical_id):
    deployer = next(d for d in iam_deployers.deployers(config) if d.role == logical_id)
    resolver = Resolver(templates[template], deployer.values)
    return role_statements(templates[template], logical_id, resolver)[0]


@pytest.mark.parametrize(
    "template,role",
    [
        ("core-iam-shared-roles", "SCLaunchRole"),
        ("core-iam-sc-sm-projects-roles", "AmazonSageMakerServiceCatalogProductsLaunchRole"),
    ],
)
def test_launch_roles_read_templates_from_service_catalogs_own_bucket(configured, template, role):
    config, templates = configured
    statements = _role(templates, config, template, role)
    tagged = request("s3:GetObject", SERVICE_CATALOG_OBJECT, context=TAGGED, complete=True)
    untagged = request(
        "s3:GetObject", SERVICE_CATALOG_OBJECT, context={"s3:ResourceAccount": "999999999999"}, complete=True
    )
    assert evaluate(statements, tagged).allowed
    assert not evaluate(statements, untagged).allowed


@pytest.mark.parametrize(
    "action,resource",
    [
        ("servicecatalog:AssociateProductWithPortfolio", f"arn:aws:catalog:{REGION}:{ACCOUNT}:*"),
        ("servicecatalog:CreateConstraint", f"arn:aws:catalog:{REGION}:{ACCOUNT}:*"),
        ("servicecatalog:CreatePortfolio", f"arn:aws:catalog:{REGION}:{ACCOUNT}:*"),
        ("cloudformation:GetTemplateSummary", "*"),
        ("cloudformation:CreateStackSet", "*"),
        ("resource-groups:CreateGroup", "*"),
        (
            "kms:GenerateDataKeyWithoutPlaintext",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ),
        (
            "iam:ListEntitiesForPolicy",
            f"arn:aws:iam::{ACCOUNT}:policy{{role_path}}{{prefix}}sm-mlops-dev-{REGION}-env-policy-sm-guardrails-1",
        ),
    ],
)
def test_environment_launch_role_audit_findings_are_fixed(configured, action, resource):
    config, templates = configured
    statements = _role(templates, config, "core-iam-shared-roles", "SCLaunchRole")
    resource = resource.replace("{role_path}", config.role_path).replace("{prefix}", config.prefix)
    assert evaluate(statements, request(action, resource)).allowed, (action, resource)


def test_a_scoped_grant_does_not_count_for_an_action_iam_authorizes_only_on_star():
    scoped = [
        Statement(
            "Allow",
            ("cloudformation:CreateStackSet",),
            resources=(f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stackset/*",),
        )
    ]
    need = iam_coverage._requests_for("cloudformation:CreateStackSet", [], {})
    assert need[0][0].resource == "*"
    assert not evaluate(scoped, need[0][0]).allowed
    assert evaluate([Statement("Allow", ("cloudformation:CreateStackSet",), resources=("*",))], need[0][0]).allowed


def test_a_grant_on_another_arn_form_does_not_count():
    """Service Catalog portfolio actions granted on portfolio/* miss the catalog:* resource they use."""
    wrong = [
        Statement(
            "Allow",
            ("servicecatalog:AssociateProductWithPortfolio",),
            resources=(f"arn:aws:catalog:{REGION}:{ACCOUNT}:portfolio/*",),
        )
    ]
    (req,), _ = iam_coverage._requests_for("servicecatalog:AssociateProductWithPortfolio", [], {})
    assert not evaluate(wrong, req).allowed
    other_service = [Statement("Allow", ("sagemaker:CreateDomain",), resources=("arn:aws:s3:::*",))]
    _, forms = iam_coverage._requests_for("sagemaker:CreateDomain", [], {})
    assert forms and not any(evaluate(other_service, r).allowed for r in forms)


# -- least privilege: trust and boundaries ---------------------------------------------------------------------
def _trust(templates, config, template, logical_id, params=None):
    resolver = Resolver(templates[template], {**iam_deployers.TARGET_ENV, **(params or {})})
    return trust_statements(templates[template], logical_id, resolver)


def _assume(principal_arn, account, **context):
    return request(
        "sts:AssumeRole",
        "*",
        context={"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": account, **context},
        complete=True,
    )


@pytest.mark.parametrize(
    "template,role,administrator,other",
    [
        # the environment's set-up StackSets (roles, networks) and the projects' model deployments: two administrators
        ("env-iam-setup-stackset-role", "SetupStackSetExecutionRole", "stackset-admin", "deploy-admin"),
        ("env-iam-target-account-roles", "StackSetExecutionRole", "deploy-admin", "stackset-admin"),
    ],
)
def test_stackset_execution_roles_trust_only_the_environments_administration_role(
    configured, template, role, administrator, other
):
    config, templates = configured
    trust = _trust(templates, config, template, role)
    admin = iam_deployers.ADMIN_ACCOUNT
    path, prefix = config.role_path, config.prefix
    assert evaluate(
        trust, _assume(f"arn:aws:iam::{admin}:role{path}{prefix}sm-mlops-dev-{administrator}", admin)
    ).allowed
    for principal, account in [
        (f"arn:aws:iam::{admin}:role{path}{prefix}sm-mlops-dev-{other}", admin),  # the other administrator
        (f"arn:aws:iam::{admin}:role{path}{prefix}sm-mlops-dev-sm-execution", admin),  # another platform role
        (f"arn:aws:iam::{admin}:role/Admin", admin),  # any other role of the administrator account
        (f"arn:aws:iam::{admin}:user/alice", admin),
        (f"arn:aws:iam::{admin}:role{path}{prefix}other-env-dev-{administrator}", admin),  # another environment
        (f"arn:aws:iam::333333333333:role{path}{prefix}sm-mlops-dev-{administrator}", "333333333333"),
    ]:
        assert not evaluate(trust, _assume(principal, account)).allowed, principal


def test_target_account_roles_stay_within_the_boundary_the_setup_role_enforces(default_config, templates):
    """Every statement of both target-account roles lies within the target-account boundary, and the setup
    role can create them only with that boundary attached (and never remove it)."""
    setup = templates["env-iam-setup-stackset-role"]
    resolver = Resolver(setup, iam_deployers.TARGET_ENV)
    boundary = iam_policy.statements_from(
        setup["Resources"]["TargetAccountBoundary"]["Properties"]["PolicyDocument"], resolver, "boundary"
    )
    target = templates["env-iam-target-account-roles"]
    values = {
        **iam_deployers.TARGET_ENV,
        "ModelBucketName": f"sm-mlops-dev-{REGION}-{iam_deployers.ADMIN_ACCOUNT}-models",
        "ModelS3KMSKeyArn": f"arn:aws:kms:{REGION}:{iam_deployers.ADMIN_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-"
        "1234567890ab",
    }
    target_resolver = Resolver(target, values, arn_of=lambda r, lid, res: iam_coverage.own_arns(r, lid, res))
    checked = 0
    for role in ("SageMakerModelExecutionRole", "StackSetExecutionRole"):
        for stmt in role_statements(target, role, target_resolver)[0]:
            if stmt.effect != "Allow":
                continue  # a deny narrows; only what is allowed must lie within the boundary
            context = {key: values[0] for op, key, values in stmt.conditions if op in ("StringEquals", "Bool")}
            for action in stmt.actions:
                for resource in stmt.resources:
                    req = request(action, resource, "*" not in resource or resource == "*", context)
                    assert evaluate(boundary, req).allowed, (role, stmt.sid, action, resource)
                    checked += 1
    assert checked > 40
    setup_statements = _role(templates, default_config, "env-iam-setup-stackset-role", "SetupStackSetExecutionRole")
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/sm-mlops-staging-{REGION}-sm-model-exec"
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/sm-mlops-staging-target-account-boundary"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:PutRolePermissionsBoundary"):
        assert evaluate(
            setup_statements,
            request(action, role_arn, context={"iam:PermissionsBoundary": boundary_arn}, complete=True),
        ).allowed, action
        assert not evaluate(setup_statements, request(action, role_arn, complete=True)).allowed, action
        other = f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"
        assert not evaluate(
            setup_statements, request(action, role_arn, context={"iam:PermissionsBoundary": other}, complete=True)
        ).allowed, action
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:AttachRolePolicy", "iam:CreatePolicyVersion"):
        assert not evaluate(
            setup_statements,
            request(
                action,
                role_arn,
                context={
                    "iam:PermissionsBoundary": boundary_arn,
                    "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess",
                },
                complete=True,
            ),
        ).allowed, action
    assert not evaluate(
        setup_statements,
        request(
            "iam:CreateRole",
            f"arn:aws:iam::{ACCOUNT}:role/Admin",
            context={"iam:PermissionsBoundary": boundary_arn},
            complete=True,
        ),
    ).allowed


def test_stackset_roles_read_no_object_of_their_own_account(configured):
    config, templates = configured
    for template, role in (
        ("env-iam-setup-stackset-role", "SetupStackSetExecutionRole"),
        ("env-iam-target-account-roles", "StackSetExecutionRole"),
    ):
        statements = _role(templates, config, template, role)
        mine = request(
            "s3:GetObject",
            "arn:aws:s3:::prod-data/customers.csv",
            context={"s3:ResourceAccount": ACCOUNT},
            complete=True,
        )
        theirs = request(
            "s3:GetObject",
            "arn:aws:s3:::stacksets-bucket/template.yaml",
            context={"s3:ResourceAccount": "999999999999"},
            complete=True,
        )
        assert not evaluate(statements, mine).allowed, role
        assert evaluate(statements, theirs).allowed, role


# -- who may become the data science administrator ---------------------------------------------------------------
def _admin_trust(config):
    built = build_selected(["core-iam-shared-roles"], BuildContext(config))["core-iam-shared-roles"]
    return trust_statements(built, "DataScienceAdministratorRole", Resolver(built, {}))


USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
SSO_ROLE = f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{REGION}/AWSReservedSSO_DataScience_0123"
FEDERATED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/okta-data-science-admins"


def test_administrator_trust_refuses_access_keys_without_mfa_and_keeps_role_sessions(default_config):
    trust = _admin_trust(default_config)
    assert not evaluate(trust, _assume(USER, ACCOUNT)).allowed  # long-term access keys: no MFA key at all
    assert not evaluate(trust, _assume(USER, ACCOUNT, **{"aws:MultiFactorAuthPresent": "false"})).allowed
    assert evaluate(trust, _assume(USER, ACCOUNT, **{"aws:MultiFactorAuthPresent": "true"})).allowed
    assert evaluate(trust, _assume(SSO_ROLE, ACCOUNT)).allowed  # IAM Identity Center
    assert evaluate(trust, _assume(FEDERATED_ROLE, ACCOUNT)).allowed  # SAML/OIDC federation
    assert not evaluate(
        trust, _assume("arn:aws:iam::999999999999:role/x", "999999999999", **{"aws:MultiFactorAuthPresent": "true"})
    ).allowed


def test_administrator_trust_can_be_narrowed_to_identity_center_sessions(default_config):
    from templates_src.config import from_mapping

    config = from_mapping(
        {"ds_administrator_trust": {"iam_users_with_mfa": False, "roles": ["aws-reserved/sso.amazonaws.com/*"]}}
    )
    trust = _admin_trust(config)
    assert evaluate(trust, _assume(SSO_ROLE, ACCOUNT)).allowed
    assert not evaluate(trust, _assume(FEDERATED_ROLE, ACCOUNT)).allowed
    assert not evaluate(trust, _assume(USER, ACCOUNT, **{"aws:MultiFactorAuthPresent": "true"})).allowed


def test_enterprise_configuration_is_what_the_fixture_says():
    assert ENTERPRISE["permissions_boundary"]  # the boundary paths above are exercised by the enterprise run


# -- the evaluator itself ----------------------------------------------------------------------------------------------
def test_wildcard_patterns_intersect_and_match_like_iam():
    assert iam_policy.arn_intersects("arn:aws:s3:::*-models/*", "arn:*:s3:::*")
    assert not iam_policy.arn_intersects("arn:aws:iam::1:role/a*", "arn:*:iam::*:user/*")
    assert not iam_policy.arn_intersects("arn:*:sagemaker:*:*:domain/*", "arn:aws:s3:::*")  # no colon-spanning
    assert iam_policy.intersects("a*b", "*c*")
    assert not iam_policy.intersects("ab?", "abcd")
    assert iam_policy.glob_match("arn:aws:iam::1:role/*sm-model-exec*", "arn:aws:iam::1:role/x-sm-model-exec")
    assert not iam_policy.glob_match("arn:aws:iam::1:role/*sm-model-exec*", "arn:aws:iam::1:role/Admin")


@pytest.mark.parametrize(
    "operator,values,context,expected",
    [
        ("StringEquals", ("a",), {"k": "a"}, True),
        ("StringEquals", ("a",), {}, False),  # absent key: no match
        ("StringNotEquals", ("a",), {}, True),  # absent key: negated operators hold
        ("StringEqualsIfExists", ("a",), {}, True),
        ("Bool", ("true",), {}, False),
        ("BoolIfExists", ("true",), {}, True),
        ("Null", ("true",), {}, True),
        ("ArnLike", ("arn:aws:iam::1:role/*",), {"k": "arn:aws:iam::1:role/x"}, True),
        ("ForAnyValue:StringLike", ("x*",), {"k": ["a", "xy"]}, True),
        ("ForAllValues:StringEquals", ("a",), {"k": ["a", "b"]}, False),
    ],
)
def test_condition_operators(operator, values, context, expected):
    req = request("s3:GetObject", "*", context=context, complete=True)
    assert iam_policy.condition_holds(operator, "k", values, req) is expected


def test_unknown_context_makes_an_allow_conditional_and_never_assumes_a_deny():
    allow = Statement("Allow", ("s3:GetObject",), resources=("*",), conditions=(("StringEquals", "k", ("v",)),))
    deny = Statement("Deny", ("s3:GetObject",), resources=("*",), conditions=(("StringEquals", "j", ("v",)),))
    decision = evaluate([allow, deny], request("s3:GetObject", "*"))
    assert decision.allowed and decision.conditional
    assert not evaluate([allow, Statement("Deny", ("s3:*",), resources=("*",))], request("s3:GetObject", "*")).allowed


def test_gating_ties_actions_to_the_properties_they_serve():
    assert iam_coverage.gating_property("AWS::S3::Bucket", "s3:PutBucketWebsite") == "WebsiteConfiguration"
    assert iam_coverage.gating_property("AWS::S3::Bucket", "s3:CreateBucket") is None
    assert iam_coverage.gating_property("AWS::Lambda::Function", "lambda:TagResource") is None  # tagging: always
    assert iam_coverage.gating_property("AWS::Logs::LogGroup", "logs:DescribeLogGroups") is None
    assert iam_coverage.gating_property("AWS::EC2::Subnet", "ec2:DescribeSubnets") is None  # not the read-only SubnetId
    assert iam_coverage.gating_property("AWS::EC2::EIP", "ec2:AllocateAddress") is None  # reviewed correction


def test_delegated_administrator_stacksets_can_check_the_registration(default_config, templates):
    """W3: as a delegated administrator CloudFormation checks the caller's registration with Organizations
    (the StackSet schema does not list it): the organizational-unit deployment needs and gets it."""
    deployer = next(d for d in iam_deployers.deployers(default_config) if d.key.endswith("organizational-units"))
    coverage = iam_deployers.coverage(deployer, templates, default_config)
    checks = [f for f in coverage.findings if f.need.action == "organizations:ListDelegatedAdministrators"]
    assert {f.need.where.split(" ")[0] for f in checks} == {
        "env-main/EnvironmentTargetAccountRolesStackSetOU",
        "env-main/EnvironmentVPCStackSetOU",
    }
    assert {f.status for f in checks} == {"granted"}
    self_managed = next(d for d in iam_deployers.deployers(default_config) if d.key.endswith("account-lists"))
    assert not [
        f
        for f in iam_deployers.coverage(self_managed, templates, default_config).findings
        if f.need.action == "organizations:ListDelegatedAdministrators"
    ]


def test_the_planned_stacksets_name_what_the_templates_define(configured):
    """iam_coverage.yaml has to spell the planned StackSets' names: the name the model deploy pipeline's StackSet
    actions give them (staging, as the deployer's stack name has it) and the administration role env-iam creates,
    both with the deployers' sample values."""
    from templates_src.templates.env import env_iam
    from templates_src.templates.project import project_model_deploy

    config, templates = configured
    [planned] = iam_coverage.reviewed()["planned"]["model-deployment-stacksets"]
    deployer = next(d for d in iam_deployers.deployers(config) if "model-deployment-stacksets" in d.planned)

    def actions(node):  # the pipelines' StackSet actions, wherever a condition puts them
        if isinstance(node, dict):
            if (node.get("ActionTypeId") or {}).get("Provider") == "CloudFormationStackSet":
                yield node
            for value in node.values():
                yield from actions(value)
        elif isinstance(node, list):
            for value in node:
                yield from actions(value)

    deploy = templates[project_model_deploy.NAME]["Resources"]
    names = {a["Configuration"]["StackSetName"]["Fn::Sub"][0].replace("${Stage}", "staging") for a in actions(deploy)}
    assert planned["values"]["StackSetName"] in names
    assert iam_deployers.sample(planned["values"]["StackSetName"], deployer.values) == deployer.stack_name
    env = templates[env_iam.NAME]
    role = env["Resources"][env_iam.DEPLOYMENT_ADMINISTRATION_ROLE_ID]["Properties"]
    arn = planned["values"]["AdministrationRoleARN"].replace("{role_path}", config.role_path)
    [name] = Resolver(env, iam_deployers.ENV).values(role["RoleName"])
    assert arn.replace("{prefix}", config.prefix) == f"arn:aws:iam::${{AWS::AccountId}}:role{role['Path']}{name}"
