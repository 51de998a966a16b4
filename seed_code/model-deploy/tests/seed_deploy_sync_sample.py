"""Rewrite test/sample.csv from the model build/train seed's code.

The endpoint test sends rows the model did not train on. This script runs the build/train seed's data
generator and split (pandas and numpy needed) with their defaults and writes evenly spaced rows of the
held-out test split to test/sample.csv: raw columns and ring count. (The rows need no statistics of the
training data: check_endpoint.encode() turns a raw row into the model's input by itself.)

Usage (from the deploy seed root, with the build/train seed next to it, as in the generator's repository):
    python tests/seed_deploy_sync_sample.py [--build-train ../model-build-train] [--rows 12]
tests/test_seed_deploy_sample.py fails when the file is out of step with that seed.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

SEED_ROOT = Path(__file__).resolve().parents[1]

SAMPLE_HEADER = (
    "# Sample rows for the endpoint test: raw abalone columns and the known ring count. These are rows of the\n"
    "# test split of the model build pipeline's default (synthetic) data set, which the model did not train on.\n"
    "# check_endpoint.py turns each row into the model's input with encode() (sex one-hot, raw measurements).\n"
)


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def default_splits(build_train: Path):
    folder = build_train / "pipelines" / "abalone"
    data = load(folder / "data.py", "sync_build_train_data")
    preprocess = load(folder / "preprocess.py", "sync_build_train_preprocess")
    return preprocess.split_frame(data.synthetic_abalone(), seed=42)


def sample_frame(test_split, rows: int):
    step = max(1, len(test_split) // rows)
    return test_split.iloc[::step].head(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-train", type=Path, default=SEED_ROOT.parent / "model-build-train")
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args(argv)
    sample = sample_frame(default_splits(args.build_train)["test"], args.rows)
    (SEED_ROOT / "test" / "sample.csv").write_text(SAMPLE_HEADER + sample.to_csv(index=False), encoding="utf-8")
    print(f"wrote test/sample.csv ({len(sample)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
