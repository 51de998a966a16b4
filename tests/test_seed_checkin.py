"""The seed code check-in of connected repositories (SourceCodeProvider=CodeConnection): the project templates'
check-in build and custom resource (templates_src/blocks/project.py), the core's function that runs it once
(templates_src/functions/seed_code_checkin.py), and the build's script against a local Git server standing in for
the provider, with the seed code in moto's S3 read by the real AWS CLI.

What the project's role may do for the build (the seed code through the S3 endpoint, the connection) is proven in
tests/test_flows.py::test_a_connected_repositorys_check_in_build_reads_the_seed_and_uses_the_connection.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys
import time
import zipfile

import boto3
import pytest
import yaml

from templates_src import naming, references
from templates_src.blocks import project
from templates_src.templates.core import core_main
from tests.support_cfn import (
    ACCOUNT,
    FakeContext,
    ResponseRecorder,
    cfn_event,
    load_source,
    mocked_aws,
    stub_operation,
)
from tests.support_iam import function_role_coverage, record_calls
from tests.support_render import render

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0123abcd-4567-89ef-0123-456789abcdef"
CONNECTED = {
    "SageMakerProjectName": "churn",
    "SageMakerProjectId": "p-abc123",
    "SourceCodeProvider": "CodeConnection",
    "CodeConnectionArn": CONNECTION,
    "RepositoryFullName": "org/churn",
}
KINDS = ("project-model-build-train", "project-model-deploy")


# -- the templates -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", KINDS)
def test_a_codecommit_project_has_no_check_in(templates, name):
    rendered = render(templates[name], {k: v for k, v in CONNECTED.items() if k.startswith("SageMaker")})
    types = {r["Type"] for r in rendered["Resources"].values()}
    assert "Custom::SeedCodeCheckin" not in types and "SeedCode" not in rendered["Outputs"]
    assert "AWS::CodeCommit::Repository" in types


@pytest.mark.parametrize("name", KINDS)
def test_a_connected_project_checks_its_seed_in_through_the_core_function_once(templates, name):
    rendered = render(templates[name], CONNECTED)
    resources = rendered["Resources"]
    assert "AWS::CodeCommit::Repository" not in {r["Type"] for r in resources.values()}
    build = resources["SeedCodeCheckinProject"]["Properties"]
    assert build["Name"] == f"sagemaker-churn-p-abc123{project.CHECKIN_SUFFIX}"
    # As the project's role (its environment's model build or deploy role), like the project's other builds.
    as_written = templates[name]["Resources"]["SeedCodeCheckinProject"]["Properties"]["ServiceRole"]
    assert as_written == {"Fn::GetAtt": [project.ENV_CONFIG, "ProjectRoleArn"]}
    assert build["VpcConfig"]["Subnets"] and build["VpcConfig"]["SecurityGroupIds"]  # inside the environment's VPC
    assert build["Source"]["Type"] == "NO_SOURCE"  # the function gives the repository as the source, at start
    spec = yaml.safe_load(build["Source"]["BuildSpec"])
    assert spec["env"]["git-credential-helper"] == "yes"  # Git's credentials: the connection's
    assert spec["env"]["exported-variables"] == [project.SEED_CODE_RESULT]
    checkin = resources["SeedCodeCheckin"]
    assert checkin["Type"] == "Custom::SeedCodeCheckin"
    props = checkin["Properties"]
    assert props["ProjectName"] == "SeedCodeCheckinProject"
    assert (props["ConnectionArn"], props["RepositoryFullName"], props["RepositoryBranch"]) == (
        CONNECTION,
        "org/churn",
        "main",
    )
    assert "SeedCode" in rendered["Outputs"]  # pushed | kept, from the function
    assert templates[name]["Outputs"]["SeedCode"]["Value"] == {"Fn::GetAtt": ["SeedCodeCheckin", "SeedCode"]}
    # The core exports the function under the name the project imports.
    token = templates[name]["Resources"]["SeedCodeCheckin"]["Properties"]["ServiceToken"]["Fn::ImportValue"]
    exported = templates[core_main.NAME]["Outputs"]["SeedCodeCheckinLambdaArn"]["Export"]["Name"]
    assert token == {"Fn::Sub": "${CoreStackSetName}-" + naming.SEED_CODE_CHECKIN + "-lambda-arn"}
    assert exported == {"Fn::Sub": "${StackSetName}-" + naming.SEED_CODE_CHECKIN + "-lambda-arn"}


@pytest.mark.parametrize("name", KINDS)
def test_packaging_points_the_check_in_at_the_releases_seed_code(templates, name):
    found = [r for r in references.iter_references(templates[name]) if r.resource == "SeedCodeCheckin"]
    assert [(r.kind, r.target) for r in found] == [("seed-code", f"seed_code/{name.removeprefix('project-')}.zip")]


# -- the build's script against a local Git server ---------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def git_server(tmp_path):
    """git daemon on 127.0.0.1 serving bare repositories under a folder, push enabled: (root, url of a name)."""
    root = tmp_path / "git"
    root.mkdir()
    port = _free_port()
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(root),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield root, lambda name: f"git://127.0.0.1:{port}/{name}.git"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def _git(*args, cwd=None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@example.com"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _bare(root: pathlib.Path, name: str) -> pathlib.Path:
    path = root / f"{name}.git"
    _git("init", "-q", "--bare", str(path))
    return path


SEED_FILES = {"README.md": "# seed\n", "pipelines/run.py": "print('run')\n", "buildspec.yml": "version: 0.2\n"}


@pytest.fixture
def seed_bucket(moto):
    """The release's seed code zip in moto's S3, as packaging uploads it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in SEED_FILES.items():
            archive.writestr(path, text)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="release-bucket")
    s3.put_object(Bucket="release-bucket", Key="rel/seed-code/model-build-train.zip", Body=buffer.getvalue())
    return moto


