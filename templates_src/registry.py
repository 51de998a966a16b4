"""Template name -> builder, description, and whether users deploy it directly (not through a parent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from troposphere import Template

from templates_src import (core_iam_sc_sm_projects_roles, core_iam_shared_roles, core_main,
                           core_sc_shared_portfolio, env_iam_setup_stackset_role, env_iam_target_account_roles,
                           package_cfn)
from templates_src.context import BuildContext

# `aws cloudformation deploy --template-file` uploads the body inline only up to this size.
DIRECT_DEPLOY_LIMIT = 51_200


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    build: Callable[[BuildContext], Template]
    deploy_directly: bool  # deployed with --template-file by users: must fit DIRECT_DEPLOY_LIMIT


def _spec(module: ModuleType, deploy_directly: bool = False) -> TemplateSpec:
    return TemplateSpec(module.NAME, module.DESCRIPTION, module.build, deploy_directly)


TEMPLATES: dict[str, TemplateSpec] = {s.name: s for s in (
    _spec(core_main),
    _spec(core_iam_shared_roles),
    _spec(core_iam_sc_sm_projects_roles),
    _spec(core_sc_shared_portfolio),
    _spec(env_iam_setup_stackset_role, deploy_directly=True),
    _spec(env_iam_target_account_roles, deploy_directly=True),
    _spec(package_cfn, deploy_directly=True),
)}


def unknown(names) -> list[str]:
    return [n for n in names if n not in TEMPLATES]
