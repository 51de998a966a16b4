"""evaluate.py (the evaluation job's script) on real, tiny XGBoost models trained here."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from pipelines.abalone import evaluate, preprocess
from seed_build_support import pack_model, read_split, train_booster, write_raw_csv

xgboost = pytest.importorskip("xgboost")


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("abalone")
    write_raw_csv(root / "raw", 800, seed=11)
    preprocess.preprocess(str(root / "raw"), str(root))
    return root


def run_evaluation(splits, archive, tmp_path):
    output = tmp_path / "evaluation"
    assert (
        evaluate.main(["--model", str(archive), "--test-dir", str(splits / "test"), "--output-dir", str(output)]) == 0
    )
    return json.loads((output / "evaluation.json").read_text())


@pytest.mark.parametrize("fmt", ["ubj", "json", "pickle"])
def test_report_of_a_trained_model(splits, tmp_path, fmt):
    booster = train_booster(splits / "train" / "train.csv")
    archive = pack_model(booster, tmp_path / "model.tar.gz", fmt=fmt)
    report = run_evaluation(splits, archive, tmp_path)

    metrics = report["regression_metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "r2"}
    assert all(set(metric) == {"value", "standard_deviation"} for metric in metrics.values())
    labels, features = read_split(splits / "test" / "test.csv")
    predictions = booster.predict(xgboost.DMatrix(features))
    assert report["samples"] == len(labels) == 120
    assert metrics["mse"]["value"] == pytest.approx(np.mean((predictions - labels) ** 2), rel=1e-6)
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(metrics["mse"]["value"]))
    assert metrics["mae"]["value"] == pytest.approx(np.mean(np.abs(predictions - labels)), rel=1e-6)
    # The model learned something: clearly better than predicting the mean.
    assert metrics["mse"]["value"] < 0.6 * np.var(labels)
    assert metrics["r2"]["value"] > 0.4
    assert 0 < metrics["mse"]["standard_deviation"] < metrics["mse"]["value"]


def test_a_wrong_model_gets_a_larger_mse(splits, tmp_path):
    good = run_evaluation(
        splits, pack_model(train_booster(splits / "train" / "train.csv"), tmp_path / "good.tar.gz"), tmp_path / "good"
    )
    wrong = run_evaluation(
        splits,
        pack_model(train_booster(splits / "train" / "train.csv", label_offset=8.0), tmp_path / "wrong.tar.gz"),
        tmp_path / "wrong",
    )
    assert wrong["regression_metrics"]["mse"]["value"] > good["regression_metrics"]["mse"]["value"] + 40
    assert wrong["regression_metrics"]["mse"]["value"] > 6.0  # the pipeline's gate would stop it


def test_archive_without_the_model_file_is_rejected(splits, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("not a model")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(other, arcname="model.bin")
    with pytest.raises(FileNotFoundError, match="xgboost-model"):
        evaluate.evaluate(str(archive), str(splits / "test"), str(tmp_path / "out"))


def test_archive_escaping_its_directory_is_rejected(splits, tmp_path):
    payload = tmp_path / "payload"
    payload.write_text("x")
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="../xgboost-model")
    with pytest.raises(ValueError, match="refusing"):
        evaluate.load_booster(str(archive))


def test_report_values_on_known_numbers():
    report = evaluate.regression_report([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    metrics = report["regression_metrics"]
    assert metrics["mse"]["value"] == pytest.approx(1.0)
    assert metrics["rmse"]["value"] == pytest.approx(1.0)
    assert metrics["mae"]["value"] == pytest.approx(0.5)
    assert metrics["r2"]["value"] == pytest.approx(1.0 - 1.0 / 1.25)
    assert report == evaluate.regression_report([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    with pytest.raises(ValueError):
        evaluate.regression_report([1.0, 2.0], [1.0])


def test_the_default_data_set_passes_the_pipelines_gate_with_its_hyperparameters(tmp_path, offline_aws):
    """What a first commit runs: the synthetic data set, the training step's hyperparameters, the MSE gate."""
    from pipelines.abalone.pipeline import XGBOOST_HYPERPARAMETERS  # the SDK needs a Region to import

    write_raw_csv(tmp_path / "raw", 4177, seed=42)
    preprocess.preprocess(str(tmp_path / "raw"), str(tmp_path))
    params = {key: value for key, value in XGBOOST_HYPERPARAMETERS.items() if key != "num_round"}
    labels, features = read_split(tmp_path / "train" / "train.csv")
    booster = xgboost.train(
        {**params, "nthread": 1, "seed": 0},
        xgboost.DMatrix(features, label=labels),
        num_boost_round=int(XGBOOST_HYPERPARAMETERS["num_round"]),
    )
    report = run_evaluation(tmp_path, pack_model(booster, tmp_path / "model.tar.gz"), tmp_path)
    assert report["regression_metrics"]["mse"]["value"] <= 6.0
