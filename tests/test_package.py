"""Packaging and publishing against a moto server on 127.0.0.1, with boto3 and the real AWS CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading
import zipfile

import pytest
import yaml
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import release_layout as layout
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.lint import Linter
from templates_src.references import iter_references
from templates_src.registry import TEMPLATES
from templates_src.release import publish
from tests.cfn import load
from tests.support_moto import aws, bucket_objects, wait_for_stack

BUCKET = "mlops-releases"
PREFIX = "sagemaker-mlops"
TARGETS = "env-iam-setup-stackset-role,env-iam-target-account-roles"


@pytest.fixture
def seed_dir(tmp_path):
    root = tmp_path / "seed"
    for name, files in {
        "model-build-train": {"buildspec.yml": "version: 0.2\n", "pipelines/run.py": "print(1)\n"},
        "model-deploy": {"buildspec.yml": "version: 0.2\nphases: {}\n"},
    }.items():
        for rel, text in files.items():
            path = root / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def package(server, *args, config: dict | None = None, tmp=None):
    """Run `generate.py package` in-process with the server's environment (no real AWS anywhere)."""
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(server.env)
    argv = ["package", "--bucket", BUCKET, "--endpoint-url", server.url, *args]
    if config is not None:
        path = pathlib.Path(tmp) / f"config-{len(list(pathlib.Path(tmp).glob('config-*')))}.yaml"
        path.write_text(yaml.safe_dump(config))
        argv += ["--config", str(path)]
    return CliRunner(env=env).invoke(generate.cli, argv, catch_exceptions=False)


def objects(server) -> dict[str, str]:
    """key -> ETag of everything in the release bucket."""
    return bucket_objects(server, BUCKET)


def manifest(server, version="0.1.0") -> dict:
    body = server.client("s3").get_object(Bucket=BUCKET, Key=layout.manifest_key(PREFIX, version))["Body"].read()
    return json.loads(body)


def read(server, key) -> bytes:
    return server.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()


def key_of(url: str) -> str:
    match = re.fullmatch(rf"https://{BUCKET}\.s3\.us-east-1\.amazonaws\.com/(.+)", url)
    assert match, url
    return match.group(1)


def packaged_references(template: dict):
    """Every URL or code location a packaged template points at."""
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet"):
            yield props["TemplateURL"]
        if resource["Type"] == "AWS::CloudFormation::Stack":  # a template a nested stack's role may deploy
            yield from (
                value for name, value in sorted((props.get("Parameters") or {}).items()) if name.endswith("TemplateURL")
            )
        for artifact in props.get("ProvisioningArtifactParameters", []) or []:
            yield artifact["Info"]["LoadTemplateFromURL"]
        if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in props.get("Code", {}):
            assert props["Code"]["S3Bucket"] == BUCKET
            yield f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{props['Code']['S3Key']}"
        if resource["Type"] == "AWS::CodeCommit::Repository":
            assert props["Code"]["S3"]["Bucket"] == BUCKET
            yield f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{props['Code']['S3']['Key']}"
        if resource["Type"] == "Custom::SeedCodeCheckin":  # a connected repository's seed code
            assert props["SeedCode"]["Bucket"] == BUCKET
            yield f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{props['SeedCode']['Key']}"


def fake_earlier_release(server, version="0.0.9") -> str:
    """An earlier published release whose bucket holds an environment template (a later template kind)."""
    s3 = server.client("s3")
    body = (
        b"AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Marker:\n    Type: AWS::SSM::Parameter\n"
        b"    Properties: {Name: env-marker, Type: String, Value: x}\n"
    )
    digest = hashlib.sha256(body).hexdigest()
    key = layout.content_key(PREFIX, "templates", "env-main", digest, ".yaml")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"sha256": digest})
    s3.put_object(
        Bucket=BUCKET,
        Key=layout.manifest_key(PREFIX, version),
        Body=json.dumps({"release": version, "templates": {"env-main": {"key": key, "sha256": digest}}}).encode(),
    )
    return key


# -- a full release -------------------------------------------------------------------------------------


