"""Generation-time configuration: defaults, validation, one clear line per problem."""

from __future__ import annotations

import json
import re

import pytest

from templates_src.config import Config, ConfigError, from_mapping, load
from templates_src.context import BuildContext
from templates_src.generator import generate


def error_lines(data) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        from_mapping(data)
    return exc.value.lines


def test_defaults_need_no_file():
    config = load(None)
    assert config == Config()
    assert config.lambda_runtime in ("python3.12", "python3.13", "python3.14")
    assert config.role_path == "/" and config.permissions_boundary is None and config.prefix == ""


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"colour": "blue"}, "colour", "unknown option"),
        ({"lambda_runtime": "python3.8"}, "lambda_runtime", "python3.8"),
        ({"lambda_runtime": "nodejs20.x"}, "lambda_runtime", "not supported"),
        ({"name_prefix": "Acme"}, "name_prefix", "lower-case"),
        ({"name_prefix": "acme-"}, "name_prefix", "not end with '-'"),
        ({"name_prefix": "a" * 13}, "name_prefix", "at most 12"),
        ({"role_path": "ml"}, "role_path", "must start and end with '/'"),
        ({"role_path": "/ml//x/"}, "role_path", "IAM path"),
        (
            {"permissions_boundary": "arn:aws:iam::12345:policy/x"},
            "permissions_boundary",
            "not an IAM managed policy ARN",
        ),
        ({"permissions_boundary": "has space"}, "permissions_boundary", "neither a policy ARN"),
        ({"tags": {"aws:owner": "x"}}, "tags", "reserved 'aws:' prefix"),
        ({"tags": {"Owner": "x" * 129}}, "tags", "value of 'Owner' has 129 characters: at most 128"),
        ({"tags": {"Owner": "a;b"}}, "tags", "value of 'Owner' contains ';'"),
        ({"tags": {"Owner": "team\tml"}}, "tags", "value of 'Owner' contains '\\t'"),
        ({"tags": {"Owner": "team\nml"}}, "tags", "value of 'Owner' contains '\\n'"),
        ({"tags": {"Owner": "team\u00a0ml"}}, "tags", "value of 'Owner' contains '\\xa0'"),
        ({"tags": {"Owner@corp": "x"}}, "tags", "key 'Owner@corp' contains '@'"),
        ({"tags": {"Équipe": "x"}}, "tags", "key 'Équipe' contains 'É'"),
        ({"tags": {"k\t": "x"}}, "tags", "key 'k\\t' contains '\\t'"),
        ({"tags": {f"k{i}": "v" for i in range(20)}}, "tags", "at most 19 tags (Service Catalog's limit of 20"),
        ({"tags": {"Owner": 5}}, "tags.Owner", "valid string"),
        ({"log_retention_days": 100}, "log_retention_days", "not a CloudWatch Logs retention period"),
        ({"version": "v1"}, "version", "not a release version"),
        ({"lint_regions": ["mars-north-1"]}, "lint_regions", "unknown region"),
    ],
)
def test_bad_values_name_the_field_on_one_line(data, field, words):
    lines = error_lines(data)
    assert len(lines) == 1
    assert lines[0].startswith(f"{field}: ")
    assert words in lines[0]
    assert "\n" not in lines[0] and "\t" not in lines[0]


def test_every_bad_value_is_reported():
    lines = error_lines({"role_path": "x", "version": "y", "colour": 1})
    assert sorted(line.split(":")[0] for line in lines) == ["colour", "role_path", "version"]


def test_boundary_accepts_arn_and_name():
    assert from_mapping({"permissions_boundary": "arn:aws-us-gov:iam::123456789012:policy/team/b"}).permissions_boundary
    assert from_mapping({"permissions_boundary": "ml-boundary"}).permissions_boundary == "ml-boundary"
    assert from_mapping({"permissions_boundary": ""}).permissions_boundary is None


def test_load_yaml_and_json(tmp_path):
    (tmp_path / "c.yaml").write_text("name_prefix: acme\ntags:\n  Team: ml\n")
    (tmp_path / "c.json").write_text('{"name_prefix": "acme", "tags": {"Team": "ml"}}')
    assert load(tmp_path / "c.yaml") == load(tmp_path / "c.json")


@pytest.mark.parametrize("content, words", [("a: [", "not valid YAML"), ("- 1\n- 2\n", "must hold a mapping")])
def test_unreadable_files(tmp_path, content, words):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert words in exc.value.lines[0]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path / "nope.yaml")
    assert exc.value.lines[0].startswith("config: cannot read")


