"""Command line of the template generator: build, list, lint, package (``generate.py`` / ``sm-mlops-templates``).

Exit codes: 0 success; 1 lint findings (errors or warnings), nothing published; 2 bad input
(configuration, options, a bucket or release that cannot be used as asked); 3 an AWS or network error
while publishing (a new run continues where it stopped); 4 the generator built templates that do not fit
together (a defect of the generator: nothing is written).

Every error is one line starting with ``error: `` that names the option or configuration field; warnings
(e.g. a malformed manifest of another release in the bucket) start with ``warning: ``.  Publishing retries
throttling, 5xx answers, timeouts and connection errors itself (``templates_src.release.publish``), one
``retrying ...`` line per retry.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

import click

from templates_src import __version__
from templates_src import machine_output as machine
from templates_src.blocks import parameters
from templates_src.config import ConfigError, load
from templates_src.registry import TEMPLATES, unknown

EXIT_LINT = 1
EXIT_INPUT = 2
EXIT_AWS = 3
EXIT_DEFECT = 4
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)

EXIT_CODES = (
    "Exit codes: 0 success; 1 lint findings (nothing published); 2 bad input (configuration, options, "
    "seed code; nothing written or published); 3 an AWS or network error while publishing (a new run "
    "continues where it stopped); 4 a defect of the generator; 130 interrupted (Ctrl-C; what was left "
    "is said)."
)


class StdoutGuard:
    """Standard output that survives its reader going away (``generate.py package ... | head -3``).

    A closed pipe must not change what a run does: the first write that finds the pipe closed sends the rest of
    the output to nowhere (the descriptor is pointed at the null device, so nothing later raises either), the
    run goes on, and at the end one line on standard error says that the report was cut short."""

    def __init__(self, stream):
        self._stream = stream
        self.cut = False

    def _closed(self) -> None:
        if not self.cut:
            self.cut = True
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                pass

    def write(self, text):
        if self.cut:
            return len(text)
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._closed()
            return len(text)

    def flush(self):
        if self.cut:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._closed()

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Cli(click.Group):
    """The command group, with the README's promises kept for every error click itself raises: a usage error is
    one ``error:`` line (exit 2), Ctrl-C exits 130 with what was left, a closed standard output is survived.

    Commands in modules of their own (``LAZY``) are imported when used or listed (click's lazy subcommands):
    they use this module's options, checks and exit codes, so this module cannot import them while loading."""

    LAZY = {"cleanup": "templates_src.cli_cleanup", "releases": "templates_src.cli_releases"}

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            self.add_command(getattr(importlib.import_module(self.LAZY[name]), name))
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        code: int | None = EXIT_DEFECT  # what an unexpected exception ends with (see main())
        try:
            self._main(args, prog_name, complete_var, **extra)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_DEFECT)
            raise
        except Exception as exc:
            machine.note_error(defect_line(exc))  # main() prints it
            raise
        finally:
            machine.finish(code)  # the --output json document, whatever the end

    def _main(self, args, prog_name, complete_var, **extra):
        try:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # no command at all: the help, as asked
                click.echo(exc.format_message())
                sys.exit(0)
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
            error(f"{exc.format_message()}{hint}")
            sys.exit(EXIT_INPUT)
        except click.ClickException as exc:
            error(exc.format_message())
            sys.exit(exc.exit_code if exc.exit_code else EXIT_INPUT)
        except click.exceptions.Abort:
            error("interrupted (Ctrl-C); nothing more was done")
            sys.exit(EXIT_INTERRUPTED)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)


# The end of build's last line when lint results came from the cache (the only difference a warm build makes to
# what it prints: tests/test_lint_cache.py); the README's sample of a first build takes it off.
CACHE_NOTE = "; lint results of {} unchanged file(s) from the cache"


def error(line: str) -> None:
    """One ``error:`` line on standard error (and in the --output json document)."""
    machine.note_error(line)
    click.echo(f"error: {line}", err=True)


