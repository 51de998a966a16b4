"""Build step of the model deploy pipeline.

Run by CodeBuild (see buildspec.yml) in the development account.  It

1. makes sure the project's model package group exists;
2. works out the target accounts of the staging and the production stage;
3. in multi-account mode, lets the target accounts' deployment roles read the group (resource policy);
4. picks the newest *Approved* model package of the group;
5. writes the artifacts CodePipeline reads: the endpoint template, one parameter file and one
   deployment-targets file per stage.

Everything it needs comes from environment variables that the project's CodeBuild project sets (listed in
``Settings.from_env``).  Errors stop the build with a message saying what is wrong and how to fix it.
Only boto3 is required; PyYAML, when installed, enables the check of the parameters against the template.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

# Parameters of the endpoint template that this script sets.  A config template must not set them.
BUILD_OWNED = (
    "SageMakerProjectName",
    "SageMakerProjectId",
    "ModelPackageName",
    "ExecutionRoleName",
    "EnvName",
    "EnvType",
    "SageMakerSubnetIds",
    "SageMakerSecurityGroupIds",
    "VolumeKmsKeyArn",
)

ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_ID = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
CONFIG_TEMPLATE_KEYS = {"Parameters", "Tags"}  # "Tags" is accepted and not used (yet)
# The one place the model execution roles of every account may write endpoint data capture: this prefix of the
# environment's model bucket (with its key).
DATA_CAPTURE_PREFIX = "data-capture/"


class BuildError(Exception):
    """A problem the person running the pipeline has to fix; printed without a traceback."""


def targets_file_name(config_name: str) -> str:
    """staging-config -> staging-targets.json (the deploy test derives the same name from BUILD_CONFIG)."""
    stem = config_name[: -len("-config")] if config_name.endswith("-config") else config_name
    return f"{stem}-targets.json"


@dataclass(frozen=True)
class Stage:
    key: str  # "staging" | "prod": names the env vars of the stage
    name: str  # stage name (EnvType of the endpoint), e.g. "staging"
    config_name: str  # e.g. "staging-config"
    account_list: str
    ou_id: str

    @property
    def config_file(self) -> str:
        return f"{self.config_name}.json"

    @property
    def config_template_file(self) -> str:
        return f"{self.config_name}-template.json"

    @property
    def targets_file(self) -> str:
        return targets_file_name(self.config_name)


@dataclass(frozen=True)
class Settings:
    project_name: str
    project_id: str
    env_name: str
    env_type: str
    model_package_group: str
    multi_account: bool
    model_execution_role_name: str
    stackset_execution_role_name: str
    role_path: str
    ebs_kms_key_arn: str
    template_name: str
    stages: tuple[Stage, Stage]
    # Organizational-unit mode: the environment's StackSet that set up the target accounts, and how to call it.
    target_accounts_stackset: str = ""
    stackset_call_as: str = "SELF"
    model_bucket: str = ""  # the environment's model bucket: data capture goes under its DATA_CAPTURE_PREFIX

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)

        def get(name: str, default: str | None = None) -> str:
            value = env.get(name, "").strip()
            if value:
                return value
            if default is None:
                raise BuildError(f"environment variable {name} is not set (the project's CodeBuild project sets it)")
            return default

        multi = get("MULTI_ACCOUNT_DEPLOYMENT", "NO").upper()
        if multi not in ("YES", "NO"):
            raise BuildError(f"MULTI_ACCOUNT_DEPLOYMENT must be YES or NO, not {multi!r}")
        role_path = get("ROLE_PATH", "/")
        if not (role_path.startswith("/") and role_path.endswith("/")):
            raise BuildError(f"ROLE_PATH must start and end with '/', e.g. '/' or '/mlops/', not {role_path!r}")
        stages = (
            Stage(
                "staging",
                get("ENV_TYPE_STAGING_NAME", "staging"),
                get("STAGING_CONFIG_NAME", "staging-config"),
                env.get("STAGING_ACCOUNT_LIST", ""),
                env.get("STAGING_OU_ID", "").strip(),
            ),
            Stage(
                "prod",
                get("ENV_TYPE_PROD_NAME", "prod"),
                get("PROD_CONFIG_NAME", "prod-config"),
                env.get("PROD_ACCOUNT_LIST", ""),
                env.get("PROD_OU_ID", "").strip(),
            ),
        )
        if stages[0].name == stages[1].name or stages[0].config_name == stages[1].config_name:
            raise BuildError("the staging and production stages need different stage names and config names")
        if multi == "YES":
            get("STACKSET_EXECUTION_ROLE_NAME")  # the target accounts' deployment role needs to read the group
        call_as = get("STACKSET_CALL_AS", "SELF").upper()
        if call_as not in ("SELF", "DELEGATED_ADMIN"):
            raise BuildError(f"STACKSET_CALL_AS must be SELF or DELEGATED_ADMIN, not {call_as!r}")
        return cls(
            project_name=get("SAGEMAKER_PROJECT_NAME"),
            project_id=get("SAGEMAKER_PROJECT_ID"),
            env_name=get("ENV_NAME"),
            env_type=get("ENV_TYPE"),
            model_package_group=get("MODEL_PACKAGE_GROUP_NAME"),
            multi_account=multi == "YES",
            model_execution_role_name=get("MODEL_EXECUTION_ROLE_NAME"),
            stackset_execution_role_name=env.get("STACKSET_EXECUTION_ROLE_NAME", "").strip(),
            role_path=role_path,
            ebs_kms_key_arn=get("EBS_KMS_KEY_ARN"),
            template_name=get("CFN_TEMPLATE_NAME", "cfn-sm-endpoint"),
            stages=stages,
            target_accounts_stackset=env.get("TARGET_ACCOUNTS_STACKSET", "").strip(),
            model_bucket=env.get("MODEL_BUCKET", "").strip(),
            stackset_call_as=call_as,
        )


# --- 1. model package group ----------------------------------------------------------------------------


def ensure_model_package_group(sm, settings: Settings) -> str:
    """Return the group's ARN, creating the group (tagged with the project and environment) if needed."""
    name = settings.model_package_group
    try:
        return sm.describe_model_package_group(ModelPackageGroupName=name)["ModelPackageGroupArn"]
    except ClientError as error:
        # SageMaker answers ValidationException for a group that does not exist.
        if error.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
    print(f"Model package group {name} does not exist yet: creating it")
    return sm.create_model_package_group(
        ModelPackageGroupName=name,
        ModelPackageGroupDescription=f"Models of SageMaker project {settings.project_name}",
        Tags=[
            {"Key": "sagemaker:project-name", "Value": settings.project_name},
            {"Key": "sagemaker:project-id", "Value": settings.project_id},
            {"Key": "EnvironmentName", "Value": settings.env_name},
            {"Key": "EnvironmentType", "Value": settings.env_type},
        ],
    )["ModelPackageGroupArn"]


