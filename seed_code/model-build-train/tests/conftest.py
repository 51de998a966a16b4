"""Fixtures of the model build seed tests: the seed folder on sys.path, fake AWS settings, no network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from seed_build_support import BUILD_ENV, apply_fake_aws, block_network  # noqa: E402


@pytest.fixture
def offline_aws(monkeypatch):
    """Fake AWS settings and no network: anything that tries to call AWS fails."""
    apply_fake_aws(monkeypatch)
    attempts = block_network(monkeypatch)
    yield
    assert attempts == [], f"network access attempted: {attempts}"


@pytest.fixture
def build_env() -> dict[str, str]:
    """The CodeBuild environment of the project, with made-up values."""
    return dict(BUILD_ENV)


_CHECKED: dict[int, tuple] = {}  # id(schema) -> (schema, its validator): each schema checked once per process


@pytest.fixture(autouse=True)
def _schemas_checked_once(monkeypatch):
    """The SageMaker Python SDK validates its configuration on every configuration lookup with
    ``jsonschema.validate``, which first checks the (large, constant) schema against its metaschema: the seed's
    pipeline definition makes about fifty lookups, most of its tests' time.  The same function with each schema
    checked once: the same errors (jsonschema's best match), the same exceptions for a bad schema."""
    jsonschema = pytest.importorskip("jsonschema")
    real = jsonschema.validate

    def validate(instance, schema, cls=None, *args, **kwargs):
        if cls is not None or args or kwargs:
            return real(instance, schema, cls, *args, **kwargs)
        known = _CHECKED.get(id(schema))
        if known is None or known[0] is not schema:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
            known = _CHECKED[id(schema)] = (schema, validator_class(schema))
        error = jsonschema.exceptions.best_match(known[1].iter_errors(instance))
        if error is not None:
            raise error
        return None

    monkeypatch.setattr(jsonschema, "validate", validate)
