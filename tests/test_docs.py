"""``generate.py docs``: the reference documentation in docs/, generated from the templates as built, the
configuration model and the registry (issue 16, item 4).

After a change that moves the documentation, refresh the committed folder with ``.venv/bin/python generate.py docs``
and review the diff of docs/ before committing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from templates_src import cli, docs, references
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.registry import SEED_CODE_TEMPLATES, TEMPLATES
from tests.conftest import REPO

DOCS = REPO / "docs"
SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz's dot is not installed (apt-get install graphviz); .ci/run installs it",
)


def run(*args):
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    return build_selected(None, BuildContext(Config()))


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz); .ci/run installs it")
    return docs.documents(Config())


# -- (a) parameters -----------------------------------------------------------------------------------------------
_ROW = re.compile(r"^\| `(?P<name>[^`]+)`(?:<br>[^|]*)? \| `(?P<type>[^`]+)` \| (?P<default>[^|]*) \|")


def documented_parameters(markdown: str) -> dict[str, tuple[str, str, str]]:
    """name -> (group heading, type, default cell) for every parameter row of a template's page."""
    found, group = {}, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            group = line[3:]
        match = _ROW.match(line)
        if match and group is not None:
            assert match["name"] not in found, f"{match['name']} documented twice"
            found[match["name"]] = (group, match["type"], match["default"].strip())
    return found


def expected_groups(template: dict) -> dict[str, str]:
    """name -> console group label, read from the template's metadata (ungrouped: 'Other parameters')."""
    groups = {}
    for group in template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", []):
        for name in group["Parameters"]:
            groups.setdefault(name, group["Label"]["default"])
    return {name: docs.plain(groups.get(name, "Other parameters")) for name in template.get("Parameters", {})}


def test_every_parameter_of_every_template_is_documented_in_its_console_group(files, built):
    assert sorted(f"parameters/{name}.md" for name in built) == sorted(
        rel for rel in files if rel.startswith("parameters/") and rel != "parameters/README.md"
    )
    total = 0
    for name, template in built.items():
        page = files[f"parameters/{name}.md"].decode()
        rows = documented_parameters(page)
        declared = template.get("Parameters", {})
        assert sorted(rows) == sorted(declared), name
        groups = expected_groups(template)
        for pname, (group, ptype, default) in rows.items():
            parameter = declared[pname]
            assert group == groups[pname], (name, pname)
            assert ptype == parameter["Type"], (name, pname)
            assert default == ("required" if "Default" not in parameter else docs.parameter_default(parameter))
            if "AllowedPattern" in parameter:
                assert docs.code(parameter["AllowedPattern"]) in page, (name, pname)
            for value in parameter.get("AllowedValues", []):
                assert docs.code(value) in page, (name, pname)
        total += len(rows)
    assert total == sum(len(t.get("Parameters", {})) for t in built.values()) > 250
    index = files["parameters/README.md"].decode()
    assert f"{total} parameters in {len(built)} templates" in index
    assert all(f"[{name}]({name}.md)" in index for name in built)


def test_the_parameter_check_catches_a_missing_row(files):
    page = files["parameters/env-main.md"].decode()
    row = next(line for line in page.splitlines() if line.startswith("| `EnvName`"))
    assert "EnvName" in documented_parameters(page)
    assert "EnvName" not in documented_parameters(page.replace(row + "\n", ""))


