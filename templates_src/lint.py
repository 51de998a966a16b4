"""cfn-lint, in-process, with informational rules, loading its rules once for all templates.

``check`` is the one lint-and-report path: ``build`` runs it over the generated files, ``package`` over the
packaged templates of a release, and both print its table.  With a ``lint_cache.LintCache`` it lints only the
files whose results are not cached; cfn-lint is imported only then.  Several files are linted by forked
worker processes that inherit the loaded rules (``Linter.lint_many``, ``SM_MLOPS_LINT_JOBS``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pathlib
import sys
import tempfile
import time
from dataclasses import dataclass, field

# W3002: "may only work with the package command" - the local paths of nested stacks and function code
# in unpackaged output, which packaging rewrites to S3 URLs.  Tolerated there, never after packaging.
PACKAGING_RULE = "W3002"


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    message: str

    @property
    def level(self) -> str:
        return self.rule[0]

    @property
    def severity(self) -> str:
        """cfn-lint's word for the level (as in its SARIF and JSON output)."""
        return {"E": "error", "W": "warning", "I": "informational"}.get(self.level, self.level)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"


@dataclass
class LintResult:
    path: str
    findings: list[Finding]
    packaged: bool = False

    def counted(self, level: str) -> list[Finding]:
        return [f for f in self.findings if f.level == level and not self.tolerated(f)]

    def tolerated(self, finding: Finding) -> bool:
        return finding.rule == PACKAGING_RULE and not self.packaged

    @property
    def failed(self) -> bool:
        return bool(self.counted("E") or self.counted("W"))

    def summary(self) -> str:
        parts = [
            f"{len(self.counted(level))} {word}"
            for level, word in (("E", "error"), ("W", "warning"), ("I", "info"))
            if self.counted(level)
        ]
        tolerated = sum(1 for f in self.findings if self.tolerated(f))
        text = ", ".join(parts) if parts else "ok"
        return text + (f" ({tolerated}x {PACKAGING_RULE} local path)" if tolerated else "")


def _raw(matches) -> list[tuple[str, int, str]]:
    return sorted({(m.rule.id, m.linenumber, m.message) for m in matches}, key=lambda f: (f[1], f[0], f[2]))


