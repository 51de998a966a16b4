"""The notebooks people experiment with: stored clean, every name tied to its definition, and executed cell by cell.

* ``notebooks/environment-walkthrough.ipynb`` (a Studio user: the environment's SageMaker execution role): the
  environment's SSM configuration, the data perimeter, the SageMaker guardrails, who approves models, clean-up;
* ``seed_code/model-build-train/notebooks/model-build-train.ipynb`` (in the project's repository; Studio, the
  execution role): start the project's SageMaker pipeline, follow it, the registered model, clean-up;
* ``seed_code/model-deploy/notebooks/model-deploy.ipynb`` (in the project's repository; the team administrator
  role): approve a model, follow the deploy pipeline, the staging test, the production decision, clean-up.

**How they run here.**  Each notebook is executed with nbclient (one ``python3`` kernel per notebook, 60 s per cell)
against the moto server on 127.0.0.1, in the development account and region of the platform deployed offline
(``templates_src.checks.platform``, single-account): moto is prepared with what the environment and the project
would have created (its network, keys, buckets, Studio domain and SSM parameters with the real names and the
offline deployment's values; the project's pipeline created by the seed code's own build step; its model package
group, deploy CodeBuild projects and pipeline, staging endpoint; another environment's pipeline and model package
group beside them).  The kernel runs with the credentials of the role that runs the notebook for real (a moto
session of the execution role, or of the team administrator role).

**IAM decides every request.**  moto does not evaluate IAM, so a hook in the kernel sends every AWS call to this test
before it is made: the test turns it into the IAM requests AWS authorizes it as (action, resource, condition keys,
with the resource's tags as moto holds them) and evaluates them against the generated policies, as the offline
deployment has them (the runner's identity policies with the guardrails, its permissions boundary, the bucket
policy, the S3 endpoint's policy for requests from Studio's VPC, the key policy for S3's use of the S3 key).  A
denied request is answered with AWS's AccessDenied, so a notebook must cope with the refusals AWS would give;
an allowed one goes to moto.  moto's own identifiers (VPC, subnets, security group, endpoint, keys, domain) are
translated to the offline deployment's before evaluation.

**Cells tagged ``requires-aws``** are the ones moto cannot run truthfully: refusals a control makes (moto accepts
everything) and calls moto does not implement.  Each is listed in ``PROOFS`` with what it claims: its calls are
answered as claimed (AccessDenied, or an answer built from the generated templates), and IAM must decide them so,
for the reasons claimed (the statements that deny them).  The set of tagged cells is exactly the set of proofs.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime
import http.server
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading

import boto3
import nbformat
import pytest
from botocore.exceptions import ClientError

from templates_src import cli_cleanup
from templates_src.blocks import environment, project
from templates_src.checks import escalation, flows, iam_reference, platform
from templates_src.checks.iam_policy import evaluate, glob_match, request
from templates_src.checks.platform import DEV, ENV_A, ENV_B, REGION
from templates_src.checks.world import decide
from templates_src.templates.env import env_iam
from templates_src.templates.project import cfn_sm_endpoint_template, project_model_build_train, project_model_deploy
from tests.conftest import REPO

SEED = REPO / "seed_code"
NOTEBOOKS = {
    "environment-walkthrough": REPO / "notebooks" / "environment-walkthrough.ipynb",
    "model-build-train": SEED / "model-build-train" / "notebooks" / "model-build-train.ipynb",
    "model-deploy": SEED / "model-deploy" / "notebooks" / "model-deploy.ipynb",
}
REQUIRES_AWS = "requires-aws"
PARAMETERS = "parameters"
CELL_TIMEOUT = 60
MAX_CODE_LINES = 40
OUTPUTS = "SM_MLOPS_NOTEBOOK_OUTPUTS"  # a folder: the executed notebooks are written there, outputs and all
# Where the repository keeps no notebook of its own (virtual environments, tools, build output).
NOT_OURS = (".venv", ".tools", "build", ".setuptools-build", ".git", ".ipynb_checkpoints", "node_modules")

# Who runs each notebook for real: a role of the environment (env-iam), and whether its requests leave from the
# environment's VPC (Studio: S3 requests go through the environment's S3 endpoint).
EXECUTION_ROLE = "SageMakerExecutionRole"
RUNNERS = {
    "environment-walkthrough": (EXECUTION_ROLE, True),
    "model-build-train": (EXECUTION_ROLE, True),
    "model-deploy": (env_iam.TEAM_ADMIN_ROLE_ID, False),
}
PROJECT_NAME, PROJECT_ID = platform.PROJECTS[ENV_A]
OTHER_NAME, OTHER_ID = platform.PROJECTS[ENV_B]
AWS_OWNED_ACCOUNT = "999999999999"  # the account of a bucket AWS owns (SageMaker JumpStart's)


# -- what the tagged cells claim ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Proof:
    """A ``requires-aws`` cell: the calls it makes, whether IAM allows them, and (refusals) why: ``layer:Sid`` of
    each statement that denies, or ``layer:no-allow`` when no statement of that layer allows."""

    claim: str
    operations: frozenset[str]
    allowed: bool
    reasons: frozenset[str] = frozenset()


def refused(claim, operations, *reasons) -> Proof:
    return Proof(claim, frozenset(operations), False, frozenset(reasons))


def allowed(claim, operations) -> Proof:
    return Proof(claim, frozenset(operations), True)


PROOFS = {
    ("environment-walkthrough", "bucket-other-encryption"): refused(
        "the data bucket refuses an object encrypted with SSE-S3",
        ["s3.PutObject"],
        "bucket-policy:DenyOtherEncryption",
    ),
    ("environment-walkthrough", "endpoint-other-bucket"): refused(
        "a bucket outside the environment is out of reach from Studio",
        ["s3.ListObjectsV2"],
        "identity:no-allow",
        "endpoint-policy:no-allow",
    ),
    ("environment-walkthrough", "guardrail-no-vpc"): refused(
        "a training job without the environment's VPC configuration is refused by the guardrails",
        ["sagemaker.CreateTrainingJob"],
        "identity:RequireVpcSubnets",
        "identity:RequireVpcSecurityGroups",
    ),
    ("environment-walkthrough", "guardrail-no-keys"): refused(
        "a training job without the environment's KMS keys is refused by the guardrails",
        ["sagemaker.CreateTrainingJob"],
        "identity:RequireVolumeKey",
        "identity:RequireOutputKey",
    ),
    ("environment-walkthrough", "approval-refused"): refused(
        "Studio (the execution role) cannot approve a model package",
        ["sagemaker.UpdateModelPackage"],
        "identity:no-allow",
    ),
    ("model-build-train", "execution-steps"): allowed(
        "the execution role lists the execution's steps", ["sagemaker.ListPipelineExecutionSteps"]
    ),
    ("model-build-train", "delete-project"): allowed(
        "the execution role deletes the project", ["sagemaker.DeleteProject"]
    ),
    ("model-deploy", "pipeline-state"): allowed(
        "the team administrator reads the deploy pipeline's state", ["codepipeline.GetPipelineState"]
    ),
    ("model-deploy", "invoke-staging-refused"): refused(
        "the team administrator cannot invoke the staging endpoint (another stage of the environment)",
        ["sagemaker-runtime.InvokeEndpoint"],
        "identity:no-allow",
        f"identity:OnlyThisEnvironmentResourceTag{environment.ENV_TYPE_TAG}",
    ),
    ("model-deploy", "production-approval"): allowed(
        "the team administrator approves the production deployment", ["codepipeline.PutApprovalResult"]
    ),
}
# Refusals an untagged cell meets and handles, as it meets them in AWS: the environment's roles may not read the tags
# of another environment's resources, which the notebooks skip.
HANDLED_REFUSALS = {("environment-walkthrough", "projects"): {"sagemaker:ListTags"}}


# -- reading notebooks -------------------------------------------------------------------------------------------------
def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS[name], as_version=nbformat.NO_CONVERT)


def code_cells(notebook) -> dict[str, nbformat.NotebookNode]:
    return {cell.id: cell for cell in notebook.cells if cell.cell_type == "code"}


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def run_cell(name: str, cell_id: str, **names) -> dict:
    """Execute one code cell of a notebook in a namespace holding ``names``; the namespace after it."""
    namespace = dict(names)
    exec(compile(code_cells(read(name))[cell_id].source, f"{name}:{cell_id}", "exec"), namespace)  # noqa: S102
    return namespace


def literal(name: str, cell_id: str, variable: str):
    """The literal value a code cell assigns to ``variable``."""
    tree = ast.parse(code_cells(read(name))[cell_id].source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name}:{cell_id} assigns no {variable}")


def every_notebook() -> list[pathlib.Path]:
    """Every notebook of the repository (not of its virtual environments, tools or build output)."""
    found = []
    for folder, folders, files in os.walk(REPO):
        folders[:] = [f for f in folders if f not in NOT_OURS]
        found += [pathlib.Path(folder) / f for f in files if f.endswith(".ipynb")]
    return sorted(found)


# -- stored clean ------------------------------------------------------------------------------------------------------
def test_the_notebooks_are_the_ones_executed_here():
    """A new notebook anywhere in the repository must be added to NOTEBOOKS (and so be executed and proven)."""
    assert every_notebook() == sorted(NOTEBOOKS.values())


@pytest.mark.parametrize("path", every_notebook(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_notebook_is_valid_and_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}:{cell.id} has outputs"
    assert len({cell.id for cell in notebook.cells}) == len(notebook.cells)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_code_cell_is_small_and_explained(name):
    """Parameters first (the only cell to edit, tagged as papermill expects), and every code cell after a markdown
    cell that explains it."""
    notebook = read(name)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    first = next(cell for cell in cells if cell.cell_type == "code")
    assert first.id == PARAMETERS and tags(first) == [PARAMETERS]
    for before, cell in zip(cells, cells[1:], strict=False):
        if cell.cell_type == "code":
            assert before.cell_type == "markdown" and before.source.strip(), f"{name}:{cell.id} is not explained"
            assert len(cell.source.splitlines()) <= MAX_CODE_LINES, f"{name}:{cell.id} is too long"
            assert set(tags(cell)) <= {PARAMETERS, REQUIRES_AWS}
            assert (PARAMETERS in tags(cell)) == (cell is first)


def test_the_tagged_cells_are_exactly_the_proven_ones():
    tagged = {
        (name, cell.id) for name in NOTEBOOKS for cell in code_cells(read(name)).values() if REQUIRES_AWS in tags(cell)
    }
    assert tagged == set(PROOFS)
    assert set(HANDLED_REFUSALS) <= {(name, cid) for name in NOTEBOOKS for cid in code_cells(read(name))} - tagged


# -- the platform as deployed offline ----------------------------------------------------------------------------------
@dataclasses.dataclass
class Deployment:
    """The single-account platform of templates_src.checks.platform: environment A's roles, policies and values."""

    platform: platform.Platform
    ssm: dict[str, str]  # environment A's SSM parameters (name -> value)
    roles: dict[str, object]  # env-iam logical id -> Principal
    bucket_policies: dict[str, list]  # bucket name -> statements of its policy
    endpoint_id: str  # the S3 gateway endpoint
    vpc_id: str
    endpoint_policy: list
    endpoint_document: dict  # the endpoint's policy, resolved (what describe-vpc-endpoints shows)
    key_policy: list  # the environment's S3 key's

    def project(self, template: str):
        return self.platform.projects[(ENV_A, template)]


