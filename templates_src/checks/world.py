"""The platform as deployed, for the proofs: stacks of generated templates with sample values, every IAM role
with what governs it (identity policies, permissions boundary, trust policy), and the resource policies real
accounts enforce (key, bucket and VPC endpoint policies).

A ``Stack`` is one template deployed with parameter values in an account; nested stacks are deployed as their
parent passes them (``Fn::GetAtt Child.Outputs.X`` reads the child's output, ``Fn::ImportValue`` the world's
exports, a custom resource's attributes what the world says the function returns).  Values resolve to the
strings they take, ``*`` standing for what cannot be known offline (a generated id).

``World`` holds the stacks of every account and finds, by ARN or name, the principals (``Principal``: a role
with its policies) and the policies attached across templates (env-main attaches its guardrails to env-iam's
roles by name).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from templates_src.checks import iam_coverage
from templates_src.checks.iam_policy import (
    ANY_ARN,
    Decision,
    Request,
    Resolver,
    Statement,
    evaluate,
    glob_match,
    names_accounts_only,
    statements_from,
    trust_statements,
)

PARTITION = "aws"


# -- values -------------------------------------------------------------------------------------------------------
class StackResolver(Resolver):
    """A Resolver for one stack of the world: parameters resolved lazily from the parent, resources' physical
    names and ARNs, child outputs, exports and custom resources' attributes."""

    def __init__(self, stack: Stack):
        super().__init__(
            stack.template,
            {},
            pseudo={"AWS::AccountId": stack.account, "AWS::Region": stack.region, "AWS::StackName": stack.stack_name},
        )
        self.stack = stack
        self.params = {}  # lazily filled: see _ref

    def _param(self, name: str) -> list[str]:
        if name not in self.params:
            self.params[name] = None  # guards against cycles
            value = self.stack.parameter(name)
            self.params[name] = value
        value = self.params[name]
        if value is None:
            return ["*"]
        return list(value) if isinstance(value, (list, tuple)) else [str(value)]

    def _ref(self, name: str) -> list[str]:
        if name in self.pseudo:
            value = self.pseudo[name]
            return [] if value is None else [value]
        if name in (self.template.get("Parameters") or {}):
            return self._param(name)
        resource = (self.template.get("Resources") or {}).get(name)
        if resource is not None:
            return self.stack.physical(name)
        return ["*"]

    def values(self, node) -> list[str]:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::GetAtt":
                logical, attr = args if isinstance(args, list) else args.split(".", 1)
                return self.stack.attribute(logical, attr)
            if fn == "Fn::ImportValue":
                return [v for name in super().values(args) for v in self.stack.world.export(name)]
            if fn == "Fn::Split":
                return [piece for value in self.values(args[1]) for piece in value.split(args[0])]
            if fn == "Fn::Select":
                items = args[1]
                if isinstance(items, list) and str(args[0]).isdigit():
                    return self.values(items[int(args[0])]) if int(args[0]) < len(items) else ["*"]
                values = self.values(items)
                index = int(args[0]) if str(args[0]).isdigit() else None
                return [values[index]] if index is not None and index < len(values) else ["*"]
        return super().values(node)

    def _sub(self, text: str, local: dict) -> list[str]:
        local = dict(local)
        for var in re.findall(r"\$\{([^}!]+)\}", text):
            if "." in var and var not in local:
                local[var] = {"Fn::GetAtt": var.split(".", 1)}
        return super()._sub(text, local)


