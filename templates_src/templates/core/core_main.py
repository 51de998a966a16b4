"""core-main: the core stack, deployed once per core deployment (account and region).

It nests the shared roles, the SageMaker project roles (only those missing in the account) and the
Service Catalog portfolio whose product launches the environment template, and it provides the function
that MLOps project templates call to learn their environment.  Role names and export names carry
StackSetName (and the configured prefix), so two core deployments can live in one account and region.
"""

from __future__ import annotations

from troposphere import Equals, Export, GetAtt, If, Not, Output, Ref, Select, Split, Sub, Template, iam

from templates_src import naming, references
from templates_src.blocks import boundary as platform_boundary
from templates_src.blocks import custom_resource as cr
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks import parameters as params
from templates_src.blocks import partitions, policies, project, scanners
from templates_src.blocks.nested import nested_stack
from templates_src.context import BuildContext
from templates_src.templates.core import core_iam_sc_sm_projects_roles as projects_roles
from templates_src.templates.core import core_iam_shared_roles as shared_roles
from templates_src.templates.core import core_sc_shared_portfolio as portfolio

NAME = "core-main"
DESCRIPTION = (
    "Creates the core of the secure SageMaker platform: shared IAM roles, SageMaker project roles "
    "and the Service Catalog portfolio of data science environments"
)

CREATE_IAM_ROLES = params.yes_no(
    "CreateIAMRoles", "Create the shared IAM roles (NO: give their ARNs below)", "Create IAM roles"
)
CREATE_SHARED_SERVICES = params.ParamSpec(
    "CreateSharedServices",
    "Shared services (a shared network, a shared PyPI mirror) are not part of this release; each environment can "
    "have its own PyPI mirror (env-main's UseSharedServicesPyPiMirror). Kept for parameter-file compatibility",
    "Create shared services",
    default="NO",
    allowed_values=("NO",),
    constraint="must be NO: shared services are not available in this release",
)
CREATE_SC_PORTFOLIO = params.yes_no("CreateSCPortfolio", "Create the Service Catalog portfolio", "Create portfolio")
DS_ADMIN_ROLE_ARN = params.role_arn_param(
    "DSAdministratorRoleArn",
    "Existing data science administrator role (when CreateIAMRoles is NO)",
    "Data science administrator role ARN",
)
SC_LAUNCH_ROLE_ARN = params.role_arn_param(
    "SCLaunchRoleArn",
    "Existing Service Catalog launch role (when CreateIAMRoles is NO)",
    "Service Catalog launch role ARN",
)
SECURITY_CONTROL_ROLE_ARN = params.role_arn_param(
    "SecurityControlExecutionRoleArn",
    "Existing detective-control execution role (when CreateIAMRoles is NO)",
    "Detective control role ARN",
)
ENV_CONFIG_ROLE_ARN = params.role_arn_param(
    "EnvironmentConfigurationRoleArn",
    "Existing role for the core's project functions, the environment configuration and the seed code check-in "
    "(when CreateIAMRoles is NO; it needs both functions' permissions). Leave empty to use "
    "service-role/AmazonSageMakerServiceCatalogProductsLaunchRole, which must then trust lambda.amazonaws.com",
    "Environment configuration function role ARN",
)

IAM_ROLES = "IAMRolesCondition"
ROLES_CHECK = "CheckIfSageMakerSCProductsRolesExist"  # custom resource: do SageMaker's project roles exist?
SC_PORTFOLIO = "SCPortfolioCondition"
ENV_CONFIG_ROLE_GIVEN = "EnvironmentConfigurationRoleGiven"

SHARED_ROLE_SUFFIXES = {  # nested parameter -> role name suffix
    shared_roles.DS_ADMIN_ROLE_NAME.name: "ds-administrator",
    shared_roles.DETECTIVE_ROLE_NAME.name: "sm-detective-control",
    shared_roles.SC_LAUNCH_ROLE_NAME.name: "sc-launch",
}


def _rules(t: Template) -> None:
    t.add_rule(
        "IAMRoles",
        {
            "RuleCondition": Equals(Ref(CREATE_IAM_ROLES.name), "NO"),
            "Assertions": [
                {
                    "Assert": Not(Equals(Ref(spec.name), "")),
                    "AssertDescription": f"{spec.name} is required when CreateIAMRoles is NO",
                }
                for spec in (DS_ADMIN_ROLE_ARN, SC_LAUNCH_ROLE_ARN, SECURITY_CONTROL_ROLE_ARN)
            ],
        },
    )
    t.add_rule(
        "SharedServices",
        {
            "Assertions": [
                {
                    "Assert": Equals(Ref(CREATE_SHARED_SERVICES.name), "NO"),
                    "AssertDescription": "Shared services are not available in this release; set "
                    "CreateSharedServices to NO",
                }
            ]
        },
    )


