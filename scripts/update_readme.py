"""Rewrite the README's generated blocks (figures and samples) from the current code.

    .venv/bin/python scripts/update_readme.py [NAME ...]

NAME: build, prefix-room, deployers, escalation, templates, config-options (default: all).  tests/test_readme.py
fails while a block is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from templates_src import readme_blocks  # noqa: E402


def main(argv: list[str]) -> int:
    readme = readme_blocks.REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    unknown = [n for n in argv if n not in readme_blocks.PRODUCERS]
    if unknown:
        print(
            f"error: unknown block(s) {', '.join(unknown)}; known: {', '.join(readme_blocks.PRODUCERS)}",
            file=sys.stderr,
        )
        return 2
    updated = readme_blocks.update(text, tuple(argv) or None)
    if updated != text:
        readme.write_text(updated, encoding="utf-8")
    print(
        f"{len(readme_blocks.names_in(updated))} generated block(s); README.md "
        f"{'updated' if updated != text else 'unchanged'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