# -- stacks -----------------------------------------------------------------------------------------------------------
@dataclass
class Stack:
    world: World
    name: str  # template name
    template: dict
    account: str
    region: str
    stack_name: str
    params: dict[str, Any]  # given values (strings, lists) or intrinsic nodes resolved by ``parent``
    parent: Stack | None = None
    children: dict[str, Stack] = field(default_factory=dict)
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom resource -> attribute -> value

    @functools.cached_property
    def resolver(self) -> StackResolver:
        return StackResolver(self)

    def parameter(self, name: str):
        spec = (self.template.get("Parameters") or {}).get(name, {})
        if name in self.params:
            value = self.params[name]
            if self.parent is not None and isinstance(value, (dict, list)) and not _plain(value):
                values = self.parent.resolver.values(value)
                if spec.get("Type", "").startswith(("List<", "CommaDelimitedList")):
                    return [piece for v in values for piece in v.split(",")]
                return values[0] if len(values) == 1 else values
            return value
        return spec.get("Default")

    def condition(self, name: str | None) -> bool | None:
        return None if name is None else self.resolver.condition(name)

    def exists(self, logical_id: str) -> bool:
        """Whether the resource is created (its condition does not evaluate to false)."""
        return self.condition(self.template["Resources"][logical_id].get("Condition")) is not False

    def resources(self, type_: str | None = None) -> dict[str, dict]:
        return {
            lid: r
            for lid, r in (self.template.get("Resources") or {}).items()
            if (type_ is None or r["Type"] == type_) and self.exists(lid)
        }

    def physical(self, logical_id: str) -> list[str]:
        """What ``Ref`` of a resource gives: names for named resources, ARNs where Ref is the ARN."""
        resource = self.template["Resources"][logical_id]
        t, props = resource["Type"], resource.get("Properties") or {}
        arns = iam_coverage.own_arns(resource, logical_id, self.resolver, self.stack_name)
        if t in ("AWS::IAM::ManagedPolicy", "AWS::SNS::Topic"):
            return arns
        name_property = {
            "AWS::IAM::Role": "RoleName",
            "AWS::S3::Bucket": "BucketName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::CodeBuild::Project": "Name",
            "AWS::CodePipeline::Pipeline": "Name",
            "AWS::CodeCommit::Repository": "RepositoryName",
            "AWS::CloudFormation::StackSet": "StackSetName",
            "AWS::SSM::Parameter": "Name",
            "AWS::Logs::LogGroup": "LogGroupName",
            "AWS::Events::Rule": "Name",
        }.get(t)
        if name_property and props.get(name_property) is not None:
            return self.resolver.values(props[name_property])
        if t == "AWS::KMS::Key":
            return [self.world.key_id(self, logical_id)]
        return [f"{logical_id.lower()}-{self.world.fake_id(self, logical_id)}"]

    def attribute(self, logical_id: str, attr: str) -> list[str]:
        resources = self.template.get("Resources") or {}
        resource = resources.get(logical_id)
        if resource is None:
            return ["*"]
        t = resource["Type"]
        if t == "AWS::CloudFormation::Stack" and attr.startswith("Outputs."):
            child = self.children.get(logical_id)
            if child is None:
                return ["*"]
            output = (child.template.get("Outputs") or {}).get(attr.split(".", 1)[1])
            return child.resolver.values(output["Value"]) if output else ["*"]
        if t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource":
            value = self.custom.get(logical_id, {}).get(attr)
            if value is None:
                return ["*"]
            return list(value) if isinstance(value, (list, tuple)) else [str(value)]
        if attr == "Arn" or attr.endswith("Arn"):
            if t == "AWS::KMS::Key":
                return [f"arn:{PARTITION}:kms:{self.region}:{self.account}:key/{self.world.key_id(self, logical_id)}"]
            arns = iam_coverage.own_arns(resource, logical_id, self.resolver, self.stack_name)
            return [a for a in arns if a != ANY_ARN] or [ANY_ARN]
        if attr == "KeyId" and t == "AWS::KMS::Key":
            return [self.world.key_id(self, logical_id)]
        if attr == "Name":
            return self.physical(logical_id)
        if attr == "DomainId":
            return [f"d-{self.world.fake_id(self, logical_id)[:12]}"]
        if attr == "GroupId" and t == "AWS::EC2::SecurityGroup":
            return self.physical(logical_id)  # a VPC security group's Ref is its id
        return ["*"]

    def export_values(self) -> dict[str, list[str]]:
        out = {}
        for _key, output in (self.template.get("Outputs") or {}).items():
            if "Export" in output and self.condition(output.get("Condition")) is not False:
                for name in self.resolver.values(output["Export"]["Name"]):
                    out[name] = self.resolver.values(output["Value"])
        return out

    def walk(self) -> Iterable[Stack]:
        yield self
        for child in self.children.values():
            yield from child.walk()


def _plain(value) -> bool:
    """A literal (no intrinsic function anywhere)."""
    if isinstance(value, dict):
        return not any(k == "Ref" or k.startswith("Fn::") for k in value) and all(_plain(v) for v in value.values())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return True


# -- principals --------------------------------------------------------------------------------------------------------
@dataclass
class Principal:
    """An IAM role as deployed: what it may do (identity statements, boundary) and who may become it (trust)."""

    key: str  # "<account>/<template>/<logical id>" (+ a label for the same template deployed twice)
    arn: str
    name: str
    account: str
    stack: Stack
    logical_id: str
    identity: list[Statement]
    boundary: list[Statement] | None  # None: no boundary (or one the world cannot read)
    boundary_arn: str | None
    trust: list[Statement]
    unreadable: list[str]  # managed policy ARNs the world has no document of (AWS managed)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return self.stack.name

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Principal) and other.key == self.key

    def __repr__(self):
        return f"Principal({self.key})"


