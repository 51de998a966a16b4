"""Contracts between parents and the generated templates they nest: checked at generation, one line each."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from troposphere import GetAtt, Output

from templates_src import cli, contracts
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected


def test_generated_templates_keep_their_contracts(any_templates):
    _, built = any_templates
    assert contracts.violations(built) == []


def test_parent_reading_an_output_its_child_does_not_define_fails_generation(edit_template, tmp_path):
    def read_missing_output(template):
        template.add_output(Output("Typo", Value=GetAtt("IAMSharedRoles", "Outputs.SCLaunchRoleArnn")))

    edit_template("core-main", read_missing_output)
    with pytest.raises(contracts.ContractError) as error:
        build_selected(["core-main"], BuildContext(Config()))
    assert error.value.lines == [
        "core-main: reads output SCLaunchRoleArnn of core-iam-shared-roles "
        "(IAMSharedRoles), which core-iam-shared-roles does not define"
    ]

    result = CliRunner().invoke(cli.cli, ["build", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == cli.EXIT_DEFECT
    assert "core-main: reads output SCLaunchRoleArnn of core-iam-shared-roles" in result.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_child_output_renamed_under_its_parent_fails_generation(edit_template):
    def rename(template):
        template.outputs["SCLaunchRoleArnRenamed"] = template.outputs.pop("SCLaunchRoleArn")
        template.outputs["SCLaunchRoleArnRenamed"].title = "SCLaunchRoleArnRenamed"

    edit_template("core-iam-shared-roles", rename)
    problems = contracts.violations(_built_without_check())
    assert (
        "core-main: reads output SCLaunchRoleArn of core-iam-shared-roles (IAMSharedRoles), which "
        "core-iam-shared-roles does not define" in problems
    )


def _built_without_check():
    """The templates as built, without the generation-time check (to inspect the violations themselves)."""
    from templates_src.generator import build_template

    ctx = BuildContext(Config())
    return {
        name: build_template(name, ctx)
        for name in ("core-main", "core-iam-shared-roles", "core-iam-sc-sm-projects-roles", "core-sc-shared-portfolio")
    }


def test_parameters_passed_and_required_are_checked(edit_template):
    def pass_unknown(template):
        template.resources["IAMSharedRoles"].Parameters["NoSuchParameter"] = "x"
        del template.resources["SharedServiceCatalogPortfolio"].Parameters["SCProductLaunchRoleArn"]

    edit_template("core-main", pass_unknown)
    problems = contracts.violations(_built_without_check())
    assert problems == [
        "core-main: IAMSharedRoles passes parameter NoSuchParameter to core-iam-shared-roles, which "
        "core-iam-shared-roles does not declare",
        "core-main: SharedServiceCatalogPortfolio does not pass parameter SCProductLaunchRoleArn, which "
        "core-sc-shared-portfolio requires (it has no default)",
    ]


def test_outputs_are_found_in_every_form_a_template_reads_them():
    template = {
        "Resources": {},
        "Outputs": {
            "A": {"Value": {"Fn::GetAtt": ["Child", "Outputs.One"]}},
            "B": {"Value": {"Fn::GetAtt": "Child.Outputs.Two"}},
            "C": {"Value": {"Fn::Sub": "x-${Child.Outputs.Three}-${Other.Arn}"}},
        },
    }
    assert sorted(contracts.output_reads(template)) == [("Child", "One"), ("Child", "Three"), ("Child", "Two")]
