"""Enough of IAM's evaluation logic to prove, offline, what a role of a rendered template allows.

Used by the deploying-role check (``templates_src.checks.iam_coverage``) and by tests of trust policies.  It reads
the policies of a role as the template renders them, resolves intrinsic functions with sample parameter
values into IAM patterns, and evaluates requests against them the way IAM does for identity policies:

* an explicit Deny that matches wins; otherwise an Allow must match; otherwise the request is denied;
* a statement matches when its Action/NotAction, Resource/NotResource and every Condition block match;
* ``*`` and ``?`` are wildcards in actions (case-insensitive) and resources (case-sensitive);
* condition operators: String*, Arn*, Bool, Null, with ``IfExists`` and ``ForAnyValue:``/``ForAllValues:``.

A request knows part of its context (``Request.context``).  When it is ``complete``, a key it lacks is
absent (IAM semantics); otherwise a condition on an unknown key cannot be decided, and an Allow that
depends on one counts as *conditional*: granted for the check, and reported.

A request resource is either a concrete string (``literal``: IAM compares the statement's pattern against
it) or a pattern such as an ARN format of IAM's action table (some ARN of that form must match).  A
resource-less action is requested on the literal ``*``, which only a statement resource of ``*`` matches.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "111111111111",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "stack",
    "AWS::NoValue": None,
}
ANY_ARN = "arn:*"  # a value known to be an ARN, of unknown form


# -- patterns -----------------------------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.S | (re.I if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any characters (``/`` and ``:`` included), ``?`` exactly one."""
    return bool(_regex(pattern, ignore_case).fullmatch(value))


@lru_cache(maxsize=8192)
def intersects(a: str, b: str) -> bool:
    """Whether some string matches both wildcard patterns (``*`` and ``?`` in either)."""
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        if i == len(a) and j == len(b):
            result = True
        elif i < len(a) and a[i] == "*":
            result = go(i + 1, j) or (j < len(b) and (go(i, j + 1) if b[j] != "*" else go(i, j + 1) or go(i + 1, j)))
        elif j < len(b) and b[j] == "*":
            result = go(i, j + 1) or (i < len(a) and go(i + 1, j))
        elif i < len(a) and j < len(b):
            result = (a[i] == b[j] or a[i] == "?" or b[j] == "?") and go(i + 1, j + 1)
        else:
            result = False
        memo[key] = result
        return result

    return go(0, 0)


def arn_intersects(a: str, b: str) -> bool:
    """Whether two ARN patterns can name the same resource, segment by segment (partition, service, region
    and account never absorb one another's colons)."""
    if a == "*" or b == "*":
        return True
    left, right = a.split(":", 5), b.split(":", 5)
    if len(left) < 6 or len(right) < 6:
        return intersects(a, b)
    return all(intersects(x, y) for x, y in zip(left, right, strict=False))


# -- requests and statements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    action: str  # service:Action
    resource: str  # a literal resource string, or a pattern (``literal=False``)
    literal: bool = True
    context: tuple[tuple[str, Any], ...] = ()  # known condition keys (values: str, bool or tuple of str)
    absent: frozenset[str] = frozenset()  # keys known to be absent
    complete: bool = False  # every key not in ``context`` is absent

    @property
    def keys(self) -> dict[str, Any]:
        return dict(self.context)


def request(
    action: str, resource: str, literal: bool = True, context: dict | None = None, absent=(), complete: bool = False
) -> Request:
    ctx = tuple(sorted((k.lower(), tuple(v) if isinstance(v, list) else v) for k, v in (context or {}).items()))
    return Request(action, resource, literal, ctx, frozenset(k.lower() for k in absent), complete)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[tuple[str, str, tuple[Any, ...]], ...] = ()  # (operator, key, values)
    sid: str = ""
    source: str = ""  # the policy it belongs to

    @property
    def label(self) -> str:
        return f"{self.source}/{self.sid}" if self.sid else self.source


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _action_matches(patterns: tuple[str, ...], action: str) -> bool:
    return any(glob_match(p, action, ignore_case=True) for p in patterns)


def _resource_matches(patterns: tuple[str, ...], req: Request) -> bool:
    if req.literal:
        return any(glob_match(p, req.resource) for p in patterns)
    return any(arn_intersects(p, req.resource) for p in patterns)


