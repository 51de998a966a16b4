#!/usr/bin/env python3
"""Benchmark packaging against a local moto S3 server: a full release, then a no-change re-run.

    .venv/bin/python scripts/benchmark_package.py [--seed-code-dir DIR] [--only NAME ...]

Prints, for each run: objects and bytes uploaded, objects left unchanged, packaged templates linted and taken
from the lint cache, and wall time: planning (build, release history, rewrite, lint of the packaged templates)
and publishing (existence checks and uploads).  The lint cache starts empty, as on a new machine, and is
used as ``generate.py package`` uses it: the no-change re-run takes every lint result from it.  ``--only``
publishes only these templates and what they nest, as ``generate.py package --only`` does.  The
bucket starts with one earlier release that holds an environment template, because core-main's product needs one (the
environment templates are generated in a later
release); everything else is built and uploaded by the run being measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed-code-dir", default=None, help="seed code folder (default: a generated sample)")
    ap.add_argument(
        "--only", action="append", metavar="NAME", help="publish only these templates (repeat, or comma-separate)"
    )
    args = ap.parse_args(argv)
    from templates_src.cli import selection_and_config

    # As `generate.py package` reads them (an empty or unknown name is an error, exit 2); the default configuration.
    only, config = selection_and_config(tuple(args.only or ()), None)

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from templates_src import release_layout as layout
    from templates_src.lint import shared_linter
    from templates_src.lint_cache import LintCache
    from templates_src.release.plan import plan_release
    from templates_src.release.publish import Progress, S3Publisher

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._server.server_port}"
    bucket, prefix = "bench-releases", layout.DEFAULT_PREFIX
    try:
        s3 = boto3.client("s3", endpoint_url=url)
        s3.create_bucket(Bucket=bucket)
        body = b"AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  M: {Type: AWS::SNS::Topic}\n"
        digest = hashlib.sha256(body).hexdigest()
        key = layout.content_key(prefix, "templates", "env-main", digest, ".yaml")
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"sha256": digest})
        s3.put_object(
            Bucket=bucket,
            Key=layout.manifest_key(prefix, "0.0.1"),
            Body=json.dumps(
                {"release": "0.0.1", "templates": {"env-main": {"key": key, "sha256": digest, "size": len(body)}}}
            ).encode(),
        )
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache_dir:
            seed = pathlib.Path(args.seed_code_dir) if args.seed_code_dir else pathlib.Path(tmp)
            if not args.seed_code_dir:
                for name in ("model-build-train", "model-deploy"):
                    (seed / name).mkdir()
                    for i in range(20):
                        (seed / name / f"file{i}.py").write_text(f"# sample seed file {i}\n" * 200)
            linter = shared_linter(tuple(config.lint_regions))  # rule loading is a one-off cost, reported apart
            cache = LintCache(cache_dir)
            print(
                f"{'run':<18} {'uploaded':>8} {'bytes':>8} {'unchanged':>9} {'linted':>6} {'cached':>6} "
                f"{'plan s':>7} {'upload s':>8} {'total s':>7}"
            )
            for run in ("full release", "no-change re-run"):
                start = time.perf_counter()
                publisher = S3Publisher(
                    bucket, "us-east-1", endpoint_url=url, progress=Progress(open(os.devnull, "w"), interactive=False)
                )
                publisher.check_bucket()
                target = publisher.target(prefix)
                plan = plan_release(config, target, only or None, publisher.published_manifests(prefix), seed)
                lint = plan.packaged.lint(linter, packaged=True, cache=cache)
                planned = time.perf_counter()
                report = publisher.publish(plan)
                done = time.perf_counter()
                print(
                    f"{run:<18} {len(report.uploaded):8d} {report.bytes_uploaded:8d} {len(report.unchanged):9d} "
                    f"{lint.linted:6d} {lint.cached:6d} {planned - start:7.2f} {done - planned:8.2f} "
                    f"{done - start:7.2f}"
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