def test_parameters_in_no_group_come_last_under_other_parameters():
    template = {
        "Parameters": {
            "Zeta": {"Type": "String"},
            "Alpha": {"Type": "Number", "MinValue": 1, "MaxValue": 4},
            "Grouped": {"Type": "String", "Default": "", "AllowedValues": ["", "a|b"]},
        },
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [{"Label": {"default": "First"}, "Parameters": ["Grouped", "Missing"]}],
                "ParameterLabels": {"Grouped": {"default": "A grouped one"}},
            }
        },
    }
    assert docs.parameter_groups(template) == [
        docs.Group("First", ("Grouped",)),
        docs.Group("Other parameters", ("Alpha", "Zeta")),
    ]
    assert docs.allowed(template["Parameters"]["Alpha"]) == ["value 1 to 4"]
    assert docs.allowed(template["Parameters"]["Grouped"]) == ['values `""`, `a\\|b`']
    assert docs.parameter_default(template["Parameters"]["Grouped"]) == '`""` (empty)'
    page = docs.parameter_document("env-s3", template)
    assert (
        page.index("## First")
        < page.index("## Other parameters")
        < page.index("| `Alpha` |")
        < page.index("| `Zeta` |")
    )


# -- (b) configuration --------------------------------------------------------------------------------------------
def model_fields(model: type[BaseModel], prefix: str = "") -> dict:
    """Every field of the model, nested models walked recursively: dotted name -> FieldInfo."""
    import typing

    found = {}
    for name, info in model.model_fields.items():
        found[prefix + name] = info
        for candidate in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.update(model_fields(candidate, f"{prefix}{name}."))
    return found


def documented_fields(markdown: str) -> dict[str, str]:
    """dotted name -> its section's text, for every field heading of configuration.md."""
    sections = re.split(r"^#{2,} ", markdown, flags=re.M)[1:]
    return {s.split("\n", 1)[0]: s.split("\n", 1)[1] for s in sections if s.split("\n", 1)[0] != "This documentation"}


def test_every_configuration_field_is_documented(files):
    text = files["configuration.md"].decode()
    fields = model_fields(Config)
    assert {"ds_administrator_trust.roles", "function_network.subnet_ids"} <= set(fields)
    documented = documented_fields(text)
    assert sorted(documented) == sorted(fields)
    for name, info in fields.items():
        section = documented[name]
        assert info.description and info.description.replace("](#", "](../README.md#") in section, name
        assert "* Type: " in section and "* Default: " in section, name
    assert f"{len(fields)} fields in all" in text


def test_the_configuration_check_catches_a_missing_field(files):
    text = files["configuration.md"].decode()
    assert "function_network.subnet_ids" in documented_fields(text)
    cut = re.sub(r"^### function_network\.subnet_ids\n.*?(?=^#)", "", text, flags=re.M | re.S)
    assert "function_network.subnet_ids" not in documented_fields(cut)


def test_constraints_come_from_the_model():
    options = {o.name: o for o in docs.options()}
    assert "at most 12 characters" in docs.constraints(options["name_prefix"])
    assert any("`python3.12`" in c for c in docs.constraints(options["lambda_runtime"]))
    assert any("at least 1 item" in c for c in docs.constraints(options["lint_regions"]))
    assert docs.default_text(options["function_network.subnet_ids"]) == "required"
    assert docs.default_text(options["ds_administrator_trust"]) == '`{iam_users_with_mfa: true, roles: ["*"]}`'


# -- the README's tables come from the same sources ---------------------------------------------------------------
def test_the_readme_tables_are_made_from_the_model_and_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert docs.configuration_table() in readme
    assert docs.templates_table() in readme
    for name, info in Config.model_fields.items():
        assert f"| `{name}` |" in docs.configuration_table() and docs.cell(info.description) in readme, name
    for name, spec in TEMPLATES.items():
        assert spec.deployment and spec.content, f"{name}: no README text in the registry"
        assert f"| `{name}` | {spec.family} | {docs.cell(spec.deployment)} | {docs.cell(spec.content)} |" in readme


def test_the_readme_links_the_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for link in (
        "docs/README.md",
        "docs/configuration.md",
        "docs/parameters/README.md",
        "docs/diagrams/templates.svg",
        "docs/diagrams/stacksets.svg",
        "docs/diagrams/service-catalog.svg",
    ):
        assert f"]({link})" in readme, link
        assert (REPO / link).is_file(), link


