"""Security scanners over the build output: checkov, and AWS Control Tower's proactive controls (cfn-guard).

The scanners are not Python dependencies of the project (checkov pins boto3/awscli versions that conflict
with ours): ``bash scripts/install_scanners.sh`` installs them, pinned, under ``.tools/``.  The tests find
them there or through CHECKOV (checkov executable), CFN_GUARD (cfn-guard binary) and CT_RULES (the Control
Tower rules folder), and skip when they are missing, unless SM_MLOPS_REQUIRE_SCANNERS=1 (as in CI), which
turns a missing scanner into a failure.

checkov: no finding may be left unexplained.  A finding is fixed, or skipped on the resource with a reason
(``templates_src.blocks.scanners``), in every configuration.

Control Tower: the controls an enterprise may enforce.  They run as CloudFormation hooks, which evaluate each
resource with its values resolved: parameters, conditions, Fn::If, Fn::Sub and the references between
resources.  cfn-guard on a template file cannot resolve any of these (it takes a ``Ref`` to a parameter for no
value and does not evaluate ``Fn::If``).  So the default and hardened configurations are checked as deployed:
every template users deploy is rendered offline (tests/support_render.py) with its default parameters, the
hardening parameters and sample values for what has no default, every nested template with the values its
parent passes, and cfn-guard evaluates the resolved resources; every resource of every template is evaluated
at least once.  The default configuration fails exactly ``scanners.NOT_MET_BY_DEFAULT`` (each met by a
configuration switch) and ``scanners.NEVER_MET`` (each with its reason); the hardened configuration fails only
``NEVER_MET``.  The pinned configuration (the hardened one with the key and the network fixed at generation
time, ``logs_kms_key_arn`` and ``function_network``) is checked on its template files as written: they fail only
``NEVER_MET`` and ``scanners.UNREADABLE_AS_WRITTEN`` (values a template still takes from a parameter of its
own, forms cfn-guard does not read), each of which passes rendered.  The exceptions are listed in
``templates_src/blocks/scanners.py`` and quoted in the README; a listed exception that no longer fails fails
the suite as much as an unlisted failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess

import pytest

from templates_src import registry
from templates_src.blocks import parameters as params
from templates_src.blocks import project as project_block
from templates_src.blocks import scanners
from templates_src.generator import generate, write
from tests import cfn, support_project, support_render
from tests.conftest import HARDENED, PINNED, REPO

REQUIRE = os.environ.get("SM_MLOPS_REQUIRE_SCANNERS") == "1"
TOOLS = REPO / ".tools"
ARCH = {"arm64": "aarch64"}.get(platform.machine(), platform.machine())
CFNGUARD_PACKAGE = TOOLS / "cfnguard" / "package"

# What CloudFormation passes for the hardening parameters (well-formed, as the parameter types demand): the
# values the pinned configuration fixes at generation time.
DEPLOY_TIME_VALUES = {
    params.LOGS_KMS_KEY_ARN.name: PINNED["logs_kms_key_arn"],
    params.FUNCTION_SUBNET_IDS.name: PINNED["function_network"]["subnet_ids"],
    params.FUNCTION_SECURITY_GROUP_IDS.name: PINNED["function_network"]["security_group_ids"],
}
TIMEOUT = 300


def _missing(what: str, where: str, variable: str):
    message = f"{what} not found ({where}): run `bash scripts/install_scanners.sh`, or set {variable}"
    if REQUIRE:
        pytest.fail(f"{message}; SM_MLOPS_REQUIRE_SCANNERS=1 requires every scanner")
    pytest.skip(message)


def _find(variable: str, default: pathlib.Path) -> tuple[str | None, str]:
    """The executable (or None) and where it was looked for."""
    given = os.environ.get(variable)
    return shutil.which(given or str(default)), given or str(default.relative_to(REPO))


# -- running the scanners -------------------------------------------------------------------------------------
class Scan:
    """A scanner process started in the background (its output goes to files, so it never waits for a reader)."""

    def __init__(self, args: list[str], output: pathlib.Path, cwd: pathlib.Path | None = None):
        self.args, self.output, self.errors = args, output, output.with_suffix(".stderr")
        with output.open("w") as out, self.errors.open("w") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, cwd=cwd)
        self.returncode: int | None = None

    @property
    def stderr(self) -> str:
        return self.errors.read_text(errors="replace")

    def wait(self) -> str:
        if self.returncode is None:
            try:
                self.returncode = self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stop()
                pytest.fail(f"{pathlib.Path(self.args[0]).name} did not finish within {TIMEOUT} s")
        return self.output.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Scans:
    """What the scanners look at, and their runs (started in the background, awaited by the tests)."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.built: dict[str, pathlib.Path] = {}  # flavour -> build output (YAML), one folder each
        self.copies: dict[str, list[str]] = {}  # distinct file -> every built file with its bytes (itself first)
        self.rendered: dict[str, dict[str, dict[str, str]]] = {}  # flavour -> template -> logical id -> type
        self.runs: dict[str, Scan] = {}
        self.missing: dict[str, tuple[str, str, str]] = {}  # scanner -> (what, where, variable)

    def run(self, key: str) -> Scan:
        """The run ``key`` ('checkov', 'guard:rendered:default', ...); skips (or fails) if its scanner is missing."""
        scanner = key.split(":")[0]
        if scanner in self.missing:
            _missing(*self.missing[scanner])
        return self.runs[key]


