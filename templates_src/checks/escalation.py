"""No persona can escalate: the privilege-escalation catalogue (``escalation.yaml``) and this product's rules,
evaluated over the chains each persona can start.

A *chain* is a sequence of principals, each of which the previous one can make act for it (``Edge``): by
assuming it, by passing it to a service that runs the caller's code as it (``passrole`` methods), or through an
existing resource that runs as it (a function's code, a build project, a Studio user profile, a repository
whose pipeline builds and deploys what is pushed, a stack or StackSet administered by it).  What any principal
of a persona's reach can do counts as the persona's (``Analysis.reach``).

Every request is evaluated the way IAM decides it (``world.decide``: identity policies, the permissions
boundary, explicit denies), with the condition keys the request really carries (``iam_reference``) and the
caller's own keys (``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalTag/*``,
``aws:SourceIdentity``); keys the request does not carry are absent.  Template-bound launches (a Service
Catalog product, a stack whose template is pinned by ``cloudformation:TemplateUrl``) are not edges: they
create what a template of this product says, with the launch role, and what they create is itself part of the
world being checked.
"""

from __future__ import annotations

import functools
import pathlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from templates_src.checks import iam_reference
from templates_src.checks.iam_policy import evaluate, request
from templates_src.checks.world import Principal, Stack, World, decide
from templates_src.templates.core import core_iam_shared_roles as shared_roles
from templates_src.templates.env import env_kms, env_vpc

DATA_FILE = pathlib.Path(__file__).with_name("escalation.yaml")
ATTACKER_TEMPLATE = "https://attacker-bucket.s3.amazonaws.com/escalate.yaml"
ADMINISTRATOR_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


@functools.lru_cache(maxsize=1)
def catalogue() -> dict:
    return yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Edge:
    source: str  # principal key
    target: str
    method: str
    via: str  # the resource or request that makes it possible

    def __str__(self) -> str:
        return f"{self.source} --{self.method} ({self.via})--> {self.target}"


@dataclass(frozen=True)
class Finding:
    """A request some principal of a persona's reach may make that the rules forbid, with the chain to it."""

    rule: str
    principal: str
    request: str
    chain: tuple[Edge, ...] = ()

    def __str__(self) -> str:
        hops = (
            " -> ".join([self.chain[0].source] + [f"[{e.method}] {e.target}" for e in self.chain])
            if self.chain
            else self.principal
        )
        return f"{self.rule}: {hops} may {self.request}"


# -- contexts ----------------------------------------------------------------------------------------------------------
def session_context(actor: Principal, source_identity: str | None = None) -> dict:
    """The keys a session of ``actor`` carries in every request (``source_identity``: the person's, set when they
    assumed a persona role and carried along every chain)."""
    context = {
        "aws:PrincipalArn": actor.arn,
        "aws:PrincipalAccount": actor.account,
        "aws:PrincipalType": "AssumedRole",
        "aws:userid": f"AROA{abs(hash(actor.arn)) % 10**12:012d}:session",
    }
    for key, value in actor.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    if source_identity:
        context["aws:SourceIdentity"] = source_identity
    return context


def _keys_for(action: str, context: dict) -> dict:
    """Only the keys a request of ``action`` can carry (global aws: keys always pass)."""
    out = {}
    for key, value in context.items():
        if key.lower().startswith("aws:") and not key.lower().startswith(
            ("aws:requesttag/", "aws:tagkeys", "aws:resourcetag/")
        ):
            out[key] = value
        elif iam_reference.exists(action) and (iam_reference.carries(action, key) or _resource_tag(key)):
            out[key] = value
    return out


def _resource_tag(key: str) -> bool:
    return key.lower().startswith("aws:resourcetag/")


