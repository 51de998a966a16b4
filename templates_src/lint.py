"""cfn-lint, in-process, with informational rules, loading its rules once for all templates.

``check`` is the one lint-and-report path: ``build`` runs it over the generated files, ``package`` over the
packaged templates of a release, and both print its table.  With a ``lint_cache.LintCache`` it lints only the
files whose results are not cached; cfn-lint is imported only then.  Several files are linted by forked
worker processes that inherit the loaded rules (``Linter.lint_many``, ``SM_MLOPS_LINT_JOBS``).
"""

from __future__ import annotations

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
        parts = [f"{len(self.counted(level))} {word}" for level, word in (("E", "error"), ("W", "warning"),
                                                                           ("I", "info"))
                 if self.counted(level)]
        tolerated = sum(1 for f in self.findings if self.tolerated(f))
        text = ", ".join(parts) if parts else "ok"
        return text + (f" ({tolerated}x {PACKAGING_RULE} local path)" if tolerated else "")


class Linter:
    """One cfn-lint runner for any number of templates: rule loading (about a second with the import) happens
    once, on the first template actually linted, so a build whose results are all cached never imports
    cfn-lint."""

    INCLUDE_CHECKS = ("I",)

    def __init__(self, regions=("us-east-1",)):
        self.regions = tuple(regions)
        self._config = None
        self._runner = None
        self._reads: set[str] | None = None  # files the template being linted read (nested-stack children)
        self._children: dict = {}  # (path, mtime, size) -> a child's parameters: each child decoded once
        self.tracks_reads = False
        self.load_seconds = 0.0

    def options(self) -> dict:
        """Everything this linter gives cfn-lint: what makes its results differ from another linter's."""
        return {"include_checks": list(self.INCLUDE_CHECKS), "regions": list(self.regions)}

    def fingerprint(self) -> str:
        """Identifies the results this linter gives for given bytes (the lint cache key), without importing
        cfn-lint: cache format, cfn-lint version, options, generator version."""
        from templates_src import __version__, lint_cache

        return lint_cache.sha256(json.dumps(
            {"format": lint_cache.FORMAT, "cfn-lint": cfn_lint_version(), "options": self.options(),
             "generator": __version__}, sort_keys=True).encode())

    @property
    def loaded(self) -> bool:
        return self._runner is not None

    def load(self) -> None:
        if self._runner is not None:
            return
        start = time.perf_counter()
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        # cfn-lint logs (at ERROR) when a nested template is missing; the finding itself is enough.
        logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
        self._config = ConfigMixIn([], include_checks=list(self.INCLUDE_CHECKS), regions=list(self.regions))
        self._runner = Runner(self._config)
        self._follow_children()
        self.load_seconds = time.perf_counter() - start

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
        keeps the result only while those files stay the same).  Without the hook (another cfn-lint), the
        cache assumes a template may have read any file linted with it."""
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

    def lint_raw(self, path: str | pathlib.Path) -> tuple[list[tuple[str, int, str]], list[str]]:
        """(rule, line, message) of every finding, sorted, and the other files the lint read (absolute)."""
        from cfnlint.runner.template.runner import run_template_by_file_path

        self.load()
        self._reads = set()
        try:
            matches = run_template_by_file_path(str(path), self._config, self._runner.rules, False)
            raw = sorted({(m.rule.id, m.linenumber, m.message) for m in matches}, key=lambda f: (f[1], f[0], f[2]))
            return raw, sorted(self._reads - {os.path.abspath(path)})
        finally:
            self._reads = None

    def lint(self, path: str | pathlib.Path, packaged: bool = False) -> LintResult:
        raw, _ = self.lint_raw(path)
        return LintResult(str(path), [Finding(rule, str(path), line, message) for rule, line, message in raw],
                          packaged)

    def lint_many(self, root: pathlib.Path, rels: list[str],
                  jobs: int | None = None) -> dict[str, tuple[list[tuple[str, int, str]], list[str]]]:
        """``lint_raw`` of each ``root/rel``, in parallel processes when that helps (see ``lint_jobs``).

        The rules are loaded here first, then the workers are forked: each starts with them loaded, and the
        templates go to whichever worker is free, largest first.
        """
        self.load()
        self._children.clear()  # children of an earlier run's folder are not read again
        jobs = lint_jobs(len(rels)) if jobs is None else max(1, min(jobs, len(rels)))
        paths = [str(root / rel) for rel in rels]
        if jobs > 1:
            import multiprocessing

            global _FORKED
            order = sorted(paths, key=lambda p: -os.path.getsize(p))
            _FORKED = self
            try:
                with multiprocessing.get_context("fork").Pool(jobs) as pool:
                    done = dict(zip(order, pool.map(_lint_in_worker, order, chunksize=1)))
            except OSError:  # no processes to be had: lint here
                done = {}
            finally:
                _FORKED = None
        else:
            done = {}
        results = {}
        for rel, path in zip(rels, paths):
            raw, reads = done[path] if path in done else self.lint_raw(path)
            results[rel] = (raw, reads)
        return results

    def lint_text(self, rel: str, data: bytes, packaged: bool = False) -> LintResult:
        """Lint one template given as bytes (written to a temporary file, reported under ``rel``)."""
        return check({rel: data}, self, packaged).results[rel]


_FORKED: Linter | None = None  # the linter a forked worker of ``Linter.lint_many`` uses


def _lint_in_worker(path: str):
    return _FORKED.lint_raw(path)


def lint_jobs(templates: int) -> int:
    """How many processes lint ``templates`` files: ``$SM_MLOPS_LINT_JOBS``, else one per available CPU;
    one (this process) when there is only one template, no ``fork`` (Windows; macOS keeps it but Python
    defaults away from it) or other threads running (forking them is unsafe)."""
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
    if (wanted <= 1 or templates <= 1 or sys.platform != "linux" or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
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
    failed: bool = False
    cached: int = 0  # templates whose findings came from the lint cache
    linted: int = 0  # templates cfn-lint linted in this run
    timings: dict[str, float] = field(default_factory=dict)  # seconds: cache, load (cfn-lint), lint

    HEADERS = ("template", "resources", "parameters", "bytes", "lint")

    def table(self) -> list[str]:
        widths = [max(len(str(x)) for x in col) for col in zip(self.HEADERS, *self.rows)]
        fmt = "  ".join(f"{{:{'>' if i in (1, 2, 3) else '<'}{w}}}" for i, w in enumerate(widths))
        return [fmt.format(*row).rstrip() for row in [self.HEADERS, *self.rows]]


TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")


def check(files: dict[str, bytes], linter: Linter, packaged: bool = False,
          templates: dict[str, dict] | None = None, size_limits: dict[str, int] | None = None,
          cache=None) -> Report:
    """Lint template files given in memory (relative path -> bytes, function zips may be among them).

    The files are written to a temporary folder first, so nested-stack paths resolve between them exactly as
    they will in the output folder, and nothing is written where the user looks before the check is done.
    ``templates`` (relative path -> rendered dict) feeds the resource and parameter counts of the table;
    ``size_limits`` (relative path -> bytes) flags templates too large for the way users deploy them.
    ``cache`` (a ``lint_cache.LintCache``) gives the findings of files linted before with the same bytes,
    the same nested children and the same linter; only the others are linted (and then cached).
    """
    report = Report()
    rels = [r for r in files if r.endswith(TEMPLATE_SUFFIXES)]
    raw: dict[str, list[tuple[str, int, str]]] = {}
    start = time.perf_counter()
    fingerprint = linter.fingerprint() if cache is not None else ""
    if cache is not None:
        for rel in rels:
            found = cache.get(fingerprint, rel, files)
            if found is not None:
                raw[rel] = found
    report.cached = len(raw)
    misses = [r for r in rels if r not in raw]
    report.timings["cache"] = time.perf_counter() - start
    if misses:
        start = time.perf_counter()
        linter.load()
        report.timings["load"] = time.perf_counter() - start
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="sm-mlops-lint-") as tmp:
            root = pathlib.Path(tmp)
            for rel, data in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
            fresh = linter.lint_many(root, misses)
        report.timings["lint"] = time.perf_counter() - start
        report.linted = len(fresh)
        for rel, (found, reads) in fresh.items():
            raw[rel] = found
            if cache is not None:
                deps = _relative(reads, root) if linter.tracks_reads else [r for r in rels if r != rel]
                if deps is not None:
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
            report.problems.append(f"{rel}: {len(files[rel])} bytes, more than the {limit} bytes allowed")
            report.failed = True
        report.failed |= result.failed
        report.problems += [str(f) for f in result.findings if not result.tolerated(f)]
        data = (templates or {}).get(rel) or {}
        report.rows.append((rel, len(data.get("Resources", {})), len(data.get("Parameters", {})),
                            len(files[rel]), note))
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
