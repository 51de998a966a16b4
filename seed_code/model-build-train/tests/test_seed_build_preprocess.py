"""preprocess.py (the SKLearn processing job's script) on a small generated data set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipelines.abalone import preprocess
from pipelines.abalone.data import synthetic_abalone
from seed_build_support import read_split, write_raw_csv

MEASUREMENTS = ["length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight"]
FEATURE_COLUMNS = 3 + 7  # one-hot sex + raw measurements
ONE_HOT = {"F": [1.0, 0.0, 0.0], "I": [0.0, 1.0, 0.0], "M": [0.0, 0.0, 1.0]}  # written out, not derived


def run(tmp_path, rows, header=True, seed=42):
    input_dir = tmp_path / "input" / "data"
    write_raw_csv(input_dir, rows, header=header)
    assert (
        preprocess.main(["--input-dir", str(input_dir), "--output-dir", str(tmp_path / "out"), "--seed", str(seed)])
        == 0
    )
    return {split: tmp_path / "out" / split / f"{split}.csv" for split in preprocess.SPLITS}


def test_splits_are_70_15_15_without_header_label_first(tmp_path):
    paths = run(tmp_path, 200)
    sizes = {}
    for split, path in paths.items():
        assert path.is_file()
        first_line = path.read_text().splitlines()[0]
        assert all(_is_number(value) for value in first_line.split(",")), "header row written"
        labels, features = read_split(path)
        assert features.shape[1] == FEATURE_COLUMNS
        sizes[split] = len(labels)
    assert sizes == {"train": 140, "validation": 30, "test": 30}

    # Every raw row lands in exactly one split, its ring count as the label in the first column.
    all_labels = np.concatenate([read_split(path)[0] for path in paths.values()])
    assert sorted(all_labels) == sorted(synthetic_abalone(200, 7)["rings"].astype(float))


def test_features_are_the_one_hot_sex_and_the_raw_measurements(tmp_path):
    """No scaling: every written row is (rings, sex one-hot F/I/M, the seven measurements unchanged), so the
    splits together hold exactly the raw rows, encoded without any statistic of the data."""
    paths = run(tmp_path, 300)
    written = np.vstack([np.column_stack(read_split(path)) for path in paths.values()])
    raw = synthetic_abalone(300, 7)
    expected = np.array(
        [
            [float(row.rings), *ONE_HOT[row.sex], *(float(getattr(row, c)) for c in MEASUREMENTS)]
            for row in raw.itertuples()
        ]
    )
    np.testing.assert_allclose(_sorted_rows(written), _sorted_rows(expected), rtol=0, atol=1e-12)

    # Each split on its own is raw too: not centred, not rescaled (standardisation would make these 0 and 1).
    for path in paths.values():
        _, features = read_split(path)
        assert set(np.unique(features[:, :3])) == {0.0, 1.0}
        np.testing.assert_array_equal(features[:, :3].sum(axis=1), 1.0)
        assert (features[:, 3:] > 0).all() and (features[:, 3:] < 3).all()


def test_input_without_header_gives_the_same_output(tmp_path):
    with_header = run(tmp_path / "a", 120, header=True)
    without_header = run(tmp_path / "b", 120, header=False)
    for split in preprocess.SPLITS:
        assert with_header[split].read_bytes() == without_header[split].read_bytes()


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    first = run(tmp_path / "a", 100, seed=1)["train"].read_bytes()
    assert run(tmp_path / "b", 100, seed=1)["train"].read_bytes() == first
    assert run(tmp_path / "c", 100, seed=2)["train"].read_bytes() != first


def test_bad_rows_are_dropped_and_wrong_files_rejected(tmp_path):
    input_dir = tmp_path / "in"
    frame = synthetic_abalone(20, 1)
    frame.loc[3, "length"] = None
    frame.loc[5, "sex"] = "X"
    input_dir.mkdir()
    frame.to_csv(input_dir / "part.csv", index=False)
    counts = preprocess.preprocess(str(input_dir), str(tmp_path / "out"))
    assert sum(counts.values()) == 18

    (input_dir / "part.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected 9 columns"):
        preprocess.preprocess(str(input_dir), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError):
        preprocess.preprocess(str(tmp_path / "empty"), str(tmp_path / "out"))


def test_transform_layout():
    frame = pd.DataFrame([["I", 0.5, 0.4, 0.1, 0.5, 0.2, 0.1, 0.15, 9]], columns=preprocess.COLUMNS)
    out = preprocess.transform(frame)
    assert list(out.columns) == ["rings", "sex_F", "sex_I", "sex_M", *MEASUREMENTS]
    assert list(out.columns[1:]) == preprocess.FEATURES
    assert out.iloc[0].tolist() == [9.0, 0.0, 1.0, 0.0, 0.5, 0.4, 0.1, 0.5, 0.2, 0.1, 0.15]


def test_every_frame_gets_all_three_sex_columns_in_the_same_order():
    """A split (or a request) holding only some of the categories is still encoded with F, I and M columns."""
    frame = pd.DataFrame(
        [["M", 0.6, 0.5, 0.2, 1.1, 0.5, 0.2, 0.3, 12], ["M", 0.3, 0.2, 0.1, 0.2, 0.1, 0.05, 0.06, 4]],
        columns=preprocess.COLUMNS,
    )
    out = preprocess.transform(frame)
    assert list(out.columns[1:]) == preprocess.FEATURES
    assert out[["sex_F", "sex_I", "sex_M"]].to_numpy().tolist() == [ONE_HOT["M"], ONE_HOT["M"]]
    assert out[MEASUREMENTS].to_numpy().tolist() == frame[MEASUREMENTS].to_numpy().tolist()


def _sorted_rows(matrix):
    return matrix[np.lexsort(matrix.T[::-1])]


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
