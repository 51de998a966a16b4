"""``generate.py cleanup`` against a moto server on 127.0.0.1, with two environments' worth of resources.

Built on moto (created with boto3, read back by the command through the same server): the environments' root
stacks (the env-main description and parameters), a Service Catalog provisioned product's stack, the Studio
domains (tagged), versioned buckets with objects, versions and delete markers and a VPC-only bucket policy, KMS
keys, a home file system with a mount target, a VPC with a lingering network interface, a project's deploy
StackSet with stack instances in two target accounts, its SageMaker pipeline and an endpoint outside stacks.

What moto 5.2 cannot run, and stands in here (``Fakes``: botocore ``before-call`` handlers on the command's own
clients, answering only these operations and keeping their state; every other call reaches moto):
SageMaker projects (ListProjects, DescribeProject, DeleteProject, their tags), model package groups and model
packages (moto cannot delete either), and Service Catalog provisioned products (TerminateProvisionedProduct,
DescribeProvisionedProduct: the stand-in deletes the product's stack on moto, as Service Catalog does).
"""

from __future__ import annotations

import json
import os

import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from templates_src import cleanup as lifecycle
from templates_src import cli as generate
from templates_src.checks import iam_policy, iam_reference
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.templates.core import core_iam_shared_roles
from templates_src.templates.env import env_main
from tests import support_iam

ACCOUNT = "123456789012"
REGION = "us-east-1"
TARGETS = ("333333333333", "444444444444")
FIRST, SECOND = ("team1", "dev"), ("team2", "dev")


def _tags(env: tuple[str, str], **extra) -> list[dict]:
    return [{"Key": "EnvironmentName", "Value": env[0]}, {"Key": "EnvironmentType", "Value": env[1]}] + [
        {"Key": k, "Value": v} for k, v in extra.items()
    ]