def warning(line: str) -> None:
    machine.note_warning(line)
    click.echo(f"warning: {line}", err=True)


OUTPUT_OPTION = click.option(
    "--output",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on standard output (what was done, findings, URLs, next steps, exit_code, "
    "errors); every line meant for people goes to standard error.",
)


def fail_input(lines: list[str] | str) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        error(line)
    sys.exit(EXIT_INPUT)


def split_names(values: tuple[str, ...]) -> list[str]:
    """``--only a --only b``, ``--only a,b`` and ``--only "a, b"`` all work; an empty name is an error
    (``--only ""`` must not silently mean "everything")."""
    names = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                fail_input(
                    f"--only: {value!r} has an empty template name: give template names separated by "
                    "commas (see `generate.py list`)"
                )
            names.append(part.strip())
    return names


def selection_and_config(only: tuple[str, ...], config_path: str | None):
    """The templates asked for (checked against the registry) and the validated configuration."""
    names = split_names(only)
    bad = unknown(names)
    if bad:
        fail_input(f"--only: unknown template {', '.join(bad)} (see `generate.py list`)")
    try:
        return names, load(config_path)
    except ConfigError as exc:
        fail_input(exc.lines)


def fail_defect(lines: list[str]) -> None:
    for line in lines:
        error(line)
    error("this is a defect of the generator, not of your input; nothing was written")
    sys.exit(EXIT_DEFECT)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, message="%(prog)s (sagemaker-secure-mlops-templates) %(version)s")
def cli() -> None:
    """Generate, lint and publish the CloudFormation templates of the secure SageMaker MLOps platform."""


@cli.command(epilog=EXIT_CODES)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Generation-time configuration (YAML or JSON); embedded defaults when omitted.",
)
@click.option(
    "--output-dir",
    default="build",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the templates are written.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "both"]),
    default="yaml",
    show_default=True,
    help="Write each template as YAML, JSON or both (the same content).",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="NAME",
    help="Build only these templates (repeat, or comma-separate) and the templates they nest.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Lint every template afresh, neither reading nor writing the lint cache (also SM_MLOPS_NO_LINT_CACHE=1).",
)
@OUTPUT_OPTION
def build(
    config_path: str | None, output_dir: str, fmt: str, only: tuple[str, ...], no_cache: bool, output: str
) -> None:
    """Write every template to --output-dir, lint each with cfn-lint and print a summary table.

    Lint results are cached by content (the template's bytes, the nested templates it reads, cfn-lint's
    version and options) in $SM_MLOPS_LINT_CACHE_DIR or ~/.cache/sagemaker-secure-mlops-templates/lint:
    an unchanged template is not linted again.
    """
    from templates_src.contracts import ContractError
    from templates_src.generator import OutputError, generate, write
    from templates_src.lint import shared_linter
    from templates_src.lint_cache import LintCache

    document = machine.start("build") if output == "json" else {}
    names, config = selection_and_config(only, config_path)
    try:
        generation = generate(config, names or None, fmt)
    except ConfigError as exc:  # e.g. a name prefix too long for the names built from it
        fail_input(exc.lines)
    except ContractError as exc:
        fail_defect(exc.lines)
    report = generation.lint(shared_linter(tuple(config.lint_regions)), cache=LintCache.default(not no_cache))
    start = time.perf_counter()
    try:
        write(generation.files(), output_dir)
    except OutputError as exc:
        fail_input(exc.lines)
    written = time.perf_counter() - start
    for line in generation.warnings:
        warning(line)
    for line in report.problems:
        click.echo(line, err=True)
    for line in report.table():
        click.echo(line)
    click.echo(
        f"{len(report.rows)} file(s) in {output_dir}/"
        + (f", {len(generation.assets)} function package(s)" if generation.assets else "")
        + (CACHE_NOTE.format(report.cached) if report.cached else "")
    )
    if os.environ.get("SM_MLOPS_TIMINGS"):
        _print_timings({**generation.timings, **report.timings, "write": written}, report)
    document.update(
        output_dir=output_dir,
        files=_lint_rows(report),
        function_packages=sorted(generation.assets),
        lint_results_from_cache=report.cached,
        lint_failed=report.failed,
    )
    sys.exit(EXIT_LINT if report.failed else 0)