# --- 2. target accounts ---------------------------------------------------------------------------------


def parse_account_list(text: str, variable: str) -> list[str]:
    accounts = [a.strip() for a in text.replace(";", ",").split(",") if a.strip()]
    bad = [a for a in accounts if not ACCOUNT_ID.match(a)]
    if bad:
        raise BuildError(
            f"{variable} must be a comma-separated list of 12-digit account ids; not account ids: {', '.join(bad)}"
        )
    return sorted(set(accounts))


def ou_accounts(cfn, stackset: str, call_as: str, ou_id: str) -> list[str]:
    """The accounts of an OU (and of the OUs below it) that the environment has set up: the stack instances of
    its target-account StackSet deployed to that OU.

    CloudFormation resolved the OU when it deployed the environment's roles there (and keeps doing so for
    accounts added later), and it answers through the VPC's CloudFormation endpoint: the build needs no route
    to AWS Organizations (which has no endpoint in most regions), and an account the environment never set up
    (no deployment role there) is never a target."""
    accounts: set[str] = set()
    paginator = cfn.get_paginator("list_stack_instances")
    for page in paginator.paginate(StackSetName=stackset, CallAs=call_as):
        for instance in page["Summaries"]:
            if instance.get("OrganizationalUnitId") == ou_id and instance.get("Status") != "INOPERABLE":
                accounts.add(instance["Account"])
    return sorted(accounts)


