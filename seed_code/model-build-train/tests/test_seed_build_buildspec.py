"""buildspec.yml: the runtime, the install that survives an empty PIP_INDEX_URL, and the commands it runs."""

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


def test_install_installs_the_requirements_and_the_package(buildspec):
    (install,) = commands(buildspec, "install")
    assert "-r requirements.txt ." in install


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    "index, expected", [("", "unset"), ("https://pypi.example/simple", "https://pypi.example/simple")]
)
def test_an_empty_pip_index_url_is_unset_before_pip_runs(buildspec, index, expected):
    (install,) = commands(buildspec, "install")
    guard = install.split("python -m pip", 1)[0]
    script = guard + ' echo "${PIP_INDEX_URL-unset}"'
    result = subprocess.run(
        ["bash", "-c", script],
        env={"PIP_INDEX_URL": index, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == expected


def test_the_data_set_is_ensured_before_the_pipeline_runs(buildspec):
    (ensure,) = commands(buildspec, "pre_build")
    assert ensure.startswith("python -m pipelines.abalone.data ensure")
    assert '--bucket "$DATA_BUCKET"' in ensure and '--key "$DATASET_KEY"' in ensure
    (run,) = commands(buildspec, "build")
    assert run.startswith("python -m pipelines.run_pipeline")
    assert "InputDataUrl=s3://${DATA_BUCKET}/${DATASET_KEY}" in run
