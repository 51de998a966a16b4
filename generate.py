#!/usr/bin/env python3
"""Command line of the template generator: build, list, lint (and, on top of them, packaging).

Exit codes: 0 success; 1 lint findings (errors or warnings); 2 bad input (configuration, options).
"""

from __future__ import annotations

import pathlib
import sys
import time

import click

from templates_src import __version__
from templates_src.config import ConfigError, load
from templates_src.registry import DIRECT_DEPLOY_LIMIT, TEMPLATES, unknown

EXIT_LINT = 1
EXIT_INPUT = 2


def fail_input(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(EXIT_INPUT)


def split_names(values: tuple[str, ...]) -> list[str]:
    """``--only a --only b`` and ``--only a,b`` both work."""
    return [n for value in values for n in value.split(",") if n]


def print_table(rows: list[tuple], headers: tuple) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:{'>' if i in (1, 2, 3) else '<'}{w}}}" for i, w in enumerate(widths))
    click.echo(fmt.format(*headers))
    for row in rows:
        click.echo(fmt.format(*row))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="generate.py")
def cli() -> None:
    """Generate, lint and publish the CloudFormation templates of the secure SageMaker MLOps platform."""


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Generation-time configuration (YAML or JSON); embedded defaults when omitted.")
@click.option("--output-dir", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Where the templates are written.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json", "both"]), default="yaml", show_default=True)
@click.option("--only", "only", multiple=True, metavar="NAME",
              help="Build only these templates (repeat, or comma-separate) and the templates they nest.")
def build(config_path: str | None, output_dir: str, fmt: str, only: tuple[str, ...]) -> None:
    """Write every template to OUTPUT_DIR, lint each with cfn-lint and print a summary table."""
    from templates_src.generator import generate, write
    from templates_src.lint import Linter

    names = split_names(only)
    bad = unknown(names)
    if bad:
        fail_input(f"--only: unknown template {', '.join(bad)} (see `generate.py list`)")
    try:
        config = load(config_path)
        generation = generate(config, names or None, fmt)
    except ConfigError as exc:
        fail_input(exc.lines)
    write(generation.files(), output_dir)

    linter = Linter(config.lint_regions)
    rows, failed = [], False
    for name, built in generation.templates.items():
        for rel, data in built.files.items():
            result = linter.lint(pathlib.Path(output_dir) / rel)
            note = result.summary()
            if TEMPLATES[name].deploy_directly and len(data) > DIRECT_DEPLOY_LIMIT:
                note += f"; over the {DIRECT_DEPLOY_LIMIT}-byte --template-file limit"
                failed = True
            failed |= result.failed
            rows.append((rel, built.resources, built.parameters, len(data), note))
            for finding in result.findings:
                if not result.tolerated(finding):
                    click.echo(str(finding), err=True)
    print_table(rows, ("template", "resources", "parameters", "bytes", "lint"))
    click.echo(f"{len(rows)} file(s) in {output_dir}/" + (f", {len(generation.assets)} function package(s)"
                                                          if generation.assets else ""))
    sys.exit(EXIT_LINT if failed else 0)


@cli.command(name="list")
def list_templates() -> None:
    """The templates this generator builds, with a one-line description."""
    width = max(map(len, TEMPLATES))
    for name, spec in TEMPLATES.items():
        marker = " [deploy directly]" if spec.deploy_directly else ""
        click.echo(f"{name:<{width}}  {spec.description}{marker}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True))
@click.option("--packaged", is_flag=True, help="The templates are packaged: local paths (W3002) are errors too.")
@click.option("--region", "regions", multiple=True, help="Regions to check against (default: us-east-1).")
def lint(paths: tuple[str, ...], packaged: bool, regions: tuple[str, ...]) -> None:
    """Lint templates with cfn-lint (default: every template in build/)."""
    from templates_src.lint import Linter

    files: list[pathlib.Path] = []
    for p in paths or ("build",):
        path = pathlib.Path(p)
        if path.is_dir():
            files += sorted(f for f in path.iterdir() if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
        elif path.exists():
            files.append(path)
    if not files:
        fail_input("lint: no templates found (run `generate.py build` first, or give paths)")
    linter = Linter(regions or ("us-east-1",))
    failed = False
    for path in files:
        start = time.perf_counter()
        result = linter.lint(path, packaged=packaged)
        for finding in result.findings:
            if not result.tolerated(finding):
                click.echo(str(finding))
        click.echo(f"{path}: {result.summary()} [{time.perf_counter() - start:.2f}s]")
        failed |= result.failed
    sys.exit(EXIT_LINT if failed else 0)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