def test_prefix_too_long_for_generated_role_names():
    # Valid on its own (<= 12 characters), but <prefix>-<EnvName>-<EnvType>-<region>-sm-model-exec can
    # exceed IAM's 64 characters with the longest EnvName, EnvType and region.
    with pytest.raises(ConfigError) as exc:
        generate(from_mapping({"name_prefix": "enterprise"}))
    (line,) = exc.value.lines
    assert line.startswith("name_prefix: 'enterprise' is too long")
    assert "64" in line and "use at most" in line


def test_longest_accepted_prefix_builds():
    # The error message's advice is right: the longest prefix it allows builds.
    with pytest.raises(ConfigError) as exc:
        generate(from_mapping({"name_prefix": "enterprise"}))
    allowed = int(exc.value.lines[0].rsplit("use at most ", 1)[1].split()[0])
    generate(from_mapping({"name_prefix": "e" * allowed}))
    assert BuildContext(from_mapping({"name_prefix": "e" * allowed})).config.prefix == "e" * allowed + "-"


@pytest.mark.parametrize("field", ["encrypt_logs", "functions_in_vpc", "s3_object_lock"])
def test_hardening_switches_take_only_booleans(field):
    assert getattr(Config(), field) is False
    assert getattr(from_mapping({field: True}), field) is True
    for value in ("yes", "false", 1, None):
        assert error_lines({field: value}) == [f"{field}: must be true or false, got {value!r}"]


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({"log_retention_days": True}, "log_retention_days", "must be a whole number of days, got True"),
        ({"log_retention_days": "30"}, "log_retention_days", "must be a whole number of days, got '30'"),
        ({"log_retention_days": 30.0}, "log_retention_days", "must be a whole number of days, got 30.0"),
        ({"tags": {"Owner": ""}}, "tags", "value of 'Owner' is empty"),
        ({"tags": {"Owner": "  "}}, "tags", "value of 'Owner' is empty"),
        (
            {"version": "1.2.0+build.5"},
            "version",
            "has build metadata ('+...'), which S3 keys and URLs read as a space",
        ),
        ({"version": "1.2.0-rc.1+b"}, "version", "has build metadata"),
        ({"version": "01.2.0"}, "version", "not a release version like 1.2.0"),
        ({"version": "1.2.0-"}, "version", "not a release version"),
        ({"version": "1.2.0-rc..1"}, "version", "not a release version"),
        ({"version": "1.2.0-rc_1"}, "version", "not a release version"),
        ({"version": "1.2.0 "}, "version", "not a release version"),
        ({"version": "1.2"}, "version", "not a release version"),
    ],
)
def test_strict_values_are_rejected_on_one_line(data, field, words):
    (line,) = error_lines(data)
    assert line.startswith(f"{field}: ") and words in line, line


@pytest.mark.parametrize("version", ["0.1.0", "1.2.0-rc.1", "10.20.30-alpha-2.x.7", "1.0.0-0"])
def test_versions_safe_in_keys_and_urls_are_accepted(version):
    assert from_mapping({"version": version}).version == version


def test_one_letter_name_prefix_is_accepted():
    assert from_mapping({"name_prefix": "a"}).prefix == "a-"
    generate(from_mapping({"name_prefix": "a"}), ["env-iam-setup-stackset-role"])
    for bad in ("1", "-", "A"):
        assert error_lines({"name_prefix": bad})[0].startswith("name_prefix: must start with a lower-case letter")


def test_retention_still_takes_whole_numbers():
    assert from_mapping({"log_retention_days": 30}).log_retention_days == 30


def test_config_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"tags: {Owner: caf\xe9}\n")  # Latin-1
    with pytest.raises(ConfigError) as exc:
        load(path)
    assert exc.value.lines == [f"config: {path} is not UTF-8 text (byte 0xe9 at offset 17): save it as UTF-8"]


# -- pinned hardening values (logs_kms_key_arn, function_network) --------------------------------------------
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NETWORK = {"subnet_ids": ["subnet-0123456789abcdef0", "subnet-0123abcd"], "security_group_ids": ["sg-0123abcd"]}
HARDENED = {"encrypt_logs": True, "functions_in_vpc": True}


def test_pinned_values_are_unset_by_default():
    assert Config().logs_kms_key_arn is None and Config().function_network is None
    assert from_mapping({**HARDENED, "logs_kms_key_arn": ""}).logs_kms_key_arn is None


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd12ab34cd56ef1234567890ab",
        "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    ],
)
def test_pinned_key_accepts_key_arns_of_every_partition(key):
    assert from_mapping({**HARDENED, "logs_kms_key_arn": key}).logs_kms_key_arn == key


