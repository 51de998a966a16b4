"""Helpers for driving CloudFormation custom-resource Lambda handlers locally.

* ``ResponseRecorder``: a real HTTP server on 127.0.0.1 standing in for the pre-signed S3 response URL; it
  records every request (method, path, headers, body) and can fail or delay its answers.
* ``FakeContext``: the parts of the Lambda context object the runtime uses, with a real deadline.
* ``cfn_event``: a CloudFormation custom-resource request as Lambda receives it.
* ``load_*``: the three shapes in which handler code reaches Lambda (source modules, the inlined
  ``Code.ZipFile`` string, the deployment zip), each loaded in isolation so that one never borrows
  ``cfn_runtime`` from another.
* ``stub_operation``: answer one botocore operation with a canned response (moto serves everything else).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pathlib
import socket
import sys
import threading
import time
import types
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Imported before any boto3 session exists: moto hooks into botocore's handlers when it is imported, and
# sessions created earlier would bypass the mock.
from moto import mock_aws

FUNCTIONS_DIR = pathlib.Path(__file__).resolve().parents[1] / "templates_src" / "functions"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/test-stack/0b5d8a70-1234-11ef-9cde-0a1b2c3d4e5f"
SERVICE_TOKEN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"

# The real sleep, kept before any test replaces time.sleep (the recorder's delay must really wait).
time_sleep = time.sleep

# Module names a handler load may bind; cleared before and restored after every isolated import.
# Every handler module (and the runtime and a zip's index): imported afresh from the folder each time.
_ISOLATED = ("index", *sorted(path.stem for path in FUNCTIONS_DIR.glob("*.py") if path.stem != "__init__"))


# --------------------------------------------------------------------------------------------------------
# Response URL stand-in


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class ResponseRecorder:
    """HTTP server recording each request; the first ``fail_first`` get ``fail_status``.

    ``delay`` seconds pass between recording a request and answering it, so a test can observe a
    response that is on its way but not yet delivered (``received`` is set, ``completed`` not yet).
    """

    fail_first: int = 0
    fail_status: int = 500
    delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    completed: int = 0
    received: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with recorder._lock:
                    recorder.requests.append(
                        RecordedRequest(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
                    )
                    failing = len(recorder.requests) <= recorder.fail_first
                recorder.received.set()
                if recorder.delay:
                    time_sleep(recorder.delay)
                # Counted before the reply is written: a client that has its answer always sees it counted.
                with recorder._lock:
                    recorder.completed += 1
                self.send_response(recorder.fail_status if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST = do_GET = _record

            def log_message(self, *args):  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True)

    def __enter__(self) -> "ResponseRecorder":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)

    @property
    def url(self) -> str:
        """Shaped like a pre-signed S3 URL: the path and query string must reach the server unchanged."""
        host, port = self._server.server_address[:2]
        return (
            f"http://{host}:{port}/cloudformation-custom-resource-response-useast1/"
            f"{STACK_ID.replace(':', '%3A').replace('/', '%2F')}%7CRes%7Creq?"
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=7200&X-Amz-Signature=abc123"
        )

    @property
    def expected_path(self) -> str:
        return self.url.split(str(self._server.server_address[1]), 1)[1]

    def single(self) -> dict:
        """The one response sent: exactly one request must have arrived; returns its JSON body."""
        assert len(self.requests) == 1, f"expected exactly one response, got {len(self.requests)}"
        return self.requests[0].json

    def wait_for(self, count: int, timeout: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            self.received.wait(0.01)
        return len(self.requests) >= count


def unreachable_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/response?X-Amz-Signature=abc"


# --------------------------------------------------------------------------------------------------------
# Lambda context and CloudFormation events


class FakeContext:
    """Lambda context with a real deadline ``remaining_ms`` after creation."""

    def __init__(self, remaining_ms: int = 60_000, function_name: str = "test-function"):
        self._deadline = time.monotonic() + remaining_ms / 1000.0
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2026/11/25/[$LATEST]{uuid.uuid4().hex}"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def cfn_event(
    request_type: str,
    response_url: str,
    properties: dict | None = None,
    *,
    physical_id: str | None = None,
    old_properties: dict | None = None,
    logical_id: str = "TestResource",
    resource_type: str = "Custom::Test",
) -> dict:
    """A custom-resource request; Update and Delete carry a PhysicalResourceId (a default one if not given)."""
    event = {
        "RequestType": request_type,
        "ServiceToken": SERVICE_TOKEN,
        "ResponseURL": response_url,
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "ResourceProperties": {"ServiceToken": SERVICE_TOKEN, **(properties or {})},
    }
    if request_type != "Create":
        event["PhysicalResourceId"] = physical_id or f"physical-{uuid.uuid4().hex[:8]}"
    elif physical_id:
        event["PhysicalResourceId"] = physical_id
    if request_type == "Update":
        event["OldResourceProperties"] = {"ServiceToken": SERVICE_TOKEN, **(old_properties or {})}
    return event


# --------------------------------------------------------------------------------------------------------
# Loading the handler code the way Lambda gets it


@contextlib.contextmanager
def _isolated_imports(directory: pathlib.Path):
    saved_modules = {name: sys.modules.pop(name) for name in _ISOLATED if name in sys.modules}
    saved_path = list(sys.path)
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved_path
        for name in _ISOLATED:
            sys.modules.pop(name, None)
        sys.modules.update(saved_modules)


def import_from(directory: pathlib.Path, module: str) -> types.ModuleType:
    """Import ``module`` (and the ``cfn_runtime`` it imports) from ``directory`` only."""
    with _isolated_imports(directory):
        loaded = importlib.import_module(module)
        runtime_file = pathlib.Path(sys.modules["cfn_runtime"].__file__).resolve()
    assert runtime_file.parent == directory.resolve(), f"cfn_runtime came from {runtime_file}"
    return loaded


def load_source(module: str) -> types.ModuleType:
    """The handler module as it sits in templates_src/functions."""
    return import_from(FUNCTIONS_DIR, module)


def load_runtime() -> types.ModuleType:
    return import_from(FUNCTIONS_DIR, "cfn_runtime")


def load_inline(source: str, name: str) -> types.ModuleType:
    """Execute an inlined ``Code.ZipFile`` string as a module; importing cfn_runtime from it would fail."""
    module = types.ModuleType(f"inline_{name}")
    module.__file__ = f"<inline {name}>"
    blocked = {n: sys.modules.get(n) for n in ("cfn_runtime",)}
    sys.modules["cfn_runtime"] = None  # makes `import cfn_runtime` raise ImportError
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        for n, m in blocked.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m
    return module


def load_zip(data: bytes, directory: pathlib.Path) -> types.ModuleType:
    """Unzip a deployment package into ``directory`` and import its ``index`` module from there."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(directory)
    return import_from(directory, "index")