def _guard() -> tuple[tuple[str, pathlib.Path] | None, tuple[str, str, str]]:
    binary, where = _find("CFN_GUARD", CFNGUARD_PACKAGE / "bin" / "ubuntu" / ARCH / "cfn-guard")
    if not binary:
        return None, ("cfn-guard", where, "CFN_GUARD")
    rules = pathlib.Path(os.environ.get("CT_RULES") or CFNGUARD_PACKAGE / "rules" / "control-tower" / "cfn-guard")
    if not rules.is_dir() or not any(rules.rglob("*.guard")):
        return None, ("Control Tower rules", str(rules), "CT_RULES")
    return (binary, rules), ("", "", "")


@pytest.fixture(scope="module")
def scans(configs, templates, hardened_templates, tmp_path_factory):
    """Builds every configuration, starts checkov over all of them (one start-up, most of its time) and
    cfn-guard over the hardened and pinned files as written, renders the default and hardened deployments
    (while those run) and starts cfn-guard over each.  Processes still running at the end are stopped."""
    scans = Scans(tmp_path_factory.mktemp("scans"))
    first: dict[bytes, str] = {}  # content -> the first file with it ("<flavour>/<name>")
    for flavour, config in configs.items():
        scans.built[flavour] = scans.folder / "builds" / flavour
        files = {rel: data for rel, data in generate(config).files().items() if rel.endswith(".yaml")}
        write(files, scans.built[flavour])
        for rel, data in sorted(files.items()):
            scans.copies.setdefault(first.setdefault(data, f"{flavour}/{rel}"), []).append(f"{flavour}/{rel}")
    # checkov's findings depend on a file's bytes only: it scans each distinct file once (a third of the files
    # are the same in several configurations) and checkov_run gives its results to every copy.
    write(
        {rel: (scans.built[rel.split("/")[0]] / rel.split("/", 1)[1]).read_bytes() for rel in scans.copies},
        scans.folder / "distinct",
    )
    checkov, where = _find("CHECKOV", TOOLS / "checkov" / "bin" / "checkov")
    if checkov:
        # Exit code 1 means findings; output that is not JSON means checkov failed.
        scans.runs["checkov"] = Scan(
            [
                checkov,
                "--directory",
                str(scans.folder / "distinct"),
                "--framework",
                "cloudformation",
                "--skip-download",
                "--output",
                "json",
                "--compact",
            ],
            scans.folder / "checkov.json",
            cwd=scans.folder / "distinct",
        )
    else:
        scans.missing["checkov"] = ("checkov", where, "CHECKOV")
    guard, missing = _guard()
    if not guard:
        scans.missing["guard"] = missing
    try:
        if guard:
            for flavour in ("hardened", "pinned"):
                scans.runs[f"guard:files:{flavour}"] = start_cfn_guard(
                    guard, scans.built[flavour], scans.folder / f"guard-files-{flavour}.json"
                )
        for flavour, built in (("default", templates), ("hardened", hardened_templates)):
            folder = scans.folder / "rendered" / flavour
            scans.rendered[flavour] = write_rendered(deployments(built), folder)
            if guard:
                scans.runs[f"guard:rendered:{flavour}"] = start_cfn_guard(
                    guard, folder, scans.folder / f"guard-rendered-{flavour}.json"
                )
        yield scans
    finally:
        for run in scans.runs.values():
            run.stop()


# -- checkov ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkov_run(scans) -> dict:
    """checkov's CloudFormation report (offline) over the builds of every configuration."""
    scan = scans.run("checkov")
    output = scan.wait()
    try:
        report = json.loads(output)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not report (exit {scan.returncode}):\n{output[-2000:]}\n{scan.stderr[-2000:]}")
    found = [r for r in (report if isinstance(report, list) else [report]) if r.get("check_type") == "cloudformation"]
    assert found, f"checkov found no CloudFormation template: {output[:500]}"
    return _for_every_copy(found[0], scans.copies)


def _for_every_copy(report: dict, copies: dict[str, list[str]]) -> dict:
    """The report of the distinct files, with each file's results repeated for every built file of its bytes."""
    results = {
        kind: [
            {**check, "file_path": "/" + copy} for check in checks for copy in copies[check["file_path"].lstrip("/")]
        ]
        if kind.endswith("_checks")
        else checks
        for kind, checks in report["results"].items()
    }
    return {**report, "results": results, "scanned": sorted(copies)}


def _flavour(check: dict) -> str:
    return check["file_path"].lstrip("/").split("/")[0]


@pytest.fixture(params=["default", "enterprise", "hardened", "pinned"])
def checkov_report(request, checkov_run) -> tuple[str, dict[str, list[dict]]]:
    """One configuration's checkov results: passed_checks, failed_checks, skipped_checks."""
    return request.param, {
        kind: [c for c in checks if _flavour(c) == request.param]
        for kind, checks in checkov_run["results"].items()
        if kind.endswith("_checks")
    }


