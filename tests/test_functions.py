"""Custom-resource Lambda code (templates_src/functions) driven as Lambda would run it.

Handlers are loaded in the shapes that reach Lambda: the source modules, the inlined ``Code.ZipFile`` string
(exec'd as a module), and the deployment zip (unzipped, ``index`` imported).  AWS is moto's in-process
``mock_aws``; SageMaker DescribeProject, which moto lacks, is answered by a botocore ``before-call`` stub.
Responses go to a real HTTP server on 127.0.0.1.  ``time.sleep`` is replaced in every test (retries are
recorded, not waited for).
"""

from __future__ import annotations

import ast
import io
import json
import threading
import time
import tokenize
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from templates_src import functions
from tests.support_cfn import (
    ACCOUNT,
    FUNCTIONS_DIR,
    STACK_ID,
    FakeContext,
    ResponseRecorder,
    StubError,
    cfn_event,
    count_calls,
    load_inline,
    load_runtime,
    load_source,
    load_zip,
    mocked_aws,
    stub_operation,
    time_sleep,
    unreachable_url,
)
from tests.support_iam import function_role_coverage, record_calls

HANDLER_MODULES = ("check_iam_roles_exist", "get_environment_configuration")
ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


# --------------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """Every time.sleep call (the runtime's retry back-off) is recorded instead of waited for."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.fixture(scope="module")
def boto_session():
    """One session for the module (its loader caches the service models: a new session per test costs
    ~0.2 s); explicit fake credentials.  Tests remove every event handler they register on it."""
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    for service in ("iam", "ssm", "sagemaker"):
        session.client(service)  # loads the service models once (creating a client makes no request)
    return session


@pytest.fixture
def aws(monkeypatch, tmp_path, boto_session):
    """moto in-process with fake credentials; boto3's default session (what handlers use) is the test one."""
    with mocked_aws(monkeypatch, tmp_path, boto_session):
        yield boto_session


@pytest.fixture(params=["source", "inline"])
def runtime(request):
    """``custom_resource`` and ``send`` from the runtime module and from the inlined check_iam_roles_exist."""
    if request.param == "source":
        return load_runtime()
    return load_inline(functions.inline_source("check_iam_roles_exist"), "check_iam_roles_exist")


def _load(kind: str, module: str, tmp_path):
    if kind == "source":
        return load_source(module)
    if kind == "inline":
        return load_inline(functions.inline_source(module), module)
    return load_zip(functions.zip_bytes(module), tmp_path / f"{module}-package")


@pytest.fixture(params=["source", "inline", "zip"])
def check_roles(request, tmp_path):
    return _load(request.param, "check_iam_roles_exist", tmp_path)


@pytest.fixture(params=["source", "zip"])
def env_config(request, tmp_path):
    return _load(request.param, "get_environment_configuration", tmp_path)


def _envelope_ok(body: dict, event: dict) -> None:
    """Fields echoed from the request are present and unchanged."""
    assert body["StackId"] == event["StackId"] == STACK_ID
    assert body["RequestId"] == event["RequestId"]
    assert body["LogicalResourceId"] == event["LogicalResourceId"]
    assert body["NoEcho"] is False
    assert isinstance(body["Reason"], str) and body["Reason"]


# --------------------------------------------------------------------------------------------------------
# cfn_runtime: what is sent, and when


def test_create_success_sends_one_put_with_the_full_body(runtime, recorder):
    seen = []

    def create(props, event):
        seen.append((props, event))
        return "my-physical-id", {"Answer": "42", "Name": "x"}

    handler = runtime.custom_resource(create)
    event = cfn_event("Create", recorder.url, {"Alpha": "a", "Beta": ["1", "2"]})
    context = FakeContext()
    assert handler(event, context) == "SUCCESS"

    body = recorder.single()
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "my-physical-id"
    assert body["Data"] == {"Answer": "42", "Name": "x"}
    _envelope_ok(body, event)
    assert context.log_stream_name in body["Reason"]
    # The action gets the properties without the ServiceToken, and the event itself.
    assert seen == [({"Alpha": "a", "Beta": ["1", "2"]}, event)]

    request = recorder.requests[0]
    assert request.method == "PUT"
    assert request.path == recorder.expected_path  # the pre-signed query string is kept
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == ""  # pre-signed S3 URLs are signed for an empty content type
    assert int(headers["content-length"]) == len(request.body)


@pytest.mark.parametrize(
    "request_type, returned, expected",
    [
        ("Create", None, "request-id"),
        ("Create", (None, {"K": "v"}), "request-id"),
        ("Create", ("", {"K": "v"}), "request-id"),
        ("Update", None, "event-physical-id"),
        ("Update", (None, {"K": "v"}), "event-physical-id"),
        ("Update", ("replacement-id", {}), "replacement-id"),
        ("Delete", None, "event-physical-id"),
    ],
)
def test_physical_id_is_returned_then_event_then_request_id(runtime, recorder, request_type, returned, expected):
    handler = runtime.custom_resource(lambda p, e: returned, delete=lambda p, e: returned)
    event = cfn_event(
        request_type, recorder.url, {"P": "1"}, physical_id="event-physical-id" if request_type != "Create" else None
    )
    assert handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert body["PhysicalResourceId"] == (event["RequestId"] if expected == "request-id" else expected)
    assert body["Data"] == ((returned or (None, None))[1] or {})


