"""What every template builder receives: the configuration and the helpers derived from it.

The context is immutable and holds no template state; builders are pure functions ``build(ctx) -> Template``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from troposphere import AWSHelperFn, Sub, Template

from templates_src import naming
from templates_src.config import Config
from templates_src.naming import Namer


@dataclass(frozen=True)
class BuildContext:
    config: Config
    # Packaging only: earlier published releases of each template, as (release, URL), oldest first; they
    # become the earlier versions of Service Catalog products.
    product_history: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    packaging: bool = False
    generated_templates: frozenset[str] = frozenset()  # names this generator builds (set when packaging)
    # Packaging only: the release's folder (s3://<bucket>/<prefix>/releases/<version>/), where Studio lists the
    # release's S3 project templates from.
    release_location: str = ""
    # What the build found that deploys only under conditions (e.g. an IAM quota raised): one line each.
    warnings: list[str] = field(default_factory=list, compare=False)
    namer: Namer = field(init=False)
    _declared: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "namer", Namer(self.config.prefix))
        object.__setattr__(self, "_declared", {})

    def declared(self, module) -> Template:
        """A template module's template as this context builds it, built once: what parents read of a child
        (its parameters, outputs, console labels).  Read it, never change it."""
        if module.NAME not in self._declared:
            self._declared[module.NAME] = module.build(self)
        return self._declared[module.NAME]

    # -- ARNs: the one way templates build them (never a hard-coded partition) --------------------------
    @staticmethod
    def arn(service: str, resource: str, region: str = "", account: str = "${AWS::AccountId}") -> Sub:
        return Sub(f"arn:${{AWS::Partition}}:{service}:{region}:{account}:{resource}")

    @classmethod
    def own(cls, service: str, resource: str) -> Sub:
        """ARN of a resource of this account and region."""
        return cls.arn(service, resource, region="${AWS::Region}")

    def role_arn(self, name: str, account: str = "${AWS::AccountId}", path: str | None = None) -> Sub:
        return self.arn("iam", f"role{self.config.role_path if path is None else path}{name}", account=account)

    def sagemaker_role_arn(self, name: str, account: str = "${AWS::AccountId}") -> Sub:
        """One of SageMaker's project roles, which SageMaker requires under /service-role/."""
        return self.role_arn(name, account=account, path=naming.SAGEMAKER_SERVICE_ROLE_PATH)

    def policy_arn(self, name: str, account: str = "${AWS::AccountId}") -> Sub:
        """A customer managed policy of the platform (role path applies to policies too)."""
        return self.arn("iam", f"policy{self.config.role_path}{name}", account=account)

    @classmethod
    def aws_policy_arn(cls, name: str) -> Sub:
        """An AWS managed policy, e.g. ``service-role/AWSLambdaBasicExecutionRole``."""
        return cls.arn("iam", f"policy/{name}", account="aws")

    @classmethod
    def root_arn(cls, account: str = "${AWS::AccountId}") -> Sub:
        return cls.arn("iam", "root", account=account)

    @staticmethod
    def bucket_arn(bucket: str, objects: str | None = None) -> Sub:
        """``arn:<partition>:s3:::<bucket>`` or, with ``objects``, ``.../<objects>`` (patterns allowed)."""
        return Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}" + (f"/{objects}" if objects is not None else ""))

    def role_path_pattern(self, account: str = "${AWS::AccountId}") -> str:
        """ARN pattern of the roles this platform names itself (role path and name prefix)."""
        return f"arn:${{AWS::Partition}}:iam::{account}:role{self.config.role_path}{self.config.prefix}"

    @property
    def permissions_boundary(self) -> str | AWSHelperFn | None:
        boundary = self.config.permissions_boundary
        if boundary is None:
            return None
        if boundary.startswith("arn:"):
            return boundary
        return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{boundary}")