class Fakes:
    """SageMaker projects, model package groups and Service Catalog provisioned products (moto has none)."""

    def __init__(self, moto):
        self.moto = moto
        self.projects: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}  # name -> {"arn", "tags", "packages": [arn]}
        self.products: dict[str, str] = {}  # provisioned product id -> its stack name
        self.fail: dict[tuple[str, str], int] = {}  # (operation, name) -> failures left to inject
        self.busy: dict[tuple[str, str], int] = {}  # (operation, StackSet) -> OperationInProgressException answers
        self.unreachable: set[str] = set()  # accounts whose stack instances StackSets reports INOPERABLE
        self.domain_stacks: dict[str, str] = {}  # environment stack -> the domain (name) its deletion deletes
        self.studio: dict[str, dict[str, list]] = {}  # domain id -> what users created in it (moto has none)

    def project(self, name: str, pid: str, domain: str, env: tuple[str, str]) -> None:
        self.projects[name] = {
            "ProjectName": name,
            "ProjectId": pid,
            "ProjectArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:project/{name}",
            "ProjectStatus": "CreateCompleted",
            "CreatedBy": {"DomainId": domain},
            "tags": _tags(env),
        }

    def group(self, name: str, env: tuple[str, str], packages: int) -> None:
        arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{name}"
        self.groups[name] = {
            "arn": arn,
            "tags": _tags(env),
            "packages": [
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{name}/{n}" for n in range(1, packages + 1)
            ],
        }

    # -- botocore hooks
    def install(self, client) -> None:
        client.meta.events.register("before-call", self._handle)
        client.meta.events.register("after-call.cloudformation.DeleteStack", self._stack_deleted)

    def _stack_deleted(self, **kwargs) -> None:
        """The environment stack's nested Studio stack deletes the domain (moto skips AWS::SageMaker::Domain, so
        the world's domains were created beside the stacks): the stand-in deletes it with its stack."""
        sm = self.moto.client("sagemaker")
        cfn = self.moto.client("cloudformation")
        alive = {s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"}
        gone = {domain for stack, domain in self.domain_stacks.items() if stack not in alive}
        for domain in sm.list_domains()["Domains"]:
            if domain["DomainName"] in gone:
                sm.delete_domain(DomainId=domain["DomainId"])

    @staticmethod
    def _answer(parsed: dict, status: int = 200):
        return AWSResponse(None, status, {}, None), parsed

    def _error(self, code: str, message: str, status: int = 400):
        return self._answer({"Error": {"Code": code, "Message": message}}, status)

    def _handle(self, model, params, **kwargs):
        name, service = model.name, model.service_model.service_name
        body = params.get("body") if isinstance(params.get("body"), dict) else {}
        if isinstance(params.get("body"), bytes | str) and params.get("body"):
            try:
                body = json.loads(params["body"])
            except ValueError:
                body = {}
        target = (
            body.get("ProjectName")
            or body.get("ModelPackageGroupName")
            or body.get("ProvisionedProductId")
            or body.get("StackSetName")
        )
        if (name, target) in self.fail and self.fail[(name, target)] > 0:
            self.fail[(name, target)] -= 1
            return self._error("InternalFailure", f"injected failure of {name} {target}", 500)
        if (name, target) in self.busy and self.busy[(name, target)] > 0:
            self.busy[(name, target)] -= 1
            return self._error("OperationInProgressException", f"another operation on {target} is in progress")
        if service == "cloudformation" and name == "ListStackInstances" and self.unreachable:
            listed = self.moto.client("cloudformation").list_stack_instances(StackSetName=target)["Summaries"]
            for instance in listed:
                if instance["Account"] in self.unreachable:
                    instance["Status"] = "INOPERABLE"
            return self._answer({"Summaries": listed})
        if service == "sagemaker":
            return self._sagemaker(name, body)
        if service == "servicecatalog":
            return self._service_catalog(name, body)
        return None

    def _sagemaker(self, name: str, body: dict):
        if name == "ListProjects":
            summaries = [
                {k: v for k, v in p.items() if k != "tags" and k != "CreatedBy"} for p in self.projects.values()
            ]
            return self._answer({"ProjectSummaryList": summaries})
        if name in ("DescribeProject", "DeleteProject"):
            project = self.projects.get(body["ProjectName"])
            if project is None:
                return self._error("ValidationException", f"Project {body['ProjectName']} does not exist")
            if name == "DeleteProject":
                del self.projects[body["ProjectName"]]
                return self._answer({})
            return self._answer({k: v for k, v in project.items() if k != "tags"})
        if name == "ListTags":
            arn = body["ResourceArn"]
            for item in [*self.projects.values(), *self.groups.values()]:
                if arn in (item.get("ProjectArn"), item.get("arn")):
                    return self._answer({"Tags": item["tags"]})
            return None
        if name in ("ListApps", "ListSpaces", "ListUserProfiles"):  # moto has none of these
            held = self.studio.get(body.get("DomainIdEquals"), {})
            return self._answer({key: list(held.get(key, [])) for key in ("Apps", "Spaces", "UserProfiles")})
        if name in ("DeleteApp", "DeleteSpace", "DeleteUserProfile"):
            key, field = {
                "DeleteApp": ("Apps", "AppName"),
                "DeleteSpace": ("Spaces", "SpaceName"),
                "DeleteUserProfile": ("UserProfiles", "UserProfileName"),
            }[name]
            held = self.studio.get(body["DomainId"], {}).get(key, [])
            held[:] = [item for item in held if item[field] != body[field]]
            return self._answer({})
        if name == "ListModelPackageGroups":
            summaries = [
                {"ModelPackageGroupName": n, "ModelPackageGroupArn": g["arn"], "ModelPackageGroupStatus": "Completed"}
                for n, g in self.groups.items()
            ]
            return self._answer({"ModelPackageGroupSummaryList": summaries})
        if name == "ListModelPackages":
            group = self.groups.get(body.get("ModelPackageGroupName"), {"packages": []})
            return self._answer({"ModelPackageSummaryList": [{"ModelPackageArn": arn} for arn in group["packages"]]})
        if name == "DeleteModelPackage":
            for group in self.groups.values():
                if body["ModelPackageName"] in group["packages"]:
                    group["packages"].remove(body["ModelPackageName"])
            return self._answer({})
        if name == "DeleteModelPackageGroup":
            group = self.groups.get(body["ModelPackageGroupName"])
            if group and group["packages"]:
                return self._error("ConflictException", "the group still holds model packages")
            self.groups.pop(body["ModelPackageGroupName"], None)
            return self._answer({})
        return None

    def _service_catalog(self, name: str, body: dict):
        if name == "TerminateProvisionedProduct":
            stack = self.products.pop(body["ProvisionedProductId"], None)
            if stack:
                self.moto.client("cloudformation").delete_stack(StackName=stack)
            return self._answer({"RecordDetail": {"RecordId": "rec-1", "Status": "IN_PROGRESS"}})
        if name == "DescribeProvisionedProduct":
            if body["Id"] not in self.products:
                return self._error("ResourceNotFoundException", f"{body['Id']} not found")
            return self._answer({"ProvisionedProductDetail": {"Id": body["Id"], "Status": "AVAILABLE"}})
        return None


# -- two environments on moto ------------------------------------------------------------------------------------
STACK_BODY = json.dumps(
    {
        "Description": env_main.DESCRIPTION,
        "Parameters": {"EnvName": {"Type": "String"}, "EnvType": {"Type": "String"}},
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-marker"}, "Type": "String", "Value": "x"},
            }
        },
    }
)
OTHER_BODY = json.dumps(
    {
        "Description": "not a template of this project",
        "Parameters": {"EnvName": {"Type": "String"}, "EnvType": {"Type": "String"}},
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-marker"}, "Type": "String", "Value": "x"},
            }
        },
    }
)