def _project_roles(ctx: BuildContext, t: Template):
    check = cr.lambda_function(
        ctx,
        t,
        "CheckIfIAMRolesExistLambda",
        module="check_iam_roles_exist",
        description="Reports which SageMaker project roles are missing in the account",
        name=ctx.namer.name(
            "function", "${StackSetName}-check-sagemaker-roles", {"StackSetName": params.STACK_SET_NAME}
        ),
        # A role that exists is authorized on its ARN (path included); one that does not on its bare name,
        # and the function must be able to tell the two apart (NoSuchEntity, not AccessDenied).
        statements=[
            iam_blocks.allow(
                iam_blocks.actions("iam", "GetRole"),
                [
                    arn
                    for role in (naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE, naming.SAGEMAKER_PRODUCTS_USE_ROLE)
                    for arn in (ctx.sagemaker_role_arn(role), ctx.role_arn(role, path="/"))
                ],
                sid="SageMakerProjectRoles",
            )
        ],
        condition=IAM_ROLES,
    )
    existing = cr.custom_resource(
        t,
        ROLES_CHECK,
        "Custom::CheckIfIAMRolesExist",
        check,
        condition=IAM_ROLES,
        RoleNames=[naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE, naming.SAGEMAKER_PRODUCTS_USE_ROLE],
    )
    return nested_stack(
        ctx,
        t,
        "IAMSCSageMakerProjectRoles",
        projects_roles.NAME,
        {
            projects_roles.LAUNCH_ROLE_NAME.name: GetAtt(existing, naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE),
            projects_roles.USE_ROLE_NAME.name: GetAtt(existing, naming.SAGEMAKER_PRODUCTS_USE_ROLE),
        },
        condition=IAM_ROLES,
    )


def shared_role_names(ctx: BuildContext) -> dict[str, naming.Name]:
    """The names core-main gives the shared roles, by the nested parameter that passes each."""
    return {
        param: ctx.namer.name(
            "role", "${StackSetName}-${AWS::Region}-" + suffix, {"StackSetName": params.STACK_SET_NAME}
        )
        for param, suffix in SHARED_ROLE_SUFFIXES.items()
    }


def _shared_roles(ctx: BuildContext, t: Template):
    names = {param: name.sub() for param, name in shared_role_names(ctx).items()}
    # The only template the data science administrator may run as the environment launch role (packaging
    # rewrites the local path to the release's URL).
    names[shared_roles.ENVIRONMENT_TEMPLATE_URL.name] = references.local_template("env-main")
    if ctx.permissions_boundary is None:
        names[shared_roles.PLATFORM_BOUNDARY_ARN.name] = Ref(PLATFORM_BOUNDARY)
    return nested_stack(ctx, t, "IAMSharedRoles", shared_roles.NAME, names, condition=IAM_ROLES)


PLATFORM_BOUNDARY = "PlatformBoundary"


def _platform_boundary(ctx: BuildContext, t: Template):
    """The platform permissions boundary (when the configuration names none): the ceiling of every role of the
    environments of this core (templates_src.blocks.boundary)."""
    if ctx.permissions_boundary is not None:
        return None
    return t.add_resource(
        scanners.skip(
            iam.ManagedPolicy(
                PLATFORM_BOUNDARY,
                ManagedPolicyName=platform_boundary.name(ctx).sub(),
                Path=ctx.config.role_path,
                Description="Permissions boundary of every role of the data science environments of this core: no IAM "
                "writes, only the services the platform uses",
                PolicyDocument=iam_blocks.document(*platform_boundary.statements(ctx)),
            ),
            scanners.PERMISSIONS_BOUNDARY,
        )
    )


def _own(ctx: BuildContext, service: str, resource: str):
    return ctx.arn(service, resource, region="${AWS::Region}")


def _project_function(ctx: BuildContext, t: Template, title: str, module: str, suffix: str, **kwargs):
    """A function the MLOps project templates call (``<StackSetName>-<suffix>``): its own role, or without IAM
    roles (CreateIAMRoles NO) the role given for the core's project functions, else SageMaker's products launch
    role."""
    launch_role = ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE)
    return cr.lambda_function(
        ctx,
        t,
        title,
        module=module,
        name=ctx.namer.name("function", "${StackSetName}-" + suffix, {"StackSetName": params.STACK_SET_NAME}),
        role_condition=IAM_ROLES,
        fallback_role_arn=If(ENV_CONFIG_ROLE_GIVEN, Ref(ENV_CONFIG_ROLE_ARN.name), launch_role),
        **kwargs,
    )


