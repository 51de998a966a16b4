"""The README's figures and samples, produced by the tool so that they cannot go stale.

A generated block in README.md sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
``python scripts/update_readme.py`` rewrites every block from the current code; tests/test_readme.py fails when
a block differs from what the code produces now.

Blocks:

* ``build``: what ``generate.py build`` prints (the templates, their resources, parameters, bytes and lint);
* ``deployers``: per deploying role, the actions its deployments need and how they are granted
  (templates_src/iam_deployers.py, tests/test_iam_coverage.py);
* ``prefix-room`` (inline): the longest ``name_prefix`` every generated name fits (``Namer.room``, the figure
  ``build`` itself gives when a prefix is too long);
* ``escalation``: per scenario and persona, the principals each persona can make act for it, the requests
  evaluated and the paths found (tests/test_escalation.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n?)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S)


def build_block() -> str:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [sys.executable, str(REPO / "generate.py"), "build", "--no-cache", "--output-dir", folder],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        text = result.stdout.replace(folder.rstrip("/") + "/", "build/")
    return "```text\n$ .venv/bin/python generate.py build\n" + text.rstrip("\n") + "\n```\n"


def deployers_block() -> str:
    from templates_src import iam_deployers
    from templates_src.config import Config
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    config = Config()
    templates = build_selected(None, BuildContext(config))
    rows = [
        "| Deployer | Role (template) | Deploys | Needed actions | Granted / conditional / excused / missing |",
        "|---|---|---|---|---|",
    ]
    for deployer in iam_deployers.deployers(config):
        coverage = iam_deployers.coverage(deployer, templates, config)
        counts = [len(coverage.by_status(s)) for s in ("granted", "conditional", "excused", "missing")]
        rows.append(
            f"| `{deployer.key}` | `{deployer.role}` (`{deployer.role_template}`) | "
            f"{', '.join(f'`{d}`' for d in deployer.deploys)} | {len(coverage.findings)} | "
            f"{' / '.join(map(str, counts))} |"
        )
    return "\n".join(rows) + "\n"


def escalation_block() -> str:
    from templates_src.checks import platform, rules
    from templates_src.config import Config
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    config = Config()
    templates = build_selected(None, BuildContext(config))
    rows = [
        "| Scenario | Persona | Principals reached (chains) | Requests evaluated | Paths found (rules 1-4) |",
        "|---|---|---|---|---|",
    ]
    for scenario in platform.SCENARIOS:
        p = platform.build(templates, config, scenario)
        analysis = rules.analysis(p)
        for name, persona in rules.personas(p).items():
            before = sum(analysis.checked.values())
            reach = analysis.reach(persona)
            findings = (
                rules.iam_findings(analysis, persona)
                + rules.compute_findings(analysis, persona)
                + rules.target_findings(analysis, name, persona)
                + (
                    rules.own_environment_findings(analysis, persona, platform.ENV_A)
                    if name != "ds-administrator"
                    else []
                )
            )
            reached = sorted({analysis.principal(key).logical_id for key in reach})
            rows.append(
                f"| {scenario} | {name} | {len(reach)}: {', '.join(reached)} | "
                f"{sum(analysis.checked.values()) - before} | {len(findings)} |"
            )
    return "\n".join(rows) + "\n"


def prefix_room_block() -> str:
    """How long a name_prefix every generated name fits, and the name that sets the figure (inline)."""
    from templates_src.config import Config
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    ctx = BuildContext(Config())
    build_selected(None, ctx)
    fits, kind, pattern, limit = ctx.namer.room()
    return (
        f"{fits} characters with every template built: the {kind} name `<prefix>-{pattern}` must fit AWS's "
        f"{limit} with the longest values its parameters and region take"
    )


PRODUCERS = {
    "build": build_block,
    "prefix-room": prefix_room_block,
    "deployers": deployers_block,
    "escalation": escalation_block,
}


def update(text: str, names: tuple[str, ...] | None = None) -> str:
    """``text`` (the README) with its generated blocks produced afresh (only ``names``, if given)."""

    def replace(match: re.Match) -> str:
        name = match.group("name")
        if names is not None and name not in names:
            return match.group(0)
        if name not in PRODUCERS:
            raise ValueError(f"README block {name!r}: no such generated block ({', '.join(PRODUCERS)})")
        return match.group(1) + PRODUCERS[name]() + match.group(4)

    return BLOCK.sub(replace, text)


def names_in(text: str) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text)]