def test_update_uses_create_unless_given_and_delete_is_a_no_op_by_default(runtime):
    calls = []

    def action(name):
        def run(props, event):
            calls.append((name, event["RequestType"]))
            return None, {"By": name}

        return run

    with ResponseRecorder() as rec:
        only_create = runtime.custom_resource(action("create"))
        assert only_create(cfn_event("Update", rec.url), FakeContext()) == "SUCCESS"
        assert only_create(cfn_event("Delete", rec.url), FakeContext()) == "SUCCESS"
    assert calls == [("create", "Update")]  # Delete without an action calls nothing
    assert [r.json["Data"] for r in rec.requests] == [{"By": "create"}, {}]
    assert [r.json["Status"] for r in rec.requests] == ["SUCCESS", "SUCCESS"]

    calls.clear()
    with ResponseRecorder() as rec:
        full = runtime.custom_resource(action("create"), update=action("update"), delete=action("delete"))
        for request_type in ("Create", "Update", "Delete"):
            assert full(cfn_event(request_type, rec.url), FakeContext()) == "SUCCESS"
    assert calls == [("create", "Create"), ("update", "Update"), ("delete", "Delete")]
    assert [r.json["Data"]["By"] for r in rec.requests] == ["create", "update", "delete"]


@pytest.mark.parametrize("request_type", ["Create", "Update", "Delete"])
def test_action_exception_answers_failed_once(runtime, recorder, request_type):
    def boom(props, event):
        raise RuntimeError("boom")

    handler = runtime.custom_resource(boom, delete=boom)
    event = cfn_event(request_type, recorder.url, physical_id="kept-id" if request_type != "Create" else None)
    assert handler(event, FakeContext()) == "FAILED"
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert body["Reason"] == "RuntimeError: boom"
    assert body["Data"] == {}
    # A failed Update/Delete must not change the physical id (CloudFormation would take it for a replacement).
    assert body["PhysicalResourceId"] == (event["RequestId"] if request_type == "Create" else "kept-id")
    _envelope_ok(body, event)


def test_unknown_request_type_fails_without_running_an_action(runtime, recorder):
    calls = []
    handler = runtime.custom_resource(lambda p, e: calls.append(1), delete=lambda p, e: calls.append(2))
    event = cfn_event("Create", recorder.url)
    event["RequestType"] = "Replace"
    assert handler(event, FakeContext()) == "FAILED"
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "Replace" in body["Reason"]
    assert calls == []