class Analysis:
    """The escalation analysis of one deployed platform (``templates_src.checks.platform.Platform``)."""

    def __init__(self, platform, identities: dict[str, str] | None = None):
        self.platform = platform
        self.world: World = platform.world
        self.checked: dict[str, int] = {}  # method id -> requests evaluated
        self.identities = dict(identities or {})  # persona key -> the person's source identity

    # -- requests ------------------------------------------------------------------------------------------------------
    def allowed(
        self,
        actor: Principal,
        action: str,
        resource: str,
        context: dict | None = None,
        literal: bool = True,
        resource_policy=None,
    ) -> bool:
        ctx = {**session_context(actor, self.identities.get(actor.key)), **_keys_for(action, context or {})}
        if not literal or "*" in resource:
            req = request(action, resource, literal=False, context=ctx, complete=True)
        else:
            req = request(action, resource, context=ctx, complete=True)
        same = resource.split(":")[4] in ("", actor.account) if resource.startswith("arn:") else True
        return decide(actor, req, resource_policy, same_account=same).allowed

    def trusts(self, role: Principal, context: dict) -> bool:
        req = request("sts:AssumeRole", role.arn, context=context, complete=True)
        return evaluate(role.trust, req).allowed

    def _explicitly_trusted(self, role: Principal, actor: Principal) -> bool:
        for stmt in role.trust:
            for _op, key, values in stmt.conditions:
                if key.lower() == "aws:principalarn" and actor.arn in values:
                    return stmt.effect == "Allow"
        return False

    # -- edges ---------------------------------------------------------------------------------------------------------
    def edges(self, actor: Principal) -> list[Edge]:
        out = []
        out += self._assume_edges(actor)
        out += self._passrole_edges(actor)
        out += self._existing_edges(actor)
        return out

    def _assume_edges(self, actor: Principal) -> list[Edge]:
        out = []
        context = {**session_context(actor)}
        for role in self.world.principals:
            if role is actor or not any(
                op and key.lower() in ("aws:principalarn", "aws:principalaccount")
                for stmt in role.trust
                for op, key, _ in stmt.conditions
            ):
                continue
            self.checked["assume-role"] = self.checked.get("assume-role", 0) + 1
            if not self.trusts(role, context):
                continue
            same = role.account == actor.account
            identity = self.allowed(actor, "sts:AssumeRole", role.arn)
            if identity or (same and self._explicitly_trusted(role, actor)):
                out.append(Edge(actor.key, role.key, "assume-role", role.arn))
        return out

    def _service_trust_context(self, service: str, account: str) -> dict:
        prefix = service.split(".")[0]
        source = {
            "lambda": "function:x",
            "codebuild": "project/x",
            "sagemaker": "training-job/x",
            "cloudformation": "stack/x/y",
            "events": "rule/x",
            "states": "stateMachine:x",
        }.get(prefix, "x")
        arn_service = {"ecs-tasks": "ecs"}.get(prefix, prefix)
        return {
            "aws:PrincipalServiceName": service,
            "aws:SourceAccount": account,
            "aws:SourceArn": f"arn:aws:{arn_service}:{self.world.region}:{account}:{source}",
        }

    def _passrole_edges(self, actor: Principal) -> list[Edge]:
        out = []
        for method in catalogue()["passrole"]:
            service = method["service"]
            candidates = [
                r
                for r in self.world.principals
                if r.account == actor.account and self.trusts(r, self._service_trust_context(service, r.account))
            ]
            if not candidates:
                continue
            contexts = self.compliant_contexts(actor) if method.get("compliant") else [{}]
            for role in candidates:
                self.checked[method["id"]] = self.checked.get(method["id"], 0) + 1
                if not self.allowed(actor, "iam:PassRole", role.arn, {"iam:PassedToService": service}):
                    continue
                if any(
                    all(self._service_request(actor, action, method, role, ctx) for action in method["requests"])
                    for ctx in contexts
                ):
                    out.append(Edge(actor.key, role.key, method["id"], f"iam:PassRole to {service}"))
        return out

    def _service_request(self, actor: Principal, action: str, method: dict, role: Principal, context: dict) -> bool:
        ctx = dict(context)
        if method.get("template_url") == "attacker":
            ctx.update({"cloudformation:TemplateUrl": ATTACKER_TEMPLATE, "cloudformation:RoleArn": role.arn})
        return self.allowed(actor, action, self.any_resource(action, actor.account), ctx, literal=False)

    def any_resource(self, action: str, account: str) -> str:
        """A resource of the kind ``action`` is authorized on, in ``account`` (a pattern), or ``*``."""
        from templates_src.checks.iam_coverage import arn_forms

        try:
            forms = arn_forms(action)
        except KeyError:
            return "*"
        if not forms:
            return "*"
        form = forms[0]
        parts = form.split(":", 5)
        if len(parts) == 6:
            parts[2] = parts[2] if parts[2] != "*" else parts[2]
            parts[3] = self.world.region if parts[3] == "*" else parts[3]
            parts[4] = account if parts[4] == "*" else parts[4]
            parts[1] = "aws"
            return ":".join(parts)
        return form

    def _existing_edges(self, actor: Principal) -> list[Edge]:
        out = []
        for stack, lid, resource in self.world.resources("AWS::Lambda::Function"):
            role = self._role_of(stack, resource["Properties"].get("Role"))
            if role is None or stack.account != actor.account:
                continue
            self.checked["lambda-update-code"] = self.checked.get("lambda-update-code", 0) + 1
            for arn in stack.attribute(lid, "Arn"):
                if self.allowed(actor, "lambda:UpdateFunctionCode", arn):
                    out.append(Edge(actor.key, role.key, "lambda-update-code", arn))
        for stack, lid, resource in self.world.resources("AWS::CodeBuild::Project"):
            role = self._role_of(stack, resource["Properties"].get("ServiceRole"))
            if role is None or stack.account != actor.account:
                continue
            self.checked["codebuild-start-build"] = self.checked.get("codebuild-start-build", 0) + 1
            for arn in stack.attribute(lid, "Arn"):
                tags = self.resource_tags(stack, resource)
                if self.allowed(actor, "codebuild:StartBuild", arn, tags) or self.allowed(
                    actor, "codebuild:UpdateProject", arn, tags
                ):
                    out.append(Edge(actor.key, role.key, "codebuild-start-build", arn))
        out += self._studio_edges(actor)
        out += self._repository_edges(actor)
        out += self._stack_edges(actor)
        return out

    def _role_of(self, stack: Stack, value) -> Principal | None:
        if value is None:
            return None
        for arn in stack.resolver.values(value):
            found = self.world.by_arn(arn)
            if found:
                return found
        return None

    @staticmethod
    def resource_tags(stack: Stack, resource: dict) -> dict:
        tags = {}
        raw = (resource.get("Properties") or {}).get("Tags") or []
        if isinstance(raw, dict):
            raw = [{"Key": k, "Value": v} for k, v in raw.items()]
        for tag in raw:
            if isinstance(tag, dict) and "Key" in tag:
                values = stack.resolver.values(tag["Value"])
                if len(values) == 1:
                    tags[f"aws:ResourceTag/{tag['Key']}"] = values[0]
        return tags

    # Studio: a user profile's apps run as its execution role (the profile's, or the domain's default).
    def user_profiles(self) -> list[tuple[Stack, str, str, dict, Principal | None]]:
        """(stack, profile ARN, profile name, resource tags, execution role) of every user profile."""
        out = []
        for stack, _lid, resource in self.world.resources("AWS::SageMaker::UserProfile"):
            props = resource["Properties"]
            domain_ids = stack.resolver.values(props["DomainId"])
            names = stack.resolver.values(props["UserProfileName"])
            role = self._role_of(stack, (props.get("UserSettings") or {}).get("ExecutionRole"))
            if role is None:
                for _dlid, domain in stack.resources("AWS::SageMaker::Domain").items():
                    role = self._role_of(stack, domain["Properties"]["DefaultUserSettings"]["ExecutionRole"])
            tags = self.resource_tags(stack, resource)
            for domain_id in domain_ids:
                for name in names:
                    arn = f"arn:aws:sagemaker:{stack.region}:{stack.account}:user-profile/{domain_id}/{name}"
                    out.append((stack, arn, name, tags, role))
        # The people's profiles (no user settings: the domain's default execution role).
        for stack, arn, person, tags in getattr(self.platform, "people_profiles", lambda: [])():
            for _dlid, domain in stack.resources("AWS::SageMaker::Domain").items():
                role = self._role_of(stack, domain["Properties"]["DefaultUserSettings"]["ExecutionRole"])
                out.append((stack, arn, person, tags, role))
        return out

    def _studio_edges(self, actor: Principal) -> list[Edge]:
        out = []
        for stack, arn, _name, tags, role in self.user_profiles():
            if role is None or stack.account != actor.account:
                continue
            self.checked["studio-user-profile"] = self.checked.get("studio-user-profile", 0) + 1
            if self.allowed(actor, "sagemaker:CreatePresignedDomainUrl", arn, tags):
                out.append(Edge(actor.key, role.key, "studio-user-profile", arn))
        return out

    # Repositories: a push to the branch a pipeline builds runs the pushed buildspec as the build project's role,
    # and the pipeline deploys the build's output with its own role (StackSet actions: the administration role).
    def pipelines(self) -> list[dict]:
        """Every project pipeline: its repository, branch, artifact bucket, the roles that run pushed code or
        deploy built artifacts, and its deployment (StackSet) administration roles."""
        out = []
        for stack, lid, resource in self.world.resources("AWS::CodePipeline::Pipeline"):
            props = resource["Properties"]
            pipeline_role = self._role_of(stack, props["RoleArn"])
            repos, branch, builds, admins = [], None, [], []
            for stage in props["Stages"]:
                for action in _actions(stage["Actions"], stack):
                    kind = action["ActionTypeId"]
                    config = action.get("Configuration") or {}
                    if kind["Category"] == "Source" and kind["Provider"] == "CodeCommit":
                        repos += stack.resolver.values(config["RepositoryName"])
                        branch = "".join(stack.resolver.values(config["BranchName"])[:1])
                    if kind["Category"] == "Build":
                        project = config["ProjectName"]
                        target = project.get("Ref") if isinstance(project, dict) else None
                        if target in stack.template["Resources"]:
                            role = self._role_of(
                                stack, stack.template["Resources"][target]["Properties"]["ServiceRole"]
                            )
                            if role:
                                builds.append(role)
                    if kind["Category"] == "Deploy" and kind["Provider"] == "CloudFormationStackSet":
                        role = self._role_of(stack, config["AdministrationRoleArn"])
                        if role:
                            admins.append(role)
            bucket = props["ArtifactStore"]["Location"]
            out.append(
                {
                    "stack": stack,
                    "arn": stack.attribute(lid, "Arn")[0],
                    "repositories": repos,
                    "branch": branch,
                    "builds": builds,
                    "admins": admins,
                    "pipeline_role": pipeline_role,
                    "bucket": "".join(stack.resolver.values(bucket)[:1]),
                }
            )
        return out

    def _repository_edges(self, actor: Principal) -> list[Edge]:
        out = []
        for pipe in self.pipelines():
            stack = pipe["stack"]
            if stack.account != actor.account:
                continue
            for repo_name in pipe["repositories"]:
                repo = [(lid, r) for lid, r in stack.resources("AWS::CodeCommit::Repository").items()]
                tags = self.resource_tags(stack, repo[0][1]) if repo else {}
                arn = f"arn:aws:codecommit:{stack.region}:{stack.account}:{repo_name}"
                ref = {"codecommit:References": [f"refs/heads/{pipe['branch']}"], **tags}
                self.checked["repository-push"] = self.checked.get("repository-push", 0) + 1
                if (
                    self.allowed(actor, "codecommit:GitPush", arn, ref)
                    or self.allowed(actor, "codecommit:PutFile", arn, ref)
                    or self.allowed(actor, "codecommit:CreateCommit", arn, ref)
                ):
                    for role in pipe["builds"]:
                        out.append(Edge(actor.key, role.key, "repository-push", arn))
                    for role in pipe["admins"]:
                        out.append(Edge(actor.key, role.key, "repository-push", f"{arn} (deployed by the pipeline)"))
            if pipe["admins"] and pipe["bucket"]:
                key = f"arn:aws:s3:::{pipe['bucket']}/*"
                policy = self.bucket_policy(pipe["bucket"])
                self.checked["pipeline-artifacts"] = self.checked.get("pipeline-artifacts", 0) + 1
                if self.allowed(actor, "s3:PutObject", key, resource_policy=policy):
                    for role in pipe["admins"]:
                        out.append(Edge(actor.key, role.key, "pipeline-artifacts", key))
        return out

    def bucket_policy(self, bucket: str):
        from templates_src.checks.iam_policy import Resolver  # noqa: F401  (kept for symmetry)

        for stack, _lid, resource in self.world.resources("AWS::S3::BucketPolicy"):
            names = stack.resolver.values(resource["Properties"]["Bucket"])
            if bucket in names:
                return resource_policy_statements(resource["Properties"]["PolicyDocument"], stack, f"bucket:{bucket}")
        return None

    # Stacks and StackSets that run as a role: an update with another template runs it as that role.
    def _stack_edges(self, actor: Principal) -> list[Edge]:
        out = []
        context = {"cloudformation:TemplateUrl": ATTACKER_TEMPLATE}
        # Stacks that have a service role: Service Catalog's provisioned products (SC-*) run as the launch role of
        # their product's constraint, the environment's direct deployments (ds-env-*) as the environment launch
        # role.  (StackSet instances run with the StackSet execution role's own credentials: no other role.)
        for pattern, role in self.stacks_with_roles():
            if role.account != actor.account:
                continue
            self.checked["stack-update"] = self.checked.get("stack-update", 0) + 1
            arn = f"arn:aws:cloudformation:{self.world.region}:{actor.account}:stack/{pattern[:-1]}x/id"
            if self.allowed(actor, "cloudformation:UpdateStack", arn, {**context, "cloudformation:RoleArn": role.arn}):
                out.append(Edge(actor.key, role.key, "stack-update", arn))
        # An existing StackSet updated with another template runs it as its administration role: a request that
        # names the role, or one that does not (CloudFormation keeps the StackSet's role, which the caller must
        # then be allowed to pass, as for any role CloudFormation uses on the caller's behalf).
        for pipe in self.pipelines():
            for admin in pipe["admins"]:
                arn = f"arn:aws:cloudformation:{self.world.region}:{actor.account}:stackset/sagemaker-x:id"
                self.checked["stack-set-update"] = self.checked.get("stack-set-update", 0) + 1
                named = self.allowed(
                    actor, "cloudformation:UpdateStackSet", arn, {**context, "cloudformation:RoleArn": admin.arn}
                )
                implied = self.allowed(actor, "cloudformation:UpdateStackSet", arn, context) and self.allowed(
                    actor, "iam:PassRole", admin.arn, {"iam:PassedToService": "cloudformation.amazonaws.com"}
                )
                if named or implied:
                    out.append(Edge(actor.key, admin.key, "stack-set-update", arn))
        return out

    @functools.cached_property
    def _stacks_with_roles(self) -> list[tuple[str, Principal]]:
        out = []
        for stack, _lid, resource in self.world.resources("AWS::ServiceCatalog::LaunchRoleConstraint"):
            for arn in stack.resolver.values(resource["Properties"].get("RoleArn", "")):
                role = self.world.by_arn(arn)
                if role:
                    out.append(("SC-*", role))
        for role in self.world.principals:
            if role.logical_id == shared_roles.SC_LAUNCH_ROLE_ID:
                out += [("SC-*", role), (f"{self.platform.config.prefix}ds-env-*", role)]
        return out

    def stacks_with_roles(self) -> list[tuple[str, Principal]]:
        return self._stacks_with_roles

    # -- contexts of compliant SageMaker requests ----------------------------------------------------------------------
    def environment_of(self, actor: Principal):
        for env, main in self.platform.envs.items():
            if actor.stack in list(main.walk()):
                return env
        return None

    @functools.lru_cache(maxsize=None)  # noqa: B019 - an analysis lives as long as its caches are meant to
    def _environment_network(self, env) -> dict:
        """The environment's subnets, security groups and keys, as requests name them."""
        main = self.platform.envs[env]
        vpc = self.platform.child(env, env_vpc.NAME)
        kms = self.platform.child(env, env_kms.NAME)
        out = lambda stack, name: stack.resolver.values(stack.template["Outputs"][name]["Value"])  # noqa: E731
        return {
            "subnets": out(vpc, "PrivateSubnetIds"),
            "groups": out(vpc, "SageMakerSecurityGroupIds"),
            "ebs": out(kms, "SagemakerEBSKMSKeyArn")[0],
            "s3": out(kms, "S3BucketKMSKeyArn")[0],
            "main": main,
        }

    def compliant_contexts(self, actor: Principal) -> list[dict]:
        """Contexts of SageMaker job requests that meet an environment's guardrails (the actor's environment,
        else every environment's): what a legitimate request carries."""
        env = self.environment_of(actor)
        envs = [env] if env is not None else list(self.platform.envs)
        out = []
        for e in envs:
            net = self._environment_network(e)
            out.append(
                {
                    "sagemaker:VpcSubnets": net["subnets"],
                    "sagemaker:VpcSecurityGroupIds": net["groups"],
                    "sagemaker:VolumeKmsKey": net["ebs"],
                    "sagemaker:OutputKmsKey": net["s3"],
                    "sagemaker:InstanceTypes": ["ml.m5.xlarge"],
                    "sagemaker:DirectInternetAccess": "Disabled",
                    "sagemaker:RootAccess": "Disabled",
                    "sagemaker:NetworkIsolation": "true",
                    "sagemaker:InterContainerTrafficEncryption": "true",
                }
            )
        return out

    # -- reach ---------------------------------------------------------------------------------------------------------
    @functools.lru_cache(maxsize=None)  # noqa: B019 - an analysis lives as long as its caches are meant to
    def _edges_of(self, key: str) -> tuple[Edge, ...]:
        actor = self.principal(key)
        return tuple(self.edges(actor))

    def principal(self, key: str) -> Principal:
        return next(p for p in self.world.principals if p.key == key)

    def reach(self, start: Principal) -> dict[str, tuple[Edge, ...]]:
        """Every principal ``start`` can make act for it, with the shortest chain of edges to it."""
        chains: dict[str, tuple[Edge, ...]] = {start.key: ()}
        queue = deque([start.key])
        while queue:
            key = queue.popleft()
            for edge in self._edges_of(key):
                if edge.target not in chains:
                    chains[edge.target] = chains[key] + (edge,)
                    queue.append(edge.target)
        return chains


def _actions(actions, stack: Stack) -> Iterable[dict]:
    """Pipeline actions, Fn::If branches resolved where the stack's conditions decide them (both otherwise)."""
    for action in actions:
        if isinstance(action, dict) and set(action) == {"Fn::If"}:
            name, when_true, when_false = action["Fn::If"]
            truth = stack.condition(name)
            branches = [when_true] if truth is True else [when_false] if truth is False else [when_true, when_false]
            yield from _actions(branches, stack)
        else:
            yield action


def resource_policy_statements(document: dict, stack: Stack, source: str):
    """A resource policy of ``stack`` with its principals folded into conditions (iam_policy)."""
    from templates_src.checks.iam_policy import resource_policy_statements as fold

    return fold(document, stack.resolver, source)
