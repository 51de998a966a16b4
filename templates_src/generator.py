"""configuration -> build context -> template builders -> rendered files (in memory) -> build/.

Everything is built and rendered in memory first; only a complete, valid set of files is written, so bad
input never leaves partial output.  The same configuration always gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import cfn_flip
import cfn_flip.yaml_dumper
from troposphere import Tags, Template

from templates_src import contracts, document_limits, functions, references
from templates_src.config import Config, ConfigError, Problems
from templates_src.context import BuildContext
from templates_src.registry import TEMPLATES

FORMATS = {"yaml": (".yaml",), "json": (".json",), "both": (".yaml", ".json")}
GENERATOR = "sagemaker-secure-mlops-templates"


@dataclass
class BuiltTemplate:
    name: str
    template: dict  # rendered CloudFormation, references as written by the builder (.yaml paths)
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> bytes, one per format

    @property
    def resources(self) -> int:
        return len(self.template.get("Resources", {}))

    @property
    def parameters(self) -> int:
        return len(self.template.get("Parameters", {}))


@dataclass
class Generation:
    templates: dict[str, BuiltTemplate]
    assets: dict[str, bytes]  # lambda/<module>.zip
    timings: dict[str, float] = field(default_factory=dict)  # seconds: build (with contracts), render
    warnings: list[str] = field(default_factory=list)  # what deploys only under conditions (build_selected)

    def files(self) -> dict[str, bytes]:
        out = dict(self.assets)
        for built in self.templates.values():
            out.update(built.files)
        return out

    def lint(self, linter, packaged: bool = False, cache=None):
        """Lint every file of this generation (the one path ``build`` and ``package`` share); ``cache`` (a
        ``lint_cache.LintCache``) supplies the results of files linted before."""
        from templates_src import lint

        rendered = {rel: b.template for b in self.templates.values() for rel in b.files}
        limits = {rel: TEMPLATES[b.name].size_limit for b in self.templates.values() for rel in b.files}
        return lint.check(self.files(), linter, packaged, rendered, limits, cache)


def tag_everything(template: Template, ctx: BuildContext) -> None:
    """Give every taggable resource the configured tags (merged under tags a builder set itself)."""
    for resource in template.resources.values():
        spec = getattr(resource, "props", {}).get("Tags")
        if spec is None:
            continue
        wanted = dict(ctx.config.tags)
        current = resource.properties.get("Tags")
        conditional = []  # tags a builder set under a condition (Fn::If): kept as they are, after the others
        if isinstance(current, Tags):
            wanted.update({t["Key"]: t["Value"] for t in current.to_dict() if "Key" in t})
            conditional = [t for t in current.tags if not isinstance(t, dict)]
        elif isinstance(current, dict):
            wanted.update(current)
        if not wanted:
            continue
        takes_dict = spec[0] is dict or (isinstance(spec[0], tuple) and dict in spec[0] and Tags not in spec[0])
        if takes_dict and conditional:
            raise ValueError(f"{resource.title}: a conditional tag on a resource whose Tags is a map")
        merged = Tags(**dict(sorted(wanted.items())))
        resource.Tags = (
            dict(sorted(wanted.items())) if takes_dict else merged + Tags(*conditional) if conditional else merged
        )


# Canonical order of template sections and resource attributes, for readable, stable output.
SECTION_ORDER = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
)
RESOURCE_ORDER = ("Type", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Metadata", "Properties")


def _ordered(mapping: dict, order: tuple[str, ...]) -> dict:
    return {k: mapping[k] for k in sorted(mapping, key=lambda k: order.index(k) if k in order else len(order))}


def build_template(name: str, ctx: BuildContext) -> dict:
    template = TEMPLATES[name].build(ctx)
    template.set_version("2010-09-09")
    # No release version here: a template whose content did not change keeps the same bytes from one
    # release to the next, so packaging re-uploads only what changed.  The version appears only where it
    # means something (Service Catalog product version names).
    template.set_metadata({**(template.metadata or {}), "Generator": GENERATOR})
    tag_everything(template, ctx)
    data = _ordered(template.to_dict(), SECTION_ORDER)
    data["Resources"] = {k: _ordered(v, RESOURCE_ORDER) for k, v in data.get("Resources", {}).items()}
    return data


def render(template: dict, suffix: str) -> str:
    """YAML (short-form intrinsic functions, code as literal blocks) or JSON, references for that format."""
    data = references.for_format(json.loads(json.dumps(template)), suffix)
    if suffix == ".json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return to_yaml(data)


class _YamlDumper(cfn_flip.yaml_dumper.Dumper):
    """cfn-flip's YAML dumper, byte for byte (``cfn_flip.to_yaml(json_text, clean_up=False, long_form=False)``),
    a third faster: it takes the plain dicts in their order instead of cfn-flip's ODict copies (which build a
    class per mapping item to defeat PyYAML's key sorting), and analyses each distinct string once."""

    _analyses: dict[str, object] = {}

    def ignore_aliases(self, data) -> bool:
        return True  # as from JSON text: an object used twice is written twice, never as an anchor and alias

    def analyze_scalar(self, scalar):
        if type(scalar) is not str:  # cfn-flip's LiteralString and the like keep their own analysis
            return super().analyze_scalar(scalar)
        analysis = self._analyses.get(scalar)
        if analysis is None:  # a pure function of the string (allow_unicode is always on here)
            if len(self._analyses) > 100_000:
                self._analyses.clear()
            analysis = self._analyses[scalar] = super().analyze_scalar(scalar)
        return analysis