def test_long_reason_is_truncated_to_1000_characters(runtime, recorder):
    def boom(props, event):
        raise ValueError("x" * 5000)

    runtime.custom_resource(boom)(cfn_event("Create", recorder.url), FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert len(body["Reason"]) == 1000 and body["Reason"].startswith("ValueError: xxx")


def test_response_over_4096_bytes_becomes_failed(runtime, recorder):
    handler = runtime.custom_resource(lambda p, e: ("big-id", {f"Key{i}": "v" * 100 for i in range(50)}))
    event = cfn_event("Create", recorder.url)
    handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert body["Data"] == {}
    assert "4096" in body["Reason"]
    assert body["PhysicalResourceId"] == "big-id"
    assert len(recorder.requests[0].body) <= 4096
    _envelope_ok(body, event)


def test_response_just_under_the_limit_is_sent_as_is(runtime, recorder):
    event = cfn_event("Create", recorder.url)
    context = FakeContext()
    probe = runtime.custom_resource(lambda p, e: ("id", {"K": ""}))
    probe(event, context)
    size_without_value = len(recorder.requests[0].body)
    recorder.requests.clear()
    fill = 4096 - size_without_value
    runtime.custom_resource(lambda p, e: ("id", {"K": "v" * fill}))(event, context)
    body = recorder.single()
    assert len(recorder.requests[0].body) == 4096
    assert body["Status"] == "SUCCESS" and body["Data"] == {"K": "v" * fill}


def test_data_that_is_not_json_still_gets_exactly_one_failed_answer(runtime, recorder):
    handler = runtime.custom_resource(lambda p, e: ("id", {"When": object()}))
    event = cfn_event("Create", recorder.url)
    handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert body["Data"] == {}
    assert "JSON" in body["Reason"]
    _envelope_ok(body, event)


@pytest.fixture
def manual_timers(monkeypatch):
    """The runtime's deadline timer, fired by the test instead of the clock (no wall-clock races).

    Every timer the runtime creates is appended to the returned list; ``fire()`` runs its function in a new
    thread, as threading.Timer would when the interval elapses.  When the timer fires is checked apart, by
    test_timer_interval_and_cancellation.
    """
    timers = []

    class ManualTimer:
        def __init__(self, interval, function, args=(), kwargs=None):
            self.interval, self.function, self.args, self.kwargs = interval, function, args, kwargs or {}
            self.daemon = False
            self.cancelled = False
            timers.append(self)

        def start(self):
            pass

        def cancel(self):
            self.cancelled = True

        def fire(self):
            threading.Thread(target=self.function, args=self.args, kwargs=self.kwargs, daemon=True).start()

    monkeypatch.setattr(threading, "Timer", ManualTimer)
    return timers


def test_timeout_answers_failed_once_while_the_action_is_still_running(runtime, recorder, manual_timers):
    """When the deadline timer fires, FAILED is answered at once, while the action still runs; its late
    success is never sent."""
    release = threading.Event()
    action_done = threading.Event()

    def stuck(props, event):
        release.wait(60)  # until the test lets go
        action_done.set()
        return "late-id", {"Late": "yes"}

    handler = runtime.custom_resource(stuck)
    event = cfn_event("Create", recorder.url)
    result = []
    worker = threading.Thread(
        target=lambda: result.append(handler(event, FakeContext(remaining_ms=10_500))), daemon=True
    )
    worker.start()
    try:
        while not manual_timers:
            time_sleep(0.001)
        manual_timers[-1].fire()
        assert recorder.wait_for(1, timeout=60), "the timeout answer did not arrive"
        assert not action_done.is_set()
        body = recorder.requests[0].json
        assert body["Status"] == "FAILED"
        assert body["Reason"] == "handler timed out"
        assert body["PhysicalResourceId"] == event["RequestId"]
        assert body["Data"] == {}
        _envelope_ok(body, event)
    finally:
        release.set()
        worker.join(60)
    assert not worker.is_alive()
    assert result == ["FAILED"]
    assert len(recorder.requests) == 1  # the action's late success is not sent
    assert manual_timers[-1].cancelled


def test_handler_does_not_return_while_the_timeout_answer_is_in_flight(runtime, manual_timers):
    """Lambda freezes background threads once the handler returns: the timer's PUT must be complete by then.

    The action fires the deadline timer, waits until its answer has reached the server (which holds the
    reply back), and returns; the handler may return only after that answer has been delivered.
    """
    with ResponseRecorder(delay=0.2) as rec:

        def finishes_just_after_timeout(props, event):
            manual_timers[-1].fire()
            assert rec.received.wait(60), "the timer's answer never reached the server"
            return None, {"Done": "yes"}

        handler = runtime.custom_resource(finishes_just_after_timeout)
        status = handler(cfn_event("Create", rec.url), FakeContext(remaining_ms=60_000))
        delivered_when_returned = rec.completed
        assert status == "FAILED"
        assert delivered_when_returned == 1
        assert rec.single()["Reason"] == "handler timed out"


def test_timer_interval_and_cancellation(runtime, recorder, monkeypatch):
    timers = []

    class SpyTimer(threading.Timer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            timers.append(self)

    monkeypatch.setattr(threading, "Timer", SpyTimer)
    during = []
    handler = runtime.custom_resource(lambda p, e: during.append(timers[-1].is_alive()))

    handler(cfn_event("Create", recorder.url), FakeContext(remaining_ms=60_000))
    (timer,) = timers
    assert during == [True]  # armed while the action runs
    assert 49.0 <= timer.interval <= 50.0  # about 10 s before the deadline
    assert timer.daemon
    timer.join(1)
    assert timer.finished.is_set() and not timer.is_alive()  # cancelled once answered
    assert recorder.single()["Status"] == "SUCCESS"

    handler(cfn_event("Create", recorder.url), FakeContext(remaining_ms=3_000))
    assert 0 < timers[-1].interval < 3.0  # short deadlines: never fires at once, still before the deadline


def test_failed_puts_are_retried_with_backoff(runtime, sleeps):
    with ResponseRecorder(fail_first=2) as rec:
        handler = runtime.custom_resource(lambda p, e: ("id", {"K": "v"}))
        assert handler(cfn_event("Create", rec.url), FakeContext()) == "SUCCESS"
    assert len(rec.requests) == 3
    assert len({r.body for r in rec.requests}) == 1  # the same response, re-sent
    assert sleeps == [1, 2]


def test_gives_up_after_four_attempts_without_raising(runtime, sleeps):
    with ResponseRecorder(fail_first=100, fail_status=403) as rec:
        handler = runtime.custom_resource(lambda p, e: ("id", {}))
        assert handler(cfn_event("Create", rec.url), FakeContext()) == "SUCCESS"
    assert len(rec.requests) == 4
    assert sleeps == [1, 2, 4]  # no pointless sleep after the last attempt


def test_unreachable_response_url_retries_then_returns(runtime, sleeps):
    handler = runtime.custom_resource(lambda p, e: ("id", {}))
    start = time.monotonic()
    assert handler(cfn_event("Create", unreachable_url()), FakeContext()) == "SUCCESS"
    assert sleeps == [1, 2, 4]  # no pointless sleep after the last attempt
    assert time.monotonic() - start < 1.5


def test_send_reports_delivery(runtime, recorder, sleeps):
    event = cfn_event("Create", recorder.url)
    assert runtime.send(event, FakeContext(), "SUCCESS", {"A": "b"}, "pid") is True
    assert recorder.single()["Data"] == {"A": "b"}
    assert sleeps == []
    assert runtime.send(cfn_event("Create", unreachable_url()), FakeContext(), "SUCCESS") is False


# --------------------------------------------------------------------------------------------------------
# check_iam_roles_exist


def _create_roles(*names: str) -> None:
    iam = boto3.client("iam")
    for name in names:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_TRUST, Path="/service-role/")


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_check_roles_reports_missing_roles(check_roles, aws, recorder, request_type):
    _create_roles("ExistingOne", "ExistingTwo")
    event = cfn_event(
        request_type,
        recorder.url,
        {"RoleNames": ["ExistingOne", "MissingRole", "ExistingTwo", "AlsoMissing"]},
        physical_id=None if request_type == "Create" else "roles-check",
    )
    assert check_roles.lambda_handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert body["Status"] == "SUCCESS"
    assert body["Data"] == {
        "ExistingOne": "",
        "MissingRole": "MissingRole",
        "ExistingTwo": "",
        "AlsoMissing": "AlsoMissing",
    }
    assert body["PhysicalResourceId"] == (event["RequestId"] if request_type == "Create" else "roles-check")
    _envelope_ok(body, event)


@pytest.mark.parametrize("role_names", [None, "ExistingOne", [], [""], ["ExistingOne", 7], {"a": "b"}])
def test_check_roles_rejects_bad_role_names(check_roles, aws, recorder, role_names):
    props = {} if role_names is None else {"RoleNames": role_names}
    with count_calls(aws, "iam") as iam_calls:
        assert check_roles.lambda_handler(cfn_event("Create", recorder.url, props), FakeContext()) == "FAILED"
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "RoleNames" in body["Reason"]
    assert iam_calls == []


def test_check_roles_iam_errors_other_than_not_found_fail(check_roles, aws, recorder):
    def deny(request):
        raise StubError("AccessDenied", "not authorized to perform iam:GetRole", status=403)

    with stub_operation(aws, "iam", "GetRole", deny) as stub:
        check_roles.lambda_handler(cfn_event("Create", recorder.url, {"RoleNames": ["Any"]}), FakeContext())
    assert stub.calls  # the stub was used, so the failure is the denied call's
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "AccessDenied" in body["Reason"]


def test_check_roles_delete_is_a_no_op(check_roles, aws, recorder):
    event = cfn_event("Delete", recorder.url, {"RoleNames": "not even a list"}, physical_id="roles-check")
    with count_calls(aws, "iam") as iam_calls:
        assert check_roles.lambda_handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert (body["Status"], body["Data"], body["PhysicalResourceId"]) == ("SUCCESS", {}, "roles-check")
    assert iam_calls == []


# --------------------------------------------------------------------------------------------------------
# get_environment_configuration


DOMAIN_ID = "d-mlopsdomain"
EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"


def _create_domain(tags: list[dict[str, str]], name: str = "mlopsdomain") -> str:
    sm = boto3.client("sagemaker")
    arn = sm.create_domain(
        DomainName=name,
        AuthMode="IAM",
        VpcId="vpc-0abc",
        SubnetIds=["subnet-1", "subnet-2"],
        DefaultUserSettings={"ExecutionRole": EXECUTION_ROLE, "SecurityGroups": ["sg-1", "sg-2"]},
        KmsKeyId="kms-key-1",
        AppNetworkAccessType="VpcOnly",
        Tags=tags,
    )["DomainArn"]
    return arn


def _project_stub(domain_id: str = DOMAIN_ID):
    def respond(request):
        if request.get("ProjectName") != "my-project":
            raise StubError("ValidationException", f"Project {request.get('ProjectName')} does not exist")
        return {
            "ProjectName": "my-project",
            "ProjectId": "p-abc123",
            "ProjectStatus": "CreateCompleted",
            "ProjectArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:project/my-project",
            "CreatedBy": {"DomainId": domain_id, "UserProfileName": "someone"},
        }

    return respond


ENV_TAGS = [{"Key": "EnvironmentName", "Value": "mlops"}, {"Key": "EnvironmentType", "Value": "dev"}]


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_env_config_resolves_domain_tags_and_parameters(env_config, aws, recorder, request_type):
    arn = _create_domain([{"Key": "Owner", "Value": "team"}, *ENV_TAGS])
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="mlops-dev-data-bucket-name", Value="mlops-dev-data", Type="String")
    ssm.put_parameter(Name="mlops-dev-model-bucket-name", Value="mlops-dev-models", Type="String")
    ssm.put_parameter(Name="other-dev-data-bucket-name", Value="wrong environment", Type="String")
    props = {
        "SageMakerProjectName": "my-project",
        "SSMParams": [
            "data-bucket-name",
            {"VariableName": "ModelBucketName", "ParameterName": "model-bucket-name"},
            "seed-code-bucket-name",
        ],
    }
    event = cfn_event(request_type, recorder.url, props, physical_id=None if request_type == "Create" else "env-config")
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()) as project:
        assert env_config.lambda_handler(event, FakeContext()) == "SUCCESS"
    assert project.calls == [{"ProjectName": "my-project"}]
    body = recorder.single()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"] == {
        "DomainId": DOMAIN_ID,
        "DomainArn": arn,
        "DomainName": "mlopsdomain",
        "VpcId": "vpc-0abc",
        "SubnetIds": "subnet-1,subnet-2",
        "KmsKeyId": "kms-key-1",
        "AppNetworkAccessType": "VpcOnly",
        "HomeEfsFileSystemId": "mlopsdomain-efs-id",
        "ExecutionRole": EXECUTION_ROLE,
        "SecurityGroups": "sg-1,sg-2",
        "EnvironmentName": "mlops",
        "EnvironmentType": "dev",
        "data-bucket-name": "mlops-dev-data",
        "ModelBucketName": "mlops-dev-models",
        "seed-code-bucket-name": "",  # ParameterNotFound -> empty
    }
    assert body["PhysicalResourceId"] == (event["RequestId"] if request_type == "Create" else "env-config")
    _envelope_ok(body, event)