def run_checkin(server, tmp_path, url: str) -> tuple[int, str, str]:
    """The check-in build's commands as the template gives them, in bash, with the real AWS CLI (against moto);
    returns (exit code, the exported SEED_CODE, output)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "aws"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m awscli "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    (command,) = yaml.safe_load(project.checkin_buildspec())["phases"]["build"]["commands"]
    env = {
        **server.env,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "REPOSITORY_URL": url,
        "REPOSITORY_BRANCH": "main",
        "SEED_CODE_BUCKET": "release-bucket",
        "SEED_CODE_KEY": "rel/seed-code/model-build-train.zip",
        "SAGEMAKER_PROJECT_NAME": "churn",
        "SAGEMAKER_PROJECT_ID": "p-abc123",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    script = command + '\ncode=$?\necho "exported SEED_CODE=$SEED_CODE"\nexit $code\n'
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    exported = next(
        (line.split("=", 1)[1] for line in result.stdout.splitlines() if line.startswith("exported SEED_CODE=")), ""
    )
    return result.returncode, exported, result.stdout + result.stderr


def _branches(bare: pathlib.Path) -> dict[str, str]:
    out = _git("for-each-ref", "--format=%(refname:short) %(objectname)", cwd=bare)
    return dict(line.split() for line in out.splitlines())


def test_an_empty_repository_gets_the_seed_code_as_its_first_commit_exactly_once(git_server, seed_bucket, tmp_path):
    root, url = git_server
    bare = _bare(root, "churn")
    code, exported, output = run_checkin(seed_bucket, tmp_path, url("churn"))
    assert (code, exported) == (0, "pushed"), output
    branches = _branches(bare)
    assert list(branches) == ["main"]
    assert _git("rev-list", "--count", "main", cwd=bare).strip() == "1"
    files = set(_git("ls-tree", "-r", "--name-only", "main", cwd=bare).split())
    assert files == set(SEED_FILES)
    assert _git("show", "main:pipelines/run.py", cwd=bare) == SEED_FILES["pipelines/run.py"]
    assert "Seed code of SageMaker project churn (p-abc123)" in _git("log", "-1", "--format=%s", "main", cwd=bare)
    # Again (a retried build): the repository has a commit now, so nothing more.
    code, exported, output = run_checkin(seed_bucket, tmp_path, url("churn"))
    assert (code, exported) == (0, "kept"), output
    assert _branches(bare) == branches


def test_a_repository_with_commits_is_left_as_it_is(git_server, seed_bucket, tmp_path):
    root, url = git_server
    bare = _bare(root, "team")
    work = tmp_path / "work"
    _git("clone", "-q", url("team"), str(work))
    (work / "own.py").write_text("mine\n")
    _git("add", "own.py", cwd=work)
    _git("commit", "-q", "-m", "the team's own code", cwd=work)
    _git("push", "-q", "origin", "HEAD:refs/heads/develop", cwd=work)  # not even on the project's branch
    before = _branches(bare)
    code, exported, output = run_checkin(seed_bucket, tmp_path, url("team"))
    assert (code, exported) == (0, "kept"), output
    assert "has commits: left as it is" in output
    assert _branches(bare) == before


def test_an_unreachable_repository_fails_the_build_and_pushes_nothing(git_server, seed_bucket, tmp_path):
    _, url = git_server
    code, exported, output = run_checkin(seed_bucket, tmp_path, url("missing"))
    assert code != 0 and exported == ""
    assert "cannot read" in output


def test_a_missing_seed_fails_the_build_and_pushes_nothing(git_server, moto, tmp_path):
    root, url = git_server
    bare = _bare(root, "churn")
    moto.client("s3").create_bucket(Bucket="release-bucket")  # but no seed code in it
    code, exported, _ = run_checkin(moto, tmp_path, url("churn"))
    assert code != 0 and exported == ""
    assert _branches(bare) == {}


def test_the_push_never_replaces_a_commit():
    """A commit that reaches the repository between the check and the push makes the push fail: no force."""
    pushes = [line for line in project.CHECKIN_SCRIPT.splitlines() if " push " in line]
    assert len(pushes) == 1
    assert "--force" not in pushes[0] and "-f " not in pushes[0] and '"+' not in pushes[0]


# -- the core's function -----------------------------------------------------------------------------------------------
class FakeBuilds:
    """CodeBuild and CodeConnections as the function sees them (moto has no CodeConnections, and its CodeBuild
    does not run builds): the connection's provider and status, and a build that finishes with ``result``."""

    def __init__(self, provider="GitHub", status="AVAILABLE", build_status="SUCCEEDED", result="pushed"):
        self.provider, self.status, self.build_status, self.result = provider, status, build_status, result
        self.started: list[dict] = []
        self.polls = 0

    def connection(self, params, **_):
        connection = {"ConnectionArn": params["ConnectionArn"], "ConnectionName": "org-github",
                      "ProviderType": self.provider, "ConnectionStatus": self.status}  # fmt: skip
        if self.provider.endswith(("Server", "SelfManaged")):
            connection["HostArn"] = "arn:aws:codeconnections:us-east-1:123456789012:host/gitlab-0123abcd"
        return {"Connection": connection}

    def host(self, params, **_):
        return {"Name": "gitlab", "ProviderType": self.provider, "ProviderEndpoint": "https://git.example.internal/"}

    def start(self, params, **_):
        self.started.append(params)
        return {"build": {"id": "sagemaker-churn-p-abc123-seed-checkin:1", "buildStatus": "IN_PROGRESS"}}

    def _build(self, done):
        build = {"id": "sagemaker-churn-p-abc123-seed-checkin:1", "buildComplete": done, "startTime": "2026-12-07"}
        if done:
            build["buildStatus"] = self.build_status
            build["exportedEnvironmentVariables"] = [{"name": "SEED_CODE", "value": self.result}]
            build["logs"] = {"deepLink": "https://console.example/logs"}
        else:
            build["buildStatus"] = "IN_PROGRESS"
        return build

    def get(self, params, **_):
        """A started build is complete at the second look; an earlier one (Update) is complete."""
        self.polls += 1
        return {"builds": [self._build(self.polls > 1 or not self.started)]}

    def listed(self, params, **_):
        return {"ids": ["sagemaker-churn-p-abc123-seed-checkin:1"]}