def _finding(result, finding) -> dict:
    return {
        "rule": finding.rule,
        "level": finding.severity,
        "line": finding.line,
        "message": finding.message,
        "tolerated": result.tolerated(finding),
    }


def _lint_rows(report) -> list[dict]:
    """The lint table as data: one entry per file, with its findings."""
    rows = []
    for rel, resources, parameters_, size, note in report.rows:
        result = report.results[rel]
        rows.append(
            {
                "file": rel,
                "template": rel.rsplit(".", 1)[0],
                "resources": resources,
                "parameters": parameters_,
                "bytes": size,
                "lint": note,
                "failed": result.failed or rel in report.too_large,
                "findings": [_finding(result, f) for f in result.findings],
            }
        )
    return rows


def _print_timings(timings: dict[str, float], report) -> None:
    """``SM_MLOPS_TIMINGS=1``: one line on stderr with the seconds of each phase (for scripts/benchmark.py)."""
    phases = " ".join(
        f"{name}={timings.get(name, 0.0):.3f}" for name in ("build", "render", "cache", "load", "lint", "write")
    )
    click.echo(f"timings: {phases} linted={report.linted} cached={report.cached}", err=True)


@cli.command(name="list", epilog=EXIT_CODES)
@OUTPUT_OPTION
def list_templates(output: str) -> None:
    """The templates this generator builds: name, family, one-line description."""
    if output == "json":
        machine.start("list")["templates"] = [
            {
                "name": name,
                "family": spec.family,
                "description": spec.description,
                "deployed": spec.deployed,
                "deploy_directly": spec.deploy_directly,
            }
            for name, spec in TEMPLATES.items()
        ]
        return
    width = max(map(len, TEMPLATES))
    family = max(len(spec.family) for spec in TEMPLATES.values())
    for name, spec in TEMPLATES.items():
        marker = " [deploy directly]" if spec.deploy_directly else ""
        click.echo(f"{name:<{width}}  {spec.family:<{family}}  {spec.description}{marker}")


@cli.command(name="docs", epilog=EXIT_CODES)
@click.option(
    "--output-dir",
    default="docs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the documentation is written.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Generation-time configuration (YAML or JSON); embedded defaults when omitted.",
)
def docs_command(output_dir: str, config_path: str | None) -> None:
    """Write the reference documentation: every template's parameters, the configuration options, and
    diagrams Graphviz's dot draws from the templates (nesting, StackSets, Service Catalog, resources).

    The same input always gives the same bytes; the files are written all or nothing.
    """
    import shutil

    from templates_src import docs
    from templates_src.contracts import ContractError
    from templates_src.generator import OutputError, write

    try:
        config = load(config_path)
    except ConfigError as exc:
        fail_input(exc.lines)
    if shutil.which("dot") is None:
        fail_input(docs.DOT_MISSING)
    try:
        files = docs.documents(config)
    except (ConfigError, docs.GraphvizMissing) as exc:
        fail_input(exc.lines)
    except ContractError as exc:
        fail_defect(exc.lines)
    try:
        write(files, output_dir)
    except OutputError as exc:
        fail_input(exc.lines)
    pages = [rel for rel in files if rel.startswith(f"{docs.PARAMETERS}/") and not rel.endswith("README.md")]
    diagrams = [rel for rel in files if rel.endswith(".svg")]
    click.echo(
        f"{len(files)} file(s) in {output_dir}/: configuration.md ({len(list(docs.options()))} fields), "
        f"{len(pages)} parameter page(s) and their index, {len(diagrams)} diagram(s), README.md"
    )