def resolve_targets(settings: Settings, own_account: str, cfn_client_factory) -> dict[str, list[str]]:
    """Stage name -> sorted target account ids (never empty)."""
    if not settings.multi_account:
        return {stage.name: [own_account] for stage in settings.stages}
    targets = {}
    for stage in settings.stages:
        list_var, ou_var = f"{stage.key.upper()}_ACCOUNT_LIST", f"{stage.key.upper()}_OU_ID"
        accounts = parse_account_list(stage.account_list, list_var)
        if not accounts and stage.ou_id:
            if not OU_ID.match(stage.ou_id):
                raise BuildError(f"{ou_var} is not an organizational unit id (ou-xxxx-xxxxxxxx): {stage.ou_id!r}")
            if not settings.target_accounts_stackset:
                raise BuildError(
                    f"{ou_var} is set but TARGET_ACCOUNTS_STACKSET is not: the project reads it from "
                    "the environment's configuration (update the environment, then the project)"
                )
            try:
                accounts = ou_accounts(
                    cfn_client_factory(), settings.target_accounts_stackset, settings.stackset_call_as, stage.ou_id
                )
            except ClientError as error:
                raise BuildError(
                    f"cannot list the accounts the environment set up in {ou_var}={stage.ou_id} (StackSet "
                    f"{settings.target_accounts_stackset}, called as {settings.stackset_call_as}: "
                    f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')})"
                ) from error
            if not accounts:
                raise BuildError(
                    f"stage {stage.name}: the environment has set up no account of {ou_var}="
                    f"{stage.ou_id} or its child OUs (StackSet {settings.target_accounts_stackset} has "
                    "no stack instance there)"
                )
        if not accounts:
            raise BuildError(
                f"MULTI_ACCOUNT_DEPLOYMENT=YES but stage {stage.name} has no target account: set {list_var} "
                f"(comma-separated account ids) or {ou_var} in the environment, or deploy with "
                "MULTI_ACCOUNT_DEPLOYMENT=NO"
            )
        targets[stage.name] = accounts
    return targets


# --- 3. cross-account read access to the model package group ---------------------------------------------


def role_arn(partition: str, account: str, role_path: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:role{role_path}{name}"


def group_policy(settings: Settings, partition: str, group_arn: str, accounts: list[str]) -> dict:
    """Resource policy letting the target accounts' StackSet execution role and model execution role read
    the group and its packages (CloudFormation in the target account creates the model from the package)."""
    principals = sorted(
        {
            role_arn(partition, account, settings.role_path, name)
            for account in accounts
            for name in (settings.stackset_execution_role_name, settings.model_execution_role_name)
        }
    )
    packages = group_arn.replace(":model-package-group/", ":model-package/", 1) + "/*"
    # Package ARNs carry the group name in lower case; list both spellings when they differ.
    resources = sorted({group_arn, packages, packages.lower()})
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TargetAccountsReadModelPackages",
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": [
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListModelPackages",
                ],
                "Resource": resources,
            }
        ],
    }


# --- 4. newest approved package -------------------------------------------------------------------------


def newest_approved_package(sm, group: str) -> dict:
    summaries = []
    for page in sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
    ):
        summaries.extend(s for s in page["ModelPackageSummaryList"] if s.get("ModelApprovalStatus") == "Approved")
    if not summaries:
        raise BuildError(
            f"model package group {group} has no Approved model package. Approve one in SageMaker Studio "
            "(Models > Registered models) or with `aws sagemaker update-model-package --model-approval-status "
            "Approved`; the approval starts this pipeline again"
        )
    newest = max(summaries, key=lambda s: (s["CreationTime"], s.get("ModelPackageVersion", 0)))
    return newest


# --- 5. artifacts ---------------------------------------------------------------------------------------


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise BuildError(f"duplicate key(s) {', '.join(duplicates)}")
    return dict(pairs)


