"""Properties every generated template must have, whatever the configuration."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re

import troposphere

from templates_src.config import from_mapping
from templates_src.context import BuildContext
from templates_src.generator import build_selected, generate
from templates_src.registry import DIRECT_DEPLOY_LIMIT, TEMPLATES
from tests import cfn
from tests.conftest import ENTERPRISE, PINNED

SAGEMAKER_SERVICE_ROLES = {
    "AmazonSageMakerServiceCatalogProductsLaunchRole",
    "AmazonSageMakerServiceCatalogProductsUseRole",
}


def _taggable_types() -> set[str]:
    """Resource types whose troposphere class has a Tags property."""
    found = set()
    for mod in pkgutil.iter_modules(troposphere.__path__):
        try:
            module = importlib.import_module(f"troposphere.{mod.name}")
        except Exception:  # optional helper modules
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if getattr(cls, "resource_type", None) and "Tags" in getattr(cls, "props", {}):
                found.add(cls.resource_type)
    return found


TAGGABLE = _taggable_types()


def test_all_templates_are_built_from_the_registry_by_family(templates):
    """Every registered template is built, in registry order, by the module of its family's folder."""
    from templates_src.registry import FAMILIES, TEMPLATES

    assert list(templates) == list(TEMPLATES)
    for name, spec in TEMPLATES.items():
        assert spec.family in FAMILIES
        assert spec.build.__module__ == f"templates_src.templates.{spec.family}.{name.replace('-', '_')}", name


def test_every_taggable_resource_has_the_configured_tags(any_templates):
    name, built = any_templates
    wanted = ENTERPRISE["tags"] if name != "default" else {"Solution": "sagemaker-secure-mlops"}
    seen = 0
    for template in built.values():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] not in TAGGABLE:
                continue
            seen += 1
            tags = resource["Properties"].get("Tags")
            # (an Fn::If item is a conditional tag a builder adds, beside the configured ones)
            tags = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags or [] if "Key" in t}
            assert wanted.items() <= tags.items(), f"{logical_id} misses tags"
    assert seen >= 15  # roles, functions, log groups, nested stacks, Service Catalog resources


# The environment's roles carry the platform boundary (core-main's, passed down by env-main) when none is configured.
PLATFORM_BOUNDED = {"env-iam", "env-sagemaker-studio"}