@cli.command(epilog=EXIT_CODES)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=True))
@click.option("--packaged", is_flag=True, help="The templates are packaged: local paths (W3002) are errors too.")
@click.option("--region", "regions", multiple=True, help="Regions to check against (default: us-east-1).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "sarif"]),
    default="text",
    show_default=True,
    help="sarif: a SARIF 2.1.0 log (cfn-lint's) of the findings that count on standard output, for code-scanning "
    "tools; the per-file lines go to standard error.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Lint every file afresh, neither reading nor writing the lint cache (also SM_MLOPS_NO_LINT_CACHE=1). "
    "--format sarif always lints afresh (its log needs cfn-lint's own results).",
)
@OUTPUT_OPTION
def lint(
    paths: tuple[str, ...], packaged: bool, regions: tuple[str, ...], fmt: str, no_cache: bool, output: str
) -> None:
    """Lint templates with cfn-lint (default: every template in build/).

    Lint results are cached as `build` caches them: a file whose bytes, nested templates, cfn-lint version and
    options are unchanged since it was last linted (by `build` or `lint`) is not linted again."""
    from templates_src.lint import shared_linter
    from templates_src.lint_cache import LintCache

    if fmt == "sarif" and output == "json":
        fail_input("--format sarif and --output json each write a document on standard output: choose one")
    wanted = "sarif" if fmt == "sarif" else output
    document = machine.start("lint", kind=wanted) if wanted != "text" else {}
    _check_lint_regions(regions)
    files: list[pathlib.Path] = []
    for p in paths or ("build",):
        path = pathlib.Path(p)
        if path.is_dir():
            files += sorted(f for f in path.iterdir() if f.suffix in (".yaml", ".yml", ".json") and f.is_file())
        elif path.exists():
            files.append(path)
    if not files:
        fail_input("lint: no templates found (run `generate.py build` first, or give paths)")
    linter = shared_linter(tuple(regions) or ("us-east-1",))
    failed = False
    counted, rows = [], []
    if fmt == "sarif":  # cfn-lint's own matches, which the cache does not keep
        linted = {}
        for path in files:
            start = time.perf_counter()
            result, matches = linter.lint_with_matches(path, packaged=packaged)
            counted += matches
            linted[path] = (result, f"{time.perf_counter() - start:.2f}s")
    else:
        linted = _lint_files(files, linter, packaged, LintCache.default(not no_cache))
    for path in files:
        result, how = linted[path]
        for finding in result.findings:
            if not result.tolerated(finding):
                click.echo(str(finding))
        click.echo(f"{path}: {result.summary()} [{how}]")
        rows.append(
            {
                "file": str(path),
                "lint": result.summary(),
                "failed": result.failed,
                "findings": [_finding(result, f) for f in result.findings],
            }
        )
        failed |= result.failed
    if fmt == "sarif":
        from cfnlint.formatters import SARIFFormatter

        machine.set_payload(SARIFFormatter().print_matches(counted, linter.runner.rules, linter.config))
    document.update(files=rows, regions=list(linter.regions), packaged=packaged, lint_failed=failed)
    sys.exit(EXIT_LINT if failed else 0)


def _lint_files(files: list[pathlib.Path], linter, packaged: bool, cache) -> dict[pathlib.Path, tuple]:
    """Each file's lint result (reported under the path as given) and how it was had: ``from the cache``, or the
    seconds its folder's lint took.  Files are linted in place, folder by folder, in parallel processes as
    `build` lints them; the other templates of a folder are the nested templates a lint may read."""
    from templates_src.lint import TEMPLATE_SUFFIXES, Finding, LintResult, check

    folders: dict[pathlib.Path, list[pathlib.Path]] = {}
    for path in files:
        folders.setdefault(path.parent, []).append(path)
    done = {}
    for folder, paths in folders.items():
        siblings = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in TEMPLATE_SUFFIXES and p.is_file()}
        start = time.perf_counter()
        report = check(siblings, linter, packaged, cache=cache, folder=folder, only=[p.name for p in paths])
        seconds = f"{time.perf_counter() - start:.2f}s" + (f" for {report.linted} files" if report.linted > 1 else "")
        for path in paths:
            found = report.results[path.name]
            result = LintResult(
                str(path), [Finding(f.rule, str(path), f.line, f.message) for f in found.findings], packaged
            )
            done[path] = (result, "from the cache" if path.name in report.from_cache else seconds)
    return done


