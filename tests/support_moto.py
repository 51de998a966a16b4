"""A local moto server for tests that drive the real AWS CLI (and boto3) against it.

tests/conftest.py makes the fixtures available to every test module; import the helpers::

    from tests.support_moto import aws, wait_for_stack

* ``moto_server`` (session): one moto server on 127.0.0.1 at a free port for the whole run.
* ``moto`` (function): the same server, its state reset before the test.
* ``aws(server, *args, check=True)``: runs the real AWS CLI of this interpreter against the server.

The server makes S3's conditional writes (``If-None-Match: *``) atomic, as S3 does: moto checks and then
writes without a lock, so two requests served by two server threads at the same moment could both pass
the check (``atomic_conditional_puts``).

Nothing here reaches the internet or a real AWS account: the CLI gets fake credentials, empty
config/credentials files, a temporary HOME, no profile, no instance metadata lookups, and
``AWS_ENDPOINT_URL`` (honoured by awscli 1.46 for every service, including the S3 uploads of
``aws cloudformation package``) pointing at the server.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
CLI_TIMEOUT = 120  # seconds for one CLI call; a local call takes about half a second


@functools.cache
def _loader():
    """botocore's loader of service models, shared by every session of a test process (``share_service_models``):
    a new session would otherwise read and decode the model files again (about a quarter of a second each)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


def share_service_models() -> None:
    """Every botocore session of this process gets the shared loader (``_loader``): the product's own sessions
    that tests run in-process (a package, a cleanup, a release listing: a new session each) and moto's, as
    well as the tests' clients.  The models are the same files, read once per process instead of once per
    session; botocore reads them, never changes them.  A session given its own data path keeps its own
    loader."""
    import botocore.session

    if getattr(botocore.session.create_loader, "shared", False):
        return
    create_loader = botocore.session.create_loader

    def shared(search_path_string=None):
        return _loader() if search_path_string is None else create_loader(search_path_string)

    shared.shared = True
    botocore.session.create_loader = shared


class MotoServer:
    """A running moto server: ``url``, ``env`` for subprocesses, ``reset()`` and ``client(service)``."""

    def __init__(self, url: str, home: pathlib.Path) -> None:
        self.url = url
        self.home = home
        self.account_id = ACCOUNT_ID
        self.region = REGION
        self.config_file = home / "config"
        self.credentials_file = home / "credentials"
        self.config_file.write_text("")
        self.credentials_file.write_text("")
        # For in-process clients: botocore insists that a profile named explicitly exists.
        self._client_config_file = home / "client-config"
        self._client_config_file.write_text("[default]\n")
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        # Drop every AWS_* variable of the caller (AWS_PROFILE, AWS_CA_BUNDLE, AWS_DATA_PATH,
        # AWS_ENDPOINT_URL_<SERVICE>, AWS_SESSION_TOKEN, ...) so nothing points anywhere else.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AWS_")}
        no_proxy = ",".join(x for x in (env.get("NO_PROXY") or env.get("no_proxy"), "127.0.0.1,localhost") if x)
        env.update(
            HOME=str(self.home),  # no ~/.aws (config, models, cli cache) of the real user
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION=self.region,
            AWS_REGION=self.region,
            AWS_ENDPOINT_URL=self.url,
            AWS_CONFIG_FILE=str(self.config_file),
            AWS_SHARED_CREDENTIALS_FILE=str(self.credentials_file),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
            AWS_RETRY_MODE="standard",
            AWS_MAX_ATTEMPTS="2",
            NO_PROXY=no_proxy,
            no_proxy=no_proxy,
        )
        return env

    def reset(self) -> None:
        """Forget every resource (POST /moto-api/reset)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            assert response.status == 200, f"moto reset failed: HTTP {response.status}"

    def client(self, service: str, **kwargs: Any):
        """A boto3 client bound to the server; never reads the caller's AWS configuration."""
        import boto3
        import botocore.session

        core = botocore.session.Session()  # its service models: the process's shared loader (share_service_models)
        core.set_config_variable("config_file", str(self._client_config_file))
        core.set_config_variable("credentials_file", str(self.credentials_file))
        core.set_config_variable("profile", "default")  # not the caller's AWS_PROFILE
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name=kwargs.pop("region_name", self.region),
            botocore_session=core,
        )
        return session.client(service, endpoint_url=self.url, **kwargs)


