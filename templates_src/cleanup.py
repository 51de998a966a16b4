"""Taking an environment down: find what the platform created for it, plan, then delete in order, data last.

``generate.py cleanup --env-name N --env-type T`` (templates_src/cli_cleanup.py) runs ``discover`` (read-only),
shows the plan, and with ``--yes`` (or a confirmation) runs ``execute``.

**Scope, from what this project generates, never from the account at large.**  A resource is the environment's
only for a reason the plan states, each a name or tag the generated templates (or the seed code) give it:

* environment stacks: root stacks created from env-main or the quickstart (their ``Description``) whose
  ``EnvName``/``EnvType`` parameters are N and T; one named ``SC-<account>-pp-<id>`` is a Service Catalog
  provisioned product and is terminated through Service Catalog, not deleted behind its back;
* the Studio domain: tags ``EnvironmentName``/``EnvironmentType`` (the domain is deleted with its stack; one left
  outside any stack is deleted on its own, after its apps, spaces and user profiles);
* MLOps projects: created from the environment's domain (``CreatedBy.DomainId``) or tagged with its tags; per
  project, by the names the project templates give them: the deploy pipeline's StackSets
  ``sagemaker-<project>-<id>-deploy-<stage>`` and their stack instances in every target account, the SageMaker
  pipeline ``sagemaker-<project>-<id>``, endpoints tagged ``sagemaker:project-id`` that no stack owns;
* data, found by name or tag so that a later run still finds it once the stacks are gone: the environment's
  buckets ``<env>-<type>-<region>-<account>-{data,models,logs}``, the projects' artifact buckets
  ``sm-mlops-cp-<project id>-<account>`` tagged with the environment's tags, model package groups tagged with
  them, KMS keys tagged with them, the Studio home file system SageMaker tagged with the domain's ARN (or with
  the environment's tags);
* lingering network interfaces (``available``, left by endpoints and SageMaker) in the VPC tagged with the
  environment's tags;
* ``--core-stack NAME``: the core stack, only when no other environment in the region still uses it.

Anything else, another environment's resources included, is never touched (tests/test_cleanup.py builds two).

**Data-safe by default.**  Without ``delete_data``: a bucket that holds objects (any version), a model package
group that holds model packages, the home file system and every KMS key are kept and reported with the reason.
With it: versioned buckets are emptied (every version and delete marker), a VPC-only bucket policy that would
refuse the emptying from outside the VPC is removed first (logged), model packages and their groups are deleted,
and key deletion is scheduled with ``KEY_PENDING_DAYS`` days of waiting (cancellable until then), last.

**Order** (``STEPS``): the model deployment StackSets' instances (``RetainStacks`` for accounts that cannot be
reached: reported), the StackSets, the projects' pipelines and endpoints, the projects, provisioned products, the
environment stacks, a domain outside stacks, the home file system's mount targets (and, with data, the file
system), lingering network interfaces (bounded wait), the core stack, then data.  Pipelines and endpoints go
before their project (the order the issue lists puts projects first): a run stopped after a project is gone
would no longer know which pipeline and endpoints were the project's.

**Idempotent and resumable.**  ``discover`` looks at what exists now, so a second run finds nothing to do, and a
run that was stopped or failed half way is completed by the next one.  Every wait is bounded (``WAIT_SECONDS``;
progress on stderr); StackSet operations that meet ``OperationInProgressException`` wait and try again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from templates_src.blocks import environment as envb
from templates_src.blocks import project as project_blocks
from templates_src.templates.project import project_model_deploy

# What is found (an item's kind), in the order it is handled.
STEPS = (
    "stackset-instances",  # the model deployment StackSets' instances, in every target account
    "stackset",  # the model deployment StackSets
    "pipeline",  # the projects' SageMaker pipelines
    "endpoint",  # endpoints no stack owns
    "project",
    "provisioned-product",  # Service Catalog provisioned products of the environment
    "environment-stack",
    "domain",  # a Studio domain left outside its stack
    "home-file-system",
    "network-interface",  # lingering network interfaces
    "core-stack",
    "bucket",
    "model-package-group",
    "kms-key",
)
STEP_ORDER = {kind: i for i, kind in enumerate(STEPS)}

# Names the generated templates give (each from its one definition where the code can import it).
PROJECT_TAG_ID = project_blocks.PROJECT_ID_TAG
STACK_TAG = "aws:cloudformation:stack-name"
HOME_FS_TAG = envb.SAGEMAKER_HOME_FS_TAG
SC_STACK = re.compile(r"^SC-\d{12}-(pp-[a-z0-9]+)$")


def _project_name(pattern: str) -> str:
    """A project's physical name pattern as a format string ({name}, {id}, {stage})."""
    names = {"${SageMakerProjectName}": "{name}", "${SageMakerProjectId}": "{id}", "${Stage}": "{stage}"}
    for variable, field_name in names.items():
        pattern = pattern.replace(variable, field_name)
    return pattern