def _check_lint_regions(regions: tuple[str, ...]) -> None:
    from cfnlint.helpers import REGIONS

    bad = [r for r in regions if r not in REGIONS]
    if bad:
        fail_input(
            f"--region: unknown region {', '.join(map(repr, bad))}: give regions cfn-lint knows, like "
            "us-east-1 or eu-west-1"
        )


# The same rule as the templates' bucket-name parameters (one definition, a Java-compatible pattern).
BUCKET_NAME = parameters.BUCKET_NAME
BUCKET_RULES = (
    "3 to 63 characters a-z, 0-9, '.' and '-', starting and ending with a letter or digit, no '..', "
    "'.-' or '-.', not an IP address, no reserved prefix (xn--, sthree-, amzn-s3-demo-) or suffix "
    "(-s3alias, --ol-s3, --x-s3, --table-s3)"
)
KEY_PREFIX = r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*"
# The folder holding templates_src/: the repository root in a checkout (with seed_code/ next to it),
# site-packages when installed from a wheel (no seed_code/ there).
PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


def _check_option(name: str, value: str | None, pattern: str, what: str) -> None:
    import re

    if value is not None and not re.fullmatch(pattern, value):
        fail_input(f"{name}: {value!r} is not {what}")


def _check_prefix(prefix: str) -> None:
    """Segments separated by single '/', none of them empty, '.' or '..' (which URLs and tools resolve as
    relative paths, so the published URLs would not name the objects)."""
    segments = prefix.split("/")
    if "" in segments:
        fail_input(
            f"--prefix: {prefix!r} is not a key prefix: it has an empty segment (a leading, trailing or "
            "double '/'); e.g. sagemaker-mlops or sagemaker-mlops/team-a"
        )
    if any(s in (".", "..") for s in segments):
        fail_input(
            f"--prefix: {prefix!r} is not a key prefix: '.' and '..' segments are resolved as relative "
            "paths by URLs and tools; use plain names, e.g. sagemaker-mlops/team-a"
        )
    _check_option(
        "--prefix", prefix, KEY_PREFIX, "a key prefix: segments of A-Z a-z 0-9 ! _ . * ' ( ) - separated by '/'"
    )


def region_partition(region: str) -> str | None:
    """The partition botocore puts ``region`` in (its region list or its region pattern), or None."""
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    try:
        return botocore.session.get_session().get_partition_for_region(region)
    except UnknownRegionError:
        return None


def _check_region(region: str | None) -> None:
    """A region botocore knows (any partition: its region list or its region pattern), like cfn-lint."""
    if region is not None and region_partition(region) is None:
        fail_input(
            f"--region: {region!r} is not an AWS region botocore knows: pass --region with a region like eu-west-1"
        )


def _check_pinned(config, region: str) -> None:
    """Values pinned in the configuration that tie the release to a partition or region must be the release's:
    its functions' code is read from the release bucket, which Lambda requires in the function's own region,
    and CloudWatch Logs encrypts only with a key of its own region."""
    partition = region_partition(region)
    if config.logs_kms_key_arn:
        _, key_partition, _, key_region, _ = config.logs_kms_key_arn.split(":", 4)
        if (key_partition, key_region) != (partition, region):
            fail_input(
                f"logs_kms_key_arn: the pinned key is in {key_region} ({key_partition}), the release in "
                f"{region} ({partition}): stacks of this release deploy in {region} only (Lambda reads the "
                f"functions' code from the release bucket's region) and CloudWatch Logs takes keys of its "
                f"own region only; pin a key of {region}, or publish to --region {key_region}"
            )
    boundary = config.permissions_boundary or ""
    if boundary.startswith("arn:") and boundary.split(":")[1] != partition:
        fail_input(
            f"permissions_boundary: {boundary!r} is in partition {boundary.split(':')[1]}, the release in "
            f"{region} (partition {partition}): give a policy of the release's partition, or its name"
        )


