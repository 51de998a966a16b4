"""The environment's Python package index (templates_src/blocks/package_mirror.py): PyPI, an index the user names,
or the environment's CodeArtifact mirror; what the projects' builds are told and how they log in; env-main's
Rules; and every network destination of the projects' builds and seed scripts, each with a route in an
internet-free environment.

The mirror's IAM flow (the build role through the CodeArtifact endpoints' policies, and another environment's
build role refused) is proven with the platform's other flows: tests/test_flows.py
::test_an_internet_free_environments_builds_install_through_its_package_mirror.
"""

from __future__ import annotations

import ast
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from templates_src.blocks import endpoints, environment, package_mirror, project
from templates_src.templates.env import env_main
from tests.support_render import render_tree, resources, rule_failures

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED = ROOT / "seed_code"
BASE = {"SeedCodeS3BucketName": "release-bucket", "AvailabilityZones": "us-east-1a,us-east-1b"}
INTERNET_FREE = {**BASE, "CreateNATGateways": "NO"}
MIRROR = {**INTERNET_FREE, "UseSharedServicesPyPiMirror": "YES"}
INDEX_SSM = f"sm-mlops-dev-{environment.PACKAGE_INDEX_SSM}"


@pytest.fixture(scope="module")
def main(templates) -> dict:
    return templates[env_main.NAME]


@pytest.fixture(scope="module")
def mirrored(templates):
    return render_tree(templates, env_main.NAME, MIRROR)


def ssm_values(tree) -> dict[str, str]:
    return {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in resources(tree["root"], "AWS::SSM::Parameter").values()
    }


def endpoint_resources(tree) -> dict[str, dict]:
    return {
        r["Properties"]["ServiceName"].split(".", 3)[-1]: r["Properties"]
        for r in resources(tree["EnvironmentVPCEndpoints"], "AWS::EC2::VPCEndpoint").values()
    }


# -- the three choices ------------------------------------------------------------------------------------------------
def test_by_default_the_projects_install_from_pypi_and_nothing_of_codeartifact_is_created(templates):
    tree = render_tree(templates, env_main.NAME, BASE)
    assert ssm_values(tree)[INDEX_SSM] == package_mirror.PYPI
    assert resources(tree["root"], "AWS::CodeArtifact::Domain") == {}
    assert resources(tree["root"], "AWS::CodeArtifact::Repository") == {}
    assert not {"codeartifact.api", "codeartifact.repositories"} & set(endpoint_resources(tree))


def test_an_index_of_the_users_own_is_what_the_projects_are_told(templates):
    url = "https://artifactory.example.internal/api/pypi/pypi/simple"
    tree = render_tree(templates, env_main.NAME, {**BASE, "PipIndexUrl": url})
    assert ssm_values(tree)[INDEX_SSM] == url
    assert resources(tree["root"], "AWS::CodeArtifact::Repository") == {}
    # With an index of one's own, the CodeArtifact endpoints asked for (YES) keep AWS's default policy.
    asked = render_tree(
        templates, env_main.NAME, {**BASE, "PipIndexUrl": url, "CreateCodeArtifactAPIVPCEndpoint": "YES"}
    )
    assert "PolicyDocument" not in endpoint_resources(asked)["codeartifact.api"]


def test_the_mirror_is_a_codeartifact_repository_of_pypi_named_after_the_environment(mirrored):
    root = mirrored["root"]
    ((domain,),) = [list(props.values()) for props in [resources(root, "AWS::CodeArtifact::Domain")]]
    (repository,) = resources(root, "AWS::CodeArtifact::Repository").values()
    assert domain["Properties"]["DomainName"] == "sm-mlops-dev"
    assert "EncryptionKey" not in domain["Properties"]  # PyPI's public packages: CodeArtifact's AWS managed key
    props = repository["Properties"]
    assert props["RepositoryName"] == package_mirror.REPOSITORY
    assert props["ExternalConnections"] == ["public:pypi"]
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert (tags["EnvironmentName"], tags["EnvironmentType"]) == ("sm-mlops", "dev")
    assert ssm_values(mirrored)[INDEX_SSM] == "arn:aws:codeartifact:us-east-1:123456789012:repository/sm-mlops-dev/pypi"


