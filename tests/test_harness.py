"""The real-account test harness, checked offline: ``.taskcat.yml`` (taskcat's scenarios) and
``scripts/real_account_test.sh`` (the runner that publishes a release, runs them and cleans each one up).

taskcat itself is not installed here (it is not a dependency: users install it apart) and nothing reaches AWS.
What taskcat would refuse or silently get wrong is checked instead: keys outside its configuration schema, test
parameters the template does not declare (taskcat drops them without a word), values CloudFormation would refuse
(AllowedValues, AllowedPattern, lengths, the template's Rules, parameters without a default left out), YAML that
turns YES into a boolean. The runner is run with ``--dry-run`` and with stand-ins for taskcat, the AWS CLI and
generate.py, to see the order of its steps and that a failing scenario is still cleaned up.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from templates_src import cli as generate
from templates_src.config import from_mapping
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.registry import TEMPLATES
from tests import cfn
from tests.conftest import REPO
from tests.support_render import rule_failures

CONFIG_FILE = REPO / ".taskcat.yml"
RUNNER = REPO / "scripts" / "real_account_test.sh"
CONFIG = yaml.safe_load(CONFIG_FILE.read_text())  # as taskcat reads it (PyYAML, YAML 1.1)

SCENARIOS = ("quickstart", "two-step-cloudformation", "two-step-service-catalog", "multi-account-account-lists")
REGION = "eu-west-1"

# taskcat's configuration schema (taskcat/cfg/config_schema.json of aws-ia/taskcat): the keys each section may
# have ("additionalProperties": false everywhere).
SCHEMA_KEYS = {
    "top": {"general", "project", "tests"},
    "general": {
        "artifact_regions",
        "auth",
        "parameters",
        "posthooks",
        "prehooks",
        "regions",
        "s3_bucket",
        "s3_regional_buckets",
        "tags",
    },
    "project": {
        "artifact_regions",
        "auth",
        "az_blacklist",
        "build_submodules",
        "lambda_source_path",
        "lambda_zip_path",
        "name",
        "org_id",
        "owner",
        "package_lambda",
        "parameters",
        "posthooks",
        "prehooks",
        "regions",
        "role_name",
        "s3_bucket",
        "s3_enable_sig_v2",
        "s3_object_acl",
        "s3_regional_buckets",
        "shorten_stack_name",
        "tags",
        "template",
    },
    "test": {
        "artifact_regions",
        "auth",
        "az_blacklist",
        "parameters",
        "posthooks",
        "prehooks",
        "regions",
        "role_name",
        "s3_bucket",
        "s3_regional_buckets",
        "stack_name",
        "stack_name_prefix",
        "stack_name_suffix",
        "tags",
        "template",
    },
}
# The schema's patterns for names taskcat uses as S3 keys and stack names.
REGION_PATTERN = (
    r"(ap|eu|us|sa|ca|cn|af|me|il|us-gov)-(central|south|north|east|west|southeast|southwest|northeast|northwest)-[0-9]"
)
NAME_PATTERN = r"[a-z0-9-]*"

# The user's values the runner takes from the environment, as a user would set them.
USER_ENV = {
    "SM_MLOPS_RELEASE_BUCKET": "acme-sm-mlops-releases-eu-west-1",
    "SM_MLOPS_STAGING_ACCOUNTS": "111111111111",
    "SM_MLOPS_PRODUCTION_ACCOUNTS": "222222222222,333333333333",
    "SM_MLOPS_SETUP_ROLE_NAME": "tcat-multi-setup-stackset-execution-role",
}
PLACEHOLDER = re.compile(r"<(SM_MLOPS_[A-Z0-9_]+)>")
PSEUDO = re.compile(r"\$\[(taskcat_[^\]]+)\]")


# -- reading .taskcat.yml as taskcat does ---------------------------------------------------------------------------
def scenario_of(test: str) -> str:
    """Tests of a two-step scenario are ``<scenario>-core`` and ``<scenario>-env``."""
    return re.sub(r"-(core|env)$", "", test)


def template_name(test: dict) -> str:
    path = pathlib.PurePosixPath(test["template"])
    assert path.parent == pathlib.PurePosixPath("release") and path.suffix == ".yaml", test["template"]
    return path.stem


def pseudo_value(name: str, test_name: str) -> str:
    """A realistic value of a taskcat pseudo-parameter (taskcat/_template_params.py)."""
    if m := re.fullmatch(r"taskcat_genaz_(\d+)", name):
        return ",".join(f"{REGION}{zone}" for zone in "abcdef"[: int(m.group(1))])
    values = {
        "taskcat_random-string": "k3x9q2m7v1b8n4c6z0lp",
        "taskcat_random-numbers": "48213907561238904712",
        "taskcat_genuuid": "3f2b8a61-4c1d-4e0a-9b7c-2d5e8f6a1c90",
        "taskcat_autobucket": "tcat-sagemaker-secure-mlops-k3x9q2m7",
        "taskcat_project_name": CONFIG["project"]["name"],
        "taskcat_test_name": test_name,
        "taskcat_current_region": REGION,
    }
    if name not in values:
        raise AssertionError(f"{test_name}: unknown taskcat pseudo-parameter $[{name}]")
    return values[name]


def resolve(value, test_name: str, env: dict[str, str]):
    """A parameter value after taskcat's pseudo-parameters and the runner's placeholders are replaced."""
    if not isinstance(value, str):
        return value  # left for the checks below to refuse
    value = PSEUDO.sub(lambda m: pseudo_value(m.group(1), test_name), value)
    return PLACEHOLDER.sub(lambda m: env[m.group(1)], value)


def effective_parameters(config: dict, test_name: str, template: dict, override: dict | None = None) -> dict:
    """The parameters taskcat passes: test parameters, overridden by project parameters, overridden by the override
    file; only those the template declares (taskcat drops the others)."""
    test = config["tests"][test_name]
    merged = {**test.get("parameters", {}), **config["project"].get("parameters", {}), **(override or {})}
    return {k: v for k, v in merged.items() if k in template["Parameters"]}


# -- what CloudFormation checks before it creates anything ---------------------------------------------------------
def is_list(parameter: dict) -> bool:
    return parameter["Type"] == "CommaDelimitedList" or parameter["Type"].startswith("List<")


def parameter_problems(template: dict, values: dict) -> list[str]:
    """Why CloudFormation would refuse these parameter values: undeclared or missing parameters, values that are
    not strings (YAML 1.1 reads YES as true), AllowedValues, AllowedPattern (per item of a list), lengths, zones
    of another region, then the template's Rules (tests.support_render.rule_failures)."""
    declared = template["Parameters"]
    problems = [f"{n}: not declared by the template" for n in values if n not in declared]
    problems += [
        f"{n}: has no default and is not given" for n, p in declared.items() if n not in values and "Default" not in p
    ]
    for name, value in values.items():
        if name not in declared:
            continue
        if not isinstance(value, str):
            problems.append(f"{name}: {value!r} is a {type(value).__name__} in YAML, not a string: quote it")
            continue
        parameter = declared[name]
        if is_list(parameter):
            items = value.split(",")
            scalar = {k: v for k, v in parameter.items() if k not in ("AllowedValues", "MinLength", "MaxLength")}
            problems += [f"{name}: item {item!r} refused" for item in items if not cfn.accepts(scalar, item)]
            if parameter["Type"] == "List<AWS::EC2::AvailabilityZone::Name>":
                problems += [
                    f"{name}: {i!r} is not a zone of {REGION}" for i in items if not re.fullmatch(rf"{REGION}[a-z]", i)
                ]
        elif not cfn.accepts(parameter, value):
            problems.append(f"{name}: {value!r} refused by its AllowedValues/AllowedPattern/length")
    if problems:
        return problems
    return [f"Rule: {description}" for description in rule_failures(template, values)]