def _check_endpoint(url: str | None) -> None:
    from urllib.parse import urlsplit

    if url is None:
        return
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        fail_input(f"--endpoint-url: {url!r} is not a URL like https://s3.example.com or http://127.0.0.1:9000")


def seed_code_folder(option: str | None) -> pathlib.Path:
    """The seed-code folder: the option, or seed_code/ of the project (not of the working directory).

    Releases are immutable, so a missing folder is an error rather than a release without seed code.
    """
    if option is None:
        path = PROJECT_ROOT / "seed_code"
        if not path.is_dir():
            fail_input(
                f"--seed-code-dir: there is no seed_code folder in {PROJECT_ROOT} (an installed package "
                "has none): pass --seed-code-dir with the folder whose subfolders are the MLOps project "
                "seed code"
            )
        return path
    path = pathlib.Path(option)
    if not path.is_dir():
        fail_input(
            f"--seed-code-dir: {option} {'is not a folder' if path.exists() else 'does not exist'} "
            f"(relative to {pathlib.Path.cwd()}); nothing was published: give the folder whose subfolders "
            "are the MLOps project seed code"
        )
    return path


@cli.command(epilog=EXIT_CODES)
@click.option("--bucket", required=True, help="S3 bucket to publish to (in --region).")
@click.option("--prefix", default="sagemaker-mlops", show_default=True, help="Key prefix of the release.")
@click.option("--region", help="Region of the bucket and the stacks (default: the AWS session's region).")
@click.option("--profile", help="AWS profile to use.")
@click.option("--endpoint-url", help="S3 endpoint (for tests against a local S3).")
@click.option("--create-bucket", is_flag=True, help="Create the bucket (private, encrypted, versioned) if missing.")
@click.option("--dry-run", is_flag=True, help="Show what would be uploaded; write nothing.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Generation-time configuration.")
@click.option(
    "--only", "only", multiple=True, metavar="NAME", help="Publish only these templates (and what they nest)."
)
@click.option(
    "--seed-code-dir",
    default=None,
    show_default="seed_code/ of the repository",
    help="Folder whose subfolders are zipped as MLOps project seed code; it must exist.",
)
@click.option("--no-cache", is_flag=True, help="Lint the packaged templates afresh, without the lint cache.")
@OUTPUT_OPTION
def package(
    bucket: str,
    prefix: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    create_bucket: bool,
    dry_run: bool,
    config_path: str | None,
    only: tuple[str, ...],
    seed_code_dir: str | None,
    no_cache: bool,
    output: str,
) -> None:
    """Build, lint and publish a release to S3: templates, function packages and seed code."""
    from templates_src.contracts import ContractError
    from templates_src.lint import shared_linter
    from templates_src.lint_cache import LintCache
    from templates_src.release.model import PlanError
    from templates_src.release.next_steps import next_steps
    from templates_src.release.plan import plan_release
    from templates_src.release.publish import PublishError, S3Publisher

    document = machine.start("package") if output == "json" else {}
    _check_option("--bucket", bucket, BUCKET_NAME, f"an S3 bucket name ({BUCKET_RULES})")
    _check_prefix(prefix)
    _check_region(region)
    _check_endpoint(endpoint_url)
    seed_dir = seed_code_folder(seed_code_dir)
    names, config = selection_and_config(only, config_path)

    start = time.perf_counter()
    linter = shared_linter(tuple(config.lint_regions))
    publisher = plan = None

    def phase(text: str) -> None:  # on standard error: what is happening, so a long plan or lint is never silent
        click.echo(text, err=True)

    try:
        # Read only until the release is planned and linted: a plan that fails leaves nothing behind.
        publisher = S3Publisher(bucket, region, profile, endpoint_url)
        _check_pinned(config, publisher.region)
        phase(f"checking bucket s3://{bucket} in {publisher.region} ...")
        exists = publisher.check_bucket(create=create_bucket)
        target = publisher.target(prefix)
        history = publisher.published_manifests(prefix, config.version) if exists else []
        for line in publisher.warnings:
            warning(line)
        phase(f"planning release {config.version} (building and packaging the templates) ...")
        plan = plan_release(config, target, names or None, history, seed_dir, PROJECT_ROOT / "notebooks")
        for line in plan.warnings:
            warning(line)
        phase(f"linting {len(plan.packaged.templates)} packaged template(s) ...")
        lint_report = plan.packaged.lint(linter, packaged=True, cache=LintCache.default(not no_cache))
        if lint_report.failed:
            for line in ["packaged templates do not lint clean, nothing was published:", *lint_report.problems]:
                error(line)
            sys.exit(EXIT_LINT)
        if not exists and not dry_run:
            publisher.create_bucket()
        report = publisher.publish(plan, dry_run=dry_run, bucket_exists=exists)
        if exists and not dry_run:
            _check_studio_cors(publisher, bucket)
    except ConfigError as exc:
        fail_input(exc.lines)
    except ContractError as exc:
        fail_defect(exc.lines)
    except PlanError as exc:
        fail_input(exc.lines)
    except PublishError as exc:
        error(str(exc))
        sys.exit(EXIT_AWS if exc.resumable else EXIT_INPUT)
    except KeyboardInterrupt:
        error(f"interrupted (Ctrl-C); {_what_was_left(publisher, plan, bucket, prefix, config.version)}")
        sys.exit(EXIT_INTERRUPTED)

    where = f"s3://{bucket}/{prefix}/"
    document.update(
        release=plan.release,
        bucket=bucket,
        prefix=prefix,
        region=target.region,
        dry_run=dry_run,
        already_published=report.already_published,
        uploaded=[{"key": a.key, "bytes": a.size} for a in report.uploaded],
        unchanged=[a.key for a in report.unchanged],
        files=_lint_rows(lint_report),
        entry_urls=dict(plan.entry_urls),
        template_urls=dict(plan.template_urls),
        manifest_url=target.url(plan.manifest.key),
    )
    if dry_run:
        click.echo(f"dry run: release {plan.release} to {where}" + ("" if exists else " (bucket would be created)"))
        for artifact in report.uploaded:
            click.echo(f"would upload {artifact.key} ({artifact.size} bytes)")
        click.echo(
            f"{len(report.uploaded)} object(s) ({sum(a.size for a in report.uploaded)} bytes) would be "
            f"uploaded, {len(report.unchanged)} unchanged; nothing was written"
        )
        return
    if report.already_published and not report.uploaded:
        click.echo(f"release {plan.release} is already published in {where}: nothing uploaded")
    elif report.already_published:
        click.echo(
            f"release {plan.release} was published meanwhile by another run with the same content in "
            f"{where}: this run uploaded {len(report.uploaded)} of its object(s), "
            f"{len(report.unchanged)} were already there"
        )
    else:
        click.echo(
            f"published release {plan.release} to {where}: {len(report.uploaded)} object(s) uploaded "
            f"({report.bytes_uploaded} bytes), {len(report.unchanged)} unchanged"
            + (f", {len(report.retagged)} re-tagged" if report.retagged else "")
            + f", {time.perf_counter() - start:.1f} s"
        )
    for line in lint_report.table():
        click.echo(line)
    if plan.entry_urls:
        click.echo(f"entry templates (release {plan.release}: what users deploy; the URLs stay with this release):")
        width = max(map(len, plan.entry_urls))
        for name, url in plan.entry_urls.items():
            click.echo(f"  {name:<{width}}  {url}")
    click.echo("content-addressed templates (what the entries nest; each URL changes only with its content):")
    width = max(map(len, plan.template_urls))
    for name, url in plan.template_urls.items():
        click.echo(f"  {name:<{width}}  {url}")
    click.echo(f"  {'manifest':<{width}}  {target.url(plan.manifest.key)}")
    steps = next_steps(plan, publisher.account_id())
    document["next_steps"] = steps
    if steps:
        click.echo("next:")
        for line in steps:
            click.echo(f"  {line}")


