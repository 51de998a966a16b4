"""A synthetic, abalone-like training data set, and the step that makes sure it is in the data bucket.

No downloaded data ships with this repository. ``synthetic_abalone`` draws a data set with the columns of the
UCI abalone data set (sex, shell measurements in mm/200, weights in g/200, and the ring count that gives the age)
from a simple growth model, so that the measurements carry real information about the rings and a regression
model has something to learn. Replace it with your own data: put a CSV file with the same columns (with or
without a header row) at the pipeline's ``InputDataUrl``.

Command line (used by buildspec.yml)::

    python -m pipelines.abalone.data write abalone.csv [--rows 4177] [--seed 42]
    python -m pipelines.abalone.data ensure --bucket DATA_BUCKET [--key datasets/abalone/abalone.csv]
"""

from __future__ import annotations

import argparse
import io
import sys

import numpy as np
import pandas as pd

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
FEATURES = COLUMNS[:-1]
LABEL = "rings"
DEFAULT_ROWS = 4177  # the size of the original data set
DEFAULT_SEED = 42
DEFAULT_KEY = "datasets/abalone/abalone.csv"


def synthetic_abalone(n: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """``n`` abalone-like rows, the same for the same ``seed``.

    The ring count is drawn first (infants younger, adults older); the size follows a saturating growth curve
    of the age with individual variation, the weights grow with the cube of the length, and the shell weight
    also keeps growing with age after the length has levelled off (which is what makes old animals
    distinguishable). Values are rounded like the original data set.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["M", "F", "I"]), size=n, p=[0.37, 0.31, 0.32])
    infant = sex == "I"
    female = sex == "F"

    mean_rings = np.where(infant, 7.9, np.where(female, 11.1, 10.7))
    rings = np.clip(np.rint(rng.gamma(shape=9.0, scale=mean_rings / 9.0)), 1, 29).astype(int)

    growth = 1.0 - np.exp(-(rings + rng.normal(0.0, 1.2, n)) / 5.5)
    length = np.clip(0.7 * growth * rng.normal(1.0, 0.07, n) + np.where(female, 0.015, 0.0), 0.075, 0.815)
    diameter = np.clip(length * rng.normal(0.79, 0.02, n), 0.055, 0.65)
    height = np.clip(diameter * rng.normal(0.34, 0.035, n), 0.01, 0.25)
    whole = np.clip(1.9 * length**3 / 0.343 * rng.normal(1.0, 0.09, n) * 0.65, 0.002, 2.83)
    shucked_share = np.clip(rng.normal(0.45, 0.04, n) - 0.004 * (rings - 10), 0.2, 0.65)
    viscera_share = np.clip(rng.normal(0.22, 0.02, n), 0.1, 0.35)
    shell_share = np.clip(rng.normal(0.25, 0.03, n) + 0.006 * (rings - 10), 0.1, 0.6)
    # The parts weigh less than the whole animal (water and blood are lost when shucking).
    scale = np.minimum(1.0, 0.95 / (shucked_share + viscera_share + shell_share))
    shucked, viscera, shell = (whole * share * scale for share in (shucked_share, viscera_share, shell_share))

    return pd.DataFrame(
        {
            "sex": sex,
            "length": np.round(length, 3),
            "diameter": np.round(diameter, 3),
            "height": np.round(height, 3),
            "whole_weight": np.round(whole, 4),
            "shucked_weight": np.round(shucked, 4),
            "viscera_weight": np.round(viscera, 4),
            "shell_weight": np.round(shell, 4),
            "rings": rings,
        },
        columns=COLUMNS,
    )


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The data set as CSV with a header row (the format preprocess.py reads)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def ensure_dataset(
    s3_client, bucket: str, key: str = DEFAULT_KEY, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED
) -> bool:
    """Upload the synthetic data set to ``s3://bucket/key`` unless an object is already there.

    Returns True if it uploaded. An existing object (your own data) is never replaced. The upload sends no
    encryption headers, so the bucket's default encryption (the environment's S3 key) applies. Any error other
    than "not found" (for example access denied) is raised, not taken for a missing object.
    """
    from botocore.exceptions import ClientError

    try:
        s3_client.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3_client.put_object(
        Bucket=bucket, Key=key, Body=to_csv_bytes(synthetic_abalone(rows, seed)), ContentType="text/csv"
    )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.abalone.data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the synthetic data set to a local CSV file")
    write.add_argument("path")
    ensure = commands.add_parser("ensure", help="upload the synthetic data set to S3 if the object is absent")
    ensure.add_argument("--bucket", required=True)
    ensure.add_argument("--key", default=DEFAULT_KEY)
    ensure.add_argument("--region", default=None)
    for sub in (write, ensure):
        sub.add_argument("--rows", type=int, default=DEFAULT_ROWS)
        sub.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)

    if args.command == "write":
        with open(args.path, "wb") as handle:
            handle.write(to_csv_bytes(synthetic_abalone(args.rows, args.seed)))
        print(f"Wrote {args.rows} rows to {args.path}")
        return 0

    import boto3

    uploaded = ensure_dataset(
        boto3.Session(region_name=args.region).client("s3"), args.bucket, args.key, args.rows, args.seed
    )
    where = f"s3://{args.bucket}/{args.key}"
    print(
        f"Uploaded the synthetic data set ({args.rows} rows) to {where}"
        if uploaded
        else f"Using the existing data set {where}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