PIPELINE = _project_name(project_blocks.PHYSICAL)  # the build pipeline's name (project_model_build_train)
DEPLOY_STACKSET = _project_name(project_model_deploy.DEPLOY_STACKSET)  # the deploy pipeline's, per stage
PROJECT_BUCKET = envb.PROJECT_BUCKETS.replace("*", "{id}-{account}")
UNREACHABLE = ("INOPERABLE",)  # stack instance status of an account StackSets can no longer reach

KEY_PENDING_DAYS = 30  # KMS's longest waiting period: the most time to notice and cancel
WAIT_SECONDS = 900.0  # the longest one wait may take (a stack deletion, a StackSet operation, ...)
POLL_SECONDS = 5.0
ENI_WAIT_SECONDS = 600.0  # network interfaces of deleted endpoints may take this long to be released
RETRY = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


class CleanupError(Exception):
    """A fault the next run can complete (AWS refused or failed); one line."""


@dataclass
class Item:
    """One resource of the plan."""

    kind: str  # a STEPS key
    name: str  # what AWS calls it (stack name, bucket name, key id, ...)
    account: str
    region: str
    why: str  # why it belongs to the environment
    action: str  # delete | terminate | keep | retain-instance | schedule-deletion | wait
    data: str = ""  # what data it holds, when it holds any
    reason: str = ""  # why it is kept
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return STEP_ORDER[self.kind]

    def label(self) -> str:
        return f"{self.kind} {self.name} ({self.account}, {self.region})"

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "details"} | {"details": _plain(self.details)}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


@dataclass
class Report:
    deleted: list[Item] = field(default_factory=list)
    kept: list[Item] = field(default_factory=list)
    failed: list[tuple[Item, str]] = field(default_factory=list)


# -- AWS access ------------------------------------------------------------------------------------------------
class Aws:
    """The clients of one account and region (``endpoint_url``: a local stand-in such as moto)."""

    def __init__(self, region: str | None, profile: str | None = None, endpoint_url: str | None = None):
        self.session = boto3.Session(profile_name=profile, region_name=region)
        self.region = self.session.region_name
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=RETRY
            )
        return self._clients[service]

    def account(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


def code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def pages(client, operation: str, key: str, **params) -> Iterator[Any]:
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**params):
            yield from page.get(key, [])
    else:
        yield from getattr(client, operation)(**params).get(key, [])


def _tags(pairs) -> dict[str, str]:
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in pairs or []}


def _descriptions() -> tuple[str, ...]:
    from templates_src.templates.env import data_science_environment_quickstart, env_main

    return (env_main.DESCRIPTION, data_science_environment_quickstart.DESCRIPTION)


# -- discovery -------------------------------------------------------------------------------------------------
@dataclass
class Environment:
    name: str
    type: str
    account: str
    region: str

    @property
    def prefix(self) -> str:
        return f"{self.name}-{self.type}"

    @property
    def tags(self) -> dict[str, str]:
        return {envb.ENV_NAME_TAG: self.name, envb.ENV_TYPE_TAG: self.type}

    def tagged(self, tags: dict[str, str]) -> bool:
        return all(tags.get(k) == v for k, v in self.tags.items())

    def why_tags(self) -> str:
        return f"tags {envb.ENV_NAME_TAG}={self.name}, {envb.ENV_TYPE_TAG}={self.type}"

    def bucket_names(self) -> list[str]:
        return [f"{self.prefix}-{self.region}-{self.account}-{kind}" for kind in envb.BUCKET_KINDS]