def test_the_mirrors_endpoints_have_private_dns_and_name_only_its_repository(mirrored):
    found = endpoint_resources(mirrored)
    repository = "arn:aws:codeartifact:us-east-1:123456789012:repository/sm-mlops-dev/pypi"
    for service in ("codeartifact.api", "codeartifact.repositories"):
        endpoint = found[service]
        assert endpoint["PrivateDnsEnabled"] is True
        statements = {s["Sid"]: s for s in endpoint["PolicyDocument"]["Statement"]}
        assert statements["PackageMirrorRead"]["Resource"] == [repository]
        assert statements["PackageMirrorToken"]["Resource"] == [
            "arn:aws:codeartifact:us-east-1:123456789012:domain/sm-mlops-dev"
        ]
        assert statements["PackageMirrorBearerToken"]["Condition"]["StringEquals"]["sts:AWSServiceName"] == (
            "codeartifact.amazonaws.com"
        )
        for statement in statements.values():
            assert statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] == "123456789012"
            assert not [a for a in statement["Action"] if a.endswith("*") or "Publish" in a or "Delete" in a]


def test_an_existing_vpc_keeps_its_own_codeartifact_endpoints_unless_asked(templates):
    existing = {
        **MIRROR,
        "CreateVPC": "NO",
        "ExistingVPCId": "vpc-0123456789abcdef0",
        "CreatePrivateSubnets": "NO",
        "ExistingPrivateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
        "ExistingPrivateRouteTableIds": "rtb-0123456789abcdef0,rtb-0123456789abcdef1",
    }
    assert not {"codeartifact.api", "codeartifact.repositories"} & set(
        endpoint_resources(render_tree(templates, env_main.NAME, existing))
    )
    asked = render_tree(templates, env_main.NAME, {**existing, "CreateCodeArtifactRepositoriesVPCEndpoint": "YES"})
    assert "codeartifact.repositories" in endpoint_resources(asked)


# -- env-main's Rules ------------------------------------------------------------------------------------------------
def test_a_new_internet_free_vpc_needs_the_mirror_or_an_index(main):
    (failure,) = rule_failures(main, INTERNET_FREE)
    assert "UseSharedServicesPyPiMirror YES" in failure and "PipIndexUrl" in failure
    assert rule_failures(main, MIRROR) == []
    assert rule_failures(main, {**INTERNET_FREE, "PipIndexUrl": "https://mirror.example/simple"}) == []
    assert rule_failures(main, BASE) == []  # NAT gateways: PyPI


@pytest.mark.parametrize("toggle", endpoints.mirror_toggles())
def test_an_internet_free_environment_with_the_mirror_cannot_turn_off_its_endpoints(main, toggle):
    (failure,) = rule_failures(main, {**MIRROR, toggle: "NO"})
    assert failure.startswith(f"{toggle} must be YES or Auto")
    assert rule_failures(main, {**BASE, "UseSharedServicesPyPiMirror": "YES", toggle: "NO"}) == []  # NAT: optional


def test_the_mirror_and_an_index_of_ones_own_exclude_each_other(main):
    (failure,) = rule_failures(main, {**MIRROR, "PipIndexUrl": "https://mirror.example/simple"})
    assert failure.startswith("PipIndexUrl must be empty when UseSharedServicesPyPiMirror is YES")


# -- the projects ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["project-model-build-train", "project-model-deploy"])
def test_every_project_build_is_told_the_environments_index_and_its_own(templates, name):
    template = templates[name]
    (contract,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::GetEnvironmentConfiguration"]
    read = {p["VariableName"]: p["ParameterName"] for p in contract["Properties"]["SSMParams"]}
    assert read["PackageIndex"] == environment.PACKAGE_INDEX_SSM
    # The builds that run the seed code's buildspecs (the check-in build installs nothing).
    builds = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project" and r["Properties"]["Source"]["Type"] == "CODEPIPELINE"
    ]
    assert builds
    for build in builds:
        variables = {v["Name"]: v["Value"] for v in build["Properties"]["Environment"]["EnvironmentVariables"]}
        assert variables["PACKAGE_INDEX"] == {"Fn::GetAtt": [project.ENV_CONFIG, "PackageIndex"]}
        assert variables["PIP_INDEX_URL"] == {"Ref": project.PIP_INDEX_URL.name}