def test_env_config_delete_succeeds_without_reading_anything(env_config, aws, recorder):
    """SageMaker deletes a project's stack while it deletes the project (and perhaps the domain is gone already):
    Delete reads nothing and answers SUCCESS with the same physical id, so the project's stack deletes."""
    event = cfn_event(
        "Delete",
        recorder.url,
        {"SageMakerProjectName": "deleted-project", "SSMParams": ["x"]},
        physical_id="env-config",
    )
    with count_calls(aws, "sagemaker") as sagemaker_calls, count_calls(aws, "ssm") as ssm_calls:
        assert env_config.lambda_handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "env-config"
    assert sagemaker_calls == [] and ssm_calls == []


def test_env_config_reads_every_page_of_tags(env_config, aws, recorder):
    # moto pages ListTags by 50: the environment tags sit on the second page.
    _create_domain([{"Key": f"Filler{i:02d}", "Value": "x"} for i in range(55)] + ENV_TAGS)
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project"})
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()), count_calls(aws, "sagemaker") as calls:
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert (body["Data"]["EnvironmentName"], body["Data"]["EnvironmentType"]) == ("mlops", "dev")
    assert calls.count("ListTags") == 2


@pytest.mark.parametrize(
    "tags",
    [
        [],
        [{"Key": "EnvironmentName", "Value": "mlops"}],
        [{"Key": "EnvironmentType", "Value": "dev"}],
        [{"Key": "EnvironmentName", "Value": ""}, {"Key": "EnvironmentType", "Value": "dev"}],
    ],
)
def test_env_config_requires_environment_tags(env_config, aws, recorder, tags):
    _create_domain(tags)
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project", "SSMParams": ["x"]})
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()), count_calls(aws, "ssm") as ssm:
        assert env_config.lambda_handler(event, FakeContext()) == "FAILED"
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert DOMAIN_ID in body["Reason"] and "EnvironmentName" in body["Reason"]
    assert ssm == []


