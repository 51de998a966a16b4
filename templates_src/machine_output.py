"""Machine-readable output: ``--output json`` (build, list, lint, package) and ``lint --format sarif``.

One document on standard output, everything meant for people on standard error.  A command that was asked
for a document calls ``start`` first: from then on standard output *is* standard error (every table, progress
and next-step line goes there unchanged), and the command fills the returned dictionary.  ``finish`` runs when
the command ends, however it ends (success, an ``error:`` exit, Ctrl-C, a defect): it writes the document,
with the exit code and every ``error:`` and ``warning:`` line of the run, to the real standard output.  With
SARIF the document is cfn-lint's SARIF log instead (``set_payload``), written only when the lint ran.

The exit codes stay the documented ones; a script reads ``exit_code`` and ``errors`` from the document or the
process's status, whichever it prefers.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1  # of the JSON document's shape; raised when a field changes meaning or disappears


@dataclass
class _Run:
    document: dict[str, Any] | None = None
    payload: str | None = None
    stdout: Any = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_RUN: _Run | None = None


def start(command: str, kind: str = "json") -> dict[str, Any]:
    """Standard output becomes standard error until ``finish``; returns the document to fill."""
    global _RUN
    document: dict[str, Any] = {"command": command, "format_version": FORMAT_VERSION} if kind == "json" else {}
    _RUN = _Run(document=document if kind == "json" else None, stdout=sys.stdout)
    sys.stdout = sys.stderr
    return document


def active() -> bool:
    return _RUN is not None


def note_error(line: str) -> None:
    if _RUN is not None:
        _RUN.errors.append(line)


def note_warning(line: str) -> None:
    if _RUN is not None:
        _RUN.warnings.append(line)


def set_payload(text: str) -> None:
    """The document to write instead of the JSON one (SARIF)."""
    if _RUN is not None:
        _RUN.payload = text


def finish(code: int | None) -> None:
    """Write the document (if a command started one) and give standard output back."""
    global _RUN
    run, _RUN = _RUN, None
    if run is None:
        return
    sys.stdout = run.stdout
    if run.document is not None:
        run.document.update(exit_code=code or 0, errors=run.errors, warnings=run.warnings)
        text = json.dumps(run.document, indent=2) + "\n"
    elif run.payload is not None:
        text = run.payload.rstrip("\n") + "\n"
    else:
        return
    run.stdout.write(text)
    run.stdout.flush()