def _environment_configuration(ctx: BuildContext, t: Template):
    return _project_function(
        ctx,
        t,
        "GetEnvironmentConfigurationLambda",
        "get_environment_configuration",
        naming.GET_ENVIRONMENT_CONFIGURATION,
        description="Returns a SageMaker project's environment configuration to the project templates",
        statements=[
            iam_blocks.allow(
                iam_blocks.actions("sagemaker", "DescribeProject"),
                _own(ctx, "sagemaker", "project/*"),
                sid="DescribeProjects",
            ),
            iam_blocks.allow(
                iam_blocks.actions("sagemaker", "DescribeDomain", "ListTags"),
                _own(ctx, "sagemaker", "domain/*"),
                sid="DescribeDomains",
            ),
            # Environment names are not known to the core: any parameter of this account and region.
            iam_blocks.allow(
                iam_blocks.actions("ssm", "GetParameter"), _own(ctx, "ssm", "parameter/*"), sid="EnvironmentParameters"
            ),
            # Who created a project outside Studio: the environment tags of that role (or user).
            iam_blocks.allow(
                iam_blocks.actions("iam", "ListRoleTags", "ListUserTags"),
                [ctx.arn("iam", "role/*"), ctx.arn("iam", "user/*")],
                sid="CreatorsEnvironment",
            ),
        ],
    )


def _seed_code_checkin(ctx: BuildContext, t: Template):
    """The function that checks a project's seed code in to its connected repository (templates_src/functions/
    seed_code_checkin.py): reads the project's connection, starts and follows the project's check-in build.  The
    build runs as the project's role with the buildspec of the project's template; the function chooses only its
    source (the connected repository) and the seed code's key."""
    own = lambda service, resource: _own(ctx, service, resource)  # noqa: E731
    return _project_function(
        ctx,
        t,
        "SeedCodeCheckinLambda",
        "seed_code_checkin",
        naming.SEED_CODE_CHECKIN,
        description="Checks an MLOps project's seed code in to its connected repository, once, when it is empty",
        # The build takes a minute or two; the function waits for it.
        timeout=900,
        statements=[
            iam_blocks.allow(
                policies.connection_actions("GetConnection", "GetHost"),
                [own(service, kind) for service in policies.CONNECTION_SERVICES for kind in ("connection/*", "host/*")],
                sid="ReadConnections",
            ),
            # A build whose source is reached through a connection: the connection is passed to CodeBuild.
            *policies.pass_connections(own, "codebuild.amazonaws.com", sid="PassConnectionsToCodeBuild"),
            iam_blocks.allow(
                iam_blocks.actions("codebuild", "StartBuild", "BatchGetBuilds", "ListBuildsForProject"),
                own("codebuild", f"project/sagemaker-*{project.CHECKIN_SUFFIX}"),
                sid="CheckinBuilds",
            ),
        ],
    )


def _portfolio(ctx: BuildContext, t: Template, shared):
    return nested_stack(
        ctx,
        t,
        "SharedServiceCatalogPortfolio",
        portfolio.NAME,
        {
            params.STACK_SET_NAME.name: Ref(params.STACK_SET_NAME.name),
            portfolio.PRINCIPAL_ROLE_ARN.name: If(
                IAM_ROLES, GetAtt(shared, "Outputs.DSAdministratorRoleArn"), Ref(DS_ADMIN_ROLE_ARN.name)
            ),
            portfolio.LAUNCH_ROLE_ARN.name: If(
                IAM_ROLES, GetAtt(shared, "Outputs.SCLaunchRoleArn"), Ref(SC_LAUNCH_ROLE_ARN.name)
            ),
        },
        condition=SC_PORTFOLIO,
    )