def test_env_config_requires_a_project_name(env_config, aws, recorder):
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()) as project:
        env_config.lambda_handler(cfn_event("Create", recorder.url, {"SSMParams": ["x"]}), FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED" and "SageMakerProjectName" in body["Reason"]
    assert project.calls == []


def test_env_config_unknown_project_fails(env_config, aws, recorder):
    _create_domain(ENV_TAGS)
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "no-such-project"})
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()):
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "ValidationException" in body["Reason"] and "no-such-project" in body["Reason"]


def test_env_config_unknown_domain_fails(env_config, aws, recorder):
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project"})
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub("d-doesnotexist")):
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED" and "d-doesnotexist" in body["Reason"]


def test_env_config_ssm_errors_other_than_not_found_fail(env_config, aws, recorder):
    _create_domain(ENV_TAGS)

    def deny(request):
        raise StubError("AccessDeniedException", "not authorized to perform ssm:GetParameter", status=400)

    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project", "SSMParams": ["x"]})
    with (
        stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()),
        stub_operation(aws, "ssm", "GetParameter", deny),
    ):
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED" and "AccessDeniedException" in body["Reason"]


def test_env_config_delete_is_a_no_op(env_config, aws, recorder):
    event = cfn_event(
        "Delete", recorder.url, {"SageMakerProjectName": "my-project", "SSMParams": ["x"]}, physical_id="env-config"
    )
    with count_calls(aws, "sagemaker") as sm_calls, count_calls(aws, "ssm") as ssm_calls:
        assert env_config.lambda_handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert (body["Status"], body["Data"], body["PhysicalResourceId"]) == ("SUCCESS", {}, "env-config")
    assert sm_calls == [] and ssm_calls == []