def test_both_seeds_choose_the_index_with_one_script_sourced_before_every_pip_install():
    scripts = {p.read_bytes() for p in SEED.glob("*/package_index.sh")}
    assert len(list(SEED.glob("*/package_index.sh"))) == 2 and len(scripts) == 1
    for buildspec in SEED.rglob("buildspec.yml"):
        spec = yaml.safe_load(buildspec.read_text())
        installs = [c for phase in spec["phases"].values() for c in phase.get("commands", []) if "pip install" in c]
        assert installs, buildspec
        assert all(c.startswith("source ./package_index.sh && ") for c in installs), buildspec


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_build_logs_in_to_the_repository_the_environment_names(mirrored, tmp_path):
    """The SSM value the environment writes, through the seed's script: the mirror's domain, owner, repository."""
    (tmp_path / "aws").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {tmp_path}/calls\n')
    (tmp_path / "aws").chmod(0o755)
    subprocess.run(
        ["bash", "-c", f"source {SEED / 'model-deploy' / 'package_index.sh'}"],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "PACKAGE_INDEX": ssm_values(mirrored)[INDEX_SSM]},
        check=True,
        capture_output=True,
    )
    args = (tmp_path / "calls").read_text().split()
    options = dict(zip(args[4::2], args[5::2], strict=True))
    assert args[:4] == ["codeartifact", "login", "--tool", "pip"]
    assert options == {
        "--region": "us-east-1",
        "--domain-owner": "123456789012",
        "--domain": "sm-mlops-dev",
        "--repository": package_mirror.REPOSITORY,
    }


# -- every destination of the projects' builds has a route in an internet-free environment -------------------------
# What the SageMaker Python SDK's session calls for the seed's pipeline (PipelineSession): its clients.
SDK_CLIENTS = {"sagemaker", "s3", "sts"}
# What CodeBuild itself does in the VPC for every build: its logs, and the artifacts and source in S3.
CODEBUILD = {"logs", "s3"}
# Where each destination is reached in the VPC: the endpoint catalogue's service (the S3 gateway endpoint for S3).
ROUTES = {
    "s3": "s3",
    "sagemaker": "sagemaker.api",
    "sagemaker-runtime": "sagemaker.runtime",
    "sts": "sts",
    "cloudformation": "cloudformation",
    "ssm": "ssm",
    "logs": "logs",
    "codeartifact": "codeartifact.api",
    "package index": "codeartifact.repositories",
}


def destinations(seed: pathlib.Path) -> set[str]:
    """The AWS services and package indexes ``seed``'s builds contact: every client its scripts create (by name),
    the SDK's when it uses the SDK's session, CodeBuild's own, and what its buildspecs' commands call."""
    found = set(CODEBUILD)
    for path in seed.rglob("*.py"):
        if "tests" in path.parts or "notebooks" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "client":
                (name,) = [a.value for a in node.args[:1] if isinstance(a, ast.Constant)] or [None]
                assert name, f"{path}:{node.lineno}: a client whose service is not a literal"
                found.add(name)
            if isinstance(node, ast.Name) and node.id == "PipelineSession":
                found |= SDK_CLIENTS
    for buildspec in seed.rglob("buildspec.yml"):
        commands = " ".join(c for p in yaml.safe_load(buildspec.read_text())["phases"].values() for c in p["commands"])
        if "pip install" in commands:
            found.add("package index")
        found |= set(re.findall(r"\baws ([a-z0-9-]+) ", commands))
        if "package_index.sh" in commands:
            script = (seed / "package_index.sh").read_text()
            found |= set(re.findall(r"^\s*aws ([a-z0-9-]+) ", script, re.M))
    return found


@pytest.mark.parametrize("seed", ["model-build-train", "model-deploy"])
def test_every_destination_of_a_projects_builds_has_a_route_in_an_internet_free_environment(main, mirrored, seed):
    found = destinations(SEED / seed)
    assert {"package index", "codeartifact", "s3", "logs"} <= found
    unknown = found - set(ROUTES)
    assert not unknown, f"a destination without a known route: {unknown} (add its endpoint to the catalogue)"
    created = set(endpoint_resources(mirrored))
    for destination in sorted(found):
        service = ROUTES[destination]
        assert service in created, destination
        row = endpoints.by_service(service, endpoints.GATEWAY if service == "s3" else endpoints.INTERFACE)
        if row.kind == endpoints.GATEWAY:
            continue  # always there: created, or the VPC's own (whose id a Rule requires)
        # And the Rules refuse to leave it out of an internet-free environment with the mirror.
        assert rule_failures(main, {**MIRROR, row.toggle: "NO"}), row.toggle


def test_the_destination_scan_sees_a_new_client(tmp_path):
    (tmp_path / "step.py").write_text('import boto3\nboto3.client("glue").get_jobs()\n')
    (tmp_path / "buildspec.yml").write_text(yaml.safe_dump({"phases": {"build": {"commands": ["python step.py"]}}}))
    assert destinations(tmp_path) == CODEBUILD | {"glue"}
