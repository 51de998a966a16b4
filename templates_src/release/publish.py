"""Publish a planned release to S3: claimed first, every write conditional, manifest last.

Consistency, also when two ``package`` runs publish the same version at the same time or a run is
interrupted and started again:

1. **Claim.**  Before it uploads anything, a run writes ``releases/<version>/claim.json`` with
   ``If-None-Match: *``, holding the plan's identity (``Plan.identity``, the SHA-256 of its manifest, which
   lists every key and SHA-256 of the release) and who claimed it (host, pid, UTC time).  When a claim is
   there already it is read: the same identity means the same bytes under the same keys, so the run
   continues (identical runs are idempotent, and a new run finishes an interrupted one); another identity
   stops the run, exit code 2, before anything of it is uploaded.  So only one content is ever uploaded
   under ``releases/<version>/`` and a mixed release cannot happen.
2. **Conditional writes.**  Every object (content-addressed objects, release aliases, the manifest) is
   written with ``If-None-Match: *``.  When the key exists, the object's SHA-256 (its ``sha256`` metadata,
   else its bytes) is compared: identical counts as unchanged and is never rewritten (an identical run adds
   no object version), different stops the run.  Nothing is ever overwritten or deleted.
3. **Claim confirmed, manifest last.**  Right before the manifest, the claim is read again and must still
   hold this run's identity (if somebody deleted it meanwhile, it is claimed again, conditionally).  The
   manifest is written last, conditionally: the release exists exactly when all its objects do.

A published release (its manifest exists) is immutable: the same content again uploads nothing, other
content is refused.  The claim stays after publishing (a record of who published).  A claim left by an
interrupted run with *other* content keeps blocking its version: whether that run is still active is
something only a person can tell, so the message says to set a new ``version`` or, when no other run is
active, to delete the unpublished ``releases/<version>/`` objects (none of them is published before the
manifest exists).  The remaining hole is a person deleting those objects while a run is still active;
step 3 then catches a new claim of other content made meanwhile.

Network: connect and read timeouts are bounded (``CONNECT_TIMEOUT``, ``READ_TIMEOUT``) and botocore does
not retry; this module retries throttling, 5xx answers, timeouts and connection errors itself, at most
``MAX_ATTEMPTS`` attempts per request with exponential backoff, and shows every retry in the progress
output.  A retried conditional write that went through the first time finds its own object: identical,
so unchanged.  Every other AWS or network problem is reported as one clear line.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
    UnknownRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from templates_src import __version__
from templates_src import release_layout as layout
from templates_src.release.model import Artifact, Claim, ManifestError, Plan, Target, parse_manifest

# Studio lists and reads S3 project templates from the browser (its web app's origin is
# https://<domain id>.studio.<region>.sagemaker.aws): the release bucket must let that origin read them (AWS's
# S3 project template instructions ask for a CORS rule for https://*.sagemaker.aws).  Reading is all it needs.
STUDIO_ORIGIN = "https://*.sagemaker.aws"
STUDIO_CORS_RULE = {
    "ID": "sagemaker-studio-project-templates",
    "AllowedOrigins": [STUDIO_ORIGIN],
    "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag", "x-amz-version-id"],
    "MaxAgeSeconds": 3000,
}

# Objects addressed by the release version (its folder), not by content: another run of the same version with
# other content conflicts with them.
RELEASE_FOLDER_KINDS = ("release-alias", "notebook")


def cors_allows(rules: list[dict], origin: str, method: str) -> bool:
    """Whether S3 answers a browser's request from ``origin`` with ``method`` under ``rules``: a rule matches
    when one of its AllowedOrigins (at most one ``*``, any characters) matches and it allows the method."""
    import fnmatch

    return any(
        method in rule.get("AllowedMethods", [])
        and any(fnmatch.fnmatchcase(origin, allowed) for allowed in rule.get("AllowedOrigins", []))
        for rule in rules
    )


def studio_cors_command(bucket: str, region: str) -> str:
    """The one line that gives a bucket the Studio rule (for a bucket ``package`` does not manage)."""
    rules = json.dumps({"CORSRules": [STUDIO_CORS_RULE]}, separators=(",", ":"))
    return f"aws s3api put-bucket-cors --bucket {bucket} --region {region} --cors-configuration '{rules}'"


def release_bucket_policy(arn: str) -> dict:
    """The policy of a bucket ``package --create-bucket`` creates: TLS only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


