"""Evaluation step (runs in the built-in XGBoost container): model.tar.gz + test split -> evaluation.json.

Unpacks the training job's ``model.tar.gz`` and loads the booster ``xgboost-model`` (the built-in algorithm
saves it in XGBoost's own format, JSON or UBJSON, or, in older versions, pickled; all are read). Predicts the
test split (label in the first column, no header) and writes a report in the model registry's regression
metrics format::

    {"regression_metrics": {"mse": {"value": ..., "standard_deviation": ...}, "rmse": {...},
                            "mae": {...}, "r2": {...}}, "samples": n}

The pipeline's quality gate reads ``regression_metrics.mse.value``, and the registered model package shows
the report as its model quality statistics. Self-contained (numpy, pandas, xgboost) as the job receives it
alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tarfile
import tempfile

import numpy as np
import pandas as pd

BASE_DIR = "/opt/ml/processing"
MODEL_FILE = "xgboost-model"


def _safe_extract(archive: tarfile.TarFile, target: str) -> None:
    root = os.path.realpath(target)
    for member in archive.getmembers():
        destination = os.path.realpath(os.path.join(target, member.name))
        if os.path.commonpath([root, destination]) != root or member.issym() or member.islnk():
            raise ValueError(f"refusing to extract {member.name!r} from the model archive")
    if hasattr(tarfile, "data_filter"):
        archive.extractall(target, filter="data")
    else:  # Python without extraction filters; the members were checked above
        archive.extractall(target)  # noqa: S202


def load_booster(model_archive: str):
    """The booster in ``model_archive`` (a model.tar.gz holding ``xgboost-model``)."""
    import xgboost

    with tempfile.TemporaryDirectory() as workdir:
        with tarfile.open(model_archive, "r:gz") as archive:
            _safe_extract(archive, workdir)
        path = os.path.join(workdir, MODEL_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{MODEL_FILE} is not in {model_archive}")
        with open(path, "rb") as handle:
            raw = handle.read()
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))  # XGBoost's own formats (JSON, UBJSON, legacy binary)
    except xgboost.core.XGBoostError:
        # Older versions of the built-in algorithm pickle the booster. The archive is this pipeline's own
        # training output from the environment's model bucket.
        booster = pickle.loads(raw)  # noqa: S301
        if not isinstance(booster, xgboost.Booster):
            raise TypeError(f"{MODEL_FILE} holds a {type(booster).__name__}, not an XGBoost booster") from None
    return booster


def read_test(test_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and features of every CSV file in ``test_dir`` (label first, no header)."""
    paths = sorted(os.path.join(test_dir, name) for name in os.listdir(test_dir) if name.endswith(".csv"))
    if not paths:
        raise FileNotFoundError(f"no .csv file in {test_dir}")
    data = pd.concat([pd.read_csv(path, header=None) for path in paths], ignore_index=True)
    return data.iloc[:, 0].to_numpy(dtype=float), data.iloc[:, 1:].to_numpy(dtype=float)


def _metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    errors = y_pred - y_true
    mse = float(np.mean(errors**2))
    variance = float(np.var(y_true))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(np.mean(np.abs(errors))),
        "r2": 1.0 - mse / variance if variance > 0 else 0.0,
    }


def regression_report(y_true, y_pred, bootstrap_rounds: int = 200, seed: int = 0) -> dict:
    """MSE, RMSE, MAE and R² of the predictions, each with its standard deviation estimated by bootstrap
    resampling of the test set (fixed seed, so the report is reproducible)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("need as many predictions as labels, and at least one")
    values = _metrics(y_true, y_pred)
    rng = np.random.default_rng(seed)
    samples = [
        _metrics(y_true[rows], y_pred[rows])
        for rows in (rng.integers(0, y_true.size, y_true.size) for _ in range(bootstrap_rounds))
    ]
    return {
        "regression_metrics": {
            name: {"value": value, "standard_deviation": float(np.std([sample[name] for sample in samples]))}
            for name, value in values.items()
        },
        "samples": int(y_true.size),
    }


def evaluate(model_archive: str, test_dir: str, output_dir: str) -> dict:
    """Write ``<output_dir>/evaluation.json`` and return the report."""
    import xgboost

    booster = load_booster(model_archive)
    y_true, features = read_test(test_dir)
    predictions = booster.predict(xgboost.DMatrix(features))
    report = regression_report(y_true, predictions)
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "evaluation.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(BASE_DIR, "model", "model.tar.gz"))
    parser.add_argument("--test-dir", default=os.path.join(BASE_DIR, "test"))
    parser.add_argument("--output-dir", default=os.path.join(BASE_DIR, "evaluation"))
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.test_dir, args.output_dir)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
