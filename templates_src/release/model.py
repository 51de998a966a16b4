"""The data model of a release: where it goes, what it consists of, and the plan that publishes it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from templates_src.config import Problems
from templates_src.release import layout


class PlanError(Problems):
    """The release cannot be planned (unresolvable reference, lint findings); one line per problem."""


@dataclass(frozen=True)
class Target:
    """Where the release goes."""

    bucket: str
    prefix: str
    region: str
    dns_suffix: str = "amazonaws.com"

    def url(self, key: str) -> str:
        return layout.https_url(self.bucket, self.region, self.dns_suffix, key)


@dataclass(frozen=True)
class Artifact:
    key: str
    body: bytes
    kind: str  # template | lambda | seed-code | release-alias | manifest
    name: str
    content_type: str
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass
class Plan:
    release: str
    target: Target
    artifacts: list[Artifact] = field(default_factory=list)  # everything but the manifest, upload order
    manifest: Artifact | None = None
    template_urls: dict[str, str] = field(default_factory=dict)  # name -> content-addressed URL
    entry_urls: dict[str, str] = field(default_factory=dict)  # name -> release URL
    packaged: Any = None  # templates_src.generator.Generation of the packaged templates, for the lint

    def all(self) -> list[Artifact]:
        return self.artifacts + ([self.manifest] if self.manifest else [])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