def _project_by(created_by: dict, **extra):
    def respond(request):
        return {
            "ProjectName": "my-project",
            "ProjectId": "p-abc123",
            "ProjectStatus": "CreateCompleted",
            "ProjectArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:project/my-project",
            "CreatedBy": created_by,
            **extra,
        }

    return respond


@pytest.mark.parametrize(
    "kind,creator",
    [
        ("role", f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-dev-data-scientist/alice"),
        ("role", f"arn:aws:iam::{ACCOUNT}:role/ml/mlops-dev-data-scientist"),
        ("user", f"arn:aws:iam::{ACCOUNT}:user/ml/alice"),
    ],
)
def test_env_config_resolves_a_project_created_outside_studio(env_config, aws, recorder, kind, creator):
    """W4: a project created with the CLI or from an S3 project template has no CreatedBy.DomainId: the
    environment is the one its creator (an IAM role or user) belongs to, by the environment tags every role of an
    environment carries, and the domain is that environment's (its SSM parameter)."""
    _create_domain(ENV_TAGS)
    iam = boto3.client("iam")
    if kind == "role":
        iam.create_role(
            RoleName="mlops-dev-data-scientist",
            Path="/ml/" if ":role/ml/" in creator else "/",
            AssumeRolePolicyDocument="{}",
            Tags=[{"Key": "Owner", "Value": "team"}, *ENV_TAGS],
        )
    else:
        iam.create_user(UserName="alice", Path="/ml/", Tags=ENV_TAGS)
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="mlops-dev-sagemaker-domain-id", Value=DOMAIN_ID, Type="String")
    ssm.put_parameter(Name="mlops-dev-data-bucket-name", Value="mlops-dev-data", Type="String")
    event = cfn_event(
        "Create",
        recorder.url,
        {"SageMakerProjectName": "my-project", "SageMakerProjectId": "p-abc123", "SSMParams": ["data-bucket-name"]},
    )
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_by({"IamIdentity": {"Arn": creator}})):
        assert env_config.lambda_handler(event, FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert body["Status"] == "SUCCESS", body["Reason"]
    data = body["Data"]
    assert (data["EnvironmentName"], data["EnvironmentType"], data["DomainId"]) == ("mlops", "dev", DOMAIN_ID)
    assert data["VpcId"] == "vpc-0abc" and data["data-bucket-name"] == "mlops-dev-data"


def test_env_config_refuses_a_creator_of_no_environment(env_config, aws, recorder):
    boto3.client("iam").create_role(RoleName="Admin", AssumeRolePolicyDocument="{}")
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project"})
    creator = {"IamIdentity": {"Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/bob"}}
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_by(creator)), count_calls(aws, "ssm") as ssm:
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "role Admin" in body["Reason"] and "EnvironmentName" in body["Reason"] and ssm == []


@pytest.mark.parametrize(
    "props,extra,stack,reason",
    [
        ({"SageMakerProjectId": "p-other"}, {}, None, "has id p-abc123, not p-other"),
        (
            {},
            {"ServiceCatalogProvisionedProductDetails": {"ProvisionedProductId": "pp-mine"}},
            f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/SC-{ACCOUNT}-pp-other/0123",
            "is not project my-project's provisioned product pp-mine",
        ),
        (
            {},
            {
                "TemplateProviderDetails": [
                    {
                        "CfnTemplateProviderDetail": {
                            "StackDetail": {
                                "Id": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/project-stack/0456"
                            }
                        }
                    }
                ]
            },
            f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/someone-elses/0789",
            "is not project my-project's stack",
        ),
    ],
)
def test_env_config_answers_only_the_projects_own_stack(env_config, aws, recorder, props, extra, stack, reason):
    """A stack that names another project (by hand, with its name) gets nothing of that project's environment:
    the project's id, its provisioned product or its stack must be the asking stack's."""
    _create_domain(ENV_TAGS)
    event = cfn_event("Create", recorder.url, {"SageMakerProjectName": "my-project", **props})
    if stack:
        event["StackId"] = stack
    with (
        stub_operation(
            aws,
            "sagemaker",
            "DescribeProject",
            _project_by({"DomainId": DOMAIN_ID, "UserProfileName": "alice"}, **extra),
        ),
        count_calls(aws, "ssm") as ssm,
    ):
        env_config.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED" and reason in body["Reason"], body["Reason"]
    assert ssm == []


