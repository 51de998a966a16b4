"""``generate.py releases list|retire``: release housekeeping (``templates_src.release.housekeeping``).

Options, exit codes and messages are the ``package`` command's (``templates_src.cli``): 0 success (also a
release that is already retired), 2 bad input or a release that cannot be retired as asked (in use, not
published, an unfinished publication), 3 an AWS or network error (a new run completes what was started),
130 interrupted.  Every error is one ``error:`` line.
"""

from __future__ import annotations

import sys

import click

EPILOG = (
    "Exit codes: 0 success (also: nothing to do); 2 bad input, or a release that cannot be retired as asked "
    "(in use, not published, a publication unfinished); 3 an AWS or network error (run again to complete "
    "it); 130 interrupted."
)


@click.group(epilog=EPILOG)
def releases() -> None:
    """Published releases in a bucket: list them (with what uses them), retire old ones."""


# templates_src.cli loads this module when the command is used or listed (Cli.LAZY).
from templates_src import cli as base  # noqa: E402
from templates_src import machine_output as machine  # noqa: E402
from templates_src import release_layout as layout  # noqa: E402


def _options(fn):
    for option in reversed(
        [
            click.option("--bucket", required=True, help="S3 bucket the releases are published in (in --region)."),
            click.option(
                "--prefix", default=layout.DEFAULT_PREFIX, show_default=True, help="Key prefix of the releases."
            ),
            click.option("--region", help="Region of the bucket, the stacks and Service Catalog (default: session's)."),
            click.option("--profile", help="AWS profile to use."),
            click.option(
                "--endpoint-url",
                help="Endpoint of every service (for tests against a local stand-in such as moto); an endpoint "
                "without Service Catalog then means no Service Catalog information.",
            ),
            base.OUTPUT_OPTION,
        ]
    ):
        fn = option(fn)
    return fn


def _check(bucket: str, prefix: str, region: str | None, endpoint_url: str | None) -> None:
    base._check_option("--bucket", bucket, base.BUCKET_NAME, f"an S3 bucket name ({base.BUCKET_RULES})")
    base._check_prefix(prefix)
    base._check_region(region)
    base._check_endpoint(endpoint_url)


def _fail(exc) -> None:
    base.error(str(exc))
    sys.exit(base.EXIT_AWS if exc.aws else base.EXIT_INPUT)