def test_pinned_values_round_trip_through_the_generator_config():
    """package-cfn hands the configuration to its build as JSON (GENERATOR_CONFIG): it must read back the same."""
    config = from_mapping({**HARDENED, "logs_kms_key_arn": KEY, "function_network": NETWORK})
    assert config.function_network.subnet_ids == tuple(NETWORK["subnet_ids"])
    assert from_mapping(json.loads(json.dumps(config.model_dump(mode="json")))) == config


@pytest.mark.parametrize(
    "data, line",
    [
        (
            {"logs_kms_key_arn": KEY},
            "logs_kms_key_arn: pins the log group key, but encrypt_logs is false: set encrypt_logs: true to encrypt "
            "the "
            "log groups with it, or remove logs_kms_key_arn",
        ),
        (
            {"encrypt_logs": False, "logs_kms_key_arn": KEY},
            "logs_kms_key_arn: pins the log group key, but encrypt_logs is false: set encrypt_logs: true to encrypt "
            "the "
            "log groups with it, or remove logs_kms_key_arn",
        ),
        (
            {"function_network": NETWORK},
            "function_network: pins the functions' network, but functions_in_vpc is false: set functions_in_vpc: true "
            "to run the functions in it, or remove function_network",
        ),
    ],
)
def test_a_pinned_value_without_its_switch_is_an_error(data, line):
    assert error_lines(data) == [line]


def test_a_bad_switch_is_reported_once_not_as_a_contradiction():
    assert error_lines({"encrypt_logs": "yes", "logs_kms_key_arn": KEY}) == [
        "encrypt_logs: must be true or false, got 'yes'"
    ]


def _network(**changes):
    return {**HARDENED, "function_network": {**NETWORK, **changes}}


@pytest.mark.parametrize(
    "data, field, words",
    [
        ({**HARDENED, "logs_kms_key_arn": "alias/logs"}, "logs_kms_key_arn", "'alias/logs' is not a KMS key ARN"),
        (
            {**HARDENED, "logs_kms_key_arn": "arn:aws:kms:us-east-1:111122223333:alias/logs"},
            "logs_kms_key_arn",
            "CloudWatch Logs takes no alias",
        ),
        (
            {**HARDENED, "logs_kms_key_arn": "1234abcd-12ab-34cd-56ef-1234567890ab"},
            "logs_kms_key_arn",
            "arn:<partition>:kms:<region>:<account-id>:key/<key-id>",
        ),
        ({**HARDENED, "logs_kms_key_arn": KEY.replace(":kms:", ":iam:")}, "logs_kms_key_arn", "not a KMS key ARN"),
        (
            {**HARDENED, "logs_kms_key_arn": KEY.replace("111122223333", "1111")},
            "logs_kms_key_arn",
            "not a KMS key ARN",
        ),
        ({**HARDENED, "logs_kms_key_arn": 5}, "logs_kms_key_arn", "valid string"),
        (_network(subnet_ids=[]), "function_network.subnet_ids", "give 1 to 16 subnet ids (Lambda's limit), got 0"),
        (
            _network(subnet_ids=[f"subnet-{i:08x}" for i in range(17)]),
            "function_network.subnet_ids",
            "give 1 to 16 subnet ids (Lambda's limit), got 17",
        ),
        (
            _network(security_group_ids=[]),
            "function_network.security_group_ids",
            "give 1 to 5 security group ids (Lambda's limit), got 0",
        ),
        (
            _network(security_group_ids=[f"sg-{i:08x}" for i in range(6)]),
            "function_network.security_group_ids",
            "give 1 to 5 security group ids (Lambda's limit), got 6",
        ),
        (
            _network(subnet_ids=["subnet-123"]),
            "function_network.subnet_ids",
            "'subnet-123' is not a subnet id like 'subnet-0123456789abcdef0'",
        ),
        (_network(subnet_ids=["sg-0123abcd"]), "function_network.subnet_ids", "'sg-0123abcd' is not a subnet id"),
        (_network(subnet_ids=["subnet-0123ABCD"]), "function_network.subnet_ids", "is not a subnet id"),
        (
            _network(security_group_ids=["subnet-0123abcd"]),
            "function_network.security_group_ids",
            "'subnet-0123abcd' is not a security group id like 'sg-0123456789abcdef0'",
        ),
        (
            _network(security_group_ids=["sg-0123abcd", "sg-0123abcd"]),
            "function_network.security_group_ids",
            "'sg-0123abcd' listed more than once",
        ),
        (
            _network(subnet_ids="subnet-0123abcd"),
            "function_network.subnet_ids",
            "must be a list of ids, got 'subnet-0123abcd'",
        ),
        (_network(subnet_ids=[5]), "function_network.subnet_ids.0", "valid string"),
        (
            _network(vpc_id="vpc-0123abcd"),
            "function_network.vpc_id",
            "unknown option (allowed: subnet_ids, security_group_ids)",
        ),
        (
            {**HARDENED, "function_network": {"subnet_ids": NETWORK["subnet_ids"]}},
            "function_network.security_group_ids",
            "Field required",
        ),
        (
            {**HARDENED, "function_network": ["subnet-0123abcd"]},
            "function_network",
            "must be a mapping with subnet_ids and security_group_ids",
        ),
    ],
)
def test_bad_pinned_values_name_the_field_on_one_line(data, field, words):
    (line,) = error_lines(data)
    assert line.startswith(f"{field}: ") and words in line and "\n" not in line, line