def _stack(cfn, name: str, env: tuple[str, str], body: str = STACK_BODY) -> None:
    cfn.create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[
            {"ParameterKey": "EnvName", "ParameterValue": env[0]},
            {"ParameterKey": "EnvType", "ParameterValue": env[1]},
        ],
    )


def _bucket(s3, name: str, tags: list[dict] | None = None, policy: bool = False) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        s3.put_object(Bucket=name, Key="data/a.csv", Body=f"version {n}".encode())
    s3.put_object(Bucket=name, Key="data/b.csv", Body=b"b")
    s3.delete_object(Bucket=name, Key="data/b.csv")  # a delete marker
    if tags:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
    if policy:  # env-s3's data perimeter: nothing outside the VPC endpoint
        s3.put_bucket_policy(
            Bucket=name,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyAccessOutsideVpcEndpoint",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                            "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}},
                        }
                    ],
                }
            ),
        )


def _environment(moto, fakes: Fakes, env: tuple[str, str], project: str, pid: str, sc_product: str | None) -> dict:
    prefix = f"{env[0]}-{env[1]}"
    cfn, s3, sm = moto.client("cloudformation"), moto.client("s3"), moto.client("sagemaker")
    ec2, efs, kms = moto.client("ec2"), moto.client("efs"), moto.client("kms")
    _stack(cfn, f"ds-env-{prefix}", env)  # the data science administrator's stack names (naming.ENVIRONMENT_STACKS)
    fakes.domain_stacks[f"ds-env-{prefix}"] = prefix
    if sc_product:
        stack = f"SC-{ACCOUNT}-{sc_product}"
        _stack(cfn, stack, env)
        fakes.products[sc_product] = stack
    domain = sm.create_domain(
        DomainName=prefix,
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/x"},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
        Tags=_tags(env),
    )
    domain_id = domain["DomainArn"].rsplit("/", 1)[1]
    for kind in ("data", "models", "logs"):
        _bucket(s3, f"{prefix}-{REGION}-{ACCOUNT}-{kind}", policy=kind == "data")
    _bucket(s3, f"sm-mlops-cp-{pid}-{ACCOUNT}", tags=_tags(env, **{"sagemaker:project-id": pid}))
    key = kms.create_key(
        Description=f"{prefix} s3", Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(env)]
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": _tags(env)}])[
        "Vpc"
    ]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Description="VPC Endpoint Interface")["NetworkInterface"]
    fs = efs.create_file_system(
        CreationToken=prefix, Tags=[{"Key": lifecycle.HOME_FS_TAG, "Value": domain["DomainArn"]}]
    )["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs, SubnetId=subnet)
    # The project: created in the domain, with its deploy StackSet in two target accounts, pipeline, endpoint.
    fakes.project(project, pid, domain_id, env)
    fakes.group(f"{project}-{pid}", env, packages=2)
    stackset = f"sagemaker-{project}-{pid}-deploy-staging"
    cfn.create_stack_set(
        StackSetName=stackset,
        TemplateBody=json.dumps(
            {"Resources": {"Deployed": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "endpoint"}}}}
        ),
    )
    cfn.create_stack_instances(StackSetName=stackset, Accounts=list(TARGETS), Regions=[REGION])
    sm.create_pipeline(
        PipelineName=f"sagemaker-{project}-{pid}",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": []}),
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x",
    )
    sm.create_model(ModelName=f"{project}-model", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/x")
    sm.create_endpoint_config(
        EndpointConfigName=f"{project}-config",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": f"{project}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(
        EndpointName=f"{project}-{pid}-dev",
        EndpointConfigName=f"{project}-config",
        Tags=[{"Key": lifecycle.PROJECT_TAG_ID, "Value": pid}],
    )
    return {
        "domain": domain_id,
        "key": key["KeyMetadata"]["KeyId"],
        "vpc": vpc,
        "eni": eni["NetworkInterfaceId"],
        "fs": fs,
    }


@pytest.fixture
def world(moto, monkeypatch):
    fakes = Fakes(moto)
    original = lifecycle.Aws.client
    calls: list[tuple[str, str, dict]] = []  # every call the command makes: (endpoint prefix, operation, params)

    def record(params, model, **kwargs):
        calls.append((model.service_model.endpoint_prefix, model.name, dict(params)))

    def client(self, service):
        fresh = service not in self._clients
        made = original(self, service)
        if fresh:
            fakes.install(made)
            made.meta.events.register("before-parameter-build", record)
        return made

    monkeypatch.setattr(lifecycle.Aws, "client", client)
    monkeypatch.setattr(lifecycle, "POLL_SECONDS", 0.05)
    first = _environment(moto, fakes, FIRST, "churn", "p-aaaaaaaaaaaa", sc_product="pp-team1abc")
    second = _environment(moto, fakes, SECOND, "fraud", "p-bbbbbbbbbbbb", sc_product=None)
    # Not the platform's: a stack with the first environment's parameters from another template, a key and a
    # bucket without its tags.
    _stack(moto.client("cloudformation"), "someone-elses-stack", FIRST, OTHER_BODY)
    moto.client("kms").create_key(Description="not the platform's")
    moto.client("s3").create_bucket(Bucket=f"sm-mlops-cp-p-cccccccccccc-{ACCOUNT}")
    return {"moto": moto, "fakes": fakes, "first": first, "second": second, "calls": calls}


def run(world, *args: str, input: str | None = None):
    moto = world["moto"]
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(moto.env)
    argv = ["cleanup", "--env-name", FIRST[0], "--env-type", FIRST[1], "--endpoint-url", moto.url, *args]
    return CliRunner(env=env).invoke(generate.cli, argv, catch_exceptions=False, input=input)


def state(world) -> dict:
    """Everything there is, of both environments and of nobody (names, versions, statuses)."""
    moto, fakes = world["moto"], world["fakes"]
    s3, kms, cfn, sm = (moto.client(s) for s in ("s3", "kms", "cloudformation", "sagemaker"))
    buckets = {}
    for bucket in s3.list_buckets()["Buckets"]:
        versions = s3.list_object_versions(Bucket=bucket["Name"])
        buckets[bucket["Name"]] = len(versions.get("Versions", [])) + len(versions.get("DeleteMarkers", []))
    return {
        "stacks": sorted(
            s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"
        ),
        "stacksets": sorted(s["StackSetName"] for s in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]),
        "instances": sorted(
            (s["StackSetName"], i["Account"])
            for s in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]
            for i in cfn.list_stack_instances(StackSetName=s["StackSetName"])["Summaries"]
        ),
        "buckets": buckets,
        "keys": sorted(
            (k["KeyId"], kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]) for k in kms.list_keys()["Keys"]
        ),
        "pipelines": sorted(p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]),
        "endpoints": sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        "file_systems": sorted(f["FileSystemId"] for f in moto.client("efs").describe_file_systems()["FileSystems"]),
        "mount_targets": sorted(
            m["MountTargetId"]
            for f in moto.client("efs").describe_file_systems()["FileSystems"]
            for m in moto.client("efs").describe_mount_targets(FileSystemId=f["FileSystemId"])["MountTargets"]
        ),
        "enis": sorted(
            n["NetworkInterfaceId"] for n in moto.client("ec2").describe_network_interfaces()["NetworkInterfaces"]
        ),
        "projects": sorted(fakes.projects),
        "groups": {n: len(g["packages"]) for n, g in fakes.groups.items()},
        "products": sorted(fakes.products),
    }