# -- (c) diagrams -------------------------------------------------------------------------------------------------
def node_titles(svg: bytes) -> set[str]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def test_every_diagram_parses_and_draws_every_template_it_is_about(files, built):
    svgs = {rel: data for rel, data in files.items() if rel.endswith(".svg")}
    assert sorted(svgs) == sorted(
        [
            "diagrams/templates.svg",
            "diagrams/stacksets.svg",
            "diagrams/service-catalog.svg",
            *(f"diagrams/resources/{n}.svg" for n in built),
        ]
    )
    titles = {rel: node_titles(data) for rel, data in svgs.items()}
    kinds: dict[str, set[str]] = {"nested-stack": set(), "stack-set": set(), "sc-product": set()}
    for template in built.values():
        for ref in references.iter_references(template):
            if ref.kind in kinds:
                kinds[ref.kind].add(ref.stem)
            if ref.kind == "seed-code":
                kinds["nested-stack"].update(SEED_CODE_TEMPLATES.get(references.seed_folder(ref), {}).values())
    assert kinds["stack-set"] and kinds["sc-product"]
    assert set(built) <= titles["diagrams/templates.svg"]
    assert kinds["nested-stack"] | kinds["stack-set"] | kinds["sc-product"] <= titles["diagrams/templates.svg"]
    assert kinds["stack-set"] <= titles["diagrams/stacksets.svg"]
    assert kinds["sc-product"] <= titles["diagrams/service-catalog.svg"]
    for name, template in built.items():
        assert set(template["Resources"]) <= titles[f"diagrams/resources/{name}.svg"], name


def test_the_template_diagram_draws_every_relation(files, built):
    root = ET.fromstring(files["diagrams/templates.svg"])
    edges = {g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}
    for template_name, template in built.items():
        for ref in references.iter_references(template):
            if ref.stem in TEMPLATES:
                assert f"{template_name}->{ref.stem}" in edges, ref


@needs_dot
def test_the_svg_check_catches_a_missing_node():
    graph = docs._graph("g", "t")
    graph.node("env-main")
    assert node_titles(docs.render(graph)) == {"env-main"}
    assert "core-main" not in node_titles(docs.render(graph))


# -- determinism and the committed folder -------------------------------------------------------------------------
@needs_dot
def test_two_runs_write_byte_identical_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run("docs", "--output-dir", str(first)).exit_code == 0
    assert run("docs", "--output-dir", str(second)).exit_code == 0
    written = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert len(written) == 6 + 2 * len(TEMPLATES)  # index, configuration, parameter index, 3 overviews
    for rel in written:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def _dot_version(svg: bytes) -> str | None:
    match = re.search(rb"<!-- Generated by graphviz version ([^\n]*)", svg)
    return match.group(1).decode().strip() if match else None


def _local_dot_version() -> str | None:
    out = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=False)
    match = re.search(r"graphviz version (.*)", out.stderr + out.stdout)
    return match.group(1).strip() if match else None


_GEOMETRY = {"x", "y", "cx", "cy", "rx", "ry", "points", "d", "transform", "viewBox", "width", "height"}


def _content(svg: bytes) -> list:
    """An SVG without its geometry: every element, its text and its non-geometric attributes, in order."""
    return [
        (e.tag, (e.text or "").strip(), sorted((k, v) for k, v in e.attrib.items() if k not in _GEOMETRY))
        for e in ET.fromstring(svg).iter()
    ]


def differences(folder: Path, files: dict[str, bytes]) -> list[str]:
    """What in ``folder`` is not what ``files`` says: missing, changed and extra files.  An SVG drawn by another
    version of dot than the committed one is compared without its geometry (layouts differ between versions)."""
    found = []
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    local = _local_dot_version() if shutil.which("dot") else None
    for rel, data in sorted(files.items()):
        if rel not in present:
            found.append(f"missing {rel}")
            continue
        committed = (folder / rel).read_bytes()
        if committed == data:
            continue
        if rel.endswith(".svg") and _dot_version(committed) not in (None, local):
            if _content(committed) == _content(data):
                continue
        found.append(f"changed {rel}")
    found += [f"extra {rel}" for rel in sorted(present - set(files))]
    return found


