"""The synthetic abalone data set and the build step that puts it into the data bucket."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from pipelines.abalone import data


def test_synthetic_data_set_is_deterministic_and_has_the_abalone_columns():
    first = data.synthetic_abalone(500, seed=3)
    assert list(first.columns) == data.COLUMNS
    assert len(first) == 500
    pd.testing.assert_frame_equal(first, data.synthetic_abalone(500, seed=3))
    assert not first.equals(data.synthetic_abalone(500, seed=4))
    assert set(first["sex"]) == {"M", "F", "I"}
    assert first["rings"].dtype.kind == "i" and first["rings"].between(1, 29).all()
    assert first.isna().sum().sum() == 0


def test_synthetic_measurements_are_plausible_and_informative():
    frame = data.synthetic_abalone()
    assert len(frame) == data.DEFAULT_ROWS
    # Shapes as in the real data set: diameter < length, height < diameter, parts lighter than the whole.
    assert (frame["diameter"] < frame["length"]).all()
    assert (frame["height"] < frame["diameter"]).all()
    parts = frame["shucked_weight"] + frame["viscera_weight"] + frame["shell_weight"]
    assert (parts < frame["whole_weight"] * 1.01).all()
    assert 8.5 < frame["rings"].mean() < 11.5
    # The measurements tell the age, infants are younger: a model has something to learn.
    numeric = frame.drop(columns="sex")
    assert numeric.corr()["rings"]["shell_weight"] > 0.6
    assert numeric.corr()["rings"]["length"] > 0.5
    by_sex = frame.groupby("sex")["rings"].mean()
    assert by_sex["I"] < by_sex["M"] - 1 and by_sex["I"] < by_sex["F"] - 1
    # A least-squares fit on the measurements explains a good part of the variance.
    design = np.column_stack([np.ones(len(frame)), numeric.drop(columns="rings").to_numpy()])
    coefficients, *_ = np.linalg.lstsq(design, frame["rings"].to_numpy(dtype=float), rcond=None)
    residual = frame["rings"].to_numpy() - design @ coefficients
    assert residual.var() < 0.6 * frame["rings"].var()


def test_synthetic_data_set_rejects_an_empty_request():
    with pytest.raises(ValueError):
        data.synthetic_abalone(0)


def test_write_command_writes_a_csv_with_header(tmp_path):
    target = tmp_path / "abalone.csv"
    assert data.main(["write", str(target), "--rows", "25", "--seed", "1"]) == 0
    written = pd.read_csv(target)
    pd.testing.assert_frame_equal(written, data.synthetic_abalone(25, 1), check_dtype=False)


@pytest.fixture
def s3(monkeypatch):
    moto = pytest.importorskip("moto")
    from seed_build_support import REGION, apply_fake_aws, block_network

    apply_fake_aws(monkeypatch)
    attempts = block_network(monkeypatch)  # moto answers in-process; nothing may leave the machine
    with moto.mock_aws():
        import boto3

        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client
    assert attempts == []


def test_ensure_uploads_the_data_set_only_when_absent(s3):
    assert data.ensure_dataset(s3, "data", "datasets/abalone/abalone.csv", rows=40, seed=5) is True
    body = s3.get_object(Bucket="data", Key="datasets/abalone/abalone.csv")["Body"].read()
    assert body == data.to_csv_bytes(data.synthetic_abalone(40, 5))
    assert pd.read_csv(io.BytesIO(body)).shape == (40, len(data.COLUMNS))

    # An object that is there (a data scientist's own data) is kept as it is.
    s3.put_object(Bucket="data", Key="datasets/abalone/abalone.csv", Body=b"own data")
    assert data.ensure_dataset(s3, "data", "datasets/abalone/abalone.csv", rows=40, seed=5) is False
    assert s3.get_object(Bucket="data", Key="datasets/abalone/abalone.csv")["Body"].read() == b"own data"


def test_ensure_command_uploads_with_the_default_key(s3):
    assert data.main(["ensure", "--bucket", "data", "--rows", "30"]) == 0
    head = s3.head_object(Bucket="data", Key=data.DEFAULT_KEY)
    assert head["ContentLength"] == len(data.to_csv_bytes(data.synthetic_abalone(30)))


def test_ensure_does_not_take_access_denied_for_a_missing_object():
    class Denied:
        def head_object(self, **_):
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

        def put_object(self, **_):  # pragma: no cover - must not be reached
            raise AssertionError("uploaded although the object could not be checked")

    with pytest.raises(ClientError):
        data.ensure_dataset(Denied(), "data")
