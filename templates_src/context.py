"""What every template builder receives: the configuration and the helpers derived from it.

The context is immutable and holds no template state; builders are pure functions ``build(ctx) -> Template``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from troposphere import AWSHelperFn, Sub

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
    namer: Namer = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "namer", Namer(self.config.prefix))

    # -- ARNs (never a hard-coded partition) -----------------------------------------------------------
    @staticmethod
    def arn(service: str, resource: str, region: str = "", account: str = "${AWS::AccountId}") -> Sub:
        return Sub(f"arn:${{AWS::Partition}}:{service}:{region}:{account}:{resource}")

    def role_arn(self, name: str, account: str = "${AWS::AccountId}", path: str | None = None) -> Sub:
        return self.arn("iam", f"role{self.config.role_path if path is None else path}{name}", account=account)

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
