"""Every configuration switch is built by the suite: each field of the configuration model (nested fields
included) takes a value other than its default in at least one of the configurations the suite builds in
full (``tests.conftest.MATRIX``: goldens, lint, scanners, escalation and flow proofs), and each on/off switch
is built both on and off.  A new field with no test configuration fails here."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from templates_src.config import Config, from_mapping
from tests.conftest import MATRIX


def fields(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Dotted paths of every field, nested configuration models included."""
    out = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        nested = [
            t
            for t in getattr(info.annotation, "__args__", (info.annotation,))
            if isinstance(t, type) and issubclass(t, BaseModel)
        ]
        for inner in nested:
            out += fields(inner, path + ".")
    return out


def value(config: Any, path: str) -> Any:
    for part in path.split("."):
        if config is None:
            return None
        config = getattr(config, part)
    return config


def default(path: str) -> Any:
    """The value a field has when the configuration does not set it (a nested model's own default when its
    parent is set)."""
    parent, _, name = path.rpartition(".")
    model: type[BaseModel] = Config
    for part in parent.split(".") if parent else []:
        annotation = model.model_fields[part].annotation
        model = next(
            t
            for t in getattr(annotation, "__args__", (annotation,))
            if isinstance(t, type) and issubclass(t, BaseModel)
        )
    info = model.model_fields[name]
    return info.get_default(call_default_factory=True) if not info.is_required() else object()


def uncovered(matrix: dict[str, dict]) -> list[str]:
    """The fields no configuration of ``matrix`` changes, and the booleans not built both ways."""
    built = [from_mapping(mapping) for mapping in matrix.values()]
    out = []
    for path in fields():
        seen = [value(config, path) for config in built]
        if all(v == default(path) or v is None for v in seen):
            out.append(path)
        elif isinstance(default(path), bool) and set(seen) != {True, False}:
            out.append(f"{path} (built {'on' if True in seen else 'off'} only)")
    return out


def without(matrix: dict[str, dict], path: str) -> dict[str, dict]:
    """The matrix with ``path`` left at its default in every configuration (and what needs it dropped)."""
    top, _, rest = path.partition(".")
    out = {}
    for flavour, mapping in matrix.items():
        mapping = dict(mapping)
        if rest and isinstance(mapping.get(top), dict):
            mapping[top] = {k: v for k, v in mapping[top].items() if k != rest}
            if not mapping[top] or top == "function_network":
                mapping.pop(top)
        else:
            mapping.pop(top, None)
        dependants = {"encrypt_logs": "logs_kms_key_arn", "functions_in_vpc": "function_network"}
        if top in dependants:
            mapping.pop(dependants[top], None)
        out[flavour] = mapping
    return out


def test_every_field_of_the_configuration_is_built_by_the_suite():
    assert uncovered(MATRIX) == []


def test_the_fields_are_the_whole_model():
    paths = fields()
    assert {"name_prefix", "ds_administrator_trust.roles", "function_network.subnet_ids"} <= set(paths)
    assert len(paths) == len(set(paths)) and len(paths) >= len(Config.model_fields)


@pytest.mark.parametrize("path", fields())
def test_a_field_no_configuration_sets_is_found(path):
    """Removing a switch from every test configuration makes the coverage test fail, naming it."""
    found = uncovered(without(MATRIX, path))
    assert any(entry.split(" ")[0] == path for entry in found), found