def _compare(base: str, pattern: Any, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(pattern, bool):
        return str(pattern).lower() == str(value).lower()
    pattern, value = str(pattern), str(value)
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        return pattern == value if not base.startswith("Arn") else glob_match(pattern, value)
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return pattern.lower() == value.lower()
    if base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return glob_match(pattern, value)
    if base == "Bool":
        return pattern.lower() == value.lower()
    raise KeyError(base)


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _substitute(pattern, req: Request):
    """A condition value with its policy variables replaced by the request's values; None when one is missing
    (or is multivalued, which IAM does not substitute)."""
    if not isinstance(pattern, str) or "${" not in pattern:
        return pattern
    missing = False

    def replace(match):
        nonlocal missing
        name = match.group(1)
        if name in ("*", "?", "$"):
            return name
        value = req.keys.get(name.lower())
        if value is None or isinstance(value, tuple):
            missing = True
            return ""
        return str(value)

    text = _VARIABLE.sub(replace, pattern)
    return None if missing else text


def condition_holds(operator: str, key: str, values: tuple, req: Request) -> bool | None:
    """True, False, or None when the request's context cannot decide it."""
    set_op, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    k = key.lower()
    known = req.keys
    if base == "Null":
        if k in known:
            present = True
        elif k in req.absent or req.complete:
            present = False
        else:
            return None
        return all(str(v).lower() == ("false" if present else "true") for v in values)
    negated = "Not" in base
    positive = base.replace("Not", "") if negated else base
    if positive not in ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"):
        return None  # Numeric*, Date*, IpAddress, Binary: not needed by these templates' checks
    if k not in known:
        if k in req.absent or req.complete:
            # An absent key matches nothing: ForAnyValue has no value that could hold (unless IfExists);
            # negated operators, IfExists and ForAllValues (vacuously) hold.
            if set_op == "ForAnyValue":
                return if_exists
            return negated or if_exists or set_op == "ForAllValues"
        return None
    actual = known[k]
    actual_values = list(actual) if isinstance(actual, tuple) else [actual]
    # Policy variables (${aws:username}, ${aws:SourceIdentity}, ...) take the request's values; one the request
    # does not carry matches nothing (IAM's rule for a variable without a value), a negated operator then holds.
    values = tuple(v for v in (_substitute(p, req) for p in values) if v is not None)
    if not values:
        return negated

    def any_match(v):
        return any(_compare(positive, p, v) for p in values)

    if set_op == "ForAllValues":
        return all((not any_match(v)) if negated else any_match(v) for v in actual_values)
    if set_op == "ForAnyValue":  # some value of the request satisfies the (possibly negated) operator
        return any((not any_match(v)) if negated else any_match(v) for v in actual_values)
    matched = any(any_match(v) for v in actual_values)  # single-valued keys
    return not matched if negated else matched


def statement_applies(stmt: Statement, req: Request) -> bool | None:
    """Whether the statement applies to the request: True, False, or None (depends on unknown context)."""
    if stmt.actions and not _action_matches(stmt.actions, req.action):
        return False
    if stmt.not_actions and _action_matches(stmt.not_actions, req.action):
        return False
    if stmt.resources and not _resource_matches(stmt.resources, req):
        return False
    if stmt.not_resources and _resource_matches(stmt.not_resources, req):
        return False
    results = [condition_holds(op, key, values, req) for op, key, values in stmt.conditions]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


@dataclass
class Decision:
    allowed: bool
    conditional: bool = False  # allowed only by statements whose conditions depend on unknown context
    by: list[str] = field(default_factory=list)  # statements that allow (or deny)
    denied_by: list[str] = field(default_factory=list)


def evaluate(statements: list[Statement], req: Request) -> Decision:
    allows, maybe, denies = [], [], []
    for stmt in statements:
        applies = statement_applies(stmt, req)
        if stmt.effect == "Deny":
            if applies:  # a Deny that depends on unknown context is not assumed to apply
                denies.append(stmt.label)
        elif applies:
            allows.append(stmt.label)
        elif applies is None:
            maybe.append(stmt.label)
    if denies:
        return Decision(False, by=allows + maybe, denied_by=denies)
    if allows:
        return Decision(True, by=allows)
    if maybe:
        return Decision(True, conditional=True, by=maybe)
    return Decision(False)


# -- reading policies from rendered templates ------------------------------------------------------------------
class Resolver:
    """Turns template values (intrinsic functions included) into the strings they can take.

    Parameters take the given values, else their defaults, else stay unknown (``*``); ``Fn::ImportValue`` takes
    the value of the given ``imports``, else stays unknown.  ``Fn::If`` follows the
    condition when the template's Conditions can be evaluated with those values, both branches otherwise.
    """

    def __init__(
        self,
        template: dict,
        params: dict[str, Any] | None = None,
        pseudo: dict | None = None,
        arn_of=None,
        imports: dict[str, str] | None = None,
    ):
        self.template = template
        self.imports = imports or {}  # export name -> value, for Fn::ImportValue
        self.pseudo = {**PSEUDO, **(pseudo or {})}
        declared = template.get("Parameters") or {}
        self.params = {name: spec["Default"] for name, spec in declared.items() if "Default" in spec}
        self.params.update({k: v for k, v in (params or {}).items() if k in declared})
        self.arn_of = arn_of

    # conditions
    def condition(self, name: str) -> bool | None:
        node = (self.template.get("Conditions") or {}).get(name)
        return None if node is None else self._truth(node)

    def _truth(self, node) -> bool | None:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Condition":
                return self.condition(args)
            if fn == "Fn::Equals":
                left, right = (self.values(a) for a in args)
                if len(left) == 1 and len(right) == 1 and "*" not in left[0] + right[0]:
                    return left[0] == right[0]
                return None
            if fn in ("Fn::Not", "Fn::And", "Fn::Or"):
                parts = [self._truth(a) for a in args]
                if fn == "Fn::Not":
                    return None if parts[0] is None else not parts[0]
                if fn == "Fn::And":
                    return False if False in parts else (None if None in parts else True)
                return True if True in parts else (None if None in parts else False)
        return None

    # values
    def values(self, node) -> list[str]:
        """Every string ``node`` can evaluate to (``*`` for unknown parts); [] for AWS::NoValue."""
        if isinstance(node, (str, int, float)) and not isinstance(node, bool):
            return [str(node)]
        if isinstance(node, bool):
            return [str(node).lower()]
        if isinstance(node, list):
            return [v for item in node for v in self.values(item)]
        if not isinstance(node, dict) or len(node) != 1:
            return ["*"]
        ((fn, args),) = node.items()
        if fn == "Ref":
            return self._ref(args)
        if fn == "Fn::Sub":
            text, local = (args, {}) if isinstance(args, str) else (args[0], args[1] if len(args) > 1 else {})
            return self._sub(text, local)
        if fn == "Fn::GetAtt":
            logical, attr = args if isinstance(args, list) else args.split(".", 1)
            resource = (self.template.get("Resources") or {}).get(logical)
            if resource and attr == "Arn" and self.arn_of:
                return self.arn_of(resource, logical, self)
            return [ANY_ARN if attr.endswith("Arn") else "*"]
        if fn == "Fn::ImportValue":
            return [self.imports.get(name, "*") for name in self.values(args)]
        if fn == "Fn::If":
            truth = self.condition(args[0])
            branches = [args[1]] if truth is True else [args[2]] if truth is False else args[1:]
            return [v for b in branches for v in self.values(b)]
        if fn == "Fn::Join":
            if isinstance(args[1], dict) and set(args[1]) == {"Fn::Split"}:
                # The pieces of one string joined again (a separator replaced): per value, not across values.
                separator, inner = args[1]["Fn::Split"]
                return [args[0].join(value.split(separator)) for value in self.values(inner)]
            parts = [self.values(p) or [""] for p in (args[1] if isinstance(args[1], list) else [args[1]])]
            return [args[0].join(combo) for combo in itertools.product(*parts)]
        if fn == "Fn::Split":  # each piece is one more value the node can stand for (a list in a condition)
            return [piece for value in self.values(args[1]) for piece in value.split(args[0])]
        if fn == "Fn::Select":
            items = args[1]
            if isinstance(items, list) and str(args[0]).isdigit() and int(args[0]) < len(items):
                return self.values(items[int(args[0])])
            return ["*"]
        return ["*"]

    def _ref(self, name: str) -> list[str]:
        if name in self.pseudo:
            value = self.pseudo[name]
            return [] if value is None else [value]
        if name in (self.template.get("Parameters") or {}):
            value = self.params.get(name)
            if value is None:
                return ["*"]
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        resource = (self.template.get("Resources") or {}).get(name)
        if resource and resource.get("Type") == "AWS::IAM::ManagedPolicy" and self.arn_of:
            return self.arn_of(resource, name, self)  # Ref of a managed policy is its ARN
        return ["*"]  # a resource's physical id

    def _sub(self, text: str, local: dict) -> list[str]:
        pieces: list[list[str]] = []
        pos = 0
        for match in re.finditer(r"\$\{([^}]+)\}", text):
            pieces.append([text[pos : match.start()]])
            var = match.group(1)
            if var.startswith("!"):
                pieces.append(["${" + var[1:] + "}"])
            elif var in local:
                pieces.append(self.values(local[var]) or [""])
            elif "." in var:
                pieces.append(self.values({"Fn::GetAtt": var.split(".", 1)}))
            else:
                pieces.append(self._ref(var) or [""])
            pos = match.end()
        pieces.append([text[pos:]])
        return ["".join(combo) for combo in itertools.product(*pieces)]


def raw_statements(document: dict, resolver: Resolver, source: str = "") -> list[dict]:
    """A document's statements, each ``Fn::If`` between whole statements resolved by the template's conditions
    (``AWS::NoValue`` drops the statement), as is an ``Fn::If`` around the whole document (the caller tells a
    policy chosen away, ``AWS::NoValue``, from an empty one)."""
    document = chosen(document, resolver, source, "policy document")
    if not isinstance(document, dict) or document == {"Ref": "AWS::NoValue"}:
        return []
    out = []
    for raw in _as_tuple(document.get("Statement")):
        raw = chosen(raw, resolver, source, "statement")
        if raw == {"Ref": "AWS::NoValue"}:
            continue
        out.append(raw)
    return out


def statements_from(document: dict, resolver: Resolver, source: str) -> list[Statement]:
    """The statements of a policy document as the template renders it."""
    out = []
    for raw in raw_statements(document, resolver, source):
        conditions = []
        condition = raw.get("Condition") or {}
        while set(condition) == {"Fn::If"}:  # a condition block chosen by a template condition
            name, when_true, when_false = condition["Fn::If"]
            truth = resolver.condition(name)
            if truth is None:
                raise ValueError(f"{source}/{raw.get('Sid')}: condition {name} cannot be decided from the parameters")
            condition = when_true if truth else when_false
        for operator, block in condition.items():
            for key, value in block.items():
                resolved = tuple(v for item in _as_tuple(value) for v in resolver.values(item))
                conditions.append((operator, key, resolved))

        def patterns(name, raw=raw):
            return tuple(v for item in _as_tuple(raw.get(name)) for v in resolver.values(item))

        out.append(
            Statement(
                effect=raw["Effect"],
                actions=patterns("Action"),
                not_actions=patterns("NotAction"),
                resources=patterns("Resource"),
                not_resources=patterns("NotResource"),
                conditions=tuple(conditions),
                sid=raw.get("Sid", ""),
                source=source,
            )
        )
    return out


def role_statements(template: dict, logical_id: str, resolver: Resolver) -> tuple[list[Statement], list[str]]:
    """Identity-policy statements of a role: inline policies, the template's managed policies attached to it
    (ManagedPolicyArns by Ref, or ManagedPolicy/Policy resources naming the role).  Returns the statements
    and the ARNs of policies that cannot be read (AWS managed or external), which grant nothing here."""
    resources = template.get("Resources") or {}
    props = resources[logical_id].get("Properties") or {}
    statements: list[Statement] = []
    for policy in props.get("Policies") or []:
        name = "".join(resolver.values(policy.get("PolicyName")))
        statements += statements_from(policy["PolicyDocument"], resolver, f"inline:{name}")
    unreadable = []
    for arn in props.get("ManagedPolicyArns") or []:
        if isinstance(arn, dict) and set(arn) == {"Ref"} and arn["Ref"] in resources:
            managed = resources[arn["Ref"]]
            statements += statements_from(managed["Properties"]["PolicyDocument"], resolver, f"managed:{arn['Ref']}")
        else:
            unreadable += resolver.values(arn)
    for other_id, other in resources.items():
        if other.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            roles = (other.get("Properties") or {}).get("Roles") or []
            if {"Ref": logical_id} in roles:
                statements += statements_from(other["Properties"]["PolicyDocument"], resolver, f"policy:{other_id}")
    return statements, unreadable


def trust_statements(template: dict, logical_id: str, resolver: Resolver) -> list[Statement]:
    """The role's trust policy as statements (Principal folded into a condition on ``aws:PrincipalArn``,
    ``aws:PrincipalAccount`` or ``aws:PrincipalServiceName``), so callers can be evaluated as requests."""
    document = template["Resources"][logical_id]["Properties"]["AssumeRolePolicyDocument"]
    folded = []
    for stmt, raw in zip(
        statements_from(document, resolver, "trust"), raw_statements(document, resolver), strict=False
    ):
        principal = chosen(raw.get("Principal"), resolver, "trust") or {}
        extra = []
        if isinstance(principal, dict):
            for kind, value in principal.items():
                values = tuple(v for item in _as_tuple(value) for v in resolver.values(item))
                if kind == "AWS":
                    accounts = tuple(re.sub(r"^arn:[^:]+:iam::(\d+|\*):root$", r"\1", v) for v in values)
                    roots = [v for v in values if v.endswith(":root")]
                    if roots and len(roots) == len(values):
                        extra.append(("StringLike", "aws:PrincipalAccount", accounts))
                    else:
                        extra.append(("ArnLike", "aws:PrincipalArn", values))
                elif kind == "Service":
                    extra.append(("StringEquals", "aws:PrincipalServiceName", values))
                else:
                    extra.append(("StringEquals", f"principal:{kind}", values))
        folded.append(
            Statement(
                stmt.effect,
                stmt.actions,
                stmt.not_actions,
                ("*",),
                (),
                tuple(extra) + stmt.conditions,
                stmt.sid,
                stmt.source,
            )
        )
    return folded


def chosen(node, resolver: Resolver, source: str = "", what: str = "value"):
    """``node`` with an ``Fn::If`` around it resolved by the template's conditions."""
    while isinstance(node, dict) and set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        truth = resolver.condition(name)
        if truth is None:
            raise ValueError(f"{source}: {what} chosen by {name}, which cannot be decided from the parameters")
        node = when_true if truth else when_false
    return node


ACCOUNT_PRINCIPAL = "#account-principal"  # marks (in ``source``) a statement whose principals are accounts only


def names_accounts_only(statement: Statement) -> bool:
    """Whether a folded resource-policy statement names accounts only: it delegates to the identity policies of
    those accounts' principals and, in its own account, grants nobody anything by itself."""
    return statement.source.endswith(ACCOUNT_PRINCIPAL)


def resource_policy_statements(document: dict, resolver: Resolver, source: str) -> list[Statement]:
    """A resource policy's statements (a bucket, key or VPC endpoint policy) with each ``Principal`` folded into
    conditions, as trust policies are: ``*`` adds nothing; accounts (ids or ``:root`` ARNs) become
    ``aws:PrincipalAccount`` (and the statement is marked: see ``names_accounts_only``); other ARNs
    ``aws:PrincipalArn``; services ``aws:PrincipalServiceName``.  So the caller's keys decide whom a statement
    names."""
    folded = []
    for stmt, raw in zip(
        statements_from(document, resolver, source), raw_statements(document, resolver, source), strict=False
    ):
        principal = chosen(raw.get("Principal"), resolver, source)
        extra = []
        mark = ""
        if isinstance(principal, dict):
            for kind, value in principal.items():
                values = tuple(v for item in _as_tuple(value) for v in resolver.values(item))
                if kind == "AWS":
                    if "*" in values:
                        continue
                    accounts = tuple(
                        v.split(":")[4] if v.endswith(":root") else v
                        for v in values
                        if v.endswith(":root") or re.fullmatch(r"\d{12}", v)
                    )
                    arns = tuple(v for v in values if not v.endswith(":root") and not re.fullmatch(r"\d{12}", v))
                    if accounts and not arns:
                        extra.append(("StringEquals", "aws:PrincipalAccount", accounts))
                        mark = ACCOUNT_PRINCIPAL
                    elif arns and not accounts:
                        extra.append(("ArnLike", "aws:PrincipalArn", arns))
                    else:  # both kinds: any of them (an ARN pattern of the accounts' principals)
                        extra.append(("ArnLike", "aws:PrincipalArn", arns + tuple(f"arn:*:*::{a}:*" for a in accounts)))
                elif kind == "Service":
                    extra.append(("StringEquals", "aws:PrincipalServiceName", values))
        elif principal not in ("*", None):
            extra.append(("StringEquals", "principal", (str(principal),)))
        folded.append(
            Statement(
                stmt.effect,
                stmt.actions,
                stmt.not_actions,
                stmt.resources,
                stmt.not_resources,
                tuple(extra) + stmt.conditions,
                stmt.sid,
                stmt.source + mark,
            )
        )
    return folded
