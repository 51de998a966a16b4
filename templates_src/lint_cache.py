"""cfn-lint results cached by content, so an unchanged rebuild does not lint (nor even import cfn-lint) again.

An entry holds the raw findings of one template file (rule, line, message: what a fresh lint gives, before
``packaged`` decides what is tolerated).  Its key is the SHA-256 of

* the linter's fingerprint (``Linter.fingerprint``): the cache format, the cfn-lint version, every option
  given to cfn-lint (informational rules, regions), the .cfnlintrc files it reads and the generator version;
* the file's path relative to the folder it is linted in (nested-stack paths resolve from there, and it is
  the path the findings are reported under);
* the SHA-256 of the file's bytes.

Besides its own bytes, a template's findings depend on the files cfn-lint reads while linting it: the
children of its nested stacks (E3043 compares the parameters passed with those the child declares).  An entry
records those reads (relative path -> SHA-256, or null for a file that was not there), and is used only while
each of them is still the same; otherwise the template is linted again and the entry replaced.  (A result
whose reads cannot be followed is not cached at all.)

Where: ``$SM_MLOPS_LINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/sagemaker-secure-mlops-templates/lint``, else
``~/.cache/sagemaker-secure-mlops-templates/lint``.  ``SM_MLOPS_NO_LINT_CACHE=1`` (or ``build --no-cache``)
neither reads nor writes it.  The cache is only ever an optimisation: an entry that cannot be read, does not
parse, has another format or another key (a foreign or corrupted file) is a miss; a cache that cannot be
written is skipped silently.  Entries are written to a temporary file in the same folder and renamed into
place, so concurrent builds never see half an entry; the last writer of the same key wins with the same
content.  The folder keeps at most ``MAX_ENTRIES`` entries (the least recently used go first).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Mapping

FORMAT = 1
MAX_ENTRIES = 2000
ENV_DIR = "SM_MLOPS_LINT_CACHE_DIR"
ENV_OFF = "SM_MLOPS_NO_LINT_CACHE"
APP = "sagemaker-secure-mlops-templates"

Raw = list[tuple[str, int, str]]  # (rule, line, message) of each finding, as cfn-lint reports them


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def disabled_by_env() -> bool:
    return os.environ.get(ENV_OFF, "").strip().lower() not in ("", "0", "false", "no")


def default_dir() -> pathlib.Path | None:
    if os.environ.get(ENV_DIR):
        return pathlib.Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(pathlib.Path.home() / ".cache")
        except RuntimeError:  # no home directory to be found
            return None
    return pathlib.Path(base) / APP / "lint"


class LintCache:
    """Lint results in ``folder`` (created on first write), one JSON file per entry."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = pathlib.Path(folder)
        self.hits = 0
        self.stored = 0

    @classmethod
    def default(cls, enabled: bool = True) -> LintCache | None:
        """The user's cache, or None when bypassed (``enabled`` False or ``SM_MLOPS_NO_LINT_CACHE``)."""
        if not enabled or disabled_by_env():
            return None
        folder = default_dir()
        return cls(folder) if folder is not None else None

    @staticmethod
    def key(fingerprint: str, rel: str, data: bytes) -> str:
        return sha256(f"{fingerprint}\0{rel}\0{sha256(data)}".encode())

    def _path(self, key: str) -> pathlib.Path:
        return self.folder / f"{key}.json"

    def get(self, fingerprint: str, rel: str, files: Mapping[str, bytes]) -> Raw | None:
        """The cached findings of ``files[rel]``, or None (a miss) when there is no usable entry."""
        key = self.key(fingerprint, rel, files[rel])
        path = self._path(key)
        try:
            entry = json.loads(path.read_bytes())
            if not (isinstance(entry, dict) and entry.get("format") == FORMAT and entry.get("key") == key):
                return None
            reads = entry["reads"]
            if not isinstance(reads, dict):
                return None
            for dep, digest in reads.items():
                now = files.get(dep)
                if (None if now is None else sha256(now)) != digest:
                    return None
            raw = [(rule, line, message) for rule, line, message in entry["findings"]]
            if not all(isinstance(r, str) and type(n) is int and isinstance(m, str) for r, n, m in raw):
                return None
        except (OSError, ValueError, KeyError, TypeError):  # missing, unreadable, not JSON, not an entry
            return None
        try:
            os.utime(path)  # recently used: the last to be pruned
        except OSError:
            pass
        self.hits += 1
        return raw

    def put(self, fingerprint: str, rel: str, files: Mapping[str, bytes], raw: Raw, reads: list[str]) -> None:
        """Store the findings of ``files[rel]``; ``reads`` are the other files (relative paths) its lint read."""
        key = self.key(fingerprint, rel, files[rel])
        entry = {
            "format": FORMAT,
            "key": key,
            "template": rel,
            "findings": [list(f) for f in raw],
            "reads": {dep: (sha256(files[dep]) if dep in files else None) for dep in sorted(set(reads))},
        }
        tmp = None
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(entry, out, ensure_ascii=False)
            os.replace(tmp, self._path(key))
            tmp = None
            self.stored += 1
        except OSError:
            pass  # a cache that cannot be written only costs time
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def prune(self, keep: int = MAX_ENTRIES) -> None:
        """Remove the least recently used entries beyond ``keep`` (and temporary files older than a day)."""
        import time

        try:
            entries = []
            for path in self.folder.iterdir():
                stat = path.stat()
                if path.name.startswith(".tmp-"):
                    if stat.st_mtime < time.time() - 86400:
                        path.unlink(missing_ok=True)
                elif path.suffix == ".json":
                    entries.append((stat.st_mtime, path))
            if len(entries) > keep:
                for _, path in sorted(entries)[: len(entries) - keep]:
                    path.unlink(missing_ok=True)
        except OSError:
            pass