def _where(check: dict) -> str:
    return f"{check['check_id']} {check['resource']} ({check['file_path'].lstrip('/')})"


def test_checkov_scans_every_template(checkov_run, scans):
    assert checkov_run["results"].get("parsing_errors", []) == []
    built = sorted(f"{flavour}/{p.name}" for flavour, f in scans.built.items() for p in f.glob("*.yaml"))
    assert sorted(c for copies in scans.copies.values() for c in copies) == built  # every file, once
    for distinct, copies in scans.copies.items():  # stands for files of the same bytes only
        assert {(scans.folder / "builds" / c).read_bytes() for c in copies} == {
            (scans.folder / "distinct" / distinct).read_bytes()
        }
    resources = sum(len(cfn.load((scans.folder / "distinct" / d).read_bytes())["Resources"]) for d in scans.copies)
    assert checkov_run["summary"]["resource_count"] == resources
    assert {_flavour(c) for c in checkov_run["results"]["passed_checks"]} == set(scans.built)


def test_checkov_finds_nothing_unexplained(checkov_report):
    """Every checkov finding is fixed, or skipped on its resource with a reason."""
    flavour, report = checkov_report
    failed = sorted(_where(c) for c in report["failed_checks"])
    assert failed == [], f"{flavour}: {len(failed)} failed checkov checks:\n" + "\n".join(failed)


def test_checkov_skips_carry_reasons(checkov_report, scans):
    """A skip without a comment is an unexplained finding too (checkov would say 'No comment provided')."""
    flavour, report = checkov_report
    for check in report["skipped_checks"]:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert comment.strip() and comment != "No comment provided", _where(check)
    for path in sorted(scans.built[flavour].glob("*.yaml")):
        for logical_id, resource in cfn.load(path.read_bytes())["Resources"].items():
            for entry in ((resource.get("Metadata") or {}).get(scanners.CHECKOV) or {}).get("skip", []):
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", entry.get("id", "")), (path.name, logical_id, entry)
                assert str(entry.get("comment") or "").strip(), (path.name, logical_id, entry)


def test_skip_reasons_are_defined_once():
    reasons = [v for v in vars(scanners).values() if isinstance(v, scanners.Reason)]
    comments = [r.comment for r in reasons]
    assert len(comments) == len(set(comments))


# -- AWS Control Tower proactive controls ---------------------------------------------------------------------
CONTROL = re.compile(r"\[(CT\.[A-Z0-9]+\.PR\.\d+)\]")
RESOURCE_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")
RENDERED = "@"  # a rendered stack's file: <template>@<digest>.json

# Values for the parameters without a default of the templates users deploy (nested templates get theirs from
# their parents).
SAMPLE_VALUES = {
    "StackSetName": "ds-team1",
    "SeedCodeS3BucketName": "release-bucket",
    "S3BucketName": "release-bucket",
    "AvailabilityZones": "us-east-1a,us-east-1b",
    "EnvName": "team1",
    "AdministratorAccountId": "222222222222",
    "ModelS3KMSKeyArn": "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "ModelBucketName": "team1-dev-us-east-1-222222222222-models",
    **support_project.PROJECT,
}
# Every template users deploy (the registry's entries) is rendered with its defaults, env-main with every option
# that adds resources (its defaults are rendered inside the quickstart), so that every resource of every
# template is evaluated (test_deployments_render_every_resource).
_EVERY_NETWORK_OPTION = {
    "NumberOfAZs": "4",
    "AvailabilityZones": "us-east-1a,us-east-1b,us-east-1c,us-east-1d",
    "CreateSageMakerNotebookVPCEndpoint": "YES",
}
# Deployments per entry template (each one rendered): every option that adds resources is on in one of them.
DEPLOYMENT_VALUES = {
    "env-main": [
        {
            **_EVERY_NETWORK_OPTION,
            "StagingAccountList": "333333333333",
            "ProductionAccountList": "444444444444",
            "SetupStackSetExecutionRoleName": "sm-mlops-setup-stackset-execution-role",
            "CreateStudioHomeFileSystem": "YES",  # the home file system's release function and its role
        },
        {
            "OrganizationalUnitStagingId": "ou-abcd-11111111",
            "OrganizationalUnitProdId": "ou-abcd-22222222",
            "OrganizationId": "o-abcdefghij",
            # internet-free, with the package mirror (its CodeArtifact domain and repository, and their endpoints)
            "CreateNATGateways": "NO",
            "UseSharedServicesPyPiMirror": "YES",
        },
    ],
    # Deployed by env-main's StackSets with its defaults (rendered there); here with every option on.
    "env-target-account-network": [
        {
            "EnvName": "sm-mlops",
            "EnvType": "staging",
            "NumberOfAZs": "3",
            "CreateVPCFlowLogs": "YES",
            "UseTargetAccountBoundary": "YES",
            "ModelBucketName": "sm-mlops-dev-us-east-1-123456789012-models",
            "StackSetExecutionRoleName": "sm-mlops-staging-us-east-1-stackset-exec",
            "EndpointVolumeKmsKeyArn": support_project.ENVIRONMENT["EbsKmsKeyArn"],
        }
    ],
    **{
        name: [
            {},
            {
                "SourceCodeProvider": "CodeConnection",
                "RepositoryFullName": "org/churn",
                "CodeConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/"
                "0123abcd-4567-89ef-0123-456789abcdef",
            },
        ]
        for name in ("project-model-build-train", "project-model-deploy")
    },
    # Deployed by the model deploy pipeline's StackSets with the values its build writes, data capture on.
    "cfn-sm-endpoint-template": [
        {
            "EnvName": "sm-mlops",
            "EnvType": "staging",
            "ExecutionRoleName": "sm-mlops-dev-us-east-1-sm-model-exec",
            "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn-p-abc123def456/3",
            "SageMakerSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",  # the SSM parameters' values
            "SageMakerSecurityGroupIds": "sg-0123456789abcdef0",
            "VolumeKmsKeyArn": support_project.ENVIRONMENT["EbsKmsKeyArn"],
            "DataCapture": "YES",
            "DataCaptureS3Uri": "s3://sm-mlops-dev-us-east-1-123456789012-models/data-capture",
        }
    ],
}
# What custom resources answer in these deployments (the renderer answers empty values).  CheckIfIAMRolesExist
# answers a role's name when the role does not exist yet, and the stack then creates that role.
CUSTOM_RESOURCE_ANSWERS = {"Custom::CheckIfIAMRolesExist": lambda attribute: attribute}


