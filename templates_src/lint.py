"""cfn-lint, in-process, with informational rules, loading its rules once for all templates.

``check`` is the one lint-and-report path: ``build`` runs it over the generated files, ``package`` over the
packaged templates of a release, and both print its table.
"""

from __future__ import annotations

import functools
import logging
import pathlib
import tempfile
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
    """Keeps one cfn-lint runner (rule loading costs about a second) for any number of templates."""

    def __init__(self, regions=("us-east-1",)):
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        # cfn-lint logs (at ERROR) when a nested template is missing; the finding itself is enough.
        logging.getLogger("cfnlint").setLevel(logging.CRITICAL)
        self.config = ConfigMixIn([], include_checks=["I"], regions=list(regions))
        self.runner = Runner(self.config)

    def lint(self, path: str | pathlib.Path, packaged: bool = False) -> LintResult:
        from cfnlint.runner.template.runner import run_template_by_file_path

        matches = run_template_by_file_path(str(path), self.config, self.runner.rules, False)
        findings = sorted(
            {Finding(m.rule.id, str(path), m.linenumber, m.message) for m in matches},
            key=lambda f: (f.line, f.rule, f.message),
        )
        return LintResult(str(path), findings, packaged)

    def lint_text(self, rel: str, data: bytes, packaged: bool = False) -> LintResult:
        """Lint one template given as bytes (written to a temporary file, reported under ``rel``)."""
        return check({rel: data}, self, packaged).results[rel]


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

    HEADERS = ("template", "resources", "parameters", "bytes", "lint")

    def table(self) -> list[str]:
        widths = [max(len(str(x)) for x in col) for col in zip(self.HEADERS, *self.rows)]
        fmt = "  ".join(f"{{:{'>' if i in (1, 2, 3) else '<'}{w}}}" for i, w in enumerate(widths))
        return [fmt.format(*row).rstrip() for row in [self.HEADERS, *self.rows]]


def check(files: dict[str, bytes], linter: Linter, packaged: bool = False,
          templates: dict[str, dict] | None = None, size_limits: dict[str, int] | None = None) -> Report:
    """Lint template files given in memory (relative path -> bytes, function zips may be among them).

    The files are written to a temporary folder first, so nested-stack paths resolve between them exactly as
    they will in the output folder, and nothing is written where the user looks before the check is done.
    ``templates`` (relative path -> rendered dict) feeds the resource and parameter counts of the table;
    ``size_limits`` (relative path -> bytes) flags templates too large for the way users deploy them.
    """
    report = Report()
    with tempfile.TemporaryDirectory(prefix="sm-mlops-lint-") as tmp:
        root = pathlib.Path(tmp)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        for rel in sorted((r for r in files if r.endswith((".yaml", ".yml", ".json"))), key=list(files).index):
            result = linter.lint(root / rel, packaged=packaged)
            result.path = rel
            result.findings = [Finding(f.rule, rel, f.line, f.message) for f in result.findings]
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