def test_full_release_is_consistent_and_tagged(moto, seed_dir, tmp_path):
    (seed_dir / "unreferenced folder").mkdir()  # no template refers to it: never published
    (seed_dir / "unreferenced folder" / "notes.txt").write_text("private\n")
    result = package(
        moto,
        "--create-bucket",
        "--only",
        f"{TARGETS},project-model-build-train,project-model-deploy",
        "--seed-code-dir",
        str(seed_dir),
    )
    assert result.exit_code == 0, result.output
    assert "published release 0.1.0" in result.output
    m = manifest(moto)
    stored = objects(moto)
    assert set(m["objects"]) <= set(stored)
    for key in m["objects"]:
        body = read(moto, key)
        head = moto.client("s3").head_object(Bucket=BUCKET, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    for _name, entry in m["templates"].items():
        assert key_of(entry["url"]) == entry["key"]
        assert read(moto, key_of(entry["release_url"])) == read(moto, entry["key"])
        for url in packaged_references(load(read(moto, entry["key"]))):
            assert key_of(url) in m["objects"]
    # Seed code: deterministic zips of the folders the templates refer to, tagged for Service Catalog (checked
    # with the real CLI).
    assert sorted(m["seed_code"]) == ["model-build-train", "model-deploy"]
    assert not [k for k in stored if "unreferenced" in k]
    zf = zipfile.ZipFile(io.BytesIO(read(moto, m["seed_code"]["model-build-train"]["key"])))
    assert zf.namelist() == ["buildspec.yml", "pipelines/run.py"]
    _, tagging, _ = aws(
        moto, "s3api", "get-object-tagging", "--bucket", BUCKET, "--key", m["seed_code"]["model-deploy"]["key"]
    )
    assert {"Key": "servicecatalog:provisioning", "Value": "true"} in tagging["TagSet"]
    code, listing, _ = aws(moto, "s3", "ls", f"s3://{BUCKET}/{PREFIX}/", "--recursive")
    assert code == 0 and "releases/0.1.0/manifest.json" in listing
    # The bucket was created the safe way.
    s3 = moto.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    # URLs and next steps are printed with the real values.
    assert m["templates"]["env-iam-setup-stackset-role"]["release_url"] in result.output
    assert "--template-url https://mlops-releases.s3.us-east-1.amazonaws.com/" in result.output


def test_packaged_templates_lint_clean(moto, tmp_path):
    assert package(moto, "--create-bucket", "--only", TARGETS).exit_code == 0
    linter = Linter()
    for name, entry in manifest(moto)["templates"].items():
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(read(moto, entry["key"]))
        result = linter.lint(path, packaged=True)
        assert result.findings == [], name


def test_cli_creates_a_stack_from_a_packaged_template_url(moto):
    assert package(moto, "--create-bucket", "--only", TARGETS).exit_code == 0
    url = manifest(moto)["templates"]["env-iam-setup-stackset-role"]["release_url"]
    aws(
        moto,
        "cloudformation",
        "create-stack",
        "--stack-name",
        "setup-role",
        "--template-url",
        url,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameters",
        "ParameterKey=EnvName,ParameterValue=sm-mlops",
        "ParameterKey=EnvType,ParameterValue=prod",
        "ParameterKey=AdministratorAccountId,ParameterValue=210987654321",
    )
    stack = wait_for_stack(moto, "setup-role")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["StackSetExecutionRoleName"] == "sm-mlops-prod-stackset-setup"


# -- incremental and safe ---------------------------------------------------------------------------------


def test_second_run_uploads_nothing(moto, seed_dir):
    assert package(moto, "--create-bucket", "--only", TARGETS, "--seed-code-dir", str(seed_dir)).exit_code == 0
    before = objects(moto)
    result = package(moto, "--only", TARGETS, "--seed-code-dir", str(seed_dir))
    assert result.exit_code == 0
    assert "already published" in result.output and "nothing uploaded" in result.output
    assert objects(moto) == before


def test_new_release_uploads_only_what_changed(moto, seed_dir, tmp_path, edit_template):
    assert package(moto, "--create-bucket", "--only", TARGETS, "--seed-code-dir", str(seed_dir)).exit_code == 0
    first = objects(moto)
    # A developer changes one template; the release gets a new version.
    edit_template("env-iam-target-account-roles", lambda t: t.set_description(t.description + " (edited)"))
    result = package(
        moto, "--only", TARGETS, "--seed-code-dir", str(seed_dir), config={"version": "0.2.0"}, tmp=tmp_path
    )
    assert result.exit_code == 0, result.output
    new = {k: v for k, v in objects(moto).items() if k not in first}
    content = sorted(k for k in new if "/releases/" not in k)
    assert len(content) == 1 and content[0].startswith(f"{PREFIX}/templates/env-iam-target-account-roles/")
    assert sorted(k for k in new if "/releases/" in k) == [
        f"{PREFIX}/releases/0.2.0/{n}"
        for n in (
            "claim.json",
            "env-iam-setup-stackset-role.yaml",
            "env-iam-target-account-roles.yaml",
            "manifest.json",
        )
    ]
    assert "4 object(s) uploaded" in result.output
    # Nothing of the earlier release changed.
    assert {k: v for k, v in objects(moto).items() if k in first} == first
    # The unchanged template is shared by both releases.
    assert (
        manifest(moto, "0.2.0")["templates"]["env-iam-setup-stackset-role"]["key"]
        == manifest(moto, "0.1.0")["templates"]["env-iam-setup-stackset-role"]["key"]
    )


def test_interrupted_upload_leaves_no_release_and_a_rerun_finishes(moto, seed_dir, monkeypatch):
    assert package(moto, "--create-bucket", "--only", "env-iam-setup-stackset-role").exit_code == 0
    first = objects(moto)
    real_put, calls = publish.S3Publisher._put, []

    def flaky(self, artifact, **extra):
        calls.append(artifact.key)
        if len(calls) == 3:
            raise publish.PublishError("access denied while uploading (injected)")
        return real_put(self, artifact, **extra)

    monkeypatch.setattr(publish.S3Publisher, "_put", flaky)
    args = ("--only", TARGETS, "--seed-code-dir", str(seed_dir))
    result = package(moto, *args, config={"version": "0.2.0"}, tmp=seed_dir.parent)
    assert result.exit_code == 3
    assert "release 0.2.0 is not published" in result.output and "2 object(s) uploaded are kept" in result.output
    keys = objects(moto)
    assert layout.manifest_key(PREFIX, "0.2.0") not in keys
    # Nobody can see a partial release: there is no manifest to find it by.
    monkeypatch.setattr(publish.S3Publisher, "_put", real_put)
    result = package(moto, *args, config={"version": "0.2.0"}, tmp=seed_dir.parent)
    assert result.exit_code == 0, result.output
    uploaded = len(set(objects(moto)) - set(keys))
    assert f"{uploaded} object(s) uploaded" in result.output
    m = manifest(moto, "0.2.0")
    assert set(m["objects"]) <= set(objects(moto))
    assert {k: v for k, v in objects(moto).items() if k in first} == first


def test_dry_run_writes_nothing(moto, seed_dir):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    before = objects(moto)
    result = package(moto, "--dry-run", "--only", TARGETS, "--seed-code-dir", str(seed_dir))
    assert result.exit_code == 0, result.output
    assert objects(moto) == before == {}
    planned = [line for line in result.output.splitlines() if line.startswith("would upload ")]
    assert len(planned) == 5  # 2 templates, 2 release aliases, the manifest (they need no seed code)
    assert "nothing was written" in result.output


def test_dry_run_does_not_create_the_bucket(moto):
    result = package(moto, "--dry-run", "--create-bucket", "--only", TARGETS)
    assert result.exit_code == 0 and "bucket would be created" in result.output
    assert BUCKET not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]