# -- the runner ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> pathlib.Path:
    """A bin folder with taskcat and aws stand-ins that log their arguments; taskcat fails for $FAIL_TEST."""
    folder = tmp_path_factory.mktemp("bin")
    (folder / "taskcat").write_text(
        '#!/bin/sh\necho "taskcat $*" >>"$STAND_IN_LOG"\n'
        'case " $* " in *" --test-names $FAIL_TEST "*) echo "stack failed" >&2; exit 1 ;; esac\n'
    )
    (folder / "aws").write_text(
        '#!/bin/sh\necho "aws $*" >>"$STAND_IN_LOG"\n'
        'case "$1 $2" in\n'
        '  "sts get-caller-identity") echo 123456789012 ;;\n'
        '  "cloudformation describe-stacks") echo tCaT-core-0a1b2c ;;\n'
        "esac\n"
    )
    (folder / "generate.py").write_text(
        "import json, os, sys\n"
        'with open(os.environ["STAND_IN_LOG"], "a") as log:\n'
        '    log.write("generate " + " ".join(sys.argv[1:]) + "\\n")\n'
        'if sys.argv[1] == "package":\n'
        '    print(json.dumps({"release": "9.9.9"}))\n'
    )
    for name in ("taskcat", "aws"):
        (folder / name).chmod(0o755)
    return folder


