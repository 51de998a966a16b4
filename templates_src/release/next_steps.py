"""What a user runs after a release is published, with the release's real URLs filled in (blog post order).

Every command is complete (no elided arguments) and shell-quoted: it can be pasted as it is.  The three
deployment options of the README each get their commands: the quickstart, the two steps with CloudFormation
(the environment run as the core's launch role) and the two steps with Service Catalog.
"""

from __future__ import annotations

import json
import shlex

from templates_src.release.model import Plan

SETUP = "env-iam-setup-stackset-role"
CORE = "core-main"
ENVIRONMENT = "env-main"
QUICKSTART = "data-science-environment-quickstart"


def _q(value: str) -> str:
    return shlex.quote(value)


def _output(region: str, stack: str, output: str) -> str:
    """A command substitution reading one output of a stack (itself quoted inside)."""
    query = f"Stacks[0].Outputs[?OutputKey=='{output}'].OutputValue"
    return (
        f'"$(aws cloudformation describe-stacks --region {_q(region)} --stack-name {_q(stack)} '
        f'--query {_q(query)} --output text)"'
    )


def _parameters(values: dict[str, str]) -> str:
    return _q(json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()], separators=(",", ":")))


def next_steps(
    plan: Plan, account_id: str | None, env_name: str = "sm-mlops", core_stack: str = "sm-mlops-core"
) -> list[str]:
    region = plan.target.region
    admin = account_id or "$(aws sts get-caller-identity --query Account --output text)"
    seed = plan.target.bucket
    zones = f"{region}a,{region}b"  # the region's first two zones; change them if the region names them otherwise
    environment = {"EnvName": env_name, "EnvType": "dev", "SeedCodeS3BucketName": seed}
    lines: list[str] = []
    step = 0

    def add(title: str, *commands: str) -> None:
        nonlocal step
        step += 1
        lines.append(f"{step}. {title}")
        lines.extend(f"   {command}" for command in commands)

    if SETUP in plan.entry_urls:
        add(
            "Multi-account deployments only: in every staging and production account, with that account's "
            "credentials (EnvType staging or prod):",
            f"aws cloudformation create-stack --region {_q(region)} "
            f"--stack-name {_q(env_name + '-setup-stackset-role')} "
            f"--template-url {_q(plan.entry_urls[SETUP])} --capabilities CAPABILITY_NAMED_IAM --parameters "
            + _parameters(
                {
                    "EnvName": env_name,
                    "EnvType": "staging",
                    "StackSetExecutionRoleName": f"{env_name}-setup-stackset-execution-role",
                    "AdministratorAccountId": account_id or "<development account id>",
                }
            ),
        )
    if QUICKSTART in plan.entry_urls:
        add(
            "Option 1, the quickstart (core and environment in one stack, by an account administrator):",
            f"aws cloudformation create-stack --region {_q(region)} --stack-name {_q('ds-quickstart-' + env_name)} "
            f"--template-url {_q(plan.entry_urls[QUICKSTART])} "
            "--capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --parameters "
            + _parameters({"EnvName": env_name, "SeedCodeS3BucketName": seed}),
        )
    if CORE in plan.entry_urls:
        add(
            "Options 2 and 3 start with the core stack, in this account:",
            f"aws cloudformation create-stack --region {_q(region)} --stack-name {_q(core_stack)} "
            f"--template-url {_q(plan.entry_urls[CORE])} --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM "
            "--parameters " + _parameters({"StackSetName": core_stack}),
            f"aws cloudformation wait stack-create-complete --region {_q(region)} --stack-name {_q(core_stack)}",
            "(an existing core moves to this release, and gains its product version, with:)",
            f"aws cloudformation update-stack --region {_q(region)} --stack-name {_q(core_stack)} "
            f"--template-url {_q(plan.entry_urls[CORE])} --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM "
            "--parameters ParameterKey=StackSetName,UsePreviousValue=true",
        )
        if ENVIRONMENT in plan.entry_urls:
            add(
                "Option 2, the environment with CloudFormation, as the data science administrator "
                f"(AssumeDSAdministratorRole output of {core_stack}), run as the core's launch role:",
                f"aws cloudformation create-stack --region {_q(region)} "
                f"--stack-name {_q('ds-env-' + env_name + '-dev')} "
                f"--template-url {_q(plan.entry_urls[ENVIRONMENT])} --role-arn "
                f"{_output(region, core_stack, 'SCLaunchRoleArn')} "
                "--capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --parameters "
                + _parameters({**environment, "CoreStackSetName": core_stack, "AvailabilityZones": zones}),
            )
        product = _output(region, core_stack, "ProductId")
        add(
            "Option 3, the environment from Service Catalog, as the data science administrator:",
            f"aws servicecatalog provision-product --region {_q(region)} --product-id {product} "
            f"--provisioning-artifact-name {_q('v' + plan.release)} --provisioned-product-name {_q(env_name + '-dev')} "
            "--provisioning-parameters "
            + " ".join(_q(f"Key={k},Value={v}") for k, v in {**environment, "CoreStackSetName": core_stack}.items())
            + " "
            + _q(f"Key=AvailabilityZones,Value={zones}"),
            "(environments launched from an earlier version keep it until their owners update them:)",
            f"aws servicecatalog update-provisioned-product --region {_q(region)} --provisioned-product-name "
            f"{_q(env_name + '-dev')} --product-id {product} --provisioning-artifact-name {_q('v' + plan.release)}",
        )
    if admin.startswith("$("):
        lines.append("(the account id was not available: the commands read it where they need it)")
    return lines
