"""Preprocessing step (runs in the SageMaker scikit-learn container): raw abalone CSV -> train/validation/test.

Reads every ``*.csv`` file under the input directory (with or without a header row; the columns are those of
``data.py``), drops rows with missing values, shuffles with a fixed seed and splits 70/15/15. Each row is
encoded on its own, with no statistics of any split: ``sex`` one-hot in the fixed order F, I, M, followed by
the seven measurements as they are. (No scaling: gradient-boosted trees split on thresholds, so rescaling a
measurement would not change the model, and a request to the endpoint needs nothing from the training data.)
Each split is written as a CSV file without header or index, the label ``rings`` in the first column, which is
the CSV layout the built-in XGBoost algorithm expects; an endpoint request is the same row without the label.

This file is self-contained (pandas and numpy only) because the job receives it alone.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd

BASE_DIR = "/opt/ml/processing"
COLUMNS = [
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
    "rings",
]
NUMERIC = COLUMNS[1:-1]
LABEL = "rings"
SEX_CATEGORIES = ["F", "I", "M"]  # fixed one-hot order, never derived from the data
FEATURES = [f"sex_{category}" for category in SEX_CATEGORIES] + NUMERIC  # the model input, in order
SPLITS = ("train", "validation", "test")


def read_raw(input_dir: str) -> pd.DataFrame:
    """All CSV files of ``input_dir`` as one frame with the abalone columns."""
    paths = sorted(glob.glob(os.path.join(input_dir, "**", "*.csv"), recursive=True))
    if not paths:
        raise FileNotFoundError(f"no .csv file under {input_dir}")
    frames = []
    for path in paths:
        frame = pd.read_csv(path, header=None, dtype=str)
        if frame.shape[1] != len(COLUMNS):
            raise ValueError(f"{path}: expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), got {frame.shape[1]}")
        if [str(value).strip().lower() for value in frame.iloc[0]] == COLUMNS:
            frame = frame.iloc[1:]
        frames.append(frame)
    raw = pd.concat(frames, ignore_index=True)
    raw.columns = COLUMNS
    raw["sex"] = raw["sex"].str.strip().str.upper()
    for column in NUMERIC + [LABEL]:
        raw[column] = pd.to_numeric(raw[column], errors="coerce")
    raw = raw.dropna()
    raw = raw[raw["sex"].isin(SEX_CATEGORIES)]
    return raw.reset_index(drop=True)


def split_frame(frame: pd.DataFrame, seed: int = 42, fractions=(0.7, 0.15)) -> dict[str, pd.DataFrame]:
    """Shuffle and split into train/validation/test (the rest after train and validation is test)."""
    n = len(frame)
    if n < 3:
        raise ValueError(f"need at least 3 rows to split, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_train = max(1, int(round(n * fractions[0])))
    n_validation = max(1, int(round(n * fractions[1])))
    n_train = min(n_train, n - 2)
    n_validation = min(n_validation, n - n_train - 1)
    bounds = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_validation],
        "test": order[n_train + n_validation :],
    }
    return {name: frame.iloc[rows].reset_index(drop=True) for name, rows in bounds.items()}


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """Label first, then the model input ``FEATURES``: the one-hot ``sex`` columns in the order of
    ``SEX_CATEGORIES``, then the raw measurements. Row by row, so every split and every request is encoded
    alike."""
    out = pd.DataFrame({LABEL: frame[LABEL].astype(float)})
    for category in SEX_CATEGORIES:
        out[f"sex_{category}"] = (frame["sex"] == category).astype(float)
    for column in NUMERIC:
        out[column] = frame[column].astype(float)
    return out


def preprocess(input_dir: str, output_dir: str, seed: int = 42) -> dict[str, int]:
    """Write ``<output_dir>/<split>/<split>.csv`` for each split and return the row counts."""
    splits = split_frame(read_raw(input_dir), seed=seed)
    counts = {}
    for name in SPLITS:
        target = os.path.join(output_dir, name)
        os.makedirs(target, exist_ok=True)
        transform(splits[name]).to_csv(os.path.join(target, f"{name}.csv"), header=False, index=False)
        counts[name] = len(splits[name])
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", default=os.path.join(BASE_DIR, "input", "data"))
    parser.add_argument(
        "--output-dir", default=BASE_DIR, help="the splits go to <output-dir>/train, /validation and /test"
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    counts = preprocess(args.input_dir, args.output_dir, seed=args.seed)
    print(json.dumps({"rows": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