# -- the world ---------------------------------------------------------------------------------------------------------
class World:
    """Every deployed stack, by account, with lookups across them."""

    def __init__(self, templates: dict[str, dict], region: str = "eu-west-1"):
        self.templates = templates
        self.region = region
        self.stacks: list[Stack] = []
        self._exports: dict[str, list[str]] | None = None
        self.modelled_policies: dict[str, list[Statement]] = {}  # AWS managed policy ARN -> modelled statements

    # deployment
    def deploy(
        self,
        name: str,
        account: str,
        stack_name: str,
        params: dict[str, Any] | None = None,
        custom: dict[str, dict[str, Any]] | None = None,
        nested: Callable[[str], dict] | None = None,
    ) -> Stack:
        """Deploy template ``name`` (and its nested stacks whose conditions hold) in ``account``.

        ``custom``: attributes of custom resources, for this stack and its children (by logical id).
        """
        stack = Stack(
            self,
            name,
            self.templates[name],
            account,
            self.region,
            stack_name,
            dict(params or {}),
            custom=dict(custom or {}),
        )
        self._nest(stack)
        self.stacks.append(stack)
        self._exports = None
        return stack

    def _nest(self, stack: Stack) -> None:
        for lid, resource in (stack.template.get("Resources") or {}).items():
            if resource["Type"] != "AWS::CloudFormation::Stack":
                continue
            url = (resource.get("Properties") or {}).get("TemplateURL")
            if not isinstance(url, str) or not url.endswith((".yaml", ".json")):
                continue
            child_name = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if child_name not in self.templates:
                continue
            child = Stack(
                self,
                child_name,
                self.templates[child_name],
                stack.account,
                stack.region,
                f"{stack.stack_name}-{lid}-X",
                dict((resource.get("Properties") or {}).get("Parameters") or {}),
                parent=stack,
                custom=stack.custom,
            )
            stack.children[lid] = child
        for lid in list(stack.children):
            if not stack.exists(lid):
                del stack.children[lid]
            else:
                self._nest(stack.children[lid])

    def all_stacks(self) -> list[Stack]:
        return [s for root in self.stacks for s in root.walk()]

    def export(self, name: str) -> list[str]:
        if self._exports is None:
            self._exports = {}
            for stack in self.all_stacks():
                self._exports.update(stack.export_values())
        return self._exports.get(name, ["*"])

    @staticmethod
    def fake_id(stack: Stack, logical_id: str) -> str:
        import hashlib

        return hashlib.sha256(f"{stack.account}/{stack.stack_name}/{logical_id}".encode()).hexdigest()[:17]

    def key_id(self, stack: Stack, logical_id: str) -> str:
        h = self.fake_id(stack, logical_id) + self.fake_id(stack, logical_id + "k")
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    # policies and principals
    @functools.cached_property
    def managed_policies(self) -> dict[str, tuple[Stack, str]]:
        """Customer managed policy ARN -> (stack, logical id), for every policy the templates create."""
        out = {}
        for stack in self.all_stacks():
            for lid in stack.resources("AWS::IAM::ManagedPolicy"):
                for arn in stack.physical(lid):
                    out[arn] = (stack, lid)
        return out

    def policy_statements(self, arn: str) -> list[Statement] | None:
        for known, (stack, lid) in self.managed_policies.items():
            if known == arn or ("*" in known and glob_match(known, arn)):
                document = stack.template["Resources"][lid]["Properties"]["PolicyDocument"]
                return statements_from(document, stack.resolver, f"managed:{stack.name}/{lid}")
        if arn in self.modelled_policies:
            return self.modelled_policies[arn]
        return None

    @functools.cached_property
    def _attached_elsewhere(self) -> dict[tuple[str, str], list[Statement]]:
        """(account, role name) -> statements of policies that name the role in their Roles property."""
        out: dict[tuple[str, str], list[Statement]] = {}
        for stack in self.all_stacks():
            for type_ in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                for lid, resource in stack.resources(type_).items():
                    props = resource.get("Properties") or {}
                    roles = props.get("Roles")
                    if not roles:
                        continue
                    names = stack.resolver.values(roles)
                    statements = statements_from(props["PolicyDocument"], stack.resolver, f"policy:{stack.name}/{lid}")
                    for name in names:
                        if name and name != "*":
                            out.setdefault((stack.account, name), []).extend(statements)
        return out

    @functools.cached_property
    def principals(self) -> list[Principal]:
        out = []
        for stack in self.all_stacks():
            for lid, resource in stack.resources("AWS::IAM::Role").items():
                out.append(self._principal(stack, lid, resource))
        return out

    def _principal(self, stack: Stack, lid: str, resource: dict) -> Principal:
        from templates_src.checks.iam_policy import role_statements

        props = resource.get("Properties") or {}
        resolver = stack.resolver
        [arn, *_] = [a for a in iam_coverage.own_arns(resource, lid, resolver, stack.stack_name)] or [ANY_ARN]
        name = arn.rsplit("/", 1)[-1]
        identity, unreadable = role_statements(stack.template, lid, resolver)
        readable_elsewhere = []
        for policy_arn in list(unreadable):
            found = self.policy_statements(policy_arn)
            if found is not None:
                identity += found
                readable_elsewhere.append(policy_arn)
        unreadable = [u for u in unreadable if u not in readable_elsewhere]
        identity += self._attached_elsewhere.get((stack.account, name), [])
        boundary, boundary_arn = None, None
        if props.get("PermissionsBoundary") is not None:
            values = resolver.values(props["PermissionsBoundary"])
            if len(values) == 1:
                boundary_arn = values[0]
                boundary = self.policy_statements(boundary_arn)
        trust = trust_statements(stack.template, lid, resolver)
        tags = {}
        for tag in props.get("Tags") or []:
            if isinstance(tag, dict) and "Key" in tag:
                tags[tag["Key"]] = "".join(resolver.values(tag["Value"])[:1])
        return Principal(
            f"{stack.account}/{stack.stack_name}/{lid}",
            arn,
            name,
            stack.account,
            stack,
            lid,
            identity,
            boundary,
            boundary_arn,
            trust,
            unreadable,
            tags,
        )

    def principal(self, predicate: Callable[[Principal], bool]) -> Principal:
        found = [p for p in self.principals if predicate(p)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} principals match: {found}")
        return found[0]

    def by_arn(self, arn: str) -> Principal | None:
        for p in self.principals:
            if p.arn == arn:
                return p
        return None

    def role(self, account: str, template: str, logical_id: str, stack_name: str | None = None) -> Principal:
        return self.principal(
            lambda p: (
                p.account == account
                and p.template == template
                and p.logical_id == logical_id
                and (stack_name is None or p.stack.stack_name.startswith(stack_name))
            )
        )

    # resources of other kinds
    def resources(self, type_: str) -> list[tuple[Stack, str, dict]]:
        return [(s, lid, r) for s in self.all_stacks() for lid, r in s.resources(type_).items()]