def _policy(stack, logical_id: str, prop: str) -> list:
    document = stack.template["Resources"][logical_id]["Properties"][prop]
    return escalation.resource_policy_statements(document, stack, f"{stack.name}/{logical_id}")


@pytest.fixture(scope="module")
def deployment(templates, default_config) -> Deployment:
    p = platform.build(templates, default_config, "single-account")
    iam = p.child(ENV_A, "env-iam")
    roles = {r.logical_id: r for r in p.world.principals if r.stack is iam}
    s3, egress, kms, vpc = (p.child(ENV_A, t) for t in ("env-s3", "env-vpc-egress", "env-kms", "env-vpc"))
    policies = {}
    for bucket in ("DataBucket", "ModelBucket"):
        [name] = s3.physical(bucket)
        policies[name] = _policy(s3, f"{bucket}Policy", "PolicyDocument")
    [endpoint] = egress.physical("VPCEndpointS3")
    [vpc_id] = vpc.resolver.values(vpc.template["Outputs"]["VPCId"]["Value"])
    return Deployment(
        platform=p,
        ssm={k: v for k, v in p.ssm(ENV_A).items() if k.startswith(f"{ENV_A.key}-")},
        roles=roles,
        bucket_policies=policies,
        endpoint_id=endpoint,
        vpc_id=vpc_id,
        endpoint_policy=_policy(egress, "VPCEndpointS3", "PolicyDocument"),
        endpoint_document=resource_props(egress, "VPCEndpointS3")["PolicyDocument"],
        key_policy=_policy(kms, "S3BucketKMSKey", "KeyPolicy"),
    )


def resolved(stack, node):
    """A template value as plain JSON, the way CloudFormation passes it to the API (conditions decided)."""
    if isinstance(node, list):
        return [v for v in (resolved(stack, item) for item in node) if v is not None]
    if isinstance(node, dict):
        if len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::If":
                return resolved(stack, args[1] if stack.resolver.condition(args[0]) else args[2])
            if fn == "Ref" and args == "AWS::NoValue":
                return None
            if fn == "Fn::Join":
                parts = resolved(stack, args[1])
                return args[0].join(p for part in parts for p in (part if isinstance(part, list) else [part]))
            if fn == "Fn::Split":
                return resolved(stack, args[1]).split(args[0])
            if fn == "Ref" or fn.startswith("Fn::"):
                return ",".join(stack.resolver.values(node))
        return {k: v for k, v in ((k, resolved(stack, v)) for k, v in node.items()) if v is not None}
    return node


def resource_props(stack, logical_id: str) -> dict:
    return resolved(stack, stack.template["Resources"][logical_id]["Properties"])


# -- moto as the environment left it -----------------------------------------------------------------------------------
class Ids:
    """moto's identifiers and the offline deployment's for the same resources (moto makes its own ids)."""

    def __init__(self):
        self.pairs: list[tuple[str, str]] = []

    def add(self, moto_value: str, world_value: str) -> None:
        self.pairs.append((moto_value, world_value))

    def world(self, value):
        if isinstance(value, str):
            for moto_value, world_value in self.pairs:  # whole identifiers only, wherever they stand (ARNs, lists)
                value = re.sub(rf"(?<![\w-]){re.escape(moto_value)}(?![\w-])", world_value, value)
            return value
        if isinstance(value, (list, tuple)):
            return [self.world(v) for v in value]
        return value

    def moto(self, value: str) -> str:
        """A world value (a comma-separated list of them) with each known item as moto has it."""
        back = {w: m for m, w in self.pairs}
        return ",".join(back.get(item, item) for item in value.split(","))


class Moto:
    """The moto server, reset, in the development account of the offline deployment."""

    def __init__(self, server, tmp: pathlib.Path):
        server.reset()
        self.server, self.tmp, self.ids = server, tmp, Ids()
        self.s3_key = ""  # the environment's S3 key, as moto names it (prepare_environment)
        self.session = self.assume(f"arn:aws:iam::{DEV}:role/notebook-test-preparation")

    def assume(self, role_arn: str, session_name: str = "notebook-test") -> boto3.Session:
        credentials = self.server.client("sts", region_name=REGION).assume_role(
            RoleArn=role_arn, RoleSessionName=session_name
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=REGION,
        )

    def client(self, name: str):
        return self.session.client(name, endpoint_url=self.server.url)

    def environment(self, session: boto3.Session) -> dict[str, str]:
        """Environment variables of a process that calls moto with ``session``'s credentials (and nothing else)."""
        credentials = session.get_credentials()
        env = {k: v for k, v in self.server.env.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=credentials.access_key,
            AWS_SECRET_ACCESS_KEY=credentials.secret_key,
            AWS_SESSION_TOKEN=credentials.token,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_ENDPOINT_URL=self.server.url,
            AWS_CONFIG_FILE=str(self.server.config_file),
            AWS_SHARED_CREDENTIALS_FILE=str(self.server.credentials_file),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_MAX_ATTEMPTS="1",
        )
        return env

    # tags, as moto holds them (the resource's tags IAM puts in a request as aws:ResourceTag/<key>)
    def tags(self, service: str, arn: str) -> dict[str, str]:
        try:
            if service == "sagemaker":
                return {t["Key"]: t["Value"] for t in self.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]}
            if service == "codepipeline":
                found = self.client("codepipeline").list_tags_for_resource(resourceArn=arn)["tags"]
                return {t["key"]: t["value"] for t in found}
        except ClientError:  # a resource moto does not know (deleted, or never there): no tags
            return {}
        if service == "codebuild":
            found = self.client("codebuild").batch_get_projects(names=[arn.rsplit("/", 1)[1]])["projects"]
            return {t["key"]: t["value"] for project_ in found for t in project_.get("tags", [])}
        raise AssertionError(service)


