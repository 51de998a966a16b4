"""Security scanners over the build output: checkov, and AWS Control Tower's proactive controls (cfn-guard).

The scanners are not Python dependencies of the project (checkov pins boto3/awscli versions that conflict
with ours): ``bash scripts/install_scanners.sh`` installs them, pinned, under ``.tools/``.  The tests find
them there or through CHECKOV (checkov executable), CFN_GUARD (cfn-guard binary) and CT_RULES (the Control
Tower rules folder), and skip when they are missing, unless SM_MLOPS_REQUIRE_SCANNERS=1 (as in CI), which
turns a missing scanner into a failure.

checkov: no finding may be left unexplained.  A finding is fixed, or skipped on the resource with a reason
(``templates_src.blocks.scanners``), in every configuration.

Control Tower: the controls an enterprise may enforce as CloudFormation hooks.  The default configuration
does not meet exactly ``NOT_MET_BY_DEFAULT`` (the README's table lists them with the option that meets each),
and the hardened configuration meets every control.  The hardened templates take the key and the network as
deploy-time parameters; the hooks evaluate resources with parameters resolved, while cfn-guard on a template
file cannot resolve a ``Ref`` to a parameter (it accepts only literals and references to resources of the
template).  So the hardened templates are checked as CloudFormation hands them to the hooks: with
well-formed values for those parameters.  The pinned configuration (the hardened one with the key and the
network fixed at generation time, ``logs_kms_key_arn`` and ``function_network``) needs no such help: its
template files, as written, meet every control.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import re
import shutil
import subprocess

import pytest

from templates_src.blocks import parameters as params
from templates_src.blocks import scanners
from templates_src.generator import generate, write
from tests import cfn
from tests.conftest import HARDENED, PINNED, REPO

REQUIRE = os.environ.get("SM_MLOPS_REQUIRE_SCANNERS") == "1"
TOOLS = REPO / ".tools"
ARCH = {"arm64": "aarch64"}.get(platform.machine(), platform.machine())
CFNGUARD_PACKAGE = TOOLS / "cfnguard" / "package"

# Control Tower proactive controls the default configuration does not meet -> the option that meets it.
NOT_MET_BY_DEFAULT = {
    "CT.CLOUDWATCH.PR.3": "encrypt_logs",
    "CT.LAMBDA.PR.3": "functions_in_vpc",
}
# What CloudFormation passes for the hardening parameters (well-formed, as the parameter types demand): the
# values the pinned configuration fixes at generation time.
DEPLOY_TIME_VALUES = {
    params.LOGS_KMS_KEY_ARN.name: PINNED["logs_kms_key_arn"],
    params.FUNCTION_SUBNET_IDS.name: PINNED["function_network"]["subnet_ids"],
    params.FUNCTION_SECURITY_GROUP_IDS.name: PINNED["function_network"]["security_group_ids"],
}
TIMEOUT = 300


def _missing(what: str, where: str, variable: str):
    message = (f"{what} not found ({where}): run `bash scripts/install_scanners.sh`, or set {variable}")
    if REQUIRE:
        pytest.fail(f"{message}; SM_MLOPS_REQUIRE_SCANNERS=1 requires every scanner")
    pytest.skip(message)


def _executable(variable: str, default: pathlib.Path, what: str) -> str:
    given = os.environ.get(variable)
    found = shutil.which(given or str(default))
    if not found:
        _missing(what, given or str(default.relative_to(REPO)), variable)
    return found


def _folder(variable: str, default: pathlib.Path, what: str) -> pathlib.Path:
    path = pathlib.Path(os.environ.get(variable) or default)
    if not path.is_dir() or not any(path.rglob("*.guard")):
        _missing(what, str(path), variable)
    return path


@pytest.fixture(scope="module")
def built(configs, tmp_path_factory) -> dict[str, pathlib.Path]:
    """The build output (YAML) of every configuration, one folder each, side by side in one parent folder."""
    parent = tmp_path_factory.mktemp("builds")
    for flavour, config in configs.items():
        write({rel: data for rel, data in generate(config).files().items() if rel.endswith(".yaml")},
              parent / flavour)
    return {flavour: parent / flavour for flavour in configs}


# -- checkov ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkov() -> str:
    return _executable("CHECKOV", TOOLS / "checkov" / "bin" / "checkov", "checkov")


def run_checkov(executable: str, folder: pathlib.Path) -> dict:
    """checkov's CloudFormation report (offline) over every template under ``folder``."""
    proc = subprocess.run(
        [executable, "--directory", str(folder), "--framework", "cloudformation", "--skip-download",
         "--output", "json", "--compact"],
        capture_output=True, text=True, timeout=TIMEOUT, cwd=folder)
    # Exit code 1 means findings; output that is not JSON means checkov failed.
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    found = [r for r in (report if isinstance(report, list) else [report]) if r.get("check_type") == "cloudformation"]
    assert found, f"checkov found no CloudFormation template in {folder}: {proc.stdout[:500]}"
    return found[0]