def rule_types(rules: pathlib.Path) -> dict[pathlib.Path, set[str]]:
    """Every rule file with the resource types it names."""
    return {path: set(RESOURCE_TYPE.findall(path.read_text())) for path in sorted(rules.rglob("*.guard"))}


def start_cfn_guard(guard: tuple[str, pathlib.Path], folder: pathlib.Path, output: pathlib.Path) -> Scan:
    """cfn-guard over every template in ``folder``, with the rule files that name a resource type the templates
    contain.  A control reports only on the types its rule file names (test_every_rule_file_names_its_types),
    so the other files could only answer 'not applicable'; leaving them out makes a run four times faster."""
    binary, rules = guard
    types = {r["Type"] for path in folder.iterdir() for r in cfn.load(path.read_bytes())["Resources"].values()}
    selected = [path for path, named in rule_types(rules).items() if named & types]
    return Scan(
        [
            binary,
            "validate",
            *(arg for path in selected for arg in ("--rules", str(path))),
            "--data",
            str(folder),
            "--output-format",
            "json",
            "--structured",
            "--show-summary",
            "none",
        ],
        output,
    )


def _failures(node, controls: set[str], resources: set[str]) -> None:
    """Control ids (from the rules' messages) and logical ids (from the paths) in a not-compliant rule."""
    if isinstance(node, dict):
        message = (node.get("messages") or {}).get("custom_message") or ""
        controls.update(CONTROL.findall(message))
        path = node.get("path")
        if isinstance(path, str) and (match := re.match(r"/Resources/([^/\[]+)", path)):
            resources.add(match.group(1))
        for value in node.values():
            _failures(value, controls, resources)
    elif isinstance(node, list):
        for value in node:
            _failures(value, controls, resources)


def guard_failures(scan: Scan) -> set[tuple[str, str, str]]:
    """Every failure of a cfn-guard run as (template, control, logical id)."""
    output = scan.wait()
    # 0: every rule passed; 19: some failed.  Anything else is an error of the run.
    assert scan.returncode in (0, 19), f"cfn-guard exit {scan.returncode}: {scan.stderr[-2000:]}"
    documents = json.loads(output)
    assert documents, "cfn-guard evaluated nothing"
    failures = set()
    for document in documents:
        if document.get("status") != "FAIL":
            continue
        template = pathlib.Path(document["name"]).stem.split(RENDERED)[0]
        for rule in document.get("not_compliant", []):
            controls, resources = set(), set()
            _failures(rule, controls, resources)
            assert controls, f"a failed rule names no control: {json.dumps(rule)[:500]}"
            failures |= {(template, control, resource) for control in controls for resource in resources or {"?"}}
    return failures


# -- rendering: the resources as the hooks see them -------------------------------------------------------------
def _typed(value, schema: dict, definitions: dict):
    """A rendered value with the type its resource schema gives it: CloudFormation hands a Number parameter to
    an integer property as a number, while the renderer keeps the parameter's text."""
    while "$ref" in schema:
        schema = definitions.get(schema["$ref"].rsplit("/", 1)[-1], {})
    kinds = cfn.as_list(schema.get("type", []))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: _typed(v, properties.get(k, {}), definitions) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, schema.get("items", {}), definitions) for v in value]
    if isinstance(value, str) and "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if isinstance(value, str) and "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