def env_tags(env) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in platform.env_tags(env).items()]


def project_tags(name: str, project_id: str) -> list[dict]:
    return [{"Key": project.PROJECT_NAME_TAG, "Value": name}, {"Key": project.PROJECT_ID_TAG, "Value": project_id}]


def prepare_environment(moto: Moto, d: Deployment) -> dict:
    """What environment A created: network, keys, buckets, Studio domain, SSM parameters (its names, its values
    with moto's ids).  Returns facts the notebooks' parameters need."""
    ssm_value = lambda suffix: d.ssm[f"{ENV_A.key}-{suffix}"]  # noqa: E731
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.2.{32 * i}.0/19", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName=f"{ENV_A.key}-sagemaker", Description="SageMaker", VpcId=vpc)["GroupId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName=f"com.amazonaws.{REGION}.s3",
        VpcEndpointType="Gateway",
        RouteTableIds=[table],
        PolicyDocument=json.dumps(d.endpoint_document),
    )["VpcEndpoint"]["VpcEndpointId"]
    moto.ids.add(vpc, ssm_value(environment.VPC_ID_SSM))
    for mine, theirs in zip(subnets, ssm_value(environment.PRIVATE_SUBNET_IDS_SSM).split(","), strict=True):
        moto.ids.add(mine, theirs)
    moto.ids.add(group, ssm_value(environment.SECURITY_GROUP_IDS_SSM))
    moto.ids.add(endpoint, ssm_value(environment.S3_ENDPOINT_ID_SSM))
    kms = moto.client("kms")
    keys = {}
    for kind in (environment.EBS_KEY, environment.EFS_KEY, environment.S3_KEY):
        key = kms.create_key(Description=f"{ENV_A.key} {kind}")["KeyMetadata"]
        kms.create_alias(
            AliasName=environment.kms_alias(kind).replace("${EnvName}-${EnvType}", ENV_A.key), TargetKeyId=key["KeyId"]
        )
        theirs = ssm_value(environment.kms_key_arn_ssm(kind))
        moto.ids.add(key["Arn"], theirs)
        moto.ids.add(key["KeyId"], theirs.rsplit("/", 1)[1])
        keys[kind] = key["Arn"]
    moto.s3_key = keys[environment.S3_KEY]
    s3 = moto.client("s3")
    for suffix in (environment.DATA_BUCKET_NAME_SSM, environment.MODEL_BUCKET_NAME_SSM):
        bucket = ssm_value(suffix)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        rule = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": keys[environment.S3_KEY]}
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": rule, "BucketKeyEnabled": True}]
            },
        )
    execution_role = ssm_value(environment.EXECUTION_ROLE_ARN_SSM)
    domain = moto.client("sagemaker").create_domain(
        DomainName=ENV_A.key,
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": execution_role, "SecurityGroups": [group]},
        SubnetIds=subnets,
        VpcId=vpc,
        AppNetworkAccessType="VpcOnly",
        Tags=env_tags(ENV_A),
    )["DomainArn"]
    domain_id = domain.rsplit("/", 1)[1]
    moto.ids.add(domain_id, ssm_value(environment.SAGEMAKER_DOMAIN_ID_SSM))
    ssm = moto.client("ssm")
    for name, value in d.ssm.items():
        ssm.put_parameter(Name=name, Value=moto.ids.moto(value), Type="String")
    metadata = moto.tmp / "resource-metadata.json"
    metadata.write_text(json.dumps({"DomainId": domain_id, "UserProfileName": "alice", "SpaceName": "alice-lab"}))
    return {"metadata": metadata}


# -- IAM requests of the notebooks' calls ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Req:
    """One IAM request of a call: what is authorized, on what, with which keys (besides the caller's own), and
    which resource-side policies apply."""

    action: str
    resource: str
    context: dict
    bucket: str | None = None  # an S3 request: the bucket whose policy applies
    key_policy: bool = False  # S3 using the environment's S3 key for the caller: the key policy applies
    network: bool = False  # made from where the caller is (Studio: the VPC, through the S3 endpoint)


def _own(service: str, path: str) -> str:
    return f"arn:aws:{service}:{REGION}:{DEV}:{path}"


def _tag_context(tags: dict[str, str]) -> dict:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def _request_tags(tags: list[dict], action: str | None = None) -> dict:
    out = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    out["aws:TagKeys"] = [t["Key"] for t in tags]
    if action:
        out["sagemaker:TaggingAction"] = action
    return out


SAGEMAKER_BY_NAME = {  # operation -> (parameter naming the resource, resource type)
    "DescribeDomain": ("DomainId", "domain"),
    "DescribePipeline": ("PipelineName", "pipeline"),
    "StartPipelineExecution": ("PipelineName", "pipeline"),
    "ListPipelineExecutions": ("PipelineName", "pipeline"),
    "DeletePipeline": ("PipelineName", "pipeline"),
    "DescribeTrainingJob": ("TrainingJobName", "training-job"),
    "DeleteProject": ("ProjectName", "project"),
}
SAGEMAKER_BY_ARN = {
    "ListTags": "ResourceArn",
    "DescribePipelineExecution": "PipelineExecutionArn",
    "ListPipelineParametersForExecution": "PipelineExecutionArn",
    "ListPipelineExecutionSteps": "PipelineExecutionArn",
    "DescribeModelPackage": "ModelPackageName",
    "UpdateModelPackage": "ModelPackageArn",
}
SAGEMAKER_LISTS = ("ListModelPackageGroups", "ListModelPackages", "ListPipelines", "ListEndpoints")  # no resource type


