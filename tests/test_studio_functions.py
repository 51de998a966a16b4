"""The Studio environment's custom-resource handlers: enable_sagemaker_projects and studio_cleanup.

AWS is moto's in-process ``mock_aws`` (EFS, EC2, SageMaker domains); responses go to the fake response URL of
tests/support_cfn.py.  What moto lacks is stubbed, operation by operation, and said where it happens:

* SageMaker EnableSagemakerServicecatalogPortfolio, ListApps, DeleteApp, ListSpaces, DeleteSpace,
  ListUserProfiles, DeleteUserProfile: not implemented by moto -> the project's ``stub_operation`` (SageMaker
  speaks JSON, which that helper reads).  DescribeDomain of a missing domain: moto answers ValidationException
  where SageMaker answers ResourceNotFound (botocore's error shapes) -> stubbed where a domain must be gone.
* Service Catalog ListAcceptedPortfolioShares, AssociatePrincipalWithPortfolio,
  DisassociatePrincipalFromPortfolio: not implemented by moto, and Service Catalog speaks smithy-rpc-v2-cbor,
  which ``stub_operation`` cannot read (it parses the request body as JSON) -> ``stub_api`` below, the same
  botocore ``before-call`` short-circuit, recording the API parameters instead of the body.  It also lets one
  EC2 DeleteSecurityGroup call fail with DependencyViolation (moto does not refuse a group in use).

CloudFormation DescribeStacks (StudioAppsCleanup deletes users' data only while the stack holding it is being
deleted) is moto's: real stacks, a nested one too, whose StackStatus a test sets in moto's backend (moto runs
no stack operation long enough to observe DELETE_IN_PROGRESS or a clean-up phase).  Its failures are moto's
(an unknown stack) or ``stub_api`` (AccessDenied, throttling).

No test really sleeps: ``time.sleep`` advances a fake clock (and the fake SageMaker: deletions finish, pending
apps start), and the cleanup module reads that clock.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import time
import uuid

import boto3
import pytest
from moto.cloudformation.models import cloudformation_backends

from templates_src import functions
from templates_src.checks.iam_policy import Resolver, evaluate, request, role_statements
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_template
from tests.support_cfn import (
    ACCOUNT,
    REGION,
    CannedHTTPResponse,
    FakeContext,
    StubError,
    cfn_event,
    load_source,
    load_zip,
    mocked_aws,
    stub_operation,
)
from tests.support_iam import record_calls

EXECUTION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-sm-execution"
PIPELINE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-sm-pipeline"
DS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-dev-us-east-1-data-scientist"
SAGEMAKER_ACCOUNT = "999988887777"  # owner of SageMaker's shared portfolio (any other account)
PORTFOLIO_ID = "port-sagemaker1234"
OWN_PROFILE = "mlops-dev-default"


# --------------------------------------------------------------------------------------------------------
# Fixtures and helpers


class Clock:
    """Fake monotonic clock: ``sleep`` records, advances the time and runs the listeners (fake services)."""

    def __init__(self):
        self.time = 1000.0
        self.sleeps: list[float] = []
        self.listeners: list = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        for listener in self.listeners:
            listener()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


@pytest.fixture(scope="module")
def boto_session():
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    for service in ("sagemaker", "servicecatalog", "efs", "ec2", "cloudformation"):
        session.client(service)  # loads the service models once
    return session


@pytest.fixture
def aws(monkeypatch, tmp_path, boto_session):
    with mocked_aws(monkeypatch, tmp_path, boto_session):
        yield boto_session


def _load(module: str):
    """The handler module as in templates_src/functions, freshly imported (support_cfn isolates only the
    modules it knows; these two are removed from sys.modules here, before and after)."""
    sys.modules.pop(module, None)
    try:
        return load_source(module)
    finally:
        sys.modules.pop(module, None)


@pytest.fixture
def projects():
    return _load("enable_sagemaker_projects")


@pytest.fixture
def cleanup(clock, monkeypatch):
    module = _load("studio_cleanup")
    monkeypatch.setattr(module, "now", clock.now)
    return module


@pytest.fixture(scope="module")
def studio_template():
    return build_template("env-sagemaker-studio", BuildContext(Config()))


@contextlib.contextmanager
def stub_api(session, service_id: str, operation: str, respond):
    """Answer one operation with ``respond(api_params)``: a dict (the response), None (the request goes on to
    moto) or StubError (an AWS error).  Records the API parameters of every call, whatever the protocol."""
    calls: list[dict] = []

    def capture(params, **kwargs):
        calls.append(copy.deepcopy(params))

    def answer(**kwargs):
        try:
            parsed = respond(calls[-1])
        except StubError as err:
            return CannedHTTPResponse(err.status), {
                "Error": {"Code": err.code, "Message": err.message},
                "ResponseMetadata": {"HTTPStatusCode": err.status},
            }
        if parsed is None:
            return None
        return CannedHTTPResponse(200), {**parsed, "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": "stub"}}

    ids = [f"stub-{uuid.uuid4().hex}" for _ in range(2)]
    session.events.register(f"provide-client-params.{service_id}.{operation}", capture, unique_id=ids[0])
    session.events.register(f"before-call.{service_id}.{operation}", answer, unique_id=ids[1])
    try:
        yield calls
    finally:
        session.events.unregister(f"provide-client-params.{service_id}.{operation}", unique_id=ids[0])
        session.events.unregister(f"before-call.{service_id}.{operation}", unique_id=ids[1])


def _allowed(template: dict, role_id: str, requests: list, params: dict, stack_id: str | None = None) -> list:
    """The requests the role (as rendered) does NOT allow unconditionally; [] when it allows them all.
    ``stack_id``: the ARN of the stack the role is rendered in (AWS::StackId; unknown, i.e. any, without it)."""
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, **({"AWS::StackId": stack_id} if stack_id else {})}
    resolver = Resolver(template, params, pseudo=pseudo)
    statements, _ = role_statements(template, role_id, resolver)
    refused = []
    for action, resource, context in requests:
        decision = evaluate(statements, request(action, resource, True, context, complete=True))
        if not decision.allowed or decision.conditional:
            refused.append((action, resource, context))
    return refused


def _own(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


# --------------------------------------------------------------------------------------------------------
# enable_sagemaker_projects


class FakeCatalog:
    """Service Catalog as far as the handler uses it: accepted shares (paginated) and principal associations."""

    def __init__(self, pages, appears_after: int = 0):
        self.pages = pages  # list of pages, each a list of portfolio details
        self.appears_after = appears_after  # lookups (full listings) before SageMaker's share is listed
        self.listings = 0
        self.associated: set[tuple[str, str]] = set()
        self.log: list[tuple[str, str]] = []

    def list_shares(self, params):
        assert params.get("PortfolioShareType") == "IMPORTED"
        index = int(params.get("PageToken") or 0)
        if index == 0:
            self.listings += 1
        details = [
            d
            for d in self.pages[index]
            if d["ProviderName"] != "Amazon SageMaker" or self.listings > self.appears_after
        ]
        answer = {"PortfolioDetails": details}
        if index + 1 < len(self.pages):
            answer["NextPageToken"] = str(index + 1)
        return answer

    def associate(self, params):
        assert params["PrincipalType"] == "IAM" and params["PortfolioId"]
        self.log.append(("associate", params["PrincipalARN"]))
        self.associated.add((params["PortfolioId"], params["PrincipalARN"]))
        return {}

    def disassociate(self, params):
        self.log.append(("disassociate", params["PrincipalARN"]))
        key = (params["PortfolioId"], params["PrincipalARN"])
        if key not in self.associated:
            raise StubError("ResourceNotFoundException", "principal is not associated with the portfolio")
        self.associated.discard(key)
        return {}


def _portfolio(pid: str, provider: str) -> dict:
    return {
        "Id": pid,
        "ARN": f"arn:aws:catalog:{REGION}:{SAGEMAKER_ACCOUNT}:portfolio/{pid}",
        "DisplayName": f"{provider} portfolio",
        "ProviderName": provider,
    }


SHARES = [
    [_portfolio("port-other1", "Partner"), _portfolio("port-other2", "Another team")],
    [_portfolio(PORTFOLIO_ID, "Amazon SageMaker")],
]  # SageMaker's share on the second page


@contextlib.contextmanager
def catalog(aws, fake: FakeCatalog):
    with (
        stub_operation(aws, "sagemaker", "EnableSagemakerServicecatalogPortfolio", lambda r: {}) as enabled,
        stub_api(aws, "service-catalog", "ListAcceptedPortfolioShares", fake.list_shares),
        stub_api(aws, "service-catalog", "AssociatePrincipalWithPortfolio", fake.associate),
        stub_api(aws, "service-catalog", "DisassociatePrincipalFromPortfolio", fake.disassociate),
    ):
        fake.enabled = enabled.calls
        yield fake


def test_projects_create_enables_and_associates_every_principal(projects, aws, recorder, clock):
    fake = FakeCatalog(SHARES)
    # "" is what an If/AWS::NoValue entry renders as offline; CloudFormation drops it, the handler too.
    props = {"PrincipalArns": [EXECUTION_ROLE, PIPELINE_ROLE, "", DS_ROLE]}
    with catalog(aws, fake):
        assert projects.lambda_handler(cfn_event("Create", recorder.url, props), FakeContext()) == "SUCCESS"
    body = recorder.single()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == f"sagemaker-projects-{PORTFOLIO_ID}"
    assert body["Data"] == {"PortfolioId": PORTFOLIO_ID}
    assert len(fake.enabled) == 1
    assert fake.associated == {(PORTFOLIO_ID, arn) for arn in (EXECUTION_ROLE, PIPELINE_ROLE, DS_ROLE)}
    assert clock.sleeps == []  # found on the first lookup (second page)


def test_projects_waits_a_bounded_time_for_the_share_to_appear(projects, aws, recorder, clock):
    fake = FakeCatalog(SHARES, appears_after=2)
    with catalog(aws, fake):
        projects.lambda_handler(cfn_event("Create", recorder.url, {"PrincipalArns": [EXECUTION_ROLE]}), FakeContext())
    assert recorder.single()["Status"] == "SUCCESS"
    assert fake.listings == 3 and clock.sleeps == [projects.PAUSE] * 2


def test_projects_without_a_sagemaker_share_fails_after_bounded_retries_and_associates_nothing(
    projects, aws, recorder, clock
):
    fake = FakeCatalog(
        [[_portfolio("port-other1", "Partner")], [_portfolio("port-other2", "Amazon SageMakerX")]], appears_after=10**6
    )
    with catalog(aws, fake):
        assert (
            projects.lambda_handler(
                cfn_event("Create", recorder.url, {"PrincipalArns": [EXECUTION_ROLE]}), FakeContext()
            )
            == "FAILED"
        )
    body = recorder.single()
    assert body["Status"] == "FAILED"
    assert "no accepted portfolio share from 'Amazon SageMaker'" in body["Reason"]
    assert fake.log == []  # never an association with an empty or wrong portfolio id
    assert fake.listings == projects.ATTEMPTS
    assert clock.sleeps == [projects.PAUSE] * (projects.ATTEMPTS - 1)
    # The function's timeout leaves room for every lookup.
    assert sum(clock.sleeps) + 30 < 120


def test_projects_update_disassociates_removed_principals_and_keeps_the_physical_id(projects, aws, recorder):
    fake = FakeCatalog(SHARES)
    fake.associated = {(PORTFOLIO_ID, arn) for arn in (EXECUTION_ROLE, PIPELINE_ROLE, DS_ROLE)}
    physical = f"sagemaker-projects-{PORTFOLIO_ID}"
    event = cfn_event(
        "Update",
        recorder.url,
        {"PrincipalArns": [EXECUTION_ROLE, PIPELINE_ROLE]},
        physical_id=physical,
        old_properties={"PrincipalArns": [EXECUTION_ROLE, PIPELINE_ROLE, DS_ROLE]},
    )
    with catalog(aws, fake):
        projects.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", physical)
    assert fake.associated == {(PORTFOLIO_ID, EXECUTION_ROLE), (PORTFOLIO_ID, PIPELINE_ROLE)}
    assert [entry for entry in fake.log if entry[0] == "disassociate"] == [("disassociate", DS_ROLE)]


def test_projects_delete_disassociates_its_principals_and_leaves_projects_enabled(projects, aws, recorder):
    fake = FakeCatalog(SHARES)
    fake.associated = {(PORTFOLIO_ID, EXECUTION_ROLE), (PORTFOLIO_ID, "arn:aws:iam::1:role/someone-else")}
    event = cfn_event(
        "Delete",
        recorder.url,
        {"PrincipalArns": [EXECUTION_ROLE, PIPELINE_ROLE]},
        physical_id=f"sagemaker-projects-{PORTFOLIO_ID}",
    )
    with (
        catalog(aws, fake),
        stub_operation(aws, "sagemaker", "DisableSagemakerServicecatalogPortfolio", lambda r: {}) as disabled,
    ):
        projects.lambda_handler(event, FakeContext())
    assert recorder.single()["Status"] == "SUCCESS"
    # PIPELINE_ROLE was not associated (ResourceNotFound): ignored.  Other principals stay.
    assert fake.associated == {(PORTFOLIO_ID, "arn:aws:iam::1:role/someone-else")}
    assert fake.enabled == [] and disabled.calls == []


def test_projects_delete_after_a_failed_create_with_bad_input_succeeds(projects, aws, recorder):
    fake = FakeCatalog(SHARES)
    with catalog(aws, fake):
        projects.lambda_handler(cfn_event("Create", recorder.url, {"PrincipalArns": ["not-an-arn"]}), FakeContext())
        projects.lambda_handler(cfn_event("Delete", recorder.url, {"PrincipalArns": ["not-an-arn"]}), FakeContext())
    assert [r.json["Status"] for r in recorder.requests] == ["FAILED", "SUCCESS"]
    assert "not IAM ARNs" in recorder.requests[0].json["Reason"]
    assert fake.log == [] and fake.enabled == []


def test_projects_function_role_allows_every_call_of_its_code(projects, aws, recorder, studio_template):
    """The environment associates no principal with SageMaker's portfolio (its templates run as SageMaker's
    account-wide use role): the update from a version that did disassociates them, and the role can do that and
    enable Projects, but associate nobody."""
    fake = FakeCatalog(SHARES)
    fake.associated = {(PORTFOLIO_ID, EXECUTION_ROLE), (PORTFOLIO_ID, DS_ROLE)}
    event = cfn_event(
        "Update",
        recorder.url,
        {"PrincipalArns": []},
        physical_id="p",
        old_properties={"PrincipalArns": [EXECUTION_ROLE, DS_ROLE]},
    )
    with record_calls(aws) as calls, catalog(aws, fake):
        projects.lambda_handler(event, FakeContext())
    assert recorder.single()["Status"] == "SUCCESS"
    assert fake.associated == set()
    portfolio = f"arn:aws:catalog:{REGION}:{SAGEMAKER_ACCOUNT}:portfolio/{PORTFOLIO_ID}"
    requests = []
    for service, operation, _params in calls:
        if operation == "EnableSagemakerServicecatalogPortfolio":
            requests.append(("sagemaker:EnableSagemakerServicecatalogPortfolio", "*", {}))
        elif operation == "ListAcceptedPortfolioShares":
            requests.append(("servicecatalog:ListAcceptedPortfolioShares", "*", {}))
        elif operation == "DisassociatePrincipalFromPortfolio":
            requests.append((f"servicecatalog:{operation}", portfolio, {}))
        else:
            raise AssertionError(f"{service}.{operation}: say how IAM authorizes it")
    assert [r[0] for r in requests].count("servicecatalog:DisassociatePrincipalFromPortfolio") == 2
    assert _allowed(studio_template, "EnableSageMakerProjectsLambdaRole", requests, {}) == []
    # ...and the role associates nobody, reads no role, and does not reach another region's portfolio.
    refused = [
        ("servicecatalog:AssociatePrincipalWithPortfolio", portfolio, {}),
        ("servicecatalog:DisassociatePrincipalFromPortfolio", portfolio.replace(REGION, "eu-west-1"), {}),
        ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/admin", {}),
        ("sagemaker:DisableSagemakerServicecatalogPortfolio", "*", {}),
    ]
    assert _allowed(studio_template, "EnableSageMakerProjectsLambdaRole", refused, {}) == refused


# --------------------------------------------------------------------------------------------------------
# studio_cleanup: Custom::StudioAppsCleanup


class FakeStudio:
    """One domain's apps, spaces and user profiles as SageMaker keeps them (moto has none of these APIs).

    Deleting marks an entity Deleting; at the next sleep it is gone (apps stay listed as Deleted) unless it is
    ``stuck``.  Pending apps come into service at the next sleep.  Like SageMaker, a space or user profile
    with live apps (and a profile with spaces) cannot be deleted: such calls are recorded as violations.
    """

    def __init__(self, domain_id: str, apps: list[dict], spaces: list[str], profiles: list[str], stuck=()):
        self.domain_id = domain_id
        self.apps = [dict(a, DomainId=domain_id) for a in apps]
        self.spaces = {name: "InService" for name in spaces}
        self.profiles = {name: "InService" for name in profiles}
        self.stuck = set(stuck)
        self.calls: list[tuple[str, str]] = []
        self.violations: list[str] = []

    def tick(self):
        for app in self.apps:
            if app["Status"] == "Deleting" and app["AppName"] not in self.stuck:
                app["Status"] = "Deleted"
            elif app["Status"] == "Pending":
                app["Status"] = "InService"
        for table in (self.spaces, self.profiles):
            for name, status in list(table.items()):
                if status == "Deleting" and name not in self.stuck:
                    del table[name]

    def _live_apps(self, **owner):
        ((key, value),) = owner.items()
        return [a for a in self.apps if a.get(key) == value and a["Status"] not in ("Deleted", "Failed")]

    @staticmethod
    def _page(items, key, request, size=2):
        start = int(request.get("NextToken") or 0)
        answer = {key: items[start : start + size]}
        if start + size < len(items):
            answer["NextToken"] = str(start + size)
        return answer

    def list_apps(self, request):
        assert request["DomainIdEquals"] == self.domain_id
        return self._page([dict(a) for a in self.apps], "Apps", request)

    def delete_app(self, request):
        owner = {k: request[k] for k in ("UserProfileName", "SpaceName") if k in request}
        assert len(owner) == 1, "exactly one of UserProfileName and SpaceName"
        (app,) = [
            a
            for a in self.apps
            if a["AppName"] == request["AppName"]
            and a["AppType"] == request["AppType"]
            and all(a.get(k) == v for k, v in owner.items())
        ]
        self.calls.append(("DeleteApp", app["AppName"]))
        if app["Status"] != "InService":
            raise StubError("ResourceInUse", f"app {app['AppName']} is {app['Status']}")
        app["Status"] = "Deleting"
        return {}

    def list_spaces(self, request):
        assert request["DomainIdEquals"] == self.domain_id
        return self._page(
            [{"DomainId": self.domain_id, "SpaceName": n, "Status": s} for n, s in self.spaces.items()],
            "Spaces",
            request,
        )

    def delete_space(self, request):
        name = request["SpaceName"]
        self.calls.append(("DeleteSpace", name))
        if self._live_apps(SpaceName=name):
            self.violations.append(f"space {name} deleted while it has apps")
            raise StubError("ResourceInUse", "space has apps")
        if name not in self.spaces:
            raise StubError("ResourceNotFound", "no such space")
        self.spaces[name] = "Deleting"
        return {}

    def list_user_profiles(self, request):
        assert request["DomainIdEquals"] == self.domain_id
        return self._page(
            [{"DomainId": self.domain_id, "UserProfileName": n, "Status": s} for n, s in self.profiles.items()],
            "UserProfiles",
            request,
        )

    def delete_user_profile(self, request):
        name = request["UserProfileName"]
        self.calls.append(("DeleteUserProfile", name))
        if self._live_apps(UserProfileName=name) or self.spaces:
            self.violations.append(f"user profile {name} deleted while it has apps or spaces")
            raise StubError("ResourceInUse", "user profile has apps or spaces")
        self.profiles[name] = "Deleting"
        return {}


@contextlib.contextmanager
def studio(aws, clock, fake: FakeStudio):
    clock.listeners.append(fake.tick)
    with contextlib.ExitStack() as stack:
        for operation, respond in (
            ("ListApps", fake.list_apps),
            ("DeleteApp", fake.delete_app),
            ("ListSpaces", fake.list_spaces),
            ("DeleteSpace", fake.delete_space),
            ("ListUserProfiles", fake.list_user_profiles),
            ("DeleteUserProfile", fake.delete_user_profile),
        ):
            stack.enter_context(stub_operation(aws, "sagemaker", operation, respond))
        yield fake


def _domain(vpc_id: str = "vpc-0abc", subnet_id: str = "subnet-1", name: str = "mlops-dev") -> str:
    """A SageMaker domain in moto; returns its id."""
    arn = boto3.client("sagemaker").create_domain(
        DomainName=name,
        AuthMode="IAM",
        VpcId=vpc_id,
        SubnetIds=[subnet_id],
        DefaultUserSettings={"ExecutionRole": EXECUTION_ROLE},
        AppNetworkAccessType="VpcOnly",
    )["DomainArn"]
    return arn.rsplit("/", 1)[1]


def _app(name, status="InService", kind="JupyterLab", **owner):
    return {"AppName": name, "AppType": kind, "Status": status, **owner}


# One resource moto's CloudFormation creates (a stack needs one); what the stack holds does not matter here.
MARKER_TEMPLATE = {
    "Resources": {
        "Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/test/marker", "Type": "String", "Value": "x"},
        }
    }
}


class Stacks:
    """Stacks in moto (the one holding the custom resource, and env-main nesting it) and their StackStatus."""

    def __init__(self):
        self.cloudformation = boto3.client("cloudformation")

    def create(self, name: str, template: dict = MARKER_TEMPLATE) -> str:
        return self.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"]

    def nested(self, parent: str) -> tuple[str, str]:
        """env-main-like ``parent`` nesting a Studio stack, as CloudFormation does: (parent id, nested stack id)."""
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="nested-templates")
        s3.put_object(Bucket="nested-templates", Key="studio.json", Body=json.dumps(MARKER_TEMPLATE))
        parent_id = self.create(
            parent,
            {
                "Resources": {
                    "SageMakerStudio": {
                        "Type": "AWS::CloudFormation::Stack",
                        "Properties": {"TemplateURL": "https://nested-templates.s3.amazonaws.com/studio.json"},
                    }
                }
            },
        )
        (resource,) = self.cloudformation.describe_stack_resources(StackName=parent_id)["StackResources"]
        nested = self.cloudformation.describe_stacks(StackName=resource["PhysicalResourceId"])["Stacks"][0]
        assert nested["StackId"] != parent_id
        return parent_id, nested["StackId"]

    @staticmethod
    def set_status(stack_id: str, status: str) -> None:
        cloudformation_backends[ACCOUNT][REGION].stacks[stack_id].status = status

    def status(self, stack_id: str) -> str:
        return self.cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]


@pytest.fixture
def stacks(aws):
    return Stacks()


@pytest.fixture
def studio_stack(stacks):
    """The stack that holds StudioAppsCleanup, being deleted (the status in which its Delete deletes data)."""
    stack_id = stacks.create("mlops-dev-env-sagemaker-studio")
    stacks.set_status(stack_id, "DELETE_IN_PROGRESS")
    return stack_id


def _apps_event(recorder, request_type, domain_id, stack_id=None, **kwargs):
    event = cfn_event(
        request_type,
        recorder.url,
        {"DomainId": domain_id, "KeepUserProfiles": [OWN_PROFILE]},
        resource_type="Custom::StudioAppsCleanup",
        logical_id="StudioAppsCleanup",
        **kwargs,
    )
    if stack_id:
        event["StackId"] = stack_id  # the ARN of the stack that holds the resource
    return event


def _users_content(domain_id, stuck=()):
    return FakeStudio(
        domain_id,
        apps=[
            _app("default", UserProfileName=OWN_PROFILE),
            _app("default", kind="CodeEditor", SpaceName="alice-space"),
            _app("starting", status="Pending", SpaceName="team-space"),
            _app("old", status="Deleted", UserProfileName="alice"),
            _app("broken", status="Failed", UserProfileName="bob"),
        ],
        spaces=["alice-space", "team-space", "bob-space"],
        profiles=[OWN_PROFILE, "alice", "bob"],
        stuck=stuck,
    )


def _untouched(fake: FakeStudio) -> None:
    """Every app, space and user profile of the fake domain is as _users_content made it."""
    assert fake.calls == [] and fake.violations == []
    assert fake.spaces == {name: "InService" for name in ("alice-space", "team-space", "bob-space")}
    assert fake.profiles == {name: "InService" for name in (OWN_PROFILE, "alice", "bob")}
    assert [a["Status"] for a in fake.apps] == ["InService", "InService", "Pending", "Deleted", "Failed"]


def test_apps_cleanup_create_does_nothing_but_return_the_domain_id(cleanup, aws, recorder, clock):
    domain_id = _domain()
    fake = _users_content(domain_id)
    with studio(aws, clock, fake):
        cleanup.lambda_handler(_apps_event(recorder, "Create", domain_id), FakeContext())
    body = recorder.single()
    assert (body["Status"], body["PhysicalResourceId"], body["Data"]) == ("SUCCESS", domain_id, {"DomainId": domain_id})
    assert fake.calls == [] and clock.sleeps == []


def test_apps_cleanup_update_keeps_its_physical_id_when_the_domain_is_replaced(cleanup, aws, recorder, clock):
    """A new physical id would make CloudFormation send a Delete for the old one in the update's clean-up
    phase (the audit's data loss): an Update never changes it, also for stacks whose id is an old domain id."""
    old, new = _domain(name="mlops-dev"), _domain(name="mlops-dev-renamed")
    fake = _users_content(old)
    event = _apps_event(
        recorder, "Update", new, physical_id=old, old_properties={"DomainId": old, "KeepUserProfiles": [OWN_PROFILE]}
    )
    with studio(aws, clock, fake):
        cleanup.lambda_handler(event, FakeContext())
    body = recorder.single()
    assert (body["Status"], body["PhysicalResourceId"], body["Data"]) == ("SUCCESS", old, {"DomainId": new})
    _untouched(fake)


@pytest.mark.parametrize("status", ["DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"])
def test_apps_cleanup_delete_removes_apps_then_spaces_then_other_profiles(
    cleanup, aws, recorder, clock, stacks, status
):
    stack_id = stacks.create("mlops-dev-env-sagemaker-studio")
    stacks.set_status(stack_id, status)  # the stack is deleted, or its failed creation rolled back
    domain_id = _domain()
    fake = _users_content(domain_id)
    with studio(aws, clock, fake):
        assert (
            cleanup.lambda_handler(
                _apps_event(recorder, "Delete", domain_id, stack_id, physical_id=domain_id), FakeContext()
            )
            == "SUCCESS"
        )
    assert recorder.single()["Status"] == "SUCCESS"
    kinds = [kind for kind, _ in fake.calls]
    # Every app first (the pending one once it is in service), then every space, then the other profiles.
    assert kinds == sorted(kinds, key=["DeleteApp", "DeleteSpace", "DeleteUserProfile"].index)
    assert sorted(name for kind, name in fake.calls if kind == "DeleteApp") == ["default", "default", "starting"]
    assert ("DeleteApp", "old") not in fake.calls and ("DeleteApp", "broken") not in fake.calls
    assert sorted(name for kind, name in fake.calls if kind == "DeleteSpace") == [
        "alice-space",
        "bob-space",
        "team-space",
    ]
    assert sorted(name for kind, name in fake.calls if kind == "DeleteUserProfile") == ["alice", "bob"]
    assert fake.violations == []
    assert fake.spaces == {} and fake.profiles == {OWN_PROFILE: "InService"}  # the stack deletes its own
    assert all(app["Status"] in ("Deleted", "Failed") for app in fake.apps)
    assert clock.sleeps and all(s == cleanup.POLL for s in clock.sleeps)


@pytest.mark.parametrize(
    "status",
    ["UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"],
)
def test_apps_cleanup_delete_during_an_update_keeps_every_app_space_and_profile(
    cleanup, aws, recorder, clock, stacks, status
):
    """The audit's scenario: an update replaced the domain and CloudFormation's clean-up phase sends a Delete for
    the old physical id with the old domain's properties (also a resource removed or renamed by an update, or
    the clean-up after a rolled-back update).  Nothing of the users' is deleted, and CloudFormation gets SUCCESS."""
    stack_id = stacks.create("mlops-dev-env-sagemaker-studio")
    stacks.set_status(stack_id, status)
    old = _domain()
    fake = _users_content(old)
    with studio(aws, clock, fake):
        assert (
            cleanup.lambda_handler(_apps_event(recorder, "Delete", old, stack_id, physical_id=old), FakeContext())
            == "SUCCESS"
        )
    body = recorder.single()
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", old)
    _untouched(fake)
    assert clock.sleeps == []
    kept = body["Data"]["Kept"]
    assert old in kept and status in kept and "never deleted on an update" in kept and "migrate" in kept


def test_apps_cleanup_replacing_the_domain_in_an_update_deletes_no_user_data(cleanup, aws, recorder, clock, stacks):
    """CloudFormation's whole sequence for an update that replaces the domain (DomainName changed): the custom
    resource is updated with the new DomainId; only if the answer names another physical id does the
    clean-up phase send a Delete for the old one (with the old properties)."""
    stack_id = stacks.create("mlops-dev-env-sagemaker-studio")
    old, new = _domain(name="mlops-dev"), _domain(name="mlops-dev-renamed")
    fake = _users_content(old)
    with studio(aws, clock, fake):
        stacks.set_status(stack_id, "UPDATE_IN_PROGRESS")
        cleanup.lambda_handler(
            _apps_event(
                recorder,
                "Update",
                new,
                stack_id,
                physical_id=old,
                old_properties={"DomainId": old, "KeepUserProfiles": [OWN_PROFILE]},
            ),
            FakeContext(),
        )
        answer = recorder.requests[-1].json
        assert answer["Status"] == "SUCCESS", answer["Reason"]
        if answer["PhysicalResourceId"] != old:
            stacks.set_status(stack_id, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
            cleanup.lambda_handler(_apps_event(recorder, "Delete", old, stack_id, physical_id=old), FakeContext())
            assert recorder.requests[-1].json["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == old  # no Delete at all
    _untouched(fake)


@pytest.mark.parametrize(
    "status, deletes", [("DELETE_IN_PROGRESS", True), ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", False)]
)
def test_apps_cleanup_asks_about_the_nested_stack_that_holds_it(cleanup, aws, recorder, clock, stacks, status, deletes):
    """In env-main, the resource lives in the nested Studio stack: CloudFormation's StackId is that stack's ARN,
    and deleting env-main (or an update of it) puts the nested stack in DELETE_IN_PROGRESS (or its clean-up)."""
    parent_id, nested_id = stacks.nested("mlops-dev-env-main")
    for stack_id in (parent_id, nested_id):
        stacks.set_status(stack_id, status)
    domain_id = _domain()
    fake = _users_content(domain_id)
    with studio(aws, clock, fake), stub_api(aws, "cloudformation", "DescribeStacks", lambda params: None) as asked:
        cleanup.lambda_handler(
            _apps_event(recorder, "Delete", domain_id, nested_id, physical_id=domain_id), FakeContext()
        )
    assert recorder.single()["Status"] == "SUCCESS"
    assert [call["StackName"] for call in asked] == [nested_id]  # the stack holding it, not env-main
    if deletes:
        assert fake.spaces == {} and fake.profiles == {OWN_PROFILE: "InService"}
    else:
        _untouched(fake)


def _denied(params):
    raise StubError("AccessDenied", "User is not authorized to perform: cloudformation:DescribeStacks", 403)


def _throttled(params):
    raise StubError("Throttling", "Rate exceeded", 400)


@pytest.mark.parametrize("failure", ["AccessDenied", "Throttling", "unknown stack"])
def test_apps_cleanup_keeps_the_data_and_fails_when_the_stack_status_is_unknown(
    cleanup, aws, recorder, clock, stacks, failure
):
    """No answer from DescribeStacks: nothing is deleted, and the Delete FAILS, saying why (a stack deletion then
    stops, and deleting the stack again asks again; SUCCESS would let it go on to a domain SageMaker refuses to
    delete while spaces exist, with no retry of this resource)."""
    stack_id = stacks.create("mlops-dev-env-sagemaker-studio")
    stacks.set_status(stack_id, "DELETE_IN_PROGRESS")
    domain_id = _domain()
    fake = _users_content(domain_id)
    with contextlib.ExitStack() as stack:
        stack.enter_context(studio(aws, clock, fake))
        if failure == "unknown stack":  # moto's own answer for a stack it does not know
            stack_id = stack_id.replace("mlops-dev-env-sagemaker-studio", "another-stack")
        else:
            stack.enter_context(
                stub_api(aws, "cloudformation", "DescribeStacks", _denied if failure == "AccessDenied" else _throttled)
            )
        assert (
            cleanup.lambda_handler(
                _apps_event(recorder, "Delete", domain_id, stack_id, physical_id=domain_id), FakeContext()
            )
            == "FAILED"
        )
    body = recorder.single()
    assert body["Status"] == "FAILED"
    reason = body["Reason"]
    assert reason.startswith("RuntimeError: nothing was deleted: cannot tell whether stack") and stack_id in reason
    assert {"AccessDenied": "AccessDenied", "Throttling": "Throttling", "unknown stack": "ValidationError"}[
        failure
    ] in reason
    assert "cloudformation:DescribeStacks" in reason and "delete it again" in reason
    _untouched(fake)


def test_apps_cleanup_gives_up_after_its_budget_and_says_what_is_left(cleanup, aws, recorder, clock, studio_stack):
    domain_id = _domain()
    fake = _users_content(domain_id, stuck=("default",))
    with studio(aws, clock, fake):
        assert (
            cleanup.lambda_handler(
                _apps_event(recorder, "Delete", domain_id, studio_stack, physical_id=domain_id), FakeContext()
            )
            == "FAILED"
        )
    body = recorder.single()
    assert "still waiting after 780 s" in body["Reason"] and "JupyterLab/default" in body["Reason"]
    assert "delete the stack again" in body["Reason"]
    assert sum(clock.sleeps) == cleanup.BUDGET
    assert not [c for c in fake.calls if c[0] != "DeleteApp"]  # nothing else before the apps are gone
    # The budget leaves the runtime time to answer before the function's timeout.
    assert cleanup.BUDGET + 60 <= 900


def test_apps_cleanup_delete_of_a_domain_that_is_gone_succeeds_at_once(cleanup, aws, recorder, clock, studio_stack):
    def missing(request):
        raise StubError("ResourceNotFound", f"Domain {request['DomainId']} not found")

    fake = _users_content("d-gone")
    with studio(aws, clock, fake), stub_operation(aws, "sagemaker", "DescribeDomain", missing):
        cleanup.lambda_handler(
            _apps_event(recorder, "Delete", "d-gone", studio_stack, physical_id="d-gone"), FakeContext()
        )
    assert recorder.single()["Status"] == "SUCCESS"
    assert fake.calls == [] and clock.sleeps == []


def test_apps_cleanup_other_describe_errors_fail_the_delete(cleanup, aws, recorder, clock, studio_stack):
    def denied(request):
        raise StubError("AccessDeniedException", "not authorized to perform sagemaker:DescribeDomain")

    with stub_operation(aws, "sagemaker", "DescribeDomain", denied):
        cleanup.lambda_handler(_apps_event(recorder, "Delete", "d-x", studio_stack, physical_id="d-x"), FakeContext())
    body = recorder.single()
    assert body["Status"] == "FAILED" and "AccessDeniedException" in body["Reason"]


def test_apps_cleanup_function_role_allows_every_call_of_its_code(
    cleanup, aws, recorder, clock, studio_template, studio_stack
):
    domain_id = _domain()
    fake = _users_content(domain_id)
    with record_calls(aws) as calls, studio(aws, clock, fake):
        cleanup.lambda_handler(
            _apps_event(recorder, "Delete", domain_id, studio_stack, physical_id=domain_id), FakeContext()
        )
    assert recorder.single()["Status"] == "SUCCESS"
    requests = []
    for _, operation, params in calls:
        if operation == "DescribeStacks":
            assert params["StackName"] == studio_stack  # an ARN: IAM authorizes it against that stack
            requests.append(("cloudformation:DescribeStacks", params["StackName"], {}))
        elif operation in ("ListApps", "ListSpaces", "ListUserProfiles"):
            requests.append((f"sagemaker:{operation}", "*", {}))
        elif operation == "DescribeDomain":
            requests.append(("sagemaker:DescribeDomain", _own("sagemaker", f"domain/{params['DomainId']}"), {}))
        elif operation == "DeleteApp":
            owner = params.get("UserProfileName") or params.get("SpaceName")
            app = f"app/{params['DomainId']}/{owner}/{params['AppType'].lower()}/{params['AppName']}"
            requests.append(("sagemaker:DeleteApp", _own("sagemaker", app), {}))
        elif operation == "DeleteSpace":
            requests.append(
                ("sagemaker:DeleteSpace", _own("sagemaker", f"space/{params['DomainId']}/{params['SpaceName']}"), {})
            )
        elif operation == "DeleteUserProfile":
            requests.append(
                (
                    "sagemaker:DeleteUserProfile",
                    _own("sagemaker", f"user-profile/{params['DomainId']}/{params['UserProfileName']}"),
                    {},
                )
            )
        else:
            raise AssertionError(f"{operation}: say how IAM authorizes it")
    assert {r[0] for r in requests} == {
        "cloudformation:DescribeStacks",
        "sagemaker:ListApps",
        "sagemaker:ListSpaces",
        "sagemaker:ListUserProfiles",
        "sagemaker:DescribeDomain",
        "sagemaker:DeleteApp",
        "sagemaker:DeleteSpace",
        "sagemaker:DeleteUserProfile",
    }
    # The role is rendered in the stack that holds the resource: AWS::StackId is the event's StackId.
    assert _allowed(studio_template, "StudioAppsCleanupLambdaRole", requests, {}, stack_id=studio_stack) == []
    # Only SageMaker, in this account and region: no domain deletion, nothing elsewhere; no other stack's status,
    # nothing but reading its own stack.
    other = [
        ("sagemaker:DeleteDomain", _own("sagemaker", f"domain/{domain_id}"), {}),
        ("sagemaker:DeleteApp", f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:app/d-1/u/jupyterlab/default", {}),
        ("elasticfilesystem:DeleteMountTarget", _own("elasticfilesystem", "file-system/fs-1"), {}),
        ("cloudformation:DescribeStacks", _own("cloudformation", "stack/mlops-dev-env-main/1234"), {}),
        ("cloudformation:DescribeStacks", "*", {}),
        ("cloudformation:DeleteStack", studio_stack, {}),
        ("cloudformation:UpdateStack", studio_stack, {}),
    ]
    assert _allowed(studio_template, "StudioAppsCleanupLambdaRole", other, {}, stack_id=studio_stack) == other


# --------------------------------------------------------------------------------------------------------
# studio_cleanup: Custom::HomeFileSystemRelease


def _release_event(recorder, request_type, vpc_id, **kwargs):
    return cfn_event(
        request_type,
        recorder.url,
        {"VpcId": vpc_id},
        resource_type="Custom::HomeFileSystemRelease",
        logical_id="HomeFileSystemRelease",
        **kwargs,
    )


def _nfs_pair(ec2, vpc_id, domain_id):
    """SageMaker's two NFS security groups of a domain, each referencing the other (as SageMaker sets them)."""
    inbound = ec2.create_security_group(
        GroupName=f"security-group-for-inbound-nfs-{domain_id}", Description="NFS", VpcId=vpc_id
    )["GroupId"]
    outbound = ec2.create_security_group(
        GroupName=f"security-group-for-outbound-nfs-{domain_id}", Description="NFS", VpcId=vpc_id
    )["GroupId"]
    nfs = {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049}
    ec2.authorize_security_group_ingress(
        GroupId=inbound, IpPermissions=[{**nfs, "UserIdGroupPairs": [{"GroupId": outbound}]}]
    )
    ec2.authorize_security_group_egress(
        GroupId=outbound, IpPermissions=[{**nfs, "UserIdGroupPairs": [{"GroupId": inbound}]}]
    )
    return inbound, outbound


def _home(efs, domain_arn, subnet_id, groups):
    fs_id = efs.create_file_system(
        CreationToken=uuid.uuid4().hex,
        Encrypted=True,
        Tags=[{"Key": "Owner", "Value": "someone"}, {"Key": "ManagedByAmazonSageMakerResource", "Value": domain_arn}],
    )["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet_id, SecurityGroups=[groups[0]])
    return fs_id


@pytest.fixture
def network(aws):
    """Two VPCs.  In the environment's VPC: the home file system and NFS groups of a deleted domain (d-gone), of
    a domain that still exists, and the environment's own security group; in the other VPC a deleted domain's."""
    ec2, efs = boto3.client("ec2"), boto3.client("efs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    ]
    other_vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    live = _domain(vpc, subnets[0])
    own_group = ec2.create_security_group(GroupName="mlops-dev-sagemaker", Description="env", VpcId=vpc)["GroupId"]

    gone_groups = _nfs_pair(ec2, vpc, "d-gone")
    gone_fs = _home(efs, _own("sagemaker", "domain/d-gone"), subnets[0], gone_groups)
    efs.create_mount_target(FileSystemId=gone_fs, SubnetId=subnets[1], SecurityGroups=[gone_groups[0]])
    live_groups = _nfs_pair(ec2, vpc, live)
    live_fs = _home(efs, _own("sagemaker", f"domain/{live}"), subnets[0], live_groups)
    elsewhere_groups = _nfs_pair(ec2, other_vpc, "d-gone2")
    elsewhere_fs = _home(efs, _own("sagemaker", "domain/d-gone2"), other_subnet, elsewhere_groups)
    foreign_fs = _home(efs, f"arn:aws:sagemaker:{REGION}:111122223333:domain/d-gone", subnets[1], gone_groups)
    return {
        "vpc": vpc,
        "live": live,
        "own_group": own_group,
        "gone_fs": gone_fs,
        "gone_groups": gone_groups,
        "live_fs": live_fs,
        "live_groups": live_groups,
        "elsewhere_fs": elsewhere_fs,
        "elsewhere_groups": elsewhere_groups,
        "foreign_fs": foreign_fs,
    }


def _gone_domains_stub(live: str):
    """DescribeDomain as SageMaker answers it (moto says ValidationException for a missing domain)."""

    def respond(request):
        if request["DomainId"] != live:
            raise StubError("ResourceNotFound", f"Domain {request['DomainId']} not found")
        return {"DomainId": live, "Status": "InService"}

    return respond


def _mount_targets(fs_id):
    return boto3.client("efs").describe_mount_targets(FileSystemId=fs_id)["MountTargets"]


def _groups(vpc_id=None):
    filters = [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else []
    return {g["GroupId"] for g in boto3.client("ec2").describe_security_groups(Filters=filters)["SecurityGroups"]}


def test_release_delete_detaches_the_home_file_system_of_the_deleted_domain_and_keeps_it(
    cleanup, aws, recorder, clock, network
):
    n = network
    with stub_operation(aws, "sagemaker", "DescribeDomain", _gone_domains_stub(n["live"])):
        assert (
            cleanup.lambda_handler(_release_event(recorder, "Delete", n["vpc"], physical_id="r"), FakeContext())
            == "SUCCESS"
        )
    body = recorder.single()
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"] == {"FileSystemIds": n["gone_fs"]}
    # The deleted domain's file system: no mount targets, no NFS groups, but the file system (the data) is kept.
    assert _mount_targets(n["gone_fs"]) == []
    file_systems = {fs["FileSystemId"] for fs in boto3.client("efs").describe_file_systems()["FileSystems"]}
    assert {n["gone_fs"], n["live_fs"], n["elsewhere_fs"], n["foreign_fs"]} <= file_systems
    remaining = _groups()
    assert not set(n["gone_groups"]) & remaining
    # Untouched: the live domain's, the other VPC's, another account's domain's file system, other groups.
    assert len(_mount_targets(n["live_fs"])) == 1 and set(n["live_groups"]) <= remaining
    assert len(_mount_targets(n["elsewhere_fs"])) == 1 and set(n["elsewhere_groups"]) <= remaining
    assert len(_mount_targets(n["foreign_fs"])) == 1
    assert n["own_group"] in remaining


def test_release_retries_groups_still_in_use_within_its_budget(cleanup, aws, recorder, clock, network):
    n = network
    refusals = {n["gone_groups"][0]: 2}  # the inbound group: its interfaces take two polls to go away

    def in_use(params):
        if refusals.get(params["GroupId"]):
            refusals[params["GroupId"]] -= 1
            raise StubError("DependencyViolation", "resource has a dependent object")
        return None  # moto deletes it

    with (
        stub_operation(aws, "sagemaker", "DescribeDomain", _gone_domains_stub(n["live"])),
        stub_api(aws, "ec2", "DeleteSecurityGroup", in_use) as deletes,
    ):
        cleanup.lambda_handler(_release_event(recorder, "Delete", n["vpc"], physical_id="r"), FakeContext())
    assert recorder.single()["Status"] == "SUCCESS"
    assert clock.sleeps == [cleanup.POLL] * 2
    assert [d["GroupId"] for d in deletes].count(n["gone_groups"][0]) == 3
    assert not set(n["gone_groups"]) & _groups()


def test_release_gives_up_after_its_budget_when_a_group_stays_in_use(cleanup, aws, recorder, clock, network):
    n = network

    def always_in_use(params):
        if params["GroupId"] == n["gone_groups"][1]:
            raise StubError("DependencyViolation", "resource has a dependent object")
        return None

    with (
        stub_operation(aws, "sagemaker", "DescribeDomain", _gone_domains_stub(n["live"])),
        stub_api(aws, "ec2", "DeleteSecurityGroup", always_in_use),
    ):
        assert (
            cleanup.lambda_handler(_release_event(recorder, "Delete", n["vpc"], physical_id="r"), FakeContext())
            == "FAILED"
        )
    reason = recorder.single()["Reason"]
    assert n["gone_groups"][1] in reason and "still waiting" in reason
    assert sum(clock.sleeps) == cleanup.BUDGET
    assert _mount_targets(n["gone_fs"]) == []  # what could be done is done; a retry continues


def test_release_create_checks_the_vpc_and_names_it_in_the_physical_id(cleanup, aws, recorder):
    cleanup.lambda_handler(_release_event(recorder, "Create", "vpc-0123456789abcdef0"), FakeContext())
    cleanup.lambda_handler(_release_event(recorder, "Create", "not-a-vpc"), FakeContext())
    first, second = (r.json for r in recorder.requests)
    assert (first["Status"], first["PhysicalResourceId"]) == (
        "SUCCESS",
        "home-file-system-release-vpc-0123456789abcdef0",
    )
    # the domain's HomeEfsFileSystemCreation comes from this answer (so the domain waits for the release)
    assert first["Data"] == {"HomeEfsFileSystemCreation": "Enabled"}
    assert second["Status"] == "FAILED" and "VpcId" in second["Reason"]


def test_release_delete_in_an_empty_vpc_does_nothing(cleanup, aws, recorder, clock):
    vpc = boto3.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    cleanup.lambda_handler(_release_event(recorder, "Delete", vpc, physical_id="r"), FakeContext())
    body = recorder.single()
    assert (body["Status"], body["Data"]) == ("SUCCESS", {}) and clock.sleeps == []


def test_release_function_role_allows_every_call_of_its_code(cleanup, aws, recorder, clock, network, studio_template):
    n = network
    efs, ec2 = boto3.client("efs"), boto3.client("ec2")
    # What IAM evaluates a call against, known before the handler deletes it.
    mount_targets = {mt["MountTargetId"]: mt for fs in (n["gone_fs"], n["live_fs"]) for mt in _mount_targets(fs)}
    tags = {
        fs["FileSystemId"]: {t["Key"]: t["Value"] for t in fs["Tags"]}
        for fs in efs.describe_file_systems()["FileSystems"]
    }
    group_vpcs = {g["GroupId"]: g["VpcId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    with record_calls(aws) as calls, stub_operation(aws, "sagemaker", "DescribeDomain", _gone_domains_stub(n["live"])):
        cleanup.lambda_handler(_release_event(recorder, "Delete", n["vpc"], physical_id="r"), FakeContext())
    assert recorder.single()["Status"] == "SUCCESS"
    vpc_arn = lambda vpc: _own("ec2", f"vpc/{vpc}")  # noqa: E731
    requests = []
    for _, operation, params in calls:
        if operation == "DescribeFileSystems":
            requests.append(("elasticfilesystem:DescribeFileSystems", _own("elasticfilesystem", "file-system/*"), {}))
        elif operation == "DescribeMountTargets":
            requests.append(
                (
                    "elasticfilesystem:DescribeMountTargets",
                    _own("elasticfilesystem", f"file-system/{params['FileSystemId']}"),
                    {},
                )
            )
        elif operation == "DeleteMountTarget":
            mt = mount_targets[params["MountTargetId"]]
            tag = "aws:ResourceTag/ManagedByAmazonSageMakerResource"
            requests += [
                (
                    "elasticfilesystem:DeleteMountTarget",
                    _own("elasticfilesystem", f"file-system/{mt['FileSystemId']}"),
                    {tag: tags[mt["FileSystemId"]]["ManagedByAmazonSageMakerResource"]},
                ),
                (
                    "ec2:DeleteNetworkInterface",
                    _own("ec2", f"network-interface/{mt['NetworkInterfaceId']}"),
                    {"ec2:Vpc": vpc_arn(mt["VpcId"])},
                ),
            ]
        elif operation == "DescribeDomain":
            requests.append(("sagemaker:DescribeDomain", _own("sagemaker", f"domain/{params['DomainId']}"), {}))
        elif operation == "DescribeSecurityGroups":
            requests.append(("ec2:DescribeSecurityGroups", "*", {}))
        elif operation in ("RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "DeleteSecurityGroup"):
            requests.append(
                (
                    f"ec2:{operation}",
                    _own("ec2", f"security-group/{params['GroupId']}"),
                    {"ec2:Vpc": vpc_arn(group_vpcs[params["GroupId"]])},
                )
            )
        else:
            raise AssertionError(f"{operation}: say how IAM authorizes it")
    assert {r[0].split(":")[1] for r in requests} == {
        "DescribeFileSystems",
        "DescribeMountTargets",
        "DeleteMountTarget",
        "DeleteNetworkInterface",
        "DescribeDomain",
        "DescribeSecurityGroups",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "DeleteSecurityGroup",
    }
    params = {"VPCId": n["vpc"]}
    assert _allowed(studio_template, "HomeFileSystemReleaseLambdaRole", requests, params) == []
    # Never the file system itself; nothing in another VPC; only SageMaker's file systems.
    other_vpc = vpc_arn("vpc-0other")
    denied = [
        ("elasticfilesystem:DeleteFileSystem", _own("elasticfilesystem", f"file-system/{n['gone_fs']}"), {}),
        ("ec2:DeleteSecurityGroup", _own("ec2", "security-group/sg-1"), {"ec2:Vpc": other_vpc}),
        ("ec2:DeleteNetworkInterface", _own("ec2", "network-interface/eni-1"), {"ec2:Vpc": other_vpc}),
        (
            "elasticfilesystem:DeleteMountTarget",
            _own("elasticfilesystem", "file-system/fs-1"),
            {"aws:ResourceTag/ManagedByAmazonSageMakerResource": "arn:aws:sagemaker:eu-west-1:1:domain/d-1"},
        ),
        ("elasticfilesystem:DeleteMountTarget", _own("elasticfilesystem", "file-system/fs-1"), {}),
        ("sagemaker:DeleteApp", _own("sagemaker", "app/d-1/u/jupyterlab/default"), {}),
    ]
    assert _allowed(studio_template, "HomeFileSystemReleaseLambdaRole", denied, params) == denied


# --------------------------------------------------------------------------------------------------------
# Shapes that reach Lambda


def test_unknown_resource_type_fails_create_and_is_ignored_on_delete(cleanup, aws, recorder):
    for request_type in ("Create", "Delete"):
        cleanup.lambda_handler(
            cfn_event(request_type, recorder.url, {"DomainId": "d-1"}, resource_type="Custom::Other"), FakeContext()
        )
    assert [r.json["Status"] for r in recorder.requests] == ["FAILED", "SUCCESS"]
    assert "unknown resource type" in recorder.requests[0].json["Reason"]


@pytest.mark.parametrize("module", ["enable_sagemaker_projects", "studio_cleanup"])
def test_handlers_are_packaged_as_zips_that_lambda_can_import(module, tmp_path, recorder):
    assert not functions.fits_inline(module)  # too long for Code.ZipFile: the template points at the zip
    index = load_zip(functions.zip_bytes(module), tmp_path / "pkg")
    event = cfn_event(
        "Create",
        recorder.url,
        {"VpcId": "vpc-1", "PrincipalArns": ["not-an-arn"]},
        resource_type="Custom::HomeFileSystemRelease",
    )
    index.lambda_handler(event, FakeContext())
    # Both answer through the packaged runtime: studio_cleanup accepts the VPC, enable_sagemaker_projects refuses
    # the principal before any AWS call.
    assert recorder.single()["Status"] == ("SUCCESS" if module == "studio_cleanup" else "FAILED")
