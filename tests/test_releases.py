"""`generate.py releases list|retire`: against a moto server on 127.0.0.1 (S3, CloudFormation), and Service
Catalog through botocore's Stubber (moto's server has no provisioning artifacts or provisioned products)."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import pathlib

import boto3
import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber
from click.testing import CliRunner

from templates_src import cli as generate
from templates_src import release_layout as layout
from templates_src.release import housekeeping as hk
from templates_src.release.model import Claim
from tests.support_moto import bucket_objects, wait_for_stack

BUCKET = "mlops-releases"
PREFIX = layout.DEFAULT_PREFIX
SETUP = "env-iam-setup-stackset-role"
TARGET = "env-iam-target-account-roles"
TARGETS = f"{SETUP},{TARGET}"


def _env(server) -> dict:
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(server.env)
    return env


def package(server, tmp: pathlib.Path, version: str, *args: str):
    """`generate.py package` in-process, release ``version`` (set in a configuration file)."""
    path = tmp / f"config-{version}.yaml"
    path.write_text(yaml.safe_dump({"version": version}))
    argv = ["package", "--bucket", BUCKET, "--endpoint-url", server.url, "--config", str(path), *args]
    return CliRunner(env=_env(server)).invoke(generate.cli, argv, catch_exceptions=False)


def releases(server, *args: str, input: str | None = None):
    argv = ["releases", *args[:1], "--bucket", BUCKET, "--endpoint-url", server.url, *args[1:]]
    return CliRunner(env=_env(server)).invoke(generate.cli, argv, catch_exceptions=False, input=input)


def document(result) -> dict:
    """The --output json document (standard output; people's lines went to standard error)."""
    return json.loads(result.stdout)


def objects(server) -> dict[str, str]:
    """key -> ETag of everything in the release bucket."""
    return bucket_objects(server, BUCKET)


def manifest(server, version: str) -> dict:
    key = layout.manifest_key(PREFIX, version)
    return json.loads(server.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def folder(version: str) -> str:
    return layout.release_folder(PREFIX, version)


@pytest.fixture
def three_releases(moto, tmp_path, edit_template):
    """0.1.0, 0.2.0 and 0.3.0: each with its own env-iam-setup-stackset-role; env-iam-target-account-roles shared
    by 0.1.0 and 0.2.0, changed in 0.3.0.  A stack made from 0.2.0's setup template uses 0.2.0."""
    for version, edits in (
        ("0.1.0", {SETUP: "release one"}),
        ("0.2.0", {SETUP: "release two"}),
        ("0.3.0", {SETUP: "release three", TARGET: "release three"}),
    ):
        for name, text in edits.items():
            edit_template(name, lambda t, text=text: t.set_description(text))
        result = package(moto, tmp_path, version, "--create-bucket", "--only", TARGETS)
        assert result.exit_code == 0, result.output
    m = {v: manifest(moto, v) for v in ("0.1.0", "0.2.0", "0.3.0")}
    assert m["0.1.0"]["templates"][TARGET]["key"] == m["0.2.0"]["templates"][TARGET]["key"]
    assert m["0.3.0"]["templates"][TARGET]["key"] != m["0.2.0"]["templates"][TARGET]["key"]
    assert len({m[v]["templates"][SETUP]["key"] for v in m}) == 3
    moto.client("cloudformation").create_stack(
        StackName="setup-role",
        TemplateURL=m["0.2.0"]["templates"][SETUP]["release_url"],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Parameters=[
            {"ParameterKey": "EnvName", "ParameterValue": "sm-mlops"},
            {"ParameterKey": "EnvType", "ParameterValue": "prod"},
            {"ParameterKey": "AdministratorAccountId", "ParameterValue": "210987654321"},
        ],
    )
    assert wait_for_stack(moto, "setup-role")["StackStatus"] == "CREATE_COMPLETE"
    return m


def test_list_retire_and_complete_an_interrupted_retirement(moto, three_releases, monkeypatch):
    m = three_releases
    # -- list: exactly the three, their templates, the one the stack uses is in use --------------------------
    result = releases(moto, "list", "--output", "json")
    assert result.exit_code == 0, result.output
    listed = document(result)
    assert [r["version"] for r in listed["releases"]] == ["0.1.0", "0.2.0", "0.3.0"]
    for release in listed["releases"]:
        expected = {n: e["key"] for n, e in m[release["version"]]["templates"].items()}
        assert {n: e["key"] for n, e in release["templates"].items()} == expected
        published = datetime.datetime.strptime(release["published"], "%Y-%m-%dT%H:%M:%SZ")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        assert abs(now - published) < datetime.timedelta(hours=1)  # the manifest's LastModified
    assert {r["version"]: r["in_use"] for r in listed["releases"]} == {"0.1.0": False, "0.2.0": True, "0.3.0": False}
    (in_use,) = [r for r in listed["releases"] if r["in_use"]]
    assert in_use["used_by"]["stacks"] == [{"stack": "setup-role", "template": SETUP, "shared_with": []}]
    assert listed["unfinished"] == [] and listed["exit_code"] == 0
    # moto has no Service Catalog provisioning artifacts: said, and only because --endpoint-url names a stand-in.
    assert listed["service_catalog"]["available"] is False
    assert any("does not implement Service Catalog" in w for w in listed["warnings"])

    # -- an unfinished publication is reported as such, never as a release, and blocks a retirement -----------
    s3 = moto.client("s3")
    claim = Claim("0.4.0", "f" * 64, "build-host", 4711, "2025-01-01T00:00:00Z")
    s3.put_object(Bucket=BUCKET, Key=layout.claim_key(PREFIX, "0.4.0"), Body=claim.body())
    listed = document(releases(moto, "list", "--output", "json"))
    assert [r["version"] for r in listed["releases"]] == ["0.1.0", "0.2.0", "0.3.0"]
    assert [(u["version"], u["claimed_by"]) for u in listed["unfinished"]] == [("0.4.0", claim.who())]
    text = releases(moto, "list")
    assert "unfinished publication 0.4.0 (not a release" in text.output
    before = objects(moto)
    result = releases(moto, "retire", "0.1.0", "--dry-run")
    assert result.exit_code == 2 and "publication of release 0.4.0 is unfinished" in result.output
    s3.delete_object(Bucket=BUCKET, Key=layout.claim_key(PREFIX, "0.4.0"))
    before = objects(moto)

    # -- the release in use is not retired, naming the stack ------------------------------------------------------
    result = releases(moto, "retire", "0.2.0", "--dry-run")
    assert result.exit_code == 2
    assert "error: release 0.2.0 is in use" in result.output and "stack setup-role" in result.output
    assert objects(moto) == before

    # -- dry run on an unused one: what goes, what stays because 0.2.0 shares it; nothing deleted --------------------
    result = releases(moto, "retire", "0.1.0", "--dry-run", "--output", "json")
    assert result.exit_code == 0, result.output
    plan = document(result)
    own = sorted(k for k in before if k.startswith(folder("0.1.0")))
    assert plan["delete_release_objects"][0] == layout.manifest_key(PREFIX, "0.1.0")  # first: the release is gone
    assert sorted(plan["delete_release_objects"]) == own
    assert plan["delete"] == [m["0.1.0"]["templates"][SETUP]["key"]]
    assert plan["kept"] == [{"key": m["0.1.0"]["templates"][TARGET]["key"], "shared_with": ["0.2.0"]}]
    assert objects(moto) == before
    text = releases(moto, "retire", "0.1.0", "--dry-run")
    assert f"would delete {m['0.1.0']['templates'][SETUP]['key']}" in text.output
    assert f"keep {m['0.1.0']['templates'][TARGET]['key']} (shared with 0.2.0)" in text.output
    assert objects(moto) == before

    # -- nobody to confirm and no --yes: bad input, nothing changed; declined at the prompt: nothing changed ----------
    result = releases(moto, "retire", "0.1.0")
    assert result.exit_code == 2 and "--yes" in result.output
    monkeypatch.setattr("templates_src.cli_releases._interactive", lambda: True)
    result = releases(moto, "retire", "0.1.0", input="n\n")
    assert result.exit_code == 0 and "not confirmed: nothing was changed" in result.output
    assert "retire release 0.1.0 from s3://mlops-releases/sagemaker-mlops/" in result.output
    assert objects(moto) == before

    # -- retire --yes deletes exactly the planned objects; again: nothing to do -----------------------------------
    result = releases(moto, "retire", "0.1.0", "--yes")
    assert result.exit_code == 0, result.output
    after = objects(moto)
    assert sorted(set(before) - set(after)) == sorted(own + plan["delete"])
    assert set(after) <= set(before) and m["0.1.0"]["templates"][TARGET]["key"] in after
    result = releases(moto, "retire", "0.1.0", "--yes")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert objects(moto) == after
    listed = document(releases(moto, "list", "--output", "json"))
    assert [r["version"] for r in listed["releases"]] == ["0.2.0", "0.3.0"]

    # -- interrupted after its manifest was deleted: not a release any more, and the next run completes it -------------
    real_delete, deleted = hk._delete, []

    def failing(aws, key):
        if deleted:
            raise hk.HousekeepingError(f"cannot reach AWS while deleting {key} (injected)", aws=True)
        deleted.append(key)
        real_delete(aws, key)

    monkeypatch.setattr(hk, "_delete", failing)
    result = releases(moto, "retire", "0.3.0", "--yes")
    assert result.exit_code == 3 and "(injected)" in result.output
    assert deleted == [layout.manifest_key(PREFIX, "0.3.0")]
    monkeypatch.setattr(hk, "_delete", real_delete)
    listed = document(releases(moto, "list", "--output", "json"))
    assert [r["version"] for r in listed["releases"]] == ["0.2.0"] and listed["retiring"] == ["0.3.0"]
    assert listed["unfinished"] == []
    result = releases(moto, "retire", "0.3.0", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    done = document(result)
    assert done["state"] == "retiring"
    assert sorted(done["delete"]) == sorted(e["key"] for e in m["0.3.0"]["templates"].values())
    left = objects(moto)
    assert not [k for k in left if k.startswith(folder("0.3.0"))]
    assert not {e["key"] for e in m["0.3.0"]["templates"].values()} & set(left)
    # What the remaining release consists of is all there.
    assert set(manifest(moto, "0.2.0")["objects"]) <= set(left)


def test_bad_input_is_one_error_line(moto):
    result = releases(moto, "list", "--prefix", "/bad//prefix")
    assert result.exit_code == 2 and result.output.count("error:") == 1 and "--prefix" in result.output
    result = releases(moto, "list")  # the bucket does not exist
    assert result.exit_code == 2 and f"bucket {BUCKET} does not exist" in result.output


# -- Service Catalog (Stubber) --------------------------------------------------------------------------------------


def _client(service: str):
    return boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1").client(service)


def _release(version: str, templates: dict[str, bytes], prefix: str = PREFIX) -> hk.Release:
    entries = {}
    for name, body in templates.items():
        digest = hashlib.sha256(body).hexdigest()
        entries[name] = {"key": layout.content_key(prefix, "templates", name, digest, ".yaml"), "sha256": digest}
    aliases = [layout.release_key(prefix, version, f"{n}.yaml") for n in templates]
    manifest = {
        "release": version,
        "templates": entries,
        "objects": sorted([e["key"] for e in entries.values()] + aliases),
    }
    folder_keys = [layout.manifest_key(prefix, version), layout.claim_key(prefix, version), *aliases]
    return hk.Release(version, prefix, manifest, "2025-01-01T00:00:00Z", sorted(folder_keys))


def _url(key: str) -> str:
    return f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{key}"


SHARED = b"shared template\n"
R1 = _release("0.1.0", {"env-main": SHARED, "core-main": b"core one\n"})
R2 = _release("0.2.0", {"env-main": SHARED, "core-main": b"core two\n"})
R3 = _release("0.3.0", {"env-main": b"env three\n", "core-main": b"core two\n"})


def _artifact(id_: str, name: str, active: bool = True) -> dict:
    return {"Id": id_, "Name": name, "Active": active, "CreatedTime": datetime.datetime(2025, 1, 1)}


def _stub_catalog(stubber: Stubber, products: dict[str, list[tuple[dict, str]]], provisioned: list[dict]) -> None:
    stubber.add_response(
        "search_products_as_admin",
        {
            "ProductViewDetails": [
                {"ProductViewSummary": {"Id": f"prodview-{pid}", "ProductId": pid, "Name": f"product {pid}"}}
                for pid in products
            ]
        },
        {"PageSize": 20},
    )
    for pid, artifacts in products.items():
        stubber.add_response(
            "list_provisioning_artifacts",
            {"ProvisioningArtifactDetails": [a for a, _ in artifacts]},
            {"ProductId": pid},
        )
        for artifact, url in artifacts:
            stubber.add_response(
                "describe_provisioning_artifact",
                {"ProvisioningArtifactDetail": artifact, "Info": {"TemplateUrl": url}, "Status": "AVAILABLE"},
                {"ProductId": pid, "ProvisioningArtifactId": artifact["Id"], "Verbose": True},
            )
    if provisioned is not None:
        stubber.add_response(
            "search_provisioned_products",
            {"ProvisionedProducts": provisioned},
            {"AccessLevelFilter": {"Key": "Account", "Value": "self"}, "PageSize": 100},
        )


def test_product_versions_are_matched_to_releases_by_url_and_name():
    sc = _client("servicecatalog")
    env_shared = R1.templates["env-main"]["key"]
    alias = layout.release_key(PREFIX, "0.3.0", "env-main.yaml")
    with Stubber(sc) as stub:
        _stub_catalog(
            stub,
            {
                "prod-env": [
                    (_artifact("pa-1", "v0.1.0", active=False), _url(env_shared)),
                    (_artifact("pa-2", "v0.2.0"), _url(env_shared)),  # the same key, told apart by the name
                    (_artifact("pa-x", "hand-made"), _url(env_shared)),  # shared by 0.1.0 and 0.2.0, no name
                    (_artifact("pa-3", "v0.3.0"), f"https://s3.us-east-1.amazonaws.com/{BUCKET}/{alias}"),
                ],
                "prod-other": [(_artifact("pa-9", "v1"), "https://other-bucket.s3.us-east-1.amazonaws.com/x.yaml")],
            },
            [
                {"Id": "pp-1", "Name": "team-a", "ProvisioningArtifactId": "pa-2", "ProductId": "prod-env"},
                {"Id": "pp-2", "Name": "team-b", "ProvisioningArtifactId": "pa-x", "ProductId": "prod-env"},
                {"Id": "pp-3", "Name": "other", "ProvisioningArtifactId": "pa-9", "ProductId": "prod-other"},
            ],
        )
        found = hk.catalog(hk.Aws(BUCKET, "us-east-1", servicecatalog=sc), [R1, R2, R3])
        stub.assert_no_pending_responses()
    assert found.available
    assert [(p.id, p.versions) for p in found.products] == [("prod-env", 4)]  # not the other bucket's product
    assert [v.artifact_id for v in found.of("0.1.0")] == ["pa-1"]
    assert [v.artifact_id for v in found.of("0.2.0")] == ["pa-2"]
    assert [v.artifact_id for v in found.of("0.3.0")] == ["pa-3"]
    assert [v.artifact_id for v in found.of("0.1.0", shared=True)] == ["pa-1", "pa-x"]
    used = hk.usage([R1, R2, R3], [], found)
    assert used["0.2.0"].blockers == ["provisioned product team-a (pp-1) of product prod-env v0.2.0"]
    assert not used["0.1.0"].in_use and not used["0.3.0"].in_use  # pp-2 uses a version neither holds alone
    assert found.warnings == []


def test_stacks_block_only_the_releases_that_alone_hold_their_template():
    core_two = hashlib.sha256(b"core two\n").hexdigest()
    core_one = hashlib.sha256(b"core one\n").hexdigest()
    used = hk.usage(
        [R1, R2, R3],
        [hk.Stack("core", core_two), hk.Stack("old-core", core_one), hk.Stack("json", None)],
        hk.Catalog(),
    )
    assert used["0.1.0"].blockers == ["stack old-core (created from its template core-main)"]
    assert used["0.2.0"].stacks == [("core", "core-main", ["0.3.0"])] and not used["0.2.0"].in_use
    assert used["0.3.0"].stacks == [("core", "core-main", ["0.2.0"])] and not used["0.3.0"].in_use


@pytest.mark.parametrize("count, warned", [(89, False), (90, True), (100, True)])
def test_a_product_near_the_version_limit_is_warned_about(count, warned):
    sc = _client("servicecatalog")
    artifacts = [
        (_artifact(f"pa-{i}", f"v0.0.{i}"), _url(f"{PREFIX}/templates/elsewhere/{i}.yaml")) for i in range(count)
    ]
    artifacts[-1] = (_artifact("pa-last", "v0.1.0"), _url(R1.templates["env-main"]["key"]))
    with Stubber(sc) as stub:
        _stub_catalog(stub, {"prod-env": artifacts}, [])
        found = hk.catalog(hk.Aws(BUCKET, "us-east-1", servicecatalog=sc), [R1])
        stub.assert_no_pending_responses()
    assert [p.versions for p in found.products] == [count]
    if warned:
        (line,) = found.warnings
        assert f"has {count} of 100 versions" in line and "prod-env" in line
        assert "the next core update that adds a version fails at 100; retire old releases first" in line
    else:
        assert found.warnings == []


HTML_500 = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"


def test_an_unimplemented_service_catalog_is_no_information_only_through_a_stand_in():
    sc = _client("servicecatalog")
    with Stubber(sc) as stub:
        stub.add_client_error("search_products_as_admin", "500", HTML_500, 500)
        found = hk.catalog(hk.Aws(BUCKET, "us-east-1", servicecatalog=sc, stand_in=True), [R1])
    assert not found.available and "does not implement Service Catalog" in found.note
    # Against AWS the same answer is an error (after the retries), never "nothing uses it".
    aws = hk.Aws(BUCKET, "us-east-1", servicecatalog=sc, sleep=lambda s: None)
    with Stubber(sc) as stub:
        for _ in range(aws.attempts):
            stub.add_client_error("search_products_as_admin", "500", HTML_500, 500)
        with pytest.raises(hk.HousekeepingError) as raised:
            hk.catalog(aws, [R1])
    assert raised.value.aws and "listing Service Catalog products" in str(raised.value)
    # An access error through a stand-in is an error too: only "not implemented" means no information.
    with Stubber(sc) as stub:
        stub.add_client_error("search_products_as_admin", "AccessDeniedException", "no", 400)
        with pytest.raises(hk.HousekeepingError, match="access denied while listing Service Catalog products"):
            hk.catalog(hk.Aws(BUCKET, "us-east-1", servicecatalog=sc, stand_in=True), [R1])


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_retire_deactivates_product_versions_first_then_deletes_the_manifest_first():
    """The order of every call across Service Catalog and S3: deactivate, marker, manifest, the rest of the release
    folder, the content no remaining release references (read again just before), the marker last."""
    sc, s3 = _client("servicecatalog"), _client("s3")
    calls: list[str] = []

    def within(what, deadline, fn, kwargs):
        calls.append(what)
        return fn(**kwargs)

    aws = hk.Aws(BUCKET, "us-east-1", s3=s3, servicecatalog=sc, within=within)
    pv = hk.ProductVersion("prod-env", "product env", "pa-1", "v0.1.0", True, "u", "k", ["0.1.0"])
    idle = hk.ProductVersion("prod-env", "product env", "pa-0", "v0.1.0-old", False, "u", "k", ["0.1.0"])
    found = hk.Inventory(PREFIX, {"0.1.0": R1, "0.2.0": R2})
    found.keys = set(R1.folder) | set(R2.folder) | R1.content_keys() | R2.content_keys()
    plan = hk.plan_retire("0.1.0", found, hk.Catalog(versions=[pv, idle]), {"0.1.0": hk.Usage(), "0.2.0": hk.Usage()})
    assert plan.refusal is None
    assert plan.deactivate == [pv] and plan.inactive == [idle]
    core_one = R1.templates["core-main"]["key"]
    assert plan.delete == [core_one] and plan.kept == {R1.templates["env-main"]["key"]: ["0.2.0"]}

    marker = layout.release_key(PREFIX, "0.1.0", hk.RETIRING)
    r2_manifest = json.dumps(R2.manifest).encode()
    with Stubber(sc) as sc_stub, Stubber(s3) as s3_stub:
        sc_stub.add_response(
            "update_provisioning_artifact",
            {},
            {"ProductId": "prod-env", "ProvisioningArtifactId": "pa-1", "Active": False, "Guidance": "DEPRECATED"},
        )
        s3_stub.add_response("put_object", {}, None)
        for key in plan.release_keys:
            s3_stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": key})
        remaining = [marker, *R2.folder, *R1.content_keys()]
        s3_stub.add_response("list_objects_v2", {"Contents": [{"Key": k} for k in remaining]}, None)
        marker_body = json.dumps({"retiring": "0.1.0", "manifest": R1.manifest}).encode()
        s3_stub.add_response("get_object", {"Body": _body(marker_body)}, {"Bucket": BUCKET, "Key": marker})
        r2_key = layout.manifest_key(PREFIX, "0.2.0")
        s3_stub.add_response("get_object", {"Body": _body(r2_manifest)}, {"Bucket": BUCKET, "Key": r2_key})
        s3_stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": core_one})
        s3_stub.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": marker})
        done = hk.retire(aws, plan, PREFIX)
        sc_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    assert done.delete == [core_one] and list(done.kept) == [R1.templates["env-main"]["key"]]
    assert calls[0] == "deactivating version v0.1.0 of product product env"
    assert calls[1] == f"writing s3://{BUCKET}/{marker}"
    assert calls[2] == f"deleting s3://{BUCKET}/{layout.manifest_key(PREFIX, '0.1.0')}"
    assert calls[-1] == f"deleting s3://{BUCKET}/{marker}"
    assert calls.index(f"deleting s3://{BUCKET}/{core_one}") > calls.index(f"listing s3://{BUCKET}/{PREFIX}/")


def test_a_failing_deactivation_deletes_nothing():
    sc, s3 = _client("servicecatalog"), _client("s3")
    aws = hk.Aws(BUCKET, "us-east-1", s3=s3, servicecatalog=sc)
    pv = hk.ProductVersion("prod-env", "product env", "pa-1", "v0.1.0", True, "u", "k", ["0.1.0"])
    found = hk.Inventory(PREFIX, {"0.1.0": R1})
    plan = hk.plan_retire("0.1.0", found, hk.Catalog(versions=[pv]), {"0.1.0": hk.Usage()})
    with Stubber(sc) as sc_stub, Stubber(s3) as s3_stub:
        sc_stub.add_client_error("update_provisioning_artifact", "AccessDeniedException", "denied", 400)
        with pytest.raises(hk.HousekeepingError, match="access denied while deactivating version v0.1.0"):
            hk.retire(aws, plan, PREFIX)
        s3_stub.assert_no_pending_responses()  # no S3 call was even expected; Stubber would have refused one


def test_a_release_in_use_by_a_provisioned_product_is_refused_naming_it():
    pv = hk.ProductVersion(
        "prod-env", "product env", "pa-1", "v0.1.0", True, "u", "k", ["0.1.0"], provisioned=["t (pp-1)"]
    )
    found = hk.Inventory(PREFIX, {"0.1.0": R1})
    products = hk.Catalog(versions=[pv])
    plan = hk.plan_retire("0.1.0", found, products, hk.usage([R1], [], products))
    assert plan.refusal and "release 0.1.0 is in use" in plan.refusal and "t (pp-1)" in plan.refusal
