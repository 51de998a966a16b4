"""The data model of a release: where it goes, what it consists of, and the plan that publishes it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from templates_src import release_layout as layout
from templates_src.config import Problems


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
    """One object of a release: its bytes in memory (``body``), or, for large seed code, in a file of the plan's
    (``file``, streamed when uploaded, never held in memory whole; ``digest`` and ``length`` computed once)."""

    key: str
    body: bytes
    kind: str  # template | lambda | seed-code | notebook | release-alias | manifest
    name: str
    content_type: str
    tags: tuple[tuple[str, str], ...] = ()
    file: Any = None  # pathlib.Path of the bytes when they are not in ``body``
    digest: str = ""
    length: int = 0

    @property
    def sha256(self) -> str:
        return self.digest if self.file is not None else hashlib.sha256(self.body).hexdigest()

    @property
    def size(self) -> int:
        return self.length if self.file is not None else len(self.body)

    def open(self):
        """The bytes as a fresh binary stream (each upload attempt reads from the start)."""
        import io

        return self.file.open("rb") if self.file is not None else io.BytesIO(self.body)

    def content(self) -> bytes:
        """All the bytes (a comparison with an object that records no SHA-256; rare for file-backed ones)."""
        return self.file.read_bytes() if self.file is not None else self.body


@dataclass
class Plan:
    release: str
    target: Target
    artifacts: list[Artifact] = field(default_factory=list)  # everything but the manifest, upload order
    manifest: Artifact | None = None
    template_urls: dict[str, str] = field(default_factory=dict)  # name -> content-addressed URL
    entry_urls: dict[str, str] = field(default_factory=dict)  # name -> release URL
    packaged: Any = None  # templates_src.generator.Generation of the packaged templates, for the lint
    warnings: list[str] = field(default_factory=list)  # for the user; they do not stop the release
    _workdir: Any = None  # tempfile.TemporaryDirectory holding file-backed artifacts (removed with the plan)

    def workdir(self):
        """A private folder for the plan's large artifacts, removed when the plan is."""
        import pathlib
        import tempfile

        if self._workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="sm-mlops-release-")
        return pathlib.Path(self._workdir.name)

    def all(self) -> list[Artifact]:
        return self.artifacts + ([self.manifest] if self.manifest else [])

    @property
    def identity(self) -> str:
        """What the release consists of, in one value: the SHA-256 of its manifest.

        The manifest lists every object's key and SHA-256 (and has no timestamp), so two runs have the same
        identity exactly when they would publish the same bytes under the same keys.
        """
        assert self.manifest is not None
        return self.manifest.sha256


class ManifestError(ValueError):
    """An object at a manifest key that is not a release manifest (the message says why)."""


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    key: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReleaseManifest(BaseModel):
    """The part of a published ``manifest.json`` that later releases rely on (other fields are kept as they are).

    The release name is deliberately not held to today's version rule: a release published under an older,
    looser rule still exists, and dropping it from the history would drop its Service Catalog product version.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    release: str = Field(min_length=1)
    templates: dict[str, ManifestEntry]
    lambda_: dict[str, ManifestEntry] = Field(default_factory=dict, alias="lambda")
    seed_code: dict[str, ManifestEntry] = Field(default_factory=dict)
    objects: list[str] = Field(default_factory=list)


def parse_manifest(body: bytes, version: str) -> dict:
    """The manifest of release ``version`` as a dict, validated; ManifestError says why it is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        raise ManifestError("not JSON") from None
    try:
        manifest = ReleaseManifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "manifest"
        raise ManifestError(f"{where}: {err['msg']}") from None
    if manifest.release != version:
        raise ManifestError(f"it names release {manifest.release!r}, not {version!r}")
    return data


@dataclass(frozen=True)
class Claim:
    """Who is publishing a release, written before anything of it is uploaded (``layout.claim_key``).

    ``identity`` is the claiming plan's ``Plan.identity``; host, pid and time only tell a person who it was.
    """

    release: str
    identity: str
    host: str = "?"
    pid: int = 0
    claimed_at: str = "?"

    def body(self) -> bytes:
        return (
            json.dumps(
                {
                    "release": self.release,
                    "identity": self.identity,
                    "host": self.host,
                    "pid": self.pid,
                    "claimed_at": self.claimed_at,
                },
                indent=1,
            )
            + "\n"
        ).encode("utf-8")

    @classmethod
    def parse(cls, body: bytes) -> "Claim | None":
        """The claim, or None when the object is not one (then it cannot be this run's)."""
        try:
            data = json.loads(body)
            return cls(
                str(data["release"]),
                str(data["identity"]),
                str(data.get("host", "?")),
                int(data.get("pid", 0)),
                str(data.get("claimed_at", "?")),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def who(self) -> str:
        return f"host {self.host}, pid {self.pid}, {self.claimed_at}"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