def as_hooks_see_it(stack: dict) -> dict:
    """A rendered stack as a template of resolved, typed resources (the renderer's own metadata removed)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    resources = {}
    for logical_id, resource in stack["Resources"].items():
        resource = json.loads(json.dumps(resource, default=str))
        metadata = resource.pop("Metadata", {})
        metadata.pop("Cloud-Radar", None)
        if metadata:
            resource["Metadata"] = metadata
        if not resource["Type"].startswith("Custom::"):
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(support_render.REGION, resource["Type"]).schema
            resource["Properties"] = _typed(resource.get("Properties", {}), schema, schema.get("definitions", {}))
        resources[logical_id] = resource
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def _attributes_read(node) -> set[tuple[str, str]]:
    """(logical id, attribute) of every GetAtt in ``node``."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            return {tuple(target if isinstance(target, list) else target.split(".", 1))}
        return set().union(*(_attributes_read(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_attributes_read(v) for v in node))
    return set()


def _answered(templates: dict[str, dict]) -> dict[str, dict]:
    """The templates with their custom resources' answers (CUSTOM_RESOURCE_ANSWERS, the projects' environment)
    for the renderer."""
    templates = json.loads(json.dumps(templates))
    for name, spec in registry.TEMPLATES.items():
        if spec.family == "project" and project_block.ENV_CONFIG in templates[name]["Resources"]:
            templates[name] = support_project.with_environment(templates[name])
        # CloudFormation resolves SSM parameter names before anything else: render the resolved values.
        for parameter in templates[name].get("Parameters", {}).values():
            if parameter["Type"] == "AWS::SSM::Parameter::Value<String>":
                parameter["Type"] = "String"
    for template in templates.values():
        for logical_id, resource in template["Resources"].items():
            answer = CUSTOM_RESOURCE_ANSWERS.get(resource["Type"])
            if answer:
                read = {attribute for lid, attribute in _attributes_read(template) if lid == logical_id}
                resource.setdefault("Metadata", {})["Cloud-Radar"] = {
                    "attribute-values": {attribute: answer(attribute) for attribute in read}
                }
    return templates


def deployments(templates: dict[str, dict]) -> list[tuple[str, dict]]:
    """(template, rendered stack) for every stack of every deployment: each template users deploy with its
    defaults (and DEPLOYMENT_VALUES), the hardening parameters (DEPLOY_TIME_VALUES) and sample values for what
    has no default; each nested template with the values its parent passes."""
    answered = _answered(templates)
    stacks = []
    for root, spec in registry.TEMPLATES.items():
        if not spec.entry and root not in DEPLOYMENT_VALUES:
            continue
        declared = templates[root].get("Parameters", {})
        for deployment in DEPLOYMENT_VALUES.get(root, [{}]):
            values = {**SAMPLE_VALUES, **DEPLOY_TIME_VALUES, **deployment}
            tree = support_render.render_tree(answered, root, {k: v for k, v in values.items() if k in declared})
            names = {"root": root}
            for path in sorted(tree, key=lambda p: p.count("/")):
                if path != "root":
                    parent, _, logical_id = path.rpartition("/")
                    url = tree[parent or "root"]["Resources"][logical_id.split("@")[0]]["Properties"]["TemplateURL"]
                    names[path] = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                stacks.append((names[path], tree[path]))
    return stacks


def write_rendered(stacks: list[tuple[str, dict]], folder: pathlib.Path) -> dict[str, dict[str, str]]:
    """The rendered stacks as cfn-guard's input, one file per distinct stack; returns what was rendered:
    template -> logical id -> resource type (over all deployments)."""
    folder.mkdir(parents=True)
    rendered: dict[str, dict[str, str]] = {}
    for name, stack in stacks:
        text = json.dumps(as_hooks_see_it(stack), indent=1, sort_keys=True)
        (folder / f"{name}{RENDERED}{hashlib.sha256(text.encode()).hexdigest()[:12]}.json").write_text(text)
        rendered.setdefault(name, {}).update({k: r["Type"] for k, r in stack["Resources"].items()})
    return rendered


def types(templates: dict[str, dict]) -> dict[str, dict[str, str]]:
    return {name: {k: r["Type"] for k, r in t["Resources"].items()} for name, t in templates.items()}


def expected(resources: dict[str, dict[str, str]], *exceptions: scanners.ControlException) -> set:
    """The failures ``exceptions`` predict on ``resources`` (template -> logical id -> type)."""
    return {
        (name, exception.control, logical_id)
        for name, found in resources.items()
        for logical_id, kind in found.items()
        for exception in exceptions
        if exception.covers(name, logical_id, kind)
    }


def _report(failures: set, wanted: set) -> str:
    return "\n".join(
        [f"unexpected: {' '.join(f)}" for f in sorted(failures - wanted)]
        + [f"listed but passing: {' '.join(f)}" for f in sorted(wanted - failures)]
    )


def test_every_rule_file_names_its_types():
    """start_cfn_guard gives a template only the rule files naming a type it contains: sound because every
    control reports on the resource types its file names (and on nothing else)."""
    guard, missing = _guard()
    if not guard:
        _missing(*missing)
    named = rule_types(guard[1])
    assert len(named) >= 200 and [p.name for p, found in named.items() if not found] == []


def test_deployments_render_every_resource(scans, templates, hardened_templates):
    """Every resource of every template is evaluated rendered at least once (a condition that no deployment
    makes true would hide its resources from the check)."""
    for flavour, built in (("default", templates), ("hardened", hardened_templates)):
        missing = sorted(
            f"{name}/{logical_id}"
            for name, template in built.items()
            for logical_id in template["Resources"]
            if logical_id not in scans.rendered[flavour].get(name, {})
        )
        assert missing == [], flavour


def test_default_configuration_misses_exactly_the_listed_controls(scans, configs):
    """The default configuration, deployed, fails exactly NOT_MET_BY_DEFAULT and NEVER_MET, each on exactly the
    resources listed (every resource of a listed type); each control not met by default has its switch, off by
    default and on when hardened."""
    for gap in scanners.NOT_MET_BY_DEFAULT:
        assert getattr(configs["default"], gap.option) is False and getattr(configs["hardened"], gap.option) is True
        if gap.pinned_by:
            assert getattr(configs["hardened"], gap.pinned_by) is None
            assert getattr(configs["pinned"], gap.pinned_by) is not None
    wanted = expected(scans.rendered["default"], *scanners.NOT_MET_BY_DEFAULT, *scanners.NEVER_MET)
    failures = guard_failures(scans.run("guard:rendered:default"))
    assert failures == wanted, _report(failures, wanted)
    listed = scanners.NOT_MET_BY_DEFAULT + scanners.NEVER_MET
    assert {control for _, control, _ in failures} == {exception.control for exception in listed}


def test_hardened_configuration_meets_every_control(scans):
    """Deployed with the hardening values given, every template meets every control but NEVER_MET."""
    assert re.fullmatch(params.LOGS_KMS_KEY_ARN.allowed_pattern, DEPLOY_TIME_VALUES[params.LOGS_KMS_KEY_ARN.name])
    wanted = expected(scans.rendered["hardened"], *scanners.NEVER_MET)
    failures = guard_failures(scans.run("guard:rendered:hardened"))
    assert failures == wanted, _report(failures, wanted)


def test_hardened_template_files_fail_where_a_parameter_gives_the_value(scans, hardened_templates):
    """Why the pinned configuration exists: read as files, the hardened templates fail the controls whose value
    a hardening parameter gives, on every resource concerned, because cfn-guard takes a Ref to a parameter for
    no value."""
    parameterised = [gap for gap in scanners.NOT_MET_BY_DEFAULT if gap.pinned_by]
    wanted = expected(
        types(hardened_templates),
        *parameterised,
        *scanners.PARAMETER_GIVEN_AS_WRITTEN,
        *scanners.UNREADABLE_AS_WRITTEN,
        *scanners.NEVER_MET,
    )
    failures = guard_failures(scans.run("guard:files:hardened"))
    assert failures == wanted, _report(failures, wanted)


def test_pinned_template_files_meet_every_control_as_written(scans, configs, pinned_templates):
    """The pinned files as written (nothing substituted) fail only NEVER_MET and UNREADABLE_AS_WRITTEN, which
    pass rendered (test_hardened_configuration_meets_every_control: the pinned templates are the hardened
    ones with the values in place)."""
    config = configs["pinned"]
    assert all(getattr(config, gap.option) for gap in scanners.NOT_MET_BY_DEFAULT)
    assert all(getattr(config, gap.pinned_by) for gap in scanners.NOT_MET_BY_DEFAULT if gap.pinned_by)
    wanted = expected(types(pinned_templates), *scanners.UNREADABLE_AS_WRITTEN, *scanners.NEVER_MET)
    failures = guard_failures(scans.run("guard:files:pinned"))
    assert failures == wanted, _report(failures, wanted)


def test_control_exceptions_are_reviewed_entries():
    """Each exception names where it applies and why; a control is listed once per list."""
    for listed in (scanners.NOT_MET_BY_DEFAULT, scanners.NEVER_MET):
        assert len({e.control for e in listed}) == len(listed)
    for exception in scanners.NOT_MET_BY_DEFAULT:
        assert exception.option and (exception.resource_type or exception.resources)
    for exception in scanners.NEVER_MET + scanners.UNREADABLE_AS_WRITTEN + scanners.PARAMETER_GIVEN_AS_WRITTEN:
        assert exception.option is None and exception.resources
    with pytest.raises(ValueError):
        scanners.ControlException("CT.S3.PR.1", "x", "y", resource_type="AWS::S3::Bucket", resources=("a/b",))
    with pytest.raises(ValueError):
        scanners.ControlException("CT.S3.PR.1", "x", " ", resource_type="AWS::S3::Bucket")


def test_object_lock_switch_locks_nothing_by_itself_and_never_in_compliance_mode(default_config, hardened_config):
    """s3_object_lock (CT.S3.PR.9): Object Lock on the data and model buckets, never on the access-log bucket
    (S3 delivers no server access logs to it then), no default retention (nothing is locked by itself), and the
    data and model bucket policies refuse compliance-mode locks while governance-mode ones stay possible."""
    from templates_src.checks import iam_policy
    from templates_src.context import BuildContext
    from templates_src.generator import build_template

    default = build_template("env-s3", BuildContext(default_config))
    assert "ObjectLock" not in json.dumps(default) and "object-lock" not in json.dumps(default)
    s3 = build_template("env-s3", BuildContext(hardened_config))
    buckets = cfn.resources(s3, "AWS::S3::Bucket")
    assert {k for k, b in buckets.items() if b["Properties"].get("ObjectLockEnabled") is True} == {
        "DataBucket",
        "ModelBucket",
    }
    assert not [k for k, b in buckets.items() if "ObjectLockConfiguration" in b["Properties"]]
    assert "ObjectLockEnabled" not in buckets["LogsBucket"]["Properties"]
    values = {
        "EnvName": "ml",
        "EnvType": "dev",
        "DataBucketName": "ml-data",
        "ModelBucketName": "ml-models",
        "VPCEndpointS3Id": "vpce-0123456789abcdef0",
        "S3BucketKMSKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }

    def arn_of(resource, logical_id, resolver):
        return [f"arn:aws:s3:::{name}" for name in resolver.values(resource["Properties"]["BucketName"])]

    resolver = iam_policy.Resolver(s3, values, pseudo={"AWS::AccountId": "111122223333"}, arn_of=arn_of)
    for bucket, name in (("DataBucket", "ml-data"), ("ModelBucket", "ml-models")):
        document = s3["Resources"][f"{bucket}Policy"]["Properties"]["PolicyDocument"]
        statements = iam_policy.statements_from(document, resolver, bucket)

        def denied(action: str, mode: str, statements=statements, name=name) -> list[str]:
            return iam_policy.evaluate(
                statements,
                iam_policy.request(
                    action,
                    f"arn:aws:s3:::{name}/model.tar.gz",
                    complete=True,
                    context={
                        "s3:object-lock-mode": mode,
                        "aws:SecureTransport": True,
                        "aws:ViaAWSService": False,
                        "aws:SourceVpce": values["VPCEndpointS3Id"],
                    },
                ),
            ).denied_by

        for action in ("s3:PutObject", "s3:PutObjectRetention"):
            assert denied(action, "COMPLIANCE") == [f"{bucket}/DenyComplianceModeLocks"], (bucket, action)
            assert denied(action, "GOVERNANCE") == [], (bucket, action)


def _generator_config_blanked(template: dict) -> dict:
    """``template`` without the value of package-cfn's GENERATOR_CONFIG (the configuration, which differs)."""
    template = json.loads(json.dumps(template))
    for project in cfn.resources(template, "AWS::CodeBuild::Project").values():
        for variable in project["Properties"]["Environment"].get("EnvironmentVariables", []):
            if variable["Name"] == "GENERATOR_CONFIG":
                variable["Value"] = "..."
    return template


def resolve(node, values: dict):
    """``node`` with every Ref to a parameter in ``values`` replaced by its value."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {k: resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, values) for v in node]
    return node


def _hardening_parameters_removed(template: dict) -> dict:
    """``template`` without the hardening parameters, their console labels and their (then empty) group, and
    without what it passes of them to its nested stacks."""
    template = json.loads(json.dumps(template))
    for name in DEPLOY_TIME_VALUES:
        template.get("Parameters", {}).pop(name, None)
    for stack in cfn.resources(template, "AWS::CloudFormation::Stack").values():
        for name in DEPLOY_TIME_VALUES:
            stack["Properties"].get("Parameters", {}).pop(name, None)
    for stack_set in cfn.resources(template, "AWS::CloudFormation::StackSet").values():
        stack_set["Properties"]["Parameters"] = [
            p for p in stack_set["Properties"].get("Parameters", []) if p["ParameterKey"] not in DEPLOY_TIME_VALUES
        ]
    layout = template["Metadata"]["AWS::CloudFormation::Interface"]
    for group in layout["ParameterGroups"]:
        group["Parameters"] = [p for p in group["Parameters"] if p not in DEPLOY_TIME_VALUES]
    layout["ParameterGroups"] = [g for g in layout["ParameterGroups"] if g["Parameters"]]
    layout["ParameterLabels"] = {k: v for k, v in layout["ParameterLabels"].items() if k not in DEPLOY_TIME_VALUES}
    return template


def test_pinned_templates_are_the_hardened_ones_with_the_values_in_place(hardened_templates, pinned_templates):
    """Pinning changes where the values come from and nothing else: same resources, function role statements,
    checkov skips and console groups as the hardened templates deployed with those values (a parent no longer
    passes the values its children no longer declare)."""
    assert list(pinned_templates) == list(hardened_templates)
    for name, hardened in hardened_templates.items():
        deployed = _hardening_parameters_removed(resolve(hardened, DEPLOY_TIME_VALUES))
        pinned = pinned_templates[name]
        if name in ("env-vpc", "env-main"):  # the flow log group's key and retention, pinned too (below)
            pinned, deployed = _flow_log_pinning_set_aside(pinned), _flow_log_pinning_set_aside(deployed)
        assert _generator_config_blanked(pinned) == _generator_config_blanked(deployed), name
    # A pinned release writes the flow log group's key and retention (CT.CLOUDWATCH.PR.2/PR.3 read them as
    # written) and its two reference parameters accept only those values.
    group = pinned_templates["env-vpc"]["Resources"]["VPCFlowLogsLogGroup"]["Properties"]
    assert group["KmsKeyId"] == PINNED["logs_kms_key_arn"]
    assert group["RetentionInDays"] == PINNED["log_retention_days"] >= 365
    for name in ("env-vpc", "env-main"):
        declared = pinned_templates[name]["Parameters"]
        assert declared[FLOW_LOG_RETENTION]["AllowedValues"] == [str(PINNED["log_retention_days"])]
        assert declared[FLOW_LOG_KEY]["AllowedValues"] == ["", PINNED["logs_kms_key_arn"]]


FLOW_LOG_RETENTION, FLOW_LOG_KEY = "VPCFlowLogsLogGroupRetention", "VPCFlowLogsCloudWatchKMSKey"


def _flow_log_pinning_set_aside(template: dict) -> dict:
    """``template`` without what pinning the log key changes beyond the values: the flow log group's key and
    retention (and the condition choosing the key, or the Rule refusing other values), and the definitions of
    their two parameters."""
    template = json.loads(json.dumps(template))
    for name in (FLOW_LOG_RETENTION, FLOW_LOG_KEY):
        template.get("Parameters", {}).pop(name, None)
    template.get("Conditions", {}).pop("VPCFlowLogsKMSKeyCondition", None)
    template.get("Rules", {}).pop("PinnedFlowLogGroup", None)
    group = template["Resources"].get("VPCFlowLogsLogGroup")
    if group:
        group["Properties"].pop("KmsKeyId", None)
        group["Properties"].pop("RetentionInDays", None)
    return template


# -- the hardening parameters -------------------------------------------------------------------------------
def _children(template: dict) -> dict[str, str]:
    """Nested stacks: logical id -> child template name."""
    return {
        logical_id: stack["Properties"]["TemplateURL"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for logical_id, stack in cfn.resources(template, "AWS::CloudFormation::Stack").items()
    }


def _configured_key(template: dict, group: dict):
    """A log group's key as the configuration sets it: KmsKeyId, or, where the template gives the group a key
    parameter of its own (empty by default), what KmsKeyId is when that parameter is left empty (None: none)."""
    key = group["Properties"].get("KmsKeyId")
    if isinstance(key, dict) and "Fn::If" in key:
        condition, own, default = key["Fn::If"]
        assert template["Parameters"][own["Ref"]].get("Default") == ""
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [own, ""]}]}
        return None if default == {"Ref": "AWS::NoValue"} else default
    return key


def test_hardening_parameters_exactly_where_needed(configs):
    """A template gets the key and network parameters exactly when the value is not pinned and it has a log
    group or a function, or nests a template that gets them (and then passes them on unchanged); a pinned value
    is in the resources instead.  A log group's own key parameter (env-vpc's flow logs) only comes in front of
    the configured key.  Each value can be pinned on its own."""
    from templates_src.config import from_mapping
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    one_pinned = {
        f"{field} pinned only": from_mapping({**HARDENED, field: PINNED[field]})
        for field in ("logs_kms_key_arn", "function_network")
    }
    for flavour, config in {**configs, **one_pinned}.items():
        built = build_selected(None, BuildContext(config))
        key_parameter = config.encrypt_logs and not config.logs_kms_key_arn
        network_parameters = config.functions_in_vpc and not config.function_network

        def wanted(
            name: str, built=built, key_parameter=key_parameter, network_parameters=network_parameters
        ) -> set[str]:
            template = built[name]
            own = (
                {params.LOGS_KMS_KEY_ARN.name}
                if cfn.resources(template, "AWS::Logs::LogGroup") and key_parameter
                else set()
            ) | (
                {params.FUNCTION_SUBNET_IDS.name, params.FUNCTION_SECURITY_GROUP_IDS.name}
                if cfn.resources(template, "AWS::Lambda::Function") and network_parameters
                else set()
            )
            return own.union(*(wanted(child) for child in _children(template).values()))

        for name, template in built.items():
            declared = set(template.get("Parameters", {})) & set(DEPLOY_TIME_VALUES)
            assert declared == wanted(name), (flavour, name)
            groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
            hardening = [g["Parameters"] for g in groups if g["Label"]["default"] == params.HARDENING_GROUP]
            assert sorted(p for g in hardening for p in g) == sorted(declared), (flavour, name)
            for logical_id, child in _children(template).items():
                passed = template["Resources"][logical_id]["Properties"].get("Parameters", {})
                assert set(passed) & set(DEPLOY_TIME_VALUES) == wanted(child), (flavour, name, logical_id)
                for parameter in wanted(child):
                    assert json.dumps(passed[parameter]).count(json.dumps({"Ref": parameter})) == 1, parameter
            for resource in cfn.resources(template, "AWS::Logs::LogGroup").values():
                key = _configured_key(template, resource)
                assert (key is not None) == config.encrypt_logs, (flavour, name)
                if config.encrypt_logs:
                    assert key == (config.logs_kms_key_arn or {"Ref": params.LOGS_KMS_KEY_ARN.name}), (flavour, name)
            for logical_id, resource in cfn.resources(template, "AWS::Lambda::Function").items():
                assert ("VpcConfig" in resource["Properties"]) == config.functions_in_vpc, (flavour, name)
                if config.function_network:
                    assert resource["Properties"]["VpcConfig"] == {
                        "SubnetIds": list(config.function_network.subnet_ids),
                        "SecurityGroupIds": list(config.function_network.security_group_ids),
                    }, (flavour, name)
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
