"""Release housekeeping: which published releases a bucket holds, what uses them, and retiring one.

What a release is and where it lives is ``templates_src.release_layout``: a release exists once its
``releases/<version>/manifest.json`` exists; a folder without one is an unfinished publication (a claim, perhaps
aliases), never a release.

**In use.**  A release is in use, and is not retired, when

* a Service Catalog provisioned product uses one of its product versions (a version belongs to the release whose
  template URL it loads: an alias key of the release, or a content key of it; when several releases hold that
  content key, the version named ``v<release>`` decides, and a version none of their names matches is *shared*
  and belongs to none of them alone), or
* a CloudFormation stack in the region was created from one of its templates: the SHA-256 of the stack's original
  template body is compared with the manifests' ``sha256`` entries (templates are content-addressed, so the bytes
  identify the templates; JSON bodies, which the API returns parsed, are skipped: re-serialized they would not
  be the published bytes).  When the same bytes belong to several releases, the stack blocks none of them alone:
  retiring one keeps every object another release references, so everything the stack was built from stays.
  The stack is reported for each of them, with the releases it shares them with.

Stacks created from a StackSet in other accounts or regions are not seen (only stacks of the region are listed).

**Retiring** (``plan_retire`` plans, ``retire`` carries out), in this order, so that the release stops existing
at one moment and an interrupted run is completed by the next:

1. its active product versions are deactivated (``Active=False``, guidance ``DEPRECATED``): nobody launches
   it any more while its objects go;
2. a marker ``releases/<version>/retiring.json`` holding the manifest is written, then ``manifest.json`` is
   deleted first of the release's objects: from that moment the release does not exist (``package`` and the
   next core update no longer list it);
3. the rest of ``releases/<version>/`` (aliases, claim) is deleted;
4. every content-addressed object of the release that no remaining release's manifest references is deleted
   (templates, function packages, seed code); the others are kept and reported as shared;
5. the marker is deleted last.

A run interrupted after step 2 leaves the marker: ``list`` reports the retirement as interrupted and the next
``retire`` completes it from the marker's manifest.  Retiring a release that is no longer there does nothing
(exit 0).  Deletes are plain deletes: in a versioned bucket (``package --create-bucket`` makes one) they leave
delete markers, and the earlier object versions stay until a lifecycle rule expires them.  Retiring while a
publication is unfinished is refused (it may rely on objects this run would delete; the release folders are
read again right before content is deleted, to catch one that started meanwhile); do not run ``package`` and
``retire`` against one prefix at the same moment.

**Service Catalog through a stand-in.**  moto's server (the tests' stand-in for AWS) does not implement
``search_products_as_admin``, provisioning artifacts or provisioned products: it answers with an HTML error page.
So when, and only when, the user passed ``--endpoint-url`` (a stand-in, never real AWS), an answer that says
the operation is not implemented or unknown means "no Service Catalog information": a warning says so and
product versions are neither listed, checked nor deactivated.  Against real AWS every Service Catalog error is an
error, as every other AWS error is: a missing permission must never make a release in use look unused.
The Service Catalog client is passed in (``Aws.servicecatalog``), so its part is tested with botocore's Stubber.

Calls: every AWS call goes through ``Aws.call``, which retries throttling, 5xx answers, timeouts and connection
errors like publishing does (``templates_src.release.publish``: bounded attempts with backoff, a deadline per
request, one line per retry) and turns what is left into ``HousekeepingError`` (bad input: exit 2; AWS or
network: exit 3).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from templates_src import release_layout as layout
from templates_src.release import publish
from templates_src.release.model import Claim, ManifestError, parse_manifest

RETIRING = "retiring.json"  # the marker of a retirement in progress (holds the retired manifest)
SC_VERSION_LIMIT = 100  # Service Catalog's provisioning artifacts per product
SC_VERSION_WARN = 90
DEPRECATED = "DEPRECATED"
ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}
# What a stand-in endpoint answers for an operation it does not have (besides an HTML error page).
UNIMPLEMENTED = {
    "NotImplemented",
    "NotImplementedException",
    "UnknownOperationException",
    "UnknownOperation",
    "InvalidAction",
    "UnsupportedOperation",
    "501",
}


class HousekeepingError(Exception):
    """One line for the user; ``aws``: an AWS or network fault (exit 3), else the request cannot be done as
    asked (exit 2)."""

    def __init__(self, message: str, aws: bool = False):
        self.aws = aws
        super().__init__(message)


class Unimplemented(Exception):
    """A stand-in endpoint (``--endpoint-url``) does not implement the operation."""


def unimplemented(exc: Exception) -> bool:
    """An answer that says the operation does not exist there (an error code for it, or an HTML error page
    instead of an AWS answer, which is what moto's server sends for an action it lacks)."""
    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if str(error.get("Code", "")) in UNIMPLEMENTED:
        return True
    return status in (404, 500, 501) and str(error.get("Message", "")).lstrip().startswith("<")


def _unimplemented_answer(exc: ClientError) -> str:
    code = publish._code(exc)
    if code in UNIMPLEMENTED:
        return code
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"HTTP {status} with an HTML page instead of an AWS answer"


def describe(exc: Exception, what: str, attempts: int = 1) -> str:
    if isinstance(exc, ClientError) and publish._code(exc) in ACCESS_DENIED:
        message = exc.response.get("Error", {}).get("Message", "") or publish._code(exc)
        return f"access denied while {what}: the caller needs the permission for it ({message})"
    return publish.describe_error(exc, what, attempts)


@dataclass
class Aws:
    """The clients housekeeping talks to, and how it calls them.

    ``stand_in``: the endpoint is a stand-in given with --endpoint-url (see the module docstring).
    ``within``: runs one attempt of a call (``S3Publisher._within``: with a deadline); plain call without it.
    """

    bucket: str
    region: str
    s3: Any = None
    cloudformation: Any = None
    servicecatalog: Any = None
    stand_in: bool = False
    within: Callable[[str, float, Callable[..., Any], dict], Any] | None = None
    progress: Any = None
    dns_suffix: str = "amazonaws.com"
    attempts: int = publish.MAX_ATTEMPTS
    sleep: Callable[[float], None] = time.sleep

    def call(self, what: str, fn: Callable[..., Any], optional: bool = False, **kwargs) -> Any:
        """``fn(**kwargs)``, retried on transient errors; HousekeepingError for the rest.

        ``optional``: raise Unimplemented when a stand-in endpoint does not have the operation."""
        for attempt in range(1, self.attempts + 1):
            try:
                if self.within is None:
                    return fn(**kwargs)
                return self.within(what, publish.REQUEST_DEADLINE, fn, kwargs)
            except (BotoCoreError, ClientError) as exc:
                if optional and self.stand_in and unimplemented(exc):
                    raise Unimplemented(_unimplemented_answer(exc)) from None
                if attempt == self.attempts or not publish.retryable(exc):
                    if publish.bad_input(exc):
                        raise HousekeepingError(f"AWS refused {what}: {publish.brief(exc)}") from None
                    raise HousekeepingError(
                        describe(exc, what, attempt if publish.retryable(exc) else 1), aws=True
                    ) from None
                if self.progress is not None:
                    self.progress.retry(what, attempt + 1, self.attempts, publish.brief(exc))
                self.sleep(publish.backoff(attempt))
        raise AssertionError("unreachable")

    def url(self, key: str) -> str:
        return layout.https_url(self.bucket, self.region, self.dns_suffix, key)

    def s3_url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def connect(bucket: str, region: str | None, profile: str | None, endpoint_url: str | None) -> Aws:
    """Clients for S3, CloudFormation and Service Catalog of one session (the bucket checked: it must exist in the
    region); the S3 part is publishing's (``S3Publisher``: same timeouts, retries and messages)."""
    progress = publish.Progress(sys.stderr, interactive=False)
    try:
        publisher = publish.S3Publisher(bucket, region, profile, endpoint_url, progress)
        target = publisher.target("x")
        publisher.check_bucket(create=False)
    except publish.PublishError as exc:
        raise HousekeepingError(str(exc), aws=exc.resumable) from None

    def client(service: str):
        try:
            return publisher.session.client(
                service, region_name=publisher.region, endpoint_url=endpoint_url, config=publisher._config
            )
        except ValueError as exc:
            raise HousekeepingError(f"--endpoint-url: {endpoint_url!r} cannot be used: {exc}") from None

    return Aws(
        bucket,
        publisher.region,
        publisher.s3,
        client("cloudformation"),
        client("servicecatalog"),
        stand_in=endpoint_url is not None,
        within=publisher._within,
        progress=progress,
        dns_suffix=target.dns_suffix,
    )


# -- what the bucket holds ---------------------------------------------------------------------------------


def version_key(version: str) -> tuple:
    """Semantic-version order (a pre-release before its release); names that are no version sort as 0."""
    core, _, pre = version.partition("-")
    nums = tuple(int(x) if x.isdigit() else 0 for x in core.split("+")[0].split("."))
    return nums + ((1, "") if not pre else (0, pre))


@dataclass
class Release:
    """A release with a manifest: published (``manifest.json`` exists), or being retired (only the marker holds
    the manifest any more)."""

    version: str
    prefix: str
    manifest: dict
    published: str = ""  # the manifest's LastModified, ISO 8601 (UTC)
    folder: list[str] = field(default_factory=list)  # keys under releases/<version>/ now
    retiring: bool = False  # the manifest is gone, the marker holds it: an interrupted retirement
    marker: bool = False  # a retirement marker exists (with or without the manifest)

    def entries(self) -> Iterable[dict]:
        for kind in ("templates", "lambda", "seed_code"):
            yield from (self.manifest.get(kind) or {}).values()

    @property
    def templates(self) -> dict[str, dict]:
        return dict(self.manifest.get("templates") or {})

    def content_keys(self) -> set[str]:
        """Every object of the release outside its release folder (templates, function packages, seed code)."""
        folder = layout.release_folder(self.prefix, self.version)
        keys = {e["key"] for e in self.entries()} | set(self.manifest.get("objects") or [])
        return {k for k in keys if not k.startswith(folder)}

    def alias_keys(self) -> set[str]:
        folder = layout.release_folder(self.prefix, self.version)
        return {k for k in self.manifest.get("objects") or [] if k.startswith(folder)}

    def template_shas(self) -> dict[str, str]:
        """sha256 -> template name."""
        return {e["sha256"]: name for name, e in self.templates.items()}


@dataclass
class Unfinished:
    """A release folder without a manifest or retirement marker: a publication that is running or was
    interrupted."""

    version: str
    keys: list[str]
    claim: Claim | None = None


@dataclass
class Inventory:
    prefix: str
    releases: dict[str, Release] = field(default_factory=dict)  # published or being retired, by version
    unfinished: dict[str, Unfinished] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)  # every key under the prefix
    warnings: list[str] = field(default_factory=list)

    @property
    def published(self) -> list[Release]:
        return sorted((r for r in self.releases.values() if not r.retiring), key=lambda r: version_key(r.version))

    def referenced(self, excluding: str) -> dict[str, list[str]]:
        """content key -> the published releases (other than ``excluding``) whose manifests reference it."""
        out: dict[str, list[str]] = {}
        for release in self.published:
            if release.version != excluding:
                for key in release.content_keys():
                    out.setdefault(key, []).append(release.version)
        return out


