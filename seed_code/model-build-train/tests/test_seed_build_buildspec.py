"""buildspec.yml: the runtime, the install from the project's or the environment's package index
(package_index.sh), and the commands it runs."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from seed_build_support import SEED_ROOT

yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def buildspec():
    return yaml.safe_load((SEED_ROOT / "buildspec.yml").read_text())


def commands(buildspec, phase):
    return buildspec["phases"][phase]["commands"]


def test_runtime_and_defaults(buildspec):
    assert buildspec["version"] == 0.2
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": 3.12}
    variables = buildspec["env"]["variables"]
    assert int(variables["PIPELINE_WAIT_TIMEOUT_SECONDS"]) < 480 * 60  # below the CodeBuild project's timeout
    assert variables["SAGEMAKER_VALIDATE_ROLE"] == "false"

    from pipelines.abalone.data import DEFAULT_KEY

    assert variables["DATASET_KEY"] == DEFAULT_KEY


def test_install_chooses_the_package_index_then_installs_the_requirements_and_the_package(buildspec):
    (install,) = commands(buildspec, "install")
    choose, pip = install.split(" && ")
    assert choose == "source ./package_index.sh"
    assert pip.startswith("python -m pip install") and "-r requirements.txt ." in pip


REPOSITORY = "arn:aws:codeartifact:eu-west-1:123456789012:repository/team1-dev/pypi"


def choose(tmp_path, **variables):
    """Sources package_index.sh as the build does, with a stand-in aws CLI that records its arguments; returns
    (exit code, PIP_INDEX_URL afterwards or 'unset', the aws CLI's arguments or None, what the script printed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "aws-calls"
    aws = bin_dir / "aws"
    aws.write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" > {calls}\n')
    aws.chmod(0o755)
    script = f'source {SEED_ROOT / "package_index.sh"}; code=$?; echo "index=${{PIP_INDEX_URL-unset}}"; exit $code'
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **variables},
        capture_output=True,
        text=True,
    )
    index = next((line[6:] for line in result.stdout.splitlines() if line.startswith("index=")), None)
    said = "".join(line for line in (result.stdout + result.stderr).splitlines(True) if not line.startswith("index="))
    return result.returncode, index, calls.read_text().split() if calls.exists() else None, said


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("variables", "index"),
    [
        ({"PIP_INDEX_URL": "", "PACKAGE_INDEX": "PyPI"}, "unset"),  # pip's own default, PyPI
        ({}, "unset"),  # a project of an environment older than the package index
        ({"PIP_INDEX_URL": "", "PACKAGE_INDEX": "https://mirror.example/simple"}, "https://mirror.example/simple"),
        # The project's own index wins over the environment's.
        ({"PIP_INDEX_URL": "https://team.example/simple", "PACKAGE_INDEX": REPOSITORY}, "https://team.example/simple"),
    ],
)
def test_pip_uses_the_projects_index_else_the_environments(tmp_path, variables, index):
    code, found, aws, output = choose(tmp_path, **variables)
    assert (code, found, aws) == (0, index, None), output
    assert "mirror.example" not in output and "team.example" not in output  # an index URL is never printed


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_environments_codeartifact_mirror_is_logged_in_to_for_pip(tmp_path):
    code, found, aws, output = choose(tmp_path, PIP_INDEX_URL="", PACKAGE_INDEX=REPOSITORY)
    assert code == 0, output
    assert found == "unset"  # `aws codeartifact login --tool pip` writes pip's configuration instead
    assert aws[:4] == ["codeartifact", "login", "--tool", "pip"]
    options = dict(zip(aws[4::2], aws[5::2], strict=True))
    assert options == {
        "--region": "eu-west-1",
        "--domain-owner": "123456789012",
        "--domain": "team1-dev",
        "--repository": "pypi",
    }


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("value", ["pypi.org", "http://plain.example/simple", "arn:aws:s3:::bucket"])
def test_an_unknown_package_index_fails_the_build(tmp_path, value):
    code, _, aws, output = choose(tmp_path, PACKAGE_INDEX=value)
    assert code == 1 and aws is None
    assert "PACKAGE_INDEX must be" in output


def test_the_data_set_is_ensured_before_the_pipeline_runs(buildspec):
    (ensure,) = commands(buildspec, "pre_build")
    assert ensure.startswith("python -m pipelines.abalone.data ensure")
    assert '--bucket "$DATA_BUCKET"' in ensure and '--key "$DATASET_KEY"' in ensure
    (run,) = commands(buildspec, "build")
    assert run.startswith("python -m pipelines.run_pipeline")
    assert "InputDataUrl=s3://${DATA_BUCKET}/${DATASET_KEY}" in run
