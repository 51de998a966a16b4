"""Service Catalog products of the platform: who provides them, and one version per release.

core-sc-shared-portfolio's environment product and env-sc-portfolio's MLOps project products are published and
versioned the same way.
"""

from __future__ import annotations

from troposphere import servicecatalog as sc

from templates_src import references
from templates_src.context import BuildContext

PROVIDER = "Data Science Administration Team"


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