def _check_studio_cors(publisher, bucket: str) -> None:
    """A bucket ``package`` did not create is the owner's to configure: say how Studio gets to read the project
    templates when its CORS configuration does not allow it (or cannot be read)."""
    from templates_src.release.publish import studio_cors_command

    readable = publisher.studio_can_read()
    if readable:
        return
    why = "does not let" if readable is False else "could not be checked (no s3:GetBucketCORS) whether it lets"
    warning(
        f"bucket {bucket} {why} Studio read the release's S3 project templates (a CORS rule for Studio's "
        f"origin); to list them in Studio, run: {studio_cors_command(bucket, publisher.region)}"
    )


def _what_was_left(publisher, plan, bucket: str, prefix: str, version: str) -> str:
    """After an interruption: what this run left in the bucket, and what to do about it."""
    state = getattr(publisher, "state", None)
    if state is None or not (state.claimed or state.bucket_created):
        return "nothing was published or written (the run was still checking or planning)"
    left = []
    if state.bucket_created:
        left.append(f"the bucket {bucket} (created)")
    if state.claimed:
        left.append(
            f"the claim of release {version} and {len(state.uploaded)} uploaded object(s)"
            + (f" (and perhaps {state.in_flight}, which was being uploaded)" if state.in_flight else "")
        )
    text = f"release {version} is not published; left in s3://{bucket}/{prefix}/: {', '.join(left)}"
    if state.claimed and plan is not None:
        text += (
            ". Run the same command again to finish it (the same content continues); to publish other "
            f"content under this version, first clear the unpublished release with `{publisher.clear_command(plan)}`"
        )
    return text