def runner_env(stand_ins: pathlib.Path, log: pathlib.Path, **changes) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    env.update(USER_ENV)
    env.update(
        PATH=f"{stand_ins}{os.pathsep}{env['PATH']}",
        STAND_IN_LOG=str(log),
        PYTHON=sys.executable,
        GENERATE_PY=str(stand_ins / "generate.py"),
        FAIL_TEST="",
    )
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_runner(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(RUNNER), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def dry_run(stand_ins, tmp_path_factory) -> str:
    """The runner's --dry-run output for every scenario, with the stand-ins on PATH: none of them may run."""
    log = tmp_path_factory.mktemp("dry-run") / "log"
    result = run_runner(runner_env(stand_ins, log), "--dry-run", "--region", REGION)
    assert result.returncode == 0, result.stdout
    assert not log.exists(), f"--dry-run ran commands:\n{log.read_text()}"
    return result.stdout


def commands(output: str) -> list[list[str]]:
    """The commands a run printed (``+ ...`` lines), split as the shell would."""
    argvs = [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("+ ")]
    return [argv for argv in argvs if argv[0] not in ("write", "cd")]


def overrides(output: str) -> dict[str, dict]:
    """Test name -> the override file (.taskcat_overrides.yml) the runner writes before running it."""
    found, pending, lines = {}, None, None
    for line in output.splitlines():
        if line.startswith("+ write ") and line.endswith(".taskcat_overrides.yml:"):
            lines = []
            continue
        if lines is not None and line.startswith("    "):
            lines.append(line[4:])
            continue
        if lines is not None:
            pending, lines = yaml.safe_load("\n".join(lines)) or {}, None
        if line.startswith("+ taskcat "):
            argv = shlex.split(line[2:])
            found[argv[argv.index("--test-names") + 1]] = pending or {}
            pending = None
    return found


def steps(output: str) -> list[tuple[str, dict]]:
    """The run's steps in order: ("taskcat", {test, argv}), ("cleanup", {argv}) and ("provision", {argv})."""
    found = []
    for argv in commands(output):
        if argv[0] == "taskcat":
            found.append(("taskcat", {"test": argv[argv.index("--test-names") + 1], "argv": argv}))
        elif "cleanup" in argv[:3]:
            found.append(("cleanup", {"argv": argv[argv.index("cleanup") :]}))
        elif argv[:3] == ["aws", "servicecatalog", "provision-product"]:
            found.append(("provision", {"argv": argv}))
    return found


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def cleanup_options(argv: list[str]) -> dict:
    """The cleanup command's options as the real command line parses them (unknown options fail here)."""
    return generate.cli.get_command(None, "cleanup").make_context("cleanup", list(argv[1:])).params


# -- fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    """The templates the scenarios name, default configuration (the runner publishes with it)."""
    names = sorted({template_name(t) for t in CONFIG["tests"].values() if template_name(t) in TEMPLATES})
    return build_selected(names, BuildContext(from_mapping({})))


def scenario_tests(scenario: str) -> list[str]:
    return [name for name in CONFIG["tests"] if scenario_of(name) == scenario]


def env_test(scenario: str) -> str | None:
    """The test that deploys the scenario's environment (None: the runner launches it with Service Catalog)."""
    tests = [n for n in scenario_tests(scenario) if not n.endswith("-core")]
    return tests[0] if tests else None


# -- the configuration ---------------------------------------------------------------------------------------------
def undocumented_keys(config: dict) -> list[str]:
    found = [f"top-level {k}" for k in config if k not in SCHEMA_KEYS["top"]]
    for section in ("general", "project"):
        found += [f"{section}.{k}" for k in config.get(section) or {} if k not in SCHEMA_KEYS[section]]
    for name, test in (config.get("tests") or {}).items():
        found += [f"tests.{name}.{k}" for k in test if k not in SCHEMA_KEYS["test"]]
    return found


def test_only_keys_of_taskcat_schema_are_used():
    assert undocumented_keys(CONFIG) == []
    project = CONFIG["project"]
    assert project["name"] == "sagemaker-secure-mlops" and re.fullmatch(r"[a-z0-9-/]*", project["name"])
    assert project["regions"] and all(re.fullmatch(REGION_PATTERN, r) for r in project["regions"])
    booleans = {"package_lambda", "shorten_stack_name", "s3_regional_buckets", "build_submodules", "s3_enable_sig_v2"}
    assert all(isinstance(project[k], bool) for k in booleans & set(project)), "the schema wants real booleans"
    assert project["package_lambda"] is False
    assert all(re.fullmatch(r"[a-z]+[0-9]-az[0-9]", zone) for zone in project.get("az_blacklist", []))  # zone ids
    assert all(re.fullmatch(NAME_PATTERN, name) for name in CONFIG["tests"])
    # the check is not vacuous: keys taskcat's schema does not have are found
    broken = {**CONFIG, "project": {**CONFIG["project"], "stack_name": "x"}, "tests": {"t": {"template_url": "u"}}}
    assert undocumented_keys(broken) == ["project.stack_name", "tests.t.template_url"]


def test_the_scenarios_are_the_four_deployment_options_with_their_steps():
    assert sorted({scenario_of(name) for name in CONFIG["tests"]}) == sorted(SCENARIOS)
    templates = {name: template_name(test) for name, test in CONFIG["tests"].items()}
    assert [templates[n] for n in scenario_tests("quickstart")] == ["data-science-environment-quickstart"]
    assert [templates[n] for n in scenario_tests("two-step-cloudformation")] == ["core-main", "env-main"]
    assert [templates[n] for n in scenario_tests("two-step-service-catalog")] == ["core-main"]
    assert [templates[n] for n in scenario_tests("multi-account-account-lists")] == ["core-main", "env-main"]
    for name in CONFIG["tests"]:
        step = name.rsplit("-", 1)[-1]
        if step in ("core", "env"):
            assert templates[name] == {"core": "core-main", "env": "env-main"}[step], name


def test_every_template_is_an_entry_template_of_a_release():
    """The tests deploy what users deploy: release entry templates (releases/<version>/<name>.yaml)."""
    for name, test in CONFIG["tests"].items():
        spec = TEMPLATES.get(template_name(test))
        assert spec is not None, f"{name}: {test['template']} is not a template the generator builds"
        assert spec.entry, f"{name}: {spec.name} is nested only; a release does not publish it under its version"


def test_every_parameter_exists_in_its_template(built):
    for name, test in CONFIG["tests"].items():
        declared = built[template_name(test)]["Parameters"]
        unknown = sorted(set(test.get("parameters", {})) - set(declared))
        assert unknown == [], f"{name}: {unknown} not declared by {template_name(test)} (taskcat would drop them)"
    used = {p for test in CONFIG["tests"].values() for p in built[template_name(test)]["Parameters"]}
    project = set(CONFIG["project"].get("parameters", {}))
    assert project and project <= used, f"project parameters no scenario's template declares: {project - used}"


@pytest.mark.parametrize("test_name", list(CONFIG["tests"]))
def test_every_value_is_one_cloudformation_accepts(built, dry_run, test_name):
    """With the runner's override file, pseudo-parameters and placeholders replaced by realistic values."""
    template = built[template_name(CONFIG["tests"][test_name])]
    given = effective_parameters(CONFIG, test_name, template, overrides(dry_run)[test_name])
    values = {k: resolve(v, test_name, USER_ENV) for k, v in given.items()}
    assert parameter_problems(template, values) == []
    leftover = [k for k, v in values.items() if isinstance(v, str) and (PLACEHOLDER.search(v) or PSEUDO.search(v))]
    assert leftover == []


def test_the_value_checks_refuse_what_cloudformation_refuses(built):
    main = built["env-main"]
    good = {
        "EnvName": "tcat-multi",
        "SeedCodeS3BucketName": USER_ENV["SM_MLOPS_RELEASE_BUCKET"],
        "AvailabilityZones": f"{REGION}a,{REGION}b",
        "StagingAccountList": "111111111111",
        "ProductionAccountList": "222222222222",
        "SetupStackSetExecutionRoleName": "x-setup",
    }
    assert parameter_problems(main, good) == []
    assert parameter_problems(main, {**good, "CreateNATGateways": True}) == [
        "CreateNATGateways: True is a bool in YAML, not a string: quote it"
    ]
    assert parameter_problems(main, {**good, "EnvName": "an-environment-name-too-long"})
    assert parameter_problems(main, {**good, "StagingAccountList": "<SM_MLOPS_STAGING_ACCOUNTS>"})
    assert parameter_problems(main, {**good, "AvailabilityZones": "us-east-1a,us-east-1b"})
    assert parameter_problems(main, {**good, "NotAParameter": "x"}) == ["NotAParameter: not declared by the template"]
    assert parameter_problems(main, {k: v for k, v in good.items() if k != "AvailabilityZones"}) == [
        "AvailabilityZones: has no default and is not given"
    ]
    assert parameter_problems(main, {**good, "ProductionAccountList": ""}) == [
        "Rule: ProductionAccountList is required with account lists"
    ]
    core = built["core-main"]
    assert parameter_problems(core, {"StackSetName": "tcat-cfn-core", "CreateIAMRoles": "NO"})[0].startswith("Rule: ")


def test_the_environment_steps_use_their_scenarios_core():
    for scenario in ("two-step-cloudformation", "multi-account-account-lists"):
        core = CONFIG["tests"][f"{scenario}-core"]["parameters"]["StackSetName"]
        assert CONFIG["tests"][f"{scenario}-env"]["parameters"]["CoreStackSetName"] == core, scenario
    cores = [CONFIG["tests"][f"{s}-core"]["parameters"]["StackSetName"] for s in SCENARIOS if s != "quickstart"]
    names = [CONFIG["tests"][t]["parameters"]["EnvName"] for t in CONFIG["tests"] if not t.endswith("-core")]
    assert len(set(cores)) == len(cores) and len(set(names)) == len(names)  # scenarios never share a name


def test_only_the_multi_account_scenario_names_target_accounts(dry_run):
    """Account lists in the project parameters (or ~/.taskcat.yml) would reach every environment."""
    for name, test in CONFIG["tests"].items():
        lists = {"StagingAccountList", "ProductionAccountList"} & set(test.get("parameters", {}))
        assert bool(lists) == (scenario_of(name) == "multi-account-account-lists" and name.endswith("-env")), name
    assert not {"StagingAccountList", "ProductionAccountList"} & set(CONFIG["project"].get("parameters", {}))
    written = overrides(dry_run)
    assert set(written) == set(CONFIG["tests"])  # one override file per test run
    assert "StagingAccountList" not in written["two-step-cloudformation-env"]
    assert (
        written["multi-account-account-lists-env"]["ProductionAccountList"] == USER_ENV["SM_MLOPS_PRODUCTION_ACCOUNTS"]
    )


# -- the runner ------------------------------------------------------------------------------------------------------
def test_the_runner_is_an_executable_bash_script_with_help():
    assert os.access(RUNNER, os.X_OK)
    assert RUNNER.read_text().startswith("#!/usr/bin/env bash\n")
    syntax = subprocess.run(["bash", "-n", str(RUNNER)], capture_output=True, text=True, timeout=60)
    assert syntax.returncode == 0, syntax.stderr
    assert "set -euo pipefail" in RUNNER.read_text()
    shown = subprocess.run(["bash", str(RUNNER), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "--dry-run" in shown.stdout and "pip install taskcat" in shown.stdout
    for scenario in SCENARIOS:
        assert scenario in shown.stdout


def test_the_dry_run_runs_each_scenario_then_cleans_it_up(built, dry_run):
    output = dry_run
    found = steps(output)
    seen = []
    position = 0
    for scenario in SCENARIOS:
        expected = scenario_tests(scenario)
        runs = []
        while position < len(found) and found[position][0] != "cleanup":
            kind, detail = found[position]
            if kind == "taskcat":
                runs.append(detail)
            position += 1
        assert [r["test"] for r in runs] == expected, f"{scenario}: taskcat runs {[r['test'] for r in runs]}"
        for run_ in runs:
            argv = run_["argv"]
            assert argv[:3] == ["taskcat", "test", "run"]
            assert option(argv, "--regions") == REGION
            assert pathlib.Path(option(argv, "--input-file")) == CONFIG_FILE
            # a core stays for the next step; everything else taskcat deletes itself
            assert ("--no-delete" in argv) == run_["test"].endswith("-core"), run_["test"]
        assert position < len(found), f"{scenario}: no clean-up after its taskcat runs"
        cleanup = cleanup_options(found[position][1]["argv"])
        if env_test(scenario):
            parameters = CONFIG["tests"][env_test(scenario)]["parameters"]
            template = built[template_name(CONFIG["tests"][env_test(scenario)])]
        else:
            parameters = provision_parameters(output)
            template = built["env-main"]
        assert cleanup["env_name"] == parameters["EnvName"], scenario
        assert cleanup["env_type"] == parameters.get("EnvType", template["Parameters"]["EnvType"]["Default"])
        assert cleanup["delete_data"] and cleanup["yes"] and cleanup["region"] == REGION
        assert bool(cleanup["core_stack"]) == any(t.endswith("-core") for t in expected), scenario
        seen.append(scenario)
        position += 1
    assert seen == list(SCENARIOS) and position == len(found), found[position:]


def test_the_dry_run_publishes_the_release_and_fetches_the_templates_taskcat_deploys(dry_run):
    argvs = commands(dry_run)
    [package] = [a for a in argvs if "package" in a[:3]]
    params = (
        generate.cli.get_command(None, "package")
        .make_context("package", package[package.index("package") + 1 :])
        .params
    )
    assert params["bucket"] == USER_ENV["SM_MLOPS_RELEASE_BUCKET"] and params["region"] == REGION
    [root] = {option(a, "--project-root") for a in argvs if a[0] == "taskcat"}  # taskcat's project root
    copies = {a[-1]: a[-2] for a in argvs if a[:3] == ["aws", "s3", "cp"]}  # destination -> source
    release = rf"s3://{params['bucket']}/{params['prefix']}/releases/[^/]+"
    for test in CONFIG["tests"].values():
        source = copies[f"{root}/{test['template']}"]
        assert re.fullmatch(rf"{release}/{template_name(test)}\.yaml", source), source
    first_taskcat = min(i for i, a in enumerate(argvs) if a[0] == "taskcat")
    copied = [i for i, a in enumerate(argvs) if a[:3] == ["aws", "s3", "cp"]]
    assert argvs.index(package) < min(copied) and max(copied) < first_taskcat


def provision_parameters(output: str) -> dict[str, str]:
    [(_, detail)] = [s for s in steps(output) if s[0] == "provision"]
    argv = detail["argv"]
    zones = {"<zone-a>": f"{REGION}a", "<zone-b>": f"{REGION}b"}
    parameters = {p["Key"]: p["Value"] for p in json.loads(option(argv, "--provisioning-parameters"))}
    return {k: re.sub(r"<zone-[ab]>", lambda m: zones[m.group(0)], v) for k, v in parameters.items()}


def test_the_service_catalog_launch_is_a_valid_environment_of_its_core(built, dry_run):
    output = dry_run
    parameters = provision_parameters(output)
    assert parameter_problems(built["env-main"], parameters) == []
    assert (
        parameters["CoreStackSetName"] == CONFIG["tests"]["two-step-service-catalog-core"]["parameters"]["StackSetName"]
    )
    [(_, detail)] = [s for s in steps(output) if s[0] == "provision"]
    assert option(detail["argv"], "--provisioning-artifact-name").startswith("v")
    assert "# as the data science administrator" in output


@pytest.mark.parametrize("variable", sorted({m for m in PLACEHOLDER.findall(CONFIG_FILE.read_text())}))
def test_the_runner_refuses_to_start_without_a_value_the_config_needs(stand_ins, tmp_path, variable):
    """Every <SM_MLOPS_...> placeholder names a variable the runner requires for the scenarios that use it."""
    scenarios = sorted(
        {scenario_of(n) for n, t in CONFIG["tests"].items() if f"<{variable}>" in json.dumps(t.get("parameters", {}))}
    ) or list(SCENARIOS)
    args = [a for s in scenarios for a in ("--scenario", s)]
    log = tmp_path / "log"
    missing = run_runner(runner_env(stand_ins, log, **{variable: None}), "--dry-run", "--region", REGION, *args)
    assert missing.returncode == 2 and variable in missing.stdout and "error:" in missing.stdout
    assert not log.exists()
    given = run_runner(runner_env(stand_ins, log), "--dry-run", "--region", REGION, *args)
    assert given.returncode == 0, given.stdout


def test_the_runner_needs_taskcat_and_the_aws_cli(tmp_path):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("bash", "dirname"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    env = {**USER_ENV, "PATH": str(bin_), "HOME": str(tmp_path)}
    result = run_runner(env, "--dry-run", "--region", REGION)
    assert result.returncode == 2 and "taskcat is not on PATH" in result.stdout
    (bin_ / "taskcat").symlink_to("/bin/true")
    result = run_runner(env, "--dry-run", "--region", REGION)
    assert result.returncode == 2 and "aws is not on PATH" in result.stdout


def test_a_failing_scenario_is_cleaned_up_and_stops_the_run(stand_ins, tmp_path):
    log = tmp_path / "log"
    env = runner_env(
        stand_ins, log, FAIL_TEST="two-step-cloudformation-env", SM_MLOPS_TASKCAT_WORKDIR=str(tmp_path / "w")
    )
    result = run_runner(env, "--region", REGION)
    assert result.returncode != 0, result.stdout
    ran = log.read_text().splitlines()
    taskcat = [option(line.split(), "--test-names") for line in ran if line.startswith("taskcat ")]
    assert taskcat == ["quickstart", "two-step-cloudformation-core", "two-step-cloudformation-env"]
    cleanups = [line.split()[1:] for line in ran if line.startswith("generate cleanup")]
    assert [cleanup_options(c)["env_name"] for c in cleanups] == ["tcat-qs", "tcat-cfn"]
    assert cleanup_options(cleanups[1])["core_stack"] == "tCaT-core-0a1b2c"
    assert all(cleanup_options(c)["delete_data"] and cleanup_options(c)["yes"] for c in cleanups)
    assert ran.index(next(line for line in ran if "--test-names two-step-cloudformation-env" in line)) < ran.index(
        next(line for line in ran if line.startswith("generate cleanup --env-name tcat-cfn"))
    )
    assert "did not finish" in result.stdout
    assert (tmp_path / "w" / ".taskcat_overrides.yml").read_text().startswith("SeedCodeS3BucketName: ")
