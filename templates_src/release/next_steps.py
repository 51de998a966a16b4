"""What a user runs after a release is published, with the release's real URLs filled in (blog post order)."""

from __future__ import annotations

from templates_src.release.model import Plan

SETUP = "env-iam-setup-stackset-role"
CORE = "core-main"


def next_steps(plan: Plan, account_id: str | None, env_name: str = "sm-mlops", core_stack: str = "sm-mlops-core") -> list[str]:
    region = plan.target.region
    admin = account_id or "<this account id>"
    lines: list[str] = []
    step = 0
    if SETUP in plan.entry_urls:
        step += 1
        lines += [
            f"{step}. In every staging and production account (multi-account deployments only), "
            "with credentials of that account:",
            f"   aws cloudformation create-stack --region {region} --stack-name {env_name}-setup-stackset-role \\",
            f"     --template-url {plan.entry_urls[SETUP]} \\",
            "     --capabilities CAPABILITY_NAMED_IAM \\",
            f"     --parameters ParameterKey=EnvName,ParameterValue={env_name} "
            "ParameterKey=EnvType,ParameterValue=<staging|prod> \\",
            f"       ParameterKey=StackSetExecutionRoleName,ParameterValue={env_name}-setup-stackset-execution-role "
            f"ParameterKey=AdministratorAccountId,ParameterValue={admin}",
            "   (or: aws cloudformation deploy --template-file build/env-iam-setup-stackset-role.yaml ...)",
        ]
    if CORE in plan.entry_urls:
        step += 1
        lines += [
            f"{step}. The core stack, in this account:",
            f"   aws cloudformation create-stack --region {region} --stack-name {core_stack} \\",
            f"     --template-url {plan.entry_urls[CORE]} \\",
            "     --capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM \\",
            f"     --parameters ParameterKey=StackSetName,ParameterValue={core_stack}",
            "   An existing core stack moves to this release (and gains its product version) with",
            f"   aws cloudformation update-stack --stack-name {core_stack} --template-url {plan.entry_urls[CORE]} "
            "--capabilities CAPABILITY_IAM CAPABILITY_NAMED_IAM --parameters ParameterKey=StackSetName,UsePreviousValue=true",
        ]
        step += 1
        product = (f"$(aws cloudformation describe-stacks --region {region} --stack-name {core_stack} "
                   "--query \"Stacks[0].Outputs[?OutputKey=='ProductId'].OutputValue\" --output text)")
        lines += [
            f"{step}. As the data science administrator (AssumeDSAdministratorRole output of {core_stack}), "
            "launch an environment from Service Catalog:",
            f"   aws servicecatalog provision-product --region {region} --product-id {product} \\",
            f"     --provisioning-artifact-name v{plan.release} --provisioned-product-name {env_name}-dev \\",
            "     --provisioning-parameters Key=EnvName,Value=sm-mlops Key=EnvType,Value=dev ...",
            "   Environments launched from an earlier version keep it until their owners update them:",
            f"   aws servicecatalog update-provisioned-product --provisioned-product-name {env_name}-dev "
            f"--product-id {product} --provisioning-artifact-name v{plan.release}",
        ]
    return lines