def _represent_dict(dumper: _YamlDumper, value: dict):
    """cfn-flip's map representer: a one-key mapping of an intrinsic function in its short form (!Ref, !Sub),
    except Fn::GetAtt, written in its full form with the list (``Fn::GetAtt: [Resource, Attribute]``): scanners
    that read templates as written (cfn-guard's AWS Control Tower rules) recognise a resource's ARN only in
    that form, never in the dotted short form cfn-flip writes."""
    if len(value) == 1:
        key = next(iter(value))
        if key == "Fn::GetAtt" and isinstance(value[key], list):
            return dumper.represent_mapping(cfn_flip.yaml_dumper.TAG_MAP, value, flow_style=False)
        if key in cfn_flip.yaml_dumper.CONVERTED_SUFFIXES:
            return cfn_flip.yaml_dumper.fn_representer(dumper, key, value[key])
        if key.startswith(cfn_flip.yaml_dumper.FN_PREFIX):
            return cfn_flip.yaml_dumper.fn_representer(dumper, key[len(cfn_flip.yaml_dumper.FN_PREFIX) :], value[key])
    return dumper.represent_mapping(cfn_flip.yaml_dumper.TAG_MAP, value, flow_style=False)


_YamlDumper.add_representer(dict, _represent_dict)


def to_yaml(data: dict) -> str:
    """``data`` (JSON types only) as cfn-flip writes it from JSON text, without the detour through text."""
    import yaml
    from cfn_clean import cfn_literal_parser

    return yaml.dump(
        cfn_literal_parser(data),
        Dumper=_YamlDumper,
        default_flow_style=False,
        allow_unicode=True,
        width=cfn_flip.config.max_col_width,
        sort_keys=False,
    )


def build_selected(names: list[str] | None, ctx: BuildContext, check_documents: bool = True) -> dict[str, dict]:
    """The named templates (all when None) plus every generated template they reference, in registry order.

    Every policy document is checked against its AWS size limit at worst-case values (``document_limits``): one
    that can exceed it is a ConfigError naming the configuration field that makes it long; one that needs an
    IAM quota raised is a warning in ``ctx.warnings``."""
    built: dict[str, dict] = {}
    todo = list(names) if names else list(TEMPLATES)
    while todo:
        name = todo.pop()
        if name not in built:
            built[name] = build_template(name, ctx)
            todo += [r.stem for r in references.iter_references(built[name]) if r.stem in TEMPLATES]
    ctx.namer.check_prefix()
    ordered = {n: built[n] for n in TEMPLATES if n in built}
    contracts.check(ordered)
    if check_documents:
        _check_documents(ordered, ctx)
    return ordered


