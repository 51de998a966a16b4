"""Shared fixtures: generated templates for the default and an 'enterprise' configuration."""

from __future__ import annotations

import logging
import os
import pathlib

import pytest

from templates_src.config import Config, from_mapping
from templates_src.context import BuildContext
from templates_src.generator import build_selected

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# What a regulated company typically sets: a naming prefix its SCPs match, a role path, a permissions
# boundary, and its tagging standard.
ENTERPRISE = {
    "name_prefix": "acme",
    "role_path": "/ml-platform/",
    "permissions_boundary": "ml-platform-boundary",
    "tags": {"CostCenter": "4711", "Owner": "ml-platform@example.com", "DataClassification": "confidential"},
    "lambda_runtime": "python3.12",
    "log_retention_days": 731,
    "version": "2.3.0-rc.1",
}

# The enterprise configuration hardened for AWS Control Tower's proactive controls: log groups encrypted with a
# customer managed key, functions in a VPC (both given at deployment).
HARDENED = {**ENTERPRISE, "encrypt_logs": True, "functions_in_vpc": True}

# Keep fake credentials in every test process so nothing can reach a real account by accident.
for _key, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
    os.environ[_key] = _value
os.environ.pop("AWS_PROFILE", None)

# The moto server logs every request through werkzeug at INFO: keep its warnings and errors only.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def default_config() -> Config:
    return Config()


@pytest.fixture(scope="session")
def enterprise_config() -> Config:
    return from_mapping(ENTERPRISE)


@pytest.fixture(scope="session")
def hardened_config() -> Config:
    return from_mapping(HARDENED)


@pytest.fixture(scope="session")
def configs(default_config, enterprise_config, hardened_config) -> dict[str, Config]:
    """Every configuration the tests build, by flavour name (the golden snapshot folders)."""
    return {"default": default_config, "enterprise": enterprise_config, "hardened": hardened_config}


@pytest.fixture(scope="session")
def templates(default_config) -> dict[str, dict]:
    """Every template rendered as a dict, default configuration."""
    return build_selected(None, BuildContext(default_config))


@pytest.fixture(scope="session")
def enterprise_templates(enterprise_config) -> dict[str, dict]:
    return build_selected(None, BuildContext(enterprise_config))


@pytest.fixture(scope="session")
def hardened_templates(hardened_config) -> dict[str, dict]:
    return build_selected(None, BuildContext(hardened_config))


@pytest.fixture(scope="session", params=["default", "enterprise", "hardened"])
def any_templates(request, templates, enterprise_templates, hardened_templates):
    """Every configuration, for properties that must hold whatever the configuration.  'hardened' is the
    enterprise configuration plus the hardening options, so it expects the enterprise values."""
    return (request.param, {"default": templates, "enterprise": enterprise_templates,
                            "hardened": hardened_templates}[request.param])


@pytest.fixture(scope="session")
def linter():
    from templates_src.lint import Linter

    return Linter()


# The moto server fixtures, for every test module (tests.support_moto documents them).
from tests.support_moto import moto, moto_server  # noqa: E402,F401
