"""``generate.py cleanup``: take an environment down, data-safe by default (templates_src/cleanup.py)."""

from __future__ import annotations

import re
import sys

import click
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from templates_src import cleanup as lifecycle
from templates_src import machine_output as machine
from templates_src.blocks import parameters as params
from templates_src.cli import (
    EXIT_AWS,
    EXIT_CODES,
    OUTPUT_OPTION,
    _check_endpoint,
    _check_region,
    error,
    fail_input,
)

ACTIONS = {
    "delete": "delete",
    "terminate": "terminate",
    "retain-instance": "remove, keep stack",
    "schedule-deletion": "schedule deletion",
    "release": "release mounts",
    "keep": "keep",
}


def _check_name(option: str, value: str, spec: params.ParamSpec) -> None:
    pattern = spec.allowed_pattern or ".*"
    if not re.fullmatch(pattern, value) or (spec.max_length and len(value) > spec.max_length):
        fail_input(f"{option}: {value!r} is not a valid {spec.name} ({spec.constraint})")


def _interactive() -> bool:
    return sys.stdin.isatty()


def _say(line: str) -> None:
    click.echo(f"cleanup: {line}", err=True)


def _plan_lines(env: lifecycle.Environment, items: list[lifecycle.Item], delete_data: bool) -> list[str]:
    lines = [
        f"Clean-up plan of environment {env.prefix} in account {env.account}, region {env.region} "
        f"({len(items)} resource(s), in this order; data {'DELETED' if delete_data else 'kept'}):"
    ]
    for number, item in enumerate(items, 1):
        lines.append(f"{number:>4}. {ACTIONS[item.action]:<18} {item.kind} {item.name} ({item.account}, {item.region})")
        lines.append(f"        why: {item.why}")
        if item.data:
            lines.append(f"        holds: {item.data}")
        if item.reason:
            lines.append(f"        kept: {item.reason}")
        if item.kind == "kms-key" and item.action == "schedule-deletion":
            lines.append(f"        deleted after a pending window of {lifecycle.KEY_PENDING_DAYS} days (cancellable)")
    return lines


@click.command(epilog=EXIT_CODES)
@click.option("--env-name", required=True, help="EnvName of the environment to take down.")
@click.option("--env-type", required=True, help="EnvType of the environment to take down.")
@click.option(
    "--core-stack", help="Also delete this core stack, when no other environment in the region still uses it."
)
@click.option("--region", help="Region of the environment (default: the AWS session's region).")
@click.option("--profile", help="AWS profile to use.")
@click.option("--endpoint-url", help="AWS endpoint (for tests against a local stand-in such as moto).")
@click.option("--dry-run", is_flag=True, help="Print the plan only; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--delete-data",
    is_flag=True,
    help="Also delete what holds data: empty and delete buckets, delete model packages and the home file "
    "system, schedule the KMS keys' deletion. Without it they are kept and listed.",
)
@OUTPUT_OPTION
def cleanup(
    env_name: str,
    env_type: str,
    core_stack: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    dry_run: bool,
    yes: bool,
    delete_data: bool,
    output: str,
) -> None:
    """Delete an environment and everything the platform created for it, in order, data last.

    Finds the environment's stacks, Service Catalog provisioned products, Studio domain, MLOps projects with
    their deploy StackSets (in every target account), pipelines and endpoints, buckets, model package groups,
    keys and home file system by the names and tags the templates give them; prints the plan; then deletes.
    Without --delete-data, whatever holds data is kept and listed with the reason. Running it again
    completes an interrupted run; when nothing is left it says so.
    """
    document = machine.start("cleanup") if output == "json" else None
    _check_name("--env-name", env_name, params.ENV_NAME)
    _check_name("--env-type", env_type, params.ENV_TYPE)
    _check_region(region)
    _check_endpoint(endpoint_url)
    try:
        aws = lifecycle.Aws(region, profile, endpoint_url)
        if not aws.region:
            fail_input("--region: no region given and the AWS session has none")
        env, items = lifecycle.discover(aws, env_name, env_type, core_stack)
    except ProfileNotFound as exc:
        fail_input(f"--profile: {exc}")
    except (NoCredentialsError, NoRegionError) as exc:
        fail_input(str(exc))
    except (ClientError, BotoCoreError) as exc:
        error(f"could not look for the environment's resources: {lifecycle._line(exc)}; nothing was changed")
        sys.exit(EXIT_AWS)
    lifecycle.apply_data_policy(items, delete_data)
    if document is not None:
        document.update(
            environment=env.prefix,
            account=env.account,
            region=env.region,
            dry_run=dry_run,
            delete_data=delete_data,
            plan=[item.as_json() for item in items],
        )
    if not items:
        click.echo(f"nothing to do: no resource of environment {env.prefix} in account {env.account}, {env.region}")
        return
    click.echo("\n".join(_plan_lines(env, items, delete_data)))
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    if all(item.action == "keep" for item in items):
        click.echo("nothing to delete: everything left is kept (see above)")
        _report(document, lifecycle.Report(kept=list(items)))
        return
    if not yes:
        if not _interactive():
            fail_input("--yes: standard input is not a terminal; give --yes to delete without confirmation")
        if not click.confirm(
            f"Delete these resources of environment {env.prefix} in account {env.account} ({env.region})?",
            err=True,
        ):
            click.echo("not confirmed: nothing was changed", err=True)
            return
    report = lifecycle.Executor(aws, env, _say).run(items)
    _report(document, report)
    if report.failed:
        error(
            f"{len(report.failed)} resource(s) could not be deleted (listed above); run the same command again "
            "to continue where this run stopped"
        )
        sys.exit(EXIT_AWS)


def _report(document, report: lifecycle.Report) -> None:
    click.echo(f"deleted: {len(report.deleted)}, kept: {len(report.kept)}, failed: {len(report.failed)}")
    for item in report.kept:
        click.echo(f"  kept {item.kind} {item.name}: {item.reason}")
    for item, why in report.failed:
        click.echo(f"  failed {item.kind} {item.name}: {why}")
    if document is not None:
        document.update(
            deleted=[item.as_json() for item in report.deleted],
            kept=[item.as_json() for item in report.kept],
            failed=[{**item.as_json(), "error": why} for item, why in report.failed],
        )