@pytest.fixture(scope="module")
def checkov_run(checkov, built) -> dict:
    """One checkov run over the builds of every configuration: one start-up (most of its time) instead of three."""
    (parent,) = {folder.parent for folder in built.values()}
    return run_checkov(checkov, parent)


def _flavour(check: dict) -> str:
    return check["file_path"].lstrip("/").split("/")[0]


@pytest.fixture(params=["default", "enterprise", "hardened", "pinned"])
def checkov_report(request, checkov_run) -> tuple[str, dict[str, list[dict]]]:
    """One configuration's checkov results: passed_checks, failed_checks, skipped_checks."""
    return request.param, {kind: [c for c in checks if _flavour(c) == request.param]
                           for kind, checks in checkov_run["results"].items() if kind.endswith("_checks")}


def _where(check: dict) -> str:
    return f"{check['check_id']} {check['resource']} ({check['file_path'].lstrip('/')})"


def test_checkov_scans_every_template(checkov_run, built):
    assert checkov_run["results"].get("parsing_errors", []) == []
    resources = sum(len(cfn.load(p.read_bytes())["Resources"]) for f in built.values() for p in f.glob("*.yaml"))
    assert checkov_run["summary"]["resource_count"] == resources
    assert {_flavour(c) for c in checkov_run["results"]["passed_checks"]} == set(built)


def test_checkov_finds_nothing_unexplained(checkov_report):
    """Every checkov finding is fixed, or skipped on its resource with a reason."""
    flavour, report = checkov_report
    failed = sorted(_where(c) for c in report["failed_checks"])
    assert failed == [], f"{flavour}: {len(failed)} failed checkov checks:\n" + "\n".join(failed)