def main() -> None:
    """The installed command: an unexpected exception is a defect, reported as one line (exit 4).

    ``SM_MLOPS_TRACEBACK=1`` shows the traceback instead.
    """
    guard = StdoutGuard(sys.stdout)
    sys.stdout = guard
    try:
        cli()
        raise SystemExit(0)  # a command that returns (click's non-standalone mode) ends like one that exits
    except SystemExit as exc:
        _report_cut_output(guard, exc.code)
        _leave(exc.code)
        raise
    except Exception as exc:  # noqa: BLE001 - the last resort; every expected error is handled above
        if os.environ.get("SM_MLOPS_TRACEBACK"):
            raise
        click.echo(f"error: {defect_line(exc)}", err=True)
        _leave(EXIT_DEFECT)
        sys.exit(EXIT_DEFECT)


def defect_line(exc: Exception) -> str:
    text = (str(exc).strip().splitlines() or [""])[0]
    return (
        f"unexpected {type(exc).__name__}: {text} - a defect of the generator; run with SM_MLOPS_TRACEBACK=1 to "
        "see the traceback and report it"
    )


def _report_cut_output(guard: StdoutGuard, code) -> None:
    if guard.cut:
        click.echo(
            f"warning: standard output was closed by its reader before the end; the run went on and ended "
            f"with exit code {code or 0} - run again without the pipe (or with a file) to see the whole "
            "report",
            err=True,
        )


def _leave(code) -> None:
    """End the process now, with ``code``, skipping the interpreter's teardown: freeing cfn-lint's rules and
    schemas object by object takes a quarter to a third of a second, after everything is done.  Exit handlers
    still run and the output is flushed; with other threads running, or an exit message, the normal exit
    happens instead."""
    import atexit
    import threading

    if code is None:
        code = 0
    if not isinstance(code, int) or threading.active_count() > 1:
        return
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:
        return
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