def _training_job(params: dict) -> list[Req]:
    arn = _own("sagemaker", f"training-job/{params['TrainingJobName'].lower()}")
    resources, output = params["ResourceConfig"], params["OutputDataConfig"]
    context = {
        "sagemaker:InstanceTypes": [resources["InstanceType"]],
        "sagemaker:NetworkIsolation": str(bool(params.get("EnableNetworkIsolation"))).lower(),
        "sagemaker:InterContainerTrafficEncryption": str(
            bool(params.get("EnableInterContainerTrafficEncryption"))
        ).lower(),
    }
    if params.get("VpcConfig"):
        context["sagemaker:VpcSubnets"] = params["VpcConfig"]["Subnets"]
        context["sagemaker:VpcSecurityGroupIds"] = params["VpcConfig"]["SecurityGroupIds"]
    if resources.get("VolumeKmsKeyId"):
        context["sagemaker:VolumeKmsKey"] = resources["VolumeKmsKeyId"]
    if output.get("KmsKeyId"):
        context["sagemaker:OutputKmsKey"] = output["KmsKeyId"]
    tags = params.get("Tags", [])
    out = [
        Req("sagemaker:CreateTrainingJob", arn, {**context, **(_request_tags(tags) if tags else {})}),
        Req("iam:PassRole", params["RoleArn"], {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]
    if tags:
        out.append(Req("sagemaker:AddTags", arn, _request_tags(tags, "CreateTrainingJob")))
    return out


def _sagemaker(operation: str, params: dict, moto: Moto) -> list[Req]:
    if operation in SAGEMAKER_LISTS:
        return [Req(f"sagemaker:{operation}", "*", {})]
    if operation == "CreateTrainingJob":
        return _training_job(params)
    if operation in SAGEMAKER_BY_NAME:
        parameter, kind = SAGEMAKER_BY_NAME[operation]
        name = params[parameter]
        moto_arn = _own("sagemaker", f"{kind}/{name}")
    elif operation in SAGEMAKER_BY_ARN:
        moto_arn = params[SAGEMAKER_BY_ARN[operation]]
    else:
        raise LookupError(f"sagemaker.{operation}: say in tests/test_notebooks.py how IAM authorizes it")
    target = params["ResourceArn"] if operation == "ListTags" else moto_arn
    context = _tag_context(moto.tags("sagemaker", target))
    if operation == "UpdateModelPackage" and "ModelApprovalStatus" in params:
        context["sagemaker:ModelApprovalStatus"] = params["ModelApprovalStatus"]
    prefix, _, path = moto_arn.rpartition(":")
    return [Req(f"sagemaker:{operation}", f"{prefix}:{path.lower()}", context)]


def _s3(operation: str, params: dict, moto: Moto, env_buckets: set[str]) -> list[Req]:
    bucket = params["Bucket"]
    ours = bucket in env_buckets
    context = {"s3:ResourceAccount": DEV if ours else AWS_OWNED_ACCOUNT, "aws:ViaAWSService": "false"}
    where = {"bucket": bucket, "network": True}  # the bucket's policy; the endpoint's, from Studio
    obj = lambda key: f"arn:aws:s3:::{bucket}/{key}"  # noqa: E731
    via_s3 = flows.kms_via_s3_context(DEV, REGION, f"arn:aws:s3:::{bucket}")
    key = moto.s3_key  # the buckets' default key, the environment's S3 key
    if operation == "ListObjectsV2":
        return [
            Req("s3:ListBucket", f"arn:aws:s3:::{bucket}", {**context, "s3:prefix": params.get("Prefix", "")}, **where)
        ]
    if operation in ("GetObject", "HeadObject"):
        out = [Req("s3:GetObject", obj(params["Key"]), context, **where)]
        return out + ([Req("kms:Decrypt", key, via_s3, key_policy=True)] if ours else [])
    if operation == "PutObject":
        encryption = {}
        if params.get("ServerSideEncryption"):
            encryption["s3:x-amz-server-side-encryption"] = params["ServerSideEncryption"]
        if params.get("SSEKMSKeyId"):
            encryption["s3:x-amz-server-side-encryption-aws-kms-key-id"] = params["SSEKMSKeyId"]
        out = [Req("s3:PutObject", obj(params["Key"]), {**context, **encryption}, **where)]
        by_key = ours and params.get("ServerSideEncryption", "aws:kms") == "aws:kms"
        return out + ([Req("kms:GenerateDataKey", key, via_s3, key_policy=True)] if by_key else [])
    if operation == "DeleteObject":
        return [Req("s3:DeleteObject", obj(params["Key"]), context, **where)]
    if operation == "DeleteObjects":
        return [Req("s3:DeleteObject", obj(item["Key"]), context, **where) for item in params["Delete"]["Objects"]]
    raise LookupError(f"s3.{operation}: say in tests/test_notebooks.py how IAM authorizes it")


def requests_of(service: str, operation: str, params: dict, moto: Moto, env_buckets: set[str]) -> list[Req]:
    """The IAM requests AWS authorizes a call as (moto's identifiers; the caller's own keys are added later)."""
    if (service, operation) == ("sts", "GetCallerIdentity"):
        return []
    if service == "sagemaker":
        return _sagemaker(operation, params, moto)
    if service == "sagemaker-runtime" and operation == "InvokeEndpoint":
        arn = _own("sagemaker", f"endpoint/{params['EndpointName']}")
        return [Req("sagemaker:InvokeEndpoint", arn.lower(), _tag_context(moto.tags("sagemaker", arn)))]
    if service == "s3":
        return _s3(operation, params, moto, env_buckets)
    if service == "ssm" and operation == "GetParameters":
        return [Req("ssm:GetParameters", _own("ssm", f"parameter/{name}"), {}) for name in params["Names"]]
    if service == "ec2" and operation in ("DescribeVpcEndpoints", "DescribeSubnets"):
        return [Req(f"ec2:{operation}", "*", {})]
    if service == "codebuild":
        if operation == "BatchGetProjects":
            names = params["names"]
        elif operation == "ListBuildsForProject":
            names = [params["projectName"]]
        elif operation == "BatchGetBuilds":
            names = [build.split(":", 1)[0] for build in params["ids"]]
        else:
            raise LookupError(f"codebuild.{operation}: say in tests/test_notebooks.py how IAM authorizes it")
        arns = [_own("codebuild", f"project/{name}") for name in names]
        return [Req(f"codebuild:{operation}", a, _tag_context(moto.tags("codebuild", a))) for a in arns]
    if service == "codepipeline":
        name = params.get("pipelineName") or params["name"]
        arn = _own("codepipeline", name)
        context = _tag_context(moto.tags("codepipeline", arn))
        if operation == "PutApprovalResult":
            return [Req(f"codepipeline:{operation}", f"{arn}/{params['stageName']}/{params['actionName']}", context)]
        if operation in ("ListPipelineExecutions", "GetPipelineExecution", "GetPipelineState"):
            return [Req(f"codepipeline:{operation}", arn, context)]
    if service == "logs" and operation == "GetLogEvents":
        group, stream = params["logGroupName"], params["logStreamName"]
        return [Req("logs:GetLogEvents", _own("logs", f"log-group:{group}:log-stream:{stream}"), {})]
    raise LookupError(f"{service}.{operation}: say in tests/test_notebooks.py how IAM authorizes it")


def check_keys(req: Req) -> None:
    """The request names a real action and carries only keys IAM documents for it (a made-up key would make the
    proof say nothing)."""
    assert iam_reference.exists(req.action), req.action
    documented = [re.sub(r"\$\{[^}]+\}", "*", k) for k in iam_reference.condition_keys(req.action)]
    for key in req.context:
        lowered = key.lower()
        if lowered.startswith("aws:resourcetag/") or (
            lowered.startswith("aws:") and not lowered.startswith(("aws:requesttag/", "aws:tagkeys"))
        ):
            continue  # the resource's tags, and global keys
        assert iam_reference.carries(req.action, key) or any(glob_match(k, lowered) for k in documented), (
            f"{req.action} carries no {key}"
        )


def in_world(req: Req, ids: Ids) -> Req:
    """The request with moto's identifiers replaced by the offline deployment's."""
    return dataclasses.replace(
        req, resource=ids.world(req.resource), context={k: ids.world(v) for k, v in req.context.items()}
    )


@dataclasses.dataclass(frozen=True)
class Verdict:
    req: Req
    allowed: bool
    reasons: frozenset[str]  # layer:Sid of each deny, layer:no-allow for a layer that allows nothing of it


def judge(d: Deployment, principal, in_vpc: bool, req: Req) -> Verdict:
    """IAM's decision on ``req`` by ``principal`` (templates_src.checks.world.decide), with the VPC endpoint's policy
    for S3 requests made from the environment's VPC, and each layer's reasons."""
    context = {**escalation.session_context(principal), "aws:SecureTransport": "true", **req.context}
    through_endpoint = req.network and in_vpc
    if through_endpoint:
        context.update({"aws:SourceVpce": d.endpoint_id, "aws:SourceVpc": d.vpc_id})
    r = request(req.action, req.resource, context=context, complete=True)
    policy, layer, same = None, "", True
    if req.bucket is not None:
        policy, layer = d.bucket_policies.get(req.bucket), "bucket-policy"
        same = req.context.get("s3:ResourceAccount") == DEV
    elif req.key_policy:
        policy, layer = d.key_policy, "key-policy"
    final = decide(principal, r, policy, same_account=same)
    layers = {"identity": evaluate(principal.identity, r)}
    if principal.boundary is not None:
        layers["boundary"] = evaluate(principal.boundary, r)
    if policy is not None:
        layers[layer] = evaluate(policy, r)
    if through_endpoint:
        layers["endpoint-policy"] = evaluate(d.endpoint_policy, r)
    ok = final.allowed and (not through_endpoint or layers["endpoint-policy"].allowed)
    reasons = set()
    for name, decision in layers.items():
        reasons |= {f"{name}:{label.rsplit('/', 1)[-1]}" for label in decision.denied_by}
        if not decision.allowed and not decision.by:  # no statement of the layer allows it (denied or not)
            reasons.add(f"{name}:no-allow")
    return Verdict(req, ok, frozenset(reasons))


# -- the judge: every call of a kernel is decided here before moto serves it -------------------------------------------
@dataclasses.dataclass
class Call:
    cell: str
    operation: str  # service.Operation
    params: dict
    verdicts: list[Verdict]
    answer: str  # "moto" (served), "refused" (AccessDenied), "canned" (answered from the templates)


@dataclasses.dataclass
class Run:
    name: str
    principal: object
    in_vpc: bool
    moto: Moto
    env_buckets: set[str]
    answers: dict[str, dict[str, dict]] = dataclasses.field(default_factory=dict)  # cell -> operation -> answer
    calls: list[Call] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def cell_calls(self, cell: str) -> list[Call]:
        return [c for c in self.calls if c.cell == cell]


REFUSAL_CODES = {"s3": "AccessDenied", "ec2": "UnauthorizedOperation"}


class Judge:
    """A local HTTP service the kernels ask about each AWS call (HOOK): refuse it, answer it, or let moto serve it."""

    def __init__(self, deployment: Deployment):
        self.deployment, self.run = deployment, None
        judge = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                answer = json.dumps(judge.answer(body), default=str).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def answer(self, body: dict) -> dict:
        run, cell = self.run, body["cell"]
        operation = f"{body['service']}.{body['operation']}"
        try:
            reqs = requests_of(body["service"], body["operation"], body["params"], run.moto, run.env_buckets)
            for req in reqs:
                check_keys(req)
            verdicts = [judge(self.deployment, run.principal, run.in_vpc, in_world(r, run.moto.ids)) for r in reqs]
        except Exception as error:  # reported by the test, and made visible in the notebook
            run.errors.append(f"{run.name}:{cell}: {operation}: {error!r}")
            return {"Error": {"Code": "NotebookTestError", "Message": f"tests/test_notebooks.py: {error!r}"}}
        denied = [v for v in verdicts if not v.allowed]
        canned = run.answers.get(cell, {}).get(operation)
        if denied:
            first = denied[0]
            code = REFUSAL_CODES.get(body["service"], "AccessDeniedException")
            message = (
                f"User: {run.principal.arn} is not authorized to perform: {first.req.action} on resource: "
                f"{first.req.resource} ({', '.join(sorted(first.reasons))}) [decided by tests/test_notebooks.py]"
            )
            reply, answer = {"Error": {"Code": code, "Message": message}}, "refused"
        elif canned is not None:
            reply, answer = {"Answer": canned}, "canned"
        else:
            reply, answer = {"Forward": True}, "moto"
        run.calls.append(Call(cell, operation, body["params"], verdicts, answer))
        return reply

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# The code the test runs in each kernel first: every botocore call asks the judge, then raises its refusal, returns its
# answer, or goes to moto.  Then, before each of the notebook's code cells, the cell's id is set.
HOOK = """
import json as _json
import urllib.request as _request

import botocore.client as _client
from botocore.exceptions import ClientError as _ClientError


def _ask_the_test(url):
    forward = _client.BaseClient._make_api_call
    opener = _request.build_opener(_request.ProxyHandler({}))
    state = {"cell": None}

    def make_api_call(client, operation, params):
        call = {"cell": state["cell"], "service": client.meta.service_model.service_name, "operation": operation}
        body = _json.dumps({**call, "params": params}, default=str).encode()
        with opener.open(_request.Request(url, data=body, method="POST"), timeout=30) as response:
            answer = _json.load(response)
        if "Error" in answer:
            raise _ClientError({"Error": answer["Error"], "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)
        if "Answer" in answer:
            return answer["Answer"]
        return forward(client, operation, params)

    _client.BaseClient._make_api_call = make_api_call
    return state
"""


def instrumented(notebook, url: str):
    out = nbformat.v4.new_notebook(metadata=notebook.metadata)
    out.cells = [nbformat.v4.new_code_cell(HOOK + f"\n_notebook_test = _ask_the_test({url!r})")]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            out.cells.append(nbformat.v4.new_code_cell(f"_notebook_test['cell'] = {cell.id!r}"))
            out.cells.append(nbformat.v4.new_code_cell(cell.source))
    return out


@pytest.fixture(scope="module")
def referee(deployment):
    judge_ = Judge(deployment)
    yield judge_
    judge_.close()


# -- what each notebook finds ------------------------------------------------------------------------------------------
def seed_module(relative: str, name: str):
    """A script of the seed code (it runs without this package)."""
    spec = importlib.util.spec_from_file_location(name, SEED / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def evaluation_report() -> dict:
    """An evaluation report as the pipeline's evaluation step writes it (the seed's own function)."""
    import numpy as np

    evaluate = seed_module("model-build-train/pipelines/abalone/evaluate.py", "seed_build_evaluate_for_notebooks")
    rings = np.array([9.0, 7.0, 10.0, 11.0, 8.0, 12.0, 6.0, 15.0, 9.0, 10.0])
    return evaluate.regression_report(rings, rings + np.linspace(-1.2, 1.2, len(rings)), bootstrap_rounds=20)


def _ssm(d: Deployment, suffix: str) -> str:
    return d.ssm[f"{ENV_A.key}-{suffix}"]


def register_models(moto: Moto, d: Deployment, group: str, runs: list[str]) -> None:
    """Model package versions as the build pipeline's register step leaves them (the older ones approved, the newest
    pending), each with its evaluation report in the model bucket.  The group has no tags: the pipeline's register
    step creates it without any."""
    sm, s3 = moto.client("sagemaker"), moto.client("s3")
    bucket = _ssm(d, environment.MODEL_BUCKET_NAME_SSM)
    sm.create_model_package_group(ModelPackageGroupName=group)
    report = json.dumps(evaluation_report()).encode()
    for number, execution in enumerate(runs, 1):
        key = f"{group}/{execution}/evaluation/evaluation.json"
        s3.put_object(Bucket=bucket, Key=key, Body=report)
        container = {
            "Image": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0",
            "ModelDataUrl": f"s3://{bucket}/{group}/training/{execution}/output/model.tar.gz",
        }
        sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved" if number < len(runs) else "PendingManualApproval",
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}
            },
        )