def _outputs(ctx: BuildContext, t: Template, shared, sc_stack, env_config, checkin, bounded) -> None:
    signin = Sub(
        "https://${Host}/switchrole?account=${AWS::AccountId}&roleName=${Role}&displayName=${Role}",
        Host=partitions.host(t, "SignIn"),
        Role=Select(1, Split(":role/", Ref(DS_ADMIN_ROLE_ARN.name))),
    )

    def export(suffix):
        return Export(
            Sub(
                ctx.namer.name(  # noqa: E731
                    "export", "${StackSetName}-" + suffix, {"StackSetName": params.STACK_SET_NAME}
                ).pattern
            )
        )

    t.add_output(
        [
            Output(
                "AssumeDSAdministratorRole",
                Condition=partitions.KNOWN,
                Description="Console link to switch to the data science administrator role",
                Value=If(IAM_ROLES, GetAtt(shared, "Outputs.AssumeDSAdministratorRole"), signin),
            ),
            Output(
                "DSAdministratorRoleArn",
                Description="ARN of the data science administrator role",
                Value=If(IAM_ROLES, GetAtt(shared, "Outputs.DSAdministratorRoleArn"), Ref(DS_ADMIN_ROLE_ARN.name)),
            ),
            Output(
                "SCLaunchRoleArn",
                Description="Service Catalog launch role ARN of the environment product",
                Value=If(IAM_ROLES, GetAtt(shared, "Outputs.SCLaunchRoleArn"), Ref(SC_LAUNCH_ROLE_ARN.name)),
                Export=export("service-catalog-launch-role-arn"),
            ),
            Output(
                "SageMakerDetectiveControlExecutionRoleArn",
                Description="ARN of the detective-control role",
                Value=If(
                    IAM_ROLES,
                    GetAtt(shared, "Outputs.SageMakerDetectiveControlExecutionRoleArn"),
                    Ref(SECURITY_CONTROL_ROLE_ARN.name),
                ),
            ),
            Output(
                "GetEnvironmentConfigurationLambdaArn",
                Description="Function the MLOps project templates call to read their environment configuration",
                Value=env_config.arn,
                Export=export("get-environment-configuration-lambda-arn"),
            ),
            Output(
                "SeedCodeCheckinLambdaArn",
                Description="Function the MLOps project templates call to check their seed code in to a connected "
                "repository",
                Value=checkin.arn,
                Export=export(naming.SEED_CODE_CHECKIN + "-lambda-arn"),
            ),
        ]
    )
    if bounded is not None:
        t.add_output(
            Output(
                "PlatformBoundaryArn",
                Value=Ref(bounded),
                Description="ARN of the platform permissions boundary every environment role carries "
                "(env-main imports it by its CoreStackSetName)",
                Export=Export(platform_boundary.export_name(ctx).sub()),
            )
        )
    for name, description in (
        ("ProductId", "Service Catalog data science product id"),
        ("PortfolioId", "Service Catalog data science portfolio id"),
        ("ProductName", "Service Catalog data science product name"),
        ("ProvisioningArtifactIds", "Service Catalog data science provisioning artifact ids"),
        ("ProvisioningArtifactNames", "Service Catalog data science provisioning artifact names"),
    ):
        t.add_output(
            Output(name, Condition=SC_PORTFOLIO, Description=description, Value=GetAtt(sc_stack, f"Outputs.{name}"))
        )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [
        params.STACK_SET_NAME,
        CREATE_IAM_ROLES,
        CREATE_SHARED_SERVICES,
        CREATE_SC_PORTFOLIO,
        DS_ADMIN_ROLE_ARN,
        SECURITY_CONTROL_ROLE_ARN,
        SC_LAUNCH_ROLE_ARN,
        ENV_CONFIG_ROLE_ARN,
    ]
    params.add(t, *specs)
    params.interface(
        t,
        [
            ("Core deployment", [params.STACK_SET_NAME]),
            ("Deployment options", [CREATE_IAM_ROLES, CREATE_SHARED_SERVICES, CREATE_SC_PORTFOLIO]),
            (
                "IAM role ARNs (only when the roles are created outside of this stack)",
                [DS_ADMIN_ROLE_ARN, SECURITY_CONTROL_ROLE_ARN, SC_LAUNCH_ROLE_ARN, ENV_CONFIG_ROLE_ARN],
            ),
        ],
    )
    t.add_condition(IAM_ROLES, Equals(Ref(CREATE_IAM_ROLES.name), "YES"))
    t.add_condition(SC_PORTFOLIO, Equals(Ref(CREATE_SC_PORTFOLIO.name), "YES"))
    t.add_condition(ENV_CONFIG_ROLE_GIVEN, Not(Equals(Ref(ENV_CONFIG_ROLE_ARN.name), "")))
    _rules(t)

    bounded = _platform_boundary(ctx, t)
    _project_roles(ctx, t)
    shared = _shared_roles(ctx, t)
    env_config = _environment_configuration(ctx, t)
    checkin = _seed_code_checkin(ctx, t)
    sc_stack = _portfolio(ctx, t, shared)
    _outputs(ctx, t, shared, sc_stack, env_config, checkin, bounded)
    return t
