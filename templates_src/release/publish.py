"""Publish a planned release to S3: incremental, never overwriting, manifest last.

* Content-addressed objects that already exist with the same SHA-256 are not uploaded again; one that
  exists with other bytes is never overwritten (that would be corruption, not a release).
* A published release (its manifest exists) is immutable: publishing the same release again uploads
  nothing; publishing other content under the same version is refused.
* The manifest is written last, with a conditional put, so an interrupted run leaves no release that points
  at missing objects, and the next run finishes it.
* Throttling and transient errors are retried by botocore (standard mode, exponential backoff); every other
  AWS or network problem is reported as one clear line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError,
                                 NoCredentialsError, PartialCredentialsError, ProfileNotFound)

from templates_src.release.model import Artifact, Plan, Target
from templates_src import __version__
from templates_src.release import layout

MAX_ATTEMPTS = 8
ACCESS_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                   "TokenRefreshRequired", "UnrecognizedClientException"}
THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
             "503"}


class PublishError(Exception):
    """An AWS, network or consistency problem: one line for the user, and whether a re-run can continue."""

    def __init__(self, message: str, resumable: bool = True):
        self.resumable = resumable
        super().__init__(message)


@dataclass
class Report:
    uploaded: list[Artifact] = field(default_factory=list)
    unchanged: list[Artifact] = field(default_factory=list)
    retagged: list[Artifact] = field(default_factory=list)
    already_published: bool = False
    seconds: float = 0.0

    @property
    def bytes_uploaded(self) -> int:
        return sum(a.size for a in self.uploaded)


class Progress:
    """One updating line on a terminal; plain lines otherwise (CI logs)."""

    def __init__(self, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.total = self.done = self.bytes = 0

    def start(self, total: int, total_bytes: int) -> None:
        self.total = total
        if not self.interactive:
            print(f"uploading {total} object(s), {total_bytes} bytes", file=self.stream, flush=True)

    def uploaded(self, artifact: Artifact) -> None:
        self.done += 1
        self.bytes += artifact.size
        if self.interactive:
            print(f"\r[{self.done}/{self.total}] {self.bytes / 1024:8.1f} KiB  {artifact.key[-60:]:<60}",
                  end="", file=self.stream, flush=True)
        else:
            print(f"uploaded {artifact.key} ({artifact.size} bytes)", file=self.stream, flush=True)

    def finish(self) -> None:
        if self.interactive and self.total:
            print(file=self.stream, flush=True)


def describe_error(exc: Exception, what: str) -> str:
    """One line saying what went wrong while doing ``what``."""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ("no AWS credentials found: configure them (aws configure, AWS_PROFILE, --profile or "
                "environment variables) and run again")
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile not found: {exc.kwargs.get('profile')} (see aws configure list-profiles)"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        return f"cannot reach AWS while {what}: {exc} (check the network, --region and --endpoint-url)"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code in ACCESS_DENIED:
            return f"access denied while {what}: the caller needs the S3 permission for it ({message})"
        if code in BAD_CREDENTIALS:
            return f"AWS rejected the credentials while {what}: {message}"
        if code in THROTTLED:
            return f"AWS kept throttling after {MAX_ATTEMPTS} attempts while {what}; run again later to continue"
        return f"AWS error while {what}: {code}: {message}"
    return f"error while {what}: {type(exc).__name__}: {exc}"


class S3Publisher:
    def __init__(self, bucket: str, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, progress: Progress | None = None):
        try:
            self.session = boto3.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as exc:
            raise PublishError(describe_error(exc, "opening the AWS session"), resumable=False) from None
        self.region = region or self.session.region_name
        if not self.region:
            raise PublishError("no region: pass --region or set AWS_DEFAULT_REGION", resumable=False)
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.progress = progress or Progress()
        config = BotoConfig(retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS}, connect_timeout=10,
                            read_timeout=60, user_agent_extra=f"sagemaker-secure-mlops-templates/{__version__}")
        self.s3 = self.session.client("s3", region_name=self.region, endpoint_url=endpoint_url, config=config)
        self._config = config

    # -- helpers ---------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], **kwargs) -> Any:
        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise PublishError(describe_error(exc, what)) from None

    def target(self, prefix: str) -> Target:
        import botocore.session

        partition = self.session.get_partition_for_region(self.region)
        suffixes = {p["partition"]: p["dnsSuffix"] for p in botocore.session.get_session().get_data("endpoints")["partitions"]}
        return Target(self.bucket, prefix, self.region, suffixes[partition])

    def account_id(self) -> str | None:
        try:
            sts = self.session.client("sts", region_name=self.region, endpoint_url=self.endpoint_url,
                                      config=self._config)
            return sts.get_caller_identity()["Account"]
        except (BotoCoreError, ClientError):
            return None

    # -- bucket ----------------------------------------------------------------------------------------
    def check_bucket(self, create: bool = False) -> bool:
        """Whether the bucket exists (in the target region); a missing bucket is an error unless ``create``.

        Reads only: the caller creates a missing bucket (``create_bucket``) once the release is planned.

        GetBucketLocation answers existence and region in one call, from any region, and needs only
        s3:GetBucketLocation (HeadBucket would need an unconditioned s3:ListBucket).
        """
        try:
            location = self.s3.get_bucket_location(Bucket=self.bucket).get("LocationConstraint")
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                if not create:
                    raise PublishError(f"bucket {self.bucket} does not exist: create it with --create-bucket "
                                       f"(or aws s3 mb s3://{self.bucket} --region {self.region})",
                                       resumable=False) from None
                return False
            if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
                raise PublishError(self._wrong_region_message(), resumable=False) from None
            raise PublishError(describe_error(exc, f"checking bucket {self.bucket}")) from None
        except BotoCoreError as exc:
            raise PublishError(describe_error(exc, f"checking bucket {self.bucket}")) from None
        actual = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if actual != self.region:
            raise PublishError(self._wrong_region_message(actual), resumable=False)
        return True

    def _wrong_region_message(self, actual: str | None = None) -> str:
        where = f"is in {actual}" if actual else "is in another region"
        return (f"bucket {self.bucket} {where}, not {self.region}: templates must be in the stack's region; "
                f"pass --region {actual or '<the bucket region>'} or use a bucket in {self.region}")

    def create_bucket(self) -> None:
        """A bucket fit for templates: private, encrypted, versioned, owner-enforced, TLS only."""
        what = f"creating bucket {self.bucket}"
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self._call(what, self.s3.create_bucket, **kwargs)
        self._call(what, self.s3.put_public_access_block, Bucket=self.bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
        self._call(what, self.s3.put_bucket_encryption, Bucket=self.bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
        self._call(what, self.s3.put_bucket_versioning, Bucket=self.bucket,
                   VersioningConfiguration={"Status": "Enabled"})
        self._call(what, self.s3.put_bucket_ownership_controls, Bucket=self.bucket,
                   OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
        if (self.endpoint_url or "").startswith("http://"):
            return  # a local stand-in without TLS: a TLS-only policy would lock everyone out
        partition = self.session.get_partition_for_region(self.region)
        arn = f"arn:{partition}:s3:::{self.bucket}"
        self._call(what, self.s3.put_bucket_policy, Bucket=self.bucket, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                           "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}],
        }))

    # -- releases --------------------------------------------------------------------------------------
    def published_manifests(self, prefix: str) -> list[dict]:
        """Every published release under the prefix (manifests only: a release without one does not exist)."""
        keys, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": layout.releases_prefix(prefix)}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("listing published releases", self.s3.list_objects_v2, **kwargs)
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith("/" + layout.MANIFEST)]
            token = page.get("NextContinuationToken")
            if not token:
                break
        manifests = []
        for key in sorted(keys):
            body = self._call(f"reading {key}", self.s3.get_object, Bucket=self.bucket, Key=key)["Body"].read()
            try:
                manifests.append(json.loads(body))
            except json.JSONDecodeError:
                raise PublishError(f"s3://{self.bucket}/{key} is not a release manifest (not JSON)",
                                   resumable=False) from None
        return manifests

    def _keys(self, prefix: str) -> set[str]:
        """Every key under the release prefix: one listing instead of a request per object.

        Listing is what s3:ListBucket with an s3:prefix condition allows; a HEAD on a missing key would need
        the unconditioned permission to answer 404 instead of 403.
        """
        keys, token = set(), None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix.rstrip("/") + "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(f"listing s3://{self.bucket}/{prefix}/", self.s3.list_objects_v2, **kwargs)
            keys.update(o["Key"] for o in page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not token:
                return keys

    def _recorded_sha(self, key: str) -> str | None:
        """SHA-256 recorded on an existing object (None when it was uploaded by something else)."""
        head = self._call(f"checking s3://{self.bucket}/{key}", self.s3.head_object, Bucket=self.bucket, Key=key)
        return head.get("Metadata", {}).get("sha256")

    def _read(self, key: str) -> bytes:
        return self._call(f"reading s3://{self.bucket}/{key}", self.s3.get_object, Bucket=self.bucket,
                          Key=key)["Body"].read()

    def pending(self, plan: Plan, bucket_exists: bool = True) -> tuple[list[Artifact], list[Artifact],
                                                                        list[Artifact], bool]:
        """(to upload, unchanged, to re-tag, already published); raises on conflicts. Reads only."""
        manifest = plan.manifest
        assert manifest is not None
        existing = self._keys(plan.target.prefix) if bucket_exists else set()
        if manifest.key in existing:
            if self._read(manifest.key) == manifest.body:
                return [], plan.all(), [], True
            raise PublishError(
                f"release {plan.release} is already published in s3://{self.bucket}/{manifest.key} with other "
                f"content; published releases are never changed: set a new `version` in the configuration",
                resumable=False)
        upload, unchanged, retag = [], [], []
        for artifact in plan.artifacts:
            if artifact.key not in existing:
                upload.append(artifact)
                continue
            recorded = self._recorded_sha(artifact.key)
            if recorded == artifact.sha256 or (recorded is None and self._read(artifact.key) == artifact.body):
                unchanged.append(artifact)
                if artifact.tags and not self._has_tags(artifact):
                    retag.append(artifact)
            elif artifact.kind == "release-alias":
                upload.append(artifact)  # left by an interrupted run of this unpublished release
            else:
                raise PublishError(
                    f"s3://{self.bucket}/{artifact.key} exists with other content; content-addressed objects are "
                    f"never overwritten (was it changed by hand?)", resumable=False)
        return upload, unchanged, retag, False

    def _has_tags(self, artifact: Artifact) -> bool:
        tags = self._call(f"reading the tags of s3://{self.bucket}/{artifact.key}", self.s3.get_object_tagging,
                          Bucket=self.bucket, Key=artifact.key).get("TagSet", [])
        return set(artifact.tags) <= {(t["Key"], t["Value"]) for t in tags}

    def _put(self, artifact: Artifact, **extra) -> None:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": artifact.key, "Body": artifact.body,
                                  "ContentType": artifact.content_type, "Metadata": {"sha256": artifact.sha256},
                                  **extra}
        if artifact.tags:
            from urllib.parse import urlencode

            kwargs["Tagging"] = urlencode(artifact.tags)
        self._call(f"uploading s3://{self.bucket}/{artifact.key}", self.s3.put_object, **kwargs)

    def publish(self, plan: Plan, dry_run: bool = False, bucket_exists: bool = True) -> Report:
        start = time.perf_counter()
        upload, unchanged, retag, published = self.pending(plan, bucket_exists)
        report = Report(unchanged=unchanged, already_published=published)
        if published or dry_run:
            report.uploaded = [] if published else upload + [plan.manifest]
            report.retagged = retag
            report.seconds = time.perf_counter() - start
            return report
        self.progress.start(len(upload) + 1, sum(a.size for a in upload) + plan.manifest.size)
        try:
            for artifact in upload:
                self._put(artifact)
                report.uploaded.append(artifact)
                self.progress.uploaded(artifact)
            for artifact in retag:
                self._call(f"tagging s3://{self.bucket}/{artifact.key}", self.s3.put_object_tagging,
                           Bucket=self.bucket, Key=artifact.key,
                           Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in artifact.tags]})
                report.retagged.append(artifact)
            # Last, and only if nobody published this release meanwhile: now the release exists.
            try:
                self._put(plan.manifest, IfNoneMatch="*")
            except PublishError:
                if plan.manifest.key in self._keys(plan.target.prefix) and self._read(plan.manifest.key) == plan.manifest.body:
                    report.already_published = True
                else:
                    raise
            else:
                report.uploaded.append(plan.manifest)
                self.progress.uploaded(plan.manifest)
        except PublishError as exc:
            raise PublishError(f"{exc} - release {plan.release} is not published; {len(report.uploaded)} object(s) "
                               f"uploaded are kept and a new run continues from there", exc.resumable) from None
        finally:
            self.progress.finish()
        report.seconds = time.perf_counter() - start
        return report