class Linter:
    """One cfn-lint runner for any number of templates: the import and rule loading (about 0.6 s) happen once,
    when the first template is actually linted, so a build whose results are all cached never imports
    cfn-lint."""

    INCLUDE_CHECKS = ("I",)

    def __init__(self, regions=("us-east-1",)):
        self.regions = tuple(regions)
        self._config = None
        self._runner = None
        self._reads: set[str] | None = None  # files the template being linted read (nested-stack children)
        self._children: dict = {}  # (path, mtime, size) -> a child's parameters: each child decoded once
        self.tracks_reads = False
        self._rc: dict[str, str] | None = None  # the .cfnlintrc files as they were when the rules were loaded
        self.load_seconds = 0.0  # spent loading cfn-lint by the last ``lint_many`` (0 when loaded before)

    def options(self) -> dict:
        """Everything this linter gives cfn-lint: what makes its results differ from another linter's."""
        return {"include_checks": list(self.INCLUDE_CHECKS), "regions": list(self.regions)}

    def fingerprint(self) -> str:
        """Identifies the results this linter gives for given bytes (the lint cache key), without importing
        cfn-lint: cache format, cfn-lint version, options, the .cfnlintrc files cfn-lint reads (they can
        configure rules), generator version."""
        from templates_src import __version__, lint_cache

        return lint_cache.sha256(
            json.dumps(
                {
                    "format": lint_cache.FORMAT,
                    "cfn-lint": cfn_lint_version(),
                    "options": self.options(),
                    "cfnlintrc": self._rc if self._rc is not None else cfnlintrc_files(),
                    "generator": __version__,
                },
                sort_keys=True,
            ).encode()
        )

    @property
    def loaded(self) -> bool:
        return self._runner is not None

    def load(self) -> None:
        if self._runner is not None:
            return
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        # cfn-lint logs (at ERROR) when a nested template is missing; the finding itself is enough.
        logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
        self._rc = cfnlintrc_files()
        self._config = ConfigMixIn([], include_checks=list(self.INCLUDE_CHECKS), regions=list(self.regions))
        self._runner = Runner(self._config)
        self._follow_children()

    @property
    def config(self):
        self.load()
        return self._config

    @property
    def runner(self):
        self.load()
        return self._runner

    def _follow_children(self) -> None:
        """Nested-stack children (rule E3043 reads their parameters): decode each child file once per linter
        rather than once per stack resource, and note which files a template's lint read (the lint cache
        keeps the result only while those files stay the same).  Without the hook (another cfn-lint), nothing
        is cached."""
        rule = self._runner.rules.data.get("E3043")
        original = getattr(rule, "_get_template_parameters", None)
        if not callable(original):
            return

        def parameters(filename):
            if self._reads is not None:
                self._reads.add(os.path.abspath(filename))
            try:
                stat = os.stat(filename)
                key = (os.path.abspath(filename), stat.st_mtime_ns, stat.st_size)
            except OSError:
                return original(filename)
            if key not in self._children:
                self._children[key] = original(filename)
            return self._children[key]

        rule._get_template_parameters = parameters
        self.tracks_reads = True

    def lint_raw(self, path: str | pathlib.Path) -> tuple[list[tuple[str, int, str]], list[str] | None]:
        """(rule, line, message) of every finding, sorted, and the other files the lint read (absolute paths;
        None when this cfn-lint's reads cannot be followed)."""
        matches, reads = self._run(path)
        return _raw(matches), reads

    def _run(self, path: str | pathlib.Path) -> tuple[list, list[str] | None]:
        from cfnlint.runner.template.runner import run_template_by_file_path

        self.load()
        self._reads = set()
        try:
            matches = list(run_template_by_file_path(str(path), self._config, self._runner.rules, False))
            return matches, sorted(self._reads - {os.path.abspath(path)}) if self.tracks_reads else None
        finally:
            self._reads = None

    def lint_with_matches(self, path: str | pathlib.Path, packaged: bool = False) -> tuple[LintResult, list]:
        """The result, and cfn-lint's own matches of the findings that count (for cfn-lint's formatters, such
        as SARIF): the tolerated ones (``LintResult.tolerated``) are left out."""
        matches, _ = self._run(path)
        result = LintResult(
            str(path), [Finding(rule, str(path), line, msg) for rule, line, msg in _raw(matches)], packaged
        )
        counted = [m for m in matches if not result.tolerated(Finding(m.rule.id, str(path), m.linenumber, ""))]
        return result, sorted(counted, key=lambda m: (m.linenumber, m.rule.id, m.message))

    def lint(self, path: str | pathlib.Path, packaged: bool = False) -> LintResult:
        raw, _ = self.lint_raw(path)
        return LintResult(str(path), [Finding(rule, str(path), line, message) for rule, line, message in raw], packaged)

    def _fork_workers(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _FORKED
        for stream in (sys.stdout, sys.stderr):  # nothing buffered that a worker could write again
            stream.flush()
        _FORKED = self
        try:
            # With fork, the executor starts its workers before any thread of its own.
            return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
        except OSError:
            _FORKED = None
            return None

    def lint_many(
        self, root: pathlib.Path, rels: list[str], jobs: int | None = None
    ) -> dict[str, tuple[list[tuple[str, int, str]], list[str] | None]]:
        """``lint_raw`` of each ``root/rel``, in parallel processes when that helps (see ``lint_jobs``).

        The rules are loaded here first, then the workers are forked: each starts with them loaded (and no
        worker loads them again).  The templates go to whichever worker is free, largest first.  Should the
        workers fail (one died), this process lints them.
        """
        from concurrent.futures.process import BrokenProcessPool

        global _FORKED
        start = time.perf_counter()
        self.load()
        self.load_seconds = time.perf_counter() - start
        self._children.clear()  # children of an earlier run's folder are not read again
        jobs = lint_jobs(len(rels)) if jobs is None else max(1, min(jobs, len(rels)))
        pool = self._fork_workers(jobs) if jobs > 1 else None
        paths = [str(root / rel) for rel in rels]
        done = {}
        if pool is not None:
            order = sorted(paths, key=lambda p: -os.path.getsize(p))
            try:
                with pool:
                    done = dict(zip(order, pool.map(_lint_in_worker, order), strict=False))
            except (BrokenProcessPool, OSError):  # a worker died, or no processes to be had: lint here
                done = {}
            finally:
                _FORKED = None
        return {
            rel: done[path] if path in done else self.lint_raw(path) for rel, path in zip(rels, paths, strict=False)
        }

    def lint_text(self, rel: str, data: bytes, packaged: bool = False) -> LintResult:
        """Lint one template given as bytes (written to a temporary file, reported under ``rel``)."""
        return check({rel: data}, self, packaged).results[rel]


_FORKED: Linter | None = None  # the linter a forked lint worker uses (its copy of the one that forked it)


def _lint_in_worker(path: str):
    return _FORKED.lint_raw(path)


def lint_jobs(templates: int) -> int:
    """How many processes lint ``templates`` files: ``$SM_MLOPS_LINT_JOBS``, else one per available CPU.
    One (this process) for a single template, off Linux (workers are forked: Windows has no fork, macOS's is
    unsafe with its system libraries) and while other threads run (a fork copies their locks, not them)."""
    import multiprocessing
    import threading

    try:
        wanted = int(os.environ.get("SM_MLOPS_LINT_JOBS", "0"))
    except ValueError:
        wanted = 0
    if wanted <= 0:
        try:
            wanted = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            wanted = os.cpu_count() or 1
    if (
        wanted <= 1
        or templates <= 1
        or sys.platform != "linux"
        or threading.active_count() > 1
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    return min(wanted, templates)


def cfn_lint_version() -> str:
    """The installed cfn-lint's version, read from its package metadata (no import of cfn-lint)."""
    from importlib import metadata

    try:
        return metadata.version("cfn-lint")
    except metadata.PackageNotFoundError:
        from cfnlint.version import __version__

        return __version__


def cfnlintrc_files() -> dict[str, str]:
    """The configuration files cfn-lint reads besides its options (user's home, then the working folder: the
    first of .cfnlintrc, .cfnlintrc.yaml, .cfnlintrc.yml in each), path -> SHA-256 of the content."""
    from templates_src.lint_cache import sha256

    found = {}
    try:
        folders = [pathlib.Path.home(), pathlib.Path.cwd()]
    except (RuntimeError, OSError):
        return {"unknown": "no home or working folder"}
    for folder in folders:
        for name in (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml"):
            path = folder / name
            try:
                found[str(path)] = sha256(path.read_bytes())
                break
            except OSError:
                continue
    return found


@functools.lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """The regions cfn-lint knows (``cfnlint.helpers.REGIONS``), read from its source when cfn-lint is not
    imported yet: importing it costs a third of a second, which a build whose lint results are all cached
    does not pay."""
    helpers = sys.modules.get("cfnlint.helpers")
    if helpers is None:
        try:
            import ast
            import importlib.util

            spec = importlib.util.find_spec("cfnlint")
            source = pathlib.Path(spec.origin).with_name("helpers.py").read_text(encoding="utf-8")
            tree = ast.parse(source)
            if "REGIONS = list(AVAILABILITY_ZONES.keys())" in source:
                for node in tree.body:
                    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                    if any(isinstance(t, ast.Name) and t.id == "AVAILABILITY_ZONES" for t in targets):
                        return frozenset(ast.literal_eval(node.value))
        except (AttributeError, OSError, SyntaxError, TypeError, ValueError):
            pass
        from cfnlint import helpers
    return frozenset(helpers.REGIONS)


@functools.lru_cache(maxsize=4)
def shared_linter(regions: tuple[str, ...] = ("us-east-1",)) -> Linter:
    """One linter per region set and process: its rules never change once loaded."""
    return Linter(regions)


@dataclass
class Report:
    """The lint result of a set of template files, as one table row per file and the problems to print."""

    results: dict[str, LintResult] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # findings that count, and size-limit breaches
    too_large: set[str] = field(default_factory=set)  # files over the size limit of how they are deployed
    failed: bool = False
    cached: int = 0  # templates whose findings came from the lint cache
    from_cache: set[str] = field(default_factory=set)  # which ones
    linted: int = 0  # templates cfn-lint linted in this run
    timings: dict[str, float] = field(default_factory=dict)  # seconds: cache, load (cfn-lint), lint

    HEADERS = ("template", "resources", "parameters", "bytes", "lint")

    def table(self) -> list[str]:
        widths = [max(len(str(x)) for x in col) for col in zip(self.HEADERS, *self.rows, strict=False)]
        fmt = "  ".join(f"{{:{'>' if i in (1, 2, 3) else '<'}{w}}}" for i, w in enumerate(widths))
        return [fmt.format(*row).rstrip() for row in [self.HEADERS, *self.rows]]


TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")


def check(
    files: dict[str, bytes],
    linter: Linter,
    packaged: bool = False,
    templates: dict[str, dict] | None = None,
    size_limits: dict[str, int] | None = None,
    cache=None,
    folder: pathlib.Path | None = None,
    only: list[str] | None = None,
) -> Report:
    """Lint template files given in memory (relative path -> bytes, function zips may be among them).

    The files are written to a temporary folder first, so nested-stack paths resolve between them exactly as
    they will in the output folder, and nothing is written where the user looks before the check is done.
    ``folder`` says the files already lie there, as given: they are linted in place (``generate.py lint``).
    ``only`` (relative paths) lints those of the templates; the other files serve as the nested templates
    they may read (the cache checks them).
    ``templates`` (relative path -> rendered dict) feeds the resource and parameter counts of the table;
    ``size_limits`` (relative path -> bytes) flags templates too large for the way users deploy them.
    ``cache`` (a ``lint_cache.LintCache``) gives the findings of files linted before with the same bytes,
    the same nested children and the same linter; only the others are linted (and then cached).
    """
    report = Report()
    rels = [r for r in (files if only is None else only) if r.endswith(TEMPLATE_SUFFIXES)]
    raw: dict[str, list[tuple[str, int, str]]] = {}
    start = time.perf_counter()
    fingerprint = linter.fingerprint() if cache is not None else ""
    if cache is not None:
        for rel in rels:
            found = cache.get(fingerprint, rel, files)
            if found is not None:
                raw[rel] = found
    report.cached = len(raw)
    report.from_cache = set(raw)
    misses = [r for r in rels if r not in raw]
    report.timings["cache"] = time.perf_counter() - start
    if misses:
        start = time.perf_counter()
        with contextlib.ExitStack() as stack:
            if folder is None:
                root = pathlib.Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sm-mlops-lint-")))
                for rel, data in files.items():
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    (root / rel).write_bytes(data)
            else:
                root = pathlib.Path(folder)
            fresh = linter.lint_many(root, misses)
        report.timings["load"] = linter.load_seconds
        report.timings["lint"] = time.perf_counter() - start - linter.load_seconds
        report.linted = len(fresh)
        fingerprint = linter.fingerprint() if cache is not None else ""  # as loaded (the .cfnlintrc read then)
        for rel, (found, reads) in fresh.items():
            raw[rel] = found
            # Not cached: what a lint read is unknown (a cfn-lint whose nested-stack reads cannot be followed)
            # or lies outside the files given (the cache could not tell whether it changed).
            deps = _relative(reads, root) if reads is not None else None
            if cache is not None and deps is not None:
                cache.put(fingerprint, rel, files, found, deps)
        if cache is not None and cache.stored:
            cache.prune()
    for rel in rels:
        result = LintResult(rel, [Finding(rule, rel, line, message) for rule, line, message in raw[rel]], packaged)
        report.results[rel] = result
        note = result.summary()
        limit = (size_limits or {}).get(rel)
        if limit and len(files[rel]) > limit:
            note += f"; over the {limit}-byte limit for how it is deployed"
            report.too_large.add(rel)
            report.problems.append(f"{rel}: {len(files[rel])} bytes, more than the {limit} bytes allowed")
            report.failed = True
        report.failed |= result.failed
        report.problems += [str(f) for f in result.findings if not result.tolerated(f)]
        data = (templates or {}).get(rel) or {}
        report.rows.append(
            (rel, len(data.get("Resources", {})), len(data.get("Parameters", {})), len(files[rel]), note)
        )
    return report


def _relative(paths: list[str], root: pathlib.Path) -> list[str] | None:
    """``paths`` relative to ``root`` (as keys of the files given to ``check``); None when one lies outside
    it, where the cache cannot tell whether it changed (such a result is not cached)."""
    out = []
    for path in paths:
        rel = os.path.relpath(path, root)
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            return None
        out.append(pathlib.PurePath(rel).as_posix())
    return out
