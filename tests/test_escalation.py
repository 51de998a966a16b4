"""No more than intended: no persona, and no principal a persona can make act for it, can escalate.

The platform is deployed offline as the README says (``templates_src.checks.platform``: a core, two environments
of one development account, their projects, and in the multi-account scenarios the staging and production
accounts), and for each human persona every chain is followed (``templates_src.checks.escalation``: assume,
pass a role to a service that runs the caller's code, push to a repository whose pipeline builds and deploys it,
update a function, build project, stack or StackSet that runs as a role, open a Studio profile).  Over every
principal a persona reaches, the privilege-escalation catalogue (``escalation.yaml``) and this product's five
rules (``templates_src.checks.rules``) are evaluated the way IAM decides requests.  Each rule is a named test;
the user journeys of the README are shown to stay possible by evaluating their requests; and each rule is shown
able to fail on a template weakened the way the audit found it.
"""

from __future__ import annotations

import copy

import pytest

from templates_src.checks import escalation, platform, rules
from templates_src.checks.iam_policy import Resolver, evaluate, request, role_statements
from templates_src.checks.platform import DEV, ENV_A, ENV_B, PROD, STAGING

SCENARIOS = platform.SCENARIOS
PERSONAS = rules.PERSONAS


@pytest.fixture(scope="module")
def deployed(templates, default_config):
    """scenario -> (platform, analysis), built once per module."""
    out = {}
    for scenario in SCENARIOS:
        p = platform.build(templates, default_config, scenario)
        out[scenario] = (p, rules.analysis(p))
    return out


def _findings(analysis, name, persona) -> list:
    if name == "ds-administrator":
        return []
    return rules.own_environment_findings(analysis, persona, ENV_A)


def _report(findings) -> str:
    return "\n".join(str(f) for f in findings[:20]) + (f"\n... {len(findings)} in all" if len(findings) > 20 else "")


# -- the five rules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", PERSONAS)
def test_rule1_no_chain_reaches_iam_writes_or_foreign_policies(deployed, scenario, name):
    """Rule 1: no IAM write (roles, users, groups, policies, versions, boundaries, credentials), no function role
    swap, no foreign managed policy, from any principal of the persona's reach."""
    p, analysis = deployed[scenario]
    persona = rules.personas(p)[name]
    findings = rules.iam_findings(analysis, persona)
    assert findings == [], _report(findings)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", PERSONAS)
def test_rule2_no_sagemaker_compute_outside_the_environments_vpc_and_keys(deployed, scenario, name):
    """Rule 2: no notebook instance, job, model, endpoint configuration, domain or app without the environment's
    subnets, security groups and keys, or with internet access, or in a domain that is not an environment's."""
    p, analysis = deployed[scenario]
    findings = rules.compute_findings(analysis, rules.personas(p)[name])
    assert findings == [], _report(findings)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", PERSONAS)
def test_rule3_only_the_approved_model_deployment_reaches_staging_and_production(deployed, scenario, name):
    """Rule 3: no set-up role of the target accounts, nothing there but the model deployment path (the team
    administrator's reviewed deploy code, started by an approved model, production behind its manual approval);
    no data scientist or data science administrator approves, starts or changes a deployment by any chain."""
    p, analysis = deployed[scenario]
    findings = rules.target_findings(analysis, name, rules.personas(p)[name])
    assert findings == [], _report(findings)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", ["team-administrator", "data-scientist"])
def test_rule4_a_team_acts_only_on_its_own_environment(deployed, scenario, name):
    """Rule 4: no principal of environment A's personas acts as environment B's roles or on its data, models,
    artifacts, repositories, pipelines, endpoints, projects or model packages."""
    p, analysis = deployed[scenario]
    findings = rules.own_environment_findings(analysis, rules.personas(p)[name], ENV_A)
    assert findings == [], _report(findings)