def test_pinned_key_is_what_the_key_parameter_accepts():
    """One pattern for both ways of giving the key: a pinned key could also be given at deployment."""
    from templates_src.blocks.parameters import LOGS_KMS_KEY_ARN

    assert re.fullmatch(LOGS_KMS_KEY_ARN.allowed_pattern, KEY)
    assert not re.fullmatch(LOGS_KMS_KEY_ARN.allowed_pattern, "arn:aws:kms:us-east-1:111122223333:alias/logs")


def test_nested_unknown_option_lists_its_own_section():
    (line,) = error_lines({"ds_administrator_trust": {"admins": []}})
    assert line == "ds_administrator_trust.admins: unknown option (allowed: iam_users_with_mfa, roles)"


# -- tags: the strictest rule of every resource they reach (issue 15, item 7) ------------------------------------
def _tagged_types(templates: dict[str, dict]) -> set[str]:
    return {
        r["Type"] for t in templates.values() for r in t["Resources"].values() if "Tags" in (r.get("Properties") or {})
    }


def _tag_rules(resource_type: str) -> tuple[dict, dict, dict]:
    """(Tags, Key, Value) schemas cfn-lint ships for ``resource_type``."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema

    def resolve(node):
        return schema["definitions"][node["$ref"].split("/")[-1]] if "$ref" in node else node

    tags = resolve(schema["properties"]["Tags"])
    if tags.get("type") == "object":  # SSM: a map whose keys are tag keys
        ((pattern, value),) = tags.get("patternProperties", {}).items()
        return tags, {"pattern": pattern}, value
    item = resolve(tags["items"])
    return tags, item["properties"]["Key"], item["properties"]["Value"]


def test_tag_limits_are_the_strictest_of_every_tagged_resource(any_templates):
    """The config's tag limits, read against the cfn-lint schema of every resource type the templates tag: no
    count, length or character a schema refuses is accepted (every Unicode code point is tried)."""
    import regex  # cfn-lint's dependency: the schemas' patterns use Unicode properties (\\p{L})

    from templates_src import config as cfg

    _, built = any_templates
    types = _tagged_types(built)
    assert "AWS::ServiceCatalog::Portfolio" in types and "AWS::SageMaker::Domain" in types
    accepted_key = [chr(c) for c in range(0x110000) if chr(c) in cfg.TAG_KEY_CHARACTERS]
    accepted_value = [chr(c) for c in range(0x110000) if cfg.tag_value_character(chr(c))]
    for resource_type in sorted(types):
        tags, key, value = _tag_rules(resource_type)
        assert cfg.MAX_TAGS <= tags.get("maxItems", cfg.MAX_TAGS), resource_type  # own tags: the build test
        assert cfg.MAX_TAG_KEY <= key.get("maxLength", cfg.MAX_TAG_KEY), resource_type
        assert cfg.MAX_TAG_VALUE <= value.get("maxLength", cfg.MAX_TAG_VALUE), resource_type
        for rule, accepted in ((key, accepted_key), (value, accepted_value)):
            if "pattern" in rule:
                pattern = regex.compile(rule["pattern"])
                refused = [c for c in accepted if not pattern.search(f"{c}{c}")]
                assert not refused, (resource_type, rule["pattern"], refused[:5])


def _tags_config(tmp_path, length: int):
    from templates_src import config as cfg

    symbols = "".join(sorted(cfg.TAG_VALUE_SYMBOLS))
    tags = {
        f"Key {i:02d} :_./=+-".ljust(length, "k"): ("Équipe ÆØÅ 数据 " + symbols + str(i)).ljust(length, "v")
        for i in range(cfg.MAX_TAGS)
    }
    config = tmp_path / "tags.json"
    config.write_text(json.dumps({"tags": tags}, ensure_ascii=False), encoding="utf-8")
    return config


def test_the_most_tags_with_every_allowed_character_build_and_lint_clean(tmp_path):
    """19 tags using every symbol the rules allow and letters of other scripts: the build lints clean (before,
    21 tags, a tab or 129-character values failed only in lint, after the files were written)."""
    from click.testing import CliRunner

    from templates_src import cli

    config = _tags_config(tmp_path, 48)
    result = CliRunner().invoke(
        cli.cli,
        ["build", "--config", str(config), "--output-dir", str(tmp_path / "out"), "--no-cache"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output[-3000:]


def test_tags_that_make_a_template_too_large_are_refused_before_anything_is_written(tmp_path):
    """Tags at their longest make package-cfn larger than `aws cloudformation deploy --template-file` takes: a
    tags error (exit 2) before anything is written, not a lint failure after."""
    from click.testing import CliRunner

    from templates_src import cli
    from templates_src import config as cfg

    config = _tags_config(tmp_path, cfg.MAX_TAG_VALUE)
    result = CliRunner().invoke(
        cli.cli, ["build", "--config", str(config), "--output-dir", str(tmp_path / "out")], catch_exceptions=False
    )
    assert result.exit_code == 2
    (line,) = result.output.splitlines()
    assert line.startswith("error: tags: package-cfn.yaml would have ") and line.endswith(
        "bytes, more than the 51,200 CloudFormation takes from `aws cloudformation deploy --template-file`: make it "
        "shorter"
    )
    assert not (tmp_path / "out").exists()


def test_a_bad_tag_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from templates_src import cli

    config = tmp_path / "c.yaml"
    config.write_text('tags: {Owner: "data\\tscience"}\n')
    result = CliRunner().invoke(
        cli.cli, ["build", "--config", str(config), "--output-dir", str(tmp_path / "out")], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: tags: value of 'Owner' contains '\\t': tag values take only letters, digits, spaces and _ . : / = + - @"
    ]
    assert not (tmp_path / "out").exists()


# -- duplicate keys (issue 15, item 9) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "suffix, text, line",
    [
        (
            ".yaml",
            "name_prefix: a\nname_prefix: b\n",
            "error: name_prefix: {path} gives this key more than once (lines 1 and 2)",
        ),
        (
            ".yaml",
            "tags:\n  Owner: a\n  Team: x\n  Owner: b\n",
            "error: tags.Owner: {path} gives this key more than once (lines 2 and 4)",
        ),
        (".yaml", "tags: {Owner: a, Owner: b}\n", "error: tags.Owner: {path} gives this key more than once (line 1)"),
        (
            ".yaml",
            "ds_administrator_trust:\n  roles: [a]\n  roles: [b]\n",
            "error: ds_administrator_trust.roles: {path} gives this key more than once (lines 2 and 3)",
        ),
        (".json", '{"tags": {"A": "x", "A": "y"}}', "error: tags.A: {path} gives this key more than once"),
        (".json", '{"version": "1.0.0", "version": "2.0.0"}', "error: version: {path} gives this key more than once"),
    ],
)
def test_a_key_given_twice_is_refused(tmp_path, suffix, text, line):
    """Before, the last value won silently."""
    from click.testing import CliRunner

    from templates_src import cli

    config = tmp_path / f"c{suffix}"
    config.write_text(text)
    result = CliRunner().invoke(
        cli.cli, ["build", "--config", str(config), "--output-dir", str(tmp_path / "out")], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        line.format(path=config) + ": keep one (the file would otherwise mean whichever comes last)"
    ]
    assert not (tmp_path / "out").exists()


def test_the_same_key_in_different_mappings_is_fine(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("tags: {Owner: a}\nfunction_network: null\nds_administrator_trust: {roles: [Owner]}\n")
    assert load(config).tags == {"Owner": "a"}


# -- the README's name_prefix figure is the check's (issue 15, item 10) --------------------------------------------
def test_the_readme_prefix_figure_is_the_checks_own():
    """The README says how long a prefix fits (a generated block); the longest it says builds, one more is refused
    with the same figure (before, the README said 5 and the tool allowed 4)."""
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    figure = int(re.search(r"<!-- generated:prefix-room -->(\d+) characters", readme).group(1))
    generate(from_mapping({"name_prefix": "e" * figure}))
    with pytest.raises(ConfigError) as exc:
        generate(from_mapping({"name_prefix": "e" * (figure + 1)}))
    assert exc.value.lines[0].endswith(f"use at most {figure} characters")