def atomic_conditional_puts():
    """Serialize moto's PutObject handler (check-then-write) like S3; returns a function that undoes it."""
    import threading

    from moto.s3.responses import S3Response

    original = S3Response.put_object
    lock = threading.Lock()

    def put_object(self, *args, **kwargs):
        with lock:
            return original(self, *args, **kwargs)

    S3Response.put_object = put_object

    def undo() -> None:
        S3Response.put_object = original

    return undo


@pytest.fixture(scope="session")
def moto_server():
    """One moto server on 127.0.0.1 (free port) for the whole test session."""
    from moto.server import ThreadedMotoServer

    undo_atomic = atomic_conditional_puts()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    home = pathlib.Path(tempfile.mkdtemp(prefix="moto-aws-home-"))
    try:
        # Port 0 lets the OS pick a free port (no race); moto has no public accessor for it,
        # so read it from the underlying werkzeug server.
        port = server._server.server_port
        yield MotoServer(f"http://127.0.0.1:{port}", home)
    finally:
        server.stop()
        undo_atomic()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def moto(moto_server):
    """The session's moto server with a clean state for this test."""
    moto_server.reset()
    return moto_server


def moto_limitation(what: str, observed: str) -> None:
    """Skip the rest of a test that met a limitation of moto (not of the templates), saying what was observed.

    A test that works around moto asserts the templates' behaviour, never moto's error text: where moto does
    what AWS does, the test runs its real assertions; where it does not, it ends here with the moto version,
    what could not be shown and the first line of what moto answered (a later moto that answers differently
    still skips, with the new observation, instead of failing).
    """
    import moto as moto_package

    first = next((line.strip() for line in observed.splitlines() if line.strip()), "(no output)")
    pytest.skip(f"moto {moto_package.__version__} cannot {what} (observed: {first[:300]})")


def aws_command() -> list[str]:
    """The AWS CLI of the running interpreter (never an `aws` found on PATH)."""
    return [sys.executable, "-m", "awscli"]


def aws(
    server: MotoServer,
    *args: str,
    check: bool = True,
    timeout: float = CLI_TIMEOUT,
    cwd: str | os.PathLike | None = None,
) -> tuple[int, Any, str]:
    """Run ``aws ARGS --output json`` against the moto server.

    Returns (returncode, stdout parsed as JSON, or the stripped text when it is not JSON, stderr).
    With ``check`` a non-zero exit raises AssertionError showing the command, stdout and stderr.
    """
    command = [*aws_command(), *map(str, args)]
    if "--output" not in args:
        command += ["--output", "json"]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command, env=server.env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"aws {' '.join(command[3:])} timed out after {timeout} s\nstdout:\n{exc.stdout}\nstderr:\n{exc.stderr}"
        ) from None
    elapsed = time.monotonic() - started
    text = result.stdout.strip()
    try:
        output: Any = json.loads(text) if text else ""
    except ValueError:
        output = text
    if check and result.returncode != 0:
        raise AssertionError(
            f"aws {' '.join(command[3:])} exited {result.returncode} after {elapsed:.1f} s\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.returncode, output, result.stderr


def wait_for_stack(server: MotoServer, stack_name: str, timeout: float = 60.0) -> dict:
    """Poll describe_stacks (boto3, cheap) until the stack leaves *_IN_PROGRESS; return the stack."""
    cloudformation = server.client("cloudformation")
    deadline = time.monotonic() + timeout
    while True:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("_IN_PROGRESS"):
            return stack
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {stack_name} still {status} after {timeout} s")
        time.sleep(0.1)


def policy_document(value: Any) -> dict:
    """An IAM policy document as a dict, whatever form the API gave it in.

    Real IAM returns URL-encoded JSON (which the CLI and boto3 decode to a dict); moto returns
    inline policies created by CloudFormation as the Python ``repr`` of a dict (single quotes).
    """
    if isinstance(value, dict):
        return value
    text = urllib.parse.unquote(value) if "%7B" in value.upper() else value
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def statements(document: dict) -> list[dict]:
    found = document.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def stack_outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def bucket_objects(server: MotoServer, bucket: str) -> dict[str, str]:
    """key -> ETag of everything in ``bucket``."""
    s3, out, token = server.client("s3"), {}, None
    while True:
        page = s3.list_objects_v2(Bucket=bucket, **({"ContinuationToken": token} if token else {}))
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        token = page.get("NextContinuationToken")
        if not token:
            return out