class Discovery:
    """Read-only: everything of the environment that exists now, as plan items in handling order."""

    def __init__(self, aws: Aws, env: Environment, core_stack: str | None = None):
        self.aws, self.env, self.core_stack = aws, env, core_stack
        self.items: list[Item] = []
        self.domain: dict[str, Any] | None = None
        self.other_environments: list[str] = []
        self.mount_interfaces: set[str] = set()  # deleted with their mount targets

    def item(self, kind: str, name: str, why: str, action: str, **kwargs) -> Item:
        found = Item(kind, name, self.env.account, self.env.region, why, action, **kwargs)
        self.items.append(found)
        return found

    def run(self) -> list[Item]:
        stacks = self._stacks()
        self._domain(stacks)
        for project in self._projects():
            self._project(project)
        self._home_file_system()
        self._network_interfaces()
        self._core()
        self._buckets()
        self._model_package_groups()
        self._keys()
        self.items.sort(key=lambda i: i.step)
        return self.items

    # -- stacks
    def _stacks(self) -> bool:
        """Environment stacks and provisioned products; True when one exists (it deletes the domain)."""
        cfn = self.aws.client("cloudformation")
        descriptions, found = _descriptions(), False
        for stack in pages(cfn, "describe_stacks", "Stacks"):
            if stack.get("ParentId") or stack.get("StackStatus") == "DELETE_COMPLETE":
                continue
            params = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
            if stack.get("Description") not in descriptions or "EnvName" not in params:
                continue
            if (params.get("EnvName"), params.get("EnvType")) != (self.env.name, self.env.type):
                self.other_environments.append(f"{params.get('EnvName')}-{params.get('EnvType')}")
                continue
            why = f"created from env-main with EnvName={self.env.name}, EnvType={self.env.type}"
            match = SC_STACK.match(stack["StackName"])
            if match:
                self.item(
                    "provisioned-product",
                    match.group(1),
                    f"Service Catalog provisioned product of stack {stack['StackName']}, {why}",
                    "terminate",
                    details={"stack": stack["StackName"], "status": stack["StackStatus"]},
                )
            else:
                self.item(
                    "environment-stack",
                    stack["StackName"],
                    why,
                    "delete",
                    details={"status": stack["StackStatus"], "id": stack["StackId"]},
                )
            found = True
        return found

    # -- Studio
    def _domain(self, stacks: bool) -> None:
        sm = self.aws.client("sagemaker")
        for summary in pages(sm, "list_domains", "Domains"):
            arn = summary["DomainArn"]
            if summary.get("Status") in ("Deleting",) or not self.env.tagged(self._sm_tags(arn)):
                continue
            domain = sm.describe_domain(DomainId=summary["DomainId"])
            self.domain = {"id": summary["DomainId"], "arn": arn, "home": domain.get("HomeEfsFileSystemId") or ""}
            if not stacks:  # left outside any stack (its stack failed or was deleted without it)
                self.item(
                    "domain",
                    summary["DomainId"],
                    f"Studio domain {summary.get('DomainName', '')} with {self.env.why_tags()}",
                    "delete",
                    details={"arn": arn},
                )

    def _sm_tags(self, arn: str) -> dict[str, str]:
        return _tags(pages(self.aws.client("sagemaker"), "list_tags", "Tags", ResourceArn=arn))

    # -- projects
    def _projects(self) -> list[dict[str, str]]:
        sm = self.aws.client("sagemaker")
        found = []
        for summary in pages(sm, "list_projects", "ProjectSummaryList"):
            if summary.get("ProjectStatus") in ("DeleteCompleted", "DeleteInProgress"):
                continue
            project = sm.describe_project(ProjectName=summary["ProjectName"])
            created_in = (project.get("CreatedBy") or {}).get("DomainId")
            if self.domain and created_in == self.domain["id"]:
                why = f"created in the environment's Studio domain {created_in}"
            elif self.env.tagged(self._sm_tags(project["ProjectArn"])):
                why = f"project with {self.env.why_tags()}"
            else:
                continue
            found.append({"name": project["ProjectName"], "id": project["ProjectId"], "why": why})
        return found

    def _project(self, project: dict[str, str]) -> None:
        name, pid = project["name"], project["id"]
        of = f"of project {name} ({pid})"
        cfn = self.aws.client("cloudformation")
        prefix = DEPLOY_STACKSET.format(name=name, id=pid, stage="")
        for summary in pages(cfn, "list_stack_sets", "Summaries", Status="ACTIVE"):
            if not summary["StackSetName"].startswith(prefix):
                continue
            stackset = summary["StackSetName"]
            stage = stackset[len(prefix) :]
            for instance in pages(cfn, "list_stack_instances", "Summaries", StackSetName=stackset):
                status = instance.get("Status", "")
                unreachable = status in UNREACHABLE
                self.item(
                    "stackset-instances",
                    f"{stackset}/{instance['Account']}/{instance['Region']}",
                    f"stage {stage} {of}: its deploy pipeline's StackSet {stackset}",
                    "retain-instance" if unreachable else "delete",
                    reason="the account cannot be reached (INOPERABLE): its stack is left in place"
                    if unreachable
                    else "",
                    details={
                        "stackset": stackset,
                        "account": instance["Account"],
                        "instance_region": instance["Region"],
                        "status": status,
                    },
                )
            self.item("stackset", stackset, f"deploy pipeline StackSet for stage {stage} {of}", "delete")
        sm = self.aws.client("sagemaker")
        pipeline = PIPELINE.format(name=name, id=pid)
        try:
            sm.describe_pipeline(PipelineName=pipeline)
            self.item("pipeline", pipeline, f"the model build pipeline {of}", "delete")
        except ClientError as err:
            if code(err) not in ("ResourceNotFound", "ValidationException"):
                raise
        for summary in pages(sm, "list_endpoints", "Endpoints"):
            tags = self._sm_tags(summary["EndpointArn"])
            if tags.get(PROJECT_TAG_ID) == pid and STACK_TAG not in tags:
                self.item("endpoint", summary["EndpointName"], f"endpoint {of}, in no stack", "delete")
        self.item("project", name, project["why"], "delete", details={"id": pid})

    # -- home file system and network
    def _home_file_system(self) -> None:
        efs = self.aws.client("efs")
        for fs in pages(efs, "describe_file_systems", "FileSystems"):
            tags = _tags(fs.get("Tags"))
            if self.domain and tags.get(HOME_FS_TAG) == self.domain["arn"]:
                why = f"the Studio home file system of domain {self.domain['id']}"
            elif self.env.tagged(tags):
                why = f"file system with {self.env.why_tags()}"
            else:
                continue
            size = (fs.get("SizeInBytes") or {}).get("Value", 0)
            mounts = list(pages(efs, "describe_mount_targets", "MountTargets", FileSystemId=fs["FileSystemId"]))
            targets = [t["MountTargetId"] for t in mounts]
            self.mount_interfaces.update(t["NetworkInterfaceId"] for t in mounts if t.get("NetworkInterfaceId"))
            self.item(
                "home-file-system",
                fs["FileSystemId"],
                why,
                "delete",
                data=f"{size} bytes of users' home directories",
                details={"mount_targets": targets, "bytes": size},
            )

    def _vpcs(self) -> list[str]:
        ec2 = self.aws.client("ec2")
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in self.env.tags.items()]
        return [v["VpcId"] for v in pages(ec2, "describe_vpcs", "Vpcs", Filters=filters)]

    def _network_interfaces(self) -> None:
        ec2 = self.aws.client("ec2")
        for vpc in self._vpcs():
            filters = [{"Name": "vpc-id", "Values": [vpc]}]
            for eni in pages(ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=filters):
                if eni.get("Status") != "available" or eni["NetworkInterfaceId"] in self.mount_interfaces:
                    continue  # in use: its owner (endpoint, domain app, mount target) goes in an earlier step
                self.item(
                    "network-interface",
                    eni["NetworkInterfaceId"],
                    f"left in the environment's VPC {vpc} ({self.env.why_tags()}) by "
                    f"{eni.get('Description') or 'a deleted resource'}",
                    "delete",
                    details={"vpc": vpc},
                )

    def _core(self) -> None:
        if not self.core_stack:
            return
        cfn = self.aws.client("cloudformation")
        try:
            (stack,) = cfn.describe_stacks(StackName=self.core_stack)["Stacks"]
        except ClientError as err:
            if "does not exist" in str(err):
                return
            raise
        if stack["StackStatus"] == "DELETE_COMPLETE":
            return
        others = sorted(set(self.other_environments))
        if others:
            self.item(
                "core-stack",
                self.core_stack,
                "named by --core-stack",
                "keep",
                reason=f"still used by environment(s) {', '.join(others)} in {self.env.region}",
            )
        else:
            self.item("core-stack", self.core_stack, "named by --core-stack; no other environment uses it", "delete")

    # -- data
    def _buckets(self) -> None:
        s3 = self.aws.client("s3")
        names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in self.env.bucket_names():
            if name in names:
                self._bucket(name, f"the environment's bucket {name} (named <env>-<type>-<region>-<account>-<kind>)")
        pattern = re.compile(
            "^"
            + re.escape(PROJECT_BUCKET).replace(r"\{id\}", "(p-[a-z0-9]+)").replace(r"\{account\}", self.env.account)
            + "$"
        )
        for name in sorted(names):
            match = pattern.match(name)
            if not match:
                continue
            try:
                tags = _tags(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError as err:
                if code(err) != "NoSuchTagSet":
                    raise
                tags = {}
            if self.env.tagged(tags):
                self._bucket(name, f"artifact bucket of project {match.group(1)} with {self.env.why_tags()}")

    def _bucket(self, name: str, why: str) -> None:
        s3 = self.aws.client("s3")
        count, size = 0, 0
        for version in pages(s3, "list_object_versions", "Versions", Bucket=name):
            count, size = count + 1, size + version.get("Size", 0)
        markers = sum(1 for _ in pages(s3, "list_object_versions", "DeleteMarkers", Bucket=name))
        data = f"{count} object version(s), {size} bytes" + (f", {markers} delete marker(s)" if markers else "")
        self.item(
            "bucket",
            name,
            why,
            "delete",
            data=data if count or markers else "",
            details={"versions": count, "bytes": size, "delete_markers": markers},
        )

    def _model_package_groups(self) -> None:
        sm = self.aws.client("sagemaker")
        for group in pages(sm, "list_model_package_groups", "ModelPackageGroupSummaryList"):
            if group.get("ModelPackageGroupStatus") == "Deleting":
                continue
            if not self.env.tagged(self._sm_tags(group["ModelPackageGroupArn"])):
                continue
            name = group["ModelPackageGroupName"]
            packages = [
                p["ModelPackageArn"]
                for p in pages(sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=name)
            ]
            self.item(
                "model-package-group",
                name,
                f"model package group with {self.env.why_tags()}",
                "delete",
                data=f"{len(packages)} model package(s)" if packages else "",
                details={"packages": packages},
            )

    def _keys(self) -> None:
        kms = self.aws.client("kms")
        for key in pages(kms, "list_keys", "Keys"):
            meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeyState") in (
                "PendingDeletion",
                "PendingReplicaDeletion",
            ):
                continue
            tags = {t["TagKey"]: t["TagValue"] for t in pages(kms, "list_resource_tags", "Tags", KeyId=key["KeyId"])}
            if self.env.tagged(tags):
                self.item(
                    "kms-key",
                    key["KeyId"],
                    f"KMS key with {self.env.why_tags()}",
                    "schedule-deletion",
                    data="encrypts the environment's data (buckets, volumes, logs)",
                    details={
                        "arn": meta["Arn"],
                        "description": meta.get("Description", ""),
                        "pending_window_days": KEY_PENDING_DAYS,
                    },
                )