# Bounded waits (module constants so tests can shrink them).  Worst case for one request that never gets an
# answer: MAX_ATTEMPTS * (CONNECT_TIMEOUT or READ_TIMEOUT) plus the backoff, about 84 s, every retry shown.
CONNECT_TIMEOUT = 5.0  # seconds to open a connection
READ_TIMEOUT = 20.0  # seconds to wait for (more of) an answer
# A whole request (sending the body, the whole answer) gets at most this, plus the time its body needs at
# MIN_RATE: an endpoint that trickles one byte every few seconds never trips the read timeout, and would keep
# a run waiting forever.  While a request takes longer than WAIT_NOTICE, a line says what is being waited on.
REQUEST_DEADLINE = 60.0
MIN_RATE = 64 * 1024  # bytes per second an upload is allowed to be as slow as
WAIT_NOTICE = 10.0
MAX_ATTEMPTS = 4  # attempts per request, for throttling, 5xx answers, timeouts and connection errors
BACKOFF_BASE = 0.5  # seconds before the second attempt; doubled for each further one (with jitter)
BACKOFF_CAP = 8.0

ACCESS_DENIED = {"AccessDenied", "AllAccessDisabled", "403", "Forbidden"}
BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "UnrecognizedClientException",
}
THROTTLED = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "503",
    "429",
}
# Answers worth another attempt besides throttling: server errors, and S3's 409 for two conditional writes
# of one key at the same moment (the next attempt then finds the other's object).
TRANSIENT = {"InternalError", "ServiceUnavailable", "RequestTimeout", "ConditionalRequestConflict", "500", "502", "504"}
PRECONDITION_FAILED = {"PreconditionFailed", "412"}
# Answers that say the request itself is wrong (a key, a tag, a size): the same input fails the same way again,
# so a re-run does not help; it is bad input (exit 2), not an AWS fault (exit 3).
INVALID_INPUT = {
    "InvalidArgument",
    "KeyTooLongError",
    "InvalidRequest",
    "InvalidObjectName",
    "InvalidURI",
    "InvalidTag",
    "MalformedXML",
    "EntityTooLarge",
    "MetadataTooLarge",
    "InvalidBucketName",
    "InvalidStorageClass",
    "400",
}
NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class PublishError(Exception):
    """An AWS, network or consistency problem: one line for the user, and whether a re-run can continue."""

    def __init__(self, message: str, resumable: bool = True):
        self.resumable = resumable
        super().__init__(message)


class DeadlineExceeded(BotoCoreError):
    """A request that did not finish within its deadline (``REQUEST_DEADLINE``): retried like a timeout."""

    fmt = "no complete answer within {seconds:.0f} s"


class KeyExists(PublishError):
    """A conditional write found the key taken (HTTP 412): the caller compares what is there."""

    def __init__(self, key: str):
        super().__init__(f"{key} exists", resumable=False)
        self.key = key