def test_every_role_gets_path_and_boundary(any_templates):
    name, built = any_templates
    for template_name, template in built.items():
        for logical_id, role in cfn.resources(template, "AWS::IAM::Role").items():
            props = role["Properties"]
            expected_path = (
                "/service-role/"
                if logical_id in SAGEMAKER_SERVICE_ROLES
                else (ENTERPRISE["role_path"] if name != "default" else "/")
            )
            assert props["Path"] == expected_path, logical_id
            if name != "default":
                assert cfn.text(props["PermissionsBoundary"]) == (
                    "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/ml-platform-boundary"
                )
            elif template_name in PLATFORM_BOUNDED:
                assert props["PermissionsBoundary"] == {"Ref": "PermissionsBoundaryArn"}, logical_id
            elif "PermissionsBoundaryArn" not in template.get("Parameters", {}) and "UseTargetAccountBoundary" in (
                template.get("Parameters", {})
            ):
                # Target-account network: only the boundary computed in the account, when asked for.
                assert props["PermissionsBoundary"] == {
                    "Fn::If": [
                        "TargetAccountBoundaryCondition",
                        {
                            "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
                            "${EnvName}-${EnvType}-target-account-boundary"
                        },
                        {"Ref": "AWS::NoValue"},
                    ]
                }, logical_id
            elif "UseTargetAccountBoundary" in template.get("Parameters", {}):
                # Target-account roles: the boundary the setup role enforces there, given as a parameter or
                # computed in the account (what the environment's self-managed StackSets ask for).
                assert props["PermissionsBoundary"] == {
                    "Fn::If": [
                        "PermissionsBoundaryGiven",
                        {"Ref": "PermissionsBoundaryArn"},
                        {
                            "Fn::If": [
                                "TargetAccountBoundaryCondition",
                                {
                                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"
                                    "${EnvName}-${EnvType}-target-account-boundary"
                                },
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                    ]
                }, logical_id
            else:
                assert "PermissionsBoundary" not in props


def test_no_hard_coded_partition_or_global_s3_url(any_templates):
    flavour, built = any_templates
    for name, template in built.items():
        body = json.dumps(template)
        if flavour == "pinned":  # the pinned key ARN is the user's literal, partition included
            body = body.replace(PINNED["logs_kms_key_arn"], "")
        assert "arn:aws:" not in body, name
        assert "//s3.amazonaws.com" not in body, name  # the global endpoint (service principals are fine)


def _key_policy_root_statement(stmt: dict) -> bool:
    """AWS's default key policy statement: the account root gets kms:* so that IAM policies decide."""
    principal = stmt.get("Principal")
    principal = principal.get("AWS") if isinstance(principal, dict) else principal
    return (
        stmt["Effect"] == "Allow"
        and cfn.as_list(stmt.get("Action")) == ["kms:*"]
        and "root" in json.dumps(principal)
        and "Condition" not in stmt
    )


def _endpoint_policy_statements(template: dict) -> list[dict]:
    """VPC endpoint policies filter what passes the endpoint; they grant nothing (IAM and resource policies do)."""
    return [
        s
        for e in cfn.resources(template, "AWS::EC2::VPCEndpoint").values()
        for s in cfn.as_list((e["Properties"].get("PolicyDocument") or {}).get("Statement", []))
    ]


def _boundary_statements(template: dict) -> list[dict]:
    """Permissions boundaries are ceilings, not grants: the platform boundary names whole services (roles' own
    policies scope them; tests/test_boundary.py proves each role lies within it)."""
    boundaries = {"PlatformBoundary", "TargetAccountBoundary"}
    return [
        s
        for lid, p in cfn.resources(template, "AWS::IAM::ManagedPolicy").items()
        if lid in boundaries
        for s in cfn.as_list(p["Properties"]["PolicyDocument"]["Statement"])
    ]


def test_no_wildcard_everything_grants(any_templates):
    _, built = any_templates
    for name, template in built.items():
        filters = _endpoint_policy_statements(template)
        ceilings = _boundary_statements(template)
        for stmt in cfn.all_statements(template):
            if any(stmt is f for f in filters):
                continue
            acts = cfn.as_list(stmt.get("Action", []))
            assert "*" not in acts, name
            # A Deny may cover a whole service (s3:* without TLS); an Allow never does, except the key root and a
            # permissions boundary's ceiling.
            if (
                stmt["Effect"] == "Allow"
                and not _key_policy_root_statement(stmt)
                and not any(stmt is c for c in ceilings)
            ):
                assert not any(re.fullmatch(r"[a-z0-9-]+:\*", a) for a in acts), (name, acts)
            assert "NotAction" not in stmt, name
            # NotResource only narrows a Deny ("everything but the environment's own domain").
            assert "NotResource" not in stmt or stmt["Effect"] == "Deny", name
            if stmt["Effect"] == "Allow" and "Principal" not in stmt and not any(stmt is c for c in ceilings):
                resources = cfn.as_list(stmt["Resource"])
                # '*' only for actions that have no resource-level permissions (each such use has a
                # comment in the builder); never for IAM changes.
                if "*" in resources:
                    assert not any(a.startswith("iam:") for a in acts), (name, acts)


def test_no_duplicate_actions(any_templates):
    _, built = any_templates
    for name, template in built.items():
        for stmt in cfn.all_statements(template):
            acts = cfn.as_list(stmt.get("Action", []))
            assert len(acts) == len(set(acts)), (name, stmt.get("Sid"))


def test_lambda_runtime_is_the_configured_supported_one(any_templates):
    name, built = any_templates
    runtime = ENTERPRISE["lambda_runtime"] if name != "default" else "python3.13"
    functions = [f for t in built.values() for f in cfn.resources(t, "AWS::Lambda::Function").values()]
    assert functions
    assert {f["Properties"]["Runtime"] for f in functions} == {runtime}


def test_version_only_where_it_means_something(default_config):
    """A new release version changes only the product version names, so unchanged templates keep their bytes."""
    before = generate(default_config).files()
    after = generate(default_config.model_copy(update={"version": "9.9.9"})).files()
    changed = sorted(rel for rel in before if before[rel] != after[rel])
    # The bootstrap names the release it publishes (its URLs and the configuration it passes on).
    assert changed == ["core-sc-shared-portfolio.yaml", "env-sc-portfolio.yaml", "package-cfn.yaml"]
    assert b"v9.9.9" in after["core-sc-shared-portfolio.yaml"] and b"v9.9.9" in after["env-sc-portfolio.yaml"]


def test_direct_deploy_templates_fit_template_file_limit(configs):
    for config in configs.values():
        generation = generate(config, fmt="both")
        for name, spec in TEMPLATES.items():
            if spec.deploy_directly:
                for rel, data in generation.templates[name].files.items():
                    assert len(data) <= DIRECT_DEPLOY_LIMIT, rel


def test_generation_is_deterministic(enterprise_config):
    first = generate(enterprise_config, fmt="both").files()
    second = generate(from_mapping(ENTERPRISE), fmt="both").files()
    assert first == second


def test_parameters_that_build_names_are_bounded(any_templates):
    """Every parameter used inside a Sub'd physical name has a MaxLength or AllowedValues."""
    _, built = any_templates
    for name, template in built.items():
        params = template.get("Parameters", {})
        for resource in template["Resources"].values():
            for key in ("RoleName", "FunctionName", "LogGroupName"):
                value = resource["Properties"].get(key)
                for var in re.findall(r"\$\{(\w+)\}", json.dumps(value)):
                    if var in params:
                        assert "MaxLength" in params[var] or "AllowedValues" in params[var], (name, var)


def test_every_parameter_has_description_label_and_constraint_text(any_templates):
    _, built = any_templates
    for name, template in built.items():
        labels = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
        for pname, param in template.get("Parameters", {}).items():
            assert param.get("Description"), (name, pname)
            assert pname in labels, (name, pname)
            if any(k in param for k in ("AllowedPattern", "AllowedValues", "MaxLength", "MinLength")):
                assert param.get("ConstraintDescription"), (name, pname)


def test_every_parameter_is_in_one_console_group(any_templates):
    _, built = any_templates
    for name, template in built.items():
        groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        grouped = [p for g in groups for p in g["Parameters"]]
        assert sorted(grouped) == sorted(template.get("Parameters", {})), name


def test_context_is_not_shared_between_builds(default_config, enterprise_config):
    """Builders keep no module state: building with one config does not leak into another."""
    a = build_selected(None, BuildContext(default_config))
    build_selected(None, BuildContext(enterprise_config))
    assert build_selected(None, BuildContext(default_config)) == a