PROPS = {
    "ProjectName": "sagemaker-churn-p-abc123-seed-checkin",
    "ConnectionArn": CONNECTION,
    "RepositoryFullName": "org/churn",
    "RepositoryBranch": "main",
    "SeedCode": {"Bucket": "release-bucket", "Key": "rel/seed-code/model-build-train.zip"},
}


@pytest.fixture(scope="module")
def boto_session():
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")


@pytest.fixture
def session(monkeypatch, tmp_path, boto_session):
    """boto3's default session (what the handler uses) with fake credentials; every call is answered by a stub."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with mocked_aws(monkeypatch, tmp_path, boto_session):
        yield boto_session


@pytest.fixture
def recorder():
    with ResponseRecorder() as recorder:
        yield recorder


def _run(session, recorder, fake: FakeBuilds, request="Create", props=PROPS, **event):
    handler = load_source("seed_code_checkin")
    stubs = [
        ("codeconnections", "GetConnection", fake.connection),
        ("codeconnections", "GetHost", fake.host),
        ("codebuild", "StartBuild", fake.start),
        ("codebuild", "BatchGetBuilds", fake.get),
        ("codebuild", "ListBuildsForProject", fake.listed),
    ]
    with record_calls(session) as calls, contextlib.ExitStack() as stack:
        for service, operation, respond in stubs:
            stack.enter_context(stub_operation(session, service, operation, respond))
        status = handler.lambda_handler(cfn_event(request, recorder.url, props, **event), FakeContext())
    return status, recorder.requests[-1].json, calls


def test_create_starts_the_build_with_the_repository_through_the_connection_and_reports_it(session, recorder):
    fake = FakeBuilds()
    status, response, calls = _run(session, recorder, fake)
    assert status == "SUCCESS" and response["Data"] == {
        "SeedCode": "pushed",
        "BuildId": fake.started[0]["projectName"] + ":1",
    }
    (started,) = fake.started
    assert started["sourceTypeOverride"] == "GITHUB"
    assert started["sourceLocationOverride"] == "https://github.com/org/churn.git"
    assert started["sourceAuthOverride"] == {"type": "CODECONNECTIONS", "resource": CONNECTION}
    variables = {v["name"]: v["value"] for v in started["environmentVariablesOverride"]}
    assert variables == {"REPOSITORY_URL": "https://github.com/org/churn.git", "REPOSITORY_BRANCH": "main",
                         "SEED_CODE_KEY": PROPS["SeedCode"]["Key"]}  # fmt: skip
    assert "buildspecOverride" not in started  # the project's own buildspec, never one from the stack
    assert fake.polls == 2  # waited until the build was complete


def test_a_self_managed_provider_is_reached_at_its_hosts_endpoint(session, recorder):
    fake = FakeBuilds(provider="GitLabSelfManaged", result="kept")
    status, response, _ = _run(session, recorder, fake)
    assert status == "SUCCESS" and response["Data"]["SeedCode"] == "kept"
    assert fake.started[0]["sourceTypeOverride"] == "GITLAB_SELF_MANAGED"
    assert fake.started[0]["sourceLocationOverride"] == "https://git.example.internal/org/churn.git"


def test_a_pending_connection_fails_with_what_to_do_and_starts_nothing(session, recorder):
    fake = FakeBuilds(status="PENDING")
    status, response, _ = _run(session, recorder, fake)
    assert status == "FAILED" and "PENDING" in response["Reason"] and "console" in response["Reason"]
    assert fake.started == []


def test_a_failed_build_fails_the_project_with_its_build_and_log(session, recorder):
    fake = FakeBuilds(build_status="FAILED", result="")
    status, response, _ = _run(session, recorder, fake)
    assert status == "FAILED"
    assert "sagemaker-churn-p-abc123-seed-checkin:1 ended FAILED" in response["Reason"]
    assert "https://console.example/logs" in response["Reason"]


def test_update_starts_no_build_and_reports_the_check_in(session, recorder):
    fake = FakeBuilds(result="kept")
    status, response, calls = _run(
        session, recorder, fake, "Update", physical_id=PROPS["ProjectName"], old_properties=PROPS
    )
    assert status == "SUCCESS" and response["Data"]["SeedCode"] == "kept"
    assert fake.started == [] and "StartBuild" not in [c[1] for c in calls]
    assert response["PhysicalResourceId"] == PROPS["ProjectName"]


def test_delete_touches_nothing(session, recorder):
    fake = FakeBuilds()
    status, _, calls = _run(session, recorder, fake, "Delete", physical_id=PROPS["ProjectName"])
    assert status == "SUCCESS" and calls == []


def test_the_functions_role_allows_every_call_of_its_code(session, recorder, templates):
    calls = []
    for request, extra in (("Create", {}), ("Update", {"physical_id": PROPS["ProjectName"]})):
        _, _, made = _run(session, recorder, FakeBuilds(provider="GitLabSelfManaged"), request, **extra)
        calls += made
    assert {c[1] for c in calls} == {"GetConnection", "GetHost", "StartBuild", "BatchGetBuilds", "ListBuildsForProject"}
    coverage = function_role_coverage(
        templates[core_main.NAME], "SeedCodeCheckinLambda", calls, "us-east-1", ACCOUNT, {"StackSetName": "core"}
    )
    assert coverage.missing == [], "\n".join(coverage.report())


def test_the_function_knows_every_provider_codeconnections_offers():
    """Each provider is a CodeBuild source type it can push to, or said to be unsupported."""
    from botocore.session import get_session

    botocore = get_session()
    providers = botocore.get_service_model("codeconnections").shape_for("ProviderType").enum
    source_types = botocore.get_service_model("codebuild").shape_for("SourceType").enum
    function = load_source("seed_code_checkin")
    assert set(function.PROVIDERS) | set(function.UNSUPPORTED) == set(providers)
    assert not set(function.PROVIDERS) & set(function.UNSUPPORTED)
    assert {source for source, _ in function.PROVIDERS.values()} <= set(source_types)


def test_an_unsupported_provider_is_said_and_starts_nothing(session, recorder):
    fake = FakeBuilds(provider="AzureDevOps")
    status, response, _ = _run(session, recorder, fake)
    assert status == "SUCCESS" and fake.started == []
    assert response["Data"]["SeedCode"].startswith("not checked in") and "yourself" in response["Data"]["SeedCode"]


def test_the_result_the_function_reads_is_the_one_the_build_exports():
    assert load_source("seed_code_checkin").RESULT == project.SEED_CODE_RESULT
    assert json.dumps(yaml.safe_load(project.checkin_buildspec())["env"]["exported-variables"]) == json.dumps(
        [project.SEED_CODE_RESULT]
    )
