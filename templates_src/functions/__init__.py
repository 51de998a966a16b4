"""Lambda handler modules and how they reach a template.

Each handler module imports the shared runtime with ``from cfn_runtime import custom_resource``.  A function
is inlined (``Code.ZipFile``, one file) when runtime + handler fit CloudFormation's 4,096-character limit
after comments are dropped; otherwise the template points at ``lambda/<module>.zip``, a deterministic zip
that ``build`` writes next to the templates and packaging uploads.
"""

from __future__ import annotations

import functools
import io
import pathlib
import re
import tokenize
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
RUNTIME = "cfn_runtime"
INLINE_LIMIT = 4096
ASSET_DIR = "lambda"
_IMPORT_RUNTIME = re.compile(rf"^from {RUNTIME} import [\w, ]+\n", re.M)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def module_source(module: str) -> str:
    return (HERE / f"{module}.py").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=64)  # every function of a template inlines the same runtime: tokenize it once
def strip_comments(source: str) -> str:
    """Drop comment tokens and the blank lines they leave; code and strings stay byte-for-byte."""
    lines = source.splitlines(keepends=True)
    cuts: dict[int, int] = {}
    inside: set[int] = set()  # lines continuing a multi-line string: kept as they are, even when blank
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            cuts[tok.start[0] - 1] = tok.start[1]
        elif tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0], tok.end[0]))
    out = []
    for i, line in enumerate(lines):
        if i in cuts:
            line = line[: cuts[i]].rstrip() + "\n"
        if line.strip() or i in inside:
            out.append(line)
        elif out and out[-1].strip():
            out.append("\n")
    return "".join(out)


def inline_source(module: str) -> str:
    """Runtime followed by the handler module (its runtime import removed), without comments."""
    handler = _IMPORT_RUNTIME.sub("", module_source(module))
    return strip_comments(module_source(RUNTIME) + "\n\n" + handler)


def fits_inline(module: str) -> bool:
    return len(inline_source(module)) <= INLINE_LIMIT


def asset_path(module: str) -> str:
    return f"{ASSET_DIR}/{module}.zip"


def module_for_asset(path: str) -> str | None:
    match = re.fullmatch(rf"{ASSET_DIR}/(\w+)\.zip", path)
    return match.group(1) if match and (HERE / f"{match.group(1)}.py").exists() else None


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    """Zip with fixed timestamps, permissions and order: identical content gives identical bytes."""
    buf = io.BytesIO()
    write_deterministic_zip(files, buf)
    return buf.getvalue()


CHUNK = 1024 * 1024  # bytes read from a file at a time


def write_deterministic_zip(files: dict[str, bytes | pathlib.Path], out) -> None:
    """``deterministic_zip`` into the seekable binary stream ``out``; a file's content given as a path is
    streamed (read and compressed a chunk at a time, never whole in memory), with the same bytes as a result."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(files):
            source = files[name]
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.create_system = 3  # as written on Unix, whatever the building OS
            info.compress_type = zipfile.ZIP_DEFLATED
            if isinstance(source, (bytes, bytearray)):
                zf.writestr(info, source, compresslevel=9)
                continue
            info.file_size = source.stat().st_size
            with source.open("rb") as src, zf.open(info, "w") as dest:
                while chunk := src.read(CHUNK):
                    dest.write(chunk)


def zip_bytes(module: str) -> bytes:
    """The deployment package: the handler as index.py plus the runtime module it imports."""
    return deterministic_zip(
        {
            "index.py": module_source(module).encode("utf-8"),
            f"{RUNTIME}.py": module_source(RUNTIME).encode("utf-8"),
        }
    )
