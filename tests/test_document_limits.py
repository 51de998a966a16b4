"""Every policy document the templates produce fits AWS's size limit at its worst case, checked at generation
(templates_src/document_limits.py): a configuration that could make one too large at deployment is refused with
one line naming the field (issue 15, item 8)."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from troposphere import Parameter, Sub, Template, iam

from templates_src import cli, document_limits
from templates_src.blocks import iam as iam_blocks
from templates_src.blocks.parameters import LONGEST


def run(*args):
    return CliRunner().invoke(cli.cli, list(args), catch_exceptions=False)


def test_the_longest_values_cover_every_partition_and_region():
    """The pseudo-parameter bounds are at least what botocore's partitions and cfn-lint's regions hold."""
    import botocore.session

    from templates_src.lint import known_regions

    partitions = botocore.session.get_session().get_data("endpoints")["partitions"]
    regions = set(known_regions()) | {r for p in partitions for r in p["regions"]}
    assert LONGEST["AWS::Region"] >= max(map(len, regions))
    assert LONGEST["AWS::Partition"] >= max(len(p["partition"]) for p in partitions)
    assert LONGEST["AWS::URLSuffix"] >= max(len(p["dnsSuffix"]) for p in partitions)


def test_every_document_fits_its_limit_at_worst_case(any_templates):
    _, built = any_templates
    measured = list(document_limits.findings(built, everything=True))
    over = [f.line() for f in measured if f.over]
    assert not over
    kinds = {f.what for f in measured}
    assert {
        "trust policy",
        "inline policies",
        "managed policy",
        "key policy",
        "bucket policy",
        "endpoint policy",
    } <= kinds
    # The measure sees the real documents: the packed managed policies fill most of their limit.
    assert max(f.size for f in measured if f.what == "managed policy") > document_limits.MANAGED_POLICY * 0.8


def _template(document: dict, **parameters: dict) -> dict:
    return {
        "Parameters": parameters,
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": document}}},
    }


def test_a_document_is_measured_with_its_longest_values():
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {
                    "AWS": [
                        {"Fn::Sub": "arn:${AWS::Partition}:iam::${Account}:root"},
                        {"Ref": "RoleArn"},
                        {"Fn::If": ["C", {"Ref": "Short"}, {"Ref": "AWS::NoValue"}]},
                    ]
                },
            }
        ]
    }
    template = _template(
        document,
        Account={"Type": "String", "MaxLength": 12},
        RoleArn={"Type": "String", "MaxLength": 613},
        Short={"Type": "String", "AllowedValues": ["a", "bbbb"]},
    )
    (trust,) = [f for f in document_limits.measure({"t": template}) if f.what == "trust policy"]
    # What CloudFormation sends with the longest values: partition, 12-digit account, a 613-character ARN, "bbbb".
    deployed = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {
                    "AWS": ["arn:" + "p" * LONGEST["AWS::Partition"] + ":iam::" + "1" * 12 + ":root", "r" * 613, "bbbb"]
                },
            }
        ]
    }
    assert trust.size == len(json.dumps(deployed, separators=(",", ":")))


def test_split_lists_are_measured_by_their_items():
    """Account lists give 12-digit items: the measure counts their ids, not a list of one-character items."""
    accounts = {"Type": "String", "MaxLength": 1299, "AllowedPattern": r"(\d{12}(,\d{12})*)?"}
    document = {"Principal": {"AWS": {"Fn::Split": [",", {"Fn::Join": [",", [{"Ref": "A"}, {"Ref": "B"}]]}]}}}
    (trust,) = [
        f
        for f in document_limits.measure({"t": _template(document, A=accounts, B=accounts)})
        if f.what == "trust policy"
    ]
    ids = ",".join(f'"{i:012d}"' for i in range(200))  # 100 ids in each list
    assert trust.size == len('{"Principal":{"AWS":[' + ids + "]}}")


def test_a_parameter_without_bound_in_a_policy_is_a_defect(tmp_path, edit_template):
    """A policy whose size cannot be bounded fails the build as a defect of the generator (exit 4), never passes
    unchecked."""

    def unbounded(template: Template):
        template.add_parameter(Parameter("Free", Type="String", Default="x"))
        template.add_resource(
            iam.ManagedPolicy(
                "FreePolicy",
                PolicyDocument=iam_blocks.document(
                    iam_blocks.allow(iam_blocks.actions("s3", "GetObject"), Sub("arn:${AWS::Partition}:s3:::${Free}/*"))
                ),
            )
        )

    edit_template("env-s3", unbounded)
    result = run("build", "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 4
    assert "env-s3: parameter Free has no MaxLength" in result.output
    assert not (tmp_path / "out").exists()


def _config(tmp_path, data: dict):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


SSO = "aws-reserved/sso.amazonaws.com/AWSReservedSSO_Team{}_*"


def test_too_many_trusted_role_patterns_are_refused(tmp_path):
    """Before: 60 patterns built and linted clean, and IAM refused the 4.9 KB trust policy at deployment."""
    config = _config(tmp_path, {"ds_administrator_trust": {"roles": [SSO.format(i) for i in range(60)]}})
    result = run("build", "--config", config, "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith(
        "error: ds_administrator_trust.roles: the trust policy of DataScienceAdministratorRole "
        "(core-iam-shared-roles) can reach "
    )
    assert line.endswith(
        "characters with the longest values its parameters and names allow; AWS accepts at most "
        "4,096 (2 more document(s) too)"
    )
    assert not (tmp_path / "out").exists()


def test_a_long_role_path_that_overfills_inline_policies_is_refused(tmp_path):
    """Before: a 505-character role_path built, and IAM refused one role's 11.2 KB of inline policies."""
    config = _config(tmp_path, {"role_path": "/" + "p" * 503 + "/"})
    result = run("build", "--config", config, "--output-dir", str(tmp_path / "out"))
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith("error: role_path: the inline policies of ")
    assert "AWS accepts at most 10,240" in line
    assert not (tmp_path / "out").exists()


def test_a_trust_policy_over_the_default_quota_builds_with_a_warning(tmp_path):
    """Between IAM's default quota (2,048) and its maximum (4,096), a trust policy deploys only where the quota
    was raised: the build says so and goes on."""
    config = _config(tmp_path, {"ds_administrator_trust": {"roles": [SSO.format(i) for i in range(10)]}})
    result = CliRunner().invoke(
        cli.cli, ["build", "--config", config, "--output-dir", str(tmp_path / "out")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output[-2000:]
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warnings and all(
        "over IAM's default quota of 2,048 (at most 4,096 when raised): it deploys only in "
        "accounts where that quota was raised" in w
        for w in warnings
    )
    assert any("DataScienceAdministratorRole" in w for w in warnings)


@pytest.mark.parametrize("count", [0, 1, 16])
def test_the_limit_is_where_the_check_says(tmp_path, count):
    """The number of patterns that fits: the check's answer agrees with the measure of the built template."""
    from templates_src.config import from_mapping
    from templates_src.context import BuildContext
    from templates_src.generator import build_selected

    config = from_mapping({"ds_administrator_trust": {"roles": [SSO.format(i) for i in range(count)]}})
    built = build_selected(["core-iam-shared-roles"], BuildContext(config), check_documents=False)
    (trust,) = [
        f
        for f in document_limits.measure(built)
        if (f.resource, f.what) == ("DataScienceAdministratorRole", "trust policy")
    ]
    try:
        build_selected(["core-iam-shared-roles"], BuildContext(config))
        refused = False
    except Exception:  # noqa: BLE001
        refused = True
    assert refused == (trust.size > document_limits.TRUST_POLICY_MAX)