def _check_sizes(templates: dict[str, BuiltTemplate], config: Config) -> None:
    """Every file within the size CloudFormation takes the way it is deployed (registry ``size_limit``): one the
    configuration makes too large (many long tags, a long role path) is a ConfigError naming the field, before
    anything is written; one too large with the defaults is a defect of the generator."""
    problems = []
    for name, built in templates.items():
        limit = TEMPLATES[name].size_limit
        for rel, data in built.files.items():
            if len(data) <= limit:
                continue
            culprit = None
            for field_name in ("tags", *_LENGTHENING_FIELDS):
                default = Config.model_fields[field_name].get_default(call_default_factory=True)
                if getattr(config, field_name) == default:
                    continue
                other = build_selected(
                    [name], BuildContext(config.model_copy(update={field_name: default})), check_documents=False
                )[name]
                if len(render(other, pathlib.PurePath(rel).suffix).encode("utf-8")) <= limit:
                    culprit = field_name
                    break
            line = f"{rel} would have {len(data):,} bytes, more than the {limit:,} CloudFormation takes " + (
                "from `aws cloudformation deploy --template-file`" if TEMPLATES[name].deploy_directly else "from S3"
            )
            if culprit is None:
                raise contracts.ContractError(line)
            problems.append(f"{culprit}: {line}: make it shorter")
    if problems:
        raise ConfigError(problems)


# Configuration fields that lengthen policy documents, in the order they are blamed when resetting them helps.
_LENGTHENING_FIELDS = (
    "ds_administrator_trust",
    "role_path",
    "name_prefix",
    "permissions_boundary",
    "logs_kms_key_arn",
    "function_network",
)


def _check_documents(built: dict[str, dict], ctx: BuildContext) -> None:
    try:
        found = list(document_limits.findings(built))
    except document_limits.Unbounded as exc:
        raise contracts.ContractError(f"{exc} (cannot check its size against AWS's limit)") from None
    ctx.warnings.extend(f.line() for f in found if not f.fatal)
    fatal = [f for f in found if f.fatal]
    if fatal:  # one line per configuration field: its largest document, and how many more it breaks
        by_field: dict[str, list[document_limits.Finding]] = {}
        for finding in sorted(fatal, key=lambda f: f.limit - f.size):
            by_field.setdefault(_culprit(finding, ctx.config), []).append(finding)
        raise ConfigError(
            [
                f"{name}: {found[0].line()}" + (f" ({len(found) - 1} more document(s) too)" if len(found) > 1 else "")
                for name, found in by_field.items()
            ]
        )


def _culprit(finding: document_limits.Finding, config: Config) -> str:
    """The configuration field whose default value shrinks the document most (``config`` if none does)."""
    best, field_name = finding.size, "config"
    for name in _LENGTHENING_FIELDS:
        default = Config.model_fields[name].get_default(call_default_factory=True)
        if getattr(config, name) == default:
            continue
        try:
            other = config.model_copy(update={name: default})
            templates = build_selected([finding.template], BuildContext(other), check_documents=False)
            sizes = [
                f.size
                for f in document_limits.findings(templates, everything=True)
                if (f.template, f.resource, f.what) == (finding.template, finding.resource, finding.what)
            ]
        except Exception:  # noqa: BLE001 - a variant that does not build blames nothing
            continue
        if sizes and sizes[0] < best:
            best, field_name = sizes[0], name
    if field_name == "ds_administrator_trust" and finding.what == "trust policy":
        field_name = "ds_administrator_trust.roles"
    return field_name


