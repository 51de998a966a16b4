"""core-sc-shared-portfolio: the Service Catalog portfolio that offers the data science environment.

The data science administrator role sees the portfolio; the product launches the environment template
with the Service Catalog launch role, so the administrator needs no permissions on the resources.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Ref, Sub, Template
from troposphere import servicecatalog as sc

from templates_src.blocks import parameters as params
from templates_src.blocks import service_catalog
from templates_src.context import BuildContext

NAME = "core-sc-shared-portfolio"
DESCRIPTION = "Creates the Service Catalog portfolio with the data science environment product"
PROVIDER = service_catalog.PROVIDER
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


def product(ctx: BuildContext) -> sc.CloudFormationProduct:
    return sc.CloudFormationProduct(
        "DataScienceEnvironmentProduct",
        Name=Sub("${StackSetName}-${AWS::Region} Data Science Environment"),
        Description="Secure SageMaker Studio environment: VPC, KMS keys, S3 buckets, IAM roles and MLOps projects",
        Owner=PROVIDER,
        Distributor=PROVIDER,
        ProvisioningArtifactParameters=service_catalog.versions(ctx, ENVIRONMENT_TEMPLATE, "Data science environment"),
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
