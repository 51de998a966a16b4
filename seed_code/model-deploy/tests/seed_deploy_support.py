"""Local AWS stand-ins for the seed tests: moto on 127.0.0.1 behind a small front server.

The front server answers the few calls a test takes over (calls moto does not implement, such as
PutModelPackageGroupPolicy and sagemaker-runtime InvokeEndpoint, or answers a test wants to control, such as an
endpoint's status) and forwards every other request to moto unchanged.  It records every request, so tests can
assert what the scripts asked AWS to do.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import re
import shutil
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SEED_ROOT = Path(__file__).resolve().parents[1]

# What the project's CodeBuild project sets for the deploy build, with made-up values.
OWN_ACCOUNT = "123456789012"  # moto's default account
GROUP = "churn-p-abc123def456"
INFERENCE = {
    "Containers": [
        {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://model-bucket/churn/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
BASE_ENV = {
    "SAGEMAKER_PROJECT_NAME": "churn",
    "SAGEMAKER_PROJECT_ID": "p-abc123def456",
    "ENV_NAME": "ds-team",
    "ENV_TYPE": "dev",
    "MODEL_PACKAGE_GROUP_NAME": GROUP,
    "MULTI_ACCOUNT_DEPLOYMENT": "NO",
    "STAGING_ACCOUNT_LIST": "",
    "PROD_ACCOUNT_LIST": "",
    "STAGING_OU_ID": "",
    "PROD_OU_ID": "",
    "ENV_TYPE_STAGING_NAME": "staging",
    "ENV_TYPE_PROD_NAME": "prod",
    "MODEL_EXECUTION_ROLE_NAME": "ds-team-model-execution-role",
    "STACKSET_EXECUTION_ROLE_NAME": "ds-team-stackset-execution-role",
    "ROLE_PATH": "/mlops/",
    "EBS_KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/0b0c0d0e-1111-2222-3333-444455556666",
    "STAGING_CONFIG_NAME": "staging-config",
    "PROD_CONFIG_NAME": "prod-config",
    "CFN_TEMPLATE_NAME": "cfn-sm-endpoint",
}
CONFIG_TEMPLATES = ("staging-config-template.json", "prod-config-template.json")

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def packages(statuses: list[str], group: str = GROUP) -> list[str]:
    """Register packages in this order (oldest first); returns their ARNs."""
    import boto3

    sm = boto3.client("sagemaker")
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError:
        sm.create_model_package_group(ModelPackageGroupName=group)
    return [
        sm.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus=status, InferenceSpecification=INFERENCE
        )["ModelPackageArn"]
        for status in statuses
    ]


def make_checkout(folder: Path, endpoint_template: str, monkeypatch) -> Path:
    """The deploy repository as CodeBuild checks it out (config templates of the seed and the endpoint
    template), with the build environment set."""
    folder.mkdir(parents=True)
    for name in CONFIG_TEMPLATES:
        shutil.copy(SEED_ROOT / name, folder / name)
    (folder / "cfn-sm-endpoint-template.yaml").write_text(endpoint_template, encoding="utf-8")
    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    return folder


def load_seed_module(path: str | Path, name: str):
    """Import a script by path (relative to the seed root, or absolute) under a unique module name (seed
    scripts are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SEED_ROOT / path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while the class body runs
    spec.loader.exec_module(module)
    return module


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes
    operation: str  # "SageMaker.DescribeEndpoint", "sts.AssumeRole", "runtime.InvokeEndpoint", ...
    params: dict = field(default_factory=dict)

    @property
    def access_key(self) -> str:
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else ""


def _parse(method: str, path: str, headers: dict, body: bytes) -> Request:
    target = headers.get("X-Amz-Target", "")
    if target:
        params = json.loads(body or b"{}")
        return Request(method, path, headers, body, target, params)
    if path.startswith("/endpoints/") and path.endswith("/invocations"):
        name = urllib.parse.unquote(path.split("/")[2])
        return Request(method, path, headers, body, "runtime.InvokeEndpoint", {"EndpointName": name})
    form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}
    if "Action" in form:
        return Request(method, path, headers, body, f"query.{form['Action']}", form)
    return Request(method, path, headers, body, f"{method} {path}", {})


class FrontServer:
    """HTTP server on 127.0.0.1: ``override(request)`` returns (status, headers, body) or None to forward."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.override = lambda request: None
        self.on_forwarded = lambda request, status, body: None
        self.requests: list[Request] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                request = _parse(self.command, self.path, headers, body)
                front.requests.append(request)
                answer = front.override(request)
                if answer is None:
                    answer = front._forward(request)
                    front.on_forwarded(request, answer[0], answer[2])
                status, out_headers, out_body = answer
                self.send_response(status)
                for key, value in out_headers.items():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(out_body)))
                self.end_headers()
                self.wfile.write(out_body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _forward(self, request: Request):
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            connection.request(request.method, request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def calls(self, operation: str) -> list[Request]:
        return [r for r in self.requests if r.operation == operation]

    def reset(self):
        self.override = lambda request: None
        self.on_forwarded = lambda request, status, body: None
        self.requests.clear()
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            connection.request("POST", "/moto-api/reset")
            connection.getresponse().read()
        finally:
            connection.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def json_answer(document: dict, status: int = 200):
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(document).encode()


def error_answer(status: int, code: str, message: str):
    return (
        status,
        {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
        json.dumps({"__type": code, "message": message}).encode(),
    )
