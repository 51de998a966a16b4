"""Does a role allow everything CloudFormation calls to deploy what it deploys?  Proven, not assumed.

For every role that deploys templates (see ``templates_src.checks.iam_deployers``) the check builds the list of
requests the deployment makes and evaluates the role's policies against them with ``templates_src.checks.iam_policy``:

* **Handler permissions.**  cfn-lint ships CloudFormation's resource provider schemas, which list for each
  resource type the IAM actions its create, update and delete handlers call.  Every resource of every
  template the role deploys (nested stacks followed into their generated children) contributes the actions
  of its type.  Delete is skipped for ``DeletionPolicy: Retain`` (CloudFormation never deletes it).
* **The resource each action is authorized on.**  cfn-lint also ships IAM's action table: which resource
  types, hence which ARN forms, each action is authorized on.  An action with no resource type is
  requested on ``*`` (only a ``*`` grant allows it).  When the deployed resource's own ARN is of a form the
  action is authorized on, the request names that ARN (built from its physical name and sample parameter
  values), so a grant scoped to names the templates do not produce does not count.  Otherwise any ARN of a
  form the action is authorized on must be grantable.
* **Context.**  ``iam:PassRole`` is requested for each role a resource passes, with ``iam:PassedToService``;
  role writes carry the role's ``iam:PermissionsBoundary``; policy attachments carry ``iam:PolicyARN``.
* **Actions tied to properties the template does not set** are not needed ("gated"): an action's name words
  (PutBucket*Website*) are matched against the type's property names (*Website*Configuration).  The name
  heuristic is corrected in the reviewed data where it is wrong.
* **The caller's own calls** (Service Catalog reading the product template, StackSets creating the stack
  instance, ...) and the API calls of the project's own code are explicit requests with full context.

Everything the check cannot derive lives in one reviewed file, ``iam_coverage.yaml``: where IAM authorizes
an action differently from its table, handler lists for types whose schema has none, corrections of the
gating heuristic, the caller needs, the resources of templates not generated yet, and the actions a role
deliberately does not get — each with the reason.  A needed action that is neither granted nor listed
there is *missing*: the test suite fails.
"""

from __future__ import annotations

import functools
import json
import pathlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from templates_src.checks import iam_policy
from templates_src.checks.iam_policy import ANY_ARN, Request, Resolver, request

DATA_FILE = pathlib.Path(__file__).with_name("iam_coverage.yaml")
HANDLERS = ("create", "update", "delete")
CUSTOM = ("AWS::CloudFormation::CustomResource",)


# -- reviewed data and cfn-lint's data ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def reviewed() -> dict:
    return yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _action_table() -> dict:
    import cfnlint

    path = pathlib.Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(path.read_text(encoding="utf-8"))


def canonical_action(action: str) -> str | None:
    """``efs:createfilesystem`` -> ``elasticfilesystem:CreateFileSystem``; None if IAM has no such action."""
    service, _, name = action.partition(":")
    service = reviewed()["service_aliases"].get(service, service)
    table = _action_table().get(service)
    if not table or name.lower() not in table["Actions"]:
        return None
    return f"{service}:{name}"


def arn_forms(action: str) -> list[str]:
    """Wildcard patterns of the ARNs ``action`` is authorized on; [] when it has no resource type."""
    service, _, name = action.partition(":")
    table = _action_table()[service]
    forms = []
    resources = {k.lower(): v for k, v in table["Resources"].items()}
    for kind in table["Actions"][name.lower()].get("Resources", []):
        for fmt in resources.get(kind.lower(), {}).get("ARNFormats", []):
            forms.append(re.sub(r"\$\{[^}]+\}", "*", fmt).replace(".*", "*"))
    return forms


@functools.lru_cache(maxsize=None)
def schema(resource_type: str) -> dict:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    return PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema


def handler_actions(resource_type: str, handler: str) -> list[str]:
    fallback = reviewed()["fallback_handlers"].get(resource_type)
    if fallback is not None:
        return list(fallback.get(handler, []))
    return list(((schema(resource_type).get("handlers") or {}).get(handler) or {}).get("permissions", []))