def test_same_version_with_other_content_is_refused(moto, edit_template):
    assert package(moto, "--create-bucket", "--only", TARGETS).exit_code == 0
    before = objects(moto)
    edit_template("env-iam-setup-stackset-role", lambda t: t.set_description("changed without a new version"))
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    assert "release 0.1.0 is already published" in result.output and "new `version`" in result.output
    assert objects(moto) == before


def test_missing_seed_code_tag_is_restored_without_reupload(moto, seed_dir):
    projects = "project-model-build-train,project-model-deploy"
    assert package(moto, "--create-bucket", "--only", projects, "--seed-code-dir", str(seed_dir)).exit_code == 0
    key = manifest(moto)["seed_code"]["model-deploy"]["key"]
    s3 = moto.client("s3")
    s3.delete_object_tagging(Bucket=BUCKET, Key=key)
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    result = package(
        moto, "--only", projects, "--seed-code-dir", str(seed_dir), config={"version": "0.1.1"}, tmp=seed_dir.parent
    )
    assert result.exit_code == 0 and "1 re-tagged" in result.output
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag
    assert {"Key": "servicecatalog:provisioning", "Value": "true"} in s3.get_object_tagging(Bucket=BUCKET, Key=key)[
        "TagSet"
    ]


# -- the core stack and Service Catalog product versions -------------------------------------------------------


