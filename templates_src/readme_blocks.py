"""The README's figures and samples, produced by the tool so that they cannot go stale.

A generated block in README.md sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
``python scripts/update_readme.py`` rewrites every block from the current code; tests/test_readme.py fails when
a block differs from what the code produces now.

Blocks:

* ``build``: what ``generate.py build`` prints (the templates, their resources, parameters, bytes and lint);
* ``deployers``: per deploying role, the actions its deployments need and how they are granted
  (templates_src/checks/iam_deployers.py, tests/test_iam_coverage.py);
* ``prefix-room`` (inline): the longest ``name_prefix`` every generated name fits (``Namer.room``, the figure
  ``build`` itself gives when a prefix is too long);
* ``creation-time`` (inline): env-main's estimated create time with the defaults, in the internet-free mode and
  with the Studio home file system,
  and its critical path (templates_src/estimate.py);
* ``escalation``: per scenario and persona, the principals each persona can make act for it, the requests
  evaluated and the paths found (tests/test_escalation.py);
* ``templates``: the table of templates, from the registry (family, ``TEXTS``: how each is deployed, what it holds);
* ``config-options``: the table of configuration options, from the model (``Config``'s field descriptions and
  defaults); both tables are made by templates_src/docs.py, which writes docs/ from the same sources;
* ``endpoints``: the table of VPC endpoints, from their catalogue (templates_src/blocks/endpoints.py): toggles,
  what an internet-free environment needs, which networks have them, their policies.
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
    """What a first ``generate.py build`` prints.  A build whose lint results come from the cache prints the same
    lines but for the cache's note at the end of the last (``cli.CACHE_NOTE``; tests/test_lint_cache.py), so the
    build runs with the lint cache and the note is taken off: the sample costs a lint only when a template
    changed."""
    from templates_src.cli import CACHE_NOTE

    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [sys.executable, str(REPO / "generate.py"), "build", "--output-dir", folder],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        text = result.stdout.replace(folder.rstrip("/") + "/", "build/").rstrip("\n")
    note = re.compile(re.escape(CACHE_NOTE).replace(re.escape("{}"), r"\d+") + "$")
    return "```text\n$ .venv/bin/python generate.py build\n" + note.sub("", text) + "\n```\n"


def deployers_block() -> str:
    from templates_src.checks import iam_deployers
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


def creation_time_block() -> str:
    """env-main's estimated create time with the defaults and in the internet-free mode, its critical path, when
    the egress stack beside the domain is complete, and the time with the Studio home file system (inline;
    templates_src/estimate.py)."""
    from templates_src import estimate
    from templates_src.config import Config
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected
    from templates_src.templates.env import env_main, env_vpc_egress

    modes = estimate.environment_estimates(build_selected(None, BuildContext(Config())), env_main.NAME)
    default, free, home = modes["default"], modes["internet-free"], modes["home-file-system"]
    egress = {
        mode: next(r.finish[k] for k, child in r.nested.items() if child.template == env_vpc_egress.NAME)
        for mode, r in modes.items()
    }
    if free.path == default.path:
        path = f"the same critical path in both: {estimate.summary(default)}"
    else:
        path = f"critical path {estimate.summary(default)}; internet-free: {estimate.summary(free)}"
    return (
        f"**{default.seconds} s** ({estimate.minutes(default.seconds)}) for the defaults and **{free.seconds} s** "
        f"({estimate.minutes(free.seconds)}) for the internet-free mode (`CreateNATGateways=NO`), {path}; "
        f"`{env_vpc_egress.NAME}` is complete after {egress['default']} s with its NAT gateways and "
        f"{egress['internet-free']} s without them. With the Studio home file system "
        f"(`CreateStudioHomeFileSystem=YES`) it gives **{home.seconds} s** ({estimate.minutes(home.seconds)}): "
        f"{estimate.summary(home)}"
    )


def templates_block() -> str:
    from templates_src import docs

    return docs.templates_table()


def config_options_block() -> str:
    from templates_src import docs

    return docs.configuration_table()


def endpoints_block() -> str:
    from templates_src.blocks import endpoints

    policies = {
        endpoints.DEFAULT_POLICY: "AWS's default",
        endpoints.ACCOUNT_PRINCIPALS_ONLY: "this account's principals only",
        endpoints.NAMED_BUCKETS: "the buckets it names",
        endpoints.PACKAGE_MIRROR: "the package mirror's repository only",
    }
    rows = [
        "| Endpoint | Service | Toggle (default) | Needed without NAT | Environment | Target accounts | Policy | For |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in endpoints.rows():
        service = e.service_name.replace("${AWS::Region}", "<region>")
        toggle = f"`{e.toggle}` (`{e.default}`)" if endpoints.ENVIRONMENT in e.networks else "-"
        rows.append(
            f"| {e.label} ({e.kind.lower()}) | `{service}` | {toggle} | "
            f"{'yes' if e.internet_free else 'with the mirror' if e.with_mirror else '-'} | "
            f"{'yes' if endpoints.ENVIRONMENT in e.networks else '-'} | "
            f"{'always' if endpoints.TARGET_ACCOUNTS in e.networks else '-'} | {policies[e.policy]} | {e.purpose} |"
        )
    return "\n".join(rows) + "\n"


PRODUCERS = {
    "build": build_block,
    "prefix-room": prefix_room_block,
    "creation-time": creation_time_block,
    "deployers": deployers_block,
    "escalation": escalation_block,
    "templates": templates_block,
    "config-options": config_options_block,
    "endpoints": endpoints_block,
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
