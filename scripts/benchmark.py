#!/usr/bin/env python3
"""Benchmark: how long generation, rendering and cfn-lint take per template (prints numbers, no verdict).

    .venv/bin/python scripts/benchmark.py [--repeat N] [--config FILE]

Build and render times are the median of N runs of the same builder; lint is one in-process cfn-lint
run per template with informational rules, after the rules are loaded once (load time printed apart).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from templates_src.config import load  # noqa: E402
from templates_src.context import BuildContext  # noqa: E402
from templates_src.generator import build_template, generate, render, write  # noqa: E402
from templates_src.lint import Linter  # noqa: E402
from templates_src.registry import TEMPLATES  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--config")
    args = ap.parse_args(argv)
    config = load(args.config)
    ctx = BuildContext(config)

    start = time.perf_counter()
    linter = Linter(config.lint_regions)
    rules_ms = (time.perf_counter() - start) * 1000

    with tempfile.TemporaryDirectory() as tmp:
        tracemalloc.start()
        generation = generate(config)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        write(generation.files(), tmp)
        print(f"{'template':36} {'build ms':>9} {'render ms':>10} {'lint ms':>9} {'bytes':>7} {'resources':>9}")
        totals = [0.0, 0.0, 0.0]
        for name in TEMPLATES:
            template = build_template(name, ctx)
            build_ms = median_ms(lambda: build_template(name, ctx), args.repeat)
            render_ms = median_ms(lambda: render(template, ".yaml"), args.repeat)
            start = time.perf_counter()
            linter.lint(pathlib.Path(tmp) / f"{name}.yaml")
            lint_ms = (time.perf_counter() - start) * 1000
            for i, v in enumerate((build_ms, render_ms, lint_ms)):
                totals[i] += v
            data = generation.templates[name].files[f"{name}.yaml"]
            print(f"{name:36} {build_ms:9.1f} {render_ms:10.1f} {lint_ms:9.1f} {len(data):7d} "
                  f"{generation.templates[name].resources:9d}")
        print(f"{'total':36} {totals[0]:9.1f} {totals[1]:10.1f} {totals[2]:9.1f}")
    print(f"cfn-lint rule loading (once per run): {rules_ms:.0f} ms; peak memory of one full generation: "
          f"{peak / 1024 / 1024:.1f} MiB; repeats: {args.repeat}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