def _list(aws: Aws, prefix: str) -> list[dict]:
    objects, token = [], None
    while True:
        kwargs: dict[str, Any] = {"Bucket": aws.bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = aws.call(f"listing {aws.s3_url(prefix)}", aws.s3.list_objects_v2, **kwargs)
        objects += page.get("Contents", [])
        token = page.get("NextContinuationToken")
        if not token:
            return objects


def _read(aws: Aws, key: str) -> bytes | None:
    def get(Key: str) -> bytes | None:  # noqa: N803 - boto3's spelling
        try:
            return aws.s3.get_object(Bucket=aws.bucket, Key=Key)["Body"].read()
        except ClientError as exc:
            if publish._code(exc) in publish.NOT_FOUND:
                return None
            raise

    return aws.call(f"reading {aws.s3_url(key)}", get, Key=key)


def _iso(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value or "")


def inventory(aws: Aws, prefix: str) -> Inventory:
    """Every release folder under the prefix, read: releases (manifest, or retirement marker) and unfinished
    publications.  A manifest that is not one is a warning (that folder is not a release)."""
    found = Inventory(prefix)
    root = layout.releases_prefix(prefix)
    listed = _list(aws, prefix.rstrip("/") + "/")
    found.keys = {o["Key"] for o in listed}
    folders: dict[str, dict[str, dict]] = {}
    for obj in listed:
        if obj["Key"].startswith(root) and "/" in obj["Key"][len(root) :]:
            version, name = obj["Key"][len(root) :].rsplit("/", 1)
            folders.setdefault(version, {})[name] = obj
    for version, files in sorted(folders.items(), key=lambda item: version_key(item[0])):
        keys = sorted(o["Key"] for o in files.values())
        marker = None
        if RETIRING in files:
            body = _read(aws, files[RETIRING]["Key"])
            marker = _marker_manifest(body, version) if body is not None else None
        if layout.MANIFEST in files:
            body = _read(aws, files[layout.MANIFEST]["Key"])
            if body is None:  # deleted since the listing (retired meanwhile)
                files.pop(layout.MANIFEST)
            else:
                try:
                    manifest = parse_manifest(body, version)
                except ManifestError as exc:
                    found.warnings.append(
                        f"{aws.s3_url(files[layout.MANIFEST]['Key'])} is not a release manifest ({exc}): "
                        f"{version} is not a release (its objects protect nothing from a retirement)"
                    )
                    continue
                found.releases[version] = Release(
                    version,
                    prefix,
                    manifest,
                    _iso(files[layout.MANIFEST].get("LastModified")),
                    keys,
                    marker=RETIRING in files,
                )
                continue
        if marker is not None:
            found.releases[version] = Release(version, prefix, marker, "", keys, retiring=True, marker=True)
        elif RETIRING in files:
            found.warnings.append(
                f"{aws.s3_url(files[RETIRING]['Key'])} is not a retirement marker of release {version}: "
                "that folder is left alone"
            )
        else:
            claim = None
            if layout.CLAIM in files:
                body = _read(aws, files[layout.CLAIM]["Key"])
                claim = Claim.parse(body) if body is not None else None
            found.unfinished[version] = Unfinished(version, keys, claim)
    return found


def _marker_manifest(body: bytes, version: str) -> dict | None:
    try:
        return parse_manifest(json.dumps(json.loads(body)["manifest"]).encode("utf-8"), version)
    except (ValueError, KeyError, TypeError, ManifestError):
        return None


# -- Service Catalog -------------------------------------------------------------------------------------


@dataclass
class ProductVersion:
    """A Service Catalog product version (provisioning artifact) that loads a template of a release."""

    product_id: str
    product: str
    artifact_id: str
    name: str
    active: bool
    url: str
    key: str
    releases: list[str]  # the release(s) it belongs to: one, or several when it is shared
    shared: bool = False
    provisioned: list[str] = field(default_factory=list)  # "name (id)" of the provisioned products using it

    def as_dict(self) -> dict:
        return {
            "product_id": self.product_id,
            "product": self.product,
            "version_id": self.artifact_id,
            "name": self.name,
            "active": self.active,
            "template_url": self.url,
            "shared_with": self.releases if self.shared else [],
            "provisioned_products": self.provisioned,
        }


@dataclass
class Product:
    id: str
    name: str
    versions: int  # every version, active or not: all count towards the limit

    @property
    def warning(self) -> str | None:
        if self.versions < SC_VERSION_WARN:
            return None
        return (
            f"Service Catalog product {self.name} ({self.id}) has {self.versions} of {SC_VERSION_LIMIT} versions "
            f"(the limit per product): the next core update that adds a version fails at {SC_VERSION_LIMIT}; "
            "retire old releases first (generate.py releases retire VERSION)"
        )


@dataclass
class Catalog:
    available: bool = True
    note: str = ""  # why it is not available
    products: list[Product] = field(default_factory=list)
    versions: list[ProductVersion] = field(default_factory=list)

    def of(self, version: str, shared: bool = False) -> list[ProductVersion]:
        return [v for v in self.versions if version in v.releases and (shared or not v.shared)]

    @property
    def warnings(self) -> list[str]:
        return [p.warning for p in self.products if p.warning]


def url_key(url: str, bucket: str) -> str | None:
    """The key of ``bucket`` an S3 HTTPS URL names (virtual-hosted or path style, any region); None when it names
    no object of that bucket."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host, path = (parts.hostname or "").lower(), unquote(parts.path)
    if host.startswith(f"{bucket}.s3.") or host.startswith(f"{bucket}.s3-"):
        return path[1:] or None
    if (host.startswith("s3.") or host.startswith("s3-")) and path.startswith(f"/{bucket}/"):
        return path[len(bucket) + 2 :] or None
    return None


def template_index(releases: Iterable[Release]) -> dict[str, list[str]]:
    """Template key (alias or content) -> the releases holding it."""
    index: dict[str, list[str]] = {}
    for release in releases:
        for key in {e["key"] for e in release.templates.values()} | release.alias_keys():
            index.setdefault(key, []).append(release.version)
    return index


def match_version(name: str, candidates: list[str]) -> tuple[list[str], bool]:
    """(releases a product version belongs to, shared): named v<release> or held by one release only: that one."""
    named = [r for r in candidates if name == f"v{r}"]
    if named:
        return named[:1], False
    if len(candidates) == 1:
        return list(candidates), False
    return sorted(candidates, key=version_key), True


def _template_url(info: dict) -> str:
    return info.get("TemplateUrl") or info.get("LoadTemplateFromURL") or ""


def catalog(aws: Aws, releases: Iterable[Release]) -> Catalog:
    """The product versions that load templates of the releases, the provisioned products using them, and the
    products' version counts.  Not available only through a stand-in endpoint that lacks Service Catalog."""
    try:
        return _catalog(aws, list(releases))
    except Unimplemented as exc:
        return Catalog(
            available=False,
            note=(
                f"the endpoint given with --endpoint-url does not implement Service Catalog ({exc}): product "
                "versions are neither listed, checked for provisioned products nor deactivated"
            ),
        )


def _catalog(aws: Aws, releases: list[Release]) -> Catalog:
    sc = aws.servicecatalog
    index = template_index(releases)
    found = Catalog()
    products, token = [], None
    while True:
        kwargs: dict[str, Any] = {"PageSize": 20}
        if token:
            kwargs["PageToken"] = token
        page = aws.call("listing Service Catalog products", sc.search_products_as_admin, optional=True, **kwargs)
        products += [p["ProductViewSummary"] for p in page.get("ProductViewDetails", [])]
        token = page.get("NextPageToken")
        if not token:
            break
    by_artifact: dict[str, ProductVersion] = {}
    for product in products:
        pid, pname = product["ProductId"], product.get("Name", product["ProductId"])
        artifacts = aws.call(
            f"listing the versions of product {pname}", sc.list_provisioning_artifacts, optional=True, ProductId=pid
        ).get("ProvisioningArtifactDetails", [])
        ours = False
        for artifact in artifacts:
            info = aws.call(
                f"reading version {artifact.get('Name', artifact['Id'])} of product {pname}",
                sc.describe_provisioning_artifact,
                optional=True,
                ProductId=pid,
                ProvisioningArtifactId=artifact["Id"],
                Verbose=True,
            ).get("Info", {})
            url = _template_url(info)
            key = url_key(url, aws.bucket)
            if key is None or key not in index:
                continue
            ours = True
            belongs, shared = match_version(artifact.get("Name", ""), index[key])
            version = ProductVersion(
                pid,
                pname,
                artifact["Id"],
                artifact.get("Name", ""),
                artifact.get("Active", True),
                url,
                key,
                belongs,
                shared,
            )
            found.versions.append(version)
            by_artifact[artifact["Id"]] = version
        if ours:
            found.products.append(Product(pid, pname, len(artifacts)))
    if by_artifact:
        token = None
        while True:
            kwargs = {"AccessLevelFilter": {"Key": "Account", "Value": "self"}, "PageSize": 100}
            if token:
                kwargs["PageToken"] = token
            page = aws.call("listing provisioned products", sc.search_provisioned_products, optional=True, **kwargs)
            for provisioned in page.get("ProvisionedProducts", []):
                version = by_artifact.get(provisioned.get("ProvisioningArtifactId", ""))
                if version is not None:
                    version.provisioned.append(f"{provisioned.get('Name', '?')} ({provisioned.get('Id', '?')})")
            token = page.get("NextPageToken")
            if not token:
                break
    return found


def deactivate(aws: Aws, version: ProductVersion) -> None:
    aws.call(
        f"deactivating version {version.name} of product {version.product}",
        aws.servicecatalog.update_provisioning_artifact,
        ProductId=version.product_id,
        ProvisioningArtifactId=version.artifact_id,
        Active=False,
        Guidance=DEPRECATED,
    )


# -- CloudFormation stacks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    name: str
    sha256: str | None  # of the original template body; None when it is JSON (returned parsed)


def stacks(aws: Aws) -> list[Stack]:
    """Every stack of the region that is not deleted, with the SHA-256 of its original template."""
    cfn = aws.cloudformation
    statuses = [s for s in cfn.meta.service_model.shape_for("StackStatus").enum if s != "DELETE_COMPLETE"]
    summaries, token = [], None
    while True:
        kwargs: dict[str, Any] = {"StackStatusFilter": statuses}
        if token:
            kwargs["NextToken"] = token
        page = aws.call("listing CloudFormation stacks", cfn.list_stacks, **kwargs)
        summaries += page.get("StackSummaries", [])
        token = page.get("NextToken")
        if not token:
            break

    def template(StackName: str) -> Any:  # noqa: N803 - boto3's spelling
        try:
            return cfn.get_template(StackName=StackName, TemplateStage="Original").get("TemplateBody")
        except ClientError as exc:  # deleted since the listing
            if publish._code(exc) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise

    out = []
    for summary in summaries:
        body = aws.call(
            f"reading the template of stack {summary['StackName']}",
            template,
            StackName=summary.get("StackId") or summary["StackName"],
        )
        if body is None:
            continue
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest() if isinstance(body, str) else None
        out.append(Stack(summary["StackName"], digest))
    return out


# -- what uses a release -------------------------------------------------------------------------------------


@dataclass
class Usage:
    """What uses one release.  ``stacks``: (stack, template name, other releases with the same bytes)."""

    stacks: list[tuple[str, str, list[str]]] = field(default_factory=list)
    provisioned: list[str] = field(default_factory=list)  # "product version: provisioned product"

    @property
    def blockers(self) -> list[str]:
        """What stops a retirement: provisioned products, and stacks whose template only this release holds."""
        return [f"provisioned product {p}" for p in self.provisioned] + [
            f"stack {name} (created from its template {template})"
            for name, template, shared in self.stacks
            if not shared
        ]

    @property
    def in_use(self) -> bool:
        return bool(self.blockers)

    def as_dict(self) -> dict:
        return {
            "provisioned_products": self.provisioned,
            "stacks": [{"stack": n, "template": t, "shared_with": s} for n, t, s in self.stacks],
        }


def usage(releases: list[Release], found_stacks: list[Stack], found: Catalog) -> dict[str, Usage]:
    """version -> what uses it (only published releases can share a stack's template with another)."""
    out = {r.version: Usage() for r in releases}
    holders: dict[str, list[tuple[str, str]]] = {}  # sha256 -> [(version, template name)]
    for release in releases:
        for digest, name in release.template_shas().items():
            holders.setdefault(digest, []).append((release.version, name))
    published = {r.version for r in releases if not r.retiring}
    for stack in found_stacks:
        for version, name in holders.get(stack.sha256 or "", []):
            others = sorted(
                {v for v, _ in holders[stack.sha256 or ""] if v != version and v in published}, key=version_key
            )
            out[version].stacks.append((stack.name, name, others))
    for version in found.versions:
        if not version.shared:
            for release in version.releases:
                if release in out:
                    out[release].provisioned += [
                        f"{p} of {version.product} {version.name}" for p in version.provisioned
                    ]
    return out


def survey(aws: Aws, prefix: str) -> tuple[Inventory, Catalog, dict[str, Usage]]:
    """Everything ``list`` shows and ``retire`` decides on: the releases, their product versions, their users."""
    found = inventory(aws, prefix)
    releases = list(found.releases.values())
    products = catalog(aws, releases)
    return found, products, usage(releases, stacks(aws) if releases else [], products)


def describe_releases(aws: Aws, found: Inventory, products: Catalog, used: dict[str, Usage]) -> dict:
    """The ``list`` report as data (the JSON document's fields)."""
    out = []
    for release in found.published:
        out.append(
            {
                "version": release.version,
                "published": release.published,
                "manifest_url": aws.url(layout.manifest_key(found.prefix, release.version)),
                "templates": {
                    name: {
                        "key": e["key"],
                        "sha256": e["sha256"],
                        "url": aws.url(e["key"]),
                        **({"release_url": e["release_url"]} if e.get("release_url") else {}),
                    }
                    for name, e in sorted(release.templates.items())
                },
                "product_versions": [v.as_dict() for v in products.of(release.version, shared=True)],
                "in_use": used[release.version].in_use,
                "used_by": used[release.version].as_dict(),
                "retirement_interrupted": release.marker,
            }
        )
    return {
        "releases": out,
        "unfinished": [
            {"version": u.version, "keys": u.keys, "claimed_by": u.claim.who() if u.claim else None}
            for u in found.unfinished.values()
        ],
        "retiring": [r.version for r in found.releases.values() if r.retiring],
        "service_catalog": {
            "available": products.available,
            "note": products.note,
            "products": [
                {"id": p.id, "name": p.name, "versions": p.versions, "limit": SC_VERSION_LIMIT}
                for p in products.products
            ],
        },
    }


# -- retiring ---------------------------------------------------------------------------------------------


@dataclass
class RetirePlan:
    version: str
    state: str  # published | retiring (interrupted, completed now) | absent (nothing to do)
    deactivate: list[ProductVersion] = field(default_factory=list)
    inactive: list[ProductVersion] = field(default_factory=list)  # its versions deactivated already
    release_keys: list[str] = field(default_factory=list)  # manifest first, then aliases and claim (marker: last)
    delete: list[str] = field(default_factory=list)  # content objects no remaining release references
    kept: dict[str, list[str]] = field(default_factory=dict)  # content key -> the releases that share it
    manifest: dict = field(default_factory=dict)
    refusal: str | None = None  # why it must not be retired (exit 2)
    catalog_note: str = ""

    @property
    def nothing_to_do(self) -> bool:
        return self.state == "absent"

    def marker_key(self, prefix: str) -> str:
        return layout.release_key(prefix, self.version, RETIRING)

    def as_dict(self) -> dict:
        return {
            "release": self.version,
            "state": self.state,
            "nothing_to_do": self.nothing_to_do,
            "deactivate": [v.as_dict() for v in self.deactivate],
            "already_inactive": [v.as_dict() for v in self.inactive],
            "delete_release_objects": self.release_keys,
            "delete": self.delete,
            "kept": [{"key": k, "shared_with": v} for k, v in sorted(self.kept.items())],
        }


def plan_retire(version: str, found: Inventory, products: Catalog, used: dict[str, Usage]) -> RetirePlan:
    """What retiring ``version`` does, from a survey; ``refusal`` says why it must not be done.  Writes nothing."""
    release = found.releases.get(version)
    if release is None:
        if version in found.unfinished:
            unfinished = found.unfinished[version]
            who = f" ({unfinished.claim.who()})" if unfinished.claim else ""
            return RetirePlan(
                version,
                "unfinished",
                refusal=(
                    f"release {version} is not published: its folder holds an unfinished publication{who} "
                    f"({len(unfinished.keys)} object(s), no {layout.MANIFEST}), which retire does not touch; "
                    "finish it with `generate.py package` or, if no run is active, remove it with "
                    f"`aws s3 rm s3://<bucket>/{layout.release_folder(found.prefix, version)} --recursive`"
                ),
            )
        return RetirePlan(version, "absent")
    plan = RetirePlan(version, "retiring" if release.retiring else "published", manifest=release.manifest)
    plan.catalog_note = products.note
    blockers = used[version].blockers
    if blockers:
        plan.refusal = (
            f"release {version} is in use, so it is not retired: {'; '.join(blockers)} - move them to another "
            "release (or delete them) first"
        )
    others = [u for u in found.unfinished.values() if u.version != version]
    if others and plan.refusal is None:
        plan.refusal = (
            f"publication of release {', '.join(u.version for u in others)} is unfinished (running, or "
            "interrupted): it may rely on objects a retirement deletes; finish it with `generate.py package` "
            f"(or, if no run is active, remove its folder {layout.release_folder(found.prefix, others[0].version)}), "
            "then retire"
        )
    for pv in products.of(version):
        (plan.deactivate if pv.active else plan.inactive).append(pv)
    manifest_key = layout.manifest_key(found.prefix, version)
    marker = layout.release_key(found.prefix, version, RETIRING)
    rest = sorted(k for k in release.folder if k not in (manifest_key, marker))
    plan.release_keys = ([manifest_key] if manifest_key in release.folder else []) + rest
    shared = found.referenced(excluding=version)
    for key in sorted(release.content_keys()):
        if key in shared:
            plan.kept[key] = shared[key]
        elif key in found.keys:
            plan.delete.append(key)
    return plan


def retire(aws: Aws, plan: RetirePlan, prefix: str, say: Callable[[str], None] = lambda line: None) -> RetirePlan:
    """Carry out a plan (see the module docstring for the order); returns what was done (``delete`` and ``kept``
    as they were when content was deleted: the release folders are read again right before)."""
    assert plan.refusal is None and not plan.nothing_to_do
    for version in plan.deactivate:
        deactivate(aws, version)
        say(f"deactivated version {version.name} ({version.artifact_id}) of product {version.product}")
    marker = plan.marker_key(prefix)
    if plan.state == "published":
        body = {
            "retiring": plan.version,
            "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "manifest": plan.manifest,
        }
        aws.call(
            f"writing {aws.s3_url(marker)}",
            aws.s3.put_object,
            Bucket=aws.bucket,
            Key=marker,
            Body=(json.dumps(body, indent=1) + "\n").encode("utf-8"),
            ContentType="application/json",
        )
    for key in plan.release_keys:  # manifest.json first: from here on the release does not exist
        _delete(aws, key)
        say(f"deleted {key}")
    # Read the release folders again: a release published (or started) meanwhile may reference these objects.
    now = inventory(aws, prefix)
    started = [u.version for u in now.unfinished.values() if u.version != plan.version]
    if started:
        raise HousekeepingError(
            f"publication of release {', '.join(started)} started while release {plan.version} was being retired: "
            "its content objects were not deleted; run the same retire again once that publication is finished"
        )
    shared = now.referenced(excluding=plan.version)
    done = RetirePlan(
        plan.version, plan.state, plan.deactivate, plan.inactive, plan.release_keys, manifest=plan.manifest
    )
    for key in plan.delete + sorted(plan.kept):
        if key in shared:
            done.kept[key] = shared[key]
        elif key in now.keys:
            _delete(aws, key)
            done.delete.append(key)
            say(f"deleted {key}")
    _delete(aws, marker)
    return done


def _delete(aws: Aws, key: str) -> None:
    aws.call(f"deleting {aws.s3_url(key)}", aws.s3.delete_object, Bucket=aws.bucket, Key=key)