def _interactive() -> bool:
    """Whether a person can answer the confirmation (standard input is a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@releases.command(name="list", epilog=EPILOG)
@_options
def list_releases(bucket: str, prefix: str, region: str | None, profile: str | None, endpoint_url, output) -> None:
    """Every published release under the prefix: publication date, templates, the Service Catalog product versions
    that load them, and whether a provisioned product or a stack uses it; unfinished publications apart."""
    from templates_src.release import housekeeping as hk

    document = machine.start("releases list") if output == "json" else {}
    _check(bucket, prefix, region, endpoint_url)
    try:
        aws = hk.connect(bucket, region, profile, endpoint_url)
        found, products, used = hk.survey(aws, prefix)
    except hk.HousekeepingError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        base.error("interrupted (Ctrl-C); nothing was changed")
        sys.exit(base.EXIT_INTERRUPTED)
    report = hk.describe_releases(aws, found, products, used)
    document.update(bucket=bucket, prefix=prefix, region=aws.region, **report)
    for line in found.warnings + products.warnings:
        base.warning(line)
    if not products.available:
        base.warning(products.note)
    where = f"s3://{bucket}/{prefix}/"
    click.echo(f"{len(report['releases'])} published release(s) in {where}")
    for release in report["releases"]:
        state = "IN USE" if release["in_use"] else "not in use"
        click.echo(f"{release['version']}  published {release['published'] or '?'}  {state}")
        for name, entry in release["templates"].items():
            click.echo(f"  template {name}  {entry['url']}")
        for pv in release["product_versions"]:
            shared = f", shared with {', '.join(pv['shared_with'])}" if pv["shared_with"] else ""
            click.echo(
                f"  product version {pv['name']} ({pv['version_id']}) of {pv['product']}"
                f" [{'active' if pv['active'] else 'inactive'}{shared}]"
            )
        for provisioned in release["used_by"]["provisioned_products"]:
            click.echo(f"  used by provisioned product {provisioned}")
        for stack in release["used_by"]["stacks"]:
            shared = (
                f" (the same template is in release {', '.join(stack['shared_with'])}: does not hold this one)"
                if stack["shared_with"]
                else ""
            )
            click.echo(f"  used by stack {stack['stack']} (template {stack['template']}){shared}")
        if release["retirement_interrupted"]:
            click.echo("  its retirement was interrupted: run `releases retire` for it again to complete it")
    for unfinished in report["unfinished"]:
        who = f", claimed by {unfinished['claimed_by']}" if unfinished["claimed_by"] else ""
        click.echo(
            f"unfinished publication {unfinished['version']} (not a release: no {layout.MANIFEST}; "
            f"{len(unfinished['keys'])} object(s){who})"
        )
    for version in report["retiring"]:
        click.echo(f"release {version}: retirement interrupted (no longer a release); run retire {version} again")
    for product in report["service_catalog"]["products"]:
        click.echo(f"product {product['name']} ({product['id']}): {product['versions']} of {product['limit']} versions")


@releases.command(name="retire", epilog=EPILOG)
@click.argument("version")
@_options
@click.option("--dry-run", is_flag=True, help="Show what would be deactivated and deleted; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed when standard input is no terminal).")
def retire_release(
    version: str,
    bucket: str,
    prefix: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    output: str,
    dry_run: bool,
    yes: bool,
) -> None:
    """Retire release VERSION: refused while it is in use; else deactivate its Service Catalog product versions,
    delete its manifest (first: the release stops existing), its release folder, and its content objects no other
    release references (those are kept).  Running it again completes an interrupted run."""
    from templates_src.release import housekeeping as hk

    document = machine.start("releases retire") if output == "json" else {}
    _check(bucket, prefix, region, endpoint_url)
    if not version.strip() or "/" in version:
        base.fail_input(f"VERSION: {version!r} is not a release version (see `generate.py releases list`)")
    if not (dry_run or yes or _interactive()):
        base.fail_input(
            "retire: standard input is not a terminal, so nobody can confirm: pass --yes to retire without "
            "confirmation, or --dry-run to see the plan"
        )
    where = f"s3://{bucket}/{prefix}/"
    document.update(bucket=bucket, prefix=prefix, release=version, dry_run=dry_run)
    aws = None
    try:
        aws = hk.connect(bucket, region, profile, endpoint_url)
        found, products, used = hk.survey(aws, prefix)
        for line in found.warnings:
            base.warning(line)
        if not products.available:
            base.warning(products.note)
        plan = hk.plan_retire(version, found, products, used)
        document.update(region=aws.region, **plan.as_dict())
        if plan.refusal:
            base.fail_input(plan.refusal)
        if plan.nothing_to_do:
            known = ", ".join(r.version for r in found.published) or "none"
            click.echo(
                f"release {version} is not in {where} (already retired, or never published): nothing to do "
                f"(published releases: {known})"
            )
            return
        _show(plan, where, dry_run)
        if dry_run:
            click.echo("dry run: nothing was changed")
            return
        if not yes and not click.confirm(
            f"retire release {version} from {where} ({len(plan.deactivate)} product version(s) to deactivate, "
            f"{len(plan.release_keys) + len(plan.delete)} object(s) to delete)?",
            default=False,
            err=True,
        ):
            click.echo("not confirmed: nothing was changed")
            return
        done = hk.retire(aws, plan, prefix, say=lambda line: click.echo(line, err=True))
    except hk.HousekeepingError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        base.error(
            f"interrupted (Ctrl-C) while retiring release {version}; run the same command again to complete it"
            if aws is not None
            else "interrupted (Ctrl-C); nothing was changed"
        )
        sys.exit(base.EXIT_INTERRUPTED)
    document.update(done.as_dict(), retired=True)
    click.echo(
        f"retired release {version} from {where}: {len(done.deactivate)} product version(s) deactivated, "
        f"{len(done.release_keys)} release object(s) and {len(done.delete)} content object(s) deleted, "
        f"{len(done.kept)} kept (shared with other releases)"
    )


def _show(plan, where: str, dry_run: bool) -> None:
    would = "would " if dry_run else "will "
    resumed = " (completing an interrupted retirement)" if plan.state == "retiring" else ""
    click.echo(f"retire release {plan.version} from {where}{resumed}:")
    for pv in plan.deactivate:
        click.echo(f"  {would}deactivate product version {pv.name} ({pv.artifact_id}) of {pv.product}")
    for pv in plan.inactive:
        click.echo(f"  product version {pv.name} ({pv.artifact_id}) of {pv.product} is inactive already")
    for key in plan.release_keys:
        click.echo(f"  {would}delete {key}")
    for key in plan.delete:
        click.echo(f"  {would}delete {key}")
    for key, versions in sorted(plan.kept.items()):
        click.echo(f"  keep {key} (shared with {', '.join(versions)})")
    if plan.catalog_note:
        click.echo("  (no Service Catalog information: product versions are not deactivated)")
