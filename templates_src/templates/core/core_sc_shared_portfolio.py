"""core-sc-shared-portfolio: the Service Catalog portfolio that offers the data science environment.

The data science administrator role sees the portfolio; the product launches the environment template
with the Service Catalog launch role, so the administrator needs no permissions on the resources.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Sub, Template
from troposphere import servicecatalog as sc

from templates_src import references
from templates_src.blocks import parameters as params
from templates_src.context import BuildContext

NAME = "core-sc-shared-portfolio"
DESCRIPTION = "Creates the Service Catalog portfolio with the data science environment product"
PROVIDER = "Data Science Administration Team"
ENVIRONMENT_TEMPLATE = "env-main"

PRINCIPAL_ROLE_ARN = params.role_arn_param(
    "SCPortfolioPrincipalRoleArn",
    "Role that may browse the portfolio and launch the product",
    "Portfolio principal role ARN",
    required=True,
)
LAUNCH_ROLE_ARN = params.role_arn_param(
    "SCProductLaunchRoleArn", "Role Service Catalog launches the product with", "Launch role ARN", required=True
)


def versions(ctx: BuildContext, stem: str, what: str) -> list[sc.ProvisioningArtifactProperties]:
    """One product version per release: every earlier published release, then this one.

    Earlier releases stay in S3 unchanged, so their versions stay launchable and provisioned products can
    move to a new version when their owners choose.  CloudFormation matches the listed versions and keeps
    their ids (ReplaceProvisioningArtifacts is false), so a core update only adds the new one.  A release
    that does not generate the product's template adds no version (when packaging and earlier versions exist).
    """
    earlier = [(release, url) for release, url in ctx.product_history.get(stem, ()) if release != ctx.config.version]
    current = (
        []
        if (ctx.packaging and earlier and stem not in ctx.generated_templates)
        else [(ctx.config.version, references.local_template(stem))]
    )
    return [
        sc.ProvisioningArtifactProperties(
            Name=f"v{release}",
            Description=f"{what}, release {release}",
            Info=sc.Info(LoadTemplateFromURL=url),
        )
        for release, url in earlier + current
    ]


def product(ctx: BuildContext) -> sc.CloudFormationProduct:
    return sc.CloudFormationProduct(
        "DataScienceEnvironmentProduct",
        Name=Sub("${StackSetName}-${AWS::Region} Data Science Environment"),
        Description="Secure SageMaker Studio environment: VPC, KMS keys, S3 buckets, IAM roles and MLOps projects",
        Owner=PROVIDER,
        Distributor=PROVIDER,
        ProvisioningArtifactParameters=versions(ctx, ENVIRONMENT_TEMPLATE, "Data science environment"),
        ReplaceProvisioningArtifacts=False,
    )


def build(ctx: BuildContext) -> Template:
    t = Template(Description=DESCRIPTION)
    specs = [params.STACK_SET_NAME, PRINCIPAL_ROLE_ARN, LAUNCH_ROLE_ARN]
    params.add(t, *specs)
    params.interface(t, [("Portfolio", specs)])
    portfolio = t.add_resource(
        sc.Portfolio(
            "DataScienceEnvironmentPortfolio",
            DisplayName=Sub("Data science environments (${StackSetName})"),
            Description="Products for managing data science environments",
            ProviderName=PROVIDER,
        )
    )
    env_product = t.add_resource(product(ctx))
    association = t.add_resource(
        sc.PortfolioProductAssociation(
            "SCPortfolioProductAssociation", PortfolioId=Ref(portfolio), ProductId=Ref(env_product)
        )
    )
    t.add_resource(
        sc.PortfolioPrincipalAssociation(
            "DSAdminPortfolioPrincipleAssociation",
            PortfolioId=Ref(portfolio),
            PrincipalARN=Ref(PRINCIPAL_ROLE_ARN.name),
            PrincipalType="IAM",
        )
    )
    t.add_resource(
        sc.LaunchRoleConstraint(
            "SCProductLaunchRoleConstraint",
            Description="Launch the data science environment with the Service Catalog launch role",
            PortfolioId=Ref(portfolio),
            ProductId=Ref(env_product),
            RoleArn=Ref(LAUNCH_ROLE_ARN.name),
            DependsOn=[association.title],
        )
    )
    t.add_output(
        [
            Output("ProductId", Description="Service Catalog data science product id", Value=Ref(env_product)),
            Output("PortfolioId", Description="Service Catalog data science portfolio id", Value=Ref(portfolio)),
            Output(
                "ProductName",
                Description="Service Catalog data science product name",
                Value=GetAtt(env_product, "ProductName"),
            ),
            Output(
                "ProvisioningArtifactIds",
                Description="Service Catalog data science provisioning artifact ids",
                Value=GetAtt(env_product, "ProvisioningArtifactIds"),
            ),
            Output(
                "ProvisioningArtifactNames",
                Description="Service Catalog data science provisioning artifact names",
                Value=GetAtt(env_product, "ProvisioningArtifactNames"),
            ),
        ]
    )
    return t