def test_operation_stub_is_removed_after_use(aws):
    with stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()):
        assert (
            boto3.client("sagemaker").describe_project(ProjectName="my-project")["CreatedBy"]["DomainId"] == DOMAIN_ID
        )
    # Back to moto, which does not implement DescribeProject.
    with pytest.raises((NotImplementedError, ClientError)):
        boto3.client("sagemaker").describe_project(ProjectName="my-project")


# --------------------------------------------------------------------------------------------------------
# Packaging: inline source, zip, helpers


def _top_level_names(tree: ast.Module) -> dict[str, str]:
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = "def"
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names[sub.id] = "def"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"from {node.module} import {alias.name}"
    return names


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_inline_source_is_runtime_then_handler_without_comments(module):
    inline = functions.inline_source(module)
    runtime_tree = ast.parse(functions.module_source("cfn_runtime"))
    handler_tree = ast.parse(functions.module_source(module))
    handler_body = [n for n in handler_tree.body if not (isinstance(n, ast.ImportFrom) and n.module == "cfn_runtime")]
    assert len(handler_body) == len(handler_tree.body) - 1  # exactly the runtime import is dropped
    assert ast.dump(ast.parse(inline)) == ast.dump(ast.Module(runtime_tree.body + handler_body, []))
    tokens = list(tokenize.generate_tokens(io.StringIO(inline).readline))
    assert not [t for t in tokens if t.type == tokenize.COMMENT]
    assert "cfn_runtime" not in inline
    assert "\n\n\n" not in inline  # comment-only lines leave no runs of blank lines


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_handler_names_do_not_shadow_the_runtime_when_inlined(module):
    runtime_names = _top_level_names(ast.parse(functions.module_source("cfn_runtime")))
    # As inlined: the handler's `from cfn_runtime import ...` is gone, its names come from the runtime itself.
    handler_names = _top_level_names(ast.parse(functions._IMPORT_RUNTIME.sub("", functions.module_source(module))))
    clashes = {
        n
        for n in runtime_names.keys() & handler_names.keys()
        if not (runtime_names[n] == handler_names[n] and runtime_names[n].startswith("import "))
    }
    assert clashes == set()
    assert handler_names.get("lambda_handler") == "def"


def test_check_iam_roles_exist_is_inlined():
    inline = functions.inline_source("check_iam_roles_exist")
    assert len(inline) <= functions.INLINE_LIMIT == 4096
    assert functions.fits_inline("check_iam_roles_exist")


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_fits_inline_agrees_with_the_inline_length(module):
    assert functions.fits_inline(module) == (len(functions.inline_source(module)) <= 4096)


def test_fits_inline_boundary(monkeypatch):
    real = functions.module_source
    fake = {}
    monkeypatch.setattr(functions, "module_source", lambda m: fake[m] if m in fake else real(m))

    def handler_of_length(pad: int) -> str:
        return (
            "# a comment that does not count\nfrom cfn_runtime import custom_resource\n\n"
            f"X = '{'a' * pad}'\nlambda_handler = custom_resource(lambda p, e: None)\n"
        )

    fake["fake_handler"] = handler_of_length(0)
    pad = 4096 - len(functions.inline_source("fake_handler"))
    assert pad > 0
    fake["fake_handler"] = handler_of_length(pad)
    assert len(functions.inline_source("fake_handler")) == 4096
    assert functions.fits_inline("fake_handler")
    fake["fake_handler"] = handler_of_length(pad + 1)
    assert not functions.fits_inline("fake_handler")


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_zip_bytes_is_deterministic_and_complete(module):
    first, second = functions.zip_bytes(module), functions.zip_bytes(module)
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["cfn_runtime.py", "index.py"]
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr == 0o644 << 16
            assert info.compress_type == zipfile.ZIP_DEFLATED
        assert zf.read("index.py") == (FUNCTIONS_DIR / f"{module}.py").read_bytes()
        assert zf.read("cfn_runtime.py") == (FUNCTIONS_DIR / "cfn_runtime.py").read_bytes()


def test_deterministic_zip_ignores_order_and_reflects_content():
    a = functions.deterministic_zip({"b.py": b"B = 1\n", "a.py": b"A = 1\n"})
    b = functions.deterministic_zip({"a.py": b"A = 1\n", "b.py": b"B = 1\n"})
    assert a == b
    assert functions.deterministic_zip({"a.py": b"A = 2\n", "b.py": b"B = 1\n"}) != a
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        assert zf.namelist() == ["a.py", "b.py"]
        assert zf.read("b.py") == b"B = 1\n"


def test_zip_package_handler_imports_its_own_runtime(tmp_path):
    index = load_zip(functions.zip_bytes("get_environment_configuration"), tmp_path / "pkg")
    assert index.__file__ == str(tmp_path / "pkg" / "index.py")
    assert index.custom_resource.__globals__["__file__"] == str(tmp_path / "pkg" / "cfn_runtime.py")
    assert callable(index.lambda_handler)