@dataclass
class PublishState:
    """What a run has written so far: said when it is interrupted."""

    bucket_created: bool = False
    claimed: bool = False
    uploaded: list = field(default_factory=list)
    in_flight: str | None = None  # the key being written when the run stopped: it may or may not have landed


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
    """One updating line on a terminal; plain lines otherwise (CI logs).  Retries always get a line."""

    def __init__(self, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.total = self.done = self.bytes = 0
        self._open = False  # an updating line is on screen

    def _line(self, text: str) -> None:
        if self._open:
            print(file=self.stream)
            self._open = False
        print(text, file=self.stream, flush=True)

    def start(self, total: int, total_bytes: int) -> None:
        self.total = total
        if not self.interactive:
            print(f"uploading {total} object(s), {total_bytes} bytes", file=self.stream, flush=True)

    def _update(self, artifact: Artifact, plain: str) -> None:
        self.done += 1
        if self.interactive:
            print(
                f"\r[{self.done}/{self.total}] {self.bytes / 1024:8.1f} KiB  {artifact.key[-60:]:<60}",
                end="",
                file=self.stream,
                flush=True,
            )
            self._open = True
        else:
            print(plain, file=self.stream, flush=True)

    def uploaded(self, artifact: Artifact) -> None:
        self.bytes += artifact.size
        self._update(artifact, f"uploaded {artifact.key} ({artifact.size} bytes)")

    def unchanged(self, artifact: Artifact) -> None:
        self._update(artifact, f"unchanged {artifact.key} (already there with the same content)")

    def retry(self, what: str, attempt: int, attempts: int, error: str) -> None:
        self._line(f"retrying {what} (attempt {attempt}/{attempts}) after {error}")

    def waiting(self, what: str, seconds: float, deadline: float) -> None:
        self._line(f"still {what}: {seconds:.0f} s without a complete answer (giving up after {deadline:.0f} s)")

    def finish(self) -> None:
        if self._open:
            print(file=self.stream, flush=True)
            self._open = False


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def retryable(exc: Exception) -> bool:
    """Throttling, server errors, timeouts and connection errors: another attempt may succeed."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _code(exc) in THROTTLED | TRANSIENT or status >= 500 or status == 429
    if isinstance(exc, (SSLError, ProxyConnectionError)):
        return False  # configuration, not luck
    return isinstance(exc, (BotoConnectionError, HTTPClientError, DeadlineExceeded))


def bad_input(exc: Exception) -> bool:
    """An answer (or a client-side check) that says the request itself is wrong: the same input fails again."""
    from botocore.exceptions import ParamValidationError

    if isinstance(exc, ParamValidationError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _code(exc) in INVALID_INPUT and (status == 400 or not status)
    return False


def brief(exc: Exception) -> str:
    """The error in a few words, for a retry line."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{_code(exc)}" + (f" ({message})" if message and message != _code(exc) else "")
    return f"{type(exc).__name__}: {exc}"


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped, half of it random."""
    delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def describe_error(exc: Exception, what: str, attempts: int = 1) -> str:
    """One line saying what went wrong while doing ``what`` (after ``attempts`` attempts)."""
    after = f" after {attempts} attempts" if attempts > 1 else ""
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE, --profile or "
            "environment variables) and run again"
        )
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile not found: {exc.kwargs.get('profile')} (see aws configure list-profiles)"
    if isinstance(exc, (ReadTimeoutError, DeadlineExceeded)):
        return f"no answer from AWS while {what}{after} ({exc}): check the network, --region and --endpoint-url"
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, BotoConnectionError, HTTPClientError)):
        return f"cannot reach AWS while {what}{after}: {exc} (check the network, --region and --endpoint-url)"
    if isinstance(exc, ClientError):
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or code
        if code in ACCESS_DENIED:
            return f"access denied while {what}: the caller needs the S3 permission for it ({message})"
        if code in BAD_CREDENTIALS:
            return f"AWS rejected the credentials while {what}: {message}"
        if code in THROTTLED:
            return f"AWS kept throttling{after} while {what}; run again later to continue"
        return f"AWS error while {what}{after}: {code}: {message}"
    return f"error while {what}: {type(exc).__name__}: {exc}"


class S3Publisher:
    def __init__(
        self,
        bucket: str,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        progress: Progress | None = None,
    ):
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
        self.warnings: list[str] = []  # lines for the user that do not stop the run
        self.state = PublishState()  # what this run has left in the bucket so far (for an interruption)
        # One attempt per botocore call: the retries are ours (bounded, visible, with the conditional-write
        # logic above).
        config = BotoConfig(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            user_agent_extra=f"sagemaker-secure-mlops-templates/{__version__}",
        )
        try:
            self.s3 = self.session.client("s3", region_name=self.region, endpoint_url=endpoint_url, config=config)
        except ValueError as exc:  # botocore: "Invalid endpoint: ..."
            raise PublishError(f"--endpoint-url: {endpoint_url!r} cannot be used: {exc}", resumable=False) from None
        self._config = config

    # -- helpers ---------------------------------------------------------------------------------------
    def _attempt(self, what: str, fn: Callable[..., Any], _size: int = 0, **kwargs) -> Any:
        """``fn(**kwargs)``, retried on transient errors; the last botocore exception is raised as it is.

        Each attempt has a deadline (``REQUEST_DEADLINE`` plus ``_size`` bytes at ``MIN_RATE``), and says what it
        waits on while it takes long."""
        attempts = MAX_ATTEMPTS
        deadline = REQUEST_DEADLINE + _size / MIN_RATE
        for attempt in range(1, attempts + 1):
            try:
                return self._within(what, deadline, fn, kwargs)
            except (BotoCoreError, ClientError) as exc:
                if attempt == attempts or not retryable(exc):
                    raise
                self.progress.retry(what, attempt + 1, attempts, brief(exc))
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    def _within(self, what: str, deadline: float, fn: Callable[..., Any], kwargs: dict) -> Any:
        """``fn(**kwargs)`` in a worker thread, given up after ``deadline`` seconds (DeadlineExceeded); the
        abandoned request ends with its connection, in the background (a daemon thread never holds the run)."""
        import queue
        import threading

        results: queue.Queue = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                results.put((True, fn(**kwargs)))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
                results.put((False, exc))

        threading.Thread(target=run, name=f"s3 {what}", daemon=True).start()
        start = time.monotonic()
        while True:
            left = deadline - (time.monotonic() - start)
            if left <= 0:
                raise DeadlineExceeded(seconds=deadline)
            try:
                ok, value = results.get(timeout=min(left, WAIT_NOTICE))
            except queue.Empty:
                if time.monotonic() - start < deadline:
                    self.progress.waiting(what, time.monotonic() - start, deadline)
                continue
            if ok:
                return value
            raise value

    def _error(self, exc: Exception, what: str) -> PublishError:
        """The PublishError for a botocore error: bad input is not resumable (exit 2), the rest is (exit 3)."""
        if bad_input(exc):
            return PublishError(
                f"AWS refused {what}: {brief(exc)} - the request itself is wrong (nothing of this "
                "run can fix it by trying again)",
                resumable=False,
            )
        return PublishError(describe_error(exc, what, MAX_ATTEMPTS if retryable(exc) else 1))

    def _call(self, what: str, fn: Callable[..., Any], **kwargs) -> Any:
        try:
            return self._attempt(what, fn, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, what) from None

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def target(self, prefix: str) -> Target:
        import botocore.session

        try:
            partition = self.session.get_partition_for_region(self.region)
        except UnknownRegionError:
            raise PublishError(
                f"--region: {self.region!r} is not an AWS region botocore knows: pass --region with "
                "a region like eu-west-1",
                resumable=False,
            ) from None
        suffixes = {
            p["partition"]: p["dnsSuffix"] for p in botocore.session.get_session().get_data("endpoints")["partitions"]
        }
        return Target(self.bucket, prefix, self.region, suffixes[partition])

    def account_id(self) -> str | None:
        try:
            sts = self.session.client(
                "sts", region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
            )
            return sts.get_caller_identity()["Account"]
        except (BotoCoreError, ClientError, ValueError):
            return None

    # -- bucket ----------------------------------------------------------------------------------------
    def check_bucket(self, create: bool = False) -> bool:
        """Whether the bucket exists (in the target region); a missing bucket is an error unless ``create``.

        Reads only: the caller creates a missing bucket (``create_bucket``) once the release is planned.

        GetBucketLocation answers existence and region in one call, from any region, and needs only
        s3:GetBucketLocation (HeadBucket would need an unconditioned s3:ListBucket).
        """
        what = f"checking bucket {self.bucket}"
        try:
            location = self._attempt(what, self.s3.get_bucket_location, Bucket=self.bucket).get("LocationConstraint")
        except ClientError as exc:
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                if not create:
                    raise PublishError(
                        f"bucket {self.bucket} does not exist: create it with --create-bucket "
                        f"(or aws s3 mb s3://{self.bucket} --region {self.region})",
                        resumable=False,
                    ) from None
                return False
            if code in (
                "301",
                "PermanentRedirect",
                "AuthorizationHeaderMalformed",
                "IllegalLocationConstraintException",
            ):
                raise PublishError(self._wrong_region_message(), resumable=False) from None
            raise self._error(exc, what) from None
        except BotoCoreError as exc:
            raise self._error(exc, what) from None
        actual = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if actual != self.region:
            raise PublishError(self._wrong_region_message(actual), resumable=False)
        return True

    def _wrong_region_message(self, actual: str | None = None) -> str:
        where = f"is in {actual}" if actual else "is in another region"
        return (
            f"bucket {self.bucket} {where}, not {self.region}: templates must be in the stack's region; "
            f"pass --region {actual or '<the bucket region>'} or use a bucket in {self.region}"
        )

    def create_bucket(self) -> None:
        """A bucket fit for templates: private, encrypted, versioned, owner-enforced, TLS only, and readable by
        Studio's web app (CORS) so that Studio lists the release's S3 project templates.

        A bucket of ours that appeared meanwhile (another run, or a retried create that went through) is
        configured the same way.
        """
        what = f"creating bucket {self.bucket}"
        self.state.bucket_created = True
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._attempt(what, self.s3.create_bucket, **kwargs)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise self._error(exc, what) from None
        except BotoCoreError as exc:
            raise self._error(exc, what) from None
        self._call(
            what,
            self.s3.put_public_access_block,
            Bucket=self.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        self._call(
            what,
            self.s3.put_bucket_encryption,
            Bucket=self.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
            },
        )
        self._call(
            what, self.s3.put_bucket_versioning, Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        self._call(
            what,
            self.s3.put_bucket_ownership_controls,
            Bucket=self.bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        )
        self._call(
            what, self.s3.put_bucket_cors, Bucket=self.bucket, CORSConfiguration={"CORSRules": [STUDIO_CORS_RULE]}
        )
        if (self.endpoint_url or "").startswith("http://"):
            return  # a local stand-in without TLS: a TLS-only policy would lock everyone out
        partition = self.session.get_partition_for_region(self.region)
        arn = f"arn:{partition}:s3:::{self.bucket}"
        self._call(what, self.s3.put_bucket_policy, Bucket=self.bucket, Policy=json.dumps(release_bucket_policy(arn)))

    def studio_can_read(self) -> bool | None:
        """Whether the bucket's CORS configuration lets Studio's web app read templates; None when it cannot be
        read (no s3:GetBucketCORS)."""
        what = f"reading the CORS configuration of {self.bucket}"
        try:
            rules = self._attempt(what, self.s3.get_bucket_cors, Bucket=self.bucket).get("CORSRules", [])
        except ClientError as exc:
            if _code(exc) == "NoSuchCORSConfiguration":
                return False
            if _code(exc) in ("AccessDenied", "403"):
                return None
            raise self._error(exc, what) from None
        except BotoCoreError as exc:
            raise self._error(exc, what) from None
        return cors_allows(rules, f"https://d-0123456789ab.studio.{self.region}.sagemaker.aws", "GET")

    # -- reading ---------------------------------------------------------------------------------------
    def _list(self, prefix: str, what: str) -> list[str]:
        keys, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(what, self.s3.list_objects_v2, **kwargs)
            keys += [o["Key"] for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return keys

    def published_manifests(self, prefix: str, version: str | None = None) -> list[dict]:
        """Every published release under the prefix (manifests only: a release without one does not exist).

        Each manifest is validated (``model.parse_manifest``).  A malformed one of another release is skipped
        with a line in ``warnings``; a malformed one of ``version`` (the release being published) stops the
        run, since a release is never published over whatever holds its manifest key.
        """
        root = layout.releases_prefix(prefix)
        keys = [k for k in self._list(root, "listing published releases") if k.endswith("/" + layout.MANIFEST)]
        manifests = []
        for key in sorted(keys):
            release = key[len(root) : -len("/" + layout.MANIFEST)]
            try:
                manifests.append(parse_manifest(self._read(key), release))
            except ManifestError as exc:
                if release == version:
                    raise PublishError(
                        f"release {version}: {self._url(key)} is not a release manifest ({exc}); nothing is ever "
                        "published over it: set a new `version` in the configuration, or remove that object if "
                        "it is not a release",
                        resumable=False,
                    ) from None
                self.warnings.append(
                    f"{self._url(key)} is not a release manifest ({exc}): release {release} is "
                    "ignored (no Service Catalog product version for it)"
                )
        return manifests

    def _keys(self, prefix: str) -> set[str]:
        """Every key under the release prefix: one listing instead of a request per object.

        Listing is what s3:ListBucket with an s3:prefix condition allows; a HEAD on a missing key would need
        the unconditioned permission to answer 404 instead of 403.
        """
        return set(self._list(prefix.rstrip("/") + "/", f"listing s3://{self.bucket}/{prefix}/"))

    def _recorded_sha(self, key: str) -> str | None:
        """SHA-256 recorded on an existing object (None when it was uploaded by something else)."""
        head = self._call(f"checking {self._url(key)}", self.s3.head_object, Bucket=self.bucket, Key=key)
        return head.get("Metadata", {}).get("sha256")

    def _get_bytes(self, Key: str) -> bytes:  # noqa: N803 - boto3's spelling, through _call(**kwargs)
        return self.s3.get_object(Bucket=self.bucket, Key=Key)["Body"].read()

    def _read(self, key: str) -> bytes:
        """The object's bytes (the body is read inside the retried call: a stalled body is retried too)."""
        return self._call(f"reading {self._url(key)}", self._get_bytes, Key=key)

    def _unless_missing(self, what: str, fn, **kwargs):
        """``fn(**kwargs)`` with retries; None when the object does not exist, a PublishError otherwise."""
        try:
            return self._attempt(what, fn, **kwargs)
        except ClientError as exc:
            if _code(exc) in NOT_FOUND:
                return None
            raise self._error(exc, what) from None
        except BotoCoreError as exc:
            raise self._error(exc, what) from None

    def _read_if_exists(self, key: str) -> bytes | None:
        return self._unless_missing(f"reading {self._url(key)}", self._get_bytes, Key=key)

    def _same_content(self, artifact: Artifact) -> bool | None:
        """Whether the object at the artifact's key holds its bytes; None when there is no object."""
        head = self._unless_missing(
            f"checking {self._url(artifact.key)}", self.s3.head_object, Bucket=self.bucket, Key=artifact.key
        )
        if head is None:
            return None
        recorded = head.get("Metadata", {}).get("sha256")
        if recorded:
            return recorded == artifact.sha256
        body = self._read_if_exists(artifact.key)
        return None if body is None else body == artifact.content()

    # -- the claim -------------------------------------------------------------------------------------
    def _read_claim(self, plan: Plan) -> Claim | None:
        """The release's claim; None when there is none.  An unreadable claim is nobody's (not this run's)."""
        body = self._read_if_exists(layout.claim_key(plan.target.prefix, plan.release))
        if body is None:
            return None
        return Claim.parse(body) or Claim(plan.release, "<unreadable claim>")

    def _release_folder(self, plan: Plan) -> str:
        return self._url(layout.release_folder(plan.target.prefix, plan.release))

    def clear_command(self, plan: Plan) -> str:
        """The command that removes an unpublished release's claim and aliases (safe while no run is active:
        nothing under it is published until its manifest exists)."""
        import shlex

        folder = self._release_folder(plan)
        extra = f" --endpoint-url {shlex.quote(self.endpoint_url)}" if self.endpoint_url else ""
        return f"aws s3 rm {shlex.quote(folder)} --recursive --region {self.region}{extra}"

    def _what_to_do(self, plan: Plan) -> str:
        return (
            f"set a new `version` in the configuration, or, if no other run is active, clear the unpublished "
            f"release (nothing under {self._release_folder(plan)} is published until its {layout.MANIFEST} "
            f"exists) with `{self.clear_command(plan)}` and run again"
        )

    def _other_content_published(self, plan: Plan) -> PublishError:
        assert plan.manifest is not None
        return PublishError(
            f"release {plan.release} is already published in {self._url(plan.manifest.key)} with other content; "
            f"published releases are never changed: set a new `version` in the configuration",
            resumable=False,
        )

    def _claimed_by_other(self, plan: Plan, theirs: Claim) -> PublishError:
        assert plan.manifest is not None
        if self._read_if_exists(plan.manifest.key) is not None:  # the other run has finished meanwhile
            return self._other_content_published(plan)
        return PublishError(
            f"release {plan.release} is being published (or was interrupted) by another run with other content "
            f"({theirs.who()}, {self._url(layout.claim_key(plan.target.prefix, plan.release))}); nothing of this "
            f"run was published: {self._what_to_do(plan)}",
            resumable=False,
        )

    def claim(self, plan: Plan) -> Claim:
        """Claim the release for this plan's identity (conditional write); raise if another identity holds it."""
        key = layout.claim_key(plan.target.prefix, plan.release)
        mine = Claim(
            plan.release,
            plan.identity,
            socket.gethostname(),
            os.getpid(),
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for _ in range(3):
            try:
                self._put_object(
                    key, mine.body(), "application/json", f"claiming release {plan.release}", IfNoneMatch="*"
                )
                return mine
            except KeyExists:
                pass
            theirs = self._read_claim(plan)
            if theirs is None:
                continue  # deleted between our write and our read: claim again
            if theirs.identity == plan.identity:
                return theirs  # the same release: continue (or finish) it
            raise self._claimed_by_other(plan, theirs)
        raise PublishError(f"the claim {self._url(key)} keeps appearing and disappearing; run again")

    def _release_claim(self, plan: Plan) -> bool:
        """Remove the release's claim if it is still this run's (a run that fails for a reason a re-run cannot fix
        must not block the fixed run); False when it is not ours or cannot be removed."""
        key = layout.claim_key(plan.target.prefix, plan.release)
        try:
            theirs = self._read_claim(plan)
            if theirs is None or theirs.identity != plan.identity:
                return False
            self._attempt(f"releasing the claim {self._url(key)}", self.s3.delete_object, Bucket=self.bucket, Key=key)
            self.state.claimed = False
            return True
        except (PublishError, BotoCoreError, ClientError):
            return False

    def _confirm_claim(self, plan: Plan) -> None:
        """Right before the manifest: the claim must still be this identity's (claimed again if deleted)."""
        theirs = self._read_claim(plan)
        if theirs is None:
            self.claim(plan)
        elif theirs.identity != plan.identity:
            raise PublishError(
                f"release {plan.release} was claimed by another run with other content while this run was "
                f"uploading ({theirs.who()}); this run did not write its manifest, so nothing of it was "
                f"published: {self._what_to_do(plan)}",
                resumable=False,
            )

    # -- writing ---------------------------------------------------------------------------------------
    def _put_object(self, key: str, body: bytes | Artifact, content_type: str, what: str, tags=(), **extra) -> None:
        """PutObject with the body's SHA-256 as metadata; KeyExists when a condition (If-None-Match) fails.

        ``body``: bytes, or an artifact, whose bytes are streamed afresh for each attempt."""
        from templates_src.release.model import sha

        artifact = body if isinstance(body, Artifact) else None
        digest = artifact.sha256 if artifact is not None else sha(body)
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": {"sha256": digest},
            **extra,
        }
        if tags:
            from urllib.parse import urlencode

            kwargs["Tagging"] = urlencode(tags)

        def put(**kw):
            if artifact is None:
                return self.s3.put_object(Body=body, **kw)
            with artifact.open() as stream:
                return self.s3.put_object(Body=stream, ContentLength=artifact.size, **kw)

        self.state.in_flight = key
        try:
            self._attempt(what, put, _size=artifact.size if artifact is not None else len(body), **kwargs)
            self.state.in_flight = None
        except ClientError as exc:
            if _code(exc) in PRECONDITION_FAILED:
                raise KeyExists(key) from None
            raise self._error(exc, what) from None
        except BotoCoreError as exc:
            raise self._error(exc, what) from None

    def _put(self, artifact: Artifact, **extra) -> None:
        self._put_object(
            artifact.key,
            artifact,
            artifact.content_type,
            f"uploading {self._url(artifact.key)}",
            artifact.tags,
            **extra,
        )

    def _conflict(self, plan: Plan, artifact: Artifact) -> PublishError:
        """Another object is at the artifact's key: never overwritten; what that means depends on the key."""
        where = self._url(artifact.key)
        if artifact.kind == "manifest":
            return PublishError(
                f"release {plan.release} was published meanwhile by another run with other content ({where}); "
                "published releases are never changed and nothing of this run is part of it: set a new "
                "`version` in the configuration",
                resumable=False,
            )
        if artifact.kind in RELEASE_FOLDER_KINDS:
            return PublishError(
                f"{where} exists with other content: another run is publishing release {plan.release} with other "
                f"content (or was interrupted); nothing was overwritten and release {plan.release} is not "
                f"published: {self._what_to_do(plan)}",
                resumable=False,
            )
        return PublishError(
            f"{where} exists with other content; content-addressed objects are never overwritten "
            f"(was it changed by hand?) - release {plan.release} is not published",
            resumable=False,
        )

    def _write_new(self, plan: Plan, artifact: Artifact) -> bool:
        """Write the artifact only where there is nothing yet: True if written, False if the same bytes were
        there already; PublishError if other bytes are."""
        for _ in range(3):
            try:
                self._put(artifact, IfNoneMatch="*")
                return True
            except KeyExists:
                pass
            same = self._same_content(artifact)
            if same is None:
                continue  # deleted between our write and our read: write again
            if same:
                return False
            raise self._conflict(plan, artifact)
        raise PublishError(f"{self._url(artifact.key)} keeps appearing and disappearing; run again")

    # -- publishing ------------------------------------------------------------------------------------
    def pending(
        self, plan: Plan, bucket_exists: bool = True
    ) -> tuple[list[Artifact], list[Artifact], list[Artifact], bool, list[Artifact]]:
        """(to upload, unchanged, to re-tag, already published, release aliases with other content).

        Raises when a content-addressed object holds other bytes, or the release is published with other
        content.  Reads only.
        """
        manifest = plan.manifest
        assert manifest is not None
        existing = self._keys(plan.target.prefix) if bucket_exists else set()
        if manifest.key in existing:
            if self._read(manifest.key) == manifest.body:
                return [], plan.all(), [], True, []
            raise self._other_content_published(plan)
        upload, unchanged, retag, conflicts = [], [], [], []
        for artifact in plan.artifacts:
            if artifact.key not in existing:
                upload.append(artifact)
                continue
            recorded = self._recorded_sha(artifact.key)
            if recorded == artifact.sha256 or (recorded is None and self._read(artifact.key) == artifact.content()):
                unchanged.append(artifact)
                if artifact.tags and not self._has_tags(artifact):
                    retag.append(artifact)
            elif artifact.kind in RELEASE_FOLDER_KINDS:
                conflicts.append(artifact)  # reported after the claim check: that message says more
            else:
                raise self._conflict(plan, artifact)
        return upload, unchanged, retag, False, conflicts

    def _has_tags(self, artifact: Artifact) -> bool:
        tags = self._call(
            f"reading the tags of {self._url(artifact.key)}",
            self.s3.get_object_tagging,
            Bucket=self.bucket,
            Key=artifact.key,
        ).get("TagSet", [])
        return set(artifact.tags) <= {(t["Key"], t["Value"]) for t in tags}

    def publish(self, plan: Plan, dry_run: bool = False, bucket_exists: bool = True) -> Report:
        """Claim, upload what is missing (conditionally), confirm the claim, write the manifest.

        A dry run reads the same things (including the claim) and stops where the real run would, writing
        nothing.
        """
        start = time.perf_counter()
        manifest = plan.manifest
        assert manifest is not None
        upload, unchanged, retag, published, conflicts = self.pending(plan, bucket_exists)
        report = Report(unchanged=unchanged, already_published=published)
        if published:
            report.retagged = retag
            report.seconds = time.perf_counter() - start
            return report
        if bucket_exists:
            theirs = self._read_claim(plan)
            if theirs is not None and theirs.identity != plan.identity:
                raise self._claimed_by_other(plan, theirs)
        if conflicts:
            raise self._conflict(plan, conflicts[0])
        if dry_run:
            report.uploaded = upload + [manifest]
            report.retagged = retag
            report.seconds = time.perf_counter() - start
            return report
        self.claim(plan)
        self.state.claimed = True
        self.state.uploaded = report.uploaded
        self.progress.start(len(upload) + 1, sum(a.size for a in upload) + manifest.size)
        try:
            for artifact in upload:
                if self._write_new(plan, artifact):
                    report.uploaded.append(artifact)
                    self.progress.uploaded(artifact)
                else:
                    report.unchanged.append(artifact)
                    self.progress.unchanged(artifact)
            for artifact in retag:
                self._call(
                    f"tagging {self._url(artifact.key)}",
                    self.s3.put_object_tagging,
                    Bucket=self.bucket,
                    Key=artifact.key,
                    Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in artifact.tags]},
                )
                report.retagged.append(artifact)
            # Last, and only while the release is still ours: now the release exists.
            self._confirm_claim(plan)
            if self._write_new(plan, manifest):
                report.uploaded.append(manifest)
                self.progress.uploaded(manifest)
            else:
                report.already_published = True  # an identical run published it meanwhile
        except PublishError as exc:
            if not exc.resumable:
                released = self._release_claim(plan)
                raise PublishError(
                    f"{exc}"
                    + (
                        f" - release {plan.release} is not published; this run's claim was released and its "
                        f"{len(report.uploaded)} uploaded object(s) are kept (content-addressed: a later "
                        "run reuses them)"
                        if released
                        else ""
                    ),
                    resumable=False,
                ) from None
            raise PublishError(
                f"{exc} - release {plan.release} is not published; {len(report.uploaded)} object(s) "
                f"uploaded are kept and a new run continues from there",
                exc.resumable,
            ) from None
        finally:
            self.progress.finish()
        report.seconds = time.perf_counter() - start
        return report
