"""Packaging and publishing against a moto server on 127.0.0.1, with boto3 and the real AWS CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import zipfile

import pytest
import yaml
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import registry
from templates_src.lint import Linter
from templates_src.release import layout, publish
from tests.cfn import load
from tests.support_moto import aws, wait_for_stack

BUCKET = "mlops-releases"
PREFIX = "sagemaker-mlops"
TARGETS = "env-iam-setup-stackset-role,env-iam-target-account-roles"


@pytest.fixture
def seed_dir(tmp_path):
    root = tmp_path / "seed"
    for name, files in {"model-build-train": {"buildspec.yml": "version: 0.2\n", "pipelines/run.py": "print(1)\n"},
                        "model-deploy": {"buildspec.yml": "version: 0.2\nphases: {}\n"}}.items():
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
    """key -> ETag of everything in the bucket."""
    s3 = server.client("s3")
    out, token = {}, None
    while True:
        page = s3.list_objects_v2(Bucket=BUCKET, **({"ContinuationToken": token} if token else {}))
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        token = page.get("NextContinuationToken")
        if not token:
            return out


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
        for artifact in props.get("ProvisioningArtifactParameters", []) or []:
            yield artifact["Info"]["LoadTemplateFromURL"]
        if resource["Type"] == "AWS::Lambda::Function" and "S3Key" in props.get("Code", {}):
            assert props["Code"]["S3Bucket"] == BUCKET
            yield f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{props['Code']['S3Key']}"


def fake_earlier_release(server, version="0.0.9") -> str:
    """An earlier published release whose bucket holds an environment template (a later template kind)."""
    s3 = server.client("s3")
    body = (b"AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Marker:\n    Type: AWS::SSM::Parameter\n"
            b"    Properties: {Name: env-marker, Type: String, Value: x}\n")
    digest = hashlib.sha256(body).hexdigest()
    key = layout.content_key(PREFIX, "templates", "env-main", digest, ".yaml")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"sha256": digest})
    s3.put_object(Bucket=BUCKET, Key=layout.manifest_key(PREFIX, version), Body=json.dumps(
        {"release": version, "templates": {"env-main": {"key": key, "sha256": digest}}}).encode())
    return key


# -- a full release -------------------------------------------------------------------------------------

def test_full_release_is_consistent_and_tagged(moto, seed_dir, tmp_path):
    result = package(moto, "--create-bucket", "--only", TARGETS, "--seed-code-dir", str(seed_dir))
    assert result.exit_code == 0, result.output
    assert "published release 0.1.0" in result.output
    m = manifest(moto)
    stored = objects(moto)
    assert set(m["objects"]) <= set(stored)
    for key in m["objects"]:
        body = read(moto, key)
        head = moto.client("s3").head_object(Bucket=BUCKET, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    for name, entry in m["templates"].items():
        assert key_of(entry["url"]) == entry["key"]
        assert read(moto, key_of(entry["release_url"])) == read(moto, entry["key"])
        for url in packaged_references(load(read(moto, entry["key"]))):
            assert key_of(url) in m["objects"]
    # Seed code: deterministic zips, tagged for Service Catalog (checked with the real CLI).
    assert sorted(m["seed_code"]) == ["model-build-train", "model-deploy"]
    zf = zipfile.ZipFile(io.BytesIO(read(moto, m["seed_code"]["model-build-train"]["key"])))
    assert zf.namelist() == ["buildspec.yml", "pipelines/run.py"]
    _, tagging, _ = aws(moto, "s3api", "get-object-tagging", "--bucket", BUCKET, "--key",
                        m["seed_code"]["model-deploy"]["key"])
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
    aws(moto, "cloudformation", "create-stack", "--stack-name", "setup-role", "--template-url", url,
        "--capabilities", "CAPABILITY_NAMED_IAM", "--parameters",
        "ParameterKey=EnvName,ParameterValue=sm-mlops", "ParameterKey=EnvType,ParameterValue=prod",
        "ParameterKey=AdministratorAccountId,ParameterValue=210987654321")
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


def test_new_release_uploads_only_what_changed(moto, seed_dir, tmp_path, monkeypatch):
    assert package(moto, "--create-bucket", "--only", TARGETS, "--seed-code-dir", str(seed_dir)).exit_code == 0
    first = objects(moto)
    # A developer changes one template; the release gets a new version.
    spec = registry.TEMPLATES["env-iam-target-account-roles"]

    def edited(ctx):
        template = spec.build(ctx)
        template.set_description(template.description + " (edited)")
        return template

    monkeypatch.setitem(registry.TEMPLATES, spec.name, dataclasses.replace(spec, build=edited))
    result = package(moto, "--only", TARGETS, "--seed-code-dir", str(seed_dir), config={"version": "0.2.0"},
                     tmp=tmp_path)
    assert result.exit_code == 0, result.output
    new = {k: v for k, v in objects(moto).items() if k not in first}
    content = sorted(k for k in new if "/releases/" not in k)
    assert len(content) == 1 and content[0].startswith(f"{PREFIX}/templates/env-iam-target-account-roles/")
    assert sorted(k for k in new if "/releases/" in k) == [
        f"{PREFIX}/releases/0.2.0/{n}" for n in ("env-iam-setup-stackset-role.yaml",
                                                 "env-iam-target-account-roles.yaml", "manifest.json")]
    assert "4 object(s) uploaded" in result.output
    # Nothing of the earlier release changed.
    assert {k: v for k, v in objects(moto).items() if k in first} == first
    # The unchanged template is shared by both releases.
    assert manifest(moto, "0.2.0")["templates"]["env-iam-setup-stackset-role"]["key"] == \
        manifest(moto, "0.1.0")["templates"]["env-iam-setup-stackset-role"]["key"]


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
    assert len(planned) == 7  # 2 templates, 2 release aliases, 2 seed zips, the manifest
    assert "nothing was written" in result.output


def test_dry_run_does_not_create_the_bucket(moto):
    result = package(moto, "--dry-run", "--create-bucket", "--only", TARGETS)
    assert result.exit_code == 0 and "bucket would be created" in result.output
    assert BUCKET not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]


def test_same_version_with_other_content_is_refused(moto, monkeypatch):
    assert package(moto, "--create-bucket", "--only", TARGETS).exit_code == 0
    before = objects(moto)
    spec = registry.TEMPLATES["env-iam-setup-stackset-role"]

    def edited(ctx):
        template = spec.build(ctx)
        template.set_description("changed without a new version")
        return template

    monkeypatch.setitem(registry.TEMPLATES, spec.name, dataclasses.replace(spec, build=edited))
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 2
    assert "release 0.1.0 is already published" in result.output and "new `version`" in result.output
    assert objects(moto) == before


def test_missing_seed_code_tag_is_restored_without_reupload(moto, seed_dir):
    assert package(moto, "--create-bucket", "--only", TARGETS, "--seed-code-dir", str(seed_dir)).exit_code == 0
    key = manifest(moto)["seed_code"]["model-deploy"]["key"]
    s3 = moto.client("s3")
    s3.delete_object_tagging(Bucket=BUCKET, Key=key)
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    result = package(moto, "--only", TARGETS, "--seed-code-dir", str(seed_dir), config={"version": "0.1.1"},
                     tmp=seed_dir.parent)
    assert result.exit_code == 0 and "1 re-tagged" in result.output
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag
    assert {"Key": "servicecatalog:provisioning", "Value": "true"} in s3.get_object_tagging(
        Bucket=BUCKET, Key=key)["TagSet"]


# -- the core stack and Service Catalog product versions -------------------------------------------------------

def test_core_main_needs_the_environment_template(moto):
    """A release that cannot be planned is bad input (exit 2), found before anything is written: the bucket
    --create-bucket asked for is not created either."""
    result = package(moto, "--create-bucket")
    assert result.exit_code == 2
    assert "DataScienceEnvironmentProduct refers to env-main.yaml, which this release does not generate" in result.output
    assert moto.client("s3").list_buckets()["Buckets"] == []


def test_core_release_keeps_earlier_product_versions_and_resolves_nested_urls(moto, tmp_path):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    earlier = fake_earlier_release(moto)
    before = objects(moto)
    result = package(moto)
    assert result.exit_code == 0, result.output
    m = manifest(moto)
    core = load(read(moto, m["templates"]["core-main"]["key"]))
    urls = {n: s["Properties"]["TemplateURL"] for n, s in core["Resources"].items()
            if s["Type"] == "AWS::CloudFormation::Stack"}
    assert {n: key_of(u) for n, u in urls.items()} == {
        "IAMSCSageMakerProjectRoles": m["templates"]["core-iam-sc-sm-projects-roles"]["key"],
        "IAMSharedRoles": m["templates"]["core-iam-shared-roles"]["key"],
        "SharedServiceCatalogPortfolio": m["templates"]["core-sc-shared-portfolio"]["key"]}
    code = core["Resources"]["GetEnvironmentConfigurationLambda"]["Properties"]["Code"]
    assert code == {"S3Bucket": BUCKET, "S3Key": m["lambda"]["get_environment_configuration"]["key"]}
    zf = zipfile.ZipFile(io.BytesIO(read(moto, code["S3Key"])))
    assert sorted(zf.namelist()) == ["cfn_runtime.py", "index.py"]
    portfolio = load(read(moto, m["templates"]["core-sc-shared-portfolio"]["key"]))
    versions = portfolio["Resources"]["DataScienceEnvironmentProduct"]["Properties"]["ProvisioningArtifactParameters"]
    assert [(v["Name"], key_of(v["Info"]["LoadTemplateFromURL"])) for v in versions] == [("v0.0.9", earlier)]
    # Every rewritten URL points into this release; the earlier version's URL into the earlier one.
    for name, entry in m["templates"].items():
        for url in packaged_references(load(read(moto, entry["key"]))):
            assert key_of(url) in m["objects"] or key_of(url) == earlier
    assert {k: v for k, v in objects(moto).items() if k in before} == before
    assert "aws cloudformation create-stack" in result.output and m["templates"]["core-main"]["release_url"] in result.output
    assert "--provisioning-artifact-name v0.1.0" in result.output


# -- refusals and errors ------------------------------------------------------------------------------------------

def test_refuses_to_publish_what_does_not_lint(moto, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    spec = registry.TEMPLATES["env-iam-setup-stackset-role"]

    def broken(ctx):
        template = spec.build(ctx)
        template.resources["SetupStackSetExecutionRole"].properties["Path"] = "no-slashes"
        return template

    monkeypatch.setitem(registry.TEMPLATES, spec.name, dataclasses.replace(spec, build=broken))
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
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    result = package(moto, "--region", "us-east-1", "--only", TARGETS)
    assert result.exit_code == 2
    assert "is in eu-west-1, not us-east-1" in result.output and "--region eu-west-1" in result.output


def test_no_credentials(moto):
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update({k: v for k, v in moto.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    result = CliRunner(env=env).invoke(generate.cli, ["package", "--bucket", BUCKET, "--endpoint-url", moto.url,
                                                      "--only", TARGETS], catch_exceptions=False)
    assert result.exit_code == 3
    assert "no AWS credentials found" in result.output


@pytest.mark.parametrize("args, words", [
    (("--bucket", "Bad_Bucket"), "--bucket: 'Bad_Bucket' is not an S3 bucket name"),
    (("--prefix", "/abs/"), "--prefix: '/abs/' is not a key prefix"),
    (("--region", "moon"), "--region: 'moon' is not a region name"),
    (("--only", "nope"), "--only: unknown template nope"),
])
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
            return AWSResponse(request.url, status, {},
                               Raw(f"<Error><Code>{code}</Code><Message>{code} (injected)</Message></Error>".encode()))
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
    moto.client("s3").create_bucket(Bucket=BUCKET)
    seen = _inject(monkeypatch, "PutObject", [503, 503])
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 0, result.output
    assert len(seen) >= 3  # two throttled attempts, then the upload went through
    assert layout.manifest_key(PREFIX, "0.1.0") in objects(moto)


def test_access_denied_is_reported_and_nothing_is_published(moto, monkeypatch):
    moto.client("s3").create_bucket(Bucket=BUCKET)
    _inject(monkeypatch, "PutObject", [403] * 20)
    result = package(moto, "--only", TARGETS)
    assert result.exit_code == 3
    assert "access denied while uploading" in result.output and "is not published" in result.output
    assert layout.manifest_key(PREFIX, "0.1.0") not in objects(moto)