def unlisted_actions(resource_type: str, handler: str, props: dict, resolver: Resolver) -> list[str]:
    """Actions a handler calls that its schema does not list (``unlisted_handler_actions``), when the
    resource's properties have the values the entry names."""
    out = []
    for entry in reviewed().get("unlisted_handler_actions") or []:
        if entry["type"] != resource_type or handler not in entry["handlers"]:
            continue
        if all(resolver.values(props.get(name)) == [str(value)] for name, value in (entry.get("when") or {}).items()):
            out += entry["actions"]
    return out


def has_handlers(resource_type: str) -> bool:
    if resource_type in reviewed()["fallback_handlers"]:
        return True
    return bool(schema(resource_type).get("handlers"))


# -- the gating heuristic ---------------------------------------------------------------------------------------
_VERBS = {
    "create",
    "put",
    "get",
    "delete",
    "update",
    "describe",
    "list",
    "modify",
    "associate",
    "disassociate",
    "attach",
    "detach",
    "enable",
    "disable",
    "add",
    "remove",
    "set",
    "start",
    "stop",
    "replace",
    "authorize",
    "revoke",
    "allocate",
    "release",
    "register",
    "deregister",
    "batch",
    "tag",
    "untag",
    "pass",
    "use",
    "apply",
    "import",
    "export",
    "schedule",
    "cancel",
    "reset",
    "restore",
    "run",
    "send",
    "upload",
    "validate",
    "search",
    "change",
    "generate",
    "encrypt",
    "decrypt",
    "copy",
    "head",
    "rotate",
    "retire",
    "publish",
    "invoke",
    "assign",
    "unassign",
    "accept",
    "reject",
    "share",
    "unshare",
}
_GENERIC = {
    "configuration",
    "config",
    "configs",
    "attribute",
    "attributes",
    "settings",
    "setting",
    "status",
    "details",
    "for",
    "to",
    "from",
    "with",
    "and",
    "of",
    "arn",
    "id",
    "ids",
    "name",
    "resource",
    "resources",
    "info",
    "policy",
    "policies",
    "without",
    "plaintext",
    "data",
    "key",
    "version",
}
_TAG_WORDS = {"tag", "tags", "tagging"}


