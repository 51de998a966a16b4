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