def sagemaker_pipeline(moto: Moto, d: Deployment, env, name: str, project_id: str) -> None:
    """A project's SageMaker pipeline as its build tags it (definition aside)."""
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": []}
    moto.client("sagemaker").create_pipeline(
        PipelineName=f"sagemaker-{name}-{project_id}",
        PipelineDefinition=json.dumps(definition),
        RoleArn=_ssm(d, environment.PIPELINE_EXECUTION_ROLE_ARN_SSM),
        Tags=project_tags(name, project_id) + env_tags(env),
    )


def other_environment(moto: Moto, d: Deployment) -> None:
    """Environment B's project beside A's, in the same account: A's notebooks must leave it alone."""
    sagemaker_pipeline(moto, d, ENV_B, OTHER_NAME, OTHER_ID)
    sm = moto.client("sagemaker")
    group = f"{OTHER_NAME}-{OTHER_ID}"
    sm.create_model_package_group(ModelPackageGroupName=group, Tags=env_tags(ENV_B))
    sm.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )


def staging_endpoint(moto: Moto, d: Deployment) -> str:
    """The endpoint the deploy pipeline's staging StackSet creates in this account (single-account), named and
    tagged by the endpoint template."""
    staging = _ssm(d, environment.ENV_TYPE_STAGING_NAME_SSM)
    stack = d.platform.world.deploy(
        cfn_sm_endpoint_template.NAME,
        DEV,
        f"StackSet-sagemaker-{PROJECT_NAME}-{PROJECT_ID}-deploy-{staging}-notebooks",
        {
            "SageMakerProjectName": PROJECT_NAME,
            "SageMakerProjectId": PROJECT_ID,
            "EnvName": ENV_A.name,
            "EnvType": staging,
        },
    )
    endpoint = resource_props(stack, "Endpoint")
    sm = moto.client("sagemaker")
    name = endpoint["EndpointName"]
    sm.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=f"arn:aws:iam::{DEV}:role/{_ssm(d, environment.MODEL_EXECUTION_ROLE_NAME_SSM)}",
        PrimaryContainer={"Image": f"141502667606.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:3.2-0"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config", Tags=endpoint["Tags"])
    return name


def checkout(moto: Moto, repository: str, name: str) -> pathlib.Path:
    """The project's repository as Studio (or the team administrator) clones it, with the notebook in it."""
    root = moto.tmp / repository
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOKS[name], root / "notebooks")
    git = {"HOME": str(moto.tmp), "PATH": os.environ.get("PATH", ""), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=git)
    remote = f"codecommit::{REGION}://{repository}"
    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", remote], check=True, env=git)
    return root / "notebooks"