def test_full_release_to_an_empty_bucket(moto):
    """A complete release with no earlier one: core, environment and quickstart with every child, functions and
    seed code; every template URL of every packaged template resolves inside the release."""
    result = package(moto, "--create-bucket")
    assert result.exit_code == 0, result.output
    m = manifest(moto)
    assert set(m["templates"]) == set(TEMPLATES)
    for name, spec in TEMPLATES.items():
        assert ("release_url" in m["templates"][name]) == spec.entry, name
    references = 0
    for name, entry in m["templates"].items():
        for url in packaged_references(load(read(moto, entry["key"]))):
            assert key_of(url) in m["objects"], (name, url)
            references += 1
    built = build_selected(None, BuildContext(Config()))
    assert references == sum(1 for t in built.values() for _ in iter_references(t))
    portfolio = load(read(moto, m["templates"]["core-sc-shared-portfolio"]["key"]))
    versions = portfolio["Resources"]["DataScienceEnvironmentProduct"]["Properties"]["ProvisioningArtifactParameters"]
    assert [(v["Name"], key_of(v["Info"]["LoadTemplateFromURL"])) for v in versions] == [
        (f"v{m['release']}", m["templates"]["env-main"]["key"])
    ]
    quickstart = load(read(moto, m["templates"]["data-science-environment-quickstart"]["key"]))
    assert {n: key_of(s["Properties"]["TemplateURL"]) for n, s in quickstart["Resources"].items()} == {
        "DataScienceCore": m["templates"]["core-main"]["key"],
        "DataScienceEnvironment": m["templates"]["env-main"]["key"],
    }
    # The environment's notebooks, in the release's folder, where the packaged environment says they are.
    notebooks = sorted((generate.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and sorted(m["notebooks"]) == [n.name for n in notebooks]
    folder = layout.release_folder(layout.DEFAULT_PREFIX, m["release"]) + layout.NOTEBOOKS_FOLDER + "/"
    for path in notebooks:
        assert m["notebooks"][path.name]["key"] == folder + path.name
        assert read(moto, folder + path.name) == path.read_bytes()
    env_main = load(read(moto, m["templates"]["env-main"]["key"]))
    assert env_main["Outputs"]["NotebooksS3Location"]["Value"] == f"s3://{BUCKET}/{folder}"


def tag_set(server, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in server.client("s3").get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_project_templates_point_at_the_seed_code_they_publish(moto):
    """The project templates with this repository's seed code: each packaged template seeds its repository from
    the release's zip of its folder; the deploy zip carries the generated endpoint template; templates are tagged
    for Studio (S3 project templates) and Service Catalog, the zips for Service Catalog."""
    projects = {"project-model-build-train": "model-build-train", "project-model-deploy": "model-deploy"}
    result = package(moto, "--create-bucket", "--only", ",".join(projects))
    assert result.exit_code == 0, result.output
    m = manifest(moto)
    assert sorted(m["seed_code"]) == sorted(projects.values())
    for name, folder in projects.items():
        template = load(read(moto, m["templates"][name]["key"]))
        (repo,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CodeCommit::Repository"]
        assert repo["Properties"]["Code"]["S3"] == {"Bucket": BUCKET, "Key": m["seed_code"][folder]["key"]}
        # A connected repository gets the same zip (the check-in build reads it).
        checkin = template["Resources"]["SeedCodeCheckin"]["Properties"]
        assert checkin["SeedCode"] == {"Bucket": BUCKET, "Key": m["seed_code"][folder]["key"]}
        for key in (m["templates"][name]["key"], key_of(m["templates"][name]["release_url"])):
            assert tag_set(moto, key) == {"sagemaker:studio-visibility": "true", "servicecatalog:provisioning": "true"}
        seed_key = m["seed_code"][folder]["key"]
        assert tag_set(moto, seed_key) == {"servicecatalog:provisioning": "true"}
        names = zipfile.ZipFile(io.BytesIO(read(moto, seed_key))).namelist()
        assert "buildspec.yml" in names and "README.md" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or ".pytest_cache" in n]
    deploy = zipfile.ZipFile(io.BytesIO(read(moto, m["seed_code"]["model-deploy"]["key"])))
    shipped = load(deploy.read("cfn-sm-endpoint-template.yaml"))
    assert shipped == build_selected(["cfn-sm-endpoint-template"], BuildContext(Config()))["cfn-sm-endpoint-template"]
    assert shipped["Resources"]["EndpointConfig"]["Properties"]["KmsKeyId"] == {"Ref": "VolumeKmsKeyArn"}
    assert (
        "cfn-sm-endpoint-template.yaml"
        not in zipfile.ZipFile(io.BytesIO(read(moto, m["seed_code"]["model-build-train"]["key"]))).namelist()
    )


def test_a_release_without_the_projects_seed_code_is_refused(moto, seed_dir):
    """Project templates whose seed code the release lacks would create empty repositories: nothing is published."""
    (seed_dir / "model-build-train").rename(seed_dir / "other")
    result = package(moto, "--create-bucket", "--only", "project-model-build-train", "--seed-code-dir", str(seed_dir))
    assert result.exit_code != 0
    assert "needs the seed code 'model-build-train'" in result.output
    assert BUCKET not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]  # not even created


def test_core_release_keeps_earlier_product_versions_and_resolves_nested_urls(moto, tmp_path):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    earlier = fake_earlier_release(moto)
    before = objects(moto)
    result = package(moto)
    assert result.exit_code == 0, result.output
    m = manifest(moto)
    core = load(read(moto, m["templates"]["core-main"]["key"]))
    urls = {
        n: s["Properties"]["TemplateURL"]
        for n, s in core["Resources"].items()
        if s["Type"] == "AWS::CloudFormation::Stack"
    }
    assert {n: key_of(u) for n, u in urls.items()} == {
        "IAMSCSageMakerProjectRoles": m["templates"]["core-iam-sc-sm-projects-roles"]["key"],
        "IAMSharedRoles": m["templates"]["core-iam-shared-roles"]["key"],
        "SharedServiceCatalogPortfolio": m["templates"]["core-sc-shared-portfolio"]["key"],
    }
    code = core["Resources"]["GetEnvironmentConfigurationLambda"]["Properties"]["Code"]
    assert code == {"S3Bucket": BUCKET, "S3Key": m["lambda"]["get_environment_configuration"]["key"]}
    zf = zipfile.ZipFile(io.BytesIO(read(moto, code["S3Key"])))
    assert sorted(zf.namelist()) == ["cfn_runtime.py", "index.py"]
    portfolio = load(read(moto, m["templates"]["core-sc-shared-portfolio"]["key"]))
    versions = portfolio["Resources"]["DataScienceEnvironmentProduct"]["Properties"]["ProvisioningArtifactParameters"]
    assert [(v["Name"], key_of(v["Info"]["LoadTemplateFromURL"])) for v in versions] == [
        ("v0.0.9", earlier),
        (f"v{m['release']}", m["templates"]["env-main"]["key"]),
    ]
    # Every rewritten URL points into this release; the earlier version's URL into the earlier one.
    for _name, entry in m["templates"].items():
        for url in packaged_references(load(read(moto, entry["key"]))):
            assert key_of(url) in m["objects"] or key_of(url) == earlier
    assert {k: v for k, v in objects(moto).items() if k in before} == before
    assert (
        "aws cloudformation create-stack" in result.output
        and m["templates"]["core-main"]["release_url"] in result.output
    )
    assert "--provisioning-artifact-name v0.1.0" in result.output


# -- refusals and errors ------------------------------------------------------------------------------------------


def break_role_path(template):
    """A template cfn-lint refuses: a role path without slashes."""
    template.resources["SetupStackSetExecutionRole"].properties["Path"] = "no-slashes"


def test_refuses_to_publish_what_does_not_lint(moto, edit_template):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    edit_template("env-iam-setup-stackset-role", break_role_path)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 1
    assert "do not lint clean, nothing was published" in result.output
    assert objects(moto) == {}


def test_missing_bucket_suggests_create_bucket(moto):
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    assert f"bucket {BUCKET} does not exist: create it with --create-bucket" in result.output


def test_bucket_in_another_region(moto):
    moto.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    result = package(moto, "--region", "us-east-1", "--only", TARGETS)
    assert result.exit_code == 2
    assert "is in eu-west-1, not us-east-1" in result.output and "--region eu-west-1" in result.output


def test_no_credentials(moto):
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update({k: v for k, v in moto.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    result = CliRunner(env=env).invoke(
        generate.cli,
        ["package", "--bucket", BUCKET, "--endpoint-url", moto.url, "--only", TARGETS],
        catch_exceptions=False,
    )
    assert result.exit_code == 3
    assert "no AWS credentials found" in result.output


@pytest.mark.parametrize(
    "args, words",
    [
        (("--bucket", "Bad_Bucket"), "--bucket: 'Bad_Bucket' is not an S3 bucket name"),
        (("--prefix", "/abs/"), "--prefix: '/abs/' is not a key prefix"),
        (("--region", "moon"), "--region: 'moon' is not an AWS region botocore knows"),
        (("--only", "nope"), "--only: unknown template nope"),
    ],
)
def test_bad_options(moto, args, words):
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    argv = ["package", "--bucket", BUCKET, "--endpoint-url", moto.url, *args]
    result = CliRunner(env=env).invoke(generate.cli, argv, catch_exceptions=False)
    assert result.exit_code == 2 and words in result.output


def _inject(monkeypatch, operation: str, responses: list[int]):
    """Answer the first calls of an S3 operation with these HTTP statuses (then let moto answer)."""
    from botocore.awsrequest import AWSResponse

    seen = []

    class Raw:
        def __init__(self, body):
            self.body = body

        def stream(self, **_):
            yield self.body

    def before_send(request, **_):
        if not request.url.split("?")[0].endswith(".yaml") and operation == "PutObject":
            return None
        seen.append(request.url)
        if len(seen) <= len(responses):
            status = responses[len(seen) - 1]
            code = {403: "AccessDenied", 503: "SlowDown"}[status]
            return AWSResponse(
                request.url,
                status,
                {},
                Raw(f"<Error><Code>{code}</Code><Message>{code} (injected)</Message></Error>".encode()),
            )
        return None

    real_client = publish.boto3.Session.client

    def client(self, service, *args, **kwargs):
        c = real_client(self, service, *args, **kwargs)
        if service == "s3":
            c.meta.events.register(f"before-send.s3.{operation}", before_send)
        return c

    monkeypatch.setattr(publish.boto3.Session, "client", client)
    return seen


def test_throttling_is_retried_with_backoff(moto, monkeypatch):
    """The publisher retries (botocore does not): every retry is shown, the third attempt goes through."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    waits = []
    monkeypatch.setattr(publish.time, "sleep", waits.append)  # the backoff, recorded instead of waited
    seen = _inject(monkeypatch, "PutObject", [503, 503])
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 0, result.output
    assert len(seen) == 3 + 3  # two throttled attempts, then this upload and the other three .yaml objects
    retries = [line for line in result.output.splitlines() if line.startswith("retrying ")]
    assert [r.split(" (attempt ")[1].split(")")[0] for r in retries] == ["2/4", "3/4"]
    assert retries[0].startswith(f"retrying uploading s3://{BUCKET}/{PREFIX}/") and retries[0].endswith(
        "after SlowDown (SlowDown (injected))"
    )
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0  # exponential backoff
    assert layout.manifest_key(PREFIX, "0.1.0") in objects(moto)


def test_throttling_that_does_not_end_is_reported_after_the_last_attempt(moto, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(publish, "BACKOFF_BASE", 0.0)
    seen = _inject(monkeypatch, "PutObject", [503] * 20)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 3
    assert len(seen) == publish.MAX_ATTEMPTS
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "AWS kept throttling after 4 attempts while uploading" in error and "is not published" in error
    assert layout.manifest_key(PREFIX, "0.1.0") not in objects(moto)


def test_access_denied_is_reported_and_nothing_is_published(moto, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    _inject(monkeypatch, "PutObject", [403] * 20)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 3
    assert "access denied while uploading" in result.output and "is not published" in result.output
    assert layout.manifest_key(PREFIX, "0.1.0") not in objects(moto)


# -- concurrency: claims and conditional writes ---------------------------------------------------------------

CONFLICT_WORDS = ("nothing of this run was published", "published releases are never changed")

# Runs generate.py in a new process; with TEST_BARRIER set, every process waits in front of publish() until
# TEST_PARTIES processes got there, so their claims and uploads really happen at the same moment (planning
# and linting take different times in different processes).
TOGETHER = r"""
import os, pathlib, runpy, sys, time
if os.environ.get("TEST_BARRIER"):
    from templates_src.release import publish
    barrier, parties = pathlib.Path(os.environ["TEST_BARRIER"]), int(os.environ["TEST_PARTIES"])
    real = publish.S3Publisher.publish
    def publish_together(self, *args, **kwargs):
        (barrier / str(os.getpid())).touch()
        while len(list(barrier.iterdir())) < parties:
            time.sleep(0.005)
        return real(self, *args, **kwargs)
    publish.S3Publisher.publish = publish_together
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def versioned_bucket(server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def object_versions(server) -> dict[str, list[str]]:
    """key -> every version id (the newest first) of everything in the bucket."""
    out: dict[str, list[str]] = {}
    for page in server.client("s3").get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            out.setdefault(v["Key"], []).append(v["VersionId"])
    return out


def run_together(server, tmp_path, configs: list[dict], barrier: bool = True) -> list[subprocess.CompletedProcess]:
    """One `generate.py package` OS process per configuration, all started at once; their results."""
    from tests.conftest import REPO

    folder = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    (folder / "barrier").mkdir(parents=True)
    env = dict(server.env, TEST_PARTIES=str(len(configs)))
    if barrier:
        env["TEST_BARRIER"] = str(folder / "barrier")
    processes = []
    for i, config in enumerate(configs):
        path = folder / f"config-{i}.yaml"
        path.write_text(yaml.safe_dump(config))
        argv = [
            sys.executable,
            "-c",
            TOGETHER,
            str(REPO / "generate.py"),
            "package",
            "--bucket",
            BUCKET,
            "--endpoint-url",
            server.url,
            "--only",
            TARGETS,
            "--config",
            str(path),
        ]
        processes.append(
            subprocess.Popen(
                argv,
                env=env,
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        )
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=300)  # a safety net against a hang, not a measurement
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def assert_one_consistent_release(server, version: str) -> dict:
    """The manifest's objects all exist, every alias has the bytes of its template, the claim is the
    manifest's identity; returns the manifest."""
    m = manifest(server, version)
    body = read(server, layout.manifest_key(PREFIX, version))
    stored = objects(server)
    assert set(m["objects"]) <= set(stored)
    for name, entry in m["templates"].items():
        assert hashlib.sha256(read(server, entry["key"])).hexdigest() == entry["sha256"]
        if "release_url" in entry:
            assert read(server, key_of(entry["release_url"])) == read(server, entry["key"]), name
    aliases = {k for k in stored if k.startswith(f"{PREFIX}/releases/{version}/")} - {
        layout.manifest_key(PREFIX, version),
        layout.claim_key(PREFIX, version),
    }
    assert aliases == {key_of(e["release_url"]) for e in m["templates"].values() if "release_url" in e}
    claim = json.loads(read(server, layout.claim_key(PREFIX, version)))
    assert claim["identity"] == hashlib.sha256(body).hexdigest() and claim["release"] == version
    return m


def test_concurrent_runs_with_other_content_publish_one_consistent_release(moto, tmp_path):
    """Two OS processes publish one version with different tags: one wins, the other says why it stopped and
    that nothing of it was published; the bucket holds exactly the winner's release."""
    versioned_bucket(moto)
    for trial, barrier in enumerate((True, False)):  # claims at the same moment; then as it comes
        version = f"0.1.{trial}"
        configs = [{"version": version, "tags": {"Solution": f"content-{side}"}} for side in ("a", "b")]
        results = run_together(moto, tmp_path, configs, barrier=barrier)
        assert sorted(r.returncode for r in results) == [0, 2], [r.stderr for r in results]
        winner = next(i for i, r in enumerate(results) if r.returncode == 0)
        loser = results[1 - winner]
        assert "Traceback" not in loser.stderr
        (error,) = [line for line in (loser.stdout + loser.stderr).splitlines() if line.startswith("error: ")]
        assert error.startswith(f"error: release {version} ") and any(w in error for w in CONFLICT_WORDS), error
        assert "set a new `version`" in error
        m = assert_one_consistent_release(moto, version)
        for entry in m["templates"].values():
            text = read(moto, entry["key"]).decode()
            assert f"content-{'ab'[winner]}" in text and f"content-{'ab'[1 - winner]}" not in text


def test_concurrent_identical_runs_write_every_object_once(moto, tmp_path):
    versioned_bucket(moto)
    results = run_together(moto, tmp_path, [{"version": "0.1.0"}, {"version": "0.1.0"}])
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert_one_consistent_release(moto, "0.1.0")
    versions = object_versions(moto)
    assert all(len(ids) == 1 for ids in versions.values()), versions  # nothing written twice
    # ... and a later identical run writes nothing at all.
    assert package(moto, "--only", TARGETS).exit_code == 0
    assert object_versions(moto) == versions


def test_sequential_identical_runs_keep_every_object_version(moto):
    assert package(moto, "--create-bucket", "--only", TARGETS).exit_code == 0
    versions = object_versions(moto)
    assert all(len(ids) == 1 for ids in versions.values())
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 0 and "already published" in result.output
    assert object_versions(moto) == versions


def claim_object(identity: str, version: str = "0.1.0") -> bytes:
    return json.dumps(
        {"release": version, "identity": identity, "host": "build-7", "pid": 4242, "claimed_at": "2026-11-30T10:00:00Z"}
    ).encode()


def test_claim_of_other_content_stops_the_run_before_it_uploads(moto):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    moto.client("s3").put_object(Bucket=BUCKET, Key=layout.claim_key(PREFIX, "0.1.0"), Body=claim_object("f" * 64))
    before = objects(moto)
    for dry in ((), ("--dry-run",)):
        result = package(moto, "--only", TARGETS, *dry)
        assert result.exit_code == 2
        (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert error == (
            "error: release 0.1.0 is being published (or was interrupted) by another run with other content "
            f"(host build-7, pid 4242, 2026-11-30T10:00:00Z, s3://{BUCKET}/{PREFIX}/releases/0.1.0/claim.json); "
            "nothing of this run was published: set a new `version` in the configuration, or, if no other run is "
            "active, clear the unpublished release (nothing under "
            f"s3://{BUCKET}/{PREFIX}/releases/0.1.0/ is published until its manifest.json exists) with "
            f"`aws s3 rm s3://{BUCKET}/{PREFIX}/releases/0.1.0/ --recursive --region us-east-1 --endpoint-url "
            f"{moto.url}` and run again"
        )
        assert objects(moto) == before
    # What the message says to do works: the command it gives, run with the real AWS CLI.
    command = error.split("`")[-2].split()
    assert aws(moto, *command[1:])[0] == 0
    assert package(moto, "--only", TARGETS).exit_code == 0
    assert_one_consistent_release(moto, "0.1.0")


def test_claim_taken_over_during_the_upload_stops_before_the_manifest(moto, monkeypatch):
    """Somebody deletes the claim while this run uploads and a run with other content claims the release:
    this run notices right before its manifest and publishes nothing."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    real_put = publish.S3Publisher._put

    def put(self, artifact, **extra):
        if artifact.kind == "release-alias":
            moto.client("s3").put_object(
                Bucket=BUCKET, Key=layout.claim_key(PREFIX, "0.1.0"), Body=claim_object("e" * 64)
            )
        return real_put(self, artifact, **extra)

    monkeypatch.setattr(publish.S3Publisher, "_put", put)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert "was claimed by another run with other content while this run was uploading (host build-7" in error
    assert "this run did not write its manifest, so nothing of it was published" in error
    assert layout.manifest_key(PREFIX, "0.1.0") not in objects(moto)


@pytest.mark.parametrize("same", [True, False])
def test_object_written_by_another_run_meanwhile(moto, monkeypatch, same):
    """Between this run's listing and its upload another run writes a content-addressed object: the same
    bytes count as unchanged (not rewritten); other bytes stop the run and are not overwritten."""
    versioned_bucket(moto)
    real_put, taken = publish.S3Publisher._put, {}

    def put(self, artifact, **extra):
        if artifact.kind == "template" and not taken:
            taken[artifact.key] = artifact.body if same else b"other bytes"
            moto.client("s3").put_object(
                Bucket=BUCKET,
                Key=artifact.key,
                Body=taken[artifact.key],
                Metadata={"sha256": hashlib.sha256(taken[artifact.key]).hexdigest()},
            )
        return real_put(self, artifact, **extra)

    monkeypatch.setattr(publish.S3Publisher, "_put", put)
    result = package(moto, "--only", TARGETS)
    ((key, body),) = taken.items()
    assert read(moto, key) == body and len(object_versions(moto)[key]) == 1  # never overwritten
    if same:
        assert result.exit_code == 0, result.output
        assert f"unchanged {key} (already there with the same content)" in result.output
        assert "1 unchanged" in result.output
        assert_one_consistent_release(moto, "0.1.0")
    else:
        assert result.exit_code == 2
        (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert error.startswith(
            f"error: s3://{BUCKET}/{key} exists with other content; content-addressed "
            "objects are never overwritten (was it changed by hand?) - release 0.1.0 is not "
            "published"
        )
        # A re-run cannot fix it: this run's claim is released, so a run after the fix is not refused by it.
        assert "this run's claim was released" in error
        assert layout.manifest_key(PREFIX, "0.1.0") not in objects(moto)
        assert layout.claim_key(PREFIX, "0.1.0") not in objects(moto)


@pytest.mark.parametrize("same", [True, False])
def test_manifest_written_by_another_run_meanwhile(moto, monkeypatch, same):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    real_put = publish.S3Publisher._put

    def put(self, artifact, **extra):
        if artifact.kind == "manifest":
            moto.client("s3").put_object(
                Bucket=BUCKET,
                Key=artifact.key,
                Body=artifact.body if same else artifact.body.replace(b"0.1.0", b"0.1.0 "),
            )
        return real_put(self, artifact, **extra)

    monkeypatch.setattr(publish.S3Publisher, "_put", put)
    result = package(moto, "--only", TARGETS)
    if same:
        assert result.exit_code == 0, result.output
        assert "release 0.1.0 was published meanwhile by another run with the same content" in result.output
    else:
        assert result.exit_code == 2
        (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert error.startswith("error: release 0.1.0 was published meanwhile by another run with other content")


def test_release_alias_with_other_content_is_never_overwritten(moto):
    """An alias left by a run with other content (e.g. an interrupted run of an older version of this tool,
    which wrote no claim) is not overwritten: the run stops before it writes anything."""
    moto.client("s3").create_bucket(Bucket=BUCKET)
    alias = layout.release_key(PREFIX, "0.1.0", "env-iam-setup-stackset-role.yaml")
    moto.client("s3").put_object(Bucket=BUCKET, Key=alias, Body=b"other: content\n")
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    (error,) = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert error.startswith(
        f"error: s3://{BUCKET}/{alias} exists with other content: another run is publishing "
        "release 0.1.0 with other content (or was interrupted); nothing was overwritten"
    )
    assert f"`aws s3 rm s3://{BUCKET}/{PREFIX}/releases/0.1.0/ --recursive" in error
    assert objects(moto).keys() == {alias} and read(moto, alias) == b"other: content\n"


# -- timeouts and retries -------------------------------------------------------------------------------------


@pytest.fixture
def silent_endpoint():
    """A local TCP server that accepts connections and never answers; yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    for conn in held:
        conn.close()


def test_endpoint_that_never_answers_is_retried_then_reported(moto, monkeypatch, silent_endpoint):
    monkeypatch.setattr(publish, "CONNECT_TIMEOUT", 0.2)
    monkeypatch.setattr(publish, "READ_TIMEOUT", 0.2)
    monkeypatch.setattr(publish, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(publish, "BACKOFF_BASE", 0.0)
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    result = CliRunner(env=env).invoke(
        generate.cli,
        ["package", "--bucket", BUCKET, "--endpoint-url", silent_endpoint, "--only", TARGETS],
        catch_exceptions=False,
    )
    assert result.exit_code == 3
    lines = result.output.splitlines()
    retries = [line for line in lines if line.startswith("retrying ")]
    assert [r.split(" after ")[0] for r in retries] == [
        f"retrying checking bucket {BUCKET} (attempt 2/3)",
        f"retrying checking bucket {BUCKET} (attempt 3/3)",
    ]
    assert all(" after ReadTimeoutError: Read timeout on endpoint URL" in r for r in retries)
    (error,) = [line for line in lines if line.startswith("error: ")]
    assert error.startswith(f"error: no answer from AWS while checking bucket {BUCKET} after 3 attempts (")
    assert error.endswith("check the network, --region and --endpoint-url")
    assert "Traceback" not in result.output


def test_botocore_does_not_retry_and_waits_are_bounded(moto):
    publisher = publish.S3Publisher(BUCKET, "us-east-1", endpoint_url=moto.url)
    config = publisher.s3.meta.config
    assert config.retries["total_max_attempts"] == 1
    assert (config.connect_timeout, config.read_timeout) == (publish.CONNECT_TIMEOUT, publish.READ_TIMEOUT)
    worst = publish.MAX_ATTEMPTS * max(publish.CONNECT_TIMEOUT, publish.READ_TIMEOUT) + sum(
        min(publish.BACKOFF_CAP, publish.BACKOFF_BASE * 2**n) for n in range(publish.MAX_ATTEMPTS - 1)
    )
    assert worst < 120  # was 552 s, silent


# -- bad input: one line, the documented exit code, nothing written ------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (("--prefix", "a/./b"), "--prefix: 'a/./b' is not a key prefix: '.' and '..' segments"),
        (("--prefix", "a/../b"), "--prefix: 'a/../b' is not a key prefix: '.' and '..' segments"),
        (("--prefix", ".."), "--prefix: '..' is not a key prefix: '.' and '..' segments"),
        (("--prefix", "a//b"), "--prefix: 'a//b' is not a key prefix: it has an empty segment"),
        (("--prefix", ""), "--prefix: '' is not a key prefix: it has an empty segment"),
        (("--bucket", "a..b"), "--bucket: 'a..b' is not an S3 bucket name (3 to 63 characters"),
        (("--bucket", "ab.-cd"), "--bucket: 'ab.-cd' is not an S3 bucket name"),
        (("--bucket", "ab-.cd"), "--bucket: 'ab-.cd' is not an S3 bucket name"),
        (("--bucket", "192.168.10.1"), "--bucket: '192.168.10.1' is not an S3 bucket name"),
        (("--endpoint-url", "notaurl"), "--endpoint-url: 'notaurl' is not a URL like https://s3.example.com"),
        (("--endpoint-url", "ftp://x"), "--endpoint-url: 'ftp://x' is not a URL"),
        (("--region", "xx-moon-1"), "--region: 'xx-moon-1' is not an AWS region botocore knows"),
        (("--only", ""), "--only: '' has an empty template name"),
        (("--seed-code-dir", "no-such-folder"), "--seed-code-dir: no-such-folder does not exist"),
    ],
)
def test_bad_package_options_give_one_line(moto, args, words):
    env = {k: None for k in os.environ if k.startswith("AWS_")} | moto.env
    argv = ["package", "--bucket", BUCKET, "--endpoint-url", moto.url, "--create-bucket", "--only", TARGETS, *args]
    result = CliRunner(env=env).invoke(generate.cli, argv, catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert words in result.output
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_version_with_build_metadata_is_refused_before_anything_is_written(moto, tmp_path):
    result = package(moto, "--create-bucket", "--only", TARGETS, config={"version": "1.2.0+build.5"}, tmp=tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith("error: version: '1.2.0+build.5' has build metadata")
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_seed_code_defaults_to_the_project_folder_not_the_working_directory(moto, tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "seed_code" / "model-build-train").mkdir(parents=True)
    (project / "seed_code" / "model-build-train" / "buildspec.yml").write_text("version: 0.2\n# project\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "seed_code" / "model-build-train").mkdir(parents=True)
    (elsewhere / "seed_code" / "model-build-train" / "buildspec.yml").write_text("version: 0.2\n# cwd\n")
    monkeypatch.setattr(generate, "PROJECT_ROOT", project)
    monkeypatch.chdir(elsewhere)
    result = package(moto, "--create-bucket", "--only", "project-model-build-train")
    assert result.exit_code == 0, result.output
    key = manifest(moto)["seed_code"]["model-build-train"]["key"]
    zipped = zipfile.ZipFile(io.BytesIO(read(moto, key)))
    assert zipped.read("buildspec.yml").endswith(b"# project\n")


def test_installed_package_without_seed_code_asks_for_the_option(moto, tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "PROJECT_ROOT", tmp_path / "site-packages")
    result = package(moto, "--create-bucket", "--only", TARGETS)
    assert result.exit_code == 2
    assert result.output == (
        f"error: --seed-code-dir: there is no seed_code folder in {tmp_path / 'site-packages'} "
        "(an installed package has none): pass --seed-code-dir with the folder whose "
        "subfolders are the MLOps project seed code\n"
    )
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_repository_default_seed_code_folder_exists():
    assert (generate.PROJECT_ROOT / "templates_src").is_dir() and (generate.PROJECT_ROOT / "seed_code").is_dir()


def test_lint_failure_with_create_bucket_leaves_no_bucket(moto, edit_template):
    edit_template("env-iam-setup-stackset-role", break_role_path)
    result = package(moto, "--create-bucket", "--only", TARGETS)
    assert result.exit_code == 1
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_malformed_manifests_of_other_releases_are_skipped_with_a_warning(moto):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    malformed = {
        "0.0.7": (b"{not json", "not JSON"),
        "0.0.8": (b'{"hello": "world"}', "release: Field required"),
        "0.0.9": (b'{"release": "0.0.6", "templates": {}}', "it names release '0.0.6', not '0.0.9'"),
    }
    for version, (body, _) in malformed.items():
        moto.client("s3").put_object(Bucket=BUCKET, Key=layout.manifest_key(PREFIX, version), Body=body)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 0, result.output
    warnings = [
        line
        for line in result.output.splitlines()
        if line.startswith("warning: ") and "S3 project templates" not in line  # the bucket's CORS: its own test
    ]
    assert warnings == [
        f"warning: s3://{BUCKET}/{layout.manifest_key(PREFIX, version)} is not a release manifest "
        f"({why}): release {version} is ignored (no Service Catalog product version for it)"
        for version, (_, why) in malformed.items()
    ]
    assert_one_consistent_release(moto, "0.1.0")


@pytest.mark.parametrize("body, why", [(b"\xff\xfe", "not JSON"), (b"[]", "manifest: Input should be")])
def test_malformed_manifest_of_this_release_is_refused(moto, body, why):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    key = layout.manifest_key(PREFIX, "0.1.0")
    moto.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("checking bucket ")  # a phase line
    (error,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: release 0.1.0: s3://{BUCKET}/{key} is not a release manifest ({why}")
    assert result.stdout == ""
    assert objects(moto).keys() == {key}


def test_unexpected_exception_is_one_line_from_the_installed_command(monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("something nobody expected\nsecond line")

    monkeypatch.setattr(generate, "cli", boom)
    monkeypatch.delenv("SM_MLOPS_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exc:
        generate.main()
    assert exc.value.code == 4
    assert capsys.readouterr().err == (
        "error: unexpected RuntimeError: something nobody expected - a defect of the "
        "generator; run with SM_MLOPS_TRACEBACK=1 to see the traceback and report it\n"
    )


def test_retry_lines_do_not_overwrite_the_terminal_progress_line():
    stream = io.StringIO()
    progress = publish.Progress(stream, interactive=True)
    progress.start(2, 10)
    artifact = publish.Artifact("p/templates/x/abc.yaml", b"12345", "template", "x", "application/x-yaml")
    progress.uploaded(artifact)
    progress.retry("uploading s3://b/k", 2, 4, "SlowDown")
    progress.uploaded(artifact)
    progress.finish()
    lines = stream.getvalue().split("\n")
    assert lines[1] == "retrying uploading s3://b/k (attempt 2/4) after SlowDown"
    assert lines[0].startswith("\r[1/2]") and lines[2].startswith("\r[2/2]") and lines[3] == ""
