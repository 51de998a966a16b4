"""Shared fixtures: generated templates for the default, an 'enterprise', a 'hardened' and a 'pinned' configuration."""

from __future__ import annotations

import logging
import os
import pathlib
import tempfile

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
    # IAM Identity Center only, as the README recommends narrowing it
    "ds_administrator_trust": {"iam_users_with_mfa": False, "roles": ["aws-reserved/sso.amazonaws.com/*"]},
    # the regions it deploys to
    "lint_regions": ["us-east-1", "eu-central-1"],
}

# The enterprise configuration hardened for AWS Control Tower's proactive controls: log groups encrypted with a
# customer managed key, functions in a VPC (both given at deployment), S3 Object Lock on the data and model buckets.
HARDENED = {**ENTERPRISE, "encrypt_logs": True, "functions_in_vpc": True, "s3_object_lock": True}

# The hardened configuration with the key and the network pinned at generation time instead of given at
# deployment: the template files themselves meet every control but the few listed in
# templates_src/blocks/scanners.py (NEVER_MET, UNREADABLE_AS_WRITTEN) (a release for one account and region).
PINNED = {
    **HARDENED,
    "logs_kms_key_arn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "function_network": {
        "subnet_ids": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
        "security_group_ids": ["sg-0123456789abcdef0"],
    },
}

# Every configuration the suite builds in full (goldens, lint, scanners, escalation and flow proofs), as the
# mappings a user would write: tests/test_switches.py checks that every field of the configuration model
# (nested fields included) takes a non-default value in one of them, and every switch is built on and off.
MATRIX = {"default": {}, "enterprise": ENTERPRISE, "hardened": HARDENED, "pinned": PINNED}

# Keep fake credentials in every test process so nothing can reach a real account by accident.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
os.environ.pop("AWS_PROFILE", None)

# Builds in tests (in this process and in the processes they start) cache their lint results in a folder of
# this test session, never in the user's cache.
# With parallel workers (pytest-xdist), the first process (the controller, whose environment the workers
# inherit) makes the folder and removes it at its end; the workers share it, so a template linted by one is not
# linted again by the other (the cache writes each entry atomically).
if "SM_MLOPS_TEST_LINT_CACHE_DIR" not in os.environ:
    _LINT_CACHE = tempfile.TemporaryDirectory(prefix="sm-mlops-test-lint-cache-")
    os.environ["SM_MLOPS_TEST_LINT_CACHE_DIR"] = _LINT_CACHE.name
os.environ["SM_MLOPS_LINT_CACHE_DIR"] = os.environ["SM_MLOPS_TEST_LINT_CACHE_DIR"]
os.environ.pop("SM_MLOPS_NO_LINT_CACHE", None)


def pytest_sessionstart(session):
    """The whole suite in parallel workers: before they start, this process (xdist's controller) lints the build
    of every test configuration into the session's lint cache.  Every one of those templates is linted by some
    test anyway, most by several in both workers; linted here, in one process per core, none is linted twice at
    the same time by two workers that each found the cache empty (measured before: 30 of the 156 seconds the
    suite spent linting were such repeats).  Runs of a part of the suite, or in one process, lint what they
    need when they need it."""
    config = session.config
    if (
        hasattr(config, "workerinput")
        or (getattr(config.option, "numprocesses", 0) or 0) < 2
        or config.args_source is not pytest.Config.ArgsSource.TESTPATHS
    ):
        return
    from templates_src.generator import generate
    from templates_src.lint import shared_linter
    from templates_src.lint_cache import LintCache

    for flavour in MATRIX:
        config_ = from_mapping(MATRIX[flavour])
        generate(config_).lint(shared_linter(tuple(config_.lint_regions)), cache=LintCache.default())


# The moto server logs every request through werkzeug at INFO: keep its warnings and errors only.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def default_config() -> Config:
    return from_mapping(MATRIX["default"])


@pytest.fixture(scope="session")
def enterprise_config() -> Config:
    return from_mapping(MATRIX["enterprise"])


@pytest.fixture(scope="session")
def hardened_config() -> Config:
    return from_mapping(MATRIX["hardened"])


@pytest.fixture(scope="session")
def pinned_config() -> Config:
    return from_mapping(MATRIX["pinned"])


@pytest.fixture(scope="session")
def configs(default_config, enterprise_config, hardened_config, pinned_config) -> dict[str, Config]:
    """Every configuration the tests build, by flavour name (the golden snapshot folders)."""
    return {
        "default": default_config,
        "enterprise": enterprise_config,
        "hardened": hardened_config,
        "pinned": pinned_config,
    }


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


@pytest.fixture(scope="session")
def pinned_templates(pinned_config) -> dict[str, dict]:
    return build_selected(None, BuildContext(pinned_config))


@pytest.fixture(scope="session", params=["default", "enterprise", "hardened", "pinned"])
def any_templates(request, templates, enterprise_templates, hardened_templates, pinned_templates):
    """Every configuration, for properties that must hold whatever the configuration.  'hardened' and 'pinned'
    are the enterprise configuration plus the hardening options, so they expect the enterprise values."""
    return (
        request.param,
        {
            "default": templates,
            "enterprise": enterprise_templates,
            "hardened": hardened_templates,
            "pinned": pinned_templates,
        }[request.param],
    )


@pytest.fixture(scope="session")
def linter():
    from templates_src.lint import Linter

    return Linter()


# The moto server fixtures, for every test module (tests.support_moto documents them).
import tests.support_render  # noqa: E402,F401 (cloud-radar's settings for every rendering of the process)
from tests.support_moto import moto, moto_server, share_service_models  # noqa: E402,F401

share_service_models()


@pytest.fixture
def edit_template(monkeypatch):
    """``edit_template(name, edit)``: the registered builder of ``name`` now also runs ``edit(template)`` on
    what it built (for tests that need a changed or broken template); undone after the test."""
    import dataclasses

    from templates_src import registry

    def apply(name, edit):
        spec = registry.TEMPLATES[name]

        def build(ctx):
            template = spec.build(ctx)
            edit(template)
            return template

        monkeypatch.setitem(registry.TEMPLATES, name, dataclasses.replace(spec, build=build))

    return apply


# -- custom-resource handlers: the response URL is a local HTTP server ---------------------------------------
@pytest.fixture
def direct_http(monkeypatch):
    """urllib must reach 127.0.0.1 directly, never through a proxy from the environment."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def recorder(direct_http):
    """A local server standing in for CloudFormation's pre-signed response URL."""
    from tests.support_cfn import ResponseRecorder

    with ResponseRecorder() as rec:
        yield rec
