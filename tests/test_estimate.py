"""The create-time estimate (templates_src/estimate.py): the longest weighted path through the dependency graph,
on hand-made templates of known weights, then on env-main in its default and internet-free modes, and the
README's figures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from templates_src import estimate, readme_blocks
from templates_src.config import Config
from templates_src.context import BuildContext
from templates_src.generator import build_selected
from templates_src.templates.env import env_main, env_sagemaker_studio, env_vpc_egress

REPO = Path(__file__).resolve().parents[1]
STACKS = ("AWS::CloudFormation::Stack", "AWS::CloudFormation::StackSet")

# Hand-made weights: each type's name says its seconds.
WEIGHTS = {f"Test::T{n}": n for n in (1, 2, 3, 5, 7, 10, 20, 100)}


@pytest.fixture
def known_weights(monkeypatch):
    monkeypatch.setattr(estimate, "TYPICAL_SECONDS", WEIGHTS)
    monkeypatch.setattr(estimate, "DEFAULT_SECONDS", 4)
    monkeypatch.setattr(estimate, "CUSTOM_RESOURCE_SECONDS", 6)
    monkeypatch.setattr(estimate, "NESTED_STACK_OVERHEAD", 8)
    monkeypatch.setattr(estimate, "STACKSET_OVERHEAD", 9)


GRAPH = pytest.mark.usefixtures("known_weights")


def res(seconds: int, condition: str | None = None, depends_on=None, **properties) -> dict:
    resource = {"Type": f"Test::T{seconds}", "Properties": properties}
    if condition:
        resource["Condition"] = condition
    if depends_on:
        resource["DependsOn"] = depends_on
    return resource


def tpl(resources: dict, parameters: dict | None = None, conditions: dict | None = None) -> dict:
    template = {"Resources": resources}
    if parameters:
        template["Parameters"] = {k: {"Type": "String", "Default": v} for k, v in parameters.items()}
    if conditions:
        template["Conditions"] = conditions
    return template


def ids(result: estimate.Estimate) -> list[str]:
    return [s.logical_id for s in result.path]


# -- the graph -------------------------------------------------------------------------------------------------
@GRAPH
def test_parallel_branches_take_the_longest():
    result = estimate.estimate({"t": tpl({"Fast": res(3), "Slow": res(20), "Mid": res(10)})}, "t")
    assert result.seconds == 20
    assert result.path == [estimate.Step("t", "Slow", "Test::T20", 20)]
    assert result.finish == {"Fast": 3, "Slow": 20, "Mid": 10}


@GRAPH
def test_a_chain_adds_up_through_ref_getatt_and_sub():
    result = estimate.estimate(
        {
            "t": tpl(
                {
                    "A": res(10),
                    "B": res(5, Name={"Ref": "A"}),
                    "C": res(7, Arn={"Fn::GetAtt": ["B", "Arn"]}),
                    "D": res(2, Text={"Fn::Sub": "${C.Arn}/x"}),
                    "E": res(3, Text={"Fn::Sub": ["${Who}", {"Who": {"Ref": "D"}}]}),
                }
            )
        },
        "t",
    )
    assert result.seconds == 10 + 5 + 7 + 2 + 3
    assert ids(result) == ["A", "B", "C", "D", "E"]
    assert sum(s.seconds for s in result.path) == result.seconds


@GRAPH
def test_a_join_waits_for_its_longest_dependency():
    result = estimate.estimate(
        {
            "t": tpl(
                {
                    "Short": res(3),
                    "Long": res(20),
                    "Join": res(5, Items=[{"Ref": "Short"}, {"Fn::GetAtt": "Long.Arn"}]),
                }
            )
        },
        "t",
    )
    assert result.seconds == 25 and ids(result) == ["Long", "Join"]


@GRAPH
def test_depends_on_counts():
    resources = {"A": res(20), "B": res(5)}
    assert estimate.estimate({"t": tpl(resources)}, "t").seconds == 20
    resources["B"] = res(5, depends_on="A")
    assert estimate.estimate({"t": tpl(resources)}, "t").seconds == 25
    resources["B"] = res(5, depends_on=["A"])
    assert ids(estimate.estimate({"t": tpl(resources)}, "t")) == ["A", "B"]


@GRAPH
def test_names_that_are_not_resources_add_nothing():
    result = estimate.estimate(
        {
            "t": tpl(
                {
                    "A": res(10),
                    "B": res(5, Text={"Fn::Sub": "${AWS::Region}-${P}-${!A}"}, Other={"Ref": "AWS::AccountId"}),
                    "C": res(3, Text={"Fn::Sub": ["${A}", {"A": "literal"}]}),  # the variable map hides the resource
                },
                parameters={"P": "x"},
            )
        },
        "t",
    )
    assert result.finish == {"A": 10, "B": 5, "C": 3}


@GRAPH
def test_a_resource_whose_condition_is_false_is_skipped():
    templates = {
        "t": tpl(
            {
                "Big": res(100, condition="IsBig"),
                "Small": res(10),
                "After": res(2, depends_on=["Big", "Small"]),
            },
            parameters={"Size": "small"},
            conditions={"IsBig": {"Fn::Equals": [{"Ref": "Size"}, "big"]}},
        )
    }
    small = estimate.estimate(templates, "t")
    assert small.skipped == ["Big"] and "Big" not in small.finish
    assert small.seconds == 12 and ids(small) == ["Small", "After"]
    big = estimate.estimate(templates, "t", {"Size": "big"})
    assert big.skipped == [] and big.seconds == 102 and ids(big) == ["Big", "After"]


@GRAPH
def test_only_the_chosen_branch_of_an_if_is_a_dependency():
    templates = {
        "t": tpl(
            {
                "Slow": res(100),
                "Fast": res(1),
                "User": res(2, Value={"Fn::If": ["UseSlow", {"Ref": "Slow"}, {"Ref": "Fast"}]}),
            },
            parameters={"Which": "fast"},
            conditions={"UseSlow": {"Fn::Equals": [{"Ref": "Which"}, "slow"]}},
        )
    }
    assert estimate.estimate(templates, "t").waits_for["User"] == ["Fast"]
    assert estimate.estimate(templates, "t", {"Which": "slow"}).waits_for["User"] == ["Slow"]


CONDITIONS = {
    "A": {"Fn::Equals": [{"Ref": "P"}, "YES"]},
    "B": {"Fn::Equals": ["YES", {"Ref": "Q"}]},
    "NotA": {"Fn::Not": [{"Condition": "A"}]},
    "AAndB": {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]},
    "AOrB": {"Fn::Or": [{"Condition": "A"}, {"Fn::Equals": [{"Ref": "Q"}, "YES"]}]},
    "NotAOrB": {"Fn::Not": [{"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}]},
}


@GRAPH
@pytest.mark.parametrize(
    "p, q, present",
    [
        ("YES", "YES", {"A", "B", "AAndB", "AOrB"}),
        ("YES", "NO", {"A", "AOrB"}),
        ("NO", "YES", {"B", "NotA", "AOrB"}),
        ("NO", "NO", {"NotA", "NotAOrB"}),
    ],
)
def test_conditions_are_evaluated_with_the_parameter_values(p, q, present):
    templates = {
        "t": tpl(
            {name: res(1, condition=name) for name in CONDITIONS},
            parameters={"P": "NO", "Q": "NO"},
            conditions=CONDITIONS,
        )
    }
    assert set(estimate.estimate(templates, "t", {"P": p, "Q": q}).finish) == present


@GRAPH
def test_conditions_on_list_parameters_and_split_values():
    template = tpl(
        {"Two": res(1, condition="TwoZones"), "Dotless": res(1, condition="Dotless")},
        conditions={
            "TwoZones": {"Fn::Equals": [{"Fn::Select": [1, {"Ref": "Zones"}]}, "b"]},
            "Dotless": {"Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": [".", {"Ref": "N"}]}]}, {"Ref": "N"}]},
        },
    )
    template["Parameters"] = {
        "Zones": {"Type": "CommaDelimitedList", "Default": "a"},
        "N": {"Type": "String", "Default": "x.y"},
    }
    assert estimate.estimate({"t": template}, "t").finish == {}
    assert set(estimate.estimate({"t": template}, "t", {"Zones": "a,b", "N": "xy"}).finish) == {"Two", "Dotless"}


@GRAPH
def test_a_nested_stack_costs_its_childs_path_plus_the_overhead():
    child = tpl(
        {"K": res(10), "Alias": res(2, Target={"Ref": "K"}), "Extra": res(100, condition="On")},
        parameters={"Flag": "NO"},
        conditions={"On": {"Fn::Equals": [{"Ref": "Flag"}, "YES"]}},
    )
    root = tpl(
        {
            "Role": res(5),
            "Child": {
                "Type": "AWS::CloudFormation::Stack",
                "DependsOn": "Role",
                "Properties": {"TemplateURL": "child.yaml", "Parameters": {"Flag": {"Ref": "ChildFlag"}}},
            },
            "Reader": res(1, Value={"Fn::GetAtt": ["Child", "Outputs.Alias"]}),
        },
        parameters={"ChildFlag": "NO"},
    )
    templates = {"root": root, "child": child}
    result = estimate.estimate(templates, "root")
    assert result.nested["Child"].seconds == 12
    assert result.finish["Child"] == 5 + 12 + estimate.NESTED_STACK_OVERHEAD
    assert result.seconds == 5 + 12 + 8 + 1
    assert result.path == [
        estimate.Step("root", "Role", "Test::T5", 5),
        estimate.Step("child", "K", "Test::T10", 10),
        estimate.Step("child", "Alias", "Test::T2", 2),
        estimate.Step("root", "Child", "AWS::CloudFormation::Stack", 8),
        estimate.Step("root", "Reader", "Test::T1", 1),
    ]
    # the child is estimated with the value its parent passes
    flagged = estimate.estimate(templates, "root", {"ChildFlag": "YES"})
    assert flagged.nested["Child"].parameters["Flag"] == "YES"
    assert flagged.seconds == 5 + 100 + 8 + 1 and ids(flagged) == ["Role", "Extra", "Child", "Reader"]


@GRAPH
def test_nested_stacks_nest_recursively_and_a_packaged_url_names_its_template():
    templates = {
        "a": tpl(
            {
                "B": {
                    "Type": "AWS::CloudFormation::Stack",
                    "Properties": {
                        "TemplateURL": "https://bucket.s3.us-east-1.amazonaws.com/templates/b/0123abcd.json"
                    },
                }
            }
        ),
        "0123abcd": tpl({"C": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "c.yaml"}}}),
        "c": tpl({"X": res(7)}),
    }
    assert estimate.estimate(templates, "a").seconds == 7 + 8 + 8
    with pytest.raises(ValueError, match="'nowhere'.*not among the built templates"):
        estimate.estimate(
            {"a": tpl({"B": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "nowhere.yaml"}}})},
            "a",
        )


@GRAPH
def test_a_stackset_costs_one_instances_path_plus_the_overhead_with_its_parameters():
    child = tpl(
        {"R": res(10), "Net": res(20, condition="On")},
        parameters={"Net": "NO"},
        conditions={"On": {"Fn::Equals": [{"Ref": "Net"}, "YES"]}},
    )
    stack_set = {
        "Type": "AWS::CloudFormation::StackSet",
        "Properties": {
            "TemplateURL": "child.yaml",
            "Parameters": [{"ParameterKey": "Net", "ParameterValue": {"Ref": "WithNet"}}],
        },
    }
    templates = {"root": tpl({"Set": stack_set}, parameters={"WithNet": "NO"}), "child": child}
    assert estimate.estimate(templates, "root").seconds == 10 + estimate.STACKSET_OVERHEAD
    assert estimate.estimate(templates, "root", {"WithNet": "YES"}).seconds == 20 + 9


@GRAPH
def test_custom_resources_cost_a_round_trip_and_unknown_types_the_default():
    result = estimate.estimate(
        {
            "t": tpl(
                {
                    "Fn": res(10),
                    "Custom": {"Type": "Custom::Thing", "Properties": {"ServiceToken": {"Fn::GetAtt": "Fn.Arn"}}},
                    "Generic": {"Type": "AWS::CloudFormation::CustomResource", "DependsOn": "Custom"},
                    "Other": {"Type": "AWS::Unlisted::Thing"},
                }
            )
        },
        "t",
    )
    assert result.finish == {"Fn": 10, "Custom": 16, "Generic": 22, "Other": 4}


@GRAPH
def test_circular_dependencies_and_unknown_parameters_are_refused():
    with pytest.raises(ValueError, match="circular dependency A -> B -> A"):
        estimate.estimate({"t": tpl({"A": res(1, X={"Ref": "B"}), "B": res(1, depends_on="A")})}, "t")
    with pytest.raises(ValueError, match="no parameter Nope"):
        estimate.estimate({"t": tpl({"A": res(1)}, parameters={"P": "x"})}, "t", {"Nope": "1"})


def test_the_weights_are_the_documented_table():
    assert estimate.resource_seconds("AWS::SageMaker::Domain") == estimate.TYPICAL_SECONDS["AWS::SageMaker::Domain"]
    assert estimate.resource_seconds("AWS::Nothing::Known") == estimate.DEFAULT_SECONDS
    assert estimate.resource_seconds("Custom::X") == estimate.CUSTOM_RESOURCE_SECONDS
    assert estimate.resource_seconds("AWS::EC2::VPCEndpoint", {}) == estimate.GATEWAY_ENDPOINT_SECONDS
    assert (
        estimate.resource_seconds("AWS::EC2::VPCEndpoint", {"VpcEndpointType": "Interface"})
        == estimate.TYPICAL_SECONDS["AWS::EC2::VPCEndpoint"]
    )
    assert (
        estimate.resource_seconds("AWS::Lambda::Function", {"VpcConfig": {"SubnetIds": []}})
        == estimate.VPC_FUNCTION_SECONDS
    )
    source = (REPO / "templates_src" / "estimate.py").read_text(encoding="utf-8")
    assert "typical observed values" in source and "not a measurement" in source


# -- env-main ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    return build_selected(None, BuildContext(Config()))


@pytest.fixture(scope="module")
def modes(built) -> dict[str, estimate.Estimate]:
    return estimate.environment_estimates(built, env_main.NAME)


def assert_connected(result: estimate.Estimate, templates: dict[str, dict]) -> None:
    """``result.path`` is a chain of created resources, each waiting for the one before it, whose seconds add up
    to the total (a nested stack's or StackSet's steps: its child's path, itself connected, then the resource)."""
    assert result.path and sum(s.seconds for s in result.path) == result.seconds
    steps, previous, elapsed = list(result.path), None, 0
    while steps:
        index = next(i for i, s in enumerate(steps) if s.template == result.template)
        step = steps[index]
        resource = templates[result.template]["Resources"][step.logical_id]
        assert step.type == resource["Type"] and step.logical_id in result.finish, step
        if step.type in STACKS:
            child = result.nested[step.logical_id]
            assert steps[:index] == child.path and step.seconds > 0
            assert_connected(child, templates)
            cost = child.seconds + step.seconds
        else:
            assert index == 0
            cost = step.seconds
        waits = result.waits_for[step.logical_id]
        assert (previous in waits) if previous else not waits, step
        elapsed += cost
        assert result.finish[step.logical_id] == elapsed, step
        previous, steps = step.logical_id, steps[index + 1 :]
    assert elapsed == result.seconds


@pytest.mark.parametrize("mode", sorted(estimate.ENVIRONMENT_MODES))
def test_env_main_critical_path_is_a_connected_chain_of_real_resources(modes, built, mode):
    result = modes[mode]
    assert result.seconds > 0 and result.seconds == max(result.finish.values())
    assert_connected(result, built)
    # the Studio domain is the long pole, reached through the roles and the network; without a home file system
    # (the default) it is quicker
    domain = [s for s in result.path if s.type == "AWS::SageMaker::Domain"]
    seconds = (
        estimate.TYPICAL_SECONDS["AWS::SageMaker::Domain"]
        if mode == "home-file-system"
        else estimate.DOMAIN_WITHOUT_HOME_SECONDS
    )
    assert [(s.template, s.seconds) for s in domain] == [(env_sagemaker_studio.NAME, seconds)]
    assert estimate.DOMAIN_WITHOUT_HOME_SECONDS < estimate.TYPICAL_SECONDS["AWS::SageMaker::Domain"]
    assert {"env-iam", "env-vpc"} <= {s.template for s in result.path}


def _studio(result: estimate.Estimate) -> estimate.Estimate:
    (child,) = [c for c in result.nested.values() if c.template == env_sagemaker_studio.NAME]
    return child


def test_without_a_home_file_system_the_domain_waits_for_nothing_of_its_own_stack(modes, built):
    """The default creates no file system, and nothing but the domain's own inputs (the network, keys and roles
    its parent passes) comes before the domain: env-main is ready within 450 s by the model."""
    studio = _studio(modes["default"])
    assert studio.parameters["CreateStudioHomeFileSystem"] == "NO"
    assert studio.waits_for[env_sagemaker_studio.DOMAIN_RESOURCE] == []
    assert {"HomeFileSystemRelease", "HomeFileSystemReleaseLambda"} <= set(studio.skipped)
    assert modes["default"].seconds <= 450
    # the home file system, where kept, is released after the domain: the release waits before the domain
    home = _studio(modes["home-file-system"])
    assert home.waits_for[env_sagemaker_studio.DOMAIN_RESOURCE] == ["HomeFileSystemRelease"]
    assert modes["home-file-system"].seconds > modes["default"].seconds
    domain = built[env_sagemaker_studio.NAME]["Resources"][env_sagemaker_studio.DOMAIN_RESOURCE]["Properties"]
    assert domain["HomeEfsFileSystemCreation"] == {
        "Fn::If": [
            env_sagemaker_studio.HOME_FS,
            {"Fn::GetAtt": ["HomeFileSystemRelease", "HomeEfsFileSystemCreation"]},
            "Disabled",
        ]
    }


def _egress(result: estimate.Estimate) -> tuple[str, estimate.Estimate]:
    (name,) = [k for k, child in result.nested.items() if child.template == env_vpc_egress.NAME]
    return name, result.nested[name]


def test_the_internet_free_mode_trades_nat_gateways_for_interface_endpoints_beside_the_domain(modes, built):
    default, free = modes["default"], modes["internet-free"]
    assert free.parameters["CreateNATGateways"] == "NO" and default.parameters["CreateNATGateways"] == "YES"
    (name, egress), (_, free_egress) = _egress(default), _egress(free)
    created = {lid: built[env_vpc_egress.NAME]["Resources"][lid]["Type"] for lid in free_egress.finish}
    assert "AWS::EC2::NatGateway" not in created.values() and "AWS::EC2::InternetGateway" not in created.values()
    # what the network needs in each mode: NAT gateways by default, interface endpoints only without them
    assert "AWS::EC2::NatGateway" in {s.type for s in egress.path}
    assert free_egress.path[0].type == "AWS::EC2::VPCEndpoint"
    assert "AWS::EC2::NatGateway" not in {s.type for s in free_egress.path}
    assert free_egress.seconds < egress.seconds and free.finish[name] < default.finish[name]
    # either way the egress stack is created beside the domain: neither critical path goes through it
    for result in (default, free):
        assert name not in {s.logical_id for s in result.path}
        assert result.finish[name] < result.seconds
    assert free.path == default.path and free.seconds == default.seconds


def test_the_readme_quotes_what_the_module_computes(modes):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = next(m for m in readme_blocks.BLOCK.finditer(readme) if m.group("name") == "creation-time")
    paragraph = readme[readme.rindex("\n\n", 0, match.start()) : readme.index("\n\n", match.end())]
    assert "../" not in paragraph and "deploy_sim" not in readme  # the figure comes from the repository itself
    figures = [int(n) for n in re.findall(r"\*\*(\d+) s\*\*", match.group("body"))]
    assert figures == [modes["default"].seconds, modes["internet-free"].seconds, modes["home-file-system"].seconds]
    assert "templates_src/estimate.py" in paragraph and "scripts/estimate_creation_time.py" in paragraph


def test_the_script_prints_the_total_and_the_path(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("estimate_script", REPO / "scripts" / "estimate_creation_time.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["env-main", "--param", "CreateNATGateways=NO"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.match(r"env-main: \d+ s \(\d+ min \d\d s\), critical path:$", out[0])
    assert any("SageMakerStudioDomain" in line for line in out[1:])
    assert script.main(["env-main", "--param", "NoSuchParameter=1"]) == 2
    assert "no parameter NoSuchParameter" in capsys.readouterr().err
