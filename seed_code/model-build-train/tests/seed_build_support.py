"""Helpers of the model build seed tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

SEED_ROOT = Path(__file__).resolve().parents[1]
if str(SEED_ROOT) not in sys.path:
    sys.path.insert(0, str(SEED_ROOT))

REGION = "eu-west-1"
ACCOUNT = "111122223333"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# What the project's CodeBuild project sets (see the README), with made-up values.
BUILD_ENV = {
    "SAGEMAKER_PROJECT_NAME": "abalone",
    "SAGEMAKER_PROJECT_ID": "p-abc123def456",
    "ENV_NAME": "team1",
    "ENV_TYPE": "dev",
    "DATA_BUCKET": "team1-dev-data-eu-west-1",
    "MODEL_BUCKET": "team1-dev-models-eu-west-1",
    "S3_KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
    "EBS_KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/66666666-7777-8888-9999-000000000000",
    "SUBNET_IDS": "subnet-0aaaaaaaaaaaaaaaa,subnet-0bbbbbbbbbbbbbbbb",
    "SECURITY_GROUP_IDS": "sg-0cccccccccccccccc",
    "SAGEMAKER_PIPELINE_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/team1-dev-sm-pipeline-execution-role",
    "MODEL_PACKAGE_GROUP_NAME": "abalone-p-abc123def456",
    "SAGEMAKER_PIPELINE_NAME": "sagemaker-abalone-p-abc123def456",
}


def apply_fake_aws(patch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for boto3; no profile, no endpoint overrides, no SDK role check setting."""
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL") or key in ("AWS_PROFILE", "SAGEMAKER_VALIDATE_ROLE"):
            patch.delenv(key)
    for key, value in FAKE_AWS.items():
        patch.setenv(key, value)
    import boto3

    patch.setattr(boto3, "DEFAULT_SESSION", None)


class NetworkBlocked(AssertionError):
    """A test reached for the network."""


def block_network(patch: pytest.MonkeyPatch) -> list:
    """Make any DNS lookup or socket connection fail (AF_UNIX sockets stay usable). Returns the list of the
    attempts, so a caller can also catch attempts made (and swallowed) in background threads."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkBlocked(f"network access attempted: {args}")

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family == getattr(socket, "AF_UNIX", None):
            return real_connect(sock, address)
        return refuse(address)

    patch.setattr(socket, "getaddrinfo", refuse)
    patch.setattr(socket, "create_connection", refuse)
    patch.setattr(socket.socket, "connect", connect)
    return attempts


# -- data and models for the container script tests -------------------------------------------------------------
def write_raw_csv(directory: Path, rows: int, seed: int = 7, header: bool = True, name: str = "abalone.csv") -> Path:
    """A synthetic raw data set as the pipeline's input file."""
    from pipelines.abalone.data import synthetic_abalone

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    synthetic_abalone(rows, seed).to_csv(path, index=False, header=header)
    return path


def read_split(path: Path):
    """Labels and features of a preprocessed split (label first, no header)."""
    import pandas as pd

    data = pd.read_csv(path, header=None)
    return data.iloc[:, 0].to_numpy(dtype=float), data.iloc[:, 1:].to_numpy(dtype=float)


def train_booster(train_csv: Path, label_offset: float = 0.0, rounds: int = 30):
    """A small XGBoost regressor trained like the pipeline's training step (reg:squarederror)."""
    import xgboost

    labels, features = read_split(train_csv)
    params = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0}
    return xgboost.train(params, xgboost.DMatrix(features, label=labels + label_offset), num_boost_round=rounds)


def pack_model(booster, archive: Path, fmt: str = "ubj") -> Path:
    """Save ``booster`` as the built-in algorithm does: model.tar.gz holding the file ``xgboost-model``, in
    XGBoost's own format (``fmt`` "ubj" or "json") or pickled (``fmt`` "pickle", older algorithm versions)."""
    import pickle
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        model_file = Path(workdir) / "xgboost-model"
        if fmt == "pickle":
            model_file.write_bytes(pickle.dumps(booster))
        else:
            saved = Path(workdir) / f"model.{fmt}"
            booster.save_model(str(saved))
            saved.rename(model_file)
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(model_file, arcname="xgboost-model")
    return archive
