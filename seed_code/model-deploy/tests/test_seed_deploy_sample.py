"""The endpoint test's sample rows against the model the build/train seed trains.

The model's input is what the build/train seed's preprocess.py writes for a raw row (sex one-hot F, I, M, then
the seven measurements unscaled). These tests check, with that seed's own code, that check_endpoint.encode()
gives exactly that for the same rows, that test/sample.csv holds held-out rows of its default data set, and
that a model trained like its pipeline passes the endpoint test's default thresholds on test/sample.csv while
a constant model fails. They skip in a deploy repository without the build/train seed next to it.
"""

from __future__ import annotations

import ast
import csv
import io

import pytest
from seed_deploy_support import SEED_ROOT, load_seed_module

check = load_seed_module("test/check_endpoint.py", "seed_deploy_check_endpoint")
sync = load_seed_module("tests/seed_deploy_sync_sample.py", "seed_deploy_sync_sample")
BUILD_TRAIN = SEED_ROOT.parent / "model-build-train" / "pipelines" / "abalone"


def build_train_module(name: str):
    path = BUILD_TRAIN / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"the build/train seed is not next to this repository ({path})")
    pytest.importorskip("numpy")
    pytest.importorskip("pandas")
    return load_seed_module(path, f"seed_deploy_build_train_{name}")


def sample_rows() -> list[dict]:
    lines = [
        line
        for line in (SEED_ROOT / "test" / "sample.csv").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return list(csv.DictReader(lines))


@pytest.fixture(scope="module")
def default_splits():
    data, preprocess = build_train_module("data"), build_train_module("preprocess")
    return preprocess.split_frame(data.synthetic_abalone(), seed=42)


def test_encoding_uses_the_columns_of_the_preprocessing():
    preprocess = build_train_module("preprocess")
    assert list(check.SEX_CATEGORIES) == list(preprocess.SEX_CATEGORIES)
    assert list(check.NUMERIC_COLUMNS) == list(preprocess.NUMERIC)
    assert preprocess.FEATURES == [f"sex_{c}" for c in check.SEX_CATEGORIES] + list(check.NUMERIC_COLUMNS)


def test_sample_rows_are_held_out_test_rows_with_their_ring_counts(default_splits):
    """Rows the model did not train on (out of step? run tests/seed_deploy_sync_sample.py)."""
    expected = sync.sample_frame(default_splits["test"], 12)
    rows = sample_rows()
    assert len(rows) == len(expected) == 12
    for row, (_, reference) in zip(rows, expected.iterrows(), strict=False):
        assert row["sex"] == reference["sex"] and int(row["rings"]) == int(reference["rings"])
        assert [float(row[c]) for c in check.NUMERIC_COLUMNS] == pytest.approx(
            [float(reference[c]) for c in check.NUMERIC_COLUMNS], abs=1e-9
        )


def test_encode_equals_the_preprocessing_output(default_splits, tmp_path):
    """check_endpoint.encode() of a raw row == the feature columns preprocess.py writes for it (label dropped),
    for every row of the default test split (all three sexes) and so for every sample row."""
    pandas = pytest.importorskip("pandas")
    data, preprocess = build_train_module("data"), build_train_module("preprocess")
    raw = tmp_path / "input"
    raw.mkdir()
    data.synthetic_abalone().to_csv(raw / "abalone.csv", index=False)
    preprocess.preprocess(str(raw), str(tmp_path / "out"))
    written = pandas.read_csv(tmp_path / "out" / "test" / "test.csv", header=None).to_numpy(dtype=float)

    test_split = default_splits["test"]  # the same split, as raw rows read from CSV text like sample.csv
    rows = list(csv.DictReader(io.StringIO(test_split.to_csv(index=False))))
    assert len(rows) == len(written) and {row["sex"] for row in rows} == {"F", "I", "M"}
    for row, reference in zip(rows, written, strict=False):
        assert float(row["rings"]) == reference[0]
        assert check.encode(row) == pytest.approx(list(reference[1:]), rel=0, abs=1e-12)

    sample = {tuple(check.encode(row)) for row in sample_rows()}
    assert sample <= {tuple(check.encode(row)) for row in rows}, "sample rows are rows of that split"


def pipeline_hyperparameters() -> dict:
    """XGBOOST_HYPERPARAMETERS of the build/train pipeline, read without importing the SageMaker SDK."""
    path = BUILD_TRAIN / "pipeline.py"
    for node in ast.parse(path.read_text()).body:
        names = [getattr(t, "id", "") for t in getattr(node, "targets", [])]
        if isinstance(node, ast.Assign) and "XGBOOST_HYPERPARAMETERS" in names:
            return ast.literal_eval(node.value)
    pytest.fail(f"XGBOOST_HYPERPARAMETERS not found in {path}")


def test_a_model_trained_like_the_pipeline_passes_the_default_thresholds(default_splits):
    """The default thresholds pass a sound model with room to spare and fail one that learned nothing."""
    xgboost = pytest.importorskip("xgboost")
    preprocess = build_train_module("preprocess")
    train = preprocess.transform(default_splits["train"]).to_numpy()
    params = pipeline_hyperparameters()
    rounds = int(params.pop("num_round"))
    params["seed"] = 0
    booster = xgboost.train(params, xgboost.DMatrix(train[:, 1:], label=train[:, 0]), num_boost_round=rounds)

    settings = check.Settings.from_env({})
    features, expected = check.load_samples(settings.sample_file)
    predictions = booster.predict(xgboost.DMatrix(features))
    body = ",".join(repr(float(p)) for p in predictions)
    _, mae = check.evaluate(body, expected, settings)
    assert mae < 0.75 * settings.max_mae, f"sound model: mean absolute error {mae:.2f} is close to the threshold"

    # A model that always answers the training mean (it learned nothing) fails.
    constant = ",".join([repr(float(train[:, 0].mean()))] * len(expected))
    with pytest.raises(check.CheckFailed, match="mean absolute error"):
        check.evaluate(constant, expected, settings)
    # Nor does the best constant for these very rows (their median).
    median = sorted(expected)[len(expected) // 2]
    with pytest.raises(check.CheckFailed, match="mean absolute error"):
        check.evaluate(",".join([repr(float(median))] * len(expected)), expected, settings)