def load_config_template(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise BuildError(f"config template {path.name} is missing (expected next to build.py)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except BuildError as error:
        raise BuildError(f"{path.name}: {error}") from None
    except json.JSONDecodeError as error:
        raise BuildError(f"{path.name} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Parameters"), dict):
        raise BuildError(f'{path.name} must be a JSON object with a "Parameters" object: {{"Parameters": {{...}}}}')
    unknown = sorted(set(document) - CONFIG_TEMPLATE_KEYS)
    if unknown:
        raise BuildError(
            f"{path.name}: unknown top-level key(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(CONFIG_TEMPLATE_KEYS))})"
        )
    parameters = {}
    for key, value in document["Parameters"].items():
        if key in BUILD_OWNED:
            raise BuildError(
                f"{path.name} sets parameter {key}, which the build sets itself; remove it from "
                f"the file (build-owned parameters: {', '.join(BUILD_OWNED)})"
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BuildError(f"{path.name}: parameter {key} must be a string or a number, not {value!r}")
        parameters[key] = str(value)
    return parameters


def data_capture(settings: Settings, stage: Stage, config: dict[str, str], file_name: str) -> dict[str, str]:
    """With DataCapture YES: DataCaptureS3Uri defaults to the model bucket's capture prefix for this project and
    stage, and must lie under that prefix (the only place the model execution roles may write)."""
    if config.get("DataCapture", "NO").upper() != "YES":
        return {}
    if not settings.model_bucket:
        raise BuildError(
            f"{file_name}: DataCapture is YES but MODEL_BUCKET (the environment's model bucket, where "
            "captured data goes) is not set"
        )
    allowed = f"s3://{settings.model_bucket}/{DATA_CAPTURE_PREFIX}"
    uri = config.get("DataCaptureS3Uri", "").strip()
    if not uri:
        return {"DataCaptureS3Uri": f"{allowed}{settings.project_name}-{settings.project_id}/{stage.name}"}
    if not uri.startswith(allowed) or uri == allowed:
        raise BuildError(
            f"{file_name}: DataCaptureS3Uri must lie under {allowed} (the one place the endpoints' "
            f"model execution roles may write), not {uri!r}; leave it out to use {allowed}"
            f"{settings.project_name}-{settings.project_id}/{stage.name}"
        )
    return {}


def stage_parameters(settings: Settings, stage: Stage, package_arn: str, config: dict[str, str]) -> list[dict]:
    owned = {
        "SageMakerProjectName": settings.project_name,
        "SageMakerProjectId": settings.project_id,
        "ModelPackageName": package_arn,
        "ExecutionRoleName": settings.model_execution_role_name,
        "EnvName": settings.env_name,
        "EnvType": stage.name,
        # SSM parameter NAMES; the endpoint template resolves them in the target account.
        "SageMakerSubnetIds": f"{settings.env_name}-{stage.name}-private-subnet-ids",
        "SageMakerSecurityGroupIds": f"{settings.env_name}-{stage.name}-sagemaker-sg-ids",
        "VolumeKmsKeyArn": settings.ebs_kms_key_arn,
    }
    merged = {**config, **data_capture(settings, stage, config, stage.config_template_file), **owned}
    # (disjoint from ``owned``: load_config_template refuses build-owned keys)
    return [{"ParameterKey": k, "ParameterValue": merged[k]} for k in sorted(merged)]


def _cfn_yaml_loader():
    import yaml  # optional: only for the template check

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader, suffix, node):  # !Ref, !Sub, !If ... keep the value, drop the tag
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    Loader.add_multi_constructor("!", any_tag)
    return yaml, Loader


def template_parameters(text: str) -> dict | None:
    """The template's Parameters section, or None when it cannot be read without PyYAML."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            yaml, loader = _cfn_yaml_loader()
        except ImportError:
            return None
        try:
            document = yaml.load(text, Loader=loader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as error:
            raise BuildError(f"the endpoint template is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise BuildError("the endpoint template is not a CloudFormation template (no top-level mapping)")
    return document.get("Parameters") or {}


def check_parameters(parameters: list[dict], declared: dict, file_name: str, template_file: str) -> None:
    given = {p["ParameterKey"]: p["ParameterValue"] for p in parameters}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise BuildError(f"{file_name}: parameter(s) {', '.join(unknown)} are not parameters of {template_file}")
    missing = sorted(k for k, spec in declared.items() if k not in given and "Default" not in (spec or {}))
    if missing:
        raise BuildError(
            f"{file_name}: {template_file} requires parameter(s) {', '.join(missing)}; set them in the config template"
        )
    for key, value in given.items():
        problem = constraint_problem(value, declared[key] or {})
        if problem:
            raise BuildError(f"{file_name}: {key}={value!r} {problem}")


def constraint_problem(value: str, spec: dict) -> str | None:
    """What CloudFormation would refuse about a parameter value (the checks it makes before creating a stack)."""
    allowed = spec.get("AllowedValues")
    if allowed and value not in [str(a) for a in allowed]:
        return f"is not one of {', '.join(map(str, allowed))}"
    kind = spec.get("Type", "String")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return "is not a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"is below the minimum {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"is above the maximum {spec['MaxValue']}"
    elif kind == "String":
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            return f"is shorter than {spec['MinLength']} characters"
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            return f"is longer than {spec['MaxLength']} characters"
        pattern = spec.get("AllowedPattern")
        if pattern:
            try:
                matches = re.fullmatch(pattern, value) is not None
            except re.error:  # a Java-only construct: leave the check to CloudFormation
                return None
            if not matches:
                return f"does not match the pattern {pattern}" + (
                    f" ({spec['ConstraintDescription']})" if spec.get("ConstraintDescription") else ""
                )
    return None


def write_json(path: Path, document) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


# --- main -----------------------------------------------------------------------------------------------


def run(source_dir: Path, output_dir: Path, settings: Settings, session=None) -> dict:
    # CodeBuild sets AWS_REGION (and AWS_DEFAULT_REGION, which boto3 reads itself).
    session = session or boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
    sm = session.client("sagemaker")

    template_source = source_dir / f"{settings.template_name}-template.yaml"
    if not template_source.is_file():
        raise BuildError(
            f"{template_source.name} is missing from the repository root; it is the endpoint "
            "template the project put into this repository (restore it from the first commit)"
        )
    # Read the files first so that a mistake in them fails the build before any AWS change.
    configs = {stage.name: load_config_template(source_dir / stage.config_template_file) for stage in settings.stages}
    for stage in settings.stages:
        data_capture(settings, stage, configs[stage.name], stage.config_template_file)
    declared = template_parameters(template_source.read_text(encoding="utf-8"))
    if declared is None:
        print("PyYAML is not installed: parameters are not checked against the template", file=sys.stderr)

    identity = session.client("sts").get_caller_identity()
    own_account, partition = identity["Account"], identity["Arn"].split(":")[1]
    targets = resolve_targets(settings, own_account, lambda: session.client("cloudformation"))
    for stage in settings.stages:
        print(f"Stage {stage.name}: target accounts {', '.join(targets[stage.name])}")

    group_arn = ensure_model_package_group(sm, settings)

    if settings.multi_account:
        all_targets = sorted({a for accounts in targets.values() for a in accounts})
        policy = group_policy(settings, partition, group_arn, all_targets)
        sm.put_model_package_group_policy(
            ModelPackageGroupName=settings.model_package_group, ResourcePolicy=json.dumps(policy)
        )
        print(f"Model package group policy grants read access to {len(all_targets)} target account(s)")

    package = newest_approved_package(sm, settings.model_package_group)
    package_arn = package["ModelPackageArn"]
    print(f"Deploying model package {package_arn} (created {package['CreationTime']})")

    written = {}
    for stage in settings.stages:  # every check before the first file is written
        parameters = stage_parameters(settings, stage, package_arn, configs[stage.name])
        if declared is not None:
            check_parameters(parameters, declared, stage.config_file, template_source.name)
        written[stage.name] = parameters
    output_dir.mkdir(parents=True, exist_ok=True)
    for stage in settings.stages:
        write_json(output_dir / stage.config_file, written[stage.name])
        write_json(output_dir / stage.targets_file, targets[stage.name])
    shutil.copyfile(template_source, output_dir / f"{settings.template_name}.yaml")
    return {"model_package_arn": package_arn, "targets": targets, "parameters": written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument("--source-dir", type=Path, default=here, help="folder with the templates (default: here)")
    parser.add_argument("--output-dir", type=Path, default=Path.cwd(), help="where to write the artifacts")
    args = parser.parse_args(argv)
    try:
        run(args.source_dir, args.output_dir, Settings.from_env())
    except BuildError as error:
        print(f"BUILD FAILED: {error}", file=sys.stderr)
        return 1
    except ClientError as error:
        err = error.response.get("Error", {})
        print(
            f"BUILD FAILED: AWS call {error.operation_name} was refused: {err.get('Code')}: {err.get('Message')}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
