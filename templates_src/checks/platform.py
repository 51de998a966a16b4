"""The platform deployed as its README says, with sample values, for the proofs: one core, two environments
of one development account (so that "only its own environment" can be shown), their MLOps projects, and, in
the multi-account scenarios, the staging and production accounts prepared as the README says (the setup
role by hand, then the environment's StackSets).

Scenarios (``SCENARIOS``):

* ``single-account``: both stages of model deployment in the development account (MultiAccountDeployment NO);
* ``account-lists``: staging and production accounts by lists (self-managed StackSets, the setup role);
* ``organizational-units``: by organizational units (service-managed StackSets, no setup role).
"""

from __future__ import annotations

from dataclasses import dataclass

from templates_src import naming
from templates_src.blocks import environment, project
from templates_src.checks.world import Stack, World
from templates_src.config import Config
from templates_src.templates.bootstrap import env_iam_setup_stackset_role as setup_role
from templates_src.templates.core import core_main
from templates_src.templates.env import env_main, env_sagemaker_studio, env_vpc
from templates_src.templates.project import project_model_build_train, project_model_deploy

DEV, STAGING, PROD = "111111111111", "333333333333", "555555555555"
REGION = "eu-west-1"
CORE = "sm-mlops-core"
SEED_BUCKET = "sm-mlops-release-bucket"
ORGANIZATION = "o-abcdefghij"
OU_STAGING, OU_PROD = "ou-abcd-11111111", "ou-abcd-22222222"


@dataclass(frozen=True)
class Env:
    name: str
    type: str = "dev"

    @property
    def key(self) -> str:
        return f"{self.name}-{self.type}"


def env_tags(env: Env) -> dict[str, str]:
    """The tags of ``env``'s resources (and the attributes the environment configuration function returns)."""
    return {environment.ENV_NAME_TAG: env.name, environment.ENV_TYPE_TAG: env.type}


ENV_A, ENV_B = Env("sm-mlops"), Env("other")
# The projects each environment's team created: (name, id), a model build/train and a model deploy project.
PROJECTS = {ENV_A: ("churn", "p-aaaaaaaaaaaa"), ENV_B: ("fraud", "p-bbbbbbbbbbbb")}
# A build/train project a data scientist of A named after the other kind's names (the roles tell kinds apart by
# the ends of names, never by what a name contains).
ADVERSARIAL_PROJECT = ("x-modeldeploy-model-deploy", "p-cccccccccccc")
SCENARIOS = ("single-account", "account-lists", "organizational-units")
# The people of each environment and their Studio user profiles, as the README has the team administrator create
# them (tagged with the environment and the person's source identity).
PEOPLE = {ENV_A: ("alice", "bob"), ENV_B: ("carol",)}
STUDIO_USER_TAG = "StudioUser"
SETUP_ROLE = "sm-mlops-setup-stackset-role"


@dataclass
class Platform:
    world: World
    config: Config
    scenario: str
    core: Stack
    envs: dict[Env, Stack]  # env-main stacks
    projects: dict[tuple[Env, str], Stack]  # (env, template name) -> project stack
    targets: dict[str, list[Stack]]  # account -> stacks there

    @property
    def multi_account(self) -> bool:
        return self.scenario != "single-account"

    def child(self, env: Env, template: str) -> Stack:
        [found] = [s for s in self.envs[env].walk() if s.name == template]
        return found

    def people_profiles(self) -> list[tuple[Stack, str, str, dict]]:
        """(studio stack, profile ARN, person, resource tags) of every person's user profile."""
        out = []
        for env, people in PEOPLE.items():
            studio = self.child(env, env_sagemaker_studio.NAME)
            [domain] = studio.attribute(env_sagemaker_studio.DOMAIN_RESOURCE, "DomainId")
            for person in people:
                arn = f"arn:aws:sagemaker:{studio.region}:{studio.account}:user-profile/{domain}/{person}"
                out.append(
                    (
                        studio,
                        arn,
                        person,
                        {
                            **{f"aws:ResourceTag/{tag}": value for tag, value in env_tags(env).items()},
                            f"aws:ResourceTag/{STUDIO_USER_TAG}": person,
                        },
                    )
                )
        return out

    def ssm(self, env: Env) -> dict[str, str]:
        """The environment's SSM contract as deployed: parameter name -> value."""
        out = {}
        for stack in self.envs[env].walk():
            for _lid, resource in stack.resources("AWS::SSM::Parameter").items():
                props = resource["Properties"]
                names = stack.resolver.values(props.get("Name"))
                values = stack.resolver.values(props["Value"])
                if len(names) == 1:
                    out[names[0]] = ",".join(values)
        return out


def _core_params(config: Config) -> dict:
    return {"StackSetName": CORE}


def _env_params(env: Env, scenario: str) -> dict:
    params = {
        "EnvName": env.name,
        "EnvType": env.type,
        "SeedCodeS3BucketName": SEED_BUCKET,
        "AvailabilityZones": [f"{REGION}a", f"{REGION}b"],
        "CoreStackSetName": CORE,
    }
    if env == ENV_B:  # internet-free, its projects' builds installing through the environment's package mirror
        params.update(CreateNATGateways="NO", UseSharedServicesPyPiMirror="YES")
    if scenario == "account-lists":
        params.update(StagingAccountList=STAGING, ProductionAccountList=PROD, SetupStackSetExecutionRoleName=SETUP_ROLE)
    elif scenario == "organizational-units":
        params.update(
            OrganizationalUnitStagingId=OU_STAGING,
            OrganizationalUnitProdId=OU_PROD,
            OrganizationId=ORGANIZATION,
            StackSetCallAs="DELEGATED_ADMIN",
        )
    return params