def build_variables(stack, logical_id: str, ids: Ids) -> dict[str, str]:
    """A CodeBuild project's environment variables as deployed (moto's ids)."""
    variables = resource_props(stack, logical_id)["Environment"]["EnvironmentVariables"]
    return {v["Name"]: ids.moto(v["Value"]) if v["Value"] else "" for v in variables}


def prepare_walkthrough(moto: Moto, d: Deployment, facts: dict) -> tuple[dict, pathlib.Path]:
    sagemaker_pipeline(moto, d, ENV_A, PROJECT_NAME, PROJECT_ID)
    register_models(moto, d, f"{PROJECT_NAME}-{PROJECT_ID}", ["execution-1", "execution-2"])
    other_environment(moto, d)
    staging_endpoint(moto, d)
    return {"STUDIO_METADATA_FILE": str(facts["metadata"]), "CLEAN_UP": "yes"}, moto.tmp


def prepare_build_train(moto: Moto, d: Deployment, facts: dict, answers: dict) -> tuple[dict, pathlib.Path]:
    """The project after its first build: the seed code's own build step (run_pipeline, as CodeBuild runs it, with
    the build project's variables and the project role) created and started the pipeline; a model is registered."""
    stack = d.project(project_model_build_train.NAME)
    variables = build_variables(stack, "ModelPipelineBuildProject", moto.ids)
    role = moto.assume(_ssm(d, environment.MODEL_BUILD_ROLE_ARN_SSM), "AWSCodeBuild")
    build = subprocess.run(
        [sys.executable, "-m", "pipelines.run_pipeline", "--no-wait"],
        cwd=SEED / "model-build-train",
        env={**moto.environment(role), **variables},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    sm = moto.client("sagemaker")
    pipeline = variables["SAGEMAKER_PIPELINE_NAME"]
    [first] = sm.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
    register_models(moto, d, variables["MODEL_PACKAGE_GROUP_NAME"], [first["PipelineExecutionArn"].rsplit("/", 1)[1]])
    other_environment(moto, d)
    # moto has no ListPipelineExecutionSteps: the steps of the real definition, as an execution that passed them.
    definition = json.loads(sm.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])
    steps, pending = [], list(definition["Steps"])
    while pending:
        step = pending.pop(0)
        if step["Type"] != "Fail":
            steps.append({"StepName": step["Name"], "StepStatus": "Succeeded"})
        pending[:0] = step.get("Arguments", {}).get("IfSteps", []) if step["Type"] == "Condition" else []
    answers["execution-steps"] = {"sagemaker.ListPipelineExecutionSteps": {"PipelineExecutionSteps": steps}}
    answers["delete-project"] = {"sagemaker.DeleteProject": {}}
    [repository] = stack.physical("ModelBuildCodeCommitRepository")
    parameters = {"PIPELINE_PARAMETERS": json.dumps({"MseThreshold": "5.5"}), "CLEAN_UP": "yes", "WAIT_MINUTES": "0"}
    return parameters, checkout(moto, repository, "model-build-train")


def pipeline_state(pipeline: dict) -> dict:
    """GetPipelineState of the deploy pipeline waiting at its manual approval (moto has no GetPipelineState): the
    stages and actions before it succeeded, the ones after it not reached."""
    states, waiting = [], False
    for stage in pipeline["Stages"]:
        reached = not waiting
        actions = []
        for action in stage["Actions"]:
            if waiting:
                actions.append({"actionName": action["Name"]})
            elif action["ActionTypeId"]["Category"] == "Approval":
                waiting = True
                actions.append(
                    {"actionName": action["Name"], "latestExecution": {"status": "InProgress", "token": "t-1"}}
                )
            else:
                actions.append({"actionName": action["Name"], "latestExecution": {"status": "Succeeded"}})
        status = {"latestExecution": {"status": "InProgress" if waiting else "Succeeded"}} if reached else {}
        states.append({"stageName": stage["Name"], **status, "actionStates": actions})
    assert waiting, "the deploy pipeline has no manual approval"
    return {"pipelineName": pipeline["Name"], "stageStates": states}


CHECK_ENDPOINT_LOG = [  # test/check_endpoint.py's lines for one staging account that passed
    "[Container] Running command python test/check_endpoint.py",
    "Testing endpoint {endpoint} in account {account}",
    "  PASSED: 10 predictions, mean absolute error 0.91",
    "Endpoint {endpoint} passed in 1 account(s)",
]


def prepare_deploy(moto: Moto, d: Deployment, facts: dict, answers: dict) -> tuple[dict, pathlib.Path]:
    """The deploy project after a model approval: its CodeBuild projects and pipeline (as its template defines
    them), an execution, the staging endpoint and its test's log; the model package group with a pending version."""
    stack = d.project(project_model_deploy.NAME)
    variables = build_variables(stack, "ModelDeployBuildProject", moto.ids)
    register_models(moto, d, variables["MODEL_PACKAGE_GROUP_NAME"], ["execution-1", "execution-2"])
    other_environment(moto, d)
    endpoint = staging_endpoint(moto, d)
    role = _ssm(d, environment.MODEL_DEPLOY_ROLE_ARN_SSM)
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    moto.client("iam").create_role(RoleName=role.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))
    codebuild = moto.client("codebuild")
    for logical_id in ("ModelDeployBuildProject", "ModelDeployTestProject"):
        props = resource_props(stack, logical_id)
        codebuild.create_project(
            name=props["Name"],
            source={"type": "CODEPIPELINE", "location": "CODEPIPELINE"},
            artifacts={"type": "CODEPIPELINE", "location": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": props["Environment"]["Image"],
                "computeType": props["Environment"]["ComputeType"],
                "environmentVariables": [
                    {"name": k, "value": v, "type": "PLAINTEXT"}
                    for k, v in build_variables(stack, logical_id, moto.ids).items()
                ],
            },
            serviceRole=role,
            tags=[{"key": t["Key"], "value": t["Value"]} for t in props["Tags"]],
        )
    pipeline = resource_props(stack, "ModelDeployPipeline")
    stages = [
        {
            "name": stage["Name"],
            "actions": [
                {
                    "name": a["Name"],
                    "actionTypeId": {k[0].lower() + k[1:]: v for k, v in a["ActionTypeId"].items()},
                    "runOrder": a.get("RunOrder", 1),
                    "configuration": a.get("Configuration", {}),
                    "inputArtifacts": [{"name": i["Name"]} for i in a.get("InputArtifacts", [])],
                    "outputArtifacts": [{"name": o["Name"]} for o in a.get("OutputArtifacts", [])],
                }
                for a in stage["Actions"]
            ],
        }
        for stage in pipeline["Stages"]
    ]
    codepipeline = moto.client("codepipeline")
    codepipeline.create_pipeline(
        pipeline={
            "name": pipeline["Name"],
            "roleArn": role,
            "artifactStore": {"type": "S3", "location": pipeline["ArtifactStore"]["Location"]},
            "stages": stages,
        },
        tags=[{"key": t["Key"], "value": t["Value"]} for t in pipeline["Tags"]],
    )
    codepipeline.start_pipeline_execution(name=pipeline["Name"])
    test_project = resource_props(stack, "ModelDeployTestProject")["Name"]
    build = codebuild.start_build(projectName=test_project)["build"]
    logs = moto.client("logs")
    group, stream = f"/aws/codebuild/{test_project}", build["id"].split(":", 1)[1]
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    lines = [line.format(endpoint=endpoint, account=DEV) for line in CHECK_ENDPOINT_LOG]
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)],
    )
    answers["pipeline-state"] = {"codepipeline.GetPipelineState": pipeline_state(pipeline)}
    answers["production-approval"] = {
        "codepipeline.PutApprovalResult": {"approvedAt": datetime.datetime.now().isoformat()}
    }
    [repository] = stack.physical("ModelDeployCodeCommitRepository")
    return {"APPROVE_VERSION": "newest", "PRODUCTION_DECISION": "Approved"}, checkout(moto, repository, "model-deploy")


def prepare(name: str, moto: Moto, d: Deployment, facts: dict, answers: dict):
    if name == "environment-walkthrough":
        return prepare_walkthrough(moto, d, facts)
    if name == "model-build-train":
        return prepare_build_train(moto, d, facts, answers)
    return prepare_deploy(moto, d, facts, answers)