def test_checkov_skips_carry_reasons(checkov_report, built):
    """A skip without a comment is an unexplained finding too (checkov would say 'No comment provided')."""
    flavour, report = checkov_report
    for check in report["skipped_checks"]:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert comment.strip() and comment != "No comment provided", _where(check)
    for path in sorted(built[flavour].glob("*.yaml")):
        for logical_id, resource in cfn.load(path.read_bytes())["Resources"].items():
            for entry in ((resource.get("Metadata") or {}).get(scanners.CHECKOV) or {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", entry.get("id", "")), (path.name, logical_id, entry)
                assert str(entry.get("comment") or "").strip(), (path.name, logical_id, entry)


def test_skip_reasons_are_defined_once():
    reasons = [v for v in vars(scanners).values() if isinstance(v, scanners.Reason)]
    comments = [r.comment for r in reasons]
    assert len(comments) == len(set(comments))


# -- AWS Control Tower proactive controls ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def cfn_guard() -> tuple[str, pathlib.Path]:
    binary = _executable("CFN_GUARD", CFNGUARD_PACKAGE / "bin" / "ubuntu" / ARCH / "cfn-guard", "cfn-guard")
    rules = _folder("CT_RULES", CFNGUARD_PACKAGE / "rules" / "control-tower" / "cfn-guard",
                    "Control Tower rules")
    return binary, rules


def _documents(raw: str) -> list[dict]:
    """cfn-guard writes one JSON document per (rules file, template), one after the other."""
    decoder, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(raw) and raw[i].isspace():
            i += 1
        if i == len(raw):
            return out
        document, i = decoder.raw_decode(raw, i)
        out.append(document)


def _failures(node, controls: set[str], resources: set[str]) -> None:
    """Control ids (from the rules' messages) and logical ids (from the paths) in a not-compliant rule."""
    if isinstance(node, dict):
        message = (node.get("messages") or {}).get("custom_message") or ""
        controls.update(re.findall(r"\[(CT\.[A-Z0-9]+\.PR\.\d+)\]", message))
        path = node.get("path")
        if isinstance(path, str) and (match := re.match(r"/Resources/([^/\[]+)", path)):
            resources.add(match.group(1))
        for value in node.values():
            _failures(value, controls, resources)
    elif isinstance(node, list):
        for value in node:
            _failures(value, controls, resources)


def run_cfn_guard(guard: tuple[str, pathlib.Path], folder: pathlib.Path) -> set[tuple[str, str, str]]:
    """Every failure as (template, control, logical id)."""
    binary, rules = guard
    proc = subprocess.run([binary, "validate", "--rules", str(rules), "--data", str(folder), "--output-format",
                           "json", "--show-summary", "none"], capture_output=True, text=True, timeout=TIMEOUT)
    # 0: every rule passed; 19: some failed.  Anything else is an error of the run.
    assert proc.returncode in (0, 19), f"cfn-guard exit {proc.returncode}: {proc.stderr[-2000:]}"
    documents = _documents(proc.stdout)
    assert documents, "cfn-guard evaluated nothing"
    failures = set()
    for document in documents:
        if document.get("status") != "FAIL":
            continue
        for rule in document.get("not_compliant", []):
            controls, resources = set(), set()
            _failures(rule, controls, resources)
            assert controls, f"a failed rule names no control: {json.dumps(rule)[:500]}"
            name = pathlib.Path(document["name"]).name
            failures |= {(name, control, resource) for control in controls for resource in resources or {"?"}}
    return failures


@pytest.fixture(scope="module")
def raw_failures(cfn_guard, built):
    """cfn-guard's failures over a configuration's build output as written (one run per configuration)."""
    runs: dict[str, set] = {}

    def failures(flavour: str) -> set[tuple[str, str, str]]:
        if flavour not in runs:
            runs[flavour] = run_cfn_guard(cfn_guard, built[flavour])
        return runs[flavour]

    return failures


def resolve(node, values: dict):
    """``node`` with every Ref to a parameter in ``values`` replaced by its value."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {k: resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, values) for v in node]
    return node


def test_default_configuration_misses_exactly_the_listed_controls(raw_failures, templates, configs):
    # The option named for each control exists, is off by default and on in the hardened configuration.
    for option in NOT_MET_BY_DEFAULT.values():
        assert getattr(configs["default"], option) is False and getattr(configs["hardened"], option) is True
    failures = raw_failures("default")
    assert {control for _, control, _ in failures} == set(NOT_MET_BY_DEFAULT)
    kinds = {"CT.CLOUDWATCH.PR.3": "AWS::Logs::LogGroup", "CT.LAMBDA.PR.3": "AWS::Lambda::Function"}
    expected = {(f"{name}.yaml", control, logical_id)
                for name, template in templates.items() for control, kind in kinds.items()
                for logical_id in cfn.resources(template, kind)}
    assert failures == expected


def test_hardened_configuration_meets_every_control(cfn_guard, built, tmp_path):
    kms = re.compile(params.LOGS_KMS_KEY_ARN.allowed_pattern)
    assert kms.fullmatch(DEPLOY_TIME_VALUES[params.LOGS_KMS_KEY_ARN.name])
    resolved = 0
    for path in sorted(built["hardened"].glob("*.yaml")):
        template = cfn.load(path.read_bytes())
        assert set(template.get("Parameters", {})) & set(DEPLOY_TIME_VALUES) <= set(DEPLOY_TIME_VALUES)
        deployed = resolve(template, DEPLOY_TIME_VALUES)
        resolved += deployed != template
        (tmp_path / f"{path.stem}.json").write_text(json.dumps(deployed, indent=1))
    assert resolved == 2  # core-main and package-cfn have functions and log groups
    failures = run_cfn_guard(cfn_guard, tmp_path)
    assert failures == set(), "\n".join("\t".join(f) for f in sorted(failures))


def test_hardened_template_files_fail_where_a_parameter_gives_the_value(raw_failures):
    """Why the pinned mode exists: as files, the hardened templates fail the same controls on the same resources
    as the default ones, because cfn-guard takes a Ref to a parameter for no value."""
    assert raw_failures("hardened") == raw_failures("default") != set()


def test_pinned_template_files_meet_every_control_as_written(raw_failures, configs):
    config = configs["pinned"]
    assert config.encrypt_logs and config.functions_in_vpc and config.logs_kms_key_arn and config.function_network
    failures = raw_failures("pinned")  # the build output as written: nothing substituted
    assert failures == set(), "\n".join("\t".join(f) for f in sorted(failures))


def _generator_config_blanked(template: dict) -> dict:
    """``template`` without the value of package-cfn's GENERATOR_CONFIG (the configuration, which differs)."""
    template = json.loads(json.dumps(template))
    for project in cfn.resources(template, "AWS::CodeBuild::Project").values():
        for variable in project["Properties"]["Environment"].get("EnvironmentVariables", []):
            if variable["Name"] == "GENERATOR_CONFIG":
                variable["Value"] = "..."
    return template


def _hardening_parameters_removed(template: dict) -> dict:
    """``template`` without the hardening parameters, their console labels and their (then empty) group."""
    template = json.loads(json.dumps(template))
    for name in DEPLOY_TIME_VALUES:
        template.get("Parameters", {}).pop(name, None)
    layout = template["Metadata"]["AWS::CloudFormation::Interface"]
    for group in layout["ParameterGroups"]:
        group["Parameters"] = [p for p in group["Parameters"] if p not in DEPLOY_TIME_VALUES]
    layout["ParameterGroups"] = [g for g in layout["ParameterGroups"] if g["Parameters"]]
    layout["ParameterLabels"] = {k: v for k, v in layout["ParameterLabels"].items() if k not in DEPLOY_TIME_VALUES}
    return template


def test_pinned_templates_are_the_hardened_ones_with_the_values_in_place(hardened_templates, pinned_templates):
    """Pinning changes where the values come from and nothing else: same resources, function role statements,
    checkov skips and console groups as the hardened templates deployed with those values."""
    assert list(pinned_templates) == list(hardened_templates)
    for name, hardened in hardened_templates.items():
        deployed = _hardening_parameters_removed(resolve(hardened, DEPLOY_TIME_VALUES))
        assert _generator_config_blanked(pinned_templates[name]) == _generator_config_blanked(deployed), name


# -- the hardening parameters -------------------------------------------------------------------------------
def test_hardening_parameters_exactly_where_needed(configs):
    """Templates get the key and network parameters exactly when they have a log group or a function and the
    value is not pinned; a pinned value is in the resources instead.  Each value can be pinned on its own."""
    from templates_src.config import from_mapping
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    one_pinned = {f"{field} pinned only": from_mapping({**HARDENED, field: PINNED[field]})
                  for field in ("logs_kms_key_arn", "function_network")}
    for flavour, config in {**configs, **one_pinned}.items():
        for name, template in build_selected(None, BuildContext(config)).items():
            has_logs = bool(cfn.resources(template, "AWS::Logs::LogGroup"))
            has_functions = bool(cfn.resources(template, "AWS::Lambda::Function"))
            key_parameter = config.encrypt_logs and not config.logs_kms_key_arn
            network_parameters = config.functions_in_vpc and not config.function_network
            wanted = ({params.LOGS_KMS_KEY_ARN.name} if has_logs and key_parameter else set()) | (
                {params.FUNCTION_SUBNET_IDS.name, params.FUNCTION_SECURITY_GROUP_IDS.name}
                if has_functions and network_parameters else set())
            assert set(template.get("Parameters", {})) & set(DEPLOY_TIME_VALUES) == wanted, (flavour, name)
            groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
            hardening = [g["Parameters"] for g in groups if g["Label"]["default"] == params.HARDENING_GROUP]
            assert sorted(p for g in hardening for p in g) == sorted(wanted), (flavour, name)
            for resource in cfn.resources(template, "AWS::Logs::LogGroup").values():
                assert ("KmsKeyId" in resource["Properties"]) == config.encrypt_logs, (flavour, name)
                if config.logs_kms_key_arn:
                    assert resource["Properties"]["KmsKeyId"] == config.logs_kms_key_arn, (flavour, name)
            for logical_id, resource in cfn.resources(template, "AWS::Lambda::Function").items():
                assert ("VpcConfig" in resource["Properties"]) == config.functions_in_vpc, (flavour, name)
                if config.function_network:
                    assert resource["Properties"]["VpcConfig"] == {
                        "SubnetIds": list(config.function_network.subnet_ids),
                        "SecurityGroupIds": list(config.function_network.security_group_ids)}, (flavour, name)
                role = resource["Properties"]["Role"]
                role_id = (role.get("Fn::GetAtt") or role.get("Fn::If", [None, {}])[1].get("Fn::GetAtt"))[0]
                actions = {a for s in cfn.role_statements(template, role_id) for a in cfn.as_list(s["Action"])}
                assert ("ec2:CreateNetworkInterface" in actions) == config.functions_in_vpc, (flavour, logical_id)


# -- the skip mechanism -------------------------------------------------------------------------------------
def test_skip_records_each_check_once_with_its_reasons():
    from troposphere import logs

    group = logs.LogGroup("Group")
    other = scanners.Reason(("CKV_AWS_158", "CKV_AWS_66"), "another reason.")
    scanners.skip(group, scanners.LOGS_SERVICE_ENCRYPTED)
    scanners.skip(group, scanners.LOGS_SERVICE_ENCRYPTED, other)
    assert scanners.skipped(group) == {
        "CKV_AWS_158": f"{scanners.LOGS_SERVICE_ENCRYPTED.comment} another reason.",
        "CKV_AWS_66": "another reason.",
    }
    assert group.to_dict()["Metadata"]["checkov"]["skip"][0]["id"] == "CKV_AWS_158"
    with pytest.raises(ValueError):
        scanners.Reason(("CKV_AWS_1",), " ")
    with pytest.raises(ValueError):
        scanners.Reason((), "a reason")
