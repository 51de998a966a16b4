"""cfn-lint, in-process, with informational rules, loading its rules once for all templates."""

from __future__ import annotations

import functools
import logging
import pathlib
from dataclasses import dataclass

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


@functools.lru_cache(maxsize=4)
def shared_linter(regions: tuple[str, ...] = ("us-east-1",)) -> Linter:
    """One linter per region set and process: its rules never change once loaded."""
    return Linter(regions)