# -- running a notebook ------------------------------------------------------------------------------------------------
def execute(name: str, server, d: Deployment, referee_: Judge, tmp: pathlib.Path) -> Run:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    moto = Moto(server, tmp)
    facts = prepare_environment(moto, d)
    role_id, in_vpc = RUNNERS[name]
    principal = d.roles[role_id]
    env_buckets = {_ssm(d, environment.DATA_BUCKET_NAME_SSM), _ssm(d, environment.MODEL_BUCKET_NAME_SSM)}
    run = Run(name, principal, in_vpc, moto, env_buckets)
    parameters, cwd = prepare(name, moto, d, facts, run.answers)
    session = moto.assume(principal.arn, "SageMaker" if in_vpc else "team-administrator")
    env = {**moto.environment(session), **parameters}
    client = NotebookClient(
        instrumented(read(name), referee_.url),
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    referee_.run = run
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # IPython's colours
        raise AssertionError(f"{name} failed on moto:\n{text}\n{chr(10).join(run.errors)}") from None
    finally:
        referee_.run = None
        if os.environ.get(OUTPUTS):  # to read what the notebook printed on moto
            pathlib.Path(os.environ[OUTPUTS]).mkdir(parents=True, exist_ok=True)
            nbformat.write(client.nb, pathlib.Path(os.environ[OUTPUTS]) / f"{name}.ipynb")
    return run


@pytest.fixture(scope="module")
def runs(moto_server, deployment, referee, tmp_path_factory):
    """name -> the notebook's run (each notebook executed once, on a freshly prepared moto)."""
    done: dict[str, Run | Exception] = {}

    def get(name: str) -> Run:
        if name not in done:
            try:
                done[name] = execute(name, moto_server, deployment, referee, tmp_path_factory.mktemp(name))
            except Exception as error:  # kept: every test of the notebook fails the same way, without a second run
                done[name] = error
        if isinstance(done[name], Exception):
            raise done[name]
        return done[name]

    return get


# -- run on moto, IAM deciding ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_notebook_runs_with_every_request_decided_by_iam(runs, name):
    """Every cell runs (the tagged ones answered as IAM decides); every call is one the test knows how IAM
    authorizes; outside the tagged cells, the only refusals are the ones the notebook expects and handles."""
    run = runs(name)
    assert run.errors == []
    assert run.calls, "the notebook made no AWS call"
    tagged = {cell for (notebook, cell) in PROOFS if notebook == name}
    unexpected = [
        (call.cell, verdict.req.action, verdict.req.resource, sorted(verdict.reasons))
        for call in run.calls
        if call.cell not in tagged
        for verdict in call.verdicts
        if not verdict.allowed and verdict.req.action not in HANDLED_REFUSALS.get((name, call.cell), set())
    ]
    assert unexpected == []
    for (notebook, cell), actions in HANDLED_REFUSALS.items():
        if notebook == name:
            refusals = {v.req.action for call in run.cell_calls(cell) for v in call.verdicts if not v.allowed}
            assert refusals == actions, f"{cell}: the refusal it handles did not happen"


@pytest.mark.parametrize("key", PROOFS, ids=lambda key: f"{key[0]}:{key[1]}")
def test_each_tagged_cell_is_decided_by_iam_as_it_claims(runs, key):
    name, cell = key
    proof = PROOFS[key]
    calls = runs(name).cell_calls(cell)
    assert {call.operation for call in calls} == proof.operations, f"{cell}: {proof.claim}"
    for call in calls:
        outcome = all(v.allowed for v in call.verdicts)
        assert outcome == proof.allowed, (proof.claim, [(v.req.action, sorted(v.reasons)) for v in call.verdicts])
        assert call.answer == ("canned" if proof.allowed else "refused"), call.answer
        if not proof.allowed:
            reasons = {r for v in call.verdicts if not v.allowed for r in v.reasons}
            assert proof.reasons <= reasons, (proof.claim, sorted(reasons))


def test_the_walkthrough_claims_hold_beyond_its_own_requests(runs, deployment):
    """What the walkthrough says in words: its data, requested from outside the VPC (the presigned link), is refused
    by the bucket policy; the approval refused in Studio is the team administrator's to give."""
    run = runs("environment-walkthrough")
    [write] = [c for c in run.cell_calls("write-sample") if c.operation == "s3.PutObject"]
    read_it = dataclasses.replace(write.verdicts[0].req, action="s3:GetObject")
    outside = judge(deployment, run.principal, False, read_it)
    assert not outside.allowed and "bucket-policy:DenyAccessOutsideVpcEndpoint" in outside.reasons
    inside = judge(deployment, run.principal, True, read_it)
    assert inside.allowed, sorted(inside.reasons)
    [approval] = run.cell_calls("approval-refused")
    team_admin = deployment.roles[env_iam.TEAM_ADMIN_ROLE_ID]
    assert judge(deployment, team_admin, False, approval.verdicts[0].req).allowed
    data_scientist = deployment.roles[env_iam.DATA_SCIENTIST_ROLE_ID]
    assert not judge(deployment, data_scientist, False, approval.verdicts[0].req).allowed


def test_the_walkthrough_guardrails_accept_the_environments_job(runs):
    """The same training job with the environment's subnets, security groups and keys is allowed, and is the
    request the refused ones differ from only by what they leave out."""
    run = runs("environment-walkthrough")
    [accepted] = run.cell_calls("training-accepted")[:1]
    assert accepted.operation == "sagemaker.CreateTrainingJob" and all(v.allowed for v in accepted.verdicts)
    for cell, left_out in (("guardrail-no-vpc", {"VpcConfig"}), ("guardrail-no-keys", set())):
        [refused_] = run.cell_calls(cell)
        assert set(accepted.params) - set(refused_.params) == left_out


# -- every name a notebook spells, tied to its one definition (as tests/test_copies.py does) ---------------------------
def test_the_walkthrough_reads_the_ssm_parameters_the_environment_writes(deployment):
    expected = {
        "data_bucket": environment.DATA_BUCKET_NAME_SSM,
        "model_bucket": environment.MODEL_BUCKET_NAME_SSM,
        "s3_key": environment.kms_key_arn_ssm(environment.S3_KEY),
        "ebs_key": environment.kms_key_arn_ssm(environment.EBS_KEY),
        "vpc": environment.VPC_ID_SSM,
        "subnets": environment.PRIVATE_SUBNET_IDS_SSM,
        "security_groups": environment.SECURITY_GROUP_IDS_SSM,
        "s3_endpoint": environment.S3_ENDPOINT_ID_SSM,
        "domain": environment.SAGEMAKER_DOMAIN_ID_SSM,
        "execution_role": environment.EXECUTION_ROLE_ARN_SSM,
        "pipeline_role": environment.PIPELINE_EXECUTION_ROLE_ARN_SSM,
        "staging_name": environment.ENV_TYPE_STAGING_NAME_SSM,
        "prod_name": environment.ENV_TYPE_PROD_NAME_SSM,
    }
    assert literal("environment-walkthrough", "ssm-names", "SSM_PARAMETERS") == expected
    assert literal("model-build-train", "names", "BUCKET_PARAMETERS") == {
        "data": environment.DATA_BUCKET_NAME_SSM,
        "model": environment.MODEL_BUCKET_NAME_SSM,
    }
    written = set(deployment.ssm)
    assert {f"{ENV_A.key}-{suffix}" for suffix in expected.values()} <= written


def test_the_notebooks_know_the_environment_and_the_project_by_the_tags_the_platform_gives():
    walkthrough = run_cell("environment-walkthrough", "helpers", ClientError=Exception)
    assert (walkthrough["ENV_NAME_TAG"], walkthrough["ENV_TYPE_TAG"]) == (
        environment.ENV_NAME_TAG,
        environment.ENV_TYPE_TAG,
    )
    build = run_cell("model-build-train", "names", PROJECT_NAME="n", PROJECT_ID="p-1", ACCOUNT=DEV)
    run_pipeline = seed_module("model-build-train/pipelines/run_pipeline.py", "seed_build_run_pipeline_for_notebooks")
    given_by_the_build = [key for key, _variable in run_pipeline.TAGS_FROM_ENVIRONMENT]
    assert build["PROJECT_ID_TAG"] == project.PROJECT_ID_TAG and build["PROJECT_ID_TAG"] in given_by_the_build
    assert [build["ENV_NAME_TAG"], build["ENV_TYPE_TAG"]] == [environment.ENV_NAME_TAG, environment.ENV_TYPE_TAG]
    assert {build["ENV_NAME_TAG"], build["ENV_TYPE_TAG"]} <= set(given_by_the_build)


def test_the_build_notebook_names_what_the_project_template_creates(deployment):
    stack = deployment.project(project_model_build_train.NAME)
    names = run_cell("model-build-train", "names", PROJECT_NAME=PROJECT_NAME, PROJECT_ID=PROJECT_ID, ACCOUNT=DEV)
    variables = build_variables(stack, "ModelPipelineBuildProject", Ids())
    assert names["PIPELINE_NAME"] == variables["SAGEMAKER_PIPELINE_NAME"]
    assert names["MODEL_PACKAGE_GROUP"] == variables["MODEL_PACKAGE_GROUP_NAME"]
    assert [names["CODEPIPELINE_NAME"]] == stack.physical("ModelBuildPipeline")
    assert [names["ARTIFACT_BUCKET"]] == stack.physical("MlOpsArtifactsBucket")
    # The walkthrough finds a project's model package group by its pipeline's name.
    assert variables["SAGEMAKER_PIPELINE_NAME"] == f"sagemaker-{variables['MODEL_PACKAGE_GROUP_NAME']}"


def test_the_deploy_notebook_names_what_the_project_template_creates(deployment):
    stack = deployment.project(project_model_deploy.NAME)
    names = run_cell("model-deploy", "names", PROJECT_NAME=PROJECT_NAME, PROJECT_ID=PROJECT_ID)
    pipeline = resource_props(stack, "ModelDeployPipeline")
    assert names["PIPELINE"] == pipeline["Name"]
    assert names["BUILD_PROJECT"] == resource_props(stack, "ModelDeployBuildProject")["Name"]
    assert names["TEST_PROJECT"] == resource_props(stack, "ModelDeployTestProject")["Name"]
    approvals = [
        (stage["Name"], action["Name"])
        for stage in pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Category"] == "Approval"
    ]
    assert approvals == [(names["APPROVAL_STAGE"], names["APPROVAL_ACTION"])]
    stages = [_ssm(deployment, s) for s in (environment.ENV_TYPE_STAGING_NAME_SSM, environment.ENV_TYPE_PROD_NAME_SSM)]
    stack_sets = [
        action["Configuration"]["StackSetName"]
        for stage in pipeline["Stages"]
        for action in stage["Actions"]
        if action["ActionTypeId"]["Provider"] == "CloudFormationStackSet"
    ]
    assert stack_sets == [names["stack_set"](stage) for stage in stages]
    for stage in stages:
        endpoint = deployment.platform.world.deploy(
            cfn_sm_endpoint_template.NAME,
            DEV,
            f"StackSet-{names['stack_set'](stage)}-names",
            {
                "SageMakerProjectName": PROJECT_NAME,
                "SageMakerProjectId": PROJECT_ID,
                "EnvName": ENV_A.name,
                "EnvType": stage,
            },
        )
        assert resource_props(endpoint, "Endpoint")["EndpointName"] == names["endpoint"](stage)


def test_the_deploy_notebook_reads_the_variables_the_build_project_sets(deployment):
    tree = ast.parse(code_cells(read("model-deploy"))["settings"].source)
    read_ = {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and re.fullmatch(r"[A-Z]+(_[A-Z]+)+", str(n.value))
    }
    given = build_variables(deployment.project(project_model_deploy.NAME), "ModelDeployBuildProject", Ids())
    assert read_ and read_ <= set(given), read_ - set(given)


def test_the_deploy_notebook_knows_the_team_administrator_role(deployment):
    suffix = literal("model-deploy", "setup", "TEAM_ADMINISTRATOR_SUFFIX")
    assert suffix == f"-{environment.DS_TEAM_ADMIN}"
    assert deployment.roles[env_iam.TEAM_ADMIN_ROLE_ID].name.endswith(suffix)
    others = [r for lid, r in deployment.roles.items() if lid != env_iam.TEAM_ADMIN_ROLE_ID]
    assert not [r.name for r in others if r.name.endswith(suffix)]


@pytest.mark.parametrize(
    "name, suffix",
    [("model-build-train", project.BUILD_REPOSITORY_SUFFIX), ("model-deploy", project.DEPLOY_REPOSITORY_SUFFIX)],
)
def test_the_project_notebooks_find_their_project_from_the_repository_name(deployment, name, suffix):
    pattern = run_cell(name, "project", re=re, subprocess=subprocess, PROJECT_NAME="x", PROJECT_ID="y")["REPOSITORY"]
    template = {"model-build-train": project_model_build_train, "model-deploy": project_model_deploy}[name]
    repositories = [
        lid
        for lid, r in deployment.project(template.NAME).template["Resources"].items()
        if r["Type"] == "AWS::CodeCommit::Repository"
    ]
    [repository] = deployment.project(template.NAME).physical(repositories[0])
    assert repository == f"sagemaker-{PROJECT_NAME}-{PROJECT_ID}{suffix}"
    for project_name in (PROJECT_NAME, "Churn-Model-2", "a-p-b"):
        name_ = f"sagemaker-{project_name}-{PROJECT_ID}{suffix}"
        for remote in (
            f"codecommit::{REGION}://{name_}",
            f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/{name_}",
            f"ssh://git-codecommit.{REGION}.amazonaws.com/v1/repos/{name_}",
        ):
            found = pattern.search(remote)
            assert found and (found["name"], found["id"]) == (project_name, PROJECT_ID), remote
    other = (
        project.DEPLOY_REPOSITORY_SUFFIX
        if suffix == project.BUILD_REPOSITORY_SUFFIX
        else project.BUILD_REPOSITORY_SUFFIX
    )
    assert pattern.search(f"codecommit::{REGION}://sagemaker-{PROJECT_NAME}-{PROJECT_ID}{other}") is None


def test_the_deploy_notebook_reads_the_endpoint_tests_log_as_the_test_writes_it():
    """CHECK_ENDPOINT_LOG (what moto's log holds here) follows test/check_endpoint.py's own lines, and the notebook
    starts at the first of them."""
    source = (SEED / "model-deploy" / "test" / "check_endpoint.py").read_text()
    formats = [re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(f)) for f in re.findall(r'print\(f"([^"]+)"', source)]
    for line in CHECK_ENDPOINT_LOG[1:]:
        text = line.format(endpoint="e", account=DEV)
        assert any(re.fullmatch(f, text) for f in formats), line
    assert 'startswith("Testing endpoint")' in code_cells(read("model-deploy"))["staging-test"].source
    assert CHECK_ENDPOINT_LOG[1].startswith("Testing endpoint")


