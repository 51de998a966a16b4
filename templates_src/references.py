"""References between generated artefacts, before and after packaging.

In ``build/`` output every reference to another template or to a Lambda zip is a *relative local path*:
``core-iam-shared-roles.yaml`` (or ``.json`` in JSON output) for nested stacks, StackSets and Service
Catalog products, ``lambda/<module>.zip`` for function code.  That is what ``aws cloudformation package``
understands too, and cfn-lint follows nested-stack paths to check the parameters passed to the child.
Packaging (``generate.py package``) rewrites each of these paths to the regional S3 URL of the uploaded
object; this module is the one place that knows where references live.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from troposphere import AWSHelperFn

TEMPLATE_SUFFIXES = (".yaml", ".json")
TEMPLATE_URL_PARAMETER = "TemplateURL"  # nested stack parameters with this suffix hold a template's URL
CODE_KINDS = ("lambda-code", "seed-code")
SEED_CODE_FOLDER = "seed_code/"  # seed code is referred to as seed_code/<folder>.zip (S3 Key; Bucket beside it)
_LOCAL = re.compile(r"^[A-Za-z0-9_./-]+$")


@dataclass(frozen=True)
class Reference:
    resource: str  # logical id
    kind: str  # nested-stack | stack-set | sc-product | template-url-parameter | lambda-code | seed-code
    target: str  # the local path as written
    path: tuple  # keys from the resource's Properties to the value

    @property
    def stem(self) -> str | None:
        """Template name for template references, None for code."""
        for suffix in TEMPLATE_SUFFIXES:
            if self.kind not in CODE_KINDS and self.target.endswith(suffix):
                return self.target[: -len(suffix)]
        return None


class LocalPath(AWSHelperFn):
    """A local path where troposphere expects an object (Lambda ``Code``); renders as the plain string."""

    def __init__(self, path: str):
        self.data = path


def local_template(stem: str) -> str:
    """How a builder refers to another generated template (YAML path; JSON output is mapped)."""
    return f"{stem}.yaml"


def _is_local(value: Any) -> bool:
    return isinstance(value, str) and bool(_LOCAL.match(value)) and "://" not in value and not value.startswith("/")


def _locations(resource_type: str, props: dict) -> Iterator[tuple[str, tuple]]:
    if resource_type in ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet"):
        kind = "nested-stack" if resource_type.endswith("::Stack") else "stack-set"
        yield kind, ("TemplateURL",)
        if resource_type.endswith("::Stack"):
            # A nested stack's parameter named *TemplateURL passes a template's URL to the child (which pins the
            # templates a role may deploy with it, cloudformation:TemplateUrl).
            for name in sorted(props.get("Parameters") or {}):
                if name.endswith(TEMPLATE_URL_PARAMETER):
                    yield "template-url-parameter", ("Parameters", name)
    elif resource_type == "AWS::ServiceCatalog::CloudFormationProduct":
        for i, _ in enumerate(props.get("ProvisioningArtifactParameters") or []):
            yield "sc-product", ("ProvisioningArtifactParameters", i, "Info", "LoadTemplateFromURL")
    elif resource_type == "AWS::Lambda::Function":
        yield "lambda-code", ("Code",)
    elif resource_type == "AWS::CodeCommit::Repository":
        yield "seed-code", ("Code", "S3", "Key")
    elif resource_type == "Custom::SeedCodeCheckin":  # the seed code a connected repository gets (blocks/project.py)
        yield "seed-code", ("SeedCode", "Key")


def _get(props: dict, path: tuple) -> Any:
    node: Any = props
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def iter_references(template: dict) -> Iterator[Reference]:
    """Every local reference in a rendered template (as a dict), in template order."""
    for logical_id, resource in (template.get("Resources") or {}).items():
        props = resource.get("Properties") or {}
        for kind, path in _locations(resource.get("Type", ""), props):
            value = _get(props, path)
            if _is_local(value):
                yield Reference(logical_id, kind, value, path)


def lambda_packages(templates: Iterable[dict]) -> dict[str, str]:
    """The function packages ``templates`` refer to, each once, in template order: asset path
    (``lambda/<module>.zip``) -> handler module.  What build writes next to the templates and packaging uploads."""
    from templates_src import functions

    found: dict[str, str] = {}
    for template in templates:
        for ref in iter_references(template):
            module = functions.module_for_asset(ref.target) if ref.kind == "lambda-code" else None
            if module and ref.target not in found:
                found[ref.target] = module
    return found


def rewrite(template: dict, new_value: Callable[[Reference], Any]) -> dict:
    """Replace every local reference in place with ``new_value(reference)``; returns the template.

    Seed code is an S3 location: its new value is the whole ``{"Bucket", "Key"}`` mapping."""
    for ref in list(iter_references(template)):
        node = template["Resources"][ref.resource]["Properties"]
        path = ref.path[:-1] if ref.kind == "seed-code" else ref.path
        for key in path[:-1]:
            node = node[key]
        value = new_value(ref)
        if ref.kind == "seed-code" and not isinstance(value, dict):
            continue  # unchanged (another output format)
        node[path[-1]] = value
    return template


def seed_folder(ref: Reference) -> str:
    """The seed-code folder a seed-code reference names (``seed_code/<folder>.zip``)."""
    return ref.target.removeprefix(SEED_CODE_FOLDER).removesuffix(".zip")


def for_format(template: dict, suffix: str) -> dict:
    """Point template references at the files of the output format being written (``.yaml``/``.json``)."""

    def new(ref: Reference) -> str:
        return ref.stem + suffix if ref.stem is not None else ref.target

    return rewrite(template, new)


def release_alias_pattern(url, stem: str):
    """From a template's packaged (content-addressed) URL, the pattern of the same template's release aliases
    in the same bucket and prefix, as a CloudFormation value: ``<base>/releases/*/<stem>.yaml`` where the URL is
    ``<base>/templates/<stem>/<hash>.yaml`` (``templates_src.release_layout``).  Before packaging (a local path)
    the value names nothing."""
    from troposphere import Join, Select, Split

    from templates_src import release_layout as layout

    return Join(
        "", [Select(0, Split(f"/{layout.TEMPLATES_FOLDER}/{stem}/", url)), f"/{layout.RELEASES_FOLDER}/*/{stem}.yaml"]
    )
