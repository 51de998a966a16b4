"""env-sc-portfolio: the environment's Service Catalog portfolios of MLOps project templates.

Studio users see the portfolios' products as organization project templates: every product is tagged
``sagemaker:studio-visibility=true`` (SageMaker lists only such products) and launched with the SageMaker products
launch role.  Who may launch which is Service Catalog's portfolio association:

* ``MLOpsPortfolio`` (model build/train): the SageMaker execution role (Studio users), and, when given, the data
  scientist and team administrator roles;
* ``MLOpsDeploymentPortfolio`` (model deploy): the team administrator role only.  A deploy project's code (its
  repository, or the connection's repository its creator names) is what its pipeline deploys to the staging and
  production accounts, so only the person who approves models creates them.

The products are the MLOps project templates ``products(ctx)`` lists (model build/train, model deploy), each with
one version per release like the core's environment product.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import Equals, If, Not, Output, Ref, Sub, Tags, Template
from troposphere import servicecatalog as sc

from templates_src import naming
from templates_src.blocks import parameters as params
from templates_src.blocks import service_catalog
from templates_src.blocks.parameters import ENVIRONMENT
from templates_src.context import BuildContext
from templates_src.templates.project import project_model_build_train, project_model_deploy

NAME = "env-sc-portfolio"
DESCRIPTION = "Creates the environment's Service Catalog portfolio of MLOps project templates"
PROVIDER = service_catalog.PROVIDER
STUDIO_VISIBILITY = {"sagemaker:studio-visibility": "true"}


@dataclass(frozen=True)
class ProductSpec:
    """One MLOps project template offered in the portfolio."""

    stem: str  # name of the generated template (its file is <stem>.yaml)
    name: str  # product name; the environment is appended
    description: str
    portfolio: str = "MLOpsPortfolio"  # logical id of the portfolio it is in (which says who may launch it)
    owner: str = PROVIDER


def products(ctx: BuildContext) -> tuple[ProductSpec, ...]:
    """The project templates of the portfolio."""
    return (
        ProductSpec(
            project_model_build_train.NAME,
            "MLOps model build and train",
            "Model building and training: a repository with seed code and a pipeline that runs a SageMaker "
            "pipeline (preprocess, train, evaluate, register) on every commit, in the environment's VPC",
        ),
        ProductSpec(
            project_model_deploy.NAME,
            "MLOps model deploy",
            "Model deployment: approved models are deployed to staging, tested, and after a manual "
            "approval deployed to production, in this account or the environment's target accounts",
            portfolio=DEPLOYMENT_PORTFOLIO,
        ),
    )


DEPLOYMENT_PORTFOLIO = "MLOpsDeploymentPortfolio"


PRINCIPAL_ROLE_ARN = params.role_arn_param(
    "SCMLOpsPortfolioPrincipalRoleArn",
    "Role that sees the MLOps project templates in Studio: the environment's SageMaker execution role",
    "Portfolio principal role ARN (SageMaker execution role)",
    required=True,
)
DATA_SCIENTIST_ROLE_ARN = params.role_arn_param(
    "DataScientistRoleArn",
    "Data scientist role, also a principal of the portfolio. May stay empty",
    "Data scientist role ARN",
)
TEAM_ADMIN_ROLE_ARN = params.role_arn_param(
    "DSTeamAdministratorRoleArn",
    "Data science team administrator role, also a principal of the portfolio. May stay empty",
    "Team administrator role ARN",
)
LAUNCH_ROLE_ARN = params.role_arn_param(
    "SCMLOpsProductLaunchRoleArn",
    "Role Service Catalog launches the MLOps project templates with. Leave empty "
    f"for this account's service-role/{naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE}",
    "Product launch role ARN",
)

HAS_DATA_SCIENTIST_ROLE = "DataScientistRoleGiven"
HAS_TEAM_ADMIN_ROLE = "DSTeamAdministratorRoleGiven"
LAUNCH_ROLE_GIVEN = "ProductLaunchRoleGiven"
SPECS = [
    params.ENV_NAME,
    params.ENV_TYPE,
    PRINCIPAL_ROLE_ARN,
    DATA_SCIENTIST_ROLE_ARN,
    TEAM_ADMIN_ROLE_ARN,
    LAUNCH_ROLE_ARN,
]


def launch_role_arn(ctx: BuildContext):
    return If(
        LAUNCH_ROLE_GIVEN, Ref(LAUNCH_ROLE_ARN.name), ctx.sagemaker_role_arn(naming.SAGEMAKER_PRODUCTS_LAUNCH_ROLE)
    )


def _title(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.replace("_", "-").split("-") if part)


def principals(t: Template, portfolios: dict[str, sc.Portfolio]) -> None:
    build, deployment = portfolios["MLOpsPortfolio"], portfolios[DEPLOYMENT_PORTFOLIO]
    for title, portfolio, spec, condition in (
        ("SageMakerExecutionRolePortfolioAssociation", build, PRINCIPAL_ROLE_ARN, None),
        ("DataScientistRolePortfolioAssociation", build, DATA_SCIENTIST_ROLE_ARN, HAS_DATA_SCIENTIST_ROLE),
        ("DSTeamAdministratorRolePortfolioAssociation", build, TEAM_ADMIN_ROLE_ARN, HAS_TEAM_ADMIN_ROLE),
        ("DSTeamAdministratorRoleDeploymentPortfolioAssociation", deployment, TEAM_ADMIN_ROLE_ARN, HAS_TEAM_ADMIN_ROLE),
    ):
        association = sc.PortfolioPrincipalAssociation(
            title, PortfolioId=Ref(portfolio), PrincipalARN=Ref(spec.name), PrincipalType="IAM"
        )
        if condition:
            association.Condition = condition
        t.add_resource(association)


def product(
    ctx: BuildContext, t: Template, portfolios: dict[str, sc.Portfolio], spec: ProductSpec
) -> sc.CloudFormationProduct:
    portfolio = portfolios[spec.portfolio]
    title = _title(spec.stem)
    name = ctx.namer.name("product", f"{spec.name} (${{EnvName}}-${{EnvType}})", ENVIRONMENT, prefixed=False)
    item = t.add_resource(
        sc.CloudFormationProduct(
            f"{title}Product",
            Name=name.sub(),
            Description=spec.description,
            Owner=spec.owner,
            Distributor=spec.owner,
            ProvisioningArtifactParameters=service_catalog.versions(ctx, spec.stem, spec.name),
            ReplaceProvisioningArtifacts=False,
            Tags=Tags(**STUDIO_VISIBILITY),
        )
    )
    association = t.add_resource(
        sc.PortfolioProductAssociation(f"{title}PortfolioAssociation", PortfolioId=Ref(portfolio), ProductId=Ref(item))
    )
    t.add_resource(
        sc.LaunchRoleConstraint(
            f"{title}LaunchRoleConstraint",
            Description=f"Launch {spec.name} with the SageMaker products launch role",
            PortfolioId=Ref(portfolio),
            ProductId=Ref(item),
            RoleArn=launch_role_arn(ctx),
            DependsOn=[association.title],
        )
    )
    return item


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    params.add(t, *SPECS)
    params.interface(
        t,
        [
            ("Environment", [params.ENV_NAME, params.ENV_TYPE]),
            ("Portfolio principals", [PRINCIPAL_ROLE_ARN, DATA_SCIENTIST_ROLE_ARN, TEAM_ADMIN_ROLE_ARN]),
            ("Products", [LAUNCH_ROLE_ARN]),
        ],
    )
    t.add_condition(HAS_DATA_SCIENTIST_ROLE, Not(Equals(Ref(DATA_SCIENTIST_ROLE_ARN.name), "")))
    t.add_condition(HAS_TEAM_ADMIN_ROLE, Not(Equals(Ref(TEAM_ADMIN_ROLE_ARN.name), "")))
    t.add_condition(LAUNCH_ROLE_GIVEN, Not(Equals(Ref(LAUNCH_ROLE_ARN.name), "")))
    portfolios = {
        "MLOpsPortfolio": t.add_resource(
            sc.Portfolio(
                "MLOpsPortfolio",
                DisplayName=Sub("MLOps project templates (${EnvName}-${EnvType})"),
                Description=Sub(
                    "Products for creating MLOps projects in the data science environment ${EnvName}-${EnvType}"
                ),
                ProviderName=PROVIDER,
            )
        ),
        DEPLOYMENT_PORTFOLIO: t.add_resource(
            sc.Portfolio(
                DEPLOYMENT_PORTFOLIO,
                DisplayName=Sub("MLOps model deployment templates (${EnvName}-${EnvType})"),
                Description=Sub(
                    "Products for creating model deployment projects in the data science environment "
                    "${EnvName}-${EnvType} (its team administrator only)"
                ),
                ProviderName=PROVIDER,
            )
        ),
    }
    principals(t, portfolios)
    for spec in products(ctx):
        product(ctx, t, portfolios, spec)
    t.add_output(
        [
            Output(
                "MLOpsPortfolioId",
                Description="Service Catalog portfolio of the environment's MLOps project templates",
                Value=Ref(portfolios["MLOpsPortfolio"]),
            ),
            Output(
                "MLOpsDeploymentPortfolioId",
                Description="Service Catalog portfolio of the environment's model "
                "deployment project templates (team administrator)",
                Value=Ref(portfolios[DEPLOYMENT_PORTFOLIO]),
            ),
            Output(
                "MLOpsProductLaunchRoleArn",
                Description="Role Service Catalog launches the MLOps project templates with",
                Value=launch_role_arn(ctx),
            ),
        ]
    )
    return t