def _words(name: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", name)}


def _similar(a: str, b: str) -> bool:
    a, b = a.rstrip("s"), b.rstrip("s")
    return a == b or (min(len(a), len(b)) >= 6 and a[:6] == b[:6])


def gating_property(resource_type: str, action: str) -> str | None:
    """The property an action's name ties it to (its distinctive words), or None when none does.

    A reviewed correction may name a nested property (``DefaultUserSettings.CustomImages``: any depth, lists
    included) and may use wildcards in its action (``s3tables:*``).
    """
    corrections = reviewed()["gating"]

    def listed(entry):
        return entry["type"] == resource_type and iam_policy.glob_match(entry["action"], action, ignore_case=True)

    if any(listed(entry) for entry in corrections.get("always", [])):
        return None
    for entry in corrections.get("property", []):
        if listed(entry):
            return entry["property"]  # a path, or a list of paths (any of them set makes it needed)
    service, _, name = action.partition(":")
    type_words = _words(resource_type.split("::")[-1]) | {service.lower()}
    words = {w for w in _words(name) - _VERBS - _GENERIC if not any(_similar(w, t) for t in type_words)}
    if not words or words & _TAG_WORDS:
        return None  # tagging: CloudFormation tags every taggable resource (aws:cloudformation:* tags)
    spec = schema(resource_type)
    read_only = {p.rsplit("/", 1)[-1] for p in spec.get("readOnlyProperties", [])}
    best, score = None, 0
    for prop in (p for p in (spec.get("properties") or {}) if p not in read_only):
        hits = sum(1 for w in words if any(_similar(w, p) for p in _words(prop)))
        if hits > score:
            best, score = prop, hits
    return best


# -- physical names -> ARNs -------------------------------------------------------------------------------------
def _first(resolver: Resolver, value, default: str) -> list[str]:
    if value is None:
        return [default]
    return resolver.values(value) or [default]


def own_arns(resource: dict, logical_id: str, resolver: Resolver, stack_name: str = "stack") -> list[str]:
    """The ARN patterns a resource can have, from its physical name (CloudFormation's generated name,
    ``<stack>-<logical id>-<random>``, when the template sets none); [ANY_ARN] for unknown types."""
    t = resource.get("Type", "")
    p = resource.get("Properties") or {}
    part, region, account = (resolver.pseudo[k] for k in ("AWS::Partition", "AWS::Region", "AWS::AccountId"))
    generated = f"{stack_name}-{logical_id}-*"
    arn = f"arn:{part}:{{service}}:{region}:{account}:{{rest}}"

    def names(prop, default=generated):
        return _first(resolver, p.get(prop), default)

    if t == "AWS::IAM::Role":
        return [f"arn:{part}:iam::{account}:role{path}{n}" for path in names("Path", "/") for n in names("RoleName")]
    if t == "AWS::IAM::ManagedPolicy":
        return [
            f"arn:{part}:iam::{account}:policy{path}{n}"
            for path in names("Path", "/")
            for n in names("ManagedPolicyName")
        ]
    if t == "AWS::Lambda::Function":
        return [arn.format(service="lambda", rest=f"function:{n}") for n in names("FunctionName")]
    if t == "AWS::Logs::LogGroup":
        return [
            arn.format(service="logs", rest=f"log-group:{n}{tail}")
            for n in names("LogGroupName")
            for tail in ("", ":*")
        ]
    if t == "AWS::S3::Bucket":
        return [f"arn:{part}:s3:::{n}" for n in names("BucketName", generated.lower())]
    if t == "AWS::SSM::Parameter":
        return [
            arn.format(service="ssm", rest="parameter" + (n if n.startswith("/") else "/" + n))
            for n in names("Name", "CFN-" + generated)
        ]
    if t == "AWS::CloudFormation::Stack":
        return [arn.format(service="cloudformation", rest=f"stack/{generated}/*")]
    if t == "AWS::CloudFormation::StackSet":
        return [arn.format(service="cloudformation", rest=f"stackset/{n}:*") for n in names("StackSetName")]
    if t == "AWS::KMS::Key":
        return [arn.format(service="kms", rest="key/*")]
    if t == "AWS::KMS::Alias":
        return [arn.format(service="kms", rest=n) for n in names("AliasName", "alias/*")]
    if t == "AWS::CodeBuild::Project":
        return [arn.format(service="codebuild", rest=f"project/{n}") for n in names("Name")]
    if t == "AWS::CodeCommit::Repository":
        return [arn.format(service="codecommit", rest=n) for n in names("RepositoryName")]
    if t == "AWS::CodePipeline::Pipeline":
        return [arn.format(service="codepipeline", rest=n) for n in names("Name")]
    if t == "AWS::Events::Rule":
        return [arn.format(service="events", rest=f"rule/{n}") for n in names("Name")]
    if t.startswith("AWS::SageMaker::"):
        kind = re.sub(r"(?<!^)(?=[A-Z])", "-", t.split("::")[-1]).lower()
        return [arn.format(service="sagemaker", rest=f"{kind}/*")]
    if t.startswith("AWS::ServiceCatalog::"):
        return [arn.format(service="catalog", rest="*")]
    if t.startswith("AWS::EC2::"):
        return [arn.format(service="ec2", rest="*")]
    return [ANY_ARN]


# -- needs --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """One thing a deployment asks IAM for: an action on each of ``requests`` (all must be allowed), or on
    any one of ``alternatives`` (ARN forms: some grant must cover one)."""

    action: str
    where: str  # template/logical id (type) or caller
    why: str  # handler name, "caller", "code", ...
    requests: tuple[Request, ...] = ()
    alternatives: tuple[Request, ...] = ()


def _requests_for(action: str, own: list[str], context: dict, absent=()) -> tuple[tuple, tuple]:
    override = reviewed()["authorized_on"].get(action)
    if override is not None:
        return (request(action, override["resource"], True, context, absent),), ()
    forms = arn_forms(action)
    if not forms:
        return (request(action, "*", True, context, absent),), ()
    mine = [o for o in own if o != ANY_ARN and any(iam_policy.arn_intersects(o, f) for f in forms)]
    if mine:
        return tuple(request(action, o, "*" not in o and "?" not in o, context, absent) for o in mine), ()
    return (), tuple(request(action, f, False, context, absent) for f in forms)


def property_set(props: dict, path: str, resolver=None) -> bool:
    """Whether a (dotted, possibly nested) property is set; lists along the way are searched.  A Fn::If takes
    the branch its condition decides (``resolver``), or either branch when it cannot be decided."""

    def walk(node, parts):
        if node == {"Ref": "AWS::NoValue"}:
            return False
        if isinstance(node, dict) and set(node) == {"Fn::If"} and isinstance(node["Fn::If"], list):
            truth = resolver.condition(node["Fn::If"][0]) if resolver is not None else None
            if truth is not None:
                return walk(node["Fn::If"][1 if truth else 2], parts)
            return any(walk(branch, parts) for branch in node["Fn::If"][1:])
        if not parts:
            return node is not None
        if isinstance(node, list):
            return any(walk(item, parts) for item in node)
        if isinstance(node, dict):
            return parts[0] in node and walk(node[parts[0]], parts[1:])
        return False

    return walk(props, path.split("."))


_ROLE_KEY = re.compile(r"(Role|RoleArn|RoleARN|ServiceRole|ExecutionRole)$")
_DATA_KEYS = {
    "Parameters",
    "Tags",
    "Variables",
    "EnvironmentVariables",
    "Environment",
    "Metadata",
    "Code",
    "PolicyDocument",
    "AssumeRolePolicyDocument",
    "Policies",
    "KeyPolicy",
    "ResourceQuery",
    "Outputs",
    "Value",
    "ProvisioningArtifactParameters",
}


def passed_roles(props: dict) -> list:
    """Role ARNs a resource hands to its service (properties named ...Role/...RoleArn, at any depth)."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _DATA_KEYS:
                    continue
                if (
                    _ROLE_KEY.search(key)
                    and not isinstance(value, (dict, list))
                    or (
                        _ROLE_KEY.search(key)
                        and isinstance(value, dict)
                        and any(k.startswith(("Fn::", "Ref")) for k in value)
                    )
                ):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(props)
    return found


def _service_for(resource_type: str) -> str | None:
    for prefix, service in reviewed()["pass_role_services"].items():
        if resource_type.startswith(prefix):
            return service
    return None


@dataclass
class Deployed:
    """A template as one deployment deploys it."""

    name: str
    template: dict
    params: dict[str, Any]
    stack_name: str
    imports: dict[str, str] = field(default_factory=dict)  # the exports it imports (name -> value)


def resource_needs(
    deployed: Deployed, logical_id: str, resource: dict, resolver: Resolver, unset_gated: list
) -> list[Need]:
    """The needs of one resource: its handlers' actions, minus those gated by properties it does not set."""
    t = resource["Type"]
    props = resource.get("Properties") or {}
    where = f"{deployed.name}/{logical_id} ({t})"
    if t.startswith("Custom::") or t in CUSTOM:
        token = props.get("ServiceToken")
        arns = [v for v in resolver.values(token) if v] or [ANY_ARN]
        requests = tuple(request("lambda:InvokeFunction", a, "*" not in a) for a in arns)
        return [Need("lambda:InvokeFunction", where, "custom resource", requests=requests)]
    if not has_handlers(t):
        raise ValueError(
            f"{where}: the resource provider schema lists no handler permissions for {t}; add "
            f"them under fallback_handlers in {DATA_FILE.name}"
        )
    own = own_arns(resource, logical_id, resolver, deployed.stack_name)
    handlers = [h for h in HANDLERS if not (h == "delete" and resource.get("DeletionPolicy") == "Retain")]
    boundary = resolver.values(props["PermissionsBoundary"]) if "PermissionsBoundary" in props else []
    needs: dict[str, Need] = {}
    for handler in handlers:
        unlisted = unlisted_actions(t, handler, props, resolver)
        for raw in handler_actions(t, handler) + unlisted:
            action = canonical_action(raw)
            if action is None:
                continue  # not an IAM action (schema noise such as s3:REST.PUT.OBJECT)
            if action in needs:
                continue
            prop = None if raw in unlisted else gating_property(t, action)
            if prop is not None and not any(
                property_set(props, path, resolver) for path in ([prop] if isinstance(prop, str) else prop)
            ):
                unset_gated.append((where, action, prop if isinstance(prop, str) else " or ".join(prop)))
                continue
            if action == "iam:PassRole":
                roles = [v for value in passed_roles(props) for v in resolver.values(value)]
                if not roles:
                    unset_gated.append((where, action, "(no role passed)"))
                    continue
                service = _service_for(t)
                context = {"iam:PassedToService": service} if service else {}
                reqs = tuple(request(action, r, "*" not in r, context) for r in roles)
                needs[action] = Need(action, where, handler, requests=reqs)
                continue
            context, absent = {}, []
            if t == "AWS::IAM::Role" and action in BOUNDARY_ACTIONS:
                if boundary:
                    context["iam:PermissionsBoundary"] = boundary[0]
                else:
                    absent.append("iam:PermissionsBoundary")
            if action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy"):
                arns = resolver.values(props.get("ManagedPolicyArns") or [])
                if not arns:
                    unset_gated.append((where, action, "ManagedPolicyArns"))
                    continue
                reqs = tuple(
                    r for a in arns for r in _requests_for(action, own, {**context, "iam:PolicyARN": a}, absent)[0]
                )
                needs[action] = Need(action, where, handler, requests=reqs)
                continue
            reqs, alts = _requests_for(action, own, context, absent)
            needs[action] = Need(action, where, handler, reqs, alts)
    return list(needs.values())


BOUNDARY_ACTIONS = {
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
}


def template_needs(deployed: Deployed, generated: dict[str, dict], unset_gated: list) -> list[Need]:
    """Needs of every resource of a template and, through nested stacks, of its generated children."""
    resolver = Resolver(
        deployed.template,
        deployed.params,
        arn_of=lambda r, lid, res: own_arns(r, lid, res, deployed.stack_name),
        imports=deployed.imports,
    )
    needs = []
    for logical_id, resource in (deployed.template.get("Resources") or {}).items():
        if "Condition" in resource and resolver.condition(resource["Condition"]) is False:
            continue
        needs += resource_needs(deployed, logical_id, resource, resolver, unset_gated)
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = (resource.get("Properties") or {}).get("TemplateURL")
            child = url[: -len(".yaml")] if isinstance(url, str) and url.endswith(".yaml") else None
            if child in generated:
                # A child parameter its parent does not pass has its default: certain, unlike a root
                # template's unknown parameters, which stay open (every value possible).
                defaults = {
                    k: str(p["Default"])
                    for k, p in (generated[child].get("Parameters") or {}).items()
                    if "Default" in p
                }
                passed = {
                    **defaults,
                    **{
                        k: (resolver.values(v) or [""])[0]
                        for k, v in ((resource.get("Properties") or {}).get("Parameters") or {}).items()
                    },
                }
                needs += template_needs(
                    Deployed(
                        child,
                        generated[child],
                        passed,
                        f"{deployed.stack_name}-{logical_id}-ABCDEF012345",
                        deployed.imports,
                    ),
                    generated,
                    unset_gated,
                )
    return needs


def planned_needs(
    planned: Iterable[dict],
    params: dict,
    stack_name: str,
    unset_gated: list,
    prefix: str = "",
    role_path: str = "/",
    boundary: str = "",
) -> list[Need]:
    """Needs of resources that templates of a later issue will contain (reviewed data), as if generated.

    Values may use {prefix}, {role_path} and {boundary} (the configured permissions boundary ARN); a
    property whose value is empty is not set.
    """

    def value(node):
        if isinstance(node, dict):
            return {k: value(v) for k, v in node.items()}
        if isinstance(node, str):
            text = node.replace("{prefix}", prefix).replace("{role_path}", role_path).replace("{boundary}", boundary)
            return {"Fn::Sub": text} if "${" in text else text
        return node

    template = {"Parameters": {k: {"Type": "String"} for k in params}, "Resources": {}}
    for i, entry in enumerate(planned):
        values = entry.get("values", {})
        props = {prop: value(values.get(prop, "x")) for prop in entry.get("properties", [])}
        props = {k: v for k, v in props.items() if v != ""}
        resource = {"Type": entry["type"], "Properties": props}
        if entry.get("retain"):
            resource["DeletionPolicy"] = "Retain"
        template["Resources"][entry.get("id", f"Planned{i}")] = resource
    return template_needs(Deployed("(planned)", template, params, stack_name), {}, unset_gated)


def caller_needs(kind: str, values: dict[str, str]) -> list[Need]:
    """The documented calls of whoever assumes the role (Service Catalog, StackSets, ...), as full requests."""
    needs = []
    for entry in reviewed()["callers"][kind]:
        resource = entry["resource"].format(**values)
        context = {k: v.format(**values) if isinstance(v, str) else v for k, v in (entry.get("context") or {}).items()}
        for action in entry["actions"]:
            needs.append(
                Need(
                    action,
                    f"caller: {kind}",
                    entry["why"],
                    requests=(
                        request(action, resource, "*" not in resource or resource == "*", context, complete=True),
                    ),
                )
            )
    return needs


# -- the check ----------------------------------------------------------------------------------------------------
@dataclass
class Finding:
    need: Need
    status: str  # granted | conditional | missing | excused
    detail: str = ""


@dataclass
class Coverage:
    role: str
    findings: list[Finding] = field(default_factory=list)
    gated: list[tuple[str, str, str]] = field(default_factory=list)
    unreadable_policies: list[str] = field(default_factory=list)
    exceptions_used: set[int] = field(default_factory=set)

    def by_status(self, status: str) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    @property
    def missing(self) -> list[Finding]:
        return self.by_status("missing")

    def summary(self) -> str:
        counts = {s: len(self.by_status(s)) for s in ("granted", "conditional", "excused", "missing")}
        return (
            f"{self.role}: {len(self.findings)} needed actions: "
            + ", ".join(f"{n} {s}" for s, n in counts.items())
            + f"; {len(self.gated)} gated by unset properties"
        )

    def report(self) -> list[str]:
        lines = [self.summary()]
        for f in self.findings:
            if f.status != "granted":
                lines.append(f"  {f.status.upper():11} {f.need.action:48} {f.need.where} [{f.need.why}] {f.detail}")
        return lines


def _decide(statements, need: Need) -> tuple[str, str]:
    if need.requests:
        decisions = [iam_policy.evaluate(statements, r) for r in need.requests]
        failed = [(r, d) for r, d in zip(need.requests, decisions, strict=False) if not d.allowed]
        if failed:
            r, d = failed[0]
            why = f"denied by {', '.join(d.denied_by)}" if d.denied_by else "no statement allows it"
            return "missing", f"on {r.resource}: {why}"
        if any(d.conditional for d in decisions):
            return "conditional", "via " + ", ".join(sorted({b for d in decisions for b in d.by}))
        return "granted", ""
    decisions = [iam_policy.evaluate(statements, r) for r in need.alternatives]
    if any(d.allowed and not d.conditional for d in decisions):
        return "granted", ""
    if any(d.allowed for d in decisions):
        return "conditional", "via " + ", ".join(sorted({b for d in decisions if d.allowed for b in d.by}))
    forms = ", ".join(r.resource for r in need.alternatives)
    return "missing", f"on none of the ARN forms it is authorized on ({forms})"


def check(
    role: str,
    statements: list,
    needs: list[Need],
    exceptions: list[tuple[int, dict]],
    unset_gated: list | None = None,
    unreadable: list[str] | None = None,
) -> Coverage:
    """Evaluate every need against the role's statements; missing actions listed in ``exceptions``
    ((index, entry) of the reviewed file's not_granted entries for this role) are excused, and the indexes
    used are recorded."""
    coverage = Coverage(role, gated=list(unset_gated or []), unreadable_policies=list(unreadable or []))
    seen: set[tuple[str, str, tuple]] = set()
    for need in needs:
        key = (need.action, need.where, need.requests + need.alternatives)
        if key in seen:
            continue
        seen.add(key)
        status, detail = _decide(statements, need)
        if status == "missing":
            for i, entry in exceptions:
                if iam_policy.glob_match(entry["action"], need.action, ignore_case=True) and (
                    "where" not in entry or entry["where"] in need.where
                ):
                    status, detail = "excused", entry["why"]
                    coverage.exceptions_used.add(i)
                    break
        coverage.findings.append(Finding(need, status, detail))
    return coverage