def _project_custom(main: Stack, ssm: dict[str, str], env: Env, contract: dict[str, str]) -> dict:
    """What the core's environment configuration function returns to a project of ``env`` whose template reads
    ``contract`` (attribute -> SSM parameter suffix)."""
    values = env_tags(env)
    prefix = f"{env.key}-"
    for attribute, suffix in contract.items():
        values[attribute] = ssm.get(prefix + suffix, "")
    vpc = [s for s in main.walk() if s.name == env_vpc.NAME][0]
    out = lambda name: vpc.resolver.values(vpc.template["Outputs"][name]["Value"])  # noqa: E731
    values["VpcId"] = "".join(out("VPCId")[:1])
    values["SubnetIds"] = ",".join(out("PrivateSubnetIds"))
    values["SecurityGroups"] = ",".join(out("SageMakerSecurityGroupIds"))
    return values


def _contract(template: dict) -> dict[str, str]:
    """The SSM contract a project template asks the environment configuration function for."""
    [resource] = [r for r in template["Resources"].values() if r["Type"] == "Custom::GetEnvironmentConfiguration"]
    return {item["VariableName"]: item["ParameterName"] for item in resource["Properties"]["SSMParams"]}


def deploy_stack_set(world: World, parent: Stack, logical_id: str, account: str, env_type_param: str) -> Stack:
    """One instance of a StackSet of ``parent`` in ``account``: the StackSet's parameters, EnvType overridden
    by the instance group's (the stage's name)."""
    resource = parent.template["Resources"][logical_id]
    props = resource["Properties"]
    template = props["TemplateURL"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
    params = {}
    for item in props.get("Parameters") or []:
        values = parent.resolver.values(item["ParameterValue"])
        params[item["ParameterKey"]] = values[0] if len(values) == 1 else ",".join(values)
    params["EnvType"] = "".join(parent.resolver.values({"Ref": env_type_param}))
    name = "".join(parent.resolver.values(props["StackSetName"]))
    return world.deploy(template, account, f"StackSet-{name}-0123abcd", params)


def build(templates: dict[str, dict], config: Config, scenario: str = "single-account") -> Platform:
    world = World(templates, REGION)
    core = world.deploy(
        core_main.NAME,
        DEV,
        CORE,
        _core_params(config),
        custom={
            # No SageMaker project role exists yet in the account: the core creates both.
            core_main.ROLES_CHECK: {
                naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE: naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE,
                naming.SAGEMAKER_PRODUCTS_USE_ROLE: naming.SAGEMAKER_PRODUCTS_USE_ROLE,
            }
        },
    )
    envs = {}
    targets: dict[str, list[Stack]] = {}
    for env in (ENV_A, ENV_B):
        envs[env] = world.deploy(
            env_main.NAME, DEV, f"ds-env-{env.key}", _env_params(env, scenario if env == ENV_A else "single-account")
        )
    platform = Platform(world, config, scenario, core, envs, {}, targets)
    main = envs[ENV_A]
    if scenario == "account-lists":
        for account, stage in ((STAGING, environment.ENV_TYPE_STAGING.name), (PROD, environment.ENV_TYPE_PROD.name)):
            env_type = "".join(main.resolver.values({"Ref": stage}))
            setup = world.deploy(
                setup_role.NAME,
                account,
                "sm-mlops-setup",
                {
                    "EnvName": ENV_A.name,
                    "EnvType": env_type,
                    "StackSetExecutionRoleName": SETUP_ROLE,
                    "AdministratorAccountId": DEV,
                },
            )
            roles = deploy_stack_set(world, main, env_main.TARGET_ROLES_STACKSET, account, stage)
            network = deploy_stack_set(world, main, env_main.TARGET_NETWORK_STACKSET, account, stage)
            targets[account] = [setup, roles, network]
    elif scenario == "organizational-units":
        for account, stage in ((STAGING, environment.ENV_TYPE_STAGING.name), (PROD, environment.ENV_TYPE_PROD.name)):
            roles = deploy_stack_set(world, main, env_main.TARGET_ROLES_STACKSET_OU, account, stage)
            network = deploy_stack_set(world, main, env_main.TARGET_NETWORK_STACKSET_OU, account, stage)
            targets[account] = [roles, network]
    for env in (ENV_A, ENV_B):
        ssm = platform.ssm(env)
        name, project_id = PROJECTS[env]
        for template in (project_model_build_train.NAME, project_model_deploy.NAME):
            custom = {project.ENV_CONFIG: _project_custom(envs[env], ssm, env, _contract(templates[template]))}
            params = {"SageMakerProjectName": name, "SageMakerProjectId": project_id, "CoreStackSetName": CORE}
            if template == project_model_deploy.NAME and env == ENV_A and platform.multi_account:
                params["MultiAccountDeployment"] = "YES"
            platform.projects[(env, template)] = world.deploy(
                template, DEV, f"SC-{DEV}-pp-{project_id}{template[-6:]}", params, custom=custom
            )
    name, project_id = ADVERSARIAL_PROJECT
    template = project_model_build_train.NAME
    custom = {
        project.ENV_CONFIG: _project_custom(envs[ENV_A], platform.ssm(ENV_A), ENV_A, _contract(templates[template]))
    }
    platform.projects[(ENV_A, "adversarial")] = world.deploy(
        template,
        DEV,
        f"SC-{DEV}-pp-{project_id}",
        {"SageMakerProjectName": name, "SageMakerProjectId": project_id, "CoreStackSetName": CORE},
        custom=custom,
    )
    return platform