def test_the_committed_docs_are_what_generate_py_docs_writes_now(files):
    """Run ``.venv/bin/python generate.py docs`` after a change that moves the documentation."""
    assert DOCS.is_dir(), "docs/ is missing: run generate.py docs"
    found = differences(DOCS, files)
    assert not found, f"docs/ is stale ({', '.join(found[:10])}): run .venv/bin/python generate.py docs"


def test_the_staleness_check_catches_changed_missing_and_extra_files(tmp_path, files):
    shutil.copytree(DOCS, tmp_path / "docs")
    folder = tmp_path / "docs"
    assert differences(folder, files) == []
    (folder / "configuration.md").write_bytes(files["configuration.md"] + b"\n")
    (folder / "parameters" / "env-main.md").unlink()
    (folder / "parameters" / "old-template.md").write_text("gone")
    svg = folder / "diagrams" / "templates.svg"
    svg.write_bytes(svg.read_bytes().replace(b"<title>env&#45;main</title>", b"<title>env&#45;maim</title>"))
    assert differences(folder, files) == [
        "changed configuration.md",
        "changed diagrams/templates.svg",
        "missing parameters/env-main.md",
        "extra parameters/old-template.md",
    ]


# -- the command's rules ------------------------------------------------------------------------------------------
def test_an_svg_of_another_dot_version_is_compared_without_its_geometry(tmp_path, files):
    rel = "diagrams/stacksets.svg"
    (tmp_path / "diagrams").mkdir()
    other = re.sub(rb"graphviz version [^\n]*", b"graphviz version 99.0.0 (0)", files[rel])
    moved = re.sub(rb' x="([0-9.]+)"', b' x="1\\1"', other)
    assert moved != other
    (tmp_path / rel).write_bytes(moved)
    assert differences(tmp_path, {rel: files[rel]}) == []
    (tmp_path / rel).write_bytes(moved.replace(b"targets</text>", b"target</text>", 1))
    assert differences(tmp_path, {rel: files[rel]}) == [f"changed {rel}"]
    (tmp_path / rel).write_bytes(re.sub(rb' x="([0-9.]+)"', b' x="1\\1"', files[rel]))  # the same version: bytes
    assert differences(tmp_path, {rel: files[rel]}) == [f"changed {rel}"]


def test_a_bad_config_writes_nothing_and_exits_2(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("name_prefix: Bad!\n")
    result = run("docs", "--config", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith("error: name_prefix: "), line
    assert not (tmp_path / "out").exists()
    result = run("docs", "--config", str(tmp_path / "missing.yaml"), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2 and result.output.startswith("error: config: cannot read")
    assert not (tmp_path / "out").exists()


def test_without_dot_it_exits_2_and_writes_nothing(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    result = subprocess.run(
        [sys.executable, str(REPO / "generate.py"), "docs", "--output-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: {docs.DOT_MISSING}"]
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_the_docs_help_lists_the_exit_codes():
    result = run("docs", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for code in ("0 success", "2 bad input", "4 a defect", "130 interrupted"):
        assert code in text, code
    assert "--output-dir" in text and "--config" in text


@needs_dot
def test_a_configuration_shows_in_the_docs(tmp_path):
    config = tmp_path / "hardened.yaml"
    config.write_text("encrypt_logs: true\nname_prefix: acme\n")
    result = run("docs", "--config", str(config), "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "| `LogsKmsKeyArn`<br>" in (tmp_path / "out" / "parameters" / "core-main.md").read_text()
    assert "`encrypt_logs: true`" in (tmp_path / "out" / "README.md").read_text()
    assert "LogsKmsKeyArn" not in (DOCS / "parameters" / "core-main.md").read_text()