def discover(aws: Aws, env_name: str, env_type: str, core_stack: str | None = None) -> tuple[Environment, list[Item]]:
    env = Environment(env_name, env_type, aws.account(), aws.region)
    return env, Discovery(aws, env, core_stack).run()


def apply_data_policy(items: list[Item], delete_data: bool) -> list[Item]:
    """Without ``delete_data``, what holds data is kept (with the reason); returns the items."""
    for item in items:
        if delete_data or item.action == "keep":
            continue
        if item.kind == "kms-key":
            item.action, item.reason = "keep", "KMS keys are kept without --delete-data (data they encrypt may remain)"
        elif item.kind in ("bucket", "model-package-group") and item.data:
            item.action, item.reason = "keep", f"holds data ({item.data}); --delete-data deletes it"
        elif item.kind == "home-file-system":
            item.reason = "holds users' home directories; --delete-data deletes it"
            if item.details.get("mount_targets"):  # they hold the VPC: released, the file system kept
                item.action = "release"
                item.reason += " (its mount targets are deleted, so the VPC can go)"
            else:
                item.action = "keep"
    return items


# -- execution -------------------------------------------------------------------------------------------------
class Executor:
    def __init__(self, aws: Aws, env: Environment, progress: Callable[[str], None]):
        self.aws, self.env, self.progress = aws, env, progress
        self.report = Report()

    def run(self, items: list[Item]) -> Report:
        handlers = {
            "stackset": self._stackset,
            "pipeline": self._pipeline,
            "endpoint": self._endpoint,
            "project": self._project,
            "provisioned-product": self._provisioned_product,
            "environment-stack": self._stack,
            "core-stack": self._stack,
            "domain": self._domain,
            "home-file-system": self._home_file_system,
            "network-interface": self._network_interface,
            "bucket": self._bucket,
            "model-package-group": self._model_package_group,
            "kms-key": self._key,
        }
        grouped: dict[str, list[Item]] = {}
        for item in sorted(items, key=lambda i: i.step):
            grouped.setdefault(item.kind, []).append(item)
        for kind in STEPS:
            todo = grouped.get(kind, [])
            self.report.kept.extend(i for i in todo if i.action == "keep")
            todo = [i for i in todo if i.action != "keep"]
            if kind == "stackset-instances":
                self._stackset_instances(todo)
            else:
                for item in todo:
                    self._one(handlers[kind], item)
        return self.report

    def _one(self, handler, item: Item) -> None:
        self.progress(f"{_verb(item)} {item.label()}")
        try:
            kept = handler(item)
        except (ClientError, BotoCoreError, CleanupError) as err:
            self.progress(f"failed: {item.label()}: {_line(err)}")
            self.report.failed.append((item, _line(err)))
            return
        (self.report.kept if kept else self.report.deleted).append(item)

    def _wait(self, what: str, done: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
        start = self.aws.clock()
        shown = start
        while not done():
            now = self.aws.clock()
            if now - start >= seconds:
                raise CleanupError(
                    f"still waiting after {int(now - start)} s for {what}; run the command again to continue"
                )
            if now - shown >= 30:
                self.progress(f"still waiting for {what}: {int(now - start)} s")
                shown = now
            self.aws.sleep(POLL_SECONDS)

    # -- StackSets
    def _operation(self, stackset: str, call: Callable[[], dict], what: str) -> None:
        cfn = self.aws.client("cloudformation")
        start = self.aws.clock()
        while True:
            try:
                operation = call()["OperationId"]
                break
            except ClientError as err:
                if code(err) != "OperationInProgressException" or self.aws.clock() - start >= WAIT_SECONDS:
                    raise
                self.progress(f"another operation of StackSet {stackset} is running: waiting")
                self.aws.sleep(POLL_SECONDS)

        def finished() -> bool:
            status = cfn.describe_stack_set_operation(StackSetName=stackset, OperationId=operation)[
                "StackSetOperation"
            ]["Status"]
            if status in ("FAILED", "STOPPED"):
                raise CleanupError(f"StackSet {stackset}: {what} {status}")
            return status == "SUCCEEDED"

        self._wait(f"StackSet {stackset} to finish {what}", finished)

    def _stackset_instances(self, items: list[Item]) -> None:
        by_stackset: dict[str, list[Item]] = {}
        for item in items:
            by_stackset.setdefault(item.details["stackset"], []).append(item)
        cfn = self.aws.client("cloudformation")
        for stackset, group in by_stackset.items():
            for retain in (False, True):
                chosen = [i for i in group if (i.action == "retain-instance") == retain]
                if not chosen:
                    continue
                accounts = sorted({i.details["account"] for i in chosen})
                regions = sorted({i.details["instance_region"] for i in chosen})
                self.progress(
                    f"deleting the stack instances of {stackset} in {', '.join(accounts)}"
                    + (" (RetainStacks: the accounts cannot be reached)" if retain else "")
                )
                try:
                    self._operation(
                        stackset,
                        lambda n=stackset, a=accounts, r=regions, k=retain: cfn.delete_stack_instances(
                            StackSetName=n, Accounts=a, Regions=r, RetainStacks=k
                        ),
                        "deleting stack instances",
                    )
                except (ClientError, BotoCoreError, CleanupError) as err:
                    self.report.failed.extend((i, _line(err)) for i in chosen)
                    continue
                for item in chosen:
                    (self.report.kept if retain else self.report.deleted).append(item)

    def _stackset(self, item: Item) -> None:
        cfn = self.aws.client("cloudformation")
        left = list(pages(cfn, "list_stack_instances", "Summaries", StackSetName=item.name))
        if left:
            raise CleanupError(f"StackSet {item.name} still has {len(left)} stack instance(s)")
        cfn.delete_stack_set(StackSetName=item.name)

    # -- SageMaker
    def _pipeline(self, item: Item) -> None:
        self.aws.client("sagemaker").delete_pipeline(PipelineName=item.name)

    def _endpoint(self, item: Item) -> None:
        sm = self.aws.client("sagemaker")
        sm.delete_endpoint(EndpointName=item.name)

    def _project(self, item: Item) -> None:
        sm = self.aws.client("sagemaker")
        sm.delete_project(ProjectName=item.name)

        def gone() -> bool:
            try:
                status = sm.describe_project(ProjectName=item.name)["ProjectStatus"]
            except ClientError as err:
                if code(err) in ("ValidationException", "ResourceNotFound"):
                    return True
                raise
            if status == "DeleteFailed":
                raise CleanupError(f"SageMaker could not delete project {item.name} (DeleteFailed)")
            return status == "DeleteCompleted"

        self._wait(f"project {item.name} to be deleted", gone)

    def _domain(self, item: Item) -> None:
        sm = self.aws.client("sagemaker")
        domain = item.name
        for app in pages(sm, "list_apps", "Apps", DomainIdEquals=domain):
            if app.get("Status") not in ("Deleted", "Failed", "Deleting"):
                owner = (
                    {"SpaceName": app["SpaceName"]}
                    if app.get("SpaceName")
                    else {"UserProfileName": app["UserProfileName"]}
                )
                sm.delete_app(DomainId=domain, AppType=app["AppType"], AppName=app["AppName"], **owner)
        for space in pages(sm, "list_spaces", "Spaces", DomainIdEquals=domain):
            sm.delete_space(DomainId=domain, SpaceName=space["SpaceName"])
        for profile in pages(sm, "list_user_profiles", "UserProfiles", DomainIdEquals=domain):
            sm.delete_user_profile(DomainId=domain, UserProfileName=profile["UserProfileName"])
        sm.delete_domain(DomainId=domain, RetentionPolicy={"HomeEfsFileSystem": "Retain"})

    # -- stacks
    def _stack(self, item: Item) -> None:
        cfn = self.aws.client("cloudformation")
        cfn.delete_stack(StackName=item.details.get("id", item.name))

        def gone() -> bool:
            try:
                (stack,) = cfn.describe_stacks(StackName=item.details.get("id", item.name))["Stacks"]
            except ClientError as err:
                if "does not exist" in str(err):
                    return True
                raise
            if stack["StackStatus"] == "DELETE_FAILED":
                raise CleanupError(f"stack {item.name} DELETE_FAILED: {stack.get('StackStatusReason', '')}")
            return stack["StackStatus"] == "DELETE_COMPLETE"

        self._wait(f"stack {item.name} to be deleted", gone)

    def _provisioned_product(self, item: Item) -> None:
        sc = self.aws.client("servicecatalog")
        sc.terminate_provisioned_product(ProvisionedProductId=item.name, TerminateToken=f"cleanup-{item.name}")

        def gone() -> bool:
            try:
                status = sc.describe_provisioned_product(Id=item.name)["ProvisionedProductDetail"]["Status"]
            except ClientError as err:
                if code(err) == "ResourceNotFoundException":
                    return True
                raise
            if status == "ERROR":
                raise CleanupError(f"Service Catalog could not terminate provisioned product {item.name}")
            return False

        self._wait(f"provisioned product {item.name} to be terminated", gone)

    # -- file system and network
    def _home_file_system(self, item: Item) -> bool:
        efs = self.aws.client("efs")
        for target in item.details.get("mount_targets", []):
            try:
                efs.delete_mount_target(MountTargetId=target)
            except ClientError as err:
                if code(err) != "MountTargetNotFound":
                    raise

        def released() -> bool:
            return not list(pages(efs, "describe_mount_targets", "MountTargets", FileSystemId=item.name))

        self._wait(f"the mount targets of {item.name} to be deleted", released)
        if item.action == "release":
            return True  # kept: only its mount targets are gone
        efs.delete_file_system(FileSystemId=item.name)
        return False

    def _network_interface(self, item: Item) -> None:
        ec2 = self.aws.client("ec2")
        try:
            ec2.delete_network_interface(NetworkInterfaceId=item.name)
        except ClientError as err:
            if code(err) == "InvalidNetworkInterfaceID.NotFound":
                return
            if code(err) != "InvalidNetworkInterface.InUse":
                raise

            def free() -> bool:
                try:
                    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[item.name])["NetworkInterfaces"]
                except ClientError as inner:
                    if code(inner) == "InvalidNetworkInterfaceID.NotFound":
                        return True
                    raise
                return eni.get("Status") == "available"

            self._wait(f"network interface {item.name} to be released", free, ENI_WAIT_SECONDS)
            ec2.delete_network_interface(NetworkInterfaceId=item.name)

    # -- data
    def _bucket(self, item: Item) -> None:
        s3 = self.aws.client("s3")
        if item.data:
            self._allow_emptying(item)
            while True:
                page = s3.list_object_versions(Bucket=item.name)
                objects = [
                    {"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if not objects:
                    break
                for start in range(0, len(objects), 1000):
                    answer = s3.delete_objects(
                        Bucket=item.name, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
                    )
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise CleanupError(f"bucket {item.name}: {first.get('Code')} deleting {first.get('Key')}")
            self.progress(f"emptied bucket {item.name} ({item.data})")
        s3.delete_bucket(Bucket=item.name)

    def _allow_emptying(self, item: Item) -> None:
        """A bucket policy that denies object deletion outside the environment's VPC endpoint (env-s3's data
        perimeter) refuses the emptying from here: it is removed first, and the removal is logged."""
        s3 = self.aws.client("s3")
        try:
            policy = s3.get_bucket_policy(Bucket=item.name)["Policy"]
        except ClientError as err:
            if code(err) == "NoSuchBucketPolicy":
                return
            raise
        if "aws:SourceVpce" in policy or "aws:SourceVpc" in policy:
            s3.delete_bucket_policy(Bucket=item.name)
            self.progress(
                f"removed the VPC-only bucket policy of {item.name} (it refuses deletions from outside the VPC)"
            )
            item.details["policy_removed"] = True

    def _model_package_group(self, item: Item) -> None:
        sm = self.aws.client("sagemaker")
        for arn in item.details.get("packages", []):
            sm.delete_model_package(ModelPackageName=arn)
        sm.delete_model_package_group(ModelPackageGroupName=item.name)

    def _key(self, item: Item) -> None:
        answer = self.aws.client("kms").schedule_key_deletion(KeyId=item.name, PendingWindowInDays=KEY_PENDING_DAYS)
        item.details["deletion_date"] = str(answer.get("DeletionDate", ""))
        self.progress(
            f"key {item.name}: deletion scheduled in {KEY_PENDING_DAYS} days ({item.details['deletion_date']}); "
            f"cancel with `aws kms cancel-key-deletion --key-id {item.name}`"
        )


def _verb(item: Item) -> str:
    return {
        "terminate": "terminating",
        "retain-instance": "removing (stack retained)",
        "schedule-deletion": "scheduling the deletion of",
        "release": "releasing",
    }.get(item.action, "deleting")


def _line(err: BaseException) -> str:
    return " ".join(str(err).split())