def test_rule4_a_data_scientist_opens_only_their_own_studio_profile(deployed):
    """Rule 4: alice opens her own profile, not bob's (same environment) nor carol's (environment B); the
    execution role her Studio runs as opens none."""
    p, analysis = deployed["single-account"]
    personas = rules.personas(p)
    profiles = {person: (arn, tags) for _, arn, person, tags in p.people_profiles()}
    alice = personas["data-scientist"]
    assert analysis.allowed(alice, "sagemaker:CreatePresignedDomainUrl", *profiles["alice"])
    for other in ("bob", "carol"):
        assert not analysis.allowed(alice, "sagemaker:CreatePresignedDomainUrl", *profiles[other]), other
    # Another person assuming the same role carries their own source identity: bob opens only his.
    bob = rules.Analysis(p, {alice.key: "bob"})
    assert bob.allowed(alice, "sagemaker:CreatePresignedDomainUrl", *profiles["bob"])
    assert not bob.allowed(alice, "sagemaker:CreatePresignedDomainUrl", *profiles["alice"])
    execution = p.world.principal(
        lambda r: r.stack is p.child(ENV_A, "env-iam") and r.logical_id == "SageMakerExecutionRole"
    )
    assert not any(
        analysis.allowed(execution, "sagemaker:CreatePresignedDomainUrl", *profiles[person]) for person in profiles
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rule5_every_service_trust_carries_its_confused_deputy_conditions(deployed, scenario):
    """Rule 5: each service trust has the condition keys its service documents (rules.TRUST_KEYS, with the
    source); a service not in the table fails until reviewed."""
    p, _ = deployed[scenario]
    assert rules.confused_deputy_findings(p) == []
    services = {
        v
        for r in p.world.principals
        for s in r.trust
        for op, key, values in s.conditions
        if key.lower() == "aws:principalservicename"
        for v in values
    }
    assert {
        "sagemaker.amazonaws.com",
        "events.amazonaws.com",
        "cloudformation.amazonaws.com",
        "codebuild.amazonaws.com",
        "lambda.amazonaws.com",
    } <= services


# -- the whole catalogue, every persona and chain ----------------------------------------------------------------
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_method_of_the_catalogue_is_evaluated_for_every_persona(deployed, scenario):
    """The proof is not empty: each published and product method of escalation.yaml was evaluated on real
    candidates (requests counted), over every persona's reach."""
    p, analysis = deployed[scenario]
    for name, persona in rules.personas(p).items():
        rules.iam_findings(analysis, persona)
        rules.compute_findings(analysis, persona)
        rules.target_findings(analysis, name, persona)
        _findings(analysis, name, persona)
    for persona in rules.personas(p).values():
        analysis.reach(persona)
    catalogue = escalation.catalogue()
    ids = [m["id"] for kind in ("direct", "passrole", "existing") for m in catalogue[kind]]
    assert len(ids) == len(set(ids)) >= 35
    unevaluated = [i for i in ids if not analysis.checked.get(i)]
    # Services no principal of the world trusts offer no role to pass (nothing to evaluate): say so, not skip.
    trusted = {
        v
        for r in p.world.principals
        for s in r.trust
        for _, key, values in s.conditions
        if key.lower() == "aws:principalservicename"
        for v in values
    }
    untrusted = {m["id"] for m in catalogue["passrole"] if m["service"] not in trusted}
    assert set(unevaluated) == untrusted, unevaluated
    assert sum(analysis.checked.values()) > 3000


# What each persona reaches (by logical id): the chains the rules were evaluated over.  A change here is a change
# of who can act as what, reviewed like a policy change.
REACH = {
    "ds-administrator": {"DataScienceAdministratorRole"},
    "team-administrator": {
        "DataScienceTeamAdministratorRole",
        "SageMakerExecutionRole",
        "SageMakerPipelineExecutionRole",
        "SageMakerModelBuildRole",
        "SageMakerModelDeployRole",
        "ModelDeploymentAdministrationRole",
        "StackSetExecutionRole",
        "SageMakerModelExecutionRole",
    },
    "data-scientist": {
        "DataScientistRole",
        "SageMakerExecutionRole",
        "SageMakerPipelineExecutionRole",
        "SageMakerModelBuildRole",
    },
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", PERSONAS)
def test_each_persona_reaches_exactly_the_roles_of_its_purpose(deployed, scenario, name):
    p, analysis = deployed[scenario]
    reach = analysis.reach(rules.personas(p)[name])
    principals = [analysis.principal(key) for key in reach]
    assert {r.logical_id for r in principals} == REACH[name]
    own = (
        {s.stack_name for s in p.envs[ENV_A].walk()}
        | {s.stack_name for s in p.targets.get(STAGING, [])}
        | {s.stack_name for s in p.targets.get(PROD, [])}
        | {s.stack_name for s in p.core.walk()}
    )
    assert {r.stack.stack_name for r in principals} <= own, "nothing of environment B"
    accounts = {r.account for r in principals}
    if name == "team-administrator" and scenario != "single-account":
        assert accounts == {DEV, STAGING, PROD}  # only through the model deployment path (rule 3)
    else:
        assert accounts == {DEV}


# -- the user journeys stay possible ----------------------------------------------------------------------------------
def _role(p, env, logical_id):
    return p.world.principal(lambda r: r.stack is p.child(env, "env-iam") and r.logical_id == logical_id)


def _pipeline(analysis, env, template):
    stack = analysis.platform.projects[(env, template)]
    return next(pipe for pipe in analysis.pipelines() if pipe["stack"] is stack)


def _tags(env) -> dict:
    return {"aws:ResourceTag/EnvironmentName": env.name, "aws:ResourceTag/EnvironmentType": env.type}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_user_journeys_stay_allowed(deployed, scenario):
    """The README's journeys, request by request: Studio per person, a project from Studio, pushing code, the
    team administrator's reviewed deploy code, approving a model, the production approval, the multi-account
    deployment (StackSets into the target accounts and the endpoint there)."""
    p, analysis = deployed[scenario]
    personas = rules.personas(p)
    region = p.world.region
    team, scientist = personas["team-administrator"], personas["data-scientist"]
    execution = _role(p, ENV_A, "SageMakerExecutionRole")
    deploy = _role(p, ENV_A, "SageMakerModelDeployRole")
    admin = _role(p, ENV_A, "ModelDeploymentAdministrationRole")
    build, deploy_pipe = (
        _pipeline(analysis, ENV_A, "project-model-build-train"),
        _pipeline(analysis, ENV_A, "project-model-deploy"),
    )
    name, project_id = platform.PROJECTS[ENV_A]
    package = f"arn:aws:sagemaker:{region}:{DEV}:model-package/{name}-{project_id}/1"
    [domain] = p.child(ENV_A, "env-sagemaker-studio").attribute("SageMakerStudioDomain", "DomainId")
    profile = f"arn:aws:sagemaker:{region}:{DEV}:user-profile/{domain}/dave"
    allowed = [
        # The team administrator creates each person's profile, tagged with the environment and the person.
        (
            team,
            "sagemaker:CreateUserProfile",
            profile,
            {
                "aws:RequestTag/EnvironmentName": ENV_A.name,
                "aws:RequestTag/EnvironmentType": ENV_A.type,
                "aws:RequestTag/StudioUser": "dave",
                "aws:TagKeys": ["EnvironmentName", "EnvironmentType", "StudioUser"],
            },
        ),
        # In Studio (the execution role) a data scientist creates a project and pushes to its build repository.
        (execution, "sagemaker:CreateProject", f"arn:aws:sagemaker:{region}:{DEV}:project/new-project", {}),
        (execution, "servicecatalog:ProvisionProduct", f"arn:aws:catalog:{region}:{DEV}:product/prod-abc", {}),
        (
            execution,
            "codecommit:GitPush",
            f"arn:aws:codecommit:{region}:{DEV}:{build['repositories'][0]}",
            {**_tags(ENV_A), "codecommit:References": ["refs/heads/main"]},
        ),
        (
            scientist,
            "codecommit:GitPull",
            f"arn:aws:codecommit:{region}:{DEV}:{build['repositories'][0]}",
            _tags(ENV_A),
        ),
        # The team administrator reviews the deploy code, approves the model and the production deployment.
        (
            team,
            "codecommit:GitPush",
            f"arn:aws:codecommit:{region}:{DEV}:{deploy_pipe['repositories'][0]}",
            {**_tags(ENV_A), "codecommit:References": ["refs/heads/main"]},
        ),
        (team, "sagemaker:UpdateModelPackage", package, {"sagemaker:ModelApprovalStatus": "Approved"}),
        (
            team,
            "codepipeline:PutApprovalResult",
            f"{deploy_pipe['arn']}/DeployModelStaging/ApproveProductionDeployment",
            _tags(ENV_A),
        ),
        # The deploy pipeline's StackSet actions, administered by the environment's deployment administrator.
        (deploy, "cloudformation:CreateStackSet", "*", {"cloudformation:RoleArn": admin.arn}),
        (deploy, "iam:PassRole", admin.arn, {"iam:PassedToService": "cloudformation.amazonaws.com"}),
    ]
    refused = [
        (scientist, "sagemaker:UpdateModelPackage", package, {"sagemaker:ModelApprovalStatus": "Approved"}),
        (execution, "sagemaker:UpdateModelPackage", package, {"sagemaker:ModelApprovalStatus": "Approved"}),
        (
            execution,
            "codecommit:GitPush",
            f"arn:aws:codecommit:{region}:{DEV}:{deploy_pipe['repositories'][0]}",
            {**_tags(ENV_A), "codecommit:References": ["refs/heads/main"]},
        ),
        (
            deploy,
            "cloudformation:CreateStackSet",
            "*",
            {"cloudformation:RoleArn": _role(p, ENV_A, "StackSetAdministrationRole").arn},
        ),
    ]
    for actor, action, resource, context in allowed:
        assert analysis.allowed(actor, action, resource, context), (actor.logical_id, action, resource)
    for actor, action, resource, context in refused:
        assert not analysis.allowed(actor, action, resource, context), (actor.logical_id, action, resource)
    # The deployment administrator assumes each target account's model deployment role (never the setup role),
    # which creates the endpoint there, tagged with the environment, in the account's network.
    targets = (
        [
            r
            for r in p.world.principals
            if r.logical_id == "StackSetExecutionRole"
            and r.stack in [s for stacks in p.targets.values() for s in stacks]
        ]
        if p.multi_account
        else [
            r
            for r in p.world.principals
            if r.logical_id == "StackSetExecutionRole" and r.stack in list(p.envs[ENV_A].walk())
        ]
    )
    assert targets
    context = {**escalation.session_context(admin), "aws:SourceIdentity": None}
    context.pop("aws:SourceIdentity")
    for target in targets:
        assert analysis.trusts(target, context), target.key
        assert analysis.allowed(admin, "sts:AssumeRole", target.arn), target.key
        endpoint = f"arn:aws:sagemaker:{region}:{target.account}:endpoint/sagemaker-{name}-{project_id}-staging"
        assert analysis.allowed(
            target,
            "sagemaker:CreateEndpoint",
            endpoint,
            {"aws:RequestTag/EnvironmentName": ENV_A.name, "aws:TagKeys": ["EnvironmentName"]},
        ), target.key
        assert not analysis.allowed(
            target,
            "sagemaker:CreateEndpoint",
            endpoint,
            {"aws:RequestTag/EnvironmentName": ENV_B.name, "aws:TagKeys": ["EnvironmentName"]},
        ), target.key


def test_deploy_projects_are_offered_to_the_team_administrator_only(deployed):
    """Model deploy projects (their code reaches staging and production) come from a portfolio shared with the
    team administrator only; build/train projects with the data scientists and Studio too."""
    p, _ = deployed["single-account"]
    portfolio = p.child(ENV_A, "env-sc-portfolio")
    principals: dict[str, set[str]] = {}
    for _lid, resource in portfolio.resources("AWS::ServiceCatalog::PortfolioPrincipalAssociation").items():
        props = resource["Properties"]
        principals.setdefault(
            portfolio.resolver.values({"Ref": props["PortfolioId"]["Ref"]})[0]
            if isinstance(props["PortfolioId"], dict) and "Ref" in props["PortfolioId"]
            else str(props["PortfolioId"]),
            set(),
        ).update(portfolio.resolver.values(props["PrincipalARN"]))
    products: dict[str, set[str]] = {}
    for lid, resource in portfolio.resources("AWS::ServiceCatalog::PortfolioProductAssociation").items():
        props = resource["Properties"]
        products.setdefault(portfolio.resolver.values(props["PortfolioId"])[0], set()).add(lid)
    team = _role(p, ENV_A, "DataScienceTeamAdministratorRole").arn
    scientist = _role(p, ENV_A, "DataScientistRole").arn
    execution = _role(p, ENV_A, "SageMakerExecutionRole").arn
    by_kind = {
        ("deploy" if any("Deploy" in lid for lid in lids) else "build"): principals[portfolio_id]
        for portfolio_id, lids in products.items()
    }
    assert by_kind["deploy"] == {team}
    assert by_kind["build"] == {team, scientist, execution}


def test_ds_administrator_launches_only_the_released_environment_template(templates):
    """The data science administrator creates environment stacks with the launch role only from the release's
    environment template (its content-addressed URL or a release alias of it), never a template of its own."""
    template = templates["core-iam-shared-roles"]
    base = "https://mlops-releases.s3.eu-west-1.amazonaws.com/platform"
    resolver = Resolver(
        template, {"EnvironmentTemplateURL": f"{base}/templates/env-main/0123abcd.yaml"}, pseudo={"AWS::AccountId": DEV}
    )
    statements, _ = role_statements(template, "DataScienceAdministratorRole", resolver)
    stack = f"arn:aws:cloudformation:eu-west-1:{DEV}:stack/ds-env-team1-dev/id"
    for url, ok in (
        (f"{base}/templates/env-main/0123abcd.yaml", True),
        (f"{base}/releases/v1.4.0/env-main.yaml", True),
        ("https://attacker.s3.amazonaws.com/env-main.yaml", False),
        (f"{base}/templates/core-main/0123abcd.yaml", False),
    ):
        for action in ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:CreateChangeSet"):
            decision = evaluate(
                statements, request(action, stack, context={"cloudformation:TemplateUrl": url}, complete=True)
            )
            assert decision.allowed is ok, (action, url)


# -- the rules can fail: each on a template weakened the way the audit found it ---------------------------------------
def _weaken(templates, template, logical_id, statement) -> dict:
    weakened = copy.deepcopy(templates)
    resource = weakened[template]["Resources"][logical_id]
    resource["Properties"].setdefault("Policies", []).append(
        {"PolicyName": "weakened", "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    )
    return weakened


def test_the_rules_find_the_paths_of_a_weakened_platform(templates, default_config):
    """Canaries: the data science administrator allowed to write IAM (rule 1; the environment's roles carry the
    platform boundary, which would stop the same grant there), Studio allowed to push the deploy code (rule 3,
    through the deploy pipeline into production), the execution role free of its VPC guardrails (rule 2), and a
    service trust without its confused-deputy key (rule 5): each found, with the chain."""
    allow = lambda actions, resource="*": {"Effect": "Allow", "Action": actions, "Resource": resource}  # noqa: E731
    weakened = _weaken(templates, "core-iam-shared-roles", "DataScienceAdministratorRole", allow(["iam:PutRolePolicy"]))
    weakened = _weaken(weakened, "env-iam", "SageMakerExecutionRole", allow(["codecommit:GitPush"]))
    main = weakened["env-main"]["Resources"]
    for lid, resource in main.items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and lid.startswith("SageMakerGuardrailsPolicy"):
            resource["Properties"]["Roles"] = {"Ref": "AWS::NoValue"}
    trust = weakened["env-iam"]["Resources"]["SageMakerPipelineExecutionRole"]["Properties"]["AssumeRolePolicyDocument"]
    for statement in trust["Statement"]:
        statement.pop("Condition", None)
    p = platform.build(weakened, default_config, "account-lists")
    analysis = rules.analysis(p)
    scientist = rules.personas(p)["data-scientist"]
    iam = rules.iam_findings(analysis, rules.personas(p)["ds-administrator"])
    assert any(
        "iam:PutRolePolicy" in f.request and f.principal.endswith("/DataScienceAdministratorRole") for f in iam
    ), _report(iam)
    target = rules.target_findings(analysis, "data-scientist", scientist)
    assert any(f.chain and f.chain[-1].method in ("repository-push", "assume-role") for f in target), _report(target)
    assert any(analysis.principal(f.principal).account in (STAGING, PROD) for f in target), _report(target)
    compute = rules.compute_findings(analysis, scientist)
    assert any("CreateTrainingJob with no VPC" in f.request for f in compute), _report(compute)
    assert any(
        "SageMakerPipelineExecutionRole" in f and "sagemaker.amazonaws.com" in f
        for f in rules.confused_deputy_findings(p)
    )
