"""This product's rules, evaluated over every persona's reach (``escalation.Analysis.reach``):

1. no IAM writes (nor credentials of other principals, nor any managed policy) anywhere in a persona's reach;
2. no SageMaker compute without the environment's VPC and keys, or with internet access;
3. nothing in a staging or production account but the model deployment path, which only an approved model
   starts and whose production stage waits for its manual approval; no data scientist approves by any chain;
4. a data scientist acts only on its own environment (projects, data, endpoints) and its own Studio profile;
5. every service trust carries the confused-deputy conditions the service documents (``TRUST_KEYS``).

Each function returns the findings (requests a rule forbids that some principal of a reach may make, with the
chain that gets there): the tests assert there are none, and that the journeys of the README stay allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

from templates_src.blocks import environment
from templates_src.checks import platform as plat
from templates_src.checks.escalation import ADMINISTRATOR_POLICY, Analysis, Finding, catalogue
from templates_src.checks.world import Principal
from templates_src.templates.bootstrap import env_iam_setup_stackset_role as setup_role
from templates_src.templates.core import core_iam_shared_roles as shared_roles
from templates_src.templates.env import env_iam, env_iam_target_account_roles
from templates_src.templates.project import project_model_build_train, project_model_deploy

PERSONAS = ("ds-administrator", "team-administrator", "data-scientist")


# The people behind the personas (their source identities): the data scientist is alice, of environment A.
IDENTITIES = {"ds-administrator": "dora", "team-administrator": "tina", "data-scientist": "alice"}


def analysis(p: plat.Platform) -> Analysis:
    """An analysis of ``p`` whose personas are sessions of the people IDENTITIES names."""
    return Analysis(p, {persona.key: IDENTITIES[name] for name, persona in personas(p).items()})


def personas(p: plat.Platform) -> dict[str, Principal]:
    """The human personas of environment A (and the core's data science administrator)."""
    world = p.world
    team = p.child(plat.ENV_A, env_iam.NAME)
    return {
        "ds-administrator": world.principal(lambda r: r.logical_id == shared_roles.DS_ADMIN_ROLE_ID),
        "team-administrator": world.principal(lambda r: r.stack is team and r.logical_id == env_iam.TEAM_ADMIN_ROLE_ID),
        "data-scientist": world.principal(lambda r: r.stack is team and r.logical_id == env_iam.DATA_SCIENTIST_ROLE_ID),
    }


def _reached(analysis: Analysis, persona: Principal):
    chains = analysis.reach(persona)
    for key, chain in chains.items():
        yield analysis.principal(key), chain


# -- rule 1: IAM -------------------------------------------------------------------------------------------------------
def iam_targets(p: plat.Platform, account: str) -> dict[str, list[tuple[str, dict]]]:
    """Resources the direct methods are tried on: every role and policy of the world in ``account``, and one
    of each kind the platform did not create.  (ARN, resource context) pairs."""
    world = p.world
    roles = [
        (
            r.arn,
            {
                **{f"aws:ResourceTag/{k}": v for k, v in r.tags.items()},
                **({"iam:PermissionsBoundary": r.boundary_arn} if r.boundary_arn else {}),
            },
        )
        for r in world.principals
        if r.account == account
    ]
    roles.append((f"arn:aws:iam::{account}:role/Administrator", {}))
    roles.append((f"arn:aws:iam::{account}:role{p.config.role_path}{p.config.prefix}new-sm-execution", {}))
    policies = [(arn, {}) for arn in world.managed_policies if f":{account}:" in arn]
    policies.append((f"arn:aws:iam::{account}:policy/AdministratorPolicy", {}))
    functions = []
    for stack, lid, _ in world.resources("AWS::Lambda::Function"):
        if stack.account == account:
            functions += [(arn, {}) for arn in stack.attribute(lid, "Arn")]
    functions.append((f"arn:aws:lambda:{world.region}:{account}:function:other-team-function", {}))
    return {
        "roles": roles,
        "customer-policies": policies,
        "functions": functions,
        "users": [(f"arn:aws:iam::{account}:user/alice", {})],
        "groups": [(f"arn:aws:iam::{account}:group/administrators", {})],
    }


def iam_findings(analysis: Analysis, persona: Principal) -> list[Finding]:
    out = []
    for node, chain in _reached(analysis, persona):
        targets = iam_targets(analysis.platform, node.account)
        for method in catalogue()["direct"]:
            for spec in method["requests"]:
                action = spec["action"]
                kind = spec["targets"]
                candidates = [(analysis.any_resource(action, node.account), {})] if kind == "any" else targets[kind]
                for arn, context in candidates:
                    ctx = dict(context)
                    if spec.get("policy_arn") == "administrator":
                        ctx["iam:PolicyARN"] = ADMINISTRATOR_POLICY
                    analysis.checked[method["id"]] = analysis.checked.get(method["id"], 0) + 1
                    if analysis.allowed(node, action, arn, ctx, literal=kind != "any"):
                        out.append(Finding("rule 1 (IAM)", node.key, f"{action} on {arn} [{method['id']}]", chain))
    return out


# -- rule 2: SageMaker compute -----------------------------------------------------------------------------------------
FOREIGN_SUBNET, FOREIGN_GROUP = "subnet-0f0f0f0f0f0f0f0f0", "sg-0f0f0f0f0f0f0f0f0"
FOREIGN_KEY = "arn:aws:kms:eu-west-1:999999999999:key/00000000-0000-0000-0000-000000000000"


def compute_variants(base: dict) -> list[tuple[str, str, dict]]:
    """(action, what is wrong, context) of SageMaker compute requests the guardrails must refuse, made from a
    compliant context by removing or replacing one thing."""

    def without(*keys):
        return {k: v for k, v in base.items() if k not in keys}

    out = []
    jobs = (
        "CreateTrainingJob",
        "CreateProcessingJob",
        "CreateHyperParameterTuningJob",
        "CreateAutoMLJob",
        "CreateAutoMLJobV2",
    )
    for action in jobs + ("CreateModel", "CreateNotebookInstance"):
        out.append((action, "no VPC", without("sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds")))
        out.append((action, "another subnet", {**base, "sagemaker:VpcSubnets": [FOREIGN_SUBNET]}))
        out.append((action, "another security group", {**base, "sagemaker:VpcSecurityGroupIds": [FOREIGN_GROUP]}))
    for action in jobs + ("CreateTransformJob", "CreateEndpointConfig", "CreateNotebookInstance"):
        out.append((action, "no volume key", without("sagemaker:VolumeKmsKey")))
        out.append((action, "another volume key", {**base, "sagemaker:VolumeKmsKey": FOREIGN_KEY}))
    for action in ("CreateTrainingJob", "CreateHyperParameterTuningJob", "CreateTransformJob", "CreateAutoMLJob"):
        out.append((action, "no output key", without("sagemaker:OutputKmsKey")))
        out.append((action, "another output key", {**base, "sagemaker:OutputKmsKey": FOREIGN_KEY}))
    out.append(
        ("CreateNotebookInstance", "direct internet access", {**base, "sagemaker:DirectInternetAccess": "Enabled"})
    )
    out.append(("CreateDomain", "public internet", {**base, "sagemaker:AppNetworkAccessType": "PublicInternetOnly"}))
    out.append(("UpdateDomain", "public internet", {**base, "sagemaker:AppNetworkAccessType": "PublicInternetOnly"}))
    return [(f"sagemaker:{action}", why, ctx) for action, why, ctx in out]


def foreign_domain_requests(account: str, region: str) -> list[tuple[str, str]]:
    """Studio apps and spaces in a domain that is not an environment's (it may have internet access)."""
    domain = "d-foreign000000"
    return [
        ("sagemaker:CreateApp", f"arn:aws:sagemaker:{region}:{account}:app/{domain}/someone/jupyterlab/default"),
        ("sagemaker:CreateSpace", f"arn:aws:sagemaker:{region}:{account}:space/{domain}/space"),
        ("sagemaker:CreatePresignedDomainUrl", f"arn:aws:sagemaker:{region}:{account}:user-profile/{domain}/x"),
    ]


def compute_findings(analysis: Analysis, persona: Principal) -> list[Finding]:
    out = []
    for node, chain in _reached(analysis, persona):
        bases = analysis.compliant_contexts(node)
        for action, why, ctx in compute_variants(bases[0]):
            resource = analysis.any_resource(action, node.account)
            analysis.checked["rule-2"] = analysis.checked.get("rule-2", 0) + 1
            if analysis.allowed(node, action, resource, ctx, literal=False):
                out.append(Finding("rule 2 (SageMaker compute)", node.key, f"{action} with {why}", chain))
        for action, arn in foreign_domain_requests(node.account, analysis.world.region):
            analysis.checked["rule-2"] = analysis.checked.get("rule-2", 0) + 1
            if analysis.allowed(node, action, arn):
                out.append(Finding("rule 2 (SageMaker compute)", node.key, f"{action} in a foreign domain", chain))
    return out


# -- rule 3: staging and production ------------------------------------------------------------------------------------
def deployment_path_roles(p: plat.Platform) -> set[str]:
    """The model deployment path of environment A: the roles that deploy approved models (the deploy project's
    roles, its StackSet administration role, the model deployment StackSet execution and model roles)."""
    analysis = Analysis(p)
    keys = set()
    for pipe in analysis.pipelines():
        if pipe["admins"] and pipe["stack"] is p.projects.get((plat.ENV_A, project_model_deploy.NAME)):
            keys |= {r.key for r in pipe["admins"] + pipe["builds"]}
            if pipe["pipeline_role"]:
                keys.add(pipe["pipeline_role"].key)
    for r in p.world.principals:
        if (
            r.logical_id
            in (
                env_iam_target_account_roles.STACKSET_EXECUTION_ROLE_ID,
                env_iam_target_account_roles.MODEL_EXECUTION_ROLE_ID,
            )
            and r.stack.name == env_iam_target_account_roles.NAME
            and (r.account != plat.DEV or r.stack in list(p.envs[plat.ENV_A].walk()))
        ):
            keys.add(r.key)
    return keys


def approval_requests(p: plat.Platform) -> list[tuple[str, str, dict]]:
    """What approves or starts a deployment: a model package approved, the deploy pipeline started, its manual
    approval given, the pipeline changed."""
    region = p.world.region
    out = []
    group = "churn-p-aaaaaaaaaaaa"
    package = f"arn:aws:sagemaker:{region}:{plat.DEV}:model-package/{group}/1"
    out.append(("sagemaker:UpdateModelPackage", package, {"sagemaker:ModelApprovalStatus": "Approved"}))
    out.append(("sagemaker:CreateModelPackage", package, {"sagemaker:ModelApprovalStatus": "Approved"}))
    analysis = Analysis(p)
    for pipe in analysis.pipelines():
        if not pipe["admins"]:
            continue
        arn = pipe["arn"]
        out.append(("codepipeline:StartPipelineExecution", arn, {}))
        out.append(("codepipeline:UpdatePipeline", arn, {}))
        out.append(("codepipeline:PutApprovalResult", f"{arn}/DeployModelStaging/ApproveProductionDeployment", {}))
    return out


def target_findings(analysis: Analysis, persona_name: str, persona: Principal) -> list[Finding]:
    p = analysis.platform
    path = deployment_path_roles(p)
    setup = {
        r.key
        for r in p.world.principals
        if r.logical_id in (setup_role.SETUP_ROLE_ID, env_iam.STACKSET_ADMINISTRATION_ROLE_ID)
    }
    out = []
    for node, chain in _reached(analysis, persona):
        in_target = node.account in (plat.STAGING, plat.PROD)
        if node.key in setup:
            out.append(Finding("rule 3 (staging and production)", node.key, "set up target accounts", chain))
        elif persona_name == "team-administrator":
            if in_target and node.key not in path:
                out.append(Finding("rule 3 (staging and production)", node.key, "act in a target account", chain))
        elif in_target or node.key in path:
            out.append(Finding("rule 3 (staging and production)", node.key, "act on the model deployment path", chain))
        if persona_name != "team-administrator":
            for action, arn, ctx in approval_requests(p):
                analysis.checked["rule-3"] = analysis.checked.get("rule-3", 0) + 1
                if action == "codepipeline:StartPipelineExecution":
                    analysis.checked["pipeline-start"] = analysis.checked.get("pipeline-start", 0) + 1
                if analysis.allowed(node, action, arn, ctx):
                    out.append(Finding("rule 3 (staging and production)", node.key, f"{action} on {arn}", chain))
    return out


# -- rule 4: own environment -------------------------------------------------------------------------------------------
def other_environment_requests(p: plat.Platform, own: plat.Env) -> list[tuple[str, str, dict, object]]:
    """Requests on another environment's resources: (action, resource, context, resource policy)."""
    analysis = Analysis(p)
    out = []
    for env in p.envs:
        if env == own:
            continue
        tags = {f"aws:ResourceTag/{tag}": value for tag, value in plat.env_tags(env).items()}
        ssm = p.ssm(env)
        region, account = p.world.region, plat.DEV
        for suffix in (environment.DATA_BUCKET_NAME_SSM, environment.MODEL_BUCKET_NAME_SSM):
            bucket = ssm.get(f"{env.key}-{suffix}")
            policy = analysis.bucket_policy(bucket)
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
                out.append((action, f"arn:aws:s3:::{bucket}/data.csv", {}, policy))
        for pipe in analysis.pipelines():
            stack = pipe["stack"]
            if stack not in (
                p.projects.get((env, project_model_build_train.NAME)),
                p.projects.get((env, project_model_deploy.NAME)),
            ):
                continue
            policy = analysis.bucket_policy(pipe["bucket"])
            for action in ("s3:GetObject", "s3:PutObject"):
                out.append((action, f"arn:aws:s3:::{pipe['bucket']}/artifact.zip", {}, policy))
            for repo in pipe["repositories"]:
                arn = f"arn:aws:codecommit:{region}:{account}:{repo}"
                for action in ("codecommit:GitPush", "codecommit:GitPull"):
                    out.append((action, arn, {**tags, "codecommit:References": ["refs/heads/feature"]}, None))
            out.append(("codepipeline:StartPipelineExecution", pipe["arn"], tags, None))
        name, project_id = plat.PROJECTS[env]
        resources = {
            "endpoint": f"endpoint/{name}-{project_id}-staging",
            "project": f"project/{name}",
            "model-package-group": f"model-package-group/{name}-{project_id}",
            "pipeline": f"pipeline/{name}-{project_id}",
        }

        def arn(kind, region=region, account=account, resources=resources):
            return f"arn:aws:sagemaker:{region}:{account}:{resources[kind]}"

        for action in ("InvokeEndpoint", "UpdateEndpoint", "DeleteEndpoint"):
            out.append((f"sagemaker:{action}", arn("endpoint"), tags, None))
        for action in ("UpdateProject", "DeleteProject"):
            out.append((f"sagemaker:{action}", arn("project"), tags, None))
        out.append(("sagemaker:DeleteModelPackageGroup", arn("model-package-group"), tags, None))
        for action in ("StartPipelineExecution", "UpdatePipeline", "DeletePipeline"):
            out.append((f"sagemaker:{action}", arn("pipeline"), tags, None))
    return out


def own_environment_findings(analysis: Analysis, persona: Principal, env: plat.Env) -> list[Finding]:
    p = analysis.platform
    others = {
        r.key for e, main in p.envs.items() if e != env for s in main.walk() for r in p.world.principals if r.stack is s
    }
    others |= {r.key for (e, _), s in p.projects.items() if e != env for r in p.world.principals if r.stack is s}
    out = []
    requests = other_environment_requests(p, env)
    for node, chain in _reached(analysis, persona):
        if node.key in others:
            out.append(Finding("rule 4 (own environment)", node.key, "act as another environment's role", chain))
        for action, arn, ctx, policy in requests:
            analysis.checked["rule-4"] = analysis.checked.get("rule-4", 0) + 1
            if analysis.allowed(node, action, arn, ctx, resource_policy=policy):
                out.append(Finding("rule 4 (own environment)", node.key, f"{action} on {arn}", chain))
    return out


# -- rule 5: confused deputy -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrustKeys:
    keys: tuple[str, ...]  # condition keys the service documents for the roles it assumes ('' : none)
    source: str  # where AWS documents it, or why none is used


# Sourced from AWS documentation (see the citations); a service without documented keys gets none, because a
# condition on a key the service does not send would deny every AssumeRole and break the role.
TRUST_KEYS = {
    "sagemaker.amazonaws.com": TrustKeys(
        ("aws:SourceAccount",),
        "SageMaker developer guide, cross-service "
        "confused deputy prevention (security-confused-deputy-prevention.html)",
    ),
    "events.amazonaws.com": TrustKeys(
        ("aws:SourceAccount", "aws:SourceArn"),
        "EventBridge user guide, cross-service confused deputy prevention: rule targets' aws:SourceArn is the rule ARN",
    ),
    "vpc-flow-logs.amazonaws.com": TrustKeys(
        ("aws:SourceAccount", "aws:SourceArn"), "VPC user guide, flow logs to CloudWatch Logs (flow-logs-cwl.html)"
    ),
    "states.amazonaws.com": TrustKeys(
        ("aws:SourceAccount",),
        "Step Functions developer guide, prevent cross-service confused deputy (procedure-create-iam-role.html)",
    ),
    "cloudformation.amazonaws.com#stackset-administration": TrustKeys(
        ("aws:SourceAccount", "aws:SourceArn"),
        "CloudFormation user guide, StackSets self-managed permissions: "
        "'StackSets populates your administrator account ID and StackSets ARN' (stacksets-prereqs-self-managed)",
    ),
    "cloudformation.amazonaws.com": TrustKeys(
        (),
        "not documented for stack service roles (using-iam-servicerole: "
        "only the service principal); roles cannot be passed across accounts",
    ),
    "servicecatalog.amazonaws.com": TrustKeys(
        (),
        "not documented for launch roles (constraints-launch: only the "
        "service principal); a launch constraint needs iam:PassRole in the "
        "portfolio's account",
    ),
    "lambda.amazonaws.com": TrustKeys(
        (), "not documented for execution roles; a role cannot be passed to another account's function"
    ),
    "codebuild.amazonaws.com": TrustKeys(
        (),
        "not documented for service roles (setting-up-service-role shows only "
        "the service principal); roles cannot be passed across accounts",
    ),
    "codepipeline.amazonaws.com": TrustKeys(
        (),
        "not documented for service roles (pipelines-create-service-role "
        "shows only the service principal); roles cannot be passed across "
        "accounts",
    ),
    "glue.amazonaws.com": TrustKeys((), "not documented for job and crawler roles"),
    "firehose.amazonaws.com": TrustKeys((), "not documented for delivery stream roles"),
    "apigateway.amazonaws.com": TrustKeys((), "not documented for API Gateway roles"),
}


def trust_kind(role: Principal, service: str) -> str:
    if service == "cloudformation.amazonaws.com" and role.logical_id in (
        env_iam.STACKSET_ADMINISTRATION_ROLE_ID,
        env_iam.DEPLOYMENT_ADMINISTRATION_ROLE_ID,
    ):
        return "cloudformation.amazonaws.com#stackset-administration"
    return service


def confused_deputy_findings(p: plat.Platform) -> list[str]:
    """Service trust statements without the keys their service documents (or services missing from the
    table, which must be reviewed first)."""
    out = []
    for role in p.world.principals:
        for stmt in role.trust:
            services = [
                v for op, key, values in stmt.conditions if key.lower() == "aws:principalservicename" for v in values
            ]
            present = {key.lower() for _, key, _ in stmt.conditions}
            for service in services:
                spec = TRUST_KEYS.get(trust_kind(role, service))
                if spec is None:
                    out.append(f"{role.key}: {service} is not in TRUST_KEYS (review what it documents)")
                    continue
                missing = [k for k in spec.keys if k.lower() not in present]
                if missing:
                    out.append(f"{role.key}: trust of {service} lacks {missing} ({spec.source})")
    return out


# -- journeys ----------------------------------------------------------------------------------------------------------
def decide_journey(
    analysis: Analysis, actor: Principal, action: str, resource: str, context: dict | None = None, resource_policy=None
) -> bool:
    return analysis.allowed(actor, action, resource, context or {}, resource_policy=resource_policy)
