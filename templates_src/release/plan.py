"""Plan a release: build the templates, resolve every reference to the S3 object it will be, lint the result.

Planning is pure: it reads nothing from AWS except the release history it is given, and the same input
gives the same plan, byte for byte.  ``templates_src.release.publish`` uploads a plan.

Children are planned before their parents, so a parent's bytes contain its children's content-addressed
URLs: when a template changes, its key changes, and so do the keys of the templates that refer to it, and
nothing else.
"""

from __future__ import annotations

import json
import pathlib

from templates_src import __version__, functions, references
from templates_src.release import layout
from templates_src.release.model import Artifact, Plan, PlanError, Target, sha
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import BuiltTemplate, Generation, build_selected, render
from templates_src.registry import TEMPLATES

def _topological(built: dict[str, dict]) -> list[str]:
    """Children before parents (references only point down the tree)."""
    order, seen = [], set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in path:
            raise PlanError(f"{name}: circular template reference through {' -> '.join(path)}")
        for ref in references.iter_references(built[name]):
            if ref.stem in built:
                visit(ref.stem, path + (name,))
        seen.add(name)
        order.append(name)

    for name in built:
        visit(name, ())
    return order


def seed_code_artifacts(seed_dir: pathlib.Path | None, target: Target) -> list[Artifact]:
    """One deterministic zip per seed-code folder, tagged so Service Catalog and SageMaker may read it.

    ``None`` means no seed code; a folder that does not exist is an error (releases are immutable: a
    release published without its seed code by mistake could not be fixed under its version).
    """
    if seed_dir is None:
        return []
    if not seed_dir.is_dir():
        raise PlanError(f"--seed-code-dir: {seed_dir} is not a folder; nothing was published")
    out = []
    for folder in sorted(p for p in seed_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        files = {
            str(f.relative_to(folder)): f.read_bytes()
            for f in sorted(folder.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts and not f.name.endswith(".pyc")
        }
        if not files:
            continue
        body = functions.deterministic_zip(files)
        out.append(Artifact(layout.content_key(target.prefix, "seed-code", folder.name, sha(body), ".zip"), body,
                            "seed-code", folder.name, "application/zip", (layout.SEED_CODE_TAG,)))
    return out


def product_history(manifests: list[dict], target: Target) -> dict[str, tuple[tuple[str, str], ...]]:
    """Per template name, (release, URL) of every earlier published release that contains it."""
    history: dict[str, list[tuple[str, str]]] = {}
    for manifest in manifests:
        for name, entry in manifest.get("templates", {}).items():
            history.setdefault(name, []).append((manifest["release"], target.url(entry["key"])))
    return {name: tuple(items) for name, items in history.items()}


def plan_release(config: Config, target: Target, names: list[str] | None = None,
                 history: list[dict] | None = None, seed_dir: pathlib.Path | None = None) -> Plan:
    """Everything a release consists of, with every reference rewritten to its S3 URL.

    The packaged templates are in ``plan.packaged`` (a Generation), for the lint every release must pass
    before anything is uploaded (``plan.packaged.lint(linter, packaged=True)``).
    """
    history = sorted(history or [], key=lambda m: _version_key(m["release"]))
    if any(m["release"] == config.version for m in history):
        history = [m for m in history if m["release"] != config.version]
    ctx = BuildContext(config, product_history=product_history(history, target), packaging=True,
                       generated_templates=frozenset(TEMPLATES))
    built = build_selected(names, ctx)
    plan = Plan(config.version, target)

    lambda_keys: dict[str, str] = {}
    for name in built:
        for ref in references.iter_references(built[name]):
            module = functions.module_for_asset(ref.target) if ref.kind == "lambda-code" else None
            if module and ref.target not in lambda_keys:
                body = functions.zip_bytes(module)
                artifact = Artifact(layout.content_key(target.prefix, "lambda", module, sha(body), ".zip"), body,
                                    "lambda", module, "application/zip")
                plan.artifacts.append(artifact)
                lambda_keys[ref.target] = artifact.key
    plan.artifacts += seed_code_artifacts(seed_dir, target)

    unresolved = []
    packaged: dict[str, BuiltTemplate] = {}
    for name in _topological(built):
        def resolve(ref: references.Reference):
            if ref.kind == "lambda-code":
                if ref.target in lambda_keys:
                    return {"S3Bucket": target.bucket, "S3Key": lambda_keys[ref.target]}
            elif ref.stem in plan.template_urls:
                return plan.template_urls[ref.stem]
            unresolved.append(f"{name}: {ref.resource} refers to {ref.target}, which this release does not "
                              f"generate" + (" and no earlier release in the bucket contains"
                                             if ref.kind == "sc-product" else ""))
            return ref.target
        template = references.rewrite(json.loads(json.dumps(built[name])), resolve)
        text = render(template, ".yaml").encode("utf-8")
        key = layout.content_key(target.prefix, "templates", name, sha(text), ".yaml")
        plan.artifacts.append(Artifact(key, text, "template", name, "application/x-yaml"))
        plan.template_urls[name] = target.url(key)
        packaged[name] = BuiltTemplate(name, template, {f"{name}.yaml": text})
    if unresolved:
        raise PlanError(unresolved)

    for name in built:
        if TEMPLATES[name].entry:
            body = packaged[name].files[f"{name}.yaml"]
            key = layout.release_key(target.prefix, plan.release, f"{name}.yaml")
            plan.artifacts.append(Artifact(key, body, "release-alias", name, "application/x-yaml"))
            plan.entry_urls[name] = target.url(key)

    plan.packaged = Generation({n: packaged[n] for n in built}, {})
    plan.manifest = _manifest(plan)
    return plan


def _manifest(plan: Plan) -> Artifact:
    """What the release consists of.  No timestamp: the same release always has the same manifest."""
    by_kind: dict[str, dict] = {}
    for a in plan.artifacts:
        if a.kind == "release-alias":
            continue
        by_kind.setdefault({"template": "templates", "lambda": "lambda", "seed-code": "seed_code"}[a.kind], {})[
            a.name] = {"key": a.key, "sha256": a.sha256, "size": a.size}
    for name, url in plan.template_urls.items():
        by_kind["templates"][name]["url"] = url
        if name in plan.entry_urls:
            by_kind["templates"][name]["release_url"] = plan.entry_urls[name]
    data = {
        "release": plan.release,
        "generator": __version__,
        "bucket": plan.target.bucket,
        "prefix": plan.target.prefix,
        "region": plan.target.region,
        **{kind: dict(sorted(entries.items())) for kind, entries in sorted(by_kind.items())},
        "objects": sorted(a.key for a in plan.artifacts),
    }
    body = (json.dumps(data, indent=1, sort_keys=False) + "\n").encode("utf-8")
    return Artifact(layout.manifest_key(plan.target.prefix, plan.release), body, "manifest", "manifest",
                    "application/json")


def _version_key(version: str) -> tuple:
    """Sort releases by semantic version (pre-releases before the release, as SemVer says)."""
    core, _, pre = version.partition("-")
    nums = tuple(int(x) if x.isdigit() else 0 for x in core.split("+")[0].split("."))
    return nums + ((1,) if not pre else (0, pre))