def _document(result) -> dict:
    return json.loads(result.stdout)


def test_the_plan_lists_exactly_the_first_environment_in_order_and_changes_nothing(world):
    before = state(world)
    result = run(world, "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.output
    document = _document(result)
    assert (document["environment"], document["account"], document["region"]) == ("team1-dev", ACCOUNT, REGION)
    planned = [(i["kind"], i["name"]) for i in document["plan"]]
    first = world["first"]
    prefix = f"team1-dev-{REGION}-{ACCOUNT}"
    assert sorted(planned) == sorted(
        [
            ("stackset-instances", f"sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging/{TARGETS[0]}/{REGION}"),
            ("stackset-instances", f"sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging/{TARGETS[1]}/{REGION}"),
            ("stackset", "sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging"),
            ("pipeline", "sagemaker-churn-p-aaaaaaaaaaaa"),
            ("endpoint", "churn-p-aaaaaaaaaaaa-dev"),
            ("project", "churn"),
            ("provisioned-product", "pp-team1abc"),
            ("environment-stack", "ds-env-team1-dev"),
            ("home-file-system", first["fs"]),
            ("network-interface", first["eni"]),
            ("bucket", f"{prefix}-data"),
            ("bucket", f"{prefix}-models"),
            ("bucket", f"{prefix}-logs"),
            ("bucket", f"sm-mlops-cp-p-aaaaaaaaaaaa-{ACCOUNT}"),
            ("model-package-group", "churn-p-aaaaaaaaaaaa"),
            ("kms-key", first["key"]),
        ]
    )
    # in the documented order, each with its account, region and reason; what holds data says what
    steps = [lifecycle.STEP_ORDER[kind] for kind, _ in planned]
    assert steps == sorted(steps)
    for item in document["plan"]:
        assert (item["account"], item["region"]) == (ACCOUNT, REGION) and item["why"], item
    data = {i["name"]: i for i in document["plan"] if i["data"]}
    assert data[f"{prefix}-data"]["data"] == "4 object version(s), 28 bytes, 1 delete marker(s)"
    assert data["churn-p-aaaaaaaaaaaa"]["data"] == "2 model package(s)"
    # without --delete-data: kept with the reason, the home file system only released
    actions = {(i["kind"], i["name"]): (i["action"], i["reason"]) for i in document["plan"]}
    assert actions[("kms-key", first["key"])][0] == "keep"
    assert actions[("bucket", f"{prefix}-data")] == (
        "keep",
        "holds data (4 object version(s), 28 bytes, 1 delete marker(s)); --delete-data deletes it",
    )
    assert actions[("home-file-system", first["fs"])][0] == "release"
    assert state(world) == before  # a dry run changes nothing
    assert "dry run: nothing was changed" in result.stderr


def test_without_delete_data_nothing_that_holds_data_is_deleted(world):
    before = state(world)
    result = run(world, "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    after = state(world)
    # gone: the deployments in both target accounts, the StackSet, pipeline, endpoint, project, product, stack
    assert after["instances"] == [i for i in before["instances"] if "churn" not in i[0]]
    assert after["stacksets"] == ["sagemaker-fraud-p-bbbbbbbbbbbb-deploy-staging"]
    assert after["pipelines"] == ["sagemaker-fraud-p-bbbbbbbbbbbb"]
    assert after["endpoints"] == ["fraud-p-bbbbbbbbbbbb-dev"]
    assert after["projects"] == ["fraud"] and after["products"] == []
    assert after["stacks"] == ["ds-env-team2-dev", "someone-elses-stack"]
    assert world["first"]["eni"] not in after["enis"] and world["second"]["eni"] in after["enis"]
    # kept: every object version, model package, file system and key
    assert after["buckets"] == before["buckets"]
    assert after["groups"] == before["groups"]
    assert after["keys"] == before["keys"]
    assert after["file_systems"] == before["file_systems"]
    assert len(after["mount_targets"]) == len(before["mount_targets"]) - 1  # only the first's mounts released
    kept = {i["name"]: i["reason"] for i in _document(result)["kept"]}
    assert set(kept) == {
        *(f"team1-dev-{REGION}-{ACCOUNT}-{k}" for k in ("data", "models", "logs")),
        f"sm-mlops-cp-p-aaaaaaaaaaaa-{ACCOUNT}",
        "churn-p-aaaaaaaaaaaa",
        world["first"]["key"],
        world["first"]["fs"],
    }
    # a second run has nothing left to delete: only what is kept, again with the reasons
    again = run(world)
    assert again.exit_code == 0 and "nothing to delete: everything left is kept" in again.stdout
    assert state(world) == after


def test_with_delete_data_the_first_environment_is_gone_and_the_second_untouched(world):
    before = state(world)
    result = run(world, "--yes", "--delete-data")
    assert result.exit_code == 0, result.output
    after = state(world)
    second_buckets = {n: c for n, c in before["buckets"].items() if "team1" not in n and "p-aaaa" not in n}
    assert after["buckets"] == second_buckets
    assert after["groups"] == {"fraud-p-bbbbbbbbbbbb": 2}
    assert dict(after["keys"])[world["first"]["key"]] == "PendingDeletion"
    assert {k: s for k, s in after["keys"] if k != world["first"]["key"]} == {
        k: s for k, s in before["keys"] if k != world["first"]["key"]
    }
    assert after["file_systems"] == [world["second"]["fs"]]
    assert after["stacks"] == ["ds-env-team2-dev", "someone-elses-stack"]
    assert f"removed the VPC-only bucket policy of team1-dev-{REGION}-{ACCOUNT}-data" in result.stderr
    assert "deletion scheduled in 30 days" in result.stderr
    # nothing is left: the next run says so
    again = run(world, "--delete-data", "--yes")
    assert again.exit_code == 0 and again.stdout.startswith("nothing to do: no resource of environment team1-dev")


def test_a_failure_half_way_is_completed_by_the_next_run(world):
    fakes = world["fakes"]
    fakes.fail[("DeleteProject", "churn")] = 1
    first = run(world, "--yes", "--delete-data", "--output", "json")
    assert first.exit_code == 3, first.output
    document = _document(first)
    assert [(f["kind"], f["name"]) for f in document["failed"]] == [("project", "churn")]
    assert "run the same command again to continue" in document["errors"][0]
    # what came before the failure is done, the rest went on where it could
    assert "sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging" not in state(world)["stacksets"]
    assert "churn" in state(world)["projects"]
    second = run(world, "--yes", "--delete-data", "--output", "json")
    assert second.exit_code == 0, second.output
    assert [(i["kind"], i["name"]) for i in _document(second)["deleted"]] == [("project", "churn")]
    assert run(world, "--yes").stdout.startswith("nothing to do")


def test_without_yes_it_asks_naming_the_account_and_environment(world, monkeypatch):
    before = state(world)
    refused = run(world)  # standard input is not a terminal
    assert refused.exit_code == 2 and "--yes: standard input is not a terminal" in refused.stderr
    monkeypatch.setattr("templates_src.cli_cleanup._interactive", lambda: True)
    declined = run(world, input="n\n")
    assert declined.exit_code == 0
    assert f"Delete these resources of environment team1-dev in account {ACCOUNT} ({REGION})?" in declined.stderr
    assert "not confirmed: nothing was changed" in declined.stderr
    assert state(world) == before


def test_bad_input_is_one_error_line():
    result = CliRunner().invoke(generate.cli, ["cleanup", "--env-name", "Team_1", "--env-type", "dev"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --env-name: 'Team_1' is not a valid EnvName (1 to 16 characters: lower-case letters, digits and "
        "hyphens, not starting or ending with a hyphen)"
    ]


def _leave_the_domain(world) -> str:
    """The first environment's stacks are gone but its domain stayed, with what a user created in it."""
    moto, fakes, domain = world["moto"], world["fakes"], world["first"]["domain"]
    for stack in ("ds-env-team1-dev", *fakes.products.values()):
        moto.client("cloudformation").delete_stack(StackName=stack)  # the test's client: the domain stays
    fakes.products.clear()
    fakes.studio[domain] = {
        "Apps": [{"AppType": "JupyterLab", "AppName": "default", "SpaceName": "work", "Status": "InService"}],
        "Spaces": [{"SpaceName": "work"}],
        "UserProfiles": [{"UserProfileName": "alice"}],
    }
    return domain


def test_a_domain_left_outside_its_stack_goes_after_what_users_created_in_it(world):
    moto, fakes = world["moto"], world["fakes"]
    domain = _leave_the_domain(world)
    result = run(world, "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    assert ("domain", domain) in [(i["kind"], i["name"]) for i in _document(result)["deleted"]]
    assert domain not in [d["DomainId"] for d in moto.client("sagemaker").list_domains()["Domains"]]
    deletes = [op for _, op, params in world["calls"] if op.startswith("Delete") and params.get("DomainId") == domain]
    assert deletes == ["DeleteApp", "DeleteSpace", "DeleteUserProfile", "DeleteDomain"]
    assert fakes.studio[domain] == {"Apps": [], "Spaces": [], "UserProfiles": []}


def test_the_data_science_administrator_may_make_every_call_and_is_granted_nothing_else_for_it(world):
    """Proven over the calls a complete clean-up makes (a domain left outside its stack included): every read
    is one ReadOnlyAccess grants (IAM's Read and List actions), every write is allowed by the data science
    administrator's own policy with the resource and condition keys of the request, and every action of the
    role's clean-up statements is one the command makes."""
    moto, first = world["moto"], world["first"]
    efs = moto.client("efs")
    mounts = {
        m["MountTargetId"]: first["fs"] for m in efs.describe_mount_targets(FileSystemId=first["fs"])["MountTargets"]
    }
    domain_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/{first['domain']}"
    tags = {
        f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}:file-system/{first['fs']}": {lifecycle.HOME_FS_TAG: domain_arn},
        f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{first['key']}": dict(
            zip(("EnvironmentName", "EnvironmentType"), FIRST, strict=True)
        ),
    }
    world["calls"].clear()
    # a complete clean-up, then one of a domain left outside its stack (the stacks delete theirs)
    result = run(world, "--yes", "--delete-data")
    assert result.exit_code == 0, result.output
    sm = moto.client("sagemaker")
    first["domain"] = sm.create_domain(
        DomainName="team1-dev-again",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{ACCOUNT}:role/x"},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
        Tags=_tags(FIRST),
    )["DomainArn"].rsplit("/", 1)[1]
    _leave_the_domain(world)
    again = run(world, "--yes", "--delete-data")
    assert again.exit_code == 0, again.output

    template = build_selected([core_iam_shared_roles.NAME], BuildContext(Config()))[core_iam_shared_roles.NAME]
    template = template.to_dict() if hasattr(template, "to_dict") else template
    resolver = iam_policy.Resolver(template, {}, pseudo={"AWS::Region": REGION, "AWS::AccountId": ACCOUNT})
    statements, _ = iam_policy.role_statements(template, core_iam_shared_roles.DS_ADMIN_ROLE_ID, resolver)
    made, refused = set(), []
    for service, operation, params in world["calls"]:
        for action, resource, context in support_iam.cleanup_requests(
            service, operation, params, REGION, ACCOUNT, lambda arn: tags.get(arn, {}), mounts.get
        ):
            if iam_reference.access_level(action) in ("Read", "List"):
                continue  # ReadOnlyAccess, the role's AWS managed policy
            made.add(action)
            decision = iam_policy.evaluate(
                statements, iam_policy.request(action, resource, True, context, complete=True)
            )
            if not decision.allowed or decision.conditional:
                refused.append(f"{service}.{operation}: {action} on {resource} {context}")
    assert refused == []
    cleanup_grants = {
        action.JSONrepr()
        for statement in core_iam_shared_roles.cleanup_statements(BuildContext(Config()))
        for action in statement.Action
    }
    assert cleanup_grants - made == set()  # nothing granted for the clean-up that it does not use
    assert {"cloudformation:DeleteStack", "servicecatalog:TerminateProvisionedProduct"} <= made


def test_unreachable_accounts_keep_their_stacks_and_a_busy_stackset_is_waited_for(world):
    """An account StackSets can no longer reach (a suspended or closed account: INOPERABLE) has its instance
    removed with RetainStacks, reported as kept; a StackSet busy with another operation is waited for."""
    fakes = world["fakes"]
    stackset = "sagemaker-churn-p-aaaaaaaaaaaa-deploy-staging"
    fakes.unreachable = {TARGETS[1]}
    fakes.busy[("DeleteStackInstances", stackset)] = 2
    result = run(world, "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    document = _document(result)
    kept = {i["name"]: i["reason"] for i in document["kept"] if i["kind"] == "stackset-instances"}
    assert kept == {
        f"{stackset}/{TARGETS[1]}/{REGION}": "the account cannot be reached (INOPERABLE): its stack is left in place"
    }
    deleted = [i["name"] for i in document["deleted"] if i["kind"] in ("stackset-instances", "stackset")]
    assert deleted == [f"{stackset}/{TARGETS[0]}/{REGION}", stackset]
    deletions = [p for _, op, p in world["calls"] if op == "DeleteStackInstances"]
    assert [(p["Accounts"], p["RetainStacks"]) for p in deletions] == [
        ([TARGETS[0]], False),
        ([TARGETS[0]], False),
        ([TARGETS[0]], False),  # twice busy, then done
        ([TARGETS[1]], True),
    ]
    assert result.stderr.count(f"another operation of StackSet {stackset} is running: waiting") == 2
    assert stackset not in state(world)["stacksets"]
