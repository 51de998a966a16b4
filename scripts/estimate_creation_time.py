#!/usr/bin/env python3
"""Estimate how long CloudFormation takes to create a stack tree of the generated templates (no AWS call).

    .venv/bin/python scripts/estimate_creation_time.py [--config FILE] [ROOT] [--param KEY=VALUE ...]

ROOT: the template deployed (default env-main); its nested stacks and StackSets are included, each with the
parameter values its parent passes.  --param sets a parameter of ROOT (repeatable); the others keep their
defaults.  E.g. the internet-free environment: ``--param CreateNATGateways=NO``.

Prints the total seconds and the critical path (the longest chain of resources that wait for each other), one
resource a line with the time it completes.  The seconds per resource type are a model
(templates_src/estimate.py, TYPICAL_SECONDS), for comparing designs, not a measurement.

Exit codes: 0 done, 2 bad input (configuration, unknown template or parameter).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from templates_src import estimate  # noqa: E402
from templates_src.config import ConfigError, load  # noqa: E402
from templates_src.context import BuildContext  # noqa: E402
from templates_src.generator import build_selected  # noqa: E402
from templates_src.registry import TEMPLATES  # noqa: E402


def _parameter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default="env-main", help="template deployed (default: env-main)")
    parser.add_argument("--config", help="generation-time configuration file (default: the embedded defaults)")
    parser.add_argument(
        "--param",
        action="append",
        type=_parameter,
        default=[],
        metavar="KEY=VALUE",
        help="a parameter value of ROOT (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.root not in TEMPLATES:
        print(f"error: no template {args.root!r}; known: {', '.join(TEMPLATES)}", file=sys.stderr)
        return 2
    try:
        templates = build_selected([args.root], BuildContext(load(args.config)))
        result = estimate.estimate(templates, args.root, dict(args.param))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(estimate.describe(result), flush=True)
    except BrokenPipeError:  # the reader stopped early (| head): not an error of the estimate
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