# -- evaluation with identity policy and boundary ----------------------------------------------------------------------
def decide(
    principal: Principal, req: Request, resource_policy: list[Statement] | None = None, same_account: bool = True
) -> Decision:
    """IAM's decision for a request by ``principal``: an explicit Deny anywhere wins; the identity policy must
    allow (or, in the resource's own account, the resource policy naming the principal); a permissions boundary
    must allow too.  Cross-account requests need both the identity policy and the resource policy."""
    identity = evaluate(principal.identity, req)
    denied_by = list(identity.denied_by)
    if resource_policy is not None and same_account:
        # In its own account a statement naming only accounts grants nobody by itself (it delegates to IAM).
        resource_policy = [s for s in resource_policy if s.effect == "Deny" or not names_accounts_only(s)]
    resource = evaluate(resource_policy, req) if resource_policy is not None else None
    if resource is not None:
        denied_by += resource.denied_by
    boundary = evaluate(principal.boundary, req) if principal.boundary is not None else None
    if boundary is not None:
        denied_by += boundary.denied_by
    if denied_by:
        return Decision(False, denied_by=denied_by)
    if resource_policy is None:
        allowed = identity.allowed
    elif same_account:
        allowed = identity.allowed or resource.allowed
    else:
        allowed = identity.allowed and resource.allowed
    if allowed and boundary is not None and not boundary.allowed:
        return Decision(False, by=identity.by)
    conditional = (
        identity.conditional
        or (resource is not None and resource.conditional)
        or (boundary is not None and boundary.conditional)
    )
    return Decision(allowed, conditional=allowed and conditional, by=identity.by + (resource.by if resource else []))