# --------------------------------------------------------------------------------------------------------
# botocore stubs for operations moto does not implement


class CannedHTTPResponse:
    """What botocore expects back from a ``before-call`` handler's short-circuit (status code only)."""

    def __init__(self, status_code: int = 200):
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""


@dataclass
class OperationStub:
    """Answers ``service.operation`` with ``respond(params) -> dict`` and records the request parameters.

    ``respond`` may raise ``StubError`` to answer with an AWS error instead.
    """

    respond: object
    calls: list[dict] = field(default_factory=list)

    def __call__(self, params, **kwargs):
        body = params.get("body") or b"{}"
        request = json.loads(body) if isinstance(body, (bytes, str)) and body else dict(body or {})
        self.calls.append(request)
        try:
            parsed = self.respond(request)
        except StubError as err:
            return CannedHTTPResponse(err.status), {
                "Error": {"Code": err.code, "Message": err.message},
                "ResponseMetadata": {"HTTPStatusCode": err.status},
            }
        parsed = dict(parsed)
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": 200, "RequestId": "stub"})
        return CannedHTTPResponse(200), parsed


class StubError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@contextlib.contextmanager
def stub_operation(session, service_event_name: str, operation: str, respond):
    """Register a ``before-call`` handler on a boto3 session for one operation; always unregistered after.

    Only clients created while the stub is active see it (botocore copies the event emitter per client).
    """
    stub = OperationStub(respond)
    with _registered(session, f"before-call.{service_event_name}.{operation}", stub):
        yield stub


@contextlib.contextmanager
def count_calls(session, service_event_name: str):
    """Record the operation names of every API call of one service made by clients created meanwhile."""
    names: list[str] = []

    def record(model, **kwargs):
        names.append(model.name)

    with _registered(session, f"before-call.{service_event_name}", record):
        yield names


@contextlib.contextmanager
def _registered(session, event: str, handler):
    """A botocore event handler on the session, unregistered afterwards whatever happens."""
    unique_id = f"test-{uuid.uuid4().hex}"
    session.events.register(event, handler, unique_id=unique_id)
    try:
        yield
    finally:
        session.events.unregister(event, unique_id=unique_id)


@contextlib.contextmanager
def mocked_aws(monkeypatch, tmp_path: pathlib.Path, session):
    """moto in-process with fake credentials and no AWS configuration of the caller; boto3's default
    session (the one the handlers' ``boto3.client`` calls use) is ``session``."""
    import os

    import boto3

    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var, raising=False)
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(var, value)
    with mock_aws():
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
        yield session