def generate(
    config: Config, names: list[str] | None = None, fmt: str = "yaml", ctx: BuildContext | None = None
) -> Generation:
    templates = {}
    start = time.perf_counter()
    ctx = ctx or BuildContext(config)
    selected = build_selected(names, ctx)
    built_at = time.perf_counter()
    for name, template in selected.items():
        built = BuiltTemplate(name, template)
        for suffix in FORMATS[fmt]:
            built.files[name + suffix] = render(template, suffix).encode("utf-8")
        templates[name] = built
    assets = {
        path: functions.zip_bytes(module) for path, module in references.lambda_packages(selected.values()).items()
    }
    _check_sizes(templates, config)
    return Generation(
        templates, assets, {"build": built_at - start, "render": time.perf_counter() - built_at}, list(ctx.warnings)
    )


class OutputError(Problems):
    """The output folder cannot be written; the message says whether anything in it changed."""


def write(files: dict[str, bytes], out_dir: str | pathlib.Path) -> list[pathlib.Path]:
    """Write every file, all or nothing.

    The new files are staged in a temporary folder inside ``out_dir``; each is then moved over the old one with
    an atomic rename (readers never see half a file), after a copy of the old one is kept in the staging
    folder.  If any move fails, or the run is interrupted (Ctrl-C), every file already moved is put back from
    its copy (or removed, if it is new), and folders created for the new files are removed again: the folder
    holds the old build, file for file.  Should putting a file back fail too, the error says so and names what
    is left from the new build, instead of claiming nothing changed.  Files whose bytes are already there are
    left untouched.
    """
    out = pathlib.Path(out_dir)
    try:
        changed = {
            rel: data
            for rel, data in sorted(files.items())
            if not ((out / rel).is_file() and (out / rel).read_bytes() == data)
        }
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=".staging-") as staging:
            new, old = pathlib.Path(staging, "new"), pathlib.Path(staging, "old")
            for rel, data in changed.items():
                staged = new / rel
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(data)
                os.chmod(staged, 0o644)
            _swap_in(out, changed, new, old)
    except OSError as exc:
        where = exc.filename or out
        raise OutputError(
            f"--output-dir: cannot write {where}: {exc.strerror or exc}; nothing was changed there"
        ) from None
    return [out / rel for rel in sorted(files)]


def _swap_in(out: pathlib.Path, changed: dict[str, bytes], new: pathlib.Path, old: pathlib.Path) -> None:
    """Move the staged files into ``out``, or, on any failure, put the old ones back (see ``write``)."""
    created: list[pathlib.Path] = []  # folders made for new files, deepest last
    moved: list[tuple[pathlib.Path, pathlib.Path | None]] = []  # (target, copy of the old file or None)
    try:
        # Every folder the files go to, and no folder where a file goes, before the first file moves: what can
        # fail fails while nothing has changed yet.
        for rel in changed:
            for folder in reversed((out / rel).relative_to(out).parents[:-1]):
                if not (out / folder).is_dir():
                    (out / folder).mkdir()
                    created.append(out / folder)
            if (out / rel).is_dir():
                raise IsADirectoryError(21, "Is a directory", str(out / rel))
        for rel in changed:
            target, kept = out / rel, None
            if target.exists():
                kept = old / rel
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(target, kept)
            os.replace(new / rel, target)
            moved.append((target, kept))
    except BaseException as exc:
        left = _put_back(moved, created)
        if left and isinstance(exc, (OSError, KeyboardInterrupt)):
            cause = (
                f"cannot write {exc.filename or out}: {exc.strerror or exc}"
                if isinstance(exc, OSError)
                else "interrupted (Ctrl-C)"
            )
            names = ", ".join(str(path.relative_to(out)) for path in left)
            raise OutputError(
                f"--output-dir: {cause}; {len(left)} file(s) already replaced could not be put back "
                f"and are from the new build ({names}); the other files are the old build: run the "
                f"build again once {out} can be written"
            ) from None
        raise


def _put_back(moved: list[tuple[pathlib.Path, pathlib.Path | None]], created: list[pathlib.Path]) -> list[pathlib.Path]:
    """Undo the moves, newest first; returns the files that could not be put back."""
    left = []
    for target, kept in reversed(moved):
        try:
            if kept is None:
                target.unlink()
            else:
                os.replace(kept, target)
        except OSError:
            left.append(target)
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (a file could not be removed: it is named) or not ours to remove
    return sorted(left)