def test_strip_comments_keeps_hashes_inside_strings():
    source = (
        "#!/usr/bin/env python\n"
        "# leading comment\n"
        "\n"
        "URL = 'https://example.com/#anchor'  # trailing comment\n"
        'COLOR = "#ff0000"\n'
        "F = f'{URL}#{COLOR}'    # another\n"
        "DOC = '''\n"
        "# not a comment, part of the string\n"
        "'''\n"
        "\n"
        "\n"
        "    # indented comment-only line\n"
        "def f(x):  # about f\n"
        "    return x  # about x\n"
    )
    expected = (
        "URL = 'https://example.com/#anchor'\n"
        'COLOR = "#ff0000"\n'
        "F = f'{URL}#{COLOR}'\n"
        "DOC = '''\n"
        "# not a comment, part of the string\n"
        "'''\n"
        "\n"
        "def f(x):\n"
        "    return x\n"
    )
    assert functions.strip_comments(source) == expected


def test_strip_comments_leaves_multiline_strings_byte_for_byte():
    source = 'TEXT = """first\n\n\nafter two blank lines\n   \nindented blank above"""  # note\nY = 1\n'
    stripped = functions.strip_comments(source)
    before, after = {}, {}
    exec(source, before)
    exec(stripped, after)
    assert after["TEXT"] == before["TEXT"]
    assert "# note" not in stripped


@pytest.mark.parametrize("path", sorted(p.name for p in FUNCTIONS_DIR.glob("*.py")))
def test_strip_comments_preserves_the_code_of_every_function_module(path):
    source = (FUNCTIONS_DIR / path).read_text(encoding="utf-8")
    stripped = functions.strip_comments(source)
    assert ast.dump(ast.parse(stripped)) == ast.dump(ast.parse(source))
    assert not [t for t in tokenize.generate_tokens(io.StringIO(stripped).readline) if t.type == tokenize.COMMENT]


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_module_for_asset_round_trips(module):
    assert functions.module_for_asset(functions.asset_path(module)) == module
    assert functions.asset_path(module) == f"lambda/{module}.zip"


@pytest.mark.parametrize(
    "path",
    [
        "lambda/no_such_function.zip",
        "other/check_iam_roles_exist.zip",
        "lambda/check_iam_roles_exist.py",
        "lambda/check_iam_roles_exist.zip.bak",
        "lambda/sub/check_iam_roles_exist.zip",
        "prefix/lambda/check_iam_roles_exist.zip",
        "lambda/../check_iam_roles_exist.zip",
        "",
    ],
)
def test_module_for_asset_rejects_other_paths(path):
    assert functions.module_for_asset(path) is None


# --------------------------------------------------------------------------------------------------------
# The function roles allow every call their code makes (the deploying-role check, on the code's own calls)


@pytest.fixture(scope="module", params=["default", "enterprise"])
def core_main(request, templates, enterprise_templates):
    return (templates if request.param == "default" else enterprise_templates)["core-main"]


def test_check_roles_function_role_allows_every_call_of_its_code(core_main, aws, recorder):
    _create_roles("AmazonSageMakerServiceCatalogProductsLaunchRole")  # one exists (with its path), one does not
    iam = boto3.client("iam")

    def role_arn(name):
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return None

    handler = load_source("check_iam_roles_exist")
    with record_calls(aws) as calls:
        props = {
            "RoleNames": [
                "AmazonSageMakerServiceCatalogProductsLaunchRole",
                "AmazonSageMakerServiceCatalogProductsUseRole",
            ]
        }
        assert handler.lambda_handler(cfn_event("Create", recorder.url, props), FakeContext()) == "SUCCESS"
    assert [c[1] for c in calls] == ["GetRole", "GetRole"]
    coverage = function_role_coverage(
        core_main, "CheckIfIAMRolesExistLambda", calls, "us-east-1", ACCOUNT, {"StackSetName": "core"}, role_arn
    )
    assert coverage.missing == [], "\n".join(coverage.report())
    assert len(coverage.by_status("granted")) == 4  # two roles (path and bare name) and the log writes


def test_environment_configuration_function_role_allows_every_call_of_its_code(core_main, aws, recorder):
    _create_domain(ENV_TAGS)
    boto3.client("ssm").put_parameter(Name="mlops-dev-data-bucket-name", Value="mlops-dev-data", Type="String")
    handler = load_source("get_environment_configuration")
    props = {"SageMakerProjectName": "my-project", "SSMParams": ["data-bucket-name"]}
    with record_calls(aws) as calls, stub_operation(aws, "sagemaker", "DescribeProject", _project_stub()):
        assert handler.lambda_handler(cfn_event("Create", recorder.url, props), FakeContext()) == "SUCCESS"
    assert [c[1] for c in calls] == ["DescribeProject", "DescribeDomain", "ListTags", "GetParameter"]
    coverage = function_role_coverage(
        core_main, "GetEnvironmentConfigurationLambda", calls, "us-east-1", ACCOUNT, {"StackSetName": "core"}
    )
    assert coverage.missing == [], "\n".join(coverage.report())