def _paragraphs(name: str) -> list[str]:
    return [p for cell in read(name).cells for p in re.split(r"\n\s*\n", cell.source)]


def test_the_clean_up_commands_use_the_options_generate_py_cleanup_has():
    options = {opt for param in cli_cleanup.cleanup.params for opt in param.opts if opt.startswith("--")}
    used = set()
    texts = [p for name in NOTEBOOKS for p in _paragraphs(name)]
    texts += re.split(r"\n\s*\n", (REPO / "notebooks" / "README.md").read_text())
    for text in texts:
        if "generate.py cleanup" in text:
            used |= set(re.findall(r"(--[a-z][a-z-]*)", text))
    assert {"--env-name", "--env-type", "--dry-run", "--delete-data"} <= used
    assert used <= options, used - options


def test_the_statements_the_walkthrough_names_exist(deployment):
    """Every policy statement the walkthrough names in its text (`Deny...`, `Require...`) is one of the policies
    its requests meet."""
    named = {m for p in _paragraphs("environment-walkthrough") for m in re.findall(r"`((?:Deny|Require)[A-Za-z]+)`", p)}
    runner = deployment.roles[EXECUTION_ROLE]
    statements = [
        *runner.identity,
        *deployment.endpoint_policy,
        *[s for p in deployment.bucket_policies.values() for s in p],
    ]
    assert named and named <= {s.sid for s in statements}, named - {s.sid for s in statements}
